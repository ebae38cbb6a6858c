/** OpenFlow 1.3 instructions (ofp_instruction_*), dispatched by type. */
import { type Action, ActionCodec } from './actions.js';
import { OFPBIC, OFPET, OFPIT } from './consts.js';
import { type Codec, type CodecValue, bytesRest, constant, list, pad, selfLen, struct, u16, u32, u64, u8, variant } from './struct.js';
import { type ErrorKind, Reader } from './wire.js';

export const INSTRUCTION_LEN_ERR: ErrorKind = { errType: OFPET.BAD_INSTRUCTION, code: OFPBIC.BAD_LEN };
const opts = { tag: 'kind', err: INSTRUCTION_LEN_ERR } as const;

export const InstructionGotoTable = struct(
  'OFPInstructionGotoTable',
  [constant(2, OFPIT.GOTO_TABLE, 'type'), selfLen('len'), u8('table_id'), pad(3)],
  opts,
);
export const InstructionWriteMetadata = struct(
  'OFPInstructionWriteMetadata',
  [constant(2, OFPIT.WRITE_METADATA, 'type'), selfLen('len'), pad(4), u64('metadata'), u64('metadata_mask')],
  opts,
);
/** write-actions (3), apply-actions (4) and clear-actions (5) share one layout and one Ryu class. */
export const InstructionActions = struct(
  'OFPInstructionActions',
  [u16('type'), selfLen('len'), pad(4), list('actions', ActionCodec as Codec<Action>)],
  opts,
);
export const InstructionMeter = struct('OFPInstructionMeter', [constant(2, OFPIT.METER, 'type'), selfLen('len'), u32('meter_id')], opts);
export const InstructionExperimenter = struct(
  'OFPInstructionExperimenter',
  [constant(2, OFPIT.EXPERIMENTER, 'type'), selfLen('len'), u32('experimenter'), bytesRest('data')],
  opts,
);

export type Instruction =
  | CodecValue<typeof InstructionGotoTable>
  | CodecValue<typeof InstructionWriteMetadata>
  | CodecValue<typeof InstructionActions>
  | CodecValue<typeof InstructionMeter>
  | CodecValue<typeof InstructionExperimenter>;

function instructionKey(r: Reader): number {
  const type = r.peek16(0, 'instruction header');
  const len = r.peek16(2, 'instruction header');
  if (len < 8 || len > r.remaining) r.fail(INSTRUCTION_LEN_ERR, `instruction type ${type} has length ${len} (${r.remaining} bytes left)`);
  return type;
}

export const InstructionCodec: Codec<Instruction> = variant<Instruction>({
  what: 'instruction',
  tag: 'kind',
  members: [
    [InstructionGotoTable, OFPIT.GOTO_TABLE],
    [InstructionWriteMetadata, OFPIT.WRITE_METADATA],
    [InstructionActions, OFPIT.WRITE_ACTIONS, OFPIT.APPLY_ACTIONS, OFPIT.CLEAR_ACTIONS],
    [InstructionMeter, OFPIT.METER],
    [InstructionExperimenter, OFPIT.EXPERIMENTER],
  ],
  key: instructionKey,
  unknown: { errType: OFPET.BAD_INSTRUCTION, code: OFPBIC.UNKNOWN_INST },
});
