/**
 * The port interface of the datapath. Every port the switch forwards through implements it: TAP
 * devices and existing interfaces (switch/portio), in-memory ports and wires (switch/memory-port.ts), and
 * TinCan links (link/). A port written in plain TypeScript needs nothing else: this file is the whole
 * contract.
 *
 * Receiving. Frames arrive in batches, one call per wake-up; a batch's frames are views valid only during
 * the call (the switch forwards synchronously and copies what it keeps).
 *
 * Offload. A port declares `offload` once, at creation:
 * - offload = true: it exchanges a 10-byte virtio-net header with every frame (switch/offload.ts has the
 *   layout): received frames may be GSO super-frames (up to 64 KiB) or leave their checksum to the
 *   device, and send() gets such frames with their headers as they came (super-frames pass through);
 *   frames from ports without offload come with an all-zero header (a send without `hdrs` means all zero).
 * - offload = false: it never sees a header. The datapath completes checksums and cuts super-frames in
 *   software before send() (switch/offload.ts, as Open vSwitch's generic netdev_send segments for a
 *   device without TSO), so every frame it gets is plain, complete and at most MTU-sized (unless it came
 *   in larger: a jumbo frame from a port with a larger MTU is not cut, the rule on size below drops it).
 *
 * Names. 1 to 15 bytes of UTF-8 (IFNAMSIZ - 1): the most a Linux interface and OpenFlow's 16-byte,
 * NUL-terminated port name field hold. A longer name is refused where the port is made and by
 * Datapath.addPort (checkPortName), never cut.
 *
 * Sending: no blocking, no unbounded queue, every loss counted.
 * - send() never blocks and never waits: it hands each frame to the device (or its own queue) now.
 * - A port queues at most a fixed number of frames. A frame it cannot take now (device queue full:
 *   EAGAIN/ENOBUFS for the native ports; the memory port's queue at its limit) is dropped and counted in
 *   txDropped. There is no back-pressure towards the datapath: a switch drops, as a NIC's full ring does,
 *   and TCP above sees loss.
 * - A frame larger than the port carries (longer than mtu + 14, + 4 with a VLAN tag, and not a GSO
 *   super-frame on a port with offload) is dropped and counted in txDropped, never truncated. A device
 *   port leaves the judgement to its kernel, which knows the MTU of the moment: AF_PACKET refuses such a
 *   frame (EMSGSIZE, counted as a drop), a TAP hands frames of any size to its host's stack.
 * - Frames sent while the link is down are dropped and counted in txDropped; send() on a closed port
 *   does nothing.
 * - A frame the device refuses for another reason counts in txErrors.
 * - send()'s frames and headers are valid only during the call (the datapath reuses their memory): a port
 *   that keeps a frame past the call copies it.
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

/** The counters as a port keeps them while it counts (it hands out copies as PortCounters). */
export type CountingCounters = { -readonly [K in keyof PortCounters]: PortCounters[K] };

/** All counters at zero, for a new port. */
export function zeroCounters(): CountingCounters {
  return { rxPackets: 0, rxBytes: 0, rxDropped: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txDropped: 0, txErrors: 0 };
}

export interface LinkState {
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  /** Carrier / operational (IFF_RUNNING). */
  readonly carrier: boolean;
}

/**
 * A port's events. 'link' when up/carrier changes, once per settled change: a device that passes
 * through a transient state on its way (Linux: administratively up before its carrier is seen) may
 * report only where it arrived. 'gone' once, when the device disappeared: the port is closed by then.
 */
export interface PortEvents {
  link: [state: LinkState];
  gone: [reason: string];
}

/** Interface names: at most IFNAMSIZ - 1 bytes, as Linux and OpenFlow's ofp_port.name allow. */
export const PORT_NAME_MAX_BYTES = 15;

/** A port name that breaks the rule on names. */
export class PortNameError extends RangeError {
  override readonly name = 'PortNameError';
  readonly code = 'EPORTNAME';
}

/** Returns name when it is 1 to 15 bytes of UTF-8; throws PortNameError (naming it and the limit) if not. */
export function checkPortName(name: string): string {
  const n = Buffer.byteLength(name, 'utf8');
  if (n === 0) throw new PortNameError('a port name cannot be empty (1 to 15 bytes)');
  if (n > PORT_NAME_MAX_BYTES) {
    throw new PortNameError(`port name ${JSON.stringify(name)} is ${n} bytes, longer than ${PORT_NAME_MAX_BYTES} (IFNAMSIZ - 1): names are 1 to 15 bytes and are never cut`);
  }
  return name;
}

/** Ethernet header, and the VLAN tag one frame may carry on top of the MTU (as Linux allows). */
const ETH_HLEN = 14;
const VLAN_HLEN = 4;

/**
 * Whether a plain frame fits a port of this MTU: mtu + 14 bytes, or mtu + 18 when it carries a VLAN tag
 * (802.1Q or 802.1ad), as Linux lets through.
 */
export function fitsMtu(frame: Buffer, mtu: number): boolean {
  if (frame.length <= mtu + ETH_HLEN) return true;
  if (frame.length > mtu + ETH_HLEN + VLAN_HLEN) return false;
  const et = frame.readUInt16BE(12);
  return et === 0x8100 || et === 0x88a8;
}

export interface FramePort extends EventEmitter<PortEvents> {
  /** 1 to 15 bytes of UTF-8 ("Names" above). */
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  /** Frames carry virtio-net headers (GSO pass-through): see "Offload" above. Fixed for the port's life. */
  readonly offload: boolean;
  /** Starts delivering received batches to handler. */
  start(handler: (batch: FrameBatch) => void): void;
  stop(): void;
  /**
   * Sends frames (views are fine, valid only during the call), by the rules on sending above: never
   * blocks, drops and counts what it cannot take. hdrs: one 10-byte virtio-net header per frame, only on
   * a port with offload (a port without gets none).
   */
  send(frames: readonly Buffer[], hdrs?: Buffer): void;
  linkState(): LinkState;
  /**
   * Brings the device up or takes it down administratively (IFF_UP), when the port can: the datapath then
   * reports the administrative state as the OpenFlow config bit PORT_DOWN and applies a controller's
   * port-mod PORT_DOWN to the device, as Open vSwitch does. A port without it (a link with no device)
   * keeps PORT_DOWN in the datapath. Throws when the device refuses; emits 'link' when the state changed.
   */
  setAdminUp?(up: boolean): void;
  counters(): PortCounters;
  close(): void;
  readonly closed: boolean;
}
