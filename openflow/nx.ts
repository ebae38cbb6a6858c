/**
 * Nicira (NX) experimenter actions: OFPAT_EXPERIMENTER actions with experimenter 0x2320 and a 16-bit
 * subtype, in Ryu's JSON form (NXActionLearn, NXActionConjunction, NXActionRegMove, …). Each codec reads
 * and writes the whole action, header included. An action is decoded to its typed class only when
 * re-encoding that value gives back the same bytes; anything else (non-zero padding, surplus padding,
 * OXM headers Ryu cannot name) is kept as NXActionUnknown, whose raw body round-trips byte for byte.
 * Structural faults (bad length, truncation, reserved learn-spec types) raise OFPCodecError.
 */
import { NX_EXPERIMENTER_ID, OFPAT, OFPBAC, OFPET } from './consts.js';
import { OFPCodecError } from './errors.js';
import {
  type Json,
  type JsonObject,
  asArray,
  b64,
  big,
  describe,
  field as jsonField,
  jsonError,
  str,
  toB64,
  uint,
  unwrap,
} from './json.js';
import { OXM_BY_NAME, OxmIdCodec } from './oxm.js';
import { type AnyField, type Codec, type Field, type FieldsOf, type JsonState, type ReadState, type WriteState, u16, u32, u64, u8 } from './struct.js';
import { type ErrorKind, type Reader, align8, zero } from './wire.js';

/** type, len, experimenter, subtype. */
const HDR = 10;
const MAX_LEN = 0xfff8;

const BAD_LEN: ErrorKind = { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_LEN };
const BAD_ARGUMENT: ErrorKind = { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_ARGUMENT };
const BAD_TYPE: ErrorKind = { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_TYPE };
const BAD_EXPERIMENTER: ErrorKind = { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_EXPERIMENTER };
const BAD_EXP_TYPE: ErrorKind = { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_EXP_TYPE };

const HEADER_KEYS = ['type', 'len', 'experimenter', 'subtype'] as const;

type Obj = Record<string, unknown>;
type Flat<T> = { readonly [K in keyof T]: T[K] } & {};

/** Raised inside a typed read when the bytes are valid but would not re-encode identically. */
class NotCanonical extends Error {}

function codecError(kind: ErrorKind, detail: string): OFPCodecError {
  return new OFPCodecError(kind.errType, kind.code, detail);
}

function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

// ---- OXM/NXM field references ---------------------------------------------------------------------

interface HeaderInfo {
  /** Bytes of header on the wire: 4, 8 for experimenter fields, 10 for EXT-256 ones. */
  readonly bytes: number;
  /** The header's length byte as Ryu writes it (hasmask always 0). */
  readonly lengthByte: number;
}

/** How Ryu writes the bare header of a named field; undefined for names outside the OXM table. */
function headerInfo(name: string): HeaderInfo | undefined {
  const def = OXM_BY_NAME.get(name);
  if (def === undefined) return undefined;
  const ext = (def.experimenter !== undefined ? 4 : 0) + (def.expType !== undefined ? 2 : 0);
  return { bytes: 4 + ext, lengthByte: ext + def.size };
}

function fieldName(j: Json | undefined, path: string, slot4: boolean): string {
  const name = str(j, path);
  const info = headerInfo(name);
  if (info === undefined) throw jsonError(path, `unknown OXM/NXM field ${JSON.stringify(name)}`);
  if (slot4 && info.bytes !== 4) throw jsonError(path, `${name} has an experimenter header; this action has room for 4 bytes only`);
  return name;
}

function fieldInfo(name: string, what: string): HeaderInfo {
  const info = headerInfo(name);
  if (info === undefined) throw codecError(BAD_ARGUMENT, `${what}: unknown OXM/NXM field ${JSON.stringify(name)}`);
  return info;
}

/** Reads a bare OXM/NXM header; only headers exactly as Ryu writes them for a known field are accepted. */
function readHeaderName(r: Reader, slot4: boolean): string {
  if (slot4 && r.peek16(0, 'OXM header') === 0xffff) {
    r.skip(4, 'OXM header');
    throw new NotCanonical('experimenter header in a 4-byte slot');
  }
  const id = OxmIdCodec.read(r);
  const info = headerInfo(id.type);
  if (info === undefined || id.hasmask || id.length !== info.lengthByte) {
    throw new NotCanonical(`OXM header ${id.type} not as Ryu writes it`);
  }
  return id.type;
}

function writeHeaderName(name: string, buf: Buffer, off: number, what: string): number {
  const info = fieldInfo(name, what);
  return OxmIdCodec.write({ type: name, hasmask: false, length: info.lengthByte }, buf, off);
}

// ---- field kinds beyond struct.ts ------------------------------------------------------------------

/** Padding that must read as zeros (otherwise the action is kept raw). */
function zpad(n: number): Field<'', never> {
  return {
    key: '',
    fixed: n,
    size: () => n,
    read(r) {
      const at = r.pos;
      r.skip(n);
      if (!allZero(r.buf, at, at + n)) throw new NotCanonical('non-zero padding');
    },
    write: (_o, buf, off) => zero(buf, off, n),
    json() {},
    parse() {},
  };
}

/** A u64 with Ryu's constructor default when JSON lacks it. */
function u64d<K extends string>(key: K, dflt: bigint): Field<K, bigint> {
  const base = u64(key);
  return {
    ...base,
    parse(j, o, path) {
      if (j[key] === undefined) o[key] = dflt;
      else base.parse(j, o, path);
    },
  };
}

/** A field named by its OXM/NXM header (a JSON string). slot4: a fixed 4-byte slot (no experimenter fields). */
function oxmName<K extends string>(key: K, slot4: boolean): Field<K, string> {
  return {
    key,
    fixed: slot4 ? 4 : undefined,
    size: (o) => (slot4 ? 4 : fieldInfo(o[key] as string, key).bytes),
    read(r, o) {
      o[key] = readHeaderName(r, slot4);
    },
    write: (o, buf, off) => writeHeaderName(o[key] as string, buf, off, key),
    json(o, out) {
      out[key] = o[key] as string;
    },
    parse(j, o, path) {
      o[key] = fieldName(jsonField(j, key, path), `${path}.${key}`, slot4);
    },
  };
}

/** NXActionNote: every byte after the subtype, padding included (as Ryu shows it), as a list of u8. */
function noteBytes<K extends string>(key: K): Field<K, readonly number[]> {
  return {
    key,
    fixed: undefined,
    size: (o) => (o[key] as readonly number[]).length,
    read(r, o) {
      o[key] = [...r.bytes(r.remaining, key)];
    },
    write(o, buf, off) {
      for (const b of o[key] as readonly number[]) off = buf.writeUInt8(b, off);
      return off;
    },
    json(o, out) {
      out[key] = [...(o[key] as readonly number[])];
    },
    parse(j, o, path) {
      const p = `${path}.${key}`;
      o[key] = asArray(jsonField(j, key, path), p).map((b, i) => uint(b, 8, `${p}[${i}]`));
    },
  };
}

// ---- learn flow specs ------------------------------------------------------------------------------

/** A subfield: OXM/NXM field name and start bit. */
export type NxFieldRef = readonly [field: string, ofs: number];
/** A learn spec source: a subfield, or an immediate value (ceil(n_bits/16)*2 bytes on the wire). */
export type NxFlowSpecSrc = NxFieldRef | bigint;

/** Adds a match criterion to the learned flow. */
export interface NXFlowSpecMatch {
  readonly kind: 'NXFlowSpecMatch';
  readonly src: NxFlowSpecSrc;
  readonly dst: NxFieldRef;
  readonly n_bits: number;
}

/** Adds a register load to the learned flow's actions. */
export interface NXFlowSpecLoad {
  readonly kind: 'NXFlowSpecLoad';
  readonly src: NxFlowSpecSrc;
  readonly dst: NxFieldRef;
  readonly n_bits: number;
}

/** Adds an output action to the learned flow (its dst is '' in Ryu's JSON). */
export interface NXFlowSpecOutput {
  readonly kind: 'NXFlowSpecOutput';
  readonly src: NxFlowSpecSrc;
  readonly n_bits: number;
}

export type NxFlowSpec = NXFlowSpecMatch | NXFlowSpecLoad | NXFlowSpecOutput;

const SPEC_KINDS = ['NXFlowSpecMatch', 'NXFlowSpecLoad', 'NXFlowSpecOutput'] as const;
const SPEC_SRC_IMMEDIATE = 1 << 13;
/** Bits 15-14 and 10 of a spec header are reserved (n_bits is bits 9-0). */
const SPEC_RESERVED = 0xc400;
const N_BITS_MAX = 0x3ff;

const immBytes = (nBits: number): number => Math.ceil(nBits / 16) * 2;

function refSize(ref: NxFieldRef): number {
  return fieldInfo(ref[0], 'NXActionLearn spec').bytes + 2;
}

function specSize(s: NxFlowSpec): number {
  const src = typeof s.src === 'bigint' ? immBytes(s.n_bits) : refSize(s.src);
  return 2 + src + (s.kind === 'NXFlowSpecOutput' ? 0 : refSize(s.dst));
}

function readRef(r: Reader): NxFieldRef {
  const name = readHeaderName(r, false);
  return [name, r.u16('subfield offset')];
}

function writeRef(ref: NxFieldRef, buf: Buffer, off: number): number {
  off = writeHeaderName(ref[0], buf, off, 'NXActionLearn spec');
  return buf.writeUInt16BE(ref[1], off);
}

function readSpec(r: Reader): NxFlowSpec {
  const at = r.pos;
  const hdr = r.u16('flow spec header');
  if ((hdr & SPEC_RESERVED) !== 0) r.fail(BAD_ARGUMENT, `learn spec header 0x${hdr.toString(16)} has reserved bits set`, at);
  const dstType = (hdr >> 11) & 3;
  const kind = SPEC_KINDS[dstType];
  if (kind === undefined) r.fail(BAD_ARGUMENT, `learn spec header 0x${hdr.toString(16)} has the reserved destination type 3`, at);
  const n_bits = hdr & N_BITS_MAX;
  let src: NxFlowSpecSrc;
  if ((hdr & SPEC_SRC_IMMEDIATE) !== 0) {
    const b = r.bytes(immBytes(n_bits), 'learn spec immediate value');
    src = b.length === 0 ? 0n : BigInt('0x' + b.toString('hex'));
  } else {
    src = readRef(r);
  }
  if (kind === 'NXFlowSpecOutput') return { kind, src, n_bits };
  return { kind, src, dst: readRef(r), n_bits };
}

function writeSpec(s: NxFlowSpec, buf: Buffer, off: number): number {
  const imm = typeof s.src === 'bigint';
  off = buf.writeUInt16BE((imm ? SPEC_SRC_IMMEDIATE : 0) | (SPEC_KINDS.indexOf(s.kind) << 11) | s.n_bits, off);
  if (typeof s.src === 'bigint') {
    const n = immBytes(s.n_bits);
    if (s.src < 0n || s.src >= 1n << BigInt(8 * n)) {
      throw codecError(BAD_ARGUMENT, `NXActionLearn spec: immediate ${s.src} does not fit in ${n} bytes (n_bits ${s.n_bits})`);
    }
    let x = s.src;
    for (let i = n - 1; i >= 0; i--) {
      buf[off + i] = Number(x & 0xffn);
      x >>= 8n;
    }
    off += n;
  } else {
    off = writeRef(s.src, buf, off);
  }
  return s.kind === 'NXFlowSpecOutput' ? off : writeRef(s.dst, buf, off);
}

const refJson = (ref: NxFieldRef): Json => [ref[0], ref[1]];

function specToJson(s: NxFlowSpec): Json {
  const src = typeof s.src === 'bigint' ? big(s.src) : refJson(s.src);
  const dst = s.kind === 'NXFlowSpecOutput' ? '' : refJson(s.dst);
  return { [s.kind]: { dst, n_bits: s.n_bits, src } };
}

function parseRef(j: Json | undefined, path: string): NxFieldRef {
  const a = asArray(j, path);
  if (a.length !== 2) throw jsonError(path, `expected [field, ofs], got ${a.length} elements`);
  return [fieldName(a[0], `${path}[0]`, false), uint(a[1], 16, `${path}[1]`)];
}

function parseImmediate(j: Json, nBits: number, path: string): bigint {
  let v: bigint;
  if (typeof j === 'bigint') v = j;
  else if (typeof j === 'number' && Number.isSafeInteger(j)) v = BigInt(j);
  else throw jsonError(path, `expected an integer or [field, ofs], got ${describe(j)}`);
  const bytes = immBytes(nBits);
  if (v < 0n || v >= 1n << BigInt(8 * bytes)) {
    throw jsonError(path, `immediate ${v} does not fit in the ${bytes} bytes that n_bits ${nBits} gives`);
  }
  return v;
}

function checkKeys(body: JsonObject, allowed: ReadonlySet<string>, path: string): void {
  for (const k of Object.keys(body)) if (!allowed.has(k)) throw jsonError(`${path}.${k}`, 'unknown field');
}

const SPEC_KEYS: ReadonlySet<string> = new Set(['src', 'dst', 'n_bits']);

function specFromJson(j: Json, path: string): NxFlowSpec {
  const [name, body] = unwrap(j, path);
  const kind = SPEC_KINDS.find((k) => k === name);
  if (kind === undefined) throw jsonError(path, `expected one of ${SPEC_KINDS.join(', ')}, got ${name}`);
  const p = `${path}.${kind}`;
  checkKeys(body, SPEC_KEYS, p);
  const n_bits = uint(jsonField(body, 'n_bits', p), 10, `${p}.n_bits`);
  const rawSrc = jsonField(body, 'src', p);
  const src = Array.isArray(rawSrc) ? parseRef(rawSrc, `${p}.src`) : parseImmediate(rawSrc, n_bits, `${p}.src`);
  if (kind === 'NXFlowSpecOutput') {
    const dst = body['dst'];
    if (dst !== undefined && dst !== '') throw jsonError(`${p}.dst`, `must be "" for an output spec, got ${describe(dst)}`);
    return { kind, src, n_bits };
  }
  return { kind, src, dst: parseRef(jsonField(body, 'dst', p), `${p}.dst`), n_bits };
}

/** Learn specs until the action's end or a zero header (the padding that follows is checked by the action). */
function flowSpecs<K extends string>(key: K): Field<K, readonly NxFlowSpec[]> {
  return {
    key,
    fixed: undefined,
    size(o) {
      let n = 0;
      for (const s of o[key] as readonly NxFlowSpec[]) n += specSize(s);
      return n;
    },
    read(r, o) {
      const out: NxFlowSpec[] = [];
      while (r.remaining >= 2 && r.peek16(0, 'flow spec header') !== 0) out.push(readSpec(r));
      o[key] = out;
    },
    write(o, buf, off) {
      for (const s of o[key] as readonly NxFlowSpec[]) off = writeSpec(s, buf, off);
      return off;
    },
    json(o, out) {
      out[key] = (o[key] as readonly NxFlowSpec[]).map(specToJson);
    },
    parse(j, o, path) {
      const p = `${path}.${key}`;
      o[key] = asArray(jsonField(j, key, path), p).map((e, i) => specFromJson(e, `${p}[${i}]`));
    },
  };
}

// ---- action definitions ----------------------------------------------------------------------------

interface NxDef<T> {
  readonly cls: string;
  readonly subtype: number;
  readonly fields: readonly AnyField[];
  /** Smallest acceptable len before rounding to 8. */
  readonly min: number;
  /** Phantom: the value type. */
  readonly __value?: T;
}

type NxValue<D> = D extends NxDef<infer T> ? T : never;

/** varMin: least bytes taken by the variable-size fields. */
function nx<N extends string, const F extends readonly AnyField[]>(
  cls: N,
  subtype: number,
  fields: F,
  varMin = 0,
): NxDef<Flat<{ readonly kind: N } & FieldsOf<F>>> {
  let min = HDR + varMin;
  for (const f of fields) min += f.fixed ?? 0;
  return { cls, subtype, fields, min };
}

const RESUBMIT = nx('NXActionResubmit', 1, [u16('in_port', { dflt: 0xfff8 }), zpad(4)]);
const SET_TUNNEL = nx('NXActionSetTunnel', 2, [zpad(2), u32('tun_id')]);
const SET_QUEUE = nx('NXActionSetQueue', 4, [zpad(2), u32('queue_id')]);
const POP_QUEUE = nx('NXActionPopQueue', 5, [zpad(6)]);
const REG_MOVE = nx(
  'NXActionRegMove',
  6,
  [u16('n_bits'), u16('src_ofs', { dflt: 0 }), u16('dst_ofs', { dflt: 0 }), oxmName('src_field', false), oxmName('dst_field', false)],
  8,
);
const REG_LOAD = nx('NXActionRegLoad', 7, [u16('ofs_nbits'), oxmName('dst', true), u64('value')]);
const NOTE = nx('NXActionNote', 8, [noteBytes('note')]);
const SET_TUNNEL64 = nx('NXActionSetTunnel64', 9, [zpad(6), u64('tun_id')]);
const RESUBMIT_TABLE = nx('NXActionResubmitTable', 14, [u16('in_port', { dflt: 0xfff8 }), u8('table_id', { dflt: 0xff }), zpad(3)]);
const OUTPUT_REG = nx('NXActionOutputReg', 15, [u16('ofs_nbits'), oxmName('src', true), u16('max_len'), zpad(6)]);
const LEARN = nx('NXActionLearn', 16, [
  u16('idle_timeout', { dflt: 0 }),
  u16('hard_timeout', { dflt: 0 }),
  u16('priority', { dflt: 0x8000 }),
  u64d('cookie', 0n),
  u16('flags', { dflt: 0 }),
  u8('table_id'),
  zpad(1),
  u16('fin_idle_timeout', { dflt: 0 }),
  u16('fin_hard_timeout', { dflt: 0 }),
  flowSpecs('specs'),
]);
const EXIT = nx('NXActionExit', 17, [zpad(6)]);
const DEC_TTL = nx('NXActionDecTtl', 18, [zpad(6)]);
const CONTROLLER = nx('NXActionController', 20, [u16('max_len'), u16('controller_id'), u8('reason'), zpad(1)]);
const PUSH_MPLS = nx('NXActionPushMpls', 23, [u16('ethertype'), zpad(4)]);
const POP_MPLS = nx('NXActionPopMpls', 24, [u16('ethertype'), zpad(4)]);
const SET_MPLS_TTL = nx('NXActionSetMplsTtl', 25, [u8('ttl'), zpad(5)]);
const DEC_MPLS_TTL = nx('NXActionDecMplsTtl', 26, [zpad(6)]);
const SET_MPLS_LABEL = nx('NXActionSetMplsLabel', 30, [zpad(2), u32('label')]);
const SET_MPLS_TC = nx('NXActionSetMplsTc', 31, [u8('tc'), zpad(5)]);
const CONJUNCTION = nx('NXActionConjunction', 34, [u8('clause'), u8('n_clauses'), u32('id')]);
const CT_CLEAR = nx('NXActionCTClear', 43, [zpad(6)]);

export type NXActionResubmit = NxValue<typeof RESUBMIT>;
export type NXActionSetTunnel = NxValue<typeof SET_TUNNEL>;
export type NXActionSetQueue = NxValue<typeof SET_QUEUE>;
export type NXActionPopQueue = NxValue<typeof POP_QUEUE>;
export type NXActionRegMove = NxValue<typeof REG_MOVE>;
export type NXActionRegLoad = NxValue<typeof REG_LOAD>;
export type NXActionNote = NxValue<typeof NOTE>;
export type NXActionSetTunnel64 = NxValue<typeof SET_TUNNEL64>;
export type NXActionResubmitTable = NxValue<typeof RESUBMIT_TABLE>;
export type NXActionOutputReg = NxValue<typeof OUTPUT_REG>;
export type NXActionLearn = NxValue<typeof LEARN>;
export type NXActionExit = NxValue<typeof EXIT>;
export type NXActionDecTtl = NxValue<typeof DEC_TTL>;
export type NXActionController = NxValue<typeof CONTROLLER>;
export type NXActionPushMpls = NxValue<typeof PUSH_MPLS>;
export type NXActionPopMpls = NxValue<typeof POP_MPLS>;
export type NXActionSetMplsTtl = NxValue<typeof SET_MPLS_TTL>;
export type NXActionDecMplsTtl = NxValue<typeof DEC_MPLS_TTL>;
export type NXActionSetMplsLabel = NxValue<typeof SET_MPLS_LABEL>;
export type NXActionSetMplsTc = NxValue<typeof SET_MPLS_TC>;
export type NXActionConjunction = NxValue<typeof CONJUNCTION>;
export type NXActionCTClear = NxValue<typeof CT_CLEAR>;

/** Any other subtype, or a known one whose bytes a typed value would not reproduce: the body kept raw. */
export interface NXActionUnknown {
  readonly kind: 'NXActionUnknown';
  readonly subtype: number;
  /** Everything after the subtype, padding included. */
  readonly data: Buffer;
}

export type NxAction =
  | NXActionResubmit
  | NXActionSetTunnel
  | NXActionSetQueue
  | NXActionPopQueue
  | NXActionRegMove
  | NXActionRegLoad
  | NXActionNote
  | NXActionSetTunnel64
  | NXActionResubmitTable
  | NXActionOutputReg
  | NXActionLearn
  | NXActionExit
  | NXActionDecTtl
  | NXActionController
  | NXActionPushMpls
  | NXActionPopMpls
  | NXActionSetMplsTtl
  | NXActionDecMplsTtl
  | NXActionSetMplsLabel
  | NXActionSetMplsTc
  | NXActionConjunction
  | NXActionCTClear
  | NXActionUnknown;

// ---- the shared header -----------------------------------------------------------------------------

/** Reads and checks type/len/experimenter/subtype at r.pos; returns len. subtype undefined: any. */
function readHeader(r: Reader, cls: string, subtype: number | undefined, min: number): { len: number; subtype: number } {
  const start = r.pos;
  if (r.remaining < HDR) r.fail(BAD_LEN, `truncated ${cls}: needs ${HDR} bytes, ${Math.max(0, r.remaining)} left`);
  const type = r.buf.readUInt16BE(start);
  const len = r.buf.readUInt16BE(start + 2);
  const experimenter = r.buf.readUInt32BE(start + 4);
  const sub = r.buf.readUInt16BE(start + 8);
  if (type !== OFPAT.EXPERIMENTER) r.fail(BAD_TYPE, `${cls}: action type ${type} is not OFPAT_EXPERIMENTER`, start);
  if (experimenter !== NX_EXPERIMENTER_ID) r.fail(BAD_EXPERIMENTER, `${cls}: experimenter 0x${experimenter.toString(16)} is not Nicira`, start + 4);
  if (subtype !== undefined && sub !== subtype) r.fail(BAD_EXP_TYPE, `${cls}: subtype ${sub}, expected ${subtype}`, start + 8);
  if (len < min) r.fail(BAD_LEN, `${cls} has length ${len}, needs at least ${align8(min)}`, start + 2);
  if (len % 8 !== 0) r.fail(BAD_LEN, `${cls} has length ${len}, not a multiple of 8`, start + 2);
  if (len > r.end - start) r.fail(BAD_LEN, `${cls} claims ${len} bytes, ${r.end - start} left`, start + 2);
  r.pos = start + HDR;
  return { len, subtype: sub };
}

function writeHeader(buf: Buffer, off: number, len: number, subtype: number): number {
  off = buf.writeUInt16BE(OFPAT.EXPERIMENTER, off);
  off = buf.writeUInt16BE(len, off);
  off = buf.writeUInt32BE(NX_EXPERIMENTER_ID, off);
  return buf.writeUInt16BE(subtype, off);
}

function headerJson(len: number, subtype: number): Record<string, Json> {
  return { type: OFPAT.EXPERIMENTER, len, experimenter: NX_EXPERIMENTER_ID, subtype };
}

/** Checks the header keys of a JSON body; returns its subtype (or the expected one when absent). */
function parseHeaderKeys(body: JsonObject, path: string, subtype: number | undefined): number {
  const type = body['type'];
  if (type !== undefined && type !== OFPAT.EXPERIMENTER) throw jsonError(`${path}.type`, `expected ${OFPAT.EXPERIMENTER}, got ${describe(type)}`);
  const exp = body['experimenter'];
  if (exp !== undefined && exp !== NX_EXPERIMENTER_ID) throw jsonError(`${path}.experimenter`, `expected ${NX_EXPERIMENTER_ID}, got ${describe(exp)}`);
  if (body['len'] !== undefined) uint(body['len'], 16, `${path}.len`);
  const sub = body['subtype'];
  if (subtype === undefined) return uint(jsonField(body, 'subtype', path), 16, `${path}.subtype`);
  if (sub !== undefined && sub !== subtype) throw jsonError(`${path}.subtype`, `expected ${subtype}, got ${describe(sub)}`);
  return subtype;
}

function checkLen(len: number, cls: string): void {
  if (len > MAX_LEN) throw codecError(BAD_LEN, `${cls} would be ${len} bytes long, over ${MAX_LEN}`);
}

// ---- codecs ----------------------------------------------------------------------------------------

const unknownSize = (v: NXActionUnknown): number => align8(HDR + v.data.length);

const UNKNOWN_KEYS: ReadonlySet<string> = new Set([...HEADER_KEYS, 'data']);

function unknownAt(r: Reader, start: number, len: number, subtype: number): NXActionUnknown {
  r.pos = start + len;
  return { kind: 'NXActionUnknown', subtype, data: Buffer.from(r.buf.subarray(start + HDR, start + len)) };
}

function asUnknown(v: NxAction): NXActionUnknown {
  if (v.kind !== 'NXActionUnknown') throw jsonError('NXActionUnknown', `cannot write a ${v.kind} value`);
  return v;
}

/** NXActionUnknown: any subtype, the body after the subtype kept as raw bytes (base64 in JSON). */
export const NxActionUnknownCodec: Codec<NxAction> = {
  cls: 'NXActionUnknown',
  size: (v) => unknownSize(asUnknown(v)),
  write(v, buf, off) {
    const u = asUnknown(v);
    const len = unknownSize(u);
    checkLen(len, 'NXActionUnknown');
    const start = off;
    off = writeHeader(buf, off, len, u.subtype);
    buf.set(u.data, off);
    off += u.data.length;
    return zero(buf, off, start + len - off);
  },
  read(r) {
    const start = r.pos;
    const h = readHeader(r, 'NXActionUnknown', undefined, HDR);
    return unknownAt(r, start, h.len, h.subtype);
  },
  toJson(v) {
    const u = asUnknown(v);
    return { NXActionUnknown: { ...headerJson(unknownSize(u), u.subtype), data: toB64(u.data) } };
  },
  fromJson(j, path) {
    const [name, body] = unwrap(j, path);
    if (name !== 'NXActionUnknown') throw jsonError(path, `expected NXActionUnknown, got ${name}`);
    const p = `${path}.NXActionUnknown`;
    checkKeys(body, UNKNOWN_KEYS, p);
    const subtype = parseHeaderKeys(body, p, undefined);
    const data = body['data'] === undefined || body['data'] === null ? Buffer.alloc(0) : b64(body['data'], `${p}.data`);
    const v: NXActionUnknown = { kind: 'NXActionUnknown', subtype, data };
    checkLen(unknownSize(v), p);
    return v;
  },
};

function nxCodec(def: NxDef<unknown>): Codec<NxAction> {
  const { cls, subtype, fields, min } = def;
  const allowed: ReadonlySet<string> = new Set([...HEADER_KEYS, ...fields.map((f) => f.key).filter((k) => k !== '')]);
  const own = (v: NxAction): Obj => {
    if (v.kind !== cls) throw jsonError(cls, `cannot write a ${v.kind} value`);
    return v as unknown as Obj;
  };
  const bodySize = (o: Obj): number => {
    let n = 0;
    for (const f of fields) n += f.fixed ?? f.size(o);
    return n;
  };
  const size = (o: Obj): number => align8(HDR + bodySize(o));
  return {
    cls,
    size: (v) => size(own(v)),
    write(v, buf, off) {
      const o = own(v);
      const len = size(o);
      checkLen(len, cls);
      const start = off;
      off = writeHeader(buf, off, len, subtype);
      const st: WriteState = { start, selfLenAt: -1, lenAt: undefined };
      for (const f of fields) off = f.write(o, buf, off, st);
      return zero(buf, off, start + len - off);
    },
    read(r) {
      const start = r.pos;
      const { len } = readHeader(r, cls, subtype, min);
      const end = start + len;
      const o: Obj = { kind: cls };
      try {
        r.withEnd(
          len - HDR,
          cls,
          () => {
            const st: ReadState = { start, lens: undefined };
            for (const f of fields) f.read(r, o, st);
            const used = r.pos - start;
            if (align8(used) !== len) throw new NotCanonical(`${len - used} bytes of padding`);
            if (!allZero(r.buf, r.pos, end)) throw new NotCanonical('non-zero padding');
          },
          BAD_LEN,
        );
      } catch (e) {
        if (e instanceof NotCanonical) return unknownAt(r, start, len, subtype);
        throw e;
      }
      r.pos = end;
      return o as unknown as NxAction;
    },
    toJson(v) {
      const o = own(v);
      const len = size(o);
      const out = headerJson(len, subtype);
      const js: JsonState = { size: len, sizeOf: () => 0 };
      for (const f of fields) f.json(o, out, js);
      return { [cls]: out };
    },
    fromJson(j, path) {
      const [name, body] = unwrap(j, path);
      if (name !== cls) throw jsonError(path, `expected ${cls}, got ${name}`);
      const p = `${path}.${cls}`;
      checkKeys(body, allowed, p);
      parseHeaderKeys(body, p, subtype);
      const o: Obj = { kind: cls };
      for (const f of fields) f.parse(body, o, p);
      checkLen(size(o), p);
      return o as unknown as NxAction;
    },
  };
}

const DEFS: readonly NxDef<unknown>[] = [
  RESUBMIT,
  SET_TUNNEL,
  SET_QUEUE,
  POP_QUEUE,
  REG_MOVE,
  REG_LOAD,
  NOTE,
  SET_TUNNEL64,
  RESUBMIT_TABLE,
  OUTPUT_REG,
  LEARN,
  EXIT,
  DEC_TTL,
  CONTROLLER,
  PUSH_MPLS,
  POP_MPLS,
  SET_MPLS_TTL,
  DEC_MPLS_TTL,
  SET_MPLS_LABEL,
  SET_MPLS_TC,
  CONJUNCTION,
  CT_CLEAR,
];

/**
 * The typed NX action codecs with their dispatch keys `nx:<subtype>`. A codec's read may return an
 * NXActionUnknown value (see the file comment), so NxActionUnknownCodec must be writable too.
 */
export const NX_ACTION_MEMBERS: readonly (readonly [Codec<NxAction>, string])[] = DEFS.map(
  (d) => [nxCodec(d), `nx:${d.subtype}`] as const,
);
