/**
 * BoundedFlood on os-ken (controller/osken/bounded_flood.py) in place of the in-tree app
 * (controller/apps/bounded-flood.ts), for a node whose config names an external controller.
 *
 * - Same bytes: one seeded stream of events (switch enter and leave, port add, delete and modify, the
 *   node's status changing what a port leads to, packet-ins of every kind: broadcast, multicast, known
 *   and unknown unicast, 802.1D reserved, runts, truncated, buffered, FRB frames good and bad) goes
 *   through both apps; every message each sends for each event must encode to the same bytes (xids
 *   aside), and the counters must agree at the end. The Python side is the app's `--replay` mode; the
 *   in-tree side is the app's handlers called directly, as the controller calls them. A status change
 *   is what the os-ken app sees where the in-tree app is asked (peerOf): a port the status does not
 *   list is "peerOf failed" for the in-tree app, and a port the status lists anew is, for it, a port add.
 * - A mixed overlay in the NAT lab (scripts/natlab.ts, scripts/overlay-lab.ts): three public nodes,
 *   two with the in-tree controller and one whose switch dials an osken-manager running this app in
 *   the node's namespace (the app reads the node's GET /status for port → peer). All 6 ordered pairs
 *   ping across the overlay; a broadcast sent from the os-ken node and one from an in-tree node each
 *   reach every other node exactly once; the os-ken node's flow table (its GET /flows) holds the app's
 *   table-miss, FRB and reserved-drop flows exactly as an in-tree node's table does, and learnt flows.
 *
 * Skipped, saying so, only when osken-manager is missing (apt: python3-os-ken). The lab part needs root,
 * prosody, coturn, nftables, tcpdump and a fresh dist/ (npx tsc -p tsconfig.build.json).
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatapathHandle } from '../../controller/api.js';
import type { HandlerResult, Handlers } from '../../controller/app.js';
import { boundedFlood } from '../../controller/apps/bounded-flood.js';
import { parseFrame } from '../../controller/parsed-packet.js';
import { OFPPC, OFPPS, OFP_NO_BUFFER, type MessageOf, type OFPMessage, type Port, encode } from '../../openflow/index.js';
import { nodeCtl } from '../../overlay/ctl.js';
import type { NodeStatus } from '../../overlay/node.js';
import { type Coturn, type LabNode, NatLab, type Prosody, natLabMissing, publicNode, startCoturn, startProsody } from '../../scripts/natlab.js';
import { inNs } from '../../scripts/netlab.js';
import { ROOT, type RunningNode, TAP_NET, account, distStale, labNodeConfig, ping, startLabNode, statusOf } from '../../scripts/overlay-lab.js';
import { rng } from '../helpers/rng.js';
import { waitFor } from '../helpers/wait.js';

const OSKEN = '/usr/bin/osken-manager';
const PYTHON = '/usr/bin/python3';
const APP = join(ROOT, 'controller', 'osken', 'bounded_flood.py');
const MISSING = existsSync(OSKEN) ? undefined : `${OSKEN} is missing (apt install python3-os-ken)`;
const skipped = (title: string): string => (MISSING === undefined ? title : `${title} — skipped: ${MISSING}`);

// ---- the same events through both apps --------------------------------------------------------------

interface PortJson {
  readonly no: number;
  readonly name: string;
  readonly config: number;
  readonly state: number;
}
interface StatusPort {
  readonly no: number;
  readonly name: string;
  readonly peer?: string;
}
type Ev =
  | { readonly ev: 'config'; readonly nodeId: string; readonly idleTimeout: number; readonly hardTimeout: number; readonly priority: number; readonly maxMacs: number }
  | { readonly ev: 'status'; readonly ports: readonly StatusPort[] }
  | { readonly ev: 'enter'; readonly dpid: string; readonly ports: readonly PortJson[] }
  | { readonly ev: 'leave'; readonly dpid: string }
  | { readonly ev: 'portAdd' | 'portModify' | 'portDelete'; readonly dpid: string; readonly port: PortJson }
  | { readonly ev: 'packetIn'; readonly dpid: string; readonly inPort: number; readonly bufferId: number; readonly totalLen: number; readonly data: string }
  | { readonly ev: 'counters' };

type Outcome = { readonly msgs: readonly string[] } | { readonly counters: unknown } | { readonly error: string };

/** A switch as the app sees it: its id and ports (nothing is sent through it: the handlers return messages). */
class StandIn implements DatapathHandle {
  readonly state = 'main';
  readonly features = undefined;
  readonly peer = 'replay';
  readonly ports = new Map<number, Port>();
  constructor(readonly id: bigint) {}
  send(): number {
    throw new Error('BoundedFlood returns its messages; it never sends through the handle');
  }
  request(): Promise<OFPMessage[]> {
    return Promise.reject(new Error('BoundedFlood makes no requests'));
  }
  close(): void {}
}

function ofPort(p: PortJson): Port {
  return { port_no: p.no, hw_addr: '02:00:00:00:ff:ff', name: p.name, config: p.config, state: p.state, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0 };
}

function messagesOf(r: HandlerResult): readonly OFPMessage[] {
  if (r === undefined) return [];
  if (r instanceof Promise) throw new Error('BoundedFlood answered with a promise');
  return r;
}

type Kind = string;
function kindIn(status: ReadonlyMap<number, StatusPort>, no: number, name: string): Kind {
  const e = status.get(no);
  if (e === undefined || e.name !== name) return 'pending';
  return e.peer === undefined ? 'leaf' : `peer:${e.peer}`;
}

/** The events through the in-tree app: one outcome per event, as the replay prints them. */
function runInTree(events: readonly Ev[]): Outcome[] {
  let status = new Map<number, StatusPort>();
  let flood: ReturnType<typeof boundedFlood> | undefined;
  let on: Handlers = {};
  const dps = new Map<string, StandIn>();
  const entered = new Map<string, StandIn>();
  const dpOf = (dpid: string): StandIn => {
    let dp = dps.get(dpid);
    if (dp === undefined) dps.set(dpid, (dp = new StandIn(BigInt(`0x${dpid}`))));
    return dp;
  };
  const hex = (r: HandlerResult): Outcome => ({ msgs: messagesOf(r).map((m) => encode(m).toString('hex')) });
  return events.map((e): Outcome => {
    switch (e.ev) {
      case 'config':
        // The os-ken app's "not in the status (yet)" is the in-tree app's "peerOf failed": the port is unused.
        flood = boundedFlood({
          nodeId: e.nodeId, idleTimeout: e.idleTimeout, hardTimeout: e.hardTimeout, priority: e.priority, maxMacs: e.maxMacs,
          peerOf: (p) => {
            const s = status.get(p.port_no);
            if (s === undefined || s.name !== p.name) throw new Error(`port ${p.port_no} ${p.name} is not in the status`);
            return s.peer;
          },
        });
        on = flood.app().on;
        return { msgs: [] };
      case 'counters':
        return { counters: flood?.counters() };
      case 'status': {
        // Where the os-ken app learns from a new status that a port leads elsewhere, it takes the port up
        // again, as the in-tree app does on a port add: the same event for the in-tree app.
        const before = status;
        status = new Map(e.ports.map((p) => [p.no, p]));
        const msgs: OFPMessage[] = [];
        for (const dp of entered.values()) {
          for (const p of [...dp.ports.values()].sort((a, b) => a.port_no - b.port_no)) {
            if (kindIn(before, p.port_no, p.name) !== kindIn(status, p.port_no, p.name)) msgs.push(...messagesOf(on.portAdd?.({ dp, port: p })));
          }
        }
        return hex(msgs);
      }
      case 'enter': {
        const dp = dpOf(e.dpid);
        dp.ports.clear();
        for (const p of e.ports) dp.ports.set(p.no, ofPort(p));
        entered.set(e.dpid, dp);
        return hex(on.switchEnter?.({ dp }));
      }
      case 'leave': {
        const dp = dpOf(e.dpid);
        entered.delete(e.dpid);
        return hex(on.switchLeave?.({ dp, reason: 'replay' }));
      }
      case 'portAdd':
      case 'portModify': {
        const dp = dpOf(e.dpid);
        const before = dp.ports.get(e.port.no);
        const port = ofPort(e.port);
        dp.ports.set(e.port.no, port);
        return hex(e.ev === 'portAdd' ? on.portAdd?.({ dp, port }) : on.portModify?.({ dp, port, before }));
      }
      case 'portDelete': {
        const dp = dpOf(e.dpid);
        dp.ports.delete(e.port.no);
        return hex(on.portDelete?.({ dp, port: ofPort(e.port) }));
      }
      case 'packetIn': {
        const dp = dpOf(e.dpid);
        const msg: MessageOf<'OFPPacketIn'> = {
          type: 'OFPPacketIn', xid: 0, buffer_id: e.bufferId, total_len: e.totalLen, reason: 0, table_id: 0, cookie: 0n,
          match: [{ field: 'in_port', value: e.inPort }], data: Buffer.from(e.data, 'hex'),
        };
        return hex(on.packetIn?.({ dp, msg, inPort: e.inPort, get packet() { return parseFrame(msg.data); } }));
      }
    }
  });
}

/** The events through the os-ken app's replay mode. */
function runOsken(events: readonly Ev[]): Outcome[] {
  const out = execFileSync(PYTHON, [APP, '--replay'], { input: events.map((e) => JSON.stringify(e)).join('\n') + '\n', maxBuffer: 256 << 20 }).toString();
  return out.trim().split('\n').map((l) => JSON.parse(l) as Outcome);
}

/** Fails naming the first event whose outcomes differ, the message and its first differing byte. */
function compare(label: string, events: readonly Ev[], ours: readonly Outcome[], theirs: readonly Outcome[]): void {
  expect(theirs.length, `${label}: the replay answered ${theirs.length} of ${events.length} events`).toBe(events.length);
  for (let i = 0; i < events.length; i++) {
    const a = ours[i] as Outcome;
    const b = theirs[i] as Outcome;
    const what = `${label}, event ${i} ${JSON.stringify(events[i]).slice(0, 300)}`;
    if ('error' in b) throw new Error(`${what}: the os-ken app failed: ${b.error}`);
    if ('counters' in a || 'counters' in b) {
      expect('counters' in b ? b.counters : b, `${what}: counters`).toEqual('counters' in a ? JSON.parse(JSON.stringify(a.counters)) : a);
      continue;
    }
    if (!('msgs' in a) || !('msgs' in b)) throw new Error(`${what}: unexpected outcomes ${JSON.stringify(a)} / ${JSON.stringify(b)}`);
    for (let k = 0; k < Math.max(a.msgs.length, b.msgs.length); k++) {
      const x = a.msgs[k];
      const y = b.msgs[k];
      if (x === y) continue;
      let off = 0;
      while (x !== undefined && y !== undefined && x.slice(off * 2, off * 2 + 2) === y.slice(off * 2, off * 2 + 2)) off++;
      throw new Error(
        `${what}: message ${k} of ${a.msgs.length} (in-tree) / ${b.msgs.length} (os-ken) differs at byte ${off}\n` +
          `  in-tree ${x ?? '(none)'}\n  os-ken  ${y ?? '(none)'}`,
      );
    }
  }
}

// Node ids round the ring; SELF in the middle, neighbours on both sides, FAR ones never linked.
const nid = (k: number): string => k.toString(16).padStart(2, '0') + 'a5'.repeat(15);
const SELF = nid(0x50);
const PEERS = [nid(0x10), nid(0x30), nid(0x80), nid(0xc0)];
const FAR = [nid(0x60), nid(0xe0), nid(0x20)];
const DPID = SELF.slice(0, 16);
const BCAST = 'ffffffffffff';
const host = (k: number): string => `0200000000${k.toString(16).padStart(2, '0')}`;
const HOSTS = Array.from({ length: 8 }, (_, k) => host(k + 1));

/** The ports a switch may have: leaves, peer ports (two to one peer), a port leading to the node itself. */
const POOL: readonly { readonly no: number; readonly name: string; readonly peer?: string }[] = [
  { no: 1, name: 'tf-node' },
  { no: 2, name: 'leaf2' },
  { no: 3, name: 'tf10a5a5a5a5', peer: PEERS[0] as string },
  { no: 4, name: 'tf30a5a5a5a5', peer: PEERS[1] as string },
  { no: 5, name: 'tf80a5a5a5a5', peer: PEERS[2] as string },
  { no: 6, name: 'tfc0a5a5a5a5', peer: PEERS[3] as string },
  { no: 7, name: 'tf30a5a5a5a5b', peer: PEERS[1] as string },
  { no: 8, name: 'tfself', peer: SELF },
  { no: 9, name: 'unlisted' },
];

function generate(seed: number, count: number, cfg: { idleTimeout: number; hardTimeout: number; priority: number; maxMacs: number }): Ev[] {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const hexBytes = (n: number): string => Array.from({ length: n }, () => int(256).toString(16).padStart(2, '0')).join('');
  const payload = (): string => hexBytes(20 + int(40));
  const events: Ev[] = [{ ev: 'config', nodeId: SELF, ...cfg }];
  // The status: most of the pool as it is, port 9 never; changed now and then.
  const listed = (): StatusPort[] =>
    POOL.filter((p) => p.no !== 9 && r() < 0.9).map((p) => {
      if (r() < 0.05) return { no: p.no, name: `${p.name}-renamed` };
      if (p.peer !== undefined && r() < 0.1) return { no: p.no, name: p.name, peer: pick(PEERS) };
      return p.peer === undefined ? { no: p.no, name: p.name } : { no: p.no, name: p.name, peer: p.peer };
    });
  events.push({ ev: 'status', ports: listed() });
  const ports = new Map<number, PortJson>();
  const liveness = (): { config: number; state: number } => ({ config: r() < 0.1 ? OFPPC.PORT_DOWN : 0, state: r() < 0.1 ? OFPPS.LINK_DOWN : 0 });
  for (const p of POOL) if (r() < 0.6) ports.set(p.no, { no: p.no, name: p.name, ...liveness() });
  events.push({ ev: 'enter', dpid: DPID, ports: [...ports.values()] });

  const eth = (dst: string, src: string, type: string, body = payload()): string => dst + src + type + body;
  const inner = (): string => {
    const x = int(10);
    if (x < 4) return eth(BCAST, pick(HOSTS), '0806');
    if (x < 8) return eth(pick(HOSTS), pick(HOSTS), '0800');
    if (x < 9) return eth('01005e0000fb', pick(HOSTS), '0800');
    return eth(BCAST, '03' + hexBytes(5), '0800'); // a group source inside
  };
  // The outer source is the carried frame's (a host's when the carried frame is too short to have one).
  const frb = (root: string, bound: string, hop: number, type: number, body: string, dst = BCAST, src?: string): string =>
    dst + (src ?? (body.length >= 24 ? body.slice(12, 24) : pick(HOSTS))) + 'c0c0' + root + bound + [hop, type, 0].map((v) => v.toString(16).padStart(2, '0')).join('') + body;
  const anyId = (): string => (r() < 0.1 ? hexBytes(16) : pick([SELF, ...PEERS, ...FAR]));
  const frame = (): { data: string; totalLen?: number } => {
    const x = int(100);
    if (x < 15) return { data: eth(BCAST, pick(HOSTS), '0806') };
    if (x < 40) return { data: eth(r() < 0.9 ? pick(HOSTS) : host(0x77), pick(HOSTS), '0800') };
    if (x < 45) return { data: eth(pick(['01005e000001', '333300000001', '01005e7f0001']), pick(HOSTS), '86dd') };
    if (x < 48) return { data: eth(`0180c20000${int(32).toString(16).padStart(2, '0')}`, pick(HOSTS), '88cc') };
    if (x < 50) return { data: eth(pick(HOSTS), '01' + hexBytes(5), '0800') };
    if (x < 52) return { data: hexBytes(int(14)) };
    if (x < 54) {
      const d = eth(pick(HOSTS), pick(HOSTS), '0800');
      return { data: d, totalLen: d.length / 2 + 1 + int(100) };
    }
    if (x < 85) return { data: frb(anyId(), anyId(), r() < 0.25 ? pick([254, 255]) : int(8), 0, inner()) };
    // Bad FRB frames, and types BoundedFlood does not carry.
    const y = int(7);
    if (y === 0) return { data: (BCAST + pick(HOSTS) + 'c0c0' + hexBytes(35)).slice(0, 2 * (14 + int(35))) };
    if (y === 1) return { data: frb(anyId(), anyId(), 1, 5 + int(251), inner()) };
    if (y === 2) return { data: frb(anyId(), anyId(), 1, 1 + int(4), inner()) };
    if (y === 3) return { data: frb(anyId(), anyId(), 1, int(3), hexBytes(int(14))) };
    if (y === 4) return { data: frb(anyId(), anyId(), 1, 0, inner(), pick(HOSTS)) };
    if (y === 5) return { data: frb(anyId(), anyId(), 1, 0, inner(), BCAST, pick(HOSTS)) };
    return { data: frb(SELF, anyId(), 3, 0, inner()) };
  };

  let inSwitch = true;
  while (events.length < count) {
    const x = int(100);
    if (x < 60) {
      const f = frame();
      // FRB frames mostly from peer ports and plain ones mostly from leaves, where they do most.
      const isFrb = f.data.slice(24, 28) === 'c0c0';
      const present = [...ports.keys()];
      const likely = present.filter((no) => (POOL.find((p) => p.no === no)?.peer !== undefined) === isFrb);
      const inPort = r() < 0.05 || present.length === 0 ? pick([9, 42, ...POOL.map((p) => p.no)]) : pick(r() < 0.7 && likely.length > 0 ? likely : present);
      const buffered = r() < 0.1;
      events.push({ ev: 'packetIn', dpid: DPID, inPort, bufferId: buffered ? int(0xffff) : OFP_NO_BUFFER, totalLen: f.totalLen ?? f.data.length / 2, data: f.data });
    } else if (x < 70) {
      const absent = POOL.filter((p) => !ports.has(p.no));
      if (absent.length === 0) continue;
      const p = pick(absent);
      const port = { no: p.no, name: p.name, ...liveness() };
      ports.set(p.no, port);
      events.push({ ev: 'portAdd', dpid: DPID, port });
    } else if (x < 77) {
      const present = [...ports.values()];
      if (present.length === 0) continue;
      const port = pick(present);
      ports.delete(port.no);
      events.push({ ev: 'portDelete', dpid: DPID, port });
    } else if (x < 92) {
      const present = [...ports.values()];
      if (present.length === 0) continue;
      const port = { ...pick(present), ...liveness() };
      ports.set(port.no, port);
      events.push({ ev: 'portModify', dpid: DPID, port });
    } else if (x < 97) {
      events.push({ ev: 'status', ports: listed() });
    } else if (inSwitch) {
      inSwitch = false;
      events.push({ ev: 'leave', dpid: DPID });
    } else {
      inSwitch = true;
      events.push({ ev: 'enter', dpid: DPID, ports: [...ports.values()] });
    }
  }
  events.push({ ev: 'counters' });
  return events;
}

describe.skipIf(MISSING !== undefined)(skipped('the os-ken app sends what the in-tree app sends'), () => {
  const totals = new Map<string, number>();
  const add = (c: unknown, prefix = ''): void => {
    if (c === null || typeof c !== 'object') return;
    for (const [k, v] of Object.entries(c)) {
      if (typeof v === 'number') totals.set(prefix + k, (totals.get(prefix + k) ?? 0) + v);
      else add(v, `${prefix}${k}.`);
    }
  };

  it.each([
    { seed: 1, idleTimeout: 60, hardTimeout: 0, priority: 1, maxMacs: 65536 },
    { seed: 2, idleTimeout: 5, hardTimeout: 300, priority: 7, maxMacs: 4 },
    { seed: 3, idleTimeout: 0, hardTimeout: 0, priority: 0xffff, maxMacs: 3 },
    { seed: 4, idleTimeout: 60, hardTimeout: 0, priority: 1, maxMacs: 65536 },
  ])('seed $seed: the same messages, byte for byte, and the same counters', ({ seed, ...cfg }) => {
    const events = generate(seed, 900, cfg);
    const ours = runInTree(events);
    compare(`seed ${seed}`, events, ours, runOsken(events));
    const last = ours[ours.length - 1];
    if (last !== undefined && 'counters' in last) add(last.counters);
  });

  it('the seeds reached every path: each drop reason, relays, eviction, re-pointing', () => {
    for (const k of ['received', 'relayed', 'originated', 'unknownUnicast', 'delivered', 'evicted', 'flowsInstalled', 'flowsRepointed']) {
      expect(totals.get(k) ?? 0, k).toBeGreaterThan(0);
    }
    for (const [k, v] of totals) if (k.startsWith('dropped.')) expect(v, k).toBeGreaterThan(0);
    expect([...totals.keys()].filter((k) => k.startsWith('dropped.')).length).toBe(11);
  });

  it('a port the status lists late is taken up then: the FRB copies go to it', () => {
    const port = (no: number, name: string): PortJson => ({ no, name, config: 0, state: 0 });
    const arp = BCAST + host(1) + '0806' + '00'.repeat(28);
    const events: Ev[] = [
      { ev: 'config', nodeId: SELF, idleTimeout: 60, hardTimeout: 0, priority: 1, maxMacs: 65536 },
      { ev: 'enter', dpid: DPID, ports: [port(1, 'tf-node'), port(3, 'tf10a5a5a5a5')] },
      { ev: 'packetIn', dpid: DPID, inPort: 1, bufferId: OFP_NO_BUFFER, totalLen: arp.length / 2, data: arp },
      { ev: 'status', ports: [{ no: 1, name: 'tf-node' }, { no: 3, name: 'tf10a5a5a5a5', peer: PEERS[0] as string }] },
      { ev: 'packetIn', dpid: DPID, inPort: 1, bufferId: OFP_NO_BUFFER, totalLen: arp.length / 2, data: arp },
      { ev: 'counters' },
    ];
    const ours = runInTree(events);
    compare('late status', events, ours, runOsken(events));
    const msgs = (i: number): readonly string[] => {
      const o = ours[i];
      return o !== undefined && 'msgs' in o ? o.msgs : [];
    };
    expect(msgs(2)).toEqual([]); // neither port is known yet: dropped as unknown-port
    // Then a broadcast from the TAP goes to the peer inside FRB: a packet-out whose frame is ethertype 0xc0c0.
    expect(msgs(4).some((m) => m.includes(`${BCAST}${host(1)}c0c0${SELF}`))).toBe(true);
  });
});

// ---- a mixed overlay in the NAT lab -----------------------------------------------------------------

const NAMES = ['n1', 'n2', 'n3'] as const;
type Name = (typeof NAMES)[number];
const ID: Record<Name, string> = {
  n1: '1a000000000000000000000000000000',
  n2: '7c000000000000000000000000000000',
  n3: 'de000000000000000000000000000000',
};
const IP: Record<Name, number> = { n1: 1, n2: 2, n3: 3 };
/** The node os-ken drives; its ports inside its own namespace. */
const KEN: Name = 'n2';
const OFP_PORT = 6653;
const STATUS_PORT = 9410;

/** Flow lines without their counters and age. */
const flowShape = (lines: readonly string[]): string[] => lines.map((l) => l.replace(/ n_packets=\d+ n_bytes=\d+ duration=\d+s/, '')).sort();
const BASE = 'cookie=0x4246000000000000';
const LEARNT = 'cookie=0x42464c4541524e54';

describe.skipIf(MISSING !== undefined)(skipped('three nodes, one driven by os-ken'), () => {
  let nat: NatLab;
  let prosody: Prosody;
  let coturn: Coturn;
  const labs: Partial<Record<Name, LabNode>> = {};
  const nodes: Partial<Record<Name, RunningNode>> = {};
  let osken: ChildProcess | undefined;
  const oskenLog: string[] = [];
  const oskenTail = (n = 20): string => oskenLog.slice(-n).join('\n');

  beforeAll(async () => {
    const missing = natLabMissing();
    if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables)`);
    const stale = distStale();
    if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
    nat = new NatLab('ok');
    for (const n of NAMES) labs[n] = publicNode(nat, n);
    [prosody, coturn] = await Promise.all([startProsody(nat, { accounts: NAMES.map((n) => account(n)) }), startCoturn(nat, { user: 'tf', password: 'tf-pass' })]);
  }, 60_000);

  afterAll(async () => {
    await nat?.close();
  }, 30_000);

  const node = (n: Name): RunningNode => {
    const x = nodes[n];
    if (x === undefined) throw new Error(`${n} is not running`);
    return x;
  };
  const oskenAlive = (): void => {
    if (osken !== undefined && (osken.exitCode !== null || osken.signalCode !== null)) throw new Error(`osken-manager exited (${osken.exitCode ?? osken.signalCode}):\n${oskenTail()}`);
  };

  /** GET path on the os-ken node's status endpoint, from inside its namespace (it listens on its loopback). */
  const getFromKen = (path: string): string =>
    inNs((labs[KEN] as LabNode).ns, process.execPath, '-e', `fetch('http://127.0.0.1:${STATUS_PORT}${path}').then(async (r) => { if (!r.ok) throw new Error(r.status); process.stdout.write(await r.text()); })`);

  it('forms, and every node reaches every other (all 6 ordered pairs)', async () => {
    // os-ken first, in the node's namespace, so the switch finds it on its first dial.
    const ns = (labs[KEN] as LabNode).ns;
    osken = nat.lab.spawnIn(ns, OSKEN, [
      '--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(OFP_PORT),
      '--user-flags', APP, '--bf-node-id', ID[KEN], '--bf-status-url', `http://127.0.0.1:${STATUS_PORT}/status`, APP,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    createInterface({ input: osken.stderr as NodeJS.ReadableStream }).on('line', (l) => {
      oskenLog.push(l);
      if (oskenLog.length > 4000) oskenLog.splice(0, 2000);
    });
    await waitFor('osken-manager listening', () => inNs(ns, 'ss', '-Hltn', 'sport', `= :${OFP_PORT}`).includes(String(OFP_PORT)), 20_000, { check: oskenAlive, detail: oskenTail });

    for (const n of NAMES) {
      const extra: Record<string, unknown> = { Topology: { MinConnectedMs: 0 } };
      if (n === KEN) {
        extra.Controller = { Target: `tcp:127.0.0.1:${OFP_PORT}`, FailMode: 'secure' };
        extra.Status = { Listen: `127.0.0.1:${STATUS_PORT}` };
      }
      const cfg = labNodeConfig(prosody, coturn, n, { nodeId: ID[n], ip: IP[n], turn: false, extra });
      nodes[n] = startLabNode(nat, labs[n] as LabNode, n, cfg);
    }
    await waitFor('the overlay formed (every node linked to both others)', async () => {
      oskenAlive();
      for (const n of NAMES) {
        node(n).alive();
        const s = await statusOf(node(n));
        if (s === undefined || s.links.filter((l) => l.state === 'up' && l.port !== undefined).length < 2) return false;
      }
      return true;
    }, 40_000, { intervalMs: 250, detail: () => `${NAMES.map((n) => `${n}: ${node(n).tail(4)}`).join('\n')}\nos-ken:\n${oskenTail(8)}` });
    const s: NodeStatus = await node(KEN).status();
    expect(s.controller).toMatchObject({ kind: 'external', target: `tcp:127.0.0.1:${OFP_PORT}`, connected: true });
    // What the app reads: the TAP without a peer, each link's port with its peer.
    const st = JSON.parse(getFromKen('/status')) as { nodeId: string; ports: { no: number; name: string; peer?: string }[] };
    expect(st.nodeId).toBe(ID[KEN]);
    expect(st.ports.filter((p) => p.peer === undefined).map((p) => p.no)).toEqual([1]);
    expect(st.ports.map((p) => p.peer).filter((p) => p !== undefined).sort()).toEqual([ID.n1, ID.n3]);

    const pending = new Set<string>();
    for (const a of NAMES) for (const b of NAMES) if (a !== b) pending.add(`${a}>${b}`);
    await waitFor('all 6 ordered pairs ping', async () => {
      oskenAlive();
      for (const pair of [...pending]) {
        const [from, to] = pair.split('>') as [Name, Name];
        node(from).alive();
        if (ping(node(from), `${TAP_NET}.${IP[to]}`, 1, { waitS: 1 }).received === 1) pending.delete(pair);
      }
      return pending.size === 0;
    }, 40_000, { intervalMs: 200, detail: () => `pairs still failing: ${[...pending].join(' ')}\nos-ken:\n${oskenTail(8)}` });
    // ARP crossed the overlay both ways through the os-ken node's switch.
    for (const a of NAMES) {
      for (const b of NAMES) {
        if (a === b) continue;
        expect(inNs(node(a).lab.ns, 'ip', 'neigh', 'show', `${TAP_NET}.${IP[b]}`, 'dev', `tf-${a}`)).toContain((await node(b).status()).tap.hwAddr);
      }
    }
  }, 90_000);

  /** One broadcast ping from `from`; the copies of it that each other node's TAP gets. */
  async function broadcastCopies(from: Name, pattern: string): Promise<Record<string, number>> {
    const dumps: { name: Name; proc: ChildProcess; out: string[] }[] = [];
    try {
      for (const n of NAMES) {
        if (n === from) continue;
        // Only ICMP echo requests to the overlay's broadcast address: nothing the kernel sends by itself.
        const proc = nat.lab.spawnIn(node(n).lab.ns, 'tcpdump', ['-i', `tf-${n}`, '-n', '-l', '-e', 'icmp[icmptype] = icmp-echo and dst host 10.10.10.255'], { stdio: ['ignore', 'pipe', 'pipe'] });
        const out: string[] = [];
        let listening = false;
        proc.stdout?.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter((l) => l.trim() !== '')));
        proc.stderr?.on('data', (d: Buffer) => {
          if (d.toString().includes('listening on')) listening = true;
        });
        dumps.push({ name: n, proc, out });
        await waitFor(`tcpdump on ${n} listening`, () => listening, 10_000);
      }
      try {
        inNs(node(from).lab.ns, 'ping', '-b', '-c', '1', '-W', '1', '-p', pattern, `${TAP_NET}.255`);
      } catch {
        /* nobody answers a broadcast ping (icmp_echo_ignore_broadcasts): that is expected */
      }
      await waitFor(`the broadcast from ${from} at every other node`, () => dumps.every((d) => d.out.length >= 1), 10_000, {
        detail: () => JSON.stringify(Object.fromEntries(dumps.map((d) => [d.name, d.out]))),
      });
      await new Promise((r) => setTimeout(r, 1500)); // a duplicate would be here by now
      return Object.fromEntries(dumps.map((d) => [d.name, d.out.length]));
    } finally {
      for (const d of dumps) d.proc.kill('SIGTERM');
    }
  }

  it('a broadcast from the os-ken node, and one from an in-tree node, reach each other node exactly once', async () => {
    expect(await broadcastCopies(KEN, 'c0ffee')).toEqual({ n1: 1, n3: 1 });
    expect(await broadcastCopies('n1', 'b0a7ed')).toEqual({ n2: 1, n3: 1 });
    oskenAlive();
  }, 60_000);

  it("the os-ken node's flow table holds the app's flows, as an in-tree node's does", async () => {
    const ken = flowShape(JSON.parse(getFromKen('/flows')) as string[]);
    const inTree = flowShape((await nodeCtl(node('n1').ctl, 'dump-flows')) as string[]);
    const base = (lines: string[]): string[] => lines.filter((l) => l.includes(BASE));
    // Table-miss to the controller (whole frames), FRB to the controller, 802.1D reserved dropped.
    expect(base(ken)).toHaveLength(3);
    const table = base(ken).join('\n');
    expect(table).toMatch(/^table=0 priority=0 cookie=0x4246000000000000 \(all\) actions=apply\(Output:4294967293\)$/m);
    expect(table).toMatch(/^table=0 priority=100 cookie=0x4246000000000000 eth_type=(49344|0xc0c0) actions=apply\(Output:4294967293\)$/m);
    expect(table).toMatch(/^table=0 priority=100 cookie=0x4246000000000000 eth_dst=01:80:c2:00:00:00\/ff:ff:ff:ff:ff:f0 actions=drop$/m);
    expect(base(ken)).toEqual(base(inTree));
    // The pings left learnt unicast flows (priority 1, the app's cookie) on both kinds of node.
    expect(ken.filter((l) => l.includes(LEARNT) && l.includes('priority=1 ')).length).toBeGreaterThan(0);
    expect(inTree.filter((l) => l.includes(LEARNT) && l.includes('priority=1 ')).length).toBeGreaterThan(0);
    // And the app never failed.
    oskenAlive();
    expect(oskenLog.filter((l) => /Traceback|handler failed|Error/.test(l)), oskenTail()).toEqual([]);
  }, 30_000);
});
