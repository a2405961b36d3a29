/**
 * Errors and exit statuses, in one place. The library throws {@link MosaicError} only for invalid
 * input and bugs; solver outcomes and "no plan fits" are values. The CLI maps `exitCode` to the
 * process exit status and prints `displayLines`. The native addon throws this class too: it is
 * handed to the addon once when the addon loads (src/engine/native.ts, `setErrorClass`), so engine
 * errors reach JS already typed, with their code, and are never converted.
 */

/** Process exit statuses (DESIGN §8), defined here only. */
export const EXIT = {
  ok: 0,
  internal: 1,
  /** Usage or invalid input. */
  usage: 2,
  /** No plan fits. */
  infeasible: 3,
  /** Time limit with no plan. */
  timeLimit: 4,
  /** Stopped by SIGINT (Ctrl-C) after reporting what ran: the shell's 128 + 2. */
  interrupted: 130,
  /** Stopped by SIGTERM after reporting what ran: 128 + 15. */
  terminated: 143,
} as const;

type ErrorInfo = {
  readonly exit: number;
  /** How the CLI prints the error's first line: `{code}` and `{message}` are filled in. */
  readonly template: string;
  /** What the code means (for the table in the README and for readers). */
  readonly meaning: string;
};

const PLAIN = '{message}';
const ENGINE = 'engine: {code}: {message}';

/** The one error table: code → exit status → message template. */
export const ERROR_TABLE = {
  E_USAGE: { exit: EXIT.usage, template: PLAIN, meaning: 'a flag or argument the command cannot use' },
  E_INPUT: { exit: EXIT.usage, template: PLAIN, meaning: 'an input file or value that is invalid (spec, plan, manifest, batch sizes)' },
  E_OUTPUT: { exit: EXIT.usage, template: PLAIN, meaning: 'an output path that cannot be written, or a write that failed midway (disk full)' },
  E_INFEASIBLE: { exit: EXIT.infeasible, template: PLAIN, meaning: 'no plan fits' },
  E_TIME_LIMIT: { exit: EXIT.timeLimit, template: PLAIN, meaning: 'the time limit struck before any plan was found' },
  E_NOT_IMPLEMENTED: { exit: EXIT.usage, template: PLAIN, meaning: 'a feature this build does not have (e.g. training on --device cuda)' },
  E_INTERNAL: { exit: EXIT.internal, template: PLAIN, meaning: 'a bug' },
  // Engine (src/engine, native/): thrown in TS and, with the same class, by the addon.
  E_BAD_OP: { exit: EXIT.usage, template: ENGINE, meaning: 'an op with an unknown name, a bad field or forbidden aliasing' },
  E_BUFFER_RANGE: { exit: EXIT.usage, template: ENGINE, meaning: 'a buffer index out of range or a buffer too short for its op' },
  E_BAD_GRAPH: { exit: EXIT.usage, template: ENGINE, meaning: 'a task graph with unknown or repeated ids' },
  E_CORES: { exit: EXIT.usage, template: ENGINE, meaning: 'CPU cores that this process cannot use or that two contexts share' },
  E_CYCLE: { exit: EXIT.usage, template: ENGINE, meaning: 'a dependency cycle in a task graph' },
  E_BAD_VALUE: { exit: EXIT.usage, template: ENGINE, meaning: 'data an op cannot take (a label outside its classes)' },
  E_BAD_QUOTA: { exit: EXIT.usage, template: ENGINE, meaning: 'quotas that are not in (0, 1] or sum past 1' },
  E_PARTITION_INFEASIBLE: { exit: EXIT.usage, template: ENGINE, meaning: 'quotas that cannot be rounded to the device granularity' },
  E_NATIVE_UNAVAILABLE: { exit: EXIT.usage, template: ENGINE, meaning: 'the native addon is not built or does not load' },
  E_CUDA_UNAVAILABLE: { exit: EXIT.usage, template: ENGINE, meaning: 'no CUDA driver or device here' },
  E_CUDA_NO_KERNELS: { exit: EXIT.usage, template: ENGINE, meaning: 'the CUDA backend has no op kernels yet' },
  E_CUDA_PARTITION: { exit: EXIT.usage, template: ENGINE, meaning: 'an SM partition request the device refuses' },
  E_CUDA_DRIVER: { exit: EXIT.internal, template: ENGINE, meaning: 'an unexpected CUDA driver error' },
} as const satisfies Readonly<Record<string, ErrorInfo>>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** Exit codes by error code (from {@link ERROR_TABLE}). */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = Object.fromEntries(
  Object.entries(ERROR_TABLE).map(([code, info]) => [code, info.exit]),
) as Record<ErrorCode, number>;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_TABLE, code);
}

/** The one error base class: a stable code, one line per problem. */
export class MosaicError extends Error {
  readonly code: ErrorCode;
  /** One line per problem, already formatted for a person (`FILE: /json/pointer: message`). */
  readonly lines: readonly string[];
  /** Set by the engine when a running task failed: which task and op, and what ran before. */
  declare readonly taskId?: number;
  declare readonly opIndex?: number;
  declare readonly partial?: unknown;

  constructor(code: ErrorCode, lines: string | readonly string[]) {
    const all = typeof lines === 'string' ? [lines] : lines;
    // An unknown code (a bug, e.g. in native code) stays visible but counts as internal.
    const known: ErrorCode = isErrorCode(code) ? code : 'E_INTERNAL';
    super(known === code ? all.join('\n') : `${String(code)}: ${all.join('\n')}`);
    this.name = 'MosaicError';
    this.code = known;
    this.lines = known === code ? all : [this.message];
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }

  /** The lines the CLI prints: the first through the code's template, the rest as they are. */
  get displayLines(): readonly string[] {
    const [first = '', ...rest] = this.lines;
    return [ERROR_TABLE[this.code].template.replace('{code}', () => this.code).replace('{message}', () => first), ...rest];
  }
}

/**
 * No plan fits (E_INFEASIBLE). `reason` is the binding constraint alone, in words, for reports that
 * name the model and cluster themselves (compare, batch); the message leads with `subject`.
 */
export class InfeasibleError extends MosaicError {
  constructor(
    subject: string,
    readonly reason: string,
  ) {
    super('E_INFEASIBLE', `${subject}: ${reason}`);
  }
}

export function inputError(lines: string | readonly string[]): MosaicError {
  return new MosaicError('E_INPUT', lines);
}
