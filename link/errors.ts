/**
 * link/'s one error type, with stable codes a caller (the link manager) can act on without reading
 * messages. Configuration mistakes are not here: they are base/cli.ts's ConfigError, which carries the
 * key path (`$.link.mtu: ...`) as every tinflow config error does.
 *
 * May import: nothing.
 */

export const LINK_ERROR_CODES = {
  /** A peer's certificate fingerprint is missing, malformed, or not the one signaling vouched for. */
  EFINGERPRINT: 'EFINGERPRINT',
  /** A signaling step out of order (an answer before an offer, a second offer, the wrong role). */
  ESIGNALING: 'ESIGNALING',
  /** A session description or candidate that libdatachannel or our checks could not use. */
  ESDP: 'ESDP',
  /** A node certificate that cannot be made, read or used. */
  ECERT: 'ECERT',
  /** The link is closed (by its owner, its peer, a timeout or a failure). */
  ECLOSED: 'ECLOSED',
  /** The link manager: a handshake step or the link's set-up took longer than its timeout. */
  ETIMEDOUT: 'ETIMEDOUT',
  /** The link manager: the peer refused the link (the message carries its refusal code and reason). */
  EREFUSED: 'EREFUSED',
  /** Signaling (link/signal.ts): the node is not in the overlay's room (unknown, gone, or unreachable). */
  EPEER: 'EPEER',
  /** Signaling: the peer's handler failed; the message carries what it said. */
  EREMOTE: 'EREMOTE',
  /** Signaling: the XMPP session was lost while a reply was awaited; it is not resent (retry). */
  ERECONNECTED: 'ERECONNECTED',
  /** Signaling: not in the room right now (still connecting, or reconnecting). */
  EOFFLINE: 'EOFFLINE',
  /** Signaling: too many requests awaiting replies; nothing was sent. */
  EBUSY: 'EBUSY',
  /** Signaling, fatal: the server refused the login (wrong account or password, no usable mechanism). */
  EAUTH: 'EAUTH',
  /** Signaling, fatal: TLS refused (certificate not trusted for the domain, or STARTTLS not offered). */
  ETLS: 'ETLS',
} as const;

export type LinkErrorCode = (typeof LINK_ERROR_CODES)[keyof typeof LINK_ERROR_CODES];

export class LinkError extends Error {
  override readonly name = 'LinkError';
  constructor(
    readonly code: LinkErrorCode,
    message: string,
  ) {
    super(message);
  }
}
