/**
 * Packet-in frames, parsed for apps: Ethernet, 802.1Q/802.1ad tags, ARP, IPv4, IPv6 (skipping the common
 * extension headers), TCP, UDP, ICMP and ICMPv6. Addresses come as the text forms Ryu uses
 * ("aa:bb:cc:dd:ee:ff", "10.0.0.1", "fe80::1"). A truncated header ends parsing at the last complete
 * layer, so `parseFrame` never throws: apps see what was there.
 *
 * Pure; imports only base/addr.ts (address text).
 */
import { ipv4ToText, ipv6ToText, macToText } from '../base/addr.js';

export interface EthernetHeader {
  readonly dst: string;
  readonly src: string;
  /** The ethertype after any VLAN tags. */
  readonly ethertype: number;
}
export interface VlanTag {
  /** The tag protocol id: 0x8100 or 0x88a8. */
  readonly tpid: number;
  readonly pcp: number;
  readonly cfi: number;
  readonly vid: number;
}
export interface ArpHeader {
  readonly opcode: number;
  readonly src_mac: string;
  readonly src_ip: string;
  readonly dst_mac: string;
  readonly dst_ip: string;
}
export interface Ipv4Header {
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly tos: number;
  readonly ttl: number;
  readonly total_length: number;
  readonly identification: number;
  /** Non-first fragments carry no transport header; the parser stops there. */
  readonly fragment_offset: number;
}
export interface Ipv6Header {
  readonly src: string;
  readonly dst: string;
  /**
   * The upper-layer protocol after extension headers. A non-first fragment names it too but carries no
   * transport header; the parser stops there.
   */
  readonly nxt: number;
  readonly hop_limit: number;
  readonly traffic_class: number;
  readonly flow_label: number;
}
export interface PortsHeader {
  readonly src_port: number;
  readonly dst_port: number;
}
export interface TcpHeader extends PortsHeader {
  readonly seq: number;
  readonly ack: number;
  readonly bits: number;
}
export interface IcmpHeader {
  readonly type: number;
  readonly code: number;
}

export interface ParsedPacket {
  readonly eth?: EthernetHeader;
  /** Outermost first. */
  readonly vlans: readonly VlanTag[];
  readonly arp?: ArpHeader;
  readonly ipv4?: Ipv4Header;
  readonly ipv6?: Ipv6Header;
  readonly tcp?: TcpHeader;
  readonly udp?: PortsHeader;
  readonly icmp?: IcmpHeader;
  readonly icmpv6?: IcmpHeader;
  /** Offset of the first byte no layer above claimed (the payload). */
  readonly payloadOffset: number;
}

const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
/** Extension headers skipped on the way to the upper layer: hop-by-hop, routing, destination options. */
const IPV6_EXT = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;

/** The destination MAC of a frame as text, without parsing the rest (the learning switch's hot path). */
export function ethDst(frame: Buffer): string {
  return frame.length >= 6 ? macToText(frame.subarray(0, 6)) : '';
}

export function parseFrame(frame: Buffer): ParsedPacket {
  const out: {
    -readonly [K in keyof ParsedPacket]: ParsedPacket[K];
  } = { vlans: [], payloadOffset: 0 };
  const n = frame.length;
  if (n < 14) return out;
  let ethertype = frame.readUInt16BE(12);
  let off = 14;
  const vlans: VlanTag[] = [];
  while ((ethertype === ETH_P_8021Q || ethertype === ETH_P_8021AD) && n >= off + 4) {
    const tci = frame.readUInt16BE(off);
    vlans.push({ tpid: ethertype, pcp: tci >> 13, cfi: (tci >> 12) & 1, vid: tci & 0xfff });
    ethertype = frame.readUInt16BE(off + 2);
    off += 4;
  }
  out.vlans = vlans;
  out.eth = { dst: macToText(frame.subarray(0, 6)), src: macToText(frame.subarray(6, 12)), ethertype };
  out.payloadOffset = off;
  let proto = -1;
  if (ethertype === ETH_P_ARP) {
    if (n < off + 28) return out;
    out.arp = {
      opcode: frame.readUInt16BE(off + 6),
      src_mac: macToText(frame.subarray(off + 8, off + 14)),
      src_ip: ipv4ToText(frame, off + 14),
      dst_mac: macToText(frame.subarray(off + 18, off + 24)),
      dst_ip: ipv4ToText(frame, off + 24),
    };
    out.payloadOffset = off + 28;
    return out;
  } else if (ethertype === ETH_P_IP) {
    if (n < off + 20) return out;
    const ihl = (frame[off]! & 0x0f) * 4;
    if (ihl < 20 || n < off + ihl) return out;
    const frag = frame.readUInt16BE(off + 6);
    out.ipv4 = {
      src: ipv4ToText(frame, off + 12),
      dst: ipv4ToText(frame, off + 16),
      proto: frame[off + 9]!,
      tos: frame[off + 1]!,
      ttl: frame[off + 8]!,
      total_length: frame.readUInt16BE(off + 2),
      identification: frame.readUInt16BE(off + 4),
      fragment_offset: frag & 0x1fff,
    };
    off += ihl;
    out.payloadOffset = off;
    if ((frag & 0x1fff) !== 0) return out;
    proto = frame[off - ihl + 9]!;
  } else if (ethertype === ETH_P_IPV6) {
    if (n < off + 40) return out;
    const vtf = frame.readUInt32BE(off);
    let nxt = frame[off + 6]!;
    const base = off;
    off += 40;
    // RFC 8200's order puts destination options after the fragment header too; a later fragment's
    // payload is no header, so the walk stops there (nxt still names the upper layer, as IPv4's proto).
    let later = false;
    while ((IPV6_EXT.has(nxt) || nxt === IPV6_FRAGMENT) && n >= off + 8) {
      const len = nxt === IPV6_FRAGMENT ? 8 : (frame[off + 1]! + 1) * 8;
      if (nxt === IPV6_FRAGMENT) later = (frame.readUInt16BE(off + 2) >> 3) !== 0;
      nxt = frame[off]!;
      off += len;
      if (later) break;
    }
    out.ipv6 = {
      src: ipv6ToText(frame.subarray(base + 8, base + 24)),
      dst: ipv6ToText(frame.subarray(base + 24, base + 40)),
      nxt,
      hop_limit: frame[base + 7]!,
      traffic_class: (vtf >>> 20) & 0xff,
      flow_label: vtf & 0xfffff,
    };
    out.payloadOffset = Math.min(off, n);
    if (off > n || later) return out;
    proto = nxt;
  } else {
    return out;
  }
  if (proto === IPPROTO_TCP && n >= off + 20) {
    out.tcp = {
      src_port: frame.readUInt16BE(off),
      dst_port: frame.readUInt16BE(off + 2),
      seq: frame.readUInt32BE(off + 4),
      ack: frame.readUInt32BE(off + 8),
      bits: frame.readUInt16BE(off + 12) & 0x1ff,
    };
    out.payloadOffset = Math.min(n, off + (frame[off + 12]! >> 4) * 4);
  } else if (proto === IPPROTO_UDP && n >= off + 8) {
    out.udp = { src_port: frame.readUInt16BE(off), dst_port: frame.readUInt16BE(off + 2) };
    out.payloadOffset = off + 8;
  } else if (proto === IPPROTO_ICMP && n >= off + 4) {
    out.icmp = { type: frame[off]!, code: frame[off + 1]! };
    out.payloadOffset = off + 4;
  } else if (proto === IPPROTO_ICMPV6 && n >= off + 4) {
    out.icmpv6 = { type: frame[off]!, code: frame[off + 1]! };
    out.payloadOffset = off + 4;
  }
  return out;
}
