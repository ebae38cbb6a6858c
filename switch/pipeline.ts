/**
 * The OpenFlow pipeline (OF1.3 §5): tables in order from table 0; the matching entry's instructions in
 * the spec's order (meter, apply-actions, clear-actions, write-actions, write-metadata, goto-table);
 * the action set executed when a table sends the packet nowhere further; table-miss (no entry matched)
 * drops. Outputs and packet-ins go to an Emitter (the datapath), which resolves reserved ports and
 * batches frames per port. Groups (all / select / indirect / fast-failover) run their buckets on clones
 * of the packet. A TraceRecorder, when given, is told every step (switchctl trace).
 */
import {
  type Action,
  type Instruction,
  OFPIT,
  OFPP,
  OFPR,
  OFPTT,
} from '../openflow/index.js';
import { ActionSet, applyAction } from './actions.js';
import type { RunRecord } from './flow-cache.js';
import type { FlowEntry, FlowTable } from './flow-table.js';
import type { GroupTable } from './group-table.js';
import { FIELD_SLOTS, type FlowKey } from './key.js';
import { type MeterTable, raiseDropPrecedence } from './meter-table.js';
import { Packet } from './pipeline-packet.js';

/** Where the pipeline's results go. */
export interface Emitter {
  /** Sends the packet as it is now out of `port` (a port number or a reserved one: ALL, FLOOD, IN_PORT, LOCAL, TABLE…). */
  output(pkt: Packet, port: number, queue: number): void;
  /** Sends the packet to the controller. */
  toController(pkt: Packet, reason: number, tableId: number, cookie: bigint, maxLen: number): void;
}

export interface TraceRecorder {
  table(tableId: number, entry: FlowEntry | undefined): void;
  note(text: string): void;
}

export interface PipelineTables {
  readonly tables: readonly FlowTable[];
  readonly groups: GroupTable;
  readonly meters: MeterTable;
  /** Set-config miss_send_len: bytes of an invalid-TTL packet sent to the controller. */
  missSendLen: number;
}

const IP_DSCP = 'ip_dscp';
const MAX_GROUP_DEPTH = 32;

// ---- the flow hash for select groups ----------------------------------------------------------------

/** The key words of the named fields, in order (a field's words high first). */
function slotWords(...names: string[]): number[] {
  return names.flatMap((name) => {
    const s = FIELD_SLOTS.get(name);
    if (s === undefined) throw new Error(`pipeline.ts: the flow key has no field ${name}`);
    return Array.from({ length: s.words }, (_, i) => s.word + i);
  });
}

/**
 * One end of a conversation: its network address (IPv4, ARP's protocol address or IPv6; the key leaves
 * the others 0) and its transport port (TCP, UDP or SCTP; likewise). Word i of the source end pairs with
 * word i of the destination end.
 */
const SRC_END = slotWords('ipv4_src', 'arp_spa', 'ipv6_src', 'tcp_src', 'udp_src', 'sctp_src');
const DST_END = slotWords('ipv4_dst', 'arp_tpa', 'ipv6_dst', 'tcp_dst', 'udp_dst', 'sctp_dst');
const ETH_SRC = slotWords('eth_src');
const ETH_DST = slotWords('eth_dst');
/** What both directions share: the protocols, the VLAN and the labels that name the path. */
const SHARED = slotWords('eth_type', 'vlan_vid', 'ip_proto', 'mpls_label', 'pbb_isid');

/** Whether the key's words at `a` sort before or equal to those at `b` (the two lists pair up). */
function sortsFirst(key: FlowKey, a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = key[a[i] as number] as number;
    const y = key[b[i] as number] as number;
    if (x !== y) return x < y;
  }
  return true;
}

/** murmur3's per-word step: mixes one 32-bit word into the running hash. */
function mixWord(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mixWords(h: number, key: FlowKey, words: readonly number[]): number {
  for (const w of words) h = mixWord(h, key[w] as number);
  return h;
}

/** Mixes the two ends of a conversation in an order that does not depend on direction: the lower first. */
function mixEnds(h: number, key: FlowKey, a: readonly number[], b: readonly number[]): number {
  return sortsFirst(key, a, b) ? mixWords(mixWords(h, key, a), key, b) : mixWords(mixWords(h, key, b), key, a);
}

/** The words hashed per key, for murmur3's length step. */
const HASHED_WORDS = SRC_END.length + DST_END.length + ETH_SRC.length + ETH_DST.length + SHARED.length;

/**
 * The flow hash a select group chooses its bucket by (GroupTable.select scales it to the bucket
 * weights). It covers what names a conversation and nothing that changes within one: Ethernet
 * addresses, EtherType, VLAN id, MPLS label and PBB I-SID, IP protocol, and both ends' network address
 * with their transport port. DSCP, ECN, VLAN priority, MPLS TC, the IPv6 flow label, ICMP type and code,
 * metadata, tunnel id and the in port are left out, so a connection keeps its bucket when a meter
 * remarks it, a router marks ECN or it enters by another port: one connection's packets are never
 * spread over buckets (and reordered). The MPLS label is in because the key parses nothing below it.
 *
 * Symmetric, as OVS's default select hash (flow_hash_symmetric_l4) is: each pair of ends is hashed in
 * sorted order, so both directions of a conversation take the same bucket (stateful middleboxes behind
 * the buckets see both halves); MPLS, whose labels differ per direction, is the exception. Unlike OVS,
 * which XORs the two ends, the pair is ordered whole, address with its port, so nothing but the
 * direction is lost, and UDP ports count too (their source ports carry VXLAN's, Geneve's and QUIC's
 * entropy).
 *
 * The words go through murmur3_32's word steps and finaliser, so every input bit reaches every output
 * bit and the result is evenly spread even when flows differ in a few low bits (consecutive ports or
 * addresses). Non-first IPv4 fragments carry no ports in the key, so they may take another bucket than
 * their first fragment (OVS's l3l4 hash leaves ports out of every fragment; the OpenFlow 1.3 key has no
 * IPv4 fragment bit to do that with).
 */
export function flowHash(key: FlowKey): number {
  let h = 0x9747b28c;
  h = mixEnds(h, key, SRC_END, DST_END);
  h = mixEnds(h, key, ETH_SRC, ETH_DST);
  h = mixWords(h, key, SHARED);
  // murmur3's finaliser (fmix32) after the length
  h ^= HASHED_WORDS * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function isTableMiss(e: FlowEntry): boolean {
  return e.priority === 0 && e.match.length === 0;
}

export class Pipeline {
  private readonly actionSet = new ActionSet();

  constructor(
    private readonly t: PipelineTables,
    private readonly now: () => number,
  ) {}

  /**
   * Runs a packet through the tables from `startTable`. With a trace recorder the run is a dry run:
   * lookups bypass the cache and no counter, meter or timeout is touched. With a run record, it is told
   * each entry matched and anything a cached decision could not repeat (switch/flow-cache.ts).
   */
  run(pkt: Packet, emit: Emitter, startTable = 0, trace?: TraceRecorder, rec?: RunRecord): void {
    const set = this.actionSet;
    set.clear();
    let tableId = startTable;
    const now = this.now();
    for (;;) {
      const table = this.t.tables[tableId];
      if (!table) return;
      const entry = trace ? table.classify(pkt.key()) : table.lookup(pkt.key());
      trace?.table(tableId, entry);
      if (!entry) {
        rec?.inexact(); // the table's lookup count would go unseen
        trace?.note('no matching entry and no table-miss entry: dropped');
        return;
      }
      if (!trace) table.hit(entry, pkt.length, now);
      rec?.matched(table, entry);
      const reason = isTableMiss(entry) ? OFPR.NO_MATCH : OFPR.ACTION;
      const ctx: Ctx = { tableId, cookie: entry.cookie, reason, trace, rec };
      let next = -1;
      // the spec's order (§5.9), whatever order the flow-mod listed them in
      const list = entry.instructions;
      for (const rank of INSTRUCTION_ORDER) {
        for (const ins of list) {
          if (instructionRank(ins) !== rank) continue;
          const r = this.instruction(ins, pkt, emit, set, ctx);
          if (r === STOP) return;
          if (r >= 0) next = r;
        }
      }
      if (next < 0) break;
      tableId = next;
    }
    const actions = set.ordered();
    trace?.note(`action set: ${actions.map((a) => a.kind.replace(/^OFPAction/, '')).join(', ') || '(empty)'}`);
    // no single flow entry is responsible for the action set: packet-ins from it carry cookie -1 (§7.4.1)
    this.actions(actions, pkt, emit, { tableId, cookie: NO_COOKIE, reason: OFPR.ACTION, trace, rec }, 0);
  }

  /** Runs an action list (packet-out, apply-actions) without tables. */
  runActions(actions: readonly Action[], pkt: Packet, emit: Emitter, trace?: TraceRecorder): void {
    // no table: OFPTT_ALL stands for none, and a packet-in from here reports table 0 (datapath.ts)
    this.actions(actions, pkt, emit, { tableId: OFPTT.ALL, cookie: NO_COOKIE, reason: OFPR.ACTION, trace, rec: undefined }, 0);
  }

  /** Returns STOP to end the packet, a table id for goto, or -1. */
  private instruction(ins: Instruction, pkt: Packet, emit: Emitter, set: ActionSet, ctx: Ctx): number {
    switch (ins.kind) {
      case 'OFPInstructionMeter': {
        ctx.rec?.inexact();
        if (ctx.trace) {
          ctx.trace.note(`meter ${ins.meter_id}`);
          return -1;
        }
        const v = this.t.meters.meter(ins.meter_id, pkt.length, this.now());
        if (v.drop) return STOP;
        if (v.dscpRaise !== undefined && v.dscpRaise > 0) this.remark(pkt, v.dscpRaise);
        return -1;
      }
      case 'OFPInstructionActions':
        if (ins.type === OFPIT.APPLY_ACTIONS) return this.actions(ins.actions, pkt, emit, ctx, 0) ? -1 : STOP;
        if (ins.type === OFPIT.CLEAR_ACTIONS) set.clear();
        else if (ins.type === OFPIT.WRITE_ACTIONS) set.write(ins.actions);
        return -1;
      case 'OFPInstructionWriteMetadata': {
        const m = ins.metadata;
        const k = ins.metadata_mask;
        pkt.writeMetadata(Number(m >> 32n), Number(m & 0xffffffffn), Number(k >> 32n), Number(k & 0xffffffffn));
        return -1;
      }
      case 'OFPInstructionGotoTable':
        return ins.table_id;
      case 'OFPInstructionExperimenter':
        return -1;
    }
  }

  private remark(pkt: Packet, levels: number): void {
    const off = pkt.offsets();
    if (off.ipVersion === 0) return;
    const b = pkt.data;
    const tos = off.ipVersion === 4 ? (b[off.l3Off + 1] as number) : (((b[off.l3Off] as number) & 0x0f) << 4) | ((b[off.l3Off + 1] as number) >> 4);
    const dscp = tos >> 2;
    const raised = raiseDropPrecedence(dscp, levels);
    if (raised !== dscp) applyAction(pkt, { kind: 'OFPActionSetField', field: { field: IP_DSCP, value: raised } });
  }

  /** Executes actions in order; false when the packet is finished (invalid TTL). */
  private actions(actions: readonly Action[], pkt: Packet, emit: Emitter, ctx: Ctx, depth: number): boolean {
    let queue = 0xffffffff;
    for (const a of actions) {
      const r = applyAction(pkt, a);
      // a cached decision only sends the frame, unchanged, out of ports
      if (ctx.rec && (r.kind !== 'OFPActionOutput' || r.port === OFPP.CONTROLLER || r.port === OFPP.TABLE)) ctx.rec.inexact();
      switch (r.kind) {
        case 'OFPActionOutput':
          ctx.trace?.note(`output:${portName(r.port)}`);
          if (r.port === OFPP.CONTROLLER) emit.toController(pkt, ctx.reason, ctx.tableId, ctx.cookie, r.max_len);
          else emit.output(pkt, r.port, queue);
          break;
        case 'OFPActionGroup':
          this.group(r.group_id, pkt, emit, ctx, depth + 1);
          break;
        case 'OFPActionSetQueue':
          queue = r.queue_id;
          break;
        case 'invalid_ttl':
          ctx.trace?.note('invalid TTL');
          // OF1.3 dropped OF1.2's set-config flag OFPC_INVALID_TTL_TO_CONTROLLER: the packet-in is always
          // made, and each controller's async config (master mask bit OFPR_INVALID_TTL, off by default,
          // as in OVS) decides whether it gets one. The channel does that filtering.
          emit.toController(pkt, OFPR.INVALID_TTL, ctx.tableId, ctx.cookie, this.t.missSendLen);
          return false;
        case 'applied':
        case 'skipped':
        case 'unsupported':
          break;
      }
    }
    return true;
  }

  private group(groupId: number, pkt: Packet, emit: Emitter, ctx: Ctx, depth: number): void {
    if (depth > MAX_GROUP_DEPTH) return;
    const buckets = this.t.groups.select(groupId, flowHash(pkt.key()));
    ctx.trace?.note(`group ${groupId}: ${buckets.length} bucket(s)`);
    if (buckets.length === 0) return;
    if (!ctx.trace) this.t.groups.hit(groupId, buckets, pkt.length);
    const inGroup: Ctx = { ...ctx, cookie: NO_COOKIE }; // packet-ins from buckets carry cookie -1 (§7.4.1)
    for (const b of buckets) {
      // each bucket works on its own copy of the packet (OF1.3 §5.6.1)
      const copy = pkt.clone();
      this.actions(b.actions, copy, emit, inGroup, depth);
    }
  }
}

interface Ctx {
  readonly tableId: number;
  readonly cookie: bigint;
  readonly reason: number;
  readonly trace: TraceRecorder | undefined;
  readonly rec: RunRecord | undefined;
}

const STOP = -2;
const NO_COOKIE = 0xffffffffffffffffn;

/** Instruction types in execution order (§5.9): meter, apply, clear, write, write-metadata, goto. */
const INSTRUCTION_ORDER = [0, 1, 2, 3, 4, 5, 6] as const;
function instructionRank(ins: Instruction): number {
  switch (ins.kind) {
    case 'OFPInstructionMeter':
      return 0;
    case 'OFPInstructionActions':
      return ins.type === OFPIT.APPLY_ACTIONS ? 1 : ins.type === OFPIT.CLEAR_ACTIONS ? 2 : 3;
    case 'OFPInstructionWriteMetadata':
      return 4;
    case 'OFPInstructionGotoTable':
      return 5;
    case 'OFPInstructionExperimenter':
      return 6;
  }
}

export function portName(p: number): string {
  switch (p) {
    case OFPP.IN_PORT: return 'IN_PORT';
    case OFPP.TABLE: return 'TABLE';
    case OFPP.NORMAL: return 'NORMAL';
    case OFPP.FLOOD: return 'FLOOD';
    case OFPP.ALL: return 'ALL';
    case OFPP.CONTROLLER: return 'CONTROLLER';
    case OFPP.LOCAL: return 'LOCAL';
    case OFPP.ANY: return 'ANY';
    default: return String(p);
  }
}

export { Packet };
