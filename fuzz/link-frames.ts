/**
 * Fuzz target 'link-frames': everything a TinCan link peer can send once the link is up, into the link's
 * receive path (link/rx.ts, which TinCanLink feeds from libdatachannel): RTP packets on the media track
 * (well-formed ones carrying frames of every size, packed ones, mutated, truncated and random ones, text
 * instead of binary, ArrayBuffers, 64 KiB+ packets) and messages on the control channel (echoes, goodbyes,
 * junk, text). Drives the pure entry points directly, so it runs at hundreds of thousands of inputs a second.
 *
 * Promises checked per input: nothing throws out of the receive path; a packet is taken whole or refused
 * whole with the reason an independent reading of the format gives (counted by reason; their sum is
 * rxErrors); the frames delivered to the port are exactly the frames in the packet, byte for byte, in
 * order; with a slow port (deliveries held back) the queue never holds more than its limit, and what did
 * not fit is counted in rxDropped, packet by packet; a control message is read as its type byte and
 * length say, and an echo request's reply is the request with its type byte changed.
 *
 * May import: anything (fuzz/).
 */
import { PACKED_LEN_BYTES, PT_FRAME, PT_PACKED, RTP_FIRST_BYTE, RTP_HEADER_BYTES } from '../link/rtp.js';
import { BYE_REASON_BYTES, CTL, ECHO_BYTES, type PeerMessage, RxPath, parseControl } from '../link/rx.js';
import type { FrameBatch } from '../switch/port.js';
import { zeroCounters } from '../switch/port.js';
import { rngU32 } from '../test/helpers/rng.js';
import { type FuzzOptions, type FuzzReport, type FuzzTarget, FuzzRecorder } from './harness.js';

/** A small, fast generator on test/helpers/rng.ts. */
class Gen {
  readonly u32: () => number;
  constructor(seed: number) {
    this.u32 = rngU32(seed);
  }
  int(n: number): number {
    return this.u32() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)] as T;
  }
  /** Random bytes in b[from, to): the first 32 each drawn, the rest a drawn 8-byte pattern (native fill: fast). */
  fill(b: Buffer, from = 0, to = b.length): Buffer {
    const head = Math.min(to, from + 32);
    for (let i = from; i < head; i++) b[i] = this.u32() & 0xff;
    if (head < to) {
      this.pattern.writeUInt32LE(this.u32(), 0);
      this.pattern.writeUInt32LE(this.u32(), 4);
      b.fill(this.pattern, head, to);
    }
    return b;
  }
  private readonly pattern = Buffer.alloc(8);
}

/** MTUs the links are made with: the smallest allowed, the default, the largest (link/config.ts). */
const MTUS = [68, 1400, 8900] as const;

/** What an independent reading of the frame format says of a packet: its verdict and its frames. */
interface Expected {
  readonly verdict: string;
  readonly frames: readonly Buffer[];
}

/**
 * The format as link/README.md states it, read afresh (not link/rtp.ts's code): 0x80, PT 96 (one frame,
 * the payload) or 97 (2-byte lengths and frames, filling the payload exactly, at least one), every frame
 * 14 bytes to the largest frame; RTCP (second byte 192..223) ignored.
 */
function expect(m: PeerMessage, maxFrame: number): Expected {
  if (typeof m === 'string') return { verdict: 'not-binary', frames: [] };
  const p = Buffer.isBuffer(m) ? m : Buffer.from(m);
  if (p.length >= 2 && p[1]! >= 192 && p[1]! <= 223) return { verdict: 'rtcp', frames: [] };
  if (p.length < RTP_HEADER_BYTES) return { verdict: 'short', frames: [] };
  if (p[0] !== RTP_FIRST_BYTE) return { verdict: 'version', frames: [] };
  const pt = p[1]! & 0x7f;
  const ok = (n: number): boolean => n >= 14 && n <= maxFrame;
  if (pt === PT_FRAME) {
    const f = p.subarray(RTP_HEADER_BYTES);
    return ok(f.length) ? { verdict: 'frames', frames: [f] } : { verdict: 'frame-length', frames: [] };
  }
  if (pt !== PT_PACKED) return { verdict: 'payload-type', frames: [] };
  const frames: Buffer[] = [];
  let o = RTP_HEADER_BYTES;
  while (o < p.length) {
    if (p.length - o < 2) return { verdict: 'packing', frames: [] };
    const n = p.readUInt16BE(o);
    if (!ok(n)) return { verdict: 'frame-length', frames: [] };
    if (o + 2 + n > p.length) return { verdict: 'packing', frames: [] };
    frames.push(p.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return frames.length === 0 ? { verdict: 'packing', frames: [] } : { verdict: 'frames', frames };
}

function header(g: Gen, pt: number, payload: number): Buffer {
  const b = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload);
  b[0] = RTP_FIRST_BYTE;
  b[1] = pt;
  b.writeUInt16BE(g.int(0x10000), 2);
  b.writeUInt32BE(g.u32(), 4);
  b.writeUInt32BE(g.u32(), 8);
  return b;
}

/** Frame lengths worth trying for a link of this largest frame: the edges and some in between. */
function frameLength(g: Gen, maxFrame: number): number {
  switch (g.int(12)) {
    case 0:
      return 0;
    case 1:
      return 1 + g.int(13); // shorter than an Ethernet header
    case 2:
      return 14;
    case 3:
      return maxFrame - 4; // the MTU's frame without a VLAN tag
    case 4:
      return maxFrame;
    case 5:
      return maxFrame + 1 + g.int(64);
    case 6:
      return g.int(40) === 0 ? 65_536 + g.int(4096) : maxFrame + g.int(2000); // 64 KiB+, rarely (slow)
    default:
      return 14 + g.int(Math.max(1, Math.min(maxFrame, 1600) - 13));
  }
}

/** A well-formed or nearly well-formed packet for a link of this largest frame. */
function packet(g: Gen, maxFrame: number): PeerMessage {
  const kind = g.int(20);
  if (kind < 7) {
    const len = frameLength(g, maxFrame);
    return g.fill(header(g, PT_FRAME, len), RTP_HEADER_BYTES);
  }
  if (kind < 12) {
    const count = 1 + g.int(g.int(4) === 0 ? 40 : 4);
    const lens = Array.from({ length: count }, () => (g.int(6) === 0 ? frameLength(g, maxFrame) : 14 + g.int(Math.min(maxFrame, 200) - 13)));
    const b = header(g, PT_PACKED, lens.reduce((s, n) => s + PACKED_LEN_BYTES + n, 0));
    let o = RTP_HEADER_BYTES;
    for (const n of lens) {
      b.writeUInt16BE(n & 0xffff, o);
      g.fill(b, o + 2, o + 2 + n);
      o += 2 + n;
    }
    return b;
  }
  if (kind < 16) {
    // a valid packet, then mutated: bytes flipped, cut, or extended
    const base = packet(g, maxFrame);
    const b = Buffer.from(typeof base === 'string' ? base : Buffer.isBuffer(base) ? base : Buffer.from(base));
    switch (g.int(3)) {
      case 0:
        for (let k = 1 + g.int(4); k > 0 && b.length > 0; k--) b[g.int(Math.min(b.length, 40))] = g.u32() & 0xff;
        return b;
      case 1:
        return b.subarray(0, g.int(b.length + 1));
      default:
        return Buffer.concat([b, g.fill(Buffer.allocUnsafe(1 + g.int(8)))]);
    }
  }
  if (kind === 16) return g.fill(Buffer.allocUnsafe(g.int(64))); // random bytes
  if (kind === 17) return Buffer.from('\x80`'.repeat(1 + g.int(20)), 'latin1').toString('latin1'); // text, not binary
  if (kind === 18) {
    // an ArrayBuffer holding a good frame
    const b = g.fill(header(g, PT_FRAME, 14 + g.int(100)), RTP_HEADER_BYTES);
    const ab = new ArrayBuffer(b.length);
    b.copy(Buffer.from(ab));
    return ab;
  }
  // RTCP (sender report type 200) and its neighbours
  const b = g.fill(Buffer.allocUnsafe(8 + g.int(40)));
  b[0] = 0x80;
  b[1] = 190 + g.int(36);
  return b;
}

/** A control-channel message: echoes (right and wrong lengths), goodbyes, junk, text. */
function control(g: Gen): PeerMessage {
  const kind = g.int(8);
  if (kind <= 2) {
    const len = g.int(3) === 0 ? g.int(30) : ECHO_BYTES;
    const b = g.fill(Buffer.allocUnsafe(len));
    if (len > 0) b[0] = g.pick([CTL.ECHO_REQUEST, CTL.ECHO_REPLY]);
    return b;
  }
  if (kind === 3) {
    const b = g.fill(Buffer.allocUnsafe(1 + g.int(g.int(10) === 0 ? 70_000 : 300)));
    b[0] = CTL.BYE;
    return b;
  }
  if (kind === 4) return String.fromCharCode(...Array.from({ length: g.int(30) }, () => g.int(0x3000)));
  return g.fill(Buffer.allocUnsafe(g.int(40)));
}

function checkControl(m: PeerMessage, i: number, rec: FuzzRecorder): void {
  let got: ReturnType<typeof parseControl>;
  try {
    got = parseControl(m);
  } catch (e) {
    rec.finding(i, `control message threw ${String(e)}`);
    return;
  }
  rec.count(`control:${got.kind === 'refused' ? got.reason : got.kind}`);
  const b = typeof m === 'string' ? Buffer.from(m, 'utf8') : Buffer.isBuffer(m) ? m : Buffer.from(m);
  const type = b[0];
  const want = b.length === 0 ? 'refused' : type === CTL.ECHO_REQUEST ? (b.length === ECHO_BYTES ? 'echo-request' : 'refused') : type === CTL.ECHO_REPLY ? (b.length === ECHO_BYTES && Number.isFinite(b.readDoubleBE(5)) ? 'echo-reply' : 'refused') : type === CTL.BYE ? 'bye' : 'refused';
  if (got.kind !== want) rec.finding(i, `control ${b.subarray(0, 16).toString('hex')} (${b.length} bytes) read as ${got.kind}, expected ${want}`);
  if (got.kind === 'echo-request' && !(got.bytes[0] === CTL.ECHO_REPLY && got.bytes.subarray(1).equals(b.subarray(1)) && b[0] === CTL.ECHO_REQUEST)) {
    rec.finding(i, 'an echo reply is not the request with its type changed (or the request was written into)');
  }
  if (got.kind === 'bye' && got.reason.length > BYE_REASON_BYTES) rec.finding(i, `a goodbye's reason kept ${got.reason.length} characters`);
}

function hexOf(m: PeerMessage): string {
  if (typeof m === 'string') return `text ${JSON.stringify(m.slice(0, 40))}`;
  const b = Buffer.isBuffer(m) ? m : Buffer.from(m);
  return `${b.length} bytes ${b.subarray(0, 24).toString('hex')}`;
}

async function run(opts: FuzzOptions): Promise<FuzzReport> {
  const rec = new FuzzRecorder('link-frames', opts, { sampleEvery: 50_000, logEvery: 50_000 });
  const g = new Gen(opts.seed);
  // One receive path per MTU, delivered after every packet, and one with a tiny queue whose port is slow.
  const fast = MTUS.map((mtu) => ({ maxFrame: mtu + 18, c: zeroCounters(), rx: undefined as RxPath | undefined }));
  for (const f of fast) f.rx = new RxPath(f.maxFrame, f.c);
  const SLOW_LIMIT = 32;
  const slowC = zeroCounters();
  const slow = new RxPath(1400 + 18, slowC, SLOW_LIMIT);
  let slowWant: Buffer[] = [];
  let slowDropped = 0;

  let got: Buffer[] = [];
  const handler = (b: FrameBatch): void => {
    for (let k = 0; k < b.count; k++) got.push(b.frame(k));
  };

  for (let i = 0; i < opts.inputs; i++) {
    rec.tick(i);
    const lane = g.int(10);
    if (lane === 0) {
      checkControl(control(g), i, rec);
    } else if (lane === 1) {
      // the slow port: packets pile up; every so often it takes what waits
      const m = packet(g, slow.maxFrame);
      const want = expect(m, slow.maxFrame);
      try {
        slow.packet(m);
      } catch (e) {
        rec.finding(i, `slow path: ${hexOf(m)} threw ${String(e)}`);
        continue;
      }
      if (want.verdict === 'frames') {
        if (slowWant.length + want.frames.length > SLOW_LIMIT) slowDropped += want.frames.length;
        else slowWant.push(...want.frames);
      }
      if (slowC.rxDropped !== slowDropped) rec.finding(i, `slow path: ${hexOf(m)}: rxDropped ${slowC.rxDropped}, expected ${slowDropped}`);
      if (slow.queued > SLOW_LIMIT) rec.finding(i, `slow path: ${slow.queued} frames queued, over its limit ${SLOW_LIMIT}`);
      if (g.int(40) === 0) {
        got = [];
        try {
          slow.deliver(handler);
        } catch (e) {
          rec.finding(i, `slow path: delivery threw ${String(e)}`);
        }
        if (got.length !== slowWant.length || got.some((f, k) => !f.equals(slowWant[k] as Buffer))) {
          rec.finding(i, `slow path: delivered ${got.length} frames, expected ${slowWant.length} (or not byte for byte)`);
        }
        rec.count('slowDeliveries');
        slowWant = [];
      }
    } else {
      const f = g.pick(fast);
      const rx = f.rx as RxPath;
      const m = packet(g, f.maxFrame);
      const want = expect(m, f.maxFrame);
      const errors0 = f.c.rxErrors;
      const refused0 = { ...rx.refused };
      const rtcp0 = rx.rtcpIgnored;
      let queued: boolean;
      got = [];
      try {
        queued = rx.packet(m);
        rx.deliver(handler);
      } catch (e) {
        rec.finding(i, `${hexOf(m)} threw ${String(e)}`);
        continue;
      }
      rec.count(`packet:${want.verdict}`);
      if (want.verdict === 'frames') {
        if (!queued) rec.finding(i, `${hexOf(m)}: well-formed, not taken`);
        if (got.length !== want.frames.length || got.some((fr, k) => !fr.equals(want.frames[k] as Buffer))) {
          rec.finding(i, `${hexOf(m)}: delivered ${got.length} frames, expected ${want.frames.length} (or not byte for byte)`);
        }
        if (f.c.rxErrors !== errors0) rec.finding(i, `${hexOf(m)}: well-formed, counted as an error`);
      } else if (want.verdict === 'rtcp') {
        if (got.length !== 0 || rx.rtcpIgnored !== rtcp0 + 1) rec.finding(i, `${hexOf(m)}: RTCP not ignored and counted`);
      } else {
        const key = want.verdict as keyof typeof rx.refused;
        if (got.length !== 0) rec.finding(i, `${hexOf(m)}: refused (${want.verdict}) but ${got.length} frames delivered`);
        if (f.c.rxErrors !== errors0 + 1 || (rx.refused[key] ?? 0) !== (refused0[key] ?? 0) + 1) {
          rec.finding(i, `${hexOf(m)}: not counted as ${want.verdict} (refused ${JSON.stringify(rx.refused)})`);
        }
      }
    }
  }
  for (const f of fast) {
    const rx = f.rx as RxPath;
    const sum = Object.values(rx.refused).reduce((s, n) => s + (n ?? 0), 0);
    if (sum !== f.c.rxErrors) rec.finding(opts.inputs, `mtu ${f.maxFrame - 18}: refusals by reason add up to ${sum}, rxErrors is ${f.c.rxErrors}`);
    rec.count('framesDelivered', f.c.rxPackets);
  }
  rec.count('slowDropped', slowC.rxDropped);
  return rec.report(opts.inputs);
}

export const linkFramesTarget: FuzzTarget = {
  name: 'link-frames',
  about: "what a link peer sends (RTP packets of every size, packed, mutated, text; control messages) into the link's receive path: never a throw, bad packets refused whole and counted by reason, good frames delivered byte for byte, the queue bounded",
  run,
};
