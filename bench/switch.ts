/**
 * npm run bench:switch — the OpenFlow switch forwarding between two namespaces, tinflow against an OVS
 * userspace (netdev) bridge in the same run, with the same proactive flows installed by ovs-ofctl.
 * Then tinflow again with 10k and 100k more flows in its table (exact matches on addresses no test
 * frame carries) to show that forwarding cost stays flat as the table grows.
 * Hosts have tx checksum offload off for these (OVS userspace on veths needs it); a last row runs
 * tinflow with offloads on. iperf3 TCP and 64-byte UDP, received side. Root only; OVS must run.
 * Usage: node dist/bench/switch.js [--seconds S] [--flows 0,10000,100000]
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../scripts/netlab.js';

interface Result {
  readonly tcpMbps: number;
  readonly udpPps: number;
}

function run(cmd: string[], timeoutMs: number): string {
  const r = spawnSync(cmd[0] as string, cmd.slice(1), { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd.slice(0, 6).join(' ')} failed: ${r.stderr.slice(0, 300)}`);
  return r.stdout;
}

async function measure(n1: string, n2: string, seconds: number): Promise<Result> {
  const server = spawn('ip', ['netns', 'exec', n2, 'iperf3', '-s', '-B', '10.66.0.2', '-p', '5221'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 400));
    // warm-up: ARP and the exact-match cache
    spawnSync('ip', ['netns', 'exec', n1, 'ping', '-c', '2', '-i', '0.2', '10.66.0.2'], { stdio: 'ignore' });
    const tcp = JSON.parse(run(['ip', 'netns', 'exec', n1, 'iperf3', '-c', '10.66.0.2', '-p', '5221', '-t', String(seconds), '-J'], (seconds + 20) * 1000)) as {
      end: { sum_received: { bits_per_second: number } };
    };
    const udp = JSON.parse(run(['ip', 'netns', 'exec', n1, 'iperf3', '-c', '10.66.0.2', '-p', '5221', '-u', '-b', '0', '-l', '18', '-t', String(seconds), '-J'], (seconds + 20) * 1000)) as {
      end: { sum: { packets: number; lost_packets: number; seconds: number } };
    };
    const s = udp.end.sum;
    return { tcpMbps: tcp.end.sum_received.bits_per_second / 1e6, udpPps: (s.packets - s.lost_packets) / s.seconds };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
  }
}

function flowFile(dir: string, extra: number): string {
  const lines = ['table=0,priority=100,in_port=1,actions=output:2', 'table=0,priority=100,in_port=2,actions=output:1'];
  for (let i = 0; i < extra; i++) {
    const a = (i >> 8) & 0xff;
    const b = i & 0xff;
    lines.push(`table=0,priority=200,ip,nw_dst=172.${16 + (i >> 16)}.${a}.${b},actions=drop`);
  }
  const f = join(dir, `flows-${extra}.txt`);
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** Two hosts; txOff: their checksum offload off (OVS userspace on veths needs it for TCP). */
function hosts(lab: Lab, txOff: boolean): { n1: string; n2: string; p: [string, string] } {
  const n1 = lab.ns('n1');
  const n2 = lab.ns('n2');
  const p: [string, string] = [lab.name('s1'), lab.name('s2')];
  for (const [i, ns] of [[1, n1], [2, n2]] as const) {
    lab.veth(lab.name(`s${i}`), lab.name(`h${i}`));
    lab.move(lab.name(`h${i}`), ns, `10.66.0.${i}/24`);
    if (txOff) execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', lab.name(`h${i}`), 'tx', 'off'], { stdio: 'ignore' });
  }
  return { n1, n2, p };
}

async function ovs(seconds: number, dir: string): Promise<Result> {
  const lab = new Lab('bo');
  const br = lab.name('br');
  try {
    const { n1, n2, p } = hosts(lab, true);
    execFileSync('ovs-vsctl', ['add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', '--', 'set-fail-mode', br, 'secure']);
    p.forEach((port, i) => execFileSync('ovs-vsctl', ['add-port', br, port, '--', 'set', 'interface', port, `ofport_request=${i + 1}`]));
    run(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', br, flowFile(dir, 0)], 60_000);
    return await measure(n1, n2, seconds);
  } finally {
    spawnSync('ovs-vsctl', ['--if-exists', 'del-br', br]);
    lab.cleanup();
  }
}

async function tinflow(seconds: number, dir: string, extra: number, offload: boolean): Promise<Result> {
  const lab = new Lab('bt');
  let sw: ChildProcess | undefined;
  try {
    const { n1, n2, p } = hosts(lab, !offload);
    const port = 6811;
    sw = spawn(process.execPath, [resolve('scripts/tinflow'), 'switch', '--name', lab.name('br'), '--listen', `ptcp:${port}:127.0.0.1`, ...(offload ? ['--offload'] : []), '--no-local', '--log-level', 'warn', '--port', `1=${p[0]}`, '--port', `2=${p[1]}`], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (spawnSync('ovs-ofctl', ['-O', 'OpenFlow13', 'show', `tcp:127.0.0.1:${port}`], { stdio: 'ignore' }).status === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    run(['ovs-ofctl', '-O', 'OpenFlow13', 'add-flows', `tcp:127.0.0.1:${port}`, flowFile(dir, extra)], 300_000);
    return await measure(n1, n2, seconds);
  } finally {
    sw?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    lab.cleanup();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, flows: { type: 'string', default: '0,10000,100000' } } });
  const seconds = Number(values.seconds);
  const sizes = values.flows.split(',').map(Number);
  if (!(seconds >= 1 && seconds <= 60) || sizes.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('bad --seconds or --flows');
  if (spawnSync('ovs-vsctl', ['-t', '5', 'show']).status !== 0) throw new Error('Open vSwitch is not running (start it with ovs-ctl start)');
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-bench-'));
  // Same host settings for the comparison (tx checksum offload off, which OVS userspace needs); then
  // tinflow with the hosts' offloads on, which its virtio-net header handling lets it use.
  const rows: [string, Result][] = [['OVS netdev, 2 flows', await ovs(seconds, dir)]];
  for (const n of sizes) rows.push([`tinflow, ${n + 2} flows`, await tinflow(seconds, dir, n, false)]);
  rows.push(['tinflow+offload, 2 flows', await tinflow(seconds, dir, 0, true)]);
  const base = rows[0]?.[1] as Result;
  const line = (c: string[]) => process.stdout.write(c.map((x, i) => (i ? x.padStart(13) : x.padEnd(26))).join('') + '\n');
  line(['', 'TCP Mbit/s', 'x OVS', 'UDP64 kpps', 'x OVS']);
  for (const [k, r] of rows) line([k, r.tcpMbps.toFixed(0), (r.tcpMbps / base.tcpMbps).toFixed(2), (r.udpPps / 1e3).toFixed(1), (r.udpPps / base.udpPps).toFixed(2)]);
  mkdirSync('results', { recursive: true });
  writeFileSync('results/bench-switch.json', JSON.stringify({ date: new Date().toISOString(), seconds, rows: Object.fromEntries(rows) }, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:switch: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
