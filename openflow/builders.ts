/**
 * Small message builders with OpenFlow 1.3's defaults, so that an app reads as its logic rather than as
 * fourteen fields per flow-mod (Ryu's `OFPFlowMod(datapath, match=..., instructions=...)`, Faucet's
 * `valve_of.flowmod` / `apply_actions` / `packetout`). Pure: each returns the plain message (or part of
 * one) that an app would otherwise spell out, field for field; test/controller/builders.test.ts checks
 * that the encodings are byte-identical to the hand-written messages the apps used before.
 *
 *   flowMod({ match: { in_port: 1, eth_dst: '02:..' }, actions: [output(2)], priority: 10 })
 *   deleteFlows({ out_port: 3 })              packetOut({ packetIn: msg, actions: [output(OFPP.FLOOD)] })
 *   match({ eth_type: 0x800, ipv4_dst: { value: '10.0.0.0', mask: '255.0.0.0' } })
 *
 * Field names, value kinds, sizes, maskability and prerequisites come from the one OXM table (oxm.ts);
 * nothing here lists fields again. A bad field name, value, mask or missing prerequisite raises
 * OFPCodecError with the BAD_MATCH code a switch would answer with, naming the field, so the app's
 * mistake shows where it is made rather than as an OFPT_ERROR later.
 */
import type { Action } from './actions.js';
import { OFPBMC, OFPET, OFPFC, OFPG, OFPCML, OFPIT, OFPP, OFPTT, OFP_NO_BUFFER } from './consts.js';
import { OFPCodecError } from './errors.js';
import type { Instruction } from './instructions.js';
import { ipv4FromText, ipv4ToText, ipv6FromText, ipv6ToText, macFromText, macToText } from './json.js';
import type { MessageOf } from './messages.js';
import { type Match, OXM_BY_NAME, type OxmFieldDef, type OxmPrereq, type OxmTlv, type OxmValue } from './oxm.js';

/** OFP_DEFAULT_PRIORITY (spec 7.3.4.1; Ryu's OFPFlowMod default). */
export const OFP_DEFAULT_PRIORITY = 0x8000;

// ---- match ----------------------------------------------------------------------------------------

/**
 * A field's value: a number or bigint for integers, text for addresses (a Buffer of the address's size
 * is taken too, e.g. `frame.subarray(0, 6)`), or `{ value, mask }` for a maskable field. `undefined`
 * leaves the field out, so optional fields can be written inline.
 */
export type MatchValue = OxmValue | Uint8Array | { readonly value: OxmValue | Uint8Array; readonly mask: OxmValue | Uint8Array } | undefined;

/** A match as an object, fields in the order they are written (`{ in_port: 1, eth_dst: '..' }`). */
export type MatchFields = { readonly [field: string]: MatchValue };

function matchError(code: number, detail: string): OFPCodecError {
  return new OFPCodecError(OFPET.BAD_MATCH, code, `match: ${detail}`);
}

function badValue(def: OxmFieldDef, what: string, why: string): never {
  throw matchError(OFPBMC.BAD_VALUE, `${def.name} ${what}: ${why}`);
}

/** Canonical MAC text (as the codec decodes it): what most matches hold, taken without re-parsing. */
const MAC_TEXT = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

type Normalize = (v: OxmValue | Uint8Array, what: string) => OxmValue;

/** A field's value as the codec holds it: number up to 32 bits, bigint above, canonical address text. */
function normalizer(def: OxmFieldDef): Normalize {
  switch (def.kind) {
    case 'uint': {
      const bits = def.size * 8;
      const limit = 2 ** bits;
      return (v, what) => {
        if (typeof v === 'number') {
          if (!Number.isSafeInteger(v)) return badValue(def, what, `${v} is not an integer`);
          // Without BigInt in the common case: apps build matches per packet-in.
          if (def.size <= 4) return v >= 0 && v < limit ? v : badValue(def, what, `${v} does not fit in ${bits} bits`);
        } else if (typeof v !== 'bigint') {
          return badValue(def, what, `expected an integer, got ${v instanceof Uint8Array ? 'bytes' : JSON.stringify(v)}`);
        }
        const x = BigInt(v);
        if (x < 0n || x >= 1n << BigInt(bits)) return badValue(def, what, `${v} does not fit in ${bits} bits`);
        return def.size <= 4 ? Number(x) : x;
      };
    }
    case 'mac':
    case 'ipv4':
    case 'ipv6': {
      const size = def.kind === 'mac' ? 6 : def.kind === 'ipv4' ? 4 : 16;
      const toText = def.kind === 'mac' ? macToText : def.kind === 'ipv4' ? ipv4ToText : ipv6ToText;
      const fromText = def.kind === 'mac' ? macFromText : def.kind === 'ipv4' ? ipv4FromText : ipv6FromText;
      const canonical = def.kind === 'mac' ? MAC_TEXT : undefined;
      return (v, what) => {
        if (typeof v === 'string') {
          if (canonical?.test(v)) return v;
          let bytes: Buffer;
          try {
            bytes = fromText(v, def.name);
          } catch (e) {
            return badValue(def, what, (e as Error).message);
          }
          return toText(bytes, 0);
        }
        if (v instanceof Uint8Array) return v.length === size ? toText(v, 0) : badValue(def, what, `expected ${size} bytes, got ${v.length}`);
        return badValue(def, what, `expected an address as text, got ${typeof v}`);
      };
    }
    case 'raw':
      return (v, what) => {
        if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
        return typeof v === 'string' ? v : badValue(def, what, 'expected base64 text or bytes');
      };
  }
}

interface FieldInfo {
  readonly def: OxmFieldDef;
  readonly normalize: Normalize;
}

/** Per OXM field, its value check, made once from the table. */
const FIELDS: ReadonlyMap<string, FieldInfo> = new Map([...OXM_BY_NAME].map(([name, def]) => [name, { def, normalize: normalizer(def) }]));

function fieldOf(name: string): FieldInfo {
  const f = FIELDS.get(name);
  if (!f) throw matchError(OFPBMC.BAD_FIELD, `unknown field ${JSON.stringify(name)} (not in the OXM table)`);
  return f;
}

function tlv(f: FieldInfo, mv: Exclude<MatchValue, undefined>): OxmTlv {
  if (typeof mv !== 'object' || ArrayBuffer.isView(mv)) return { field: f.def.name, value: f.normalize(mv, 'value') };
  if (!f.def.maskable) throw matchError(OFPBMC.BAD_MASK, `${f.def.name} cannot be masked`);
  return { field: f.def.name, value: f.normalize(mv.value, 'value'), mask: f.normalize(mv.mask, 'mask') };
}

/** Checks a field's prerequisite (OF1.3 7.2.3.6) against the other fields of the match. */
function checkPrereq(def: OxmFieldDef, pre: OxmPrereq, fields: readonly OxmTlv[]): void {
  const other = fields.find((f) => f.field === pre.field);
  const want = pre.values ? `${pre.field} ${pre.values.map((x) => `0x${x.toString(16)}`).join(' or ')}` : pre.field;
  if (!other) throw matchError(OFPBMC.BAD_PREREQ, `${def.name} needs ${want} in the match`);
  if (pre.values && (other.mask !== undefined || !pre.values.includes(Number(other.value)))) {
    throw matchError(OFPBMC.BAD_PREREQ, `${def.name} needs ${want}, the match has ${pre.field} ${String(other.value)}${other.mask !== undefined ? ' (masked)' : ''}`);
  }
  if (pre.present && (Number(other.value) & 0x1000) === 0) {
    throw matchError(OFPBMC.BAD_PREREQ, `${def.name} needs a VLAN: ${pre.field} with OFPVID_PRESENT (0x1000) set`);
  }
}

/** An OXM match from an object (field order kept); see MatchValue. Prerequisites are checked. */
export function match(fields: MatchFields): Match {
  const out: OxmTlv[] = [];
  let prereqs: OxmFieldDef[] | undefined;
  for (const name in fields) {
    const v = fields[name];
    if (v === undefined) continue;
    const f = fieldOf(name);
    out.push(tlv(f, v));
    if (f.def.prereq) (prereqs ??= []).push(f.def);
  }
  if (prereqs) for (const def of prereqs) if (def.prereq) checkPrereq(def, def.prereq, out);
  return out;
}

// ---- actions and instructions ------------------------------------------------------------------------

/**
 * Output to a port. max_len (bytes sent to the controller) matters only for OFPP_CONTROLLER, where it
 * defaults to OFPCML_NO_BUFFER (the whole frame, nothing buffered); elsewhere it is 0.
 */
export function output(port: number, maxLen: number = port === OFPP.CONTROLLER ? OFPCML.NO_BUFFER : 0): Action {
  return { kind: 'OFPActionOutput', port, max_len: maxLen };
}

/** Set-field with a value checked as in match(); e.g. setField('eth_dst', '02:00:00:00:00:01'). */
export function setField(field: string, value: OxmValue | Uint8Array): Action {
  const t = tlv(fieldOf(field), value);
  return { kind: 'OFPActionSetField', field: t };
}

export function toGroup(groupId: number): Action {
  return { kind: 'OFPActionGroup', group_id: groupId };
}

export function pushVlan(ethertype = 0x8100): Action {
  return { kind: 'OFPActionPushVlan', ethertype };
}

export function popVlan(): Action {
  return { kind: 'OFPActionPopVlan' };
}

export function applyActions(...actions: readonly Action[]): Instruction {
  return { kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions };
}

export function writeActions(...actions: readonly Action[]): Instruction {
  return { kind: 'OFPInstructionActions', type: OFPIT.WRITE_ACTIONS, actions };
}

export function clearActions(): Instruction {
  return { kind: 'OFPInstructionActions', type: OFPIT.CLEAR_ACTIONS, actions: [] };
}

export function gotoTable(tableId: number): Instruction {
  return { kind: 'OFPInstructionGotoTable', table_id: tableId };
}

export function writeMetadata(metadata: bigint, mask = 0xffffffffffffffffn): Instruction {
  return { kind: 'OFPInstructionWriteMetadata', metadata, metadata_mask: mask };
}

// ---- flow-mod ----------------------------------------------------------------------------------------

type FlowModMsg = MessageOf<'OFPFlowMod'>;

/**
 * A flow-mod's fields, each optional, named as the message names them; `match` may be an object (see
 * match()); `actions` is short for `instructions: [applyActions(...actions)]`, so give one or the other.
 */
export type FlowModSpec = Partial<Omit<FlowModMsg, 'type' | 'match' | 'instructions'>> & {
  readonly match?: Match | MatchFields;
} & ({ readonly actions: readonly Action[]; readonly instructions?: never } | { readonly instructions?: readonly Instruction[]; readonly actions?: never });

function matchOf(m: Match | MatchFields | undefined): Match {
  if (m === undefined) return [];
  return isMatchList(m) ? m : match(m);
}

function isMatchList(m: Match | MatchFields): m is Match {
  return Array.isArray(m);
}

/**
 * An OFPT_FLOW_MOD with OpenFlow 1.3's defaults: xid 0 (the sender picks one), command ADD, table 0,
 * priority OFP_DEFAULT_PRIORITY, no timeouts, cookie 0, buffer OFP_NO_BUFFER, out_port OFPP_ANY,
 * out_group OFPG_ANY, no flags, empty match, no instructions (a drop rule).
 */
export function flowMod(spec: FlowModSpec): FlowModMsg {
  return {
    type: 'OFPFlowMod',
    xid: spec.xid ?? 0,
    cookie: spec.cookie ?? 0n,
    cookie_mask: spec.cookie_mask ?? 0n,
    table_id: spec.table_id ?? 0,
    command: spec.command ?? OFPFC.ADD,
    idle_timeout: spec.idle_timeout ?? 0,
    hard_timeout: spec.hard_timeout ?? 0,
    priority: spec.priority ?? OFP_DEFAULT_PRIORITY,
    buffer_id: spec.buffer_id ?? OFP_NO_BUFFER,
    out_port: spec.out_port ?? OFPP.ANY,
    out_group: spec.out_group ?? OFPG.ANY,
    flags: spec.flags ?? 0,
    match: matchOf(spec.match),
    instructions: spec.actions ? [applyActions(...spec.actions)] : spec.instructions ?? [],
  };
}

export interface DeleteFlowsSpec {
  /** Flows whose match is at least this specific (all flows when absent). */
  readonly match?: Match | MatchFields;
  /** Default OFPTT_ALL: every table. */
  readonly table_id?: number;
  /** Only flows that output to this port (default OFPP_ANY: no filter). */
  readonly out_port?: number;
  /** Only flows that output to this group (default OFPG_ANY: no filter). */
  readonly out_group?: number;
  readonly cookie?: bigint;
  readonly cookie_mask?: bigint;
  /** DELETE_STRICT: only the flow with exactly this match and priority. */
  readonly strict?: boolean;
  /** For strict deletes (default OFP_DEFAULT_PRIORITY). */
  readonly priority?: number;
  readonly xid?: number;
}

/** A flow-mod DELETE (or DELETE_STRICT), by default of every flow in every table. */
export function deleteFlows(spec: DeleteFlowsSpec = {}): FlowModMsg {
  return flowMod({
    xid: spec.xid ?? 0,
    command: spec.strict ? OFPFC.DELETE_STRICT : OFPFC.DELETE,
    table_id: spec.table_id ?? OFPTT.ALL,
    out_port: spec.out_port ?? OFPP.ANY,
    out_group: spec.out_group ?? OFPG.ANY,
    cookie: spec.cookie ?? 0n,
    cookie_mask: spec.cookie_mask ?? 0n,
    priority: spec.priority ?? OFP_DEFAULT_PRIORITY,
    match: matchOf(spec.match),
  });
}

// ---- packet-out -----------------------------------------------------------------------------------

type PacketIn = MessageOf<'OFPPacketIn'>;
type PacketOutMsg = MessageOf<'OFPPacketOut'>;

/** The in_port field of a packet-in's match (OFPP_CONTROLLER if it has none, which OF1.3 never allows). */
export function packetInPort(msg: PacketIn): number {
  for (const t of msg.match) if (t.field === 'in_port') return Number(t.value);
  return OFPP.CONTROLLER;
}

/**
 * A packet-out. Given the packet-in it answers, it keeps the switch's buffer (buffer_id, no data) or,
 * for an unbuffered packet-in, sends the frame back as data; in_port comes from the packet-in. Without
 * one it sends `data` (default: none) from in_port OFPP_CONTROLLER, unbuffered.
 */
export type PacketOutSpec =
  | { readonly actions: readonly Action[]; readonly packetIn: PacketIn; readonly in_port?: number; readonly xid?: number }
  | {
      readonly actions: readonly Action[];
      readonly data?: Buffer;
      readonly buffer_id?: number;
      readonly in_port?: number;
      readonly xid?: number;
      readonly packetIn?: never;
    };

export function packetOut(spec: PacketOutSpec): PacketOutMsg {
  const xid = spec.xid ?? 0;
  if (spec.packetIn) {
    const pin = spec.packetIn;
    const buffered = pin.buffer_id !== OFP_NO_BUFFER;
    return {
      type: 'OFPPacketOut', xid, buffer_id: pin.buffer_id, in_port: spec.in_port ?? packetInPort(pin), actions: spec.actions,
      data: buffered ? Buffer.alloc(0) : pin.data,
    };
  }
  return {
    type: 'OFPPacketOut', xid, buffer_id: spec.buffer_id ?? OFP_NO_BUFFER, in_port: spec.in_port ?? OFPP.CONTROLLER,
    actions: spec.actions, data: spec.data ?? Buffer.alloc(0),
  };
}
