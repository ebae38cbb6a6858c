/**
 * A TinCan link as a switch port: two real Datapaths in this process, each with a memory port (a host)
 * and one end of a real TinCan link (loopback WebRTC), flows in_port 1 ⇄ 2. Frames cross host A →
 * switch A → link → switch B → host B and back; the datapath sees the link's carrier come up
 * (port-status), cuts a super-frame from an offload port into plain frames before the link (which
 * declares offload = false), and removes the port when the peer goes.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import { type MessageOf, OFPCR_ROLE, OFPPR, OFPPS } from '../../openflow/index.js';
import type { ControllerConnection } from '../../switch/channel.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { VNET } from '../../switch/offload.js';
import { cleanupWebRtc } from '../../link/tincan.js';
import { apply, flowMod, m, out } from '../switch/dp-rig.js';
import { gsoHeader, plainFrameProblems, superFrame } from '../switch/offload-frames.js';
import { LOOPBACK, UP_MS, frameOf, gone, makePair, until } from './pair.js';

const CONN: ControllerConnection = { id: 'link-test', role: OFPCR_ROLE.EQUAL, send: () => undefined };
type PortStatus = MessageOf<'OFPPortStatus'>;

interface Switch {
  readonly dp: Datapath;
  readonly host: MemoryPort;
  readonly status: PortStatus[];
  /** port 2's state in port-desc, or undefined once it is gone */
  linkPortState(): number | undefined;
}

const dps: Datapath[] = [];
afterEach(() => {
  for (const d of dps.splice(0)) d.stop(); // closes its ports, links included
});
afterAll(() => cleanupWebRtc());

function makeSwitch(name: string, hostOffload = false): Switch {
  const dp = new Datapath({ name, dpid: BigInt(dps.length + 1), tables: 1, failMode: 'secure', log: nullLogger });
  dps.push(dp);
  const status: PortStatus[] = [];
  dp.attach({
    connected: 1,
    sendAsync: (msg) => {
      if (msg.type === 'OFPPortStatus') status.push(msg);
      return 1;
    },
  });
  const host = new MemoryPort({ name: `${name}-h`, offload: hostOffload, mtu: 1500 });
  dp.addPort(host, 1);
  dp.handle(flowMod({ match: [m('in_port', 1)], ins: [apply(out(2))] }), CONN);
  dp.handle(flowMod({ match: [m('in_port', 2)], ins: [apply(out(1))] }), CONN);
  return {
    dp,
    host,
    status,
    linkPortState: () => {
      const body = dp.handle({ type: 'OFPPortDescStatsRequest', xid: 1, flags: 0 }, CONN).flatMap((r) => (r.type === 'OFPPortDescStatsReply' ? r.body : []));
      return body.find((p) => p.port_no === 2)?.state;
    },
  };
}

describe('a TinCan link as a datapath port', () => {
  it('forwards frames host A → switch A → link → switch B → host B and back, and the switches follow its carrier', async () => {
    const A = makeSwitch('swA');
    const B = makeSwitch('swB');
    const p = makePair({ config: LOOPBACK });
    // added before the link is up: the datapath must learn the carrier from the port's 'link' event
    A.dp.addPort(p.a, 2);
    B.dp.addPort(p.b, 2);
    expect(A.linkPortState()).toBe(OFPPS.LINK_DOWN);
    await p.signal();
    await until(() => A.linkPortState() === OFPPS.LIVE && B.linkPortState() === OFPPS.LIVE, UP_MS, 'both link ports live');
    expect(A.status.map((s) => [s.reason, s.desc.port_no, s.desc.state])).toEqual([
      [OFPPR.ADD, 1, OFPPS.LIVE],
      [OFPPR.ADD, 2, OFPPS.LINK_DOWN],
      [OFPPR.MODIFY, 2, OFPPS.LIVE],
    ]);

    const there = [60, 64, 500, 1000, 1414].map((n, i) => frameOf(n, i));
    A.host.inject(there.slice(0, 2)); // one batch of two (the link packs them)
    for (const f of there.slice(2)) A.host.inject([f]);
    await until(() => B.host.sent.length >= there.length, 10_000, 'frames at host B');
    expect(B.host.take().map((f) => f.toString('hex'))).toEqual(there.map((f) => f.toString('hex')));

    const back = [frameOf(70, 50), frameOf(1200, 51)];
    B.host.inject(back);
    await until(() => A.host.sent.length >= back.length, 10_000, 'frames at host A');
    expect(A.host.take().map((f) => f.toString('hex'))).toEqual(back.map((f) => f.toString('hex')));
    expect(p.a.counters()).toMatchObject({ txPackets: there.length, rxPackets: back.length, txDropped: 0, rxErrors: 0 });

    // a frame bigger than the link carries is the link's tx drop, not a cut frame at B
    A.host.inject([frameOf(1500, 99)]);
    await until(() => p.a.counters().txDropped === 1, 5_000, 'the oversize frame dropped');
    expect(B.host.sent).toHaveLength(0);

    // the peer goes: the link is gone and switch A removes its port
    const goneA = gone(p.a, LOOPBACK.timeoutMs + 5_000);
    B.dp.removePort(2); // closes link B
    expect(await goneA).toMatch(/closed/);
    await until(() => A.linkPortState() === undefined, 5_000, 'port 2 removed from switch A');
    expect(A.status.at(-1)).toMatchObject({ reason: OFPPR.DELETE, desc: { port_no: 2 } });
  }, 60_000);

  it('gets plain frames only: a super-frame from an offload port is cut by the datapath before the link', async () => {
    const A = makeSwitch('swC', true);
    const B = makeSwitch('swD');
    const p = makePair({ config: LOOPBACK });
    A.dp.addPort(p.a, 2);
    B.dp.addPort(p.b, 2);
    await p.signal();
    await Promise.all([p.a.whenUp(), p.b.whenUp()]);
    const payload = Buffer.alloc(6000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
    const sf = superFrame({ payload });
    const mss = 1300; // segments of 14 + 20 + 20 + 1300 = 1354 bytes fit the link's 1400-byte MTU
    A.host.inject([sf.frame], [gsoHeader(sf, VNET.GSO_TCPV4, mss)]);
    const n = Math.ceil(payload.length / mss);
    await until(() => B.host.sent.length >= n, 10_000, `${n} segments at host B`);
    const segs = B.host.take();
    expect(segs).toHaveLength(n);
    for (const s of segs) expect(plainFrameProblems(s)).toEqual([]);
    expect(Buffer.concat(segs.map((s) => s.subarray(sf.hl)))).toEqual(payload);
    expect(p.a.counters()).toMatchObject({ txPackets: n, txDropped: 0 });
  }, 60_000);
});
