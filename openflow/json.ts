/**
 * Ryu's JSON form (to_jsondict / from_jsondict): value types and the checked accessors used by every
 * fromJson. Integers above 2^53 (cookies, datapath ids) are bigint; lossless-json keeps them exact in
 * text. Input errors name the key path, e.g. `OFPFlowMod.instructions[0].actions[1].port`.
 */
import { isSafeNumber, parse as losslessParse, stringify as losslessStringify } from 'lossless-json';
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

export function macToText(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const x = b[off + i] as number;
    s += (i ? ':' : '') + (x < 16 ? '0' : '') + x.toString(16);
  }
  return s;
}

export function macFromText(s: string, path: string): Buffer {
  const b = Buffer.alloc(6);
  writeMac(s, b, 0, path);
  return b;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Writes "01:23:45:67:89:ab" (1 or 2 hex digits per group) as 6 bytes at off; returns off + 6. */
export function writeMac(s: string, buf: Buffer, off: number, path: string): number {
  let i = 0;
  for (let g = 0; g < 6; g++) {
    if (g > 0) {
      if (s.charCodeAt(i) !== 58) throw jsonError(path, `expected a MAC address like 01:23:45:67:89:ab, got ${JSON.stringify(s)}`);
      i++;
    }
    const a = hexDigit(s.charCodeAt(i));
    const b = hexDigit(s.charCodeAt(i + 1));
    if (a < 0) throw jsonError(path, `expected a MAC address like 01:23:45:67:89:ab, got ${JSON.stringify(s)}`);
    if (b < 0) {
      buf[off + g] = a;
      i += 1;
    } else {
      buf[off + g] = a * 16 + b;
      i += 2;
    }
  }
  if (i !== s.length) throw jsonError(path, `expected a MAC address like 01:23:45:67:89:ab, got ${JSON.stringify(s)}`);
  return off + 6;
}

export function ipv4ToText(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function ipv4FromText(s: string, path: string): Buffer {
  const b = Buffer.alloc(4);
  writeIpv4(s, b, 0, path);
  return b;
}

/** Writes dotted-quad text as 4 bytes at off; returns off + 4. */
export function writeIpv4(s: string, buf: Buffer, off: number, path: string): number {
  let i = 0;
  for (let g = 0; g < 4; g++) {
    if (g > 0) {
      if (s.charCodeAt(i) !== 46) throw jsonError(path, `expected an IPv4 address, got ${JSON.stringify(s)}`);
      i++;
    }
    let v = 0;
    let digits = 0;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57 && digits < 4; c = s.charCodeAt(++i)) {
      v = v * 10 + (c - 48);
      digits++;
    }
    if (digits === 0 || digits > 3 || v > 255) throw jsonError(path, `expected an IPv4 address, got ${JSON.stringify(s)}`);
    buf[off + g] = v;
  }
  if (i !== s.length) throw jsonError(path, `expected an IPv4 address, got ${JSON.stringify(s)}`);
  return off + 4;
}

/** RFC 5952 text, as inet_ntop (and Ryu via netaddr) prints it, IPv4-mapped/compatible forms included. */
export function ipv6ToText(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number));
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i) s += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += ipv4ToText(b, off + 12);
      break;
    }
    s += (w[i] as number).toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) s += ':';
  return s;
}

export function ipv6FromText(s: string, path: string): Buffer {
  const bad = (): never => {
    throw jsonError(path, `expected an IPv6 address, got ${JSON.stringify(s)}`);
  };
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    const v4 = ipv4FromText(text.slice(lastColon + 1), path);
    tail.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const parse = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : bad())));
  const head = parse(halves[0] as string);
  const rest = halves.length === 2 ? parse(halves[1] as string) : [];
  const total = head.length + rest.length + tail.length;
  let words: number[];
  if (halves.length === 2) {
    if (total > 7) bad();
    words = [...head, ...new Array<number>(8 - total).fill(0), ...rest, ...tail];
  } else {
    if (total !== 8) bad();
    words = [...head, ...tail];
  }
  const out = Buffer.alloc(16);
  words.forEach((x, i) => out.writeUInt16BE(x, 2 * i));
  return out;
}
