/**
 * Port I/O for the switch: TAP devices (`openTap`) and existing interfaces through AF_PACKET
 * (`openInterface`), on a small N-API addon (src/portio.c: non-blocking fds on uv_poll, recvmmsg /
 * sendmmsg batches, a receive slab shared with JavaScript, virtio-net offloads). Linux only; the
 * addon is built by `npm run build` (node-gyp, offline with nodedir=/usr). Without it, opening a port
 * raises PortIoError with code ENOADDON and says how to build it.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FrameBatch, FramePort, LinkState, PortCounters } from '../port.js';

export type { FrameBatch, FramePort, LinkState, PortCounters } from '../port.js';

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
  toPlainFrames(frame: Uint8Array, hdr: Uint8Array): Buffer[];
  mergeFrames(frames: readonly Uint8Array[]): [Buffer, Buffer][];
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
export const VNET_HDR_LEN = 10;

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
  addon = createRequire(import.meta.url)(path) as Addon;
  return addon;
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
    return this.slab.subarray(off - VNET_HDR_LEN, off);
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
  /** Bring the interface up (TAPs; default true). */
  readonly up?: boolean;
}

class NativeFramePort extends EventEmitter implements FramePort {
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  readonly offload: boolean;
  /** True when this port created the TAP (it disappears when the port closes). */
  readonly created: boolean;
  readonly ifindex: number;
  private flags: number;
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
    this.batch = new Batch(native);
    // A TAP lives as long as its fd: moved to another namespace it still works, so only the fd's own
    // errors tell that it is gone. An interface port follows its device through rtnetlink.
    if (kind === 'interface') this.unwatch = watchLink(native.ifindex, (type, flags) => this.onLink(type, flags));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private onLink(type: 'new' | 'del', flags: number): void {
    if (type === 'del') {
      this.gone('the interface was deleted');
      return;
    }
    const before = this.linkState();
    this.flags = flags;
    const after = this.linkState();
    if (before.up !== after.up || before.carrier !== after.carrier) this.emit('link', after);
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

  counters(): PortCounters {
    return this.final ?? this.native.stats();
  }

  close(): void {
    if (this.isClosed) return;
    this.final = this.native.stats();
    this.isClosed = true;
    this.unwatch?.();
    this.unwatch = undefined;
    this.native.close();
  }
}

export type { NativeFramePort };

/** Creates a TAP device (or attaches to an existing one) named `name`, IFF_TAP|IFF_NO_PI. */
export function openTap(name: string, opts: OpenOptions = {}): NativeFramePort {
  const a = loadAddon();
  return new NativeFramePort(new a.NativePort('tap', name, { vnetHdr: opts.offload ?? false, up: opts.up ?? true, gro: false }), 'tap');
}

/** Opens an existing interface through AF_PACKET, promiscuous, not reading back what it sends. */
export function openInterface(name: string, opts: OpenOptions = {}): NativeFramePort {
  const a = loadAddon();
  return new NativeFramePort(new a.NativePort('interface', name, { vnetHdr: opts.offload ?? false, up: false, gro: opts.gro ?? false }), 'interface');
}

/** Completes checksums / segments a frame with a virtio-net header into plain frames (for ports without offload). */
export function toPlainFrames(frame: Buffer, hdr: Buffer): Buffer[] {
  return loadAddon().toPlainFrames(frame, hdr);
}

/** Receive coalescing on a batch of plain frames: what a port with offload and gro does (for tests). */
export function mergeFrames(frames: readonly Buffer[]): { frame: Buffer; hdr: Buffer }[] {
  return loadAddon().mergeFrames(frames).map(([frame, hdr]) => ({ frame, hdr }));
}

export function linkInfo(name: string): LinkInfo | null {
  return loadAddon().linkInfo(name);
}
