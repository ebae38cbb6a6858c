/**
 * The flow table's classifier: its entries grouped by mask into subtables, each a hash map from the
 * masked words to the entries with those words, best first (tuple-space search; flow-table.ts's opening
 * comment describes the search, the cache in front of it and the tie rule). This file holds the
 * structures and the word arithmetic; flow-table.ts decides what goes in and out of them (flow-mod
 * semantics, timeouts) and in which order subtables are searched.
 *
 * May import: openflow/ (types) and flow-table.ts's entry types. Must not import other switch files.
 */
import type { Instruction, Match } from '../openflow/index.js';
import type { FlowEntry } from './flow-table.js';

// Word arithmetic: `a & b` on Uint32Array elements yields a signed int32, while the elements read back
// unsigned, so a masked word is never compared with a stored one directly; comparisons are written as
// `((a ^ b) & m) !== 0` and `(m & ~n) !== 0`, which hold whatever the sign.

// ---- hashing ------------------------------------------------------------------------------------

/** One round of a 32-bit multiplicative mix (murmur3's block step). */
function mix(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Final avalanche, cut to 30 bits so Map keys stay small integers (no heap numbers). */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x3fffffff;
}

/**
 * Hash of the words at indices `idx`, each ANDed with its mask word `mwords[j]` (a subtable's). For a
 * compiled value the mask changes nothing, so a key and the entries it matches hash alike.
 */
export function hashMasked(words: Uint32Array, idx: readonly number[], mwords: readonly number[]): number {
  let h = idx.length;
  for (let j = 0; j < idx.length; j++) h = mix(h, words[idx[j]!]! & mwords[j]!);
  return finish(h);
}

export function hashFull(key: Uint32Array, n: number): number {
  let h = n;
  for (let i = 0; i < n; i++) h = mix(h, key[i]!);
  return finish(h);
}

// ---- entries and subtables ----------------------------------------------------------------------

/** The table's own view of an entry: the public fields plus its place in the table's structures. */
export class Flow implements FlowEntry {
  last_used: number;
  packet_count = 0;
  byte_count = 0;
  /** False once removed from the table (deleted, replaced or expired). */
  live = true;
  /** Whether a heap item for this entry is queued, and the time it is queued for. */
  inHeap = false;
  expireAt = Infinity;
  /**
   * The value's words at the subtable's word indices, as a plain array: the lookup compares against this
   * rather than `value`, whose 80-odd bytes live outside the JS heap, one pointer hop further away.
   */
  readonly packed: number[];

  constructor(
    readonly table_id: number,
    readonly seq: number,
    readonly sub: Subtable,
    readonly hash: number,
    readonly priority: number,
    readonly value: Uint32Array,
    readonly mask: Uint32Array,
    readonly match: Match,
    readonly cookie: bigint,
    readonly idle_timeout: number,
    readonly hard_timeout: number,
    readonly flags: number,
    public instructions: readonly Instruction[],
    readonly install_time: number,
  ) {
    this.last_used = install_time;
    this.packed = sub.idx.map((i) => value[i]!);
  }

  /** Whether key matches this entry on the subtable's words (the only ones its mask has bits in). */
  matches(key: Uint32Array): boolean {
    const { idx, mwords } = this.sub;
    const packed = this.packed;
    for (let j = 0; j < idx.length; j++) {
      if (((key[idx[j]!]! ^ packed[j]!) & mwords[j]!) !== 0) return false;
    }
    return true;
  }
}

/**
 * Entries with that hash: the entry itself when it is alone (the usual case, one hop less), else a list
 * kept best first (priority desc, then seq asc).
 */
type Bucket = Flow | Flow[];

/** Entries sharing one mask, hashed by their value on the words the mask touches. */
export class Subtable {
  /** Indices of the words the mask is non-zero in, and the mask's words there. */
  readonly idx: number[] = [];
  readonly mwords: number[] = [];
  /** Hash of the masked words → the entries with that hash. */
  readonly buckets = new Map<number, Bucket>();
  /** How many entries of each priority: keeps maxPriority right as entries leave. */
  private readonly priorities = new Map<number, number>();
  count = 0;
  maxPriority = -1;

  constructor(
    readonly mask: Uint32Array,
    readonly key: string,
  ) {
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] !== 0) {
        this.idx.push(i);
        this.mwords.push(mask[i]!);
      }
    }
  }

  /** The best entry of this subtable matching key, if any. */
  find(key: Uint32Array): Flow | undefined {
    const bucket = this.buckets.get(hashMasked(key, this.idx, this.mwords));
    if (bucket === undefined) return undefined;
    if (bucket instanceof Flow) return bucket.matches(key) ? bucket : undefined;
    for (let b = 0; b < bucket.length; b++) {
      const f = bucket[b]!;
      if (f.matches(key)) return f;
    }
    return undefined;
  }

  /** Entries whose value equals `value` (already masked by this subtable's mask). */
  *withValue(value: Uint32Array): Generator<Flow> {
    const bucket = this.buckets.get(hashMasked(value, this.idx, this.mwords));
    if (bucket === undefined) return;
    for (const f of bucket instanceof Flow ? [bucket] : bucket) if (sameWords(f.value, value, this.idx)) yield f;
  }

  *all(): Generator<Flow> {
    for (const bucket of this.buckets.values()) {
      if (bucket instanceof Flow) yield bucket;
      else yield* bucket;
    }
  }

  hasPriority(p: number): boolean {
    return this.priorities.has(p);
  }

  /** Inserts f; returns whether maxPriority changed. */
  insert(f: Flow): boolean {
    const bucket = this.buckets.get(f.hash);
    if (bucket === undefined) {
      this.buckets.set(f.hash, f);
    } else if (bucket instanceof Flow) {
      this.buckets.set(f.hash, before(f, bucket) ? [f, bucket] : [bucket, f]);
    } else {
      let at = bucket.length;
      while (at > 0 && before(f, bucket[at - 1]!)) at--;
      bucket.splice(at, 0, f);
    }
    this.count++;
    this.priorities.set(f.priority, (this.priorities.get(f.priority) ?? 0) + 1);
    if (f.priority > this.maxPriority) {
      this.maxPriority = f.priority;
      return true;
    }
    return false;
  }

  /** Removes f; returns whether maxPriority changed. */
  remove(f: Flow): boolean {
    const bucket = this.buckets.get(f.hash);
    if (bucket === f) {
      this.buckets.delete(f.hash);
    } else {
      const at = Array.isArray(bucket) ? bucket.indexOf(f) : -1;
      if (!Array.isArray(bucket) || at < 0) throw new Error(`flow table: entry seq ${f.seq} is not in its subtable`);
      bucket.splice(at, 1);
      if (bucket.length === 1) this.buckets.set(f.hash, bucket[0]!);
    }
    this.count--;
    const n = (this.priorities.get(f.priority) ?? 0) - 1;
    if (n > 0) {
      this.priorities.set(f.priority, n);
      return false;
    }
    this.priorities.delete(f.priority);
    if (f.priority !== this.maxPriority) return false;
    let max = -1;
    for (const p of this.priorities.keys()) if (p > max) max = p;
    this.maxPriority = max;
    return true;
  }
}

/** Whether a is preferred to b: higher priority, then installed earlier. */
export function before(a: Flow, b: Flow): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
}

function sameWords(a: Uint32Array, b: Uint32Array, idx: readonly number[]): boolean {
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j]!;
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/** Whether every bit of `inner` is set in `outer`. */
export function maskCovers(outer: Uint32Array, inner: Uint32Array): boolean {
  for (let i = 0; i < inner.length; i++) if ((inner[i]! & ~outer[i]!) !== 0) return false;
  return true;
}

export function sameMask(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether one packet could match both (v1, m1) and (v2, m2): they agree wherever both masks care. */
export function overlaps(v1: Uint32Array, m1: Uint32Array, v2: Uint32Array, m2: Uint32Array): boolean {
  for (let i = 0; i < m1.length; i++) if (((v1[i]! ^ v2[i]!) & m1[i]! & m2[i]!) !== 0) return false;
  return true;
}

/** Whether entry f's match is the filter's (value fv, mask fm) or more specific. */
export function looseMatch(f: Flow, fv: Uint32Array, fm: Uint32Array): boolean {
  const m = f.mask;
  const v = f.value;
  for (let i = 0; i < fm.length; i++) {
    const c = fm[i]!;
    if ((c & ~m[i]!) !== 0 || ((v[i]! ^ fv[i]!) & c) !== 0) return false;
  }
  return true;
}

export function sameWordsN(a: Uint32Array, b: Uint32Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function maskKey(mask: Uint32Array): string {
  return mask.join(',');
}
