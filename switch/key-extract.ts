/**
 * A frame's match fields into a flow key (key.ts's layout).
 *
 * Extraction (extractKey) runs once per frame: it reads the bytes with bounds checks only, allocates
 * nothing, never throws, and leaves at 0 any field it cannot read. It also records the header offsets the
 * actions need (HeaderOffsets). It parses Ethernet, up to two VLAN tags (802.1Q/802.1ad; vid and pcp come
 * from the outermost, eth_type is the type after the tags), PBB's I-TAG (pbb_isid; the customer frame
 * behind it is not parsed), the top MPLS label (nothing below it), ARP for Ethernet/IPv4, IPv4 (no L4
 * fields for non-first fragments), IPv6 with its extension headers (ipv6_exthdr as OFPIEH_* bits,
 * ip_proto the upper-layer protocol), TCP, UDP, SCTP, ICMPv4, ICMPv6 and Neighbor Discovery. An 802.3
 * frame (a length where the type would be) has eth_type 0x05ff, OVS's and OpenFlow 1.0's "not an
 * Ethernet type"; LLC/SNAP is not parsed.
 *
 * May import: openflow/index.ts and switch/key.ts.
 */
import { OFPVID } from '../openflow/index.js';
import { type FlowKey, slotOf, splitU64 } from './key.js';

/** Slot positions used by the extractor, resolved once at load. */
const W = {
  inPort: slotOf('in_port').word,
  inPhyPort: slotOf('in_phy_port').word,
  metadata: slotOf('metadata').word,
  ethDst: slotOf('eth_dst').word,
  ethSrc: slotOf('eth_src').word,
  ethType: slotOf('eth_type').word,
  vlanVid: slotOf('vlan_vid').word,
  vlanPcp: slotOf('vlan_pcp').word,
  ipDscp: slotOf('ip_dscp').word,
  ipEcn: slotOf('ip_ecn').word,
  ipProto: slotOf('ip_proto').word,
  ipv4Src: slotOf('ipv4_src').word,
  ipv4Dst: slotOf('ipv4_dst').word,
  tcpSrc: slotOf('tcp_src').word,
  tcpDst: slotOf('tcp_dst').word,
  udpSrc: slotOf('udp_src').word,
  udpDst: slotOf('udp_dst').word,
  sctpSrc: slotOf('sctp_src').word,
  sctpDst: slotOf('sctp_dst').word,
  icmpv4Type: slotOf('icmpv4_type').word,
  icmpv4Code: slotOf('icmpv4_code').word,
  arpOp: slotOf('arp_op').word,
  arpSpa: slotOf('arp_spa').word,
  arpTpa: slotOf('arp_tpa').word,
  arpSha: slotOf('arp_sha').word,
  arpTha: slotOf('arp_tha').word,
  ipv6Src: slotOf('ipv6_src').word,
  ipv6Dst: slotOf('ipv6_dst').word,
  ipv6Flabel: slotOf('ipv6_flabel').word,
  icmpv6Type: slotOf('icmpv6_type').word,
  icmpv6Code: slotOf('icmpv6_code').word,
  ndTarget: slotOf('ipv6_nd_target').word,
  ndSll: slotOf('ipv6_nd_sll').word,
  ndTll: slotOf('ipv6_nd_tll').word,
  mplsLabel: slotOf('mpls_label').word,
  mplsTc: slotOf('mpls_tc').word,
  mplsBos: slotOf('mpls_bos').word,
  pbbIsid: slotOf('pbb_isid').word,
  tunnelId: slotOf('tunnel_id').word,
  ipv6Exthdr: slotOf('ipv6_exthdr').word,
} as const;

/** What extractKey needs besides the frame, with 64-bit values as bigint (convenient, slower). */
export interface KeyMeta {
  readonly inPort: number;
  readonly inPhyPort: number;
  readonly metadata: bigint;
  readonly tunnelId: bigint;
}

/** The same, with 64-bit values split once into high and low words (Packet keeps them so). */
export interface KeyMetaWords {
  readonly inPort: number;
  readonly inPhyPort: number;
  readonly metadataHi: number;
  readonly metadataLo: number;
  readonly tunnelHi: number;
  readonly tunnelLo: number;
}

// ---- header offsets ----------------------------------------------------------------------------------

/** Where the headers of a frame are, as extractKey found them; -1 for "not there". */
export class HeaderOffsets {
  /** The eth_type extractKey reported (0 when unreadable). */
  ethType = 0;
  /** Offset of the two type bytes naming the L2 payload (after VLAN tags); -1 when unreadable. */
  typeOff = -1;
  /** Outermost VLAN tag (its TPID; the TCI follows). */
  vlanOff = -1;
  /** Second VLAN tag. */
  vlan2Off = -1;
  /** PBB I-TAG's 4 bytes (after the 0x88e7 type). */
  pbbOff = -1;
  /** Top MPLS label stack entry. */
  mplsOff = -1;
  /** ARP, IPv4 or IPv6 header, when it was well-formed enough to read. */
  l3Off = -1;
  /** 4 or 6 when l3Off is an IP header, else 0. */
  ipVersion = 0;
  /** End of the IP datagram within the frame (its length field, clamped to the frame). */
  l3End = 0;
  /** The upper-layer protocol (IPv6: after the extension headers); -1 when not IP. */
  ipProto = -1;
  /**
   * The byte holding ipProto: the IPv4 protocol field, or the next-header field of the IPv6 header or
   * extension header that names it (set-field of ip_proto writes there); -1 when not IP.
   */
  protoOff = -1;
  /** First byte of the upper-layer header; -1 for non-first fragments, ESP, no-next-header. */
  l4Off = -1;
  /** 0: not a fragment, 1: first fragment, 2: a later fragment. */
  frag = 0;
  /** The link-layer address in the ND SLL option (solicitation) or TLL option (advertisement). */
  ndLlOff = -1;

  reset(): void {
    this.ethType = 0;
    this.typeOff = -1;
    this.vlanOff = -1;
    this.vlan2Off = -1;
    this.pbbOff = -1;
    this.mplsOff = -1;
    this.l3Off = -1;
    this.ipVersion = 0;
    this.l3End = 0;
    this.ipProto = -1;
    this.protoOff = -1;
    this.l4Off = -1;
    this.frag = 0;
    this.ndLlOff = -1;
  }

  copyFrom(o: HeaderOffsets): void {
    this.ethType = o.ethType;
    this.typeOff = o.typeOff;
    this.vlanOff = o.vlanOff;
    this.vlan2Off = o.vlan2Off;
    this.pbbOff = o.pbbOff;
    this.mplsOff = o.mplsOff;
    this.l3Off = o.l3Off;
    this.ipVersion = o.ipVersion;
    this.l3End = o.l3End;
    this.ipProto = o.ipProto;
    this.protoOff = o.protoOff;
    this.l4Off = o.l4Off;
    this.frag = o.frag;
    this.ndLlOff = o.ndLlOff;
  }
}

// ---- extraction ----------------------------------------------------------------------------------------

export const ETH_TYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  IPV6: 0x86dd,
  MPLS: 0x8847,
  MPLS_MCAST: 0x8848,
  PBB: 0x88e7,
  /** Reported for 802.3 frames, whose type field is a length. */
  NOT_ETH_TYPE: 0x05ff,
} as const;

export const IPPROTO = {
  HOPOPTS: 0,
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  SCTP: 132,
} as const;

/** ipv6_exthdr bits (ofp_ipv6exthdr_flags). */
export const OFPIEH = {
  NONEXT: 1 << 0,
  ESP: 1 << 1,
  AUTH: 1 << 2,
  DEST: 1 << 3,
  FRAG: 1 << 4,
  ROUTER: 1 << 5,
  HOP: 1 << 6,
  UNREP: 1 << 7,
  UNSEQ: 1 << 8,
} as const;

export const ND = { SOLICIT: 135, ADVERT: 136, OPT_SLL: 1, OPT_TLL: 2 } as const;

function u16(b: Uint8Array, o: number): number {
  return ((b[o] as number) << 8) | (b[o + 1] as number);
}

function u32(b: Uint8Array, o: number): number {
  return (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
}

const scratchOffsets = new HeaderOffsets();

/**
 * Fills key with the frame's match fields (every word is written) and, when given, offsets with where
 * its headers are. Never throws; allocates nothing.
 */
export function extractKey(frame: Uint8Array, meta: KeyMeta | KeyMetaWords, key: FlowKey, offsets?: HeaderOffsets): void {
  const h = offsets ?? scratchOffsets;
  key.fill(0);
  h.reset();
  key[W.inPort] = meta.inPort;
  key[W.inPhyPort] = meta.inPhyPort;
  if ('metadataHi' in meta) {
    key[W.metadata] = meta.metadataHi;
    key[W.metadata + 1] = meta.metadataLo;
    key[W.tunnelId] = meta.tunnelHi;
    key[W.tunnelId + 1] = meta.tunnelLo;
  } else {
    if (meta.metadata !== 0n) {
      const [hi, lo] = splitU64(meta.metadata);
      key[W.metadata] = hi;
      key[W.metadata + 1] = lo;
    }
    if (meta.tunnelId !== 0n) {
      const [hi, lo] = splitU64(meta.tunnelId);
      key[W.tunnelId] = hi;
      key[W.tunnelId + 1] = lo;
    }
  }

  const len = frame.length;
  if (len < 12) return;
  key[W.ethDst] = u16(frame, 0);
  key[W.ethDst + 1] = u32(frame, 2);
  key[W.ethSrc] = u16(frame, 6);
  key[W.ethSrc + 1] = u32(frame, 8);
  if (len < 14) return;

  let typeOff = 12;
  let type = u16(frame, 12);
  for (let tags = 0; tags < 2 && (type === ETH_TYPE.VLAN || type === ETH_TYPE.QINQ); tags++) {
    if (typeOff + 4 > len) return; // the TCI is cut off
    const tci = u16(frame, typeOff + 2);
    if (tags === 0) {
      key[W.vlanVid] = OFPVID.PRESENT | (tci & 0x0fff);
      key[W.vlanPcp] = tci >>> 13;
      h.vlanOff = typeOff;
    } else {
      h.vlan2Off = typeOff;
    }
    typeOff += 4;
    if (typeOff + 2 > len) return; // the inner type is cut off
    type = u16(frame, typeOff);
  }
  if (type < 0x0600) type = ETH_TYPE.NOT_ETH_TYPE;
  key[W.ethType] = type;
  h.ethType = type;
  h.typeOff = typeOff;

  const p = typeOff + 2;
  switch (type) {
    case ETH_TYPE.IPV4:
      extractIpv4(frame, p, key, h);
      return;
    case ETH_TYPE.IPV6:
      extractIpv6(frame, p, key, h);
      return;
    case ETH_TYPE.ARP:
      extractArp(frame, p, key, h);
      return;
    case ETH_TYPE.MPLS:
    case ETH_TYPE.MPLS_MCAST:
      if (p + 4 <= len) {
        const lse = u32(frame, p);
        key[W.mplsLabel] = lse >>> 12;
        key[W.mplsTc] = (lse >>> 9) & 7;
        key[W.mplsBos] = (lse >>> 8) & 1;
        h.mplsOff = p;
      }
      return;
    case ETH_TYPE.PBB:
      if (p + 4 <= len) {
        key[W.pbbIsid] = u32(frame, p) & 0xffffff;
        h.pbbOff = p;
      }
      return;
    default:
      return;
  }
}

function extractArp(f: Uint8Array, p: number, key: FlowKey, h: HeaderOffsets): void {
  // Ethernet/IPv4 ARP only (hardware type 1, protocol 0x0800, lengths 6 and 4), as OVS.
  if (p + 28 > f.length) return;
  if (u16(f, p) !== 1 || u16(f, p + 2) !== ETH_TYPE.IPV4 || f[p + 4] !== 6 || f[p + 5] !== 4) return;
  key[W.arpOp] = u16(f, p + 6);
  key[W.arpSha] = u16(f, p + 8);
  key[W.arpSha + 1] = u32(f, p + 10);
  key[W.arpSpa] = u32(f, p + 14);
  key[W.arpTha] = u16(f, p + 18);
  key[W.arpTha + 1] = u32(f, p + 20);
  key[W.arpTpa] = u32(f, p + 24);
  h.l3Off = p;
}

function extractIpv4(f: Uint8Array, p: number, key: FlowKey, h: HeaderOffsets): void {
  const len = f.length;
  if (p + 20 > len) return;
  const vihl = f[p] as number;
  const ihl = (vihl & 15) * 4;
  if (vihl >>> 4 !== 4 || ihl < 20 || p + ihl > len) return;
  const total = u16(f, p + 2);
  if (total < ihl) return;
  const tos = f[p + 1] as number;
  const proto = f[p + 9] as number;
  key[W.ipDscp] = tos >>> 2;
  key[W.ipEcn] = tos & 3;
  key[W.ipProto] = proto;
  key[W.ipv4Src] = u32(f, p + 12);
  key[W.ipv4Dst] = u32(f, p + 16);
  h.l3Off = p;
  h.ipVersion = 4;
  h.ipProto = proto;
  h.protoOff = p + 9;
  const end = Math.min(p + total, len);
  h.l3End = end;
  const fragWord = u16(f, p + 6);
  if ((fragWord & 0x1fff) !== 0) {
    h.frag = 2;
    return;
  }
  if ((fragWord & 0x2000) !== 0) h.frag = 1;
  extractL4(f, p + ihl, end, proto, key, h);
}

/** Order ranks of RFC 8200's recommended extension header sequence. */
const RANK_HOP = 1;
const RANK_DEST1 = 2; // destination options for intermediate destinations (before routing)
const RANK_ROUTING = 3;
const RANK_FRAG = 4;
const RANK_AH = 5;
const RANK_ESP = 6;
const RANK_DEST2 = 7; // destination options for the final destination

function extractIpv6(f: Uint8Array, p: number, key: FlowKey, h: HeaderOffsets): void {
  const len = f.length;
  if (p + 40 > len || (f[p] as number) >>> 4 !== 6) return;
  const w0 = u32(f, p);
  const tc = (w0 >>> 20) & 0xff;
  key[W.ipDscp] = tc >>> 2;
  key[W.ipEcn] = tc & 3;
  key[W.ipv6Flabel] = w0 & 0xfffff;
  for (let i = 0; i < 4; i++) {
    key[W.ipv6Src + i] = u32(f, p + 8 + 4 * i);
    key[W.ipv6Dst + i] = u32(f, p + 24 + 4 * i);
  }
  const payload = u16(f, p + 4);
  // Payload length 0 is a jumbogram or a kernel's large GSO frame: the frame's end is the datagram's.
  const end = payload === 0 ? len : Math.min(p + 40 + payload, len);
  h.l3Off = p;
  h.ipVersion = 6;
  h.l3End = end;

  let nh = f[p + 6] as number;
  let nhOff = p + 6; // the byte that holds nh
  let off = p + 40;
  let flags = 0;
  let rank = 0;
  let upper = true; // whether `off` starts an upper-layer header worth parsing
  walk: for (let n = 0; n < 32; n++) {
    let r: number;
    let bit: number;
    let hlen: number;
    switch (nh) {
      case IPPROTO.HOPOPTS:
        bit = OFPIEH.HOP;
        r = RANK_HOP;
        if (n !== 0) flags |= OFPIEH.UNSEQ; // hop-by-hop must follow the IPv6 header
        break;
      case IPPROTO.DSTOPTS:
        bit = OFPIEH.DEST;
        r = rank >= RANK_ROUTING ? RANK_DEST2 : RANK_DEST1;
        break;
      case IPPROTO.ROUTING:
        bit = OFPIEH.ROUTER;
        r = RANK_ROUTING;
        break;
      case IPPROTO.FRAGMENT:
        bit = OFPIEH.FRAG;
        r = RANK_FRAG;
        break;
      case IPPROTO.AH:
        bit = OFPIEH.AUTH;
        r = RANK_AH;
        break;
      case IPPROTO.ESP:
        bit = OFPIEH.ESP;
        r = RANK_ESP;
        break;
      case IPPROTO.NONE:
        flags |= OFPIEH.NONEXT;
        upper = false;
        break walk;
      default:
        break walk; // an upper-layer protocol
    }
    if (r < rank) flags |= OFPIEH.UNSEQ;
    // Each header once, except destination options: once before routing and once at the end.
    if (bit === OFPIEH.DEST ? r === rank : (flags & bit) !== 0) flags |= OFPIEH.UNREP;
    flags |= bit;
    if (r > rank) rank = r;
    if (nh === IPPROTO.ESP) {
      upper = false; // encrypted from here on
      break;
    }
    if (off + 8 > end) {
      upper = false; // cut off inside the extension header
      break;
    }
    if (nh === IPPROTO.FRAGMENT) {
      hlen = 8;
      const fo = u16(f, off + 2);
      if (fo >>> 3 !== 0) {
        h.frag = 2;
        nh = f[off] as number;
        nhOff = off;
        upper = false;
        break;
      }
      if ((fo & 1) !== 0) h.frag = 1;
    } else if (nh === IPPROTO.AH) {
      hlen = ((f[off + 1] as number) + 2) * 4;
    } else {
      hlen = ((f[off + 1] as number) + 1) * 8;
    }
    nh = f[off] as number;
    nhOff = off;
    off += hlen;
  }
  key[W.ipv6Exthdr] = flags;
  key[W.ipProto] = nh;
  h.ipProto = nh;
  h.protoOff = nhOff;
  if (upper && off <= end) extractL4(f, off, end, nh, key, h);
}

function extractL4(f: Uint8Array, off: number, end: number, proto: number, key: FlowKey, h: HeaderOffsets): void {
  h.l4Off = off;
  switch (proto) {
    case IPPROTO.TCP:
      if (off + 4 <= end) {
        key[W.tcpSrc] = u16(f, off);
        key[W.tcpDst] = u16(f, off + 2);
      }
      return;
    case IPPROTO.UDP:
      if (off + 4 <= end) {
        key[W.udpSrc] = u16(f, off);
        key[W.udpDst] = u16(f, off + 2);
      }
      return;
    case IPPROTO.SCTP:
      if (off + 4 <= end) {
        key[W.sctpSrc] = u16(f, off);
        key[W.sctpDst] = u16(f, off + 2);
      }
      return;
    case IPPROTO.ICMP:
      if (off + 2 <= end) {
        key[W.icmpv4Type] = f[off] as number;
        key[W.icmpv4Code] = f[off + 1] as number;
      }
      return;
    case IPPROTO.ICMPV6:
      if (off + 2 <= end) extractIcmpv6(f, off, end, key, h);
      return;
    default:
      return;
  }
}

function extractIcmpv6(f: Uint8Array, off: number, end: number, key: FlowKey, h: HeaderOffsets): void {
  const type = f[off] as number;
  const code = f[off + 1] as number;
  key[W.icmpv6Type] = type;
  key[W.icmpv6Code] = code;
  if ((type !== ND.SOLICIT && type !== ND.ADVERT) || code !== 0 || off + 24 > end) return;
  for (let i = 0; i < 4; i++) key[W.ndTarget + i] = u32(f, off + 8 + 4 * i);
  // The first link-layer address option of the kind the message carries (SLL in a solicitation, TLL in
  // an advertisement), of Ethernet's length; a zero-length option ends the list as malformed.
  const want = type === ND.SOLICIT ? ND.OPT_SLL : ND.OPT_TLL;
  const slot = type === ND.SOLICIT ? W.ndSll : W.ndTll;
  for (let o = off + 24; o + 8 <= end; ) {
    const olen = (f[o + 1] as number) * 8;
    if (olen === 0 || o + olen > end) return;
    if (f[o] === want && olen === 8) {
      key[slot] = u16(f, o + 2);
      key[slot + 1] = u32(f, o + 4);
      h.ndLlOff = o + 2;
      return;
    }
    o += olen;
  }
}
