/**
 * Secrets at the edges of a process: files that hold them, and the bearer token that guards an HTTP
 * server bound beyond loopback. The controller's REST API and the node's status / web view use the same
 * rules, from here:
 *
 * - A file holding a secret (a node config with passwords, a token file) must not be open to group or
 *   others, as ssh insists for its keys: `checkSecretFile` refuses it with the file, its mode and the
 *   fix (`chmod 600 FILE`). Checked before reading, so a secret is never used from an open file.
 * - An HTTP server binds loopback unless told otherwise; told otherwise, it needs a token
 *   (`requireTokenBeyondLoopback`), and every request must then carry `Authorization: Bearer TOKEN`
 *   (`checkBearer`, a constant-time compare). A browser's WebSocket cannot set that header, so a route
 *   may accept `?token=` instead (the web view's /live only).
 *
 * No HTTP framework here: callers hook `checkBearer` into theirs.
 *
 * May import: node: modules (see base/README.md).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** A secret file that cannot be used: `file` names it, the message says why and what to do. */
export class SecretFileError extends Error {
  override readonly name = 'SecretFileError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

/** The permission bits that must be clear on a secret file: any access by group or others. */
const OPEN_BITS = 0o077;

/**
 * Throws a SecretFileError if `file` can be read, written or run by group or others (mode & 0o077),
 * naming the file, its mode and the fix. `what` says what the file holds, for the message.
 */
export function checkSecretFile(file: string, what = 'secrets'): void {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o7777;
  } catch (e) {
    throw new SecretFileError(file, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if ((mode & OPEN_BITS) !== 0) {
    const octal = `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
    throw new SecretFileError(
      file,
      `${file} holds ${what} but its mode ${octal} lets group or others access it; refusing to use it: run chmod 600 ${file}`,
    );
  }
}

/** Reads a token file (its mode checked first): the first line, trimmed; empty or short is refused. */
export function readTokenFile(file: string): string {
  checkSecretFile(file, 'a token');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SecretFileError(file, `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const token = (text.split('\n')[0] ?? '').trim();
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new SecretFileError(file, `the token in ${file} is ${token.length === 0 ? 'empty' : `${token.length} characters`}; use at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32 > ${file})`);
  }
  if (!/^[\x21-\x7e]+$/.test(token)) throw new SecretFileError(file, `the token in ${file} must be printable ASCII without spaces`);
  return token;
}

/** Shorter tokens are guessable; 16 characters of hex are 64 bits. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Whether an address to bind stays on this machine: 127.0.0.0/8, ::1 and IPv4-mapped 127.x. Anything
 * else, the unspecified addresses (0.0.0.0, ::) included, reaches further.
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.exec(h);
  if (v4) return v4[1] === '127';
  return /^(?:0{0,4}:){2,7}0{0,3}1$/.test(h) || h === '::1';
}

/**
 * Refuses to serve on a non-loopback address without a token: the message names the server, the
 * address and the setting that supplies one (`--rest-token-file FILE`, `Status.TokenFile`).
 */
export function requireTokenBeyondLoopback(what: string, host: string, token: string | undefined, setting: string): void {
  if (token === undefined && !isLoopback(host)) {
    throw new Error(`${what} on ${host} would be reachable from other machines without a token: give one with ${setting} (a file of mode 0600 holding the token), or bind 127.0.0.1`);
  }
}

/** Constant-time equality of two strings (compares their SHA-256 digests, so lengths leak nothing). */
export function tokensEqual(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** What a request offers: its Authorization header, and the `token` query parameter where a route allows it. */
export interface Credentials {
  readonly authorization?: string | undefined;
  readonly queryToken?: string | undefined;
}

/**
 * undefined when the request may pass (no token configured, or the right one given), else the reason
 * for a 401 (without the token itself).
 */
export function checkBearer(token: string | undefined, creds: Credentials): string | undefined {
  if (token === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(creds.authorization ?? '');
  const given = m?.[1] ?? creds.queryToken;
  if (given === undefined) return 'this server needs a token: send "Authorization: Bearer TOKEN"';
  return tokensEqual(token, given) ? undefined : 'wrong token';
}
