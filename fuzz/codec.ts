/**
 * Fuzz target 'codec': mutated and truncated OpenFlow messages into the pure codec. Promise: decoding
 * either succeeds or raises OFPCodecError (never another exception), and whatever decodes re-encodes to
 * bytes that decode to the same message (stable after the first pass: text fields with invalid UTF-8 or
 * bytes after the NUL normalise once).
 *
 * May import: anything (fuzz/).
 */
import { type OFPMessage, OFPCodecError, decode, encode } from '../openflow/index.js';
import { Rng } from '../test/openflow/gen.js';
import { firstDiff } from '../test/openflow/vectors.js';
import { type FuzzOptions, type FuzzReport, type FuzzTarget, FuzzRecorder } from './harness.js';
import { mutateOpenFlow, openflowSeeds } from './openflow-inputs.js';

async function run(opts: FuzzOptions): Promise<FuzzReport> {
  const rec = new FuzzRecorder('codec', opts);
  const rng = new Rng(opts.seed);
  const seeds = openflowSeeds(rng);
  for (let i = 0; i < opts.inputs; i++) {
    rec.tick(i);
    const input = mutateOpenFlow(rng, rng.pick(seeds));
    let msg: OFPMessage;
    try {
      msg = decode(input);
    } catch (e) {
      if (e instanceof OFPCodecError) rec.count('codecError');
      else rec.finding(i, `${input.toString('hex')} raised ${String(e)}`);
      continue;
    }
    rec.count('decoded');
    try {
      const once = encode(msg);
      const at = firstDiff(encode(decode(once)), once);
      if (at !== -1) rec.finding(i, `${input.toString('hex')} re-encodes unstably (first difference at byte ${at})`);
    } catch (e) {
      rec.finding(i, `${input.toString('hex')} decoded but does not re-encode: ${String(e)}`);
    }
  }
  return rec.report(opts.inputs);
}

export const codecTarget: FuzzTarget = {
  name: 'codec',
  about: 'mutated OpenFlow messages into the codec: a clean decode that re-encodes stably, or OFPCodecError',
  run,
};
