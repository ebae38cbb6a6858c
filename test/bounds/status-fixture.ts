/**
 * A node status with nothing in it but what a bounds test puts there, for overlay/status-http.ts's
 * metrics: the drop counters these tests provoke must reach /metrics, where a user sees them.
 */
import type { LinkStatus, NodeStatus } from '../../overlay/node.js';
import { nodeMetrics } from '../../overlay/status-http.js';

export function bareStatus(extra: Partial<NodeStatus> = {}): NodeStatus {
  return {
    nodeId: 'a0000000000000000000000000000000',
    overlay: 'bounds',
    jid: 'v@tinflow.test',
    fingerprint: 'sha-256 00',
    signalOnline: true,
    tap: { name: 'tf-bounds', port: 1, hwAddr: '02:00:00:00:00:01', ip4: undefined, prefixLen: 24, mtu: 1351 },
    ports: [],
    links: [],
    topology: { ring: [], successors: [], available: [], edges: [], backoff: [], changes: { add: 0, remove: 0, refusedOut: 0, refusedIn: 0 } },
    controller: { kind: 'in-tree', target: 'tcp:127.0.0.1:1', connected: false },
    flood: undefined,
    flows: 0,
    recursionGuard: undefined,
    ...extra,
  };
}

/** A link's line in the status, from what the link reports. */
export function linkStatus(peerId: string, l: { counters(): LinkStatus['counters']; stats(): { rxRefused: NonNullable<LinkStatus['rxRefused']>; controlRefused: NonNullable<LinkStatus['controlRefused']> } }): LinkStatus {
  const st = l.stats();
  return {
    peerId, linkId: 'l1', role: 'responder', state: 'up', portName: 'tfbounds', port: 2, setupMs: undefined, seenToUpMs: undefined,
    local: undefined, remote: undefined, rttMs: undefined, counters: l.counters(), rxRefused: st.rxRefused, controlRefused: st.controlRefused, edge: undefined,
  };
}

/** The Prometheus text /metrics serves for this status. */
export function metricsOf(s: NodeStatus): Promise<string> {
  return nodeMetrics({ status: () => s, dumpFlows: () => [] }).metrics();
}
