/**
 * The switch's one error type: an OpenFlow error (type, code) with a description. Raised by flow-mod,
 * group-mod, meter-mod and port-mod processing and turned by the OpenFlow channel into OFPT_ERROR for
 * the controller (with the offending request's first 64 bytes as data, as the spec asks).
 * Codec errors (OFPCodecError) carry the same two numbers and are answered the same way.
 */
import { errorName } from '../openflow/index.js';

export class OFPError extends Error {
  override readonly name = 'OFPError';
  constructor(
    readonly errType: number,
    readonly code: number,
    readonly detail: string,
  ) {
    super(`${detail} (${errorName(errType, code)})`);
  }
}
