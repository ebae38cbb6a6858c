/**
 * A seeded generator of random, well-formed OpenFlow 1.3 messages of every type, for round-trip
 * property tests and fuzzing. Values are in canonical form (lower-case MACs, RFC 5952 IPv6), so that
 * decode(encode(m)) deep-equals m.
 */
import type { Action, Bucket, Instruction, MeterBand, OFPMessage, OxmTlv, TableFeatureProp } from '../../openflow/index.js';
import { OXM_BASIC, type OxmFieldDef } from '../../openflow/index.js';
import { ipv4ToText, ipv6ToText, macToText } from '../../openflow/json.js';

/** xorshift128+ — small, fast, seedable. */
export class Rng {
  private s0: bigint;
  private s1: bigint;
  constructor(seed: number) {
    this.s0 = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
    this.s1 = (BigInt(seed) ^ 0xdeadbeefn) * 0xbf58476d1ce4e5b9n + 7n;
    for (let i = 0; i < 8; i++) this.next64();
  }
  next64(): bigint {
    const M = 0xffffffffffffffffn;
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x = (x ^ (x << 23n)) & M;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.s1 + y) & M;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Number(this.next64() % BigInt(n));
  }
  bits(n: number): number {
    return n >= 32 ? Number(this.next64() & 0xffffffffn) : this.int(2 ** n);
  }
  u64(): bigint {
    return this.next64();
  }
  bool(): boolean {
    return this.int(2) === 1;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** Mostly small numbers, sometimes the extremes. */
  u(bitsN: number): number {
    const r = this.int(10);
    if (r === 0) return 0;
    if (r === 1) return 2 ** bitsN - 1;
    return this.bits(bitsN);
  }
}

function oxmValue(rng: Rng, d: OxmFieldDef): OxmTlv['value'] {
  switch (d.kind) {
    case 'mac':
      return macToText(rng.bytes(6));
    case 'ipv4':
      return ipv4ToText(rng.bytes(4));
    case 'ipv6': {
      const b = rng.bytes(16);
      // zero runs, so the compressed forms get exercised
      const z = rng.int(8);
      b.fill(0, z * 2, Math.min(16, z * 2 + rng.int(10) * 2));
      return ipv6ToText(b);
    }
    case 'raw':
      return rng.bytes(d.size).toString('base64');
    case 'uint':
      return d.size > 4 ? rng.u64() & ((1n << BigInt(d.size * 8)) - 1n) : rng.bits(d.size * 8);
  }
}

export function genMatch(rng: Rng, max = 6): OxmTlv[] {
  const n = rng.int(max + 1);
  const out: OxmTlv[] = [];
  const used = new Set<string>();
  for (let i = 0; i < n; i++) {
    const d = rng.pick(OXM_BASIC);
    if (used.has(d.name)) continue;
    used.add(d.name);
    const value = oxmValue(rng, d);
    out.push(d.maskable && rng.bool() ? { field: d.name, value, mask: oxmValue(rng, d) } : { field: d.name, value });
  }
  if (rng.int(8) === 0) out.push({ field: 'tun_ipv4_src', value: ipv4ToText(rng.bytes(4)) });
  if (rng.int(10) === 0) out.push({ field: 'pbb_uca', value: rng.int(2) });
  return out;
}

export function genAction(rng: Rng): Action {
  switch (rng.int(18)) {
    case 0: return { kind: 'OFPActionOutput', port: rng.u(32), max_len: rng.u(16) };
    case 1: return { kind: 'OFPActionCopyTtlOut' };
    case 2: return { kind: 'OFPActionCopyTtlIn' };
    case 3: return { kind: 'OFPActionSetMplsTtl', mpls_ttl: rng.u(8) };
    case 4: return { kind: 'OFPActionDecMplsTtl' };
    case 5: return { kind: 'OFPActionPushVlan', ethertype: rng.pick([0x8100, 0x88a8]) };
    case 6: return { kind: 'OFPActionPopVlan' };
    case 7: return { kind: 'OFPActionPushMpls', ethertype: rng.pick([0x8847, 0x8848]) };
    case 8: return { kind: 'OFPActionPopMpls', ethertype: rng.u(16) };
    case 9: return { kind: 'OFPActionSetQueue', queue_id: rng.u(32) };
    case 10: return { kind: 'OFPActionGroup', group_id: rng.u(32) };
    case 11: return { kind: 'OFPActionSetNwTtl', nw_ttl: rng.u(8) };
    case 12: return { kind: 'OFPActionDecNwTtl' };
    case 13: return { kind: 'OFPActionPushPbb', ethertype: 0x88e7 };
    case 14: return { kind: 'OFPActionPopPbb' };
    case 15: return { kind: 'OFPActionExperimenterUnknown', experimenter: rng.pick([101, 0xdeadbeef]), data: rng.bytes(rng.int(3) * 8 + 0) };
    default: {
      const d = rng.pick(OXM_BASIC);
      return { kind: 'OFPActionSetField', field: { field: d.name, value: oxmValue(rng, d) } };
    }
  }
}

const actions = (rng: Rng, max = 4): Action[] => Array.from({ length: rng.int(max + 1) }, () => genAction(rng));

export function genInstruction(rng: Rng): Instruction {
  switch (rng.int(6)) {
    case 0: return { kind: 'OFPInstructionGotoTable', table_id: rng.u(8) };
    case 1: return { kind: 'OFPInstructionWriteMetadata', metadata: rng.u64(), metadata_mask: rng.u64() };
    case 2: return { kind: 'OFPInstructionActions', type: rng.pick([3, 4]), actions: actions(rng) };
    case 3: return { kind: 'OFPInstructionActions', type: 5, actions: [] };
    case 4: return { kind: 'OFPInstructionMeter', meter_id: rng.u(32) };
    default: return { kind: 'OFPInstructionExperimenter', experimenter: rng.u(32), data: rng.bytes(rng.int(3) * 8) };
  }
}

const instructions = (rng: Rng): Instruction[] => Array.from({ length: rng.int(4) }, () => genInstruction(rng));
const bucket = (rng: Rng): Bucket => ({ weight: rng.u(16), watch_port: rng.u(32), watch_group: rng.u(32), actions: actions(rng, 3) });
const band = (rng: Rng): MeterBand =>
  rng.pick<MeterBand>([
    { kind: 'OFPMeterBandDrop', rate: rng.u(32), burst_size: rng.u(32) },
    { kind: 'OFPMeterBandDscpRemark', rate: rng.u(32), burst_size: rng.u(32), prec_level: rng.u(8) },
    { kind: 'OFPMeterBandExperimenter', rate: rng.u(32), burst_size: rng.u(32), experimenter: rng.u(32) },
  ]);
const port = (rng: Rng) => ({
  port_no: rng.u(32), hw_addr: macToText(rng.bytes(6)), name: rng.pick(['eth0', 'tap-x', '', 'sixteen-chars-xx', 'ポート']),
  config: rng.u(32), state: rng.u(32), curr: rng.u(32), advertised: rng.u(32), supported: rng.u(32), peer: rng.u(32),
  curr_speed: rng.u(32), max_speed: rng.u(32),
});
const tfProp = (rng: Rng): TableFeatureProp => {
  switch (rng.int(5)) {
    case 0: return { kind: 'OFPTableFeaturePropInstructions', type: rng.int(2), instruction_ids: Array.from({ length: rng.int(6) }, () => ({ type: 1 + rng.int(6) })) };
    case 1: return { kind: 'OFPTableFeaturePropNextTables', type: 2 + rng.int(2), table_ids: Array.from({ length: rng.int(20) }, () => rng.u(8)) };
    case 2: return { kind: 'OFPTableFeaturePropActions', type: 4 + rng.int(4), action_ids: Array.from({ length: rng.int(6) }, () => ({ type: rng.pick([0, 11, 12, 22, 25]) })) };
    case 3: return {
      kind: 'OFPTableFeaturePropOxm', type: rng.pick([8, 10, 12, 13, 14, 15]),
      oxm_ids: Array.from({ length: rng.int(8) }, () => {
        const d = rng.pick(OXM_BASIC);
        const hasmask = d.maskable && rng.bool();
        return { type: d.name, hasmask, length: d.size * (hasmask ? 2 : 1) };
      }),
    };
    default: return { kind: 'OFPTableFeaturePropExperimenter', type: rng.pick([0xfffe, 0xffff]), experimenter: rng.u(32), exp_type: rng.u(32), data: Array.from({ length: rng.int(4) }, () => rng.u(32)) };
  }
};

type Gen = (rng: Rng, xid: number) => OFPMessage;

const mp = (rng: Rng) => rng.int(2);

export const GENERATORS: Readonly<Record<string, Gen>> = {
  OFPHello: (r, xid) => ({ type: 'OFPHello', xid, elements: r.bool() ? [] : [{ kind: 'OFPHelloElemVersionBitmap', versions: [1, 4, ...(r.bool() ? [5, 33] : [])] }] }),
  OFPErrorMsg: (r, xid) => (r.bool()
    ? { type: 'OFPErrorMsg', xid, err_type: r.int(14), code: r.u(16), data: r.bytes(r.int(64)) }
    : { type: 'OFPErrorMsg', xid, err_type: 0xffff, exp_type: r.u(16), experimenter: r.u(32), data: r.bytes(r.int(20)) }),
  OFPEchoRequest: (r, xid) => ({ type: 'OFPEchoRequest', xid, data: r.bytes(r.int(40)) }),
  OFPEchoReply: (r, xid) => ({ type: 'OFPEchoReply', xid, data: r.bytes(r.int(40)) }),
  OFPExperimenter: (r, xid) => ({ type: 'OFPExperimenter', xid, experimenter: r.u(32), exp_type: r.u(32), data: r.bytes(r.int(40)) }),
  OFPFeaturesRequest: (_r, xid) => ({ type: 'OFPFeaturesRequest', xid }),
  OFPSwitchFeatures: (r, xid) => ({ type: 'OFPSwitchFeatures', xid, datapath_id: r.u64(), n_buffers: r.u(32), n_tables: r.u(8), auxiliary_id: r.u(8), capabilities: r.u(32) }),
  OFPGetConfigRequest: (_r, xid) => ({ type: 'OFPGetConfigRequest', xid }),
  OFPGetConfigReply: (r, xid) => ({ type: 'OFPGetConfigReply', xid, flags: r.u(16), miss_send_len: r.u(16) }),
  OFPSetConfig: (r, xid) => ({ type: 'OFPSetConfig', xid, flags: r.u(16), miss_send_len: r.u(16) }),
  OFPPacketIn: (r, xid) => ({ type: 'OFPPacketIn', xid, buffer_id: r.u(32), total_len: r.u(16), reason: r.int(3), table_id: r.u(8), cookie: r.u64(), match: genMatch(r), data: r.bytes(r.int(200)) }),
  OFPFlowRemoved: (r, xid) => ({
    type: 'OFPFlowRemoved', xid, cookie: r.u64(), priority: r.u(16), reason: r.int(4), table_id: r.u(8), duration_sec: r.u(32),
    duration_nsec: r.u(32), idle_timeout: r.u(16), hard_timeout: r.u(16), packet_count: r.u64(), byte_count: r.u64(), match: genMatch(r),
  }),
  OFPPortStatus: (r, xid) => ({ type: 'OFPPortStatus', xid, reason: r.int(3), desc: port(r) }),
  OFPPacketOut: (r, xid) => ({ type: 'OFPPacketOut', xid, buffer_id: r.u(32), in_port: r.u(32), actions: actions(r), data: r.bytes(r.int(100)) }),
  OFPFlowMod: (r, xid) => ({
    type: 'OFPFlowMod', xid, cookie: r.u64(), cookie_mask: r.u64(), table_id: r.u(8), command: r.int(5), idle_timeout: r.u(16),
    hard_timeout: r.u(16), priority: r.u(16), buffer_id: r.u(32), out_port: r.u(32), out_group: r.u(32), flags: r.u(5),
    match: genMatch(r), instructions: instructions(r),
  }),
  OFPGroupMod: (r, xid) => ({ type: 'OFPGroupMod', xid, command: r.int(3), group_type: r.int(4), group_id: r.u(32), buckets: Array.from({ length: r.int(4) }, () => bucket(r)) }),
  OFPPortMod: (r, xid) => ({ type: 'OFPPortMod', xid, port_no: r.u(32), hw_addr: macToText(r.bytes(6)), config: r.u(32), mask: r.u(32), advertise: r.u(32) }),
  OFPTableMod: (r, xid) => ({ type: 'OFPTableMod', xid, table_id: r.u(8), config: r.u(32) }),
  OFPMeterMod: (r, xid) => ({ type: 'OFPMeterMod', xid, command: r.int(3), flags: r.u(4), meter_id: r.u(32), bands: Array.from({ length: r.int(4) }, () => band(r)) }),
  OFPBarrierRequest: (_r, xid) => ({ type: 'OFPBarrierRequest', xid }),
  OFPBarrierReply: (_r, xid) => ({ type: 'OFPBarrierReply', xid }),
  OFPQueueGetConfigRequest: (r, xid) => ({ type: 'OFPQueueGetConfigRequest', xid, port: r.u(32) }),
  OFPQueueGetConfigReply: (r, xid) => ({
    type: 'OFPQueueGetConfigReply', xid, port: r.u(32),
    queues: Array.from({ length: r.int(3) }, () => ({
      queue_id: r.u(32), port: r.u(32),
      properties: [
        { kind: 'OFPQueuePropMinRate' as const, rate: r.u(16) },
        { kind: 'OFPQueuePropMaxRate' as const, rate: r.u(16) },
        { kind: 'OFPQueuePropExperimenter' as const, experimenter: r.u(32), data: [...r.bytes(r.int(8))] },
      ].slice(0, r.int(4)),
    })),
  }),
  OFPRoleRequest: (r, xid) => ({ type: 'OFPRoleRequest', xid, role: r.int(4), generation_id: r.u64() }),
  OFPRoleReply: (r, xid) => ({ type: 'OFPRoleReply', xid, role: r.int(4), generation_id: r.u64() }),
  OFPGetAsyncRequest: (_r, xid) => ({ type: 'OFPGetAsyncRequest', xid }),
  OFPGetAsyncReply: (r, xid) => ({ type: 'OFPGetAsyncReply', xid, packet_in_mask: [r.u(32), r.u(32)], port_status_mask: [r.u(32), r.u(32)], flow_removed_mask: [r.u(32), r.u(32)] }),
  OFPSetAsync: (r, xid) => ({ type: 'OFPSetAsync', xid, packet_in_mask: [r.u(32), r.u(32)], port_status_mask: [r.u(32), r.u(32)], flow_removed_mask: [r.u(32), r.u(32)] }),
  OFPDescStatsRequest: (r, xid) => ({ type: 'OFPDescStatsRequest', xid, flags: mp(r) }),
  OFPDescStatsReply: (r, xid) => ({ type: 'OFPDescStatsReply', xid, flags: mp(r), body: { mfr_desc: 'tinflow', hw_desc: 'hw', sw_desc: 'sw ' + r.int(99), serial_num: 'None', dp_desc: r.pick(['', 'dp', 'データパス']) } }),
  OFPFlowStatsRequest: (r, xid) => ({ type: 'OFPFlowStatsRequest', xid, flags: mp(r), table_id: r.u(8), out_port: r.u(32), out_group: r.u(32), cookie: r.u64(), cookie_mask: r.u64(), match: genMatch(r) }),
  OFPFlowStatsReply: (r, xid) => ({
    type: 'OFPFlowStatsReply', xid, flags: mp(r),
    body: Array.from({ length: r.int(4) }, () => ({
      table_id: r.u(8), duration_sec: r.u(32), duration_nsec: r.u(32), priority: r.u(16), idle_timeout: r.u(16), hard_timeout: r.u(16),
      flags: r.u(5), cookie: r.u64(), packet_count: r.u64(), byte_count: r.u64(), match: genMatch(r), instructions: instructions(r),
    })),
  }),
  OFPAggregateStatsRequest: (r, xid) => ({ type: 'OFPAggregateStatsRequest', xid, flags: mp(r), table_id: r.u(8), out_port: r.u(32), out_group: r.u(32), cookie: r.u64(), cookie_mask: r.u64(), match: genMatch(r) }),
  OFPAggregateStatsReply: (r, xid) => ({ type: 'OFPAggregateStatsReply', xid, flags: mp(r), body: { packet_count: r.u64(), byte_count: r.u64(), flow_count: r.u(32) } }),
  OFPTableStatsRequest: (r, xid) => ({ type: 'OFPTableStatsRequest', xid, flags: mp(r) }),
  OFPTableStatsReply: (r, xid) => ({ type: 'OFPTableStatsReply', xid, flags: mp(r), body: Array.from({ length: r.int(4) }, () => ({ table_id: r.u(8), active_count: r.u(32), lookup_count: r.u64(), matched_count: r.u64() })) }),
  OFPPortStatsRequest: (r, xid) => ({ type: 'OFPPortStatsRequest', xid, flags: mp(r), port_no: r.u(32) }),
  OFPPortStatsReply: (r, xid) => ({
    type: 'OFPPortStatsReply', xid, flags: mp(r),
    body: Array.from({ length: r.int(3) }, () => ({
      port_no: r.u(32), rx_packets: r.u64(), tx_packets: r.u64(), rx_bytes: r.u64(), tx_bytes: r.u64(), rx_dropped: r.u64(), tx_dropped: r.u64(),
      rx_errors: r.u64(), tx_errors: r.u64(), rx_frame_err: r.u64(), rx_over_err: r.u64(), rx_crc_err: r.u64(), collisions: r.u64(),
      duration_sec: r.u(32), duration_nsec: r.u(32),
    })),
  }),
  OFPQueueStatsRequest: (r, xid) => ({ type: 'OFPQueueStatsRequest', xid, flags: mp(r), port_no: r.u(32), queue_id: r.u(32) }),
  OFPQueueStatsReply: (r, xid) => ({ type: 'OFPQueueStatsReply', xid, flags: mp(r), body: Array.from({ length: r.int(3) }, () => ({ port_no: r.u(32), queue_id: r.u(32), tx_bytes: r.u64(), tx_packets: r.u64(), tx_errors: r.u64(), duration_sec: r.u(32), duration_nsec: r.u(32) })) }),
  OFPGroupStatsRequest: (r, xid) => ({ type: 'OFPGroupStatsRequest', xid, flags: mp(r), group_id: r.u(32) }),
  OFPGroupStatsReply: (r, xid) => ({
    type: 'OFPGroupStatsReply', xid, flags: mp(r),
    body: Array.from({ length: r.int(3) }, () => ({
      group_id: r.u(32), ref_count: r.u(32), packet_count: r.u64(), byte_count: r.u64(), duration_sec: r.u(32), duration_nsec: r.u(32),
      bucket_stats: Array.from({ length: r.int(3) }, () => ({ packet_count: r.u64(), byte_count: r.u64() })),
    })),
  }),
  OFPGroupDescStatsRequest: (r, xid) => ({ type: 'OFPGroupDescStatsRequest', xid, flags: mp(r) }),
  OFPGroupDescStatsReply: (r, xid) => ({ type: 'OFPGroupDescStatsReply', xid, flags: mp(r), body: Array.from({ length: r.int(3) }, () => ({ type: r.int(4), group_id: r.u(32), buckets: Array.from({ length: r.int(3) }, () => bucket(r)) })) }),
  OFPGroupFeaturesStatsRequest: (r, xid) => ({ type: 'OFPGroupFeaturesStatsRequest', xid, flags: mp(r) }),
  OFPGroupFeaturesStatsReply: (r, xid) => ({ type: 'OFPGroupFeaturesStatsReply', xid, flags: mp(r), body: { types: r.u(32), capabilities: r.u(32), max_groups: [r.u(32), r.u(32), r.u(32), r.u(32)], actions: [r.u(32), r.u(32), r.u(32), r.u(32)] } }),
  OFPMeterStatsRequest: (r, xid) => ({ type: 'OFPMeterStatsRequest', xid, flags: mp(r), meter_id: r.u(32) }),
  OFPMeterStatsReply: (r, xid) => ({
    type: 'OFPMeterStatsReply', xid, flags: mp(r),
    body: Array.from({ length: r.int(3) }, () => ({
      meter_id: r.u(32), flow_count: r.u(32), packet_in_count: r.u64(), byte_in_count: r.u64(), duration_sec: r.u(32), duration_nsec: r.u(32),
      band_stats: Array.from({ length: r.int(3) }, () => ({ packet_band_count: r.u64(), byte_band_count: r.u64() })),
    })),
  }),
  OFPMeterConfigStatsRequest: (r, xid) => ({ type: 'OFPMeterConfigStatsRequest', xid, flags: mp(r), meter_id: r.u(32) }),
  OFPMeterConfigStatsReply: (r, xid) => ({ type: 'OFPMeterConfigStatsReply', xid, flags: mp(r), body: Array.from({ length: r.int(3) }, () => ({ flags: r.u(4), meter_id: r.u(32), bands: Array.from({ length: r.int(3) }, () => band(r)) })) }),
  OFPMeterFeaturesStatsRequest: (r, xid) => ({ type: 'OFPMeterFeaturesStatsRequest', xid, flags: mp(r) }),
  OFPMeterFeaturesStatsReply: (r, xid) => ({ type: 'OFPMeterFeaturesStatsReply', xid, flags: mp(r), body: [{ max_meter: r.u(32), band_types: r.u(32), capabilities: r.u(32), max_bands: r.u(8), max_color: r.u(8) }] }),
  OFPTableFeaturesStatsRequest: (r, xid) => ({ type: 'OFPTableFeaturesStatsRequest', xid, flags: mp(r), body: tfBody(r) }),
  OFPTableFeaturesStatsReply: (r, xid) => ({ type: 'OFPTableFeaturesStatsReply', xid, flags: mp(r), body: tfBody(r) }),
  OFPPortDescStatsRequest: (r, xid) => ({ type: 'OFPPortDescStatsRequest', xid, flags: mp(r) }),
  OFPPortDescStatsReply: (r, xid) => ({ type: 'OFPPortDescStatsReply', xid, flags: mp(r), body: Array.from({ length: r.int(4) }, () => port(r)) }),
  OFPExperimenterStatsRequest: (r, xid) => ({ type: 'OFPExperimenterStatsRequest', xid, flags: mp(r), experimenter: r.pick([101, 0x2320]), exp_type: r.u(32), data: r.bytes(r.int(30)) }),
  OFPExperimenterStatsReply: (r, xid) => ({ type: 'OFPExperimenterStatsReply', xid, flags: mp(r), body: { experimenter: r.u(32), exp_type: r.u(32), data: r.bytes(r.int(30)) } }),
  ONFFlowMonitorStatsRequest: (r, xid) => ({
    type: 'ONFFlowMonitorStatsRequest', xid, flags: mp(r),
    body: Array.from({ length: r.int(3) }, () => ({ id: r.u(32), flags: r.u(16), out_port: r.u(32), table_id: r.u(8), match: genMatch(r) })),
  }),
};

function tfBody(r: Rng) {
  return Array.from({ length: r.int(3) }, () => ({
    table_id: r.u(8), name: r.pick(['Flow Table 0x00', 'classifier', '私のテーブル', '']), metadata_match: r.u64(), metadata_write: r.u64(),
    config: r.u(32), max_entries: r.u(32), properties: Array.from({ length: r.int(5) }, () => tfProp(r)),
  }));
}

export function genMessage(rng: Rng): OFPMessage {
  const names = Object.keys(GENERATORS);
  const g = GENERATORS[rng.pick(names)] as Gen;
  return g(rng, rng.u(32));
}
