/**
 * One switch connection, as the controller sees it (Ryu's Datapath plus its ofp_handler). Apps and the REST
 * side see it only through its interface, DatapathHandle (api.ts: Ryu's `dp`); the class is the controller's.
 *
 * The built-in handler owns the handshake: hello and version negotiation (1.3 only), features request,
 * set-config, port-desc; then the datapath enters 'main' and the controller announces it to the apps.
 * It answers echo requests, sends its own echo requests when the switch is silent and drops a switch
 * that stays silent, and keeps `ports` current from port-status.
 *
 * Requests that expect replies go through one xid → pending map (xmpp.js's iq caller): multipart parts
 * are collected until the last one, an OFPT_ERROR with the same xid rejects, a timer rejects, and a
 * disconnect rejects everything outstanding. A message with no reply of its own is followed by a
 * barrier, so its caller learns whether the switch accepted it.
 *
 * Messages sent while a chunk of input is being handled are encoded into one batch buffer and leave
 * in one write, so the replies to a burst of packet-ins cost one system call.
 *
 * Bounds: what waits for the switch is the socket's write queue. Past `queueLimit` bytes (default 1 MiB)
 * the controller reads no more from that switch (the rest of the chunk waits, the socket is paused) until
 * the queue drains, as Ryu's bounded send queue blocks its receive loop: a switch that floods packet-ins
 * and does not read the flow-mods and packet-outs they provoke is held back by TCP, and the work done for
 * it stays bounded. A switch whose queue has not moved for twice the echo interval is dropped as stuck.
 * Both are counted (`bounded`), and the controller's /metrics shows them. At most MAX_PORTS ports are kept
 * per switch.
 */
import type { Socket } from 'node:net';
import {
  Framer,
  OFPCodecError,
  OFPET,
  OFPHFC,
  OFPMPF,
  OFPPR,
  OFPT,
  type MessageOf,
  type OFPMessage,
  type Port,
  decode,
  encode,
  encodeInto,
  errorNames,
} from '../openflow/index.js';
import type { Logger } from '../base/logger.js';
import { PeerWatch, queueLimitFor } from '../base/peer-watch.js';
import type { DatapathHandle, DatapathState, RequestOptions } from './api.js';
import { ControllerError } from './errors.js';

/** What a datapath needs from its controller. */
export interface DatapathHost {
  readonly log: Logger;
  readonly requestTimeoutMs: number;
  /** Silence after which an echo request is sent; as long again without a reply and the switch is dropped. */
  readonly echoIntervalMs: number;
  /** miss_send_len for set-config. */
  readonly missSendLen: number;
  /** The handshake finished: the datapath is in 'main'. */
  entered(dp: DatapathConnection): void;
  /** A message in state 'main' (everything the built-in handler does not swallow). */
  received(dp: DatapathConnection, msg: OFPMessage): void;
  /** The connection ended; `wasMain` tells whether switchEnter had been announced. */
  left(dp: DatapathConnection, reason: string, wasMain: boolean): void;
  /** Counters for metrics. */
  counted(direction: 'rx' | 'tx', type: string): void;
  /** Bytes queued for one switch beyond which its input is paused. Default 1 MiB. */
  readonly queueLimit?: number;
  /** A bound acted (see the file's opening comment), or a message from the switch could not be decoded. */
  bounded?(event: 'read-paused' | 'stuck' | 'undecodable' | 'port-ignored'): void;
}

/** Default bytes queued for one switch before its input is paused. */
export { DEFAULT_QUEUE_LIMIT } from '../base/peer-watch.js';
/**
 * Ports kept per switch: OpenFlow 1.0's whole port space (OFPP_MAX 0xff00), OVS's default max_ports. A
 * switch announcing more (a hostile one, by port-status with ever new numbers) has the rest not kept.
 */
export const MAX_PORTS = 0xff00;

interface Pending {
  readonly xid: number;
  readonly request: string;
  /** Set for a message with no reply of its own: the xid of the barrier sent after it. */
  readonly barrierXid: number | undefined;
  readonly parts: OFPMessage[];
  readonly resolve: (m: OFPMessage[]) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** The batch buffer: flushed once it holds more than OUT_FLUSH_AT bytes, so any message still fits. */
const OUT_SIZE = 256 * 1024;
const OUT_FLUSH_AT = OUT_SIZE - 0x10000;

const HELLO: OFPMessage = { type: 'OFPHello', xid: 0, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] };

/** Requests answered by exactly one message of their own. */
const SINGLE_REPLY: ReadonlySet<string> = new Set([
  'OFPEchoRequest', 'OFPFeaturesRequest', 'OFPGetConfigRequest', 'OFPBarrierRequest', 'OFPRoleRequest',
  'OFPGetAsyncRequest', 'OFPQueueGetConfigRequest',
]);

function isMultipartRequest(type: string): boolean {
  return type.endsWith('StatsRequest');
}

function isMultipartReply(msg: OFPMessage): msg is Extract<OFPMessage, { flags: number }> & { type: `${string}StatsReply` } {
  return msg.type.endsWith('StatsReply');
}

export class DatapathConnection implements DatapathHandle {
  id = 0n;
  state: DatapathState = 'handshake';
  features: MessageOf<'OFPSwitchFeatures'> | undefined;
  readonly ports = new Map<number, Port>();
  readonly peer: string;
  /** The port as it was before the latest port-status (for portModify's `before`). */
  portBefore: Port | undefined;
  private readonly framer = new Framer();
  private readonly pending = new Map<number, Pending>();
  private xid = 0;
  private readonly timer: NodeJS.Timeout;
  private closeReason = 'connection closed by the switch';
  private closing = false;
  /** Outgoing messages gathered while a chunk of input is handled (see send and flush). */
  private readonly out = Buffer.allocUnsafe(OUT_SIZE);
  private outLen = 0;
  private batching = false;
  /** Silence, stuck writes and input held while the queue is full (base/peer-watch.ts: the switch's rule too). */
  private readonly watch: PeerWatch;

  constructor(
    private readonly sock: Socket,
    private readonly host: DatapathHost,
  ) {
    this.peer = `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`;
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err) => {
      this.closeReason = `socket error: ${err.message}`;
    });
    sock.on('close', () => this.onClose());
    sock.on('drain', () => this.onDrain());
    this.watch = new PeerWatch(sock, host.echoIntervalMs, queueLimitFor(host.queueLimit));
    this.timer = setInterval(() => this.keepalive(), Math.max(100, host.echoIntervalMs / 2));
    this.timer.unref();
    this.send(HELLO);
  }

  /** Bytes waiting for the switch: written but not yet taken by the kernel, or still batched. */
  get queuedBytes(): number {
    return this.sock.writableLength + this.outLen;
  }

  get dpidText(): string {
    return this.id.toString(16).padStart(16, '0');
  }

  private nextXid(): number {
    this.xid = (this.xid + 1) >>> 0;
    if (this.xid === 0) this.xid = 1;
    return this.xid;
  }

  send(msg: OFPMessage): number {
    const xid = msg.xid === 0 ? this.nextXid() : msg.xid;
    if (this.state === 'dead') return xid;
    if (this.outLen > OUT_FLUSH_AT) this.flush();
    // Encoded into the batch buffer with the xid patched in afterwards: no copy of the message object.
    const start = this.outLen;
    let end: number;
    try {
      end = encodeInto(msg, this.out, start);
      if (end - start > 0xffff) encode(msg); // throws the codec's "above OpenFlow's 65535" error
    } catch (e) {
      let err = e;
      if (e instanceof RangeError && !(e instanceof OFPCodecError)) {
        // Larger than the room left: encode() says why (or it fits on its own after all).
        try {
          const bytes = encode(msg);
          bytes.writeUInt32BE(xid, 4);
          this.flush();
          this.sock.write(bytes);
          this.host.counted('tx', msg.type);
          return xid;
        } catch (e2) {
          err = e2;
        }
      }
      if (err instanceof OFPCodecError) throw new ControllerError('bad-request', `cannot encode ${msg.type}: ${err.message}`);
      throw err;
    }
    this.out.writeUInt32BE(xid, start + 4);
    this.outLen = end;
    if (!this.batching) this.flush();
    this.host.counted('tx', msg.type);
    return xid;
  }

  /** Writes what send() gathered, as one buffer of its own (the batch buffer is reused). */
  private flush(): void {
    if (this.outLen === 0) return;
    const bytes = Buffer.allocUnsafe(this.outLen);
    this.out.copy(bytes, 0, 0, this.outLen);
    this.outLen = 0;
    this.sock.write(bytes);
  }

  request(msg: OFPMessage, opts: RequestOptions = {}): Promise<OFPMessage[]> {
    if (this.state === 'dead') return Promise.reject(new ControllerError('disconnected', `datapath ${this.dpidText} is disconnected`));
    return new Promise<OFPMessage[]>((resolve, reject) => {
      const xid = msg.xid === 0 ? this.nextXid() : msg.xid;
      const expectsReply = SINGLE_REPLY.has(msg.type) || isMultipartRequest(msg.type);
      const barrierXid = expectsReply ? undefined : this.nextXid();
      const timeoutMs = opts.timeoutMs ?? this.host.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.drop(p);
        reject(new ControllerError('timeout', `datapath ${this.dpidText} did not answer ${msg.type} (xid ${xid}) within ${timeoutMs} ms`));
      }, timeoutMs);
      const p: Pending = { xid, request: msg.type, barrierXid, parts: [], resolve, reject, timer };
      this.pending.set(xid, p);
      if (barrierXid !== undefined) this.pending.set(barrierXid, p);
      try {
        this.send({ ...msg, xid });
        if (barrierXid !== undefined) this.send({ type: 'OFPBarrierRequest', xid: barrierXid });
      } catch (e) {
        this.drop(p);
        reject(e as Error);
      }
    });
  }

  close(reason = 'closed by the controller'): void {
    if (this.state === 'dead' || this.closing) return;
    this.closing = true;
    this.closeReason = reason;
    // Let what is queued (an error saying why, say) reach the switch, but not for long.
    this.flush();
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 1000).unref();
    this.finish();
  }

  private drop(p: Pending): void {
    clearTimeout(p.timer);
    this.pending.delete(p.xid);
    if (p.barrierXid !== undefined) this.pending.delete(p.barrierXid);
  }

  private keepalive(): void {
    if (this.state === 'dead') return;
    const k = this.watch.tick();
    if (k.kind === 'stuck') {
      this.host.bounded?.('stuck');
      this.close(`the switch is not reading: ${k.queuedBytes} bytes queued, silent for ${k.idleMs} ms`);
    } else if (k.kind === 'silent') {
      this.close(`no answer to an echo request for ${k.idleMs} ms`);
    } else if (k.kind === 'probe') {
      this.send({ type: 'OFPEchoRequest', xid: 0, data: Buffer.alloc(0) });
    }
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.watch.heard();
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      this.host.log.warn({ dp: this.dpidText, peer: this.peer, err: (e as Error).message }, 'bad OpenFlow stream from the switch');
      this.close(`bad OpenFlow stream: ${(e as Error).message}`);
      return;
    }
    if (this.watch.waitIfHeld(frames)) return;
    this.handleFrames(frames);
  }

  /**
   * Handles frames in order until the queue to the switch (written or still batched) passes the limit;
   * the rest wait, and the socket is paused, until it drains. Replies to the frames handled leave as one
   * write.
   */
  private handleFrames(frames: readonly Buffer[]): void {
    this.batching = true;
    try {
      for (let i = 0; i < frames.length; i++) {
        if (this.state === 'dead' || this.closing) break;
        if (this.watch.holdIfFull(frames, i, this.outLen)) {
          this.host.bounded?.('read-paused');
          break;
        }
        this.onFrame(frames[i] as Buffer);
      }
    } finally {
      this.batching = false;
      if (this.state !== 'dead') this.flush();
    }
  }

  private onDrain(): void {
    this.watch.drained((frames) => this.handleFrames(frames), () => this.alive);
  }

  /** Neither dead nor closing (a getter, so that checks after a call that may close are not narrowed away). */
  private get alive(): boolean {
    return this.state !== 'dead' && !this.closing;
  }

  private onFrame(bytes: Buffer): void {
    let msg: OFPMessage;
    try {
      msg = decode(bytes);
    } catch (e) {
      if (!(e instanceof OFPCodecError)) throw e;
      if (this.state === 'handshake' && bytes[1] === OFPT.HELLO) {
        // A hello of another version: only its header counts for negotiation.
        this.hello(bytes[0] ?? 0, undefined);
        return;
      }
      this.host.bounded?.('undecodable');
      this.host.log.warn({ dp: this.dpidText, err: e.message, hex: bytes.subarray(0, 64).toString('hex') }, 'undecodable message from the switch');
      this.send({ type: 'OFPErrorMsg', xid: bytes.readUInt32BE(4), err_type: e.errType, code: e.code, data: Buffer.from(bytes.subarray(0, 64)) });
      return;
    }
    this.host.counted('rx', msg.type);
    try {
      this.dispatch(msg);
    } catch (e) {
      this.host.log.error({ dp: this.dpidText, type: msg.type, err: (e as Error).stack }, 'error handling a message from the switch');
    }
  }

  private dispatch(msg: OFPMessage): void {
    switch (msg.type) {
      case 'OFPEchoRequest':
        this.send({ type: 'OFPEchoReply', xid: msg.xid, data: msg.data });
        return;
      case 'OFPHello':
        if (this.state === 'handshake') {
          const bitmap = msg.elements.find((e) => e.kind === 'OFPHelloElemVersionBitmap');
          this.hello(4, bitmap && bitmap.kind === 'OFPHelloElemVersionBitmap' ? bitmap.versions : undefined);
        }
        return;
      case 'OFPSwitchFeatures':
        if (this.state === 'handshake') {
          this.features = msg;
          this.id = msg.datapath_id;
          this.state = 'config';
          this.send({ type: 'OFPSetConfig', xid: 0, flags: 0, miss_send_len: this.host.missSendLen });
          this.request({ type: 'OFPPortDescStatsRequest', xid: 0, flags: 0 }).then(
            (parts) => this.configured(parts),
            (e: Error) => this.close(`port-desc failed: ${e.message}`),
          );
          return;
        }
        break;
      case 'OFPPortStatus':
        // Kept current in every state; the controller turns it into port events.
        this.portBefore = this.ports.get(msg.desc.port_no);
        if (msg.reason === OFPPR.DELETE) this.ports.delete(msg.desc.port_no);
        else if (this.ports.size < MAX_PORTS || this.ports.has(msg.desc.port_no)) this.ports.set(msg.desc.port_no, msg.desc);
        else this.host.bounded?.('port-ignored');
        break;
      default:
        break;
    }
    if (this.settle(msg)) return;
    if (this.state === 'main') this.host.received(this, msg);
  }

  /** Hands a reply or error to its pending request; true if it was one. */
  private settle(msg: OFPMessage): boolean {
    const p = this.pending.get(msg.xid);
    if (!p) {
      if (msg.type === 'OFPEchoReply') return true;
      return false;
    }
    if (msg.type === 'OFPErrorMsg') {
      this.drop(p);
      p.reject(new ControllerError('switch-error', `the switch refused ${p.request}: ${describeError(msg)}`, msg));
      // Errors are also events.
      return false;
    }
    if (p.barrierXid !== undefined) {
      if (msg.type === 'OFPBarrierReply' && msg.xid === p.barrierXid) {
        this.drop(p);
        p.resolve([]);
        return true;
      }
      return false;
    }
    p.parts.push(msg);
    if (isMultipartReply(msg) && (msg.flags & OFPMPF.REPLY_MORE) !== 0) return true;
    this.drop(p);
    p.resolve(p.parts);
    return true;
  }

  private hello(version: number, versions: readonly number[] | undefined): void {
    const ok = versions ? versions.includes(4) : version >= 4;
    if (!ok) {
      const why = 'this controller speaks OpenFlow 1.3 (0x04) only';
      this.send({ type: 'OFPErrorMsg', xid: 0, err_type: OFPET.HELLO_FAILED, code: OFPHFC.INCOMPATIBLE, data: Buffer.from(why) });
      this.close(`version negotiation failed (switch offers ${versions ? versions.join(',') : `0x${version.toString(16)}`}): ${why}`);
      return;
    }
    this.send({ type: 'OFPFeaturesRequest', xid: 0 });
  }

  private configured(parts: readonly OFPMessage[]): void {
    if (this.state !== 'config') return;
    for (const p of parts) {
      if (p.type === 'OFPPortDescStatsReply') for (const port of p.body) this.ports.set(port.port_no, port);
    }
    this.state = 'main';
    this.host.entered(this);
  }

  private onClose(): void {
    this.finish();
  }

  /** The datapath is dead from here on: pending requests fail and the controller forgets it. */
  private finish(): void {
    if (this.state === 'dead') return;
    const wasMain = this.state === 'main';
    this.state = 'dead';
    clearInterval(this.timer);
    const err = new ControllerError('disconnected', `datapath ${this.dpidText} disconnected: ${this.closeReason}`);
    for (const p of new Set(this.pending.values())) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.host.left(this, this.closeReason, wasMain);
  }
}

/** An OFPT_ERROR for logs and messages: its names (openflow's one table) and numbers. */
export function describeError(msg: MessageOf<'OFPErrorMsg'>): string {
  const n = errorNames(msg.err_type, msg.code);
  return `OFPET_${n.type ?? String(msg.err_type)} / ${n.code ?? String(msg.code ?? '-')} (type ${msg.err_type}, code ${msg.code ?? '-'})`;
}
