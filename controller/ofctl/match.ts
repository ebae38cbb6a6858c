/**
 * ofctl's matches: to_match (ofctl's keys and values → an OpenFlow match, old OpenFlow 1.0 names too) and
 * match_to_str (a match → ofctl's JSON object).
 */
import {
  type Json,
  type Match,
  type OxmTlv,
  type OxmValue,
  OFPVID,
  OXM_BY_NAME,
} from '../../openflow/index.js';
import type { AddrKind } from '../../base/addr.js';
import { at } from '../../base/json.js';
import {
  addrBytes,
  addrText,
  asObj,
  asText,
  bad,
  get,
  inRange,
  isIntText,
  oxmInt,
  portFromUser,
  portToUser,
  show,
  strToInt,
  u64Json,
} from './values.js';

type MatchConv = 'port' | 'int' | 'masked' | 'eth' | 'ip' | 'vid';

/** ofctl_v1_3.to_match's convert table: the ofctl keys and how their values are read. */
const MATCH_CONVERT: Readonly<Record<string, MatchConv>> = {
  in_port: 'port', in_phy_port: 'int', metadata: 'masked',
  dl_dst: 'eth', dl_src: 'eth', eth_dst: 'eth', eth_src: 'eth', dl_type: 'int', eth_type: 'int',
  dl_vlan: 'vid', vlan_vid: 'vid', vlan_pcp: 'int', ip_dscp: 'int', ip_ecn: 'int', nw_proto: 'int', ip_proto: 'int',
  nw_src: 'ip', nw_dst: 'ip', ipv4_src: 'ip', ipv4_dst: 'ip',
  tp_src: 'int', tp_dst: 'int', tcp_src: 'int', tcp_dst: 'int', udp_src: 'int', udp_dst: 'int', sctp_src: 'int', sctp_dst: 'int',
  icmpv4_type: 'int', icmpv4_code: 'int', arp_op: 'int', arp_spa: 'ip', arp_tpa: 'ip', arp_sha: 'eth', arp_tha: 'eth',
  ipv6_src: 'ip', ipv6_dst: 'ip', ipv6_flabel: 'int', icmpv6_type: 'int', icmpv6_code: 'int',
  ipv6_nd_target: 'ip', ipv6_nd_sll: 'eth', ipv6_nd_tll: 'eth',
  mpls_label: 'int', mpls_tc: 'int', mpls_bos: 'int', pbb_isid: 'masked', tunnel_id: 'masked', ipv6_exthdr: 'masked',
};

/** Old (OpenFlow 1.0) names ofctl accepts, and the OXM names they stand for. */
const OLD_MATCH_NAMES: Readonly<Record<string, string>> = {
  dl_dst: 'eth_dst', dl_src: 'eth_src', dl_type: 'eth_type', dl_vlan: 'vlan_vid', nw_src: 'ipv4_src', nw_dst: 'ipv4_dst', nw_proto: 'ip_proto',
};

const ETH_TYPE_ARP = 0x0806;

/** netaddr.IPNetwork("a/len").netmask, as bytes. */
function prefixMask(kind: 'ipv4' | 'ipv6', len: number, path: string, shown: string): Buffer {
  const bytes = kind === 'ipv4' ? 4 : 16;
  if (len > bytes * 8) throw bad(path, `${show(shown)}: prefix length ${len} is above ${bytes * 8}`);
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < len; i++) b[i >> 3] = (b[i >> 3] as number) | (0x80 >> (i & 7));
  return b;
}

function andBytes(a: Buffer, m: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) & (m[i] as number);
  return out;
}

function maskedInt(field: string, size: number, v: Json | undefined, path: string): OxmTlv {
  if (typeof v === 'string' && v.includes('/')) {
    const parts = v.split('/');
    if (parts.length !== 2) throw bad(path, `${show(v)}: expected value/mask`);
    const value = inRange(strToInt(parts[0], path), size * 8, path, parts[0]);
    const mask = inRange(strToInt(parts[1], path), size * 8, path, parts[1]);
    return { field, value: oxmInt(value & mask, size), mask: oxmInt(mask, size) };
  }
  return { field, value: oxmInt(inRange(strToInt(v, path), size * 8, path, v), size) };
}

function addrField(field: string, kind: AddrKind, v: Json | undefined, path: string, cidr: boolean): OxmTlv {
  const s = asText(v, path);
  if (!s.includes('/')) return { field, value: addrText(kind, addrBytes(kind, s, path)) };
  const parts = s.split('/');
  if (parts.length !== 2) throw bad(path, `${show(s)}: expected address/mask`);
  const [a, m] = parts as [string, string];
  const value = addrBytes(kind, a, path);
  // to_match_ip: a decimal mask is a prefix length (netaddr.IPNetwork); to_match_eth has no such form
  const mask = cidr && kind !== 'mac' && /^[0-9]+$/.test(m) ? prefixMask(kind, Number(m), path, s) : addrBytes(kind, m, path);
  return { field, value: addrText(kind, andBytes(value, mask)), mask: addrText(kind, mask) };
}

/** ofctl_utils.to_match_vid: a decimal vlan id gets OFPVID_PRESENT; 0x-hex text and value/mask are taken as they are. */
function vidField(v: Json | undefined, path: string): OxmTlv {
  const field = 'vlan_vid';
  const check = (n: bigint, shown: Json | undefined): number => Number(inRange(n, 16, path, shown));
  if (typeof v === 'number' || typeof v === 'bigint') return { field, value: check(strToInt(v, path) | BigInt(OFPVID.PRESENT), v) };
  const s = asText(v, path);
  if (s.includes('/')) {
    const parts = s.split('/');
    if (parts.length !== 2) throw bad(path, `${show(s)}: expected value/mask`);
    return { field, value: check(strToInt(parts[0], path), s), mask: check(strToInt(parts[1], path), s) };
  }
  if (/^[0-9]+$/.test(s)) return { field, value: check(BigInt(s) | BigInt(OFPVID.PRESENT), s) };
  return { field, value: check(strToInt(s, path), s) };
}

function oxmDef(name: string): { field: number; size: number; kind: string } {
  const d = OXM_BY_NAME.get(name);
  if (!d) throw new Error(`ofctl: OXM field ${name} is missing from the codec's table`);
  return d;
}

/**
 * ofctl_v1_3.to_match. With eth_type/dl_type 2054, nw_src/nw_dst mean arp_spa/arp_tpa; tp_src/tp_dst
 * become tcp_* or udp_* by nw_proto/ip_proto. Fields come out sorted by OXM field number, as OFPMatch sorts.
 */
export function toMatch(attrsJ: Json | undefined, path = 'match'): Match {
  const attrs: Record<string, Json> = { ...asObj(attrsJ, path) };
  if (get(attrs, 'dl_type') === ETH_TYPE_ARP || get(attrs, 'eth_type') === ETH_TYPE_ARP) {
    for (const [from, to] of [['nw_src', 'arp_spa'], ['nw_dst', 'arp_tpa']] as const) {
      if (Object.hasOwn(attrs, from) && !Object.hasOwn(attrs, to)) {
        attrs[to] = attrs[from] as Json;
        delete attrs[from];
      }
    }
  }
  const fields = new Map<string, OxmTlv>();
  for (const [given, v] of Object.entries(attrs)) {
    const p = at(path, given);
    let key = OLD_MATCH_NAMES[given] ?? given;
    const conv = MATCH_CONVERT[key];
    if (conv === undefined) throw bad(p, 'unknown match field');
    if (key === 'tp_src' || key === 'tp_dst') {
      const proto = Object.hasOwn(attrs, 'nw_proto') ? attrs['nw_proto'] : Object.hasOwn(attrs, 'ip_proto') ? attrs['ip_proto'] : 0;
      const n = isIntText(proto) || typeof proto === 'number' || typeof proto === 'bigint' ? strToInt(proto, p) : -1n;
      if (n !== 6n && n !== 17n) throw bad(p, `${key} needs nw_proto or ip_proto 6 (TCP) or 17 (UDP), got ${show(proto)}`);
      key = (n === 6n ? 'tcp' : 'udp') + key.slice(2);
    }
    const def = oxmDef(key);
    let tlv: OxmTlv;
    switch (conv) {
      case 'port':
        tlv = { field: key, value: portFromUser(v, p) };
        break;
      case 'int':
        tlv = { field: key, value: oxmInt(inRange(strToInt(v, p), def.size * 8, p, v), def.size) };
        break;
      case 'masked':
        tlv = maskedInt(key, def.size, v, p);
        break;
      case 'eth':
        tlv = addrField(key, 'mac', v, p, false);
        break;
      case 'ip':
        tlv = addrField(key, def.kind === 'ipv6' ? 'ipv6' : 'ipv4', v, p, true);
        break;
      case 'vid':
        tlv = vidField(v, p);
        break;
    }
    fields.set(key, tlv);
  }
  return [...fields.values()].sort((a, b) => oxmDef(a.field).field - oxmDef(b.field).field);
}

/** ofctl_utils.match_vid_to_str. */
function matchVidToStr(value: number, mask: number | undefined): string {
  const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
  if (mask !== undefined) return `${hex4(value)}/${hex4(mask)}`;
  if (value & OFPVID.PRESENT) return String(value & ~OFPVID.PRESENT);
  return hex4(value);
}

const MATCH_OUT_NAMES: Readonly<Record<string, string>> = {
  eth_src: 'dl_src', eth_dst: 'dl_dst', eth_type: 'dl_type', vlan_vid: 'dl_vlan', ipv4_src: 'nw_src', ipv4_dst: 'nw_dst',
  ip_proto: 'nw_proto', tcp_src: 'tp_src', tcp_dst: 'tp_dst', udp_src: 'tp_src', udp_dst: 'tp_dst',
};

function oxmJson(v: OxmValue): Json {
  return typeof v === 'bigint' ? u64Json(v) : v;
}

/** ofctl_v1_3.match_to_str: ofctl's names, "value/mask" text for masked fields, in_port names. */
export function matchToStr(m: Match): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const t of m) {
    const key = MATCH_OUT_NAMES[t.field] ?? t.field;
    let value: Json;
    if (key === 'dl_vlan') value = matchVidToStr(Number(t.value), t.mask === undefined ? undefined : Number(t.mask));
    else if (key === 'in_port') value = portToUser(Number(t.value));
    else value = t.mask === undefined ? oxmJson(t.value) : `${String(t.value)}/${String(t.mask)}`;
    if (!Object.hasOwn(out, key)) out[key] = value;
  }
  return out;
}
