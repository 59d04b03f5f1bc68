import { readFileSync } from 'node:fs';
import { Document, isMap, isScalar, parseDocument, YAMLMap, type Pair } from 'yaml';
import { isLoopback } from '../enrollment/addresses.js';
import { splitAddress } from '../enrollment/pinned-client.js';
import { templatePath } from '../home/create-home.js';

export const beginMarker = '#----------------------- BEGIN SECURITY AUTO CONFIGURATION -----------------------';
export const endMarker = '#----------------------- END SECURITY AUTO CONFIGURATION -------------------------';

/** What decides the block's conditional lines. */
export interface BlockInput {
  readonly nodeName: string;
  /** When the block is written (shown in UTC). */
  readonly generatedAt: Date;
  /** security.enrollment.enabled was set to false by the user: leave it out. */
  readonly enrollmentDisabled: boolean;
  /** A new cluster writes initial_master_nodes; an enrolling node writes seed hosts. */
  readonly cluster: { readonly kind: 'new' } | { readonly kind: 'join'; readonly seedHosts: readonly string[]; readonly clusterName?: string };
  /** Any http.* or network.* host setting is set: leave http.host out. */
  readonly hostConfigured: boolean;
}

interface BlockSetting {
  readonly key: string;
  readonly comment: string;
  readonly value: (input: BlockInput) => unknown;
  /** Written only when this holds; always when omitted. */
  readonly when?: (input: BlockInput) => boolean;
  /** Written commented out, as a hint, when this holds. */
  readonly commented?: (input: BlockInput) => boolean;
}

/** The one list of the block's keys: it renders the block and tells removal which keys are ours. */
export const blockSettings: readonly BlockSetting[] = [
  { key: 'security.enabled', comment: 'Enable security features', value: () => true },
  { key: 'security.enrollment.enabled', comment: 'Allow enrollment tokens for new clients and nodes', value: () => true, when: (input) => !input.enrollmentDisabled },
  {
    key: 'security.http.ssl',
    comment: 'Enable encryption for HTTP API client connections',
    value: () => ({ enabled: true, 'keystore.path': 'certs/http.p12' }),
  },
  {
    key: 'security.transport.ssl',
    comment: 'Enable encryption and mutual authentication between cluster nodes',
    value: () => ({ enabled: true, verification_mode: 'certificate', 'keystore.path': 'certs/transport.p12', 'truststore.path': 'certs/transport.p12' }),
  },
  {
    key: 'cluster.initial_master_nodes',
    comment: 'Create a new cluster with the current node only\n# Additional nodes can still join the cluster later',
    value: (input) => [input.nodeName],
    when: (input) => input.cluster.kind === 'new',
  },
  {
    key: 'cluster.name',
    comment: 'The name of the cluster this node joined',
    value: (input) => (input.cluster.kind === 'join' ? input.cluster.clusterName : undefined),
    when: (input) => input.cluster.kind === 'join' && input.cluster.clusterName !== undefined,
  },
  {
    key: 'discovery.seed_hosts',
    comment: 'Discover existing nodes in the cluster',
    value: (input) => (input.cluster.kind === 'join' ? [...input.cluster.seedHosts] : []),
    when: (input) => input.cluster.kind === 'join',
  },
  {
    key: 'http.host',
    comment: 'Allow HTTP API connections from anywhere\n# Connections are encrypted and require user authentication',
    value: () => '0.0.0.0',
    when: (input) => !input.hostConfigured,
  },
  {
    key: 'transport.host',
    comment: 'Allow other nodes to join the cluster from anywhere\n# Connections are encrypted and mutually authenticated',
    value: () => '0.0.0.0',
    // A node that joins a cluster on other hosts must be reachable from them: then the line is live.
    commented: (input) => !(input.cluster.kind === 'join' && input.cluster.seedHosts.some((address) => !isLoopback(splitAddress(address).host))),
  },
];

function renderSetting(setting: BlockSetting, input: BlockInput): string {
  const value = setting.value(input);
  const document = new Document();
  document.set(document.createNode(setting.key), document.createNode(value, { flow: Array.isArray(value) }));
  const yaml = document.toString({ flowCollectionPadding: false, defaultStringType: 'PLAIN' }).trimEnd();
  const body = setting.commented?.(input) ? yaml.replace(/^/gm, '#') : yaml;
  return `# ${setting.comment}\n${body}\n`;
}

/** Render the block from templates/autoconfig-block.yml, ending in a newline. */
export function renderConfigBlock(input: BlockInput): string {
  const template = readFileSync(templatePath('autoconfig-block.yml'), 'utf8');
  const settings = blockSettings
    .filter((setting) => setting.when?.(input) ?? true)
    .map((setting) => renderSetting(setting, input))
    .join('\n');
  const stamp = `${input.generatedAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;
  return template.replace('{{generated_at}}', stamp).replace('{{settings}}', `\n${settings}`);
}

/** The file with the block appended after one blank line; the user's bytes are kept as they are. */
export function appendConfigBlock(text: string, block: string): string {
  const separator = text.length === 0 ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  return `${text}${separator}${block}`;
}

/** Whether the text holds an auto-configuration block. */
export function hasConfigBlock(text: string): boolean {
  return text.split('\n').includes(beginMarker);
}

/**
 * Remove the block. Settings that the user added inside it (keys not in
 * blockSettings) are kept, re-appended after the rest of the file.
 */
export function removeConfigBlock(text: string): string {
  const lines = text.split('\n');
  const begin = lines.indexOf(beginMarker);
  const end = lines.indexOf(endMarker, begin + 1);
  if (begin < 0 || end < 0) return text;
  const ours = new Set(blockSettings.map((setting) => setting.key));
  const inside = parseDocument(lines.slice(begin + 1, end).join('\n'));
  const kept = isMap(inside.contents)
    ? inside.contents.items.filter((pair: Pair) => !(isScalar(pair.key) && ours.has(String(pair.key.value))))
    : [];
  let before = lines.slice(0, begin);
  while (before.length > 0 && before[before.length - 1] === '') before = before.slice(0, -1);
  const after = lines.slice(end + 1);
  let result = [...before, ...after].join('\n');
  if (kept.length > 0) {
    const extra = new Document(new YAMLMap());
    (extra.contents as YAMLMap).items.push(...kept);
    result = `${result.replace(/\n*$/, '\n')}${extra.toString()}`;
  }
  return result.length > 0 && !result.endsWith('\n') ? `${result}\n` : result;
}
