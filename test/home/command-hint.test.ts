import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { commandHint, securenodeCommand, shellWord } from '../../src/home/command-hint.js';
import { securenodeBin } from '../helpers/cli.js';

const checkout = resolve(securenodeBin, '../..');

t.test('the command is run the way this securenode runs here', async (t) => {
  const dir = t.testdir({ elsewhere: { 'securenode': '#!/bin/sh\n' }, app: { 'package.json': '{"name":"app"}', node_modules: {} }, plain: {}, sub: {} });
  await symlink(securenodeBin, `${dir}/sub/securenode`);
  await mkdir(`${dir}/app/node_modules/securenode`);
  await symlink(resolve(checkout, 'bin'), `${dir}/app/node_modules/securenode/bin`);
  const bare = { PATH: '/usr/bin:/bin' };
  t.equal(securenodeCommand({ PATH: `/usr/bin:${dir}/sub` }, dir), 'securenode', 'on PATH (npm install -g links it there)');
  t.equal(securenodeCommand({ PATH: `${dir}/elsewhere:/usr/bin` }, checkout), 'npx securenode', 'another securenode on PATH is not this one');
  t.equal(securenodeCommand(bare, checkout), 'npx securenode', 'in the checkout');
  t.equal(securenodeCommand(bare, `${checkout}/src/cli`), 'npx securenode', 'below the checkout: npx finds the project upwards');
  t.equal(securenodeCommand(bare, `${dir}/app`), 'npx securenode', 'an app that has it installed');
  // t.testdir lies inside the checkout (.tap/fixtures): a project of its own there stops the walk up.
  await writeFile(`${dir}/plain/package.json`, '{"name":"other"}');
  t.equal(securenodeCommand(bare, `${dir}/plain`), shellWord(securenodeBin), 'elsewhere: the command by its path, which runs from anywhere');
});

t.test('--home is named unless a bare command finds the home', async (t) => {
  const env = { PATH: '/usr/bin:/bin' };
  const cwd = checkout;
  t.equal(commandHint('reset-password -u elastic', 'securenode-home', env, cwd), 'npx securenode reset-password -u elastic');
  t.equal(commandHint('reset-password -u elastic', `${cwd}/securenode-home`, env, cwd), 'npx securenode reset-password -u elastic');
  t.equal(commandHint('reset-password -u elastic', `${cwd}/securenode-home`, { ...env, SECURENODE_HOME: `${cwd}/securenode-home` }, cwd), `npx securenode reset-password -u elastic --home ${cwd}/securenode-home`, 'a home from SECURENODE_HOME is named: the shell that pastes it may not have it');
  t.equal(commandHint('start', '/srv/node one', env, cwd), "npx securenode start --home '/srv/node one'");
  t.equal(commandHint('start', 'rel', env, cwd), `npx securenode start --home ${cwd}/rel`, 'an absolute path: it works from any directory');
  t.equal(commandHint('keystore list', undefined, env, cwd), 'npx securenode keystore list');
});

t.test('attacker: a home named with shell syntax is one word when pasted, and runs nothing', async (t) => {
  const run = promisify(execFile);
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((word) => !word.includes('\0')), async (word) => {
      const { stdout } = await run('sh', ['-c', `printf %s ${shellWord(word)}`]);
      return stdout === word;
    }),
    { numRuns: 200, examples: [["$(touch /tmp/pwned)"], ["'; rm -rf ~; '"], ['`id`'], ['a b\nc'], ['-E']] },
  );
  t.pass('200 generated words and the known tricks each came back as one word');
});
