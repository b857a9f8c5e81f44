import { ValidationError } from './errors.js';

/** The largest wait a Node timer accepts; longer timeouts and delays are refused. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function integerIn(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ValidationError(field, `must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) {
    throw new ValidationError(field, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export function nonEmptyString(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError(field, `must be a non-empty string, got ${describe(value)}`);
  }
  if (value.length > maxLength) {
    throw new ValidationError(field, `must be at most ${maxLength} characters, got ${value.length}`);
  }
  return storableText(value, field);
}

/** A lone UTF-16 surrogate cannot be stored as UTF-8, so it could not come back as it went in. */
export function wellFormed(value: string, field: string): string {
  if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) {
    throw new ValidationError(field, 'must be well-formed Unicode (it holds a lone surrogate)');
  }
  return value;
}

/**
 * Text stored in a column of its own: well-formed, and without NUL, which a
 * PostgreSQL text column cannot hold. Both stores refuse it alike. (Inside JSON,
 * in args, payloads and results, NUL is escaped and round-trips.)
 */
export function storableText(value: string, field: string): string {
  if (value.includes('\u0000')) throw new ValidationError(field, 'must not contain a NUL character (U+0000)');
  return wellFormed(value, field);
}

export function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new ValidationError(
      field,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value instanceof Date) return 'a Date';
  if (Array.isArray(value)) return 'an array';
  if (value === null || typeof value !== 'object') return String(value);
  return 'an object';
}
