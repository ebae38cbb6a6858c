/**
 * Fault: the underlay cut under a running overlay for 30 s, then restored (issue 15). Four `tinflow
 * node`s in the NAT lab — n1, n2 and n4 behind home NATs, n3 public — in a full mesh; n4's home router
 * then drops everything it would forward (an nft table of the test's own, in the router's namespace),
 * so n4 loses the XMPP server, STUN/TURN and every peer at once, as when a home uplink fails.
 *
 * Expected:
 * - during the cut the rest of the overlay keeps working: n1, n2 and n3 drop their links to n4 (its
 *   echoes stop: LinkManager.TimeoutMs, 3 s in the lab) and every ordered pair of the three still pings
 *   through the cut;
 * - after the restore the overlay heals by itself, no process restarted (the same four pids): n4's edges
 *   are formed again (links up with its successors and from the others), all 12 ordered pairs ping;
 * - n4 itself says its signaling is offline before the cut ends (its XMPP keepalive goes unanswered:
 *   link/signal.ts, 10 s idle + 10 s for the answer), and logs in again by itself after the restore;
 * - nothing promised is lost: n4 keeps its node id and certificate fingerprint (what peers pin), and
 *   the three others' links among themselves are the same links (same ids) as before the cut.
 * The time from restore to healed is printed (`faults figures: {...}`). Needs root, prosody, coturn,
 * nftables and a fresh dist/.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { type FaultLab, faultSuite, secs, sleep } from './overlay-faults.js';

const SPECS = [
  { name: 'n1', id: '1a000000000000000000000000000000', ip: 1, place: 'nat' },
  { name: 'n2', id: '5b000000000000000000000000000000', ip: 2, place: 'nat' },
  { name: 'n3', id: '9c000000000000000000000000000000', ip: 3, place: 'public' },
  { name: 'n4', id: 'cd000000000000000000000000000000', ip: 4, place: 'nat' },
] as const;
const ALL = SPECS.map((s) => s.name);
const REST = ['n1', 'n2', 'n3'];
const CUT_MS = 30_000;

describe('the underlay of one node cut for 30 s', () => {
  let lab: FaultLab;
  const figures = faultSuite('fu', SPECS, 'underlay', (l) => {
    lab = l;
  });

  /** The cut: n4's router forwards nothing, either way (its own table, so removing it restores all). */
  const routerNs = (): string => {
    const r = lab.routers.get('n4');
    if (r === undefined) throw new Error('n4 has no router');
    return r.ns;
  };
  const nft = (input: string): void => {
    execFileSync('ip', ['netns', 'exec', routerNs(), 'nft', '-f', '-'], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  };

  it('a cut of 30 s: the rest carry on, and after the restore the overlay heals with nothing restarted', async () => {
    for (const n of ALL) lab.start(n);
    await waitFor('a full mesh of four', () => lab.fullMesh(ALL), 60_000, { intervalMs: 250, detail: () => ALL.map((n) => `${n}: ${lab.node(n).tail(4)}`).join('\n') });
    await lab.allPairs('all pairs of four', 40_000, ALL);
    const before = await lab.node('n4').status();
    const restLinks = await lab.linkIds(REST, true);
    const pids = ALL.map((n) => lab.node(n).proc.pid);

    const cutAt = Date.now();
    nft('table ip tfcut {\n  chain fwd_cut {\n    type filter hook forward priority -10; policy drop;\n  }\n}\n');
    try {
      // The others notice (n4's echoes stop) and drop their links to it.
      await waitFor('n1, n2, n3 drop their links to n4', async () => {
        for (const n of REST) if ((await lab.upPeers(n)).includes('n4')) return false;
        return true;
      }, 20_000, { intervalMs: 200 });
      figures.cutToLinksDropped = secs(Date.now() - cutAt);
      // During the cut, the three still reach each other, over and over.
      let rounds = 0;
      while (Date.now() - cutAt < CUT_MS - 4000) {
        await lab.allPairs(`all pairs of the three during the cut (round ${rounds + 1})`, 15_000, REST);
        rounds++;
        if (figures.cutToN4SignalingOffline === undefined && !(await lab.node('n4').status()).signalOnline) figures.cutToN4SignalingOffline = secs(Date.now() - cutAt);
        await sleep(1000);
      }
      figures.allPairsRoundsDuringCut = rounds;
      expect(rounds).toBeGreaterThanOrEqual(2);
      // n4 knows it is cut off: its XMPP session fails its keepalive (TCP alone would look fine for minutes).
      await waitFor('n4 reports signaling offline', async () => !(await lab.node('n4').status()).signalOnline, Math.max(1000, CUT_MS - (Date.now() - cutAt)), { intervalMs: 200 });
      figures.cutToN4SignalingOffline ??= secs(Date.now() - cutAt);
      expect(await lab.linkIds(REST, true)).toEqual(restLinks);
      await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
    } finally {
      nft('delete table ip tfcut\n');
    }
    const restoredAt = Date.now();
    figures.cutLasted = secs(restoredAt - cutAt);
    await waitFor('the full mesh again', () => lab.fullMesh(ALL), 90_000, { intervalMs: 250, detail: () => ALL.map((n) => `${n}: ${lab.node(n).tail(4)}`).join('\n') });
    figures.restoreToMeshAgain = secs(Date.now() - restoredAt);
    await lab.allPairs('all pairs of four after the restore', 40_000, ALL);
    figures.restoreToAllPairs = secs(Date.now() - restoredAt);

    // Nothing restarted, nothing promised lost.
    expect(ALL.map((n) => lab.node(n).proc.pid)).toEqual(pids);
    const after = await lab.node('n4').status();
    expect(after.nodeId).toBe(before.nodeId);
    expect(after.fingerprint).toBe(before.fingerprint);
    expect(after.signalOnline).toBe(true);
    const connected = after.topology.edges.filter((e) => e.state === 'connected').map((e) => lab.nameOf(e.peer));
    for (const p of after.topology.successors) expect(connected, `n4's successor ${lab.nameOf(p)}`).toContain(lab.nameOf(p));
    expect(await lab.linkIds(REST, true)).toEqual(restLinks);
  }, 150_000);
});
