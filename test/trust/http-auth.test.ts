/**
 * The HTTP trust boundary (SECURITY.md): the controller's REST API (controller/rest.ts) and the node's
 * status and web view (overlay/status-http.ts) bind loopback unless told otherwise, refuse to bind
 * anything else without a token, and with a token answer 401 with a JSON error to every request that
 * lacks it or carries a wrong one, WebSocket routes included.
 *
 * The real fastify servers listen on a non-loopback address: one end of a veth pair made here, whose
 * other end sits in a namespace of its own (another "machine"); curl runs in that namespace. Root only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { ConfigError } from '../../base/cli.js';
import { nullLogger } from '../../base/logger.js';
import { isLoopback, tokensEqual } from '../../base/secret.js';
import { parseControllerArgs } from '../../controller/config.js';
import { Controller } from '../../controller/controller.js';
import { type RestServer, startRest } from '../../controller/rest.js';
import type { NodeStatus } from '../../overlay/node.js';
import { type StatusServer, serveNodeStatus, serveWebView } from '../../overlay/status-http.js';
import { Lab, ip } from '../../scripts/netlab.js';

const isRoot = process.getuid?.() === 0;
const TOKEN = 'trust-test-token-0123456789abcdef';
/** A TEST-NET-2 address for this run's host end (the third octet from the pid, so runs do not clash). */
const NET = `198.51.${process.pid % 250}`;
const HOST = `${NET}.1`;

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** curl from the other namespace: the status and body of one request (async: the servers run in this process). */
async function curlFrom(ns: string, url: string, headers: readonly string[] = []): Promise<Answer> {
  const args = ['netns', 'exec', ns, 'curl', '-s', '-m', '20', '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url];
  const { stdout: out } = await promisify(execFile)('ip', args, { encoding: 'utf8' });
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
}

/** Opens a WebSocket; resolves 'open' or the HTTP status of a refused upgrade. */
function wsOutcome(url: string, headers: Record<string, string> = {}): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

function stubStatus(): NodeStatus {
  return {
    nodeId: 'a0000000000000000000000000000000', overlay: 'lab', jid: 'node-a@example.org', fingerprint: 'sha-256 00', signalOnline: true,
    tap: { name: 'tf-a', port: 1, hwAddr: '02:00:00:00:00:01', ip4: '10.10.10.1', prefixLen: 24, mtu: 1350 },
    ports: [], links: [],
    topology: { ring: [], successors: [], available: [], edges: [], backoff: [], changes: { add: 0, remove: 0, refusedOut: 0, refusedIn: 0 } },
    controller: { kind: 'in-tree', target: 'tcp:127.0.0.1:4321', connected: true }, flood: undefined, flows: 0, recursionGuard: undefined,
  };
}

describe('loopback', () => {
  it.each([
    ['127.0.0.1', true], ['127.1.2.3', true], ['::1', true], ['[::1]', true], ['0:0:0:0:0:0:0:1', true], ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false], ['::', false], ['10.0.0.1', false], ['198.51.100.1', false], ['::ffff:10.0.0.1', false], ['fe80::1', false], ['128.0.0.1', false],
  ])('%s is loopback: %s', (host, want) => {
    expect(isLoopback(host)).toBe(want);
  });

  it('compares tokens by value, whatever their lengths', () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true);
    expect(tokensEqual(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokensEqual(TOKEN, '')).toBe(false);
  });
});

describe.skipIf(!isRoot)('HTTP servers beyond loopback', () => {
  const lab = new Lab('ta');
  let ns = '';
  let dir = '';
  let tokenFile = '';
  const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], apps: [], logger: nullLogger });
  const servers: (RestServer | StatusServer)[] = [];

  beforeAll(async () => {
    ns = lab.ns('c');
    const hostEnd = lab.name('h');
    const nsEnd = lab.name('n');
    lab.veth(hostEnd, nsEnd);
    ip('addr', 'add', `${HOST}/24`, 'dev', hostEnd);
    lab.move(nsEnd, ns, `${NET}.2/24`);
    dir = lab.tempDir('auth');
    tokenFile = join(dir, 'rest.token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    await ctl.start();
  });

  afterAll(async () => {
    try {
      // A server that does not close within a while is a failure of its own (close() must not hang on
      // refused upgrades); the lab goes either way.
      const closed = await Promise.race([Promise.allSettled(servers.map((s) => s.close())).then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000))]);
      await ctl.stop();
      expect(closed, 'every server closed').toBe(true);
    } finally {
      await lab.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  describe('the controller REST API', () => {
    it('refuses --rest beyond loopback without --rest-token-file, naming the flag', () => {
      expect(() => parseControllerArgs(['--rest', `${HOST}:8080`])).toThrow(ConfigError);
      expect(() => parseControllerArgs(['--rest', `${HOST}:8080`])).toThrow(/--rest: 198\.51\.\d+\.1 is not loopback: .*--rest-token-file FILE/);
      expect(() => parseControllerArgs(['--rest', '0.0.0.0:8080'])).toThrow(/0\.0\.0\.0 is not loopback/);
      expect(parseControllerArgs(['--rest', '8080']).rest).toEqual({ host: '127.0.0.1', port: 8080 });
      expect(parseControllerArgs(['--rest', `${HOST}:8080`, '--rest-token-file', tokenFile]).rest).toEqual({ host: HOST, port: 8080, token: TOKEN });
    });

    it('refuses to start beyond loopback without a token', async () => {
      await expect(startRest(ctl, { host: HOST, port: 0 })).rejects.toThrow(/the REST API on 198\.51\.\d+\.1 would be reachable from other machines without a token/);
    });

    it('answers 401 with a JSON error without the token or with a wrong one, and serves with it', async () => {
      const rest = await startRest(ctl, { host: HOST, port: 0, token: TOKEN });
      servers.push(rest);
      const url = rest.url;
      expect(url).toContain(HOST);
      for (const path of ['/stats/switches', '/metrics', '/stats/flow/1', '/nothing']) {
        const none = await curlFrom(ns, `${url}${path}`);
        expect(none.status, path).toBe(401);
        expect(JSON.parse(none.body)).toEqual({ error: expect.stringMatching(/needs a token/) as unknown });
        const wrong = await curlFrom(ns, `${url}${path}`, [`Authorization: Bearer ${TOKEN.slice(0, -1)}x`]);
        expect(wrong.status, path).toBe(401);
        expect(JSON.parse(wrong.body)).toEqual({ error: 'wrong token' });
        expect(wrong.body).not.toContain(TOKEN);
      }
      // A token in the query is not taken by the REST API: the header only.
      expect((await curlFrom(ns, `${url}/stats/switches?token=${TOKEN}`)).status).toBe(401);
      const ok = await curlFrom(ns, `${url}/stats/switches`, [`Authorization: Bearer ${TOKEN}`]);
      expect(ok).toEqual({ status: 200, body: '[]' });
      const metrics = await curlFrom(ns, `${url}/metrics`, [`Authorization: Bearer ${TOKEN}`]);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('tinflow_controller_datapaths 0');
      const flow = await curlFrom(ns, `${url}/stats/flowentry/add`, [`Authorization: Bearer ${TOKEN}`, 'Content-Type: application/json']);
      expect(flow.status).toBe(404); // GET on a POST route: past the token check, refused by routing
    });

    it('refuses the WebSocket /events without the token', async () => {
      const rest = servers[0] as RestServer;
      const ws = rest.url.replace(/^http/, 'ws');
      expect(await wsOutcome(`${ws}/events`)).toBe(401);
      expect(await wsOutcome(`${ws}/events`, { authorization: 'Bearer wrong-token-wrong-token' })).toBe(401);
      expect(await wsOutcome(`${ws}/events?token=${TOKEN}`)).toBe(401);
      expect(await wsOutcome(`${ws}/events`, { authorization: `Bearer ${TOKEN}` })).toBe('open');
    });

    it('serves loopback without a token by default', async () => {
      const rest = await startRest(ctl, { port: 0 });
      servers.push(rest);
      expect(rest.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
      expect((await fetch(`${rest.url}/stats/switches`)).status).toBe(200);
    });
  });

  describe('the node status and the web view', () => {
    it('refuse to start beyond loopback without a token', async () => {
      await expect(serveNodeStatus({ status: stubStatus, dumpFlows: () => [] }, HOST, 0)).rejects.toThrow(/the node status on 198\.51\.\d+\.1 .* Status\.TokenFile/);
      await expect(serveWebView({ views: async () => [] }, '0.0.0.0', 0)).rejects.toThrow(/the web view on 0\.0\.0\.0 .* Status\.TokenFile/);
    });

    it('answer 401 to data routes without the token; the page itself needs none', async () => {
      const s = await serveNodeStatus({ status: stubStatus, dumpFlows: () => ['priority=0 actions=drop'] }, HOST, 0, { token: TOKEN });
      servers.push(s);
      for (const path of ['/status', '/flows', '/metrics', '/view']) {
        const none = await curlFrom(ns, `${s.url}${path}`);
        expect(none.status, path).toBe(401);
        expect(JSON.parse(none.body)).toHaveProperty('error');
        expect((await curlFrom(ns, `${s.url}${path}`, ['Authorization: Bearer nope-nope-nope-nope'])).status, path).toBe(401);
        expect((await curlFrom(ns, `${s.url}${path}?token=${TOKEN}`)).status, `${path} ?token=`).toBe(401);
        expect((await curlFrom(ns, `${s.url}${path}`, [`Authorization: Bearer ${TOKEN}`])).status, path).toBe(200);
      }
      expect(JSON.parse((await curlFrom(ns, `${s.url}/flows`, [`authorization: bearer ${TOKEN}`])).body)).toEqual(['priority=0 actions=drop']);
      // The page and its script hold no data: a browser opens them before it knows the token.
      const page = await curlFrom(ns, `${s.url}/`);
      expect(page.status).toBe(200);
      expect(page.body).toContain('<html');
      expect((await curlFrom(ns, `${s.url}/assets/view.js`)).status).toBe(200);
    });

    it('checks the WebSocket /live: the header, or ?token= as the page sends it', async () => {
      const s = await serveWebView({ views: async () => [] }, HOST, 0, { token: TOKEN, intervalMs: 100 });
      servers.push(s);
      const ws = s.url.replace(/^http/, 'ws');
      expect(await wsOutcome(`${ws}/live`)).toBe(401);
      expect(await wsOutcome(`${ws}/live?token=wrong-wrong-wrong-wrong`)).toBe(401);
      expect(await wsOutcome(`${ws}/live?token=${encodeURIComponent(TOKEN)}`)).toBe('open');
      expect(await wsOutcome(`${ws}/live`, { authorization: `Bearer ${TOKEN}` })).toBe('open');
    });
  });
});
