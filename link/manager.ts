/**
 * The link manager: which TinCan links a node has, their set-up over signaling, timeouts, rollback,
 * retries with backoff, and teardown. EdgeVPN's LinkManager (EDGEVPN.md §2) without its processes: it
 * does what it is told (connect, disconnect); which peers to link to is overlay policy, above it.
 *
 * The decisions are link/handshake.ts's transition function, one slot per peer; this file carries out
 * its actions (makes links, sends requests, arms timers) and turns what happens (replies, timeouts, a
 * link up or gone) into its events. Every incoming request is parsed and checked before it counts;
 * a bad one is refused with a reason and counted, and nothing a peer sends is thrown past a handler.
 *
 * Timeouts: each request waits stepMs for its reply (default 10 s); a link not up setupMs after its
 * attempt began (connect() on the initiator, the request's arrival on the responder) is rolled back
 * (default 20 s, where EdgeVPN waits 130 s: trickle ICE and one process make set-up take well under a
 * second on a working path). Rollback closes the half-made link, forgets it, tells the peer
 * (LNK_REMOVE_LINK, best effort) and emits no 'up'. A failed set-up makes the next attempt with that
 * peer wait (base/redial.ts's Backoff, 1 s doubling to 30 s by default), reset once a link is up.
 *
 * Events: 'up' (the link is up: add its port to the switch), 'down' (a link that was up is gone: its
 * port must go; the link is closed by then), 'failed' (a link ended before it was up), 'error'
 * (a defect inside the manager; emitted only when someone listens, logged otherwise).
 *
 * May import: node: modules, base/, switch/port.ts (types), link/.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Logger, nullLogger } from '../base/logger.js';
import { Backoff, type BackoffOptions } from '../base/redial.js';
import { macToText, parseMac } from '../base/addr.js';
import type { FramePort } from '../switch/port.js';
import type { NodeCert } from './cert.js';
import type { TinCanConfig } from './config.js';
import { LinkError, type LinkErrorCode } from './errors.js';
import {
  type CandidatesReply,
  type EndpointReply,
  type EndpointRequest,
  type HandshakeAction,
  type HandshakeEvent,
  type LinkEnd,
  type LinkRole,
  LNK,
  type NodeData,
  type RefusalCode,
  type Refused,
  type RemoveReply,
  type Slot,
  isNodeId,
  parseAck,
  parseCandidatesRequest,
  parseEndpointReply,
  parseEndpointRequest,
  parseRemoveRequest,
  portNameFor,
  refused,
  transition,
  LIMITS,
} from './handshake.js';
import { PeerRateLimiter, type RateLimit } from './rate.js';
import { type IceCandidate, type LocalDescription, TinCanLink, type TinCanStats } from './tincan.js';

/**
 * The signaling the manager needs (link/signal.ts's client is one): a request to a node that resolves
 * with the peer handler's reply, and handlers for requests from peers. Structural, so a test can pass
 * an in-memory bus.
 */
export interface SignalingLike {
  request(nodeId: string, action: string, params: Record<string, unknown>, opts: { timeoutMs: number }): Promise<unknown>;
  onRequest(action: string, handler: (params: unknown, fromNodeId: string) => unknown): unknown;
}

export interface LinkManagerOptions {
  /** This node's id: 32 lowercase hex digits. */
  readonly nodeId: string;
  readonly overlayId: string;
  /** The node's MAC (EdgeVPN's NodeData MAC), `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  readonly signal: SignalingLike;
  readonly cert: NodeCert;
  /** What every link shares (link/config.ts). */
  readonly link: TinCanConfig;
  readonly log?: Logger;
  readonly timeouts?: { readonly stepMs?: number; readonly setupMs?: number };
  /** Backoff between failed set-ups with one peer (default 1 s doubling to 30 s). */
  readonly backoff?: BackoffOptions;
  /** Clock for upAt and setupMs (default Date.now). */
  readonly now?: () => number;
  /**
   * Whether a peer may open a link to us: undefined to let it, else the reason it may not (sent back
   * as an 'unauthorized' refusal). Asked for each new link request; the overlay's topology answers it
   * (EdgeVPN's LNK_AUTH_TUNNEL: only a peer whose edge was agreed gets a link). Default: every peer.
   */
  readonly authorize?: (peerId: string) => string | undefined;
  /** New links a peer may ask us for (NEW_LINK_RATE by default); beyond, refused 'rate-limited'. */
  readonly newLinkRate?: RateLimit;
  /** Links being set up at once at most, both roles (DEFAULT_MAX_SETTING_UP); requests beyond are refused 'busy'. */
  readonly maxSettingUp?: number;
}

export const DEFAULT_STEP_MS = 10_000;
export const DEFAULT_SETUP_MS = 20_000;
export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 1000, maxMs: 30_000 };
/**
 * New links one peer may ask us for: 5 at once, then one every 2 s. Each costs a PeerConnection (sockets,
 * ICE gathering, a DTLS handshake) until it is up or rolled back. An honest peer asks once per set-up and
 * again only after its backoff (1 s doubling) or a collision, so it never meets this; a peer asking with
 * ever new link ids is refused instead of making us build and tear down a PeerConnection per request.
 */
export const NEW_LINK_RATE: RateLimit = { burst: 5, perSecond: 0.5 };
/**
 * Links being set up (not yet up) at once, at most. A node links to a handful of peers (successors,
 * long-distance edges: tens at most); 64 leaves room for a whole overlay restarting together.
 */
export const DEFAULT_MAX_SETTING_UP = 64;

export interface LinkInfo {
  readonly peerId: string;
  readonly linkId: string;
  readonly role: LinkRole;
  readonly state: 'negotiating' | 'connecting' | 'up' | 'closed';
  /** ≤ 15 bytes: "tf" + the peer id's first 10 hex digits (13 if that name is taken). */
  readonly portName: string;
  /** The peer node's MAC, once its node data arrived. */
  readonly peerMac?: string;
  /** When the link came up (now() clock), and how long from connect() (or the peer's request) until then. */
  readonly upAt?: number;
  readonly setupMs?: number;
  /** The link's stats (RTT, bytes, frames, the selected candidate pair and its types); in links(). */
  readonly stats?: TinCanStats;
}

export interface LinkManagerEvents {
  up: [info: LinkInfo, port: FramePort];
  down: [info: LinkInfo, reason: string];
  /** A link ended before it was up (set-up failed, refused, timed out, or disconnect() before up). */
  failed: [info: LinkInfo, reason: string];
  error: [error: Error];
}

/** What the manager counted: attempts, outcomes, and refusals each way by code. */
export interface LinkManagerCounters {
  /** Links we started (initiator) and requests we accepted (responder). */
  readonly offered: number;
  readonly accepted: number;
  readonly up: number;
  readonly down: number;
  readonly failed: number;
  /** Our links dropped or refused in favour of the peer's in a collision. */
  readonly superseded: number;
  /** Requests from peers we refused, by code (bad-params: malformed; see handshake.ts REFUSAL_CODES). */
  readonly refusedIn: Readonly<Partial<Record<RefusalCode, number>>>;
  /** Our requests that peers refused, by code. */
  readonly refusedOut: Readonly<Partial<Record<RefusalCode, number>>>;
  /** Replies from peers that were not the action's shape. */
  readonly badReplies: number;
  /** Candidates from peers that the link could not use (each refused by libdatachannel). */
  readonly candidatesRefused: number;
}

/** One link, made or being made. */
interface Entry {
  readonly peerId: string;
  readonly linkId: string;
  readonly role: LinkRole;
  readonly portName: string;
  readonly link: TinCanLink;
  readonly startedAt: number;
  state: LinkInfo['state'];
  peerMac: string | undefined;
  upAt: number | undefined;
  setupMs: number | undefined;
  /** Responder: the reply for this link's request (a repeated request gets it again) and what it answered. */
  answer: Promise<EndpointReply> | undefined;
  offerKey: string | undefined;
  /** Local candidates waiting for this turn's LNK_ADD_PEER_CAS. */
  readonly outbox: IceCandidate[];
  flush: NodeJS.Immediate | undefined;
  /** Remote candidates already added (a repeated LNK_ADD_PEER_CAS adds nothing twice). */
  readonly seen: Set<string>;
  setupTimer: NodeJS.Timeout | undefined;
  /** Why it failed, for the error a waiting connect() gets. */
  failCode: LinkErrorCode | undefined;
  /**
   * Inside a signaling call on the link: a link that refuses a description is gone before the call
   * throws; the caller then reports the failure with the error's code, not the 'gone' handler.
   */
  inStep: boolean;
}

interface Waiter {
  resolve(info: LinkInfo): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** What the manager keeps per peer. */
interface Peer {
  slot: Slot | undefined;
  readonly backoff: Backoff;
  /** No new attempt of ours before this time (now() clock). */
  retryAt: number;
  readonly waiters: Waiter[];
  /** A connect() held back by backoff. */
  attemptTimer: NodeJS.Timeout | undefined;
  /** The first connect() still waiting, for setupMs. */
  askedAt: number | undefined;
}

/** What an action needs that the pure event does not carry. */
interface Context {
  readonly request?: EndpointRequest;
  readonly answer?: NodeData;
  readonly candidates?: readonly IceCandidate[];
}

/** Link ids of ended links kept to refuse late duplicates as stale, at most. */
const ENDED_KEEP = 1024;
/** close() waits this long at most for the peers to take their LNK_REMOVE_LINK. */
const CLOSE_GRACE_MS = 1000;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The code for a failed signaling request: link/signal.ts's own (ETIMEDOUT, EPEER, EOFFLINE, ...), or
 * for another signaling, ETIMEDOUT when its error says it timed out, else ESIGNALING.
 */
function signalingCode(e: unknown): LinkErrorCode {
  if (e instanceof LinkError) return e.code;
  if (!(e instanceof Error)) return 'ESIGNALING';
  const code = (e as { code?: unknown }).code;
  return code === 'ETIMEDOUT' || /time(d)? ?out/i.test(`${e.name} ${e.message}`) ? 'ETIMEDOUT' : 'ESIGNALING';
}

export class LinkManager extends EventEmitter<LinkManagerEvents> {
  readonly nodeId: string;
  readonly overlayId: string;
  readonly mac: string;
  readonly stepMs: number;
  readonly setupMs: number;

  private readonly signal: SignalingLike;
  private readonly cert: NodeCert;
  private readonly linkConfig: TinCanConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly backoffOptions: BackoffOptions;
  private readonly authorize: ((peerId: string) => string | undefined) | undefined;
  private readonly newLinks: PeerRateLimiter;
  private readonly maxSettingUp: number;
  private readonly peers = new Map<string, Peer>();
  private readonly entries = new Map<string, Entry>();
  private readonly ended = new Map<string, number>();
  private readonly removals = new Set<Promise<unknown>>();
  private started = false;
  private isClosed = false;
  private readonly c = {
    offered: 0,
    accepted: 0,
    up: 0,
    down: 0,
    failed: 0,
    superseded: 0,
    badReplies: 0,
    candidatesRefused: 0,
    refusedIn: {} as Partial<Record<RefusalCode, number>>,
    refusedOut: {} as Partial<Record<RefusalCode, number>>,
  };

  constructor(opts: LinkManagerOptions) {
    super();
    if (!isNodeId(opts.nodeId)) throw new RangeError(`link manager: nodeId ${JSON.stringify(opts.nodeId)} is not 32 lowercase hex digits`);
    if (typeof opts.overlayId !== 'string' || opts.overlayId === '') throw new RangeError('link manager: overlayId is empty');
    this.nodeId = opts.nodeId;
    this.overlayId = opts.overlayId;
    this.mac = macToText(parseMac(opts.mac)); // AddrError names a bad one
    this.signal = opts.signal;
    this.cert = opts.cert;
    this.linkConfig = opts.link;
    this.log = opts.log ?? nullLogger;
    this.now = opts.now ?? Date.now;
    this.stepMs = opts.timeouts?.stepMs ?? DEFAULT_STEP_MS;
    this.setupMs = opts.timeouts?.setupMs ?? DEFAULT_SETUP_MS;
    for (const [k, v] of [['stepMs', this.stepMs], ['setupMs', this.setupMs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`link manager: timeouts.${k} must be a whole number of ms ≥ 1, got ${v}`);
    }
    this.backoffOptions = opts.backoff ?? DEFAULT_BACKOFF;
    this.authorize = opts.authorize;
    this.newLinks = new PeerRateLimiter(opts.newLinkRate ?? NEW_LINK_RATE);
    this.maxSettingUp = opts.maxSettingUp ?? DEFAULT_MAX_SETTING_UP;
    if (!Number.isInteger(this.maxSettingUp) || this.maxSettingUp < 1) throw new RangeError(`link manager: maxSettingUp must be a whole number ≥ 1, got ${this.maxSettingUp}`);
    new Backoff(this.backoffOptions); // checks them now (RangeError), not at the first failure
  }

  /** Registers the handlers for the peers' requests. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.signal.onRequest(LNK.REQ_LINK_ENDPT, (params, from) => this.guarded(LNK.REQ_LINK_ENDPT, from, () => this.onEndpointRequest(params, from)));
    this.signal.onRequest(LNK.ADD_PEER_CAS, (params, from) => this.guarded(LNK.ADD_PEER_CAS, from, () => this.onCandidates(params, from)));
    this.signal.onRequest(LNK.REMOVE_LINK, (params, from) => this.guarded(LNK.REMOVE_LINK, from, () => this.onRemove(params, from)));
  }

  /**
   * A link with peerId: resolves when one is up (at once if it is). Idempotent: calls while a link is
   * being made (by either side) wait for that one. Rejects with a LinkError when no link is up in time
   * (ETIMEDOUT), the peer refused (EREFUSED), or the set-up failed otherwise; a later call tries again,
   * after the backoff for that peer.
   */
  connect(peerId: string): Promise<LinkInfo> {
    if (!this.started) return Promise.reject(new LinkError('ESIGNALING', 'link manager: connect() before start()'));
    if (this.isClosed) return Promise.reject(new LinkError('ECLOSED', 'link manager: connect() after close()'));
    if (!isNodeId(peerId)) return Promise.reject(new RangeError(`link manager: peer id ${JSON.stringify(peerId)} is not 32 lowercase hex digits`));
    if (peerId === this.nodeId) return Promise.reject(new RangeError(`link manager: ${peerId} is this node; it cannot link to itself`));
    const p = this.peer(peerId);
    const cur = this.current(peerId);
    if (cur?.state === 'up') return Promise.resolve(this.info(cur));
    return new Promise<LinkInfo>((resolve, reject) => {
      const wait = Math.max(0, p.retryAt - this.now());
      const budget = wait + this.stepMs + this.setupMs;
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.settle(p, w);
          reject(new LinkError('ETIMEDOUT', `link manager: no link with ${peerId} within ${budget} ms of connect()`));
        }, budget),
      };
      w.timer.unref();
      p.waiters.push(w);
      p.askedAt ??= this.now();
      if (p.slot === undefined) this.attempt(peerId, wait);
    });
  }

  /** Closes the link with peerId (made or being made) and tells the peer; 'down' if it was up. */
  disconnect(peerId: string, reason = 'disconnected by its node'): void {
    const p = this.peers.get(peerId);
    if (p === undefined) return;
    if (p.attemptTimer !== undefined) clearTimeout(p.attemptTimer);
    p.attemptTimer = undefined;
    this.dispatch(peerId, { type: 'disconnect', reason });
    this.rejectWaiters(p, new LinkError('ECLOSED', `link manager: link with ${peerId}: ${reason}`));
  }

  /** Every link, made or being made, with its stats. */
  links(): LinkInfo[] {
    return [...this.entries.values()].map((e) => this.info(e, true));
  }

  counters(): LinkManagerCounters {
    return { ...this.c, refusedIn: { ...this.c.refusedIn }, refusedOut: { ...this.c.refusedOut } };
  }

  /** Closes every link (those up emit 'down'), tells the peers, and refuses requests from now on. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true; // first: a 'down' listener calling connect() now is refused
    for (const peerId of this.peers.keys()) this.disconnect(peerId, 'its link manager closed');
    if (this.removals.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.removals]), new Promise((r) => (timer = setTimeout(r, Math.min(CLOSE_GRACE_MS, this.stepMs))))]);
    clearTimeout(timer);
  }

  // ---- the state machine ---------------------------------------------------------------------------------

  private peer(peerId: string): Peer {
    let p = this.peers.get(peerId);
    if (p === undefined) {
      p = { slot: undefined, backoff: new Backoff(this.backoffOptions), retryAt: 0, waiters: [], attemptTimer: undefined, askedAt: undefined };
      this.peers.set(peerId, p);
    }
    return p;
  }

  /** The entry of the peer's slot, if it has one. */
  private current(peerId: string): Entry | undefined {
    const slot = this.peers.get(peerId)?.slot;
    return slot === undefined ? undefined : this.entries.get(slot.linkId);
  }

  private isCurrent(e: Entry): boolean {
    return this.peers.get(e.peerId)?.slot?.linkId === e.linkId && this.entries.get(e.linkId) === e;
  }

  /**
   * Runs one event through the transition function and carries out its actions. The slot is committed
   * first, so an action that causes another event (a link refusing a description emits 'gone' at once)
   * sees the new state. Returns the reply for a request event, if the actions made one.
   */
  private dispatch(peerId: string, event: HandshakeEvent, ctx: Context = {}): Promise<unknown> | unknown {
    const p = this.peer(peerId);
    const t = transition(this.nodeId, peerId, p.slot, event);
    p.slot = t.slot;
    if (t.slot !== undefined && t.slot.phase !== 'up') {
      const e = this.entries.get(t.slot.linkId);
      if (e !== undefined) e.state = t.slot.phase;
    }
    let reply: Promise<unknown> | unknown;
    for (const a of t.actions) {
      const r = this.act(peerId, a, ctx);
      if (r !== undefined) reply = r;
    }
    return reply;
  }

  private act(peerId: string, a: HandshakeAction, ctx: Context): Promise<unknown> | unknown {
    switch (a.type) {
      case 'offer': {
        const e = this.makeEntry(peerId, a.linkId, 'initiator');
        if (e !== undefined) {
          this.c.offered++;
          this.offer(e).catch((err: unknown) => this.defect(`offer to ${peerId}`, err));
        }
        return undefined;
      }
      case 'answer': {
        const req = ctx.request;
        if (req === undefined) throw new Error('answer without its request');
        const e = this.makeEntry(peerId, a.linkId, 'responder');
        if (e === undefined) return refused('bad-offer', `${this.nodeId} could not make a link for ${a.linkId}`);
        this.c.accepted++;
        e.offerKey = `${req.node_data.fpr}\n${req.node_data.sdp}`;
        e.peerMac = req.node_data.mac;
        e.answer = this.answer(e, req.node_data);
        return e.answer;
      }
      case 'answer-again': {
        const e = this.entries.get(a.linkId);
        const req = ctx.request;
        if (e?.answer === undefined || req === undefined) return refused('unknown-link', `no answer for link ${a.linkId}`);
        if (e.offerKey !== `${req.node_data.fpr}\n${req.node_data.sdp}`) {
          return refused('conflict', `link ${a.linkId} was requested before with another offer or fingerprint`);
        }
        this.log.debug({ peer: peerId, linkId: a.linkId }, 'repeated link request: the same answer again');
        return e.answer;
      }
      case 'apply-answer': {
        const e = this.entries.get(a.linkId);
        const ans = ctx.answer;
        if (e === undefined || ans === undefined) return undefined;
        e.peerMac = ans.mac;
        e.inStep = true;
        try {
          e.link.applyAnswer(ans.sdp, ans.fpr);
        } catch (err) {
          e.failCode = err instanceof LinkError ? err.code : 'ESDP';
          this.failed(e, `the answer from ${peerId} was refused: ${message(err)}`);
        } finally {
          e.inStep = false;
        }
        return undefined;
      }
      case 'add-candidates': {
        const e = this.entries.get(a.linkId);
        if (e === undefined) return refused('unknown-link', `no link ${a.linkId}`);
        let added = 0;
        for (const c of ctx.candidates ?? []) {
          const key = `${c.mid} ${c.candidate}`;
          if (e.seen.has(key)) continue; // a repeated request: added already
          if (e.seen.size >= LIMITS.candidatesPerLink) {
            this.c.candidatesRefused++; // more than any host has: the rest is not kept
            continue;
          }
          e.seen.add(key);
          try {
            e.link.addRemoteCandidate(c);
            added++;
          } catch (err) {
            this.c.candidatesRefused++;
            this.log.debug({ peer: peerId, linkId: a.linkId, candidate: c.candidate, err: message(err) }, 'candidate refused');
          }
        }
        const reply: CandidatesReply = { status: 'accepted', added };
        return reply;
      }
      case 'ack': {
        const reply: RemoveReply = { status: 'accepted' };
        return reply;
      }
      case 'refuse':
        return refused(a.code, a.message);
      case 'up': {
        const e = this.entries.get(a.linkId);
        if (e !== undefined) this.up(e);
        return undefined;
      }
      case 'close':
        this.closeEntry(peerId, a.linkId, a.end, a.reason, a.tellPeer);
        return undefined;
      default:
        return assertNever(a);
    }
  }

  /** Makes the link of a new slot; undefined (and the slot failed) when it cannot be made. */
  private makeEntry(peerId: string, linkId: string, role: LinkRole): Entry | undefined {
    const portName = portNameFor(peerId, (n) => [...this.entries.values()].some((x) => x.portName === n && x.peerId !== peerId));
    let link: TinCanLink;
    try {
      if (portName === undefined) throw new Error(`no free port name for peer ${peerId}`);
      link = new TinCanLink({ name: portName, role, config: this.linkConfig, cert: this.cert, peer: peerId, log: this.log });
    } catch (err) {
      this.log.error({ peer: peerId, linkId, err: message(err) }, 'cannot make a link');
      this.dispatch(peerId, { type: 'failed', linkId, reason: `cannot make a link: ${message(err)}` });
      return undefined;
    }
    const e: Entry = {
      peerId,
      linkId,
      role,
      portName,
      link,
      startedAt: this.now(),
      state: 'negotiating',
      peerMac: undefined,
      upAt: undefined,
      setupMs: undefined,
      answer: undefined,
      offerKey: undefined,
      outbox: [],
      flush: undefined,
      seen: new Set(),
      setupTimer: undefined,
      failCode: undefined,
      inStep: false,
    };
    this.entries.set(linkId, e);
    link.on('gone', (reason) => this.safely('link gone', () => {
      if (!e.inStep) this.failed(e, `the link is gone: ${reason}`);
    }));
    link.signals.on('candidate', (c) => this.safely('local candidate', () => {
      if (!this.isCurrent(e)) return;
      e.outbox.push(c);
      e.flush ??= setImmediate(() => this.safely('candidates', () => this.flushCandidates(e)));
    }));
    link.whenUp().then(
      () => this.safely('link up', () => this.dispatch(peerId, { type: 'up', linkId })),
      () => undefined, // closed before it was up: its 'gone' or our own close said so
    );
    e.setupTimer = setTimeout(() => this.safely('setup timeout', () => {
      e.failCode = 'ETIMEDOUT';
      this.failed(e, `not up within ${this.setupMs} ms (setupMs)`);
    }), this.setupMs);
    e.setupTimer.unref();
    this.log.debug({ peer: peerId, linkId, role, port: portName }, 'link attempt');
    return e;
  }

  private failed(e: Entry, reason: string): void {
    this.dispatch(e.peerId, { type: 'failed', linkId: e.linkId, reason });
  }

  /** Initiator: the offer, LNK_REQ_LINK_ENDPT, and the reply. */
  private async offer(e: Entry): Promise<void> {
    let offer: LocalDescription;
    try {
      offer = await e.link.createOffer();
    } catch (err) {
      return this.failed(e, `could not make the offer: ${message(err)}`);
    }
    if (!this.isCurrent(e)) return;
    const req: EndpointRequest = {
      overlay_id: this.overlayId,
      link_id: e.linkId,
      node_data: { uid: this.nodeId, mac: this.mac, fpr: offer.fingerprint, sdp: offer.sdp },
    };
    let raw: unknown;
    try {
      raw = await this.signal.request(e.peerId, LNK.REQ_LINK_ENDPT, { ...req }, { timeoutMs: this.stepMs });
    } catch (err) {
      e.failCode = signalingCode(err);
      return this.failed(e, `${LNK.REQ_LINK_ENDPT} to ${e.peerId}: ${message(err)}`);
    }
    if (!this.isCurrent(e)) return;
    const reply = parseEndpointReply(raw, e.peerId, this.overlayId, e.linkId);
    if (!reply.ok) {
      this.c.badReplies++;
      e.failCode = 'ESIGNALING';
      return this.failed(e, reply.message);
    }
    const r = reply.value;
    if (r.status === 'refused') {
      this.c.refusedOut[r.code] = (this.c.refusedOut[r.code] ?? 0) + 1;
      e.failCode = 'EREFUSED';
      this.dispatch(e.peerId, { type: 'refused', linkId: e.linkId, code: r.code, message: r.message });
      return;
    }
    this.dispatch(e.peerId, { type: 'answer', linkId: e.linkId }, { answer: r.node_data });
  }

  /** Responder: applies the offer and makes the answer (the reply to the request). */
  private async answer(e: Entry, offer: NodeData): Promise<EndpointReply> {
    let ans: LocalDescription;
    try {
      e.inStep = true; // the offer is checked and applied before acceptOffer() first awaits
      const answering = e.link.acceptOffer(offer.sdp, offer.fpr);
      e.inStep = false;
      ans = await answering;
    } catch (err) {
      e.inStep = false;
      if (!this.isCurrent(e)) return refused('stale', `link ${e.linkId} ended while its answer was being made`);
      e.failCode = err instanceof LinkError ? err.code : 'ESDP';
      this.failed(e, `the offer was refused: ${message(err)}`);
      return refused('bad-offer', `${this.nodeId} refused the offer for link ${e.linkId}: ${message(err)}`);
    }
    if (!this.isCurrent(e)) return refused('stale', `link ${e.linkId} ended while its answer was being made`);
    this.dispatch(e.peerId, { type: 'answered', linkId: e.linkId });
    return { status: 'accepted', overlay_id: this.overlayId, link_id: e.linkId, node_data: { uid: this.nodeId, mac: this.mac, fpr: ans.fingerprint, sdp: ans.sdp } };
  }

  /** Sends this turn's local candidates in one LNK_ADD_PEER_CAS (several if there are very many). */
  private flushCandidates(e: Entry): void {
    e.flush = undefined;
    if (!this.isCurrent(e)) return;
    const batch = e.outbox.splice(0, LIMITS.candidatesPerRequest);
    if (e.outbox.length > 0) e.flush = setImmediate(() => this.safely('candidates', () => this.flushCandidates(e)));
    const params = { overlay_id: this.overlayId, link_id: e.linkId, candidates: batch.map((c) => ({ candidate: c.candidate, mid: c.mid })) };
    this.signal.request(e.peerId, LNK.ADD_PEER_CAS, params, { timeoutMs: this.stepMs }).then(
      (raw) => {
        const r = parseAck(raw, LNK.ADD_PEER_CAS);
        if (!r.ok) {
          this.c.badReplies++;
          this.casFailed(e, r.message, 'ESIGNALING');
        } else if (r.value.status === 'refused') {
          const x: Refused = r.value;
          this.c.refusedOut[x.code] = (this.c.refusedOut[x.code] ?? 0) + 1;
          this.casFailed(e, `${e.peerId} refused our candidates (${x.code}): ${x.message}`, 'EREFUSED');
        }
      },
      (err: unknown) => this.casFailed(e, `${LNK.ADD_PEER_CAS} to ${e.peerId}: ${message(err)}`, signalingCode(err)),
    );
  }

  /** A candidates step failed: a link not up yet is rolled back; one that is up does not need them. */
  private casFailed(e: Entry, reason: string, code: LinkErrorCode): void {
    if (!this.isCurrent(e)) return;
    if (e.state === 'up') {
      this.log.debug({ peer: e.peerId, linkId: e.linkId, reason }, 'candidates not delivered to a link that is up');
      return;
    }
    e.failCode = code;
    this.failed(e, reason);
  }

  private up(e: Entry): void {
    const p = this.peer(e.peerId);
    if (e.setupTimer !== undefined) clearTimeout(e.setupTimer);
    e.setupTimer = undefined;
    e.state = 'up';
    e.upAt = this.now();
    e.setupMs = e.upAt - Math.min(e.startedAt, p.askedAt ?? e.startedAt);
    p.backoff.reset();
    p.retryAt = 0;
    this.c.up++;
    const info = this.info(e);
    this.log.info({ peer: e.peerId, linkId: e.linkId, role: e.role, port: e.portName, setupMs: e.setupMs }, 'link up');
    for (const w of p.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(info);
    }
    p.askedAt = undefined;
    this.emit('up', info, e.link);
  }

  private closeEntry(peerId: string, linkId: string, end: LinkEnd, reason: string, tellPeer: boolean): void {
    const p = this.peer(peerId);
    const e = this.entries.get(linkId);
    this.ended.set(linkId, this.now());
    if (this.ended.size > ENDED_KEEP) this.ended.delete(this.ended.keys().next().value as string);
    if (e !== undefined) {
      this.entries.delete(linkId);
      if (e.setupTimer !== undefined) clearTimeout(e.setupTimer);
      if (e.flush !== undefined) clearImmediate(e.flush);
      e.setupTimer = e.flush = undefined;
      e.state = 'closed';
      e.link.close();
    }
    if (tellPeer) this.tellRemoved(peerId, linkId, reason);
    const info: LinkInfo = e !== undefined ? this.info(e) : { peerId, linkId, role: 'initiator', state: 'closed', portName: '' };
    switch (end) {
      case 'down':
        this.c.down++;
        this.log.info({ peer: peerId, linkId, reason }, 'link down');
        this.emit('down', info, reason);
        return;
      case 'superseded':
        this.c.superseded++;
        this.log.debug({ peer: peerId, linkId, reason }, 'link superseded');
        return;
      case 'failed': {
        this.c.failed++;
        const delay = p.backoff.next();
        p.retryAt = this.now() + delay;
        this.log.info({ peer: peerId, linkId, reason, retryInMs: delay }, 'link set-up failed: rolled back');
        if (e !== undefined) this.emit('failed', info, reason);
        if (p.slot === undefined) this.rejectWaiters(p, new LinkError(e?.failCode ?? 'ECLOSED', `link manager: link with ${peerId} failed: ${reason}`));
        return;
      }
      case 'aborted':
        this.log.info({ peer: peerId, linkId, reason }, 'link set-up aborted');
        if (e !== undefined) this.emit('failed', info, reason);
        if (p.slot === undefined) this.rejectWaiters(p, new LinkError('ECLOSED', `link manager: link with ${peerId}: ${reason}`));
        return;
      default:
        return assertNever(end);
    }
  }

  private tellRemoved(peerId: string, linkId: string, reason: string): void {
    const params = { overlay_id: this.overlayId, link_id: linkId, reason: reason.slice(0, LIMITS.reasonBytes) };
    const r = this.signal.request(peerId, LNK.REMOVE_LINK, params, { timeoutMs: this.stepMs }).then(
      () => undefined,
      (err: unknown) => this.log.debug({ peer: peerId, linkId, err: message(err) }, `${LNK.REMOVE_LINK} not delivered (best effort)`),
    );
    this.removals.add(r);
    void r.finally(() => this.removals.delete(r));
  }

  /** Starts an attempt now, or after the peer's backoff. */
  private attempt(peerId: string, wait: number): void {
    const p = this.peer(peerId);
    if (p.attemptTimer !== undefined) return;
    const go = (): void => {
      p.attemptTimer = undefined;
      if (this.isClosed || p.waiters.length === 0) return;
      this.dispatch(peerId, { type: 'connect', linkId: randomUUID().replaceAll('-', '') });
    };
    if (wait <= 0) return go();
    this.log.debug({ peer: peerId, waitMs: wait }, 'connect held back by backoff');
    p.attemptTimer = setTimeout(() => this.safely('connect', go), wait);
    p.attemptTimer.unref();
  }

  private settle(p: Peer, w: Waiter): void {
    const i = p.waiters.indexOf(w);
    if (i >= 0) p.waiters.splice(i, 1);
    if (p.waiters.length === 0) p.askedAt = undefined;
  }

  private rejectWaiters(p: Peer, err: Error): void {
    for (const w of p.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    p.askedAt = undefined;
  }

  // ---- requests from peers -------------------------------------------------------------------------------

  /** Runs a handler; whatever it throws becomes a refusal ('internal') and an 'error', never an exception for signaling. */
  private async guarded(action: string, from: unknown, fn: () => Promise<unknown> | unknown): Promise<unknown> {
    try {
      if (this.isClosed) return this.refuse(refused('closed', `${this.nodeId}'s link manager is closed`));
      if (!isNodeId(from) || from === this.nodeId) return this.refuse(refused('bad-params', `${action}: sender ${JSON.stringify(from)} is not a peer node id`));
      return await fn();
    } catch (err) {
      this.defect(`${action} from ${String(from)}`, err);
      return this.refuse(refused('internal', `${this.nodeId} failed to handle ${action}: ${message(err)}`));
    }
  }

  /** Counts a refusal we send (and returns it). */
  private refuse(r: Refused): Refused {
    this.c.refusedIn[r.code] = (this.c.refusedIn[r.code] ?? 0) + 1;
    return r;
  }

  /** Counts the refusal in a reply, whichever way it was made. */
  private async counted<T>(reply: Promise<unknown> | unknown): Promise<T> {
    const r = (await reply) as T;
    if (typeof r === 'object' && r !== null && (r as { status?: unknown }).status === 'refused') this.refuse(r as unknown as Refused);
    return r;
  }

  private parseFailure(p: { ok: false; message: string; wrongOverlay?: true }, from: string): Refused {
    this.log.warn({ peer: from, err: p.message }, 'request refused');
    return refused(p.wrongOverlay ? 'wrong-overlay' : 'bad-params', p.message);
  }

  private async onEndpointRequest(params: unknown, from: string): Promise<unknown> {
    const p = parseEndpointRequest(params, from, this.overlayId);
    if (!p.ok) return this.counted(this.parseFailure(p, from));
    const req = p.value;
    const why = this.entries.has(req.link_id) ? undefined : this.authorize?.(from);
    if (why !== undefined) {
      this.log.info({ peer: from, link: req.link_id, reason: why }, 'link request refused: not authorized');
      return this.counted(refused('unauthorized', why));
    }
    const ended = this.ended.has(req.link_id);
    if (!ended && !this.entries.has(req.link_id)) {
      // A request that would make a new link: the limits apply (a repeat of one in hand costs nothing).
      const settingUp = this.settingUp();
      if (settingUp >= this.maxSettingUp) return this.counted(refused('busy', `${this.nodeId} is setting up ${settingUp} links already; try later`));
      if (!this.newLinks.take(from, this.now())) {
        return this.counted(refused('rate-limited', `${from} asks for new links faster than ${this.newLinks.limit.perSecond}/s; try later`));
      }
    }
    const event: HandshakeEvent = { type: 'request', linkId: req.link_id, ended };
    return this.counted(this.dispatch(from, event, { request: req }));
  }

  private async onCandidates(params: unknown, from: string): Promise<unknown> {
    const p = parseCandidatesRequest(params, this.overlayId);
    if (!p.ok) return this.counted(this.parseFailure(p, from));
    const req = p.value;
    if (!this.ownedBy(req.link_id, from)) return this.counted(refused('unknown-link', `no link ${req.link_id} with ${from}`));
    return this.counted(this.dispatch(from, { type: 'candidates', linkId: req.link_id, ended: this.ended.has(req.link_id) }, { candidates: req.candidates }));
  }

  private async onRemove(params: unknown, from: string): Promise<unknown> {
    const p = parseRemoveRequest(params, this.overlayId);
    if (!p.ok) return this.counted(this.parseFailure(p, from));
    const req = p.value;
    if (!this.ownedBy(req.link_id, from)) return this.counted(refused('unknown-link', `no link ${req.link_id} with ${from}`));
    return this.counted(this.dispatch(from, { type: 'remove', linkId: req.link_id, reason: req.reason, ended: this.ended.has(req.link_id) }));
  }

  /** Links made and not yet up (either role). */
  private settingUp(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.state !== 'up') n++;
    return n;
  }

  /** Whether a link id is unknown or belongs to `from` (no peer may touch another peer's link). */
  private ownedBy(linkId: string, from: string): boolean {
    const e = this.entries.get(linkId);
    return e === undefined || e.peerId === from;
  }

  // ---- reporting -----------------------------------------------------------------------------------------

  private info(e: Entry, withStats = false): LinkInfo {
    return {
      peerId: e.peerId,
      linkId: e.linkId,
      role: e.role,
      state: e.state,
      portName: e.portName,
      ...(e.peerMac !== undefined && { peerMac: e.peerMac }),
      ...(e.upAt !== undefined && { upAt: e.upAt }),
      ...(e.setupMs !== undefined && { setupMs: e.setupMs }),
      ...(withStats && { stats: e.link.stats() }),
    };
  }

  /** Runs a callback of ours (link events, timers); a defect in it is reported, never thrown into the link. */
  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.defect(what, err);
    }
  }

  private defect(what: string, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error({ err: e.message, stack: e.stack }, `link manager: ${what} failed`);
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled handshake action ${JSON.stringify(x)}`);
}
