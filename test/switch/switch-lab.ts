/**
 * A lab for switch tests: N hosts in namespaces of their own, each behind a veth whose root end is a
 * port of a `tinflow switch` process (or of an OVS netdev bridge), and helpers to run controllers.
 * Everything is removed by name and by PID, also after failures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { stopProcess } from '../../base/shutdown.js';
import { Lab, ip } from '../../scripts/netlab.js';

export interface Hosts {
  readonly lab: Lab;
  readonly ns: string[];
  /** Root-side veth ends, switch port i+1 each. */
  readonly ports: string[];
  readonly addr: (i: number) => string;
}

export function makeHosts(tag: string, n: number): Hosts {
  const lab = new Lab(tag);
  const ns: string[] = [];
  const ports: string[] = [];
  for (let i = 1; i <= n; i++) {
    const h = lab.ns(`h${i}`); // quiet: IPv6 off in it and on both veth ends (netlab.ts)
    const root = lab.name(`s${i}`);
    const host = lab.name(`e${i}`);
    lab.veth(root, host);
    lab.move(host, h, `10.55.0.${i}/24`);
    ns.push(h);
    ports.push(root);
  }
  return { lab, ns, ports, addr: (i) => `10.55.0.${i + 1}` };
}

export async function waitPort(port: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.end();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function startOsken(lab: Lab, app: string, port: number): ChildProcess {
  return lab.track(
    spawn('/usr/bin/osken-manager', ['--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(port), resolve(process.cwd(), app)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
}

export function startSwitch(lab: Lab, args: string[]): ChildProcess {
  const p = lab.track(spawn(process.execPath, [resolve(process.cwd(), 'scripts/tinflow'), 'switch', ...args], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  p.on('exit', (code) => {
    if (code && code !== 0) process.stderr.write(`tinflow switch exited ${code}: ${err.slice(-2000)}\n`);
  });
  return p;
}

/** SIGTERM, then SIGKILL after 3 s (base/shutdown.ts). */
export const stop = (p: ChildProcess): Promise<void> => stopProcess(p);

/** Pings from host i to host j; returns the number of replies. */
export async function ping(h: Hosts, i: number, j: number, count = 3): Promise<number> {
  const p = spawn('ip', ['netns', 'exec', h.ns[i] as string, 'ping', '-c', String(count), '-i', '0.2', '-W', '2', h.addr(j)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await once(p, 'close');
  const m = /(\d+) received/.exec(out);
  return m ? Number(m[1]) : 0;
}

/** iperf3 TCP from host i to host j for `seconds`; returns Mbit/s received. */
export async function iperfTcp(h: Hosts, i: number, j: number, seconds = 2): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', h.ns[j] as string, 'iperf3', '-s', '-1', '-B', h.addr(j), '-p', '5301'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 400));
  const c = spawn('ip', ['netns', 'exec', h.ns[i] as string, 'iperf3', '-c', h.addr(j), '-p', '5301', '-t', String(seconds), '-J'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await once(c, 'close');
  server.kill();
  try {
    return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6;
  } catch {
    return 0;
  }
}

export { ip };
