/**
 * The overlay's topology policy, pure (Faucet's valve: state in, actions out): given what the node holds and
 * sees (a TopologyView) and its options, nextChange() says the one next change and answerRequest() how to
 * answer a peer's edge request. No I/O, no timers, no state kept between calls: the clock (`view.now`) and
 * randomness (`rand`) are arguments, so each rule is a unit test and whole overlays can be simulated in
 * memory (test/overlay/topology.test.ts). overlay/topology-driver.ts runs the timer, negotiates over
 * signaling and has the link manager make and drop links.
 *
 * From EdgeVPN (EDGEVPN.md §4), kept because users rely on it: Symphony over a ring of node ids in sorted
 * order; MinSuccessors successor links; floor(log2(n+1)) long-distance links once n >= 2×MinSuccessors;
 * static links always; on-demand links for BoundedFlood; ManualTopology and Role "leaf" mean static links
 * only; one change at a time, adds by priority static > successor > on-demand > long-distance before any
 * remove; only connected outgoing links at least MinConnected old are removed, a successor never below
 * MinSuccessors, an incoming or static link never; refusals E1 E2 E5 E6 E7 and the collision rule (the
 * request from the lower node id wins).
 *
 * Where EdgeVPN is weak this does better; each such rule says "EdgeVPN:" beside it. In short: long-distance
 * targets follow Symphony's harmonic distribution with the natural log and are drawn only among peers that
 * can take them; a long-distance link is kept however its distance drifts unless it is surplus or has become
 * a ring link; the ring counts peers we hold a working link with even when signaling has lost them, so a
 * signaling outage changes nothing; a request for a link this node wants anyway is never refused for a limit;
 * backoff waits seconds, not minutes.
 *
 * May import: base/ (node-id.ts).
 */

import { isNodeId } from '../base/node-id.js';

export type EdgeType = 'successor' | 'longDistance' | 'static' | 'onDemand';
export type Role = 'switch' | 'leaf';

const EDGE_TYPES: readonly EdgeType[] = ['successor', 'longDistance', 'static', 'onDemand'];

export interface TopologyOptions {
  /** EdgeVPN MinSuccessors, default 2. */
  readonly minSuccessors: number;
  /** Outgoing long-distance links. undefined: floor(log2(nPeers + 1)), as EdgeVPN. */
  readonly maxLongDistance: number | undefined;
  /**
   * Incoming long-distance requests accepted (E5 beyond). EdgeVPN uses its outgoing maximum, which is also
   * the mean in-degree once the overlay is built, so it refuses a large share of draws. Symphony bounds the
   * in-degree at twice the out-degree; the default 16 is that for overlays up to 255 peers and still caps a
   * hub above it. Keep it well above maxLongDistance when that is set.
   */
  readonly maxIncomingLongDistance: number;
  /** On-demand links at most (EdgeVPN MaxOnDemandEdges), default 0. */
  readonly maxOnDemand: number;
  /** Always linked (EdgeVPN StaticEdges). */
  readonly staticPeers: readonly string[];
  /** ManualTopology: static links only. */
  readonly manual: boolean;
  /** 'leaf': static links only, and every incoming request refused (E6). */
  readonly role: Role;
  /** A link younger than this is never removed (EdgeVPN 180 s). */
  readonly minConnectedMs: number;
}

export const TOPOLOGY_DEFAULTS: TopologyOptions = Object.freeze({
  minSuccessors: 2,
  maxLongDistance: undefined,
  maxIncomingLongDistance: 16,
  maxOnDemand: 0,
  staticPeers: Object.freeze([]) as readonly string[],
  manual: false,
  role: 'switch',
  minConnectedMs: 180_000,
});

export interface Edge {
  /** Node id, 32 lowercase hex. */
  readonly peer: string;
  readonly type: EdgeType;
  /** We asked (initiator) or the peer asked (target). */
  readonly dir: 'out' | 'in';
  readonly state: 'negotiating' | 'connecting' | 'connected';
  /** ms on the caller's clock: when it reached its current state. */
  readonly since: number;
}

export interface TopologyView {
  readonly self: string;
  readonly now: number;
  /** Peers present on signaling and not backed off (self, if there, is ignored). */
  readonly available: readonly string[];
  /** Every edge we hold, in any state; one per peer. */
  readonly edges: readonly Edge[];
  /** Peers the flood app asks on-demand links to, most wanted first. */
  readonly onDemand?: readonly string[];
  /**
   * Peers present on signaling, backed off or not. Optional: with it, a peer we hold a link with but have
   * backed off (a leaf that refuses us, linked by its own static request) is kept off the ring, so it takes
   * no successor slot; without it, every linked peer is on the ring.
   */
  readonly present?: readonly string[];
}

export type TopologyAction =
  | { readonly kind: 'add'; readonly peer: string; readonly type: EdgeType }
  | { readonly kind: 'remove'; readonly peer: string; readonly type: EdgeType; readonly reason: string };

export interface EdgeRequest {
  readonly from: string;
  readonly type: EdgeType;
}

export type EdgeReply =
  | { readonly accept: true; readonly type: EdgeType; readonly supersedes?: string /* our own out edge to drop */ }
  | { readonly accept: false; readonly code: 'E1' | 'E2' | 'E5' | 'E6' | 'E7'; readonly message: string };

/** Options or a view that cannot be right (a programming or config error): names what was wrong. */
export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

export { isNodeId };

function show(v: unknown): string {
  const s = v === undefined ? 'nothing' : typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function wholeAtLeast(v: unknown, min: number, name: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new TopologyError(`TopologyOptions.${name}: expected an integer >= ${min}, got ${show(v)}`);
  }
}

/** Throws a TopologyError naming the first option that is wrong. */
export function checkTopologyOptions(opts: TopologyOptions): void {
  wholeAtLeast(opts.minSuccessors, 0, 'minSuccessors');
  if (opts.maxLongDistance !== undefined) wholeAtLeast(opts.maxLongDistance, 0, 'maxLongDistance');
  wholeAtLeast(opts.maxIncomingLongDistance, 0, 'maxIncomingLongDistance');
  wholeAtLeast(opts.maxOnDemand, 0, 'maxOnDemand');
  if (typeof opts.minConnectedMs !== 'number' || !(opts.minConnectedMs >= 0) || !Number.isFinite(opts.minConnectedMs)) {
    throw new TopologyError(`TopologyOptions.minConnectedMs: expected a number of ms >= 0, got ${show(opts.minConnectedMs)}`);
  }
  if (!Array.isArray(opts.staticPeers)) throw new TopologyError(`TopologyOptions.staticPeers: expected a list of node ids, got ${show(opts.staticPeers)}`);
  opts.staticPeers.forEach((p, i) => {
    if (!isNodeId(p)) throw new TopologyError(`TopologyOptions.staticPeers[${i}]: expected a node id (32 lowercase hex digits), got ${show(p)}`);
  });
  if (typeof opts.manual !== 'boolean') throw new TopologyError(`TopologyOptions.manual: expected true or false, got ${show(opts.manual)}`);
  if (opts.role !== 'switch' && opts.role !== 'leaf') throw new TopologyError(`TopologyOptions.role: expected "switch" or "leaf", got ${show(opts.role)}`);
}

function checkSelf(view: TopologyView): void {
  if (!isNodeId(view.self)) throw new TopologyError(`TopologyView.self: expected a node id (32 lowercase hex digits), got ${show(view.self)}`);
  if (typeof view.now !== 'number' || !Number.isFinite(view.now)) throw new TopologyError(`TopologyView.now: expected a number of ms, got ${show(view.now)}`);
}

// ---- the ring -------------------------------------------------------------------------------------------

/** Node ids sorted, once each; anything that is not a node id is left out (it has no place on the ring). */
function ids(list: Iterable<string>): string[] {
  return [...new Set([...list].filter(isNodeId))].sort();
}

/** The ring in order from self: [self, its successor, ...,  its predecessor]. */
export function ringOf(self: string, peers: readonly string[]): readonly string[] {
  const all = ids([...peers, self]);
  const i = all.indexOf(self);
  if (i < 0) return all; // self is not a node id: no place on the ring (nextChange refuses such a view)
  return [...all.slice(i), ...all.slice(0, i)];
}

/** The next k peers clockwise (all of them when there are fewer). */
export function successorsOf(self: string, peers: readonly string[], k: number): readonly string[] {
  const ring = ringOf(self, peers);
  return ring.slice(1, 1 + Math.max(0, Math.min(k, ring.length - 1)));
}

/** The k peers before self, nearest first: the nodes whose successor links end at self. */
export function predecessorsOf(self: string, peers: readonly string[], k: number): readonly string[] {
  const ring = ringOf(self, peers);
  const m = Math.max(0, Math.min(k, ring.length - 1));
  return ring.slice(ring.length - m).reverse();
}

function draw(rand: () => number): number {
  const u = rand();
  if (!(u >= 0 && u < 1)) throw new TopologyError(`rand() must give a number in [0, 1), gave ${show(u)}`);
  return u;
}

/**
 * A new long-distance target, by Symphony's harmonic distribution over ring distance: among n ring
 * positions, distance d (1 <= d < n) has probability ln((d+1)/d) / ln n, so P(distance <= d) = ln(d+1) / ln n.
 *
 * EdgeVPN draws floor(n·exp(log10(n)·(r−1))), with log10 where the distribution needs ln: its links come out
 * far too long (for n = 64, half of them at distance 25 or more, where Symphony has 8). It also redraws nothing, so a draw
 * may land on self, a successor or a peer it is already linked with, and the slot goes unused that round.
 *
 * Here the draw is the same distribution conditioned on the targets that are allowed: never self, never
 * one of the `successors` (default 2) peers after self nor before it (those pairs are joined by successor
 * links already: ours, or our predecessors' to us), never a peer in `exclude` (linked already, or not
 * reachable now). Each allowed peer is weighted by the probability of its distance, so there is nothing to
 * retry: the result is undefined only when no peer is allowed.
 */
export function longDistanceTarget(
  self: string,
  peers: readonly string[],
  rand: () => number,
  opts: { readonly successors?: number; readonly exclude?: Iterable<string> } = {},
): string | undefined {
  const ring = ringOf(self, peers);
  const n = ring.length;
  const k = Math.max(0, opts.successors ?? TOPOLOGY_DEFAULTS.minSuccessors);
  const exclude = new Set(opts.exclude ?? []);
  const allowed: { peer: string; cum: number }[] = [];
  let total = 0;
  for (let d = k + 1; d <= n - 1 - k; d++) {
    const peer = ring[d] as string;
    if (exclude.has(peer)) continue;
    total += Math.log1p(1 / d); // ln((d+1)/d): the harmonic mass of distance d (the 1/ln n cancels)
    allowed.push({ peer, cum: total });
  }
  if (allowed.length === 0) return undefined;
  const u = draw(rand) * total;
  return (allowed.find((a) => u < a.cum) ?? (allowed[allowed.length - 1] as { peer: string })).peer;
}

// ---- what the node wants ----------------------------------------------------------------------------------

/** The ideal picture as this node sees it now (status and tests; nextChange works from it). */
export interface TopologyPlan {
  /**
   * The peers on the ring: those available, and those we hold a connected link with that signaling has
   * lost (a working link is proof enough that the peer is there). EdgeVPN builds the ring from signaling
   * alone, so an XMPP outage makes every link look surplus; here it changes nothing.
   */
  readonly peers: readonly string[];
  /** Ring order from self. */
  readonly ring: readonly string[];
  readonly successors: readonly string[];
  /** The peers whose successor links end at us: an edge with one of them is never surplus. */
  readonly predecessors: readonly string[];
  readonly static: readonly string[];
  readonly onDemand: readonly string[];
  /** Outgoing long-distance links wanted. */
  readonly maxLongDistance: number;
}

function staticOnly(opts: TopologyOptions): boolean {
  return opts.manual || opts.role === 'leaf';
}

function edgeMap(edges: readonly Edge[]): Map<string, Edge> {
  const m = new Map<string, Edge>();
  // The driver holds one edge per peer; if a view ever has two, the first one counts.
  for (const e of edges) if (!m.has(e.peer)) m.set(e.peer, e);
  return m;
}

export function planOf(view: TopologyView, opts: TopologyOptions): TopologyPlan {
  const self = view.self;
  // A linked peer stays on the ring while signaling has lost it (an outage must not look like an empty
  // overlay), but not while signaling has it and we back it off (view.present).
  const present = new Set(view.present ?? []);
  const connected = view.edges.filter((e) => e.state === 'connected' && !present.has(e.peer)).map((e) => e.peer);
  const peers = ids([...view.available, ...connected]).filter((p) => p !== self);
  const k = opts.minSuccessors;
  const only = staticOnly(opts);
  const successors = only ? [] : successorsOf(self, peers, k);
  const predecessors = only ? [] : predecessorsOf(self, peers, k);
  const statics = ids(opts.staticPeers).filter((p) => p !== self);
  const taken = new Set([...statics, ...successors]);
  const onDemand = only ? [] : [...new Set((view.onDemand ?? []).filter((p) => isNodeId(p) && p !== self && !taken.has(p)))].slice(0, opts.maxOnDemand);
  // As EdgeVPN: long-distance links only once n >= 2×MinSuccessors, floor(log2(n+1)) of them by default.
  const maxLongDistance = only || peers.length < 2 * k ? 0 : (opts.maxLongDistance ?? Math.floor(Math.log2(peers.length + 1)));
  return { peers, ring: ringOf(self, peers), successors, predecessors, static: statics, onDemand, maxLongDistance };
}

/** What an edge is for now, whatever type it was made as (the ring moves as peers come and go). */
type Purpose = 'static' | 'successor' | 'onDemand' | 'predecessor' | 'spare';

function purposeOf(plan: TopologyPlan, e: Edge): Purpose {
  if (e.type === 'static' || plan.static.includes(e.peer)) return 'static';
  if (plan.successors.includes(e.peer)) return 'successor';
  if (plan.onDemand.includes(e.peer)) return 'onDemand';
  // Our edge with a predecessor is the link its successor rule wants: dropping it would only have the
  // predecessor make it again.
  if (plan.predecessors.includes(e.peer)) return 'predecessor';
  return 'spare';
}

function add(peer: string, type: EdgeType): TopologyAction {
  return { kind: 'add', peer, type };
}

function remove(e: Edge, reason: string): TopologyAction {
  return { kind: 'remove', peer: e.peer, type: e.type, reason };
}

/**
 * The one next change, or undefined when the topology is as wanted (or a change is under way).
 *
 * One at a time (EdgeVPN's MaxConcurrentOps 1): nothing while one of our own edges is still negotiating or
 * connecting. A peer's edge to us being set up does not wait: it is the peer's change, and it can only
 * satisfy a want of ours, never conflict with one (one edge per pair).
 *
 * Adds first, by priority static > successor > on-demand > long-distance (EdgeVPN's order); an edge of any
 * type with a peer satisfies every want for that peer. Then removes, only of our own connected edges at
 * least minConnectedMs old that serve nothing (never static, never incoming): a no-longer-wanted on-demand
 * link, then a former successor once every ideal successor is connected and at least minSuccessors
 * successor links stay (EdgeVPN keeps connected non-ideal successors until then), then long-distance links
 * beyond the number wanted, the shortest first.
 */
export function nextChange(view: TopologyView, opts: TopologyOptions, rand: () => number): TopologyAction | undefined {
  checkTopologyOptions(opts);
  checkSelf(view);
  const edges = edgeMap(view.edges);
  for (const e of edges.values()) if (e.dir === 'out' && e.state !== 'connected') return undefined;

  const plan = planOf(view, opts);
  const available = new Set(ids(view.available));
  available.delete(view.self);
  const free = (p: string): boolean => available.has(p) && !edges.has(p);

  for (const p of plan.static) if (free(p)) return add(p, 'static');
  for (const p of plan.successors) if (free(p)) return add(p, 'successor');
  for (const p of plan.onDemand) if (free(p)) return add(p, 'onDemand');

  const purpose = new Map([...edges.values()].map((e) => [e.peer, purposeOf(plan, e)]));
  const spare = (type: EdgeType): Edge[] => [...edges.values()].filter((e) => e.dir === 'out' && e.type === type && purpose.get(e.peer) === 'spare');
  const longDistance = spare('longDistance');
  if (longDistance.length < plan.maxLongDistance) {
    const unreachable = plan.peers.filter((p) => !available.has(p));
    const target = longDistanceTarget(view.self, plan.peers, rand, { successors: opts.minSuccessors, exclude: [...edges.keys(), ...unreachable] });
    if (target !== undefined) return add(target, 'longDistance');
  }

  const removable = (e: Edge): boolean => e.state === 'connected' && view.now - e.since >= opts.minConnectedMs;
  const byPeer = (a: Edge, b: Edge): number => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0);

  const onDemand = spare('onDemand').filter(removable).sort(byPeer)[0];
  if (onDemand !== undefined) return remove(onDemand, 'on-demand link no longer wanted');

  // Successor links that stay if one goes: to ideal successors (of whatever type) and former successors.
  const successorLinks = [...edges.values()].filter(
    (e) => e.state === 'connected' && (purpose.get(e.peer) === 'successor' || (purpose.get(e.peer) === 'spare' && e.type === 'successor')),
  ).length;
  const idealConnected = plan.successors.every((p) => edges.get(p)?.state === 'connected');
  if (idealConnected && successorLinks - 1 >= opts.minSuccessors) {
    const former = spare('successor').filter(removable).sort(byPeer)[0];
    if (former !== undefined) return remove(former, 'no longer a successor, and the ideal successors are connected');
  }

  // EdgeVPN keeps a long-distance link unless its ring distance fell below floor(n·exp(−log10 n)), a bound
  // that with Symphony's ln would be 1 and never apply. Here a drifted link is kept for as long as it is
  // spare: as peers join and leave uniformly, every link's distance scales with n, so the set stays harmonic
  // in relative distance, and a replacement costs a link setup (and may fail behind NAT) for no gain. A link
  // whose peer drifted into the successor or predecessor window serves the ring instead (purposeOf) and
  // frees its slot. Only links beyond the number wanted go, the shortest (least useful) first.
  if (longDistance.length > plan.maxLongDistance) {
    const distance = (p: string): number => plan.ring.indexOf(p);
    const shortest = longDistance.filter(removable).sort((a, b) => distance(a.peer) - distance(b.peer) || byPeer(a, b))[0];
    if (shortest !== undefined) {
      return remove(shortest, `more long-distance links than wanted (${longDistance.length} of ${plan.maxLongDistance} for ${plan.peers.length} peers)`);
    }
  }
  return undefined;
}

/**
 * B's answer to A's request (EdgeVPN's TOP_NEGOTIATE_EDGE at the target):
 * - E6: B is a leaf (accepts nothing), or the request cannot be right (from itself, not a node id, no type).
 * - B already holds an edge with A: while B's own request to A is still negotiating, the request from the
 *   lower node id wins (B lower: E2, B's own request supersedes; A lower: accepted, and B drops its own,
 *   `supersedes`); once agreed, E1 if it is A's edge again (A lost it: it restarted) or E7 if the pair is
 *   linked under B's own edge.
 * - E5: a long-distance request when B already has maxIncomingLongDistance incoming ones.
 * The accepted type is what B wants A for, if it does (static, successor, on-demand: such a request is
 * never refused for a limit, since B would ask for the same link itself), else the type asked.
 * EdgeVPN: it accepts successor, static and on-demand requests always, long-distance ones up to its limit.
 */
export function answerRequest(view: TopologyView, opts: TopologyOptions, req: EdgeRequest): EdgeReply {
  checkTopologyOptions(opts);
  checkSelf(view);
  if (opts.role === 'leaf') return { accept: false, code: 'E6', message: 'not accepting incoming connections: leaf device' };
  if (!isNodeId(req.from)) return { accept: false, code: 'E6', message: `not a node id: ${show(req.from)}` };
  if (req.from === view.self) return { accept: false, code: 'E6', message: 'a node does not link to itself' };
  if (!EDGE_TYPES.includes(req.type)) return { accept: false, code: 'E6', message: `unknown edge type ${show(req.type)}` };

  const edges = edgeMap(view.edges);
  const mine = edges.get(req.from);
  let collision = false;
  if (mine !== undefined) {
    if (mine.dir === 'in') return { accept: false, code: 'E1', message: 'duplicate: this node already holds your edge' };
    if (mine.state !== 'negotiating') return { accept: false, code: 'E7', message: 'this pair is already linked under this node\'s own edge' };
    if (view.self < req.from) return { accept: false, code: 'E2', message: 'collision: this node\'s own request, from the lower node id, supersedes yours' };
    collision = true;
  }

  const plan = planOf(view, opts);
  const type: EdgeType = plan.static.includes(req.from)
    ? 'static'
    : plan.successors.includes(req.from)
      ? 'successor'
      : plan.onDemand.includes(req.from)
        ? 'onDemand'
        : req.type;
  if (type === 'longDistance') {
    const incoming = view.edges.filter((e) => e.dir === 'in' && e.type === 'longDistance').length;
    if (incoming >= opts.maxIncomingLongDistance) {
      return { accept: false, code: 'E5', message: `too many incoming long-distance edges (${incoming} of ${opts.maxIncomingLongDistance})` };
    }
  }
  return collision ? { accept: true, type, supersedes: req.from } : { accept: true, type };
}

// ---- backoff ------------------------------------------------------------------------------------------------

export interface PeerBackoffOptions {
  /** The unit of a wait: after the n-th failure a peer waits baseMs × n × (1..4, at random). Default 2 s. */
  readonly baseMs?: number;
  /** After this many failures the peer is banned. Default 4 (EdgeVPN's). */
  readonly maxFails?: number;
  /** How long a ban lasts. Default 60 s. */
  readonly banMs?: number;
  /** A failure older than this is forgotten: the count starts again. Default 10 min. */
  readonly forgetMs?: number;
}

interface BackoffState {
  fails: number;
  until: number;
  last: number;
}

/**
 * Per-peer backoff: EdgeVPN's DiscoveredPeer.exclude() (randint(1,4) × 60 s × fails, banned from 4 fails
 * until presence forgives), with times a person waits for: 2 s × fails × 1..4, so a 5-node overlay settles
 * in seconds after one failure; a ban ends by itself after banMs; failures older than forgetMs do not add
 * up. Forgiving a peer that shows up again (EdgeVPN: presence) is the driver's call: succeeded().
 */
export class PeerBackoff {
  private readonly baseMs: number;
  private readonly maxFails: number;
  private readonly banMs: number;
  private readonly forgetMs: number;
  private readonly peers = new Map<string, BackoffState>();

  constructor(opts: PeerBackoffOptions = {}) {
    const ms = (v: number | undefined, dflt: number, name: string, min: number): number => {
      const x = v ?? dflt;
      if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new RangeError(`PeerBackoff ${name}: expected a number of ms >= ${min}, got ${show(v)}`);
      return x;
    };
    this.baseMs = ms(opts.baseMs, 2000, 'baseMs', 0);
    this.banMs = ms(opts.banMs, 60_000, 'banMs', 0);
    this.forgetMs = ms(opts.forgetMs, 600_000, 'forgetMs', 1);
    const max = opts.maxFails ?? 4;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`PeerBackoff maxFails: expected an integer >= 1, got ${show(opts.maxFails)}`);
    this.maxFails = max;
  }

  /** The peer failed us (refused, a link that did not come up or died young): it waits before the next try. */
  fail(peer: string, now: number, rand: () => number): void {
    this.forget(now);
    const s = this.peers.get(peer) ?? { fails: 0, until: now, last: now };
    s.fails += 1;
    s.last = now;
    s.until = s.fails >= this.maxFails ? now + this.banMs : now + this.baseMs * s.fails * (1 + Math.floor(draw(rand) * 4));
    this.peers.set(peer, s);
  }

  available(peer: string, now: number): boolean {
    const s = this.peers.get(peer);
    return s === undefined || s.until <= now;
  }

  /** The peer is fine again (a link came up, or it appeared anew on signaling): its failures are forgotten. */
  succeeded(peer: string): void {
    this.peers.delete(peer);
  }

  /** Every peer with failures on record, in id order; `until` only while it waits. */
  states(now: number): { peer: string; fails: number; until: number | undefined }[] {
    this.forget(now);
    return [...this.peers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([peer, s]) => ({ peer, fails: s.fails, until: s.until > now ? s.until : undefined }));
  }

  private forget(now: number): void {
    for (const [peer, s] of this.peers) if (s.until <= now && now - s.last >= this.forgetMs) this.peers.delete(peer);
  }
}
