import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import * as fs from 'fs';
import * as path from 'path';

export type SchemaName = 'model' | 'cluster' | 'profile' | 'plan' | 'batch-manifest' | 'launch';

/** Repo root from both `src/spec` (ts-node) and `dist/src/spec` (compiled). */
export const REPO_ROOT = findRoot(__dirname);

function findRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'schemas')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

let ajv: Ajv | undefined;
const compiled = new Map<SchemaName, ValidateFunction>();

/** Compiled once per process; `allErrors` so a file with three problems gets three lines. */
export function schemaValidator(name: SchemaName): ValidateFunction {
  const cached = compiled.get(name);
  if (cached) return cached;
  ajv ??= new Ajv({ allErrors: true, strict: false });
  const schema = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', `${name}.schema.json`), 'utf8'));
  const validate = ajv.compile(schema);
  compiled.set(name, validate);
  return validate;
}

/** `FILE: /json/pointer: message`, one line per problem, without ajv's if/then noise. */
export function formatSchemaErrors(file: string, errors: readonly ErrorObject[]): string[] {
  const lines = errors
    .filter((e) => e.keyword !== 'if' && e.keyword !== 'then' && e.keyword !== 'else')
    .map((e) => `${file}: ${e.instancePath || '/'}: ${describe(e)}`);
  return [...new Set(lines)];
}

function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'required':
      return `missing required property "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'exclusiveMinimum':
      return `must be greater than ${(e.params as { limit: number }).limit}`;
    default:
      return e.message ?? e.keyword;
  }
}
