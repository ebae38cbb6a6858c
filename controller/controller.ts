/**
 * tinflow's OpenFlow 1.3 controller: the framework Ryu users expect, without Python.
 *
 * It listens on `tcp:IP:PORT` / `ssl:IP:PORT` and can dial passive switches (`tcp:HOST:PORT`, redialled
 * with backoff), keeps one Datapath per connection, and turns what switches send into typed events
 * (api.ts EventMap) for its apps, in app order. Replies to requests go to their callers (datapath.ts).
 * A second connection announcing a datapath id already connected replaces the older one, as Ryu does.
 *
 * What lives here: listeners, dialers, the datapath registry, event dispatch, message counters for
 * metrics. What does not: the wire codec (openflow/), the REST API (rest.ts), the apps (apps/).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, createConnection, createServer } from 'node:net';
import * as tls from 'node:tls';
import { OFPPR, type MessageOf, type OFPMessage, type Port } from '../openflow/index.js';
import type { ControllerHandle, DatapathHandle, EventMap, EventName } from './api.js';
import type { App, AppContext, AppFactory, HandlerResult } from './app.js';
import { Datapath, type DatapathHost, type Logger, describeError } from './datapath.js';
import { ControllerError } from './errors.js';
import { type ParsedPacket, parseFrame } from './packet.js';

export interface Endpoint {
  readonly kind: 'tcp' | 'ssl';
  readonly host: string;
  readonly port: number;
}

/** Parses `tcp:IP:PORT` or `ssl:IP:PORT` (IPv6 in brackets or bare). */
export function parseEndpoint(s: string, what: string): Endpoint {
  const bad = (why: string): never => {
    throw new ControllerError('config', `bad ${what} ${JSON.stringify(s)}: ${why} (expected tcp:IP:PORT or ssl:IP:PORT)`);
  };
  const [kind, ...rest] = s.split(':');
  if (kind !== 'tcp' && kind !== 'ssl') return bad(`unknown kind ${JSON.stringify(kind ?? '')}`);
  if (rest.length < 2) return bad('needs a host and a port');
  const p = rest[rest.length - 1] ?? '';
  const port = Number(p);
  if (!/^\d+$/.test(p) || port > 65535) return bad(`port ${JSON.stringify(p)} is not 0..65535`);
  const host = rest.slice(0, -1).join(':').replace(/^\[|\]$/g, '');
  if (!host) return bad('empty host');
  return { kind, host, port };
}

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** CA to verify switches' certificates against; without it any client certificate is accepted. */
  readonly ca?: string;
}

export interface ControllerOptions {
  /** Where to listen: `tcp:IP:PORT` / `ssl:IP:PORT` (port 0 picks a free one). */
  readonly listen?: readonly string[];
  /** Passive switches to dial: `tcp:HOST:PORT` / `ssl:HOST:PORT`. */
  readonly switches?: readonly string[];
  readonly tls?: TlsFiles;
  readonly apps?: readonly (App | AppFactory)[];
  readonly logger?: Logger;
  /** Default timeout of a request (ms). Default 5000. */
  readonly requestTimeoutMs?: number;
  /** Switch silence before an echo request (ms); as long again and the switch is dropped. Default 15000. */
  readonly echoIntervalMs?: number;
  /** miss_send_len in set-config. Default 0xffff (OFPCML_NO_BUFFER: whole frames). */
  readonly missSendLen?: number;
  /** Injectable clock for apps (ms). */
  readonly now?: () => number;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

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

function inPortOf(msg: MessageOf<'OFPPacketIn'>): number {
  for (const t of msg.match) if (t.field === 'in_port') return Number(t.value);
  return 0;
}

type AnyHandler = (ev: never) => HandlerResult;

export class Controller extends EventEmitter<{ [E in EventName]: [EventMap[E]] }> implements ControllerHandle {
  readonly log: Logger;
  readonly apps: readonly App[];
  private readonly opts: ControllerOptions;
  private readonly servers: Server[] = [];
  private readonly dialers: Dialer[] = [];
  private readonly all = new Set<Datapath>();
  private readonly byId = new Map<bigint, Datapath>();
  /** Handlers per event, in app order: [app name, handler]. */
  private readonly handlers = new Map<EventName, [string, AnyHandler][]>();
  /** Message counters by direction and type, read by metrics. */
  readonly counters = { rx: new Map<string, number>(), tx: new Map<string, number>(), appErrors: 0, switchErrors: 0 };
  private readonly host: DatapathHost;
  private readonly tlsOpts: (tls.SecureContextOptions & { ca?: Buffer }) | undefined;
  private stopped = false;

  constructor(opts: ControllerOptions = {}) {
    super();
    this.opts = opts;
    this.log = opts.logger ?? silent;
    const ctx: AppContext = { log: this.log, controller: this, now: opts.now ?? Date.now };
    this.apps = (opts.apps ?? []).map((a) => (typeof a === 'function' ? a(ctx) : a));
    for (const app of this.apps) {
      for (const [event, fn] of Object.entries(app.on) as [EventName, AnyHandler | undefined][]) {
        if (!fn) continue;
        const list = this.handlers.get(event) ?? [];
        list.push([app.name, fn]);
        this.handlers.set(event, list);
      }
    }
    for (const s of opts.listen ?? []) parseEndpoint(s, 'listen address');
    for (const s of opts.switches ?? []) parseEndpoint(s, 'switch address');
    const needsTls = [...(opts.listen ?? []), ...(opts.switches ?? [])].some((s) => s.startsWith('ssl:'));
    if (needsTls && !opts.tls) throw new ControllerError('config', 'ssl: needs a certificate and key (--cert, --key)');
    this.tlsOpts = opts.tls ? this.tlsOptions(opts.tls) : undefined;
    this.host = {
      log: this.log,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5000,
      echoIntervalMs: opts.echoIntervalMs ?? 15000,
      missSendLen: opts.missSendLen ?? 0xffff,
      entered: (dp) => this.entered(dp),
      received: (dp, msg) => this.received(dp, msg),
      left: (dp, reason, wasMain) => this.left(dp, reason, wasMain),
      counted: (direction, type) => {
        const m = this.counters[direction];
        m.set(type, (m.get(type) ?? 0) + 1);
      },
    };
  }

  /** Listens and starts dialling. On failure nothing is left listening. */
  async start(): Promise<void> {
    const tlsOpts = this.tlsOpts;
    try {
      await this.listen(tlsOpts);
    } catch (e) {
      await Promise.all(this.servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
      throw e;
    }
    for (const s of this.opts.switches ?? []) {
      const d = new Dialer(parseEndpoint(s, 'switch address'), tlsOpts, this);
      this.dialers.push(d);
      d.dial();
    }
  }

  private async listen(tlsOpts: (tls.SecureContextOptions & { ca?: Buffer }) | undefined): Promise<void> {
    for (const s of this.opts.listen ?? []) {
      const ep = parseEndpoint(s, 'listen address');
      const onSock = (sock: Socket): void => {
        this.accept(sock);
      };
      const server: Server =
        ep.kind === 'ssl'
          ? tls.createServer({ ...tlsOpts, requestCert: true, rejectUnauthorized: tlsOpts?.ca !== undefined }, onSock)
          : createServer(onSock);
      server.on('tlsClientError', (err: Error) => this.log.warn({ err: err.message }, 'TLS handshake with a switch failed'));
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
      const ep = parseEndpoint(this.opts.listen?.[i] ?? '', 'listen address');
      return `${ep.kind}:${ep.host}:${(srv.address() as AddressInfo).port}`;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const d of this.dialers) d.stop();
    for (const dp of this.all) dp.close('controller stopping');
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  get isStopped(): boolean {
    return this.stopped;
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

  /** Reads the TLS files and checks that they make a context (PEM, a key matching the certificate). */
  private tlsOptions(files: TlsFiles): tls.SecureContextOptions & { ca?: Buffer } {
    try {
      const opts = {
        cert: readFileSync(files.cert),
        key: readFileSync(files.key),
        ...(files.ca ? { ca: readFileSync(files.ca) } : {}),
      };
      tls.createSecureContext(opts);
      return opts;
    } catch (e) {
      const which = `cert ${files.cert}, key ${files.key}${files.ca ? `, ca ${files.ca}` : ''}`;
      throw new ControllerError('config', `cannot use the TLS files (${which}): ${(e as Error).message}`);
    }
  }

  /** Takes a connected socket (accepted or dialled) and runs a datapath on it. */
  accept(sock: Socket): Datapath {
    const dp = new Datapath(sock, this.host);
    this.all.add(dp);
    this.log.debug({ peer: dp.peer }, 'switch connected');
    return dp;
  }

  private entered(dp: Datapath): void {
    const old = this.byId.get(dp.id);
    if (old && old !== dp) {
      this.log.warn({ dp: dp.dpidText, old: old.peer, peer: dp.peer }, 'datapath id reconnected: closing the older connection');
      this.byId.delete(dp.id);
      old.close('replaced by a new connection with the same datapath id');
    }
    this.byId.set(dp.id, dp);
    this.log.info({ dp: dp.dpidText, peer: dp.peer, ports: dp.ports.size }, 'switch entered');
    this.dispatch('switchEnter', { dp });
  }

  private left(dp: Datapath, reason: string, wasMain: boolean): void {
    this.all.delete(dp);
    if (this.byId.get(dp.id) === dp) this.byId.delete(dp.id);
    if (wasMain) {
      this.log.info({ dp: dp.dpidText, peer: dp.peer, reason }, 'switch left');
      this.dispatch('switchLeave', { dp, reason });
    } else {
      this.log.info({ peer: dp.peer, reason }, 'connection closed before the handshake finished');
    }
    for (const d of this.dialers) d.gone(dp);
  }

  private received(dp: Datapath, msg: OFPMessage): void {
    switch (msg.type) {
      case 'OFPPacketIn':
        this.dispatch('packetIn', new PacketInEvent(dp, msg, inPortOf(msg)));
        break;
      case 'OFPPortStatus': {
        const port: Port = msg.desc;
        if (msg.reason === OFPPR.ADD) this.dispatch('portAdd', { dp, port });
        else if (msg.reason === OFPPR.DELETE) this.dispatch('portDelete', { dp, port });
        else this.dispatch('portModify', { dp, port, before: dp.portBefore });
        break;
      }
      case 'OFPFlowRemoved':
        this.dispatch('flowRemoved', { dp, msg });
        break;
      case 'OFPErrorMsg':
        this.counters.switchErrors++;
        this.log.warn({ dp: dp.dpidText, xid: msg.xid, error: describeError(msg) }, 'error from the switch');
        this.dispatch('error', { dp, msg });
        break;
      default:
        break;
    }
    if (this.handlers.has('message') || this.listenerCount('message') > 0) this.dispatch('message', { dp, msg });
  }

  /** Runs the apps' handlers for an event, sends what they return, then tells outside listeners. */
  private dispatch<E extends EventName>(event: E, ev: EventMap[E]): void {
    const list = this.handlers.get(event);
    if (list) {
      for (const [app, fn] of list) {
        try {
          const out = (fn as (e: EventMap[E]) => HandlerResult)(ev);
          if (out === undefined) continue;
          if (Array.isArray(out)) this.sendAll(ev.dp, out as readonly OFPMessage[], app, event);
          else if (out instanceof Promise) {
            out.then(
              (msgs) => {
                if (msgs) this.sendAll(ev.dp, msgs, app, event);
              },
              (e: unknown) => this.appError(app, event, e),
            );
          }
        } catch (e) {
          this.appError(app, event, e);
        }
      }
    }
    if (this.listenerCount(event) > 0) (this.emit as (e: E, v: EventMap[E]) => boolean)(event, ev);
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
    this.log.error({ app, event, err: e instanceof Error ? e.stack ?? e.message : String(e) }, 'app handler failed');
  }
}

/** Dials one passive switch and redials with backoff (1 s doubling to 8 s) while the controller runs. */
class Dialer {
  private current: Datapath | undefined;
  private backoff = 1000;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly ep: Endpoint,
    private readonly tlsOpts: (tls.SecureContextOptions & { ca?: Buffer }) | undefined,
    private readonly ctl: Controller,
  ) {}

  dial(): void {
    if (this.stopped) return;
    const target = `${this.ep.kind}:${this.ep.host}:${this.ep.port}`;
    const sock: Socket =
      this.ep.kind === 'ssl'
        ? tls.connect({ host: this.ep.host, port: this.ep.port, ...this.tlsOpts, rejectUnauthorized: this.tlsOpts?.ca !== undefined })
        : createConnection({ host: this.ep.host, port: this.ep.port });
    const ready = this.ep.kind === 'ssl' ? 'secureConnect' : 'connect';
    const fail = (e: Error): void => {
      this.ctl.log.debug({ target, err: e.message }, 'cannot reach the switch; will retry');
      this.retry();
    };
    sock.once('error', fail);
    sock.once(ready, () => {
      sock.off('error', fail);
      this.backoff = 1000;
      this.ctl.log.info({ target }, 'connected to the switch');
      this.current = this.ctl.accept(sock);
    });
  }

  private retry(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.dial(), this.backoff);
    this.timer.unref();
    this.backoff = Math.min(8000, this.backoff * 2);
  }

  gone(dp: Datapath): void {
    if (dp !== this.current) return;
    this.current = undefined;
    this.retry();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
