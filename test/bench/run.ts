// npm run bench: the generated TLS set (2 CAs, 2 leaves, 2 .p12 files) with its
// steps, the first start to the first TLS answer, authenticated keep-alive
// GET / against a bare https server, the node's memory, new TLS connections,
// and the CLI tools. Medians of 5. A script, not a test; BENCHMARKS.md (beside
// it) keeps the results.
import { cpus, loadavg } from 'node:os';
import { issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPairFor, type KeyPair, type KeySpec } from '../../src/pki/keys.js';
import { discoverSubjectAltNames } from '../../src/pki/subject-alt-names.js';
import { buildHttpP12, buildTransportP12, generateTlsMaterial, randomP12Password } from '../../src/pki/tls-material.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliToolTimes } from './cli-tools.js';
import { foldFigures } from './fold.js';
import { bareHttpsStartToTls, firstStartToTls } from './first-start.js';
import { handshakeRates } from './handshakes.js';
import { gatewayRates } from './gateway.js';
import { authorizationCost, earlyAnswerGain, keepAliveRatio } from './keep-alive.js';
import { summarize, time } from './stats.js';
import { describeScale, measureScale, type Range, type ScaleFigures } from '../scale/measure.js';
import { heldShare, saturatedMs, saturatingClients } from '../scale/scale-round.js';
import { postgresServer } from '../helpers/postgres.js';
import { coreWaitText } from '../helpers/cpu.js';

/** Both store kinds at 1,000, 10,000 and 100,000 users, and 1,000,000 with --million (PostgreSQL when a test server is set up); 5 rounds each. */
async function scaleFigures(): Promise<ScaleFigures[]> {
  const figures: ScaleFigures[] = [];
  const cleanups: (() => unknown)[] = [];
  try {
    for (const users of [1_000, 10_000, 100_000, ...(process.argv.includes('--million') ? [1_000_000] : [])]) {
      for (const kind of postgresServer ? (['file', 'postgres'] as const) : (['file'] as const)) {
        figures.push(await measureScale({ teardown: (fn) => cleanups.push(fn) }, kind, users, runs));
        for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
      }
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
  return figures;
}

const runs = 5;
const goalMs = 1500;
const subjectAltNames = discoverSubjectAltNames();

/** The steps of a TLS set of one key type: P-256 throughout (the default), or RSA 4096/2048 (key_type rsa). */
async function stepTimings(keyType: 'ec' | 'rsa'): Promise<Record<string, number>> {
  const timings: Record<string, number> = {};
  let keys: KeyPair[] = [];
  const specs: KeySpec[] = keyType === 'ec' ? [{ type: 'ec' }, { type: 'ec' }, { type: 'ec' }, { type: 'ec' }] : [4096, 4096, 2048, 2048].map((bits) => ({ type: 'rsa', bits }));
  timings[keyType === 'ec' ? '4 P-256 keys (parallel)' : '4 RSA keys (2x4096, 2x2048, parallel)'] = await time(async () => {
    keys = await Promise.all(specs.map(generateKeyPairFor));
  });
  const [transportCaKeys, httpCaKeys, transportKeys, httpKeys] = keys as [typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0]];
  let issued: ReturnType<typeof issueCertificate>[] = [];
  timings['4 certificates (forge build, native sign)'] = await time(async () => {
    const transportCa = issueCertificate({ commonName: 'transport CA', profile: 'ca', validityDays: 36135, ...transportCaKeys });
    const httpCa = issueCertificate({ commonName: 'HTTP CA', profile: 'ca', validityDays: 1095, ...httpCaKeys });
    const transport = issueCertificate({ commonName: 'bench', profile: 'server-and-client', validityDays: 36135, issuer: transportCa, ...transportKeys });
    const http = issueCertificate({ commonName: 'bench', profile: 'server', validityDays: 730, subjectAltNames, issuer: httpCa, ...httpKeys });
    issued = [transportCa, httpCa, transport, http];
  });
  const [transportCa, httpCa, transport, http] = issued as [typeof issued[0], typeof issued[0], typeof issued[0], typeof issued[0]];
  timings['2 PKCS#12 files'] = await time(async () => {
    buildHttpP12(httpCa, http, randomP12Password());
    buildTransportP12(transportCa.certificate, transport, randomP12Password());
  });
  return timings;
}

const totals: Record<string, number[]> = { ec: [], rsa: [] };
const steps: Record<string, number[]> = {};
for (let run = 0; run < runs; run++) {
  for (const keyType of ['ec', 'rsa'] as const) {
    totals[keyType]!.push(await time(() => generateTlsMaterial({ nodeName: 'bench', subjectAltNames, keyType })));
    for (const [name, ms] of Object.entries(await stepTimings(keyType))) (steps[`${keyType}: ${name}`] ??= []).push(ms);
  }
}

const format = (ms: number) => `${ms.toFixed(0).padStart(6)} ms`;
const row = (name: string, samples: number[]) => {
  const { median, min, max } = summarize(samples);
  return `${name.padEnd(44)} ${format(median)} ${format(min)} ${format(max)}`;
};
const load = () => loadavg().map((value) => value.toFixed(2)).join(' ');
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; load average at the start ${load()}`);
console.log(`${'what (median of 5)'.padEnd(44)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'max'.padStart(9)}`);
console.log(row('full TLS set, P-256 (default)', totals.ec!));
console.log(row('full TLS set, RSA (key_type rsa)', totals.rsa!));
for (const [name, samples] of Object.entries(steps)) console.log(row(`  step: ${name}`, samples));
// Alternating with a bare Node https server's start, so that both see the same machine.
const starts: number[] = [];
const bareStarts: number[] = [];
const startRatios: number[] = [];
const startPeaks: number[] = [];
for (let run = 0; run < runs; run++) {
  const first = await firstStartToTls();
  starts.push(first.ms);
  startPeaks.push(first.peakMb);
  bareStarts.push(await bareHttpsStartToTls());
  startRatios.push(starts.at(-1)! / bareStarts.at(-1)!);
}
console.log(row('securenode start, fresh home -> first TLS answer', starts));
console.log(row('bare Node https server start -> first TLS answer', bareStarts));
console.log(`${'  node peak memory (VmHWM) by its first answer'.padEnd(44)} ${summarize(startPeaks).median.toFixed(0).padStart(6)} MB ${summarize(startPeaks).min.toFixed(0).padStart(6)} MB ${summarize(startPeaks).max.toFixed(0).padStart(6)} MB`);
console.log(`${'  ratio first start / bare start'.padEnd(44)} ${summarize(startRatios).median.toFixed(2).padStart(9)} ${summarize(startRatios).min.toFixed(2).padStart(9)} ${summarize(startRatios).max.toFixed(2).padStart(9)}`);

const home = await mkdtemp(join(tmpdir(), 'securenode-bench-'));
const keepAlive = await keepAliveRatio(`${home}/home`, runs, 6);
const authorization = await authorizationCost(`${home}/home`, runs, 5);
const earlyGain = await earlyAnswerGain(`${home}/home`, runs, 4);
const handshakes = await handshakeRates(`${home}/home`, runs, 3);
const gateway = await gatewayRates(home, runs, 5);
await rm(home, { recursive: true, force: true });
const rate = (name: string, samples: number[]) => {
  const { median, min, max } = summarize(samples);
  return `${name.padEnd(44)} ${median.toFixed(0).padStart(6)} /s ${min.toFixed(0).padStart(6)} /s ${max.toFixed(0).padStart(6)} /s`;
};
console.log(rate('keep-alive GET /, node, authenticated', keepAlive.node));
console.log(rate('keep-alive GET /, bare https server', keepAlive.bare));
const ratio = summarize(keepAlive.ratio);
console.log(`${'  ratio node / bare'.padEnd(44)} ${ratio.median.toFixed(2).padStart(9)} ${ratio.min.toFixed(2).padStart(9)} ${ratio.max.toFixed(2).padStart(9)}`);
const micros = (name: string, samples: number[]) => {
  const { median, min, max } = summarize(samples);
  return `${name.padEnd(44)} ${median.toFixed(1).padStart(6)} us ${min.toFixed(1).padStart(6)} us ${max.toFixed(1).padStart(6)} us`;
};
const ratioRow = (name: string, samples: number[]) => {
  const { median, min, max } = summarize(samples);
  return `${name.padEnd(44)} ${median.toFixed(2).padStart(9)} ${min.toFixed(2).padStart(9)} ${max.toFixed(2).padStart(9)}`;
};
console.log(micros('  server CPU per request, node', keepAlive.nodeCpuMicros));
console.log(micros('  server CPU per request, bare', keepAlive.bareCpuMicros));
console.log(ratioRow('  CPU ratio bare / node', keepAlive.cpuRatio));

const memory = (name: string, samples: number[]) => {
  const { median, min, max } = summarize(samples);
  return `${name.padEnd(44)} ${median.toFixed(0).padStart(6)} MB ${min.toFixed(0).padStart(6)} MB ${max.toFixed(0).padStart(6)} MB`;
};
console.log(memory('node RSS, 1 s after start', keepAlive.rssIdle));
console.log(memory('node RSS, at rest (30 s without a request)', keepAlive.rssRest));
console.log(memory('node RSS, peak under keep-alive load', keepAlive.rssLoaded));

console.log(rate('new TLS connections, node', handshakes.node));
console.log(rate('new TLS connections, bare https server', handshakes.bare));
console.log(rate('  P-256 signatures, one core', handshakes.signLimit));
const handshakeRatio = summarize(handshakes.ratio);
console.log(`${'  ratio node / bare'.padEnd(44)} ${handshakeRatio.median.toFixed(2).padStart(9)} ${handshakeRatio.min.toFixed(2).padStart(9)} ${handshakeRatio.max.toFixed(2).padStart(9)}`);
console.log(micros('  server CPU per handshake, node', handshakes.nodeCpuMicros));
console.log(micros('  server CPU per handshake, bare', handshakes.bareCpuMicros));

console.log(rate('keep-alive GET /, superuser', authorization.superuser));
console.log(rate('keep-alive GET /, a user with 20 roles', authorization.twentyRoles));
const slowdown = summarize(authorization.slowdown);
console.log(`${'  20 roles slower than superuser by'.padEnd(44)} ${(slowdown.median * 100).toFixed(1).padStart(8)}% ${(slowdown.min * 100).toFixed(1).padStart(8)}% ${(slowdown.max * 100).toFixed(1).padStart(8)}%`);

console.log(rate('keep-alive GET /, answered before routing', earlyGain.early));
console.log(rate('keep-alive GET /, routed (early answers off)', earlyGain.routed));
const routedShare = summarize(earlyGain.ratio);
console.log(`${'  ratio routed / answered early'.padEnd(44)} ${routedShare.median.toFixed(2).padStart(9)} ${routedShare.min.toFixed(2).padStart(9)} ${routedShare.max.toFixed(2).padStart(9)}`);
console.log(`${'  so routed / bare, about'.padEnd(44)} ${(routedShare.median * ratio.median).toFixed(2).padStart(9)}`);

const latency = (samples: { p99: number }[]) => `p99 ${summarize(samples.map((sample) => sample.p99)).median.toFixed(1)} ms`;
const gatewayRate = (name: string, samples: { rps: number; p99: number }[]) => `${rate(name, samples.map((sample) => sample.rps))}  ${latency(samples)}`;
const gatewayRatios = gateway.node.map((node, index) => ({ nginx: node.rps / gateway.nginx[index]!.rps, direct: node.rps / gateway.direct[index]!.rps }));
if (gateway.skipped) console.log(`gateway: skipped, ${gateway.skipped}`);
else {
  console.log(gatewayRate('gateway GET /app/x, node (Basic, cached)', gateway.node));
  console.log(gatewayRate('  same upstream, nginx auth_basic (apr1)', gateway.nginx));
  console.log(gatewayRate('  same upstream, nginx TLS, no authentication', gateway.nginxOpen));
  console.log(gatewayRate('  same upstream, direct (plain HTTP)', gateway.direct));
}

const tools = await cliToolTimes(runs);
console.log(row('bare node -e "require(\'node:https\')"', tools.bare));
for (const [name, { ms, ratio: toolRatio }] of Object.entries(tools.tools)) {
  console.log(row(`${name}, process to answer`, ms));
  console.log(`${`  ratio ${name} / bare node`.padEnd(44)} ${summarize(toolRatio).median.toFixed(2).padStart(9)} ${summarize(toolRatio).min.toFixed(2).padStart(9)} ${summarize(toolRatio).max.toFixed(2).padStart(9)}`);
}

// The store as it grows (goal 5): each size filled once, then 5 rounds on it; `npm run bench -- --scale`.
const scale = process.argv.includes('--scale') || process.argv.includes('--million') ? await scaleFigures() : [];
for (const figures of scale) console.log(`scale: ${describeScale(figures)}`);
// Across a fold of the file store's log into its base, which the rounds above never reach (`--scale` or `--fold`).
const fold = process.argv.includes('--scale') || process.argv.includes('--fold') ? await foldFigures(100_000, 3) : undefined;
const foldText = (ms: number[]) => `median ${summarize(ms).median.toFixed(1)} ms, max ${summarize(ms).max.toFixed(0)} ms`;
if (fold) {
  for (const [index, round] of fold.rounds.entries()) {
    console.log(`fold: round ${index + 1}: base ${(round.baseBytes / 1e6).toFixed(1)} MB, log filled to ${(round.logBytes / 1e6).toFixed(1)} MB, ${round.changes} changes, the log cut ${round.foldSeenMs === undefined ? 'never (no fold in the window)' : `${(round.foldSeenMs / 1000).toFixed(1)} s in`}; longest event-loop delay holder ${fold.stallMs[index]![0]} ms, second ${fold.stallMs[index]![1]} ms`);
  }
  console.log(`fold: a change answered ${foldText(fold.answeredMs)}; seen on the second node ${foldText(fold.visibleMs)}`);
}
console.log(`load average at the end ${load()}`);

const goal = (what: string, met: boolean, value: string) => console.log(`goal: ${what} -> ${met ? 'met' : 'NOT met'} (${value})`);
goal(`TLS set (P-256, the default) under ${goalMs} ms`, summarize(totals.ec!).median < goalMs, `${summarize(totals.ec!).median.toFixed(0)} ms; RSA ${summarize(totals.rsa!).median.toFixed(0)} ms`);
goal('1. first start within 4x a bare https server start', summarize(startRatios).median <= 4, `${summarize(startRatios).median.toFixed(2)}x (${summarize(starts).median.toFixed(0)} ms against ${summarize(bareStarts).median.toFixed(0)} ms)`);
const peakRss = Math.max(...keepAlive.rssLoaded);
goal('2. node peak memory during a first start 100 MB or less', summarize(startPeaks).median <= 100, `${summarize(startPeaks).median.toFixed(0)} MB (VmHWM at the first answer)`);
goal('2. node RSS idle 75 MB or less', summarize(keepAlive.rssRest).median <= 75, `at rest ${summarize(keepAlive.rssRest).median.toFixed(0)} MB (1 s after start ${summarize(keepAlive.rssIdle).median.toFixed(0)} MB); peak under keep-alive load ${peakRss.toFixed(0)} MB`);
for (const [name, { ratio: toolRatio }] of Object.entries(tools.tools)) goal(`3. ${name} within 3x a bare node`, summarize(toolRatio).median <= 3, `${summarize(toolRatio).median.toFixed(2)}x`);
goal('4. keep-alive ratio 0.9 or better', ratio.median >= 0.9, `${ratio.median.toFixed(2)} in requests/s (the server's CPU per request: ${summarize(keepAlive.cpuRatio).median.toFixed(2)})`);
for (const figures of scale.filter((entry) => entry.users === 100_000)) {
  goal(`5. ${figures.kind}, 100,000 users: a change visible on the other node within 100 ms`, figures.visibleMs.max <= 100, `median ${figures.visibleMs.median.toFixed(0)} ms, max ${figures.visibleMs.max.toFixed(0)} ms`);
  goal(`5. ${figures.kind}, 100,000 users: under 5 ms of CPU per change on the other node`, figures.cpuMsPerChange[1] < 5, `writer ${figures.cpuMsPerChange[0].toFixed(1)} ms (the request, TLS and audit included), other ${figures.cpuMsPerChange[1].toFixed(1)} ms`);
  goal(`5. ${figures.kind}, 100,000 users: no node's event loop held up over 20 ms while changes land`, figures.stallMs <= 20, `${figures.stallMs.toFixed(0)} ms inside the nodes, the longest of ${figures.rounds} rounds (a round's longest: median ${figures.stallMsPerRound.median.toFixed(0)} ms); a client's /_health took up to ${figures.clientStallMs.toFixed(0)} ms; each node's main thread ${coreWaitText(figures.coreWaitPercentByNode)}`);
  // On this machine both nodes and the clients share two cores: a second node adds no CPU, only a second place to make changes.
  // Held to half a core each (as if each ran on a machine of its own, the other core left to the database and the
  // clients), a second node shows what it adds; the goal is judged there, at a fifth more changes than one node alone.
  const added = figures.addedNodeRatio;
  const shared = `unheld, on one machine of 2 cores: ${added.median.toFixed(2)} (${added.min.toFixed(2)}-${added.max.toFixed(2)}), ${figures.oneNodeParallelPerSecond.median.toFixed(0)} changes/s on one node, ${figures.parallelPerSecond.median.toFixed(0)}/s split over two; CPU per change ${figures.parallelCpuMsPerChange.oneNode.toFixed(1)} ms on one node, ${figures.parallelCpuMsPerChange.twoNodes.map((ms) => ms.toFixed(1)).join(' + ')} ms over two`;
  const held = figures.held;
  const notHeld = `not measured: this machine cannot hold a process to a share of a core (needs root and a cgroup CPU controller)`;
  const rates = (rate: { oneNode: Range; twoNodes: Range; addedNodeRatio: Range }) =>
    `${rate.addedNodeRatio.median.toFixed(2)} (${rate.addedNodeRatio.min.toFixed(2)}-${rate.addedNodeRatio.max.toFixed(2)}), ${rate.oneNode.median.toFixed(0)} against ${rate.twoNodes.median.toFixed(0)} changes/s`;
  // Hash-free changes are the store's own work, in the one order of its writer (the generation's lock, or the holder); a
  // change that sets a password is first a hash on the node that takes it, the work a second node shares. Capacity is
  // what the nodes take from clients enough to keep them busy, over a time: 8 clients keep one held node at its quota but
  // not two, a change made on the second crossing both (saturatingClients, saturatedChanges).
  goal(
    `5. ${figures.kind}, 100,000 users: adding a node adds capacity for hash-free changes (each node held to ${heldShare} of a core, ${saturatingClients} clients over ${saturatedMs / 1000} s: two nodes 1.2x one or better)`,
    held !== undefined && held.saturated.addedNodeRatio.median >= 1.2,
    held === undefined ? `${notHeld}; ${shared}` : `${saturatingClients} clients over ${saturatedMs / 1000} s, each round over two held nodes against the first alone: ${rates(held.saturated)}; with 8 clients (each waiting for its answer): ${rates(held)}; ${shared}`,
  );
  goal(
    `5. ${figures.kind}, 100,000 users: adding a node adds capacity for changes that set a password (held the same: 1.2x or better)`,
    held !== undefined && held.withPassword.addedNodeRatio.median >= 1.2,
    held === undefined ? notHeld : `8 clients, each round over two held nodes against the first alone: ${rates(held.withPassword)}`,
  );
  goal(`5. ${figures.kind}, 100,000 users: RSS under 250 MB`, Math.max(...figures.rssMb.peak) < 250, `highest peak ${figures.rssMb.peak.map((mb) => mb.toFixed(0)).join(' / ')} MB${figures.held ? `; apart, the first node while 8 passwords were set at once: ${figures.held.withPassword.hashingPeakMb.toFixed(0)} MB` : ''}`);
}
if (fold) {
  const folded = fold.rounds.filter((round) => round.foldSeenMs !== undefined).length;
  const stall = Math.max(...fold.stallMs.flat());
  goal(`5. file, 100,000 users, across a fold of the log (${folded} of ${fold.rounds.length} rounds folded): a change visible on the other node within 100 ms`, folded > 0 && summarize(fold.visibleMs).max <= 100, `${foldText(fold.visibleMs)}; answered ${foldText(fold.answeredMs)}`);
  goal(`5. file, 100,000 users, across a fold of the log: no node's event loop held up over 20 ms`, folded > 0 && stall <= 20, `${stall} ms, the longest of ${fold.rounds.length} rounds, either node`);
}
for (const figures of scale.filter((entry) => entry.users === 1_000_000)) {
  goal(`5. ${figures.kind}, 1,000,000 users: nothing refused or timed out`, figures.parallelRefused === 0 && figures.seenOnSecond, `${figures.parallelRefused} of ${figures.parallelChanges} parallel changes refused; every change seen on the other node: ${figures.seenOnSecond}`);
  goal(`5. ${figures.kind}, 1,000,000 users: a change visible on the other node within 500 ms`, figures.visibleMs.max <= 500, `median ${figures.visibleMs.median.toFixed(0)} ms, max ${figures.visibleMs.max.toFixed(0)} ms (the other node's event loop held up ${figures.slowestVisible.stallMs.toFixed(0)} ms at most meanwhile)`);
  goal(`5. ${figures.kind}, 1,000,000 users: a node starts in under 10 s`, figures.startMs.max < 10_000, `slowest ${(figures.startMs.max / 1000).toFixed(1)} s, median ${(figures.startMs.median / 1000).toFixed(1)} s (the second node's start to serving the store: ${(figures.joinMs.median / 1000).toFixed(1)} s)`);
}
goal('6. new TLS connections 0.9 of a bare server or better', handshakeRatio.median >= 0.9, `${handshakeRatio.median.toFixed(2)} (server CPU per handshake: node ${summarize(handshakes.nodeCpuMicros).median.toFixed(0)} us, bare ${summarize(handshakes.bareCpuMicros).median.toFixed(0)} us)`);
if (!gateway.skipped) {
  const nginxRatio = summarize(gatewayRatios.map((entry) => entry.nginx));
  const directRatio = summarize(gatewayRatios.map((entry) => entry.direct));
  goal('P6. gateway 2x nginx auth_basic (apr1) or better', nginxRatio.median >= 2, `${nginxRatio.median.toFixed(2)}x (min ${nginxRatio.min.toFixed(2)}, max ${nginxRatio.max.toFixed(2)}); node ${latency(gateway.node)} against nginx ${latency(gateway.nginx)}`);
  goal('P6. gateway 0.6 of direct or better', directRatio.median >= 0.6, `${directRatio.median.toFixed(2)} (min ${directRatio.min.toFixed(2)}, max ${directRatio.max.toFixed(2)}); direct ${latency(gateway.direct)}; nginx with TLS and no authentication reaches ${summarize(gateway.nginxOpen.map((entry, index) => entry.rps / gateway.direct[index]!.rps)).median.toFixed(2)} of direct`);
}
goal('20 roles under 5% slower than superuser', slowdown.median < 0.05, `${(slowdown.median * 100).toFixed(1)}%`);
