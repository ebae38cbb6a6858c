/**
 * `tinflow demo`: the main job. As root on Linux it builds two hosts in network namespaces of its own,
 * joins them with a tinflow switch driven by the in-tree controller (learning app), pings across, reads
 * the installed flows back through the REST API (Ryu's ofctl_rest routes), shows the switch's ports and
 * a pipeline trace, and removes everything again. Then (or elsewhere) it shows the OpenFlow codec: a
 * flow-mod and a packet-in on the wire and in Ryu's JSON, and how a bad message is answered.
 */
import { spawn } from 'node:child_process';
import { learning } from '../controller/apps/learning.js';
import { Controller } from '../controller/controller.js';
import { type RestServer, startRest } from '../controller/rest.js';
import { parseEndpoint } from '../base/endpoint.js';
import { nullLogger } from '../base/logger.js';
import { onShutdown } from '../base/shutdown.js';
import { Channel, TARGET_KINDS } from '../switch/channel.js';
import { Datapath } from '../switch/datapath.js';
import { openInterface } from '../switch/portio/index.js';
import { Lab, inNs } from './netlab.js';
import {
  OFPCodecError,
  type OFPMessage,
  decode,
  encode,
  stringifyJson,
  toRyuJson,
} from '../openflow/index.js';

function show(title: string, m: OFPMessage): Buffer {
  const bytes = encode(m);
  process.stdout.write(`\n== ${title}: ${m.type}, ${bytes.length} bytes\n${bytes.toString('hex').replace(/(.{64})/g, '$1\n')}\n`);
  process.stdout.write(`Ryu JSON: ${stringifyJson(toRyuJson(decode(bytes)))}\n`);
  return bytes;
}

export async function demoMain(argv: readonly string[]): Promise<number> {
  if (argv.length > 0 && argv[0] !== '--help' && argv[0] !== '-h') {
    process.stderr.write(`tinflow demo: takes no arguments, got ${JSON.stringify(argv[0])}\n`);
    return 2;
  }
  if (argv.length > 0) {
    process.stdout.write('usage: tinflow demo\n');
    return 0;
  }
  process.stdout.write('tinflow demo\n');
  if (process.platform === 'linux' && process.getuid?.() === 0) await switchDemo();
  else process.stdout.write('\n(run as root on Linux to see the switch forward between two namespaces)\n');
  process.stdout.write('\n-- the OpenFlow 1.3 codec --\n');
  show('controller → switch', {
    type: 'OFPFlowMod', xid: 1, cookie: 0x1234n, cookie_mask: 0n, table_id: 0, command: 0, idle_timeout: 30, hard_timeout: 0,
    priority: 100, buffer_id: 0xffffffff, out_port: 0xffffffff, out_group: 0xffffffff, flags: 1,
    match: [
      { field: 'in_port', value: 1 },
      { field: 'eth_type', value: 0x0800 },
      { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' },
    ],
    instructions: [{ kind: 'OFPInstructionActions', type: 4, actions: [{ kind: 'OFPActionOutput', port: 2, max_len: 0 }] }],
  });
  const frame = Buffer.from('ffffffffffff02000000000108060001080006040001020000000001' + '0a000001000000000000' + '0a000002', 'hex');
  show('switch → controller', {
    type: 'OFPPacketIn', xid: 0, buffer_id: 0xffffffff, total_len: frame.length, reason: 0, table_id: 0, cookie: 0n,
    match: [{ field: 'in_port', value: 1 }], data: frame,
  });
  const bad = Buffer.from('040e0048000000020000000000000000000000000000000000000000000000000000000000000000000000000001000c8000060600000001', 'hex');
  process.stdout.write(`\n== a truncated flow-mod (${bad.length} bytes)\n`);
  try {
    decode(bad);
  } catch (e) {
    if (!(e instanceof OFPCodecError)) throw e;
    process.stdout.write(`rejected: ${e.message}\na switch answers OFPT_ERROR type ${e.errType} code ${e.code}\n`);
  }
  return 0;
}

const quiet = nullLogger;

function runPing(ns: string, addr: string): Promise<string> {
  return new Promise<string>((resolve) => {
    // asynchronous, so that the switch and the controller keep working while ping runs
    const p = spawn('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.3', '-W', '2', addr], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => resolve(out.split('\n').filter((l) => /packets transmitted|rtt/.test(l)).join('\n')));
    p.on('error', (e: Error) => resolve(`ping failed to start: ${e.message}`));
  });
}

/**
 * Two hosts, one switch, the in-tree controller with the learning app and its REST API; a ping; the
 * flows the controller installed, read back through Ryu's REST routes. Everything is removed at the end.
 */
async function switchDemo(): Promise<void> {
  const lab = new Lab('dm');
  const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], apps: [learning({ idleTimeout: 60 })] });
  const dp = new Datapath({ name: lab.name('br'), dpid: 1n, tables: 4, failMode: 'secure', log: quiet });
  let channel: Channel | undefined;
  let rest: RestServer | undefined;
  // Interrupted (Ctrl-C, a closed pipe such as `| head`): the namespaces and links still go away.
  const interrupted = (): void => {
    lab.cleanup();
    process.exit(130);
  };
  const pipeClosed = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EPIPE') interrupted();
  };
  const shutdown = onShutdown(() => {
    lab.cleanup();
    return 130;
  });
  void shutdown.done.then((code) => process.exit(code));
  process.stdout.on('error', pipeClosed);
  try {
    process.stdout.write('\n-- a switch between two namespaces, driven by the in-tree controller --\n');
    for (const i of [1, 2]) {
      const ns = lab.ns(`h${i}`);
      lab.veth(lab.name(`s${i}`), lab.name(`e${i}`));
      lab.move(lab.name(`e${i}`), ns, `10.99.0.${i}/24`);
      dp.addPort(openInterface(lab.name(`s${i}`), { offload: true }), i);
    }
    await ctl.start();
    rest = await startRest(ctl, { host: '127.0.0.1', port: 0 });
    const entered = new Promise<void>((resolve) => ctl.once('switchEnter', () => resolve()));
    channel = new Channel({ targets: [parseEndpoint(ctl.addresses()[0] ?? '', TARGET_KINDS, 'controller address')], handler: dp, log: quiet });
    dp.attach(channel);
    await channel.start();
    await entered;
    process.stdout.write(`hosts ${lab.name('h1')} (10.99.0.1) and ${lab.name('h2')} (10.99.0.2) on switch ports 1 and 2 (fail-mode secure)\n`);
    process.stdout.write(`controller ${ctl.addresses()[0] ?? ''} with the learning app; REST API at ${rest.url}\n`);
    process.stdout.write(`${await runPing(lab.name('h1'), '10.99.0.2')}\n`);
    const res = await fetch(`${rest.url}/stats/flow/1`);
    const flows = ((await res.json()) as Record<string, { priority: number; match: unknown; actions: unknown; packet_count: number }[]>)['1'] ?? [];
    process.stdout.write(`GET /stats/flow/1 (Ryu's ofctl_rest): ${flows.length} flows\n`);
    for (const f of flows) process.stdout.write(`  priority ${f.priority} match ${JSON.stringify(f.match)} actions ${JSON.stringify(f.actions)} packets ${f.packet_count}\n`);
    for (const l of dp.dumpPorts()) process.stdout.write(`${l}\n`);
    // A ping from h1 to h2 as the switch would see it on port 1: it now hits the flow the controller installed.
    const macOf = (i: number): string => inNs(lab.name(`h${i}`), 'cat', `/sys/class/net/${lab.name(`e${i}`)}/address`).trim().replace(/:/g, '');
    const frame = Buffer.from(`${macOf(2)}${macOf(1)}08004500001c00010000400100000a6300010a630002080000000000000000000000000000000000`, 'hex');
    const t = dp.trace(frame, 1);
    process.stdout.write(`trace of a ping from h1 to h2 arriving on port 1:\n${[...t.steps, ...t.outputs].map((l) => `  ${l}`).join('\n')}\n`);
  } catch (e) {
    process.stdout.write(`(the switch part could not run here: ${(e as Error).message})\n`);
  } finally {
    await channel?.stop();
    dp.stop();
    await rest?.close();
    await ctl.stop();
    lab.cleanup();
    shutdown.dispose();
    process.stdout.off('error', pipeClosed);
  }
}
