/**
 * ofctl's stats: each ofctl_rest GET as a StatsQuery, the request to send and how its replies (all parts
 * of a multipart reply) become the JSON that ofctl_rest puts under the datapath id.
 */
import {
  type Instruction,
  type Json,
  type Match,
  type MessageOf,
  type OFPMessage,
  type Port,
  OFPAT,
  OFPCR_ROLE,
  OFPG,
  OFPGT,
  OFPM,
  OFPMBT,
  OFPMF,
  OFPP,
  OFPQ,
  OFPTFPT,
  OFPTT,
  encode,
  nameOf,
} from '../../openflow/index.js';
import { at } from '../../base/json.js';
import {
  asObj,
  assertNever,
  DPID,
  get,
  groupFromUser,
  groupToUser,
  meterFromUser,
  meterToUser,
  onlyKeys,
  portFromUser,
  portToUser,
  queueFromUser,
  queueToUser,
  roleToUser,
  strToInt,
  tableFromUser,
  tableToUser,
  u64Json,
  uint64,
  uintN,
} from './values.js';
import { actionToStr, actionsToStr } from './actions.js';
import { matchToStr, toMatch } from './match.js';

/** A request and how ofctl shows its replies (the value under the datapath id). */
export interface StatsQuery {
  readonly request: OFPMessage;
  parse(replies: readonly OFPMessage[]): Json;
}

function repliesOf<T extends OFPMessage['type']>(replies: readonly OFPMessage[], type: T): MessageOf<T>[] {
  return replies.filter((m): m is MessageOf<T> => m.type === type);
}

/** The optional id in a stats URL (/stats/port/1/<port>): ofctl_rest maps "ALL" and absence to the wildcard. */
function optionalId(v: string | undefined, wildcard: number, path: string, fromUser: (v: Json, path: string) => number): number {
  if (v === undefined || v === 'ALL') return wildcard;
  return fromUser(v, path);
}

export function getDescStats(): StatsQuery {
  return {
    request: { type: 'OFPDescStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      let s: Json = {};
      for (const m of repliesOf(replies, 'OFPDescStatsReply')) {
        const b = m.body;
        s = { mfr_desc: b.mfr_desc, hw_desc: b.hw_desc, sw_desc: b.sw_desc, serial_num: b.serial_num, dp_desc: b.dp_desc };
      }
      return s;
    },
  };
}

interface FlowFilter {
  readonly table_id: number;
  readonly flags: number;
  readonly out_port: number;
  readonly out_group: number;
  readonly cookie: bigint;
  readonly cookie_mask: bigint;
  readonly match: Match;
}

function flowFilter(flowJ: Json | undefined, path: string, keys: readonly string[]): FlowFilter {
  const flow = asObj(flowJ ?? {}, path);
  onlyKeys(flow, keys, path, 'a flow filter');
  const g = (k: string, dflt: Json): Json => get(flow, k) ?? dflt;
  return {
    table_id: tableFromUser(g('table_id', OFPTT.ALL), at(path, 'table_id')),
    flags: uintN(g('flags', 0), 16, at(path, 'flags')),
    out_port: portFromUser(g('out_port', OFPP.ANY), at(path, 'out_port')),
    out_group: groupFromUser(g('out_group', OFPG.ANY), at(path, 'out_group')),
    cookie: uint64(g('cookie', 0), at(path, 'cookie')),
    cookie_mask: uint64(g('cookie_mask', 0), at(path, 'cookie_mask')),
    match: toMatch(g('match', {}), at(path, 'match')),
  };
}

const FILTER_KEYS = [DPID, 'table_id', 'flags', 'out_port', 'out_group', 'cookie', 'cookie_mask', 'match'];

/**
 * ofctl_v1_3.get_flow_stats. The filter's "priority" is ofctl's own: OpenFlow cannot filter by it, so
 * the replies are.
 */
export function getFlowStats(flowJ?: Json, path = ''): StatsQuery {
  const f = flowFilter(flowJ, path, [...FILTER_KEYS, 'priority']);
  const pj = flowJ === undefined ? undefined : get(asObj(flowJ, path), 'priority');
  const priority = pj === undefined ? -1n : strToInt(pj, at(path, 'priority'));
  return {
    request: { type: 'OFPFlowStatsRequest', xid: 0, ...f },
    parse(replies) {
      const flows: Json[] = [];
      for (const m of repliesOf(replies, 'OFPFlowStatsReply')) {
        for (const s of m.body) {
          if (priority >= 0n && BigInt(s.priority) !== priority) continue;
          flows.push({
            priority: s.priority,
            cookie: u64Json(s.cookie),
            idle_timeout: s.idle_timeout,
            hard_timeout: s.hard_timeout,
            byte_count: u64Json(s.byte_count),
            duration_sec: s.duration_sec,
            duration_nsec: s.duration_nsec,
            packet_count: u64Json(s.packet_count),
            length: flowStatsLength(s.match, s.instructions),
            flags: s.flags,
            actions: actionsToStr(s.instructions),
            match: matchToStr(s.match),
            table_id: tableToUser(s.table_id),
          });
        }
      }
      return flows;
    },
  };
}

/** ofp_flow_stats' length: the reply's own field is consumed by the codec, so it is recomputed. */
function flowStatsLength(match: Match, instructions: readonly Instruction[]): number {
  const reply: MessageOf<'OFPFlowStatsReply'> = {
    type: 'OFPFlowStatsReply', xid: 0, flags: 0,
    body: [{ table_id: 0, duration_sec: 0, duration_nsec: 0, priority: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, cookie: 0n, packet_count: 0n, byte_count: 0n, match, instructions }],
  };
  return encode(reply).length - 16;
}

/** ofctl_v1_3.get_aggregate_flow_stats. */
export function getAggregateFlowStats(flowJ?: Json, path = ''): StatsQuery {
  const f = flowFilter(flowJ, path, FILTER_KEYS);
  return {
    request: { type: 'OFPAggregateStatsRequest', xid: 0, ...f },
    parse(replies) {
      return repliesOf(replies, 'OFPAggregateStatsReply').map((m) => ({
        packet_count: u64Json(m.body.packet_count),
        byte_count: u64Json(m.body.byte_count),
        flow_count: m.body.flow_count,
      }));
    },
  };
}

export function getTableStats(): StatsQuery {
  return {
    request: { type: 'OFPTableStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPTableStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          active_count: s.active_count,
          lookup_count: u64Json(s.lookup_count),
          matched_count: u64Json(s.matched_count),
          table_id: tableToUser(s.table_id),
        })),
      );
    },
  };
}

export function getTableFeatures(): StatsQuery {
  return {
    request: { type: 'OFPTableFeaturesStatsRequest', xid: 0, flags: 0, body: [] },
    parse(replies) {
      const tables: Json[] = [];
      for (const m of repliesOf(replies, 'OFPTableFeaturesStatsReply')) {
        for (const s of m.body) {
          const properties = s.properties.map((prop): Json => {
            const p: Record<string, Json> = { type: nameOf(OFPTFPT, prop.type) ?? 'UNKNOWN' };
            switch (prop.kind) {
              case 'OFPTableFeaturePropInstructions':
                p['instruction_ids'] = prop.instruction_ids.map((i) => ({ len: i.experimenter === undefined ? 4 : 8, type: i.type }));
                break;
              case 'OFPTableFeaturePropNextTables':
                p['table_ids'] = [...prop.table_ids];
                break;
              case 'OFPTableFeaturePropActions':
                p['action_ids'] = prop.action_ids.map((i) => ({ len: i.experimenter === undefined ? 4 : 8, type: i.type }));
                break;
              case 'OFPTableFeaturePropOxm':
                p['oxm_ids'] = prop.oxm_ids.map((i) => ({ hasmask: i.hasmask ? 1 : 0, length: i.length, type: i.type }));
                break;
              case 'OFPTableFeaturePropExperimenter':
              case 'OFPTableFeaturePropUnknown':
                break;
              default:
                assertNever(prop);
            }
            return p;
          });
          tables.push({
            name: s.name,
            metadata_match: u64Json(s.metadata_match),
            metadata_write: u64Json(s.metadata_write),
            config: s.config,
            max_entries: s.max_entries,
            properties,
            table_id: tableToUser(s.table_id),
          });
        }
      }
      return tables;
    },
  };
}

/** ofctl_v1_3.get_port_stats; `port` is the URL's (absent or "ALL": every port). */
export function getPortStats(port?: string, path = 'port'): StatsQuery {
  return {
    request: { type: 'OFPPortStatsRequest', xid: 0, flags: 0, port_no: optionalId(port, OFPP.ANY, path, portFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPPortStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          rx_packets: u64Json(s.rx_packets),
          tx_packets: u64Json(s.tx_packets),
          rx_bytes: u64Json(s.rx_bytes),
          tx_bytes: u64Json(s.tx_bytes),
          rx_dropped: u64Json(s.rx_dropped),
          tx_dropped: u64Json(s.tx_dropped),
          rx_errors: u64Json(s.rx_errors),
          tx_errors: u64Json(s.tx_errors),
          rx_frame_err: u64Json(s.rx_frame_err),
          rx_over_err: u64Json(s.rx_over_err),
          rx_crc_err: u64Json(s.rx_crc_err),
          collisions: u64Json(s.collisions),
          duration_sec: s.duration_sec,
          duration_nsec: s.duration_nsec,
          port_no: portToUser(s.port_no),
        })),
      );
    },
  };
}

/** ofctl_v1_3.get_port_desc. `portNo` (the URL's) keeps one port; os-ken ignores it before OpenFlow 1.5. */
export function getPortDesc(portNo?: string, path = 'port_no'): StatsQuery {
  const only = portNo === undefined || portNo === 'ALL' ? undefined : portFromUser(portNo, path);
  return {
    request: { type: 'OFPPortDescStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPPortDescStatsReply').flatMap((m) =>
        m.body.filter((p) => only === undefined || p.port_no === only).map((p) => portDescJson(p)),
      );
    },
  };
}

function portDescJson(p: Port): Json {
  return {
    hw_addr: p.hw_addr,
    name: p.name,
    config: p.config,
    state: p.state,
    curr: p.curr,
    advertised: p.advertised,
    supported: p.supported,
    peer: p.peer,
    curr_speed: p.curr_speed,
    max_speed: p.max_speed,
    port_no: portToUser(p.port_no),
  };
}

/** ofctl_v1_3.get_queue_stats. */
export function getQueueStats(port?: string, queueId?: string): StatsQuery {
  return {
    request: {
      type: 'OFPQueueStatsRequest', xid: 0, flags: 0,
      port_no: optionalId(port, OFPP.ANY, 'port', portFromUser),
      queue_id: optionalId(queueId, OFPQ.ALL, 'queue_id', queueFromUser),
    },
    parse(replies) {
      return repliesOf(replies, 'OFPQueueStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          duration_nsec: s.duration_nsec,
          duration_sec: s.duration_sec,
          port_no: s.port_no,
          queue_id: s.queue_id,
          tx_bytes: u64Json(s.tx_bytes),
          tx_errors: u64Json(s.tx_errors),
          tx_packets: u64Json(s.tx_packets),
        })),
      );
    },
  };
}

/** ofctl_v1_3.get_queue_config (an OFPT_QUEUE_GET_CONFIG request, not a multipart one). */
export function getQueueConfig(port?: string): StatsQuery {
  return {
    request: { type: 'OFPQueueGetConfigRequest', xid: 0, port: optionalId(port, OFPP.ANY, 'port', portFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPQueueGetConfigReply').map((c) => ({
        queues: c.queues.map((q) => ({
          properties: q.properties.map((prop): Json => {
            switch (prop.kind) {
              case 'OFPQueuePropMinRate':
                return { property: 'MIN_RATE', rate: prop.rate };
              case 'OFPQueuePropMaxRate':
                return { property: 'MAX_RATE', rate: prop.rate };
              case 'OFPQueuePropExperimenter':
                return { property: 'EXPERIMENTER', experimenter: prop.experimenter, data: [...prop.data] };
              default:
                return assertNever(prop);
            }
          }),
          port: portToUser(q.port),
          queue_id: queueToUser(q.queue_id),
        })),
        port: portToUser(c.port),
      }));
    },
  };
}

const GROUP_TYPE_NAMES: readonly (readonly [number, string])[] = [[OFPGT.ALL, 'ALL'], [OFPGT.SELECT, 'SELECT'], [OFPGT.INDIRECT, 'INDIRECT'], [OFPGT.FF, 'FF']];

/** ofctl_v1_3.get_group_stats. */
export function getGroupStats(groupId?: string): StatsQuery {
  return {
    request: { type: 'OFPGroupStatsRequest', xid: 0, flags: 0, group_id: optionalId(groupId, OFPG.ALL, 'group_id', groupFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPGroupStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          length: 40 + 16 * s.bucket_stats.length,
          ref_count: s.ref_count,
          packet_count: u64Json(s.packet_count),
          byte_count: u64Json(s.byte_count),
          duration_sec: s.duration_sec,
          duration_nsec: s.duration_nsec,
          bucket_stats: s.bucket_stats.map((b) => ({ packet_count: u64Json(b.packet_count), byte_count: u64Json(b.byte_count) })),
          group_id: groupToUser(s.group_id),
        })),
      );
    },
  };
}

/**
 * ofctl_v1_3.get_group_desc. `groupId` (the URL's) keeps one group; os-ken ignores it before OpenFlow 1.5.
 */
export function getGroupDesc(groupId?: string): StatsQuery {
  const only = groupId === undefined || groupId === 'ALL' ? undefined : groupFromUser(groupId, 'group_id');
  return {
    request: { type: 'OFPGroupDescStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPGroupDescStatsReply').flatMap((m) =>
        m.body
          .filter((d) => only === undefined || d.group_id === only)
          .map((d) => ({
            buckets: d.buckets.map((b) => ({ weight: b.weight, watch_port: b.watch_port, watch_group: b.watch_group, actions: b.actions.map(actionToStr) })),
            group_id: groupToUser(d.group_id),
            type: GROUP_TYPE_NAMES.find(([k]) => k === d.type)?.[1] ?? null,
          })),
      );
    },
  };
}

const GROUP_CAPS: readonly (readonly [number, string])[] = [[1, 'SELECT_WEIGHT'], [2, 'SELECT_LIVENESS'], [4, 'CHAINING'], [8, 'CHAINING_CHECKS']];
const GROUP_FEATURE_ACTIONS: readonly (readonly [number, string])[] = [
  [OFPAT.OUTPUT, 'OUTPUT'], [OFPAT.COPY_TTL_OUT, 'COPY_TTL_OUT'], [OFPAT.COPY_TTL_IN, 'COPY_TTL_IN'], [OFPAT.SET_MPLS_TTL, 'SET_MPLS_TTL'],
  [OFPAT.DEC_MPLS_TTL, 'DEC_MPLS_TTL'], [OFPAT.PUSH_VLAN, 'PUSH_VLAN'], [OFPAT.POP_VLAN, 'POP_VLAN'], [OFPAT.PUSH_MPLS, 'PUSH_MPLS'],
  [OFPAT.POP_MPLS, 'POP_MPLS'], [OFPAT.SET_QUEUE, 'SET_QUEUE'], [OFPAT.GROUP, 'GROUP'], [OFPAT.SET_NW_TTL, 'SET_NW_TTL'],
  [OFPAT.DEC_NW_TTL, 'DEC_NW_TTL'], [OFPAT.SET_FIELD, 'SET_FIELD'], [OFPAT.PUSH_PBB, 'PUSH_PBB'], [OFPAT.POP_PBB, 'POP_PBB'],
];

/** Bit n of a bitmap (n may exceed 31, as (1 << k) does in Python). */
function bit(map: number, n: number): boolean {
  return n < 32 && ((map >>> n) & 1) === 1;
}

/** ofctl_v1_3.get_group_features. */
export function getGroupFeatures(): StatsQuery {
  return {
    request: { type: 'OFPGroupFeaturesStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPGroupFeaturesStatsReply').map((m) => {
        const f = m.body;
        return {
          types: GROUP_TYPE_NAMES.filter(([k]) => bit(f.types, k)).map(([, v]) => v),
          capabilities: GROUP_CAPS.filter(([k]) => (f.capabilities & k) !== 0).map(([, v]) => v),
          max_groups: GROUP_TYPE_NAMES.map(([k, v]) => ({ [v]: f.max_groups[k] ?? 0 })),
          actions: GROUP_TYPE_NAMES.map(([k, v]) => ({ [v]: GROUP_FEATURE_ACTIONS.filter(([a]) => bit(f.actions[k] ?? 0, a)).map(([, n]) => n) })),
        };
      });
    },
  };
}

/** ofctl_v1_3.get_meter_stats. */
export function getMeterStats(meterId?: string): StatsQuery {
  return {
    request: { type: 'OFPMeterStatsRequest', xid: 0, flags: 0, meter_id: optionalId(meterId, OFPM.ALL, 'meter_id', meterFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPMeterStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          len: 40 + 16 * s.band_stats.length,
          flow_count: s.flow_count,
          packet_in_count: u64Json(s.packet_in_count),
          byte_in_count: u64Json(s.byte_in_count),
          duration_sec: s.duration_sec,
          duration_nsec: s.duration_nsec,
          band_stats: s.band_stats.map((b) => ({ packet_band_count: u64Json(b.packet_band_count), byte_band_count: u64Json(b.byte_band_count) })),
          meter_id: meterToUser(s.meter_id),
        })),
      );
    },
  };
}

const METER_FLAG_NAMES: readonly (readonly [number, string])[] = [[OFPMF.KBPS, 'KBPS'], [OFPMF.PKTPS, 'PKTPS'], [OFPMF.BURST, 'BURST'], [OFPMF.STATS, 'STATS']];
const BAND_TYPE_NAMES: readonly (readonly [number, string])[] = [[OFPMBT.DROP, 'DROP'], [OFPMBT.DSCP_REMARK, 'DSCP_REMARK']];

/** ofctl_v1_3.get_meter_config. */
export function getMeterConfig(meterId?: string): StatsQuery {
  return {
    request: { type: 'OFPMeterConfigStatsRequest', xid: 0, flags: 0, meter_id: optionalId(meterId, OFPM.ALL, 'meter_id', meterFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPMeterConfigStatsReply').flatMap((m) =>
        m.body.map((c) => ({
          flags: METER_FLAG_NAMES.filter(([k]) => (c.flags & k) !== 0).map(([, v]) => v),
          bands: c.bands.map((b): Json => {
            switch (b.kind) {
              case 'OFPMeterBandDrop':
                return { rate: b.rate, burst_size: b.burst_size, type: 'DROP' };
              case 'OFPMeterBandDscpRemark':
                return { rate: b.rate, burst_size: b.burst_size, type: 'DSCP_REMARK', prec_level: b.prec_level };
              case 'OFPMeterBandExperimenter':
                return { rate: b.rate, burst_size: b.burst_size, type: 'EXPERIMENTER', experimenter: b.experimenter };
              default:
                return assertNever(b);
            }
          }),
          meter_id: meterToUser(c.meter_id),
        })),
      );
    },
  };
}

/** ofctl_v1_3.get_meter_features. */
export function getMeterFeatures(): StatsQuery {
  return {
    request: { type: 'OFPMeterFeaturesStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPMeterFeaturesStatsReply').flatMap((m) =>
        m.body.map((f) => ({
          max_meter: f.max_meter,
          band_types: BAND_TYPE_NAMES.filter(([k]) => bit(f.band_types, k)).map(([, v]) => v),
          capabilities: METER_FLAG_NAMES.filter(([k]) => (f.capabilities & k) !== 0).map(([, v]) => v),
          max_bands: f.max_bands,
          max_color: f.max_color,
        })),
      );
    },
  };
}

/** ofctl_utils.get_role: a role request that changes nothing, and the role named. */
export function getRole(): StatsQuery {
  return {
    request: { type: 'OFPRoleRequest', xid: 0, role: OFPCR_ROLE.NOCHANGE, generation_id: 0n },
    parse(replies) {
      return repliesOf(replies, 'OFPRoleReply').map((m) => ({ generation_id: u64Json(m.generation_id), role: roleToUser(m.role) }));
    },
  };
}
