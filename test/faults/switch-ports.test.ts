/**
 * Fault: interfaces removed under a running `tinflow switch` (issue 15). A switch process forwards
 * between three veths (hosts h1..h3 in namespaces of their own) and a TAP it made itself, driven by a
 * controller in this test that floods on table-miss and records every port-status.
 *
 * Expected, and checked while h1 pings h2 the whole time:
 * - the veth of port 3 deleted (`ip link del`, which takes its far end in h3 with it) and the TAP of
 *   port 4 deleted: the switch process stays up, sends OFPT_PORT_STATUS reason DELETE for port 3 and for
 *   port 4 to the controller, keeps forwarding between the remaining ports (the ping running across the
 *   deletions loses at most a few echoes, and a ping afterwards gets every reply), and its status and
 *   dump-ports no longer list them;
 * - the veth made again with the same name and added with `switchctl add-port s3 3`, and the TAP with
 *   `add-tap NAME 4`: port-status ADD for each, and h1 reaches h3 again through port 3.
 * Needs root and a fresh dist/ (npx tsc -p tsconfig.build.json).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type Server, type Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess } from '../../base/shutdown.js';
import { switchctlRequest } from '../../switch/ctl.js';
import { Framer, type MessageOf, type OFPMessage, OFPP, OFPPR, decode, encode, flowMod, output } from '../../openflow/index.js';
import { inNs, ip } from '../../scripts/netlab.js';
import { ROOT, TINFLOW, distStale } from '../../scripts/overlay-lab.js';
import { type Hosts, makeHosts } from '../switch/switch-lab.js';
import { waitFor } from '../helpers/wait.js';

type PortStatus = MessageOf<'OFPPortStatus'>;

/** The controller side of one switch connection: hello, features, a flood table-miss, and what came. */
class FloodController {
  readonly portStatus: PortStatus[] = [];
  private readonly framer = new Framer();
  private sock: Socket | undefined;
  private readonly server: Server;
  readonly ready: Promise<void>;

  constructor(readonly port: number) {
    let connected: () => void = () => undefined;
    this.ready = new Promise((r) => (connected = r));
    this.server = createServer((sock) => {
      this.sock = sock;
      sock.on('error', () => undefined);
      sock.on('data', (d: Buffer) => {
        for (const f of this.framer.push(d)) this.got(decode(f), connected);
      });
      this.send({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] });
      this.send({ type: 'OFPFeaturesRequest', xid: 2 });
    });
    this.server.listen(port, '127.0.0.1');
  }

  private got(m: OFPMessage, connected: () => void): void {
    if (m.type === 'OFPEchoRequest') this.send({ type: 'OFPEchoReply', xid: m.xid, data: m.data });
    else if (m.type === 'OFPPortStatus') this.portStatus.push(m);
    else if (m.type === 'OFPSwitchFeatures') {
      // Table-miss floods: every frame goes out of every other live port, so forwarding shows directly.
      this.send(flowMod({ xid: 3, priority: 0, actions: [output(OFPP.FLOOD)] }));
      connected();
    }
  }

  send(m: OFPMessage): void {
    this.sock?.write(encode(m));
  }

  reasons(port: number): number[] {
    return this.portStatus.filter((m) => m.desc.port_no === port).map((m) => m.reason);
  }

  async close(): Promise<void> {
    this.sock?.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

const switchctl = (ctl: string, cmd: string, ...args: string[]): Promise<string[]> => switchctlRequest(ctl, cmd, args);

/** Echo requests sent and answered by a ping in ns (it may exit 1 on loss; that is counted, not thrown). */
function pingProc(ns: string, to: string, count: number, intervalS: number): { proc: ChildProcess; result: Promise<{ sent: number; received: number }> } {
  const proc = spawn('ip', ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', to], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const result = once(proc, 'close').then(() => {
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
  });
  return { proc, result };
}

const pingOnce = async (h: Hosts, from: number, to: number, count = 3): Promise<number> => (await pingProc(h.ns[from] as string, h.addr(to), count, 0.2).result).received;

describe('interfaces deleted under a running switch', () => {
  let hosts: Hosts;
  let ctrl: FloodController;
  let sw: ChildProcess;
  const swLog: string[] = [];
  let ctl: string;
  let tap: string;
  let swEnd3: string;
  let farMac = '';

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (namespaces, veths, TAP)');
    const stale = distStale(['base', 'openflow', 'switch', 'switch/portio']);
    if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
    hosts = makeHosts('fp', 3);
    ctl = join(hosts.lab.tempDir('sw'), 'sw.ctl');
    tap = hosts.lab.name('t4');
    swEnd3 = hosts.ports[2] as string;
    ctrl = new FloodController(6841);
    sw = hosts.lab.track(
      spawn(process.execPath, [TINFLOW, 'switch', '--name', hosts.lab.name('br'), '--no-local', '--controller', 'tcp:127.0.0.1:6841', '--ctl', ctl,
        ...hosts.ports.flatMap((p, i) => ['--port', `${i + 1}=${p}`]), '--tap', `${tap}=4`], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }),
    );
    sw.stderr?.on('data', (d: Buffer) => swLog.push(...d.toString().split('\n').filter((l) => l !== '')));
    await waitFor('the switch connected to the controller', () => ctrl.ready.then(() => true), 15_000, { check: () => alive(), detail: () => swLog.slice(-5).join('\n') });
    // Ports 1..4 were added at start (ADD or not reported yet): wait for the flood flow to work instead.
    await waitFor('h1 reaches h2 and h3', async () => (await pingOnce(hosts, 0, 1, 1)) === 1 && (await pingOnce(hosts, 0, 2, 1)) === 1, 20_000);
  }, 40_000);

  afterAll(async () => {
    if (sw !== undefined) await stopProcess(sw, 3000);
    await ctrl?.close();
    hosts?.lab.cleanup();
  }, 20_000);

  const alive = (): void => {
    if (sw.exitCode !== null || sw.signalCode !== null) throw new Error(`the switch exited (${sw.exitCode ?? sw.signalCode}):\n${swLog.slice(-10).join('\n')}`);
  };

  it('a veth and the TAP deleted while h1 pings h2: the switch stays up, reports DELETE for both, keeps forwarding, and stops listing them', async () => {
    farMac = /link\/ether ([0-9a-f:]{17})/.exec(inNs(hosts.ns[2] as string, 'ip', 'link', 'show', hosts.lab.name('e3')))?.[1] ?? '';
    expect(farMac).not.toBe('');
    const during = pingProc(hosts.ns[0] as string, hosts.addr(1), 30, 0.1);
    await new Promise((r) => setTimeout(r, 800)); // the ping is under way
    ip('link', 'del', swEnd3);
    ip('link', 'del', tap);
    await waitFor('port-status DELETE for ports 3 and 4', () => ctrl.reasons(3).includes(OFPPR.DELETE) && ctrl.reasons(4).includes(OFPPR.DELETE), 10_000, { check: alive });
    const { sent, received } = await during.result;
    alive();
    // A few echoes may meet the moment of deletion; the rest are forwarded as before.
    expect(sent).toBe(30);
    expect(received).toBeGreaterThanOrEqual(sent - 3);
    expect(await pingOnce(hosts, 1, 0, 5)).toBe(5);
    const status = await switchctl(ctl, 'status');
    expect(status).toContain('ports 2');
    expect(status).toContain('controllers-connected 1');
    const ports = (await switchctl(ctl, 'dump-ports')).filter((l) => /^port \d+ /.test(l)).map((l) => Number(/^port (\d+) /.exec(l)?.[1]));
    expect(ports.sort()).toEqual([1, 2]);
    expect(swLog.some((l) => l.includes('port gone'))).toBe(true);
  }, 30_000);

  it('the same names made again and added back: port-status ADD, and h1 reaches h3 again', async () => {
    // The veth pair again: its switch end with the same name, its far end back into h3 with h3's address.
    // h3 keeps its MAC (h1's ARP entry for it stays right, as for a host whose cable was replaced).
    const far = hosts.lab.name('e3');
    hosts.lab.veth(swEnd3, far);
    ip('link', 'set', 'dev', far, 'address', farMac);
    hosts.lab.move(far, hosts.ns[2] as string, `${hosts.addr(2)}/24`);
    const addsBefore = ctrl.reasons(3).filter((r) => r === OFPPR.ADD).length;
    expect(await switchctl(ctl, 'add-port', swEnd3, '3')).toEqual([`port 3 ${swEnd3}`]);
    expect(await switchctl(ctl, 'add-tap', tap, '4')).toEqual([`port 4 ${tap}`]);
    await waitFor('port-status ADD for ports 3 and 4', () => ctrl.reasons(3).filter((r) => r === OFPPR.ADD).length > addsBefore && ctrl.reasons(4).includes(OFPPR.ADD), 10_000, { check: alive });
    expect(ip('link', 'show', tap)).toContain(tap);
    let ports: string[] = [];
    await waitFor('h1 reaches h3 again', async () => {
      ports = await switchctl(ctl, 'dump-ports');
      return (await pingOnce(hosts, 0, 2, 1)) === 1;
    }, 15_000, { check: alive, detail: () => `${ports.join('\n')}\n${swLog.slice(-6).join('\n')}\nh1 neigh: ${inNs(hosts.ns[0] as string, 'ip', 'neigh')}\nh3: ${inNs(hosts.ns[2] as string, 'ip', 'addr')}` });
    expect(await pingOnce(hosts, 2, 0, 3)).toBe(3);
    // A number in use and a device that does not exist are refused with a reason; the switch runs on.
    await expect(switchctl(ctl, 'add-port', swEnd3, '3')).rejects.toThrow(/port 3 is taken/);
    await expect(switchctl(ctl, 'add-port', hosts.lab.name('nope'))).rejects.toThrow(/add-port|nope/);
    expect(await switchctl(ctl, 'status')).toContain('ports 4');
    alive();
  }, 30_000);
});
