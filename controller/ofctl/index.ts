/**
 * Ryu's ofctl for OpenFlow 1.3 (os-ken's lib/ofctl_v1_3.py and ofctl_utils.py), as pure functions: the JSON
 * that ofctl_rest clients send becomes OpenFlow messages, and the switch's replies become ofctl's JSON.
 * No sockets and no state; rest-ofctl.ts sends the messages.
 *
 * It follows os-ken key by key: the same names (old ones too: dl_dst, nw_src, tp_dst), the same defaults
 * (an OUTPUT without a port goes to ANY, a flow-mod without table_id to table 0), the same string forms
 * ("OUTPUT:2", "SET_FIELD: {eth_dst:aa:bb:cc:dd:ee:ff}", "WRITE_METADATA:0x1/0xff", dl_vlan "5" or
 * "0x1005/0x1fff") and the same quirks: apply-actions come last among the instructions, an empty
 * WRITE_ACTIONS disappears, a decimal vlan_vid gets OFPVID_PRESENT and a 0x-hex one does not, masked match
 * values are ANDed with their mask, table 254 reads "MAX".
 *
 * Where os-ken logs and skips bad input (an unknown match field, action type, band type or meter flag)
 * or fails later with a Python exception (a missing ethertype, a port number out of range), these raise
 * ControllerError('bad-request') naming the key path and the value, e.g.
 * `actions[1].port: "CONTROLER" is not a number or one of MAX, IN_PORT, ...`. Unknown keys are refused
 * the same way, so a typo cannot silently fall back to a default. Other deliberate differences: an
 * EXPERIMENTER action's ascii data is encoded (os-ken's serializer fails on it); reserved names are
 * accepted wherever a port, group, meter or queue number is (os-ken wants plain integers for bucket watch
 * ports and stats URLs); null means "absent"; the port-desc and group-desc ids filter (os-ken ignores them
 * before OpenFlow 1.5); Nicira actions that os-ken cannot format print as NX_UNKNOWN with their body.
 *
 * Requests and replies go through StatsQuery: `request` is the message to send, `parse` turns every reply
 * (all parts of a multipart reply) into the value ofctl_rest puts under the datapath id.
 *
 * The files, one per part of os-ken's ofctl_v1_3 (this index is what the rest of the controller imports):
 *   values.ts        shape checks, Python's int(), reserved numbers by name, addresses, 64-bit counters
 *   match.ts         to_match, match_to_str
 *   actions.ts       to_action(s), action(s)_to_str (instructions, Nicira actions)
 *   mods.ts          flow, group, meter and port mods, experimenter messages, role requests
 *   stats.ts         the stats requests and how their replies become ofctl's JSON (StatsQuery)
 *   switch-error.ts  a switch's OFPT_ERROR as JSON for an error answer
 *
 * May import: ../../openflow/index.js, ../../base/, ../errors.js (ControllerError). Pure: no sockets, no
 * state, nothing of the controller's framework (rest-ofctl.ts is the one that sends).
 */
export { portFromUser, show, strToInt } from './values.js';
export { matchToStr, toMatch } from './match.js';
export { toActions } from './actions.js';
export {
  FLOW_COMMANDS,
  GROUP_COMMANDS,
  METER_COMMANDS,
  type PortDefaults,
  clearFlowEntries,
  experimenterMessage,
  modFlowEntry,
  modGroupEntry,
  modMeterEntry,
  modPortBehavior,
  roleRequest,
} from './mods.js';
export {
  type StatsQuery,
  getAggregateFlowStats,
  getDescStats,
  getFlowStats,
  getGroupDesc,
  getGroupFeatures,
  getGroupStats,
  getMeterConfig,
  getMeterFeatures,
  getMeterStats,
  getPortDesc,
  getPortStats,
  getQueueConfig,
  getQueueStats,
  getRole,
  getTableFeatures,
  getTableStats,
} from './stats.js';
export { switchErrorJson } from './switch-error.js';
