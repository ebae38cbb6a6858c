/**
 * `tinflow demo` (scripts/demo.ts) run as a user runs it, as a child process (`scripts/tinflow demo`):
 *
 * - three nodes, no web view, 20 s: it exits 0, prints the all-pairs ping matrix with 0 % loss in every
 *   cell and a final all-pairs check with 0 % loss;
 * - SIGTERM or SIGINT (Ctrl-C) once the first node is up (while the overlay is still forming): it exits
 *   143 or 130;
 * - both times nothing of the run is left: no namespace or link named with the run's prefix (the demo
 *   prints it), no temp folder tinflow-<prefix>-*, no process that ran in the lab's namespaces (their
 *   pids, taken while the demo ran, are gone or belong to a process started later), and no process whose
 *   command line names the prefix (the nodes, prosody and coturn run from config files in its folders).
 *   The nodes' TAPs live in their namespaces, so they go with them and their processes.
 *
 * Needs root, the apt packages the demo uses (prosody coturn iproute2 iputils-ping iperf3 nftables:
 * scripts/test.sh installs them) and a fresh dist/ (the demo and its nodes run the compiled code).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ip } from '../scripts/netlab.js';
import { type Demo, demoCanRun, startDemo as start, stopDemo, waitOutput } from './helpers/demo-run.js';

let current: Demo | undefined;

function startDemo(args: readonly string[]): Demo {
  current = start(args);
  return current;
}

/** A process's start time (clock ticks since boot), so that a pid used again later is not taken for it. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Every process in the namespaces named with prefix now, with its start time. */
function processesInLab(prefix: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const ns of ip('netns', 'list').split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix))) {
    let pids = '';
    try {
      pids = ip('netns', 'pids', ns);
    } catch {
      continue; /* deleted meanwhile */
    }
    for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
      const t = startTime(pid);
      if (t !== undefined) found.set(pid, t);
    }
  }
  return found;
}

function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text)) found.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** Nothing of the run with this prefix is left; seen: the processes that ran in its namespaces. */
function expectNothingLeft(prefix: string, seen: ReadonlyMap<number, string>): void {
  expect(ip('netns', 'list').split('\n').filter((l) => l.startsWith(prefix))).toEqual([]);
  expect(ip('-o', 'link', 'show').split('\n').filter((l) => l.includes(prefix))).toEqual([]);
  expect(readdirSync(tmpdir()).filter((d) => d.startsWith(`tinflow-${prefix}-`))).toEqual([]);
  expect([...seen.entries()].filter(([pid, t]) => startTime(pid) === t).map(([pid]) => pid)).toEqual([]);
  expect(processesMentioning(prefix)).toEqual([]);
}

/** The rows of the first ping matrix printed: [from, cells...]. */
function matrixRows(out: string, nodes: number): string[][] {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith('ping matrix'));
  expect(at, out).toBeGreaterThanOrEqual(0);
  return lines.slice(at + 2, at + 2 + nodes).map((l) => l.trim().split(/\s{2,}/));
}

describe('tinflow demo', () => {
  beforeAll(demoCanRun);

  afterEach(async () => {
    // A failed case must not leave its demo running (it removes its lab itself on SIGTERM).
    const d = current;
    current = undefined;
    await stopDemo(d);
  }, 30_000);

  it('three nodes for 20 s: every pair reaches every other with 0 % loss; exit 0; nothing left', async () => {
    const d = startDemo(['--nodes', '3', '--no-web', '--duration', '20']);
    const prefix = (await waitOutput(d, /^lab prefix: (\w+)/m, 30_000))[1] as string;
    await waitOutput(d, /^ping matrix/m, 90_000);
    const seen = processesInLab(prefix);
    // 3 nodes, prosody and coturn at least, each a process of its own in a namespace of the lab
    expect(seen.size, d.out()).toBeGreaterThanOrEqual(5);
    const { code } = await d.exited;
    expect(code, `${d.out()}\n${d.err()}`).toBe(0);
    const rows = matrixRows(d.out(), 3);
    expect(rows.map((r) => r[0])).toEqual(['n1', 'n2', 'n3']);
    for (const [i, row] of rows.entries()) {
      expect(row).toHaveLength(4);
      row.slice(1).forEach((cell, j) => expect(cell, `row ${row[0]}`).toMatch(i === j ? /^-$/ : /^0% \d+\.\d+ms$/));
    }
    expect(d.out()).toMatch(/^final all-pairs check: 6\/6 pairs, 0 % loss/m);
    // Every pair reaches every other as soon as the links connect the three (two suffice: the third pair
    // goes through a relay node); the third link may still be on its way when the report is printed.
    expect(d.out()).toMatch(/^links \([23] up\)/m);
    expect(d.out()).toMatch(/^iperf3 n1 → n2 .*: \d+ Mbit\/s$/m);
    expect(d.err()).toBe('');
    expectNothingLeft(prefix, seen);
  }, 120_000);

  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('%s while the overlay forms: exit %i, and nothing left', async (signal, exit) => {
    const d = startDemo(['--nodes', '3', '--no-web', '--duration', '300']);
    const prefix = (await waitOutput(d, /^lab prefix: (\w+)/m, 30_000))[1] as string;
    await waitOutput(d, /^ {2}n\d+ up: /m, 60_000);
    const seen = processesInLab(prefix);
    expect(seen.size, d.out()).toBeGreaterThanOrEqual(5);
    d.proc.kill(signal);
    const { code } = await d.exited;
    expect(code, `${d.out()}\n${d.err()}`).toBe(exit);
    expect(d.err()).toMatch(new RegExp(`${signal}: removing what the demo made`));
    expect(d.out()).toMatch(/^removed everything the demo made/m);
    expectNothingLeft(prefix, seen);
  }, 120_000);
});
