/**
 * The topology policy (overlay/topology.ts), pure: each rule of nextChange and answerRequest on hand-made
 * views, the backoff's times, and properties on simulated overlays (every node running nextChange and
 * answerRequest, messages delivered in random order, collisions included): a built overlay is connected,
 * has every successor link, keeps the incoming limit and one edge per pair, and has a small diameter;
 * removals never break a rule while peers come and go; long-distance targets follow Symphony's harmonic
 * distribution; a leaf refuses everything and keeps only its static links. Seeded, no timers.
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../helpers/rng.js';
import {
  type Edge,
  type EdgeReply,
  type EdgeType,
  PeerBackoff,
  TOPOLOGY_DEFAULTS,
  type TopologyAction,
  TopologyError,
  type TopologyOptions,
  type TopologyView,
  answerRequest,
  checkTopologyOptions,
  longDistanceTarget,
  nextChange,
  planOf,
  predecessorsOf,
  ringOf,
  successorsOf,
} from '../../overlay/topology.js';

/** Node ids whose ring order is their index: id(0) < id(1) < ... */
const id = (i: number): string => i.toString(16).padStart(2, '0').repeat(16);
const SELF = id(0x10);
const NOW = 1_000_000;
const OLD = NOW - 200_000; // older than minConnectedMs (180 s)
const YOUNG = NOW - 1_000;

function edge(peer: string, type: EdgeType, dir: 'out' | 'in' = 'out', state: Edge['state'] = 'connected', since = OLD): Edge {
  return { peer, type, dir, state, since };
}

function view(available: readonly string[], edges: readonly Edge[] = [], more: Partial<TopologyView> = {}): TopologyView {
  return { self: SELF, now: NOW, available, edges, ...more };
}

function opts(more: Partial<TopologyOptions> = {}): TopologyOptions {
  return { ...TOPOLOGY_DEFAULTS, ...more };
}

const never = (): number => {
  throw new Error('rand called');
};

/** Peers 0x11.. (after SELF on the ring) and 0x01.. (before it). */
const after = (n: number): string[] => Array.from({ length: n }, (_, i) => id(0x11 + i));

describe('the ring', () => {
  it('is the sorted ids from self round, once each, without what is not a node id', () => {
    const peers = [id(0x30), id(0x05), id(0x20), id(0x05), 'NOT-AN-ID', SELF];
    expect(ringOf(SELF, peers)).toEqual([SELF, id(0x20), id(0x30), id(0x05)]);
    expect(successorsOf(SELF, peers, 2)).toEqual([id(0x20), id(0x30)]);
    expect(predecessorsOf(SELF, peers, 2)).toEqual([id(0x05), id(0x30)]);
    expect(successorsOf(SELF, [id(0x05)], 2)).toEqual([id(0x05)]);
    expect(successorsOf(SELF, [], 2)).toEqual([]);
  });
});

describe('nextChange: adds', () => {
  it('adds by priority static > successor > on-demand > long-distance, one edge per peer', () => {
    const peers = after(8);
    const o = opts({ staticPeers: [id(0x18)], maxOnDemand: 1 });
    const v = (edges: Edge[]): TopologyView => view(peers, edges, { onDemand: [id(0x16)] });
    expect(nextChange(v([]), o, never)).toEqual({ kind: 'add', peer: id(0x18), type: 'static' });
    const s = edge(id(0x18), 'static');
    expect(nextChange(v([s]), o, never)).toEqual({ kind: 'add', peer: id(0x11), type: 'successor' });
    const s1 = edge(id(0x11), 'successor');
    expect(nextChange(v([s, s1]), o, never)).toEqual({ kind: 'add', peer: id(0x12), type: 'successor' });
    const s2 = edge(id(0x12), 'longDistance', 'in'); // the peer's own edge serves as our successor link
    expect(nextChange(v([s, s1, s2]), o, never)).toEqual({ kind: 'add', peer: id(0x16), type: 'onDemand' });
    const d = edge(id(0x16), 'onDemand');
    const a = nextChange(v([s, s1, s2, d]), o, () => 0.5);
    expect(a).toMatchObject({ kind: 'add', type: 'longDistance' });
  });

  it('skips a wanted peer that is not available (not on signaling, or backed off)', () => {
    const peers = after(3);
    expect(nextChange(view(peers), opts({ staticPeers: [id(0x40)] }), never)).toEqual({ kind: 'add', peer: id(0x11), type: 'successor' });
  });

  it('waits while one of its own edges is being made, not while a peer\'s edge to it is', () => {
    const peers = after(4);
    for (const state of ['negotiating', 'connecting'] as const) {
      expect(nextChange(view(peers, [edge(id(0x14), 'successor', 'out', state)]), opts(), never)).toBeUndefined();
      expect(nextChange(view(peers, [edge(id(0x14), 'successor', 'in', state)]), opts(), never)).toEqual({ kind: 'add', peer: id(0x11), type: 'successor' });
    }
  });

  it('builds long-distance links only from 2×minSuccessors peers, floor(log2(n+1)) of them by default', () => {
    const ring = (n: number): Edge[] => successorsOf(SELF, after(n), 2).map((p) => edge(p, 'successor'));
    expect(nextChange(view(after(3), ring(3)), opts(), never)).toBeUndefined();
    expect(planOf(view(after(3)), opts()).maxLongDistance).toBe(0);
    // n = 4: two wanted, but every peer is a successor or a predecessor: nothing to draw
    expect(planOf(view(after(4)), opts()).maxLongDistance).toBe(2);
    expect(nextChange(view(after(4), ring(4)), opts(), never)).toBeUndefined();
    expect(nextChange(view(after(5), ring(5)), opts(), () => 0)).toEqual({ kind: 'add', peer: id(0x13), type: 'longDistance' });
    expect(planOf(view(after(31)), opts()).maxLongDistance).toBe(5);
    expect(planOf(view(after(31)), opts({ maxLongDistance: 1 })).maxLongDistance).toBe(1);
    // n = 5: the only peer neither successor nor predecessor is 0x13; it is taken, so nothing more
    expect(nextChange(view(after(5), [...ring(5), edge(id(0x13), 'longDistance')]), opts(), never)).toBeUndefined();
  });

  it('counts a long-distance link whose peer became a successor or predecessor as a ring link, and draws another', () => {
    const peers = after(16);
    const succ = [edge(id(0x11), 'successor'), edge(id(0x12), 'successor')];
    const lds = [0x15, 0x18, 0x1c].map((i) => edge(id(i), 'longDistance'));
    expect(planOf(view(peers), opts()).maxLongDistance).toBe(4);
    const full = [...succ, ...lds, edge(id(0x1a), 'longDistance')];
    expect(nextChange(view(peers, full), opts(), never)).toBeUndefined();
    // 0x20 (predecessor) and 0x12 (successor) made as long-distance links: the slots are free again
    const drifted = [edge(id(0x11), 'successor'), edge(id(0x12), 'longDistance'), ...lds, edge(id(0x20), 'longDistance')];
    expect(nextChange(view(peers, drifted), opts(), () => 0.5)).toMatchObject({ kind: 'add', type: 'longDistance' });
  });

  it('adds on-demand links up to maxOnDemand, never to self, a static peer or a successor', () => {
    const peers = after(8);
    const ring = [edge(id(0x11), 'successor'), edge(id(0x12), 'successor')];
    const v = view(peers, ring, { onDemand: [SELF, id(0x11), id(0x15), id(0x16)] });
    expect(nextChange(v, opts({ maxOnDemand: 0, maxLongDistance: 0 }), never)).toBeUndefined();
    expect(nextChange(v, opts({ maxOnDemand: 1, maxLongDistance: 0 }), never)).toEqual({ kind: 'add', peer: id(0x15), type: 'onDemand' });
    expect(planOf(v, opts({ maxOnDemand: 5 })).onDemand).toEqual([id(0x15), id(0x16)]);
  });

  it.each([
    ['manual', opts({ manual: true, staticPeers: [id(0x13)] })],
    ['leaf', opts({ role: 'leaf', staticPeers: [id(0x13)] })],
  ])('%s: static links only', (_what, o) => {
    const peers = after(10);
    expect(nextChange(view(peers, [], { onDemand: [id(0x15)] }), { ...o, maxOnDemand: 1 }, never)).toEqual({ kind: 'add', peer: id(0x13), type: 'static' });
    expect(nextChange(view(peers, [edge(id(0x13), 'static')]), o, never)).toBeUndefined();
  });
});

describe('nextChange: removes', () => {
  const peers = after(12); // successors 0x11 0x12, predecessors 0x1c 0x1b, floor(log2 13) = 3 long-distance links
  const ring = [edge(id(0x11), 'successor'), edge(id(0x12), 'successor')];

  it('removes a former successor once the ideal ones are connected (EdgeVPN keeps it until then)', () => {
    const former = edge(id(0x16), 'successor');
    const v = (r: Edge[]): TopologyView => view(peers, [...r, former, edge(id(0x14), 'longDistance'), edge(id(0x18), 'longDistance')]);
    expect(nextChange(v(ring), opts({ maxLongDistance: 2 }), never)).toEqual({
      kind: 'remove', peer: id(0x16), type: 'successor', reason: 'no longer a successor, and the ideal successors are connected',
    });
    const connecting = [ring[0] as Edge, edge(id(0x12), 'successor', 'in', 'connecting')];
    expect(nextChange(v(connecting), opts({ maxLongDistance: 2 }), never)).toBeUndefined();
    // two former successors would leave minSuccessors links, but an ideal one is not connected yet
    expect(nextChange(v([...connecting, edge(id(0x17), 'successor')]), opts({ maxLongDistance: 2 }), never)).toBeUndefined();
    expect(nextChange(v([...ring, edge(id(0x17), 'successor')]), opts({ maxLongDistance: 2 }), never)).toMatchObject({ kind: 'remove', peer: id(0x16) });
  });

  it('never removes below minSuccessors successor links', () => {
    // 0x13 is the second ideal successor but only a peer's incoming edge in the making; 0x15 stays
    const v = view(after(3), [edge(id(0x11), 'successor'), edge(id(0x12), 'successor', 'in', 'connecting'), edge(id(0x30), 'successor')]);
    expect(nextChange(v, opts(), never)).toBeUndefined();
  });

  it('never removes an incoming, static, young or unconnected edge', () => {
    const keep = [
      edge(id(0x14), 'onDemand', 'in'),
      edge(id(0x15), 'onDemand', 'out', 'connected', YOUNG),
      edge(id(0x16), 'static', 'out'),
      edge(id(0x17), 'successor', 'in'),
      edge(id(0x18), 'longDistance', 'in'),
    ];
    expect(nextChange(view(peers, [...ring, ...keep]), opts({ maxLongDistance: 0 }), never)).toBeUndefined();
    // a static peer linked under another type (it was a long-distance link before the config listed it)
    const ld = edge(id(0x19), 'longDistance');
    expect(nextChange(view(peers, [...ring, ld]), opts({ maxLongDistance: 0, staticPeers: [id(0x19)] }), never)).toBeUndefined();
    expect(nextChange(view(peers, [...ring, ld]), opts({ maxLongDistance: 0 }), never)).toMatchObject({ kind: 'remove', peer: id(0x19) });
    expect(nextChange(view(peers, [...ring, edge(id(0x15), 'onDemand', 'out', 'connected', NOW - 180_000)]), opts({ maxLongDistance: 0 }), never))
      .toEqual({ kind: 'remove', peer: id(0x15), type: 'onDemand', reason: 'on-demand link no longer wanted' });
  });

  it('removes long-distance links beyond the number wanted, the shortest first', () => {
    const lds = [0x15, 0x13, 0x19, 0x17].map((i) => edge(id(i), 'longDistance'));
    expect(nextChange(view(peers, [...ring, ...lds]), opts(), never)).toEqual({
      kind: 'remove', peer: id(0x13), type: 'longDistance', reason: 'more long-distance links than wanted (4 of 3 for 12 peers)',
    });
    // the shortest is young: the next shortest goes
    const young = lds.map((e) => (e.peer === id(0x13) ? { ...e, since: YOUNG } : e));
    expect(nextChange(view(peers, [...ring, ...young]), opts(), never)).toMatchObject({ kind: 'remove', peer: id(0x15) });
    expect(nextChange(view(peers, [...ring, ...lds]), opts({ maxLongDistance: 4 }), never)).toBeUndefined();
  });

  it('keeps a long-distance link whose distance drifted, as long as it is not surplus', () => {
    // 0x13 was drawn far away when the overlay was larger; it is now the nearest allowed target
    const v = view(peers, [...ring, edge(id(0x13), 'longDistance'), edge(id(0x14), 'longDistance'), edge(id(0x15), 'longDistance')]);
    expect(nextChange(v, opts(), never)).toBeUndefined();
  });

  it('changes nothing when signaling loses every peer: linked peers stay on the ring', () => {
    const edges = [...ring, edge(id(0x13), 'longDistance'), edge(id(0x14), 'longDistance')];
    expect(nextChange(view([], edges), opts(), never)).toBeUndefined();
    expect(planOf(view([], edges), opts()).successors).toEqual([id(0x11), id(0x12)]);
  });

  it('keeps a backed-off linked peer that signaling still has off the ring (view.present)', () => {
    const leaf = id(0x11); // a leaf that linked to us by its static request and refuses ours
    const v = view(after(4).slice(1), [edge(leaf, 'static', 'in')], { present: after(4) });
    expect(planOf(v, opts()).successors).toEqual([id(0x12), id(0x13)]);
    expect(nextChange(v, opts(), never)).toEqual({ kind: 'add', peer: id(0x12), type: 'successor' });
  });
});

describe('answerRequest', () => {
  const peers = after(8);
  const A = id(0x15);
  const cases: [string, TopologyView, Partial<TopologyOptions>, EdgeType, EdgeReply][] = [
    ['a successor request', view(peers), {}, 'successor', { accept: true, type: 'successor' }],
    ['a long-distance request', view(peers), {}, 'longDistance', { accept: true, type: 'longDistance' }],
    ['a request from a static peer, as static', view(peers), { staticPeers: [A] }, 'longDistance', { accept: true, type: 'static' }],
    ['a leaf: E6', view(peers), { role: 'leaf', staticPeers: [A] }, 'static', { accept: false, code: 'E6', message: 'not accepting incoming connections: leaf device' }],
    ['the same edge again: E1', view(peers, [edge(A, 'successor', 'in', 'connecting')]), {}, 'successor', { accept: false, code: 'E1', message: 'duplicate: this node already holds your edge' }],
    ['linked under our own edge: E7', view(peers, [edge(A, 'longDistance', 'out', 'connected')]), {}, 'successor', { accept: false, code: 'E7', message: 'this pair is already linked under this node\'s own edge' }],
    ['our own agreed edge being connected: E7', view(peers, [edge(A, 'longDistance', 'out', 'connecting')]), {}, 'successor', { accept: false, code: 'E7', message: 'this pair is already linked under this node\'s own edge' }],
    ['a collision with our lower id: E2', view(peers, [edge(A, 'longDistance', 'out', 'negotiating')]), {}, 'successor', { accept: false, code: 'E2', message: 'collision: this node\'s own request, from the lower node id, supersedes yours' }],
  ];
  it.each(cases)('%s', (_what, v, o, type, reply) => {
    expect(answerRequest(v, opts(o), { from: A, type })).toEqual(reply);
  });

  it('accepts a request from our successor as a successor edge, whatever was asked', () => {
    expect(answerRequest(view(peers), opts(), { from: id(0x11), type: 'longDistance' })).toEqual({ accept: true, type: 'successor' });
  });

  it('a collision with our higher id: accepted, superseding our own request', () => {
    const low = id(0x05);
    expect(answerRequest(view([...peers, low], [edge(low, 'successor', 'out', 'negotiating')]), opts(), { from: low, type: 'longDistance' }))
      .toEqual({ accept: true, type: 'longDistance', supersedes: low });
  });

  it('E5 once the incoming long-distance limit is reached', () => {
    const v = view(peers, [edge(id(0x16), 'longDistance', 'in'), edge(id(0x17), 'longDistance', 'in', 'connecting'), edge(id(0x18), 'successor', 'in')]);
    expect(answerRequest(v, opts({ maxIncomingLongDistance: 3 }), { from: A, type: 'longDistance' })).toEqual({ accept: true, type: 'longDistance' });
    expect(answerRequest(v, opts({ maxIncomingLongDistance: 2 }), { from: A, type: 'longDistance' }))
      .toEqual({ accept: false, code: 'E5', message: 'too many incoming long-distance edges (2 of 2)' });
    expect(answerRequest(v, opts({ maxIncomingLongDistance: 2 }), { from: A, type: 'successor' })).toEqual({ accept: true, type: 'successor' });
    expect(answerRequest(v, opts({ maxIncomingLongDistance: 2, staticPeers: [A] }), { from: A, type: 'longDistance' })).toEqual({ accept: true, type: 'static' });
  });

  it('E6 for a request that cannot be right', () => {
    expect(answerRequest(view(peers), opts(), { from: SELF, type: 'successor' })).toMatchObject({ accept: false, code: 'E6', message: 'a node does not link to itself' });
    expect(answerRequest(view(peers), opts(), { from: 'AB', type: 'successor' })).toMatchObject({ accept: false, code: 'E6', message: 'not a node id: "AB"' });
    expect(answerRequest(view(peers), opts(), { from: A, type: 'friend' as EdgeType })).toMatchObject({ accept: false, code: 'E6' });
  });
});

describe('bad options and views', () => {
  it.each([
    ['minSuccessors', { minSuccessors: -1 }, 'TopologyOptions.minSuccessors: expected an integer >= 0, got -1'],
    ['minSuccessors', { minSuccessors: 1.5 }, 'TopologyOptions.minSuccessors: expected an integer >= 0, got 1.5'],
    ['maxLongDistance', { maxLongDistance: Number.NaN }, 'TopologyOptions.maxLongDistance: expected an integer >= 0, got NaN'],
    ['maxIncomingLongDistance', { maxIncomingLongDistance: -2 }, 'TopologyOptions.maxIncomingLongDistance: expected an integer >= 0, got -2'],
    ['maxOnDemand', { maxOnDemand: '1' }, 'TopologyOptions.maxOnDemand: expected an integer >= 0, got "1"'],
    ['minConnectedMs', { minConnectedMs: -5 }, 'TopologyOptions.minConnectedMs: expected a number of ms >= 0, got -5'],
    ['staticPeers', { staticPeers: ['ABC'] }, 'TopologyOptions.staticPeers[0]: expected a node id (32 lowercase hex digits), got "ABC"'],
    ['manual', { manual: 'yes' }, 'TopologyOptions.manual: expected true or false, got "yes"'],
    ['role', { role: 'pendant' }, 'TopologyOptions.role: expected "switch" or "leaf", got "pendant"'],
  ])('refuses %s', (_key, bad, message) => {
    const o = { ...TOPOLOGY_DEFAULTS, ...bad } as unknown as TopologyOptions;
    expect(() => checkTopologyOptions(o)).toThrow(new TopologyError(message));
    expect(() => nextChange(view([]), o, never)).toThrow(TopologyError);
    expect(() => answerRequest(view([]), o, { from: id(1), type: 'successor' })).toThrow(TopologyError);
  });

  it('refuses a view whose self is not a node id, and a rand outside [0, 1)', () => {
    expect(() => nextChange({ ...view([]), self: 'A0' }, opts(), never)).toThrow('TopologyView.self: expected a node id (32 lowercase hex digits), got "A0"');
    expect(() => longDistanceTarget(SELF, after(20), () => 1)).toThrow('rand() must give a number in [0, 1), gave 1');
  });

  it('leaves out available peers that are not node ids', () => {
    expect(nextChange(view(['ZZ', id(0x1a).toUpperCase(), id(0x1b)]), opts(), never)).toEqual({ kind: 'add', peer: id(0x1b), type: 'successor' });
  });
});

describe('PeerBackoff', () => {
  it('waits baseMs × fails × 1..4, bans after maxFails for banMs, forgets on success', () => {
    const b = new PeerBackoff();
    const P = id(1);
    b.fail(P, 0, () => 0);
    expect(b.states(0)).toEqual([{ peer: P, fails: 1, until: 2000 }]);
    expect([b.available(P, 1999), b.available(P, 2000)]).toEqual([false, true]);
    b.fail(P, 2000, () => 0.99);
    expect(b.states(2000)).toEqual([{ peer: P, fails: 2, until: 2000 + 2000 * 2 * 4 }]);
    b.fail(P, 20_000, () => 0.5);
    expect(b.states(20_000)[0]?.until).toBe(20_000 + 2000 * 3 * 3);
    b.fail(P, 40_000, () => 0);
    expect(b.states(40_000)).toEqual([{ peer: P, fails: 4, until: 100_000 }]);
    expect(b.states(100_000)).toEqual([{ peer: P, fails: 4, until: undefined }]);
    b.succeeded(P);
    expect(b.states(100_000)).toEqual([]);
    expect(b.available(P, 100_000)).toBe(true);
  });

  it('forgets failures older than forgetMs, and takes its times from options', () => {
    const b = new PeerBackoff({ baseMs: 100, maxFails: 2, banMs: 1000, forgetMs: 5000 });
    b.fail(id(1), 0, () => 0);
    b.fail(id(2), 0, () => 0);
    b.fail(id(2), 100, () => 0);
    expect(b.states(100)).toEqual([{ peer: id(1), fails: 1, until: undefined }, { peer: id(2), fails: 2, until: 1100 }]);
    expect(b.states(5099)).toEqual([{ peer: id(2), fails: 2, until: undefined }]); // id(1)'s failure is 5 s old: forgotten
    b.fail(id(1), 5100, () => 0); // counted afresh; id(2)'s are forgotten too by now
    expect(b.states(5100)).toEqual([{ peer: id(1), fails: 1, until: 5200 }]);
  });

  it.each([
    [{ baseMs: -1 }, 'PeerBackoff baseMs: expected a number of ms >= 0, got -1'],
    [{ banMs: Number.POSITIVE_INFINITY }, 'PeerBackoff banMs: expected a number of ms >= 0, got Infinity'],
    [{ maxFails: 0 }, 'PeerBackoff maxFails: expected an integer >= 1, got 0'],
    [{ forgetMs: 0 }, 'PeerBackoff forgetMs: expected a number of ms >= 1, got 0'],
  ])('refuses %j', (o, message) => {
    expect(() => new PeerBackoff(o)).toThrow(new RangeError(message));
  });
});

// ---- Symphony ------------------------------------------------------------------------------------------------

describe('long-distance targets (Symphony)', () => {
  it('follow the harmonic distribution: P(distance <= d) = ln(d+1) / ln n', () => {
    const peers = Array.from({ length: 127 }, (_, i) => id(i + 0x11)); // n = 128 on the ring with self
    const ring = ringOf(SELF, peers);
    const n = ring.length;
    const check = (k: number, draws: number, rand: () => number): void => {
      const lo = k + 1; // distances lo .. n-1-k are allowed
      const hi = n - 1 - k;
      const dist: number[] = [];
      for (let i = 0; i < draws; i++) {
        dist.push(ring.indexOf(longDistanceTarget(SELF, peers, rand, { successors: k }) as string));
      }
      expect([Math.min(...dist), Math.max(...dist)]).toEqual([lo, hi]);
      for (const d of [2, 4, 8, 16, 32, 64, 100]) {
        if (d < lo || d > hi) continue;
        const cdf = (Math.log(d + 1) - Math.log(lo)) / (Math.log(hi + 1) - Math.log(lo));
        const seen = dist.filter((x) => x <= d).length / draws;
        // 20000 draws: one standard deviation is at most 0.0036, so 0.02 is over five of them
        expect(Math.abs(seen - cdf), `k ${k}, d ${d}: ${seen} against ${cdf}`).toBeLessThan(0.02);
      }
    };
    check(0, 20_000, rng(1)); // the plain distribution: ln(d+1) / ln n
    check(2, 20_000, rng(2)); // conditioned on skipping the successors and predecessors
  });

  it('never draws self, a successor, a predecessor or an excluded peer; none when nothing is left', () => {
    const r = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(r() * 40);
      const self = randomId(r);
      const peers = Array.from({ length: n }, () => randomId(r));
      const k = Math.floor(r() * 3);
      const exclude = peers.filter(() => r() < 0.3);
      const banned = new Set([self, ...successorsOf(self, peers, k), ...predecessorsOf(self, peers, k), ...exclude]);
      const open = ringOf(self, peers).filter((p) => !banned.has(p));
      for (let i = 0; i < 10; i++) {
        const t = longDistanceTarget(self, peers, r, { successors: k, exclude });
        if (open.length === 0) expect(t).toBeUndefined();
        else expect(open).toContain(t);
      }
    }
  });
});

// ---- simulated overlays --------------------------------------------------------------------------------------

function randomId(r: () => number): string {
  let s = '';
  for (let i = 0; i < 4; i++) s += (Math.floor(r() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
  return s;
}

interface SimEdge {
  peer: string;
  type: EdgeType;
  dir: 'out' | 'in';
  state: Edge['state'];
  since: number;
  /** Which negotiation made it: replies and link events for another one are stale. */
  ref: number;
}

interface SimNode {
  readonly id: string;
  readonly opts: TopologyOptions;
  edges: Map<string, SimEdge>;
  backoff: PeerBackoff;
  online: boolean;
  /** On signaling (a node can be online, its links working, and lost to signaling). */
  present: boolean;
}

type Msg =
  | { readonly k: 'req'; readonly from: string; readonly to: string; readonly type: EdgeType; readonly ref: number }
  | { readonly k: 'reply'; readonly from: string; readonly to: string; readonly ref: number; readonly reply: EdgeReply | undefined }
  | { readonly k: 'up'; readonly a: string; readonly b: string; readonly ref: number }
  | { readonly k: 'down'; readonly at: string; readonly peer: string; readonly ref: number };

interface SimOptions {
  readonly backoff?: ConstructorParameters<typeof PeerBackoff>[0];
  /** Called with every change a node proposes, and the view it was proposed on. */
  readonly onChange?: (node: SimNode, v: TopologyView, a: TopologyAction) => void;
  readonly onReply?: (to: SimNode, req: Msg & { k: 'req' }, reply: EdgeReply) => void;
}

/**
 * Nodes running nextChange and answerRequest as the driver does (EdgeVPN's negotiation, then a link),
 * with every message in one pool delivered in random order: two nodes may ask each other at once.
 */
class Sim {
  readonly nodes = new Map<string, SimNode>();
  readonly pending: Msg[] = [];
  now = 0;
  /** How likely a step delivers a message rather than letting a node act: low means bursts of requests. */
  pDeliver = 0.5;
  private ref = 0;

  constructor(
    readonly r: () => number,
    private readonly so: SimOptions = {},
  ) {}

  addNode(nodeId: string, o: TopologyOptions): SimNode {
    const n: SimNode = { id: nodeId, opts: o, edges: new Map(), backoff: new PeerBackoff(this.so.backoff), online: true, present: true };
    this.nodes.set(nodeId, n);
    return n;
  }

  view(n: SimNode): TopologyView {
    const others = [...this.nodes.values()].filter((p) => p !== n && p.online && p.present).map((p) => p.id);
    return {
      self: n.id,
      now: this.now,
      available: others.filter((p) => n.backoff.available(p, this.now)),
      present: others,
      edges: [...n.edges.values()].map((e) => ({ peer: e.peer, type: e.type, dir: e.dir, state: e.state, since: e.since })),
    };
  }

  /** The node's next change, carried out; false when it has none. */
  act(n: SimNode): boolean {
    const v = this.view(n);
    const a = nextChange(v, n.opts, this.r);
    if (a === undefined) return false;
    this.so.onChange?.(n, v, a);
    if (a.kind === 'add') {
      const ref = ++this.ref;
      n.edges.set(a.peer, { peer: a.peer, type: a.type, dir: 'out', state: 'negotiating', since: this.now, ref });
      this.pending.push({ k: 'req', from: n.id, to: a.peer, type: a.type, ref });
    } else {
      const e = n.edges.get(a.peer) as SimEdge;
      n.edges.delete(a.peer);
      this.pending.push({ k: 'down', at: a.peer, peer: n.id, ref: e.ref });
    }
    return true;
  }

  deliverOne(): void {
    const i = Math.floor(this.r() * this.pending.length);
    const m = this.pending.splice(i, 1)[0] as Msg;
    this.deliver(m);
  }

  private deliver(m: Msg): void {
    switch (m.k) {
      case 'req': {
        const b = this.nodes.get(m.to) as SimNode;
        if (!b.online) {
          this.pending.push({ k: 'reply', from: m.to, to: m.from, ref: m.ref, reply: undefined }); // times out
          return;
        }
        const reply = answerRequest(this.view(b), b.opts, { from: m.from, type: m.type });
        this.so.onReply?.(b, m, reply);
        if (reply.accept) b.edges.set(m.from, { peer: m.from, type: reply.type, dir: 'in', state: 'connecting', since: this.now, ref: m.ref });
        this.pending.push({ k: 'reply', from: m.to, to: m.from, ref: m.ref, reply });
        return;
      }
      case 'reply': {
        const a = this.nodes.get(m.to) as SimNode;
        const e = a.edges.get(m.from);
        if (!a.online || e === undefined || e.ref !== m.ref) {
          // superseded, or the node left or restarted: no link comes, and the target's edge times out
          if (m.reply?.accept === true) this.pending.push({ k: 'down', at: m.from, peer: m.to, ref: m.ref });
          return;
        }
        if (m.reply === undefined || !m.reply.accept) {
          a.edges.delete(m.from);
          if (m.reply?.code !== 'E2') a.backoff.fail(m.from, this.now, this.r); // E2: the peer's request wins
          return;
        }
        e.state = 'connecting';
        e.since = this.now;
        this.pending.push({ k: 'up', a: m.to, b: m.from, ref: m.ref });
        return;
      }
      case 'up': {
        const a = this.nodes.get(m.a) as SimNode;
        const b = this.nodes.get(m.b) as SimNode;
        const ea = a.online ? a.edges.get(m.b) : undefined;
        const eb = b.online ? b.edges.get(m.a) : undefined;
        const okA = ea !== undefined && ea.ref === m.ref;
        const okB = eb !== undefined && eb.ref === m.ref;
        if (okA && okB) {
          ea.state = eb.state = 'connected';
          ea.since = eb.since = this.now;
          return;
        }
        // the link does not come up: the initiator backs the peer off, the target's edge times out
        if (okA) {
          a.edges.delete(m.b);
          a.backoff.fail(m.b, this.now, this.r);
        }
        if (okB) b.edges.delete(m.a);
        return;
      }
      case 'down': {
        const x = this.nodes.get(m.at) as SimNode;
        const e = x.edges.get(m.peer);
        if (!x.online || e === undefined || e.ref !== m.ref) return;
        x.edges.delete(m.peer);
        if (e.state === 'connected' && this.now - e.since < x.opts.minConnectedMs) x.backoff.fail(m.peer, this.now, this.r);
        return;
      }
    }
  }

  /** The node stops: its links go down at its peers. */
  leave(n: SimNode): void {
    n.online = false;
    for (const e of n.edges.values()) this.pending.push({ k: 'down', at: e.peer, peer: n.id, ref: e.ref });
    n.edges.clear();
  }

  /** The node starts afresh; the others see it appear on signaling and forgive it (the driver's rule). */
  join(n: SimNode): void {
    n.online = true;
    n.present = true;
    n.edges.clear();
    n.backoff = new PeerBackoff(this.so.backoff);
    for (const o of this.nodes.values()) o.backoff.succeeded(n.id);
  }

  /**
   * One step: a message delivered or one node's change, at random; false when there was nothing to do.
   * `scan`: try every node for a change (to know that none has one), else one node at random.
   */
  step(scan = true): boolean {
    this.now += Math.floor(this.r() * 200);
    if (this.pending.length > 0 && this.r() < this.pDeliver) {
      this.deliverOne();
      return true;
    }
    const online = [...this.nodes.values()].filter((n) => n.online);
    if (!scan && online.length > 0) {
      if (this.act(online[Math.floor(this.r() * online.length)] as SimNode)) return true;
      if (this.pending.length > 0) this.deliverOne();
      return true;
    }
    const start = Math.floor(this.r() * online.length);
    for (let i = 0; i < online.length; i++) if (this.act(online[(start + i) % online.length] as SimNode)) return true;
    if (this.pending.length > 0) {
      this.deliverOne();
      return true;
    }
    return false;
  }

  /**
   * Steps until nothing happens, even after a jump in time of `jumpMs` (edges age past minConnectedMs,
   * backoffs end). True when it got quiet within maxSteps.
   */
  settle(jumpMs: number, maxSteps = 200_000): boolean {
    let jumped = false;
    for (let i = 0; i < maxSteps; i++) {
      if (this.step()) {
        jumped = false;
        continue;
      }
      if (jumped) return true;
      this.now += jumpMs;
      jumped = true;
    }
    return false;
  }

  online(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.online);
  }
}

/** Every edge connected, seen the same from both ends (one edge per pair, one initiator). */
function checkPairs(sim: Sim): void {
  for (const n of sim.online()) {
    for (const e of n.edges.values()) {
      expect(e.state, `${n.id} → ${e.peer}`).toBe('connected');
      const back = sim.nodes.get(e.peer)?.edges.get(n.id);
      expect(back, `${e.peer} holds no edge back to ${n.id}`).toBeDefined();
      expect([back?.dir, back?.ref]).toEqual([e.dir === 'out' ? 'in' : 'out', e.ref]);
    }
  }
}

/** Hops from every node to every other over connected edges; Infinity when the graph is split. */
function diameter(sim: Sim, nodes: readonly SimNode[]): number {
  let worst = 0;
  for (const src of nodes) {
    const hops = new Map([[src.id, 0]]);
    let frontier = [src.id];
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const x of frontier) {
        for (const e of sim.nodes.get(x)?.edges.values() ?? []) {
          if (e.state !== 'connected' || hops.has(e.peer)) continue;
          hops.set(e.peer, (hops.get(x) as number) + 1);
          next.push(e.peer);
        }
      }
      frontier = next;
    }
    for (const n of nodes) worst = Math.max(worst, hops.get(n.id) ?? Infinity);
  }
  return worst;
}

/** Never two edges for one pair past negotiation: two requests crossing leave one edge. */
function checkNoCrossedEdges(sim: Sim): void {
  for (const n of sim.online()) {
    for (const e of n.edges.values()) {
      if (e.dir !== 'out' || e.state === 'negotiating') continue;
      const back = sim.nodes.get(e.peer)?.edges.get(n.id);
      if (back !== undefined && back.dir === 'out') expect(back.state, `${n.id} and ${e.peer} both made an edge`).toBe('negotiating');
    }
  }
}

describe('simulated overlays', () => {
  it('build, on random rings of 3 to 64 nodes with collisions: connected, every successor linked, limits kept, small diameter', () => {
    const r = rng(20240601);
    const sizes = [3, 4, 5, 6, 7, 9, 12, 16, 23, 31, 40, 64, 64];
    const seen = { E2: 0, supersedes: 0, E5: 0 };
    const onReply = (_to: SimNode, _req: unknown, reply: EdgeReply): void => {
      if (!reply.accept && (reply.code === 'E2' || reply.code === 'E5')) seen[reply.code]++;
      if (reply.accept && reply.supersedes !== undefined) seen.supersedes++;
    };
    for (const [run, n] of sizes.entries()) {
      const tight = run % 3 === 2; // some overlays with few incoming long-distance slots: E5 refusals happen
      const o = opts(tight ? { maxLongDistance: 1, maxIncomingLongDistance: 2 } : {});
      const sim = new Sim(r, { onReply });
      sim.pDeliver = run % 2 === 0 ? 0.1 : 0.5; // bursts of requests: more of them cross
      for (let i = 0; i < n; i++) sim.addNode(randomId(r), o);
      // every node asks at once: many requests cross
      for (const x of sim.online()) sim.act(x);
      let steps = 0;
      let quiet = false;
      for (let round = 0; round < 50 && !quiet; round++) {
        quiet = sim.settle(200_000, 5000);
        steps++;
        checkNoCrossedEdges(sim);
      }
      expect(quiet, `run ${run}: ${n} nodes did not settle`).toBe(true);
      checkPairs(sim);
      const all = sim.online();
      for (const x of all) {
        const others = all.filter((y) => y !== x).map((y) => y.id);
        for (const s of successorsOf(x.id, others, o.minSuccessors)) expect(x.edges.has(s), `run ${run}: ${x.id} lacks successor ${s}`).toBe(true);
        const incoming = [...x.edges.values()].filter((e) => e.dir === 'in' && e.type === 'longDistance').length;
        expect(incoming).toBeLessThanOrEqual(o.maxIncomingLongDistance);
      }
      const bound = 2 * Math.ceil(Math.log2(n)) + 2;
      expect(diameter(sim, all), `run ${run}: ${n} nodes`).toBeLessThanOrEqual(bound);
      expect(steps).toBeGreaterThan(0);
    }
    // the runs did meet crossing requests (both outcomes) and full nodes
    expect(seen.E2).toBeGreaterThan(3);
    expect(seen.supersedes).toBeGreaterThan(3);
    expect(seen.E5).toBeGreaterThan(3);
  });

  it('never removes below the successor minimum, an incoming, static, young or unconnected edge, as peers come and go', () => {
    const r = rng(77);
    let removes = 0;
    let adds = 0;
    for (let run = 0; run < 5; run++) {
      const n = 6 + Math.floor(r() * 30);
      const ids = Array.from({ length: n }, () => randomId(r));
      const onChange = (x: SimNode, v: TopologyView, a: TopologyAction): void => {
        const mine = v.edges.filter((e) => e.dir === 'out' && e.state !== 'connected');
        const e = v.edges.find((y) => y.peer === a.peer);
        if (a.kind === 'add') {
          adds++;
          expect(mine, 'an add while our own edge is being made').toEqual([]);
          expect(e, 'an add to a peer we hold an edge with').toBeUndefined();
          expect(v.available).toContain(a.peer);
          return;
        }
        removes++;
        expect(e).toBeDefined();
        const edge = e as Edge;
        expect(edge.dir).toBe('out');
        expect(edge.state).toBe('connected');
        expect(edge.type).not.toBe('static');
        expect(x.opts.staticPeers).not.toContain(a.peer);
        expect(v.now - edge.since).toBeGreaterThanOrEqual(x.opts.minConnectedMs);
        // the ideal successors, on the ring of available peers and those linked that signaling lost
        const present = new Set(v.present);
        const ring = [...v.available, ...v.edges.filter((y) => y.state === 'connected' && !present.has(y.peer)).map((y) => y.peer)];
        const ideal = successorsOf(x.id, ring, x.opts.minSuccessors);
        expect(ideal, 'removes an ideal successor').not.toContain(a.peer);
        const successorLinks = v.edges.filter((y) => y.state === 'connected' && y.peer !== a.peer && (y.type === 'successor' || ideal.includes(y.peer)));
        if (edge.type === 'successor') expect(successorLinks.length).toBeGreaterThanOrEqual(x.opts.minSuccessors);
      };
      const sim = new Sim(r, { onChange });
      const o = opts({ minConnectedMs: 30_000 });
      for (const nodeId of ids) {
        const statics = r() < 0.3 ? [ids[Math.floor(r() * n)] as string].filter((p) => p !== nodeId) : [];
        sim.addNode(nodeId, { ...o, staticPeers: statics });
      }
      for (let i = 0; i < 6000; i++) {
        const x = [...sim.nodes.values()][Math.floor(r() * n)] as SimNode;
        const u = r();
        if (u < 0.004 && x.online) sim.leave(x);
        else if (u < 0.008 && !x.online) sim.join(x);
        else if (u < 0.012 && x.online) x.present = !x.present; // lost to signaling, links working; back
        else if (u < 0.02) sim.now += 40_000; // time passes: edges age, backoffs end
        sim.step(false);
        checkNoCrossedEdges(sim);
      }
      for (const x of sim.online()) x.present = true;
      expect(sim.settle(200_000), `run ${run} did not settle`).toBe(true);
      checkPairs(sim);
      const all = sim.online();
      for (const x of all) {
        const others = all.filter((y) => y !== x).map((y) => y.id);
        for (const s of successorsOf(x.id, others, 2)) expect(x.edges.has(s)).toBe(true);
      }
      if (all.length > 1) expect(diameter(sim, all)).toBeLessThan(Infinity);
    }
    // the runs did exercise the rules
    expect(adds).toBeGreaterThan(200);
    expect(removes).toBeGreaterThan(10);
  });

  it('a leaf refuses every request with E6 and keeps only its static links', () => {
    const r = rng(4242);
    const sim = new Sim(r, {
      backoff: { banMs: 1e12 }, // a peer refused four times stays banned (the settle jumps stay inside it)
      onReply: (to, _req, reply) => {
        if (to.opts.role === 'leaf') expect(reply).toMatchObject({ accept: false, code: 'E6' });
      },
    });
    const switches = Array.from({ length: 10 }, () => randomId(r));
    const leaves = Array.from({ length: 4 }, () => randomId(r));
    const leafStatic = new Map(leaves.map((l, i) => [l, i % 2 === 0 ? [switches[i] as string] : [switches[i] as string, switches[i + 5] as string]]));
    for (const [i, s] of switches.entries()) sim.addNode(s, opts({ minConnectedMs: 10_000, staticPeers: i < 2 ? [leaves[i] as string] : [] }));
    for (const l of leaves) sim.addNode(l, opts({ role: 'leaf', minConnectedMs: 10_000, staticPeers: leafStatic.get(l) as string[] }));
    let refused = 0;
    const base = sim.settle(50_000);
    expect(base).toBe(true);
    checkPairs(sim);
    for (const l of leaves) {
      const x = sim.nodes.get(l) as SimNode;
      expect([...x.edges.values()].map((e) => [e.peer, e.dir, e.type]).sort()).toEqual((leafStatic.get(l) as string[]).map((p) => [p, 'out', 'static']).sort());
      refused += switches.filter((s) => (sim.nodes.get(s) as SimNode).backoff.states(sim.now).some((b) => b.peer === l)).length;
    }
    expect(refused, 'switches asked the leaves and were refused').toBeGreaterThan(0);
    expect(diameter(sim, sim.online())).toBeLessThan(Infinity);
    // the switches' own ring is whole: each switch linked to its two successors among the switches
    // (leaves are off the ring once backed off, or linked as static peers)
    for (const s of switches) {
      const x = sim.nodes.get(s) as SimNode;
      expect(planOf(sim.view(x), x.opts).successors.every((p) => x.edges.has(p))).toBe(true);
    }
  });
});
