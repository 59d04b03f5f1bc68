import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import type { Cluster } from '../../src/cluster/cluster.js';
import { encodeMessage, TransportError } from '../../src/cluster/connection.js';
import { shareStore } from '../../src/cluster/shared-store.js';
import { FileStore } from '../../src/security/file-store.js';
import { changesSent, holderAndReplica, replicaNode, user } from '../helpers/store-pair.js';

t.test('a replica that missed a broadcast catches up before it refuses: the version first, the store only when it is newer', async (t) => {
  const { holderStore, replicaStore, wire } = await holderAndReplica(t);
  await replicaStore.putUser(user('ada'));
  t.ok(holderStore.getUser('ada'), "a replica's change lands on the holder");
  t.equal(await replicaStore.catchUp(), false, 'nothing missed: false');
  t.same(wire.requests, ['store.applyAll', 'store.version'], 'and only the version was asked');

  wire.deliver = false;
  await holderStore.putUser(user('bea'));
  t.equal(replicaStore.getUser('bea'), undefined, 'the broadcast was lost');
  wire.requests.length = 0;
  t.equal(await replicaStore.catchUp(), true, 'caught up: true');
  t.ok(replicaStore.getUser('bea'), 'the missed change is here');
  t.same(wire.requests, ['store.version', 'store.changes'], 'the missed change, not the store');

  // A flood of refused credentials: the catch-ups asked at once share one question.
  wire.requests.length = 0;
  const answers = await Promise.all(Array.from({ length: 200 }, () => replicaStore.catchUp()));
  t.same([...new Set(answers)], [false]);
  t.same(wire.requests, ['store.version'], 'two hundred catch-ups at once asked the holder once');

  wire.away = true;
  await holderStore.putUser(user('cy'));
  t.equal(await replicaStore.catchUp(), false, 'the holder away: false, never an error');
  wire.away = false;
  t.equal(await replicaStore.catchUp(), true, 'back: the change is taken');
  t.ok(replicaStore.getUser('cy'));
  t.equal(await holderStore.catchUp(), false, "the holder's own store is always current");
});

t.test('the holder sends each change as itself, whatever the size of the store; a replica that missed one follows with the changes it missed, or the store when it is too far behind', async (t) => {
  const { holderStore, replicaStore, wire } = await holderAndReplica(t);
  for (let index = 0; index < 300; index++) await holderStore.putUser(user(`bulk${index}`));
  wire.broadcastBytes.length = 0;
  await holderStore.putUser(user('one'));
  t.ok(wire.broadcastBytes[0]! < 500, `a change to a store of 300 users is sent in ${wire.broadcastBytes[0]} bytes`);
  t.ok(replicaStore.getUser('one'), 'and taken in place');

  // A lost broadcast, then the next one: the next is kept while the one before it may still come (it does not), then the
  // replica follows.
  wire.deliver = false;
  await holderStore.putUser(user('lost'));
  wire.deliver = true;
  wire.requests.length = 0;
  await holderStore.putUser(user('next'));
  t.notOk(replicaStore.getUser('next'), 'not taken before the one before it');
  const gapSeen = performance.now();
  for (let waited = 0; !replicaStore.getUser('next') && waited < 300; waited++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(replicaStore.getUser('lost') && replicaStore.getUser('next'), `both, in order, ${Math.round(performance.now() - gapSeen)} ms later`);
  t.same(wire.requests, ['store.version', 'store.changes']);

  // Further behind than the holder keeps: the whole store.
  wire.deliver = false;
  for (let index = 0; index < 1_001; index++) await holderStore.putUser(user(`far${index % 10}`));
  wire.requests.length = 0;
  t.equal(await replicaStore.catchUp(), true);
  t.same(wire.requests, ['store.version', 'store.changes', 'store.snapshot'], 'asked for the changes, told to take the store, then the store');
  t.same(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()), 'the replica is the holder');

  // A replica's own change, after another landed whose broadcast it lost: one that touched another user does not matter
  // to it, and it is taken at once; the answer brings its number only, and when the broadcast before it does not come,
  // the replica asks for it.
  wire.deliver = false;
  await holderStore.putUser(user('first'));
  wire.requests.length = 0;
  await replicaStore.putUser(user('second'));
  t.same(wire.requests, ['store.applyAll', 'store.changes'], 'taken at once over a change to another user; the change it missed asked for');
  t.ok(holderStore.getUser('second') && replicaStore.getUser('first') && replicaStore.getUser('second'), 'both changes on both');
  t.same(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));
  // Taken, and the question for what it missed unanswered: the change was made, and says so; the replica asks again.
  wire.deliver = false;
  await holderStore.putUser(user('missed'));
  wire.failing = ['store.changes'];
  wire.requests.length = 0;
  await replicaStore.putUser(user('taken'));
  t.ok(holderStore.getUser('taken'), 'taken by the holder, and not refused although the replica could not follow');
  // Unanswered for a while: asked again, each wait for a gap, until answered (once as it followed, once at once, once
  // after the first wait: a fourth is the asking again).
  const asked = () => wire.requests.filter((method) => method === 'store.changes').length;
  for (let waited = 0; asked() < 4 && waited < 300; waited++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(asked() >= 4, `asked again while unanswered (${asked()} times)`);
  t.notOk(replicaStore.getUser('missed'), 'not yet followed');
  wire.failing = [];
  for (let waited = 0; !(replicaStore.getUser('missed') && replicaStore.getUser('taken')) && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(replicaStore.getUser('missed') && replicaStore.getUser('taken'), 'and the replica has both, once the holder answers again');
  // The holder sends no broadcast of a change to the node it came from: the answer brought it. An answer lost after the
  // holder took the change: the change fails there, saying that it may have been made, and the replica asks for what
  // it missed, its own change among it. Not sent: not made, and said so.
  const broadcasts = wire.broadcastBytes.length;
  await replicaStore.putUser(user('quiet'));
  t.equal(wire.broadcastBytes.length, broadcasts, "no broadcast of the replica's change back to it");
  t.ok(replicaStore.getUser('quiet'));
  wire.answerLost = true;
  await t.rejects(replicaStore.putUser(user('unanswered')), {
    code: 'ERR_STORE_UNAVAILABLE',
    message: 'the node that holds the security store (first) did not answer (store.applyAll: no answer within 10000 ms); the change may have been made: read it back before making it again',
  });
  wire.answerLost = false;
  t.ok(holderStore.getUser('unanswered'), 'the holder took it');
  for (let waited = 0; !replicaStore.getUser('unanswered') && waited < 100; waited++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(replicaStore.getUser('unanswered'), 'and the replica has it, without a broadcast');
  // One that touched the user it reads: refused, with what it missed, and worked out again from there it lands at the second
  // try, without a question between; the user keeps the id it was given first.
  await holderStore.putUser(user('third'));
  wire.requests.length = 0;
  await replicaStore.putUser({ username: 'third', passwordHash: 'from the replica', roles: [], enabled: true });
  t.same(wire.requests, ['store.applyAll', 'store.applyAll'], 'refused with the missed change, then taken');
  t.equal(holderStore.getUser('third')!.passwordHash, 'from the replica');
  t.equal(holderStore.getUser('third')!.id, replicaStore.getUser('third')!.id);
  t.same(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));

  // Further behind than the holder keeps: the refusal says so, and the replica takes the whole store before it tries again.
  for (let index = 0; index < 1_001; index++) await holderStore.putUser(user(`far${index % 10}`));
  wire.requests.length = 0;
  await replicaStore.putUser(user('third'));
  t.same(wire.requests, ['store.applyAll', 'store.changes', 'store.snapshot', 'store.applyAll']);
  t.same(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));

  // Not sent (the holder not connected): not made, and said so.
  wire.away = true;
  await t.rejects(replicaStore.putUser(user('unsent')), { code: 'ERR_STORE_UNAVAILABLE', message: 'the node that holds the security store (first) did not take the change: store.applyAll: node holder is not connected' });
  wire.away = false;
  t.notOk(holderStore.getUser('unsent'), 'not sent: not made');
});

t.test('read-modify-writes made at once on the holder and a replica, broadcasts lost at random: every one lands, once, and the replica ends as the holder', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 24 }), async (onReplica, losses) => {
      // The broadcasts lost: the generated pattern, over and over, once the counter exists.
      let broadcasts = 0;
      let losing = false;
      const { holderStore, replicaStore } = await holderAndReplica(t, { lose: () => losing && losses[broadcasts++ % losses.length]! });
      await holderStore.putUser({ ...user('counter'), metadata: { n: 0 } });
      losing = true;
      // Each change reads the count and writes it plus one: a change worked out from a store another change had left behind would lose one.
      const increment = (store: FileStore) =>
        store.mutate((data) => {
          const counter = data.users['counter']!;
          return { ops: [{ op: 'putUser' as const, user: { ...counter, metadata: { n: (counter.metadata as { n: number }).n + 1 } } }], result: undefined };
        });
      await Promise.all(onReplica.map((replica) => increment(replica ? replicaStore : holderStore)));
      losing = false;
      await replicaStore.catchUp();
      t.equal((holderStore.getUser('counter')!.metadata as { n: number }).n, onReplica.length, 'every increment landed once');
      t.equal(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()), 'the replica is the holder');
    }),
    { numRuns: 60 },
  );
});

t.test('changes made at once on the holder and a replica land at the first try when they touch different entries, and are worked out again when they touch the same; none is lost', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ onReplica: fc.boolean(), counter: fc.option(fc.constantFrom('c0', 'c1'), { nil: undefined }) }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
      async (changes, losses) => {
        let broadcasts = 0;
        let losing = false;
        const { holderStore, replicaStore, wire } = await holderAndReplica(t, { lose: () => losing && losses[broadcasts++ % losses.length]! });
        for (const counter of ['c0', 'c1']) await holderStore.putUser({ ...user(counter), metadata: { n: 0 } });
        await replicaStore.catchUp();
        losing = true;
        wire.requests.length = 0;
        wire.bodies.length = 0;
        // A change is an increment of a shared counter (it reads what it writes), or a new user of its own.
        await Promise.all(
          changes.map(({ onReplica, counter }, index) =>
            (onReplica ? replicaStore : holderStore).mutate((data) => {
              if (counter === undefined) return { ops: [{ op: 'putUser' as const, user: user(`own${index}`) }], result: undefined };
              const current = data.users[counter]!;
              return { ops: [{ op: 'putUser' as const, user: { ...current, metadata: { n: (current.metadata as { n: number }).n + 1 } } }], result: undefined };
            }),
          ),
        );
        losing = false;
        await replicaStore.catchUp();
        for (const counter of ['c0', 'c1']) t.equal((holderStore.getUser(counter)!.metadata as { n: number }).n, changes.filter((change) => change.counter === counter).length, `every increment of ${counter} landed once`);
        t.ok(changes.every((change, index) => change.counter !== undefined || holderStore.getUser(`own${index}`)), 'every new user landed');
        t.equal(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()), 'the replica is the holder');
        const own = changes.filter((change) => change.onReplica && change.counter === undefined).length;
        const sent = changesSent(wire);
        // The increments made on the replica may need several tries each; a new user never more than one.
        if (own === changes.filter((change) => change.onReplica).length) t.equal(sent, own, `${own} new users from the replica: ${sent} tries`);
      },
    ),
    { numRuns: 60 },
  );

  // The case the rate of a cluster hangs on: clients on both nodes at once, each on its own users.
  const { holderStore, replicaStore, wire } = await holderAndReplica(t);
  const answered = wire.answerChars.length;
  await Promise.all(Array.from({ length: 32 }, (_, index) => (index % 2 ? replicaStore : holderStore).putUser(user(`apart${index}`))));
  t.equal(changesSent(wire), 16, "16 changes from the replica, 16 on the holder, at once: the replica's at the first try each");
  // The first goes alone; the 15 made while it was on its way go together in the next message, and are answered in one.
  t.same(wire.bodies.map((body) => (body as { changes: unknown[] }).changes.length), [1, 15], 'in two messages: the first alone, the others together');
  const answers = wire.answerChars.slice(answered);
  t.equal(answers.length, 2);
  // The other changes written with it and before it reach the replica as broadcasts: an answer carrying them too cost the holder about 8 changes encoded a change.
  t.ok(answers[0]! < 60 + 100 && answers[1]! < 60 + 15 * 100, `each change's answer its number, not the changes since: ${answers.join(' and ')} characters`);
  t.equal(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));
});

t.test("a replica's change that read what a change on the holder writes, made at once, is never written after it as if it had not: copies of a counter are as the log has it", async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.record({ onReplica: fc.boolean(), copy: fc.boolean() }), { minLength: 2, maxLength: 24 }), async (changes) => {
      const { holderStore, replicaStore } = await holderAndReplica(t);
      await holderStore.putUser({ ...user('counter'), metadata: { n: 0 } });
      await replicaStore.catchUp();
      // The holder's changes as it writes them: its log's order.
      const written: { username: string; n: number }[] = [];
      holderStore.onChange((ops) => {
        for (const op of ops) if (op.op === 'putUser') written.push({ username: op.user.username, n: (op.user.metadata as { n: number }).n });
      });
      // An increment reads the counter and writes it; a copy reads it and writes another user: a change grouped with others
      // (the holder's group commit) must meet what they write by what it read, not only by what it writes.
      await Promise.all(
        changes.map(({ onReplica, copy }, index) =>
          (onReplica ? replicaStore : holderStore).mutate((data) => {
            const n = (data.users['counter']!.metadata as { n: number }).n;
            const changed = copy ? { ...user(`copy${index}`), metadata: { n } } : { ...data.users['counter']!, metadata: { n: n + 1 } };
            return { ops: [{ op: 'putUser' as const, user: changed }], result: undefined };
          }),
        ),
      );
      let counter = 0;
      for (const entry of written) {
        if (entry.username === 'counter') counter = entry.n;
        else if (entry.n !== counter) return false;
      }
      await replicaStore.catchUp();
      return counter === changes.filter((change) => !change.copy).length && JSON.stringify(replicaStore.snapshot()) === JSON.stringify(holderStore.snapshot());
    }),
    { numRuns: 100 },
  );
  t.pass('100 generated bursts: every copy holds the count the log had when it was written');
});

t.test('a store larger than a page goes to a replica in pages of about 1 MiB, each serialized once, never as one message near the frame limit', async (t) => {
  const { holder, holderStore, replicaStore, wire } = await holderAndReplica(t);
  wire.deliver = false;
  await holderStore.mutate(() => ({ ops: Array.from({ length: 6_000 }, (_, index) => ({ op: 'putUser' as const, user: user(`big${index}`, 'x'.repeat(300)) })), result: undefined }));
  for (let index = 0; index < 1_001; index++) await holderStore.putUser(user(`far${index % 10}`));
  wire.requests.length = 0;
  wire.answerChars.length = 0;
  t.equal(await replicaStore.catchUp(), true);
  t.ok(Math.max(...wire.answerChars) < (1 << 20) + 4096, `the largest answer ${Math.max(...wire.answerChars)} characters: a page and one entry at most`);
  const pages = wire.requests.filter((method) => method === 'store.snapshot').length - 1;
  t.ok(pages >= 2, `${pages} pages`);
  t.same(wire.requests.slice(0, 3), ['store.version', 'store.changes', 'store.snapshot']);
  t.equal(replicaStore.listUsers().length, holderStore.listUsers().length);
  t.same(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));
  // The holder drops its serialized copy once the last page is taken, not a minute later.
  const token = (wire.bodies.find((body) => typeof (body as { token?: unknown } | undefined)?.token === 'string') as { token: string }).token;
  await t.rejects(async () => holder.handlers['store.snapshot']!({ token, index: 0 }, replicaNode), { message: 'that page of the store is no longer kept; ask for the store again' });
});

t.test('a change made while a replica joins does not make it fetch the store twice: it waits for the fetch on its way, then takes the change', async (t) => {
  let holderStore: FileStore | undefined;
  const { replicaStore, join } = await holderAndReplica(t, {
    fill: async (store) => {
      holderStore = store;
      await store.mutate(() => ({ ops: Array.from({ length: 6_000 }, (_, index) => ({ op: 'putUser' as const, user: user(`big${index}`, 'x'.repeat(300)) })), result: undefined }));
    },
    // The broadcast reaches a replica that has no store yet: it follows the holder, which sends it to the whole store.
    duringJoin: () => holderStore!.putUser(user('during')),
  });
  t.equal(join.filter(({ method, body }) => method === 'store.snapshot' && typeof (body as { token?: unknown }).token !== 'string').length, 1, 'one fetch of the whole store');
  t.ok(join.filter(({ method }) => method === 'store.snapshot').length >= 3, 'of several pages');
  t.ok(replicaStore.getUser('during'), 'and the change made during it, taken after it');
  t.same(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore!.snapshot()));
});

t.test("the holder's answer to 'what did I miss since N': exactly the changes after N while it keeps them, else the whole store, whatever N a peer sends", async (t) => {
  const holderStore = await FileStore.open(t.testdir(), { rewriteBelow: 0 });
  const holder = shareStore(holderStore, true, randomBytes(32));
  holder.attach({ broadcast: () => {} } as unknown as Cluster);
  const { epoch } = (await holder.handlers['store.version']!({}, replicaNode)) as { epoch: string };
  // 1,050 changes: the holder keeps the last 1,000 (51 to 1,050).
  const usernames: string[] = [];
  for (let index = 1; index <= 1_050; index++) {
    usernames.push(`u${index}`);
    await holderStore.putUser(user(`u${index}`));
  }
  const ask = async (since: unknown) => (await holder.handlers['store.changes']!({ epoch, since }, replicaNode)) as { seq: number; whole?: true; changes?: { seq: number; ops: { user: { username: string } }[] }[] };
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.integer({ min: -5, max: 1_060 }), fc.double({ min: -5, max: 1_060, noNaN: true }), fc.constantFrom(null, '7', 2 ** 53, true)), async (since) => {
      const answer = await ask(since);
      t.equal(answer.seq, 1_050);
      const kept = Number.isSafeInteger(since) && (since as number) >= 50 && (since as number) <= 1_050;
      if (!kept) return void t.same([answer.whole, answer.changes], [true, undefined], `since ${String(since)}: the whole store`);
      t.same(
        answer.changes!.map((change) => [change.seq, change.ops[0]!.user.username]),
        usernames.slice(since as number).map((username, index) => [(since as number) + 1 + index, username]),
        `since ${String(since)}: each change after it, numbered, in order`,
      );
    }),
    { numRuns: 300 },
  );
  t.same((await ask(50)).changes!.length, 1_000, 'from the oldest kept on: all 1,000');
  t.same((await holder.handlers['store.changes']!({ epoch: 'another', since: 1_000 }, replicaNode)) as { whole?: true }, { epoch, seq: 1_050, whole: true }, 'another boot of the holder: the whole store');
});
