/**
 * Network namespaces and veths for tests and benchmarks (root only, like CI). Every name starts with a
 * per-run prefix, and cleanup() removes exactly what was made, by name, also after failures.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export function inNs(ns: string, ...cmd: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export class Lab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly links: string[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(tag: string) {
    // interface names are at most 15 bytes: prefix (6) + suffix
    this.prefix = `${tag.slice(0, 2)}${process.pid.toString(36).slice(-3)}${Math.floor(Math.random() * 36).toString(36)}`;
  }

  name(suffix: string): string {
    const n = `${this.prefix}${suffix}`;
    if (n.length > 15) throw new Error(`interface name ${n} is longer than 15 bytes`);
    return n;
  }

  ns(suffix: string): string {
    const n = this.name(suffix);
    ip('netns', 'add', n);
    this.namespaces.push(n);
    inNs(n, 'ip', 'link', 'set', 'lo', 'up');
    return n;
  }

  /** A veth pair a <-> b in the root namespace, both up. */
  veth(a: string, b: string): void {
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    this.links.push(a);
    ip('link', 'set', a, 'up');
    ip('link', 'set', b, 'up');
  }

  /** Moves a link into ns and brings it up there, with an address if given. */
  move(link: string, ns: string, addr?: string): void {
    ip('link', 'set', link, 'netns', ns);
    inNs(ns, 'ip', 'link', 'set', link, 'up');
    if (addr) inNs(ns, 'ip', 'addr', 'add', addr, 'dev', link);
  }

  track(p: ChildProcess): ChildProcess {
    this.procs.push(p);
    return p;
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
  }
}

