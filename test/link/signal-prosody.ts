/**
 * A real prosody for the signaling tests, on loopback: scripts/prosody.ts's server (the one the NAT lab
 * runs in its public namespace) in this namespace on 127.0.0.1, in a temporary folder, on ports picked
 * free just before start (another run may take one in between: the caller sees prosody fail to listen
 * and can rerun). With tls, a second CA that did not sign anything, for the refusal cases. And the
 * signaling config these tests log in with.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../helpers/free-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SignalConfig, resolveSignalConfig } from '../../link/signal-config.js';
import { type ProsodyAccount, type ProsodyServer, makeCa, startProsodyServer } from '../../scripts/prosody.js';

export const hasProsody =
  process.getuid?.() === 0 && ['prosody', 'prosodyctl', 'setpriv', 'openssl', 'ss'].every((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status === 0);

export interface TestProsodyOptions {
  readonly accounts: readonly ProsodyAccount[];
  /** Default 'tinflow.test'; the MUC component is conference.<domain>. */
  readonly domain?: string;
  /**
   * A certificate for the domain signed by a CA made for this run; STARTTLS required on the c2s port
   * and a direct-TLS port as well. Default false: no TLS offered, PLAIN allowed in clear.
   */
  readonly tls?: boolean;
}

export interface TestProsody extends ProsodyServer {
  readonly host: '127.0.0.1';
  /** A CA that did not sign the server's certificate (with tls). */
  readonly otherCaFile: string | undefined;
  /** stop() and remove the folder. */
  dispose(): Promise<void>;
}

export async function startTestProsody(opts: TestProsodyOptions): Promise<TestProsody> {
  const tls = opts.tls ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-prosody-'));
  let server: ProsodyServer | undefined;
  try {
    const port = await freePort();
    server = await startProsodyServer({
      dir,
      host: '127.0.0.1',
      port,
      ...(tls ? { tlsPort: await freePort() } : {}),
      domain: opts.domain ?? 'tinflow.test',
      accounts: opts.accounts,
      tls,
    });
    // next to the run's CA, outside the certificates folder that prosody indexes
    const otherCaFile = tls ? makeCa(join(dir, 'ca'), 'other-ca').cert : undefined;
    const s = server;
    return Object.assign(s, {
      host: '127.0.0.1' as const,
      otherCaFile,
      dispose: async () => {
        await s.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  } catch (e) {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The signaling config the loopback tests log in with: user@domain with password, PLAIN in clear, short
 * backoffs; extra overrides or adds keys (TLS, timeouts).
 */
export function testSignalConfig(prosody: TestProsody, user: string, password: string, extra: Record<string, unknown> = {}): SignalConfig {
  return resolveSignalConfig({
    jid: `${user}@${prosody.domain}`,
    password,
    host: prosody.host,
    port: prosody.port,
    tls: 'none',
    sasl: 'plain',
    minBackoffMs: 200,
    maxBackoffMs: 1000,
    connectTimeoutMs: 5000,
    ...extra,
  });
}
