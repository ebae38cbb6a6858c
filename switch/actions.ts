/**
 * OpenFlow 1.3 actions on a packet, and the action set.
 *
 * applyAction(pkt, action) carries out every action that changes the packet: set-field for every
 * header field a set-field may set, push/pop of VLAN tags, MPLS labels and PBB I-TAGs, the TTL actions.
 * Output, group and set-queue are the pipeline's to carry out: applyAction returns them as they are (the
 * result's `kind` is the action's, its port/max_len, group_id or queue_id are the action's fields).
 * An action that does not apply to the packet (a field the packet lacks, pop_vlan on an untagged frame)
 * leaves it unchanged and returns SKIPPED. dec_nw_ttl and dec_mpls_ttl on a TTL of 0 or 1 leave the
 * packet unchanged and return INVALID_TTL: the pipeline then sends it to the controller with
 * OFPR_INVALID_TTL (when the asynchronous configuration asks for it) or drops it, and processes it no
 * further.
 *
 * Checksums stay right: the IPv4 header checksum and the TCP, UDP, ICMPv4 and ICMPv6 checksums are
 * updated incrementally (RFC 1624, HC' = ~(~HC + ~m + m')); a UDP/IPv4 checksum of 0 (none) stays 0 and
 * a computed 0 is sent as 0xffff; SCTP's CRC32c is recomputed with the packet's error, if any, kept.
 * When the packet's virtio-net header says the transport checksum is left to the device
 * (NEEDS_CSUM at this transport header), the field holds the pseudo-header sum only: address changes
 * update it as a plain (not complemented) sum, and changes to the transport header leave it alone.
 * Not covered: the pseudo-header of an IPv6 packet with a routing header uses the final destination,
 * which ipv6_dst set-field does not look for; L4 checksums of IP fragments (the checksum is in the
 * first fragment and covers the whole datagram: ports of a first fragment are updated, addresses of a
 * later fragment leave its L4 bytes alone).
 *
 * Set-field values are parsed once per action object (a WeakMap keyed by the action's OXM TLV), so
 * applying one costs a map lookup and the byte writes. validateAction() is the flow-mod / group-mod /
 * packet-out check of an action list (OFPET_BAD_ACTION codes), checkSetFieldPrereqs() the flow-mod check
 * of set-field prerequisites against the match and the actions before (MATCH_INCONSISTENT); applyAction
 * itself never throws.
 *
 * The action set (spec 5.10): at most one action of each type and one set-field per field;
 * write-actions adds or replaces, clear-actions empties, and actionSetOrder() lists it in the spec's
 * execution order: copy TTL inwards; pop (VLAN, then PBB, then MPLS: outermost first, the reverse of
 * the push order); push-MPLS, push-PBB, push-VLAN; copy TTL outwards; decrement TTL (MPLS, IP); set
 * (set_mpls_ttl, set_nw_ttl, then set-fields in field-number order); qos (set_queue); group; output
 * (left out when a group is present: the group takes precedence).
 *
 * May import: openflow/index.ts, switch/errors.ts, switch/key-extract.ts, switch/compiled-match.ts,
 * switch/pipeline-packet.ts.
 */
import {
  type Action,
  type ActionSetField,
  type Instruction,
  type Match,
  OFPBAC,
  OFPET,
  OFPIT,
  OFPVID,
  OFPXMC,
  OXM_BASIC,
  OXM_BY_NAME,
  type OxmFieldDef,
  type OxmTlv,
} from '../openflow/index.js';
import { OFPError } from './errors.js';
import { fieldValueWords } from './compiled-match.js';
import { ETH_TYPE, type HeaderOffsets, IPPROTO, ND } from './key-extract.js';
import type { Packet } from './pipeline-packet.js';

export type OutputAction = Extract<Action, { readonly kind: 'OFPActionOutput' }>;
export type GroupAction = Extract<Action, { readonly kind: 'OFPActionGroup' }>;
export type SetQueueAction = Extract<Action, { readonly kind: 'OFPActionSetQueue' }>;

export interface AppliedResult {
  readonly kind: 'applied';
}
export interface SkippedResult {
  readonly kind: 'skipped';
}
export interface InvalidTtlResult {
  readonly kind: 'invalid_ttl';
}
export interface UnsupportedResult {
  readonly kind: 'unsupported';
}

/** What applyAction did, or (output, group, set-queue) what the pipeline is to do. Never allocated. */
export type ActionResult = AppliedResult | SkippedResult | InvalidTtlResult | UnsupportedResult | OutputAction | GroupAction | SetQueueAction;

export const APPLIED: AppliedResult = Object.freeze({ kind: 'applied' });
export const SKIPPED: SkippedResult = Object.freeze({ kind: 'skipped' });
export const INVALID_TTL: InvalidTtlResult = Object.freeze({ kind: 'invalid_ttl' });
/** Experimenter actions: none is supported (validateAction rejects them). */
export const UNSUPPORTED: UnsupportedResult = Object.freeze({ kind: 'unsupported' });

// ---- checksums ---------------------------------------------------------------------------------------

function fold(s: number): number {
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Sum of the big-endian 16-bit words of b[off, off + n) (n even), not folded. */
function sumWords(b: Buffer, off: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i += 2) s += ((b[off + i] as number) << 8) | (b[off + i + 1] as number);
  return s;
}

/** The one's-complement change from words summing to `before` to words summing to `after`: ~m + m'. */
function delta(before: number, after: number): number {
  return fold((~fold(before) & 0xffff) + fold(after));
}

/** Updates a complemented checksum field at `at` by d (RFC 1624 eqn. 3). */
function patchCsum(b: Buffer, at: number, d: number): void {
  const hc = b.readUInt16BE(at);
  b.writeUInt16BE(~fold((~hc & 0xffff) + d) & 0xffff, at);
}

/** Updates a field holding a plain (uncomplemented) sum, as a partial checksum's pseudo-header sum. */
function patchSum(b: Buffer, at: number, d: number): void {
  b.writeUInt16BE(fold(b.readUInt16BE(at) + d), at);
}

/** Offset of the transport checksum within the L4 header, or -1 (SCTP has a CRC, others none). */
function l4CsumRel(proto: number): number {
  switch (proto) {
    case IPPROTO.TCP:
      return 16;
    case IPPROTO.UDP:
      return 6;
    case IPPROTO.ICMP:
    case IPPROTO.ICMPV6:
      return 2;
    default:
      return -1;
  }
}

function patchL4(b: Buffer, h: HeaderOffsets, at: number, d: number): void {
  if (h.ipProto === IPPROTO.UDP) {
    if (b.readUInt16BE(at) === 0 && h.ipVersion === 4) return; // no checksum
    patchCsum(b, at, d);
    if (b.readUInt16BE(at) === 0) b.writeUInt16BE(0xffff, at);
    return;
  }
  patchCsum(b, at, d);
}

/** The pseudo-header changed by d (an address): TCP, UDP and ICMPv6 checksums follow. */
function fixL4Pseudo(pkt: Packet, b: Buffer, h: HeaderOffsets, d: number): void {
  if (h.l4Off < 0 || h.ipProto === IPPROTO.ICMP) return;
  const rel = l4CsumRel(h.ipProto);
  if (rel < 0 || h.l4Off + rel + 2 > h.l3End) return;
  if (pkt.partialCsumAt(h.l4Off)) patchSum(b, h.l4Off + rel, d);
  else patchL4(b, h, h.l4Off + rel, d);
}

/** Bytes covered by the transport checksum changed by d (ports, ICMP type, ND fields). */
function fixL4Content(pkt: Packet, b: Buffer, h: HeaderOffsets, d: number): void {
  const rel = l4CsumRel(h.ipProto);
  if (h.l4Off < 0 || rel < 0 || h.l4Off + rel + 2 > h.l3End) return;
  if (pkt.partialCsumAt(h.l4Off)) return; // the device sums the transport header itself
  patchL4(b, h, h.l4Off + rel, d);
}

const CRC32C_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32c (Castagnoli) of b[start, end), as SCTP computes it. */
export function crc32c(b: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = (CRC32C_TABLE[(c ^ (b[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- field writers ------------------------------------------------------------------------------------

function putMac(b: Buffer, off: number, w: Uint32Array): void {
  const hi = w[0] as number;
  b[off] = hi >>> 8;
  b[off + 1] = hi & 0xff;
  b.writeUInt32BE(w[1] as number, off + 2);
}

function putWords(b: Buffer, off: number, w: Uint32Array): void {
  for (let i = 0; i < w.length; i++) b.writeUInt32BE(w[i] as number, off + 4 * i);
}

/** Writes an IPv4 TTL keeping the header checksum right, or an IPv6 hop limit. */
function writeTtl(b: Buffer, ip: number, ttl: number): void {
  if ((b[ip] as number) >>> 4 === 4) {
    const before = sumWords(b, ip + 8, 2);
    b[ip + 8] = ttl;
    patchCsum(b, ip + 10, delta(before, sumWords(b, ip + 8, 2)));
  } else {
    b[ip + 7] = ttl;
  }
}

/** Offset of the TTL / hop limit of a plausible IP header at ip, or -1. */
function ttlOffset(b: Buffer, ip: number, end: number): number {
  if (ip + 20 > end) return -1;
  const v = (b[ip] as number) >>> 4;
  if (v === 4 && ((b[ip] as number) & 15) >= 5) return ip + 8;
  if (v === 6 && ip + 40 <= end) return ip + 7;
  return -1;
}

type SetFn = (pkt: Packet, h: HeaderOffsets, w: Uint32Array) => boolean;

function setEthAddr(off: number): SetFn {
  return (pkt, _h, w) => {
    if (pkt.data.length < off + 6) return false;
    putMac(pkt.writable(), off, w);
    pkt.fieldsChanged();
    return true;
  };
}

const setEthType: SetFn = (pkt, h, w) => {
  if (h.typeOff < 0 || h.ethType === ETH_TYPE.NOT_ETH_TYPE) return false;
  pkt.writable().writeUInt16BE(w[0] as number, h.typeOff);
  pkt.layoutChanged();
  return true;
};

/** Replaces the bits `mask` of the outermost VLAN TCI by v. */
function setTci(mask: number, shift: number, width: number): SetFn {
  return (pkt, h, w) => {
    if (h.vlanOff < 0) return false;
    const b = pkt.writable();
    const at = h.vlanOff + 2;
    const v = ((w[0] as number) & ((1 << width) - 1)) << shift;
    b.writeUInt16BE((b.readUInt16BE(at) & ~mask & 0xffff) | v, at);
    pkt.fieldsChanged();
    return true;
  };
}

/** Replaces bits of the IPv4 TOS / IPv6 traffic class: mask and v within the 8-bit class. */
function setTrafficClass(mask: number, shift: number): SetFn {
  return (pkt, h, w) => {
    const v = ((w[0] as number) << shift) & mask;
    if (h.ipVersion === 4) {
      const b = pkt.writable();
      const l3 = h.l3Off;
      const before = sumWords(b, l3, 2);
      b[l3 + 1] = ((b[l3 + 1] as number) & ~mask) | v;
      patchCsum(b, l3 + 10, delta(before, sumWords(b, l3, 2)));
    } else if (h.ipVersion === 6) {
      const b = pkt.writable();
      const l3 = h.l3Off;
      const w0 = b.readUInt32BE(l3);
      const tc = (((w0 >>> 20) & 0xff) & ~mask) | v;
      b.writeUInt32BE(((w0 & 0xf00fffff) | (tc << 20)) >>> 0, l3);
    } else {
      return false;
    }
    pkt.fieldsChanged();
    return true;
  };
}

function setIpv4Addr(rel: number): SetFn {
  return (pkt, h, w) => {
    if (h.ipVersion !== 4) return false;
    const b = pkt.writable();
    const at = h.l3Off + rel;
    const before = sumWords(b, at, 4);
    b.writeUInt32BE(w[0] as number, at);
    const d = delta(before, sumWords(b, at, 4));
    patchCsum(b, h.l3Off + 10, d);
    fixL4Pseudo(pkt, b, h, d);
    pkt.fieldsChanged();
    return true;
  };
}

function setIpv6Addr(rel: number): SetFn {
  return (pkt, h, w) => {
    if (h.ipVersion !== 6) return false;
    const b = pkt.writable();
    const at = h.l3Off + rel;
    const before = sumWords(b, at, 16);
    putWords(b, at, w);
    fixL4Pseudo(pkt, b, h, delta(before, sumWords(b, at, 16)));
    pkt.fieldsChanged();
    return true;
  };
}

/**
 * ip_proto: the IPv4 protocol field (header checksum kept right), or the IPv6 next-header field that names
 * the upper-layer protocol, that of the last extension header when there are any (the field the flow key
 * reports as ip_proto, so that the packet matches ip_proto=v afterwards). The transport bytes are left as
 * they are: they were made for the old protocol, whose checksum (and pseudo-header) the new protocol need
 * not share. Headers are found anew, as the protocol decides how the transport header reads.
 */
const setIpProto: SetFn = (pkt, h, w) => {
  if (h.ipVersion === 0 || h.protoOff < 0) return false;
  const b = pkt.writable();
  if (h.ipVersion === 4) {
    const before = sumWords(b, h.l3Off + 8, 2);
    b[h.protoOff] = w[0] as number;
    patchCsum(b, h.l3Off + 10, delta(before, sumWords(b, h.l3Off + 8, 2)));
  } else {
    b[h.protoOff] = w[0] as number;
  }
  pkt.layoutChanged();
  return true;
};

const setFlabel: SetFn = (pkt, h, w) => {
  if (h.ipVersion !== 6) return false;
  const b = pkt.writable();
  const w0 = b.readUInt32BE(h.l3Off);
  b.writeUInt32BE(((w0 & 0xfff00000) | ((w[0] as number) & 0xfffff)) >>> 0, h.l3Off);
  pkt.fieldsChanged();
  return true;
};

/** TCP/UDP ports: 16 bits at rel in the transport header, with its checksum. */
function setPort(proto: number, rel: number): SetFn {
  return (pkt, h, w) => {
    if (h.ipProto !== proto || h.l4Off < 0 || h.l4Off + 4 > h.l3End) return false;
    const b = pkt.writable();
    const at = h.l4Off + rel;
    const before = b.readUInt16BE(at);
    b.writeUInt16BE(w[0] as number, at);
    fixL4Content(pkt, b, h, delta(before, w[0] as number));
    pkt.fieldsChanged();
    return true;
  };
}

/**
 * SCTP ports. The CRC32c is computed over the whole SCTP packet (common header and every chunk, to the
 * end of the IP datagram) before and after the change, and the stored value becomes stored ^ before ^
 * after: a right CRC comes out right, a wrong one (0 included) comes out wrong by the same error, so a
 * receiver still drops what was corrupted before the switch. OVS (lib/packets.c) and Linux's openvswitch
 * module do the same. Not recomputed (the port alone is written): the first fragment of a datagram (the
 * CRC covers bytes not here) and a CRC left to the device by the offload header.
 */
function setSctpPort(rel: number): SetFn {
  return (pkt, h, w) => {
    if (h.ipProto !== IPPROTO.SCTP || h.l4Off < 0 || h.l4Off + 4 > h.l3End) return false;
    const b = pkt.writable();
    const l4 = h.l4Off;
    const hasCrc = l4 + 12 <= h.l3End && h.frag === 0 && !pkt.partialCsumAt(l4);
    if (!hasCrc) {
      b.writeUInt16BE(w[0] as number, l4 + rel);
    } else {
      const stored = b.readUInt32LE(l4 + 8);
      b.writeUInt32LE(0, l4 + 8);
      const oldCrc = crc32c(b, l4, h.l3End);
      b.writeUInt16BE(w[0] as number, l4 + rel);
      const newCrc = crc32c(b, l4, h.l3End);
      b.writeUInt32LE((stored ^ oldCrc ^ newCrc) >>> 0, l4 + 8);
    }
    pkt.fieldsChanged();
    return true;
  };
}

/** ICMP/ICMPv6 type (rel 0) or code (rel 1). An ICMPv6 type decides how ND options read: re-parse. */
function setIcmpByte(proto: number, rel: number): SetFn {
  return (pkt, h, w) => {
    if (h.ipProto !== proto || h.l4Off < 0 || h.l4Off + 4 > h.l3End) return false;
    const b = pkt.writable();
    const l4 = h.l4Off;
    const before = sumWords(b, l4, 2);
    b[l4 + rel] = w[0] as number;
    fixL4Content(pkt, b, h, delta(before, sumWords(b, l4, 2)));
    if (proto === IPPROTO.ICMPV6) pkt.layoutChanged();
    else pkt.fieldsChanged();
    return true;
  };
}

function isArp(h: HeaderOffsets): boolean {
  return h.ethType === ETH_TYPE.ARP && h.l3Off >= 0;
}

function setArp(rel: number, kind: 'u16' | 'u32' | 'mac'): SetFn {
  return (pkt, h, w) => {
    if (!isArp(h)) return false;
    const b = pkt.writable();
    const at = h.l3Off + rel;
    if (kind === 'u16') b.writeUInt16BE(w[0] as number, at);
    else if (kind === 'u32') b.writeUInt32BE(w[0] as number, at);
    else putMac(b, at, w);
    pkt.fieldsChanged();
    return true;
  };
}

function ndType(b: Buffer, h: HeaderOffsets): number {
  if (h.ipProto !== IPPROTO.ICMPV6 || h.l4Off < 0 || h.l4Off + 24 > h.l3End) return -1;
  return b[h.l4Off + 1] === 0 ? (b[h.l4Off] as number) : -1;
}

const setNdTarget: SetFn = (pkt, h, w) => {
  const t = ndType(pkt.data, h);
  if (t !== ND.SOLICIT && t !== ND.ADVERT) return false;
  const b = pkt.writable();
  const at = h.l4Off + 8;
  const before = sumWords(b, at, 16);
  putWords(b, at, w);
  fixL4Content(pkt, b, h, delta(before, sumWords(b, at, 16)));
  pkt.fieldsChanged();
  return true;
};

/** The SLL option's address of a solicitation or the TLL option's of an advertisement, when present. */
function setNdLl(type: number): SetFn {
  return (pkt, h, w) => {
    if (ndType(pkt.data, h) !== type || h.ndLlOff < 0) return false;
    const b = pkt.writable();
    const before = sumWords(b, h.ndLlOff, 6);
    putMac(b, h.ndLlOff, w);
    fixL4Content(pkt, b, h, delta(before, sumWords(b, h.ndLlOff, 6)));
    pkt.fieldsChanged();
    return true;
  };
}

/** Bits of the top MPLS label stack entry (label 31..12, TC 11..9, BoS 8, TTL 7..0). */
function setLse(mask: number, shift: number): SetFn {
  return (pkt, h, w) => {
    if (h.mplsOff < 0) return false;
    const b = pkt.writable();
    const lse = b.readUInt32BE(h.mplsOff);
    b.writeUInt32BE(((lse & ~mask) | (((w[0] as number) << shift) & mask)) >>> 0, h.mplsOff);
    pkt.fieldsChanged();
    return true;
  };
}

const setIsid: SetFn = (pkt, h, w) => {
  if (h.pbbOff < 0) return false;
  const b = pkt.writable();
  const itag = b.readUInt32BE(h.pbbOff);
  b.writeUInt32BE(((itag & 0xff000000) | ((w[0] as number) & 0xffffff)) >>> 0, h.pbbOff);
  pkt.fieldsChanged();
  return true;
};

const setTunnelId: SetFn = (pkt, _h, w) => {
  pkt.setTunnelWords(w[0] as number, w[1] as number);
  return true;
};

/**
 * Set-field writers by field. Not here, so not settable: in_port, in_phy_port and metadata (the spec:
 * not header fields) and ipv6_exthdr (a pseudo-field). ip_proto is settable, as OpenFlow 1.3 allows,
 * although OVS refuses it (see setIpProto).
 */
const SETTERS: ReadonlyMap<string, SetFn> = new Map<string, SetFn>([
  ['eth_dst', setEthAddr(0)],
  ['eth_src', setEthAddr(6)],
  ['eth_type', setEthType],
  ['vlan_vid', setTci(0x0fff, 0, 12)],
  ['vlan_pcp', setTci(0xe000, 13, 3)],
  ['ip_dscp', setTrafficClass(0xfc, 2)],
  ['ip_ecn', setTrafficClass(0x03, 0)],
  ['ip_proto', setIpProto],
  ['ipv4_src', setIpv4Addr(12)],
  ['ipv4_dst', setIpv4Addr(16)],
  ['tcp_src', setPort(IPPROTO.TCP, 0)],
  ['tcp_dst', setPort(IPPROTO.TCP, 2)],
  ['udp_src', setPort(IPPROTO.UDP, 0)],
  ['udp_dst', setPort(IPPROTO.UDP, 2)],
  ['sctp_src', setSctpPort(0)],
  ['sctp_dst', setSctpPort(2)],
  ['icmpv4_type', setIcmpByte(IPPROTO.ICMP, 0)],
  ['icmpv4_code', setIcmpByte(IPPROTO.ICMP, 1)],
  ['arp_op', setArp(6, 'u16')],
  ['arp_spa', setArp(14, 'u32')],
  ['arp_tpa', setArp(24, 'u32')],
  ['arp_sha', setArp(8, 'mac')],
  ['arp_tha', setArp(18, 'mac')],
  ['ipv6_src', setIpv6Addr(8)],
  ['ipv6_dst', setIpv6Addr(24)],
  ['ipv6_flabel', setFlabel],
  ['icmpv6_type', setIcmpByte(IPPROTO.ICMPV6, 0)],
  ['icmpv6_code', setIcmpByte(IPPROTO.ICMPV6, 1)],
  ['ipv6_nd_target', setNdTarget],
  ['ipv6_nd_sll', setNdLl(ND.SOLICIT)],
  ['ipv6_nd_tll', setNdLl(ND.ADVERT)],
  ['mpls_label', setLse(0xfffff000, 12)],
  ['mpls_tc', setLse(0x00000e00, 9)],
  ['mpls_bos', setLse(0x00000100, 8)],
  ['pbb_isid', setIsid],
  ['tunnel_id', setTunnelId],
]);

/** The fields a set-field action may set. */
export const SETTABLE_FIELDS: ReadonlySet<string> = new Set(SETTERS.keys());

interface SetOp {
  readonly fn: SetFn;
  readonly words: Uint32Array;
}

/** Set-field actions parsed once; null for one that validateAction would have refused. */
const prepared = new WeakMap<OxmTlv, SetOp | null>();

function prepare(t: OxmTlv): SetOp | null {
  const known = prepared.get(t);
  if (known !== undefined) return known;
  let op: SetOp | null = null;
  const fn = SETTERS.get(t.field);
  if (fn !== undefined && t.mask === undefined) {
    // Flow-mod validation (validateAction) reports a bad value to the controller; at run time a value
    // that slipped through is an action that does not apply.
    try {
      op = { fn, words: fieldValueWords(t.field, t.value) };
    } catch (e) {
      if (!(e instanceof OFPError)) throw e;
    }
  }
  prepared.set(t, op);
  return op;
}

function setField(pkt: Packet, t: OxmTlv): ActionResult {
  const op = prepare(t);
  if (op === null) return SKIPPED;
  return op.fn(pkt, pkt.offsets(), op.words) ? APPLIED : SKIPPED;
}

// ---- push and pop --------------------------------------------------------------------------------------

/** A new outermost VLAN tag; VID and PCP copied from the tag it covers, else 0 (spec: push defaults). */
function pushVlan(pkt: Packet, ethertype: number): ActionResult {
  if (pkt.data.length < 14) return SKIPPED;
  const h = pkt.offsets();
  const tci = h.vlanOff >= 0 ? pkt.data.readUInt16BE(h.vlanOff + 2) & 0xefff : 0;
  const b = pkt.insertBytes(12, 4);
  b.writeUInt16BE(ethertype, 12);
  b.writeUInt16BE(tci, 14);
  return APPLIED;
}

function popVlan(pkt: Packet): ActionResult {
  const h = pkt.offsets();
  if (h.vlanOff < 0) return SKIPPED;
  pkt.removeBytes(h.vlanOff, 4);
  return APPLIED;
}

/**
 * A new top MPLS label after the Ethernet header and VLAN tags. Label, TC and TTL come from the label it
 * covers (bottom of stack cleared); on an IP packet the label and TC are 0, the TTL is the IP TTL and
 * bottom of stack is set; otherwise all 0 but bottom of stack.
 */
function pushMpls(pkt: Packet, ethertype: number): ActionResult {
  const h = pkt.offsets();
  if (h.typeOff < 0 || h.ethType === ETH_TYPE.NOT_ETH_TYPE || h.ethType === ETH_TYPE.PBB) return SKIPPED;
  const old = pkt.data;
  let lse: number;
  if (h.mplsOff >= 0) {
    lse = old.readUInt32BE(h.mplsOff) & ~0x100;
  } else {
    const ttl = h.ipVersion === 4 ? (old[h.l3Off + 8] as number) : h.ipVersion === 6 ? (old[h.l3Off + 7] as number) : 0;
    lse = 0x100 | ttl;
  }
  const at = h.typeOff + 2;
  const typeOff = h.typeOff;
  const b = pkt.insertBytes(at, 4);
  b.writeUInt16BE(ethertype, typeOff);
  b.writeUInt32BE(lse >>> 0, at);
  return APPLIED;
}

function popMpls(pkt: Packet, ethertype: number): ActionResult {
  const h = pkt.offsets();
  if (h.mplsOff < 0) return SKIPPED;
  const mplsOff = h.mplsOff;
  pkt.writable().writeUInt16BE(ethertype, h.typeOff);
  pkt.removeBytes(mplsOff, 4);
  return APPLIED;
}

/**
 * A PBB encapsulation: B-DA, B-SA (the frame's addresses), the I-TAG (I-PCP from the outer VLAN's PCP,
 * I-SID from an I-TAG already there, else 0), then the customer frame whole.
 */
function pushPbb(pkt: Packet, ethertype: number): ActionResult {
  if (pkt.data.length < 14) return SKIPPED;
  const h = pkt.offsets();
  const old = pkt.data;
  const isid = h.pbbOff >= 0 ? old.readUInt32BE(h.pbbOff) & 0xffffff : 0;
  const pcp = h.vlanOff >= 0 ? (old[h.vlanOff + 2] as number) >>> 5 : 0;
  const b = pkt.insertBytes(12, 18);
  b.writeUInt16BE(ethertype, 12);
  b.writeUInt32BE(((pcp << 29) | isid) >>> 0, 14);
  b.copy(b, 18, 0, 12);
  return APPLIED;
}

/** Removes the backbone header (addresses, any B-tag, the I-TAG): the customer frame remains. */
function popPbb(pkt: Packet): ActionResult {
  const h = pkt.offsets();
  if (h.pbbOff < 0 || h.pbbOff + 4 + 14 > pkt.data.length) return SKIPPED;
  pkt.removeBytes(0, h.pbbOff + 4);
  return APPLIED;
}

// ---- TTLs ------------------------------------------------------------------------------------------------

function setNwTtl(pkt: Packet, ttl: number): ActionResult {
  const h = pkt.offsets();
  if (h.ipVersion === 0) return SKIPPED;
  writeTtl(pkt.writable(), h.l3Off, ttl);
  return APPLIED;
}

function decNwTtl(pkt: Packet): ActionResult {
  const h = pkt.offsets();
  if (h.ipVersion === 0) return SKIPPED;
  const ttl = pkt.data[h.l3Off + (h.ipVersion === 4 ? 8 : 7)] as number;
  if (ttl <= 1) return INVALID_TTL;
  writeTtl(pkt.writable(), h.l3Off, ttl - 1);
  return APPLIED;
}

function setMplsTtl(pkt: Packet, ttl: number): ActionResult {
  const h = pkt.offsets();
  if (h.mplsOff < 0) return SKIPPED;
  pkt.writable()[h.mplsOff + 3] = ttl;
  return APPLIED;
}

function decMplsTtl(pkt: Packet): ActionResult {
  const h = pkt.offsets();
  if (h.mplsOff < 0) return SKIPPED;
  const ttl = pkt.data[h.mplsOff + 3] as number;
  if (ttl <= 1) return INVALID_TTL;
  pkt.writable()[h.mplsOff + 3] = ttl - 1;
  return APPLIED;
}

/**
 * The outermost and next-to-outermost headers with a TTL: MPLS over MPLS, MPLS over IP (at the bottom
 * of the stack; the IP version read from the first nibble, as MPLS does not say), IP in IP (protocol 4
 * or 41). Returns [outer TTL offset, inner header offset, inner TTL offset] through `out`, or false.
 */
function ttlPair(pkt: Packet, out: Int32Array): boolean {
  const h = pkt.offsets();
  const b = pkt.data;
  if (h.mplsOff >= 0) {
    const m = h.mplsOff;
    out[0] = m + 3;
    if ((b.readUInt32BE(m) & 0x100) === 0) {
      if (m + 8 > b.length) return false;
      out[1] = -1; // an MPLS label: no checksum
      out[2] = m + 7;
      return true;
    }
    const t = ttlOffset(b, m + 4, b.length);
    if (t < 0) return false;
    out[1] = m + 4;
    out[2] = t;
    return true;
  }
  if (h.ipVersion !== 0 && h.l4Off >= 0 && (h.ipProto === IPPROTO.IPIP || h.ipProto === IPPROTO.IPV6)) {
    const t = ttlOffset(b, h.l4Off, h.l3End);
    if (t < 0 || (b[h.l4Off] as number) >>> 4 !== (h.ipProto === IPPROTO.IPIP ? 4 : 6)) return false;
    out[0] = h.l3Off + (h.ipVersion === 4 ? 8 : 7);
    out[1] = h.l4Off;
    out[2] = t;
    return true;
  }
  return false;
}

const pair = new Int32Array(3);

/** copy_ttl_out: next-to-outermost TTL → outermost. */
function copyTtlOut(pkt: Packet): ActionResult {
  if (!ttlPair(pkt, pair)) return SKIPPED;
  const h = pkt.offsets();
  const b = pkt.writable();
  const ttl = b[pair[2] as number] as number;
  if (h.mplsOff >= 0) b[pair[0] as number] = ttl;
  else writeTtl(b, h.l3Off, ttl);
  return APPLIED;
}

/** copy_ttl_in: outermost TTL → next-to-outermost. */
function copyTtlIn(pkt: Packet): ActionResult {
  if (!ttlPair(pkt, pair)) return SKIPPED;
  const b = pkt.writable();
  const ttl = b[pair[0] as number] as number;
  const inner = pair[1] as number;
  if (inner < 0) b[pair[2] as number] = ttl;
  else writeTtl(b, inner, ttl);
  return APPLIED;
}

// ---- applying ----------------------------------------------------------------------------------------------

/** Carries out one action on pkt; output, group and set-queue are returned for the pipeline. */
export function applyAction(pkt: Packet, action: Action): ActionResult {
  switch (action.kind) {
    case 'OFPActionOutput':
    case 'OFPActionGroup':
    case 'OFPActionSetQueue':
      return action;
    case 'OFPActionSetField':
      return setField(pkt, action.field);
    case 'OFPActionPushVlan':
      return pushVlan(pkt, action.ethertype);
    case 'OFPActionPopVlan':
      return popVlan(pkt);
    case 'OFPActionPushMpls':
      return pushMpls(pkt, action.ethertype);
    case 'OFPActionPopMpls':
      return popMpls(pkt, action.ethertype);
    case 'OFPActionPushPbb':
      return pushPbb(pkt, action.ethertype);
    case 'OFPActionPopPbb':
      return popPbb(pkt);
    case 'OFPActionCopyTtlOut':
      return copyTtlOut(pkt);
    case 'OFPActionCopyTtlIn':
      return copyTtlIn(pkt);
    case 'OFPActionSetMplsTtl':
      return setMplsTtl(pkt, action.mpls_ttl);
    case 'OFPActionDecMplsTtl':
      return decMplsTtl(pkt);
    case 'OFPActionSetNwTtl':
      return setNwTtl(pkt, action.nw_ttl);
    case 'OFPActionDecNwTtl':
      return decNwTtl(pkt);
    default:
      return UNSUPPORTED; // experimenter (Nicira and unknown) actions
  }
}

// ---- validation ----------------------------------------------------------------------------------------------

function badAction(code: number, detail: string): never {
  throw new OFPError(OFPET.BAD_ACTION, code, detail);
}

/**
 * Checks an action as flow-mod, group-mod and packet-out processing must (OFPET_BAD_ACTION): set-field
 * of a field that cannot be set → BAD_SET_TYPE; with a mask (OpenFlow 1.3 has none) or a value out of
 * the field's range → BAD_SET_ARGUMENT; push_vlan other than 0x8100/0x88a8, push_mpls other than
 * 0x8847/0x8848, push_pbb other than 0x88e7 → BAD_ARGUMENT; experimenter actions → BAD_EXPERIMENTER
 * (unknown experimenter) or BAD_EXP_TYPE (Nicira's, none of which this switch runs). Ports, groups and
 * queues are the pipeline's to check.
 */
export function validateAction(action: Action): void {
  switch (action.kind) {
    case 'OFPActionSetField': {
      const t = action.field;
      const def = OXM_BY_NAME.get(t.field);
      if (def === undefined || def.oxmClass !== OFPXMC.OPENFLOW_BASIC || !SETTERS.has(t.field)) {
        badAction(OFPBAC.BAD_SET_TYPE, `set-field of ${t.field} is not supported`);
      }
      if (t.mask !== undefined) badAction(OFPBAC.BAD_SET_ARGUMENT, `set-field of ${t.field} has a mask`);
      fieldValueWords(t.field, t.value, { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_SET_ARGUMENT });
      return;
    }
    case 'OFPActionPushVlan':
      if (action.ethertype !== ETH_TYPE.VLAN && action.ethertype !== ETH_TYPE.QINQ) {
        badAction(OFPBAC.BAD_ARGUMENT, `push_vlan ethertype 0x${action.ethertype.toString(16)} is not 0x8100 or 0x88a8`);
      }
      return;
    case 'OFPActionPushMpls':
      if (action.ethertype !== ETH_TYPE.MPLS && action.ethertype !== ETH_TYPE.MPLS_MCAST) {
        badAction(OFPBAC.BAD_ARGUMENT, `push_mpls ethertype 0x${action.ethertype.toString(16)} is not 0x8847 or 0x8848`);
      }
      return;
    case 'OFPActionPushPbb':
      if (action.ethertype !== ETH_TYPE.PBB) {
        badAction(OFPBAC.BAD_ARGUMENT, `push_pbb ethertype 0x${action.ethertype.toString(16)} is not 0x88e7`);
      }
      return;
    case 'OFPActionExperimenterUnknown':
      badAction(OFPBAC.BAD_EXPERIMENTER, `experimenter 0x${action.experimenter.toString(16)} actions are not supported`);
      break;
    case 'OFPActionOutput':
    case 'OFPActionGroup':
    case 'OFPActionSetQueue':
    case 'OFPActionPopVlan':
    case 'OFPActionPopMpls':
    case 'OFPActionPopPbb':
    case 'OFPActionCopyTtlOut':
    case 'OFPActionCopyTtlIn':
    case 'OFPActionSetMplsTtl':
    case 'OFPActionDecMplsTtl':
    case 'OFPActionSetNwTtl':
    case 'OFPActionDecNwTtl':
      return;
    default:
      badAction(OFPBAC.BAD_EXP_TYPE, `Nicira action ${action.kind} is not supported`);
  }
}

// ---- the action set ----------------------------------------------------------------------------------------

/** Slots of the action set in execution order; set-fields sit at SET_FIELD_SLOT, ordered by field. */
const ORDER = [
  'OFPActionCopyTtlIn',
  'OFPActionPopVlan',
  'OFPActionPopPbb',
  'OFPActionPopMpls',
  'OFPActionPushMpls',
  'OFPActionPushPbb',
  'OFPActionPushVlan',
  'OFPActionCopyTtlOut',
  'OFPActionDecMplsTtl',
  'OFPActionDecNwTtl',
  'OFPActionSetMplsTtl',
  'OFPActionSetNwTtl',
  'OFPActionSetField',
  'OFPActionSetQueue',
  'OFPActionGroup',
  'OFPActionOutput',
] as const;

const SLOT_OF: ReadonlyMap<string, number> = new Map(ORDER.map((k, i) => [k, i]));
const SET_FIELD_SLOT = ORDER.indexOf('OFPActionSetField');
const GROUP_SLOT = ORDER.indexOf('OFPActionGroup');
const OUTPUT_SLOT = ORDER.indexOf('OFPActionOutput');
/** Basic OXM field numbers are 0..39 (7 bits leave room for more). */
const BASIC_FIELD_SLOTS = 128;

/**
 * The action set of a packet in the pipeline: one action per type, one set-field per field. Reused
 * across packets (clear()); ordered() fills an array it keeps, so executing the set allocates nothing.
 */
export class ActionSet {
  private readonly slots: (Action | undefined)[] = new Array<Action | undefined>(ORDER.length).fill(undefined);
  /** Set-fields of OpenFlow-basic fields, by field number. */
  private readonly fields: (ActionSetField | undefined)[] = new Array<ActionSetField | undefined>(BASIC_FIELD_SLOTS).fill(undefined);
  /** Set-fields of other fields, and experimenter actions (by kind): executed with the set-fields. */
  private readonly others = new Map<string, Action>();
  private nFields = 0;
  private count = 0;
  private readonly list: Action[] = [];

  /** Actions in the set. */
  get size(): number {
    return this.count;
  }

  /** The write-actions instruction: each action replaces the set's action of its type (set-field: field). */
  write(actions: readonly Action[]): void {
    for (const a of actions) this.add(a);
  }

  private add(a: Action): void {
    if (a.kind === 'OFPActionSetField') {
      const def = OXM_BY_NAME.get(a.field.field);
      if (def !== undefined && def.oxmClass === OFPXMC.OPENFLOW_BASIC && def.field < BASIC_FIELD_SLOTS) {
        if (this.fields[def.field] === undefined) {
          this.count++;
          this.nFields++;
        }
        this.fields[def.field] = a;
        return;
      }
      this.addOther(`set_field:${a.field.field}`, a);
      return;
    }
    const slot = SLOT_OF.get(a.kind);
    if (slot === undefined) {
      this.addOther(a.kind, a);
      return;
    }
    if (this.slots[slot] === undefined) this.count++;
    this.slots[slot] = a;
  }

  private addOther(key: string, a: Action): void {
    if (!this.others.has(key)) this.count++;
    this.others.set(key, a);
  }

  /** The clear-actions instruction. */
  clear(): void {
    if (this.count === 0) return;
    this.slots.fill(undefined);
    if (this.nFields > 0) this.fields.fill(undefined);
    this.others.clear();
    this.nFields = 0;
    this.count = 0;
  }

  copyFrom(o: ActionSet): void {
    this.clear();
    for (let i = 0; i < ORDER.length; i++) this.slots[i] = o.slots[i];
    if (o.nFields > 0) for (let i = 0; i < BASIC_FIELD_SLOTS; i++) this.fields[i] = o.fields[i];
    for (const [k, a] of o.others) this.others.set(k, a);
    this.nFields = o.nFields;
    this.count = o.count;
  }

  /**
   * The actions in execution order, output left out when a group is present. The array is this set's
   * own, valid until the next call; copy it to keep it.
   */
  ordered(): readonly Action[] {
    const out = this.list;
    out.length = 0;
    if (this.count === 0) return out;
    const hasGroup = this.slots[GROUP_SLOT] !== undefined;
    for (let i = 0; i < ORDER.length; i++) {
      if (i === SET_FIELD_SLOT) {
        if (this.nFields > 0) {
          for (const f of this.fields) if (f !== undefined) out.push(f);
        }
        for (const a of this.others.values()) out.push(a);
        continue;
      }
      if (i === OUTPUT_SLOT && hasGroup) continue;
      const a = this.slots[i];
      if (a !== undefined) out.push(a);
    }
    return out;
  }
}

/** The action set's actions in the spec's execution order (a new array). */
export function actionSetOrder(set: ActionSet): Action[] {
  return [...set.ordered()];
}

// ---- set-field prerequisites ---------------------------------------------------------------------------------

/**
 * What a flow's packets are known to carry at one point of its actions: the value of a field that the
 * match fixes without a mask or that an earlier action set (exact), or the bits a masked match fixes
 * (value & mask: for vlan_vid, OFPVID_PRESENT). Only integer fields are kept; no prerequisite names
 * another kind.
 */
interface KnownField {
  readonly value: number;
  readonly exact: boolean;
}
type Known = Map<string, KnownField>;

/** For each field, the fields whose prerequisite (in the OXM table) it is: they lose meaning when it changes. */
const DEPENDENTS: ReadonlyMap<string, readonly string[]> = (() => {
  const m = new Map<string, string[]>();
  for (const d of OXM_BASIC) {
    if (d.prereq === undefined) continue;
    const list = m.get(d.prereq.field);
    if (list === undefined) m.set(d.prereq.field, [d.name]);
    else list.push(d.name);
  }
  return m;
})();

/** Fields of the pipeline rather than of the frame's headers: pop_pbb leaves what is known of them. */
const PIPELINE_FIELDS: ReadonlySet<string> = new Set(['in_port', 'in_phy_port', 'metadata', 'tunnel_id']);

/**
 * set_field vlan_vid rewrites the VID of a tag, so it needs a tag: what vlan_pcp needs (the OXM table
 * gives vlan_vid itself no prerequisite, as a match on it is how a flow asks for a tag). OVS asks the same.
 */
const TAG_PREREQ: OxmFieldDef['prereq'] = OXM_BY_NAME.get('vlan_pcp')?.prereq;

function forgetDependents(known: Known, field: string): void {
  for (const d of DEPENDENTS.get(field) ?? []) {
    known.delete(d);
    forgetDependents(known, d);
  }
}

/** `field` now holds something unknown; what depended on it is unknown too. */
function forget(known: Known, field: string): void {
  known.delete(field);
  forgetDependents(known, field);
}

/** `field` now holds `value`; what depended on its old value is unknown. */
function learn(known: Known, field: string, value: number, exact: boolean): void {
  forgetDependents(known, field);
  known.set(field, { value, exact });
}

function knownFromMatch(match: Match): Known {
  const known: Known = new Map();
  for (const t of match) {
    if (typeof t.value !== 'number') continue;
    if (t.mask === undefined) known.set(t.field, { value: t.value, exact: true });
    else if (typeof t.mask === 'number') known.set(t.field, { value: t.value & t.mask, exact: false });
  }
  return known;
}

const hex = (v: number): string => `0x${v.toString(16)}`;

/**
 * What a set-field of `field` lacks in `known`, or undefined when it has all its prerequisites: the
 * table's chain, not only the first link (tcp_dst needs ip_proto = 6, which needs an IP eth_type).
 */
function missingPrereq(field: string, known: Known): string | undefined {
  let pre = field === 'vlan_vid' ? TAG_PREREQ : OXM_BY_NAME.get(field)?.prereq;
  while (pre !== undefined) {
    const k = known.get(pre.field);
    if (pre.present === true) {
      if (k === undefined || (k.value & OFPVID.PRESENT) === 0) return `${pre.field} with OFPVID_PRESENT (a VLAN tag)`;
    } else if (pre.values !== undefined) {
      if (k === undefined || !k.exact || !pre.values.includes(k.value)) return `${pre.field} = ${pre.values.map(hex).join(' or ')}`;
    } else if (k === undefined) {
      return pre.field;
    }
    pre = OXM_BY_NAME.get(pre.field)?.prereq;
  }
  return undefined;
}

/** What `a` does to the known fields of the packet it is applied to. */
function establish(known: Known, a: Action): void {
  switch (a.kind) {
    case 'OFPActionSetField': {
      const { field, value } = a.field;
      if (typeof value !== 'number') forget(known, field);
      else learn(known, field, field === 'vlan_vid' ? OFPVID.PRESENT | (value & 0x0fff) : value, true);
      return;
    }
    case 'OFPActionPushVlan':
      learn(known, 'vlan_vid', OFPVID.PRESENT, false); // a tag; its VID copied from the tag below or 0
      return;
    case 'OFPActionPopVlan':
      forget(known, 'vlan_vid'); // a second tag may be left, or none
      return;
    case 'OFPActionPushMpls':
    case 'OFPActionPopMpls':
      learn(known, 'eth_type', a.ethertype, true);
      return;
    case 'OFPActionPushPbb':
      learn(known, 'eth_type', a.ethertype, true);
      forget(known, 'vlan_vid'); // the tags belong to the customer frame now
      return;
    case 'OFPActionPopPbb':
      // the customer frame: its type and tags are not the backbone's
      for (const f of [...known.keys()]) if (!PIPELINE_FIELDS.has(f)) known.delete(f);
      return;
    default:
      return;
  }
}

function checkPrereqsInOrder(actions: readonly Action[], known: Known, where: string): void {
  for (const a of actions) {
    if (a.kind === 'OFPActionSetField') {
      const missing = missingPrereq(a.field.field, known);
      if (missing !== undefined) {
        badAction(OFPBAC.MATCH_INCONSISTENT, `${where}: set_field ${a.field.field} needs ${missing}, which neither the match nor an earlier action establishes`);
      }
    }
    establish(known, a);
  }
}

/**
 * Checks that every set-field of a flow-mod has its field's prerequisites (the OXM table's), from the
 * match or from the actions that run before it; OFPET_BAD_ACTION / OFPBAC_MATCH_INCONSISTENT otherwise,
 * which is OpenFlow 1.3's code for "Set-Field missing prerequisite" and what OVS answers. An action that
 * runs before: an earlier one in apply-actions (push_vlan gives set_field vlan_vid its tag, pop_mpls:0x0800
 * makes eth_type 0x0800, set_field ip_proto=6 allows tcp_dst); for write-actions, all of apply-actions
 * (which runs first) and the actions that come before it in the action set's execution order, as the set
 * runs them (so write-actions(set_field vlan_vid, push_vlan) is accepted: push_vlan runs first).
 *
 * Not checked: what earlier tables wrote into the action set (a flow is checked against its own match,
 * as in OVS), group buckets (a group has no match; OVS accepts them unchecked too) and packet-out (no
 * match either; OVS checks it against the packet's own headers). A set-field whose prerequisite is
 * absent from a packet at run time does not apply.
 */
export function checkSetFieldPrereqs(match: Match, instructions: readonly Instruction[]): void {
  const known = knownFromMatch(match);
  let written: readonly Action[] | undefined;
  for (const ins of instructions) {
    if (ins.kind !== 'OFPInstructionActions') continue;
    if (ins.type === OFPIT.APPLY_ACTIONS) checkPrereqsInOrder(ins.actions, known, 'apply-actions');
    else if (ins.type === OFPIT.WRITE_ACTIONS) written = ins.actions;
  }
  if (written === undefined) return;
  const set = new ActionSet();
  set.write(written);
  checkPrereqsInOrder(set.ordered(), known, 'write-actions');
}
