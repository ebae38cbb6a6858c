/**
 * The few things the link reads in or takes out of a session description. Nothing else is parsed:
 * libdatachannel owns SDP; these checks run before it sees a remote one.
 *
 * May import: link/cert.ts, link/errors.ts.
 */
import { normalizeFingerprint } from './cert.js';
import { LinkError } from './errors.js';

const LINE = /\r?\n/;

/** Every a=fingerprint value in the description (session and media level), normalized, in order. */
export function sdpFingerprints(sdp: string): string[] {
  const out: string[] = [];
  for (const line of sdp.split(LINE)) {
    if (!line.startsWith('a=fingerprint:')) continue;
    out.push(normalizeFingerprint(line.slice('a=fingerprint:'.length), 'the a=fingerprint line of the remote description'));
  }
  return out;
}

/**
 * Refuses (LinkError EFINGERPRINT) a remote description whose certificate fingerprint is not the one
 * signaling vouched for: every a=fingerprint line must carry exactly `expected`, and there must be one.
 * libdatachannel then checks the DTLS certificate against the same value, so a peer whose certificate
 * is not the expected one cannot finish the handshake.
 */
export function checkSdpFingerprint(sdp: string, expected: string, who: string): void {
  const want = normalizeFingerprint(expected, `the expected fingerprint of ${who}`);
  const seen = sdpFingerprints(sdp);
  if (seen.length === 0) throw new LinkError('EFINGERPRINT', `the description from ${who} has no a=fingerprint line; refused`);
  for (const fp of seen) {
    if (fp !== want) throw new LinkError('EFINGERPRINT', `the description from ${who} carries fingerprint ${fp}, not the expected ${want}; refused`);
  }
}

/**
 * The description without candidates (a=candidate, a=end-of-candidates): the offer goes out bare and
 * its candidates follow only once the answer is applied (see tincan.ts, "the set-up race").
 */
export function withoutCandidates(sdp: string): string {
  return sdp
    .split(LINE)
    .filter((l) => !l.startsWith('a=candidate:') && !l.startsWith('a=end-of-candidates'))
    .join('\r\n');
}
