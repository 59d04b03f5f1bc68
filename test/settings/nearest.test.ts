import t from 'tap';
import { editDistance, nearest } from '../../src/settings/nearest.js';
import { parseDuration } from '../../src/settings/coerce.js';

t.test('edit distance', async (t) => {
  t.equal(editDistance('', ''), 0);
  t.equal(editDistance('abc', ''), 3);
  t.equal(editDistance('kitten', 'sitting'), 3);
  t.equal(editDistance('http.port', 'htp.port'), 1);
});

t.test('nearest picks the closest candidate, the first on a tie', async (t) => {
  t.equal(nearest('htp.port', ['transport.port', 'http.port']), 'http.port');
  t.equal(nearest('ab', ['aa', 'bb']), 'aa');
  t.equal(nearest('x', []), undefined);
});

t.test('durations', async (t) => {
  t.equal(parseDuration('20m'), 1_200_000);
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('7d'), 604_800_000);
  t.equal(parseDuration('1.5h'), undefined);
  t.equal(parseDuration('m'), undefined);
});
