/**
 * The node's status over HTTP, when the config asks for it (`Status.Listen`): GET /status is the same
 * JSON as the control socket's status, GET /flows the datapath's flow entries, and GET /metrics the
 * Prometheus text (prom-client), computed from the status at each scrape, so nothing is counted twice.
 *
 * Metrics (all prefixed tinflow_node_):
 *   signal_online                       1 while the XMPP session is up
 *   peers_available, edges{type,dir,state}, topology_changes_total{kind}
 *   links_up, link_rtt_seconds{peer,local,remote}   (candidate types of the selected pair)
 *   flows, controller_connected
 *   flood_total{counter}                BoundedFlood's counters (in-tree controller only)
 *   signal_dropped_total{reason}, signal_refused_total{reason}   stanzas dropped (rate-limited, ...), requests refused
 *   link_requests_refused_total{code}   link requests from peers refused (rate-limited, busy, bad-params, ...)
 *   link_rx_refused_total{peer,reason}, link_control_refused_total{peer,reason}, link_rx_dropped_total{peer}
 *
 * The web view (issue 14) is served here too, for one node (serveNodeStatus) or many (serveWebView, which
 * the demo uses): GET / is the page, /assets/* its files (overlay/web/, read from the repository at run
 * time: tsc copies nothing there into dist/) and cytoscape's browser build from node_modules, GET /view
 * the nodes' statuses and flow tables as JSON, and the WebSocket /live pushes the same every interval.
 * A node that does not answer is sent as `{nodeId, unreachable}`, never as an error of the whole view.
 *
 * Both refuse to start on a non-loopback address without a token (`Status.TokenFile`); with one, every
 * route but the page and its assets needs `Authorization: Bearer TOKEN` (/live: or `?token=`), else 401
 * with a JSON error (SECURITY.md).
 *
 * May import: node: modules, npm packages, base/, overlay/.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import { checkBearer, requireTokenBeyondLoopback } from '../base/secret.js';
import type { NodeStatus } from './node.js';

export interface StatusSource {
  status(): NodeStatus;
  dumpFlows(): string[];
}

export interface StatusServer {
  /** http://HOST:PORT */
  readonly url: string;
  close(): Promise<void>;
}

/** JSON for a status: bigints as decimal strings. */
export function statusJson(s: unknown): string {
  return JSON.stringify(s, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function numericEntries(o: unknown, prefix = ''): [string, number][] {
  if (o === null || typeof o !== 'object') return [];
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(o)) {
    const name = prefix ? `${prefix}_${k}` : k;
    if (typeof v === 'number') out.push([name, v]);
    else if (typeof v === 'bigint') out.push([name, Number(v)]);
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...numericEntries(v, name));
  }
  return out;
}

/** A registry whose gauges are filled from `src.status()` when scraped. */
export function nodeMetrics(src: StatusSource): Registry {
  const registry = new Registry();
  let snapshot: NodeStatus | undefined;
  const fresh = (): NodeStatus => (snapshot ??= src.status());
  const gauge = (name: string, help: string, labelNames: readonly string[], fill: (g: Gauge, s: NodeStatus) => void): void => {
    new Gauge({
      name: `tinflow_node_${name}`, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        fill(this, fresh());
      },
    });
  };
  gauge('signal_online', '1 while the XMPP session is up', [], (g, s) => g.set(s.signalOnline ? 1 : 0));
  gauge('peers_available', 'peers present on signaling and not backed off', [], (g, s) => g.set(s.topology.available.length));
  gauge('edges', 'edges this node holds', ['type', 'dir', 'state'], (g, s) => {
    for (const e of s.topology.edges) g.inc({ type: e.type, dir: e.dir, state: e.state });
  });
  gauge('topology_changes_total', 'topology changes made and refusals, by kind', ['kind'], (g, s) => {
    for (const [kind, n] of Object.entries(s.topology.changes)) g.set({ kind }, n);
  });
  gauge('links_up', 'links that are up', [], (g, s) => g.set(s.links.filter((l) => l.state === 'up').length));
  gauge('link_rtt_seconds', 'smoothed round-trip time of each link', ['peer', 'local', 'remote'], (g, s) => {
    for (const l of s.links) if (l.rttMs !== undefined) g.set({ peer: l.peerId, local: l.local?.type ?? '', remote: l.remote?.type ?? '' }, l.rttMs / 1000);
  });
  gauge('flows', 'flow entries in the datapath', [], (g, s) => g.set(s.flows));
  gauge('controller_connected', '1 while the switch is connected to its controller', [], (g, s) => g.set(s.controller.connected ? 1 : 0));
  gauge('flood_total', 'BoundedFlood counters', ['counter'], (g, s) => {
    for (const [counter, n] of numericEntries(s.flood)) g.set({ counter }, n);
  });
  gauge('signal_dropped_total', 'signaling stanzas dropped, by reason', ['reason'], (g, s) => {
    for (const [reason, n] of Object.entries(s.signal?.dropped ?? {})) g.set({ reason }, n);
  });
  gauge('signal_refused_total', 'requests from peers answered with a failure without a handler, by reason', ['reason'], (g, s) => {
    for (const [reason, n] of Object.entries(s.signal?.refused ?? {})) g.set({ reason }, n);
  });
  gauge('link_requests_refused_total', 'link requests from peers refused, by code', ['code'], (g, s) => {
    for (const [code, n] of Object.entries(s.linkManager?.refusedIn ?? {})) g.set({ code }, n ?? 0);
  });
  gauge('link_rx_refused_total', 'packets from a link peer refused, by reason', ['peer', 'reason'], (g, s) => {
    for (const l of s.links) for (const [reason, n] of Object.entries(l.rxRefused ?? {})) g.set({ peer: l.peerId, reason }, n ?? 0);
  });
  gauge('link_control_refused_total', 'control messages from a link peer ignored, by reason', ['peer', 'reason'], (g, s) => {
    for (const l of s.links) for (const [reason, n] of Object.entries(l.controlRefused ?? {})) g.set({ peer: l.peerId, reason }, n ?? 0);
  });
  gauge('link_rx_dropped_total', 'frames from a link dropped with its receive queue full', ['peer'], (g, s) => {
    for (const l of s.links) if (l.counters !== undefined) g.set({ peer: l.peerId }, l.counters.rxDropped);
  });
  // One status per scrape, however many gauges read it.
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    snapshot = undefined;
    try {
      return await metrics();
    } finally {
      snapshot = undefined;
    }
  };
  return registry;
}

/** Who may ask: with a token, every data route wants `Authorization: Bearer TOKEN` (base/secret.ts). */
export interface AuthOptions {
  /** Required when host is not loopback; the server refuses to start without it there. */
  readonly token?: string;
}

/**
 * The token check on every route but the page and its assets (static files without data: a browser
 * opening the page cannot send a header, so the page reads the token from its address instead and sends
 * it). /live also takes `?token=`, since a browser's WebSocket cannot carry the header. A 401 written
 * during /live's upgrade reaches the client as the upgrade's answer.
 */
function guard(app: FastifyInstance, host: string, token: string | undefined, what: string): void {
  requireTokenBeyondLoopback(what, host, token, 'Status.TokenFile');
  if (token === undefined) return;
  app.addHook('onRequest', async (req, reply) => {
    const q = req.url.indexOf('?');
    const route = q < 0 ? req.url : req.url.slice(0, q);
    if (route === '/' || route.startsWith('/assets/')) return undefined;
    const queryToken = route === '/live' && q >= 0 ? (new URLSearchParams(req.url.slice(q + 1)).get('token') ?? undefined) : undefined;
    const why = checkBearer(token, { authorization: req.headers.authorization, queryToken });
    if (why === undefined) return undefined;
    // A refused WebSocket upgrade owns its socket outside the HTTP server: end it once the 401 is out,
    // or it stays open (and holds close()) for as long as the client likes.
    if (req.headers.upgrade !== undefined) reply.raw.once('finish', () => req.raw.socket.destroy());
    return reply.status(401).header('www-authenticate', 'Bearer').send({ error: why });
  });
}

/** Serves /status, /flows and /metrics on host:port (port 0 picks one), and the web view of this node. */
export async function serveNodeStatus(src: StatusSource, host: string, port: number, auth: AuthOptions = {}): Promise<StatusServer> {
  const app: FastifyInstance = Fastify({ logger: false });
  guard(app, host, auth.token, 'the node status');
  const registry = nodeMetrics(src);
  app.get('/status', async (_req, reply) => reply.type('application/json').send(statusJson(src.status())));
  app.get('/flows', async (_req, reply) => reply.type('application/json').send(JSON.stringify(src.dumpFlows())));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  await addWebView(app, { views: async () => [{ status: src.status(), flows: src.dumpFlows() }] }, {});
  const addr = await app.listen({ host, port });
  return { url: addr, close: () => app.close() };
}

// ---------------------------------------------------------------------------------------------------
// The web view

/** One node as the web view shows it: its status and its flow table (the /flows lines). */
export interface ViewNode {
  readonly status: NodeStatus;
  readonly flows: readonly string[];
}

/** A node that did not answer its view source: its id (as the source knows it) and why. */
export interface UnreachableNode {
  readonly nodeId: string;
  readonly unreachable: string;
}

/** What /view answers and /live pushes, one per node: a ViewNode, or a node that did not answer. */
export type ViewEntry = ViewNode | UnreachableNode;

export interface ViewOptions {
  /** How often /live pushes while a client is connected (default 1000 ms). */
  readonly intervalMs?: number;
  /** A source's views() not settled after this long counts as failed (default 5000 ms). */
  readonly timeoutMs?: number;
}

/** A node's own view source for gatherViews: nodeId names it while it does not answer. */
export interface NodeViewSource {
  readonly nodeId: string;
  view(): Promise<ViewNode>;
}

/** A WebSocket client further behind than this skips snapshots (each is whole: it loses only freshness). */
const MAX_BUFFERED = 1 << 20;
const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_TIMEOUT_MS = 5000;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** p, or a rejection naming `what` once ms have passed (the timer does not hold the process). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * One view source from one source per node, each asked on its own (in parallel): a node that throws or
 * does not answer within timeoutMs (default 2000) becomes `{nodeId, unreachable}` instead of failing
 * the others.
 */
export function gatherViews(nodes: readonly NodeViewSource[], opts: { readonly timeoutMs?: number } = {}): { views(): Promise<readonly ViewEntry[]> } {
  const ms = opts.timeoutMs ?? 2000;
  return {
    views: () => Promise.all(nodes.map(async (n): Promise<ViewEntry> => {
      try {
        return await withTimeout(Promise.resolve().then(() => n.view()), ms, `node ${n.nodeId}`);
      } catch (e) {
        return { nodeId: n.nodeId, unreachable: errorText(e) };
      }
    })),
  };
}

/**
 * The folder of the page's files: the repository's overlay/web, found by walking up from this module to
 * the folder holding package.json (this file runs as overlay/status-http.ts under vitest and tsx, and as
 * dist/overlay/status-http.js once built; the assets stay where they are in both cases).
 */
function webDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'overlay', 'web');
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** cytoscape's browser build (an ES module), from the installed package: the machines are offline. */
function cytoscapeFile(): string | undefined {
  try {
    // The package's "exports" offers this file to import only; its main (the CJS build) sits beside it.
    return join(dirname(createRequire(import.meta.url).resolve('cytoscape')), 'cytoscape.esm.min.mjs');
  } catch {
    return undefined;
  }
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** An asset name: one file of overlay/web, no path. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Serves the web view of any number of nodes: GET / (the page), /assets/*, GET /view (JSON: ViewNode[]),
 *  and a WebSocket /live that pushes ViewNode[] every intervalMs (default 1000) while a client is connected.
 *  A node the source reports as `{nodeId, unreachable}` is sent as such; a source that throws or does not
 *  answer within timeoutMs makes every node of its last answer unreachable (with the reason), not a 500. */
export async function serveWebView(
  src: { views(): Promise<readonly ViewEntry[]> },
  host: string,
  port: number,
  opts?: ViewOptions & AuthOptions,
): Promise<StatusServer> {
  const app: FastifyInstance = Fastify({ logger: false });
  guard(app, host, opts?.token, 'the web view');
  await addWebView(app, src, opts ?? {});
  const addr = await app.listen({ host, port });
  return { url: addr, close: () => app.close() };
}

/** The web view's routes on app: /, /assets/:name, /view, /live. */
async function addWebView(app: FastifyInstance, src: { views(): Promise<readonly ViewEntry[]> }, opts: ViewOptions): Promise<void> {
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const dir = webDir();
  const cytoscape = cytoscapeFile();

  // The nodes of the last answer, so that a source failing as a whole still shows who is missing.
  let lastIds: readonly string[] = [];
  const views = async (): Promise<readonly ViewEntry[]> => {
    try {
      const got = await withTimeout(Promise.resolve().then(() => src.views()), timeoutMs, 'the view source');
      lastIds = got.map((v) => ('status' in v ? v.status.nodeId : v.nodeId));
      return got;
    } catch (e) {
      const why = errorText(e);
      return lastIds.map((nodeId) => ({ nodeId, unreachable: why }));
    }
  };

  const sendFile = async (file: string | undefined, what: string, reply: FastifyReply): Promise<unknown> => {
    const type = file === undefined ? undefined : CONTENT_TYPES[extname(file)];
    if (file === undefined || type === undefined || !existsSync(file)) {
      return reply.status(404).type('text/plain; charset=utf-8').send(`${what} not found${file === undefined ? '' : ` (looked for ${file})`}\n`);
    }
    // Read at each request: the files are small, and an edited page shows without a restart.
    return reply.type(type).header('cache-control', 'no-cache').send(await readFile(file));
  };

  app.get('/', async (_req, reply) => sendFile(dir === undefined ? undefined : join(dir, 'index.html'), 'the web view page', reply));
  app.get<{ Params: { name: string } }>('/assets/:name', async (req, reply) => {
    const name = req.params.name;
    if (name === 'cytoscape.js') return sendFile(cytoscape, 'cytoscape (npm ci installs it)', reply);
    if (!ASSET_NAME.test(name)) return reply.status(404).type('text/plain; charset=utf-8').send(`no asset ${JSON.stringify(name)}\n`);
    return sendFile(dir === undefined ? undefined : join(dir, name), `asset ${name}`, reply);
  });
  app.get('/view', async (_req, reply) => reply.type('application/json').send(statusJson(await views())));

  // /live: one poll per interval shared by every client, running only while one is connected; a poll
  // still running when the next is due is not doubled.
  const clients = new Set<WebSocket>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  const push = (text: string, to: Iterable<WebSocket>): void => {
    for (const c of to) if (c.readyState === c.OPEN && c.bufferedAmount <= MAX_BUFFERED) c.send(text);
  };
  const poll = async (): Promise<void> => {
    if (polling) return;
    polling = true;
    try {
      push(statusJson(await views()), clients);
    } finally {
      polling = false;
    }
  };
  const stopPolling = (): void => {
    clearInterval(timer);
    timer = undefined;
  };
  app.addHook('onClose', async () => stopPolling());

  await app.register(websocket, {
    options: { maxPayload: 1 << 12 },
    // Stopping says goodbye to viewers but waits at most a second: a browser that stopped reading would
    // otherwise hold app.close() (and the node's SIGTERM) for ws's 30 s close timeout.
    preClose(done) {
      stopPolling();
      const open = [...this.websocketServer.clients];
      const kill = setTimeout(() => {
        for (const c of open) c.terminate();
      }, 1000);
      kill.unref();
      for (const c of open) c.close(1001, 'server stopping');
      this.websocketServer.close();
      done();
    },
  });
  app.get('/live', { websocket: true }, (socket: WebSocket) => {
    clients.add(socket);
    socket.on('error', () => socket.terminate());
    socket.on('close', () => {
      clients.delete(socket);
      if (clients.size === 0) stopPolling();
    });
    // The first snapshot at once, for this client alone, then the shared interval.
    void views().then((v) => push(statusJson(v), [socket]));
    timer ??= setInterval(() => void poll(), intervalMs);
  });
}
