/**
 * npm run bench:link — one tunnel between two namespaces on a veth underlay, tinflow's TinCan link
 * against tinc 1.0 (switch mode) and OpenVPN 2.6 (TAP, TLS, AES-256-GCM), with the raw veth as the
 * ceiling, all in the same run (root only).
 *
 *   ns A  10.76.0.1 ── veth ── 10.76.0.2  ns B        underlay
 *         10.77.0.1 ═ tinflow (offload TAP) ═ .2       one process per side: TAP + datapath + TinCanLink
 *         10.77.1.1 ═ tinflow (plain TAP)   ═ .2       (--carriers tinflow-plain)
 *         10.78.0.1 ═ tinc 1.0, Mode = switch ═ .2
 *         10.79.0.1 ═ OpenVPN, TLS (client A, server B) ═ .2
 *         10.79.1.1 ═ OpenVPN, static key ═ .2          (--carriers openvpn-static)
 *
 * Every carrier is set up once and stays up; then each round measures every carrier in turn
 * (interleaved, so that a noisy neighbour hits all of them alike), and the table shows medians over the
 * rounds. Per carrier and round, A → B: ping RTT (200 pings 10 ms apart, per-reply times, p50/p99),
 * iperf3 TCP with 1 and 4 streams (received side), iperf3 UDP with 18-byte payloads (64-byte frames)
 * at full speed (frames received per second), and the tunnel processes' CPU time (both sides, from
 * /proc/PID/stat) over the 1-stream TCP run. Ratios are against the best of tinc and OpenVPN.
 *
 * tinflow's TAP uses virtio-net offload by default: the sending host hands the peer 64 KiB TCP
 * super-frames (one read instead of ~45) and the datapath cuts them for the link. In a 6-round A/B here
 * it gave 594 against 543 Mbit/s (1 stream) and 633 against 523 (4 streams) for the plain TAP, which
 * stays available as `--carriers tinflow-plain`.
 *
 * tinc is given time to finish its path MTU discovery before it is measured (until then it sends
 * full-sized frames over its TCP meta connection), and is set up first and measured last in each round
 * so that this costs no time.
 * Usage: node dist/bench/link.js [--seconds 5] [--rounds 3] [--carriers LIST|all] [--profile DIR]
 *   --carriers  comma-separated from raw, tinflow, tinflow-plain, tinc, openvpn, openvpn-static
 *               (default raw,tinflow,tinc,openvpn: about 4 minutes)
 *   --profile   run the tinflow peers under `node --cpu-prof`, profiles into DIR
 * Writes results/link-bench.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, ip } from '../scripts/netlab.js';

const CARRIERS = ['raw', 'tinflow', 'tinflow-plain', 'tinc', 'openvpn', 'openvpn-static'] as const;
type CarrierKey = (typeof CARRIERS)[number];
const DEFAULT_CARRIERS: readonly CarrierKey[] = ['raw', 'tinflow', 'tinc', 'openvpn'];
const ANCHORS: readonly CarrierKey[] = ['tinc', 'openvpn', 'openvpn-static'];

const LABELS: Record<CarrierKey, string> = {
  raw: 'raw veth',
  tinflow: 'tinflow, TAP offload',
  'tinflow-plain': 'tinflow, plain TAP',
  tinc: 'tinc 1.0 switch',
  openvpn: 'OpenVPN TAP TLS',
  'openvpn-static': 'OpenVPN TAP static',
};

/** Underlay: A is .1, B is .2. Each carrier's overlay is its own /24, A .1 and B .2. */
const UNDERLAY = '10.76.0';
const OVERLAY: Record<CarrierKey, string> = {
  raw: UNDERLAY,
  tinflow: '10.77.0',
  'tinflow-plain': '10.77.1',
  tinc: '10.78.0',
  openvpn: '10.79.0',
  'openvpn-static': '10.79.1',
};
const IPERF_PORT = '5301';
/** The TinCan link's MTU (its default); the peers give their TAPs the same. */
const LINK_MTU = 1400;

interface Carrier {
  readonly key: CarrierKey;
  /** B's address on this carrier (iperf3 server, ping target). */
  readonly target: string;
  /** The tunnel processes (both sides) whose CPU time is counted; none for the raw veth. */
  readonly pids: readonly number[];
  /** What the carrier's set-up reported (cipher, link set-up time...). */
  readonly notes: string[];
  /** Resolves when the carrier may be measured (it may still settle after its set-up returned). */
  readonly ready?: Promise<void>;
  /** Extra statistics after the run (tinflow: the links' counters). */
  stats?(): Promise<unknown>;
  /** Asks the carrier's processes to end cleanly (before the lab stops what is left). */
  stop?(): Promise<void>;
}

interface Sample {
  tcp1Mbps: number;
  tcp4Mbps: number;
  udpFps: number;
  rttP50Ms: number;
  rttP99Ms: number;
  /** Both tunnel processes' CPU over the 1-stream TCP run, in % of one core (NaN for the raw veth). */
  cpuPct: number;
  /** The same CPU time per Gbit received, in ms. */
  cpuMsPerGbit: number;
}
type Metric = keyof Sample;
const METRICS: readonly Metric[] = ['tcp1Mbps', 'tcp4Mbps', 'udpFps', 'rttP50Ms', 'rttP99Ms', 'cpuPct', 'cpuMsPerGbit'];
/** Metrics where lower is better (ratios are inverted for them, so that > 1 always means "tinflow better"). */
const LOWER_IS_BETTER: ReadonlySet<Metric> = new Set<Metric>(['rttP50Ms', 'rttP99Ms', 'cpuPct', 'cpuMsPerGbit']);
/**
 * The columns compared with the anchors. Not CPU %: a tunnel that moves more uses more, so only CPU per
 * Gbit says which one is cheaper.
 */
const RATIO_METRICS: readonly Metric[] = METRICS.filter((m) => m !== 'cpuPct');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---- processes ---------------------------------------------------------------------------------------

/**
 * Runs cmd inside ns (tracked by the lab, so an interrupted run stops it) and returns its stdout; rejects
 * with its stderr when it fails or outlives timeoutMs.
 */
function runIn(lab: Lab, ns: string, cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const p = lab.spawnIn(ns, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout?.on('data', (b: Buffer) => out.push(b));
    p.stderr?.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not start: ${e.message}`));
    });
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString();
      if (code === 0) return resolveRun(stdout);
      const why = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code ?? signal}`;
      const detail = (Buffer.concat(err).toString() || stdout).trim().slice(-400);
      reject(new Error(`${cmd} ${args.slice(0, 8).join(' ')} in ${ns}: ${why}: ${detail}`));
    });
  });
}

/** A command in the root namespace (key and certificate generation); rejects with its output on failure. */
function runHere(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (b: Buffer) => (text += b.toString()));
    p.stderr.on('data', (b: Buffer) => (text += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.once('error', (e) => reject(new Error(`${cmd} could not start: ${e.message}`)));
    p.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolveRun(text);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}): ${text.trim().slice(-400)}`));
    });
  });
}

/** Whether an executable is on PATH (or at an absolute path). */
function have(cmd: string): boolean {
  const dirs = cmd.includes('/') ? [''] : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  return dirs.some((d) => existsSync(d === '' ? cmd : join(d, cmd)));
}

/** utime + stime of a process (all its threads), in clock ticks; 0 once it is gone. */
function cpuTicks(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // fields after "(comm)": state is field 3, utime 14 and stime 15 (proc(5)); comm may contain spaces
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** USER_HZ: what /proc/PID/stat counts in. 100 on every Linux architecture tinflow runs on. */
const TICKS_PER_SECOND = 100;

function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until `ping` from ns reaches addr (one reply), polling for up to timeoutMs. */
async function reachable(lab: Lab, ns: string, addr: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await runIn(lab, ns, 'ping', ['-c', '1', '-W', '1', '-n', addr], 5000);
      return true;
    } catch {
      await sleep(200);
    }
  }
  return false;
}

// ---- carriers ----------------------------------------------------------------------------------------

interface Env {
  readonly lab: Lab;
  readonly nsA: string;
  readonly nsB: string;
  readonly dir: string;
  readonly profileDir: string | undefined;
  /** Every TAP a carrier makes (its processes create them in their namespace), deleted by name at the end. */
  readonly taps: { readonly ns: string; readonly name: string }[];
}

/** Resolves when `text` shows up in the file at path (a daemon's log), or rejects after timeoutMs. */
async function logSays(path: string, text: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path) && readFileSync(path, 'utf8').includes(text)) return;
    await sleep(100);
  }
  throw new Error(`${what}: no "${text}" within ${timeoutMs} ms; its log ends:\n${logTail(path)}`);
}

function raw(): Carrier {
  return { key: 'raw', target: `${UNDERLAY}.2`, pids: [], notes: ['veth pair, kernel offloads on'] };
}

/**
 * Two bench/link-peer.js processes (initiator in A, responder in B); this process relays their
 * signaling lines. Resolves once both report the link up.
 */
async function tinflow(env: Env, key: 'tinflow' | 'tinflow-plain'): Promise<Carrier> {
  const offload = key === 'tinflow';
  const net = OVERLAY[key];
  const peerJs = fileURLToPath(new URL('./link-peer.js', import.meta.url));
  const sides = [
    { ns: env.nsA, role: 'initiator', tap: env.lab.name(offload ? 'tfa' : 'tpa'), n: 1 },
    { ns: env.nsB, role: 'responder', tap: env.lab.name(offload ? 'tfb' : 'tpb'), n: 2 },
  ] as const;
  for (const side of sides) env.taps.push({ ns: side.ns, name: side.tap });
  const procs: ChildProcess[] = [];
  const logs: string[] = [];
  const upMs: number[] = [];
  let statsWaiter: ((v: unknown) => void)[] = [];
  let failure: ((e: Error) => void) | undefined;
  let upCount = 0;
  let allUp: (() => void) | undefined;
  const up = new Promise<void>((res, rej) => {
    allUp = res;
    failure = rej;
  });
  for (const s of sides) {
    const logPath = join(env.dir, `${key}-${s.role}.log`);
    logs.push(logPath);
    const fd = openSync(logPath, 'a');
    const nodeFlags = env.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', env.profileDir, '--cpu-prof-name', `${key}-${s.role}-${Date.now()}.cpuprofile`];
    const p = env.lab.spawnIn(
      s.ns,
      process.execPath,
      [...nodeFlags, peerJs, '--role', s.role, '--tap', s.tap, '--addr', `${net}.${s.n}/24`, '--bind', `${UNDERLAY}.${s.n}`, '--mtu', String(LINK_MTU), ...(offload ? ['--offload'] : [])],
      { stdio: ['pipe', 'pipe', fd] },
    );
    closeSync(fd);
    // a peer that died must not take this process with it (EPIPE on its stdin); its exit is reported
    p.stdin?.on('error', () => undefined);
    procs.push(p);
    p.once('exit', (code, signal) => failure?.(new Error(`the ${s.role} peer exited (${code ?? signal}) before its link was up; its log ends:\n${logTail(logPath)}`)));
  }
  procs.forEach((p, i) => {
    const other = procs[1 - i] as ChildProcess;
    const stdout = p.stdout;
    if (stdout === null) throw new Error('a peer has no stdout pipe');
    createInterface({ input: stdout }).on('line', (line) => {
      let m: { t?: unknown; setupMs?: unknown; message?: unknown };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      switch (m.t) {
        case 'offer':
        case 'answer':
        case 'cand':
          other.stdin?.write(`${line}\n`);
          return;
        case 'up':
          upMs.push(Number(m.setupMs));
          if (++upCount === 2) allUp?.();
          return;
        case 'stats':
          statsWaiter.shift()?.(m);
          return;
        case 'error':
          failure?.(new Error(`${sides[i]?.role} peer: ${String(m.message)}`));
          return;
        default:
          return;
      }
    });
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([up, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`tinflow link not up within 30 s; logs:\n${logs.map((l) => logTail(l)).join('\n')}`)), 30_000)))]).finally(() => clearTimeout(timer));
  failure = undefined; // from now on a peer ending shows as failed measurements
  const pids = procs.map((p) => p.pid ?? 0);
  if (!(await reachable(env.lab, env.nsA, `${net}.2`, 10_000))) throw new Error(`tinflow link up but ${net}.2 does not answer pings`);
  return {
    key,
    target: `${net}.2`,
    pids,
    notes: [`TAP ${offload ? 'with virtio-net offload (TSO super-frames, segmented by the datapath)' : 'without offload (the kernel segments)'}`, `link MTU ${LINK_MTU}`, `link up in ${upMs.join(' / ')} ms`],
    stats: async () => {
      const replies = procs.map(
        (p) =>
          new Promise<unknown>((res) => {
            statsWaiter.push(res);
            p.stdin?.write('{"t":"stats"}\n');
            setTimeout(() => res(undefined), 2000).unref();
          }),
      );
      return Promise.all(replies);
    },
    stop: async () => {
      statsWaiter = [];
      for (const p of procs) if (p.exitCode === null) p.stdin?.write('{"t":"exit"}\n');
      await Promise.race([Promise.all(procs.map((p) => (p.exitCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r))))), sleep(3000)]);
    },
  };
}

/** tinc 1.0: one RSA key pair per host, Mode = switch, default cipher and digest; A connects to B. */
async function tinc(env: Env): Promise<Carrier> {
  const net = OVERLAY.tinc;
  const names = ['bencha', 'benchb'] as const;
  const sides = [
    { ns: env.nsA, name: names[0], peer: names[1], tap: env.lab.name('tca'), n: 1 },
    { ns: env.nsB, name: names[1], peer: names[0], tap: env.lab.name('tcb'), n: 2 },
  ];
  for (const side of sides) env.taps.push({ ns: side.ns, name: side.tap });
  const dirs = sides.map((s) => join(env.dir, `tinc-${s.name}`));
  for (const [i, s] of sides.entries()) {
    const d = dirs[i] as string;
    mkdirSync(join(d, 'hosts'), { recursive: true });
    const conf = [`Name = ${s.name}`, 'Mode = switch', `Interface = ${s.tap}`, 'AddressFamily = ipv4', `BindToAddress = ${UNDERLAY}.${s.n}`];
    if (s.n === 1) conf.push(`ConnectTo = ${s.peer}`);
    writeFileSync(join(d, 'tinc.conf'), conf.join('\n') + '\n');
    writeFileSync(join(d, 'hosts', s.name), `Address = ${UNDERLAY}.${s.n}\nPort = 655\n`);
    writeFileSync(join(d, 'tinc-up'), `#!/bin/sh\nip link set dev "$INTERFACE" up\nip addr add ${net}.${s.n}/24 dev "$INTERFACE"\n`);
    chmodSync(join(d, 'tinc-up'), 0o755);
  }
  await Promise.all(dirs.map((d) => runHere('tincd', ['-n', 'bench', '-c', d, '-K', '2048'])));
  // each host knows the other's host file (address and public key)
  copyFileSync(join(dirs[0] as string, 'hosts', names[0]), join(dirs[1] as string, 'hosts', names[0]));
  copyFileSync(join(dirs[1] as string, 'hosts', names[1]), join(dirs[0] as string, 'hosts', names[1]));
  const procs = sides.map((s, i) => {
    const d = dirs[i] as string;
    return env.lab.spawnIn(s.ns, 'tincd', ['-n', 'bench', '-c', d, '-D', `--pidfile=${join(d, 'pid')}`, `--logfile=${join(d, 'log')}`], { stdio: 'ignore' });
  });
  const logA = join(dirs[0] as string, 'log');
  if (!(await reachable(env.lab, env.nsA, `${net}.2`, 20_000))) {
    throw new Error(`tinc: ${net}.2 not reachable within 20 s; logs:\n${dirs.map((d) => logTail(join(d, 'log'))).join('\n')}`);
  }
  // Until its path MTU discovery has settled, tinc sends every frame larger than the smallest MTU it has
  // confirmed over its TCP meta connection (TCP in TCP): measure only once the peer's minimum and
  // maximum path MTU meet. SIGUSR2 makes tincd write its node list (with "pmtu N (min A max B)") to its log.
  const pmtu = async (): Promise<string> => {
    const deadline = Date.now() + 45_000;
    let last = 'unknown';
    while (Date.now() < deadline) {
      for (const p of procs) p.kill('SIGUSR2');
      await sleep(500);
      const lines = readFileSync(logA, 'utf8').split('\n').filter((l) => l.includes(` ${names[1]} at `) && l.includes('pmtu'));
      const m = /pmtu (\d+) \(min (\d+) max (\d+)\)/.exec(lines.at(-1) ?? '');
      if (m !== null) {
        last = `${m[1]} (min ${m[2]}, max ${m[3]})`;
        if (m[2] === m[3]) return `path MTU ${m[1]} (settled ${((45_000 - (deadline - Date.now())) / 1000).toFixed(1)} s after the link)`;
      }
    }
    return `path MTU not settled after 45 s: ${last}`;
  };
  const notes = ['RSA 2048 keys, default cipher/digest (aes-256-cbc, sha256, 4-byte MAC)'];
  return {
    key: 'tinc',
    target: `${net}.2`,
    pids: procs.map((p) => p.pid ?? 0),
    notes,
    ready: pmtu().then((n) => void notes.push(n)),
  };
}

/** A CA and a server and client certificate (ECDSA P-256) for OpenVPN's TLS mode. */
async function makePki(dir: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await runHere('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tinflow-bench-ca'], { cwd: dir });
  for (const [who, usage] of [['server', 'serverAuth'], ['client', 'clientAuth']] as const) {
    writeFileSync(join(dir, `${who}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=${usage}\n`);
    await runHere('openssl', ['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=bench-${who}`], { cwd: dir });
    await runHere('openssl', ['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`], { cwd: dir });
  }
}

/**
 * OpenVPN 2.6 point-to-point over UDP with a TAP on each side: TLS (server B, client A; the data
 * channel cipher negotiated from the default data-ciphers, AES-256-GCM) or a static key (AES-256-CBC,
 * the cipher RECIPES measured; OpenSSL 3 refuses the old BF-CBC default). No DCO (no kernel modules
 * here): the userspace data path, as tinc and tinflow.
 */
async function openvpn(env: Env, key: 'openvpn' | 'openvpn-static'): Promise<Carrier> {
  const net = OVERLAY[key];
  const d = join(env.dir, key);
  mkdirSync(d);
  const port = key === 'openvpn' ? '1194' : '1195';
  let auth: string[][];
  if (key === 'openvpn') {
    await makePki(d);
    const pki = (who: string) => ['--ca', join(d, 'ca.crt'), '--cert', join(d, `${who}.crt`), '--key', join(d, `${who}.key`)];
    auth = [
      ['--tls-client', '--remote-cert-tls', 'server', ...pki('client')],
      ['--tls-server', '--dh', 'none', ...pki('server')],
    ];
  } else {
    await runHere('openvpn', ['--genkey', 'secret', join(d, 'static.key')]);
    auth = [
      ['--secret', join(d, 'static.key'), '1', '--cipher', 'AES-256-CBC'],
      ['--secret', join(d, 'static.key'), '0', '--cipher', 'AES-256-CBC'],
    ];
  }
  const sides = [
    { ns: env.nsA, n: 1, peer: 2, tap: env.lab.name(key === 'openvpn' ? 'ova' : 'osa') },
    { ns: env.nsB, n: 2, peer: 1, tap: env.lab.name(key === 'openvpn' ? 'ovb' : 'osb') },
  ];
  for (const side of sides) env.taps.push({ ns: side.ns, name: side.tap });
  const logs = sides.map((s) => join(d, `side${s.n}.log`));
  const procs = sides.map((s, i) =>
    env.lab.spawnIn(
      s.ns,
      'openvpn',
      [
        '--dev', s.tap, '--dev-type', 'tap', '--proto', 'udp4', '--local', `${UNDERLAY}.${s.n}`, '--lport', port,
        '--remote', `${UNDERLAY}.${s.peer}`, '--rport', port, '--ifconfig', `${net}.${s.n}`, '255.255.255.0',
        '--disable-dco', '--ping', '2', '--ping-restart', '30', '--verb', '3', '--log', logs[i] as string,
        ...(auth[i] as string[]),
      ],
      { stdio: 'ignore' },
    ),
  );
  await Promise.all(logs.map((l) => logSays(l, 'Initialization Sequence Completed', 30_000, `${key} (${l})`)));
  if (!(await reachable(env.lab, env.nsA, `${net}.2`, 10_000))) throw new Error(`${key}: ${net}.2 not reachable; log:\n${logTail(logs[0] as string)}`);
  const log = readFileSync(logs[0] as string, 'utf8');
  const cipher = /Data Channel: cipher '([^']+)'/.exec(log)?.[1] ?? /Outgoing Static Key Encryption: Cipher '([^']+)'/.exec(log)?.[1] ?? /cipher '([^']+)'/i.exec(log)?.[1];
  return { key, target: `${net}.2`, pids: procs.map((p) => p.pid ?? 0), notes: [`data channel ${cipher ?? '(cipher not found in the log)'}`, key === 'openvpn' ? 'p2p, --tls-server B / --tls-client A, ECDSA certificates' : '--secret (deprecated mode)'] };
}

// ---- measurements ------------------------------------------------------------------------------------

interface IperfTcp {
  end: { sum_received: { bits_per_second: number } };
}
interface IperfUdp {
  end: { sum: { packets: number; lost_packets: number; seconds: number } };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

async function measure(env: Env, c: Carrier, seconds: number): Promise<Sample> {
  const { lab, nsA, nsB } = env;
  const server = lab.spawnIn(nsB, 'iperf3', ['-s', '-B', c.target, '-p', IPERF_PORT], { stdio: 'ignore' });
  try {
    await sleep(300);
    // warm-up: ARP, MAC learning, caches
    await runIn(lab, nsA, 'ping', ['-c', '2', '-i', '0.1', '-W', '1', '-n', c.target], 10_000).catch(() => undefined);
    const ping = await runIn(lab, nsA, 'ping', ['-c', '200', '-i', '0.01', '-W', '1', '-n', c.target], 30_000);
    const rtts = [...ping.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
    const limit = (seconds + 20) * 1000;
    const iperf = (extra: string[]) => runIn(lab, nsA, 'iperf3', ['-c', c.target, '-p', IPERF_PORT, '--connect-timeout', '5000', '-t', String(seconds), '-J', ...extra], limit);
    const cpu0 = c.pids.reduce((s, p) => s + cpuTicks(p), 0);
    const w0 = performance.now();
    const tcp1 = JSON.parse(await iperf([])) as IperfTcp;
    const wall = (performance.now() - w0) / 1000;
    const cpuS = (c.pids.reduce((s, p) => s + cpuTicks(p), 0) - cpu0) / TICKS_PER_SECOND;
    const tcp4 = JSON.parse(await iperf(['-P', '4'])) as IperfTcp;
    const udp = JSON.parse(await iperf(['-u', '-b', '0', '-l', '18'])) as IperfUdp;
    const tcp1Mbps = tcp1.end.sum_received.bits_per_second / 1e6;
    const s = udp.end.sum;
    const gbit = (tcp1Mbps / 1000) * seconds;
    return {
      tcp1Mbps,
      tcp4Mbps: tcp4.end.sum_received.bits_per_second / 1e6,
      udpFps: (s.packets - s.lost_packets) / s.seconds,
      rttP50Ms: percentile(rtts, 50),
      rttP99Ms: percentile(rtts, 99),
      cpuPct: c.pids.length === 0 ? NaN : (100 * cpuS) / wall,
      cpuMsPerGbit: c.pids.length === 0 ? NaN : (1000 * cpuS) / gbit,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once('exit', r)));
  }
}

// ---- report ------------------------------------------------------------------------------------------

function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

function fmt(m: Metric, v: number): string {
  if (!Number.isFinite(v)) return '—';
  switch (m) {
    case 'tcp1Mbps':
    case 'tcp4Mbps':
    case 'cpuPct':
    case 'cpuMsPerGbit':
      return v.toFixed(0);
    case 'udpFps':
      return (v / 1000).toFixed(1);
    case 'rttP50Ms':
    case 'rttP99Ms':
      return v.toFixed(3);
  }
}

const HEAD: Record<Metric, string> = {
  tcp1Mbps: 'TCP1 Mbit/s',
  tcp4Mbps: 'TCP4 Mbit/s',
  udpFps: 'UDP64 kfps',
  rttP50Ms: 'RTT p50 ms',
  rttP99Ms: 'RTT p99 ms',
  cpuPct: 'CPU %',
  cpuMsPerGbit: 'CPU ms/Gbit',
};

function line(cells: readonly string[]): void {
  process.stdout.write(cells.map((x, i) => (i ? x.padStart(15) : x.padEnd(22))).join('') + '\n');
}

// ---- main --------------------------------------------------------------------------------------------

function versionOf(cmd: string, args: string[], re: RegExp): Promise<string> {
  return runHere(cmd, args).then(
    (t) => re.exec(t)?.[1] ?? 'unknown',
    (e: unknown) => (re.exec(errText(e))?.[1] ?? 'unknown'),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      carriers: { type: 'string', default: DEFAULT_CARRIERS.join(',') },
      profile: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  if (!(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60)) throw new Error(`--seconds ${values.seconds}: expected a whole number from 1 to 60`);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) throw new Error(`--rounds ${values.rounds}: expected a whole number from 1 to 20`);
  const asked = values.carriers === 'all' ? [...CARRIERS] : values.carriers.split(',').map((s) => s.trim());
  for (const k of asked) if (!(CARRIERS as readonly string[]).includes(k)) throw new Error(`--carriers: unknown carrier ${JSON.stringify(k)} (known: ${CARRIERS.join(', ')}, or all)`);
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, veths, TAP devices)');
  for (const t of ['ip', 'iperf3', 'ping']) if (!have(t)) throw new Error(`${t} is not installed`);

  let keys = asked as CarrierKey[];
  const skipped: Partial<Record<CarrierKey, string>> = {};
  const missing = (pkg: string, bin: string, which: (k: CarrierKey) => boolean): void => {
    if (have(bin) && (bin !== 'openvpn' || have('openssl'))) return;
    for (const k of keys.filter(which)) skipped[k] = `${bin} is not installed (apt-get install ${pkg})`;
    if (keys.some(which)) process.stderr.write(`bench:link: ${bin} is not installed: its rows are skipped. Install it with: apt-get install ${pkg}\n`);
    keys = keys.filter((k) => !which(k));
  };
  missing('tinc', 'tincd', (k) => k === 'tinc');
  missing('openvpn', 'openvpn', (k) => k.startsWith('openvpn'));
  missing('openssl', 'openssl', (k) => k === 'openvpn');

  const lab = new Lab('lk');
  const carriers: Carrier[] = [];
  const taps: Env['taps'] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await Promise.all(carriers.map((c) => c.stop?.().catch(() => undefined)));
      for (const t of taps) {
        try {
          ip('-n', t.ns, 'link', 'del', t.name);
        } catch {
          // gone with the process that made it (or never made)
        }
      }
      await lab.close(3000);
      // by name: nothing of this run may stay behind
      const left = ip('-o', 'link', 'show').split('\n').filter((l) => l.includes(lab.prefix));
      const ns = ip('netns', 'list').split('\n').filter((l) => l.includes(lab.prefix));
      if (left.length + ns.length > 0) process.stderr.write(`bench:link: left behind after cleanup: ${[...left, ...ns].join('; ')}\n`);
    })());
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupted = true;
    process.stderr.write(`\nbench:link: ${sig}: removing the namespaces, TAPs and processes of this run\n`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const dir = lab.tempDir('link');
    const profileDir = values.profile === undefined ? undefined : resolve(values.profile);
    if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
    const nsA = lab.ns('a');
    const nsB = lab.ns('b');
    const va = lab.name('va');
    const vb = lab.name('vb');
    lab.veth(va, vb);
    lab.move(va, nsA, `${UNDERLAY}.1/24`);
    lab.move(vb, nsB, `${UNDERLAY}.2/24`);
    const env: Env = { lab, nsA, nsB, dir, profileDir, taps };

    const started = performance.now();
    // tinc first: its path MTU discovery then settles while the others are set up and measured; in
    // each round it comes last.
    const tincLast = (k: CarrierKey): number => (k === 'tinc' ? 1 : 0);
    keys.sort((x, y) => tincLast(x) - tincLast(y));
    for (const k of [...keys].sort((x, y) => tincLast(y) - tincLast(x))) {
      if (interrupted) return;
      const t = performance.now();
      try {
        let c: Carrier;
        switch (k) {
          case 'raw':
            c = raw();
            break;
          case 'tinflow':
          case 'tinflow-plain':
            c = await tinflow(env, k);
            break;
          case 'tinc':
            c = await tinc(env);
            break;
          case 'openvpn':
          case 'openvpn-static':
            c = await openvpn(env, k);
            break;
        }
        carriers.push(c);
        carriers.sort((x, y) => tincLast(x.key) - tincLast(y.key));
        process.stderr.write(`bench:link: ${LABELS[k]} up in ${((performance.now() - t) / 1000).toFixed(1)} s (${c.notes.join('; ')})\n`);
      } catch (e) {
        skipped[k] = `set-up failed: ${errText(e)}`;
        process.stderr.write(`bench:link: ${LABELS[k]}: set-up failed, skipped: ${errText(e)}\n`);
      }
    }

    const samples = new Map<CarrierKey, Sample[]>(carriers.map((c) => [c.key, []]));
    const failures: string[] = [];
    for (let r = 1; r <= rounds; r++) {
      for (const c of carriers) {
        if (interrupted) return;
        let s: Sample;
        try {
          await c.ready;
          s = await measure(env, c, seconds);
        } catch (e) {
          if (interrupted) return;
          failures.push(`round ${r}, ${c.key}: ${errText(e)}`);
          process.stderr.write(`bench:link: round ${r}, ${LABELS[c.key]}: measurement failed: ${errText(e)}\n`);
          s = { tcp1Mbps: NaN, tcp4Mbps: NaN, udpFps: NaN, rttP50Ms: NaN, rttP99Ms: NaN, cpuPct: NaN, cpuMsPerGbit: NaN };
        }
        samples.get(c.key)?.push(s);
        process.stderr.write(`bench:link: round ${r}/${rounds} ${LABELS[c.key].padEnd(22)} ${METRICS.map((m) => `${HEAD[m]} ${fmt(m, s[m])}`).join(', ')}\n`);
      }
    }
    const stats: Record<string, unknown> = {};
    for (const c of carriers) if (c.stats) stats[c.key] = await c.stats();

    const med = new Map<CarrierKey, Sample>();
    for (const [k, ss] of samples) {
      med.set(k, Object.fromEntries(METRICS.map((m) => [m, median(ss.map((s) => s[m]))])) as unknown as Sample);
    }
    // the best anchor per metric (highest throughput, lowest RTT and CPU)
    const best = {} as Record<Metric, { value: number; by: CarrierKey | undefined }>;
    for (const m of METRICS) {
      let b: { value: number; by: CarrierKey | undefined } = { value: NaN, by: undefined };
      for (const k of ANCHORS) {
        const v = med.get(k)?.[m];
        if (v === undefined || !Number.isFinite(v)) continue;
        if (b.by === undefined || (LOWER_IS_BETTER.has(m) ? v < b.value : v > b.value)) b = { value: v, by: k };
      }
      best[m] = b;
    }
    const ratio = (m: Metric, v: number): number => (LOWER_IS_BETTER.has(m) ? best[m].value / v : v / best[m].value);

    process.stdout.write(`\nbench:link — ${seconds} s per measurement, ${rounds} rounds interleaved, medians; A → B over one tunnel\n`);
    line(['', ...METRICS.map((m) => HEAD[m])]);
    for (const c of carriers) line([LABELS[c.key], ...METRICS.map((m) => fmt(m, med.get(c.key)?.[m] ?? NaN))]);
    for (const [k, why] of Object.entries(skipped)) process.stdout.write(`${LABELS[k as CarrierKey].padEnd(22)}skipped: ${why.split('\n')[0]}\n`);
    const ours = carriers.filter((c) => c.key.startsWith('tinflow'));
    const ratios: Record<string, Record<string, number>> = {};
    if (ours.length > 0 && best.tcp1Mbps.by !== undefined) {
      process.stdout.write(`\nratio vs the best of tinc/OpenVPN per column (> 1: tinflow better; RTT and CPU per Gbit inverted)\n`);
      line(['', ...RATIO_METRICS.map((m) => HEAD[m])]);
      line(['best anchor', ...RATIO_METRICS.map((m) => best[m].by ?? '—')]);
      for (const c of ours) {
        const s = med.get(c.key);
        if (s === undefined) continue;
        ratios[c.key] = Object.fromEntries(RATIO_METRICS.map((m) => [m, ratio(m, s[m])]));
        line([LABELS[c.key], ...RATIO_METRICS.map((m) => (Number.isFinite(ratio(m, s[m])) ? `${ratio(m, s[m]).toFixed(2)}x` : '—'))]);
      }
      const main = med.get('tinflow') ?? med.get('tinflow-plain');
      if (main !== undefined) {
        const x = ratio('tcp1Mbps', main.tcp1Mbps);
        process.stdout.write(`\ngoal (issue 12): tinflow TCP 1 stream >= 1.0x the best of tinc/OpenVPN (${best.tcp1Mbps.by}): ${x.toFixed(2)}x — ${x >= 1 ? 'met' : 'NOT met'}\n`);
      }
    }
    process.stdout.write('\n');
    for (const c of carriers) process.stdout.write(`${LABELS[c.key].padEnd(22)}${c.notes.join('; ')}\n`);
    process.stdout.write(`(${((performance.now() - started) / 1000).toFixed(0)} s)\n`);

    const versions = {
      node: process.version,
      nodeDatachannel: (JSON.parse(readFileSync(resolve('node_modules/node-datachannel/package.json'), 'utf8')) as { version: string }).version,
      tinc: keys.includes('tinc') ? await versionOf('tincd', ['--version'], /tinc version (\S+)/) : undefined,
      openvpn: keys.some((k) => k.startsWith('openvpn')) ? await versionOf('openvpn', ['--version'], /OpenVPN (\S+)/) : undefined,
      iperf3: await versionOf('iperf3', ['--version'], /iperf (\S+)/),
    };
    mkdirSync('results', { recursive: true });
    const result = {
      date: new Date().toISOString(),
      seconds,
      rounds,
      versions,
      carriers: Object.fromEntries(carriers.map((c) => [c.key, { label: LABELS[c.key], notes: c.notes, median: med.get(c.key), rounds: samples.get(c.key) }])),
      skipped,
      bestAnchor: best,
      ratiosVsBestAnchor: ratios,
      failures,
      tinflowStats: stats,
    };
    writeFileSync('results/link-bench.json', JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
    process.stdout.write(`written: results/link-bench.json${profileDir === undefined ? '' : `; CPU profiles of the tinflow peers: ${profileDir}`}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:link: ${errText(e)}\n`);
  process.exitCode = 1;
});
