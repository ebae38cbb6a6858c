/**
 * The flow table (switch/flow-table.ts, classifier.ts, flow-messages.ts):
 *  - a seeded random run checks lookup() (cached), classify() (uncached tuple-space search) and a linear
 *    scan over an independent model agree on every key, with adds, replacements, modifies, deletes,
 *    hits and expirations interleaved, and keys re-used across changes so a stale cache would show;
 *  - 100,000 flows: lookups against an independent string-keyed oracle, then deletes and expiry;
 *  - every flow-mod rule of OF1.3 6.4 as table-driven cases; timeouts on an injected clock;
 *  - counters, stats helpers, and flow-removed / flow-stats bodies that the codec encodes.
 */
import { describe, expect, it } from 'vitest';
import {
  type Action,
  type Instruction,
  OFPET,
  OFPFF,
  OFPFMFC,
  OFPG,
  OFPP,
  OFPRR,
  decode,
  encode,
} from '../../openflow/index.js';
import { OFPError } from '../../switch/errors.js';
import { aggregateStats, flowDuration, flowRemoved, flowStats } from '../../switch/flow-messages.js';
import { type FlowEntry, type FlowFilter, type FlowSpec, FlowTable, outputsTo, usesGroup } from '../../switch/flow-table.js';

// ---- helpers ------------------------------------------------------------------------------------

/** xorshift32: small, seeded, deterministic. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed | 0 || 0x2545f491;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }
  pick<T>(xs: readonly T[]): T {
    const x = xs[this.int(xs.length)];
    if (x === undefined) throw new Error('pick from an empty list');
    return x;
  }
}

const ALL = 0xffffffff;
const ALL_COOKIE = 0xffff_ffff_ffff_ffffn;

function apply(...actions: Action[]): Instruction {
  return { kind: 'OFPInstructionActions', type: 4, actions };
}
function write(...actions: Action[]): Instruction {
  return { kind: 'OFPInstructionActions', type: 3, actions };
}
function output(port: number): Action {
  return { kind: 'OFPActionOutput', port, max_len: 0xffe5 };
}
function group(group_id: number): Action {
  return { kind: 'OFPActionGroup', group_id };
}
const CLEAR: Instruction = { kind: 'OFPInstructionActions', type: 5, actions: [] };
const GOTO1: Instruction = { kind: 'OFPInstructionGotoTable', table_id: 1 };

/** A match written as [word, value, mask?] triples (mask defaults to all ones). */
type Fields = readonly (readonly [number, number, number?])[];

function compile(words: number, fields: Fields): { value: Uint32Array; mask: Uint32Array } {
  const value = new Uint32Array(words);
  const mask = new Uint32Array(words);
  for (const [w, v, m = ALL] of fields) {
    mask[w] = m;
    value[w] = v & m;
  }
  return { value, mask };
}

interface F {
  readonly m?: Fields;
  readonly p?: number;
  readonly cookie?: bigint;
  readonly ins?: readonly Instruction[];
  readonly flags?: number;
  readonly idle?: number;
  readonly hard?: number;
}

function spec(words: number, f: F): FlowSpec {
  return {
    ...compile(words, f.m ?? []),
    priority: f.p ?? 0,
    match: [],
    cookie: f.cookie ?? 0n,
    idle_timeout: f.idle ?? 0,
    hard_timeout: f.hard ?? 0,
    flags: f.flags ?? 0,
    instructions: f.ins ?? [],
  };
}

interface Q {
  readonly m?: Fields;
  readonly p?: number;
  readonly cookie?: bigint;
  readonly cookieMask?: bigint;
}

function filter(words: number, q: Q): FlowFilter {
  return { ...compile(words, q.m ?? []), priority: q.p ?? 0, cookie: q.cookie ?? 0n, cookieMask: q.cookieMask ?? 0n };
}

function keyOf(words: number, fields: readonly (readonly [number, number])[]): Uint32Array {
  const k = new Uint32Array(words);
  for (const [w, v] of fields) k[w] = v;
  return k;
}

function errorCode(fn: () => unknown): number | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof OFPError) {
      expect(e.errType).toBe(OFPET.FLOW_MOD_FAILED);
      return e.code;
    }
    throw e;
  }
}

// ---- randomized equivalence with a model ---------------------------------------------------------

/** The model: a list in install order, scanned linearly. Written from the spec, sharing no code with the table. */
interface ModelFlow {
  readonly id: bigint;
  readonly value: Uint32Array;
  readonly mask: Uint32Array;
  readonly priority: number;
  readonly idle: number;
  readonly hard: number;
  readonly installed: number;
  lastUsed: number;
  packets: number;
  port: number;
}

class Model {
  flows: ModelFlow[] = [];

  lookup(key: Uint32Array): ModelFlow | undefined {
    let best: ModelFlow | undefined;
    for (const f of this.flows) {
      let ok = true;
      for (let i = 0; i < f.mask.length; i++) {
        if ((((key[i] ?? 0) & f.mask[i]!) >>> 0) !== f.value[i]) {
          ok = false;
          break;
        }
      }
      // Install order: the first of equal priority stays.
      if (ok && (best === undefined || f.priority > best.priority)) best = f;
    }
    return best;
  }

  add(f: ModelFlow, reset: boolean): void {
    const at = this.flows.findIndex((g) => g.priority === f.priority && eq(g.mask, f.mask) && eq(g.value, f.value));
    if (at >= 0) {
      const old = this.flows[at]!;
      if (!reset) f.packets = old.packets;
      this.flows.splice(at, 1);
    }
    this.flows.push(f);
  }

  select(q: FlowFilter, strict: boolean, outPort: number): ModelFlow[] {
    return this.flows.filter((f) => {
      if (q.cookieMask !== 0n && (f.id & q.cookieMask) !== (q.cookie & q.cookieMask)) return false;
      if (outPort !== OFPP.ANY && f.port !== outPort) return false;
      if (strict) return f.priority === q.priority && eq(f.mask, q.mask) && eq(f.value, q.value);
      for (let i = 0; i < q.mask.length; i++) {
        const c = q.mask[i]!;
        if ((f.mask[i]! & c) >>> 0 !== c || (f.value[i]! & c) >>> 0 !== (q.value[i]! & c) >>> 0) return false;
      }
      return true;
    });
  }

  remove(gone: readonly ModelFlow[]): void {
    const s = new Set(gone);
    this.flows = this.flows.filter((f) => !s.has(f));
  }

  expire(now: number): { id: bigint; reason: number }[] {
    const due: { f: ModelFlow; reason: number; at: number; order: number }[] = [];
    this.flows.forEach((f, order) => {
      const hardAt = f.hard > 0 ? f.installed + f.hard * 1000 : Infinity;
      const idleAt = f.idle > 0 ? f.lastUsed + f.idle * 1000 : Infinity;
      if (Math.min(hardAt, idleAt) <= now) {
        const idle = idleAt < hardAt;
        due.push({ f, reason: idle ? OFPRR.IDLE_TIMEOUT : OFPRR.HARD_TIMEOUT, at: idle ? idleAt : hardAt, order });
      }
    });
    due.sort((a, b) => a.at - b.at || a.order - b.order);
    this.remove(due.map((d) => d.f));
    return due.map((d) => ({ id: d.f.id, reason: d.reason }));
  }
}

function eq(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const WORDS = 20;
/** Words 16..19 are never in any mask (fields no flow matches on). */
const LIVE_WORDS = 16;
const WORD_MASKS = [ALL, ALL, ALL, 0xffffff00, 0xffff0000, 0x80000000, 0x000000ff, 0x0f0f0f0f];
const ALPHABET = [0, 1, 2, 0xffffffff, 0x80000000, 0x0a000001, 0x0a0000ff, 0x0a0001ff];

function randomMaskPalette(rng: Rng, n: number): Uint32Array[] {
  const out: Uint32Array[] = [new Uint32Array(WORDS)];
  for (let k = 1; k < n; k++) {
    const m = new Uint32Array(WORDS);
    for (let i = 0; i < LIVE_WORDS; i++) if (rng.chance(0.25)) m[i] = rng.pick(WORD_MASKS);
    out.push(m);
  }
  return out;
}

function randomWord(rng: Rng): number {
  return rng.chance(0.85) ? rng.pick(ALPHABET) : rng.u32();
}

describe('lookup equals a linear scan (seeded random tables and operations)', () => {
  it.each([1, 2, 3, 4])('seed %i: adds, replaces, modifies, deletes, hits and expiry interleaved', (seed) => {
    const rng = new Rng(0x5eed0000 + seed);
    const masks = randomMaskPalette(rng, 12);
    const table = new FlowTable({ tableId: 0, words: WORDS, maxEntries: 1_000_000 });
    const model = new Model();
    const pool: Uint32Array[] = [];
    let now = 1_000;
    let nextId = 1n;
    let keysChecked = 0;
    let added = 0;
    let expired = 0;
    let deleted = 0;
    let modified = 0;

    const randomFlowValue = (mask: Uint32Array): Uint32Array => {
      const v = new Uint32Array(WORDS);
      for (let i = 0; i < WORDS; i++) v[i] = randomWord(rng) & mask[i]!;
      return v;
    };
    const randomKey = (): Uint32Array => {
      const r = rng.u32() % 10;
      if (r < 5 && model.flows.length > 0) {
        const f = rng.pick(model.flows);
        const k = new Uint32Array(WORDS);
        for (let i = 0; i < WORDS; i++) k[i] = f.value[i]! | (randomWord(rng) & ~f.mask[i]!);
        return k;
      }
      if (r < 8 || pool.length === 0) {
        const k = new Uint32Array(WORDS);
        for (let i = 0; i < WORDS; i++) k[i] = randomWord(rng);
        return k;
      }
      return rng.pick(pool);
    };
    const randomFilter = (): { q: FlowFilter; strict: boolean } => {
      const strict = rng.chance(0.3) && model.flows.length > 0;
      let value: Uint32Array;
      let mask: Uint32Array;
      let priority = rng.int(5);
      if (model.flows.length > 0 && rng.chance(0.8)) {
        // Start from an existing entry; a non-strict filter keeps a random part of its mask.
        const f = rng.pick(model.flows);
        mask = Uint32Array.from(f.mask);
        if (!strict) for (let i = 0; i < WORDS; i++) if (rng.chance(0.5)) mask[i] = mask[i]! & rng.pick([0, 0xffff0000, 0x80000000]);
        value = new Uint32Array(WORDS);
        for (let i = 0; i < WORDS; i++) value[i] = f.value[i]! & mask[i]!;
        priority = f.priority;
      } else {
        mask = rng.pick(masks);
        value = randomFlowValue(mask);
      }
      const cookieMask = rng.chance(0.2) ? BigInt(rng.pick([1, 2, 3])) : 0n;
      return { q: { value, mask, priority, cookie: BigInt(rng.int(4)), cookieMask }, strict };
    };

    const check = (key: Uint32Array): void => {
      const want = model.lookup(key);
      const uncached = table.classify(key);
      const first = table.lookup(key);
      const second = table.lookup(key); // served by the cache the first call filled
      keysChecked++;
      expect(uncached?.cookie, 'classify').toBe(want?.id);
      expect(first?.cookie, 'lookup').toBe(want?.id);
      expect(second?.cookie, 'lookup, cache warm').toBe(want?.id);
      if (first !== undefined && want !== undefined) {
        table.hit(first, 100, now);
        want.lastUsed = now;
        want.packets++;
      }
      if (pool.length < 64) pool.push(key);
      else pool[rng.int(64)] = key;
    };

    for (let round = 0; round < 600; round++) {
      now += rng.int(400);
      const op = rng.int(100);
      if (op < 55) {
        // ADD, sometimes re-adding an existing match and priority (replace).
        let value: Uint32Array;
        let mask: Uint32Array;
        let priority: number;
        if (model.flows.length > 0 && rng.chance(0.15)) {
          const f = rng.pick(model.flows);
          value = Uint32Array.from(f.value);
          mask = Uint32Array.from(f.mask);
          priority = f.priority;
        } else {
          mask = rng.pick(masks);
          value = randomFlowValue(mask);
          priority = rng.chance(0.9) ? rng.int(5) : rng.int(65536);
        }
        const id = nextId++;
        const port = 1 + rng.int(4);
        const idle = rng.pick([0, 0, 0, 1, 2, 5]);
        const hard = rng.pick([0, 0, 0, 3, 10]);
        const reset = rng.chance(0.3);
        table.add(
          {
            value,
            mask,
            priority,
            match: [],
            cookie: id,
            idle_timeout: idle,
            hard_timeout: hard,
            flags: reset ? OFPFF.RESET_COUNTS : 0,
            instructions: [apply(output(port))],
          },
          now,
        );
        model.add({ id, value, mask, priority, idle, hard, installed: now, lastUsed: now, packets: 0, port }, reset);
        added++;
      } else if (op < 65) {
        const { q, strict } = randomFilter();
        const port = 10 + rng.int(4);
        const got = table.modify(q, strict, [apply(output(port))], 0, now);
        const want = model.select(q, strict, OFPP.ANY);
        expect(got.map((e) => e.cookie)).toEqual(want.map((f) => f.id));
        for (const f of want) f.port = port;
        modified += got.length;
      } else if (op < 75) {
        const { q, strict } = randomFilter();
        const outPort = rng.chance(0.3) ? 1 + rng.int(4) : OFPP.ANY;
        const got = table.delete(q, strict, outPort, OFPG.ANY);
        const want = model.select(q, strict, outPort);
        expect(got.map((e) => e.cookie)).toEqual(want.map((f) => f.id));
        model.remove(want);
        deleted += got.length;
      } else if (op < 85) {
        const got = table.expire(now);
        const want = model.expire(now);
        expect(got.map((x) => ({ id: x.entry.cookie, reason: x.reason }))).toEqual(want);
        expired += got.length;
      }
      for (let k = 0; k < 12; k++) check(randomKey());
      if (round % 50 === 0) {
        expect([...table.entries()].map((e) => e.cookie)).toEqual(model.flows.map((f) => f.id));
        expect([...table.entries()].map((e) => e.packet_count)).toEqual(model.flows.map((f) => f.packets));
        expect(table.activeCount).toBe(model.flows.length);
      }
    }
    // The run must have exercised what it claims to.
    expect(keysChecked).toBe(600 * 12);
    expect(added).toBeGreaterThan(250);
    expect(expired).toBeGreaterThan(10);
    expect(deleted).toBeGreaterThan(10);
    expect(modified).toBeGreaterThan(10);
    expect(table.subtableCount).toBeGreaterThan(3);
    expect(table.lookupCount).toBe(2 * keysChecked);
  });

  it('the cache is filled by lookups and emptied by every kind of change', () => {
    const t = new FlowTable({ tableId: 0, words: 2, maxEntries: 10 });
    const k = keyOf(2, [[0, 7]]);
    const low = t.add(spec(2, { m: [], p: 0, ins: [apply(output(1))], hard: 5 }), 0);
    expect(t.lookup(k)).toBe(low);
    expect(t.cachedKeys).toBe(1);
    const high = t.add(spec(2, { m: [[0, 7]], p: 9, ins: [apply(output(2))] }), 0);
    expect(t.cachedKeys).toBe(0);
    expect(t.lookup(k)).toBe(high);
    t.modify(filter(2, { m: [[0, 7]] }), false, [apply(output(3))], 0);
    expect(t.cachedKeys).toBe(0);
    expect(t.lookup(k)).toBe(high);
    expect(outputsTo(high.instructions, 3)).toBe(true);
    t.delete(filter(2, { m: [[0, 7]] }), false);
    expect(t.cachedKeys).toBe(0);
    expect(t.lookup(k)).toBe(low);
    expect(t.cachedKeys).toBe(1);
    expect(t.expire(5000)).toHaveLength(1);
    expect(t.cachedKeys).toBe(0);
    expect(t.lookup(k)).toBeUndefined();
  });

  it('a change that selects nothing leaves the cache alone; hits never clear it', () => {
    const t = new FlowTable({ tableId: 0, words: 2, maxEntries: 10 });
    const e = t.add(spec(2, { m: [[0, 1]], p: 1 }), 0);
    t.lookup(keyOf(2, [[0, 1]]));
    t.hit(e, 60, 1);
    t.delete(filter(2, { m: [[0, 2]] }), false);
    t.modify(filter(2, { m: [[0, 2]] }), false, [], 0);
    expect(t.expire(1e9)).toEqual([]);
    expect(t.cachedKeys).toBe(1);
  });

  it('the cache stays within its bound and colliding keys never share a result', () => {
    // One word, two flows by parity. 200,001 distinct keys all fit in the cache, so the second pass is
    // served from it; the 30-bit cache hash must collide for some of them (the count shows it), and a
    // collision answered with the other key's parity would fail here.
    const t = new FlowTable({ tableId: 0, words: 1, maxEntries: 10, cacheSize: 1 << 18 });
    const even = t.add(spec(1, { m: [[0, 0, 1]], p: 1 }), 0);
    const odd = t.add(spec(1, { m: [[0, 1, 1]], p: 1 }), 0);
    const k = new Uint32Array(1);
    const N = 200_000;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i <= N; i++) {
        k[0] = Math.imul(i, 0x9e3779b1) >>> 0;
        const want = (k[0] & 1) === 0 ? even : odd;
        if (t.lookup(k) !== want) expect.fail(`key ${k[0]} (pass ${pass})`);
      }
    }
    expect(t.cachedKeys).toBeLessThan(N + 1);
    expect(t.cachedKeys).toBeGreaterThan(N - 1000);

    const small = new FlowTable({ tableId: 0, words: 1, maxEntries: 10, cacheSize: 8 });
    const e2 = small.add(spec(1, { m: [[0, 0, 1]], p: 1 }), 0);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) {
        k[0] = i;
        expect(small.lookup(k)).toBe(i % 2 === 0 ? e2 : undefined);
        expect(small.cachedKeys).toBeLessThanOrEqual(8);
      }
    }
    const off = new FlowTable({ tableId: 0, words: 1, maxEntries: 10, cacheSize: 0 });
    const e3 = off.add(spec(1, {}), 0);
    expect(off.lookup(k)).toBe(e3);
    expect(off.cachedKeys).toBe(0);
  });

  it('equal priorities: the entry installed first wins, and an ADD that replaces is a new install', () => {
    const t = new FlowTable({ tableId: 0, words: 2, maxEntries: 10 });
    const k = keyOf(2, [
      [0, 1],
      [1, 2],
    ]);
    const a = t.add(spec(2, { m: [[0, 1]], p: 5, cookie: 1n }), 0);
    const b = t.add(spec(2, { m: [[1, 2]], p: 5, cookie: 2n }), 0);
    const c = t.add(spec(2, { m: [[0, 1], [1, 2]], p: 5, cookie: 3n }), 0);
    expect(t.lookup(k)).toBe(a);
    const a2 = t.add(spec(2, { m: [[0, 1]], p: 5, cookie: 4n }), 1);
    expect(a2).not.toBe(a);
    expect(t.lookup(k)).toBe(b);
    t.delete(filter(2, { m: [[1, 2]], p: 5 }), true);
    expect(t.lookup(k)).toBe(c);
  });

  it('the search stops once no subtable left can beat the best entry found', () => {
    // Ten masks; priorities rise with the mask number, and mask 9 holds a catch-all on word 9's top bit.
    const t = new FlowTable({ tableId: 0, words: 10, maxEntries: 100, cacheSize: 0 });
    for (let m = 0; m < 9; m++) t.add(spec(10, { m: [[m, 1]], p: m }), 0);
    const top = t.add(spec(10, { m: [[9, 0, 0x80000000]], p: 50 }), 0);
    const wide = t.add(spec(10, { m: [[9, 0x80000000, 0x80000000]], p: 50 }), 0);
    expect(t.subtableCount).toBe(10);
    const k = keyOf(10, [[0, 1], [1, 1], [8, 1]]);
    expect(t.lookup(k)).toBe(top);
    expect(t.probeCount).toBe(1);
    k[9] = 0x80000000;
    expect(t.lookup(k)).toBe(wide);
    expect(t.probeCount).toBe(2);
    // The highest-priority subtable misses: the rest are searched in priority order until one matches.
    t.delete(filter(10, { m: [[9, 0, 0x80000000]] }), false);
    k[9] = 0;
    t.probeCount = 0;
    expect(t.lookup(k)?.priority).toBe(8);
    expect(t.probeCount).toBe(2); // mask 9 (miss), then mask 8 (p 8); nothing below can beat 8
  });

  it('rejects keys and matches of the wrong length', () => {
    const t = new FlowTable({ tableId: 0, words: 4, maxEntries: 10 });
    expect(() => t.lookup(new Uint32Array(3))).toThrow(RangeError);
    expect(() => t.classify(new Uint32Array(3))).toThrow(RangeError);
    expect(() => t.add(spec(3, {}), 0)).toThrow(RangeError);
    expect(() => t.delete(filter(5, {}), false)).toThrow(RangeError);
    expect(t.lookup(new Uint32Array(6))).toBeUndefined(); // longer keys: the extra words are ignored
  });
});

// ---- 100,000 flows ------------------------------------------------------------------------------

describe('100,000 flows', () => {
  /** Four masks, as a switch might see: L2 exact, L3 prefix, a 5-tuple, and a table-miss entry. */
  const W = 20;
  const MASKS: readonly Fields[] = [
    [[0, 0], [1, 0], [2, 0]],
    [[0, 0], [5, 0], [8, 0, 0xffffff00]],
    [[8, 0], [9, 0], [10, 0], [11, 0]],
    [],
  ];

  function build(rng: Rng, n: number, now: number, timeouts: boolean): { table: FlowTable; specs: FlowSpec[] } {
    const table = new FlowTable({ tableId: 3, words: W, maxEntries: n + 1 });
    const specs: FlowSpec[] = [];
    table.add(spec(W, { p: 0, cookie: 0n }), now);
    for (let i = 1; i < n; i++) {
      const shape = rng.pick(MASKS.slice(0, 3));
      // Few values per word, so some keys match entries of several masks and priorities decide.
      const fields: Fields = shape.map(([w, , m]) => [w, rng.chance(0.3) ? rng.int(4) : rng.u32(), m ?? ALL] as const);
      const s: FlowSpec = {
        ...spec(W, { m: fields, p: 1 + rng.int(1000), cookie: BigInt(i), ins: [apply(output(1 + (i % 48)))] }),
        hard_timeout: timeouts ? 1 + (i % 60) : 0,
      };
      table.add(s, now);
      specs.push(s);
    }
    return { table, specs };
  }

  /** An oracle independent of the table: per mask, a Map from the masked words as text. */
  function oracle(table: FlowTable): (key: Uint32Array) => FlowEntry | undefined {
    const byMask = new Map<string, { mask: Uint32Array; flows: Map<string, FlowEntry[]> }>();
    for (const e of table.entries()) {
      const mk = Array.from(e.mask).join(',');
      let g = byMask.get(mk);
      if (g === undefined) {
        g = { mask: e.mask, flows: new Map() };
        byMask.set(mk, g);
      }
      const vk = Array.from(e.value).join(',');
      const list = g.flows.get(vk) ?? [];
      list.push(e);
      g.flows.set(vk, list);
    }
    return (key) => {
      let best: FlowEntry | undefined;
      for (const g of byMask.values()) {
        const vk = Array.from(key, (x, i) => (x & g.mask[i]!) >>> 0).join(',');
        for (const e of g.flows.get(vk) ?? []) {
          if (best === undefined || e.priority > best.priority || (e.priority === best.priority && e.seq < best.seq)) best = e;
        }
      }
      return best;
    };
  }

  function linear(table: FlowTable, key: Uint32Array): FlowEntry | undefined {
    let best: FlowEntry | undefined;
    outer: for (const e of table.entries()) {
      for (let i = 0; i < W; i++) if ((key[i]! & e.mask[i]!) >>> 0 !== e.value[i]) continue outer;
      if (best === undefined || e.priority > best.priority) best = e;
    }
    return best;
  }

  function keyNear(rng: Rng, s: FlowSpec): Uint32Array {
    const k = new Uint32Array(W);
    for (let i = 0; i < W; i++) k[i] = s.value[i]! | (rng.u32() & ~s.mask[i]!);
    return k;
  }

  it('lookups agree with an oracle and a linear scan; the search cost is the 4 masks', () => {
    const rng = new Rng(100_000);
    const { table, specs } = build(rng, 100_000, 0, false);
    expect(table.activeCount).toBeGreaterThan(99_000); // a few random duplicates replace each other
    expect(table.subtableCount).toBe(4);
    const want = oracle(table);
    for (let i = 0; i < 500; i++) {
      const k = keyNear(rng, rng.pick(specs));
      expect(table.lookup(k)).toBe(linear(table, k));
    }
    let matched = 0;
    for (let i = 0; i < 30_000; i++) {
      const k = i % 3 === 0 ? keyNear(rng, rng.pick(specs)) : Uint32Array.from({ length: W }, () => rng.int(5));
      const got = table.lookup(k);
      if (got !== want(k)) expect.fail(`key ${Array.from(k).join(',')}`);
      if (got !== undefined && got.priority > 0) matched++;
    }
    expect(matched).toBeGreaterThanOrEqual(10_000);

    // Delete half by cookie (strict, one at a time), then check again.
    for (let i = 1; i < 100_000; i += 2) {
      const s = specs[i - 1]!;
      table.delete({ value: s.value, mask: s.mask, priority: s.priority, cookie: s.cookie, cookieMask: ALL_COOKIE }, true);
    }
    expect(table.activeCount).toBeLessThan(51_000);
    const want2 = oracle(table);
    for (let i = 0; i < 10_000; i++) {
      const k = keyNear(rng, rng.pick(specs));
      if (table.lookup(k) !== want2(k)) expect.fail(`after deletes: key ${Array.from(k).join(',')}`);
    }
  });

  it('expire(now) each second removes exactly the entries due, and lookups stay right', () => {
    const rng = new Rng(7);
    const { table } = build(rng, 100_000, 0, true);
    const start = table.activeCount;
    let removed = 0;
    for (let s = 1; s <= 61; s++) {
      const now = s * 1000;
      const gone = table.expire(now);
      for (const g of gone) {
        expect(g.reason).toBe(OFPRR.HARD_TIMEOUT);
        expect(g.entry.hard_timeout).toBe(s);
      }
      removed += gone.length;
      for (const e of table.entries()) if (e.hard_timeout > 0 && e.hard_timeout <= s) expect.fail(`entry ${e.cookie} outlived ${s}s`);
      if (s % 20 === 0) {
        const want = oracle(table);
        for (let i = 0; i < 2000; i++) {
          const k = Uint32Array.from({ length: W }, () => rng.int(4));
          expect(table.lookup(k)).toBe(want(k));
        }
      }
    }
    expect(removed).toBe(start - 1);
    expect(table.activeCount).toBe(1); // the table-miss entry has no timeout
    expect(table.nextDeadline()).toBeUndefined();
  });
});

// ---- flow-mod semantics -------------------------------------------------------------------------

const W4 = 4;
const NOW0 = 10_000;
const NOW1 = 20_000;

interface AddCase {
  readonly name: string;
  readonly maxEntries?: number;
  readonly existing: readonly F[];
  /** Packets counted on each existing entry before the add. */
  readonly hits?: number;
  readonly add: F;
  readonly error?: number;
  /** Cookies in install order afterwards. */
  readonly cookies?: readonly bigint[];
  /** packet_count of the entry with the add's cookie afterwards. */
  readonly packets?: number;
}

const ADD_CASES: readonly AddCase[] = [
  { name: 'a new entry', existing: [], add: { m: [[0, 1]], p: 10, cookie: 1n }, cookies: [1n] },
  {
    name: 'identical match and priority: replaced, counters carried over',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    hits: 3,
    add: { m: [[0, 1]], p: 10, cookie: 2n },
    cookies: [2n],
    packets: 3,
  },
  {
    name: 'identical, with OFPFF_RESET_COUNTS: replaced, counters cleared',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    hits: 3,
    add: { m: [[0, 1]], p: 10, cookie: 2n, flags: OFPFF.RESET_COUNTS },
    cookies: [2n],
    packets: 0,
  },
  {
    name: 'identical match given with unmasked value bits: still identical',
    existing: [{ m: [[0, 0x0a000000, 0xff000000]], p: 10, cookie: 1n }],
    add: { m: [[0, 0x0a0b0c0d, 0xff000000]], p: 10, cookie: 2n },
    cookies: [2n],
  },
  {
    name: 'same match, other priority: a second entry',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    add: { m: [[0, 1]], p: 11, cookie: 2n },
    cookies: [1n, 2n],
    packets: 0,
  },
  {
    name: 'same priority, same value, other mask: a second entry',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    add: { m: [[0, 1, 0xff]], p: 10, cookie: 2n },
    cookies: [1n, 2n],
  },
  {
    name: 'CHECK_OVERLAP: identical entry overlaps',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    add: { m: [[0, 1]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    error: OFPFMFC.OVERLAP,
  },
  {
    name: 'CHECK_OVERLAP: a wider entry of the same priority overlaps',
    existing: [{ m: [], p: 10, cookie: 1n }],
    add: { m: [[0, 1]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    error: OFPFMFC.OVERLAP,
  },
  {
    name: 'CHECK_OVERLAP: a narrower entry of the same priority overlaps',
    existing: [{ m: [[0, 1], [1, 2]], p: 10, cookie: 1n }],
    add: { m: [[0, 1]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    error: OFPFMFC.OVERLAP,
  },
  {
    name: 'CHECK_OVERLAP: matches on different fields overlap',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    add: { m: [[1, 5]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    error: OFPFMFC.OVERLAP,
  },
  {
    name: 'CHECK_OVERLAP: prefixes that intersect overlap',
    existing: [{ m: [[2, 0x0a000000, 0xff000000]], p: 10, cookie: 1n }],
    add: { m: [[2, 0x0a010000, 0xffff0000]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    error: OFPFMFC.OVERLAP,
  },
  {
    name: 'CHECK_OVERLAP: disjoint prefixes do not overlap',
    existing: [{ m: [[2, 0x0a000000, 0xff000000]], p: 10, cookie: 1n }],
    add: { m: [[2, 0x0b010000, 0xffff0000]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    cookies: [1n, 2n],
  },
  {
    name: 'CHECK_OVERLAP: different values of the same field do not overlap',
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    add: { m: [[0, 2]], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    cookies: [1n, 2n],
  },
  {
    name: 'CHECK_OVERLAP: another priority never overlaps',
    existing: [{ m: [], p: 10, cookie: 1n }],
    add: { m: [[0, 1]], p: 11, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    cookies: [1n, 2n],
  },
  {
    name: 'without CHECK_OVERLAP, overlapping entries coexist',
    existing: [{ m: [], p: 10, cookie: 1n }],
    add: { m: [[0, 1]], p: 10, cookie: 2n },
    cookies: [1n, 2n],
  },
  {
    name: 'a full table refuses a new entry',
    maxEntries: 2,
    existing: [
      { m: [[0, 1]], p: 10, cookie: 1n },
      { m: [[0, 2]], p: 10, cookie: 2n },
    ],
    add: { m: [[0, 3]], p: 10, cookie: 3n },
    error: OFPFMFC.TABLE_FULL,
  },
  {
    name: 'a full table still takes a replacement',
    maxEntries: 2,
    existing: [
      { m: [[0, 1]], p: 10, cookie: 1n },
      { m: [[0, 2]], p: 10, cookie: 2n },
    ],
    add: { m: [[0, 2]], p: 10, cookie: 3n },
    cookies: [1n, 3n],
  },
  {
    name: 'overlap is checked before the table is full',
    maxEntries: 1,
    existing: [{ m: [[0, 1]], p: 10, cookie: 1n }],
    add: { m: [], p: 10, cookie: 2n, flags: OFPFF.CHECK_OVERLAP },
    error: OFPFMFC.OVERLAP,
  },
];

describe('OFPFC_ADD', () => {
  it.each(ADD_CASES)('$name', (c) => {
    const t = new FlowTable({ tableId: 1, words: W4, maxEntries: c.maxEntries ?? 100 });
    for (const f of c.existing) {
      const e = t.add(spec(W4, f), NOW0);
      if (c.hits !== undefined) t.hit(e, 100 * c.hits, NOW0 + 1, c.hits);
    }
    const before = [...t.entries()];
    const code = errorCode(() => t.add(spec(W4, c.add), NOW1));
    expect(code).toBe(c.error);
    if (c.error !== undefined) {
      expect([...t.entries()]).toEqual(before); // a failed add changes nothing
      return;
    }
    expect([...t.entries()].map((e) => e.cookie)).toEqual(c.cookies);
    const added = [...t.entries()].find((e) => e.cookie === c.add.cookie);
    expect(added?.install_time).toBe(NOW1); // a replacement starts a new duration
    expect(added?.last_used).toBe(NOW1);
    if (c.packets !== undefined) {
      expect(added?.packet_count).toBe(c.packets);
      expect(added?.byte_count).toBe(100 * c.packets);
    }
    expect(t.activeCount).toBe(c.cookies?.length);
  });

  it('a replaced entry is gone from lookups and its timers', () => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 10 });
    const old = t.add(spec(W4, { m: [[0, 1]], p: 1, hard: 1, cookie: 1n, flags: OFPFF.SEND_FLOW_REM }), 0);
    const neu = t.add(spec(W4, { m: [[0, 1]], p: 1, cookie: 2n }), 500);
    expect(t.lookup(keyOf(W4, [[0, 1]]))).toBe(neu);
    expect(t.expire(5000)).toEqual([]); // no flow-removed for a replaced entry, nor a late one
    expect([...t.entries()]).toEqual([neu]);
    expect(old.cookie).toBe(1n);
  });
});

/** The fixed table that the modify, delete and select cases run against. */
const FIXTURE: readonly F[] = [
  /* A */ { m: [[0, 1]], p: 10, cookie: 0x11n, ins: [apply(output(1))] },
  /* B */ { m: [[0, 1], [1, 2]], p: 20, cookie: 0x12n, ins: [apply(output(2), group(7)), GOTO1] },
  /* C */ { m: [[0, 2]], p: 10, cookie: 0x21n, ins: [write(output(1)), GOTO1] },
  /* D */ { m: [], p: 0, cookie: 0x22n, ins: [apply(output(OFPP.CONTROLLER)), write(group(8)), CLEAR] },
  /* E */ { m: [[0, 1, 0xffff0000]], p: 30, cookie: 0x31n, ins: [] },
];

function fixture(): { t: FlowTable; nameOf: (e: FlowEntry) => string } {
  const t = new FlowTable({ tableId: 2, words: W4, maxEntries: 100 });
  const names = new Map<FlowEntry, string>();
  FIXTURE.forEach((f, i) => {
    const e = t.add(spec(W4, f), NOW0);
    t.hit(e, 1000, NOW0 + 1, 10);
    names.set(e, 'ABCDE'[i]!);
  });
  return { t, nameOf: (e) => names.get(e) ?? '?' };
}

interface SelectCase {
  readonly name: string;
  readonly q: Q;
  readonly strict: boolean;
  /** Names of the selected entries, in install order. */
  readonly want: string;
}

/** Selection by match, priority and cookie: shared by MODIFY, DELETE and stats. */
const SELECT_CASES: readonly SelectCase[] = [
  { name: 'empty match, non-strict: every entry', q: {}, strict: false, want: 'ABCDE' },
  { name: 'non-strict: the entry and the more specific ones', q: { m: [[0, 1]] }, strict: false, want: 'AB' },
  { name: 'non-strict ignores priority', q: { m: [[0, 1]], p: 99 }, strict: false, want: 'AB' },
  { name: 'non-strict: less specific entries are not selected', q: { m: [[0, 1], [1, 2]] }, strict: false, want: 'B' },
  { name: 'non-strict: a filter more specific than any entry selects none', q: { m: [[0, 1], [1, 2], [2, 3]] }, strict: false, want: '' },
  { name: 'non-strict: masked filter bits', q: { m: [[0, 0, 0xfffffffe]] }, strict: false, want: 'AB' },
  { name: 'non-strict: a prefix filter takes entries inside it', q: { m: [[0, 0, 0xffff0000]] }, strict: false, want: 'ABCE' },
  { name: 'non-strict: no entry there', q: { m: [[3, 9]] }, strict: false, want: '' },
  { name: 'strict: identical match and priority', q: { m: [[0, 1]], p: 10 }, strict: true, want: 'A' },
  { name: 'strict: identical match, other priority', q: { m: [[0, 1]], p: 20 }, strict: true, want: '' },
  { name: 'strict: the empty match', q: { p: 0 }, strict: true, want: 'D' },
  { name: 'strict: the mask must be identical too', q: { m: [[0, 1, 0xffff0000]], p: 30 }, strict: true, want: 'E' },
  { name: 'strict: a value under a different mask is another match', q: { m: [[0, 1, 0xffffff00]], p: 30 }, strict: true, want: '' },
  { name: 'cookie mask selects by cookie bits', q: { cookie: 0x10n, cookieMask: 0xf0n }, strict: false, want: 'AB' },
  { name: 'cookie mask on the low bits', q: { cookie: 0x02n, cookieMask: 0x0fn }, strict: false, want: 'BD' },
  { name: 'a zero cookie mask selects any cookie', q: { cookie: 0x99n, cookieMask: 0n }, strict: false, want: 'ABCDE' },
  { name: 'cookie and match together', q: { m: [[0, 1]], cookie: 0x12n, cookieMask: ALL_COOKIE }, strict: false, want: 'B' },
  { name: 'strict with a cookie that differs', q: { m: [[0, 1]], p: 10, cookie: 0x12n, cookieMask: ALL_COOKIE }, strict: true, want: '' },
];

describe('OFPFC_MODIFY and OFPFC_MODIFY_STRICT', () => {
  it.each(SELECT_CASES)('$name', (c) => {
    const { t, nameOf } = fixture();
    const before = [...t.entries()].map((e) => ({ ...e }));
    const ins = [apply(output(42))];
    const got = t.modify(filter(W4, c.q), c.strict, ins, 0, NOW1);
    expect(got.map(nameOf).join('')).toBe(c.want);
    expect(t.activeCount).toBe(FIXTURE.length); // never adds (OF1.3), never removes
    [...t.entries()].forEach((e, i) => {
      const b = before[i]!;
      const changed = c.want.includes(nameOf(e));
      expect(e.instructions).toEqual(changed ? ins : b.instructions);
      // Everything but the instructions stays.
      expect({ ...e, instructions: b.instructions }).toEqual(b);
    });
  });

  it.each([
    { name: 'OFPFF_RESET_COUNTS clears the modified entries counters', flags: OFPFF.RESET_COUNTS, packets: [0, 0, 10, 10, 10] },
    { name: 'without it the counters stay', flags: 0, packets: [10, 10, 10, 10, 10] },
    { name: 'other flags in the modify are not applied to the entries', flags: OFPFF.SEND_FLOW_REM | OFPFF.NO_PKT_COUNTS, packets: [10, 10, 10, 10, 10] },
  ])('$name', ({ flags, packets }) => {
    const { t } = fixture();
    t.modify(filter(W4, { m: [[0, 1]] }), false, [], flags, NOW1);
    expect([...t.entries()].map((e) => e.packet_count)).toEqual(packets);
    expect([...t.entries()].map((e) => e.flags)).toEqual(FIXTURE.map((f) => f.flags ?? 0));
  });
});

interface DeleteCase extends SelectCase {
  readonly outPort?: number;
  readonly outGroup?: number;
}

const DELETE_CASES: readonly DeleteCase[] = [
  ...SELECT_CASES,
  { name: 'out_port: entries whose actions output there', q: {}, strict: false, outPort: 1, want: 'AC' },
  { name: 'out_port counts write-actions too', q: { m: [[0, 2]] }, strict: false, outPort: 1, want: 'C' },
  { name: 'out_port CONTROLLER', q: {}, strict: false, outPort: OFPP.CONTROLLER, want: 'D' },
  { name: 'out_port nobody outputs to', q: {}, strict: false, outPort: 9, want: '' },
  { name: 'out_group: entries using the group', q: {}, strict: false, outGroup: 7, want: 'B' },
  { name: 'out_group in write-actions', q: {}, strict: false, outGroup: 8, want: 'D' },
  { name: 'out_port and out_group both apply', q: {}, strict: false, outPort: 2, outGroup: 7, want: 'B' },
  { name: 'out_port and out_group that no single entry has', q: {}, strict: false, outPort: 1, outGroup: 7, want: '' },
  { name: 'strict with an out_port the entry has', q: { m: [[0, 1]], p: 10 }, strict: true, outPort: 1, want: 'A' },
  { name: 'strict with an out_port the entry lacks', q: { m: [[0, 1]], p: 10 }, strict: true, outPort: 2, want: '' },
  { name: 'ANY and ANY filter nothing', q: { m: [[0, 1]] }, strict: false, outPort: OFPP.ANY, outGroup: OFPG.ANY, want: 'AB' },
];

describe('OFPFC_DELETE and OFPFC_DELETE_STRICT', () => {
  it.each(DELETE_CASES)('$name', (c) => {
    const { t, nameOf } = fixture();
    const gone = t.delete(filter(W4, c.q), c.strict, c.outPort ?? OFPP.ANY, c.outGroup ?? OFPG.ANY);
    expect(gone.map(nameOf).join('')).toBe(c.want);
    const left = [...t.entries()].map(nameOf).join('');
    expect(left).toBe([...'ABCDE'].filter((n) => !c.want.includes(n)).join(''));
    expect(t.activeCount).toBe(FIXTURE.length - c.want.length);
    // What is gone is gone from lookups as well.
    for (const e of gone) expect(t.lookup(e.value)).not.toBe(e);
  });

  it('the removed entries come back with their flags, counters and match for flow-removed', () => {
    const t = new FlowTable({ tableId: 4, words: W4, maxEntries: 10 });
    const match = [{ field: 'in_port', value: 3 }];
    const e = t.add({ ...spec(W4, { m: [[0, 3]], p: 7, cookie: 5n, flags: OFPFF.SEND_FLOW_REM, idle: 9 }), match }, 1000);
    t.hit(e, 1500, 2000, 2);
    const [gone] = t.delete(filter(W4, {}), false);
    expect(gone).toBe(e);
    const msg = flowRemoved(e, OFPRR.DELETE, 3500, 77);
    expect(msg).toEqual({
      type: 'OFPFlowRemoved',
      xid: 77,
      cookie: 5n,
      priority: 7,
      reason: OFPRR.DELETE,
      table_id: 4,
      duration_sec: 2,
      duration_nsec: 500_000_000,
      idle_timeout: 9,
      hard_timeout: 0,
      packet_count: 2n,
      byte_count: 1500n,
      match,
    });
    expect(decode(encode(msg))).toEqual(msg);
  });
});

describe('select (flow and aggregate stats)', () => {
  it.each(DELETE_CASES)('$name', (c) => {
    const { t, nameOf } = fixture();
    const got = t.select(filter(W4, c.q), c.strict, c.outPort ?? OFPP.ANY, c.outGroup ?? OFPG.ANY);
    expect(got.map(nameOf).join('')).toBe(c.want);
    expect(t.activeCount).toBe(FIXTURE.length);
    expect(aggregateStats(got)).toEqual({ packet_count: BigInt(10 * got.length), byte_count: BigInt(1000 * got.length), flow_count: got.length });
  });

  it('flow-stats bodies encode in a reply and decode back', () => {
    const { t } = fixture();
    const body = [...t.entries()].map((e) => flowStats(e, NOW0 + 2250));
    expect(body[1]).toMatchObject({ table_id: 2, priority: 20, cookie: 0x12n, duration_sec: 2, duration_nsec: 250_000_000, packet_count: 10n, byte_count: 1000n });
    const msg = { type: 'OFPFlowStatsReply', xid: 1, flags: 0, body } as const;
    expect(decode(encode(msg))).toEqual(msg);
  });
});

describe('instruction helpers', () => {
  it.each([
    { ins: [apply(output(1))], port: 1, out: true },
    { ins: [write(output(1))], port: 1, out: true },
    { ins: [apply(output(2)), write(output(3))], port: 3, out: true },
    { ins: [apply(output(2))], port: 1, out: false },
    { ins: [apply(group(1))], port: 1, out: false },
    { ins: [CLEAR, GOTO1], port: 1, out: false },
    { ins: [], port: OFPP.ANY, out: false },
  ])('outputsTo($port) = $out', ({ ins, port, out }) => {
    expect(outputsTo(ins, port)).toBe(out);
  });

  it.each([
    { ins: [apply(group(5))], g: 5, out: true },
    { ins: [write(output(9), group(5))], g: 5, out: true },
    { ins: [apply(output(5))], g: 5, out: false },
    { ins: [apply(group(4))], g: 5, out: false },
  ])('usesGroup($g) = $out', ({ ins, g, out }) => {
    expect(usesGroup(ins, g)).toBe(out);
  });
});

// ---- counters -----------------------------------------------------------------------------------

describe('counters', () => {
  it.each([
    { flags: 0, packets: 3, bytes: 300, stat: [3n, 300n] },
    { flags: OFPFF.NO_PKT_COUNTS, packets: 0, bytes: 300, stat: [ALL_COOKIE, 300n] },
    { flags: OFPFF.NO_BYT_COUNTS, packets: 3, bytes: 0, stat: [3n, ALL_COOKIE] },
    { flags: OFPFF.NO_PKT_COUNTS | OFPFF.NO_BYT_COUNTS, packets: 0, bytes: 0, stat: [ALL_COOKIE, ALL_COOKIE] },
  ])('flags $flags: hit() counts $packets packets, $bytes bytes', ({ flags, packets, bytes, stat }) => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 10 });
    const e = t.add(spec(W4, { flags, idle: 2 }), 0);
    for (let i = 1; i <= 3; i++) t.hit(e, 100, i * 1000);
    expect([e.packet_count, e.byte_count]).toEqual([packets, bytes]);
    expect(e.last_used).toBe(3000); // idle timeouts work whatever is counted
    const s = flowStats(e, 3000);
    expect([s.packet_count, s.byte_count]).toEqual(stat);
    const agg = aggregateStats([e]);
    expect([agg.packet_count, agg.byte_count]).toEqual([BigInt(packets), BigInt(bytes)]);
    expect(t.expire(4999)).toEqual([]);
    expect(t.expire(5000)).toEqual([{ entry: e, reason: OFPRR.IDLE_TIMEOUT }]);
  });

  it('lookup and matched counts include cache hits; table stats report them', () => {
    const t = new FlowTable({ tableId: 9, words: W4, maxEntries: 10 });
    t.add(spec(W4, { m: [[0, 1]], p: 1 }), 0);
    const hitKey = keyOf(W4, [[0, 1]]);
    const missKey = keyOf(W4, [[0, 2]]);
    for (let i = 0; i < 5; i++) t.lookup(hitKey);
    for (let i = 0; i < 3; i++) t.lookup(missKey);
    t.classify(hitKey); // not a lookup in the spec's sense
    expect(t.stats()).toEqual({ table_id: 9, active_count: 1, lookup_count: 8n, matched_count: 5n });
  });

  it('durations count from the install, in seconds and nanoseconds', () => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 10 });
    const e = t.add(spec(W4, {}), 1000.5);
    expect(flowDuration(e, 1000.5)).toEqual({ sec: 0, nsec: 0 });
    expect(flowDuration(e, 4001)).toEqual({ sec: 3, nsec: 500_000 });
    expect(flowDuration(e, 0)).toEqual({ sec: 0, nsec: 0 });
  });
});

// ---- timeouts -----------------------------------------------------------------------------------

interface TimeoutCase {
  readonly name: string;
  readonly idle: number;
  readonly hard: number;
  /** Times (ms) a packet hits the entry. */
  readonly hits: readonly number[];
  /** First time (100 ms steps) expire() removes it, and why; undefined: never within 20 s. */
  readonly at: number | undefined;
  readonly reason?: number;
}

const every = (step: number, until: number): number[] => Array.from({ length: Math.floor(until / step) }, (_, i) => (i + 1) * step);

const TIMEOUT_CASES: readonly TimeoutCase[] = [
  { name: 'idle, never hit', idle: 1, hard: 0, hits: [], at: 1000, reason: OFPRR.IDLE_TIMEOUT },
  { name: 'idle, hits push it back', idle: 2, hard: 0, hits: [1500, 3000], at: 5000, reason: OFPRR.IDLE_TIMEOUT },
  { name: 'idle, kept alive by steady hits', idle: 1, hard: 0, hits: every(500, 20_000), at: undefined },
  { name: 'hard, whatever the hits', idle: 0, hard: 3, hits: every(100, 20_000), at: 3000, reason: OFPRR.HARD_TIMEOUT },
  { name: 'both: idle runs out first', idle: 1, hard: 3, hits: [500], at: 1500, reason: OFPRR.IDLE_TIMEOUT },
  { name: 'both: hits keep idle off, hard ends it', idle: 1, hard: 3, hits: every(500, 20_000), at: 3000, reason: OFPRR.HARD_TIMEOUT },
  { name: 'both at the same time: hard', idle: 2, hard: 2, hits: [], at: 2000, reason: OFPRR.HARD_TIMEOUT },
  { name: 'no timeouts: permanent', idle: 0, hard: 0, hits: [], at: undefined },
];

describe('timeouts (injected clock)', () => {
  it.each(TIMEOUT_CASES)('$name', (c) => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 10 });
    const e = t.add(spec(W4, { idle: c.idle, hard: c.hard, flags: OFPFF.SEND_FLOW_REM }), 0);
    const hits = new Set(c.hits);
    let at: number | undefined;
    let reason: number | undefined;
    for (let now = 0; now <= 20_000 && at === undefined; now += 100) {
      if (hits.has(now)) t.hit(e, 64, now);
      const gone = t.expire(now);
      if (gone.length > 0) {
        expect(gone).toHaveLength(1);
        expect(gone[0]!.entry).toBe(e);
        at = now;
        reason = gone[0]!.reason;
      }
    }
    expect(at).toBe(c.at);
    expect(reason).toBe(c.reason);
    expect(t.activeCount).toBe(c.at === undefined ? 1 : 0);
  });

  it('a late expire() reports the timeout that ran out first, and orders entries by when they ran out', () => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 10 });
    const a = t.add(spec(W4, { m: [[0, 1]], idle: 1, hard: 10 }), 0); // idle out at 1000
    const b = t.add(spec(W4, { m: [[0, 2]], hard: 4 }), 0); // hard out at 4000
    const c = t.add(spec(W4, { m: [[0, 3]], idle: 3 }), 0); // hit at 500: idle out at 3500
    const d = t.add(spec(W4, { m: [[0, 4]], idle: 1 }), 0); // idle out at 1000, installed after a
    t.hit(c, 10, 500);
    expect(t.nextDeadline()).toBe(1000);
    expect(t.expire(30_000)).toEqual([
      { entry: a, reason: OFPRR.IDLE_TIMEOUT },
      { entry: d, reason: OFPRR.IDLE_TIMEOUT },
      { entry: c, reason: OFPRR.IDLE_TIMEOUT },
      { entry: b, reason: OFPRR.HARD_TIMEOUT },
    ]);
  });

  it('entries deleted or modified before their deadline', () => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 10 });
    t.add(spec(W4, { m: [[0, 1]], hard: 1 }), 0);
    const kept = t.add(spec(W4, { m: [[0, 2]], hard: 2 }), 0);
    t.delete(filter(W4, { m: [[0, 1]] }), false);
    t.modify(filter(W4, { m: [[0, 2]] }), false, [apply(output(3))], OFPFF.RESET_COUNTS, 500);
    expect(t.expire(1500)).toEqual([]);
    expect(t.expire(2000)).toEqual([{ entry: kept, reason: OFPRR.HARD_TIMEOUT }]); // modify keeps timeouts
  });

  it('many entries deleted before their deadline do not disturb the timers of the rest', () => {
    const t = new FlowTable({ tableId: 0, words: W4, maxEntries: 100_000 });
    for (let i = 0; i < 20_000; i++) t.add(spec(W4, { m: [[0, i]], hard: 100, idle: 50 }), 0);
    t.delete(filter(W4, {}), false);
    const late = t.add(spec(W4, { m: [[1, 1]], idle: 1 }), 0);
    const soon = Array.from({ length: 10 }, (_, i) => t.add(spec(W4, { m: [[2, i]], hard: 1 }), 0));
    expect(t.nextDeadline()).toBe(1000);
    t.hit(late, 1, 900);
    expect(t.expire(1000).map((x) => x.entry)).toEqual(soon);
    expect(t.expire(1899)).toEqual([]);
    expect(t.expire(1900)).toEqual([{ entry: late, reason: OFPRR.IDLE_TIMEOUT }]);
    expect(t.expire(1e9)).toEqual([]);
    expect(t.nextDeadline()).toBeUndefined();
  });
});
