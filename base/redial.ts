/**
 * Redialling with backoff, for every side that dials: the switch's active controller connections and
 * the controller's passive switches.
 *
 * The rule is OVS's rconn: the first redial comes `minMs` after a failure (default 1 s), each further
 * failure doubles the step up to `maxMs` (default 8 s, OVS's max_backoff). Every failure counts: refused,
 * TLS failed, closed during the handshake, the peer refused our version. Only a full session (the
 * caller decides what that is: the OpenFlow handshake done) resets the step, so a peer that accepts TCP
 * and then hangs up is not redialled every second. Each delay is its step shortened by up to `jitter`
 * (a quarter by default) at random, so that many dialers that lost the same peer do not redial in step;
 * jitter only shortens, so the step is also the cap.
 *
 * Timers and randomness are injectable (`scheduler`, `random`) so that tests can step through a
 * sequence without waiting.
 *
 * May import: nothing (see base/README.md).
 */

export interface BackoffOptions {
  /** First delay after a failure (ms). Default 1000. */
  readonly minMs?: number;
  /** Largest delay (ms). Default 8000. */
  readonly maxMs?: number;
  /** Each delay is its step shortened by up to this fraction, at random (0 ≤ jitter < 1). Default 0.25. */
  readonly jitter?: number;
  /** A random number in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export const DEFAULT_MIN_BACKOFF_MS = 1000;
export const DEFAULT_MAX_BACKOFF_MS = 8000;
export const DEFAULT_BACKOFF_JITTER = 0.25;

/** The delay sequence alone: next() after each failure, reset() after a full session. */
export class Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private step: number;

  constructor(opts: BackoffOptions = {}) {
    this.minMs = opts.minMs ?? DEFAULT_MIN_BACKOFF_MS;
    this.maxMs = opts.maxMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.jitter = opts.jitter ?? DEFAULT_BACKOFF_JITTER;
    this.random = opts.random ?? Math.random;
    if (!(this.minMs > 0) || !(this.maxMs >= this.minMs)) {
      throw new RangeError(`backoff: expected 0 < min <= max, got min ${this.minMs} ms, max ${this.maxMs} ms`);
    }
    if (!(this.jitter >= 0 && this.jitter < 1)) throw new RangeError(`backoff: jitter must be in [0, 1), got ${this.jitter}`);
    this.step = this.minMs;
  }

  /** The delay before the next attempt (ms, at least 1); the step after it doubles, up to maxMs. */
  next(): number {
    const step = this.step;
    this.step = Math.min(step * 2, this.maxMs);
    return Math.max(1, Math.round(step * (1 - this.jitter * this.random())));
  }

  /** A full session happened: the next failure starts over at minMs. */
  reset(): void {
    this.step = this.minMs;
  }
}

/** Runs fn after ms; what the returned handle cancels. */
export interface Scheduler {
  schedule(ms: number, fn: () => void): { cancel(): void };
}

/** Node's timers. `unref`: a pending redial does not keep the process alive. */
export function timerScheduler(opts: { readonly unref?: boolean } = {}): Scheduler {
  return {
    schedule(ms, fn) {
      const t = setTimeout(fn, ms);
      if (opts.unref) t.unref();
      return { cancel: () => clearTimeout(t) };
    },
  };
}

export interface RedialOptions extends BackoffOptions {
  /** Makes one attempt; the caller reports its outcome with failed() / succeeded(). */
  readonly dial: () => void;
  /** Default: Node's timers, kept referenced. */
  readonly scheduler?: Scheduler;
}

/** One peer to keep dialling: schedules the next attempt after each failure, one at a time. */
export class Redialer {
  private readonly backoff: Backoff;
  private readonly scheduler: Scheduler;
  private pending: { cancel(): void } | undefined;
  private stopped = false;

  constructor(private readonly opts: RedialOptions) {
    this.backoff = new Backoff(opts);
    this.scheduler = opts.scheduler ?? timerScheduler();
  }

  /** Dials now. */
  start(): void {
    if (!this.stopped) this.opts.dial();
  }

  /**
   * An attempt failed or a connection ended: dials again after the next delay. Returns that delay (ms),
   * or undefined when stopped or when a redial is already scheduled (one failure can be reported
   * twice, e.g. by an error and then a close).
   */
  failed(): number | undefined {
    if (this.stopped || this.pending) return undefined;
    const delay = this.backoff.next();
    this.pending = this.scheduler.schedule(delay, () => {
      this.pending = undefined;
      if (!this.stopped) this.opts.dial();
    });
    return delay;
  }

  /** A full session was reached: the next failure starts the backoff over. */
  succeeded(): void {
    this.backoff.reset();
  }

  /** Cancels a scheduled redial; nothing is dialled after this. */
  stop(): void {
    this.stopped = true;
    this.pending?.cancel();
    this.pending = undefined;
  }

  get scheduled(): boolean {
    return this.pending !== undefined;
  }
}
