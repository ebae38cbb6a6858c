/**
 * A NAT lab for overlay tests, benchmarks and the demo (root only, like CI): a "public internet"
 * namespace with a bridge in the documentation range 203.0.113.0/24 where prosody (XMPP) and coturn
 * (STUN/TURN) run, home routers doing nftables masquerade in front of private nodes, and nodes
 * directly on the public bridge.
 *
 *   node ns ──veth── router ns (LAN bridge 192.168.X.1, nft masquerade) ──veth── public ns (bridge
 *   203.0.113.10: prosody :5222, coturn :3478) ──veth── public node ns (203.0.113.N)
 *
 * Built on scripts/netlab.ts: every name starts with the lab's per-run prefix, so parallel runs never
 * clash, IPv6 is off everywhere (no link-local ICE candidates, no stray frames), and close() stops
 * every process by pid, kills anything left inside the lab's namespaces, deletes the namespaces by name
 * and removes the temp folders (named tinflow-<prefix>-...). Failures while building leave everything
 * tracked, so close() in an afterAll cleans up a half-built lab too.
 *
 * NAT behaviour (Linux conntrack, RFC 4787 terms): the default router keeps the source port where it
 * can, so one private socket keeps one public mapping whatever the destination (endpoint-independent
 * mapping: STUN hole punching works); its filtering is address- and port-dependent (conntrack only lets
 * back what answers a flow). `symmetric: true` uses `masquerade fully-random`: a new random port per
 * destination, so the STUN-reported address is useless to peers and only TURN gets through.
 * Both routers drop unsolicited inbound from the public side, in input and in forward.
 *
 * Processes inside namespaces are separate processes (setns is per thread; Node cannot enter one), so
 * small probes run there as `node -e` scripts: udpAgent() is a UDP socket in any namespace driven over
 * stdin/stdout; the STUN binding request is 20 bytes written here, no library.
 *
 * Facts this relies on (checked on this machine, see /work/shared/RECIPES.md "A NAT lab for WebRTC"):
 * prosody is scripts/prosody.ts's, the same server the loopback signaling tests run; coturn must deny private peers or, behind symmetric NATs, it tries a peer's private host candidate,
 * gets ENETUNREACH and drops the whole allocation.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stopProcess } from '../base/shutdown.js';
import { fileTail as tail, keepTail, stderrOf } from './daemon.js';
import { Lab, inNs } from './netlab.js';
import { type ProsodyAccount, type ProsodyServer, startProsodyServer } from './prosody.js';

export type { ProsodyAccount };

/** The public "internet": 203.0.113.0/24 (TEST-NET-3, RFC 5737), private to the lab's namespaces. */
export const PUBLIC_PREFIX = '203.0.113';
/** The public namespace's own address on the bridge, where prosody and coturn listen. */
export const SERVICE_ADDR = `${PUBLIC_PREFIX}.10`;

export class NatLabError extends Error {
  override readonly name = 'NatLabError';
}

export interface PublicNet {
  /** The namespace that holds the bridge and runs the services. */
  readonly ns: string;
  /** The bridge (inside ns) every router and public node hangs on. */
  readonly bridge: string;
  /** The namespace's own address on the bridge (SERVICE_ADDR). */
  readonly addr: string;
}

/** A namespace on the lab's networks: a node behind a router or a node directly on the public bridge. */
export interface LabNode {
  readonly name: string;
  readonly ns: string;
  /** Its interface inside ns. */
  readonly ifname: string;
  /** Its own IPv4 address (private behind a router, public on the bridge). */
  readonly addr: string;
  /** The router it sits behind; undefined for a public node. */
  readonly router: NatRouter | undefined;
  /** The address the public side sees it from: its router's public address, or its own. */
  readonly publicAddr: string;
}

export interface RouterOptions {
  /** Short name (lowercase letter, then letters/digits, at most 8): the namespace is <prefix><name>. */
  readonly name: string;
  /** Its address on the public bridge, in 203.0.113.0/24. Default: the next free one. */
  readonly publicAddr?: string;
  /** Its LAN, an a.b.c.0/24 (the router takes .1, nodes .2 up). Default 192.168.10.0/24, .20., ... */
  readonly privateNet?: string;
  /** `masquerade fully-random`: a new public port per destination (symmetric NAT). Default false. */
  readonly symmetric?: boolean;
}

/** Packets a router's "drop unsolicited inbound" rules have dropped, per hook. */
export interface DropCounts {
  readonly input: number;
  readonly forward: number;
}

export interface NatRouter {
  readonly nat: NatLab;
  readonly name: string;
  readonly ns: string;
  /** Public side interface (inside ns). */
  readonly wan: string;
  /** LAN bridge (inside ns) that nodeBehind() attaches nodes to. */
  readonly lan: string;
  readonly publicAddr: string;
  /** Its LAN address, the nodes' default gateway (a.b.c.1). */
  readonly privateAddr: string;
  /** a.b.c.0/24 */
  readonly privateNet: string;
  readonly symmetric: boolean;
  /** Reads the counters of the rules that drop unsolicited inbound from the public side. */
  dropped(): DropCounts;
}

export interface ProsodyOptions {
  readonly accounts: readonly ProsodyAccount[];
  /** XMPP domain of the one VirtualHost. Default 'natlab.test'. */
  readonly domain?: string;
  /** c2s port on SERVICE_ADDR. Default 5222. */
  readonly port?: number;
  /**
   * STARTTLS with a certificate for the domain (and SERVICE_ADDR) signed by a CA made for this run;
   * encryption is then required before login. Default false: no TLS offered, PLAIN allowed in clear.
   */
  readonly tls?: boolean;
  /** How long to wait for it to listen. Default 15000 ms. */
  readonly startTimeoutMs?: number;
}

/** The lab's prosody: scripts/prosody.ts's server, running in the public namespace. */
export type Prosody = ProsodyServer;

export interface CoturnOptions {
  /** Long-term credential user. Default 'natlab'. Letters, digits, . _ - only (it goes into a URL). */
  readonly user?: string;
  /** Default 'natlab-pass'. Same characters as user. */
  readonly password?: string;
  /** Default 'natlab.test'. */
  readonly realm?: string;
  /** STUN/TURN port on SERVICE_ADDR (UDP and TCP). Default 3478. */
  readonly port?: number;
  /** Relay port range. Default 49152-49999. */
  readonly minPort?: number;
  readonly maxPort?: number;
  /** How long to wait for it to answer a binding request. Default 10000 ms. */
  readonly startTimeoutMs?: number;
}

export interface Coturn {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly realm: string;
  /** stun:203.0.113.10:3478 */
  readonly stunUrl: string;
  /** turn:user:password@203.0.113.10:3478 (the form node-datachannel's iceServers takes) */
  readonly turnUrl: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/** One datagram a UdpAgent received. */
export interface Datagram {
  /** The agent's local port it arrived on. */
  readonly port: number;
  readonly from: string;
  readonly fromPort: number;
  readonly data: Buffer;
}

export interface UdpAgentOptions {
  /** Local ports to bind, one socket each. Default one socket on a port the kernel picks. */
  readonly ports?: readonly number[];
  /** Local address to bind. Default all (0.0.0.0). */
  readonly host?: string;
  /** Answer every datagram with the text "<source address>:<source port>" it came from. Default false. */
  readonly reflect?: boolean;
}

/** A UDP endpoint living in a namespace (a `node -e` process), driven from the test. */
export interface UdpAgent {
  readonly ns: string;
  /** Bound local ports, in the order asked (kernel-picked ones filled in). */
  readonly ports: readonly number[];
  /** Everything received so far, in order. */
  readonly received: readonly Datagram[];
  /** Sends from the socket bound to fromPort (default the first). */
  send(to: string, toPort: number, data: Buffer | string, fromPort?: number): void;
  /** The first datagram, received before or after the call, that matches; rejects after ms naming what. */
  next(what: string, match: (d: Datagram) => boolean, ms?: number): Promise<Datagram>;
  stop(): Promise<void>;
}

/** The address and port a STUN server saw a binding request come from. */
export interface MappedAddress {
  readonly address: string;
  readonly port: number;
}

const NAME_RE = /^[a-z][a-z0-9]{0,7}$/;
const CRED_RE = /^[A-Za-z0-9._-]+$/;
const NET24_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.0\/24$/;

/** Runs cmd in ns with input on its stdin (nft -f -). */
function inNsInput(ns: string, input: string, ...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
}

/**
 * The public namespace and its bridge; the namespace takes SERVICE_ADDR on the bridge. Bridged frames
 * skip netfilter (bridge-nf-call-iptables=0): the public internet switches frames and nothing else.
 */
export function publicNet(lab: Lab): PublicNet {
  const ns = lab.ns('pub');
  const bridge = lab.name('br');
  inNs(ns, 'ip', 'link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  inNs(ns, 'ip', 'link', 'set', bridge, 'up');
  inNs(ns, 'ip', 'addr', 'add', `${SERVICE_ADDR}/24`, 'dev', bridge);
  try {
    inNs(ns, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0');
  } catch {
    /* no br_netfilter in this kernel: bridged frames never met netfilter anyway */
  }
  return { ns, bridge, addr: SERVICE_ADDR };
}

export class NatLab {
  readonly lab: Lab;
  readonly pub: PublicNet;
  private readonly suffixes = new Set<string>(['pub', 'br']);
  private readonly publicAddrs = new Set<string>([SERVICE_ADDR]);
  private readonly privateNets = new Set<string>();
  private closing: Promise<void> | undefined;

  /** Makes a Lab from tag (two letters of it go into the prefix) and the public net. */
  constructor(tag: string) {
    this.lab = new Lab(tag);
    try {
      this.pub = publicNet(this.lab);
    } catch (e) {
      this.lab.cleanup();
      throw e;
    }
  }

  get prefix(): string {
    return this.lab.prefix;
  }

  /** Stops every process (services, agents, anything spawned through lab), deletes namespaces and temp folders. */
  close(): Promise<void> {
    this.closing ??= this.lab.close();
    return this.closing;
  }

  /** Reserves the lab-name suffixes a router or node needs, or says which clashes. */
  reserve(name: string, ...suffixes: string[]): void {
    if (!NAME_RE.test(name)) throw new NatLabError(`name "${name}": use a lowercase letter then at most 7 letters or digits`);
    for (const s of suffixes) {
      if (this.suffixes.has(s)) throw new NatLabError(`name "${name}": ${this.lab.name(s)} is already used in this lab`);
    }
    for (const s of suffixes) this.suffixes.add(s);
  }

  /** Takes a public address: the one given (checked) or the next free one. */
  takePublicAddr(want?: string): string {
    if (want !== undefined) {
      const m = new RegExp(`^${PUBLIC_PREFIX.replace(/\./g, '\\.')}\\.(\\d{1,3})$`).exec(want);
      const host = m ? Number(m[1]) : NaN;
      if (!(host >= 1 && host <= 254)) throw new NatLabError(`public address ${want} is not a host address in ${PUBLIC_PREFIX}.0/24`);
      if (this.publicAddrs.has(want)) throw new NatLabError(`public address ${want} is already used in this lab`);
      this.publicAddrs.add(want);
      return want;
    }
    for (let h = 1; h <= 254; h++) {
      const a = `${PUBLIC_PREFIX}.${h}`;
      if (!this.publicAddrs.has(a)) {
        this.publicAddrs.add(a);
        return a;
      }
    }
    throw new NatLabError(`no free address left in ${PUBLIC_PREFIX}.0/24`);
  }

  /** Takes a router LAN: the one given (checked) or 192.168.10.0/24, .20., ... */
  takePrivateNet(want?: string): string {
    if (want !== undefined) {
      const m = NET24_RE.exec(want);
      if (!m || m.slice(1, 4).some((o) => Number(o) > 255)) throw new NatLabError(`private net ${want}: expected a.b.c.0/24`);
      if (this.privateNets.has(want)) throw new NatLabError(`private net ${want} is already used in this lab`);
      this.privateNets.add(want);
      return want;
    }
    for (let k = 10; k <= 250; k += 10) {
      const n = `192.168.${k}.0/24`;
      if (!this.privateNets.has(n)) {
        this.privateNets.add(n);
        return n;
      }
    }
    throw new NatLabError('no free default private net left');
  }

  /** A veth from a new interface in ns to the public bridge, named <prefix><name><end>. */
  attachToPublic(name: string, ns: string, ifSuffix: string, portSuffix: string, addr: string): string {
    const inside = this.lab.name(ifSuffix);
    const port = this.lab.name(portSuffix);
    this.lab.veth(inside, port);
    this.lab.move(port, this.pub.ns);
    inNs(this.pub.ns, 'ip', 'link', 'set', port, 'master', this.pub.bridge);
    this.lab.move(inside, ns, `${addr}/24`);
    return inside;
  }
}

/** Reads a named nft counter's packets in ns. */
function counterPackets(ns: string, table: string, counter: string): number {
  const out = inNs(ns, 'nft', '-j', 'list', 'counter', 'ip', table, counter);
  const parsed: unknown = JSON.parse(out);
  const items = parsed !== null && typeof parsed === 'object' && 'nftables' in parsed ? (parsed as { nftables: unknown }).nftables : undefined;
  if (Array.isArray(items)) {
    for (const it of items) {
      if (it !== null && typeof it === 'object' && 'counter' in it) {
        const c = (it as { counter: unknown }).counter;
        if (c !== null && typeof c === 'object' && 'packets' in c && typeof (c as { packets: unknown }).packets === 'number') return (c as { packets: number }).packets;
      }
    }
  }
  throw new NatLabError(`nft counter ${table}/${counter} in ${ns}: no packet count in ${out.slice(0, 200)}`);
}

/**
 * A home router: a namespace with a WAN veth on the public bridge and a LAN bridge for its nodes,
 * forwarding on, masquerade out of WAN, and nothing new let in from WAN (input and forward).
 */
export function natRouter(nat: NatLab, opts: RouterOptions): NatRouter {
  const { name } = opts;
  nat.reserve(name, name, `${name}w`, `${name}b`, `${name}l`);
  const publicAddr = nat.takePublicAddr(opts.publicAddr);
  const privateNet = nat.takePrivateNet(opts.privateNet);
  const symmetric = opts.symmetric ?? false;
  const lab = nat.lab;
  const ns = lab.ns(name);
  const wan = nat.attachToPublic(name, ns, `${name}w`, `${name}b`, publicAddr);
  const lan = lab.name(`${name}l`);
  const base = privateNet.replace(/\.0\/24$/, '');
  const privateAddr = `${base}.1`;
  inNs(ns, 'ip', 'link', 'add', lan, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  inNs(ns, 'ip', 'link', 'set', lan, 'up');
  inNs(ns, 'ip', 'addr', 'add', `${privateAddr}/24`, 'dev', lan);
  inNs(ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  // `fwd` is an nft keyword, hence wan_fwd. Named counters let tests prove a packet reached the
  // router and was dropped there, rather than lost on the way.
  const rules = `table ip natlab {
  counter in_drop { }
  counter fwd_drop { }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${wan}" masquerade${symmetric ? ' fully-random' : ''}
  }
  chain wan_in {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    iifname "${wan}" counter name "in_drop" drop
  }
  chain wan_fwd {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname "${wan}" counter name "fwd_drop" drop
  }
}
`;
  try {
    inNsInput(ns, rules, 'nft', '-f', '-');
  } catch (e) {
    throw new NatLabError(`router ${name}: nft rules refused: ${stderrOf(e)}`);
  }
  const router: NatRouter = {
    nat,
    name,
    ns,
    wan,
    lan,
    publicAddr,
    privateAddr,
    privateNet,
    symmetric,
    dropped: () => ({ input: counterPackets(ns, 'natlab', 'in_drop'), forward: counterPackets(ns, 'natlab', 'fwd_drop') }),
  };
  return router;
}

const nodesBehind = new WeakMap<NatRouter, number>();

/** A node namespace on router's LAN (next free address from .2), default route via the router. */
export function nodeBehind(router: NatRouter, name: string): LabNode {
  const nat = router.nat;
  nat.reserve(name, name, `${name}e`, `${name}p`);
  const n = (nodesBehind.get(router) ?? 0) + 1;
  if (n > 253) throw new NatLabError(`router ${router.name}: its /24 is full`);
  nodesBehind.set(router, n);
  const addr = router.privateAddr.replace(/\.1$/, `.${n + 1}`);
  const lab = nat.lab;
  const ns = lab.ns(name);
  const ifname = lab.name(`${name}e`);
  const port = lab.name(`${name}p`);
  lab.veth(ifname, port);
  lab.move(port, router.ns);
  inNs(router.ns, 'ip', 'link', 'set', port, 'master', router.lan);
  lab.move(ifname, ns, `${addr}/24`);
  inNs(ns, 'ip', 'route', 'add', 'default', 'via', router.privateAddr);
  return { name, ns, ifname, addr, router, publicAddr: router.publicAddr };
}

/** A node namespace directly on the public bridge (next free public address unless addr is given). */
export function publicNode(nat: NatLab, name: string, addr?: string): LabNode {
  nat.reserve(name, name, `${name}e`, `${name}p`);
  const a = nat.takePublicAddr(addr);
  const ns = nat.lab.ns(name);
  const ifname = nat.attachToPublic(name, ns, `${name}e`, `${name}p`, a);
  return { name, ns, ifname, addr: a, router: undefined, publicAddr: a };
}

/** Stops a daemon and waits for it; resolves at once if it is not running. */
async function stopDaemon(p: ChildProcess | undefined): Promise<void> {
  if (p) await stopProcess(p, 3000);
}

/**
 * prosody on SERVICE_ADDR in the public namespace (scripts/prosody.ts), its folder a lab temp folder,
 * the process tracked by the lab.
 */
export async function startProsody(nat: NatLab, opts: ProsodyOptions): Promise<Prosody> {
  return startProsodyServer({
    dir: nat.lab.tempDir('prosody'),
    host: nat.pub.addr,
    port: opts.port ?? 5222,
    domain: opts.domain ?? 'natlab.test',
    accounts: opts.accounts,
    tls: opts.tls ?? false,
    ns: nat.pub.ns,
    spawn: (cmd, args, o) => nat.lab.spawnIn(nat.pub.ns, cmd, args, o),
    ...(opts.startTimeoutMs === undefined ? {} : { startTimeoutMs: opts.startTimeoutMs }),
  });
}

/**
 * coturn on SERVICE_ADDR in the public namespace: long-term credentials, no TLS/DTLS/CLI, private
 * peers denied, its own config, pid, log and user db in a temp folder. Resolves once it answers a STUN
 * binding request sent from the public namespace.
 */
export async function startCoturn(nat: NatLab, opts: CoturnOptions = {}): Promise<Coturn> {
  const user = opts.user ?? 'natlab';
  const password = opts.password ?? 'natlab-pass';
  const realm = opts.realm ?? 'natlab.test';
  const port = opts.port ?? 3478;
  const minPort = opts.minPort ?? 49152;
  const maxPort = opts.maxPort ?? 49999;
  for (const [k, v] of [
    ['user', user],
    ['password', password],
    ['realm', realm],
  ] as const) {
    if (!CRED_RE.test(v)) throw new NatLabError(`coturn ${k} "${v}": letters, digits, . _ - only`);
  }
  if (!(minPort > 0 && minPort <= maxPort && maxPort <= 65535)) throw new NatLabError(`coturn relay ports ${minPort}-${maxPort}: not a port range`);
  const host = nat.pub.addr;
  const dir = nat.lab.tempDir('coturn');
  const configFile = join(dir, 'turnserver.conf');
  const logFile = join(dir, 'turnserver.log');
  const config = [
    '# written by tinflow scripts/natlab.ts for one lab run',
    `listening-ip=${host}`,
    `relay-ip=${host}`,
    `listening-port=${port}`,
    `min-port=${minPort}`,
    `max-port=${maxPort}`,
    `realm=${realm}`,
    'lt-cred-mech',
    `user=${user}:${password}`,
    `userdb=${join(dir, 'turndb')}`,
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-multicast-peers',
    // Without these, behind symmetric NATs coturn relays to a peer's private host candidate, gets
    // ENETUNREACH and closes the whole allocation (RECIPES).
    'denied-peer-ip=10.0.0.0-10.255.255.255',
    'denied-peer-ip=172.16.0.0-172.31.255.255',
    'denied-peer-ip=192.168.0.0-192.168.255.255',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    `log-file=${logFile}`,
    'simple-log',
    'no-stdout-log',
    '',
  ].join('\n');
  writeFileSync(configFile, config);
  const proc = nat.lab.spawnIn(nat.pub.ns, 'turnserver', ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = keepTail(proc.stdout);
  const err = keepTail(proc.stderr);
  const why = (): string => `log ${logFile}:\n${tail(logFile)}\n${out()}\n${err()}`;
  try {
    const agent = await udpAgent(nat, nat.pub.ns, { host });
    try {
      const deadline = Date.now() + (opts.startTimeoutMs ?? 10000);
      for (;;) {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new NatLabError(`turnserver exited (${proc.exitCode ?? proc.signalCode}) before it answered: ${why()}`);
        const got = await stunBinding(agent, host, port, { timeoutMs: 500 }).catch(() => undefined);
        if (got) break;
        if (Date.now() > deadline) throw new NatLabError(`turnserver on ${host}:${port} did not answer a STUN binding request: ${why()}`);
      }
    } finally {
      await agent.stop();
    }
  } catch (e) {
    await stopDaemon(proc);
    throw e;
  }
  return {
    host,
    port,
    user,
    password,
    realm,
    stunUrl: `stun:${host}:${port}`,
    turnUrl: `turn:${user}:${password}@${host}:${port}`,
    configFile,
    logFile,
    get pid() {
      return proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined;
    },
    stop: () => stopDaemon(proc),
  };
}

// --- STUN (RFC 5389): just enough for a binding request and its answer -------------------------

const STUN_MAGIC = 0x2112a442;

/** A 20-byte STUN binding request (no attributes) with the given 12-byte transaction id. */
export function stunBindingRequest(txid: Buffer): Buffer {
  if (txid.length !== 12) throw new NatLabError(`STUN transaction id must be 12 bytes, got ${txid.length}`);
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0); // Binding, class request
  b.writeUInt16BE(0, 2); // attribute length
  b.writeUInt32BE(STUN_MAGIC, 4);
  txid.copy(b, 8);
  return b;
}

/**
 * The mapped address in a binding success response to txid (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS);
 * undefined when msg is not that response. Throws on a response to txid that carries no IPv4 address.
 */
export function parseStunBindingSuccess(msg: Buffer, txid: Buffer): MappedAddress | undefined {
  if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0101 || msg.readUInt32BE(4) !== STUN_MAGIC || !msg.subarray(8, 20).equals(txid)) return undefined;
  const end = Math.min(msg.length, 20 + msg.readUInt16BE(2));
  let plain: MappedAddress | undefined;
  for (let off = 20; off + 4 <= end; ) {
    const type = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 2);
    const v = off + 4;
    if (v + len > end) break;
    if ((type === 0x0020 || type === 0x0001) && len >= 8 && msg[v + 1] === 0x01) {
      const xor = type === 0x0020;
      const port = msg.readUInt16BE(v + 2) ^ (xor ? STUN_MAGIC >>> 16 : 0);
      const raw = msg.readUInt32BE(v + 4) ^ (xor ? STUN_MAGIC : 0);
      const address = [raw >>> 24, (raw >>> 16) & 0xff, (raw >>> 8) & 0xff, raw & 0xff].join('.');
      if (xor) return { address, port };
      plain = { address, port };
    }
    off = v + ((len + 3) & ~3);
  }
  if (plain) return plain;
  throw new NatLabError('STUN binding success without an IPv4 (XOR-)MAPPED-ADDRESS');
}

/**
 * Sends binding requests from agent (socket fromPort, default its first) to host:port every 200 ms
 * until one is answered; resolves the address the server saw.
 */
export async function stunBinding(agent: UdpAgent, host: string, port: number, opts: { fromPort?: number; timeoutMs?: number } = {}): Promise<MappedAddress> {
  const txid = randomBytes(12);
  const req = stunBindingRequest(txid);
  const from = opts.fromPort ?? agent.ports[0];
  const isAnswer = (d: Datagram): boolean => d.from === host && d.fromPort === port && d.port === from && parseStunBindingSuccess(d.data, txid) !== undefined;
  const answer = agent.next(`a STUN binding response from ${host}:${port} to ${agent.ns}`, isAnswer, opts.timeoutMs ?? 5000);
  const timer = setInterval(() => agent.send(host, port, req, from), 200);
  agent.send(host, port, req, from);
  let d: Datagram;
  try {
    d = await answer;
  } finally {
    clearInterval(timer);
  }
  const mapped = parseStunBindingSuccess(d.data, txid);
  if (!mapped) throw new NatLabError(`STUN answer from ${host}:${port} no longer parses`); // cannot happen: isAnswer parsed it
  return mapped;
}

/** One binding request from a throwaway agent in ns: the address a STUN server sees ns's traffic from. */
export async function stunMappedAddress(nat: NatLab, ns: string, host: string, port: number, timeoutMs = 5000): Promise<MappedAddress> {
  const agent = await udpAgent(nat, ns);
  try {
    return await stunBinding(agent, host, port, { timeoutMs });
  } finally {
    await agent.stop();
  }
}

// --- UDP agent: a socket inside a namespace ---------------------------------------------------------

/**
 * Runs in the namespace as `node -e AGENT_JS <tag> <json options>`. Lines on stdin are sends
 * ({"from":port,"to":host,"toPort":port,"hex":...}); lines on stdout are {"ev":"ready","ports":[...]}
 * once every socket is bound, then {"ev":"recv",...} per datagram. It exits when stdin closes, so it
 * never outlives the test process. Plain CommonJS JavaScript: it runs from source and from dist alike.
 */
const AGENT_JS = `
'use strict';
const dgram = require('node:dgram');
const readline = require('node:readline');
const cfg = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const socks = new Map();
const wanted = cfg.ports.length ? cfg.ports : [0];
const bound = [];
let first;
let left = wanted.length;
wanted.forEach((want, i) => {
  const s = dgram.createSocket('udp4');
  s.on('error', (e) => { process.stderr.write('udp agent: ' + e.message + '\\n'); process.exit(2); });
  s.on('message', (msg, r) => {
    const port = s.address().port;
    out({ ev: 'recv', port, from: r.address, fromPort: r.port, hex: msg.toString('hex') });
    if (cfg.reflect) s.send(Buffer.from(r.address + ':' + r.port), r.port, r.address);
  });
  s.bind(want, cfg.host, () => {
    const port = s.address().port;
    socks.set(port, s);
    bound[i] = port;
    if (i === 0) first = s;
    if (--left === 0) out({ ev: 'ready', ports: bound });
  });
});
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line);
  const s = m.from === undefined ? first : socks.get(m.from);
  if (!s) { process.stderr.write('udp agent: no socket on port ' + m.from + '\\n'); return; }
  s.send(Buffer.from(m.hex, 'hex'), m.toPort, m.to);
}).on('close', () => process.exit(0));
`;

/** What AGENT_JS prints, one JSON object a line (it is our own script, so the shape is trusted). */
type AgentLine = { readonly ev: 'ready'; readonly ports: number[] } | { readonly ev: 'recv'; readonly port: number; readonly from: string; readonly fromPort: number; readonly hex: string };

/** Starts a UDP agent in ns (tracked by the lab); resolves once its sockets are bound. */
export async function udpAgent(nat: NatLab, ns: string, opts: UdpAgentOptions = {}): Promise<UdpAgent> {
  const cfg = { ports: opts.ports ?? [], host: opts.host ?? '0.0.0.0', reflect: opts.reflect ?? false };
  const proc = nat.lab.spawnIn(ns, process.execPath, ['-e', AGENT_JS, `natlab:${nat.prefix}`, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const err = keepTail(proc.stderr);
  // A send to an agent that has died fails with EPIPE here; its exit and stderr tell why, and an
  // unhandled 'error' would take the whole test process down instead.
  proc.stdin?.on('error', () => undefined);
  const received: Datagram[] = [];
  const waiters = new Set<(d: Datagram) => void>();
  let ports: number[] = [];
  let onReady: ((ports: number[]) => void) | undefined;
  const ready = new Promise<number[]>((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code, sig) => reject(new NatLabError(`udp agent in ${ns} exited (${code ?? sig}) before it was ready: ${err()}`)));
    proc.once('error', reject);
  });
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const m = JSON.parse(line) as AgentLine;
    if (m.ev === 'ready') onReady?.(m.ports);
    else {
      const d: Datagram = { port: m.port, from: m.from, fromPort: m.fromPort, data: Buffer.from(m.hex, 'hex') };
      received.push(d);
      for (const w of [...waiters]) w(d);
    }
  });
  try {
    ports = await ready;
  } catch (e) {
    await stopProcess(proc, 1000);
    throw e;
  }
  const agent: UdpAgent = {
    ns,
    ports,
    received,
    send(to, toPort, data, fromPort) {
      const hex = (typeof data === 'string' ? Buffer.from(data) : data).toString('hex');
      proc.stdin?.write(`${JSON.stringify({ from: fromPort, to, toPort, hex })}\n`);
    },
    next(what, match, ms = 5000) {
      let seen: Datagram | undefined;
      try {
        seen = received.find(match);
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new NatLabError(String(e)));
      }
      if (seen) return Promise.resolve(seen);
      return new Promise<Datagram>((resolve, reject) => {
        const w = (d: Datagram): void => {
          // match runs inside the stdout line handler: a throw there must reject this wait, not escape
          let hit: boolean;
          try {
            hit = match(d);
          } catch (e) {
            hit = false;
            waiters.delete(w);
            clearTimeout(timer);
            reject(e);
            return;
          }
          if (!hit) return;
          waiters.delete(w);
          clearTimeout(timer);
          resolve(d);
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new NatLabError(`timed out after ${ms} ms waiting for ${what}${err() ? `; agent stderr: ${err()}` : ''}`));
        }, ms);
        waiters.add(w);
      });
    },
    async stop() {
      proc.stdin?.end(); // the agent exits when its stdin closes
      await stopProcess(proc, 1000);
    },
  };
  return agent;
}

/** Whether this machine has what the NAT lab needs (root, ip, nft, prosody, turnserver, setpriv). */
export function natLabMissing(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const [tool, path] of [
    ['nft', '/usr/sbin/nft'],
    ['prosody', '/usr/bin/prosody'],
    ['prosodyctl', '/usr/bin/prosodyctl'],
    ['turnserver', '/usr/bin/turnserver'],
    ['setpriv', '/usr/bin/setpriv'],
    ['openssl', '/usr/bin/openssl'],
  ] as const) {
    if (!existsSync(path)) missing.push(tool);
  }
  return missing;
}
