/**
 * The codec's one error type. Every malformed input raises OFPCodecError carrying the OpenFlow error
 * type and code a switch would answer with (OFPT_ERROR), the byte offset within the message and, when a
 * stream of messages is decoded, the index of the message. JSON input errors carry the key path instead
 * and use OFPET_BAD_REQUEST with the closest code.
 */
import { ERROR_TYPES, OFPET, nameOf } from './consts.js';

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

/** The spec's names of an error type and code, where they have one (from consts.ts ERROR_TYPES). */
export interface ErrorNames {
  /** 'BAD_MATCH' (OFPET_BAD_MATCH without its prefix). */
  readonly type: string | undefined;
  /** 'BAD_PREREQ' (without its prefix). */
  readonly code: string | undefined;
  /** The prefix of the type's code names: 'OFPBMC'. */
  readonly codePrefix: string | undefined;
}

export function errorNames(errType: number, code: number | undefined): ErrorNames {
  const t = ERROR_TYPES[errType];
  return {
    type: nameOf(OFPET, errType),
    code: t && code !== undefined ? nameOf(t.codes, code) : undefined,
    codePrefix: t?.codePrefix,
  };
}

/** "BAD_MATCH/BAD_PREREQ" for (4, 9). */
export function errorName(errType: number, code: number): string {
  const n = errorNames(errType, code);
  return `${n.type ?? `type ${errType}`}/${n.code ?? `code ${code}`}`;
}
