/**
 * Test assertions on top of node:assert (JSR's @std/assert is out of reach):
 * deep equality that compares Uint8Arrays byte for byte, and throw/reject
 * helpers that hand back the error so tests can assert its code and message.
 * @module
 */
import assert from "node:assert/strict";

/** Deep, strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assert.deepStrictEqual(actual, expected, message);
}

/** Asserts a truthy value. */
export function assertOk(value: unknown, message?: string): asserts value {
  assert.ok(value, message);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E> = new (...args: any[]) => E;

/** Runs `fn`, expects it to throw an instance of `cls`, returns the error. */
export function assertThrows<E extends Error>(fn: () => unknown, cls: ErrorClass<E>): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new assert.AssertionError({ message: `expected ${cls.name}, got ${e}`, actual: e });
  }
  throw new assert.AssertionError({ message: `expected ${cls.name}, nothing was thrown` });
}

/** Awaits `fn`, expects it to reject with an instance of `cls`, returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: ErrorClass<E>,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw new assert.AssertionError({ message: `expected ${cls.name}, got ${e}`, actual: e });
  }
  throw new assert.AssertionError({ message: `expected ${cls.name}, nothing was rejected` });
}
