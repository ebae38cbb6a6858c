/**
 * Waiting in tests for something another process or socket does: poll a condition until it holds or
 * a deadline passes, and fail naming what was awaited. Deadlines are generous bounds, never the thing
 * measured: a loaded 2-core machine must not fail a test that is right.
 */

export interface WaitOptions {
  /** How often to look (ms). Default 50. */
  readonly intervalMs?: number;
  /** Called before each look; throws to stop waiting at once (a process that died, say). */
  readonly check?: () => void;
  /** More to say when the deadline passes (a log tail, say). */
  readonly detail?: () => string;
}

/**
 * Resolves with the first value of `get` that is neither undefined, null nor false (so a condition
 * resolves true, a lookup resolves what it found); rejects after `ms` naming `what`.
 */
export async function waitFor<T>(what: string, get: () => T | Promise<T>, ms = 5000, opts: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + ms;
  for (;;) {
    opts.check?.();
    const v = await get();
    if (v !== undefined && v !== null && v !== false) return v as Exclude<T, undefined | null | false>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${opts.detail ? `; ${opts.detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
