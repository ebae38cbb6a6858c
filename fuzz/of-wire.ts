/**
 * A raw OpenFlow peer over TCP for the live-channel fuzz targets (of-switch.ts, of-controller.ts): it
 * writes whatever bytes it is given, frames what comes back, and hands each message to its owner both
 * as bytes and decoded. A message from the other side that does not decode is the other side's bug, so
 * it is reported (`onUndecodable`), not thrown.
 *
 * May import: anything (fuzz/).
 */
import { once } from 'node:events';
import { type Socket, createConnection } from 'node:net';
import { Framer, type OFPMessage, decode } from '../openflow/index.js';
import { rngU32 } from '../test/helpers/rng.js';
import { Rng } from '../test/openflow/gen.js';

export interface WirePeerOptions {
  /** Each message the other side sent, in order (may be set later: `peer.onMessage = ...`). */
  readonly onMessage?: (msg: OFPMessage, bytes: Buffer) => void;
  /** A message that did not frame or decode (the other side broke the protocol). */
  readonly onUndecodable?: (what: string) => void;
}

export class WirePeer {
  private readonly framer = new Framer();
  private closeWaiters: (() => void)[] = [];
  closed = false;
  /** Each message the other side sent, in order. */
  onMessage: (msg: OFPMessage, bytes: Buffer) => void;

  constructor(
    readonly sock: Socket,
    private readonly opts: WirePeerOptions,
  ) {
    this.onMessage = opts.onMessage ?? (() => undefined);
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  static async connect(port: number, opts: WirePeerOptions): Promise<WirePeer> {
    const sock = createConnection({ host: '127.0.0.1', port });
    await once(sock, 'connect');
    return new WirePeer(sock, opts);
  }

  write(bytes: Buffer): void {
    if (!this.closed) this.sock.write(bytes);
  }

  /** Resolves true once the connection has closed, false if ms pass first. */
  whenClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.closeWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  destroy(): void {
    this.sock.destroy();
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      this.opts.onUndecodable?.(`unframeable stream: ${e instanceof Error ? e.message : String(e)}`);
      this.sock.destroy();
      return;
    }
    for (const f of frames) {
      let msg: OFPMessage;
      try {
        msg = decode(f);
      } catch (e) {
        this.opts.onUndecodable?.(`undecodable message ${f.subarray(0, 64).toString('hex')}: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      this.onMessage(msg, f);
    }
  }
}

/** A promise with its resolve, for waiting on a reply. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves with p's value, or with `fallback` once ms have passed. */
export function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(fallback);
      },
    );
  });
}

/**
 * gen.ts's Rng (what its generators and the mutations take) with integers drawn from test/helpers/rng.ts's
 * 32-bit generator instead of BigInt arithmetic: the live targets draw millions of small integers, and
 * this keeps the same seed giving the same inputs at a fraction of the cost.
 */
export class FastRng extends Rng {
  private readonly u32: () => number;
  constructor(seed: number) {
    super(seed);
    this.u32 = rngU32(seed);
  }
  override int(n: number): number {
    if (n > 0x100000000) return super.int(n);
    return Math.floor((this.u32() / 0x100000000) * n);
  }
}
