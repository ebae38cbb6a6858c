/**
 * `tinflow demo` as a child process, for the tests that run it (test/demo.test.ts, the web view's browser
 * test): start it, wait for what it prints, check it can run here, and stop it whatever state a failed
 * test left it in (SIGTERM, which removes its lab; SIGKILL after 20 s).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { natLabMissing } from '../../scripts/natlab.js';
import { TINFLOW, distStale } from '../../scripts/overlay-lab.js';
import { waitFor } from './wait.js';

export interface Demo {
  readonly proc: ChildProcess;
  readonly out: () => string;
  readonly err: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDemo(args: readonly string[]): Demo {
  const proc = spawn(process.execPath, [TINFLOW, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return { proc, out: () => out, err: () => err, exited };
}

export const running = (d: Demo): boolean => d.proc.exitCode === null && d.proc.signalCode === null;

/** Waits for the demo to print what re matches; fails at once, with its output, if it exits first. */
export function waitOutput(d: Demo, re: RegExp, ms: number): Promise<RegExpExecArray> {
  return waitFor(`the demo to print ${re}`, () => {
    const m = re.exec(d.out());
    if (m !== null) return m;
    if (!running(d)) throw new Error(`the demo exited (${d.proc.exitCode ?? d.proc.signalCode}):\n${d.out()}\n${d.err()}`);
    return undefined;
  }, ms, { intervalMs: 100, detail: () => `output so far:\n${d.out()}\n${d.err()}` });
}

/** Stops a demo a test left running (it removes its lab itself on SIGTERM). */
export async function stopDemo(d: Demo | undefined): Promise<void> {
  if (d === undefined || !running(d)) return;
  d.proc.kill('SIGTERM');
  const timer = setTimeout(() => d.proc.kill('SIGKILL'), 20_000);
  await d.exited;
  clearTimeout(timer);
}

/** Throws, saying what to do, when the demo cannot run here: no root or lab tools, or a stale dist/. */
export function demoCanRun(): void {
  const missing = natLabMissing();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables iperf3)`);
  const stale = distStale(['base', 'openflow', 'switch', 'controller', 'controller/apps', 'link', 'overlay', 'scripts']);
  if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
}
