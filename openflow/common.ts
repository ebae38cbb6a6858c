/**
 * Structs shared by several messages: ports, buckets, meter bands, queues, hello elements and the
 * table-features properties.
 */
import { type Action, ActionCodec } from './actions.js';
import { OFPBRC, OFPET, OFPGMFC, OFPHET, OFPMBT, OFPMMFC, OFPQT, OFPTFFC, OFPTFPT } from './consts.js';
import { type Instruction } from './instructions.js';
import { asArray, field as jsonField, jsonError, uint, unwrap } from './json.js';
import { type OxmId, OxmIdCodec } from './oxm.js';
import {
  type Codec,
  type CodecValue,
  type Field,
  constant,
  list,
  mac,
  pad,
  selfLen,
  struct,
  text,
  u16,
  u32,
  u8,
  uintsRest,
  variant,
  bytesRest,
} from './struct.js';
import { type ErrorKind, Reader } from './wire.js';

export const Port = struct('OFPPort', [
  u32('port_no'), pad(4), mac('hw_addr'), pad(2), text('name', 16), u32('config'), u32('state'), u32('curr'),
  u32('advertised'), u32('supported'), u32('peer'), u32('curr_speed'), u32('max_speed'),
]);
export type Port = CodecValue<typeof Port>;

const BUCKET_ERR: ErrorKind = { errType: OFPET.GROUP_MOD_FAILED, code: OFPGMFC.BAD_BUCKET };
export const Bucket = struct(
  'OFPBucket',
  [selfLen('len'), u16('weight'), u32('watch_port'), u32('watch_group'), pad(4), list('actions', ActionCodec as Codec<Action>)],
  { err: BUCKET_ERR },
);
export type Bucket = CodecValue<typeof Bucket>;

// ---- meter bands ----
const BAND_ERR: ErrorKind = { errType: OFPET.METER_MOD_FAILED, code: OFPMMFC.BAD_BAND };
const bandOpts = { tag: 'kind', err: BAND_ERR } as const;
export const MeterBandDrop = struct(
  'OFPMeterBandDrop',
  [constant(2, OFPMBT.DROP, 'type'), selfLen('len'), u32('rate'), u32('burst_size'), pad(4)],
  bandOpts,
);
export const MeterBandDscpRemark = struct(
  'OFPMeterBandDscpRemark',
  [constant(2, OFPMBT.DSCP_REMARK, 'type'), selfLen('len'), u32('rate'), u32('burst_size'), u8('prec_level'), pad(3)],
  bandOpts,
);
export const MeterBandExperimenter = struct(
  'OFPMeterBandExperimenter',
  [constant(2, OFPMBT.EXPERIMENTER, 'type'), selfLen('len'), u32('rate'), u32('burst_size'), u32('experimenter')],
  bandOpts,
);
export type MeterBand = CodecValue<typeof MeterBandDrop> | CodecValue<typeof MeterBandDscpRemark> | CodecValue<typeof MeterBandExperimenter>;
export const MeterBandCodec: Codec<MeterBand> = variant<MeterBand>({
  what: 'meter band',
  tag: 'kind',
  members: [
    [MeterBandDrop, OFPMBT.DROP],
    [MeterBandDscpRemark, OFPMBT.DSCP_REMARK],
    [MeterBandExperimenter, OFPMBT.EXPERIMENTER],
  ],
  key: (r) => r.peek16(0, 'meter band header'),
  unknown: BAND_ERR,
});

// ---- queues ----
const QUEUE_ERR: ErrorKind = { errType: OFPET.BAD_REQUEST, code: OFPBRC.BAD_LEN };
const qpOpts = { tag: 'kind', err: QUEUE_ERR } as const;
export const QueuePropMinRate = struct(
  'OFPQueuePropMinRate',
  [constant(2, OFPQT.MIN_RATE, 'property'), selfLen('len'), pad(4), u16('rate'), pad(6)],
  qpOpts,
);
export const QueuePropMaxRate = struct(
  'OFPQueuePropMaxRate',
  [constant(2, OFPQT.MAX_RATE, 'property'), selfLen('len'), pad(4), u16('rate'), pad(6)],
  qpOpts,
);
export const QueuePropExperimenter = struct(
  'OFPQueuePropExperimenter',
  [constant(2, OFPQT.EXPERIMENTER, 'property'), selfLen('len'), pad(4), u32('experimenter'), pad(4), uintsRest('data', 1)],
  qpOpts,
);
export type QueueProp = CodecValue<typeof QueuePropMinRate> | CodecValue<typeof QueuePropMaxRate> | CodecValue<typeof QueuePropExperimenter>;
export const QueuePropCodec: Codec<QueueProp> = variant<QueueProp>({
  what: 'queue property',
  tag: 'kind',
  members: [
    [QueuePropMinRate, OFPQT.MIN_RATE],
    [QueuePropMaxRate, OFPQT.MAX_RATE],
    [QueuePropExperimenter, OFPQT.EXPERIMENTER],
  ],
  key: (r) => r.peek16(0, 'queue property header'),
  unknown: QUEUE_ERR,
});
export const PacketQueue = struct('OFPPacketQueue', [
  u32('queue_id'), u32('port'), selfLen('len'), pad(6), list('properties', QueuePropCodec),
]);

// ---- hello elements ----
/** The version bitmap as the list of versions whose bit is set (Ryu's form). */
function versionsField(): Field<'versions', readonly number[]> {
  return {
    key: 'versions',
    fixed: undefined,
    size: (o) => {
      const max = Math.max(-1, ...(o['versions'] as readonly number[]));
      return 4 * Math.max(1, Math.floor(max / 32) + 1);
    },
    read(r, o) {
      const out: number[] = [];
      for (let w = 0; r.pos < r.end; w++) {
        const bits = r.u32('version bitmap');
        for (let b = 0; b < 32; b++) if ((bits >>> b) & 1) out.push(w * 32 + b);
      }
      o['versions'] = out;
    },
    write(o, buf, off) {
      const v = o['versions'] as readonly number[];
      const words = Math.max(1, Math.floor(Math.max(-1, ...v) / 32) + 1);
      const a = new Array<number>(words).fill(0);
      for (const x of v) a[Math.floor(x / 32)] = ((a[Math.floor(x / 32)] as number) | (1 << (x % 32))) >>> 0;
      for (const x of a) off = buf.writeUInt32BE(x, off);
      return off;
    },
    json(o, out) {
      out['versions'] = [...(o['versions'] as readonly number[])];
    },
    parse(j, o, path) {
      o['versions'] = asArray(jsonField(j, 'versions', path), `${path}.versions`).map((x, i) => uint(x, 8, `${path}.versions[${i}]`));
    },
  };
}
const HELLO_ERR: ErrorKind = { errType: OFPET.HELLO_FAILED, code: 0 };
export const HelloElemVersionBitmap = struct(
  'OFPHelloElemVersionBitmap',
  [constant(2, OFPHET.VERSIONBITMAP, 'type'), selfLen('length'), versionsField()],
  { tag: 'kind', pad8: true, err: HELLO_ERR },
);
export const HelloElemUnknown = struct('OFPHelloElemUnknown', [u16('type'), selfLen('length'), bytesRest('data')], {
  tag: 'kind',
  pad8: true,
  err: HELLO_ERR,
});
export type HelloElem = CodecValue<typeof HelloElemVersionBitmap> | CodecValue<typeof HelloElemUnknown>;
export const HelloElemCodec: Codec<HelloElem> = variant<HelloElem>({
  what: 'hello element',
  tag: 'kind',
  members: [[HelloElemVersionBitmap, OFPHET.VERSIONBITMAP]],
  key: (r) => r.peek16(0, 'hello element header'),
  fallback: () => HelloElemUnknown,
  extra: [HelloElemUnknown],
  unknown: HELLO_ERR,
});

// ---- table features ----
const TF_ERR: ErrorKind = { errType: OFPET.TABLE_FEATURES_FAILED, code: OFPTFFC.BAD_LEN };

export interface HeaderId {
  readonly type: number;
  /** For experimenter ids (type 0xffff). */
  readonly experimenter?: number;
}

/** An instruction or action id: its header only (type, len[, experimenter]). */
function idCodec(cls: string): Codec<HeaderId> {
  return {
    cls,
    size: (v) => (v.experimenter !== undefined ? 8 : 4),
    write(v, buf, off) {
      off = buf.writeUInt16BE(v.type, off);
      off = buf.writeUInt16BE(v.experimenter !== undefined ? 8 : 4, off);
      return v.experimenter !== undefined ? buf.writeUInt32BE(v.experimenter, off) : off;
    },
    read(r: Reader) {
      const type = r.u16(`${cls} type`);
      const len = r.u16(`${cls} len`);
      if (len === 4) return { type };
      if (len === 8 && type === 0xffff) return { type, experimenter: r.u32(`${cls} experimenter`) };
      return r.fail(TF_ERR, `${cls} has length ${len}`, r.pos - 2);
    },
    toJson: (v) => ({ [cls]: v.experimenter !== undefined ? { experimenter: v.experimenter, len: 8, type: v.type } : { len: 4, type: v.type } }),
    fromJson(j, path) {
      const [name, o] = unwrap(j, path);
      if (name !== cls) throw jsonError(path, `expected ${cls}, got ${name}`);
      const type = uint(jsonField(o, 'type', `${path}.${cls}`), 16, `${path}.${cls}.type`);
      return o['experimenter'] === undefined ? { type } : { type, experimenter: uint(o['experimenter'], 32, `${path}.${cls}.experimenter`) };
    },
  };
}
export const InstructionIdCodec = idCodec('OFPInstructionId');
export const ActionIdCodec = idCodec('OFPActionId');

const tfOpts = { tag: 'kind', pad8: true, err: TF_ERR } as const;
export const TableFeaturePropInstructions = struct(
  'OFPTableFeaturePropInstructions',
  [u16('type'), selfLen('length'), list('instruction_ids', InstructionIdCodec)],
  tfOpts,
);
export const TableFeaturePropNextTables = struct(
  'OFPTableFeaturePropNextTables',
  [u16('type'), selfLen('length'), uintsRest('table_ids', 1)],
  tfOpts,
);
export const TableFeaturePropActions = struct(
  'OFPTableFeaturePropActions',
  [u16('type'), selfLen('length'), list('action_ids', ActionIdCodec)],
  tfOpts,
);
export const TableFeaturePropOxm = struct(
  'OFPTableFeaturePropOxm',
  [u16('type'), selfLen('length'), list('oxm_ids', OxmIdCodec as Codec<OxmId>)],
  tfOpts,
);
export const TableFeaturePropExperimenter = struct(
  'OFPTableFeaturePropExperimenter',
  [u16('type'), selfLen('length'), u32('experimenter'), u32('exp_type'), uintsRest('data', 4)],
  tfOpts,
);
export const TableFeaturePropUnknown = struct('OFPTableFeaturePropUnknown', [u16('type'), selfLen('length'), bytesRest('data')], tfOpts);

export type TableFeatureProp =
  | CodecValue<typeof TableFeaturePropInstructions>
  | CodecValue<typeof TableFeaturePropNextTables>
  | CodecValue<typeof TableFeaturePropActions>
  | CodecValue<typeof TableFeaturePropOxm>
  | CodecValue<typeof TableFeaturePropExperimenter>
  | CodecValue<typeof TableFeaturePropUnknown>;

export const TableFeaturePropCodec: Codec<TableFeatureProp> = variant<TableFeatureProp>({
  what: 'table feature property',
  tag: 'kind',
  members: [
    [TableFeaturePropInstructions, OFPTFPT.INSTRUCTIONS, OFPTFPT.INSTRUCTIONS_MISS],
    [TableFeaturePropNextTables, OFPTFPT.NEXT_TABLES, OFPTFPT.NEXT_TABLES_MISS],
    [TableFeaturePropActions, OFPTFPT.WRITE_ACTIONS, OFPTFPT.WRITE_ACTIONS_MISS, OFPTFPT.APPLY_ACTIONS, OFPTFPT.APPLY_ACTIONS_MISS],
    [
      TableFeaturePropOxm,
      OFPTFPT.MATCH, OFPTFPT.WILDCARDS, OFPTFPT.WRITE_SETFIELD, OFPTFPT.WRITE_SETFIELD_MISS, OFPTFPT.APPLY_SETFIELD,
      OFPTFPT.APPLY_SETFIELD_MISS,
    ],
    [TableFeaturePropExperimenter, OFPTFPT.EXPERIMENTER, OFPTFPT.EXPERIMENTER_MISS],
  ],
  key: (r) => r.peek16(0, 'table feature property header'),
  fallback: () => TableFeaturePropUnknown,
  extra: [TableFeaturePropUnknown],
  unknown: { errType: OFPET.TABLE_FEATURES_FAILED, code: OFPTFFC.BAD_TYPE },
});

export type { Instruction };
