// tap's `before` script: a new, empty secrets ledger for this run (see
// test/helpers/secrets-ledger.ts, whose path this repeats: importing it here
// would put the helper in tap's coverage table and fail its thresholds).
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ledgerDir = process.env.SECURENODE_TEST_LEDGER ?? fileURLToPath(new URL('../../../.tap/secrets-ledger/', import.meta.url));
await rm(ledgerDir, { recursive: true, force: true });
await mkdir(ledgerDir, { recursive: true, mode: 0o700 });
