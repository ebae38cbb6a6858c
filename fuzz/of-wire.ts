/**
 * What the two live-channel fuzz targets (of-switch.ts, of-controller.ts) share. `WirePeer` is a raw
 * OpenFlow peer over TCP: it writes whatever bytes it is given, frames what comes back, and hands each
 * message to its owner both as bytes and decoded. A message from the other side that does not decode is
 * the other side's bug, so it is reported (`onUndecodable`), not thrown. `Batches` cuts the inputs into
 * batches, each ended by one message whose answer says the batch was handled (`sendBatch` waits for it);
 * `liveRun` sets a run up (its `errorLog` turns the part's error-level log lines into findings);
 * `shortHeader` breaks the framing.
 *
 * May import: anything (fuzz/).
 */
import { once } from 'node:events';
import { type Socket, createConnection } from 'node:net';
import { type Logger, nullLogger } from '../base/logger.js';
import { Framer, type OFPMessage, encode } from '../openflow/index.js';
import { rngU32 } from '../test/helpers/rng.js';
import { Rng } from '../test/openflow/gen.js';
import { readMessages } from '../test/tools/of-stream.js';
import { type FuzzOptions, FuzzRecorder } from './harness.js';
import { openflowSeeds } from './openflow-inputs.js';

/** Inputs per batch (one write, one answer waited for). */
export const BATCH = 512;
/** How long a batch's answer or a well-behaved round trip may take before it is a finding (a hang). */
export const ANSWER_MS = 15_000;

export const HELLO = encode({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] });

export interface WirePeerOptions {
  /** Each message the other side sent, in order (may be set later: `peer.onMessage = ...`). */
  readonly onMessage?: (msg: OFPMessage, bytes: Buffer) => void;
  /** A message that did not frame or decode (the other side broke the protocol). */
  readonly onUndecodable?: (what: string) => void;
  /** Send HELLO (OpenFlow 1.3) as soon as connected. */
  readonly hello?: boolean;
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
    const peer = new WirePeer(sock, opts);
    if (opts.hello === true) peer.write(HELLO);
    return peer;
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
    if (!readMessages(this.framer, chunk, this.opts.onUndecodable, (msg, raw) => this.onMessage(msg, raw))) this.sock.destroy();
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

/**
 * Makes one input framed: at least a header's 8 bytes, at most OpenFlow's 65535, the header's length
 * right; `version` set when given (the caller wants the type, not the version, to be what is wrong).
 */
export function framed(b: Buffer, version?: number): Buffer {
  let out = b.length < 8 ? Buffer.concat([b, Buffer.alloc(8 - b.length)]) : b;
  if (version !== undefined) out[0] = version;
  out = out.subarray(0, 0xffff);
  out.writeUInt16BE(out.length, 2);
  return out;
}

/** A message whose header's length is below 8, after a good hello: the stream cannot go on, so it must close. */
export function shortHeader(rng: Rng): { readonly bytes: Buffer; readonly length: number } {
  const b = Buffer.concat([Buffer.from([4, rng.int(30)]), Buffer.alloc(2), rng.bytes(4 + rng.int(20))]);
  b.writeUInt16BE(rng.int(8), 2);
  return { bytes: Buffer.concat([HELLO, b]), length: b.readUInt16BE(2) };
}

/** A logger whose error-level lines (an exception escaped a handler) are kept, to become findings. */
export function errorLog(): { readonly log: Logger; readonly lines: string[] } {
  const lines: string[] = [];
  const log: Logger = { ...nullLogger, error: (obj: object, msg?: string) => lines.push(`${msg ?? ''} ${JSON.stringify(obj).slice(0, 400)}`) };
  return { log, lines };
}

/** One input of a batch, framed, with the xid it was given. */
export interface FramedInput {
  readonly index: number;
  readonly xid: number;
  readonly bytes: Buffer;
}

export interface Batch {
  /** Counts from 1. */
  readonly no: number;
  /** Index of its first input, and how many it has. */
  readonly start: number;
  readonly n: number;
  /** Inputs for the long connection, in order. */
  readonly framed: readonly FramedInput[];
  /** Indices of the inputs that go on a connection of their own. */
  readonly own: readonly number[];
}

/**
 * Cuts a run's inputs into batches of BATCH: one input in `ownEvery` goes on a connection of its own, the
 * others are made by `make` and given xids from 0x101 up to 0x3fff0000 and round again (the xids above are
 * the targets' own: housekeeping, the batch's last message).
 */
export class Batches {
  private xid = 0x100;
  private no = 0;
  /** Inputs in the batches handed out so far. */
  done = 0;

  constructor(
    private readonly rng: Rng,
    private readonly inputs: number,
    private readonly ownEvery: number,
    private readonly make: () => Buffer,
  ) {}

  next(): Batch | undefined {
    if (this.done >= this.inputs) return undefined;
    const start = this.done;
    const n = Math.min(BATCH, this.inputs - start);
    const framedInputs: FramedInput[] = [];
    const own: number[] = [];
    for (let k = 0; k < n; k++) {
      const index = start + k;
      if (this.rng.int(this.ownEvery) === 0) {
        own.push(index);
        continue;
      }
      const bytes = this.make();
      this.xid = this.xid >= 0x3fff0000 ? 0x100 : this.xid + 1;
      bytes.writeUInt32BE(this.xid, 4);
      framedInputs.push({ index, xid: this.xid, bytes });
    }
    this.done += n;
    return { no: ++this.no, start, n, framed: framedInputs, own };
  }
}

/**
 * Writes a batch's bytes in one write and waits for its last message's answer: `arm` is handed the
 * function to call when it comes. Resolves false when it does not come within ANSWER_MS or the
 * connection closes first.
 */
export function sendBatch(peer: WirePeer, bytes: readonly Buffer[], arm: (answered: () => void) => void): Promise<boolean> {
  const d = deferred<boolean>();
  arm(() => d.resolve(true));
  void peer.whenClosed(ANSWER_MS * 2).then((c) => c && d.resolve(false));
  peer.write(Buffer.concat(bytes));
  return within(d.promise, ANSWER_MS, false);
}

/** The finding for a batch whose last message was not answered: the part closed the connection, or hung. */
export function unanswered(batch: Batch, peer: WirePeer, part: string, connection: string, answer: string): string {
  const range = `${batch.start}..${batch.start + batch.n - 1}`;
  return peer.closed ? `${part} closed ${connection} during the batch of inputs ${range}` : `no ${answer} within ${ANSWER_MS} ms for inputs ${range} (a hang)`;
}

/** After a batch: the part's error-level log lines are findings, and progress is ticked. */
export function endBatch(rec: FuzzRecorder, batch: Batch, errors: string[], part: string): void {
  for (const line of errors.splice(0)) rec.finding(batch.start, `${part} logged an error: ${line}`);
  rec.tick(batch.start + batch.n);
}

/**
 * What a live target starts with: its recorder (memory sampled every 20 batches, a progress line every
 * 400), the rng, the seed messages, and the log whose error lines become findings.
 */
export function liveRun(target: string, opts: FuzzOptions): { rec: FuzzRecorder; rng: FastRng; seeds: Buffer[]; internal: ReturnType<typeof errorLog> } {
  const rec = new FuzzRecorder(target, opts, { sampleEvery: 20 * BATCH, logEvery: 400 * BATCH });
  const rng = new FastRng(opts.seed);
  return { rec, rng, seeds: openflowSeeds(rng), internal: errorLog() };
}
