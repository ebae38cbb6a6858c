/**
 * Node ids: EdgeVPN's 128-bit ids as 32 lowercase hex digits. Lowercase only, so that sorting the text
 * sorts the numbers and every node orders the ring (topology, BoundedFlood's bounds) the same way.
 *
 * May import: nothing.
 */

export function isNodeId(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{32}$/.test(s);
}
