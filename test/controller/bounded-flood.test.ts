/**
 * BoundedFlood (controller/apps/bounded-flood.ts) against the real switch in memory (harness.ts).
 *
 * One node: a switch with two leaf ports and two unwired peer ports, so every frame the app makes can be
 * read byte for byte: the flows it installs, the FRB copies and their bounds, relaying with hop_count
 * (saturating), learning and flows for known unicast, unknown unicast flooded, re-pointing when a
 * MAC's root becomes a neighbour, ports that go, and every kind of bad frame counted and dropped.
 *
 * An overlay: six nodes, each its own Controller + boundedFlood + switch (as in a real overlay), joined
 * port to port by wired MemoryPorts in a ring (in node id order) plus chords, one host (leaf port) each.
 * A broadcast from any host reaches every other host exactly once; the ARP reply goes back along the
 * learnt path and leaves flows that carry the next frames without the controller; a new link re-points
 * those flows; unknown unicast is flooded; a link that goes takes its flows with it on both sides.
 *
 * Wiring harness switches: InMemorySwitch hands what its switch queued for the controller over only
 * when the test calls it (inject, setLink, ...). Frames that arrive over a wire reach the switch behind
 * its back, so the overlay turns the event loop and, after each turn, calls a no-op setLink(1, true) on
 * every switch to deliver the packet-ins and port-status queued meanwhile (see `pump`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type BoundedFlood, LEARNT_COOKIE, boundedFlood } from '../../controller/apps/bounded-flood.js';
import { FRB_TYPE, type FrbHeader, decodeFrb, encodeFrb } from '../../controller/apps/frb.js';
import { Controller } from '../../controller/controller.js';
import { OFPCML, OFPP } from '../../openflow/index.js';
import { MemoryPort, wire } from '../../switch/memory-port.js';
import { arp, eth } from '../switch/frames.js';
import { AppHarness, FakeClock, InMemorySwitch, MemoryLog, turn } from './harness.js';

const BCAST = 'ff:ff:ff:ff:ff:ff';
const arpRequest = (src: string, spa: string, tpa: string): Buffer => eth(0x0806, arp(1, src, spa, '00:00:00:00:00:00', tpa), [], BCAST, src);
const arpReply = (src: string, spa: string, dst: string, tpa: string): Buffer => eth(0x0806, arp(2, src, spa, dst, tpa), [], dst, src);
/** A unicast frame of a local experimental ethertype, tagged so that copies can be told apart. */
const data = (src: string, dst: string, tag = 0): Buffer => eth(0x88b5, Buffer.alloc(46, tag), [], dst, src);
const id = (k: number): string => k.toString(16).padStart(2, '0') + 'a5'.repeat(15);

interface FlowLine {
  readonly priority: number;
  readonly cookie: bigint;
  readonly idle: number;
  readonly match: string;
  readonly actions: string;
}

function flowLines(sw: InMemorySwitch): FlowLine[] {
  return sw
    .flows()
    .map((f) => ({
      priority: f.priority,
      cookie: f.cookie,
      idle: f.idle_timeout,
      match: f.match.map((t) => `${t.field}=${String(t.value)}${t.mask !== undefined ? `/${String(t.mask)}` : ''}`).join(','),
      actions: f.instructions
        .flatMap((ins) => (ins.kind === 'OFPInstructionActions' ? ins.actions : []))
        .map((a) => (a.kind === 'OFPActionOutput' ? `output:${a.port}` : a.kind))
        .join(','),
    }))
    .sort((a, b) => b.priority - a.priority || a.match.localeCompare(b.match));
}

const learnt = (sw: InMemorySwitch): string[] =>
  flowLines(sw)
    .filter((f) => f.cookie === LEARNT_COOKIE)
    .map((f) => `${f.match} → ${f.actions}`)
    .sort();

// ---- one node ---------------------------------------------------------------------------------------

const SELF = id(0x50);
const X = id(0x30); // behind port 3
const Y = id(0x80); // behind port 4
const FAR = id(0xc0); // no link to us
const H1 = '02:00:00:00:01:01'; // leaf port 1
const H2 = '02:00:00:00:01:02'; // leaf port 2
const HX = '02:00:00:00:03:01'; // a host of X
const HF = '02:00:00:00:0c:01'; // a host of FAR

const harnesses: AppHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

async function oneNode(opts: { priority?: number; maxMacs?: number } = {}): Promise<{ h: AppHarness; bf: BoundedFlood; sw: InMemorySwitch; names: Map<string, string> }> {
  const names = new Map([['p3', X], ['p4', Y]]);
  const bf = boundedFlood({ nodeId: SELF, peerOf: (p) => names.get(p.name), idleTimeout: 60, ...opts });
  const h = await AppHarness.start({ apps: [bf.app], switch: { dpid: 0x50n, ports: [1, 2, 3, 4] } });
  harnesses.push(h);
  return { h, bf, sw: h.sw, names };
}

const frb = (over: Partial<FrbHeader>, inner: Buffer): Buffer => encodeFrb({ root: X, bound: Y, hopCount: 1, type: FRB_TYPE.BRDCST, plCount: 0, ...over }, inner);

describe('BoundedFlood on one node', () => {
  it('installs EdgeVPN\'s flows on switch enter: table-miss and FRB to the controller whole, 802.1D reserved dropped', async () => {
    const { sw } = await oneNode();
    const base = flowLines(sw).map(({ priority, match, actions }) => ({ priority, match, actions }));
    expect(base).toEqual([
      { priority: 100, match: 'eth_dst=01:80:c2:00:00:00/ff:ff:ff:ff:ff:f0', actions: '' },
      { priority: 100, match: `eth_type=${0xc0c0}`, actions: `output:${OFPP.CONTROLLER}` },
      { priority: 0, match: '', actions: `output:${OFPP.CONTROLLER}` },
    ]);
    // whole frames to the controller, nothing buffered
    const maxLens = sw.flows().flatMap((f) => f.instructions.flatMap((i) => (i.kind === 'OFPInstructionActions' ? i.actions : []))).map((a) => (a.kind === 'OFPActionOutput' ? a.max_len : -1));
    expect(maxLens).toEqual([OFPCML.NO_BUFFER, OFPCML.NO_BUFFER]);
    expect(sw.errors).toEqual([]);
  });

  it('floods a leaf broadcast: plain to the other leaf, FRB to each peer with its own bound', async () => {
    const { sw, bf } = await oneNode();
    const req = arpRequest(H1, '10.0.0.1', '10.0.0.9');
    sw.inject(1, req);
    // L = 30 50 80 (self 50): X(30) → its successor 50 (self); Y(80) → wraps to 30 (X)
    expect(sw.takeAll()).toEqual({
      2: [req],
      3: [frb({ root: SELF, bound: SELF, hopCount: 1 }, req)],
      4: [frb({ root: SELF, bound: X, hopCount: 1 }, req)],
    });
    expect(bf.counters()).toMatchObject({ originated: 1, frbSent: 2, delivered: 1, unknownUnicast: 0 });
    expect(bf.macTable()).toEqual([{ dpid: '0000000000000050', mac: H1, port: 1, root: SELF, out: 1 }]);
  });

  it('carries multicast like broadcast, IPv6 (33:33) and IPv4 (01:00:5e) alike', async () => {
    const { sw } = await oneNode();
    for (const dst of ['33:33:00:00:00:01', '33:33:ff:00:00:02', '01:00:5e:00:00:fb']) {
      const f = eth(0x86dd, Buffer.alloc(40), [], dst, H1);
      sw.inject(1, f);
      expect(Object.keys(sw.takeAll()), dst).toEqual(['2', '3', '4']);
    }
  });

  it('relays an FRB within its bound, hop_count + 1, and hands the carried frame to every leaf', async () => {
    const { sw, bf } = await oneNode();
    const req = arpRequest(HX, '10.0.0.3', '10.0.0.1');
    // from X, bound 90: Y (80) lies in (50, 90); its successor in L wraps to 30, so 90 comes first
    sw.inject(3, frb({ bound: id(0x90), hopCount: 4 }, req));
    expect(sw.takeAll()).toEqual({ 1: [req], 2: [req], 4: [frb({ bound: id(0x90), hopCount: 5 }, req)] });
    // bound 70: Y is past it, nothing to relay
    sw.inject(3, frb({ bound: id(0x70) }, req));
    expect(sw.takeAll()).toEqual({ 1: [req], 2: [req] });
    expect(bf.counters()).toMatchObject({ received: 2, relayed: 1, delivered: 4 });
    // the carried source is learnt with its root: X is a neighbour, so frames to it go to port 3
    expect(bf.macTable()).toEqual([{ dpid: '0000000000000050', mac: HX, port: 3, root: X, out: 3 }]);
  });

  it('saturates hop_count at 255 instead of wrapping', async () => {
    const { sw } = await oneNode();
    const req = arpRequest(HX, '10.0.0.3', '10.0.0.1');
    sw.inject(3, frb({ bound: id(0x90), hopCount: 255 }, req));
    const [relayed] = sw.take(4);
    expect(relayed && decodeFrb(relayed).header.hopCount).toBe(255);
  });

  it('learns, then installs (in_port, eth_src, eth_dst) → output flows with the idle timeout, and sends the frame', async () => {
    const { sw, bf } = await oneNode({ priority: 7 });
    sw.inject(3, frb({}, arpRequest(HX, '10.0.0.3', '10.0.0.1')));
    sw.takeAll();
    const reply = arpReply(H1, '10.0.0.1', HX, '10.0.0.3');
    sw.inject(1, reply);
    expect(sw.takeAll()).toEqual({ 3: [reply] });
    const flows = flowLines(sw).filter((f) => f.cookie === LEARNT_COOKIE);
    expect(flows).toEqual([{ priority: 7, cookie: LEARNT_COOKIE, idle: 60, match: `in_port=1,eth_src=${H1},eth_dst=${HX}`, actions: 'output:3' }]);
    // the flow carries the next one; the controller sees nothing
    const before = bf.counters().packetIns;
    sw.inject(1, reply);
    expect(sw.takeAll()).toEqual({ 3: [reply] });
    expect(bf.counters().packetIns).toBe(before);
    expect(bf.counters().flowsInstalled).toBe(1);
    expect(sw.errors).toEqual([]);
  });

  it('floods unknown unicast from a leaf (EdgeVPN drops it); from a peer it goes to the leaves only', async () => {
    const { sw, bf } = await oneNode();
    const f = data(H1, '02:00:00:00:99:99');
    sw.inject(1, f);
    expect(sw.takeAll()).toEqual({ 2: [f], 3: [frb({ root: SELF, bound: SELF }, f)], 4: [frb({ root: SELF, bound: X }, f)] });
    expect(bf.counters().unknownUnicast).toBe(1);
    const g = data(HX, '02:00:00:00:99:98');
    sw.inject(3, g);
    expect(sw.takeAll()).toEqual({ 1: [g], 2: [g] });
  });

  it('a carried unicast frame goes only to the leaf that holds its destination, or to none if it lives elsewhere', async () => {
    const { sw } = await oneNode();
    sw.inject(2, arpRequest(H2, '10.0.0.2', '10.0.0.9')); // H2 learnt on leaf port 2
    sw.inject(4, frb({ root: Y, bound: X }, arpRequest(HF, '10.0.0.12', '10.0.0.9'))); // HF learnt via Y
    sw.takeAll();
    const toH2 = data(HX, H2);
    sw.inject(3, frb({ bound: id(0x70) }, toH2));
    expect(sw.takeAll()).toEqual({ 2: [toH2] });
    sw.inject(3, frb({ bound: id(0x70) }, data(HX, HF)));
    expect(sw.takeAll()).toEqual({});
  });

  it('re-points learnt flows when a MAC\'s root becomes a neighbour (OFPFC_MODIFY), without a packet-in', async () => {
    const { sw, bf, names } = await oneNode();
    // HF's node FAR is not a neighbour: learnt on port 3 (X relayed it)
    sw.inject(3, frb({ root: FAR, bound: id(0x70) }, arpRequest(HF, '10.0.0.12', '10.0.0.1')));
    sw.inject(1, data(H1, HF));
    sw.inject(2, data(H2, HF));
    sw.takeAll();
    expect(learnt(sw)).toEqual([`in_port=1,eth_src=${H1},eth_dst=${HF} → output:3`, `in_port=2,eth_src=${H2},eth_dst=${HF} → output:3`]);
    // a link to FAR comes up as port 5
    names.set('p5', FAR);
    const dev = new MemoryPort({ name: 'p5' });
    sw.sw.addPort(dev, 5);
    sw.devices.set(5, dev);
    sw.setLink(1, true); // no change: hands the port-status to the controller
    expect(learnt(sw)).toEqual([`in_port=1,eth_src=${H1},eth_dst=${HF} → output:5`, `in_port=2,eth_src=${H2},eth_dst=${HF} → output:5`]);
    expect(bf.macTable().find((e) => e.mac === HF)).toMatchObject({ port: 3, root: FAR, out: 5 });
    const before = bf.counters().packetIns;
    sw.inject(1, data(H1, HF, 1));
    expect(sw.takeAll()).toEqual({ 5: [data(H1, HF, 1)] });
    expect(bf.counters().packetIns).toBe(before);
    expect(bf.counters().flowsRepointed).toBe(1);
    expect(sw.errors).toEqual([]);
  });

  it('a host that moves is re-pointed: flows that would send it back where it came from are deleted', async () => {
    const { sw } = await oneNode();
    sw.inject(1, arpRequest(H1, '10.0.0.1', '10.0.0.9'));
    sw.inject(3, frb({ bound: id(0x70) }, arpRequest(HX, '10.0.0.3', '10.0.0.1')));
    sw.inject(3, data(HX, H1));
    sw.inject(4, data('02:00:00:00:08:01', H1));
    sw.takeAll();
    expect(learnt(sw)).toEqual([`in_port=3,eth_src=${HX},eth_dst=${H1} → output:1`, `in_port=4,eth_src=02:00:00:00:08:01,eth_dst=${H1} → output:1`]);
    // H1 shows up behind port 4 (it moved to Y's side): the flow from 4 would hairpin, the other follows it
    sw.inject(4, data(H1, HX));
    expect(learnt(sw)).toEqual([`in_port=3,eth_src=${HX},eth_dst=${H1} → output:4`, `in_port=4,eth_src=${H1},eth_dst=${HX} → output:3`]);
  });

  it.each([
    ['a port deleted', (sw: InMemorySwitch) => sw.unplug(3)],
    ['a port whose link goes down', (sw: InMemorySwitch) => sw.setLink(3, false)],
  ])('%s: its flows (in and out) and the MACs learnt there go, and it is no longer flooded to', async (_name, goes) => {
    const { sw, bf } = await oneNode();
    sw.inject(3, frb({ bound: id(0x70) }, arpRequest(HX, '10.0.0.3', '10.0.0.1')));
    sw.inject(1, data(H1, HX));
    sw.inject(3, data(HX, H1));
    sw.inject(2, arpRequest(H2, '10.0.0.2', '10.0.0.9'));
    sw.inject(1, data(H1, H2));
    sw.takeAll();
    expect(learnt(sw)).toHaveLength(3);
    goes(sw);
    expect(learnt(sw)).toEqual([`in_port=1,eth_src=${H1},eth_dst=${H2} → output:2`]);
    expect(bf.macTable().map((e) => e.mac).sort()).toEqual([H1, H2]);
    const req = arpRequest(H1, '10.0.0.1', '10.0.0.9');
    sw.inject(1, req);
    const out = sw.takeAll();
    // only Y is left: L = 50 80, so Y's bound wraps to self
    expect(out).toEqual({ 2: [req], 4: [frb({ root: SELF, bound: SELF }, req)] });
    expect(sw.errors).toEqual([]);
  });

  it('a port that comes back up is a peer again', async () => {
    const { sw } = await oneNode();
    sw.setLink(3, false);
    sw.setLink(3, true);
    const req = arpRequest(H1, '10.0.0.1', '10.0.0.9');
    sw.inject(1, req);
    expect(Object.keys(sw.takeAll())).toEqual(['2', '3', '4']);
  });

  const req = arpRequest(HX, '10.0.0.3', '10.0.0.1');
  const good = frb({ bound: id(0x90) }, req);
  const bad = (at: number, ...bytes: number[]): Buffer => {
    const b = Buffer.from(good);
    bytes.forEach((x, i) => (b[at + i] = x));
    return b;
  };
  it.each([
    ['an FRB header cut short', 3, good.subarray(0, 40), 'bad-header'],
    ['an unknown frb_type', 3, bad(47, 9), 'bad-header'],
    ['a BRDCST carrying 10 bytes', 3, good.subarray(0, 59), 'bad-header'],
    ['a BRDCST whose outer source is not the carried one', 3, bad(6, 0x02, 0, 0, 0, 0, 0x77), 'bad-header'],
    ['a LEAF_TX (not needed here)', 3, bad(47, FRB_TYPE.LEAF_TX), 'unsupported-type'],
    ['an FRB rooted at this node', 3, frb({ root: SELF, bound: id(0x90) }, req), 'own-root'],
    ['an FRB from a leaf port', 1, good, 'frb-from-leaf'],
    ['a plain broadcast from a peer port', 3, req, 'peer-plain-multicast'],
    ['a frame with a multicast source', 1, data('03:00:00:00:00:01', H2), 'group-source'],
    ['a runt', 1, Buffer.alloc(10, 0xff), 'runt'],
  ] as const)('drops and counts %s, and sends nothing', async (_name, port, frame, reason) => {
    const { h, sw, bf } = await oneNode();
    sw.inject(port, frame);
    expect(sw.takeAll()).toEqual({});
    expect(bf.counters().dropped[reason]).toBe(1);
    const others = Object.entries(bf.counters().dropped).filter(([r, c]) => r !== reason && c !== 0);
    expect(others).toEqual([]);
    expect(h.controller.counters.appErrors).toBe(0);
    expect(bf.macTable()).toEqual([]);
  });

  it('802.1D reserved frames are dropped by the flow, before the controller', async () => {
    const { sw, bf } = await oneNode();
    sw.inject(1, eth(0x88cc, Buffer.alloc(46), [], '01:80:c2:00:00:0e', H1));
    expect(sw.takeAll()).toEqual({});
    expect(bf.counters().packetIns).toBe(0);
  });

  it('forgets a switch that leaves, and starts it afresh (old learnt flows deleted) when it comes back', async () => {
    const { h, sw, bf } = await oneNode();
    sw.inject(1, arpRequest(H1, '10.0.0.1', '10.0.0.9'));
    expect(bf.macTable()).toHaveLength(1);
    sw.close('gone');
    expect(bf.macTable()).toEqual([]);
    const again = h.addSwitch({ dpid: 0x50n, ports: [1, 2, 3, 4] });
    expect(flowLines(again).filter((f) => f.cookie === LEARNT_COOKIE)).toEqual([]);
    expect(again.received.some((m) => m.type === 'OFPFlowMod' && m.command === 3 && m.cookie === LEARNT_COOKIE)).toBe(true);
  });

  it('keeps at most maxMacs, forgetting the oldest', async () => {
    const { sw, bf } = await oneNode({ maxMacs: 2 });
    for (const k of [1, 2, 3]) sw.inject(1, arpRequest(`02:00:00:00:77:0${k}`, '10.0.0.1', '10.0.0.9'));
    expect(bf.macTable().map((e) => e.mac)).toEqual(['02:00:00:00:77:02', '02:00:00:00:77:03']);
    expect(bf.counters().evicted).toBe(1);
  });

  it('does not use a port whose peerOf throws or names a bad id, and says so', async () => {
    const log = new MemoryLog();
    const bf = boundedFlood({
      nodeId: SELF,
      peerOf: (p) => {
        if (p.name === 'p3') throw new Error('registry down');
        return p.name === 'p4' ? 'not-an-id' : undefined;
      },
    });
    const ctl = new Controller({ apps: [(ctx) => bf.app(ctx)], clock: new FakeClock(), logger: log });
    await ctl.start();
    const sw = new InMemorySwitch(new FakeClock(), { dpid: 9n, ports: [1, 3, 4] });
    sw.connect(ctl);
    sw.inject(1, arpRequest(H1, '10.0.0.1', '10.0.0.9'));
    expect(sw.takeAll()).toEqual({});
    sw.inject(3, good);
    expect(bf.counters().dropped['unknown-port']).toBe(1);
    expect(log.problems('peerOf failed')).toHaveLength(1);
    expect(log.problems('no valid node id')).toHaveLength(1);
    await ctl.stop();
  });

  it.each([
    [{ nodeId: 'ABC' }, 'boundedFlood: nodeId "ABC" is not a node id'],
    [{ idleTimeout: 70000 }, 'boundedFlood: idleTimeout 70000 is not an integer from 0 to 65535'],
    [{ hardTimeout: -1 }, 'boundedFlood: hardTimeout -1'],
    [{ priority: 0 }, 'boundedFlood: priority 0 is not an integer from 1 to 65535'],
    [{ maxMacs: 0.5 }, 'boundedFlood: maxMacs 0.5'],
  ])('refuses options %j', (bad, text) => {
    expect(() => boundedFlood({ nodeId: SELF, peerOf: () => undefined, ...bad })).toThrow(text);
  });
});

// ---- an overlay -------------------------------------------------------------------------------------

interface Node {
  readonly i: number;
  readonly id: string;
  readonly ctl: Controller;
  readonly sw: InMemorySwitch;
  readonly bf: BoundedFlood;
  readonly names: Map<string, string>;
}

const HOST = (i: number): string => `02:00:00:00:0${i}:01`;
const IP = (i: number): string => `10.9.0.${i + 1}`;
/** Node i's port to node j. */
const TO = (j: number): number => 10 + j;

class Overlay {
  readonly clock = new FakeClock();
  readonly nodes: Node[] = [];
  readonly cables: MemoryPort[] = [];

  static async make(count: number, links: readonly (readonly [number, number])[]): Promise<Overlay> {
    const o = new Overlay();
    for (let i = 0; i < count; i++) {
      const names = new Map<string, string>();
      const bf = boundedFlood({ nodeId: id(0x10 * (i + 1)), peerOf: (p) => names.get(p.name), idleTimeout: 60 });
      const ctl = new Controller({ apps: [bf.app], clock: o.clock, logger: new MemoryLog() });
      await ctl.start();
      const sw = new InMemorySwitch(o.clock, { dpid: BigInt(i + 1), ports: [1] });
      o.nodes.push({ i, id: id(0x10 * (i + 1)), ctl, sw, bf, names });
    }
    for (const [a, b] of links) o.link(a, b);
    for (const n of o.nodes) n.sw.connect(n.ctl);
    return o;
  }

  private node(i: number): Node {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  /** A link between nodes a and b: a wired pair of ports (link MTU fits FRB's 49 bytes), peers registered first. */
  link(a: number, b: number): void {
    const ends = [this.node(a), this.node(b)] as const;
    const ports = ends.map((n, k) => {
      const other = ends[1 - k] as Node;
      const dev = new MemoryPort({ name: `to${other.i}`, mtu: 1500 + 49 });
      n.names.set(dev.name, other.id);
      return dev;
    });
    wire(ports[0] as MemoryPort, ports[1] as MemoryPort);
    ends.forEach((n, k) => {
      const other = ends[1 - k] as Node;
      n.sw.sw.addPort(ports[k] as MemoryPort, TO(other.i));
      n.sw.devices.set(TO(other.i), ports[k] as MemoryPort);
    });
    this.cables.push(...ports);
  }

  /**
   * Hands every switch's queued messages to its controller: a no-op setLink on the leaf port makes the
   * harness switch deliver what arrived over wires since (packet-ins, port-status).
   */
  pump(): void {
    for (const n of this.nodes) if (n.sw.state !== 'dead') n.sw.setLink(1, true);
  }

  /** Turns the event loop, pumping, until nothing has moved on any wire for a few turns. */
  async settle(): Promise<void> {
    let last = -1;
    let still = 0;
    for (let k = 0; k < 1000 && still < 4; k++) {
      this.pump();
      await turn();
      const moved = this.cables.reduce((s, p) => {
        const c = p.counters();
        return s + c.rxPackets + c.txPackets + c.txDropped;
      }, 0);
      still = moved === last ? still + 1 : 0;
      last = moved;
    }
  }

  async send(i: number, frame: Buffer): Promise<void> {
    for (const n of this.nodes) n.sw.take(1);
    this.node(i).sw.inject(1, frame);
    await this.settle();
  }

  /** What each host received since the last send. */
  received(): Buffer[][] {
    return this.nodes.map((n) => n.sw.take(1));
  }

  packetIns(): number {
    return this.nodes.reduce((s, n) => s + n.bf.counters().packetIns, 0);
  }

  errors(): string[] {
    return this.nodes.flatMap((n) => [
      ...n.sw.errors.map((e) => `node ${n.i}: switch error ${e.err_type}/${e.code}`),
      ...(n.ctl.counters.appErrors ? [`node ${n.i}: ${n.ctl.counters.appErrors} app errors`] : []),
    ]);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) {
      await n.ctl.stop();
      n.sw.sw.stop();
    }
  }
}

// six nodes: the ring in node id order, and two chords
const N = 6;
const RING: [number, number][] = Array.from({ length: N }, (_, i) => [i, (i + 1) % N]);
const CHORDS: [number, number][] = [[0, 3], [1, 4]];

const overlays: Overlay[] = [];
afterEach(async () => {
  for (const o of overlays.splice(0)) await o.stop();
});

async function overlay(links: readonly (readonly [number, number])[] = [...RING, ...CHORDS]): Promise<Overlay> {
  const o = await Overlay.make(N, links);
  overlays.push(o);
  await o.settle();
  return o;
}

/** Host i's ARP request; every other host must receive it exactly once, host i nothing. */
async function broadcastOnce(o: Overlay, i: number): Promise<void> {
  const req = arpRequest(HOST(i), IP(i), '10.9.0.99');
  await o.send(i, req);
  const got = o.received();
  got.forEach((frames, j) => expect(frames, `host ${j}, broadcast from host ${i}`).toEqual(j === i ? [] : [req]));
}

describe('BoundedFlood across an overlay of six switches, each with its own controller', () => {
  it('a broadcast from any host reaches every other host exactly once, and never comes back', async () => {
    const o = await overlay();
    for (let i = 0; i < N; i++) await broadcastOnce(o, i);
    const sum = (k: 'originated' | 'received' | 'delivered'): number => o.nodes.reduce((s, n) => s + n.bf.counters()[k], 0);
    expect(sum('originated')).toBe(N);
    expect(sum('received')).toBe(N * (N - 1));
    expect(sum('delivered')).toBe(N * (N - 1));
    expect(o.nodes.map((n) => n.bf.counters().dropped['own-root'])).toEqual(Array(N).fill(0));
    expect(o.errors()).toEqual([]);
  });

  it('the ARP reply goes back along the learnt path, installs flows, and the next frames need no controller', async () => {
    const o = await overlay();
    await broadcastOnce(o, 0);
    // host 2 is two hops from host 0 (2's neighbours are 1 and 3; node 1 relayed the request to it)
    const reply = arpReply(HOST(2), IP(2), HOST(0), IP(0));
    await o.send(2, reply);
    expect(o.received()).toEqual([[reply], [], [], [], [], []]);
    const [n0, n1, n2] = o.nodes as [Node, Node, Node];
    expect(learnt(n2.sw)).toEqual([`in_port=1,eth_src=${HOST(2)},eth_dst=${HOST(0)} → output:${TO(1)}`]);
    expect(learnt(n1.sw)).toEqual([`in_port=${TO(2)},eth_src=${HOST(2)},eth_dst=${HOST(0)} → output:${TO(0)}`]);
    expect(learnt(n0.sw)).toEqual([`in_port=${TO(1)},eth_src=${HOST(2)},eth_dst=${HOST(0)} → output:1`]);
    // host 0 answers: back the same way, and then both directions run on flows alone
    await o.send(0, data(HOST(0), HOST(2)));
    expect(o.received().map((f) => f.length)).toEqual([0, 0, 1, 0, 0, 0]);
    const before = o.packetIns();
    for (let k = 1; k <= 3; k++) {
      await o.send(2, data(HOST(2), HOST(0), k));
      expect(o.received()).toEqual([[data(HOST(2), HOST(0), k)], [], [], [], [], []]);
      await o.send(0, data(HOST(0), HOST(2), k));
      expect(o.received()).toEqual([[], [], [data(HOST(0), HOST(2), k)], [], [], []]);
    }
    expect(o.packetIns()).toBe(before);
    expect(o.errors()).toEqual([]);
  });

  it('a new direct link re-points the flows towards a host on it, and the frames take it', async () => {
    const o = await overlay();
    await broadcastOnce(o, 0);
    await o.send(2, arpReply(HOST(2), IP(2), HOST(0), IP(0)));
    o.received();
    const [n0, , n2] = o.nodes as [Node, Node, Node];
    o.link(0, 2);
    await o.settle();
    // node 2 knows host 0's root is node 0, now a neighbour: its flow goes straight there
    expect(learnt(n2.sw)).toEqual([`in_port=1,eth_src=${HOST(2)},eth_dst=${HOST(0)} → output:${TO(0)}`]);
    const rx = (): number => n0.sw.device(TO(2)).counters().rxPackets;
    const before = rx();
    await o.send(2, data(HOST(2), HOST(0), 9));
    expect(o.received()).toEqual([[data(HOST(2), HOST(0), 9)], [], [], [], [], []]);
    expect(rx() - before).toBe(1);
    // node 0 saw host 2 arrive on the new port: its flows towards host 2 follow
    expect(learnt(n0.sw).filter((l) => l.includes(`eth_dst=${HOST(2)}`)).every((l) => l.endsWith(`output:${TO(2)}`))).toBe(true);
    // and broadcasts stay exactly-once on the new topology
    for (let i = 0; i < N; i++) await broadcastOnce(o, i);
    expect(o.errors()).toEqual([]);
  });

  it('unknown unicast is flooded to every host once', async () => {
    const o = await overlay();
    const f = data(HOST(4), '02:00:00:00:99:99');
    await o.send(4, f);
    o.received().forEach((frames, j) => expect(frames, `host ${j}`).toEqual(j === 4 ? [] : [f]));
    expect(o.nodes[4]?.bf.counters().unknownUnicast).toBe(1);
  });

  it('a link that goes takes its flows on both sides; broadcasts stay exactly-once on the ring', async () => {
    const o = await overlay();
    // traffic between hosts 0 and 3 runs over the chord 0 – 3
    await broadcastOnce(o, 0);
    await o.send(3, arpReply(HOST(3), IP(3), HOST(0), IP(0)));
    await o.send(0, data(HOST(0), HOST(3)));
    o.received();
    const [n0, , , n3] = o.nodes as [Node, Node, Node, Node];
    const onChord = (lines: string[], port: number): string[] => lines.filter((l) => l.includes(`in_port=${port},`) || l.endsWith(`output:${port}`));
    expect(onChord(learnt(n0.sw), TO(3)).length).toBeGreaterThan(0);
    expect(onChord(learnt(n3.sw), TO(0)).length).toBeGreaterThan(0);
    n0.sw.unplug(TO(3)); // node 0's end vanishes; node 3's end loses its carrier
    await o.settle();
    expect(onChord(learnt(n0.sw), TO(3))).toEqual([]);
    expect(onChord(learnt(n3.sw), TO(0))).toEqual([]);
    for (let i = 0; i < N; i++) await broadcastOnce(o, i);
    // host 0 and host 3 still reach each other, the long way round
    await o.send(0, data(HOST(0), HOST(3), 5));
    expect(o.received()[3]).toEqual([data(HOST(0), HOST(3), 5)]);
    expect(o.errors()).toEqual([]);
  });

  it('a malformed FRB from a peer is counted and dropped at that node; nothing else moves', async () => {
    const o = await overlay();
    const n2 = o.nodes[2] as Node;
    const broken = encodeFrb({ root: id(0x10), bound: id(0x40), hopCount: 1, type: FRB_TYPE.BRDCST, plCount: 0 }, arpRequest(HOST(0), IP(0), IP(2))).subarray(0, 45);
    const before = o.cables.reduce((s, p) => s + p.counters().txPackets, 0);
    n2.sw.inject(TO(1), broken);
    await o.settle();
    expect(n2.bf.counters().dropped['bad-header']).toBe(1);
    expect(o.received().flat()).toEqual([]);
    expect(o.cables.reduce((s, p) => s + p.counters().txPackets, 0)).toBe(before);
    expect(o.errors()).toEqual([]);
    // and the node works on
    await broadcastOnce(o, 2);
  });
});
