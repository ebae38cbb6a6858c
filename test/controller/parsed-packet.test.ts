/**
 * parseFrame (controller/parsed-packet.ts), data-driven: each frame comes with what parseFrame must give,
 * written out by hand, and with the lengths of its headers. Three checks per frame:
 *
 * - the parse equals the hand-written expectation;
 * - it agrees with two independent parsers on every field they share: decodeRyuPacket (openflow/ryu-packet.ts,
 *   Ryu's packet-library JSON, no IPv6 extension headers) and os-ken itself (one python3 call for all
 *   frames; it also walks IPv6 extension headers);
 * - cut at every length, the frame never throws and gives exactly the layers whose headers are complete,
 *   each equal to the same layer of the whole frame.
 *
 * Frames come from the test frame builder (test/switch/frames.ts) and from encodeRyuPacket, so neither
 * parser under comparison built its own input.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ParsedPacket, ethDst, parseFrame } from '../../controller/parsed-packet.js';
import { isObject, type Json, type JsonObject } from '../../openflow/json.js';
import { decodeRyuPacket, encodeRyuPacket } from '../../openflow/ryu-packet.js';
import { DST, SRC, arp, eth, icmp4, icmp6, ipv4, ipv6, nd, tcp, udp } from '../switch/frames.js';

const PYTHON = '/usr/bin/python3'; // Debian's python, the one with os_ken

/** The layers of a ParsedPacket, without payloadOffset; an absent layer may be undefined. */
type LayerName = Exclude<keyof ParsedPacket, 'payloadOffset'>;
type View = { -readonly [K in LayerName]?: ParsedPacket[K] | undefined };

interface Case {
  readonly name: string;
  readonly frame: Buffer;
  /** What parseFrame must give. */
  readonly want: ParsedPacket;
  /**
   * Header lengths after Ethernet and its tags: l3 (ARP 28, IPv4 20 + options, IPv6 40), ext (IPv6
   * extension headers, all of them), l4 (the minimum transport header: TCP 20, UDP 8, ICMP 4).
   */
  readonly hdr: { readonly l3?: number; readonly ext?: number; readonly l4?: number };
  /** Which layers the peers can be held to: all, or only up to L3 (they parse a later fragment's payload as L4). */
  readonly peers: 'all' | 'l3';
  /** decodeRyuPacket does not walk IPv6 extension headers. */
  readonly ryu: boolean;
  /** os-ken 2.5 reads an options header's length as bytes, not 8-byte units: it fails on any longer than 8. */
  readonly osken?: false;
}

const MAC_A = '02:00:00:00:00:01';
const MAC_B = '02:00:00:00:00:02';
const etherOf = (ethertype: number, vlans: ParsedPacket['vlans'] = []): Pick<ParsedPacket, 'eth' | 'vlans'> => ({
  eth: { dst: DST, src: SRC, ethertype },
  vlans,
});

/** A TCP segment with options (MSS, SACK-permitted, timestamps, NOP, window scale: 20 bytes, doff 10) and NS|CWR|ECE|SYN. */
function tcpWithOptions(sp: number, dp: number): ReturnType<typeof tcp> {
  const t = tcp(sp, dp, Buffer.from('hello'));
  const opts = Buffer.from('020405b4' + '0402' + '080a0000000100000000' + '01' + '030307', 'hex');
  const h = Buffer.concat([t.bytes.subarray(0, 20), opts, t.bytes.subarray(20)]);
  h[12] = (10 << 4) | 1; // doff 10, NS
  h[13] = 0xc2; // CWR, ECE, SYN
  return { ...t, bytes: h };
}

const ipOpts4 = Buffer.from('94040000', 'hex'); // router alert
const ipOpts40 = Buffer.concat([Buffer.from('94040000', 'hex'), Buffer.alloc(35, 1), Buffer.from([0])]); // RA, NOPs, EOL

const ryuArpRequest = encodeRyuPacket(
  {
    Packet: {
      protocols: [
        { ethernet: { dst: 'ff:ff:ff:ff:ff:ff', src: MAC_A, ethertype: 0x0806 } },
        { arp: { opcode: 1, src_mac: MAC_A, src_ip: '10.0.0.1', dst_mac: '00:00:00:00:00:00', dst_ip: '10.0.0.2' } },
      ],
    },
  },
  'arp',
);
const ryuIcmpEcho = encodeRyuPacket(
  {
    Packet: {
      protocols: [
        { ethernet: { dst: MAC_B, src: MAC_A, ethertype: 0x0800 } },
        { ipv4: { src: '192.168.7.1', dst: '192.168.7.200', proto: 1, ttl: 3, tos: 0xb8, identification: 777, flags: 2 } },
        { icmp: { type: 8, code: 0, data: { echo: { id: 9, seq: 3, data: Buffer.from('ping payload').toString('base64') } } } },
      ],
    },
  },
  'icmp',
);
const ryuTcpV6 = encodeRyuPacket(
  {
    Packet: {
      protocols: [
        { ethernet: { dst: MAC_B, src: MAC_A, ethertype: 0x86dd } },
        { ipv6: { src: '2001:db8::1', dst: '2001:db8:0:1::abcd', nxt: 6, hop_limit: 17, traffic_class: 0x28, flow_label: 0xbeef1 } },
        { tcp: { src_port: 40000, dst_port: 443, seq: 0xfedcba98, ack: 7, bits: 0x18, window_size: 1000 } },
        Buffer.from('GET / HTTP/1.0\r\n').toString('base64'),
      ],
    },
  },
  'tcp6',
);
const ryuIcmpv6Echo = encodeRyuPacket(
  {
    Packet: {
      protocols: [
        { ethernet: { dst: '33:33:00:00:00:01', src: MAC_A, ethertype: 0x86dd } },
        { ipv6: { src: 'fe80::1', dst: 'ff02::1', nxt: 58, hop_limit: 255 } },
        { icmpv6: { type: 128, code: 0, data: { echo: { id: 1, seq: 2, data: Buffer.from('abcdefgh').toString('base64') } } } },
      ],
    },
  },
  'icmpv6',
);

const CASES: readonly Case[] = [
  {
    name: 'Ethernet only (an unknown ethertype)',
    frame: eth(0x88b5, Buffer.from('experimental payload')),
    want: { ...etherOf(0x88b5), payloadOffset: 14 },
    hdr: {},
    peers: 'all',
    ryu: true,
  },
  {
    name: 'Ethernet, 802.1Q priority tag (VID 0), unknown ethertype',
    frame: eth(0x88b5, Buffer.from('tagged payload'), [[0x8100, 0]]),
    want: { ...etherOf(0x88b5, [{ tpid: 0x8100, pcp: 0, cfi: 0, vid: 0 }]), payloadOffset: 18 },
    hdr: {},
    peers: 'all',
    ryu: true,
  },
  {
    name: 'ARP request (encodeRyuPacket, padded to 60 bytes)',
    frame: ryuArpRequest,
    want: {
      eth: { dst: 'ff:ff:ff:ff:ff:ff', src: MAC_A, ethertype: 0x0806 },
      vlans: [],
      arp: { opcode: 1, src_mac: MAC_A, src_ip: '10.0.0.1', dst_mac: '00:00:00:00:00:00', dst_ip: '10.0.0.2' },
      payloadOffset: 42,
    },
    hdr: { l3: 28 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'ARP reply',
    frame: eth(0x0806, arp(2, MAC_B, '10.0.0.2', MAC_A, '10.0.0.1')),
    want: {
      ...etherOf(0x0806),
      arp: { opcode: 2, src_mac: MAC_B, src_ip: '10.0.0.2', dst_mac: MAC_A, dst_ip: '10.0.0.1' },
      payloadOffset: 42,
    },
    hdr: { l3: 28 },
    peers: 'all',
    ryu: true,
  },
  {
    name: '802.1Q, ARP request',
    frame: eth(0x0806, arp(1, MAC_A, '10.1.0.1', '00:00:00:00:00:00', '10.1.0.9'), [[0x8100, (5 << 13) | 100]]),
    want: {
      ...etherOf(0x0806, [{ tpid: 0x8100, pcp: 5, cfi: 0, vid: 100 }]),
      arp: { opcode: 1, src_mac: MAC_A, src_ip: '10.1.0.1', dst_mac: '00:00:00:00:00:00', dst_ip: '10.1.0.9' },
      payloadOffset: 46,
    },
    hdr: { l3: 28 },
    peers: 'all',
    ryu: true,
  },
  {
    name: '802.1Q, IPv4, UDP',
    frame: eth(0x0800, ipv4({ src: '10.9.0.1', dst: '10.9.0.2', ttl: 9 }, udp(5353, 53)), [[0x8100, (3 << 13) | (1 << 12) | 4094]]),
    want: {
      ...etherOf(0x0800, [{ tpid: 0x8100, pcp: 3, cfi: 1, vid: 4094 }]),
      ipv4: { src: '10.9.0.1', dst: '10.9.0.2', proto: 17, tos: 0, ttl: 9, total_length: 34, identification: 0x1234, fragment_offset: 0 },
      udp: { src_port: 5353, dst_port: 53 },
      payloadOffset: 18 + 20 + 8,
    },
    hdr: { l3: 20, l4: 8 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'QinQ (0x88a8 then 0x8100), IPv4, TCP',
    frame: eth(0x0800, ipv4({ src: '172.16.0.1', dst: '172.16.0.2' }, tcp(1234, 80)), [
      [0x88a8, (1 << 13) | 10],
      [0x8100, (6 << 13) | 20],
    ]),
    want: {
      ...etherOf(0x0800, [
        { tpid: 0x88a8, pcp: 1, cfi: 0, vid: 10 },
        { tpid: 0x8100, pcp: 6, cfi: 0, vid: 20 },
      ]),
      ipv4: { src: '172.16.0.1', dst: '172.16.0.2', proto: 6, tos: 0, ttl: 64, total_length: 44, identification: 0x1234, fragment_offset: 0 },
      tcp: { src_port: 1234, dst_port: 80, seq: 0x01020304, ack: 0, bits: 0x18 },
      payloadOffset: 22 + 20 + 20,
    },
    hdr: { l3: 20, l4: 20 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4, TCP with options and NS/CWR/ECE/SYN',
    frame: eth(0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', tos: 0x02, id: 1 }, tcpWithOptions(33000, 22))),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '10.0.0.1', dst: '10.0.0.2', proto: 6, tos: 2, ttl: 64, total_length: 20 + 40 + 5, identification: 1, fragment_offset: 0 },
      tcp: { src_port: 33000, dst_port: 22, seq: 0x01020304, ack: 0, bits: 0x1c2 },
      payloadOffset: 14 + 20 + 40,
    },
    hdr: { l3: 20, l4: 20 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4, UDP',
    frame: eth(0x0800, ipv4({ src: '192.0.2.1', dst: '198.51.100.2', ttl: 1, id: 0xffff }, udp(68, 67, Buffer.from('dhcp-ish')))),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '192.0.2.1', dst: '198.51.100.2', proto: 17, tos: 0, ttl: 1, total_length: 36, identification: 0xffff, fragment_offset: 0 },
      udp: { src_port: 68, dst_port: 67 },
      payloadOffset: 42,
    },
    hdr: { l3: 20, l4: 8 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4, ICMP echo request (encodeRyuPacket)',
    frame: ryuIcmpEcho,
    want: {
      eth: { dst: MAC_B, src: MAC_A, ethertype: 0x0800 },
      vlans: [],
      ipv4: { src: '192.168.7.1', dst: '192.168.7.200', proto: 1, tos: 0xb8, ttl: 3, total_length: 20 + 8 + 12, identification: 777, fragment_offset: 0 },
      icmp: { type: 8, code: 0 },
      payloadOffset: 14 + 20 + 4,
    },
    hdr: { l3: 20, l4: 4 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4 with options (IHL 6), UDP',
    frame: eth(0x0800, ipv4({ src: '10.0.0.5', dst: '224.0.0.22', options: ipOpts4, ttl: 1 }, udp(1, 2))),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '10.0.0.5', dst: '224.0.0.22', proto: 17, tos: 0, ttl: 1, total_length: 24 + 14, identification: 0x1234, fragment_offset: 0 },
      udp: { src_port: 1, dst_port: 2 },
      payloadOffset: 14 + 24 + 8,
    },
    hdr: { l3: 24, l4: 8 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4 with 40 bytes of options (IHL 15), TCP',
    frame: eth(0x0800, ipv4({ src: '10.0.0.6', dst: '10.0.0.7', options: ipOpts40 }, tcp(5000, 6000))),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '10.0.0.6', dst: '10.0.0.7', proto: 6, tos: 0, ttl: 64, total_length: 60 + 24, identification: 0x1234, fragment_offset: 0 },
      tcp: { src_port: 5000, dst_port: 6000, seq: 0x01020304, ack: 0, bits: 0x18 },
      payloadOffset: 14 + 60 + 20,
    },
    hdr: { l3: 60, l4: 20 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4, ICMP with IP options (IHL 6)',
    frame: eth(0x0800, ipv4({ options: ipOpts4 }, icmp4(0, 0))),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '10.0.0.1', dst: '10.0.0.2', proto: 1, tos: 0, ttl: 64, total_length: 24 + 12, identification: 0x1234, fragment_offset: 0 },
      icmp: { type: 0, code: 0 },
      payloadOffset: 14 + 24 + 4,
    },
    hdr: { l3: 24, l4: 4 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4 first fragment (MF, offset 0), UDP',
    frame: eth(0x0800, ipv4({ mf: true, id: 42 }, udp(4000, 4001, Buffer.alloc(32, 7)))),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, tos: 0, ttl: 64, total_length: 20 + 40, identification: 42, fragment_offset: 0 },
      udp: { src_port: 4000, dst_port: 4001 },
      payloadOffset: 14 + 20 + 8,
    },
    hdr: { l3: 20, l4: 8 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv4 non-first fragment (offset 185): no transport header',
    frame: eth(0x0800, ipv4({ fragOff: 185, id: 42 }, { proto: 17, raw: Buffer.from('0fa00fa1 0028 0000 aabbccdd'.replace(/ /g, ''), 'hex') })),
    want: {
      ...etherOf(0x0800),
      ipv4: { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, tos: 0, ttl: 64, total_length: 32, identification: 42, fragment_offset: 185 },
      payloadOffset: 34,
    },
    hdr: { l3: 20 },
    peers: 'l3',
    ryu: true,
  },
  {
    name: 'IPv6, TCP (encodeRyuPacket)',
    frame: ryuTcpV6,
    want: {
      eth: { dst: MAC_B, src: MAC_A, ethertype: 0x86dd },
      vlans: [],
      ipv6: { src: '2001:db8::1', dst: '2001:db8:0:1::abcd', nxt: 6, hop_limit: 17, traffic_class: 0x28, flow_label: 0xbeef1 },
      tcp: { src_port: 40000, dst_port: 443, seq: 0xfedcba98, ack: 7, bits: 0x18 },
      payloadOffset: 14 + 40 + 20,
    },
    hdr: { l3: 40, l4: 20 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv6, UDP (traffic class, flow label)',
    frame: eth(0x86dd, ipv6({ src: 'fd00::1', dst: 'fd00::2', tc: 0xb8, flabel: 0x12345, hlim: 2 }, udp(546, 547))),
    want: {
      ...etherOf(0x86dd),
      ipv6: { src: 'fd00::1', dst: 'fd00::2', nxt: 17, hop_limit: 2, traffic_class: 0xb8, flow_label: 0x12345 },
      udp: { src_port: 546, dst_port: 547 },
      payloadOffset: 14 + 40 + 8,
    },
    hdr: { l3: 40, l4: 8 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv6, ICMPv6 echo request (encodeRyuPacket)',
    frame: ryuIcmpv6Echo,
    want: {
      eth: { dst: '33:33:00:00:00:01', src: MAC_A, ethertype: 0x86dd },
      vlans: [],
      ipv6: { src: 'fe80::1', dst: 'ff02::1', nxt: 58, hop_limit: 255, traffic_class: 0, flow_label: 0 },
      icmpv6: { type: 128, code: 0 },
      payloadOffset: 14 + 40 + 4,
    },
    hdr: { l3: 40, l4: 4 },
    peers: 'all',
    ryu: true,
  },
  {
    name: '802.1Q, IPv6, ICMPv6 neighbor solicitation',
    frame: eth(0x86dd, ipv6({ src: 'fe80::1', dst: 'ff02::1:ff00:2', hlim: 255 }, nd(135, 'fe80::2', [[1, MAC_A]])), [[0x8100, 7]]),
    want: {
      ...etherOf(0x86dd, [{ tpid: 0x8100, pcp: 0, cfi: 0, vid: 7 }]),
      ipv6: { src: 'fe80::1', dst: 'ff02::1:ff00:2', nxt: 58, hop_limit: 255, traffic_class: 0, flow_label: 0 },
      icmpv6: { type: 135, code: 0 },
      payloadOffset: 18 + 40 + 4,
    },
    hdr: { l3: 40, l4: 4 },
    peers: 'all',
    ryu: true,
  },
  {
    name: 'IPv6, hop-by-hop, ICMPv6 (an MLD report)',
    frame: eth(0x86dd, ipv6({ src: 'fe80::1', dst: 'ff02::16', hlim: 1, exts: [{ type: 0 }] }, icmp6(143, 0, Buffer.alloc(4)))),
    want: {
      ...etherOf(0x86dd),
      ipv6: { src: 'fe80::1', dst: 'ff02::16', nxt: 58, hop_limit: 1, traffic_class: 0, flow_label: 0 },
      icmpv6: { type: 143, code: 0 },
      payloadOffset: 14 + 40 + 8 + 4,
    },
    hdr: { l3: 40, ext: 8, l4: 4 },
    peers: 'all',
    ryu: false,
  },
  {
    name: 'IPv6, hop-by-hop (16 bytes), UDP',
    frame: eth(0x86dd, ipv6({ exts: [{ type: 0, len8: 1 }] }, udp(7, 9))),
    want: {
      ...etherOf(0x86dd),
      ipv6: { src: 'fd00::1', dst: 'fd00::2', nxt: 17, hop_limit: 64, traffic_class: 0, flow_label: 0 },
      udp: { src_port: 7, dst_port: 9 },
      payloadOffset: 14 + 40 + 16 + 8,
    },
    hdr: { l3: 40, ext: 16, l4: 8 },
    peers: 'all',
    ryu: false,
    osken: false,
  },
  {
    name: 'IPv6, first fragment (offset 0, MF), UDP',
    frame: eth(0x86dd, ipv6({ exts: [{ type: 44, offset: 0, mf: true }] }, udp(1000, 2000, Buffer.alloc(40, 3)))),
    want: {
      ...etherOf(0x86dd),
      ipv6: { src: 'fd00::1', dst: 'fd00::2', nxt: 17, hop_limit: 64, traffic_class: 0, flow_label: 0 },
      udp: { src_port: 1000, dst_port: 2000 },
      payloadOffset: 14 + 40 + 8 + 8,
    },
    hdr: { l3: 40, ext: 8, l4: 8 },
    peers: 'all',
    ryu: false,
  },
  {
    name: 'IPv6, hop-by-hop, non-first fragment (offset 100): no transport header',
    frame: eth(0x86dd, ipv6({ exts: [{ type: 0 }, { type: 44, offset: 100, mf: false }] }, { proto: 17, raw: Buffer.from('03e807d00010abcd0102030405060708', 'hex') })),
    want: {
      ...etherOf(0x86dd),
      ipv6: { src: 'fd00::1', dst: 'fd00::2', nxt: 17, hop_limit: 64, traffic_class: 0, flow_label: 0 },
      payloadOffset: 14 + 40 + 8 + 8,
    },
    hdr: { l3: 40, ext: 16 },
    peers: 'l3',
    ryu: false,
  },
  {
    name: 'IPv6, hop-by-hop, fragment (first), destination options, TCP',
    frame: eth(0x86dd, ipv6({ flabel: 1, exts: [{ type: 0 }, { type: 44, offset: 0, mf: true }, { type: 60 }] }, tcp(443, 50000))),
    want: {
      ...etherOf(0x86dd),
      ipv6: { src: 'fd00::1', dst: 'fd00::2', nxt: 6, hop_limit: 64, traffic_class: 0, flow_label: 1 },
      tcp: { src_port: 443, dst_port: 50000, seq: 0x01020304, ack: 0, bits: 0x18 },
      payloadOffset: 14 + 40 + 8 + 8 + 8 + 20,
    },
    hdr: { l3: 40, ext: 24, l4: 20 },
    peers: 'all',
    ryu: false,
  },
];

// ---- the independent parsers' view ----------------------------------------------------------------

const num = (o: JsonObject, k: string): number => {
  const v = o[k];
  if (typeof v !== 'number') throw new Error(`${k}: expected a number, got ${JSON.stringify(v)}`);
  return v;
};
const text = (o: JsonObject, k: string): string => {
  const v = o[k];
  if (typeof v !== 'string') throw new Error(`${k}: expected a string, got ${JSON.stringify(v)}`);
  return v;
};

/**
 * The layers of a Ryu packet-library JSON in ParsedPacket's shape. For IPv6, `nxt` is the protocol after
 * the extension headers (os-ken lists them in ext_hdrs); a later fragment ends the list, as its payload
 * is no header.
 */
function peerView(j: Json): View {
  if (!isObject(j) || !isObject(j['Packet'])) throw new Error('not a Packet');
  const protocols = j['Packet']['protocols'];
  if (!Array.isArray(protocols)) throw new Error('no protocols');
  const v: View = {};
  const vlans: ParsedPacket['vlans'][number][] = [];
  let lastType = 0;
  for (const p of protocols as readonly Json[]) {
    if (!isObject(p)) continue; // raw bytes
    const [name, body] = Object.entries(p)[0] as [string, Json];
    if (!isObject(body)) continue;
    switch (name) {
      case 'ethernet':
        lastType = num(body, 'ethertype');
        v.eth = { dst: text(body, 'dst'), src: text(body, 'src'), ethertype: lastType };
        break;
      case 'vlan':
      case 'svlan':
        vlans.push({ tpid: lastType, pcp: num(body, 'pcp'), cfi: num(body, 'cfi'), vid: num(body, 'vid') });
        lastType = num(body, 'ethertype');
        if (v.eth) v.eth = { ...v.eth, ethertype: lastType };
        break;
      case 'arp':
        v.arp = { opcode: num(body, 'opcode'), src_mac: text(body, 'src_mac'), src_ip: text(body, 'src_ip'), dst_mac: text(body, 'dst_mac'), dst_ip: text(body, 'dst_ip') };
        break;
      case 'ipv4':
        v.ipv4 = {
          src: text(body, 'src'), dst: text(body, 'dst'), proto: num(body, 'proto'), tos: num(body, 'tos'), ttl: num(body, 'ttl'),
          total_length: num(body, 'total_length'), identification: num(body, 'identification'), fragment_offset: num(body, 'offset'),
        };
        break;
      case 'ipv6': {
        let nxt = num(body, 'nxt');
        const ext = body['ext_hdrs'];
        for (const e of Array.isArray(ext) ? (ext as readonly Json[]) : []) {
          if (!isObject(e)) continue;
          const eb = Object.values(e)[0];
          if (isObject(eb)) nxt = num(eb, 'nxt');
        }
        v.ipv6 = {
          src: text(body, 'src'), dst: text(body, 'dst'), nxt, hop_limit: num(body, 'hop_limit'),
          traffic_class: num(body, 'traffic_class'), flow_label: num(body, 'flow_label'),
        };
        break;
      }
      case 'tcp':
        v.tcp = { src_port: num(body, 'src_port'), dst_port: num(body, 'dst_port'), seq: num(body, 'seq'), ack: num(body, 'ack'), bits: num(body, 'bits') };
        break;
      case 'udp':
        v.udp = { src_port: num(body, 'src_port'), dst_port: num(body, 'dst_port') };
        break;
      case 'icmp':
        v.icmp = { type: num(body, 'type'), code: num(body, 'code') };
        break;
      case 'icmpv6':
        v.icmpv6 = { type: num(body, 'type'), code: num(body, 'code') };
        break;
      default:
        throw new Error(`a protocol this test does not map: ${name}`);
    }
  }
  v.vlans = vlans;
  return v;
}

/** parseFrame's layers that a peer can be held to: Ryu's TCP bits are the low 6 (no NS, CWR, ECE). */
function ownView(p: ParsedPacket, upTo: Case['peers']): View {
  const v: View = { eth: p.eth, vlans: p.vlans, arp: p.arp, ipv4: p.ipv4, ipv6: p.ipv6 };
  if (upTo === 'all') Object.assign(v, { tcp: p.tcp && { ...p.tcp, bits: p.tcp.bits & 0x3f }, udp: p.udp, icmp: p.icmp, icmpv6: p.icmpv6 });
  return v;
}

function restrict(v: View, upTo: Case['peers']): View {
  return upTo === 'all' ? v : { eth: v.eth, vlans: v.vlans, arp: v.arp, ipv4: v.ipv4, ipv6: v.ipv6 };
}

// ---- the tests ------------------------------------------------------------------------------------

describe('parseFrame', () => {
  it.each(CASES)('$name', ({ frame, want }) => {
    expect(parseFrame(frame)).toEqual(want);
  });

  it.each(CASES.filter((c) => c.ryu))('agrees with decodeRyuPacket: $name', ({ frame, peers }) => {
    expect(ownView(parseFrame(frame), peers)).toEqual(restrict(peerView(decodeRyuPacket(frame)), peers));
  });

  describe('agrees with os-ken', () => {
    const OSKEN_CASES = CASES.filter((c) => c.osken !== false);
    let decoded: readonly Json[] = [];
    beforeAll(() => {
      const script = [
        'import json, sys',
        'from os_ken.lib.packet import packet',
        'print(json.dumps([packet.Packet(bytes.fromhex(h)).to_jsondict() for h in json.load(sys.stdin)]))',
      ].join('\n');
      const out = execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(OSKEN_CASES.map((c) => c.frame.toString('hex'))), encoding: 'utf8' });
      decoded = JSON.parse(out) as Json[];
      expect(decoded.length).toBe(OSKEN_CASES.length);
    });

    it.each(OSKEN_CASES.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
      const c = OSKEN_CASES[i] as Case;
      expect(ownView(parseFrame(c.frame), c.peers)).toEqual(restrict(peerView(decoded[i] as Json), c.peers));
    });
  });

  it.each(CASES)('cut at every length gives the complete layers only: $name', ({ frame, want, hdr }) => {
    const full = parseFrame(frame);
    const tags = full.vlans.length;
    const l3Start = 14 + 4 * tags;
    const l3End = hdr.l3 !== undefined ? l3Start + hdr.l3 : Infinity;
    const extEnd = hdr.l3 !== undefined ? l3End + (hdr.ext ?? 0) : Infinity;
    const l4End = hdr.l4 !== undefined ? extEnd + hdr.l4 : Infinity;
    const l3 = (['arp', 'ipv4', 'ipv6'] as const).filter((k) => want[k] !== undefined);
    const l4 = (['tcp', 'udp', 'icmp', 'icmpv6'] as const).filter((k) => want[k] !== undefined);
    expect(l3.length).toBe(hdr.l3 !== undefined ? 1 : 0);
    expect(l4.length).toBe(hdr.l4 !== undefined ? 1 : 0);
    const problems: string[] = [];
    for (let n = 0; n < frame.length; n++) {
      const cut = Buffer.from(frame.subarray(0, n)); // a copy: nothing may read past the end
      let p: ParsedPacket;
      try {
        p = parseFrame(cut);
      } catch (e) {
        problems.push(`${n}: threw ${(e as Error).message}`);
        continue;
      }
      const say = (what: string, got: unknown, exp: unknown): void => {
        if (JSON.stringify(got) !== JSON.stringify(exp)) problems.push(`${n}: ${what} ${JSON.stringify(got)}, expected ${JSON.stringify(exp)}`);
      };
      if (p.payloadOffset > n) problems.push(`${n}: payloadOffset ${p.payloadOffset} is past the end`);
      if (n < 14) {
        say('a frame shorter than Ethernet', p, { vlans: [], payloadOffset: 0 });
        continue;
      }
      const done = Math.min(tags, Math.floor((n - 14) / 4));
      say('vlans', p.vlans, full.vlans.slice(0, done));
      const ethertype = done === tags ? full.eth?.ethertype : full.vlans[done]?.tpid;
      say('eth', p.eth, { ...full.eth, ethertype });
      for (const k of l3) say(k, p[k], n >= l3End && done === tags ? (k === 'ipv6' && n < extEnd ? { ...full.ipv6, nxt: p.ipv6?.nxt } : full[k]) : undefined);
      for (const k of l4) say(k, p[k], n >= l4End ? full[k] : undefined);
      for (const k of ['arp', 'ipv4', 'ipv6', 'tcp', 'udp', 'icmp', 'icmpv6'] as const) {
        if (![...l3, ...l4].includes(k)) say(`${k} (not in the frame)`, p[k], undefined);
      }
    }
    expect(problems).toEqual([]);
  });

  it('never throws on random bytes behind a known ethertype, and stays inside the frame', () => {
    let seed = 0x2545f491;
    const rnd = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const types = [0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x88cc];
    const problems: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const f = Buffer.alloc(Math.floor(rnd() * 160));
      for (let k = 0; k < f.length; k++) f[k] = Math.floor(rnd() * 256);
      if (f.length >= 14) f.writeUInt16BE(types[i % types.length] as number, 12);
      // IPv4 with a plausible version/IHL half the time, IPv6 headers chained through extension headers.
      if (f.length >= 15 && i % 2 === 0) f[14] = 0x40 | (f[14] as number & 0x0f);
      if (f.length >= 21 && i % 3 === 0 && f.readUInt16BE(12) === 0x86dd) f[20] = [0, 43, 44, 60][i % 4] as number;
      try {
        const p = parseFrame(f);
        if (p.payloadOffset > f.length) problems.push(`${f.toString('hex')}: payloadOffset ${p.payloadOffset} > ${f.length}`);
      } catch (e) {
        problems.push(`${f.toString('hex')}: ${(e as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('ethDst reads the destination MAC alone, and nothing from a runt', () => {
    expect(ethDst(eth(0x0800, Buffer.alloc(0), [], 'aa:bb:cc:dd:ee:0f'))).toBe('aa:bb:cc:dd:ee:0f');
    expect(ethDst(Buffer.from('aabbccddee', 'hex'))).toBe('');
  });
});
