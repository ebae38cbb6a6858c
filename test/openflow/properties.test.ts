/**
 * Round-trip properties over 10,000 seeded random messages of every type, and a fuzz run over 100,000
 * mutated or truncated vectors: decoding either succeeds cleanly or raises OFPCodecError, never
 * anything else, and whatever decodes re-encodes to bytes that decode to the same message.
 */
import { describe, expect, it } from 'vitest';
import {
  type OFPMessage,
  Framer,
  OFPCodecError,
  decode,
  decodeAll,
  encode,
  encodeInto,
  encodedLength,
  fromRyuJson,
  parseJson,
  stringifyJson,
  toRyuJson,
} from '../../openflow/index.js';
import { codecTarget } from '../../fuzz/codec.js';
import { GENERATORS, Rng, genMessage } from './gen.js';
import { firstDiff } from './vectors.js';

const N_ROUNDTRIP = 10_000;
const N_FUZZ = 100_000;

describe('round-trip properties (seeded)', () => {
  it('the generator covers every message class', () => {
    expect(Object.keys(GENERATORS).length).toBeGreaterThanOrEqual(58);
  });

  it(`${N_ROUNDTRIP} random messages: decode(encode(m)) = m, stable re-encoding, length, offset, JSON`, () => {
    const rng = new Rng(20261126);
    const seen = new Set<string>();
    for (let i = 0; i < N_ROUNDTRIP; i++) {
      const m = genMessage(rng);
      seen.add(m.type);
      const bytes = encode(m);
      expect(bytes.length, m.type).toBe(encodedLength(m));
      expect(bytes.readUInt16BE(2), m.type).toBe(bytes.length);
      const back = decode(bytes);
      expect(back, m.type).toEqual(m);
      const again = encode(back);
      expect(firstDiff(again, bytes), m.type).toBe(-1);
      // at a non-zero offset
      const off = 1 + rng.int(13);
      const big = Buffer.alloc(off + bytes.length + 5, 0xee);
      expect(encodeInto(m, big, off)).toBe(off + bytes.length);
      expect(firstDiff(big.subarray(off, off + bytes.length), bytes), m.type).toBe(-1);
      // through Ryu JSON text and back
      const text = stringifyJson(toRyuJson(m));
      expect(fromRyuJson(parseJson(text)), m.type).toEqual({ ...m, xid: 0 });
    }
    expect(seen.size).toBe(Object.keys(GENERATORS).length);
  });

  it('concatenations decode to the same messages, and any chunking of a stream frames them', () => {
    const rng = new Rng(7);
    const msgs: OFPMessage[] = Array.from({ length: 300 }, () => genMessage(rng));
    const stream = Buffer.concat(msgs.map((m) => encode(m)));
    expect(decodeAll(stream)).toEqual(msgs);
    for (const mode of ['bytewise', 'random', 'whole'] as const) {
      const framer = new Framer();
      const got: OFPMessage[] = [];
      let off = 0;
      while (off < stream.length) {
        const n = mode === 'bytewise' ? 1 : mode === 'whole' ? stream.length : 1 + rng.int(300);
        for (const f of framer.push(stream.subarray(off, off + n))) got.push(decode(f));
        off += n;
      }
      expect(framer.buffered).toBe(0);
      expect(got).toEqual(msgs);
    }
  });

  it('the framer rejects lengths below 8 and above its maximum', () => {
    expect(() => new Framer().push(Buffer.from('04000004000000000000', 'hex'))).toThrow(OFPCodecError);
    const f = new Framer({ maxLength: 100 });
    expect(() => f.push(Buffer.from('040a0400', 'hex'))).toThrow(/outside 8..100/);
  });
});

describe('fuzz', () => {
  it(`${N_FUZZ} mutated or truncated messages: typed error or a clean decode that re-encodes stably, always`, async () => {
    const r = await codecTarget.run({ inputs: N_FUZZ, seed: 99 });
    expect(r.findings).toEqual([]);
    expect(r.inputs).toBe(N_FUZZ);
    // both outcomes are exercised: the mutations neither all break nor all pass
    expect(r.counts.codecError).toBeGreaterThan(N_FUZZ / 10);
    expect(r.counts.decoded).toBeGreaterThan(N_FUZZ / 20);
  });
});
