/**
 * The datapath: ports, the pipeline and its tables, packet buffers, and the handling of every
 * controller request. Ports deliver batches; each frame runs through the pipeline; outputs are queued
 * per port and sent once per batch (the frame's bytes are shared, copied only if a later action
 * changes them). Port additions, removals and link changes become port-status messages; expired flows
 * with SEND_FLOW_REM become flow-removed.
 */
import {
  type Action,
  type Instruction,
  type MessageOf,
  type OFPMessage,
  OFPBAC,
  OFPBIC,
  OFPBRC,
  OFPC,
  OFPCML,
  OFPET,
  OFPFC,
  OFPFF,
  OFPFMFC,
  OFPIT,
  OFPM,
  OFPMMFC,
  OFPMPF,
  OFPP,
  OFPPC,
  OFPPF,
  OFPPMFC,
  OFPPR,
  OFPPS,
  OFPQOFC,
  OFPRR,
  OFPTFFC,
  OFPTMFC,
  OFPTT,
  OFP_NO_BUFFER,
  OXM_BASIC,
  encodedLength,
} from '../openflow/index.js';
import { SETTABLE_FIELDS, validateAction } from './actions.js';
import { PacketBuffers } from './buffers.js';
import type { AsyncKind, ChannelHandler, ControllerConnection, Logger } from './channel.js';
import { OFPError } from './errors.js';
import {
  type FlowEntry,
  type FlowFilter,
  FlowTable,
  aggregateStats,
  flowRemoved,
  flowStats,
  usesGroup,
} from './flow-table.js';
import { GroupTable } from './group-table.js';
import { KEY_WORDS, compileMatch } from './key.js';
import { MeterTable } from './meter-table.js';
import { Packet } from './packet.js';
import { type Emitter, Pipeline, type TraceRecorder } from './pipeline.js';
import type { FrameBatch, FramePort } from './port.js';
import { MacLearning } from './standalone.js';

export interface DatapathOptions {
  readonly name: string;
  readonly dpid: bigint;
  readonly tables: number;
  readonly failMode: 'secure' | 'standalone';
  readonly log: Logger;
  readonly maxFlows?: number;
  readonly now?: () => number;
}

/** Where asynchronous messages go (the channel). */
export interface AsyncSink {
  sendAsync(msg: OFPMessage, kind: AsyncKind, reason: number): number;
  readonly connected: number;
}

type PortDesc = MessageOf<'OFPPortDescStatsReply'>['body'][number];

interface PortRec {
  readonly no: number;
  readonly port: FramePort;
  config: number;
  readonly since: number;
  readonly queue: { frames: Buffer[]; hdrs: Buffer[]; offload: boolean };
}

const ZERO_HDR = Buffer.alloc(10);
const MAX_REPLY = 0xff00;
const SPEED_KBPS = 10_000_000; // reported as 10 Gbit/s, as OVS does for veth and TAP devices
const FEATURES = OFPPF['10GB_FD'] | OFPPF.COPPER;

function badPort(detail: string): OFPError {
  return new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_OUT_PORT, detail);
}

export class Datapath implements ChannelHandler, Emitter {
  readonly tables: FlowTable[];
  readonly groups: GroupTable;
  readonly meters: MeterTable;
  readonly pipeline: Pipeline;
  readonly buffers = new PacketBuffers();
  private readonly ports = new Map<number, PortRec>();
  private readonly pending = new Set<PortRec>();
  private readonly learning = new MacLearning();
  private readonly pkt = new Packet(Buffer.alloc(0), 0);
  private readonly now: () => number;
  private readonly started: number;
  private flags = 0;
  private missSendLen = 128;
  private sink: AsyncSink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly pipelineState: { tables: FlowTable[]; groups: GroupTable; meters: MeterTable; invalidTtlToController: boolean; missSendLen: number };

  constructor(readonly opts: DatapathOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.started = this.now();
    const maxFlows = opts.maxFlows ?? 1_000_000;
    this.tables = Array.from({ length: opts.tables }, (_, i) => new FlowTable({ tableId: i, words: KEY_WORDS, maxEntries: maxFlows }));
    this.groups = new GroupTable({
      maxGroups: 65536,
      isPortValid: (p) => this.ports.has(p) || p === OFPP.IN_PORT || p === OFPP.ALL || p === OFPP.FLOOD || p === OFPP.CONTROLLER || p === OFPP.LOCAL,
      isPortLive: (p) => this.isLive(p),
      checkActions: (actions) => this.checkActions(actions, false),
      clock: this.now,
    });
    this.meters = new MeterTable({ maxMeters: 65536, maxBands: 16, clock: this.now });
    this.pipelineState = { tables: this.tables, groups: this.groups, meters: this.meters, invalidTtlToController: false, missSendLen: 128 };
    this.pipeline = new Pipeline(this.pipelineState, this.now);
  }

  /** Connects the channel (for packet-in, port status, flow removed) and starts the expiry timer. */
  attach(sink: AsyncSink): void {
    this.sink = sink;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.expire(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const r of this.ports.values()) r.port.close();
    this.ports.clear();
  }

  // ---- ports -----------------------------------------------------------------------------------------

  private isLive(p: number): boolean {
    const r = this.ports.get(p);
    if (!r) return false;
    const s = r.port.linkState();
    return s.up && s.carrier && (r.config & OFPPC.PORT_DOWN) === 0;
  }

  /** Adds a port as number `no` (or the lowest free one); returns the number. */
  addPort(port: FramePort, no?: number): number {
    let n = no;
    if (n === undefined) for (n = 1; this.ports.has(n); n++);
    if (this.ports.has(n)) throw new Error(`port number ${n} is taken`);
    const rec: PortRec = { no: n, port, config: 0, since: this.now(), queue: { frames: [], hdrs: [], offload: false } };
    this.ports.set(n, rec);
    port.on('link', () => this.portStatus(rec, OFPPR.MODIFY));
    port.on('gone', (reason: string) => {
      this.opts.log.warn({ port: n, name: port.name, reason }, 'port gone');
      this.removePort(n);
    });
    port.start((batch) => this.receive(rec, batch));
    this.portStatus(rec, OFPPR.ADD);
    this.opts.log.info({ port: n, name: port.name, offload: port.offload }, 'port added');
    return n;
  }

  removePort(no: number): void {
    const rec = this.ports.get(no);
    if (!rec) return;
    this.ports.delete(no);
    this.pending.delete(rec);
    this.learning.forgetPort(no);
    if (!rec.port.closed) rec.port.close();
    this.portStatus(rec, OFPPR.DELETE);
  }

  portNumbers(): number[] {
    return [...this.ports.keys()];
  }

  private desc(r: PortRec): PortDesc {
    const link = r.port.linkState();
    let state = 0;
    if (!link.carrier || !link.up) state |= OFPPS.LINK_DOWN;
    else if ((r.config & OFPPC.PORT_DOWN) === 0) state |= OFPPS.LIVE;
    return {
      port_no: r.no, hw_addr: r.port.hwAddr, name: r.port.name, config: r.config, state, curr: FEATURES, advertised: 0,
      supported: 0, peer: 0, curr_speed: SPEED_KBPS, max_speed: 0,
    };
  }

  private portStatus(r: PortRec, reason: number): void {
    this.sink?.sendAsync({ type: 'OFPPortStatus', xid: 0, reason, desc: this.desc(r) }, 'port_status', reason);
  }

  // ---- forwarding ---------------------------------------------------------------------------------------

  private receive(rec: PortRec, batch: FrameBatch): void {
    if (rec.config & (OFPPC.PORT_DOWN | OFPPC.NO_RECV)) return;
    const standalone = this.opts.failMode === 'standalone' && (this.sink?.connected ?? 0) === 0;
    const pkt = this.pkt;
    const fragDrop = (this.flags & 3) === 1; // OFPC_FRAG_DROP
    for (let i = 0; i < batch.count; i++) {
      const frame = batch.frame(i);
      pkt.reset(frame, rec.no, rec.no, batch.offload(i));
      if (fragDrop && pkt.offsets().frag !== 0) continue;
      if (standalone) this.learn(pkt);
      else this.pipeline.run(pkt, this);
    }
    this.flush();
  }

  private learn(pkt: Packet): void {
    const out = this.learning.forward(pkt.data, pkt.inPort, this.now());
    if (out === -1) return;
    this.output(pkt, out ?? OFPP.FLOOD, 0);
  }

  private enqueue(r: PortRec, pkt: Packet): void {
    if (r.config & (OFPPC.PORT_DOWN | OFPPC.NO_FWD)) return;
    const q = r.queue;
    q.frames.push(pkt.data);
    q.hdrs.push(pkt.vnet ?? ZERO_HDR);
    if (pkt.vnet) q.offload = true;
    pkt.share();
    this.pending.add(r);
  }

  /** Sends what the batch queued, one send per port. */
  flush(): void {
    for (const r of this.pending) {
      const q = r.queue;
      if (q.frames.length === 0) continue;
      r.port.send(q.frames, q.offload ? Buffer.concat(q.hdrs) : undefined);
      q.frames.length = 0;
      q.hdrs.length = 0;
      q.offload = false;
    }
    this.pending.clear();
  }

  /** Emitter: an output action. */
  output(pkt: Packet, port: number, _queue: number): void {
    switch (port) {
      case OFPP.IN_PORT: {
        const r = this.ports.get(pkt.inPort);
        if (r) this.enqueue(r, pkt);
        return;
      }
      case OFPP.ALL:
      case OFPP.FLOOD:
        for (const r of this.ports.values()) if (r.no !== pkt.inPort && r.no !== OFPP.LOCAL) this.enqueue(r, pkt);
        if (pkt.inPort !== OFPP.LOCAL) {
          const local = this.ports.get(OFPP.LOCAL);
          if (local) this.enqueue(local, pkt);
        }
        return;
      case OFPP.TABLE:
        this.pipeline.run(pkt, this);
        return;
      case OFPP.NORMAL:
      case OFPP.ANY:
        return;
      default: {
        if (port === pkt.inPort) return; // the spec: only IN_PORT sends a packet back where it came from
        const r = this.ports.get(port);
        if (r) this.enqueue(r, pkt);
      }
    }
  }

  /** Emitter: a packet-in. */
  toController(pkt: Packet, reason: number, tableId: number, cookie: bigint, maxLen: number): void {
    const sink = this.sink;
    if (!sink || sink.connected === 0) return;
    const r = this.ports.get(pkt.inPort);
    if (r && r.config & OFPPC.NO_PACKET_IN) return;
    const data = pkt.data;
    let bufferId = OFP_NO_BUFFER;
    let sent = data;
    if (maxLen !== OFPCML.NO_BUFFER && data.length > maxLen) {
      bufferId = this.buffers.store(data, pkt.inPort, this.now());
      sent = data.subarray(0, maxLen);
    }
    const match: { field: string; value: number | bigint }[] = [{ field: 'in_port', value: pkt.inPort }];
    if (pkt.inPhyPort !== pkt.inPort) match.push({ field: 'in_phy_port', value: pkt.inPhyPort });
    if (pkt.metadataHi || pkt.metadataLo) match.push({ field: 'metadata', value: pkt.metadata });
    if (pkt.tunnelHi || pkt.tunnelLo) match.push({ field: 'tunnel_id', value: pkt.tunnelId });
    sink.sendAsync(
      { type: 'OFPPacketIn', xid: 0, buffer_id: bufferId, total_len: data.length, reason, table_id: tableId === 0xff ? 0 : tableId, cookie, match, data: Buffer.from(sent) },
      'packet_in',
      reason,
    );
  }

  // ---- flow expiry ------------------------------------------------------------------------------------

  private expire(): void {
    const now = this.now();
    for (const t of this.tables) {
      for (const { entry, reason } of t.expire(now)) this.removed(entry, reason, now);
    }
  }

  private removed(entry: FlowEntry, reason: number, now: number): void {
    this.unref(entry.instructions);
    if (entry.flags & OFPFF.SEND_FLOW_REM) this.sink?.sendAsync(flowRemoved(entry, reason, now), 'flow_removed', reason);
  }

  private refs(instructions: readonly Instruction[], delta: number): void {
    for (const ins of instructions) {
      if (ins.kind === 'OFPInstructionMeter') this.meters.ref(ins.meter_id, delta);
      if (ins.kind === 'OFPInstructionActions') {
        for (const a of ins.actions) if (a.kind === 'OFPActionGroup') this.groups.ref(a.group_id, delta);
      }
    }
  }

  private unref(instructions: readonly Instruction[]): void {
    this.refs(instructions, -1);
  }

  // ---- requests -------------------------------------------------------------------------------------

  handle(msg: OFPMessage, _conn: ControllerConnection): OFPMessage[] {
    switch (msg.type) {
      case 'OFPFeaturesRequest':
        return [{
          type: 'OFPSwitchFeatures', xid: msg.xid, datapath_id: this.opts.dpid, n_buffers: this.buffers.size, n_tables: this.tables.length,
          auxiliary_id: 0, capabilities: OFPC.FLOW_STATS | OFPC.TABLE_STATS | OFPC.PORT_STATS | OFPC.GROUP_STATS | OFPC.QUEUE_STATS,
        }];
      case 'OFPGetConfigRequest':
        return [{ type: 'OFPGetConfigReply', xid: msg.xid, flags: this.flags, miss_send_len: this.missSendLen }];
      case 'OFPSetConfig':
        if ((msg.flags & 3) === 2 /* OFPC_FRAG_REASM */ || (msg.flags & 3) === 3 || msg.flags & ~7) {
          throw new OFPError(OFPET.SWITCH_CONFIG_FAILED, 0 /* OFPSCFC_BAD_FLAGS */, `flags 0x${msg.flags.toString(16)}: fragment reassembly is not supported`);
        }
        this.flags = msg.flags;
        this.missSendLen = msg.miss_send_len;
        this.pipelineState.missSendLen = msg.miss_send_len;
        this.pipelineState.invalidTtlToController = (msg.flags & 4) !== 0;
        return [];
      case 'OFPFlowMod':
        this.flowMod(msg);
        return [];
      case 'OFPGroupMod': {
        const deleted = this.groups.apply(msg, this.now());
        for (const g of deleted) this.deleteFlowsWhere((e) => usesGroup(e.instructions, g), OFPRR.GROUP_DELETE);
        return [];
      }
      case 'OFPMeterMod': {
        const deleted = this.meters.apply(msg, this.now());
        // OF1.3 has no METER_DELETE reason; as OVS does, such flows are removed with DELETE
        for (const m of deleted) this.deleteFlowsWhere((e) => e.instructions.some((i) => i.kind === 'OFPInstructionMeter' && i.meter_id === m), OFPRR.DELETE);
        return [];
      }
      case 'OFPPortMod':
        this.portMod(msg);
        return [];
      case 'OFPTableMod':
        if (msg.table_id !== OFPTT.ALL && msg.table_id >= this.tables.length) {
          throw new OFPError(OFPET.TABLE_MOD_FAILED, OFPTMFC.BAD_TABLE, `table ${msg.table_id} does not exist`);
        }
        return [];
      case 'OFPPacketOut':
        this.packetOut(msg);
        return [];
      case 'OFPQueueGetConfigRequest':
        if (msg.port !== OFPP.ANY && !this.ports.has(msg.port)) throw new OFPError(OFPET.QUEUE_OP_FAILED, OFPQOFC.BAD_PORT, `port ${msg.port} does not exist`);
        return [{ type: 'OFPQueueGetConfigReply', xid: msg.xid, port: msg.port, queues: [] }];
      case 'OFPExperimenter':
        throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_EXPERIMENTER, `experimenter ${msg.experimenter} is not supported`);
      default:
        if (msg.type.endsWith('StatsRequest')) return this.multipart(msg);
        throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE, `${msg.type} is not a request a switch handles`);
    }
  }

  // ---- flow-mod ----

  /** Validates instructions for table `tableId` (OF1.3 §6.4, §A.4.1 errors). */
  private checkInstructions(tableId: number, instructions: readonly Instruction[]): void {
    const seen = new Set<number>();
    for (const ins of instructions) {
      const t = ins.kind === 'OFPInstructionActions' ? ins.type : ins.kind === 'OFPInstructionGotoTable' ? OFPIT.GOTO_TABLE : ins.kind === 'OFPInstructionWriteMetadata' ? OFPIT.WRITE_METADATA : ins.kind === 'OFPInstructionMeter' ? OFPIT.METER : OFPIT.EXPERIMENTER;
      if (seen.has(t)) throw new OFPError(OFPET.BAD_INSTRUCTION, OFPBIC.UNSUP_INST, `instruction type ${t} appears twice`);
      seen.add(t);
      switch (ins.kind) {
        case 'OFPInstructionGotoTable':
          if (ins.table_id <= tableId || ins.table_id >= this.tables.length) {
            throw new OFPError(OFPET.BAD_INSTRUCTION, OFPBIC.BAD_TABLE_ID, `goto-table ${ins.table_id} from table ${tableId}`);
          }
          break;
        case 'OFPInstructionMeter':
          if (ins.meter_id === 0 || ins.meter_id > OFPM.MAX || !this.meters.has(ins.meter_id)) {
            throw new OFPError(OFPET.METER_MOD_FAILED, OFPMMFC.UNKNOWN_METER, `meter ${ins.meter_id} does not exist`);
          }
          break;
        case 'OFPInstructionActions':
          this.checkActions(ins.actions, false);
          break;
        case 'OFPInstructionWriteMetadata':
          break;
        case 'OFPInstructionExperimenter':
          throw new OFPError(OFPET.BAD_INSTRUCTION, OFPBIC.BAD_EXPERIMENTER, `experimenter instruction ${ins.experimenter}`);
      }
    }
  }

  /** Validates actions: their own rules (actions.ts), then ports and groups against this switch. */
  private checkActions(actions: readonly Action[], packetOut: boolean): void {
    for (const a of actions) {
      validateAction(a);
      if (a.kind === 'OFPActionOutput') {
        const p = a.port;
        const reserved = p === OFPP.IN_PORT || p === OFPP.ALL || p === OFPP.FLOOD || p === OFPP.CONTROLLER || p === OFPP.LOCAL || (packetOut && p === OFPP.TABLE);
        if (!reserved && (p === 0 || p > OFPP.MAX)) throw badPort(`output to port ${p} is not allowed here`);
        if (!reserved && p > OFPP.MAX) throw badPort(`port ${p} does not exist`);
      } else if (a.kind === 'OFPActionGroup') {
        if (!this.groups.has(a.group_id)) throw new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_OUT_GROUP, `group ${a.group_id} does not exist`);
      } else if (a.kind === 'OFPActionSetField' && !SETTABLE_FIELDS.has(a.field.field)) {
        throw new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_SET_TYPE, `${a.field.field} cannot be set`);
      }
    }
  }

  private tablesFor(tableId: number, mayBeAll: boolean): FlowTable[] {
    if (tableId === OFPTT.ALL && mayBeAll) return this.tables;
    const t = this.tables[tableId];
    if (!t) throw new OFPError(OFPET.FLOW_MOD_FAILED, OFPFMFC.BAD_TABLE_ID, `table ${tableId} does not exist (this switch has ${this.tables.length})`);
    return [t];
  }

  private flowMod(m: MessageOf<'OFPFlowMod'>): void {
    const now = this.now();
    const { value, mask } = compileMatch(m.match);
    const filter: FlowFilter = { value, mask, priority: m.priority, cookie: m.cookie, cookieMask: m.cookie_mask };
    switch (m.command) {
      case OFPFC.ADD: {
        const [table] = this.tablesFor(m.table_id, false) as [FlowTable];
        this.checkInstructions(m.table_id, m.instructions);
        if (m.flags & ~0x1f) throw new OFPError(OFPET.FLOW_MOD_FAILED, OFPFMFC.BAD_FLAGS, `unknown flags 0x${m.flags.toString(16)}`);
        const before = table.select({ ...filter, cookieMask: 0n }, true); // ADD ignores cookie_mask
        const entry = table.add(
          { priority: m.priority, value, mask, match: m.match, cookie: m.cookie, idle_timeout: m.idle_timeout, hard_timeout: m.hard_timeout, flags: m.flags, instructions: m.instructions },
          now,
        );
        for (const old of before) if (old !== entry) this.unref(old.instructions);
        this.refs(m.instructions, 1);
        break;
      }
      case OFPFC.MODIFY:
      case OFPFC.MODIFY_STRICT: {
        const [table] = this.tablesFor(m.table_id, false) as [FlowTable];
        this.checkInstructions(m.table_id, m.instructions);
        const strict = m.command === OFPFC.MODIFY_STRICT;
        const old = table.select(filter, strict).map((e) => e.instructions);
        const changed = table.modify(filter, strict, m.instructions, m.flags, now);
        for (const ins of old) this.unref(ins);
        for (let i = 0; i < changed.length; i++) this.refs(m.instructions, 1);
        break;
      }
      case OFPFC.DELETE:
      case OFPFC.DELETE_STRICT:
        for (const table of this.tablesFor(m.table_id, true)) {
          for (const e of table.delete(filter, m.command === OFPFC.DELETE_STRICT, m.out_port, m.out_group)) this.removed(e, OFPRR.DELETE, now);
        }
        return;
      default:
        throw new OFPError(OFPET.FLOW_MOD_FAILED, OFPFMFC.BAD_COMMAND, `flow-mod command ${m.command} does not exist`);
    }
    if (m.buffer_id !== OFP_NO_BUFFER) {
      const b = this.buffers.take(m.buffer_id, now);
      this.pkt.reset(b.data, b.inPort);
      this.pipeline.run(this.pkt, this);
      this.flush();
    }
  }

  private deleteFlowsWhere(pred: (e: FlowEntry) => boolean, reason: number): void {
    const now = this.now();
    for (const t of this.tables) {
      const doomed = [...t.entries()].filter(pred);
      for (const e of doomed) {
        const filter: FlowFilter = { value: e.value, mask: e.mask, priority: e.priority, cookie: 0n, cookieMask: 0n };
        for (const gone of t.delete(filter, true)) this.removed(gone, reason, now);
      }
    }
  }

  private portMod(m: MessageOf<'OFPPortMod'>): void {
    const r = this.ports.get(m.port_no);
    if (!r) throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.BAD_PORT, `port ${m.port_no} does not exist`);
    if (m.hw_addr !== r.port.hwAddr) throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.BAD_HW_ADDR, `port ${m.port_no} has address ${r.port.hwAddr}, not ${m.hw_addr}`);
    const settable = OFPPC.PORT_DOWN | OFPPC.NO_RECV | OFPPC.NO_FWD | OFPPC.NO_PACKET_IN;
    if (m.mask & ~settable) throw new OFPError(OFPET.PORT_MOD_FAILED, OFPPMFC.BAD_CONFIG, `config bits 0x${(m.mask & ~settable).toString(16)} cannot be set`);
    const before = r.config;
    r.config = (r.config & ~m.mask) | (m.config & m.mask);
    if (r.config !== before) this.portStatus(r, OFPPR.MODIFY);
  }

  private packetOut(m: MessageOf<'OFPPacketOut'>): void {
    const inPort = m.in_port;
    if (inPort !== OFPP.CONTROLLER && inPort !== OFPP.LOCAL && inPort !== OFPP.ANY && (inPort === 0 || inPort > OFPP.MAX)) {
      throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_PORT, `packet-out in_port ${inPort} is not valid`);
    }
    this.checkActions(m.actions, true);
    let data = m.data;
    if (m.buffer_id !== OFP_NO_BUFFER) data = this.buffers.take(m.buffer_id, this.now()).data;
    this.pkt.reset(Buffer.from(data), inPort);
    this.pipeline.runActions(m.actions, this.pkt, this);
    this.flush();
  }

  // ---- multipart ----

  private multipart(msg: OFPMessage): OFPMessage[] {
    const now = this.now();
    const xid = msg.xid;
    switch (msg.type) {
      case 'OFPDescStatsRequest':
        return [{
          type: 'OFPDescStatsReply', xid, flags: 0,
          body: { mfr_desc: 'tinflow', hw_desc: 'tinflow userspace switch', sw_desc: 'tinflow 0.1.0', serial_num: 'None', dp_desc: this.opts.name },
        }];
      case 'OFPFlowStatsRequest': {
        const entries = this.selectFlows(msg);
        return split(entries.map((e) => flowStats(e, now)), (body, flags) => ({ type: 'OFPFlowStatsReply', xid, flags, body }));
      }
      case 'OFPAggregateStatsRequest':
        return [{ type: 'OFPAggregateStatsReply', xid, flags: 0, body: aggregateStats(this.selectFlows(msg)) }];
      case 'OFPTableStatsRequest':
        return split(this.tables.map((t) => t.stats()), (body, flags) => ({ type: 'OFPTableStatsReply', xid, flags, body }));
      case 'OFPPortStatsRequest': {
        const recs = this.portsFor(msg.port_no);
        const body = recs.map((r) => {
          const c = r.port.counters();
          const d = (now - r.since) / 1000;
          const sec = Math.floor(d);
          return {
            port_no: r.no, rx_packets: BigInt(c.rxPackets), tx_packets: BigInt(c.txPackets), rx_bytes: BigInt(c.rxBytes), tx_bytes: BigInt(c.txBytes),
            rx_dropped: BigInt(c.rxDropped), tx_dropped: BigInt(c.txDropped), rx_errors: BigInt(c.rxErrors), tx_errors: BigInt(c.txErrors),
            rx_frame_err: 0n, rx_over_err: 0n, rx_crc_err: 0n, collisions: 0n, duration_sec: sec, duration_nsec: Math.floor((d - sec) * 1e9),
          };
        });
        return split(body, (b, flags) => ({ type: 'OFPPortStatsReply', xid, flags, body: b }));
      }
      case 'OFPQueueStatsRequest':
        if (msg.port_no !== OFPP.ANY && !this.ports.has(msg.port_no)) throw new OFPError(OFPET.QUEUE_OP_FAILED, OFPQOFC.BAD_PORT, `port ${msg.port_no} does not exist`);
        if (msg.queue_id !== 0xffffffff) throw new OFPError(OFPET.QUEUE_OP_FAILED, OFPQOFC.BAD_QUEUE, `queue ${msg.queue_id} does not exist`);
        return [{ type: 'OFPQueueStatsReply', xid, flags: 0, body: [] }];
      case 'OFPGroupStatsRequest':
        return split(this.groups.stats(msg.group_id, now), (body, flags) => ({ type: 'OFPGroupStatsReply', xid, flags, body }));
      case 'OFPGroupDescStatsRequest':
        return split(this.groups.desc(), (body, flags) => ({ type: 'OFPGroupDescStatsReply', xid, flags, body }));
      case 'OFPGroupFeaturesStatsRequest':
        return [{ type: 'OFPGroupFeaturesStatsReply', xid, flags: 0, body: this.groups.features() }];
      case 'OFPMeterStatsRequest':
        return split(this.meters.stats(msg.meter_id, now), (body, flags) => ({ type: 'OFPMeterStatsReply', xid, flags, body }));
      case 'OFPMeterConfigStatsRequest':
        return split(this.meters.config(msg.meter_id), (body, flags) => ({ type: 'OFPMeterConfigStatsReply', xid, flags, body }));
      case 'OFPMeterFeaturesStatsRequest':
        return [{ type: 'OFPMeterFeaturesStatsReply', xid, flags: 0, body: [this.meters.features()] }];
      case 'OFPTableFeaturesStatsRequest':
        if (msg.body.length > 0) throw new OFPError(OFPET.TABLE_FEATURES_FAILED, OFPTFFC.EPERM, 'table features cannot be changed on this switch');
        return split(this.tables.map((t) => this.tableFeatures(t.tableId)), (body, flags) => ({ type: 'OFPTableFeaturesStatsReply', xid, flags, body }));
      case 'OFPPortDescStatsRequest':
        return split([...this.ports.values()].sort((a, b) => a.no - b.no).map((r) => this.desc(r)), (body, flags) => ({ type: 'OFPPortDescStatsReply', xid, flags, body }));
      case 'OFPExperimenterStatsRequest':
      case 'ONFFlowMonitorStatsRequest':
        throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_EXPERIMENTER, 'experimenter multipart requests are not supported');
      default:
        throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_MULTIPART, `${msg.type} is not supported`);
    }
  }

  private portsFor(portNo: number): PortRec[] {
    if (portNo === OFPP.ANY) return [...this.ports.values()].sort((a, b) => a.no - b.no);
    const r = this.ports.get(portNo);
    if (!r) throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_PORT, `port ${portNo} does not exist`);
    return [r];
  }

  private selectFlows(m: MessageOf<'OFPFlowStatsRequest'> | MessageOf<'OFPAggregateStatsRequest'>): FlowEntry[] {
    const { value, mask } = compileMatch(m.match);
    const filter: FlowFilter = { value, mask, priority: 0, cookie: m.cookie, cookieMask: m.cookie_mask };
    if (m.table_id !== OFPTT.ALL && m.table_id >= this.tables.length) {
      throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_TABLE_ID, `table ${m.table_id} does not exist`);
    }
    const tables = m.table_id === OFPTT.ALL ? this.tables : [this.tables[m.table_id] as FlowTable];
    // by table, then priority, highest first (OVS's classifier order); ties in install order
    return tables.flatMap((t) => t.select(filter, false, m.out_port, m.out_group).sort((a, b) => b.priority - a.priority || a.seq - b.seq));
  }

  private tableFeatures(tableId: number): MessageOf<'OFPTableFeaturesStatsReply'>['body'][number] {
    const instructionIds = [1, 2, 3, 4, 5, 6].filter((t) => t !== 1 || tableId < this.tables.length - 1).map((type) => ({ type }));
    const next = Array.from({ length: this.tables.length - tableId - 1 }, (_, i) => tableId + 1 + i);
    const actionIds = [0, 11, 12, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27].map((type) => ({ type }));
    const oxm = (masked: boolean) => OXM_BASIC.map((d) => ({ type: d.name, hasmask: masked && d.maskable, length: d.size * (masked && d.maskable ? 2 : 1) }));
    const settable = OXM_BASIC.filter((d) => SETTABLE_FIELDS.has(d.name)).map((d) => ({ type: d.name, hasmask: false, length: d.size }));
    return {
      table_id: tableId, name: `table${tableId}`, metadata_match: 0xffffffffffffffffn, metadata_write: 0xffffffffffffffffn, config: 0,
      max_entries: this.opts.maxFlows ?? 1_000_000,
      properties: [
        { kind: 'OFPTableFeaturePropInstructions', type: 0, instruction_ids: instructionIds },
        { kind: 'OFPTableFeaturePropInstructions', type: 1, instruction_ids: instructionIds },
        { kind: 'OFPTableFeaturePropNextTables', type: 2, table_ids: next },
        { kind: 'OFPTableFeaturePropNextTables', type: 3, table_ids: next },
        { kind: 'OFPTableFeaturePropActions', type: 4, action_ids: actionIds },
        { kind: 'OFPTableFeaturePropActions', type: 5, action_ids: actionIds },
        { kind: 'OFPTableFeaturePropActions', type: 6, action_ids: actionIds },
        { kind: 'OFPTableFeaturePropActions', type: 7, action_ids: actionIds },
        { kind: 'OFPTableFeaturePropOxm', type: 8, oxm_ids: oxm(true) },
        { kind: 'OFPTableFeaturePropOxm', type: 10, oxm_ids: oxm(false) },
        { kind: 'OFPTableFeaturePropOxm', type: 12, oxm_ids: settable },
        { kind: 'OFPTableFeaturePropOxm', type: 13, oxm_ids: settable },
        { kind: 'OFPTableFeaturePropOxm', type: 14, oxm_ids: settable },
        { kind: 'OFPTableFeaturePropOxm', type: 15, oxm_ids: settable },
      ],
    };
  }

  // ---- introspection (switchctl) ----

  /** Runs a frame through the pipeline without sending or counting anything, recording every step. */
  trace(frame: Buffer, inPort: number): { steps: string[]; outputs: string[] } {
    const steps: string[] = [];
    const outputs: string[] = [];
    const rec: TraceRecorder = {
      table: (t, e) => steps.push(e ? `table ${t}: priority ${e.priority} cookie 0x${e.cookie.toString(16)} ${matchText(e)} → ${instructionsText(e.instructions)}` : `table ${t}: no match`),
      note: (text) => steps.push(`  ${text}`),
    };
    const emitter: Emitter = {
      output: (_p, port) => outputs.push(`output to ${port}`),
      toController: (_p, reason, table) => outputs.push(`packet-in (reason ${reason}, table ${table})`),
    };
    const pkt = new Packet(Buffer.from(frame), inPort);
    this.pipeline.run(pkt, emitter, 0, rec);
    return { steps, outputs };
  }

  dumpFlows(): string[] {
    const now = this.now();
    const lines: string[] = [];
    for (const t of this.tables) {
      for (const e of t.entries()) {
        const s = flowStats(e, now);
        lines.push(
          `table=${t.tableId} priority=${e.priority} cookie=0x${e.cookie.toString(16)} n_packets=${s.packet_count} n_bytes=${s.byte_count} duration=${s.duration_sec}s ${matchText(e)} actions=${instructionsText(e.instructions)}`,
        );
      }
    }
    return lines;
  }

  dumpPorts(): string[] {
    return [...this.ports.values()].sort((a, b) => a.no - b.no).map((r) => {
      const c = r.port.counters();
      const l = r.port.linkState();
      return `port ${r.no === OFPP.LOCAL ? 'LOCAL' : r.no} ${r.port.name} ${r.port.hwAddr} ${l.up ? 'up' : 'down'}${l.carrier ? '' : ' no-carrier'} rx ${c.rxPackets} pkts ${c.rxBytes} bytes ${c.rxDropped} drop; tx ${c.txPackets} pkts ${c.txBytes} bytes ${c.txDropped} drop`;
    });
  }
}

function matchText(e: FlowEntry): string {
  return e.match.map((t) => `${t.field}=${String(t.value)}${t.mask !== undefined ? '/' + String(t.mask) : ''}`).join(',') || '(all)';
}

function instructionsText(ins: readonly Instruction[]): string {
  return ins
    .map((i) => {
      switch (i.kind) {
        case 'OFPInstructionActions':
          return `${i.type === 3 ? 'write' : i.type === 4 ? 'apply' : 'clear'}(${i.actions.map((a) => a.kind.replace(/^OFPAction/, '') + (a.kind === 'OFPActionOutput' ? `:${a.port}` : '')).join(',')})`;
        case 'OFPInstructionGotoTable':
          return `goto:${i.table_id}`;
        case 'OFPInstructionMeter':
          return `meter:${i.meter_id}`;
        case 'OFPInstructionWriteMetadata':
          return `write_metadata:0x${i.metadata.toString(16)}/0x${i.metadata_mask.toString(16)}`;
        default:
          return 'experimenter';
      }
    })
    .join(' ') || 'drop';
}

/** Splits a multipart reply body into messages under 64 KiB, all but the last flagged REPLY_MORE. */
function split<B>(body: readonly B[], make: (body: B[], flags: number) => OFPMessage): OFPMessage[] {
  const out: OFPMessage[] = [];
  let chunk: B[] = [];
  let size = 16;
  for (const b of body) {
    const one = encodedLength(make([b], 0)) - 16;
    if (chunk.length > 0 && size + one > MAX_REPLY) {
      out.push(make(chunk, OFPMPF.REPLY_MORE));
      chunk = [];
      size = 16;
    }
    chunk.push(b);
    size += one;
  }
  out.push(make(chunk, 0));
  return out;
}

