/**
 * Port I/O against the real kernel: TAP devices and veths (AF_PACKET) with their far ends in network
 * namespaces of their own. A forwarder joins a veth and a TAP; peers inside the namespaces send and
 * receive raw frames, and real TCP stacks move data through it, with and without offloads.
 * Needs root (CI runs as root).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { PortNameError } from '../../switch/port.js';
import { type NativeFramePort, PortIoError, openInterface, openTap } from '../../switch/portio/index.js';
import { Lab, Peer, inNs, ip, tcpTransfer } from './netns.js';
import { waitFor } from '../helpers/wait.js';

const ETHERTYPE = 0x88b5; // IEEE local experimental

function testFrame(size: number, seq: number, dir: number): Buffer {
  const f = Buffer.alloc(size);
  Buffer.from('02000000aa01', 'hex').copy(f, 0);
  Buffer.from('02000000bb02', 'hex').copy(f, 6);
  f.writeUInt16BE(ETHERTYPE, 12);
  f.writeUInt16BE(size, 14);
  f.writeUInt32BE(seq, 16);
  f[20] = dir;
  for (let i = 21; i < size; i++) f[i] = (i * 7 + seq + dir) & 0xff;
  return f;
}

const ours = (f: Buffer): boolean => f.length >= 14 && f.readUInt16BE(12) === ETHERTYPE;

function forward(a: NativeFramePort, b: NativeFramePort): void {
  a.start((batch) => b.sendFrom(a, batch.count));
  b.start((batch) => a.sendFrom(b, batch.count));
}

/**
 * Lab: n1 holds the veth end p1 (its twin h1 stays in the root namespace for the switch side);
 * n2 holds the TAP t that the switch side created. The forwarder joins h1 and t. The namespaces and
 * both veth ends have IPv6 off (netlab.ts), so what h1 receives is the test's own. The TAP comes up in
 * the root namespace with IPv6 on until it moves into n2: a frame or two it sends may go t → h1, a
 * direction whose counters no test compares.
 */
async function setup(tag: string, offloadVeth: boolean, offloadTap: boolean, mtu = 1500, gro = false) {
  const lab = new Lab(tag);
  const n1 = lab.ns('n1');
  const n2 = lab.ns('n2');
  const h1 = lab.name('h1');
  const p1 = lab.name('p1');
  const t = lab.name('t');
  lab.veth(h1, p1);
  if (mtu !== 1500) for (const l of [h1, p1]) ip('link', 'set', l, 'mtu', String(mtu));
  lab.move(p1, n1, '10.77.0.1/24');
  const a = openInterface(h1, { offload: offloadVeth, gro });
  const b = openTap(t, { offload: offloadTap });
  if (mtu !== 1500) ip('link', 'set', t, 'mtu', String(mtu));
  lab.move(t, n2, '10.77.0.2/24');
  forward(a, b);
  const cleanup = () => {
    a.close();
    b.close();
    try {
      ip('link', 'del', h1);
    } catch {
      /* deleted with n1 */
    }
    lab.cleanup();
  };
  return { lab, n1, n2, p1, t, a, b, cleanup };
}

describe('frames of every size cross a veth ↔ TAP forwarder intact, both ways', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup('fs', false, false);
  });
  afterAll(() => env?.cleanup());

  it('60..1514 bytes, veth side → TAP side and back, in order', async () => {
    const peer1 = new Peer(env.lab, env.n1, env.p1);
    const peer2 = new Peer(env.lab, env.n2, env.t);
    await Promise.all([peer1.ready(), peer2.ready()]);
    const sizes = Array.from({ length: 1514 - 60 + 1 }, (_, i) => 60 + i);
    const got2 = () => peer2.received.filter((r) => ours(r.frame));
    const got1 = () => peer1.received.filter((r) => ours(r.frame));
    // in rounds of 100 frames each way, so that a busy machine's backlog queues do not overflow
    for (let i = 0; i < sizes.length; i += 100) {
      const round = sizes.slice(i, i + 100);
      for (const s of round) peer1.send(testFrame(s, s, 1));
      for (const s of round) peer2.send(testFrame(s, s, 2));
      const want = i + round.length;
      expect(await peer2.until(() => got2().length >= want, 10_000), `TAP side got ${got2().length} of ${want}`).toBe(true);
      expect(await peer1.until(() => got1().length >= want, 10_000), `veth side got ${got1().length} of ${want}`).toBe(true);
    }
    expect(got2().map((r) => r.frame)).toEqual(sizes.map((s) => testFrame(s, s, 1)));
    expect(got1().map((r) => r.frame)).toEqual(sizes.map((s) => testFrame(s, s, 2)));
    expect(env.a.counters().rxPackets).toBeGreaterThanOrEqual(sizes.length);
    expect(env.b.counters().txPackets).toBeGreaterThanOrEqual(sizes.length);
    peer1.quit();
    peer2.quit();
  });

  it('a VLAN tag the kernel accelerated is put back', async () => {
    const peer1 = new Peer(env.lab, env.n1, env.p1);
    const peer2 = new Peer(env.lab, env.n2, env.t);
    await Promise.all([peer1.ready(), peer2.ready()]);
    const f = Buffer.alloc(100, 0x5a);
    Buffer.from('02000000aa0102000000bb02810000650800', 'hex').copy(f, 0); // VLAN 101, then IPv4 type
    peer1.send(f);
    expect(await peer2.until(() => peer2.received.some((r) => r.frame.readUInt16BE(12) === 0x8100))).toBe(true);
    const got = peer2.received.find((r) => r.frame.readUInt16BE(12) === 0x8100);
    expect(got?.frame.subarray(0, f.length)).toEqual(f);
    peer1.quit();
    peer2.quit();
  });
});

describe('jumbo frames (MTU 9000) cross intact', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup('jb', false, false, 9000);
  });
  afterAll(() => env?.cleanup());

  it('1515..9014 bytes both ways', async () => {
    const peer1 = new Peer(env.lab, env.n1, env.p1);
    const peer2 = new Peer(env.lab, env.n2, env.t);
    await Promise.all([peer1.ready(), peer2.ready()]);
    const sizes = [1515, 2048, 4000, 8192, 9000, 9014];
    for (const s of sizes) peer1.send(testFrame(s, s, 1));
    for (const s of sizes) peer2.send(testFrame(s, s, 2));
    const got2 = () => peer2.received.filter((r) => ours(r.frame)).map((r) => r.frame);
    const got1 = () => peer1.received.filter((r) => ours(r.frame)).map((r) => r.frame);
    expect(await peer2.until(() => got2().length >= sizes.length)).toBe(true);
    expect(await peer1.until(() => got1().length >= sizes.length)).toBe(true);
    expect(got2()).toEqual(sizes.map((s) => testFrame(s, s, 1)));
    expect(got1()).toEqual(sizes.map((s) => testFrame(s, s, 2)));
    peer1.quit();
    peer2.quit();
  });
});

describe.each([
  ['offload on both ports (GSO passes through)', true, true, false, false],
  ['offload veth → plain TAP (software segmentation and checksums)', true, false, false, false],
  ['no offload, hosts with tx checksum offload off', false, false, true, false],
  ['offload on both ports, hosts with tx checksum offload off', true, true, true, false],
  ['offload and receive coalescing (gro.c), hosts with tx checksum offload off', true, true, true, true],
])('real TCP through the forwarder: %s', (_name, offVeth, offTap, txOff, gro) => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup('tc', offVeth, offTap, 1500, gro);
    if (txOff) inNs(env.n1, 'ethtool', '-K', env.p1, 'tx', 'off');
  });
  afterAll(() => env?.cleanup());

  it('16 MiB arrive intact', async () => {
    const r = await tcpTransfer(env.n1, env.n2, 16 << 20);
    expect(r.n).toBe(16 << 20);
    expect(r.received).toBe(r.sent);
    if (offVeth && !offTap) expect(env.b.counters().txPackets).toBeGreaterThan(env.a.counters().rxPackets);
    // MTU-sized segments in, fewer and larger frames out: the veth's frames were merged.
    if (gro) expect(env.b.counters().txPackets * 2).toBeLessThan(env.a.counters().rxPackets);
    else if (txOff) expect(env.b.counters().txPackets).toBe(env.a.counters().rxPackets);
  });
});

describe('an interface that vanishes, link state, idle CPU', () => {
  it('reports link down/up, then "gone" when deleted, without an exception or spinning', async () => {
    const lab = new Lab('vn');
    const a = lab.name('a');
    const b = lab.name('b');
    try {
      lab.veth(a, b);
      const port = openInterface(a);
      const states: boolean[] = [];
      port.on('link', (s: { up: boolean }) => states.push(s.up));
      port.start(() => {});
      // A veth just made is up a moment before its carrier is (the kernel's link watch), and the port may
      // report that settling: look only at what follows the "down" (on a loaded machine the settling
      // event came first, then the down).
      ip('link', 'set', a, 'down');
      await waitFor('a link-down event', () => states.includes(false), 5000);
      ip('link', 'set', a, 'up');
      await waitFor('a link-up event after the down', () => states.lastIndexOf(true) > states.indexOf(false), 5000);
      const fromDown = states.slice(states.indexOf(false));
      expect(fromDown).toEqual([false, true]);
      const gone = once(port, 'gone');
      ip('link', 'del', a);
      const [reason] = (await Promise.race([gone, new Promise((_, rej) => setTimeout(() => rej(new Error('no gone event')), 3000))])) as [string];
      expect(reason).toMatch(/deleted|disappeared/);
      expect(port.closed).toBe(true);
      const before = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 1000));
      const used = process.cpuUsage(before);
      expect((used.user + used.system) / 1000).toBeLessThan(100);
      expect(port.counters().rxErrors).toBeGreaterThanOrEqual(0);
    } finally {
      lab.cleanup();
    }
  });

  it('a TAP deleted from outside reports "gone" and stops', async () => {
    const lab = new Lab('tg');
    const t = openTap(lab.name('t'));
    const gone = once(t, 'gone');
    t.start(() => {});
    ip('link', 'del', lab.name('t'));
    const [reason] = (await Promise.race([gone, new Promise((_, rej) => setTimeout(() => rej(new Error('no gone event')), 3000))])) as [string];
    expect(reason).toMatch(/disappeared/);
    expect(t.closed).toBe(true);
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeLessThan(100);
  });

  it('two started ports with no traffic use next to no CPU', async () => {
    const lab = new Lab('id');
    try {
      lab.veth(lab.name('a'), lab.name('b'));
      const p = openInterface(lab.name('a'));
      const t = openTap(lab.name('t'));
      p.start(() => {});
      t.start(() => {});
      const before = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 2000));
      const used = process.cpuUsage(before);
      expect((used.user + used.system) / 1000).toBeLessThan(100); // ms in 2 s
      p.close();
      t.close();
      await new Promise((r) => setTimeout(r, 50)); // the fd is closed once libuv has let go of it
      expect(ip('link', 'show').includes(lab.name('t'))).toBe(false); // the TAP it created is gone
    } finally {
      lab.cleanup();
    }
  });
});

describe('the rules of sending (switch/port.ts): drops are counted, frames are never cut', () => {
  /** A veth a ↔ b, both ends open; `got` has the lengths of our frames (tagged or not) that b received. */
  function lab(tag: string) {
    const l = new Lab(tag);
    const a = l.name('a');
    const b = l.name('b');
    l.veth(a, b);
    const tx = openInterface(a);
    const rx = openInterface(b);
    const got: number[] = [];
    rx.start((batch) => {
      for (let i = 0; i < batch.count; i++) {
        const f = batch.frame(i);
        if (ours(f) || (f.readUInt16BE(12) === 0x8100 && f.readUInt16BE(16) === ETHERTYPE)) got.push(f.length);
      }
    });
    return { l, a, b, tx, rx, got, done: () => (tx.close(), rx.close(), l.cleanup()) };
  }

  it('a frame over the MTU is dropped and counted in txDropped, not cut; a VLAN tag may add 4 bytes', async () => {
    const t = lab('mt');
    try {
      const tagged = (n: number) => {
        const f = testFrame(n, n, 1);
        Buffer.from('81000064', 'hex').copy(f, 12); // 802.1Q, VLAN 100 ...
        f.writeUInt16BE(ETHERTYPE, 16); // ... then our type
        return f;
      };
      t.tx.send([testFrame(1514, 1, 1), testFrame(1515, 2, 1), tagged(1518), tagged(1519), testFrame(9000, 3, 1)]);
      const c = t.tx.counters();
      expect([c.txPackets, c.txDropped, c.txErrors]).toEqual([2, 3, 0]);
      await new Promise((r) => setTimeout(r, 300));
      expect(t.got.sort((x, y) => x - y)).toEqual([1514, 1518]);
    } finally {
      t.done();
    }
  });

  it('frames sent while the link is down are dropped and counted in txDropped (veth and TAP)', async () => {
    const t = lab('ld');
    const tap = openTap(t.l.name('t'));
    try {
      ip('link', 'set', t.b, 'down'); // a's carrier goes
      await new Promise((r) => setTimeout(r, 200));
      t.tx.send([testFrame(100, 1, 1)]);
      ip('link', 'set', t.a, 'down'); // a itself: ENETDOWN
      t.tx.send([testFrame(100, 2, 1)]);
      expect([t.tx.counters().txDropped, t.tx.counters().txErrors]).toEqual([2, 0]);
      ip('link', 'set', t.l.name('t'), 'down'); // a TAP's write says EIO
      tap.send([testFrame(100, 3, 1)]);
      expect([tap.counters().txDropped, tap.counters().txErrors]).toEqual([1, 0]);
    } finally {
      tap.close();
      t.done();
    }
  });
});

describe('clear errors', () => {
  it('no such interface', () => {
    const e = catchErr(() => openInterface('nosuchif0'));
    expect(e.message).toMatch(/cannot open interface nosuchif0: No such device \(no such interface\)/);
    expect((e as Error & { code?: string }).code).toBe('ENODEV');
  });
  it('no permission: an unprivileged user cannot create a TAP or open an interface', () => {
    const script = `
      const addon = require('${process.cwd()}/switch/portio/build/Release/portio.node');
      for (const [kind, name] of [['tap', 'tfnoperm0'], ['interface', 'lo']]) {
        try { new addon.NativePort(kind, name, { vnetHdr: false, up: true }); console.log('opened'); }
        catch (e) { console.log(e.code + ' ' + e.message); }
      }`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script], {
      encoding: 'utf8',
    });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^E(PERM|ACCES) .*needs root or CAP_NET_ADMIN\/CAP_NET_RAW/);
  });

  it('a name longer than 15 bytes is refused, naming it and the limit, never cut', () => {
    for (const open of [openTap, openInterface]) {
      const e = catchErr(() => open('a-very-long-tap-name'));
      expect(e).toBeInstanceOf(PortNameError);
      expect(e.message).toMatch(/port name "a-very-long-tap-name" is 20 bytes, longer than 15 .*1 to 15 bytes/);
    }
    expect(ip('link', 'show').includes('a-very-long-tap')).toBe(false);
  });
  it('device busy: a TAP already attached', () => {
    const lab = new Lab('bz');
    const t = openTap(lab.name('t'));
    try {
      const e = catchErr(() => openTap(lab.name('t')));
      expect(e.message).toMatch(/busy/);
      expect((e as Error & { code?: string }).code).toBe('EBUSY');
    } finally {
      t.close();
    }
  });
  it('PortIoError names what is missing', () => {
    const e = new PortIoError('ENOADDON', 'x');
    expect(e.code).toBe('ENOADDON');
  });
});

function catchErr(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
