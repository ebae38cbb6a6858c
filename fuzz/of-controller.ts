/**
 * Fuzz target 'of-controller': a hostile switch against the tinflow controller (controller/controller.ts
 * with the learning app) over TCP. The controller runs in this process, listening on a loopback port;
 * the hostile switch does a proper handshake, then sends its inputs in batches, each ended by an echo
 * request (the controller handles a switch's messages in order, and the learning app answers at once,
 * so the echo reply comes after everything the batch provoked).
 *
 * Inputs: what a switch sends (packet-ins, port-status, flow-removed, multipart replies, errors, features
 * and other replies, echo), generated and mutated (Ryu's vectors among the seeds), with a wrong version,
 * unknown types and random bodies; requests a switch should not send at all. Promise, per input:
 * - a message that does not decode is answered with OFPT_ERROR: the codec's type and code (BAD_VERSION
 *   for a wrong version), the input's xid, its first bytes as data; a message that decodes is not
 *   answered with an error; the connection stays open (the controller closes only when the framing
 *   breaks) and no app or handler fails (the controller's error-level log and appErrors stay quiet);
 * - a rare input works on a connection of its own: a length below 8 closes it; mutated hello, features
 *   and port-desc replies during the handshake end in 'main' or a closed connection, never a crash;
 *   afterwards no connection is left behind in the controller;
 * - two well-behaved fake switches stay served: after every batch each gets its echo answered and its
 *   packet-in answered with a packet-out or flow-mod;
 * - memory is sampled every few batches.
 *
 * May import: anything (fuzz/).
 */
import { learning } from '../controller/apps/learning.js';
import { Controller } from '../controller/controller.js';
import {
  type MessageOf,
  type OFPMessage,
  OFPCodecError,
  OFP_NO_BUFFER,
  type Port,
  decode,
  encode,
  errorName,
} from '../openflow/index.js';
import { GENERATORS, Rng } from '../test/openflow/gen.js';
import { FakeSwitch } from '../test/tools/fake-switch.js';
import { type FuzzOptions, type FuzzReport, type FuzzTarget, FuzzRecorder } from './harness.js';
import { ANSWER_MS, Batches, HELLO, WirePeer, deferred, endBatch, framed, liveRun, sendBatch, shortHeader, unanswered, within } from './of-wire.js';
import { mutateOpenFlow } from './openflow-inputs.js';

/** One input in this many works on a connection of its own (framing, handshake). */
const OWN_CONNECTION_EVERY = 500;
const HOSTILE_DPID = 0x0badn;
const GOOD_DPIDS = [0xa5a5_0000_0000_0001n, 0xa5a5_0000_0000_0002n];

/** What a switch sends a controller, to generate and mutate. */
const SWITCH_SENDS = [
  'OFPPacketIn', 'OFPPacketIn', 'OFPPacketIn', 'OFPPortStatus', 'OFPFlowRemoved', 'OFPErrorMsg', 'OFPSwitchFeatures', 'OFPGetConfigReply',
  'OFPEchoRequest', 'OFPEchoReply', 'OFPBarrierReply', 'OFPRoleReply', 'OFPGetAsyncReply', 'OFPQueueGetConfigReply', 'OFPExperimenter', 'OFPHello',
  ...Object.keys(GENERATORS).filter((t) => t.endsWith('StatsReply')),
];

const port = (no: number): Port => ({
  port_no: no, hw_addr: `02:00:00:00:0b:${no.toString(16).padStart(2, '0')}`, name: `h${no}`, config: 0, state: 0, curr: 0, advertised: 0,
  supported: 0, peer: 0, curr_speed: 0, max_speed: 0,
});
const PORTS = [port(1), port(2), port(3)];

function generate(rng: Rng): OFPMessage {
  const gen = GENERATORS[rng.pick(SWITCH_SENDS)];
  if (gen === undefined) throw new Error('no generator');
  return gen(rng, 0);
}

/** One framed input (length ≥ 8, the header's length right). */
function makeInput(rng: Rng, seeds: readonly Buffer[]): Buffer {
  const r = rng.int(100);
  let b: Buffer;
  if (r < 45) b = mutateOpenFlow(rng, rng.bool() ? encode(generate(rng)) : rng.pick(seeds));
  else if (r < 80) b = encode(generate(rng));
  else if (r < 85) {
    b = encode(generate(rng));
    b[0] = rng.pick([0, 1, 3, 5, 0x84, 0xff]);
  } else if (r < 92) {
    b = Buffer.concat([Buffer.alloc(8), rng.bytes(rng.int(100))]);
    b[1] = rng.bool() ? rng.int(30) : 30 + rng.int(226);
  } else {
    // controller-to-switch requests sent the wrong way
    b = mutateOpenFlow(rng, rng.pick(seeds));
  }
  return framed(b, r >= 85 ? 4 : undefined);
}

/** The controller's expected answer to one framed input in the main state: an error, or none. */
export function controllerExpects(bytes: Buffer): { errType: number; code: number; why: string } | undefined {
  try {
    decode(bytes);
    return undefined;
  } catch (e) {
    if (!(e instanceof OFPCodecError)) throw e;
    return { errType: e.errType, code: e.code, why: e.message };
  }
}

/** A hostile switch: answers the handshake properly, then sends what it is told. */
class HostileSwitch {
  readonly errors = new Map<number, MessageOf<'OFPErrorMsg'>[]>();
  echoWait: { xid: number; done: () => void } | undefined;
  /** Messages the controller sent that are not errors, by type (the learning app's answers, mostly). */
  readonly sent = new Map<string, number>();
  private constructor(readonly peer: WirePeer) {}

  static async connect(port: number, onBad: (what: string) => void): Promise<HostileSwitch> {
    const peer = await WirePeer.connect(port, { onUndecodable: onBad, hello: true });
    const self = new HostileSwitch(peer);
    peer.onMessage = (m) => self.onMessage(m);
    return self;
  }

  private onMessage(m: OFPMessage): void {
    const reply = (r: OFPMessage): void => this.peer.write(encode(r));
    switch (m.type) {
      case 'OFPFeaturesRequest':
        reply({ type: 'OFPSwitchFeatures', xid: m.xid, datapath_id: HOSTILE_DPID, n_buffers: 0, n_tables: 8, auxiliary_id: 0, capabilities: 0 });
        return;
      case 'OFPPortDescStatsRequest':
        reply({ type: 'OFPPortDescStatsReply', xid: m.xid, flags: 0, body: PORTS });
        return;
      case 'OFPBarrierRequest':
        reply({ type: 'OFPBarrierReply', xid: m.xid });
        return;
      case 'OFPEchoRequest':
        reply({ type: 'OFPEchoReply', xid: m.xid, data: m.data });
        return;
      case 'OFPEchoReply':
        if (this.echoWait?.xid === m.xid) this.echoWait.done();
        return;
      case 'OFPErrorMsg': {
        const list = this.errors.get(m.xid) ?? [];
        list.push(m);
        this.errors.set(m.xid, list);
        return;
      }
      default:
        this.sent.set(m.type, (this.sent.get(m.type) ?? 0) + 1);
    }
  }
}

/** A well-behaved fake switch and its check: echo answered, a packet-in answered with a packet-out or flow-mod. */
class GoodSwitch {
  private waiters: ((m: OFPMessage) => void)[] = [];
  private seq = 0;
  readonly sw: FakeSwitch;
  constructor(readonly dpid: bigint, ctlPort: number) {
    this.sw = new FakeSwitch({
      dpid, port: ctlPort, ports: PORTS,
      answer: (m) => {
        for (const w of this.waiters) w(m);
        return undefined;
      },
    });
  }
  private waitFor(pred: (m: OFPMessage) => boolean): Promise<boolean> {
    const d = deferred<boolean>();
    const w = (m: OFPMessage): void => {
      if (pred(m)) d.resolve(true);
    };
    this.waiters.push(w);
    return within(d.promise, ANSWER_MS, false).finally(() => {
      this.waiters = this.waiters.filter((x) => x !== w);
    });
  }
  async check(): Promise<string | undefined> {
    const n = ++this.seq;
    const echo = this.waitFor((m) => m.type === 'OFPEchoReply' && m.xid === 0x7000 + (n & 0xfff));
    const answer = this.waitFor((m) => m.type === 'OFPPacketOut' || m.type === 'OFPFlowMod');
    this.sw.send({ type: 'OFPEchoRequest', xid: 0x7000 + (n & 0xfff), data: Buffer.alloc(0) });
    const frame = Buffer.alloc(60);
    Buffer.from([0x02, 0, 0, 0, 0xee, n & 0xff, 0x02, 0, 0, 0, 0xdd, (n >> 8) & 0xff]).copy(frame);
    frame.writeUInt16BE(0x0800, 12);
    this.sw.send({
      type: 'OFPPacketIn', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: 60, reason: 0, table_id: 0, cookie: 0n, match: [{ field: 'in_port', value: 1 + (n % 3) }], data: frame,
    });
    const [e, a] = await Promise.all([echo, answer]);
    if (!e) return `well-behaved switch ${this.dpid.toString(16)}: no echo reply`;
    if (!a) return `well-behaved switch ${this.dpid.toString(16)}: its packet-in got neither a packet-out nor a flow-mod`;
    return undefined;
  }
}

/** An input on a connection of its own: framing broken, or a mutated handshake. */
async function ownConnection(rng: Rng, ctlPort: number, index: number, rec: FuzzRecorder): Promise<void> {
  const kind = rng.int(3);
  const mutate = (m: OFPMessage): Buffer => {
    const b = mutateOpenFlow(rng, encode(m));
    const out = b.length >= 8 ? Buffer.from(b) : encode(m);
    out.writeUInt16BE(out.length, 2);
    out[1] = encode(m)[1] as number;
    return out;
  };
  const peer = await WirePeer.connect(ctlPort, { onUndecodable: (what) => rec.finding(index, `own connection: the controller sent ${what}`) });
  const features = (xid: number): OFPMessage => ({
    type: 'OFPSwitchFeatures', xid, datapath_id: 0x0bad0000n + BigInt(index % 1000), n_buffers: 0, n_tables: 8, auxiliary_id: 0, capabilities: 0,
  });
  const mutatedSent = deferred<boolean>();
  const echoed = deferred<boolean>();
  peer.onMessage = (m) => {
    if (kind === 1 && m.type === 'OFPFeaturesRequest') {
      peer.write(mutate(features(m.xid)));
      mutatedSent.resolve(true);
    } else if (kind === 2 && m.type === 'OFPFeaturesRequest') {
      peer.write(encode(features(m.xid)));
    } else if (kind === 2 && m.type === 'OFPPortDescStatsRequest') {
      peer.write(mutate({ type: 'OFPPortDescStatsReply', xid: m.xid, flags: 0, body: PORTS }));
      mutatedSent.resolve(true);
    } else if (m.type === 'OFPEchoRequest') {
      peer.write(encode({ type: 'OFPEchoReply', xid: m.xid, data: m.data }));
    } else if (m.type === 'OFPEchoReply' && m.xid === 0x99) {
      echoed.resolve(true);
    }
  };
  void peer.whenClosed(ANSWER_MS).then(() => {
    mutatedSent.resolve(false);
    echoed.resolve(false);
  });
  try {
    if (kind === 0) {
      const short = shortHeader(rng);
      peer.write(short.bytes);
      if (!(await peer.whenClosed(ANSWER_MS))) rec.finding(index, `a header length of ${short.length} did not close the connection`);
      rec.count('own connection: length below 8');
    } else {
      // a mutated hello now and then, then the handshake with a mutated features or port-desc reply; an
      // echo after it is answered (the controller handled it) unless the connection was closed
      peer.write(rng.int(4) === 0 ? mutate({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] }) : HELLO);
      if (await within(mutatedSent.promise, ANSWER_MS, false)) {
        peer.write(encode({ type: 'OFPEchoRequest', xid: 0x99, data: Buffer.alloc(0) }));
        const ok = await within(echoed.promise, ANSWER_MS, false);
        if (!ok && !peer.closed) rec.finding(index, 'own connection: no echo reply after a mutated handshake message, and the connection is still open');
      }
      rec.count(kind === 1 ? 'own connection: mutated features reply' : 'own connection: mutated port-desc reply');
      rec.count(peer.closed ? 'own connection: closed by the controller' : 'own connection: still open');
    }
  } finally {
    peer.destroy();
  }
}

async function run(opts: FuzzOptions): Promise<FuzzReport> {
  // The controller's own error-level log lines are findings: an exception escaped a handler.
  const { rec, rng, seeds, internal } = liveRun('of-controller', opts);
  const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], apps: [learning()], logger: internal.log, echoIntervalMs: 120_000, requestTimeoutMs: 1000 });
  await ctl.start();
  const ctlPort = Number(ctl.addresses()[0]?.split(':').pop());
  const goods = GOOD_DPIDS.map((d) => new GoodSwitch(d, ctlPort));
  const inMain = async (dpid: bigint): Promise<boolean> => {
    for (let t = 0; t < 1000; t++) {
      if (ctl.datapath(dpid)?.state === 'main') return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  };
  const onBad = (what: string): void => rec.finding(-1, `the controller sent ${what}`);
  let hostile = await HostileSwitch.connect(ctlPort, onBad);
  for (const d of [HOSTILE_DPID, ...GOOD_DPIDS]) if (!(await inMain(d))) throw new Error(`switch ${d.toString(16)} did not reach main`);

  const batches = new Batches(rng, opts.inputs, OWN_CONNECTION_EVERY, () => makeInput(rng, seeds));
  try {
    for (let batch = batches.next(); batch !== undefined; batch = batches.next()) {
      const order = batch.framed;
      const parts = order.map((inp) => inp.bytes);
      const echoXid = 0x50000000 + (batch.no % 0x10000000);
      parts.push(encode({ type: 'OFPEchoRequest', xid: echoXid, data: Buffer.alloc(0) }));
      hostile.errors.clear();
      const [answered, ...goodOk] = await Promise.all([
        sendBatch(hostile.peer, parts, (answer) => {
          hostile.echoWait = { xid: echoXid, done: answer };
        }),
        ...goods.map((g) => g.check()),
      ]);
      for (const g of goodOk) if (g !== undefined) rec.finding(batch.start, g);
      if (!answered) {
        rec.finding(batch.start, unanswered(batch, hostile.peer, 'the controller', 'the hostile switch', 'echo reply'));
        hostile.peer.destroy();
        hostile = await HostileSwitch.connect(ctlPort, onBad);
        if (!(await inMain(HOSTILE_DPID))) throw new Error('the hostile switch could not connect again');
        rec.count('hostile connection renewed');
      } else {
        for (const inp of order) {
          const exp = controllerExpects(inp.bytes);
          const errs = hostile.errors.get(inp.xid) ?? [];
          for (const e of errs) rec.count(`error ${errorName(e.err_type, e.code ?? 0)}`);
          let wrong: string | undefined;
          if (exp === undefined) {
            if (errs.length > 0) wrong = `a message that decodes was answered ${errs.map((e) => errorName(e.err_type, e.code ?? 0)).join(',')}`;
            else rec.count('decoded, no error');
          } else {
            const e = errs[0];
            if (errs.length !== 1 || !e) wrong = `${errs.length} errors for an undecodable message (expected ${errorName(exp.errType, exp.code)}: ${exp.why})`;
            else if (e.err_type !== exp.errType || e.code !== exp.code) wrong = `error ${errorName(e.err_type, e.code ?? 0)}, expected ${errorName(exp.errType, exp.code)} (${exp.why})`;
            else if (!e.data.equals(inp.bytes.subarray(0, Math.min(64, inp.bytes.length)))) wrong = "the error's data is not the message's first 64 bytes";
          }
          if (wrong !== undefined) rec.finding(inp.index, `${wrong}; input ${inp.bytes.subarray(0, 200).toString('hex')}`);
        }
        for (const [x] of hostile.errors) if (!order.some((o) => o.xid === x)) rec.finding(batch.start, `an error with xid ${x}, which no input had`);
      }
      for (const index of batch.own) await ownConnection(rng, ctlPort, index, rec);
      rec.count('inputs on the hostile connection', order.length);
      rec.count('inputs on their own connection', batch.own.length);
      endBatch(rec, batch, internal.lines, 'the controller');
    }
    // every connection of its own is gone from the controller, and nothing failed in the apps
    let left = 0;
    for (let t = 0; t < 500; t++) {
      left = ctl.connections().length;
      if (left === 1 + goods.length) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    if (left !== 1 + goods.length) rec.finding(batches.done, `${left} connections left in the controller, expected ${1 + goods.length}`);
    if (ctl.counters.appErrors > 0) rec.finding(batches.done, `${ctl.counters.appErrors} app errors`);
    for (const [type, k] of hostile.sent) rec.count(`controller sent ${type}`, k);
    rec.count('controller: undecodable messages', ctl.counters.undecodable);
    rec.count('controller: ports it keeps for the hostile switch', ctl.datapath(HOSTILE_DPID)?.ports.size ?? 0);
    rec.count('controller: app events dropped', ctl.counters.appDrops);
  } finally {
    hostile.peer.destroy();
    for (const g of goods) g.sw.end();
    await ctl.stop();
  }
  return rec.report(batches.done);
}

export const ofControllerTarget: FuzzTarget = {
  name: 'of-controller',
  about: 'a hostile switch over TCP against the controller with the learning app: OFPT_ERROR for what does not decode, never a crash or hang; other switches stay served',
  run,
};
