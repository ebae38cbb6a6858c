/**
 * Static links: the node keeps one link to each peer its config lists (`Peers`), as EdgeVPN's
 * `StaticEdges` do, until the overlay issue brings a topology that decides which links exist.
 *
 * The policy, per listed peer:
 * - it is dialled (LinkManager.connect) as soon as signaling reports it present, and not before: a
 *   request to a peer that is not logged in is lost without an error (RECIPES, XMPP);
 * - a failed attempt is retried with base/redial's backoff (1 s doubling to 8 s, jitter), as long as
 *   the peer is present; a link that comes up resets the backoff;
 * - a link that goes down is dialled again after the next backoff step, if the peer is still present;
 * - a peer reported gone is not dialled any more, but its link is left alone: signaling going away
 *   (an XMPP server restart, a presence blip) says nothing about the link, whose own liveness checks
 *   decide when it is dead.
 * Links a peer dials to us are the link manager's to accept; they count as this peer's link here.
 *
 * `since` is when the current wait for a link began (the peer seen, or its link lost): the node reports
 * "peer seen → port up" from it.
 *
 * Timers and the clock are injected, so tests step through retries without waiting.
 *
 * May import: base/.
 */
import type { Logger } from '../base/logger.js';
import { Backoff, type BackoffOptions, type Scheduler, timerScheduler } from '../base/redial.js';

export interface StaticPeersOptions {
  readonly peers: readonly string[];
  /** Resolves once a link to the peer is up; rejects when this attempt failed. */
  readonly connect: (peer: string) => Promise<unknown>;
  readonly log: Logger;
  readonly scheduler?: Scheduler;
  readonly backoff?: BackoffOptions;
  readonly now?: () => number;
}

export interface PeerState {
  readonly peer: string;
  readonly present: boolean;
  readonly linked: boolean;
  readonly connecting: boolean;
  /** Attempts made since the last link came up. */
  readonly attempts: number;
  /** When the current wait for a link began (ms, the injected clock); undefined while linked or never seen. */
  readonly since: number | undefined;
  /** Why the last attempt failed. */
  readonly lastError: string | undefined;
  /** A retry is scheduled. */
  readonly retrying: boolean;
}

interface Peer {
  readonly id: string;
  readonly backoff: Backoff;
  present: boolean;
  linked: boolean;
  connecting: boolean;
  attempts: number;
  since: number | undefined;
  lastError: string | undefined;
  timer: { cancel(): void } | undefined;
}

export class StaticPeers {
  private readonly peers = new Map<string, Peer>();
  private readonly scheduler: Scheduler;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly opts: StaticPeersOptions) {
    this.scheduler = opts.scheduler ?? timerScheduler({ unref: true });
    this.now = opts.now ?? (() => performance.now());
    for (const id of opts.peers) {
      this.peers.set(id, {
        id, backoff: new Backoff(opts.backoff), present: false, linked: false, connecting: false, attempts: 0, since: undefined, lastError: undefined, timer: undefined,
      });
    }
  }

  /** Whether the config lists this peer. */
  has(peer: string): boolean {
    return this.peers.has(peer);
  }

  /** Signaling saw the peer (logged in, announced). */
  present(peer: string): void {
    const p = this.peers.get(peer);
    if (p === undefined || p.present) return;
    p.present = true;
    if (!p.linked) p.since ??= this.now();
    this.kick(p);
  }

  /** Signaling says the peer left. */
  gone(peer: string): void {
    const p = this.peers.get(peer);
    if (p === undefined) return;
    p.present = false;
    this.cancel(p);
  }

  /** A link to the peer is up (dialled by us or by it). */
  linkUp(peer: string): void {
    const p = this.peers.get(peer);
    if (p === undefined) return;
    p.linked = true;
    p.attempts = 0;
    p.since = undefined;
    p.lastError = undefined;
    p.backoff.reset();
    this.cancel(p);
  }

  /** The peer's link went down. */
  linkDown(peer: string, reason: string): void {
    const p = this.peers.get(peer);
    if (p === undefined) return;
    p.linked = false;
    p.since = this.now();
    p.lastError = reason;
    this.retryLater(p);
  }

  /** When the current wait for a link to peer began (ms), if it is waiting. */
  since(peer: string): number | undefined {
    return this.peers.get(peer)?.since;
  }

  states(): PeerState[] {
    return [...this.peers.values()].map((p) => ({
      peer: p.id, present: p.present, linked: p.linked, connecting: p.connecting, attempts: p.attempts, since: p.since, lastError: p.lastError, retrying: p.timer !== undefined,
    }));
  }

  /** No more attempts (the node is stopping). */
  stop(): void {
    this.stopped = true;
    for (const p of this.peers.values()) this.cancel(p);
  }

  private kick(p: Peer): void {
    if (this.stopped || !p.present || p.linked || p.connecting || p.timer !== undefined) return;
    p.connecting = true;
    p.attempts++;
    this.opts.log.info({ peer: p.id, attempt: p.attempts }, 'connecting to peer');
    this.opts.connect(p.id).then(
      () => {
        p.connecting = false;
      },
      (e: unknown) => {
        p.connecting = false;
        p.lastError = e instanceof Error ? e.message : String(e);
        if (p.linked) return; // the peer's own dial won meanwhile
        this.opts.log.warn({ peer: p.id, attempt: p.attempts, err: p.lastError }, 'link to peer failed');
        this.retryLater(p);
      },
    );
  }

  private retryLater(p: Peer): void {
    if (this.stopped || !p.present || p.linked || p.timer !== undefined) return;
    const ms = p.backoff.next();
    p.timer = this.scheduler.schedule(ms, () => {
      p.timer = undefined;
      this.kick(p);
    });
  }

  private cancel(p: Peer): void {
    p.timer?.cancel();
    p.timer = undefined;
  }
}
