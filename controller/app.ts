/**
 * The app API. An app is a name and a set of event handlers; a handler gets the event and returns the
 * messages to send to the event's datapath (or nothing), so most apps are pure functions of their own
 * state, the event and the time, and can be tested without a switch (Faucet's valve works this way).
 * A handler may also send through `ev.dp` itself or return a promise; errors it throws are logged and
 * counted, never fatal to the controller or to other apps.
 *
 * An app module given on the command line (`--app ./my-app.js`) default-exports an AppFactory.
 */
import type { OFPMessage } from '../openflow/index.js';
import type { ControllerHandle, EventMap, EventName } from './api.js';
import type { Logger } from './datapath.js';

export type HandlerResult = readonly OFPMessage[] | void | Promise<void | readonly OFPMessage[]>;

export type Handlers = { readonly [E in EventName]?: (ev: EventMap[E]) => HandlerResult };

export interface App {
  readonly name: string;
  readonly on: Handlers;
}

export interface AppContext {
  readonly log: Logger;
  readonly controller: ControllerHandle;
  /** Milliseconds; injectable for tests. */
  now(): number;
}

export type AppFactory = (ctx: AppContext) => App;
