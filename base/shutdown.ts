/**
 * Ending long-running processes cleanly, from both ends.
 *
 * `onShutdown` is what every long-running CLI does with SIGTERM and SIGINT: the first one starts a
 * graceful stop (close listeners and sockets, remove the TAPs it created) and the process exits with
 * the status that stop resolves to. A repeated SIGTERM is ignored: supervisors (Mininet's
 * TinflowSwitch, test rigs) may send it more than once and must not cut the clean-up short; they send
 * SIGKILL when their patience ends. A second SIGINT — a person pressing Ctrl-C again — exits at once
 * with 130, as shells expect.
 *
 * `stopProcess` is the other end, for whoever started a child: SIGTERM, a grace period, then SIGKILL.
 *
 * May import: node: modules and base/ (see base/README.md).
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from './logger.js';

/** The part of `process` that onShutdown uses (tests pass an EventEmitter and a recording exit). */
export interface SignalSource {
  on(signal: NodeJS.Signals, fn: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, fn: (signal: NodeJS.Signals) => void): unknown;
}

export interface ShutdownOptions {
  readonly log?: Logger;
  /** Signals whose repetition during the stop exits at once. Default ['SIGINT']. */
  readonly forceOn?: readonly NodeJS.Signals[];
  /** Default process. */
  readonly source?: SignalSource;
  /** Default process.exit. */
  readonly exit?: (code: number) => void;
}

const EXIT_STATUS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Calls `stop` once, on the first SIGTERM or SIGINT. Returns a promise of stop's result (the exit
 * status the caller returns), and `dispose` removes the handlers.
 */
export function onShutdown(stop: (signal: NodeJS.Signals) => Promise<number> | number, opts: ShutdownOptions = {}): { readonly done: Promise<number>; dispose(): void } {
  const source: SignalSource = opts.source ?? process;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const forceOn = opts.forceOn ?? ['SIGINT'];
  let stopping = false;
  let resolve!: (code: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      if (forceOn.includes(signal)) {
        opts.log?.warn({ signal }, 'second signal while stopping: exiting now');
        exit(EXIT_STATUS[signal] ?? 1);
      }
      return;
    }
    stopping = true;
    opts.log?.info({ signal }, 'stopping');
    Promise.resolve()
      .then(() => stop(signal))
      .then(resolve, (e: unknown) => {
        opts.log?.error({ err: e instanceof Error ? (e.stack ?? e.message) : String(e) }, 'clean stop failed');
        resolve(1);
      });
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  for (const s of signals) source.on(s, handler);
  return {
    done,
    dispose: () => {
      for (const s of signals) source.off(s, handler);
    },
  };
}

/**
 * Stops a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves once it has
 * exited (at once if it had already).
 */
export async function stopProcess(proc: ChildProcess, graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const patient = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)));
  const exited = await Promise.race([gone.then(() => true), patient]);
  clearTimeout(timer);
  if (exited) return;
  proc.kill('SIGKILL');
  await gone;
}
