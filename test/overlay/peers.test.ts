/**
 * StaticPeers (overlay/peers.ts), the node's dialling policy, stepped through with an injected scheduler
 * and clock: a listed peer is dialled when it is present and not before, failures are retried with
 * backoff while it stays present, a link that goes down is dialled again, a peer that leaves stops the
 * retries but its link is left alone, and `since` tells when the current wait for a link began.
 */
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import type { Scheduler } from '../../base/redial.js';
import { StaticPeers } from '../../overlay/peers.js';

const P = '0123456789abcdef0123456789abcdef';
const Q = 'fedcba9876543210fedcba9876543210';

/** Timers run only when the test says so. */
class ManualScheduler implements Scheduler {
  pending: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  schedule(ms: number, fn: () => void): { cancel(): void } {
    const t = { ms, fn, cancelled: false };
    this.pending.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }
  live(): { ms: number }[] {
    return this.pending.filter((t) => !t.cancelled);
  }
  runAll(): void {
    const due = this.pending.filter((t) => !t.cancelled);
    this.pending = [];
    for (const t of due) t.fn();
  }
}

/** connect() calls, each settled by the test. */
function dialer(): { calls: string[]; settle(ok: boolean): Promise<void>; connect(p: string): Promise<unknown> } {
  const waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  const calls: string[] = [];
  return {
    calls,
    connect(p) {
      calls.push(p);
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    async settle(ok) {
      const w = waiting.shift();
      if (w === undefined) throw new Error('no connect() waiting');
      if (ok) w.resolve({});
      else w.reject(new Error('ETIMEDOUT: no link'));
      await new Promise((r) => setImmediate(r));
    },
  };
}

function setup(): { peers: StaticPeers; sched: ManualScheduler; d: ReturnType<typeof dialer>; clock: { t: number } } {
  const sched = new ManualScheduler();
  const d = dialer();
  const clock = { t: 1000 };
  const peers = new StaticPeers({ peers: [P], connect: (p) => d.connect(p), log: nullLogger, scheduler: sched, backoff: { jitter: 0 }, now: () => clock.t });
  return { peers, sched, d, clock };
}

describe('static peers', () => {
  it('dials a listed peer when it is present, never an unlisted one or an absent one', () => {
    const { peers, d } = setup();
    expect(d.calls).toEqual([]);
    peers.present(Q);
    expect(d.calls).toEqual([]);
    peers.present(P);
    peers.present(P); // a repeated presence while connecting dials nothing more
    expect(d.calls).toEqual([P]);
  });

  it('retries a failed attempt with backoff (1 s, 2 s, 4 s, 8 s, 8 s) while the peer stays present', async () => {
    const { peers, sched, d } = setup();
    peers.present(P);
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await d.settle(false);
      delays.push(...sched.live().map((t) => t.ms));
      sched.runAll();
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(d.calls).toHaveLength(6);
    expect(peers.states()[0]).toMatchObject({ peer: P, present: true, linked: false, connecting: true, attempts: 6, lastError: 'ETIMEDOUT: no link' });
  });

  it('stops retrying when the peer leaves, and dials again when it comes back', async () => {
    const { peers, sched, d } = setup();
    peers.present(P);
    await d.settle(false);
    expect(sched.live()).toHaveLength(1);
    peers.gone(P);
    expect(sched.live()).toHaveLength(0);
    peers.present(P);
    expect(d.calls).toHaveLength(2);
  });

  it('a link that comes up resets the backoff; one that goes down is dialled again after the first step', async () => {
    const { peers, sched, d } = setup();
    peers.present(P);
    await d.settle(false);
    sched.runAll();
    await d.settle(false);
    expect(sched.live().map((t) => t.ms)).toEqual([2000]);
    sched.runAll();
    peers.linkUp(P);
    await d.settle(true);
    expect(peers.states()[0]).toMatchObject({ linked: true, attempts: 0, retrying: false });
    peers.linkDown(P, 'no echo reply');
    expect(sched.live().map((t) => t.ms)).toEqual([1000]);
    sched.runAll();
    expect(d.calls).toHaveLength(4);
  });

  it('leaves a link up when its peer leaves signaling (an XMPP restart is not a dead link)', () => {
    const { peers, sched, d } = setup();
    peers.present(P);
    peers.linkUp(P);
    peers.gone(P);
    expect(peers.states()[0]).toMatchObject({ linked: true, present: false });
    peers.present(P);
    expect(d.calls).toHaveLength(1); // linked: nothing to dial
    expect(sched.live()).toHaveLength(0);
  });

  it('reports since: when the peer was seen, and when its link was lost', () => {
    const { peers, clock } = setup();
    expect(peers.since(P)).toBeUndefined();
    peers.present(P);
    expect(peers.since(P)).toBe(1000);
    clock.t = 1500;
    peers.linkUp(P);
    expect(peers.since(P)).toBeUndefined();
    clock.t = 9000;
    peers.linkDown(P, 'gone');
    expect(peers.since(P)).toBe(9000);
  });

  it('dials nothing once stopped', async () => {
    const { peers, sched, d } = setup();
    peers.present(P);
    await d.settle(false);
    peers.stop();
    expect(sched.live()).toHaveLength(0);
    peers.linkDown(P, 'x');
    expect(sched.live()).toHaveLength(0);
    expect(d.calls).toHaveLength(1);
  });
});
