/**
 * The `tinflow` command line. Subcommands: codec, switch, switchctl, controller, node, demo. Exit status: 0 ok, 2 bad input or usage.
 */
import { codecMain } from './codec-cli.js';
import { controllerMain } from '../controller/cli.js';
import { demoMain } from './demo.js';
import { nodeMain } from '../overlay/cli.js';
import { switchMain } from '../switch/cli.js';
import { switchctlMain } from '../switch/ctl.js';

const USAGE = `usage: tinflow <command> [options]

commands:
  codec decode [--hex HEX]   OpenFlow 1.3 bytes (stdin, or --hex) → one Ryu-JSON object per line
  codec encode               Ryu-JSON (one object per line, or a JSON array) on stdin → one hex line each
  switch --name NAME ...     the OpenFlow 1.3 switch; with --ctl and no --name, a process for many bridges (tinflow switch --help)
  controller [--listen tcp:IP:PORT] [--app learning|hub|PATH] [--rest IP:PORT]
                             the OpenFlow 1.3 controller (tinflow controller --help)
  switchctl --ctl SOCKET [--bridge NAME] ...
                             on a running switch: list-br, add-br, del-br, status, dump-flows, dump-ports,
                             trace IN_PORT FRAME, add-port, add-tap, del-port, process
  node --config FILE         an overlay node: switch, TAP, XMPP signaling, TinCan links (tinflow node --help)
  demo [--nodes N] [--no-web] [--web-port P] [--duration S]
                             an overlay of N nodes behind NAT routers: pings, paths, iperf3, a live web view (root)

Run "tinflow <command> --help" for a command's options.
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'codec':
      return codecMain(rest);
    case 'demo':
      return demoMain(rest);
    case 'switch':
      return switchMain(rest);
    case 'controller':
      return controllerMain(rest);
    case 'switchctl':
      return switchctlMain(rest);
    case 'node':
      return nodeMain(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`tinflow: unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
      return 2;
  }
}

