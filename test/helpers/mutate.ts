/**
 * Mutations of JSON documents and command lines for the fuzzer (test/fuzz.test.ts): seeded, so a case is
 * reproduced from its seed alone. Each mutation says what it did, for the failure message.
 */

export type Rng = () => number;
type Key = string | number;

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
const chance = (rng: Rng, p: number): boolean => rng() < p;

/** Numbers at and beyond every edge: zero, negatives, subnormals, int32/float64 limits, and JSON text that parses to ±Infinity or is not JSON at all. */
export const EXTREME_NUMBERS: readonly string[] = [
  '0', '-0', '-1', '1', '2', '0.5', '1.5', '7', '1e-9', '5e-324', '1e-400', '1e308', '-1e308', '1e999', '-1e999',
  '2147483647', '2147483648', '4294967296', '9007199254740992', '9007199254740993', '1e21', '1e6', '65536', '1000000', 'NaN', 'Infinity',
];
const WRONG_TYPES: readonly string[] = ['"a string"', '""', 'null', 'true', 'false', '[]', '{}', '[1, 2]', '{"a": 1}', '"1e3"'];
const ODD_STRINGS: readonly string[] = ['', ' ', '../../../etc/passwd', '/proc/self/mem', 'x'.repeat(5000), 'llava 1.5', 'модель', '💥', 'a\nb', 'null', '__proto__', 'constructor'];

/** Every path into a JSON value (the root is []), with the value found there. */
export function paths(value: unknown, prefix: Key[] = [], out: { path: Key[]; value: unknown }[] = []): { path: Key[]; value: unknown }[] {
  out.push({ path: prefix, value });
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

function parentOf(doc: unknown, path: readonly Key[]): { parent: Record<Key, unknown> | unknown[]; key: Key } | undefined {
  if (path.length === 0) return undefined;
  let at: unknown = doc;
  for (const k of path.slice(0, -1)) at = (at as Record<Key, unknown>)[k];
  return { parent: at as Record<Key, unknown>, key: path[path.length - 1]! };
}

const PLACEHOLDER = '"__MOSAIC_FUZZ_TOKEN__"';

export type Mutant = { readonly text: string; readonly what: string[] };

/**
 * Applies 1..3 mutations to a copy of `doc` and serialises it: an extreme number (as JSON text, so 1e999
 * and NaN are possible), a number scaled by 10^±k, a wrong type, an odd string, a deleted key, a
 * duplicated array element or object key; sometimes the text is then made malformed.
 */
export function mutateJson(doc: unknown, rng: Rng): Mutant {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  const what: string[] = [];
  let token: string | undefined;
  let duplicateKey: { path: Key[]; key: string; valueText: string } | undefined;
  // Mostly one mutation, so that many cases get past the schema and into the planner.
  const count = rng() < 0.6 ? 1 : 2 + Math.floor(rng() * 2);
  for (let n = 0; n < count; n++) {
    const all = paths(copy);
    const numbers = all.filter((p) => typeof p.value === 'number');
    const strings = all.filter((p) => typeof p.value === 'string' && p.path.length > 0);
    const nonRoot = all.filter((p) => p.path.length > 0);
    const arrays = all.filter((p) => Array.isArray(p.value) && (p.value as unknown[]).length > 0);
    const objects = all.filter((p) => p.value !== null && typeof p.value === 'object' && !Array.isArray(p.value) && Object.keys(p.value as object).length > 0);
    const kind = pick(rng, ['number', 'number', 'number', 'scale', 'type', 'string', 'delete', 'duplicate', 'duplicate-key'] as const);
    const set = (path: Key[], v: unknown) => {
      const at = parentOf(copy, path);
      if (at) (at.parent as Record<Key, unknown>)[at.key] = v;
    };
    if ((kind === 'number' || kind === 'scale') && numbers.length > 0) {
      const p = pick(rng, numbers);
      if (kind === 'scale' || token !== undefined) {
        const k = Math.floor(rng() * 13) - 6;
        const v = (p.value as number) * 10 ** k;
        set(p.path, v);
        what.push(`${fmt(p.path)} × 1e${k} = ${v}`);
      } else {
        token = pick(rng, EXTREME_NUMBERS);
        set(p.path, '__MOSAIC_FUZZ_TOKEN__');
        what.push(`${fmt(p.path)} = ${token}`);
      }
    } else if (kind === 'type' && nonRoot.length > 0) {
      const p = pick(rng, nonRoot);
      const v = JSON.parse(pick(rng, WRONG_TYPES)) as unknown;
      set(p.path, v);
      what.push(`${fmt(p.path)} = ${JSON.stringify(v)}`);
    } else if (kind === 'string' && strings.length > 0) {
      const p = pick(rng, strings);
      const v = pick(rng, ODD_STRINGS);
      set(p.path, v);
      what.push(`${fmt(p.path)} = ${JSON.stringify(v.length > 20 ? `${v.slice(0, 10)}…(${v.length})` : v)}`);
    } else if (kind === 'delete' && nonRoot.length > 0) {
      const p = pick(rng, nonRoot);
      const at = parentOf(copy, p.path)!;
      if (Array.isArray(at.parent)) at.parent.splice(at.key as number, 1);
      else delete (at.parent as Record<Key, unknown>)[at.key];
      what.push(`delete ${fmt(p.path)}`);
    } else if (kind === 'duplicate' && arrays.length > 0) {
      const p = pick(rng, arrays);
      const arr = p.value as unknown[];
      const i = Math.floor(rng() * arr.length);
      arr.splice(i, 0, JSON.parse(JSON.stringify(arr[i])));
      what.push(`duplicate ${fmt([...p.path, i])}`);
    } else if (kind === 'duplicate-key' && objects.length > 0 && !duplicateKey) {
      const p = pick(rng, objects);
      const key = pick(rng, Object.keys(p.value as object));
      // A second, different value for the key: JSON.parse keeps the last.
      duplicateKey = { path: p.path, key, valueText: pick(rng, [...EXTREME_NUMBERS.slice(0, 8), ...WRONG_TYPES]) };
      what.push(`duplicate key ${fmt([...p.path, key])} = ${duplicateKey.valueText}`);
    } else {
      what.push('(no mutation applies)');
    }
  }
  let text = JSON.stringify(copy, null, 2);
  if (token !== undefined) text = text.replace(PLACEHOLDER, token);
  if (duplicateKey) {
    // The first object at that depth holding the key gets it twice, the new value first (JSON.parse keeps the last).
    const { path, key, valueText } = duplicateKey;
    const indent = '  '.repeat(path.length + 1);
    const needle = `\n${indent}${JSON.stringify(key)}: `;
    const at = text.indexOf(needle);
    if (at >= 0) text = `${text.slice(0, at)}${needle}${valueText},${text.slice(at)}`;
  }
  if (chance(rng, 0.08)) {
    const at = Math.floor(rng() * text.length);
    const how = pick(rng, ['truncate', 'insert', 'delete'] as const);
    if (how === 'truncate') text = text.slice(0, at);
    else if (how === 'insert') text = text.slice(0, at) + pick(rng, ['}', ',', '"', ':', '[', '\u0000', '\\', '//']) + text.slice(at);
    else text = text.slice(0, at) + text.slice(at + 1);
    what.push(`malformed: ${how} at ${at}`);
  }
  return { text, what };
}

const fmt = (path: readonly Key[]): string => '/' + path.join('/');

/** Values for numeric flags: extremes, not-a-number text, hex, empty. */
export const FLAG_NUMBERS: readonly string[] = [
  '0', '-1', '1', '2', '1.5', '0.5', '1e999', 'NaN', 'Infinity', '2147483648', '2147483649', '9007199254740992', 'abc', '', '0x10',
  '1e-9', '3000000', '604800', '604801', '7', '16', '128', '8192', '16384', '0.015625', '1e308', '5e-324',
];

/** Output paths a user might give by mistake, relative to a scratch folder `dir` that holds a file `a-file`. */
export function oddOutputPaths(dir: string): string[] {
  return [dir, '', '/', '/proc/mosaic-out.json', '/dev/null', `${dir}/a-file/x.json`, `${dir}/missing/x.json`, `${dir}/new/`, `${dir}/ok.json`, `${dir}/ok.json`];
}
