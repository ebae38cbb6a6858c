/**
 * Signaling configuration (one XMPP account per overlay, as EdgeVPN's Signal.Overlays.<id>): one schema,
 * unknown keys refused, defaults in DEFAULTS only, a frozen result, every error a ConfigError naming
 * the key path (`$.signal.port: ...`).
 *
 * Input (JSON):
 *   jid              the account, "user@domain" (EdgeVPN's Username)           required
 *   password         its password (EdgeVPN's Password)                          required
 *   host             where to dial (EdgeVPN's HostAddress)                      default: the JID's domain
 *   port             default 5222, or 5223 with tls "direct"                    (EdgeVPN's Port)
 *   tls              "starttls" (default), "direct" (TLS from the first byte), or "none" (clear text:
 *                    only for a loopback test server)
 *   caFile           PEM CA certificates the server's certificate must chain to (default: the system's)
 *   sasl             "default": the strongest mechanism both support (SCRAM-SHA-1 before PLAIN; PLAIN
 *                    only over TLS); "plain": PLAIN always (EdgeVPN's PASSWORD method; 12 ms instead of
 *                    SCRAM's 1.2-1.5 s per login, for loopback test servers)
 *   mucDomain        the MUC service holding one room per overlay   default "conference.<JID's domain>"
 *   cacheExpiryMs    peers stay known this long after we lost the room (EdgeVPN's CacheExpiry, 60 s)
 *   requestTimeoutMs default wait for a reply to a remote action (default 30 s)
 *   connectTimeoutMs TCP, TLS, login and joining the room, per attempt (default 15 s)
 *   minBackoffMs, maxBackoffMs   redial backoff after a lost session (base/redial.ts: 1 s doubling to 8 s)
 *
 * May import: base/ (cli.ts for ConfigError, json.ts).
 */
import { ConfigError } from '../base/cli.js';
import { at, jsonChecks, showValue } from '../base/json.js';
import { DEFAULT_MAX_BACKOFF_MS, DEFAULT_MIN_BACKOFF_MS } from '../base/redial.js';
import type { TlsMode } from './signal-socket.js';

export type SaslMode = 'default' | 'plain';

export interface SignalConfig {
  /** Bare JID, lowercase. */
  readonly jid: string;
  readonly username: string;
  readonly domain: string;
  readonly password: string;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly caFile: string | undefined;
  readonly sasl: SaslMode;
  readonly mucDomain: string;
  readonly cacheExpiryMs: number;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
}

export const DEFAULTS = Object.freeze({
  port: 5222,
  directTlsPort: 5223,
  tls: 'starttls',
  sasl: 'default',
  cacheExpiryMs: 60_000,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 15_000,
  minBackoffMs: DEFAULT_MIN_BACKOFF_MS,
  maxBackoffMs: DEFAULT_MAX_BACKOFF_MS,
} as const);

const KEYS = ['jid', 'password', 'host', 'port', 'tls', 'caFile', 'sasl', 'mucDomain', 'cacheExpiryMs', 'requestTimeoutMs', 'connectTimeoutMs', 'minBackoffMs', 'maxBackoffMs'] as const;

const check = jsonChecks<unknown>((path, detail) => new ConfigError(path, detail), showValue);

const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** A JID local part we accept: what prosodyctl and EdgeVPN's accounts use, nothing to escape. */
const LOCAL = /^[a-z0-9._-]{1,64}$/;
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)$/;

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(path, `expected a whole number from ${min} to ${max}, got ${showValue(v)}`);
  return v;
}

function choice<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new ConfigError(path, `expected ${allowed.map((a) => `"${a}"`).join(', ')}, got ${showValue(v)}`);
  return v as T;
}

/** Checks a signaling configuration (parsed JSON) and fills in the defaults; `path` is where it sits. */
export function resolveSignalConfig(input: unknown, path = '$'): SignalConfig {
  const o = check.object(input, path);
  check.onlyKeys(o, KEYS, path, 'a signaling configuration');
  const jidText = check.text(o.jid, at(path, 'jid')).toLowerCase();
  const m = /^([^@/]+)@([^@/]+)$/.exec(jidText);
  if (!m || !LOCAL.test(m[1] as string) || !DOMAIN.test(m[2] as string)) {
    throw new ConfigError(at(path, 'jid'), `expected an account "user@domain" (user: letters, digits, . _ -; no resource), got ${showValue(o.jid)}`);
  }
  const username = m[1] as string;
  const domain = m[2] as string;
  const password = check.text(o.password, at(path, 'password'));
  if (password === '') throw new ConfigError(at(path, 'password'), 'empty');
  const host = o.host === undefined ? domain : check.text(o.host, at(path, 'host'));
  if (!HOST.test(host)) throw new ConfigError(at(path, 'host'), `${JSON.stringify(host)} is not a host name or address`);
  const tls = o.tls === undefined ? DEFAULTS.tls : choice(o.tls, at(path, 'tls'), ['starttls', 'direct', 'none'] as const);
  const port = o.port === undefined ? (tls === 'direct' ? DEFAULTS.directTlsPort : DEFAULTS.port) : int(o.port, at(path, 'port'), 1, 65535);
  let caFile: string | undefined;
  if (o.caFile !== undefined) {
    caFile = check.text(o.caFile, at(path, 'caFile'));
    if (tls === 'none') throw new ConfigError(at(path, 'caFile'), 'a CA file needs tls "starttls" or "direct"');
  }
  const sasl = o.sasl === undefined ? DEFAULTS.sasl : choice(o.sasl, at(path, 'sasl'), ['default', 'plain'] as const);
  const mucDomain = o.mucDomain === undefined ? `conference.${domain}` : check.text(o.mucDomain, at(path, 'mucDomain')).toLowerCase();
  if (!DOMAIN.test(mucDomain)) throw new ConfigError(at(path, 'mucDomain'), `${showValue(o.mucDomain)} is not a domain`);
  const cacheExpiryMs = o.cacheExpiryMs === undefined ? DEFAULTS.cacheExpiryMs : int(o.cacheExpiryMs, at(path, 'cacheExpiryMs'), 1000, 86_400_000);
  const requestTimeoutMs = o.requestTimeoutMs === undefined ? DEFAULTS.requestTimeoutMs : int(o.requestTimeoutMs, at(path, 'requestTimeoutMs'), 10, 600_000);
  const connectTimeoutMs = o.connectTimeoutMs === undefined ? DEFAULTS.connectTimeoutMs : int(o.connectTimeoutMs, at(path, 'connectTimeoutMs'), 100, 600_000);
  const minBackoffMs = o.minBackoffMs === undefined ? DEFAULTS.minBackoffMs : int(o.minBackoffMs, at(path, 'minBackoffMs'), 10, 600_000);
  const maxBackoffMs = o.maxBackoffMs === undefined ? Math.max(DEFAULTS.maxBackoffMs, minBackoffMs) : int(o.maxBackoffMs, at(path, 'maxBackoffMs'), 10, 3_600_000);
  if (maxBackoffMs < minBackoffMs) throw new ConfigError(at(path, 'maxBackoffMs'), `${maxBackoffMs} is below minBackoffMs ${minBackoffMs}`);
  return Object.freeze({
    jid: `${username}@${domain}`,
    username,
    domain,
    password,
    host,
    port,
    tls,
    caFile,
    sasl,
    mucDomain,
    cacheExpiryMs,
    requestTimeoutMs,
    connectTimeoutMs,
    minBackoffMs,
    maxBackoffMs,
  });
}
