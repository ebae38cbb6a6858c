/**
 * Software offloads in TypeScript (switch/offload.ts), the datapath's fallback for ports without offload:
 * checksum completion and the cutting of GSO super-frames (TCP over IPv4 and IPv6, UDP segmentation,
 * IPv4 UDP fragmentation), each output frame checked as a receiver would; then the same bytes as the
 * addon's C (gso.c, the accelerator) on random super-frames, and the same refusals.
 */
import { describe, expect, it } from 'vitest';
import {
  OffloadError,
  Segmenter,
  VNET,
  createSegmenter,
  isPlainHeader,
  readVnet,
  toPlainFrames,
  vnetHeader,
} from '../../switch/offload.js';
import { loadAddon, nativeSegmenter } from '../../switch/portio/index.js';
import { rng } from '../helpers/rng.js';
import { gsoHeader, plainFrameProblems, randomCase, sum16, superFrame } from './offload-frames.js';

const payload = Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 13 + (i >> 8)) & 0xff));

describe('the virtio-net header', () => {
  it('has its fields where struct virtio_net_hdr has them, little-endian', () => {
    const h = vnetHeader({ flags: 1, gsoType: 4, hdrLen: 0x0102, gsoSize: 0x0304, csumStart: 0x0506, csumOffset: 0x0708 });
    expect(h.toString('hex')).toBe('01040201040306050807');
    expect(readVnet(h)).toEqual({ flags: 1, gsoType: 4, hdrLen: 0x0102, gsoSize: 0x0304, csumStart: 0x0506, csumOffset: 0x0708 });
    expect(VNET.SIZE).toBe(10);
  });

  it.each([
    ['no header', undefined, true],
    ['all zero', Buffer.alloc(10), true],
    ['DATA_VALID only', vnetHeader({ flags: VNET.F_DATA_VALID }), true],
    ['NEEDS_CSUM', vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: 34, csumOffset: 16 }), false],
    ['TSO', vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 1448 }), false],
  ] as const)('%s: plain is %s', (_n, h, plain) => {
    expect(isPlainHeader(h)).toBe(plain);
  });
});

describe('software segmentation (TypeScript)', () => {
  it.each([
    ['TCP/IPv4', false, VNET.GSO_TCPV4],
    ['TCP/IPv6', true, VNET.GSO_TCPV6],
  ] as const)('%s super-frame → MSS segments with right seq, flags, ids and checksums', (_n, v6, type) => {
    const b = superFrame({ v6, payload, tcpFlags: 0x99 }); // CWR FIN PSH ACK
    const segs = toPlainFrames(b.frame, gsoHeader(b, type, 1448));
    expect(segs.length).toBe(Math.ceil(payload.length / 1448));
    let seq = 0xfffff000;
    segs.forEach((s, i) => {
      expect(plainFrameProblems(s), `segment ${i}`).toEqual([]);
      expect(s.length).toBeLessThanOrEqual(b.hl + 1448);
      expect(s.readUInt32BE(b.l4 + 4)).toBe(seq >>> 0);
      seq = (seq + s.length - b.hl) >>> 0;
      const last = i === segs.length - 1;
      const first = i === 0;
      expect(s[b.l4 + 13]).toBe((first ? 0x80 : 0) | (last ? 0x19 : 0x10)); // CWR first, FIN PSH last
      if (!v6) expect(s.readUInt16BE(b.l3 + 4)).toBe(0x1234 + i);
    });
    expect(Buffer.concat(segs.map((s) => s.subarray(b.hl)))).toEqual(payload);
  });

  it('UDP segmentation (USO): every segment a datagram of its own', () => {
    const b = superFrame({ proto: 17, payload, vlans: [0x8100] });
    const segs = toPlainFrames(b.frame, gsoHeader(b, VNET.GSO_UDP_L4, 1200, 17));
    expect(segs.length).toBe(Math.ceil(payload.length / 1200));
    for (const s of segs) expect(plainFrameProblems(s)).toEqual([]);
    expect(Buffer.concat(segs.map((s) => s.subarray(b.hl)))).toEqual(payload);
  });

  it('UDP fragmentation (UFO) over IPv4: fragments reassemble to a datagram with a valid checksum', () => {
    const b = superFrame({ proto: 17, payload: payload.subarray(0, 5000) });
    const frags = toPlainFrames(b.frame, gsoHeader(b, VNET.GSO_UDP, 1480, 17));
    expect(frags.length).toBe(Math.ceil((b.frame.length - b.l4) / 1480));
    frags.forEach((s, i) => {
      expect(sum16(s, b.l3, b.l4)).toBe(0xffff);
      const fo = s.readUInt16BE(b.l3 + 6);
      expect(fo & 0x1fff).toBe((i * 1480) / 8);
      expect((fo & 0x2000) !== 0).toBe(i < frags.length - 1);
    });
    const dgram = Buffer.concat(frags.map((s) => s.subarray(b.l4)));
    const whole = Buffer.concat([b.frame.subarray(0, b.l4), dgram]);
    whole.writeUInt16BE(whole.length - b.l3, b.l3 + 2);
    whole.writeUInt16BE(0, b.l3 + 6);
    whole.writeUInt16BE(0, b.l3 + 10);
    whole.writeUInt16BE(~sum16(whole, b.l3, b.l4) & 0xffff, b.l3 + 10);
    expect(plainFrameProblems(whole)).toEqual([]);
    expect(dgram.subarray(8)).toEqual(payload.subarray(0, 5000));
  });

  it('a frame that only needs its checksum completed comes back whole, at any (odd) checksum start', () => {
    const b = superFrame({ payload: payload.subarray(0, 1001), vlans: [0x8100] }); // l4 = 38
    const out = toPlainFrames(b.frame, vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: b.l4, csumOffset: 16 }));
    expect(out).toHaveLength(1);
    expect(plainFrameProblems(out[0] as Buffer)).toEqual([]);
    // an odd csum_start (no real header starts there, but the header may say so)
    const f = Buffer.alloc(101, 7);
    const odd = toPlainFrames(f, vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: 33, csumOffset: 6 }))[0] as Buffer;
    expect(sum16(odd, 33, odd.length, 0x0707)).toBe(0xffff); // with the pseudo-header sum the field held
  });

  it('reuses its memory: views are valid until reset(), then overwritten; it grows for a frame that needs more', () => {
    const b = superFrame({ payload });
    const seg = new Segmenter(1 << 20);
    const out: Buffer[] = [];
    seg.segment(b.frame, gsoHeader(b, VNET.GSO_TCPV4, 1448), out);
    const first = out.map((s) => Buffer.from(s));
    seg.reset();
    seg.segment(b.frame, gsoHeader(b, VNET.GSO_TCPV4, 1000), []);
    expect((out[0] as Buffer).equals(first[0] as Buffer)).toBe(false); // the same memory, new bytes
    const small = new Segmenter(4096); // smaller than one super-frame
    const got: Buffer[] = [];
    small.segment(b.frame, gsoHeader(b, VNET.GSO_TCPV4, 1448), got);
    small.segment(b.frame, gsoHeader(b, VNET.GSO_TCPV4, 1448), got); // grows: the first views stay intact
    expect(got.map((g) => g.toString('hex'))).toEqual([...first, ...first].map((g) => g.toString('hex')));
  });

  it.each([
    ['ARP with a TSO header', (() => { const f = Buffer.alloc(60); f.writeUInt16BE(0x0806, 12); return f; })(), vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 1448 }), 'EPROTONOSUPPORT'],
    ['TCPV6 on an IPv4 frame', superFrame({ payload }).frame, vnetHeader({ gsoType: VNET.GSO_TCPV6, gsoSize: 1448 }), 'EINVAL'],
    ['gso_size 0', superFrame({ payload }).frame, vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 0 }), 'EINVAL'],
    ['more than 256 segments', superFrame({ payload }).frame, vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 10 }), 'ENOSPC'],
    ['UFO over IPv6', superFrame({ v6: true, proto: 17, payload }).frame, vnetHeader({ gsoType: VNET.GSO_UDP, gsoSize: 1448 }), 'EPROTONOSUPPORT'],
    ['a checksum beyond the frame', Buffer.alloc(60), vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: 50, csumOffset: 16 }), 'EINVAL'],
    ['a truncated TCP header', superFrame({ payload }).frame.subarray(0, 40), vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 1448 }), 'EINVAL'],
  ] as const)('refuses %s with %s', (_n, frame, hdr, code) => {
    const e = catchErr(() => toPlainFrames(frame, hdr));
    expect(e).toBeInstanceOf(OffloadError);
    expect((e as OffloadError).code).toBe(code);
  });
});

/** The addon's segmenter, when it is built (CI builds it; without it these tests say so and fail). */
function native(): NonNullable<ReturnType<typeof nativeSegmenter>> {
  loadAddon();
  const n = nativeSegmenter();
  if (n === undefined) throw new Error('the port I/O addon has no segmentInto: run "npm run build:native"');
  return n;
}

type Outcome = { frames: string[] } | { error: string };

function run(seg: ReturnType<typeof createSegmenter>, frame: Buffer, hdr: Buffer): Outcome {
  const out: Buffer[] = [];
  try {
    seg.segment(frame, hdr, out);
    return { frames: out.map((b) => b.toString('hex')) };
  } catch (e) {
    if (e instanceof OffloadError) return { error: e.code };
    throw e;
  } finally {
    seg.reset();
  }
}

describe('the addon (gso.c, the accelerator) and offload.ts (the reference) agree byte for byte', () => {
  it('once the addon is loaded, createSegmenter() hands out the C one', () => {
    loadAddon();
    expect(createSegmenter()).not.toBeInstanceOf(Segmenter);
  });

  it('600 random super-frames and checksum-only frames: the same plain frames, all valid', () => {
    const c = native();
    const ts = new Segmenter();
    const r = rng(20240611);
    let frames = 0;
    for (let i = 0; i < 600; i++) {
      const { frame, hdr, what } = randomCase(r);
      const want = run(c, frame, hdr);
      const got = run(ts, frame, hdr);
      expect(got, `case ${i}: ${what}`).toEqual(want);
      if ('frames' in got) {
        frames += got.frames.length;
        for (const h of got.frames) expect(plainFrameProblems(Buffer.from(h, 'hex')), `case ${i}: ${what}`).toEqual([]);
      }
    }
    expect(frames).toBeGreaterThan(5000); // mostly real cuts, not refusals
  });

  it('300 random headers on random and cut-short frames: the same output or the same refusal', () => {
    const c = native();
    const ts = new Segmenter();
    const r = rng(7);
    const codes = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const base = randomCase(r);
      const frame = r() < 0.5 ? base.frame.subarray(0, Math.floor(r() * 120)) : base.frame;
      const hdr = Buffer.from(Array.from({ length: 10 }, () => Math.floor(r() * 256)));
      hdr[VNET.GSO_TYPE] = [0, 1, 3, 4, 5, 0x81, 2, 9][Math.floor(r() * 8)] as number;
      if (r() < 0.7) hdr.writeUInt16LE(base.hdr.readUInt16LE(VNET.CSUM_START) + Math.floor(r() * 3), VNET.CSUM_START);
      if (r() < 0.7) hdr.writeUInt16LE(536 + Math.floor(r() * 9000), VNET.GSO_SIZE);
      else if (r() < 0.5) hdr.writeUInt16LE(Math.floor(r() * 16), VNET.GSO_SIZE); // 0, or too many segments
      const want = run(c, frame, hdr);
      expect(run(ts, frame, hdr), `case ${i}: ${hdr.toString('hex')} on ${frame.length} bytes`).toEqual(want);
      codes.add('error' in want ? want.error : 'ok');
    }
    expect([...codes].sort()).toEqual(['EINVAL', 'ENOSPC', 'EPROTONOSUPPORT', 'ok']);
  });
});

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
