/**
 * The OF1.3 learning switch (the equivalent of Ryu's simple_switch_13), as a pure app.
 *
 * On switch enter it installs a table-miss entry that sends whole frames to the controller
 * (OFPCML_NO_BUFFER). On a packet-in it learns source MAC → in-port per datapath; if the destination is
 * known it installs a flow (in_port, eth_src, eth_dst → output, with an idle timeout) and forwards the
 * packet, otherwise it floods it. Beyond Ryu's app: it forgets what it learnt on a port that goes down
 * or away, and on a switch that leaves.
 */
import { type Action, OFPCML, OFPFC, OFPIT, OFPP, OFP_NO_BUFFER, type OFPMessage } from '../../openflow/index.js';
import { macToText } from '../../openflow/json.js';
import type { App, AppContext } from '../app.js';

const ETH_TYPE_LLDP = 0x88cc;
const OFPPS_LINK_DOWN = 1;

export interface LearningOptions {
  /** idle_timeout of learnt flows, seconds (0: none). Default 30. */
  readonly idleTimeout?: number;
  /** Priority of learnt flows. Default 1. */
  readonly priority?: number;
  /** Table the flows go to. Default 0. */
  readonly tableId?: number;
}

/** The table-miss flow: everything unmatched goes to the controller, unbuffered. */
export function tableMissFlow(tableId = 0): OFPMessage {
  return {
    type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: tableId, command: OFPFC.ADD,
    idle_timeout: 0, hard_timeout: 0, priority: 0, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: 0xffffffff,
    flags: 0, match: [],
    instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: OFPCML.NO_BUFFER }] }],
  };
}

export function learning(opts: LearningOptions = {}): (ctx: AppContext) => App {
  const idle = opts.idleTimeout ?? 30;
  const priority = opts.priority ?? 1;
  const tableId = opts.tableId ?? 0;
  return () => {
    /** dpid → (MAC as a 48-bit number → port). */
    const tables = new Map<bigint, Map<number, number>>();
    const forgetPort = (dpid: bigint, port: number): void => {
      const t = tables.get(dpid);
      if (!t) return;
      for (const [mac, p] of t) if (p === port) t.delete(mac);
    };
    return {
      name: 'learning',
      on: {
        switchEnter: ({ dp }) => {
          tables.set(dp.id, new Map());
          return [tableMissFlow(tableId)];
        },
        switchLeave: ({ dp }) => {
          tables.delete(dp.id);
        },
        portDelete: ({ dp, port }) => forgetPort(dp.id, port.port_no),
        portModify: ({ dp, port }) => {
          if ((port.state & OFPPS_LINK_DOWN) !== 0) forgetPort(dp.id, port.port_no);
        },
        packetIn: ({ dp, msg, inPort }) => {
          const frame = msg.data;
          if (frame.length < 14 || frame.readUInt16BE(12) === ETH_TYPE_LLDP) return;
          let table = tables.get(dp.id);
          if (!table) tables.set(dp.id, (table = new Map()));
          const dst = frame.readUIntBE(0, 6);
          const src = frame.readUIntBE(6, 6);
          table.set(src, inPort);
          const known = table.get(dst);
          const outPort = known ?? OFPP.FLOOD;
          const actions: Action[] = [{ kind: 'OFPActionOutput', port: outPort, max_len: 0 }];
          const out: OFPMessage[] = [];
          if (known !== undefined) {
            const flow: OFPMessage = {
              type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: tableId, command: OFPFC.ADD,
              idle_timeout: idle, hard_timeout: 0, priority, buffer_id: msg.buffer_id, out_port: OFPP.ANY,
              out_group: 0xffffffff, flags: 0,
              match: [
                { field: 'in_port', value: inPort },
                { field: 'eth_dst', value: macToText(frame, 0) },
                { field: 'eth_src', value: macToText(frame, 6) },
              ],
              instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions }],
            };
            out.push(flow);
            // A buffered packet goes out with the flow-mod; only an unbuffered one needs a packet-out.
            if (msg.buffer_id !== OFP_NO_BUFFER) return out;
          }
          out.push({
            type: 'OFPPacketOut', xid: 0, buffer_id: msg.buffer_id, in_port: inPort, actions,
            data: msg.buffer_id === OFP_NO_BUFFER ? frame : Buffer.alloc(0),
          });
          return out;
        },
      },
    };
  };
}
