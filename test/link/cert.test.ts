/**
 * Node certificates (link/cert.ts) with the real openssl: made once, loaded again with the same
 * fingerprint (which is Node's own sha-256 of the certificate, in SDP form), and refused with a message
 * naming the file when they are not an ECDSA P-256 pair. Fingerprint text is normalized or refused.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certFingerprint, ensureNodeCert, generateNodeCert, loadNodeCert, normalizeFingerprint } from '../../link/cert.js';
import { LinkError } from '../../link/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tinflow-cert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => join(dir, name);

describe('node certificates', () => {
  it('makes an ECDSA P-256 pair whose fingerprint is the certificate\'s sha-256 in SDP form; the key is private', async () => {
    const c = await generateNodeCert(at('n1.crt'), at('n1.key'), { commonName: 'node-1' });
    const x = new X509Certificate(readFileSync(c.certPath));
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x.subject).toBe('CN=node-1');
    expect(c.fingerprint).toBe(`sha-256 ${x.fingerprint256}`);
    expect(c.fingerprint).toMatch(/^sha-256 [0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
    expect(statSync(c.keyPath).mode & 0o777).toBe(0o600);
    expect(loadNodeCert(c.certPath, c.keyPath)).toEqual(c);
    expect(certFingerprint(readFileSync(c.certPath))).toBe(c.fingerprint);
  });

  it('ensureNodeCert makes a pair once and then keeps it', async () => {
    const first = await ensureNodeCert(at('n2.crt'), at('n2.key'));
    const again = await ensureNodeCert(at('n2.crt'), at('n2.key'));
    expect(again.fingerprint).toBe(first.fingerprint);
    const other = await ensureNodeCert(at('n3.crt'), at('n3.key'));
    expect(other.fingerprint).not.toBe(first.fingerprint);
  });

  it('refuses half a pair rather than making a new certificate peers would not know', async () => {
    await generateNodeCert(at('h.crt'), at('h.key'));
    rmSync(at('h.key'));
    await expect(ensureNodeCert(at('h.crt'), at('h.key'))).rejects.toThrow(/h\.crt exists but .*h\.key does not/);
  });

  it('refuses an RSA certificate, a key of another certificate, and files that are not PEM, naming the file', async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('rsa.key'), '-out', at('rsa.crt'), '-days', '1', '-subj', '/CN=rsa'], { stdio: 'ignore' });
    expect(() => loadNodeCert(at('rsa.crt'), at('rsa.key'))).toThrow(/the key is rsa; a node certificate is ECDSA P-256 .*rsa\.crt/);
    const a = await generateNodeCert(at('a.crt'), at('a.key'));
    const b = await generateNodeCert(at('b.crt'), at('b.key'));
    expect(() => loadNodeCert(a.certPath, b.keyPath)).toThrow(/does not belong to the certificate \(.*b\.key\)/);
    writeFileSync(at('junk.crt'), 'not a certificate');
    expect(() => loadNodeCert(at('junk.crt'), a.keyPath)).toThrow(/not a PEM certificate.*junk\.crt/);
    copyFileSync(a.certPath, at('a2.crt'));
    writeFileSync(at('junk.key'), 'not a key');
    expect(() => loadNodeCert(at('a2.crt'), at('junk.key'))).toThrow(/not a PEM private key.*junk\.key/);
    expect(() => loadNodeCert(at('missing.crt'), a.keyPath)).toThrow(expect.objectContaining({ code: 'ECERT', message: expect.stringMatching(/ENOENT.*missing\.crt/) }));
  });

  it('refuses a bad common name or validity before running openssl', async () => {
    await expect(generateNodeCert(at('x.crt'), at('x.key'), { commonName: 'a/b=c' })).rejects.toThrow(/common name/);
    await expect(generateNodeCert(at('x.crt'), at('x.key'), { days: 0 })).rejects.toThrow(/validity 0 days/);
  });
});

describe('fingerprint text', () => {
  const hex32 = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0')).join(':');
  it.each([
    [`sha-256 ${hex32}`, `sha-256 ${hex32.toUpperCase()}`],
    [`SHA-256 ${hex32.toUpperCase()}`, `sha-256 ${hex32.toUpperCase()}`],
    [`  sha-256   ${hex32}  `, `sha-256 ${hex32.toUpperCase()}`],
    [`sha-512 ${'AB:'.repeat(63)}AB`, `sha-512 ${'AB:'.repeat(63)}AB`],
  ])('%s → %s', (text, want) => {
    expect(normalizeFingerprint(text)).toBe(want);
  });

  it.each([
    ['', /is not "ALGORITHM HEX/],
    [hex32, /is not "ALGORITHM HEX/],
    [`md5 ${'AB:'.repeat(15)}AB`, /uses hash "md5"/],
    [`sha-1 ${'AB:'.repeat(19)}AB`, /uses hash "sha-1"/],
    [`sha-256 ${'AB:'.repeat(30)}AB`, /32 hex pairs/],
    [`sha-256 ${'AB'.repeat(32)}`, /32 hex pairs/],
    [`sha-512 ${hex32}`, /64 hex pairs/],
  ])('%j is refused', (text, why) => {
    expect(() => normalizeFingerprint(text)).toThrow(LinkError);
    expect(() => normalizeFingerprint(text)).toThrow(why);
  });
});
