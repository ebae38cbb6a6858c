/** Loads Ryu's OF1.3 golden vectors from ../shared/ryu-of13 (never copied into the repo). */
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Json, parseJson } from '../../openflow/index.js';

export const VECTOR_DIR = resolve(process.cwd(), '../shared/ryu-of13');

export interface Vector {
  readonly name: string;
  readonly bytes: Buffer;
  readonly json: Json;
}

export function loadVectors(): Vector[] {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.packet'))
    .sort()
    .map((f) => ({
      name: f.replace(/\.packet$/, ''),
      bytes: readFileSync(resolve(VECTOR_DIR, f)),
      json: parseJson(readFileSync(resolve(VECTOR_DIR, `${f}.json`), 'utf8')),
    }));
}

/**
 * A copy of j without the keys that hold computed lengths. An OFPOxmId's length is not one: it is the
 * OXM header's length byte as listed in a table-features property (ovs-ofctl writes 0 there).
 */
export function stripLengths(j: Json): Json {
  if (Array.isArray(j)) return j.map(stripLengths);
  if (j !== null && typeof j === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(j as Record<string, Json>)) {
      if (k === 'OFPOxmId') {
        out[k] = v;
        continue;
      }
      if (k === 'len' || k === 'length' || k === 'actions_len' || k === 'match_len') continue;
      out[k] = stripLengths(v);
    }
    return out;
  }
  return j;
}

/** First differing byte offset, or -1. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
