// Actions on packets: every set-field with its checksums (compared byte for byte with frames built from
// scratch here, and with partial checksums left to the device), push/pop of VLAN, MPLS and PBB with the
// offload header kept consistent, the TTL actions, copy-on-write, the key following the bytes, action
// validation, and the action set's order.
import { describe, expect, it } from 'vitest';
import { type Action, OFPBAC, OFPET, type OxmValue } from '../../openflow/index.js';
import { ipv4FromText, ipv6FromText } from '../../openflow/json.js';
import {
  APPLIED,
  ActionSet,
  INVALID_TTL,
  SETTABLE_FIELDS,
  SKIPPED,
  UNSUPPORTED,
  actionSetOrder,
  applyAction,
  crc32c as crc32cOfActions,
  validateAction,
} from '../../switch/actions.js';
import { OFPError } from '../../switch/errors.js';
import { decompileMatch } from '../../switch/compiled-match.js';
import { FIELD_SLOTS } from '../../switch/key.js';
import { Packet } from '../../switch/pipeline-packet.js';

import { v4, sum16, csum, crc32c, L4, tcp, udp, sctp, icmp4, icmp6, nd, ipv4, ipv6, arp, lse, itag, DST, SRC, eth } from './frames.js';
import { sameBytes } from '../helpers/bytes.js';

// ---- key ⇄ field records ----------------------------------------------------------------------------
// ---- helpers ------------------------------------------------------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const setField = (field: string, value: OxmValue): Action => ({ kind: 'OFPActionSetField', field: { field, value } });

function run(frame: Buffer, ...actions: Action[]): { pkt: Packet; results: string[] } {
  const pkt = new Packet(Buffer.from(frame), 1);
  const results = actions.map((a) => applyAction(pkt, a).kind);
  return { pkt, results };
}

/** A virtio-net header (little-endian fields). */
function vnet(flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): Buffer {
  const h = Buffer.alloc(10);
  h[0] = flags;
  h[1] = gsoType;
  h.writeUInt16LE(hdrLen, 2);
  h.writeUInt16LE(gsoSize, 4);
  h.writeUInt16LE(csumStart, 6);
  h.writeUInt16LE(csumOffset, 8);
  return h;
}

/** The key's fields as a record (all of them, zeros included). */
function keyFields(pkt: Packet): Record<string, OxmValue> {
  const ones = new Uint32Array(pkt.key().length).fill(0xffffffff);
  return Object.fromEntries(decompileMatch(pkt.key(), ones).map((t) => [t.field, t.value]));
}

const NEW_MAC = '0a:1b:2c:3d:4e:5f';
/** Transport bytes of no protocol in particular. */
const RAW = Buffer.alloc(12, 0x5e);
const TCI = (2 << 13) | 10;

// ---- set-field -------------------------------------------------------------------------------------------

interface SetCase {
  readonly name: string;
  readonly field: string;
  readonly value: OxmValue;
  readonly before: Buffer;
  readonly after: Buffer;
}

const SETS: readonly SetCase[] = [
  { name: 'eth_dst', field: 'eth_dst', value: NEW_MAC, before: eth(0x0800, ipv4({}, tcp(1, 2))), after: eth(0x0800, ipv4({}, tcp(1, 2)), [], NEW_MAC) },
  { name: 'eth_src', field: 'eth_src', value: NEW_MAC, before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), after: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2'), [], DST, NEW_MAC) },
  { name: 'eth_type', field: 'eth_type', value: 0x88b5, before: eth(0x88cc, Buffer.alloc(30, 3)), after: eth(0x88b5, Buffer.alloc(30, 3)) },
  { name: 'vlan_vid (with OFPVID_PRESENT)', field: 'vlan_vid', value: 0x1000 | 4000, before: eth(0x0800, ipv4({}, udp(1, 2)), [[0x8100, TCI]]), after: eth(0x0800, ipv4({}, udp(1, 2)), [[0x8100, (2 << 13) | 4000]]) },
  { name: 'vlan_vid (bare VID), outer tag of two', field: 'vlan_vid', value: 7, before: eth(0x0800, ipv4({}, udp(1, 2)), [[0x88a8, TCI | 0x1000], [0x8100, 5]]), after: eth(0x0800, ipv4({}, udp(1, 2)), [[0x88a8, (2 << 13) | 0x1000 | 7], [0x8100, 5]]) },
  { name: 'vlan_pcp', field: 'vlan_pcp', value: 7, before: eth(0x0800, ipv4({}, udp(1, 2)), [[0x8100, TCI]]), after: eth(0x0800, ipv4({}, udp(1, 2)), [[0x8100, (7 << 13) | 10]]) },
  { name: 'ip_dscp on IPv4', field: 'ip_dscp', value: 46, before: eth(0x0800, ipv4({ tos: 0x03 }, tcp(1, 2))), after: eth(0x0800, ipv4({ tos: 0xbb }, tcp(1, 2))) },
  { name: 'ip_ecn on IPv4', field: 'ip_ecn', value: 2, before: eth(0x0800, ipv4({ tos: 0xb9 }, icmp4(8, 0))), after: eth(0x0800, ipv4({ tos: 0xba }, icmp4(8, 0))) },
  { name: 'ip_dscp on IPv6', field: 'ip_dscp', value: 10, before: eth(0x86dd, ipv6({ tc: 0x01, flabel: 0x12345 }, udp(1, 2))), after: eth(0x86dd, ipv6({ tc: 0x29, flabel: 0x12345 }, udp(1, 2))) },
  { name: 'ip_ecn on IPv6', field: 'ip_ecn', value: 3, before: eth(0x86dd, ipv6({ tc: 0xfc, flabel: 0xfffff }, udp(1, 2))), after: eth(0x86dd, ipv6({ tc: 0xff, flabel: 0xfffff }, udp(1, 2))) },
  // ip_proto: the transport bytes stay as they are (here a TCP segment with its TCP checksum, now called UDP)
  { name: 'ip_proto on IPv4 (header checksum)', field: 'ip_proto', value: 17, before: eth(0x0800, ipv4({}, tcp(1, 2))), after: eth(0x0800, ipv4({}, { proto: 17, raw: eth(0x0800, ipv4({}, tcp(1, 2))).subarray(34) })) },
  { name: 'ip_proto on an IPv4 later fragment', field: 'ip_proto', value: 254, before: eth(0x0800, ipv4({ fragOff: 5 }, { proto: 6, raw: RAW })), after: eth(0x0800, ipv4({ fragOff: 5 }, { proto: 254, raw: RAW })) },
  { name: 'ip_proto on IPv6', field: 'ip_proto', value: 254, before: eth(0x86dd, ipv6({}, { proto: 253, raw: RAW })), after: eth(0x86dd, ipv6({}, { proto: 254, raw: RAW })) },
  { name: 'ip_proto on IPv6 after extension headers: the last one\'s next header', field: 'ip_proto', value: 254, before: eth(0x86dd, ipv6({ exts: [{ type: 0 }, { type: 60 }] }, { proto: 253, raw: RAW })), after: eth(0x86dd, ipv6({ exts: [{ type: 0 }, { type: 60 }] }, { proto: 254, raw: RAW })) },
  { name: 'ip_proto on an IPv6 later fragment: the fragment header\'s next header', field: 'ip_proto', value: 17, before: eth(0x86dd, ipv6({ exts: [{ type: 44, offset: 8, mf: false }] }, { proto: 6, raw: RAW })), after: eth(0x86dd, ipv6({ exts: [{ type: 44, offset: 8, mf: false }] }, { proto: 17, raw: RAW })) },
  { name: 'ipv4_src, TCP', field: 'ipv4_src', value: '192.168.77.5', before: eth(0x0800, ipv4({}, tcp(1, 2))), after: eth(0x0800, ipv4({ src: '192.168.77.5' }, tcp(1, 2))) },
  { name: 'ipv4_dst, UDP', field: 'ipv4_dst', value: '255.255.255.255', before: eth(0x0800, ipv4({}, udp(1, 2))), after: eth(0x0800, ipv4({ dst: '255.255.255.255' }, udp(1, 2))) },
  { name: 'ipv4_dst, UDP without checksum: stays 0', field: 'ipv4_dst', value: '1.2.3.4', before: eth(0x0800, ipv4({ noUdpCsum: true }, udp(1, 2))), after: eth(0x0800, ipv4({ dst: '1.2.3.4', noUdpCsum: true }, udp(1, 2))) },
  { name: 'ipv4_src, ICMP (no pseudo-header)', field: 'ipv4_src', value: '9.9.9.9', before: eth(0x0800, ipv4({}, icmp4(0, 0))), after: eth(0x0800, ipv4({ src: '9.9.9.9' }, icmp4(0, 0))) },
  { name: 'ipv4_src, SCTP (CRC does not cover addresses)', field: 'ipv4_src', value: '9.9.9.9', before: eth(0x0800, ipv4({}, sctp(1, 2))), after: eth(0x0800, ipv4({ src: '9.9.9.9' }, sctp(1, 2))) },
  { name: 'ipv4_src, later fragment: L4 bytes untouched', field: 'ipv4_src', value: '9.9.9.9', before: eth(0x0800, ipv4({ fragOff: 3 }, { proto: 6, raw: Buffer.alloc(24, 0x77) })), after: eth(0x0800, ipv4({ src: '9.9.9.9', fragOff: 3 }, { proto: 6, raw: Buffer.alloc(24, 0x77) })) },
  { name: 'ipv4_dst behind a VLAN tag', field: 'ipv4_dst', value: '172.16.0.1', before: eth(0x0800, ipv4({}, tcp(1, 2)), [[0x8100, 1]]), after: eth(0x0800, ipv4({ dst: '172.16.0.1' }, tcp(1, 2)), [[0x8100, 1]]) },
  { name: 'tcp_src', field: 'tcp_src', value: 65535, before: eth(0x0800, ipv4({}, tcp(1, 2))), after: eth(0x0800, ipv4({}, tcp(65535, 2))) },
  { name: 'tcp_dst on IPv6', field: 'tcp_dst', value: 8080, before: eth(0x86dd, ipv6({}, tcp(1, 2))), after: eth(0x86dd, ipv6({}, tcp(1, 8080))) },
  { name: 'udp_src', field: 'udp_src', value: 0, before: eth(0x0800, ipv4({}, udp(1, 2))), after: eth(0x0800, ipv4({}, udp(0, 2))) },
  { name: 'udp_dst on IPv6', field: 'udp_dst', value: 4789, before: eth(0x86dd, ipv6({}, udp(1, 2))), after: eth(0x86dd, ipv6({}, udp(1, 4789))) },
  { name: 'udp_dst without checksum: stays 0', field: 'udp_dst', value: 9, before: eth(0x0800, ipv4({ noUdpCsum: true }, udp(1, 2))), after: eth(0x0800, ipv4({ noUdpCsum: true }, udp(1, 9))) },
  { name: 'udp_dst after hop-by-hop', field: 'udp_dst', value: 9, before: eth(0x86dd, ipv6({ exts: [{ type: 0 }] }, udp(1, 2))), after: eth(0x86dd, ipv6({ exts: [{ type: 0 }] }, udp(1, 9))) },
  { name: 'sctp_src (CRC32c recomputed)', field: 'sctp_src', value: 5060, before: eth(0x0800, ipv4({}, sctp(1, 2))), after: eth(0x0800, ipv4({}, sctp(5060, 2))) },
  { name: 'sctp_dst on IPv6', field: 'sctp_dst', value: 36412, before: eth(0x86dd, ipv6({}, sctp(1, 2))), after: eth(0x86dd, ipv6({}, sctp(1, 36412))) },
  { name: 'icmpv4_type', field: 'icmpv4_type', value: 0, before: eth(0x0800, ipv4({}, icmp4(8, 0))), after: eth(0x0800, ipv4({}, icmp4(0, 0))) },
  { name: 'icmpv4_code', field: 'icmpv4_code', value: 13, before: eth(0x0800, ipv4({}, icmp4(3, 1))), after: eth(0x0800, ipv4({}, icmp4(3, 13))) },
  { name: 'arp_op', field: 'arp_op', value: 2, before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), after: eth(0x0806, arp(2, SRC, '1.1.1.1', DST, '2.2.2.2')) },
  { name: 'arp_spa', field: 'arp_spa', value: '10.10.10.10', before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), after: eth(0x0806, arp(1, SRC, '10.10.10.10', DST, '2.2.2.2')) },
  { name: 'arp_tpa', field: 'arp_tpa', value: '10.10.10.10', before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), after: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '10.10.10.10')) },
  { name: 'arp_sha', field: 'arp_sha', value: NEW_MAC, before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), after: eth(0x0806, arp(1, NEW_MAC, '1.1.1.1', DST, '2.2.2.2')) },
  { name: 'arp_tha', field: 'arp_tha', value: NEW_MAC, before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2'), [[0x8100, 3]]), after: eth(0x0806, arp(1, SRC, '1.1.1.1', NEW_MAC, '2.2.2.2'), [[0x8100, 3]]) },
  { name: 'ipv6_src, TCP', field: 'ipv6_src', value: '2001:db8:ffff::1234', before: eth(0x86dd, ipv6({}, tcp(1, 2))), after: eth(0x86dd, ipv6({ src: '2001:db8:ffff::1234' }, tcp(1, 2))) },
  { name: 'ipv6_dst, UDP', field: 'ipv6_dst', value: 'ff02::fb', before: eth(0x86dd, ipv6({}, udp(1, 2))), after: eth(0x86dd, ipv6({ dst: 'ff02::fb' }, udp(1, 2))) },
  { name: 'ipv6_src, ICMPv6 (pseudo-header)', field: 'ipv6_src', value: 'fe80::1', before: eth(0x86dd, ipv6({}, icmp6(128, 0))), after: eth(0x86dd, ipv6({ src: 'fe80::1' }, icmp6(128, 0))) },
  { name: 'ipv6_dst, SCTP', field: 'ipv6_dst', value: 'fe80::1', before: eth(0x86dd, ipv6({}, sctp(1, 2))), after: eth(0x86dd, ipv6({ dst: 'fe80::1' }, sctp(1, 2))) },
  { name: 'ipv6_flabel', field: 'ipv6_flabel', value: 0xabcde, before: eth(0x86dd, ipv6({ tc: 0xff, flabel: 1 }, udp(1, 2))), after: eth(0x86dd, ipv6({ tc: 0xff, flabel: 0xabcde }, udp(1, 2))) },
  { name: 'icmpv6_type', field: 'icmpv6_type', value: 129, before: eth(0x86dd, ipv6({}, icmp6(128, 0))), after: eth(0x86dd, ipv6({}, icmp6(129, 0))) },
  { name: 'icmpv6_code', field: 'icmpv6_code', value: 4, before: eth(0x86dd, ipv6({}, icmp6(1, 0))), after: eth(0x86dd, ipv6({}, icmp6(1, 4))) },
  { name: 'ipv6_nd_target', field: 'ipv6_nd_target', value: 'fd00::abcd', before: eth(0x86dd, ipv6({}, nd(135, 'fd00::1', [[1, SRC]]))), after: eth(0x86dd, ipv6({}, nd(135, 'fd00::abcd', [[1, SRC]]))) },
  { name: 'ipv6_nd_sll', field: 'ipv6_nd_sll', value: NEW_MAC, before: eth(0x86dd, ipv6({}, nd(135, 'fd00::1', [[1, SRC]]))), after: eth(0x86dd, ipv6({}, nd(135, 'fd00::1', [[1, NEW_MAC]]))) },
  { name: 'ipv6_nd_tll', field: 'ipv6_nd_tll', value: NEW_MAC, before: eth(0x86dd, ipv6({}, nd(136, 'fd00::1', [[2, SRC]]))), after: eth(0x86dd, ipv6({}, nd(136, 'fd00::1', [[2, NEW_MAC]]))) },
  { name: 'mpls_label', field: 'mpls_label', value: 0xfffff, before: eth(0x8847, Buffer.concat([lse(16, 5, 1, 64), Buffer.alloc(20)])), after: eth(0x8847, Buffer.concat([lse(0xfffff, 5, 1, 64), Buffer.alloc(20)])) },
  { name: 'mpls_tc', field: 'mpls_tc', value: 2, before: eth(0x8847, Buffer.concat([lse(16, 5, 1, 64), Buffer.alloc(20)])), after: eth(0x8847, Buffer.concat([lse(16, 2, 1, 64), Buffer.alloc(20)])) },
  { name: 'mpls_bos', field: 'mpls_bos', value: 0, before: eth(0x8847, Buffer.concat([lse(16, 5, 1, 64), Buffer.alloc(20)])), after: eth(0x8847, Buffer.concat([lse(16, 5, 0, 64), Buffer.alloc(20)])) },
  { name: 'pbb_isid', field: 'pbb_isid', value: 0xfedcba, before: eth(0x88e7, itag(5, 1)), after: eth(0x88e7, itag(5, 0xfedcba)) },
];

describe('set-field', () => {
  it.each(SETS)('$name', ({ field, value, before, after }) => {
    const { pkt, results } = run(before, setField(field, value));
    expect(results).toEqual(['applied']);
    sameBytes(pkt.data, after);
    // The key follows: extracted again from the new bytes.
    expect(keyFields(pkt)).toEqual(keyFields(new Packet(after, 1)));
  });

  it('covers every field a set-field may set', () => {
    const covered = new Set([...SETS.map((c) => c.field), 'tunnel_id']);
    expect([...SETTABLE_FIELDS].sort()).toEqual([...covered].sort());
    const notSettable = [...FIELD_SLOTS.keys()].filter((f) => !SETTABLE_FIELDS.has(f));
    expect(notSettable.sort()).toEqual(['in_phy_port', 'in_port', 'ipv6_exthdr', 'metadata']);
  });

  it('tunnel_id goes to the packet and its key', () => {
    const { pkt, results } = run(eth(0x0800, ipv4({}, tcp(1, 2))), setField('tunnel_id', 0x123456789abcdefn));
    expect(results).toEqual(['applied']);
    expect(pkt.tunnelId).toBe(0x123456789abcdefn);
    expect(keyFields(pkt)['tunnel_id']).toBe(0x123456789abcdefn);
  });

  // Random addresses and ports, compared with frames built from scratch: no case where the incremental
  // update and a full computation differ (RFC 1624's -0 trap among them).
  it('keeps checksums equal to a full computation over random values', () => {
    let seed = 4242;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 4) % n;
    };
    const a4 = (): string => [rnd(256), rnd(256), rnd(256), rnd(256)].join('.');
    const a6 = (): string => Array.from({ length: 8 }, () => rnd(0x10000).toString(16)).join(':');
    for (let i = 0; i < 300; i++) {
      const [s, d, p, q] = [a4(), a4(), rnd(0x10000), rnd(0x10000)];
      const l4 = i % 2 ? (x: number, y: number): L4 => tcp(x, y) : (x: number, y: number): L4 => udp(x, y);
      const { pkt } = run(eth(0x0800, ipv4({ ttl: rnd(256) }, l4(1, 2))), setField('ipv4_src', s), setField('ipv4_dst', d), setField(i % 2 ? 'tcp_src' : 'udp_src', p), setField(i % 2 ? 'tcp_dst' : 'udp_dst', q));
      sameBytes(pkt.data, eth(0x0800, ipv4({ src: s, dst: d, ttl: pkt.data[22] as number }, l4(p, q))));
      const [s6, d6] = [a6(), a6()];
      const { pkt: pkt6 } = run(eth(0x86dd, ipv6({}, i % 3 ? l4(1, 2) : icmp6(128, 0))), setField('ipv6_src', s6), setField('ipv6_dst', d6));
      sameBytes(pkt6.data, eth(0x86dd, ipv6({ src: s6, dst: d6 }, i % 3 ? l4(1, 2) : icmp6(128, 0))));
    }
  });

  it('sends a UDP checksum that comes out 0 as 0xffff', () => {
    // The destination port for which the full computation gives 0 (the builder then writes 0xffff).
    const u = udp(1, 0).bytes;
    const pseudo = sum16(Buffer.concat([v4('10.0.0.1'), v4('10.0.0.2')])) + 17 + u.length;
    let port = -1;
    for (let p = 0; p < 0x10000 && port < 0; p++) {
      u.writeUInt16BE(p, 2);
      if (csum(u, pseudo) === 0) port = p;
    }
    expect(port).toBeGreaterThanOrEqual(0);
    const { pkt } = run(eth(0x0800, ipv4({}, udp(1, 2))), setField('udp_dst', port));
    expect(pkt.data.readUInt16BE(34 + 6)).toBe(0xffff);
    sameBytes(pkt.data, eth(0x0800, ipv4({}, udp(1, port))));
  });

  it('computes CRC32c right (RFC 3720 check value) and keeps a bad SCTP CRC bad by the same amount', () => {
    expect(crc32cOfActions(Buffer.from('123456789'), 0, 9)).toBe(0xe3069283);
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const f = eth(0x0800, ipv4({}, sctp(1, 2)));
    f.writeUInt32LE((f.readUInt32LE(34 + 8) ^ 0x5a5a) >>> 0, 34 + 8);
    const { pkt } = run(f, setField('sctp_dst', 99));
    const good = eth(0x0800, ipv4({}, sctp(1, 99)));
    expect((pkt.data.readUInt32LE(34 + 8) ^ good.readUInt32LE(34 + 8)) >>> 0).toBe(0x5a5a);
  });
});

// ---- partial checksums (offloads) ------------------------------------------------------------------------

/** A frame whose L4 checksum field holds the pseudo-header sum, as a sender leaving it to the device. */
function partialFrame(v6: boolean, proto: 6 | 17, src: string, dst: string, tags: readonly (readonly [number, number])[] = []): Buffer {
  const l4 = proto === 6 ? tcp(1000, 2000) : udp(1000, 2000);
  const f = v6 ? eth(0x86dd, ipv6({ src, dst }, l4), tags) : eth(0x0800, ipv4({ src, dst }, l4), tags);
  const l3 = 14 + 4 * tags.length;
  const l4Off = l3 + (v6 ? 40 : 20);
  const a = v6 ? ipv6FromText(src, 's') : ipv4FromText(src, 's');
  const b = v6 ? ipv6FromText(dst, 'd') : ipv4FromText(dst, 'd');
  f.writeUInt16BE(sum16(Buffer.concat([a, b]), proto + f.length - l4Off), l4Off + (proto === 6 ? 16 : 6));
  return f;
}

describe('with a virtio-net header', () => {
  it.each([
    ['IPv4/TCP', false, 6, '10.0.0.1', '10.0.0.2', 'ipv4_src', '172.31.255.254'],
    ['IPv4/UDP', false, 17, '10.0.0.1', '10.0.0.2', 'ipv4_dst', '8.8.4.4'],
    ['IPv6/TCP', true, 6, 'fd00::1', 'fd00::2', 'ipv6_dst', '2001:db8::ffff'],
    ['IPv6/UDP', true, 17, 'fd00::1', 'fd00::2', 'ipv6_src', 'fe80::abcd'],
  ] as const)('%s: an address change updates the pseudo-header sum; a port change leaves it', (_n, isV6, proto, src, dst, field, value) => {
    const l4Off = 14 + (isV6 ? 40 : 20);
    const csumAt = l4Off + (proto === 6 ? 16 : 6);
    const f = partialFrame(isV6, proto, src, dst);
    const pkt = new Packet(f, 1, 1, vnet(1, 0, 0, 0, l4Off, proto === 6 ? 16 : 6));
    expect(applyAction(pkt, setField(field, value))).toBe(APPLIED);
    const want = partialFrame(isV6, proto, field.endsWith('src') ? value : src, field.endsWith('dst') ? value : dst);
    expect(pkt.data.readUInt16BE(csumAt)).toBe(want.readUInt16BE(csumAt));
    sameBytes(pkt.data, want);
    applyAction(pkt, setField(proto === 6 ? 'tcp_dst' : 'udp_dst', 4444));
    expect(pkt.data.readUInt16BE(csumAt)).toBe(want.readUInt16BE(csumAt));
  });

  it.each([
    ['push_vlan', { kind: 'OFPActionPushVlan', ethertype: 0x8100 }, 4],
    ['push_mpls', { kind: 'OFPActionPushMpls', ethertype: 0x8847 }, 4],
    ['push_pbb', { kind: 'OFPActionPushPbb', ethertype: 0x88e7 }, 18],
  ] as const)('%s moves csum_start and hdr_len by %#, and the pop moves them back', (_n, push, n) => {
    const f = partialFrame(false, 6, '10.0.0.1', '10.0.0.2');
    const h = vnet(1, 1, 54, 1448, 34, 16);
    const pkt = new Packet(f, 1, 1, h);
    expect(applyAction(pkt, push)).toBe(APPLIED);
    expect(pkt.vnet).toEqual(vnet(1, 1, 54 + n, 1448, 34 + n, 16));
    const pop: Action =
      push.kind === 'OFPActionPushVlan' ? { kind: 'OFPActionPopVlan' } : push.kind === 'OFPActionPushMpls' ? { kind: 'OFPActionPopMpls', ethertype: 0x0800 } : { kind: 'OFPActionPopPbb' };
    expect(applyAction(pkt, pop)).toBe(APPLIED);
    expect(pkt.vnet).toEqual(h);
    sameBytes(pkt.data, f);
  });

  it('finds the moved transport header partial after a push', () => {
    const f = partialFrame(false, 6, '10.0.0.1', '10.0.0.2');
    const pkt = new Packet(f, 1, 1, vnet(1, 1, 54, 1448, 34, 16));
    applyAction(pkt, { kind: 'OFPActionPushVlan', ethertype: 0x8100 });
    applyAction(pkt, setField('ipv4_src', '10.0.0.9'));
    sameBytes(pkt.data, partialFrame(false, 6, '10.0.0.9', '10.0.0.2', [[0x8100, 0]]));
  });

  it('treats a frame whose checksum starts elsewhere as complete', () => {
    const f = eth(0x0800, ipv4({}, tcp(1, 2)));
    const pkt = new Packet(Buffer.from(f), 1, 1, vnet(1, 0, 0, 0, 14, 10));
    applyAction(pkt, setField('tcp_dst', 3));
    sameBytes(pkt.data, eth(0x0800, ipv4({}, tcp(1, 3))));
  });
});

// ---- push and pop -----------------------------------------------------------------------------------------

const PAYLOAD4 = ipv4({ ttl: 64 }, tcp(1, 2));
const PAYLOAD6 = ipv6({ hlim: 33 }, udp(1, 2));

const PUSH_POP: readonly { name: string; before: Buffer; actions: Action[]; after: Buffer }[] = [
  { name: 'push_vlan on an untagged frame: VID and PCP 0', before: eth(0x0800, PAYLOAD4), actions: [{ kind: 'OFPActionPushVlan', ethertype: 0x8100 }], after: eth(0x0800, PAYLOAD4, [[0x8100, 0]]) },
  { name: 'push_vlan 0x88a8 on a tagged frame: VID and PCP copied, DEI not', before: eth(0x0800, PAYLOAD4, [[0x8100, (5 << 13) | 0x1000 | 100]]), actions: [{ kind: 'OFPActionPushVlan', ethertype: 0x88a8 }], after: eth(0x0800, PAYLOAD4, [[0x88a8, (5 << 13) | 100], [0x8100, (5 << 13) | 0x1000 | 100]]) },
  { name: 'pop_vlan', before: eth(0x86dd, PAYLOAD6, [[0x8100, 42]]), actions: [{ kind: 'OFPActionPopVlan' }], after: eth(0x86dd, PAYLOAD6) },
  { name: 'pop_vlan on QinQ leaves the inner tag', before: eth(0x0800, PAYLOAD4, [[0x88a8, 1], [0x8100, 2]]), actions: [{ kind: 'OFPActionPopVlan' }], after: eth(0x0800, PAYLOAD4, [[0x8100, 2]]) },
  { name: 'push_vlan then set vid', before: eth(0x0800, PAYLOAD4), actions: [{ kind: 'OFPActionPushVlan', ethertype: 0x8100 }, setField('vlan_vid', 0x1000 | 99)], after: eth(0x0800, PAYLOAD4, [[0x8100, 99]]) },
  { name: 'push_mpls on IPv4: TTL copied, bottom of stack', before: eth(0x0800, PAYLOAD4), actions: [{ kind: 'OFPActionPushMpls', ethertype: 0x8847 }], after: eth(0x8847, Buffer.concat([lse(0, 0, 1, 64), PAYLOAD4])) },
  { name: 'push_mpls on tagged IPv6: after the tag, hop limit copied', before: eth(0x86dd, PAYLOAD6, [[0x8100, 7]]), actions: [{ kind: 'OFPActionPushMpls', ethertype: 0x8848 }], after: eth(0x8848, Buffer.concat([lse(0, 0, 1, 33), PAYLOAD6]), [[0x8100, 7]]) },
  { name: 'push_mpls on MPLS: label, TC, TTL copied, not bottom', before: eth(0x8847, Buffer.concat([lse(1000, 5, 1, 9), PAYLOAD4])), actions: [{ kind: 'OFPActionPushMpls', ethertype: 0x8847 }], after: eth(0x8847, Buffer.concat([lse(1000, 5, 0, 9), lse(1000, 5, 1, 9), PAYLOAD4])) },
  { name: 'push_mpls on ARP: TTL 0', before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), actions: [{ kind: 'OFPActionPushMpls', ethertype: 0x8847 }], after: eth(0x8847, Buffer.concat([lse(0, 0, 1, 0), arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')])) },
  { name: 'push_mpls, set label, pop_mpls', before: eth(0x0800, PAYLOAD4), actions: [{ kind: 'OFPActionPushMpls', ethertype: 0x8847 }, setField('mpls_label', 77), { kind: 'OFPActionPopMpls', ethertype: 0x0800 }], after: eth(0x0800, PAYLOAD4) },
  { name: 'pop_mpls of one of two labels', before: eth(0x8847, Buffer.concat([lse(1, 0, 0, 5), lse(2, 0, 1, 6), PAYLOAD4]), [[0x8100, 3]]), actions: [{ kind: 'OFPActionPopMpls', ethertype: 0x8847 }], after: eth(0x8847, Buffer.concat([lse(2, 0, 1, 6), PAYLOAD4]), [[0x8100, 3]]) },
  { name: 'push_pbb on a tagged frame: I-PCP from the VLAN, I-SID 0, customer frame kept', before: eth(0x0800, PAYLOAD4, [[0x8100, (5 << 13) | 10]]), actions: [{ kind: 'OFPActionPushPbb', ethertype: 0x88e7 }], after: eth(0x88e7, itag(5, 0, DST, SRC, eth(0x0800, PAYLOAD4, [[0x8100, (5 << 13) | 10]]).subarray(12))) },
  { name: 'push_pbb on PBB: I-SID copied', before: eth(0x88e7, itag(0, 0xabc)), actions: [{ kind: 'OFPActionPushPbb', ethertype: 0x88e7 }], after: eth(0x88e7, itag(0, 0xabc, DST, SRC, eth(0x88e7, itag(0, 0xabc)).subarray(12))) },
  { name: 'push_pbb, set I-SID and B-DA, pop_pbb', before: eth(0x86dd, PAYLOAD6), actions: [{ kind: 'OFPActionPushPbb', ethertype: 0x88e7 }, setField('pbb_isid', 5), setField('eth_dst', NEW_MAC), { kind: 'OFPActionPopPbb' }], after: eth(0x86dd, PAYLOAD6) },
  { name: 'pop_pbb behind a B-VLAN', before: eth(0x88e7, itag(1, 2, '02:00:00:00:00:c1', '02:00:00:00:00:c2', Buffer.concat([Buffer.from('0800', 'hex'), PAYLOAD4])), [[0x88a8, 5]]), actions: [{ kind: 'OFPActionPopPbb' }], after: eth(0x0800, PAYLOAD4, [], '02:00:00:00:00:c1', '02:00:00:00:00:c2') },
];

describe('push and pop', () => {
  it.each(PUSH_POP)('$name', ({ before, actions, after }) => {
    const { pkt, results } = run(before, ...actions);
    expect(results.every((r) => r === 'applied')).toBe(true);
    sameBytes(pkt.data, after);
    expect(keyFields(pkt)).toEqual(keyFields(new Packet(after, 1)));
  });
});

// ---- TTLs -------------------------------------------------------------------------------------------------

const TTLS: readonly { name: string; before: Buffer; action: Action; result: string; after?: Buffer }[] = [
  { name: 'set_nw_ttl IPv4', before: eth(0x0800, ipv4({ ttl: 64 }, tcp(1, 2))), action: { kind: 'OFPActionSetNwTtl', nw_ttl: 3 }, result: 'applied', after: eth(0x0800, ipv4({ ttl: 3 }, tcp(1, 2))) },
  { name: 'set_nw_ttl IPv6', before: eth(0x86dd, ipv6({ hlim: 64 }, tcp(1, 2))), action: { kind: 'OFPActionSetNwTtl', nw_ttl: 255 }, result: 'applied', after: eth(0x86dd, ipv6({ hlim: 255 }, tcp(1, 2))) },
  { name: 'dec_nw_ttl IPv4', before: eth(0x0800, ipv4({ ttl: 64 }, udp(1, 2))), action: { kind: 'OFPActionDecNwTtl' }, result: 'applied', after: eth(0x0800, ipv4({ ttl: 63 }, udp(1, 2))) },
  { name: 'dec_nw_ttl IPv4 2 → 1', before: eth(0x0800, ipv4({ ttl: 2 }, udp(1, 2))), action: { kind: 'OFPActionDecNwTtl' }, result: 'applied', after: eth(0x0800, ipv4({ ttl: 1 }, udp(1, 2))) },
  { name: 'dec_nw_ttl IPv6', before: eth(0x86dd, ipv6({ hlim: 255 }, udp(1, 2))), action: { kind: 'OFPActionDecNwTtl' }, result: 'applied', after: eth(0x86dd, ipv6({ hlim: 254 }, udp(1, 2))) },
  { name: 'dec_nw_ttl IPv4 TTL 1: invalid', before: eth(0x0800, ipv4({ ttl: 1 }, udp(1, 2))), action: { kind: 'OFPActionDecNwTtl' }, result: 'invalid_ttl' },
  { name: 'dec_nw_ttl IPv4 TTL 0: invalid', before: eth(0x0800, ipv4({ ttl: 0 }, udp(1, 2))), action: { kind: 'OFPActionDecNwTtl' }, result: 'invalid_ttl' },
  { name: 'dec_nw_ttl IPv6 hop limit 1: invalid', before: eth(0x86dd, ipv6({ hlim: 1 }, udp(1, 2))), action: { kind: 'OFPActionDecNwTtl' }, result: 'invalid_ttl' },
  { name: 'dec_nw_ttl on ARP', before: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), action: { kind: 'OFPActionDecNwTtl' }, result: 'skipped' },
  { name: 'dec_nw_ttl on MPLS (not an IP packet)', before: eth(0x8847, Buffer.concat([lse(1, 0, 1, 9), PAYLOAD4])), action: { kind: 'OFPActionDecNwTtl' }, result: 'skipped' },
  { name: 'set_mpls_ttl', before: eth(0x8847, Buffer.concat([lse(1, 2, 1, 9), PAYLOAD4])), action: { kind: 'OFPActionSetMplsTtl', mpls_ttl: 200 }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 2, 1, 200), PAYLOAD4])) },
  { name: 'dec_mpls_ttl', before: eth(0x8847, Buffer.concat([lse(1, 2, 1, 9), PAYLOAD4])), action: { kind: 'OFPActionDecMplsTtl' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 2, 1, 8), PAYLOAD4])) },
  { name: 'dec_mpls_ttl TTL 1: invalid', before: eth(0x8847, Buffer.concat([lse(1, 2, 1, 1), PAYLOAD4])), action: { kind: 'OFPActionDecMplsTtl' }, result: 'invalid_ttl' },
  { name: 'dec_mpls_ttl TTL 0: invalid', before: eth(0x8847, Buffer.concat([lse(1, 2, 1, 0), PAYLOAD4])), action: { kind: 'OFPActionDecMplsTtl' }, result: 'invalid_ttl' },
  { name: 'dec_mpls_ttl without MPLS', before: eth(0x0800, PAYLOAD4), action: { kind: 'OFPActionDecMplsTtl' }, result: 'skipped' },
  { name: 'copy_ttl_out MPLS ← MPLS', before: eth(0x8847, Buffer.concat([lse(1, 0, 0, 10), lse(2, 0, 1, 20), PAYLOAD4])), action: { kind: 'OFPActionCopyTtlOut' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 0, 0, 20), lse(2, 0, 1, 20), PAYLOAD4])) },
  { name: 'copy_ttl_out MPLS ← IPv4', before: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), ipv4({ ttl: 30 }, tcp(1, 2))])), action: { kind: 'OFPActionCopyTtlOut' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 0, 1, 30), ipv4({ ttl: 30 }, tcp(1, 2))])) },
  { name: 'copy_ttl_out MPLS ← IPv6', before: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), PAYLOAD6])), action: { kind: 'OFPActionCopyTtlOut' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 0, 1, 33), PAYLOAD6])) },
  { name: 'copy_ttl_in MPLS → MPLS', before: eth(0x8847, Buffer.concat([lse(1, 0, 0, 10), lse(2, 0, 1, 20), PAYLOAD4])), action: { kind: 'OFPActionCopyTtlIn' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 0, 0, 10), lse(2, 0, 1, 10), PAYLOAD4])) },
  { name: 'copy_ttl_in MPLS → IPv4 (checksum)', before: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), ipv4({ ttl: 30 }, tcp(1, 2))])), action: { kind: 'OFPActionCopyTtlIn' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), ipv4({ ttl: 10 }, tcp(1, 2))])) },
  { name: 'copy_ttl_in MPLS → IPv6', before: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), PAYLOAD6])), action: { kind: 'OFPActionCopyTtlIn' }, result: 'applied', after: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), ipv6({ hlim: 10 }, udp(1, 2))])) },
  { name: 'copy_ttl_out IPv4 ← IPv4 (IP in IP)', before: eth(0x0800, ipv4({ ttl: 64 }, { proto: 4, raw: ipv4({ ttl: 5 }, tcp(1, 2)) })), action: { kind: 'OFPActionCopyTtlOut' }, result: 'applied', after: eth(0x0800, ipv4({ ttl: 5 }, { proto: 4, raw: ipv4({ ttl: 5 }, tcp(1, 2)) })) },
  { name: 'copy_ttl_in IPv4 → IPv6 (6in4)', before: eth(0x0800, ipv4({ ttl: 64 }, { proto: 41, raw: PAYLOAD6 })), action: { kind: 'OFPActionCopyTtlIn' }, result: 'applied', after: eth(0x0800, ipv4({ ttl: 64 }, { proto: 41, raw: ipv6({ hlim: 64 }, udp(1, 2)) })) },
  { name: 'copy_ttl_out on plain IPv4', before: eth(0x0800, PAYLOAD4), action: { kind: 'OFPActionCopyTtlOut' }, result: 'skipped' },
  { name: 'copy_ttl_in on MPLS over something not IP', before: eth(0x8847, Buffer.concat([lse(1, 0, 1, 10), Buffer.alloc(30)])), action: { kind: 'OFPActionCopyTtlIn' }, result: 'skipped' },
];

describe('TTL actions', () => {
  it.each(TTLS)('$name → $result', ({ before, action, result, after }) => {
    const { pkt, results } = run(before, action);
    expect(results).toEqual([result]);
    sameBytes(pkt.data, after ?? before);
  });
});

// ---- actions that do not apply ----------------------------------------------------------------------------

const NOT_APPLICABLE: readonly { name: string; frame: Buffer; action: Action }[] = [
  { name: 'pop_vlan untagged', frame: eth(0x0800, PAYLOAD4), action: { kind: 'OFPActionPopVlan' } },
  { name: 'pop_mpls without MPLS', frame: eth(0x0800, PAYLOAD4), action: { kind: 'OFPActionPopMpls', ethertype: 0x0800 } },
  { name: 'pop_pbb without PBB', frame: eth(0x0800, PAYLOAD4), action: { kind: 'OFPActionPopPbb' } },
  { name: 'push_vlan on a runt', frame: Buffer.alloc(13), action: { kind: 'OFPActionPushVlan', ethertype: 0x8100 } },
  { name: 'push_mpls on PBB', frame: eth(0x88e7, itag(0, 1)), action: { kind: 'OFPActionPushMpls', ethertype: 0x8847 } },
  { name: 'vlan_vid untagged', frame: eth(0x0800, PAYLOAD4), action: setField('vlan_vid', 0x1001) },
  { name: 'tcp_dst on UDP', frame: eth(0x0800, ipv4({}, udp(1, 2))), action: setField('tcp_dst', 1) },
  { name: 'udp_dst on a later fragment', frame: eth(0x0800, ipv4({ fragOff: 8 }, udp(1, 2))), action: setField('udp_dst', 1) },
  { name: 'ipv4_src on IPv6', frame: eth(0x86dd, PAYLOAD6), action: setField('ipv4_src', '1.2.3.4') },
  { name: 'ipv6_src on IPv4', frame: eth(0x0800, PAYLOAD4), action: setField('ipv6_src', '::1') },
  { name: 'ip_dscp on ARP', frame: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), action: setField('ip_dscp', 1) },
  { name: 'arp_op on IPv4', frame: eth(0x0800, PAYLOAD4), action: setField('arp_op', 2) },
  { name: 'icmpv4_type on TCP', frame: eth(0x0800, PAYLOAD4), action: setField('icmpv4_type', 1) },
  { name: 'nd_target on an echo', frame: eth(0x86dd, ipv6({}, icmp6(128, 0, Buffer.alloc(24)))), action: setField('ipv6_nd_target', '::1') },
  { name: 'nd_sll on an advertisement', frame: eth(0x86dd, ipv6({}, nd(136, 'fd00::1', [[2, SRC]]))), action: setField('ipv6_nd_sll', NEW_MAC) },
  { name: 'nd_sll without the option', frame: eth(0x86dd, ipv6({}, nd(135, 'fd00::1'))), action: setField('ipv6_nd_sll', NEW_MAC) },
  { name: 'mpls_label on IPv4', frame: eth(0x0800, PAYLOAD4), action: setField('mpls_label', 1) },
  { name: 'pbb_isid on IPv4', frame: eth(0x0800, PAYLOAD4), action: setField('pbb_isid', 1) },
  { name: 'eth_type on 802.3', frame: eth(40, Buffer.alloc(40)), action: setField('eth_type', 0x0800) },
  { name: 'metadata (not settable)', frame: eth(0x0800, PAYLOAD4), action: setField('metadata', 1n) },
  { name: 'ip_proto on ARP', frame: eth(0x0806, arp(1, SRC, '1.1.1.1', DST, '2.2.2.2')), action: setField('ip_proto', 17) },
  { name: 'a masked set-field', frame: eth(0x0800, PAYLOAD4), action: { kind: 'OFPActionSetField', field: { field: 'eth_dst', value: NEW_MAC, mask: 'ff:ff:ff:00:00:00' } } },
  { name: 'a set-field whose value is out of range', frame: eth(0x0800, PAYLOAD4, [[0x8100, 1]]), action: setField('vlan_pcp', 8) },
];

describe('actions that do not apply', () => {
  it.each(NOT_APPLICABLE)('$name: skipped, nothing copied or changed', ({ frame, action }) => {
    const data = Buffer.from(frame);
    const pkt = new Packet(data, 1);
    pkt.share();
    expect(applyAction(pkt, action)).toBe(SKIPPED);
    expect(pkt.data).toBe(data);
    sameBytes(pkt.data, frame);
  });

  it('returns output, group and set-queue to the caller as they are', () => {
    const pkt = new Packet(eth(0x0800, PAYLOAD4), 1);
    const out: Action = { kind: 'OFPActionOutput', port: 3, max_len: 128 };
    const group: Action = { kind: 'OFPActionGroup', group_id: 9 };
    const queue: Action = { kind: 'OFPActionSetQueue', queue_id: 2 };
    expect(applyAction(pkt, out)).toBe(out);
    expect(applyAction(pkt, group)).toBe(group);
    expect(applyAction(pkt, queue)).toBe(queue);
  });

  it('runs no experimenter action', () => {
    const pkt = new Packet(eth(0x0800, PAYLOAD4), 1);
    expect(applyAction(pkt, { kind: 'OFPActionExperimenterUnknown', experimenter: 0x1234, data: Buffer.alloc(4) })).toBe(UNSUPPORTED);
  });
});

// ---- copy on write, and the key ---------------------------------------------------------------------------

describe('copy on write', () => {
  it('modifies an unshared view in place', () => {
    const slab = Buffer.concat([Buffer.alloc(8, 0xee), eth(0x0800, PAYLOAD4), Buffer.alloc(8, 0xee)]);
    const view = slab.subarray(8, slab.length - 8);
    const pkt = new Packet(view, 1);
    applyAction(pkt, setField('eth_dst', NEW_MAC));
    expect(pkt.data).toBe(view);
    expect(hex(slab.subarray(8, 14))).toBe('0a1b2c3d4e5f');
  });

  it('copies a shared packet once, at its first modification, leaving what was handed on intact', () => {
    const frame = eth(0x0800, PAYLOAD4);
    const data = Buffer.from(frame);
    const pkt = new Packet(data, 1);
    expect(applyAction(pkt, { kind: 'OFPActionOutput', port: 2, max_len: 0 })).toMatchObject({ kind: 'OFPActionOutput' });
    pkt.share(); // queued for output
    expect(pkt.shared).toBe(true);
    applyAction(pkt, setField('eth_dst', NEW_MAC));
    const copy = pkt.data;
    expect(copy).not.toBe(data);
    sameBytes(data, frame);
    applyAction(pkt, setField('ipv4_dst', '1.1.1.1'));
    expect(pkt.data).toBe(copy);
    expect(pkt.shared).toBe(false);
    sameBytes(pkt.data, eth(0x0800, ipv4({ ttl: 64, dst: '1.1.1.1' }, tcp(1, 2)), [], NEW_MAC));
  });

  it.each([
    ['pop_vlan', eth(0x0800, PAYLOAD4, [[0x8100, 5]]), { kind: 'OFPActionPopVlan' }],
    ['pop_mpls', eth(0x8847, Buffer.concat([lse(1, 0, 1, 9), PAYLOAD4])), { kind: 'OFPActionPopMpls', ethertype: 0x800 }],
    ['pop_pbb', eth(0x88e7, itag(0, 1, DST, SRC, Buffer.from('88cc0000', 'hex'))), { kind: 'OFPActionPopPbb' }],
    ['push_vlan', eth(0x0800, PAYLOAD4), { kind: 'OFPActionPushVlan', ethertype: 0x8100 }],
    ['dec_nw_ttl', eth(0x0800, PAYLOAD4), { kind: 'OFPActionDecNwTtl' }],
  ] as const)('%s on a shared packet leaves the bytes and offload header handed on intact', (_n, frame, action) => {
    const data = Buffer.from(frame);
    const h = vnet(1, 0, 60, 0, 50, 16);
    const pkt = new Packet(data, 1, 1, h);
    pkt.share();
    expect(applyAction(pkt, action)).toBe(APPLIED);
    sameBytes(data, frame);
    expect(h).toEqual(vnet(1, 0, 60, 0, 50, 16));
    expect(pkt.data.equals(frame)).toBe(false);
    if (action.kind !== 'OFPActionDecNwTtl') expect(pkt.vnet).not.toEqual(h);
  });

  it('clones share bytes until one writes', () => {
    const frame = eth(0x0800, PAYLOAD4);
    const a = new Packet(Buffer.from(frame), 1);
    a.metadata = 5n;
    const keyA = [...a.key()];
    const b = a.clone();
    expect(b.data).toBe(a.data);
    expect([...b.key()]).toEqual(keyA);
    expect(b.metadata).toBe(5n);
    applyAction(b, setField('ipv4_src', '7.7.7.7'));
    sameBytes(a.data, frame);
    expect([...a.key()]).toEqual(keyA);
    applyAction(a, { kind: 'OFPActionPushVlan', ethertype: 0x8100 });
    sameBytes(b.data, eth(0x0800, ipv4({ ttl: 64, src: '7.7.7.7' }, tcp(1, 2))));
  });
});

describe('the key of a packet', () => {
  it('is extracted again after a change, into the same array', () => {
    const pkt = new Packet(eth(0x0800, PAYLOAD4), 4);
    const k = pkt.key();
    expect(keyFields(pkt)['vlan_vid']).toBe(0);
    applyAction(pkt, { kind: 'OFPActionPushVlan', ethertype: 0x8100 });
    applyAction(pkt, setField('vlan_vid', 0x1000 | 33));
    expect(pkt.key()).toBe(k);
    expect(keyFields(pkt)).toMatchObject({ vlan_vid: 0x1021, eth_type: 0x800, in_port: 4, tcp_dst: 2 });
    expect(pkt.offsets()).toMatchObject({ vlanOff: 12, l3Off: 18, l4Off: 38 });
  });

  it('follows metadata written by words or as a bigint, and reset() starts afresh', () => {
    const pkt = new Packet(eth(0x0800, PAYLOAD4), 4);
    pkt.writeMetadata(0xffffffff, 0x12345678, 0x0000ffff, 0xffffffff);
    expect(pkt.metadata).toBe(0x0000ffff12345678n);
    expect(keyFields(pkt)['metadata']).toBe(0x0000ffff12345678n);
    pkt.metadata = 0xffffffffffffffffn;
    expect(keyFields(pkt)['metadata']).toBe(0xffffffffffffffffn);
    pkt.reset(eth(0x86dd, PAYLOAD6), 9);
    expect(keyFields(pkt)).toMatchObject({ metadata: 0n, in_port: 9, eth_type: 0x86dd });
  });
});

// ---- validation -------------------------------------------------------------------------------------------

const BAD_ACTIONS: readonly { name: string; action: Action; code: number }[] = [
  { name: 'set-field of in_port', action: setField('in_port', 1), code: OFPBAC.BAD_SET_TYPE },
  { name: 'set-field of metadata', action: setField('metadata', 1n), code: OFPBAC.BAD_SET_TYPE },
  { name: 'set-field of in_phy_port', action: setField('in_phy_port', 1), code: OFPBAC.BAD_SET_TYPE },
  { name: 'set-field of ip_proto 256', action: setField('ip_proto', 256), code: OFPBAC.BAD_SET_ARGUMENT },
  { name: 'set-field of ipv6_exthdr', action: setField('ipv6_exthdr', 1), code: OFPBAC.BAD_SET_TYPE },
  { name: 'set-field of a Nicira field', action: setField('reg0', 1), code: OFPBAC.BAD_SET_TYPE },
  { name: 'set-field with a mask', action: { kind: 'OFPActionSetField', field: { field: 'ipv4_src', value: '1.0.0.0', mask: '255.0.0.0' } }, code: OFPBAC.BAD_SET_ARGUMENT },
  { name: 'set-field of vlan_pcp 8', action: setField('vlan_pcp', 8), code: OFPBAC.BAD_SET_ARGUMENT },
  { name: 'set-field of mpls_label 2^20', action: setField('mpls_label', 0x100000), code: OFPBAC.BAD_SET_ARGUMENT },
  { name: 'set-field of a bad MAC', action: setField('eth_dst', 'nope'), code: OFPBAC.BAD_SET_ARGUMENT },
  { name: 'push_vlan 0x0800', action: { kind: 'OFPActionPushVlan', ethertype: 0x0800 }, code: OFPBAC.BAD_ARGUMENT },
  { name: 'push_mpls 0x8100', action: { kind: 'OFPActionPushMpls', ethertype: 0x8100 }, code: OFPBAC.BAD_ARGUMENT },
  { name: 'push_pbb 0x8100', action: { kind: 'OFPActionPushPbb', ethertype: 0x8100 }, code: OFPBAC.BAD_ARGUMENT },
  { name: 'an unknown experimenter', action: { kind: 'OFPActionExperimenterUnknown', experimenter: 1, data: Buffer.alloc(0) }, code: OFPBAC.BAD_EXPERIMENTER },
  { name: 'a Nicira action', action: { kind: 'NXActionExit' } as Action, code: OFPBAC.BAD_EXP_TYPE },
];

describe('validateAction', () => {
  it.each(BAD_ACTIONS)('rejects $name', ({ action, code }) => {
    let got: unknown = 'no error';
    try {
      validateAction(action);
    } catch (e) {
      got = e instanceof OFPError ? { errType: e.errType, code: e.code } : String(e);
    }
    expect(got).toEqual({ errType: OFPET.BAD_ACTION, code });
  });

  it.each([
    ...SETS.map((c) => setField(c.field, c.value)),
    setField('tunnel_id', 1n),
    { kind: 'OFPActionPushVlan', ethertype: 0x88a8 },
    { kind: 'OFPActionPushMpls', ethertype: 0x8848 },
    { kind: 'OFPActionPushPbb', ethertype: 0x88e7 },
    { kind: 'OFPActionPopMpls', ethertype: 0x0800 },
    { kind: 'OFPActionOutput', port: 1, max_len: 0 },
    { kind: 'OFPActionDecNwTtl' },
  ] as Action[])('accepts %o', (action) => {
    expect(() => validateAction(action)).not.toThrow();
  });
});

// ---- the action set ---------------------------------------------------------------------------------------

const A = {
  copyIn: { kind: 'OFPActionCopyTtlIn' },
  popVlan: { kind: 'OFPActionPopVlan' },
  popPbb: { kind: 'OFPActionPopPbb' },
  popMpls: { kind: 'OFPActionPopMpls', ethertype: 0x0800 },
  pushMpls: { kind: 'OFPActionPushMpls', ethertype: 0x8847 },
  pushPbb: { kind: 'OFPActionPushPbb', ethertype: 0x88e7 },
  pushVlan: { kind: 'OFPActionPushVlan', ethertype: 0x8100 },
  copyOut: { kind: 'OFPActionCopyTtlOut' },
  decMpls: { kind: 'OFPActionDecMplsTtl' },
  decNw: { kind: 'OFPActionDecNwTtl' },
  setMpls: { kind: 'OFPActionSetMplsTtl', mpls_ttl: 4 },
  setNw: { kind: 'OFPActionSetNwTtl', nw_ttl: 4 },
  vid: setField('vlan_vid', 0x1005),
  ipDst: setField('ipv4_dst', '1.2.3.4'),
  ethDst: setField('eth_dst', NEW_MAC),
  queue: { kind: 'OFPActionSetQueue', queue_id: 1 },
  group: { kind: 'OFPActionGroup', group_id: 1 },
  output: { kind: 'OFPActionOutput', port: 1, max_len: 0 },
} satisfies Record<string, Action>;

describe('the action set', () => {
  it("lists its actions in the spec's order, whatever order they were written in", () => {
    const set = new ActionSet();
    const all = Object.values(A).filter((a) => a !== A.group);
    set.write([...all].reverse());
    expect(set.size).toBe(all.length);
    expect(actionSetOrder(set)).toEqual([
      A.copyIn, A.popVlan, A.popPbb, A.popMpls, A.pushMpls, A.pushPbb, A.pushVlan, A.copyOut, A.decMpls, A.decNw,
      A.setMpls, A.setNw, A.ethDst, A.vid, A.ipDst, A.queue, A.output,
    ]);
  });

  it('replaces by action type, and set-fields by field', () => {
    const set = new ActionSet();
    const out2: Action = { kind: 'OFPActionOutput', port: 2, max_len: 0 };
    const vid2 = setField('vlan_vid', 0x1006);
    set.write([A.output, A.vid, A.ipDst]);
    set.write([out2, vid2]);
    expect(set.size).toBe(3);
    expect(actionSetOrder(set)).toEqual([vid2, A.ipDst, out2]);
  });

  it('lets a group take precedence over output', () => {
    const set = new ActionSet();
    set.write([A.output, A.group, A.queue]);
    expect(actionSetOrder(set)).toEqual([A.queue, A.group]);
  });

  it('is emptied by clear-actions, and copies another', () => {
    const set = new ActionSet();
    set.write([A.output, A.vid]);
    const other = new ActionSet();
    other.copyFrom(set);
    set.clear();
    expect(set.size).toBe(0);
    expect(actionSetOrder(set)).toEqual([]);
    expect(actionSetOrder(other)).toEqual([A.vid, A.output]);
    set.write([A.decNw]);
    expect(actionSetOrder(set)).toEqual([A.decNw]);
  });

  it('executes to the same bytes as the actions applied in its order', () => {
    const set = new ActionSet();
    set.write([A.output, A.ipDst, A.pushVlan, A.vid, A.decNw]);
    const pkt = new Packet(eth(0x0800, PAYLOAD4), 1);
    const results = set.ordered().map((a) => applyAction(pkt, a));
    expect(results.map((r) => r.kind)).toEqual(['applied', 'applied', 'applied', 'applied', 'OFPActionOutput']);
    sameBytes(pkt.data, eth(0x0800, ipv4({ ttl: 63, dst: '1.2.3.4' }, tcp(1, 2)), [[0x8100, 5]]));
  });
});

// Results are constants: applying actions allocates no result objects.
it('answers with shared result objects', () => {
  expect([APPLIED.kind, SKIPPED.kind, INVALID_TTL.kind, UNSUPPORTED.kind]).toEqual(['applied', 'skipped', 'invalid_ttl', 'unsupported']);
  expect(Object.isFrozen(APPLIED)).toBe(true);
});
