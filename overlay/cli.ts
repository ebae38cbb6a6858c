/**
 * `tinflow node --config FILE [--check-config] [--log-level LEVEL]`: an overlay node (overlay/node.ts)
 * until SIGTERM / SIGINT. Exit status: 0 after a clean stop, 2 for a bad command line or config file,
 * 1 when the node cannot start (the message says which step failed and, for a refused login, names the
 * account).
 */
import { join } from 'node:path';
import { ConfigError, enumFlag, parseFlags } from '../base/cli.js';
import { LOG_LEVELS, createLogger } from '../base/logger.js';
import { readTokenFile } from '../base/secret.js';
import { onShutdown } from '../base/shutdown.js';
import { cleanupWebRtc } from '../link/tincan.js';
import { type NodeConfig, NodeConfigError, loadNodeConfig, nodeConfigJson } from './config.js';
import { serveNodeCtl } from './ctl.js';
import { OverlayNode } from './node.js';
import { realParts } from './parts.js';
import { type StatusServer, serveNodeStatus } from './status-http.js';

export const NODE_USAGE = `usage: tinflow node --config FILE [--check-config] [--log-level LEVEL]

  --config FILE      the node's JSON config (overlay/README.md lists every key)
  --check-config     check the config, print it resolved (passwords masked) and exit: 0 valid, 2 not
  --log-level LEVEL  ${LOG_LEVELS.join(', ')} (overrides the config's LogLevel)

Runs until SIGTERM or SIGINT; logs JSON lines on stderr. Status: {"cmd":"status"} (or "dump-ports",
"dump-flows") on StateDir/node.ctl, and GET /status, /flows, /metrics on Status.Listen when configured.
Test hook: TINFLOW_TEST_FAKE_FINGERPRINT=1 announces a fingerprint that is not the node's certificate's
(a rogue node, for tests: every peer must refuse its links).
The config file holds passwords: it must not be open to group or others (chmod 600 FILE), nor may
Status.TokenFile; a Status.Listen beyond loopback needs Status.TokenFile (SECURITY.md).
`;

const FLAGS = {
  config: { type: 'string' },
  'check-config': { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function nodeMain(argv: readonly string[]): Promise<number> {
  let cfg: NodeConfig;
  let statusToken: string | undefined;
  let file = '';
  let flags: ReturnType<typeof parseFlags<typeof FLAGS>>;
  try {
    flags = parseFlags(argv, FLAGS);
    if (flags.help) {
      process.stdout.write(NODE_USAGE);
      return 0;
    }
    if (flags.config === undefined) throw new ConfigError('--config', 'missing: the node needs its config file');
    if (flags['log-level'] !== undefined) enumFlag('--log-level', flags['log-level'], LOG_LEVELS);
    file = flags.config;
    cfg = loadNodeConfig(file);
    // The token file is read (and its mode checked) now, so a bad one is a config error with status 2.
    if (cfg.status.tokenFile !== undefined) {
      try {
        statusToken = readTokenFile(cfg.status.tokenFile);
      } catch (e) {
        throw new ConfigError('', `$.Status.TokenFile: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // A config's mistakes are named by key path, one a line: each line also names the file.
    const where = e instanceof NodeConfigError ? `${file}: ` : '';
    process.stderr.write(`${e.message.split('\n').map((l) => `tinflow node: ${where}${l}`).join('\n')}\n`);
    return 2;
  }
  if (flags['check-config']) {
    process.stdout.write(`${JSON.stringify(nodeConfigJson(cfg), null, 2)}\n`);
    return 0;
  }
  const level = flags['log-level'] === undefined ? cfg.logLevel : enumFlag('--log-level', flags['log-level'], LOG_LEVELS);
  const log = createLogger({ level, base: { overlay: cfg.overlay } });
  let node: OverlayNode;
  try {
    node = await OverlayNode.start({ config: cfg, parts: realParts(), log, fakeFingerprint: process.env.TINFLOW_TEST_FAKE_FINGERPRINT === '1' });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log.error({ err: msg }, 'node failed to start');
    process.stderr.write(`tinflow node: ${msg}\n`);
    cleanupWebRtc();
    return 1;
  }
  const ctlPath = join(cfg.stateDir, 'node.ctl');
  const ctl = await serveNodeCtl(ctlPath, { status: () => node.status(), 'dump-ports': () => node.dumpPorts(), 'dump-flows': () => node.dumpFlows() });
  let http: StatusServer | undefined;
  if (cfg.status.listen !== undefined) {
    const m = /^\[?(.*?)\]?:(\d+)$/.exec(cfg.status.listen);
    try {
      http = await serveNodeStatus(node, m?.[1] ?? '127.0.0.1', Number(m?.[2] ?? 0), statusToken !== undefined ? { token: statusToken } : {});
      log.info({ url: http.url }, 'status and metrics over HTTP');
    } catch (e) {
      const msg = `cannot serve the status on ${cfg.status.listen}: ${e instanceof Error ? e.message : String(e)}`;
      log.error({ err: msg }, 'node failed to start');
      process.stderr.write(`tinflow node: ${msg}\n`);
      ctl.close();
      await node.stop();
      cleanupWebRtc();
      return 1;
    }
  }
  const stop = async (code: number): Promise<number> => {
    ctl.close();
    await http?.close();
    await node.stop();
    cleanupWebRtc();
    // Once a link has existed, node-datachannel's native callbacks keep the event loop alive after the
    // links are closed and cleanup() ran (seen here: no JS handle left, the process sleeping with its
    // threads). Everything is stopped by now, so a process that is still here shortly after exits.
    setTimeout(() => process.exit(code), 500).unref();
    return code;
  };
  // Signaling that fails for good while running (a refused login on a redial) ends the node with 1, as
  // at start: a node that cannot find its peers should not look healthy to its supervisor.
  const fatal = new Promise<Error>((resolve) => node.onFatal(resolve));
  const shutdown = onShutdown(() => stop(0), { log });
  const code = await Promise.race([
    shutdown.done,
    fatal.then(async (e) => {
      shutdown.dispose();
      log.error({ err: e.message }, 'signaling failed for good: stopping');
      process.stderr.write(`tinflow node: ${e.message}\n`);
      return stop(1);
    }),
  ]);
  shutdown.dispose();
  return code;
}
