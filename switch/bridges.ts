/**
 * The bridges of one `tinflow switch` process, as ovs-vswitchd hosts many: each a Datapath with its own
 * OpenFlow channel, dpid, fail mode, controllers and ports. `tinflow switch --name NAME ...` is this with
 * the one bridge of its flags; `tinflow switch --ctl SOCKET` starts with none and takes `switchctl add-br`
 * and `del-br` (ctl.ts). One code path for both.
 *
 * Bridges of one process still meet only over the interfaces that join them (veths): nothing here passes
 * a frame from one datapath to another, so the kernel sees what it sees between processes.
 *
 * What is refused, with the reason: a name already used, a dpid already used (a controller tells switches
 * apart by it), and an interface that is already a port of a bridge here (two AF_PACKET readers of one
 * veth would each forward every frame). A bridge's LOCAL TAP is named after it and counts as its port.
 * A bridge is reserved before anything of it starts, so two add-br of one name cannot both go ahead.
 *
 * May import: base/, openflow/index.ts, and of the switch channel.ts, config.ts, ctl.ts (its types),
 * datapath.ts, port.ts and portio/.
 */
import type { Logger } from '../base/logger.js';
import { OFPP } from '../openflow/index.js';
import { Channel } from './channel.js';
import { type BridgeConfig, parseBridgeArgs } from './config.js';
import type { CtlBridge, CtlBridges, PortOpener } from './ctl.js';
import { Datapath } from './datapath.js';
import type { FrameCache } from './flow-cache.js';
import type { FramePort } from './port.js';
import { createFrameCache, openInterface, openTap } from './portio/index.js';

/** How a bridge opens its devices and its flow cache: portio's by default (tests may pass their own). */
export interface DeviceOpener {
  tap(name: string, opts: { offload: boolean; up?: boolean }): FramePort;
  iface(name: string, opts: { offload: boolean; gro: boolean }): FramePort;
  /** A flow cache for one datapath; absent or undefined: none. */
  frameCache?(opts: { thread: boolean }): FrameCache | undefined;
}

const PORTIO: DeviceOpener = {
  tap: (name, opts) => openTap(name, opts),
  iface: (name, opts) => openInterface(name, opts),
  frameCache: (opts) => createFrameCache(opts),
};

export interface BridgesOptions {
  /** The logger of one bridge (its lines carry the bridge's name). */
  readonly logger: (bridge: string) => Logger;
  readonly devices?: DeviceOpener;
}

/** One bridge of the process. */
export interface Bridge extends CtlBridge {
  readonly cfg: BridgeConfig;
  readonly dp: Datapath;
  readonly channel: Channel;
  readonly open: PortOpener;
  /** Every device this bridge opened (closed ones are forgotten when next looked at). */
  readonly devices: Set<FramePort>;
  readonly log: Logger;
  /** Settles once the channel started (or failed to). */
  started: Promise<void>;
}

export class Bridges implements CtlBridges {
  private readonly bridges = new Map<string, Bridge>();
  /** Bridges del-br took out that are still closing: their name, dpid and devices are not free yet. */
  private readonly closing = new Set<Bridge>();
  private readonly devices: DeviceOpener;

  constructor(private readonly opts: BridgesOptions) {
    this.devices = opts.devices ?? PORTIO;
  }

  names(): string[] {
    return [...this.bridges.keys()].sort();
  }

  get(name: string): Bridge | undefined {
    return this.bridges.get(name);
  }

  /** The bridge a control request addresses: the one named, or the only one when none is named. */
  bridge(name: string | undefined): Bridge {
    if (name !== undefined) {
      const b = this.bridges.get(name);
      if (!b) throw new Error(`no bridge ${JSON.stringify(name)} (${this.bridges.size ? `bridges: ${this.names().join(', ')}` : 'no bridges yet'})`);
      return b;
    }
    const [only, second] = this.bridges.values();
    if (only && !second) return only;
    if (!only) throw new Error('no bridges yet: add one with add-br NAME');
    throw new Error(`this process hosts bridges ${this.names().join(', ')}: name one (switchctl --bridge NAME ...)`);
  }

  /** The bridge that holds an interface, if any (its LOCAL TAP included). */
  holder(ifname: string): string | undefined {
    for (const b of [...this.bridges.values(), ...this.closing]) {
      for (const d of b.devices) {
        if (d.closed) b.devices.delete(d);
        else if (d.name === ifname) return b.cfg.name;
      }
    }
    return undefined;
  }

  /** `add-br NAME FLAGS...`: parses the bridge's flags (config.ts) and adds it. */
  async addFromArgs(args: readonly string[]): Promise<string[]> {
    const [name, ...flags] = args;
    if (!name || name.startsWith('-')) throw new Error('add-br: the bridge name comes first (add-br NAME [--dpid X] [--controller T ...] ...)');
    const b = await this.add(parseBridgeArgs(name, flags));
    return [`bridge ${b.cfg.name} dpid 0x${b.cfg.dpid.toString(16)} ports ${b.dp.portNumbers().length}`];
  }

  /** Adds and starts a bridge; throws, leaving nothing of it behind, when it cannot. */
  async add(cfg: BridgeConfig): Promise<Bridge> {
    if (this.bridges.has(cfg.name)) throw new Error(`bridge ${cfg.name} exists already`);
    for (const o of this.closing) if (o.cfg.name === cfg.name) throw new Error(`bridge ${cfg.name} is still being removed`);
    for (const o of [...this.bridges.values(), ...this.closing]) {
      if (o.cfg.dpid === cfg.dpid) throw new Error(`dpid 0x${cfg.dpid.toString(16)} is bridge ${o.cfg.name}'s already`);
    }
    const taken = [...(cfg.localPort ? [cfg.name] : []), ...cfg.ports.map((p) => p.ifname)].map((n) => [n, this.holder(n)] as const).find(([, h]) => h !== undefined);
    if (taken) throw new Error(`${taken[0]} is already a port of bridge ${taken[1]}`);
    const log = this.opts.logger(cfg.name);
    const frameCache = cfg.flowCache ? this.devices.frameCache?.({ thread: cfg.forwardingThread }) : undefined;
    const dp = new Datapath({ name: cfg.name, dpid: cfg.dpid, tables: cfg.tables, failMode: cfg.failMode, log, ...(frameCache ? { frameCache } : {}) });
    const channel = new Channel({ targets: cfg.controllers, handler: dp, log, probeInterval: cfg.probeInterval, ...(cfg.tls ? { tls: cfg.tls } : {}) });
    channel.on('disconnected', () => dp.controllerLeft());
    const devices = new Set<FramePort>();
    // add-port / add-tap at run time open devices as the flags do (an interface deleted under the switch
    // can be added back once it exists again), refusing one another bridge here holds.
    const open: PortOpener = (kind, ifname) => {
      const h = this.holder(ifname);
      if (h !== undefined) throw new Error(`${ifname} is already a port of bridge ${h}`);
      const port = kind === 'tap' ? this.devices.tap(ifname, { offload: cfg.offload }) : this.devices.iface(ifname, { offload: cfg.offload, gro: cfg.gro });
      devices.add(port);
      return port;
    };
    const b: Bridge = { cfg, dp, channel, open, devices, log, started: Promise.resolve() };
    this.bridges.set(cfg.name, b); // reserved: the name, dpid and devices are this bridge's from here on
    try {
      // The LOCAL TAP stays down unless asked (--local-up), as OVS leaves its bridge interface: whoever
      // uses it brings it up, and the switch reports it as it is.
      if (cfg.localPort) {
        const local = this.devices.tap(cfg.name, { offload: cfg.offload, up: cfg.localUp });
        devices.add(local);
        dp.addPort(local, OFPP.LOCAL);
      }
      for (const p of cfg.ports) dp.addPort(open(p.kind, p.ifname), p.number);
      dp.attach(channel);
      b.started = channel.start();
      await b.started;
    } catch (e) {
      this.bridges.delete(cfg.name);
      await channel.stop().catch(() => undefined);
      dp.stop();
      for (const d of devices) if (!d.closed) d.close();
      throw e;
    }
    log.info({ dpid: `0x${cfg.dpid.toString(16)}`, ports: dp.portNumbers(), failMode: cfg.failMode }, 'bridge running');
    return b;
  }

  /** Stops a bridge's channel and datapath and closes its ports (its LOCAL TAP goes if it made it). */
  async remove(name: string): Promise<void> {
    const b = this.bridges.get(name);
    if (!b) throw new Error(`no bridge ${JSON.stringify(name)} (${this.bridges.size ? `bridges: ${this.names().join(', ')}` : 'no bridges'})`);
    this.bridges.delete(name);
    this.closing.add(b);
    await b.started.catch(() => undefined);
    try {
      await b.channel.stop();
    } finally {
      b.dp.stop();
      for (const d of b.devices) if (!d.closed) d.close();
      this.closing.delete(b);
    }
    b.log.info({}, 'bridge removed');
  }

  /** Stops every bridge (SIGTERM). */
  async stop(): Promise<void> {
    await Promise.all(this.names().map((n) => this.remove(n)));
  }
}
