/**
 * No secret in any log (SECURITY.md): a whole overlay runs in the NAT lab at LogLevel debug — three
 * `tinflow node` processes behind home routers (one symmetric, so its link goes through the TURN relay),
 * each with a status token file — next to a `tinflow controller` on ssl: with a REST token and a
 * `tinflow switch` dialling it with its own certificate, both at debug. Every line every process writes
 * (stdout and stderr, start to exit) is kept, and each secret is looked for in all of them: the XMPP
 * passwords, the TURN credential, the status and REST tokens, and the body of every private key (the
 * nodes' DTLS keys, the controller's and the switch's TLS keys). None may appear. The status JSON each
 * node serves is checked the same way.
 *
 * Needs root, prosody, coturn, nftables and a fresh dist/ (`npx tsc -p tsconfig.build.json`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Coturn, type Prosody, NatLab, natLabMissing, natRouter, nodeBehind, startCoturn, startProsody } from '../../scripts/natlab.js';
import { type RunningNode, TINFLOW, distStale, labNodeConfig, ping, startLabNode, statusOf, upLink } from '../../scripts/overlay-lab.js';
import { freePort } from '../helpers/free-port.js';
import { waitFor } from '../helpers/wait.js';

const NAMES = ['a', 'b', 'c'] as const;
type Name = (typeof NAMES)[number];
const ID: Record<Name, string> = { a: 'a1000000000000000000000000000000', b: 'b1000000000000000000000000000000', c: 'c1000000000000000000000000000000' };
const IP: Record<Name, number> = { a: 1, b: 2, c: 3 };

/** Secrets that cannot turn up by chance: a name and 24 random hex digits. */
const secret = (what: string): string => `${what}-${randomBytes(12).toString('hex')}`;
const XMPP: Record<Name, string> = { a: secret('xmpp-a'), b: secret('xmpp-b'), c: secret('xmpp-c') };
const TURN = secret('turn');
const STATUS_TOKEN = secret('status-token');
const REST_TOKEN = secret('rest-token');

/** The base64 lines of a PEM private key's body, and the body joined (a log might print it either way). */
function keyBody(file: string): string[] {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  return [...lines.filter((l) => l.length >= 24), lines.join('')];
}

describe('no secret in the logs of a running overlay', () => {
  const missing = natLabMissing();
  let nat: NatLab;
  let prosody: Prosody;
  let coturn: Coturn;
  const nodes: Partial<Record<Name, RunningNode>> = {};
  /** Every chunk every process wrote, by process name. */
  const output = new Map<string, string[]>();
  const keep = (name: string, p: ChildProcess): void => {
    const chunks: string[] = [];
    output.set(name, chunks);
    p.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
    p.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
  };
  const keyFiles: string[] = [];
  const statuses: string[] = [];
  let setupError: unknown;

  beforeAll(async () => {
    if (missing.length > 0) return;
    try {
      const stale = distStale();
      if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
      nat = new NatLab('ls');
      const ra = natRouter(nat, { name: 'ra' });
      const rb = natRouter(nat, { name: 'rb' });
      const rc = natRouter(nat, { name: 'rc', symmetric: true });
      const labs = { a: nodeBehind(ra, 'na'), b: nodeBehind(rb, 'nb'), c: nodeBehind(rc, 'nc') };
      [prosody, coturn] = await Promise.all([
        startProsody(nat, { accounts: NAMES.map((n) => ({ user: `node-${n}`, password: XMPP[n] })) }),
        startCoturn(nat, { user: 'tf', password: TURN }),
      ]);
      for (const n of NAMES) {
        const dir = nat.lab.tempDir(`node-${n}`);
        writeFileSync(join(dir, 'status.token'), `${STATUS_TOKEN}\n`, { mode: 0o600 });
        const cfg = labNodeConfig(prosody, coturn, n, {
          nodeId: ID[n], ip: IP[n], password: XMPP[n], echoMs: 500, timeoutMs: 3000,
          extra: { LogLevel: 'debug', Status: { Listen: '127.0.0.1:0', TokenFile: 'status.token' } },
        });
        const node = startLabNode(nat, labs[n], n, cfg, { dir });
        keep(`node ${n}`, node.proc);
        nodes[n] = node;
        keyFiles.push(join(dir, 'state', 'key.pem'));
      }
    } catch (e) {
      setupError = e;
    }
  }, 90_000);

  afterAll(async () => {
    await nat?.close();
  }, 30_000);

  it.skipIf(missing.length > 0)('runs the overlay: every node links to every other, the symmetric one through TURN', async () => {
    if (setupError !== undefined) throw setupError;
    const all = NAMES.map((n) => nodes[n] as RunningNode);
    for (const n of all) {
      for (const peer of NAMES.filter((p) => ID[p] !== n.nodeId)) {
        await waitFor(`node ${n.name}'s link with ${peer}`, async () => {
          n.alive();
          const s = await statusOf(n).catch(() => undefined); // the socket file may be there before its listener
          return s === undefined ? undefined : upLink(s, ID[peer]);
        }, 60_000, { detail: () => n.tail() });
      }
    }
    const c = await statusOf(nodes.c as RunningNode);
    expect(c?.links.some((l) => l.state === 'up' && (l.local?.type === 'relay' || l.remote?.type === 'relay'))).toBe(true);
    for (const n of all) statuses.push(JSON.stringify(await statusOf(n)));
    expect(ping(nodes.a as RunningNode, `10.10.10.${IP.c}`, 3).received).toBeGreaterThan(0);
  }, 120_000);

  it.skipIf(missing.length > 0)('runs a controller on ssl: with a REST token, and a switch dialling it, at debug', async () => {
    if (setupError !== undefined) throw setupError;
    const dir = nat.lab.tempDir('tls');
    const ssl = (...a: string[]): void => void execFileSync('openssl', a, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'];
    ssl('req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=log test ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    for (const who of ['ctl', 'sw']) {
      ssl('req', '-x509', ...EC, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-keyout', `${who}.key`, '-out', `${who}.pem`, '-subj', `/CN=${who}`, '-addext', 'basicConstraints=CA:FALSE');
      keyFiles.push(join(dir, `${who}.key`));
    }
    keyFiles.push(join(dir, 'ca.key'));
    writeFileSync(join(dir, 'rest.token'), REST_TOKEN, { mode: 0o600 });
    const [ofPort, restPort] = [await freePort(), await freePort()];
    const ctl = nat.lab.track(spawn(process.execPath, [TINFLOW, 'controller', '--listen', `ssl:127.0.0.1:${ofPort}`, '--cert', join(dir, 'ctl.pem'), '--key', join(dir, 'ctl.key'),
      '--ca', join(dir, 'ca.pem'), '--rest', `127.0.0.1:${restPort}`, '--rest-token-file', join(dir, 'rest.token'), '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    keep('controller', ctl);
    const sw = nat.lab.track(spawn(process.execPath, [TINFLOW, 'switch', '--name', nat.lab.name('sw'), '--dpid', '00000000000000e5', '--controller', `ssl:127.0.0.1:${ofPort}`,
      '--no-local', '--cert', join(dir, 'sw.pem'), '--key', join(dir, 'sw.key'), '--ca', join(dir, 'ca.pem'), '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    keep('switch', sw);
    const rest = `http://127.0.0.1:${restPort}`;
    const switches = await waitFor('the switch in the REST API', async () => {
      const r = await fetch(`${rest}/stats/switches`, { headers: { authorization: `Bearer ${REST_TOKEN}` } }).catch(() => undefined);
      const got = r?.ok ? ((await r.json()) as number[]) : [];
      return got.includes(0xe5) ? got : undefined;
    }, 30_000, { detail: () => (output.get('controller') ?? []).join('').slice(-1500) });
    expect(switches).toContain(0xe5);
    // A wrong token, to have the refusal path logged too.
    expect((await fetch(`${rest}/stats/switches`, { headers: { authorization: `Bearer ${REST_TOKEN}x` } })).status).toBe(401);
  }, 60_000);

  it.skipIf(missing.length > 0)('finds none of the secrets in any line any process wrote', async () => {
    if (setupError !== undefined) throw setupError;
    const keys = keyFiles.map((f) => [f, keyBody(f)] as const); // read before close() removes the folders
    await nat.close(); // every process stopped (SIGTERM): its shutdown lines are in too
    const secrets: [string, string][] = [
      ...NAMES.map((n): [string, string] => [`node ${n}'s XMPP password`, XMPP[n]]),
      ['the TURN credential', TURN],
      ['the status token', STATUS_TOKEN],
      ['the REST token', REST_TOKEN],
      ...keys.flatMap(([f, body]) => body.map((b): [string, string] => [`the private key ${f}`, b])),
    ];
    expect(keyFiles.length).toBe(NAMES.length + 3);
    const lines = [...output].flatMap(([name, chunks]) => chunks.join('').split('\n').map((line) => ({ name, line })));
    // Every process did log, the nodes at debug (a check that cannot pass on an empty capture).
    for (const name of [...NAMES.map((n) => `node ${n}`), 'controller', 'switch']) {
      expect(lines.filter((l) => l.name === name && l.line.startsWith('{"level":')).length, `${name}'s log lines`).toBeGreaterThan(0);
    }
    for (const n of NAMES) expect(lines.filter((l) => l.name === `node ${n}` && l.line.startsWith('{"level":20')).length, `node ${n}'s debug lines`).toBeGreaterThan(0);
    // What sits next to the secrets is logged (the accounts, the TURN server): the capture is the real one.
    for (const n of NAMES) expect(lines.some((l) => l.name === `node ${n}` && l.line.includes(`node-${n}@`)), `node ${n}'s account in its log`).toBe(true);
    // What sits next to the secrets is logged (the accounts, the TURN server): the capture is the real one.
    for (const n of NAMES) expect(lines.some((l) => l.name === `node ${n}` && l.line.includes(`node-${n}@`)), `node ${n}'s account in its log`).toBe(true);
    const leaks = secrets.flatMap(([what, s]) => lines.filter((l) => l.line.includes(s)).map((l) => `${what} in ${l.name}: ${l.line.slice(0, 300)}`));
    expect(leaks).toEqual([]);
    const statusLeaks = secrets.filter(([, s]) => statuses.some((j) => j.includes(s))).map(([what]) => what);
    expect(statusLeaks).toEqual([]);
  }, 60_000);
});
