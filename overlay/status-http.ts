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
 *
 * May import: node: modules, npm packages, base/, overlay/.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Gauge, Registry } from 'prom-client';
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

/** Serves /status, /flows and /metrics on host:port (port 0 picks one). */
export async function serveNodeStatus(src: StatusSource, host: string, port: number): Promise<StatusServer> {
  const app: FastifyInstance = Fastify({ logger: false });
  const registry = nodeMetrics(src);
  app.get('/status', async (_req, reply) => reply.type('application/json').send(statusJson(src.status())));
  app.get('/flows', async (_req, reply) => reply.type('application/json').send(JSON.stringify(src.dumpFlows())));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  const addr = await app.listen({ host, port });
  return { url: addr, close: () => app.close() };
}
