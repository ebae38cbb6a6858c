/**
 * Port I/O for the switch: TAP devices (`openTap`) and existing interfaces through AF_PACKET
 * (`openInterface`), on a small N-API addon (src/portio.c: non-blocking fds on uv_poll, recvmmsg /
 * sendmmsg batches, a receive slab shared with JavaScript, virtio-net offloads). Linux only; the
 * addon is built by `npm run build` (node-gyp, offline with nodedir=/usr). Without it, opening a port
 * raises PortIoError with code ENOADDON and says how to build it.
 *
 * createFrameCache: the datapath's flow cache in the addon (src/flowcache.c; switch/flow-cache.ts is
 * its JavaScript half): ports attached to it forward the frames whose decision it holds themselves.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_SEGMENTS, OffloadError, type SegmentFn, VNET, registerAccelerator } from '../offload.js';
import type { FrameCache, FrameCacheStats } from '../flow-cache.js';
import { type FrameBatch, type FramePort, type LinkState, type PortCounters, type PortEvents, checkPortName } from '../port.js';

export type { FrameBatch, FramePort, LinkState, PortCounters, PortEvents } from '../port.js';

/** The addon's view of a port (see src/portio.c). */
interface NativePort {
  readonly name: string;
  readonly ifindex: number;
  readonly mtu: number;
  readonly flags: number;
  readonly hwAddr: string;
  readonly created: boolean;
  readonly vnetHdr: boolean;
  readonly slotSize: number;
  readonly rxSlab: Uint8Array;
  readonly rxLens: Uint32Array;
  readonly rxOffs: Uint32Array;
  start(cb: (count: number) => void): void;
  stop(): void;
  send(frames: readonly Uint8Array[], hdrs?: Buffer): number;
  sendFrom(src: NativePort, count: number): number;
  stats(): PortCounters;
  close(): void;
  /** Absent from an addon built before the flow cache. */
  attach?: (cache: NativeFlowCache | null, no?: number) => void;
}

/** The addon's flow cache (src/flowcache.c). */
interface NativeFlowCache {
  install(src: NativePort, index: number, outs: readonly NativePort[], id: number): boolean;
  harvest(ids: Uint32Array, packets: Float64Array, bytes: Float64Array, ageMs: Float64Array): number;
  flush(): void;
  stats(): Omit<FrameCacheStats, 'threaded'> & { readonly threaded: number };
}

interface LinkInfo {
  readonly ifindex: number;
  readonly mtu: number;
  readonly flags: number;
  readonly hwAddr: string;
}

interface Addon {
  NativePort: new (kind: 'tap' | 'interface', name: string, opts: { vnetHdr: boolean; up: boolean; gro: boolean }) => NativePort;
  watchLinks(cb: (type: 'new' | 'del', ifindex: number, name: string, flags: number) => void): { close(): void };
  linkInfo(name: string): LinkInfo | null;
  /** Absent from an addon built before it existed: NativeFramePort.setAdminUp then says to rebuild. */
  setAdminUp?: (name: string, up: boolean) => void;
  toPlainFrames(frame: Uint8Array, hdr: Uint8Array): Buffer[];
  /**
   * gso.c into the caller's memory: writes the plain frames for (frame, hdr) at out[off...], their lengths
   * into lens, and returns how many, or a negative errno. Absent from an addon built before it existed.
   */
  segmentInto?: (frame: Uint8Array, hdr: Uint8Array, out: Uint8Array, off: number, lens: Uint32Array) => number;
  mergeFrames(frames: readonly Uint8Array[]): [Buffer, Buffer][];
  /** Absent from an addon built before the flow cache. */
  FlowCache?: new (slots: number, threaded: boolean) => NativeFlowCache;
  flowSignature?: (frame: Uint8Array, inPort: number) => Buffer | null;
  VNET_HDR_LEN: number;
}

export class PortIoError extends Error {
  override readonly name = 'PortIoError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
/**
 * How long a device that came up administratively may take to show its carrier before the port reports
 * it up without one. Linux sets IFF_UP at once and IFF_RUNNING when its link watch has run: for veths
 * and TAPs a moment later (a second rtnetlink message), for other devices up to a second later (the
 * link watch batches non-urgent events once per second). Reporting the moment in between would tell a
 * controller of a "link down" that never was, between the admin-down and the live state.
 */
export const LINK_SETTLE_MS = 1000;

let addon: Addon | undefined;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'switch', 'portio'))) return dir;
    dir = resolve(dir, '..');
  }
  return process.cwd();
}

/** Loads the addon once; a clear error when it is missing or the OS is not Linux. */
export function loadAddon(): Addon {
  if (addon) return addon;
  if (process.platform !== 'linux') {
    throw new PortIoError('ENOTLINUX', `port I/O needs Linux (TAP and AF_PACKET); this is ${process.platform}`);
  }
  const path = join(repoRoot(), 'switch', 'portio', 'build', 'Release', 'portio.node');
  if (!existsSync(path)) {
    throw new PortIoError('ENOADDON', `the port I/O addon is not built (${path} is missing): run "npm run build"`);
  }
  const a = createRequire(import.meta.url)(path) as Addon;
  addon = a;
  // the datapath's software segmentation runs gso.c from now on (switch/offload.ts stays the reference)
  const segmentInto = a.segmentInto;
  if (segmentInto !== undefined) registerAccelerator(() => new NativeSegmenter(segmentInto));
  return a;
}

// ---- link events: one rtnetlink watcher for all ports ----------------------------------------------

type LinkListener = (type: 'new' | 'del', flags: number) => void;
const listeners = new Map<number, Set<LinkListener>>();
let watcher: { close(): void } | undefined;

function watchLink(ifindex: number, fn: LinkListener): () => void {
  let set = listeners.get(ifindex);
  if (!set) listeners.set(ifindex, (set = new Set()));
  set.add(fn);
  watcher ??= loadAddon().watchLinks((type, idx, _name, flags) => {
    for (const l of listeners.get(idx) ?? []) l(type, flags);
  });
  return () => {
    set.delete(fn);
    if (set.size === 0) listeners.delete(ifindex);
    if (listeners.size === 0 && watcher) {
      watcher.close();
      watcher = undefined;
    }
  };
}

// ---- the port ----------------------------------------------------------------------------------------

class Batch implements FrameBatch {
  count = 0;
  private readonly slab: Buffer;
  constructor(private readonly native: NativePort) {
    const s = native.rxSlab;
    this.slab = Buffer.from(s.buffer, s.byteOffset, s.byteLength);
  }
  frame(i: number): Buffer {
    const off = this.native.rxOffs[i] as number;
    return this.slab.subarray(off, off + (this.native.rxLens[i] as number));
  }
  offload(i: number): Buffer | undefined {
    if (!this.native.vnetHdr) return undefined;
    const off = this.native.rxOffs[i] as number;
    return this.slab.subarray(off - VNET.SIZE, off);
  }
}

export interface OpenOptions {
  /** Exchange virtio-net headers with the kernel: GSO super-frames and partial checksums pass through. */
  readonly offload?: boolean;
  /**
   * With offload, merge consecutive TCP/IPv4 segments of a receive batch into GSO super-frames
   * (interfaces only; default false: whatever reads the output interfaces must take super-frames, which
   * a host's stack and tinflow do and Open vSwitch's userspace datapath does not). See src/gro.c.
   */
  readonly gro?: boolean;
  /** Bring the interface up (TAPs; default true). The switch leaves its LOCAL TAP down, as OVS does. */
  readonly up?: boolean;
}

class NativeFramePort extends EventEmitter<PortEvents> implements FramePort {
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  readonly offload: boolean;
  /** True when this port created the TAP (it disappears when the port closes). */
  readonly created: boolean;
  readonly ifindex: number;
  private flags: number;
  /** The link state last emitted as 'link' (or found at open). */
  private reported: LinkState;
  /** Pending while a device that came up waits for its carrier (LINK_SETTLE_MS). */
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly batch: Batch;
  private unwatch: (() => void) | undefined;
  private isClosed = false;
  private final: PortCounters | undefined;

  constructor(
    readonly native: NativePort,
    readonly kind: 'tap' | 'interface',
  ) {
    super();
    this.name = native.name;
    this.hwAddr = native.hwAddr;
    this.mtu = native.mtu;
    this.offload = native.vnetHdr;
    this.created = native.created;
    this.ifindex = native.ifindex;
    this.flags = native.flags;
    this.reported = this.linkState();
    this.batch = new Batch(native);
    // Both kinds follow their device's up/carrier flags through rtnetlink. A TAP lives as long as its fd:
    // moved to another namespace it still works (rtnetlink here reports it deleted), so only the fd's own
    // errors tell that it is gone; an interface that leaves is gone.
    this.unwatch = watchLink(native.ifindex, (type, flags) => this.onLink(type, flags));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private onLink(type: 'new' | 'del', flags: number): void {
    if (type === 'del') {
      if (this.kind === 'interface') {
        this.gone('the interface was deleted');
      } else {
        // Moved to another namespace (a deletion the fd reports). Its flags can no longer be seen from here,
        // and the move itself took it down first: it is taken as up and running from now on, so that the
        // switch keeps forwarding through it (writes fail, counted, if it is down over there).
        this.unwatch?.();
        this.unwatch = undefined;
        this.flags = IFF_UP | IFF_RUNNING;
        this.report();
      }
      return;
    }
    this.flags = flags;
    this.settle();
  }

  /**
   * Emits 'link' when the state differs from the one last emitted. rtnetlink repeats a state (an
   * operstate change with the same flags, a read that failed with ENETDOWN) and passes through
   * "up, no carrier yet" when a device comes up: a device that was down and is now up waits up to
   * LINK_SETTLE_MS for its carrier, so that it is reported once, where it arrived.
   */
  private settle(): void {
    const now = this.linkState();
    const last = this.reported;
    if (now.up === last.up && now.carrier === last.carrier) {
      this.clearSettle();
      return;
    }
    if (now.up && !now.carrier && !last.up) {
      this.settleTimer ??= setTimeout(() => {
        this.settleTimer = undefined;
        if (this.isClosed) return;
        const info = loadAddon().linkInfo(this.name);
        if (info && info.ifindex === this.ifindex) this.flags = info.flags;
        this.report();
      }, LINK_SETTLE_MS).unref();
      return;
    }
    this.report();
  }

  private report(): void {
    this.clearSettle();
    const now = this.linkState();
    if (now.up === this.reported.up && now.carrier === this.reported.carrier) return;
    this.reported = now;
    this.emit('link', now);
  }

  private clearSettle(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
  }

  private gone(reason: string): void {
    if (this.isClosed) return;
    this.close();
    this.emit('gone', reason);
  }

  start(handler: (batch: FrameBatch) => void): void {
    if (this.isClosed) throw new PortIoError('ECLOSED', `port ${this.name} is closed`);
    const batch = this.batch;
    this.native.start((count) => {
      if (count > 0) {
        batch.count = count;
        handler(batch);
        return;
      }
      if (count === -100 /* -ENETDOWN */) {
        this.refreshFlags();
        return;
      }
      // -ENODEV or another fatal error: the device is gone, the addon stopped reading.
      this.gone(count === -19 ? 'the interface disappeared' : `read failed (errno ${-count})`);
    });
  }

  private refreshFlags(): void {
    const info = loadAddon().linkInfo(this.name);
    if (!info || info.ifindex !== this.ifindex) {
      this.gone('the interface disappeared');
      return;
    }
    this.onLink('new', info.flags);
  }

  stop(): void {
    if (!this.isClosed) this.native.stop();
  }

  send(frames: readonly Buffer[], hdrs?: Buffer): void {
    if (this.isClosed) return;
    this.native.send(frames, hdrs);
  }

  /** Forwards the first `count` frames of another native port's current batch, without copies. */
  sendFrom(src: NativeFramePort, count: number): void {
    if (this.isClosed) return;
    this.native.sendFrom(src.native, count);
  }

  linkState(): LinkState {
    return { up: (this.flags & IFF_UP) !== 0, carrier: (this.flags & IFF_RUNNING) !== 0 };
  }

  /**
   * `ip link set NAME up|down` for the port's device. The flags are read back at once, so that 'link'
   * (taking down) is emitted before this returns; coming up, the carrier follows as for any device.
   */
  setAdminUp(up: boolean): void {
    if (this.isClosed) throw new PortIoError('ECLOSED', `port ${this.name} is closed`);
    const a = loadAddon();
    if (!a.setAdminUp) throw new PortIoError('ENOADDON', 'the port I/O addon predates setAdminUp: run "npm run build"');
    // by name: make sure the name still means this port's device (a TAP may have moved away)
    if (a.linkInfo(this.name)?.ifindex !== this.ifindex) throw new PortIoError('ENODEV', `${this.name} is no longer in this network namespace`);
    a.setAdminUp(this.name, up);
    const info = a.linkInfo(this.name);
    if (info && info.ifindex === this.ifindex) {
      this.flags = info.flags;
      this.settle();
    }
  }

  counters(): PortCounters {
    return this.final ?? this.native.stats();
  }

  close(): void {
    if (this.isClosed) return;
    this.final = this.native.stats();
    this.isClosed = true;
    this.clearSettle();
    this.unwatch?.();
    this.unwatch = undefined;
    this.native.close();
  }
}

export type { NativeFramePort };

/** Creates a TAP device (or attaches to an existing one) named `name`, IFF_TAP|IFF_NO_PI. */
export function openTap(name: string, opts: OpenOptions = {}): NativeFramePort {
  checkPortName(name);
  const a = loadAddon();
  return new NativeFramePort(new a.NativePort('tap', name, { vnetHdr: opts.offload ?? false, up: opts.up ?? true, gro: false }), 'tap');
}

/** Opens an existing interface through AF_PACKET, promiscuous, not reading back what it sends. */
export function openInterface(name: string, opts: OpenOptions = {}): NativeFramePort {
  checkPortName(name);
  const a = loadAddon();
  return new NativeFramePort(new a.NativePort('interface', name, { vnetHdr: opts.offload ?? false, up: false, gro: opts.gro ?? false }), 'interface');
}

/** Completes checksums / segments a frame with a virtio-net header into plain frames (for ports without offload). */
export function toPlainFrames(frame: Buffer, hdr: Buffer): Buffer[] {
  return loadAddon().toPlainFrames(frame, hdr);
}

/** segmentInto's negative errnos, as OffloadError codes. */
const GSO_ERRNO: Readonly<Record<number, OffloadError['code']>> = { 22: 'EINVAL', 93: 'EPROTONOSUPPORT', 28: 'ENOSPC' };

/** gso.c writing into one growing arena, handed out as views (as offload.ts's Segmenter does). */
class NativeSegmenter implements SegmentFn {
  private buf = Buffer.allocUnsafeSlow(256 * 1024);
  private used = 0;
  private readonly lens = new Uint32Array(MAX_SEGMENTS);

  constructor(private readonly segmentInto: NonNullable<Addon['segmentInto']>) {}

  segment(frame: Buffer, hdr: Buffer, out: Buffer[]): number {
    if (hdr.length < VNET.SIZE) throw new OffloadError('EINVAL', `a virtio-net header is ${VNET.SIZE} bytes, not ${hdr.length}`);
    // gso.c needs at most 2 × the frame + 64 KiB (the whole datagram and its fragments' headers for UFO)
    const need = frame.length * 2 + 65536;
    if (this.buf.length - this.used < need) {
      // views already handed out keep the old arena alive
      this.buf = Buffer.allocUnsafeSlow(Math.max(need, this.buf.length * 2));
      this.used = 0;
    }
    const k = this.segmentInto(frame, hdr, this.buf, this.used, this.lens);
    if (k < 0) throw new OffloadError(GSO_ERRNO[-k] ?? 'EINVAL', `gso.c cannot make this frame plain (errno ${-k})`);
    let o = this.used;
    for (let i = 0; i < k; i++) {
      const n = this.lens[i] as number;
      out.push(this.buf.subarray(o, o + n));
      o += n;
    }
    this.used = o;
    return k;
  }

  reset(): void {
    this.used = 0;
  }
}

/**
 * The addon's segmenter (gso.c) behind the interface of switch/offload.ts's Segmenter, for the datapath
 * to use as an accelerator; undefined when the addon is not loaded or predates it.
 */
export function nativeSegmenter(): SegmentFn | undefined {
  let a: Addon;
  try {
    a = loadAddon();
  } catch {
    return undefined;
  }
  const segmentInto = a.segmentInto;
  if (segmentInto === undefined) return undefined;
  return new NativeSegmenter(segmentInto);
}

/** Receive coalescing on a batch of plain frames: what a port with offload and gro does (for tests). */
export function mergeFrames(frames: readonly Buffer[]): { frame: Buffer; hdr: Buffer }[] {
  return loadAddon().mergeFrames(frames).map(([frame, hdr]) => ({ frame, hdr }));
}

export function linkInfo(name: string): LinkInfo | null {
  return loadAddon().linkInfo(name);
}

// ---- the flow cache ----------------------------------------------------------------------------------

/** Decisions one datapath's cache holds at most (slots of its table; a full neighbourhood refuses more). */
const FLOW_CACHE_SLOTS = 8192;
/** Decisions taken per harvest call. */
const HARVEST_CHUNK = 256;

class NativeFrameCache implements FrameCache {
  private readonly ids = new Uint32Array(HARVEST_CHUNK);
  private readonly packets = new Float64Array(HARVEST_CHUNK);
  private readonly bytes = new Float64Array(HARVEST_CHUNK);
  private readonly ages = new Float64Array(HARVEST_CHUNK);

  constructor(private readonly native: NativeFlowCache) {}

  attach(port: FramePort, no: number): boolean {
    if (!(port instanceof NativeFramePort) || port.closed || port.native.attach === undefined) return false;
    port.native.attach(this.native, no);
    return true;
  }

  detach(port: FramePort): void {
    if (port instanceof NativeFramePort && !port.closed) port.native.attach?.(null);
  }

  install(port: FramePort, index: number, outs: readonly FramePort[], id: number): boolean {
    if (!(port instanceof NativeFramePort)) return false;
    const natives: NativePort[] = [];
    for (const o of outs) {
      if (!(o instanceof NativeFramePort)) return false;
      natives.push(o.native);
    }
    return this.native.install(port.native, index, natives, id);
  }

  harvest(fn: (id: number, packets: number, bytes: number, ageMs: number) => void): void {
    for (;;) {
      const n = this.native.harvest(this.ids, this.packets, this.bytes, this.ages);
      for (let i = 0; i < n; i++) fn(this.ids[i] as number, this.packets[i] as number, this.bytes[i] as number, this.ages[i] as number);
      if (n < HARVEST_CHUNK) return;
    }
  }

  flush(): void {
    this.native.flush();
  }

  stats(): FrameCacheStats {
    const s = this.native.stats();
    return { ...s, threaded: s.threaded !== 0 };
  }
}

/**
 * A flow cache for one datapath (switch/flow-cache.ts), or undefined when the addon is missing or
 * predates it: the datapath then runs the pipeline for every frame, as before. With `thread`, the
 * cache reads its ports and forwards on a thread of its own (src/portio.c), as an Open vSwitch PMD
 * thread does; JavaScript sees only the frames the cache does not know.
 */
export function createFrameCache(opts: { readonly thread?: boolean } = {}): FrameCache | undefined {
  let a: Addon;
  try {
    a = loadAddon();
  } catch {
    return undefined;
  }
  return a.FlowCache ? new NativeFrameCache(new a.FlowCache(FLOW_CACHE_SLOTS, opts.thread === true)) : undefined;
}

/** What the flow cache keys a frame entering by inPort by, or null when it does not cache such frames (for tests). */
export function flowSignature(frame: Buffer, inPort: number): Buffer | null {
  const f = loadAddon().flowSignature;
  if (!f) throw new PortIoError('ENOADDON', 'the port I/O addon predates the flow cache: run "npm run build"');
  return f(frame, inPort);
}
