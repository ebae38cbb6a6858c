/**
 * Two real TinCan links in one process, joined by a direct in-memory signaling exchange (what the link
 * manager will do over XMPP): offer → answer → candidates both ways, in the order the links release
 * them. Hooks let a test change what travels (a tampered SDP) or what each side expects.
 */
import type { FrameBatch } from '../../switch/port.js';
import { type TinCanConfig, resolveLinkConfig } from '../../link/config.js';
import { type IceCandidate, TinCanLink, type TinCanOptions } from '../../link/tincan.js';

/** Loopback, quick echoes; generous timeouts for a loaded 2-core machine. */
export const LOOPBACK: TinCanConfig = resolveLinkConfig({ bindAddress: '127.0.0.1', echoIntervalMs: 200, timeoutMs: 4000, setupTimeoutMs: 20_000 });

/** Budget for one link-up (RECIPES: ~0.4 s, ~1.2 s with a DTLS retransmission; this machine is shared). */
export const UP_MS = 15_000;

let serial = 0;

export interface PairOptions {
  readonly config?: TinCanConfig;
  readonly a?: Partial<TinCanOptions>;
  readonly b?: Partial<TinCanOptions>;
  /** Changes the offer on its way to the responder. */
  readonly mangleOffer?: (sdp: string) => string;
  /** Changes the answer on its way to the initiator. */
  readonly mangleAnswer?: (sdp: string) => string;
  /** What the responder expects of the initiator (default: the fingerprint the offer came with). */
  readonly expectA?: (real: string) => string;
  /** What the initiator expects of the responder. */
  readonly expectB?: (real: string) => string;
  /** Link classes (subclasses for test hooks). */
  readonly makeA?: (o: TinCanOptions) => TinCanLink;
  readonly makeB?: (o: TinCanOptions) => TinCanLink;
}

export interface Pair {
  readonly a: TinCanLink;
  readonly b: TinCanLink;
  /** What happened in signaling, in order (for tests of the ordering). */
  readonly log: string[];
  /** Runs the exchange; rejects with the first signaling error. */
  signal(): Promise<void>;
}

/** Makes the two links (initiator a, responder b) and wires candidates; signal() runs the exchange. */
export function makePair(o: PairOptions = {}): Pair {
  serial++;
  const config = o.config ?? LOOPBACK;
  const aOpts: TinCanOptions = { name: `tcA${serial}`, role: 'initiator', config, peer: 'B', ...o.a };
  const bOpts: TinCanOptions = { name: `tcB${serial}`, role: 'responder', config, peer: 'A', ...o.b };
  const a = (o.makeA ?? ((x) => new TinCanLink(x)))(aOpts);
  const b = (o.makeB ?? ((x) => new TinCanLink(x)))(bOpts);
  const log: string[] = [];
  const relay = (from: string, to: TinCanLink) => (c: IceCandidate) => {
    log.push(`candidate ${from}`);
    try {
      to.addRemoteCandidate(c);
    } catch (e) {
      log.push(`candidate refused: ${(e as Error).message}`);
    }
  };
  a.signals.on('candidate', relay('A', b));
  b.signals.on('candidate', relay('B', a));
  return {
    a,
    b,
    log,
    async signal() {
      const offer = await a.createOffer();
      log.push('offer');
      const answer = await b.acceptOffer((o.mangleOffer ?? ((s) => s))(offer.sdp), (o.expectA ?? ((f) => f))(offer.fingerprint));
      log.push('answer');
      a.applyAnswer((o.mangleAnswer ?? ((s) => s))(answer.sdp), (o.expectB ?? ((f) => f))(answer.fingerprint));
      log.push('answer applied');
    },
  };
}

/** A connected pair. */
export async function connectedPair(o: PairOptions = {}): Promise<Pair> {
  const p = makePair(o);
  await p.signal();
  await Promise.all([p.a.whenUp(), p.b.whenUp()]);
  return p;
}

/** Resolves when cond() holds (checked every 10 ms); rejects with `what` after ms. */
export function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = (): void => {
      if (cond()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

/** Resolves with the reason of the link's 'gone' event (rejects after ms). */
export function gone(link: TinCanLink, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`link ${link.name} not gone within ${ms} ms`)), ms);
    link.once('gone', (reason) => {
      clearTimeout(t);
      resolve(reason);
    });
  });
}

/** Collects what a link delivers (copies, since batch frames are views valid during the call). */
export function collect(link: TinCanLink): { frames: Buffer[]; batches: number } {
  const got = { frames: [] as Buffer[], batches: 0 };
  link.start((batch: FrameBatch) => {
    got.batches++;
    for (let i = 0; i < batch.count; i++) {
      got.frames.push(Buffer.from(batch.frame(i)));
      if (batch.offload(i) !== undefined) throw new Error('a link without offload delivered a virtio-net header');
    }
  });
  return got;
}

/** An Ethernet frame of exactly len bytes (len ≥ 14), numbered `n` in its payload; VLAN-tagged if asked. */
export function frameOf(len: number, n: number, vlan = false): Buffer {
  const f = Buffer.alloc(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + n * 7) & 0xff;
  Buffer.from('02000000000b02000000000a', 'hex').copy(f, 0);
  if (vlan) {
    f.writeUInt16BE(0x8100, 12);
    if (len >= 18) {
      f.writeUInt16BE(0x0064, 14);
      f.writeUInt16BE(0x88b5, 16);
    }
  } else {
    f.writeUInt16BE(0x88b5, 12);
  }
  if (len >= 22) f.writeUInt32BE(n, len - 4);
  return f;
}
