/**
 * The port interface of the datapath. Every port the switch forwards through implements it: TAP
 * devices and existing interfaces (switch/portio), and TinCan links (link/). Frames arrive in batches,
 * one call per wake-up; a batch's frames are views valid only during the call (the switch forwards
 * synchronously and copies what it keeps). Frames may carry a virtio-net header (GSO super-frames,
 * checksums left to the device) when the port has `offload`; send() takes the headers alongside.
 */
import type { EventEmitter } from 'node:events';

export interface FrameBatch {
  readonly count: number;
  /** Frame i (a view; valid during the callback). */
  frame(i: number): Buffer;
  /** Frame i's 10-byte virtio-net header, or undefined when the port has none. */
  offload(i: number): Buffer | undefined;
}

export interface PortCounters {
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly rxDropped: number;
  readonly rxErrors: number;
  readonly txPackets: number;
  readonly txBytes: number;
  readonly txDropped: number;
  readonly txErrors: number;
}

export interface LinkState {
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  /** Carrier / operational (IFF_RUNNING). */
  readonly carrier: boolean;
}

/**
 * Events: 'link' (LinkState) when up/carrier changes; 'gone' (reason: string) once, when the device
 * disappeared — the port is closed by then.
 */
export interface FramePort extends EventEmitter {
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  /** Frames may carry virtio-net headers (GSO pass-through); send() accepts them. */
  readonly offload: boolean;
  /** Starts delivering received batches to handler. */
  start(handler: (batch: FrameBatch) => void): void;
  stop(): void;
  /** Sends frames (views are fine). hdrs: one 10-byte virtio-net header per frame, or none. */
  send(frames: readonly Buffer[], hdrs?: Buffer): void;
  linkState(): LinkState;
  counters(): PortCounters;
  close(): void;
  readonly closed: boolean;
}
