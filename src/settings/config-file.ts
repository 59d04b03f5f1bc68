import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import { SecurenodeError } from '../errors.js';

/** One setting as securenode.yml states it, with the line for messages. */
export interface FileSetting {
  readonly key: string;
  readonly value: unknown;
  readonly line: number;
}

/**
 * Read securenode.yml into flat dotted keys: nested maps and dotted keys are the
 * same setting (`http: {port: 1}` is `http.port: 1`). A syntax error names the
 * file, line and column; a key given twice is an error too.
 */
export async function readConfigFile(path: string): Promise<FileSetting[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new SecurenodeError('ERR_CONFIG_MISSING', `the configuration file ${path} does not exist; a home's config dir must hold securenode.yml (remove the config dir to have a new home created from the template)`);
    }
    throw new SecurenodeError('ERR_IO', `cannot read the configuration file ${path}: ${code ?? String(error)}`, { cause: error });
  }
  return parseConfigText(text, path);
}

/** Parse securenode.yml text; `source` names the file in messages. */
export function parseConfigText(text: string, source: string): FileSetting[] {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined): number =>
    node?.range ? lineCounter.linePos(node.range[0]).line : 0;
  const [first] = document.errors;
  if (first) {
    const position = first.linePos?.[0];
    const where = position ? `${source}:${position.line}:${position.col}` : source;
    const reason = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new SecurenodeError('ERR_CONFIG_SYNTAX', `${where}: securenode.yml is not valid YAML: ${reason}`);
  }
  const root = document.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) return [];
  if (!isMap(root)) {
    throw new SecurenodeError('ERR_CONFIG_SYNTAX', `${source}:${lineOf(root)}: securenode.yml must be a map of settings (key: value lines)`);
  }
  const settings: FileSetting[] = [];
  const seen = new Map<string, number>();
  const walk = (map: YAMLMap, prefix: string): void => {
    for (const pair of map.items) {
      const keyNode = pair.key as YamlNode | null;
      const name = isScalar(keyNode) ? String(keyNode.value) : '';
      const key = prefix + name;
      const line = lineOf(keyNode);
      if (isMap(pair.value)) {
        walk(pair.value, `${key}.`);
        continue;
      }
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        throw new SecurenodeError('ERR_CONFIG_DUPLICATE_KEY', `${source}:${line}: the setting '${key}' is given twice (first at line ${earlier}); keep one`);
      }
      seen.set(key, line);
      const value: unknown = isScalar(pair.value) || isSeq(pair.value) ? pair.value.toJSON() : pair.value ?? null;
      if (value === null) continue;
      settings.push({ key, value, line });
    }
  };
  walk(root, '');
  return settings;
}
