/**
 * An overlay node: one process that is EdgeVPN's broker, its OVS bridge, its Ryu app and its tincan
 * processes at once (EDGEVPN.md, "Per node"). It composes, in this order:
 *
 *   state     StateDir/nid (the node id, unless the config gives one) and StateDir/cert.pem + key.pem
 *             (link/cert.ts: the identity its links show in DTLS)
 *   datapath  the OpenFlow switch in this process (switch/datapath.ts), fail mode standalone: with no
 *             controller it learns MACs itself (switch/standalone.ts). Port-status messages (ADD when a
 *             link's port joins, DELETE when it leaves) go to whatever controller is attached; none is
 *             yet, so they are counted and logged.
 *   TAP       the application TAP (AppBridge): a TAP port of the datapath, with its IPv4 address,
 *             prefix and MTU set, IPv6 turned off before it comes up (a fresh interface with IPv6 sends
 *             router solicitations, MLD reports and duplicate-address probes by itself; over an overlay
 *             every one of them is flooded to every peer), then brought up. It is removed with the
 *             process (the node creates it; a TAP lives as long as its file descriptor).
 *   signal    the XMPP client (link/signal.ts): login, presence of the other nodes of the overlay,
 *             requests between nodes; behind the recursion guard (overlay/recursion.ts), which keeps
 *             the overlay's own addresses out of ICE so that no link carries its own traffic
 *   links     the LinkManager (link/manager.ts): on 'up' the link's port is added to the datapath, on
 *             'down' removed. Which peers to link to is StaticPeers' policy (overlay/peers.ts).
 *   ctl       a JSON status over a unix socket, StateDir/node.ctl (overlay/ctl.ts)
 *
 * Stopping undoes it in reverse: peers stop dialling, every link closes (peers are told), the XMPP
 * session ends (the server sees us leave), the datapath stops and the TAP goes with it.
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
import type { Logger } from '../base/logger.js';
import type { OFPMessage } from '../openflow/index.js';
import { OFPPR } from '../openflow/index.js';
import type { AsyncKind } from '../switch/channel.js';
import { type AsyncSink, Datapath } from '../switch/datapath.js';
import type { FramePort } from '../switch/port.js';
import { type NodeCert, ensureNodeCert } from '../link/cert.js';
import type { LinkInfo, LinkManagerOptions, SignalingLike } from '../link/manager.js';
import { TinCanLink, type TinCanStats } from '../link/tincan.js';
import type { SignalConfig } from '../link/signal-config.js';
import type { AppBridgeConfig, NodeConfig } from './config.js';
import { StaticPeers } from './peers.js';
import { type RecursionGuardStats, guardSignaling, ipv4Net } from './recursion.js';

/** A failure to start or run the node, with a stable code and a message that says what and where. */
export class NodeError extends Error {
  override readonly name = 'NodeError';
  constructor(
    readonly code: 'ESTATE' | 'ECERT' | 'ETAP' | 'ESIGNAL' | 'ELINK',
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
}

/** What the node needs of its link manager (link/manager.ts's LinkManager is one). */
export interface NodeLinkManager {
  start(): void;
  connect(peerId: string): Promise<LinkInfo>;
  links(): LinkInfo[];
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
}

export interface NodeStatus {
  readonly nodeId: string;
  readonly overlay: string;
  readonly jid: string;
  readonly fingerprint: string;
  readonly signalOnline: boolean;
  readonly tap: { readonly name: string; readonly port: number; readonly hwAddr: string; readonly ip4: string | undefined; readonly prefixLen: number; readonly mtu: number };
  readonly ports: readonly { readonly no: number; readonly name: string }[];
  readonly links: readonly LinkStatus[];
  readonly peers: ReturnType<StaticPeers['states']>;
  /** Port-status messages the datapath sent, by reason. */
  readonly portStatus: { readonly add: number; readonly delete: number; readonly modify: number };
  /** Overlay candidates kept out of signaling (overlay/recursion.ts); undefined without an overlay address. */
  readonly recursionGuard: RecursionGuardStats | undefined;
}

const NODE_ID = /^[0-9a-f]{32}$/;

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
    if (!NODE_ID.test(text)) throw new NodeError('ESTATE', `${file} does not hold a node id (32 lowercase hex digits): remove it to make a new one, or fix it`);
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

export class OverlayNode {
  readonly nodeId: string;
  readonly cert: NodeCert;
  private readonly cfg: NodeConfig;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly dp: Datapath;
  private readonly tap: TapPort;
  private readonly signal: NodeSignal;
  private readonly links: NodeLinkManager;
  private readonly peers: StaticPeers;
  private readonly guard: { stats(): RecursionGuardStats } | undefined;
  /** Datapath port of each link that is up, by link id, with the port object (numbers are reused). */
  private readonly linkPorts = new Map<string, { no: number; port: FramePort; seenToUpMs: number | undefined }>();
  /** Port-status messages the datapath sent, by reason (counted by its sink). */
  private readonly portStatus: { add: number; delete: number; modify: number };
  private stopping: Promise<void> | undefined;

  private constructor(
    opts: NodeOptions,
    nodeId: string,
    cert: NodeCert,
    dp: Datapath,
    portStatus: { add: number; delete: number; modify: number },
    tap: TapPort,
    signal: NodeSignal,
    links: NodeLinkManager,
    guard: { stats(): RecursionGuardStats } | undefined,
  ) {
    this.cfg = opts.config;
    this.log = opts.log;
    this.now = opts.now ?? (() => performance.now());
    this.nodeId = nodeId;
    this.cert = cert;
    this.dp = dp;
    this.portStatus = portStatus;
    this.tap = tap;
    this.signal = signal;
    this.links = links;
    this.guard = guard;
    this.peers = new StaticPeers({ peers: opts.config.peers, connect: (p) => this.links.connect(p), log: opts.log, now: this.now });
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

    const counts = { add: 0, delete: 0, modify: 0 };
    const dp = new Datapath({ name: cfg.appBridge.name, dpid: BigInt(`0x${nodeId.slice(0, 16)}`), tables: 1, failMode: cfg.controller.failMode, log });
    // Until a controller is attached, port-status messages end here: counted and logged, so that the
    // order of a link's port joining and leaving can be seen in the log and the status.
    const sink: AsyncSink = {
      connected: 0,
      wants: (kind: AsyncKind) => kind === 'port_status',
      sendAsync: (msg: OFPMessage, kind: AsyncKind, reason: number) => {
        if (kind === 'port_status' && msg.type === 'OFPPortStatus') {
          const what = reason === OFPPR.ADD ? 'add' : reason === OFPPR.DELETE ? 'delete' : 'modify';
          counts[what]++;
          log.info({ port: msg.desc.port_no, name: msg.desc.name, reason: what.toUpperCase() }, 'port status');
        }
        return 0;
      },
    };
    dp.attach(sink);

    let tap: TapPort;
    try {
      tap = parts.openTap(cfg.appBridge.name);
    } catch (e) {
      dp.stop();
      throw new NodeError('ETAP', `cannot open the application TAP ${cfg.appBridge.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      (parts.configureTap ?? configureTapWithIp)(cfg.appBridge);
      dp.addPort(tap, TAP_PORT);
      tap.setAdminUp?.(true);
    } catch (e) {
      dp.stop();
      tap.close();
      throw e instanceof NodeError ? e : new NodeError('ETAP', `cannot set up the application TAP ${cfg.appBridge.name}: ${e instanceof Error ? e.message : String(e)}`);
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
    const links = parts.linkManager({ nodeId, overlayId: cfg.overlay, mac: tap.hwAddr, signal, cert: announced, link: cfg.link, log });
    const node = new OverlayNode(opts, nodeId, cert, dp, counts, tap, signal, links, guard);
    node.wire();
    try {
      await signal.start();
    } catch (e) {
      await node.stop();
      throw e;
    }
    log.info({ nodeId, jid: cfg.signal.jid, fingerprint: cert.fingerprint, peers: cfg.peers }, 'node running');
    return node;
  }

  private wire(): void {
    this.links.on('up', (info, port) => this.linkUp(info, port));
    this.links.on('down', (info, reason) => this.linkDown(info, reason));
    this.links.on('failed', (info, reason) => this.log.warn({ peer: info.peerId, link: info.linkId, role: info.role, reason }, 'link set-up failed'));
    this.links.start();
    this.signal.onPresence((peer, present) => {
      if (peer === this.nodeId) return;
      this.log.info({ peer, present, listed: this.peers.has(peer) }, present ? 'peer seen' : 'peer left');
      if (present) this.peers.present(peer);
      else this.peers.gone(peer);
    });
  }

  private linkUp(info: LinkInfo, port: FramePort): void {
    if (this.stopping) {
      port.close();
      return;
    }
    const since = this.peers.since(info.peerId);
    const seenToUpMs = since === undefined ? undefined : Math.round(this.now() - since);
    let no: number;
    try {
      no = this.dp.addPort(port);
    } catch (e) {
      this.log.error({ peer: info.peerId, link: info.linkId, err: e instanceof Error ? e.message : String(e) }, 'cannot add the link\'s port; closing the link');
      port.close();
      return;
    }
    this.linkPorts.set(info.linkId, { no, port, seenToUpMs });
    this.peers.linkUp(info.peerId);
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
    if (rec !== undefined && rec.no !== TAP_PORT && ![...this.linkPorts.values()].some((r) => r.no === rec.no)) this.dp.removePort(rec.no);
    this.log.info({ peer: info.peerId, link: info.linkId, port: rec?.no, reason }, 'link down: port removed');
    if (!this.stopping) this.peers.linkDown(info.peerId, reason);
  }

  status(): NodeStatus {
    const linkInfos = this.links.links();
    return {
      nodeId: this.nodeId,
      overlay: this.cfg.overlay,
      jid: this.cfg.signal.jid,
      fingerprint: this.cert.fingerprint,
      signalOnline: this.signal.online(),
      tap: { name: this.tap.name, port: TAP_PORT, hwAddr: this.tap.hwAddr, ip4: this.cfg.appBridge.ip4, prefixLen: this.cfg.appBridge.prefixLen, mtu: this.cfg.appBridge.mtu },
      ports: this.dp.portNumbers().map((no) => ({ no, name: no === TAP_PORT ? this.tap.name : ([...this.linkPorts.values()].find((r) => r.no === no)?.port.name ?? '?') })),
      links: linkInfos.map((l): LinkStatus => {
        const rec = this.linkPorts.get(l.linkId);
        return {
          peerId: l.peerId, linkId: l.linkId, role: l.role, state: l.state, portName: l.portName, port: rec?.no, setupMs: l.setupMs, seenToUpMs: rec?.seenToUpMs,
          local: candidate(l.stats?.pair?.local), remote: candidate(l.stats?.pair?.remote), rttMs: l.stats?.srttMs,
        };
      }),
      peers: this.peers.states(),
      portStatus: { ...this.portStatus },
      recursionGuard: this.guard?.stats(),
    };
  }

  /** The datapath's ports, one line each (switch/ctl.ts's dump-ports). */
  dumpPorts(): string[] {
    return this.dp.dumpPorts();
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
    this.peers.stop();
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
    this.dp.stop(); // closes every port; the TAP the node created goes with its file descriptor
    this.log.info({ tap: this.tap.name }, 'node stopped');
  }
}
