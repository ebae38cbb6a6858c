/**
 * EdgeVPN's JidCache (node id → JID, with CacheExpiry, 60 s by default), driven by room presence.
 *
 * EdgeVPN's entries expire 60 s after the `ident` that filled them, although a peer announces itself
 * only every 10 to 25 minutes, so most requests first resolve the JID again (EDGEVPN.md §1). Here the
 * room's presence is the truth while we are in the room: an occupant's entry holds from its available
 * presence until its unavailable one, with no expiry. Only when we lose the room (the XMPP session
 * dropped) can we no longer hear peers leave; then every entry expires `expiryMs` after the loss (not
 * after each failed redial). On rejoining, the room sends every occupant's presence and then ours
 * (XEP-0045 §7.2.3): entries refreshed in between stay, the others are gone (reconcile()).
 *
 * Pure: the caller passes the time and turns the returned node ids into events.
 *
 * May import: nothing.
 */

export interface Peer {
  readonly nodeId: string;
  /** Where to send to it: its occupant JID, `<room>/<node id>`. */
  readonly jid: string;
  /** Its account's full JID, when the room shows it (non-anonymous rooms, or to moderators); for logs. */
  readonly realJid: string | undefined;
  /** When its current presence began (ms, the caller's clock). */
  readonly since: number;
}

interface Entry {
  peer: Peer;
  /** Not heard since the current (re)join began. */
  stale: boolean;
  /** Set while we are out of the room. */
  expiresAt: number | undefined;
}

export class JidCache {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly expiryMs: number) {
    if (!(expiryMs > 0)) throw new RangeError(`JidCache: expiry must be positive, got ${expiryMs} ms`);
  }

  /** An available presence: returns true when the node is new (a peerPresent). */
  present(nodeId: string, jid: string, realJid: string | undefined, now: number): boolean {
    const e = this.entries.get(nodeId);
    if (e && e.peer.jid === jid && (e.expiresAt === undefined || now < e.expiresAt)) {
      e.stale = false;
      e.expiresAt = undefined;
      if (realJid !== undefined && realJid !== e.peer.realJid) e.peer = { ...e.peer, realJid };
      return false;
    }
    this.entries.set(nodeId, { peer: { nodeId, jid, realJid, since: now }, stale: false, expiresAt: undefined });
    return e === undefined;
  }

  /** An unavailable presence: returns true when the node was known (a peerGone). */
  gone(nodeId: string): boolean {
    return this.entries.delete(nodeId);
  }

  /** The node's entry, unless it expired (expired ones wait for sweep(), which reports them). */
  lookup(nodeId: string, now: number): Peer | undefined {
    const e = this.entries.get(nodeId);
    if (!e || (e.expiresAt !== undefined && now >= e.expiresAt)) return undefined;
    return e.peer;
  }

  /** Live node ids, sorted. */
  ids(now: number): string[] {
    return [...this.entries.values()]
      .filter((e) => e.expiresAt === undefined || now < e.expiresAt)
      .map((e) => e.peer.nodeId)
      .sort();
  }

  /** We lost the room: entries not yet counting down expire expiryMs from now. */
  suspend(now: number): void {
    for (const e of this.entries.values()) e.expiresAt ??= now + this.expiryMs;
  }

  /** A (re)join begins: entries must be heard again before reconcile(). */
  beginSync(): void {
    for (const e of this.entries.values()) e.stale = true;
  }

  /** The join finished (our own presence came last): removes and returns the nodes not heard. */
  reconcile(): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.stale) {
        this.entries.delete(id);
        gone.push(id);
      }
    }
    return gone.sort();
  }

  /** Entries held now (expired ones included until swept). */
  get size(): number {
    return this.entries.size;
  }

  /** Whether the node has an entry (live or waiting to be swept). */
  has(nodeId: string): boolean {
    return this.entries.has(nodeId);
  }

  /** Removes and returns the entries whose time is up. */
  sweep(now: number): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.entries) {
      if (e.expiresAt !== undefined && now >= e.expiresAt) {
        this.entries.delete(id);
        gone.push(id);
      }
    }
    return gone.sort();
  }

  /** The earliest expiry, for the caller's timer. */
  nextExpiry(): number | undefined {
    let t: number | undefined;
    for (const e of this.entries.values()) if (e.expiresAt !== undefined && (t === undefined || e.expiresAt < t)) t = e.expiresAt;
    return t;
  }

  /** Forgets everything; returns the node ids that were known. */
  clear(): string[] {
    const ids = [...this.entries.keys()].sort();
    this.entries.clear();
    return ids;
  }
}
