/**
 * Multipart replies (OF1.3 §7.3.5): the switch's answer to every multipart request it supports (switch
 * desc; flow and aggregate stats; table stats and features; port stats and desc; queue stats; group stats,
 * desc and features; meter stats, config and features), each split into messages under 64 KiB with
 * REPLY_MORE on all but the last. Read-only: nothing here changes the switch.
 *
 * May import: openflow/index.ts, switch/errors.ts, and the switch parts it reports on (flow-table.ts,
 * flow-messages.ts, compiled-match.ts, group-table.ts, meter-table.ts, datapath-ports.ts, actions.ts).
 */
import {
  type MessageOf,
  type OFPMessage,
  OFPAT,
  OFPBRC,
  OFPET,
  OFPIT,
  OFPMPF,
  OFPP,
  OFPQ,
  OFPQOFC,
  OFPTFFC,
  OFPTFPT,
  OFPTT,
  OXM_BASIC,
  encodedLength,
} from '../openflow/index.js';
import { SETTABLE_FIELDS } from './actions.js';
import { compileMatch } from './compiled-match.js';
import { type PortRec, portDesc } from './datapath-ports.js';
import { OFPError } from './errors.js';
import { aggregateStats, flowStats } from './flow-messages.js';
import type { FlowEntry, FlowFilter, FlowTable } from './flow-table.js';
import type { GroupTable } from './group-table.js';
import type { MeterTable } from './meter-table.js';

/** What a multipart reply reads from the switch. */
export interface MultipartSource {
  /** The datapath's name (dp_desc). */
  readonly name: string;
  /** Most entries a flow table holds (table features' max_entries). */
  readonly maxFlows: number;
  readonly tables: readonly FlowTable[];
  readonly groups: GroupTable;
  readonly meters: MeterTable;
  readonly ports: ReadonlyMap<number, PortRec>;
}

/** The largest body put in one reply message: what fits under 64 KiB with the header. */
const MAX_REPLY = 0xff00;

/** The instructions and actions this switch supports, as table features report them. */
const INSTRUCTION_TYPES = [OFPIT.GOTO_TABLE, OFPIT.WRITE_METADATA, OFPIT.WRITE_ACTIONS, OFPIT.APPLY_ACTIONS, OFPIT.CLEAR_ACTIONS, OFPIT.METER];
const ACTION_TYPES = [
  OFPAT.OUTPUT, OFPAT.COPY_TTL_OUT, OFPAT.COPY_TTL_IN, OFPAT.SET_MPLS_TTL, OFPAT.DEC_MPLS_TTL, OFPAT.PUSH_VLAN, OFPAT.POP_VLAN,
  OFPAT.PUSH_MPLS, OFPAT.POP_MPLS, OFPAT.SET_QUEUE, OFPAT.GROUP, OFPAT.SET_NW_TTL, OFPAT.DEC_NW_TTL, OFPAT.SET_FIELD,
  OFPAT.PUSH_PBB, OFPAT.POP_PBB,
];

/** The replies to a multipart request (`now`: the datapath's clock, ms, for durations). */
export function multipartReply(sw: MultipartSource, msg: OFPMessage, now: number): OFPMessage[] {
  const xid = msg.xid;
  switch (msg.type) {
    case 'OFPDescStatsRequest':
      return [{
        type: 'OFPDescStatsReply', xid, flags: 0,
        body: { mfr_desc: 'tinflow', hw_desc: 'tinflow userspace switch', sw_desc: 'tinflow 0.1.0', serial_num: 'None', dp_desc: sw.name },
      }];
    case 'OFPFlowStatsRequest': {
      const entries = selectFlows(sw.tables, msg);
      return split(entries.map((e) => flowStats(e, now)), (body, flags) => ({ type: 'OFPFlowStatsReply', xid, flags, body }));
    }
    case 'OFPAggregateStatsRequest':
      return [{ type: 'OFPAggregateStatsReply', xid, flags: 0, body: aggregateStats(selectFlows(sw.tables, msg)) }];
    case 'OFPTableStatsRequest':
      return split(sw.tables.map((t) => t.stats()), (body, flags) => ({ type: 'OFPTableStatsReply', xid, flags, body }));
    case 'OFPPortStatsRequest': {
      const recs = portsFor(sw.ports, msg.port_no);
      const body = recs.map((r) => {
        const c = r.port.counters();
        const d = (now - r.since) / 1000;
        const sec = Math.floor(d);
        return {
          port_no: r.no, rx_packets: BigInt(c.rxPackets), tx_packets: BigInt(c.txPackets), rx_bytes: BigInt(c.rxBytes), tx_bytes: BigInt(c.txBytes),
          rx_dropped: BigInt(c.rxDropped), tx_dropped: BigInt(c.txDropped), rx_errors: BigInt(c.rxErrors + r.unplainIn), tx_errors: BigInt(c.txErrors + r.unsendable),
          rx_frame_err: 0n, rx_over_err: 0n, rx_crc_err: 0n, collisions: 0n, duration_sec: sec, duration_nsec: Math.floor((d - sec) * 1e9),
        };
      });
      return split(body, (b, flags) => ({ type: 'OFPPortStatsReply', xid, flags, body: b }));
    }
    case 'OFPQueueStatsRequest':
      if (msg.port_no !== OFPP.ANY && !sw.ports.has(msg.port_no)) throw new OFPError(OFPET.QUEUE_OP_FAILED, OFPQOFC.BAD_PORT, `port ${msg.port_no} does not exist`);
      if (msg.queue_id !== OFPQ.ALL) throw new OFPError(OFPET.QUEUE_OP_FAILED, OFPQOFC.BAD_QUEUE, `queue ${msg.queue_id} does not exist`);
      return [{ type: 'OFPQueueStatsReply', xid, flags: 0, body: [] }];
    case 'OFPGroupStatsRequest':
      return split(sw.groups.stats(msg.group_id, now), (body, flags) => ({ type: 'OFPGroupStatsReply', xid, flags, body }));
    case 'OFPGroupDescStatsRequest':
      return split(sw.groups.desc(), (body, flags) => ({ type: 'OFPGroupDescStatsReply', xid, flags, body }));
    case 'OFPGroupFeaturesStatsRequest':
      return [{ type: 'OFPGroupFeaturesStatsReply', xid, flags: 0, body: sw.groups.features() }];
    case 'OFPMeterStatsRequest':
      return split(sw.meters.stats(msg.meter_id, now), (body, flags) => ({ type: 'OFPMeterStatsReply', xid, flags, body }));
    case 'OFPMeterConfigStatsRequest':
      return split(sw.meters.config(msg.meter_id), (body, flags) => ({ type: 'OFPMeterConfigStatsReply', xid, flags, body }));
    case 'OFPMeterFeaturesStatsRequest':
      return [{ type: 'OFPMeterFeaturesStatsReply', xid, flags: 0, body: [sw.meters.features()] }];
    case 'OFPTableFeaturesStatsRequest':
      if (msg.body.length > 0) throw new OFPError(OFPET.TABLE_FEATURES_FAILED, OFPTFFC.EPERM, 'table features cannot be changed on this switch');
      return split(sw.tables.map((t) => tableFeatures(t.tableId, sw.tables.length, sw.maxFlows)), (body, flags) => ({ type: 'OFPTableFeaturesStatsReply', xid, flags, body }));
    case 'OFPPortDescStatsRequest':
      return split([...sw.ports.values()].sort((a, b) => a.no - b.no).map((r) => portDesc(r)), (body, flags) => ({ type: 'OFPPortDescStatsReply', xid, flags, body }));
    case 'OFPExperimenterStatsRequest':
    case 'ONFFlowMonitorStatsRequest':
      throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_EXPERIMENTER, 'experimenter multipart requests are not supported');
    default:
      throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_MULTIPART, `${msg.type} is not supported`);
  }
}

function portsFor(ports: ReadonlyMap<number, PortRec>, portNo: number): PortRec[] {
  if (portNo === OFPP.ANY) return [...ports.values()].sort((a, b) => a.no - b.no);
  const r = ports.get(portNo);
  if (!r) throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_PORT, `port ${portNo} does not exist`);
  return [r];
}

function selectFlows(all: readonly FlowTable[], m: MessageOf<'OFPFlowStatsRequest'> | MessageOf<'OFPAggregateStatsRequest'>): FlowEntry[] {
  const { value, mask } = compileMatch(m.match);
  const filter: FlowFilter = { value, mask, priority: 0, cookie: m.cookie, cookieMask: m.cookie_mask };
  if (m.table_id !== OFPTT.ALL && m.table_id >= all.length) {
    throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_TABLE_ID, `table ${m.table_id} does not exist`);
  }
  const tables = m.table_id === OFPTT.ALL ? all : [all[m.table_id] as FlowTable];
  // by table, then priority, highest first (OVS's classifier order); ties in install order
  return tables.flatMap((t) => t.select(filter, false, m.out_port, m.out_group).sort((a, b) => b.priority - a.priority || a.seq - b.seq));
}

function tableFeatures(tableId: number, nTables: number, maxEntries: number): MessageOf<'OFPTableFeaturesStatsReply'>['body'][number] {
  const instructionIds = INSTRUCTION_TYPES.filter((t) => t !== OFPIT.GOTO_TABLE || tableId < nTables - 1).map((type) => ({ type }));
  const next = Array.from({ length: nTables - tableId - 1 }, (_, i) => tableId + 1 + i);
  const actionIds = ACTION_TYPES.map((type) => ({ type }));
  const oxm = (masked: boolean) => OXM_BASIC.map((d) => ({ type: d.name, hasmask: masked && d.maskable, length: d.size * (masked && d.maskable ? 2 : 1) }));
  const settable = OXM_BASIC.filter((d) => SETTABLE_FIELDS.has(d.name)).map((d) => ({ type: d.name, hasmask: false, length: d.size }));
  return {
    table_id: tableId, name: `table${tableId}`, metadata_match: 0xffffffffffffffffn, metadata_write: 0xffffffffffffffffn, config: 0,
    max_entries: maxEntries,
    properties: [
      { kind: 'OFPTableFeaturePropInstructions', type: OFPTFPT.INSTRUCTIONS, instruction_ids: instructionIds },
      { kind: 'OFPTableFeaturePropInstructions', type: OFPTFPT.INSTRUCTIONS_MISS, instruction_ids: instructionIds },
      { kind: 'OFPTableFeaturePropNextTables', type: OFPTFPT.NEXT_TABLES, table_ids: next },
      { kind: 'OFPTableFeaturePropNextTables', type: OFPTFPT.NEXT_TABLES_MISS, table_ids: next },
      { kind: 'OFPTableFeaturePropActions', type: OFPTFPT.WRITE_ACTIONS, action_ids: actionIds },
      { kind: 'OFPTableFeaturePropActions', type: OFPTFPT.WRITE_ACTIONS_MISS, action_ids: actionIds },
      { kind: 'OFPTableFeaturePropActions', type: OFPTFPT.APPLY_ACTIONS, action_ids: actionIds },
      { kind: 'OFPTableFeaturePropActions', type: OFPTFPT.APPLY_ACTIONS_MISS, action_ids: actionIds },
      { kind: 'OFPTableFeaturePropOxm', type: OFPTFPT.MATCH, oxm_ids: oxm(true) },
      { kind: 'OFPTableFeaturePropOxm', type: OFPTFPT.WILDCARDS, oxm_ids: oxm(false) },
      { kind: 'OFPTableFeaturePropOxm', type: OFPTFPT.WRITE_SETFIELD, oxm_ids: settable },
      { kind: 'OFPTableFeaturePropOxm', type: OFPTFPT.WRITE_SETFIELD_MISS, oxm_ids: settable },
      { kind: 'OFPTableFeaturePropOxm', type: OFPTFPT.APPLY_SETFIELD, oxm_ids: settable },
      { kind: 'OFPTableFeaturePropOxm', type: OFPTFPT.APPLY_SETFIELD_MISS, oxm_ids: settable },
    ],
  };
}

/** Splits a multipart reply body into messages under 64 KiB, all but the last flagged REPLY_MORE. */
function split<B>(body: readonly B[], make: (body: B[], flags: number) => OFPMessage): OFPMessage[] {
  const out: OFPMessage[] = [];
  let chunk: B[] = [];
  let size = 16;
  for (const b of body) {
    const one = encodedLength(make([b], 0)) - 16;
    if (chunk.length > 0 && size + one > MAX_REPLY) {
      out.push(make(chunk, OFPMPF.REPLY_MORE));
      chunk = [];
      size = 16;
    }
    chunk.push(b);
    size += one;
  }
  out.push(make(chunk, 0));
  return out;
}

