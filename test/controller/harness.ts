/**
 * Runs controller apps against the real switch, in memory: Faucet tests its valve against a fake flow
 * table; here the table is the real one. A real Controller (lanes, lifecycle, timers, bus) drives real
 * switch Datapaths (switch/datapath.ts: pipeline, flow tables, packet-in and port-status) whose ports are
 * FakePorts (switch/memory-port.ts's MemoryPort). No sockets and no wall clock:
 *
 *   frames injected on a port → the pipeline → packet-in → the controller's apps → their flow-mods and
 *   packet-outs applied to the same switch → frames out of its ports (`take`)
 *
 * Every message crosses as it would cross a TCP connection: encoded and decoded again, so an app that
 * builds a message the codec refuses fails here as it would on the wire. The switch side answers what
 * switch/channel.ts answers itself (hello, echo, barrier) and hands the rest to Datapath.handle(); a
 * refusal becomes an OFPT_ERROR to the controller (recorded in `errors`). Asynchronous messages from the
 * switch are queued and delivered after the switch's call returns, as a socket would: the switch is never
 * re-entered from inside its own pipeline. Async config masks are not modelled: everything is delivered.
 *
 * Time is a FakeClock shared by the controller (app timers, stop bounds) and the switches (flow ages);
 * tests move it with `await clock.advance(ms)`.
 */
import {
  type ErrorMsg,
  type MessageOf,
  type OFPMessage,
  type Port,
  OFPCodecError,
  OFPCR_ROLE,
  OFPTT,
  OFPG,
  OFPP,
  decode,
  encode,
} from '../../openflow/index.js';
import type { DatapathHandle, DatapathState, SwitchLink } from '../../controller/api.js';
import type { App, AppFactory, Clock, NoEvents, NoServices, ServiceMap } from '../../controller/app.js';
import { Controller } from '../../controller/controller.js';
import type { Logger } from '../../base/logger.js';
import { ControllerError } from '../../controller/errors.js';
import type { AsyncKind, ControllerConnection } from '../../switch/channel.js';
import { type AsyncSink, Datapath as SwitchDatapath } from '../../switch/datapath.js';
import { answerAsSwitch } from '../../overlay/local-channel.js';
import { MemoryPort as FakePort } from '../../switch/memory-port.js';

// ---- a clock that tests move ----------------------------------------------------------------------------

interface Due {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** One turn of the event loop: every promise callback queued so far has run. */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A Clock whose time moves only when a test says so. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private due: Due[] = [];

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  schedule(ms: number, fn: () => void): { cancel(): void } {
    const d: Due = { at: this.t + ms, seq: this.seq++, fn, cancelled: false };
    this.due.push(d);
    return {
      cancel: () => {
        d.cancelled = true;
      },
    };
  }

  /** Timers scheduled and neither fired nor cancelled. */
  get pending(): number {
    return this.due.filter((d) => !d.cancelled).length;
  }

  /**
   * Moves time forward by ms, firing what comes due in time order, each at its own time. Between two
   * firings the event loop turns, so an async callback finishes (and an `every` timer re-arms) first.
   */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await turn();
      this.due = this.due.filter((d) => !d.cancelled);
      let next: Due | undefined;
      for (const d of this.due) if (d.at <= end && (!next || d.at < next.at || (d.at === next.at && d.seq < next.seq))) next = d;
      if (!next) break;
      this.due.splice(this.due.indexOf(next), 1);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
    await turn();
  }
}

// ---- a logger that remembers -------------------------------------------------------------------------

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export class MemoryLog implements Logger {
  readonly entries: LogEntry[] = [];
  debug(obj: object, msg = ''): void {
    this.entries.push({ level: 'debug', obj: { ...obj }, msg });
  }
  info(obj: object, msg = ''): void {
    this.entries.push({ level: 'info', obj: { ...obj }, msg });
  }
  warn(obj: object, msg = ''): void {
    this.entries.push({ level: 'warn', obj: { ...obj }, msg });
  }
  error(obj: object, msg = ''): void {
    this.entries.push({ level: 'error', obj: { ...obj }, msg });
  }
  /** Entries at warn or error whose message contains `text`. */
  problems(text = ''): LogEntry[] {
    return this.entries.filter((e) => (e.level === 'warn' || e.level === 'error') && e.msg.includes(text));
  }
}

// ---- one switch in memory ----------------------------------------------------------------------------

const CONN: ControllerConnection = { id: 'harness', role: OFPCR_ROLE.EQUAL, send: () => undefined };
const QUIET = { debug() {}, info() {}, warn() {}, error() {} };

/** Requests whose reply is one message of their own (the rest of the no-reply kind resolve with []). */
function isRequest(type: string): boolean {
  return type.endsWith('StatsRequest') || type === 'OFPFeaturesRequest' || type === 'OFPGetConfigRequest' || type === 'OFPQueueGetConfigRequest';
}

/** As it would arrive at the other end of a connection: encoded and decoded again (a fresh copy). */
function wire<M extends OFPMessage>(msg: M): M {
  return decode(encode(msg)) as M;
}

export interface SwitchOptions {
  readonly dpid?: bigint;
  /** Port numbers (default 1, 2, 3). Port n has MAC 02:00:00:00:dd:nn (dd: the dpid's low byte). */
  readonly ports?: readonly number[];
  readonly tables?: number;
}

type Outcome = { readonly replies: OFPMessage[]; readonly error: ErrorMsg | undefined };

/** A real switch Datapath with FakePorts, and the DatapathHandle the controller sees it through. */
export class InMemorySwitch implements DatapathHandle, AsyncSink {
  readonly id: bigint;
  state: DatapathState = 'main';
  readonly ports = new Map<number, Port>();
  features: MessageOf<'OFPSwitchFeatures'> | undefined;
  readonly peer: string;
  readonly sw: SwitchDatapath;
  /** The devices behind the switch's ports, by port number. */
  readonly devices = new Map<number, FakePort>();
  /** Every message the controller sent this switch, as the switch decoded it, in order. */
  readonly received: OFPMessage[] = [];
  /** Every OFPT_ERROR the switch answered with. */
  readonly errors: ErrorMsg[] = [];
  readonly connected = 1;
  private link: SwitchLink | undefined;
  private readonly inbox: OFPMessage[] = [];
  private pumping = false;
  private xid = 0;

  constructor(clock: Clock, opts: SwitchOptions = {}) {
    this.id = opts.dpid ?? 1n;
    this.peer = `memory:${this.id.toString(16)}`;
    this.sw = new SwitchDatapath({ name: `mem${this.id.toString(16)}`, dpid: this.id, tables: opts.tables ?? 4, failMode: 'secure', log: QUIET, now: () => clock.now() });
    const low = (Number(this.id & 0xffn)).toString(16).padStart(2, '0');
    for (const no of opts.ports ?? [1, 2, 3]) {
      const dev = new FakePort({ name: `p${no}`, hwAddr: `02:00:00:00:${low}:${(no & 0xff).toString(16).padStart(2, '0')}` });
      this.sw.addPort(dev, no);
      this.devices.set(no, dev);
    }
    this.sw.attach(this);
  }

  /** The handshake the controller's datapath does (features, set-config, port-desc), then attach. */
  connect(ctl: { attach(dp: DatapathHandle): SwitchLink }): void {
    const [features] = this.exchange({ type: 'OFPFeaturesRequest', xid: this.nextXid() }).replies;
    if (features?.type !== 'OFPSwitchFeatures') throw new Error(`the switch answered the features request with ${features?.type ?? 'nothing'}`);
    this.features = features;
    this.exchange({ type: 'OFPSetConfig', xid: this.nextXid(), flags: 0, miss_send_len: 0xffff });
    for (const r of this.exchange({ type: 'OFPPortDescStatsRequest', xid: this.nextXid(), flags: 0 }).replies) {
      if (r.type === 'OFPPortDescStatsReply') for (const p of r.body) this.ports.set(p.port_no, p);
    }
    this.inbox.length = 0; // port-status of the ports added before the controller was there
    this.link = ctl.attach(this);
    this.pump();
  }

  // ---- DatapathHandle: what apps call ----

  send(msg: OFPMessage): number {
    const xid = msg.xid === 0 ? this.nextXid() : msg.xid;
    if (this.state === 'dead') return xid;
    const out = this.exchange(this.encodable({ ...msg, xid }));
    this.inbox.push(...out.replies);
    this.pump();
    return xid;
  }

  request(msg: OFPMessage): Promise<OFPMessage[]> {
    if (this.state === 'dead') return Promise.reject(new ControllerError('disconnected', `datapath ${this.id} is disconnected`));
    const xid = msg.xid === 0 ? this.nextXid() : msg.xid;
    let out: Outcome;
    try {
      out = this.exchange(this.encodable({ ...msg, xid }));
    } catch (e) {
      return Promise.reject(e as Error);
    }
    this.pump();
    if (out.error) return Promise.reject(new ControllerError('switch-error', `the switch refused ${msg.type}: ${out.error.err_type}/${out.error.code ?? '-'}`, out.error));
    return Promise.resolve(isRequest(msg.type) || msg.type === 'OFPBarrierRequest' || msg.type === 'OFPEchoRequest' ? out.replies : []);
  }

  close(reason = 'closed by the controller'): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.link?.left(reason);
  }

  // ---- AsyncSink: what the switch calls ----

  sendAsync(msg: OFPMessage, _kind: AsyncKind, _reason: number): number {
    // Copied at once: a packet-in's data is a view of the port's receive slab until this returns.
    if (this.state !== 'dead') this.inbox.push(wire(msg));
    return 1;
  }

  // ---- what tests do ----

  /** Frames arrive on port `no` as one batch; what the apps answer is applied before this returns. */
  inject(no: number, ...frames: Buffer[]): void {
    this.device(no).inject(frames);
    this.pump();
  }

  /** Frames the switch sent out of port `no` since the last take. */
  take(no: number): Buffer[] {
    return this.device(no).take();
  }

  /** Takes the frames out of every port: port → frames, ports that sent nothing left out. */
  takeAll(): Record<number, Buffer[]> {
    const out: Record<number, Buffer[]> = {};
    for (const [no, dev] of this.devices) {
      const f = dev.take();
      if (f.length > 0) out[no] = f;
    }
    return out;
  }

  /** The link of port `no` goes down or up (port-status MODIFY). */
  setLink(no: number, up: boolean): void {
    this.device(no).setLink({ carrier: up });
    this.pump();
  }

  /** The device behind port `no` disappears (port-status DELETE). */
  unplug(no: number): void {
    this.device(no).vanish();
    this.devices.delete(no);
    this.pump();
  }

  /** The flow table as flow stats (every table), asked of the switch directly. */
  flows(): MessageOf<'OFPFlowStatsReply'>['body'][number][] {
    const req: OFPMessage = { type: 'OFPFlowStatsRequest', xid: this.nextXid(), flags: 0, table_id: OFPTT.ALL, out_port: OFPP.ANY, out_group: OFPG.ANY, cookie: 0n, cookie_mask: 0n, match: [] };
    return this.sw.handle(req, CONN).flatMap((r) => (r.type === 'OFPFlowStatsReply' ? r.body : []));
  }

  device(no: number): FakePort {
    const d = this.devices.get(no);
    if (!d) throw new Error(`switch ${this.id} has no port ${no}`);
    return d;
  }

  /** The switch stops (ports closed); the controller sees it leave. */
  stop(reason = 'switch stopped'): void {
    this.close(reason);
    this.sw.stop();
  }

  private nextXid(): number {
    this.xid = (this.xid + 1) >>> 0 || 1;
    return this.xid;
  }

  /** What the switch gets: the message after the codec (which may refuse it, as on a real connection). */
  private encodable(msg: OFPMessage): OFPMessage {
    try {
      return wire(msg);
    } catch (e) {
      if (e instanceof OFPCodecError) throw new ControllerError('bad-request', `cannot encode ${msg.type}: ${e.message}`);
      throw e;
    }
  }

  /** The switch end of a connection (overlay/local-channel.ts answerAsSwitch), replies through the codec. */
  private exchange(msg: OFPMessage): Outcome {
    this.received.push(msg);
    const out = answerAsSwitch(this.sw, msg);
    if (out.error !== undefined) {
      this.errors.push(out.error);
      // As on a connection, the error also reaches the controller as a message (an 'error' event).
      this.inbox.push(out.error);
    }
    return { replies: out.replies.map((r) => wire(r)), error: out.error };
  }

  /** Delivers what the switch sent, in order; what the apps answer may queue more, delivered in turn. */
  private pump(): void {
    if (this.pumping || !this.link) return;
    this.pumping = true;
    try {
      for (let m = this.inbox.shift(); m !== undefined; m = this.inbox.shift()) {
        if (this.state === 'dead') break;
        let before: Port | undefined;
        if (m.type === 'OFPPortStatus') {
          before = this.ports.get(m.desc.port_no);
          if (m.reason === 1) this.ports.delete(m.desc.port_no);
          else this.ports.set(m.desc.port_no, m.desc);
        }
        this.link.received(m, before);
      }
    } finally {
      this.pumping = false;
    }
  }
}

// ---- the harness: a controller and its switches ------------------------------------------------------

export interface HarnessOptions<E, S extends ServiceMap<S>> {
  readonly apps: readonly (App | AppFactory<E, S>)[];
  /** The first switch (more with addSwitch). */
  readonly switch?: SwitchOptions;
  readonly stopTimeoutMs?: number;
  readonly appQueueLimit?: number;
}

export class AppHarness<E = NoEvents, S extends ServiceMap<S> = NoServices> {
  readonly clock = new FakeClock();
  readonly log = new MemoryLog();
  readonly controller: Controller<E, S>;
  readonly switches: InMemorySwitch[] = [];

  private constructor(opts: HarnessOptions<E, S>) {
    this.controller = new Controller<E, S>({
      apps: opts.apps,
      clock: this.clock,
      logger: this.log,
      ...(opts.stopTimeoutMs !== undefined ? { stopTimeoutMs: opts.stopTimeoutMs } : {}),
      ...(opts.appQueueLimit !== undefined ? { appQueueLimit: opts.appQueueLimit } : {}),
    });
  }

  /** Starts the controller (its apps' start hooks) and connects the first switch. */
  static async start<E = NoEvents, S extends ServiceMap<S> = NoServices>(opts: HarnessOptions<E, S>): Promise<AppHarness<E, S>> {
    const h = new AppHarness<E, S>(opts);
    await h.controller.start();
    h.addSwitch(opts.switch ?? {});
    await h.settle();
    return h;
  }

  /** Another switch, connected at once (apps get switchEnter). */
  addSwitch(opts: SwitchOptions = {}): InMemorySwitch {
    const s = new InMemorySwitch(this.clock, { dpid: BigInt(this.switches.length + 1), ...opts });
    this.switches.push(s);
    s.connect(this.controller);
    return s;
  }

  /** The first switch. */
  get sw(): InMemorySwitch {
    const s = this.switches[0];
    if (!s) throw new Error('the harness has no switch');
    return s;
  }

  /**
   * Lets the apps finish what they are doing: turns the event loop until every handler's promise has
   * settled, or 50 turns have passed (a handler waiting for the fake clock waits for advance()).
   */
  async settle(): Promise<void> {
    let idle = false;
    void this.controller.whenIdle().then(() => {
      idle = true;
    });
    for (let i = 0; i < 50 && !idle; i++) await turn();
  }

  /** Stops the controller (switches leave, apps stop), then the switches. */
  async stop(): Promise<void> {
    await this.controller.stop();
    for (const s of this.switches) s.sw.stop();
  }
}
