/**
 * Which remote nodes want an on-demand link: EdgeVPN's TrafficAnalyzer (EDGEVPN.md §5) as a pure
 * function of flow statistics. BoundedFlood polls its learnt flows' counters every interval and hands them
 * here with what it knows of each destination MAC (the node hosting it, whether that node is a
 * neighbour); the topology (overlay/topology.ts) turns the answer into on-demand edges.
 *
 * EdgeVPN asks for a link once a flow's byte_count passes DemandThreshold (10 MiB) over the flow's whole
 * life, so a trickle that lasts long enough gets a link as surely as a bulk transfer. Here the threshold
 * is per interval: bytes a flow moved since the previous poll, i.e. a rate. A node stays wanted for
 * holdMs after its last heavy interval (EdgeVPN removes an on-demand edge 180 s after its flow is gone),
 * so a transfer with pauses keeps its link.
 *
 * May import: nothing of ours but openflow/ types.
 */
import type { MessageOf } from '../../openflow/index.js';

type FlowStats = MessageOf<'OFPFlowStatsReply'>['body'][number];

export interface DemandOptions {
  /** Bytes one flow moves within one interval for its destination's node to want a link. */
  readonly thresholdBytes: number;
  /** How often the flows are read (ms). Default 10 s (EdgeVPN's TrafficAnalysisInterval). */
  readonly intervalMs?: number;
  /** How long a node stays wanted after its last heavy interval (ms). Default 180 s. */
  readonly holdMs?: number;
}

/**
 * The node hosting a destination MAC, if it is another node. Whether we are linked to it already does not
 * matter here: a heavy flow to a node keeps wanting its link, including the on-demand link it got (or that
 * link would be dropped after holdMs and asked for again, over and over); the topology adds nothing for a
 * node it already has an edge with.
 */
export type RootOf = (mac: string) => string | undefined;

/** One switch's flow counters between polls, and the nodes wanted with when they last were. */
export class DemandTracker {
  private last = new Map<string, bigint>();
  private readonly wanted = new Map<string, number>();
  readonly intervalMs: number;
  readonly holdMs: number;
  readonly thresholdBytes: number;

  constructor(opts: DemandOptions) {
    const whole = (v: number | undefined, dflt: number, min: number, key: string): number => {
      const x = v ?? dflt;
      if (!Number.isInteger(x) || x < min) throw new RangeError(`demand: ${key} ${String(v)} is not a whole number ≥ ${min}`);
      return x;
    };
    this.thresholdBytes = whole(opts.thresholdBytes, 0, 1, 'thresholdBytes');
    this.intervalMs = whole(opts.intervalMs, 10_000, 100, 'intervalMs');
    this.holdMs = whole(opts.holdMs, 180_000, 0, 'holdMs');
  }

  /**
   * One poll's flows (the learnt ones: in_port, eth_src, eth_dst). A flow seen for the first time counts
   * from zero; one that disappeared is forgotten.
   */
  update(flows: readonly FlowStats[], rootOf: RootOf, now: number): void {
    const seen = new Map<string, bigint>();
    for (const f of flows) {
      let dst: string | undefined;
      let src: string | undefined;
      let inPort: number | undefined;
      for (const m of f.match) {
        if (m.field === 'eth_dst' && typeof m.value === 'string') dst = m.value;
        else if (m.field === 'eth_src' && typeof m.value === 'string') src = m.value;
        else if (m.field === 'in_port' && typeof m.value === 'number') inPort = m.value;
      }
      if (dst === undefined) continue;
      const key = `${inPort ?? '-'}/${src ?? '-'}/${dst}`;
      const before = this.last.get(key) ?? 0n;
      seen.set(key, f.byte_count);
      // A counter that went down belongs to a new flow under the same match.
      const moved = f.byte_count >= before ? f.byte_count - before : f.byte_count;
      if (moved < BigInt(this.thresholdBytes)) continue;
      const root = rootOf(dst);
      if (root !== undefined) this.wanted.set(root, now);
    }
    this.last = seen;
  }

  /** The nodes wanted now, the most recently heavy first. */
  demand(now: number): string[] {
    for (const [root, at] of this.wanted) if (now - at > this.holdMs) this.wanted.delete(root);
    return [...this.wanted].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([root]) => root);
  }
}
