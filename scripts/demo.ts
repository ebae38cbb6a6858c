/**
 * `tinflow demo`: the main job. As root on Linux it builds two hosts in network namespaces of its own,
 * joins them with a tinflow switch (in fail-mode standalone: no controller needed yet), pings across,
 * shows the switch's ports and a pipeline trace, and removes everything again. Then (or elsewhere) it
 * shows the OpenFlow codec: a flow-mod and a packet-in on the wire and in Ryu's JSON, and how a bad
 * message is answered. The controller joins the demo with its issue.
 */
import { spawn } from 'node:child_process';
import { Datapath } from '../switch/datapath.js';
import { openInterface } from '../switch/portio/index.js';
import { Lab } from './netlab.js';
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

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Two hosts, one switch, a ping; everything made here is removed at the end. */
async function switchDemo(): Promise<void> {
  const lab = new Lab('dm');
  const dp = new Datapath({ name: lab.name('br'), dpid: 1n, tables: 4, failMode: 'standalone', log: quiet });
  try {
    process.stdout.write('\n-- a switch between two namespaces --\n');
    for (const i of [1, 2]) {
      const ns = lab.ns(`h${i}`);
      lab.veth(lab.name(`s${i}`), lab.name(`e${i}`));
      lab.move(lab.name(`e${i}`), ns, `10.99.0.${i}/24`);
      dp.addPort(openInterface(lab.name(`s${i}`), { offload: true }), i);
    }
    dp.attach({ sendAsync: () => 0, connected: 0 });
    process.stdout.write(`hosts ${lab.name('h1')} (10.99.0.1) and ${lab.name('h2')} (10.99.0.2), switch ports 1 and 2, fail-mode standalone\n`);
    const ping = await new Promise<string>((resolve) => {
      // asynchronous, so that the switch keeps forwarding while ping runs
      const p = spawn('ip', ['netns', 'exec', lab.name('h1'), 'ping', '-c', '3', '-i', '0.3', '-W', '2', '10.99.0.2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', () => resolve(out));
      p.on('error', (e: Error) => resolve(`ping failed to start: ${e.message}`));
    });
    process.stdout.write(ping.split('\n').filter((l) => /packets transmitted|rtt/.test(l)).join('\n') + '\n');
    for (const l of dp.dumpPorts()) process.stdout.write(`${l}\n`);
    const t = dp.trace(Buffer.from('02000000000202000000000108004500001c00010000400100000a6300010a630002080000000000000000000000000000000000', 'hex'), 1);
    process.stdout.write(`trace of a ping on port 1 through the (empty) flow tables:\n${[...t.steps, ...(t.outputs.length ? t.outputs : ['dropped: no flow; without a controller, standalone mode forwards by MAC learning instead'])].map((l) => `  ${l}`).join('\n')}\n`);
  } catch (e) {
    process.stdout.write(`(the switch part could not run here: ${(e as Error).message})\n`);
  } finally {
    dp.stop();
    lab.cleanup();
  }
}
