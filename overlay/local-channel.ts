/**
 * The switch and its controller in one process, joined without a socket: the node's datapath
 * (switch/datapath.ts) and its in-tree controller (controller/controller.ts, attach()) exchange decoded
 * messages directly. Over TCP on 127.0.0.1 every packet-in and every packet-out of a broadcast is encoded,
 * written, read, framed and decoded again; here a packet-in is one copy of the frame and a queue entry,
 * and a packet-out one call into the datapath. BoundedFlood is the same app either way, and it still
 * speaks nothing but OpenFlow 1.3 (an external controller, or Open vSwitch, still takes the TCP path).
 *
 * The switch side answers what a connection answers itself (echo, barrier, hello) and hands the rest to
 * Datapath.handle(); a refusal (OFPError) rejects the request and reaches the controller as an OFPT_ERROR,
 * as on a connection. Messages from the switch (packet-in, port-status, flow-removed) are queued and
 * delivered on a microtask after the switch's call returns, in order, so the datapath is never re-entered
 * from inside its own pipeline; what the apps answer to one of them may queue more, delivered in turn.
 *
 * May import: base/, openflow/, switch/, controller/ (its API types and errors): the composition layer's.
 */
import type { Logger } from '../base/logger.js';
import type { DatapathHandle, DatapathState, SwitchLink } from '../controller/api.js';
import { ControllerError } from '../controller/errors.js';
import { type MessageOf, type OFPMessage, OFPBRC, OFPCodecError, OFPET, OFPPR, type Port, encode } from '../openflow/index.js';
import type { AsyncKind, ControllerConnection } from '../switch/channel.js';
import type { AsyncSink, Datapath } from '../switch/datapath.js';
import { OFPError } from '../switch/errors.js';

/** The one controller connection the datapath sees (its role: equal, as a fresh connection's). */
const CONN: ControllerConnection = { id: 'local', role: 2, send: () => undefined };

/** Requests whose replies come back to the caller (multipart, config, role, ...), as controller.ts's request(). */
function hasReplies(type: OFPMessage['type']): boolean {
  return type.endsWith('Request') || type === 'OFPBarrierRequest';
}

export class LocalChannel implements DatapathHandle, AsyncSink {
  readonly id: bigint;
  state: DatapathState = 'handshake';
  readonly ports = new Map<number, Port>();
  features: MessageOf<'OFPSwitchFeatures'> | undefined;
  readonly peer = 'local';
  private link: SwitchLink | undefined;
  private readonly inbox: OFPMessage[] = [];
  private scheduled = false;
  private draining = false;
  private xid = 0;

  constructor(
    private readonly sw: Datapath,
    dpid: bigint,
    private readonly log: Logger,
  ) {
    this.id = dpid;
  }

  get connected(): number {
    return this.state === 'main' ? 1 : 0;
  }

  /** The controller's handshake (features, set-config, port description), then attach. */
  connect(ctl: { attach(dp: DatapathHandle): SwitchLink }): void {
    const features = this.sw.handle({ type: 'OFPFeaturesRequest', xid: this.nextXid() }, CONN)[0];
    if (features?.type !== 'OFPSwitchFeatures') throw new Error(`the switch answered the features request with ${features?.type ?? 'nothing'}`);
    this.features = features;
    this.sw.handle({ type: 'OFPSetConfig', xid: this.nextXid(), flags: 0, miss_send_len: 0xffff }, CONN);
    for (const r of this.sw.handle({ type: 'OFPPortDescStatsRequest', xid: this.nextXid(), flags: 0 }, CONN)) {
      if (r.type === 'OFPPortDescStatsReply') for (const p of r.body) this.ports.set(p.port_no, p);
    }
    this.inbox.length = 0; // port-status of ports added before: the description has them
    this.state = 'main';
    this.link = ctl.attach(this);
    this.sw.attach(this);
  }

  // ---- DatapathHandle: what apps call ----

  send(msg: OFPMessage): number {
    const xid = msg.xid === 0 ? this.nextXid() : msg.xid;
    if (this.state !== 'main') return xid;
    const replies = this.exchange({ ...msg, xid }).replies;
    // Replies nobody asked for (an echo's, a stats reply to a plain send) reach the controller as messages.
    this.queue(...replies);
    return xid;
  }

  request(msg: OFPMessage): Promise<OFPMessage[]> {
    if (this.state !== 'main') return Promise.reject(new ControllerError('disconnected', `datapath ${this.id.toString(16)} is disconnected`));
    const xid = msg.xid === 0 ? this.nextXid() : msg.xid;
    const out = this.exchange({ ...msg, xid });
    if (out.error !== undefined) return Promise.reject(new ControllerError('switch-error', `the switch refused ${msg.type}: ${out.error.err_type}/${out.error.code}`, out.error));
    return Promise.resolve(hasReplies(msg.type) ? out.replies : []);
  }

  close(reason = 'closed by the controller'): void {
    if (this.state === 'dead') return;
    this.state = 'dead';
    this.inbox.length = 0;
    this.link?.left(reason);
  }

  // ---- AsyncSink: what the switch calls ----

  sendAsync(msg: OFPMessage, _kind: AsyncKind, _reason: number): number {
    if (this.state !== 'main') return 0;
    // A packet-in's data is a view of the port's receive slab until this returns: copied now.
    this.queue(msg.type === 'OFPPacketIn' ? { ...msg, data: Buffer.from(msg.data) } : msg);
    return 1;
  }

  private queue(...msgs: OFPMessage[]): void {
    if (msgs.length === 0) return;
    this.inbox.push(...msgs);
    if (this.scheduled || this.draining) return;
    this.scheduled = true;
    queueMicrotask(() => this.drain());
  }

  /** Delivers what the switch sent, in order, including what the apps' answers queue meanwhile. */
  private drain(): void {
    this.scheduled = false;
    if (this.draining || this.link === undefined) return;
    this.draining = true;
    try {
      for (let m = this.inbox.shift(); m !== undefined && this.state === 'main'; m = this.inbox.shift()) {
        let before: Port | undefined;
        if (m.type === 'OFPPortStatus') {
          before = this.ports.get(m.desc.port_no);
          if (m.reason === OFPPR.DELETE) this.ports.delete(m.desc.port_no);
          else this.ports.set(m.desc.port_no, m.desc);
        }
        try {
          this.link.received(m, before);
        } catch (e) {
          this.log.error({ type: m.type, err: e instanceof Error ? e.message : String(e) }, 'local channel: delivering a message to the controller failed');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private nextXid(): number {
    this.xid = (this.xid + 1) >>> 0 || 1;
    return this.xid;
  }

  /** What a connection's switch end does with one message from the controller. */
  private exchange(msg: OFPMessage): SwitchAnswer {
    const out = answerAsSwitch(this.sw, msg, this.log);
    if (out.error !== undefined) this.queue(out.error); // as on a connection, it also reaches the controller (an 'error' event)
    return out;
  }
}

export interface SwitchAnswer {
  readonly replies: OFPMessage[];
  /** The OFPT_ERROR a connection would send back, when the switch refused the message. */
  readonly error: MessageOf<'OFPErrorMsg'> | undefined;
}

/**
 * The switch end of a controller connection for one message: what switch/channel.ts answers itself (echo,
 * barrier, hello), the rest by the datapath; a refusal becomes the OFPT_ERROR a connection would send.
 * test/controller/harness.ts answers the same way, with the codec in between.
 */
export function answerAsSwitch(sw: Datapath, msg: OFPMessage, log?: Logger): SwitchAnswer {
  switch (msg.type) {
    case 'OFPBarrierRequest':
      return { replies: [{ type: 'OFPBarrierReply', xid: msg.xid }], error: undefined };
    case 'OFPEchoRequest':
      return { replies: [{ type: 'OFPEchoReply', xid: msg.xid, data: msg.data }], error: undefined };
    case 'OFPHello':
    case 'OFPEchoReply':
      return { replies: [], error: undefined };
    default:
      break;
  }
  try {
    return { replies: sw.handle(msg, CONN), error: undefined };
  } catch (e) {
    let errType: number = OFPET.BAD_REQUEST;
    let code: number = OFPBRC.EPERM;
    if (e instanceof OFPError || e instanceof OFPCodecError) {
      errType = e.errType;
      code = e.code;
    } else {
      log?.error({ type: msg.type, err: e instanceof Error ? e.message : String(e) }, 'the switch failed on a message');
    }
    let data: Buffer;
    try {
      data = encode(msg).subarray(0, 64);
    } catch {
      data = Buffer.alloc(0);
    }
    return { replies: [], error: { type: 'OFPErrorMsg', xid: msg.xid, err_type: errType, code, data } };
  }
}
