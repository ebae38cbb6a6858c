/**
 * Carries out the topology's decisions (overlay/topology.ts decides; this acts): it keeps the edges this
 * node holds, asks nextChange() for the one next change whenever something happened (a peer seen or gone,
 * a link up or down, a negotiation settled) and on a slow tick, negotiates each new edge over signaling
 * (TOP_NEGOTIATE_EDGE, overlay/negotiation.ts), then has the link manager make or drop the link.
 *
 * Edge life, as EdgeVPN's (EDGEVPN.md §4) but in one place:
 *   out: negotiating (request sent) → connecting (accepted; LinkManager.connect) → connected (link up)
 *   in:  connecting (we accepted the peer's request; it dials) → connected (link up)
 * An out edge the peer refuses, or whose link fails, is dropped and the peer backed off (PeerBackoff);
 * an in edge whose link has not come up within pendingInMs is dropped. A link that goes down drops its
 * edge, and backs the peer off if it went down young (EdgeVPN excludes a peer whose link dies within
 * 180 s). A peer that appears again on signaling (it logged in anew: restarted) is forgiven.
 *
 * Only a peer we hold an edge with may open a link to us (authorize(), handed to the link manager):
 * EdgeVPN's LNK_AUTH_TUNNEL. One change at a time: no new step while one is in flight.
 *
 * Timers and randomness are injected, so tests run it against in-memory signaling and links.
 *
 * May import: base/, link/manager.ts (types), overlay/topology.ts, overlay/negotiation.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../base/logger.js';
import { type Scheduler, timerScheduler } from '../base/redial.js';
import type { SignalingLike } from '../link/manager.js';
import {
  TOP_NEGOTIATE_EDGE,
  badRequestReply,
  edgeReplyParams,
  edgeRequest,
  parseEdgeReply,
  parseEdgeRequest,
} from './negotiation.js';
import {
  type Edge,
  type EdgeType,
  PeerBackoff,
  type TopologyAction,
  type TopologyOptions,
  type TopologyView,
  answerRequest,
  nextChange,
  planOf,
} from './topology.js';

export interface DriverLinks {
  /** Resolves once a link to the peer is up; rejects when the attempt failed. */
  connect(peerId: string): Promise<unknown>;
  disconnect(peerId: string, reason: string): void;
}

export interface TopologyDriverOptions {
  readonly self: string;
  readonly overlayId: string;
  readonly topology: TopologyOptions;
  readonly signal: SignalingLike;
  readonly links: DriverLinks;
  readonly log: Logger;
  readonly scheduler?: Scheduler;
  /** ms clock. Default performance.now. */
  readonly now?: () => number;
  readonly rand?: () => number;
  readonly backoff?: PeerBackoff;
  /** The slow tick (EdgeVPN's TimerInterval, 30 s). Default 10 s. */
  readonly tickMs?: number;
  /** How long a negotiation request waits for its reply. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** How long an accepted incoming edge waits for its link. Default 30 s. */
  readonly pendingInMs?: number;
  /** Peers that heavy flows want on-demand links to (BoundedFlood's demand()); read at each step. */
  readonly onDemand?: () => readonly string[];
}

interface HeldEdge {
  readonly peer: string;
  readonly type: EdgeType;
  readonly dir: 'out' | 'in';
  state: Edge['state'];
  since: number;
  /** Our request was superseded by the peer's (collision: its request won); its reply is ignored. */
  superseded: boolean;
  /** Drops an incoming edge whose link never came up. */
  timer: { cancel(): void } | undefined;
}

export interface EdgeStatus {
  readonly peer: string;
  readonly type: EdgeType;
  readonly dir: 'out' | 'in';
  readonly state: Edge['state'];
  readonly forMs: number;
}

export interface TopologyStatus {
  readonly ring: readonly string[];
  readonly successors: readonly string[];
  readonly available: readonly string[];
  readonly edges: readonly EdgeStatus[];
  readonly backoff: ReturnType<PeerBackoff['states']>;
  /** Changes made so far, by kind. */
  readonly changes: { readonly add: number; readonly remove: number; readonly refusedOut: number; readonly refusedIn: number };
}

export class TopologyDriver {
  private readonly self: string;
  private readonly opts: TopologyDriverOptions;
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  private readonly rand: () => number;
  private readonly backoff: PeerBackoff;
  private readonly present = new Set<string>();
  /** Peers that refused as leaves (E6): not asked again until they appear anew on signaling. */
  private readonly leaves = new Set<string>();
  private readonly edges = new Map<string, HeldEdge>();
  private readonly counts = { add: 0, remove: 0, refusedOut: 0, refusedIn: 0 };
  private busy = false;
  private soon: { cancel(): void } | undefined;
  private tick: { cancel(): void } | undefined;
  private stopped = false;

  constructor(opts: TopologyDriverOptions) {
    this.opts = opts;
    this.self = opts.self;
    this.scheduler = opts.scheduler ?? timerScheduler({ unref: true });
    this.now = opts.now ?? (() => performance.now());
    this.rand = opts.rand ?? Math.random;
    this.backoff = opts.backoff ?? new PeerBackoff();
  }

  start(): void {
    this.opts.signal.onRequest(TOP_NEGOTIATE_EDGE, (params, from) => this.onRequest(params, from));
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.soon?.cancel();
    this.tick?.cancel();
    for (const e of this.edges.values()) e.timer?.cancel();
  }

  /** Signaling saw the peer (logged in). A new appearance forgives its failures: it may have restarted. */
  peerPresent(peer: string): void {
    if (peer === this.self || this.present.has(peer)) return;
    this.present.add(peer);
    this.leaves.delete(peer);
    this.backoff.succeeded(peer);
    this.kick();
  }

  /**
   * Our own signaling is back after an outage: peers backed off meanwhile failed for want of it, not of
   * their own, so every failure on record is forgiven and the topology looks again at once.
   */
  signalingBack(): void {
    const forgiven = this.backoff.states(this.now()).map((b) => b.peer);
    for (const peer of forgiven) this.backoff.succeeded(peer);
    this.opts.log.info({ forgiven }, 'topology: signaling back; peer backoffs forgiven');
    this.kick();
  }

  /** Signaling says the peer left. Its link, if any, stays: the link's own liveness decides. */
  peerGone(peer: string): void {
    if (!this.present.delete(peer)) return;
    const e = this.edges.get(peer);
    // An edge still being agreed with a peer that left will not be: drop it now rather than time out.
    if (e !== undefined && e.state === 'negotiating') this.drop(e, 'the peer left signaling');
    this.kick();
  }

  /** Whether the peer may open a link to us (the link manager's authorize): undefined if so, else why not. */
  authorize(peer: string): string | undefined {
    if (this.edges.has(peer)) return undefined;
    return this.opts.topology.role === 'leaf' ? 'a leaf node accepts no incoming links' : 'no edge was agreed with this node (TOP_NEGOTIATE_EDGE first)';
  }

  linkUp(peer: string): void {
    const e = this.edges.get(peer);
    if (e === undefined) {
      // A link we hold no edge for (its edge timed out while the link was being made): not wanted.
      this.opts.log.info({ peer }, 'topology: a link came up without an edge; closing it');
      this.opts.links.disconnect(peer, 'no edge for this link');
      return;
    }
    e.timer?.cancel();
    e.timer = undefined;
    e.state = 'connected';
    e.since = this.now();
    // Its failures are not forgotten here: a link that keeps dying young must keep its peer backing off
    // longer (failures age out after PeerBackoff's forgetMs, or a new appearance on signaling forgives).
    this.kick();
  }

  linkDown(peer: string, reason: string): void {
    const e = this.edges.get(peer);
    if (e === undefined) return;
    const young = e.state === 'connected' && this.now() - e.since < this.opts.topology.minConnectedMs;
    this.edges.delete(peer);
    e.timer?.cancel();
    if (young) this.backoff.fail(peer, this.now(), this.rand);
    this.opts.log.info({ peer, type: e.type, dir: e.dir, reason, backedOff: young }, 'topology: edge gone with its link');
    this.kick();
  }

  status(): TopologyStatus {
    const now = this.now();
    const view = this.view();
    const plan = planOf(view, this.opts.topology);
    return {
      ring: plan.ring,
      successors: plan.successors,
      available: [...view.available],
      edges: [...this.edges.values()].map((e) => ({ peer: e.peer, type: e.type, dir: e.dir, state: e.state, forMs: Math.round(now - e.since) })),
      backoff: this.backoff.states(now),
      changes: { ...this.counts },
    };
  }

  // ---- deciding -------------------------------------------------------------------------------------------

  private available(): string[] {
    const now = this.now();
    return [...this.present].filter((p) => !this.leaves.has(p) && this.backoff.available(p, now)).sort();
  }

  private view(): TopologyView {
    return {
      self: this.self,
      now: this.now(),
      available: this.available(),
      present: [...this.present],
      edges: [...this.edges.values()].map((e) => ({ peer: e.peer, type: e.type, dir: e.dir, state: e.state, since: e.since })),
      onDemand: this.opts.onDemand?.() ?? [],
    };
  }

  private arm(): void {
    if (this.stopped) return;
    this.tick = this.scheduler.schedule(this.opts.tickMs ?? 10_000, () => {
      this.tick = undefined;
      this.step();
      this.arm();
    });
  }

  /** A step soon (after the current event has been handled), once however many events arrive. */
  private kick(): void {
    if (this.stopped || this.soon !== undefined) return;
    this.soon = this.scheduler.schedule(0, () => {
      this.soon = undefined;
      this.step();
    });
  }

  private step(): void {
    if (this.stopped || this.busy) return;
    let action: TopologyAction | undefined;
    try {
      action = nextChange(this.view(), this.opts.topology, this.rand);
    } catch (e) {
      this.opts.log.error({ err: e instanceof Error ? e.message : String(e) }, 'topology: deciding the next change failed');
      return;
    }
    if (action === undefined) return;
    if (action.kind === 'remove') {
      const e = this.edges.get(action.peer);
      this.counts.remove++;
      this.opts.log.info({ peer: action.peer, type: action.type, reason: action.reason }, 'topology: removing edge');
      if (e !== undefined) this.drop(e, action.reason);
      this.opts.links.disconnect(action.peer, `topology: ${action.reason}`);
      this.kick();
      return;
    }
    this.counts.add++;
    this.busy = true;
    void this.add(action.peer, action.type).finally(() => {
      this.busy = false;
      this.kick();
    });
  }

  private async add(peer: string, type: EdgeType): Promise<void> {
    const edge: HeldEdge = { peer, type, dir: 'out', state: 'negotiating', since: this.now(), superseded: false, timer: undefined };
    this.edges.set(peer, edge);
    const edgeId = randomUUID();
    this.opts.log.info({ peer, type, edge: edgeId }, 'topology: asking for an edge');
    let reply;
    try {
      const raw = await this.opts.signal.request(peer, TOP_NEGOTIATE_EDGE, { ...edgeRequest(this.opts.overlayId, edgeId, type, this.self, peer) }, { timeoutMs: this.opts.requestTimeoutMs ?? 10_000 });
      reply = parseEdgeReply(raw);
    } catch (e) {
      if (this.edges.get(peer) !== edge || edge.superseded) return;
      this.fail(edge, `negotiation failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (this.edges.get(peer) !== edge || edge.superseded || this.stopped) return; // the peer's own request won meanwhile
    if (!reply.accept) {
      this.counts.refusedOut++;
      // E2: the peer's request to us supersedes ours, which we accept when it arrives: no backoff.
      if (reply.code === 'E2') {
        this.edges.delete(peer);
        this.opts.log.info({ peer, type, code: reply.code, message: reply.message }, 'topology: edge request lost the collision');
        return;
      }
      // E6 from a leaf will not change while it runs: it is left off the ring until it logs in anew.
      if (reply.code === 'E6' && /leaf/i.test(reply.message)) this.leaves.add(peer);
      this.fail(edge, `refused: ${reply.code} ${reply.message}`);
      return;
    }
    edge.state = 'connecting';
    edge.since = this.now();
    try {
      await this.opts.links.connect(peer);
    } catch (e) {
      if (this.edges.get(peer) !== edge) return;
      this.fail(edge, `link failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    // linkUp() marks it connected once the node has the link's port; a link that never becomes a port
    // ends in linkDown(), which drops the edge.
  }

  private fail(edge: HeldEdge, why: string): void {
    this.edges.delete(edge.peer);
    edge.timer?.cancel();
    this.backoff.fail(edge.peer, this.now(), this.rand);
    this.opts.log.info({ peer: edge.peer, type: edge.type, reason: why }, 'topology: edge not made; peer backed off');
  }

  private drop(edge: HeldEdge, why: string): void {
    this.edges.delete(edge.peer);
    edge.timer?.cancel();
    this.opts.log.debug({ peer: edge.peer, type: edge.type, reason: why }, 'topology: edge dropped');
  }

  // ---- answering ------------------------------------------------------------------------------------------

  private onRequest(params: unknown, from: string): unknown {
    let req;
    try {
      req = parseEdgeRequest(params, from, this.self, this.opts.overlayId);
    } catch (e) {
      this.counts.refusedIn++;
      const err = e instanceof Error ? e : new Error(String(e));
      this.opts.log.warn({ peer: from, err: err.message }, 'topology: bad edge request refused');
      return badRequestReply(err);
    }
    // The peer asks again for an edge we accepted but whose link it never opened: it gave that request up
    // (our reply came after its timeout: a cut underlay hands a stalled stream's backlog over late). The
    // new request replaces the stale edge; refused as a duplicate (E1), both sides would back off until
    // pendingInMs dropped it, and a late backlog can renew it again and again.
    const stale = this.edges.get(from);
    if (stale !== undefined && stale.dir === 'in' && stale.state === 'connecting') this.drop(stale, 'the peer asked for the edge again');
    let reply;
    try {
      reply = answerRequest(this.view(), this.opts.topology, { from, type: req.type });
    } catch (e) {
      this.opts.log.error({ peer: from, err: e instanceof Error ? e.message : String(e) }, 'topology: answering an edge request failed');
      return { is_accepted: false, code: 'E6', message: 'internal error; try later' };
    }
    if (!reply.accept) {
      this.counts.refusedIn++;
      this.opts.log.info({ peer: from, type: req.type, code: reply.code, message: reply.message }, 'topology: edge request refused');
      return edgeReplyParams(reply);
    }
    const mine = this.edges.get(from);
    if (mine !== undefined) {
      // Our own request to this peer loses the collision: theirs is the edge from now on.
      mine.superseded = true;
      mine.timer?.cancel();
      this.edges.delete(from);
    }
    const edge: HeldEdge = { peer: from, type: reply.type, dir: 'in', state: 'connecting', since: this.now(), superseded: false, timer: undefined };
    edge.timer = this.scheduler.schedule(this.opts.pendingInMs ?? 30_000, () => {
      edge.timer = undefined;
      if (this.edges.get(from) !== edge || edge.state !== 'connecting') return;
      this.drop(edge, 'its link did not come up');
      this.kick();
    });
    this.edges.set(from, edge);
    this.opts.log.info({ peer: from, type: reply.type, edge: req.edgeId }, 'topology: edge request accepted');
    return edgeReplyParams(reply);
  }
}
