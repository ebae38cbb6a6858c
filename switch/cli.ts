/**
 * `tinflow switch`: runs the OpenFlow switch until SIGTERM/SIGINT (see switch/config.ts for flags). With
 * --name, the one bridge of the flags; without, an empty process whose bridges come and go through the
 * control socket (switchctl add-br/del-br). Both are bridges.ts's Bridges.
 */
import { ConfigError } from '../base/cli.js';
import { createLogger } from '../base/logger.js';
import { onShutdown } from '../base/shutdown.js';
import { Bridges } from './bridges.js';
import { SWITCH_USAGE, type SwitchConfig, parseSwitchArgs } from './config.js';
import { serveBridgesCtl } from './ctl.js';

export async function switchMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SWITCH_USAGE);
    return 0;
  }
  let cfg: SwitchConfig;
  try {
    cfg = parseSwitchArgs(argv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tinflow switch: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = createLogger({ level: cfg.logLevel, ...(cfg.bridge ? { base: { bridge: cfg.bridge.name } } : {}) });
  const bridges = new Bridges({ logger: (bridge) => (bridge === cfg.bridge?.name ? log : createLogger({ level: cfg.logLevel, base: { bridge } })) });
  if (cfg.bridge) {
    try {
      await bridges.add(cfg.bridge);
    } catch (e) {
      process.stderr.write(`tinflow switch: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const ctl = cfg.ctl ? serveBridgesCtl(cfg.ctl, bridges) : undefined;
  if (!cfg.bridge) log.info({ ctl: cfg.ctl }, 'switch running with no bridges: add them with switchctl add-br');
  return onShutdown(
    async () => {
      ctl?.close();
      await bridges.stop();
      return 0;
    },
    { log },
  ).done;
}
