/**
 * npm run bench:latency — what interactive and chatty traffic feels through one switch between two
 * namespaces: tinflow (AF_PACKET ports on veths, proactive flows from ovs-ofctl), an OVS userspace
 * (netdev) bridge with the same flows, and the Linux bridge, all set up once and measured in the same
 * run, interleaved (the order rotates every round; the machine is shared and noisy), medians of rounds:
 *
 *   RTT       `ping -i 0.01` (N samples after a warm-up): p50 and p99 of the per-packet times
 *   UDP pps   iperf3 -u -b 0 -l 18 (64-byte Ethernet frames): frames/s the receiver got, and the loss
 *   CPU/ping  CPU time of the switch's process (every thread) while the pings ran, per ping (two frames
 *             through the switch): what a frame costs when it comes alone (ovs-vswitchd: the whole daemon)
 *   idle CPU  CPU time (every thread, /proc/PID/task/TID/schedstat, ns) and wake-ups (context switches)
 *             of the tinflow process and of ovs-vswitchd over the same 10 s with no traffic
 *
 * `--tinflow-env K=V[,K=V]` (repeatable) adds a tinflow variant run with those environment variables (to
 * compare I/O options of the port addon in the same run). Hosts have tx checksum offload off (as OVS
 * userspace on veths needs). Prints ratios against OVS; JSON in results/bench-latency.json. Root, OVS.
 * Usage: node dist/bench/latency.js [--rounds R] [--pings N] [--seconds S] [--idle S] [--tinflow-env ...]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../scripts/netlab.js';

interface Sample {
  readonly rttP50Ms: number;
  readonly rttP99Ms: number;
  readonly rttAvgMs: number;
  readonly udpKpps: number;
  readonly udpLossPct: number;
  /** CPU time of the switch's process (every thread) per ping (request and reply), µs; NaN for the Linux bridge. */
  readonly cpuUsPerPing: number;
}

interface Idle {
  readonly cpuMs: number;
  readonly wakeups: number;
}

/** One switch under test with its two hosts. */
interface Setup {
  readonly key: string;
  readonly label: string;
  readonly lab: Lab;
  readonly n1: string;
  readonly n2: string;
  readonly dst: string;
  readonly iperfPort: number;
  /** The process whose idle cost is measured (none for the Linux bridge). */
  pid?: number;
  proc?: ChildProcess;
  teardown?: () => void;
}

const OVS_PIDFILE = '/var/run/openvswitch/ovs-vswitchd.pid';

function run(cmd: string[], timeoutMs: number): string {
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd.slice(0, 6).join(' ')} failed: ${(r.stderr || r.stdout || '').slice(0, 300)}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

/** CPU time (ns) and context switches of every thread of pid, now. */
function cpuOf(pid: number): { ns: number; switches: number } {
  let ns = 0;
  let switches = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of st.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) switches += Number(m[1]);
    } catch {
      /* a thread that ended meanwhile */
    }
  }
  return { ns, switches };
}

/** Two hosts in namespaces, their switch-side veths in the root namespace; returns [ns1, ns2, s1, s2]. */
function hosts(lab: Lab, net: number): [string, string, string, string] {
  const n1 = lab.ns('n1');
  const n2 = lab.ns('n2');
  for (const [i, ns] of [[1, n1], [2, n2]] as const) {
    lab.veth(lab.name(`s${i}`), lab.name(`h${i}`));
    lab.move(lab.name(`h${i}`), ns, `10.79.${net}.${i}/24`);
    execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', lab.name(`h${i}`), 'tx', 'off'], { stdio: 'ignore' });
  }
  return [n1, n2, lab.name('s1'), lab.name('s2')];
}

const FLOWS = ['table=0,priority=100,in_port=1,actions=output:2', 'table=0,priority=100,in_port=2,actions=output:1'];

function addFlows(target: string, lab: Lab): void {
  const f = `${lab.tempDir('flows')}/flows.txt`;
  writeFileSync(f, FLOWS.join('\n') + '\n');
  run(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', target, f], 60_000);
}

async function setupTinflow(key: string, label: string, net: number, ofPort: number, env: Record<string, string>): Promise<Setup> {
  const lab = new Lab('lt');
  const [n1, n2, s1, s2] = hosts(lab, net);
  const proc = spawn(
    process.execPath,
    [resolve('scripts/tinflow'), 'switch', '--name', lab.name('br'), '--listen', `ptcp:${ofPort}:127.0.0.1`, '--offload', '--no-local', '--log-level', 'warn', '--port', `1=${s1}`, '--port', `2=${s2}`],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } },
  );
  lab.track(proc);
  const target = `tcp:127.0.0.1:${ofPort}`;
  for (let i = 0; i < 100; i++) {
    if (spawnSync('ovs-ofctl', ['-O', 'OpenFlow13', 'show', target], { stdio: 'ignore' }).status === 0) break;
    if (proc.exitCode !== null) throw new Error(`${label}: the switch exited (${proc.exitCode})`);
    await sleep(100);
  }
  addFlows(target, lab);
  const s: Setup = { key, label, lab, n1, n2, dst: `10.79.${net}.2`, iperfPort: 5300 + net, proc };
  if (proc.pid !== undefined) s.pid = proc.pid;
  return s;
}

function setupOvs(net: number): Setup {
  const lab = new Lab('lo');
  const [n1, n2, s1, s2] = hosts(lab, net);
  const br = lab.name('br');
  execFileSync('ovs-vsctl', ['add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', '--', 'set-fail-mode', br, 'secure']);
  [s1, s2].forEach((port, i) => execFileSync('ovs-vsctl', ['add-port', br, port, '--', 'set', 'interface', port, `ofport_request=${i + 1}`]));
  addFlows(br, lab);
  const s: Setup = { key: 'ovs', label: 'OVS netdev', lab, n1, n2, dst: `10.79.${net}.2`, iperfPort: 5300 + net, teardown: () => void spawnSync('ovs-vsctl', ['--if-exists', 'del-br', br]) };
  const pid = Number(readFileSync(OVS_PIDFILE, 'utf8').trim());
  if (pid > 0) s.pid = pid;
  return s;
}

function setupBridge(net: number): Setup {
  const lab = new Lab('lb');
  const [n1, n2, s1, s2] = hosts(lab, net);
  const br = lab.name('br');
  execFileSync('ip', ['link', 'add', br, 'type', 'bridge']);
  execFileSync('sysctl', ['-qw', `net/ipv6/conf/${br}/disable_ipv6=1`]);
  for (const p of [s1, s2]) execFileSync('ip', ['link', 'set', p, 'master', br]);
  execFileSync('ip', ['link', 'set', br, 'up']);
  return { key: 'bridge', label: 'Linux bridge', lab, n1, n2, dst: `10.79.${net}.2`, iperfPort: 5300 + net, teardown: () => void spawnSync('ip', ['link', 'del', br]) };
}

async function ping(s: Setup, count: number): Promise<number[]> {
  const out = run(['ip', 'netns', 'exec', s.n1, 'ping', '-n', '-i', '0.01', '-W', '1', '-c', String(count), s.dst], count * 50 + 20_000);
  const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length < count * 0.95) throw new Error(`${s.label}: ping got ${rtts.length} of ${count} replies`);
  return rtts;
}

async function udp(s: Setup, seconds: number): Promise<{ kpps: number; lossPct: number }> {
  const server = spawn('ip', ['netns', 'exec', s.n2, 'iperf3', '-s', '-1', '-B', s.dst, '-p', String(s.iperfPort)], { stdio: 'ignore' });
  try {
    await sleep(300);
    const j = JSON.parse(run(['ip', 'netns', 'exec', s.n1, 'iperf3', '-c', s.dst, '-p', String(s.iperfPort), '-u', '-b', '0', '-l', '18', '-t', String(seconds), '-J'], (seconds + 20) * 1000)) as {
      end: { sum_received?: { packets: number; lost_packets: number; seconds: number }; sum: { packets: number; lost_packets: number; seconds: number } };
    };
    const r = j.end.sum_received ?? j.end.sum;
    return { kpps: (r.packets - r.lost_packets) / r.seconds / 1e3, lossPct: r.packets ? (100 * r.lost_packets) / r.packets : 100 };
  } finally {
    if (server.exitCode === null) server.kill('SIGTERM');
    await sleep(200);
  }
}

async function sample(s: Setup, pings: number, seconds: number): Promise<Sample> {
  const c0 = s.pid !== undefined ? cpuOf(s.pid).ns : NaN;
  const rtts = (await ping(s, pings)).sort((a, b) => a - b);
  const c1 = s.pid !== undefined ? cpuOf(s.pid).ns : NaN;
  const u = await udp(s, seconds);
  return {
    rttP50Ms: quantile(rtts, 0.5),
    rttP99Ms: quantile(rtts, 0.99),
    rttAvgMs: rtts.reduce((a, b) => a + b, 0) / rtts.length,
    udpKpps: u.kpps,
    udpLossPct: u.lossPct,
    cpuUsPerPing: (c1 - c0) / 1e3 / pings,
  };
}

async function idle(setups: readonly Setup[], seconds: number): Promise<Map<string, Idle>> {
  // let the set-up's traffic drain and V8 finish the collections that follow it (its memory reducer runs
  // a few seconds after allocation stops: tens of ms that are not the idle cost)
  await sleep(6000);
  const withPid = setups.filter((s) => s.pid !== undefined && existsSync(`/proc/${s.pid}`));
  const before = new Map(withPid.map((s) => [s.key, cpuOf(s.pid as number)]));
  await sleep(seconds * 1000);
  const out = new Map<string, Idle>();
  for (const s of withPid) {
    const a = before.get(s.key) as { ns: number; switches: number };
    const b = cpuOf(s.pid as number);
    out.set(s.key, { cpuMs: (b.ns - a.ns) / 1e6, wakeups: b.switches - a.switches });
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      pings: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '4' },
      idle: { type: 'string', default: '10' },
      'tinflow-env': { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: 'results/bench-latency.json' },
    },
  });
  const rounds = Number(values.rounds);
  const pings = Number(values.pings);
  const seconds = Number(values.seconds);
  const idleS = Number(values.idle);
  if (!(rounds >= 1 && pings >= 20 && seconds >= 1 && idleS >= 1)) throw new Error('bad --rounds, --pings, --seconds or --idle');
  if (process.getuid?.() !== 0) throw new Error('needs root (namespaces, veths, OVS)');
  if (spawnSync('ovs-vsctl', ['-t', '5', 'show'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('Open vSwitch is not running: /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random');
  }
  const envs: [string, Record<string, string>][] = [['', {}]];
  for (const e of values['tinflow-env']) {
    const env: Record<string, string> = {};
    for (const kv of e.split(',')) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new Error(`--tinflow-env ${e}: expected K=V[,K=V]`);
      env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    envs.push([e, env]);
  }

  const setups: Setup[] = [];
  const samples = new Map<string, Sample[]>();
  let idleRes = new Map<string, Idle>();
  try {
    let net = 1;
    for (const [tag, env] of envs) {
      const key = tag ? `tinflow[${tag.replace(/TINFLOW_PORTIO_/g, '')}]` : 'tinflow';
      setups.push(await setupTinflow(key, key, net, 6890 + net, env));
      net++;
    }
    setups.push(setupOvs(net++));
    setups.push(setupBridge(net++));
    for (const s of setups) {
      samples.set(s.key, []);
      await ping(s, 20); // warm-up: ARP, caches
    }
    idleRes = await idle(setups, idleS);
    for (let r = 0; r < rounds; r++) {
      const order = setups.map((_, i) => setups[(i + r) % setups.length] as Setup);
      for (const s of order) {
        const x = await sample(s, pings, seconds);
        samples.get(s.key)?.push(x);
        process.stderr.write(`round ${r + 1} ${s.label}: p50 ${x.rttP50Ms.toFixed(3)} ms p99 ${x.rttP99Ms.toFixed(3)} ms, ${x.cpuUsPerPing.toFixed(1)} µs CPU/ping, ${x.udpKpps.toFixed(1)} kpps (${x.udpLossPct.toFixed(1)} % loss)\n`);
      }
    }
  } finally {
    for (const s of setups) {
      s.teardown?.();
      await s.lab.close();
    }
  }

  const med = new Map<string, Sample>();
  for (const [k, xs] of samples) {
    med.set(k, {
      rttP50Ms: median(xs.map((x) => x.rttP50Ms)),
      rttP99Ms: median(xs.map((x) => x.rttP99Ms)),
      rttAvgMs: median(xs.map((x) => x.rttAvgMs)),
      udpKpps: median(xs.map((x) => x.udpKpps)),
      udpLossPct: median(xs.map((x) => x.udpLossPct)),
      cpuUsPerPing: median(xs.map((x) => x.cpuUsPerPing)),
    });
  }
  const ovs = med.get('ovs') as Sample;
  const ovsIdle = idleRes.get('ovs');
  const cols = ['', 'RTT p50 ms', 'x OVS', 'RTT p99 ms', 'x OVS', 'UDP64 kpps', 'x OVS', 'loss %', 'CPU us/ping', `idle CPU ms/${idleS}s`, 'x OVS', 'wake-ups'];
  const line = (c: string[]) => process.stdout.write(c.map((x, i) => (i ? x.padStart(11) : x.padEnd(36))).join(' ') + '\n');
  line(cols);
  const rows: Record<string, unknown> = {};
  for (const s of setups) {
    const m = med.get(s.key) as Sample;
    const id = idleRes.get(s.key);
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : '-');
    line([
      s.label,
      m.rttP50Ms.toFixed(3), ratio(m.rttP50Ms, ovs.rttP50Ms),
      m.rttP99Ms.toFixed(3), ratio(m.rttP99Ms, ovs.rttP99Ms),
      m.udpKpps.toFixed(1), ratio(m.udpKpps, ovs.udpKpps),
      m.udpLossPct.toFixed(1),
      Number.isNaN(m.cpuUsPerPing) ? '-' : m.cpuUsPerPing.toFixed(1),
      id ? id.cpuMs.toFixed(1) : '-', id && ovsIdle ? ratio(id.cpuMs, ovsIdle.cpuMs) : '-',
      id ? String(id.wakeups) : '-',
    ]);
    rows[s.key] = { label: s.label, median: m, runs: samples.get(s.key), idle: id ?? null };
  }
  process.stdout.write(`medians of ${rounds} rounds; ${pings} pings 10 ms apart; iperf3 UDP ${seconds} s; idle over ${idleS} s (ovs-vswitchd: the whole daemon, every bridge it has)\n`);
  mkdirSync('results', { recursive: true });
  writeFileSync(values.out, JSON.stringify({ date: new Date().toISOString(), rounds, pings, seconds, idleSeconds: idleS, rows }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:latency: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
