/**
 * Software offloads (switch/portio/src/gso.c) on frames built by ../switch/offload-frames.ts: checksum completion and the cutting
 * of GSO super-frames (TCP over IPv4 and IPv6, UDP segmentation, IPv4 UDP fragmentation). Each output
 * frame is checked as a receiver would: lengths, IP and L4 checksums, sequence numbers, and the payload
 * put back together.
 */
import { describe, expect, it } from 'vitest';
import { toPlainFrames } from '../../switch/portio/index.js';
import { type Built, pseudo, sum16, superFrame as buildSuperFrame } from '../switch/offload-frames.js';

/** A super-frame as gso.c gets it: no VLAN or options, DF set, FIN PSH ACK, the sequence wrapping during the cut. */
const superFrame = (v6: boolean, proto: 6 | 17, payload: Buffer): Built => buildSuperFrame({ v6, proto, payload, tcpFlags: 0x19 });

function hdr(flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): Buffer {
  const h = Buffer.alloc(10);
  h[0] = flags;
  h[1] = gsoType;
  h.writeUInt16LE(hdrLen, 2);
  h.writeUInt16LE(gsoSize, 4);
  h.writeUInt16LE(csumStart, 6);
  h.writeUInt16LE(csumOffset, 8);
  return h;
}

function checkSegment(s: Buffer, l3: number, l4: number, v6: boolean, proto: number): void {
  if (!v6) {
    expect(s.readUInt16BE(l3 + 2)).toBe(s.length - l3);
    expect(sum16(s, l3, l3 + 20)).toBe(0xffff);
  } else {
    expect(s.readUInt16BE(l3 + 4)).toBe(s.length - l3 - 40);
  }
  expect(sum16(s, l4, s.length, pseudo(s, l3, v6, proto, s.length - l4)) % 0xffff).toBe(0);
}

const payload = Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 13 + (i >> 8)) & 0xff));

describe('software GSO', () => {
  it.each([
    ['TCP/IPv4', false, 1],
    ['TCP/IPv6', true, 4],
  ] as const)('%s super-frame → MSS segments with right seq, flags and checksums', (_n, v6, type) => {
    const { frame, l3, l4, hl } = superFrame(v6, 6, payload);
    const segs = toPlainFrames(frame, hdr(1, type, hl, 1448, l4, 16));
    expect(segs.length).toBe(Math.ceil(payload.length / 1448));
    let seq = 0xfffff000;
    const back: Buffer[] = [];
    segs.forEach((s, i) => {
      checkSegment(s, l3, l4, v6, 6);
      expect(s.readUInt32BE(l4 + 4)).toBe(seq >>> 0);
      seq = (seq + s.length - hl) >>> 0;
      const last = i === segs.length - 1;
      expect(s[l4 + 13]).toBe(last ? 0x19 : 0x10); // FIN and PSH only on the last
      if (!v6) expect(s.readUInt16BE(l3 + 4)).toBe(0x1234 + i);
      back.push(s.subarray(hl));
    });
    expect(Buffer.concat(back)).toEqual(payload);
  });

  it('UDP segmentation (USO) over IPv4', () => {
    const { frame, l3, l4, hl } = superFrame(false, 17, payload);
    const segs = toPlainFrames(frame, hdr(1, 5, hl, 1200, l4, 6));
    expect(segs.length).toBe(Math.ceil(payload.length / 1200));
    for (const s of segs) {
      checkSegment(s, l3, l4, false, 17);
      expect(s.readUInt16BE(l4 + 4)).toBe(s.length - l4);
    }
    expect(Buffer.concat(segs.map((s) => s.subarray(hl)))).toEqual(payload);
  });

  it('UDP fragmentation (UFO) over IPv4: fragments reassemble to a datagram with a valid checksum', () => {
    const { frame, l3, l4 } = superFrame(false, 17, payload.subarray(0, 5000));
    const frags = toPlainFrames(frame, hdr(1, 3, 0, 1480, l4, 6));
    expect(frags.length).toBe(Math.ceil((frame.length - l4) / 1480));
    const parts: Buffer[] = [];
    frags.forEach((s, i) => {
      expect(sum16(s, l3, l3 + 20)).toBe(0xffff);
      const fo = s.readUInt16BE(l3 + 6);
      expect(fo & 0x1fff).toBe((i * 1480) / 8);
      expect((fo & 0x2000) !== 0).toBe(i < frags.length - 1);
      parts.push(s.subarray(l4));
    });
    const dgram = Buffer.concat(parts);
    const whole = Buffer.concat([frame.subarray(0, l4), dgram]);
    expect(sum16(whole, l4, whole.length, pseudo(whole, l3, false, 17, dgram.length)) % 0xffff).toBe(0);
    expect(dgram.subarray(8)).toEqual(payload.subarray(0, 5000));
  });

  it('a frame that only needs its checksum completed comes back whole', () => {
    const { frame, l3, l4 } = superFrame(false, 6, payload.subarray(0, 1000));
    const out = toPlainFrames(frame, hdr(1, 0, 0, 0, l4, 16));
    expect(out).toHaveLength(1);
    checkSegment(out[0] as Buffer, l3, l4, false, 6);
  });

  it('rejects what it cannot segment, with an error', () => {
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    expect(() => toPlainFrames(arp, hdr(0, 1, 0, 1448, 0, 0))).toThrow(/cannot segment/);
  });
});
