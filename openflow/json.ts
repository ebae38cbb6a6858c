/**
 * Ryu's JSON form (to_jsondict / from_jsondict): value types and the checked accessors used by every
 * fromJson. Integers above 2^53 (cookies, datapath ids) are bigint; lossless-json keeps them exact in
 * text. Input errors name the key path, e.g. `OFPFlowMod.instructions[0].actions[1].port`.
 */
import { isSafeNumber, parse as losslessParse, stringify as losslessStringify } from 'lossless-json';
import { ADDR_BYTES, AddrError, type AddrKind, parseAddrInto } from '../base/addr.js';
import { OFPBRC, OFPET } from './consts.js';
import { OFPCodecError } from './errors.js';

export type Json = null | boolean | number | bigint | string | readonly Json[] | { readonly [k: string]: Json };
export type JsonObject = { readonly [k: string]: Json };

export function jsonError(path: string, detail: string): OFPCodecError {
  return new OFPCodecError(OFPET.BAD_REQUEST, OFPBRC.BAD_PACKET, `${path}: ${detail}`);
}

/** Parses JSON text keeping integers beyond 2^53 exact (as bigint). */
export function parseJson(text: string): Json {
  return losslessParse(text, null, (value: string) => {
    if (isSafeNumber(value)) return Number(value);
    if (/^-?\d+$/.test(value)) return BigInt(value);
    return Number(value);
  }) as Json;
}

export function stringifyJson(value: Json, indent?: number): string {
  return losslessStringify(value, undefined, indent) ?? 'null';
}

export function isObject(j: Json | undefined): j is JsonObject {
  return typeof j === 'object' && j !== null && !Array.isArray(j);
}

export function asObject(j: Json | undefined, path: string): JsonObject {
  if (!isObject(j)) throw jsonError(path, `expected an object, got ${describe(j)}`);
  return j;
}

export function asArray(j: Json | undefined, path: string): readonly Json[] {
  if (!Array.isArray(j)) throw jsonError(path, `expected an array, got ${describe(j)}`);
  return j as readonly Json[];
}

/** `{ClassName: {...}}` → [ClassName, body]. */
export function unwrap(j: Json | undefined, path: string): [string, JsonObject] {
  const o = asObject(j, path);
  const keys = Object.keys(o);
  if (keys.length !== 1) throw jsonError(path, `expected {ClassName: {...}} with one key, got keys [${keys.join(', ')}]`);
  const k = keys[0] as string;
  return [k, asObject(o[k], `${path}.${k}`)];
}

export function describe(j: Json | undefined): string {
  if (j === undefined) return 'nothing';
  if (j === null) return 'null';
  if (Array.isArray(j)) return 'an array';
  if (typeof j === 'object') return 'an object';
  if (typeof j === 'string') return `the string ${JSON.stringify(j.length > 40 ? j.slice(0, 40) + '…' : j)}`;
  return `${typeof j} ${String(j)}`;
}

/** An unsigned integer of `bits` bits (≤ 32) from a number or bigint. */
export function uint(j: Json | undefined, bits: number, path: string): number {
  let v: number;
  if (typeof j === 'number') v = j;
  else if (typeof j === 'bigint') v = Number(j);
  else throw jsonError(path, `expected an unsigned ${bits}-bit integer, got ${describe(j)}`);
  if (!Number.isInteger(v) || v < 0 || v > 2 ** bits - 1) {
    throw jsonError(path, `expected an unsigned ${bits}-bit integer, got ${String(j)}`);
  }
  return v;
}

export function uint64(j: Json | undefined, path: string): bigint {
  let v: bigint;
  if (typeof j === 'bigint') v = j;
  else if (typeof j === 'number' && Number.isInteger(j)) v = BigInt(j);
  else throw jsonError(path, `expected an unsigned 64-bit integer, got ${describe(j)}`);
  if (v < 0n || v > 0xffffffffffffffffn) throw jsonError(path, `expected an unsigned 64-bit integer, got ${v}`);
  return v;
}

/** JSON form of a 64-bit value: a number when exact, else a bigint. */
export function big(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function str(j: Json | undefined, path: string): string {
  if (typeof j !== 'string') throw jsonError(path, `expected a string, got ${describe(j)}`);
  return j;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function b64(j: Json | undefined, path: string): Buffer {
  const s = str(j, path);
  if (s.length % 4 !== 0 || !B64.test(s)) throw jsonError(path, `expected base64 data, got ${describe(j)}`);
  return Buffer.from(s, 'base64');
}

export function toB64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Reads key k of o; a missing key is an error unless a default is given. */
export function field(o: JsonObject, k: string, path: string): Json {
  const v = o[k];
  if (v === undefined) throw jsonError(`${path}.${k}`, 'missing');
  return v;
}

// ---- addresses -------------------------------------------------------------------------------------
// The text itself is base/addr.ts's (the one implementation in tinflow); here it gets the codec's
// errors, which name the key path.

export { ipv4ToText, ipv6ToText, macToText } from '../base/addr.js';

function writeAddr(kind: AddrKind, s: string, buf: Buffer, off: number, path: string): number {
  if (!parseAddrInto(kind, s, buf, off)) throw jsonError(path, new AddrError(kind, s).message);
  return off + ADDR_BYTES[kind];
}

/** Writes "01:23:45:67:89:ab" (1 or 2 hex digits per group) as 6 bytes at off; returns off + 6. */
export function writeMac(s: string, buf: Buffer, off: number, path: string): number {
  return writeAddr('mac', s, buf, off, path);
}

/** Writes dotted-quad text as 4 bytes at off; returns off + 4. */
export function writeIpv4(s: string, buf: Buffer, off: number, path: string): number {
  return writeAddr('ipv4', s, buf, off, path);
}

export function macFromText(s: string, path: string): Buffer {
  const b = Buffer.alloc(6);
  writeAddr('mac', s, b, 0, path);
  return b;
}

export function ipv4FromText(s: string, path: string): Buffer {
  const b = Buffer.alloc(4);
  writeAddr('ipv4', s, b, 0, path);
  return b;
}

export function ipv6FromText(s: string, path: string): Buffer {
  const b = Buffer.alloc(16);
  writeAddr('ipv6', s, b, 0, path);
  return b;
}
