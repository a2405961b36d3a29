/**
 * Solver-neutral MILP model: plain readonly data (YALPS style) that every backend and the LP
 * dump read. Names carry their indices (`n[p17]`, `cover[vision]`, `x[vision,g0,q3]`); backends
 * map them to safe identifiers where the solver cannot take them.
 */

export type Term = { readonly variable: string; readonly coefficient: number };

export type Variable = {
  readonly name: string;
  /** May be -Infinity (free below). */
  readonly lower: number;
  /** May be Infinity (free above). */
  readonly upper: number;
  readonly integer: boolean;
};

/**
 * `lower <= Σ terms <= upper`; a missing side is unbounded; equality is `lower === upper`. Each variable
 * appears at most once in `terms` (ModelBuilder merges repeats; backends such as GLPK and HiGHS's
 * passModel reject a repeated matrix entry).
 */
export type Row = {
  readonly name: string;
  readonly terms: readonly Term[];
  readonly lower?: number;
  readonly upper?: number;
};

export type Sense = 'max' | 'min';

export type MilpModel = {
  readonly name: string;
  readonly sense: Sense;
  readonly objective: readonly Term[];
  readonly variables: readonly Variable[];
  readonly rows: readonly Row[];
};

export type ModelErrorCode = 'DUPLICATE_NAME' | 'UNKNOWN_VARIABLE' | 'BAD_BOUND' | 'BAD_NAME' | 'BAD_COEFFICIENT';

/** Thrown only for an invalid model (a bug in formulation code), never for a solver outcome. */
export class ModelError extends Error {
  readonly code: ModelErrorCode;

  constructor(code: ModelErrorCode, message: string) {
    super(message);
    this.name = 'ModelError';
    this.code = code;
  }
}

/** Longest name accepted: CPLEX LP and GLPK both stop at 255 characters, and escaping can grow a name. */
export const MAX_NAME_LENGTH = 200;

// A name starts with a letter or `_` and holds no blank or control character; everything else
// (`[`, `]`, `,`, `.`, `-`, ...) is allowed here and escaped by the consumers that need it.
const NAME_PATTERN = /^[A-Za-z_][^\s\p{Cc}]*$/u;

function checkName(kind: string, name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name.length > MAX_NAME_LENGTH) {
    throw new ModelError(
      'BAD_NAME',
      `Expected a ${kind} name that starts with a letter or "_", has no blanks and at most ${MAX_NAME_LENGTH} characters but received ${JSON.stringify(name)}`,
    );
  }
}

export type VariableSpec = { lower?: number; upper?: number; integer?: boolean };
export type RowSpec = { lower?: number; upper?: number };

/**
 * Builds a `MilpModel`, rejecting repeated names, unknown variables and nonsensical bounds at the
 * line that made them. Repeated variables inside one row or the objective are summed, so
 * formulation code may add `Σ_q` terms without deduplicating (backends such as GLPK reject
 * duplicate matrix entries).
 */
export class ModelBuilder {
  private readonly variables: Variable[] = [];
  private readonly variableNames = new Set<string>();
  private readonly rows: Row[] = [];
  private readonly rowNames = new Set<string>();
  private objective: readonly Term[] = [];
  private sense: Sense = 'max';

  constructor(private readonly name: string) {
    checkName('model', name);
  }

  /** Defaults: lower 0, upper Infinity, continuous. Returns the name, for use in terms. */
  addVariable(name: string, spec: VariableSpec = {}): string {
    checkName('variable', name);
    if (this.variableNames.has(name)) {
      throw new ModelError('DUPLICATE_NAME', `Variable "${name}" is defined twice`);
    }
    const lower = spec.lower ?? 0;
    const upper = spec.upper ?? Infinity;
    if (Number.isNaN(lower) || Number.isNaN(upper) || lower === Infinity || upper === -Infinity || lower > upper) {
      throw new ModelError('BAD_BOUND', `Expected bounds lower <= upper, lower < Infinity, upper > -Infinity for variable "${name}" but received [${lower}, ${upper}]`);
    }
    const integer = spec.integer ?? false;
    if (integer && Math.ceil(lower - 1e-9) > Math.floor(upper + 1e-9)) {
      throw new ModelError('BAD_BOUND', `Integer variable "${name}" has no integer value in [${lower}, ${upper}]`);
    }
    this.variableNames.add(name);
    this.variables.push({ name, lower, upper, integer });
    return name;
  }

  addRow(name: string, terms: readonly Term[], spec: RowSpec): void {
    checkName('row', name);
    if (this.rowNames.has(name)) {
      throw new ModelError('DUPLICATE_NAME', `Row "${name}" is defined twice`);
    }
    const { lower, upper } = spec;
    const bad = (v: number | undefined): boolean => v !== undefined && Number.isNaN(v);
    if (
      bad(lower) || bad(upper) ||
      lower === Infinity || upper === -Infinity ||
      (lower !== undefined && upper !== undefined && lower > upper)
    ) {
      throw new ModelError('BAD_BOUND', `Expected row bounds lower <= upper, lower < Infinity, upper > -Infinity for row "${name}" but received [${lower}, ${upper}]`);
    }
    const row: Row = { name, terms: this.mergeTerms(`row "${name}"`, terms) };
    // Infinite sides are stored as absent so consumers test only `!== undefined`.
    this.rowNames.add(name);
    this.rows.push({
      ...row,
      ...(lower !== undefined && lower !== -Infinity ? { lower } : {}),
      ...(upper !== undefined && upper !== Infinity ? { upper } : {}),
    });
  }

  setObjective(sense: Sense, terms: readonly Term[]): void {
    this.sense = sense;
    this.objective = this.mergeTerms('the objective', terms);
  }

  build(): MilpModel {
    return Object.freeze({
      name: this.name,
      sense: this.sense,
      objective: Object.freeze([...this.objective]),
      variables: Object.freeze([...this.variables]),
      rows: Object.freeze([...this.rows]),
    });
  }

  private mergeTerms(where: string, terms: readonly Term[]): readonly Term[] {
    const sums = new Map<string, number>();
    for (const { variable, coefficient } of terms) {
      if (!this.variableNames.has(variable)) {
        throw new ModelError('UNKNOWN_VARIABLE', `Variable "${variable}" used in ${where} is not defined`);
      }
      if (!Number.isFinite(coefficient)) {
        throw new ModelError('BAD_COEFFICIENT', `Expected a finite coefficient for "${variable}" in ${where} but received ${coefficient}`);
      }
      sums.set(variable, (sums.get(variable) ?? 0) + coefficient);
    }
    return Object.freeze([...sums].map(([variable, coefficient]) => Object.freeze({ variable, coefficient })));
  }
}

/** Σ coefficient · value, with absent values read as 0. */
export function evaluateTerms(terms: readonly Term[], values: ReadonlyMap<string, number>): number {
  let sum = 0;
  for (const { variable, coefficient } of terms) sum += coefficient * (values.get(variable) ?? 0);
  return sum;
}
