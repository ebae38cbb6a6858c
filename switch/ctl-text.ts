/**
 * What `tinflow switchctl` prints about a datapath (ctl.ts serves it): its flows one per line, its ports
 * with their counters, and a frame traced through the pipeline step by step without being sent or
 * counted. Text for people, not a format for programs.
 *
 * May import: openflow/index.ts and the switch parts it reads (flow-table.ts, flow-messages.ts,
 * datapath-ports.ts, pipeline.ts, pipeline-packet.ts).
 */
import { type Instruction, OFPIT, OFPP } from '../openflow/index.js';
import type { PortRec } from './datapath-ports.js';
import { flowStats } from './flow-messages.js';
import type { FlowEntry, FlowTable } from './flow-table.js';
import type { Emitter, Pipeline, TraceRecorder } from './pipeline.js';
import { Packet } from './pipeline-packet.js';

/** Runs a frame through the pipeline without sending or counting anything, recording every step. */
export function traceFrame(pipeline: Pipeline, frame: Buffer, inPort: number): { steps: string[]; outputs: string[] } {
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
  pipeline.run(pkt, emitter, 0, rec);
  return { steps, outputs };
}

/** Every flow of every table, one line each (`now`: the datapath's clock, for durations). */
export function flowLines(tables: readonly FlowTable[], now: number): string[] {
  const lines: string[] = [];
  for (const t of tables) {
    for (const e of t.entries()) {
      const s = flowStats(e, now);
      lines.push(
        `table=${t.tableId} priority=${e.priority} cookie=0x${e.cookie.toString(16)} n_packets=${s.packet_count} n_bytes=${s.byte_count} duration=${s.duration_sec}s ${matchText(e)} actions=${instructionsText(e.instructions)}`,
      );
    }
  }
  return lines;
}

/** Every port, by number, one line each. */
export function portLines(ports: Iterable<PortRec>): string[] {
  return [...ports].sort((a, b) => a.no - b.no).map((r) => {
    const c = r.port.counters();
    const l = r.port.linkState();
    return `port ${r.no === OFPP.LOCAL ? 'LOCAL' : r.no} ${r.port.name} ${r.port.hwAddr} ${l.up ? 'up' : 'down'}${l.carrier ? '' : ' no-carrier'} rx ${c.rxPackets} pkts ${c.rxBytes} bytes ${c.rxDropped} drop; tx ${c.txPackets} pkts ${c.txBytes} bytes ${c.txDropped} drop`;
  });
}

function matchText(e: FlowEntry): string {
  return e.match.map((t) => `${t.field}=${String(t.value)}${t.mask !== undefined ? '/' + String(t.mask) : ''}`).join(',') || '(all)';
}

function instructionsText(ins: readonly Instruction[]): string {
  return ins
    .map((i) => {
      switch (i.kind) {
        case 'OFPInstructionActions':
          return `${i.type === OFPIT.WRITE_ACTIONS ? 'write' : i.type === OFPIT.APPLY_ACTIONS ? 'apply' : 'clear'}(${i.actions.map((a) => a.kind.replace(/^OFPAction/, '') + (a.kind === 'OFPActionOutput' ? `:${a.port}` : '')).join(',')})`;
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
