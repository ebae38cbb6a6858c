/**
 * Watching the peer of a stream connection that may stop reading what we write. Both ends of the
 * OpenFlow channel follow this one rule: switch/channel.ts for each controller, and
 * controller/datapath-connection.ts for each switch.
 *
 * - Input is held while the peer's write queue is full. Past the queue limit, the frames not yet handled
 *   wait in a backlog and the socket is paused. A peer that sends requests and never reads the answers is
 *   then held back by TCP instead of growing our memory. On 'drain' the backlog is handled again, and the
 *   socket resumes once nothing waits.
 * - Each keepalive tick decides. A peer is stuck when the kernel took none of its queued bytes for twice
 *   the interval, or when it stays silent that long while something is queued for it (our echo request,
 *   at least). Otherwise, unless input is held (then its silence is ours), a peer silent for twice the
 *   interval is gone, and one silent for the interval gets one echo request.
 * The watch only keeps time and byte counts. The caller counts, logs, sends the echo and closes, each in
 * its own words.
 *
 * May import: nothing (node's Socket is seen through `WatchedSocket`).
 */

/** Default bytes queued for one peer before its input is held. */
export const DEFAULT_QUEUE_LIMIT = 1 << 20;

/**
 * The queue limit to use for a requested one (default DEFAULT_QUEUE_LIMIT). It is never below 64 KiB, the
 * socket's high-water mark, so a queue past the limit always ends in a 'drain'.
 */
export function queueLimitFor(requested: number | undefined): number {
  return Math.max(64 * 1024, requested ?? DEFAULT_QUEUE_LIMIT);
}

/** What the watch reads of a socket and does to it (node's net.Socket has all of it). */
export interface WatchedSocket {
  /** Bytes written but not yet taken by the kernel. */
  readonly writableLength: number;
  /** Bytes written in all, taken or not. */
  readonly bytesWritten: number;
  pause(): unknown;
  resume(): unknown;
}

/** What one keepalive tick found; the caller acts on it. */
export type Keepalive =
  /** Not reading. `stuckMs` is how long the queue has not moved, or else how long the peer has been silent. */
  | { readonly kind: 'stuck'; readonly queuedBytes: number; readonly idleMs: number; readonly stuckMs: number }
  /** Silent for twice the interval, with nothing queued: an echo request went unanswered. */
  | { readonly kind: 'silent'; readonly idleMs: number }
  /** Silent for the interval: send one echo request (the watch has marked it sent). */
  | { readonly kind: 'probe' }
  | { readonly kind: 'ok' };

export class PeerWatch {
  private lastRx: number;
  private probeSent = false;
  /** Bytes the kernel had taken at the last tick, and since when nothing more was taken. */
  private lastFlushed = 0;
  private stuckSince: number | undefined;
  /** Frames read but not yet handled while input is held. */
  private backlog: Buffer[] = [];

  constructor(
    private readonly sock: WatchedSocket,
    /** Silence before an echo request; twice this, and the peer is stuck or gone. */
    readonly intervalMs: number,
    /** Bytes queued for the peer beyond which its input is held (see queueLimitFor). */
    readonly limit: number,
    now = Date.now(),
  ) {
    this.lastRx = now;
  }

  /** The peer sent something: its silence starts again, and so may the echo request. */
  heard(now = Date.now()): void {
    this.lastRx = now;
    this.probeSent = false;
  }

  /** One keepalive tick: whether the peer is stuck, gone, due an echo request, or fine. */
  tick(now = Date.now()): Keepalive {
    const queued = this.sock.writableLength;
    const flushed = this.sock.bytesWritten - queued;
    if (queued > 0 && flushed === this.lastFlushed) this.stuckSince ??= now;
    else this.stuckSince = undefined;
    this.lastFlushed = flushed;
    const idle = now - this.lastRx;
    const twice = 2 * this.intervalMs;
    // Whichever of the two rules fires first.
    if ((this.stuckSince !== undefined && now - this.stuckSince > twice) || (queued > 0 && idle > twice)) {
      return { kind: 'stuck', queuedBytes: queued, idleMs: idle, stuckMs: now - (this.stuckSince ?? this.lastRx) };
    }
    if (this.held) return { kind: 'ok' };
    if (idle > twice) return { kind: 'silent', idleMs: idle };
    if (idle > this.intervalMs && !this.probeSent) {
      this.probeSent = true;
      return { kind: 'probe' };
    }
    return { kind: 'ok' };
  }

  /** Whether input is held until the peer's queue drains. */
  get held(): boolean {
    return this.backlog.length > 0;
  }

  /**
   * For frames just read: while input is held, they wait behind the others (a chunk already read may still
   * arrive after the pause) and this returns true, so the caller handles none of them now.
   */
  waitIfHeld(frames: readonly Buffer[]): boolean {
    if (this.backlog.length === 0) return false;
    for (const f of frames) this.backlog.push(f);
    return true;
  }

  /**
   * Call before handling frames[i]. Returns true when the queue (plus `unwritten` bytes the caller still
   * holds) is at the limit. Then frames[i] and the rest wait, the socket is paused, and the caller counts
   * the pause and stops.
   */
  holdIfFull(frames: readonly Buffer[], i: number, unwritten = 0): boolean {
    if (this.sock.writableLength + unwritten < this.limit) return false;
    this.backlog = frames.slice(i);
    this.sock.pause();
    return true;
  }

  /**
   * On the socket's 'drain': hands the waiting frames to `handle` (which may hold some of them again) and
   * resumes the socket once none wait. Does nothing if none wait or the connection is no longer alive.
   */
  drained(handle: (frames: readonly Buffer[]) => void, alive: () => boolean): void {
    if (this.backlog.length === 0 || !alive()) return;
    const frames = this.backlog;
    this.backlog = [];
    handle(frames);
    if (this.backlog.length === 0 && alive()) this.sock.resume();
  }
}
