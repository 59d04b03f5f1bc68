// tap's `after` script: after the whole suite, no password, token or .p12
// password that any test saw may appear in any file of any home it made (the
// keystore aside), in any log, or in the output of a node run without a
// terminal. The secrets come from the ledger (what tests handed in, what tools
// printed, the banners) and from every home's keystore. Exit 1 names the file
// and the kind of secret, never the secret. Then the homes are removed.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Keystore } from '../../src/keystore/keystore.js';
import { ledgerDir, type LedgerEntry } from '../helpers/secrets-ledger.js';

const entries: LedgerEntry[] = [];
for (const file of await readdir(ledgerDir).catch(() => [] as string[])) {
  for (const line of (await readFile(join(ledgerDir, file), 'utf8')).split('\n')) if (line) entries.push(JSON.parse(line) as LedgerEntry);
}

const secrets = new Map<string, string>();
const addSecret = (value: string | undefined, source: string): void => {
  if (value && value.length >= 8 && !secrets.has(value)) secrets.set(value, source);
};
const dirs: string[] = [];
const targets: { name: string; text: string }[] = [];
for (const entry of entries) {
  if (entry.kind === 'dir') dirs.push(entry.path);
  if (entry.kind === 'secret') addSecret(entry.value, entry.source);
  if (entry.kind !== 'output') continue;
  const printed = `${entry.command}\n${entry.text}`;
  for (const match of printed.matchAll(/Password for the elastic user[^\n]*\n\s+(\S+)/g)) addSecret(match[1], 'a banner password');
  for (const match of printed.matchAll(/New value: (\S+)/g)) addSecret(match[1], 'a reset password');
  for (const match of printed.matchAll(/\beyJ[A-Za-z0-9+/]{40,}={0,2}/g)) addSecret(match[0], 'an enrollment token');
  if (/^reset-password .*-s\b/.test(entry.command)) addSecret(entry.text.trim().split('\n')[0], 'a reset password (-s)');
  if (entry.command.startsWith('start') && !entry.terminal) targets.push({ name: `the output of '${entry.command.slice(0, 60)}' without a terminal`, text: entry.text });
}

async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const item of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, item.name);
    if (item.isDirectory()) found.push(...(await walk(path)));
    else if (item.isFile()) found.push(path);
  }
  return found;
}

// Homes: the folders with a config/ folder. Files a test wrote beside them (a password file it
// handed in, a credentials file it asked for) are not the node's and are not scanned.
let homes = 0;
const keystorePasswords = ['', ...[...secrets].filter(([, source]) => source.includes('KEYSTORE_PASSWORD')).map(([value]) => value)];
for (const dir of dirs) {
  const files = await walk(dir);
  const homeRoots = [...new Set(files.map((file) => /^(.*)\/config\/[^/]+$/.exec(file)?.[1]).filter((root): root is string => root !== undefined))];
  homes += homeRoots.length;
  for (const file of files) {
    if (file.endsWith('/config/securenode.keystore')) {
      for (const password of keystorePasswords) {
        const keystore = await Keystore.load(file, password).catch(() => undefined);
        if (!keystore) continue;
        for (const name of keystore.list()) {
          const entry = keystore.entry(name)!;
          addSecret(entry.type === 'string' ? entry.value.toString('utf8') : undefined, `the keystore setting ${name}`);
        }
        break;
      }
      continue;
    }
    if (homeRoots.some((root) => file.startsWith(`${root}/`))) targets.push({ name: file, text: await readFile(file, 'latin1') });
  }
}

const leaks: string[] = [];
for (const target of targets) {
  for (const [secret, source] of secrets) if (target.text.includes(secret)) leaks.push(`${target.name} holds ${source}`);
}
const where = `${targets.length} files and outputs of ${homes} homes`;
if (leaks.length > 0) {
  console.log(`# secrets scan after the suite: ${leaks.length} leaks of ${secrets.size} secrets in ${where}:`);
  for (const leak of leaks) console.log(`#   ${leak.replace(ledgerDir, '')}`);
} else {
  console.log(`# secrets scan after the suite: none of ${secrets.size} secrets in ${where}`);
}
for (const dir of dirs) await rm(dir, { recursive: true, force: true });
await rm(ledgerDir, { recursive: true, force: true });
if (secrets.size === 0 || targets.length === 0) console.log('# secrets scan after the suite: these tests recorded nothing to scan');
if (leaks.length > 0) process.exitCode = 1;
