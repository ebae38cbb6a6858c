/**
 * Frames for the offload tests: GSO super-frames built as Linux hands them to a device (the transport
 * checksum field holding the pseudo-header sum), random ones from a seed, and a receiver's checks of a
 * plain frame (lengths, IPv4 header checksum, TCP/UDP checksum), written independently of
 * switch/offload.ts with a plain 16-bit loop.
 */
import { VNET, vnetHeader } from '../../switch/offload.js';

export function sum16(b: Buffer, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i + 1 < end; i += 2) s += b.readUInt16BE(i);
  if ((end - start) % 2) s += (b[end - 1] as number) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export interface SuperFrameSpec {
  readonly v6?: boolean;
  readonly proto?: 6 | 17;
  /** VLAN tags in front of the IP header (TPIDs). */
  readonly vlans?: readonly number[];
  readonly ipOptions?: number;
  readonly tcpOptions?: number;
  readonly payload: Buffer;
  readonly seq?: number;
  readonly tcpFlags?: number;
  readonly id?: number;
}

export interface Built {
  readonly frame: Buffer;
  readonly l3: number;
  readonly l4: number;
  /** Where the payload starts (all headers). */
  readonly hl: number;
}

/** Ethernet (+ VLANs) + IPv4/IPv6 + TCP/UDP + payload, the L4 checksum field holding the pseudo sum. */
export function superFrame(s: SuperFrameSpec): Built {
  const v6 = s.v6 ?? false;
  const proto = s.proto ?? 6;
  const vlans = s.vlans ?? [];
  const l3 = 14 + 4 * vlans.length;
  const ipLen = v6 ? 40 : 20 + (s.ipOptions ?? 0);
  const l4 = l3 + ipLen;
  const l4h = proto === 6 ? 20 + (s.tcpOptions ?? 0) : 8;
  const hl = l4 + l4h;
  const f = Buffer.alloc(hl + s.payload.length);
  Buffer.from('020000000002020000000001', 'hex').copy(f, 0);
  let o = 12;
  for (const tpid of vlans) {
    f.writeUInt16BE(tpid, o);
    f.writeUInt16BE(100, o + 2);
    o += 4;
  }
  f.writeUInt16BE(v6 ? 0x86dd : 0x0800, o);
  if (v6) {
    f.writeUInt32BE(0x60000000, l3);
    f.writeUInt16BE(f.length - l3 - 40, l3 + 4);
    f[l3 + 6] = proto;
    f[l3 + 7] = 64;
    Buffer.from('fd000000000000000000000000000001fd000000000000000000000000000002', 'hex').copy(f, l3 + 8);
  } else {
    f[l3] = 0x40 | (ipLen / 4);
    f.writeUInt16BE(f.length - l3, l3 + 2);
    f.writeUInt16BE(s.id ?? 0x1234, l3 + 4);
    f.writeUInt16BE(0x4000, l3 + 6); // DF, as TCP sends
    f[l3 + 8] = 64;
    f[l3 + 9] = proto;
    Buffer.from('0a0000010a000002', 'hex').copy(f, l3 + 12);
    for (let i = 20; i < ipLen; i++) f[l3 + i] = 1; // NOP options
    f.writeUInt16BE(~sum16(f, l3, l4) & 0xffff, l3 + 10);
  }
  f.writeUInt16BE(40000, l4);
  f.writeUInt16BE(5201, l4 + 2);
  if (proto === 6) {
    f.writeUInt32BE(s.seq ?? 0xfffff000, l4 + 4); // by default the sequence wraps during the cut
    f[l4 + 12] = (l4h / 4) << 4;
    f[l4 + 13] = s.tcpFlags ?? 0x18; // PSH ACK
    for (let i = 20; i < l4h; i++) f[l4 + i] = 1;
  } else {
    f.writeUInt16BE(f.length - l4, l4 + 4);
  }
  s.payload.copy(f, hl);
  f.writeUInt16BE(pseudo(f, l3, v6, proto, f.length - l4), l4 + (proto === 6 ? 16 : 6));
  return { frame: f, l3, l4, hl };
}

/** The folded pseudo-header sum of an IPv4/IPv6 packet at l3 for an L4 segment of l4len bytes. */
export function pseudo(f: Buffer, l3: number, v6: boolean, proto: number, l4len: number): number {
  const s = v6 ? sum16(f, l3 + 8, l3 + 40) : sum16(f, l3 + 12, l3 + 20);
  return sum16(Buffer.alloc(0), 0, 0, s + proto + (l4len >>> 16) + (l4len & 0xffff));
}

/** The header Linux gives such a frame: NEEDS_CSUM at the L4 header, GSO of this type and size. */
export function gsoHeader(b: Built, gsoType: number, gsoSize: number, proto: 6 | 17 = 6): Buffer {
  return vnetHeader({ flags: VNET.F_NEEDS_CSUM, gsoType, hdrLen: b.hl, gsoSize, csumStart: b.l4, csumOffset: proto === 6 ? 16 : 6 });
}

/** What a receiver would find wrong with a plain Ethernet/[VLAN]/IPv4|IPv6/TCP|UDP frame ([] when fine). */
export function plainFrameProblems(s: Buffer): string[] {
  const bad: string[] = [];
  let o = 12;
  let et = s.readUInt16BE(o);
  while (et === 0x8100 || et === 0x88a8) {
    o += 4;
    et = s.readUInt16BE(o);
  }
  const l3 = o + 2;
  let l4: number;
  let proto: number;
  let v6: boolean;
  if (et === 0x0800) {
    v6 = false;
    const ihl = ((s[l3] as number) & 0x0f) * 4;
    l4 = l3 + ihl;
    proto = s[l3 + 9] as number;
    if (s.readUInt16BE(l3 + 2) !== s.length - l3) bad.push(`IPv4 total length ${s.readUInt16BE(l3 + 2)}, frame has ${s.length - l3}`);
    if (sum16(s, l3, l4) !== 0xffff) bad.push('IPv4 header checksum');
    if ((s.readUInt16BE(l3 + 6) & 0x3fff) !== 0) return bad; // a fragment: its L4 checksum covers the datagram
  } else if (et === 0x86dd) {
    v6 = true;
    l4 = l3 + 40;
    proto = s[l3 + 6] as number;
    if (s.readUInt16BE(l3 + 4) !== s.length - l4) bad.push(`IPv6 payload length ${s.readUInt16BE(l3 + 4)}, frame has ${s.length - l4}`);
  } else {
    return [`ethertype 0x${et.toString(16)}`];
  }
  if (proto === 17 && s.readUInt16BE(l4 + 4) !== s.length - l4) bad.push(`UDP length ${s.readUInt16BE(l4 + 4)}, frame has ${s.length - l4}`);
  if (proto !== 6 && proto !== 17) return [...bad, `IP protocol ${proto}`];
  if (sum16(s, l4, s.length, pseudo(s, l3, v6, proto, s.length - l4)) !== 0xffff) bad.push(`${proto === 6 ? 'TCP' : 'UDP'} checksum`);
  return bad;
}

/** A random super-frame (or checksum-only frame) and the header Linux could have given it. */
export function randomCase(r: () => number): { frame: Buffer; hdr: Buffer; what: string } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const v6 = r() < 0.4;
  const proto: 6 | 17 = r() < 0.7 ? 6 : 17;
  const vlans = pick([[], [], [0x8100], [0x88a8, 0x8100]]);
  const ipOptions = v6 ? 0 : pick([0, 0, 4, 12, 40]);
  const tcpOptions = pick([0, 12, 12, 20, 40]);
  const room = 65535 - (v6 ? 0 : 20 + ipOptions) - (proto === 6 ? 20 + tcpOptions : 8) - (v6 ? 8 : 0);
  const len = pick([1, 7, 100, 1447, 1448, 1449, 2896, 20000, 64000, Math.floor(r() * room)]);
  const payload = Buffer.alloc(Math.min(len, room));
  for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(r() * 256);
  const b = superFrame({ v6, proto, vlans, ipOptions, tcpOptions, payload, seq: Math.floor(r() * 2 ** 32), tcpFlags: Math.floor(r() * 256), id: Math.floor(r() * 65536) });
  const minSize = Math.max(8, Math.ceil(payload.length / 256));
  const gsoSize = Math.max(minSize, pick([536, 1200, 1448, 1440, 8948, 8, 9, Math.floor(r() * 9000)]));
  const kind = r();
  let gsoType: number;
  if (kind < 0.15) gsoType = VNET.GSO_NONE; // checksum completion only
  else if (proto === 6) gsoType = (v6 ? VNET.GSO_TCPV6 : VNET.GSO_TCPV4) | (r() < 0.2 ? VNET.GSO_ECN : 0);
  else gsoType = !v6 && r() < 0.4 ? VNET.GSO_UDP : VNET.GSO_UDP_L4;
  const hdr = gsoHeader(b, gsoType, gsoSize, proto);
  return { frame: b.frame, hdr, what: `${v6 ? 'v6' : 'v4'} ${proto === 6 ? 'TCP' : 'UDP'} vlans=${vlans.length} ipopt=${ipOptions} tcpopt=${tcpOptions} payload=${payload.length} gso=${gsoType}/${gsoSize}` };
}
