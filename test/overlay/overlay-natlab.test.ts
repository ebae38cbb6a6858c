/**
 * The overlay end to end (issue 13's "Must show"): five `tinflow node` processes, each in its own
 * namespace — two behind default home NATs, one behind a symmetric NAT, two on the public net — with
 * prosody and coturn in the public namespace. No node is told about any other: the configs name only
 * the XMPP server, STUN/TURN and the node's own TAP address.
 *
 * - the overlay forms by itself (Symphony successors and long-distance edges, negotiated), and every node
 *   pings every other node's TAP address (all 20 ordered pairs), which needs ARP across the overlay; the
 *   time from start to all-pairs reachability is printed;
 * - one broadcast from one node reaches each other node's TAP exactly once (tcpdump on every TAP);
 * - one node killed (SIGKILL): the others drop it, re-form, and still reach each other (all pairs);
 *   restarted, it rejoins and all 20 pairs work again.
 * Needs root, the apt packages prosody, coturn, nftables, tcpdump, and a fresh dist/.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabNode, NatLab, type NatRouter, natLabMissing, natRouter, nodeBehind, publicNode, startCoturn, startProsody, type Coturn, type Prosody } from '../../scripts/natlab.js';
import { inNs } from '../../scripts/netlab.js';
import { type RunningNode, TAP_NET, account, distStale, labNodeConfig, overlayFormed, ping, startLabNode } from '../../scripts/overlay-lab.js';
import { waitFor } from '../helpers/wait.js';

const NAMES = ['n1', 'n2', 'n3', 'n4', 'n5'] as const;
type Name = (typeof NAMES)[number];
/** Node ids spread round the ring, so that successors and long-distance edges differ. */
const ID: Record<Name, string> = {
  n1: '1a000000000000000000000000000000',
  n2: '4b000000000000000000000000000000',
  n3: '7c000000000000000000000000000000',
  n4: 'ad000000000000000000000000000000',
  n5: 'de000000000000000000000000000000',
};
const IP: Record<Name, number> = { n1: 1, n2: 2, n3: 3, n4: 4, n5: 5 };

describe('a five-node overlay behind NATs', () => {
  let nat: NatLab;
  let prosody: Prosody;
  let coturn: Coturn;
  const labs: Partial<Record<Name, LabNode>> = {};
  const nodes: Partial<Record<Name, RunningNode>> = {};
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    const missing = natLabMissing();
    if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables)`);
    const stale = distStale();
    if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
    nat = new NatLab('o5');
    const routers: Record<string, NatRouter> = {
      ra: natRouter(nat, { name: 'ra' }),
      rb: natRouter(nat, { name: 'rb' }),
      rc: natRouter(nat, { name: 'rc', symmetric: true }),
    };
    labs.n1 = nodeBehind(routers.ra as NatRouter, 'n1');
    labs.n2 = nodeBehind(routers.rb as NatRouter, 'n2');
    labs.n3 = nodeBehind(routers.rc as NatRouter, 'n3');
    labs.n4 = publicNode(nat, 'n4');
    labs.n5 = publicNode(nat, 'n5');
    [prosody, coturn] = await Promise.all([
      startProsody(nat, { accounts: NAMES.map((n) => account(n)) }),
      startCoturn(nat, { user: 'tf', password: 'tf-pass' }),
    ]);
  }, 60_000);

  afterAll(async () => {
    if (Object.keys(figures).length > 0) process.stdout.write(`overlay NAT lab figures: ${JSON.stringify(figures)}\n`);
    await nat?.close();
  }, 30_000);

  const dirs: Partial<Record<Name, string>> = {};
  function start(name: Name): RunningNode {
    const lab = labs[name];
    if (lab === undefined) throw new Error(`no namespace for ${name}`);
    const cfg = labNodeConfig(prosody, coturn, name, { nodeId: ID[name], ip: IP[name], extra: { Topology: { MinConnectedMs: 0 } } });
    const n = startLabNode(nat, lab, name, cfg, dirs[name] === undefined ? {} : { dir: dirs[name] });
    dirs[name] = n.dir;
    nodes[name] = n;
    return n;
  }

  const running = (): RunningNode[] => NAMES.map((n) => nodes[n]).filter((n): n is RunningNode => n !== undefined && n.proc.exitCode === null && n.proc.signalCode === null);

  /** Every ordered pair of running nodes pings (one echo each, retried until deadline). */
  async function allPairs(what: string, ms: number): Promise<void> {
    const pending = new Set<string>();
    const list = running();
    for (const a of list) for (const b of list) if (a !== b) pending.add(`${a.name}>${b.name}`);
    await waitFor(what, async () => {
      for (const pair of [...pending]) {
        const [from, to] = pair.split('>') as [Name, Name];
        const a = nodes[from] as RunningNode;
        a.alive();
        if (ping(a, `${TAP_NET}.${IP[to]}`, 1, { waitS: 1 }).received === 1) pending.delete(pair);
      }
      return pending.size === 0;
    }, ms, { intervalMs: 200, detail: () => `pairs still failing: ${[...pending].join(' ')}\n${list.map((n) => `${n.name}: ${n.tail(4)}`).join('\n')}` });
  }

  it('forms by itself and every node reaches every other; ARP across the overlay', async () => {
    const t0 = Date.now();
    for (const n of NAMES) start(n);
    // Formed: each node has its two ring successors connected.
    await waitFor('the overlay formed', () => overlayFormed(running()), 60_000, { intervalMs: 250 });
    figures.startToFormedMs = Date.now() - t0;
    await allPairs('all pairs reachable', 60_000);
    figures.startToAllPairsMs = Date.now() - t0;
    // ARP resolved each peer to the MAC of its TAP (the frames crossed the overlay, broadcasts included).
    for (const a of running()) {
      for (const b of running()) {
        if (a === b) continue;
        const mac = (await b.status()).tap.hwAddr;
        expect(inNs(a.lab.ns, 'ip', 'neigh', 'show', `${TAP_NET}.${IP[b.name as Name]}`, 'dev', `tf-${a.name}`)).toContain(mac);
      }
    }
    const edges: Record<string, string[]> = {};
    for (const n of running()) edges[n.name] = (await n.status()).topology.edges.map((e) => `${e.type}:${NAMES.find((x) => ID[x] === e.peer) ?? e.peer}`);
    figures.edges = edges;
    // NAT traversal really happened: n3 (symmetric NAT) relays; n1 and n2 link to each other without it.
    const s3 = await (nodes.n3 as RunningNode).status();
    expect(s3.links.filter((l) => l.state === 'up').some((l) => l.local?.type === 'relay' || l.remote?.type === 'relay')).toBe(true);
  }, 150_000);

  it('one broadcast reaches each other node exactly once', async () => {
    const dumps: { name: string; proc: ChildProcess; out: string[] }[] = [];
    for (const n of running()) {
      if (n.name === 'n1') continue;
      // Only ICMP echo requests to the overlay's broadcast address: nothing the kernel sends by itself.
      const proc = nat.lab.spawnIn(n.lab.ns, 'tcpdump', ['-i', `tf-${n.name}`, '-n', '-l', '-e', 'icmp[icmptype] = icmp-echo and dst host 10.10.10.255'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: string[] = [];
      let listening = false;
      proc.stdout?.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter((l) => l.trim() !== '')));
      proc.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening on')) listening = true;
      });
      await waitFor(`tcpdump on ${n.name} listening`, () => listening, 10_000);
      dumps.push({ name: n.name, proc, out });
    }
    const from = nodes.n1 as RunningNode;
    try {
      inNs(from.lab.ns, 'ping', '-b', '-c', '1', '-W', '1', '-p', 'c0ffee', `${TAP_NET}.255`);
    } catch {
      /* nobody answers a broadcast ping (icmp_echo_ignore_broadcasts): that is expected */
    }
    await waitFor('the broadcast at every node', () => dumps.every((d) => d.out.length >= 1), 10_000);
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate would be here by now
    for (const d of dumps) d.proc.kill('SIGTERM');
    figures.broadcastCopies = Object.fromEntries(dumps.map((d) => [d.name, d.out.length]));
    for (const d of dumps) expect(d.out.length, `${d.name}: ${d.out.join('\n')}`).toBe(1);
  }, 60_000);

  it('a node killed: the rest re-form and reach each other; restarted, it rejoins', async () => {
    const victim = nodes.n3 as RunningNode;
    const killedAt = Date.now();
    victim.proc.kill('SIGKILL');
    await victim.exited;
    // The others drop their links to it (link timeout), then every pair of the four still works.
    for (const n of running()) {
      await waitFor(`${n.name} to drop n3`, async () => !(await n.status()).links.some((l) => l.peerId === ID.n3 && l.state === 'up'), 20_000, { check: () => n.alive() });
    }
    await allPairs('all pairs of the four reachable', 60_000);
    figures.killToFourPairsMs = Date.now() - killedAt;
    const restartedAt = Date.now();
    start('n3');
    await allPairs('all pairs of the five reachable again', 90_000);
    figures.restartToAllPairsMs = Date.now() - restartedAt;
  }, 200_000);
});
