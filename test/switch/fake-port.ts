/**
 * An in-memory FramePort for unit tests of the datapath: frames go in with inject() and what the switch
 * sent is recorded in `sent`. A fake is enough here because the real TAP / AF_PACKET ports have their own
 * tests against the kernel (test/portio); this one only has to keep the port contract of switch/port.ts
 * strictly, so that a datapath that breaks it fails here too:
 *
 * - inject() delivers one batch, synchronously, to the handler given to start(). Its frames are views
 *   into one receive slab (as a real port's are); after the handler returns the slab is overwritten, so
 *   bytes the switch kept without copying (a view held past the callback) show up as garbage.
 * - send() records copies of the frames and headers it gets (views are fine), and counts every call:
 *   the datapath promises one send per port per batch. Headers are taken on any port, as the native
 *   port takes them (a port without offload segments such frames in software).
 * - Link state is settable (setLink), emitting 'link' on a change; vanish() closes the port and emits
 *   'gone', as a device that disappeared does.
 * - Counters behave like a device's: rx counts what arrived while started (rxDropped what arrived while
 *   not), tx counts what was sent while the link was up and running (txDropped what was sent while not).
 *   A send on a closed port is ignored, as the native port does.
 */
import { EventEmitter } from 'node:events';
import type { FrameBatch, FramePort, LinkState, PortCounters } from '../../switch/port.js';

const VNET_HDR_LEN = 10;

export interface FakePortOptions {
  readonly name?: string;
  readonly hwAddr?: string;
  readonly mtu?: number;
  /** Frames carry virtio-net headers (default false). */
  readonly offload?: boolean;
  /** Overwrite the receive slab after each batch (default true). */
  readonly scribble?: boolean;
}

/** One frame as send() got it (copied). */
export interface SentFrame {
  readonly frame: Buffer;
  /** Its 10-byte virtio-net header, when send() was given headers. */
  readonly hdr: Buffer | undefined;
}

interface MutableCounters {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
  txErrors: number;
}

let serial = 0;

export class FakePort extends EventEmitter implements FramePort {
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  readonly offload: boolean;
  /** Every frame sent, in order (copies). */
  readonly sent: SentFrame[] = [];
  /** Calls of send(). */
  sendCalls = 0;
  /** Batches delivered to the handler. */
  batches = 0;
  private readonly scribble: boolean;
  private handler: ((batch: FrameBatch) => void) | undefined;
  private link: LinkState = { up: true, carrier: true };
  private readonly c: MutableCounters = {
    rxPackets: 0, rxBytes: 0, rxDropped: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txDropped: 0, txErrors: 0,
  };
  private isClosed = false;

  constructor(opts: FakePortOptions = {}) {
    super();
    serial++;
    this.name = opts.name ?? `fake${serial}`;
    this.hwAddr = opts.hwAddr ?? `02:fa:ce:00:${((serial >> 8) & 0xff).toString(16).padStart(2, '0')}:${(serial & 0xff).toString(16).padStart(2, '0')}`;
    this.mtu = opts.mtu ?? 1500;
    this.offload = opts.offload ?? false;
    this.scribble = opts.scribble ?? true;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Whether a handler is installed (start() called, stop() / close() not since). */
  get started(): boolean {
    return this.handler !== undefined;
  }

  start(handler: (batch: FrameBatch) => void): void {
    if (this.isClosed) throw new Error(`fake port ${this.name} is closed`);
    if (this.handler !== undefined) throw new Error(`fake port ${this.name} is already started`);
    this.handler = handler;
  }

  stop(): void {
    this.handler = undefined;
  }

  /**
   * Delivers one batch to the handler, synchronously. hdrs: one 10-byte virtio-net header per frame
   * (only on a port with offload). Frames arriving while the port is not started are counted as dropped.
   */
  inject(frames: readonly Buffer[], hdrs?: readonly Buffer[]): void {
    if (this.isClosed) throw new Error(`fake port ${this.name} is closed`);
    if (hdrs !== undefined) {
      if (!this.offload) throw new Error(`fake port ${this.name} has no offload: it takes no virtio-net headers`);
      if (hdrs.length !== frames.length) throw new Error(`${frames.length} frames but ${hdrs.length} headers`);
      for (const h of hdrs) if (h.length !== VNET_HDR_LEN) throw new Error(`a virtio-net header is ${VNET_HDR_LEN} bytes, not ${h.length}`);
    }
    const handler = this.handler;
    if (handler === undefined) {
      this.c.rxDropped += frames.length;
      return;
    }
    // One slab, as a receive ring: headers in front of each frame, frames handed out as views.
    const hl = hdrs !== undefined ? VNET_HDR_LEN : 0;
    const slab = Buffer.alloc(frames.reduce((n, f) => n + hl + f.length, 0));
    const offs: number[] = [];
    let off = 0;
    frames.forEach((f, i) => {
      if (hdrs !== undefined) (hdrs[i] as Buffer).copy(slab, off);
      off += hl;
      offs.push(off);
      f.copy(slab, off);
      off += f.length;
    });
    const count = frames.length;
    const check = (i: number): void => {
      if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`frame ${i} of a batch of ${count}`);
    };
    const batch: FrameBatch = {
      count,
      frame: (i) => {
        check(i);
        const o = offs[i] as number;
        return slab.subarray(o, o + (frames[i] as Buffer).length);
      },
      offload: (i) => {
        check(i);
        if (hdrs === undefined) return undefined;
        const o = offs[i] as number;
        return slab.subarray(o - VNET_HDR_LEN, o);
      },
    };
    this.c.rxPackets += count;
    this.c.rxBytes += frames.reduce((n, f) => n + f.length, 0);
    this.batches++;
    try {
      handler(batch);
    } finally {
      // The views are valid only during the call: whatever the switch kept uncopied turns to garbage.
      if (this.scribble) slab.fill(0xee);
    }
  }

  send(frames: readonly Buffer[], hdrs?: Buffer): void {
    this.sendCalls++;
    if (this.isClosed) return;
    // Headers are accepted on any port: one without offload completes or segments such frames in
    // software (switch/portio's gso.c), so the datapath may send them anywhere.
    if (hdrs !== undefined && hdrs.length !== frames.length * VNET_HDR_LEN) {
      throw new Error(`send(): ${frames.length} frames need ${frames.length * VNET_HDR_LEN} header bytes, got ${hdrs.length}`);
    }
    const running = this.link.up && this.link.carrier;
    frames.forEach((f, i) => {
      const hdr = hdrs === undefined ? undefined : Buffer.from(hdrs.subarray(i * VNET_HDR_LEN, (i + 1) * VNET_HDR_LEN));
      this.sent.push({ frame: Buffer.from(f), hdr });
      if (running) {
        this.c.txPackets++;
        this.c.txBytes += f.length;
      } else {
        this.c.txDropped++;
      }
    });
  }

  /** The frames sent since the last take(), forgotten here. */
  take(): Buffer[] {
    return this.sent.splice(0).map((s) => s.frame);
  }

  /** Changes the link state; emits 'link' with the new state when it differs. */
  setLink(state: Partial<LinkState>): void {
    const next: LinkState = { up: state.up ?? this.link.up, carrier: state.carrier ?? this.link.carrier };
    if (next.up === this.link.up && next.carrier === this.link.carrier) return;
    this.link = next;
    this.emit('link', { ...next });
  }

  /** The device disappeared: the port closes, then emits 'gone' once. */
  vanish(reason = 'the device disappeared'): void {
    if (this.isClosed) return;
    this.close();
    this.emit('gone', reason);
  }

  linkState(): LinkState {
    return { ...this.link };
  }

  counters(): PortCounters {
    return { ...this.c };
  }

  close(): void {
    this.isClosed = true;
    this.handler = undefined;
  }
}
