import t from 'tap';
import { isSecurenodeError } from '../../src/errors.js';
import { parseConfigText, readConfigFile } from '../../src/settings/config-file.js';

t.test('nested maps and dotted keys give the same flat settings', async (t) => {
  const nested = parseConfigText('http:\n  port: 9201\nsecurity:\n  http.ssl:\n    enabled: true\n', 'a.yml');
  const dotted = parseConfigText('http.port: 9201\nsecurity.http.ssl.enabled: true\n', 'b.yml');
  t.same(nested.map(({ key, value }) => [key, value]), [['http.port', 9201], ['security.http.ssl.enabled', true]]);
  t.same(dotted.map(({ key, value }) => [key, value]), nested.map(({ key, value }) => [key, value]));
  t.same(dotted.map(({ line }) => line), [1, 2]);
});

t.test('lists, empty values and an empty or comment-only file', async (t) => {
  t.same(parseConfigText('node.roles: [master, data]\nnode.name:\n', 'x.yml'), [{ key: 'node.roles', value: ['master', 'data'], line: 1 }]);
  t.same(parseConfigText('', 'x.yml'), []);
  t.same(parseConfigText('# only a comment\n', 'x.yml'), []);
});

t.test('a syntax error names the file, line and column, as ERR_CONFIG_SYNTAX', async (t) => {
  const error = t.throws(() => parseConfigText('http.port: 9200\nnode.name: [unclosed\n', '/h/config/securenode.yml')) as Error;
  t.ok(isSecurenodeError(error, 'ERR_CONFIG_SYNTAX'));
  t.match(error.message, /^\/h\/config\/securenode\.yml:\d+:\d+: securenode\.yml is not valid YAML: /);
  t.notMatch(error.message, /\n/, 'one line, no stack or code frame');
  t.equal((error as { exitCode?: number }).exitCode, 78);
});

t.test('a tab-indented line is reported at its line', async (t) => {
  const error = t.throws(() => parseConfigText('http:\n\tport: 1\n', 'f.yml')) as Error;
  t.match(error.message, /^f\.yml:2:\d+: /);
});

t.test('a key given twice, nested and dotted, is an error naming both lines', async (t) => {
  const error = t.throws(() => parseConfigText('http.port: 1\nhttp:\n  port: 2\n', 'f.yml')) as Error;
  t.ok(isSecurenodeError(error, 'ERR_CONFIG_DUPLICATE_KEY'));
  t.equal(error.message, "f.yml:3: the setting 'http.port' is given twice (first at line 1); keep one");
  const literal = t.throws(() => parseConfigText('a: 1\na: 2\n', 'f.yml')) as Error;
  t.ok(isSecurenodeError(literal, 'ERR_CONFIG_SYNTAX'), 'the YAML parser itself refuses a repeated literal key');
});

t.test('a document that is not a map is refused', async (t) => {
  const error = t.throws(() => parseConfigText('- a\n- b\n', 'f.yml')) as Error;
  t.equal(error.message, 'f.yml:1: securenode.yml must be a map of settings (key: value lines)');
});

t.test('readConfigFile: a missing file is ERR_CONFIG_MISSING, a directory is an I/O error', async (t) => {
  const dir = t.testdir({ 'securenode.yml': 'http.port: 9300\n' });
  t.same(await readConfigFile(`${dir}/securenode.yml`), [{ key: 'http.port', value: 9300, line: 1 }]);
  await t.rejects(readConfigFile(`${dir}/missing.yml`), { code: 'ERR_CONFIG_MISSING' });
  await t.rejects(readConfigFile(dir), { code: 'ERR_IO', message: /EISDIR/ });
});
