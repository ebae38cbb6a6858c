/**
 * The datapath's flow cache below JavaScript. What the pipeline decided for a frame is handed to the
 * port I/O addon (portio/src/flowcache.c), which forwards the frames after it with the same headers
 * itself, as Open vSwitch's datapath forwards by what ovs-vswitchd decided for the first packet of a
 * flow. Only the first frame of a flow (and the first after any change) runs the pipeline; on a
 * datapath whose ports are all native, the rest never wake JavaScript.
 *
 * This file is the JavaScript half:
 * - which decisions may be cached: the pipeline fills a RunRecord as it runs; a decision is exact when
 *   the pipeline only matched and sent the frame, unchanged, out of ports the cache serves (no meter,
 *   group, set-field or other changing action, set-queue, packet-in or output to TABLE; at most
 *   MAX_OUTPUTS outputs). flowcache.c promises that a frame with the same signature has the same flow
 *   key, so the same tables decide the same;
 * - counters: each cached decision remembers the (table, flow entry) pairs it went through. sync()
 *   harvests what the addon counted and adds it, with the last use, to those entries and tables. The
 *   datapath syncs before anything reads or changes them (every controller request, switchctl, the
 *   expiry timer), so flow stats, table stats, flow-removed and idle timeouts see what they would if
 *   JavaScript had forwarded every frame. Port counters are the addon's own either way;
 * - flush(): sync, then forget every decision. The datapath flushes on any change to what the pipeline
 *   would decide: a flow table change, a port added, removed or changed, the switch config, a
 *   controller leaving (fail mode standalone takes over).
 *
 * May import: switch/flow-table.ts (types), switch/port.ts (types).
 */
import type { FlowEntry, FlowTable } from './flow-table.js';
import type { FramePort } from './port.js';

/** Outputs one cached decision holds at most (flowcache.c's FC_MAX_OUT). */
export const MAX_OUTPUTS = 16;

export interface FrameCacheStats {
  /** Whether the cache forwards on a thread of its own. */
  readonly threaded: boolean;
  /** Decisions cached now. */
  readonly entries: number;
  readonly slots: number;
  /** Frames forwarded by a cached decision, and frames that went to the pipeline, since the start. */
  readonly hits: number;
  readonly misses: number;
  readonly installs: number;
  /** Decisions not cached for want of room near their slot. */
  readonly refused: number;
  readonly flushes: number;
}

/** What the addon offers (portio/index.ts's createFrameCache). */
export interface FrameCache {
  /** Joins a port under its OpenFlow number; false when the port is not one this cache can serve. */
  attach(port: FramePort, no: number): boolean;
  detach(port: FramePort): void;
  /**
   * During port's receive callback: frames like frame `index` of its batch go out of `outs`, in order.
   * False when not cached (no signature, a port not attached, no room).
   */
  install(port: FramePort, index: number, outs: readonly FramePort[], id: number): boolean;
  /** Calls fn for every decision used since the last harvest: its counts since then, and how long ago it was last used. */
  harvest(fn: (id: number, packets: number, bytes: number, ageMs: number) => void): void;
  flush(): void;
  stats(): FrameCacheStats;
}

/** What one pipeline run did that a cached decision would have to repeat. */
export class RunRecord {
  exact = true;
  readonly tables: FlowTable[] = [];
  readonly entries: FlowEntry[] = [];
  readonly outs: FramePort[] = [];

  reset(): void {
    this.exact = true;
    this.tables.length = 0;
    this.entries.length = 0;
    this.outs.length = 0;
  }

  /** The run matched entry in table (and counted it). */
  matched(table: FlowTable, entry: FlowEntry): void {
    this.tables.push(table);
    this.entries.push(entry);
  }

  /** The frame goes out of port, as it is. */
  output(port: FramePort): void {
    this.outs.push(port);
  }

  /** The run did something a cached decision cannot repeat. */
  inexact(): void {
    this.exact = false;
  }
}

interface Decision {
  readonly tables: readonly FlowTable[];
  readonly entries: readonly FlowEntry[];
}

export class DatapathCache {
  private readonly decisions = new Map<number, Decision>();
  private nextId = 1;
  private readonly attached = new Set<FramePort>();

  constructor(
    private readonly cache: FrameCache,
    private readonly now: () => number,
  ) {}

  /** Serves port (number no) from now on when the cache can; every decision is dropped either way. */
  attach(port: FramePort, no: number): void {
    this.sync();
    if (this.cache.attach(port, no)) this.attached.add(port);
    this.decisions.clear();
  }

  detach(port: FramePort): void {
    if (!this.attached.delete(port)) return;
    this.sync();
    this.cache.detach(port);
    this.decisions.clear();
  }

  /** Whether frames from port may be cached (it is attached). */
  serves(port: FramePort): boolean {
    return this.attached.has(port);
  }

  /** After the pipeline ran frame `index` of port's batch: caches the decision when it is exact. */
  offer(rec: RunRecord, port: FramePort, index: number): void {
    if (!rec.exact || rec.outs.length > MAX_OUTPUTS) return;
    for (const o of rec.outs) if (!this.attached.has(o)) return;
    const id = this.nextId;
    if (!this.cache.install(port, index, rec.outs, id)) return;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    this.decisions.set(id, { tables: rec.tables.slice(), entries: rec.entries.slice() });
  }

  /** Adds what the addon counted since the last sync to the flow entries and tables it went through. */
  sync(): void {
    const now = this.now();
    this.cache.harvest((id, packets, bytes, ageMs) => {
      const d = this.decisions.get(id);
      if (d === undefined) return;
      const usedAt = now - ageMs;
      for (let i = 0; i < d.entries.length; i++) {
        const table = d.tables[i] as FlowTable;
        const entry = d.entries[i] as FlowEntry;
        table.countLookups(packets);
        table.hit(entry, bytes, Math.max(entry.last_used, usedAt), packets);
      }
    });
  }

  /** Forgets every decision (their counts are synced first). */
  flush(): void {
    this.sync();
    this.cache.flush();
    this.decisions.clear();
  }

  stats(): FrameCacheStats & { readonly ports: number } {
    return { ...this.cache.stats(), ports: this.attached.size };
  }
}
