/**
 * ofctl's values: shape checks with this folder's errors (ControllerError 'bad-request' naming the key
 * path), Python's int() for numbers given as text, reserved numbers by name both ways (OFPP_*, OFPG_*, ...),
 * addresses, and 64-bit counters as JSON. What every other file of ofctl/ reads and writes values with.
 */
import {
  type Json,
  type JsonObject,
  type OxmValue,
  OFPCML,
  OFPCR_ROLE,
  OFPG,
  OFPM,
  OFPP,
  OFPQ,
  OFPTT,
  OFP_NO_BUFFER,
  stringifyJson,
} from '../../openflow/index.js';
import { type AddrKind, addrToText, parseAddr } from '../../base/addr.js';
import { jsonChecks } from '../../base/json.js';
import { ControllerError } from '../errors.js';

export type Obj = JsonObject;

export function bad(path: string, detail: string): ControllerError {
  return new ControllerError('bad-request', path ? `${path}: ${detail}` : detail);
}

/** A value as it appears in an error message: JSON text, shortened. */
export function show(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  const s = stringifyJson(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// The shape checks are base/json.ts's, with this module's errors. onlyKeys refuses keys outside the
// allowed ones: os-ken ignores them, so a typo would silently become a default.
export const { object: asObj, list: asList, text: asText, onlyKeys } = jsonChecks<Json>(bad, show);

/** Python's int(str(v), 0): decimal, or 0x / 0o / 0b prefixed text, underscores between digits. */
const PY_INT = /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?[0-9])*)$/;

export function isIntText(v: Json | undefined): boolean {
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

export function inRange(n: bigint, bits: number, path: string, shown: Json | undefined): bigint {
  if (n < 0n || n >= 1n << BigInt(bits)) throw bad(path, `${show(shown)} is out of range for an unsigned ${bits}-bit field`);
  return n;
}

export function uintN(v: Json | undefined, bits: number, path: string): number {
  return Number(inRange(strToInt(v, path), bits, path, v));
}

export function uint64(v: Json | undefined, path: string): bigint {
  return inRange(strToInt(v, path), 64, path, v);
}

/** A reserved-number table from the codec's constants (OFPP, OFPG, ...): name → value, in ofproto's order. */
type Reserved = Readonly<Record<string, number>>;

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
export const tableFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPTT_', OFPTT, 8, path);
export const groupFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPG_', OFPG, 32, path);
export const meterFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPM_', OFPM, 32, path);
export const queueFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPQ_', OFPQ, 32, path);
export const cmlFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPCML_', OFPCML, 16, path);
export const roleFromUser = (v: Json | undefined, path: string): number => reservedFromUser(v, 'OFPCR_ROLE_', OFPCR_ROLE, 32, path);

export const portToUser = (n: number): string | number => reservedToUser(n, OFPP);
export const tableToUser = (n: number): string | number => reservedToUser(n, OFPTT);
export const groupToUser = (n: number): string | number => reservedToUser(n, OFPG);
export const meterToUser = (n: number): string | number => reservedToUser(n, OFPM);
export const queueToUser = (n: number): string | number => reservedToUser(n, OFPQ);
export const roleToUser = (n: number): string | number => reservedToUser(n, OFPCR_ROLE);

/** ofp_buffer_from_user: "OFP_NO_BUFFER" / "NO_BUFFER", else an integer. */
export function bufferFromUser(v: Json | undefined, path: string): number {
  if (v === 'OFP_NO_BUFFER' || v === 'NO_BUFFER') return OFP_NO_BUFFER;
  return uintN(v, 32, path);
}

/** A 64-bit counter as JSON: a number while exact, else a bigint (written exactly by stringifyJson). */
export function u64Json(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function get(o: Obj, k: string): Json | undefined {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

export function addrBytes(kind: AddrKind, s: string, path: string): Buffer {
  try {
    return parseAddr(kind, s);
  } catch {
    const like = kind === 'mac' ? 'a MAC address like aa:bb:cc:dd:ee:ff' : kind === 'ipv4' ? 'an IPv4 address' : 'an IPv6 address';
    throw bad(path, `${show(s)} is not ${like}`);
  }
}

export function addrText(kind: AddrKind, b: Buffer): string {
  return addrToText(kind, b);
}

/** An integer OXM value of `size` bytes: number up to 32 bits, bigint above (the codec's forms). */
export function oxmInt(n: bigint, size: number): OxmValue {
  return size <= 4 ? Number(n) : n;
}

/** The "dpid" key that ofctl_rest reads from every command body. */
export const DPID = 'dpid';

export function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}
