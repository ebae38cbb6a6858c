/** A frame-level peer inside a namespace (test/portio/peer.mjs), and re-exports of the lab. */
import { type ChildProcess, spawn } from 'node:child_process';
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
