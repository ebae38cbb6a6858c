/**
 * The pure parts of signaling, as tables: RemoteAction payload checks (shape, size, who may claim
 * what), room presence, the JID cache on an injected clock, and the signaling configuration schema.
 */
import { xml } from '@xmpp/client';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../base/cli.js';
import { JidCache } from '../../link/jid-cache.js';
import { resolveSignalConfig } from '../../link/signal-config.js';
import {
  MAX_PAYLOAD_BYTES,
  NS_MUC_USER,
  NS_SIGNAL,
  type RemoteAction,
  checkRemoteAction,
  evioOf,
  parseRemoteAction,
  parseRoomPresence,
} from '../../link/stanzas.js';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const OVERLAY = 'ovl1';
const ROOM = 'ovl1@conference.tinflow.test';

const invk = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  overlay_id: OVERLAY,
  recipient_id: B,
  recipient_cm: 'LinkManager',
  action: 'LNK_REQ_LINK_ENDPT',
  params: { link_id: 'x' },
  initiator_id: A,
  initiator_cm: 'LinkManager',
  action_tag: '0123abcd',
  ...over,
});
const text = (o: unknown): string => JSON.stringify(o);

describe('parseRemoteAction', () => {
  it('reads an invk and a cmpt of EdgeVPN’s shape', () => {
    const i = parseRemoteAction(text(invk()), 'invk');
    expect(i).toEqual({ ok: true, value: invk() });
    const ok = parseRemoteAction(text(invk({ params: {}, status: true, data: { sdp: 'v=0' } })), 'cmpt');
    expect(ok.ok && ok.value.data).toEqual({ sdp: 'v=0' });
    const failed = parseRemoteAction(text(invk({ params: {}, status: false, data: 'no tunnel' })), 'cmpt');
    expect(failed.ok && failed.value.status).toBe(false);
    // A cmpt without data (a handler that returned nothing) is fine.
    expect(parseRemoteAction(text(invk({ status: true })), 'cmpt').ok).toBe(true);
  });

  const { action_tag: _tag, ...noTag } = invk();
  it.each<[string, string, 'invk' | 'cmpt', RegExp]>([
    ['not JSON', '{"overlay_id": ', 'invk', /not JSON/],
    ['an array', '[1]', 'invk', /not a JSON object/],
    ['null', 'null', 'invk', /not a JSON object/],
    ['a key missing', text(noTag), 'invk', /action_tag missing/],
    ['an unknown key', text(invk({ evil: 1 })), 'invk', /unknown key "evil"/],
    ['a node id in capitals', text(invk({ recipient_id: B.toUpperCase() })), 'invk', /recipient_id/],
    ['a short node id', text(invk({ initiator_id: 'abc' })), 'invk', /initiator_id/],
    ['a number for a string', text(invk({ action: 7 })), 'invk', /action missing or not valid/],
    ['an action with a space', text(invk({ action: 'LNK X' })), 'invk', /action/],
    ['params as a list', text(invk({ params: [] })), 'invk', /params/],
    ['params missing', text(invk({ params: undefined })), 'invk', /params/],
    ['an invk with status', text(invk({ status: true })), 'invk', /no status or data/],
    ['an invk with data', text(invk({ data: 1 })), 'invk', /no status or data/],
    ['a cmpt without status', text(invk()), 'cmpt', /status true or false/],
    ['a cmpt with status "yes"', text(invk({ status: 'yes' })), 'cmpt', /status true or false/],
    ['a failed cmpt with an object as reason', text(invk({ status: false, data: { x: 1 } })), 'cmpt', /reason as text/],
    ['too large', text(invk({ params: { pad: 'x'.repeat(MAX_PAYLOAD_BYTES) } })), 'invk', /over 65536/],
  ])('drops %s as malformed', (_name, payload, type, detail) => {
    const v = parseRemoteAction(payload, type);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.reason).toBe('malformed');
      expect(v.detail).toMatch(detail);
    }
  });

  it('counts the size in UTF-8 bytes, not characters', () => {
    const pad = 'é'.repeat(Math.floor(MAX_PAYLOAD_BYTES / 2)); // 2 bytes each: the whole is over the bound
    const v = parseRemoteAction(text(invk({ params: { pad } })), 'invk');
    expect(!v.ok && v.detail).toMatch(/over 65536/);
  });
});

describe('checkRemoteAction', () => {
  const self = { nodeId: B, overlayId: OVERLAY };
  const ra = invk() as unknown as RemoteAction;
  it.each<[string, RemoteAction, 'invk' | 'cmpt', string, string]>([
    ['an invk claiming another initiator', ra, 'invk', 'c'.repeat(32), 'spoofed'],
    ['a cmpt from someone other than its recipient', { ...ra, recipient_id: A, initiator_id: B, status: true }, 'cmpt', 'c'.repeat(32), 'spoofed'],
    ['another overlay', { ...ra, overlay_id: 'other' }, 'invk', A, 'misdirected'],
    ['an invk for another node', { ...ra, recipient_id: 'c'.repeat(32) }, 'invk', A, 'misdirected'],
    ['a cmpt for another node', { ...ra, recipient_id: A, initiator_id: 'c'.repeat(32), status: true }, 'cmpt', A, 'misdirected'],
  ])('drops %s', (_name, r, type, sender, reason) => {
    const v = checkRemoteAction(r, type, sender, self);
    expect(v.ok ? 'accepted' : v.reason).toBe(reason);
  });

  it('accepts an invk from its initiator and a cmpt from its recipient', () => {
    expect(checkRemoteAction(ra, 'invk', A, self).ok).toBe(true);
    expect(checkRemoteAction({ ...ra, recipient_id: A, initiator_id: B, status: true }, 'cmpt', A, self).ok).toBe(true);
  });
});

describe('evioOf', () => {
  const msg = (...children: ReturnType<typeof xml>[]): ReturnType<typeof xml> => xml('message', { type: 'chat' }, ...children);
  it.each([
    ['none', msg(xml('body', {}, 'hi')), /no <evio/],
    ['two', msg(xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, '{}'), xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, '{}')), /2 <evio/],
    ['an unknown type', msg(xml('evio', { xmlns: NS_SIGNAL, type: 'uid?' }, '{}')), /evio type/],
    ['another namespace', msg(xml('evio', { xmlns: 'evio:signal', type: 'invk' }, '{}')), /no <evio/],
    ['elements inside', msg(xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, xml('x', {}))), /holds elements/],
  ])('refuses %s', (_name, m, detail) => {
    const v = evioOf(m);
    expect(!v.ok && v.detail).toMatch(detail);
  });

  it('reads the JSON text, entities decoded', () => {
    const v = evioOf(msg(xml('evio', { xmlns: NS_SIGNAL, type: 'cmpt' }, '{"a":"<&>"}')));
    expect(v).toEqual({ ok: true, value: { type: 'cmpt', text: '{"a":"<&>"}' } });
  });
});

describe('parseRoomPresence', () => {
  const presence = (nick: string, attrs: Record<string, string> = {}, ...children: ReturnType<typeof xml>[]): ReturnType<typeof xml> =>
    xml('presence', { from: `${ROOM}/${nick}`, ...attrs }, ...children);
  const ident = (id: string): ReturnType<typeof xml> => xml('status', {}, `ident#${id}`);
  const codes = (...c: string[]): ReturnType<typeof xml> => xml('x', { xmlns: NS_MUC_USER }, xml('item', { jid: 'x@tinflow.test/r' }), ...c.map((code) => xml('status', { code })));

  it('tells our own presence, and whether we made the room', () => {
    expect(parseRoomPresence(presence(B, {}, ident(B), codes('110', '201')), ROOM, B)).toEqual({ ok: true, value: { kind: 'self', available: true, created: true } });
    expect(parseRoomPresence(presence(B, { type: 'unavailable' }, codes('110')), ROOM, B)).toEqual({ ok: true, value: { kind: 'self', available: false, created: false } });
  });

  it('reads a peer by its nick, with its real JID when the room shows it', () => {
    expect(parseRoomPresence(presence(A, {}, ident(A), codes()), ROOM, B)).toEqual({ ok: true, value: { kind: 'peer', nodeId: A, available: true, realJid: 'x@tinflow.test/r' } });
    expect(parseRoomPresence(presence(A, { type: 'unavailable' }), ROOM, B)).toEqual({ ok: true, value: { kind: 'peer', nodeId: A, available: false, realJid: undefined } });
  });

  it('reads a join error', () => {
    const err = xml('error', { type: 'cancel' }, xml('conflict', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }));
    expect(parseRoomPresence(presence(B, { type: 'error' }, err), ROOM, B)).toEqual({ ok: true, value: { kind: 'error', nick: B, condition: 'conflict', text: '' } });
  });

  it.each([
    ['a nick that is not a node id', presence('alice', {}, ident('alice')), 'not-a-node'],
    ['a node id without its ident status', presence(A, {}), 'not-a-node'],
    ['an ident for another node', presence(A, {}, ident('c'.repeat(32))), 'not-a-node'],
    ['another room', xml('presence', { from: `other@conference.tinflow.test/${A}` }, ident(A)), 'unknown-sender'],
    ['a bare JID', xml('presence', { from: 'a@tinflow.test' }), 'unknown-sender'],
    ['a subscription request', presence(A, { type: 'subscribe' }), 'malformed'],
  ])('drops %s', (_name, p, reason) => {
    const v = parseRoomPresence(p, ROOM, B);
    expect(v.ok ? 'accepted' : v.reason).toBe(reason);
  });
});

describe('JidCache', () => {
  const jid = (id: string): string => `${ROOM}/${id}`;

  it('holds a peer from its presence until it leaves, with no expiry while in the room', () => {
    const c = new JidCache(60_000);
    expect(c.present(A, jid(A), undefined, 0)).toBe(true);
    expect(c.present(A, jid(A), undefined, 10)).toBe(false); // a repeated presence is no news
    expect(c.lookup(A, 10 * 3_600_000)?.jid).toBe(jid(A));
    expect(c.gone(A)).toBe(true);
    expect(c.gone(A)).toBe(false);
    expect(c.lookup(A, 0)).toBeUndefined();
  });

  it('expires entries cacheExpiry after we lost the room, counted from the first loss', () => {
    const c = new JidCache(60_000);
    c.present(A, jid(A), undefined, 0);
    c.present(B, jid(B), undefined, 0);
    c.suspend(1000);
    c.suspend(30_000); // a failed redial does not restart the count
    expect(c.nextExpiry()).toBe(61_000);
    expect(c.lookup(A, 60_999)?.jid).toBe(jid(A));
    expect(c.sweep(60_999)).toEqual([]);
    expect(c.lookup(A, 61_000)).toBeUndefined();
    expect(c.ids(61_000)).toEqual([]);
    expect(c.sweep(61_000)).toEqual([A, B]);
    expect(c.nextExpiry()).toBeUndefined();
  });

  it('on rejoining keeps who the room lists again and returns the others', () => {
    const c = new JidCache(60_000);
    c.present(A, jid(A), undefined, 0);
    c.present(B, jid(B), undefined, 0);
    c.suspend(100);
    c.beginSync();
    expect(c.present(A, jid(A), undefined, 200)).toBe(false); // still known: no new peerPresent
    expect(c.reconcile()).toEqual([B]);
    expect(c.ids(1_000_000)).toEqual([A]); // refreshed: no longer counting down
  });

  it('refuses a non-positive expiry', () => {
    expect(() => new JidCache(0)).toThrow(RangeError);
  });
});

describe('resolveSignalConfig', () => {
  it('fills in the defaults and freezes the result', () => {
    const c = resolveSignalConfig({ jid: 'Node1@Example.org', password: 'p' });
    expect(c).toMatchObject({
      jid: 'node1@example.org',
      username: 'node1',
      domain: 'example.org',
      host: 'example.org',
      port: 5222,
      tls: 'starttls',
      sasl: 'default',
      mucDomain: 'conference.example.org',
      cacheExpiryMs: 60_000,
      minBackoffMs: 1000,
      maxBackoffMs: 8000,
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(resolveSignalConfig({ jid: 'a@b.c', password: 'p', tls: 'direct' }).port).toBe(5223);
  });

  const ok = { jid: 'a@example.org', password: 'p' };
  it.each<[string, unknown, string]>([
    ['not an object', [], '$: expected an object'],
    ['an unknown key', { ...ok, Username: 'x' }, '$.Username: unknown key'],
    ['no jid', { password: 'p' }, '$.jid: missing'],
    ['a jid without a domain', { ...ok, jid: 'alice' }, '$.jid: expected an account'],
    ['a jid with a resource', { ...ok, jid: 'a@b.c/r' }, '$.jid: expected an account'],
    ['no password', { jid: 'a@b.c' }, '$.password: missing'],
    ['an empty password', { ...ok, password: '' }, '$.password: empty'],
    ['a port out of range', { ...ok, port: 70000 }, '$.port: expected a whole number'],
    ['an unknown tls mode', { ...ok, tls: 'ssl' }, '$.tls: expected "starttls", "direct", "none"'],
    ['a CA file without TLS', { ...ok, tls: 'none', caFile: '/ca.pem' }, '$.caFile: a CA file needs tls'],
    ['an unknown sasl mode', { ...ok, sasl: 'SCRAM' }, '$.sasl: expected "default", "plain"'],
    ['a MUC domain with a space', { ...ok, mucDomain: 'a b' }, '$.mucDomain:'],
    ['a host with a slash', { ...ok, host: 'a/b' }, '$.host:'],
    ['a tiny cache expiry', { ...ok, cacheExpiryMs: 5 }, '$.cacheExpiryMs:'],
    ['max backoff under min', { ...ok, minBackoffMs: 5000, maxBackoffMs: 1000 }, '$.maxBackoffMs: 1000 is below minBackoffMs 5000'],
  ])('refuses %s', (_name, input, message) => {
    let err: unknown;
    try {
      resolveSignalConfig(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message.startsWith(message)).toBe(true);
  });
});
