/**
 * What the overlay fault tests (test/faults/*.test.ts) share: a NAT lab (scripts/natlab.ts) with named
 * nodes behind routers or on the public net, `tinflow node` processes started and restarted in their own
 * folders (scripts/overlay-lab.ts), all-pairs pings, a ping running in the background across an outage,
 * and the clock for recovery times. Not a test file: the faults import it.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type LabNode, NatLab, type NatRouter, type Coturn, type Prosody, natLabMissing, natRouter, nodeBehind, publicNode, startCoturn, startProsody, stunMappedAddress } from '../../scripts/natlab.js';
import { type RunningNode, TAP_NET, account, distStale, labNodeConfig, ping, startLabNode, statusOf } from '../../scripts/overlay-lab.js';
import type { NodeStatus } from '../../overlay/node.js';
import { afterAll, beforeAll } from 'vitest';
import { waitFor } from '../helpers/wait.js';

/** Where a lab node sits: behind a default home NAT, behind a symmetric NAT, or on the public net. */
export type Place = 'nat' | 'symmetric' | 'public';

export interface FaultNodeSpec {
  readonly name: string;
  readonly id: string;
  /** The TAP address's last octet (10.10.10.<ip>). */
  readonly ip: number;
  readonly place: Place;
}

/**
 * Opens a fault test's describe(): before its tests, the lab (checkLab first) with prosody and coturn up;
 * after them, the figures the tests wrote printed (`faults figures (what): {...}`) and the lab closed.
 * `use` receives the lab as soon as it exists; the figures object is returned for the tests to fill.
 */
export function faultSuite(tag: string, specs: readonly FaultNodeSpec[], what: string, use: (lab: FaultLab) => void): Record<string, unknown> {
  const figures: Record<string, unknown> = {};
  let lab: FaultLab | undefined;
  beforeAll(async () => {
    checkLab();
    lab = new FaultLab(tag, specs);
    use(lab);
    await lab.services();
  }, 60_000);
  afterAll(async () => {
    if (Object.keys(figures).length > 0) process.stdout.write(`faults figures (${what}): ${JSON.stringify(figures)}\n`);
    await lab?.close();
  }, 30_000);
  return figures;
}

/** Throws unless this machine can run the NAT lab and dist/ is fresh. */
export function checkLab(): void {
  const missing = natLabMissing();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables)`);
  const stale = distStale();
  if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
}

export class FaultLab {
  readonly nat: NatLab;
  prosody!: Prosody;
  coturn!: Coturn;
  readonly labs = new Map<string, LabNode>();
  readonly routers = new Map<string, NatRouter>();
  readonly nodes = new Map<string, RunningNode>();
  private readonly dirs = new Map<string, string>();
  private readonly specs = new Map<string, FaultNodeSpec>();

  /** The namespaces of every spec (each node behind a router of its own). Call start() next. */
  constructor(tag: string, specs: readonly FaultNodeSpec[]) {
    this.nat = new NatLab(tag);
    for (const s of specs) {
      this.specs.set(s.name, s);
      if (s.place === 'public') this.labs.set(s.name, publicNode(this.nat, s.name));
      else {
        const r = natRouter(this.nat, { name: `r${s.name}`, symmetric: s.place === 'symmetric' });
        this.routers.set(s.name, r);
        this.labs.set(s.name, nodeBehind(r, s.name));
      }
    }
  }

  /** prosody (an account for every spec) and coturn. */
  async services(): Promise<void> {
    [this.prosody, this.coturn] = await Promise.all([
      startProsody(this.nat, { accounts: [...this.specs.keys()].map((n) => account(n)) }),
      startCoturn(this.nat, { user: 'tf', password: 'tf-pass' }),
    ]);
  }

  spec(name: string): FaultNodeSpec {
    const s = this.specs.get(name);
    if (s === undefined) throw new Error(`no node ${name} in this lab`);
    return s;
  }

  node(name: string): RunningNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`node ${name} is not running`);
    return n;
  }

  addr(name: string): string {
    return `${TAP_NET}.${this.spec(name).ip}`;
  }

  idOf(name: string): string {
    return this.spec(name).id;
  }

  nameOf(id: string): string {
    return [...this.specs.values()].find((s) => s.id === id)?.name ?? id.slice(0, 6);
  }

  /** Starts (or restarts, in its folder: same state) a node; extra top-level config over the lab's. */
  start(name: string, extra: Record<string, unknown> = {}): RunningNode {
    const s = this.spec(name);
    const lab = this.labs.get(name) as LabNode;
    const cfg = labNodeConfig(this.prosody, this.coturn, name, { nodeId: s.id, ip: s.ip, extra: { Topology: { MinConnectedMs: 0 }, ...extra } });
    const dir = this.dirs.get(name);
    const n = startLabNode(this.nat, lab, name, cfg, dir === undefined ? {} : { dir });
    this.dirs.set(name, n.dir);
    this.nodes.set(name, n);
    return n;
  }

  running(): RunningNode[] {
    return [...this.nodes.values()].filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
  }

  /** Every ordered pair of these nodes pings (one echo each, retried until the deadline). */
  async allPairs(what: string, ms: number, names: readonly string[] = this.running().map((n) => n.name)): Promise<void> {
    const pending = new Set<string>();
    for (const a of names) for (const b of names) if (a !== b) pending.add(`${a}>${b}`);
    await waitFor(what, async () => {
      for (const pair of [...pending]) {
        const [from, to] = pair.split('>') as [string, string];
        const a = this.node(from);
        a.alive();
        if (ping(a, this.addr(to), 1, { waitS: 1 }).received === 1) pending.delete(pair);
      }
      return pending.size === 0;
    }, ms, { intervalMs: 200, detail: () => `pairs still failing: ${[...pending].join(' ')}\n${names.map((n) => `${n}: ${this.node(n).tail(4)}`).join('\n')}` });
  }

  /** The up links of a node as peer names. */
  async upPeers(name: string): Promise<string[]> {
    const s = await statusOf(this.node(name)); // undefined until its control socket exists
    if (s === undefined) return [];
    return s.links.filter((l) => l.state === 'up' && l.port !== undefined).map((l) => this.nameOf(l.peerId)).sort();
  }

  /**
   * The ids of the given nodes' up links, "n1>n2" → id. With `among`, only the links whose peer is one
   * of the given nodes too. Equal maps before and after a fault: no link among them was replaced.
   */
  async linkIds(names: readonly string[], among = false): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    for (const n of names) {
      for (const l of (await this.node(n).status()).links) {
        const peer = this.nameOf(l.peerId);
        if (l.state === 'up' && l.port !== undefined && (!among || names.includes(peer))) ids.set(`${n}>${peer}`, l.linkId);
      }
    }
    return ids;
  }

  /** Whether every running node has all the others as up links (a full mesh: 4 nodes, 2 successors). */
  async fullMesh(names: readonly string[] = this.running().map((n) => n.name)): Promise<boolean> {
    for (const n of names) {
      this.node(n).alive();
      const s = await statusOf(this.node(n));
      if (s === undefined) return false;
      const up = new Set(s.links.filter((l) => l.state === 'up' && l.port !== undefined).map((l) => this.nameOf(l.peerId)));
      if (!names.every((m) => m === n || up.has(m))) return false;
    }
    return true;
  }

  /**
   * coturn again on its own config file after coturn.stop() (a TURN server restarted: every allocation it
   * held is gone); resolves once it answers a STUN binding request.
   */
  async restartCoturn(): Promise<ChildProcess> {
    const c = this.coturn;
    const proc = this.nat.lab.spawnIn(this.nat.pub.ns, 'turnserver', ['-c', c.configFile], { stdio: 'ignore' });
    await waitFor('coturn answering again', () => stunMappedAddress(this.nat, this.nat.pub.ns, c.host, c.port, 500).then(() => true, () => false), 15_000, {
      check: () => {
        if (proc.exitCode !== null) throw new Error(`turnserver exited (${proc.exitCode}) on restart`);
      },
    });
    return proc;
  }

  async close(): Promise<void> {
    // For a failure's post-mortem: every node's stderr into a folder that outlives the lab.
    const dump = process.env.TINFLOW_FAULTS_LOGS;
    if (dump !== undefined && dump !== '') {
      mkdirSync(dump, { recursive: true });
      for (const n of this.nodes.values()) writeFileSync(join(dump, `${n.name}.log`), `${n.stderr.join('\n')}\n`);
    }
    await this.nat.close();
  }
}

/** Whether a link of this status to peer is up and relayed at either end. */
export function relayedTo(s: NodeStatus, peerId: string): boolean {
  const l = s.links.find((x) => x.peerId === peerId && x.state === 'up' && x.port !== undefined);
  return l !== undefined && (l.local?.type === 'relay' || l.remote?.type === 'relay');
}

/** A ping running in the background from one node's namespace: count its echoes once it ends. */
export interface BackgroundPing {
  readonly proc: ChildProcess;
  /** Sent and received, once ping has exited. */
  readonly done: Promise<{ sent: number; received: number }>;
}

export function backgroundPing(lab: FaultLab, from: string, to: string, count: number, intervalS = 0.2): BackgroundPing {
  const n = lab.node(from);
  const proc = lab.nat.lab.spawnIn(n.lab.ns, 'ping', ['-c', String(count), '-i', String(intervalS), '-W', '2', lab.addr(to)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  const done = new Promise<{ sent: number; received: number }>((resolve) => {
    proc.once('close', () => {
      // stdout is closed by now; readline may still hold the summary line for one turn
      setImmediate(() => {
        const m = /(\d+) packets transmitted, (\d+) received/.exec(lines.join('\n'));
        resolve({ sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) });
      });
    });
  });
  return { proc, done };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Seconds with one decimal, for the figures a test prints. */
export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
