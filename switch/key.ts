/**
 * The flow key: a frame's OpenFlow-basic match fields as 32-bit words (OVS's miniflow, flattened), and
 * matches compiled to a value/mask pair of the same shape. This file holds the layout; key-extract.ts
 * fills a key from a frame, compiled-match.ts turns a Match into value/mask words and back.
 *
 * Layout. Every one of the 40 OpenFlow-basic OXM fields has a fixed slot of whole words, in field-number
 * order, derived from the codec's OXM table (nothing here lists the fields again): one word for fields of
 * up to 32 bits, two (high word first) for 48-bit MACs and 64-bit fields, four for IPv6 addresses. A
 * value sits in the low bits of its slot. A field absent from the frame is 0; flows can only match it
 * when its prerequisites hold, which compileMatch enforces, so "absent" never needs a bit of its own.
 * `vlan_vid` holds `0x1000 | vid` for a tagged frame and 0 for an untagged one (OFPVID_PRESENT).
 *
 * Matching. A compiled match's value is already masked; a key matches when `(key & mask) == value` in
 * every word, computed as `((key ^ value) & mask) == 0` so that no word is read as a negative int32.
 *
 * May import: openflow/index.ts. Must not import other switch files.
 */
import { OXM_BASIC, type OxmFieldDef } from '../openflow/index.js';

// ---- the slot table ----------------------------------------------------------------------------------

export interface FieldSlot {
  /** First word of the field in a key. */
  readonly word: number;
  /** Words it takes: 1, 2 or 4. */
  readonly words: number;
  /** Significant bits of the value (13 for vlan_vid with OFPVID_PRESENT, 20 for mpls_label, ...). */
  readonly bits: number;
}

/**
 * Fields whose value is narrower than its OXM byte size (the spec's OXM table gives these widths).
 * This is a property of the field and belongs in openflow's OXM table; it lives here until it does.
 */
const NARROW_BITS: ReadonlyMap<string, number> = new Map([
  ['vlan_vid', 13],
  ['vlan_pcp', 3],
  ['ip_dscp', 6],
  ['ip_ecn', 2],
  ['ipv6_flabel', 20],
  ['mpls_label', 20],
  ['mpls_tc', 3],
  ['mpls_bos', 1],
  ['ipv6_exthdr', 9],
]);

/** The basic fields in field-number order: the key's layout order and decompileMatch's output order. */
export const FIELDS: readonly OxmFieldDef[] = [...OXM_BASIC].sort((a, b) => a.field - b.field);

function wordsOf(d: OxmFieldDef): number {
  if (d.kind === 'ipv6' || d.size > 8) return 4;
  return d.size > 4 ? 2 : 1;
}

function buildSlots(): { slots: Map<string, FieldSlot>; total: number } {
  const slots = new Map<string, FieldSlot>();
  let word = 0;
  for (const d of FIELDS) {
    const words = wordsOf(d);
    slots.set(d.name, Object.freeze({ word, words, bits: NARROW_BITS.get(d.name) ?? d.size * 8 }));
    word += words;
  }
  return { slots, total: word };
}

const BUILT = buildSlots();

/** Where each OpenFlow-basic field lives in a flow key. */
export const FIELD_SLOTS: ReadonlyMap<string, FieldSlot> = BUILT.slots;

/** Words in a flow key (and in each half of a compiled match). */
export const KEY_WORDS: number = BUILT.total;

export function slotOf(name: string): FieldSlot {
  const s = FIELD_SLOTS.get(name);
  if (s === undefined) throw new Error(`key.ts: the OXM table has no basic field ${name}`);
  return s;
}

// ---- keys ---------------------------------------------------------------------------------------------

export type FlowKey = Uint32Array;

export function newKey(): FlowKey {
  return new Uint32Array(KEY_WORDS);
}

/** High and low 32-bit words of an unsigned 64-bit value. */
export function splitU64(v: bigint): [hi: number, lo: number] {
  if (v === 0n) return [0, 0];
  return [Number(BigInt.asUintN(32, v >> 32n)), Number(BigInt.asUintN(32, v))];
}

export function joinU64(hi: number, lo: number): bigint {
  if (hi === 0) return BigInt(lo >>> 0);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
