/**
 * BoundedFlood drives Open vSwitch (userspace datapath, `datapath_type=netdev`): the same app as
 * bounded-flood.test.ts, over OpenFlow 1.3 on TCP, with real frames between real interfaces.
 *
 * Three nodes: three OVS bridges (fail_mode secure), each with its own in-process Controller listening
 * on tcp:127.0.0.1:0 and its own boundedFlood. A veth pair between every two bridges stands in for a
 * link (MTU 1600: FRB adds 49 bytes); each bridge has a leaf veth into a namespace holding an IPv4 host
 * with IPv6 off, so no host sends anything by itself. Checked: every pair of hosts pings; one crafted
 * broadcast from each host reaches each other host exactly once and never its sender (tcpdump in each
 * namespace, incoming only); the learnt flows are on the bridges; no FRB frame was malformed or came back.
 *
 * Root only, Open vSwitch running (scripts/test.sh starts it); otherwise skipped, saying why. Names are
 * per run (scripts/netlab.ts Lab); bridges, veths, namespaces and processes are removed afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BoundedFlood, LEARNT_COOKIE, boundedFlood } from '../../controller/apps/bounded-flood.js';
import type { DatapathHandle } from '../../controller/api.js';
import { Controller } from '../../controller/controller.js';
import { OFPP, type OFPMessage } from '../../openflow/index.js';
import { Lab, inNs, ip, quietIpv6 } from '../../scripts/netlab.js';
import { stopProcess } from '../../base/shutdown.js';
import { type Hosts, ping } from '../switch/switch-lab.js';
import { waitFor } from '../helpers/wait.js';

/** Why this cannot run here, or undefined. */
function cannotRun(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, veths, OVS)';
  const r = spawnSync('ovs-vsctl', ['-t', '5', 'show'], { encoding: 'utf8' });
  if (r.error) return `ovs-vsctl cannot run: ${r.error.message}`;
  if (r.status !== 0) return `ovs-vsctl show failed (is Open vSwitch running? scripts/test.sh starts it): ${r.stderr.trim().slice(0, 200)}`;
  return undefined;
}

const why = cannotRun();
const N = 3;
const LINKS: [number, number][] = [[0, 1], [1, 2], [2, 0]];
const NODE_IDS = ['3c', '7a', 'b1'].map((p) => p + '5e'.repeat(15));
const LINK_MTU = 1600;
const ETH_TEST = 0x88b5;

interface OvsNode {
  readonly id: string;
  readonly bridge: string;
  readonly dpid: bigint;
  readonly ctl: Controller;
  readonly bf: BoundedFlood;
  dp?: DatapathHandle;
}

const ALL_FLOWS: OFPMessage = { type: 'OFPFlowStatsRequest', xid: 0, flags: 0, table_id: 0xff, out_port: OFPP.ANY, out_group: 0xffffffff, cookie: 0n, cookie_mask: 0n, match: [] };

describe.skipIf(why !== undefined)(`BoundedFlood drives three Open vSwitch netdev bridges${why ? ` (skipped: ${why})` : ''}`, () => {
  const lab = new Lab('bf');
  const nodes: OvsNode[] = [];
  const hostIf = (i: number): string => lab.name(`e${i}`);
  let hosts: Hosts;

  beforeAll(async () => {
    const ns: string[] = [];
    const leaves: string[] = [];
    for (let i = 0; i < N; i++) {
      ns.push(lab.ns(`h${i}`));
      leaves.push(lab.name(`l${i}`));
      lab.veth(lab.name(`l${i}`), hostIf(i));
      lab.move(hostIf(i), ns[i] as string, `10.77.0.${i + 1}/24`);
    }
    hosts = { lab, ns, ports: leaves, addr: (i) => `10.77.0.${i + 1}` };
    // Link ends: k<a><b> is node a's end of the link to node b.
    const names = Array.from({ length: N }, () => new Map<string, string>());
    for (const [a, b] of LINKS) {
      const ea = lab.name(`k${a}${b}`);
      const eb = lab.name(`k${b}${a}`);
      lab.veth(ea, eb);
      for (const e of [ea, eb]) ip('link', 'set', e, 'mtu', String(LINK_MTU));
      // registered before the port joins the bridge, as the overlay node does
      names[a]?.set(ea, NODE_IDS[b] as string);
      names[b]?.set(eb, NODE_IDS[a] as string);
    }
    for (let i = 0; i < N; i++) {
      const bridge = lab.name(`b${i}`);
      const dpid = (0xbfn << 40n) | (BigInt(process.pid) << 8n) | BigInt(i);
      execFileSync('ovs-vsctl', [
        'add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev', 'protocols=OpenFlow13',
        `other_config:datapath-id=${dpid.toString(16).padStart(16, '0')}`, 'other_config:disable-in-band=true', '--', 'set-fail-mode', bridge, 'secure',
      ]);
      // the bridge's own (LOCAL) interface stays down and quiet: reported down, it is no leaf port
      quietIpv6(bridge);
      execFileSync('ovs-vsctl', ['add-port', bridge, leaves[i] as string, '--', 'set', 'interface', leaves[i] as string, 'ofport_request=1']);
      for (const [a, b] of LINKS) {
        if (a !== i && b !== i) continue;
        const other = a === i ? b : a;
        const end = lab.name(`k${i}${other}`);
        execFileSync('ovs-vsctl', ['add-port', bridge, end, '--', 'set', 'interface', end, `ofport_request=${10 + other}`]);
      }
      const peerMap = names[i] as Map<string, string>;
      const bf = boundedFlood({ nodeId: NODE_IDS[i] as string, peerOf: (p) => peerMap.get(p.name), idleTimeout: 60 });
      const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], apps: [bf.app] });
      await ctl.start();
      nodes.push({ id: NODE_IDS[i] as string, bridge, dpid, ctl, bf });
      execFileSync('ovs-vsctl', ['set-controller', bridge, ctl.addresses()[0] as string]);
    }
    for (const n of nodes) n.dp = await waitFor(`bridge ${n.bridge} to connect to its controller`, () => n.ctl.datapath(n.dpid), 20_000);
    // every bridge has its base flows before the hosts talk
    for (const n of nodes) await waitFor(`the base flows on ${n.bridge}`, async () => (await (n.dp as DatapathHandle).request(ALL_FLOWS)).some((r) => r.type === 'OFPFlowStatsReply' && r.body.length >= 3), 10_000);
  }, 90_000);

  afterAll(async () => {
    for (const n of nodes) await n.ctl.stop();
    for (let i = 0; i < N; i++) spawnSync('ovs-vsctl', ['--if-exists', 'del-br', lab.name(`b${i}`)]);
    await lab.close();
  });

  it('knows each bridge: one leaf port, two peer ports (the LOCAL port is down, so unused)', () => {
    for (const [i, n] of nodes.entries()) {
      const ports = [...(n.dp as DatapathHandle).ports.keys()].filter((p) => p !== OFPP.LOCAL).sort((a, b) => a - b);
      expect(ports, n.bridge).toEqual([1, ...[0, 1, 2].filter((j) => j !== i).map((j) => 10 + j)]);
    }
  });

  it('every pair of hosts pings (ARP broadcasts carried by FRB, replies and echoes by learnt flows)', async () => {
    const lost: string[] = [];
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        if (i === j) continue;
        const got = await ping(hosts, i, j, 3);
        if (got !== 3) lost.push(`h${i}→h${j}: ${3 - got}/3 lost`);
      }
    }
    expect(lost).toEqual([]);
    // a host that learnt the others from their requests never asks itself: some node may originate none
    expect(nodes.reduce((s, n) => s + n.bf.counters().originated, 0)).toBeGreaterThan(0);
    for (const n of nodes) {
      const c = n.bf.counters();
      expect(c.received, n.bridge).toBeGreaterThan(0);
      expect(c.flowsInstalled, n.bridge).toBeGreaterThan(0);
      const flows = (await (n.dp as DatapathHandle).request(ALL_FLOWS)).flatMap((r) => (r.type === 'OFPFlowStatsReply' ? r.body : []));
      expect(flows.filter((f) => f.cookie === LEARNT_COOKIE).length, `learnt flows on ${n.bridge}`).toBeGreaterThan(0);
    }
  }, 90_000);

  it('one broadcast from each host reaches every other host exactly once, and never its sender', async () => {
    const macs = hosts.ns.map((ns, i) => inNs(ns, 'cat', `/sys/class/net/${hostIf(i)}/address`).trim());
    // tcpdump on each host: incoming frames of the test ethertype, one line each, source MAC first
    const seen: string[][] = hosts.ns.map(() => []);
    const dumps = hosts.ns.map((ns, i) => {
      const p = lab.spawnIn(ns, 'tcpdump', ['-i', hostIf(i), '-Q', 'in', '-n', '-e', '-l', '--immediate-mode', 'ether', 'proto', String(ETH_TEST)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      let buf = '';
      p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      p.stdout?.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        // a frame's line starts with its time, then "SRC > DST"; the payload's hex dump follows indented
        for (const l of lines) {
          const m = /^\S+ ([0-9a-f:]{17}) > /.exec(l);
          if (m) (seen[i] as string[]).push(m[1] as string);
        }
      });
      return { p, ready: () => err.includes('listening on') };
    });
    try {
      for (const [i, d] of dumps.entries()) await waitFor(`tcpdump on host ${i} to listen`, () => d.ready(), 15_000);
      const delivered = nodes.map((n) => n.bf.counters().delivered);
      for (const [i, ns] of hosts.ns.entries()) {
        const frame = Buffer.alloc(60);
        frame.fill(0xff, 0, 6);
        Buffer.from((macs[i] as string).replace(/:/g, ''), 'hex').copy(frame, 6);
        frame.writeUInt16BE(ETH_TEST, 12);
        frame.write(`bounded-flood test from host ${i}`, 14);
        inNs(ns, '/usr/bin/python3', '-c', 'import socket,sys; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((sys.argv[1], 0)); s.send(bytes.fromhex(sys.argv[2]))', hostIf(i), frame.toString('hex'));
      }
      const expected = (i: number): string[] => macs.filter((_, j) => j !== i).sort();
      await waitFor('each host to see the others\' broadcasts', () => seen.every((s, i) => s.length >= expected(i).length), 15_000, {
        detail: () => JSON.stringify(seen),
      });
      // time for a duplicate to show up, if there were one
      await new Promise((r) => setTimeout(r, 1500));
      seen.forEach((s, i) => expect([...s].sort(), `host ${i} (${macs[i]}) saw`).toEqual(expected(i)));
      // each node handed each of the two other hosts' broadcasts to its leaf once
      nodes.forEach((n, i) => expect(n.bf.counters().delivered - (delivered[i] as number), n.bridge).toBe(N - 1));
    } finally {
      await Promise.all(dumps.map((d) => stopProcess(d.p)));
    }
    for (const n of nodes) {
      const c = n.bf.counters();
      expect([c.dropped['own-root'], c.dropped['bad-header'], c.dropped['peer-plain-multicast']], n.bridge).toEqual([0, 0, 0]);
      expect(n.ctl.counters.appErrors, n.bridge).toBe(0);
    }
  }, 60_000);
});
