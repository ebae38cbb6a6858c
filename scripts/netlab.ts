/**
 * Network namespaces and veths for tests and benchmarks (root only, like CI). Every name starts with a
 * per-run prefix, and cleanup() removes exactly what was made, by name, also after failures.
 *
 * Everything made here is quiet: IPv6 is off on every interface before it comes up and in every
 * namespace. A freshly up interface with IPv6 sends, on its own and for seconds, MLD reports, duplicate
 * address detection and router solicitations; a switch port receives them and every packet or byte
 * counter a test reads (flows, groups, meters, ports, packet-ins) is off by a few frames. IPv4 sends
 * nothing by itself (no DHCP; Linux sends no gratuitous ARP unless arp_notify is set).
 */
import { type ChildProcess, type SpawnOptions, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess } from '../base/shutdown.js';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export function inNs(ns: string, ...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/**
 * Turns IPv6 off on an interface (in namespace ns, or the root one), so that it stays silent when it comes
 * up. The slash form of the sysctl key keeps a dot in an interface name (eth0.5) from splitting the path.
 */
export function quietIpv6(ifname: string, ns?: string): void {
  const cmd = ['sysctl', '-qw', `net/ipv6/conf/${ifname}/disable_ipv6=1`];
  if (ns === undefined) execFileSync(cmd[0] as string, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  else inNs(ns, ...cmd);
}

/** Whether IPv6 is off on an interface (in namespace ns, or the root one). */
export function ipv6Disabled(ifname: string, ns?: string): boolean {
  const cmd = ['sysctl', '-n', `net/ipv6/conf/${ifname}/disable_ipv6`];
  const out = ns === undefined ? execFileSync(cmd[0] as string, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString() : inNs(ns, ...cmd);
  return out.trim() === '1';
}

let labSerial = 0;

export class Lab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly links: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly dirs: string[] = [];

  constructor(tag: string) {
    // Interface names are at most 15 bytes: prefix (6) + suffix. The prefix is the tag, this process's
    // pid and a per-process serial, so two labs never share one (36 labs per process before it wraps;
    // a random character instead clashed 1 time in 36 for two labs with the same tag).
    this.prefix = `${tag.slice(0, 2)}${process.pid.toString(36).slice(-3)}${(labSerial++ % 36).toString(36)}`;
  }

  name(suffix: string): string {
    const n = `${this.prefix}${suffix}`;
    if (n.length > 15) throw new Error(`interface name ${n} is longer than 15 bytes`);
    return n;
  }

  /**
   * A network namespace with lo up and IPv6 off: `all` for what is in it now, `default` for every
   * interface that is created in it or moved into it later (a moved interface takes the new namespace's
   * defaults).
   */
  ns(suffix: string): string {
    const n = this.name(suffix);
    ip('netns', 'add', n);
    this.namespaces.push(n);
    inNs(n, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    inNs(n, 'ip', 'link', 'set', 'lo', 'up');
    return n;
  }

  /** A veth pair a <-> b in the root namespace, both up, IPv6 off on both before either is up. */
  veth(a: string, b: string): void {
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    this.links.push(a);
    quietIpv6(a);
    quietIpv6(b);
    ip('link', 'set', a, 'up');
    ip('link', 'set', b, 'up');
  }

  /**
   * A TAP device in the root namespace, IPv6 off, down, removed by cleanup(). For a switch's LOCAL port
   * (`--name` = this name) in a test that counts packets: the switch attaches to an existing TAP and
   * brings it up, so it comes up quiet; a TAP the switch creates itself comes up with IPv6 on.
   */
  tap(name: string): string {
    ip('tuntap', 'add', 'dev', name, 'mode', 'tap');
    this.links.push(name);
    quietIpv6(name);
    return name;
  }

  /**
   * Moves a link into ns and brings it up there, with an address if given. IPv6 is turned off again in
   * ns first: the link takes ns's defaults, which are on in a namespace that this lab did not make.
   */
  move(link: string, ns: string, addr?: string): void {
    ip('link', 'set', link, 'netns', ns);
    quietIpv6(link, ns);
    inNs(ns, 'ip', 'link', 'set', link, 'up');
    if (addr) inNs(ns, 'ip', 'addr', 'add', addr, 'dev', link);
  }

  track(p: ChildProcess): ChildProcess {
    this.procs.push(p);
    return p;
  }

  /**
   * Starts cmd inside namespace ns and tracks it. `ip netns exec` execs the command without forking,
   * so the returned process's pid is the command's own (and stays so through setpriv or env, which exec
   * too): stopping it by pid stops the command, not a wrapper.
   */
  spawnIn(ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    return this.track(spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts));
  }

  /**
   * A new empty directory (mode 0700) named `<tmpdir>/tinflow-<prefix>-<label>-XXXXXX`, removed by
   * cleanup(). The prefix in the name lets a check find anything a run left behind.
   */
  tempDir(label: string): string {
    const d = mkdtempSync(join(tmpdir(), `tinflow-${this.prefix}-${label}-`));
    this.dirs.push(d);
    return d;
  }

  /**
   * cleanup() that first waits for every tracked process to end (SIGTERM, SIGKILL after graceMs) and
   * kills whatever else still runs inside a namespace this lab made: a namespace is only really gone
   * once no process is left in it, and a daemon left running in a deleted namespace is invisible to
   * `ip netns`.
   */
  async close(graceMs = 3000): Promise<void> {
    await Promise.all(this.procs.map((p) => stopProcess(p, graceMs)));
    const strays: number[] = [];
    for (const n of this.namespaces) {
      let pids = '';
      try {
        pids = ip('netns', 'pids', n);
      } catch {
        continue; /* already gone */
      }
      for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
          strays.push(pid);
        } catch {
          /* exited meanwhile */
        }
      }
    }
    const deadline = Date.now() + graceMs;
    while (strays.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.cleanup();
  }

  cleanup(): void {
    for (const p of this.procs) if (p.exitCode === null && p.pid) p.kill('SIGTERM');
    for (const l of this.links) {
      try {
        ip('link', 'del', l);
      } catch {
        /* already gone with its namespace */
      }
    }
    for (const n of this.namespaces) {
      try {
        ip('netns', 'del', n);
      } catch {
        /* already gone */
      }
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

/** Whether a process with this pid exists (a zombie counts: it is not reaped yet). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

