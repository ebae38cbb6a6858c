/**
 * What every fuzz target shares: its options (how many inputs, from which seed), its report (inputs tried,
 * what went wrong, memory before/peak/after) and a memory sampler. A target is run by its short-mode test
 * (test/fuzz/, a few thousand inputs in CI) and by `npm run fuzz` (fuzz/run.ts, ≥ 1,000,000 inputs in all).
 *
 * A finding is one input that broke a promise (a crash, a hang, a wrong or missing OFPT_ERROR, another
 * connection disturbed): its text names the seed and index so it can be replayed. A target never throws for
 * a finding; it reports it and goes on, so one run shows them all.
 *
 * May import: anything (fuzz/ drives the parts from outside, as bench/ and test/ do).
 */

export interface FuzzOptions {
  /** How many inputs to try. */
  readonly inputs: number;
  /** Seed of the seeded rng (test/helpers/rng.ts); the same seed tries the same inputs. */
  readonly seed: number;
  /** Progress lines (the long runner prints them; tests leave it out). */
  readonly log?: (line: string) => void;
}

export interface MemorySample {
  /** Resident set size, MiB. */
  readonly rssMiB: number;
  /** V8 heap in use, MiB. */
  readonly heapMiB: number;
}

export interface FuzzReport {
  readonly target: string;
  /** Inputs actually tried. */
  readonly inputs: number;
  /** At most 20 findings, each naming seed and input index; an empty list is a clean run. */
  readonly findings: readonly string[];
  /** Findings beyond the 20 kept. */
  readonly moreFindings: number;
  readonly memory: { readonly start: MemorySample; readonly peak: MemorySample; readonly end: MemorySample };
  readonly ms: number;
  /** Target-specific counts (errors answered by type, connections closed, frames dropped, ...). */
  readonly counts: Readonly<Record<string, number>>;
}

export interface FuzzTarget {
  readonly name: string;
  /** One line: what is fuzzed and what is promised. */
  readonly about: string;
  run(opts: FuzzOptions): Promise<FuzzReport>;
}

export function sampleMemory(): MemorySample {
  const m = process.memoryUsage();
  return { rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20 };
}

/** How often `FuzzRecorder.tick` samples memory and logs a progress line, in inputs. */
export interface Progress {
  readonly sampleEvery: number;
  readonly logEvery: number;
}

/**
 * Collects a run's findings, counts and memory. `finding()` keeps the first 20; `tick()` (call it before
 * each input, or after each batch) samples memory and logs progress now and then, and `sample()` does so
 * at once; `report()` ends the run.
 */
export class FuzzRecorder {
  private readonly found: string[] = [];
  private more = 0;
  private readonly counters: Record<string, number> = {};
  private readonly t0 = performance.now();
  private readonly start = sampleMemory();
  private peak: MemorySample = this.start;
  /** How many sampleEvery and logEvery steps tick() has passed. */
  private sampled = 0;
  private logged = 0;

  constructor(
    readonly target: string,
    readonly opts: FuzzOptions,
    private readonly progress: Progress = { sampleEvery: 20_000, logEvery: 20_000 },
  ) {}

  finding(index: number, what: string): void {
    if (this.found.length < 20) this.found.push(`seed ${this.opts.seed} input ${index}: ${what}`);
    else this.more++;
  }

  count(name: string, by = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + by;
  }

  get findingCount(): number {
    return this.found.length + this.more;
  }

  sample(): MemorySample {
    const s = sampleMemory();
    this.peak = { rssMiB: Math.max(this.peak.rssMiB, s.rssMiB), heapMiB: Math.max(this.peak.heapMiB, s.heapMiB) };
    return s;
  }

  /**
   * `done` inputs are done in all: memory is sampled each time another `sampleEvery` inputs are done, and a
   * progress line is logged each time another `logEvery` are. Calls between the steps cost two divisions.
   */
  tick(done: number): void {
    const s = Math.floor(done / this.progress.sampleEvery);
    if (s > this.sampled) {
      this.sampled = s;
      this.sample();
    }
    const l = Math.floor(done / this.progress.logEvery);
    if (l > this.logged) {
      this.logged = l;
      this.opts.log?.(`${this.target}: ${done} inputs, ${this.findingCount} findings`);
    }
  }

  report(inputs: number): FuzzReport {
    const end = this.sample();
    return {
      target: this.target,
      inputs,
      findings: [...this.found],
      moreFindings: this.more,
      memory: { start: this.start, peak: this.peak, end },
      ms: performance.now() - this.t0,
      counts: { ...this.counters },
    };
  }
}
