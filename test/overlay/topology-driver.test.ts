/**
 * The topology driver (overlay/topology-driver.ts) over an in-memory signaling bus and in-memory links:
 * - two nodes asking each other at once (a collision) end with one edge each, the lower id's, connected;
 * - a peer without an agreed edge is not authorized; one with an edge is;
 * - a malformed or foreign TOP_NEGOTIATE_EDGE is refused with the key path (E8), counted, and changes
 *   nothing; a leaf refuses every request (E6);
 * - a refused or failed edge backs the peer off, and a leaf's refusal keeps it off the ring; a new
 *   appearance forgives both;
 * - an accepted incoming edge whose link never comes up is dropped after pendingInMs.
 */
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import { TOP_NEGOTIATE_EDGE, edgeRequest } from '../../overlay/negotiation.js';
import { TOPOLOGY_DEFAULTS, type TopologyOptions } from '../../overlay/topology.js';
import { TopologyDriver } from '../../overlay/topology-driver.js';
import { FakeBus } from '../link/manager-bus.js';
import { waitFor } from '../helpers/wait.js';

const A = 'a0000000000000000000000000000000';
const B = 'b0000000000000000000000000000000';

interface Node {
  readonly id: string;
  readonly driver: TopologyDriver;
  readonly connects: string[];
  readonly disconnects: string[];
}

/** Links that come up at once when both ends agree (the peer's authorize()), as the link manager's would. */
function pair(opts: { a?: Partial<TopologyOptions>; b?: Partial<TopologyOptions>; linkFails?: boolean } = {}): { bus: FakeBus; a: Node; b: Node } {
  const bus = new FakeBus();
  const nodes = new Map<string, Node>();
  const make = (id: string, o: Partial<TopologyOptions> = {}): Node => {
    const connects: string[] = [];
    const disconnects: string[] = [];
    const driver: TopologyDriver = new TopologyDriver({
      self: id,
      overlayId: 'ovl',
      topology: { ...TOPOLOGY_DEFAULTS, minConnectedMs: 0, ...o },
      signal: bus.node(id),
      links: {
        connect: async (peer) => {
          connects.push(peer);
          const other = nodes.get(peer) as Node;
          const why = other.driver.authorize(id);
          if (why !== undefined || opts.linkFails) throw new Error(why ?? 'the link did not come up');
          driver.linkUp(peer);
          other.driver.linkUp(id);
        },
        disconnect: (peer) => {
          disconnects.push(peer);
          driver.linkDown(peer, 'disconnected');
          nodes.get(peer)?.driver.linkDown(id, 'the peer disconnected');
        },
      },
      log: nullLogger,
      tickMs: 50,
      pendingInMs: 300,
    });
    const n = { id, driver, connects, disconnects };
    nodes.set(id, n);
    driver.start();
    return n;
  };
  return { bus, a: make(A, opts.a), b: make(B, opts.b) };
}

const connectedTo = (n: Node): string[] => n.driver.status().edges.filter((e) => e.state === 'connected').map((e) => e.peer);

describe('topology driver', () => {
  it('two nodes asking each other at once end with one edge, the lower id\'s request, connected at both ends', async () => {
    const { bus, a, b } = pair();
    a.driver.peerPresent(B);
    b.driver.peerPresent(A);
    await waitFor('both connected', () => connectedTo(a).includes(B) && connectedTo(b).includes(A));
    expect(a.driver.status().edges).toMatchObject([{ peer: B, dir: 'out', state: 'connected' }]);
    expect(b.driver.status().edges).toMatchObject([{ peer: A, dir: 'in', state: 'connected' }]);
    // Both asked; B's request lost to A's (E2) and B did not back A off for it.
    expect(bus.sent(TOP_NEGOTIATE_EDGE).length).toBe(2);
    expect(b.driver.status().backoff).toEqual([]);
    expect(a.connects).toEqual([B]);
    expect(b.connects).toEqual([]);
    a.driver.stop();
    b.driver.stop();
  });

  it('authorizes only peers it holds an edge with', async () => {
    const { a, b } = pair();
    expect(a.driver.authorize(B)).toMatch(/no edge was agreed/);
    a.driver.peerPresent(B);
    b.driver.peerPresent(A);
    await waitFor('connected', () => connectedTo(a).includes(B));
    expect(a.driver.authorize(B)).toBeUndefined();
    expect(b.driver.authorize(A)).toBeUndefined();
    a.driver.stop();
    b.driver.stop();
  });

  it('refuses malformed and foreign requests with the key path, and a leaf refuses everything', async () => {
    const { bus, a, b } = pair({ b: { role: 'leaf' } });
    const ask = (params: Record<string, unknown>): Promise<unknown> => bus.node(A).request(B, TOP_NEGOTIATE_EDGE, params, { timeoutMs: 1000 });
    expect(await ask({ ...edgeRequest('other', 'e1', 'successor', A, B) })).toEqual({ is_accepted: false, code: 'E8', message: expect.stringContaining('$.overlay_id') });
    expect(await ask({ ...edgeRequest('ovl', 'e1', 'successor', B, B) })).toEqual({ is_accepted: false, code: 'E8', message: expect.stringContaining('$.initiator_id') });
    expect(await ask({ junk: true })).toEqual({ is_accepted: false, code: 'E8', message: expect.stringContaining('$.junk') });
    expect(await ask({ ...edgeRequest('ovl', 'e1', 'successor', A, B) })).toEqual({ is_accepted: false, code: 'E6', message: expect.stringContaining('leaf') });
    expect(b.driver.status().changes.refusedIn).toBe(4);
    expect(b.driver.status().edges).toEqual([]);
    expect(b.driver.authorize(A)).toMatch(/leaf/);
    a.driver.stop();
    b.driver.stop();
  });

  it('a refused edge backs the peer off, a leaf stays off the ring; a new appearance forgives both', async () => {
    const { a, b } = pair({ b: { role: 'leaf' } });
    a.driver.peerPresent(B);
    await waitFor('A backs B off', () => a.driver.status().backoff.some((s) => s.peer === B && s.fails === 1));
    expect(a.driver.status().edges).toEqual([]);
    expect(a.driver.status().changes.refusedOut).toBe(1);
    // A leaf's refusal holds while it runs: it is off A's ring, not asked again after the backoff.
    expect(a.driver.status().available).toEqual([]);
    a.driver.peerGone(B);
    a.driver.peerPresent(B);
    expect(a.driver.status().backoff.filter((s) => s.peer === B)).toEqual([]);
    expect(a.driver.status().available).toEqual([B]);
    a.driver.stop();
    b.driver.stop();
  });

  it('a link that fails backs the peer off; an accepted edge whose link never comes up is dropped', async () => {
    const { a, b } = pair({ linkFails: true });
    b.driver.peerPresent(A); // only B asks: A is B's successor on a two-node ring
    await waitFor('A holds B\'s edge, waiting for its link', () => a.driver.status().edges.some((e) => e.peer === B && e.dir === 'in'));
    await waitFor('B backs A off after the link failed', () => b.driver.status().backoff.some((s) => s.peer === A));
    await waitFor('A drops the edge whose link never came up', () => a.driver.status().edges.length === 0, 3000);
    expect(a.driver.authorize(B)).toMatch(/no edge/);
    a.driver.stop();
    b.driver.stop();
  });
});
