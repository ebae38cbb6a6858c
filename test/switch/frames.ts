/**
 * A small frame builder for the switch's tests: Ethernet, VLAN, ARP, IPv4/IPv6 (with extension headers),
 * TCP/UDP/SCTP/ICMP/ICMPv6, MPLS and PBB, with every length and checksum computed here from scratch, so
 * that tests compare the switch's bytes with independently made ones.
 */
import { ipv4FromText, ipv6FromText, macFromText } from '../../openflow/json.js';

export const mac = (s: string): Buffer => macFromText(s, 'mac');
export const v4 = (s: string): Buffer => ipv4FromText(s, 'ipv4');
export const v6 = (s: string): Buffer => ipv6FromText(s, 'ipv6');

export function sum16(b: Buffer, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += (b[b.length - 1] as number) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export const csum = (b: Buffer, init = 0): number => ~sum16(b, init) & 0xffff;

export function crc32c(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

export interface L4 {
  readonly proto: number;
  readonly bytes: Buffer;
  /** Checksum offset in bytes, -1 for none (SCTP's CRC is filled in here). */
  readonly csumAt: number;
  readonly pseudo: boolean;
}

/** Data given as a number: that many bytes of `byte`. */
const bytesOf = (data: Buffer | number, byte: number): Buffer => (typeof data === 'number' ? Buffer.alloc(data, byte) : data);

/** TCP (ACK|PSH) carrying `data`: bytes, or a count of 0xab bytes. */
export function tcp(sp: number, dp: number, data: Buffer | number = 4): L4 {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sp, 0);
  h.writeUInt16BE(dp, 2);
  h.writeUInt32BE(0x01020304, 4);
  h[12] = 0x50;
  h[13] = 0x18;
  h.writeUInt16BE(512, 14);
  return { proto: 6, bytes: Buffer.concat([h, bytesOf(data, 0xab)]), csumAt: 16, pseudo: true };
}

/** UDP carrying `data`: bytes, or a count of 0xcd bytes. */
export function udp(sp: number, dp: number, data: Buffer | number = 6): L4 {
  const payload = bytesOf(data, 0xcd);
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sp, 0);
  h.writeUInt16BE(dp, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return { proto: 17, bytes: Buffer.concat([h, payload]), csumAt: 6, pseudo: true };
}

export function sctp(sp: number, dp: number): L4 {
  const b = Buffer.alloc(12 + 16);
  b.writeUInt16BE(sp, 0);
  b.writeUInt16BE(dp, 2);
  b.writeUInt32BE(0xdeadbeef, 4);
  b[12] = 0; // a DATA chunk of 16 bytes
  b.writeUInt16BE(16, 14);
  b.writeUInt32LE(crc32c(b), 8);
  return { proto: 132, bytes: b, csumAt: -1, pseudo: false };
}

export function icmp4(type: number, code: number, data: Buffer = Buffer.alloc(4, 1)): L4 {
  return { proto: 1, bytes: Buffer.concat([Buffer.from([type, code, 0, 0, 0, 1, 0, 2]), data]), csumAt: 2, pseudo: false };
}

export function icmp6(type: number, code: number, body: Buffer = Buffer.alloc(4)): L4 {
  return { proto: 58, bytes: Buffer.concat([Buffer.from([type, code, 0, 0]), body]), csumAt: 2, pseudo: true };
}

/** A neighbor solicitation (135) or advertisement (136), with link-layer options [type, mac]. */
export function nd(type: number, target: string, opts: readonly (readonly [number, string])[] = []): L4 {
  const parts = [Buffer.alloc(4), v6(target)];
  if (type === 136) parts[0] = Buffer.from([0x60, 0, 0, 0]);
  for (const [t, m] of opts) parts.push(Buffer.concat([Buffer.from([t, 1]), mac(m)]));
  return icmp6(type, 0, Buffer.concat(parts));
}

export function finishL4(l4: L4, pseudo: number): Buffer {
  const b = Buffer.from(l4.bytes);
  if (l4.csumAt >= 0) {
    b.writeUInt16BE(0, l4.csumAt);
    let c = csum(b, l4.pseudo ? pseudo : 0);
    if (l4.proto === 17 && c === 0) c = 0xffff;
    b.writeUInt16BE(c, l4.csumAt);
  }
  return b;
}

export interface Ip4Opts {
  readonly src?: string;
  readonly dst?: string;
  readonly tos?: number;
  readonly ttl?: number;
  readonly id?: number;
  /** Fragment offset in 8-byte units, and more-fragments. */
  readonly fragOff?: number;
  readonly mf?: boolean;
  readonly options?: Buffer;
  /** Leave the UDP checksum 0 (none). */
  readonly noUdpCsum?: boolean;
}

export function ipv4(o: Ip4Opts, l4: L4 | { proto: number; raw: Buffer }): Buffer {
  const src = v4(o.src ?? '10.0.0.1');
  const dst = v4(o.dst ?? '10.0.0.2');
  const opts = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  const proto = l4.proto;
  let body: Buffer;
  if ('raw' in l4) body = l4.raw;
  else {
    const pseudo = sum16(Buffer.concat([src, dst])) + proto + l4.bytes.length;
    body = o.noUdpCsum ? Buffer.from(l4.bytes) : finishL4(l4, pseudo);
  }
  h[0] = 0x40 | (h.length / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(h.length + body.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE((o.mf ? 0x2000 : 0) | (o.fragOff ?? 0), 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  src.copy(h, 12);
  dst.copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(csum(h), 10);
  return Buffer.concat([h, body]);
}

/** IPv6 extension headers, in order; the builder chains their next-header fields. */
export type Ext =
  | { readonly type: 0 | 43 | 60; readonly len8?: number }
  | { readonly type: 44; readonly offset: number; readonly mf: boolean }
  | { readonly type: 51 }
  | { readonly type: 50 };

export interface Ip6Opts {
  readonly src?: string;
  readonly dst?: string;
  readonly tc?: number;
  readonly flabel?: number;
  readonly hlim?: number;
  readonly exts?: readonly Ext[];
}

export function extBytes(e: Ext, nh: number): Buffer {
  switch (e.type) {
    case 44: {
      const b = Buffer.alloc(8);
      b[0] = nh;
      b.writeUInt16BE((e.offset << 3) | (e.mf ? 1 : 0), 2);
      b.writeUInt32BE(0xabcdef01, 4);
      return b;
    }
    case 51: {
      const b = Buffer.alloc(16); // payload length 2 → (2 + 2) * 4 bytes
      b[0] = nh;
      b[1] = 2;
      b.writeUInt32BE(0x100, 4);
      return b;
    }
    case 50:
      return Buffer.from('0000010000000001cafebabe', 'hex');
    default: {
      const n = e.len8 ?? 0;
      const b = Buffer.alloc((n + 1) * 8);
      b[0] = nh;
      b[1] = n;
      b[2] = 1; // a PadN option filling the rest
      b[3] = b.length - 4;
      return b;
    }
  }
}

export function ipv6(o: Ip6Opts, l4: L4 | { proto: number; raw: Buffer }): Buffer {
  const src = v6(o.src ?? 'fd00::1');
  const dst = v6(o.dst ?? 'fd00::2');
  const exts = o.exts ?? [];
  let body: Buffer;
  if ('raw' in l4) body = l4.raw;
  else {
    const pseudo = sum16(Buffer.concat([src, dst])) + l4.proto + l4.bytes.length;
    body = finishL4(l4, pseudo);
  }
  const chain: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = exts[i + 1];
    chain.push(extBytes(exts[i] as Ext, next !== undefined ? next.type : l4.proto));
  }
  const first = exts[0];
  const payload = Buffer.concat([...chain, body]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(((6 << 28) | ((o.tc ?? 0) << 20) | (o.flabel ?? 0)) >>> 0, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = first !== undefined ? first.type : l4.proto;
  h[7] = o.hlim ?? 64;
  src.copy(h, 8);
  dst.copy(h, 24);
  return Buffer.concat([h, payload]);
}

export function arp(op: number, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(op, 6);
  mac(sha).copy(b, 8);
  v4(spa).copy(b, 14);
  mac(tha).copy(b, 18);
  v4(tpa).copy(b, 24);
  return b;
}

/** An MPLS label stack entry. */
export function lse(label: number, tc: number, bos: number, ttl: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((label << 12) | (tc << 9) | (bos << 8) | ttl) >>> 0);
  return b;
}

/** A PBB I-TAG (I-PCP, I-SID) with its customer addresses, then `inner` (the customer frame's type and payload). */
export function itag(pcp: number, isid: number, cda = '02:00:00:00:00:c1', csa = '02:00:00:00:00:c2', inner: Buffer = Buffer.alloc(0)): Buffer {
  return itagOver(pcp, isid, Buffer.concat([mac(cda), mac(csa), inner]));
}

/** A PBB I-TAG (I-PCP, I-SID) over a whole customer frame, its addresses first. */
export function itagOver(pcp: number, isid: number, customer: Buffer): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((pcp << 29) | isid) >>> 0);
  return Buffer.concat([b, customer]);
}

export const DST = '02:00:00:00:00:02';
export const SRC = '02:00:00:00:00:01';

/** Ethernet: addresses, VLAN tags [tpid, tci], type and payload. */
export function eth(type: number, payload: Buffer, tags: readonly (readonly [number, number])[] = [], dst = DST, src = SRC): Buffer {
  const parts = [mac(dst), mac(src)];
  for (const [tpid, tci] of tags) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(tpid, 0);
    t.writeUInt16BE(tci, 2);
    parts.push(t);
  }
  const ty = Buffer.alloc(2);
  ty.writeUInt16BE(type);
  return Buffer.concat([...parts, ty, payload]);
}
