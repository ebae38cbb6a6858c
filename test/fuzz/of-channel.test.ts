/**
 * The live OpenFlow channel, fuzzed from both sides in short mode (fixed seeds, a few thousand inputs
 * each; `npm run fuzz` runs the same targets for a million): fuzz/of-switch.ts (a hostile controller
 * against the switch) and fuzz/of-controller.ts (a hostile switch against the controller). Any finding
 * fails. Then a handful of specific bad messages, each with the exact OFPT_ERROR expected (OpenFlow
 * 1.3.5 §7.4.4, §7.5.4): type, code, the xid echoed and the offending message's first bytes as data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import { learning } from '../../controller/apps/learning.js';
import { Controller } from '../../controller/controller.js';
import { ofControllerTarget } from '../../fuzz/of-controller.js';
import { ofSwitchTarget } from '../../fuzz/of-switch.js';
import { WirePeer } from '../../fuzz/of-wire.js';
import {
  type MessageOf,
  type OFPMessage,
  OFPBAC,
  OFPBRC,
  OFPET,
  OFPFC,
  OFPG,
  OFPIT,
  OFPMMFC,
  OFPP,
  OFP_NO_BUFFER,
  encode,
} from '../../openflow/index.js';
import { Channel } from '../../switch/channel.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('short fuzz runs (fixed seeds)', () => {
  it.each([[1], [20261203]])('of-switch, seed %i: 3000 hostile-controller inputs, no finding', async (seed) => {
    const r = await ofSwitchTarget.run({ inputs: 3000, seed });
    expect(r.findings).toEqual([]);
    expect(r.inputs).toBe(3000);
    // the run reached far: errors of many kinds, and requests that were handled
    expect(Object.keys(r.counts).filter((k) => k.startsWith('error ')).length).toBeGreaterThan(15);
    expect(r.counts['decoded OFPFlowMod'] ?? 0).toBeGreaterThan(10);
  }, 30_000);

  it.each([[1], [20261203]])('of-controller, seed %i: 3000 hostile-switch inputs, no finding', async (seed) => {
    const r = await ofControllerTarget.run({ inputs: 3000, seed });
    expect(r.findings).toEqual([]);
    expect(r.inputs).toBe(3000);
    expect(r.counts['controller sent OFPPacketOut'] ?? 0).toBeGreaterThan(10);
    expect(r.counts['error BAD_REQUEST/BAD_LEN'] ?? 0).toBeGreaterThan(10);
  }, 30_000);
});

/** A controller connection to an in-process switch that keeps what it gets. */
async function switchAndController(): Promise<{ peer: WirePeer; got: OFPMessage[] }> {
  const dp = new Datapath({ name: 'fz-direct', dpid: 0x51n, tables: 4, failMode: 'secure', log: nullLogger });
  const channel = new Channel({ targets: [{ kind: 'ptcp', host: '127.0.0.1', port: 0 }], handler: dp, log: nullLogger });
  dp.attach(channel);
  await channel.start();
  dp.addPort(new MemoryPort({ name: 'd1' }), 1);
  cleanups.push(async () => {
    await channel.stop();
    dp.stop();
  });
  const got: OFPMessage[] = [];
  const peer = await WirePeer.connect(channel.listeningPorts()[0] as number, { onMessage: (m) => got.push(m) });
  cleanups.push(() => peer.destroy());
  peer.write(encode({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] }));
  return { peer, got };
}

const FLOW_MOD: MessageOf<'OFPFlowMod'> = {
  type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD, idle_timeout: 0, hard_timeout: 0, priority: 10,
  buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: OFPG.ANY, flags: 0, match: [], instructions: [],
};

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

const CASES: readonly [string, Buffer, number, number][] = [
  ['a wrong version (an OpenFlow 1.5 echo request)', hex('06 02 0008 00000101'), OFPET.BAD_REQUEST, OFPBRC.BAD_VERSION],
  ['an unknown type (99)', hex('04 63 000c 00000102 deadbeef'), OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE],
  ['a packet-in, which only a switch sends', encode({ type: 'OFPPacketIn', xid: 0x103, buffer_id: OFP_NO_BUFFER, total_len: 0, reason: 0, table_id: 0, cookie: 0n, match: [], data: Buffer.alloc(0) }), OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE],
  ['a truncated packet-in: BAD_TYPE all the same', hex('04 0a 000c 00000104 ffffffff'), OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE],
  ['a multipart request of an unknown type (0x77)', hex('04 12 0010 00000105 0077 0000 00000000'), OFPET.BAD_REQUEST, OFPBRC.BAD_MULTIPART],
  ['a multipart request shorter than its header', hex('04 12 000c 00000106 0077 0000'), OFPET.BAD_REQUEST, OFPBRC.BAD_LEN],
  ['a flow-mod cut to 40 bytes', (() => {
    const b = Buffer.from(encode({ ...FLOW_MOD, xid: 0x107 }).subarray(0, 40));
    b.writeUInt16BE(40, 2);
    return b;
  })(), OFPET.BAD_REQUEST, OFPBRC.BAD_LEN],
  ['a barrier request with a body', hex('04 14 000c 00000108 00000000'), OFPET.BAD_REQUEST, OFPBRC.BAD_LEN],
  ['a flow-mod naming a meter that does not exist', encode({ ...FLOW_MOD, xid: 0x109, instructions: [{ kind: 'OFPInstructionMeter', meter_id: 77 }] }), OFPET.METER_MOD_FAILED, OFPMMFC.UNKNOWN_METER],
  ['a flow-mod setting tcp_dst with no TCP in its match', encode({
    ...FLOW_MOD, xid: 0x10a,
    instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionSetField', field: { field: 'tcp_dst', value: 80 } }] }],
  }), OFPET.BAD_ACTION, OFPBAC.MATCH_INCONSISTENT],
];

describe('the switch answers specific bad messages with the exact error', () => {
  it.each(CASES)('%s', async (_what, bytes, errType, code) => {
    const { peer, got } = await switchAndController();
    peer.write(bytes);
    peer.write(encode({ type: 'OFPBarrierRequest', xid: 0x7777 }));
    await waitFor('the barrier reply', () => got.some((m) => m.type === 'OFPBarrierReply'));
    const errors = got.filter((m): m is MessageOf<'OFPErrorMsg'> => m.type === 'OFPErrorMsg');
    expect(errors.map((e) => [e.err_type, e.code, e.xid])).toEqual([[errType, code, bytes.readUInt32BE(4)]]);
    expect((errors[0] as MessageOf<'OFPErrorMsg'>).data.subarray(0, Math.min(64, bytes.length))).toEqual(bytes.subarray(0, 64));
    expect(peer.closed).toBe(false);
  });

  it('a header length below 8 is BAD_LEN, then the connection closes', async () => {
    const { peer, got } = await switchAndController();
    peer.write(hex('04 02 0004 00000001'));
    expect(await peer.whenClosed(5000)).toBe(true);
    expect(got.filter((m) => m.type === 'OFPErrorMsg').map((m) => m.type === 'OFPErrorMsg' && [m.err_type, m.code])).toEqual([[OFPET.BAD_REQUEST, OFPBRC.BAD_LEN]]);
  });
});

describe('the controller answers a switch that sends what does not decode', () => {
  it.each([
    ['a truncated packet-in', hex('04 0a 000c 00000201 ffffffff'), OFPET.BAD_REQUEST, OFPBRC.BAD_LEN],
    ['a wrong version', hex('05 0a 0008 00000202'), OFPET.BAD_REQUEST, OFPBRC.BAD_VERSION],
    ['an unknown type', hex('04 50 0008 00000203'), OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE],
    ['a multipart reply of an unknown type', hex('04 13 0010 00000204 0099 0000 00000000'), OFPET.BAD_REQUEST, OFPBRC.BAD_MULTIPART],
  ] as const)('%s: the codec error, its xid and data; the switch stays connected', async (_what, bytes, errType, code) => {
    const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], apps: [learning()] });
    await ctl.start();
    cleanups.push(() => ctl.stop());
    const got: OFPMessage[] = [];
    const peer = await WirePeer.connect(Number(ctl.addresses()[0]?.split(':').pop()), {});
    peer.onMessage = (m) => {
      got.push(m);
      if (m.type === 'OFPFeaturesRequest') peer.write(encode({ type: 'OFPSwitchFeatures', xid: m.xid, datapath_id: 0x99n, n_buffers: 0, n_tables: 1, auxiliary_id: 0, capabilities: 0 }));
      if (m.type === 'OFPPortDescStatsRequest') peer.write(encode({ type: 'OFPPortDescStatsReply', xid: m.xid, flags: 0, body: [] }));
    };
    cleanups.push(() => peer.destroy());
    peer.write(encode({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] }));
    await waitFor('the switch in main', () => ctl.datapath(0x99n)?.state === 'main');
    peer.write(bytes);
    peer.write(encode({ type: 'OFPEchoRequest', xid: 0x7777, data: Buffer.alloc(0) }));
    await waitFor('the echo reply', () => got.some((m) => m.type === 'OFPEchoReply' && m.xid === 0x7777));
    const errors = got.filter((m): m is MessageOf<'OFPErrorMsg'> => m.type === 'OFPErrorMsg');
    expect(errors.map((e) => [e.err_type, e.code, e.xid])).toEqual([[errType, code, bytes.readUInt32BE(4)]]);
    expect((errors[0] as MessageOf<'OFPErrorMsg'>).data).toEqual(bytes.subarray(0, 64));
    expect(ctl.counters.undecodable).toBe(1);
    expect(ctl.datapath(0x99n)?.state).toBe('main');
  });
});
