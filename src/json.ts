import { ValidationError } from './errors.js';
import { describe, wellFormed } from './validate.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * `T` when every part of it survives JSON unchanged, as a type: interfaces are
 * welcome (they need no index signature). A part that would not (a function, a
 * Date, a bigint) becomes `never`, so the compiler points at it.
 */
export type JsonSafe<T> = [T] extends [JsonValue]
  ? T
  : T extends string | number | boolean | null
    ? T
    : T extends (...args: never[]) => unknown
      ? never
      : T extends object
        ? { [K in keyof T]: JsonSafe<T[K]> }
        : never;

/** Intersected with a definition: adds nothing when `Args` is JSON, and asks for JSON args when it is not. */
export type JsonArgsCheck<Args> = [Args] extends [JsonSafe<Args> | undefined] ? unknown : { args: JsonSafe<Args> };

/** Arguments and event payloads are stored as JSON text; this bounds the text. */
export const MAX_JSON_BYTES = 1024 * 1024;

/**
 * Serializes a value that must round-trip through JSON unchanged, refusing what
 * JSON would silently drop or alter (undefined, functions, NaN, Dates, cycles…)
 * and naming the path to the offending part.
 */
export function toJson(value: unknown, field: string): string {
  assertJson(value, field, new Set());
  const text = JSON.stringify(value);
  if (Buffer.byteLength(text) > MAX_JSON_BYTES) {
    throw new ValidationError(field, `must be at most ${MAX_JSON_BYTES} bytes as JSON`);
  }
  return text;
}

function assertJson(value: unknown, path: string, seen: Set<object>): void {
  if (typeof value === 'string') {
    wellFormed(value, path);
    return;
  }
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(path, `must be JSON: ${value} is not a JSON number`);
    return;
  }
  if (typeof value !== 'object') throw new ValidationError(path, `must be JSON, got ${describe(value)}`);
  if (seen.has(value)) throw new ValidationError(path, 'must be JSON, but it refers to itself');
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertJson(item, `${path}[${i}]`, seen));
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new ValidationError(
        path,
        `must be JSON, got ${describe(value)} (${proto?.constructor?.name ?? 'unknown'})`,
      );
    }
    for (const [key, item] of Object.entries(value)) {
      wellFormed(key, `${path}.${key}`);
      assertJson(item, `${path}.${key}`, seen);
    }
  }
  seen.delete(value);
}

export function parseJson(text: string | null): JsonValue | null {
  return text === null ? null : (JSON.parse(text) as JsonValue);
}
