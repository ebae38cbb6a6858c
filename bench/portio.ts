/**
 * npm run bench:portio — the port I/O layer as a plain two-port forwarder (the addon, no OpenFlow)
 * between two namespaces, against the Linux bridge and a direct veth pair measured in the same run.
 *
 *   direct     ns1 ⟷ ns2 over one veth pair (the ceiling)
 *   bridge     ns1 ⟷ veth ⟷ Linux bridge ⟷ veth ⟷ ns2
 *   tinflow    ns1 ⟷ veth ⟷ [AF_PACKET forwarder] ⟷ veth ⟷ ns2, with offload (virtio-net headers,
 *              GSO passes through) and without (per-frame; the hosts' tx checksum offload turned off,
 *              as a switch without offload handling requires)
 *
 * iperf3 TCP throughput and UDP pps with 64-byte frames (18-byte payloads), received side. Prints a table
 * with ratios to the bridge and writes results/bench-portio.json. Root only.
 * Usage: node dist/bench/portio.js [--seconds S]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type NativeFramePort, openInterface } from '../switch/portio/index.js';
import { Lab, inNs, ip } from '../scripts/netlab.js';

interface Result {
  readonly tcpMbps: number;
  readonly udpPps: number;
  readonly udpLossPct: number;
}

function run(cmd: string[], timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    const p: ChildProcess = spawn(cmd[0] as string, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) res(out);
      else rej(new Error(`${cmd.join(' ')} exited ${code}: ${err.slice(0, 300)} ${out.slice(0, 300)}`));
    });
  });
}

async function iperf(n1: string, n2: string, seconds: number): Promise<Result> {
  const server = spawn('ip', ['netns', 'exec', n2, 'iperf3', '-s', '-B', '10.88.0.2', '-p', '5211'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 400));
    const tcp = JSON.parse(await run(['ip', 'netns', 'exec', n1, 'iperf3', '-c', '10.88.0.2', '-p', '5211', '-t', String(seconds), '-J'], (seconds + 20) * 1000)) as {
      end: { sum_received: { bits_per_second: number } };
    };
    const udp = JSON.parse(
      await run(['ip', 'netns', 'exec', n1, 'iperf3', '-c', '10.88.0.2', '-p', '5211', '-u', '-b', '0', '-l', '18', '-t', String(seconds), '-J'], (seconds + 20) * 1000),
    ) as { end: { sum: { packets: number; lost_packets: number; seconds: number } } };
    const s = udp.end.sum;
    return {
      tcpMbps: tcp.end.sum_received.bits_per_second / 1e6,
      udpPps: (s.packets - s.lost_packets) / s.seconds,
      udpLossPct: s.packets ? (100 * s.lost_packets) / s.packets : 0,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function hosts(lab: Lab): { n1: string; n2: string } {
  const n1 = lab.ns('n1');
  const n2 = lab.ns('n2');
  return { n1, n2 };
}

async function direct(seconds: number): Promise<Result> {
  const lab = new Lab('bd');
  try {
    const { n1, n2 } = hosts(lab);
    lab.veth(lab.name('a'), lab.name('b'));
    lab.move(lab.name('a'), n1, '10.88.0.1/24');
    lab.move(lab.name('b'), n2, '10.88.0.2/24');
    return await iperf(n1, n2, seconds);
  } finally {
    lab.cleanup();
  }
}

async function bridge(seconds: number): Promise<Result> {
  const lab = new Lab('bb');
  const br = lab.name('br');
  try {
    const { n1, n2 } = hosts(lab);
    ip('link', 'add', br, 'type', 'bridge');
    ip('link', 'set', br, 'up');
    for (const [i, ns] of [[1, n1], [2, n2]] as const) {
      lab.veth(lab.name(`h${i}`), lab.name(`p${i}`));
      ip('link', 'set', lab.name(`h${i}`), 'master', br);
      lab.move(lab.name(`p${i}`), ns, `10.88.0.${i}/24`);
    }
    return await iperf(n1, n2, seconds);
  } finally {
    try {
      ip('link', 'del', br);
    } catch {
      /* not made */
    }
    lab.cleanup();
  }
}

async function forwarder(seconds: number, offload: boolean): Promise<Result> {
  const lab = new Lab(offload ? 'bo' : 'bp');
  const ports: NativeFramePort[] = [];
  try {
    const { n1, n2 } = hosts(lab);
    for (const [i, ns] of [[1, n1], [2, n2]] as const) {
      lab.veth(lab.name(`h${i}`), lab.name(`p${i}`));
      lab.move(lab.name(`p${i}`), ns, `10.88.0.${i}/24`);
      if (!offload) inNs(ns, 'ethtool', '-K', lab.name(`p${i}`), 'tx', 'off');
      ports.push(openInterface(lab.name(`h${i}`), { offload }));
    }
    const [a, b] = ports as [NativeFramePort, NativeFramePort];
    a.start((batch) => b.sendFrom(a, batch.count));
    b.start((batch) => a.sendFrom(b, batch.count));
    return await iperf(n1, n2, seconds);
  } finally {
    for (const p of ports) p.close();
    lab.cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
  const seconds = Number(values.seconds);
  if (!(seconds >= 1 && seconds <= 60)) throw new Error(`--seconds must be 1..60, got ${values.seconds}`);
  if (process.getuid?.() !== 0) throw new Error('bench:portio needs root (namespaces, veths, AF_PACKET)');
  const results: Record<string, Result> = {};
  results['direct veth'] = await direct(seconds);
  results['Linux bridge'] = await bridge(seconds);
  results['tinflow, offload'] = await forwarder(seconds, true);
  results['tinflow, no offload'] = await forwarder(seconds, false);
  const br = results['Linux bridge'] as Result;
  const line = (cells: string[]) => process.stdout.write(cells.map((c, i) => (i ? c.padStart(14) : c.padEnd(22))).join('') + '\n');
  line(['', 'TCP Mbit/s', 'x bridge', 'UDP64 kpps', 'x bridge', 'UDP loss %']);
  for (const [k, r] of Object.entries(results)) {
    line([k, r.tcpMbps.toFixed(0), (r.tcpMbps / br.tcpMbps).toFixed(2), (r.udpPps / 1e3).toFixed(0), (r.udpPps / br.udpPps).toFixed(2), r.udpLossPct.toFixed(1)]);
  }
  mkdirSync('results', { recursive: true });
  writeFileSync('results/bench-portio.json', JSON.stringify({ date: new Date().toISOString(), seconds, results }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:portio: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
