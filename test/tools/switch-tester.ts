/**
 * The os-ken switch test tool (os_ken/tests/switch/tester.py) run against tinflow, and optionally against
 * Open vSwitch with the same patterns so the two can be compared.
 *
 *                       osken-manager tester.py (127.0.0.1:PORT)
 *                        /                                  \
 *            target: tinflow (dpid 1)                 tester: OVS netdev bridge (dpid 2)
 *            port 1  ─────────── veth ───────────  port 1   (tester_send_port → target_recv_port)
 *            port 2  ─────────── veth ───────────  port 2   (target_send_port_1 → tester_recv_port_1)
 *            port 3  ─────────── veth ───────────  port 3   (target_send_port_2 → tester_recv_port_2)
 *            port 4  ─────────── veth, peer down            (a port that is not live, for fast-failover)
 *
 * The tester installs each pattern's flows, groups and meters on the target, sends the pattern's packet
 * out of the tester's port 1 and checks what comes back: the packet on the tester's port 2 (egress), a
 * packet-in from the target (PACKET_IN), no match (table-miss, by table stats) or a rate measured by
 * flow counters on the tester (throughput). It logs one "OK" or "ERROR" line per test, the reason on the
 * line after an ERROR; this script reads that log into per-test results.
 *
 * Usage (root; OVS daemons running; after npm run build):
 *   node dist/test/tools/switch-tester.js [--dir DIR] [--target tinflow|ovs|ovs-only] [--only TEXT]
 *                                      [--port PORT] [--timeout S] [--interval S] [--json FILE] [--log-dir DIR]
 *   --dir DIR        pattern files (*.json, searched recursively as the tester does); default test/switch/tester
 *   --target T       tinflow (default); ovs: tinflow, then OVS as the target too, and a comparison;
 *                    ovs-only: only OVS (to check a pattern against the reference switch)
 *   --only TEXT      only the pattern files whose name contains TEXT (repeatable)
 *   --port PORT      the controller's TCP port on 127.0.0.1 (default 6795)
 *   --timeout S      give up on one target's run after S seconds (default 600)
 *   --interval S     the tester's pause after each test (default 0 for tinflow, 1 for OVS: DEFAULT_INTERVAL)
 *   --json FILE      where the results go (default results/switch-tester.json)
 *   --log-dir DIR    also write the tester's and the switch's logs there (default: not written)
 * Prints each test as it completes, then "N of M tests OK" per target and the failures with the
 * tester's reason. Exit status: 0 all tests OK on the switches run (tinflow, or OVS with ovs-only),
 * 1 some failed or did not run, 2 the run could not start (not root, OVS not running, bad patterns…).
 * Everything made (veths, bridges, processes, staged pattern directories) carries a per-run name prefix
 * or PID and is removed at the end, also after errors, SIGINT and SIGTERM; the two OVS settings changed
 * for the run (Open_vSwitch other_config max-revalidator and max-idle, see runTarget) are put back.
 *
 * Writing patterns (test/switch/tester/*.json), what the tester and OVS make necessary:
 * - The file's description names the file (the tester keys and orders files by it; loadPatterns checks).
 * - The tester compares the installed flow, group and meter with what the switch reports, field by field
 *   and in order: give match fields in the order OVS reports them (Ethernet source before destination,
 *   eth_type, VLAN, MPLS, L3, L4, tunnel_id, metadata), values already masked, no all-ones masks, and a
 *   band's burst_size equal to its rate when the meter has no OFPMF_BURST (OVS reports it so).
 * - Port names ("target_send_port_1", …) are replaced only in output actions and in_port matches;
 *   watch_port takes numbers.
 * - os-ken's SCTP serializer writes a CRC32c that is not RFC 4960's: give sctp(csum=...) explicitly.
 * - os-ken parses UDP port 4789 as VXLAN (and 6653 as OpenFlow) even to log the packet, and crashes on
 *   a packet that is not: avoid such ports.
 * - In a test, table-miss packets first (OVS credits cached flows' table stats late); the tester can only
 *   compare rates with fixed figures and sends slower than asked, so put a drop meter in front of what
 *   a rate test measures.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onShutdown, stopProcess } from '../../base/shutdown.js';
import { Lab } from '../../scripts/netlab.js';

const OSKEN_MANAGER = '/usr/bin/osken-manager';
const TESTER_PY = '/usr/lib/python3/dist-packages/os_ken/tests/switch/tester.py';
const TARGET_DPID = '0000000000000001';
const TESTER_DPID = '0000000000000002';
/**
 * Seconds between tests (--test-switch-interval). OVS's userspace datapath answers a barrier before its
 * revalidators have updated the datapath flows cached from the previous test, so a packet sent right
 * after may still meet the previous test's flows; a second's pause (with max-idle, below) lets them go.
 */
const DEFAULT_INTERVAL: Record<Target, number> = { tinflow: 0, ovs: 1 };
/** The tester's default port numbers (os_ken/flags.py), which the veths below follow. */
const PORTS = [1, 2, 3] as const;
/**
 * A fourth target port whose link is down (its veth peer is down and on no switch): fast-failover
 * patterns watch it as a port that is not live.
 */
const DOWN_PORT = 4;

export type Target = 'tinflow' | 'ovs';
export type Verdict = 'OK' | 'ERROR' | 'NOT RUN';

export interface PatternFile {
  /** Path relative to the pattern directory. */
  readonly file: string;
  /** The file's description (its first string): the tester runs files in the order of these. */
  readonly description: string;
  readonly tests: readonly string[];
}

export interface TestResult {
  readonly file: string;
  readonly test: string;
  readonly result: Verdict;
  readonly reason?: string;
  /** The first attempt's reason, when the test was run again (see TESTER_LOST). */
  readonly retried?: string;
}

export interface TargetRun {
  readonly target: Target;
  readonly ok: number;
  readonly total: number;
  /** Tests that failed first with TESTER_LOST and were run again (whatever the second result). */
  readonly retried: number;
  readonly seconds: number;
  /** Why the run stopped before the tester finished, if it did. */
  readonly aborted?: string;
  readonly tests: readonly TestResult[];
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'scripts', 'tinflow'))) return d;
    d = dirname(d);
  }
  throw new Error('cannot find the tinflow repository root above ' + fileURLToPath(import.meta.url));
}

// ---- patterns ----------------------------------------------------------------------------------------

function listJson(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listJson(p));
    else if (name.endsWith('.json')) out.push(p);
  }
  return out;
}

/**
 * Reads the pattern files as the tester will: a JSON array whose string is the file's description and
 * whose objects are tests with a "description". The tester keys files by description (a duplicate would
 * silently replace another file) and runs them sorted by it, so both are checked here.
 */
export function loadPatterns(dir: string, only: readonly string[] = []): PatternFile[] {
  const files: PatternFile[] = [];
  const seen = new Map<string, string>();
  for (const path of listJson(dir).sort()) {
    const file = relative(dir, path);
    if (only.length > 0 && !only.some((o) => file.includes(o))) continue;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new UsageError(`${file}: not JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(data)) throw new UsageError(`${file}: expected a JSON array (a description and tests)`);
    const descs = data.filter((x): x is string => typeof x === 'string');
    if (descs.length !== 1) throw new UsageError(`${file}: expected exactly one string (the file's description), found ${descs.length}`);
    const description = descs[0] as string;
    const other = seen.get(description);
    if (other !== undefined) throw new UsageError(`${file}: description ${JSON.stringify(description)} is also ${other}'s; the tester would run only one of them`);
    seen.set(description, file);
    const tests: string[] = [];
    data.forEach((t, i) => {
      if (typeof t === 'string') return;
      const d = (t as { description?: unknown } | null)?.description;
      if (typeof d !== 'string' || d === '') throw new UsageError(`${file}: [${i}] has no "description"`);
      if (tests.includes(d)) throw new UsageError(`${file}: [${i}]: description ${JSON.stringify(d)} is used twice in the file`);
      for (const k of ['prerequisite', 'tests']) {
        if (!Array.isArray((t as Record<string, unknown>)[k])) throw new UsageError(`${file}: [${i}] (${d}): "${k}" must be an array`);
      }
      tests.push(d);
    });
    if (tests.length === 0) throw new UsageError(`${file}: no tests`);
    files.push({ file, description, tests });
  }
  // Python's list.sort() on str: code point order, as JavaScript compares ASCII strings.
  return files.sort((a, b) => (a.description < b.description ? -1 : a.description > b.description ? 1 : 0));
}

// ---- the tester's log ----------------------------------------------------------------------------------

/**
 * Follows tester.py's log: a file's description alone on a line before its first test, then per test
 * `'    %-100s %s' % (description, 'OK' | 'ERROR')`, and after an ERROR the reason indented by 8.
 */
export class TesterLog {
  readonly results = new Map<string, TestResult>();
  readonly joined = { target: false, tester: false };
  finished = false;
  /** tester.py's test thread died on an exception (the tester then waits forever): the traceback so far. */
  crash: string | undefined;
  private file: PatternFile | undefined;
  private pendingError: { file: PatternFile; test: string } | undefined;
  private readonly byDescription: Map<string, PatternFile>;

  constructor(
    private readonly patterns: readonly PatternFile[],
    private readonly onResult: (r: TestResult) => void = () => {},
  ) {
    this.byDescription = new Map(patterns.map((p) => [p.description, p]));
  }

  static key(file: string, test: string): string {
    return `${file}\u0000${test}`;
  }

  line(raw: string): void {
    const line = raw.replace(/\r$/, '');
    if (this.crash !== undefined) {
      this.crash += line + '\n';
      return;
    }
    if (/^hub: uncaught exception/.test(line)) {
      this.crash = line + '\n';
      return;
    }
    if (this.pendingError) {
      const { file, test } = this.pendingError;
      this.pendingError = undefined;
      const m = /^ {8}(.*)$/.exec(line);
      this.record({ file: file.file, test, result: 'ERROR', reason: m ? (m[1] as string) : '(the tester gave no reason)' });
      if (m) return;
    }
    const f = this.byDescription.get(line);
    if (f) {
      this.file = f;
      return;
    }
    if (/: Join target SW\.$/.test(line)) this.joined.target = true;
    if (/: Join tester SW\.$/.test(line)) this.joined.tester = true;
    if (/^---\s+Test end\s+---$/.test(line)) this.finished = true;
    // After the end comes a report that lists the failed tests again.
    if (this.finished) return;
    const r = /^ {4}(\S.*?) *(OK|ERROR)$/.exec(line);
    if (!r) return;
    const test = r[1] as string;
    // The file line comes only before a file's first test; later tests belong to the file last named,
    // or, should a description repeat across files, to the first file not yet done that has it.
    const file = this.file?.tests.includes(test) ? this.file : this.patterns.find((p) => p.tests.includes(test) && !this.results.has(TesterLog.key(p.file, test)));
    if (!file) return;
    this.file = file;
    if (r[2] === 'OK') this.record({ file: file.file, test, result: 'OK' });
    else this.pendingError = { file, test };
  }

  /** Call at the end: an ERROR on the very last line still counts. */
  flush(): void {
    if (this.pendingError) this.line('');
  }

  private record(r: TestResult): void {
    this.results.set(TesterLog.key(r.file, r.test), r);
    this.onResult(r);
  }

  /** Every pattern's test, with its result or NOT RUN (and why). */
  all(notRunReason: string): TestResult[] {
    return this.patterns.flatMap((p) =>
      p.tests.map((t) => this.results.get(TesterLog.key(p.file, t)) ?? { file: p.file, test: t, result: 'NOT RUN' as const, reason: notRunReason }),
    );
  }
}

// ---- processes and OVS -----------------------------------------------------------------------------------

function vsctl(...args: string[]): string {
  return execFileSync('ovs-vsctl', ['-t', '10', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export function ovsRunning(): { ok: boolean; detail: string } {
  const r = spawnSync('ovs-vsctl', ['-t', '5', 'show'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, detail: r.error.message };
  return { ok: r.status === 0, detail: (r.stderr || r.stdout || '').trim() };
}

function waitPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const attempt = (): Promise<boolean> =>
    new Promise((res) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
  return (async () => {
    for (;;) {
      if (await attempt()) return;
      if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => {
      s.destroy();
      res(false);
    });
    s.on('error', () => res(true));
  });
}

/** What one target run made: removed by teardown(), or synchronously on a signal. */
class Rig {
  readonly lab = new Lab('st');
  readonly bridges: string[] = [];
  readonly procs: ChildProcess[] = [];
  private readonly restores: (() => void)[] = [];
  private torn = false;

  /** An OVS userspace bridge with ports 1..3 on the given interfaces, controlled by the tester. */
  bridge(name: string, dpid: string, ifaces: readonly string[], port: number): void {
    this.bridges.push(name);
    const args = [
      'add-br', name,
      '--', 'set', 'bridge', name, 'datapath_type=netdev', 'protocols=OpenFlow13', `other-config:datapath-id=${dpid}`, 'other-config:disable-in-band=true',
      '--', 'set-fail-mode', name, 'secure',
    ];
    ifaces.forEach((ifn, i) => args.push('--', 'add-port', name, ifn, '--', 'set', 'interface', ifn, `ofport_request=${i + 1}`));
    args.push('--', 'set-controller', name, `tcp:127.0.0.1:${port}`);
    vsctl(...args);
  }

  /**
   * Sets a key of the Open_vSwitch table's other_config until teardown, which puts back the value it
   * had (or removes the key).
   */
  ovsOtherConfig(key: string, value: string): void {
    const before = spawnSync('ovs-vsctl', ['-t', '10', '--if-exists', 'get', 'Open_vSwitch', '.', `other_config:${key}`], { encoding: 'utf8' }).stdout.trim();
    this.restores.push(() => {
      if (before) vsctl('set', 'Open_vSwitch', '.', `other_config:${key}=${before}`);
      else vsctl('remove', 'Open_vSwitch', '.', 'other_config', key);
    });
    vsctl('set', 'Open_vSwitch', '.', `other_config:${key}=${value}`);
  }

  track(p: ChildProcess): ChildProcess {
    this.procs.push(p);
    this.lab.track(p);
    return p;
  }

  async teardown(): Promise<void> {
    for (const p of [...this.procs].reverse()) await stopProcess(p);
    this.teardownSync();
  }

  teardownSync(): void {
    if (this.torn) return;
    this.torn = true;
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null && p.pid) p.kill('SIGTERM');
    for (const b of this.bridges) {
      try {
        vsctl('--if-exists', 'del-br', b);
      } catch (e) {
        process.stderr.write(`switch-tester: could not delete bridge ${b}: ${(e as Error).message}\n`);
      }
    }
    this.lab.cleanup();
    for (const r of this.restores) {
      try {
        r();
      } catch (e) {
        process.stderr.write(`switch-tester: could not restore the OVS configuration: ${(e as Error).message}\n`);
      }
    }
  }
}

const live = new Set<Rig>();
/** Pattern directories staged for the tester (stage()), removed when done or on a signal. */
const staged = new Set<string>();

function unstage(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  staged.delete(dir);
}

// ---- one run -------------------------------------------------------------------------------------------------

interface RunOptions {
  readonly root: string;
  readonly dir: string;
  readonly port: number;
  readonly timeoutS: number;
  /** Seconds the tester waits after each test (--test-switch-interval). */
  readonly interval: number;
  readonly logDir: string | undefined;
  /** Log file names: switch-tester-TARGET[SUFFIX].log. */
  readonly logSuffix?: string;
}

function tail(s: string, lines = 15): string {
  return s.trimEnd().split('\n').slice(-lines).join('\n');
}

export async function runTarget(target: Target, patterns: readonly PatternFile[], o: RunOptions): Promise<TargetRun> {
  const started = Date.now();
  const rig = new Rig();
  live.add(rig);
  let oskenLog = '';
  let switchLog = '';
  const tag = target === 'tinflow' ? 'tinflow' : 'ovs    ';
  const log = new TesterLog(patterns, (r) => {
    process.stderr.write(`[${tag}] ${r.result.padEnd(5)} ${r.file}: ${r.test}${r.reason ? `\n          ${r.reason}` : ''}\n`);
  });
  let aborted: string | undefined;
  try {
    const targetIfs: string[] = [];
    const testerIfs: string[] = [];
    for (const n of [...PORTS, DOWN_PORT]) {
      const a = rig.lab.name(`t${n}`);
      const b = rig.lab.name(`x${n}`);
      // IPv6 is off on both ends before they come up (Lab.veth): router solicitations and MLD reports
      // from the kernel would otherwise reach the tester's port 2 (sent to the controller) mid-test.
      rig.lab.veth(a, b);
      targetIfs.push(a);
      if (n === DOWN_PORT) execFileSync('ip', ['link', 'set', b, 'down']);
      else testerIfs.push(b);
    }
    // Both switches live in one ovs-vswitchd whose userspace datapath caches flows for the packets it
    // saw. After a flow table changes (the tester replaces every flow at each test, on both switches), a
    // cached flow keeps its old actions until the revalidators next look, 500 ms apart by default; and
    // an OVS controller action in a stale cached flow names state that no longer exists, so the packet-in
    // is lost. During the run the revalidators look every 100 ms and drop flows idle for 100 ms; the
    // previous settings come back at teardown.
    rig.ovsOtherConfig('max-revalidator', '100');
    rig.ovsOtherConfig('max-idle', '100');

    const osken = rig.track(
      spawn(
        OSKEN_MANAGER,
        [
          '--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(o.port),
          '--test-switch-dir', o.dir, '--test-switch-target', TARGET_DPID, '--test-switch-tester', TESTER_DPID,
          '--test-switch-interval', String(o.interval),
          TESTER_PY,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    let partial = '';
    osken.stderr?.on('data', (d: Buffer) => {
      const s = d.toString();
      oskenLog += s;
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) log.line(l);
    });
    const oskenExit = once(osken, 'exit');
    await Promise.race([waitPort(o.port, 20_000), oskenExit.then(() => Promise.reject(new Error(`osken-manager exited at start:\n${tail(oskenLog)}`)))]);

    rig.bridge(rig.lab.name('tb'), TESTER_DPID, testerIfs, o.port);
    let sw: ChildProcess | undefined;
    if (target === 'tinflow') {
      sw = rig.track(
        spawn(
          process.execPath,
          [
            join(o.root, 'scripts', 'tinflow'), 'switch', '--name', rig.lab.name('tf'), '--dpid', TARGET_DPID,
            '--controller', `tcp:127.0.0.1:${o.port}`, ...targetIfs.flatMap((ifn, i) => ['--port', `${i + 1}=${ifn}`]),
            '--no-local', '--log-level', 'warn',
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        ),
      );
      sw.stderr?.on('data', (d: Buffer) => (switchLog += d.toString()));
    } else {
      rig.bridge(rig.lab.name('tg'), TARGET_DPID, targetIfs, o.port);
    }

    // Wait for the tester to finish, watching for what would make it wait forever.
    aborted = await new Promise<string | undefined>((res) => {
      const timers: NodeJS.Timeout[] = [];
      const done = (why: string | undefined) => {
        timers.forEach(clearTimeout);
        res(why);
      };
      oskenExit.then(() => {
        if (partial) log.line(partial);
        log.flush();
        done(log.finished ? undefined : `osken-manager exited (${osken.exitCode ?? osken.signalCode}) before the tests ended:\n${tail(oskenLog)}`);
      }, () => {});
      sw?.on('exit', (code, sig) => done(`the tinflow switch exited (${code ?? sig}) during the tests:\n${tail(switchLog)}`));
      timers.push(
        setTimeout(() => {
          if (!log.joined.target || !log.joined.tester) {
            const who = [!log.joined.target && `target (${target}, dpid ${TARGET_DPID})`, !log.joined.tester && `tester (OVS, dpid ${TESTER_DPID})`].filter(Boolean).join(' and ');
            done(`the ${who} switch did not connect to the tester within 30 s${switchLog ? `; tinflow said:\n${tail(switchLog)}` : ''}`);
          }
        }, 30_000),
        setTimeout(() => done(`timed out after ${o.timeoutS} s`), o.timeoutS * 1000),
      );
      // A crashed test thread leaves osken-manager running: stop once the traceback is in.
      let crashSeen = 0;
      const poll = setInterval(() => {
        if (log.crash === undefined) return;
        if (crashSeen === 0) crashSeen = Date.now();
        else if (Date.now() - crashSeen >= 500) {
          const last = [...log.results.values()].pop();
          done(`tester.py crashed${last ? ` after ${last.file}: ${last.test}` : ''}:\n${tail(log.crash, 6)}`);
        }
      }, 100);
      timers.push(poll);
    });
  } catch (e) {
    aborted = (e as Error).message;
  } finally {
    await rig.teardown();
    live.delete(rig);
    if (o.logDir) {
      mkdirSync(o.logDir, { recursive: true });
      writeFileSync(join(o.logDir, `switch-tester-${target}${o.logSuffix ?? ''}.log`), oskenLog);
      if (switchLog) writeFileSync(join(o.logDir, `switch-tester-${target}${o.logSuffix ?? ''}-switch.log`), switchLog);
    }
  }
  const tests = log.all(aborted ? `not run: ${aborted.split('\n')[0]}` : 'the tester did not report it');
  return {
    target,
    ok: tests.filter((t) => t.result === 'OK').length,
    total: tests.length,
    retried: 0,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ...(aborted !== undefined ? { aborted } : {}),
    tests,
  };
}

/**
 * A packet the target did send (its tx counter and the tester's rx counter both moved) but that never
 * came back from the OVS tester as a packet-in. OVS drops a packet now and then when the tester
 * replaces its flows at every test (a datapath flow cached with the previous test's controller action
 * can fail as a userspace action: coverage counter datapath_drop_userspace_action_error); once in
 * about two runs of all the patterns here. Likewise a throughput test whose tester fell short of the
 * rate it was asked to send: the tester generates its traffic from one Python process, and on a loaded
 * 2-core machine it sent 1,255 of 1,500 kbit/s (the meter then rightly passed 843 kbit/s unmarked, not
 * 1,000); the meters' arithmetic is proven exactly, on an injected clock, in meter-table.test.ts. Such
 * a test is run again, on its own, up to twice (a machine busy with other work lost the same packet twice
 * in a row), and the first reason is recorded beside the last result; any other failure stands as it is.
 */
export const TESTER_LOST = /^(Receiving timeout: increment in rx_packets in tester\.|Received unexpected throughput: [\s\S]*)$/;

/** A directory holding just these patterns' files, each cut down to the tests listed (the tester reads whole directories). */
function stage(srcDir: string, patterns: readonly PatternFile[]): string {
  const tmp = mkdtempSync(join(tmpdir(), 'switch-tester-'));
  staged.add(tmp);
  patterns.forEach((p, i) => {
    const data = JSON.parse(readFileSync(join(srcDir, p.file), 'utf8')) as unknown[];
    const kept = data.filter((x) => typeof x === 'string' || p.tests.includes((x as { description: string }).description));
    writeFileSync(join(tmp, `${String(i).padStart(3, '0')}_${basename(p.file)}`), JSON.stringify(kept));
  });
  return tmp;
}

/** How many times a test lost by the tester (TESTER_LOST) is run again, on its own. */
const LOST_RETRIES = 2;

/** runTarget over srcDir's patterns, then again (up to LOST_RETRIES times) over the tests that failed with TESTER_LOST. */
export async function runWithRetry(target: Target, patterns: readonly PatternFile[], srcDir: string, o: Omit<RunOptions, 'dir'>): Promise<TargetRun> {
  const run = async (ps: readonly PatternFile[], logSuffix?: string): Promise<TargetRun> => {
    const dir = stage(srcDir, ps);
    try {
      return await runTarget(target, ps, { ...o, dir, ...(logSuffix !== undefined && { logSuffix }) });
    } finally {
      unstage(dir);
    }
  };
  const first = await run(patterns);
  let tests = first.tests;
  let seconds = first.seconds;
  let retried = 0;
  let aborted = first.aborted;
  for (let attempt = 1; attempt <= LOST_RETRIES && aborted === undefined; attempt++) {
    const lost = tests.filter((t) => t.result === 'ERROR' && TESTER_LOST.test(t.reason ?? ''));
    if (lost.length === 0) break;
    const again = patterns
      .map((p) => ({ ...p, tests: p.tests.filter((t) => lost.some((l) => l.file === p.file && l.test === t)) }))
      .filter((p) => p.tests.length > 0);
    process.stderr.write(`[${target}] running ${lost.length} test(s) again (attempt ${attempt + 1}): the OVS tester lost a packet or fell short of its send rate\n`);
    const next = await run(again, attempt === 1 ? '-retry' : `-retry${attempt}`);
    retried += lost.length;
    seconds += next.seconds;
    if (next.aborted !== undefined) aborted = `on attempt ${attempt + 1}: ${next.aborted}`;
    tests = tests.map((t) => {
      if (!lost.includes(t)) return t;
      const r = next.tests.find((x) => x.file === t.file && x.test === t.test);
      return { ...(r ?? t), retried: t.retried ?? t.reason ?? '' };
    });
  }
  return {
    ...first,
    ok: tests.filter((t) => t.result === 'OK').length,
    retried,
    seconds: Math.round(seconds * 10) / 10,
    ...(aborted !== undefined ? { aborted } : {}),
    tests,
  };
}

// ---- reporting -------------------------------------------------------------------------------------------------

function perFile(run: TargetRun): Map<string, { ok: number; total: number }> {
  const m = new Map<string, { ok: number; total: number }>();
  for (const t of run.tests) {
    const e = m.get(t.file) ?? { ok: 0, total: 0 };
    e.total++;
    if (t.result === 'OK') e.ok++;
    m.set(t.file, e);
  }
  return m;
}

function summary(runs: readonly TargetRun[]): string {
  const out: string[] = [];
  for (const r of runs) {
    out.push(`${r.target}: ${r.ok} of ${r.total} tests OK (${r.seconds} s)${r.retried ? `, ${r.retried} runs again (the OVS tester lost a packet or fell short of its send rate)` : ''}`);
    if (r.aborted) out.push(`  run stopped: ${r.aborted.replace(/\n/g, '\n    ')}`);
    for (const t of r.tests) {
      if (t.result !== 'OK') out.push(`  ${t.result === 'ERROR' ? 'FAIL' : 'NOT RUN'} ${t.file}: ${t.test}\n      ${t.reason ?? ''}`);
      if (t.retried !== undefined) out.push(`  ${t.result === 'OK' ? 'OK when run again' : 'failed every time'}: ${t.file}: ${t.test}\n      first: ${t.retried}`);
    }
  }
  if (runs.length > 1) {
    const files = [...new Set(runs.flatMap((r) => r.tests.map((t) => t.file)))];
    const per = runs.map(perFile);
    const w = Math.max(...files.map((f) => f.length), 4);
    out.push('', `${'file'.padEnd(w)}  ${runs.map((r) => r.target.padStart(9)).join('  ')}`);
    for (const f of files) out.push(`${f.padEnd(w)}  ${per.map((p) => `${p.get(f)?.ok ?? 0}/${p.get(f)?.total ?? 0}`.padStart(9)).join('  ')}`);
    const [a, b] = runs as [TargetRun, TargetRun];
    const diff = a.tests.filter((t, i) => t.result !== b.tests[i]?.result);
    if (diff.length > 0) {
      out.push('', `tests where ${a.target} and ${b.target} differ:`);
      for (const t of diff) {
        const u = b.tests.find((x) => x.file === t.file && x.test === t.test);
        out.push(`  ${t.file}: ${t.test}\n      ${a.target}: ${t.result}${t.reason ? ` (${t.reason})` : ''}\n      ${b.target}: ${u?.result}${u?.reason ? ` (${u.reason})` : ''}`);
      }
    }
  }
  return out.join('\n');
}

// ---- main ----------------------------------------------------------------------------------------------------

export async function main(argv: readonly string[]): Promise<number> {
  const root = repoRoot();
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        dir: { type: 'string', default: join(root, 'test', 'switch', 'tester') },
        target: { type: 'string', default: 'tinflow' },
        only: { type: 'string', multiple: true },
        port: { type: 'string', default: '6795' },
        timeout: { type: 'string', default: '600' },
        interval: { type: 'string' },
        json: { type: 'string', default: join(root, 'results', 'switch-tester.json') },
        'log-dir': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    process.stderr.write(`switch-tester: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write('usage: node dist/test/tools/switch-tester.js [--dir DIR] [--target tinflow|ovs|ovs-only] [--only TEXT] [--port PORT] [--timeout S] [--json FILE] [--log-dir DIR]\n');
    return 0;
  }
  const fail = (msg: string): number => {
    process.stderr.write(`switch-tester: ${msg}\n`);
    return 2;
  };
  const targets: Target[] = values.target === 'tinflow' ? ['tinflow'] : values.target === 'ovs' ? ['tinflow', 'ovs'] : values.target === 'ovs-only' ? ['ovs'] : [];
  if (targets.length === 0) return fail(`--target: expected tinflow, ovs or ovs-only, got ${JSON.stringify(values.target)}`);
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port < 1024 || port > 65535) return fail(`--port: expected 1024..65535, got ${JSON.stringify(values.port)}`);
  if (port === 6633 || port === 6653) return fail('--port: 6633 and 6653 are the standard OpenFlow ports, which other controllers may hold; pick another');
  const interval = values.interval === undefined ? undefined : Number(values.interval);
  if (interval !== undefined && !(interval >= 0 && Number.isInteger(interval))) return fail(`--interval: expected whole seconds >= 0, got ${JSON.stringify(values.interval)}`);
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0)) return fail(`--timeout: expected seconds > 0, got ${JSON.stringify(values.timeout)}`);

  if (process.getuid?.() !== 0) return fail('must run as root (veths, OVS bridges)');
  const ovs = ovsRunning();
  if (!ovs.ok) {
    return fail(
      `Open vSwitch is not running (ovs-vsctl -t 5 show failed: ${ovs.detail || 'no answer'}).\n` +
        '  Start its daemons with /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random (scripts/test.sh does).',
    );
  }
  for (const f of [OSKEN_MANAGER, TESTER_PY]) if (!existsSync(f)) return fail(`${f} is missing: apt-get install python3-os-ken`);
  if (targets.includes('tinflow') && !existsSync(join(root, 'dist', 'scripts', 'cli.js'))) return fail(`${join(root, 'dist')} is missing: run npm run build first`);
  if (!(await portFree(port))) return fail(`127.0.0.1:${port} is already taken; give --port`);

  const dir = resolve(values.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return fail(`--dir: ${dir} is not a directory`);
  let patterns: PatternFile[];
  try {
    patterns = loadPatterns(dir, values.only ?? []);
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message);
    throw e;
  }
  if (patterns.length === 0) return fail(`no pattern files (*.json) in ${dir}${values.only ? ` matching ${values.only.join(', ')}` : ''}`);

  // A signal ends the run: what it made is removed, then the process exits 130 / 143.
  const shutdown = onShutdown((sig) => {
    process.stderr.write(`switch-tester: ${sig}: removing what this run made\n`);
    for (const r of live) r.teardownSync();
    for (const d of staged) unstage(d);
    return sig === 'SIGINT' ? 130 : 143;
  });
  void shutdown.done.then((code) => process.exit(code));

  const nTests = patterns.reduce((n, p) => n + p.tests.length, 0);
  process.stderr.write(`switch-tester: ${patterns.length} pattern files, ${nTests} tests, from ${dir}\n`);
  const runs: TargetRun[] = [];
  try {
    for (const t of targets) runs.push(await runWithRetry(t, patterns, dir, { root, port, timeoutS, interval: interval ?? DEFAULT_INTERVAL[t], logDir: values['log-dir'] }));
  } finally {
    for (const r of live) r.teardownSync();
    shutdown.dispose();
  }

  const report = summary(runs);
  process.stdout.write(report + '\n');
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(
    values.json,
    JSON.stringify({ date: new Date().toISOString(), dir, files: patterns.map((p) => ({ file: p.file, description: p.description, tests: p.tests.length })), runs }, null, 2) + '\n',
  );
  process.stderr.write(`switch-tester: results in ${values.json}\n`);
  const judged = runs.find((r) => r.target === 'tinflow') ?? runs[0];
  return judged && judged.ok === judged.total ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      for (const r of live) r.teardownSync();
      for (const d of staged) unstage(d);
      process.stderr.write(`switch-tester: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 2;
    },
  );
}

