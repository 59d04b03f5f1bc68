// A replica's changes made while its last batch is on its way go to the
// holder together (`store.applyAll`), each taken or refused as alone. A holder
// from before batches knows no such method: the replica then sends each change
// alone (`store.apply`), as before, and never asks again.
import t from 'tap';
import { changesSent, holderAndReplica, holderNode, replicaNode, user } from '../helpers/store-pair.js';

t.test('16 changes made at once on a replica go in two messages, each landing once; a holder from before batches takes them one by one', async (t) => {
  const { holder, holderStore, replica, replicaStore, wire } = await holderAndReplica(t);
  const applyAll = holder.handlers['store.applyAll'];
  await Promise.all(Array.from({ length: 16 }, (_, index) => replicaStore.putUser(user(`batched${index}`))));
  t.same(wire.requests, ['store.applyAll', 'store.applyAll'], 'the first alone, the 15 made meanwhile together');
  t.equal(changesSent(wire), 16, 'each once');
  t.equal(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()), 'and the replica is the holder');

  // The same holder from before batches: it answers that it knows no such method.
  delete (holder.handlers as Record<string, unknown>)['store.applyAll'];
  wire.requests.length = 0;
  wire.bodies.length = 0;
  await Promise.all(Array.from({ length: 4 }, (_, index) => replicaStore.putUser(user(`alone${index}`))));
  t.same(wire.requests, ['store.applyAll', 'store.apply', 'store.apply', 'store.apply', 'store.apply'], 'asked once (the first change), then every change alone');
  wire.requests.length = 0;
  await replicaStore.putUser(user('later'));
  t.same(wire.requests, ['store.apply'], 'and the replica does not ask again');
  t.ok([0, 1, 2, 3].every((index) => holderStore.getUser(`alone${index}`)) && holderStore.getUser('later'), 'all landed');
  t.equal(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));

  // Connected again (the holder upgraded in place, its id kept): asked for batches again.
  (holder.handlers as Record<string, unknown>)['store.applyAll'] = applyAll;
  replica.onConnected(holderNode);
  await replicaStore.catchUp();
  wire.requests.length = 0;
  await replicaStore.putUser(user('upgraded'));
  t.same(wire.requests, ['store.applyAll'], 'a holder connected again is asked for a batch');
  t.ok(holderStore.getUser('upgraded'));
});

t.test('the holder takes a batch of 1 to 64 changes, each answered as alone: one it cannot read fails or is refused by itself, the others land', async (t) => {
  const { holder, holderStore, replicaStore } = await holderAndReplica(t);
  const applyAll = holder.handlers['store.applyAll']!;
  for (const body of [{}, { changes: [] }, { changes: 'x' }, { changes: Array(65).fill({}) }, null]) {
    await t.rejects(Promise.resolve().then(() => applyAll(body, replicaNode)), { message: 'store.applyAll takes 1 to 64 changes' }, `refused: ${JSON.stringify(body)?.slice(0, 40)}`);
  }
  const at = { epoch: (holder.handlers['store.version']!({}, replicaNode) as { epoch: string }).epoch, seq: (holder.handlers['store.version']!({}, replicaNode) as { seq: number }).seq };
  const put = (name: string) => ({ ops: [{ op: 'putUser', user: user(name) }], ...at, reads: { users: [name] } });
  const answer = (await applyAll({ changes: [put('p'), null, 'text', put('q'), { ops: 'x' }] }, replicaNode)) as { outcomes: { answer?: { applied: boolean }; error?: string }[] };
  t.same(
    answer.outcomes.map((outcome) => (outcome.error !== undefined ? 'error' : outcome.answer!.applied)),
    [true, 'error', false, true, false],
    'each its own outcome: two taken, one that is no object failed, two refused',
  );
  t.ok(holderStore.getUser('p') && holderStore.getUser('q'), 'the good ones landed');
  await replicaStore.catchUp();
  t.equal(JSON.stringify(replicaStore.snapshot()), JSON.stringify(holderStore.snapshot()));
});
