/**
 * Compiled matches: an OpenFlow Match as value/mask words in key.ts's layout (value already masked),
 * validated as the spec asks of a switch (OFPET_BAD_MATCH), and the way back to a Match; set-field values
 * as slot words; whether a key matches a compiled match.
 *
 * May import: openflow/index.ts, switch/errors.ts, switch/key.ts and base/addr.ts.
 */
import {
  type Match,
  OFPBMC,
  OFPET,
  OFPVID,
  type OxmFieldDef,
  type OxmTlv,
  type OxmValue,
} from '../openflow/index.js';
import { ADDR_BYTES, type AddrKind, addrToText, parseAddrInto } from '../base/addr.js';
import { OFPError } from './errors.js';
import { FIELDS, type FlowKey, KEY_WORDS, joinU64, newKey, slotOf, splitU64 } from './key.js';

// ---- matching ------------------------------------------------------------------------------------------

/** Whether key matches a compiled match (value already masked). */
export function matches(key: FlowKey, value: FlowKey, mask: FlowKey): boolean {
  for (let i = 0; i < KEY_WORDS; i++) {
    if ((((key[i] as number) ^ (value[i] as number)) & (mask[i] as number)) !== 0) return false;
  }
  return true;
}

/** Whether a and b agree on every bit of mask. */
export function maskedEqual(a: FlowKey, b: FlowKey, mask: FlowKey): boolean {
  for (let i = 0; i < KEY_WORDS; i++) {
    if ((((a[i] as number) ^ (b[i] as number)) & (mask[i] as number)) !== 0) return false;
  }
  return true;
}

// ---- values as words -----------------------------------------------------------------------------------

export interface ErrKind {
  readonly errType: number;
  readonly code: number;
}

const BAD_VALUE: ErrKind = { errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_VALUE };
const BAD_MASK: ErrKind = { errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_MASK };

function fail(kind: ErrKind, detail: string): never {
  throw new OFPError(kind.errType, kind.code, detail);
}

/**
 * Address text goes through base/addr.ts (the one implementation), by way of this scratch buffer: the
 * key keeps addresses as 32-bit words (a MAC as 16 + 32 bits), big-endian like the wire.
 */
const addrScratch = Buffer.alloc(16);

function parseAddrWords(kind: AddrKind, s: string): Uint32Array | undefined {
  if (!parseAddrInto(kind, s, addrScratch, 0)) return undefined;
  if (kind === 'mac') return Uint32Array.of(addrScratch.readUInt16BE(0), addrScratch.readUInt32BE(2));
  return Uint32Array.from({ length: ADDR_BYTES[kind] / 4 }, (_, i) => addrScratch.readUInt32BE(4 * i));
}

function addrWordsText(kind: AddrKind, words: ArrayLike<number>, at: number): string {
  if (kind === 'mac') {
    // The MAC's first word holds 16 bits (a mask word may have the rest set too).
    addrScratch.writeUInt16BE((words[at] as number) & 0xffff, 0);
    addrScratch.writeUInt32BE(words[at + 1] as number, 2);
  } else {
    for (let i = 0; i < ADDR_BYTES[kind] / 4; i++) addrScratch.writeUInt32BE(words[at + i] as number, 4 * i);
  }
  return addrToText(kind, addrScratch, 0);
}

function wordsOfNumber(def: OxmFieldDef, v: OxmValue, kind: ErrKind, what: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint' && v >= 0n && v <= 0xffffffffn) n = Number(v);
  else return fail(kind, `${def.name} ${what}: expected an unsigned integer, got ${String(v)}`);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) fail(kind, `${def.name} ${what}: ${n} is not an unsigned 32-bit integer`);
  return n >>> 0;
}

/**
 * Writes a field's value (or mask) in slot form at out[at...]; throws OFPError(kind) when the value is
 * not of the field's kind or does not fit its byte size. Bit-width checks are the caller's.
 */
function putValue(def: OxmFieldDef, v: OxmValue, out: Uint32Array, at: number, kind: ErrKind, what: string): void {
  switch (def.kind) {
    case 'uint':
      if (def.size === 8) {
        let x: bigint;
        if (typeof v === 'bigint') x = v;
        else if (typeof v === 'number' && Number.isSafeInteger(v)) x = BigInt(v);
        else return fail(kind, `${def.name} ${what}: expected an unsigned 64-bit integer, got ${String(v)}`);
        if (x < 0n || x > 0xffffffffffffffffn) fail(kind, `${def.name} ${what}: ${x} is out of range for 64 bits`);
        const [hi, lo] = splitU64(x);
        out[at] = hi;
        out[at + 1] = lo;
        return;
      }
      {
        const n = wordsOfNumber(def, v, kind, what);
        if (def.size < 4 && n >= 2 ** (def.size * 8)) fail(kind, `${def.name} ${what}: ${n} does not fit ${def.size * 8} bits`);
        out[at] = n;
      }
      return;
    case 'mac':
    case 'ipv4':
    case 'ipv6': {
      const a = typeof v === 'string' ? parseAddrWords(def.kind, v) : undefined;
      if (a === undefined) return fail(kind, `${def.name} ${what}: expected ${def.kind === 'mac' ? 'a MAC' : def.kind === 'ipv4' ? 'an IPv4' : 'an IPv6'} address, got ${String(v)}`);
      out.set(a, at);
      return;
    }
    case 'raw':
      return fail(kind, `${def.name} ${what}: raw values are not supported`);
  }
}

/** The all-ones mask of each slot, within its bit width. */
const FULL: ReadonlyMap<string, Uint32Array> = new Map(
  FIELDS.map((d) => {
    const s = slotOf(d.name);
    const m = new Uint32Array(s.words);
    let bits = s.bits;
    for (let i = s.words - 1; i >= 0; i--) {
      const b = Math.min(bits, 32);
      m[i] = b === 32 ? 0xffffffff : (1 << b) - 1;
      bits -= b;
    }
    return [d.name, m];
  }),
);

function fullMaskOf(name: string): Uint32Array {
  const m = FULL.get(name);
  if (m === undefined) throw new Error(`compiled-match.ts: no mask for ${name}`);
  return m;
}

/**
 * A basic field's value as slot words (for set-field): throws OFPError(kind) when the value is not the
 * field's kind or exceeds its bit width (vlan_vid may carry OFPVID_PRESENT).
 */
export function fieldValueWords(field: string, value: OxmValue, kind: ErrKind = BAD_VALUE): Uint32Array {
  const def = BASIC_BY_NAME.get(field);
  if (def === undefined) return fail(kind, `${field} is not an OpenFlow-basic field`);
  const s = slotOf(field);
  const out = new Uint32Array(s.words);
  putValue(def, value, out, 0, kind, 'value');
  const full = fullMaskOf(field);
  for (let i = 0; i < s.words; i++) {
    if (((out[i] as number) & ~(full[i] as number)) !== 0) fail(kind, `${field} value ${String(value)} exceeds its ${s.bits} bits`);
  }
  return out;
}

// ---- compiling matches -----------------------------------------------------------------------------

const BASIC_BY_NAME: ReadonlyMap<string, OxmFieldDef> = new Map(FIELDS.map((d) => [d.name, d]));

export interface CompiledMatch {
  readonly value: FlowKey;
  readonly mask: FlowKey;
}

/**
 * Compiles a match to value/mask words, validating it as the spec asks of a switch (OFPET_BAD_MATCH):
 * - a field that is not OpenFlow-basic (experimenter, Nicira, unknown) → BAD_FIELD;
 * - the same field twice → DUP_FIELD;
 * - a mask on a field that is not maskable, or a mask that is not of the field's kind → BAD_MASK;
 * - a value not of the field's kind, or beyond its bit width (vlan_vid > 0x1fff, ip_dscp > 63,
 *   ipv6_flabel > 0xfffff, mpls_tc > 7, ...), or a vlan_vid with a VID but without OFPVID_PRESENT
 *   where the mask covers OFPVID_PRESENT (it could never match) → BAD_VALUE;
 * - a value with a 1-bit where its mask has a 0-bit → BAD_WILDCARDS. The spec lets a switch reject
 *   this with OFPBMC_BAD_WILDCARDS, and ofsoftswitch13 and OFTest's BadWildcard test do; OVS instead
 *   clears the bits. A rejected flow-mod tells the controller about its mistake, so we reject.
 * - a prerequisite missing, masked, or with a value other than those required → BAD_PREREQ (in any
 *   order in the match: the spec does not require prerequisites to come first).
 * Mask bits beyond a field's width (e.g. vlan_vid mask 0xffff) are dropped, as OVS does: they select
 * nothing that a frame could have.
 */
export function compileMatch(match: Match): CompiledMatch {
  const value = newKey();
  const mask = newKey();
  const seen = new Map<string, OxmTlv>();
  for (const t of match) {
    const def = BASIC_BY_NAME.get(t.field);
    if (def === undefined) fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_FIELD }, `unsupported match field ${t.field}`);
    if (seen.has(t.field)) fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.DUP_FIELD }, `${t.field} appears twice in the match`);
    seen.set(t.field, t);
    if (t.mask !== undefined && !def.maskable) fail(BAD_MASK, `${t.field} cannot be masked`);
    const s = slotOf(t.field);
    const full = fullMaskOf(t.field);
    putValue(def, t.value, value, s.word, BAD_VALUE, 'value');
    for (let i = 0; i < s.words; i++) {
      if (((value[s.word + i] as number) & ~(full[i] as number)) !== 0) {
        fail(BAD_VALUE, `${t.field} value ${String(t.value)} exceeds its ${s.bits} bits`);
      }
    }
    if (t.mask === undefined) {
      mask.set(full, s.word);
    } else {
      putValue(def, t.mask, mask, s.word, BAD_MASK, 'mask');
      for (let i = 0; i < s.words; i++) mask[s.word + i] = (mask[s.word + i] as number) & (full[i] as number);
    }
    for (let i = 0; i < s.words; i++) {
      if (((value[s.word + i] as number) & ~(mask[s.word + i] as number)) !== 0) {
        fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_WILDCARDS }, `${t.field} value has bits outside its mask`);
      }
    }
    if (t.field === 'vlan_vid') {
      const v = value[s.word] as number;
      const m = mask[s.word] as number;
      if ((m & OFPVID.PRESENT) !== 0 && (v & OFPVID.PRESENT) === 0 && (v & 0x0fff) !== 0) {
        fail(BAD_VALUE, `vlan_vid ${v} names a VID without OFPVID_PRESENT`);
      }
    }
  }
  for (const t of match) checkPrereq(t.field, seen, value, mask);
  return { value, mask };
}

function checkPrereq(field: string, seen: ReadonlyMap<string, OxmTlv>, value: FlowKey, mask: FlowKey): void {
  const def = BASIC_BY_NAME.get(field);
  const pre = def?.prereq;
  if (pre === undefined) return;
  const bad = (why: string): never =>
    fail({ errType: OFPET.BAD_MATCH, code: OFPBMC.BAD_PREREQ }, `${field} needs ${pre.field}${why}`);
  if (!seen.has(pre.field)) bad(pre.values ? ` = ${pre.values.map((v) => `0x${v.toString(16)}`).join(' or ')}` : '');
  const s = slotOf(pre.field);
  const v = value[s.word] as number;
  const m = mask[s.word] as number;
  if (pre.present) {
    if ((v & m & OFPVID.PRESENT) === 0) bad(' with OFPVID_PRESENT');
    return;
  }
  if (pre.values) {
    // The fields named with values (eth_type, ip_proto, icmpv6_type) cannot be masked today, so this
    // holds already; it guards the rule should the table ever make one maskable.
    if (m !== (fullMaskOf(pre.field)[0] as number)) bad(' matched exactly');
    if (!pre.values.includes(v)) bad(` = ${pre.values.join(' or ')}, not ${v}`);
  }
}

function valueOf(def: OxmFieldDef, words: Uint32Array, at: number): OxmValue {
  switch (def.kind) {
    case 'mac':
    case 'ipv4':
    case 'ipv6':
      return addrWordsText(def.kind, words, at);
    default:
      return def.size === 8 ? joinU64(words[at] as number, words[at + 1] as number) : (words[at] as number);
  }
}

/**
 * The Match a compiled value/mask stands for, fields in the spec's field-number order; a field whose mask
 * is all ones is shown without a mask, one whose mask is all zeros is left out.
 */
export function decompileMatch(value: FlowKey, mask: FlowKey): Match {
  const out: OxmTlv[] = [];
  for (const def of FIELDS) {
    const s = slotOf(def.name);
    const full = fullMaskOf(def.name);
    let any = false;
    let exact = true;
    for (let i = 0; i < s.words; i++) {
      const m = mask[s.word + i] as number;
      if (m !== 0) any = true;
      if (m !== (full[i] as number)) exact = false;
    }
    if (!any) continue;
    const v = valueOf(def, value, s.word);
    out.push(exact ? { field: def.name, value: v } : { field: def.name, value: v, mask: valueOf(def, mask, s.word) });
  }
  return out;
}
