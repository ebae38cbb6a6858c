/**
 * Offloads in software, and the one place that knows the virtio-net header.
 *
 * A port with `offload` (TAP with IFF_VNET_HDR, AF_PACKET with PACKET_VNET_HDR) exchanges a 10-byte
 * virtio-net header with every frame: a GSO super-frame (up to 64 KiB, one set of TCP/UDP headers for
 * many segments) or a frame whose transport checksum is left to the device (NEEDS_CSUM: the field holds
 * only the pseudo-header sum; csum_start/csum_offset say where to finish). Between two such ports the
 * header passes through and the kernel does the work. A port without offload must receive what a device
 * would have put on the wire, and the datapath makes it so here, as Open vSwitch's generic netdev_send
 * segments for a device without TSO: it completes checksums and cuts super-frames into gso_size-sized
 * frames (TCP over IPv4/IPv6, UDP segmentation over IPv4/IPv6, and IPv4 UDP fragmentation), fixing
 * lengths, IPv4 ids, TCP sequence numbers and flags, and every checksum.
 *
 * This module is the reference implementation and the fallback: it needs no addon, so a port written in
 * plain TypeScript gets plain frames on any platform. The port I/O addon has the same algorithm in C
 * (switch/portio/src/gso.c), about 3.5 times as fast (bench/offload.ts). When that addon loads it
 * registers itself here (registerAccelerator) and createSegmenter() hands out the C one from then on;
 * test/switch/offload.test.ts requires both to produce the same bytes for many random super-frames.
 *
 * May import nothing of ours.
 */

/** The virtio-net header (struct virtio_net_hdr, the legacy 10-byte form TAP and AF_PACKET use). */
export const VNET = {
  SIZE: 10,
  // Field offsets. The 16-bit fields are in the host's byte order for this legacy header, which is
  // little-endian on every host this runs on (x86-64, arm64): read and write them with *LE.
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
  // flags
  /** The transport checksum is to be finished from csum_start, stored at csum_start + csum_offset. */
  F_NEEDS_CSUM: 1,
  /** The checksum was verified (receive side only; nothing to do on output). */
  F_DATA_VALID: 2,
  // gso_type
  GSO_NONE: 0,
  GSO_TCPV4: 1,
  /** UFO: one UDP datagram, to be cut into IPv4 fragments. */
  GSO_UDP: 3,
  GSO_TCPV6: 4,
  /** USO: UDP segmentation, every segment a datagram of its own (Linux 6.2+). */
  GSO_UDP_L4: 5,
  /** Flag bit on gso_type: the TCP flow uses ECN (CWR on the first segment only, as for any TSO). */
  GSO_ECN: 0x80,
} as const;

/** An all-zero header: a plain frame, nothing to do (what a frame from a port without offload gets). */
export const ZERO_VNET_HDR: Buffer = Buffer.alloc(VNET.SIZE);

/**
 * At most this many frames from one super-frame. It bounds the work and memory one frame can cost (a
 * 64 KiB frame with a gso_size of 1 would be 65 535 frames); a real TSO frame of 64 KiB at the smallest
 * IPv4 MSS (536) is 123. gso.c has the same limit.
 */
export const MAX_SEGMENTS = 256;

/** Why a frame could not be made plain: a header that contradicts the frame, or a layout not handled. */
export class OffloadError extends Error {
  override readonly name = 'OffloadError';
  constructor(
    readonly code: 'EINVAL' | 'EPROTONOSUPPORT' | 'ENOSPC',
    message: string,
  ) {
    super(message);
  }
}

/** The header's fields, for tests and logs. */
export interface VnetFields {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

export function readVnet(h: Buffer): VnetFields {
  if (h.length < VNET.SIZE) throw new OffloadError('EINVAL', `a virtio-net header is ${VNET.SIZE} bytes, not ${h.length}`);
  return {
    flags: h[VNET.FLAGS] as number,
    gsoType: h[VNET.GSO_TYPE] as number,
    hdrLen: h.readUInt16LE(VNET.HDR_LEN),
    gsoSize: h.readUInt16LE(VNET.GSO_SIZE),
    csumStart: h.readUInt16LE(VNET.CSUM_START),
    csumOffset: h.readUInt16LE(VNET.CSUM_OFFSET),
  };
}

export function vnetHeader(f: Partial<VnetFields>): Buffer {
  const h = Buffer.alloc(VNET.SIZE);
  h[VNET.FLAGS] = f.flags ?? 0;
  h[VNET.GSO_TYPE] = f.gsoType ?? VNET.GSO_NONE;
  h.writeUInt16LE(f.hdrLen ?? 0, VNET.HDR_LEN);
  h.writeUInt16LE(f.gsoSize ?? 0, VNET.GSO_SIZE);
  h.writeUInt16LE(f.csumStart ?? 0, VNET.CSUM_START);
  h.writeUInt16LE(f.csumOffset ?? 0, VNET.CSUM_OFFSET);
  return h;
}

/** True when the header asks for nothing (no segmentation, no checksum to finish), or there is none. */
export function isPlainHeader(h: Buffer | undefined): boolean {
  return h === undefined || (h[VNET.GSO_TYPE] === VNET.GSO_NONE && ((h[VNET.FLAGS] as number) & VNET.F_NEEDS_CSUM) === 0);
}

/** Something that turns one frame with a header into plain frames (this module, or the addon's gso.c). */
export interface SegmentFn {
  /**
   * Appends to `out` the plain frames for (frame, hdr) and returns how many. They are views into the
   * segmenter's memory, valid until its next reset(). Throws OffloadError for a frame it cannot handle.
   */
  segment(frame: Buffer, hdr: Buffer, out: Buffer[]): number;
  /** The memory of all views handed out may be reused from now on. */
  reset(): void;
}

// ---- the algorithm ---------------------------------------------------------------------------------

const ETH_P_IPV4 = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
const IPV4_MF = 0x2000;

/** Where the headers are (reused: one frame at a time). */
interface Layout {
  l3: number;
  l4: number;
  payload: number;
  ipv6: boolean;
  proto: number;
}

/** Finds the IP and L4 headers behind Ethernet and up to two VLAN tags. */
function parse(f: Buffer, l: Layout): void {
  const len = f.length;
  if (len < 14) throw new OffloadError('EINVAL', `a ${len}-byte frame has no Ethernet header`);
  let off = 12;
  let et = f.readUInt16BE(off);
  for (let tags = 0; (et === ETH_P_8021Q || et === ETH_P_8021AD) && tags < 2; tags++) {
    off += 4;
    if (len < off + 2) throw new OffloadError('EINVAL', 'the frame ends inside its VLAN tags');
    et = f.readUInt16BE(off);
  }
  l.l3 = off + 2;
  if (et === ETH_P_IPV4) {
    if (len < l.l3 + 20) throw new OffloadError('EINVAL', 'the frame ends inside its IPv4 header');
    const ihl = ((f[l.l3] as number) & 0x0f) * 4;
    if (ihl < 20 || len < l.l3 + ihl) throw new OffloadError('EINVAL', `bad IPv4 header length ${ihl}`);
    l.ipv6 = false;
    l.proto = f[l.l3 + 9] as number;
    l.l4 = l.l3 + ihl;
  } else if (et === ETH_P_IPV6) {
    if (len < l.l3 + 40) throw new OffloadError('EINVAL', 'the frame ends inside its IPv6 header');
    l.ipv6 = true;
    l.proto = f[l.l3 + 6] as number;
    l.l4 = l.l3 + 40;
  } else {
    throw new OffloadError('EPROTONOSUPPORT', `ethertype 0x${et.toString(16).padStart(4, '0')} cannot be segmented`);
  }
  if (l.proto === IPPROTO_TCP) {
    if (len < l.l4 + 20) throw new OffloadError('EINVAL', 'the frame ends inside its TCP header');
    const doff = ((f[l.l4 + 12] as number) >> 4) * 4;
    if (doff < 20 || len < l.l4 + doff) throw new OffloadError('EINVAL', `bad TCP header length ${doff}`);
    l.payload = l.l4 + doff;
  } else if (l.proto === IPPROTO_UDP) {
    if (len < l.l4 + 8) throw new OffloadError('EINVAL', 'the frame ends inside its UDP header');
    l.payload = l.l4 + 8;
  } else {
    throw new OffloadError('EPROTONOSUPPORT', `IP protocol ${l.proto} cannot be segmented (only TCP and UDP)`);
  }
}

/** 1 on a big-endian host, 0 on a little-endian one: the byte order of Uint32Array loads. */
const HOST_BE = new Uint8Array(new Uint16Array([0x0102]).buffer)[0] === 0x01 ? 1 : 0;

/** Folds a sum into 16 bits with end-around carry (0 only for an all-zero input). */
function fold(s: number): number {
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/**
 * The Internet checksum's one's-complement sum of a.buf[start, end) as big-endian 16-bit words counted
 * from start, folded, plus init (not folded again).
 *
 * It reads the middle as aligned 32-bit words in the host's order: 2^16 ≡ 1 modulo 0xffff, so a 32-bit
 * word counts as its two halves, and the sum of byte-swapped words is the byte-swapped sum (RFC 1071,
 * "byte order independence"). Each byte thus counts by the parity of its address, not of its distance
 * from start; the result is swapped back when the two differ. A double holds the sum of any 64 KiB
 * exactly. This loop is most of the time segmentation takes, and aligned typed-array loads took half the
 * time of a DataView's big-endian reads in a micro-benchmark here.
 */
function sum(a: Arena, start: number, end: number, init: number): number {
  const b = a.buf;
  const w = a.u32;
  let s = 0;
  let p = start;
  const midStart = (start + 3) & ~3;
  const midEnd = end & ~3;
  if (midStart < midEnd) {
    for (; p < midStart; p++) s += (b[p] as number) << (8 * ((p & 1) ^ HOST_BE));
    let t = 0;
    let i = midStart >> 2;
    const e = midEnd >> 2;
    // two sums: the additions of one do not wait for the other's
    for (; i + 1 < e; i += 2) {
      s += w[i] as number;
      t += w[i + 1] as number;
    }
    if (i < e) s += w[i] as number;
    s += t;
    p = midEnd;
  }
  for (; p < end; p++) s += (b[p] as number) << (8 * ((p & 1) ^ HOST_BE));
  let f = fold(s);
  // counted by address parity: when that is not the parity from start, swap the bytes back
  if ((start & 1) === HOST_BE) f = ((f & 0xff) << 8) | (f >> 8);
  return f + init;
}

/**
 * Where the output goes: one growing arena, handed out as views. Growing replaces the arena (views
 * already handed out keep the old one alive), so views stay valid until reset().
 */
class Arena {
  buf!: Buffer;
  dv!: DataView;
  u32!: Uint32Array;
  used = 0;
  constructor(size: number) {
    this.alloc(size);
  }
  private alloc(size: number): void {
    // a whole number of 32-bit words, from offset 0 of its own memory, for the aligned loads in sum()
    const ab = new ArrayBuffer((size + 3) & ~3);
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
    this.u32 = new Uint32Array(ab);
  }
  /** Makes room for n more bytes; returns where they start. */
  reserve(n: number): number {
    if (this.used + n > this.buf.length) {
      this.alloc(Math.max(n, this.buf.length * 2));
      this.used = 0;
    }
    return this.used;
  }
}

/** Pseudo-header sum for an L4 segment of l4len bytes whose IP header is at a.buf[base + l.l3]. */
function pseudo(a: Arena, base: number, l: Layout, l4len: number): number {
  const s = l.ipv6 ? sum(a, base + l.l3 + 8, base + l.l3 + 40, 0) : sum(a, base + l.l3 + 12, base + l.l3 + 20, 0);
  return s + l.proto + Math.floor(l4len / 0x10000) + (l4len & 0xffff);
}

/** Sets an IPv4 header's total length and id and recomputes its checksum. */
function ipv4Fix(a: Arena, base: number, l: Layout, total: number, id: number): void {
  const dv = a.dv;
  const ip = base + l.l3;
  dv.setUint16(ip + 2, total);
  dv.setUint16(ip + 4, id & 0xffff);
  dv.setUint16(ip + 10, 0);
  dv.setUint16(ip + 10, ~fold(sum(a, ip, base + l.l4, 0)) & 0xffff);
}

/** Computes the full L4 checksum of the segment at base (headers as in l, seglen bytes in all). */
function l4Csum(a: Arena, base: number, l: Layout, seglen: number): void {
  const dv = a.dv;
  const l4len = seglen - l.l4;
  const at = base + l.l4 + (l.proto === IPPROTO_TCP ? 16 : 6);
  dv.setUint16(at, 0);
  let c = ~fold(sum(a, base + l.l4, base + seglen, pseudo(a, base, l, l4len))) & 0xffff;
  if (l.proto === IPPROTO_UDP && c === 0) c = 0xffff; // UDP sends a zero result as all ones (0 = no checksum)
  dv.setUint16(at, c);
}

function completeOnly(frame: Buffer, h: Buffer, a: Arena, out: Buffer[]): number {
  const len = frame.length;
  const base = a.reserve(len);
  frame.copy(a.buf, base);
  if (((h[VNET.FLAGS] as number) & VNET.F_NEEDS_CSUM) !== 0) {
    const start = h.readUInt16LE(VNET.CSUM_START);
    const at = start + h.readUInt16LE(VNET.CSUM_OFFSET);
    if (start >= len || at + 2 > len) throw new OffloadError('EINVAL', `checksum at ${start}+${at - start} lies outside a ${len}-byte frame`);
    // The field holds the pseudo-header sum already: sum from csum_start as it is.
    let c = ~fold(sum(a, base + start, base + len, 0)) & 0xffff;
    // UDP sends an all-zero result as 0xffff; TCP has no such rule, but 0 and 0xffff are the same sum.
    if (c === 0) c = 0xffff;
    a.dv.setUint16(base + at, c);
  }
  a.used = base + len;
  out.push(a.buf.subarray(base, base + len));
  return 1;
}

/** TCP (TSO) and UDP (USO): every segment carries the full headers and gso_size bytes of payload. */
function segmentL4(frame: Buffer, h: Buffer, l: Layout, a: Arena, out: Buffer[]): number {
  const len = frame.length;
  const mss = h.readUInt16LE(VNET.GSO_SIZE);
  const hl = l.payload;
  const pl = len - hl;
  if (mss === 0) throw new OffloadError('EINVAL', 'a GSO frame with gso_size 0');
  const nseg = Math.max(1, Math.ceil(pl / mss));
  if (nseg > MAX_SEGMENTS) throw new OffloadError('ENOSPC', `${nseg} segments of ${mss} bytes (at most ${MAX_SEGMENTS})`);
  const tcp = l.proto === IPPROTO_TCP;
  const id = l.ipv6 ? 0 : frame.readUInt16BE(l.l3 + 4);
  const seq = tcp ? frame.readUInt32BE(l.l4 + 4) : 0;
  const flags = tcp ? (frame[l.l4 + 13] as number) : 0;
  let o = a.reserve(nseg * hl + pl);
  const buf = a.buf;
  const dv = a.dv;
  for (let i = 0; i < nseg; i++) {
    const chunk = i + 1 < nseg ? mss : pl - i * mss;
    const seglen = hl + chunk;
    frame.copy(buf, o, 0, hl);
    frame.copy(buf, o + hl, hl + i * mss, hl + i * mss + chunk);
    if (l.ipv6) dv.setUint16(o + l.l3 + 4, seglen - l.l3 - 40);
    else ipv4Fix(a, o, l, seglen - l.l3, id + i);
    if (tcp) {
      dv.setUint32(o + l.l4 + 4, (seq + i * mss) >>> 0);
      let f = flags;
      if (i + 1 < nseg) f &= ~(TCP_FIN | TCP_PSH); // FIN and PSH only on the last segment
      if (i > 0) f &= ~TCP_CWR; // CWR only on the first
      buf[o + l.l4 + 13] = f;
    } else {
      dv.setUint16(o + l.l4 + 4, seglen - l.l4);
    }
    l4Csum(a, o, l, seglen);
    out.push(buf.subarray(o, o + seglen));
    o += seglen;
  }
  a.used = o;
  return nseg;
}

/** UFO over IPv4: the UDP datagram (checksum completed) is cut into IP fragments of gso_size bytes. */
function fragmentUdp4(frame: Buffer, h: Buffer, l: Layout, a: Arena, out: Buffer[]): number {
  const len = frame.length;
  const frag = h.readUInt16LE(VNET.GSO_SIZE) & ~7;
  const hl = l.l4;
  const dl = len - hl;
  if (frag === 0) throw new OffloadError('EINVAL', 'a UFO frame with a gso_size under 8');
  const n = Math.ceil(dl / frag);
  if (n > MAX_SEGMENTS) throw new OffloadError('ENOSPC', `${n} fragments of ${frag} bytes (at most ${MAX_SEGMENTS})`);
  // the whole datagram with its UDP checksum completed first, after the fragments' room
  const base = a.reserve(n * hl + dl + len);
  const whole = base + n * hl + dl;
  const buf = a.buf;
  const dv = a.dv;
  frame.copy(buf, whole);
  dv.setUint16(whole + l.l4 + 4, len - l.l4);
  l4Csum(a, whole, l, len);
  const id = frame.readUInt16BE(l.l3 + 4);
  let o = base;
  for (let i = 0; i < n; i++) {
    const chunk = i + 1 < n ? frag : dl - i * frag;
    buf.copy(buf, o, whole, whole + hl);
    buf.copy(buf, o + hl, whole + hl + i * frag, whole + hl + i * frag + chunk);
    dv.setUint16(o + l.l3 + 6, ((i * frag) / 8) | (i + 1 < n ? IPV4_MF : 0));
    ipv4Fix(a, o, l, hl - l.l3 + chunk, id);
    out.push(buf.subarray(o, o + hl + chunk));
    o += hl + chunk;
  }
  a.used = whole + len;
  return n;
}

/**
 * Software offloads: completes checksums and cuts super-frames, into memory it reuses. One per user
 * (the datapath has one); not for concurrent use, the views it hands out live until reset().
 */
export class Segmenter implements SegmentFn {
  private readonly arena: Arena;
  private readonly layout: Layout = { l3: 0, l4: 0, payload: 0, ipv6: false, proto: 0 };

  constructor(initialBytes = 256 * 1024) {
    this.arena = new Arena(initialBytes);
  }

  segment(frame: Buffer, hdr: Buffer, out: Buffer[]): number {
    if (hdr.length < VNET.SIZE) throw new OffloadError('EINVAL', `a virtio-net header is ${VNET.SIZE} bytes, not ${hdr.length}`);
    const type = (hdr[VNET.GSO_TYPE] as number) & ~VNET.GSO_ECN;
    const a = this.arena;
    if (type === VNET.GSO_NONE) return completeOnly(frame, hdr, a, out);
    const l = this.layout;
    parse(frame, l);
    switch (type) {
      case VNET.GSO_TCPV4:
      case VNET.GSO_TCPV6:
        if (l.proto !== IPPROTO_TCP || l.ipv6 !== (type === VNET.GSO_TCPV6)) {
          throw new OffloadError('EINVAL', `gso_type ${type} on a frame that is not TCP over IPv${type === VNET.GSO_TCPV6 ? 6 : 4}`);
        }
        return segmentL4(frame, hdr, l, a, out);
      case VNET.GSO_UDP_L4:
        if (l.proto !== IPPROTO_UDP) throw new OffloadError('EINVAL', 'UDP segmentation on a frame that is not UDP');
        return segmentL4(frame, hdr, l, a, out);
      case VNET.GSO_UDP:
        if (l.proto !== IPPROTO_UDP) throw new OffloadError('EINVAL', 'UDP fragmentation on a frame that is not UDP');
        if (l.ipv6) throw new OffloadError('EPROTONOSUPPORT', 'UDP fragmentation offload over IPv6 is not supported');
        return fragmentUdp4(frame, hdr, l, a, out);
      default:
        throw new OffloadError('EPROTONOSUPPORT', `gso_type ${type} is not supported`);
    }
  }

  reset(): void {
    this.arena.used = 0;
  }
}

let accelerator: (() => SegmentFn) | undefined;

/**
 * Called by switch/portio when its addon loads: segmenters made from then on run its C (the same bytes,
 * faster). Kept this way round so that the datapath and plain-TypeScript ports never depend on the addon.
 */
export function registerAccelerator(make: () => SegmentFn): void {
  accelerator = make;
}

/** A segmenter for one user: the addon's when it is loaded, else this module's. */
export function createSegmenter(): SegmentFn {
  return accelerator?.() ?? new Segmenter();
}

/**
 * Completes the checksum of / segments one frame with a virtio-net header into plain frames of their own
 * (copies, for callers that keep them: packet-in, tests). Throws OffloadError.
 */
export function toPlainFrames(frame: Buffer, hdr: Buffer): Buffer[] {
  const out: Buffer[] = [];
  new Segmenter(frame.length * 2 + 4096).segment(frame, hdr, out);
  return out;
}
