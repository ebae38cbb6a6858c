/**
 * Overlay nodes in the NAT lab (scripts/natlab.ts), for the overlay tests, `npm run bench:overlay` and the
 * demo: prosody and coturn in the public namespace, and each node a real `scripts/tinflow node --config
 * FILE` process in its own namespace (public, or behind a home router). What a test needs of a running
 * node comes from its control socket (status, dump-ports), its JSON log lines on stderr, and commands run
 * in its namespace (ping, iperf3, tcpdump).
 *
 * Root only, like the NAT lab. The node processes run the compiled JavaScript (dist/): distStale() says
 * when dist/ is older than the sources.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nodeCtl } from '../overlay/ctl.js';
import type { LinkStatus, NodeStatus } from '../overlay/node.js';
import { type Coturn, type LabNode, type NatLab, type Prosody } from './natlab.js';
import { inNs } from './netlab.js';

/** The repository's root (this file is scripts/ in the sources, dist/scripts/ compiled). */
export const ROOT = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  return existsSync(join(here, '..', 'package.json')) ? resolve(here, '..') : resolve(here, '..', '..');
})();

export const TINFLOW = join(ROOT, 'scripts', 'tinflow');

/** A source file of dirs newer than its compiled form in dist/, if any (the nodes run dist/). */
export function distStale(dirs: readonly string[] = ['base', 'openflow', 'switch', 'controller', 'controller/apps', 'link', 'overlay']): string | undefined {
  for (const dir of dirs) {
    for (const f of readdirSync(join(ROOT, dir)).filter((x) => x.endsWith('.ts') && !x.endsWith('.d.ts'))) {
      const js = join(ROOT, 'dist', dir, f.replace(/\.ts$/, '.js'));
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(ROOT, dir, f)).mtimeMs) return `${dir}/${f}`;
    }
  }
  return undefined;
}

export interface LogLine {
  readonly level: number;
  readonly msg?: string;
  readonly [k: string]: unknown;
}

export interface RunningNode {
  readonly name: string;
  /** Its folder (config, state): pass it to startLabNode again to restart the node with its state. */
  readonly dir: string;
  readonly nodeId: string;
  readonly lab: LabNode;
  readonly proc: ChildProcess;
  readonly ctl: string;
  readonly logs: LogLine[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  status(): Promise<NodeStatus>;
  /** The last lines it wrote on stderr, for failure messages. */
  tail(lines?: number): string;
  /** Throws if the process has exited (a waitFor check). */
  alive(): void;
}

export interface NodeConfigOptions {
  readonly nodeId: string;
  /** The TAP's address: 10.10.10.<ip>/24. */
  readonly ip: number;
  readonly password?: string;
  /** Offer the lab's TURN server too (default true). */
  readonly turn?: boolean;
  readonly staticEdges?: readonly string[];
  /** Link liveness: echo every echoMs, dead after timeoutMs of silence (fast, for tests). */
  readonly echoMs?: number;
  readonly timeoutMs?: number;
  /** Extra top-level sections or keys, merged over the defaults here. */
  readonly extra?: Record<string, unknown>;
}

export const TAP_NET = '10.10.10';

/** The XMPP account of lab node `name`. */
export function account(name: string): { readonly user: string; readonly password: string } {
  return { user: `node-${name}`, password: `pw-${name}` };
}

/** A node's config: its account, the lab's STUN (and TURN), fast link liveness, its TAP address. */
export function labNodeConfig(prosody: Prosody, coturn: Coturn, name: string, o: NodeConfigOptions): Record<string, unknown> {
  const svc = `${coturn.host}:${coturn.port}`;
  return {
    NodeId: o.nodeId,
    Overlay: 'lab',
    Signal: { HostAddress: prosody.host, Port: prosody.port, Username: `${account(name).user}@${prosody.domain}`, Password: o.password ?? account(name).password, Tls: 'none', Sasl: 'plain' },
    LinkManager: {
      Stun: [svc],
      ...(o.turn === false ? {} : { Turn: [{ Address: svc, User: coturn.user, Password: coturn.password }] }),
      EchoIntervalMs: o.echoMs ?? 500,
      TimeoutMs: o.timeoutMs ?? 3000,
    },
    AppBridge: { Name: `tf-${name}`, IP4: `${TAP_NET}.${o.ip}`, PrefixLen: 24, MTU: 1350 },
    ...(o.staticEdges !== undefined && o.staticEdges.length > 0 ? { Topology: { StaticEdges: o.staticEdges } } : {}),
    LogLevel: 'info',
    StateDir: 'state',
    ...o.extra,
  };
}

/**
 * Starts `scripts/tinflow node` for `name` in its namespace (tracked by the lab: nat.close() stops it).
 * The config and state go to a folder of the lab's (`dir`, or a new one) that outlives the process, so
 * a restart in the same folder keeps the node's state (its id, its certificate).
 */
export function startLabNode(nat: NatLab, lab: LabNode, name: string, cfg: Record<string, unknown>, opts: { readonly env?: NodeJS.ProcessEnv; readonly dir?: string } = {}): RunningNode {
  const dir = opts.dir ?? nat.lab.tempDir(`node-${name}`);
  const env = opts.env ?? {};
  const file = join(dir, 'node.json');
  writeFileSync(file, JSON.stringify(cfg, null, 2), { mode: 0o600 });
  const proc = nat.lab.spawnIn(lab.ns, process.execPath, [TINFLOW, 'node', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 4000) stderr.splice(0, 2000);
    if (line.startsWith('{')) {
      try {
        logs.push(JSON.parse(line) as LogLine);
        if (logs.length > 20_000) logs.splice(0, 10_000);
      } catch {
        /* not a log line */
      }
    }
  });
  proc.stdout?.resume();
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const ctl = join(dir, 'state', 'node.ctl');
  const tail = (lines = 15): string => stderr.slice(-lines).join('\n');
  return {
    name,
    dir,
    nodeId: String(cfg.NodeId),
    lab,
    proc,
    ctl,
    logs,
    stderr,
    exited,
    status: async () => (await nodeCtl(ctl, 'status')) as NodeStatus,
    tail,
    alive: () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`node ${name} exited (${proc.exitCode ?? proc.signalCode}):\n${tail()}`);
    },
  };
}

/** The status, or undefined while the control socket is not there yet. */
export async function statusOf(n: RunningNode): Promise<NodeStatus | undefined> {
  return existsSync(n.ctl) ? n.status() : undefined;
}

/**
 * Whether the overlay of these nodes has formed: every node answers and has its ring successors (two, or
 * all the others when fewer) linked by connected edges. Throws if a node's process has exited.
 */
export async function overlayFormed(nodes: readonly RunningNode[]): Promise<boolean> {
  const want = Math.min(2, nodes.length - 1);
  for (const n of nodes) {
    n.alive();
    const s = await statusOf(n);
    if (s === undefined || s.topology.successors.length < want) return false;
    const connected = new Set(s.topology.edges.filter((e) => e.state === 'connected').map((e) => e.peer));
    if (!s.topology.successors.every((p) => connected.has(p))) return false;
  }
  return true;
}

export function upLink(s: NodeStatus, peer: string): LinkStatus | undefined {
  return s.links.find((l) => l.peerId === peer && l.state === 'up' && l.port !== undefined);
}

/** Pings `to` from the node's namespace: sent, received and the average RTT (ms) ping printed. */
export function ping(from: RunningNode, to: string, count = 3, opts: { intervalS?: number; waitS?: number } = {}): { sent: number; received: number; avgMs: number | undefined } {
  let out: string;
  try {
    out = inNs(from.lab.ns, 'ping', '-c', String(count), '-i', String(opts.intervalS ?? 0.2), '-W', String(opts.waitS ?? 2), to);
  } catch (e) {
    out = e !== null && typeof e === 'object' && 'stdout' in e ? String((e as { stdout: unknown }).stdout) : '';
  }
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(out);
  return { sent: Number(m?.[1] ?? count), received: Number(m?.[2] ?? 0), avgMs: rtt ? Number(rtt[1]) : undefined };
}

/** Frames the host sent into the node's application TAP (its datapath port 1's rx). */
export async function tapRxPackets(n: RunningNode): Promise<number> {
  const lines = (await nodeCtl(n.ctl, 'dump-ports')) as string[];
  const m = /^port 1 .*? rx (\d+) pkts/.exec(lines.find((l) => l.startsWith('port 1 ')) ?? '');
  if (m === null) throw new Error(`no port 1 in dump-ports: ${JSON.stringify(lines)}`);
  return Number(m[1]);
}

/** iperf3 TCP from one node's namespace to another's TAP address: Mb/s received. */
export async function iperf(nat: NatLab, from: RunningNode, to: RunningNode, addr: string, seconds = 2, port = 5301): Promise<number> {
  const server = nat.lab.spawnIn(to.lab.ns, 'iperf3', ['-s', '-1', '-B', addr, '-p', String(port)], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 5000;
    while (!inNs(to.lab.ns, 'ss', '-Hltn', 'src', `${addr}:${port}`).includes(String(port))) {
      if (Date.now() > deadline) throw new Error(`iperf3 server on ${addr}:${port} not listening after 5 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const out = inNs(from.lab.ns, 'iperf3', '-c', addr, '-p', String(port), '-t', String(seconds), '-J');
    const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e6;
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM');
  }
}
