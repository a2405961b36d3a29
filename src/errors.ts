/**
 * Typed errors with stable codes. The library throws these only for invalid input and bugs;
 * solver outcomes and "no plan fits" are values. The CLI maps `exitCode` to the process exit status.
 */

export type ErrorCode =
  | 'E_USAGE'
  | 'E_INPUT'
  /** An output path that cannot be written, or a write that failed (disk full): exit 2. */
  | 'E_OUTPUT'
  | 'E_INFEASIBLE'
  | 'E_TIME_LIMIT'
  | 'E_NOT_IMPLEMENTED'
  | 'E_INTERNAL';

/** Exit codes, DESIGN §8: 0 ok, 1 internal, 2 usage or invalid input, 3 infeasible, 4 time limit with no plan. */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  E_USAGE: 2,
  E_INPUT: 2,
  E_OUTPUT: 2,
  E_INFEASIBLE: 3,
  E_TIME_LIMIT: 4,
  E_NOT_IMPLEMENTED: 2,
  E_INTERNAL: 1,
};

export class MosaicError extends Error {
  readonly code: ErrorCode;
  /** One line per problem, already formatted for a person (`FILE: /json/pointer: message`). */
  readonly lines: readonly string[];

  constructor(code: ErrorCode, lines: string | readonly string[]) {
    const all = typeof lines === 'string' ? [lines] : lines;
    super(all.join('\n'));
    this.name = 'MosaicError';
    this.code = code;
    this.lines = all;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

export function inputError(lines: string | readonly string[]): MosaicError {
  return new MosaicError('E_INPUT', lines);
}
