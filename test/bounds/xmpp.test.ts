/**
 * Bounds of a node's signaling against a flooding XMPP peer, with a real prosody on loopback
 * (test/link/signal-prosody.ts). The node under attack is an XmppCircle (link/signal.ts) with a
 * LinkManager (link/manager.ts) and a TOP_NEGOTIATE_EDGE handler (overlay/negotiation.ts's parser, as the
 * topology driver answers it). The attacker is a plain @xmpp/client session in the overlay's room, as a
 * node: it sends thousands of link requests (each with a new link id), negotiation requests and junk
 * stanzas from one JID, then joins with many more nicks. The node must drop what is over each sender's
 * rate (counted), refuse new links beyond the per-peer rate (counted), keep its peer cache within
 * maxPeers, and an honest node must still link with it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Client, client, xml } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeCert, generateNodeCert } from '../../link/cert.js';
import { LNK } from '../../link/handshake.js';
import { LinkManager, NEW_LINK_RATE } from '../../link/manager.js';
import { SENDER_RATE, XmppCircle } from '../../link/signal.js';
import { NS_SIGNAL, joinPresence } from '../../link/stanzas.js';
import { cleanupWebRtc } from '../../link/tincan.js';
import { TOP_NEGOTIATE_EDGE, edgeReplyParams, parseEdgeRequest } from '../../overlay/negotiation.js';
import { waitFor } from '../helpers/wait.js';
import { LOOPBACK, UP_MS } from '../link/pair.js';
import { type TestProsody, hasProsody, startTestProsody, testSignalConfig } from '../link/signal-prosody.js';
import { bareStatus, metricsOf } from './status-fixture.js';

const OVERLAY = 'bounds';
const pw = (user: string): string => `pw-${user}`;
/** The victim tracks at most this many nodes of the room (small, so that the test can fill it). */
const MAX_PEERS = 6;

describe.skipIf(!hasProsody)('a node flooded over XMPP by one peer', () => {
  let prosody: TestProsody;
  let dir: string;
  const circles: XmppCircle[] = [];
  const managers: LinkManager[] = [];
  const raws: Client[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tinflow-bounds-xmpp-'));
    prosody = await startTestProsody({ accounts: ['v', 'x', 'h'].map((u) => ({ user: u, password: pw(u) })) });
  });

  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await Promise.all(circles.map((c) => c.stop()));
    await Promise.all(raws.map((r) => r.stop().catch(() => undefined)));
    await prosody?.dispose();
    cleanupWebRtc();
    rmSync(dir, { recursive: true, force: true });
  });

  function node(user: string, nodeId: string, cert: NodeCert, extra: { maxPeers?: number } = {}): { c: XmppCircle; m: LinkManager } {
    const c = new XmppCircle({ nodeId, overlayId: OVERLAY, config: testSignalConfig(prosody, user, pw(user)), ...extra });
    circles.push(c);
    const m = new LinkManager({
      nodeId,
      overlayId: OVERLAY,
      mac: `02:00:00:00:00:${nodeId.slice(0, 2)}`,
      signal: c,
      cert,
      link: LOOPBACK,
      timeouts: { stepMs: 8000, setupMs: 20_000 },
      backoff: { minMs: 200, maxMs: 1000 },
    });
    m.start();
    managers.push(m);
    return { c, m };
  }

  /** A session of account x in the room under nick `nodeId`, announcing itself as that node. */
  async function intruder(nodeId: string): Promise<Client> {
    const x = client({
      service: `xmpp://${prosody.host}:${prosody.port}`,
      domain: prosody.domain,
      resource: `r-${nodeId.slice(0, 8)}`,
      credentials: (auth) => auth({ username: 'x', password: pw('x') }, 'PLAIN'),
    });
    x.reconnect.stop();
    x.on('error', () => undefined);
    raws.push(x);
    await x.start();
    await x.send(joinPresence(`${OVERLAY}@${prosody.mucDomain}`, nodeId));
    return x;
  }

  it('drops what one peer sends over its rate, refuses its new links over theirs, stays within maxPeers, and still links with an honest peer', async () => {
    const make = (n: string): Promise<NodeCert> => generateNodeCert(join(dir, `${n}.crt`), join(dir, `${n}.key`));
    const [certV, certH] = await Promise.all([make('v'), make('h')]);
    const iv = randomBytes(16).toString('hex');
    const ih = randomBytes(16).toString('hex');
    const ix = randomBytes(16).toString('hex');
    const room = `${OVERLAY}@${prosody.mucDomain}`;
    const victim = node('v', iv, certV, { maxPeers: MAX_PEERS });
    const edgeRequests = { accepted: 0, refused: 0 };
    victim.c.onRequest(TOP_NEGOTIATE_EDGE, (params, from) => {
      try {
        const req = parseEdgeRequest(params, from, iv, OVERLAY);
        edgeRequests.accepted++;
        return edgeReplyParams({ accept: true, type: req.type });
      } catch (e) {
        edgeRequests.refused++;
        return { is_accepted: false, code: 'E8', message: String(e) };
      }
    });
    await victim.c.start();
    const honest = node('h', ih, certH);
    await honest.c.start();
    const x = await intruder(ix);
    const detail = (): string => `victim ${JSON.stringify(victim.c.stats())}; ${prosody.logTail(10)}`;
    await waitFor('the victim to see the intruder and the honest node', () => victim.c.peers().includes(ix) && victim.c.peers().includes(ih), 15_000, { detail });

    // The flood: 3,000 stanzas from one JID, as fast as the socket takes them.
    const to = `${room}/${iv}`;
    const invk = (action: string, params: object): string =>
      JSON.stringify({ overlay_id: OVERLAY, recipient_id: iv, recipient_cm: 'LinkManager', action, params, initiator_id: ix, initiator_cm: 'LinkManager', action_tag: randomBytes(16).toString('hex') });
    const fakeOffer = (): object => ({
      overlay_id: OVERLAY,
      link_id: randomBytes(16).toString('hex'),
      node_data: { uid: ix, mac: '02:00:00:00:00:99', fpr: `sha-256 ${Array.from({ length: 32 }, () => 'AB').join(':')}`, sdp: 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n' },
    });
    const N = 3000;
    const t0 = Date.now();
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      let el;
      switch (i % 4) {
        case 0:
          el = xml('message', { to, type: 'chat', id: `f${i}` }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, invk(LNK.REQ_LINK_ENDPT, fakeOffer())));
          break;
        case 1:
          el = xml('message', { to, type: 'chat', id: `f${i}` }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, invk(TOP_NEGOTIATE_EDGE, { overlay_id: OVERLAY, edge_id: `e${i}`, edge_type: 'CETypeLongDistance', initiator_id: ix, recipient_id: iv })));
          break;
        case 2:
          el = xml('message', { to, type: 'chat', id: `f${i}` }, xml('evio', { xmlns: NS_SIGNAL, type: 'invk' }, `{"not": "a remote action", "n": ${i}`));
          break;
        default:
          el = xml('message', { to, type: 'chat', id: `f${i}` }, xml('body', {}, 'junk'), xml('evio', { xmlns: 'urn:other' }, 'x'));
      }
      sends.push(x.send(el));
    }
    // The honest node asks for its link while the flood is on its way.
    const linked = honest.m.connect(iv);
    await Promise.all(sends);
    const seen = (): number => {
      const s = victim.c.stats();
      return s.received.invk + Object.values(s.dropped).reduce((a, b) => a + b, 0) - s.dropped['not-a-node'];
    };
    await waitFor(`the victim to have taken or dropped all ${N} stanzas`, () => seen() >= N, 60_000, { detail });
    const elapsedS = (Date.now() - t0) / 1000 + 1;

    const info = await linked;
    expect(info).toMatchObject({ peerId: iv, state: 'up' });
    await waitFor('the victim to hold the honest link up', () => victim.m.links().some((l) => l.peerId === ih && l.state === 'up'), UP_MS, { detail });

    const s = victim.c.stats();
    // What the victim read of the intruder is within its rate; the rest was dropped unread and counted.
    expect(s.dropped['rate-limited']).toBeGreaterThan(N / 2);
    const read = N - s.dropped['rate-limited'];
    expect(read).toBeLessThanOrEqual(SENDER_RATE.burst + SENDER_RATE.perSecond * elapsedS + 1);
    expect(s.dropped.malformed).toBeGreaterThan(0);
    expect(s.pending).toBe(0);
    // New links for the intruder: at most the per-peer rate allowed; the others were refused and counted.
    const lc = victim.m.counters();
    expect(lc.refusedIn['rate-limited'] ?? 0).toBeGreaterThan(0);
    expect(lc.accepted).toBeLessThanOrEqual(NEW_LINK_RATE.burst + NEW_LINK_RATE.perSecond * elapsedS + 1 + 1); // + the honest node's
    expect(victim.m.links().filter((l) => l.peerId === ix).length).toBeLessThanOrEqual(1); // one slot per peer
    expect(edgeRequests.accepted + edgeRequests.refused).toBeLessThan(read);
    // what a user sees: the node's status carries these counters to /metrics
    const text = await metricsOf(bareStatus({ signal: s, linkManager: lc }));
    expect(text).toContain(`tinflow_node_signal_dropped_total{reason="rate-limited"} ${s.dropped['rate-limited']}`);
    expect(text).toContain(`tinflow_node_link_requests_refused_total{code="rate-limited"} ${lc.refusedIn['rate-limited'] ?? 0}`);

    // Sybils: more nicks of the same account than the victim keeps nodes.
    const before = victim.c.peers().length;
    for (let k = 0; k < MAX_PEERS + 4; k++) await intruder(randomBytes(16).toString('hex'));
    await waitFor('the extra nicks to be refused', () => victim.c.stats().dropped['too-many-peers'] >= 4 + before, 15_000, { detail });
    expect(victim.c.peers().length).toBeLessThanOrEqual(MAX_PEERS);
    // the honest node still is one of them, and its link stands
    expect(victim.c.peers()).toContain(ih);
    expect(victim.m.links().some((l) => l.peerId === ih && l.state === 'up')).toBe(true);
  }, 120_000);
});
