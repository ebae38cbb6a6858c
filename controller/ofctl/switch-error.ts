/** A switch's OFPT_ERROR as the JSON that an error answer of the REST API carries. */
import {
  type Json,
  type MessageOf,
  OFPET,
  errorNames,
} from '../../openflow/index.js';

/** An OFPT_ERROR as JSON for an error answer: its type and code, by number and by the spec's name. */
export function switchErrorJson(e: MessageOf<'OFPErrorMsg'>): Json {
  if (e.err_type === OFPET.EXPERIMENTER) {
    return { err_type: e.err_type, err_type_name: 'OFPET_EXPERIMENTER', exp_type: e.exp_type ?? 0, experimenter: e.experimenter ?? 0 };
  }
  const code = e.code ?? 0;
  const n = errorNames(e.err_type, code);
  return {
    err_type: e.err_type,
    err_code: code,
    err_type_name: n.type === undefined ? null : `OFPET_${n.type}`,
    err_code_name: n.code === undefined ? null : `${n.codePrefix ?? ''}_${n.code}`,
  };
}
