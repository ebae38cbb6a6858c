/**
 * The flow key: a frame's OpenFlow-basic match fields as 32-bit words (OVS's miniflow, flattened), and
 * matches compiled to a value/mask pair of the same shape.
 *
 * Layout. Every one of the 40 OpenFlow-basic OXM fields has a fixed slot of whole words, in field-number
 * order, derived from the codec's OXM table (nothing here lists the fields again): one word for fields of
 * up to 32 bits, two (high word first) for 48-bit MACs and 64-bit fields, four for IPv6 addresses. A
 * value sits in the low bits of its slot. A field absent from the frame is 0; flows can only match it
 * when its prerequisites hold, which compileMatch enforces, so "absent" never needs a bit of its own.
 * `vlan_vid` holds `0x1000 | vid` for a tagged frame and 0 for an untagged one (OFPVID_PRESENT).
 *
 * Matching. A compiled match's value is already masked; a key matches when `(key & mask) == value` in
 * every word, computed as `((key ^ value) & mask) == 0` so that no word is read as a negative int32.
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
 * May import: openflow/index.ts and switch/errors.ts.
 */
import {
  type Match,
  OFPBMC,
  OFPET,
  OFPVID,
  OXM_BASIC,
  type OxmFieldDef,
  type OxmTlv,
  type OxmValue,
} from '../openflow/index.js';
import { OFPError } from './errors.js';

// ---- the slot table ----------------------------------------------------------------------------------

export interface FieldSlot {
  /** First word of the field in a key. */
  readonly word: number;
  /** Words it takes: 1, 2 or 4. */
  readonly words: number;
  /** Significant bits of the value (13 for vlan_vid with OFPVID_PRESENT, 20 for mpls_label, ...). */
  readonly bits: number;
}

/**
 * Fields whose value is narrower than its OXM byte size (the spec's OXM table gives these widths).
 * This is a property of the field and belongs in openflow's OXM table; it lives here until it does.
 */
const NARROW_BITS: ReadonlyMap<string, number> = new Map([
  ['vlan_vid', 13],
  ['vlan_pcp', 3],
  ['ip_dscp', 6],
  ['ip_ecn', 2],
  ['ipv6_flabel', 20],
  ['mpls_label', 20],
  ['mpls_tc', 3],
  ['mpls_bos', 1],
  ['ipv6_exthdr', 9],
]);

/** The basic fields in field-number order: the key's layout order and decompileMatch's output order. */
const FIELDS: readonly OxmFieldDef[] = [...OXM_BASIC].sort((a, b) => a.field - b.field);

function wordsOf(d: OxmFieldDef): number {
  if (d.kind === 'ipv6' || d.size > 8) return 4;
  return d.size > 4 ? 2 : 1;
}

function buildSlots(): { slots: Map<string, FieldSlot>; total: number } {
  const slots = new Map<string, FieldSlot>();
  let word = 0;
  for (const d of FIELDS) {
    const words = wordsOf(d);
    slots.set(d.name, Object.freeze({ word, words, bits: NARROW_BITS.get(d.name) ?? d.size * 8 }));
    word += words;
  }
  return { slots, total: word };
}

const BUILT = buildSlots();

/** Where each OpenFlow-basic field lives in a flow key. */
export const FIELD_SLOTS: ReadonlyMap<string, FieldSlot> = BUILT.slots;

/** Words in a flow key (and in each half of a compiled match). */
export const KEY_WORDS: number = BUILT.total;

function slotOf(name: string): FieldSlot {
  const s = FIELD_SLOTS.get(name);
  if (s === undefined) throw new Error(`key.ts: the OXM table has no basic field ${name}`);
  return s;
}

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

// ---- keys ---------------------------------------------------------------------------------------------

export type FlowKey = Uint32Array;

export function newKey(): FlowKey {
  return new Uint32Array(KEY_WORDS);
}

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

/** High and low 32-bit words of an unsigned 64-bit value. */
export function splitU64(v: bigint): [hi: number, lo: number] {
  if (v === 0n) return [0, 0];
  return [Number(BigInt.asUintN(32, v >> 32n)), Number(BigInt.asUintN(32, v))];
}

export function joinU64(hi: number, lo: number): bigint {
  if (hi === 0) return BigInt(lo >>> 0);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
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
    off += hlen;
  }
  key[W.ipv6Exthdr] = flags;
  key[W.ipProto] = nh;
  h.ipProto = nh;
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

// ---- matching ------------------------------------------------------------------------------------------

/** Whether key matches a compiled match (value already masked). */
export function matches(key: FlowKey, value: FlowKey, mask: FlowKey): boolean {
  for (let i = 0; i < KEY_WORDS; i++) {
    if ((((key[i] as number) ^ (value[i] as number)) & (mask[i] as number)) !== 0) return false;
  }
  return true;
}

/** Whether a and b agree on every bit of mask. */
export function maskedEqual(a: FlowKey, b: FlowKey, mask: FlowKey): boolean {
  for (let i = 0; i < KEY_WORDS; i++) {
    if ((((a[i] as number) ^ (b[i] as number)) & (mask[i] as number)) !== 0) return false;
  }
  return true;
}

/** out = key & mask (out may be key). */
export function maskInto(key: FlowKey, mask: FlowKey, out: FlowKey): FlowKey {
  for (let i = 0; i < KEY_WORDS; i++) out[i] = (key[i] as number) & (mask[i] as number);
  return out;
}

// ---- values as words -----------------------------------------------------------------------------------

export interface ErrKind {
  readonly errType: number;
  readonly code: number;
}

const BAD_VALUE: ErrKind = { errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_VALUE };
const BAD_MASK: ErrKind = { errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_MASK };

function fail(kind: ErrKind, detail: string): never {
  throw new OFPError(kind.errType, kind.code, detail);
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** "01:23:45:67:89:ab" → [hi16, lo32], or undefined. One or two hex digits per group, as the codec takes. */
function parseMac(s: string): [number, number] | undefined {
  const bytes = s.split(':');
  if (bytes.length !== 6) return undefined;
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 6; i++) {
    const g = bytes[i] as string;
    if (g.length < 1 || g.length > 2) return undefined;
    let v = 0;
    for (let j = 0; j < g.length; j++) {
      const d = hexVal(g.charCodeAt(j));
      if (d < 0) return undefined;
      v = v * 16 + d;
    }
    if (i < 2) hi = (hi << 8) | v;
    else lo = ((lo << 8) | v) >>> 0;
  }
  return [hi, lo];
}

function parseIpv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let w = 0;
  for (const g of parts) {
    if (!/^[0-9]{1,3}$/.test(g)) return undefined;
    const v = Number(g);
    if (v > 255) return undefined;
    w = w * 256 + v;
  }
  return w;
}

/** IPv6 text (with "::" and a trailing dotted quad allowed) → 4 words, or undefined. */
function parseIpv6(s: string): [number, number, number, number] | undefined {
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  let head = s;
  const tail: number[] = [];
  if (s.includes('.', lastColon)) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push(v4 >>> 16, v4 & 0xffff);
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (text: string): number[] | undefined => {
    if (text === '') return [];
    const out: number[] = [];
    for (const g of text.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] as string);
  const right = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (left === undefined || right === undefined) return undefined;
  right.push(...tail);
  let groups: number[];
  if (halves.length === 2) {
    const n = left.length + right.length;
    if (n > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - n).fill(0), ...right];
  } else {
    groups = [...left, ...right];
    if (groups.length !== 8) return undefined;
  }
  const w = (i: number): number => (((groups[2 * i] as number) << 16) | (groups[2 * i + 1] as number)) >>> 0;
  return [w(0), w(1), w(2), w(3)];
}

function macText(hi: number, lo: number): string {
  const b = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return b.map((x) => (x < 16 ? '0' : '') + x.toString(16)).join(':');
}

function ipv4Text(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}

/** RFC 5952 text, as inet_ntop prints it (the longest run of two or more zero groups becomes "::"). */
function ipv6Text(words: ArrayLike<number>, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = words[at + i] as number;
    g.push(w >>> 16, w & 0xffff);
  }
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses end in a dotted quad.
  const w3 = words[at + 3] as number;
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff))) {
    return (bestLen === 5 ? '::ffff:' : '::') + ipv4Text(w3);
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) s += '::';
      continue;
    }
    if (s !== '' && !s.endsWith(':')) s += ':';
    s += (g[i] as number).toString(16);
  }
  return s;
}

function wordsOfNumber(def: OxmFieldDef, v: OxmValue, kind: ErrKind, what: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffn) n = Number(v);
  else return fail(kind, `${def.name} ${what}: expected an unsigned integer, got ${String(v)}`);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) fail(kind, `${def.name} ${what}: ${n} is not an unsigned 32-bit integer`);
  return n >>> 0;
}

/**
 * Writes a field's value (or mask) in slot form at out[at...]; throws OFPError(kind) when the value is
 * not of the field's kind or does not fit its byte size. Bit-width checks are the caller's.
 */
function putValue(def: OxmFieldDef, v: OxmValue, out: Uint32Array, at: number, kind: ErrKind, what: string): void {
  switch (def.kind) {
    case 'uint':
      if (def.size === 8) {
        let x: bigint;
        if (typeof v === 'bigint') x = v;
        else if (typeof v === 'number' && Number.isSafeInteger(v)) x = BigInt(v);
        else return fail(kind, `${def.name} ${what}: expected an unsigned 64-bit integer, got ${String(v)}`);
        if (x < 0n || x > 0xffffffffffffffffn) fail(kind, `${def.name} ${what}: ${x} is out of range for 64 bits`);
        const [hi, lo] = splitU64(x);
        out[at] = hi;
        out[at + 1] = lo;
        return;
      }
      {
        const n = wordsOfNumber(def, v, kind, what);
        if (def.size < 4 && n >= 2 ** (def.size * 8)) fail(kind, `${def.name} ${what}: ${n} does not fit ${def.size * 8} bits`);
        out[at] = n;
      }
      return;
    case 'mac': {
      const m = typeof v === 'string' ? parseMac(v) : undefined;
      if (m === undefined) return fail(kind, `${def.name} ${what}: expected a MAC address, got ${String(v)}`);
      out[at] = m[0];
      out[at + 1] = m[1];
      return;
    }
    case 'ipv4': {
      const a = typeof v === 'string' ? parseIpv4(v) : undefined;
      if (a === undefined) return fail(kind, `${def.name} ${what}: expected an IPv4 address, got ${String(v)}`);
      out[at] = a;
      return;
    }
    case 'ipv6': {
      const a = typeof v === 'string' ? parseIpv6(v) : undefined;
      if (a === undefined) return fail(kind, `${def.name} ${what}: expected an IPv6 address, got ${String(v)}`);
      out.set(a, at);
      return;
    }
    case 'raw':
      return fail(kind, `${def.name} ${what}: raw values are not supported`);
  }
}

/** The all-ones mask of each slot, within its bit width. */
const FULL: ReadonlyMap<string, Uint32Array> = new Map(
  FIELDS.map((d) => {
    const s = slotOf(d.name);
    const m = new Uint32Array(s.words);
    let bits = s.bits;
    for (let i = s.words - 1; i >= 0; i--) {
      const b = Math.min(bits, 32);
      m[i] = b === 32 ? 0xffffffff : (1 << b) - 1;
      bits -= b;
    }
    return [d.name, m];
  }),
);

function fullMaskOf(name: string): Uint32Array {
  const m = FULL.get(name);
  if (m === undefined) throw new Error(`key.ts: no mask for ${name}`);
  return m;
}

/**
 * A basic field's value as slot words (for set-field): throws OFPError(kind) when the value is not the
 * field's kind or exceeds its bit width (vlan_vid may carry OFPVID_PRESENT).
 */
export function fieldValueWords(field: string, value: OxmValue, kind: ErrKind = BAD_VALUE): Uint32Array {
  const def = BASIC_BY_NAME.get(field);
  if (def === undefined) return fail(kind, `${field} is not an OpenFlow-basic field`);
  const s = slotOf(field);
  const out = new Uint32Array(s.words);
  putValue(def, value, out, 0, kind, 'value');
  const full = fullMaskOf(field);
  for (let i = 0; i < s.words; i++) {
    if (((out[i] as number) & ~(full[i] as number)) !== 0) fail(kind, `${field} value ${String(value)} exceeds its ${s.bits} bits`);
  }
  return out;
}

// ---- compiling matches -----------------------------------------------------------------------------

const BASIC_BY_NAME: ReadonlyMap<string, OxmFieldDef> = new Map(FIELDS.map((d) => [d.name, d]));

export interface CompiledMatch {
  readonly value: FlowKey;
  readonly mask: FlowKey;
}

/**
 * Compiles a match to value/mask words, validating it as the spec asks of a switch (OFPET_BAD_MATCH):
 * - a field that is not OpenFlow-basic (experimenter, Nicira, unknown) → BAD_FIELD;
 * - the same field twice → DUP_FIELD;
 * - a mask on a field that is not maskable, or a mask that is not of the field's kind → BAD_MASK;
 * - a value not of the field's kind, or beyond its bit width (vlan_vid > 0x1fff, ip_dscp > 63,
 *   ipv6_flabel > 0xfffff, mpls_tc > 7, ...), or a vlan_vid with a VID but without OFPVID_PRESENT
 *   where the mask covers OFPVID_PRESENT (it could never match) → BAD_VALUE;
 * - a value with a 1-bit where its mask has a 0-bit → BAD_WILDCARDS. The spec lets a switch reject
 *   this with OFPBMC_BAD_WILDCARDS, and ofsoftswitch13 and OFTest's BadWildcard test do; OVS instead
 *   clears the bits. A rejected flow-mod tells the controller about its mistake, so we reject.
 * - a prerequisite missing, masked, or with a value other than those required → BAD_PREREQ (in any
 *   order in the match: the spec does not require prerequisites to come first).
 * Mask bits beyond a field's width (e.g. vlan_vid mask 0xffff) are dropped, as OVS does: they select
 * nothing that a frame could have.
 */
export function compileMatch(match: Match): CompiledMatch {
  const value = newKey();
  const mask = newKey();
  const seen = new Map<string, OxmTlv>();
  for (const t of match) {
    const def = BASIC_BY_NAME.get(t.field);
    if (def === undefined) fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_FIELD }, `unsupported match field ${t.field}`);
    if (seen.has(t.field)) fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.DUP_FIELD }, `${t.field} appears twice in the match`);
    seen.set(t.field, t);
    if (t.mask !== undefined && !def.maskable) fail(BAD_MASK, `${t.field} cannot be masked`);
    const s = slotOf(t.field);
    const full = fullMaskOf(t.field);
    putValue(def, t.value, value, s.word, BAD_VALUE, 'value');
    for (let i = 0; i < s.words; i++) {
      if (((value[s.word + i] as number) & ~(full[i] as number)) !== 0) {
        fail(BAD_VALUE, `${t.field} value ${String(t.value)} exceeds its ${s.bits} bits`);
      }
    }
    if (t.mask === undefined) {
      mask.set(full, s.word);
    } else {
      putValue(def, t.mask, mask, s.word, BAD_MASK, 'mask');
      for (let i = 0; i < s.words; i++) mask[s.word + i] = (mask[s.word + i] as number) & (full[i] as number);
    }
    for (let i = 0; i < s.words; i++) {
      if (((value[s.word + i] as number) & ~(mask[s.word + i] as number)) !== 0) {
        fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_WILDCARDS }, `${t.field} value has bits outside its mask`);
      }
    }
    if (t.field === 'vlan_vid') {
      const v = value[s.word] as number;
      const m = mask[s.word] as number;
      if ((m & OFPVID.PRESENT) !== 0 && (v & OFPVID.PRESENT) === 0 && (v & 0x0fff) !== 0) {
        fail(BAD_VALUE, `vlan_vid ${v} names a VID without OFPVID_PRESENT`);
      }
    }
  }
  for (const t of match) checkPrereq(t.field, seen, value, mask);
  return { value, mask };
}

function checkPrereq(field: string, seen: ReadonlyMap<string, OxmTlv>, value: FlowKey, mask: FlowKey): void {
  const def = BASIC_BY_NAME.get(field);
  const pre = def?.prereq;
  if (pre === undefined) return;
  const bad = (why: string): never =>
    fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_PREREQ }, `${field} needs ${pre.field}${why}`);
  if (!seen.has(pre.field)) bad(pre.values ? ` = ${pre.values.map((v) => `0x${v.toString(16)}`).join(' or ')}` : '');
  const s = slotOf(pre.field);
  const v = value[s.word] as number;
  const m = mask[s.word] as number;
  if (pre.present) {
    if ((v & m & OFPVID.PRESENT) === 0) bad(' with OFPVID_PRESENT');
    return;
  }
  if (pre.values) {
    // The fields named with values (eth_type, ip_proto, icmpv6_type) cannot be masked today, so this
    // holds already; it guards the rule should the table ever make one maskable.
    if (m !== (fullMaskOf(pre.field)[0] as number)) bad(' matched exactly');
    if (!pre.values.includes(v)) bad(` = ${pre.values.join(' or ')}, not ${v}`);
  }
}

function valueOf(def: OxmFieldDef, words: Uint32Array, at: number): OxmValue {
  switch (def.kind) {
    case 'mac':
      return macText(words[at] as number, words[at + 1] as number);
    case 'ipv4':
      return ipv4Text(words[at] as number);
    case 'ipv6':
      return ipv6Text(words, at);
    default:
      return def.size === 8 ? joinU64(words[at] as number, words[at + 1] as number) : (words[at] as number);
  }
}

/**
 * The Match a compiled value/mask stands for, fields in the spec's field-number order; a field whose mask
 * is all ones is shown without a mask, one whose mask is all zeros is left out.
 */
export function decompileMatch(value: FlowKey, mask: FlowKey): Match {
  const out: OxmTlv[] = [];
  for (const def of FIELDS) {
    const s = slotOf(def.name);
    const full = fullMaskOf(def.name);
    let any = false;
    let exact = true;
    for (let i = 0; i < s.words; i++) {
      const m = mask[s.word + i] as number;
      if (m !== 0) any = true;
      if (m !== (full[i] as number)) exact = false;
    }
    if (!any) continue;
    const v = valueOf(def, value, s.word);
    out.push(exact ? { field: def.name, value: v } : { field: def.name, value: v, mask: valueOf(def, mask, s.word) });
  }
  return out;
}
