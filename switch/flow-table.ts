/**
 * One OpenFlow 1.3 flow table: lookup, flow-mod semantics (spec 6.4, A.3.4.1), timeouts and counters.
 *
 * The table knows nothing about frames or OXM fields. It works on flow keys of `words` 32-bit words
 * (key.ts builds them) and on matches compiled to a value/mask pair of the same length, value already
 * masked: a key matches when `(key[i] & mask[i]) === value[i]` for every word. The OpenFlow `Match` an
 * entry was installed with is kept only to be reported back in flow stats and flow-removed.
 *
 * Lookup is a tuple-space search. Entries are grouped by mask into subtables; each subtable hashes the
 * masked words (only the words its mask touches) to the entries with those words, kept highest priority
 * first. Subtables are visited in order of the highest priority they hold, and the search stops as
 * soon as the best entry found beats every subtable left, so its cost depends on the number of distinct
 * masks, not on the number of entries. In front sits an exact-match cache: the full key → the result
 * (an entry, or a miss), cleared on every change to the table; a test runs random tables through both
 * paths and a linear scan and requires the same answer every time.
 *
 * Ties. When several entries of the same highest priority match, the spec leaves the choice undefined;
 * this table picks the one installed first (an ADD that replaces an entry counts as a new install), so
 * results are deterministic. It costs one thing: a subtable whose highest priority equals the best
 * found so far is still visited.
 *
 * Timeouts. Entries with an idle or hard timeout sit in a min-heap keyed by the earliest time they
 * could expire. expire(now) pops only the due ones and re-checks them: an idle entry hit since it was
 * queued goes back into the heap at its new deadline (lazy re-checking, so hit() never touches the
 * heap). Entries removed otherwise stay in the heap as dead items, dropped when popped or when they
 * outnumber the live ones.
 *
 * Times are milliseconds from an injected clock (`now` arguments); timeouts are the spec's seconds.
 * Nothing here reads a clock, so the table is deterministic given its inputs.
 *
 * The files. This one holds the table's semantics: flow-mod rules, the exact-match cache, timeouts and
 * their deadline heap, table stats. classifier.ts holds the tuple-space structures (entries, subtables,
 * hashing, mask arithmetic); flow-messages.ts builds what is reported about entries (flow stats,
 * aggregate stats, flow-removed).
 *
 * May import: openflow/ (types and constants), switch/errors.ts and switch/classifier.ts. Must not import
 * other switch files.
 */
import { type Instruction, type Match, type MessageOf, OFPET, OFPFF, OFPFMFC, OFPG, OFPP, OFPRR } from '../openflow/index.js';
import {
  Flow,
  Subtable,
  before,
  hashFull,
  hashMasked,
  looseMatch,
  maskCovers,
  maskKey,
  overlaps,
  sameMask,
  sameWordsN,
} from './classifier.js';
import { OFPError } from './errors.js';

/** What an ADD installs: the flow-mod's fields with its match compiled. */
export interface FlowSpec {
  readonly priority: number;
  /** Compiled match (value already masked). Shared with the table: do not modify. */
  readonly value: Uint32Array;
  readonly mask: Uint32Array;
  /** The match as the controller sent it, for flow stats and flow-removed. */
  readonly match: Match;
  readonly cookie: bigint;
  /** Seconds; 0 means none. */
  readonly idle_timeout: number;
  readonly hard_timeout: number;
  /** OFPFF_* bits. */
  readonly flags: number;
  /** Replaced as a whole by a MODIFY; never modified in place. */
  readonly instructions: readonly Instruction[];
}

/** An installed flow entry. The definition is fixed; counters and last_used change as packets hit it. */
export interface FlowEntry extends FlowSpec {
  readonly table_id: number;
  /** When the entry was installed (ms, injected clock). Duration counts from here. */
  readonly install_time: number;
  /** Install order within this table, unique and increasing; breaks priority ties (lower wins). */
  readonly seq: number;
  /** Last packet (ms), or install_time. Idle timeouts count from here. */
  last_used: number;
  /** Counters. Prefer FlowTable.hit(), which honours OFPFF_NO_PKT_COUNTS and OFPFF_NO_BYT_COUNTS. */
  packet_count: number;
  byte_count: number;
}

/**
 * Which entries a MODIFY, DELETE or stats request is about. Non-strict: every entry whose match is the
 * filter's or more specific (each filter mask bit is in the entry's mask, with the same value); priority
 * is ignored. Strict: the entry with this exact match and priority. Either way the entry's cookie must
 * equal `cookie` on the bits of `cookieMask` (a zero mask selects any cookie).
 */
export interface FlowFilter {
  readonly value: Uint32Array;
  readonly mask: Uint32Array;
  readonly priority: number;
  readonly cookie: bigint;
  readonly cookieMask: bigint;
}

export type ExpiryReason = typeof OFPRR.IDLE_TIMEOUT | typeof OFPRR.HARD_TIMEOUT;

export interface Expired {
  readonly entry: FlowEntry;
  readonly reason: ExpiryReason;
}

export interface FlowTableOptions {
  readonly tableId: number;
  /** Words in a flow key and in compiled matches. */
  readonly words: number;
  /** Most entries the table holds; an ADD beyond it fails with OFPFMFC_TABLE_FULL. */
  readonly maxEntries: number;
  /** Exact-match cache size in keys (default 65536); 0 turns the cache off. */
  readonly cacheSize?: number;
  /** Called on every change to the table's entries (what a lookup could answer), after it is made. */
  readonly onChange?: () => void;
}

export type TableStatsBody = MessageOf<'OFPTableStatsReply'>['body'][number];

const DEFAULT_CACHE_SIZE = 65536;
/** Dead heap items are swept when there are more than this many and they outnumber live ones. */
const HEAP_SWEEP_MIN = 1024;

function cookieMatches(cookie: bigint, filter: FlowFilter): boolean {
  return filter.cookieMask === 0n || (cookie & filter.cookieMask) === (filter.cookie & filter.cookieMask);
}

// ---- instruction helpers ------------------------------------------------------------------------

/** Whether any write-actions or apply-actions instruction outputs to `port` (groups' buckets are not looked into). */
export function outputsTo(instructions: readonly Instruction[], port: number): boolean {
  for (const ins of instructions) {
    if (ins.kind !== 'OFPInstructionActions') continue;
    for (const a of ins.actions) if (a.kind === 'OFPActionOutput' && a.port === port) return true;
  }
  return false;
}

/** Whether any write-actions or apply-actions instruction sends to group `group`. */
export function usesGroup(instructions: readonly Instruction[], group: number): boolean {
  for (const ins of instructions) {
    if (ins.kind !== 'OFPInstructionActions') continue;
    for (const a of ins.actions) if (a.kind === 'OFPActionGroup' && a.group_id === group) return true;
  }
  return false;
}

/** The out_port / out_group constraint of DELETE and stats requests (OFPP_ANY / OFPG_ANY: none). */
function passesOut(f: FlowEntry, outPort: number, outGroup: number): boolean {
  return (outPort === OFPP.ANY || outputsTo(f.instructions, outPort)) && (outGroup === OFPG.ANY || usesGroup(f.instructions, outGroup));
}

// ---- the table ----------------------------------------------------------------------------------

interface CacheSlot {
  readonly key: Uint32Array;
  entry: Flow | undefined;
}

export class FlowTable {
  readonly tableId: number;
  readonly words: number;
  readonly maxEntries: number;
  /** Packets looked up, and those that matched an entry (table stats). */
  lookupCount = 0;
  matchedCount = 0;
  /** Subtables searched, summed over every search the cache did not answer (for tests and benchmarks). */
  probeCount = 0;

  private readonly cacheSize: number;
  private readonly onChange: (() => void) | undefined;
  /** Exact-match cache: hash of the full key → the key and its result. Colliding keys overwrite. */
  private readonly cache = new Map<number, CacheSlot>();
  /** Subtables by mask, and in search order (highest maxPriority first) once `sorted`. */
  private readonly subtables = new Map<string, Subtable>();
  private order: Subtable[] = [];
  private sorted = true;
  /** Live entries in install order. */
  private readonly live = new Set<Flow>();
  private nextSeq = 0;
  /** Min-heap of entries with timeouts, by (expireAt, seq); may hold dead entries. */
  private readonly heap: Flow[] = [];
  private heapDead = 0;

  constructor(opts: FlowTableOptions) {
    if (!Number.isInteger(opts.words) || opts.words <= 0) throw new RangeError(`flow table: words must be a positive integer, got ${opts.words}`);
    if (!Number.isInteger(opts.maxEntries) || opts.maxEntries < 0) throw new RangeError(`flow table: bad maxEntries ${opts.maxEntries}`);
    this.tableId = opts.tableId;
    this.words = opts.words;
    this.maxEntries = opts.maxEntries;
    this.cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
    this.onChange = opts.onChange;
  }

  /** Entries in the table. */
  get activeCount(): number {
    return this.live.size;
  }

  /** Distinct masks in the table: what a cache miss costs at most. */
  get subtableCount(): number {
    return this.subtables.size;
  }

  /** Keys held by the exact-match cache. */
  get cachedKeys(): number {
    return this.cache.size;
  }

  /** The highest-priority entry matching key (earliest installed among equals), counted in table stats. */
  lookup(key: Uint32Array): FlowEntry | undefined {
    const n = this.words;
    if (key.length < n) throw new RangeError(`flow table: key has ${key.length} words, table needs ${n}`);
    this.lookupCount++;
    let found: Flow | undefined;
    if (this.cacheSize === 0) {
      found = this.search(key);
    } else {
      const h = hashFull(key, n);
      const slot = this.cache.get(h);
      if (slot !== undefined && sameWordsN(slot.key, key, n)) {
        found = slot.entry;
      } else {
        found = this.search(key);
        if (slot !== undefined) {
          // Another key with the same hash: this one takes its slot, reusing its array.
          const k = slot.key;
          for (let i = 0; i < n; i++) k[i] = key[i]!;
          slot.entry = found;
        } else {
          if (this.cache.size >= this.cacheSize) this.evictOne();
          this.cache.set(h, { key: key.slice(0, n), entry: found });
        }
      }
    }
    if (found !== undefined) this.matchedCount++;
    return found;
  }

  /** The tuple-space search alone: no cache, not counted in table stats. lookup() must always agree with it. */
  classify(key: Uint32Array): FlowEntry | undefined {
    if (key.length < this.words) throw new RangeError(`flow table: key has ${key.length} words, table needs ${this.words}`);
    return this.search(key);
  }

  private search(key: Uint32Array): Flow | undefined {
    if (!this.sorted) this.sortSubtables();
    const order = this.order;
    let best: Flow | undefined;
    let s = 0;
    for (; s < order.length; s++) {
      const st = order[s]!;
      if (best !== undefined && best.priority > st.maxPriority) break;
      const f = st.find(key);
      if (f !== undefined && (best === undefined || before(f, best))) best = f;
    }
    this.probeCount += s;
    return best;
  }

  private sortSubtables(): void {
    // Ties in maxPriority keep their relative order (sort is stable), which never changes a result.
    this.order.sort((a, b) => b.maxPriority - a.maxPriority);
    this.sorted = true;
  }

  /** FIFO eviction: the oldest cached key goes (Map iterates in insertion order). */
  private evictOne(): void {
    for (const h of this.cache.keys()) {
      this.cache.delete(h);
      return;
    }
  }

  /** Any change to the table makes every cached result suspect, here and in the datapath's caches. */
  private invalidate(): void {
    if (this.cache.size > 0) this.cache.clear();
    this.onChange?.();
  }

  /**
   * OFPFC_ADD. An entry with the identical match and priority is replaced: the new entry starts a new
   * duration and carries the old counters over unless OFPFF_RESET_COUNTS is set; no flow-removed is due
   * for it. With OFPFF_CHECK_OVERLAP, an entry of the same priority that one packet could match along
   * with the new one (the identical one included) fails the add with OFPFMFC_OVERLAP. A new entry in a
   * full table fails with OFPFMFC_TABLE_FULL.
   */
  add(spec: FlowSpec, now: number): FlowEntry {
    this.checkWords(spec.mask, 'mask');
    this.checkWords(spec.value, 'value');
    const mask = spec.mask;
    const key = maskKey(mask);
    let st = this.subtables.get(key);
    const value = new Uint32Array(this.words);
    for (let i = 0; i < this.words; i++) value[i] = spec.value[i]! & mask[i]!;

    if (spec.flags & OFPFF.CHECK_OVERLAP) {
      const other = this.findOverlap(value, mask, spec.priority);
      if (other !== undefined) {
        throw new OFPError(
          OFPET.FLOW_MOD_FAILED,
          OFPFMFC.OVERLAP,
          `table ${this.tableId}: flow at priority ${spec.priority} overlaps entry with cookie 0x${other.cookie.toString(16)}`,
        );
      }
    }

    let old: Flow | undefined;
    if (st !== undefined) {
      for (const f of st.withValue(value)) {
        if (f.priority === spec.priority) {
          old = f;
          break;
        }
      }
    }
    if (old === undefined && this.live.size >= this.maxEntries) {
      throw new OFPError(OFPET.FLOW_MOD_FAILED, OFPFMFC.TABLE_FULL, `table ${this.tableId} is full (${this.maxEntries} entries)`);
    }
    if (old !== undefined) {
      this.removeFlow(old);
      st = this.subtables.get(key);
    }
    if (st === undefined) {
      st = new Subtable(Uint32Array.from(mask), key);
      this.subtables.set(key, st);
      this.order.push(st);
      this.sorted = false;
    }

    const f = new Flow(
      this.tableId,
      this.nextSeq++,
      st,
      hashMasked(value, st.idx, st.mwords),
      spec.priority,
      value,
      st.mask,
      spec.match,
      spec.cookie,
      spec.idle_timeout,
      spec.hard_timeout,
      spec.flags,
      spec.instructions,
      now,
    );
    if (old !== undefined && !(spec.flags & OFPFF.RESET_COUNTS)) {
      f.packet_count = old.packet_count;
      f.byte_count = old.byte_count;
    }
    if (st.insert(f)) this.sorted = false;
    this.live.add(f);
    if (f.idle_timeout > 0 || f.hard_timeout > 0) {
      f.expireAt = Math.min(
        f.hard_timeout > 0 ? now + f.hard_timeout * 1000 : Infinity,
        f.idle_timeout > 0 ? now + f.idle_timeout * 1000 : Infinity,
      );
      this.heapPush(f);
    }
    this.invalidate();
    return f;
  }

  private findOverlap(value: Uint32Array, mask: Uint32Array, priority: number): Flow | undefined {
    for (const st of this.subtables.values()) {
      if (!st.hasPriority(priority)) continue;
      if (maskCovers(mask, st.mask)) {
        // Every bit st cares about is fixed by the new match: the overlapping entries are exactly those
        // whose value is the new value under st's mask, one hash probe away.
        const probe = new Uint32Array(this.words);
        for (let i = 0; i < this.words; i++) probe[i] = value[i]! & st.mask[i]!;
        for (const f of st.withValue(probe)) if (f.priority === priority) return f;
      } else {
        for (const f of st.all()) if (f.priority === priority && overlaps(value, mask, f.value, f.mask)) return f;
      }
    }
    return undefined;
  }

  /**
   * OFPFC_MODIFY / OFPFC_MODIFY_STRICT: the selected entries get the new instructions; their cookie,
   * timeouts, flags, duration and counters stay, except that OFPFF_RESET_COUNTS in `flags` clears the
   * counters. Selecting nothing is not an error and adds nothing (OF1.3). out_port and out_group do not
   * apply to modify. `now` is accepted for symmetry; a modify changes no times. Returns the modified entries.
   */
  modify(filter: FlowFilter, strict: boolean, instructions: readonly Instruction[], flags: number, _now?: number): FlowEntry[] {
    const hits = this.selectFlows(filter, strict, OFPP.ANY, OFPG.ANY);
    for (const f of hits) {
      f.instructions = instructions;
      if (flags & OFPFF.RESET_COUNTS) {
        f.packet_count = 0;
        f.byte_count = 0;
      }
    }
    if (hits.length > 0) this.invalidate();
    return hits;
  }

  /**
   * OFPFC_DELETE / OFPFC_DELETE_STRICT, also filtered by out_port and out_group (an entry stays unless
   * its write/apply actions output to out_port and use group out_group; OFPP_ANY / OFPG_ANY lift each
   * constraint). Returns the removed entries in install order: the caller sends flow-removed (reason
   * OFPRR_DELETE) for those with OFPFF_SEND_FLOW_REM.
   */
  delete(filter: FlowFilter, strict: boolean, outPort: number = OFPP.ANY, outGroup: number = OFPG.ANY): FlowEntry[] {
    const hits = this.selectFlows(filter, strict, outPort, outGroup);
    for (const f of hits) this.removeFlow(f);
    if (hits.length > 0) this.invalidate();
    return hits;
  }

  /** The entries a flow-stats or aggregate-stats request selects, in install order. */
  select(filter: FlowFilter, strict: boolean, outPort: number = OFPP.ANY, outGroup: number = OFPG.ANY): FlowEntry[] {
    return this.selectFlows(filter, strict, outPort, outGroup);
  }

  /** All entries, in install order. */
  entries(): IterableIterator<FlowEntry> {
    return this.live.values();
  }

  private selectFlows(filter: FlowFilter, strict: boolean, outPort: number, outGroup: number): Flow[] {
    this.checkWords(filter.mask, 'filter mask');
    this.checkWords(filter.value, 'filter value');
    const fm = filter.mask;
    const fv = new Uint32Array(this.words);
    for (let i = 0; i < this.words; i++) fv[i] = filter.value[i]! & fm[i]!;
    const out: Flow[] = [];
    const take = (f: Flow): void => {
      if (cookieMatches(f.cookie, filter) && passesOut(f, outPort, outGroup)) out.push(f);
    };
    if (strict) {
      const st = this.subtables.get(maskKey(fm));
      if (st !== undefined) for (const f of st.withValue(fv)) if (f.priority === filter.priority) take(f);
      return out;
    }
    for (const st of this.subtables.values()) {
      if (!maskCovers(st.mask, fm)) continue;
      if (sameMask(st.mask, fm)) {
        for (const f of st.withValue(fv)) take(f);
      } else {
        for (const f of st.all()) if (looseMatch(f, fv, fm)) take(f);
      }
    }
    out.sort((a, b) => a.seq - b.seq);
    return out;
  }

  /**
   * Counts `packets` packets of `bytes` bytes in all against entry (unless its flags say not to) and
   * marks it used at `now`, which restarts its idle timeout.
   */
  /** Counts lookups that matched, made for this table elsewhere (the datapath's flow cache, flow-cache.ts). */
  countLookups(n: number): void {
    this.lookupCount += n;
    this.matchedCount += n;
  }

  hit(entry: FlowEntry, bytes: number, now: number, packets = 1): void {
    if (!(entry.flags & OFPFF.NO_PKT_COUNTS)) entry.packet_count += packets;
    if (!(entry.flags & OFPFF.NO_BYT_COUNTS)) entry.byte_count += bytes;
    entry.last_used = now;
  }

  /**
   * Removes the entries whose hard timeout (from install) or idle timeout (from last use) has run out
   * by `now`, and returns them with the reason: the timeout that ran out first (hard on a tie). Sorted
   * by the time they ran out, then install order. The caller sends flow-removed for those with
   * OFPFF_SEND_FLOW_REM.
   */
  expire(now: number): Expired[] {
    const due: { f: Flow; reason: ExpiryReason; at: number }[] = [];
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.expireAt <= now) {
      const f = this.heapPop();
      f.inHeap = false;
      if (!f.live) {
        this.heapDead--;
        continue;
      }
      const hardAt = f.hard_timeout > 0 ? f.install_time + f.hard_timeout * 1000 : Infinity;
      const idleAt = f.idle_timeout > 0 ? f.last_used + f.idle_timeout * 1000 : Infinity;
      if (hardAt <= now || idleAt <= now) {
        const idle = idleAt < hardAt;
        due.push({ f, reason: idle ? OFPRR.IDLE_TIMEOUT : OFPRR.HARD_TIMEOUT, at: idle ? idleAt : hardAt });
      } else {
        f.expireAt = Math.min(hardAt, idleAt);
        this.heapPush(f);
      }
    }
    if (due.length === 0) return [];
    for (const d of due) this.removeFlow(d.f);
    this.invalidate();
    due.sort((a, b) => a.at - b.at || a.f.seq - b.f.seq);
    return due.map((d) => ({ entry: d.f, reason: d.reason }));
  }

  /** The earliest time expire() could remove something (a lower bound), or undefined when nothing times out. */
  nextDeadline(): number | undefined {
    const top = this.heap[0];
    return top === undefined ? undefined : top.expireAt;
  }

  /** This table's ofp_table_stats. */
  stats(): TableStatsBody {
    return {
      table_id: this.tableId,
      active_count: this.live.size,
      lookup_count: BigInt(this.lookupCount),
      matched_count: BigInt(this.matchedCount),
    };
  }

  private removeFlow(f: Flow): void {
    f.live = false;
    this.live.delete(f);
    const st = f.sub;
    if (st.remove(f)) this.sorted = false;
    if (st.count === 0) {
      this.subtables.delete(st.key);
      const at = this.order.indexOf(st);
      if (at >= 0) this.order.splice(at, 1);
    }
    if (f.inHeap) {
      this.heapDead++;
      if (this.heapDead > HEAP_SWEEP_MIN && this.heapDead * 2 > this.heap.length) this.heapSweep();
    }
  }

  private checkWords(a: Uint32Array, what: string): void {
    if (a.length !== this.words) throw new RangeError(`flow table ${this.tableId}: ${what} has ${a.length} words, table has ${this.words}`);
  }

  // ---- the deadline heap ----

  private heapPush(f: Flow): void {
    const heap = this.heap;
    f.inHeap = true;
    let i = heap.length;
    heap.push(f);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!earlier(f, parent)) break;
      heap[i] = parent;
      i = p;
    }
    heap[i] = f;
  }

  private heapPop(): Flow {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const f = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && earlier(heap[r]!, heap[l]!) ? r : l;
      const child = heap[c]!;
      if (!earlier(child, f)) break;
      heap[i] = child;
      i = c;
    }
    heap[i] = f;
  }

  /** Drops dead items and restores the heap order. */
  private heapSweep(): void {
    const heap = this.heap;
    let w = 0;
    for (let r = 0; r < heap.length; r++) {
      const f = heap[r]!;
      if (f.live) heap[w++] = f;
      else f.inHeap = false;
    }
    heap.length = w;
    this.heapDead = 0;
    for (let i = (w >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }
}

function earlier(a: Flow, b: Flow): boolean {
  return a.expireAt < b.expireAt || (a.expireAt === b.expireAt && a.seq < b.seq);
}
