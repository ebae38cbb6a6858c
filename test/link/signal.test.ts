/**
 * Signaling against a real prosody on loopback (its own config, a MUC component with prosody's default
 * rooms: locked until their creator configures them, semi-anonymous, not persistent): nodes see each
 * other in the overlay's room, remote actions go both ways with correlation, timeouts and failures
 * come back as typed errors, malformed and forged stanzas from a raw client are dropped and counted
 * while a valid request right after still works, a wrong password is a fatal EAUTH, and after a server
 * restart both nodes rejoin and requests work again.
 */
import { type Client, client, xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scheduler } from '../../base/redial.js';
import { LinkError } from '../../link/errors.js';
import { XmppCircle } from '../../link/signal.js';
import { NS_MUC, NS_SIGNAL } from '../../link/stanzas.js';
import { waitFor } from '../helpers/wait.js';
import { type TestProsody, hasProsody, startTestProsody, testSignalConfig } from './signal-prosody.js';

const OVERLAY = 'Ovl1';
const ROOM_LOCAL = 'ovl1';
const ids = {
  a: 'a'.repeat(32),
  b: 'b'.repeat(32),
  c: 'c'.repeat(32),
  d: 'd'.repeat(32),
  e: 'e'.repeat(32),
  raw: '0123456789abcdef0123456789abcdef',
};
const USERS = ['a', 'b', 'c', 'd', 'e', 'raw', 'intruder'] as const;
const pw = (user: string): string => `pw-${user}`;

/** Rejects with the promise's error, or fails when it resolves. */
async function rejection(p: Promise<unknown>): Promise<LinkError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof LinkError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!hasProsody)('signaling over a real prosody', () => {
  let prosody: TestProsody;
  const circles: XmppCircle[] = [];
  const raws: Client[] = [];

  beforeAll(async () => {
    prosody = await startTestProsody({ accounts: USERS.map((u) => ({ user: u, password: pw(u) })) });
  });

  afterAll(async () => {
    await Promise.all(circles.map((c) => c.stop()));
    await Promise.all(raws.map((r) => r.stop().catch(() => undefined)));
    await prosody?.dispose();
  });

  const detail = (): string => prosody.logTail(20);

  function circle(user: string, nodeId: string, extra: Record<string, unknown> = {}, opts: { scheduler?: Scheduler } = {}): XmppCircle {
    const c = new XmppCircle({ nodeId, overlayId: OVERLAY, config: testSignalConfig(prosody, user, pw(user), extra), ...opts });
    circles.push(c);
    return c;
  }

  async function sees(c: XmppCircle, ...nodeIds: string[]): Promise<void> {
    await waitFor(`${c.nodeId.slice(0, 4)} to see ${nodeIds.map((n) => n.slice(0, 4)).join(', ')}`, () => nodeIds.every((n) => c.peers().includes(n)), 10_000, { detail });
  }

  /** A plain XMPP client, to send what a node never would. */
  async function raw(user: string): Promise<{ c: Client; inbox: ReturnType<typeof xml>[] }> {
    const c = client({
      service: `xmpp://${prosody.host}:${prosody.port}`,
      domain: prosody.domain,
      resource: 'raw',
      credentials: (auth) => auth({ username: user, password: pw(user) }, 'PLAIN'),
    });
    c.reconnect.stop();
    c.on('error', () => undefined);
    const inbox: ReturnType<typeof xml>[] = [];
    c.on('stanza', (s) => inbox.push(s));
    raws.push(c);
    await c.start();
    return { c, inbox };
  }

  describe('three nodes in one overlay', () => {
    let a: XmppCircle;
    let b: XmppCircle;
    let c: XmppCircle;
    const presentAtA: string[] = [];
    const goneAtA: string[] = [];
    const eventsAtB: string[] = [];

    beforeAll(async () => {
      a = circle('a', ids.a);
      b = circle('b', ids.b);
      c = circle('c', ids.c);
      a.on('peerPresent', (n) => presentAtA.push(n));
      a.on('peerGone', (n) => goneAtA.push(n));
      b.on('online', () => eventsAtB.push('online'));
      b.on('peerPresent', (n) => eventsAtB.push(n));
      await a.start(); // a makes the room; b and c may find it locked for a moment and retry
      await Promise.all([b.start(), c.start()]);
      await sees(a, ids.b, ids.c);
      await sees(b, ids.a, ids.c);
      await sees(c, ids.a, ids.b);
    });

    it('see each other from the room presence, by node id', () => {
      expect(presentAtA.sort()).toEqual([ids.b, ids.c]);
      // b found a in the room as it joined: a is announced once b is online, so b can send to it at once.
      expect(eventsAtB[0]).toBe('online');
      expect(eventsAtB).toContain(ids.a);
      expect(a.state).toBe('online');
      // Peers are addressed by their occupant JIDs in the overlay's room.
      expect(a.peer(ids.b)?.jid).toBe(`${ROOM_LOCAL}@${prosody.mucDomain}/${ids.b}`);
    });

    it('round-trips requests, each reply matched to its own request', async () => {
      b.onRequest('TEST_ECHO', (params, from) => ({ echo: params, from }));
      expect(await a.request(ids.b, 'TEST_ECHO', { x: 1, s: 'é <&> "q"' })).toEqual({ echo: { x: 1, s: 'é <&> "q"' }, from: ids.a });
      // Many at once, answered out of order: each resolves with the data for its own params.
      b.onRequest('TEST_SLOW_ECHO', async (params) => {
        await new Promise((r) => setTimeout(r, (20 - Number(params.i)) * 5));
        return params.i;
      });
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => a.request(ids.b, 'TEST_SLOW_ECHO', { i })));
      expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => i));
      // Multi-byte characters in a stanza large enough to span several TCP reads arrive whole.
      const text = 'é€😀'.repeat(5000); // 45,000 bytes of UTF-8
      expect(await a.request(ids.b, 'TEST_ECHO', { text })).toEqual({ echo: { text }, from: ids.a });
      // And the other way round, with a payload near the 64 KiB bound.
      a.onRequest('TEST_SIZE', (params) => String(params.blob).length);
      expect(await c.request(ids.a, 'TEST_SIZE', { blob: 'x'.repeat(60_000) })).toBe(60_000);
      await expect(c.request(ids.a, 'TEST_SIZE', { blob: 'x'.repeat(70_000) })).rejects.toThrow(/over 65536/);
      expect(b.stats().received.invk).toBe(22);
      expect(a.stats().pending).toBe(0);
    });

    it('turns a failed handler, a missing handler, an absent node and a timeout into typed errors', async () => {
      b.onRequest('TEST_FAIL', () => {
        throw new Error('no such tunnel 42');
      });
      const failed = await rejection(a.request(ids.b, 'TEST_FAIL', {}));
      expect(failed.code).toBe('EREMOTE');
      expect(failed.message).toContain('no such tunnel 42');

      const unhandled = await rejection(a.request(ids.b, 'TEST_NOBODY', {}));
      expect(unhandled.code).toBe('EREMOTE');
      expect(unhandled.message).toContain('no handler for TEST_NOBODY');
      expect(b.stats().refused.noHandler).toBe(1);

      const absent = await rejection(a.request(ids.d, 'TEST_ECHO', {}));
      expect(absent.code).toBe('EPEER');

      let release: () => void = () => undefined;
      b.onRequest('TEST_HANG', () => new Promise<string>((r) => (release = () => r('late'))));
      const late = await rejection(a.request(ids.b, 'TEST_HANG', {}, { timeoutMs: 300 }));
      expect(late.code).toBe('ETIMEDOUT');
      // The reply that comes after the timeout answers nothing any more: dropped and counted.
      const unexpected = a.stats().dropped.unexpected;
      release();
      await waitFor('the late reply to be dropped', () => a.stats().dropped.unexpected === unexpected + 1, 10_000);
    });

    it('drops malformed and forged stanzas, counts them, and still serves the next valid request', async () => {
      const r = await raw('raw');
      const room = `${ROOM_LOCAL}@${prosody.mucDomain}`;
      // A client of the room that passes as a node: its nick is a node id and it announces it.
      await r.c.send(xml('presence', { to: `${room}/${ids.raw}` }, xml('x', { xmlns: NS_MUC }), xml('status', {}, `ident#${ids.raw}`)));
      await sees(a, ids.raw);
      let handled = 0;
      a.onRequest('TEST_COUNT', (_p, from) => {
        handled++;
        return from;
      });
      const toA = `${room}/${ids.a}`;
      const ra = (over: Record<string, unknown> = {}): string =>
        JSON.stringify({ overlay_id: OVERLAY, recipient_id: ids.a, recipient_cm: 'LinkManager', action: 'TEST_COUNT', params: {}, initiator_id: ids.raw, initiator_cm: 'LinkManager', action_tag: 't1', ...over });
      const evio = (type: string, text: string, id = 'm'): ReturnType<typeof xml> => xml('message', { to: toA, type: 'chat', id }, xml('evio', { xmlns: NS_SIGNAL, type }, text));
      const { action_tag: _tag, ...noTag } = JSON.parse(ra()) as Record<string, unknown>;
      const bad = [
        xml('message', { to: toA, type: 'chat' }, xml('body', {}, 'hello')), // no evio
        evio('query', ra()), // unknown type
        evio('invk', '{"overlay_id": '), // not JSON
        evio('invk', '[1,2]'), // not an object
        evio('invk', JSON.stringify(noTag)), // a key missing
        evio('invk', ra({ extra: 1 })), // an unknown key
        evio('invk', ra({ status: true })), // an invk with a status
        evio('invk', ra({ recipient_id: 'A'.repeat(32) })), // not a node id
        evio('invk', ra({ params: 'x' })), // params not an object
        evio('invk', JSON.stringify({ ...JSON.parse(ra()), params: { pad: 'x'.repeat(70_000) } })), // too large
        evio('cmpt', ra()), // a cmpt without status
        xml('message', { to: toA, type: 'chat' }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, ra()), xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, ra())), // two
        xml('message', { to: toA, type: 'chat' }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, xml('b', {}, ra()))), // an element inside
        xml('message', { to: toA, type: 'normal' }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, ra())), // not a chat
      ];
      const forged = [
        evio('invk', ra({ initiator_id: ids.b })), // claims to be node b
        evio('cmpt', ra({ recipient_id: ids.b, initiator_id: ids.a, status: true })), // a reply in b's name
      ];
      const misdirected = [evio('invk', ra({ overlay_id: 'other' })), evio('invk', ra({ recipient_id: ids.c }))];
      const unexpected = [evio('cmpt', ra({ recipient_id: ids.raw, initiator_id: ids.a, status: true }))]; // answers nothing
      const before = a.stats().dropped;
      for (const m of [...bad, ...forged, ...misdirected, ...unexpected]) await r.c.send(m);
      // Straight to a's account, not through the room: not a sender a knows.
      const aReal = `a@${prosody.domain}/tinflow-${ids.a}`;
      await r.c.send(xml('message', { to: aReal, type: 'chat', id: 'd1' }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, ra())));

      await waitFor('every stanza to be counted', () => {
        const d = a.stats().dropped;
        return (
          d.malformed - before.malformed === bad.length &&
          d.spoofed - before.spoofed === forged.length &&
          d.misdirected - before.misdirected === misdirected.length &&
          d.unexpected - before.unexpected === unexpected.length &&
          d['unknown-sender'] - before['unknown-sender'] === 1
        );
      }, 10_000, { detail: () => JSON.stringify({ before, now: a.stats().dropped }) });
      expect(handled).toBe(0);

      // The same raw client with a well-formed request is served: the drops above were for their content.
      await r.c.send(evio('invk', ra({ action_tag: 'good1' }), 'good1'));
      const reply = await waitFor('the reply to the raw client', () => r.inbox.find((s) => s.attrs.id === 'good1'), 10_000);
      const cmpt = JSON.parse(reply.getChild('evio', NS_SIGNAL)?.text() ?? '{}') as Record<string, unknown>;
      expect(cmpt).toMatchObject({ status: true, data: ids.raw, action_tag: 'good1', recipient_id: ids.a, initiator_id: ids.raw });
      expect(handled).toBe(1);
      // And a valid request from a real node right after all that works.
      expect(await b.request(ids.a, 'TEST_COUNT', {})).toBe(ids.b);
      expect(handled).toBe(2);
    });

    it('ignores occupants that are not nodes and what they send', async () => {
      const r = await raw('intruder');
      const room = `${ROOM_LOCAL}@${prosody.mucDomain}`;
      const before = a.stats().dropped;
      await r.c.send(xml('presence', { to: `${room}/alice` }, xml('x', { xmlns: NS_MUC })));
      await waitFor('the non-node occupant to be seen and ignored', () => a.stats().dropped['not-a-node'] > before['not-a-node'], 10_000);
      await r.c.send(xml('message', { to: `${room}/${ids.a}`, type: 'chat' }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, '{}')));
      await waitFor('its message to count as unknown', () => a.stats().dropped['unknown-sender'] > before['unknown-sender'], 10_000);
      expect(a.peers()).not.toContain('alice');
    });

    it('fails a request at once when its peer leaves, and reports the peer gone', async () => {
      c.onRequest('TEST_NEVER', () => new Promise(() => undefined));
      const pending = rejection(a.request(ids.c, 'TEST_NEVER', {}, { timeoutMs: 30_000 }));
      await waitFor('c to get the request', () => c.stats().received.invk > 0, 10_000);
      await c.stop();
      const e = await pending;
      expect(e.code).toBe('EPEER');
      await waitFor('a to see c gone', () => goneAtA.includes(ids.c), 10_000);
      expect(a.peers()).not.toContain(ids.c);
      expect((await rejection(a.request(ids.c, 'TEST_ECHO', {}))).code).toBe('EPEER');
    });
  });

  it('refuses a wrong password with a fatal EAUTH naming the account and the server, without redialling', async () => {
    let redials = 0;
    const counting: Scheduler = {
      schedule(ms, fn) {
        redials++;
        const t = setTimeout(fn, ms);
        return { cancel: () => clearTimeout(t) };
      },
    };
    const bad = circle('d', ids.d, { password: 'wrong' }, { scheduler: counting });
    const fatal: LinkError[] = [];
    bad.on('fatal', (e) => fatal.push(e));
    const e = await rejection(bad.start());
    expect(e.code).toBe('EAUTH');
    expect(e.message).toContain(`d@${prosody.domain}`);
    expect(e.message).toContain(`${prosody.host}:${prosody.port}`);
    expect(e.message).toContain('not-authorized');
    expect(bad.state).toBe('failed');
    expect(fatal.map((f) => f.code)).toEqual(['EAUTH']);
    await new Promise((r) => setTimeout(r, 400)); // longer than the 200 ms first backoff step
    expect(redials).toBe(0);
    expect(bad.stats().sessions).toBe(0);
  }, 15_000);

  it('reconnects both nodes after the server restarts; a request waiting meanwhile fails, a new one works', async () => {
    const d = circle('d', ids.d);
    const e = circle('e', ids.e);
    await Promise.all([d.start(), e.start()]);
    await sees(d, ids.e);
    await sees(e, ids.d);
    e.onRequest('TEST_WHO', (_p, from) => `e answers ${from}`);
    e.onRequest('TEST_NEVER', () => new Promise(() => undefined));
    const offline: string[] = [];
    d.on('offline', () => offline.push('d'));
    e.on('offline', () => offline.push('e'));
    const waiting = rejection(d.request(ids.e, 'TEST_NEVER', {}, { timeoutMs: 30_000 }));
    await waitFor('e to get the request', () => e.stats().received.invk > 0, 10_000);

    await prosody.stop();
    const lost = await waiting;
    expect(lost.code).toBe('ERECONNECTED');
    expect(lost.message).toContain('signaling reconnected');
    await waitFor('both to notice', () => offline.length === 2, 10_000);
    expect((await rejection(d.request(ids.e, 'TEST_WHO', {}))).code).toBe('EOFFLINE');

    await prosody.start();
    await waitFor('both back in the room', () => d.state === 'online' && e.state === 'online', 20_000, { detail });
    await sees(d, ids.e);
    await sees(e, ids.d);
    expect(await d.request(ids.e, 'TEST_WHO', {})).toBe(`e answers ${ids.d}`);
    expect(d.stats().sessions).toBe(2);
    expect(e.stats().sessions).toBe(2);
  }, 45_000);
});
