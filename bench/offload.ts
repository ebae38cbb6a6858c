/**
 * Software segmentation, TypeScript (switch/offload.ts) against the port I/O addon's C (gso.c): 64 KiB
 * TCP/IPv4 super-frames (Linux's shape: timestamps option, gso_size 1448) cut into plain frames with
 * every checksum, single-threaded, in rounds that alternate the implementations so that a busy machine
 * slows both alike. Prints plain frames per second (median of the rounds) and the ratio. No root needed;
 * the native rows need the addon (`npm run build:native`).
 *
 *   ts  segment   Segmenter.segment into its reused memory (views): what the datapath does
 *   ts  copies    toPlainFrames(): a Buffer of its own per frame
 *   c   segment   the addon's segmentInto() into the same kind of reused memory: the accelerator
 *   c   copies    the addon's toPlainFrames(): a Buffer of its own per frame
 *
 * Usage: node dist/bench/offload.js [--rounds N] [--ms PER_ROUND]
 */
import { parseArgs } from 'node:util';
import { Segmenter, VNET, toPlainFrames, vnetHeader } from '../switch/offload.js';
import { loadAddon, nativeSegmenter } from '../switch/portio/index.js';

/** A 64 KiB TCP/IPv4 super-frame as Linux hands it to a device with TSO (pseudo-header sum in place). */
function superFrame(): { frame: Buffer; hdr: Buffer } {
  const l3 = 14;
  const l4 = l3 + 20;
  const hl = l4 + 32;
  const payload = 65535 - 20 - 32;
  const f = Buffer.alloc(hl + payload);
  Buffer.from('02000000000202000000000108004500', 'hex').copy(f, 0);
  f.writeUInt16BE(f.length - l3, l3 + 2);
  f.writeUInt16BE(0x4000, l3 + 6);
  f[l3 + 8] = 64;
  f[l3 + 9] = 6;
  Buffer.from('0a0000010a000002', 'hex').copy(f, l3 + 12);
  f.writeUInt16BE(40000, l4);
  f.writeUInt16BE(5201, l4 + 2);
  f.writeUInt32BE(0x12345678, l4 + 4);
  f[l4 + 12] = 0x80;
  f[l4 + 13] = 0x18;
  Buffer.from('0101080a0000100000002000', 'hex').copy(f, l4 + 20);
  for (let i = hl; i < f.length; i++) f[i] = (i * 31) & 0xff;
  const hdr = vnetHeader({ flags: VNET.F_NEEDS_CSUM, gsoType: VNET.GSO_TCPV4, hdrLen: hl, gsoSize: 1448, csumStart: l4, csumOffset: 16 });
  return { frame: f, hdr };
}

type Run = () => number;

/** Frames per second of `run` (frames per call) over about `ms` milliseconds. */
function rate(run: Run, ms: number): number {
  let frames = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 20; i++) frames += run();
    t = performance.now();
  }
  return (frames * 1000) / (t - t0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function main(): void {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, ms: { type: 'string', default: '500' } } });
  const rounds = Number(values.rounds);
  const ms = Number(values.ms);
  const { frame, hdr } = superFrame();
  const ts = new Segmenter();
  const out: Buffer[] = [];
  const runs: [string, Run][] = [
    ['ts segment', () => {
      out.length = 0;
      ts.reset();
      return ts.segment(frame, hdr, out);
    }],
    ['ts copies', () => toPlainFrames(frame, hdr).length],
  ];
  try {
    const a = loadAddon();
    const c = nativeSegmenter();
    if (c !== undefined) {
      runs.push(['c segment', () => {
        out.length = 0;
        c.reset();
        return c.segment(frame, hdr, out);
      }]);
    }
    runs.push(['c copies', () => a.toPlainFrames(frame, hdr).length]);
  } catch (e) {
    console.log(`(no native rows: ${(e as Error).message})`);
  }
  const results = new Map<string, number[]>(runs.map(([n]) => [n, []]));
  for (const [, run] of runs) rate(run, 200); // warm-up: let the JIT settle
  for (let r = 0; r < rounds; r++) for (const [n, run] of runs) results.get(n)?.push(rate(run, ms));
  const perSuper = toPlainFrames(frame, hdr).length;
  console.log(`64 KiB TCP/IPv4 super-frames (${frame.length} bytes, gso_size 1448, ${perSuper} frames each), median of ${rounds} rounds of ${ms} ms`);
  const base = median(results.get('ts segment') ?? [0]);
  for (const [n] of runs) {
    const m = median(results.get(n) ?? [0]);
    console.log(`${n.padEnd(12)} ${Math.round(m).toLocaleString('en-US').padStart(11)} frames/s  ${Math.round(m / perSuper).toLocaleString('en-US').padStart(8)} super-frames/s  ${(m / base).toFixed(2)}x ts segment`);
  }
}

main();
