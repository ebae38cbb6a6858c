/**
 * What the underlay-cut fault (underlay-cut.test.ts) showed the topology driver must do, in small
 * (overlay/topology-driver.ts over the in-memory signaling bus, no root):
 * - a peer that asks again for an edge we accepted but whose link it never opened gets the new edge
 *   (accepted), not "E1 duplicate": its first request was given up (a cut underlay delivers a stalled
 *   stream's backlog long after the sender's timeout), and refusing would keep both sides backing off;
 *   a peer asking again while its edge is connected (link up) is still refused E1;
 * - failures recorded while our own signaling was down are forgiven when it is back (signalingBack()).
 */
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import { TOP_NEGOTIATE_EDGE, edgeReplyParams, edgeRequest } from '../../overlay/negotiation.js';
import { TOPOLOGY_DEFAULTS } from '../../overlay/topology.js';
import { TopologyDriver } from '../../overlay/topology-driver.js';
import { FakeBus } from '../link/manager-bus.js';
import { waitFor } from '../helpers/wait.js';

const A = 'a0000000000000000000000000000000';
const B = 'b0000000000000000000000000000000';

function driverB(bus: FakeBus, connect: (peer: string) => Promise<unknown>): TopologyDriver {
  const d = new TopologyDriver({
    self: B,
    overlayId: 'ovl',
    topology: { ...TOPOLOGY_DEFAULTS, minConnectedMs: 0 },
    signal: bus.node(B),
    links: { connect, disconnect: () => undefined },
    log: nullLogger,
    tickMs: 60_000,
    pendingInMs: 60_000,
  });
  d.start();
  return d;
}

describe('topology driver after a signaling stall', () => {
  it('a new request replaces an accepted edge whose link never came; an edge with its link up still refuses E1', async () => {
    const bus = new FakeBus();
    const b = driverB(bus, () => new Promise(() => undefined));
    const ask = (edgeId: string): Promise<unknown> => bus.node(A).request(B, TOP_NEGOTIATE_EDGE, { ...edgeRequest('ovl', edgeId, 'successor', A, B) }, { timeoutMs: 1000 });
    expect(await ask('e1')).toMatchObject({ is_accepted: true });
    expect(b.status().edges).toMatchObject([{ peer: A, dir: 'in', state: 'connecting' }]);
    // A gave e1 up (its reply came too late) and asks again: the stale edge makes way.
    expect(await ask('e2')).toMatchObject({ is_accepted: true });
    expect(b.status().edges).toMatchObject([{ peer: A, dir: 'in', state: 'connecting' }]);
    expect(b.status().changes.refusedIn).toBe(0);
    // Once its link is up, the edge is A's for good: a request again is a duplicate.
    b.linkUp(A);
    expect(await ask('e3')).toMatchObject({ is_accepted: false, code: 'E1' });
    expect(b.status().edges).toMatchObject([{ peer: A, dir: 'in', state: 'connected' }]);
    b.stop();
  });

  it('peers backed off while our signaling was down are forgiven once it is back', async () => {
    const bus = new FakeBus();
    const b = driverB(bus, () => Promise.reject(new Error('signaling: not in the room (reconnecting)')));
    bus.node(A).onRequest(TOP_NEGOTIATE_EDGE, () => edgeReplyParams({ accept: true, type: 'successor' }));
    b.peerPresent(A);
    await waitFor('A backed off after the failed link', () => b.status().backoff.some((x) => x.peer === A));
    b.signalingBack();
    expect(b.status().backoff).toEqual([]);
    b.stop();
  });
});
