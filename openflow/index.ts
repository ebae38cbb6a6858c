/**
 * tinflow's OpenFlow 1.3 codec: bytes ⇄ typed messages ⇄ Ryu's JSON. Pure: no sockets, timers or state
 * beyond the stream framer's buffer. The switch and controller import only from here.
 *
 *   decode(bytes) → OFPMessage       encode(msg) → Buffer
 *   decodeAll(bytes) → OFPMessage[]  (concatenated messages; errors carry the message index)
 *   toRyuJson(msg) / fromRyuJson(json)
 *   new Framer({maxLength}).push(chunk) → complete message buffers, for TCP streams
 *   flowMod({match, actions}), packetOut(...), match({...}), output(port), ... → messages with OF1.3's defaults (builders.ts)
 */
import { OFPBRC, OFPET, OFP_DEFAULT_MAX_MESSAGE, OFP_HEADER_SIZE } from './consts.js';
import { OFPCodecError } from './errors.js';
import type { Json } from './json.js';
import { MessageCodec, type OFPMessage } from './messages.js';
import { Reader } from './wire.js';

export * from './consts.js';
export * from './errors.js';
export type { Json, JsonObject } from './json.js';
export { parseJson, stringifyJson } from './json.js';
export type { Action, ActionSetField } from './actions.js';
export type { Instruction } from './instructions.js';
export type { Bucket, HelloElem, MeterBand, Port, QueueProp, TableFeatureProp } from './common.js';
export { OXM_FIELDS, OXM_BY_NAME, OXM_BASIC, type OxmFieldDef, type OxmTlv, type OxmValue, type Match } from './oxm.js';
export type { ErrorMsg, MessageOf, MessageType, OFPMessage } from './messages.js';
export * from './builders.js';

function badLen(detail: string, offset: number): OFPCodecError {
  return new OFPCodecError(OFPET.BAD_REQUEST, OFPBRC.BAD_LEN, detail, offset);
}

/** Decodes exactly one message occupying the first `length` bytes of buf (trailing bytes are an error). */
export function decode(buf: Buffer): OFPMessage {
  if (buf.length < OFP_HEADER_SIZE) throw badLen(`truncated header: ${buf.length} of 8 bytes`, 0);
  const length = buf.readUInt16BE(2);
  if (length < OFP_HEADER_SIZE) throw badLen(`header length ${length} is below 8`, 2);
  if (length > buf.length) throw badLen(`truncated message: header says ${length} bytes, ${buf.length} present`, 2);
  if (length < buf.length) throw badLen(`${buf.length - length} bytes follow the message's ${length}`, length);
  return MessageCodec.read(new Reader(buf, 0, length));
}

/** Decodes concatenated messages. */
export function decodeAll(buf: Buffer): OFPMessage[] {
  const out: OFPMessage[] = [];
  let off = 0;
  for (let i = 0; off < buf.length; i++) {
    try {
      if (buf.length - off < OFP_HEADER_SIZE) throw badLen(`truncated header: ${buf.length - off} of 8 bytes`, 0);
      const length = buf.readUInt16BE(off + 2);
      if (length < OFP_HEADER_SIZE) throw badLen(`header length ${length} is below 8`, 2);
      if (off + length > buf.length) throw badLen(`truncated message: header says ${length} bytes, ${buf.length - off} present`, 2);
      out.push(MessageCodec.read(new Reader(buf.subarray(off, off + length))));
      off += length;
    } catch (e) {
      if (e instanceof OFPCodecError) throw e.atMessage(i).shift(off);
      throw e;
    }
  }
  return out;
}

export function encodedLength(msg: OFPMessage): number {
  return MessageCodec.size(msg);
}

/**
 * Scratch space for encode(): a message is written once, lengths back-patched, then copied out at its
 * exact size, so no separate length pass walks the message first. Larger than any OpenFlow message.
 */
const scratch = Buffer.allocUnsafe(0x10000 + 0x10000);

/** Encodes into a new buffer of exactly the message's size. */
export function encode(msg: OFPMessage): Buffer {
  let end: number;
  try {
    end = MessageCodec.write(msg, scratch, 0);
  } catch (e) {
    if (e instanceof RangeError && !(e instanceof OFPCodecError)) return encodeLarge(msg);
    throw e;
  }
  if (end > 0xffff) throw badLen(`${msg.type} would be ${end} bytes, above OpenFlow's 65535`, -1);
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  return out;
}

function encodeLarge(msg: OFPMessage): never {
  const n = MessageCodec.size(msg);
  throw badLen(`${msg.type} would be ${n} bytes, above OpenFlow's 65535`, -1);
}

/** Encodes into buf at off; returns the offset after the message. */
export function encodeInto(msg: OFPMessage, buf: Buffer, off: number): number {
  return MessageCodec.write(msg, buf, off);
}

export function toRyuJson(msg: OFPMessage): Json {
  return MessageCodec.toJson(msg);
}

export function fromRyuJson(j: Json, path = '$'): OFPMessage {
  return MessageCodec.fromJson(j, path);
}

export interface FramerOptions {
  /** Largest message accepted (default 65535, OpenFlow's limit). */
  readonly maxLength?: number;
}

/**
 * Splits a TCP byte stream into whole messages, whatever the chunking. Returns views into the input
 * where a message lies within one chunk, copies only when a message straddles chunks.
 */
export class Framer {
  private readonly maxLength: number;
  private pending: Buffer | undefined;
  private count = 0;

  constructor(opts: FramerOptions = {}) {
    this.maxLength = opts.maxLength ?? OFP_DEFAULT_MAX_MESSAGE;
  }

  /** Bytes held back waiting for the rest of a message. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  push(chunk: Buffer): Buffer[] {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    const out: Buffer[] = [];
    let off = 0;
    while (data.length - off >= 4) {
      const length = data.readUInt16BE(off + 2);
      if (length < OFP_HEADER_SIZE || length > this.maxLength) {
        throw badLen(`message length ${length} is outside 8..${this.maxLength}`, 2).atMessage(this.count);
      }
      if (data.length - off < length) break;
      out.push(data.subarray(off, off + length));
      this.count++;
      off += length;
    }
    if (off < data.length) this.pending = Buffer.from(data.subarray(off));
    return out;
  }
}
