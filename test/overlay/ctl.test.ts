/**
 * The node's control socket (overlay/ctl.ts) on its own: the socket file is the owner's only (mode 0600:
 * the status names peers and addresses), a command answers its handler's value, an unknown one an error
 * naming the commands there are, and asking a socket that is not there rejects (it does not throw).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeCtl, serveNodeCtl } from '../../overlay/ctl.js';

const dir = mkdtempSync(join(tmpdir(), 'tinflow-node-ctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the node control socket', () => {
  it('is mode 0600, answers its commands and refuses others by name', async () => {
    const path = join(dir, 'node.ctl');
    const server = await serveNodeCtl(path, { status: () => ({ nodeId: 'n' }) });
    try {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(await nodeCtl(path, 'status')).toEqual({ nodeId: 'n' });
      await expect(nodeCtl(path, 'reboot')).rejects.toThrow(/unknown command "reboot" \(status\)/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a socket that is not there: a rejection naming it', async () => {
    await expect(nodeCtl(join(dir, 'none.ctl'), 'status')).rejects.toThrow(/none\.ctl: connect ENOENT/);
  });
});
