/**
 * OXM: the one table of match fields, and the codecs for OXM TLVs and ofp_match.
 *
 * OXM_FIELDS lists every field once (name as Ryu names it, class, field number, value size, value kind,
 * maskable, prerequisite). Every lookup map below is derived from it. The 40 OpenFlow-basic fields are
 * the spec's; the Nicira (NXM_0/NXM_1), packet-register and ONF experimenter fields are those Ryu knows,
 * so that OVS-made messages decode to Ryu's names. Anything else is kept raw and round-trips.
 */
import { NX_EXPERIMENTER_ID, OFPBMC, OFPET, OFPMT, OFPXMC, ONF_EXPERIMENTER_ID } from './consts.js';
import { OFPCodecError } from './errors.js';
import {
  type Json,
  asArray,
  b64,
  big,
  field as jsonField,
  ipv4FromText,
  ipv4ToText,
  ipv6FromText,
  ipv6ToText,
  jsonError,
  macFromText,
  macToText,
  str,
  toB64,
  uint,
  uint64,
  unwrap,
  writeIpv4,
  writeMac,
} from './json.js';
import type { Codec } from './struct.js';
import { type ErrorKind, Reader, align8, writeU64, zero } from './wire.js';

export type OxmValueKind = 'uint' | 'mac' | 'ipv4' | 'ipv6' | 'raw';
/** number for integers up to 32 bits, bigint above; text for addresses; base64 text for raw. */
export type OxmValue = number | bigint | string;

export interface OxmPrereq {
  readonly field: string;
  /** Allowed values; absent means "the field must be present" (vlan_pcp needs a VLAN). */
  readonly values?: readonly number[];
  /** For vlan_vid: OFPVID_PRESENT must be set. */
  readonly present?: true;
}

export interface OxmFieldDef {
  readonly name: string;
  readonly oxmClass: number;
  readonly field: number;
  /** Experimenter id for class 0xffff. */
  readonly experimenter?: number;
  /** EXT-256 style ONF experimenter fields carry a 16-bit exp_type after the experimenter id. */
  readonly expType?: number;
  /** Value size in bytes. */
  readonly size: number;
  readonly kind: OxmValueKind;
  readonly maskable: boolean;
  readonly prereq?: OxmPrereq;
}

const B = OFPXMC.OPENFLOW_BASIC;
const ETH_IP = { field: 'eth_type', values: [0x0800, 0x86dd] } as const;
const ETH_IPV4 = { field: 'eth_type', values: [0x0800] } as const;
const ETH_IPV6 = { field: 'eth_type', values: [0x86dd] } as const;
const ETH_ARP = { field: 'eth_type', values: [0x0806] } as const;
const ETH_MPLS = { field: 'eth_type', values: [0x8847, 0x8848] } as const;

type Row = readonly [name: string, field: number, size: number, kind: OxmValueKind, maskable: boolean, prereq?: OxmPrereq];

const BASIC: readonly Row[] = [
  ['in_port', 0, 4, 'uint', false],
  ['in_phy_port', 1, 4, 'uint', false, { field: 'in_port' }],
  ['metadata', 2, 8, 'uint', true],
  ['eth_dst', 3, 6, 'mac', true],
  ['eth_src', 4, 6, 'mac', true],
  ['eth_type', 5, 2, 'uint', false],
  ['vlan_vid', 6, 2, 'uint', true],
  ['vlan_pcp', 7, 1, 'uint', false, { field: 'vlan_vid', present: true }],
  ['ip_dscp', 8, 1, 'uint', false, ETH_IP],
  ['ip_ecn', 9, 1, 'uint', false, ETH_IP],
  ['ip_proto', 10, 1, 'uint', false, ETH_IP],
  ['ipv4_src', 11, 4, 'ipv4', true, ETH_IPV4],
  ['ipv4_dst', 12, 4, 'ipv4', true, ETH_IPV4],
  ['tcp_src', 13, 2, 'uint', false, { field: 'ip_proto', values: [6] }],
  ['tcp_dst', 14, 2, 'uint', false, { field: 'ip_proto', values: [6] }],
  ['udp_src', 15, 2, 'uint', false, { field: 'ip_proto', values: [17] }],
  ['udp_dst', 16, 2, 'uint', false, { field: 'ip_proto', values: [17] }],
  ['sctp_src', 17, 2, 'uint', false, { field: 'ip_proto', values: [132] }],
  ['sctp_dst', 18, 2, 'uint', false, { field: 'ip_proto', values: [132] }],
  ['icmpv4_type', 19, 1, 'uint', false, { field: 'ip_proto', values: [1] }],
  ['icmpv4_code', 20, 1, 'uint', false, { field: 'ip_proto', values: [1] }],
  ['arp_op', 21, 2, 'uint', false, ETH_ARP],
  ['arp_spa', 22, 4, 'ipv4', true, ETH_ARP],
  ['arp_tpa', 23, 4, 'ipv4', true, ETH_ARP],
  ['arp_sha', 24, 6, 'mac', true, ETH_ARP],
  ['arp_tha', 25, 6, 'mac', true, ETH_ARP],
  ['ipv6_src', 26, 16, 'ipv6', true, ETH_IPV6],
  ['ipv6_dst', 27, 16, 'ipv6', true, ETH_IPV6],
  ['ipv6_flabel', 28, 4, 'uint', true, ETH_IPV6],
  ['icmpv6_type', 29, 1, 'uint', false, { field: 'ip_proto', values: [58] }],
  ['icmpv6_code', 30, 1, 'uint', false, { field: 'ip_proto', values: [58] }],
  ['ipv6_nd_target', 31, 16, 'ipv6', false, { field: 'icmpv6_type', values: [135, 136] }],
  ['ipv6_nd_sll', 32, 6, 'mac', false, { field: 'icmpv6_type', values: [135] }],
  ['ipv6_nd_tll', 33, 6, 'mac', false, { field: 'icmpv6_type', values: [136] }],
  ['mpls_label', 34, 4, 'uint', false, ETH_MPLS],
  ['mpls_tc', 35, 1, 'uint', false, ETH_MPLS],
  ['mpls_bos', 36, 1, 'uint', false, ETH_MPLS],
  ['pbb_isid', 37, 3, 'uint', true, { field: 'eth_type', values: [0x88e7] }],
  ['tunnel_id', 38, 8, 'uint', true],
  ['ipv6_exthdr', 39, 2, 'uint', true, ETH_IPV6],
];

// Nicira extensible match (NXM_0 / NXM_1), as named by Ryu's nicira_ext.
const NXM0: readonly Row[] = [
  ['in_port_nxm', 0, 2, 'uint', false], ['eth_dst_nxm', 1, 6, 'mac', true], ['eth_src_nxm', 2, 6, 'mac', true],
  ['eth_type_nxm', 3, 2, 'uint', false], ['vlan_tci', 4, 2, 'uint', true], ['nw_tos', 5, 1, 'uint', false],
  ['ip_proto_nxm', 6, 1, 'uint', false], ['ipv4_src_nxm', 7, 4, 'ipv4', true], ['ipv4_dst_nxm', 8, 4, 'ipv4', true],
  ['tcp_src_nxm', 9, 2, 'uint', true], ['tcp_dst_nxm', 10, 2, 'uint', true], ['udp_src_nxm', 11, 2, 'uint', true],
  ['udp_dst_nxm', 12, 2, 'uint', true], ['icmpv4_type_nxm', 13, 1, 'uint', false], ['icmpv4_code_nxm', 14, 1, 'uint', false],
  ['arp_op_nxm', 15, 2, 'uint', false], ['arp_spa_nxm', 16, 4, 'ipv4', true], ['arp_tpa_nxm', 17, 4, 'ipv4', true],
];
const NXM1: readonly Row[] = [
  ...Array.from({ length: 16 }, (_, i): Row => [`reg${i}`, i, 4, 'uint', true]),
  ['tunnel_id_nxm', 16, 8, 'uint', true], ['arp_sha_nxm', 17, 6, 'mac', true], ['arp_tha_nxm', 18, 6, 'mac', true],
  ['ipv6_src_nxm', 19, 16, 'ipv6', true], ['ipv6_dst_nxm', 20, 16, 'ipv6', true], ['icmpv6_type_nxm', 21, 1, 'uint', false],
  ['icmpv6_code_nxm', 22, 1, 'uint', false], ['nd_target', 23, 16, 'ipv6', true], ['nd_sll', 24, 6, 'mac', true],
  ['nd_tll', 25, 6, 'mac', true], ['ip_frag', 26, 1, 'uint', true], ['ipv6_label', 27, 4, 'uint', true],
  ['ip_ecn_nxm', 28, 1, 'uint', false], ['nw_ttl', 29, 1, 'uint', false], ['mpls_ttl', 30, 1, 'uint', false],
  ['tun_ipv4_src', 31, 4, 'ipv4', true], ['tun_ipv4_dst', 32, 4, 'ipv4', true], ['pkt_mark', 33, 4, 'uint', true],
  ['tcp_flags_nxm', 34, 2, 'uint', true], ['_recirc_id', 36, 4, 'uint', false], ['conj_id', 37, 4, 'uint', false],
  ['tun_gbp_id', 38, 2, 'uint', true], ['tun_gbp_flags', 39, 1, 'uint', true], ['tun_flags', 104, 2, 'uint', true],
  ['ct_state', 105, 4, 'uint', true], ['ct_zone', 106, 2, 'uint', false], ['ct_mark', 107, 4, 'uint', true],
  ['ct_label', 108, 16, 'uint', true], ['tun_ipv6_src', 109, 16, 'ipv6', true], ['tun_ipv6_dst', 110, 16, 'ipv6', true],
  ...Array.from({ length: 8 }, (_, i): Row => [`xxreg${i}`, 111 + i, 16, 'uint', true]),
];

function rows(oxmClass: number, list: readonly Row[], extra: Partial<OxmFieldDef> = {}): OxmFieldDef[] {
  return list.map(([name, field, size, kind, maskable, prereq]) => ({
    name, oxmClass, field, size, kind, maskable, ...(prereq ? { prereq } : {}), ...extra,
  }));
}

/** Every OXM field this codec names. */
export const OXM_FIELDS: readonly OxmFieldDef[] = Object.freeze([
  ...rows(B, BASIC),
  { name: 'pbb_uca', oxmClass: OFPXMC.EXPERIMENTER, field: 0, experimenter: ONF_EXPERIMENTER_ID, expType: 2560, size: 1, kind: 'uint', maskable: false, prereq: { field: 'eth_type', values: [0x88e7] } },
  { name: 'tcp_flags', oxmClass: OFPXMC.EXPERIMENTER, field: 42, experimenter: ONF_EXPERIMENTER_ID, size: 2, kind: 'uint', maskable: true, prereq: { field: 'ip_proto', values: [6] } },
  { name: 'actset_output', oxmClass: OFPXMC.EXPERIMENTER, field: 43, experimenter: ONF_EXPERIMENTER_ID, size: 4, kind: 'uint', maskable: false },
  ...rows(OFPXMC.PACKET_REGS, Array.from({ length: 8 }, (_, i): Row => [`xreg${i}`, i, 8, 'uint', true])),
  ...rows(OFPXMC.NXM_0, NXM0),
  ...rows(OFPXMC.NXM_1, NXM1),
  { name: '_dp_hash', oxmClass: OFPXMC.EXPERIMENTER, field: 0, experimenter: NX_EXPERIMENTER_ID, size: 4, kind: 'uint', maskable: true },
]);

function numKey(oxmClass: number, field: number, experimenter?: number, expType?: number): string {
  if (oxmClass !== OFPXMC.EXPERIMENTER) return `${oxmClass}:${field}`;
  return expType !== undefined ? `x${experimenter}:t${expType}` : `x${experimenter}:${field}`;
}

export const OXM_BY_NAME: ReadonlyMap<string, OxmFieldDef> = new Map(OXM_FIELDS.map((d) => [d.name, d]));
/** Non-experimenter fields by the header's upper 23 bits (class << 7 | field): the decoder's fast path. */
const OXM_BY_TYPE: ReadonlyMap<number, OxmFieldDef> = new Map(
  OXM_FIELDS.filter((d) => d.oxmClass !== OFPXMC.EXPERIMENTER).map((d) => [(d.oxmClass << 7) | d.field, d]),
);
/** OpenFlow-basic fields by field number: the commonest case, without a hash lookup. */
const BASIC_BY_FIELD: readonly (OxmFieldDef | undefined)[] = Array.from({ length: 128 }, (_, i) => OXM_BY_TYPE.get((B << 7) | i));
const OXM_BY_NUM: ReadonlyMap<string, OxmFieldDef> = new Map(
  OXM_FIELDS.map((d) => [numKey(d.oxmClass, d.field, d.experimenter, d.expType), d]),
);

/** The 40 OpenFlow-basic fields, by field number. */
export const OXM_BASIC: readonly OxmFieldDef[] = OXM_FIELDS.filter((d) => d.oxmClass === B);

export interface OxmTlv {
  readonly field: string;
  readonly value: OxmValue;
  readonly mask?: OxmValue;
}

const MATCH_ERR: ErrorKind = { errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_LEN };
const BAD_FIELD: ErrorKind = { errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_FIELD };

/** How a field name that is not in the table is spelled (Ryu's `field_N`, and ours for experimenters). */
const UNKNOWN_RE = /^field_(\d+)$/;
const UNKNOWN_EXP_RE = /^experimenter_(\d+)_(\d+)$/;

interface Header {
  oxmClass: number;
  field: number;
  hasmask: boolean;
  experimenter?: number;
  expType?: number;
  def: OxmFieldDef | undefined;
  /** Name used in JSON/TS. */
  name: string;
  /** Bytes of value (and again of mask) after the header(s). */
  valueLen: number;
  /** Bytes of header including experimenter id / exp_type. */
  headerLen: number;
}

function parseHeader(r: Reader, payloadLenAvailable: boolean): Header {
  const start = r.pos;
  const h = r.u32('OXM header');
  const oxmClass = h >>> 16;
  const field = (h >>> 9) & 0x7f;
  const hasmask = ((h >>> 8) & 1) === 1;
  const length = h & 0xff;
  let headerLen = 4;
  let experimenter: number | undefined;
  let expType: number | undefined;
  let payload = length;
  if (oxmClass === OFPXMC.EXPERIMENTER) {
    experimenter = r.u32('OXM experimenter id');
    headerLen += 4;
    payload -= 4;
    // EXT-256 style: ONF field 0 followed by a 16-bit exp_type, for the fields the table knows so;
    // any other ONF field 0 stays raw (its bytes kept whole) so that it round-trips.
    if (experimenter === ONF_EXPERIMENTER_ID && field === 0 && r.remaining >= 2) {
      const t = r.buf.readUInt16BE(r.pos);
      if (OXM_BY_NUM.has(numKey(oxmClass, field, experimenter, t))) {
        expType = t;
        r.pos += 2;
        headerLen += 2;
        payload -= 2;
      }
    }
    if (payload < 0 && payloadLenAvailable) r.fail(MATCH_ERR, `OXM length ${length} shorter than its experimenter header`, start);
  }
  const def = OXM_BY_NUM.get(numKey(oxmClass, field, experimenter, expType));
  if (payloadLenAvailable && (payload <= 0 || (hasmask && payload % 2 !== 0))) {
    r.fail(MATCH_ERR, `OXM length ${length} is not valid${hasmask ? ' for a masked field' : ''}`, start);
  }
  const valueLen = hasmask ? payload / 2 : payload;
  if (payloadLenAvailable && def && valueLen !== def.size) {
    r.fail(MATCH_ERR, `OXM ${def.name} has a ${valueLen}-byte value, expected ${def.size}`, start);
  }
  let name: string;
  if (def) name = def.name;
  else if (oxmClass === OFPXMC.EXPERIMENTER) name = `experimenter_${experimenter}_${field}`;
  else name = `field_${(oxmClass << 7) | field}`;
  const hdr: Header = { oxmClass, field, hasmask, def, name, valueLen, headerLen };
  if (experimenter !== undefined) hdr.experimenter = experimenter;
  if (expType !== undefined) hdr.expType = expType;
  return hdr;
}

function readValue(r: Reader, kind: OxmValueKind, n: number): OxmValue {
  r.need(n, 'OXM value');
  const buf = r.buf;
  const p = r.pos;
  r.pos += n;
  switch (kind) {
    case 'mac':
      return macToText(buf, p);
    case 'ipv4':
      return ipv4ToText(buf, p);
    case 'ipv6':
      return ipv6ToText(buf, p);
    case 'raw':
      return toB64(buf.subarray(p, p + n));
    case 'uint':
      if (n === 1) return buf[p] as number;
      if (n === 2) return buf.readUInt16BE(p);
      if (n === 4) return buf.readUInt32BE(p);
      if (n === 8) return buf.readBigUInt64BE(p);
      if (n <= 4) return n === 0 ? 0 : buf.readUIntBE(p, n);
      return BigInt('0x' + buf.toString('hex', p, p + n));
  }
}

function writeValue(v: OxmValue, kind: OxmValueKind, n: number, buf: Buffer, off: number, path: string): number {
  switch (kind) {
    case 'mac':
      return writeMac(textOf(v, path), buf, off, path);
    case 'ipv4':
      return writeIpv4(textOf(v, path), buf, off, path);
    case 'ipv6':
      ipv6FromText(textOf(v, path), path).copy(buf, off);
      return off + 16;
    case 'raw': {
      const b = Buffer.from(textOf(v, path), 'base64');
      b.copy(buf, off);
      return off + b.length;
    }
    case 'uint':
      if (n === 1) return buf.writeUInt8(Number(v), off);
      if (n === 2) return buf.writeUInt16BE(Number(v), off);
      if (n === 4) return buf.writeUInt32BE(Number(v), off);
      if (n === 8) return writeU64(buf, typeof v === 'bigint' ? v : BigInt(v), off, path);
      if (n <= 4) return buf.writeUIntBE(Number(v), off, n);
      {
        let x = BigInt(v);
        for (let i = n - 1; i >= 0; i--) {
          buf[off + i] = Number(x & 0xffn);
          x >>= 8n;
        }
      }
      return off + n;
  }
}

function textOf(v: OxmValue, path: string): string {
  if (typeof v !== 'string') throw jsonError(path, `expected text, got ${typeof v}`);
  return v;
}

interface Resolved {
  oxmClass: number;
  field: number;
  experimenter: number | undefined;
  expType: number | undefined;
  kind: OxmValueKind;
  /** Value size; for raw fields, the decoded length. */
  size: number;
  /** Key paths for error messages, made once. */
  valuePath: string;
  maskPath: string;
}

function resolved(name: string, oxmClass: number, field: number, experimenter: number | undefined, expType: number | undefined, kind: OxmValueKind, size: number): Resolved {
  return { oxmClass, field, experimenter, expType, kind, size, valuePath: `${name}.value`, maskPath: `${name}.mask` };
}

/** Table fields resolved once, so encoding allocates nothing per TLV. */
const RESOLVED: ReadonlyMap<string, Resolved> = new Map(
  OXM_FIELDS.map((d) => [d.name, resolved(d.name, d.oxmClass, d.field, d.experimenter, d.expType, d.kind, d.size)]),
);

/** A field name: one of the table's, or a raw `field_N` / `experimenter_E_F` with rawLen bytes of value. */
function resolveName(name: string, path: string, rawLen: number): Resolved {
  const known = RESOLVED.get(name);
  if (known) return known;
  let m = UNKNOWN_RE.exec(name);
  if (m) return resolved(name, Number(m[1]) >>> 7, Number(m[1]) & 0x7f, undefined, undefined, 'raw', rawLen);
  m = UNKNOWN_EXP_RE.exec(name);
  if (m) return resolved(name, OFPXMC.EXPERIMENTER, Number(m[2]), Number(m[1]), undefined, 'raw', rawLen);
  throw new OFPCodecError(BAD_FIELD.errType, BAD_FIELD.code, `${path}: unknown OXM field ${JSON.stringify(name)}`);
}

function resolve(t: OxmTlv, path: string): Resolved {
  return RESOLVED.get(t.field) ?? resolveName(t.field, path, Buffer.byteLength(textOf(t.value, `${path}.value`), 'base64'));
}

function headerLenOf(res: Resolved): number {
  return 4 + (res.experimenter !== undefined ? 4 : 0) + (res.expType !== undefined ? 2 : 0);
}

/** One OXM TLV (also used by set-field actions). Unknown fields decode raw and round-trip. */
export const OxmTlvCodec: Codec<OxmTlv> = {
  cls: 'OXMTlv',
  size(t) {
    const res = resolve(t, 'OXMTlv');
    return headerLenOf(res) + res.size * (t.mask !== undefined ? 2 : 1);
  },
  write(t, buf, off) {
    const res = resolve(t, 'OXMTlv');
    const hasmask = t.mask !== undefined;
    const extra = headerLenOf(res) - 4;
    const length = extra + res.size * (hasmask ? 2 : 1);
    if (length > 255) throw jsonError(`OXMTlv ${t.field}`, `value too long (${length} bytes)`);
    off = buf.writeUInt32BE(((res.oxmClass << 16) | (res.field << 9) | (hasmask ? 0x100 : 0) | length) >>> 0, off);
    if (res.experimenter !== undefined) off = buf.writeUInt32BE(res.experimenter, off);
    if (res.expType !== undefined) off = buf.writeUInt16BE(res.expType, off);
    off = writeValue(t.value, res.kind, res.size, buf, off, res.valuePath);
    if (t.mask !== undefined) off = writeValue(t.mask, res.kind, res.size, buf, off, res.maskPath);
    return off;
  },
  read(r) {
    // Fast path: a known non-experimenter field with the right length.
    if (r.pos + 4 <= r.end) {
      const hw = r.buf.readUInt32BE(r.pos);
      const def = hw >>> 16 === B ? BASIC_BY_FIELD[(hw >>> 9) & 0x7f] : OXM_BY_TYPE.get(hw >>> 9);
      if (def !== undefined) {
        const hasmask = (hw & 0x100) !== 0;
        const n = def.size;
        if ((hw & 0xff) === (hasmask ? 2 * n : n) && r.pos + 4 + (hw & 0xff) <= r.end) {
          r.pos += 4;
          const value = readValue(r, def.kind, n);
          return hasmask ? { field: def.name, value, mask: readValue(r, def.kind, n) } : { field: def.name, value };
        }
      }
    }
    const h = parseHeader(r, true);
    const kind: OxmValueKind = h.def?.kind ?? 'raw';
    const value = readValue(r, kind, h.valueLen);
    if (!h.hasmask) return { field: h.name, value };
    return { field: h.name, value, mask: readValue(r, kind, h.valueLen) };
  },
  toJson(t) {
    const j = (v: OxmValue): Json => (typeof v === 'bigint' ? big(v) : v);
    return { OXMTlv: { field: t.field, mask: t.mask === undefined ? null : j(t.mask), value: j(t.value) } };
  },
  fromJson(j, path) {
    const [name, o] = unwrap(j, path);
    if (name !== 'OXMTlv') throw jsonError(path, `expected OXMTlv, got ${name}`);
    const p = `${path}.OXMTlv`;
    const fieldName = str(jsonField(o, 'field', p), `${p}.field`);
    const def = OXM_BY_NAME.get(fieldName);
    if (!def) resolveId(fieldName, `${p}.field`);
    const kind: OxmValueKind = def?.kind ?? 'raw';
    const size = def?.size ?? 0;
    const conv = (v: Json, vp: string): OxmValue => {
      if (kind === 'uint') return size <= 4 ? uint(v, size * 8, vp) : uint64Wide(v, size, vp);
      const s = str(v, vp);
      if (kind === 'mac') macFromText(s, vp);
      else if (kind === 'ipv4') ipv4FromText(s, vp);
      else if (kind === 'ipv6') ipv6FromText(s, vp);
      else b64(s, vp);
      return kind === 'mac' ? s.toLowerCase() : s;
    };
    const t: OxmTlv = { field: fieldName, value: conv(jsonField(o, 'value', p), `${p}.value`) };
    resolve(t, p);
    const mask = o['mask'];
    return mask === undefined || mask === null ? t : { ...t, mask: conv(mask, `${p}.mask`) };
  },
};

function uint64Wide(v: Json, size: number, path: string): bigint {
  if (size === 8) return uint64(v, path);
  let x: bigint;
  if (typeof v === 'bigint') x = v;
  else if (typeof v === 'number' && Number.isInteger(v)) x = BigInt(v);
  else throw jsonError(path, `expected an unsigned ${size * 8}-bit integer`);
  if (x < 0n || x >= 1n << BigInt(size * 8)) throw jsonError(path, `out of range for ${size * 8} bits`);
  return x;
}

/** An OXM header alone (table-features properties list them; learn specs too). */
export interface OxmId {
  readonly type: string;
  readonly hasmask: boolean;
  /** Length byte as it was on the wire (Ryu shows it). */
  readonly length: number;
}

export const OxmIdCodec: Codec<OxmId> = {
  cls: 'OFPOxmId',
  size(v) {
    const res = resolveId(v.type);
    return headerLenOf(res);
  },
  write(v, buf, off) {
    const res = resolveId(v.type);
    off = buf.writeUInt32BE(((res.oxmClass << 16) | (res.field << 9) | (v.hasmask ? 0x100 : 0) | v.length) >>> 0, off);
    if (res.experimenter !== undefined) off = buf.writeUInt32BE(res.experimenter, off);
    if (res.expType !== undefined) off = buf.writeUInt16BE(res.expType, off);
    return off;
  },
  read(r) {
    const start = r.pos;
    const h = parseHeader(r, false);
    const length = r.buf[start + 3] as number;
    return { type: h.name, hasmask: h.hasmask, length };
  },
  // Ryu shows the mask bit as the integer it parsed (0 or 1).
  toJson: (v) => ({ OFPOxmId: { hasmask: v.hasmask ? 1 : 0, length: v.length, type: v.type } }),
  fromJson(j, path) {
    const [name, o] = unwrap(j, path);
    if (name !== 'OFPOxmId') throw jsonError(path, `expected OFPOxmId, got ${name}`);
    const p = `${path}.OFPOxmId`;
    const type = str(jsonField(o, 'type', p), `${p}.type`);
    resolveId(type, p);
    const hm = o['hasmask'];
    if (hm !== undefined && hm !== true && hm !== false && hm !== 0 && hm !== 1) throw jsonError(`${p}.hasmask`, 'expected true/false or 0/1');
    const hasmask = hm === true || hm === 1;
    const def = OXM_BY_NAME.get(type);
    const dfltLen = def ? (def.experimenter !== undefined ? 4 : 0) + (def.expType !== undefined ? 2 : 0) + def.size * (hasmask ? 2 : 1) : 0;
    const length = o['length'] === undefined ? dfltLen : uint(o['length'], 8, `${p}.length`);
    return { type, hasmask, length };
  },
};

function resolveId(name: string, path = 'OFPOxmId'): Resolved {
  return resolveName(name, path, 0);
}

/** ofp_match (OXM type only): a list of TLVs, padded to 8 bytes. */
export type Match = readonly OxmTlv[];

function oxmBytes(m: Match): number {
  let n = 0;
  for (const t of m) n += OxmTlvCodec.size(t);
  return n;
}

export const MatchCodec: Codec<Match> = {
  cls: 'OFPMatch',
  size: (m) => align8(4 + oxmBytes(m)),
  write(m, buf, off) {
    const start = off;
    off = buf.writeUInt16BE(OFPMT.OXM, off);
    off += 2;
    for (const t of m) off = OxmTlvCodec.write(t, buf, off);
    buf.writeUInt16BE(off - start, start + 2);
    return zero(buf, off, align8(off - start) - (off - start));
  },
  read(r) {
    const start = r.pos;
    const type = r.u16('match type');
    if (type !== OFPMT.OXM) r.fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_TYPE }, `match type ${type} is not OXM (1)`, start);
    const length = r.u16('match length');
    if (length < 4) r.fail(MATCH_ERR, `match length ${length} is below 4`, start + 2);
    if (r.pos + length - 4 > r.end) r.fail(MATCH_ERR, `match claims ${length} bytes, ${r.end - r.pos + 4} left`, start + 2);
    const fields: OxmTlv[] = [];
    const savedEnd = r.end;
    const savedErr = r.lenError;
    r.end = r.pos + length - 4;
    r.lenError = MATCH_ERR;
    try {
      while (r.pos < r.end) fields.push(OxmTlvCodec.read(r));
    } finally {
      r.end = savedEnd;
      r.lenError = savedErr;
    }
    const padded = align8(length) - length;
    r.skip(Math.min(padded, r.remaining), 'match padding');
    return fields;
  },
  toJson: (m) => ({ OFPMatch: { length: 4 + oxmBytes(m), oxm_fields: m.map((t) => OxmTlvCodec.toJson(t)), type: OFPMT.OXM } }),
  fromJson(j, path) {
    const [name, o] = unwrap(j, path);
    if (name !== 'OFPMatch') throw jsonError(path, `expected OFPMatch, got ${name}`);
    const p = `${path}.OFPMatch`;
    if (o['type'] !== undefined && o['type'] !== OFPMT.OXM) throw jsonError(`${p}.type`, 'only OXM matches (type 1) exist in OpenFlow 1.3');
    return asArray(o['oxm_fields'] ?? [], `${p}.oxm_fields`).map((e, i) => OxmTlvCodec.fromJson(e, `${p}.oxm_fields[${i}]`));
  },
};

/** A match's OXM bytes only (no ofp_match header): ONF flow monitor requests carry this. */
export function matchOxmLength(m: Match): number {
  return oxmBytes(m);
}
