/**
 * Files that hold secrets (SECURITY.md): a node config (XMPP and TURN passwords), the status token file
 * and the controller's REST token file must not be open to group or others. One that is open is refused
 * as ssh refuses an open key, with a message naming the file, its mode and the fix (`chmod 600 FILE`),
 * by base/secret.ts directly and by the CLIs as a user runs them (scripts/tinflow, from dist/: exit 2).
 * No root needed: nothing is started.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../base/cli.js';
import { SecretFileError, checkSecretFile, readTokenFile } from '../../base/secret.js';
import { parseControllerArgs } from '../../controller/config.js';
import { loadNodeConfig } from '../../overlay/config.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TINFLOW = join(ROOT, 'scripts', 'tinflow');
const TOKEN = 'secret-files-token-0123456789';

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TINFLOW, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'tinflow-trust-secret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes text to dir/name with exactly `mode` (chmod after: the umask must not hide a bad mode). */
function file(name: string, text: string, mode: number): string {
  const f = join(dir, name);
  writeFileSync(f, text, { mode: 0o600 });
  chmodSync(f, mode);
  return f;
}

function nodeConfig(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    Overlay: 'lab',
    Signal: { HostAddress: '203.0.113.10', Username: 'node-a@natlab.test', Password: 'xmpp-secret', Tls: 'none', Sasl: 'plain' },
    LinkManager: { Turn: [{ Address: '203.0.113.10:3478', User: 'tf', Password: 'turn-secret' }] },
    StateDir: 'state',
    ...extra,
  });
}

describe('a secret file open to group or others', () => {
  it.each([0o600, 0o400, 0o700])('is taken with mode %o', (mode) => {
    expect(() => checkSecretFile(file(`ok-${mode.toString(8)}`, 'x', mode))).not.toThrow();
  });

  it.each([
    [0o644, '0644'], [0o640, '0640'], [0o604, '0604'], [0o660, '0660'], [0o620, '0620'], [0o602, '0602'], [0o601, '0601'], [0o777, '0777'],
  ])('is refused with mode %o, naming the file, the mode and chmod 600', (mode, shown) => {
    const f = file(`open-${shown}`, 'x', mode);
    expect(() => checkSecretFile(f, 'passwords')).toThrow(SecretFileError);
    expect(() => checkSecretFile(f, 'passwords')).toThrow(`${f} holds passwords but its mode ${shown} lets group or others access it; refusing to use it: run chmod 600 ${f}`);
  });

  it('names a missing file', () => {
    expect(() => checkSecretFile(join(dir, 'nope'))).toThrow(/cannot read .*nope: ENOENT/);
  });
});

describe('token files', () => {
  it('reads the first line, trimmed', () => {
    expect(readTokenFile(file('t1', `  ${TOKEN}  \nsecond line\n`, 0o600))).toBe(TOKEN);
  });

  it.each([
    ['an empty file', '', /is empty; use at least 16/],
    ['a short token', 'abc\n', /is 3 characters; use at least 16 \(e\.g\. openssl rand -hex 32 >/],
    ['a token with a space', 'abcdefgh ijklmnopqrs', /printable ASCII without spaces/],
  ])('refuses %s', (_what, text, why) => {
    expect(() => readTokenFile(file('t2', text, 0o600))).toThrow(why);
  });

  it('refuses an open one before reading it', () => {
    const f = file('t3', TOKEN, 0o644);
    expect(() => readTokenFile(f)).toThrow(`${f} holds a token but its mode 0644`);
  });
});

describe('the node config', () => {
  it('loads a file of mode 0600 and refuses one of 0644 with the fix', () => {
    const f = file('node.json', nodeConfig(), 0o600);
    expect(loadNodeConfig(f).signal.password).toBe('xmpp-secret');
    chmodSync(f, 0o644);
    expect(() => loadNodeConfig(f)).toThrow(ConfigError);
    expect(() => loadNodeConfig(f)).toThrow(`${f} holds passwords but its mode 0644 lets group or others access it; refusing to use it: run chmod 600 ${f}`);
  });
});

describe('the controller flags', () => {
  it('refuses an open --rest-token-file, naming the flag', () => {
    const f = file('rest.token', TOKEN, 0o640);
    expect(() => parseControllerArgs(['--rest', '8080', '--rest-token-file', f])).toThrow(`--rest-token-file: ${f} holds a token but its mode 0640`);
    expect(() => parseControllerArgs(['--rest-token-file', f])).toThrow(/--rest-token-file: needs --rest/);
  });
});

describe('the CLIs as a user runs them', () => {
  it('has a fresh dist/ for the files checked here', () => {
    for (const f of ['base/secret.ts', 'controller/config.ts', 'overlay/config.ts', 'overlay/cli.ts']) {
      const js = join(ROOT, 'dist', f.replace(/\.ts$/, '.js'));
      expect(existsSync(js) && statSync(js).mtimeMs >= statSync(join(ROOT, f)).mtimeMs, `dist/ is older than ${f}: run "npx tsc -p tsconfig.build.json" first`).toBe(true);
    }
  });

  it('tinflow node refuses an open config with status 2 and the fix', () => {
    const f = file('open-node.json', nodeConfig(), 0o644);
    const r = run('node', '--config', f, '--check-config');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tinflow node: ${f} holds passwords but its mode 0644 lets group or others access it; refusing to use it: run chmod 600 ${f}\n`);
    expect(r.stderr).not.toMatch(/xmpp-secret|turn-secret/);
  });

  it('tinflow node refuses an open Status.TokenFile, and a Status beyond loopback without one', () => {
    const tok = file('status.token', TOKEN, 0o644);
    const f = file('node-tok.json', nodeConfig({ Status: { Listen: '0.0.0.0:9410', TokenFile: tok } }), 0o600);
    const r = run('node', '--config', f, '--check-config');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`$.Status.TokenFile: ${tok} holds a token but its mode 0644`);
    expect(r.stderr).toContain(`chmod 600 ${tok}`);
    chmodSync(tok, 0o600);
    const ok = run('node', '--config', f, '--check-config');
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(TOKEN);
    expect(JSON.parse(ok.stdout)).toMatchObject({ Status: { Listen: '0.0.0.0:9410', TokenFile: tok } });
    const open = file('node-open.json', nodeConfig({ Status: { Listen: '0.0.0.0:9410' } }), 0o600);
    const r2 = run('node', '--config', open, '--check-config');
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('$.Status.Listen: 0.0.0.0 is not loopback: the status and web view would be open to other machines; set Status.TokenFile');
  });

  it('tinflow controller refuses --rest beyond loopback without a token, and an open token file', () => {
    const r = run('controller', '--rest', '0.0.0.0:0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tinflow controller: --rest: 0\.0\.0\.0 is not loopback: .*--rest-token-file FILE/);
    const f = file('ctl.token', TOKEN, 0o604);
    const r2 = run('controller', '--rest', '0.0.0.0:0', '--rest-token-file', f);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toBe(`tinflow controller: --rest-token-file: ${f} holds a token but its mode 0604 lets group or others access it; refusing to use it: run chmod 600 ${f}\n`);
  });
});
