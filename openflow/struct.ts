/**
 * A small, typed struct DSL. Each OpenFlow struct is declared once as a list of fields in wire order;
 * from that one declaration come its TypeScript type, its encoded length, its encoder (one pass, lengths
 * back-patched last), its bounds-checked decoder and both directions of Ryu's JSON. Structs whose layout
 * is not a plain sequence (match, OXM TLVs, error messages) implement Codec by hand.
 *
 * Values are plain readonly objects. Polymorphic structs (actions, instructions, bands, properties,
 * messages) carry their Ryu class name in a tag key (`kind`, or `type` for messages); the numeric wire
 * type is derived from the class and never stored twice.
 */
import {
  type Json,
  type JsonObject,
  asArray,
  b64,
  big,
  field as jsonField,
  jsonError,
  macFromText,
  macToText,
  str as jsonStr,
  toB64,
  uint,
  uint64,
  unwrap,
} from './json.js';
import { type CompileOpts, compileRead, compileWrite } from './compile.js';
import { BAD_LEN, type ErrorKind, Reader, align8, writeU64, zero } from './wire.js';

/** Encode, decode, length and Ryu JSON for one entity (dns-packet's encode/decode/encodingLength). */
export interface Codec<T> {
  /** Ryu class name: the key of its JSON form. */
  readonly cls: string;
  /** Encoded length in bytes (padding included). */
  size(v: T): number;
  /** Writes v at off; returns the offset after it. */
  write(v: T, buf: Buffer, off: number): number;
  /** Reads one entity at r.pos, advancing r. */
  read(r: Reader): T;
  /** `{Class: {...}}` as Ryu's to_jsondict writes it, lengths included. */
  toJson(v: T): Json;
  /** Reads `{Class: {...}}`; lengths may be absent (they are computed). */
  fromJson(j: Json, path: string): T;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

type Obj = Record<string, unknown>;

export interface ReadState {
  readonly start: number;
  /** Byte lengths announced by length fields for later list fields. */
  lens: Record<string, number> | undefined;
}

export interface WriteState {
  readonly start: number;
  selfLenAt: number;
  /** Where to back-patch the byte length of a later list field, and the width of that length. */
  lenAt: Record<string, { at: number; width: 2 | 4 }> | undefined;
}

export interface JsonState {
  readonly size: number;
  sizeOf(key: string): number;
}

/** One field of a struct. K is its key in the TypeScript value ('' for none), V its value type. */
export interface Field<K extends string, V> {
  readonly key: K;
  /** Phantom: carries V for type inference only. */
  readonly __value?: V;
  /** Fixed encoded size, or undefined when it depends on the value. */
  readonly fixed: number | undefined;
  /** Marks the struct's own length field. */
  readonly selfLen?: true;
  /**
   * For fixed scalar fields: JavaScript source that reads the value from `b` at an offset expression,
   * and writes `val` into `buf` there (compile.ts builds each struct's read and write from these).
   */
  readonly gen?: {
    readonly read?: (at: string) => string;
    readonly write: (val: string, at: string) => string;
  };
  size(o: Obj): number;
  read(r: Reader, o: Obj, st: ReadState): void;
  /** Same as read, returning the value instead (compiled structs use it and skip a temporary object). */
  take?(r: Reader, st: ReadState): V;
  /** Marks a field that announces the length of a later one (lenOf): its struct keeps read state. */
  readonly announces?: true;
  write(o: Obj, buf: Buffer, off: number, st: WriteState): number;
  json(o: Obj, out: Record<string, Json>, st: JsonState): void;
  parse(j: JsonObject, o: Obj, path: string): void;
}

export type AnyField = Field<string, unknown>;

export type FieldsOf<F extends readonly AnyField[]> = {
  readonly [E in F[number] as E extends Field<infer K, unknown> ? (K extends '' ? never : K) : never]: E extends Field<string, infer V>
    ? V
    : never;
};

type Simplify<T> = { readonly [K in keyof T]: T[K] } & {};

// ---- scalar fields ------------------------------------------------------------------------------

interface ScalarOpts {
  /** JSON key when it differs from the TypeScript key. */
  readonly json?: string;
  /** Default used when JSON input lacks the key. */
  readonly dflt?: number;
}

function uintField<K extends string>(key: K, bytes: 1 | 2 | 3 | 4, opts: ScalarOpts = {}): Field<K, number> {
  const jk = opts.json ?? key;
  const what = key;
  const rd = bytes === 1 ? 'b[#]' : bytes === 2 ? 'b.readUInt16BE(#)' : bytes === 4 ? 'b.readUInt32BE(#)' : 'b.readUIntBE(#, 3)';
  const wr = bytes === 1 ? 'buf.writeUInt8(@, #);' : bytes === 2 ? 'buf.writeUInt16BE(@, #);' : bytes === 4 ? 'buf.writeUInt32BE(@, #);' : 'buf.writeUIntBE(@, #, 3);';
  return {
    key,
    fixed: bytes,
    gen: { read: (at) => rd.replace('#', at), write: (val, at) => wr.replace('@', val).replace('#', at) },
    size: () => bytes,
    read(r, o) {
      o[key] = bytes === 1 ? r.u8(what) : bytes === 2 ? r.u16(what) : bytes === 4 ? r.u32(what) : r.u24(what);
    },
    write(o, buf, off) {
      const v = o[key] as number;
      if (bytes === 1) return buf.writeUInt8(v, off);
      if (bytes === 2) return buf.writeUInt16BE(v, off);
      if (bytes === 4) return buf.writeUInt32BE(v, off);
      return buf.writeUIntBE(v, off, 3);
    },
    json(o, out) {
      out[jk] = o[key] as number;
    },
    parse(j, o, path) {
      const v = j[jk];
      if (v === undefined && opts.dflt !== undefined) o[key] = opts.dflt;
      else o[key] = uint(v === undefined ? jsonField(j, jk, path) : v, bytes * 8, `${path}.${jk}`);
    },
  };
}

export const u8 = <K extends string>(key: K, opts?: ScalarOpts): Field<K, number> => uintField(key, 1, opts);
export const u16 = <K extends string>(key: K, opts?: ScalarOpts): Field<K, number> => uintField(key, 2, opts);
export const u24 = <K extends string>(key: K, opts?: ScalarOpts): Field<K, number> => uintField(key, 3, opts);
export const u32 = <K extends string>(key: K, opts?: ScalarOpts): Field<K, number> => uintField(key, 4, opts);

export function u64<K extends string>(key: K): Field<K, bigint> {
  return {
    key,
    fixed: 8,
    gen: { read: (at) => `b.readBigUInt64BE(${at})`, write: (val, at) => `H.writeU64(buf, ${val}, ${at}, ${JSON.stringify(key)});` },
    size: () => 8,
    read(r, o) {
      o[key] = r.u64(key);
    },
    write(o, buf, off) {
      return writeU64(buf, o[key] as bigint, off, key);
    },
    json(o, out) {
      out[key] = big(o[key] as bigint);
    },
    parse(j, o, path) {
      o[key] = uint64(jsonField(j, key, path), `${path}.${key}`);
    },
  };
}

/** A fixed value on the wire (a type code); shown in JSON under jsonKey when given, never in TS. */
export function constant(bytes: 1 | 2 | 4, value: number, jsonKey = ''): Field<'', never> {
  const w = bytes === 1 ? 'writeUInt8' : bytes === 2 ? 'writeUInt16BE' : 'writeUInt32BE';
  return {
    key: '',
    fixed: bytes,
    gen: { write: (_val, at) => `buf.${w}(${value}, ${at});` },
    size: () => bytes,
    read(r) {
      r.skip(bytes, jsonKey || 'type');
    },
    write(_o, buf, off) {
      if (bytes === 1) return buf.writeUInt8(value, off);
      if (bytes === 2) return buf.writeUInt16BE(value, off);
      return buf.writeUInt32BE(value, off);
    },
    json(_o, out) {
      if (jsonKey) out[jsonKey] = value;
    },
    parse() {},
  };
}

export function pad(n: number): Field<'', never> {
  return {
    key: '',
    fixed: n,
    gen: {
      write: (_val, at) =>
        n <= 8 ? Array.from({ length: n }, (_, i) => `buf[${at} + ${i}] = 0;`).join(' ') : `buf.fill(0, ${at}, ${at} + ${n});`,
    },
    size: () => n,
    read(r) {
      r.skip(n);
    },
    write(_o, buf, off) {
      return zero(buf, off, n);
    },
    json() {},
    parse() {},
  };
}

export function mac<K extends string>(key: K): Field<K, string> {
  return {
    key,
    fixed: 6,
    gen: { read: (at) => `H.macToText(b, ${at})`, write: (val, at) => `H.writeMac(${val}, buf, ${at}, ${JSON.stringify(key)});` },
    size: () => 6,
    read(r, o) {
      r.need(6, key);
      o[key] = macToText(r.buf, r.pos);
      r.pos += 6;
    },
    write(o, buf, off) {
      macFromText(o[key] as string, key).copy(buf, off);
      return off + 6;
    },
    json(o, out) {
      out[key] = o[key] as string;
    },
    parse(j, o, path) {
      const s = jsonStr(jsonField(j, key, path), `${path}.${key}`);
      macFromText(s, `${path}.${key}`);
      o[key] = s.toLowerCase();
    },
  };
}

/** A fixed-size, NUL-padded string (port names, descriptions). */
export function text<K extends string>(key: K, n: number): Field<K, string> {
  return {
    key,
    fixed: n,
    size: () => n,
    read(r, o) {
      const b = r.bytes(n, key);
      const nul = b.indexOf(0);
      o[key] = b.toString('utf8', 0, nul < 0 ? n : nul);
    },
    write(o, buf, off) {
      zero(buf, off, n);
      buf.write(o[key] as string, off, n, 'utf8');
      return off + n;
    },
    json(o, out) {
      out[key] = o[key] as string;
    },
    parse(j, o, path) {
      const s = jsonStr(jsonField(j, key, path), `${path}.${key}`);
      if (Buffer.byteLength(s) > n) throw jsonError(`${path}.${key}`, `longer than ${n} bytes`);
      o[key] = s;
    },
  };
}

/** The rest of the struct as raw bytes (base64 in JSON). */
export function bytesRest<K extends string>(key: K, opts: { optional?: boolean } = {}): Field<K, Buffer> {
  return {
    key,
    fixed: undefined,
    size: (o) => (o[key] as Buffer | undefined)?.length ?? 0,
    read(r, o) {
      o[key] = r.bytes(r.remaining, key);
    },
    take: (r) => r.bytes(r.remaining, key),
    write(o, buf, off) {
      const b = o[key] as Buffer | undefined;
      if (!b) return off;
      buf.set(b, off);
      return off + b.length;
    },
    json(o, out) {
      out[key] = toB64((o[key] as Buffer | undefined) ?? Buffer.alloc(0));
    },
    parse(j, o, path) {
      const v = j[key];
      o[key] = v === undefined && opts.optional ? Buffer.alloc(0) : b64(jsonField(j, key, path), `${path}.${key}`);
    },
  };
}

/** This struct's own length (u16), written last. */
export function selfLen(jsonKey: string): Field<'', never> {
  return {
    key: '',
    fixed: 2,
    selfLen: true,
    size: () => 2,
    read() {
      /* struct() reads the length itself and narrows the reader to it */
    },
    write(_o, buf, off, st) {
      st.selfLenAt = off;
      return off + 2;
    },
    json(_o, out, st) {
      if (jsonKey) out[jsonKey] = st.size;
    },
    parse() {},
  };
}

/** The byte length (u16 or u32) of a later list field `target`. */
export function lenOf(jsonKey: string, target: string, bytes: 2 | 4 = 2): Field<'', never> {
  return {
    key: '',
    fixed: bytes,
    announces: true,
    size: () => bytes,
    read(r, _o, st) {
      const n = bytes === 2 ? r.u16(jsonKey) : r.u32(jsonKey);
      (st.lens ??= {})[target] = n;
    },
    write(_o, _buf, off, st) {
      (st.lenAt ??= {})[target] = { at: off, width: bytes };
      return off + bytes;
    },
    json(_o, out, st) {
      if (jsonKey) out[jsonKey] = st.sizeOf(target);
    },
    parse() {},
  };
}

function patchLen(buf: Buffer, st: WriteState, key: string, len: number): void {
  const p = st.lenAt?.[key];
  if (p === undefined) return;
  if (p.width === 2) buf.writeUInt16BE(len, p.at);
  else buf.writeUInt32BE(len, p.at);
}

export interface ListOpts {
  /** Error for a list element overrunning the list. */
  readonly err?: ErrorKind;
  /** JSON key when it differs. */
  readonly json?: string;
}

/** Entities of one codec until the end of the struct, or for the length announced by a lenOf field. */
export function list<K extends string, T>(key: K, codec: Codec<T>, opts: ListOpts = {}): Field<K, readonly T[]> {
  const jk = opts.json ?? key;
  const readList = (r: Reader, st: ReadState): T[] => {
    const announced = st.lens?.[key];
    const out: T[] = [];
    if (announced === undefined) {
      while (r.pos < r.end) out.push(codec.read(r));
    } else {
      r.withEnd(announced, key, () => {
        while (r.pos < r.end) out.push(codec.read(r));
      }, opts.err ?? r.lenError);
    }
    return out;
  };
  return {
    key,
    fixed: undefined,
    size(o) {
      let n = 0;
      for (const v of o[key] as readonly T[]) n += codec.size(v);
      return n;
    },
    read(r, o, st) {
      o[key] = readList(r, st);
    },
    take: (r, st) => readList(r, st),
    write(o, buf, off, st) {
      const start = off;
      for (const v of o[key] as readonly T[]) off = codec.write(v, buf, off);
      patchLen(buf, st, key, off - start);
      return off;
    },
    json(o, out) {
      out[jk] = (o[key] as readonly T[]).map((v) => codec.toJson(v));
    },
    parse(j, o, path) {
      o[key] = asArray(jsonField(j, jk, path), `${path}.${jk}`).map((e, i) => codec.fromJson(e, `${path}.${jk}[${i}]`));
    },
  };
}

/** One nested entity. */
export function one<K extends string, T>(key: K, codec: Codec<T>, opts: { json?: string } = {}): Field<K, T> {
  const jk = opts.json ?? key;
  return {
    key,
    fixed: undefined,
    size: (o) => codec.size(o[key] as T),
    read(r, o) {
      o[key] = codec.read(r);
    },
    take: (r) => codec.read(r),
    write(o, buf, off) {
      return codec.write(o[key] as T, buf, off);
    },
    json(o, out) {
      out[jk] = codec.toJson(o[key] as T);
    },
    parse(j, o, path) {
      o[key] = codec.fromJson(jsonField(j, jk, path), `${path}.${jk}`);
    },
  };
}

/** A fixed-count array of u32 (async masks [master/equal, slave]; group features' per-type counts). */
export function u32s<K extends string>(key: K, n: number): Field<K, readonly number[]> {
  return {
    key,
    fixed: 4 * n,
    size: () => 4 * n,
    read(r, o) {
      const a: number[] = [];
      for (let i = 0; i < n; i++) a.push(r.u32(key));
      o[key] = a;
    },
    write(o, buf, off) {
      const a = o[key] as readonly number[];
      for (let i = 0; i < n; i++) off = buf.writeUInt32BE(a[i] ?? 0, off);
      return off;
    },
    json(o, out) {
      out[key] = [...(o[key] as readonly number[])];
    },
    parse(j, o, path) {
      const a = asArray(jsonField(j, key, path), `${path}.${key}`);
      if (a.length !== n) throw jsonError(`${path}.${key}`, `expected ${n} values, got ${a.length}`);
      o[key] = a.map((x, i) => uint(x, 32, `${path}.${key}[${i}]`));
    },
  };
}

/** The rest of the struct as an array of unsigned integers of one width (table ids, experimenter data). */
export function uintsRest<K extends string>(key: K, bytes: 1 | 4): Field<K, readonly number[]> {
  return {
    key,
    fixed: undefined,
    size: (o) => (o[key] as readonly number[]).length * bytes,
    read(r, o) {
      const a: number[] = [];
      if (r.remaining % bytes !== 0) r.fail(r.lenError, `${key}: ${r.remaining} bytes is not a multiple of ${bytes}`);
      while (r.pos < r.end) a.push(bytes === 1 ? r.u8(key) : r.u32(key));
      o[key] = a;
    },
    write(o, buf, off) {
      for (const x of o[key] as readonly number[]) off = bytes === 1 ? buf.writeUInt8(x, off) : buf.writeUInt32BE(x, off);
      return off;
    },
    json(o, out) {
      out[key] = [...(o[key] as readonly number[])];
    },
    parse(j, o, path) {
      o[key] = asArray(jsonField(j, key, path), `${path}.${key}`).map((x, i) => uint(x, bytes * 8, `${path}.${key}[${i}]`));
    },
  };
}

/** The message header's xid: in the TypeScript value, not in Ryu's JSON (accepted there, default 0). */
export function xid(): Field<'xid', number> {
  return {
    key: 'xid',
    fixed: 4,
    gen: { read: (at) => `b.readUInt32BE(${at})`, write: (val, at) => `buf.writeUInt32BE(${val} ?? 0, ${at});` },
    size: () => 4,
    read(r, o) {
      o['xid'] = r.u32('xid');
    },
    write(o, buf, off) {
      return buf.writeUInt32BE((o['xid'] as number | undefined) ?? 0, off);
    },
    json() {},
    parse(j, o, path) {
      o['xid'] = j['xid'] === undefined ? 0 : uint(j['xid'], 32, `${path}.xid`);
    },
  };
}

// ---- structs ------------------------------------------------------------------------------------

export interface StructOpts<TK extends string> {
  /** Tag key for polymorphic values: 'kind' for entities, 'type' for messages. */
  readonly tag?: TK;
  /** Length field excludes padding to 8 that follows (hello elements, table-feature properties). */
  readonly pad8?: boolean;
  /** Error raised when the struct is truncated or its length is inconsistent. */
  readonly err?: ErrorKind;
  /** Extra checks after decoding. */
  readonly check?: (o: Obj, r: Reader, start: number) => void;
}

export interface StructCodec<T> extends Codec<T> {
  readonly fields: readonly AnyField[];
  /** Fixed size when every field is fixed. */
  readonly fixedSize: number | undefined;
  readonly tagKey: string | undefined;
  /** Reads the body of `{Class: body}` (the class already checked). */
  parseBody(body: JsonObject, path: string): T;
}

export type Tagged<TK extends string, N extends string> = { readonly [P in TK]: N };

export function struct<N extends string, const F extends readonly AnyField[], TK extends string = never>(
  cls: N,
  fields: F,
  opts: StructOpts<TK> = {},
): StructCodec<Simplify<([TK] extends [never] ? unknown : Tagged<TK, N>) & FieldsOf<F>>> {
  type T = Simplify<([TK] extends [never] ? unknown : Tagged<TK, N>) & FieldsOf<F>>;
  const err = opts.err ?? BAD_LEN;
  const tagKey: string | undefined = opts.tag;
  const fixedSize = fields.every((f) => f.fixed !== undefined) ? fields.reduce((n, f) => n + (f.fixed as number), 0) : undefined;

  const copts: CompileOpts = { cls, tagKey, err, pad8: opts.pad8 === true, fixedSize, check: opts.check };

  const bodySize = (o: Obj): number => {
    if (fixedSize !== undefined) return fixedSize;
    let n = 0;
    for (const f of fields) n += f.fixed ?? f.size(o);
    return n;
  };

  const codec: StructCodec<T> = {
    cls,
    fields,
    fixedSize,
    tagKey,
    size(v) {
      const n = bodySize(v as Obj);
      return opts.pad8 ? align8(n) : n;
    },
    write: compileWrite<T>(fields, copts),
    read: compileRead<T>(fields, copts),
    toJson(v) {
      const o = v as Obj;
      const out: Record<string, Json> = {};
      const size = bodySize(o);
      const js: JsonState = {
        size,
        sizeOf: (key) => (fields.find((f) => f.key === key) as AnyField).size(o),
      };
      for (const f of fields) f.json(o, out, js);
      return { [cls]: out };
    },
    fromJson(j, path) {
      const [name, body] = unwrap(j, path);
      if (name !== cls) throw jsonError(path, `expected ${cls}, got ${name}`);
      return codec.parseBody(body, `${path}.${cls}`);
    },
    parseBody(body, path) {
      const o: Obj = {};
      if (tagKey) o[tagKey] = cls;
      for (const f of fields) f.parse(body, o, path);
      return o as T;
    },
  };
  return codec;
}


// ---- polymorphic lists --------------------------------------------------------------------------

export interface VariantOpts<T> {
  /** What the entities are, for error messages ("action"). */
  readonly what: string;
  /** Key of the class name in values: 'kind' or 'type'. */
  readonly tag: string;
  /** Members and the discriminator keys (wire type numbers, or strings for experimenter subtypes). */
  readonly members: readonly (readonly [Codec<T>, ...(number | string)[]])[];
  /** Peeks the discriminator at r.pos without moving. */
  readonly key: (r: Reader) => number | string;
  /** Codec for a discriminator no member claims (raw forms keep unknown entities round-tripping). */
  readonly fallback?: (key: number | string) => Codec<T> | undefined;
  /** Extra classes accepted on write and in JSON (the fallbacks). */
  readonly extra?: readonly Codec<T>[];
  /** How an unknown discriminator is named in the error ("message type 99"). */
  readonly describeKey?: (key: number | string) => string;
  /** Error raised for an unknown discriminator without fallback. */
  readonly unknown: ErrorKind | ((key: number | string) => ErrorKind);
}

/** One entity of several kinds, dispatched by a wire type on read and by its class on write. */
export function variant<T>(opts: VariantOpts<T>): Codec<T> {
  const byKey = new Map<number | string, Codec<T>>();
  const byCls = new Map<string, Codec<T>>();
  for (const [codec, ...keys] of opts.members) {
    for (const k of keys) byKey.set(k, codec);
    byCls.set(codec.cls, codec);
  }
  for (const c of opts.extra ?? []) byCls.set(c.cls, c);
  const forValue = (v: T): Codec<T> => {
    const cls = (v as Record<string, unknown>)[opts.tag];
    const c = typeof cls === 'string' ? byCls.get(cls) : undefined;
    if (!c) throw jsonError(opts.what, `unknown ${opts.what} class ${String(cls)}`);
    return c;
  };
  return {
    cls: opts.what,
    size: (v) => forValue(v).size(v),
    write: (v, buf, off) => forValue(v).write(v, buf, off),
    read(r) {
      const k = opts.key(r);
      const c = byKey.get(k) ?? opts.fallback?.(k);
      if (!c) {
        const kind = typeof opts.unknown === 'function' ? opts.unknown(k) : opts.unknown;
        return r.fail(kind, `unknown ${opts.describeKey ? opts.describeKey(k) : `${opts.what} type ${k}`}`);
      }
      return c.read(r);
    },
    toJson: (v) => forValue(v).toJson(v),
    fromJson(j, path) {
      const [name] = unwrap(j, path);
      const c = byCls.get(name);
      if (!c) throw jsonError(path, `unknown ${opts.what} class ${name}`);
      return c.fromJson(j, path);
    },
  };
}
