/**
 * A port in plain TypeScript on a running switch whose other ports are kernel devices with offloads: the
 * rule of switch/port.ts, end to end. Hosts in two namespaces send TCP through veths with their offloads
 * on (TSO, checksums left to the device), so the switch's AF_PACKET ports with offload receive GSO
 * super-frames. Port 1 → port 2 (both with offload) carries them as they are: frames far over the MTU,
 * with their virtio-net headers, which the receiving host's stack takes. Port 1 → port 3, a memory port
 * without offload added while the switch runs, carries the same data as plain frames only: none over
 * 1514 bytes, every IPv4 and TCP checksum right, no header. Once with offload.ts cutting, once with the
 * addon's gso.c. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OFPCML, OFPCR_ROLE, OFPFC, OFPG, OFPIT, OFPP, OFP_NO_BUFFER, type MessageOf } from '../../openflow/index.js';
import { nullLogger } from '../../base/logger.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { type SegmentFn, Segmenter, VNET } from '../../switch/offload.js';
import { type NativeFramePort, loadAddon, nativeSegmenter, openInterface } from '../../switch/portio/index.js';
import { plainFrameProblems } from '../switch/offload-frames.js';
import { Lab, inNs, tcpTransfer } from './netns.js';

const BYTES = 8 << 20;

function flow(inPort: number, outs: number[]): MessageOf<'OFPFlowMod'> {
  return {
    type: 'OFPFlowMod', xid: 1, cookie: 0n, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD, idle_timeout: 0, hard_timeout: 0,
    priority: 100, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: OFPG.ANY, flags: 0, match: [{ field: 'in_port', value: inPort }],
    instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: outs.map((port) => ({ kind: 'OFPActionOutput' as const, port, max_len: OFPCML.NO_BUFFER })) }],
  };
}

function nativeOrThrow(): SegmentFn {
  loadAddon();
  const n = nativeSegmenter();
  if (n === undefined) throw new Error('the port I/O addon has no segmentInto: run "npm run build:native"');
  return n;
}

describe.each([
  ['offload.ts', () => new Segmenter()],
  ["the addon's gso.c", nativeOrThrow],
])('a memory port without offload on a switch of offload ports (cutting with %s)', (_n, makeSegmenter) => {
  let lab: Lab;
  let dp: Datapath;
  let n1: string;
  let n2: string;
  let p1: NativeFramePort;
  let p2: NativeFramePort;
  let mem: MemoryPort;
  /** What the datapath handed to port 2: length and gso_type of each frame. */
  const toP2: { len: number; gso: number }[] = [];

  beforeAll(() => {
    lab = new Lab('om');
    n1 = lab.ns('n1');
    n2 = lab.ns('n2');
    for (const [i, ns] of [[1, n1], [2, n2]] as const) {
      lab.veth(lab.name(`s${i}`), lab.name(`h${i}`));
      lab.move(lab.name(`h${i}`), ns, `10.77.0.${i}/24`);
    }
    // the hosts keep their offloads on: TSO and checksums left to the device (veth defaults)
    expect(inNs(n1, 'ethtool', '-k', lab.name('h1'))).toMatch(/tcp-segmentation-offload: on/);
    dp = new Datapath({ name: 'om', dpid: 9n, tables: 1, failMode: 'secure', log: nullLogger, segmenter: makeSegmenter() });
    dp.attach({ connected: 1, sendAsync: () => 1 });
    p1 = openInterface(lab.name('s1'), { offload: true });
    p2 = openInterface(lab.name('s2'), { offload: true });
    const send = p2.send.bind(p2);
    p2.send = (frames, hdrs) => {
      frames.forEach((f, i) => toP2.push({ len: f.length, gso: hdrs ? ((hdrs[i * VNET.SIZE + VNET.GSO_TYPE] as number) & ~VNET.GSO_ECN) : 0 }));
      send(frames, hdrs);
    };
    dp.addPort(p1, 1);
    dp.addPort(p2, 2);
    const conn = { id: 'om', role: OFPCR_ROLE.EQUAL, send: () => undefined };
    dp.handle(flow(1, [2, 3]), conn);
    dp.handle(flow(2, [1]), conn);
  });

  afterAll(() => {
    dp?.stop();
    lab?.cleanup();
  });

  it('joins the running switch and gets only plain, complete frames while the offload ports pass super-frames', async () => {
    mem = new MemoryPort({ name: 'mem3', txQueueLimit: 1 << 16 });
    dp.addPort(mem, 3); // the switch is running: ports 1 and 2 are started and forwarding
    const r = await tcpTransfer(n1, n2, BYTES);
    expect(r.n).toBe(BYTES);
    expect(r.received).toBe(r.sent);

    // offload → offload: super-frames with their headers went to port 2, and its kernel took them
    const supers = toP2.filter((f) => f.len > 1514);
    expect(supers.length).toBeGreaterThan(0);
    expect(supers.every((f) => f.gso === VNET.GSO_TCPV4)).toBe(true);
    expect(p2.counters()).toMatchObject({ txDropped: 0, txErrors: 0 });

    // offload → plain: no header, nothing over the MTU, every checksum right, all the data there
    const sent = mem.sent;
    expect(sent.every((s) => s.hdr === undefined)).toBe(true);
    const ipv4 = sent.filter((s) => s.frame.readUInt16BE(12) === 0x0800).map((s) => s.frame);
    expect(ipv4.length).toBeGreaterThan(BYTES / 1448);
    expect(Math.max(...sent.map((s) => s.frame.length))).toBeLessThanOrEqual(1514);
    const bad = ipv4.flatMap((f, i) => plainFrameProblems(f).map((p) => `frame ${i}: ${p}`));
    expect(bad).toEqual([]);
    const tcpPayload = ipv4.reduce((n, f) => {
      const l4 = 14 + ((f[14] as number) & 0x0f) * 4;
      return f[23] === 6 ? n + f.length - l4 - ((f[l4 + 12] as number) >> 4) * 4 : n;
    }, 0);
    expect(tcpPayload).toBeGreaterThanOrEqual(BYTES);
    expect(mem.counters()).toMatchObject({ txDropped: 0, txErrors: 0 });
    // what port 1 received as super-frames was cut into more, smaller frames for port 3
    expect(ipv4.length).toBeGreaterThan(p1.counters().rxPackets);
  });
});
