/**
 * `tinflow demo`: the main job. So far tinflow is its OpenFlow 1.3 codec, so the demo shows a
 * controller's flow-mod and a switch's packet-in on the wire and in Ryu's JSON, and how a bad message is
 * answered. Later issues extend it to a switch and controller forwarding between namespaces.
 */
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
  process.stdout.write('tinflow demo — the OpenFlow 1.3 codec (switch, controller and overlay arrive with their issues)\n');
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
