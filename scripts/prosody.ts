/**
 * A real prosody (XMPP) for tests, labs and benches, wherever it has to run: in a lab namespace
 * (natlab.ts's startProsody, on the public bridge) or in this namespace on loopback (the signaling tests).
 * Its own config, data, certificates, log and pid file live in a folder the caller gives (owned by the
 * prosody user), the accounts are registered with prosodyctl, a MUC component serves the overlays'
 * rooms (link/signal.ts), and with `tls` a CA made for the run signs the server's certificate.
 *
 * Facts this relies on (RECIPES.md, XMPP): prosody hangs without listening when it runs as root
 * (mod_posix), so it runs under setpriv as the prosody user; it logs a port it could not open and
 * carries on without it, so startup watches the log for that instead of waiting out the timeout.
 */
import { type ChildProcess, type SpawnOptions, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopProcess } from '../base/shutdown.js';
import { DaemonError, chownTree, fileTail, keepTail, stderrOf, tcpListening, uidGid, waitReady } from './daemon.js';

export class ProsodyError extends Error {
  override readonly name = 'ProsodyError';
}

export interface ProsodyAccount {
  readonly user: string;
  readonly password: string;
}

export interface ProsodyServerOptions {
  /** An empty folder the server keeps everything in (handed to the prosody user). */
  readonly dir: string;
  /** The address it listens on. */
  readonly host: string;
  /** The c2s port (STARTTLS with tls). */
  readonly port: number;
  /** A direct-TLS c2s port as well (with tls only). */
  readonly tlsPort?: number;
  /** The one VirtualHost; the MUC component is conference.<domain>. */
  readonly domain: string;
  readonly accounts: readonly ProsodyAccount[];
  /**
   * A certificate for the domain, its MUC and host, signed by a CA made for this run; encryption is then
   * required before login. Without: no TLS offered, PLAIN allowed in clear.
   */
  readonly tls: boolean;
  /** The namespace to run in; undefined: this one. */
  readonly ns?: string;
  /**
   * Starts a command where the server runs (the lab's spawnIn, which tracks it for close()). Default:
   * node's spawn, through `ip netns exec ns` when ns is given.
   */
  readonly spawn?: (cmd: string, args: readonly string[], opts: SpawnOptions) => ChildProcess;
  /** How long to wait for it to listen. Default 15000 ms. */
  readonly startTimeoutMs?: number;
}

export interface ProsodyServer {
  readonly host: string;
  readonly port: number;
  readonly tlsPort: number | undefined;
  readonly domain: string;
  /** conference.<domain> (link/signal.ts keeps one room per overlay there). */
  readonly mucDomain: string;
  /** The CA certificate (PEM) that signed the server's certificate, with tls. */
  readonly caFile: string | undefined;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  /** The running server's pid (undefined while stopped). */
  readonly pid: number | undefined;
  logTail(lines?: number): string;
  /** Starts it on the same config and data (accounts kept); resolves once it listens. */
  start(): Promise<void>;
  /** SIGTERM, SIGKILL after 3 s; waits until it has exited. Idempotent. */
  stop(): Promise<void>;
  /** stop(), then start(). */
  restart(): Promise<void>;
}

/** The EC P-256 key and validity every certificate here gets (a run lasts minutes; 2 days is plenty). */
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];

function openssl(...args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new ProsodyError(`openssl ${args.slice(0, 2).join(' ')} failed: ${stderrOf(e)}`);
  }
}

/** A self-signed CA, <dir>/<name>.crt and .key. */
export function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  openssl('req', '-x509', ...EC, '-keyout', key, '-out', cert, '-subj', `/CN=tinflow test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  return { cert, key };
}

/**
 * A server certificate for domain, its MUC and ip, signed by ca, in certDir named as prosody looks for
 * them (<domain>.crt, .key). OpenSSL 3's `req -x509 -CA` signs directly: no CSR, no extension file.
 */
function makeServerCert(ca: { cert: string; key: string }, certDir: string, domain: string, ip: string): { cert: string; key: string } {
  const key = join(certDir, `${domain}.key`);
  const cert = join(certDir, `${domain}.crt`);
  const san = `subjectAltName=DNS:${domain},DNS:conference.${domain},IP:${ip}`;
  openssl('req', '-x509', ...EC, '-CA', ca.cert, '-CAkey', ca.key, '-keyout', key, '-out', cert, '-subj', `/CN=${domain}`, '-addext', san, '-addext', 'basicConstraints=CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth');
  return { cert, key };
}

/** A JSON string of printable ASCII is a valid Lua string literal. */
const lua = (s: string): string => JSON.stringify(s);

function configText(o: ProsodyServerOptions, dataDir: string, certDir: string, logFile: string, cert: { cert: string; key: string } | undefined): string {
  const { host, domain, tls } = o;
  return [
    '-- written by tinflow scripts/prosody.ts for one run',
    `pidfile = ${lua(join(o.dir, 'prosody.pid'))}`,
    `data_path = ${lua(dataDir)}`,
    `log = { info = ${lua(logFile)} }`,
    `certificates = ${lua(certDir)}`,
    `interfaces = { ${lua(host)} }`,
    `c2s_interfaces = { ${lua(host)} }`,
    `c2s_ports = { ${o.port} }`,
    `c2s_direct_tls_ports = { ${tls && o.tlsPort !== undefined ? o.tlsPort : ''} }`,
    's2s_ports = { }',
    'http_ports = { }',
    'https_ports = { }',
    'component_ports = { }',
    `c2s_require_encryption = ${tls}`,
    's2s_require_encryption = false',
    'allow_unencrypted_plain_auth = true',
    'allow_registration = false',
    'authentication = "internal_hashed"',
    'storage = "internal"',
    // presence, message and iq are loaded by prosody itself; roster for presence subscriptions,
    // saslauth for login, disco and ping because clients probe them; tls for STARTTLS when asked.
    `modules_enabled = { "roster", "saslauth", "disco", "ping"${tls ? ', "tls"' : ''} }`,
    // posix: it refuses/hangs unless started its way (it runs under setpriv instead); s2s: it talks to
    // no other server; limits: rate limits would skew benchmarks.
    `modules_disabled = { "s2s", "posix", "limits"${tls ? '' : ', "tls"'} }`,
    cert ? `ssl = { certificate = ${lua(cert.cert)}, key = ${lua(cert.key)} }` : '',
    '',
    `VirtualHost ${lua(domain)}`,
    '',
    // prosody's defaults otherwise: rooms are made by their first occupant, locked until it configures
    // them, semi-anonymous (only moderators see real JIDs), not persistent.
    `Component ${lua(`conference.${domain}`)} "muc"`,
    '',
  ].join('\n');
}

const AS_PROSODY = ['--reuid=prosody', '--regid=prosody', '--init-groups'];

/** Writes the config (and certificates), registers the accounts, starts prosody; resolves once it listens. */
export async function startProsodyServer(o: ProsodyServerOptions): Promise<ProsodyServer> {
  const { dir, host, port, domain, tls, ns } = o;
  const tlsPort = tls ? o.tlsPort : undefined;
  const timeout = o.startTimeoutMs ?? 15000;
  if (!/^[a-z0-9.-]+$/.test(domain)) throw new ProsodyError(`prosody domain "${domain}": lowercase letters, digits, dots and dashes only`);
  for (const a of o.accounts) {
    if (!/^[a-z0-9._-]+$/.test(a.user)) throw new ProsodyError(`prosody account "${a.user}": lowercase letters, digits, . _ - only`);
    if (a.password === '' || /[\s'"\\]/.test(a.password)) throw new ProsodyError(`prosody account ${a.user}: password must be non-empty, without spaces, quotes or backslashes`);
  }
  const run =
    o.spawn ?? ((cmd: string, args: readonly string[], opts: SpawnOptions): ChildProcess => (ns === undefined ? spawn(cmd, args, opts) : spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts)));
  const dataDir = join(dir, 'data');
  const certDir = join(dir, 'certs'); // empty without tls: prosody then offers no STARTTLS
  const caDir = join(dir, 'ca'); // outside certDir, which prosody indexes
  mkdirSync(dataDir);
  mkdirSync(certDir);
  mkdirSync(caDir);
  const ca = tls ? makeCa(caDir, 'ca') : undefined;
  const cert = ca ? makeServerCert(ca, certDir, domain, host) : undefined;
  const configFile = join(dir, 'prosody.cfg.lua');
  const logFile = join(dir, 'prosody.log');
  writeFileSync(configFile, configText(o, dataDir, certDir, logFile, cert));
  const { uid, gid } = uidGid('prosody');
  chownTree(dir, uid, gid);
  for (const a of o.accounts) {
    try {
      execFileSync('setpriv', [...AS_PROSODY, 'prosodyctl', '--config', configFile, 'register', a.user, domain, a.password], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new ProsodyError(`prosodyctl register ${a.user}@${domain} failed: ${stderrOf(e)}`);
    }
  }

  let proc: ChildProcess | undefined;
  const logTail = (lines = 15): string => fileTail(logFile, lines);
  const stop = async (): Promise<void> => {
    if (proc) await stopProcess(proc, 3000);
    proc = undefined;
  };
  const ports = tlsPort === undefined ? [port] : [port, tlsPort];
  const start = async (): Promise<void> => {
    if (proc) throw new ProsodyError(`prosody on ${host}:${port} is already running (pid ${proc.pid})`);
    const p = run('setpriv', [...AS_PROSODY, 'prosody', '--config', configFile, '-F'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    const out = keepTail(p.stdout);
    const err = keepTail(p.stderr);
    const why = (): string => `log ${logFile}:\n${logTail()}\n${out()}\n${err()}`;
    const ready = (): boolean => {
      if (/Failed to open server port/.test(logTail(50))) throw new ProsodyError(`prosody could not open ${host}:${ports.join(',')} (taken by another run?): ${why()}`);
      const pid = p.pid;
      return pid !== undefined && ports.every((n) => tcpListening(ns, host, n, pid));
    };
    try {
      await waitReady(`prosody on ${host}:${port}`, p, ready, timeout, why);
    } catch (e) {
      await stop();
      throw e instanceof DaemonError ? new ProsodyError(e.message) : e;
    }
  };
  await start();
  return {
    host,
    port,
    tlsPort,
    domain,
    mucDomain: `conference.${domain}`,
    caFile: ca?.cert,
    dir,
    configFile,
    logFile,
    get pid() {
      return proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined;
    },
    logTail,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
