/**
 * Packet-ins carry plain frames only (datapath.ts, toController), as Open vSwitch's kernel datapath makes
 * them before an upcall: a GSO super-frame from a port with offload becomes one packet-in per segment,
 * each at most an MTU-sized frame with correct lengths and checksums, each buffered and cut on its own; a
 * frame whose checksum was left to the device gets it completed. Whatever the reason: table-miss,
 * output:CONTROLLER, invalid TTL. The buffered segments come back out of a packet-out or a flow-mod as
 * plain frames, to ports with and without offload. Segmented both by offload.ts and by the addon's gso.c.
 * test/switch/packet-in-offload-lab.test.ts shows the same with hosts, a real switch and the hub app.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Action,
  type MessageOf,
  type OFPMessage,
  OFPCML,
  OFPCR_ROLE,
  OFPFC,
  OFPG,
  OFPP,
  OFPR,
  OFP_NO_BUFFER,
  decode,
  encode,
} from '../../openflow/index.js';
import { nullLogger } from '../../base/logger.js';
import type { ControllerConnection } from '../../switch/channel.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { type SegmentFn, Segmenter, VNET, ZERO_VNET_HDR, toPlainFrames, vnetHeader } from '../../switch/offload.js';
import { loadAddon, nativeSegmenter } from '../../switch/portio/index.js';
import { apply, m, out } from './dp-rig.js';
import { type Built, gsoHeader, plainFrameProblems, sum16, superFrame } from './offload-frames.js';

type PacketIn = MessageOf<'OFPPacketIn'>;

const CONN: ControllerConnection = { id: 'packet-in-offload', role: OFPCR_ROLE.EQUAL, send: () => undefined };
const MTU = 1500;
const payload = Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 13 + (i >> 8)) & 0xff));

const toController = (maxLen: number = OFPCML.NO_BUFFER): Action => ({ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: maxLen });
const decNwTtl: Action = { kind: 'OFPActionDecNwTtl' };

let xid = 1;
function flowMod(priority: number, match: MessageOf<'OFPFlowMod'>['match'], actions: readonly Action[], bufferId = OFP_NO_BUFFER): MessageOf<'OFPFlowMod'> {
  return {
    type: 'OFPFlowMod', xid: xid++, cookie: 0x5n, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD, idle_timeout: 0, hard_timeout: 0, priority,
    buffer_id: bufferId, out_port: OFPP.ANY, out_group: OFPG.ANY, flags: 0, match, instructions: [apply(...actions)],
  };
}

function native(): SegmentFn {
  loadAddon();
  const n = nativeSegmenter();
  if (n === undefined) throw new Error('the port I/O addon has no segmentInto: run "npm run build:native"');
  return n;
}

/** The MSS TCP picks for a 1500-byte MTU with these headers, as the sender's TSO would cut. */
const mssOf = (b: Built): number => MTU - (b.hl - 14);

const dps: Datapath[] = [];
afterEach(() => {
  for (const d of dps.splice(0)) d.stop();
});

describe.each([
  ['offload.ts (TypeScript)', () => new Segmenter()],
  ["the addon's gso.c", native],
])('packet-ins of frames with virtio-net headers, made plain with %s', (_n, makeSegmenter) => {
  /**
   * A switch with port 1 (offload: where the frames come in), 2 (no offload) and 3 (offload), whose
   * packet-ins cross an encode/decode as they would cross the channel (a packet-in over 64 KiB cannot).
   */
  function rig() {
    const p1 = new MemoryPort({ name: 'in1', offload: true, mtu: MTU });
    const p2 = new MemoryPort({ name: 'plain2', mtu: MTU });
    const p3 = new MemoryPort({ name: 'off3', offload: true, mtu: MTU });
    const pins: PacketIn[] = [];
    const dp = new Datapath({ name: 'pin', dpid: 9n, tables: 1, failMode: 'secure', log: nullLogger, now: () => 0, segmenter: makeSegmenter() });
    dps.push(dp);
    dp.attach({
      connected: 1,
      sendAsync: (msg) => {
        const back = decode(encode(msg));
        if (back.type === 'OFPPacketIn') pins.push(back);
        return 1;
      },
    });
    dp.addPort(p1, 1);
    dp.addPort(p2, 2);
    dp.addPort(p3, 3);
    const req = (msg: OFPMessage): OFPMessage[] => dp.handle(msg, CONN);
    return { dp, p1, p2, p3, pins, req };
  }

  it.each([
    ['TCP over IPv4', false],
    ['TCP over IPv6', true],
  ])('table-miss: a %s super-frame becomes one packet-in per segment, each MTU-sized with valid checksums, its payload whole', (_w, v6) => {
    const { p1, pins, req } = rig();
    req(flowMod(0, [], [toController()]));
    const b = superFrame({ v6, payload, seq: 0xffffff00, tcpFlags: 0x19 }); // FIN PSH ACK; the sequence wraps
    const mss = mssOf(b);
    const hdr = gsoHeader(b, v6 ? VNET.GSO_TCPV6 : VNET.GSO_TCPV4, mss);
    p1.inject([b.frame], [hdr]);
    const n = Math.ceil(payload.length / mss);
    expect(pins).toHaveLength(n);
    for (const [i, p] of pins.entries()) {
      expect([p.reason, p.table_id, p.cookie, p.buffer_id, p.total_len, p.match]).toEqual([OFPR.NO_MATCH, 0, 0x5n, OFP_NO_BUFFER, p.data.length, [{ field: 'in_port', value: 1 }]]);
      expect(p.data.length, `segment ${i}`).toBeLessThanOrEqual(MTU + 14);
      expect(plainFrameProblems(p.data), `segment ${i}`).toEqual([]);
      expect(p.data.readUInt32BE(b.l4 + 4)).toBe((0xffffff00 + i * mss) >>> 0);
      expect(p.data[b.l4 + 13], `flags of segment ${i}`).toBe(i + 1 < n ? 0x10 : 0x19); // FIN and PSH on the last only
    }
    expect(Buffer.concat(pins.map((p) => p.data.subarray(b.hl)))).toEqual(payload);
    // the same frames a port without offload gets (offload.ts's reference cut)
    expect(pins.map((p) => p.data)).toEqual(toPlainFrames(b.frame, hdr));
  });

  it('a frame whose checksum was left to the device reaches the controller with it completed', () => {
    const { p1, pins, req } = rig();
    req(flowMod(0, [], [toController()]));
    const b = superFrame({ payload: payload.subarray(0, 1000) });
    expect(plainFrameProblems(b.frame)).toEqual(['TCP checksum']); // it holds only the pseudo-header sum
    p1.inject([b.frame], [vnetHeader({ flags: VNET.F_NEEDS_CSUM, csumStart: b.l4, csumOffset: 16 })]);
    expect(pins).toHaveLength(1);
    const [p] = pins as [PacketIn];
    expect(plainFrameProblems(p.data)).toEqual([]);
    expect([p.total_len, p.data.length]).toEqual([b.frame.length, b.frame.length]);
    const fixed = Buffer.from(b.frame);
    fixed.writeUInt16BE(p.data.readUInt16BE(b.l4 + 16), b.l4 + 16);
    expect(p.data).toEqual(fixed); // only the checksum changed
  });

  it('frames with a zero header or a checksum already good (DATA_VALID) go to the controller as they are', () => {
    const { p1, pins, req } = rig();
    req(flowMod(0, [], [toController()]));
    const odd = Buffer.from(superFrame({ payload: payload.subarray(0, 300) }).frame); // its checksum is not fixed: nothing asked for it
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    p1.inject([odd, arp], [ZERO_VNET_HDR, vnetHeader({ flags: VNET.F_DATA_VALID })]);
    expect(pins.map((p) => p.data)).toEqual([odd, arp]);
  });

  it('output:CONTROLLER with max_len: each segment is buffered under its own id and cut; packet-out and flow-mod send the segments plain', () => {
    const { p1, p2, p3, pins, req } = rig();
    req(flowMod(10, [m('in_port', 1)], [toController(128)]));
    const b = superFrame({ payload });
    const mss = mssOf(b);
    p1.inject([b.frame], [gsoHeader(b, VNET.GSO_TCPV4, mss)]);
    const n = Math.ceil(payload.length / mss);
    expect(pins).toHaveLength(n);
    const ids = pins.map((p) => p.buffer_id);
    expect(new Set(ids).size).toBe(n);
    expect(ids).not.toContain(OFP_NO_BUFFER);
    for (const p of pins) {
      expect([p.reason, p.data.length]).toEqual([OFPR.ACTION, 128]);
      expect(p.total_len).toBe(p.data.readUInt16BE(b.l3 + 2) + b.l3); // the segment's length, not the super-frame's
      expect(p.total_len).toBeLessThanOrEqual(MTU + 14);
    }
    // all but the last buffer come back by packet-out, flooded: to port 2 (no offload: a header would throw) and 3
    for (const p of pins.slice(0, -1)) {
      req({ type: 'OFPPacketOut', xid: xid++, buffer_id: p.buffer_id, in_port: 1, actions: [out(OFPP.FLOOD)], data: Buffer.alloc(0) });
    }
    // the last one by a flow-mod naming it
    req(flowMod(20, [m('in_port', 1)], [out(2), out(3)], pins[n - 1]?.buffer_id));
    for (const port of [p2, p3]) {
      const sent = port.sent.splice(0);
      expect(sent).toHaveLength(n);
      for (const s of sent) {
        expect(s.hdr === undefined || s.hdr.equals(ZERO_VNET_HDR), port.name).toBe(true);
        expect(plainFrameProblems(s.frame), port.name).toEqual([]);
        expect(s.frame.length).toBeLessThanOrEqual(MTU + 14);
      }
      expect(Buffer.concat(sent.map((s) => s.frame.subarray(b.hl)))).toEqual(payload);
    }
  });

  it('invalid TTL: a super-frame with TTL 1 becomes one INVALID_TTL packet-in per segment, cut to miss_send_len', () => {
    const { p1, p2, pins, req } = rig();
    req({ type: 'OFPSetConfig', xid: xid++, flags: 0, miss_send_len: 200 });
    req(flowMod(10, [m('in_port', 1), m('eth_type', 0x0800)], [decNwTtl, out(2)]));
    const b = superFrame({ payload: payload.subarray(0, 5000) });
    b.frame[b.l3 + 8] = 1;
    b.frame.writeUInt16BE(0, b.l3 + 10);
    b.frame.writeUInt16BE(~sum16(b.frame, b.l3, b.l4) & 0xffff, b.l3 + 10);
    p1.inject([b.frame], [gsoHeader(b, VNET.GSO_TCPV4, 1448)]);
    expect(p2.sent).toEqual([]);
    expect(pins.map((p) => [p.reason, p.data.length, p.buffer_id !== OFP_NO_BUFFER])).toEqual(Array.from({ length: 4 }, () => [OFPR.INVALID_TTL, 200, true]));
    expect(pins.map((p) => p.total_len)).toEqual([1448, 1448, 1448, 5000 - 3 * 1448].map((c) => b.hl + c));
  });

  it('a frame that cannot be made plain makes no packet-in and counts in its port rx_errors; the next frame goes on', () => {
    const { p1, pins, req } = rig();
    req(flowMod(0, [], [toController()]));
    const arp = Buffer.alloc(60);
    arp.writeUInt16BE(0x0806, 12);
    const ok = superFrame({ payload: payload.subarray(0, 3000) });
    p1.inject([arp, ok.frame], [vnetHeader({ gsoType: VNET.GSO_TCPV4, gsoSize: 1448 }), gsoHeader(ok, VNET.GSO_TCPV4, 1448)]);
    expect(pins.map((p) => plainFrameProblems(p.data))).toEqual([[], [], []]);
    const [reply] = req({ type: 'OFPPortStatsRequest', xid: xid++, flags: 0, port_no: 1 });
    expect(reply?.type === 'OFPPortStatsReply' ? reply.body.map((s) => [s.rx_packets, s.rx_errors]) : reply).toEqual([[2n, 1n]]);
  });
});

describe('switchctl trace', () => {
  it('of a frame larger than the MTU reports its packet-in and sends none (trace is a dry run on a plain frame)', () => {
    const dp = new Datapath({ name: 'trace', dpid: 10n, tables: 1, failMode: 'secure', log: nullLogger, now: () => 0 });
    dps.push(dp);
    const pins: OFPMessage[] = [];
    dp.attach({ connected: 1, sendAsync: (msg) => (msg.type === 'OFPPacketIn' ? pins.push(msg) : 1) });
    dp.addPort(new MemoryPort({ name: 't1', offload: true }), 1);
    dp.handle(flowMod(0, [], [toController()]), CONN);
    const t = dp.trace(superFrame({ payload }).frame, 1);
    expect(t.outputs).toEqual([`packet-in (reason ${OFPR.NO_MATCH}, table 0)`]);
    expect(pins).toEqual([]);
  });
});
