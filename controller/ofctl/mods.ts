/**
 * ofctl's commands: the bodies of ofctl_rest's POSTs → flow-mod, group-mod, meter-mod, port-mod,
 * experimenter and role request messages (mod_flow_entry, mod_group_entry, ...).
 */
import {
  type Bucket,
  type Json,
  type MeterBand,
  type MessageOf,
  OFPCR_ROLE,
  OFPG,
  OFPGT,
  OFPMF,
  OFPP,
  OFPTT,
  OFP_NO_BUFFER,
} from '../../openflow/index.js';
import { at } from '../../base/json.js';
import {
  addrBytes,
  asList,
  asObj,
  asText,
  bad,
  bufferFromUser,
  DPID,
  get,
  groupFromUser,
  meterFromUser,
  onlyKeys,
  portFromUser,
  roleFromUser,
  show,
  tableFromUser,
  uint64,
  uintN,
} from './values.js';
import { actionOnly, experimenterData, toActions } from './actions.js';
import { toMatch } from './match.js';

export const FLOW_COMMANDS: Readonly<Record<string, number>> = { add: 0, modify: 1, modify_strict: 2, delete: 3, delete_strict: 4 };
export const GROUP_COMMANDS: Readonly<Record<string, number>> = { add: 0, modify: 1, delete: 2 };
export const METER_COMMANDS: Readonly<Record<string, number>> = { add: 0, modify: 1, delete: 2 };

const FLOW_KEYS = [DPID, 'cookie', 'cookie_mask', 'table_id', 'idle_timeout', 'hard_timeout', 'priority', 'buffer_id', 'out_port', 'out_group', 'flags', 'match', 'actions'];

/** ofctl_v1_3.mod_flow_entry. */
export function modFlowEntry(flowJ: Json | undefined, command: number, path = ''): MessageOf<'OFPFlowMod'> {
  const flow = asObj(flowJ, path);
  onlyKeys(flow, FLOW_KEYS, path, 'a flow entry');
  const g = (k: string, dflt: Json): Json => get(flow, k) ?? dflt;
  return {
    type: 'OFPFlowMod',
    xid: 0,
    cookie: uint64(g('cookie', 0), at(path, 'cookie')),
    cookie_mask: uint64(g('cookie_mask', 0), at(path, 'cookie_mask')),
    table_id: tableFromUser(g('table_id', 0), at(path, 'table_id')),
    command,
    idle_timeout: uintN(g('idle_timeout', 0), 16, at(path, 'idle_timeout')),
    hard_timeout: uintN(g('hard_timeout', 0), 16, at(path, 'hard_timeout')),
    priority: uintN(g('priority', 0), 16, at(path, 'priority')),
    buffer_id: bufferFromUser(g('buffer_id', OFP_NO_BUFFER), at(path, 'buffer_id')),
    out_port: portFromUser(g('out_port', OFPP.ANY), at(path, 'out_port')),
    out_group: groupFromUser(g('out_group', OFPG.ANY), at(path, 'out_group')),
    flags: uintN(g('flags', 0), 16, at(path, 'flags')),
    match: toMatch(g('match', {}), at(path, 'match')),
    instructions: toActions(g('actions', []), at(path, 'actions')),
  };
}

/** DELETE /stats/flowentry/clear: every flow of every table. */
export function clearFlowEntries(): MessageOf<'OFPFlowMod'> {
  return modFlowEntry({ table_id: OFPTT.ALL }, FLOW_COMMANDS['delete'] as number);
}

const GROUP_TYPES: Readonly<Record<string, number>> = { ALL: OFPGT.ALL, SELECT: OFPGT.SELECT, INDIRECT: OFPGT.INDIRECT, FF: OFPGT.FF };

/** ofctl_v1_3.mod_group_entry. (os-ken reads watch_port/watch_group as plain integers; names are accepted here too.) */
export function modGroupEntry(groupJ: Json | undefined, command: number, path = ''): MessageOf<'OFPGroupMod'> {
  const group = asObj(groupJ, path);
  onlyKeys(group, [DPID, 'type', 'group_id', 'buckets'], path, 'a group entry');
  const typeName = get(group, 'type') ?? 'ALL';
  const groupType = typeof typeName === 'string' && Object.hasOwn(GROUP_TYPES, typeName) ? GROUP_TYPES[typeName] : undefined;
  if (groupType === undefined) throw bad(at(path, 'type'), `unknown group type ${show(typeName)}; expected ${Object.keys(GROUP_TYPES).join(', ')}`);
  const bp = at(path, 'buckets');
  const buckets = asList(get(group, 'buckets') ?? [], bp).map((bJ, i): Bucket => {
    const p = at(bp, i);
    const b = asObj(bJ, p);
    onlyKeys(b, ['weight', 'watch_port', 'watch_group', 'actions'], p, 'a bucket');
    const ap = at(p, 'actions');
    return {
      weight: uintN(get(b, 'weight') ?? 0, 16, at(p, 'weight')),
      watch_port: portFromUser(get(b, 'watch_port') ?? OFPP.ANY, at(p, 'watch_port')),
      watch_group: groupFromUser(get(b, 'watch_group') ?? OFPG.ANY, at(p, 'watch_group')),
      actions: asList(get(b, 'actions') ?? [], ap).map((a, j) => actionOnly(a, at(ap, j), 'buckets')),
    };
  });
  return {
    type: 'OFPGroupMod',
    xid: 0,
    command,
    group_type: groupType,
    group_id: groupFromUser(get(group, 'group_id') ?? 0, at(path, 'group_id')),
    buckets,
  };
}

const METER_FLAGS: Readonly<Record<string, number>> = { KBPS: OFPMF.KBPS, PKTPS: OFPMF.PKTPS, BURST: OFPMF.BURST, STATS: OFPMF.STATS };

/** ofctl_v1_3.mod_meter_entry. */
export function modMeterEntry(meterJ: Json | undefined, command: number, path = ''): MessageOf<'OFPMeterMod'> {
  const meter = asObj(meterJ, path);
  onlyKeys(meter, [DPID, 'flags', 'meter_id', 'bands'], path, 'a meter entry');
  let flags = 0;
  const fj = get(meter, 'flags');
  if (fj !== undefined) {
    const fp = at(path, 'flags');
    const list = Array.isArray(fj) ? (fj as readonly Json[]) : [fj];
    list.forEach((f, i) => {
      const v = typeof f === 'string' && Object.hasOwn(METER_FLAGS, f) ? METER_FLAGS[f] : undefined;
      if (v === undefined) throw bad(Array.isArray(fj) ? at(fp, i) : fp, `unknown meter flag ${show(f)}; expected ${Object.keys(METER_FLAGS).join(', ')}`);
      flags |= v;
    });
  }
  const bp = at(path, 'bands');
  const bands = asList(get(meter, 'bands') ?? [], bp).map((bJ, i): MeterBand => {
    const p = at(bp, i);
    const b = asObj(bJ, p);
    const t = get(b, 'type');
    const rate = (): number => uintN(get(b, 'rate') ?? 0, 32, at(p, 'rate'));
    const burst = (): number => uintN(get(b, 'burst_size') ?? 0, 32, at(p, 'burst_size'));
    switch (t) {
      case 'DROP':
        onlyKeys(b, ['type', 'rate', 'burst_size'], p, 'a DROP band');
        return { kind: 'OFPMeterBandDrop', rate: rate(), burst_size: burst() };
      case 'DSCP_REMARK':
        onlyKeys(b, ['type', 'rate', 'burst_size', 'prec_level'], p, 'a DSCP_REMARK band');
        return { kind: 'OFPMeterBandDscpRemark', rate: rate(), burst_size: burst(), prec_level: uintN(get(b, 'prec_level') ?? 0, 8, at(p, 'prec_level')) };
      case 'EXPERIMENTER':
        onlyKeys(b, ['type', 'rate', 'burst_size', 'experimenter'], p, 'an EXPERIMENTER band');
        return { kind: 'OFPMeterBandExperimenter', rate: rate(), burst_size: burst(), experimenter: uintN(get(b, 'experimenter') ?? 0, 32, at(p, 'experimenter')) };
      default:
        throw bad(at(p, 'type'), t === undefined ? 'missing' : `unknown band type ${show(t)}; expected DROP, DSCP_REMARK, EXPERIMENTER`);
    }
  });
  return { type: 'OFPMeterMod', xid: 0, command, flags, meter_id: meterFromUser(get(meter, 'meter_id') ?? 0, at(path, 'meter_id')), bands };
}

/** What POST /stats/portdesc/modify takes from the switch's port when the body leaves it out. */
export interface PortDefaults {
  readonly hw_addr: string;
  readonly advertised: number;
}

/**
 * ofctl_v1_3.mod_port_behavior. ofctl_rest fills hw_addr and advertise from the port the switch reported
 * (dpset.port_state); `current` is that port.
 */
export function modPortBehavior(cfgJ: Json | undefined, current: PortDefaults | undefined, path = ''): MessageOf<'OFPPortMod'> {
  const cfg = asObj(cfgJ, path);
  onlyKeys(cfg, [DPID, 'port_no', 'hw_addr', 'config', 'mask', 'advertise'], path, 'a port modification');
  const hwPath = at(path, 'hw_addr');
  const hw = get(cfg, 'hw_addr') ?? current?.hw_addr;
  if (hw === undefined) throw bad(hwPath, 'missing');
  const hwText = asText(hw, hwPath);
  addrBytes('mac', hwText, hwPath);
  const adv = get(cfg, 'advertise') ?? current?.advertised;
  return {
    type: 'OFPPortMod',
    xid: 0,
    port_no: portFromUser(get(cfg, 'port_no') ?? 0, at(path, 'port_no')),
    hw_addr: hwText.toLowerCase(),
    config: uintN(get(cfg, 'config') ?? 0, 32, at(path, 'config')),
    mask: uintN(get(cfg, 'mask') ?? 0, 32, at(path, 'mask')),
    advertise: uintN(adv, 32, at(path, 'advertise')),
  };
}

/** ofctl_utils.send_experimenter: an OFPT_EXPERIMENTER message with ascii or base64 data. */
export function experimenterMessage(expJ: Json | undefined, path = ''): MessageOf<'OFPExperimenter'> {
  const exp = asObj(expJ, path);
  onlyKeys(exp, [DPID, 'experimenter', 'exp_type', 'data_type', 'data'], path, 'an experimenter message');
  return {
    type: 'OFPExperimenter',
    xid: 0,
    experimenter: uintN(get(exp, 'experimenter') ?? 0, 32, at(path, 'experimenter')),
    exp_type: uintN(get(exp, 'exp_type') ?? 0, 32, at(path, 'exp_type')),
    data: experimenterData(exp, path),
  };
}

/** ofctl_v1_3.set_role (generation id 0, as os-ken sends it). */
export function roleRequest(roleJ: Json | undefined, path = ''): MessageOf<'OFPRoleRequest'> {
  const o = asObj(roleJ, path);
  onlyKeys(o, [DPID, 'role'], path, 'a role request');
  return { type: 'OFPRoleRequest', xid: 0, role: roleFromUser(get(o, 'role') ?? OFPCR_ROLE.EQUAL, at(path, 'role')), generation_id: 0n };
}
