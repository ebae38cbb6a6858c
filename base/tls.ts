/**
 * The TLS files of an ssl:/pssl: endpoint: read once, checked once, with errors that name the file.
 *
 * Each file is read and parsed on its own (a certificate, a private key, CA certificates) and then the
 * key is checked against the certificate, so an error says which file is wrong; node's read errors
 * already carry the path. The message starts `cannot use the TLS files (cert C, key K[, ca A]):`.
 *
 * May import: node: modules (see base/README.md).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** CA certificates to verify the peer against; without them, the caller decides what to accept. */
  readonly ca?: string | undefined;
}

/** The files' contents, ready for tls.connect / tls.createServer. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';
  constructor(
    /** The file that could not be used (the certificate's when the key does not match it). */
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

export function loadTlsFiles(files: TlsFiles): TlsMaterial {
  const which = `cert ${files.cert}, key ${files.key}${files.ca !== undefined ? `, ca ${files.ca}` : ''}`;
  const step = <T>(file: string, role: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      // Read errors name the path already ("ENOENT: ..., open '/x.pem'"); parse errors do not.
      const named = why.includes(file) ? why : `${why} (the ${role} file ${file})`;
      throw new TlsFileError(file, `cannot use the TLS files (${which}): ${named}`);
    }
  };
  const cert = step(files.cert, 'cert', () => readFileSync(files.cert));
  const key = step(files.key, 'key', () => readFileSync(files.key));
  const ca = files.ca !== undefined ? step(files.ca, 'ca', () => readFileSync(files.ca as string)) : undefined;
  step(files.cert, 'cert', () => createSecureContext({ cert }));
  step(files.key, 'key', () => createSecureContext({ key }));
  if (ca !== undefined) step(files.ca as string, 'ca', () => createSecureContext({ ca }));
  step(files.cert, 'cert', () => createSecureContext({ cert, key }));
  return ca !== undefined ? { cert, key, ca } : { cert, key };
}
