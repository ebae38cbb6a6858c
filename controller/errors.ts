/**
 * The controller's one error type, with stable codes. The REST layer maps codes to HTTP statuses
 * (httpStatus below), so every failure reaches a client as JSON with a message and a fitting status.
 */
import type { MessageOf } from '../openflow/index.js';

export type ControllerErrorCode =
  /** The request's JSON, path or query was malformed or named an unknown field (HTTP 400). */
  | 'bad-request'
  /** No datapath with that id is connected (HTTP 404). */
  | 'unknown-dpid'
  /** The switch answered with OFPT_ERROR; `switchError` holds it (HTTP 400: the request was refused). */
  | 'switch-error'
  /** The switch did not answer in time (HTTP 504). */
  | 'timeout'
  /** The switch disconnected before answering (HTTP 502). */
  | 'disconnected'
  /** Bad command-line flags or app configuration. */
  | 'config'
  /** An app failed to start, or misused the app API (a timer after stopping, a service nobody provides). */
  | 'app';

export class ControllerError extends Error {
  override readonly name = 'ControllerError';
  constructor(
    readonly code: ControllerErrorCode,
    message: string,
    readonly switchError?: MessageOf<'OFPErrorMsg'>,
  ) {
    super(message);
  }
}

export function httpStatus(code: ControllerErrorCode): number {
  switch (code) {
    case 'bad-request':
    case 'switch-error':
    case 'config':
      return 400;
    case 'unknown-dpid':
      return 404;
    case 'timeout':
      return 504;
    case 'disconnected':
      return 502;
    case 'app':
      return 500;
  }
}
