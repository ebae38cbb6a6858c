/**
 * The node's control socket, StateDir/node.ctl: a unix socket speaking one JSON request per line
 * (`{"cmd": "status"}`) and one JSON reply per line (`{"ok": true, "status": {...}}` or
 * `{"ok": false, "error": "..."}`), as the switch's control socket does (switch/ctl.ts).
 *
 * Commands: `status` (overlay/node.ts NodeStatus: the node, its TAP, its ports, its links with their
 * selected candidate types and set-up times, the peers it dials) and `dump-ports` (the datapath's).
 * The socket file is made mode 0600: the status names the node's peers and addresses.
 *
 * May import: node: modules.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { type Server, createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';

export type CtlHandlers = Readonly<Record<string, () => unknown>>;

/** Serves handlers on a unix socket at path (a stale socket file is replaced). Resolves once listening. */
export async function serveNodeCtl(path: string, handlers: CtlHandlers): Promise<Server> {
  if (existsSync(path)) unlinkSync(path);
  const server = createServer((sock) => {
    sock.on('error', () => undefined); // a client that went away is no concern of the node
    createInterface({ input: sock }).on('line', (line) => {
      let reply: object;
      try {
        const req: unknown = JSON.parse(line);
        const cmd = req !== null && typeof req === 'object' && 'cmd' in req ? (req as { cmd: unknown }).cmd : undefined;
        const h = typeof cmd === 'string' && Object.hasOwn(handlers, cmd) ? handlers[cmd] : undefined;
        if (h === undefined) throw new Error(`unknown command ${JSON.stringify(cmd)} (${Object.keys(handlers).join(', ')})`);
        reply = { ok: true, [cmd as string]: h() };
      } catch (e) {
        reply = { ok: false, error: e instanceof Error ? e.message : String(e) };
      }
      sock.write(`${JSON.stringify(reply)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return server;
}

/** Sends one command to a node's control socket and resolves with the reply's value for it. */
export function nodeCtl(path: string, cmd: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to ${cmd} on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      sock.destroy();
      fn();
    };
    sock.on('error', (e) => done(() => reject(new Error(`${path}: ${e.message}`))));
    sock.on('connect', () => sock.write(`${JSON.stringify({ cmd })}\n`));
    const lines = createInterface({ input: sock });
    // readline re-emits the socket's errors (ENOENT for a node that is not running): handled above.
    lines.on('error', () => undefined);
    lines.once('line', (line) => {
      done(() => {
        const r = JSON.parse(line) as { ok: boolean; error?: string; [k: string]: unknown };
        if (r.ok) resolve(r[cmd]);
        else reject(new Error(`${path}: ${r.error ?? 'refused'}`));
      });
    });
  });
}
