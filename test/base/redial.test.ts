/**
 * base/redial.ts with injected timers and randomness: the delay sequence (1 s doubling to the cap, each
 * shortened by at most the jitter), the reset after a full session, one redial at a time, stop.
 */
import { describe, expect, it } from 'vitest';
import { Backoff, Redialer, type Scheduler } from '../../base/redial.js';

/** A scheduler that runs nothing by itself: the test fires what is due. */
class ManualScheduler implements Scheduler {
  readonly waiting: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  schedule(ms: number, fn: () => void): { cancel(): void } {
    const t = { ms, fn, cancelled: false };
    this.waiting.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  /** Runs the oldest pending timer; returns its delay. */
  fire(): number {
    const t = this.waiting.shift();
    if (!t) throw new Error('nothing scheduled');
    if (!t.cancelled) t.fn();
    return t.ms;
  }
}

describe('Backoff', () => {
  it('doubles from min to max without jitter', () => {
    const b = new Backoff({ minMs: 1000, maxMs: 8000, random: () => 0 });
    expect(Array.from({ length: 6 }, () => b.next())).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('jitter only shortens: at most a quarter off each step', () => {
    const b = new Backoff({ random: () => 0.999999 });
    expect(Array.from({ length: 5 }, () => b.next())).toEqual([750, 1500, 3000, 6000, 6000]);
    const half = new Backoff({ random: () => 0.5 });
    expect(Array.from({ length: 4 }, () => half.next())).toEqual([875, 1750, 3500, 7000]);
  });

  it('reset() starts over at min', () => {
    const b = new Backoff({ random: () => 0 });
    b.next();
    b.next();
    b.next();
    b.reset();
    expect([b.next(), b.next()]).toEqual([1000, 2000]);
  });

  it.each([
    [{ minMs: 0 }, /expected 0 < min <= max/],
    [{ minMs: 2000, maxMs: 1000 }, /expected 0 < min <= max, got min 2000 ms, max 1000 ms/],
    [{ jitter: 1 }, /jitter must be in \[0, 1\)/],
  ])('refuses %j', (opts, text) => {
    expect(() => new Backoff(opts)).toThrow(text);
  });
});

describe('Redialer', () => {
  function rig(): { r: Redialer; sched: ManualScheduler; dials: number[] } {
    const sched = new ManualScheduler();
    const dials: number[] = [];
    const r = new Redialer({ dial: () => dials.push(dials.length), scheduler: sched, random: () => 0 });
    return { r, sched, dials };
  }

  it('redials after each failure with growing delays; a full session resets them', () => {
    const { r, sched, dials } = rig();
    r.start();
    expect(dials).toHaveLength(1);
    const delays: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      delays.push(r.failed());
      expect(sched.fire()).toBe(delays[i]);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(dials).toHaveLength(6);
    r.succeeded();
    expect(r.failed()).toBe(1000);
  });

  it('a failure reported twice (error, then close) schedules one redial', () => {
    const { r, sched, dials } = rig();
    r.start();
    expect(r.failed()).toBe(1000);
    expect(r.failed()).toBeUndefined();
    expect(r.scheduled).toBe(true);
    sched.fire();
    expect(dials).toHaveLength(2);
    expect(r.scheduled).toBe(false);
    expect(r.failed()).toBe(2000);
  });

  it('stop() cancels the pending redial and refuses new ones', () => {
    const { r, sched, dials } = rig();
    r.start();
    r.failed();
    r.stop();
    sched.fire();
    expect(dials).toHaveLength(1);
    expect(r.failed()).toBeUndefined();
    r.start();
    expect(dials).toHaveLength(1);
  });
});
