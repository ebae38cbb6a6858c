/**
 * Flow expiry for a datapath's tables: one timer armed for the earliest deadline any table holds
 * (FlowTable.nextDeadline), not a periodic sweep, so a timeout fires close to its time and a switch with
 * no timed flows has no timer at all. The deadline is a lower bound (an idle flow hit since it was queued
 * is only re-queued when its old deadline comes), so a run may remove nothing and simply re-arm for the
 * next one. What an expired entry means (flow-removed, group and meter references) is the datapath's:
 * each removed entry goes to `onRemoved`.
 *
 * Times come from the datapath's injected clock (ms); the timer itself is Node's, unref'd.
 *
 * May import: openflow/ (types) and switch/flow-table.ts.
 */
import type { FlowEntry, FlowTable } from './flow-table.js';

/**
 * Expiry runs are at least this far apart (ms). A timer is armed for the earliest flow deadline, so a
 * timeout fires within about this of its time; the gap bounds wake-ups when deadlines are spread thinly
 * (many idle flows kept alive by traffic each come due once per idle period and are re-queued).
 */
const EXPIRY_MIN_GAP_MS = 20;
/** setTimeout's longest delay (about 24.8 days); a later deadline is reached in steps. */
const MAX_TIMER_MS = 0x7fffffff;

export class FlowExpiry {
  /** The expiry timer, armed only while some flow has a timeout, for `timerAt` (injected clock, ms). */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** When the last expiry run that found something due ran (injected clock, ms). */
  private lastRun = -Infinity;
  private stopped = false;

  constructor(
    private readonly tables: readonly FlowTable[],
    private readonly now: () => number,
    private readonly onRemoved: (entry: FlowEntry, reason: number, now: number) => void,
    /** Brings the entries' last use up to date before a run (the datapath's flow cache counts on its own). */
    private readonly beforeRun?: () => void,
  ) {}

  /** (Re-)arms the expiry timer for the earliest deadline of all tables; disarms it when there is none. */
  schedule(): void {
    if (this.stopped) return;
    let next = Infinity;
    for (const t of this.tables) {
      const d = t.nextDeadline();
      if (d !== undefined && d < next) next = d;
    }
    if (next === Infinity) {
      this.disarm();
      return;
    }
    const at = Math.max(next, this.lastRun + EXPIRY_MIN_GAP_MS);
    if (this.timer !== undefined && this.timerAt <= at) return; // it fires early enough and re-arms then
    this.disarm();
    // Node may run a timer a little before the clock says its delay is over (its loop time is cached),
    // so round up and add a millisecond; a run that still finds nothing due just re-arms.
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - this.now()) + 1));
    this.timerAt = at;
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }

  /** No timer from now on. */
  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  private run(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.beforeRun?.();
    const now = this.now();
    for (const t of this.tables) {
      const due = t.nextDeadline();
      if (due === undefined || due > now) continue;
      this.lastRun = now;
      for (const { entry, reason } of t.expire(now)) this.onRemoved(entry, reason, now);
    }
    this.schedule();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}
