/** `tinflow switch`: runs the OpenFlow switch until SIGTERM/SIGINT (see switch/config.ts for flags). */
import { destination, pino } from 'pino';
import { OFPP } from '../openflow/index.js';
import { Channel } from '../switch/channel.js';
import { ConfigError, SWITCH_USAGE, type SwitchConfig, parseSwitchArgs } from '../switch/config.js';
import { serveCtl } from '../switch/ctl.js';
import { Datapath } from '../switch/datapath.js';
import { openInterface, openTap } from '../switch/portio/index.js';

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
  const log = pino({ level: cfg.logLevel, base: { bridge: cfg.name } }, destination(2));
  const dp = new Datapath({ name: cfg.name, dpid: cfg.dpid, tables: cfg.tables, failMode: cfg.failMode, log });
  const opened: { close(): void }[] = [];
  try {
    if (cfg.localPort) dp.addPort(openTap(cfg.name, { offload: cfg.offload }), OFPP.LOCAL);
    for (const p of cfg.ports) {
      const port = p.kind === 'tap' ? openTap(p.ifname, { offload: cfg.offload }) : openInterface(p.ifname, { offload: cfg.offload, gro: cfg.gro });
      opened.push(port);
      dp.addPort(port, p.number);
    }
  } catch (e) {
    process.stderr.write(`tinflow switch: ${(e as Error).message}\n`);
    dp.stop();
    for (const o of opened) o.close();
    return 2;
  }
  const channel = new Channel({
    targets: cfg.controllers,
    handler: dp,
    log,
    probeInterval: cfg.probeInterval,
    ...(cfg.tls ? { tls: cfg.tls } : {}),
  });
  dp.attach(channel);
  try {
    await channel.start();
  } catch (e) {
    process.stderr.write(`tinflow switch: ${(e as Error).message}\n`);
    dp.stop();
    return 2;
  }
  const ctl = cfg.ctl ? serveCtl(cfg.ctl, dp, channel) : undefined;
  log.info({ dpid: `0x${cfg.dpid.toString(16)}`, ports: dp.portNumbers(), failMode: cfg.failMode }, 'switch running');
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal: sig }, 'stopping');
      ctl?.close();
      void channel.stop().finally(() => {
        dp.stop();
        resolve(0);
      });
    };
    // A repeated signal while shutting down is ignored, so a second SIGTERM cannot cut the clean-up short.
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
