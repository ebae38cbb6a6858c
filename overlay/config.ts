/**
 * The node's configuration: one JSON file in EdgeVPN's shape where it maps (EDGEVPN.md §6), for one
 * overlay. overlay/README.md documents every key with a full example.
 *
 * One schema, checked here and nowhere else: unknown keys are refused (a typo never becomes a silent
 * default), every error is a ConfigError naming the key path (`$.Signal.Port: expected an integer
 * 1..65535, got 70000`), the node's defaults live in DEFAULTS only (the link's in link/config.ts, whose
 * checks the LinkManager section goes through, with the paths translated back to this file's keys), and
 * the result is frozen all the way down. A key that checks against another is reported at the later
 * one's path (`$.Topology.StaticEdges[0]: ... this node's own NodeId`).
 *
 * Resolution is pure: no file is read and nothing is generated here. A node id that the file does not
 * give stays undefined (the node reads or makes StateDir/nid), and relative paths are taken from the
 * folder of the config file (`baseDir`), so a config means the same whatever the working directory.
 *
 * The Signal section goes through link/signal-config.ts's checks the same way. Topology (EDGEVPN.md §4),
 * BoundedFlood (§5), Controller and Status are checked here: their values are plain numbers and names.
 *
 * May import: base/, link/config.ts, link/signal-config.ts, controller/apps/frb.ts (pure: the FRB header's size).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { parseIpv4, parseIpv6 } from '../base/addr.js';
import { ConfigError, endpointFlag } from '../base/cli.js';
import { formatEndpoint } from '../base/endpoint.js';
import { at, jsonChecks, showValue } from '../base/json.js';
import { LOG_LEVELS, type LogLevel } from '../base/logger.js';
import { checkSecretFile, isLoopback } from '../base/secret.js';
import { DEFAULTS as LINK_DEFAULTS, MTU_MAX, MTU_MIN, type TinCanConfig, resolveLinkConfig } from '../link/config.js';
import { type SignalConfig, resolveSignalConfig } from '../link/signal-config.js';
// What BoundedFlood adds to a broadcast it carries between nodes (49 bytes): the TAP's MTU leaves room for it.
import { FRB_OVERHEAD } from '../controller/apps/frb.js';

/** 1024-based, as EdgeVPN reads "10M". */
const BYTE_UNITS = [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const;

/** The node's own defaults (the link's are link/config.ts's DEFAULTS). */
export const DEFAULTS = Object.freeze({
  /** Prefix length of AppBridge.IP4. */
  prefixLen: 24,
  /** AppBridge.Name is this plus the overlay name, cut to 15 bytes. */
  tapPrefix: 'tf-',
  logLevel: 'info',
  /** Where the node keeps its id (nid), certificate (cert.pem, key.pem) and control socket (node.ctl). */
  stateDir: '/var/lib/tinflow',
  /**
   * The switch's fail mode. Secure: with its controller away it learns nothing itself (BoundedFlood owns
   * forwarding; a self-learning switch floods, and the overlay's links form loops).
   */
  failMode: 'secure',
  /**
   * EdgeVPN's Topology defaults (EDGEVPN.md §4). The long-distance counts have none here: left out,
   * they are the topology's (overlay/topology.ts: floor(log2(n + 1)) for n peers, at run time, and its
   * own incoming limit).
   */
  topology: Object.freeze({
    minSuccessors: 2,
    /** On-demand edges are off unless asked for, as in EdgeVPN. */
    maxOnDemand: 0,
    /** EdgeVPN's "10M". */
    demandThreshold: 10 * 1024 ** 2,
    manual: false,
    role: 'switch',
    /** An edge younger than this is not taken down, and a link lost younger backs its peer off (EdgeVPN's 180 s). */
    minConnectedMs: 180_000,
  }),
  /** BoundedFlood's learned flows: seconds, 0 = none (EDGEVPN.md §5). */
  boundedFlood: Object.freeze({ flowIdleTimeout: 60, flowHardTimeout: 0, trafficAnalysisInterval: 10 }),
} as const);

/** The application TAP: the node's own interface on the overlay. */
export interface AppBridgeConfig {
  /** The TAP device's name, 1 to 15 bytes. */
  readonly name: string;
  /** Its IPv4 address and prefix length, or none (a layer-2-only node). */
  readonly ip4: string | undefined;
  readonly prefixLen: number;
  /** At most LinkManager.Mtu - FRB_OVERHEAD (49). */
  readonly mtu: number;
}

/** Which links the node keeps (EdgeVPN's Topology section, per overlay). */
export interface TopologyConfig {
  /** Ring successors to keep linked, 1..16. */
  readonly minSuccessors: number;
  /** Long-distance edges to make, 0..64; undefined: floor(log2(n + 1)) for n peers, at run time. */
  readonly maxLongDistance: number | undefined;
  /** Long-distance edges to accept from others, 0..64 (tinflow's own: EdgeVPN uses MaxLongDistEdges); undefined: the topology's default. */
  readonly maxIncomingLongDistance: number | undefined;
  /** On-demand edges, 0..16 (0: off). */
  readonly maxOnDemand: number;
  /** Bytes a flow carries before an on-demand edge is asked for. */
  readonly demandThreshold: number;
  /** Node ids (lower case) always linked to. */
  readonly staticEdges: readonly string[];
  /** Static edges only: no successors, long-distance or on-demand edges of its own. */
  readonly manual: boolean;
  /** A leaf keeps only its static edges and accepts no incoming ones. */
  readonly role: 'switch' | 'leaf';
  readonly minConnectedMs: number;
}

/** BoundedFlood's learned flows, seconds (0: no such timeout). */
export interface BoundedFloodConfig {
  readonly flowIdleTimeout: number;
  readonly flowHardTimeout: number;
  /** Seconds between reads of the learnt flows' counters, for on-demand edges (used when MaxOnDemandEdges > 0). */
  readonly trafficAnalysisInterval: number;
}

/** BoundedFlood in this process (the default), or an OpenFlow controller the switch dials. */
export type ControllerConfig =
  | { readonly kind: 'in-tree'; readonly failMode: 'secure' }
  | {
      readonly kind: 'external';
      /** "tcp:HOST:PORT" or "ssl:HOST:PORT", as base/endpoint.ts formats it. */
      readonly target: string;
      readonly failMode: 'secure' | 'standalone';
    };

/** The HTTP status and Prometheus /metrics. */
export interface StatusConfig {
  /** "IP:PORT" ("[IPv6]:PORT"), port 0 for any; undefined: not served. */
  readonly listen: string | undefined;
  /**
   * Absolute path of a file (mode 0600) holding the bearer token that every request must carry; required
   * when Listen is not loopback (base/secret.ts). Read by the CLI at start, not here.
   */
  readonly tokenFile: string | undefined;
}

export interface NodeConfig {
  /** 32 lowercase hex digits, or undefined: read from StateDir/nid, made there on first start. */
  readonly nodeId: string | undefined;
  readonly overlay: string;
  /** The Signal section, as link/signal-config.ts resolved it. */
  readonly signal: SignalConfig;
  /** The LinkManager section, as link/config.ts resolved it. */
  readonly link: TinCanConfig;
  readonly appBridge: AppBridgeConfig;
  readonly topology: TopologyConfig;
  readonly boundedFlood: BoundedFloodConfig;
  readonly controller: ControllerConfig;
  readonly status: StatusConfig;
  readonly logLevel: LogLevel;
  /** Absolute. */
  readonly stateDir: string;
}

export interface ResolveOptions {
  /** Folder that relative paths (StateDir, CaFile) are taken from: the config file's. Default the working directory. */
  readonly baseDir?: string;
}

const TOP_KEYS = ['NodeId', 'Overlay', 'Signal', 'LinkManager', 'AppBridge', 'Topology', 'BoundedFlood', 'Controller', 'Status', 'LogLevel', 'StateDir'] as const;
const SIGNAL_KEYS = ['HostAddress', 'Port', 'Username', 'Password', 'Domain', 'Tls', 'CaFile', 'Sasl', 'MucDomain', 'AuthenticationMethod'] as const;
const LINK_KEYS = ['Stun', 'Turn', 'RelayOnly', 'PortRange', 'BindAddress', 'Mtu', 'EchoIntervalMs', 'TimeoutMs', 'SetupTimeoutMs'] as const;
const TURN_KEYS = ['Address', 'User', 'Password'] as const;
const BRIDGE_KEYS = ['Name', 'IP4', 'PrefixLen', 'MTU'] as const;
/** In the order they are checked and printed: what kind of node, its static edges, then the edges it makes itself. */
const TOPOLOGY_KEYS = ['Role', 'ManualTopology', 'StaticEdges', 'MinSuccessors', 'MaxLongDistEdges', 'MaxIncomingLongDistEdges', 'MaxOnDemandEdges', 'DemandThreshold', 'MinConnectedMs'] as const;
const FLOOD_KEYS = ['FlowIdleTimeout', 'FlowHardTimeout', 'TrafficAnalysisInterval'] as const;
const CONTROLLER_KEYS = ['Target', 'FailMode'] as const;
const STATUS_KEYS = ['Listen', 'TokenFile'] as const;

/**
 * EdgeVPN keys a migrated config may still carry, with why tinflow has no such key; refused with this
 * reason rather than a bare "unknown key".
 */
const EDGEVPN_KEYS: Readonly<Record<string, string>> = {
  Overlays: 'a tinflow config is for one overlay: name it in "Overlay" and move this section\'s keys up one level',
  Broker: 'tinflow has no broker: the node id is "NodeId", the overlay is "Overlay"',
  BridgeController: 'its parts are top-level sections here: the application TAP is "AppBridge", BoundedFlood\'s flow timeouts are "BoundedFlood", its controller is "Controller"',
  NetDevice: 'the application TAP is "AppBridge" at the top level (the switch is always tinflow\'s own, in the node)',
  SDNControllerPort: 'the in-tree controller listens on a port of its own choosing; an external one is "Controller.Target"',
  IgnoredNetInterfaces: 'libdatachannel cannot leave interfaces out of ICE; use "BindAddress" to pick one address',
  UsageReport: 'tinflow reports nothing to anyone',
  LocationId: 'tinflow has no Geneve dataplane (EdgeVPN\'s choice between nodes of one location): every link is a TinCan link',
  EncryptionRequired: 'every tinflow link is encrypted (DTLS), always (EdgeVPN passed this key on but never read it)',
  MaxConcurrentOps: 'the topology makes one change at a time, always',
  LinkCheckInterval: 'EdgeVPN probes Geneve links with it; TinCan links have their own echoes ("LinkManager.EchoIntervalMs")',
};

/** Keys tinflow keeps elsewhere than where EdgeVPN (or an older tinflow) has them: where they are now. */
const MOVED_KEYS: Readonly<Record<string, string>> = {
  MaxOnDemandEdges: 'Topology.MaxOnDemandEdges',
  DemandThreshold: 'Topology.DemandThreshold',
};

/** Keys an older tinflow config had, with what replaced them. */
const FORMER_KEYS: Readonly<Record<string, string>> = {
  Peers: 'static links are "Topology.StaticEdges" now (kept by the topology along with the links it makes itself)',
};

const check = jsonChecks<unknown>((path, detail) => new ConfigError(path, detail), showValue);

/** map[k] if it is the map's own entry ("constructor" or "__proto__" in a file are keys like any other). */
function own(map: Readonly<Record<string, string>>, k: string): string | undefined {
  return Object.hasOwn(map, k) ? map[k] : undefined;
}

/** Why key `k` of the object at `path` (named `what`) is refused: the most helpful reason known. */
function refusal(k: string, path: string, allowed: readonly string[], what: string): string {
  const former = own(FORMER_KEYS, k);
  if (former !== undefined) return `no longer a tinflow key: ${former}`;
  const why = own(EDGEVPN_KEYS, k);
  if (why !== undefined) return `not a tinflow key (EdgeVPN's): ${why}`;
  const home = own(MOVED_KEYS, k) ?? ((TOP_KEYS as readonly string[]).includes(k) && path !== '$' ? k : undefined);
  if (home !== undefined) return `not a key of ${what}: tinflow has it as "${home}"${home === k ? ', at the top level' : ''}`;
  return `unknown key in ${what}; expected ${allowed.join(', ')}`;
}

function object(v: unknown, path: string, allowed: readonly string[], what: string): { readonly [k: string]: unknown } {
  const o = check.object(v, path);
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ConfigError(at(path, k), refusal(k, path, allowed, what));
  }
  return o;
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(path, `expected an integer ${min}..${max}, got ${showValue(v)}`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(path, `expected true or false, got ${showValue(v)}`);
  return v;
}

function nonEmpty(v: unknown, path: string): string {
  const s = check.text(v, path);
  if (s === '') throw new ConfigError(path, 'must not be empty');
  return s;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function isIpv4(s: string): boolean {
  try {
    parseIpv4(s);
    return true;
  } catch {
    return false;
  }
}

function isIpv6(s: string): boolean {
  try {
    parseIpv6(s);
    return true;
  } catch {
    return false;
  }
}

function host(v: unknown, path: string): string {
  const s = nonEmpty(v, path);
  if (!HOSTNAME.test(s) && !isIpv4(s) && !isIpv6(s)) throw new ConfigError(path, `${JSON.stringify(s)} is not a host name or an IP address`);
  return s;
}

/** A node id: 32 hex digits (EdgeVPN's uuid4 hex), kept in lower case. */
const NODE_ID = /^[0-9A-Fa-f]{32}$/;

function nodeId(v: unknown, path: string): string {
  const s = check.text(v, path);
  if (!NODE_ID.test(s)) throw new ConfigError(path, `expected 32 hex digits (a node id), got ${showValue(s)}`);
  return s.toLowerCase();
}

/** An overlay name: it goes into the TAP's default name and into XMPP stanzas, so it stays plain. */
const OVERLAY = /^[A-Za-z0-9_-]{1,32}$/;

function path(v: unknown, key: string, baseDir: string): string {
  const s = nonEmpty(v, key);
  if (s.includes('\0')) throw new ConfigError(key, 'a path cannot contain a NUL character');
  return isAbsolute(s) ? s : resolvePath(baseDir, s);
}

function logLevel(v: unknown, key: string): LogLevel {
  const s = check.text(v, key);
  const lower = s.toLowerCase();
  // EdgeVPN writes Python's level names (INFO, WARNING, ...): they map one to one but for two.
  const named = lower === 'warning' ? 'warn' : lower === 'critical' ? 'error' : lower;
  const level = LOG_LEVELS.find((l) => l === named);
  if (level === undefined) throw new ConfigError(key, `expected one of ${LOG_LEVELS.join(', ')} (or EdgeVPN's DEBUG, INFO, WARNING, ERROR), got ${showValue(v)}`);
  return level;
}

const SIGNAL_PATHS: Readonly<Record<string, string>> = {
  jid: 'Username',
  password: 'Password',
  host: 'HostAddress',
  port: 'Port',
  tls: 'Tls',
  caFile: 'CaFile',
  sasl: 'Sasl',
  mucDomain: 'MucDomain',
};

/**
 * The Signal section: EdgeVPN's shape checked here (Username with or without Domain, the port as a
 * string), values by link/signal-config.ts, whose error paths are translated back into this file's keys.
 */
function resolveSignal(v: unknown, p: string, baseDir: string): SignalConfig {
  const o = object(v, p, SIGNAL_KEYS, 'Signal');
  if (o.AuthenticationMethod !== undefined && o.AuthenticationMethod !== 'PASSWORD') {
    throw new ConfigError(at(p, 'AuthenticationMethod'), `only "PASSWORD" (a SASL password login, over TLS unless Tls is "none") is supported, got ${showValue(o.AuthenticationMethod)}`);
  }
  const user = nonEmpty(o.Username, at(p, 'Username'));
  const m = /^([^@/\s]+)(?:@([^@/\s]+))?$/.exec(user);
  if (m === null) throw new ConfigError(at(p, 'Username'), `expected "user" or "user@domain" (no resource, no spaces), got ${showValue(user)}`);
  const userDomain = m[2];
  let domain: string;
  if (o.Domain !== undefined) {
    domain = host(o.Domain, at(p, 'Domain')).toLowerCase();
    if (userDomain !== undefined && userDomain.toLowerCase() !== domain) {
      throw new ConfigError(at(p, 'Domain'), `${JSON.stringify(domain)} differs from the domain in Username ${JSON.stringify(user)}: give it in one place`);
    }
  } else if (userDomain !== undefined) {
    domain = userDomain;
  } else {
    throw new ConfigError(at(p, 'Domain'), `missing: Username ${JSON.stringify(user)} has no @domain, so Domain must name the XMPP domain`);
  }
  const input: Record<string, unknown> = { jid: `${m[1] as string}@${domain}`, password: nonEmpty(o.Password, at(p, 'Password')) };
  if (o.HostAddress !== undefined) input.host = host(o.HostAddress, at(p, 'HostAddress'));
  if (o.Port !== undefined) {
    // EdgeVPN's template writes the port as a string ("5222"): decimal digits are taken as well.
    const raw = typeof o.Port === 'string' && /^\d{1,5}$/.test(o.Port) ? Number(o.Port) : o.Port;
    input.port = int(raw, at(p, 'Port'), 1, 65535);
  }
  if (o.Tls !== undefined) input.tls = o.Tls;
  if (o.CaFile !== undefined) input.caFile = path(o.CaFile, at(p, 'CaFile'), baseDir);
  if (o.Sasl !== undefined) input.sasl = o.Sasl;
  if (o.MucDomain !== undefined) input.mucDomain = o.MucDomain;
  try {
    return resolveSignalConfig(input, '');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const mine = SIGNAL_PATHS[e.key.replace(/[.[].*$/, '')];
    throw new ConfigError(mine === undefined ? p : at(p, mine), e.detail);
  }
}

/**
 * An ICE address as EdgeVPN writes it ("host:port", "host") or as a URL ("stun:host:port"): the URL.
 * "stun:3478" is a host named stun, as EdgeVPN would read it.
 */
function iceUrl(entry: string, scheme: 'stun' | 'turn', path: string): string {
  const m = /^(stuns?|turns?):/.exec(entry);
  if (m === null || /^[^:]+:\d+$/.test(entry)) return `${scheme}:${entry}`;
  const given = (m[1] as string).replace(/s$/, '');
  if (given !== scheme) throw new ConfigError(path, `a ${given.toUpperCase()} URL in the ${scheme === 'stun' ? 'Stun' : 'Turn'} list: ${scheme === 'stun' ? 'TURN servers go in Turn, with User and Password' : 'STUN servers go in Stun'}`);
  return entry;
}

const LINK_PATHS: Readonly<Record<string, string>> = {
  portRangeBegin: 'PortRange.Begin',
  portRangeEnd: 'PortRange.End',
  bindAddress: 'BindAddress',
  mtu: 'Mtu',
  echoIntervalMs: 'EchoIntervalMs',
  timeoutMs: 'TimeoutMs',
  setupTimeoutMs: 'SetupTimeoutMs',
  iceTransportPolicy: 'RelayOnly',
};

const TURN_FIELDS: Readonly<Record<string, string>> = { url: 'Address', username: 'User', credential: 'Password' };

/**
 * The LinkManager section: shapes checked here, values by link/config.ts (one set of rules for links),
 * whose error paths are translated back into this file's keys.
 */
function resolveLink(v: unknown, p: string): TinCanConfig {
  const o = object(v ?? {}, p, LINK_KEYS, 'LinkManager');
  const iceServers: unknown[] = [];
  /** Where each iceServers entry came from, for error paths. */
  const sources: { path: string; turn: boolean }[] = [];
  if (o.Stun !== undefined) {
    check.list(o.Stun, at(p, 'Stun')).forEach((s, i) => {
      const sp = at(at(p, 'Stun'), i);
      iceServers.push(iceUrl(nonEmpty(s, sp), 'stun', sp));
      sources.push({ path: sp, turn: false });
    });
  }
  const turns = o.Turn === undefined ? [] : check.list(o.Turn, at(p, 'Turn'));
  turns.forEach((t, i) => {
    const tp = at(at(p, 'Turn'), i);
    const to = object(t, tp, TURN_KEYS, 'a TURN server');
    const address = nonEmpty(to.Address, at(tp, 'Address'));
    iceServers.push({ url: iceUrl(address, 'turn', at(tp, 'Address')), username: nonEmpty(to.User, at(tp, 'User')), credential: nonEmpty(to.Password, at(tp, 'Password')) });
    sources.push({ path: tp, turn: true });
  });
  const relayOnly = o.RelayOnly === undefined ? false : bool(o.RelayOnly, at(p, 'RelayOnly'));
  if (relayOnly && turns.length === 0) throw new ConfigError(at(p, 'RelayOnly'), 'true needs a TURN server in Turn (no candidate could be gathered otherwise)');
  const input: Record<string, unknown> = { iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' };
  if (o.PortRange !== undefined) {
    const rp = at(p, 'PortRange');
    const r = object(o.PortRange, rp, ['Begin', 'End'], 'PortRange');
    if (r.Begin === undefined) throw new ConfigError(at(rp, 'Begin'), 'missing');
    if (r.End === undefined) throw new ConfigError(at(rp, 'End'), 'missing');
    if (typeof r.Begin === 'number' && typeof r.End === 'number' && r.End < r.Begin) throw new ConfigError(at(rp, 'End'), `${r.End} is below Begin ${r.Begin}`);
    input.portRangeBegin = r.Begin;
    input.portRangeEnd = r.End;
  }
  if (o.Mtu !== undefined) input.mtu = o.Mtu;
  if (o.BindAddress !== undefined) input.bindAddress = o.BindAddress;
  if (o.EchoIntervalMs !== undefined) input.echoIntervalMs = o.EchoIntervalMs;
  if (o.TimeoutMs !== undefined) input.timeoutMs = o.TimeoutMs;
  if (o.SetupTimeoutMs !== undefined) input.setupTimeoutMs = o.SetupTimeoutMs;
  const echo = o.EchoIntervalMs ?? LINK_DEFAULTS.echoIntervalMs;
  const timeout = o.TimeoutMs ?? LINK_DEFAULTS.timeoutMs;
  if (typeof echo === 'number' && typeof timeout === 'number' && Number.isInteger(echo) && Number.isInteger(timeout) && timeout <= echo) {
    throw new ConfigError(at(p, 'TimeoutMs'), `${timeout} ms must be longer than EchoIntervalMs (${echo} ms): one late echo would end every link`);
  }
  try {
    return resolveLinkConfig(input, '');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(linkPath(e.key, p, sources), e.detail);
  }
}

/** A link/config.ts key path (relative: `mtu`, `iceServers[2].url`) as this file's key path. */
function linkPath(key: string, p: string, sources: readonly { path: string; turn: boolean }[]): string {
  const m = /^iceServers\[(\d+)\](?:\.(\w+))?/.exec(key);
  if (m !== null) {
    const src = sources[Number(m[1])];
    if (src === undefined) return p;
    const field = m[2] === undefined ? undefined : TURN_FIELDS[m[2]];
    return src.turn ? at(src.path, field ?? 'Address') : src.path;
  }
  const mine = LINK_PATHS[key];
  return mine === undefined ? p : `${p}.${mine}`;
}

/** A Linux interface name: 1 to 15 bytes, no slash, colon or white space, not "." or "..". */
const IFNAME = /^(?!\.\.?$)[^/:\s]{1,15}$/;

function resolveAppBridge(v: unknown, p: string, overlay: string, linkMtu: number): AppBridgeConfig {
  const o = object(v ?? {}, p, BRIDGE_KEYS, 'AppBridge');
  let name = `${DEFAULTS.tapPrefix}${overlay}`.slice(0, 15);
  if (o.Name !== undefined) {
    name = nonEmpty(o.Name, at(p, 'Name'));
    if (Buffer.byteLength(name) > 15 || !IFNAME.test(name)) throw new ConfigError(at(p, 'Name'), `${showValue(name)} is not an interface name (1 to 15 bytes; no "/", ":" or spaces)`);
  }
  let ip4: string | undefined;
  if (o.IP4 !== undefined) {
    ip4 = check.text(o.IP4, at(p, 'IP4'));
    if (!isIpv4(ip4)) throw new ConfigError(at(p, 'IP4'), `${showValue(ip4)} is not an IPv4 address (the prefix goes in PrefixLen)`);
  }
  const prefixLen = o.PrefixLen === undefined ? DEFAULTS.prefixLen : int(o.PrefixLen, at(p, 'PrefixLen'), 1, 32);
  if (o.PrefixLen !== undefined && ip4 === undefined) throw new ConfigError(at(p, 'PrefixLen'), 'given without IP4');
  // A broadcast from the TAP crosses the links inside BoundedFlood's header, so the TAP's MTU defaults to
  // the links' own less that header: any larger and the host would send broadcasts every link drops.
  const room = linkMtu - FRB_OVERHEAD;
  if (o.MTU === undefined && room < MTU_MIN) {
    throw new ConfigError('$.LinkManager.Mtu', `${linkMtu} leaves no room for an application TAP: its MTU (at least ${MTU_MIN}) and BoundedFlood's ${FRB_OVERHEAD}-byte header need at least ${MTU_MIN + FRB_OVERHEAD}`);
  }
  const mtu = o.MTU === undefined ? room : int(o.MTU, at(p, 'MTU'), MTU_MIN, MTU_MAX);
  if (mtu > room) {
    throw new ConfigError(at(p, 'MTU'), `${mtu} is above ${room}: a broadcast crosses the links in BoundedFlood's header (${FRB_OVERHEAD} bytes more), which must fit in LinkManager.Mtu ${linkMtu}, or every link drops the largest broadcasts`);
  }
  return Object.freeze({ name, ip4, prefixLen, mtu });
}

/** A count of bytes: a whole number, or EdgeVPN's "<n>K", "<n>M", "<n>G" (1024-based) as a string. */
function byteCount(v: unknown, path: string, max: number): number {
  let n: number | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string') {
    const m = /^(\d{1,16})([KMG]?)$/i.exec(v);
    if (m !== null) {
      const unit = BYTE_UNITS.find(([u]) => u === (m[2] as string).toUpperCase());
      n = Number(m[1]) * (unit === undefined ? 1 : unit[1]);
    }
  }
  if (n === undefined || n < 1 || n > max) {
    throw new ConfigError(path, `expected a number of bytes from 1 to ${showBytes(max)}, or "<n>K", "<n>M", "<n>G" (1024-based: EdgeVPN's "10M" is 10 MiB), got ${showValue(v)}`);
  }
  return n;
}

/** A number of bytes in the shortest form byteCount reads back exactly ("10M", or the number). */
function showBytes(n: number): string | number {
  const unit = BYTE_UNITS.find(([, size]) => n % size === 0);
  return unit === undefined ? n : `${n / unit[1]}${unit[0]}`;
}

/** The largest DemandThreshold: 1 TiB, far beyond what a flow carries between two polls. */
const DEMAND_MAX = 1024 ** 4;

/**
 * Role: tinflow's "switch" or "leaf" in any case, and EdgeVPN's default "RoleSwitch". EdgeVPN names its
 * other role "Pendant", but only the literal "leaf" ever made a node a leaf there, so "Pendant" is
 * refused rather than guessed.
 */
function role(v: unknown, path: string): 'switch' | 'leaf' {
  const lower = typeof v === 'string' ? v.toLowerCase() : undefined;
  if (lower === 'switch' || lower === 'roleswitch') return 'switch';
  if (lower === 'leaf') return 'leaf';
  if (lower === 'pendant' || lower === 'rolependant') {
    throw new ConfigError(path, `${JSON.stringify(v)} never made an EdgeVPN node a leaf (only "leaf" did; anything else ran as a switch): write "switch", or "leaf" for a node that keeps only its StaticEdges and accepts no incoming links`);
  }
  throw new ConfigError(path, `expected "switch" or "leaf" (EdgeVPN's "RoleSwitch" is "switch"), got ${showValue(v)}`);
}

/** The Topology section; `self` is the node's own id when the file gives one (a static edge to it is refused). */
function resolveTopology(v: unknown, p: string, self: string | undefined): TopologyConfig {
  const o = object(v ?? {}, p, TOPOLOGY_KEYS, 'Topology');
  const d = DEFAULTS.topology;
  const count = (key: string, min: number, max: number): number | undefined => (o[key] === undefined ? undefined : int(o[key], at(p, key), min, max));
  const r = o.Role === undefined ? d.role : role(o.Role, at(p, 'Role'));
  const manual = o.ManualTopology === undefined ? d.manual : bool(o.ManualTopology, at(p, 'ManualTopology'));
  const staticEdges: string[] = [];
  if (o.StaticEdges !== undefined) {
    check.list(o.StaticEdges, at(p, 'StaticEdges')).forEach((e, i) => {
      const ep = at(at(p, 'StaticEdges'), i);
      const peer = nodeId(e, ep);
      if (staticEdges.includes(peer)) throw new ConfigError(ep, `${peer} is listed twice`);
      if (peer === self) throw new ConfigError(ep, `${peer} is this node's own NodeId`);
      staticEdges.push(peer);
    });
  }
  const minSuccessors = count('MinSuccessors', 1, 16) ?? d.minSuccessors;
  const maxLongDistance = count('MaxLongDistEdges', 0, 64);
  const maxIncomingLongDistance = count('MaxIncomingLongDistEdges', 0, 64);
  // A leaf accepts no incoming link at all: a limit on incoming ones would promise what never happens.
  if (r === 'leaf' && maxIncomingLongDistance !== undefined) {
    throw new ConfigError(at(p, 'MaxIncomingLongDistEdges'), 'given for a leaf (Role "leaf"), which accepts no incoming links: leave it out, or make the node a switch');
  }
  const maxOnDemand = count('MaxOnDemandEdges', 0, 16) ?? d.maxOnDemand;
  // Taken even while MaxOnDemandEdges is 0: turning on-demand edges off and on again keeps the threshold.
  const demandThreshold = o.DemandThreshold === undefined ? d.demandThreshold : byteCount(o.DemandThreshold, at(p, 'DemandThreshold'), DEMAND_MAX);
  const minConnectedMs = count('MinConnectedMs', 0, 86_400_000) ?? d.minConnectedMs;
  return Object.freeze({
    minSuccessors, maxLongDistance, maxIncomingLongDistance, maxOnDemand, demandThreshold,
    staticEdges: Object.freeze(staticEdges), manual, role: r, minConnectedMs,
  });
}

function resolveBoundedFlood(v: unknown, p: string): BoundedFloodConfig {
  const o = object(v ?? {}, p, FLOOD_KEYS, 'BoundedFlood');
  const d = DEFAULTS.boundedFlood;
  // OpenFlow's flow timeouts are 16-bit seconds.
  const flowIdleTimeout = o.FlowIdleTimeout === undefined ? d.flowIdleTimeout : int(o.FlowIdleTimeout, at(p, 'FlowIdleTimeout'), 0, 65535);
  const flowHardTimeout = o.FlowHardTimeout === undefined ? d.flowHardTimeout : int(o.FlowHardTimeout, at(p, 'FlowHardTimeout'), 0, 65535);
  const trafficAnalysisInterval = o.TrafficAnalysisInterval === undefined ? d.trafficAnalysisInterval : int(o.TrafficAnalysisInterval, at(p, 'TrafficAnalysisInterval'), 1, 3600);
  return Object.freeze({ flowIdleTimeout, flowHardTimeout, trafficAnalysisInterval });
}

/**
 * An external controller to dial: tcp: with a host and a port, as base/endpoint.ts reads it. ssl: is
 * refused for now: the node has no keys for the switch's side of it (no CaFile, CertFile in this section).
 */
function controllerTarget(v: unknown, path: string): string {
  const s = nonEmpty(v, path);
  if (s.startsWith('ssl:')) throw new ConfigError(path, 'ssl: targets are not supported yet (the node has no certificate settings for its switch); use tcp: to a controller on this host');
  const ep = endpointFlag(path, s, ['tcp'], { what: 'target', prefix: true });
  if (!HOSTNAME.test(ep.host) && !isIpv4(ep.host) && !isIpv6(ep.host)) throw new ConfigError(path, `${JSON.stringify(ep.host)} is not a host name or an IP address`);
  if (ep.port === 0) throw new ConfigError(path, 'port 0: a controller to dial needs its port, 1..65535');
  return formatEndpoint(ep);
}

function resolveController(v: unknown, p: string): ControllerConfig {
  const o = object(v ?? {}, p, CONTROLLER_KEYS, 'Controller');
  const target = o.Target === undefined ? undefined : controllerTarget(o.Target, at(p, 'Target'));
  const failMode = o.FailMode ?? DEFAULTS.failMode;
  if (failMode !== 'secure' && failMode !== 'standalone') throw new ConfigError(at(p, 'FailMode'), `expected "secure" or "standalone", got ${showValue(failMode)}`);
  if (target !== undefined) return Object.freeze({ kind: 'external', target, failMode });
  if (failMode === 'standalone') {
    throw new ConfigError(at(p, 'FailMode'), '"standalone" needs an external controller ("Target"): it is what the switch does while its controller is unreachable, and the in-tree controller runs in this process, so the switch never loses it');
  }
  return Object.freeze({ kind: 'in-tree', failMode });
}

/** "IP:PORT": an IPv4 address, or an IPv6 one in brackets; port 0 lets the system choose. */
function listenAddress(v: unknown, path: string): string {
  const s = nonEmpty(v, path);
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  if (m === null) throw new ConfigError(path, `expected IP:PORT (an IPv6 address in brackets: "[::1]:9100"), got ${showValue(s)}`);
  const v6 = m[1];
  if (v6 !== undefined ? !isIpv6(v6) : !isIpv4(m[2] as string)) {
    throw new ConfigError(path, `${JSON.stringify(v6 ?? m[2])} is not an ${v6 !== undefined ? 'IPv6' : 'IPv4'} address (a name is not taken: say which address to listen on)`);
  }
  if (Number(m[3]) > 65535) throw new ConfigError(path, `port ${m[3] as string} is not 0..65535`);
  return s;
}

function resolveStatus(v: unknown, p: string, baseDir: string): StatusConfig {
  const o = object(v ?? {}, p, STATUS_KEYS, 'Status');
  const listen = o.Listen === undefined ? undefined : listenAddress(o.Listen, at(p, 'Listen'));
  const tokenFile = o.TokenFile === undefined ? undefined : path(o.TokenFile, at(p, 'TokenFile'), baseDir);
  // The status shows the overlay's members and addresses, the web view too: beyond loopback, a token.
  const host = listen?.replace(/:\d+$/, '');
  if (host !== undefined && tokenFile === undefined && !isLoopback(host)) {
    throw new ConfigError(at(p, 'Listen'), `${host} is not loopback: the status and web view would be open to other machines; set Status.TokenFile (a file of mode 0600 holding a token) or listen on 127.0.0.1`);
  }
  return Object.freeze({ listen, tokenFile });
}

/**
 * Every mistake in a configuration, one per section at most (the first found in each): a file with a bad
 * port and a bad address is fixed in one round. `key` and `detail` are the first one's; the message
 * lists them all, one a line.
 */
export class NodeConfigError extends ConfigError {
  constructor(readonly errors: readonly ConfigError[]) {
    const first = errors[0] ?? new ConfigError('$', 'invalid');
    super(first.key, first.detail, errors.map((e) => e.message).join('\n'));
  }
}

/** Checks a node configuration (parsed JSON) and fills in the defaults; the result is frozen. */
export function resolveNodeConfig(input: unknown, opts: ResolveOptions = {}): NodeConfig {
  const baseDir = opts.baseDir ?? process.cwd();
  const errors: ConfigError[] = [];
  /** Runs one section's checks; a ConfigError is kept and the section's result is undefined. */
  const section = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e);
      return undefined;
    }
  };
  let o: { readonly [k: string]: unknown };
  try {
    o = object(input, '$', TOP_KEYS, 'the node configuration');
  } catch (e) {
    if (e instanceof ConfigError) throw new NodeConfigError([e]);
    throw e;
  }
  const id = section(() => (o.NodeId === undefined ? undefined : nodeId(o.NodeId, '$.NodeId')));
  const overlay = section(() => {
    const name = check.text(o.Overlay, '$.Overlay');
    if (!OVERLAY.test(name)) throw new ConfigError('$.Overlay', `expected 1 to 32 letters, digits, "_" or "-", got ${showValue(name)}`);
    return name;
  });
  const signal = section(() => {
    if (o.Signal === undefined) throw new ConfigError('$.Signal', 'missing: the XMPP server and account are needed to find peers');
    return resolveSignal(o.Signal, '$.Signal', baseDir);
  });
  const link = section(() => resolveLink(o.LinkManager, '$.LinkManager'));
  // Without a valid overlay name or link MTU, the bridge's own keys are still checked, against stand-ins.
  const appBridge = section(() => resolveAppBridge(o.AppBridge, '$.AppBridge', overlay ?? 'overlay', link?.mtu ?? MTU_MAX));
  const topology = section(() => resolveTopology(o.Topology, '$.Topology', id));
  const boundedFlood = section(() => resolveBoundedFlood(o.BoundedFlood, '$.BoundedFlood'));
  const controller = section(() => resolveController(o.Controller, '$.Controller'));
  const status = section(() => resolveStatus(o.Status, '$.Status', baseDir));
  const level = section(() => (o.LogLevel === undefined ? DEFAULTS.logLevel : logLevel(o.LogLevel, '$.LogLevel')));
  const stateDir = section(() => (o.StateDir === undefined ? DEFAULTS.stateDir : path(o.StateDir, '$.StateDir', baseDir)));
  if (
    errors.length > 0 || overlay === undefined || signal === undefined || link === undefined || appBridge === undefined || topology === undefined ||
    boundedFlood === undefined || controller === undefined || status === undefined || level === undefined || stateDir === undefined
  ) {
    throw new NodeConfigError(errors);
  }
  return Object.freeze({ nodeId: id, overlay, signal, link, appBridge, topology, boundedFlood, controller, status, logLevel: level, stateDir });
}

const MASK = '********';

/** host:port, with an IPv6 host in brackets. */
function hostPort(h: string, port: number): string {
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * The resolved configuration in the file's own shape and key names, every default filled in, for
 * `--check-config` and logs. With `mask` (the default) passwords are replaced by asterisks. Without it,
 * resolving the output again gives the same configuration.
 */
export function nodeConfigJson(c: NodeConfig, opts: { readonly mask?: boolean } = {}): Record<string, unknown> {
  const secret = (s: string): string => ((opts.mask ?? true) ? MASK : s);
  const l = c.link;
  const linkManager: Record<string, unknown> = {
    Stun: l.iceServers.filter((s) => s.kind === 'stun').map((s) => hostPort(s.host, s.port)),
    Turn: l.iceServers.filter((s) => s.kind === 'turn').map((s) => ({ Address: hostPort(s.host, s.port), User: s.username, Password: secret(s.credential ?? '') })),
    RelayOnly: l.iceTransportPolicy === 'relay',
    ...(l.portRange ? { PortRange: { Begin: l.portRange.begin, End: l.portRange.end } } : {}),
    ...(l.bindAddress !== undefined ? { BindAddress: l.bindAddress } : {}),
    Mtu: l.mtu,
    EchoIntervalMs: l.echoIntervalMs,
    TimeoutMs: l.timeoutMs,
    SetupTimeoutMs: l.setupTimeoutMs,
  };
  const s = c.signal;
  const t = c.topology;
  return {
    ...(c.nodeId !== undefined ? { NodeId: c.nodeId } : {}),
    Overlay: c.overlay,
    Signal: {
      HostAddress: s.host,
      Port: s.port,
      Username: s.jid,
      Password: secret(s.password),
      Tls: s.tls,
      ...(s.caFile !== undefined ? { CaFile: s.caFile } : {}),
      Sasl: s.sasl,
      MucDomain: s.mucDomain,
    },
    LinkManager: linkManager,
    AppBridge: {
      Name: c.appBridge.name,
      ...(c.appBridge.ip4 !== undefined ? { IP4: c.appBridge.ip4, PrefixLen: c.appBridge.prefixLen } : {}),
      MTU: c.appBridge.mtu,
    },
    Topology: {
      Role: t.role,
      ManualTopology: t.manual,
      StaticEdges: [...t.staticEdges],
      MinSuccessors: t.minSuccessors,
      ...(t.maxLongDistance !== undefined ? { MaxLongDistEdges: t.maxLongDistance } : {}),
      ...(t.maxIncomingLongDistance !== undefined ? { MaxIncomingLongDistEdges: t.maxIncomingLongDistance } : {}),
      MaxOnDemandEdges: t.maxOnDemand,
      DemandThreshold: showBytes(t.demandThreshold),
      MinConnectedMs: t.minConnectedMs,
    },
    BoundedFlood: { FlowIdleTimeout: c.boundedFlood.flowIdleTimeout, FlowHardTimeout: c.boundedFlood.flowHardTimeout, TrafficAnalysisInterval: c.boundedFlood.trafficAnalysisInterval },
    Controller: c.controller.kind === 'external' ? { Target: c.controller.target, FailMode: c.controller.failMode } : { FailMode: c.controller.failMode },
    Status: { ...(c.status.listen !== undefined ? { Listen: c.status.listen } : {}), ...(c.status.tokenFile !== undefined ? { TokenFile: c.status.tokenFile } : {}) },
    LogLevel: c.logLevel,
    StateDir: c.stateDir,
  };
}

/**
 * Reads and resolves a config file; relative paths in it are taken from its folder. A file that cannot
 * be read or is not JSON is a ConfigError naming the file; a bad configuration, a NodeConfigError. The
 * file holds passwords (Signal, TURN), so one open to group or others is refused first, as ssh refuses
 * an open key: the message names the file, its mode and `chmod 600 FILE`.
 */
export function loadNodeConfig(file: string): NodeConfig {
  let text: string;
  try {
    checkSecretFile(file, 'passwords');
  } catch (e) {
    throw new ConfigError('', e instanceof Error ? e.message : String(e));
  }
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('$', `${file} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return resolveNodeConfig(json, { baseDir: dirname(resolvePath(file)) });
}
