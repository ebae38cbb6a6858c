/**
 * `tinflow demo`: the main job in one command (issue 14). As root on Debian/Ubuntu it installs the apt
 * packages it lacks (saying which), then builds an overlay in the NAT lab (scripts/natlab.ts,
 * scripts/overlay-lab.ts): a private prosody and coturn with accounts made for this run in a "public"
 * namespace, and N real `tinflow node` processes, each in a namespace of its own — odd ones on the public
 * net, even ones behind a home NAT router, and with N >= 4 the last one behind a symmetric NAT, so that
 * its links to NATed peers go through the TURN relay. No node is told about another.
 *
 * It shows progress until every ordered pair of nodes pings over the overlay, then prints the ping
 * matrix, each link's path (direct, NAT traversal, relay) and edge type, and a 3 s iperf3 run; serves
 * the web view on the host (overlay/status-http.ts) unless --no-web; prints a one-line summary every
 * 10 s until Ctrl-C, SIGTERM or --duration; then pings all pairs once more and removes exactly what it
 * made (NatLab.close(): processes by pid, namespaces, veths, temp folders).
 *
 * Everything about a node comes through its control socket (a unix socket in its state folder, which
 * works across namespaces): its Status.Listen would sit on its own namespace's loopback, out of reach.
 *
 * Exit status: 0 when the final all-pairs check lost nothing; 1 when a step failed or it lost echoes;
 * 2 for a bad command line or without root; 130 / 143 after SIGINT / SIGTERM (everything is removed
 * first, also during setup); 141 when stdout closed (`| head`).
 *
 * `npm ci` and the build happen before this runs (scripts/demo.sh, behind `npm run demo`).
 */
import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ConfigError, intFlag, parseFlags } from '../base/cli.js';
import { onShutdown } from '../base/shutdown.js';
import { nodeCtl } from '../overlay/ctl.js';
import type { LinkStatus, NodeStatus } from '../overlay/node.js';
import { type Coturn, type LabNode, NatLab, type Prosody, natLabMissing, natRouter, nodeBehind, publicNode, startCoturn, startProsody } from './natlab.js';
import { ip } from './netlab.js';
import { type RunningNode, TAP_NET, account, labNodeConfig, startLabNode, statusOf } from './overlay-lab.js';

/** What the demo runs, by Debian package (scripts/test.sh installs the same for the tests). */
const APT_PACKAGES = ['prosody', 'coturn', 'iproute2', 'iputils-ping', 'iperf3', 'nftables'] as const;
/** A program of each package, for machines without dpkg. */
const PROGRAMS: Readonly<Record<(typeof APT_PACKAGES)[number], string>> = {
  prosody: 'prosody',
  coturn: 'turnserver',
  iproute2: 'ip',
  'iputils-ping': 'ping',
  iperf3: 'iperf3',
  nftables: 'nft',
};

const USAGE = `usage: tinflow demo [--nodes N] [--no-web] [--web-port P] [--duration S]

An overlay of N tinflow nodes in network namespaces on this machine, some behind NAT routers, with a
private XMPP server (prosody) and STUN/TURN server (coturn). Needs root; installs the apt packages it
lacks (${APT_PACKAGES.join(', ')}).

  --nodes N       how many nodes, 2..12 (default 4; from 4 on, one sits behind a symmetric NAT)
  --no-web        do not serve the web view
  --web-port P    the web view's port on 127.0.0.1 (default 8080; 0: any free port)
  --duration S    stop S seconds after the start (at the earliest once the reports are printed);
                  default: run until Ctrl-C or SIGTERM

Exit status: 0 when the final all-pairs ping lost nothing, 1 when a step failed or echoes were lost,
2 for a bad command line or without root, 130 / 143 after Ctrl-C / SIGTERM (everything is removed first).
`;

const FLAGS = {
  nodes: { type: 'string' },
  'no-web': { type: 'boolean' },
  'web-port': { type: 'string' },
  duration: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SUMMARY_EVERY_MS = 10_000;
/** Pings running at once (each is a short `ip netns exec ... ping` process). */
const PING_CONCURRENCY = 16;
const IPERF_SECONDS = 3;
const IPERF_PORT = 5201;

interface Options {
  readonly nodes: number;
  readonly web: boolean;
  readonly webPort: number;
  /** Seconds from the start; undefined: until a signal. */
  readonly durationS: number | undefined;
}

/** A step that failed: its message is the one line the user sees (details, if any, on lines after it). */
class DemoError extends Error {
  override readonly name = 'DemoError';
}

/** Raised at the next await once a signal (or a closed stdout) asked the demo to stop. */
class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

/** Whether a progress line (TTY only, redrawn in place) is on screen: what is printed next clears it first. */
let progressShown = false;

function clearProgress(): void {
  if (progressShown) process.stdout.write('\r\x1b[K');
  progressShown = false;
}

const say = (line = ''): void => {
  clearProgress();
  process.stdout.write(`${line}\n`);
};

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function demoMain(argv: readonly string[]): Promise<number> {
  let opts: Options;
  try {
    const f = parseFlags(argv, FLAGS);
    if (f.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    opts = {
      nodes: f.nodes === undefined ? 4 : intFlag('--nodes', f.nodes, 2, 12),
      web: f['no-web'] !== true,
      webPort: f['web-port'] === undefined ? 8080 : intFlag('--web-port', f['web-port'], 0, 65535),
      durationS: f.duration === undefined ? undefined : intFlag('--duration', f.duration, 1, 31 * 86400),
    };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`tinflow demo: ${e.message}\n`);
    return 2;
  }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    process.stderr.write('tinflow demo: must run as root on Linux (it makes network namespaces, NAT routers and TAP devices): try "sudo npm run demo"\n');
    return 2;
  }

  // One stop for SIGINT, SIGTERM and a closed stdout. Repeated signals are ignored, not fatal: a Ctrl-C
  // under `npm run` reaches this process twice (from the terminal and forwarded by npm), and the
  // teardown is short and must not be cut off.
  const stop = new AbortController();
  let stopCode: number | undefined;
  const interrupt = (code: number, why: string): void => {
    if (stopCode !== undefined) return;
    stopCode = code;
    clearProgress();
    process.stderr.write(`\ntinflow demo: ${why}: removing what the demo made\n`);
    stop.abort();
  };
  const shutdown = onShutdown((sig) => {
    interrupt(sig === 'SIGINT' ? 130 : 143, sig);
    return 0;
  }, { forceOn: [] });
  const pipeClosed = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE') interrupt(141, 'stdout closed');
  };
  process.stdout.on('error', pipeClosed);
  try {
    const code = await runDemo(opts, stop.signal);
    return stopCode ?? code;
  } finally {
    shutdown.dispose();
    process.stdout.off('error', pipeClosed);
  }
}

// ---- what the machine needs ----------------------------------------------------------------------------

function dpkgInstalled(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().includes('install ok installed');
  } catch {
    return false;
  }
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d !== '' && existsSync(`${d}/${program}`));
}

/** Installs the apt packages that are missing, saying which; throws a DemoError naming what it could not. */
function ensurePackages(): void {
  if (!onPath('dpkg-query') || !onPath('apt-get')) {
    const missing = APT_PACKAGES.filter((p) => !onPath(PROGRAMS[p]));
    if (missing.length > 0) throw new DemoError(`no dpkg/apt-get here to install ${missing.join(', ')}: install them yourself (programs ${missing.map((p) => PROGRAMS[p]).join(', ')})`);
  } else {
    const missing = APT_PACKAGES.filter((p) => !dpkgInstalled(p));
    if (missing.length > 0) {
      say(`installing ${missing.join(', ')} (apt-get install -y) ...`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
        try {
          execFileSync('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
        } catch (e) {
          const err = e !== null && typeof e === 'object' && 'stderr' in e ? String((e as { stderr: unknown }).stderr).trim() : errorText(e);
          throw new DemoError(`apt-get ${args[0] ?? ''} failed while installing ${missing.join(', ')}${err ? `:\n${err.split('\n').slice(-8).join('\n')}` : ''}`);
        }
      }
      say(`installed ${missing.join(', ')}`);
    }
  }
  const still = natLabMissing().filter((m) => m !== 'root');
  for (const p of ['ping', 'iperf3', 'ip', 'ss']) if (!onPath(p)) still.push(p);
  if (still.length > 0) throw new DemoError(`still missing after the installs: ${still.join(', ')}`);
}

// ---- waiting, interruptibly ---------------------------------------------------------------------------------

function checkpoint(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted('interrupted');
}

/** p, or Interrupted as soon as signal aborts (p then runs on; its failure is of no interest). */
function guard<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  checkpoint(signal);
  p.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Interrupted('interrupted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return guard(new Promise<void>((r) => (timer = setTimeout(r, ms))), signal).finally(() => clearTimeout(timer));
}

/** fn over items, at most limit at once; none is started once signal aborts. */
async function pool<T, R>(items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      checkpoint(signal);
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Runs cmd inside ns without blocking the event loop; resolves its stdout whatever the exit status. */
function inNsAsync(ns: string, cmd: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, ...cmd], { timeout: timeoutMs, maxBuffer: 1 << 22 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// ---- the nodes --------------------------------------------------------------------------------------------

interface DemoNode {
  readonly name: string;
  /** Its TAP address, 10.10.10.<index>. */
  readonly addr: string;
  readonly lab: LabNode;
  /** Where it sits: "public 203.0.113.2", "behind a NAT router (...)". */
  readonly where: string;
  readonly run: RunningNode;
  upAtMs: number | undefined;
  /** Why its last status did not come, if it did not. */
  ctlError: string | undefined;
}

/** A node id for node i (1-based) of n: spread round the ring, so that the ring order is n1, n2, ... */
function nodeIdFor(i: number, n: number): string {
  const top = Math.floor(((i - 0.5) * 256) / n);
  return `${top.toString(16).padStart(2, '0')}${randomBytes(15).toString('hex')}`;
}

/**
 * Odd nodes public, even nodes behind a home NAT router; with n >= 4 the last behind a symmetric NAT. So
 * four nodes show each path: public–public direct, NAT'd–public and NAT'd–NAT'd by NAT traversal, and
 * the symmetric NAT's links to NAT'd peers through the relay (its links to public peers go direct, prflx).
 */
function place(nat: NatLab, i: number, n: number): { lab: LabNode; where: string } {
  const name = `n${i}`;
  const symmetric = n >= 4 && i === n;
  if (symmetric || i % 2 === 0) {
    const r = natRouter(nat, { name: `r${i}`, symmetric });
    const lab = nodeBehind(r, name);
    return { lab, where: `behind a ${symmetric ? 'symmetric ' : ''}NAT router (${lab.addr} → ${r.publicAddr})` };
  }
  const lab = publicNode(nat, name);
  return { lab, where: `public ${lab.addr}` };
}

async function statusOrUndefined(n: DemoNode): Promise<NodeStatus | undefined> {
  try {
    const s = await statusOf(n.run);
    n.ctlError = s === undefined ? 'its control socket is not there yet' : undefined;
    return s;
  } catch (e) {
    n.ctlError = `its control socket: ${errorText(e)}`;
    return undefined;
  }
}

/** The node's last warnings or errors from its log (msg and err), else its last stderr lines. */
function troubleOf(n: DemoNode): string {
  const bad = n.run.logs.filter((l) => l.level >= 40).slice(-3);
  const lines = bad.length > 0 ? bad.map((l) => [l.msg, typeof l.err === 'string' ? l.err : undefined].filter(Boolean).join(': ')) : n.run.stderr.slice(-2);
  return lines.join(' | ') || 'nothing in its log';
}

function exitedNode(n: DemoNode): string | undefined {
  const p = n.run.proc;
  if (p.exitCode === null && p.signalCode === null) return undefined;
  const last = n.run.stderr.filter((l) => l.trim() !== '').slice(-3).join('\n');
  return `node ${n.name} exited (${p.exitCode ?? p.signalCode})${last ? `:\n${last}` : ''}`;
}

// ---- pings --------------------------------------------------------------------------------------------------

interface PingResult {
  readonly from: DemoNode;
  readonly to: DemoNode;
  readonly sent: number;
  readonly received: number;
  readonly avgMs: number | undefined;
}

async function pingPair(from: DemoNode, to: DemoNode, count: number, intervalS: number, waitS: number): Promise<PingResult> {
  const r = await inNsAsync(from.lab.ns, ['ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', String(waitS), to.addr], (count * intervalS + waitS + 10) * 1000);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return { from, to, sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0, avgMs: rtt ? Number(rtt[1]) : undefined };
}

function orderedPairs(nodes: readonly DemoNode[]): [DemoNode, DemoNode][] {
  const pairs: [DemoNode, DemoNode][] = [];
  for (const a of nodes) for (const b of nodes) if (a !== b) pairs.push([a, b]);
  return pairs;
}

/** Every ordered pair, `count` echoes each. */
function pingAll(nodes: readonly DemoNode[], count: number, signal: AbortSignal): Promise<PingResult[]> {
  return pool(orderedPairs(nodes), PING_CONCURRENCY, signal, ([a, b]) => pingPair(a, b, count, 0.1, 1));
}

const lossPct = (r: PingResult): number => (r.sent === 0 ? 100 : Math.round((100 * (r.sent - r.received)) / r.sent));

function printMatrix(nodes: readonly DemoNode[], results: readonly PingResult[], count: number): void {
  const w = 14;
  const cell = (a: DemoNode, b: DemoNode): string => {
    if (a === b) return '-';
    const r = results.find((x) => x.from === a && x.to === b);
    if (r === undefined) return '?';
    return `${lossPct(r)}% ${r.avgMs === undefined ? '' : `${r.avgMs.toFixed(2)}ms`}`.trim();
  };
  say(`ping matrix over the overlay (${count} echoes per pair; loss and average RTT; rows from, columns to)`);
  say(`${''.padEnd(6)}${nodes.map((n) => n.name.padEnd(w)).join('')}`.trimEnd());
  for (const a of nodes) say(`${a.name.padEnd(6)}${nodes.map((b) => cell(a, b).padEnd(w)).join('')}`.trimEnd());
}

// ---- links: path and edge type ------------------------------------------------------------------------------

type PathKind = 'direct' | 'NAT traversal' | 'relay' | 'unknown';

/** direct: host/host; relay: a relayed candidate on either side; NAT traversal: srflx or prflx. */
function pathOf(l: LinkStatus): PathKind {
  const a = l.local?.type;
  const b = l.remote?.type;
  if (a === undefined || b === undefined) return 'unknown';
  if (a === 'relay' || b === 'relay') return 'relay';
  if (a === 'host' && b === 'host') return 'direct';
  return 'NAT traversal';
}

const EDGE_NAMES: Readonly<Record<string, string>> = { successor: 'successor', longDistance: 'long-distance', static: 'static', onDemand: 'on-demand' };

interface OverlayLink {
  readonly a: DemoNode;
  readonly b: DemoNode;
  readonly path: PathKind;
  /** local/remote candidate types, as a sees them. */
  readonly candidates: string;
  readonly edge: string;
  readonly rttMs: number | undefined;
  /** Bytes sent over the link, both ways. */
  readonly txBytes: number;
}

/** Each link that is up, once (as the node earlier in the list sees it; the edge's type from the side that asked for it). */
function linksOf(nodes: readonly DemoNode[], statuses: ReadonlyMap<DemoNode, NodeStatus>): OverlayLink[] {
  const byId = new Map(nodes.map((n) => [n.run.nodeId, n]));
  const up = (s: NodeStatus | undefined, peer: string): LinkStatus | undefined => s?.links.find((l) => l.peerId === peer && l.state === 'up');
  const out: OverlayLink[] = [];
  for (const [i, a] of nodes.entries()) {
    const sa = statuses.get(a);
    for (const l of sa?.links ?? []) {
      const b = byId.get(l.peerId);
      if (b === undefined || l.state !== 'up' || nodes.indexOf(b) < i) continue;
      if (out.some((x) => x.a === a && x.b === b)) continue;
      const back = up(statuses.get(b), a.run.nodeId);
      const edge = (l.edge?.dir === 'out' ? l.edge : back?.edge?.dir === 'out' ? back.edge : (l.edge ?? back?.edge))?.type;
      out.push({
        a,
        b,
        path: pathOf(l),
        candidates: `${l.local?.type ?? '?'}/${l.remote?.type ?? '?'}`,
        edge: edge === undefined ? '-' : (EDGE_NAMES[edge] ?? edge),
        rttMs: l.rttMs,
        txBytes: (l.counters?.txBytes ?? 0) + (back?.counters?.txBytes ?? 0),
      });
    }
  }
  const at = (n: DemoNode): number => nodes.indexOf(n);
  return out.sort((x, y) => at(x.a) - at(y.a) || at(x.b) - at(y.b));
}

function printLinks(links: readonly OverlayLink[]): void {
  say(`links (${links.length} up): path (local/remote candidates), edge type, RTT`);
  for (const l of links) {
    const rtt = l.rttMs === undefined ? '' : `${l.rttMs.toFixed(1)} ms`;
    say(`  ${`${l.a.name} — ${l.b.name}`.padEnd(10)} ${l.path.padEnd(14)} ${`(${l.candidates})`.padEnd(14)} ${l.edge.padEnd(14)} ${rtt}`.trimEnd());
  }
}

function pathCounts(links: readonly OverlayLink[]): string {
  const kinds: PathKind[] = ['direct', 'NAT traversal', 'relay', 'unknown'];
  return kinds
    .map((k) => [k, links.filter((l) => l.path === k).length] as const)
    .filter(([k, c]) => c > 0 || k !== 'unknown')
    .map(([k, c]) => `${c} ${k}`)
    .join(', ');
}

async function statusesOf(nodes: readonly DemoNode[]): Promise<Map<DemoNode, NodeStatus>> {
  const got = await Promise.all(nodes.map(async (n) => [n, await statusOrUndefined(n)] as const));
  return new Map(got.filter((x): x is readonly [DemoNode, NodeStatus] => x[1] !== undefined));
}

// ---- iperf3 ----------------------------------------------------------------------------------------------

/** iperf3 TCP from one node's namespace to another's TAP address for IPERF_SECONDS: Mbit/s received. */
async function iperf(nat: NatLab, from: DemoNode, to: DemoNode, signal: AbortSignal): Promise<number> {
  const server: ChildProcess = nat.lab.spawnIn(to.lab.ns, 'iperf3', ['-s', '-1', '-B', to.addr, '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ss = await guard(inNsAsync(to.lab.ns, ['ss', '-Hltn', 'src', `${to.addr}:${IPERF_PORT}`], 5000), signal);
      if (ss.stdout.includes(String(IPERF_PORT))) break;
      if (server.exitCode !== null) throw new DemoError(`iperf3 server in ${to.name} exited (${server.exitCode}) before it listened`);
      if (Date.now() > deadline) throw new DemoError(`iperf3 server in ${to.name} not listening on ${to.addr}:${IPERF_PORT} after 10 s`);
      await sleep(100, signal);
    }
    const r = await guard(inNsAsync(from.lab.ns, ['iperf3', '-c', to.addr, '-p', String(IPERF_PORT), '-t', String(IPERF_SECONDS), '-J'], (IPERF_SECONDS + 20) * 1000), signal);
    let bps: unknown;
    try {
      const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: unknown } }; error?: unknown };
      if (typeof j.error === 'string') throw new DemoError(`iperf3 ${from.name} → ${to.name} failed: ${j.error}`);
      bps = j.end?.sum_received?.bits_per_second;
    } catch (e) {
      if (e instanceof DemoError) throw e;
      throw new DemoError(`iperf3 ${from.name} → ${to.name} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n')[0] ?? 'no output'}`);
    }
    if (typeof bps !== 'number') throw new DemoError(`iperf3 ${from.name} → ${to.name}: no throughput in its report`);
    return bps / 1e6;
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM');
  }
}

// ---- the web view ------------------------------------------------------------------------------------------

interface WebServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The web view on the host (overlay/status-http.ts), fed from the nodes' control sockets. Loaded only
 * when asked for, so a run with --no-web needs nothing of the web server.
 */
async function serveWeb(nodes: readonly DemoNode[], port: number): Promise<WebServer> {
  const { serveWebView, gatherViews } = await import('../overlay/status-http.js');
  const sources = (): Parameters<typeof gatherViews>[0] =>
    nodes.map((n) => ({
      nodeId: n.run.nodeId,
      view: async () => ({ status: await n.run.status(), flows: (await nodeCtl(n.run.ctl, 'dump-flows')) as string[] }),
    }));
  try {
    // nodes fills up as the nodes start: the view shows them join.
    return await serveWebView({ views: () => gatherViews(sources()).views() }, '127.0.0.1', port, { intervalMs: 1000 });
  } catch (e) {
    const inUse = e !== null && typeof e === 'object' && 'code' in e && (e as { code: unknown }).code === 'EADDRINUSE';
    throw new DemoError(`cannot serve the web view on 127.0.0.1:${port}: ${inUse ? 'the port is in use (--web-port P picks another, 0 any free one; --no-web skips it)' : errorText(e)}`);
  }
}

// ---- the run ------------------------------------------------------------------------------------------------

const elapsed = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Names of this run's that are still there (the teardown's own check). */
function leftovers(prefix: string): string[] {
  const left: string[] = [];
  try {
    left.push(...ip('netns', 'list').split('\n').filter((l) => l.startsWith(prefix)).map((l) => `namespace ${l.split(' ')[0] ?? l}`));
    left.push(...ip('-o', 'link', 'show').split('\n').filter((l) => l.includes(prefix)).map((l) => `link ${l.split(':')[1]?.trim() ?? l}`));
  } catch {
    /* ip itself failed: nothing more to say here */
  }
  left.push(...readdirSync(tmpdir()).filter((d) => d.startsWith(`tinflow-${prefix}-`)).map((d) => `folder ${tmpdir()}/${d}`));
  return left;
}

async function runDemo(o: Options, signal: AbortSignal): Promise<number> {
  let nat: NatLab | undefined;
  let web: WebServer | undefined;
  const nodes: DemoNode[] = [];
  let code = 1;
  try {
    say(`tinflow demo: an overlay of ${o.nodes} nodes in network namespaces, some behind NAT routers`);
    ensurePackages();
    checkpoint(signal);
    const t0 = Date.now();
    const endAt = o.durationS === undefined ? undefined : t0 + o.durationS * 1000;
    // First, so that a taken port fails before anything is built.
    if (o.web) web = await guard(serveWeb(nodes, o.webPort), signal);

    nat = new NatLab('dm');
    say(`lab prefix: ${nat.prefix} (its namespaces, veths and ${tmpdir()}/tinflow-${nat.prefix}-* folders carry it)`);
    const names = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
    const accounts = names.map((n) => ({ user: account(n).user, password: randomBytes(12).toString('base64url') }));
    const turnPassword = randomBytes(12).toString('base64url');
    const placed = names.map((_, i) => place(nat as NatLab, i + 1, o.nodes));
    checkpoint(signal);
    let prosody: Prosody;
    let coturn: Coturn;
    try {
      [prosody, coturn] = await guard(Promise.all([startProsody(nat, { accounts, domain: 'demo.test' }), startCoturn(nat, { user: 'demo', password: turnPassword, realm: 'demo.test' })]), signal);
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      throw new DemoError(`the XMPP or STUN/TURN server did not start: ${errorText(e)}`);
    }
    say(`public net 203.0.113.0/24 (namespace ${nat.pub.ns}): prosody (XMPP, ${o.nodes} accounts made for this run) on ${prosody.host}:${prosody.port}, coturn (STUN/TURN) on ${coturn.host}:${coturn.port}`);

    for (const [i, name] of names.entries()) {
      checkpoint(signal);
      const p = placed[i] as { lab: LabNode; where: string };
      const addr = `${TAP_NET}.${i + 1}`;
      const cfg = labNodeConfig(prosody, coturn, name, { nodeId: nodeIdFor(i + 1, o.nodes), ip: i + 1, password: (accounts[i] as { password: string }).password, extra: { Overlay: 'demo' } });
      const run = startLabNode(nat, p.lab, name, cfg);
      nodes.push({ name, addr, lab: p.lab, where: p.where, run, upAtMs: undefined, ctlError: undefined });
      say(`  ${name.padEnd(4)} ${addr.padEnd(12)} ${p.where}, node id ${run.nodeId.slice(0, 8)}…, pid ${run.proc.pid ?? '?'}`);
    }
    if (web) say(`web view: ${web.url} (the overlay graph, links, counters and flow tables, live)`);

    // Until every ordered pair pings: one echo per pending pair per round.
    const started = Date.now();
    const limitMs = (60 + 8 * o.nodes) * 1000;
    const pending = new Set(orderedPairs(nodes));
    const total = pending.size;
    const tty = process.stdout.isTTY === true;
    let lastLine = '';
    let lastSaid = 0;
    for (;;) {
      checkpoint(signal);
      const round = Date.now();
      for (const n of nodes) {
        const dead = exitedNode(n);
        if (dead) throw new DemoError(dead);
      }
      const statuses = await guard(statusesOf(nodes), signal);
      for (const n of nodes) {
        if (n.upAtMs === undefined && statuses.get(n)?.signalOnline === true) {
          n.upAtMs = Date.now() - started;
          say(`  ${n.name} up: signaling online after ${(n.upAtMs / 1000).toFixed(1)} s`);
        }
      }
      // Pairs of nodes that are up; after 20 s every pair, so that a node whose status does not come
      // still counts by what matters, its pings.
      const all = Date.now() - started > 20_000;
      const ready = [...pending].filter(([a, b]) => all || (a.upAtMs !== undefined && b.upAtMs !== undefined));
      const answered = await guard(pool(ready, PING_CONCURRENCY, signal, ([a, b]) => pingPair(a, b, 1, 0.2, 1)), signal);
      for (const r of answered) if (r.received > 0) for (const p of pending) if (p[0] === r.from && p[1] === r.to) pending.delete(p);
      const up = nodes.filter((n) => n.upAtMs !== undefined).length;
      const line = `  reachable pairs: ${total - pending.size}/${total}, nodes up: ${up}/${nodes.length}`;
      if (tty) {
        clearProgress();
        process.stdout.write(`${line}, ${elapsed(started)}`);
        progressShown = true;
      } else if (line !== lastLine || Date.now() - lastSaid >= 10_000) {
        say(`${line}, ${elapsed(started)}`);
        lastSaid = Date.now();
      }
      lastLine = line;
      if (pending.size === 0) break;
      if (Date.now() - started > limitMs) {
        const down = nodes.filter((n) => n.upAtMs === undefined).map((n) => `${n.name} never reported its signaling online (${n.ctlError ?? troubleOf(n)})`);
        throw new DemoError(`not every pair reaches the other after ${limitMs / 1000} s: ${[...pending].map(([a, b]) => `${a.name}→${b.name}`).join(' ')}${down.map((d) => `\n${d}`).join('')}`);
      }
      await sleep(Math.max(0, 500 - (Date.now() - round)), signal);
    }
    say(`all ${total} pairs reach each other, ${elapsed(started)} after the nodes started`);
    say();

    const MATRIX_COUNT = 5;
    printMatrix(nodes, await guard(pingAll(nodes, MATRIX_COUNT, signal), signal), MATRIX_COUNT);
    say();
    const links = linksOf(nodes, await guard(statusesOf(nodes), signal));
    printLinks(links);
    say();
    const [src, dst] = nodes as [DemoNode, DemoNode];
    const iperfLink = links.find((l) => (l.a === src && l.b === dst) || (l.a === dst && l.b === src));
    const mbps = await iperf(nat, src, dst, signal);
    say(`iperf3 ${src.name} → ${dst.name} (${iperfLink ? `${iperfLink.path} link, ${iperfLink.edge} edge` : 'across the overlay'}), TCP for ${IPERF_SECONDS} s: ${mbps.toFixed(0)} Mbit/s`);
    say();

    say(endAt === undefined ? 'running until Ctrl-C (a summary every 10 s)' : `running until ${Math.round((endAt - t0) / 1000)} s after the start (a summary every 10 s)`);
    let nextSummary = Date.now() + SUMMARY_EVERY_MS;
    while (endAt === undefined || Date.now() < endAt) {
      await sleep(Math.max(0, Math.min(nextSummary, endAt ?? Infinity) - Date.now()), signal);
      if (Date.now() < nextSummary) continue;
      nextSummary += SUMMARY_EVERY_MS;
      const running = nodes.filter((n) => exitedNode(n) === undefined);
      const now = linksOf(running, await guard(statusesOf(running), signal));
      const rtts = now.map((l) => l.rttMs).filter((x): x is number => x !== undefined);
      const rtt = rtts.length === 0 ? '' : `, link RTT ${Math.min(...rtts).toFixed(1)}–${Math.max(...rtts).toFixed(1)} ms`;
      const bytes = now.reduce((s, l) => s + l.txBytes, 0);
      const gone = nodes.filter((n) => !running.includes(n)).map((n) => n.name);
      say(`[${elapsed(t0).padStart(8)}] ${running.length}/${nodes.length} nodes running${gone.length ? ` (${gone.join(', ')} exited)` : ''}, ${now.length} links up (${pathCounts(now)})${rtt}, ${fmtBytes(bytes)} sent over the links`);
    }

    const finalCount = 3;
    const final = await guard(pingAll(nodes, finalCount, signal), signal);
    const lossy = final.filter((r) => r.received < r.sent);
    const avgs = final.map((r) => r.avgMs).filter((x): x is number => x !== undefined);
    const avg = avgs.length ? `, average RTT ${(avgs.reduce((s, x) => s + x, 0) / avgs.length).toFixed(2)} ms` : '';
    if (lossy.length === 0) {
      say(`final all-pairs check: ${final.length}/${final.length} pairs, 0 % loss (${finalCount} echoes each)${avg}`);
      code = 0;
    } else {
      printMatrix(nodes, final, finalCount);
      say(`final all-pairs check: ${lossy.length} of ${final.length} pairs lost echoes: ${lossy.map((r) => `${r.from.name}→${r.to.name} ${lossPct(r)}%`).join(' ')}`);
      code = 1;
    }
  } catch (e) {
    if (!(e instanceof Interrupted)) {
      clearProgress();
      const [first, ...rest] = errorText(e).split('\n');
      process.stderr.write(`tinflow demo: ${first ?? 'failed'}\n${rest.map((l) => `  ${l}\n`).join('')}`);
      code = 1;
    }
  } finally {
    await web?.close().catch(() => undefined);
    if (nat !== undefined) {
      say(`removing the lab ${nat.prefix}: ${nodes.length} nodes, prosody, coturn, namespaces, veths, temp folders`);
      await nat.close();
      const left = leftovers(nat.prefix);
      if (left.length === 0) say(`removed everything the demo made (no namespace, link or temp folder named ${nat.prefix}* is left)`);
      else {
        process.stderr.write(`tinflow demo: left behind after the teardown: ${left.join(', ')}\n`);
        code = 1;
      }
    }
  }
  return code;
}
