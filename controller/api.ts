/**
 * What the rest of the controller (apps, the REST API, metrics) sees of a connected switch and of the
 * controller: plain interfaces, so an app or a route can be tested against a stand-in as well as a
 * live switch. The implementations are in datapath-connection.ts and controller.ts.
 */
import type { MessageOf, OFPMessage, Port } from '../openflow/index.js';
import type { ParsedPacket } from './parsed-packet.js';

/** Ryu's dispatcher states: hello exchange, features/port-desc, normal operation, disconnected. */
export type DatapathState = 'handshake' | 'config' | 'main' | 'dead';

export interface RequestOptions {
  /** Milliseconds before the request fails with ControllerError 'timeout' (default: the controller's). */
  readonly timeoutMs?: number;
}

/** One switch, as apps and routes see it. */
export interface DatapathHandle {
  /** The datapath id from the features reply (0n until then). */
  readonly id: bigint;
  readonly state: DatapathState;
  /** The switch's ports by number, as learnt from port-desc and kept current by port-status. */
  readonly ports: ReadonlyMap<number, Port>;
  readonly features: MessageOf<'OFPSwitchFeatures'> | undefined;
  /** Remote address, for logs. */
  readonly peer: string;
  /** Sends a message; an xid of 0 is replaced by a fresh one. Returns the xid used. */
  send(msg: OFPMessage): number;
  /**
   * Sends a request and resolves with its replies: every part of a multipart reply (in order, once the
   * last part without OFPMPF_REPLY_MORE arrives), or the single reply of a barrier, echo, role, get-config,
   * get-async or queue-get-config request. A message with no reply of its own (flow-mod, group-mod,
   * packet-out, ...) is followed by a barrier and resolves with [] once the barrier is answered.
   * Rejects with ControllerError: 'switch-error' (an OFPT_ERROR answered the request; carries it),
   * 'timeout', or 'disconnected'.
   */
  request(msg: OFPMessage, opts?: RequestOptions): Promise<OFPMessage[]>;
  /** Closes the connection; the datapath goes to 'dead'. */
  close(reason?: string): void;
}

/**
 * The controller's side of a switch that lives in the same process and talks to it without a socket
 * (Controller.attach; test/controller/harness.ts uses it to run apps against the real switch in memory).
 */
export interface SwitchLink {
  /**
   * A message from the switch, as a connected switch's would arrive in state 'main'. For a port-status,
   * the handle's `ports` already shows the new state and `before` is the port as it was.
   */
  received(msg: OFPMessage, before?: Port): void;
  /** The switch is gone (its handle's state is 'dead'): apps get switchLeave. Only the first call counts. */
  left(reason: string): void;
}

/** The controller, as the REST API sees it. */
export interface ControllerHandle {
  /** Datapaths in state 'main', in order of arrival. */
  datapaths(): readonly DatapathHandle[];
  /** The datapath with this id in state 'main', or undefined. */
  datapath(id: bigint): DatapathHandle | undefined;
}

/** Events apps can subscribe to. */
export interface EventMap {
  /** A switch finished the handshake (features and port-desc known) and entered 'main'. */
  switchEnter: { readonly dp: DatapathHandle };
  /** A switch that had entered 'main' disconnected. */
  switchLeave: { readonly dp: DatapathHandle; readonly reason: string };
  /** A packet-in; `packet` parses the frame on first use. */
  packetIn: { readonly dp: DatapathHandle; readonly msg: MessageOf<'OFPPacketIn'>; readonly inPort: number; readonly packet: ParsedPacket };
  portAdd: { readonly dp: DatapathHandle; readonly port: Port };
  portDelete: { readonly dp: DatapathHandle; readonly port: Port };
  portModify: { readonly dp: DatapathHandle; readonly port: Port; readonly before: Port | undefined };
  flowRemoved: { readonly dp: DatapathHandle; readonly msg: MessageOf<'OFPFlowRemoved'> };
  /** An OFPT_ERROR from the switch (also delivered to the request it answers, if any). */
  error: { readonly dp: DatapathHandle; readonly msg: MessageOf<'OFPErrorMsg'> };
  /**
   * Every message from the switch in state 'main', after the specific events, except replies to
   * request(): those go to their caller only.
   */
  message: { readonly dp: DatapathHandle; readonly msg: OFPMessage };
}

export type EventName = keyof EventMap;
