import { mergeSettings } from '../../src/settings/load.js';
import type { Settings } from '../../src/settings/settings.js';

/** Settings as if securenode.yml held exactly these entries. */
export function settingsOf(entries: Record<string, unknown>): Settings {
  return mergeSettings('securenode.yml', Object.entries(entries).map(([key, value], index) => ({ key, value, line: index + 1 })), {}, []);
}
