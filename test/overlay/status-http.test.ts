/**
 * The node's HTTP status (overlay/status-http.ts): /status is the control socket's JSON, /flows the
 * datapath's entries, /metrics Prometheus text computed from one status per scrape.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../overlay/node.js';
import { type StatusServer, serveNodeStatus } from '../../overlay/status-http.js';

const A = 'a0000000000000000000000000000000';
const B = 'b0000000000000000000000000000000';

function status(): NodeStatus {
  return {
    nodeId: A,
    overlay: 'lab',
    jid: 'node-a@example.org',
    fingerprint: 'sha-256 00',
    signalOnline: true,
    tap: { name: 'tf-a', port: 1, hwAddr: '02:00:00:00:00:01', ip4: '10.10.10.1', prefixLen: 24, mtu: 1350 },
    ports: [{ no: 1, name: 'tf-a', peer: undefined }, { no: 2, name: 'tfb000000000', peer: B }],
    links: [{
      peerId: B, linkId: 'l1', role: 'initiator', state: 'up', portName: 'tfb000000000', port: 2, setupMs: 40, seenToUpMs: 90,
      local: { type: 'srflx', address: '203.0.113.2', port: 4000 }, remote: { type: 'host', address: '203.0.113.3', port: 5000 }, rttMs: 1.5,
      counters: { rxPackets: 10, rxBytes: 1000, rxDropped: 0, rxErrors: 0, txPackets: 20, txBytes: 2000, txDropped: 0, txErrors: 0 },
      edge: { type: 'successor', dir: 'out' },
    }],
    topology: {
      ring: [A, B], successors: [B], available: [B],
      edges: [{ peer: B, type: 'successor', dir: 'out', state: 'connected', forMs: 1000 }],
      backoff: [], changes: { add: 1, remove: 0, refusedOut: 0, refusedIn: 2 },
    },
    controller: { kind: 'in-tree', target: 'tcp:127.0.0.1:4321', connected: true },
    flood: undefined,
    flows: 7,
    recursionGuard: undefined,
  };
}

describe('node status over HTTP', () => {
  let calls = 0;
  let server: StatusServer | undefined;
  afterAll(async () => server?.close());

  it('serves /status, /flows and /metrics; one status per scrape', async () => {
    server = await serveNodeStatus({ status: () => (calls++, status()), dumpFlows: () => ['priority=0 actions=CONTROLLER:65535'] }, '127.0.0.1', 0);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s = (await (await fetch(`${server.url}/status`)).json()) as NodeStatus;
    expect(s.topology.edges).toEqual([{ peer: B, type: 'successor', dir: 'out', state: 'connected', forMs: 1000 }]);
    expect(await (await fetch(`${server.url}/flows`)).json()).toEqual(['priority=0 actions=CONTROLLER:65535']);
    calls = 0;
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(calls).toBe(1);
    expect(text).toContain('tinflow_node_signal_online 1');
    expect(text).toContain('tinflow_node_links_up 1');
    expect(text).toContain(`tinflow_node_link_rtt_seconds{peer="${B}",local="srflx",remote="host"} 0.0015`);
    expect(text).toContain('tinflow_node_edges{type="successor",dir="out",state="connected"} 1');
    expect(text).toContain('tinflow_node_topology_changes_total{kind="refusedIn"} 2');
    expect(text).toContain('tinflow_node_flows 7');
    expect(text).toContain('tinflow_node_controller_connected 1');
    expect((await fetch(`${server.url}/nothing`)).status).toBe(404);
  });
});
