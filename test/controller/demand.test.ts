/**
 * On-demand links: the traffic analyzer (controller/apps/demand.ts) and BoundedFlood's use of it.
 * - the tracker counts bytes per flow between polls: a flow that moved at least the threshold within one
 *   interval makes its destination's node wanted; a slow flow never does, however long it lives (EdgeVPN
 *   counts a flow's whole life); a node stays wanted holdMs after its last heavy interval;
 * - BoundedFlood in a Controller, on the real switch in memory: frames to a host of a node that is not a
 *   neighbour, carried by a learnt flow (no packet-in), make that node appear in demand() after the next
 *   poll of the flow counters; frames to a host of this node do not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { boundedFlood } from '../../controller/apps/bounded-flood.js';
import { DemandTracker } from '../../controller/apps/demand.js';
import { FRB_TYPE, encodeFrb } from '../../controller/apps/frb.js';
import type { MessageOf } from '../../openflow/index.js';
import { arp, eth } from '../switch/frames.js';
import { AppHarness } from './harness.js';

type FlowStats = MessageOf<'OFPFlowStatsReply'>['body'][number];

const id = (k: number): string => k.toString(16).padStart(2, '0') + 'a5'.repeat(15);
const FAR = id(0xc0);

function flow(dst: string, bytes: bigint, src = '02:00:00:00:00:01', inPort = 1): FlowStats {
  return {
    table_id: 0, duration_sec: 0, duration_nsec: 0, priority: 1, idle_timeout: 60, hard_timeout: 0, flags: 0, cookie: 0n,
    packet_count: 0n, byte_count: bytes, match: [{ field: 'in_port', value: inPort }, { field: 'eth_src', value: src }, { field: 'eth_dst', value: dst }], instructions: [],
  };
}

describe('the demand tracker', () => {
  const roots: Record<string, string> = { '02:00:00:00:0c:01': FAR };
  const rootOf = (mac: string): string | undefined => roots[mac];

  it('wants a node once one flow to it moves the threshold within an interval, and for holdMs after', () => {
    const t = new DemandTracker({ thresholdBytes: 1000, holdMs: 5000 });
    t.update([flow('02:00:00:00:0c:01', 999n)], rootOf, 0);
    expect(t.demand(0)).toEqual([]);
    t.update([flow('02:00:00:00:0c:01', 2500n)], rootOf, 10_000); // 1501 bytes this interval
    expect(t.demand(10_000)).toEqual([FAR]);
    t.update([flow('02:00:00:00:0c:01', 2600n)], rootOf, 20_000); // quiet now
    expect(t.demand(15_000)).toEqual([FAR]);
    expect(t.demand(15_001)).toEqual([]);
  });

  it('a slow flow never wants a link, however many bytes it carries over its life', () => {
    const t = new DemandTracker({ thresholdBytes: 1000 });
    for (let i = 1; i <= 50; i++) t.update([flow('02:00:00:00:0c:01', BigInt(i * 900))], rootOf, i * 10_000);
    expect(t.demand(500_000)).toEqual([]);
  });

  it('a flow replaced under the same match counts from zero; destinations of no other node count nothing', () => {
    const t = new DemandTracker({ thresholdBytes: 1000 });
    t.update([flow('02:00:00:00:0c:01', 50_000n)], rootOf, 0);
    expect(t.demand(0)).toEqual([FAR]);
    const u = new DemandTracker({ thresholdBytes: 1000 });
    u.update([flow('02:00:00:00:0c:01', 900n)], rootOf, 0);
    u.update([flow('02:00:00:00:0c:01', 300n)], rootOf, 10_000); // counter went down: a new flow, 300 bytes
    expect(u.demand(10_000)).toEqual([]);
    u.update([flow('02:00:00:00:99:99', 90_000n)], rootOf, 20_000);
    expect(u.demand(20_000)).toEqual([]);
  });

  it('refuses bad options, naming them', () => {
    expect(() => new DemandTracker({ thresholdBytes: 0 })).toThrow(/thresholdBytes 0/);
    expect(() => new DemandTracker({ thresholdBytes: 10, intervalMs: 5 })).toThrow(/intervalMs 5/);
  });
});

describe('BoundedFlood with on-demand links', () => {
  const harnesses: AppHarness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
  });

  it('lists the node that a heavy learnt flow goes to, after the next poll of the flow counters', async () => {
    const SELF = id(0x50);
    const X = id(0x30);
    const H1 = '02:00:00:00:01:01';
    const H2 = '02:00:00:00:01:02';
    const HF = '02:00:00:00:0c:01';
    const names = new Map([['p3', X]]);
    const bf = boundedFlood({ nodeId: SELF, peerOf: (p) => names.get(p.name), demand: { thresholdBytes: 10_000, intervalMs: 1000 } });
    const h = await AppHarness.start({ apps: [bf.app], switch: { dpid: 0x50n, ports: [1, 2, 3] } });
    harnesses.push(h);
    const sw = h.sw;
    // HF lives at FAR, not a neighbour: learnt through X's relay of FAR's flood.
    sw.inject(3, encodeFrb({ root: FAR, bound: id(0x70), hopCount: 2, type: FRB_TYPE.BRDCST, plCount: 0 }, eth(0x0806, arp(1, HF, '10.0.0.12', '00:00:00:00:00:00', '10.0.0.1'), [], 'ff:ff:ff:ff:ff:ff', HF)));
    sw.inject(2, eth(0x0806, arp(1, H2, '10.0.0.2', '00:00:00:00:00:00', '10.0.0.1'), [], 'ff:ff:ff:ff:ff:ff', H2));
    sw.takeAll();
    // A flow to HF (from H1) and one to H2, a local host; then 40 frames of 1000 bytes on each, forwarded by the flows.
    const big = (dst: string): Buffer => eth(0x88b5, Buffer.alloc(986), [], dst, H1);
    sw.inject(1, big(HF));
    sw.inject(1, big(H2));
    const packetIns = bf.counters().packetIns;
    for (let i = 0; i < 40; i++) {
      sw.inject(1, big(HF));
      sw.inject(1, big(H2));
    }
    expect(bf.counters().packetIns).toBe(packetIns); // the flows carried them
    expect(bf.demand()).toEqual([]);
    await h.clock.advance(1000);
    expect(bf.demand()).toEqual([FAR]);
    // Quiet afterwards: still wanted for holdMs (180 s by default), then not.
    await h.clock.advance(1000);
    expect(bf.demand()).toEqual([FAR]);
    await h.clock.advance(180_000);
    expect(bf.demand()).toEqual([]);
  });
});
