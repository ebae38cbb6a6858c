/**
 * controller/ofctl/ against os-ken's own ofctl_v1_3 (Debian's python3-os-ken, via test/oracles/ofctl_osken.py):
 *   - commands: the same ofctl JSON through os-ken's mod_flow_entry / mod_group_entry / mod_meter_entry /
 *     mod_port_behavior / send_experimenter / set_role and through ours must give the same bytes;
 *   - queries: the same filters must give the same request bytes, and the same replies (made by tinflow's
 *     codec, parsed by os-ken) the same ofctl JSON, get_desc_stats to get_role;
 *   - every flow-mod case is also read back as a flow-stats reply, so match_to_str and actions_to_str see
 *     every match key and action that to_match and to_actions made;
 *   - bad input raises ControllerError('bad-request') naming the key path and the value.
 * Python runs once for the whole file.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ControllerError } from '../../controller/errors.js';
import * as ofctl from '../../controller/ofctl/index.js';
import { type Json, type MessageOf, type OFPMessage, OFPMPF, decode, encode, parseJson, stringifyJson } from '../../openflow/index.js';
import { firstDiff } from '../openflow/vectors.js';

const DPID = 0x0123456789abcdefn;

type Command = 'mod_flow_entry' | 'mod_group_entry' | 'mod_meter_entry' | 'mod_port_behavior' | 'send_experimenter' | 'set_role';
type Query =
  | 'get_desc_stats' | 'get_flow_stats' | 'get_aggregate_flow_stats' | 'get_table_stats' | 'get_table_features' | 'get_port_stats'
  | 'get_port_desc' | 'get_queue_stats' | 'get_queue_config' | 'get_group_stats' | 'get_group_desc' | 'get_group_features'
  | 'get_meter_stats' | 'get_meter_config' | 'get_meter_features' | 'get_role';

interface CommandCase {
  readonly name: string;
  readonly fn: Command;
  readonly args: readonly Json[];
}
interface QueryCase {
  readonly name: string;
  readonly fn: Query;
  readonly args: readonly Json[];
  readonly replies: readonly OFPMessage[];
}

function ours(fn: Command, args: readonly Json[]): OFPMessage {
  const [a, b] = args;
  switch (fn) {
    case 'mod_flow_entry':
      return ofctl.modFlowEntry(a, Number(b));
    case 'mod_group_entry':
      return ofctl.modGroupEntry(a, Number(b));
    case 'mod_meter_entry':
      return ofctl.modMeterEntry(a, Number(b));
    case 'mod_port_behavior':
      return ofctl.modPortBehavior(a, undefined);
    case 'send_experimenter':
      return ofctl.experimenterMessage(a);
    case 'set_role':
      return ofctl.roleRequest(a);
  }
}

function ourQuery(fn: Query, args: readonly Json[]): ofctl.StatsQuery {
  const s = (i: number): string | undefined => {
    const v = args[i];
    return v === undefined || v === null ? undefined : String(v);
  };
  switch (fn) {
    case 'get_desc_stats':
      return ofctl.getDescStats();
    case 'get_flow_stats':
      return ofctl.getFlowStats(args[0] ?? undefined);
    case 'get_aggregate_flow_stats':
      return ofctl.getAggregateFlowStats(args[0] ?? undefined);
    case 'get_table_stats':
      return ofctl.getTableStats();
    case 'get_table_features':
      return ofctl.getTableFeatures();
    case 'get_port_stats':
      return ofctl.getPortStats(s(0));
    case 'get_port_desc':
      return ofctl.getPortDesc();
    case 'get_queue_stats':
      return ofctl.getQueueStats(s(0), s(1));
    case 'get_queue_config':
      return ofctl.getQueueConfig(s(0));
    case 'get_group_stats':
      return ofctl.getGroupStats(s(0));
    case 'get_group_desc':
      return ofctl.getGroupDesc();
    case 'get_group_features':
      return ofctl.getGroupFeatures();
    case 'get_meter_stats':
      return ofctl.getMeterStats(s(0));
    case 'get_meter_config':
      return ofctl.getMeterConfig(s(0));
    case 'get_meter_features':
      return ofctl.getMeterFeatures();
    case 'get_role':
      return ofctl.getRole();
  }
}

// ---- commands -----------------------------------------------------------------------------------------

const ADD = 0;
const flow = (name: string, body: Json, cmd = ADD): CommandCase => ({ name, fn: 'mod_flow_entry', args: [body, cmd] });

const MATCHES: readonly CommandCase[] = [
  flow('empty flow: every default', {}),
  flow('L2, old names, masked dl_dst, decimal dl_vlan', {
    priority: 10, match: { in_port: 1, dl_dst: 'AA:BB:CC:DD:EE:FF/ff:ff:ff:00:00:00', dl_src: '00:00:00:00:00:01', dl_type: '0x0800', dl_vlan: 5 },
    actions: [{ type: 'OUTPUT', port: 2 }],
  }),
  flow('L2, new names, hex vlan_vid, vlan_pcp', {
    match: { eth_dst: '01:00:5e:00:00:01', eth_src: '02:00:00:00:00:02/ff:ff:ff:ff:ff:00', eth_type: 2048, vlan_vid: '0x1005', vlan_pcp: 3 },
  }),
  flow('vlan_vid masked', { match: { vlan_vid: '0x1000/0x1000' } }),
  flow('vlan_vid decimal text', { match: { vlan_vid: '7' } }),
  flow('vlan_vid 0 (present, id 0)', { match: { vlan_vid: 0 } }),
  flow('vlan_vid 0x0000 (no tag)', { match: { vlan_vid: '0x0000' } }),
  flow('IPv4 with prefix and dotted masks, tp_* as TCP', {
    match: { dl_type: 2048, nw_src: '10.0.0.1/24', nw_dst: '192.168.7.9/255.255.0.0', nw_proto: 6, tp_src: 1000, tp_dst: 80, ip_dscp: 46, ip_ecn: 1 },
  }),
  flow('IPv4 new names, tp_dst as UDP by ip_proto', { match: { eth_type: 2048, ipv4_src: '10.1.2.3', ipv4_dst: '10.9.0.0/16', ip_proto: 17, tp_dst: 53 } }),
  flow('tcp_*, udp_* and sctp_* by name', { match: { eth_type: 2048, ip_proto: 132, sctp_src: 1, sctp_dst: 2, tcp_src: 3, tcp_dst: 4, udp_src: 5, udp_dst: 6 } }),
  flow('ICMPv4', { match: { eth_type: 2048, ip_proto: 1, icmpv4_type: 8, icmpv4_code: 0 } }),
  flow('ARP: nw_src/nw_dst become arp_spa/arp_tpa', {
    match: { dl_type: 2054, nw_src: '10.0.0.1', nw_dst: '10.0.0.0/8', arp_op: 1, arp_sha: '00:11:22:33:44:55', arp_tha: '00:11:22:33:44:66/ff:ff:ff:ff:ff:00' },
  }),
  flow('ARP: with arp_spa given, nw_src stays ipv4_src', { match: { eth_type: 2054, nw_src: '10.0.0.1', arp_spa: '10.0.0.2' } }),
  flow('IPv6 and ND', {
    match: {
      eth_type: 0x86dd, ipv6_src: '2001:db8::1/64', ipv6_dst: 'FE80::1', ipv6_flabel: 0x12345, ip_proto: 58, icmpv6_type: 135, icmpv6_code: 0,
      ipv6_nd_target: '2001:db8::abcd', ipv6_nd_sll: '00:00:00:00:00:0a', ipv6_nd_tll: '00:00:00:00:00:0b',
    },
  }),
  flow('IPv6 address masks', { match: { eth_type: 0x86dd, ipv6_src: '2001:db8:1:2::/ffff:ffff::', ipv6_dst: '::ffff:10.0.0.1/96' } }),
  flow('MPLS', { match: { eth_type: 0x8847, mpls_label: 100, mpls_tc: 3, mpls_bos: 1 } }),
  flow('PBB, masked integers', {
    match: { eth_type: 0x88e7, pbb_isid: '0x123/0xfff', tunnel_id: '0x5/0xff', ipv6_exthdr: '0x1/0x1ff', metadata: '0x1234/0xffff' },
  }),
  flow('64-bit metadata and tunnel_id', { match: { metadata: 18446744073709551615n, tunnel_id: '1152921504606846976' } }),
  flow('metadata decimal text, in_phy_port, reserved in_port', { match: { in_port: 'LOCAL', in_phy_port: 3, metadata: '42' } }),
  flow('in_port with prefix', { match: { in_port: 'OFPP_CONTROLLER' } }),
  flow('in_port lower case', { match: { in_port: 'controller' } }),
  flow('old and new name for one field: the last wins', { match: { dl_dst: '00:00:00:00:00:01', eth_dst: '00:00:00:00:00:02' } }),
  flow('new then old name: the last wins', { match: { eth_type: 2048, dl_type: 34525 } }),
];

const ACTIONS: readonly CommandCase[] = [
  flow('every plain action', {
    table_id: 1, priority: 200, actions: [
      { type: 'OUTPUT', port: 2 }, { type: 'OUTPUT', port: 'CONTROLLER', max_len: 'NO_BUFFER' }, { type: 'OUTPUT' }, { type: 'OUTPUT', port: 3, max_len: 128 },
      { type: 'COPY_TTL_OUT' }, { type: 'COPY_TTL_IN' }, { type: 'SET_MPLS_TTL', mpls_ttl: 64 }, { type: 'DEC_MPLS_TTL' },
      { type: 'PUSH_VLAN', ethertype: 33024 }, { type: 'POP_VLAN' }, { type: 'PUSH_MPLS', ethertype: 34887 }, { type: 'POP_MPLS', ethertype: 2048 },
      { type: 'SET_QUEUE', queue_id: 1 }, { type: 'GROUP', group_id: 1 }, { type: 'SET_NW_TTL', nw_ttl: 10 }, { type: 'DEC_NW_TTL' },
      { type: 'PUSH_PBB', ethertype: '0x88e7' }, { type: 'POP_PBB' },
    ],
  }),
  flow('reserved names in actions', {
    actions: [{ type: 'OUTPUT', port: 'IN_PORT' }, { type: 'OUTPUT', port: 'ofpp_flood'.toUpperCase() }, { type: 'SET_QUEUE', queue_id: 'ALL' }, { type: 'GROUP', group_id: 'OFPG_ALL' }],
  }),
  flow('set-field of every kind', {
    actions: [
      { type: 'SET_FIELD', field: 'eth_dst', value: '00:00:00:00:00:AA' }, { type: 'SET_FIELD', field: 'vlan_vid', value: 4102 },
      { type: 'SET_FIELD', field: 'vlan_pcp', value: 5 }, { type: 'SET_FIELD', field: 'ipv4_src', value: '10.0.0.9' },
      { type: 'SET_FIELD', field: 'ipv6_dst', value: '2001:db8::9' }, { type: 'SET_FIELD', field: 'tcp_dst', value: 8080 },
      { type: 'SET_FIELD', field: 'mpls_label', value: 5 }, { type: 'SET_FIELD', field: 'tunnel_id', value: 1152921504606846977n },
      { type: 'SET_FIELD', field: 'pbb_isid', value: 77 }, { type: 'SET_FIELD', field: 'ip_dscp', value: 10 },
      { type: 'SET_FIELD', field: 'arp_tha', value: '00:00:00:00:00:01' }, { type: 'SET_FIELD', field: 'reg0', value: 5 },
      { type: 'SET_FIELD', field: 'tun_ipv4_src', value: '1.2.3.4' },
    ],
  }),
  flow('instructions in order, apply-actions last', {
    actions: [
      { type: 'OUTPUT', port: 1 }, { type: 'WRITE_ACTIONS', actions: [{ type: 'OUTPUT', port: 3 }, { type: 'SET_FIELD', field: 'ip_dscp', value: 1 }] },
      { type: 'CLEAR_ACTIONS' }, { type: 'DEC_NW_TTL' }, { type: 'GOTO_TABLE', table_id: 2 },
      { type: 'WRITE_METADATA', metadata: '0x10', metadata_mask: '0xff' }, { type: 'METER', meter_id: 1 },
    ],
  }),
  flow('empty WRITE_ACTIONS disappears; WRITE_METADATA mask defaults to all ones', {
    actions: [{ type: 'WRITE_ACTIONS', actions: [] }, { type: 'WRITE_METADATA', metadata: 18446744073709551615n }],
  }),
  flow('WRITE_METADATA with zero mask; GOTO_TABLE by name; METER by name', {
    table_id: 3, actions: [{ type: 'WRITE_METADATA', metadata: 1, metadata_mask: 0 }, { type: 'GOTO_TABLE', table_id: 'MAX' }, { type: 'METER', meter_id: 'OFPM_CONTROLLER' }],
  }),
  flow('experimenter actions (base64; padded data followed by another action)', {
    actions: [
      { type: 'EXPERIMENTER', experimenter: 101, data_type: 'base64', data: 'AAECAwQFBgc=' },
      { type: 'EXPERIMENTER', experimenter: '0x2320', data_type: 'base64', data: 'AQIDBAU=' },
      { type: 'OUTPUT', port: 1 },
    ],
  }),
  flow('every flow-mod field', {
    cookie: '0x10', cookie_mask: 18446744073709551615n, table_id: 'OFPTT_MAX', idle_timeout: 30, hard_timeout: '0x3c', priority: '100',
    buffer_id: 'NO_BUFFER', out_port: 'ANY', out_group: 5, flags: 31, match: { in_port: 1 }, actions: [{ type: 'OUTPUT', port: 'NORMAL' }],
  }),
  flow('buffer_id by number', { buffer_id: 7, actions: [{ type: 'OUTPUT', port: 'TABLE' }] }),
  flow('modify', { table_id: 0, match: { in_port: 1 }, actions: [{ type: 'OUTPUT', port: 4 }] }, 1),
  flow('modify_strict', { priority: 5, match: { in_port: 1 }, actions: [] }, 2),
  flow('delete with out_port/out_group', { table_id: 255, out_port: 2, out_group: 'ANY', match: { eth_type: 2048 } }, 3),
  flow('delete_strict with cookie', { priority: 7, cookie: 5, cookie_mask: 255, match: { in_port: 'LOCAL' } }, 4),
];

const group = (name: string, body: Json, cmd = 0): CommandCase => ({ name, fn: 'mod_group_entry', args: [body, cmd] });
const GROUPS: readonly CommandCase[] = [
  group('ALL with two buckets', { group_id: 1, type: 'ALL', buckets: [{ actions: [{ type: 'OUTPUT', port: 1 }] }, { actions: [{ type: 'SET_FIELD', field: 'vlan_vid', value: 4097 }, { type: 'OUTPUT', port: 2 }] }] }),
  group('SELECT with weights', { group_id: 2, type: 'SELECT', buckets: [{ weight: 3, actions: [{ type: 'OUTPUT', port: 1 }] }, { weight: '7', actions: [{ type: 'PUSH_VLAN', ethertype: 33024 }, { type: 'OUTPUT', port: 3 }] }] }),
  group('INDIRECT chaining to a group', { group_id: '0x10', type: 'INDIRECT', buckets: [{ actions: [{ type: 'DEC_NW_TTL' }, { type: 'GROUP', group_id: 1 }] }] }),
  group('FF with watch port and group', { group_id: 4, type: 'FF', buckets: [{ watch_port: 1, watch_group: 9, actions: [{ type: 'OUTPUT', port: 1 }] }, { watch_port: 2, actions: [{ type: 'OUTPUT', port: 2 }] }] }),
  group('defaults: type ALL, group 0, no buckets', {}),
  group('modify', { group_id: 1, type: 'ALL', buckets: [{ actions: [{ type: 'OUTPUT', port: 'IN_PORT' }] }] }, 1),
  group('delete all', { group_id: 'ALL' }, 2),
];

const meter = (name: string, body: Json, cmd = 0): CommandCase => ({ name, fn: 'mod_meter_entry', args: [body, cmd] });
const METERS: readonly CommandCase[] = [
  meter('every band type, flag list', {
    meter_id: 1, flags: ['KBPS', 'BURST', 'STATS'],
    bands: [{ type: 'DROP', rate: 1000, burst_size: 100 }, { type: 'DSCP_REMARK', rate: '2000', burst_size: 10, prec_level: 1 }, { type: 'EXPERIMENTER', rate: 5, experimenter: 101 }],
  }),
  meter('a single flag as text', { meter_id: 2, flags: 'PKTPS', bands: [{ type: 'DROP', rate: 10 }] }),
  meter('defaults', {}),
  meter('modify', { meter_id: 1, flags: ['KBPS'], bands: [{ type: 'DROP', rate: 50 }] }, 1),
  meter('delete all by name', { meter_id: 'ALL' }, 2),
];

const OTHERS: readonly CommandCase[] = [
  { name: 'port mod', fn: 'mod_port_behavior', args: [{ port_no: 1, hw_addr: 'AA:BB:CC:00:00:01', config: 1, mask: 1, advertise: 0 }] },
  { name: 'port mod by port name', fn: 'mod_port_behavior', args: [{ port_no: 'LOCAL', hw_addr: 'aa:bb:cc:00:00:02', config: '0x20', mask: '0x65', advertise: 4096 }] },
  { name: 'experimenter, base64', fn: 'send_experimenter', args: [{ experimenter: 8992, exp_type: 1, data_type: 'base64', data: 'AAECAw==' }] },
  { name: 'experimenter, ascii', fn: 'send_experimenter', args: [{ experimenter: 101, exp_type: 2, data: 'hello' }] },
  { name: 'experimenter, defaults', fn: 'send_experimenter', args: [{}] },
  { name: 'role MASTER', fn: 'set_role', args: [{ role: 'MASTER' }] },
  { name: 'role default EQUAL', fn: 'set_role', args: [{}] },
  { name: 'role by number', fn: 'set_role', args: [{ role: 3 }] },
];

const COMMANDS: readonly CommandCase[] = [...MATCHES, ...ACTIONS, ...GROUPS, ...METERS, ...OTHERS];

// ---- queries and replies -------------------------------------------------------------------------------

/** Every flow-mod case, as one flow in a flow-stats reply (split in two multipart parts). */
function flowStatsOf(mods: readonly MessageOf<'OFPFlowMod'>[]): MessageOf<'OFPFlowStatsReply'>[] {
  const body = mods.map((m, i) => ({
    table_id: i === 1 ? 254 : m.table_id === 255 ? 0 : m.table_id, duration_sec: i, duration_nsec: 1000 + i, priority: m.priority, idle_timeout: m.idle_timeout,
    hard_timeout: m.hard_timeout, flags: m.flags, cookie: m.cookie, packet_count: BigInt(i) * 3n, byte_count: i === 2 ? 0xfffffffffffffn * 16n : BigInt(i) * 300n,
    match: m.match, instructions: m.instructions,
  }));
  const half = Math.ceil(body.length / 2);
  return [
    { type: 'OFPFlowStatsReply', xid: 0, flags: OFPMPF.REPLY_MORE, body: body.slice(0, half) },
    { type: 'OFPFlowStatsReply', xid: 0, flags: 0, body: body.slice(half) },
  ];
}

const FLOW_MODS = [...MATCHES, ...ACTIONS].map((c) => ours(c.fn, c.args) as MessageOf<'OFPFlowMod'>);

const PORT = (no: number, name: string) => ({
  port_no: no, hw_addr: `aa:bb:cc:00:00:0${no & 7}`, name, config: no === 2 ? 1 : 0, state: 4, curr: 0x2840, advertised: 0x2000, supported: 0x2840,
  peer: 0, curr_speed: 10_000_000, max_speed: 10_000_000,
});

const QUERIES: readonly QueryCase[] = [
  {
    name: 'desc', fn: 'get_desc_stats', args: [],
    replies: [{ type: 'OFPDescStatsReply', xid: 0, flags: 0, body: { mfr_desc: 'tinflow', hw_desc: 'hw', sw_desc: 'sw 0.1', serial_num: 'None', dp_desc: 'br0' } }],
  },
  { name: 'desc without reply', fn: 'get_desc_stats', args: [], replies: [] },
  { name: 'flows, no filter, two parts', fn: 'get_flow_stats', args: [], replies: flowStatsOf(FLOW_MODS) },
  {
    name: 'flows, every filter key, priority filter', fn: 'get_flow_stats',
    args: [{ table_id: 1, flags: 0, out_port: 2, out_group: 'ANY', cookie: 5, cookie_mask: '0xff', priority: 200, match: { in_port: 1, dl_type: 2048, nw_dst: '10.0.0.0/8' } }],
    replies: flowStatsOf(FLOW_MODS),
  },
  { name: 'flows, empty reply', fn: 'get_flow_stats', args: [{ table_id: 'ALL' }], replies: [{ type: 'OFPFlowStatsReply', xid: 0, flags: 0, body: [] }] },
  {
    name: 'aggregate', fn: 'get_aggregate_flow_stats', args: [{ table_id: 0, match: { eth_type: 2054, nw_src: '10.0.0.1' } }],
    replies: [{ type: 'OFPAggregateStatsReply', xid: 0, flags: 0, body: { packet_count: 12n, byte_count: 0x20000000000000n, flow_count: 3 } }],
  },
  { name: 'aggregate, no filter', fn: 'get_aggregate_flow_stats', args: [], replies: [{ type: 'OFPAggregateStatsReply', xid: 0, flags: 0, body: { packet_count: 0n, byte_count: 0n, flow_count: 0 } }] },
  {
    name: 'tables', fn: 'get_table_stats', args: [],
    replies: [
      { type: 'OFPTableStatsReply', xid: 0, flags: OFPMPF.REPLY_MORE, body: [{ table_id: 0, active_count: 4, lookup_count: 100n, matched_count: 90n }] },
      { type: 'OFPTableStatsReply', xid: 0, flags: 0, body: [{ table_id: 254, active_count: 0, lookup_count: 0n, matched_count: 0n }] },
    ],
  },
  {
    name: 'table features, every property kind', fn: 'get_table_features', args: [],
    replies: [{
      type: 'OFPTableFeaturesStatsReply', xid: 0, flags: 0,
      body: [{
        table_id: 0, name: 'table0', metadata_match: 0xffffffffffffffffn, metadata_write: 0xffn, config: 3, max_entries: 1000,
        properties: [
          { kind: 'OFPTableFeaturePropInstructions', type: 0, instruction_ids: [{ type: 1 }, { type: 4 }, { type: 6 }] },
          { kind: 'OFPTableFeaturePropInstructions', type: 1, instruction_ids: [{ type: 4 }] },
          { kind: 'OFPTableFeaturePropNextTables', type: 2, table_ids: [1, 2, 3] },
          { kind: 'OFPTableFeaturePropNextTables', type: 3, table_ids: [] },
          { kind: 'OFPTableFeaturePropActions', type: 4, action_ids: [{ type: 0 }, { type: 25 }] },
          { kind: 'OFPTableFeaturePropActions', type: 7, action_ids: [{ type: 0 }] },
          { kind: 'OFPTableFeaturePropOxm', type: 8, oxm_ids: [{ type: 'in_port', hasmask: false, length: 4 }, { type: 'eth_dst', hasmask: true, length: 12 }] },
          { kind: 'OFPTableFeaturePropOxm', type: 10, oxm_ids: [{ type: 'ipv4_src', hasmask: false, length: 4 }] },
          { kind: 'OFPTableFeaturePropOxm', type: 14, oxm_ids: [{ type: 'vlan_vid', hasmask: false, length: 2 }] },
          { kind: 'OFPTableFeaturePropExperimenter', type: 0xfffe, experimenter: 101, exp_type: 1, data: [1, 2] },
        ],
      }, {
        table_id: 1, name: 'second', metadata_match: 0n, metadata_write: 0n, config: 0, max_entries: 5, properties: [],
      }],
    }],
  },
  {
    name: 'ports, all', fn: 'get_port_stats', args: [null],
    replies: [{
      type: 'OFPPortStatsReply', xid: 0, flags: 0,
      body: [1, 0xfffffffe].map((no) => ({
        port_no: no, rx_packets: 1n, tx_packets: 2n, rx_bytes: 3n, tx_bytes: 4n, rx_dropped: 5n, tx_dropped: 6n, rx_errors: 7n, tx_errors: 8n,
        rx_frame_err: 9n, rx_over_err: 10n, rx_crc_err: 11n, collisions: 12n, duration_sec: 13, duration_nsec: 14,
      })),
    }],
  },
  { name: 'ports, one', fn: 'get_port_stats', args: ['2'], replies: [{ type: 'OFPPortStatsReply', xid: 0, flags: 0, body: [] }] },
  { name: 'ports, hex', fn: 'get_port_stats', args: ['0x3'], replies: [{ type: 'OFPPortStatsReply', xid: 0, flags: 0, body: [] }] },
  {
    name: 'port desc', fn: 'get_port_desc', args: [],
    replies: [{ type: 'OFPPortDescStatsReply', xid: 0, flags: 0, body: [PORT(1, 'eth1'), PORT(2, 'eth2'), PORT(0xfffffffe, 'br0')] }],
  },
  {
    name: 'queues, all', fn: 'get_queue_stats', args: [null, null],
    replies: [{ type: 'OFPQueueStatsReply', xid: 0, flags: 0, body: [{ port_no: 1, queue_id: 0, tx_bytes: 10n, tx_packets: 1n, tx_errors: 0n, duration_sec: 5, duration_nsec: 6 }] }],
  },
  { name: 'queues of a port', fn: 'get_queue_stats', args: ['1', null], replies: [{ type: 'OFPQueueStatsReply', xid: 0, flags: 0, body: [] }] },
  { name: 'one queue', fn: 'get_queue_stats', args: ['1', '7'], replies: [{ type: 'OFPQueueStatsReply', xid: 0, flags: 0, body: [] }] },
  {
    name: 'queue config', fn: 'get_queue_config', args: ['1'],
    replies: [{
      type: 'OFPQueueGetConfigReply', xid: 0, port: 1,
      queues: [
        { queue_id: 0, port: 1, properties: [{ kind: 'OFPQueuePropMinRate', rate: 100 }, { kind: 'OFPQueuePropMaxRate', rate: 900 }] },
        { queue_id: 0xffffffff, port: 1, properties: [] },
      ],
    }],
  },
  { name: 'queue config, any port', fn: 'get_queue_config', args: [null], replies: [{ type: 'OFPQueueGetConfigReply', xid: 0, port: 0xffffffff, queues: [] }] },
  {
    name: 'groups', fn: 'get_group_stats', args: [null],
    replies: [{
      type: 'OFPGroupStatsReply', xid: 0, flags: 0,
      body: [
        { group_id: 1, ref_count: 2, packet_count: 3n, byte_count: 4n, duration_sec: 5, duration_nsec: 6, bucket_stats: [{ packet_count: 1n, byte_count: 2n }, { packet_count: 3n, byte_count: 4n }] },
        { group_id: 0xffffff00, ref_count: 0, packet_count: 0n, byte_count: 0n, duration_sec: 0, duration_nsec: 0, bucket_stats: [] },
      ],
    }],
  },
  { name: 'one group', fn: 'get_group_stats', args: ['5'], replies: [{ type: 'OFPGroupStatsReply', xid: 0, flags: 0, body: [] }] },
  {
    name: 'group desc', fn: 'get_group_desc', args: [],
    replies: [{
      type: 'OFPGroupDescStatsReply', xid: 0, flags: 0,
      body: (GROUPS.slice(0, 4).map((c) => ours(c.fn, c.args)) as MessageOf<'OFPGroupMod'>[]).map((g) => ({ type: g.group_type, group_id: g.group_id, buckets: g.buckets })),
    }],
  },
  {
    name: 'group features', fn: 'get_group_features', args: [],
    replies: [{
      type: 'OFPGroupFeaturesStatsReply', xid: 0, flags: 0,
      body: { types: 0b1011, capabilities: 0b0111, max_groups: [100, 200, 300, 0], actions: [0x0c1ffff, 1, 1 << 22, 0] },
    }],
  },
  {
    name: 'meters', fn: 'get_meter_stats', args: [null],
    replies: [{
      type: 'OFPMeterStatsReply', xid: 0, flags: 0,
      body: [{ meter_id: 1, flow_count: 2, packet_in_count: 3n, byte_in_count: 4n, duration_sec: 5, duration_nsec: 6, band_stats: [{ packet_band_count: 7n, byte_band_count: 8n }] },
        { meter_id: 0xfffffffe, flow_count: 0, packet_in_count: 0n, byte_in_count: 0n, duration_sec: 0, duration_nsec: 0, band_stats: [] }],
    }],
  },
  { name: 'one meter', fn: 'get_meter_stats', args: ['3'], replies: [{ type: 'OFPMeterStatsReply', xid: 0, flags: 0, body: [] }] },
  {
    name: 'meter config', fn: 'get_meter_config', args: [null],
    replies: [{
      type: 'OFPMeterConfigStatsReply', xid: 0, flags: 0,
      body: (METERS.slice(0, 2).map((c) => ours(c.fn, c.args)) as MessageOf<'OFPMeterMod'>[]).map((m) => ({ flags: m.flags, meter_id: m.meter_id, bands: m.bands })),
    }],
  },
  { name: 'one meter config', fn: 'get_meter_config', args: ['0x3'], replies: [{ type: 'OFPMeterConfigStatsReply', xid: 0, flags: 0, body: [] }] },
  {
    name: 'meter features', fn: 'get_meter_features', args: [],
    replies: [{ type: 'OFPMeterFeaturesStatsReply', xid: 0, flags: 0, body: [{ max_meter: 1000, band_types: 0b110, capabilities: 0b1111, max_bands: 4, max_color: 0 }] }],
  },
  { name: 'role', fn: 'get_role', args: [], replies: [{ type: 'OFPRoleReply', xid: 0, role: 2, generation_id: 0x8000000000000001n }] },
];

// ---- os-ken --------------------------------------------------------------------------------------------

interface OskenResult {
  readonly sent: readonly string[];
  readonly out?: Json;
  readonly error?: string;
}

function runOsken(): OskenResult[] {
  const cases: Json[] = [
    ...COMMANDS.map((c) => ({ fn: c.fn, args: [...c.args] })),
    ...QUERIES.map((q) => ({ fn: q.fn, args: [...q.args], replies: q.replies.map((m) => encode(m).toString('hex')) })),
  ];
  const out = execFileSync('/usr/bin/python3', ['test/oracles/ofctl_osken.py'], {
    input: stringifyJson({ dpid: DPID, cases }),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return (parseJson(out) as unknown as { results: OskenResult[] }).results;
}

/** The bytes with the xid zeroed: os-ken numbers its messages, ours are 0 until a datapath sends them. */
function noXid(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c.fill(0, 4, 8);
  return c;
}

function sameBytes(got: Buffer, wantHex: string | undefined, what: string): void {
  expect(wantHex, `${what}: os-ken sent nothing`).toBeDefined();
  const want = noXid(Buffer.from(wantHex ?? '', 'hex'));
  const g = noXid(got);
  const d = firstDiff(g, want);
  expect(d, `${what}: first differing byte at ${d}\n ours   ${g.toString('hex')}\n os-ken ${want.toString('hex')}`).toBe(-1);
}

/** JSON as text and back, so numbers and bigints compare alike on both sides. */
const norm = (j: Json): Json => parseJson(stringifyJson(j));

const RESULTS = runOsken();
const commandResults = RESULTS.slice(0, COMMANDS.length);
const queryResults = RESULTS.slice(COMMANDS.length);

describe('commands: the same bytes as os-ken ofctl_v1_3', () => {
  it('os-ken accepted every case', () => {
    expect(RESULTS).toHaveLength(COMMANDS.length + QUERIES.length);
    for (const [i, r] of RESULTS.entries()) expect(r.error, [...COMMANDS, ...QUERIES][i]?.name).toBeUndefined();
  });
  it.each(COMMANDS.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
    const r = commandResults[i] as OskenResult;
    expect(r.sent).toHaveLength(1);
    sameBytes(encode(ours(c.fn, c.args)), r.sent[0], c.name);
  });
});

describe('queries: the same requests and the same JSON as os-ken', () => {
  it.each(QUERIES.map((q, i) => [q.name, q, i] as const))('%s', (_name, q, i) => {
    const r = queryResults[i] as OskenResult;
    const query = ourQuery(q.fn, q.args);
    sameBytes(encode(query.request), r.sent[0], `${q.name} request`);
    const decoded = q.replies.map((m) => decode(encode(m)));
    const got = norm({ [DPID.toString()]: query.parse(decoded) });
    expect(got).toEqual(r.out);
  });

  it('covers every match field and every action in the flow-stats output', () => {
    const i = QUERIES.findIndex((q) => q.name === 'flows, no filter, two parts');
    const text = stringifyJson(queryResults[i]?.out ?? null);
    for (const k of Object.keys(matchKeysSeen())) expect(text, k).toContain(`"${k}"`);
    for (const a of ['OUTPUT:CONTROLLER', 'COPY_TTL_OUT', 'SET_MPLS_TTL:64', 'PUSH_PBB:35047', 'SET_FIELD: {tunnel_id:1152921504606846977}', 'WRITE_ACTIONS', 'CLEAR_ACTIONS', 'GOTO_TABLE:MAX', 'WRITE_METADATA:0x10/0xff', 'METER:CONTROLLER', 'EXPERIMENTER: {experimenter:101', '"table_id":"MAX"', '"dl_vlan":"5"', '"dl_vlan":"0x1000/0x1000"', '"dl_vlan":"0x0000"']) {
      expect(text, a).toContain(a);
    }
  });
});

function matchKeysSeen(): Record<string, true> {
  const out: Record<string, true> = {};
  for (const m of FLOW_MODS) for (const k of Object.keys(ofctl.matchToStr(m.match))) out[k] = true;
  // every OXM field that ofctl's to_match can make, under its ofctl output name
  for (const k of ['in_port', 'in_phy_port', 'metadata', 'dl_dst', 'dl_src', 'dl_type', 'dl_vlan', 'vlan_pcp', 'ip_dscp', 'ip_ecn', 'nw_proto', 'nw_src', 'nw_dst',
    'tp_src', 'tp_dst', 'sctp_src', 'sctp_dst', 'icmpv4_type', 'icmpv4_code', 'arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha', 'ipv6_src', 'ipv6_dst',
    'ipv6_flabel', 'icmpv6_type', 'icmpv6_code', 'ipv6_nd_target', 'ipv6_nd_sll', 'ipv6_nd_tll', 'mpls_label', 'mpls_tc', 'mpls_bos', 'pbb_isid', 'tunnel_id',
    'ipv6_exthdr']) {
    expect(out[k], `no case matches ${k}`).toBe(true);
  }
  return out;
}

// ---- bad input -----------------------------------------------------------------------------------------

const BAD: readonly (readonly [string, () => unknown, RegExp])[] = [
  ['unknown match field', () => ofctl.toMatch({ in_port: 1, foo: 1 }), /^match\.foo: unknown match field/],
  ['tp_dst without a protocol', () => ofctl.toMatch({ tp_dst: 80 }), /^match\.tp_dst: tp_dst needs nw_proto or ip_proto 6 \(TCP\) or 17 \(UDP\), got 0/],
  ['tp_src with SCTP', () => ofctl.toMatch({ ip_proto: 132, tp_src: 1 }), /^match\.tp_src: .* got 132/],
  ['bad MAC', () => ofctl.toMatch({ dl_dst: 'zz:00:00:00:00:00' }), /^match\.dl_dst: "zz:00:00:00:00:00" is not a MAC address/],
  ['bad MAC mask', () => ofctl.toMatch({ eth_src: '00:00:00:00:00:01/ff:ff' }), /^match\.eth_src: "ff:ff" is not a MAC address/],
  ['MAC as a number', () => ofctl.toMatch({ eth_src: 5 }), /^match\.eth_src: expected a string, got 5/],
  ['bad IPv4', () => ofctl.toMatch({ nw_src: '10.0.0.256' }), /^match\.nw_src: "10\.0\.0\.256" is not an IPv4 address/],
  ['prefix too long', () => ofctl.toMatch({ ipv4_dst: '10.0.0.0/33' }), /^match\.ipv4_dst: "10\.0\.0\.0\/33": prefix length 33 is above 32/],
  ['IPv6 as IPv4', () => ofctl.toMatch({ ipv6_src: '10.0.0.1' }), /^match\.ipv6_src: "10\.0\.0\.1" is not an IPv6 address/],
  ['two slashes', () => ofctl.toMatch({ nw_src: '10.0.0.1/8/8' }), /^match\.nw_src: "10\.0\.0\.1\/8\/8": expected address\/mask/],
  ['bad in_port name', () => ofctl.toMatch({ in_port: 'CONTROLER' }), /^match\.in_port: "CONTROLER" is not a number or one of MAX, IN_PORT, .*CONTROLLER/],
  ['vlan_pcp out of range', () => ofctl.toMatch({ vlan_pcp: 300 }), /^match\.vlan_pcp: 300 is out of range for an unsigned 8-bit field/],
  ['vlan id out of range', () => ofctl.toMatch({ dl_vlan: 0x10000 }), /^match\.dl_vlan: 65536 is out of range for an unsigned 16-bit field/],
  ['masked metadata with three parts', () => ofctl.toMatch({ metadata: '1/2/3' }), /^match\.metadata: "1\/2\/3": expected value\/mask/],
  ['a fraction', () => ofctl.toMatch({ eth_type: 1.5 }), /^match\.eth_type: expected an integer .* got 1\.5/],
  ['a boolean', () => ofctl.toMatch({ ip_proto: true }), /^match\.ip_proto: expected an integer .* got true/],
  ['not hex', () => ofctl.toMatch({ eth_type: '0xzz' }), /^match\.eth_type: expected an integer .* got "0xzz"/],
  ['match as a list', () => ofctl.toMatch([1]), /^match: expected an object, got \[1\]/],
  ['actions not a list', () => ofctl.toActions('OUTPUT:1'), /^actions: expected a list, got "OUTPUT:1"/],
  ['action without type', () => ofctl.toActions([{ port: 1 }]), /^actions\[0\]\.type: missing/],
  ['unknown action type', () => ofctl.toActions([{ type: 'OUTPUT', port: 1 }, { type: 'FOO' }]), /^actions\[1\]\.type: unknown action type "FOO"; expected one of OUTPUT, .*METER/],
  ['lower-case action type', () => ofctl.toActions([{ type: 'output', port: 1 }]), /^actions\[0\]\.type: unknown action type "output"/],
  ['typo in an action key', () => ofctl.toActions([{ type: 'OUTPUT', prot: 1 }]), /^actions\[0\]\.prot: unknown key in a OUTPUT action; expected type, port, max_len/],
  ['missing ethertype', () => ofctl.toActions([{ type: 'PUSH_VLAN' }]), /^actions\[0\]\.ethertype: missing/],
  ['output port out of range', () => ofctl.toActions([{ type: 'OUTPUT', port: 4294967296 }]), /^actions\[0\]\.port: 4294967296 is out of range for an unsigned 32-bit field/],
  ['unknown set-field field', () => ofctl.toActions([{ type: 'SET_FIELD', field: 'eth_dstt', value: '00:00:00:00:00:01' }]), /^actions\[0\]\.field: unknown field "eth_dstt"/],
  ['set-field MAC as a number', () => ofctl.toActions([{ type: 'SET_FIELD', field: 'eth_dst', value: 5 }]), /^actions\[0\]\.value: expected a string, got 5/],
  ['set-field value missing', () => ofctl.toActions([{ type: 'SET_FIELD', field: 'tcp_dst' }]), /^actions\[0\]\.value: missing/],
  ['COPY_FIELD', () => ofctl.toActions([{ type: 'COPY_FIELD' }]), /^actions\[0\]\.type: COPY_FIELD is an OpenFlow 1\.5 action/],
  ['instruction inside WRITE_ACTIONS', () => ofctl.toActions([{ type: 'WRITE_ACTIONS', actions: [{ type: 'GOTO_TABLE', table_id: 1 }] }]), /^actions\[0\]\.actions\[0\]\.type: "GOTO_TABLE" is an instruction; WRITE_ACTIONS take actions only/],
  ['WRITE_ACTIONS without actions', () => ofctl.toActions([{ type: 'WRITE_ACTIONS' }]), /^actions\[0\]\.actions: expected a list, got nothing/],
  ['GOTO_TABLE without table', () => ofctl.toActions([{ type: 'GOTO_TABLE' }]), /^actions\[0\]\.table_id: missing/],
  ['GOTO_TABLE to table 256', () => ofctl.toActions([{ type: 'GOTO_TABLE', table_id: 256 }]), /^actions\[0\]\.table_id: 256 is out of range for an unsigned 8-bit field/],
  ['bad base64', () => ofctl.toActions([{ type: 'EXPERIMENTER', experimenter: 1, data_type: 'base64', data: '!!' }]), /^actions\[0\]\.data: "!!" is not base64/],
  ['unknown data type', () => ofctl.toActions([{ type: 'EXPERIMENTER', experimenter: 1, data_type: 'hex' }]), /^actions\[0\]\.data_type: unknown data type "hex"/],
  ['flow priority out of range', () => ofctl.modFlowEntry({ priority: 65536 }, 0), /^priority: 65536 is out of range for an unsigned 16-bit field/],
  ['flow cookie negative', () => ofctl.modFlowEntry({ cookie: -1 }, 0), /^cookie: -1 is out of range for an unsigned 64-bit field/],
  ['flow with instructions (not an ofctl key)', () => ofctl.modFlowEntry({ instructions: [] }, 0), /^instructions: unknown key in a flow entry; expected dpid, cookie/],
  ['flow body a list', () => ofctl.modFlowEntry([], 0), /^expected an object, got \[\]/],
  ['bad buffer id', () => ofctl.modFlowEntry({ buffer_id: 'NONE' }, 0), /^buffer_id: expected an integer .* got "NONE"/],
  ['unknown group type', () => ofctl.modGroupEntry({ type: 'FANCY' }, 0), /^type: unknown group type "FANCY"; expected ALL, SELECT, INDIRECT, FF/],
  ['group type as a number', () => ofctl.modGroupEntry({ type: 1 }, 0), /^type: unknown group type 1/],
  ['instruction in a bucket', () => ofctl.modGroupEntry({ buckets: [{ actions: [{ type: 'METER', meter_id: 1 }] }] }, 0), /^buckets\[0\]\.actions\[0\]\.type: "METER" is an instruction; buckets take actions only/],
  ['typo in a bucket', () => ofctl.modGroupEntry({ buckets: [{ wieght: 1 }] }, 0), /^buckets\[0\]\.wieght: unknown key in a bucket/],
  ['unknown meter flag', () => ofctl.modMeterEntry({ flags: ['KBPS', 'FAST'] }, 0), /^flags\[1\]: unknown meter flag "FAST"; expected KBPS, PKTPS, BURST, STATS/],
  ['meter flag as a number', () => ofctl.modMeterEntry({ flags: 1 }, 0), /^flags: unknown meter flag 1/],
  ['unknown band type', () => ofctl.modMeterEntry({ bands: [{ type: 'DRAP', rate: 1 }] }, 0), /^bands\[0\]\.type: unknown band type "DRAP"/],
  ['band without type', () => ofctl.modMeterEntry({ bands: [{ rate: 1 }] }, 0), /^bands\[0\]\.type: missing/],
  ['prec_level on a DROP band', () => ofctl.modMeterEntry({ bands: [{ type: 'DROP', prec_level: 1 }] }, 0), /^bands\[0\]\.prec_level: unknown key in a DROP band/],
  ['port mod without hw_addr or port', () => ofctl.modPortBehavior({ port_no: 1, config: 1, mask: 1 }, undefined), /^hw_addr: missing/],
  ['port mod bad hw_addr', () => ofctl.modPortBehavior({ port_no: 1, hw_addr: 'nope' }, { hw_addr: '00:00:00:00:00:01', advertised: 0 }), /^hw_addr: "nope" is not a MAC address/],
  ['experimenter bad data type', () => ofctl.experimenterMessage({ data_type: 'hex', data: '00' }), /^data_type: unknown data type "hex"/],
  ['experimenter non-ASCII', () => ofctl.experimenterMessage({ data: 'héllo' }), /^data: "héllo" is not ASCII/],
  ['unknown role', () => ofctl.roleRequest({ role: 'BOSS' }), /^role: "BOSS" is not a number or one of NOCHANGE, EQUAL, MASTER, SLAVE/],
  ['flow filter with a bad match', () => ofctl.getFlowStats({ match: { nw_dst: 1 } }), /^match\.nw_dst: expected a string, got 1/],
  ['aggregate filter with priority', () => ofctl.getAggregateFlowStats({ priority: 1 }), /^priority: unknown key in a flow filter/],
  ['flow filter priority not a number', () => ofctl.getFlowStats({ priority: 'high' }), /^priority: expected an integer/],
  ['port in a URL', () => ofctl.getPortStats('one'), /^port: "one" is not a number or one of MAX/],
  ['meter in a URL', () => ofctl.getMeterStats('-1'), /^meter_id: "-1" is out of range/],
];

describe('bad input: ControllerError bad-request naming the key path and the value', () => {
  it.each(BAD)('%s', (_name, fn, message) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ControllerError);
    expect((err as ControllerError).code).toBe('bad-request');
    expect((err as ControllerError).message).toMatch(message);
  });
});

describe('reply output details', () => {
  it('a flow-stats entry counts its own length as the switch wrote it', () => {
    const mod = ofctl.modFlowEntry({ match: { in_port: 1 }, actions: [{ type: 'OUTPUT', port: 2 }] }, 0);
    const reply: MessageOf<'OFPFlowStatsReply'> = {
      type: 'OFPFlowStatsReply', xid: 0, flags: 0,
      body: [{ table_id: 0, duration_sec: 0, duration_nsec: 0, priority: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, cookie: 0n, packet_count: 0n, byte_count: 0n, match: mod.match, instructions: mod.instructions }],
    };
    const [entry] = ofctl.getFlowStats().parse([reply]) as { length: number }[];
    expect(entry?.length).toBe(encode(reply).length - 16);
    expect(entry?.length).toBe(56 + 8 + 24);
  });

  it('os-ken\'s port-desc filter is ours only by URL; port ids by name', () => {
    const q = ofctl.getPortDesc('LOCAL');
    const out = q.parse([{ type: 'OFPPortDescStatsReply', xid: 0, flags: 0, body: [PORT(1, 'a'), PORT(0xfffffffe, 'br')] }]) as { port_no: Json }[];
    expect(out.map((p) => p.port_no)).toEqual(['LOCAL']);
  });

  it('switch errors as JSON with the spec\'s names', () => {
    expect(ofctl.switchErrorJson({ type: 'OFPErrorMsg', xid: 1, err_type: 3, code: 2, data: Buffer.alloc(0) })).toEqual({
      err_type: 3, err_code: 2, err_type_name: 'OFPET_BAD_INSTRUCTION', err_code_name: 'OFPBIC_BAD_TABLE_ID',
    });
    expect(ofctl.switchErrorJson({ type: 'OFPErrorMsg', xid: 1, err_type: 0xffff, exp_type: 7, experimenter: 9, data: Buffer.alloc(0) })).toEqual({
      err_type: 0xffff, err_type_name: 'OFPET_EXPERIMENTER', exp_type: 7, experimenter: 9,
    });
  });
});
