/**
 * `tinflow node` as a user runs it (scripts/tinflow, from dist/): `--check-config` prints the resolved
 * config with every default filled in and the passwords masked, exit 0; a bad config lists each
 * section's mistake with the file and key path on stderr, exit 2; so do a missing --config, a file that
 * is not there and an unknown flag. No root needed: nothing is started.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TINFLOW = join(ROOT, 'scripts', 'tinflow');

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TINFLOW, 'node', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tinflow node --check-config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-node-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(() => {
    for (const f of readdirSync(join(ROOT, 'overlay')).filter((x) => x.endsWith('.ts'))) {
      const js = join(ROOT, 'dist', 'overlay', f.replace(/\.ts$/, '.js'));
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(ROOT, 'overlay', f)).mtimeMs) throw new Error(`dist/ is older than overlay/${f}: run "npx tsc -p tsconfig.build.json" first`);
    }
  });

  it('prints the resolved config with the passwords masked, and exits 0', () => {
    const file = join(dir, 'good.json');
    writeFileSync(
      file,
      JSON.stringify({
        Overlay: 'lab',
        Signal: { HostAddress: '203.0.113.10', Port: '5222', Username: 'node-a@natlab.test', Password: 'xmpp-secret', Tls: 'none', Sasl: 'plain' },
        LinkManager: { Stun: ['203.0.113.10:3478'], Turn: [{ Address: '203.0.113.10:3478', User: 'tf', Password: 'turn-secret' }] },
        AppBridge: { IP4: '10.10.10.1' },
        StateDir: 'state',
      }),
      { mode: 0o600 },
    );
    const r = run('--config', file, '--check-config');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/xmpp-secret|turn-secret/);
    const shown = JSON.parse(r.stdout) as Record<string, Record<string, unknown>>;
    expect(shown.Signal).toMatchObject({ Port: 5222, Password: '********', MucDomain: 'conference.natlab.test' });
    expect(shown.LinkManager).toMatchObject({ Turn: [{ User: 'tf', Password: '********' }], Mtu: 1400, TimeoutMs: 5000 });
    expect(shown.AppBridge).toEqual({ Name: 'tf-lab', IP4: '10.10.10.1', PrefixLen: 24, MTU: 1351 });
    expect(shown.StateDir).toBe(join(dir, 'state'));
  });

  it('lists every section\'s mistake with the file and key path, and exits 2', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ Overlay: 'lab', Signal: { Username: 'a@natlab.test', Password: 'p', Port: 70000 }, LinkManager: { Mtu: 10 }, Peerz: [] }), { mode: 0o600 });
    const r = run('--config', file, '--check-config');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `tinflow node: ${file}: $.Peerz: unknown key in the node configuration; expected NodeId, Overlay, Signal, LinkManager, AppBridge, Topology, BoundedFlood, Controller, Status, LogLevel, StateDir`,
    ]);
    writeFileSync(file, JSON.stringify({ Overlay: 'lab', Signal: { Username: 'a@natlab.test', Password: 'p', Port: 70000 }, LinkManager: { Mtu: 10 } }), { mode: 0o600 });
    const r2 = run('--config', file);
    expect(r2.code).toBe(2);
    expect(r2.stderr.trim().split('\n')).toEqual([
      `tinflow node: ${file}: $.Signal.Port: expected an integer 1..65535, got 70000`,
      `tinflow node: ${file}: $.LinkManager.Mtu: expected a whole number from 68 to 8900, got 10`,
    ]);
  });

  it.each([
    [[], /--config: missing/],
    [['--config', '/nonexistent/node.json'], /cannot read \/nonexistent\/node\.json/],
    [['--config', 'x.json', '--frobnicate'], /--frobnicate/],
    [['--config', 'x.json', '--log-level', 'loud'], /--log-level: expected/],
  ])('refuses %j with exit 2', (args, message) => {
    const r = run(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
