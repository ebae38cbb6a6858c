/**
 * os-ken's switch test tool (os_ken/tests/switch/tester.py) drives tinflow as the target switch, with an
 * OVS userspace bridge as the tester switch, over every pattern in test/switch/tester/; every pattern
 * must pass. test/tools/switch-tester.ts does the work (veths, bridges, processes, reading the tester's
 * log); this file runs it once and reports per pattern file. Needs root, the OVS daemons
 * (scripts/test.sh starts them) and a build (npm run build).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const RUNNER = 'dist/test/tools/switch-tester.js';
const PATTERNS = 'test/switch/tester';
const RESULTS = 'results/switch-tester.json';
/** The controller's port for this test (other suites use 6791 and 6793; the runner's default is 6795). */
const PORT = 6797;
/** The runner gives up after this long; the whole run takes about two minutes. */
const RUN_TIMEOUT_S = 200;

interface TestResult {
  readonly file: string;
  readonly test: string;
  readonly result: 'OK' | 'ERROR' | 'NOT RUN';
  readonly reason?: string;
}
interface Run {
  readonly target: string;
  readonly ok: number;
  readonly total: number;
  readonly aborted?: string;
  readonly tests: readonly TestResult[];
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (veths and OVS bridges need root)';
  const r = spawnSync('ovs-vsctl', ['-t', '5', 'show'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return `Open vSwitch is not running (ovs-vsctl -t 5 show: ${(r.stderr || r.error?.message || '').trim()}); scripts/test.sh starts it`;
  return undefined;
}

/** The pattern files and the descriptions of their tests, read here so that a test that the tester never reported still fails. */
const files = readdirSync(PATTERNS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => {
    const data = JSON.parse(readFileSync(join(PATTERNS, file), 'utf8')) as unknown[];
    return { file, tests: data.filter((x): x is { description: string } => typeof x === 'object' && x !== null).map((x) => x.description) };
  });

describe('os-ken switch tester: tinflow as the target switch, OVS as the tester', () => {
  it('the runner is built (npm run build)', () => {
    expect(existsSync(RUNNER), `${RUNNER} is missing: run npm run build`).toBe(true);
  });

  const skip = skipReason();
  if (skip) {
    // not skipped: without root or OVS the patterns cannot run, and that must show as a failure
    it(`all patterns need root and Open vSwitch: ${skip}`, () => {
      expect.fail(skip);
    });
    return;
  }

  let run: Run | undefined;
  let trouble = '';

  // Not spawnSync: a worker blocked for two minutes misses vitest's RPC deadline ("Timeout calling
  // onTaskUpdate"), an unhandled error that fails the run.
  beforeAll(async () => {
    if (!existsSync(RUNNER)) {
      trouble = `${RUNNER} is missing: run npm run build`;
      return;
    }
    // The runner's default results file, which CI keeps; a stale one must not be read.
    rmSync(RESULTS, { force: true });
    const p = spawn(process.execPath, [RUNNER, '--port', String(PORT), '--timeout', String(RUN_TIMEOUT_S)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // The runner stops itself after RUN_TIMEOUT_S; this is the backstop (SIGTERM: it still cleans up).
    const backstop = setTimeout(() => p.kill('SIGTERM'), (RUN_TIMEOUT_S + 30) * 1000);
    const [code, signal] = (await once(p, 'close')) as [number | null, NodeJS.Signals | null];
    clearTimeout(backstop);
    // Exit status 1 is "some tests failed", reported per file below; anything else is the run itself.
    if (code !== 0 && code !== 1) trouble = `the runner exited ${code ?? signal}:\n${out}\n${err.slice(-3000)}`;
    if (existsSync(RESULTS)) run = (JSON.parse(readFileSync(RESULTS, 'utf8')) as { runs: Run[] }).runs.find((x) => x.target === 'tinflow');
    else trouble ||= `the runner wrote no ${RESULTS}:\n${err.slice(-3000)}`;
  }, (RUN_TIMEOUT_S + 40) * 1000);

  it('the tester ran to the end', () => {
    expect(trouble, trouble).toBe('');
    expect(run?.aborted, run?.aborted).toBeUndefined();
    expect(run?.total).toBe(files.reduce((n, f) => n + f.tests.length, 0));
  });

  it.each(files)('$file: every test passes', ({ file, tests }) => {
    expect(run, trouble || 'the runner reported nothing for tinflow').toBeDefined();
    const got = new Map((run?.tests ?? []).filter((t) => t.file === file).map((t) => [t.test, t]));
    const failures = tests.map((t) => got.get(t) ?? { file, test: t, result: 'NOT RUN', reason: 'not in the results' }).filter((t) => t.result !== 'OK');
    expect(failures.map((t) => `${t.test}: ${t.result}${t.reason ? ` — ${t.reason}` : ''}`)).toEqual([]);
  });
});
