/**
 * The OF1.3 learning switch (the equivalent of Ryu's simple_switch_13), as a pure app.
 *
 * On switch enter it installs a table-miss entry that sends whole frames to the controller
 * (OFPCML_NO_BUFFER). On a packet-in it learns source MAC → in-port per datapath; if the destination is
 * known it installs a flow (in_port, eth_dst, eth_src → output, with an idle timeout) and forwards the
 * packet, otherwise it floods it. Beyond Ryu's app: when a port goes down or away it forgets what it
 * learnt there and deletes its flows to and from that port, and it forgets a switch that leaves, and it
 * keeps at most `maxMacs` MACs per switch (the least recently seen go first): a switch that sends frames
 * from ever-new source MACs (a hostile one, or a MAC flood behind it) cannot grow the controller without
 * bound (found by fuzz/of-controller.ts).
 */
import { OFPP, OFPPS, OFP_NO_BUFFER, type OFPMessage, deleteFlows, flowMod, output, packetOut } from '../../openflow/index.js';
import type { App, AppContext } from '../app.js';

const ETH_TYPE_LLDP = 0x88cc;

export interface LearningOptions {
  /** idle_timeout of learnt flows, seconds (0: none). Default 30. */
  readonly idleTimeout?: number;
  /** Priority of learnt flows. Default 1. */
  readonly priority?: number;
  /** Table the flows go to. Default 0. */
  readonly tableId?: number;
  /** MACs remembered per switch; beyond it the least recently seen is forgotten. Default 8192. */
  readonly maxMacs?: number;
}

/** The table-miss flow: everything unmatched goes to the controller, unbuffered. */
export function tableMissFlow(tableId = 0): OFPMessage {
  return flowMod({ table_id: tableId, priority: 0, actions: [output(OFPP.CONTROLLER)] });
}

export function learning(opts: LearningOptions = {}): (ctx: AppContext) => App {
  const idle = opts.idleTimeout ?? 30;
  const priority = opts.priority ?? 1;
  const tableId = opts.tableId ?? 0;
  const maxMacs = opts.maxMacs ?? 8192;
  return (ctx) => {
    /** dpid → (MAC as a 48-bit number → port). */
    const tables = new Map<bigint, Map<number, number>>();
    /** Switches whose table has been full (warned once each). */
    const full = new Set<bigint>();
    const tableOf = (dpid: bigint): Map<number, number> => {
      let t = tables.get(dpid);
      if (!t) tables.set(dpid, (t = new Map()));
      return t;
    };
    const forgetPort = (dpid: bigint, port: number): OFPMessage[] => {
      const t = tables.get(dpid);
      if (t) for (const [mac, p] of t) if (p === port) t.delete(mac);
      // The flows go too: one towards a host that was behind this port would keep sending its traffic
      // into the dead port (and never idle out while that traffic flows), so the host could not be
      // learnt anew on another port.
      return [deleteFlows({ table_id: tableId, out_port: port }), deleteFlows({ table_id: tableId, match: { in_port: port } })];
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
          full.delete(dp.id);
        },
        portDelete: ({ dp, port }) => forgetPort(dp.id, port.port_no),
        portModify: ({ dp, port }) => ((port.state & OFPPS.LINK_DOWN) !== 0 ? forgetPort(dp.id, port.port_no) : undefined),
        packetIn: ({ dp, msg, inPort }) => {
          const frame = msg.data;
          if (frame.length < 14 || frame.readUInt16BE(12) === ETH_TYPE_LLDP) return;
          const table = tableOf(dp.id);
          const src = frame.readUIntBE(6, 6);
          // Deleted first so that a MAC seen again moves to the end of the Map's order (most recent).
          table.delete(src);
          table.set(src, inPort);
          if (table.size > maxMacs) {
            table.delete(table.keys().next().value as number);
            if (!full.has(dp.id)) {
              full.add(dp.id);
              ctx.log.warn({ dpid: dp.id.toString(16), maxMacs }, 'MAC table full: forgetting the least recently seen MACs');
            }
          }
          const known = table.get(frame.readUIntBE(0, 6));
          const actions = [output(known ?? OFPP.FLOOD)];
          if (known === undefined) return [packetOut({ packetIn: msg, actions })];
          const flow = flowMod({
            table_id: tableId, priority, idle_timeout: idle, buffer_id: msg.buffer_id, actions,
            match: { in_port: inPort, eth_dst: frame.subarray(0, 6), eth_src: frame.subarray(6, 12) },
          });
          // A buffered packet goes out with the flow-mod; only an unbuffered one needs a packet-out.
          return msg.buffer_id === OFP_NO_BUFFER ? [flow, packetOut({ packetIn: msg, actions })] : [flow];
        },
      },
    };
  };
}
