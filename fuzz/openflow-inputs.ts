/**
 * OpenFlow inputs for the fuzz targets: seed messages (Ryu's golden vectors and generated messages of
 * every type) and the mutations applied to them. Each mutation keeps enough of a message that it still
 * reaches deep into the decoder: truncation with and without a patched length, bit flips, random body
 * bytes, a corrupted inner length, inserted bytes, a wrong version or type.
 *
 * May import: anything (fuzz/).
 */
import { encode } from '../openflow/index.js';
import { Rng, genMessage } from '../test/openflow/gen.js';
import { loadVectors } from '../test/openflow/vectors.js';

/** Ryu's vectors (when ../shared/ryu-of13 is there) and `generated` random messages from rng. */
export function openflowSeeds(rng: Rng, generated = 200): Buffer[] {
  const seeds: Buffer[] = [];
  try {
    for (const v of loadVectors()) seeds.push(v.bytes);
  } catch {
    // Without the vectors the generated messages still cover every message class.
  }
  for (let i = 0; i < generated; i++) seeds.push(encode(genMessage(rng)));
  return seeds;
}

/** One mutation of src (src is not changed). */
export function mutateOpenFlow(rng: Rng, src: Buffer): Buffer {
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
