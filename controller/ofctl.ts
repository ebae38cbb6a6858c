/**
 * Ryu's ofctl for OpenFlow 1.3 (os-ken's lib/ofctl_v1_3.py and ofctl_utils.py), as pure functions: the JSON
 * that ofctl_rest clients send becomes OpenFlow messages, and the switch's replies become ofctl's JSON.
 * No sockets and no state; rest-ofctl.ts sends the messages.
 *
 * It follows os-ken key by key: the same names (old ones too: dl_dst, nw_src, tp_dst), the same defaults
 * (an OUTPUT without a port goes to ANY, a flow-mod without table_id to table 0), the same string forms
 * ("OUTPUT:2", "SET_FIELD: {eth_dst:aa:bb:cc:dd:ee:ff}", "WRITE_METADATA:0x1/0xff", dl_vlan "5" or
 * "0x1005/0x1fff") and the same quirks: apply-actions come last among the instructions, an empty
 * WRITE_ACTIONS disappears, a decimal vlan_vid gets OFPVID_PRESENT and a 0x-hex one does not, masked match
 * values are ANDed with their mask, table 254 reads "MAX".
 *
 * Where os-ken logs and skips bad input (an unknown match field, action type, band type or meter flag)
 * or fails later with a Python exception (a missing ethertype, a port number out of range), these raise
 * ControllerError('bad-request') naming the key path and the value, e.g.
 * `actions[1].port: "CONTROLER" is not a number or one of MAX, IN_PORT, ...`. Unknown keys are refused
 * the same way, so a typo cannot silently fall back to a default. Other deliberate differences: an
 * EXPERIMENTER action's ascii data is encoded (os-ken's serializer fails on it); reserved names are
 * accepted wherever a port, group, meter or queue number is (os-ken wants plain integers for bucket watch
 * ports and stats URLs); null means "absent"; the port-desc and group-desc ids filter (os-ken ignores them
 * before OpenFlow 1.5); Nicira actions that os-ken cannot format print as NX_UNKNOWN with their body.
 *
 * Requests and replies go through StatsQuery: `request` is the message to send, `parse` turns every reply
 * (all parts of a multipart reply) into the value ofctl_rest puts under the datapath id.
 */
import {
  type Action,
  type Bucket,
  type Instruction,
  type Json,
  type JsonObject,
  type Match,
  type MeterBand,
  type MessageOf,
  type OFPMessage,
  type OxmTlv,
  type OxmValue,
  type Port,
  ERROR_CODES,
  OFPAT,
  OFPCML,
  OFPCR_ROLE,
  OFPET,
  OFPG,
  OFPGT,
  OFPIT,
  OFPM,
  OFPMBT,
  OFPMF,
  OFPP,
  OFPTFPT,
  OFPTT,
  OFPVID,
  OFP_NO_BUFFER,
  OXM_BY_NAME,
  encode,
  stringifyJson,
} from '../openflow/index.js';
import { ipv4FromText, ipv4ToText, ipv6FromText, ipv6ToText, macFromText, macToText } from '../openflow/json.js';
import { ControllerError } from './errors.js';

// ---- values ------------------------------------------------------------------------------------------

type Obj = JsonObject;

function bad(path: string, detail: string): ControllerError {
  return new ControllerError('bad-request', path ? `${path}: ${detail}` : detail);
}

function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** A value as it appears in an error message: JSON text, shortened. */
export function show(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  const s = stringifyJson(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function asObj(j: Json | undefined, path: string): Obj {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad(path, `expected an object, got ${show(j)}`);
  return j as Obj;
}

function asList(j: Json | undefined, path: string): readonly Json[] {
  if (!Array.isArray(j)) throw bad(path, `expected a list, got ${show(j)}`);
  return j as readonly Json[];
}

function asText(j: Json | undefined, path: string): string {
  if (typeof j !== 'string') throw bad(path, j === undefined ? 'missing' : `expected a string, got ${show(j)}`);
  return j;
}

/** Refuses keys outside `allowed`: os-ken ignores them, so a typo would silently become a default. */
function onlyKeys(o: Obj, allowed: readonly string[], path: string, what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw bad(at(path, k), `unknown key in ${what}; expected ${allowed.length ? allowed.join(', ') : 'none'}`);
    }
  }
}

/** Python's int(str(v), 0): decimal, or 0x / 0o / 0b prefixed text, underscores between digits. */
const PY_INT = /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?[0-9])*)$/;

function isIntText(v: Json | undefined): boolean {
  return typeof v === 'string' && PY_INT.test(v.trim());
}

/** os-ken's str_to_int: int(str(v), 0). Booleans and fractions are refused (Python would too, or worse). */
export function strToInt(v: Json | undefined, path: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && isIntText(v)) {
    const s = v.trim();
    const neg = s.startsWith('-');
    const n = BigInt(s.replace(/^[+-]/, '').replace(/_/g, ''));
    return neg ? -n : n;
  }
  if (v === undefined) throw bad(path, 'missing');
  throw bad(path, `expected an integer (decimal, or 0x/0o/0b-prefixed text), got ${show(v)}`);
}

function inRange(n: bigint, bits: number, path: string, shown: Json | undefined): bigint {
  if (n < 0n || n >= 1n << BigInt(bits)) throw bad(path, `${show(shown)} is out of range for an unsigned ${bits}-bit field`);
  return n;
}

function uintN(v: Json | undefined, bits: number, path: string): number {
  return Number(inRange(strToInt(v, path), bits, path, v));
}

function uint64(v: Json | undefined, path: string): bigint {
  return inRange(strToInt(v, path), 64, path, v);
}

/** A reserved-number table from the codec's constants (OFPP, OFPG, ...): name → value, in ofproto's order. */
type Reserved = Readonly<Record<string, number>>;
const OFPQ: Reserved = { ALL: 0xffffffff };

/**
 * ofctl_utils' _reserved_num_from_user: an integer, or a name with or without its prefix
 * ("CONTROLLER", "OFPP_CONTROLLER", "controller"). os-ken passes an unknown name on and fails later.
 */
function reservedFromUser(v: Json | undefined, prefix: string, table: Reserved, bits: number, path: string): number {
  if (typeof v === 'string' && !isIntText(v)) {
    const name = (v.startsWith(prefix) ? v.slice(prefix.length) : v).toUpperCase();
    const n = Object.hasOwn(table, name) ? table[name] : undefined;
    if (n === undefined) throw bad(path, `${show(v)} is not a number or one of ${Object.keys(table).join(', ')}`);
    return n;
  }
  return uintN(v, bits, path);
}

/** _reserved_num_to_user: the first name in ofproto's order with this value, else the number. */
function reservedToUser(n: number, table: Reserved): string | number {
  for (const [k, v] of Object.entries(table)) if (v === n) return k;
  return n;
}

export const portFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPP_', OFPP, 32, path);
const tableFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPTT_', OFPTT, 8, path);
const groupFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPG_', OFPG, 32, path);
const meterFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPM_', OFPM, 32, path);
const queueFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPQ_', OFPQ, 32, path);
const cmlFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPCML_', OFPCML, 16, path);
const roleFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPCR_ROLE_', OFPCR_ROLE, 32, path);

export const portToUser = (n: number): string | number => reservedToUser(n, OFPP);
const tableToUser = (n: number): string | number => reservedToUser(n, OFPTT);
const groupToUser = (n: number): string | number => reservedToUser(n, OFPG);
const meterToUser = (n: number): string | number => reservedToUser(n, OFPM);
const queueToUser = (n: number): string | number => reservedToUser(n, OFPQ);
const roleToUser = (n: number): string | number => reservedToUser(n, OFPCR_ROLE);

/** ofp_buffer_from_user: "OFP_NO_BUFFER" / "NO_BUFFER", else an integer. */
function bufferFromUser(v: Json | undefined, path: string): number {
  if (v === 'OFP_NO_BUFFER' || v === 'NO_BUFFER') return OFP_NO_BUFFER;
  return uintN(v, 32, path);
}

/** A 64-bit counter as JSON: a number while exact, else a bigint (written exactly by stringifyJson). */
function u64Json(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function get(o: Obj, k: string): Json | undefined {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

// ---- match -------------------------------------------------------------------------------------------

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

type AddrKind = 'mac' | 'ipv4' | 'ipv6';

function addrBytes(kind: AddrKind, s: string, path: string): Buffer {
  try {
    if (kind === 'mac') return macFromText(s, path);
    if (kind === 'ipv4') return ipv4FromText(s, path);
    return ipv6FromText(s, path);
  } catch {
    const like = kind === 'mac' ? 'a MAC address like aa:bb:cc:dd:ee:ff' : kind === 'ipv4' ? 'an IPv4 address' : 'an IPv6 address';
    throw bad(path, `${show(s)} is not ${like}`);
  }
}

function addrText(kind: AddrKind, b: Buffer): string {
  if (kind === 'mac') return macToText(b);
  if (kind === 'ipv4') return ipv4ToText(b);
  return ipv6ToText(b);
}

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

/** An integer OXM value of `size` bytes: number up to 32 bits, bigint above (the codec's forms). */
function oxmInt(n: bigint, size: number): OxmValue {
  return size <= 4 ? Number(n) : n;
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

// ---- actions and instructions ----------------------------------------------------------------------

/** Keys each action or instruction type takes, besides "type". */
const ACTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  OUTPUT: ['port', 'max_len'],
  COPY_TTL_OUT: [],
  COPY_TTL_IN: [],
  SET_MPLS_TTL: ['mpls_ttl'],
  DEC_MPLS_TTL: [],
  PUSH_VLAN: ['ethertype'],
  POP_VLAN: [],
  PUSH_MPLS: ['ethertype'],
  POP_MPLS: ['ethertype'],
  SET_QUEUE: ['queue_id'],
  GROUP: ['group_id'],
  SET_NW_TTL: ['nw_ttl'],
  DEC_NW_TTL: [],
  SET_FIELD: ['field', 'value'],
  PUSH_PBB: ['ethertype'],
  POP_PBB: [],
  EXPERIMENTER: ['experimenter', 'data_type', 'data'],
};
const INSTRUCTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  WRITE_ACTIONS: ['actions'],
  CLEAR_ACTIONS: [],
  GOTO_TABLE: ['table_id'],
  WRITE_METADATA: ['metadata', 'metadata_mask'],
  METER: ['meter_id'],
};

function actionType(dic: Obj, path: string): string {
  const t = get(dic, 'type');
  if (t === undefined) throw bad(at(path, 'type'), 'missing');
  if (typeof t !== 'string') throw bad(at(path, 'type'), `expected an action type name, got ${show(t)}`);
  return t;
}

function unknownType(t: string, path: string, instructions: boolean): ControllerError {
  if (t === 'COPY_FIELD') return bad(at(path, 'type'), 'COPY_FIELD is an OpenFlow 1.5 action; this is OpenFlow 1.3');
  const names = [...Object.keys(ACTION_KEYS), ...(instructions ? Object.keys(INSTRUCTION_KEYS) : [])];
  return bad(at(path, 'type'), `unknown action type ${show(t)}; expected one of ${names.join(', ')}`);
}

/** A set-field value in the field's own form: text for addresses, an integer otherwise. */
function setFieldTlv(dic: Obj, path: string): OxmTlv {
  const name = asText(get(dic, 'field'), at(path, 'field'));
  const def = OXM_BY_NAME.get(name);
  if (!def) throw bad(at(path, 'field'), `unknown field ${show(name)}`);
  const vp = at(path, 'value');
  const v = get(dic, 'value');
  if (def.kind === 'mac' || def.kind === 'ipv4' || def.kind === 'ipv6') {
    return { field: name, value: addrText(def.kind, addrBytes(def.kind, asText(v, vp), vp)) };
  }
  if (def.kind !== 'uint') throw bad(at(path, 'field'), `${name} cannot be set by ofctl`);
  return { field: name, value: oxmInt(inRange(strToInt(v, vp), def.size * 8, vp, v), def.size) };
}

function experimenterData(dic: Obj, path: string): Buffer {
  const dataType = get(dic, 'data_type') ?? 'ascii';
  const data = asText(get(dic, 'data') ?? '', at(path, 'data'));
  if (dataType === 'base64') {
    if (data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw bad(at(path, 'data'), `${show(data)} is not base64`);
    return Buffer.from(data, 'base64');
  }
  if (dataType === 'ascii') {
    // os-ken hands the text on unencoded and its serializer fails; encoding it is what the caller meant
    if (![...data].every((c) => c.charCodeAt(0) < 0x80)) throw bad(at(path, 'data'), `${show(data)} is not ASCII`);
    return Buffer.from(data, 'ascii');
  }
  throw bad(at(path, 'data_type'), `unknown data type ${show(dataType)}; expected ascii or base64`);
}

/**
 * ofctl_utils.to_action for one action. Instruction types (GOTO_TABLE, ...) return undefined, as in
 * os-ken, for to_actions to handle; anything else unknown is an error.
 */
export function toAction(dicJ: Json | undefined, path: string): Action | undefined {
  const dic = asObj(dicJ, path);
  const t = actionType(dic, path);
  const keys = ACTION_KEYS[t];
  if (keys === undefined) {
    const ik = INSTRUCTION_KEYS[t];
    if (ik === undefined) throw unknownType(t, path, true);
    onlyKeys(dic, ['type', ...ik], path, `a ${t} instruction`);
    return undefined;
  }
  onlyKeys(dic, ['type', ...keys], path, `a ${t} action`);
  const ethertype = (): number => uintN(get(dic, 'ethertype'), 16, at(path, 'ethertype'));
  switch (t) {
    case 'OUTPUT':
      return {
        kind: 'OFPActionOutput',
        port: portFromUser(get(dic, 'port') ?? OFPP.ANY, at(path, 'port')),
        max_len: cmlFromUser(get(dic, 'max_len') ?? OFPCML.MAX, at(path, 'max_len')),
      };
    case 'COPY_TTL_OUT':
      return { kind: 'OFPActionCopyTtlOut' };
    case 'COPY_TTL_IN':
      return { kind: 'OFPActionCopyTtlIn' };
    case 'SET_MPLS_TTL':
      return { kind: 'OFPActionSetMplsTtl', mpls_ttl: uintN(get(dic, 'mpls_ttl'), 8, at(path, 'mpls_ttl')) };
    case 'DEC_MPLS_TTL':
      return { kind: 'OFPActionDecMplsTtl' };
    case 'PUSH_VLAN':
      return { kind: 'OFPActionPushVlan', ethertype: ethertype() };
    case 'POP_VLAN':
      return { kind: 'OFPActionPopVlan' };
    case 'PUSH_MPLS':
      return { kind: 'OFPActionPushMpls', ethertype: ethertype() };
    case 'POP_MPLS':
      return { kind: 'OFPActionPopMpls', ethertype: ethertype() };
    case 'SET_QUEUE':
      return { kind: 'OFPActionSetQueue', queue_id: queueFromUser(get(dic, 'queue_id'), at(path, 'queue_id')) };
    case 'GROUP':
      return { kind: 'OFPActionGroup', group_id: groupFromUser(get(dic, 'group_id'), at(path, 'group_id')) };
    case 'SET_NW_TTL':
      return { kind: 'OFPActionSetNwTtl', nw_ttl: uintN(get(dic, 'nw_ttl'), 8, at(path, 'nw_ttl')) };
    case 'DEC_NW_TTL':
      return { kind: 'OFPActionDecNwTtl' };
    case 'SET_FIELD':
      return { kind: 'OFPActionSetField', field: setFieldTlv(dic, path) };
    case 'PUSH_PBB':
      return { kind: 'OFPActionPushPbb', ethertype: ethertype() };
    case 'POP_PBB':
      return { kind: 'OFPActionPopPbb' };
    case 'EXPERIMENTER': {
      const data = experimenterData(dic, path);
      // os-ken pads the data with zeros to a multiple of 8 and counts the padding in the action's length
      const padded = Buffer.alloc(Math.ceil(data.length / 8) * 8);
      data.copy(padded);
      return { kind: 'OFPActionExperimenterUnknown', experimenter: uintN(get(dic, 'experimenter'), 32, at(path, 'experimenter')), data: padded };
    }
    default:
      throw unknownType(t, path, true);
  }
}

/** An action where only actions may stand (buckets, WRITE_ACTIONS): os-ken skips the others silently. */
function actionOnly(dic: Json | undefined, path: string, where: string): Action {
  const a = toAction(dic, path);
  if (a === undefined) throw bad(at(path, 'type'), `${show(asObj(dic, path)['type'])} is an instruction; ${where} take actions only`);
  return a;
}

/**
 * ofctl_v1_3.to_actions: ofctl's flat list of actions and instruction-like entries → instructions.
 * Instructions keep their order; the plain actions are gathered into one APPLY_ACTIONS placed last.
 */
export function toActions(actsJ: Json | undefined, path = 'actions'): Instruction[] {
  const inst: Instruction[] = [];
  const actions: Action[] = [];
  asList(actsJ, path).forEach((a, i) => {
    const p = at(path, i);
    const action = toAction(a, p);
    if (action !== undefined) {
      actions.push(action);
      return;
    }
    const dic = asObj(a, p);
    const t = actionType(dic, p);
    switch (t) {
      case 'WRITE_ACTIONS': {
        const wp = at(p, 'actions');
        const write = asList(get(dic, 'actions'), wp).map((w, j) => actionOnly(w, at(wp, j), 'WRITE_ACTIONS'));
        if (write.length) inst.push({ kind: 'OFPInstructionActions', type: OFPIT.WRITE_ACTIONS, actions: write });
        break;
      }
      case 'CLEAR_ACTIONS':
        inst.push({ kind: 'OFPInstructionActions', type: OFPIT.CLEAR_ACTIONS, actions: [] });
        break;
      case 'GOTO_TABLE':
        inst.push({ kind: 'OFPInstructionGotoTable', table_id: tableFromUser(get(dic, 'table_id'), at(p, 'table_id')) });
        break;
      case 'WRITE_METADATA': {
        const mask = get(dic, 'metadata_mask');
        inst.push({
          kind: 'OFPInstructionWriteMetadata',
          metadata: uint64(get(dic, 'metadata'), at(p, 'metadata')),
          metadata_mask: mask === undefined ? 0xffffffffffffffffn : uint64(mask, at(p, 'metadata_mask')),
        });
        break;
      }
      case 'METER':
        inst.push({ kind: 'OFPInstructionMeter', meter_id: meterFromUser(get(dic, 'meter_id'), at(p, 'meter_id')) });
        break;
      default:
        throw unknownType(t, p, true);
    }
  });
  if (actions.length) inst.push({ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions });
  return inst;
}

/** The wire bytes of one action, from a packet-out that carries only it (the codec encodes messages). */
function actionBytes(a: Action): Buffer {
  const msg: MessageOf<'OFPPacketOut'> = { type: 'OFPPacketOut', xid: 0, buffer_id: OFP_NO_BUFFER, in_port: OFPP.CONTROLLER, actions: [a], data: Buffer.alloc(0) };
  return encode(msg).subarray(24);
}

type StandardActionKind =
  | 'OFPActionOutput' | 'OFPActionCopyTtlOut' | 'OFPActionCopyTtlIn' | 'OFPActionSetMplsTtl' | 'OFPActionDecMplsTtl'
  | 'OFPActionPushVlan' | 'OFPActionPopVlan' | 'OFPActionPushMpls' | 'OFPActionPopMpls' | 'OFPActionSetQueue'
  | 'OFPActionGroup' | 'OFPActionSetNwTtl' | 'OFPActionDecNwTtl' | 'OFPActionSetField' | 'OFPActionPushPbb'
  | 'OFPActionPopPbb' | 'OFPActionExperimenterUnknown';
type NxAction = Exclude<Action, { kind: StandardActionKind }>;

/** os-ken's nicira_ext.ofs_nbits_str: "[start..end]" from an ofs_nbits word. */
function ofsNbitsStr(n: number): string {
  let start = 0;
  for (;;) {
    start += 1;
    if (start << 6 > n) break;
  }
  start -= 1;
  return `[${start}..${n + start - (start << 6)}]`;
}

/**
 * ofctl_nicira_ext.action_to_str for the Nicira actions it formats (reg-move, reg-load, conjunction).
 * For the others os-ken fails or prints NX_UNKNOWN with the body; this prints NX_UNKNOWN for all of them.
 */
function nxActionToStr(a: NxAction): string {
  switch (a.kind) {
    case 'NXActionRegMove':
      return `NX_MOVE: {${a.dst_field}[${a.dst_ofs}..${a.dst_ofs + a.n_bits}]: ${a.src_field}[${a.src_ofs}..${a.src_ofs + a.n_bits}]}`;
    case 'NXActionRegLoad':
      return `NX_LOAD: {${a.dst}${ofsNbitsStr(a.ofs_nbits)}: ${a.value.toString(16)}}`;
    case 'NXActionConjunction':
      return `NX_CONJUNCTION: {clause: ${a.clause}, number_of_clauses: ${a.n_clauses}, id: ${a.id}}`;
    default: {
      const b = actionBytes(a);
      return `NX_UNKNOWN: {subtype: ${b.readUInt16BE(8)}, data: ${b.subarray(10).toString('base64')}}`;
    }
  }
}

/** ofctl_v1_3.action_to_str. */
export function actionToStr(a: Action): string {
  switch (a.kind) {
    case 'OFPActionOutput':
      return `OUTPUT:${portToUser(a.port)}`;
    case 'OFPActionCopyTtlOut':
      return 'COPY_TTL_OUT';
    case 'OFPActionCopyTtlIn':
      return 'COPY_TTL_IN';
    case 'OFPActionSetMplsTtl':
      return `SET_MPLS_TTL:${a.mpls_ttl}`;
    case 'OFPActionDecMplsTtl':
      return 'DEC_MPLS_TTL';
    case 'OFPActionPushVlan':
      return `PUSH_VLAN:${a.ethertype}`;
    case 'OFPActionPopVlan':
      return 'POP_VLAN';
    case 'OFPActionPushMpls':
      return `PUSH_MPLS:${a.ethertype}`;
    case 'OFPActionPopMpls':
      return `POP_MPLS:${a.ethertype}`;
    case 'OFPActionSetQueue':
      return `SET_QUEUE:${queueToUser(a.queue_id)}`;
    case 'OFPActionGroup':
      return `GROUP:${groupToUser(a.group_id)}`;
    case 'OFPActionSetNwTtl':
      return `SET_NW_TTL:${a.nw_ttl}`;
    case 'OFPActionDecNwTtl':
      return 'DEC_NW_TTL';
    case 'OFPActionSetField': {
      const f = a.field;
      const v = f.mask === undefined ? String(f.value) : `(${pyRepr(f.value)}, ${pyRepr(f.mask)})`;
      return `SET_FIELD: {${f.field}:${v}}`;
    }
    case 'OFPActionPushPbb':
      return `PUSH_PBB:${a.ethertype}`;
    case 'OFPActionPopPbb':
      return 'POP_PBB';
    case 'OFPActionExperimenterUnknown':
      return `EXPERIMENTER: {experimenter:${a.experimenter}, data:${a.data.toString('base64')}}`;
    default:
      return nxActionToStr(a);
  }
}

/** Python's repr of a value inside a tuple: text quoted, integers bare. */
function pyRepr(v: OxmValue): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/** ofctl_v1_3.actions_to_str: instructions → ofctl's flat list. */
export function actionsToStr(instructions: readonly Instruction[]): Json[] {
  const out: Json[] = [];
  for (const ins of instructions) {
    switch (ins.kind) {
      case 'OFPInstructionActions':
        if (ins.type === OFPIT.APPLY_ACTIONS) out.push(...ins.actions.map(actionToStr));
        else if (ins.type === OFPIT.WRITE_ACTIONS) {
          if (ins.actions.length) out.push({ WRITE_ACTIONS: ins.actions.map(actionToStr) });
        } else if (ins.type === OFPIT.CLEAR_ACTIONS) out.push('CLEAR_ACTIONS');
        else out.push('UNKNOWN');
        break;
      case 'OFPInstructionGotoTable':
        out.push(`GOTO_TABLE:${tableToUser(ins.table_id)}`);
        break;
      case 'OFPInstructionWriteMetadata':
        out.push(ins.metadata_mask ? `WRITE_METADATA:0x${ins.metadata.toString(16)}/0x${ins.metadata_mask.toString(16)}` : `WRITE_METADATA:0x${ins.metadata.toString(16)}`);
        break;
      case 'OFPInstructionMeter':
        out.push(`METER:${meterToUser(ins.meter_id)}`);
        break;
      case 'OFPInstructionExperimenter':
        break;
      default:
        assertNever(ins);
    }
  }
  return out;
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

// ---- commands: flow, group, meter, port, experimenter, role ------------------------------------------

/** The "dpid" key that ofctl_rest reads from every command body. */
const DPID = 'dpid';

export const FLOW_COMMANDS: Readonly<Record<string, number>> = { add: 0, modify: 1, modify_strict: 2, delete: 3, delete_strict: 4 };
export const GROUP_COMMANDS: Readonly<Record<string, number>> = { add: 0, modify: 1, delete: 2 };
export const METER_COMMANDS: Readonly<Record<string, number>> = { add: 0, modify: 1, delete: 2 };

const FLOW_KEYS = [DPID, 'cookie', 'cookie_mask', 'table_id', 'idle_timeout', 'hard_timeout', 'priority', 'buffer_id', 'out_port', 'out_group', 'flags', 'match', 'actions'];

/** ofctl_v1_3.mod_flow_entry. */
export function modFlowEntry(flowJ: Json | undefined, command: number, path = ''): MessageOf<'OFPFlowMod'> {
  const flow = asObj(flowJ, path);
  onlyKeys(flow, FLOW_KEYS, path, 'a flow entry');
  const g = (k: string, dflt: Json): Json => get(flow, k) ?? dflt;
  return {
    type: 'OFPFlowMod',
    xid: 0,
    cookie: uint64(g('cookie', 0), at(path, 'cookie')),
    cookie_mask: uint64(g('cookie_mask', 0), at(path, 'cookie_mask')),
    table_id: tableFromUser(g('table_id', 0), at(path, 'table_id')),
    command,
    idle_timeout: uintN(g('idle_timeout', 0), 16, at(path, 'idle_timeout')),
    hard_timeout: uintN(g('hard_timeout', 0), 16, at(path, 'hard_timeout')),
    priority: uintN(g('priority', 0), 16, at(path, 'priority')),
    buffer_id: bufferFromUser(g('buffer_id', OFP_NO_BUFFER), at(path, 'buffer_id')),
    out_port: portFromUser(g('out_port', OFPP.ANY), at(path, 'out_port')),
    out_group: groupFromUser(g('out_group', OFPG.ANY), at(path, 'out_group')),
    flags: uintN(g('flags', 0), 16, at(path, 'flags')),
    match: toMatch(g('match', {}), at(path, 'match')),
    instructions: toActions(g('actions', []), at(path, 'actions')),
  };
}

/** DELETE /stats/flowentry/clear: every flow of every table. */
export function clearFlowEntries(): MessageOf<'OFPFlowMod'> {
  return modFlowEntry({ table_id: OFPTT.ALL }, FLOW_COMMANDS['delete'] as number);
}

const GROUP_TYPES: Readonly<Record<string, number>> = { ALL: OFPGT.ALL, SELECT: OFPGT.SELECT, INDIRECT: OFPGT.INDIRECT, FF: OFPGT.FF };

/** ofctl_v1_3.mod_group_entry. (os-ken reads watch_port/watch_group as plain integers; names are accepted here too.) */
export function modGroupEntry(groupJ: Json | undefined, command: number, path = ''): MessageOf<'OFPGroupMod'> {
  const group = asObj(groupJ, path);
  onlyKeys(group, [DPID, 'type', 'group_id', 'buckets'], path, 'a group entry');
  const typeName = get(group, 'type') ?? 'ALL';
  const groupType = typeof typeName === 'string' && Object.hasOwn(GROUP_TYPES, typeName) ? GROUP_TYPES[typeName] : undefined;
  if (groupType === undefined) throw bad(at(path, 'type'), `unknown group type ${show(typeName)}; expected ${Object.keys(GROUP_TYPES).join(', ')}`);
  const bp = at(path, 'buckets');
  const buckets = asList(get(group, 'buckets') ?? [], bp).map((bJ, i): Bucket => {
    const p = at(bp, i);
    const b = asObj(bJ, p);
    onlyKeys(b, ['weight', 'watch_port', 'watch_group', 'actions'], p, 'a bucket');
    const ap = at(p, 'actions');
    return {
      weight: uintN(get(b, 'weight') ?? 0, 16, at(p, 'weight')),
      watch_port: portFromUser(get(b, 'watch_port') ?? OFPP.ANY, at(p, 'watch_port')),
      watch_group: groupFromUser(get(b, 'watch_group') ?? OFPG.ANY, at(p, 'watch_group')),
      actions: asList(get(b, 'actions') ?? [], ap).map((a, j) => actionOnly(a, at(ap, j), 'buckets')),
    };
  });
  return {
    type: 'OFPGroupMod',
    xid: 0,
    command,
    group_type: groupType,
    group_id: groupFromUser(get(group, 'group_id') ?? 0, at(path, 'group_id')),
    buckets,
  };
}

const METER_FLAGS: Readonly<Record<string, number>> = { KBPS: OFPMF.KBPS, PKTPS: OFPMF.PKTPS, BURST: OFPMF.BURST, STATS: OFPMF.STATS };

/** ofctl_v1_3.mod_meter_entry. */
export function modMeterEntry(meterJ: Json | undefined, command: number, path = ''): MessageOf<'OFPMeterMod'> {
  const meter = asObj(meterJ, path);
  onlyKeys(meter, [DPID, 'flags', 'meter_id', 'bands'], path, 'a meter entry');
  let flags = 0;
  const fj = get(meter, 'flags');
  if (fj !== undefined) {
    const fp = at(path, 'flags');
    const list = Array.isArray(fj) ? (fj as readonly Json[]) : [fj];
    list.forEach((f, i) => {
      const v = typeof f === 'string' && Object.hasOwn(METER_FLAGS, f) ? METER_FLAGS[f] : undefined;
      if (v === undefined) throw bad(Array.isArray(fj) ? at(fp, i) : fp, `unknown meter flag ${show(f)}; expected ${Object.keys(METER_FLAGS).join(', ')}`);
      flags |= v;
    });
  }
  const bp = at(path, 'bands');
  const bands = asList(get(meter, 'bands') ?? [], bp).map((bJ, i): MeterBand => {
    const p = at(bp, i);
    const b = asObj(bJ, p);
    const t = get(b, 'type');
    const rate = (): number => uintN(get(b, 'rate') ?? 0, 32, at(p, 'rate'));
    const burst = (): number => uintN(get(b, 'burst_size') ?? 0, 32, at(p, 'burst_size'));
    switch (t) {
      case 'DROP':
        onlyKeys(b, ['type', 'rate', 'burst_size'], p, 'a DROP band');
        return { kind: 'OFPMeterBandDrop', rate: rate(), burst_size: burst() };
      case 'DSCP_REMARK':
        onlyKeys(b, ['type', 'rate', 'burst_size', 'prec_level'], p, 'a DSCP_REMARK band');
        return { kind: 'OFPMeterBandDscpRemark', rate: rate(), burst_size: burst(), prec_level: uintN(get(b, 'prec_level') ?? 0, 8, at(p, 'prec_level')) };
      case 'EXPERIMENTER':
        onlyKeys(b, ['type', 'rate', 'burst_size', 'experimenter'], p, 'an EXPERIMENTER band');
        return { kind: 'OFPMeterBandExperimenter', rate: rate(), burst_size: burst(), experimenter: uintN(get(b, 'experimenter') ?? 0, 32, at(p, 'experimenter')) };
      default:
        throw bad(at(p, 'type'), t === undefined ? 'missing' : `unknown band type ${show(t)}; expected DROP, DSCP_REMARK, EXPERIMENTER`);
    }
  });
  return { type: 'OFPMeterMod', xid: 0, command, flags, meter_id: meterFromUser(get(meter, 'meter_id') ?? 0, at(path, 'meter_id')), bands };
}

/** What POST /stats/portdesc/modify takes from the switch's port when the body leaves it out. */
export interface PortDefaults {
  readonly hw_addr: string;
  readonly advertised: number;
}

/**
 * ofctl_v1_3.mod_port_behavior. ofctl_rest fills hw_addr and advertise from the port the switch reported
 * (dpset.port_state); `current` is that port.
 */
export function modPortBehavior(cfgJ: Json | undefined, current: PortDefaults | undefined, path = ''): MessageOf<'OFPPortMod'> {
  const cfg = asObj(cfgJ, path);
  onlyKeys(cfg, [DPID, 'port_no', 'hw_addr', 'config', 'mask', 'advertise'], path, 'a port modification');
  const hwPath = at(path, 'hw_addr');
  const hw = get(cfg, 'hw_addr') ?? current?.hw_addr;
  if (hw === undefined) throw bad(hwPath, 'missing');
  const hwText = asText(hw, hwPath);
  addrBytes('mac', hwText, hwPath);
  const adv = get(cfg, 'advertise') ?? current?.advertised;
  return {
    type: 'OFPPortMod',
    xid: 0,
    port_no: portFromUser(get(cfg, 'port_no') ?? 0, at(path, 'port_no')),
    hw_addr: hwText.toLowerCase(),
    config: uintN(get(cfg, 'config') ?? 0, 32, at(path, 'config')),
    mask: uintN(get(cfg, 'mask') ?? 0, 32, at(path, 'mask')),
    advertise: uintN(adv, 32, at(path, 'advertise')),
  };
}

/** ofctl_utils.send_experimenter: an OFPT_EXPERIMENTER message with ascii or base64 data. */
export function experimenterMessage(expJ: Json | undefined, path = ''): MessageOf<'OFPExperimenter'> {
  const exp = asObj(expJ, path);
  onlyKeys(exp, [DPID, 'experimenter', 'exp_type', 'data_type', 'data'], path, 'an experimenter message');
  return {
    type: 'OFPExperimenter',
    xid: 0,
    experimenter: uintN(get(exp, 'experimenter') ?? 0, 32, at(path, 'experimenter')),
    exp_type: uintN(get(exp, 'exp_type') ?? 0, 32, at(path, 'exp_type')),
    data: experimenterData(exp, path),
  };
}

/** ofctl_v1_3.set_role (generation id 0, as os-ken sends it). */
export function roleRequest(roleJ: Json | undefined, path = ''): MessageOf<'OFPRoleRequest'> {
  const o = asObj(roleJ, path);
  onlyKeys(o, [DPID, 'role'], path, 'a role request');
  return { type: 'OFPRoleRequest', xid: 0, role: roleFromUser(get(o, 'role') ?? OFPCR_ROLE.EQUAL, at(path, 'role')), generation_id: 0n };
}

// ---- stats requests and their replies ------------------------------------------------------------------

/** A request and how ofctl shows its replies (the value under the datapath id). */
export interface StatsQuery {
  readonly request: OFPMessage;
  parse(replies: readonly OFPMessage[]): Json;
}

function repliesOf<T extends OFPMessage['type']>(replies: readonly OFPMessage[], type: T): MessageOf<T>[] {
  return replies.filter((m): m is MessageOf<T> => m.type === type);
}

/** The optional id in a stats URL (/stats/port/1/<port>): ofctl_rest maps "ALL" and absence to the wildcard. */
function optionalId(v: string | undefined, wildcard: number, path: string, fromUser: (v: Json, path: string) => number): number {
  if (v === undefined || v === 'ALL') return wildcard;
  return fromUser(v, path);
}

export function getDescStats(): StatsQuery {
  return {
    request: { type: 'OFPDescStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      let s: Json = {};
      for (const m of repliesOf(replies, 'OFPDescStatsReply')) {
        const b = m.body;
        s = { mfr_desc: b.mfr_desc, hw_desc: b.hw_desc, sw_desc: b.sw_desc, serial_num: b.serial_num, dp_desc: b.dp_desc };
      }
      return s;
    },
  };
}

interface FlowFilter {
  readonly table_id: number;
  readonly flags: number;
  readonly out_port: number;
  readonly out_group: number;
  readonly cookie: bigint;
  readonly cookie_mask: bigint;
  readonly match: Match;
}

function flowFilter(flowJ: Json | undefined, path: string, keys: readonly string[]): FlowFilter {
  const flow = asObj(flowJ ?? {}, path);
  onlyKeys(flow, keys, path, 'a flow filter');
  const g = (k: string, dflt: Json): Json => get(flow, k) ?? dflt;
  return {
    table_id: tableFromUser(g('table_id', OFPTT.ALL), at(path, 'table_id')),
    flags: uintN(g('flags', 0), 16, at(path, 'flags')),
    out_port: portFromUser(g('out_port', OFPP.ANY), at(path, 'out_port')),
    out_group: groupFromUser(g('out_group', OFPG.ANY), at(path, 'out_group')),
    cookie: uint64(g('cookie', 0), at(path, 'cookie')),
    cookie_mask: uint64(g('cookie_mask', 0), at(path, 'cookie_mask')),
    match: toMatch(g('match', {}), at(path, 'match')),
  };
}

const FILTER_KEYS = [DPID, 'table_id', 'flags', 'out_port', 'out_group', 'cookie', 'cookie_mask', 'match'];

/**
 * ofctl_v1_3.get_flow_stats. The filter's "priority" is ofctl's own: OpenFlow cannot filter by it, so
 * the replies are.
 */
export function getFlowStats(flowJ?: Json, path = ''): StatsQuery {
  const f = flowFilter(flowJ, path, [...FILTER_KEYS, 'priority']);
  const pj = flowJ === undefined ? undefined : get(asObj(flowJ, path), 'priority');
  const priority = pj === undefined ? -1n : strToInt(pj, at(path, 'priority'));
  return {
    request: { type: 'OFPFlowStatsRequest', xid: 0, ...f },
    parse(replies) {
      const flows: Json[] = [];
      for (const m of repliesOf(replies, 'OFPFlowStatsReply')) {
        for (const s of m.body) {
          if (priority >= 0n && BigInt(s.priority) !== priority) continue;
          flows.push({
            priority: s.priority,
            cookie: u64Json(s.cookie),
            idle_timeout: s.idle_timeout,
            hard_timeout: s.hard_timeout,
            byte_count: u64Json(s.byte_count),
            duration_sec: s.duration_sec,
            duration_nsec: s.duration_nsec,
            packet_count: u64Json(s.packet_count),
            length: flowStatsLength(s.match, s.instructions),
            flags: s.flags,
            actions: actionsToStr(s.instructions),
            match: matchToStr(s.match),
            table_id: tableToUser(s.table_id),
          });
        }
      }
      return flows;
    },
  };
}

/** ofp_flow_stats' length: the reply's own field is consumed by the codec, so it is recomputed. */
function flowStatsLength(match: Match, instructions: readonly Instruction[]): number {
  const reply: MessageOf<'OFPFlowStatsReply'> = {
    type: 'OFPFlowStatsReply', xid: 0, flags: 0,
    body: [{ table_id: 0, duration_sec: 0, duration_nsec: 0, priority: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, cookie: 0n, packet_count: 0n, byte_count: 0n, match, instructions }],
  };
  return encode(reply).length - 16;
}

/** ofctl_v1_3.get_aggregate_flow_stats. */
export function getAggregateFlowStats(flowJ?: Json, path = ''): StatsQuery {
  const f = flowFilter(flowJ, path, FILTER_KEYS);
  return {
    request: { type: 'OFPAggregateStatsRequest', xid: 0, ...f },
    parse(replies) {
      return repliesOf(replies, 'OFPAggregateStatsReply').map((m) => ({
        packet_count: u64Json(m.body.packet_count),
        byte_count: u64Json(m.body.byte_count),
        flow_count: m.body.flow_count,
      }));
    },
  };
}

export function getTableStats(): StatsQuery {
  return {
    request: { type: 'OFPTableStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPTableStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          active_count: s.active_count,
          lookup_count: u64Json(s.lookup_count),
          matched_count: u64Json(s.matched_count),
          table_id: tableToUser(s.table_id),
        })),
      );
    },
  };
}

const TFPT_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(OFPTFPT).map(([k, v]) => [v, k]));

export function getTableFeatures(): StatsQuery {
  return {
    request: { type: 'OFPTableFeaturesStatsRequest', xid: 0, flags: 0, body: [] },
    parse(replies) {
      const tables: Json[] = [];
      for (const m of repliesOf(replies, 'OFPTableFeaturesStatsReply')) {
        for (const s of m.body) {
          const properties = s.properties.map((prop): Json => {
            const p: Record<string, Json> = { type: TFPT_NAMES[prop.type] ?? 'UNKNOWN' };
            switch (prop.kind) {
              case 'OFPTableFeaturePropInstructions':
                p['instruction_ids'] = prop.instruction_ids.map((i) => ({ len: i.experimenter === undefined ? 4 : 8, type: i.type }));
                break;
              case 'OFPTableFeaturePropNextTables':
                p['table_ids'] = [...prop.table_ids];
                break;
              case 'OFPTableFeaturePropActions':
                p['action_ids'] = prop.action_ids.map((i) => ({ len: i.experimenter === undefined ? 4 : 8, type: i.type }));
                break;
              case 'OFPTableFeaturePropOxm':
                p['oxm_ids'] = prop.oxm_ids.map((i) => ({ hasmask: i.hasmask ? 1 : 0, length: i.length, type: i.type }));
                break;
              case 'OFPTableFeaturePropExperimenter':
              case 'OFPTableFeaturePropUnknown':
                break;
              default:
                assertNever(prop);
            }
            return p;
          });
          tables.push({
            name: s.name,
            metadata_match: u64Json(s.metadata_match),
            metadata_write: u64Json(s.metadata_write),
            config: s.config,
            max_entries: s.max_entries,
            properties,
            table_id: tableToUser(s.table_id),
          });
        }
      }
      return tables;
    },
  };
}

/** ofctl_v1_3.get_port_stats; `port` is the URL's (absent or "ALL": every port). */
export function getPortStats(port?: string, path = 'port'): StatsQuery {
  return {
    request: { type: 'OFPPortStatsRequest', xid: 0, flags: 0, port_no: optionalId(port, OFPP.ANY, path, portFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPPortStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          rx_packets: u64Json(s.rx_packets),
          tx_packets: u64Json(s.tx_packets),
          rx_bytes: u64Json(s.rx_bytes),
          tx_bytes: u64Json(s.tx_bytes),
          rx_dropped: u64Json(s.rx_dropped),
          tx_dropped: u64Json(s.tx_dropped),
          rx_errors: u64Json(s.rx_errors),
          tx_errors: u64Json(s.tx_errors),
          rx_frame_err: u64Json(s.rx_frame_err),
          rx_over_err: u64Json(s.rx_over_err),
          rx_crc_err: u64Json(s.rx_crc_err),
          collisions: u64Json(s.collisions),
          duration_sec: s.duration_sec,
          duration_nsec: s.duration_nsec,
          port_no: portToUser(s.port_no),
        })),
      );
    },
  };
}

/** ofctl_v1_3.get_port_desc. `portNo` (the URL's) keeps one port; os-ken ignores it before OpenFlow 1.5. */
export function getPortDesc(portNo?: string, path = 'port_no'): StatsQuery {
  const only = portNo === undefined || portNo === 'ALL' ? undefined : portFromUser(portNo, path);
  return {
    request: { type: 'OFPPortDescStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPPortDescStatsReply').flatMap((m) =>
        m.body.filter((p) => only === undefined || p.port_no === only).map((p) => portDescJson(p)),
      );
    },
  };
}

function portDescJson(p: Port): Json {
  return {
    hw_addr: p.hw_addr,
    name: p.name,
    config: p.config,
    state: p.state,
    curr: p.curr,
    advertised: p.advertised,
    supported: p.supported,
    peer: p.peer,
    curr_speed: p.curr_speed,
    max_speed: p.max_speed,
    port_no: portToUser(p.port_no),
  };
}

/** ofctl_v1_3.get_queue_stats. */
export function getQueueStats(port?: string, queueId?: string): StatsQuery {
  return {
    request: {
      type: 'OFPQueueStatsRequest', xid: 0, flags: 0,
      port_no: optionalId(port, OFPP.ANY, 'port', portFromUser),
      queue_id: optionalId(queueId, OFPQ['ALL'] as number, 'queue_id', queueFromUser),
    },
    parse(replies) {
      return repliesOf(replies, 'OFPQueueStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          duration_nsec: s.duration_nsec,
          duration_sec: s.duration_sec,
          port_no: s.port_no,
          queue_id: s.queue_id,
          tx_bytes: u64Json(s.tx_bytes),
          tx_errors: u64Json(s.tx_errors),
          tx_packets: u64Json(s.tx_packets),
        })),
      );
    },
  };
}

/** ofctl_v1_3.get_queue_config (an OFPT_QUEUE_GET_CONFIG request, not a multipart one). */
export function getQueueConfig(port?: string): StatsQuery {
  return {
    request: { type: 'OFPQueueGetConfigRequest', xid: 0, port: optionalId(port, OFPP.ANY, 'port', portFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPQueueGetConfigReply').map((c) => ({
        queues: c.queues.map((q) => ({
          properties: q.properties.map((prop): Json => {
            switch (prop.kind) {
              case 'OFPQueuePropMinRate':
                return { property: 'MIN_RATE', rate: prop.rate };
              case 'OFPQueuePropMaxRate':
                return { property: 'MAX_RATE', rate: prop.rate };
              case 'OFPQueuePropExperimenter':
                return { property: 'EXPERIMENTER', experimenter: prop.experimenter, data: [...prop.data] };
              default:
                return assertNever(prop);
            }
          }),
          port: portToUser(q.port),
          queue_id: queueToUser(q.queue_id),
        })),
        port: portToUser(c.port),
      }));
    },
  };
}

const GROUP_TYPE_NAMES: readonly (readonly [number, string])[] = [[OFPGT.ALL, 'ALL'], [OFPGT.SELECT, 'SELECT'], [OFPGT.INDIRECT, 'INDIRECT'], [OFPGT.FF, 'FF']];

/** ofctl_v1_3.get_group_stats. */
export function getGroupStats(groupId?: string): StatsQuery {
  return {
    request: { type: 'OFPGroupStatsRequest', xid: 0, flags: 0, group_id: optionalId(groupId, OFPG.ALL, 'group_id', groupFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPGroupStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          length: 40 + 16 * s.bucket_stats.length,
          ref_count: s.ref_count,
          packet_count: u64Json(s.packet_count),
          byte_count: u64Json(s.byte_count),
          duration_sec: s.duration_sec,
          duration_nsec: s.duration_nsec,
          bucket_stats: s.bucket_stats.map((b) => ({ packet_count: u64Json(b.packet_count), byte_count: u64Json(b.byte_count) })),
          group_id: groupToUser(s.group_id),
        })),
      );
    },
  };
}

/**
 * ofctl_v1_3.get_group_desc. `groupId` (the URL's) keeps one group; os-ken ignores it before OpenFlow 1.5.
 */
export function getGroupDesc(groupId?: string): StatsQuery {
  const only = groupId === undefined || groupId === 'ALL' ? undefined : groupFromUser(groupId, 'group_id');
  return {
    request: { type: 'OFPGroupDescStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPGroupDescStatsReply').flatMap((m) =>
        m.body
          .filter((d) => only === undefined || d.group_id === only)
          .map((d) => ({
            buckets: d.buckets.map((b) => ({ weight: b.weight, watch_port: b.watch_port, watch_group: b.watch_group, actions: b.actions.map(actionToStr) })),
            group_id: groupToUser(d.group_id),
            type: GROUP_TYPE_NAMES.find(([k]) => k === d.type)?.[1] ?? null,
          })),
      );
    },
  };
}

const GROUP_CAPS: readonly (readonly [number, string])[] = [[1, 'SELECT_WEIGHT'], [2, 'SELECT_LIVENESS'], [4, 'CHAINING'], [8, 'CHAINING_CHECKS']];
const GROUP_FEATURE_ACTIONS: readonly (readonly [number, string])[] = [
  [OFPAT.OUTPUT, 'OUTPUT'], [OFPAT.COPY_TTL_OUT, 'COPY_TTL_OUT'], [OFPAT.COPY_TTL_IN, 'COPY_TTL_IN'], [OFPAT.SET_MPLS_TTL, 'SET_MPLS_TTL'],
  [OFPAT.DEC_MPLS_TTL, 'DEC_MPLS_TTL'], [OFPAT.PUSH_VLAN, 'PUSH_VLAN'], [OFPAT.POP_VLAN, 'POP_VLAN'], [OFPAT.PUSH_MPLS, 'PUSH_MPLS'],
  [OFPAT.POP_MPLS, 'POP_MPLS'], [OFPAT.SET_QUEUE, 'SET_QUEUE'], [OFPAT.GROUP, 'GROUP'], [OFPAT.SET_NW_TTL, 'SET_NW_TTL'],
  [OFPAT.DEC_NW_TTL, 'DEC_NW_TTL'], [OFPAT.SET_FIELD, 'SET_FIELD'], [OFPAT.PUSH_PBB, 'PUSH_PBB'], [OFPAT.POP_PBB, 'POP_PBB'],
];

/** Bit n of a bitmap (n may exceed 31, as (1 << k) does in Python). */
function bit(map: number, n: number): boolean {
  return n < 32 && ((map >>> n) & 1) === 1;
}

/** ofctl_v1_3.get_group_features. */
export function getGroupFeatures(): StatsQuery {
  return {
    request: { type: 'OFPGroupFeaturesStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPGroupFeaturesStatsReply').map((m) => {
        const f = m.body;
        return {
          types: GROUP_TYPE_NAMES.filter(([k]) => bit(f.types, k)).map(([, v]) => v),
          capabilities: GROUP_CAPS.filter(([k]) => (f.capabilities & k) !== 0).map(([, v]) => v),
          max_groups: GROUP_TYPE_NAMES.map(([k, v]) => ({ [v]: f.max_groups[k] ?? 0 })),
          actions: GROUP_TYPE_NAMES.map(([k, v]) => ({ [v]: GROUP_FEATURE_ACTIONS.filter(([a]) => bit(f.actions[k] ?? 0, a)).map(([, n]) => n) })),
        };
      });
    },
  };
}

/** ofctl_v1_3.get_meter_stats. */
export function getMeterStats(meterId?: string): StatsQuery {
  return {
    request: { type: 'OFPMeterStatsRequest', xid: 0, flags: 0, meter_id: optionalId(meterId, OFPM.ALL, 'meter_id', meterFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPMeterStatsReply').flatMap((m) =>
        m.body.map((s) => ({
          len: 40 + 16 * s.band_stats.length,
          flow_count: s.flow_count,
          packet_in_count: u64Json(s.packet_in_count),
          byte_in_count: u64Json(s.byte_in_count),
          duration_sec: s.duration_sec,
          duration_nsec: s.duration_nsec,
          band_stats: s.band_stats.map((b) => ({ packet_band_count: u64Json(b.packet_band_count), byte_band_count: u64Json(b.byte_band_count) })),
          meter_id: meterToUser(s.meter_id),
        })),
      );
    },
  };
}

const METER_FLAG_NAMES: readonly (readonly [number, string])[] = [[OFPMF.KBPS, 'KBPS'], [OFPMF.PKTPS, 'PKTPS'], [OFPMF.BURST, 'BURST'], [OFPMF.STATS, 'STATS']];
const BAND_TYPE_NAMES: readonly (readonly [number, string])[] = [[OFPMBT.DROP, 'DROP'], [OFPMBT.DSCP_REMARK, 'DSCP_REMARK']];

/** ofctl_v1_3.get_meter_config. */
export function getMeterConfig(meterId?: string): StatsQuery {
  return {
    request: { type: 'OFPMeterConfigStatsRequest', xid: 0, flags: 0, meter_id: optionalId(meterId, OFPM.ALL, 'meter_id', meterFromUser) },
    parse(replies) {
      return repliesOf(replies, 'OFPMeterConfigStatsReply').flatMap((m) =>
        m.body.map((c) => ({
          flags: METER_FLAG_NAMES.filter(([k]) => (c.flags & k) !== 0).map(([, v]) => v),
          bands: c.bands.map((b): Json => {
            switch (b.kind) {
              case 'OFPMeterBandDrop':
                return { rate: b.rate, burst_size: b.burst_size, type: 'DROP' };
              case 'OFPMeterBandDscpRemark':
                return { rate: b.rate, burst_size: b.burst_size, type: 'DSCP_REMARK', prec_level: b.prec_level };
              case 'OFPMeterBandExperimenter':
                return { rate: b.rate, burst_size: b.burst_size, type: 'EXPERIMENTER', experimenter: b.experimenter };
              default:
                return assertNever(b);
            }
          }),
          meter_id: meterToUser(c.meter_id),
        })),
      );
    },
  };
}

/** ofctl_v1_3.get_meter_features. */
export function getMeterFeatures(): StatsQuery {
  return {
    request: { type: 'OFPMeterFeaturesStatsRequest', xid: 0, flags: 0 },
    parse(replies) {
      return repliesOf(replies, 'OFPMeterFeaturesStatsReply').flatMap((m) =>
        m.body.map((f) => ({
          max_meter: f.max_meter,
          band_types: BAND_TYPE_NAMES.filter(([k]) => bit(f.band_types, k)).map(([, v]) => v),
          capabilities: METER_FLAG_NAMES.filter(([k]) => (f.capabilities & k) !== 0).map(([, v]) => v),
          max_bands: f.max_bands,
          max_color: f.max_color,
        })),
      );
    },
  };
}

/** ofctl_utils.get_role: a role request that changes nothing, and the role named. */
export function getRole(): StatsQuery {
  return {
    request: { type: 'OFPRoleRequest', xid: 0, role: OFPCR_ROLE.NOCHANGE, generation_id: 0n },
    parse(replies) {
      return repliesOf(replies, 'OFPRoleReply').map((m) => ({ generation_id: u64Json(m.generation_id), role: roleToUser(m.role) }));
    },
  };
}

// ---- errors ----------------------------------------------------------------------------------------

const OFPET_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(OFPET).map(([k, v]) => [v, k]));

/** An OFPT_ERROR as JSON for an error answer: its type and code, by number and by the spec's name. */
export function switchErrorJson(e: MessageOf<'OFPErrorMsg'>): Json {
  const typeName = OFPET_NAMES[e.err_type];
  if (e.err_type === OFPET.EXPERIMENTER) {
    return { err_type: e.err_type, err_type_name: 'OFPET_EXPERIMENTER', exp_type: e.exp_type ?? 0, experimenter: e.experimenter ?? 0 };
  }
  const code = e.code ?? 0;
  const codes = ERROR_CODES[e.err_type] ?? {};
  const codeName = Object.entries(codes).find(([, v]) => v === code)?.[0];
  const prefix: Readonly<Record<number, string>> = {
    [OFPET.HELLO_FAILED]: 'OFPHFC', [OFPET.BAD_REQUEST]: 'OFPBRC', [OFPET.BAD_ACTION]: 'OFPBAC', [OFPET.BAD_INSTRUCTION]: 'OFPBIC',
    [OFPET.BAD_MATCH]: 'OFPBMC', [OFPET.FLOW_MOD_FAILED]: 'OFPFMFC', [OFPET.GROUP_MOD_FAILED]: 'OFPGMFC', [OFPET.PORT_MOD_FAILED]: 'OFPPMFC',
    [OFPET.TABLE_MOD_FAILED]: 'OFPTMFC', [OFPET.QUEUE_OP_FAILED]: 'OFPQOFC', [OFPET.SWITCH_CONFIG_FAILED]: 'OFPSCFC',
    [OFPET.ROLE_REQUEST_FAILED]: 'OFPRRFC', [OFPET.METER_MOD_FAILED]: 'OFPMMFC', [OFPET.TABLE_FEATURES_FAILED]: 'OFPTFFC',
  };
  return {
    err_type: e.err_type,
    err_code: code,
    err_type_name: typeName === undefined ? null : `OFPET_${typeName}`,
    err_code_name: codeName === undefined ? null : `${prefix[e.err_type] ?? ''}_${codeName}`,
  };
}

