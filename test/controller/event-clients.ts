/**
 * WebSocket clients of the controller's /events for tests: one that keeps every JSON message it gets, and
 * one that upgrades by hand and then stops reading, like a client on a link that has stalled.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Socket, createConnection } from 'node:net';
import WebSocket from 'ws';

export type Event = Record<string, unknown> & { event?: string; error?: string };

export function waitFor<T>(get: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const v = get();
      if (v !== undefined && v !== false) resolve(v);
      else if (Date.now() > deadline) reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

/** A WebSocket client of /events that keeps every JSON message it gets. */
export class EventClient {
  readonly got: Event[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.got.push(JSON.parse(data.toString()) as Event));
    ws.on('close', (code: number) => (this.closeCode = code));
  }

  static async open(url: string): Promise<EventClient> {
    const ws = new WebSocket(url);
    const c = new EventClient(ws);
    await once(ws, 'open');
    return c;
  }

  of(event: string): Event[] {
    return this.got.filter((e) => e.event === event);
  }

  wait(pred: (e: Event) => boolean, what: string, ms = 5000): Promise<Event> {
    return waitFor(() => this.got.find(pred), ms, what);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.ws, 'close');
    this.ws.close();
    await closed;
  }
}

/**
 * A WebSocket client that does the upgrade by hand and then stops reading: the controller's writes to it
 * back up, as they would to a client on a slow link.
 */
export async function stalledClient(port: number, path: string): Promise<Socket> {
  const sock = createConnection({ host: '127.0.0.1', port });
  await once(sock, 'connect');
  sock.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      sock.pause();
      if (head.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(`no upgrade: ${head.split('\r\n')[0] ?? ''}`));
    };
    sock.on('data', onData);
  });
  return sock;
}
