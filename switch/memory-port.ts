/**
 * An in-memory FramePort, and wires that join two of them: links, nodes and whole overlays run in one
 * process, without root, on the real datapath. It keeps the port contract of port.ts strictly, so that a
 * datapath (or a link) that breaks it fails in tests too:
 *
 * - inject() delivers one batch, synchronously, to the handler given to start(). Its frames are views
 *   into one receive slab (as a real port's are); after the handler returns the slab is overwritten
 *   (`scribble`, on by default), so bytes the switch kept without copying show up as garbage. Frames
 *   that arrive while the port is not started count in rxDropped.
 * - send() takes headers only with `offload` (without, it throws: the datapath must have made the frames
 *   plain), copies what it accepts, and counts every call (`sendCalls`: the datapath promises one send
 *   per port per batch). It drops and counts in txDropped, never blocking: frames sent while the link is
 *   not up and running, frames over the MTU (not super-frames with a header), and frames beyond
 *   `txQueueLimit` waiting for their reader. A send on a closed port does nothing.
 * - Unwired, what it sent waits in `sent` for the test (take()). Wired (wire(a, b)), it goes to the other
 *   end instead: delivered in order, as batches of up to 64 (a native port's receive batch), on a later
 *   turn of the event loop (setImmediate, not a microtask: two switches flooding each other through a
 *   loop of wires then take turns with timers and I/O instead of starving them). A frame with a header
 *   reaching an end without offload is made plain on the way, and a plain frame reaching an end with
 *   offload gets a zero header, as a veth between such ports does.
 * - Link state is settable (setLink), emitting 'link' on a change; vanish() closes the port and emits
 *   'gone', as a device that disappeared does. Closing one end of a wire, or cutting it, takes the
 *   other end's carrier down.
 *
 * May import: switch/port.ts, switch/offload.ts.
 */
import { EventEmitter } from 'node:events';
import { OffloadError, VNET, ZERO_VNET_HDR, isPlainHeader, toPlainFrames } from './offload.js';
import { type CountingCounters, type FrameBatch, type FramePort, type LinkState, type PortCounters, type PortEvents, checkPortName, fitsMtu, zeroCounters } from './port.js';

export interface MemoryPortOptions {
  /** 1 to 15 bytes (default mem1, mem2, ...). */
  readonly name?: string;
  readonly hwAddr?: string;
  readonly mtu?: number;
  /** Frames carry virtio-net headers (default false). */
  readonly offload?: boolean;
  /** Overwrite the receive slab after each batch (default true). */
  readonly scribble?: boolean;
  /**
   * The most frames the port holds for its reader: in `sent` until taken, or on the wire until delivered
   * (default 4096). Beyond it, frames are dropped and counted in txDropped.
   */
  readonly txQueueLimit?: number;
}

/** One frame as send() took it (copied). */
export interface SentFrame {
  readonly frame: Buffer;
  /** Its 10-byte virtio-net header, when send() was given headers. */
  readonly hdr: Buffer | undefined;
}

/** Frames per batch a wire delivers (a native port reads up to 64 per wake-up). */
const WIRE_BATCH = 64;
const DEFAULT_TX_QUEUE = 4096;

let serial = 0;

export class MemoryPort extends EventEmitter<PortEvents> implements FramePort {
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  readonly offload: boolean;
  readonly txQueueLimit: number;
  /** Unwired: every frame sent and not yet taken, in order (copies). */
  readonly sent: SentFrame[] = [];
  /** Calls of send(). */
  sendCalls = 0;
  /** Batches delivered to the handler. */
  batches = 0;
  private readonly scribble: boolean;
  private handler: ((batch: FrameBatch) => void) | undefined;
  private link: LinkState = { up: true, carrier: true };
  private readonly c: CountingCounters = zeroCounters();
  private isClosed = false;
  /** The other end, while wired. */
  private peer: MemoryPort | undefined;
  /** Wired: frames sent and not yet delivered to the peer, in order. */
  private inFlight: SentFrame[] = [];
  private delivery: NodeJS.Immediate | undefined;

  constructor(opts: MemoryPortOptions = {}) {
    super();
    serial++;
    this.name = checkPortName(opts.name ?? `mem${serial}`);
    this.hwAddr = opts.hwAddr ?? `02:fa:ce:00:${((serial >> 8) & 0xff).toString(16).padStart(2, '0')}:${(serial & 0xff).toString(16).padStart(2, '0')}`;
    this.mtu = opts.mtu ?? 1500;
    this.offload = opts.offload ?? false;
    this.scribble = opts.scribble ?? true;
    this.txQueueLimit = opts.txQueueLimit ?? DEFAULT_TX_QUEUE;
    if (!Number.isInteger(this.mtu) || this.mtu < 68) throw new RangeError(`memory port ${this.name}: MTU ${this.mtu} is not an integer of at least 68`);
    if (!Number.isInteger(this.txQueueLimit) || this.txQueueLimit < 1) throw new RangeError(`memory port ${this.name}: txQueueLimit ${this.txQueueLimit} is not a positive integer`);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Whether a handler is installed (start() called, stop() / close() not since). */
  get started(): boolean {
    return this.handler !== undefined;
  }

  /** The other end of its wire, if wired. */
  get wiredTo(): MemoryPort | undefined {
    return this.peer;
  }

  start(handler: (batch: FrameBatch) => void): void {
    if (this.isClosed) throw new Error(`memory port ${this.name} is closed`);
    if (this.handler !== undefined) throw new Error(`memory port ${this.name} is already started`);
    this.handler = handler;
  }

  stop(): void {
    this.handler = undefined;
  }

  /**
   * Delivers one batch to the handler, synchronously: what a device received. hdrs: one 10-byte
   * virtio-net header per frame (only on a port with offload). Frames arriving while the port is not
   * started are counted as dropped.
   */
  inject(frames: readonly Buffer[], hdrs?: readonly Buffer[]): void {
    if (this.isClosed) throw new Error(`memory port ${this.name} is closed`);
    if (hdrs !== undefined) {
      if (!this.offload) throw new Error(`memory port ${this.name} has no offload: it takes no virtio-net headers`);
      if (hdrs.length !== frames.length) throw new Error(`${frames.length} frames but ${hdrs.length} headers`);
      for (const h of hdrs) if (h.length !== VNET.SIZE) throw new Error(`a virtio-net header is ${VNET.SIZE} bytes, not ${h.length}`);
    }
    const handler = this.handler;
    if (handler === undefined) {
      this.c.rxDropped += frames.length;
      return;
    }
    // One slab, as a receive ring: headers in front of each frame, frames handed out as views.
    const hl = hdrs !== undefined ? VNET.SIZE : 0;
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
        return slab.subarray(o - VNET.SIZE, o);
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
    if (hdrs !== undefined) {
      if (!this.offload) {
        throw new Error(`send() on memory port ${this.name} with virtio-net headers: it has no offload, so it takes plain frames only (the datapath makes them so)`);
      }
      if (hdrs.length !== frames.length * VNET.SIZE) {
        throw new Error(`send(): ${frames.length} frames need ${frames.length * VNET.SIZE} header bytes, got ${hdrs.length}`);
      }
    }
    const running = this.link.up && this.link.carrier;
    const queue = this.peer !== undefined ? this.inFlight : this.sent;
    frames.forEach((f, i) => {
      const hdr = hdrs === undefined ? undefined : hdrs.subarray(i * VNET.SIZE, (i + 1) * VNET.SIZE);
      // a super-frame (GSO) is cut by whoever receives it; anything else must fit the MTU
      const fits = (hdr !== undefined && hdr[VNET.GSO_TYPE] !== VNET.GSO_NONE) || fitsMtu(f, this.mtu);
      if (!running || !fits || queue.length >= this.txQueueLimit) {
        this.c.txDropped++;
        return;
      }
      queue.push({ frame: Buffer.from(f), hdr: hdr === undefined ? undefined : Buffer.from(hdr) });
      this.c.txPackets++;
      this.c.txBytes += f.length;
    });
    if (this.peer !== undefined && this.inFlight.length > 0) this.delivery ??= setImmediate(() => this.deliver());
  }

  /** Hands what is in flight to the peer, in order, in batches; what it sends meanwhile waits for the next turn. */
  private deliver(): void {
    this.delivery = undefined;
    const frames = this.inFlight;
    this.inFlight = [];
    const peer = this.peer;
    if (peer === undefined || peer.isClosed) return; // lost with the wire, as on a cable pulled out
    for (let i = 0; i < frames.length; i += WIRE_BATCH) peer.arrive(frames.slice(i, i + WIRE_BATCH));
    if (this.inFlight.length > 0) this.delivery ??= setImmediate(() => this.deliver());
  }

  /** Frames from the wire, adapted to this end's offload as a veth would. */
  private arrive(got: readonly SentFrame[]): void {
    if (this.isClosed) return;
    if (this.offload) {
      this.inject(got.map((s) => s.frame), got.map((s) => s.hdr ?? ZERO_VNET_HDR));
      return;
    }
    const plain: Buffer[] = [];
    for (const s of got) {
      if (isPlainHeader(s.hdr)) {
        plain.push(s.frame);
        continue;
      }
      try {
        plain.push(...toPlainFrames(s.frame, s.hdr as Buffer));
      } catch (e) {
        if (!(e instanceof OffloadError)) throw e;
        this.c.rxErrors++; // a frame no device could have put on the wire
      }
    }
    this.inject(plain);
  }

  /** The frames sent since the last take(), forgotten here (unwired ports). */
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
    if (this.isClosed) return;
    this.isClosed = true;
    this.handler = undefined;
    if (this.peer !== undefined) MemoryPort.unplug(this, this.peer);
  }

  /** Joins a and b (both open and unwired) with a wire. */
  static wire(a: MemoryPort, b: MemoryPort): MemoryWire {
    if (a === b) throw new Error(`cannot wire memory port ${a.name} to itself`);
    for (const p of [a, b]) {
      if (p.isClosed) throw new Error(`cannot wire memory port ${p.name}: it is closed`);
      if (p.peer !== undefined) throw new Error(`cannot wire memory port ${p.name}: it is wired to ${p.peer.name} already`);
    }
    a.peer = b;
    b.peer = a;
    return new MemoryWire(a, b, () => {
      if (a.peer === b) MemoryPort.unplug(a, b);
    });
  }

  /** Cuts the wire between a and b: frames in flight are lost and each open end loses its carrier. */
  private static unplug(a: MemoryPort, b: MemoryPort): void {
    for (const p of [a, b]) {
      p.peer = undefined;
      p.inFlight = [];
      if (p.delivery !== undefined) clearImmediate(p.delivery);
      p.delivery = undefined;
    }
    for (const p of [a, b]) if (!p.isClosed) p.setLink({ carrier: false });
  }
}

/**
 * A wire between two memory ports (made by wire()): frames sent on one arrive at the other, in order, on
 * a later turn of the event loop.
 */
export class MemoryWire {
  private isCut = false;

  constructor(
    readonly a: MemoryPort,
    readonly b: MemoryPort,
    private readonly cutEnds: () => void,
  ) {}

  get cut(): boolean {
    return this.isCut;
  }

  /** Cuts the wire: frames in flight are lost and both ends lose their carrier ('link'). */
  unplug(): void {
    if (this.isCut) return;
    this.isCut = true;
    this.cutEnds();
  }
}

/** Joins two memory ports with a wire (both open and unwired). */
export function wire(a: MemoryPort, b: MemoryPort): MemoryWire {
  return MemoryPort.wire(a, b);
}
