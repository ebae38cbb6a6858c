/**
 * tinflow's OpenFlow 1.3 controller: the framework Ryu users expect, without Python.
 *
 * It listens on `tcp:IP:PORT` / `ssl:IP:PORT` and can dial passive switches (`tcp:HOST:PORT`, redialled
 * with backoff), keeps one DatapathConnection per connection, and turns what switches send into typed events
 * (api.ts EventMap) for its apps. Replies to requests go to their callers (datapath-connection.ts). A second
 * connection announcing a datapath id already connected replaces the older one, as Ryu does. A switch in
 * the same process can be attached without a socket (attach()).
 *
 * Event order: every app has one lane per datapath. An event goes to the apps in app order; each app
 * handles the events of one datapath one at a time, in arrival order, even when its handler returns a
 * promise (the lane waits for it; see Lane). A slow app holds up only itself and only on that datapath.
 *
 * Lifecycle (app.ts): start() starts the apps in order before listening; stop() closes the switches,
 * lets the apps finish their events, then stops them in reverse order, each within stopTimeoutMs of the
 * injected clock, which also drives the apps' timers.
 *
 * What lives here: listeners, dialers, the datapath registry, event dispatch and the app lifecycle,
 * message counters for metrics. What does not: the wire codec (openflow/), the REST API (rest.ts), the
 * app API and its timers and bus (app.ts), the apps (apps/).
 */
import { EventEmitter } from 'node:events';
import { type AddressInfo, type Server, type Socket, createConnection, createServer } from 'node:net';
import * as tls from 'node:tls';
import { type EndpointOf, EndpointError, formatEndpoint, parseEndpoint } from '../base/endpoint.js';
import { type Logger, nullLogger } from '../base/logger.js';
import { Redialer, timerScheduler } from '../base/redial.js';
import { type TlsFiles, type TlsMaterial, TlsFileError, loadTlsFiles } from '../base/tls.js';
import { OFPPR, type MessageOf, type OFPMessage, type Port, packetInPort } from '../openflow/index.js';
import type { ControllerHandle, DatapathHandle, EventMap, EventName, SwitchLink } from './api.js';
import {
  type App,
  type AppContext,
  type AppFactory,
  AppTimers,
  type Bus,
  type BusOwner,
  type Clock,
  EventBus,
  type HandlerResult,
  type NoEvents,
  type NoServices,
  type ServiceMap,
  systemClock,
} from './app.js';
import { DatapathConnection, type DatapathHost, describeError } from './datapath-connection.js';
import { ControllerError } from './errors.js';
import { type ParsedPacket, parseFrame } from './parsed-packet.js';

/** Where the controller listens (`tcp:IP:PORT` / `ssl:IP:PORT`, as Ryu) or which passive switch it dials. */
export type Endpoint = EndpointOf<'tcp' | 'ssl'>;

/** The controller's endpoint kinds (base/endpoint.ts parses them). */
export const ENDPOINT_KINDS = ['tcp', 'ssl'] as const;

/** Parses an endpoint of the controller; a bad one is a ControllerError 'config'. */
function endpoint(s: string, what: string): Endpoint {
  try {
    return parseEndpoint(s, ENDPOINT_KINDS, what);
  } catch (e) {
    throw e instanceof EndpointError ? new ControllerError('config', e.message) : e;
  }
}

/** Without `ca`, switches' certificates are not verified (any client certificate is accepted). */
export type { TlsFiles };

export interface ControllerOptions<E = NoEvents, S extends ServiceMap<S> = NoServices> {
  /** Where to listen: `tcp:IP:PORT` / `ssl:IP:PORT` (port 0 picks a free one). */
  readonly listen?: readonly string[];
  /** Passive switches to dial: `tcp:HOST:PORT` / `ssl:HOST:PORT`. */
  readonly switches?: readonly string[];
  readonly tls?: TlsFiles;
  readonly apps?: readonly (App | AppFactory<E, S>)[];
  readonly logger?: Logger;
  /** Default timeout of a request (ms). Default 5000. */
  readonly requestTimeoutMs?: number;
  /** Switch silence before an echo request (ms); as long again and the switch is dropped. Default 15000. */
  readonly echoIntervalMs?: number;
  /** miss_send_len in set-config. Default 0xffff (OFPCML_NO_BUFFER: whole frames). */
  readonly missSendLen?: number;
  /** The apps' clock and timers, and the bounds of stop(); injectable for tests. Default systemClock. */
  readonly clock?: Clock;
  /** How long stop() waits for the apps to finish their events, then for each app's stop() (ms). Default 5000. */
  readonly stopTimeoutMs?: number;
  /** Events one app may have waiting for one datapath (or on the bus) before more are dropped. Default 10000. */
  readonly appQueueLimit?: number;
  /** Bytes queued for one switch beyond which the controller stops reading from it until they drain. Default 1 MiB. */
  readonly queueLimit?: number;
}


/** A packet-in event whose frame is parsed on first use. */
class PacketInEvent {
  private parsed: ParsedPacket | undefined;
  constructor(
    readonly dp: DatapathHandle,
    readonly msg: MessageOf<'OFPPacketIn'>,
    readonly inPort: number,
  ) {}
  get packet(): ParsedPacket {
    return (this.parsed ??= parseFrame(this.msg.data));
  }
}

function dpidText(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}

function errText(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

type AnyHandler = (ev: never) => HandlerResult;
type Job = () => void | Promise<void>;

/** What a lane reports to its controller. */
interface LaneHost {
  readonly limit: number;
  /** The lane waits on a promise (stop() and whenIdle() wait for it). */
  parked(lane: Lane): void;
  /** The lane has nothing left to do. */
  idle(lane: Lane): void;
  /** A job was dropped because `limit` jobs were waiting (count is this episode's total so far). */
  dropped(lane: Lane, count: number): void;
  /** A job threw (jobs catch their own errors: this is a safety net). */
  failed(lane: Lane, e: unknown): void;
}

/**
 * One app's events for one datapath (or its bus events), handled one at a time in arrival order. An
 * idle lane runs a job at once, synchronously: the common case, a handler that returns its messages,
 * costs no queueing. A job that returns a promise holds the lane until the promise settles; jobs that
 * arrive meanwhile wait, at most `limit` of them. Beyond that they are dropped and counted: an app that
 * far behind is stuck, and an unbounded queue would take the whole controller down with it.
 */
class Lane {
  private jobs: (Job | undefined)[] = [];
  private head = 0;
  private running = false;
  private isParked = false;
  private drops = 0;

  constructor(
    readonly app: AppRecord,
    /** For logs: `datapath 00000000000000a1` or `bus`. */
    readonly what: string,
    private readonly host: LaneHost,
  ) {}

  /** Runs job now if the lane is idle, else queues it; false if it was dropped. */
  push(job: Job): boolean {
    if (!this.running) {
      this.drain(job);
      return true;
    }
    if (this.jobs.length - this.head >= this.host.limit) {
      this.host.dropped(this, ++this.drops);
      return false;
    }
    this.jobs.push(job);
    return true;
  }

  /** Jobs dropped since the lane was last idle (reset when it gets there). */
  get dropsThisEpisode(): number {
    return this.drops;
  }

  private drain(first: Job | undefined): void {
    this.running = true;
    for (let job = first; job !== undefined; job = this.next()) {
      let r: void | Promise<void>;
      try {
        r = job();
      } catch (e) {
        this.host.failed(this, e);
        continue;
      }
      if (r instanceof Promise) {
        if (!this.isParked) {
          this.isParked = true;
          this.host.parked(this);
        }
        const resume = (): void => this.drain(this.next());
        r.then(resume, resume);
        return;
      }
    }
    this.running = false;
    if (this.isParked || this.drops > 0) {
      this.isParked = false;
      this.host.idle(this);
      this.drops = 0;
    }
  }

  private next(): Job | undefined {
    if (this.head === this.jobs.length) {
      if (this.head !== 0) {
        this.jobs.length = 0;
        this.head = 0;
      }
      return undefined;
    }
    const job = this.jobs[this.head];
    this.jobs[this.head++] = undefined;
    // A lane that never quite empties would keep growing its array: compact now and then.
    if (this.head >= 1024 && this.head * 2 >= this.jobs.length) {
      this.jobs = this.jobs.slice(this.head);
      this.head = 0;
    }
    return job;
  }
}

type AppState = 'new' | 'running' | 'stopping' | 'stopped';

/** What an app's record reports to its controller. */
interface AppHost {
  readonly clock: Clock;
  readonly laneHost: LaneHost;
  appError(app: string, event: string, e: unknown): void;
}

/** One app and what the controller keeps for it: its state, timers and bus lane. */
class AppRecord implements BusOwner {
  app: App | undefined;
  state: AppState = 'new';
  readonly timers: AppTimers;
  readonly busLane: Lane;
  /** Drops the app's bus subscriptions / withdraws its services (set once its bus view exists). */
  release: () => void = () => undefined;
  withdraw: () => void = () => undefined;

  constructor(
    readonly index: number,
    private readonly host: AppHost,
  ) {
    this.timers = new AppTimers(this, host.clock, (e) => host.appError(this.name, 'timer', e));
    this.busLane = new Lane(this, 'bus', host.laneHost);
  }

  /** The app's name (its number until the factory has made it). */
  get name(): string {
    return this.app?.name ?? `#${this.index + 1}`;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  deliver(job: () => void | Promise<void>): void {
    if (this.running) this.busLane.push(job);
  }

  failed(event: string, e: unknown): void {
    this.host.appError(this.name, event, e);
  }
}

export class Controller<E = NoEvents, S extends ServiceMap<S> = NoServices>
  extends EventEmitter<{ [K in EventName]: [EventMap[K]] }>
  implements ControllerHandle
{
  readonly log: Logger;
  readonly apps: readonly App[];
  /** Custom events and services shared with the apps (app.ts Bus); typed by E and S. */
  readonly bus: Bus<E, S>;
  readonly clock: Clock;
  private readonly opts: ControllerOptions<E, S>;
  private readonly records: AppRecord[] = [];
  private readonly servers: Server[] = [];
  private readonly dialers: Dialer[] = [];
  private readonly all = new Set<DatapathHandle>();
  private readonly byId = new Map<bigint, DatapathHandle>();
  /** Handlers per event, in app order. */
  private readonly handlers = new Map<EventName, { readonly rec: AppRecord; readonly fn: AnyHandler }[]>();
  /** Each datapath's lanes, one per app (index = app index); forgotten with the datapath. */
  private readonly lanes = new WeakMap<DatapathHandle, Lane[]>();
  /** Lanes waiting on a promise, and who waits for them all to finish (whenIdle). */
  private readonly parked = new Set<Lane>();
  private idleWaiters: (() => void)[] = [];
  private readonly laneHost: LaneHost;
  /** Message counters by direction and type, read by metrics; app failures and dropped app events. */
  readonly counters = {
    rx: new Map<string, number>(), tx: new Map<string, number>(), appErrors: 0, appDrops: 0, switchErrors: 0,
    /** Bounds (datapath-connection.ts): input paused for a switch that did not read, switches dropped as stuck, undecodable messages, ports beyond MAX_PORTS. */
    readPauses: 0, stuckDropped: 0, undecodable: 0, portsIgnored: 0,
  };
  private readonly host: DatapathHost;
  private readonly tlsOpts: TlsMaterial | undefined;
  private readonly stopTimeoutMs: number;
  private startCalled = false;
  private stopping: Promise<void> | undefined;

  constructor(opts: ControllerOptions<E, S> = {}) {
    super();
    this.opts = opts;
    this.log = opts.logger ?? nullLogger;
    this.clock = opts.clock ?? systemClock;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5000;
    // Configuration first: an app's factory may already set timers, which a refusal would leave behind.
    for (const s of opts.listen ?? []) endpoint(s, 'listen address');
    for (const s of opts.switches ?? []) endpoint(s, 'switch address');
    const needsTls = [...(opts.listen ?? []), ...(opts.switches ?? [])].some((s) => s.startsWith('ssl:'));
    if (needsTls && !opts.tls) throw new ControllerError('config', 'ssl: needs a certificate and key (--cert, --key)');
    this.tlsOpts = opts.tls ? tlsMaterial(opts.tls) : undefined;
    const bus = new EventBus<E, S>(this.log);
    this.bus = bus;
    this.laneHost = {
      limit: opts.appQueueLimit ?? 10_000,
      parked: (lane) => this.parked.add(lane),
      idle: (lane) => this.laneIdle(lane),
      dropped: (lane, count) => {
        this.counters.appDrops++;
        if (count === 1) this.log.warn({ app: lane.app.name, on: lane.what, waiting: this.laneHost.limit }, 'app is behind: dropping its new events until it catches up');
      },
      failed: (lane, e) => this.appError(lane.app.name, lane.what, e),
    };
    const appHost: AppHost = { clock: this.clock, laneHost: this.laneHost, appError: (app, event, e) => this.appError(app, event, e) };
    const apps: App[] = [];
    for (const [i, a] of (opts.apps ?? []).entries()) {
      const rec = new AppRecord(i, appHost);
      const view = bus.view(rec);
      rec.release = view.release;
      rec.withdraw = view.withdraw;
      const ctx: AppContext<E, S> = { log: this.log, controller: this, now: () => this.clock.now(), timers: rec.timers, bus: view };
      let app: App;
      try {
        app = typeof a === 'function' ? a(ctx) : a;
      } catch (e) {
        for (const r of [...this.records, rec]) r.timers.close();
        throw new ControllerError('app', `app #${i + 1}: its factory failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      rec.app = app;
      this.records.push(rec);
      apps.push(app);
      for (const [event, fn] of Object.entries(app.on) as [EventName, AnyHandler | undefined][]) {
        if (!fn) continue;
        const list = this.handlers.get(event) ?? [];
        list.push({ rec, fn });
        this.handlers.set(event, list);
      }
    }
    this.apps = apps;
    this.host = {
      log: this.log,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5000,
      echoIntervalMs: opts.echoIntervalMs ?? 15000,
      missSendLen: opts.missSendLen ?? 0xffff,
      entered: (dp) => this.entered(dp),
      received: (dp, msg) => this.received(dp, msg, dp.portBefore),
      left: (dp, reason, wasMain) => this.left(dp, reason, wasMain),
      counted: (direction, type) => {
        const m = this.counters[direction];
        m.set(type, (m.get(type) ?? 0) + 1);
      },
      ...(opts.queueLimit !== undefined ? { queueLimit: opts.queueLimit } : {}),
      bounded: (event) => {
        if (event === 'read-paused') this.counters.readPauses++;
        else if (event === 'stuck') this.counters.stuckDropped++;
        else if (event === 'undecodable') this.counters.undecodable++;
        else this.counters.portsIgnored++;
      },
    };
  }

  /**
   * Starts the apps (in order; a failure stops those already started and rejects), then listens and
   * starts dialling. On failure nothing is left listening and no app is left running.
   */
  async start(): Promise<void> {
    if (this.startCalled) throw new ControllerError('config', 'the controller was started already');
    this.startCalled = true;
    await this.startApps();
    const tlsOpts = this.tlsOpts;
    try {
      await this.listen(tlsOpts);
    } catch (e) {
      await Promise.all(this.servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
      await this.stopApps();
      throw e;
    }
    for (const s of this.opts.switches ?? []) {
      const d = new Dialer(endpoint(s, 'switch address'), tlsOpts, this);
      this.dialers.push(d);
      d.start();
    }
  }

  private async startApps(): Promise<void> {
    for (const rec of this.records) {
      try {
        await rec.app?.start?.();
      } catch (e) {
        this.log.error({ app: rec.name, err: errText(e) }, 'app failed to start');
        rec.state = 'running'; // so that stopApps() cancels what it set up before failing
        await this.stopApps();
        throw new ControllerError('app', `app ${rec.name} failed to start: ${e instanceof Error ? e.message : String(e)}`);
      }
      rec.state = 'running';
    }
  }

  private async listen(tlsOpts: TlsMaterial | undefined): Promise<void> {
    for (const s of this.opts.listen ?? []) {
      const ep = endpoint(s, 'listen address');
      const onSock = (sock: Socket): void => {
        this.accept(sock);
      };
      const server: Server =
        ep.kind === 'ssl'
          ? tls.createServer({ ...tlsOpts, requestCert: true, rejectUnauthorized: tlsOpts?.ca !== undefined }, onSock)
          : createServer(onSock);
      server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => {
        // err alone often says only "socket hang up": why the switch's certificate was refused is here.
        const cert = (sock.authorizationError as Error | string | undefined)?.toString();
        this.log.warn({ err: err.message, ...(cert !== undefined && { cert }), from: sock.remoteAddress }, 'TLS handshake with a switch failed');
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: Error) => reject(new ControllerError('config', `cannot listen on ${s}: ${e.message}`)));
        server.listen(ep.port, ep.host, () => resolve());
      });
      server.on('error', (e: Error) => this.log.error({ err: e.message }, 'listener error'));
      this.servers.push(server);
      // debug: the CLI's one 'controller running' line lists the addresses once all of them are bound.
      this.log.debug({ listen: `${ep.kind}:${ep.host}:${(server.address() as AddressInfo).port}` }, 'listening for switches');
    }
  }

  /** The bound addresses of the listeners, as `tcp:IP:PORT` (port 0 resolved). */
  addresses(): string[] {
    return this.servers.map((srv, i) => {
      const ep = endpoint(this.opts.listen?.[i] ?? '', 'listen address');
      return `${ep.kind}:${ep.host}:${(srv.address() as AddressInfo).port}`;
    });
  }

  /**
   * Stops dialling and listening, closes every switch (apps get switchLeave), waits for the apps to
   * finish the events they have (at most stopTimeoutMs), then stops the apps in reverse order: cancels
   * each one's timers, drops its bus subscriptions and awaits its stop() for at most stopTimeoutMs (a
   * hung stop is logged and counted, and the shutdown goes on). Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    for (const d of this.dialers) d.stop();
    for (const dp of [...this.all]) dp.close('controller stopping');
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (!(await this.within(this.whenIdle(), this.stopTimeoutMs))) {
      const busy = [...new Set([...this.parked].map((l) => l.app.name))];
      this.log.warn({ apps: busy, ms: this.stopTimeoutMs }, 'apps still busy with events at stop; stopping them anyway');
    }
    await this.stopApps();
  }

  private async stopApps(): Promise<void> {
    for (const rec of [...this.records].reverse()) await this.stopApp(rec);
  }

  /** Stops one app: timers and subscriptions always (a factory may have set some); its hook if it ran. */
  private async stopApp(rec: AppRecord): Promise<void> {
    if (rec.state === 'stopping' || rec.state === 'stopped') return;
    const started = rec.state === 'running';
    rec.state = 'stopping';
    rec.timers.close();
    rec.release();
    const app = rec.app;
    if (started && app?.stop) {
      const done = (async () => {
        await app.stop?.();
      })().catch((e: unknown) => this.appError(rec.name, 'stop', e));
      if (!(await this.within(done, this.stopTimeoutMs))) {
        this.counters.appErrors++;
        this.log.error({ app: rec.name, ms: this.stopTimeoutMs }, 'app did not finish stopping in time; going on without it');
      }
    }
    rec.withdraw();
    rec.state = 'stopped';
  }

  /** Resolves true when p settles, false when ms pass first (on the controller's clock). */
  private within(p: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = this.clock.schedule(ms, () => resolve(false));
      const settled = (): void => {
        t.cancel();
        resolve(true);
      };
      p.then(settled, settled);
    });
  }

  /** Resolves once every app has finished every event delivered so far (no handler promise pending). */
  whenIdle(): Promise<void> {
    if (this.parked.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private laneIdle(lane: Lane): void {
    const drops = lane.dropsThisEpisode;
    if (drops > 0) this.log.warn({ app: lane.app.name, on: lane.what, dropped: drops }, 'app caught up; events were dropped while it was behind');
    this.parked.delete(lane);
    if (this.parked.size === 0 && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  get isStopped(): boolean {
    return this.stopping !== undefined;
  }

  datapaths(): readonly DatapathHandle[] {
    return [...this.byId.values()];
  }

  datapath(id: bigint): DatapathHandle | undefined {
    return this.byId.get(id);
  }

  /** Every connection, including those still in handshake. */
  connections(): readonly DatapathHandle[] {
    return [...this.all];
  }

  /** Takes a connected socket (accepted or dialled) and runs a datapath on it. */
  accept(sock: Socket): DatapathConnection {
    const dp = new DatapathConnection(sock, this.host);
    this.all.add(dp);
    this.log.debug({ peer: dp.peer }, 'switch connected');
    return dp;
  }

  /**
   * Connects a switch that lives in this process, without a socket. `dp` is the switch as apps see it,
   * already in state 'main' (features and ports known); its send()/request() reach the switch, and its
   * close() must end in the returned link's left(). Apps get switchEnter now; the switch side hands its
   * messages to link.received(). test/controller/harness.ts runs apps against the real switch this way.
   */
  attach(dp: DatapathHandle): SwitchLink {
    if (dp.state !== 'main') throw new ControllerError('config', `attach: datapath ${dpidText(dp.id)} is in state ${dp.state}, not main`);
    if (this.stopping) throw new ControllerError('config', 'attach: the controller is stopping');
    this.all.add(dp);
    this.entered(dp);
    let gone = false;
    return {
      received: (msg, before) => {
        if (!gone) this.received(dp, msg, before);
      },
      left: (reason) => {
        if (gone) return;
        gone = true;
        this.left(dp, reason, true);
      },
    };
  }

  private entered(dp: DatapathHandle): void {
    const old = this.byId.get(dp.id);
    if (old && old !== dp) {
      this.log.warn({ dp: dpidText(dp.id), old: old.peer, peer: dp.peer }, 'datapath id reconnected: closing the older connection');
      this.byId.delete(dp.id);
      old.close('replaced by a new connection with the same datapath id');
    }
    this.byId.set(dp.id, dp);
    this.log.info({ dp: dpidText(dp.id), peer: dp.peer, ports: dp.ports.size }, 'switch entered');
    this.dispatch('switchEnter', { dp });
  }

  private left(dp: DatapathHandle, reason: string, wasMain: boolean): void {
    this.all.delete(dp);
    if (this.byId.get(dp.id) === dp) this.byId.delete(dp.id);
    if (wasMain) {
      this.log.info({ dp: dpidText(dp.id), peer: dp.peer, reason }, 'switch left');
      this.dispatch('switchLeave', { dp, reason });
    } else {
      this.log.info({ peer: dp.peer, reason }, 'connection closed before the handshake finished');
    }
    for (const d of this.dialers) d.gone(dp, wasMain);
  }

  private received(dp: DatapathHandle, msg: OFPMessage, before: Port | undefined): void {
    switch (msg.type) {
      case 'OFPPacketIn':
        this.dispatch('packetIn', new PacketInEvent(dp, msg, packetInPort(msg)));
        break;
      case 'OFPPortStatus': {
        const port: Port = msg.desc;
        if (msg.reason === OFPPR.ADD) this.dispatch('portAdd', { dp, port });
        else if (msg.reason === OFPPR.DELETE) this.dispatch('portDelete', { dp, port });
        else this.dispatch('portModify', { dp, port, before });
        break;
      }
      case 'OFPFlowRemoved':
        this.dispatch('flowRemoved', { dp, msg });
        break;
      case 'OFPErrorMsg':
        this.counters.switchErrors++;
        this.log.warn({ dp: dpidText(dp.id), xid: msg.xid, error: describeError(msg) }, 'error from the switch');
        this.dispatch('error', { dp, msg });
        break;
      default:
        break;
    }
    if (this.handlers.has('message') || this.listenerCount('message') > 0) this.dispatch('message', { dp, msg });
  }

  /**
   * Hands an event to each subscribed app through its lane for the event's datapath (at once if the
   * lane is idle), then tells outside listeners (they do not wait for the apps).
   */
  private dispatch<K extends EventName>(event: K, ev: EventMap[K]): void {
    const list = this.handlers.get(event);
    if (list) {
      let lanes = this.lanes.get(ev.dp);
      if (!lanes) {
        const what = `datapath ${dpidText(ev.dp.id)}`;
        lanes = this.records.map((rec) => new Lane(rec, what, this.laneHost));
        this.lanes.set(ev.dp, lanes);
      }
      for (const { rec, fn } of list) {
        if (!rec.running) continue;
        (lanes[rec.index] as Lane).push(() => this.handle(rec, fn as (e: EventMap[K]) => HandlerResult, event, ev));
      }
    }
    if (this.listenerCount(event) > 0) (this.emit as (e: K, v: EventMap[K]) => boolean)(event, ev);
  }

  /** Runs one handler and sends what it returns; a promise it returns is what the lane waits for. */
  private handle<K extends EventName>(rec: AppRecord, fn: (e: EventMap[K]) => HandlerResult, event: K, ev: EventMap[K]): void | Promise<void> {
    // Queued before the app stopped: it no longer gets events.
    if (!rec.running) return;
    let out: HandlerResult;
    try {
      out = fn(ev);
    } catch (e) {
      this.appError(rec.name, event, e);
      return;
    }
    if (out === undefined) return;
    if (out instanceof Promise) {
      return out.then(
        (msgs) => {
          if (msgs) this.sendAll(ev.dp, msgs, rec.name, event);
        },
        (e: unknown) => this.appError(rec.name, event, e),
      );
    }
    this.sendAll(ev.dp, out, rec.name, event);
  }

  private sendAll(dp: DatapathHandle, msgs: readonly OFPMessage[], app: string, event: string): void {
    for (const m of msgs) {
      try {
        dp.send(m);
      } catch (e) {
        this.appError(app, event, e);
      }
    }
  }

  private appError(app: string, event: string, e: unknown): void {
    this.counters.appErrors++;
    this.log.error({ app, event, err: errText(e) }, event === 'timer' ? 'app timer failed' : 'app handler failed');
  }
}

/** Reads and checks the TLS files (base/tls.ts); an unusable one is a ControllerError 'config' naming it. */
function tlsMaterial(files: TlsFiles): TlsMaterial {
  try {
    return loadTlsFiles(files);
  } catch (e) {
    throw e instanceof TlsFileError ? new ControllerError('config', e.message) : e;
  }
}

/**
 * Dials one passive switch while the controller runs, and redials it with base/redial.ts's backoff
 * (1 s doubling to 8 s, jitter): every failure counts, including a connection that ends before the
 * handshake; only a session that reached 'main' starts the backoff over.
 */
class Dialer {
  private current: DatapathConnection | undefined;
  private readonly redial: Redialer;

  constructor(
    private readonly ep: Endpoint,
    private readonly tlsOpts: TlsMaterial | undefined,
    private readonly ctl: { readonly log: Logger; accept(sock: Socket): DatapathConnection },
  ) {
    // unref: a redial that is still waiting does not keep the process alive.
    this.redial = new Redialer({ dial: () => this.dial(), scheduler: timerScheduler({ unref: true }) });
  }

  start(): void {
    this.redial.start();
  }

  private dial(): void {
    const target = formatEndpoint(this.ep);
    const sock: Socket =
      this.ep.kind === 'ssl'
        ? tls.connect({ host: this.ep.host, port: this.ep.port, ...this.tlsOpts, rejectUnauthorized: this.tlsOpts?.ca !== undefined })
        : createConnection({ host: this.ep.host, port: this.ep.port });
    const ready = this.ep.kind === 'ssl' ? 'secureConnect' : 'connect';
    const fail = (e: Error): void => {
      const delayMs = this.redial.failed();
      this.ctl.log.debug({ target, err: e.message, ...(delayMs !== undefined ? { delayMs } : {}) }, 'cannot reach the switch; will retry');
    };
    sock.once('error', fail);
    sock.once(ready, () => {
      sock.off('error', fail);
      this.ctl.log.info({ target }, 'connected to the switch');
      this.current = this.ctl.accept(sock);
    });
  }

  /** A datapath left; if it was ours, redial (after a full session, from the shortest delay again). */
  gone(dp: DatapathHandle, wasMain: boolean): void {
    if (dp !== this.current) return;
    this.current = undefined;
    if (wasMain) this.redial.succeeded();
    const delayMs = this.redial.failed();
    if (delayMs !== undefined) this.ctl.log.debug({ target: formatEndpoint(this.ep), delayMs }, 'the switch connection ended; will redial');
  }

  stop(): void {
    this.redial.stop();
  }
}
