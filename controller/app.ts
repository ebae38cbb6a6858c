/**
 * The app API: what an app is, and what it is given (its context: a logger, the controller, a clock with
 * timers, and the bus it shares with the program that embeds the controller).
 *
 * An app is a name, event handlers and, optionally, start and stop hooks. A handler gets the event and
 * returns the messages to send to the event's datapath (or nothing), so most apps are pure functions of
 * their own state, the event and the time, and can be tested without a switch (Faucet's valve works this
 * way; test/controller/harness.ts runs them against the real switch in memory). A handler may also send
 * through `ev.dp` itself or return a promise; errors it throws are logged and counted, never fatal to the
 * controller or to other apps.
 *
 * Order: each app sees the events of one datapath in the order they arrived, one at a time: a handler
 * that returns a promise holds that app's later events for that datapath until it settles. Other
 * datapaths and other apps are not held up (see controller.ts).
 *
 * Lifecycle (Ryu's start/stop): `start()` runs when the controller starts, in app order, before any
 * switch can connect, and a failure aborts the start. `stop()` runs when the controller stops, in
 * reverse app order, after the switches have left; the app's timers are cancelled and its bus
 * subscriptions dropped just before, and the controller waits for it only so long (stopTimeoutMs).
 *
 * An app module given on the command line (`--app ./my-app.js`) default-exports an AppFactory.
 */
import type { OFPMessage } from '../openflow/index.js';
import type { ControllerHandle, EventMap, EventName } from './api.js';
import type { Logger } from '../base/logger.js';
import { ControllerError } from './errors.js';

export type HandlerResult = readonly OFPMessage[] | void | Promise<void | readonly OFPMessage[]>;

export type Handlers = { readonly [E in EventName]?: (ev: EventMap[E]) => HandlerResult };

export interface App {
  readonly name: string;
  readonly on: Handlers;
  /**
   * Called once as the controller starts, in app order, before any switch connects; awaited. If it fails,
   * the controller's start fails, naming the app, after stopping the apps started so far and this one
   * (its stop() runs, so that it can release what it set up before failing).
   */
  start?(): void | Promise<void>;
  /** Called once as the controller stops, in reverse app order; awaited up to the controller's bound. */
  stop?(): void | Promise<void>;
}

export interface AppContext<E = NoEvents, S extends ServiceMap<S> = NoServices> {
  readonly log: Logger;
  readonly controller: ControllerHandle;
  /** Milliseconds, from the controller's clock (injectable for tests). */
  now(): number;
  /** Timers on the controller's clock; all of them are cancelled when the app stops. */
  readonly timers: Timers;
  /** Custom events and services shared with the program that embeds the controller (see Bus). */
  readonly bus: Bus<E, S>;
}

export type AppFactory<E = NoEvents, S extends ServiceMap<S> = NoServices> = (ctx: AppContext<E, S>) => App;

// ---- clock and timers ----------------------------------------------------------------------------------

/** What timers run on: the system clock in production, one that tests advance by hand. */
export interface Clock {
  /** Milliseconds. */
  now(): number;
  /** Calls fn once, ms milliseconds from now. */
  schedule(ms: number, fn: () => void): { cancel(): void };
}

/**
 * Date.now and setTimeout. Its timers keep the process alive, as Node's do: the bound on a hung app's
 * stop() must fire even when nothing else is left running; stop() cancels every app timer.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, fn) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

export interface Timer {
  cancel(): void;
  /** False once cancelled, or once a one-shot timer has fired. */
  readonly active: boolean;
}

export interface Timers {
  /**
   * Calls fn every `ms` milliseconds, first `ms` from now. The next run is scheduled when this one has
   * finished (its promise settled), so runs never overlap and a slow run delays the next.
   */
  every(ms: number, fn: () => void | Promise<void>): Timer;
  /** Calls fn once, `ms` milliseconds from now. */
  after(ms: number, fn: () => void | Promise<void>): Timer;
}

/**
 * One app's timers. A callback that throws or rejects is reported (logged and counted by the
 * controller, as a failing handler is); an `every` timer keeps running after a failure.
 */
export class AppTimers implements Timers {
  private readonly live = new Set<TimerImpl>();
  private closed = false;

  constructor(
    private readonly owner: { readonly name: string },
    private readonly clock: Clock,
    private readonly failed: (e: unknown) => void,
  ) {}

  every(ms: number, fn: () => void | Promise<void>): Timer {
    return this.add('every', ms, fn, true);
  }

  after(ms: number, fn: () => void | Promise<void>): Timer {
    return this.add('after', ms, fn, false);
  }

  /** Timers not yet cancelled or fired. */
  get size(): number {
    return this.live.size;
  }

  /** Cancels every timer; later every()/after() calls throw (the app has stopped). */
  close(): void {
    this.closed = true;
    for (const t of this.live) t.cancel();
  }

  private add(how: string, ms: number, fn: () => void | Promise<void>, repeat: boolean): Timer {
    if (this.closed) throw new ControllerError('app', `app ${this.owner.name} set a timer (timers.${how}) after it stopped`);
    if (!Number.isFinite(ms) || ms < 0 || (repeat && ms === 0)) {
      throw new ControllerError('app', `app ${this.owner.name}: timers.${how}(${ms}): the interval must be a ${repeat ? 'positive' : 'non-negative'} number of milliseconds`);
    }
    const t = new TimerImpl(this.clock, ms, fn, repeat, this.failed, () => this.live.delete(t));
    this.live.add(t);
    t.arm();
    return t;
  }
}

class TimerImpl implements Timer {
  private pending: { cancel(): void } | undefined;
  private cancelled = false;

  constructor(
    private readonly clock: Clock,
    private readonly ms: number,
    private readonly fn: () => void | Promise<void>,
    private readonly repeat: boolean,
    private readonly failed: (e: unknown) => void,
    private readonly done: () => void,
  ) {}

  get active(): boolean {
    return !this.cancelled;
  }

  arm(): void {
    this.pending = this.clock.schedule(this.ms, () => this.fire());
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.pending?.cancel();
    this.pending = undefined;
    this.done();
  }

  private fire(): void {
    this.pending = undefined;
    if (this.cancelled) return;
    if (!this.repeat) this.cancel();
    let r: void | Promise<void>;
    try {
      r = this.fn();
    } catch (e) {
      this.failed(e);
      this.again();
      return;
    }
    if (r instanceof Promise) {
      r.then(
        () => this.again(),
        (e: unknown) => {
          this.failed(e);
          this.again();
        },
      );
    } else {
      this.again();
    }
  }

  private again(): void {
    if (this.repeat && !this.cancelled) this.arm();
  }
}

// ---- the bus -------------------------------------------------------------------------------------------

/** No custom events (the default): the bus accepts no event names. */
export type NoEvents = Record<never, never>;
/** No services (the default). */
export type NoServices = Record<never, never>;

/** Services by name: each a function; what it returns (or resolves with) is the caller's answer. */
export type ServiceMap<S> = { readonly [K in keyof S]: (...args: never[]) => unknown };
type ServiceArgs<F> = F extends (...args: infer A) => unknown ? A : never;
type ServiceResult<F> = F extends (...args: never[]) => infer R ? Awaited<R> : never;

/**
 * Typed custom events and services between apps and the program that embeds the controller (an overlay
 * node publishes 'topologyChanged' to its apps, and provides 'requestLink' for them to call). The types
 * are declared once, as the controller's type parameters, and checked at every publish, subscribe,
 * provide and call:
 *
 *   interface NodeEvents { topologyChanged: { peers: readonly string[] } }
 *   interface NodeServices { requestLink(peer: string): Promise<boolean> }
 *   const ctl = new Controller<NodeEvents, NodeServices>({ apps: [overlay] });
 *   ctl.bus.provide('requestLink', async (peer) => links.open(peer));
 *   ctl.bus.publish('topologyChanged', { peers });          // in an app: ctx.bus.on('topologyChanged', ...)
 *
 * Delivery: an app's subscribers get the events in publish order, one at a time (a subscriber that
 * returns a promise holds that app's later bus events until it settles), on the same terms as its
 * handlers (errors logged and counted; nothing after the app stops). Subscribers of the embedding
 * program are called at once; their errors are logged.
 */
export interface Bus<E, S extends ServiceMap<S>> {
  publish<K extends keyof E & string>(name: K, payload: E[K]): void;
  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof E & string>(name: K, fn: (payload: E[K]) => void | Promise<void>): () => void;
  /** Provides a service (one provider per name); returns the function that withdraws it. */
  provide<K extends keyof S & string>(name: K, impl: S[K]): () => void;
  /** Calls a service; rejects with ControllerError 'app' if nobody provides it, or with what it threw. */
  call<K extends keyof S & string>(name: K, ...args: ServiceArgs<S[K]>): Promise<ServiceResult<S[K]>>;
}

/** Who subscribed: an app (its events go through its lane) or the embedding program (undefined). */
export interface BusOwner {
  readonly name: string;
  /** Runs a subscriber for this owner, in order; the job reports its own errors. */
  deliver(job: () => void | Promise<void>): void;
  /** A subscriber of this owner failed. */
  failed(event: string, e: unknown): void;
}

type Subscriber = { readonly owner: BusOwner | undefined; readonly fn: (payload: unknown) => void | Promise<void> };
type Provider = { readonly owner: BusOwner | undefined; readonly impl: (...args: never[]) => unknown };

/** The controller's bus; `view(owner)` is what an app gets, so that what it subscribed can be dropped. */
export class EventBus<E, S extends ServiceMap<S>> implements Bus<E, S> {
  private readonly subs = new Map<string, Subscriber[]>();
  private readonly services = new Map<string, Provider>();

  constructor(private readonly log: Logger) {}

  publish<K extends keyof E & string>(name: K, payload: E[K]): void {
    const list = this.subs.get(name);
    if (!list) return;
    // A copy: a subscriber may subscribe or unsubscribe while this runs.
    for (const s of [...list]) {
      const owner = s.owner;
      if (owner) owner.deliver(() => this.run(s, name, payload));
      else void this.run(s, name, payload);
    }
  }

  on<K extends keyof E & string>(name: K, fn: (payload: E[K]) => void | Promise<void>): () => void {
    return this.subscribe(undefined, name, fn);
  }

  provide<K extends keyof S & string>(name: K, impl: S[K]): () => void {
    return this.offer(undefined, name, impl);
  }

  async call<K extends keyof S & string>(name: K, ...args: ServiceArgs<S[K]>): Promise<ServiceResult<S[K]>> {
    const p = this.services.get(name);
    if (!p) throw new ControllerError('app', `no one provides the service ${JSON.stringify(name)}`);
    // The provider was registered under this name with this name's type (provide() checks it).
    const impl = p.impl as (...a: ServiceArgs<S[K]>) => unknown;
    return (await impl(...args)) as ServiceResult<S[K]>;
  }

  /** The bus as one app sees it: its subscriptions and services are its own, dropped by release(). */
  view(owner: BusOwner): Bus<E, S> & { release(): void; withdraw(): void } {
    const unsubs: (() => void)[] = [];
    const withdrawals: (() => void)[] = [];
    return {
      publish: (name, payload) => this.publish(name, payload),
      on: (name, fn) => {
        const off = this.subscribe(owner, name, fn);
        unsubs.push(off);
        return off;
      },
      provide: (name, impl) => {
        const off = this.offer(owner, name, impl);
        withdrawals.push(off);
        return off;
      },
      call: (name, ...args) => this.call(name, ...args),
      release: () => {
        for (const off of unsubs.splice(0)) off();
      },
      withdraw: () => {
        for (const off of withdrawals.splice(0)) off();
      },
    };
  }

  private subscribe<K extends keyof E & string>(owner: BusOwner | undefined, name: K, fn: (payload: E[K]) => void | Promise<void>): () => void {
    // Stored untyped: publish() only ever passes this name's payload type.
    const s: Subscriber = { owner, fn: fn as (payload: unknown) => void | Promise<void> };
    const list = this.subs.get(name) ?? [];
    list.push(s);
    this.subs.set(name, list);
    return () => {
      const l = this.subs.get(name);
      const i = l?.indexOf(s) ?? -1;
      if (l && i >= 0) l.splice(i, 1);
    };
  }

  private offer<K extends keyof S & string>(owner: BusOwner | undefined, name: K, impl: S[K]): () => void {
    const had = this.services.get(name);
    if (had) {
      throw new ControllerError('app', `${owner ? `app ${owner.name}` : 'the program'} cannot provide the service ${JSON.stringify(name)}: ${had.owner ? `app ${had.owner.name}` : 'the program'} already does`);
    }
    const p: Provider = { owner, impl };
    this.services.set(name, p);
    return () => {
      if (this.services.get(name) === p) this.services.delete(name);
    };
  }

  private run(s: Subscriber, name: string, payload: unknown): Promise<void> | undefined {
    const fail = (e: unknown): void => {
      if (s.owner) s.owner.failed(`bus:${name}`, e);
      else this.log.error({ event: name, err: e instanceof Error ? (e.stack ?? e.message) : String(e) }, 'bus subscriber failed');
    };
    try {
      const r = s.fn(payload);
      return r instanceof Promise ? r.then(undefined, fail) : undefined;
    } catch (e) {
      fail(e);
      return undefined;
    }
  }
}
