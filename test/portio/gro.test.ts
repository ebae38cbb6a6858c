/**
 * Receive coalescing (switch/portio/src/gro.c): consecutive TCP/IPv4 segments of one flow become one GSO
 * super-frame, and gso.c cuts that frame back into exactly the segments that went in. Everything Linux's
 * GRO would not merge stays as it was: other flows, gaps, flags, options, bad checksums, IP options,
 * fragments, padding, IPv6, UDP.
 */
import { describe, expect, it } from 'vitest';
import { mergeFrames, toPlainFrames } from '../../switch/portio/index.js';

function sum16(b: Buffer, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) % 2) s += (b[end - 1] as number) << 8;
  return fold(s);
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

interface Seg {
  seq?: number;
  payload?: number;
  /** TCP flags byte (default ACK). */
  flags?: number;
  ack?: number;
  sport?: number;
  id?: number;
  ttl?: number;
  tos?: number;
  /** TCP options (default: timestamps, as Linux sends them). */
  options?: Buffer;
  ipOptions?: Buffer;
  mf?: boolean;
  badTcp?: boolean;
  badIp?: boolean;
  /** Ethernet padding after the IP packet. */
  pad?: number;
  fill?: number;
}

const TS = Buffer.from('0101080a0000100000002000', 'hex');
const ACK = 0x10;
const PSH = 0x08;

/** One Ethernet/IPv4/TCP segment with correct checksums (unless told otherwise). */
function seg(o: Seg = {}): Buffer {
  const opts = o.options ?? TS;
  const ipo = o.ipOptions ?? Buffer.alloc(0);
  const ihl = 20 + ipo.length;
  const thl = 20 + opts.length;
  const pl = o.payload ?? 1448;
  const ipLen = ihl + thl + pl;
  const f = Buffer.alloc(14 + ipLen + (o.pad ?? 0));
  Buffer.from('020000000002020000000001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x0800, 12);
  const ip = 14;
  f[ip] = 0x40 | (ihl / 4);
  f[ip + 1] = o.tos ?? 0;
  f.writeUInt16BE(ipLen, ip + 2);
  f.writeUInt16BE(o.id ?? 0x100, ip + 4);
  f.writeUInt16BE(0x4000 | (o.mf ? 0x2000 : 0), ip + 6);
  f[ip + 8] = o.ttl ?? 64;
  f[ip + 9] = 6;
  Buffer.from('0a0000010a000002', 'hex').copy(f, ip + 12);
  ipo.copy(f, ip + 20);
  f.writeUInt16BE(~sum16(f, ip, ip + ihl) & 0xffff, ip + 10);
  if (o.badIp) f[ip + 10] = (f[ip + 10] as number) ^ 0xff;
  const th = ip + ihl;
  f.writeUInt16BE(o.sport ?? 40000, th);
  f.writeUInt16BE(5201, th + 2);
  f.writeUInt32BE((o.seq ?? 1000) >>> 0, th + 4);
  f.writeUInt32BE(o.ack ?? 777, th + 8);
  f[th + 12] = (thl / 4) << 4;
  f[th + 13] = o.flags ?? ACK;
  f.writeUInt16BE(502, th + 14);
  opts.copy(f, th + 20);
  for (let i = 0; i < pl; i++) f[th + thl + i] = ((o.fill ?? 0) + (o.seq ?? 1000) + i) & 0xff;
  const l4len = thl + pl;
  const ps = sum16(f, ip + 12, ip + 20) + 6 + l4len;
  f.writeUInt16BE(~sum16(f, th, th + l4len, ps) & 0xffff, th + 16);
  if (o.badTcp) f[th + 16] = (f[th + 16] as number) ^ 0x01;
  return f;
}

/** n contiguous full segments starting at seq, ids counting up, PSH on the last. */
function run(n: number, o: Seg = {}, last?: number): Buffer[] {
  const out: Buffer[] = [];
  let seq = o.seq ?? 1000;
  for (let i = 0; i < n; i++) {
    const payload = i === n - 1 && last !== undefined ? last : (o.payload ?? 1448);
    out.push(seg({ ...o, seq, payload, id: (o.id ?? 0x100) + i, flags: i === n - 1 ? ACK | PSH : ACK }));
    seq += payload;
  }
  return out;
}

const hdrOf = (h: Buffer) => ({
  flags: h[0], gsoType: h[1], hdrLen: h.readUInt16LE(2), gsoSize: h.readUInt16LE(4), csumStart: h.readUInt16LE(6), csumOffset: h.readUInt16LE(8),
});
const PLAIN = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };

describe('receive coalescing merges a TCP run into one super-frame', () => {
  it.each([
    ['10 full segments', 10, undefined],
    ['a short last segment', 7, 300],
    ['two segments', 2, undefined],
  ])('%s: one frame, and gso.c cuts it back into exactly those segments', (_n, n, last) => {
    const segs = run(n, {}, last);
    const out = mergeFrames(segs);
    expect(out).toHaveLength(1);
    const { frame, hdr } = out[0] as { frame: Buffer; hdr: Buffer };
    expect(hdrOf(hdr)).toEqual({ flags: 1, gsoType: 1, hdrLen: 14 + 20 + 32, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect(frame.length).toBe(segs.reduce((s, f) => s + f.length - 66, 66));
    expect(sum16(frame, 14, 34)).toBe(0xffff); // IPv4 header checksum valid
    expect(frame[14 + 20 + 13]).toBe(ACK | PSH);
    // the TCP checksum field holds the pseudo-header sum (a partial checksum)
    expect(frame.readUInt16BE(34 + 16)).toBe(fold(sum16(frame, 26, 34) + 6 + (frame.length - 34)));
    expect(toPlainFrames(frame, hdr).map((b) => b.toString('hex'))).toEqual(segs.map((b) => b.toString('hex')));
  });

  it('stops at 64 KiB: 46 segments become 45 merged and 1 alone', () => {
    const segs = run(46);
    const out = mergeFrames(segs);
    expect(out.map((o) => o.frame.length - 14)).toEqual([20 + 32 + 45 * 1448, 20 + 32 + 1448]);
    expect(out.flatMap((o) => (hdrOf(o.hdr).gsoType ? toPlainFrames(o.frame, o.hdr) : [o.frame])).map((b) => b.toString('hex'))).toEqual(segs.map((b) => b.toString('hex')));
  });

  it('keeps runs of different flows apart and in order', () => {
    const a = run(3, { sport: 1 });
    const b = run(2, { sport: 2, seq: 9000 });
    const out = mergeFrames([...a, ...b]);
    expect(out.map((o) => o.frame.readUInt16BE(34))).toEqual([1, 2]);
    expect(out.map((o) => hdrOf(o.hdr).gsoType)).toEqual([1, 1]);
  });

  it('a short segment ends the run; what follows starts a new one', () => {
    const s1 = seg({ seq: 1000 });
    const s2 = seg({ seq: 2448, payload: 100 });
    const s3 = seg({ seq: 2548 });
    const s4 = seg({ seq: 3996 });
    const out = mergeFrames([s1, s2, s3, s4]);
    expect(out.map((o) => o.frame.length - 66)).toEqual([1548, 2896]);
  });
});

describe('receive coalescing leaves alone what it must not merge', () => {
  const base = seg({ seq: 1000 });
  const next = (o: Seg): Buffer => seg({ seq: 2448, ...o });
  it.each<[string, Buffer, Buffer]>([
    ['another source port', base, next({ sport: 40001 })],
    ['a sequence gap', base, next({ seq: 2449 })],
    ['another ack', base, next({ ack: 778 })],
    ['other TCP options', base, next({ options: Buffer.from('0101080a0000100100002000', 'hex') })],
    ['SYN', base, next({ flags: ACK | 0x02 })],
    ['FIN', base, next({ flags: ACK | 0x01 })],
    ['RST', base, next({ flags: ACK | 0x04 })],
    ['URG', base, next({ flags: ACK | 0x20 })],
    ['ECE', base, next({ flags: ACK | 0x40 })],
    ['CWR', base, next({ flags: ACK | 0x80 })],
    ['no ACK', base, next({ flags: 0 })],
    ['PSH on the first', seg({ seq: 1000, flags: ACK | PSH }), next({})],
    ['a larger second segment', seg({ seq: 1000, payload: 1000 }), seg({ seq: 2000, payload: 1448 })],
    ['another TTL', base, next({ ttl: 63 })],
    ['another TOS', base, next({ tos: 4 })],
    ['IP options', seg({ seq: 1000, ipOptions: Buffer.from('01010101', 'hex') }), next({ ipOptions: Buffer.from('01010101', 'hex') })],
    ['more fragments', base, next({ mf: true })],
    ['a bad TCP checksum', base, next({ badTcp: true })],
    ['a bad IPv4 checksum', base, next({ badIp: true })],
    ['Ethernet padding', base, next({ pad: 4 })],
    ['no payload', base, next({ payload: 0 })],
  ])('%s', (_name, a, b) => {
    const out = mergeFrames([a, b]);
    expect(out.map((o) => o.frame.toString('hex'))).toEqual([a.toString('hex'), b.toString('hex')]);
    expect(out.map((o) => hdrOf(o.hdr))).toEqual([PLAIN, PLAIN]);
  });

  it('a corrupt segment in a run is passed on alone, between the merged parts', () => {
    const segs = run(4).map((f, i) => (i === 2 ? seg({ seq: 1000 + 2 * 1448, id: 0x102, badTcp: true }) : f));
    const out = mergeFrames(segs);
    expect(out.map((o) => [o.frame.length - 66, hdrOf(o.hdr).gsoType])).toEqual([[2896, 1], [1448, 0], [1448, 0]]);
    expect(out[1]?.frame.toString('hex')).toBe(segs[2]?.toString('hex'));
  });

  it('IPv6 and UDP pass unmerged', () => {
    const v6 = Buffer.from(seg());
    v6.writeUInt16BE(0x86dd, 12);
    const udp = Buffer.from(seg());
    udp[14 + 9] = 17;
    for (const f of [v6, udp]) expect(mergeFrames([f, f]).map((o) => hdrOf(o.hdr).gsoType)).toEqual([0, 0]);
  });
});
