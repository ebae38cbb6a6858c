/** Byte comparisons for tests whose failure should say where two encodings part. */
import { expect } from 'vitest';

/** Hex of both, prefixed by the first differing byte offset, so a failure says where. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): void {
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const at = i === actual.length && i === expected.length ? 'equal' : `first difference at byte ${i}`;
  expect(`${at}: ${Buffer.from(actual).toString('hex')}`).toBe(`equal: ${Buffer.from(expected).toString('hex')}`);
}
