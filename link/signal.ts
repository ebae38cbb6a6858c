/**
 * Signaling over XMPP: EdgeVPN's XmppCircle (one XMPP session per overlay, EDGEVPN.md §1) on
 * @xmpp/client. It logs in, puts the node in its overlay's room, tells who else is there (peerPresent /
 * peerGone), and carries remote actions: request() sends an `invk` and resolves with the peer's `cmpt`;
 * onRequest() answers the peers' `invk`s. The link manager (link/manager.ts) is built on it.
 *
 * How nodes see each other: one MUC room per overlay, `<overlay id>@<muc domain>`. A node joins with its
 * node id as its nick and EdgeVPN's `ident#<node id>` as its status; the room tells every occupant who
 * comes and goes, so presence is state here, not EdgeVPN's periodic announcements and `uid?` queries.
 * Remote actions are private messages to a peer's occupant JID, `<room>/<peer node id>`, which the room
 * relays. Why occupant JIDs and not the accounts' real JIDs: prosody's default room is semi-anonymous
 * (only moderators, i.e. the node that happened to create the room, see real JIDs), so real JIDs would
 * need every room configured first, and a node that sees real JIDs would write to peers that only know
 * it by its occupant JID. Occupant JIDs work the same for every node under prosody's defaults, no
 * rosters or subscriptions are needed (EdgeVPN relies on server-side shared rosters), and the room is
 * the one that vouches for the sender: it stamps each relayed message with the sender's own occupant
 * JID, and it gives a nick to one account at a time (another account asking for it gets `conflict`).
 * So a message from `<room>/<id>` comes from whoever holds node id `<id>` in the room now.
 *
 * Checks on every stanza (link/stanzas.ts), none of which can throw: the sender must be an occupant we
 * know as a node (the occupant JID cached for the node id it claims), the payload a well-formed
 * RemoteAction of at most 64 KiB with exactly EdgeVPN's keys, for our overlay and our node id, claiming
 * its sender's node id (an invk's initiator_id, a cmpt's recipient_id), and a cmpt must answer a request
 * of ours to that same node. Anything else is dropped and counted by reason (stats().dropped). A request
 * to a peer that is not in the room comes back as an error from the room, which fails it at once
 * (EPEER) instead of waiting for the timeout.
 *
 * Sessions. A session is: TCP (+ TLS or STARTTLS, link/signal-socket.ts), SASL login, resource binding,
 * joining the room; it counts as up once our own presence comes back from the room. A lost session
 * (the server restarted, the connection dropped, we were put out of the room) is redialled with
 * base/redial.ts's backoff (1 s doubling to 8 s, reset once a session is up); the library's own
 * fixed-interval reconnect is turned off. A joined session pings the server (XEP-0199) every
 * keepaliveMs and is lost when no answer comes within as long again: over a cut path TCP would stay
 * silent for many minutes and then hand over a stale backlog. Each new session joins the room again,
 * which announces us again and brings the room's current occupants (jid-cache.ts reconciles who left
 * meanwhile). Requests awaiting a reply when the session is lost fail with ERECONNECTED: the reply
 * would go to the lost session, and resending is the caller's decision (the link manager retries a
 * failed set-up).
 * Requests while no session is up fail at once with EOFFLINE. A login the server refuses (EAUTH) or a
 * certificate we refuse (ETLS) is fatal: no redial, 'fatal' is emitted and start() rejects.
 *
 * Bounded: at most maxPending requests await replies (more fail with EBUSY), at most maxHandlers
 * incoming requests run at once (more are answered "busy" and counted), at most maxHandlersPerPeer of
 * them from one node (so one node cannot take every slot from the others); each node may send
 * SENDER_RATE messages (a burst, then a steady rate) and the excess is dropped unread, counted as
 * 'rate-limited'; the room's nodes we keep track of are at most maxPeers ('too-many-peers' beyond).
 *
 * May import: node: modules, @xmpp/client, base/, link/ (errors, stanzas, jid-cache, signal-*).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { type Client, type Element, client, xml } from '@xmpp/client';
import { type Logger, nullLogger } from '../base/logger.js';
import { Redialer, type Scheduler } from '../base/redial.js';
import { LinkError, type LinkErrorCode } from './errors.js';
import { JidCache, type Peer } from './jid-cache.js';
import { PeerRateLimiter, type RateLimit } from './rate.js';
import type { SignalConfig } from './signal-config.js';
import { SignalSocket, SignalSocketError, type SocketParams } from './signal-socket.js';
import {
  ACTION,
  type DropReason,
  type JsonObject,
  type JsonValue,
  MAX_PAYLOAD_BYTES,
  MODULE,
  NODE_ID,
  OVERLAY_ID,
  type RemoteAction,
  checkRemoteAction,
  evioMessage,
  evioOf,
  instantRoom,
  joinPresence,
  parseRemoteAction,
  parseRoomPresence,
  stanzaError,
} from './stanzas.js';

/** Handles one action's requests; its result (JSON, or a promise of it) is the reply's data, a throw its failure. */
export type RequestHandler = (params: JsonObject, fromNodeId: string) => unknown;

export interface RequestOptions {
  /** Default: the config's requestTimeoutMs. */
  readonly timeoutMs?: number;
  /** EdgeVPN's module names, carried as they are. Default "LinkManager" both. */
  readonly recipientCm?: string;
  readonly initiatorCm?: string;
}

export interface XmppCircleOptions {
  /** This node: 32 lowercase hex digits. */
  readonly nodeId: string;
  /** Letters, digits, _ and -; the room is its lowercase form at the MUC domain. */
  readonly overlayId: string;
  /** link/signal-config.ts's resolved configuration. */
  readonly config: SignalConfig;
  readonly log?: Logger;
  /** Clock for the JID cache (ms). Default Date.now. */
  readonly now?: () => number;
  /** Backoff timers and jitter (tests). */
  readonly scheduler?: Scheduler;
  readonly random?: () => number;
  /** Requests awaiting replies at most. Default 1024. */
  readonly maxPending?: number;
  /** Incoming requests being handled at most. Default 64. */
  readonly maxHandlers?: number;
  /** Incoming requests from one node being handled at most. Default 32. */
  readonly maxHandlersPerPeer?: number;
  /** Messages per sending node (SENDER_RATE by default). */
  readonly senderRate?: RateLimit;
  /** Nodes of the room kept track of at most. Default 4096. */
  readonly maxPeers?: number;
  /**
   * A joined session pings the server (XEP-0199) after this long and counts as lost when no answer comes
   * within as long again: a path that went dead (an underlay cut) is noticed and redialled, where TCP
   * would keep the stream open and silent for many minutes and deliver its backlog late. Default
   * KEEPALIVE_MS; 0 turns it off.
   */
  readonly keepaliveMs?: number;
}

export type SignalState = 'idle' | 'connecting' | 'online' | 'reconnecting' | 'failed' | 'stopped';

export interface SignalEvents {
  /** In the room (again): requests can go out. `sessions` counts the sessions that got this far. */
  online: [info: { readonly jid: string; readonly sessions: number; readonly secure: boolean; readonly mechanism: string }];
  /** The session that was online is lost; a redial is on its way (unless fatal or stopped). */
  offline: [info: { readonly reason: string }];
  /** A node joined the overlay's room (EdgeVPN's SIG_PEER_PRESENCE_NOTIFY). */
  peerPresent: [nodeId: string];
  /** A node left the room, was not there when we rejoined, or expired while we were away. */
  peerGone: [nodeId: string];
  /** Signaling gave up (EAUTH, ETLS): no redial. start() rejects with the same error. */
  fatal: [error: LinkError];
}

export interface SignalStats {
  readonly state: SignalState;
  /** Sessions that reached the room. */
  readonly sessions: number;
  readonly sent: { readonly invk: number; readonly cmpt: number };
  readonly received: { readonly invk: number; readonly cmpt: number };
  /** Stanzas dropped, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Requests from peers answered with a failure without running a handler (peerBusy: maxHandlersPerPeer). */
  readonly refused: { readonly noHandler: number; readonly busy: number; readonly peerBusy: number };
  readonly pending: number;
  readonly peers: number;
}

export const DEFAULT_CM = 'LinkManager';
const DEFAULT_MAX_PENDING = 1024;
const DEFAULT_MAX_HANDLERS = 64;
/**
 * One node's share of the handler slots: half of them, so that a node flooding us with requests whose
 * handlers take a while (LNK_REQ_LINK_ENDPT waits for libdatachannel's answer) leaves the other half to
 * everyone else. An honest peer has one link set-up with us at a time and rarely more than a few
 * requests in flight (a burst of 20 in the tests).
 */
const DEFAULT_MAX_HANDLERS_PER_PEER = 32;
/**
 * What one node may send us: a burst of 100 messages, then 20 a second. An honest peer sends about ten
 * per link set-up (an edge negotiation, the link request, a few candidate batches, their replies) and
 * retries no sooner than its backoff (1 s, doubling), so it stays far below; a reconnecting overlay of
 * many edges to one peer is still one link per pair. A flood beyond is dropped before it is parsed.
 */
export const SENDER_RATE: RateLimit = { burst: 100, perSecond: 20 };
/**
 * Room occupants kept as nodes at most. EdgeVPN overlays are tens to hundreds of nodes; an account that
 * joins with ever new nicks (one per resource) must not grow our cache without end.
 */
const DEFAULT_MAX_PEERS = 4096;
/**
 * The session keepalive (ms): a ping after this much time, and as long again for its answer. The links'
 * own liveness (LinkManager.TimeoutMs, 5 s) keeps links up through a signaling outage; this only bounds
 * how long a dead session passes for online (10–20 s), like the link manager's 10 s step timeout.
 */
export const KEEPALIVE_MS = 10_000;
const NS_PING = 'urn:xmpp:ping';
/** Retries of a join refused because the room is still locked by the node creating it (ms, doubling). */
const LOCKED_ROOM_RETRY_MS = 100;
const LOCKED_ROOM_RETRY_MAX_MS = 1000;
const STOP_GRACE_MS = 2000;
const NS_STREAM = 'http://etherx.jabber.org/streams';
const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
/** The longest reason text put into a failed cmpt. */
const MAX_REASON_CHARS = 1000;

/** A login we cannot attempt (no mechanism fit to use); fatal like a refused one. */
class AuthSetupError extends Error {
  override readonly name = 'AuthSetupError';
}

interface Pending {
  readonly nodeId: string;
  readonly action: string;
  /** The occupant JID it went to: an error bounce must come from there. */
  readonly jid: string;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (data: JsonValue | undefined) => void;
  readonly reject: (e: LinkError) => void;
}

type Phase = 'login' | 'joining' | 'joined' | 'dead';

/** One attempt: a client, its socket, its timers. Dead once lost or stopped; nothing it hears counts then. */
class Session {
  readonly xmpp: Client;
  socket: SignalSocket | undefined;
  phase: Phase = 'login';
  /** Rejects when the session dies, to end whatever awaited it. */
  readonly dead: Promise<never>;
  joinWaiter: { resolve(created: boolean): void; reject(e: Error): void } | undefined;
  lockedRetries = 0;
  /** The SASL mechanism it logged in with. */
  mechanism = '';
  /** Peers new to us that the room listed while we joined: announced once we are online. */
  readonly held = new Set<string>();
  private kill!: (e: unknown) => void;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly id: number,
    make: (s: Session) => Client,
  ) {
    this.dead = new Promise<never>((_, reject) => (this.kill = reject));
    this.dead.catch(() => undefined); // awaited only in races; no unhandled rejection when nobody races
    this.xmpp = make(this);
  }

  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** A method, not a field test, so that TypeScript does not narrow it across an await. */
  alive(): boolean {
    return this.phase !== 'dead';
  }

  /** Marks it dead (idempotent); returns false when it already was. */
  end(why: unknown): boolean {
    if (this.phase === 'dead') return false;
    this.phase = 'dead';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.joinWaiter = undefined;
    this.kill(why);
    return true;
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function emptyDrops(): Record<DropReason, number> {
  return { 'unknown-sender': 0, malformed: 0, spoofed: 0, misdirected: 0, unexpected: 0, 'not-a-node': 0, 'rate-limited': 0, 'too-many-peers': 0 };
}

export class XmppCircle extends EventEmitter<SignalEvents> {
  readonly nodeId: string;
  readonly overlayId: string;
  /** `<overlay id, lowercase>@<muc domain>`. */
  readonly roomJid: string;
  readonly config: SignalConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly cache: JidCache;
  private readonly redialer: Redialer;
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly pending = new Map<string, Pending>();
  private readonly maxPending: number;
  private readonly maxHandlers: number;
  private readonly maxHandlersPerPeer: number;
  private readonly maxPeers: number;
  private readonly keepaliveMs: number;
  private readonly limiter: PeerRateLimiter;
  /** Handlers running now, per sending node (entries removed at zero). */
  private readonly runningBy = new Map<string, number>();
  private readonly server: string;
  private session: Session | undefined;
  private sessionSeq = 0;
  private joinedSessions = 0;
  private running = 0;
  private stateValue: SignalState = 'idle';
  private ca: Buffer | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private startWaiter: { resolve(): void; reject(e: Error): void } | undefined;
  private readonly counts = {
    sent: { invk: 0, cmpt: 0 },
    received: { invk: 0, cmpt: 0 },
    dropped: emptyDrops(),
    refused: { noHandler: 0, busy: 0, peerBusy: 0 },
  };

  constructor(opts: XmppCircleOptions) {
    super();
    if (!NODE_ID.test(opts.nodeId)) throw new RangeError(`signaling: node id ${JSON.stringify(opts.nodeId)} is not 32 lowercase hex digits`);
    if (!OVERLAY_ID.test(opts.overlayId)) throw new RangeError(`signaling: overlay id ${JSON.stringify(opts.overlayId)} must be 1 to 64 letters, digits, _ or -`);
    this.nodeId = opts.nodeId;
    this.overlayId = opts.overlayId;
    this.config = opts.config;
    this.roomJid = `${opts.overlayId.toLowerCase()}@${opts.config.mucDomain}`;
    this.log = opts.log ?? nullLogger;
    this.now = opts.now ?? Date.now;
    this.cache = new JidCache(opts.config.cacheExpiryMs);
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.maxHandlers = opts.maxHandlers ?? DEFAULT_MAX_HANDLERS;
    this.maxHandlersPerPeer = opts.maxHandlersPerPeer ?? DEFAULT_MAX_HANDLERS_PER_PEER;
    this.maxPeers = opts.maxPeers ?? DEFAULT_MAX_PEERS;
    this.keepaliveMs = opts.keepaliveMs ?? KEEPALIVE_MS;
    this.limiter = new PeerRateLimiter(opts.senderRate ?? SENDER_RATE, this.maxPeers);
    this.server = `${opts.config.host}:${opts.config.port}`;
    this.redialer = new Redialer({
      dial: () => this.dial(),
      minMs: opts.config.minBackoffMs,
      maxMs: opts.config.maxBackoffMs,
      ...(opts.scheduler ? { scheduler: opts.scheduler } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });
  }

  get state(): SignalState {
    return this.stateValue;
  }

  /** Connects and keeps connected; resolves once in the room the first time, rejects on a fatal error or stop(). */
  start(): Promise<void> {
    if (this.started) return this.started;
    this.started = new Promise<void>((resolve, reject) => (this.startWaiter = { resolve, reject }));
    this.started.catch(() => undefined); // the same error is the 'fatal' event; a caller that awaits still sees it
    if (this.config.caFile !== undefined) {
      const file = this.config.caFile;
      try {
        const ca = readFileSync(file);
        createSecureContext({ ca });
        this.ca = ca;
      } catch (e) {
        this.fail(new LinkError('ETLS', `signaling: cannot use the CA file ${file}: ${message(e)}`));
        return this.started;
      }
    }
    if (this.config.tls === 'none' && !/^(127\.|::1$|localhost$)/.test(this.config.host)) {
      this.log.warn({ server: this.server }, 'signaling without TLS to a server that is not on loopback: the password crosses the network in clear');
    }
    this.setState('connecting');
    this.redialer.start();
    return this.started;
  }

  /** Leaves the room and closes the session; pending requests fail with ECLOSED. No events after this. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.setState('stopped');
    this.redialer.stop();
    clearTimeout(this.sweepTimer);
    this.failPending('ECLOSED', (p) => `signaling stopped before node ${p.nodeId} answered ${p.action}`);
    this.startWaiter?.reject(new LinkError('ECLOSED', 'signaling stopped before it was online'));
    this.startWaiter = undefined;
    this.cache.clear();
    const s = this.session;
    this.session = undefined;
    if (!s) return;
    s.end(new Error('stopped'));
    let timer: NodeJS.Timeout | undefined;
    try {
      // The orderly close: the server then tells the room at once that we left.
      await Promise.race([s.xmpp.stop(), new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
    } catch {
      // already closed, or closing failed: destroyed below either way
    } finally {
      clearTimeout(timer);
      s.socket?.destroy();
    }
  }

  /** Registers the handler of an action's requests (one per action); returns its removal. */
  onRequest(action: string, handler: RequestHandler): () => void {
    if (!ACTION.test(action)) throw new RangeError(`signaling: action ${JSON.stringify(action)} must be 1 to 64 letters, digits, _ . : -`);
    if (this.handlers.has(action)) throw new Error(`signaling: ${action} has a handler already`);
    this.handlers.set(action, handler);
    return () => {
      if (this.handlers.get(action) === handler) this.handlers.delete(action);
    };
  }

  /**
   * Sends a remote action to a node of the overlay and resolves with its reply's data. Rejects with a
   * LinkError: EPEER (not in the room, or the room could not deliver), ETIMEDOUT, EREMOTE (its handler
   * failed), ERECONNECTED (our session was lost meanwhile), EOFFLINE, EBUSY, ECLOSED; with a RangeError
   * for arguments that are wrong whatever the network does.
   */
  async request(nodeId: string, action: string, params: Readonly<Record<string, unknown>>, opts: RequestOptions = {}): Promise<JsonValue | undefined> {
    if (!NODE_ID.test(nodeId)) throw new RangeError(`signaling: node id ${JSON.stringify(nodeId)} is not 32 lowercase hex digits`);
    if (nodeId === this.nodeId) throw new RangeError(`signaling: ${action} to this node itself`);
    if (!ACTION.test(action)) throw new RangeError(`signaling: action ${JSON.stringify(action)} must be 1 to 64 letters, digits, _ . : -`);
    const timeoutMs = opts.timeoutMs ?? this.config.requestTimeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new RangeError(`signaling: timeoutMs must be a positive whole number, got ${timeoutMs}`);
    const recipientCm = opts.recipientCm ?? DEFAULT_CM;
    const initiatorCm = opts.initiatorCm ?? DEFAULT_CM;
    if (!MODULE.test(recipientCm) || !MODULE.test(initiatorCm)) throw new RangeError('signaling: module names are 1 to 64 letters, digits or _');
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new RangeError(`signaling: params of ${action} must be an object`);

    const s = this.session;
    if (!s || s.phase !== 'joined') throw new LinkError('EOFFLINE', `signaling: not in room ${this.roomJid} (${this.stateValue}); ${action} to node ${nodeId} not sent`);
    const peer = this.cache.lookup(nodeId, this.now());
    if (!peer) throw new LinkError('EPEER', `signaling: node ${nodeId} is not in room ${this.roomJid}; ${action} not sent`);
    if (this.pending.size >= this.maxPending) throw new LinkError('EBUSY', `signaling: ${this.pending.size} requests already await replies; ${action} to node ${nodeId} not sent`);

    const tag = randomBytes(16).toString('hex');
    const ra = {
      overlay_id: this.overlayId,
      recipient_id: nodeId,
      recipient_cm: recipientCm,
      action,
      params,
      initiator_id: this.nodeId,
      initiator_cm: initiatorCm,
      action_tag: tag,
    };
    let json: string;
    try {
      json = JSON.stringify(ra);
    } catch (e) {
      throw new RangeError(`signaling: params of ${action} are not JSON: ${message(e)}`);
    }
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > MAX_PAYLOAD_BYTES) throw new RangeError(`signaling: ${action} would be ${bytes} bytes, over ${MAX_PAYLOAD_BYTES}`);

    return new Promise<JsonValue | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(tag)) reject(new LinkError('ETIMEDOUT', `signaling: no reply from node ${nodeId} to ${action} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(tag, { nodeId, action, jid: peer.jid, timer, resolve, reject });
      this.counts.sent.invk++;
      s.xmpp.send(evioMessage(peer.jid, 'invk', json, tag)).catch((e: unknown) => {
        const p = this.pending.get(tag);
        if (!p) return;
        this.settle(tag, p);
        reject(new LinkError('EOFFLINE', `signaling: sending ${action} to node ${nodeId} failed: ${message(e)}`));
      });
    });
  }

  /** Node ids in the room now (or, while we are away, not yet expired). */
  peers(): string[] {
    return this.cache.ids(this.now());
  }

  peer(nodeId: string): Peer | undefined {
    return this.cache.lookup(nodeId, this.now());
  }

  stats(): SignalStats {
    return {
      state: this.stateValue,
      sessions: this.joinedSessions,
      sent: { ...this.counts.sent },
      received: { ...this.counts.received },
      dropped: { ...this.counts.dropped },
      refused: { ...this.counts.refused },
      pending: this.pending.size,
      peers: this.peers().length,
    };
  }

  // ---- sessions -------------------------------------------------------------------------------------------

  private setState(s: SignalState): void {
    this.stateValue = s;
  }

  private dial(): void {
    if (this.stateValue === 'stopped' || this.stateValue === 'failed') return;
    const s = new Session(++this.sessionSeq, (sess) => this.makeClient(sess));
    this.session = s;
    void this.establish(s);
  }

  private makeClient(s: Session): Client {
    const c = this.config;
    const host = c.host.includes(':') ? `[${c.host}]` : c.host;
    const service = `xmpp://${host}:${c.port}`;
    const xmpp = client({
      service,
      domain: c.domain,
      // One resource per node: a redial replaces a session the server still thinks alive.
      resource: `tinflow-${this.nodeId}`,
      credentials: async (authenticate, mechanisms, _fast, entity) => {
        s.mechanism = this.mechanism(mechanisms, entity.isSecure());
        await authenticate({ username: c.username, password: c.password }, s.mechanism);
      },
    });
    xmpp.reconnect.stop(); // we redial with backoff (base/redial.ts), not every second
    const base = xmpp.transports.find((T) => T.prototype.socketParameters(service) !== undefined);
    if (!base) throw new Error('@xmpp/client: no TCP transport (is this a browser build?)');
    const params: SocketParams = { mode: c.tls, host: c.host, port: c.port, domain: c.domain, ca: this.ca, timeoutMs: c.connectTimeoutMs };
    class CircleSocket extends SignalSocket {
      constructor() {
        super();
        s.socket = this;
      }
    }
    class CircleTransport extends base {
      override socketParameters(): SocketParams {
        return params;
      }
    }
    CircleTransport.prototype.Socket = CircleSocket;
    xmpp.transports.unshift(CircleTransport);
    xmpp.on('error', (e) => this.lose(s, e));
    xmpp.on('status', (status) => {
      if (status === 'disconnect') this.lose(s, new Error(`the connection to ${this.server} closed`));
    });
    xmpp.on('stanza', (el) => this.onStanza(s, el));
    xmpp.on('nonza', (el) => {
      // A server that insists on TLS offers no login in clear text: say so, instead of timing out.
      if (s.phase === 'login' && !xmpp.isSecure() && el.is('features', NS_STREAM) && el.getChild('starttls', NS_TLS)?.getChild('required') !== undefined) {
        this.lose(s, new SignalSocketError('tls', `${this.server} requires TLS, and tls is "none"`));
      }
    });
    return xmpp;
  }

  /** PLAIN when configured so; otherwise the strongest offered, and never PLAIN in clear text. */
  private mechanism(offered: readonly string[], secure: boolean): string {
    if (this.config.sasl === 'plain') return 'PLAIN';
    const usable = offered.filter((m) => m !== 'ANONYMOUS' && (secure || m !== 'PLAIN'));
    const first = usable[0];
    if (first === undefined) {
      throw new AuthSetupError(`no SASL mechanism to log in with ${secure ? '' : 'without TLS '}(the server offers ${offered.join(', ') || 'none'}): use tls "starttls", or sasl "plain" with a loopback test server`);
    }
    return first;
  }

  private async establish(s: Session): Promise<void> {
    const c = this.config;
    const deadline = setTimeout(() => this.lose(s, new Error(`not in room ${this.roomJid} within ${c.connectTimeoutMs} ms of dialling ${this.server}`)), c.connectTimeoutMs);
    try {
      await Promise.race([s.xmpp.start(), s.dead]);
      if (!s.alive()) return;
      s.phase = 'joining';
      this.cache.beginSync();
      const created = await Promise.race([
        new Promise<boolean>((resolve, reject) => {
          s.joinWaiter = { resolve, reject };
          this.send(s, joinPresence(this.roomJid, this.nodeId), 'join');
        }),
        s.dead,
      ]);
      if (!s.alive()) return;
      if (created) this.unlockRoom(s);
      s.phase = 'joined';
      this.joinedSessions++;
      this.redialer.succeeded();
      clearTimeout(this.sweepTimer);
      this.sweepTimer = undefined;
      for (const id of this.cache.reconcile()) this.peerLeft(id, 'not in the room when we joined it again');
      this.setState('online');
      const info = { jid: s.xmpp.jid?.toString() ?? this.config.jid, sessions: this.joinedSessions, secure: s.xmpp.isSecure(), mechanism: s.mechanism };
      this.log.info({ ...info, room: this.roomJid, peers: this.peers().length }, 'signaling online');
      this.startWaiter?.resolve();
      this.startWaiter = undefined;
      this.emit('online', info);
      // Listeners may send to a peer as soon as they hear of it, so peers come after 'online'.
      for (const id of s.held) if (s.alive() && this.cache.lookup(id, this.now())) this.announce(id);
      s.held.clear();
      this.keepalive(s);
    } catch (e) {
      this.lose(s, e);
    } finally {
      clearTimeout(deadline);
    }
  }

  /**
   * Pings the server every keepaliveMs while the session is joined; no answer within keepaliveMs loses the
   * session (redialled with backoff). Any answer counts: a server without XEP-0199 answers with an error.
   */
  private keepalive(s: Session): void {
    const ms = this.keepaliveMs;
    if (ms <= 0) return;
    s.later(ms, () => {
      if (s.phase !== 'joined') return;
      s.xmpp.iqCaller.get(xml('ping', { xmlns: NS_PING }), this.config.domain, ms).then(
        () => this.keepalive(s),
        (e: unknown) => {
          if (s.phase !== 'joined') return;
          if (e instanceof Error && e.name === 'StanzaError') {
            this.keepalive(s);
            return;
          }
          this.lose(s, new Error(`no answer from ${this.server} to a keepalive ping within ${ms} ms (${message(e)})`));
        },
      );
    });
  }

  /** We made the room: accept its default configuration, which unlocks it for the other nodes. */
  private unlockRoom(s: Session): void {
    s.xmpp.iqCaller.set(instantRoom(), this.roomJid, this.config.connectTimeoutMs).then(
      () => this.log.debug({ room: this.roomJid }, 'created the room'),
      (e: unknown) => {
        // Other nodes cannot join a locked room; make a new session, which will try again.
        if (s.phase !== 'dead') this.log.warn({ room: this.roomJid, err: message(e) }, 'could not unlock the room we created');
        this.lose(s, new Error(`could not configure room ${this.roomJid}: ${message(e)}`));
      },
    );
  }

  /** The session ended (an error, the socket closed, a timeout): redial, or give up if fatal. */
  private lose(s: Session, why: unknown): void {
    const wasJoined = s.phase === 'joined';
    if (!s.end(why)) return;
    s.socket?.destroy();
    if (s !== this.session) return;
    this.session = undefined;
    for (const id of s.held) this.cache.gone(id); // never announced, so never to be reported gone
    const now = this.now();
    this.failPending('ERECONNECTED', (p) => `signaling reconnected: the session was lost before node ${p.nodeId} answered ${p.action} (not resent)`);
    this.cache.suspend(now);
    this.armSweep();
    if (wasJoined) this.emit('offline', { reason: message(why) });
    const fatal = this.fatalError(why);
    if (fatal) {
      this.fail(fatal);
      return;
    }
    if (this.stateValue === 'stopped') return;
    this.setState(this.joinedSessions > 0 ? 'reconnecting' : 'connecting');
    const delayMs = this.redialer.failed();
    this.log.warn({ server: this.server, err: message(why), delayMs }, wasJoined ? 'signaling session lost; reconnecting' : 'signaling session failed; retrying');
  }

  /** EAUTH or ETLS when the failure is one that redialling cannot mend. */
  private fatalError(e: unknown): LinkError | undefined {
    const c = this.config;
    if (e instanceof SignalSocketError && e.kind === 'tls') return new LinkError('ETLS', `signaling: ${e.message}`);
    if (e instanceof AuthSetupError) return new LinkError('EAUTH', `signaling: cannot log in as ${c.jid} at ${this.server}: ${e.message}`);
    if (e instanceof Error && e.name === 'SASLError') {
      const condition = 'condition' in e ? String(e.condition) : 'failure';
      if (condition === 'temporary-auth-failure') return undefined;
      const hint = condition === 'not-authorized' ? ' (wrong account or password)' : condition === 'invalid-mechanism' ? ` (the server does not take SASL ${c.sasl === 'plain' ? 'PLAIN' : 'that mechanism'})` : '';
      return new LinkError('EAUTH', `signaling: ${this.server} refused the login of ${c.jid}: ${e.message}${hint}`);
    }
    return undefined;
  }

  private fail(e: LinkError): void {
    if (this.stateValue === 'stopped' || this.stateValue === 'failed') return;
    this.setState('failed');
    this.redialer.stop();
    this.log.error({ code: e.code, err: e.message }, 'signaling failed for good');
    this.startWaiter?.reject(e);
    this.startWaiter = undefined;
    this.emit('fatal', e);
  }

  private armSweep(): void {
    clearTimeout(this.sweepTimer);
    const t = this.cache.nextExpiry();
    if (t === undefined) return;
    this.sweepTimer = setTimeout(
      () => {
        this.sweepTimer = undefined;
        for (const id of this.cache.sweep(this.now())) this.peerLeft(id, 'expired while signaling was away');
        this.armSweep();
      },
      Math.max(0, t - this.now()),
    );
  }

  private send(s: Session, el: Element, what: string): void {
    s.xmpp.send(el).catch((e: unknown) => this.log.debug({ what, err: message(e) }, 'signaling send failed'));
  }

  private failPending(code: LinkErrorCode, why: (p: Pending) => string, only?: (p: Pending) => boolean): void {
    for (const [tag, p] of [...this.pending]) {
      if (only && !only(p)) continue;
      this.settle(tag, p);
      p.reject(new LinkError(code, `signaling: ${why(p)}`));
    }
  }

  private settle(tag: string, p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(tag);
  }

  private announce(nodeId: string, realJid = this.cache.lookup(nodeId, this.now())?.realJid): void {
    this.log.info({ peer: nodeId, realJid }, 'peer present');
    this.emit('peerPresent', nodeId);
  }

  private peerLeft(nodeId: string, why: string): void {
    this.failPending('EPEER', (p) => `node ${p.nodeId} left room ${this.roomJid} before it answered ${p.action}`, (p) => p.nodeId === nodeId);
    this.log.info({ peer: nodeId, why }, 'peer gone');
    this.emit('peerGone', nodeId);
  }

  private dropped(reason: DropReason, detail: string, from: string | undefined): void {
    this.counts.dropped[reason]++;
    this.log.debug({ reason, detail, from: from?.slice(0, 200) }, 'stanza dropped');
  }

  // ---- what the server sends ------------------------------------------------------------------------------

  /** Every stanza of the current session; nothing in here may throw into the XML parser. */
  private onStanza(s: Session, el: Element): void {
    if (s.phase === 'dead' || s !== this.session) return;
    try {
      if (el.name === 'presence') this.onPresence(s, el);
      else if (el.name === 'message') this.onMessage(s, el);
      // iq: the library answers (ping) or refuses them
    } catch (e) {
      this.dropped('malformed', `handling it failed: ${message(e)}`, el.attrs.from);
    }
  }

  private onPresence(s: Session, p: Element): void {
    const v = parseRoomPresence(p, this.roomJid, this.nodeId);
    if (!v.ok) {
      this.dropped(v.reason, v.detail, p.attrs.from);
      return;
    }
    const info = v.value;
    switch (info.kind) {
      case 'self':
        if (info.available) {
          s.joinWaiter?.resolve(info.created);
          s.joinWaiter = undefined;
        } else if (s.phase === 'joined' || s.phase === 'joining') {
          this.lose(s, new Error(`put out of room ${this.roomJid}`));
        }
        return;
      case 'error':
        this.onJoinError(s, info.nick, info.condition, info.text);
        return;
      case 'peer': {
        const jid = `${this.roomJid}/${info.nodeId}`;
        if (info.available) {
          if (!this.cache.has(info.nodeId) && this.cache.size >= this.maxPeers) {
            this.dropped('too-many-peers', `node ${info.nodeId}: ${this.maxPeers} nodes known already`, p.attrs.from);
            return;
          }
          if (this.cache.present(info.nodeId, jid, info.realJid, this.now())) {
            if (s.phase === 'joined') this.announce(info.nodeId, info.realJid);
            else s.held.add(info.nodeId);
          }
        } else if (this.cache.gone(info.nodeId) && !s.held.delete(info.nodeId)) {
          this.peerLeft(info.nodeId, 'left the room');
        }
        return;
      }
      default: {
        const never: never = info;
        throw new Error(`unhandled presence ${String(never)}`);
      }
    }
  }

  private onJoinError(s: Session, nick: string, condition: string, text: string): void {
    if (nick !== this.nodeId || s.phase !== 'joining' || !s.joinWaiter) {
      this.dropped('unexpected', `presence error ${condition} for ${nick}`, `${this.roomJid}/${nick}`);
      return;
    }
    if (condition === 'item-not-found') {
      // The room exists but is locked: the node that made it has not configured it yet (a moment).
      const delay = Math.min(LOCKED_ROOM_RETRY_MS * 2 ** s.lockedRetries++, LOCKED_ROOM_RETRY_MAX_MS);
      this.log.debug({ room: this.roomJid, delayMs: delay }, 'the room is locked by the node creating it; joining again shortly');
      s.later(delay, () => this.send(s, joinPresence(this.roomJid, this.nodeId), 'join'));
      return;
    }
    const why =
      condition === 'conflict'
        ? `node id ${this.nodeId} is taken in room ${this.roomJid} by another account (two nodes with one id?)`
        : `room ${this.roomJid} refused us: ${condition}${text ? ` (${text})` : ''}`;
    s.joinWaiter.reject(new Error(why));
    s.joinWaiter = undefined;
  }

  /** The sender's node id when `from` is the occupant JID we have for it; undefined otherwise. */
  private senderOf(from: string): string | undefined {
    const prefix = `${this.roomJid}/`;
    if (!from.startsWith(prefix)) return undefined;
    const nick = from.slice(prefix.length);
    return this.cache.lookup(nick, this.now())?.jid === from ? nick : undefined;
  }

  private onMessage(s: Session, m: Element): void {
    const from = m.attrs.from ?? '';
    const type = m.attrs.type ?? 'normal';
    if (type === 'groupchat' || from === this.roomJid) return; // the room's subject and notices
    if (type === 'error') {
      this.onBounce(m, from);
      return;
    }
    const senderId = this.senderOf(from);
    if (senderId === undefined) return this.dropped('unknown-sender', `message from ${from.slice(0, 100) || 'nobody'}`, from);
    if (!this.limiter.take(senderId, this.now())) return this.dropped('rate-limited', `node ${senderId} sends faster than ${this.limiter.limit.perSecond}/s`, from);
    const to = m.attrs.to;
    const self = s.xmpp.jid?.toString();
    if (to !== undefined && self !== undefined && to !== self) return this.dropped('misdirected', `message to ${to.slice(0, 100)}`, from);
    if (type !== 'chat') return this.dropped('malformed', `message type ${type.slice(0, 20)}`, from);
    const evio = evioOf(m);
    if (!evio.ok) return this.dropped(evio.reason, evio.detail, from);
    const parsed = parseRemoteAction(evio.value.text, evio.value.type);
    if (!parsed.ok) return this.dropped(parsed.reason, parsed.detail, from);
    const checked = checkRemoteAction(parsed.value, evio.value.type, senderId, this);
    if (!checked.ok) return this.dropped(checked.reason, checked.detail, from);
    if (evio.value.type === 'invk') this.onInvoke(s, checked.value, senderId, from);
    else this.onComplete(checked.value, senderId, from);
  }

  /** A request of ours the room could not deliver (the peer left): fails it now, not at its timeout. */
  private onBounce(m: Element, from: string): void {
    const tag = m.attrs.id ?? '';
    const p = this.pending.get(tag);
    if (!p || p.jid !== from) return this.dropped('unexpected', `error ${stanzaError(m)} for message ${tag.slice(0, 64)}`, from);
    this.settle(tag, p);
    p.reject(new LinkError('EPEER', `signaling: ${p.action} did not reach node ${p.nodeId}: ${stanzaError(m)}`));
  }

  private onComplete(ra: RemoteAction, senderId: string, from: string): void {
    const p = this.pending.get(ra.action_tag);
    if (!p) return this.dropped('unexpected', `cmpt ${ra.action_tag} answers no request of ours (late, after its timeout?)`, from);
    if (p.nodeId !== senderId) return this.dropped('spoofed', `cmpt ${ra.action_tag} from node ${senderId} answers a request to node ${p.nodeId}`, from);
    if (p.action !== ra.action) return this.dropped('malformed', `cmpt ${ra.action_tag} is for ${ra.action}, the request was ${p.action}`, from);
    this.counts.received.cmpt++;
    this.settle(ra.action_tag, p);
    if (ra.status === true) p.resolve(ra.data);
    else p.reject(new LinkError('EREMOTE', `signaling: node ${senderId} failed ${ra.action}: ${typeof ra.data === 'string' ? ra.data : 'no reason given'}`));
  }

  private onInvoke(s: Session, ra: RemoteAction, senderId: string, from: string): void {
    this.counts.received.invk++;
    const handler = this.handlers.get(ra.action);
    if (!handler) {
      this.counts.refused.noHandler++;
      this.reply(s, ra, from, false, `node ${this.nodeId} has no handler for ${ra.action}`);
      return;
    }
    if (this.running >= this.maxHandlers) {
      this.counts.refused.busy++;
      this.reply(s, ra, from, false, `node ${this.nodeId} is busy (${this.running} requests being handled)`);
      return;
    }
    const mine = this.runningBy.get(senderId) ?? 0;
    if (mine >= this.maxHandlersPerPeer) {
      this.counts.refused.peerBusy++;
      this.reply(s, ra, from, false, `node ${this.nodeId} is busy with ${mine} requests from node ${senderId}`);
      return;
    }
    this.running++;
    this.runningBy.set(senderId, mine + 1);
    Promise.resolve()
      .then(() => handler(ra.params, senderId))
      .then(
        (data) => this.reply(s, ra, from, true, data),
        (e: unknown) => this.reply(s, ra, from, false, message(e)),
      )
      .finally(() => {
        this.running--;
        const n = (this.runningBy.get(senderId) ?? 1) - 1;
        if (n <= 0) this.runningBy.delete(senderId);
        else this.runningBy.set(senderId, n);
      })
      .catch((e: unknown) => this.log.error({ action: ra.action, err: message(e) }, 'replying failed'));
  }

  /** Sends the cmpt on the session the request came in on, if it is still up (else the reply is moot). */
  private reply(s: Session, ra: RemoteAction, to: string, ok: boolean, data: unknown): void {
    if (s.phase === 'dead' || s !== this.session) {
      this.log.debug({ action: ra.action, peer: ra.initiator_id }, 'reply dropped: the session it was for is gone');
      return;
    }
    const base: RemoteAction = { ...ra, params: {} };
    let json: string | undefined;
    let why: string | undefined;
    if (ok) {
      try {
        json = JSON.stringify(data === undefined ? { ...base, status: true } : { ...base, status: true, data });
      } catch (e) {
        why = `the handler of ${ra.action} returned something that is not JSON: ${message(e)}`;
      }
      if (json !== undefined && Buffer.byteLength(json, 'utf8') > MAX_PAYLOAD_BYTES) {
        why = `the reply to ${ra.action} is over ${MAX_PAYLOAD_BYTES} bytes`;
        json = undefined;
      }
      if (why !== undefined) this.log.warn({ action: ra.action, peer: ra.initiator_id, err: why }, 'reply refused');
    } else {
      why = String(data);
    }
    if (json === undefined) json = JSON.stringify({ ...base, status: false, data: (why ?? 'failed').slice(0, MAX_REASON_CHARS) });
    this.counts.sent.cmpt++;
    this.send(s, evioMessage(to, 'cmpt', json, ra.action_tag), 'cmpt');
  }
}
