/**
 * The datapath: ports, the pipeline and its tables, packet buffers, and the handling of every
 * controller request. Ports deliver batches; each frame runs through the pipeline; outputs are queued
 * per port and sent once per batch (the frame's bytes are shared, copied only if a later action
 * changes them). Port additions, removals and link changes become port-status messages; expired flows
 * with SEND_FLOW_REM become flow-removed.
 *
 * This file is forwarding (receive, output, packet-in, sending batches) and the dispatch of controller
 * messages to what they change; the parts it ties together live beside it: datapath-ports.ts (a port's
 * record, ofp_port and port-mod rules), flow-expiry.ts (the timeout timer), flow-mod-check.ts
 * (validation of instructions and actions), multipart.ts (every multipart reply), ctl-text.ts (what
 * switchctl prints), flow-cache.ts (the decisions the port I/O addon repeats without JavaScript).
 */
import {
  type Instruction,
  type MessageOf,
  type OFPMessage,
  OFPBRC,
  OFPC,
  OFPCML,
  OFPC_FRAG,
  OFPET,
  OFPFC,
  OFPFF,
  OFPFMFC,
  OFPP,
  OFPPC,
  OFPPR,
  OFPQOFC,
  OFPRR,
  OFPSCFC,
  OFPTMFC,
  OFPTT,
  OFP_NO_BUFFER,
} from '../openflow/index.js';
import type { Logger } from '../base/logger.js';
import { checkSetFieldPrereqs } from './actions.js';
import { PacketBuffers } from './buffers.js';
import type { AsyncKind, ChannelHandler, ControllerConnection } from './channel.js';
import { compileMatch } from './compiled-match.js';
import { flowLines, portLines, traceFrame } from './ctl-text.js';
import { type PortRec, applyPortMod, newPortRec, portDesc, portIsLive, syncConfig } from './datapath-ports.js';
import { OFPError } from './errors.js';
import { DatapathCache, type FrameCache, type FrameCacheStats, RunRecord } from './flow-cache.js';
import { FlowExpiry } from './flow-expiry.js';
import { flowRemoved } from './flow-messages.js';
import { type CheckTarget, checkActions, checkInstructions } from './flow-mod-check.js';
import { type FlowEntry, type FlowFilter, FlowTable, usesGroup } from './flow-table.js';
import { GroupTable } from './group-table.js';
import { KEY_WORDS } from './key.js';
import { MeterTable } from './meter-table.js';
import { multipartReply } from './multipart.js';
import { OffloadError, type SegmentFn, VNET, ZERO_VNET_HDR, createSegmenter, isPlainHeader } from './offload.js';
import { Packet } from './pipeline-packet.js';
import { type Emitter, Pipeline } from './pipeline.js';
import { type FrameBatch, type FramePort, type LinkState, checkPortName } from './port.js';
import { MacLearning } from './standalone.js';

export interface DatapathOptions {
  readonly name: string;
  readonly dpid: bigint;
  readonly tables: number;
  readonly failMode: 'secure' | 'standalone';
  readonly log: Logger;
  readonly maxFlows?: number;
  readonly now?: () => number;
  /**
   * Completes checksums and cuts super-frames for ports without offload (switch/offload.ts). Default: the
   * port I/O addon's when it is loaded, else offload.ts's Segmenter, made when first needed.
   */
  readonly segmenter?: SegmentFn;
  /**
   * The flow cache below JavaScript (portio's createFrameCache): frames of its ports whose decision is
   * cached are forwarded without running the pipeline (flow-cache.ts). None: every frame runs it.
   */
  readonly frameCache?: FrameCache;
}

/** Where asynchronous messages go (the channel). */
export interface AsyncSink {
  sendAsync(msg: OFPMessage, kind: AsyncKind, reason: number): number;
  readonly connected: number;
  /**
   * Whether any controller would take a message of this kind and reason (its role and async config). When
   * present, packet-ins nobody wants are not built at all, so they take no packet buffer.
   */
  wants?(kind: AsyncKind, reason: number): boolean;
}

/** A flow table's capacity when the options do not give one. */
const DEFAULT_MAX_FLOWS = 1_000_000;
/**
 * Bit 2 of ofp_switch_config.flags: OF1.2's OFPC_INVALID_TTL_TO_CONTROLLER, which OF1.3 removed (async
 * config decides, see pipeline.ts). Still accepted and reported back, but it changes nothing.
 */
const OF12_INVALID_TTL_TO_CONTROLLER = 1 << 2;
/** Every ofp_flow_mod_flags bit OF1.3 defines; a flow-mod with another is refused (OFPFMFC_BAD_FLAGS). */
const OFPFF_ALL = OFPFF.SEND_FLOW_REM | OFPFF.CHECK_OVERLAP | OFPFF.RESET_COUNTS | OFPFF.NO_PKT_COUNTS | OFPFF.NO_BYT_COUNTS;

export class Datapath implements ChannelHandler, Emitter {
  readonly tables: FlowTable[];
  readonly groups: GroupTable;
  readonly meters: MeterTable;
  readonly pipeline: Pipeline;
  readonly buffers = new PacketBuffers();
  private readonly ports = new Map<number, PortRec>();
  private readonly pending = new Set<PortRec>();
  /** Made when a port without offload first needs a frame made plain. */
  private segmenter: SegmentFn | undefined;
  /** Plain frames for one send (reused). */
  private readonly plainScratch: Buffer[] = [];
  /** Headers for one send (reused, grown as needed). */
  private hdrScratch = Buffer.allocUnsafe(64 * VNET.SIZE);
  private readonly learning = new MacLearning();
  private readonly pkt = new Packet(Buffer.alloc(0), 0);
  private readonly now: () => number;
  private readonly maxFlows: number;
  private readonly started: number;
  private flags = 0;
  private missSendLen = 128;
  private sink: AsyncSink | undefined;
  private readonly expiry: FlowExpiry;
  /** What flow-mods and packet-outs are checked against (flow-mod-check.ts). */
  private readonly checkTarget: CheckTarget;
  private readonly pipelineState: { tables: FlowTable[]; groups: GroupTable; meters: MeterTable; missSendLen: number };
  private readonly cache: DatapathCache | undefined;
  /** What the frame being forwarded did, while `recording` (a receive with the cache). */
  private readonly run = new RunRecord();
  private recording = false;

  constructor(readonly opts: DatapathOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.started = this.now();
    this.maxFlows = opts.maxFlows ?? DEFAULT_MAX_FLOWS;
    this.cache = opts.frameCache ? new DatapathCache(opts.frameCache, this.now) : undefined;
    const cache = this.cache;
    const onChange = cache ? { onChange: () => cache.flush() } : {};
    this.tables = Array.from({ length: opts.tables }, (_, i) => new FlowTable({ tableId: i, words: KEY_WORDS, maxEntries: this.maxFlows, ...onChange }));
    this.groups = new GroupTable({
      maxGroups: 65536,
      isPortValid: (p) => this.ports.has(p) || p === OFPP.IN_PORT || p === OFPP.ALL || p === OFPP.FLOOD || p === OFPP.CONTROLLER || p === OFPP.LOCAL,
      isPortLive: (p) => this.isLive(p),
      checkActions: (actions) => checkActions(this.checkTarget, actions, false),
      clock: this.now,
    });
    this.meters = new MeterTable({ maxMeters: 65536, maxBands: 16, clock: this.now });
    this.pipelineState = { tables: this.tables, groups: this.groups, meters: this.meters, missSendLen: 128 };
    this.pipeline = new Pipeline(this.pipelineState, this.now);
    this.checkTarget = { nTables: this.tables.length, groups: this.groups, meters: this.meters };
    this.expiry = new FlowExpiry(this.tables, this.now, (entry, reason, now) => this.removed(entry, reason, now), () => this.cache?.sync());
  }

  /** Connects the channel (for packet-in, port status, flow removed). */
  attach(sink: AsyncSink): void {
    this.sink = sink;
    this.expiry.schedule();
  }

  stop(): void {
    this.expiry.stop();
    for (const r of this.ports.values()) {
      this.cache?.detach(r.port);
      r.port.close();
    }
    this.ports.clear();
  }

  // ---- ports -----------------------------------------------------------------------------------------

  private isLive(p: number): boolean {
    const r = this.ports.get(p);
    return r !== undefined && portIsLive(r);
  }

  /** Adds a port as number `no` (or the lowest free one); returns the number. */
  addPort(port: FramePort, no?: number): number {
    checkPortName(port.name); // OpenFlow's port name field would cut a longer one
    let n = no;
    if (n === undefined) for (n = 1; this.ports.has(n); n++);
    if (this.ports.has(n)) throw new Error(`port number ${n} is taken`);
    const rec = newPortRec(n, port, this.now());
    syncConfig(rec);
    this.ports.set(n, rec);
    this.cache?.attach(port, n);
    port.on('link', (link: LinkState) => {
      rec.link = { up: link.up, carrier: link.carrier };
      syncConfig(rec);
      this.portStatus(rec, OFPPR.MODIFY);
    });
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
    this.cache?.detach(rec.port);
    if (!rec.port.closed) rec.port.close();
    this.portStatus(rec, OFPPR.DELETE);
  }

  portNumbers(): number[] {
    return [...this.ports.keys()];
  }

  /**
   * Sends a port-status. A MODIFY goes out only when config or state differ from the last one sent: a
   * device's link events, a port-mod and its effect on the device may each see the same change.
   */
  private portStatus(r: PortRec, reason: number): void {
    this.cache?.flush(); // the port's state or config may change what is forwarded where
    const desc = portDesc(r);
    if (reason === OFPPR.MODIFY && r.sent?.config === desc.config && r.sent.state === desc.state) return;
    r.sent = { config: desc.config, state: desc.state };
    this.sink?.sendAsync({ type: 'OFPPortStatus', xid: 0, reason, desc }, 'port_status', reason);
  }

  // ---- forwarding ---------------------------------------------------------------------------------------

  private receive(rec: PortRec, batch: FrameBatch): void {
    if (rec.config & (OFPPC.PORT_DOWN | OFPPC.NO_RECV)) return;
    const standalone = this.opts.failMode === 'standalone' && (this.sink?.connected ?? 0) === 0;
    const pkt = this.pkt;
    const fragDrop = (this.flags & OFPC_FRAG.MASK) === OFPC_FRAG.DROP;
    const cache = this.cache?.serves(rec.port) ? this.cache : undefined;
    for (let i = 0; i < batch.count; i++) {
      const frame = batch.frame(i);
      pkt.reset(frame, rec.no, rec.no, batch.offload(i));
      if (fragDrop && pkt.offsets().frag !== 0) continue;
      if (standalone) this.learn(pkt);
      else if (cache === undefined) this.pipeline.run(pkt, this);
      else {
        const run = this.run;
        run.reset();
        this.recording = true;
        this.pipeline.run(pkt, this, 0, undefined, run);
        this.recording = false;
        cache.offer(run, rec.port, i);
      }
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
    if (this.recording) this.run.output(r.port);
    const q = r.queue;
    q.frames.push(pkt.data);
    q.hdrs.push(pkt.vnet ?? ZERO_VNET_HDR);
    if (pkt.vnet) q.offload = true;
    pkt.share();
    this.pending.add(r);
  }

  /**
   * Sends what the batch queued, one send per port. A port with offload gets the frames with their
   * headers (super-frames pass through; plain frames get a zero header) when any frame has one. A port
   * without gets plain frames only: checksums completed and super-frames cut here, into the segmenter's
   * memory, which is reused after each send (the port copies what it keeps).
   */
  flush(): void {
    for (const r of this.pending) {
      const q = r.queue;
      if (q.frames.length === 0) continue;
      if (!q.offload) r.port.send(q.frames);
      else if (r.port.offload) r.port.send(q.frames, this.headers(q.hdrs));
      else this.sendPlain(r);
      q.frames.length = 0;
      q.hdrs.length = 0;
      q.offload = false;
    }
    this.pending.clear();
  }

  /** The headers side by side, in memory reused per send. */
  private headers(hdrs: readonly Buffer[]): Buffer {
    const n = hdrs.length * VNET.SIZE;
    if (this.hdrScratch.length < n) this.hdrScratch = Buffer.allocUnsafe(Math.max(n, this.hdrScratch.length * 2));
    for (let i = 0; i < hdrs.length; i++) (hdrs[i] as Buffer).copy(this.hdrScratch, i * VNET.SIZE, 0, VNET.SIZE);
    return this.hdrScratch.subarray(0, n);
  }

  /** Sends a port without offload its queue made plain (as OVS's netdev_send does for a device without TSO). */
  private sendPlain(r: PortRec): void {
    const q = r.queue;
    const seg = (this.segmenter ??= this.opts.segmenter ?? createSegmenter());
    const out = this.plainScratch;
    for (let i = 0; i < q.frames.length; i++) {
      const f = q.frames[i] as Buffer;
      const h = q.hdrs[i] as Buffer;
      if (isPlainHeader(h)) {
        out.push(f);
        continue;
      }
      try {
        seg.segment(f, h, out);
      } catch (e) {
        if (!(e instanceof OffloadError)) throw e;
        r.unsendable++;
      }
    }
    try {
      if (out.length > 0) r.port.send(out);
    } finally {
      out.length = 0;
      seg.reset();
    }
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

  /**
   * Emitter: a packet-in. The controller gets only plain frames, what a device would have put on the
   * wire, as Open vSwitch's kernel datapath segments GSO packets and completes checksums before an
   * upcall: a controller sees no virtio-net header, and what it sends back in a packet-out (or re-emits
   * from a buffer) is a plain frame. So a super-frame becomes one packet-in per segment (each buffered and
   * cut to max_len on its own), and a frame whose checksum was left to the device gets it completed. A
   * frame that cannot be made plain (its header contradicts it) makes no packet-in: it is counted in its
   * in port's rx_errors.
   */
  toController(pkt: Packet, reason: number, tableId: number, cookie: bigint, maxLen: number): void {
    const sink = this.sink;
    if (!sink || sink.connected === 0) return;
    if (sink.wants && !sink.wants('packet_in', reason)) return;
    const r = this.ports.get(pkt.inPort);
    if (r && r.config & OFPPC.NO_PACKET_IN) return;
    const hdr = pkt.vnet;
    if (hdr === undefined || isPlainHeader(hdr)) {
      this.packetIn(sink, pkt, pkt.data, reason, tableId, cookie, maxLen);
      return;
    }
    const seg = (this.segmenter ??= this.opts.segmenter ?? createSegmenter());
    const frames = this.plainScratch; // empty: sendPlain() empties it before returning
    try {
      try {
        seg.segment(pkt.data, hdr, frames);
      } catch (e) {
        if (!(e instanceof OffloadError)) throw e;
        if (r) r.unplainIn++;
        this.opts.log.debug({ port: pkt.inPort, error: e.message }, 'no packet-in: the frame cannot be made plain');
        return;
      }
      for (const f of frames) this.packetIn(sink, pkt, f, reason, tableId, cookie, maxLen);
    } finally {
      // packetIn() copied what it kept (the message's data, the buffer): the segments' memory is free
      frames.length = 0;
      seg.reset();
    }
  }

  /** Sends one plain frame of pkt (pkt.data or one of its segments) to the controller. */
  private packetIn(sink: AsyncSink, pkt: Packet, data: Buffer, reason: number, tableId: number, cookie: bigint, maxLen: number): void {
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
      { type: 'OFPPacketIn', xid: 0, buffer_id: bufferId, total_len: data.length, reason, table_id: tableId === OFPTT.ALL ? 0 : tableId, cookie, match, data: Buffer.from(sent) },
      'packet_in',
      reason,
    );
  }

  // ---- flow removal ----------------------------------------------------------------------------------

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
    // what the flow cache counted goes into the flow entries before anything reads or changes them
    this.cache?.sync();
    switch (msg.type) {
      case 'OFPFeaturesRequest':
        return [{
          type: 'OFPSwitchFeatures', xid: msg.xid, datapath_id: this.opts.dpid, n_buffers: this.buffers.size, n_tables: this.tables.length,
          auxiliary_id: 0, capabilities: OFPC.FLOW_STATS | OFPC.TABLE_STATS | OFPC.PORT_STATS | OFPC.GROUP_STATS | OFPC.QUEUE_STATS,
        }];
      case 'OFPGetConfigRequest':
        return [{ type: 'OFPGetConfigReply', xid: msg.xid, flags: this.flags, miss_send_len: this.missSendLen }];
      case 'OFPSetConfig': {
        // fragments NORMAL or DROP only: REASM (and 3, which names no mode) would need reassembly
        const frag = msg.flags & OFPC_FRAG.MASK;
        if ((frag !== OFPC_FRAG.NORMAL && frag !== OFPC_FRAG.DROP) || msg.flags & ~(OFPC_FRAG.MASK | OF12_INVALID_TTL_TO_CONTROLLER)) {
          throw new OFPError(OFPET.SWITCH_CONFIG_FAILED, OFPSCFC.BAD_FLAGS, `flags 0x${msg.flags.toString(16)}: fragment reassembly is not supported`);
        }
        if ((msg.flags & OFPC_FRAG.MASK) !== (this.flags & OFPC_FRAG.MASK)) this.cache?.flush();
        this.flags = msg.flags;
        this.missSendLen = msg.miss_send_len;
        this.pipelineState.missSendLen = msg.miss_send_len;
        return [];
      }
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
        applyPortMod(this.ports.get(msg.port_no), msg, (r, reason) => this.portStatus(r, reason));
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
        if (msg.type.endsWith('StatsRequest')) {
          const src = { name: this.opts.name, maxFlows: this.maxFlows, tables: this.tables, groups: this.groups, meters: this.meters, ports: this.ports };
          return multipartReply(src, msg, this.now());
        }
        throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE, `${msg.type} is not a request a switch handles`);
    }
  }

  // ---- flow-mod ----

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
        checkInstructions(this.checkTarget, m.table_id, m.instructions);
        checkSetFieldPrereqs(m.match, m.instructions);
        if (m.flags & ~OFPFF_ALL) throw new OFPError(OFPET.FLOW_MOD_FAILED, OFPFMFC.BAD_FLAGS, `unknown flags 0x${m.flags.toString(16)}`);
        const before = table.select({ ...filter, cookieMask: 0n }, true); // ADD ignores cookie_mask
        const entry = table.add(
          { priority: m.priority, value, mask, match: m.match, cookie: m.cookie, idle_timeout: m.idle_timeout, hard_timeout: m.hard_timeout, flags: m.flags, instructions: m.instructions },
          now,
        );
        for (const old of before) if (old !== entry) this.unref(old.instructions);
        this.refs(m.instructions, 1);
        if (m.idle_timeout > 0 || m.hard_timeout > 0) this.expiry.schedule();
        break;
      }
      case OFPFC.MODIFY:
      case OFPFC.MODIFY_STRICT: {
        const [table] = this.tablesFor(m.table_id, false) as [FlowTable];
        checkInstructions(this.checkTarget, m.table_id, m.instructions);
        checkSetFieldPrereqs(m.match, m.instructions);
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

  private packetOut(m: MessageOf<'OFPPacketOut'>): void {
    const inPort = m.in_port;
    if (inPort !== OFPP.CONTROLLER && inPort !== OFPP.LOCAL && inPort !== OFPP.ANY && (inPort === 0 || inPort > OFPP.MAX)) {
      throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BAD_PORT, `packet-out in_port ${inPort} is not valid`);
    }
    checkActions(this.checkTarget, m.actions, true);
    let data = m.data;
    if (m.buffer_id !== OFP_NO_BUFFER) data = this.buffers.take(m.buffer_id, this.now()).data;
    this.pkt.reset(Buffer.from(data), inPort);
    this.pipeline.runActions(m.actions, this.pkt, this);
    this.flush();
  }

  // ---- introspection (switchctl) ----

  /** Runs a frame through the pipeline without sending or counting anything, recording every step. */
  trace(frame: Buffer, inPort: number): { steps: string[]; outputs: string[] } {
    return traceFrame(this.pipeline, frame, inPort);
  }

  dumpFlows(): string[] {
    this.cache?.sync();
    return flowLines(this.tables, this.now());
  }

  /**
   * A controller connection ended. With fail mode standalone and none left, MAC learning takes over from
   * the flow tables, so no cached decision of theirs may go on.
   */
  controllerLeft(): void {
    this.cache?.flush();
  }

  /** The flow cache's figures (switchctl status), or undefined without one. */
  cacheStats(): (FrameCacheStats & { readonly ports: number }) | undefined {
    return this.cache?.stats();
  }

  dumpPorts(): string[] {
    return portLines(this.ports.values());
  }
}

