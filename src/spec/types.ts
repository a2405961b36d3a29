/**
 * Core domain types. Plain readonly data, validated by the JSON Schemas under `schemas/` and generated
 * from them (./types.generated.ts, by scripts/gen-spec-types.js), so the two cannot drift: change a
 * schema, then run `npm run gen:spec-types`. Units are in the names (`Ms`, `Bytes`, `GiB`, `Fraction`)
 * or stated in the TSDoc.
 */

export type * from './types.generated';
