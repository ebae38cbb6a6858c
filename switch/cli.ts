/** `tinflow switch`: runs the OpenFlow switch until SIGTERM/SIGINT (see switch/config.ts for flags). */
import { ConfigError } from '../base/cli.js';
import { createLogger } from '../base/logger.js';
import { onShutdown } from '../base/shutdown.js';
import { OFPP } from '../openflow/index.js';
import { Channel } from './channel.js';
import { SWITCH_USAGE, type SwitchConfig, parseSwitchArgs } from './config.js';
import { serveCtl } from './ctl.js';
import { Datapath } from './datapath.js';
import { openInterface, openTap } from './portio/index.js';

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
  const log = createLogger({ level: cfg.logLevel, base: { bridge: cfg.name } });
  const dp = new Datapath({ name: cfg.name, dpid: cfg.dpid, tables: cfg.tables, failMode: cfg.failMode, log });
  const opened: { close(): void }[] = [];
  try {
    // The LOCAL TAP stays down unless asked (--local-up), as OVS leaves its bridge interface: whoever
    // uses it brings it up, and the switch reports it as it is.
    if (cfg.localPort) dp.addPort(openTap(cfg.name, { offload: cfg.offload, up: cfg.localUp }), OFPP.LOCAL);
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
  // add-port / add-tap at run time open devices as the flags do (an interface deleted under the switch
  // can be added back once it exists again).
  const open = (kind: 'interface' | 'tap', ifname: string) => (kind === 'tap' ? openTap(ifname, { offload: cfg.offload }) : openInterface(ifname, { offload: cfg.offload, gro: cfg.gro }));
  const ctl = cfg.ctl ? serveCtl(cfg.ctl, dp, channel, open) : undefined;
  log.info({ dpid: `0x${cfg.dpid.toString(16)}`, ports: dp.portNumbers(), failMode: cfg.failMode }, 'switch running');
  return onShutdown(
    async () => {
      ctl?.close();
      await channel.stop().finally(() => dp.stop());
      return 0;
    },
    { log },
  ).done;
}
