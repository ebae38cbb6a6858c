/**
 * The controller's HTTP side (fastify): Ryu's ofctl_rest routes (rest-ofctl.ts), Prometheus metrics at
 * GET /metrics (prom-client), and a WebSocket stream of controller events at /events. Every failure is
 * JSON `{"error": "..."}` with the status that fits (errors.ts httpStatus). Bound to 127.0.0.1 unless
 * told otherwise; bound elsewhere, it refuses to start without a bearer token (`token`), and with one,
 * every request without it gets 401 `{"error": ...}` (SECURITY.md).
 *
 * /events takes `?events=switchEnter,packetIn,...` (default: everything but packetIn and message) and
 * sends one JSON object per event. A client that stops reading loses events (counted) instead of
 * growing the controller's memory.
 */
import websocket from '@fastify/websocket';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { WebSocket } from 'ws';
import type { EventMap, EventName } from './api.js';
import type { Controller } from './controller.js';
import { describeError } from './datapath-connection.js';
import { ControllerError, httpStatus } from './errors.js';
import { checkBearer, requireTokenBeyondLoopback } from '../base/secret.js';
import { type OfctlRestOptions, registerOfctlRoutes } from './rest-ofctl.js';

export interface RestOptions {
  readonly host?: string;
  readonly port?: number;
  /** Timeout for requests to switches (ms). */
  readonly timeoutMs?: number;
  /** The bound on requests to switches (rest-ofctl.ts): in flight per switch, waiting in all, longest wait. */
  readonly maxInFlightPerSwitch?: number;
  readonly maxWaiting?: number;
  readonly maxWaitMs?: number;
  /**
   * Every request (the WebSocket /events too) must carry `Authorization: Bearer TOKEN`; others get 401.
   * Required to bind anything but loopback (base/secret.ts).
   */
  readonly token?: string;
}

export interface RestServer {
  readonly app: FastifyInstance;
  /** http://HOST:PORT */
  readonly url: string;
  close(): Promise<void>;
}

const ALL_EVENTS: readonly EventName[] = [
  'switchEnter', 'switchLeave', 'packetIn', 'portAdd', 'portDelete', 'portModify', 'flowRemoved', 'error', 'message',
];
const DEFAULT_EVENTS: readonly EventName[] = ALL_EVENTS.filter((e) => e !== 'packetIn' && e !== 'message');
/** A WebSocket client further behind than this loses events. */
const MAX_BUFFERED = 1 << 20;

/** dpids as Ryu's REST writes them: decimal numbers (strings beyond 2^53). */
export function dpidJson(id: bigint): number | string {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id.toString();
}

/** The JSON form of an event for /events. */
export function eventJson<E extends EventName>(event: E, ev: EventMap[E]): Record<string, unknown> {
  const base: Record<string, unknown> = { event, time: new Date().toISOString(), dpid: dpidJson(ev.dp.id) };
  const e = ev as EventMap[EventName];
  if ('port' in e) {
    const p = e.port;
    Object.assign(base, { port_no: p.port_no, name: p.name, hw_addr: p.hw_addr, config: p.config, state: p.state });
  }
  if ('reason' in e && typeof e.reason === 'string') base['reason'] = e.reason;
  if ('inPort' in e) {
    const pk = e.packet;
    Object.assign(base, {
      in_port: e.inPort,
      reason: e.msg.reason,
      table_id: e.msg.table_id,
      total_len: e.msg.total_len,
      eth_src: pk.eth?.src,
      eth_dst: pk.eth?.dst,
      eth_type: pk.eth?.ethertype,
      ...(pk.ipv4 ? { ipv4_src: pk.ipv4.src, ipv4_dst: pk.ipv4.dst, ip_proto: pk.ipv4.proto } : {}),
      ...(pk.ipv6 ? { ipv6_src: pk.ipv6.src, ipv6_dst: pk.ipv6.dst, ip_proto: pk.ipv6.nxt } : {}),
    });
  } else if ('msg' in e) {
    const m = e.msg;
    if (m.type === 'OFPFlowRemoved') {
      Object.assign(base, {
        cookie: m.cookie.toString(), priority: m.priority, reason: m.reason, table_id: m.table_id,
        duration_sec: m.duration_sec, packet_count: m.packet_count.toString(), byte_count: m.byte_count.toString(),
        idle_timeout: m.idle_timeout, hard_timeout: m.hard_timeout,
      });
    } else if (m.type === 'OFPErrorMsg') {
      Object.assign(base, { xid: m.xid, err_type: m.err_type, code: m.code, message: describeError(m) });
    } else {
      Object.assign(base, { type: m.type, xid: m.xid });
    }
  }
  return base;
}

function metrics(ctl: Controller): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'tinflow_controller_' });
  const byType = (name: string, help: string, dir: 'rx' | 'tx'): void => {
    new Counter({
      name, help, labelNames: ['type'], registers: [register],
      collect() {
        this.reset();
        for (const [type, n] of ctl.counters[dir]) this.inc({ type }, n);
      },
    });
  };
  byType('tinflow_controller_messages_received_total', 'OpenFlow messages received from switches, by type', 'rx');
  byType('tinflow_controller_messages_sent_total', 'OpenFlow messages sent to switches, by type', 'tx');
  new Gauge({
    name: 'tinflow_controller_datapaths', help: 'Switches connected and past the handshake', registers: [register],
    collect() {
      this.set(ctl.datapaths().length);
    },
  });
  new Gauge({
    name: 'tinflow_controller_connections', help: 'Switch connections, including those in handshake', registers: [register],
    collect() {
      this.set(ctl.connections().length);
    },
  });
  new Gauge({
    name: 'tinflow_controller_ports', help: 'Ports per switch', labelNames: ['dpid'], registers: [register],
    collect() {
      this.reset();
      for (const dp of ctl.datapaths()) this.set({ dpid: dp.id.toString() }, dp.ports.size);
    },
  });
  new Counter({
    name: 'tinflow_controller_app_errors_total', help: 'Exceptions thrown by app handlers', registers: [register],
    collect() {
      this.reset();
      this.inc(ctl.counters.appErrors);
    },
  });
  new Counter({
    name: 'tinflow_controller_switch_errors_total', help: 'OFPT_ERROR messages received from switches', registers: [register],
    collect() {
      this.reset();
      this.inc(ctl.counters.switchErrors);
    },
  });
  // The bounds (controller.ts, datapath-connection.ts): what was dropped or held back, by what.
  const bound = (name: string, help: string, read: () => number): void => {
    new Counter({
      name, help, registers: [register],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  bound('tinflow_controller_app_events_dropped_total', 'Events dropped because an app had appQueueLimit of them waiting for one switch', () => ctl.counters.appDrops);
  bound('tinflow_controller_switch_read_pauses_total', 'Times the controller stopped reading from a switch that did not read what was queued for it', () => ctl.counters.readPauses);
  bound('tinflow_controller_switches_dropped_stuck_total', 'Switches disconnected because their queue did not move for twice the echo interval', () => ctl.counters.stuckDropped);
  bound('tinflow_controller_undecodable_messages_total', 'Messages from switches that could not be decoded (answered with OFPT_ERROR)', () => ctl.counters.undecodable);
  bound('tinflow_controller_ports_ignored_total', 'Port-status messages for a new port of a switch that already has 65280 ports (not kept)', () => ctl.counters.portsIgnored);
  return register;
}

export async function startRest(ctl: Controller, opts: RestOptions = {}): Promise<RestServer> {
  const host = opts.host ?? '127.0.0.1';
  requireTokenBeyondLoopback('the REST API', host, opts.token, '--rest-token-file FILE');
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  const register = metrics(ctl);
  const dropped = new Counter({ name: 'tinflow_controller_events_dropped_total', help: 'Events not sent to slow WebSocket clients', registers: [register] });

  app.setErrorHandler((err: FastifyError | ControllerError | Error, _req, reply) => {
    if (err instanceof ControllerError) {
      const body: Record<string, unknown> = { error: err.message, code: err.code };
      if (err.switchError) Object.assign(body, { err_type: err.switchError.err_type, err_code: err.switchError.code });
      return reply.status(httpStatus(err.code)).send(body);
    }
    const status = 'statusCode' in err && typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    const message = status === 400 && 'code' in err && err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? `the body is not valid JSON: ${err.message}` : err.message;
    if (status >= 500) ctl.log.error({ err: err.stack }, 'REST handler failed');
    return reply.status(status).send({ error: message });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` }));
  // Auth before anything else, on every route: the hook sees the WebSocket upgrade of /events too, and a
  // 401 written there reaches the client as the upgrade's answer.
  const token = opts.token;
  if (token !== undefined) {
    app.addHook('onRequest', async (req, reply) => {
      const why = checkBearer(token, { authorization: req.headers.authorization });
      if (why === undefined) return undefined;
      // A refused WebSocket upgrade owns its socket outside the HTTP server: end it once the 401 is out,
      // or it stays open (and holds close()) for as long as the client likes.
      if (req.headers.upgrade !== undefined) reply.raw.once('finish', () => req.raw.socket.destroy());
      return reply.status(401).header('www-authenticate', 'Bearer').send({ error: why });
    });
  }

  await app.register(websocket, {
    options: { maxPayload: 1 << 16 },
    // Stopping says goodbye to event clients but waits at most a second for their answer: a client that
    // has stopped reading would otherwise hold app.close() (and the CLI's SIGTERM) for ws's 30 s timeout.
    preClose(done) {
      const clients = [...this.websocketServer.clients];
      let open = clients.length;
      const timer = setTimeout(() => {
        for (const c of clients) c.terminate();
      }, 1000);
      if (open === 0) clearTimeout(timer);
      for (const c of clients) {
        c.once('close', () => {
          if (--open === 0) clearTimeout(timer);
        });
        c.close(1001, 'controller stopping');
      }
      this.websocketServer.close();
      done();
    },
  });
  const ofctlOpts: OfctlRestOptions = {};
  for (const k of ['timeoutMs', 'maxInFlightPerSwitch', 'maxWaiting', 'maxWaitMs'] as const) if (opts[k] !== undefined) Object.assign(ofctlOpts, { [k]: opts[k] });
  const ofctlRest = registerOfctlRoutes(app, ctl, ofctlOpts);
  // The REST bound's state: refusals (503) are what a user would otherwise only see as errors at clients.
  new Gauge({
    name: 'tinflow_controller_rest_switch_requests', help: 'REST requests to switches, in flight or waiting for a turn', labelNames: ['state'], registers: [register],
    collect() {
      const s = ofctlRest.stats();
      this.set({ state: 'in_flight' }, s.inFlight);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  new Counter({
    name: 'tinflow_controller_rest_rejected_total', help: 'REST requests refused with 503: too many waiting for switches', registers: [register],
    collect() {
      this.reset();
      this.inc(ofctlRest.stats().rejected);
    },
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await register.metrics();
    return reply.type(register.contentType).send(text);
  });

  app.get('/events', { websocket: true }, (socket: WebSocket, req) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    let wanted: readonly EventName[] = DEFAULT_EVENTS;
    if (typeof q['events'] === 'string' && q['events'] !== '') {
      const names = q['events'].split(',');
      const unknown = names.filter((n) => !(ALL_EVENTS as readonly string[]).includes(n));
      if (unknown.length > 0) {
        socket.send(JSON.stringify({ error: `unknown event ${JSON.stringify(unknown[0])}; known: ${ALL_EVENTS.join(', ')}` }));
        socket.close(1008, 'unknown event');
        return;
      }
      wanted = names as EventName[];
    }
    const subscribe = <E extends EventName>(name: E): (() => void) => {
      const fn = (ev: EventMap[E]): void => {
        if (socket.readyState !== socket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED) {
          dropped.inc();
          return;
        }
        socket.send(JSON.stringify(eventJson(name, ev)));
      };
      (ctl.on as (e: E, f: (ev: EventMap[E]) => void) => Controller)(name, fn);
      return () => (ctl.off as (e: E, f: (ev: EventMap[E]) => void) => Controller)(name, fn);
    };
    const unsubscribe = wanted.map((name) => subscribe(name));
    socket.on('close', () => {
      for (const u of unsubscribe) u();
    });
    socket.on('error', () => socket.terminate());
  });

  const address = await app.listen({ host, port: opts.port ?? 8080 });
  return {
    app,
    url: address,
    close: () => app.close(),
  };
}
