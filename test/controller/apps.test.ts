/**
 * The learning and hub apps against the real switch in memory (harness.ts): frames go in on FakePorts,
 * the switch's pipeline sends packet-ins to the controller, the apps' flow-mods and packet-outs go back
 * into the same switch, and what comes out of its ports is checked frame by frame.
 *
 * Learning: every ordered pair of hosts delivers; once learnt, frames follow the flows without the
 * controller; the flow table holds exactly the table-miss entry and one flow per ordered pair; a port
 * whose link goes down (or whose device goes away) is forgotten, MACs and flows, so a host that moves to
 * another port is reachable there. Hub: everything is flooded by packet-out, no flow but the table-miss.
 * (learning.test.ts runs both apps with hosts in namespaces behind tinflow and Open vSwitch.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { hub } from '../../controller/apps/hub.js';
import { learning } from '../../controller/apps/learning.js';
import { OFPCML, OFPP } from '../../openflow/index.js';
import { eth } from '../switch/frames.js';
import { AppHarness } from './harness.js';

const IDLE = 120;
const mac = (i: number): string => `02:00:00:00:0a:0${i}`;
/** Host i's frame to host j: a local experimental ethertype, the pair in the payload. */
const frame = (i: number, j: number): Buffer => eth(0x88b5, Buffer.alloc(46, i * 16 + j), [], mac(j), mac(i));

const harnesses: AppHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
});

async function rig(app: ReturnType<typeof learning>, ports = [1, 2, 3]): Promise<{ h: AppHarness; packetIns: () => number }> {
  const h = await AppHarness.start({ apps: [app], switch: { ports } });
  harnesses.push(h);
  let n = 0;
  h.controller.on('packetIn', () => n++);
  return { h, packetIns: () => n };
}

interface FlowLine {
  readonly priority: number;
  readonly idle: number;
  readonly match: string;
  readonly actions: string;
}

function flowLines(h: AppHarness): FlowLine[] {
  return h.sw
    .flows()
    .map((f) => ({
      priority: f.priority,
      idle: f.idle_timeout,
      match: f.match.map((t) => `${t.field}=${String(t.value)}`).join(','),
      actions: f.instructions
        .flatMap((ins) => (ins.kind === 'OFPInstructionActions' ? ins.actions : []))
        .map((a) => (a.kind === 'OFPActionOutput' ? `output:${a.port}/${a.max_len}` : a.kind))
        .join(','),
    }))
    .sort((a, b) => b.priority - a.priority || a.match.localeCompare(b.match));
}

/** Host i (on port i) sends to host j; returns where the frame came out. */
function send(h: AppHarness, i: number, j: number, from = i): Record<number, Buffer[]> {
  h.sw.takeAll();
  h.sw.inject(from, frame(i, j));
  return h.sw.takeAll();
}

const PAIRS: [number, number][] = [];
for (let i = 1; i <= 3; i++) for (let j = 1; j <= 3; j++) if (i !== j) PAIRS.push([i, j]);

describe('the learning app on the real switch in memory', () => {
  it('installs the table-miss flow on switch enter, whole frames to the controller', async () => {
    const { h } = await rig(learning({ idleTimeout: IDLE }));
    expect(flowLines(h)).toEqual([{ priority: 0, idle: 0, match: '', actions: `output:${OFPP.CONTROLLER}/${OFPCML.NO_BUFFER}` }]);
    expect(h.sw.errors).toEqual([]);
  });

  it('every ordered pair delivers; once learnt, only to the destination and without the controller', async () => {
    const { h, packetIns } = await rig(learning({ idleTimeout: IDLE }));
    // First contact: h1 → h2 is flooded (h2 unknown), h2 → h1 goes straight to port 1 (h1 learnt).
    expect(send(h, 1, 2)).toEqual({ 2: [frame(1, 2)], 3: [frame(1, 2)] });
    expect(send(h, 2, 1)).toEqual({ 1: [frame(2, 1)] });
    // Rounds over every pair: each frame reaches its destination; from round 2 (every host learnt) only
    // it; in round 3 every pair has its flow (round 1 flooded to h3, unknown then) and the controller
    // sees nothing.
    for (const round of [1, 2, 3]) {
      const before = packetIns();
      for (const [i, j] of PAIRS) {
        const out = send(h, i, j);
        expect(out[j], `round ${round}: h${i} → h${j}`).toEqual([frame(i, j)]);
        if (round >= 2) expect(Object.keys(out), `round ${round}: h${i} → h${j} only to port ${j}`).toEqual([String(j)]);
      }
      if (round === 3) expect(packetIns() - before, 'round 3 needs no controller').toBe(0);
    }
    expect(h.sw.errors).toEqual([]);
    expect(h.controller.counters.appErrors).toBe(0);
  });

  it('installs exactly the table-miss flow and one (in_port, eth_dst, eth_src) → output flow per ordered pair', async () => {
    const { h } = await rig(learning({ idleTimeout: IDLE }));
    for (let k = 0; k < 2; k++) for (const [i, j] of PAIRS) send(h, i, j);
    const expected: FlowLine[] = [{ priority: 0, idle: 0, match: '', actions: `output:${OFPP.CONTROLLER}/${OFPCML.NO_BUFFER}` }];
    for (const [i, j] of PAIRS) expected.push({ priority: 1, idle: IDLE, match: `in_port=${i},eth_dst=${mac(j)},eth_src=${mac(i)}`, actions: `output:${j}/0` });
    expect(flowLines(h)).toEqual(expected.sort((a, b) => b.priority - a.priority || a.match.localeCompare(b.match)));
  });

  it('a port whose link goes down is forgotten, MACs and flows: its host is flooded for, then found on a new port', async () => {
    const { h } = await rig(learning({ idleTimeout: IDLE }), [1, 2, 3, 4]);
    for (let k = 0; k < 2; k++) for (const [i, j] of PAIRS) send(h, i, j);
    expect(send(h, 1, 2)).toEqual({ 2: [frame(1, 2)] });
    h.sw.setLink(2, false);
    // No flow is left to or from port 2, and the others stay.
    const lines = flowLines(h);
    expect(lines.filter((l) => l.match.includes('in_port=2,') || l.actions.startsWith('output:2/'))).toEqual([]);
    expect(lines).toHaveLength(1 + 2);
    // h2 is unknown again: a frame for it is flooded, not sent into the dead port alone.
    const flooded = send(h, 1, 2);
    expect(flooded[3]).toEqual([frame(1, 2)]);
    expect(flooded[4]).toEqual([frame(1, 2)]);
    // h2 shows up behind port 4 and is reachable there, and only there.
    expect(send(h, 2, 1, 4)).toEqual({ 1: [frame(2, 1)] });
    expect(send(h, 1, 2)).toEqual({ 4: [frame(1, 2)] });
    expect(send(h, 1, 2)).toEqual({ 4: [frame(1, 2)] });
    expect(h.sw.errors).toEqual([]);
  });

  it('a port whose device goes away is forgotten the same way', async () => {
    const { h } = await rig(learning({ idleTimeout: IDLE }), [1, 2, 3, 4]);
    for (let k = 0; k < 2; k++) for (const [i, j] of PAIRS) send(h, i, j);
    h.sw.unplug(3);
    expect(flowLines(h).filter((l) => l.match.includes('in_port=3,') || l.actions.startsWith('output:3/'))).toEqual([]);
    expect(send(h, 3, 1, 4)).toEqual({ 1: [frame(3, 1)] });
    expect(send(h, 1, 3)).toEqual({ 4: [frame(1, 3)] });
  });

  it('keeps at most maxMacs MACs per switch: the least recently seen is forgotten (flooded for again)', async () => {
    const { h } = await rig(learning({ idleTimeout: IDLE, maxMacs: 2 }));
    // h1 and h3 are learnt; both frames go to h2, unknown, so no flow is installed.
    expect(send(h, 1, 2)).toEqual({ 2: [frame(1, 2)], 3: [frame(1, 2)] });
    expect(send(h, 3, 2)).toEqual({ 1: [frame(3, 2)], 2: [frame(3, 2)] });
    // h2 is the third MAC: h1, seen least recently, is forgotten; h3 is still known.
    expect(send(h, 2, 3)).toEqual({ 3: [frame(2, 3)] });
    expect(send(h, 3, 1)).toEqual({ 1: [frame(3, 1)], 2: [frame(3, 1)] });
    expect(h.controller.counters.appErrors).toBe(0);
  });

  it('learns per datapath: a second switch starts from nothing', async () => {
    const { h } = await rig(learning({ idleTimeout: IDLE }));
    for (const [i, j] of PAIRS) send(h, i, j);
    const sw2 = h.addSwitch({ dpid: 0x22n });
    sw2.inject(1, frame(1, 2));
    expect(sw2.takeAll()).toEqual({ 2: [frame(1, 2)], 3: [frame(1, 2)] });
  });
});

describe('the hub app on the real switch in memory', () => {
  it('floods every frame by packet-out and installs nothing but the table-miss flow', async () => {
    const { h, packetIns } = await rig(hub());
    for (const [i, j] of [...PAIRS, ...PAIRS]) {
      const others = [1, 2, 3].filter((p) => p !== i);
      const out = send(h, i, j);
      expect(out, `h${i} → h${j}`).toEqual(Object.fromEntries(others.map((p) => [p, [frame(i, j)]])));
    }
    expect(packetIns()).toBe(PAIRS.length * 2);
    expect(flowLines(h)).toEqual([{ priority: 0, idle: 0, match: '', actions: `output:${OFPP.CONTROLLER}/${OFPCML.NO_BUFFER}` }]);
  });
});
