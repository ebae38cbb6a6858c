/**
 * The learning app drives a real switch: three hosts in namespaces behind a tinflow switch, and the
 * same test body behind an Open vSwitch userspace bridge. Every pair pings with 0 % loss, and the flow
 * table ends with exactly the flows simple_switch_13 would install: the table-miss entry and one
 * (in_port, eth_dst, eth_src) → output flow per ordered host pair. The app's own behaviour (every pair,
 * exact flows, ports going down, the hub) is pinned without namespaces, on the real switch in memory, by
 * apps.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hub } from '../../controller/apps/hub.js';
import { learning } from '../../controller/apps/learning.js';
import type { DatapathHandle } from '../../controller/api.js';
import type { App, AppFactory } from '../../controller/app.js';
import { Controller } from '../../controller/controller.js';
import { OFPP, type OFPMessage } from '../../openflow/index.js';
import { type Hosts, iperfTcp, makeHosts, ping } from '../switch/switch-lab.js';
import { type SwitchKind, type SwitchUnderTest, attachSwitch, hostMac, ovsRunning } from './switches.js';
import { inNs } from '../../scripts/netlab.js';
import { waitFor } from '../helpers/wait.js';

// the hub runs on these + 4
const PORTS: Record<SwitchKind, number> = { tinflow: 6812, ovs: 6813 };
const IDLE = 120;

interface FlowSummary {
  priority: number;
  idle: number;
  match: Record<string, string | number>;
  actions: string[];
}

function summarize(replies: readonly OFPMessage[]): FlowSummary[] {
  const out: FlowSummary[] = [];
  for (const r of replies) {
    if (r.type !== 'OFPFlowStatsReply') continue;
    for (const f of r.body) {
      const match: Record<string, string | number> = {};
      for (const t of f.match) match[t.field] = typeof t.value === 'bigint' ? t.value.toString() : t.value;
      const actions: string[] = [];
      for (const ins of f.instructions) {
        if (ins.kind !== 'OFPInstructionActions') continue;
        for (const a of ins.actions) actions.push(a.kind === 'OFPActionOutput' ? `output:${a.port >>> 0}` : a.kind);
      }
      out.push({ priority: f.priority, idle: f.idle_timeout, match, actions });
    }
  }
  return out;
}

/** Three hosts behind a switch of `kind` that dials an in-process controller running `app`. */
function rig(kind: SwitchKind, tag: string, app: App | AppFactory, port: number, dpid: bigint) {
  const st: { hosts?: Hosts; ctl?: Controller; sw?: SwitchUnderTest; dp?: DatapathHandle; packetIns: number } = { packetIns: 0 };
  beforeAll(async () => {
    if (kind === 'ovs' && !ovsRunning()) throw new Error('Open vSwitch is not running (scripts/test.sh starts it)');
    const hosts = (st.hosts = makeHosts(`${tag}${kind === 'ovs' ? 'o' : 't'}`, 3));
    // OVS's userspace datapath reads veths through AF_PACKET: TCP needs the hosts' checksum offload off.
    if (kind === 'ovs') for (let i = 0; i < 3; i++) inNs(hosts.ns[i] as string, 'ethtool', '-K', hosts.lab.name(`e${i + 1}`), 'tx', 'off');
    const ctl = (st.ctl = new Controller({ listen: [`tcp:127.0.0.1:${port}`], apps: [app] }));
    ctl.on('packetIn', () => st.packetIns++);
    await ctl.start();
    st.sw = attachSwitch(kind, hosts.lab, hosts.ports, port, dpid);
    st.dp = await waitFor(`datapath ${dpid} to connect`, () => ctl.datapath(dpid), 15_000);
  }, 40_000);
  afterAll(async () => {
    await st.sw?.stop();
    await st.ctl?.stop();
    st.hosts?.lab.cleanup();
  });
  return {
    get hosts(): Hosts {
      return st.hosts as Hosts;
    },
    get dp(): DatapathHandle {
      return st.dp as DatapathHandle;
    },
    get packetIns(): number {
      return st.packetIns;
    },
  };
}

const ALL_FLOWS: OFPMessage = { type: 'OFPFlowStatsRequest', xid: 0, flags: 0, table_id: 0xff, out_port: OFPP.ANY, out_group: 0xffffffff, cookie: 0n, cookie_mask: 0n, match: [] };

describe.each(['tinflow', 'ovs'] as const)('the learning app drives a %s switch', (kind) => {
  const dpid = kind === 'ovs' ? 0xa1n : 0xa2n;
  const r = rig(kind, 'l', learning({ idleTimeout: IDLE }), PORTS[kind], dpid);

  it('knows the switch: datapath id and ports 1..3', () => {
    expect(r.dp.id).toBe(dpid);
    expect(r.dp.state).toBe('main');
    const ports = [...r.dp.ports.keys()].filter((p) => p !== OFPP.LOCAL).sort((a, b) => a - b);
    expect(ports).toEqual([1, 2, 3]);
  });

  it('every pair of hosts pings with 0 % loss', async () => {
    const lost: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (i === j) continue;
        const got = await ping(r.hosts, i, j, 4);
        if (got !== 4) lost.push(`h${i + 1}→h${j + 1}: ${4 - got}/4 lost`);
      }
    }
    expect(lost).toEqual([]);
    expect(r.packetIns).toBeGreaterThan(0);
  }, 90_000);

  it('installs the table-miss flow and one flow per ordered host pair', async () => {
    const flows = summarize(await r.dp.request(ALL_FLOWS));
    const macs = [0, 1, 2].map((i) => hostMac(r.hosts, i));
    const miss = flows.filter((f) => f.priority === 0);
    expect(miss).toEqual([{ priority: 0, idle: 0, match: {}, actions: [`output:${OFPP.CONTROLLER}`] }]);
    const learnt = flows
      .filter((f) => f.priority === 1)
      .map((f) => `${f.match['in_port']} ${f.match['eth_src']}→${f.match['eth_dst']} ${f.actions.join(',')} idle=${f.idle}`)
      .sort();
    const expected: string[] = [];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) if (i !== j) expected.push(`${i + 1} ${macs[i]}→${macs[j]} output:${j + 1} idle=${IDLE}`);
    }
    expect(learnt).toEqual(expected.sort());
    expect(flows.length).toBe(1 + expected.length);
  }, 20_000);

  it('carries TCP between h1 and h3 on the installed flows', async () => {
    const mbps = await iperfTcp(r.hosts, 0, 2, 2);
    expect(mbps).toBeGreaterThan(50);
  }, 30_000);
});

describe.each(['tinflow', 'ovs'] as const)('the hub app drives a %s switch', (kind) => {
  const r = rig(kind, 'h', hub(), PORTS[kind] + 4, kind === 'ovs' ? 0xb1n : 0xb2n);

  it('every packet goes through the controller: pings pass, only the table-miss flow exists', async () => {
    for (const [i, j] of [[0, 1], [1, 2], [2, 0]] as const) expect(await ping(r.hosts, i, j, 3), `h${i + 1}→h${j + 1}`).toBe(3);
    const flows = summarize(await r.dp.request(ALL_FLOWS));
    expect(flows).toEqual([{ priority: 0, idle: 0, match: {}, actions: [`output:${OFPP.CONTROLLER}`] }]);
    // each echo request and reply crossed the controller: 3 pairs × 3 pings × 2
    expect(r.packetIns).toBeGreaterThanOrEqual(18);
  }, 60_000);
});
