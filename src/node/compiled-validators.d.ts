// dist/src/node/compiled-validators.js is written by scripts/validators.mjs at
// `npm run build` (Ajv's standalone code for route-schemas.ts and the store's
// shape, with validatorOptions); this file declares it.
import type { ValidateFunction } from 'ajv';
import type { routeSchemas } from './route-schemas.js';

export declare const validators: { readonly [name in keyof typeof routeSchemas | 'store']: ValidateFunction };
