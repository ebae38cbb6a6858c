/** `tinflow controller`: runs the OpenFlow controller until SIGTERM/SIGINT (see controller/config.ts for flags). */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { destination, pino } from 'pino';
import type { App, AppFactory } from '../controller/app.js';
import { hub } from '../controller/apps/hub.js';
import { learning } from '../controller/apps/learning.js';
import { CONTROLLER_USAGE, type ControllerConfig, parseControllerArgs } from '../controller/config.js';
import { Controller } from '../controller/controller.js';
import { ControllerError } from '../controller/errors.js';
import type { RestServer } from '../controller/rest.js';

async function loadApps(cfg: ControllerConfig): Promise<(App | AppFactory)[]> {
  const out: (App | AppFactory)[] = [];
  for (const a of cfg.apps) {
    if (a.kind === 'builtin') {
      out.push(a.name === 'learning' ? learning({ idleTimeout: cfg.idleTimeout }) : hub());
      continue;
    }
    let mod: { default?: unknown };
    try {
      mod = (await import(pathToFileURL(resolve(a.path)).href)) as { default?: unknown };
    } catch (e) {
      throw new ControllerError('config', `--app ${a.path}: cannot load the module: ${(e as Error).message.split('\n')[0] ?? ''}`);
    }
    const d = mod.default;
    if (typeof d === 'function') out.push(d as AppFactory);
    else if (d && typeof d === 'object' && 'name' in d && 'on' in d) out.push(d as App);
    else throw new ControllerError('config', `--app ${a.path}: the module's default export is neither an app nor an app factory`);
  }
  return out;
}

export async function controllerMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  const fail = (e: unknown): number => {
    if (e instanceof ControllerError) {
      process.stderr.write(`tinflow controller: ${e.message}\n`);
      return 2;
    }
    throw e;
  };
  let cfg: ControllerConfig;
  let ctl: Controller;
  try {
    cfg = parseControllerArgs(argv);
    const log = pino({ level: cfg.logLevel, base: { component: 'controller' } }, destination(2));
    ctl = new Controller({
      listen: cfg.listen,
      switches: cfg.switches,
      apps: await loadApps(cfg),
      logger: log,
      echoIntervalMs: cfg.echoInterval * 1000,
      ...(cfg.tls ? { tls: cfg.tls } : {}),
    });
    // Flags and files were checked above; what start() can still refuse is a listen address.
    await ctl.start().catch((e: unknown) => {
      throw e instanceof ControllerError ? new ControllerError('config', `--listen: ${e.message}`) : e;
    });
  } catch (e) {
    return fail(e);
  }
  let rest: RestServer | undefined;
  if (cfg.rest) {
    try {
      // Loaded only when asked for: fastify and prom-client stay out of a plain controller's start-up.
      const { startRest } = await import('../controller/rest.js');
      rest = await startRest(ctl, cfg.rest);
    } catch (e) {
      await ctl.stop();
      process.stderr.write(`tinflow controller: --rest ${cfg.rest.host}:${cfg.rest.port}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  ctl.log.info({ listen: ctl.addresses(), apps: ctl.apps.map((a) => a.name), rest: rest?.url }, 'controller running');
  return new Promise((done) => {
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      ctl.log.info({ signal: sig }, 'stopping');
      void Promise.all([ctl.stop(), rest?.close()]).finally(() => done(0));
    };
    // A repeated signal while shutting down is ignored, so a second SIGTERM cannot cut the clean-up short.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
