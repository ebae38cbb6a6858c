/**
 * TinCan link configuration: what every link of a node shares (ICE servers, ports, MTU, liveness
 * timers). One schema: unknown keys are refused, defaults live in DEFAULTS only, the result is frozen,
 * and every error is a ConfigError naming the key path (`$.link.iceServers[1].url: ...`).
 *
 * Input (JSON, all keys optional):
 *   iceServers          list of "stun:HOST[:PORT]" strings or { url, username, credential } objects;
 *                       TURN ("turn:HOST[:PORT][?transport=udp]") needs username and credential
 *   iceTransportPolicy  "all" (default) or "relay" (only TURN-relayed candidates)
 *   portRangeBegin/End  local UDP ports for ICE (both or neither; default: any)
 *   bindAddress         local address to bind (default: all; "127.0.0.1" on loopback, where
 *                       libdatachannel otherwise gathers only non-loopback host candidates)
 *   mtu                 the port's MTU (default 1400; see link/README.md for the arithmetic)
 *   echoIntervalMs      link-control echo period (default 1000)
 *   timeoutMs           no echo reply for this long: the link is gone (default 5000)
 *   setupTimeoutMs      not up this long after it was made: the link is gone (default 40000)
 *
 * May import: base/ (cli.ts for ConfigError, json.ts).
 */
import { ConfigError } from '../base/cli.js';
import { at, jsonChecks, showValue } from '../base/json.js';

/** An ICE server as libdatachannel takes it. */
export interface IceServer {
  readonly kind: 'stun' | 'turn';
  readonly host: string;
  readonly port: number;
  /** TURN only. */
  readonly username?: string;
  readonly credential?: string;
}

export interface TinCanConfig {
  readonly iceServers: readonly IceServer[];
  readonly iceTransportPolicy: 'all' | 'relay';
  readonly portRange: { readonly begin: number; readonly end: number } | undefined;
  readonly bindAddress: string | undefined;
  readonly mtu: number;
  readonly echoIntervalMs: number;
  readonly timeoutMs: number;
  readonly setupTimeoutMs: number;
}

export const DEFAULTS = Object.freeze({
  iceTransportPolicy: 'all',
  /**
   * The largest frame, 1400 + 14 + 4 (VLAN tag), in an RTP packet (+12), SRTP's tag (+16), UDP over IPv6
   * (+48) and a TURN channel header (+4) is 1498 bytes: one packet on any 1500-byte path.
   */
  mtu: 1400,
  echoIntervalMs: 1000,
  timeoutMs: 5000,
  setupTimeoutMs: 40_000,
} as const);

/** Bounds: an MTU IPv4 can use, up to what a 9000-byte jumbo underlay carries after the overheads. */
export const MTU_MIN = 68;
export const MTU_MAX = 8900;

const KEYS = ['iceServers', 'iceTransportPolicy', 'portRangeBegin', 'portRangeEnd', 'bindAddress', 'mtu', 'echoIntervalMs', 'timeoutMs', 'setupTimeoutMs'] as const;

const check = jsonChecks<unknown>((path, detail) => new ConfigError(path, detail), showValue);

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(path, `expected a whole number from ${min} to ${max}, got ${showValue(v)}`);
  return v;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp]; HOST a name, IPv4 or [IPv6]. */
function parseIceUrl(url: string, path: string): { kind: 'stun' | 'turn'; host: string; port: number } {
  const m = /^(stuns?|turns?):(\[[0-9A-Fa-f:.]+\]|[^:?[\]]+)(?::(\d{1,5}))?(?:\?transport=(\w+))?$/.exec(url);
  if (m === null) throw new ConfigError(path, `${JSON.stringify(url)} is not stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp]`);
  const scheme = m[1] as string;
  if (scheme === 'stuns' || scheme === 'turns') {
    throw new ConfigError(path, `${scheme}: (STUN/TURN over TLS) is not supported by libdatachannel's ICE agent (libjuice); use ${scheme.slice(0, -1)}: over UDP`);
  }
  const transport = m[4];
  if (transport !== undefined && transport !== 'udp') {
    throw new ConfigError(path, `transport=${transport}: only UDP works (libjuice gathers no candidate from TURN over TCP)`);
  }
  if (scheme === 'stun' && transport !== undefined) throw new ConfigError(path, 'a STUN URL takes no ?transport');
  const rawHost = m[2] as string;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (!rawHost.startsWith('[') && !HOSTNAME.test(host)) throw new ConfigError(path, `${JSON.stringify(rawHost)} is not a host name or address`);
  const port = m[3] === undefined ? 3478 : Number(m[3]);
  if (port < 1 || port > 65535) throw new ConfigError(path, `port ${port} is not from 1 to 65535`);
  return { kind: scheme as 'stun' | 'turn', host, port };
}

function iceServer(v: unknown, path: string): IceServer {
  if (typeof v === 'string') {
    const s = parseIceUrl(v, path);
    if (s.kind === 'turn') throw new ConfigError(path, 'a TURN server needs a username and a credential: write it as { "url": ..., "username": ..., "credential": ... }');
    return Object.freeze(s);
  }
  const o = check.object(v, path);
  check.onlyKeys(o, ['url', 'username', 'credential'], path, 'an ICE server');
  const s = parseIceUrl(check.text(o.url, at(path, 'url')), at(path, 'url'));
  const username = o.username === undefined ? undefined : check.text(o.username, at(path, 'username'));
  const credential = o.credential === undefined ? undefined : check.text(o.credential, at(path, 'credential'));
  if (s.kind === 'stun') {
    if (username !== undefined || credential !== undefined) throw new ConfigError(path, 'a STUN server takes no username or credential');
    return Object.freeze(s);
  }
  if (username === undefined || username === '') throw new ConfigError(at(path, 'username'), 'a TURN server needs a username');
  if (credential === undefined || credential === '') throw new ConfigError(at(path, 'credential'), 'a TURN server needs a credential');
  return Object.freeze({ ...s, username, credential });
}

/** Checks a link configuration (parsed JSON) and fills in the defaults; `path` is where it sits. */
export function resolveLinkConfig(input: unknown = {}, path = '$'): TinCanConfig {
  const o = check.object(input, path);
  check.onlyKeys(o, KEYS, path, 'a link configuration');
  const iceServers = o.iceServers === undefined ? [] : check.list(o.iceServers, at(path, 'iceServers')).map((s, i) => iceServer(s, at(at(path, 'iceServers'), i)));
  let iceTransportPolicy: 'all' | 'relay' = DEFAULTS.iceTransportPolicy;
  if (o.iceTransportPolicy !== undefined) {
    const p = o.iceTransportPolicy;
    if (p !== 'all' && p !== 'relay') throw new ConfigError(at(path, 'iceTransportPolicy'), `expected "all" or "relay", got ${showValue(p)}`);
    iceTransportPolicy = p;
  }
  if (iceTransportPolicy === 'relay' && !iceServers.some((s) => s.kind === 'turn')) {
    throw new ConfigError(at(path, 'iceTransportPolicy'), '"relay" needs a TURN server in iceServers (no candidate could be gathered otherwise)');
  }
  let portRange: TinCanConfig['portRange'];
  if (o.portRangeBegin !== undefined || o.portRangeEnd !== undefined) {
    if (o.portRangeBegin === undefined) throw new ConfigError(at(path, 'portRangeBegin'), 'missing: portRangeEnd needs portRangeBegin');
    if (o.portRangeEnd === undefined) throw new ConfigError(at(path, 'portRangeEnd'), 'missing: portRangeBegin needs portRangeEnd');
    const begin = int(o.portRangeBegin, at(path, 'portRangeBegin'), 1024, 65535);
    const end = int(o.portRangeEnd, at(path, 'portRangeEnd'), 1024, 65535);
    if (end < begin) throw new ConfigError(at(path, 'portRangeEnd'), `${end} is below portRangeBegin ${begin}`);
    portRange = Object.freeze({ begin, end });
  }
  let bindAddress: string | undefined;
  if (o.bindAddress !== undefined) {
    bindAddress = check.text(o.bindAddress, at(path, 'bindAddress'));
    if (!/^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/.test(bindAddress)) {
      throw new ConfigError(at(path, 'bindAddress'), `${JSON.stringify(bindAddress)} is not an IPv4 or IPv6 address`);
    }
  }
  const mtu = o.mtu === undefined ? DEFAULTS.mtu : int(o.mtu, at(path, 'mtu'), MTU_MIN, MTU_MAX);
  const echoIntervalMs = o.echoIntervalMs === undefined ? DEFAULTS.echoIntervalMs : int(o.echoIntervalMs, at(path, 'echoIntervalMs'), 10, 60_000);
  const timeoutMs = o.timeoutMs === undefined ? DEFAULTS.timeoutMs : int(o.timeoutMs, at(path, 'timeoutMs'), 50, 600_000);
  if (timeoutMs <= echoIntervalMs) {
    throw new ConfigError(at(path, 'timeoutMs'), `${timeoutMs} ms must be longer than echoIntervalMs (${echoIntervalMs} ms): one late echo would end the link`);
  }
  const setupTimeoutMs = o.setupTimeoutMs === undefined ? DEFAULTS.setupTimeoutMs : int(o.setupTimeoutMs, at(path, 'setupTimeoutMs'), 100, 600_000);
  return Object.freeze({ iceServers: Object.freeze(iceServers), iceTransportPolicy, portRange, bindAddress, mtu, echoIntervalMs, timeoutMs, setupTimeoutMs });
}
