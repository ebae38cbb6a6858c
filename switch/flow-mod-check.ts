/**
 * Flow-mod validation against this switch (OF1.3 §6.4, §A.4 errors): the instructions of a flow entry
 * for its table (each type once, goto-table forward and to an existing table, meters that exist), and
 * actions (their own rules in actions.ts, then output ports, groups and settable fields). The datapath
 * runs these before a flow-mod changes anything, and hands checkActions to its group table for buckets.
 *
 * May import: openflow/index.ts, switch/errors.ts, switch/actions.ts.
 */
import {
  type Action,
  type Instruction,
  OFPBAC,
  OFPBIC,
  OFPET,
  OFPIT,
  OFPM,
  OFPMMFC,
  OFPP,
} from '../openflow/index.js';
import { SETTABLE_FIELDS, validateAction } from './actions.js';
import { OFPError } from './errors.js';

/** What the checks need of a switch: how many tables it has, and which groups and meters exist. */
export interface CheckTarget {
  readonly nTables: number;
  readonly groups: { has(id: number): boolean };
  readonly meters: { has(id: number): boolean };
}

function badPort(detail: string): OFPError {
  return new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_OUT_PORT, detail);
}

/** Validates instructions for table `tableId` (OF1.3 §6.4, §A.4.1 errors). */
export function checkInstructions(sw: CheckTarget, tableId: number, instructions: readonly Instruction[]): void {
  const seen = new Set<number>();
  for (const ins of instructions) {
    const t = ins.kind === 'OFPInstructionActions' ? ins.type : ins.kind === 'OFPInstructionGotoTable' ? OFPIT.GOTO_TABLE : ins.kind === 'OFPInstructionWriteMetadata' ? OFPIT.WRITE_METADATA : ins.kind === 'OFPInstructionMeter' ? OFPIT.METER : OFPIT.EXPERIMENTER;
    if (seen.has(t)) throw new OFPError(OFPET.BAD_INSTRUCTION, OFPBIC.UNSUP_INST, `instruction type ${t} appears twice`);
    seen.add(t);
    switch (ins.kind) {
      case 'OFPInstructionGotoTable':
        if (ins.table_id <= tableId || ins.table_id >= sw.nTables) {
          throw new OFPError(OFPET.BAD_INSTRUCTION, OFPBIC.BAD_TABLE_ID, `goto-table ${ins.table_id} from table ${tableId}`);
        }
        break;
      case 'OFPInstructionMeter':
        if (ins.meter_id === 0 || ins.meter_id > OFPM.MAX || !sw.meters.has(ins.meter_id)) {
          throw new OFPError(OFPET.METER_MOD_FAILED, OFPMMFC.UNKNOWN_METER, `meter ${ins.meter_id} does not exist`);
        }
        break;
      case 'OFPInstructionActions':
        checkActions(sw, ins.actions, false);
        break;
      case 'OFPInstructionWriteMetadata':
        break;
      case 'OFPInstructionExperimenter':
        throw new OFPError(OFPET.BAD_INSTRUCTION, OFPBIC.BAD_EXPERIMENTER, `experimenter instruction ${ins.experimenter}`);
    }
  }
}

/**
 * Validates actions: their own rules (actions.ts), then ports and groups against this switch. Flow-mods,
 * group buckets and packet-outs (`packetOut`: TABLE is a valid output there) all go through it.
 */
export function checkActions(sw: CheckTarget, actions: readonly Action[], packetOut: boolean): void {
  for (const a of actions) {
    validateAction(a);
    if (a.kind === 'OFPActionOutput') {
      const p = a.port;
      const reserved = p === OFPP.IN_PORT || p === OFPP.ALL || p === OFPP.FLOOD || p === OFPP.CONTROLLER || p === OFPP.LOCAL || (packetOut && p === OFPP.TABLE);
      if (!reserved && (p === 0 || p > OFPP.MAX)) throw badPort(`output to port ${p} is not allowed here`);
      if (!reserved && p > OFPP.MAX) throw badPort(`port ${p} does not exist`);
    } else if (a.kind === 'OFPActionGroup') {
      if (!sw.groups.has(a.group_id)) throw new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_OUT_GROUP, `group ${a.group_id} does not exist`);
    } else if (a.kind === 'OFPActionSetField' && !SETTABLE_FIELDS.has(a.field.field)) {
      throw new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_SET_TYPE, `${a.field.field} cannot be set`);
    }
  }
}
