/**
 * One `tinflow switch` process hosting three bridges (issue 16), as Mininet's linear,3 with the shared
 * switch: hosts h1..h3 in namespaces, each behind a veth to bridge bN's port 1; b1-b2 and b2-b3 joined by
 * veths; the in-tree learning controller for all three. Bridges are added with `switchctl add-br`.
 *
 * Checked: every pair of hosts pings, b1 and b3 forwarding by their flow caches (b3's on a forwarding
 * thread); bad commands are answered with the reason and the process serves
 * on; `del-br b3` while h1 pings h2 leaves b1 and b2 forwarding (no echo lost beyond a couple at a
 * loaded moment), closes b3's ports and removes its LOCAL TAP; SIGTERM stops the rest and exits 0.
 * Needs root and a fresh dist/ (npx tsc -p tsconfig.build.json).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess } from '../../base/shutdown.js';
import { switchctlRequest } from '../../switch/ctl.js';
import { Lab, ip } from '../../scripts/netlab.js';
import { ROOT, TINFLOW, distStale } from '../../scripts/overlay-lab.js';
import { freePort } from '../helpers/free-port.js';
import { waitFor } from '../helpers/wait.js';

const ctl = switchctlRequest;

/** Echo requests sent and answered by a ping in ns (exit 1 on loss is counted, not thrown). */
function pingProc(ns: string, to: string, count: number, intervalS: number): Promise<{ sent: number; received: number }> {
  const proc = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '1', to], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return once(proc, 'close').then(() => {
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
  });
}

describe('one switch process, three bridges in a line', () => {
  const lab = new Lab('bg');
  const ns: string[] = [];
  const addr = (i: number): string => `10.56.0.${i + 1}`;
  let sock = '';
  let sw: ChildProcess;
    const swLog: string[] = [];
  // Interfaces: hN is bN's port 1; the b1-b2 veth is b1 port 2 / b2 port 2; b2-b3 is b2 port 3 / b3 port 2.
  const hostEnd = (i: number) => lab.name(`s${i}`);
  const [l12a, l12b, l23a, l23b] = ['ab', 'ba', 'bc', 'cb'].map((s) => lab.name(s)) as [string, string, string, string];
  // Bridge names carry the lab's prefix: b3's LOCAL TAP is a device named after it.
  const [B1, B2, B3] = ['b1', 'b2', 'b3'].map((b) => lab.name(b)) as [string, string, string];
  const b3Local = B3;
  const BX = lab.name('bx');
  const pingOnce = async (from: number, to: number, count = 3) => (await pingProc(ns[from] as string, addr(to), count, 0.2)).received;

  const alive = (): void => {
    if (sw.exitCode !== null || sw.signalCode !== null) throw new Error(`the switch exited (${sw.exitCode ?? sw.signalCode}):\n${swLog.slice(-10).join('\n')}`);
  };

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (namespaces, veths, TAP)');
    const stale = distStale(['base', 'openflow', 'switch', 'switch/portio', 'controller', 'controller/apps']);
    if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
    for (let i = 1; i <= 3; i++) {
      const h = lab.ns(`h${i}`);
      lab.veth(hostEnd(i), lab.name(`e${i}`));
      lab.move(lab.name(`e${i}`), h, `${addr(i - 1)}/24`);
      ns.push(h);
    }
    lab.veth(l12a, l12b);
    lab.veth(l23a, l23b);
    const port = await freePort();
    lab.track(spawn(process.execPath, [TINFLOW, 'controller', '--listen', `tcp:127.0.0.1:${port}`, '--app', 'learning', '--idle-timeout', '0', '--log-level', 'warn'], { cwd: ROOT, stdio: 'ignore' }));
    sock = join(lab.tempDir('sw'), 'sw.ctl');
    sw = lab.track(spawn(process.execPath, [TINFLOW, 'switch', '--ctl', sock, '--log-level', 'warn'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }));
    sw.stderr?.on('data', (d: Buffer) => swLog.push(...d.toString().split('\n').filter((l) => l !== '')));
    await waitFor('the empty switch process serves its control socket', () => ctl(sock, 'list-br').then((l) => l.length === 0, () => false), 15_000, { check: alive });
    expect(statSync(sock).mode & 0o777, "the control socket is the owner's only").toBe(0o600);
    const c = ['--controller', `tcp:127.0.0.1:${port}`];
    expect(await ctl(sock, 'add-br', [B1, '--dpid', '1', ...c, '--no-local', '--offload', '--port', `1=${hostEnd(1)}`, '--port', `2=${l12a}`])).toEqual([`bridge ${B1} dpid 0x1 ports 2`]);
    expect(await ctl(sock, 'add-br', [B2, '--dpid', '2', ...c, '--no-local', '--offload', '--port', `1=${hostEnd(2)}`, '--port', `2=${l12b}`, '--port', `3=${l23a}`])).toEqual([`bridge ${B2} dpid 0x2 ports 3`]);
    // b3 has a LOCAL TAP, which the switch makes, so del-br has one to remove, and a forwarding thread,
    // which del-br stops.
    expect(await ctl(sock, 'add-br', [B3, '--dpid', '3', ...c, '--offload', '--forwarding-thread', '--port', `1=${hostEnd(3)}`, '--port', `2=${l23b}`])).toEqual([`bridge ${B3} dpid 0x3 ports 3`]);
    expect(await ctl(sock, 'list-br')).toEqual([B1, B2, B3]);
    for (const b of [B1, B2, B3]) {
      await waitFor(`${b} connected to the controller`, async () => (await ctl(sock, 'status', [], b)).includes('controllers-connected 1'), 15_000, { check: alive });
    }
  }, 40_000);

  afterAll(async () => {
    if (sw !== undefined) await stopProcess(sw, 3000);
    await lab.close();
    if (existsSync(`/sys/class/net/${b3Local}`)) ip('link', 'del', b3Local);
  }, 20_000);

  it('every pair of hosts pings across the bridges', async () => {
    await waitFor('h1 reaches h3 across three bridges', async () => (await pingOnce(0, 2, 1)) === 1, 20_000, { check: alive, detail: () => swLog.slice(-5).join('\n') });
    for (const [a, b] of [[0, 1], [0, 2], [1, 2], [2, 0]] as const) expect(await pingOnce(a, b), `h${a + 1} -> h${b + 1}`).toBe(3);
    // Each bridge is its own datapath: b2 has three ports and its own flows.
    expect(await ctl(sock, 'status', [], B2)).toContain('dpid 0x2');
    expect((await ctl(sock, 'dump-ports', [], B2)).filter((l) => /^port \d+ /.test(l))).toHaveLength(3);
    expect((await ctl(sock, 'dump-flows', [], B1)).length).toBeGreaterThan(1);
    expect(existsSync(`/sys/class/net/${b3Local}`), "b3's LOCAL TAP").toBe(true);
    // the pings after the first crossed b1 and b3 by their flow caches, b3's on its own thread
    for (const [b, thread] of [[B1, 'no'], [B3, 'yes']] as const) {
      const st = await ctl(sock, 'status', [], b);
      expect(st).toContain(`flow-cache-thread ${thread}`);
      expect(Number(st.find((l) => l.startsWith('flow-cache-hits '))?.split(' ')[1]), `${b}'s flow-cache hits`).toBeGreaterThan(0);
    }
  }, 30_000);

  it.each([
    ['add-br', [B1, '--dpid', '9'], undefined, new RegExp(`bridge ${B1} exists already`)],
    ['add-br', [BX, '--dpid', '0x2'], undefined, new RegExp(`dpid 0x2 is bridge ${B2}'s already`)],
    ['add-br', [BX, '--no-local', '--port', `5=${l12a}`], undefined, new RegExp(`${l12a} is already a port of bridge ${B1}`)],
    ['add-br', [BX, '--fail-mode', 'open'], undefined, /--fail-mode: expected secure or standalone, got "open"/],
    ['add-br', [BX, '--ctl', '/tmp/x'], undefined, /--ctl: is the process's/],
    ['add-br', [BX, '--bogus'], undefined, /Unknown option '--bogus'/],
    ['add-br', [], undefined, /add-br: the bridge name comes first/],
    ['add-br', [BX, '--no-local', '--port', '1=tfnosuchif9'], undefined, /cannot open interface tfnosuchif9/],
    ['del-br', ['nosuch'], undefined, new RegExp(`no bridge "nosuch" \\(bridges: ${B1}, ${B2}, ${B3}\\)`)],
    ['status', [], undefined, new RegExp(`this process hosts bridges ${B1}, ${B2}, ${B3}: name one`)],
    ['status', [], 'nosuch', /no bridge "nosuch"/],
    ['add-port', [hostEnd(1)], B2, new RegExp(`${hostEnd(1)} is already a port of bridge ${B1}`)],
    ['add-port', [l23b, '7'], B3, new RegExp(`${l23b} is already a port of bridge ${B3}`)],
    ['add-tap', [b3Local], B1, new RegExp(`${b3Local} is already a port of bridge ${B3}`)],
    ['frobnicate', [], B1, /unknown command "frobnicate"/],
  ] as const)('%s %j (bridge %s) is refused: %s', async (cmd, args, bridge, why) => {
    await expect(ctl(sock, cmd, [...args], bridge)).rejects.toThrow(why);
    alive();
    expect(await ctl(sock, 'list-br')).toEqual([B1, B2, B3]);
  });

  it('switchctl --bridge NAME addresses one bridge; errors exit 2 with the reason', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [TINFLOW, 'switchctl', '--ctl', sock, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    const st = run('--bridge', B3, 'status');
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/^dpid 0x3\nfail-mode secure\nports 3\ncontrollers-connected 1\n/);
    const bad = run('status');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(new RegExp(`tinflow switchctl: this process hosts bridges ${B1}, ${B2}, ${B3}: name one`));
    expect(run('list-br').stdout).toBe(`${B1}\n${B2}\n${B3}\n`);
    expect(run('process').stdout).toMatch(/^rss-bytes \d+/);
  }, 30_000);

  it('del-br b3 while h1 pings h2: b1 and b2 keep forwarding, b3 and its LOCAL TAP are gone', async () => {
    const during = pingProc(ns[0] as string, addr(1), 30, 0.1);
    await new Promise((r) => setTimeout(r, 800)); // the ping is under way
    expect(await ctl(sock, 'del-br', [B3])).toEqual([`bridge ${B3} removed`]);
    const { sent, received } = await during;
    alive();
    expect(sent).toBe(30);
    // Nothing on the h1-h2 path changed; a couple of echoes may still meet a moment of a loaded machine.
    expect(received).toBeGreaterThanOrEqual(sent - 2);
    expect(await ctl(sock, 'list-br')).toEqual([B1, B2]);
    expect(existsSync(`/sys/class/net/${b3Local}`), "b3's LOCAL TAP removed").toBe(false);
    await expect(ctl(sock, 'status', [], B3)).rejects.toThrow(new RegExp(`no bridge "${B3}" \\(bridges: ${B1}, ${B2}\\)`));
    expect(await pingOnce(1, 0, 5)).toBe(5);
    expect(await pingOnce(0, 2, 2)).toBe(0); // h3 is behind the removed bridge
    for (const b of [B1, B2]) expect(await ctl(sock, 'status', [], b)).toContain('controllers-connected 1');
    // b3's interfaces are free again: another bridge may take one.
    expect(await ctl(sock, 'add-port', [l23b, '9'], B1)).toEqual([`port 9 ${l23b}`]);
    expect(await ctl(sock, 'del-port', ['9'], B1)).toEqual(['port 9 removed']);
  }, 30_000);

  it('SIGTERM stops every bridge and exits 0', async () => {
    sw.kill('SIGTERM');
    const [code] = (await once(sw, 'exit')) as [number | null];
    expect(code, swLog.slice(-5).join('\n')).toBe(0);
    expect(swLog.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  }, 20_000);
});
