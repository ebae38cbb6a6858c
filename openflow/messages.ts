/**
 * Every OpenFlow 1.3 message, as one discriminated union on `type` (the Ryu class name), and the codec
 * that dispatches on the header's type (and, for multipart, on the multipart type).
 */
import { type Action, ActionCodec } from './actions.js';
import {
  Bucket,
  HelloElemCodec,
  MeterBandCodec,
  PacketQueue,
  Port,
  TableFeaturePropCodec,
} from './common.js';
import { OFPBRC, OFPET, OFPMP, OFPT, OFP_VERSION, ONF_EXPERIMENTER_ID } from './consts.js';
import { type Instruction, InstructionCodec } from './instructions.js';
import { b64, isObject, jsonError, toB64, uint, unwrap } from './json.js';
import { type Match, MatchCodec, type OxmTlv, OxmTlvCodec, matchOxmLength } from './oxm.js';
import { encodeRyuPacket } from './ryu-packet.js';
import {
  type Codec,
  type CodecValue,
  type Field,
  bytesRest,
  constant,
  lenOf,
  list,
  mac,
  one,
  pad,
  selfLen,
  struct,
  text,
  u16,
  u32,
  u32s,
  u64,
  u8,
  variant,
  xid,
} from './struct.js';
import { Reader, align8, zero } from './wire.js';


const matchF = <K extends string>(key: K) => one(key, MatchCodec as Codec<Match>);
const actionsF = <K extends string>(key: K) => list(key, ActionCodec as Codec<Action>);
const instructionsF = <K extends string>(key: K) => list(key, InstructionCodec as Codec<Instruction>);

/** Header fields: version, type, length (written last), xid. */
const header = (t: number) => [constant(1, OFP_VERSION), constant(1, t), selfLen(''), xid()] as const;
const mopt = { tag: 'type' } as const;

/**
 * packet-out data: raw bytes. Ryu writes null when there is none (a buffered packet-out), and accepts a
 * packet-library object (`{"Packet": {"protocols": [...]}}`) as well as base64.
 */
function packetData(): Field<'data', Buffer> {
  const raw = bytesRest('data');
  return {
    ...raw,
    json(o, out, st) {
      if ((o['data'] as Buffer).length === 0) out['data'] = null;
      else raw.json(o, out, st);
    },
    parse(j, o, path) {
      const d = j['data'];
      if (d === null || d === undefined) o['data'] = Buffer.alloc(0);
      else if (isObject(d)) o['data'] = encodeRyuPacket(d, `${path}.data`);
      else raw.parse(j, o, path);
    },
  };
}

// ---- symmetric and switch-config messages ----
export const Hello = struct('OFPHello', [...header(OFPT.HELLO), list('elements', HelloElemCodec)], mopt);
export const EchoRequest = struct('OFPEchoRequest', [...header(OFPT.ECHO_REQUEST), bytesRest('data')], mopt);
export const EchoReply = struct('OFPEchoReply', [...header(OFPT.ECHO_REPLY), bytesRest('data')], mopt);
export const Experimenter = struct(
  'OFPExperimenter',
  [...header(OFPT.EXPERIMENTER), u32('experimenter'), u32('exp_type'), bytesRest('data')],
  mopt,
);
export const FeaturesRequest = struct('OFPFeaturesRequest', [...header(OFPT.FEATURES_REQUEST)], mopt);
export const SwitchFeatures = struct(
  'OFPSwitchFeatures',
  [...header(OFPT.FEATURES_REPLY), u64('datapath_id'), u32('n_buffers'), u8('n_tables'), u8('auxiliary_id'), pad(2), u32('capabilities'), pad(4)],
  mopt,
);
export const GetConfigRequest = struct('OFPGetConfigRequest', [...header(OFPT.GET_CONFIG_REQUEST)], mopt);
export const GetConfigReply = struct('OFPGetConfigReply', [...header(OFPT.GET_CONFIG_REPLY), u16('flags'), u16('miss_send_len')], mopt);
export const SetConfig = struct('OFPSetConfig', [...header(OFPT.SET_CONFIG), u16('flags'), u16('miss_send_len')], mopt);

// ---- asynchronous messages ----
export const PacketIn = struct(
  'OFPPacketIn',
  [...header(OFPT.PACKET_IN), u32('buffer_id'), u16('total_len'), u8('reason'), u8('table_id'), u64('cookie'), matchF('match'), pad(2), bytesRest('data')],
  mopt,
);
export const FlowRemoved = struct(
  'OFPFlowRemoved',
  [
    ...header(OFPT.FLOW_REMOVED), u64('cookie'), u16('priority'), u8('reason'), u8('table_id'), u32('duration_sec'),
    u32('duration_nsec'), u16('idle_timeout'), u16('hard_timeout'), u64('packet_count'), u64('byte_count'), matchF('match'),
  ],
  mopt,
);
export const PortStatus = struct('OFPPortStatus', [...header(OFPT.PORT_STATUS), u8('reason'), pad(7), one('desc', Port)], mopt);

// ---- controller commands ----
export const PacketOut = struct(
  'OFPPacketOut',
  [...header(OFPT.PACKET_OUT), u32('buffer_id'), u32('in_port'), lenOf('actions_len', 'actions'), pad(6), actionsF('actions'), packetData()],
  mopt,
);
export const FlowMod = struct(
  'OFPFlowMod',
  [
    ...header(OFPT.FLOW_MOD), u64('cookie'), u64('cookie_mask'), u8('table_id'), u8('command'), u16('idle_timeout'),
    u16('hard_timeout'), u16('priority'), u32('buffer_id'), u32('out_port'), u32('out_group'), u16('flags'), pad(2),
    matchF('match'), instructionsF('instructions'),
  ],
  mopt,
);
export const GroupMod = struct(
  'OFPGroupMod',
  [...header(OFPT.GROUP_MOD), u16('command'), u8('group_type', { json: 'type' }), pad(1), u32('group_id'), list('buckets', Bucket)],
  mopt,
);
export const PortMod = struct(
  'OFPPortMod',
  [...header(OFPT.PORT_MOD), u32('port_no'), pad(4), mac('hw_addr'), pad(2), u32('config'), u32('mask'), u32('advertise'), pad(4)],
  mopt,
);
export const TableMod = struct('OFPTableMod', [...header(OFPT.TABLE_MOD), u8('table_id'), pad(3), u32('config')], mopt);
export const MeterMod = struct(
  'OFPMeterMod',
  [...header(OFPT.METER_MOD), u16('command'), u16('flags'), u32('meter_id'), list('bands', MeterBandCodec)],
  mopt,
);
export const BarrierRequest = struct('OFPBarrierRequest', [...header(OFPT.BARRIER_REQUEST)], mopt);
export const BarrierReply = struct('OFPBarrierReply', [...header(OFPT.BARRIER_REPLY)], mopt);
export const QueueGetConfigRequest = struct('OFPQueueGetConfigRequest', [...header(OFPT.QUEUE_GET_CONFIG_REQUEST), u32('port'), pad(4)], mopt);
export const QueueGetConfigReply = struct(
  'OFPQueueGetConfigReply',
  [...header(OFPT.QUEUE_GET_CONFIG_REPLY), u32('port'), pad(4), list('queues', PacketQueue)],
  mopt,
);
export const RoleRequest = struct('OFPRoleRequest', [...header(OFPT.ROLE_REQUEST), u32('role'), pad(4), u64('generation_id')], mopt);
export const RoleReply = struct('OFPRoleReply', [...header(OFPT.ROLE_REPLY), u32('role'), pad(4), u64('generation_id')], mopt);
export const GetAsyncRequest = struct('OFPGetAsyncRequest', [...header(OFPT.GET_ASYNC_REQUEST)], mopt);
const asyncFields = [u32s('packet_in_mask', 2), u32s('port_status_mask', 2), u32s('flow_removed_mask', 2)] as const;
export const GetAsyncReply = struct('OFPGetAsyncReply', [...header(OFPT.GET_ASYNC_REPLY), ...asyncFields], mopt);
export const SetAsync = struct('OFPSetAsync', [...header(OFPT.SET_ASYNC), ...asyncFields], mopt);

// ---- error ----
export interface ErrorMsg {
  readonly type: 'OFPErrorMsg';
  readonly xid: number;
  /** OFPET_*; 0xffff for an experimenter error. */
  readonly err_type: number;
  /** Code within err_type; absent for experimenter errors. */
  readonly code?: number;
  readonly exp_type?: number;
  readonly experimenter?: number;
  readonly data: Buffer;
}

export const ErrorMsgCodec: Codec<ErrorMsg> = {
  cls: 'OFPErrorMsg',
  size: (m) => (m.err_type === 0xffff ? 16 : 12) + m.data.length,
  write(m, buf, off) {
    const start = off;
    off = buf.writeUInt8(OFP_VERSION, off);
    off = buf.writeUInt8(OFPT.ERROR, off);
    off += 2;
    off = buf.writeUInt32BE(m.xid, off);
    off = buf.writeUInt16BE(m.err_type, off);
    if (m.err_type === 0xffff) {
      off = buf.writeUInt16BE(m.exp_type ?? 0, off);
      off = buf.writeUInt32BE(m.experimenter ?? 0, off);
    } else {
      off = buf.writeUInt16BE(m.code ?? 0, off);
    }
    buf.set(m.data, off);
    off += m.data.length;
    buf.writeUInt16BE(off - start, start + 2);
    return off;
  },
  read(r) {
    const start = r.pos;
    r.skip(2, 'header');
    const len = r.u16('length');
    return r.withEnd(len - 4, 'OFPErrorMsg', () => {
      const x = r.u32('xid');
      const err_type = r.u16('error type');
      if (err_type === 0xffff) {
        const exp_type = r.u16('exp_type');
        const experimenter = r.u32('experimenter');
        return { type: 'OFPErrorMsg' as const, xid: x, err_type, exp_type, experimenter, data: r.bytes(r.remaining) };
      }
      const code = r.u16('error code');
      return { type: 'OFPErrorMsg' as const, xid: x, err_type, code, data: r.bytes(r.remaining) };
    }, undefined);
    void start;
  },
  toJson(m) {
    const data = toB64(m.data);
    if (m.err_type === 0xffff) {
      return { OFPErrorMsg: { code: null, data, exp_type: m.exp_type ?? 0, experimenter: m.experimenter ?? 0, type: m.err_type } };
    }
    return { OFPErrorMsg: { code: m.code ?? 0, data, type: m.err_type } };
  },
  fromJson(j, path) {
    const [name, o] = unwrap(j, path);
    const p = `${path}.${name}`;
    if (name !== 'OFPErrorMsg') throw jsonError(path, `expected OFPErrorMsg, got ${name}`);
    const x = o['xid'] === undefined ? 0 : uint(o['xid'], 32, `${p}.xid`);
    const err_type = uint(o['type'], 16, `${p}.type`);
    const data = o['data'] === undefined ? Buffer.alloc(0) : b64(o['data'], `${p}.data`);
    if (err_type === 0xffff) {
      return {
        type: 'OFPErrorMsg', xid: x, err_type, data,
        exp_type: uint(o['exp_type'], 16, `${p}.exp_type`),
        experimenter: uint(o['experimenter'], 32, `${p}.experimenter`),
      };
    }
    return { type: 'OFPErrorMsg', xid: x, err_type, code: uint(o['code'], 16, `${p}.code`), data };
  },
};

// ---- multipart ----
const mpReq = (t: number) => [...header(OFPT.MULTIPART_REQUEST), constant(2, t, 'type'), u16('flags'), pad(4)] as const;
const mpRep = (t: number) => [...header(OFPT.MULTIPART_REPLY), constant(2, t, 'type'), u16('flags'), pad(4)] as const;

export const DescStats = struct('OFPDescStats', [
  text('mfr_desc', 256), text('hw_desc', 256), text('sw_desc', 256), text('serial_num', 32), text('dp_desc', 256),
]);
export const FlowStats = struct('OFPFlowStats', [
  selfLen('length'), u8('table_id'), pad(1), u32('duration_sec'), u32('duration_nsec'), u16('priority'), u16('idle_timeout'),
  u16('hard_timeout'), u16('flags'), pad(4), u64('cookie'), u64('packet_count'), u64('byte_count'), matchF('match'),
  instructionsF('instructions'),
]);
export const AggregateStats = struct('OFPAggregateStats', [u64('packet_count'), u64('byte_count'), u32('flow_count'), pad(4)]);
export const TableStats = struct('OFPTableStats', [u8('table_id'), pad(3), u32('active_count'), u64('lookup_count'), u64('matched_count')]);
export const PortStats = struct('OFPPortStats', [
  u32('port_no'), pad(4), u64('rx_packets'), u64('tx_packets'), u64('rx_bytes'), u64('tx_bytes'), u64('rx_dropped'),
  u64('tx_dropped'), u64('rx_errors'), u64('tx_errors'), u64('rx_frame_err'), u64('rx_over_err'), u64('rx_crc_err'),
  u64('collisions'), u32('duration_sec'), u32('duration_nsec'),
]);
export const QueueStats = struct('OFPQueueStats', [
  u32('port_no'), u32('queue_id'), u64('tx_bytes'), u64('tx_packets'), u64('tx_errors'), u32('duration_sec'), u32('duration_nsec'),
]);
export const BucketCounter = struct('OFPBucketCounter', [u64('packet_count'), u64('byte_count')]);
export const GroupStats = struct('OFPGroupStats', [
  selfLen('length'), pad(2), u32('group_id'), u32('ref_count'), pad(4), u64('packet_count'), u64('byte_count'),
  u32('duration_sec'), u32('duration_nsec'), list('bucket_stats', BucketCounter),
]);
export const GroupDescStats = struct('OFPGroupDescStats', [selfLen('length'), u8('type'), pad(1), u32('group_id'), list('buckets', Bucket)]);
export const GroupFeaturesStats = struct('OFPGroupFeaturesStats', [
  u32('types'), u32('capabilities'), u32s('max_groups', 4), u32s('actions', 4),
]);
export const MeterBandStats = struct('OFPMeterBandStats', [u64('packet_band_count'), u64('byte_band_count')]);
export const MeterStats = struct('OFPMeterStats', [
  u32('meter_id'), selfLen('len'), pad(6), u32('flow_count'), u64('packet_in_count'), u64('byte_in_count'),
  u32('duration_sec'), u32('duration_nsec'), list('band_stats', MeterBandStats),
]);
export const MeterConfigStats = struct('OFPMeterConfigStats', [selfLen('length'), u16('flags'), u32('meter_id'), list('bands', MeterBandCodec)]);
export const MeterFeaturesStats = struct('OFPMeterFeaturesStats', [
  u32('max_meter'), u32('band_types'), u32('capabilities'), u8('max_bands'), u8('max_color'), pad(2),
]);
export const TableFeaturesStats = struct('OFPTableFeaturesStats', [
  selfLen('length'), u8('table_id'), pad(5), text('name', 32), u64('metadata_match'), u64('metadata_write'), u32('config'),
  u32('max_entries'), list('properties', TableFeaturePropCodec),
]);
export const ExperimenterMultipart = struct('OFPExperimenterMultipart', [u32('experimenter'), u32('exp_type'), bytesRest('data')]);

const flowStatsReqFields = [
  u8('table_id'), pad(3), u32('out_port'), u32('out_group'), pad(4), u64('cookie'), u64('cookie_mask'), matchF('match'),
] as const;

export const DescStatsRequest = struct('OFPDescStatsRequest', [...mpReq(OFPMP.DESC)], mopt);
export const DescStatsReply = struct('OFPDescStatsReply', [...mpRep(OFPMP.DESC), one('body', DescStats)], mopt);
export const FlowStatsRequest = struct('OFPFlowStatsRequest', [...mpReq(OFPMP.FLOW), ...flowStatsReqFields], mopt);
export const FlowStatsReply = struct('OFPFlowStatsReply', [...mpRep(OFPMP.FLOW), list('body', FlowStats)], mopt);
export const AggregateStatsRequest = struct('OFPAggregateStatsRequest', [...mpReq(OFPMP.AGGREGATE), ...flowStatsReqFields], mopt);
export const AggregateStatsReply = struct('OFPAggregateStatsReply', [...mpRep(OFPMP.AGGREGATE), one('body', AggregateStats)], mopt);
export const TableStatsRequest = struct('OFPTableStatsRequest', [...mpReq(OFPMP.TABLE)], mopt);
export const TableStatsReply = struct('OFPTableStatsReply', [...mpRep(OFPMP.TABLE), list('body', TableStats)], mopt);
export const PortStatsRequest = struct('OFPPortStatsRequest', [...mpReq(OFPMP.PORT_STATS), u32('port_no'), pad(4)], mopt);
export const PortStatsReply = struct('OFPPortStatsReply', [...mpRep(OFPMP.PORT_STATS), list('body', PortStats)], mopt);
export const QueueStatsRequest = struct('OFPQueueStatsRequest', [...mpReq(OFPMP.QUEUE), u32('port_no'), u32('queue_id')], mopt);
export const QueueStatsReply = struct('OFPQueueStatsReply', [...mpRep(OFPMP.QUEUE), list('body', QueueStats)], mopt);
export const GroupStatsRequest = struct('OFPGroupStatsRequest', [...mpReq(OFPMP.GROUP), u32('group_id'), pad(4)], mopt);
export const GroupStatsReply = struct('OFPGroupStatsReply', [...mpRep(OFPMP.GROUP), list('body', GroupStats)], mopt);
export const GroupDescStatsRequest = struct('OFPGroupDescStatsRequest', [...mpReq(OFPMP.GROUP_DESC)], mopt);
export const GroupDescStatsReply = struct('OFPGroupDescStatsReply', [...mpRep(OFPMP.GROUP_DESC), list('body', GroupDescStats)], mopt);
export const GroupFeaturesStatsRequest = struct('OFPGroupFeaturesStatsRequest', [...mpReq(OFPMP.GROUP_FEATURES)], mopt);
export const GroupFeaturesStatsReply = struct(
  'OFPGroupFeaturesStatsReply',
  [...mpRep(OFPMP.GROUP_FEATURES), one('body', GroupFeaturesStats)],
  mopt,
);
export const MeterStatsRequest = struct('OFPMeterStatsRequest', [...mpReq(OFPMP.METER), u32('meter_id'), pad(4)], mopt);
export const MeterStatsReply = struct('OFPMeterStatsReply', [...mpRep(OFPMP.METER), list('body', MeterStats)], mopt);
export const MeterConfigStatsRequest = struct('OFPMeterConfigStatsRequest', [...mpReq(OFPMP.METER_CONFIG), u32('meter_id'), pad(4)], mopt);
export const MeterConfigStatsReply = struct('OFPMeterConfigStatsReply', [...mpRep(OFPMP.METER_CONFIG), list('body', MeterConfigStats)], mopt);
export const MeterFeaturesStatsRequest = struct('OFPMeterFeaturesStatsRequest', [...mpReq(OFPMP.METER_FEATURES)], mopt);
export const MeterFeaturesStatsReply = struct(
  'OFPMeterFeaturesStatsReply',
  [...mpRep(OFPMP.METER_FEATURES), list('body', MeterFeaturesStats)],
  mopt,
);
export const TableFeaturesStatsRequest = struct(
  'OFPTableFeaturesStatsRequest',
  [...mpReq(OFPMP.TABLE_FEATURES), list('body', TableFeaturesStats)],
  mopt,
);
export const TableFeaturesStatsReply = struct(
  'OFPTableFeaturesStatsReply',
  [...mpRep(OFPMP.TABLE_FEATURES), list('body', TableFeaturesStats)],
  mopt,
);
export const PortDescStatsRequest = struct('OFPPortDescStatsRequest', [...mpReq(OFPMP.PORT_DESC)], mopt);
export const PortDescStatsReply = struct('OFPPortDescStatsReply', [...mpRep(OFPMP.PORT_DESC), list('body', Port)], mopt);
export const ExperimenterStatsRequest = struct(
  'OFPExperimenterStatsRequest',
  [...mpReq(OFPMP.EXPERIMENTER), u32('experimenter'), u32('exp_type'), bytesRest('data')],
  mopt,
);
export const ExperimenterStatsReply = struct(
  'OFPExperimenterStatsReply',
  [...mpRep(OFPMP.EXPERIMENTER), one('body', ExperimenterMultipart)],
  mopt,
);

/** ONF extension 1870 (flow monitor), as OVS and Ryu carry it in an experimenter multipart request. */
const ONF_ET_FLOW_MONITOR = 1870;
export interface OnfFlowMonitorRequest {
  readonly id: number;
  readonly flags: number;
  readonly out_port: number;
  readonly table_id: number;
  readonly match: Match;
}

/**
 * One flow-monitor request (ONF EXT-187 as OVS sends it): a 16-byte fixed part, then the match as bare
 * OXM TLVs (match_len bytes, no ofp_match header) padded to 8. Ryu shows it as an OFPMatch anyway.
 */
export const OnfFlowMonitorRequestCodec: Codec<OnfFlowMonitorRequest> = {
  cls: 'ONFFlowMonitorRequest',
  size: (v) => 16 + align8(matchOxmLength(v.match)),
  write(v, buf, off) {
    const n = matchOxmLength(v.match);
    off = buf.writeUInt32BE(v.id, off);
    off = buf.writeUInt16BE(v.flags, off);
    off = buf.writeUInt16BE(n, off);
    off = buf.writeUInt32BE(v.out_port, off);
    off = buf.writeUInt8(v.table_id, off);
    off = zero(buf, off, 3);
    for (const t of v.match) off = OxmTlvCodec.write(t, buf, off);
    return zero(buf, off, align8(n) - n);
  },
  read(r) {
    const id = r.u32('id');
    const flags = r.u16('flags');
    const n = r.u16('match_len');
    const out_port = r.u32('out_port');
    const table_id = r.u8('table_id');
    r.skip(3);
    const match = r.withEnd(n, 'ONFFlowMonitorRequest match', () => {
      const out: OxmTlv[] = [];
      while (r.pos < r.end) out.push(OxmTlvCodec.read(r));
      return out;
    });
    r.skip(Math.min(align8(n) - n, r.remaining), 'match padding');
    return { id, flags, out_port, table_id, match };
  },
  toJson: (v) => ({
    ONFFlowMonitorRequest: {
      flags: v.flags, id: v.id, match: MatchCodec.toJson(v.match), match_len: matchOxmLength(v.match), out_port: v.out_port, table_id: v.table_id,
    },
  }),
  fromJson(j, path) {
    const [name, o] = unwrap(j, path);
    if (name !== 'ONFFlowMonitorRequest') throw jsonError(path, `expected ONFFlowMonitorRequest, got ${name}`);
    const p = `${path}.${name}`;
    return {
      id: uint(o['id'], 32, `${p}.id`),
      flags: uint(o['flags'], 16, `${p}.flags`),
      out_port: uint(o['out_port'], 32, `${p}.out_port`),
      table_id: uint(o['table_id'], 8, `${p}.table_id`),
      match: MatchCodec.fromJson(o['match'] ?? { OFPMatch: { oxm_fields: [] } }, `${p}.match`),
    };
  },
};
export const OnfFlowMonitorStatsRequest = struct(
  'ONFFlowMonitorStatsRequest',
  [
    ...mpReq(OFPMP.EXPERIMENTER), constant(4, ONF_EXPERIMENTER_ID, 'experimenter'), constant(4, ONF_ET_FLOW_MONITOR, 'exp_type'),
    list('body', OnfFlowMonitorRequestCodec),
  ],
  mopt,
);

export type OFPMessage =
  | CodecValue<typeof Hello>
  | ErrorMsg
  | CodecValue<typeof EchoRequest>
  | CodecValue<typeof EchoReply>
  | CodecValue<typeof Experimenter>
  | CodecValue<typeof FeaturesRequest>
  | CodecValue<typeof SwitchFeatures>
  | CodecValue<typeof GetConfigRequest>
  | CodecValue<typeof GetConfigReply>
  | CodecValue<typeof SetConfig>
  | CodecValue<typeof PacketIn>
  | CodecValue<typeof FlowRemoved>
  | CodecValue<typeof PortStatus>
  | CodecValue<typeof PacketOut>
  | CodecValue<typeof FlowMod>
  | CodecValue<typeof GroupMod>
  | CodecValue<typeof PortMod>
  | CodecValue<typeof TableMod>
  | CodecValue<typeof MeterMod>
  | CodecValue<typeof BarrierRequest>
  | CodecValue<typeof BarrierReply>
  | CodecValue<typeof QueueGetConfigRequest>
  | CodecValue<typeof QueueGetConfigReply>
  | CodecValue<typeof RoleRequest>
  | CodecValue<typeof RoleReply>
  | CodecValue<typeof GetAsyncRequest>
  | CodecValue<typeof GetAsyncReply>
  | CodecValue<typeof SetAsync>
  | CodecValue<typeof DescStatsRequest>
  | CodecValue<typeof DescStatsReply>
  | CodecValue<typeof FlowStatsRequest>
  | CodecValue<typeof FlowStatsReply>
  | CodecValue<typeof AggregateStatsRequest>
  | CodecValue<typeof AggregateStatsReply>
  | CodecValue<typeof TableStatsRequest>
  | CodecValue<typeof TableStatsReply>
  | CodecValue<typeof PortStatsRequest>
  | CodecValue<typeof PortStatsReply>
  | CodecValue<typeof QueueStatsRequest>
  | CodecValue<typeof QueueStatsReply>
  | CodecValue<typeof GroupStatsRequest>
  | CodecValue<typeof GroupStatsReply>
  | CodecValue<typeof GroupDescStatsRequest>
  | CodecValue<typeof GroupDescStatsReply>
  | CodecValue<typeof GroupFeaturesStatsRequest>
  | CodecValue<typeof GroupFeaturesStatsReply>
  | CodecValue<typeof MeterStatsRequest>
  | CodecValue<typeof MeterStatsReply>
  | CodecValue<typeof MeterConfigStatsRequest>
  | CodecValue<typeof MeterConfigStatsReply>
  | CodecValue<typeof MeterFeaturesStatsRequest>
  | CodecValue<typeof MeterFeaturesStatsReply>
  | CodecValue<typeof TableFeaturesStatsRequest>
  | CodecValue<typeof TableFeaturesStatsReply>
  | CodecValue<typeof PortDescStatsRequest>
  | CodecValue<typeof PortDescStatsReply>
  | CodecValue<typeof ExperimenterStatsRequest>
  | CodecValue<typeof ExperimenterStatsReply>
  | CodecValue<typeof OnfFlowMonitorStatsRequest>;

export type MessageType = OFPMessage['type'];
export type MessageOf<T extends MessageType> = Extract<OFPMessage, { type: T }>;

type M = Codec<OFPMessage>;
const MP_REQUESTS: readonly (readonly [M, number | string])[] = [
  [DescStatsRequest, OFPMP.DESC], [FlowStatsRequest, OFPMP.FLOW], [AggregateStatsRequest, OFPMP.AGGREGATE],
  [TableStatsRequest, OFPMP.TABLE], [PortStatsRequest, OFPMP.PORT_STATS], [QueueStatsRequest, OFPMP.QUEUE],
  [GroupStatsRequest, OFPMP.GROUP], [GroupDescStatsRequest, OFPMP.GROUP_DESC], [GroupFeaturesStatsRequest, OFPMP.GROUP_FEATURES],
  [MeterStatsRequest, OFPMP.METER], [MeterConfigStatsRequest, OFPMP.METER_CONFIG],
  [MeterFeaturesStatsRequest, OFPMP.METER_FEATURES], [TableFeaturesStatsRequest, OFPMP.TABLE_FEATURES],
  [PortDescStatsRequest, OFPMP.PORT_DESC], [ExperimenterStatsRequest, OFPMP.EXPERIMENTER],
  [OnfFlowMonitorStatsRequest, `onf:${ONF_ET_FLOW_MONITOR}`],
];
const MP_REPLIES: readonly (readonly [M, number])[] = [
  [DescStatsReply, OFPMP.DESC], [FlowStatsReply, OFPMP.FLOW], [AggregateStatsReply, OFPMP.AGGREGATE],
  [TableStatsReply, OFPMP.TABLE], [PortStatsReply, OFPMP.PORT_STATS], [QueueStatsReply, OFPMP.QUEUE],
  [GroupStatsReply, OFPMP.GROUP], [GroupDescStatsReply, OFPMP.GROUP_DESC], [GroupFeaturesStatsReply, OFPMP.GROUP_FEATURES],
  [MeterStatsReply, OFPMP.METER], [MeterConfigStatsReply, OFPMP.METER_CONFIG], [MeterFeaturesStatsReply, OFPMP.METER_FEATURES],
  [TableFeaturesStatsReply, OFPMP.TABLE_FEATURES], [PortDescStatsReply, OFPMP.PORT_DESC],
  [ExperimenterStatsReply, OFPMP.EXPERIMENTER],
];

const SIMPLE: readonly (readonly [M, number])[] = [
  [Hello, OFPT.HELLO], [ErrorMsgCodec as M, OFPT.ERROR], [EchoRequest, OFPT.ECHO_REQUEST], [EchoReply, OFPT.ECHO_REPLY],
  [Experimenter, OFPT.EXPERIMENTER], [FeaturesRequest, OFPT.FEATURES_REQUEST], [SwitchFeatures, OFPT.FEATURES_REPLY],
  [GetConfigRequest, OFPT.GET_CONFIG_REQUEST], [GetConfigReply, OFPT.GET_CONFIG_REPLY], [SetConfig, OFPT.SET_CONFIG],
  [PacketIn, OFPT.PACKET_IN], [FlowRemoved, OFPT.FLOW_REMOVED], [PortStatus, OFPT.PORT_STATUS], [PacketOut, OFPT.PACKET_OUT],
  [FlowMod, OFPT.FLOW_MOD], [GroupMod, OFPT.GROUP_MOD], [PortMod, OFPT.PORT_MOD], [TableMod, OFPT.TABLE_MOD],
  [BarrierRequest, OFPT.BARRIER_REQUEST], [BarrierReply, OFPT.BARRIER_REPLY],
  [QueueGetConfigRequest, OFPT.QUEUE_GET_CONFIG_REQUEST], [QueueGetConfigReply, OFPT.QUEUE_GET_CONFIG_REPLY],
  [RoleRequest, OFPT.ROLE_REQUEST], [RoleReply, OFPT.ROLE_REPLY], [GetAsyncRequest, OFPT.GET_ASYNC_REQUEST],
  [GetAsyncReply, OFPT.GET_ASYNC_REPLY], [SetAsync, OFPT.SET_ASYNC], [MeterMod, OFPT.METER_MOD],
];

/** Dispatch key: the OFPT type; multipart messages add their multipart type (and ONF's exp_type). */
function messageKey(r: Reader): string {
  const version = r.buf[r.pos] as number;
  if (version !== OFP_VERSION) r.fail({ errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_VERSION }, `version 0x${version.toString(16)} is not OpenFlow 1.3 (0x04)`);
  const t = r.buf[r.pos + 1] as number;
  if (t !== OFPT.MULTIPART_REQUEST && t !== OFPT.MULTIPART_REPLY) return `t${t}`;
  // The whole 16-byte multipart header first: one cut short is a wrong length (BAD_LEN, as OVS answers)
  // whatever its type field says, not an unknown multipart type (found by fuzz/of-switch.ts).
  r.peek32(12, 'multipart header');
  const mp = r.peek16(8, 'multipart header');
  if (t === OFPT.MULTIPART_REQUEST && mp === OFPMP.EXPERIMENTER && r.peek32(16, 'experimenter multipart header') === ONF_EXPERIMENTER_ID) {
    const et = r.peek32(20, 'experimenter multipart header');
    if (et === ONF_ET_FLOW_MONITOR) return `q:onf:${et}`;
  }
  return `${t === OFPT.MULTIPART_REQUEST ? 'q' : 'p'}:${mp}`;
}

export const MessageCodec: Codec<OFPMessage> = variant<OFPMessage>({
  what: 'message',
  tag: 'type',
  members: [
    ...SIMPLE.map(([c, t]) => [c, `t${t}`] as const),
    ...MP_REQUESTS.map(([c, t]) => [c, `q:${t}`] as const),
    ...MP_REPLIES.map(([c, t]) => [c, `p:${t}`] as const),
  ],
  key: messageKey,
  describeKey: (k) => {
    const [t, mp] = String(k).split(':');
    return t?.startsWith('t') ? `message type ${t.slice(1)}` : `multipart ${t === 'q' ? 'request' : 'reply'} type ${mp}`;
  },
  // An unknown multipart type is BAD_MULTIPART, any other unknown type BAD_TYPE, as a switch answers.
  unknown: (k) => ({ errType: OFPET.BAD_REQUEST, code: String(k).startsWith('t') ? OFPBRC.BAD_TYPE : OFPBRC.BAD_MULTIPART }),
});
