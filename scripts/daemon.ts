/**
 * Small helpers for scripts, tests and benches that start a daemon and wait for it (prosody, coturn,
 * controllers): sleeping, the tail of a log file or of a child's pipe for error messages, the stderr of
 * a failed command, files handed to a system user, and "ready yet?" polling that fails fast when the
 * daemon exits. One copy here, so natlab.ts, prosody.ts and the benches do not each grow their own.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { chownSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inNs } from './netlab.js';

export class DaemonError extends Error {
  override readonly name: string = 'DaemonError';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The last lines of a file, for errors that say why a daemon did not come up. */
export function fileTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Keeps the last few KB a child writes on a pipe (an unread pipe would block it once full). */
export function keepTail(stream: NodeJS.ReadableStream | null, limit = 4096): () => string {
  let text = '';
  stream?.on('data', (d: Buffer) => {
    text = (text + d.toString()).slice(-limit);
  });
  return () => text.trim();
}

/** The stderr text of a failed execFileSync, for error messages. */
export function stderrOf(e: unknown): string {
  if (e !== null && typeof e === 'object' && 'stderr' in e) {
    const s = (e as { stderr: unknown }).stderr;
    if (Buffer.isBuffer(s)) return s.toString().trim();
    if (typeof s === 'string') return s.trim();
  }
  return e instanceof Error ? e.message : String(e);
}

export function uidGid(user: string): { uid: number; gid: number } {
  const out = execFileSync('id', [user], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const uid = /uid=(\d+)/.exec(out)?.[1];
  const gid = /gid=(\d+)/.exec(out)?.[1];
  if (uid === undefined || gid === undefined) throw new DaemonError(`cannot read uid/gid of user ${user} from "${out.trim()}"`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** Hands a folder and everything in it to uid:gid (a daemon that drops root must own its files). */
export function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

/**
 * Whether pid has a TCP socket listening on host:port, inside ns or in this namespace (ss -p names the
 * owning pids: a port some other process holds does not count).
 */
export function tcpListening(ns: string | undefined, host: string, port: number, pid: number): boolean {
  const args = ['-Hltnp', 'src', `${host}:${port}`];
  const out = ns === undefined ? execFileSync('ss', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString() : inNs(ns, 'ss', ...args);
  return out.includes(`pid=${pid},`);
}

/** Polls until ready() holds; fails at once when the process exits, or after ms, with why()'s text. */
export async function waitReady(what: string, proc: ChildProcess, ready: () => boolean | Promise<boolean>, ms: number, why: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new DaemonError(`${what} exited (${proc.exitCode ?? proc.signalCode}) before it was ready: ${why()}`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new DaemonError(`${what} not ready after ${ms} ms: ${why()}`);
    await sleep(100);
  }
}
