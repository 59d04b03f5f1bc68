import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The secrets ledger: while tap runs the suite (its `before` script creates the
 * folder), the test helpers write down the homes they made, the output of
 * every node and tool they ran, and the secrets they handed in. The `after`
 * script then scans all of it at once, after the whole suite, and removes the
 * homes. Run outside tap (no folder), nothing is written and homes are
 * removed at once, as usual. SECURENODE_TEST_LEDGER points the after script
 * elsewhere, for its own test.
 */
export const ledgerDir = process.env.SECURENODE_TEST_LEDGER ?? fileURLToPath(new URL('../../../.tap/secrets-ledger/', import.meta.url));

export type LedgerEntry =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 'secret'; readonly value: string; readonly source: string }
  | { readonly kind: 'output'; readonly command: string; readonly terminal: boolean; readonly text: string };

export function ledgerActive(): boolean {
  return existsSync(ledgerDir);
}

export function remember(entry: LedgerEntry): void {
  if (ledgerActive()) appendFileSync(join(ledgerDir, `${process.pid}.jsonl`), `${JSON.stringify(entry)}\n`);
}

/**
 * The values of variables that hold secrets (names with PASSWORD, TOKEN or
 * SECRET: AWS_SECRET_ACCESS_KEY, AZURE_CLIENT_SECRET, VAULT_TOKEN...), given to
 * a node or tool; of a service account key in JSON (GCP_SERVICE_ACCOUNT), its
 * private key.
 */
export function rememberSecretEnv(env: Record<string, string>, source: string): void {
  for (const [name, value] of Object.entries(env)) {
    if (/SERVICE_ACCOUNT/.test(name)) {
      try {
        const key = (JSON.parse(value) as { private_key?: unknown }).private_key;
        if (typeof key === 'string') remember({ kind: 'secret', value: key.split('\n').filter((line) => line && !line.startsWith('-----')).join('').slice(0, 64), source: `${source}: ${name} private_key` });
      } catch {
        // not JSON: nothing to remember
      }
      continue;
    }
    // A vault reference names a secret; it is not one.
    if (/PASSWORD|TOKEN|SECRET/.test(name) && !name.endsWith('_FILE') && value.length >= 8 && !value.startsWith('{vault://')) remember({ kind: 'secret', value, source: `${source}: ${name}` });
  }
}
