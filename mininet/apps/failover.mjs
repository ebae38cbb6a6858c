/**
 * A tinflow controller app for the Mininet failover scenario: static forwarding with fast-failover
 * groups, and a log of the port events the controller receives.
 *
 *   TINFLOW_FAILOVER_CONFIG=cfg.json tinflow controller --app mininet/apps/failover.mjs
 *
 * cfg.json:
 *   {
 *     "events": "/tmp/.../events.jsonl",           // one JSON line per event (appended)
 *     "switches": {                                 // by datapath id, decimal
 *       "1": { "groups": [{ "id": 1, "buckets": [2, 3] }],   // OFPGT_FF: bucket i outputs to and watches port i
 *              "flows":  [{ "in_port": 1, "group": 1 }, { "in_port": 2, "output": 1 }] }
 *     }
 *   }
 *
 * On switch enter it deletes every flow and group, adds the groups, then the flows (in_port → output
 * or group, priority 10), each checked with a barrier, and logs {"event": "configured"} once the switch
 * accepted all of it (or {"event": "error"}). Port add/delete/modify, switch enter/leave are logged with
 * the port's number, name, state and config. Nothing is sent on packet-in: there is no table-miss flow,
 * so a redundant topology cannot loop.
 */
import { appendFileSync, readFileSync } from 'node:fs';

const OFPFC_ADD = 0;
const OFPFC_DELETE = 3;
const OFPGC_ADD = 0;
const OFPGC_DELETE = 2;
const OFPGT_FF = 3;
const OFPG_ANY = 0xffffffff;
const OFPG_ALL = 0xfffffffc;
const OFPP_ANY = 0xffffffff;
const OFPTT_ALL = 0xff;
const OFP_NO_BUFFER = 0xffffffff;
const OFPIT_APPLY_ACTIONS = 4;

const output = (port) => ({ kind: 'OFPActionOutput', port, max_len: 0 });

function flowMod(command, tableId, priority, match, actions) {
  return {
    type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: tableId, command, idle_timeout: 0, hard_timeout: 0,
    priority, buffer_id: OFP_NO_BUFFER, out_port: OFPP_ANY, out_group: OFPG_ANY, flags: 0, match,
    instructions: actions ? [{ kind: 'OFPInstructionActions', type: OFPIT_APPLY_ACTIONS, actions }] : [],
  };
}

function groupMod(command, groupId, buckets) {
  return { type: 'OFPGroupMod', xid: 0, command, group_type: OFPGT_FF, group_id: groupId, buckets };
}

/** The messages that configure one switch, in order. */
export function configure(sw) {
  const msgs = [flowMod(OFPFC_DELETE, OFPTT_ALL, 0, [], undefined), groupMod(OFPGC_DELETE, OFPG_ALL, [])];
  for (const g of sw.groups ?? []) {
    msgs.push(groupMod(OFPGC_ADD, g.id, g.buckets.map((p) => ({ weight: 0, watch_port: p, watch_group: OFPG_ANY, actions: [output(p)] }))));
  }
  for (const f of sw.flows ?? []) {
    const action = f.group !== undefined ? { kind: 'OFPActionGroup', group_id: f.group } : output(f.output);
    msgs.push(flowMod(OFPFC_ADD, 0, 10, [{ field: 'in_port', value: f.in_port }], [action]));
  }
  return msgs;
}

export default function failover(ctx) {
  const path = process.env.TINFLOW_FAILOVER_CONFIG;
  if (!path) throw new Error('failover app: set TINFLOW_FAILOVER_CONFIG to its JSON configuration');
  const cfg = JSON.parse(readFileSync(path, 'utf8'));
  const record = (event, dp, extra = {}) => {
    appendFileSync(cfg.events, JSON.stringify({ t: ctx.now(), event, dpid: dp.id.toString(), ...extra }) + '\n');
  };
  const portEvent = (event) => ({ dp, port }) => {
    record(event, dp, { port_no: port.port_no, name: port.name, state: port.state, config: port.config });
  };
  return {
    name: 'failover',
    on: {
      switchEnter: async ({ dp }) => {
        record('switchEnter', dp);
        const sw = cfg.switches[dp.id.toString()];
        if (!sw) return;
        try {
          for (const msg of configure(sw)) await dp.request(msg);
          record('configured', dp);
        } catch (e) {
          record('error', dp, { error: e.message });
          throw e;
        }
      },
      switchLeave: ({ dp, reason }) => record('switchLeave', dp, { reason }),
      portAdd: portEvent('portAdd'),
      portDelete: portEvent('portDelete'),
      portModify: portEvent('portModify'),
    },
  };
}
