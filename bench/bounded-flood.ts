/**
 * npm run bench:flood — what a broadcast costs when it goes through the controller: BoundedFlood (a
 * packet-in and a packet-out per peer for every broadcast) next to the same switch forwarding broadcasts
 * with a plain flood flow (the anchor, no controller), in the same run, as frames per second and a ratio.
 *
 * One node as the overlay node builds it (overlay/node.ts): the tinflow switch (switch/datapath.ts) and
 * the in-tree controller in one process, joined in-process (overlay/local-channel.ts), and the same
 * joined by the OpenFlow channel over TCP on loopback (as a controller in another process is). The
 * switch has one leaf port and `--peers` peer ports, all in-memory ports (switch/memory-port.ts), each
 * wired to a counting sink; nothing else runs in the process. Three ways a broadcast crosses the node:
 *   flood flow   eth_dst=ff:ff:ff:ff:ff:ff → FLOOD on the switch: one frame out per peer port
 *   BF origin    the same broadcast from the leaf, through BoundedFlood: a packet-in, one FRB packet-out
 *                per peer (each copy carries its own bound)
 *   BF relay     an FRB from one peer whose bound spans the others: a packet-in, a packet-out to the
 *                leaf and one FRB packet-out per other peer
 * Each is a closed loop: broadcasts are injected in batches (`--batch`, a native port's receive batch)
 * while fewer than `--window` are unfinished; a broadcast is finished when its copy reaches the first
 * peer's sink (the leaf's, for relays). Rounds alternate the three (round 0 is a warm-up, discarded);
 * medians are printed with the process's CPU per broadcast, and the flood flow's rate over each BF rate.
 *
 * Usage: node dist/bench/bounded-flood.js [--peers 4] [--seconds 2] [--rounds 5] [--window 64] [--batch 16]
 * Writes results/bench-bounded-flood.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { nullLogger } from '../base/logger.js';
import { parseEndpoint } from '../base/endpoint.js';
import { boundedFlood } from '../controller/apps/bounded-flood.js';
import { FRB_OVERHEAD, FRB_TYPE, decodeFrb, encodeFrb } from '../controller/apps/frb.js';
import { Controller } from '../controller/controller.js';
import { OFPCR_ROLE, OFPP, flowMod, output } from '../openflow/index.js';
import { sleep } from '../scripts/daemon.js';
import { LocalChannel } from '../overlay/local-channel.js';
import { Channel, TARGET_KINDS } from '../switch/channel.js';
import { Datapath } from '../switch/datapath.js';
import { MemoryPort, wire } from '../switch/memory-port.js';

interface Options {
  readonly peers: number;
  readonly seconds: number;
  readonly rounds: number;
  readonly window: number;
  readonly batch: number;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      peers: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '5' },
      window: { type: 'string', default: '64' },
      batch: { type: 'string', default: '16' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: bench-bounded-flood [--peers 4] [--seconds 2] [--rounds 5] [--window 64] [--batch 16]\n');
    process.exit(0);
  }
  const num = (key: string, v: string, lo: number, hi: number, int: boolean): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi || (int && !Number.isInteger(n))) throw new Error(`--${key} must be ${int ? 'an integer' : 'a number'} in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    return n;
  };
  const o = {
    peers: num('peers', values.peers, 2, 32, true),
    seconds: num('seconds', values.seconds, 0.2, 60, false),
    rounds: num('rounds', values.rounds, 1, 50, true),
    window: num('window', values.window, 1, 1024, true),
    batch: num('batch', values.batch, 1, 64, true),
  };
  if (o.batch > o.window) throw new Error(`--batch ${o.batch} is larger than --window ${o.window}`);
  return o;
}

// ---- the node ---------------------------------------------------------------------------------------

const SELF = '50' + '0f'.repeat(15);
/** Peer k's node id: above self on the ring, so one FRB bound below self spans them all. */
const peerId = (k: number): string => (0x60 + k).toString(16) + '0f'.repeat(15);
const FAR = '20' + '0f'.repeat(15);
const HOST = '02:00:00:00:00:01';
const REMOTE_HOST = '02:00:00:00:02:01';
const LINK_MTU = 1500 + FRB_OVERHEAD;

function arpRequest(src: string): Buffer {
  const f = Buffer.alloc(60);
  f.fill(0xff, 0, 6);
  Buffer.from(src.replace(/:/g, ''), 'hex').copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16); // IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  f.copy(f, 22, 6, 12); // sender MAC
  return f;
}

interface Node {
  readonly name: string;
  /** Injects broadcasts where this kind of run takes them in. */
  inject(frames: readonly Buffer[]): void;
  readonly frame: Buffer;
  /** Broadcasts finished so far. */
  finished(): number;
  /** What every sink got (for the end-of-run check). */
  sinkCounts(): number[];
  /** A frame the finishing sink got, for the check. */
  sample(): Buffer | undefined;
  stop(): Promise<void>;
}

interface Ports {
  readonly leaf: MemoryPort;
  readonly peers: MemoryPort[];
  readonly counts: number[];
  /** counts[0] is the leaf's sink, counts[1 + k] peer k's. */
  readonly samples: (Buffer | undefined)[];
}

/** A switch with a leaf port (1) and peer ports (10 + k), each wired to a sink that counts what arrives. */
function switchWithPorts(dp: Datapath, peers: number): Ports {
  const counts = Array<number>(peers + 1).fill(0);
  const samples: (Buffer | undefined)[] = Array<Buffer | undefined>(peers + 1).fill(undefined);
  const port = (name: string, sinkIndex: number): MemoryPort => {
    const p = new MemoryPort({ name, mtu: LINK_MTU, scribble: false, txQueueLimit: 1 << 16 });
    const sink = new MemoryPort({ name: `${name}s`, mtu: LINK_MTU, scribble: false });
    wire(p, sink);
    sink.start((batch) => {
      counts[sinkIndex] = (counts[sinkIndex] as number) + batch.count;
      samples[sinkIndex] ??= Buffer.from(batch.frame(0));
    });
    return p;
  };
  const leaf = port('leaf', 0);
  dp.addPort(leaf, 1);
  const ps = Array.from({ length: peers }, (_, k) => port(`peer${k}`, k + 1));
  ps.forEach((p, k) => dp.addPort(p, 10 + k));
  return { leaf, peers: ps, counts, samples };
}

function datapath(dpid: bigint): Datapath {
  return new Datapath({ name: `bf${dpid}`, dpid, tables: 1, failMode: 'secure', log: nullLogger });
}

/** The anchor: a flood flow for broadcasts, installed directly, no controller. */
function floodFlowNode(peers: number): Node {
  const dp = datapath(1n);
  dp.attach({ sendAsync: () => 0, connected: 0 });
  const ports = switchWithPorts(dp, peers);
  const conn = { id: 'bench', role: OFPCR_ROLE.EQUAL, send: () => undefined };
  dp.handle(flowMod({ priority: 10, match: { eth_dst: 'ff:ff:ff:ff:ff:ff' }, actions: [output(OFPP.FLOOD)] }), conn);
  const frame = arpRequest(HOST);
  return {
    name: 'flood flow',
    frame,
    inject: (frames) => ports.leaf.inject(frames),
    finished: () => ports.counts[1] as number,
    sinkCounts: () => [...ports.counts],
    sample: () => ports.samples[1],
    stop: () => {
      dp.stop();
      return Promise.resolve();
    },
  };
}

/**
 * A node running BoundedFlood in its in-process controller, joined to the switch in-process
 * (overlay/local-channel.ts, what overlay/node.ts does) or over TCP on loopback (what a controller in
 * another process needs).
 */
async function boundedFloodNode(peers: number, mode: 'origin' | 'relay', dpid: bigint, via: 'local' | 'tcp'): Promise<Node> {
  const portPeers = new Map<string, string>(Array.from({ length: peers }, (_, k) => [`peer${k}`, peerId(k)]));
  const bf = boundedFlood({ nodeId: SELF, peerOf: (p) => portPeers.get(p.name) });
  const ctl = new Controller({ ...(via === 'tcp' && { listen: ['tcp:127.0.0.1:0'] }), apps: [bf.app], logger: nullLogger });
  await ctl.start();
  const dp = datapath(dpid);
  const ports = switchWithPorts(dp, peers);
  let channel: Channel | LocalChannel;
  if (via === 'tcp') {
    const tcp = new Channel({ targets: [parseEndpoint(ctl.addresses()[0] ?? '', TARGET_KINDS, 'controller')], handler: dp, log: nullLogger });
    dp.attach(tcp);
    await tcp.start();
    channel = tcp;
  } else {
    const local = new LocalChannel(dp, dpid, nullLogger);
    local.connect(ctl);
    channel = local;
  }
  for (let i = 0; i < 200 && !(ctl.datapath(dpid) && dp.tables[0] && dp.tables[0].activeCount >= 3); i++) await sleep(25);
  if (!ctl.datapath(dpid)) throw new Error('the switch did not connect to the controller');
  // relay: an FRB from peer 0 rooted far away, bound below self: every other peer lies in (self, bound)
  const frame =
    mode === 'origin'
      ? arpRequest(HOST)
      : encodeFrb({ root: FAR, bound: FAR, hopCount: 3, type: FRB_TYPE.BRDCST, plCount: 0 }, arpRequest(REMOTE_HOST));
  const into = mode === 'origin' ? ports.leaf : (ports.peers[0] as MemoryPort);
  const done = mode === 'origin' ? 1 : 0;
  return {
    name: `BF ${mode}${via === 'tcp' ? ' TCP' : ''}`,
    frame,
    inject: (frames) => into.inject(frames),
    finished: () => ports.counts[done] as number,
    sinkCounts: () => [...ports.counts],
    sample: () => ports.samples[done],
    stop: async () => {
      if (channel instanceof LocalChannel) channel.close();
      else await channel.stop();
      dp.stop();
      await ctl.stop();
      const c = bf.counters();
      const dropped = Object.entries(c.dropped).filter(([, n]) => n > 0);
      if (dropped.length > 0) throw new Error(`BoundedFlood dropped frames: ${JSON.stringify(Object.fromEntries(dropped))}`);
    },
  };
}

// ---- measuring --------------------------------------------------------------------------------------

interface Turn {
  readonly node: string;
  readonly round: number;
  readonly perS: number;
  /** Process CPU (user + system) per broadcast, microseconds. */
  readonly cpuUs: number;
}

const turnLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

async function turn(node: Node, round: number, o: Options): Promise<Turn> {
  const batch = Array.from({ length: o.batch }, () => node.frame);
  let injected = node.finished();
  const run = async (ms: number): Promise<void> => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      while (injected - node.finished() + o.batch <= o.window) {
        node.inject(batch);
        injected += o.batch;
      }
      await turnLoop();
    }
  };
  await run(200); // ramp: the window fills
  const n0 = node.finished();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await run(o.seconds * 1000);
  const n1 = node.finished();
  const t1 = performance.now();
  const c = process.cpuUsage(c0);
  // drain: what is in flight finishes before the next turn starts
  for (let i = 0; i < 2000 && node.finished() < injected; i++) await turnLoop();
  const done = n1 - n0;
  return { node: node.name, round, perS: done / ((t1 - t0) / 1000), cpuUs: done > 0 ? (c.user + c.system) / done : NaN };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(12) : c.padStart(14))).join('') + '\n';

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  process.stdout.write(
    `bench:flood: one node, 1 leaf + ${o.peers} peer ports (in-memory), switch and controller in this process, joined in-process and over TCP loopback; ` +
      `window ${o.window}, batches of ${o.batch}, ${o.rounds} rounds of ${o.seconds} s (+ a warm-up)\n`,
  );
  const nodes = [
    floodFlowNode(o.peers),
    await boundedFloodNode(o.peers, 'origin', 2n, 'local'),
    await boundedFloodNode(o.peers, 'relay', 3n, 'local'),
    await boundedFloodNode(o.peers, 'origin', 4n, 'tcp'),
    await boundedFloodNode(o.peers, 'relay', 5n, 'tcp'),
  ];
  const turns: Turn[] = [];
  try {
    process.stdout.write(line(['', 'round', 'broadcasts/s', 'CPU µs/bcast']));
    for (let r = 0; r <= o.rounds; r++) {
      const order = r % 2 === 0 ? nodes : [...nodes].reverse();
      for (const node of order) {
        const t = await turn(node, r, o);
        process.stdout.write(line([t.node, `${r}${r === 0 ? '*' : ''}`, t.perS.toFixed(0), t.cpuUs.toFixed(1)]));
        if (r > 0) turns.push(t);
      }
    }
    // every broadcast arrived once on every port it should (and the copies are what they should be)
    const checks: string[] = [];
    for (const node of nodes) {
      const counts = node.sinkCounts();
      const s = node.sample();
      if (node.name.startsWith('BF relay')) {
        const relays = counts.slice(2);
        if (relays.some((x) => x !== counts[0])) checks.push(`${node.name}: leaf ${counts[0]} vs relays ${relays.join(',')}`);
        if (s && s.readUInt16BE(12) !== 0x0806) checks.push(`${node.name}: the leaf got ethertype 0x${s.readUInt16BE(12).toString(16)}, not the carried ARP`);
      } else {
        const peers = counts.slice(1);
        if (peers.some((x) => x !== peers[0])) checks.push(`${node.name}: peers got ${peers.join(',')}`);
        if (node.name.startsWith('BF origin') && s && decodeFrb(s).header.root !== SELF) checks.push(`${node.name}: the copy's root is not this node`);
      }
    }
    process.stdout.write(checks.length ? `CHECK FAILED:\n  ${checks.join('\n  ')}\n` : 'check: every broadcast reached every port it should, once\n');
    const med = (name: string, k: 'perS' | 'cpuUs'): number => median(turns.filter((t) => t.node === name).map((t) => t[k]));
    process.stdout.write(`\n${line(['median', 'broadcasts/s', 'CPU µs/bcast', 'flow ÷ this'])}`);
    const anchor = med('flood flow', 'perS');
    const summary: Record<string, { perS: number; cpuUs: number; ratio: number }> = {};
    for (const node of nodes) {
      const perS = med(node.name, 'perS');
      summary[node.name] = { perS, cpuUs: med(node.name, 'cpuUs'), ratio: anchor / perS };
      process.stdout.write(line([node.name, perS.toFixed(0), med(node.name, 'cpuUs').toFixed(1), `${(anchor / perS).toFixed(1)}×`]));
    }
    const r = (name: string): string => (summary[name]?.ratio ?? NaN).toFixed(1);
    process.stdout.write(
      `\nBoundedFlood through the controller, in-process: ${r('BF origin')}× (origin) and ${r('BF relay')}× (relay) slower than a flood flow on the same switch ` +
        `(1 packet-in + ${o.peers} packet-outs per broadcast at the origin); over TCP loopback: ${r('BF origin TCP')}× and ${r('BF relay TCP')}×.\n`,
    );
    mkdirSync('results', { recursive: true });
    writeFileSync('results/bench-bounded-flood.json', JSON.stringify({ options: o, turns, summary, checks }, null, 2) + '\n');
    if (checks.length) process.exitCode = 1;
  } finally {
    for (const n of nodes) await n.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:flood: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
