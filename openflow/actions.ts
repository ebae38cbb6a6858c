/**
 * OpenFlow 1.3 actions (ofp_action_*), dispatched by type; experimenter actions by experimenter id and,
 * for Nicira's, by subtype (nx.ts). Unknown experimenter actions keep their body raw and round-trip.
 */
import { NX_EXPERIMENTER_ID, OFPAT, OFPBAC, OFPET } from './consts.js';
import { jsonError, unwrap } from './json.js';
import { NX_ACTION_MEMBERS, type NxAction, NxActionUnknownCodec } from './nx.js';
import { type OxmTlv, OxmTlvCodec } from './oxm.js';
import { type Codec, type CodecValue, bytesRest, constant, pad, selfLen, struct, u16, u32, u8, variant } from './struct.js';
import { type ErrorKind, Reader, align8, zero } from './wire.js';

export const ACTION_LEN_ERR: ErrorKind = { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_LEN };
const opts = { tag: 'kind', err: ACTION_LEN_ERR } as const;

const hdr = (type: number) => [constant(2, type, 'type'), selfLen('len')] as const;

export const ActionOutput = struct('OFPActionOutput', [...hdr(OFPAT.OUTPUT), u32('port'), u16('max_len'), pad(6)], opts);
export const ActionCopyTtlOut = struct('OFPActionCopyTtlOut', [...hdr(OFPAT.COPY_TTL_OUT), pad(4)], opts);
export const ActionCopyTtlIn = struct('OFPActionCopyTtlIn', [...hdr(OFPAT.COPY_TTL_IN), pad(4)], opts);
export const ActionSetMplsTtl = struct('OFPActionSetMplsTtl', [...hdr(OFPAT.SET_MPLS_TTL), u8('mpls_ttl'), pad(3)], opts);
export const ActionDecMplsTtl = struct('OFPActionDecMplsTtl', [...hdr(OFPAT.DEC_MPLS_TTL), pad(4)], opts);
export const ActionPushVlan = struct('OFPActionPushVlan', [...hdr(OFPAT.PUSH_VLAN), u16('ethertype'), pad(2)], opts);
export const ActionPopVlan = struct('OFPActionPopVlan', [...hdr(OFPAT.POP_VLAN), pad(4)], opts);
export const ActionPushMpls = struct('OFPActionPushMpls', [...hdr(OFPAT.PUSH_MPLS), u16('ethertype'), pad(2)], opts);
export const ActionPopMpls = struct('OFPActionPopMpls', [...hdr(OFPAT.POP_MPLS), u16('ethertype'), pad(2)], opts);
export const ActionSetQueue = struct('OFPActionSetQueue', [...hdr(OFPAT.SET_QUEUE), u32('queue_id')], opts);
export const ActionGroup = struct('OFPActionGroup', [...hdr(OFPAT.GROUP), u32('group_id')], opts);
export const ActionSetNwTtl = struct('OFPActionSetNwTtl', [...hdr(OFPAT.SET_NW_TTL), u8('nw_ttl'), pad(3)], opts);
export const ActionDecNwTtl = struct('OFPActionDecNwTtl', [...hdr(OFPAT.DEC_NW_TTL), pad(4)], opts);
export const ActionPushPbb = struct('OFPActionPushPbb', [...hdr(OFPAT.PUSH_PBB), u16('ethertype'), pad(2)], opts);
export const ActionPopPbb = struct('OFPActionPopPbb', [...hdr(OFPAT.POP_PBB), pad(4)], opts);
/** An experimenter action of an experimenter this codec has no bodies for. */
export const ActionExperimenterUnknown = struct(
  'OFPActionExperimenterUnknown',
  [...hdr(OFPAT.EXPERIMENTER), u32('experimenter'), bytesRest('data')],
  opts,
);

export interface ActionSetField {
  readonly kind: 'OFPActionSetField';
  readonly field: OxmTlv;
}

/** set_field: one OXM TLV, padded so the action's length is a multiple of 8. */
export const ActionSetFieldCodec: Codec<ActionSetField> = {
  cls: 'OFPActionSetField',
  size: (a) => align8(4 + OxmTlvCodec.size(a.field)),
  write(a, buf, off) {
    const start = off;
    off = buf.writeUInt16BE(OFPAT.SET_FIELD, off);
    off += 2;
    off = OxmTlvCodec.write(a.field, buf, off);
    const len = align8(off - start);
    buf.writeUInt16BE(len, start + 2);
    return zero(buf, off, start + len - off);
  },
  read(r) {
    const start = r.pos;
    r.skip(2, 'action type');
    const len = r.u16('action length');
    if (len < 8 || len % 8 !== 0) r.fail(ACTION_LEN_ERR, `OFPActionSetField has length ${len}`, start + 2);
    const field = r.withEnd(len - 4, 'OFPActionSetField', () => {
      const f = OxmTlvCodec.read(r);
      r.pos = r.end;
      return f;
    }, ACTION_LEN_ERR);
    return { kind: 'OFPActionSetField', field };
  },
  toJson: (a) => ({ OFPActionSetField: { field: OxmTlvCodec.toJson(a.field), len: align8(4 + OxmTlvCodec.size(a.field)), type: OFPAT.SET_FIELD } }),
  fromJson(j, path) {
    const [name, o] = unwrap(j, path);
    if (name !== 'OFPActionSetField') throw jsonError(path, `expected OFPActionSetField, got ${name}`);
    const f = o['field'];
    if (f === undefined) throw jsonError(`${path}.OFPActionSetField.field`, 'missing');
    return { kind: 'OFPActionSetField', field: OxmTlvCodec.fromJson(f, `${path}.OFPActionSetField.field`) };
  },
};

export type Action =
  | CodecValue<typeof ActionOutput>
  | CodecValue<typeof ActionCopyTtlOut>
  | CodecValue<typeof ActionCopyTtlIn>
  | CodecValue<typeof ActionSetMplsTtl>
  | CodecValue<typeof ActionDecMplsTtl>
  | CodecValue<typeof ActionPushVlan>
  | CodecValue<typeof ActionPopVlan>
  | CodecValue<typeof ActionPushMpls>
  | CodecValue<typeof ActionPopMpls>
  | CodecValue<typeof ActionSetQueue>
  | CodecValue<typeof ActionGroup>
  | CodecValue<typeof ActionSetNwTtl>
  | CodecValue<typeof ActionDecNwTtl>
  | CodecValue<typeof ActionPushPbb>
  | CodecValue<typeof ActionPopPbb>
  | ActionSetField
  | CodecValue<typeof ActionExperimenterUnknown>
  | NxAction;

const STANDARD: readonly (readonly [Codec<Action>, number])[] = [
  [ActionOutput, OFPAT.OUTPUT],
  [ActionCopyTtlOut, OFPAT.COPY_TTL_OUT],
  [ActionCopyTtlIn, OFPAT.COPY_TTL_IN],
  [ActionSetMplsTtl, OFPAT.SET_MPLS_TTL],
  [ActionDecMplsTtl, OFPAT.DEC_MPLS_TTL],
  [ActionPushVlan, OFPAT.PUSH_VLAN],
  [ActionPopVlan, OFPAT.POP_VLAN],
  [ActionPushMpls, OFPAT.PUSH_MPLS],
  [ActionPopMpls, OFPAT.POP_MPLS],
  [ActionSetQueue, OFPAT.SET_QUEUE],
  [ActionGroup, OFPAT.GROUP],
  [ActionSetNwTtl, OFPAT.SET_NW_TTL],
  [ActionDecNwTtl, OFPAT.DEC_NW_TTL],
  [ActionSetFieldCodec, OFPAT.SET_FIELD],
  [ActionPushPbb, OFPAT.PUSH_PBB],
  [ActionPopPbb, OFPAT.POP_PBB],
];

/** Type, then for experimenter actions the experimenter id, then Nicira's subtype. */
function actionKey(r: Reader): number | string {
  const type = r.peek16(0, 'action header');
  const len = r.peek16(2, 'action header');
  if (len < 8 || len % 8 !== 0) r.fail(ACTION_LEN_ERR, `action type ${type} has length ${len}, not a multiple of 8`);
  if (len > r.remaining) r.fail(ACTION_LEN_ERR, `action type ${type} claims ${len} bytes, ${r.remaining} left`);
  if (type !== OFPAT.EXPERIMENTER) return type;
  const exp = r.peek32(4, 'experimenter action header');
  if (exp !== NX_EXPERIMENTER_ID) return 'exp';
  if (len < 16) return 'exp';
  return `nx:${r.peek16(8, 'Nicira action subtype')}`;
}

export const ActionCodec: Codec<Action> = variant<Action>({
  what: 'action',
  tag: 'kind',
  members: [...STANDARD, ...NX_ACTION_MEMBERS, [ActionExperimenterUnknown, 'exp']],
  key: actionKey,
  fallback: (k) => (typeof k === 'string' && k.startsWith('nx:') ? NxActionUnknownCodec : undefined),
  extra: [NxActionUnknownCodec],
  unknown: { errType: OFPET.BAD_ACTION, code: OFPBAC.BAD_TYPE },
});
