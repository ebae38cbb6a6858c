/**
 * The TinCan frame format (link/rtp.ts) alone: headers count up per packet, a lone frame is PT 96,
 * frames handed over together are packed (PT 97) up to the payload limit, and the receiver's check
 * refuses every malformed packet whole, appending nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  PT_FRAME,
  PT_PACKED,
  RTP_HEADER_BYTES,
  RtpHeaderWriter,
  type Verdict,
  decodePacket,
  planPackets,
  writePayload,
} from '../../link/rtp.js';

const MAX = 1418;

function eth(len: number, n: number): Buffer {
  const f = Buffer.alloc(len, n & 0xff);
  f.writeUInt16BE(0x88b5, 12);
  return f;
}

/** Packets as the link builds them from one send() call of these frames. */
function encode(frames: Buffer[], max = MAX, w = new RtpHeaderWriter(0x01020304, 0xfffe)): Buffer[] {
  const out: Buffer[] = [];
  planPackets(frames, max, (i) => (frames[i] as Buffer).length > max, (pt, first, end, bytes) => {
    const b = Buffer.alloc(RTP_HEADER_BYTES + bytes);
    w.write(b, pt);
    expect(writePayload(b, RTP_HEADER_BYTES, pt, frames, first, end)).toBe(b.length);
    out.push(b);
  });
  return out;
}

function rtp(pt: number, payload: Buffer, first = 0x80): Buffer {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = first;
  b[1] = pt;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(0xaabbccdd, 8);
  payload.copy(b, 12);
  return b;
}

const packed = (...frames: Buffer[]): Buffer => Buffer.concat(frames.flatMap((f) => [Buffer.from([f.length >> 8, f.length & 0xff]), f]));

describe('sending', () => {
  it('writes version 2, the payload type, and counts sequence numbers (wrapping) and timestamps per packet', () => {
    const pkts = encode([eth(60, 1)]).concat(encode([eth(60, 2)]));
    const w = new RtpHeaderWriter(0x01020304, 0xffff);
    const a = Buffer.alloc(12);
    const b = Buffer.alloc(12);
    w.write(a, PT_FRAME);
    w.write(b, PT_PACKED);
    expect(a.toString('hex')).toBe('8060ffff0000000001020304');
    expect(b.toString('hex')).toBe('8061000000000001' + '01020304');
    expect(pkts.map((p) => p[0])).toEqual([0x80, 0x80]);
  });

  it('sends a lone frame as PT 96, never waiting for company', () => {
    const [p, ...rest] = encode([eth(100, 1)]);
    expect(rest).toHaveLength(0);
    expect(p?.[1]).toBe(PT_FRAME);
    expect(p?.length).toBe(12 + 100);
  });

  it('packs frames of one call (PT 97) up to the payload limit, in order; a lone leftover is PT 96', () => {
    const frames = [eth(600, 1), eth(600, 2), eth(600, 3), eth(100, 4)];
    const pkts = encode(frames);
    // 2+600 + 2+600 = 1204 fits; + 2+600 = 1806 does not: [1,2] packed, [3,4] packed
    expect(pkts.map((p) => [p[1], p.length - 12])).toEqual([
      [PT_PACKED, 1204],
      [PT_PACKED, 704],
    ]);
    const big = encode([eth(MAX, 1), eth(60, 2)]);
    expect(big.map((p) => [p[1], p.length - 12])).toEqual([
      [PT_FRAME, MAX],
      [PT_FRAME, 60],
    ]);
    for (const p of [...pkts, ...big]) expect(p.length - 12).toBeLessThanOrEqual(MAX);
  });

  it('leaves out frames the caller refuses, ending the run there', () => {
    const frames = [eth(60, 1), eth(2000, 2), eth(60, 3)];
    const pkts = encode(frames);
    expect(pkts.map((p) => [p[1], p.length - 12])).toEqual([
      [PT_FRAME, 60],
      [PT_FRAME, 60],
    ]);
  });

  it('round-trips any mix of sizes through decodePacket', () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let round = 0; round < 200; round++) {
      const frames = Array.from({ length: 1 + Math.floor(rnd() * 20) }, (_, i) => eth(14 + Math.floor(rnd() * (MAX - 13)), round * 31 + i));
      const got: Buffer[] = [];
      for (const p of encode(frames)) expect(decodePacket(p, MAX, got)).toBe('frames');
      expect(got.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
    }
  });
});

describe('receiving: decodePacket refuses bad packets whole', () => {
  const cases: [string, Buffer, Verdict][] = [
    ['empty', Buffer.alloc(0), 'short'],
    ['shorter than a header', Buffer.from('8060000100', 'hex'), 'short'],
    ['RTP version 1', rtp(PT_FRAME, eth(60, 1), 0x40), 'version'],
    ['padding bit', rtp(PT_FRAME, eth(60, 1), 0xa0), 'version'],
    ['extension bit', rtp(PT_FRAME, eth(60, 1), 0x90), 'version'],
    ['a CSRC', rtp(PT_FRAME, eth(60, 1), 0x81), 'version'],
    ['payload type 0', rtp(0, eth(60, 1)), 'payload-type'],
    ['payload type 98', rtp(98, eth(60, 1)), 'payload-type'],
    ['PT 96 with the marker bit is still PT 96', rtp(0x80 | PT_FRAME, eth(60, 1)), 'frames'],
    ['RTCP receiver report (PT 201)', Buffer.from('81c90001aabbccdd', 'hex'), 'rtcp'],
    ['PT 96, empty', rtp(PT_FRAME, Buffer.alloc(0)), 'frame-length'],
    ['PT 96, 13 bytes', rtp(PT_FRAME, Buffer.alloc(13)), 'frame-length'],
    ['PT 96, 14 bytes', rtp(PT_FRAME, Buffer.alloc(14)), 'frames'],
    ['PT 96, the largest frame', rtp(PT_FRAME, eth(MAX, 1)), 'frames'],
    ['PT 96, one byte more', rtp(PT_FRAME, eth(MAX + 1, 1)), 'frame-length'],
    ['PT 97, no frame', rtp(PT_PACKED, Buffer.alloc(0)), 'packing'],
    ['PT 97, one frame', rtp(PT_PACKED, packed(eth(60, 1))), 'frames'],
    ['PT 97, half a length at the end', rtp(PT_PACKED, Buffer.concat([packed(eth(60, 1)), Buffer.from([0])])), 'packing'],
    ['PT 97, a length past the end', rtp(PT_PACKED, Buffer.concat([packed(eth(60, 1)), Buffer.from([0, 60]), eth(59, 2)])), 'packing'],
    ['PT 97, a frame of 13 bytes', rtp(PT_PACKED, packed(eth(60, 1), Buffer.alloc(13))), 'frame-length'],
    ['PT 97, a frame over the largest', rtp(PT_PACKED, packed(eth(MAX + 1, 1))), 'frame-length'],
    ['PT 97, a zero length', rtp(PT_PACKED, Buffer.from([0, 0])), 'frame-length'],
  ];
  it.each(cases)('%s → %s', (_what, pkt, verdict) => {
    const out: Buffer[] = [Buffer.from('kept')];
    expect(decodePacket(pkt, MAX, out)).toBe(verdict);
    if (verdict !== 'frames') expect(out).toEqual([Buffer.from('kept')]); // nothing appended, nothing lost
    else expect(out.length).toBeGreaterThan(1);
  });

  it('hands out views into the packet, not copies', () => {
    const pkt = rtp(PT_PACKED, packed(eth(60, 1), eth(70, 2)));
    const out: Buffer[] = [];
    decodePacket(pkt, MAX, out);
    expect(out.map((f) => [f.length, f.buffer === pkt.buffer])).toEqual([
      [60, true],
      [70, true],
    ]);
  });
});
