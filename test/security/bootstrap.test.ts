import t from 'tap';
import { Keystore } from '../../src/keystore/keystore.js';
import { checkBootstrapPassword, readBootstrapPassword } from '../../src/security/bootstrap.js';

t.test('sources in order: ELASTIC_PASSWORD, ELASTIC_PASSWORD_FILE, keystore bootstrap.password', async (t) => {
  const dir = t.testdir({ pw: 'from-the-file-1\n' });
  const keystore = new Keystore();
  keystore.setString('bootstrap.password', 'from-keystore-1');
  t.same(await readBootstrapPassword({ ELASTIC_PASSWORD: 'from-env-12345', ELASTIC_PASSWORD_FILE: `${dir}/pw` }, keystore), { source: 'ELASTIC_PASSWORD', password: 'from-env-12345' });
  t.same(await readBootstrapPassword({ ELASTIC_PASSWORD_FILE: `${dir}/pw` }, keystore), { source: `ELASTIC_PASSWORD_FILE (${dir}/pw)`, password: 'from-the-file-1' });
  t.same(await readBootstrapPassword({}, keystore), { source: 'the keystore setting bootstrap.password', password: 'from-keystore-1' });
  t.equal(await readBootstrapPassword({}, undefined), undefined);
  t.equal(await readBootstrapPassword({}, new Keystore()), undefined);
  await t.rejects(readBootstrapPassword({ ELASTIC_PASSWORD_FILE: `${dir}/missing` }, undefined), { code: 'ERR_BOOTSTRAP_PASSWORD', message: `cannot read ELASTIC_PASSWORD_FILE (${dir}/missing): ENOENT` });
});

t.test('under 12 characters is refused, naming the source and never the value', async (t) => {
  t.throws(() => checkBootstrapPassword({ source: 'ELASTIC_PASSWORD', password: 'short-pw-11' }), {
    code: 'ERR_BOOTSTRAP_PASSWORD',
    message: 'the bootstrap password from ELASTIC_PASSWORD is shorter than 12 characters; set a longer one (nothing was stored)',
  });
  t.doesNotThrow(() => checkBootstrapPassword({ source: 'x', password: 'twelve-chars' }));
  t.throws(() => checkBootstrapPassword({ source: 'x', password: '\u{1F511}'.repeat(11) }), { code: 'ERR_BOOTSTRAP_PASSWORD' }, 'characters, not UTF-16 units');
});
