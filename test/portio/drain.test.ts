/**
 * Draining every ready port in one wake-up (switch/portio/src/portio.c, drain_all; TINFLOW_PORTIO_DRAIN=1): a frame one port's
 * handler sends into a veth whose other end is another port of this process is read in the same wake-up
 * (before the event loop's next turn: before a setImmediate queued by the first handler), not one loop
 * iteration later; and nothing is lost, doubled or reordered on the way. Needs root (CI runs as root).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NativeFramePort, openInterface } from '../../switch/portio/index.js';
import { Lab } from './netns.js';
import { waitFor } from '../helpers/wait.js';

const ETHERTYPE = 0x88b5; // IEEE local experimental

// The addon reads its I/O options once per process, when the first port opens (vitest runs each file in
// a process of its own): draining is opt-in.
process.env['TINFLOW_PORTIO_DRAIN'] = '1';

function frame(seq: number): Buffer {
  const f = Buffer.alloc(64);
  Buffer.from('02000000cc0102000000cc02', 'hex').copy(f, 0);
  f.writeUInt16BE(ETHERTYPE, 12);
  f.writeUInt32BE(seq, 14);
  return f;
}

const seqOf = (f: Buffer): number | undefined => (f.length >= 18 && f.readUInt16BE(12) === ETHERTYPE ? f.readUInt32BE(14) : undefined);

/**
 * Two veth pairs in the root namespace, all four ends opened here: src → in (the trigger) and out → sink.
 * in's handler forwards what it gets to out; sink receives it.
 */
describe('a frame passed between two ports of one process is read in the same wake-up', () => {
  const lab = new Lab('dr');
  let src: NativeFramePort, inp: NativeFramePort, out: NativeFramePort, sink: NativeFramePort;
  const events: string[] = [];
  const got: number[] = [];

  beforeAll(() => {
    lab.veth(lab.name('s'), lab.name('i'));
    lab.veth(lab.name('o'), lab.name('k'));
    src = openInterface(lab.name('s'));
    inp = openInterface(lab.name('i'));
    out = openInterface(lab.name('o'));
    sink = openInterface(lab.name('k'));
    src.start(() => undefined);
    out.start(() => undefined);
    inp.start((batch) => {
      const frames: Buffer[] = [];
      for (let i = 0; i < batch.count; i++) {
        const f = batch.frame(i);
        const s = seqOf(f);
        if (s === undefined) continue;
        frames.push(f);
        events.push(`in ${s}`);
        setImmediate(() => events.push(`turn ${s}`));
      }
      if (frames.length) out.send(frames);
    });
    sink.start((batch) => {
      for (let i = 0; i < batch.count; i++) {
        const s = seqOf(batch.frame(i));
        if (s === undefined) continue;
        got.push(s);
        events.push(`sink ${s}`);
      }
    });
  });

  afterAll(() => {
    for (const p of [src, inp, out, sink]) p?.close();
    lab.cleanup();
  });

  it('sink sees the frame before the loop turns, and every frame arrives once, in order', async () => {
    const N = 40;
    for (let s = 0; s < N; s++) {
      src.send([frame(s)]);
      await waitFor(`frame ${s} at the sink and the loop turned`, () => events.includes(`turn ${s}`) && got.includes(s), 5000, { intervalMs: 5 });
    }
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    // Same wake-up: "sink s" comes before "turn s". The kernel normally hands a veth's frame to its peer
    // inside the send; under heavy load it may defer that to ksoftirqd, so not every frame need show it.
    let early = 0;
    for (let s = 0; s < N; s++) if (events.indexOf(`sink ${s}`) < events.indexOf(`turn ${s}`)) early++;
    expect(early).toBeGreaterThan(0);
  });
});
