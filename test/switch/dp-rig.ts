/**
 * A small rig for datapath tests kept apart from pipeline.test.ts: a real Datapath (four tables by
 * default) over in-memory ports (1–3 by default, switch/memory-port.ts), requests handled as the channel
 * would hand them over, frames in and the frames each port sent out. Message builders take only what a
 * test varies; the match and push/pop shorthands several tests share are here too.
 */
import { afterEach } from 'vitest';
import {
  type Action,
  type Bucket,
  type Instruction,
  type Match,
  type MessageOf,
  type OFPMessage,
  type OxmTlv,
  type OxmValue,
  OFPCML,
  OFPCR_ROLE,
  OFPFC,
  OFPG,
  OFPGC,
  OFPGT,
  OFPIT,
  OFPP,
  OFP_NO_BUFFER,
} from '../../openflow/index.js';
import { type Logger, nullLogger } from '../../base/logger.js';
import type { ControllerConnection } from '../../switch/channel.js';
import { Datapath } from '../../switch/datapath.js';
import { OFPError } from '../../switch/errors.js';
import { MemoryPort } from '../../switch/memory-port.js';

const CONN: ControllerConnection = { id: 'dp-rig', role: OFPCR_ROLE.EQUAL, send: () => undefined };
const LOG: Logger = nullLogger;

let xidSeq = 1;

export const m = (field: string, value: OxmValue, mask?: OxmValue): OxmTlv => (mask === undefined ? { field, value } : { field, value, mask });
export const sf = (field: string, value: OxmValue): Action => ({ kind: 'OFPActionSetField', field: { field, value } });
export const out = (port: number): Action => ({ kind: 'OFPActionOutput', port, max_len: OFPCML.NO_BUFFER });
export const apply = (...actions: Action[]): Instruction => ({ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions });
export const write = (...actions: Action[]): Instruction => ({ kind: 'OFPInstructionActions', type: OFPIT.WRITE_ACTIONS, actions });
export const goto = (table_id: number): Instruction => ({ kind: 'OFPInstructionGotoTable', table_id });

export const IP = m('eth_type', 0x0800);
export const IP6 = m('eth_type', 0x86dd);
export const MPLS = m('eth_type', 0x8847);
export const PBB = m('eth_type', 0x88e7);

export const pushVlan: Action = { kind: 'OFPActionPushVlan', ethertype: 0x8100 };
export const popVlan: Action = { kind: 'OFPActionPopVlan' };
export const pushMpls: Action = { kind: 'OFPActionPushMpls', ethertype: 0x8847 };
export const popMpls = (ethertype: number): Action => ({ kind: 'OFPActionPopMpls', ethertype });
export const pushPbb: Action = { kind: 'OFPActionPushPbb', ethertype: 0x88e7 };
export const popPbb: Action = { kind: 'OFPActionPopPbb' };

export interface FlowArgs {
  readonly table?: number;
  readonly match?: Match;
  readonly ins: readonly Instruction[];
  readonly command?: number;
  /** Default 0x8000. */
  readonly priority?: number;
  readonly idle?: number;
  readonly hard?: number;
  readonly cookie?: bigint;
  readonly flags?: number;
}

export function flowMod(f: FlowArgs): MessageOf<'OFPFlowMod'> {
  return {
    type: 'OFPFlowMod', xid: xidSeq++, cookie: f.cookie ?? 0n, cookie_mask: 0n, table_id: f.table ?? 0, command: f.command ?? OFPFC.ADD,
    idle_timeout: f.idle ?? 0, hard_timeout: f.hard ?? 0, priority: f.priority ?? 0x8000, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY,
    out_group: OFPG.ANY, flags: f.flags ?? 0, match: f.match ?? [], instructions: f.ins,
  };
}

export function addGroup(group_id: number, ...buckets: (readonly Action[])[]): MessageOf<'OFPGroupMod'> {
  const b = buckets.map((actions): Bucket => ({ weight: 0, watch_port: OFPP.ANY, watch_group: OFPG.ANY, actions }));
  return { type: 'OFPGroupMod', xid: xidSeq++, command: OFPGC.ADD, group_type: OFPGT.ALL, group_id, buckets: b };
}

export function packetOut(data: Buffer, actions: readonly Action[]): MessageOf<'OFPPacketOut'> {
  return { type: 'OFPPacketOut', xid: xidSeq++, buffer_id: OFP_NO_BUFFER, in_port: OFPP.CONTROLLER, actions, data };
}

/** The error a request was refused with, or 'accepted'. */
export type Outcome = { readonly errType: number; readonly code: number } | 'accepted';

export interface DpRigOptions {
  /** Port numbers (default 1, 2, 3). */
  readonly ports?: readonly number[];
  /** Default 4. */
  readonly tables?: number;
}

export class DpRig {
  readonly dp: Datapath;
  readonly ports = new Map<number, MemoryPort>();

  constructor(opts: DpRigOptions = {}) {
    this.dp = new Datapath({ name: 'dp-rig', dpid: 0x42n, tables: opts.tables ?? 4, failMode: 'secure', log: LOG, now: () => 1_000_000 });
    this.dp.attach({ connected: 1, sendAsync: () => 1 });
    for (const no of opts.ports ?? [1, 2, 3]) {
      const p = new MemoryPort({ name: `p${no}` });
      this.dp.addPort(p, no);
      this.ports.set(no, p);
    }
  }

  port(no: number): MemoryPort {
    const p = this.ports.get(no);
    if (p === undefined) throw new Error(`dp-rig: no port ${no}`);
    return p;
  }

  req(msg: OFPMessage): OFPMessage[] {
    return this.dp.handle(msg, CONN);
  }

  outcome(msg: OFPMessage): Outcome {
    try {
      this.req(msg);
      return 'accepted';
    } catch (e) {
      if (e instanceof OFPError) return { errType: e.errType, code: e.code };
      throw e;
    }
  }

  /** Installs flows; a refused one fails the test with its error. */
  add(...flows: FlowArgs[]): void {
    for (const f of flows) this.req(flowMod(f));
  }

  /** How many flows the switch holds, all tables. */
  flowCount(): number {
    const replies = this.req({ type: 'OFPFlowStatsRequest', xid: xidSeq++, flags: 0, table_id: 0xff, out_port: OFPP.ANY, out_group: OFPG.ANY, cookie: 0n, cookie_mask: 0n, match: [] });
    return replies.reduce((n, r) => n + (r.type === 'OFPFlowStatsReply' ? r.body.length : 0), 0);
  }

  /** What came out of each port (hex), ports that sent nothing left out. */
  collect(): Record<number, string[]> {
    const o: Record<number, string[]> = {};
    for (const [no, p] of this.ports) {
      const f = p.take();
      if (f.length > 0) o[no] = f.map((b) => b.toString('hex'));
    }
    return o;
  }

  /** One frame into port `no`; what came out of every port. */
  rx(no: number, frame: Buffer): Record<number, string[]> {
    this.collect();
    this.ports.get(no)?.inject([frame]);
    return this.collect();
  }

  stop(): void {
    this.dp.stop();
  }
}

/**
 * Call at the top of a test file: a factory of rigs, each stopped after the test that made it (a
 * datapath left running keeps its timers).
 */
export function useRigs(): (opts?: DpRigOptions) => DpRig {
  const rigs: DpRig[] = [];
  afterEach(() => {
    for (const r of rigs.splice(0)) r.stop();
  });
  return (opts) => {
    const r = new DpRig(opts);
    rigs.push(r);
    return r;
  };
}
