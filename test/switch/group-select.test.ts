// Select groups through the real path: frames go into a Datapath over in-memory ports, the pipeline
// extracts their key, hashes the flow (pipeline.ts flowHash) and the group table picks a bucket by weight;
// which port a frame leaves by says which bucket took it. os-ken's switch tester sends random IPv4 and IPv6
// 5-tuples (and ARP with random addresses) at select groups and allows 10 % around each bucket's weight
// share; these tests allow 2 % (absolute) over 20,000 flows, where the binomial spread is about 0.35 %.
// They also pin what a flow hash owes the traffic beyond an even spread: a connection keeps its bucket
// when its DSCP or ECN bits change or it enters by another port, and both directions take the same one.
import { describe, expect, it } from 'vitest';
import { type Bucket, OFPG, OFPGC, OFPGT, OFPP } from '../../openflow/index.js';
import { rngU32 as rng } from '../helpers/rng.js';
import type { MemoryPort } from '../../switch/memory-port.js';
import { DpRig, apply, out, useRigs } from './dp-rig.js';
import { type L4, arp, eth, ipv4, ipv6, tcp, udp } from './frames.js';

/** Frames enter by these ports; the group's buckets output to OUT_PORTS (one bucket each, in order). */
const IN_PORTS = [1, 6] as const;
const OUT_PORTS = [2, 3, 4, 5] as const;

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const randV4 = (r: () => number): string => [24, 16, 8, 0].map((s) => (r() >>> s) & 0xff).join('.');
const randV6 = (r: () => number): string => Array.from({ length: 8 }, () => hex(r() & 0xffff, 1)).join(':');
/** A unicast MAC (the multicast bit clear), as the tester makes them. */
const randMac = (r: () => number): string => Array.from({ length: 6 }, (_, i) => hex((r() & 0xff) & (i === 0 ? 0xfe : 0xff), 2)).join(':');

/** One direction of a conversation, and what to build its frames from. */
interface Flow {
  readonly family: 4 | 6 | 'arp';
  readonly ethSrc: string;
  readonly ethDst: string;
  readonly src: string;
  readonly dst: string;
  readonly proto: 'tcp' | 'udp';
  readonly sp: number;
  readonly dp: number;
}

function randomFlow(r: () => number, family: Flow['family'], randomMacs = false): Flow {
  const v6 = family === 6;
  return {
    family,
    ethSrc: randomMacs ? randMac(r) : '12:11:11:11:11:11',
    ethDst: randomMacs ? randMac(r) : '22:22:22:22:22:22',
    src: v6 ? randV6(r) : randV4(r),
    dst: v6 ? randV6(r) : randV4(r),
    proto: (r() & 1) === 0 ? 'tcp' : 'udp',
    sp: r() & 0xffff,
    dp: r() & 0xffff,
  };
}

const reverse = (f: Flow): Flow => ({ ...f, ethSrc: f.ethDst, ethDst: f.ethSrc, src: f.dst, dst: f.src, sp: f.dp, dp: f.sp });

/** A frame of the flow; `tos` is the IPv4 TOS / IPv6 traffic class byte (DSCP and ECN). */
function frame(f: Flow, tos = 0): Buffer {
  if (f.family === 'arp') return eth(0x0806, arp(1, f.ethSrc, f.src, '00:00:00:00:00:00', f.dst), [], f.ethDst, f.ethSrc);
  const l4: L4 = f.proto === 'tcp' ? tcp(f.sp, f.dp, 6) : udp(f.sp, f.dp, 6);
  if (f.family === 4) return eth(0x0800, ipv4({ src: f.src, dst: f.dst, tos }, l4), [], f.ethDst, f.ethSrc);
  return eth(0x86dd, ipv6({ src: f.src, dst: f.dst, tc: tos }, l4), [], f.ethDst, f.ethSrc);
}

const newRig = useRigs();

/** A datapath (one table) whose table 0 sends everything to select group 1 with these bucket weights. */
class SelectRig {
  private readonly rig: DpRig = newRig({ ports: [...IN_PORTS, ...OUT_PORTS], tables: 1 });

  constructor(weights: readonly number[], watch = false) {
    const buckets = weights.map((weight, i): Bucket => {
      const port = OUT_PORTS[i] as number;
      return { weight, watch_port: watch ? port : OFPP.ANY, watch_group: OFPG.ANY, actions: [out(port)] };
    });
    this.rig.req({ type: 'OFPGroupMod', xid: 1, command: OFPGC.ADD, group_type: OFPGT.SELECT, group_id: 1, buckets });
    this.rig.add({ priority: 1, ins: [apply({ kind: 'OFPActionGroup', group_id: 1 })] });
  }

  port(no: number): MemoryPort {
    return this.rig.port(no);
  }

  /** Frames leaving by each bucket's port, for a batch sent into `inPort`. */
  counts(frames: readonly Buffer[], inPort: number = IN_PORTS[0]): number[] {
    this.port(inPort).inject(frames);
    return OUT_PORTS.map((no) => this.port(no).take().length);
  }

  /** The bucket (index into the weights) that one frame takes, or -1 when it leaves by none or several. */
  bucketOf(f: Buffer, inPort: number = IN_PORTS[0]): number {
    const counts = this.counts([f], inPort);
    const hit = counts.flatMap((c, i) => (c > 0 ? [i] : []));
    return hit.length === 1 && counts[hit[0] as number] === 1 ? (hit[0] as number) : -1;
  }
}

const N = 20_000;
const BATCH = 500;

describe('select groups spread random flows by bucket weight (frame → key → flow hash → bucket)', () => {
  interface Case {
    readonly what: string;
    readonly seed: number;
    readonly family: Flow['family'];
    /** Random Ethernet addresses too. */
    readonly macs: boolean;
    readonly weights: readonly number[];
  }
  it.each<Case>([
    { what: 'IPv4 5-tuples, 1:1', seed: 1, family: 4, macs: false, weights: [1, 1] },
    { what: 'IPv4 5-tuples, 1:2', seed: 2, family: 4, macs: false, weights: [1, 2] },
    { what: 'IPv4 5-tuples, 1:2:5', seed: 3, family: 4, macs: false, weights: [1, 2, 5] },
    { what: 'IPv6 5-tuples, 1:1', seed: 4, family: 6, macs: false, weights: [1, 1] },
    { what: 'IPv6 5-tuples, 1:2', seed: 5, family: 6, macs: false, weights: [1, 2] },
    { what: 'IPv6 5-tuples, 1:2:5', seed: 6, family: 6, macs: false, weights: [1, 2, 5] },
    { what: 'IPv4 5-tuples and MACs, 3:1', seed: 7, family: 4, macs: true, weights: [3, 1] },
    { what: 'ARP with random protocol addresses, fixed MACs, 1:1', seed: 8, family: 'arp', macs: false, weights: [1, 1] },
  ])('$what: each bucket within 2 points of its weight share', ({ seed, family, macs, weights }) => {
    const rig = new SelectRig(weights);
    const r = rng(seed);
    const totals = weights.map(() => 0);
    for (let sent = 0; sent < N; sent += BATCH) {
      const frames = Array.from({ length: BATCH }, () => frame(randomFlow(r, family, macs)));
      rig.counts(frames).forEach((c, i) => {
        if (i < totals.length) totals[i] = (totals[i] as number) + c;
        else expect(c, `port ${OUT_PORTS[i]} has no bucket`).toBe(0);
      });
    }
    expect(totals.reduce((a, b) => a + b, 0)).toBe(N);
    const sum = weights.reduce((a, b) => a + b, 0);
    const shares = totals.map((c) => c / N);
    weights.forEach((w, i) => {
      expect(Math.abs((shares[i] as number) - w / sum), `bucket ${i}: share ${shares[i]} for weight ${w}/${sum}`).toBeLessThan(0.02);
    });
  });

  it('flows that differ only in consecutive UDP source ports (VXLAN-style entropy) spread too', () => {
    const rig = new SelectRig([1, 1, 1, 1]);
    const base = randomFlow(rng(9), 4);
    const frames = Array.from({ length: 8000 }, (_, i) => frame({ ...base, proto: 'udp', sp: 49152 + i, dp: 4790 }));
    const totals = OUT_PORTS.map(() => 0);
    for (let i = 0; i < frames.length; i += BATCH) rig.counts(frames.slice(i, i + BATCH)).forEach((c, j) => (totals[j] = (totals[j] as number) + c));
    for (const c of totals) expect(Math.abs(c / frames.length - 0.25)).toBeLessThan(0.02);
  });
});

describe('the flow hash follows the conversation, not per-packet marks', () => {
  const flows = (seed: number, n: number): Flow[] => {
    const r = rng(seed);
    return Array.from({ length: n }, (_, i) => randomFlow(r, i % 2 === 0 ? 4 : 6, true));
  };

  it('a connection keeps its bucket whatever its DSCP and ECN bits (a remark meter, ECN CE marks)', () => {
    const rig = new SelectRig([1, 1, 1, 1]);
    // TOS bytes: best effort, AF11, AF12 (AF11 remarked), AF13, EF, and best effort with ECT(0) and with CE
    const marks = [0x00, 0x28, 0x30, 0x38, 0xb8, 0x02, 0x03];
    const moved: string[] = [];
    for (const f of flows(11, 200)) {
      const buckets = new Set(marks.map((tos) => rig.bucketOf(frame(f, tos))));
      expect(buckets.has(-1)).toBe(false);
      if (buckets.size !== 1) moved.push(`${f.src} ${f.sp} -> ${f.dst} ${f.dp}: buckets ${[...buckets].join(',')}`);
    }
    expect(moved).toEqual([]);
  });

  it('a connection keeps its bucket whichever port it enters by', () => {
    const rig = new SelectRig([1, 1, 1, 1]);
    const moved = flows(12, 200).filter((f) => rig.bucketOf(frame(f), IN_PORTS[0]) !== rig.bucketOf(frame(f), IN_PORTS[1]));
    expect(moved).toEqual([]);
  });

  it('both directions of a conversation take the same bucket (IPv4, IPv6, ARP)', () => {
    const rig = new SelectRig([1, 2, 3, 4]);
    const r = rng(13);
    const all = [...flows(14, 200), ...Array.from({ length: 50 }, () => randomFlow(r, 'arp', true))];
    const split = all.filter((f) => rig.bucketOf(frame(f)) !== rig.bucketOf(frame(reverse(f)), IN_PORTS[1]));
    expect(split).toEqual([]);
  });

  it('a bucket whose watched port goes down takes no flows, and only its flows move', () => {
    const rig = new SelectRig([1, 1, 1], true);
    const all = flows(15, 600).map((f) => frame(f));
    const before = all.map((f) => rig.bucketOf(f));
    expect(new Set(before)).toEqual(new Set([0, 1, 2]));
    rig.port(OUT_PORTS[1]).setLink({ carrier: false });
    const after = all.map((f) => rig.bucketOf(f));
    const movedWrongly = before.flatMap((b, i) => (b !== 1 && after[i] !== b ? [i] : []));
    expect(movedWrongly).toEqual([]);
    expect(after).not.toContain(1);
    expect(after).not.toContain(-1);
  });
});
