/**
 * The codec's one error type. Every malformed input raises OFPCodecError carrying the OpenFlow error
 * type and code a switch would answer with (OFPT_ERROR), the byte offset within the message and, when a
 * stream of messages is decoded, the index of the message. JSON input errors carry the key path instead
 * and use OFPET_BAD_REQUEST with the closest code.
 */
import { ERROR_CODES, OFPET } from './consts.js';

export class OFPCodecError extends Error {
  override readonly name = 'OFPCodecError';
  /** OFPET_* error type. */
  readonly errType: number;
  /** Error code within errType (OFPBRC_*, OFPBAC_*, …). */
  readonly code: number;
  /** Byte offset within the message where decoding stopped (-1 for JSON input). */
  offset: number;
  /** Index of the message within a stream or a concatenation, when known. */
  msgIndex: number | undefined;
  /** What was wrong, without the location suffix. */
  readonly detail: string;

  constructor(errType: number, code: number, detail: string, offset = -1, msgIndex?: number) {
    super(detail);
    this.errType = errType;
    this.code = code;
    this.detail = detail;
    this.offset = offset;
    this.msgIndex = msgIndex;
    this.message = this.describe();
  }

  /** Sets the message index (first one wins) and refreshes the text. */
  atMessage(index: number): this {
    if (this.msgIndex === undefined) this.msgIndex = index;
    this.message = this.describe();
    return this;
  }

  /** Adds the base offset of the message within a larger buffer. */
  shift(base: number): this {
    if (this.offset >= 0) this.offset += base;
    this.message = this.describe();
    return this;
  }

  /** The error's names, e.g. "BAD_REQUEST/BAD_LEN". */
  get codeName(): string {
    return errorName(this.errType, this.code);
  }

  private describe(): string {
    const where: string[] = [];
    if (this.msgIndex !== undefined) where.push(`message ${this.msgIndex}`);
    if (this.offset >= 0) where.push(`byte ${this.offset}`);
    return `${this.detail} (${this.codeName}${where.length ? ', ' + where.join(', ') : ''})`;
  }
}

/** "BAD_MATCH/BAD_PREREQ" for (4, 9). */
export function errorName(errType: number, code: number): string {
  const typeName = Object.entries(OFPET).find(([, v]) => v === errType)?.[0] ?? `type ${errType}`;
  const codes = ERROR_CODES[errType];
  const codeName = codes ? Object.entries(codes).find(([, v]) => v === code)?.[0] : undefined;
  return `${typeName}/${codeName ?? `code ${code}`}`;
}

export function isCodecError(e: unknown): e is OFPCodecError {
  return e instanceof OFPCodecError;
}
