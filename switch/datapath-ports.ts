/**
 * A port as the datapath keeps it (PortRec): the FramePort and its number, the config the controller set
 * and the config and state reported in ofp_port, the link state as the device last reported it, the
 * frames queued for it during a batch and the frames it could not take. Here are the rules that tie the
 * reported config and state to the device: an administratively down device is config PORT_DOWN, and a
 * port-mod's PORT_DOWN takes the device down (clearing it brings it up), as OVS does with a netdev. The
 * datapath (datapath.ts) owns the map of ports, adds and removes them and sends the port-status messages.
 *
 * May import: openflow/index.ts, switch/errors.ts, switch/port.ts.
 */
import { type MessageOf, OFPET, OFPPC, OFPPF, OFPPMFC, OFPPR, OFPPS } from '../openflow/index.js';
import { OFPError } from './errors.js';
import type { FramePort, LinkState } from './port.js';

export type PortDesc = MessageOf<'OFPPortDescStatsReply'>['body'][number];

export interface PortRec {
  readonly no: number;
  readonly port: FramePort;
  /**
   * ofp_port.config as reported and as forwarding obeys it: `held`, plus PORT_DOWN while the device is
   * administratively down (what OVS reports for a netdev without IFF_UP). Kept by syncConfig().
   */
  config: number;
  /** The bits a controller set by port-mod; PORT_DOWN among them only for a port without setAdminUp. */
  held: number;
  /** config and state of the last port-status sent, so that one is sent only when they change. */
  sent: { config: number; state: number } | undefined;
  /**
   * The link state as the port last reported it ('link'). Port-status, port-desc, liveness and config all
   * follow it, so that they agree with each other while a device settles (see FramePort's 'link').
   */
  link: LinkState;
  readonly since: number;
  /**
   * Frames queued for this port during a batch, with their virtio-net headers (zero for plain frames);
   * `offload` when any has a header (else none are sent, or made plain).
   */
  readonly queue: { frames: Buffer[]; hdrs: Buffer[]; offload: boolean };
  /**
   * Frames for this port without offload that could not be made plain (a header that contradicts its
   * frame, a layout offload.ts does not cut): dropped, and reported in the port's tx_errors, as the native
   * port counted them when it segmented itself.
   */
  unsendable: number;
  /**
   * Frames from this port that could not be made plain for a packet-in (toController): no packet-in is
   * sent, and they are reported in the port's rx_errors (a frame the device handed over malformed).
   */
  unplainIn: number;
}

const SPEED_KBPS = 10_000_000; // reported as 10 Gbit/s, as OVS does for veth and TAP devices
const FEATURES = OFPPF['10GB_FD'] | OFPPF.COPPER;

/** A new port record: config not yet synced to the device (syncConfig), nothing sent or queued. */
export function newPortRec(no: number, port: FramePort, now: number): PortRec {
  return {
    no, port, config: 0, held: 0, sent: undefined, link: port.linkState(), since: now, queue: { frames: [], hdrs: [], offload: false }, unsendable: 0, unplainIn: 0,
  };
}

/** Whether the port can carry frames now: link up, carrier, not PORT_DOWN (fast-failover's liveness). */
export function portIsLive(r: PortRec): boolean {
  return r.link.up && r.link.carrier && (r.config & OFPPC.PORT_DOWN) === 0;
}

/** The port as ofp_port reports it. */
export function portDesc(r: PortRec): PortDesc {
  const link = r.link;
  let state = 0;
  if (!link.carrier || !link.up) state |= OFPPS.LINK_DOWN;
  else if ((r.config & OFPPC.PORT_DOWN) === 0) state |= OFPPS.LIVE;
  return {
    port_no: r.no, hw_addr: r.port.hwAddr, name: r.port.name, config: r.config, state, curr: FEATURES, advertised: 0,
    supported: 0, peer: 0, curr_speed: SPEED_KBPS, max_speed: 0,
  };
}

/** Recomputes the reported config from the controller's bits and the device's admin state. */
export function syncConfig(r: PortRec): void {
  r.config = r.link.up ? r.held : r.held | OFPPC.PORT_DOWN;
}

/**
 * A port-mod on port r (undefined: no such port). `portStatus` sends a port-status when config or state
 * changed (the datapath's, which skips a MODIFY that changes nothing).
 */
export function applyPortMod(r: PortRec | undefined, m: MessageOf<'OFPPortMod'>, portStatus: (r: PortRec, reason: number) => void): void {
  if (!r) throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.BAD_PORT, `port ${m.port_no} does not exist`);
  if (m.hw_addr !== r.port.hwAddr) throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.BAD_HW_ADDR, `port ${m.port_no} has address ${r.port.hwAddr}, not ${m.hw_addr}`);
  const settable = OFPPC.PORT_DOWN | OFPPC.NO_RECV | OFPPC.NO_FWD | OFPPC.NO_PACKET_IN;
  if (m.mask & ~settable) throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.BAD_CONFIG, `config bits 0x${(m.mask & ~settable).toString(16)} cannot be set`);
  const wanted = (r.held & ~m.mask) | (m.config & m.mask);
  const setAdminUp = r.port.setAdminUp?.bind(r.port);
  if (!setAdminUp) {
    // a port with no device to take down: the datapath holds PORT_DOWN itself
    r.held = wanted;
    syncConfig(r);
    portStatus(r, OFPPR.MODIFY);
    return;
  }
  // As OVS does with a netdev: PORT_DOWN takes the device down (`ip link set down`) and clearing it
  // brings it up; the config then follows the device, so that a port taken down either way is reported
  // and treated alike. The other bits are applied first, so that one port-status carries them all.
  r.held = wanted & ~OFPPC.PORT_DOWN;
  syncConfig(r);
  const down = (m.config & OFPPC.PORT_DOWN) !== 0;
  if (m.mask & OFPPC.PORT_DOWN && down !== ((r.config & OFPPC.PORT_DOWN) !== 0)) {
    try {
      setAdminUp(!down); // emits 'link' (one port-status) when the state changed
    } catch (e) {
      portStatus(r, OFPPR.MODIFY);
      throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.EPERM, `port ${r.no} (${r.port.name}) could not be ${down ? 'taken down' : 'brought up'}: ${(e as Error).message}`);
    }
    syncConfig(r);
  }
  portStatus(r, OFPPR.MODIFY);
}
