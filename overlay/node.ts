/**
 * An overlay node: one process that is EdgeVPN's broker, its OVS bridge, its Ryu app and its tincan
 * processes at once (EDGEVPN.md, "Per node"). It composes, in this order:
 *
 *   state     StateDir/nid (the node id, unless the config gives one) and StateDir/cert.pem + key.pem
 *             (link/cert.ts: the identity its links show in DTLS)
 *   datapath  the OpenFlow switch in this process (switch/datapath.ts)
 *   control   by default the in-tree controller in this process, running BoundedFlood
 *             (controller/apps/bounded-flood.ts), which makes the overlay one Ethernet segment; switch and
 *             controller exchange decoded OpenFlow messages without a socket (overlay/local-channel.ts).
 *             Or, when the config names one, an external controller (os-ken) that the switch dials over
 *             TCP (switch/channel.ts). Either way the app speaks nothing but OpenFlow 1.3.
 *   TAP       the application TAP (AppBridge): a port of the datapath, with its IPv4 address, prefix and
 *             MTU set, IPv6 turned off before it comes up (a fresh interface with IPv6 sends router
 *             solicitations, MLD reports and duplicate-address probes by itself; over an overlay every
 *             one of them is flooded to every peer), then brought up. It goes with the process.
 *   signal    the XMPP client (link/signal.ts), behind the recursion guard (overlay/recursion.ts), which
 *             keeps the overlay's own addresses out of ICE so that no link carries its own traffic
 *   links     the LinkManager (link/manager.ts): on 'up' the link's port joins the datapath (its name is
 *             registered with its peer first, so BoundedFlood knows it as a peer port), on 'down' leaves
 *   topology  the TopologyDriver (overlay/topology-driver.ts): which links exist, negotiated with the
 *             peers (Symphony successors, long-distance and static edges), carried out by the manager;
 *             only peers it agreed an edge with may open a link to us
 *   ctl       a JSON status over a unix socket, StateDir/node.ctl (overlay/ctl.ts), and, when the config
 *             asks, the same status and Prometheus metrics over HTTP (overlay/status-http.ts)
 *
 * Stopping undoes it in reverse: the topology stops, every link closes (peers are told), the XMPP
 * session ends, the controller (or the channel to it) stops, and the datapath stops with the TAP.
 *
 * The parts that talk to the world (signaling, the link manager, the TAP) come from `NodeParts`, so that
 * the composition can run against in-memory stand-ins; overlay/cli.ts passes the real ones.
 *
 * May import: base/, openflow/, switch/, controller/, link/ (the composition layer: overlay/README.md).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEndpoint } from '../base/endpoint.js';
import type { Logger } from '../base/logger.js';
import { isNodeId } from '../base/node-id.js';
import type { Scheduler } from '../base/redial.js';
import { Controller } from '../controller/controller.js';
import { type BoundedFloodCounters, boundedFlood } from '../controller/apps/bounded-flood.js';
import { Channel, type ChannelStats, TARGET_KINDS } from '../switch/channel.js';
import { Datapath } from '../switch/datapath.js';
import type { FramePort, PortCounters } from '../switch/port.js';
import { type NodeCert, ensureNodeCert } from '../link/cert.js';
import type { LinkInfo, LinkManagerCounters, LinkManagerOptions, SignalingLike } from '../link/manager.js';
import type { SignalStats } from '../link/signal.js';
import { TinCanLink, type TinCanStats } from '../link/tincan.js';
import type { SignalConfig } from '../link/signal-config.js';
import type { AppBridgeConfig, NodeConfig } from './config.js';
import { LocalChannel } from './local-channel.js';
import { type RecursionGuardStats, guardSignaling, ipv4Net } from './recursion.js';
import { TOPOLOGY_DEFAULTS, type TopologyOptions } from './topology.js';
import { TopologyDriver, type TopologyStatus } from './topology-driver.js';

/** A failure to start or run the node, with a stable code and a message that says what and where. */
export class NodeError extends Error {
  override readonly name = 'NodeError';
  constructor(
    readonly code: 'ESTATE' | 'ECERT' | 'ETAP' | 'ESIGNAL' | 'ELINK' | 'ECONTROLLER',
    message: string,
  ) {
    super(message);
  }
}

/** What the node needs of its signaling client (link/signal.ts; overlay/cli.ts adapts it). */
export interface NodeSignal extends SignalingLike {
  /** Connects and logs in; rejects with a message naming the account when the server refuses. */
  start(): Promise<void>;
  /** Leaves the server (unavailable presence, end of stream). */
  stop(): Promise<void>;
  /** Another node of the overlay logged in (true) or left (false). */
  onPresence(fn: (peer: string, present: boolean) => void): void;
  /** Whether the XMPP session is up now. */
  online(): boolean;
  /** Signaling gave up for good after it had started (the login refused on a redial, TLS refused). */
  onFatal(fn: (e: Error) => void): void;
  /** Its counters (stanzas dropped by reason, rate-limited ones among them), for the status. */
  stats?(): SignalStats;
}

/** What the node needs of its link manager (link/manager.ts's LinkManager is one). */
export interface NodeLinkManager {
  start(): void;
  connect(peerId: string): Promise<LinkInfo>;
  disconnect(peerId: string, reason?: string): void;
  links(): LinkInfo[];
  /** Its counters (requests refused by code, rate-limited and busy among them), for the status. */
  counters?(): LinkManagerCounters;
  close(): Promise<void>;
  on(event: 'up', fn: (info: LinkInfo, port: FramePort) => void): unknown;
  on(event: 'down', fn: (info: LinkInfo, reason: string) => void): unknown;
  on(event: 'failed', fn: (info: LinkInfo, reason: string) => void): unknown;
}

/** The application TAP: a port the node brings up with setAdminUp (a stand-in without one is up already). */
export type TapPort = FramePort;

export interface NodeParts {
  signal(opts: { readonly config: SignalConfig; readonly nodeId: string; readonly overlay: string; readonly log: Logger }): NodeSignal;
  linkManager(opts: LinkManagerOptions): NodeLinkManager;
  /** Opens (creates) the TAP, down. */
  openTap(name: string): TapPort;
  /** Sets the TAP's MTU and address and turns IPv6 off on it, before it is brought up. Default: `ip`. */
  configureTap?(cfg: AppBridgeConfig): void;
}

export interface NodeOptions {
  readonly config: NodeConfig;
  readonly parts: NodeParts;
  readonly log: Logger;
  /** Clock (ms) for setup times. Default performance.now. */
  readonly now?: () => number;
  /**
   * Test hook (TINFLOW_TEST_FAKE_FINGERPRINT): announce a fingerprint that is not our certificate's, as
   * a rogue node would. Peers must refuse every link with this node.
   */
  readonly fakeFingerprint?: boolean;
  /** The topology's timers and randomness (tests step them). Default: Node's timers, Math.random. */
  readonly scheduler?: Scheduler;
  readonly rand?: () => number;
  /** The topology's slow tick, ms (default 10 s). */
  readonly topologyTickMs?: number;
}

/** The datapath's number for the application TAP. */
export const TAP_PORT = 1;

export interface CandidateSummary {
  readonly type: string;
  readonly address: string;
  readonly port: number;
}

export interface LinkStatus {
  readonly peerId: string;
  readonly linkId: string;
  readonly role: string;
  readonly state: string;
  readonly portName: string;
  /** The datapath port number, while it is a port. */
  readonly port: number | undefined;
  /** The link manager's set-up time (its connect() or the peer's request → up). */
  readonly setupMs: number | undefined;
  /** Peer seen (or its previous link lost) → port up, as this node saw it; undefined if not waited for. */
  readonly seenToUpMs: number | undefined;
  readonly local: CandidateSummary | undefined;
  readonly remote: CandidateSummary | undefined;
  readonly rttMs: number | undefined;
  /** The link's frames and bytes each way, drops and errors (its port's counters). */
  readonly counters: PortCounters | undefined;
  /** Packets and control messages from the peer that the link refused, by reason (link/rx.ts). */
  readonly rxRefused?: TinCanStats['rxRefused'] | undefined;
  readonly controlRefused?: TinCanStats['controlRefused'] | undefined;
  /** The topology's edge for this peer: its type (successor, longDistance, static, onDemand) and direction. */
  readonly edge: { readonly type: string; readonly dir: 'out' | 'in' } | undefined;
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly overlay: string;
  readonly jid: string;
  readonly fingerprint: string;
  readonly signalOnline: boolean;
  readonly tap: { readonly name: string; readonly port: number; readonly hwAddr: string; readonly ip4: string | undefined; readonly prefixLen: number; readonly mtu: number };
  readonly ports: readonly { readonly no: number; readonly name: string; readonly peer: string | undefined }[];
  readonly links: readonly LinkStatus[];
  readonly topology: TopologyStatus;
  /**
   * The controller: in this process (BoundedFlood) or external; whether the switch is connected to it;
   * for an external one, the channel's queue and what it dropped (switch/channel.ts ChannelStats).
   */
  readonly controller: { readonly kind: 'in-tree' | 'external'; readonly target: string; readonly connected: boolean; readonly channel?: ChannelStats };
  /** BoundedFlood's counters (in-tree controller only). */
  readonly flood: BoundedFloodCounters | undefined;
  /** Flow entries in the datapath now. */
  readonly flows: number;
  /** Overlay candidates kept out of signaling (overlay/recursion.ts); undefined without an overlay address. */
  readonly recursionGuard: RecursionGuardStats | undefined;
  /** Signaling's counters (dropped stanzas by reason, refused requests), when the signaling part has them. */
  readonly signal?: SignalStats | undefined;
  /** The link manager's counters (refusals by code each way, outcomes), when it has them. */
  readonly linkManager?: LinkManagerCounters | undefined;
}


/** The node id: the config's, else StateDir/nid, else a new one written there (EdgeVPN's order). */
export function ensureNodeId(stateDir: string, configured: string | undefined, log: Logger): string {
  if (configured !== undefined) return configured;
  const file = join(stateDir, 'nid');
  if (existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new NodeError('ESTATE', `cannot read the node id from ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!isNodeId(text)) throw new NodeError('ESTATE', `${file} does not hold a node id (32 lowercase hex digits): remove it to make a new one, or fix it`);
    return text;
  }
  const id = randomBytes(16).toString('hex');
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${id}\n`, { mode: 0o644 });
    renameSync(tmp, file); // a crash leaves the old state or the new, never half a file
  } catch (e) {
    throw new NodeError('ESTATE', `cannot write a new node id to ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  log.info({ nodeId: id, file }, 'made a new node id');
  return id;
}

/** The state folder, made (mode 0700: it holds the private key) if missing. */
export function ensureStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new NodeError('ESTATE', `cannot make the state folder ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Runs a command; its failure is a NodeError ETAP naming the command and what it printed. */
function run(cmd: string, args: readonly string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = e !== null && typeof e === 'object' && 'stderr' in e && Buffer.isBuffer((e as { stderr: unknown }).stderr) ? (e as { stderr: Buffer }).stderr.toString().trim() : '';
    throw new NodeError('ETAP', `${cmd} ${args.join(' ')} failed: ${stderr || (e instanceof Error ? e.message : String(e))}`);
  }
}

/** The default TAP set-up, with iproute2 and /proc/sys. */
export function configureTapWithIp(cfg: AppBridgeConfig): void {
  // Before the interface comes up, or it has already sent its first IPv6 frames. The file is missing
  // when IPv6 is off in the whole kernel, which is as quiet as it gets.
  const sysctl = `/proc/sys/net/ipv6/conf/${cfg.name}/disable_ipv6`;
  if (existsSync(sysctl)) {
    try {
      writeFileSync(sysctl, '1');
    } catch (e) {
      throw new NodeError('ETAP', `cannot turn IPv6 off on ${cfg.name} (${sysctl}): ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  run('ip', ['link', 'set', 'dev', cfg.name, 'mtu', String(cfg.mtu)]);
  if (cfg.ip4 !== undefined) run('ip', ['addr', 'add', `${cfg.ip4}/${cfg.prefixLen}`, 'dev', cfg.name]);
}

/** A fingerprint of the same algorithm and length as fp, but another one (its last byte changed). */
function otherFingerprint(fp: string): string {
  const last = fp.slice(-2);
  return `${fp.slice(0, -2)}${last === '00' ? '01' : '00'}`;
}

function candidate(c: NonNullable<TinCanStats['pair']>['local'] | undefined): CandidateSummary | undefined {
  return c === undefined ? undefined : { type: c.type, address: c.address, port: c.port };
}

/** The topology's options from the node's config (the driver's own defaults where the config has none). */
export function topologyOptions(cfg: NodeConfig): TopologyOptions {
  const t = cfg.topology;
  return {
    ...TOPOLOGY_DEFAULTS,
    minSuccessors: t.minSuccessors,
    maxLongDistance: t.maxLongDistance,
    maxIncomingLongDistance: t.maxIncomingLongDistance ?? TOPOLOGY_DEFAULTS.maxIncomingLongDistance,
    maxOnDemand: t.maxOnDemand,
    staticPeers: t.staticEdges,
    manual: t.manual,
    role: t.role,
    minConnectedMs: t.minConnectedMs,
  };
}

/** What start() made, in order, so that a failure part-way undoes exactly that. */
interface Made {
  dp?: Datapath;
  controller?: Controller;
  channel?: Channel | LocalChannel;
  tap?: TapPort;
}

async function undo(m: Made): Promise<void> {
  if (m.channel instanceof LocalChannel) m.channel.close('the node is stopping');
  else await m.channel?.stop().catch(() => undefined);
  await m.controller?.stop().catch(() => undefined);
  m.dp?.stop(); // closes its ports, the TAP with them
  if (m.dp === undefined) m.tap?.close();
}

export class OverlayNode {
  readonly nodeId: string;
  readonly cert: NodeCert;
  private readonly cfg: NodeConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly dp: Datapath;
  private readonly channel: Channel | LocalChannel;
  private readonly controller: Controller | undefined;
  private readonly flood: ReturnType<typeof boundedFlood> | undefined;
  private readonly target: string;
  private readonly tap: TapPort;
  private readonly signal: NodeSignal;
  private readonly links: NodeLinkManager;
  private readonly topology: TopologyDriver;
  private readonly guard: { stats(): RecursionGuardStats } | undefined;
  /** Datapath port of each link that is up, by link id, with the port object (numbers are reused). */
  private readonly linkPorts = new Map<string, { no: number; port: FramePort; peer: string; seenToUpMs: number | undefined }>();
  /** Peer node id of each link port, by port name: BoundedFlood's peerOf. */
  private readonly portPeers: Map<string, string>;
  /** When each peer was last seen or its link lost: "peer seen → port up". */
  private readonly waitingSince = new Map<string, number>();
  private stopping: Promise<void> | undefined;
  /** Samples whether signaling is online, to tell the topology when it comes back (wire()). */
  private onlineWatch: NodeJS.Timeout | undefined;

  private constructor(
    opts: NodeOptions,
    parts: {
      nodeId: string; cert: NodeCert; dp: Datapath; channel: Channel | LocalChannel; controller: Controller | undefined; flood: ReturnType<typeof boundedFlood> | undefined;
      target: string; portPeers: Map<string, string>; tap: TapPort; signal: NodeSignal; links: NodeLinkManager; topology: TopologyDriver; guard: { stats(): RecursionGuardStats } | undefined;
    },
  ) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.now = opts.now ?? (() => performance.now());
    this.nodeId = parts.nodeId;
    this.cert = parts.cert;
    this.dp = parts.dp;
    this.channel = parts.channel;
    this.controller = parts.controller;
    this.flood = parts.flood;
    this.target = parts.target;
    this.portPeers = parts.portPeers;
    this.tap = parts.tap;
    this.signal = parts.signal;
    this.links = parts.links;
    this.topology = parts.topology;
    this.guard = parts.guard;
  }

  /**
   * Builds and starts the node. A failure undoes what was made and throws a NodeError (or the signaling
   * client's error, which names the account) saying which step failed.
   */
  static async start(opts: NodeOptions): Promise<OverlayNode> {
    const { config: cfg, parts, log } = opts;
    ensureStateDir(cfg.stateDir);
    const nodeId = ensureNodeId(cfg.stateDir, cfg.nodeId, log);
    let cert: NodeCert;
    try {
      cert = await ensureNodeCert(join(cfg.stateDir, 'cert.pem'), join(cfg.stateDir, 'key.pem'), { commonName: `tinflow ${nodeId}` });
    } catch (e) {
      throw new NodeError('ECERT', e instanceof Error ? e.message : String(e));
    }
    let announced = cert;
    if (opts.fakeFingerprint) {
      announced = { ...cert, fingerprint: otherFingerprint(cert.fingerprint) };
      log.warn({ real: cert.fingerprint, announced: announced.fingerprint }, 'TEST HOOK: announcing a fingerprint that is not this node\'s certificate; every peer must refuse its links');
    }

    const made: Made = {};
    const fail = async (e: unknown, code: NodeError['code'], what: string): Promise<never> => {
      await undo(made);
      if (e instanceof NodeError) throw e;
      throw new NodeError(code, `${what}: ${e instanceof Error ? e.message : String(e)}`);
    };
    const dpid = BigInt(`0x${nodeId.slice(0, 16)}`);
    const dp = new Datapath({ name: cfg.appBridge.name, dpid, tables: 1, failMode: cfg.controller.failMode, log });
    made.dp = dp;

    // The controller: BoundedFlood in this process, joined to the switch without a socket, or the
    // external one the config names, dialled over TCP.
    const portPeers = new Map<string, string>();
    let flood: ReturnType<typeof boundedFlood> | undefined;
    let target: string;
    let channel: Channel | LocalChannel;
    if (cfg.controller.kind === 'in-tree') {
      flood = boundedFlood({
        nodeId,
        peerOf: (port) => portPeers.get(port.name),
        idleTimeout: cfg.boundedFlood.flowIdleTimeout,
        hardTimeout: cfg.boundedFlood.flowHardTimeout,
        ...(cfg.topology.maxOnDemand > 0 && { demand: { thresholdBytes: cfg.topology.demandThreshold, intervalMs: cfg.boundedFlood.trafficAnalysisInterval * 1000 } }),
      });
      const controller = new Controller({ apps: [flood.app], logger: log });
      try {
        await controller.start();
      } catch (e) {
        return fail(e, 'ECONTROLLER', 'cannot start the in-tree controller');
      }
      made.controller = controller;
      const local = new LocalChannel(dp, dpid, log);
      made.channel = local;
      try {
        local.connect(controller);
      } catch (e) {
        return fail(e, 'ECONTROLLER', 'cannot join the switch to the in-tree controller');
      }
      target = 'in-process';
      channel = local;
    } else {
      target = cfg.controller.target;
      const tcp = new Channel({ targets: [parseEndpoint(target, TARGET_KINDS, 'controller target')], handler: dp, log });
      dp.attach(tcp);
      made.channel = tcp;
      try {
        await tcp.start();
      } catch (e) {
        return fail(e, 'ECONTROLLER', `cannot connect the switch to its controller ${target}`);
      }
      channel = tcp;
    }

    let tap: TapPort;
    try {
      tap = parts.openTap(cfg.appBridge.name);
    } catch (e) {
      return fail(e, 'ETAP', `cannot open the application TAP ${cfg.appBridge.name}`);
    }
    made.tap = tap;
    try {
      (parts.configureTap ?? configureTapWithIp)(cfg.appBridge);
      dp.addPort(tap, TAP_PORT);
      tap.setAdminUp?.(true);
    } catch (e) {
      if (!dp.portNumbers().includes(TAP_PORT)) tap.close();
      return fail(e, 'ETAP', `cannot set up the application TAP ${cfg.appBridge.name}`);
    }
    log.info({ tap: cfg.appBridge.name, hwAddr: tap.hwAddr, ip4: cfg.appBridge.ip4, prefixLen: cfg.appBridge.prefixLen, mtu: cfg.appBridge.mtu, ipv6: 'off' }, 'application TAP up');

    const raw = parts.signal({ config: cfg.signal, nodeId, overlay: cfg.overlay, log });
    // With an address on the overlay, its network is kept out of ICE (overlay/recursion.ts).
    const guard = cfg.appBridge.ip4 === undefined ? undefined : guardSignaling(raw, ipv4Net(cfg.appBridge.ip4, cfg.appBridge.prefixLen), log);
    const signal: NodeSignal = guard === undefined ? raw : {
      start: () => raw.start(),
      stop: () => raw.stop(),
      onPresence: (fn) => raw.onPresence(fn),
      online: () => raw.online(),
      onFatal: (fn) => raw.onFatal(fn),
      request: (peer, action, params, o) => guard.request(peer, action, params, o),
      onRequest: (action, handler) => guard.onRequest(action, handler),
    };
    // The topology asks the link manager for links; the manager asks the topology who may link to us.
    const topology = new TopologyDriver({
      self: nodeId,
      overlayId: cfg.overlay,
      topology: topologyOptions(cfg),
      signal,
      links: { connect: (p) => links.connect(p), disconnect: (p, why) => links.disconnect(p, why) },
      log,
      ...(flood !== undefined && { onDemand: () => flood.demand() }),
      ...(opts.scheduler !== undefined && { scheduler: opts.scheduler }),
      ...(opts.rand !== undefined && { rand: opts.rand }),
      ...(opts.now !== undefined && { now: opts.now }),
      ...(opts.topologyTickMs !== undefined && { tickMs: opts.topologyTickMs }),
    });
    const links = parts.linkManager({
      nodeId, overlayId: cfg.overlay, mac: tap.hwAddr, signal, cert: announced, link: cfg.link, log,
      authorize: (peer) => topology.authorize(peer),
    });
    const node = new OverlayNode(opts, {
      nodeId, cert, dp, channel, controller: made.controller, flood, target, portPeers, tap, signal, links, topology, guard,
    });
    node.wire();
    try {
      await signal.start();
    } catch (e) {
      await node.stop();
      throw e;
    }
    log.info({ nodeId, jid: cfg.signal.jid, fingerprint: cert.fingerprint, controller: target, staticEdges: cfg.topology.staticEdges }, 'node running');
    return node;
  }

  private wire(): void {
    this.links.on('up', (info, port) => this.linkUp(info, port));
    this.links.on('down', (info, reason) => this.linkDown(info, reason));
    this.links.on('failed', (info, reason) => this.log.warn({ peer: info.peerId, link: info.linkId, role: info.role, reason }, 'link set-up failed'));
    this.links.start();
    this.topology.start();
    // Edges that failed while our own signaling was down (an underlay cut, a server restart) failed for
    // want of signaling, not of the peers: once it is back, the topology forgives them. NodeSignal has no
    // 'online' event, so the state is sampled once a second.
    let wasOnline = true;
    this.onlineWatch = setInterval(() => {
      const on = this.signal.online();
      if (on && !wasOnline) this.topology.signalingBack();
      wasOnline = on;
    }, 1000);
    this.onlineWatch.unref();
    this.signal.onPresence((peer, present) => {
      if (peer === this.nodeId) return;
      this.log.info({ peer, present }, present ? 'peer seen' : 'peer left');
      if (present) {
        if (![...this.linkPorts.values()].some((r) => r.peer === peer)) this.waitingSince.set(peer, this.now());
        this.topology.peerPresent(peer);
      } else {
        this.topology.peerGone(peer);
      }
    });
  }

  private linkUp(info: LinkInfo, port: FramePort): void {
    if (this.stopping) {
      port.close();
      return;
    }
    const since = this.waitingSince.get(info.peerId);
    this.waitingSince.delete(info.peerId);
    const seenToUpMs = since === undefined ? undefined : Math.round(this.now() - since);
    // Registered before the port joins: BoundedFlood asks on the port-status ADD which peer it leads to.
    this.portPeers.set(port.name, info.peerId);
    let no: number;
    try {
      no = this.dp.addPort(port);
    } catch (e) {
      this.portPeers.delete(port.name);
      this.log.error({ peer: info.peerId, link: info.linkId, err: e instanceof Error ? e.message : String(e) }, 'cannot add the link\'s port; closing the link');
      port.close();
      return;
    }
    this.linkPorts.set(info.linkId, { no, port, peer: info.peerId, seenToUpMs });
    this.topology.linkUp(info.peerId);
    const pair = info.stats?.pair ?? (port instanceof TinCanLink ? port.stats().pair : undefined);
    this.log.info(
      {
        peer: info.peerId, link: info.linkId, role: info.role, port: no, portName: port.name, setupMs: info.setupMs, seenToUpMs,
        local: pair?.local.type, remote: pair?.remote.type, localAddr: pair ? `${pair.local.address}:${pair.local.port}` : undefined,
        remoteAddr: pair ? `${pair.remote.address}:${pair.remote.port}` : undefined,
      },
      'link up: port added',
    );
  }

  private linkDown(info: LinkInfo, reason: string): void {
    const rec = this.linkPorts.get(info.linkId);
    this.linkPorts.delete(info.linkId);
    // The datapath may already have dropped the port (its 'gone'), and its number may have gone to
    // another link since: remove it only while no other port of ours holds that number.
    if (rec !== undefined) {
      if (rec.no !== TAP_PORT && ![...this.linkPorts.values()].some((r) => r.no === rec.no)) this.dp.removePort(rec.no);
      if (![...this.linkPorts.values()].some((r) => r.port.name === rec.port.name)) this.portPeers.delete(rec.port.name);
    }
    this.log.info({ peer: info.peerId, link: info.linkId, port: rec?.no, reason }, 'link down: port removed');
    // An older link's late 'down' while a newer link to the same peer is up: the edge stands.
    if (this.stopping || [...this.linkPorts.values()].some((r) => r.peer === info.peerId)) return;
    this.waitingSince.set(info.peerId, this.now());
    this.topology.linkDown(info.peerId, reason);
  }

  status(): NodeStatus {
    const linkInfos = this.links.links();
    const topology = this.topology.status();
    const peerOfPort = (no: number): { name: string; peer: string | undefined } => {
      if (no === TAP_PORT) return { name: this.tap.name, peer: undefined };
      const rec = [...this.linkPorts.values()].find((r) => r.no === no);
      return { name: rec?.port.name ?? '?', peer: rec?.peer };
    };
    return {
      nodeId: this.nodeId,
      overlay: this.cfg.overlay,
      jid: this.cfg.signal.jid,
      fingerprint: this.cert.fingerprint,
      signalOnline: this.signal.online(),
      tap: { name: this.tap.name, port: TAP_PORT, hwAddr: this.tap.hwAddr, ip4: this.cfg.appBridge.ip4, prefixLen: this.cfg.appBridge.prefixLen, mtu: this.cfg.appBridge.mtu },
      ports: this.dp.portNumbers().map((no) => ({ no, ...peerOfPort(no) })),
      links: linkInfos.map((l): LinkStatus => {
        const rec = this.linkPorts.get(l.linkId);
        const edge = topology.edges.find((e) => e.peer === l.peerId);
        return {
          peerId: l.peerId, linkId: l.linkId, role: l.role, state: l.state, portName: l.portName, port: rec?.no, setupMs: l.setupMs, seenToUpMs: rec?.seenToUpMs,
          local: candidate(l.stats?.pair?.local), remote: candidate(l.stats?.pair?.remote), rttMs: l.stats?.srttMs,
          counters: l.stats?.counters ?? rec?.port.counters(), rxRefused: l.stats?.rxRefused, controlRefused: l.stats?.controlRefused, edge: edge === undefined ? undefined : { type: edge.type, dir: edge.dir },
        };
      }),
      topology,
      controller: {
        kind: this.cfg.controller.kind, target: this.target, connected: this.channel.connected > 0,
        ...(this.channel instanceof Channel && { channel: this.channel.stats() }),
      },
      flood: this.flood?.counters(),
      flows: this.dp.dumpFlows().length,
      recursionGuard: this.guard?.stats(),
      signal: this.signal.stats?.(),
      linkManager: this.links.counters?.(),
    };
  }

  /** The datapath's ports, one line each (switch/ctl.ts's dump-ports). */
  dumpPorts(): string[] {
    return this.dp.dumpPorts();
  }

  /** The datapath's flows, one line each (ovs-ofctl dump-flows' form). */
  dumpFlows(): string[] {
    return this.dp.dumpFlows();
  }

  /** Called when signaling fails for good while the node runs: it can no longer find or reach peers. */
  onFatal(fn: (e: Error) => void): void {
    this.signal.onFatal(fn);
  }

  /** Stops everything, in reverse order; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.onlineWatch);
    this.topology.stop();
    try {
      await this.links.close();
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'closing the links failed');
    }
    try {
      await this.signal.stop();
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'leaving the XMPP server failed');
    }
    await undo({ dp: this.dp, channel: this.channel, ...(this.controller !== undefined && { controller: this.controller }) });
    this.log.info({ tap: this.tap.name }, 'node stopped');
  }
}
