/**
 * npm run bench:overlay — whole overlays in the NAT lab (scripts/natlab.ts, scripts/overlay-lab.ts):
 * real `tinflow node` processes, each in its own namespace, half of them behind home NAT routers, with
 * prosody and coturn in the public namespace (root only).
 *
 * 1. Convergence, for 5 and then 10 nodes: all started at once, the time until the overlay has formed
 *    (every node's ring successors linked) and until every ordered pair pings over the overlay; then the
 *    all-pairs RTT (ping over the overlay TAPs, 5 echoes per pair: median and p95 of the pair averages),
 *    next to each node's underlay RTT to the public services host (the anchor: a path the packets of a
 *    NATed node cross anyway).
 * 2. Hops: three nodes in a line, a — b — c (ManualTopology, static edges only), iperf3 TCP a → c (two
 *    overlay hops, relayed by b's switch) next to a → b (one direct link), in the same run, interleaved
 *    over rounds; the ratio two-hop / direct.
 *
 * Usage: node dist/bench/overlay.js [--sizes 5,10] [--seconds 5] [--rounds 2]
 * Writes results/overlay-bench.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Coturn, type LabNode, NatLab, type Prosody, SERVICE_ADDR, natLabMissing, natRouter, nodeBehind, publicNode, startCoturn, startProsody } from '../scripts/natlab.js';
import { ROOT, type RunningNode, TAP_NET, account, distStale, iperf, labNodeConfig, overlayFormed, ping, startLabNode, statusOf } from '../scripts/overlay-lab.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,10' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
  },
});
const SIZES = (args.sizes ?? '5,10').split(',').map(Number);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
for (const n of SIZES) if (!Number.isInteger(n) || n < 2 || n > 30) throw new Error(`--sizes: ${n} is not a whole number 2..30`);
if (!Number.isInteger(SECONDS) || SECONDS < 1) throw new Error(`--seconds: ${args.seconds} is not a whole number ≥ 1`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds: ${args.rounds} is not a whole number ≥ 1`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A node id for node i of n, spread round the ring. */
function nodeId(i: number, n: number): string {
  const top = Math.floor(((i + 0.5) * 256) / n);
  return `${top.toString(16).padStart(2, '0')}${'0'.repeat(29)}${(i % 16).toString(16)}`;
}

async function until(what: string, ms: number, fn: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

interface Lab {
  readonly nat: NatLab;
  readonly prosody: Prosody;
  readonly coturn: Coturn;
}

async function openLab(tag: string, names: readonly string[]): Promise<Lab> {
  const nat = new NatLab(tag);
  try {
    const [prosody, coturn] = await Promise.all([startProsody(nat, { accounts: names.map(account) }), startCoturn(nat, { user: 'tf', password: 'tf-pass' })]);
    return { nat, prosody, coturn };
  } catch (e) {
    await nat.close();
    throw e;
  }
}

/** Odd nodes behind their own default NAT router, even nodes public. */
function place(lab: Lab, name: string, i: number): LabNode {
  if (i % 2 === 1) return nodeBehind(natRouter(lab.nat, { name: `r${name}` }), name);
  return publicNode(lab.nat, name);
}

async function convergence(n: number): Promise<Record<string, unknown>> {
  const names = Array.from({ length: n }, (_, i) => `v${i + 1}`);
  const lab = await openLab(`c${n}`, names);
  try {
    const labs = names.map((name, i) => place(lab, name, i));
    const t0 = Date.now();
    const nodes = names.map((name, i) =>
      startLabNode(lab.nat, labs[i] as LabNode, name, labNodeConfig(lab.prosody, lab.coturn, name, { nodeId: nodeId(i, n), ip: i + 1, turn: false, extra: { Topology: { MinConnectedMs: 0 } } })),
    );
    await until(`${n} nodes formed`, 120_000, () => overlayFormed(nodes));
    const formedMs = Date.now() - t0;
    const pending = new Set<string>();
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) pending.add(`${a}>${b}`);
    await until(`all ${pending.size} pairs of ${n} nodes`, 120_000, () => {
      for (const p of [...pending]) {
        const [a, b] = p.split('>').map(Number) as [number, number];
        if (ping(nodes[a] as RunningNode, `${TAP_NET}.${b + 1}`, 1, { waitS: 1 }).received === 1) pending.delete(p);
      }
      return pending.size === 0;
    });
    const allPairsMs = Date.now() - t0;
    // RTT over the overlay, for every ordered pair; the underlay anchor is each node's RTT to the
    // public services host, a path every packet of a NATed node crosses anyway (a NATed node's own
    // address cannot be pinged from outside its router).
    const overlay: number[] = [];
    const underlay: number[] = [];
    for (let a = 0; a < n; a++) {
      const from = nodes[a] as RunningNode;
      for (let b = 0; b < n; b++) {
        if (a === b) continue;
        const o = ping(from, `${TAP_NET}.${b + 1}`, 5, { intervalS: 0.05 }).avgMs;
        if (o !== undefined) overlay.push(o);
      }
      const u = ping(from, SERVICE_ADDR, 5, { intervalS: 0.05, waitS: 1 }).avgMs;
      if (u !== undefined) underlay.push(u);
    }
    const edges = [];
    for (const node of nodes) edges.push((await node.status()).topology.edges.length);
    const result = {
      nodes: n,
      formedMs,
      allPairsMs,
      overlayRttMs: { p50: round1(quantile(overlay, 0.5)), p95: round1(quantile(overlay, 0.95)), pairs: overlay.length },
      underlayRttMs: { p50: round1(quantile(underlay, 0.5)), p95: round1(quantile(underlay, 0.95)), pairs: underlay.length },
      rttRatioP50: round1(quantile(overlay, 0.5) / quantile(underlay, 0.5)),
      edgesPerNode: { min: Math.min(...edges), max: Math.max(...edges) },
    };
    return result;
  } finally {
    await lab.nat.close();
  }
}

async function hops(): Promise<Record<string, unknown>> {
  const names = ['ha', 'hb', 'hc'];
  const lab = await openLab('hp', names);
  try {
    const labs = names.map((name) => publicNode(lab.nat, name));
    const ids = names.map((_, i) => nodeId(i, 3));
    const edges: Record<string, string[]> = { ha: [ids[1] as string], hb: [ids[0] as string, ids[2] as string], hc: [ids[1] as string] };
    const nodes = names.map((name, i) =>
      startLabNode(lab.nat, labs[i] as LabNode, name, labNodeConfig(lab.prosody, lab.coturn, name, {
        nodeId: ids[i] as string, ip: i + 1, turn: false, extra: { Topology: { ManualTopology: true, StaticEdges: edges[name] } },
      })),
    );
    const [a, b, c] = nodes as [RunningNode, RunningNode, RunningNode];
    await until('a — b — c linked', 60_000, async () => {
      const [sa, sb, sc] = await Promise.all([statusOf(a), statusOf(b), statusOf(c)]);
      const up = (s: typeof sa): number => s?.links.filter((l) => l.state === 'up').length ?? 0;
      return up(sa) === 1 && up(sb) === 2 && up(sc) === 1;
    });
    await until('a reaches c through b', 30_000, () => ping(a, `${TAP_NET}.3`, 1, { waitS: 1 }).received === 1);
    const direct: number[] = [];
    const twoHop: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      direct.push(await iperf(lab.nat, a, b, `${TAP_NET}.2`, SECONDS));
      twoHop.push(await iperf(lab.nat, a, c, `${TAP_NET}.3`, SECONDS));
    }
    const med = (xs: number[]): number => quantile(xs, 0.5);
    // The path really had two hops: a has no link to c.
    const sa = await a.status();
    if (sa.links.some((l) => l.peerId === ids[2])) throw new Error('a has a link to c: the two-hop path is not two hops');
    return {
      directMbps: Math.round(med(direct)),
      twoHopMbps: Math.round(med(twoHop)),
      twoHopOverDirect: Math.round((med(twoHop) / med(direct)) * 100) / 100,
      rounds: ROUNDS,
      seconds: SECONDS,
    };
  } finally {
    await lab.nat.close();
  }
}

async function main(): Promise<void> {
  const missing = natLabMissing();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables iperf3)`);
  const stale = distStale();
  if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: npm run bench:overlay builds it`);
  const results: Record<string, unknown> = { convergence: [] as unknown[] };
  for (const n of SIZES) {
    process.stdout.write(`overlay of ${n} nodes...\n`);
    const r = await convergence(n);
    (results.convergence as unknown[]).push(r);
    process.stdout.write(`  ${JSON.stringify(r)}\n`);
  }
  process.stdout.write('two hops against one direct link...\n');
  results.hops = await hops();
  process.stdout.write(`  ${JSON.stringify(results.hops)}\n`);
  mkdirSync(join(ROOT, 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'results', 'overlay-bench.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write('\n| nodes | formed | all pairs | overlay RTT p50 / p95 | underlay RTT p50 | ratio p50 |\n|---|---|---|---|---|---|\n');
  for (const r of results.convergence as { nodes: number; formedMs: number; allPairsMs: number; overlayRttMs: { p50: number; p95: number }; underlayRttMs: { p50: number }; rttRatioP50: number }[]) {
    process.stdout.write(`| ${r.nodes} | ${(r.formedMs / 1000).toFixed(1)} s | ${(r.allPairsMs / 1000).toFixed(1)} s | ${r.overlayRttMs.p50} / ${r.overlayRttMs.p95} ms | ${r.underlayRttMs.p50} ms | ${r.rttRatioP50}× |\n`);
  }
  const h = results.hops as { directMbps: number; twoHopMbps: number; twoHopOverDirect: number };
  process.stdout.write(`\niperf3 TCP: direct link ${h.directMbps} Mbit/s, two hops ${h.twoHopMbps} Mbit/s: two-hop/direct ${h.twoHopOverDirect}×\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:overlay: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
