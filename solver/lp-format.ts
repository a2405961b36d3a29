/**
 * CPLEX LP text dump of a `MilpModel`, for debugging and for feeding other solvers by hand.
 * Deterministic: the same model always gives the same bytes (model order, fixed number format).
 *
 * Name rules (CPLEX LP file format): at most 255 characters from letters, digits and
 * `! " # $ % & ( ) , . ; ? @ _ ‘ ’ { } ~`; not starting with a digit or a period; not `e`/`E`
 * followed by a digit or another `e` (read as an exponent). `[`/`]` are quadratic-term brackets,
 * so a model name is escaped injectively:
 *   `[` → `(`, `]` → `)`; kept: letters, digits, `_ . , ! # $ % & ; ? @ { }`;
 *   any other byte (including `(`, `)`, `~`, `-`, `:` and UTF-8 bytes) → `~` + two hex digits;
 *   a first character that would be read as a number, an exponent or a keyword is escaped too.
 * `n[p17]` becomes `n(p17)`; `cover[llava-1.5]` becomes `cover(llava~2d1.5)`. A comment header
 * lists every name that changed, so a person can read the original names back.
 * A ranged row `l <= expr <= u` (l < u) is written as two rows `<name>~lo` and `<name>~hi`
 * (`~l`/`~h` are not escapes, so these cannot collide with another escaped name).
 */

import { MilpModel, Row, Term, Variable } from './model';

const KEPT = /[A-Za-z0-9_.,!#$%&;?@{}]/;
const KEYWORD_LIKE = /^(inf|infinity|free)$/i;

function escapeByte(char: string): string {
  return [...Buffer.from(char, 'utf8')].map((b) => '~' + b.toString(16).padStart(2, '0')).join('');
}

/** The LP-safe identifier for a model name; injective, so distinct names stay distinct. */
export function lpName(name: string): string {
  let out = '';
  for (const char of name) {
    if (char === '[') out += '(';
    else if (char === ']') out += ')';
    else if (KEPT.test(char)) out += char;
    else out += escapeByte(char);
  }
  const startsBadly = /^[0-9.]/.test(out) || /^[eE]([0-9eE]|$)/.test(out) || KEYWORD_LIKE.test(out);
  return startsBadly ? escapeByte(out[0] as string) + out.slice(1) : out;
}

/** Fixed number format: shortest round-trip decimal (`String`), infinities as LP words. */
function num(value: number): string {
  if (value === Infinity) return '+inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

const MAX_LINE = 250;

/** ` + 3 x - y ...`, wrapped below the 255-character line limit of CPLEX and GLPK readers. */
function expression(terms: readonly Term[], fallbackVariable: string | undefined): string[] {
  const parts = terms.map(({ variable, coefficient }) => {
    const sign = coefficient < 0 ? '-' : '+';
    const magnitude = Math.abs(coefficient);
    return magnitude === 1 ? `${sign} ${lpName(variable)}` : `${sign} ${num(magnitude)} ${lpName(variable)}`;
  });
  // An empty expression is not valid LP; `0 x` keeps the line parseable.
  if (parts.length === 0 && fallbackVariable !== undefined) parts.push(`+ 0 ${lpName(fallbackVariable)}`);
  const lines: string[] = [];
  let line = '';
  for (const part of parts) {
    if (line.length > 0 && line.length + part.length + 1 > MAX_LINE) {
      lines.push(line);
      line = '   ';
    }
    line += ' ' + part;
  }
  lines.push(line);
  return lines;
}

function constraint(label: string, terms: readonly Term[], op: string, rhs: number, fallback: string | undefined): string[] {
  const lines = expression(terms, fallback);
  lines[0] = ` ${label}:${lines[0]}`;
  lines[lines.length - 1] += ` ${op} ${num(rhs)}`;
  return lines;
}

function rowLines(row: Row, fallback: string | undefined): string[] {
  const name = lpName(row.name);
  const { lower, upper } = row;
  if (lower !== undefined && upper !== undefined) {
    if (lower === upper) return constraint(name, row.terms, '=', lower, fallback);
    return [
      ...constraint(`${name}~lo`, row.terms, '>=', lower, fallback),
      ...constraint(`${name}~hi`, row.terms, '<=', upper, fallback),
    ];
  }
  if (upper !== undefined) return constraint(name, row.terms, '<=', upper, fallback);
  // A free row (no finite side) binds nothing; `>= -inf` keeps it visible in the dump.
  return constraint(name, row.terms, '>=', lower ?? -Infinity, fallback);
}

function isBinary(v: Variable): boolean {
  return v.integer && v.lower === 0 && v.upper === 1;
}

/** Bounds line for a variable, or undefined for the LP default `0 <= x <= +inf` (and binaries). */
function boundLine(v: Variable): string | undefined {
  const name = lpName(v.name);
  if (isBinary(v)) return undefined;
  if (v.lower === 0 && v.upper === Infinity) return undefined;
  if (v.lower === -Infinity && v.upper === Infinity) return ` ${name} free`;
  if (v.lower === v.upper) return ` ${name} = ${num(v.lower)}`;
  if (v.upper === Infinity) return ` ${name} >= ${num(v.lower)}`;
  return ` ${num(v.lower)} <= ${name} <= ${num(v.upper)}`;
}

export function toLpText(model: MilpModel): string {
  const fallback = model.variables[0]?.name;
  const renamed = [...model.variables.map((v) => v.name), ...model.rows.map((r) => r.name)].filter((n) => lpName(n) !== n);
  const out: string[] = [`\\ Problem: ${model.name}`];
  if (renamed.length > 0) {
    out.push('\\ Names escaped for LP format (LP name = model name):');
    for (const n of renamed) out.push(`\\   ${lpName(n)} = ${n}`);
  }
  out.push('', model.sense === 'max' ? 'Maximize' : 'Minimize');
  const objective = expression(model.objective, fallback);
  objective[0] = ` obj:${objective[0]}`;
  out.push(...objective);
  out.push('', 'Subject To');
  for (const row of model.rows) out.push(...rowLines(row, fallback));
  const bounds = model.variables.map(boundLine).filter((l): l is string => l !== undefined);
  if (bounds.length > 0) out.push('', 'Bounds', ...bounds);
  const generals = model.variables.filter((v) => v.integer && !isBinary(v));
  if (generals.length > 0) out.push('', 'General', ...generals.map((v) => ` ${lpName(v.name)}`));
  const binaries = model.variables.filter(isBinary);
  if (binaries.length > 0) out.push('', 'Binary', ...binaries.map((v) => ` ${lpName(v.name)}`));
  out.push('', 'End', '');
  return out.join('\n');
}
