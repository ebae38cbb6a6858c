/**
 * scripts/netlab.ts makes quiet interfaces: IPv6 off on both veth ends before they come up, in every
 * namespace (also for links moved in later), on the TAPs it makes, and on a link moved into a namespace
 * it did not make. Otherwise the kernel sends MLD reports, duplicate address detection and router
 * solicitations on its own for seconds after an interface comes up, and every packet counter a test
 * reads through a switch port can be off by a few frames (issue 10: a group's packet_count was 1).
 * Checked twice: the sysctl flags, and a port that reads the far end of each link hears nothing.
 * Needs root (CI runs as root).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Lab, inNs, ip, ipv6Disabled } from '../scripts/netlab.js';
import { type NativeFramePort, openInterface, openTap } from '../switch/portio/index.js';

/** IPv6 addresses on an interface (`ip -6 addr`), in namespace ns or the root one. */
function ipv6Addrs(ifname: string, ns?: string): string {
  const args = ['-6', '-o', 'addr', 'show', 'dev', ifname];
  return (ns === undefined ? ip(...args) : inNs(ns, 'ip', ...args)).trim();
}

/** Frames a port receives during ms (its own sends are not read back: PACKET_IGNORE_OUTGOING). */
async function framesHeard(port: NativeFramePort, ms: number): Promise<string[]> {
  const heard: string[] = [];
  port.start((batch) => {
    for (let i = 0; i < batch.count; i++) heard.push(batch.frame(i).subarray(0, 34).toString('hex'));
  });
  await new Promise((r) => setTimeout(r, ms));
  return heard;
}

describe('netlab: every interface it makes is quiet', () => {
  const lab = new Lab('nl');
  /** A namespace made without the lab (as a test or tool might): its defaults keep IPv6 on. */
  const foreign = lab.name('fo');
  const ports: NativeFramePort[] = [];
  afterAll(() => {
    for (const p of ports) p.close();
    lab.cleanup();
    try {
      ip('netns', 'del', foreign);
    } catch {
      /* not made */
    }
  });

  it('veth: IPv6 off on both ends, no address; the far end of each hears nothing', async () => {
    const [a, b] = [lab.name('a'), lab.name('b')];
    lab.veth(a, b);
    expect([ipv6Disabled(a), ipv6Disabled(b)]).toEqual([true, true]);
    expect([ipv6Addrs(a), ipv6Addrs(b)]).toEqual(['', '']);
    const pa = openInterface(a);
    const pb = openInterface(b);
    ports.push(pa, pb);
    // With IPv6 on, each end sends an MLD report at once and DAD, more MLD and a router solicitation
    // within the next 1.5 s (measured here with tcpdump): a quiet pair stays silent both ways.
    // Restart both links first: what a link sends when it comes up again is heard by the ports.
    for (const l of [a, b]) ip('link', 'set', l, 'down');
    for (const l of [a, b]) ip('link', 'set', l, 'up');
    const [heardA, heardB] = await Promise.all([framesHeard(pa, 2500), framesHeard(pb, 2500)]);
    expect({ heardA, heardB }).toEqual({ heardA: [], heardB: [] });
  });

  it('ns + move: IPv6 off in the namespace (all, default, lo) and on the moved link', () => {
    const n = lab.ns('n');
    for (const key of ['all', 'default', 'lo']) expect(ipv6Disabled(key, n), key).toBe(true);
    const [a, b] = [lab.name('c'), lab.name('d')];
    lab.veth(a, b);
    lab.move(b, n, '10.59.0.2/24');
    expect(ipv6Disabled(b, n)).toBe(true);
    expect(ipv6Addrs(b, n)).toBe('');
    expect(inNs(n, 'ip', '-o', '-4', 'addr', 'show', 'dev', b)).toMatch(/10\.59\.0\.2\/24/);
  });

  it('move into a namespace the lab did not make: the link is still quiet', () => {
    ip('netns', 'add', foreign);
    expect(ipv6Disabled('default', foreign)).toBe(false); // the kernel's default, which move() must override
    const [a, b] = [lab.name('e'), lab.name('f')];
    lab.veth(a, b);
    lab.move(b, foreign);
    expect(ipv6Disabled(b, foreign)).toBe(true);
    expect(ipv6Addrs(b, foreign)).toBe('');
  });

  it('tap: IPv6 off; a port that attaches to it and brings it up hears nothing from the kernel', async () => {
    const t = lab.tap(lab.name('t'));
    expect(ipv6Disabled(t)).toBe(true);
    const port = openTap(t); // attaches to the existing TAP and brings it up, as a switch's LOCAL port does
    ports.push(port);
    expect(port.created).toBe(false);
    expect(ip('-o', 'link', 'show', 'dev', t)).toMatch(/[<,]UP[,>]/);
    expect(ipv6Addrs(t)).toBe('');
    expect(await framesHeard(port, 2500)).toEqual([]);
  });
});
