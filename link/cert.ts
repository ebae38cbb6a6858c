/**
 * A node's certificate: the identity its links show in their DTLS handshakes, and the fingerprint that
 * signaling carries so that a peer can pin it (EDGEVPN.md §3: the XMPP channel is the trust anchor).
 *
 * One ECDSA P-256 key pair per node, self-signed (WebRTC checks the certificate's hash against the
 * fingerprint, never a chain or its dates), kept as two PEM files that libdatachannel reads itself
 * (`certificatePemFile` / `keyPemFile`). P-256 rather than RSA: a smaller handshake and a faster
 * signature on every link set-up. Node's crypto can make the key but cannot sign an X.509 certificate,
 * so generation runs `openssl req -x509` (openssl is one of the packages scripts/test.sh installs).
 *
 * Fingerprints are written as SDP writes them: `sha-256 AB:CD:...` (RFC 8122's a=fingerprint value),
 * the hash of the certificate's DER bytes, upper-case hex pairs joined by colons.
 *
 * May import: node: modules, link/errors.ts.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { LinkError } from './errors.js';

const run = promisify(execFile);

/** A node certificate ready for the links: where its files are, and its fingerprint in SDP form. */
export interface NodeCert {
  readonly certPath: string;
  readonly keyPath: string;
  /** `sha-256 AB:CD:...` */
  readonly fingerprint: string;
}

/** The hash algorithms a fingerprint may name, with their digest sizes in bytes. */
const FINGERPRINT_BYTES = { 'sha-256': 32, 'sha-384': 48, 'sha-512': 64 } as const;
export type FingerprintAlgorithm = keyof typeof FINGERPRINT_BYTES;

function isAlgorithm(a: string): a is FingerprintAlgorithm {
  return Object.hasOwn(FINGERPRINT_BYTES, a);
}

/**
 * A fingerprint in its one written form (algorithm in lower case, hex in upper case), or a LinkError
 * EFINGERPRINT saying what is wrong with it. `what` names where it came from, for the message.
 */
export function normalizeFingerprint(text: string, what = 'fingerprint'): string {
  const m = /^\s*([A-Za-z0-9-]+)\s+([0-9A-Fa-f:]+)\s*$/.exec(text);
  if (m === null) throw new LinkError('EFINGERPRINT', `${what} ${JSON.stringify(text)} is not "ALGORITHM HEX:HEX:..." (e.g. "sha-256 AB:CD:...")`);
  const alg = (m[1] as string).toLowerCase();
  if (!isAlgorithm(alg)) throw new LinkError('EFINGERPRINT', `${what} uses hash ${JSON.stringify(alg)}; expected one of ${Object.keys(FINGERPRINT_BYTES).join(', ')}`);
  const hex = (m[2] as string).toUpperCase();
  const n = FINGERPRINT_BYTES[alg];
  if (!new RegExp(`^[0-9A-F]{2}(:[0-9A-F]{2}){${n - 1}}$`).test(hex)) {
    throw new LinkError('EFINGERPRINT', `${what}: a ${alg} fingerprint is ${n} hex pairs joined by colons, got ${JSON.stringify(m[2])}`);
  }
  return `${alg} ${hex}`;
}

/** The sha-256 fingerprint of a PEM certificate, in SDP form. */
export function certFingerprint(pem: string | Buffer): string {
  return `sha-256 ${new X509Certificate(pem).fingerprint256}`;
}

/**
 * Reads a node certificate and its key and checks them: the certificate parses, its key is ECDSA
 * P-256, and the private key belongs to it. Errors (LinkError ECERT) name the file at fault.
 */
export function loadNodeCert(certPath: string, keyPath: string): NodeCert {
  const fail = (file: string, why: string): never => {
    throw new LinkError('ECERT', `node certificate ${certPath} / key ${keyPath}: ${why} (${file})`);
  };
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      return fail(file, e instanceof Error ? e.message : String(e));
    }
  };
  const certPem = read(certPath);
  const keyPem = read(keyPath);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (e) {
    return fail(certPath, `not a PEM certificate: ${e instanceof Error ? e.message : String(e)}`);
  }
  const pub = x509.publicKey;
  if (pub.asymmetricKeyType !== 'ec' || pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const kind = pub.asymmetricKeyType === 'ec' ? `EC ${pub.asymmetricKeyDetails?.namedCurve ?? '?'}` : String(pub.asymmetricKeyType);
    fail(certPath, `the key is ${kind}; a node certificate is ECDSA P-256 (prime256v1)`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(keyPem));
  } catch (e) {
    return fail(keyPath, `not a PEM private key: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!matches) fail(keyPath, 'the private key does not belong to the certificate');
  return { certPath, keyPath, fingerprint: certFingerprint(certPem) };
}

export interface GenerateOptions {
  /** The certificate's subject CN (default "tinflow"): shown by tools, not checked by anyone. */
  readonly commonName?: string;
  /** Validity in days (default 3650). DTLS with a pinned fingerprint does not look at the dates. */
  readonly days?: number;
}

/**
 * Makes a new ECDSA P-256 key and a self-signed certificate with openssl, and writes them to keyPath
 * (mode 0600) and certPath. Both files are written beside their final names first and then renamed, so
 * a crash leaves either the old pair or the new one, never half of it.
 */
export async function generateNodeCert(certPath: string, keyPath: string, opts: GenerateOptions = {}): Promise<NodeCert> {
  const cn = opts.commonName ?? 'tinflow';
  if (!/^[A-Za-z0-9 ._:@-]{1,64}$/.test(cn)) throw new LinkError('ECERT', `certificate common name ${JSON.stringify(cn)}: use 1 to 64 letters, digits, spaces or . _ : @ -`);
  const days = opts.days ?? 3650;
  if (!Number.isInteger(days) || days < 1) throw new LinkError('ECERT', `certificate validity ${days} days is not a positive whole number`);
  const tag = `.tmp-${process.pid}-${Date.now()}`;
  const tmpCert = join(dirname(certPath), `.${basename(certPath)}${tag}`);
  const tmpKey = join(dirname(keyPath), `.${basename(keyPath)}${tag}`);
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', tmpKey, '-out', tmpCert, '-days', String(days), '-subj', `/CN=${cn}`,
    ]);
    chmodSync(tmpKey, 0o600);
    renameSync(tmpKey, keyPath);
    renameSync(tmpCert, certPath);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    const why = err.code === 'ENOENT' && err.path === 'openssl' ? 'openssl is not installed (apt-get install openssl)' : (err.stderr?.trim() || err.message);
    throw new LinkError('ECERT', `cannot make a node certificate ${certPath} / key ${keyPath}: ${why}`);
  } finally {
    rmSync(tmpKey, { force: true });
    rmSync(tmpCert, { force: true });
  }
  return loadNodeCert(certPath, keyPath);
}

/**
 * The node's certificate: loaded when both files exist, made when neither does. One without the other
 * is refused (a lost key cannot be made again to match a certificate peers may have pinned).
 */
export async function ensureNodeCert(certPath: string, keyPath: string, opts: GenerateOptions = {}): Promise<NodeCert> {
  const hasCert = existsSync(certPath);
  const hasKey = existsSync(keyPath);
  if (hasCert && hasKey) return loadNodeCert(certPath, keyPath);
  if (hasCert !== hasKey) {
    const [have, missing] = hasCert ? [certPath, keyPath] : [keyPath, certPath];
    throw new LinkError('ECERT', `node certificate: ${have} exists but ${missing} does not; remove it to make a new pair, or restore the missing file`);
  }
  return generateNodeCert(certPath, keyPath, opts);
}
