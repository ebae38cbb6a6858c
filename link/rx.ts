/**
 * What a TinCan link does with what its peer sends once the link is up, pure: RTP packets from the media
 * track into a bounded queue of frames, and messages on the control channel into typed control events.
 * No PeerConnection, no timers: link/tincan.ts feeds these from libdatachannel's callbacks and schedules
 * the delivery; the fuzzer (fuzz/link-frames.ts) drives them directly, hundreds of thousands a second.
 *
 * Promises (the fuzzer checks each): nothing a peer sends throws out of here; a packet is taken whole or
 * refused whole, and each refusal is counted by its reason; a frame taken is handed to the port exactly
 * as it was in the packet (a view, no copy); the queue between arrival and delivery never holds more than
 * RX_QUEUE_LIMIT frames (the rest is dropped and counted in rxDropped).
 *
 * May import: link/rtp.ts, switch/port.ts (types).
 */
import type { CountingCounters, FrameBatch } from '../switch/port.js';
import { type Verdict, decodePacket, rtpSeq } from './rtp.js';

/** Frames delivered to the port per call of its handler. */
export const RX_BATCH = 64;
/**
 * Frames waiting for delivery at most. One turn of the event loop at 1 Gbit/s of 1400-byte frames is
 * ~90 frames per ms, so 4096 covers a turn of ~45 ms; a peer that sends faster than the switch takes
 * frames loses the excess here (counted in rxDropped), as a NIC whose ring is full would.
 */
export const RX_QUEUE_LIMIT = 4096;

/** Why a packet on the media track was refused: rtp.ts's verdicts, and a message that is not binary. */
export type RxRefusal = Exclude<Verdict, 'frames' | 'rtcp'> | 'not-binary';

/** A message libdatachannel may hand over: binary (a Buffer or ArrayBuffer) or, on a data channel, text. */
export type PeerMessage = Buffer | ArrayBuffer | string;

/** A batch over a list of frames (views), reused for each delivery. */
class ListBatch implements FrameBatch {
  frames: readonly Buffer[] = [];
  start = 0;
  count = 0;

  frame(i: number): Buffer {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`frame ${i} of a batch of ${this.count}`);
    return this.frames[this.start + i] as Buffer;
  }

  offload(i: number): undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`frame ${i} of a batch of ${this.count}`);
    return undefined;
  }
}

/** The receive side of the media track: checks, counts, queues and delivers frames. */
export class RxPath {
  rtpReceived = 0;
  rtpGaps = 0;
  rtcpIgnored = 0;
  readonly refused: Partial<Record<RxRefusal, number>> = {};
  private nextSeq: number | undefined;
  private queue: Buffer[] = [];
  private spare: Buffer[] = [];
  private readonly batch = new ListBatch();

  constructor(
    /** The largest frame carried: MTU + 14 + 4. */
    readonly maxFrame: number,
    /** The port's counters: rxErrors, rxDropped, rxPackets, rxBytes are counted here. */
    private readonly c: CountingCounters,
    readonly queueLimit = RX_QUEUE_LIMIT,
  ) {}

  /** Frames queued for the next delivery. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * One message from the track. Returns true when frames were queued (the caller schedules deliver()).
   * Never throws for anything the peer sent.
   */
  packet(m: PeerMessage): boolean {
    this.rtpReceived++;
    if (typeof m === 'string') return this.refuse('not-binary');
    const pkt = Buffer.isBuffer(m) ? m : Buffer.from(m);
    const mark = this.queue.length;
    const v = decodePacket(pkt, this.maxFrame, this.queue);
    if (v === 'rtcp') {
      this.rtcpIgnored++;
      return false;
    }
    if (v !== 'frames') return this.refuse(v);
    const seq = rtpSeq(pkt);
    if (this.nextSeq !== undefined && seq !== this.nextSeq) {
      const ahead = (seq - this.nextSeq) & 0xffff;
      if (ahead < 0x8000) this.rtpGaps += ahead; // packets skipped; a late one (behind) is not a new gap
    }
    if (this.nextSeq === undefined || ((seq - this.nextSeq) & 0xffff) < 0x8000) this.nextSeq = (seq + 1) & 0xffff;
    if (this.queue.length > this.queueLimit) {
      // the whole packet goes: a packet is taken whole or not at all
      this.c.rxDropped += this.queue.length - mark;
      this.queue.length = mark;
      return mark > 0;
    }
    return true;
  }

  private refuse(v: RxRefusal): false {
    this.c.rxErrors++;
    this.refused[v] = (this.refused[v] ?? 0) + 1;
    return false;
  }

  /**
   * Hands the queued frames to the handler in batches of RX_BATCH (views valid only during the call); with
   * no handler (stopped, closed) they are dropped and counted. `stillHandler` tells whether the handler is
   * still the port's after a call (it may stop the port): if not, the rest is dropped.
   */
  deliver(handler: ((batch: FrameBatch) => void) | undefined, stillHandler: (h: (batch: FrameBatch) => void) => boolean = () => true): void {
    const frames = this.queue;
    this.queue = this.spare;
    this.spare = frames;
    try {
      if (handler === undefined) {
        this.c.rxDropped += frames.length;
        return;
      }
      const b = this.batch;
      b.frames = frames;
      for (let i = 0; i < frames.length; i += RX_BATCH) {
        b.start = i;
        b.count = Math.min(RX_BATCH, frames.length - i);
        let bytes = 0;
        for (let j = 0; j < b.count; j++) bytes += (frames[i + j] as Buffer).length;
        this.c.rxPackets += b.count;
        this.c.rxBytes += bytes;
        handler(b);
        if (!stillHandler(handler)) {
          this.c.rxDropped += frames.length - i - b.count;
          break;
        }
      }
    } finally {
      frames.length = 0;
      this.batch.frames = [];
    }
  }

  /** Forgets what is queued (the link closed). */
  clear(): void {
    this.queue.length = 0;
  }
}

// ---- the control channel ----------------------------------------------------------------------------------

/** Control messages: type byte, then for echoes a 32-bit sequence and the sender's clock (float64 ms). */
export const CTL = { ECHO_REQUEST: 1, ECHO_REPLY: 2, BYE: 3 } as const;
export const ECHO_BYTES = 1 + 4 + 8;
/** The most of a goodbye's reason that is kept (for the log). */
export const BYE_REASON_BYTES = 200;

/** Why a control message was ignored. */
export type ControlRefusal = 'empty' | 'unknown-type' | 'echo-length' | 'echo-time' | 'echo-rate';

export type ControlMessage =
  | { readonly kind: 'echo-request'; readonly bytes: Buffer }
  | { readonly kind: 'echo-reply'; readonly sentAt: number }
  | { readonly kind: 'bye'; readonly reason: string }
  | { readonly kind: 'refused'; readonly reason: ControlRefusal };

/**
 * Reads one control message. An echo request's bytes are a copy, ready to go back as the reply (its type
 * byte already ECHO_REPLY), so the caller never writes into libdatachannel's buffer.
 */
export function parseControl(m: PeerMessage): ControlMessage {
  const b = typeof m === 'string' ? Buffer.from(m, 'utf8') : Buffer.isBuffer(m) ? m : Buffer.from(m);
  if (b.length === 0) return { kind: 'refused', reason: 'empty' };
  switch (b[0]) {
    case CTL.ECHO_REQUEST: {
      if (b.length !== ECHO_BYTES) return { kind: 'refused', reason: 'echo-length' };
      const reply = Buffer.from(b);
      reply[0] = CTL.ECHO_REPLY;
      return { kind: 'echo-request', bytes: reply };
    }
    case CTL.ECHO_REPLY: {
      if (b.length !== ECHO_BYTES) return { kind: 'refused', reason: 'echo-length' };
      const t = b.readDoubleBE(5);
      if (!Number.isFinite(t)) return { kind: 'refused', reason: 'echo-time' };
      return { kind: 'echo-reply', sentAt: t };
    }
    case CTL.BYE:
      // the reason is text for the log: cut, and anything that is not printable made visible
      return { kind: 'bye', reason: b.subarray(1, 1 + BYE_REASON_BYTES).toString('utf8').replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?') };
    default:
      return { kind: 'refused', reason: 'unknown-type' };
  }
}

/**
 * How many echo requests a link answers per second at most. Ours sends one per echoIntervalMs (≥ 10 ms,
 * so ≤ 100/s); a peer sending more is not measuring anything, and answering every one would let it make
 * us send as fast as it likes. Beyond this, requests are ignored and counted ('echo-rate').
 */
export const ECHO_REPLIES_PER_SECOND = 200;
