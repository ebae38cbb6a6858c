/**
 * The datapath's output rule for offloads (port.ts, "Offload"): a port with offload gets frames with
 * their virtio-net headers (super-frames pass through, plain frames get a zero header); a port without
 * gets only plain, complete frames (cut and checksummed here, by offload.ts or the addon's gso.c), never
 * a header, in order, in one send. Memory ports make it visible: one without offload throws on any
 * header, so the switch cannot break the rule unnoticed. Then two switches joined by wires.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OFPCR_ROLE, type OFPMessage } from '../../openflow/index.js';
import { nullLogger } from '../../base/logger.js';
import type { ControllerConnection } from '../../switch/channel.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort, wire } from '../../switch/memory-port.js';
import { type SegmentFn, Segmenter, VNET, ZERO_VNET_HDR, vnetHeader } from '../../switch/offload.js';
import { PortNameError } from '../../switch/port.js';
import { loadAddon, nativeSegmenter } from '../../switch/portio/index.js';
import { apply, flowMod, m, out, sf } from './dp-rig.js';
import { gsoHeader, plainFrameProblems, superFrame } from './offload-frames.js';

const CONN: ControllerConnection = { id: 'offload-test', role: OFPCR_ROLE.EQUAL, send: () => undefined };
const dps: Datapath[] = [];
afterEach(() => {
  for (const d of dps.splice(0)) d.stop();
});

function switchWith(segmenter: SegmentFn | undefined, ports: Record<number, MemoryPort>): Datapath {
  const dp = new Datapath({ name: 'offload', dpid: 7n, tables: 1, failMode: 'secure', log: nullLogger, now: () => 0, ...(segmenter ? { segmenter } : {}) });
  dps.push(dp);
  dp.attach({ connected: 1, sendAsync: () => 1 });
  for (const [no, p] of Object.entries(ports)) dp.addPort(p, Number(no));
  return dp;
}

function req(dp: Datapath, msg: OFPMessage): OFPMessage[] {
  return dp.handle(msg, CONN);
}

function native(): SegmentFn {
  loadAddon();
  const n = nativeSegmenter();
  if (n === undefined) throw new Error('the port I/O addon has no segmentInto: run "npm run build:native"');
  return n;
}

const payload = Buffer.from(Array.from({ length: 30000 }, (_, i) => (i * 7) & 0xff));

describe.each([
  ['offload.ts (TypeScript)', () => new Segmenter()],
  ["the addon's gso.c", native],
])('output to ports with and without offload, segmenting with %s', (_n, makeSegmenter) => {
  function rig() {
    const ports = {
      1: new MemoryPort({ name: 'in1', offload: true }),
      2: new MemoryPort({ name: 'off2', offload: true }),
      3: new MemoryPort({ name: 'plain3' }),
    };
    const dp = switchWith(makeSegmenter(), ports);
    return { dp, ...ports, p1: ports[1], p2: ports[2], p3: ports[3] };
  }

  it('a TSO super-frame passes to the offload port with its header and reaches the plain port cut, checksummed, headerless', () => {
    const { dp, p1, p2, p3 } = rig();
    req(dp, flowMod({ match: [m('in_port', 1)], ins: [apply(out(2), out(3))] }));
    for (const v6 of [false, true]) {
      const b = superFrame({ v6, payload, tcpFlags: 0x19 });
      const mss = 1500 - (b.hl - b.l3); // what TCP picks for a 1500-byte MTU
      const hdr = gsoHeader(b, v6 ? VNET.GSO_TCPV6 : VNET.GSO_TCPV4, mss);
      p1.inject([b.frame], [hdr]);
      expect(p2.sent.map((s) => [s.frame.toString('hex'), s.hdr?.toString('hex')])).toEqual([[b.frame.toString('hex'), hdr.toString('hex')]]);
      p2.take();
      const segs = p3.sent;
      expect(segs).toHaveLength(Math.ceil(payload.length / mss));
      for (const s of segs) {
        expect(s.hdr).toBeUndefined();
        expect(s.frame.length).toBeLessThanOrEqual(1514);
        expect(plainFrameProblems(s.frame)).toEqual([]);
      }
      expect(Buffer.concat(p3.take().map((f) => f.subarray(b.hl)))).toEqual(payload);
    }
    expect(p3.sendCalls).toBe(2); // one send per batch
  });

  it('order is kept in a mixed batch; a checksum-only frame is completed; one send for the whole batch', () => {
    const { dp, p1, p3 } = rig();
    req(dp, flowMod({ match: [m('in_port', 1)], ins: [apply(out(3))] }));
    const a = superFrame({ payload: payload.subarray(0, 100), seq: 1 });
    const big = superFrame({ payload: payload.subarray(0, 5000), seq: 2 });
    const c = superFrame({ proto: 17, payload: payload.subarray(0, 200) });
    const plain = Buffer.from(a.frame);
    plain.writeUInt16BE(0x1111, a.l4 + 16); // a plain frame passes as it is, whatever it holds
    const csumOnly = vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: c.l4, csumOffset: 6 });
    p1.inject([plain, big.frame, c.frame], [ZERO_VNET_HDR, gsoHeader(big, VNET.GSO_TCPV4, 1448), csumOnly]);
    const got = p3.take();
    expect(got).toHaveLength(1 + 4 + 1);
    expect(got[0]).toEqual(plain);
    for (const g of got.slice(1)) expect(plainFrameProblems(g)).toEqual([]);
    expect(got.slice(1, 5).map((g) => g.readUInt32BE(big.l4 + 4))).toEqual([2, 2 + 1448, 2 + 2896, 2 + 4344]);
    expect(got[5]?.subarray(c.hl)).toEqual(payload.subarray(0, 200));
    expect(p3.sendCalls).toBe(1);
  });

  it('frames from a port without offload reach a port with offload with a zero header, or none at all', () => {
    const { dp, p1, p2, p3 } = rig();
    req(dp, flowMod({ match: [m('in_port', 3)], ins: [apply(out(2))] }));
    req(dp, flowMod({ match: [m('in_port', 1)], ins: [apply(out(2))] }));
    const f = superFrame({ payload: payload.subarray(0, 500) }).frame;
    p3.inject([f]);
    // no frame of the batch has a header: none are sent (the native port then writes zero headers)
    expect(p2.sent.map((s) => [s.frame, s.hdr])).toEqual([[f, undefined]]);
    p2.take();
    const b = superFrame({ payload });
    p1.inject([f, b.frame], [ZERO_VNET_HDR, gsoHeader(b, VNET.GSO_TCPV4, 1448)]);
    expect(p2.sent.map((s) => s.hdr?.toString('hex'))).toEqual([ZERO_VNET_HDR.toString('hex'), gsoHeader(b, VNET.GSO_TCPV4, 1448).toString('hex')]);
  });

  it('a super-frame rewritten by set-field is still cut into valid frames', () => {
    const { dp, p1, p3 } = rig();
    req(dp, flowMod({ match: [m('in_port', 1), m('eth_type', 0x0800), m('ip_proto', 6)], ins: [apply(sf('ipv4_dst', '10.9.9.9'), sf('tcp_dst', 8080), out(3))] }));
    const b = superFrame({ payload });
    p1.inject([b.frame], [gsoHeader(b, VNET.GSO_TCPV4, 1448)]);
    const got = p3.take();
    expect(got).toHaveLength(Math.ceil(payload.length / 1448));
    for (const g of got) {
      expect(plainFrameProblems(g)).toEqual([]);
      expect([g.subarray(b.l3 + 16, b.l3 + 20).join('.'), g.readUInt16BE(b.l4 + 2)]).toEqual(['10.9.9.9', 8080]);
    }
  });

  it('a frame that cannot be made plain is dropped and counted in the port tx_errors; the others go on', () => {
    const { dp, p1, p2, p3 } = rig();
    req(dp, flowMod({ match: [m('in_port', 1)], ins: [apply(out(2), out(3))] }));
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    const bad = vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 1448 });
    const ok = superFrame({ payload: payload.subarray(0, 100) }).frame;
    p1.inject([arp, ok], [bad, ZERO_VNET_HDR]);
    expect(p3.take()).toEqual([ok]);
    expect(p2.take()).toEqual([arp, ok]);
    const [reply] = req(dp, { type: 'OFPPortStatsRequest', xid: 1, flags: 0, port_no: 3 });
    expect(reply?.type === 'OFPPortStatsReply' ? reply.body.map((s) => [s.tx_packets, s.tx_errors]) : reply).toEqual([[1n, 1n]]);
  });
});

describe('names and the datapath', () => {
  it('addPort refuses a port whose name is longer than 15 bytes, naming it', () => {
    class LongName extends MemoryPort {
      override readonly name = 'tincan-to-node-17';
    }
    const dp = switchWith(undefined, {});
    expect(() => dp.addPort(new LongName())).toThrow(PortNameError);
    expect(() => dp.addPort(new LongName())).toThrow('port name "tincan-to-node-17" is 17 bytes, longer than 15');
    expect(dp.portNumbers()).toEqual([]);
  });
});

describe('two switches joined by wires, hosts on wires too', () => {
  it('a host with offload sends a super-frame across both switches; a host without gets it cut', async () => {
    // h1 (offload) — s1: 1 (offload), 2 (offload) — s2: 1 (offload), 2 (plain) — h2 (plain)
    const h1 = new MemoryPort({ name: 'h1', offload: true });
    const h2 = new MemoryPort({ name: 'h2' });
    const s1 = { 1: new MemoryPort({ name: 's1-1', offload: true }), 2: new MemoryPort({ name: 's1-2', offload: true }) };
    const s2 = { 1: new MemoryPort({ name: 's2-1', offload: true }), 2: new MemoryPort({ name: 's2-2' }) };
    wire(h1, s1[1]);
    wire(s1[2], s2[1]);
    wire(s2[2], h2);
    const dp1 = switchWith(new Segmenter(), s1);
    const dp2 = switchWith(new Segmenter(), s2);
    for (const dp of [dp1, dp2]) {
      req(dp, flowMod({ match: [m('in_port', 1)], ins: [apply(out(2))] }));
      req(dp, flowMod({ match: [m('in_port', 2)], ins: [apply(out(1))] }));
    }
    const got: Buffer[] = [];
    h2.start((batch) => {
      for (let i = 0; i < batch.count; i++) got.push(Buffer.from(batch.frame(i)));
      if (got.length === Math.ceil(payload.length / 1448)) h2.send([Buffer.from('ffffffffffff020000000002' + '88b5' + '00'.repeat(46), 'hex')]);
    });
    const back: Buffer[] = [];
    h1.start((batch) => {
      for (let i = 0; i < batch.count; i++) back.push(Buffer.from(batch.frame(i)));
    });
    const b = superFrame({ payload });
    h1.send([b.frame], gsoHeader(b, VNET.GSO_TCPV4, 1448));
    for (let i = 0; i < 10 && back.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(got).toHaveLength(Math.ceil(payload.length / 1448));
    for (const g of got) expect(plainFrameProblems(g)).toEqual([]);
    expect(Buffer.concat(got.map((g) => g.subarray(b.hl)))).toEqual(payload);
    expect(s1[2].counters().txPackets).toBe(1); // one super-frame between the switches
    expect(back.map((f) => f.readUInt16BE(12))).toEqual([0x88b5]);
  });
});
