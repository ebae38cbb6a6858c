/**
 * ofctl's actions and instructions: to_action / to_actions (ofctl's flat list → instructions, plain
 * actions gathered into one APPLY_ACTIONS placed last) and action_to_str / actions_to_str (back to
 * ofctl's strings, Nicira actions included).
 */
import {
  type Action,
  type Instruction,
  type Json,
  type MessageOf,
  type OxmTlv,
  type OxmValue,
  OFPCML,
  OFPIT,
  OFPP,
  OFP_NO_BUFFER,
  OXM_BY_NAME,
  encode,
} from '../../openflow/index.js';
import { at } from '../../base/json.js';
import type { ControllerError } from '../errors.js';
import {
  type Obj,
  addrBytes,
  addrText,
  asList,
  asObj,
  assertNever,
  asText,
  bad,
  cmlFromUser,
  get,
  groupFromUser,
  groupToUser,
  inRange,
  meterFromUser,
  meterToUser,
  onlyKeys,
  oxmInt,
  portFromUser,
  portToUser,
  queueFromUser,
  queueToUser,
  show,
  strToInt,
  tableFromUser,
  tableToUser,
  uint64,
  uintN,
} from './values.js';

/** Keys each action or instruction type takes, besides "type". */
const ACTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  OUTPUT: ['port', 'max_len'],
  COPY_TTL_OUT: [],
  COPY_TTL_IN: [],
  SET_MPLS_TTL: ['mpls_ttl'],
  DEC_MPLS_TTL: [],
  PUSH_VLAN: ['ethertype'],
  POP_VLAN: [],
  PUSH_MPLS: ['ethertype'],
  POP_MPLS: ['ethertype'],
  SET_QUEUE: ['queue_id'],
  GROUP: ['group_id'],
  SET_NW_TTL: ['nw_ttl'],
  DEC_NW_TTL: [],
  SET_FIELD: ['field', 'value'],
  PUSH_PBB: ['ethertype'],
  POP_PBB: [],
  EXPERIMENTER: ['experimenter', 'data_type', 'data'],
};
const INSTRUCTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  WRITE_ACTIONS: ['actions'],
  CLEAR_ACTIONS: [],
  GOTO_TABLE: ['table_id'],
  WRITE_METADATA: ['metadata', 'metadata_mask'],
  METER: ['meter_id'],
};

function actionType(dic: Obj, path: string): string {
  const t = get(dic, 'type');
  if (t === undefined) throw bad(at(path, 'type'), 'missing');
  if (typeof t !== 'string') throw bad(at(path, 'type'), `expected an action type name, got ${show(t)}`);
  return t;
}

function unknownType(t: string, path: string, instructions: boolean): ControllerError {
  if (t === 'COPY_FIELD') return bad(at(path, 'type'), 'COPY_FIELD is an OpenFlow 1.5 action; this is OpenFlow 1.3');
  const names = [...Object.keys(ACTION_KEYS), ...(instructions ? Object.keys(INSTRUCTION_KEYS) : [])];
  return bad(at(path, 'type'), `unknown action type ${show(t)}; expected one of ${names.join(', ')}`);
}

/** A set-field value in the field's own form: text for addresses, an integer otherwise. */
function setFieldTlv(dic: Obj, path: string): OxmTlv {
  const name = asText(get(dic, 'field'), at(path, 'field'));
  const def = OXM_BY_NAME.get(name);
  if (!def) throw bad(at(path, 'field'), `unknown field ${show(name)}`);
  const vp = at(path, 'value');
  const v = get(dic, 'value');
  if (def.kind === 'mac' || def.kind === 'ipv4' || def.kind === 'ipv6') {
    return { field: name, value: addrText(def.kind, addrBytes(def.kind, asText(v, vp), vp)) };
  }
  if (def.kind !== 'uint') throw bad(at(path, 'field'), `${name} cannot be set by ofctl`);
  return { field: name, value: oxmInt(inRange(strToInt(v, vp), def.size * 8, vp, v), def.size) };
}

export function experimenterData(dic: Obj, path: string): Buffer {
  const dataType = get(dic, 'data_type') ?? 'ascii';
  const data = asText(get(dic, 'data') ?? '', at(path, 'data'));
  if (dataType === 'base64') {
    if (data.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw bad(at(path, 'data'), `${show(data)} is not base64`);
    return Buffer.from(data, 'base64');
  }
  if (dataType === 'ascii') {
    // os-ken hands the text on unencoded and its serializer fails; encoding it is what the caller meant
    if (![...data].every((c) => c.charCodeAt(0) < 0x80)) throw bad(at(path, 'data'), `${show(data)} is not ASCII`);
    return Buffer.from(data, 'ascii');
  }
  throw bad(at(path, 'data_type'), `unknown data type ${show(dataType)}; expected ascii or base64`);
}

/**
 * ofctl_utils.to_action for one action. Instruction types (GOTO_TABLE, ...) return undefined, as in
 * os-ken, for to_actions to handle; anything else unknown is an error.
 */
function toAction(dicJ: Json | undefined, path: string): Action | undefined {
  const dic = asObj(dicJ, path);
  const t = actionType(dic, path);
  const keys = ACTION_KEYS[t];
  if (keys === undefined) {
    const ik = INSTRUCTION_KEYS[t];
    if (ik === undefined) throw unknownType(t, path, true);
    onlyKeys(dic, ['type', ...ik], path, `a ${t} instruction`);
    return undefined;
  }
  onlyKeys(dic, ['type', ...keys], path, `a ${t} action`);
  const ethertype = (): number => uintN(get(dic, 'ethertype'), 16, at(path, 'ethertype'));
  switch (t) {
    case 'OUTPUT':
      return {
        kind: 'OFPActionOutput',
        port: portFromUser(get(dic, 'port') ?? OFPP.ANY, at(path, 'port')),
        max_len: cmlFromUser(get(dic, 'max_len') ?? OFPCML.MAX, at(path, 'max_len')),
      };
    case 'COPY_TTL_OUT':
      return { kind: 'OFPActionCopyTtlOut' };
    case 'COPY_TTL_IN':
      return { kind: 'OFPActionCopyTtlIn' };
    case 'SET_MPLS_TTL':
      return { kind: 'OFPActionSetMplsTtl', mpls_ttl: uintN(get(dic, 'mpls_ttl'), 8, at(path, 'mpls_ttl')) };
    case 'DEC_MPLS_TTL':
      return { kind: 'OFPActionDecMplsTtl' };
    case 'PUSH_VLAN':
      return { kind: 'OFPActionPushVlan', ethertype: ethertype() };
    case 'POP_VLAN':
      return { kind: 'OFPActionPopVlan' };
    case 'PUSH_MPLS':
      return { kind: 'OFPActionPushMpls', ethertype: ethertype() };
    case 'POP_MPLS':
      return { kind: 'OFPActionPopMpls', ethertype: ethertype() };
    case 'SET_QUEUE':
      return { kind: 'OFPActionSetQueue', queue_id: queueFromUser(get(dic, 'queue_id'), at(path, 'queue_id')) };
    case 'GROUP':
      return { kind: 'OFPActionGroup', group_id: groupFromUser(get(dic, 'group_id'), at(path, 'group_id')) };
    case 'SET_NW_TTL':
      return { kind: 'OFPActionSetNwTtl', nw_ttl: uintN(get(dic, 'nw_ttl'), 8, at(path, 'nw_ttl')) };
    case 'DEC_NW_TTL':
      return { kind: 'OFPActionDecNwTtl' };
    case 'SET_FIELD':
      return { kind: 'OFPActionSetField', field: setFieldTlv(dic, path) };
    case 'PUSH_PBB':
      return { kind: 'OFPActionPushPbb', ethertype: ethertype() };
    case 'POP_PBB':
      return { kind: 'OFPActionPopPbb' };
    case 'EXPERIMENTER': {
      const data = experimenterData(dic, path);
      // os-ken pads the data with zeros to a multiple of 8 and counts the padding in the action's length
      const padded = Buffer.alloc(Math.ceil(data.length / 8) * 8);
      data.copy(padded);
      return { kind: 'OFPActionExperimenterUnknown', experimenter: uintN(get(dic, 'experimenter'), 32, at(path, 'experimenter')), data: padded };
    }
    default:
      throw unknownType(t, path, true);
  }
}

/** An action where only actions may stand (buckets, WRITE_ACTIONS): os-ken skips the others silently. */
export function actionOnly(dic: Json | undefined, path: string, where: string): Action {
  const a = toAction(dic, path);
  if (a === undefined) throw bad(at(path, 'type'), `${show(asObj(dic, path)['type'])} is an instruction; ${where} take actions only`);
  return a;
}

/**
 * ofctl_v1_3.to_actions: ofctl's flat list of actions and instruction-like entries → instructions.
 * Instructions keep their order; the plain actions are gathered into one APPLY_ACTIONS placed last.
 */
export function toActions(actsJ: Json | undefined, path = 'actions'): Instruction[] {
  const inst: Instruction[] = [];
  const actions: Action[] = [];
  asList(actsJ, path).forEach((a, i) => {
    const p = at(path, i);
    const action = toAction(a, p);
    if (action !== undefined) {
      actions.push(action);
      return;
    }
    const dic = asObj(a, p);
    const t = actionType(dic, p);
    switch (t) {
      case 'WRITE_ACTIONS': {
        const wp = at(p, 'actions');
        const write = asList(get(dic, 'actions'), wp).map((w, j) => actionOnly(w, at(wp, j), 'WRITE_ACTIONS'));
        if (write.length) inst.push({ kind: 'OFPInstructionActions', type: OFPIT.WRITE_ACTIONS, actions: write });
        break;
      }
      case 'CLEAR_ACTIONS':
        inst.push({ kind: 'OFPInstructionActions', type: OFPIT.CLEAR_ACTIONS, actions: [] });
        break;
      case 'GOTO_TABLE':
        inst.push({ kind: 'OFPInstructionGotoTable', table_id: tableFromUser(get(dic, 'table_id'), at(p, 'table_id')) });
        break;
      case 'WRITE_METADATA': {
        const mask = get(dic, 'metadata_mask');
        inst.push({
          kind: 'OFPInstructionWriteMetadata',
          metadata: uint64(get(dic, 'metadata'), at(p, 'metadata')),
          metadata_mask: mask === undefined ? 0xffffffffffffffffn : uint64(mask, at(p, 'metadata_mask')),
        });
        break;
      }
      case 'METER':
        inst.push({ kind: 'OFPInstructionMeter', meter_id: meterFromUser(get(dic, 'meter_id'), at(p, 'meter_id')) });
        break;
      default:
        throw unknownType(t, p, true);
    }
  });
  if (actions.length) inst.push({ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions });
  return inst;
}

/** The wire bytes of one action, from a packet-out that carries only it (the codec encodes messages). */
function actionBytes(a: Action): Buffer {
  const msg: MessageOf<'OFPPacketOut'> = { type: 'OFPPacketOut', xid: 0, buffer_id: OFP_NO_BUFFER, in_port: OFPP.CONTROLLER, actions: [a], data: Buffer.alloc(0) };
  return encode(msg).subarray(24);
}

type StandardActionKind =
  | 'OFPActionOutput' | 'OFPActionCopyTtlOut' | 'OFPActionCopyTtlIn' | 'OFPActionSetMplsTtl' | 'OFPActionDecMplsTtl'
  | 'OFPActionPushVlan' | 'OFPActionPopVlan' | 'OFPActionPushMpls' | 'OFPActionPopMpls' | 'OFPActionSetQueue'
  | 'OFPActionGroup' | 'OFPActionSetNwTtl' | 'OFPActionDecNwTtl' | 'OFPActionSetField' | 'OFPActionPushPbb'
  | 'OFPActionPopPbb' | 'OFPActionExperimenterUnknown';
type NxAction = Exclude<Action, { kind: StandardActionKind }>;

/** os-ken's nicira_ext.ofs_nbits_str: "[start..end]" from an ofs_nbits word. */
function ofsNbitsStr(n: number): string {
  let start = 0;
  for (;;) {
    start += 1;
    if (start << 6 > n) break;
  }
  start -= 1;
  return `[${start}..${n + start - (start << 6)}]`;
}

/**
 * ofctl_nicira_ext.action_to_str for the Nicira actions it formats (reg-move, reg-load, conjunction).
 * For the others os-ken fails or prints NX_UNKNOWN with the body; this prints NX_UNKNOWN for all of them.
 */
function nxActionToStr(a: NxAction): string {
  switch (a.kind) {
    case 'NXActionRegMove':
      return `NX_MOVE: {${a.dst_field}[${a.dst_ofs}..${a.dst_ofs + a.n_bits}]: ${a.src_field}[${a.src_ofs}..${a.src_ofs + a.n_bits}]}`;
    case 'NXActionRegLoad':
      return `NX_LOAD: {${a.dst}${ofsNbitsStr(a.ofs_nbits)}: ${a.value.toString(16)}}`;
    case 'NXActionConjunction':
      return `NX_CONJUNCTION: {clause: ${a.clause}, number_of_clauses: ${a.n_clauses}, id: ${a.id}}`;
    default: {
      const b = actionBytes(a);
      return `NX_UNKNOWN: {subtype: ${b.readUInt16BE(8)}, data: ${b.subarray(10).toString('base64')}}`;
    }
  }
}

/** ofctl_v1_3.action_to_str. */
export function actionToStr(a: Action): string {
  switch (a.kind) {
    case 'OFPActionOutput':
      return `OUTPUT:${portToUser(a.port)}`;
    case 'OFPActionCopyTtlOut':
      return 'COPY_TTL_OUT';
    case 'OFPActionCopyTtlIn':
      return 'COPY_TTL_IN';
    case 'OFPActionSetMplsTtl':
      return `SET_MPLS_TTL:${a.mpls_ttl}`;
    case 'OFPActionDecMplsTtl':
      return 'DEC_MPLS_TTL';
    case 'OFPActionPushVlan':
      return `PUSH_VLAN:${a.ethertype}`;
    case 'OFPActionPopVlan':
      return 'POP_VLAN';
    case 'OFPActionPushMpls':
      return `PUSH_MPLS:${a.ethertype}`;
    case 'OFPActionPopMpls':
      return `POP_MPLS:${a.ethertype}`;
    case 'OFPActionSetQueue':
      return `SET_QUEUE:${queueToUser(a.queue_id)}`;
    case 'OFPActionGroup':
      return `GROUP:${groupToUser(a.group_id)}`;
    case 'OFPActionSetNwTtl':
      return `SET_NW_TTL:${a.nw_ttl}`;
    case 'OFPActionDecNwTtl':
      return 'DEC_NW_TTL';
    case 'OFPActionSetField': {
      const f = a.field;
      const v = f.mask === undefined ? String(f.value) : `(${pyRepr(f.value)}, ${pyRepr(f.mask)})`;
      return `SET_FIELD: {${f.field}:${v}}`;
    }
    case 'OFPActionPushPbb':
      return `PUSH_PBB:${a.ethertype}`;
    case 'OFPActionPopPbb':
      return 'POP_PBB';
    case 'OFPActionExperimenterUnknown':
      return `EXPERIMENTER: {experimenter:${a.experimenter}, data:${a.data.toString('base64')}}`;
    default:
      return nxActionToStr(a);
  }
}

/** Python's repr of a value inside a tuple: text quoted, integers bare. */
function pyRepr(v: OxmValue): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/** ofctl_v1_3.actions_to_str: instructions → ofctl's flat list. */
export function actionsToStr(instructions: readonly Instruction[]): Json[] {
  const out: Json[] = [];
  for (const ins of instructions) {
    switch (ins.kind) {
      case 'OFPInstructionActions':
        if (ins.type === OFPIT.APPLY_ACTIONS) out.push(...ins.actions.map(actionToStr));
        else if (ins.type === OFPIT.WRITE_ACTIONS) {
          if (ins.actions.length) out.push({ WRITE_ACTIONS: ins.actions.map(actionToStr) });
        } else if (ins.type === OFPIT.CLEAR_ACTIONS) out.push('CLEAR_ACTIONS');
        else out.push('UNKNOWN');
        break;
      case 'OFPInstructionGotoTable':
        out.push(`GOTO_TABLE:${tableToUser(ins.table_id)}`);
        break;
      case 'OFPInstructionWriteMetadata':
        out.push(ins.metadata_mask ? `WRITE_METADATA:0x${ins.metadata.toString(16)}/0x${ins.metadata_mask.toString(16)}` : `WRITE_METADATA:0x${ins.metadata.toString(16)}`);
        break;
      case 'OFPInstructionMeter':
        out.push(`METER:${meterToUser(ins.meter_id)}`);
        break;
      case 'OFPInstructionExperimenter':
        break;
      default:
        assertNever(ins);
    }
  }
  return out;
}
