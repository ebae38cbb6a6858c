/**
 * Apps with a lifecycle (controller/app.ts, controller.ts), on a fake clock and, where a switch is
 * needed, the real switch in memory (harness.ts):
 *
 * - start hooks run in app order (async ones awaited), stop hooks in reverse order when the controller
 *   stops; a failing start stops the apps already started and rejects naming the app; a hung stop (or
 *   a handler that never finishes) holds the shutdown only for stopTimeoutMs of the injected clock,
 *   logged and counted;
 * - timers run on the injected clock, stop with the app, report a failing callback like a failing
 *   handler, and cannot be set after the app stopped; an app with a timer and a stop hook drives the
 *   switch (a beacon out of every port) until the controller stops it;
 * - each app handles one datapath's events one at a time in arrival order even when its handler is
 *   async, while other datapaths and other apps go on; a lane that is full drops and counts;
 * - the typed bus: the embedding program publishes events to apps and provides services they call;
 *   an app's subscriptions and services go when it stops; failing subscribers are counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EventMap } from '../../controller/api.js';
import type { App, AppContext, AppFactory, NoEvents, NoServices, ServiceMap } from '../../controller/app.js';
import { learning, tableMissFlow } from '../../controller/apps/learning.js';
import { Controller } from '../../controller/controller.js';
import { ControllerError } from '../../controller/errors.js';
import { OFPP, output, packetOut } from '../../openflow/index.js';
import { eth } from '../switch/frames.js';
import { AppHarness, FakeClock, type HarnessOptions, MemoryLog, turn } from './harness.js';

/** A promise resolved from outside. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const frame = (n: number): Buffer => eth(0x88b5, Buffer.alloc(46, n), [], 'ff:ff:ff:ff:ff:ff', `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`);
/** The frame's number (its source MAC's last byte). */
const numberOf = (data: Buffer): number => data[11] as number;

const harnesses: { stop(): Promise<void> }[] = [];
const controllers: Controller[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.stop();
  for (const c of controllers.splice(0)) await c.stop();
});

async function harness<E = NoEvents, S extends ServiceMap<S> = NoServices>(opts: HarnessOptions<E, S>): Promise<AppHarness<E, S>> {
  const h = await AppHarness.start<E, S>(opts);
  harnesses.push(h);
  return h;
}

describe('start and stop hooks', () => {
  it('start in app order, each awaited; stop in reverse order when the controller stops', async () => {
    const calls: string[] = [];
    const app = (name: string, slowStart = false): App => ({
      name,
      on: {},
      start: async () => {
        calls.push(`${name} starting`);
        if (slowStart) for (let i = 0; i < 3; i++) await turn();
        calls.push(`${name} started`);
      },
      stop: async () => {
        await turn();
        calls.push(`${name} stopped`);
      },
    });
    const ctl = new Controller({ apps: [app('a', true), app('b'), { name: 'no-hooks', on: {} }, app('c')], clock: new FakeClock() });
    await ctl.start();
    expect(calls).toEqual(['a starting', 'a started', 'b starting', 'b started', 'c starting', 'c started']);
    calls.length = 0;
    await ctl.stop();
    expect(calls).toEqual(['c stopped', 'b stopped', 'a stopped']);
    await ctl.stop(); // once only
    expect(calls).toHaveLength(3);
  });

  it('a failing start stops the apps already started (and cancels every timer), never starts the rest, names the app', async () => {
    const calls: string[] = [];
    const app = (name: string, fails = false): App => ({
      name,
      on: {},
      start: () => {
        if (fails) throw new Error('no config file');
        calls.push(`${name} started`);
      },
      stop: () => void calls.push(`${name} stopped`),
    });
    const log = new MemoryLog();
    const clock = new FakeClock();
    // an app that sets a timer as soon as it is made, before any start
    const eager: AppFactory = (ctx) => (ctx.timers.every(1000, () => void calls.push('tick')), { name: 'eager', on: {} });
    const ctl = new Controller({ apps: [app('a'), app('b', true), app('c'), eager], clock, logger: log, listen: ['tcp:127.0.0.1:0'] });
    expect(clock.pending).toBe(1);
    const err = await ctl.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ControllerError);
    expect((err as ControllerError).code).toBe('app');
    expect((err as ControllerError).message).toBe('app b failed to start: no config file');
    expect(calls).toEqual(['a started', 'b stopped', 'a stopped']);
    expect(ctl.addresses()).toEqual([]); // it never listened
    expect(clock.pending).toBe(0); // and nothing of the apps is left running
  });

  it('a hung stop holds the shutdown for stopTimeoutMs of the clock only; it is logged and counted', async () => {
    const clock = new FakeClock();
    const log = new MemoryLog();
    const calls: string[] = [];
    const hung: App = { name: 'hung', on: {}, stop: () => new Promise<void>(() => undefined) };
    const fine: App = { name: 'fine', on: {}, stop: () => void calls.push('fine stopped') };
    const ctl = new Controller({ apps: [fine, hung], clock, logger: log, stopTimeoutMs: 2000 });
    await ctl.start();
    let done = false;
    const stopping = ctl.stop().then(() => {
      done = true;
    });
    for (let i = 0; i < 5; i++) await turn();
    expect(done).toBe(false);
    await clock.advance(1999);
    expect(done).toBe(false);
    await clock.advance(1);
    await stopping;
    expect(calls).toEqual(['fine stopped']);
    expect(log.problems('did not finish stopping in time').map((e) => e.obj)).toEqual([{ app: 'hung', ms: 2000 }]);
    expect(ctl.counters.appErrors).toBe(1);
  });

  it('a handler that never finishes holds the shutdown for stopTimeoutMs, then the apps stop anyway', async () => {
    let stopped = false;
    const stuck: App = { name: 'stuck', on: { packetIn: () => new Promise<void>(() => undefined) }, stop: () => void (stopped = true) };
    const h = await harness({ apps: [learning(), stuck], stopTimeoutMs: 500 });
    h.sw.inject(1, frame(1));
    let done = false;
    const stopping = h.stop().then(() => {
      done = true;
    });
    for (let i = 0; i < 5; i++) await turn();
    expect(done).toBe(false);
    await h.clock.advance(500);
    await stopping;
    expect(stopped).toBe(true);
    expect(h.log.problems('still busy').map((e) => e.obj)).toEqual([{ apps: ['stuck'], ms: 500 }]);
  });
});

describe('timers on the injected clock', () => {
  it('an app with a timer and a stop hook: the timer drives the switch, stop cancels it, controller stop calls stop', async () => {
    // A beacon: every second, a frame out of every port of every switch, numbered.
    const seen = { stops: 0, beacons: 0 };
    const beacon: AppFactory = (ctx) => {
      let n = 0;
      return {
        name: 'beacon',
        on: {},
        start: () => {
          ctx.timers.every(1000, () => {
            n++;
            seen.beacons = n;
            for (const dp of ctx.controller.datapaths()) dp.send(packetOut({ actions: [output(OFPP.ALL)], data: frame(n) }));
          });
        },
        stop: () => void seen.stops++,
      };
    };
    const h = await harness({ apps: [beacon] });
    await h.clock.advance(999);
    expect(h.sw.takeAll()).toEqual({});
    await h.clock.advance(1);
    expect(h.sw.takeAll()).toEqual({ 1: [frame(1)], 2: [frame(1)], 3: [frame(1)] });
    await h.clock.advance(2500);
    expect(h.sw.take(2).map(numberOf)).toEqual([2, 3]);
    expect(h.clock.pending).toBe(1);
    await h.stop();
    expect(seen.stops).toBe(1);
    expect(h.clock.pending).toBe(0);
    await h.clock.advance(10_000);
    expect(seen.beacons).toBe(3);
  });

  it('a failing callback is logged and counted like a failing handler; an every timer keeps going; after() fires once', async () => {
    const clock = new FakeClock();
    const log = new MemoryLog();
    const ticks: number[] = [];
    const once: number[] = [];
    let ctxOf: AppContext | undefined;
    const app: AppFactory = (ctx) => {
      ctxOf = ctx;
      return {
        name: 'ticker',
        on: {},
        start: () => {
          ctx.timers.every(100, async () => {
            ticks.push(ctx.now());
            await turn();
            if (ticks.length === 2) throw new Error('tick two fails');
          });
          ctx.timers.after(150, () => void once.push(ctx.now()));
        },
      };
    };
    const ctl = new Controller({ apps: [app], clock, logger: log });
    controllers.push(ctl);
    await ctl.start();
    const t0 = clock.now();
    await clock.advance(400);
    expect(ticks.map((t) => t - t0)).toEqual([100, 200, 300, 400]);
    expect(once.map((t) => t - t0)).toEqual([150]);
    expect(ctl.counters.appErrors).toBe(1);
    expect(log.problems('app timer failed')).toHaveLength(1);
    expect(log.problems('app timer failed')[0]?.obj).toMatchObject({ app: 'ticker', event: 'timer' });
    await ctl.stop();
    const err = (() => {
      try {
        ctxOf?.timers.after(1, () => undefined);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ControllerError);
    expect((err as Error).message).toBe('app ticker set a timer (timers.after) after it stopped');
  });

  it('refuses intervals that are not a positive number of milliseconds', async () => {
    let ctxOf: AppContext | undefined;
    const ctl = new Controller({ apps: [(ctx) => ((ctxOf = ctx), { name: 'x', on: {} })], clock: new FakeClock() });
    controllers.push(ctl);
    expect(() => ctxOf?.timers.every(0, () => undefined)).toThrow(/timers.every\(0\): the interval must be a positive number/);
    expect(() => ctxOf?.timers.after(Number.NaN, () => undefined)).toThrow(/timers.after\(NaN\)/);
  });
});

describe('one datapath\'s events, one at a time, in arrival order', () => {
  /** An app whose packet-in handler waits for `gate` on frame 1, answering each frame with a packet-out. */
  function gated(name: string, gate: Promise<void>, log: string[]): App {
    return {
      name,
      on: {
        packetIn: async ({ dp, msg }) => {
          const n = numberOf(msg.data);
          log.push(`${name} start ${dp.id}:${n}`);
          if (n === 1) await gate;
          log.push(`${name} end ${dp.id}:${n}`);
          return [packetOut({ packetIn: msg, actions: [output(4)] })];
        },
      },
    };
  }
  const TABLE_MISS: App = { name: 'miss', on: { switchEnter: () => [tableMissFlow()] } };

  it('an async handler holds its app\'s later events for that datapath until it settles', async () => {
    const gate = deferred();
    const log: string[] = [];
    const h = await harness({ apps: [TABLE_MISS, gated('g', gate.promise, log)], switch: { ports: [1, 2, 3, 4] } });
    h.sw.inject(1, frame(1));
    h.sw.inject(2, frame(2));
    h.sw.inject(3, frame(3));
    await h.settle();
    expect(log).toEqual(['g start 1:1']);
    gate.resolve();
    await h.settle();
    expect(log).toEqual(['g start 1:1', 'g end 1:1', 'g start 1:2', 'g end 1:2', 'g start 1:3', 'g end 1:3']);
    // and what they answered went out in that order
    expect(h.sw.take(4).map(numberOf)).toEqual([1, 2, 3]);
  });

  it('other datapaths and other apps are not held up', async () => {
    const gate = deferred();
    const log: string[] = [];
    const h = await harness({ apps: [TABLE_MISS, gated('g', gate.promise, log), gated('other', Promise.resolve(), log)], switch: { ports: [1, 2, 3, 4] } });
    const sw2 = h.addSwitch({ dpid: 2n, ports: [1, 2, 3, 4] });
    h.sw.inject(1, frame(1));
    sw2.inject(1, frame(1));
    sw2.inject(2, frame(2));
    h.sw.inject(2, frame(2));
    await h.settle();
    expect(log.filter((l) => l.startsWith('g '))).toEqual(['g start 1:1', 'g start 2:1']);
    gate.resolve();
    await h.settle();
    const g = log.filter((l) => l.startsWith('g '));
    expect(g.filter((l) => l.includes(' 1:'))).toEqual(['g start 1:1', 'g end 1:1', 'g start 1:2', 'g end 1:2']);
    expect(g.filter((l) => l.includes(' 2:'))).toEqual(['g start 2:1', 'g end 2:1', 'g start 2:2', 'g end 2:2']);
    // 'other' went through all four events while 'g' waited
    expect(log.slice(0, log.indexOf('g end 1:1')).filter((l) => l.startsWith('other end'))).toHaveLength(4);
  });

  it('a lane holds at most appQueueLimit events; more are dropped, counted and logged', async () => {
    const gate = deferred();
    const log: string[] = [];
    const h = await harness({ apps: [TABLE_MISS, gated('g', gate.promise, log)], switch: { ports: [1, 2, 3, 4] }, appQueueLimit: 2 });
    for (let n = 1; n <= 6; n++) h.sw.inject(1, frame(n));
    await h.settle();
    expect(h.controller.counters.appDrops).toBe(3);
    expect(h.log.problems('app is behind').map((e) => e.obj)).toEqual([{ app: 'g', on: 'datapath 0000000000000001', waiting: 2 }]);
    gate.resolve();
    await h.settle();
    expect(log.filter((l) => l.includes('end'))).toEqual(['g end 1:1', 'g end 1:2', 'g end 1:3']);
    expect(h.log.problems('caught up').map((e) => e.obj)).toEqual([{ app: 'g', on: 'datapath 0000000000000001', dropped: 3 }]);
  });
});

// ---- the bus -------------------------------------------------------------------------------------------

interface NodeEvents {
  topologyChanged: { readonly peers: readonly string[] };
  linkUp: { readonly peer: string; readonly port: number };
}
interface NodeServices {
  requestLink(peer: string): Promise<boolean>;
  linkCount(): number;
}

/** An overlay-style app: asks the node for a link to every new peer it hears of; counts links up. */
function overlay(seen: { up: EventMap['switchEnter'][]; links: string[] }): AppFactory<NodeEvents, NodeServices> {
  return (ctx) => {
    const known = new Set<string>();
    return {
      name: 'overlay',
      on: {},
      start: () => {
        ctx.bus.on('topologyChanged', async ({ peers }) => {
          for (const p of peers) {
            if (known.has(p)) continue;
            known.add(p);
            if (await ctx.bus.call('requestLink', p)) seen.links.push(p);
          }
        });
        ctx.bus.on('linkUp', ({ peer, port }) => void seen.links.push(`${peer}@${port}`));
        ctx.bus.provide('linkCount', () => seen.links.length);
      },
    };
  };
}

describe('the typed bus between apps and the program that embeds the controller', () => {
  it('events published by the node reach apps in order; apps call the node\'s services; the node calls apps\'', async () => {
    const seen = { up: [], links: [] as string[] };
    const h = await harness<NodeEvents, NodeServices>({ apps: [overlay(seen)] });
    const asked: string[] = [];
    const slow = deferred<boolean>();
    h.controller.bus.provide('requestLink', (peer) => {
      asked.push(peer);
      return peer === 'b' ? slow.promise : Promise.resolve(peer !== 'x');
    });
    h.controller.bus.publish('topologyChanged', { peers: ['a', 'b'] });
    h.controller.bus.publish('topologyChanged', { peers: ['b', 'c', 'x'] });
    h.controller.bus.publish('linkUp', { peer: 'a', port: 7 });
    await h.settle();
    // the first event's subscriber waits for b's link: the later events wait for it
    expect(asked).toEqual(['a', 'b']);
    expect(seen.links).toEqual(['a']);
    slow.resolve(true);
    await h.settle();
    expect(asked).toEqual(['a', 'b', 'c', 'x']);
    expect(seen.links).toEqual(['a', 'b', 'c', 'a@7']);
    expect(await h.controller.bus.call('linkCount')).toBe(4);
    expect(h.controller.counters.appErrors).toBe(0);

    // Typed where declared: these do not compile.
    // @ts-expect-error -- a payload of the wrong shape
    h.controller.bus.publish('linkUp', { peer: 'a' });
    // @ts-expect-error -- an event nobody declared
    h.controller.bus.publish('tpologyChanged', { peers: [] });
    // @ts-expect-error -- a service argument of the wrong type
    void h.controller.bus.call('requestLink', 42).catch(() => undefined);
  });

  it('an app\'s subscriptions and services go when it stops; a service nobody provides rejects', async () => {
    const seen = { up: [], links: [] as string[] };
    const h = await harness<NodeEvents, NodeServices>({ apps: [overlay(seen)] });
    h.controller.bus.publish('linkUp', { peer: 'a', port: 1 });
    expect(seen.links).toEqual(['a@1']);
    await h.controller.stop();
    h.controller.bus.publish('linkUp', { peer: 'b', port: 2 });
    expect(seen.links).toEqual(['a@1']);
    const err = await h.controller.bus.call('linkCount').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ControllerError);
    expect((err as ControllerError).code).toBe('app');
    expect((err as Error).message).toBe('no one provides the service "linkCount"');
  });

  it('a failing subscriber is counted as its app\'s error; a service is provided once', async () => {
    const h = await harness<NodeEvents, NodeServices>({
      apps: [
        (ctx) => ({
          name: 'fragile',
          on: {},
          start: () => {
            ctx.bus.on('linkUp', () => {
              throw new Error('cannot handle links');
            });
            ctx.bus.provide('linkCount', () => 0);
          },
        }),
      ],
    });
    h.controller.bus.publish('linkUp', { peer: 'a', port: 1 });
    expect(h.controller.counters.appErrors).toBe(1);
    expect(h.log.problems('app handler failed')[0]?.obj).toMatchObject({ app: 'fragile', event: 'bus:linkUp' });
    expect(() => h.controller.bus.provide('linkCount', () => 1)).toThrow('the program cannot provide the service "linkCount": app fragile already does');
  });
});
