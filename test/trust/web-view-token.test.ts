/**
 * The web view page with a token (overlay/web/view.js, SECURITY.md), in Debian's Chromium driven by
 * playwright-core: a view served with a token, opened as `/#token=T&node=<id>`, reads /view with the
 * token as a header and follows /live with it as `?token=`, so the page goes live and shows the node;
 * the token leaves the address bar (the selection stays). Opened without the token, the page says the
 * server needs one and never goes live.
 *
 * Skipped without /usr/bin/chromium (apt package `chromium`).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../overlay/node.js';
import { type StatusServer, serveWebView } from '../../overlay/status-http.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const TOKEN = 'web-view-token-0123456789abcdef';
const ID = 'a2000000000000000000000000000000';

function status(): NodeStatus {
  return {
    nodeId: ID, overlay: 'lab', jid: 'node-a@example.org', fingerprint: 'sha-256 00', signalOnline: true,
    tap: { name: 'tf-a', port: 1, hwAddr: '02:00:00:00:00:01', ip4: '10.10.10.1', prefixLen: 24, mtu: 1350 },
    ports: [], links: [],
    topology: { ring: [ID], successors: [], available: [], edges: [], backoff: [], changes: { add: 0, remove: 0, refusedOut: 0, refusedIn: 0 } },
    controller: { kind: 'in-tree', target: 'tcp:127.0.0.1:4321', connected: true }, flood: undefined, flows: 0, recursionGuard: undefined,
  };
}

describe.skipIf(!existsSync(CHROMIUM))('the web view page with a token', () => {
  let server: StatusServer;
  let context: BrowserContext;
  let userDataDir = '';

  beforeAll(async () => {
    server = await serveWebView({ views: async () => [{ status: status(), flows: ['priority=0 actions=drop'] }] }, '127.0.0.1', 0, { token: TOKEN, intervalMs: 200 });
    userDataDir = mkdtempSync(join(tmpdir(), 'tinflow-trust-web-'));
    context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }, 30_000);

  it('goes live with the token from the address, and takes it out of the address bar', async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/#token=${encodeURIComponent(TOKEN)}&node=${ID}`);
    let connection: string | null = null;
    await waitFor('the page to read "live"', async () => (connection = await page.getByTestId('connection').textContent())?.trim() === 'live', 30_000, {
      intervalMs: 200, detail: () => `connection reads ${JSON.stringify(connection)}`,
    });
    await waitFor('the node\'s row', async () => (await page.getByTestId(`node-${ID}`).count()) === 1, 30_000, { intervalMs: 200 });
    const address = page.url();
    expect(address).not.toContain(TOKEN);
    expect(address).toMatch(new RegExp(`#node=${ID}$`));
    await page.close();
  }, 60_000);

  it('says that the server needs a token when opened without one, and never goes live', async () => {
    const fresh = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    try {
      const page = await fresh.newPage();
      await page.goto(`${server.url}/`);
      let connection: string | null = null;
      await waitFor('the page to ask for a token', async () => /needs a token/.test((connection = await page.getByTestId('connection').textContent()) ?? ''), 30_000, {
        intervalMs: 200, detail: () => `connection reads ${JSON.stringify(connection)}`,
      });
      expect(await page.getByTestId(`node-${ID}`).count()).toBe(0);
    } finally {
      await fresh.close();
    }
  }, 60_000);
});
