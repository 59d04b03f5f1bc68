import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import t, { type Test } from 'tap';

const afterScript = fileURLToPath(new URL('./after.js', import.meta.url));

/** A ledger with one home whose log holds `logLine`, and a password file the test wrote beside the home. */
async function ledger(t: Test, logLine: string, startOutput: string) {
  const dir = t.testdir();
  await mkdir(`${dir}/tmp/home/config`, { recursive: true });
  await mkdir(`${dir}/tmp/home/logs`);
  await writeFile(`${dir}/tmp/home/config/securenode.yml`, 'cluster.name: test\n');
  await writeFile(`${dir}/tmp/home/logs/securenode.log`, `${logLine}\n`);
  await writeFile(`${dir}/tmp/pw-file`, 'handed-in-password-1\n');
  await mkdir(`${dir}/ledger`);
  const entries = [
    { kind: 'dir', path: `${dir}/tmp` },
    { kind: 'secret', value: 'handed-in-password-1', source: 'a node environment: ELASTIC_PASSWORD' },
    { kind: 'output', command: 'start', terminal: true, text: 'Password for the elastic user (reset with ...):\n  Banner-Password-123456\n' },
    { kind: 'output', command: 'start', terminal: false, text: startOutput },
  ];
  await writeFile(`${dir}/ledger/1.jsonl`, entries.map((entry) => JSON.stringify(entry)).join('\n'));
  return execa(process.execPath, [afterScript], { env: { SECURENODE_TEST_LEDGER: `${dir}/ledger/` }, reject: false });
}

t.test('the scan after the suite passes a clean run and removes the homes', async (t) => {
  const result = await ledger(t, '{"event":"node_started"}', 'started');
  t.equal(result.exitCode, 0);
  t.equal(result.stdout, '# secrets scan after the suite: none of 2 secrets in 3 files and outputs of 1 homes');
});

t.test('the scan names every file and output that holds a secret, and the kind, never the secret', async (t) => {
  const result = await ledger(t, '{"msg":"handed-in-password-1"}', 'your password: Banner-Password-123456');
  t.equal(result.exitCode, 1);
  const home = `${t.testdirName}/tmp/home`;
  t.equal(
    result.stdout,
    [
      '# secrets scan after the suite: 2 leaks of 2 secrets in 3 files and outputs of 1 homes:',
      "#   the output of 'start' without a terminal holds a banner password",
      `#   ${home}/logs/securenode.log holds a node environment: ELASTIC_PASSWORD`,
    ].join('\n'),
  );
  t.notMatch(result.stdout, /handed-in-password-1|Banner-Password-123456/);
});
