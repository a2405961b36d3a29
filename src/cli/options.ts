import { MosaicError } from '../errors';

/** Counts on the command line (batches, iterations, repeats, seeds) are at most 2^31, as in every framework's int32 shapes. */
export const MAX_COUNT = 2 ** 31;
/**
 * Time limits are at most one week (604,800 s): Node's timers hold at most 2^31 - 1 ms (24.8 days; a
 * larger delay fires at once with a TimeoutOverflowWarning), and a batch case may run three times its
 * limit plus its grace.
 */
export const MAX_TIME_LIMIT_SECONDS = 7 * 24 * 3600;

export function positiveNumber(flag: string, max = Number.MAX_VALUE) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new MosaicError('E_USAGE', `${flag} expects a positive number but received "${value}"`);
    if (n > max) throw new MosaicError('E_USAGE', `${flag} expects at most ${max} but received "${value}"`);
    return n;
  };
}

/** A time limit in seconds: positive, at most MAX_TIME_LIMIT_SECONDS. */
export function timeLimit(flag: string) {
  const parse = positiveNumber(flag, MAX_TIME_LIMIT_SECONDS);
  return (value: string): number => {
    try {
      return parse(value);
    } catch (err) {
      if (Number(value) > MAX_TIME_LIMIT_SECONDS) throw new MosaicError('E_USAGE', `${flag} expects at most ${MAX_TIME_LIMIT_SECONDS} seconds (one week) but received "${value}"`);
      throw err;
    }
  };
}

export function positiveInteger(flag: string, max = MAX_COUNT) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new MosaicError('E_USAGE', `${flag} expects a positive integer but received "${value}"`);
    if (n > max) throw new MosaicError('E_USAGE', `${flag} expects at most ${max} but received "${value}"`);
    return n;
  };
}

export function oneOf<T extends string>(flag: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new MosaicError('E_USAGE', `${flag} must be one of ${allowed.join(', ')} but received "${value}"`);
    return value as T;
  };
}
