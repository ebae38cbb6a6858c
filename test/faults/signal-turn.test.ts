/**
 * Faults of the overlay's servers (issue 15), one NAT lab shared in sequence: four `tinflow node`s —
 * n1 and n2 behind home NATs, n3 behind a symmetric NAT (its links to NATed peers go through TURN), n4
 * public — in a full mesh (four nodes, two ring successors each), prosody and coturn on the public net.
 *
 * TURN server down (coturn stopped while n3's relayed links run), expected:
 * - each relayed link fails once its allocation is gone: both ends report it down (no up link, its port
 *   removed), within the link timeout (LinkManager.TimeoutMs, 3 s in the lab) of the relay going quiet;
 * - every link that is not relayed stays up (same link id) and a ping across one (n1 → n2) keeps
 *   getting its replies through the outage;
 * - coturn back (a fresh process: no allocation of before survives), the relayed links are formed again
 *   (relayed, both ends up) and traffic across them resumes, without restarting a node.
 *
 * XMPP server restarted (prosody stopped, then started again), expected:
 * - every existing link keeps carrying traffic during the outage (no link id changes; a ping across a
 *   direct link and one across a relayed link get their replies), and each node says signaling is
 *   offline meanwhile;
 * - the nodes log in again by themselves once prosody is back (status: signalOnline true);
 * - a node started after the restart (n5, behind a home NAT) joins: it links to the overlay and all 20
 *   ordered pairs of the five ping.
 * Heal times are printed (`faults figures: {...}`). Needs root, prosody, coturn, nftables, fresh dist/.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { type FaultLab, backgroundPing, faultSuite, relayedTo, secs, sleep } from './overlay-faults.js';

const SPECS = [
  { name: 'n1', id: '1a000000000000000000000000000000', ip: 1, place: 'nat' },
  { name: 'n2', id: '4b000000000000000000000000000000', ip: 2, place: 'nat' },
  { name: 'n3', id: '7c000000000000000000000000000000', ip: 3, place: 'symmetric' },
  { name: 'n4', id: 'ad000000000000000000000000000000', ip: 4, place: 'public' },
  { name: 'n5', id: 'de000000000000000000000000000000', ip: 5, place: 'nat' },
] as const;
const FIRST = ['n1', 'n2', 'n3', 'n4'] as const;
const TURN_OUTAGE_MS = 20_000;

describe('the XMPP and TURN servers fail under a running overlay', () => {
  let lab: FaultLab;
  const figures = faultSuite('fs', SPECS, 'signal, turn', (l) => {
    lab = l;
  });

  it('forms: four nodes in a full mesh, n3 relayed through TURN to a NATed peer, all pairs ping', async () => {
    const t0 = Date.now();
    for (const n of FIRST) lab.start(n);
    await waitFor('a full mesh of four', () => lab.fullMesh([...FIRST]), 60_000, { intervalMs: 250, detail: () => FIRST.map((n) => `${n}: ${lab.node(n).tail(4)}`).join('\n') });
    await lab.allPairs('all pairs of four', 40_000, [...FIRST]);
    figures.startToAllPairs = secs(Date.now() - t0);
    const s3 = await lab.node('n3').status();
    expect(relayedTo(s3, lab.idOf('n1')) || relayedTo(s3, lab.idOf('n2'))).toBe(true);
  }, 100_000);

  /**
   * Unordered pairs whose up link goes through the relay at either end ("n1-n3"), the links of those
   * pairs and of the others, each as "end>peer" → link id.
   */
  async function byPath(names: readonly string[]): Promise<{ relayed: string[]; relayedLinks: Map<string, string>; direct: Map<string, string> }> {
    const relayed = new Set<string>();
    const all = new Map<string, string>();
    for (const n of names) {
      const s = await lab.node(n).status();
      for (const l of s.links) {
        if (l.state !== 'up' || l.port === undefined) continue;
        const peer = lab.nameOf(l.peerId);
        const pair = [n, peer].sort().join('-');
        all.set(`${n}>${peer}`, l.linkId);
        if (relayedTo(s, l.peerId)) relayed.add(pair);
      }
    }
    const isRelayed = ([k]: [string, string]): boolean => relayed.has(k.split('>').sort().join('-'));
    return { relayed: [...relayed].sort(), relayedLinks: new Map([...all].filter(isRelayed)), direct: new Map([...all].filter((e) => !isRelayed(e))) };
  }

  it('TURN down: the relayed links fail, both ends report them down, the others carry on; TURN back: the relayed links form again', async () => {
    const { relayed, relayedLinks, direct } = await byPath(FIRST);
    figures.relayedPairs = relayed;
    expect(relayed.some((p) => p.includes('n3'))).toBe(true);
    expect(direct.has('n1>n2')).toBe(true);

    const across = backgroundPing(lab, 'n1', 'n2', 60, 0.2);
    const stoppedAt = Date.now();
    await lab.coturn.stop();
    // No up link, no port leading to the peer.
    const down = async (a: string, b: string): Promise<boolean> => {
      const s = await lab.node(a).status();
      return !s.links.some((l) => l.peerId === lab.idOf(b) && l.state === 'up') && !s.ports.some((p) => p.peer === lab.idOf(b));
    };
    // Both ends of each relayed link say that link is down. A pair with the public n4 may link again at
    // once without the relay (n4 is reachable from behind any NAT): then its new link has another id,
    // and is not relayed.
    const relayedGone = async (): Promise<boolean> => {
      for (const [k, id] of relayedLinks) {
        const [a, b] = k.split('>') as [string, string];
        const s = await lab.node(a).status();
        const now = s.links.find((l) => l.peerId === lab.idOf(b) && l.state === 'up');
        if (now === undefined ? s.ports.some((p) => p.peer === lab.idOf(b)) : now.linkId === id || relayedTo(s, lab.idOf(b))) return false;
      }
      return true;
    };
    await waitFor('the relayed links down at both ends', relayedGone, 30_000, { intervalMs: 200, detail: () => lab.node('n3').tail(6) });
    figures.turnStopToRelayedDown = secs(Date.now() - stoppedAt);
    // Links that never used the relay are the same links as before, still up.
    await sleep(2000);
    const now = await lab.linkIds(FIRST);
    for (const [k, id] of direct) expect(now.get(k), `link ${k}`).toBe(id);
    const { sent, received } = await across.done;
    figures.directPingDuringTurnOutage = `${received}/${sent}`;
    expect(received).toBeGreaterThanOrEqual(Math.floor(sent * 0.9));
    // An outage of some length (20 s): set-up attempts fail meanwhile and back their peers off.
    await sleep(Math.max(0, TURN_OUTAGE_MS - (Date.now() - stoppedAt)));
    // n3 behind its symmetric NAT has no way to its NATed peers while coturn is away.
    for (const pair of relayed.filter((p) => p.includes('n3') && !p.includes('n4'))) {
      const [a, b] = pair.split('-') as [string, string];
      expect(await down(a, b), `${pair} while TURN is down`).toBe(true);
    }

    const backAt = Date.now();
    figures.turnOutage = secs(backAt - stoppedAt);
    await lab.restartCoturn();
    await waitFor('the relayed links formed again', () => lab.fullMesh([...FIRST]), 60_000, { intervalMs: 250, detail: () => lab.node('n3').tail(6) });
    figures.turnBackToMeshAgain = secs(Date.now() - backAt);
    const s3 = await lab.node('n3').status();
    expect(relayedTo(s3, lab.idOf('n1')) || relayedTo(s3, lab.idOf('n2'))).toBe(true);
    await lab.allPairs('all pairs of four again', 30_000, [...FIRST]);
    figures.turnBackToAllPairs = secs(Date.now() - backAt);
  }, 120_000);

  it('XMPP server restarted: links carry traffic throughout, nodes log in again, a node started afterwards joins', async () => {
    const before = await lab.linkIds(FIRST);
    const s3 = await lab.node('n3').status();
    const relayedPeer = FIRST.find((n) => n !== 'n3' && relayedTo(s3, lab.idOf(n)));
    if (relayedPeer === undefined) throw new Error('n3 has no relayed link to ping across');
    const direct = backgroundPing(lab, 'n1', 'n2', 40, 0.2);
    const viaRelay = backgroundPing(lab, 'n3', relayedPeer, 40, 0.2);
    const stoppedAt = Date.now();
    await lab.prosody.stop();
    await waitFor('every node sees signaling offline', async () => {
      for (const n of FIRST) if ((await lab.node(n).status()).signalOnline) return false;
      return true;
    }, 20_000, { intervalMs: 200 });
    await sleep(3000); // the outage lasts; the links are on their own
    expect(await lab.linkIds(FIRST)).toEqual(before);
    const backAt = Date.now();
    await lab.prosody.start();
    await waitFor('every node online again', async () => {
      for (const n of FIRST) if (!(await lab.node(n).status()).signalOnline) return false;
      return true;
    }, 30_000, { intervalMs: 200, detail: () => FIRST.map((n) => `${n}: ${lab.node(n).tail(3)}`).join('\n') });
    figures.xmppBackToAllOnline = secs(Date.now() - backAt);
    figures.xmppOutage = secs(backAt - stoppedAt);
    const d = await direct.done;
    const r = await viaRelay.done;
    figures.pingsDuringXmppOutage = { n1n2: `${d.received}/${d.sent}`, [`n3${relayedPeer}`]: `${r.received}/${r.sent}` };
    expect(d.received).toBeGreaterThanOrEqual(Math.floor(d.sent * 0.9));
    expect(r.received).toBeGreaterThanOrEqual(Math.floor(r.sent * 0.9));
    expect(await lab.linkIds(FIRST)).toEqual(before);

    const joinAt = Date.now();
    lab.start('n5');
    await waitFor('n5 linked to its successors', async () => (await lab.upPeers('n5')).length >= 2, 40_000, { intervalMs: 250, detail: () => lab.node('n5').tail(6) });
    await lab.allPairs('all pairs of five', 60_000);
    figures.newNodeToAllPairs = secs(Date.now() - joinAt);
  }, 120_000);
});
