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
import { GENERATORS, Rng, genMessage } from './gen.js';
import { firstDiff, loadVectors } from './vectors.js';

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

function mutate(rng: Rng, src: Buffer): Buffer {
  const b = Buffer.from(src);
  switch (rng.int(7)) {
    case 0: // truncate, keeping the header's length
      return b.subarray(0, rng.int(b.length));
    case 1: {
      // truncate and patch the header's length to match
      const t = Buffer.from(b.subarray(0, Math.max(8, rng.int(b.length))));
      t.writeUInt16BE(t.length, 2);
      return t;
    }
    case 2: // flip bits
      for (let k = 1 + rng.int(4); k > 0; k--) {
        const i = rng.int(b.length);
        b[i] = (b[i] as number) ^ (1 << rng.int(8));
      }
      return b;
    case 3: // random bytes after the header
      for (let k = 1 + rng.int(6); k > 0; k--) b[8 + rng.int(Math.max(1, b.length - 8))] = rng.int(256);
      return b.subarray(0, b.length);
    case 4: {
      // corrupt a 16-bit length-looking field
      const i = 8 + 2 * rng.int(Math.max(1, (b.length - 10) >> 1));
      if (i + 2 <= b.length) b.writeUInt16BE(rng.pick([0, 1, 4, 7, 8, 0xffff, rng.int(0x10000)]), i);
      return b;
    }
    case 5: {
      // insert bytes and fix the header length
      const at = 8 + rng.int(Math.max(1, b.length - 8));
      const ins = rng.bytes(1 + rng.int(16));
      const out = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
      if (out.length <= 0xffff) out.writeUInt16BE(out.length, 2);
      return out;
    }
    default: // header type / version
      b[rng.int(2)] = rng.int(256);
      return b;
  }
}

describe('fuzz', () => {
  it(`${N_FUZZ} mutated or truncated messages: typed error or a clean decode, always`, () => {
    const rng = new Rng(99);
    const seeds: Buffer[] = loadVectors().map((v) => v.bytes);
    for (let i = 0; i < 200; i++) seeds.push(encode(genMessage(rng)));
    let errors = 0;
    let clean = 0;
    for (let i = 0; i < N_FUZZ; i++) {
      const input = mutate(rng, rng.pick(seeds));
      let msg: OFPMessage;
      try {
        msg = decode(input);
      } catch (e) {
        if (!(e instanceof OFPCodecError)) {
          throw new Error(`input ${input.toString('hex')} raised ${String(e)}`);
        }
        expect(e.errType).toBeGreaterThanOrEqual(0);
        errors++;
        continue;
      }
      clean++;
      // whatever decodes must re-encode, and re-encoding is stable from then on (text fields with
      // invalid UTF-8 or bytes after the NUL normalise on the first pass)
      const once = encode(msg);
      const twice = encode(decode(once));
      expect(firstDiff(twice, once), input.toString('hex')).toBe(-1);
    }
    expect(errors + clean).toBe(N_FUZZ);
    expect(errors).toBeGreaterThan(N_FUZZ / 10);
    expect(clean).toBeGreaterThan(N_FUZZ / 20);
  });
});
