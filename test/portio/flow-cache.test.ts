/**
 * The datapath's flow cache below JavaScript (switch/flow-cache.ts, switch/portio/src/flowcache.c).
 *
 * First the promise the cache rests on: frames with equal signatures (flowSignature) have equal flow keys
 * as switch/key-extract.ts computes them. Seeded random frames of every kind the cache takes, and tens of
 * thousands of mutations of them (bytes changed, cut short, grown), are grouped by signature; every
 * frame of a group must have the group's key, word for word. The kinds the cache refuses (fragments,
 * Neighbor Discovery, IPv6 extension headers, MPLS, PBB, 802.3, frames cut short...) get no signature.
 *
 * Then, on a Datapath whose ports are AF_PACKET sockets on veths into three namespaces, with frame-level
 * peers at the far ends (test/portio/peer.mjs): a cached decision forwards what the pipeline would,
 * counts what the pipeline would (flow stats, table stats, flow-removed, idle timeouts), and is gone
 * the moment anything it depends on changes (flow-mods, port-mods, the controller leaving). Where frames
 * must not arrive, a sentinel sent afterwards on the same path proves it: the path keeps order, so a frame
 * wrongly forwarded would have come before it. Needs root for the second part.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Action,
  type Instruction,
  type Match,
  type MessageOf,
  type OFPMessage,
  OFPCML,
  OFPCR_ROLE,
  OFPFC,
  OFPFF,
  OFPG,
  OFPGC,
  OFPGT,
  OFPIT,
  OFPP,
  OFPPC,
  OFPRR,
  OFPTT,
  OFP_NO_BUFFER,
} from '../../openflow/index.js';
import { nullLogger } from '../../base/logger.js';
import type { ControllerConnection } from '../../switch/channel.js';
import { type AsyncSink, Datapath } from '../../switch/datapath.js';
import { extractKey } from '../../switch/key-extract.js';
import { FIELD_SLOTS, type FlowKey, newKey } from '../../switch/key.js';
import { type NativeFramePort, createFrameCache, flowSignature, openInterface } from '../../switch/portio/index.js';
import { rng } from '../helpers/rng.js';
import { waitFor } from '../helpers/wait.js';
import { DST, SRC, type L4, arp, eth, icmp4, icmp6, ipv4, ipv6, itag, lse, nd, sctp, tcp, udp } from '../switch/frames.js';
import { Lab, Peer } from './netns.js';

// ---- part 1: signatures ----------------------------------------------------------------------------------

type R = () => number;
const int = (r: R, n: number): number => Math.floor(r() * n);
const pick = <T>(r: R, xs: readonly T[]): T => xs[int(r, xs.length)] as T;
const randBytes = (r: R, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(r, 256)));
const randMac = (r: R): string => [...randBytes(r, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const randV4 = (r: R): string => Array.from({ length: 4 }, () => int(r, 256)).join('.');
const randV6 = (r: R): string => Array.from({ length: 8 }, () => int(r, 65536).toString(16)).join(':');

/** In ports the frames enter by (OFPP.LOCAL among them: the port number is copied whole into the signature). */
const IN_PORTS = [1, 2, 7, 0x100, 0x10000, OFPP.LOCAL] as const;

function randTags(r: R, n: number): [number, number][] {
  return Array.from({ length: n }, () => [pick(r, [0x8100, 0x88a8]), int(r, 65536)] as [number, number]);
}

/** Ethernet with random addresses and 0–2 tags around payload, padded (as a wire frame may be) or not. */
function frame(r: R, type: number, payload: Buffer, tags = int(r, 3), pad = true): Buffer {
  const f = eth(type, payload, randTags(r, tags), randMac(r), randMac(r));
  return pad && r() < 0.5 ? Buffer.concat([f, randBytes(r, 1 + int(r, 24))]) : f;
}

/** TCP (k 0), UDP (1) or SCTP (2) with random ports: the transports whose ports the key reads. */
function randPorts(r: R, k: number): L4 {
  if (k === 0) return tcp(int(r, 65536), int(r, 65536), randBytes(r, int(r, 40)));
  if (k === 1) return udp(int(r, 65536), int(r, 65536), randBytes(r, int(r, 40)));
  return sctp(int(r, 65536), int(r, 65536));
}

function randL4v4(r: R): L4 | { proto: number; raw: Buffer } {
  const k = int(r, 5);
  switch (k) {
    case 0:
    case 1:
    case 2:
      return randPorts(r, k);
    case 3:
      return icmp4(int(r, 256), int(r, 256), randBytes(r, int(r, 20)));
    default:
      // protocols the key reads nothing of (IPv6's extension header numbers mean nothing in IPv4)
      return { proto: pick(r, [0, 2, 4, 41, 43, 44, 47, 50, 51, 59, 60, 89, 255]), raw: randBytes(r, int(r, 30)) };
  }
}

function randIpv4(r: R, l4 = randL4v4(r)): Buffer {
  const options = r() < 0.3 ? randBytes(r, 4 * (1 + int(r, 10))) : undefined;
  const p = ipv4({ src: randV4(r), dst: randV4(r), tos: int(r, 256), ttl: int(r, 256), id: int(r, 65536), ...(options ? { options } : {}) }, l4);
  if (r() < 0.5) p[6] = (p[6] as number) | 0x40; // don't fragment: not a fragment
  return p;
}

function randL4v6(r: R): L4 | { proto: number; raw: Buffer } {
  const k = int(r, 7);
  switch (k) {
    case 0:
    case 1:
    case 2:
      return randPorts(r, k);
    case 3:
      return icmp6(pick(r, [128, 129]), 0, randBytes(r, 4 + int(r, 20))); // echo
    case 4:
      return icmp6(pick(r, [1, 2, 3, 4, 133, 134, 137, 143]), int(r, 4), randBytes(r, 4 + int(r, 20)));
    case 5:
      return icmp4(int(r, 256), int(r, 256)); // protocol 1 in IPv6: the key still reads its type and code
    default:
      return { proto: pick(r, [4, 41, 47, 89, 103, 135, 255]), raw: randBytes(r, int(r, 30)) };
  }
}

function randIpv6(r: R, l4 = randL4v6(r)): Buffer {
  const p = ipv6({ src: randV6(r), dst: randV6(r), tc: int(r, 256), flabel: int(r, 1 << 20), hlim: int(r, 256) }, l4);
  if (r() < 0.1) p.writeUInt16BE(0, 4); // payload length 0: a jumbogram or a large GSO frame, up to the frame's end
  return p;
}

/** Kinds the cache takes: each must get a signature. */
const INCLUDED: readonly (readonly [string, (r: R) => Buffer])[] = [
  ['ARP', (r) => frame(r, 0x0806, arp(pick(r, [1, 2]), randMac(r), randV4(r), randMac(r), randV4(r)))],
  ['ARP, not Ethernet/IPv4', (r) => frame(r, 0x0806, randBytes(r, 28))],
  ['IPv4/TCP', (r) => frame(r, 0x0800, randIpv4(r, tcp(int(r, 65536), int(r, 65536), randBytes(r, int(r, 40)))))],
  ['IPv4/UDP', (r) => frame(r, 0x0800, randIpv4(r, udp(int(r, 65536), int(r, 65536), randBytes(r, int(r, 40)))))],
  ['IPv4/SCTP', (r) => frame(r, 0x0800, randIpv4(r, sctp(int(r, 65536), int(r, 65536))))],
  ['IPv4/ICMP', (r) => frame(r, 0x0800, randIpv4(r, icmp4(int(r, 256), int(r, 256))))],
  ['IPv4, any protocol', (r) => frame(r, 0x0800, randIpv4(r))],
  ['IPv4 with options', (r) => frame(r, 0x0800, ipv4({ src: randV4(r), options: randBytes(r, 4 * (1 + int(r, 10))) }, randL4v4(r)))],
  ['IPv6/TCP', (r) => frame(r, 0x86dd, randIpv6(r, tcp(int(r, 65536), int(r, 65536), randBytes(r, int(r, 40)))))],
  ['IPv6/UDP', (r) => frame(r, 0x86dd, randIpv6(r, udp(int(r, 65536), int(r, 65536), randBytes(r, int(r, 40)))))],
  ['IPv6/ICMPv6 echo', (r) => frame(r, 0x86dd, randIpv6(r, icmp6(pick(r, [128, 129]), 0, randBytes(r, 4 + int(r, 20)))))],
  ['IPv6, any protocol', (r) => frame(r, 0x86dd, randIpv6(r))],
];

const cut = (f: Buffer, n: number): Buffer => Buffer.from(f.subarray(0, n));
/** An IPv4/UDP frame with no tags and no padding: the IP header at 14, UDP at 34. */
const plainUdp4 = (r: R): Buffer => eth(0x0800, ipv4({ src: randV4(r) }, udp(int(r, 65536), int(r, 65536), randBytes(r, 8))));

/** Kinds the cache refuses: each must get none. */
const EXCLUDED: readonly (readonly [string, (r: R) => Buffer])[] = [
  ['IPv4 fragment, more fragments', (r) => frame(r, 0x0800, ipv4({ src: randV4(r), mf: true }, randL4v4(r)))],
  ['IPv4 fragment, an offset', (r) => frame(r, 0x0800, ipv4({ src: randV4(r), fragOff: 1 + int(r, 0x1ffe), mf: r() < 0.5 }, randL4v4(r)))],
  ['ND solicitation', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r) }, nd(135, randV6(r), [[1, randMac(r)]])))],
  ['ND advertisement', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r) }, nd(136, randV6(r), [[2, randMac(r)]])))],
  ['IPv6 hop-by-hop', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 0 }] }, randL4v6(r)))],
  ['IPv6 routing', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 43 }] }, randL4v6(r)))],
  ['IPv6 destination options', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 60, len8: int(r, 3) }] }, randL4v6(r)))],
  ['IPv6 fragment (first)', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 44, offset: 0, mf: true }] }, randL4v6(r)))],
  ['IPv6 fragment (later)', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 44, offset: 1 + int(r, 100), mf: false }] }, randL4v6(r)))],
  ['IPv6 AH', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 51 }] }, randL4v6(r)))],
  ['IPv6 ESP', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r), exts: [{ type: 50 }] }, randL4v6(r)))],
  ['IPv6 no next header', (r) => frame(r, 0x86dd, ipv6({ src: randV6(r) }, { proto: 59, raw: randBytes(r, int(r, 20)) }))],
  ['MPLS', (r) => frame(r, pick(r, [0x8847, 0x8848]), Buffer.concat([lse(int(r, 1 << 20), int(r, 8), 1, 64), randIpv4(r)]))],
  ['PBB', (r) => frame(r, 0x88e7, itag(int(r, 8), int(r, 1 << 24), randMac(r), randMac(r), Buffer.concat([Buffer.from([0x08, 0x00]), randIpv4(r)])))],
  ['802.3 length', (r) => frame(r, int(r, 0x600), Buffer.concat([Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]), randIpv4(r)]))],
  ['another Ethernet type', (r) => frame(r, pick(r, [0x88cc, 0x9000, 0x0842, 0x88e5, 0x8906]), randBytes(r, 46))],
  ['three VLAN tags', (r) => frame(r, 0x0800, randIpv4(r), 3)],
  ['shorter than Ethernet', (r) => randBytes(r, int(r, 14))],
  ['cut inside a VLAN tag', (r) => cut(frame(r, 0x0800, randIpv4(r), 1 + int(r, 2), false), 14 + int(r, 4))],
  ['cut inside the ARP body', (r) => cut(frame(r, 0x0806, arp(1, randMac(r), randV4(r), randMac(r), randV4(r)), 0, false), 14 + int(r, 28))],
  ['cut inside the IPv4 header', (r) => cut(plainUdp4(r), 14 + int(r, 20))],
  ['cut inside the UDP ports', (r) => cut(plainUdp4(r), 34 + int(r, 4))],
  ['cut inside TCP ports behind IPv4 options', (r) => cut(eth(0x0800, ipv4({ options: randBytes(r, 8) }, tcp(1, 2))), 42 + int(r, 4))],
  ['cut inside the ICMP type and code', (r) => cut(eth(0x0800, ipv4({}, icmp4(8, 0))), 34 + int(r, 2))],
  ['cut inside the IPv6 header', (r) => cut(eth(0x86dd, ipv6({ src: randV6(r) }, udp(1, 2))), 14 + int(r, 40))],
  ['cut inside the ICMPv6 type and code', (r) => cut(eth(0x86dd, ipv6({}, icmp6(128, 0))), 54 + int(r, 2))],
  [
    'IPv4 total length short of the ports',
    (r) => {
      const f = plainUdp4(r);
      f.writeUInt16BE(20 + int(r, 4), 16);
      return f;
    },
  ],
  [
    'IPv6 payload length short of the ports',
    (r) => {
      const f = eth(0x86dd, ipv6({ src: randV6(r) }, tcp(1, 2)));
      f.writeUInt16BE(1 + int(r, 3), 18);
      return f;
    },
  ],
  [
    'IPv4 header length under 20',
    (r) => {
      const f = plainUdp4(r);
      f[14] = 0x40 | int(r, 5);
      return f;
    },
  ],
  [
    'IPv4 total length under the header',
    (r) => {
      const f = plainUdp4(r);
      f.writeUInt16BE(int(r, 20), 16);
      return f;
    },
  ],
  [
    'IP version not 4 behind 0x0800',
    (r) => {
      const f = plainUdp4(r);
      f[14] = (pick(r, [0, 5, 6, 15]) << 4) | 5;
      return f;
    },
  ],
  [
    'IP version not 6 behind 0x86dd',
    (r) => {
      const f = eth(0x86dd, ipv6({}, udp(1, 2)));
      f[14] = (pick(r, [0, 4, 7, 15]) << 4) | ((f[14] as number) & 15);
      return f;
    },
  ],
];

/** Byte values that change a frame's structure: types, protocols, versions, lengths. */
const INTERESTING = [
  0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x11, 0x14, 0x20, 0x28, 0x2b, 0x2c, 0x32, 0x33, 0x3a, 0x3b, 0x3c, 0x40, 0x44, 0x45, 0x46, 0x4f, 0x60,
  0x65, 0x80, 0x81, 0x84, 0x86, 0x87, 0x88, 0x89, 0xa8, 0xdd, 0xe7, 0xff, 128, 129, 135, 136,
];

function mutateByte(r: R, g: Buffer, pos: number): void {
  const old = g[pos] as number;
  let v = r() < 0.5 ? pick(r, INTERESTING) : int(r, 256);
  if (v === old) v ^= 1 << int(r, 8);
  g[pos] = v;
}

/** A random position, mostly among the headers. */
const headerPos = (r: R, len: number): number => (r() < 0.75 ? int(r, Math.min(len, 90)) : int(r, len));

/** One mutant of f: bytes changed (one or several), cut short, grown, or a byte changed near the end. */
function mutate(r: R, f: Buffer): Buffer {
  const g = Buffer.from(f);
  const kind = int(r, 10);
  if (g.length === 0 || kind === 7) return Buffer.concat([g, randBytes(r, 1 + int(r, 8))]);
  if (kind < 4) {
    mutateByte(r, g, headerPos(r, g.length));
  } else if (kind < 7) {
    for (let n = 2 + int(r, 5); n > 0; n--) mutateByte(r, g, headerPos(r, g.length));
  } else if (kind === 8) {
    return cut(g, int(r, g.length));
  } else {
    // the back half: payload, padding, or whatever the key does not read
    mutateByte(r, g, g.length - 1 - int(r, Math.ceil(g.length / 2)));
  }
  return g;
}

/** The fields two keys differ in, by name. */
function fieldsDiffering(a: FlowKey, b: FlowKey): string[] {
  const out: string[] = [];
  for (const [name, s] of FIELD_SLOTS) {
    for (let w = s.word; w < s.word + s.words; w++) {
      if (a[w] !== b[w]) {
        out.push(`${name}: ${a[w]} vs ${b[w]}`);
        break;
      }
    }
  }
  return out;
}

/**
 * Groups frames by signature and checks each against the first frame of its group. Counts pairs checked
 * whose bytes differ (what makes the property mean something), per kind.
 */
class SignatureCheck {
  private readonly groups = new Map<string, { frame: Buffer; port: number; kind: string; key: FlowKey }>();
  readonly failures: string[] = [];
  readonly differentBytes = new Map<string, number>();
  compared = 0;
  withSignature = 0;
  without = 0;
  private readonly key = newKey();

  check(f: Buffer, port: number, kind: string): Buffer | null {
    const sig = flowSignature(f, port);
    if (sig === null) {
      this.without++;
      return null;
    }
    this.withSignature++;
    extractKey(f, { inPort: port, inPhyPort: port, metadata: 0n, tunnelId: 0n }, this.key);
    const h = sig.toString('hex');
    const first = this.groups.get(h);
    if (first === undefined) {
      this.groups.set(h, { frame: f, port, kind, key: this.key.slice() });
      return sig;
    }
    this.compared++;
    if (!first.frame.equals(f)) this.differentBytes.set(kind, (this.differentBytes.get(kind) ?? 0) + 1);
    let same = first.key.length === this.key.length;
    for (let i = 0; same && i < this.key.length; i++) same = first.key[i] === this.key[i];
    if (!same && this.failures.length < 10) {
      this.failures.push(
        `signature ${h}: in port ${first.port} frame ${first.frame.toString('hex')} (${first.kind}) and in port ${port} frame ${f.toString('hex')} ` +
          `(${kind}) have different keys: ${fieldsDiffering(first.key, this.key).join(', ')}`,
      );
    }
    return sig;
  }

  get pairs(): number {
    let n = 0;
    for (const v of this.differentBytes.values()) n += v;
    return n;
  }
}

describe('flowSignature: equal signatures mean equal flow keys', () => {
  it('gives every kind the cache takes a signature, in every in port, a different one per in port', () => {
    const r = rng(0x16fc01);
    const problems: string[] = [];
    for (const [kind, gen] of INCLUDED) {
      for (let i = 0; i < 50; i++) {
        const f = gen(r);
        const sigs = IN_PORTS.map((p) => flowSignature(f, p));
        if (sigs.some((s) => s === null)) problems.push(`${kind}: no signature for ${f.toString('hex')}`);
        const distinct = new Set(sigs.map((s) => s?.toString('hex')));
        if (distinct.size !== IN_PORTS.length) problems.push(`${kind}: the same signature for two in ports: ${f.toString('hex')}`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
  });

  it('gives none to the kinds it refuses', () => {
    const r = rng(0x16fc02);
    const problems: string[] = [];
    for (const [kind, gen] of EXCLUDED) {
      for (let i = 0; i < 50; i++) {
        const f = gen(r);
        for (const p of IN_PORTS) {
          if (flowSignature(f, p) !== null) problems.push(`${kind}: a signature for ${f.toString('hex')} (in port ${p})`);
        }
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
  });

  it('never gives two frames with different keys the same signature (random frames and their mutations)', () => {
    const r = rng(0x16fc03);
    const check = new SignatureCheck();
    const all = [...INCLUDED, ...EXCLUDED];
    for (let round = 0; round < 40; round++) {
      for (const [kind, gen] of all) {
        const base = gen(r);
        const port = pick(r, IN_PORTS);
        check.check(base, port, kind);
        // mutants of mutants too: a mutation that breaks the structure may be undone by the next one
        let prev = base;
        for (let i = 0; i < 40; i++) {
          const m = mutate(r, r() < 0.25 ? prev : base);
          check.check(m, port, kind);
          prev = m;
        }
      }
    }
    // every byte of one frame of each kind taken, with tags 0, 1 and 2, changed to several values
    for (const [kind, gen] of INCLUDED) {
      for (let tags = 0; tags < 3; tags++) {
        let base = gen(r);
        while (flowSignature(base, 1) === null || base.length < 40) base = gen(r);
        // the same payload behind 0–2 tags: rebuild the Ethernet header
        let off = 12;
        while (off + 4 <= base.length && [0x8100, 0x88a8].includes(base.readUInt16BE(off))) off += 4;
        const f = eth(base.readUInt16BE(off), base.subarray(off + 2), randTags(r, tags), randMac(r), randMac(r));
        check.check(f, 1, kind);
        for (let pos = 0; pos < f.length; pos++) {
          const old = f[pos] as number;
          for (const v of new Set([0, 0xff, old ^ 1, old ^ 0x10, old ^ 0x80, pick(r, INTERESTING), pick(r, INTERESTING), int(r, 256)])) {
            if (v === old) continue;
            const g = Buffer.from(f);
            g[pos] = v;
            check.check(g, 1, kind);
          }
        }
      }
    }
    expect(check.failures).toEqual([]);
    // the property was tried in earnest: many frames with a signature, and many with another frame's
    // signature but other bytes (TTLs, ids, checksums, payloads, padding...), in every kind the cache takes
    expect(check.withSignature).toBeGreaterThan(20_000);
    expect(check.without).toBeGreaterThan(5_000);
    expect(check.pairs).toBeGreaterThan(10_000);
    const thin = INCLUDED.map(([k]) => k).filter((k) => (check.differentBytes.get(k) ?? 0) < 200);
    expect(thin).toEqual([]);
  });
});

// ---- part 2: a datapath with the cache, on real ports -------------------------------------------------------

const CONN: ControllerConnection = { id: 'fc', role: OFPCR_ROLE.EQUAL, send: () => undefined };
const U64 = 0xffffffffffffffffn;
/** Frames sent per step; each step waits until its frames are through, so no socket buffer overflows. */
const CHUNK = 16;
const NEW_DST = '02:00:00:00:00:ee';

let xid = 1;
const out = (port: number): Action => ({ kind: 'OFPActionOutput', port, max_len: OFPCML.NO_BUFFER });
const apply = (...actions: Action[]): Instruction => ({ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions });

interface FlowArgs {
  readonly cookie: bigint;
  readonly match?: Match;
  readonly ins?: readonly Instruction[];
  readonly command?: number;
  readonly idle?: number;
  readonly flags?: number;
  readonly priority?: number;
  readonly table?: number;
}

function flowMod(f: FlowArgs): MessageOf<'OFPFlowMod'> {
  return {
    type: 'OFPFlowMod', xid: xid++, cookie: f.cookie, cookie_mask: f.command === OFPFC.ADD || f.command === undefined ? 0n : U64, table_id: f.command === OFPFC.DELETE ? OFPTT.ALL : (f.table ?? 0),
    command: f.command ?? OFPFC.ADD, idle_timeout: f.idle ?? 0, hard_timeout: 0, priority: f.priority ?? 100, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY,
    out_group: OFPG.ANY, flags: f.flags ?? 0, match: f.match ?? [{ field: 'in_port', value: 1 }], instructions: f.ins ?? [],
  };
}

/** A UDP frame from port 1's peer: the same headers for a given port pair, a payload, length, IP id and TTL of its own. */
function udpFrame(seq: number, dport = 2000, sport = 1000): Buffer {
  const payload = Buffer.alloc(24 + (seq % 23), seq & 0xff);
  payload.writeUInt32BE(seq, 0);
  return eth(0x0800, ipv4({ src: '10.9.0.1', dst: '10.9.0.2', id: seq & 0xffff, ttl: 64 - (seq % 5) }, udp(sport, dport, payload)), [], DST, SRC);
}

let seqNo = 1;
const frames = (n: number, make: (seq: number) => Buffer = (s) => udpFrame(s)): Buffer[] => Array.from({ length: n }, () => make(seqNo++));
const hex = (fs: readonly Buffer[]): string[] => fs.map((f) => f.toString('hex'));
const bytesOf = (fs: readonly Buffer[]): bigint => BigInt(fs.reduce((n, f) => n + f.length, 0));

describe.each([
  ["on libuv's loop", false],
  ['on a forwarding thread', true],
])('a datapath with the flow cache (%s), on AF_PACKET ports into namespaces', (_how, thread) => {
  let lab: Lab;
  let dp: Datapath;
  const peers = new Map<number, Peer>();
  const ports = new Map<number, NativeFramePort>();
  const asyncMsgs: OFPMessage[] = [];
  const sink: AsyncSink = {
    connected: 1,
    sendAsync: (msg) => {
      asyncMsgs.push(msg);
      return 1;
    },
  };

  const peer = (n: number): Peer => peers.get(n) as Peer;
  const port = (n: number): NativeFramePort => ports.get(n) as NativeFramePort;
  const req = (msg: OFPMessage): OFPMessage[] => dp.handle(msg, CONN);
  const cache = (): NonNullable<ReturnType<Datapath['cacheStats']>> => {
    const s = dp.cacheStats();
    if (s === undefined) throw new Error('the datapath has no flow cache');
    return s;
  };
  /** What each peer has received so far (marks to take `since` from). */
  const mark = (): Map<number, number> => new Map([...peers].map(([n, p]) => [n, p.received.length]));
  const since = (m: Map<number, number>, n: number): string[] => peer(n).received.slice(m.get(n) ?? 0).map((x) => x.frame.toString('hex'));
  const rx1 = (): number => port(1).counters().rxPackets;

  /**
   * Sends frames from port 1's peer: the first alone (its pipeline run hands the decision to the cache
   * before the next frame comes), the rest CHUNK at a time, each step once `through(n)` holds for the
   * n frames sent so far.
   */
  async function pump(fs: readonly Buffer[], through: (n: number) => boolean, what: string): Promise<void> {
    let n = 0;
    while (n < fs.length) {
      const step = n === 0 ? 1 : Math.min(CHUNK, fs.length - n);
      for (const f of fs.slice(n, n + step)) peer(1).send(f);
      n += step;
      const sent = n;
      await waitFor(`${what}: ${sent} of ${fs.length} frames through`, () => through(sent), 15_000);
    }
  }

  /** Through means: arrived at port `to`'s peer. */
  const arrive = (to: number): ((n: number) => boolean) => {
    const base = peer(to).received.length;
    return (n) => peer(to).received.length - base >= n;
  };
  /** Through means: read by the switch's port 1 (for frames that must go nowhere). */
  const readByPort1 = (): ((n: number) => boolean) => {
    const base = rx1();
    return (n) => rx1() - base >= n;
  };

  function flowStats(cookie: bigint): { packets: bigint; bytes: bigint } | undefined {
    const replies = req({ type: 'OFPFlowStatsRequest', xid: xid++, flags: 0, table_id: OFPTT.ALL, out_port: OFPP.ANY, out_group: OFPG.ANY, cookie, cookie_mask: U64, match: [] });
    const body = replies.flatMap((r) => (r.type === 'OFPFlowStatsReply' ? r.body : []));
    const [e] = body;
    return e === undefined ? undefined : { packets: e.packet_count, bytes: e.byte_count };
  }

  function table(id: number): { lookups: bigint; matched: bigint } {
    const replies = req({ type: 'OFPTableStatsRequest', xid: xid++, flags: 0 });
    const t = replies.flatMap((r) => (r.type === 'OFPTableStatsReply' ? r.body : [])).find((b) => b.table_id === id);
    if (t === undefined) throw new Error(`no stats for table ${id}`);
    return { lookups: t.lookup_count, matched: t.matched_count };
  }

  const removedMsgs = (cookie: bigint): MessageOf<'OFPFlowRemoved'>[] =>
    asyncMsgs.filter((m): m is MessageOf<'OFPFlowRemoved'> => m.type === 'OFPFlowRemoved' && m.cookie === cookie);

  function portMod(no: number, config: number, mask: number): void {
    req({ type: 'OFPPortMod', xid: xid++, port_no: no, hw_addr: port(no).hwAddr, config, mask, advertise: 0 });
  }

  /** Every flow deleted, the async messages forgotten. */
  function reset(): void {
    req({ ...flowMod({ cookie: 0n, command: OFPFC.DELETE, match: [] }), cookie_mask: 0n });
    asyncMsgs.length = 0;
  }

  beforeAll(async () => {
    lab = new Lab(thread ? 'ft' : 'fc');
    for (const n of [1, 2, 3]) {
      const ns = lab.ns(`n${n}`);
      lab.veth(lab.name(`s${n}`), lab.name(`h${n}`));
      lab.move(lab.name(`h${n}`), ns); // no address: the namespace's stack sends nothing of its own
      peers.set(n, new Peer(lab, ns, lab.name(`h${n}`)));
    }
    await Promise.all([...peers.values()].map((p) => p.ready()));
    const frameCache = createFrameCache({ thread });
    if (frameCache === undefined) throw new Error('the port I/O addon has no flow cache: run "npm run build"');
    dp = new Datapath({ name: 'fc', dpid: 0xfcn, tables: 2, failMode: 'secure', log: nullLogger, frameCache });
    dp.attach(sink);
    for (const n of [1, 2, 3]) {
      ports.set(n, openInterface(lab.name(`s${n}`)));
      dp.addPort(port(n), n);
    }
    expect(cache().ports).toBe(3);
    expect(cache().threaded).toBe(thread);
  });

  afterAll(async () => {
    for (const p of peers.values()) p.quit();
    dp?.stop();
    await lab?.close();
  });

  it('forwards a flow from the cache, counting every frame in the flow, table and port stats', async () => {
    reset();
    req(flowMod({ cookie: 0xa1n, ins: [apply(out(2))] }));
    const fs = frames(200);
    const before = cache();
    const t0 = table(0);
    const m = mark();
    const tx2 = port(2).counters().txPackets;
    await pump(fs, arrive(2), 'port 1 → port 2');
    expect(since(m, 2)).toEqual(hex(fs));
    expect(since(m, 3)).toEqual([]);
    const after = cache();
    expect(after.installs - before.installs).toBeGreaterThanOrEqual(1);
    expect(after.entries).toBeGreaterThanOrEqual(1);
    // the first frame ran the pipeline; all the others (but for a flush by a stray port event) did not
    expect(after.hits - before.hits).toBeGreaterThanOrEqual(fs.length - 8);
    expect(flowStats(0xa1n)).toEqual({ packets: BigInt(fs.length), bytes: bytesOf(fs) });
    const t1 = table(0);
    expect({ lookups: t1.lookups - t0.lookups, matched: t1.matched - t0.matched }).toEqual({ lookups: BigInt(fs.length), matched: BigInt(fs.length) });
    expect(port(2).counters().txPackets - tx2).toBe(fs.length);
  });

  it('caches decisions made across two tables, by the action set, to several ports and back out of the input port', async () => {
    reset();
    req(flowMod({ cookie: 0x71n, ins: [{ kind: 'OFPInstructionGotoTable', table_id: 1 }] }));
    req(flowMod({ cookie: 0x72n, table: 1, ins: [{ kind: 'OFPInstructionActions', type: OFPIT.WRITE_ACTIONS, actions: [out(OFPP.FLOOD)] }] }));
    const before = cache();
    const t0 = [table(0), table(1)];
    const m = mark();
    const fs = frames(50);
    const at2 = arrive(2);
    const at3 = arrive(3);
    await pump(fs, (n) => at2(n) && at3(n), 'flooded to ports 2 and 3');
    expect(cache().hits - before.hits).toBeGreaterThanOrEqual(fs.length - 8);
    const t1 = [table(0), table(1)];
    const n = BigInt(fs.length);
    expect(t1.map((t, i) => ({ lookups: t.lookups - (t0[i]?.lookups ?? 0n), matched: t.matched - (t0[i]?.matched ?? 0n) }))).toEqual([
      { lookups: n, matched: n },
      { lookups: n, matched: n },
    ]);
    expect([flowStats(0x71n), flowStats(0x72n)]).toEqual([
      { packets: n, bytes: bytesOf(fs) },
      { packets: n, bytes: bytesOf(fs) },
    ]);

    req(flowMod({ cookie: 0x72n, table: 1, command: OFPFC.MODIFY, ins: [apply(out(OFPP.IN_PORT))] }));
    const h = cache().hits;
    const back = frames(20);
    await pump(back, arrive(1), 'back out of port 1');
    expect(cache().hits - h).toBeGreaterThanOrEqual(back.length - 4);
    expect([since(m, 1), since(m, 2), since(m, 3)]).toEqual([hex(back), hex(fs), hex(fs)]);
  });

  it('follows a flow-mod at once: MODIFY sends the next frames elsewhere, DELETE drops them and flow-removed counts them all', async () => {
    reset();
    req(flowMod({ cookie: 0xb1n, ins: [apply(out(2))], flags: OFPFF.SEND_FLOW_REM }));
    const toTwo = frames(20);
    await pump(toTwo, arrive(2), 'to port 2');

    const m = mark();
    const h0 = cache().hits;
    req(flowMod({ cookie: 0xb1n, command: OFPFC.MODIFY, ins: [apply(out(3))] }));
    const toThree = frames(20);
    await pump(toThree, arrive(3), 'to port 3 after MODIFY');
    expect(cache().hits - h0).toBeGreaterThanOrEqual(toThree.length - 4); // cached again, now for port 3

    req(flowMod({ cookie: 0xb1n, command: OFPFC.DELETE }));
    const [rem, ...more] = removedMsgs(0xb1n);
    expect(more).toEqual([]);
    expect(rem).toMatchObject({ reason: OFPRR.DELETE, packet_count: 40n, byte_count: bytesOf([...toTwo, ...toThree]) });

    const h1 = cache().hits;
    const dropped = frames(20);
    await pump(dropped, readByPort1(), 'read after DELETE');
    expect(cache().hits - h1).toBe(0);

    // a sentinel to both ports: anything wrongly forwarded since MODIFY came before it
    req(flowMod({ cookie: 0xb2n, ins: [apply(out(2), out(3))] }));
    const sentinel = frames(1);
    const at2 = arrive(2);
    const at3 = arrive(3);
    await pump(sentinel, (n) => at2(n) && at3(n), 'the sentinel');
    expect(since(m, 2)).toEqual(hex(sentinel));
    expect(since(m, 3)).toEqual(hex([...toThree, ...sentinel]));
  });

  it('follows a port-mod at once: NO_FWD on the output port and NO_RECV on the input port stop frames, clearing them resumes', async () => {
    reset();
    req(flowMod({ cookie: 0xc1n, ins: [apply(out(2))] }));
    const first = frames(10);
    await pump(first, arrive(2), 'before NO_FWD');

    const m = mark();
    portMod(2, OFPPC.NO_FWD, OFPPC.NO_FWD);
    const noFwd = frames(10);
    await pump(noFwd, readByPort1(), 'read with NO_FWD on port 2');
    portMod(2, 0, OFPPC.NO_FWD);
    const resumed = frames(10);
    await pump(resumed, arrive(2), 'after NO_FWD cleared');
    expect(since(m, 2)).toEqual(hex(resumed));

    const m2 = mark();
    portMod(1, OFPPC.NO_RECV, OFPPC.NO_RECV);
    const noRecv = frames(10);
    await pump(noRecv, readByPort1(), 'read with NO_RECV on port 1');
    portMod(1, 0, OFPPC.NO_RECV);
    const resumed2 = frames(10);
    await pump(resumed2, arrive(2), 'after NO_RECV cleared');
    expect(since(m2, 2)).toEqual(hex(resumed2));

    // what the pipeline counts without a cache: NO_FWD frames matched (and went nowhere), NO_RECV frames
    // were never looked up
    expect(flowStats(0xc1n)).toEqual({ packets: 40n, bytes: bytesOf([...first, ...noFwd, ...resumed, ...resumed2]) });
  });

  it('keeps a flow with an idle timeout alive while the cache forwards its frames, and removes it once they stop', async () => {
    reset();
    req(flowMod({ cookie: 0xd1n, ins: [apply(out(2))], idle: 2, flags: OFPFF.SEND_FLOW_REM }));
    const h0 = cache().hits;
    const m = mark();
    const fs = frames(25);
    // one frame every 200 ms for 5 s, 2.5 idle timeouts; nothing here asks the datapath anything, which
    // would bring the flow's last use up to date by itself
    for (const f of fs) {
      peer(1).send(f);
      await sleep(200);
    }
    await waitFor('the frames at port 2', () => peer(2).received.length - (m.get(2) ?? 0) >= fs.length, 10_000);
    expect(removedMsgs(0xd1n)).toEqual([]);
    expect(cache().hits - h0).toBeGreaterThanOrEqual(fs.length - 4);
    const rem = await waitFor('the idle flow removed', () => removedMsgs(0xd1n)[0], 15_000);
    expect(rem).toMatchObject({ reason: OFPRR.IDLE_TIMEOUT, packet_count: BigInt(fs.length), byte_count: bytesOf(fs) });
    expect(since(m, 2)).toEqual(hex(fs));
    expect(cache().entries).toBe(0); // the expiry changed the table: nothing of it stays cached
  });

  it('does not cache what it cannot repeat (set-field, output to the controller, a group) and forwards it all the same', async () => {
    reset();
    const udpTo = (dport: number): Match => [
      { field: 'in_port', value: 1 },
      { field: 'eth_type', value: 0x0800 },
      { field: 'ip_proto', value: 17 },
      { field: 'udp_dst', value: dport },
    ];
    req({ type: 'OFPGroupMod', xid: xid++, command: OFPGC.ADD, group_type: OFPGT.ALL, group_id: 1, buckets: [{ weight: 0, watch_port: OFPP.ANY, watch_group: OFPG.ANY, actions: [out(2)] }] });
    req(flowMod({ cookie: 0xe1n, match: udpTo(5001), ins: [apply({ kind: 'OFPActionSetField', field: { field: 'eth_dst', value: NEW_DST } }, out(2))] }));
    req(flowMod({ cookie: 0xe2n, match: udpTo(5002), ins: [apply(out(OFPP.CONTROLLER), out(2))] }));
    req(flowMod({ cookie: 0xe3n, match: udpTo(5003), ins: [apply({ kind: 'OFPActionGroup', group_id: 1 })] }));

    for (const [cookie, dport] of [[0xe1n, 5001], [0xe2n, 5002], [0xe3n, 5003]] as const) {
      const before = cache();
      const m = mark();
      const fs = frames(10, (s) => udpFrame(s, dport));
      await pump(fs, arrive(2), `udp_dst ${dport}`);
      const after = cache();
      expect({ dport, installs: after.installs - before.installs, hits: after.hits - before.hits, entries: after.entries }).toEqual({ dport, installs: 0, hits: 0, entries: 0 });
      const want = dport === 5001 ? fs.map((f) => Buffer.concat([Buffer.from(NEW_DST.replace(/:/g, ''), 'hex'), f.subarray(6)])) : fs;
      expect(since(m, 2)).toEqual(hex(want));
      expect(flowStats(cookie)).toEqual({ packets: 10n, bytes: bytesOf(fs) });
    }
    const packetIns = asyncMsgs.filter((x): x is MessageOf<'OFPPacketIn'> => x.type === 'OFPPacketIn');
    expect(packetIns.length).toBe(10);
    expect(packetIns.every((p) => p.cookie === 0xe2n)).toBe(true);
    req({ type: 'OFPGroupMod', xid: xid++, command: OFPGC.DELETE, group_type: OFPGT.ALL, group_id: 1, buckets: [] });
  });

  it('empties the cache when the controller leaves, keeping what it had counted', async () => {
    reset();
    req(flowMod({ cookie: 0xf1n, ins: [apply(out(2))] }));
    const fs = frames(10);
    await pump(fs, arrive(2), 'before the controller leaves');
    const before = cache();
    expect(before.entries).toBeGreaterThanOrEqual(1);
    dp.controllerLeft();
    const after = cache();
    expect(after.entries).toBe(0);
    expect(after.flushes).toBeGreaterThan(before.flushes);
    expect(flowStats(0xf1n)).toEqual({ packets: 10n, bytes: bytesOf(fs) });
    // fail mode secure: the tables go on deciding, and their decisions are cached again
    const more = frames(10);
    await pump(more, arrive(2), 'after the controller left');
    expect(cache().installs - after.installs).toBeGreaterThanOrEqual(1);
    expect(flowStats(0xf1n)).toEqual({ packets: 20n, bytes: bytesOf([...fs, ...more]) });
  });

  it('gives frames with other headers their own entries, and runs frames without a signature (fragments) through the pipeline', async () => {
    reset();
    expect(cache().entries).toBe(0);
    req(flowMod({ cookie: 0x61n, ins: [apply(out(2))] }));
    const before = cache();
    const m = mark();
    const a = frames(10, (s) => udpFrame(s, 2000));
    const b = frames(10, (s) => udpFrame(s, 2001));
    const c = frames(10, (s) => eth(0x0800, ipv4({ src: '10.9.0.1', dst: '10.9.0.2', id: s }, icmp4(8, 0, Buffer.alloc(32, s & 0xff))), [], DST, SRC));
    for (const [what, fs] of [['udp 2000', a], ['udp 2001', b], ['icmp', c]] as const) await pump(fs, arrive(2), what);
    const mid = cache();
    expect({ installs: mid.installs - before.installs, entries: mid.entries }).toEqual({ installs: 3, entries: 3 });
    expect(mid.hits - before.hits).toBeGreaterThanOrEqual(30 - 3 - 6);

    const frags = frames(10, (s) => {
      const off = s % 2 === 0 ? { mf: true } : { fragOff: 185 };
      return eth(0x0800, ipv4({ src: '10.9.0.1', dst: '10.9.0.2', id: s, ...off }, udp(1000, 2000, Buffer.alloc(32, s & 0xff))), [], DST, SRC);
    });
    expect(frags.map((f) => flowSignature(f, 1))).toEqual(frags.map(() => null));
    await pump(frags, arrive(2), 'fragments');
    const after = cache();
    expect({ installs: after.installs - mid.installs, hits: after.hits - mid.hits, misses: after.misses - mid.misses }).toEqual({ installs: 0, hits: 0, misses: 10 });
    expect(since(m, 2)).toEqual(hex([...a, ...b, ...c, ...frags]));
    expect(flowStats(0x61n)).toEqual({ packets: 40n, bytes: bytesOf([...a, ...b, ...c, ...frags]) });
  });
});
