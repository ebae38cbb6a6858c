/**
 * npm run bench:controller — a cbench-style packet-in load generator: many fake OpenFlow 1.3 switches
 * against a learning-switch controller, tinflow's and os-ken's in the same run, responses per second.
 *
 * Each fake switch connects over TCP and behaves as a switch does in the handshake (hello, features
 * reply with its own dpid, port-desc reply, get-config/barrier/echo/desc replies; set-config and the
 * table-miss flow-mod are only counted). Once the controller answers an echo sent after the handshake,
 * the switch is ready. Then, as cbench does:
 *   learning: every fake host (MAC) sends one broadcast ARP request from its port; the controller
 *             learns where each MAC lives and floods (a packet-out, no flow-mod);
 *   measured: unicast IPv4/UDP frames from each known MAC to another known MAC on another port, so
 *             each packet-in should bring a flow-mod (in_port, eth_dst, eth_src → output) and a
 *             packet-out. Frames are full (buffer_id NO_BUFFER), reason NO_MATCH, table 0, match in_port.
 * Throughput mode: each switch keeps `--window` packet-ins outstanding (a packet-in is answered by its
 * packet-out) and tops the window up in one write after each chunk it reads, so the controller's input
 * never runs dry but is not buried either. Packet-ins are encoded once at start into one ring buffer per
 * switch; a batch is a view of the ring (more at the wrap, corked into one writev), so sending costs no encoding.
 * Every message received is decoded with tinflow's codec and checked against what the packet-in it
 * answers calls for; only correct responses count, wrong ones are reported as mismatches.
 *
 * Both controllers run at once with their switches connected and learnt; rounds alternate between them
 * (tinflow then os-ken, then the other way round), with the load on only one at a time. Each turn ramps
 * up, measures for `--seconds`, then stops sending and drains. Round 0 is a warm-up and is discarded;
 * the medians of the other rounds are reported. Generator CPU and event-loop utilisation are measured
 * over each turn to show the generator is not the bottleneck; controller CPU comes from /proc.
 *
 * Usage: node dist/bench/controller.js [--switches 16] [--macs 1000] [--ports 8] [--window 64]
 *          [--seconds 3] [--rounds 5] [--ramp 0.5] [--only tinflow|osken]
 * Writes results/bench-controller.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  type MessageOf,
  OFPC,
  OFPCML,
  OFPFC,
  OFPIT,
  OFPP,
  OFPPF,
  OFPPS,
  OFPR,
  OFP_NO_BUFFER,
  type OFPMessage,
  type OxmTlv,
  encode,
} from '../openflow/index.js';
import { macToText } from '../base/addr.js';
import { onShutdown, stopProcess } from '../base/shutdown.js';
import { fileTail as tail, sleep } from '../scripts/daemon.js';
import { FakeSwitch } from '../test/tools/fake-switch.js';

// ---------------------------------------------------------------------------------------------------
// Options

interface Options {
  readonly switches: number;
  readonly macs: number;
  readonly ports: number;
  readonly window: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly ramp: number;
  readonly only: Kind | undefined;
}

type Kind = 'tinflow' | 'osken';
const LABEL: Record<Kind, string> = { tinflow: 'tinflow', osken: 'os-ken' };
const PORT_RANGE = [6831, 6839] as const;
const OSKEN = '/usr/bin/osken-manager';
const OSKEN_APP = 'test/switch/osken/learning_switch.py';
/** Built by npm run build; scripts/tinflow runs dist/scripts/cli.js, which dispatches to it. */
const TINFLOW_CONTROLLER = 'dist/controller/cli.js';
/** Linux's USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on every architecture Node runs on). */
const CLK_TCK = 100;

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      switches: { type: 'string', default: '16' },
      macs: { type: 'string', default: '1000' },
      ports: { type: 'string', default: '8' },
      window: { type: 'string', default: '64' },
      seconds: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '5' },
      ramp: { type: 'string', default: '0.5' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: bench-controller [--switches 16] [--macs 1000] [--ports 8] [--window 64] [--seconds 3] [--rounds 5] [--ramp 0.5] [--only tinflow|osken]\n' +
        '  --macs: fake hosts per switch; --window: outstanding packet-ins per switch; --rounds: measured rounds (plus one warm-up)\n',
    );
    process.exit(0);
  }
  const int = (key: string, v: string, lo: number, hi: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`--${key} must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    return n;
  };
  const num = (key: string, v: string, lo: number, hi: number): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new Error(`--${key} must be a number in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    return n;
  };
  const only = values.only;
  if (only !== undefined && only !== 'tinflow' && only !== 'osken') throw new Error(`--only must be tinflow or osken, got ${JSON.stringify(only)}`);
  return {
    switches: int('switches', values.switches, 1, 256),
    macs: int('macs', values.macs, 2, 0xffffff),
    ports: int('ports', values.ports, 2, 1024),
    window: int('window', values.window, 1, 4096),
    seconds: num('seconds', values.seconds, 0.5, 120),
    rounds: int('rounds', values.rounds, 1, 100),
    ramp: num('ramp', values.ramp, 0, 10),
    only,
  };
}

// ---------------------------------------------------------------------------------------------------
// Frames and the pre-encoded packet-ins

/** Fake host m of switch s: MAC 02:ss:ss:mm:mm:mm, on port 1 + m % ports, IPv4 10.mm.mm.mm (+1). */
function macOf(sw: number, m: number): Buffer {
  return Buffer.from([0x02, (sw >> 8) & 0xff, sw & 0xff, (m >> 16) & 0xff, (m >> 8) & 0xff, m & 0xff]);
}

function ipOf(m: number): number {
  return ((10 << 24) >>> 0) + m + 1;
}

function ipv4Checksum(b: Buffer, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += b.readUInt16BE(off + i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const FRAME_LEN = 60;

/** Broadcast ARP request (who-has 10.255.255.254) from host m: what the learning phase sends. */
function arpFrame(sw: number, m: number): Buffer {
  const f = Buffer.alloc(FRAME_LEN);
  f.fill(0xff, 0, 6);
  macOf(sw, m).copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // htype Ethernet
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  macOf(sw, m).copy(f, 22);
  f.writeUInt32BE(ipOf(m), 28);
  f.writeUInt32BE(0x0afffffe, 38); // tha zero, tpa 10.255.255.254
  return f;
}

/** A 60-byte IPv4/UDP frame from host src to host dst. */
function udpFrame(sw: number, src: number, dst: number): Buffer {
  const f = Buffer.alloc(FRAME_LEN);
  macOf(sw, dst).copy(f, 0);
  macOf(sw, src).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(FRAME_LEN - 14, 16);
  f[22] = 64; // ttl
  f[23] = 17; // udp
  f.writeUInt32BE(ipOf(src), 26);
  f.writeUInt32BE(ipOf(dst), 30);
  f.writeUInt16BE(ipv4Checksum(f, 14, 20), 24);
  f.writeUInt16BE(10000 + (src % 50000), 34);
  f.writeUInt16BE(5001, 36);
  f.writeUInt16BE(FRAME_LEN - 34, 38); // udp length; checksum 0 (none), allowed over IPv4
  f.write('tinflow-bench', 42, 'latin1');
  return f;
}

/** Packet-ins encoded once, end to end, all of the same length; a batch is a view. */
interface Ring {
  readonly buf: Buffer;
  readonly msgLen: number;
  readonly count: number;
  /** Offset of the frame inside each packet-in. */
  readonly dataOff: number;
}

function makeRing(frames: readonly Buffer[], ports: readonly number[]): Ring {
  const msgs = frames.map((data, i) =>
    encode({
      type: 'OFPPacketIn', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: data.length, reason: OFPR.NO_MATCH, table_id: 0,
      cookie: 0n, match: [{ field: 'in_port', value: ports[i] as number }], data,
    }),
  );
  const first = msgs[0];
  if (first === undefined) throw new Error('no packet-ins to send');
  const msgLen = first.length;
  if (msgs.some((m) => m.length !== msgLen)) throw new Error('packet-ins differ in length');
  const dataOff = msgLen - FRAME_LEN;
  const buf = Buffer.concat(msgs);
  for (let i = 0; i < frames.length; i++) {
    if (!buf.subarray(i * msgLen + dataOff, (i + 1) * msgLen).equals(frames[i] as Buffer)) throw new Error('frame is not where expected in the packet-in');
  }
  return { buf, msgLen, count: frames.length, dataOff };
}

/** One switch's hosts: MAC, port, the partner each one sends to, and the two rings. */
class Hosts {
  readonly macs: string[] = [];
  readonly port: number[] = [];
  readonly dst: number[] = [];
  readonly byMac = new Map<string, number>();
  readonly learn: Ring;
  readonly load: Ring;

  constructor(
    readonly sw: number,
    n: number,
    nPorts: number,
  ) {
    for (let m = 0; m < n; m++) {
      const t = macToText(macOf(sw, m));
      this.macs.push(t);
      this.byMac.set(t, m);
      this.port.push(1 + (m % nPorts));
    }
    // partner: half-way round the host list, moved on until it sits on another port
    for (let m = 0; m < n; m++) {
      let d = (m + Math.max(1, n >> 1)) % n;
      while (d === m || this.port[d] === this.port[m]) d = (d + 1) % n;
      this.dst.push(d);
    }
    const all = [...Array(n).keys()];
    this.learn = makeRing(all.map((m) => arpFrame(sw, m)), this.port);
    this.load = makeRing(all.map((m) => udpFrame(sw, m, this.dst[m] as number)), this.port);
  }

  /** The host whose frame this is, if data is exactly the ring's frame m; else -1. */
  frameOwner(ring: Ring, data: Buffer): number {
    if (data.length !== FRAME_LEN || data[6] !== 0x02 || data[7] !== ((this.sw >> 8) & 0xff) || data[8] !== (this.sw & 0xff)) return -1;
    const m = ((data[9] as number) << 16) | ((data[10] as number) << 8) | (data[11] as number);
    if (m >= ring.count) return -1;
    const at = m * ring.msgLen + ring.dataOff;
    return ring.buf.compare(data, 0, FRAME_LEN, at, at + FRAME_LEN) === 0 ? m : -1;
  }
}

// ---------------------------------------------------------------------------------------------------
// Counters

/** Cumulative counts for one controller, over all its switches; turns take differences. */
class Counters {
  flowMods = 0;
  packetOuts = 0;
  floods = 0;
  tableMiss = 0;
  bad = 0;
  errors = 0;
  barriers = 0;
  echoes = 0;
  sent = 0;
  readonly other = new Map<string, number>();
  readonly samples: string[] = [];

  mismatch(sw: number, what: string): void {
    this.bad++;
    if (this.samples.length < 8) this.samples.push(sw < 0 ? what : `switch ${sw + 1}: ${what}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// The fake switches

type Phase = 'idle' | 'learn' | 'load';

function outputsOf(instructions: MessageOf<'OFPFlowMod'>['instructions']): number[] | string {
  if (instructions.length !== 1) return `${instructions.length} instructions`;
  const ins = instructions[0];
  if (ins?.kind !== 'OFPInstructionActions' || ins.type !== OFPIT.APPLY_ACTIONS) return `instruction ${ins?.kind ?? '?'} is not apply-actions`;
  return outputsOfActions(ins.actions);
}

function outputsOfActions(actions: MessageOf<'OFPPacketOut'>['actions']): number[] | string {
  const out: number[] = [];
  for (const a of actions) {
    if (a.kind !== 'OFPActionOutput') return `unexpected action ${a.kind}`;
    out.push(a.port);
  }
  return out;
}

function field(match: readonly OxmTlv[], name: string): OxmTlv | undefined {
  return match.find((t) => t.field === name);
}

const READY_XID = 0x7e57_0000;

/**
 * One fake switch under load: the shared FakeSwitch (test/tools/fake-switch.ts) does the connection and
 * the handshake; this adds the readiness probe, the packet-in window and the checks of every answer.
 */
class LoadSwitch {
  readonly dpid: bigint;
  private sw: FakeSwitch | undefined;
  private phase: Phase = 'idle';
  private ring: Ring;
  private cursor = 0;
  /** Packet-ins still to send in this phase (Infinity under load). */
  private toSend = 0;
  outstanding = 0;
  ready = false;
  private onReady: (() => void) | undefined;
  private onIdle: (() => void) | undefined;
  private readyTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    readonly hosts: Hosts,
    private readonly nPorts: number,
    private readonly window: number,
    private readonly c: Counters,
  ) {
    this.dpid = 0x7466_0000_0000n + BigInt(index + 1);
    this.ring = hosts.learn;
  }

  get closed(): string | undefined {
    return this.sw?.closedBecause;
  }

  /** Connects and completes the handshake; resolves once an echo sent after it is answered. */
  start(port: number, timeoutMs: number): Promise<void> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`switch ${this.index + 1}: handshake not done in ${timeoutMs} ms`)), timeoutMs);
      this.onReady = () => {
        clearTimeout(timer);
        res();
      };
      const sw = new FakeSwitch({
        dpid: this.dpid,
        port,
        nTables: 254,
        capabilities: OFPC.FLOW_STATS | OFPC.TABLE_STATS | OFPC.PORT_STATS | OFPC.GROUP_STATS | OFPC.QUEUE_STATS,
        ports: this.portDesc(),
        desc: { mfr_desc: 'tinflow', hw_desc: 'bench-controller fake switch', sw_desc: '0.1', serial_num: String(this.index + 1), dp_desc: `fake switch ${this.index + 1}` },
        answer: (m) => this.answer(m),
        onChunk: () => this.afterChunk(),
        onBadInput: (what) => this.c.mismatch(this.index, what),
      });
      this.sw = sw;
      sw.sock.on('close', () => {
        clearTimeout(timer);
        rej(new Error(`switch ${this.index + 1}: ${sw.closedBecause ?? 'closed'}`));
      });
    });
  }

  close(): void {
    clearTimeout(this.readyTimer);
    this.sw?.end();
  }

  /** Sends every learning packet-in (window-bounded); resolves when all are answered. */
  learn(): Promise<void> {
    this.run('learn', this.hosts.learn, this.hosts.learn.count);
    return this.idle();
  }

  /** Starts the measured load, from the start of the ring; stop() ends it. */
  load(): void {
    this.run('load', this.hosts.load, Infinity);
  }

  /** Stops sending; resolves when every outstanding packet-in is answered. */
  stop(): Promise<void> {
    this.toSend = 0;
    return this.idle();
  }

  private run(phase: Phase, ring: Ring, n: number): void {
    this.phase = phase;
    this.ring = ring;
    this.cursor = 0;
    this.toSend = n;
    this.topUp();
  }

  private idle(): Promise<void> {
    if (this.outstanding === 0 && this.toSend === 0) return Promise.resolve();
    return new Promise((res) => {
      this.onIdle = res;
    });
  }

  /** Fills the window in one write (several views when it wraps round the ring, corked into one writev). */
  private topUp(): void {
    const room = Math.min(this.window - this.outstanding, this.toSend);
    const sock = this.sw?.sock;
    if (room <= 0 || sock === undefined) return;
    const { buf, msgLen, count } = this.ring;
    const wraps = room > count - this.cursor;
    if (wraps) sock.cork();
    for (let left = room; left > 0; ) {
      const n = Math.min(left, count - this.cursor);
      sock.write(buf.subarray(this.cursor * msgLen, (this.cursor + n) * msgLen));
      this.cursor = (this.cursor + n) % count;
      left -= n;
    }
    if (wraps) process.nextTick(() => sock.uncork());
    this.outstanding += room;
    this.toSend -= room;
    this.c.sent += room;
  }

  private afterChunk(): void {
    if (this.phase === 'idle') return;
    this.topUp();
    if (this.outstanding === 0 && this.toSend === 0 && this.onIdle) {
      const f = this.onIdle;
      this.onIdle = undefined;
      f();
    }
  }

  /** What the fake switch answers beyond its defaults, and the checks of what the controller sends. */
  private answer(msg: OFPMessage): readonly OFPMessage[] | undefined {
    const sw = this.sw as FakeSwitch;
    switch (msg.type) {
      case 'OFPFlowMod':
        this.flowMod(msg);
        return [];
      case 'OFPPacketOut':
        this.packetOut(msg);
        return [];
      case 'OFPHello':
        return [];
      case 'OFPEchoRequest':
        this.c.echoes++;
        return undefined;
      case 'OFPEchoReply':
        if (msg.xid === READY_XID + this.index && !this.ready) {
          this.ready = true;
          this.onReady?.();
        }
        return [];
      case 'OFPFeaturesRequest':
        // A controller that asks for no port-desc gets its readiness echo a second after features.
        this.readyTimer = setTimeout(() => {
          for (const m of this.checkReady()) sw.send(m);
        }, 1000);
        return undefined;
      case 'OFPPortDescStatsRequest':
        return [...sw.defaultAnswer(msg), ...this.checkReady()];
      case 'OFPDescStatsRequest':
      case 'OFPGetConfigRequest':
      case 'OFPRoleRequest':
        return undefined;
      case 'OFPSetConfig':
        this.count(msg.type);
        return undefined;
      case 'OFPBarrierRequest':
        this.c.barriers++;
        return undefined;
      case 'OFPErrorMsg':
        this.c.errors++;
        this.c.mismatch(this.index, `OFPT_ERROR type ${msg.err_type} code ${msg.code ?? '-'}`);
        return [];
      default:
        // Counted; a request is refused by the default answer, as a switch that does not implement it would.
        this.count(msg.type);
        return undefined;
    }
  }

  private count(type: string): void {
    this.c.other.set(type, (this.c.other.get(type) ?? 0) + 1);
  }

  /** The echo request whose reply makes this switch ready (none once it is). */
  private checkReady(): OFPMessage[] {
    clearTimeout(this.readyTimer);
    this.readyTimer = undefined;
    if (this.ready) return [];
    return [{ type: 'OFPEchoRequest', xid: READY_XID + this.index, data: Buffer.alloc(0) }];
  }

  private portDesc(): MessageOf<'OFPPortDescStatsReply'>['body'] {
    return Array.from({ length: this.nPorts }, (_, i) => ({
      port_no: i + 1,
      hw_addr: macToText(Buffer.from([0x06, 0xfe, (this.index >> 8) & 0xff, this.index & 0xff, ((i + 1) >> 8) & 0xff, (i + 1) & 0xff])),
      name: `s${this.index + 1}-eth${i + 1}`,
      config: 0,
      state: OFPPS.LIVE,
      curr: OFPPF['10GB_FD'] | OFPPF.COPPER,
      advertised: 0,
      supported: 0,
      peer: 0,
      curr_speed: 10_000_000,
      max_speed: 10_000_000,
    }));
  }

  /** A flow-mod is right if it is the table-miss entry, or the entry for a pair this switch sent. */
  private flowMod(fm: MessageOf<'OFPFlowMod'>): void {
    const sw = this.index;
    if (fm.command !== OFPFC.ADD) return this.c.mismatch(sw, `flow-mod command ${fm.command}, not ADD`);
    const out = outputsOf(fm.instructions);
    if (typeof out === 'string') return this.c.mismatch(sw, `flow-mod: ${out}`);
    if (fm.match.length === 0) {
      if (fm.priority === 0 && out.length === 1 && out[0] === OFPP.CONTROLLER && this.maxLen(fm) === OFPCML.NO_BUFFER) {
        this.c.tableMiss++;
        return;
      }
      return this.c.mismatch(sw, `flow-mod with an empty match is not the table-miss entry (priority ${fm.priority}, outputs ${out.join(',')})`);
    }
    const src = field(fm.match, 'eth_src');
    const m = typeof src?.value === 'string' ? this.hosts.byMac.get(src.value) : undefined;
    if (m === undefined || src?.mask !== undefined) return this.c.mismatch(sw, `flow-mod eth_src ${String(src?.value)} is not a host of this switch`);
    const h = this.hosts;
    const d = h.dst[m] as number;
    const inPort = field(fm.match, 'in_port');
    const dst = field(fm.match, 'eth_dst');
    if (fm.match.length !== 3 || inPort?.value !== h.port[m] || dst?.value !== h.macs[d] || inPort?.mask !== undefined || dst?.mask !== undefined) {
      return this.c.mismatch(sw, `flow-mod match ${JSON.stringify(fm.match)} is not in_port=${h.port[m]},eth_dst=${h.macs[d]},eth_src=${h.macs[m]}`);
    }
    if (out.length !== 1 || out[0] !== h.port[d]) return this.c.mismatch(sw, `flow-mod for ${h.macs[m]}→${h.macs[d]} outputs to ${out.join(',')}, not ${h.port[d]}`);
    if (fm.priority === 0) return this.c.mismatch(sw, 'flow-mod for a pair has priority 0 (does not outrank the table-miss entry)');
    if (fm.buffer_id !== OFP_NO_BUFFER) return this.c.mismatch(sw, `flow-mod buffer_id ${fm.buffer_id}, but no packet was buffered`);
    if (fm.table_id !== 0) return this.c.mismatch(sw, `flow-mod into table ${fm.table_id}`);
    this.c.flowMods++;
  }

  private maxLen(fm: MessageOf<'OFPFlowMod'>): number | undefined {
    const ins = fm.instructions[0];
    const a = ins?.kind === 'OFPInstructionActions' ? ins.actions[0] : undefined;
    return a?.kind === 'OFPActionOutput' ? a.max_len : undefined;
  }

  /** A packet-out must carry back the frame it answers, from its in_port, to the right port (or flood). */
  private packetOut(po: MessageOf<'OFPPacketOut'>): void {
    const sw = this.index;
    const h = this.hosts;
    let m = h.frameOwner(h.load, po.data);
    const learning = m < 0;
    if (learning) m = h.frameOwner(h.learn, po.data);
    if (m < 0) return this.c.mismatch(sw, `packet-out data (${po.data.length} bytes) is not a frame this switch sent`);
    // It answers a packet-in: free its window slot even if it is wrong.
    if (this.outstanding > 0) this.outstanding--;
    else this.c.mismatch(sw, 'packet-out with nothing outstanding');
    if (po.buffer_id !== OFP_NO_BUFFER) return this.c.mismatch(sw, `packet-out buffer_id ${po.buffer_id}`);
    if (po.in_port !== h.port[m]) return this.c.mismatch(sw, `packet-out in_port ${po.in_port}, not ${h.port[m]}`);
    const out = outputsOfActions(po.actions);
    if (typeof out === 'string') return this.c.mismatch(sw, `packet-out: ${out}`);
    const want = learning ? OFPP.FLOOD : h.port[h.dst[m] as number];
    if (out.length !== 1 || out[0] !== want) return this.c.mismatch(sw, `packet-out outputs to ${out.join(',')}, not ${want}`);
    if (learning) this.c.floods++;
    else this.c.packetOuts++;
  }
}

// ---------------------------------------------------------------------------------------------------
// Controller processes

interface Controller {
  readonly kind: Kind;
  readonly port: number;
  readonly proc: ChildProcess;
  readonly log: string;
  readonly counters: Counters;
  switches: LoadSwitch[];
  exited: string | undefined;
}

const children = new Set<ChildProcess>();

/** True if nothing listens on 127.0.0.1:port (we can bind it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

async function pickPort(taken: Set<number>): Promise<number> {
  for (let p = PORT_RANGE[0]; p <= PORT_RANGE[1]; p++) {
    if (!taken.has(p) && (await portFree(p))) {
      taken.add(p);
      return p;
    }
  }
  throw new Error(`no free port in ${PORT_RANGE[0]}-${PORT_RANGE[1]}`);
}

/** Whether 127.0.0.1:port is in LISTEN state, from /proc/net/tcp (no probe connection to the controller). */
function listening(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1] === want && f[3] === '0A';
    });
}

async function startController(kind: Kind, port: number, dir: string): Promise<Controller> {
  const log = join(dir, `${kind}.log`);
  const fd = openSync(log, 'w');
  // Started directly (no shell), so proc.pid is the controller's own PID. The tinflow CLI module only
  // exports main(); scripts/tinflow is the entry that runs it, in the same node process.
  const [cmd, args] =
    kind === 'tinflow'
      ? [process.execPath, [resolve('scripts/tinflow'), 'controller', '--listen', `tcp:127.0.0.1:${port}`, '--app', 'learning']]
      : [OSKEN, ['--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(port), OSKEN_APP]];
  const proc = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  children.add(proc);
  const ctl: Controller = { kind, port, proc, log, counters: new Counters(), switches: [], exited: undefined };
  proc.on('exit', (code, sig) => {
    children.delete(proc);
    ctl.exited = `exited with ${sig ?? code}`;
  });
  const deadline = Date.now() + 30_000;
  while (!listening(port)) {
    if (ctl.exited) throw new Error(`${LABEL[kind]} ${ctl.exited} before listening on ${port}:\n${tail(log)}`);
    if (Date.now() > deadline) throw new Error(`${LABEL[kind]} is not listening on ${port} after 30 s:\n${tail(log)}`);
    await sleep(100);
  }
  return ctl;
}

async function stopAll(ctls: readonly Controller[]): Promise<void> {
  for (const c of ctls) for (const s of c.switches) s.close();
  await Promise.all([...children].map((p) => stopProcess(p)));
}

// ---------------------------------------------------------------------------------------------------
// Measurement

/** Cumulative CPU seconds (user + system) of a process, from /proc/PID/stat. */
function procCpu(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of stat(5), after pid and comm
  } catch {
    return NaN;
  }
}

/** CPU seconds all processes on the machine have used (every state but idle and iowait), from /proc/stat. */
function machineCpu(): number {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return (total - (f[3] ?? 0) - (f[4] ?? 0)) / CLK_TCK;
  } catch {
    return NaN;
  }
}

interface Turn {
  readonly controller: Kind;
  readonly round: number;
  readonly seconds: number;
  /** Correct flow-mods + packet-outs per second: cbench's figure. */
  readonly responses_per_s: number;
  /** Packet-ins answered (by a correct packet-out) per second. */
  readonly packet_ins_per_s: number;
  readonly flow_mods_per_s: number;
  readonly packet_outs_per_s: number;
  readonly mismatches: number;
  /** Mean time a packet-in waits for its answer, by Little's law (outstanding / rate). */
  readonly latency_ms: number;
  /** Generator CPU (user+system) over the measured interval, % of one core. */
  readonly generator_cpu_pct: number;
  /** Generator event-loop utilisation (0..1): near 1 would mean the generator is the bottleneck. */
  readonly generator_elu: number;
  /** Generator CPU per response received, microseconds (decode, checks, and sending its share). */
  readonly generator_us_per_response: number;
  readonly controller_cpu_pct: number;
  /** CPU everything else on the machine used meanwhile, % of one core: the noise this round saw. */
  readonly other_cpu_pct: number;
}

interface Snap {
  readonly t: number;
  readonly fm: number;
  readonly po: number;
  readonly bad: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly elu: ReturnType<typeof performance.eventLoopUtilization>;
  readonly ctlCpu: number;
  readonly allCpu: number;
}

function snap(ctl: Controller): Snap {
  const c = ctl.counters;
  return {
    t: performance.now(), fm: c.flowMods, po: c.packetOuts, bad: c.bad, cpu: process.cpuUsage(),
    elu: performance.eventLoopUtilization(), ctlCpu: procCpu(ctl.proc.pid), allCpu: machineCpu(),
  };
}

function checkAlive(ctl: Controller): void {
  if (ctl.exited) throw new Error(`${LABEL[ctl.kind]} ${ctl.exited}:\n${tail(ctl.log)}`);
  const dead = ctl.switches.find((s) => s.closed !== undefined);
  if (dead) throw new Error(`${LABEL[ctl.kind]}: switch ${dead.index + 1}: ${dead.closed}\n${tail(ctl.log)}`);
}

async function turn(ctl: Controller, round: number, o: Options): Promise<Turn> {
  checkAlive(ctl);
  for (const s of ctl.switches) s.load();
  await sleep(o.ramp * 1000);
  const a = snap(ctl);
  await sleep(o.seconds * 1000);
  const b = snap(ctl);
  const outstanding = ctl.switches.reduce((n, s) => n + s.outstanding, 0);
  const drained = Promise.all(ctl.switches.map((s) => s.stop()));
  const timedOut = await Promise.race([drained.then(() => false), sleep(10_000).then(() => true)]);
  checkAlive(ctl);
  if (timedOut) {
    const left = ctl.switches.reduce((n, s) => n + s.outstanding, 0);
    throw new Error(`${LABEL[ctl.kind]}: ${left} packet-ins still unanswered 10 s after the load stopped (lost?)`);
  }
  const dt = (b.t - a.t) / 1000;
  const fm = (b.fm - a.fm) / dt;
  const po = (b.po - a.po) / dt;
  const cpu = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1e6;
  return {
    controller: ctl.kind,
    round,
    seconds: dt,
    responses_per_s: fm + po,
    packet_ins_per_s: po,
    flow_mods_per_s: fm,
    packet_outs_per_s: po,
    mismatches: b.bad - a.bad,
    latency_ms: po > 0 ? (outstanding / po) * 1000 : NaN,
    generator_cpu_pct: (cpu / dt) * 100,
    generator_elu: performance.eventLoopUtilization(b.elu, a.elu).utilization,
    generator_us_per_response: fm + po > 0 ? (cpu / dt / (fm + po)) * 1e6 : NaN,
    controller_cpu_pct: ((b.ctlCpu - a.ctlCpu) / dt) * 100,
    other_cpu_pct: Math.max(0, ((b.allCpu - a.allCpu - (b.ctlCpu - a.ctlCpu) - cpu) / dt) * 100),
  };
}

async function prepare(ctl: Controller, o: Options, hosts: readonly Hosts[]): Promise<void> {
  const t0 = performance.now();
  ctl.switches = hosts.map((h, i) => new LoadSwitch(i, h, o.ports, o.window, ctl.counters));
  await Promise.all(ctl.switches.map((s) => s.start(ctl.port, 30_000)));
  const t1 = performance.now();
  const learnt = Promise.all(ctl.switches.map((s) => s.learn()));
  const timeout = 30_000 + o.switches * o.macs;
  if (await Promise.race([learnt.then(() => false), sleep(timeout).then(() => true)])) {
    checkAlive(ctl);
    throw new Error(`${LABEL[ctl.kind]}: learning phase unfinished after ${timeout} ms (${ctl.counters.floods} of ${o.switches * o.macs} answered)`);
  }
  checkAlive(ctl);
  const t2 = performance.now();
  const c = ctl.counters;
  process.stdout.write(
    `${LABEL[ctl.kind]} on port ${ctl.port} (pid ${ctl.proc.pid}): ${o.switches} switches connected in ${(t1 - t0).toFixed(0)} ms, ` +
      `${c.floods} hosts learnt in ${(t2 - t1).toFixed(0)} ms, table-miss entries ${c.tableMiss}/${o.switches}\n`,
  );
  if (c.tableMiss !== o.switches) c.mismatch(-1, `${c.tableMiss} table-miss flow-mods for ${o.switches} switches`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? (s[n >> 1] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 10) : c.padStart(widths[i] ?? 10))).join('') + '\n';
}

const COLS = ['', 'round', 'responses/s', 'pkt-in/s', 'flow-mod/s', 'pkt-out/s', 'lat ms', 'gen CPU%', 'gen ELU', 'ctl CPU%', 'other%', 'bad'];
const WIDTHS = [10, 6, 13, 11, 12, 11, 8, 10, 9, 10, 8, 6];

function printTurn(t: Turn, note = ''): void {
  const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '-');
  process.stdout.write(
    row(
      [LABEL[t.controller], String(t.round) + note, f0(t.responses_per_s), f0(t.packet_ins_per_s), f0(t.flow_mods_per_s), f0(t.packet_outs_per_s),
        t.latency_ms.toFixed(1), f0(t.generator_cpu_pct), t.generator_elu.toFixed(2), f0(t.controller_cpu_pct), f0(t.other_cpu_pct), String(t.mismatches)],
      WIDTHS,
    ),
  );
}

interface Summary {
  readonly responses_per_s: number;
  readonly packet_ins_per_s: number;
  readonly flow_mods_per_s: number;
  readonly latency_ms: number;
  readonly generator_cpu_pct: number;
  readonly generator_elu: number;
  readonly generator_us_per_response: number;
  readonly controller_cpu_pct: number;
  /** Responses per CPU-second of the controller. */
  readonly responses_per_cpu_s: number;
}

function summarise(turns: readonly Turn[]): Summary {
  const med = (k: keyof Turn) => median(turns.map((t) => t[k] as number));
  return {
    responses_per_s: med('responses_per_s'),
    packet_ins_per_s: med('packet_ins_per_s'),
    flow_mods_per_s: med('flow_mods_per_s'),
    latency_ms: med('latency_ms'),
    generator_cpu_pct: med('generator_cpu_pct'),
    generator_elu: med('generator_elu'),
    generator_us_per_response: med('generator_us_per_response'),
    controller_cpu_pct: med('controller_cpu_pct'),
    responses_per_cpu_s: median(turns.map((t) => t.responses_per_s / (t.controller_cpu_pct / 100))),
  };
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const kinds: Kind[] = o.only ? [o.only] : ['tinflow', 'osken'];
  if (kinds.includes('osken') && !existsSync(OSKEN)) throw new Error(`${OSKEN} is missing (apt install python3-os-ken), or use --only tinflow`);
  if (kinds.includes('tinflow') && !existsSync(TINFLOW_CONTROLLER)) {
    throw new Error(`${TINFLOW_CONTROLLER} is missing (npm run build), or use --only osken`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-bench-controller-'));
  const ctls: Controller[] = [];
  // A signal ends the run: the controllers are stopped, then the process exits 130 / 143.
  const shutdown = onShutdown(async (sig) => {
    process.stderr.write(`\nbench:controller: ${sig}, stopping the controllers\n`);
    await stopAll(ctls);
    return sig === 'SIGINT' ? 130 : 143;
  });
  void shutdown.done.then((code) => process.exit(code));
  try {
    const t0 = performance.now();
    const hosts = Array.from({ length: o.switches }, (_, i) => new Hosts(i, o.macs, o.ports));
    process.stdout.write(
      `bench:controller: ${o.switches} switches × ${o.macs} hosts on ${o.ports} ports, window ${o.window} packet-ins per switch, ` +
        `${o.rounds} rounds of ${o.seconds} s (+ a warm-up round), packet-ins pre-encoded in ${(performance.now() - t0).toFixed(0)} ms\n`,
    );
    const taken = new Set<number>();
    for (const k of kinds) {
      const ctl = await startController(k, await pickPort(taken), dir);
      ctls.push(ctl);
      await prepare(ctl, o, hosts);
    }
    const turns: Turn[] = [];
    process.stdout.write(row(COLS, WIDTHS));
    for (let r = 0; r <= o.rounds; r++) {
      const order = r % 2 === 0 ? ctls : [...ctls].reverse();
      for (const ctl of order) {
        const t = await turn(ctl, r, o);
        printTurn(t, r === 0 ? '*' : '');
        if (r > 0) turns.push(t);
      }
    }
    process.stdout.write('(* warm-up, discarded; lat = outstanding packet-ins / answer rate; gen = this generator; ctl = the controller process;\n' +
        ' other = CPU used by everything else on the machine meanwhile, % of one core)\n\n');
    const summary: Partial<Record<Kind, Summary>> = {};
    for (const k of kinds) summary[k] = summarise(turns.filter((t) => t.controller === k));
    const sw = [10, 13, 11, 16, 8, 10, 9, 13, 10];
    process.stdout.write(row(['median', 'responses/s', 'pkt-in/s', 'resp/ctl-CPU-s', 'lat ms', 'gen CPU%', 'gen ELU', 'gen µs/resp', 'ctl CPU%'], sw));
    for (const k of kinds) {
      const s = summary[k] as Summary;
      process.stdout.write(
        row([LABEL[k], s.responses_per_s.toFixed(0), s.packet_ins_per_s.toFixed(0), s.responses_per_cpu_s.toFixed(0), s.latency_ms.toFixed(1),
          s.generator_cpu_pct.toFixed(0), s.generator_elu.toFixed(2), s.generator_us_per_response.toFixed(2), s.controller_cpu_pct.toFixed(0)], sw),
      );
    }
    let bad = 0;
    for (const c of ctls) {
      const n = c.counters;
      // Every measured packet-in calls for exactly one flow-mod and one packet-out, and all were drained.
      if (n.flowMods !== n.packetOuts) n.mismatch(-1, `${n.flowMods} flow-mods for ${n.packetOuts} answered packet-ins`);
      bad += n.bad;
      const other = [...n.other].map(([k, v]) => `${k} ${v}`).join(', ');
      process.stdout.write(
        `${LABEL[c.kind]}: ${n.sent} packet-ins sent, ${n.flowMods} flow-mods and ${n.packetOuts} packet-outs correct, ${n.floods} floods, ` +
          `${n.bad} mismatches, ${n.errors} errors, ${n.barriers} barriers, ${n.echoes} echo requests${other ? `, other: ${other}` : ''}\n`,
      );
      for (const s of n.samples) process.stdout.write(`  mismatch: ${s}\n`);
    }
    const t = summary.tinflow;
    const k = summary.osken;
    const ratio = t && k ? t.responses_per_s / k.responses_per_s : NaN;
    // Responses per CPU-second of the controller: steadier than the rate when other work shares the cores.
    const ratioPerCpu = t && k ? t.responses_per_cpu_s / k.responses_per_cpu_s : NaN;
    if (Number.isFinite(ratioPerCpu)) process.stdout.write(`per controller CPU-second: ratio ${ratioPerCpu.toFixed(2)}×\n`);
    mkdirSync('results', { recursive: true });
    writeFileSync(
      'results/bench-controller.json',
      JSON.stringify(
        {
          date: new Date().toISOString(),
          options: o,
          load: 'per switch a window of outstanding packet-ins, topped up after every read; one packet-in = one flow-mod + one packet-out expected',
          summary,
          ratio,
          ratio_per_controller_cpu_s: ratioPerCpu,
          mismatches: bad,
          mismatch_samples: Object.fromEntries(ctls.map((c) => [c.kind, c.counters.samples])),
          turns,
        },
        null,
        2,
      ) + '\n',
    );
    if (bad > 0) process.stdout.write(`WARNING: ${bad} wrong or unexpected responses (not counted above)\n`);
    if (turns.some((x) => x.generator_elu > 0.9)) {
      process.stdout.write('WARNING: the generator\'s event loop was over 90 % busy in some rounds: it may have limited the rate\n');
    }
    const fmt = (s: Summary | undefined) => (s ? `${s.responses_per_s.toFixed(0)} responses/s` : 'not run');
    process.stdout.write(`controller bench: tinflow ${fmt(t)}, os-ken ${fmt(k)}, ratio ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'}×\n`);
    if (bad > 0) process.exitCode = 1;
  } catch (e) {
    process.stderr.write(`bench:controller: controller logs kept in ${dir}\n`);
    throw e;
  } finally {
    await stopAll(ctls);
    shutdown.dispose();
  }
  rmSync(dir, { recursive: true, force: true });
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

main().catch((e: unknown) => {
  process.stderr.write(`bench:controller: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
