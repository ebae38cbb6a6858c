/**
 * Software offloads (switch/portio/src/gso.c) on frames built here: checksum completion and the cutting
 * of GSO super-frames (TCP over IPv4 and IPv6, UDP segmentation, IPv4 UDP fragmentation). Each output
 * frame is checked as a receiver would: lengths, IP and L4 checksums, sequence numbers, and the payload
 * put back together.
 */
import { describe, expect, it } from 'vitest';
import { toPlainFrames } from '../../switch/portio/index.js';

function sum16(b: Buffer, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) % 2) s += (b[end - 1] as number) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function pseudo(f: Buffer, l3: number, v6: boolean, proto: number, l4len: number): number {
  const s = v6 ? sum16(f, l3 + 8, l3 + 40) : sum16(f, l3 + 12, l3 + 20);
  return s + proto + (l4len >>> 16) + (l4len & 0xffff);
}

/** A super-frame: Ethernet + IPv4/IPv6 + TCP/UDP + payload, L4 checksum field holding the pseudo sum. */
function superFrame(v6: boolean, proto: 6 | 17, payload: Buffer): { frame: Buffer; l3: number; l4: number; hl: number } {
  const l3 = 14;
  const ipLen = v6 ? 40 : 20;
  const l4 = l3 + ipLen;
  const l4h = proto === 6 ? 20 : 8;
  const hl = l4 + l4h;
  const f = Buffer.alloc(hl + payload.length);
  Buffer.from('020000000002020000000001', 'hex').copy(f, 0);
  f.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  if (v6) {
    f.writeUInt32BE(0x60000000, l3);
    f.writeUInt16BE(f.length - l3 - 40, l3 + 4);
    f[l3 + 6] = proto;
    f[l3 + 7] = 64;
    Buffer.from('fd000000000000000000000000000001fd000000000000000000000000000002', 'hex').copy(f, l3 + 8);
  } else {
    f[l3] = 0x45;
    f.writeUInt16BE(f.length - l3, l3 + 2);
    f.writeUInt16BE(0x1234, l3 + 4);
    f[l3 + 8] = 64;
    f[l3 + 9] = proto;
    Buffer.from('0a0000010a000002', 'hex').copy(f, l3 + 12);
    f.writeUInt16BE(~sum16(f, l3, l3 + 20) & 0xffff, l3 + 10);
  }
  f.writeUInt16BE(40000, l4);
  f.writeUInt16BE(80, l4 + 2);
  if (proto === 6) {
    f.writeUInt32BE(0xfffff000, l4 + 4); // sequence wraps during the cut
    f[l4 + 12] = 0x50;
    f[l4 + 13] = 0x19; // FIN PSH ACK
  } else {
    f.writeUInt16BE(f.length - l4, l4 + 4);
  }
  payload.copy(f, hl);
  const csumAt = l4 + (proto === 6 ? 16 : 6);
  let p = pseudo(f, l3, v6, proto, f.length - l4);
  while (p > 0xffff) p = (p & 0xffff) + (p >>> 16);
  f.writeUInt16BE(p, csumAt);
  return { frame: f, l3, l4, hl };
}

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
