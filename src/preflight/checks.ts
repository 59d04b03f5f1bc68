import type { Settings } from '../settings/settings.js';
import { homeOfConfigFile } from '../home/layout.js';
import { commandHint } from '../home/command-hint.js';

/** What kind of file a path is, seen without following a symbolic link. */
export type FileKind = 'missing' | 'regular' | 'other';

/** Everything the checks look at, gathered beforehand (see gather-facts.ts). */
export interface PreflightFacts {
  /** The first data path that is a non-empty directory, if any. */
  readonly nonEmptyDataPath?: string;
  readonly configFile: { readonly path: string; readonly kind: FileKind; readonly readable: boolean };
  readonly keystore: { readonly path: string; readonly kind: FileKind; readable: boolean };
  readonly settings: Settings;
  /** Whether a new file can be made in the config dir, and who would own it (checks 11). */
  readonly configDirProbe?: ConfigDirProbe;
  /** TLS password settings already in the keystore (check 12). */
  readonly keystoreTlsPasswords?: readonly string[];
}

/** The result of creating (and removing) a probe directory in the config dir. */
export type ConfigDirProbe =
  | { readonly kind: 'created'; readonly configDir: string; readonly dirOwner: number; readonly newOwner: number }
  | { readonly kind: 'failed'; readonly configDir: string; readonly reason: string };

/** Why auto-configuration does not run, and the exit code the launcher reports it with. */
export interface Finding {
  readonly check: number;
  readonly exitCode: 73 | 78 | 80;
  readonly reason: string;
}

type Check = (facts: PreflightFacts) => Finding | undefined;

const hostSettings = ['network.host', 'network.bind_host', 'network.publish_host'];
const clusterSettings = ['discovery.seed_hosts', 'discovery.seed_providers', 'cluster.initial_master_nodes'];

/** The twelve checks of SPEC 4, in order; the first finding decides. */
export const checks: readonly Check[] = [
  (facts) =>
    facts.nonEmptyDataPath === undefined
      ? undefined
      : { check: 1, exitCode: 80, reason: `the data path ${facts.nonEmptyDataPath} is not empty: it appears that the node is not starting up for the first time` },
  ({ configFile }) =>
    configFile.kind === 'regular'
      ? undefined
      : { check: 2, exitCode: 78, reason: `the configuration file ${configFile.path} is missing or is not a regular file (a symbolic link counts as not regular)` },
  ({ configFile }) =>
    configFile.readable ? undefined : { check: 3, exitCode: 80, reason: `the current user does not have permission to read the configuration file ${configFile.path}` },
  ({ keystore }) =>
    keystore.kind === 'missing' || (keystore.kind === 'regular' && keystore.readable)
      ? undefined
      : { check: 4, exitCode: 80, reason: `the node keystore file ${keystore.path} is not a readable regular file` },
  ({ settings }) =>
    settings.bool('security.autoconfiguration.enabled') === false
      ? { check: 5, exitCode: 80, reason: 'security.autoconfiguration.enabled is false' }
      : undefined,
  ({ settings }) =>
    settings.isSet('security.enabled')
      ? { check: 6, exitCode: 80, reason: `security.enabled is set (to ${String(settings.get('security.enabled'))}): it appears that security is already configured` }
      : undefined,
  ({ settings }) => {
    const key = settings.explicitKeys().find((name) => name.startsWith('security.http.ssl.') || name.startsWith('security.transport.ssl.'));
    return key ? { check: 7, exitCode: 80, reason: `${key} is set: it appears that TLS is already configured` } : undefined;
  },
  ({ settings }) => {
    if (isInitialClusterNode(settings)) return undefined;
    const key = clusterSettings.find((name) => settings.isSet(name));
    return { check: 8, exitCode: 80, reason: `${key} is set: this node is configured to bootstrap or to join a multi-node cluster, which auto-configuration does not support` };
  },
  ({ settings }) => {
    if (!settings.isSet('node.roles')) return undefined;
    const roles = settings.list('node.roles');
    return !roles.includes('master') || roles.includes('voting_only')
      ? { check: 9, exitCode: 80, reason: `node.roles is [${roles.join(', ')}]: the node cannot become master` }
      : undefined;
  },
  ({ settings }) => {
    if (!settings.isSet('node.roles')) return undefined;
    const roles = settings.list('node.roles');
    return roles.includes('data') ? undefined : { check: 10, exitCode: 80, reason: `node.roles is [${roles.join(', ')}]: the node cannot contain data` };
  },
  ({ configDirProbe: probe }) => {
    if (!probe) return undefined;
    if (probe.kind === 'failed') return { check: 11, exitCode: 73, reason: `the config dir ${probe.configDir} is not writable: ${probe.reason}` };
    return probe.dirOwner === probe.newOwner
      ? undefined
      : {
          check: 11,
          exitCode: 78,
          reason: `of a config dir ownership mismatch: ${probe.configDir} is owned by uid ${probe.dirOwner}, but files written now would be owned by uid ${probe.newOwner}; run securenode as the owner of the config dir`,
        };
  },
  ({ keystoreTlsPasswords: names, keystore }) =>
    names && names.length > 0
      ? {
          check: 12,
          exitCode: 78,
          reason: `the node keystore ${keystore.path} already holds TLS password settings (${names.join(', ')}); remove them with \`${commandHint('keystore remove NAME', homeOfConfigFile(keystore.path))}\`, or set security.enabled and configure TLS yourself`,
        }
      : undefined,
];

/**
 * An "initial cluster node" may configure itself: single-node discovery, or no
 * cluster formation settings at all, or initial_master_nodes naming only itself.
 */
export function isInitialClusterNode(settings: Settings): boolean {
  if (settings.get('discovery.type') === 'single-node') return true;
  if (!clusterSettings.some((name) => settings.isSet(name))) return true;
  const initial = settings.list('cluster.initial_master_nodes');
  return (
    !settings.isSet('discovery.seed_hosts') &&
    !settings.isSet('discovery.seed_providers') &&
    initial.length === 1 &&
    initial[0] === settings.string('node.name')
  );
}

/** Run the checks in order and return the first finding, if any. */
export function firstFinding(facts: PreflightFacts): Finding | undefined {
  for (const check of checks) {
    const finding = check(facts);
    if (finding) return finding;
  }
  return undefined;
}

/** Whether any host setting that the block's http.host line would override is set. */
export function isAnyHttpHostSet(settings: Settings): boolean {
  return [...hostSettings, 'http.host', 'http.bind_host', 'http.publish_host'].some((name) => settings.isSet(name));
}
