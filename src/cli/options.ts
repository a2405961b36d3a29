import { MosaicError } from '../errors';

export function positiveNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new MosaicError('E_USAGE', `${flag} expects a positive number but received "${value}"`);
    return n;
  };
}

export function positiveInteger(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new MosaicError('E_USAGE', `${flag} expects a positive integer but received "${value}"`);
    return n;
  };
}

export function oneOf<T extends string>(flag: string, allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) throw new MosaicError('E_USAGE', `${flag} must be one of ${allowed.join(', ')} but received "${value}"`);
    return value as T;
  };
}
