// The node's JSON schemas (src/node/route-schemas.ts, the store's shape in
// src/security/store-shape.ts) compiled ahead of time into
// dist/src/node/compiled-validators.js: Ajv's standalone code, with the options
// the node validates with. Compiled at run time instead, the first schema
// (Ajv's code generator, cold) held a node's event loop 30-110 ms soon after
// its start, and the store's took as long at each start with a store file.
// Runs after tsc (it reads tsc's output) and before the bundle (which takes it in).
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { routeSchemas, validatorOptions } from '../dist/src/node/route-schemas.js';
import { storeSchema } from '../dist/src/security/store-shape.js';
import { writeFileAtomic } from '../dist/src/io/atomic-write.js';

const require = createRequire(import.meta.url);
const { default: Ajv } = require('ajv');
const { default: standaloneCode } = require('ajv/dist/standalone');

const schemas = { ...routeSchemas, store: storeSchema };
const ajv = new Ajv({ ...validatorOptions, code: { source: true, esm: true } });
for (const [name, schema] of Object.entries(schemas)) ajv.addSchema(schema, name);
const names = Object.keys(schemas);
// Ajv's ES module output still loads its runtime helpers (ucs2length for maxLength) with require.
const code =
  "// Written by scripts/validators.mjs from the node's schemas; do not edit.\n" +
  "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n" +
  standaloneCode(ajv, Object.fromEntries(names.map((name) => [name, name]))).replace(/^"use strict";/, '') +
  `\nexport const validators = { ${names.join(', ')} };\n`;
const write = async (name, text) => {
  const file = fileURLToPath(new URL(`../dist/src/node/${name}`, import.meta.url));
  if ((await readFile(file, 'utf8').catch(() => undefined)) !== text) await writeFileAtomic(file, text, 0o644);
};
await write('compiled-validators.js', code);
// tsc takes declaration files as input only: the package's types get this one beside the code.
await write('compiled-validators.d.ts', await readFile(new URL('../src/node/compiled-validators.d.ts', import.meta.url), 'utf8'));
