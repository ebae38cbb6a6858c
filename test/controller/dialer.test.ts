/**
 * The controller's dialer (controller.ts Dialer, base/redial.ts): a passive switch that accepts TCP and
 * hangs up before the OpenFlow handshake is redialled with growing delays, not every second. (Before
 * base/redial.ts the dialer reset its backoff on every TCP connect, so such a peer was hammered.)
 */
import { once } from 'node:events';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Logger, nullLogger } from '../../base/logger.js';
import { Controller } from '../../controller/controller.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the controller dialling a passive switch', () => {
  it('backs off while the peer accepts TCP and hangs up before the handshake', async () => {
    let accepted = 0;
    const socks: Socket[] = [];
    const server = createServer((sock) => {
      accepted++;
      socks.push(sock);
      sock.on('error', () => undefined);
      sock.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const delays: number[] = [];
    const log: Logger = {
      ...nullLogger,
      debug: (obj: object) => {
        if ('delayMs' in obj && typeof obj.delayMs === 'number') delays.push(obj.delayMs);
      },
    };
    const ctl = new Controller({ switches: [`tcp:127.0.0.1:${(server.address() as AddressInfo).port}`], logger: log });
    cleanups.push(() => ctl.stop());
    await ctl.start();
    await waitFor('three redial delays', () => delays.length >= 3, 15_000);
    expect(accepted).toBeGreaterThanOrEqual(3);
    const [d1, d2, d3] = delays as [number, number, number];
    // 1 s, 2 s, 4 s, each shortened by at most a quarter.
    expect(d1).toBeGreaterThanOrEqual(750);
    expect(d1).toBeLessThanOrEqual(1000);
    expect(d2).toBeGreaterThanOrEqual(1500);
    expect(d2).toBeLessThanOrEqual(2000);
    expect(d3).toBeGreaterThanOrEqual(3000);
    expect(d3).toBeLessThanOrEqual(4000);
  }, 30_000);
});
