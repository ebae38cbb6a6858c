/**
 * Bounds-checked big-endian reading over a Buffer, and the matching writes. A Reader has a position and
 * an end; nested structs narrow the end (`withEnd`) so a field can never read past its container.
 * Reading past the end raises OFPCodecError with the container's own error type and code.
 */
import { OFPBRC, OFPET } from './consts.js';
import { OFPCodecError } from './errors.js';

export interface ErrorKind {
  readonly errType: number;
  readonly code: number;
}

export const BAD_LEN: ErrorKind = { errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_LEN };

export class Reader {
  pos: number;
  end: number;
  /** Error type/code used for truncation inside the current container. */
  lenError: ErrorKind = BAD_LEN;

  constructor(
    readonly buf: Buffer,
    pos = 0,
    end = buf.length,
  ) {
    this.pos = pos;
    this.end = end;
  }


  get remaining(): number {
    return this.end - this.pos;
  }

  fail(kind: ErrorKind, detail: string, at = this.pos): never {
    throw new OFPCodecError(kind.errType, kind.code, detail, at);
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      this.fail(this.lenError, `truncated ${what}: needs ${n} bytes, ${Math.max(0, this.end - this.pos)} left`);
    }
  }

  u8(what = 'field'): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }

  u16(what = 'field'): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(what = 'field'): number {
    this.need(3, what);
    const v = this.buf.readUIntBE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(what = 'field'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = 'field'): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number, what = 'field'): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number, what = 'padding'): void {
    this.need(n, what);
    this.pos += n;
  }

  /** Peeks a u16 at pos+off without moving; checks bounds. */
  peek16(off: number, what: string): number {
    if (this.pos + off + 2 > this.end) {
      this.fail(this.lenError, `truncated ${what}: needs ${off + 2} bytes, ${Math.max(0, this.end - this.pos)} left`);
    }
    return this.buf.readUInt16BE(this.pos + off);
  }

  peek32(off: number, what: string): number {
    if (this.pos + off + 4 > this.end) {
      this.fail(this.lenError, `truncated ${what}: needs ${off + 4} bytes, ${Math.max(0, this.end - this.pos)} left`);
    }
    return this.buf.readUInt32BE(this.pos + off);
  }

  /** Runs fn with the end narrowed to pos+len (checked against the current end), then restores it. */
  withEnd<T>(len: number, what: string, fn: () => T, kind: ErrorKind = this.lenError): T {
    if (this.pos + len > this.end) {
      this.fail(kind, `${what} claims ${len} bytes, ${Math.max(0, this.end - this.pos)} left`);
    }
    const savedEnd = this.end;
    const savedKind = this.lenError;
    this.end = this.pos + len;
    this.lenError = kind;
    try {
      return fn();
    } finally {
      this.end = savedEnd;
      this.lenError = savedKind;
    }
  }
}

let lastBuf: Buffer | undefined;
let lastView: DataView | undefined;

/**
 * A DataView over buf, kept for the next call. DataView's setBigUint64 is
 * several times faster than Buffer's writeBigUInt64BE; encoders write into one scratch buffer, so the
 * view is made once. (For reads, making views costs more than it saves: Buffer's reader is used.)
 */
function viewOf(buf: Buffer): DataView {
  if (buf !== lastBuf || lastView === undefined) {
    lastBuf = buf;
    lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return lastView;
}

const U64_MAX = 0xffffffffffffffffn;

/** Writes an unsigned 64-bit value, checking its type and range (DataView alone would wrap). */
export function writeU64(buf: Buffer, v: bigint, off: number, what: string): number {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
    throw new RangeError(`${what}: expected an unsigned 64-bit bigint, got ${typeof v === 'bigint' ? v : typeof v}`);
  }
  viewOf(buf).setBigUint64(off, v);
  return off + 8;
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Writes n zero bytes; returns the new offset. */
export function zero(buf: Buffer, off: number, n: number): number {
  if (n > 16) buf.fill(0, off, off + n);
  else for (let i = 0; i < n; i++) buf[off + i] = 0;
  return off + n;
}
