/**
 * Fuzz target 'of-switch': a hostile controller against the tinflow switch over a real TCP socket. The
 * switch (Datapath + Channel, as `tinflow switch` wires them, with in-memory ports) runs in this process,
 * its channel listening on a loopback port; one long connection takes the inputs in batches, each batch
 * ended by a barrier, so a million inputs cost a few thousand round trips, not a million.
 *
 * Inputs: mutated, truncated, bit-flipped messages (Ryu's vectors and generated messages of every type),
 * well-formed generated ones, a wrong version, unknown and switch-to-controller types, random bodies,
 * multipart requests with bad bodies. Each input gets its own xid. Promise, per input (the oracle below):
 * - a wrong version is answered BAD_REQUEST/BAD_VERSION, a type the switch does not take BAD_TYPE, a
 *   multipart request of an unknown type BAD_MULTIPART, a message shorter than its fixed part BAD_LEN,
 *   any other undecodable message with the codec's error; a message that decodes gets its reply, nothing,
 *   or an error of a type that fits it (a flow-mod may fail with BAD_MATCH, never with METER_MOD_FAILED),
 *   never BAD_REQUEST/EPERM (what the channel answers when a handler throws something unexpected);
 * - every error echoes the input's xid and carries at least its first 64 bytes; answers come before the
 *   batch's barrier reply; the connection stays open;
 * - a rare input breaks the framing on a connection of its own (length below 8, a length longer than
 *   what follows, garbage before hello, a mutated hello): the switch answers with an error and closes, or
 *   waits, and never crashes;
 * - a second, well-behaved controller gets its echo and barrier answered after every batch;
 * - memory is sampled every few batches (the flow, group and meter tables are emptied every few batches
 *   so that what grows is only what leaks).
 *
 * May import: anything (fuzz/).
 */
import type { Logger } from '../base/logger.js';
import {
  type MessageOf,
  type OFPMessage,
  OFPBRC,
  OFPCodecError,
  OFPCR_ROLE,
  OFPET,
  OFPFC,
  OFPG,
  OFPGC,
  OFPM,
  OFPMC,
  OFPMP,
  OFPMPF,
  OFPP,
  OFPT,
  OFPTT,
  OFP_NO_BUFFER,
  decode,
  encode,
  errorName,
} from '../openflow/index.js';
import { Channel } from '../switch/channel.js';
import { Datapath } from '../switch/datapath.js';
import { MemoryPort } from '../switch/memory-port.js';
import { Rng, genMessage } from '../test/openflow/gen.js';
import { type FuzzOptions, type FuzzReport, type FuzzTarget, FuzzRecorder } from './harness.js';
import { ANSWER_MS, Batches, type FramedInput, HELLO, WirePeer, deferred, endBatch, framed, liveRun, sendBatch, shortHeader, unanswered, within } from './of-wire.js';
import { mutateOpenFlow } from './openflow-inputs.js';

/** One input in this many breaks the framing, on a connection of its own. */
const FRAMING_EVERY = 400;

/** Types a switch does not take from a controller: answered BAD_TYPE from the header alone. */
const NOT_FOR_SWITCH: ReadonlySet<number> = new Set([
  OFPT.ERROR, OFPT.FEATURES_REPLY, OFPT.GET_CONFIG_REPLY, OFPT.PACKET_IN, OFPT.FLOW_REMOVED, OFPT.PORT_STATUS,
  OFPT.MULTIPART_REPLY, OFPT.BARRIER_REPLY, OFPT.QUEUE_GET_CONFIG_REPLY, OFPT.ROLE_REPLY, OFPT.GET_ASYNC_REPLY,
]);

/**
 * The fixed part of each request type (OF1.3.5 §A): shorter is BAD_LEN whatever else is wrong. For a
 * flow-mod, the part before its match (48 bytes): a match header cut short is the match's error
 * (BAD_MATCH/BAD_LEN or BAD_TYPE, as OVS answers too), which the codec decides.
 */
const MIN_LEN: Readonly<Record<number, number>> = {
  [OFPT.EXPERIMENTER]: 16, [OFPT.SET_CONFIG]: 12, [OFPT.PACKET_OUT]: 24, [OFPT.FLOW_MOD]: 48, [OFPT.GROUP_MOD]: 16,
  [OFPT.PORT_MOD]: 40, [OFPT.TABLE_MOD]: 16, [OFPT.MULTIPART_REQUEST]: 16, [OFPT.QUEUE_GET_CONFIG_REQUEST]: 16,
  [OFPT.ROLE_REQUEST]: 24, [OFPT.SET_ASYNC]: 32, [OFPT.METER_MOD]: 16,
};

const KNOWN_MULTIPART: ReadonlySet<number> = new Set(Object.values(OFPMP));

/** Messages a slave may not send (OF1.3.5 §6.3.5). */
const SLAVE_FORBIDDEN: ReadonlySet<string> = new Set(['OFPFlowMod', 'OFPGroupMod', 'OFPPortMod', 'OFPTableMod', 'OFPMeterMod', 'OFPPacketOut']);

/**
 * Error types a request that decodes may be refused with: those of what it asks for. A flow-mod naming a
 * meter that does not exist is METER_MOD_FAILED/UNKNOWN_METER (OF1.3.5 §6.4, as OVS answers); queue stats
 * for a port that does not exist QUEUE_OP_FAILED/BAD_PORT (§7.3.5.8).
 */
const MAY_REFUSE: Readonly<Record<string, readonly number[]>> = {
  OFPFlowMod: [OFPET.BAD_REQUEST, OFPET.BAD_MATCH, OFPET.BAD_INSTRUCTION, OFPET.BAD_ACTION, OFPET.FLOW_MOD_FAILED, OFPET.METER_MOD_FAILED],
  OFPGroupMod: [OFPET.BAD_REQUEST, OFPET.BAD_ACTION, OFPET.GROUP_MOD_FAILED],
  OFPMeterMod: [OFPET.BAD_REQUEST, OFPET.METER_MOD_FAILED],
  OFPPortMod: [OFPET.BAD_REQUEST, OFPET.PORT_MOD_FAILED],
  OFPTableMod: [OFPET.TABLE_MOD_FAILED],
  OFPPacketOut: [OFPET.BAD_REQUEST, OFPET.BAD_ACTION],
  OFPSetConfig: [OFPET.SWITCH_CONFIG_FAILED],
  OFPRoleRequest: [OFPET.ROLE_REQUEST_FAILED],
  OFPQueueGetConfigRequest: [OFPET.QUEUE_OP_FAILED],
  OFPExperimenter: [OFPET.BAD_REQUEST],
  multipart: [OFPET.BAD_REQUEST],
  OFPFlowStatsRequest: [OFPET.BAD_REQUEST, OFPET.BAD_MATCH],
  OFPAggregateStatsRequest: [OFPET.BAD_REQUEST, OFPET.BAD_MATCH],
  OFPTableFeaturesStatsRequest: [OFPET.BAD_REQUEST, OFPET.TABLE_FEATURES_FAILED],
  OFPQueueStatsRequest: [OFPET.BAD_REQUEST, OFPET.QUEUE_OP_FAILED],
};

/** Requests answered by one reply of their own (when not refused). */
const REPLY_OF: Readonly<Record<string, string>> = {
  OFPEchoRequest: 'OFPEchoReply', OFPBarrierRequest: 'OFPBarrierReply', OFPFeaturesRequest: 'OFPSwitchFeatures',
  OFPGetConfigRequest: 'OFPGetConfigReply', OFPGetAsyncRequest: 'OFPGetAsyncReply', OFPRoleRequest: 'OFPRoleReply',
  OFPQueueGetConfigRequest: 'OFPQueueGetConfigReply',
};

/** What the oracle expects for one input. */
type Expect =
  | { readonly kind: 'error'; readonly errType: number; readonly code: number; readonly why: string }
  | { readonly kind: 'handled'; readonly msg: OFPMessage };

/**
 * The expected answer to one framed input (length ≥ 8, the header's length right), before roles: an
 * exact error, or the decoded request for judge() to check its replies against.
 */
export function expectFor(bytes: Buffer): Expect {
  const version = bytes[0] as number;
  const type = bytes[1] as number;
  if (version !== 4) return { kind: 'error', errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_VERSION, why: `version ${version}` };
  if (NOT_FOR_SWITCH.has(type) || type > OFPT.METER_MOD) return { kind: 'error', errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_TYPE, why: `type ${type}` };
  const min = MIN_LEN[type];
  if (min !== undefined && bytes.length < min) return { kind: 'error', errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_LEN, why: `type ${type} in ${bytes.length} of at least ${min} bytes` };
  if (type === OFPT.MULTIPART_REQUEST && !KNOWN_MULTIPART.has(bytes.readUInt16BE(8))) {
    return { kind: 'error', errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_MULTIPART, why: `multipart type ${bytes.readUInt16BE(8)}` };
  }
  try {
    return { kind: 'handled', msg: decode(bytes) };
  } catch (e) {
    if (!(e instanceof OFPCodecError)) throw e;
    return { kind: 'error', errType: e.errType, code: e.code, why: `the codec: ${e.message}` };
  }
}

interface Input extends FramedInput {
  readonly answers: OFPMessage[];
}

/** The switch under test: a datapath with three in-memory ports behind a channel on a loopback port. */
async function startSwitch(log: Logger): Promise<{ dp: Datapath; channel: Channel; ports: MemoryPort[]; port: number }> {
  const dp = new Datapath({ name: 'fuzz-sw', dpid: 0xf022n, tables: 8, failMode: 'secure', log, maxFlows: 4000 });
  const channel = new Channel({ targets: [{ kind: 'ptcp', host: '127.0.0.1', port: 0 }], handler: dp, log, probeInterval: 60 });
  dp.attach(channel);
  await channel.start();
  const ports = [1, 2, 3].map((n) => new MemoryPort({ name: `fz${n}`, txQueueLimit: 64 }));
  ports.forEach((p, i) => dp.addPort(p, i + 1));
  const [port] = channel.listeningPorts();
  if (port === undefined) throw new Error('the switch is not listening');
  return { dp, channel, ports, port };
}

/** Messages that empty the switch's tables (and make the fuzzing connection an equal again), before a barrier. */
function housekeeping(xid: number, clean: boolean): Buffer {
  const msgs: OFPMessage[] = [{ type: 'OFPRoleRequest', xid, role: OFPCR_ROLE.EQUAL, generation_id: 0n }];
  if (clean) {
    msgs.push(
      {
        type: 'OFPFlowMod', xid: xid + 1, cookie: 0n, cookie_mask: 0n, table_id: OFPTT.ALL, command: OFPFC.DELETE, idle_timeout: 0, hard_timeout: 0,
        priority: 0, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: OFPG.ANY, flags: 0, match: [], instructions: [],
      },
      { type: 'OFPGroupMod', xid: xid + 2, command: OFPGC.DELETE, group_type: 0, group_id: OFPG.ALL, buckets: [] },
      { type: 'OFPMeterMod', xid: xid + 3, command: OFPMC.DELETE, flags: 0, meter_id: OFPM.ALL, bands: [] },
    );
  }
  return Buffer.concat(msgs.map((m) => encode(m)));
}

/** One framed input (length ≥ 8, the header's length right); the xid is set by the caller. */
function makeInput(rng: Rng, seeds: readonly Buffer[]): Buffer {
  const r = rng.int(100);
  let b: Buffer;
  if (r < 62) b = mutateOpenFlow(rng, rng.pick(seeds));
  else if (r < 75) b = encode(genMessage(rng));
  else if (r < 80) {
    b = Buffer.from(rng.pick(seeds));
    b[0] = rng.pick([0, 1, 2, 3, 5, 6, 0x84, 0xff]);
  } else if (r < 85) {
    b = Buffer.concat([Buffer.alloc(8), rng.bytes(rng.int(64))]);
    b[1] = rng.bool() ? 30 + rng.int(226) : rng.pick([...NOT_FOR_SWITCH]);
  } else if (r < 92) {
    b = Buffer.concat([Buffer.alloc(8), rng.bytes(rng.int(120))]);
    b[1] = rng.int(30);
  } else {
    // a multipart request: a known or unknown type, then random or mutated body bytes
    const body = rng.bytes(rng.int(80));
    b = Buffer.concat([Buffer.alloc(16), body]);
    b[1] = OFPT.MULTIPART_REQUEST;
    b.writeUInt16BE(rng.bool() ? rng.int(15) : rng.pick([15, 16, 100, 0xfffe, 0xffff, rng.int(0x10000)]), 8);
    if (rng.int(4) === 0) b.writeUInt16BE(OFPMPF.REQ_MORE, 10);
  }
  return framed(b, r >= 80 ? 4 : undefined);
}

/** Judges one input's answers; returns what is wrong, or undefined. Counts answers by error name. */
function judge(inp: Input, role: { value: number }, rec: FuzzRecorder): string | undefined {
  const exp = expectFor(inp.bytes);
  const errors = inp.answers.filter((m): m is MessageOf<'OFPErrorMsg'> => m.type === 'OFPErrorMsg');
  const replies = inp.answers.filter((m) => m.type !== 'OFPErrorMsg');
  for (const e of errors) {
    rec.count(`error ${errorName(e.err_type, e.code ?? 0)}`);
    const want = Math.min(64, inp.bytes.length);
    if (e.data.length < want || !e.data.equals(inp.bytes.subarray(0, e.data.length))) return `error data is not the request's first ${want} bytes`;
  }
  if (errors.length > 1) return `${errors.length} errors for one request`;
  const err = errors[0];
  if (exp.kind === 'error') {
    if (!err) return `no error (expected ${errorName(exp.errType, exp.code)}: ${exp.why}); got ${replies.map((m) => m.type).join(',') || 'nothing'}`;
    if (err.err_type !== exp.errType || err.code !== exp.code) return `error ${errorName(err.err_type, err.code ?? 0)}, expected ${errorName(exp.errType, exp.code)} (${exp.why})`;
    if (replies.length > 0) return `an error and replies ${replies.map((m) => m.type).join(',')}`;
    return undefined;
  }
  const msg = exp.msg;
  rec.count(`decoded ${msg.type}`);
  if (err) {
    if (err.err_type === OFPET.BAD_REQUEST && err.code === OFPBRC.EPERM) return `${msg.type} refused with BAD_REQUEST/EPERM: an internal error in the switch`;
    if (role.value === OFPCR_ROLE.SLAVE && SLAVE_FORBIDDEN.has(msg.type)) {
      return err.err_type === OFPET.BAD_REQUEST && err.code === OFPBRC.IS_SLAVE ? undefined : `${msg.type} from a slave refused with ${errorName(err.err_type, err.code ?? 0)}, not IS_SLAVE`;
    }
    const multipart = msg.type.endsWith('StatsRequest');
    const allowed = MAY_REFUSE[msg.type] ?? (multipart ? MAY_REFUSE['multipart'] : undefined);
    if (!allowed?.includes(err.err_type)) return `${msg.type} refused with ${errorName(err.err_type, err.code ?? 0)}, which does not fit it`;
    if (replies.length > 0) return `an error and replies ${replies.map((m) => m.type).join(',')}`;
    return undefined;
  }
  if (role.value === OFPCR_ROLE.SLAVE && SLAVE_FORBIDDEN.has(msg.type)) return `${msg.type} from a slave was not refused`;
  if (msg.type === 'OFPRoleRequest') {
    const r = replies[0];
    if (replies.length !== 1 || r?.type !== 'OFPRoleReply') return `role request answered ${replies.map((m) => m.type).join(',') || 'with nothing'}`;
    role.value = r.role;
    return undefined;
  }
  const single = REPLY_OF[msg.type];
  if (single !== undefined) {
    if (replies.length !== 1 || replies[0]?.type !== single) return `${msg.type} answered ${replies.map((m) => m.type).join(',') || 'with nothing'}, not one ${single}`;
    const r = replies[0];
    if (msg.type === 'OFPEchoRequest' && r.type === 'OFPEchoReply' && !r.data.equals(msg.data)) return 'echo reply data differs from the request';
    return undefined;
  }
  if (msg.type.endsWith('StatsRequest')) {
    const want = msg.type.replace(/Request$/, 'Reply');
    if (replies.length === 0 || replies.some((m) => m.type !== want)) return `${msg.type} answered ${replies.map((m) => m.type).join(',') || 'with nothing'}`;
    const last = replies[replies.length - 1] as OFPMessage & { flags: number };
    if ((last.flags & OFPMPF.REPLY_MORE) !== 0) return `${msg.type}: the last reply says more follow`;
    if (replies.slice(0, -1).some((m) => ((m as OFPMessage & { flags: number }).flags & OFPMPF.REPLY_MORE) === 0)) return `${msg.type}: a reply before the last says none follow`;
    return undefined;
  }
  if (replies.length > 0) return `${msg.type} answered ${replies.map((m) => m.type).join(',')}`;
  return undefined;
}

/** A well-behaved controller: hello, features, then echo + barrier round trips on demand. */
class GoodController {
  private waiting = new Map<number, () => void>();
  private xid = 1;
  constructor(readonly peer: WirePeer) {}
  static async connect(port: number, onBad: (what: string) => void): Promise<GoodController> {
    const peer = await WirePeer.connect(port, { onUndecodable: onBad, hello: true });
    const self = new GoodController(peer);
    peer.onMessage = (m) => self.onMessage(m);
    const ok = await self.roundTrip([{ type: 'OFPFeaturesRequest', xid: 0 }]);
    if (!ok) throw new Error('the well-behaved controller got no features reply');
    return self;
  }
  private onMessage(m: OFPMessage): void {
    if (m.type === 'OFPEchoRequest') this.peer.write(encode({ type: 'OFPEchoReply', xid: m.xid, data: m.data }));
    this.waiting.get(m.xid)?.();
    this.waiting.delete(m.xid);
  }
  /** Sends the messages (xids assigned) and resolves true once every one was answered. */
  roundTrip(msgs: OFPMessage[]): Promise<boolean> {
    const waits: Promise<boolean>[] = [];
    for (const m of msgs) {
      const xid = ++this.xid;
      const d = deferred<boolean>();
      this.waiting.set(xid, () => d.resolve(true));
      waits.push(d.promise);
      this.peer.write(encode({ ...m, xid }));
    }
    return within(Promise.all(waits).then(() => true), ANSWER_MS, false);
  }
  check(): Promise<boolean> {
    return this.roundTrip([{ type: 'OFPEchoRequest', xid: 0, data: Buffer.from('still served') }, { type: 'OFPBarrierRequest', xid: 0 }]);
  }
}

/** The framing class: bytes on a connection of their own. What may happen is limited; a crash shows in the good controller's next round trip. */
async function framingInput(rng: Rng, seeds: readonly Buffer[], port: number, index: number, rec: FuzzRecorder): Promise<void> {
  const errors: MessageOf<'OFPErrorMsg'>[] = [];
  const echoed = deferred<boolean>();
  const peer = await WirePeer.connect(port, {
    onMessage: (m) => {
      if (m.type === 'OFPErrorMsg') {
        errors.push(m);
        echoed.resolve(false);
      }
      if (m.type === 'OFPEchoReply' && m.xid === 77) echoed.resolve(true);
    },
    onUndecodable: (what) => rec.finding(index, `framing input: the switch sent ${what}`),
  });
  const names = (): string => errors.map((e) => errorName(e.err_type, e.code ?? 0)).join(',');
  const kind = rng.int(4);
  try {
    if (kind === 0) {
      // a length below 8 after a good hello: BAD_LEN (or nothing) and the connection closes
      const short = shortHeader(rng);
      peer.write(short.bytes);
      if (!(await peer.whenClosed(ANSWER_MS))) rec.finding(index, `a header length of ${short.length} did not close the connection`);
      else if (errors.some((e) => e.err_type !== OFPET.BAD_REQUEST || e.code !== OFPBRC.BAD_LEN)) rec.finding(index, `a header length below 8 answered ${names()}`);
      rec.count('framing: length below 8');
    } else if (kind === 1) {
      // a length longer than what follows: the switch waits for the rest; we hang up
      const b = Buffer.from(mutateOpenFlow(rng, rng.pick(seeds)));
      if (b.length >= 4) b.writeUInt16BE(Math.min(0xffff, b.length + 1 + rng.int(0x10000 - b.length)), 2);
      peer.write(Buffer.concat([HELLO, b]));
      rec.count('framing: length beyond the bytes');
    } else if (kind === 2) {
      // not a hello first: HELLO_FAILED, then closed
      const b = makeInput(rng, seeds);
      if (b[1] === OFPT.HELLO) b[1] = OFPT.ECHO_REQUEST;
      peer.write(b);
      if (!(await peer.whenClosed(ANSWER_MS))) rec.finding(index, 'a first message other than hello did not close the connection');
      else if (!errors.every((e) => e.err_type === OFPET.HELLO_FAILED)) rec.finding(index, `a first message other than hello answered ${names()}`);
      rec.count('framing: no hello first');
    } else {
      // a mutated hello: either the session goes on (an echo is answered) or HELLO_FAILED and closed
      const h = Buffer.from(mutateOpenFlow(rng, HELLO));
      const hello = h.length >= 8 ? h : Buffer.from(HELLO);
      hello[1] = OFPT.HELLO;
      hello.writeUInt16BE(hello.length, 2);
      peer.write(Buffer.concat([hello, encode({ type: 'OFPEchoRequest', xid: 77, data: Buffer.alloc(0) })]));
      void peer.whenClosed(ANSWER_MS).then(() => echoed.resolve(false));
      const ok = await within(echoed.promise, ANSWER_MS, false);
      if (!ok) {
        if (!errors.some((e) => e.err_type === OFPET.HELLO_FAILED)) rec.finding(index, `a mutated hello ${hello.toString('hex')} got neither an echo reply nor HELLO_FAILED (${names() || 'no error'})`);
        else if (!(await peer.whenClosed(ANSWER_MS))) rec.finding(index, 'HELLO_FAILED but the connection stayed open');
      }
      rec.count(ok ? 'framing: mutated hello accepted' : 'framing: mutated hello refused');
    }
  } finally {
    peer.destroy();
  }
}

async function run(opts: FuzzOptions): Promise<FuzzReport> {
  // The switch's own error-level log lines are findings: an exception escaped a handler.
  const { rec, rng, seeds, internal } = liveRun('of-switch', opts);
  const sw = await startSwitch(internal.log);
  const good = await GoodController.connect(sw.port, (what) => rec.finding(0, `to the well-behaved controller the switch sent ${what}`));

  let current = new Map<number, Input>();
  let barrierDone: (() => void) | undefined;
  let barrierXid = 0;
  let fuzz: WirePeer | undefined;
  const connectFuzzer = async (): Promise<WirePeer> => {
    const p = await WirePeer.connect(sw.port, {
      hello: true,
      onMessage: (m) => {
        if (m.type === 'OFPEchoRequest') {
          p.write(encode({ type: 'OFPEchoReply', xid: m.xid, data: m.data }));
          return;
        }
        if (m.xid === 0) {
          rec.count(`async ${m.type}`);
          return;
        }
        if (m.xid === barrierXid && m.type === 'OFPBarrierReply') {
          barrierDone?.();
          return;
        }
        const inp = current.get(m.xid);
        if (inp) inp.answers.push(m);
        else if (m.xid < 0x40000000 || m.type === 'OFPErrorMsg') rec.finding(-1, `an answer ${m.type} with xid ${m.xid} that belongs to no input of the batch (late or made up)`);
      },
      onUndecodable: (what) => rec.finding(-1, `the switch sent ${what}`),
    });
    return p;
  };
  fuzz = await connectFuzzer();

  const batches = new Batches(rng, opts.inputs, FRAMING_EVERY, () => makeInput(rng, seeds));
  const role = { value: OFPCR_ROLE.EQUAL as number };
  try {
    for (let batch = batches.next(); batch !== undefined; batch = batches.next()) {
      const order: Input[] = batch.framed.map((f) => ({ ...f, answers: [] }));
      current = new Map(order.map((inp) => [inp.xid, inp]));
      const parts = order.map((inp) => inp.bytes);
      const hk = 0x40000000 + (batch.no % 0x1000) * 16;
      parts.push(housekeeping(hk, batch.no % 8 === 0));
      barrierXid = 0x50000000 + (batch.no % 0x10000000);
      parts.push(encode({ type: 'OFPBarrierRequest', xid: barrierXid }));
      const peer = fuzz;
      const [answered, goodOk] = await Promise.all([
        sendBatch(peer, parts, (answer) => {
          barrierDone = answer;
        }),
        good.check(),
      ]);
      if (!goodOk) rec.finding(batch.start, 'the well-behaved controller was not answered (echo + barrier) during this batch');
      if (!answered) {
        rec.finding(batch.start, unanswered(batch, peer, 'the switch', 'the fuzzing connection', 'barrier reply'));
        peer.destroy();
        fuzz = await connectFuzzer();
        role.value = OFPCR_ROLE.EQUAL;
        rec.count('fuzzing connection renewed');
      } else {
        role.value = OFPCR_ROLE.EQUAL;
        for (const inp of order) {
          const wrong = judge(inp, role, rec);
          if (wrong !== undefined) rec.finding(inp.index, `${wrong}; input ${inp.bytes.subarray(0, 200).toString('hex')}`);
        }
        // the housekeeping role request made the connection an equal for the next batch
        role.value = OFPCR_ROLE.EQUAL;
      }
      for (const index of batch.own) await framingInput(rng, seeds, sw.port, index, rec);
      for (const p of sw.ports) p.take();
      rec.count('inputs framed', order.length);
      rec.count('inputs breaking the framing', batch.own.length);
      endBatch(rec, batch, internal.lines, 'the switch');
    }
    const st = sw.channel.stats();
    rec.count('switch: packet-ins dropped', st.packetInDropped);
    rec.count('switch: read pauses', st.readPauses);
  } finally {
    fuzz.destroy();
    good.peer.destroy();
    await sw.channel.stop();
    sw.dp.stop();
  }
  return rec.report(batches.done);
}

export const ofSwitchTarget: FuzzTarget = {
  name: 'of-switch',
  about: 'a hostile controller over TCP against the switch: the right OFPT_ERROR (xid, data) or a close when the framing breaks, never a crash or hang; a second controller stays served',
  run,
};
