/**
 * A real prosody for the signaling tests, on loopback: its own config, data, log and pid file in a
 * temporary folder owned by the prosody user, accounts registered with prosodyctl, a MUC component,
 * running as the prosody user under setpriv (as root, mod_posix makes it hang without listening).
 * RECIPES.md's loopback recipe; scripts/natlab.ts's startProsody does the same inside a lab namespace
 * (without a MUC component), which these tests do not need.
 *
 * Ports are picked free on 127.0.0.1 just before start (another run may take one in between: the
 * caller sees prosody fail to listen and can rerun).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess } from '../../base/shutdown.js';

export const hasProsody =
  process.getuid?.() === 0 && ['prosody', 'prosodyctl', 'setpriv', 'openssl'].every((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0);

export interface TestProsodyOptions {
  readonly accounts: readonly { readonly user: string; readonly password: string }[];
  /** Default 'tinflow.test'; the MUC component is conference.<domain>. */
  readonly domain?: string;
  /**
   * A certificate for the domain signed by a CA made for this run; STARTTLS required on the c2s port
   * and a direct-TLS port as well. Default false: no TLS offered, PLAIN allowed in clear.
   */
  readonly tls?: boolean;
}

export interface TestProsody {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Direct TLS port (with tls). */
  readonly tlsPort: number | undefined;
  readonly domain: string;
  readonly mucDomain: string;
  /** The run's CA certificate (with tls). */
  readonly caFile: string | undefined;
  /** A CA that did not sign the server's certificate (with tls). */
  readonly otherCaFile: string | undefined;
  readonly dir: string;
  logTail(lines?: number): string;
  /** SIGTERM (SIGKILL after 3 s), waits for the exit. */
  stop(): Promise<void>;
  /** Starts again on the same config and data; resolves once it listens. */
  start(): Promise<void>;
  /** stop() and remove the folder. */
  dispose(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function run(cmd: string, args: readonly string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.toString()}`);
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-keyout', key, '-out', cert, '-subj', `/CN=tinflow test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

export async function startTestProsody(opts: TestProsodyOptions): Promise<TestProsody> {
  const domain = opts.domain ?? 'tinflow.test';
  const mucDomain = `conference.${domain}`;
  const tls = opts.tls ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-prosody-'));
  const dataDir = join(dir, 'data');
  const certDir = join(dir, 'certs'); // empty without tls: prosody then offers no STARTTLS
  const caDir = join(dir, 'ca'); // outside certDir, which prosody indexes
  mkdirSync(dataDir);
  mkdirSync(certDir);
  mkdirSync(caDir);
  const port = await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  let caFile: string | undefined;
  let otherCaFile: string | undefined;
  let ssl = '';
  if (tls) {
    const ca = makeCa(caDir, 'ca');
    otherCaFile = makeCa(caDir, 'other-ca').cert;
    caFile = ca.cert;
    const key = join(certDir, `${domain}.key`);
    const cert = join(certDir, `${domain}.crt`);
    run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-CA', ca.cert, '-CAkey', ca.key, '-keyout', key, '-out', cert, '-subj', `/CN=${domain}`, '-addext', `subjectAltName=DNS:${domain},DNS:${mucDomain}`, '-addext', 'basicConstraints=CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth']);
    ssl = `ssl = { certificate = ${JSON.stringify(cert)}, key = ${JSON.stringify(key)} }`;
  }
  const q = (s: string): string => JSON.stringify(s); // printable ASCII JSON strings are Lua strings
  const logFile = join(dir, 'prosody.log');
  const configFile = join(dir, 'prosody.cfg.lua');
  writeFileSync(
    configFile,
    [
      `pidfile = ${q(join(dir, 'prosody.pid'))}`,
      `data_path = ${q(dataDir)}`,
      `log = { info = ${q(logFile)} }`,
      `certificates = ${q(certDir)}`,
      'interfaces = { "127.0.0.1" }',
      `c2s_ports = { ${port} }`,
      `c2s_direct_tls_ports = { ${tlsPort ?? ''} }`,
      's2s_ports = { }',
      'http_ports = { }',
      'https_ports = { }',
      'component_ports = { }',
      `c2s_require_encryption = ${tls}`,
      'allow_unencrypted_plain_auth = true',
      'allow_registration = false',
      'authentication = "internal_hashed"',
      'storage = "internal"',
      `modules_enabled = { "roster", "saslauth", "disco", "ping"${tls ? ', "tls"' : ''} }`,
      `modules_disabled = { "s2s", "posix", "limits"${tls ? '' : ', "tls"'} }`,
      ssl,
      '',
      `VirtualHost ${q(domain)}`,
      '',
      // prosody's defaults otherwise: rooms are made by their first occupant, locked until it
      // configures them, semi-anonymous (only moderators see real JIDs), not persistent.
      `Component ${q(mucDomain)} "muc"`,
      '',
    ].join('\n'),
  );
  const uid = Number(execFileSync('id', ['-u', 'prosody']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'prosody']).toString().trim());
  chownTree(dir, uid, gid);
  const asProsody = ['--reuid=prosody', '--regid=prosody', '--init-groups'];
  for (const a of opts.accounts) run('setpriv', [...asProsody, 'prosodyctl', '--config', configFile, 'register', a.user, domain, a.password]);

  let proc: ChildProcess | undefined;
  const logTail = (lines = 30): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async (): Promise<void> => {
    if (proc) await stopProcess(proc, 3000);
    proc = undefined;
  };
  const start = async (): Promise<void> => {
    if (proc) throw new Error('test prosody: already running');
    const p = spawn('setpriv', [...asProsody, 'prosody', '--config', configFile, '-F'], { stdio: 'ignore' });
    proc = p;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`test prosody exited (${p.exitCode ?? p.signalCode}) before listening:\n${logTail()}`);
      if (/Failed to open server port/.test(logTail(50))) {
        await stop();
        throw new Error(`test prosody could not open its ports (another run took one? rerun):\n${logTail()}`);
      }
      if ((await listening(port)) && (tlsPort === undefined || (await listening(tlsPort)))) return;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`test prosody not listening on 127.0.0.1:${port} after 15 s:\n${logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    tlsPort,
    domain,
    mucDomain,
    caFile,
    otherCaFile,
    dir,
    logTail,
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
