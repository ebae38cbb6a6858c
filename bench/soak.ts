/**
 * npm run soak (root) — a long run of mixed load against real tinflow processes, watching for what only
 * time shows: memory that grows, an event loop that falls behind, latency that creeps up.
 *
 * What runs:
 *   - a `tinflow controller` process (learning app, REST API) and a `tinflow switch` process whose two
 *     ports are veths into two namespaces, with a ping between them the whole time;
 *   - fake switches (test/tools/fake-switch.ts) connected to the controller, sending packet-ins at a
 *     steady rate (ARP broadcasts and unicast frames among a bounded set of hosts, so the learning app's
 *     tables stay bounded and any growth is a leak) and answering flow and port stats;
 *   - REST clients: stats of every switch, flow adds and deletes through ofctl_rest;
 *   - flow-mod churn on the real switch: a batch of flows added and deleted every second, and every few
 *     seconds the learnt flows deleted, so the ping's frames miss and are learnt again;
 *   - echo probes both ways on the OpenFlow channel (the controller's --echo-interval, the switch's
 *     --probe-interval, both short);
 *   - an overlay of a few whole nodes (overlay/node.ts: datapath, in-tree controller with BoundedFlood over
 *     TCP, topology) in this process, with signaling and links in memory as test/overlay/overlay-memory
 *     has them, one node's application port sending a broadcast every 250 ms, each copy counted.
 * What is watched, every --sample seconds: each process's RSS (/proc/PID/status), each event loop's delay
 * (the controller's from its /metrics, prom-client's nodejs_eventloop_lag_*; the switch's from its control
 * socket's `process`; this driver's own), and the latency a separate, light client sees: an echo round
 * trip on its own OpenFlow connection to the controller and to the switch, and a REST GET, sent every
 * 250 ms from a probe process of their own (this file again, `--probe-child`), so that the load this
 * process generates does not show up as latency of the processes under test.
 *
 * At the end: a table over time, and a verdict: RSS slope (MiB per minute, least squares over the second
 * half) and RSS peak of each half per process (the slope alone reads a GC sawtooth as a trend), and
 * whether probe latency stayed bounded (the second half's p99 within 3× the first half's plus 20 ms).
 * Writes results/soak-<date>.json. test/bounds/soak.test.ts runs the same code for 25 s and asserts
 * loosely (no process died, every probe answered, counters that agree).
 *
 * Usage: node dist/bench/soak.js [--minutes 10 | --seconds N] [--sample S] [--fake-switches 8]
 *          [--packet-ins 2000] [--rest-clients 4] [--overlay-nodes 4]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Framer, type OFPMessage, OFPR, OFP_NO_BUFFER, decode, encode } from '../openflow/index.js';
import { stopProcess } from '../base/shutdown.js';
import { fileTail, sleep } from '../scripts/daemon.js';
import { Lab } from '../scripts/netlab.js';
import { nullLogger } from '../base/logger.js';
import type { LinkInfo, LinkManagerOptions } from '../link/manager.js';
import { resolveNodeConfig } from '../overlay/config.js';
import { type NodeLinkManager, type NodeSignal, OverlayNode } from '../overlay/node.js';
import { MemoryPort, wire } from '../switch/memory-port.js';
import { freePort } from '../test/helpers/free-port.js';
import { FakeSwitch } from '../test/tools/fake-switch.js';

// ---------------------------------------------------------------------------------------------------
// Options

export interface SoakOptions {
  readonly seconds: number;
  /** Seconds between samples. */
  readonly sample: number;
  readonly fakeSwitches: number;
  /** Packet-ins per second, over all fake switches. */
  readonly packetIns: number;
  readonly restClients: number;
  /** Milliseconds between a light probe's requests. */
  readonly probeMs: number;
  /** Whole overlay nodes in this process, in memory, passing broadcasts (0: none). */
  readonly overlayNodes: number;
}

export const SOAK_DEFAULTS: SoakOptions = { seconds: 600, sample: 10, fakeSwitches: 8, packetIns: 2000, restClients: 4, probeMs: 250, overlayNodes: 4 };

function parseOptions(argv: readonly string[]): SoakOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      sample: { type: 'string' },
      'fake-switches': { type: 'string' },
      'packet-ins': { type: 'string' },
      'rest-clients': { type: 'string' },
      'overlay-nodes': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: soak [--minutes 10 | --seconds N] [--sample S] [--fake-switches 8] [--packet-ins 2000] [--rest-clients 4] [--overlay-nodes 4]\n');
    process.exit(0);
  }
  const num = (key: string, v: string | undefined, lo: number, hi: number, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new Error(`--${key} must be a number in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    return n;
  };
  if (values.minutes !== undefined && values.seconds !== undefined) throw new Error('--minutes and --seconds: give one');
  const seconds = values.seconds !== undefined ? num('seconds', values.seconds, 5, 86_400, 0) : num('minutes', values.minutes, 0.1, 1440, 10) * 60;
  return {
    seconds,
    sample: num('sample', values.sample, 1, 600, Math.max(2, Math.min(10, Math.round(seconds / 30)))),
    fakeSwitches: num('fake-switches', values['fake-switches'], 1, 64, SOAK_DEFAULTS.fakeSwitches),
    packetIns: num('packet-ins', values['packet-ins'], 0, 100_000, SOAK_DEFAULTS.packetIns),
    restClients: num('rest-clients', values['rest-clients'], 0, 64, SOAK_DEFAULTS.restClients),
    probeMs: SOAK_DEFAULTS.probeMs,
    overlayNodes: num('overlay-nodes', values['overlay-nodes'], 0, 16, SOAK_DEFAULTS.overlayNodes),
  };
}

// ---------------------------------------------------------------------------------------------------
// Processes

/** The tinflow CLI as the users run it; the pid is node's own (scripts/tinflow imports dist in-process). */
const TINFLOW = 'scripts/tinflow';
/** This file, built: the probe process runs it (also when the soak runs from source, in the test). */
const SOAK_JS = 'dist/bench/soak.js';


export interface Daemon {
  readonly what: string;
  readonly proc: ChildProcess;
  readonly log: string;
  /** Why it ended, once it has. */
  exited: string | undefined;
}

/** Starts `tinflow ARGS`, stderr (its JSON log) to a file; the pipe is not kept, so it can never block. */
export function startTinflow(what: string, args: readonly string[], dir: string): Daemon {
  const log = join(dir, `${what}.log`);
  const fd = openSync(log, 'a');
  const proc = spawn(process.execPath, [resolve(TINFLOW), ...args], { stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  const d: Daemon = { what, proc, log, exited: undefined };
  proc.on('exit', (code, sig) => {
    d.exited = `exited ${code ?? sig}`;
  });
  return d;
}

/** VmRSS of pid in bytes, or NaN once it is gone. */
export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** One request on a switch's control socket; its reply lines. */
export function ctlRequest(path: string, cmd: string, args: readonly string[] = []): Promise<string[]> {
  return new Promise((res, rej) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      rej(new Error(`${cmd} on ${path}: no answer in 5 s`));
    }, 5000);
    sock.on('connect', () => sock.write(JSON.stringify({ cmd, args }) + '\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const r = JSON.parse(buf.slice(0, nl)) as { ok: boolean; lines?: string[]; error?: string };
        if (r.ok) res(r.lines ?? []);
        else rej(new Error(`${cmd}: ${r.error ?? '?'}`));
      } catch (e) {
        rej(e instanceof Error ? e : new Error(String(e)));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
  });
}

/** `key value` lines into a map of numbers. */
function keyValues(lines: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) {
    const [k, v] = l.split(' ');
    if (k !== undefined && v !== undefined) m.set(k, Number(v));
  }
  return m;
}

/** Prometheus text: the value of the first sample of a metric (with a label filter if given). */
export function promValue(text: string, name: string, label?: string): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (label !== undefined && !rest.includes(label)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

export async function waitUntil(what: string, ok: () => Promise<boolean> | boolean, ms: number, daemons: readonly Daemon[]): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const d of daemons) if (d.exited) throw new Error(`${d.what} ${d.exited} while waiting for ${what}: ${fileTail(d.log)}`);
    if (await Promise.resolve().then(ok).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms; ${daemons.map((d) => `${d.what}: ${fileTail(d.log, 5)}`).join('; ')}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------
// Latency records

/** One round trip: [when it ended, epoch ms; its time, ms]. */
type Rtt = readonly [number, number];

/** Round-trip times of one probe; `take()` gives those since the last take. */
class Rtts {
  sent = 0;
  answered = 0;
  failed = 0;
  private now: Rtt[] = [];

  add(ms: number): void {
    this.answered++;
    this.now.push([Date.now(), ms]);
  }

  take(): Rtt[] {
    const t = this.now;
    this.now = [];
    return t;
  }
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

// ---------------------------------------------------------------------------------------------------
// Probes: a light client on its own connection

/** Echo requests on a timer and their round trips; a subclass says how a message goes out and how its connection ends. */
abstract class EchoProbe {
  readonly rtt = new Rtts();
  private readonly pending = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  /** `xid`: the first echo request's xid (each probe its own range). */
  constructor(private xid: number) {}

  protected abstract send(m: OFPMessage): void;
  protected abstract end(): void;

  /** An echo reply arrived: its round trip counts if it answers one of ours. */
  protected echoReply(xid: number): void {
    const t0 = this.pending.get(xid);
    if (t0 !== undefined) {
      this.pending.delete(xid);
      this.rtt.add(performance.now() - t0);
    }
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      const xid = this.xid++;
      this.pending.set(xid, performance.now());
      this.rtt.sent++;
      this.send({ type: 'OFPEchoRequest', xid, data: Buffer.alloc(0) });
    }, everyMs);
  }

  stopSending(): void {
    clearInterval(this.timer);
  }

  outstanding(): number {
    return this.pending.size;
  }

  close(): void {
    this.stopSending();
    this.end();
  }
}

/** Echo requests to a controller, from a fake switch of its own: the controller's OpenFlow latency. */
class ControllerEchoProbe extends EchoProbe {
  readonly sw: FakeSwitch;

  constructor(port: number) {
    super(0x5eed_0000);
    this.sw = new FakeSwitch({
      dpid: 0x50a4_0000_0000n,
      port,
      answer: (m) => {
        if (m.type !== 'OFPEchoReply') return undefined;
        this.echoReply(m.xid);
        return [];
      },
    });
  }

  protected send(m: OFPMessage): void {
    this.sw.send(m);
  }

  protected end(): void {
    this.sw.end();
  }
}

/**
 * Echo requests to a switch, as a second controller on its passive listener (`--listen ptcp:`): the
 * switch's OpenFlow latency. It answers the switch's echoes and ignores the rest (a few packet-ins).
 */
class SwitchEchoProbe extends EchoProbe {
  private readonly framer = new Framer();
  readonly sock;
  hello = false;
  closed: string | undefined;

  constructor(port: number) {
    super(0x5eed_8000);
    this.sock = createConnection({ host: '127.0.0.1', port, noDelay: true });
    this.sock.on('data', (d: Buffer) => {
      for (const raw of this.framer.push(d)) this.onMessage(decode(raw));
    });
    this.sock.on('error', (e) => (this.closed ??= e.message));
    this.sock.on('close', () => (this.closed ??= 'closed by the switch'));
    this.send({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] });
  }

  protected send(m: OFPMessage): void {
    if (!this.sock.destroyed) this.sock.write(encode(m));
  }

  protected end(): void {
    this.sock.destroy();
  }

  private onMessage(m: OFPMessage): void {
    if (m.type === 'OFPHello') this.hello = true;
    else if (m.type === 'OFPEchoRequest') this.send({ type: 'OFPEchoReply', xid: m.xid, data: m.data });
    else if (m.type === 'OFPEchoReply') this.echoReply(m.xid);
  }
}

/** GET /stats/switches on its own connection: the REST API's latency for a client outside the load. */
class RestProbe {
  readonly rtt = new Rtts();
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  readonly statuses = new Map<number, number>();

  constructor(private readonly base: string) {}

  start(everyMs: number): void {
    this.timer = setInterval(() => void this.once(), everyMs);
  }

  private async once(): Promise<void> {
    this.rtt.sent++;
    this.inFlight++;
    const t0 = performance.now();
    try {
      const r = await fetch(`${this.base}/stats/switches`, { signal: AbortSignal.timeout(30_000) });
      await r.arrayBuffer();
      this.statuses.set(r.status, (this.statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) this.rtt.add(performance.now() - t0);
      else this.rtt.failed++;
    } catch {
      this.rtt.failed++;
    } finally {
      this.inFlight--;
    }
  }

  stopSending(): void {
    clearInterval(this.timer);
  }

  outstanding(): number {
    return this.inFlight;
  }
}

// ---------------------------------------------------------------------------------------------------
// The probe process: the light client runs in a process of its own, so that what it measures is the
// processes under test and not the load this one generates (fake switches, REST clients, the overlay).

type ProbeName = 'controller_echo' | 'switch_echo' | 'rest_get';
const PROBES: readonly ProbeName[] = ['controller_echo', 'switch_echo', 'rest_get'];

/** One probe's counts so far and its round trips since the last report. */
interface ProbeReport {
  readonly sent: number;
  readonly answered: number;
  readonly failed: number;
  readonly outstanding: number;
  readonly rtts: readonly Rtt[];
}
type ProbeReports = Record<ProbeName, ProbeReport>;

/**
 * The child's side (`soak.js --probe-child OFPORT SWPORT BASE MS`): connects its probes, says 'ready', and
 * over IPC: 'start' starts them, 'report' answers a ProbeReports, 'stop' stops sending, waits (at most
 * 10 s) for the last answers, answers a final report and ends.
 */
async function probeChild(args: readonly string[]): Promise<void> {
  const [ofPort, swPort, base, every] = args;
  const ctl = new ControllerEchoProbe(Number(ofPort));
  const sw = new SwitchEchoProbe(Number(swPort));
  const rest = new RestProbe(base ?? '');
  const probes = { controller_echo: ctl, switch_echo: sw, rest_get: rest };
  const send = (m: unknown): void => void process.send?.(m);
  process.on('disconnect', () => process.exit(0));
  const one = (p: (typeof probes)[ProbeName]): ProbeReport => ({ sent: p.rtt.sent, answered: p.rtt.answered, failed: p.rtt.failed, outstanding: p.outstanding(), rtts: p.rtt.take() });
  const report = (): ProbeReports => ({ controller_echo: one(ctl), switch_echo: one(sw), rest_get: one(rest) });
  process.on('message', (m: unknown) => {
    if (m === 'start') for (const p of Object.values(probes)) p.start(Number(every));
    else if (m === 'report') send(report());
    else if (m === 'stop') {
      for (const p of Object.values(probes)) p.stopSending();
      void waitUntil('the last answers', () => PROBES.every((k) => probes[k].outstanding() === 0), 10_000, [])
        .catch(() => undefined)
        .then(() => {
          send(report());
          ctl.close();
          sw.close();
          process.disconnect();
        });
    }
  });
  const dpid = ctl.sw.dpid.toString();
  try {
    await waitUntil('the probe connections', async () => {
      if (!sw.hello) return false;
      const list = (await (await fetch(`${base ?? ''}/stats/switches`)).json()) as unknown[];
      return list.map(String).includes(dpid);
    }, 15_000, []);
  } catch (e) {
    // the parent reads the reason in the log; its connections would keep this process alive
    process.stderr.write(`soak probe process: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  send('ready');
}

/** The parent's side: the child, and one answer awaited at a time. */
class ProbeProcess {
  readonly daemon: Daemon;
  private readonly answers: ((m: unknown) => void)[] = [];

  constructor(args: readonly string[], dir: string) {
    const log = join(dir, 'probes.log');
    const fd = openSync(log, 'a');
    const proc = spawn(process.execPath, [resolve(SOAK_JS), '--probe-child', ...args], { stdio: ['ignore', 'ignore', fd, 'ipc'] });
    closeSync(fd);
    this.daemon = { what: 'probe process', proc, log, exited: undefined };
    proc.on('exit', (code, sig) => {
      this.daemon.exited = `exited ${code ?? sig}`;
    });
    proc.on('message', (m: unknown) => this.answers.shift()?.(m));
  }

  /** Sends cmd (if any) and resolves with the child's next message. */
  ask(cmd: 'report' | 'stop' | undefined, ms: number): Promise<unknown> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`the probe process did not answer ${cmd ?? 'ready'} in ${ms} ms: ${fileTail(this.daemon.log)}`)), ms);
      this.answers.push((m) => {
        clearTimeout(timer);
        res(m);
      });
      if (cmd !== undefined) this.daemon.proc.send(cmd);
    });
  }

  start(): void {
    this.daemon.proc.send('start');
  }
}

/** The parent's totals of one probe, from the child's reports. */
class ProbeTally {
  sent = 0;
  answered = 0;
  failed = 0;
  outstanding = 0;
  readonly all: Rtt[] = [];

  /** Takes a report in; the interval's round-trip times. */
  fold(r: ProbeReport): number[] {
    this.sent = r.sent;
    this.answered = r.answered;
    this.failed = r.failed;
    this.outstanding = r.outstanding;
    for (const x of r.rtts) this.all.push(x);
    return r.rtts.map(([, ms]) => ms);
  }
}

// ---------------------------------------------------------------------------------------------------
// Load

const HOSTS_PER_SWITCH = 256;
const HOST_PORTS = 4;

function macOf(sw: number, h: number): Buffer {
  return Buffer.from([0x02, 0x5a, sw & 0xff, 0, (h >> 8) & 0xff, h & 0xff]);
}

/** A 60-byte frame from host h of switch sw: a broadcast ARP request, or unicast to host h+1. */
function frame(sw: number, h: number, broadcast: boolean): Buffer {
  const f = Buffer.alloc(60);
  if (broadcast) f.fill(0xff, 0, 6);
  else macOf(sw, (h + 1) % HOSTS_PER_SWITCH).copy(f, 0);
  macOf(sw, h).copy(f, 6);
  f.writeUInt16BE(broadcast ? 0x0806 : 0x88b5, 12);
  if (broadcast) {
    f.writeUInt16BE(1, 14);
    f.writeUInt16BE(0x0800, 16);
    f[18] = 6;
    f[19] = 4;
    f.writeUInt16BE(1, 20);
    macOf(sw, h).copy(f, 22);
  }
  return f;
}

/** A fake switch sending packet-ins at a steady rate and answering flow and port stats with empty lists. */
class LoadSwitch {
  readonly sw: FakeSwitch;
  sentPacketIns = 0;
  gotPacketOuts = 0;
  gotFlowMods = 0;
  private readonly ring: Buffer[] = [];
  private cursor = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    port: number,
  ) {
    for (let h = 0; h < HOSTS_PER_SWITCH; h++) {
      for (const bc of [true, false]) {
        const data = frame(index, h, bc);
        this.ring.push(
          Buffer.from(
            encode({
              type: 'OFPPacketIn', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: data.length, reason: OFPR.NO_MATCH, table_id: 0, cookie: 0n,
              match: [{ field: 'in_port', value: 1 + (h % HOST_PORTS) }], data,
            }),
          ),
        );
      }
    }
    this.sw = new FakeSwitch({
      dpid: 0x50a0_0000_0000n + BigInt(index + 1),
      port,
      nTables: 254,
      ports: Array.from({ length: HOST_PORTS }, (_, i) => ({
        port_no: i + 1, hw_addr: `02:5a:${index.toString(16).padStart(2, '0')}:ff:00:${(i + 1).toString(16).padStart(2, '0')}`, name: `p${i + 1}`,
        config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0,
      })),
      answer: (m) => {
        switch (m.type) {
          case 'OFPPacketOut':
            this.gotPacketOuts++;
            return [];
          case 'OFPFlowMod':
            this.gotFlowMods++;
            return [];
          case 'OFPFlowStatsRequest':
            return [{ type: 'OFPFlowStatsReply', xid: m.xid, flags: 0, body: [] }];
          case 'OFPPortStatsRequest':
            return [{ type: 'OFPPortStatsReply', xid: m.xid, flags: 0, body: [] }];
          default:
            return undefined;
        }
      },
    });
  }

  get dpid(): bigint {
    return this.sw.dpid;
  }

  /** Sends `perTick` packet-ins every `tickMs` in one write. */
  start(perTick: number, tickMs: number): void {
    if (perTick <= 0) return;
    this.timer = setInterval(() => {
      if (this.sw.sock.destroyed || this.sw.sock.writableLength > 1 << 20) return; // the controller is behind: skip, do not pile up
      const sock = this.sw.sock;
      sock.cork();
      for (let i = 0; i < perTick; i++) {
        sock.write(this.ring[this.cursor] as Buffer);
        this.cursor = (this.cursor + 1) % this.ring.length;
      }
      sock.uncork(); // one writev for the tick
      this.sentPacketIns += perTick;
    }, tickMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Counts of REST answers by status, and failures to get one. */
class RestTally {
  readonly byStatus = new Map<number, number>();
  dropped = 0;
  readonly samples: string[] = [];
  note(status: number, what: string, text: string): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    if (status >= 500 && this.samples.length < 10) this.samples.push(`${what}: ${status} ${text.slice(0, 200)}`);
  }
  total(): number {
    let n = this.dropped;
    for (const v of this.byStatus.values()) n += v;
    return n;
  }
}

async function rest(base: string, tally: RestTally, method: string, path: string, body?: unknown): Promise<number> {
  try {
    const init: RequestInit = { method, signal: AbortSignal.timeout(30_000) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const r = await fetch(`${base}${path}`, init);
    const text = await r.text();
    tally.note(r.status, `${method} ${path}`, text);
    return r.status;
  } catch (e) {
    tally.dropped++;
    if (tally.samples.length < 10) tally.samples.push(`${method} ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// The overlay, in memory

/** Presence and requests between the overlay's nodes: a room and a bus, each request a JSON copy on a later turn. */
class OverlayBus {
  private readonly presence = new Map<string, (peer: string, present: boolean) => void>();
  private readonly handlers = new Map<string, Map<string, (params: unknown, from: string) => unknown>>();

  signal(id: string): NodeSignal {
    let onPresence: ((peer: string, present: boolean) => void) | undefined;
    return {
      start: () => {
        for (const [peer, fn] of this.presence) {
          fn(id, true);
          onPresence?.(peer, true);
        }
        this.presence.set(id, (p, present) => onPresence?.(p, present));
        return Promise.resolve();
      },
      stop: () => {
        this.presence.delete(id);
        for (const fn of this.presence.values()) fn(id, false);
        return Promise.resolve();
      },
      onPresence: (fn) => {
        onPresence = fn;
      },
      online: () => this.presence.has(id),
      onFatal: () => undefined,
      request: async (to, action, params, opts) => {
        await new Promise((r) => setImmediate(r));
        const h = this.handlers.get(to)?.get(action);
        if (h === undefined) {
          await sleep(opts.timeoutMs);
          throw new Error(`${action} to ${to}: no reply within ${opts.timeoutMs} ms`);
        }
        const reply: unknown = await h(JSON.parse(JSON.stringify(params)), id);
        return reply === undefined ? undefined : (JSON.parse(JSON.stringify(reply)) as unknown);
      },
      onRequest: (action, handler) => {
        let m = this.handlers.get(id);
        if (m === undefined) this.handlers.set(id, (m = new Map()));
        m.set(action, handler);
      },
    };
  }
}

/** Links as wired memory ports, made only when the other end authorizes it (as LNK_AUTH_TUNNEL). */
class MemoryLinks extends EventEmitter implements NodeLinkManager {
  private readonly up = new Map<string, LinkInfo>();
  private closed = false;
  private seq = 0;

  constructor(
    readonly opts: LinkManagerOptions,
    private readonly all: Map<string, MemoryLinks>,
  ) {
    super();
    all.set(opts.nodeId, this);
  }

  start(): void {}

  connect(peer: string): Promise<LinkInfo> {
    const other = this.all.get(peer);
    if (other === undefined || other.closed) return Promise.reject(new Error(`no node ${peer}`));
    const why = other.opts.authorize?.(this.opts.nodeId);
    if (why !== undefined) return Promise.reject(new Error(`refused: ${why}`));
    const have = this.up.get(peer);
    if (have !== undefined) return Promise.resolve(have);
    const linkId = `${this.opts.nodeId.slice(0, 4)}${peer.slice(0, 4)}${++this.seq}`;
    const mine = new MemoryPort({ name: `tf${peer.slice(0, 10)}`, mtu: 1500 });
    const theirs = new MemoryPort({ name: `tf${this.opts.nodeId.slice(0, 10)}`, mtu: 1500 });
    wire(mine, theirs);
    other.add(this.opts.nodeId, linkId, 'responder', theirs);
    return Promise.resolve(this.add(peer, linkId, 'initiator', mine));
  }

  private add(peer: string, linkId: string, role: LinkInfo['role'], port: MemoryPort): LinkInfo {
    const info: LinkInfo = { peerId: peer, linkId, role, state: 'up', portName: port.name, setupMs: 0 };
    this.up.set(peer, info);
    setImmediate(() => this.emit('up', info, port));
    return info;
  }

  disconnect(peer: string, reason = 'disconnected'): void {
    this.drop(peer, reason);
    this.all.get(peer)?.drop(this.opts.nodeId, `the peer: ${reason}`);
  }

  private drop(peer: string, reason: string): void {
    const info = this.up.get(peer);
    if (info === undefined) return;
    this.up.delete(peer);
    this.emit('down', { ...info, state: 'closed' }, reason);
  }

  links(): LinkInfo[] {
    return [...this.up.values()];
  }

  close(): Promise<void> {
    this.closed = true;
    for (const peer of [...this.up.keys()]) this.disconnect(peer, 'node stopping');
    this.all.delete(this.opts.nodeId);
    return Promise.resolve();
  }
}

/** A few whole overlay nodes in memory; one broadcast at a time from their application ports, copies counted. */
class MemoryOverlay {
  readonly nodes: { readonly id: string; readonly node: OverlayNode; readonly tap: MemoryPort }[] = [];
  broadcasts = 0;
  copies = 0;
  duplicates = 0;
  /** Per node, the markers it has seen (pruned to the last few hundred). */
  private readonly seen: Set<number>[] = [];
  private timer: NodeJS.Timeout | undefined;

  static async start(n: number, dir: string): Promise<MemoryOverlay> {
    const o = new MemoryOverlay();
    const bus = new OverlayBus();
    const links = new Map<string, MemoryLinks>();
    for (let i = 0; i < n; i++) {
      const id = `50a0${i.toString(16).padStart(2, '0')}`.padEnd(32, 'e');
      const stateDir = join(dir, `node${i}`);
      mkdirSync(stateDir, { recursive: true });
      const config = resolveNodeConfig({
        NodeId: id, Overlay: 'soak', Signal: { Username: `n${i}@soak.example`, Password: 'x', Tls: 'none' }, Topology: { MinConnectedMs: 0 }, StateDir: stateDir,
      });
      let tap: MemoryPort | undefined;
      const node = await OverlayNode.start({
        config,
        log: nullLogger,
        topologyTickMs: 1000,
        parts: {
          signal: () => bus.signal(id),
          linkManager: (opts) => new MemoryLinks(opts, links),
          openTap: (name) => (tap = new MemoryPort({ name, mtu: 1400 })),
          configureTap: () => undefined,
        },
      });
      o.nodes.push({ id, node, tap: tap as MemoryPort });
      o.seen.push(new Set());
    }
    return o;
  }

  /** Every node has its successor edges up and its switch connected to its controller. */
  formed(): boolean {
    const want = Math.min(2, this.nodes.length - 1);
    return this.nodes.every(({ node }) => {
      const s = node.status();
      const up = new Set(s.topology.edges.filter((e) => e.state === 'connected').map((e) => e.peer));
      return s.controller.connected && s.topology.successors.length >= want && s.topology.successors.slice(0, want).every((p) => up.has(p));
    });
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      this.count();
      const from = this.nodes[this.broadcasts % this.nodes.length];
      if (from === undefined) return;
      const f = Buffer.alloc(60);
      f.fill(0xff, 0, 6);
      Buffer.from(from.tap.hwAddr.replace(/:/g, ''), 'hex').copy(f, 6);
      f.writeUInt16BE(0x0806, 12);
      f.writeUInt32BE(++this.broadcasts, 56); // the marker, in the padding
      from.tap.inject([f]);
    }, everyMs);
  }

  /** Reads what reached each node's application port. */
  count(): void {
    this.nodes.forEach(({ tap }, i) => {
      const seen = this.seen[i] as Set<number>;
      for (const f of tap.take()) {
        if (f.length < 60 || f.readUInt16BE(12) !== 0x0806) continue;
        const m = f.readUInt32BE(56);
        if (seen.has(m)) this.duplicates++;
        else {
          seen.add(m);
          this.copies++;
        }
      }
      for (const m of seen) if (m < this.broadcasts - 400) seen.delete(m);
    });
  }

  stopSending(): void {
    clearInterval(this.timer);
  }

  async close(): Promise<void> {
    this.stopSending();
    for (const { node } of this.nodes) await node.stop();
  }
}

// ---------------------------------------------------------------------------------------------------
// The run

export interface ProcSample {
  readonly rss_mib: number;
  readonly eld_p50_ms: number;
  readonly eld_p99_ms: number;
}

export interface ProbeSample {
  readonly n: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

export interface Sample {
  readonly t_s: number;
  readonly controller: ProcSample;
  readonly switch: ProcSample;
  readonly driver: ProcSample;
  readonly probes: { readonly controller_echo: ProbeSample; readonly switch_echo: ProbeSample; readonly rest_get: ProbeSample };
  readonly packet_ins_sent: number;
  readonly rest_requests: number;
}

export interface ProbeTotals {
  readonly sent: number;
  readonly answered: number;
  readonly failed: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
}

export interface SoakResult {
  readonly options: SoakOptions;
  readonly samples: readonly Sample[];
  /** MiB per minute over the second half, least squares. */
  readonly rss_slope_mib_per_min: Record<'controller' | 'switch' | 'driver', number>;
  /** RSS (MiB) at the start and the end of the second half. */
  readonly rss_second_half_mib: Record<'controller' | 'switch' | 'driver', readonly [number, number]>;
  /** The highest RSS (MiB) in the first half and in the second: steadier than the slope when GC makes a sawtooth. */
  readonly rss_peak_mib: Record<'controller' | 'switch' | 'driver', readonly [number, number]>;
  readonly probes: Record<'controller_echo' | 'switch_echo' | 'rest_get', ProbeTotals>;
  readonly latency_bounded: boolean;
  /** Processes that ended before the run did (empty when all lived). */
  readonly died: readonly string[];
  readonly rest: { readonly by_status: Record<string, number>; readonly dropped: number; readonly samples: readonly string[] };
  readonly counters: {
    readonly packet_ins_sent: number;
    readonly controller_packet_ins_received: number;
    readonly packet_outs_received: number;
    readonly controller_app_events_dropped: number;
    readonly controller_rest_rejected: number;
    readonly rest_503_seen: number;
    readonly controller_app_errors: number;
    readonly ping_sent: number;
    readonly ping_received: number;
    /** The in-memory overlay: broadcasts sent, copies expected (one per other node), received, duplicated. */
    readonly overlay_broadcasts: number;
    readonly overlay_copies_expected: number;
    readonly overlay_copies_received: number;
    readonly overlay_duplicates: number;
  };
}

const MIB = 1024 * 1024;

/**
 * monitorEventLoopDelay records the time between ticks of its own timer, the timer's period included
 * (an idle loop reads 10 ms at resolution 10); the delay is what lies beyond it. prom-client's
 * nodejs_eventloop_lag_* are the same raw values (its resolution is 10 ms too); the switch's `process`
 * already subtracts it.
 */
const ELD_RESOLUTION_MS = 10;
const beyondTimer = (ms: number): number => (Number.isFinite(ms) ? Math.max(0, ms - ELD_RESOLUTION_MS) : NaN);

function sleepOrStop(ms: number, stop: AbortSignal | undefined): Promise<void> {
  return new Promise((r) => {
    const done = (): void => {
      clearTimeout(t);
      stop?.removeEventListener('abort', done);
      r();
    };
    const t = setTimeout(done, ms);
    stop?.addEventListener('abort', done, { once: true });
  });
}

function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

function printHeader(out: (s: string) => void): void {
  out(
    ['t', 'ctl MiB', 'sw MiB', 'drv MiB', 'ctl ELD p50/p99', 'sw ELD p50/p99', 'drv ELD p99', 'ctl echo p50/p99', 'sw echo p50/p99', 'REST GET p50/p99', 'pkt-in', 'REST']
      .map((c, i) => (i === 0 ? c.padEnd(7) : c.padStart(i < 4 ? 8 : i === 6 ? 12 : i < 10 ? 17 : 8)))
      .join('') + '\n',
  );
}

function printSample(s: Sample, out: (s: string) => void): void {
  const pair = (a: number, b: number): string => `${f1(a)}/${f1(b)}`;
  const t = s.t_s >= 120 ? `${(s.t_s / 60).toFixed(1)}m` : `${s.t_s.toFixed(0)}s`;
  out(
    [
      t.padEnd(7),
      f1(s.controller.rss_mib).padStart(8),
      f1(s.switch.rss_mib).padStart(8),
      f1(s.driver.rss_mib).padStart(8),
      pair(s.controller.eld_p50_ms, s.controller.eld_p99_ms).padStart(17),
      pair(s.switch.eld_p50_ms, s.switch.eld_p99_ms).padStart(17),
      f1(s.driver.eld_p99_ms).padStart(12),
      pair(s.probes.controller_echo.p50_ms, s.probes.controller_echo.p99_ms).padStart(17),
      pair(s.probes.switch_echo.p50_ms, s.probes.switch_echo.p99_ms).padStart(17),
      pair(s.probes.rest_get.p50_ms, s.probes.rest_get.p99_ms).padStart(17),
      String(s.packet_ins_sent).padStart(8),
      String(s.rest_requests).padStart(8),
    ].join('') + '\n',
  );
}

/**
 * Runs the soak; `out` gets the table as it goes. Needs root (namespaces, veths) and dist/ (the built
 * CLI). Everything it makes is named with a per-process prefix and removed at the end, also on failure.
 */
export async function runSoak(o: SoakOptions, out: (s: string) => void = () => undefined, stop?: AbortSignal): Promise<SoakResult> {
  const lab = new Lab('sk');
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-soak-'));
  const daemons: Daemon[] = [];
  const fakes: LoadSwitch[] = [];
  let prober: ProbeProcess | undefined;
  let ping: ChildProcess | undefined;
  let overlay: MemoryOverlay | undefined;
  const timers: NodeJS.Timeout[] = [];
  let running = true;
  const driverEld = monitorEventLoopDelay({ resolution: 10 });
  driverEld.enable();
  try {
    // The real switch: two veth ports, a host namespace behind each.
    const ns: string[] = [];
    const ports: string[] = [];
    for (let i = 1; i <= 2; i++) {
      const h = lab.ns(`h${i}`);
      lab.veth(lab.name(`s${i}`), lab.name(`e${i}`));
      lab.move(lab.name(`e${i}`), h, `10.77.0.${i}/24`);
      ns.push(h);
      ports.push(lab.name(`s${i}`));
    }
    const [ofPort, restPort, swListen] = [await freePort(), await freePort(), await freePort()];
    const base = `http://127.0.0.1:${restPort}`;
    const ctl = startTinflow('controller', [
      'controller', '--listen', `tcp:127.0.0.1:${ofPort}`, '--rest', `127.0.0.1:${restPort}`, '--idle-timeout', '5', '--echo-interval', '2', '--log-level', 'warn',
    ], dir);
    daemons.push(ctl);
    await waitUntil('the controller\'s REST API', async () => (await fetch(`${base}/stats/switches`)).status === 200, 20_000, daemons);
    const ctlSock = join(dir, 'switch.ctl');
    const swDpid = 0x50a5_0000_0001n;
    const sw = startTinflow('switch', [
      'switch', '--name', lab.name('br'), '--dpid', swDpid.toString(16), '--controller', `tcp:127.0.0.1:${ofPort}`, '--listen', `ptcp:${swListen}:127.0.0.1`,
      '--port', `1=${ports[0] as string}`, '--port', `2=${ports[1] as string}`, '--no-local', '--ctl', ctlSock, '--probe-interval', '2', '--log-level', 'warn',
    ], dir);
    daemons.push(sw);
    const switches = async (): Promise<string[]> => ((await (await fetch(`${base}/stats/switches`)).json()) as unknown[]).map(String);
    await waitUntil('the switch connected to the controller', async () => (await switches()).includes(swDpid.toString()), 20_000, daemons);

    // Fake switches, connected and past the handshake.
    for (let i = 0; i < o.fakeSwitches; i++) fakes.push(new LoadSwitch(i, ofPort));
    await waitUntil('the fake switches connected', async () => {
      const have = new Set(await switches());
      return fakes.every((f) => have.has(f.dpid.toString()));
    }, 20_000, daemons);

    // The overlay, formed before the load starts.
    if (o.overlayNodes > 1) {
      const ov = await MemoryOverlay.start(o.overlayNodes, dir);
      overlay = ov;
      await waitUntil('the in-memory overlay formed', () => ov.formed(), 30_000, daemons);
    }

    // The light probes, in a process of their own, on connections of their own.
    prober = new ProbeProcess([String(ofPort), String(swListen), base, String(o.probeMs)], dir);
    daemons.push(prober.daemon);
    const ready = await prober.ask(undefined, 30_000);
    if (ready !== 'ready') throw new Error(`the probe process: ${JSON.stringify(ready)}; ${fileTail(prober.daemon.log)}`);
    prober.start();

    // Load: ping across the switch, packet-ins from the fakes, REST clients, flow churn.
    ping = lab.spawnIn(ns[0] as string, 'ping', ['-i', '0.05', '-W', '1', '10.77.0.2'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let pingOut = '';
    ping.stdout?.on('data', (d: Buffer) => (pingOut = (pingOut + d.toString()).slice(-4096)));
    const tickMs = 20;
    const perTick = Math.max(0, Math.round((o.packetIns * tickMs) / 1000 / Math.max(1, fakes.length)));
    for (const f of fakes) f.start(perTick, tickMs);
    overlay?.start(250);

    const tally = new RestTally();
    const dpids = [swDpid, ...fakes.map((f) => f.dpid)].map(String);
    const flowBody = (dpid: string, i: number): Record<string, unknown> => ({
      dpid: Number(dpid), table_id: 0, priority: 10, match: { eth_type: 2048, ip_proto: 17, udp_dst: 5000 + i }, actions: [],
    });
    const clients: Promise<void>[] = [];
    for (let c = 0; c < o.restClients; c++) {
      clients.push((async () => {
        let k = c;
        while (running) {
          const dpid = dpids[k % dpids.length] as string;
          switch (k % 5) {
            case 0: await rest(base, tally, 'GET', `/stats/flow/${dpid}`); break;
            case 1: await rest(base, tally, 'GET', `/stats/port/${dpid}`); break;
            case 2: await rest(base, tally, 'POST', '/stats/flowentry/add', flowBody(dpid, 100 + c)); break;
            case 3: await rest(base, tally, 'POST', '/stats/flowentry/delete_strict', flowBody(dpid, 100 + c)); break;
            default: await rest(base, tally, 'GET', `/stats/desc/${dpid}`);
          }
          k++;
          await sleep(10);
        }
      })());
    }
    // Flow churn on the real switch: 20 flows added then deleted each second; the learnt flows from port 1
    // deleted every 3 s (not the table-miss entry: its empty match is wider than in_port=1).
    let churnTick = 0;
    const churn = async (): Promise<void> => {
      const d = swDpid.toString();
      await Promise.all(Array.from({ length: 20 }, (_, i) => rest(base, tally, 'POST', '/stats/flowentry/add', flowBody(d, i))));
      await Promise.all(Array.from({ length: 20 }, (_, i) => rest(base, tally, 'POST', '/stats/flowentry/delete_strict', flowBody(d, i))));
      if (++churnTick % 3 === 0) await rest(base, tally, 'POST', '/stats/flowentry/delete', { dpid: Number(d), table_id: 0, match: { in_port: 1 } });
    };
    let churning = Promise.resolve();
    timers.push(setInterval(() => {
      churning = churning.then(churn);
    }, 1000));

    // Samples.
    const samples: Sample[] = [];
    const t0 = performance.now();
    const epoch0 = Date.now();
    let lastPktIns = 0;
    let lastRest = 0;
    const probes: Record<ProbeName, ProbeTally> = { controller_echo: new ProbeTally(), switch_echo: new ProbeTally(), rest_get: new ProbeTally() };
    const pr = prober;
    const probeSamples = async (cmd: 'report' | 'stop'): Promise<Sample['probes']> => {
      const r = (await pr.ask(cmd, 30_000)) as ProbeReports;
      const one = (k: ProbeName): ProbeSample => {
        const xs = probes[k].fold(r[k]);
        return { n: xs.length, p50_ms: percentile(xs, 50), p99_ms: percentile(xs, 99) };
      };
      return { controller_echo: one('controller_echo'), switch_echo: one('switch_echo'), rest_get: one('rest_get') };
    };
    const take = async (): Promise<Sample> => {
      const metrics = await fetch(`${base}/metrics`).then((r) => r.text()).catch(() => '');
      const p = keyValues(await ctlRequest(ctlSock, 'process').catch(() => []));
      const pktIns = fakes.reduce((n, f) => n + f.sentPacketIns, 0);
      const restN = tally.total();
      const s: Sample = {
        t_s: (performance.now() - t0) / 1000,
        controller: {
          rss_mib: rssOf(ctl.proc.pid) / MIB,
          eld_p50_ms: beyondTimer(promValue(metrics, 'tinflow_controller_nodejs_eventloop_lag_p50_seconds') * 1000),
          eld_p99_ms: beyondTimer(promValue(metrics, 'tinflow_controller_nodejs_eventloop_lag_p99_seconds') * 1000),
        },
        switch: { rss_mib: rssOf(sw.proc.pid) / MIB, eld_p50_ms: p.get('event-loop-delay-p50-ms') ?? NaN, eld_p99_ms: p.get('event-loop-delay-p99-ms') ?? NaN },
        driver: { rss_mib: rssOf(process.pid) / MIB, eld_p50_ms: beyondTimer(driverEld.percentile(50) / 1e6), eld_p99_ms: beyondTimer(driverEld.percentile(99) / 1e6) },
        probes: await probeSamples('report'),
        packet_ins_sent: pktIns - lastPktIns,
        rest_requests: restN - lastRest,
      };
      driverEld.reset();
      lastPktIns = pktIns;
      lastRest = restN;
      return s;
    };
    // The first scrape only restarts the event-loop histograms.
    await take();
    printHeader(out);
    const end = t0 + o.seconds * 1000;
    while (performance.now() < end) {
      await sleepOrStop(Math.min(o.sample * 1000, Math.max(0, end - performance.now())), stop);
      const s = await take();
      samples.push(s);
      printSample(s, out);
      if (daemons.some((d) => d.exited) || stop?.aborted) break;
    }

    // Stop the load, let the probes' last requests come back, then read the counters.
    running = false;
    for (const t of timers) clearInterval(t);
    for (const f of fakes) f.stop();
    overlay?.stopSending();
    // The last answers are folded in; the probe process then ends, as it should: it only died if it ended before.
    const probeEnded = pr.daemon.exited;
    await probeSamples('stop');
    daemons.splice(daemons.indexOf(pr.daemon), 1);
    await Promise.all(clients);
    await churning;
    ping.kill('SIGINT');
    await new Promise((r) => ping?.once('close', r));
    const ov = overlay;
    const expectCopies = ov ? ov.broadcasts * (ov.nodes.length - 1) : 0;
    if (ov) {
      await waitUntil('the overlay\'s last broadcasts', () => {
        ov.count();
        return ov.copies >= expectCopies;
      }, 10_000, []).catch(() => undefined);
      await sleep(200); // a duplicate would have arrived by now
      ov.count();
    }
    const pingSent = Number(/(\d+) packets transmitted/.exec(pingOut)?.[1] ?? NaN);
    const pingRecv = Number(/(\d+) received/.exec(pingOut)?.[1] ?? NaN);
    // The controller has read every packet-in sent once its count stops moving.
    const sent = fakes.reduce((n, f) => n + f.sentPacketIns, 0);
    let metrics = '';
    await waitUntil('the controller read every packet-in', async () => {
      metrics = await (await fetch(`${base}/metrics`)).text();
      return promValue(metrics, 'tinflow_controller_messages_received_total', 'type="OFPPacketIn"') >= sent;
    }, 15_000, daemons).catch(() => undefined);
    // ... and every packet-in it did not drop has had its packet-out (the learning app answers each one).
    const outs = (): number => fakes.reduce((n, f) => n + f.gotPacketOuts, 0);
    await waitUntil('a packet-out for every packet-in', () => outs() + promValue(metrics, 'tinflow_controller_app_events_dropped_total') >= sent, 15_000, daemons).catch(() => undefined);

    const died = daemons.filter((d) => d.exited).map((d) => `${d.what} ${d.exited ?? ''}: ${fileTail(d.log, 5)}`);
    if (probeEnded !== undefined) died.push(`probe process ${probeEnded}: ${fileTail(pr.daemon.log, 5)}`);
    const half = samples.filter((s) => s.t_s >= o.seconds / 2);
    const kinds = ['controller', 'switch', 'driver'] as const;
    const slopes = Object.fromEntries(kinds.map((k) => [k, slope(half.map((s) => [s.t_s / 60, s[k].rss_mib] as const))])) as Record<(typeof kinds)[number], number>;
    const ends = Object.fromEntries(kinds.map((k) => [k, [half[0]?.[k].rss_mib ?? NaN, half[half.length - 1]?.[k].rss_mib ?? NaN] as const])) as SoakResult['rss_second_half_mib'];
    const firstHalf = samples.filter((s) => s.t_s < o.seconds / 2);
    const peak = (xs: readonly Sample[], k: (typeof kinds)[number]): number => Math.max(...xs.map((s) => s[k].rss_mib).filter(Number.isFinite));
    const peaks = Object.fromEntries(kinds.map((k) => [k, [peak(firstHalf, k), peak(half, k)] as const])) as SoakResult['rss_peak_mib'];
    const totals = (r: ProbeTally): ProbeTotals => {
      const xs = r.all.map(([, ms]) => ms);
      return { sent: r.sent, answered: r.answered, failed: r.failed + r.outstanding, p50_ms: percentile(xs, 50), p99_ms: percentile(xs, 99) };
    };
    // Bounded: the second half's p99 (all its round trips together) within 3× the first half's, plus 20 ms
    // of slack for a busy machine.
    const mid = epoch0 + (o.seconds * 1000) / 2;
    const bounded = (['controller_echo', 'switch_echo', 'rest_get'] as const).every((k) => {
      const first = probes[k].all.filter(([t]) => t < mid).map(([, ms]) => ms);
      const second = probes[k].all.filter(([t]) => t >= mid).map(([, ms]) => ms);
      return first.length === 0 || second.length === 0 || percentile(second, 99) <= 3 * percentile(first, 99) + 20;
    });
    return {
      options: o,
      samples,
      rss_slope_mib_per_min: slopes,
      rss_second_half_mib: ends,
      rss_peak_mib: peaks,
      probes: { controller_echo: totals(probes.controller_echo), switch_echo: totals(probes.switch_echo), rest_get: totals(probes.rest_get) },
      latency_bounded: bounded,
      died,
      rest: { by_status: Object.fromEntries([...tally.byStatus].map(([k, v]) => [String(k), v])), dropped: tally.dropped, samples: tally.samples },
      counters: {
        packet_ins_sent: sent,
        controller_packet_ins_received: promValue(metrics, 'tinflow_controller_messages_received_total', 'type="OFPPacketIn"'),
        packet_outs_received: fakes.reduce((n, f) => n + f.gotPacketOuts, 0),
        controller_app_events_dropped: promValue(metrics, 'tinflow_controller_app_events_dropped_total'),
        controller_rest_rejected: promValue(metrics, 'tinflow_controller_rest_rejected_total'),
        rest_503_seen: tally.byStatus.get(503) ?? 0,
        controller_app_errors: promValue(metrics, 'tinflow_controller_app_errors_total'),
        ping_sent: pingSent,
        ping_received: pingRecv,
        overlay_broadcasts: ov?.broadcasts ?? 0,
        overlay_copies_expected: expectCopies,
        overlay_copies_received: ov?.copies ?? 0,
        overlay_duplicates: ov?.duplicates ?? 0,
      },
    };
  } finally {
    running = false;
    driverEld.disable();
    for (const t of timers) clearInterval(t);
    for (const f of fakes) {
      f.stop();
      f.sw.end();
    }
    await overlay?.close().catch(() => undefined);
    if (ping && ping.exitCode === null) ping.kill('SIGKILL');
    await Promise.all(daemons.map((d) => stopProcess(d.proc)));
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The verdict line. */
export function verdict(r: SoakResult): string {
  const s = r.rss_slope_mib_per_min;
  return (
    `soak: RSS slope over the second half (MiB/min): controller ${s.controller.toFixed(2)}, switch ${s.switch.toFixed(2)}, driver ${s.driver.toFixed(2)}; ` +
    `RSS peak first half → second half (MiB): ${(['controller', 'switch', 'driver'] as const).map((k) => `${k} ${f1(r.rss_peak_mib[k][0])} → ${f1(r.rss_peak_mib[k][1])}`).join(', ')}; ` +
    `latency ${r.latency_bounded ? 'stayed bounded' : 'grew'}; ` +
    `probes answered ${r.probes.controller_echo.answered}/${r.probes.controller_echo.sent} controller echo, ${r.probes.switch_echo.answered}/${r.probes.switch_echo.sent} switch echo, ` +
    `${r.probes.rest_get.answered}/${r.probes.rest_get.sent} REST GET; ${r.died.length === 0 ? 'no process died' : `DIED: ${r.died.join('; ')}`}\n`
  );
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root (namespaces and veths for the switch\'s ports)');
  const out = (s: string): void => void process.stdout.write(s);
  out(
    `soak: ${(o.seconds / 60).toFixed(1)} min, a sample every ${o.sample} s; ${o.fakeSwitches} fake switches sending ${o.packetIns} packet-ins/s, ` +
      `${o.restClients} REST clients, flow churn on the real switch, a ping through it, an in-memory overlay of ${o.overlayNodes} nodes; probes every ${o.probeMs} ms\n` +
      '(MiB = RSS; ELD = event-loop delay beyond the 10 ms sampling timer, ms; drv = this load generator; echo = OpenFlow echo round trip\n' +
      ' and REST GET = /stats/switches, ms, from a separate probe process on connections of its own; pkt-in and REST = sent in the interval)\n',
  );
  // A signal ends the run early, with everything stopped and removed and what was sampled reported.
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\nsoak: ${sig}, ending the run\n`);
      stop.abort();
    });
  }
  const r = await runSoak(o, out, stop.signal);
  const c = r.counters;
  out(
    `packet-ins: ${c.packet_ins_sent} sent, ${c.controller_packet_ins_received} read by the controller, ${c.packet_outs_received} packet-outs back; ` +
      `app events dropped ${c.controller_app_events_dropped}, app errors ${c.controller_app_errors}; ` +
      `REST: ${Object.entries(r.rest.by_status).map(([k, v]) => `${v}× ${k}`).join(', ')}, ${r.rest.dropped} without an answer, ${c.controller_rest_rejected} refused (503); ` +
      `ping ${c.ping_received}/${c.ping_sent}; overlay of ${o.overlayNodes}: ${c.overlay_broadcasts} broadcasts, ` +
      `${c.overlay_copies_received}/${c.overlay_copies_expected} copies, ${c.overlay_duplicates} duplicates\n`,
  );
  for (const s of r.rest.samples) out(`  REST failure: ${s}\n`);
  const pr = r.probes;
  const lat = (p: ProbeTotals): string => `p50 ${f1(p.p50_ms)} ms p99 ${f1(p.p99_ms)} ms`;
  out(`over the run: controller echo ${lat(pr.controller_echo)}, switch echo ${lat(pr.switch_echo)}, REST GET ${lat(pr.rest_get)}\n`);
  out(verdict(r));
  mkdirSync('results', { recursive: true });
  const file = `results/soak-${new Date().toISOString().slice(0, 10)}.json`;
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2) + '\n');
  out(`wrote ${file}\n`);
  if (r.died.length > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  (process.argv[2] === '--probe-child' ? probeChild(process.argv.slice(3)) : main()).catch((e: unknown) => {
    process.stderr.write(`soak: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
