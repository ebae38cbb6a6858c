/**
 * What the switch reports about flow entries: the bodies of flow-stats and aggregate-stats replies and
 * flow-removed messages, with durations and the counters an entry's flags say not to keep (reported as
 * the field's maximum).
 *
 * May import: openflow/ (types and constants) and flow-table.ts's entry types.
 */
import { type MessageOf, OFPFF } from '../openflow/index.js';
import type { FlowEntry } from './flow-table.js';

export type FlowStatsBody = MessageOf<'OFPFlowStatsReply'>['body'][number];
export type AggregateStatsBody = MessageOf<'OFPAggregateStatsReply'>['body'];
export type FlowRemovedMsg = MessageOf<'OFPFlowRemoved'>;

/** A counter the entry does not keep is reported as the field's maximum (spec 7.2.2, ofp_flow_mod flags). */
const UNAVAILABLE = 0xffff_ffff_ffff_ffffn;

/** Time since install as the spec's (seconds, nanoseconds beyond them). */
export function flowDuration(entry: FlowEntry, now: number): { readonly sec: number; readonly nsec: number } {
  const ms = Math.max(0, now - entry.install_time);
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.floor((ms - sec * 1000) * 1_000_000));
  return { sec, nsec };
}

/** Packet and byte counters as reported: the maximum value for a counter the entry's flags say not to keep. */
function flowCounters(entry: FlowEntry): { readonly packet_count: bigint; readonly byte_count: bigint } {
  return {
    packet_count: entry.flags & OFPFF.NO_PKT_COUNTS ? UNAVAILABLE : BigInt(entry.packet_count),
    byte_count: entry.flags & OFPFF.NO_BYT_COUNTS ? UNAVAILABLE : BigInt(entry.byte_count),
  };
}

/** One ofp_flow_stats for a flow-stats reply. */
export function flowStats(entry: FlowEntry, now: number): FlowStatsBody {
  const d = flowDuration(entry, now);
  const c = flowCounters(entry);
  return {
    table_id: entry.table_id,
    duration_sec: d.sec,
    duration_nsec: d.nsec,
    priority: entry.priority,
    idle_timeout: entry.idle_timeout,
    hard_timeout: entry.hard_timeout,
    flags: entry.flags,
    cookie: entry.cookie,
    packet_count: c.packet_count,
    byte_count: c.byte_count,
    match: entry.match,
    instructions: entry.instructions,
  };
}

/** An aggregate-stats body over entries; counters an entry does not keep add nothing. */
export function aggregateStats(entries: Iterable<FlowEntry>): AggregateStatsBody {
  let packets = 0n;
  let bytes = 0n;
  let n = 0;
  for (const e of entries) {
    n++;
    if (!(e.flags & OFPFF.NO_PKT_COUNTS)) packets += BigInt(e.packet_count);
    if (!(e.flags & OFPFF.NO_BYT_COUNTS)) bytes += BigInt(e.byte_count);
  }
  return { packet_count: packets, byte_count: bytes, flow_count: n };
}

/** The flow-removed message for an entry (send it only when the entry has OFPFF_SEND_FLOW_REM). */
export function flowRemoved(entry: FlowEntry, reason: number, now: number, xid = 0): FlowRemovedMsg {
  const d = flowDuration(entry, now);
  const c = flowCounters(entry);
  return {
    type: 'OFPFlowRemoved',
    xid,
    cookie: entry.cookie,
    priority: entry.priority,
    reason,
    table_id: entry.table_id,
    duration_sec: d.sec,
    duration_nsec: d.nsec,
    idle_timeout: entry.idle_timeout,
    hard_timeout: entry.hard_timeout,
    packet_count: c.packet_count,
    byte_count: c.byte_count,
    match: entry.match,
  };
}
