/**
 * Per-peer rate limits, pure: a token bucket per key (a node id), with the keys themselves bounded, so a
 * flood from one peer costs a counter and never memory. The caller passes the time; nothing here keeps a
 * timer. Used by signaling (requests per sender, link/signal.ts) and the link manager (new links per
 * peer, link/manager.ts); link/README.md lists the limits and why.
 *
 * May import: nothing.
 */

export interface RateLimit {
  /** Tokens a key starts with and holds at most: the burst it may send at once. */
  readonly burst: number;
  /** Tokens added per second. */
  readonly perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets by key. `take(key, now)` spends one token and says whether there was one. At most
 * `maxKeys` buckets are kept: beyond, the bucket untouched longest goes (a Map keeps insertion order and
 * take() re-inserts, so the first key is the oldest). A key forgotten that way starts full again, which
 * is no gain to a flooder: it has to be quiet for its bucket to be the oldest of maxKeys.
 */
export class PeerRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: RateLimit,
    readonly maxKeys = 4096,
  ) {
    if (!(limit.burst >= 1) || !(limit.perSecond > 0)) throw new RangeError(`rate limit: burst ≥ 1 and perSecond > 0, got ${JSON.stringify(limit)}`);
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`rate limit: maxKeys must be a whole number ≥ 1, got ${maxKeys}`);
  }

  /** Spends a token of `key` at time `now` (ms); false when it has none (the caller drops and counts). */
  take(key: string, now: number): boolean {
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.limit.burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    } else {
      this.buckets.delete(key);
      const dt = Math.max(0, now - b.at);
      b.tokens = Math.min(this.limit.burst, b.tokens + (dt * this.limit.perSecond) / 1000);
      b.at = now;
    }
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Keys with a bucket now (≤ maxKeys). */
  get size(): number {
    return this.buckets.size;
  }

  forget(key: string): void {
    this.buckets.delete(key);
  }
}
