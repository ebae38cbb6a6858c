/** A frame-level peer inside a namespace (test/portio/peer.mjs), and re-exports of the lab. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lab } from '../../scripts/netlab.js';

export { Lab, inNs, ip } from '../../scripts/netlab.js';

/** A frame-level peer inside a namespace (test/portio/peer.mjs). */
export class Peer {
  readonly received: { frame: Buffer; hdr: Buffer | undefined }[] = [];
  gone = false;
  private readonly proc: ChildProcess;
  private readyP: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(lab: Lab, ns: string, ifname: string, offload = false) {
    this.proc = lab.track(
      spawn('ip', ['netns', 'exec', ns, process.execPath, resolve(process.cwd(), 'test/portio/peer.mjs'), ifname, offload ? 'offload' : 'plain'], {
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    let ready!: () => void;
    this.readyP = new Promise((r) => (ready = r));
    createInterface({ input: this.proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [kind, a, b] = line.split(' ');
      if (kind === 'ready') ready();
      else if (kind === 'gone') this.gone = true;
      else if (kind === 'rx' && a) this.received.push({ frame: Buffer.from(a, 'hex'), hdr: b ? Buffer.from(b, 'hex') : undefined });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  ready(): Promise<void> {
    return this.readyP;
  }

  send(frame: Buffer, hdr?: Buffer): void {
    this.proc.stdin?.write(`tx ${frame.toString('hex')}${hdr ? ' ' + hdr.toString('hex') : ''}\n`);
  }

  /** Waits until pred holds (checked on every received line) or the timeout passes. */
  async until(pred: () => boolean, ms = 10_000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return true;
  }

  quit(): void {
    this.proc.stdin?.end('quit\n');
  }
}

/**
 * Moves `bytes` of random data over one TCP connection from namespace n1 to `server`:5999 in n2 (plain
 * Node sockets, so the hosts' offloads apply as they are set); returns both sides' SHA-256 and the count.
 */
export async function tcpTransfer(n1: string, n2: string, bytes: number, server = '10.77.0.2'): Promise<{ sent: string; received: string; n: number }> {
  const srv = spawn('ip', ['netns', 'exec', n2, process.execPath, '-e', `
    const h = require('crypto').createHash('sha256'); let n = 0;
    const s = require('net').createServer((c) => { c.on('data', (d) => { h.update(d); n += d.length; });
      c.on('end', () => { process.stdout.write(JSON.stringify({ received: h.digest('hex'), n })); s.close(); }); });
    s.listen(5999, '${server}', () => process.stderr.write('listening\\n'));`], { stdio: ['ignore', 'pipe', 'pipe'] });
  await once(srv.stderr, 'data');
  const client = spawn('ip', ['netns', 'exec', n1, process.execPath, '-e', `
    const crypto = require('crypto'); const h = crypto.createHash('sha256');
    const c = require('net').connect(5999, '${server}', () => {
      let left = ${bytes};
      const more = () => { while (left > 0) { const chunk = crypto.randomBytes(Math.min(65536, left)); left -= chunk.length; h.update(chunk);
        if (!c.write(chunk)) return c.once('drain', more); } c.end(() => process.stdout.write(h.digest('hex'))); };
      more(); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let sent = '';
  let out = '';
  client.stdout.on('data', (d: Buffer) => (sent += d.toString()));
  srv.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => {
    client.kill();
    srv.kill();
  }, 30_000);
  await Promise.all([once(client, 'close'), once(srv, 'close')]);
  clearTimeout(timer);
  const r = JSON.parse(out || '{"received":"","n":0}') as { received: string; n: number };
  return { sent, received: r.received, n: r.n };
}
