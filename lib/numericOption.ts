// Every numeric option of the library and the CLI is checked here, against a range written once beside
// the option (fit's table in lib/fitOptionRanges.ts, a loss descriptor's options, loadModel's sizes), so
// that every check refuses NaN, Infinity and fractions where a count is due, and states the range in the
// same words. Native code checks again (a raw-binding caller skips this), but that is its own guard.

/** The values an option accepts. No bound: unbounded on that side; numbers are always finite. */
export interface NumberRange {
  /** A safe integer is due (a count, a size, a seed). */
  integer?: boolean;
  min?: number;
  /** The value must be above min rather than at least min. */
  minExclusive?: boolean;
  max?: number;
  /** The value must be below max rather than at most max. */
  maxExclusive?: boolean;
}

export const POSITIVE_INTEGER: NumberRange = { integer: true, min: 1 };
export const NON_NEGATIVE_INTEGER: NumberRange = { integer: true, min: 0 };
export const ANY_INTEGER: NumberRange = { integer: true };
export const ANY_NUMBER: NumberRange = {};
export const POSITIVE_NUMBER: NumberRange = { min: 0, minExclusive: true };
export const NON_NEGATIVE_NUMBER: NumberRange = { min: 0 };
export const UNIT_INTERVAL: NumberRange = { min: 0, max: 1 };

/** "a positive integer", "a number in [0, 1)": what the range accepts, for messages and --help. */
export function describeRange(range: NumberRange): string {
  const what = range.integer ? 'integer' : 'number';
  const article = range.integer ? 'an' : 'a';
  const { min, max } = range;
  if (min !== undefined && max !== undefined) {
    return `${article} ${what} in ${range.minExclusive ? '(' : '['}${min}, ${max}${range.maxExclusive ? ')' : ']'}`;
  }
  if (min !== undefined) {
    if (min === 0 && range.minExclusive) return `a positive ${what}`;
    if (min === 1 && range.integer && !range.minExclusive) return 'a positive integer';
    return `${article} ${what} ${range.minExclusive ? '>' : '>='} ${min}`;
  }
  if (max !== undefined) return `${article} ${what} ${range.maxExclusive ? '<' : '<='} ${max}`;
  return range.integer ? 'an integer' : 'a finite number';
}

export function isInRange(value: number, range: NumberRange): boolean {
  if (!Number.isFinite(value)) return false;
  if (range.integer && !Number.isSafeInteger(value)) return false;
  if (range.min !== undefined && (range.minExclusive ? value <= range.min : value < range.min)) return false;
  if (range.max !== undefined && (range.maxExclusive ? value >= range.max : value > range.max)) return false;
  return true;
}

/** How a rejected value is shown: numbers as JavaScript prints them (NaN, Infinity), the rest as JSON. */
function shown(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return typeof value;
  }
}

/** `value` when it is a number in `range`; a TypeError naming the option and its range otherwise. */
export function checkNumber(value: unknown, option: string, range: NumberRange): number {
  if (typeof value !== 'number' || !isInRange(value, range)) {
    throw new TypeError(`option '${option}' must be ${describeRange(range)}, got ${shown(value)}`);
  }
  return value;
}

/** checkNumber, or `fallback` when the option was left out. */
export function numberOr(value: unknown, option: string, range: NumberRange, fallback: number): number {
  return value === undefined ? fallback : checkNumber(value, option, range);
}
