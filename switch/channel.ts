/**
 * The OpenFlow channel (OF1.3 §6.3, §7.3.4): the switch's connections to its controllers.
 *
 * Active `tcp:HOST:PORT` / `ssl:HOST:PORT` connections are redialled with exponential backoff (1 s
 * doubling to 8 s, as OVS's rconn and its default max_backoff), each delay shortened by up to a quarter
 * at random so that switches that lost the same controller do not redial in step. Every failure counts:
 * refused, TLS handshake failed, closed before or during hello, a controller without OpenFlow 1.3. Only
 * a session that reaches the main state (hello, then a features request answered) resets the backoff,
 * so a controller that accepts TCP and then refuses us is not redialled every second. Passive
 * `ptcp:PORT[:IP]` / `pssl:PORT[:IP]` listeners accept any number of controllers.
 *
 * Each connection: hello version negotiation (bitmaps included), echo replies, an inactivity probe (an
 * echo request after `probeInterval` of silence, disconnect after another), roles (equal / master /
 * slave with generation ids; a new master demotes the old one), the asynchronous-message configuration
 * (get/set async) and the spec's filtering of packet-in, port-status and flow-removed by role and
 * reason, barrier (requests are handled in order and synchronously, so everything earlier is done when
 * the reply goes out), and error replies carrying the offending request. Every other request goes to
 * the datapath's handler.
 *
 * Bounds (every queue says what happens when it is full). What waits for a controller is the socket's
 * write queue (`writableLength`, bytes the kernel has not taken). Past `queueLimit` bytes (default 1 MiB):
 * - packet-ins for that controller are dropped and counted (OVS's rconn packet-in limit does the same);
 *   port-status and flow-removed are dropped only past 16 times the limit (a delete of many flows may
 *   rightly make a burst of flow-removed), counted too; other controllers are not affected;
 * - its requests are not read any more (the rest of the chunk waits, the socket is paused) until the
 *   queue drains, so a controller that sends requests and never reads the replies or errors is held
 *   back by TCP instead of growing the switch's memory (OVS stops receiving from such a connection too);
 * - a controller whose queue has not moved (nothing taken by the kernel) for twice the probe interval, or
 *   that stays silent that long while something is queued for it, is stuck: the switch drops that
 *   connection (counted) and, for an active target, redials it later.
 * The counts are in `counters` and `stats()`, which `tinflow switchctl status` prints.
 */
import { EventEmitter } from 'node:events';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import * as tls from 'node:tls';
import type { EndpointOf } from '../base/endpoint.js';
import type { Logger } from '../base/logger.js';
import { PeerWatch, queueLimitFor } from '../base/peer-watch.js';
import { Redialer } from '../base/redial.js';
import { type TlsFiles, type TlsMaterial, loadTlsFiles } from '../base/tls.js';
import {
  Framer,
  type OFPMessage,
  OFPBRC,
  OFPCodecError,
  OFPCR_ROLE,
  OFPET,
  OFPHFC,
  OFPRRFC,
  OFPT,
  decode,
  encode,
} from '../openflow/index.js';
import { OFPError } from './errors.js';

/** What the switch dials (tcp, ssl) or listens on (ptcp, pssl): base/endpoint.ts parses them. */
export type Target = EndpointOf<'tcp' | 'ssl' | 'ptcp' | 'pssl'>;

/** The kinds `Target` covers, for parseEndpoint. */
export const TARGET_KINDS = ['tcp', 'ssl', 'ptcp', 'pssl'] as const;

export type AsyncKind = 'packet_in' | 'port_status' | 'flow_removed';

/** One controller connection, as the datapath's handler sees it. */
export interface ControllerConnection {
  readonly id: string;
  readonly role: number;
  send(msg: OFPMessage): void;
}

export interface ChannelHandler {
  /** Handles one request and returns the replies; throws OFPError (or OFPCodecError) to answer with an error. */
  handle(msg: OFPMessage, conn: ControllerConnection): OFPMessage[];
}

export interface ChannelOptions {
  readonly targets: readonly Target[];
  readonly handler: ChannelHandler;
  readonly log: Logger;
  /** For ssl: and pssl: targets; all three files (the controller's certificate is always verified). */
  readonly tls?: TlsFiles & { readonly ca: string };
  /** Seconds of silence before an echo request; as long again before giving up. Default 5. */
  readonly probeInterval?: number;
  /** Seconds before the first redial after a failure; doubles with each failure after it. Default 1. */
  readonly minBackoff?: number;
  /** Seconds the redial delay grows to at most. Default 8 (OVS's max_backoff). */
  readonly maxBackoff?: number;
  /** A random number in [0, 1) for the backoff's jitter (default Math.random; tests may fix it). */
  readonly random?: () => number;
  /** Bytes waiting for one controller beyond which its packet-ins are dropped and its input paused. Default 1 MiB. */
  readonly queueLimit?: number;
}

/** What the channel counts of its bounds (see the file's opening comment), summed over connections. */
export interface ChannelCounters {
  /** Packet-ins not sent to a controller whose queue was full. */
  packetInDropped: number;
  /** Port-status messages not sent to a controller whose queue was far past full. */
  portStatusDropped: number;
  /** Flow-removed messages not sent to a controller whose queue was far past full. */
  flowRemovedDropped: number;
  /** Times a controller's input was paused because its replies were not being read. */
  readPauses: number;
  /** Controllers dropped as stuck: their queue did not move, or they were silent with something queued, for twice the probe interval. */
  stuckDropped: number;
}

/** One connection's view in `Channel.stats()`. */
export interface ConnectionStats {
  readonly id: string;
  readonly role: number;
  /** Bytes written but not yet taken by the kernel. */
  readonly queuedBytes: number;
  /** Whether its input is paused until its queue drains. */
  readonly readPaused: boolean;
  readonly packetInDropped: number;
  readonly asyncDropped: number;
}

export interface ChannelStats extends ChannelCounters {
  readonly connected: number;
  readonly queueLimit: number;
  readonly connections: readonly ConnectionStats[];
}

/** Default bytes queued for one controller before its packet-ins are dropped and its input paused. */
export { DEFAULT_QUEUE_LIMIT } from '../base/peer-watch.js';
/** Port-status and flow-removed are dropped only past this many times the queue limit. */
const ASYNC_HEADROOM = 16;

/** Messages a slave may not send (OF1.3 §6.3.5). */
const SLAVE_FORBIDDEN: ReadonlySet<string> = new Set([
  'OFPFlowMod', 'OFPGroupMod', 'OFPPortMod', 'OFPTableMod', 'OFPMeterMod', 'OFPPacketOut',
]);

/**
 * Default async masks per spec §A.3.7 and §7.3.10: [master/equal, slave]. Packet-in: NO_MATCH and ACTION
 * only; INVALID_TTL (bit 2) is off until a controller sets it with SET_ASYNC (OVS's default too).
 */
const DEFAULT_ASYNC = {
  packet_in: [0x3, 0x0] as [number, number],
  port_status: [0x7, 0x7] as [number, number],
  flow_removed: [0xf, 0x0] as [number, number],
};

const HELLO: OFPMessage = { type: 'OFPHello', xid: 0, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] };

/**
 * Message types a switch does not take from a controller: the switch-to-controller ones (and OFPT_ERROR).
 * They are refused with BAD_TYPE from the header alone, whatever their body, as OVS does: the switch
 * does not handle the type, so whether its body would parse does not matter.
 */
const NOT_FOR_SWITCH: ReadonlySet<number> = new Set([
  OFPT.ERROR, OFPT.FEATURES_REPLY, OFPT.GET_CONFIG_REPLY, OFPT.PACKET_IN, OFPT.FLOW_REMOVED, OFPT.PORT_STATUS,
  OFPT.MULTIPART_REPLY, OFPT.BARRIER_REPLY, OFPT.QUEUE_GET_CONFIG_REPLY, OFPT.ROLE_REPLY, OFPT.GET_ASYNC_REPLY,
]);

class Connection implements ControllerConnection {
  role: number = OFPCR_ROLE.EQUAL;
  helloDone = false;
  async = { packet_in: [...DEFAULT_ASYNC.packet_in], port_status: [...DEFAULT_ASYNC.port_status], flow_removed: [...DEFAULT_ASYNC.flow_removed] };
  private readonly framer = new Framer();
  private timer: NodeJS.Timeout | undefined;
  private xid = 0x10000000;
  closed = false;
  /** Whether the session reached the main state: hello done and a features request answered. */
  main = false;
  /** Silence, stuck writes and input held while the queue is full (base/peer-watch.ts: the controller's rule too). */
  private readonly watch: PeerWatch;
  /** Drops of asynchronous messages for this controller, and whether a drop episode is going on (for the log). */
  packetInDropped = 0;
  asyncDropped = 0;
  private dropping = false;

  constructor(
    readonly id: string,
    private readonly sock: Socket,
    private readonly channel: Channel,
    /** The active target this connection was dialled for (undefined for accepted connections). */
    readonly target?: Target,
  ) {
    this.watch = new PeerWatch(sock, channel.probeMs, channel.queueLimit);
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err) => this.channel.log.warn({ conn: id, err: err.message }, 'controller connection error'));
    sock.on('close', () => this.onClose());
    sock.on('drain', () => this.onDrain());
    this.send(HELLO);
    const probe = this.channel.probeMs;
    this.timer = setInterval(() => this.probe(), Math.max(200, probe / 2));
    this.timer.unref();
  }

  private nextXid(): number {
    this.xid = (this.xid + 1) >>> 0;
    return this.xid;
  }

  private probe(): void {
    const k = this.watch.tick();
    if (k.kind === 'stuck') {
      this.channel.log.warn({ conn: this.id, queuedBytes: k.queuedBytes, stuckMs: k.stuckMs }, 'controller is not reading: disconnecting');
      this.channel.counters.stuckDropped++;
      this.close();
    } else if (k.kind === 'silent') {
      this.channel.log.warn({ conn: this.id, idleMs: k.idleMs }, 'no reply to echo request: disconnecting');
      this.close();
    } else if (k.kind === 'probe') {
      this.send({ type: 'OFPEchoRequest', xid: this.nextXid(), data: Buffer.alloc(0) });
    }
  }

  /** Whether an asynchronous message of this kind would be dropped now (this controller's queue is full). */
  full(kind: AsyncKind): boolean {
    const limit = kind === 'packet_in' ? this.channel.queueLimit : this.channel.queueLimit * ASYNC_HEADROOM;
    return this.sock.writableLength >= limit;
  }

  /** Counts an asynchronous message not sent because the queue was full (full() said so). */
  dropped(kind: AsyncKind): void {
    const c = this.channel.counters;
    if (kind === 'packet_in') {
      this.packetInDropped++;
      c.packetInDropped++;
    } else {
      this.asyncDropped++;
      if (kind === 'port_status') c.portStatusDropped++;
      else c.flowRemovedDropped++;
    }
    if (!this.dropping) {
      this.dropping = true;
      this.channel.log.warn({ conn: this.id, queuedBytes: this.sock.writableLength, limit: this.channel.queueLimit }, 'controller is not keeping up: dropping asynchronous messages until its queue drains');
    }
  }

  /** Sends an asynchronous message unless this controller's queue is full (then counts the drop). */
  sendAsync(msg: OFPMessage, kind: AsyncKind): boolean {
    if (this.full(kind)) {
      this.dropped(kind);
      return false;
    }
    this.send(msg);
    return true;
  }

  get queuedBytes(): number {
    return this.sock.writableLength;
  }

  get readPaused(): boolean {
    return this.watch.held;
  }

  private onDrain(): void {
    if (this.dropping) {
      this.dropping = false;
      this.channel.log.info({ conn: this.id, packetInDropped: this.packetInDropped, asyncDropped: this.asyncDropped }, 'controller caught up');
    }
    this.watch.drained((frames) => this.handleFrames(frames), () => !this.closed);
  }

  send(msg: OFPMessage): void {
    if (this.closed) return;
    try {
      this.sock.write(encode(msg));
    } catch (e) {
      this.channel.log.error({ conn: this.id, type: msg.type, err: (e as Error).message }, 'cannot encode a message for the controller');
    }
  }

  private onData(chunk: Buffer): void {
    this.watch.heard();
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      // The stream cannot be resynchronised after a bad length: say why and close.
      const err = e as OFPCodecError;
      this.channel.log.warn({ conn: this.id, err: err.message }, 'bad OpenFlow stream from controller');
      this.sendError(err.errType, err.code, chunk.subarray(0, 64), 0);
      this.close();
      return;
    }
    if (this.watch.waitIfHeld(frames)) return;
    this.handleFrames(frames);
  }

  /**
   * Handles frames in order until the queue to this controller passes the limit; the rest wait (and the
   * socket is paused) until it drains. Checked before each message: one request may produce a large
   * reply (a flow-stats dump), but no second one is read while that is queued.
   */
  private handleFrames(frames: readonly Buffer[]): void {
    for (let i = 0; i < frames.length; i++) {
      if (this.closed) return;
      if (this.watch.holdIfFull(frames, i)) {
        this.channel.counters.readPauses++;
        return;
      }
      this.onMessage(frames[i] as Buffer);
    }
  }

  /** The spec asks for at least 64 bytes of the failed request; like OVS, send all of it (within 64 KiB). */
  private sendError(errType: number, code: number, data: Buffer, xid: number): void {
    this.send({ type: 'OFPErrorMsg', xid, err_type: errType, code, data: Buffer.from(data.subarray(0, 0xffff - 12)) });
  }

  private onMessage(bytes: Buffer): void {
    const xid = bytes.readUInt32BE(4);
    const version = bytes[0] as number;
    const type = bytes[1] as number;
    if (!this.helloDone) {
      if (type !== OFPT.HELLO) {
        this.sendError(OFPET.HELLO_FAILED, OFPHFC.INCOMPATIBLE, bytes, xid);
        this.close();
        return;
      }
      if (!this.negotiate(bytes)) {
        this.sendError(OFPET.HELLO_FAILED, OFPHFC.INCOMPATIBLE, Buffer.from('we support OpenFlow 1.3 (0x04) only'), xid);
        this.channel.log.warn({ conn: this.id, version }, 'controller does not speak OpenFlow 1.3');
        this.close();
        return;
      }
      this.helloDone = true;
      this.channel.log.info({ conn: this.id }, 'controller connected (OpenFlow 1.3)');
      this.channel.emit('connected', this);
      return;
    }
    if (version !== 0x04) {
      this.sendError(OFPET.BAD_REQUEST, OFPBRC.BAD_VERSION, bytes, xid);
      return;
    }
    if (NOT_FOR_SWITCH.has(type) || type > OFPT.METER_MOD) {
      this.sendError(OFPET.BAD_REQUEST, OFPBRC.BAD_TYPE, bytes, xid);
      return;
    }
    let msg: OFPMessage;
    try {
      msg = decode(bytes);
    } catch (e) {
      if (e instanceof OFPCodecError) {
        this.channel.log.debug({ conn: this.id, err: e.message }, 'bad message from controller');
        this.sendError(e.errType, e.code, bytes, xid);
        return;
      }
      throw e;
    }
    try {
      for (const reply of this.dispatch(msg)) this.send(reply);
    } catch (e) {
      if (e instanceof OFPError || e instanceof OFPCodecError) {
        this.channel.log.debug({ conn: this.id, type: msg.type, err: e.message }, 'request refused');
        this.sendError(e.errType, e.code, bytes, xid);
        return;
      }
      this.channel.log.error({ conn: this.id, type: msg.type, err: (e as Error).stack }, 'internal error handling a request');
      this.sendError(OFPET.BAD_REQUEST, OFPBRC.EPERM, bytes, xid);
    }
  }

  /** Version negotiation: the highest common version must be 1.3. */
  private negotiate(bytes: Buffer): boolean {
    const headerVersion = bytes[0] as number;
    try {
      const hello = decode(bytes);
      if (hello.type === 'OFPHello') {
        const bitmap = hello.elements.find((e) => e.kind === 'OFPHelloElemVersionBitmap');
        if (bitmap && bitmap.kind === 'OFPHelloElemVersionBitmap') return bitmap.versions.includes(4);
      }
    } catch {
      // a hello of another version: only its header version counts
    }
    return headerVersion >= 4;
  }

  private dispatch(msg: OFPMessage): OFPMessage[] {
    switch (msg.type) {
      case 'OFPEchoRequest':
        return [{ type: 'OFPEchoReply', xid: msg.xid, data: msg.data }];
      case 'OFPEchoReply':
      case 'OFPHello':
        return [];
      case 'OFPBarrierRequest':
        return [{ type: 'OFPBarrierReply', xid: msg.xid }];
      case 'OFPRoleRequest':
        return [this.channel.roleRequest(this, msg.role, msg.generation_id, msg.xid)];
      case 'OFPGetAsyncRequest':
        return [{ type: 'OFPGetAsyncReply', xid: msg.xid, packet_in_mask: [...this.async.packet_in], port_status_mask: [...this.async.port_status], flow_removed_mask: [...this.async.flow_removed] }];
      case 'OFPSetAsync':
        this.async = { packet_in: [...msg.packet_in_mask], port_status: [...msg.port_status_mask], flow_removed: [...msg.flow_removed_mask] };
        return [];
      default: {
        if (this.role === OFPCR_ROLE.SLAVE && SLAVE_FORBIDDEN.has(msg.type)) {
          throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.IS_SLAVE, `${msg.type} from a slave controller`);
        }
        const replies = this.channel.handler.handle(msg, this);
        if (msg.type === 'OFPFeaturesRequest' && !this.main) {
          this.main = true;
          this.channel.reachedMain(this);
        }
        return replies;
      }
    }
  }

  /** Whether an asynchronous message of this kind and reason goes to this connection. */
  wants(kind: AsyncKind, reason: number): boolean {
    if (!this.helloDone || this.closed) return false;
    const masks = this.async[kind];
    const mask = this.role === OFPCR_ROLE.SLAVE ? masks[1] : masks[0];
    return ((mask ?? 0) & (1 << reason)) !== 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.sock.destroy();
  }

  private onClose(): void {
    const was = this.helloDone;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.channel.dropConnection(this, was);
  }
}

export class Channel extends EventEmitter {
  readonly handler: ChannelHandler;
  readonly log: Logger;
  readonly probeMs: number;
  /** Bytes queued for one controller beyond which its packet-ins are dropped and its input paused. */
  readonly queueLimit: number;
  /** What the bounds dropped or paused (see the file's opening comment). */
  readonly counters: ChannelCounters = { packetInDropped: 0, portStatusDropped: 0, flowRemovedDropped: 0, readPauses: 0, stuckDropped: 0 };
  private readonly conns = new Set<Connection>();
  private readonly servers: Server[] = [];
  /** One per active target: the backoff rule is base/redial.ts's. */
  private readonly redialers = new Map<Target, Redialer>();
  private generation: bigint | undefined;
  private stopped = false;
  private seq = 0;

  private tlsMaterial: TlsMaterial | undefined;

  constructor(private readonly opts: ChannelOptions) {
    super();
    this.handler = opts.handler;
    this.log = opts.log;
    this.probeMs = (opts.probeInterval ?? 5) * 1000;
    this.queueLimit = queueLimitFor(opts.queueLimit);
    for (const t of opts.targets) {
      if (t.kind !== 'tcp' && t.kind !== 'ssl') continue;
      this.redialers.set(
        t,
        new Redialer({
          dial: () => this.dial(t),
          ...(opts.minBackoff !== undefined ? { minMs: opts.minBackoff * 1000 } : {}),
          ...(opts.maxBackoff !== undefined ? { maxMs: opts.maxBackoff * 1000 } : {}),
          ...(opts.random ? { random: opts.random } : {}),
        }),
      );
    }
  }

  /** Reads the TLS files (if any target needs them), starts listeners and dials active targets; resolves once listeners are bound. */
  async start(): Promise<void> {
    if (this.opts.targets.some((t) => t.kind === 'ssl' || t.kind === 'pssl')) {
      if (!this.opts.tls) throw new Error('ssl: and pssl: targets need --cert, --key and --ca');
      this.tlsMaterial = loadTlsFiles(this.opts.tls);
    }
    for (const t of this.opts.targets) {
      if (t.kind === 'ptcp' || t.kind === 'pssl') await this.listen(t);
      else this.redialers.get(t)?.start();
    }
  }

  /** Bound ports of the passive listeners (useful with port 0). */
  listeningPorts(): number[] {
    return this.servers.map((s) => {
      const a = s.address();
      return typeof a === 'object' && a ? a.port : 0;
    });
  }

  private tlsOptions(): TlsMaterial {
    if (!this.tlsMaterial) throw new Error('ssl: and pssl: targets need --cert, --key and --ca');
    return this.tlsMaterial;
  }

  private listen(t: Target): Promise<void> {
    const onSocket = (sock: Socket) => this.adopt(sock, `${t.kind}:${sock.remoteAddress}:${sock.remotePort}`);
    const server =
      t.kind === 'pssl'
        ? tls.createServer({ ...this.tlsOptions(), requestCert: true, rejectUnauthorized: true }, onSocket)
        : createServer(onSocket);
    this.servers.push(server);
    return new Promise((res, rej) => {
      server.once('error', rej);
      server.listen(t.port, t.host, () => {
        server.off('error', rej);
        server.on('error', (err) => this.log.error({ target: t, err: err.message }, 'listener error'));
        this.log.info({ listen: `${t.kind}:${t.port}:${t.host}` }, 'listening for controllers');
        res();
      });
    });
  }

  private dial(t: Target): void {
    if (this.stopped) return;
    const label = `${t.kind}:${t.host}:${t.port}`;
    const sock: Socket =
      t.kind === 'ssl'
        ? tls.connect({ host: t.host, port: t.port, ...this.tlsOptions(), checkServerIdentity: () => undefined })
        : createConnection({ host: t.host, port: t.port });
    const onFail = (err: Error) => {
      this.log.debug({ target: label, err: err.message }, 'controller unreachable');
      this.scheduleRedial(t);
    };
    sock.once('error', onFail);
    sock.once(t.kind === 'ssl' ? 'secureConnect' : 'connect', () => {
      sock.off('error', onFail);
      // A connected socket is not yet a session: the backoff is reset only in reachedMain().
      this.adopt(sock, label, t);
      sock.once('close', () => this.scheduleRedial(t));
    });
  }

  private scheduleRedial(t: Target): void {
    if (this.stopped) return;
    const delay = this.redialers.get(t)?.failed();
    if (delay !== undefined) this.log.debug({ target: `${t.kind}:${t.host}:${t.port}`, delayMs: delay }, 'redialling the controller later');
  }

  /** A dialled connection reached the main state: the next failure starts the backoff over. */
  reachedMain(conn: Connection): void {
    if (conn.target !== undefined) this.redialers.get(conn.target)?.succeeded();
  }

  private adopt(sock: Socket, label: string, target?: Target): Connection {
    const conn = new Connection(`${label}#${++this.seq}`, sock, this, target);
    this.conns.add(conn);
    return conn;
  }

  dropConnection(conn: Connection, wasReady: boolean): void {
    this.conns.delete(conn);
    if (wasReady) {
      this.log.info({ conn: conn.id }, 'controller disconnected');
      this.emit('disconnected', conn);
    }
  }

  /** Connections that finished hello. */
  get connected(): number {
    let n = 0;
    for (const c of this.conns) if (c.helloDone && !c.closed) n++;
    return n;
  }

  roleRequest(conn: Connection, role: number, generationId: bigint, xid: number): OFPMessage {
    if (role > OFPCR_ROLE.SLAVE) throw new OFPError(OFPET.ROLE_REQUEST_FAILED, OFPRRFC.BAD_ROLE, `role ${role} does not exist`);
    if (role === OFPCR_ROLE.MASTER || role === OFPCR_ROLE.SLAVE) {
      if (this.generation !== undefined) {
        // stale when (generation_id - cached) as a signed 64-bit number is negative
        const diff = BigInt.asIntN(64, generationId - this.generation);
        if (diff < 0n) throw new OFPError(OFPET.ROLE_REQUEST_FAILED, OFPRRFC.STALE, `generation id ${generationId} is stale`);
      }
      this.generation = generationId;
    }
    if (role !== OFPCR_ROLE.NOCHANGE) {
      if (role === OFPCR_ROLE.MASTER) {
        for (const other of this.conns) if (other !== conn && other.role === OFPCR_ROLE.MASTER) other.role = OFPCR_ROLE.SLAVE;
      }
      conn.role = role;
    }
    return { type: 'OFPRoleReply', xid, role: conn.role, generation_id: this.generation ?? 0n };
  }

  /**
   * Whether any connection's role and async config want an asynchronous message of this kind and reason
   * and its queue has room. When every one that wants it is full, the message is counted as dropped for
   * each of them here (the datapath then does not build it, nor take a packet buffer for it).
   */
  wants(kind: AsyncKind, reason: number): boolean {
    let full: Connection[] | undefined;
    for (const c of this.conns) {
      if (!c.wants(kind, reason)) continue;
      if (!c.full(kind)) return true;
      (full ??= []).push(c);
    }
    if (full) for (const c of full) c.dropped(kind);
    return false;
  }

  /** Sends an asynchronous message to every connection whose role and async config want it and whose queue has room. */
  sendAsync(msg: OFPMessage, kind: AsyncKind, reason: number): number {
    let n = 0;
    for (const c of this.conns) {
      if (c.wants(kind, reason) && c.sendAsync(msg, kind)) n++;
    }
    return n;
  }

  /** The bounds' counters and each connection's queue, for status (switchctl) and tests. */
  stats(): ChannelStats {
    return {
      ...this.counters,
      connected: this.connected,
      queueLimit: this.queueLimit,
      connections: [...this.conns].map((c) => ({
        id: c.id, role: c.role, queuedBytes: c.queuedBytes, readPaused: c.readPaused, packetInDropped: c.packetInDropped, asyncDropped: c.asyncDropped,
      })),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.redialers.values()) r.stop();
    for (const c of this.conns) c.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
