// tap's `before` script: a new, empty secrets ledger for this run (see test/helpers/secrets-ledger.ts).
import { mkdir, rm } from 'node:fs/promises';
import { ledgerDir } from '../helpers/secrets-ledger.js';

await rm(ledgerDir, { recursive: true, force: true });
await mkdir(ledgerDir, { recursive: true, mode: 0o700 });
