/** `tinflow controller`: runs the OpenFlow controller until SIGTERM/SIGINT (see controller/config.ts for flags). */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../base/cli.js';
import { createLogger } from '../base/logger.js';
import { onShutdown } from '../base/shutdown.js';
import type { App, AppFactory } from './app.js';
import { hub } from './apps/hub.js';
import { learning } from './apps/learning.js';
import { CONTROLLER_USAGE, type ControllerConfig, parseControllerArgs } from './config.js';
import { Controller } from './controller.js';
import { ControllerError } from './errors.js';
import type { RestServer } from './rest.js';

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
      const why = `cannot load the module: ${(e as Error).message.split('\n')[0] ?? ''}`;
      throw new ConfigError('--app', why, `--app ${a.path}: ${why}`);
    }
    const d = mod.default;
    if (typeof d === 'function') out.push(d as AppFactory);
    else if (d && typeof d === 'object' && 'name' in d && 'on' in d) out.push(d as App);
    else {
      const why = "the module's default export is neither an app nor an app factory";
      throw new ConfigError('--app', why, `--app ${a.path}: ${why}`);
    }
  }
  return out;
}

export async function controllerMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  const fail = (e: unknown): number => {
    if (e instanceof ConfigError || e instanceof ControllerError) {
      process.stderr.write(`tinflow controller: ${e.message}\n`);
      return 2;
    }
    throw e;
  };
  let cfg: ControllerConfig;
  let ctl: Controller;
  try {
    cfg = parseControllerArgs(argv);
    const log = createLogger({ level: cfg.logLevel, base: { component: 'controller' } });
    ctl = new Controller({
      listen: cfg.listen,
      switches: cfg.switches,
      apps: await loadApps(cfg),
      logger: log,
      echoIntervalMs: cfg.echoInterval * 1000,
      ...(cfg.tls ? { tls: cfg.tls } : {}),
    });
    // Flags and files were checked above; what start() can still refuse is a listen address, or an app
    // whose start hook failed (a ControllerError 'app' that names it).
    await ctl.start().catch((e: unknown) => {
      throw e instanceof ControllerError && e.code === 'config' ? new ControllerError('config', `--listen: ${e.message}`) : e;
    });
  } catch (e) {
    return fail(e);
  }
  let rest: RestServer | undefined;
  if (cfg.rest) {
    try {
      // Loaded only when asked for: fastify and prom-client stay out of a plain controller's start-up.
      const { startRest } = await import('./rest.js');
      rest = await startRest(ctl, cfg.rest);
    } catch (e) {
      await ctl.stop();
      process.stderr.write(`tinflow controller: --rest ${cfg.rest.host}:${cfg.rest.port}: ${(e as Error).message}\n`);
      return 2;
    }
  }
  ctl.log.info({ listen: ctl.addresses(), apps: ctl.apps.map((a) => a.name), rest: rest?.url }, 'controller running');
  return onShutdown(
    async () => {
      await Promise.allSettled([ctl.stop(), rest?.close()]);
      return 0;
    },
    { log: ctl.log },
  ).done;
}
