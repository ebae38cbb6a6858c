/**
 * Signaling over TLS against a real prosody that requires it (a certificate for tinflow.test signed by
 * a CA made for the run): STARTTLS and direct TLS with the CA file, logging in with the library's
 * default mechanism (SCRAM-SHA-1 over TLS, never PLAIN); a certificate that does not chain to the CA
 * file, a server with no certificate for the domain, or a server that requires TLS when tls is "none"
 * is a fatal ETLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkError } from '../../link/errors.js';
import { resolveSignalConfig } from '../../link/signal-config.js';
import { XmppCircle } from '../../link/signal.js';
import { type TestProsody, hasProsody, startTestProsody } from './signal-prosody.js';

const A = '1'.repeat(32);
const B = '2'.repeat(32);

async function fatalOf(c: XmppCircle): Promise<LinkError> {
  try {
    await c.start();
  } catch (e) {
    if (e instanceof LinkError) return e;
    throw e;
  }
  throw new Error('expected start() to fail');
}

describe.skipIf(!hasProsody)('signaling over TLS', () => {
  let prosody: TestProsody;
  const circles: XmppCircle[] = [];

  beforeAll(async () => {
    prosody = await startTestProsody({ tls: true, accounts: [{ user: 'a', password: 'pw-a' }, { user: 'b', password: 'pw-b' }] });
  });

  afterAll(async () => {
    await Promise.all(circles.map((c) => c.stop()));
    await prosody?.dispose();
  });

  function circle(nodeId: string, user: string, extra: Record<string, unknown>): XmppCircle {
    const config = resolveSignalConfig({ jid: `${user}@${prosody.domain}`, password: `pw-${user}`, host: prosody.host, connectTimeoutMs: 10_000, ...extra });
    const c = new XmppCircle({ nodeId, overlayId: 'tls', config });
    circles.push(c);
    return c;
  }

  it('logs in over STARTTLS and over direct TLS with the CA file, with SCRAM, and carries requests', async () => {
    const a = circle(A, 'a', { port: prosody.port, tls: 'starttls', caFile: prosody.caFile });
    const b = circle(B, 'b', { port: prosody.tlsPort, tls: 'direct', caFile: prosody.caFile });
    const online: { secure: boolean; mechanism: string }[] = [];
    a.on('online', (i) => online.push(i));
    b.on('online', (i) => online.push(i));
    await Promise.all([a.start(), b.start()]);
    expect(online).toEqual([
      expect.objectContaining({ secure: true, mechanism: 'SCRAM-SHA-1' }),
      expect.objectContaining({ secure: true, mechanism: 'SCRAM-SHA-1' }),
    ]);
    b.onRequest('TEST_PING', () => 'pong');
    const deadline = Date.now() + 10_000;
    while (!a.peers().includes(B) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await a.request(B, 'TEST_PING', {})).toBe('pong');
  }, 30_000);

  it.each([
    ['STARTTLS, a CA that did not sign the certificate', () => ({ port: prosody.port, tls: 'starttls', caFile: prosody.otherCaFile }), /not trusted for tinflow\.test/],
    ['direct TLS, the system CAs only', () => ({ port: prosody.tlsPort, tls: 'direct' }), /not trusted for tinflow\.test .*system's CAs/],
    ['clear text to a server that requires TLS', () => ({ port: prosody.port, tls: 'none', sasl: 'plain' }), /requires TLS/],
  ])('refuses %s: fatal ETLS, no login attempted', async (_name, extra, text) => {
    const c = circle(A, 'a', extra());
    const e = await fatalOf(c);
    expect(e.code).toBe('ETLS');
    expect(e.message).toMatch(text);
    expect(c.state).toBe('failed');
  });

  it('gives up on a server that has no certificate for the domain (direct TLS)', async () => {
    // prosody ends the handshake (alert unrecognized_name) for a name it serves no certificate for.
    const config = resolveSignalConfig({ jid: 'a@other.test', password: 'pw-a', host: prosody.host, port: prosody.tlsPort, tls: 'direct', caFile: prosody.caFile });
    const c = new XmppCircle({ nodeId: A, overlayId: 'tls', config });
    circles.push(c);
    const e = await fatalOf(c);
    expect(e.code).toBe('ETLS');
    expect(e.message).toMatch(/no certificate for other\.test/);
  });

  it('reports an unreadable CA file as ETLS naming the file', async () => {
    const c = circle(A, 'a', { port: prosody.port, tls: 'starttls', caFile: '/nonexistent/ca.pem' });
    const e = await fatalOf(c);
    expect(e.code).toBe('ETLS');
    expect(e.message).toContain('/nonexistent/ca.pem');
  });
});
