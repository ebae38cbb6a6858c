/**
 * A fake OpenFlow 1.3 switch, for driving controllers where a real switch will not do what is needed on
 * demand: stay silent, offer OpenFlow 1.0, reuse a datapath id, hang up mid-request (the controller
 * tests), or send packet-ins by the hundred thousand (bench-controller).
 *
 * It connects over TCP and plays the switch's side of the handshake and of the housekeeping requests:
 * hello, features, port-desc, desc, get/set-config, barrier, echo, role. Every other request is refused
 * with OFPT_ERROR BAD_REQUEST, as a switch that does not implement it would. Its owner sees every
 * message first (`answer`): it may answer in its own way, stay silent (an empty list), or leave the
 * message to the defaults (undefined).
 *
 * It is test tooling (test/tools/, compiled by the build), shared by the controller tests and the
 * controller benchmark (bench/controller.ts). It speaks OpenFlow, so it is not base/; it is no part of
 * the controller, so it is not controller/. Nothing in base/, openflow/, switch/, controller/ or link/
 * may import it (eslint.config.js).
 */
import { once } from 'node:events';
import { type Socket, createConnection } from 'node:net';
import { Framer, type MessageOf, OFPBRC, OFPET, type OFPMessage, type Port, encode } from '../../openflow/index.js';
import { readMessages } from './of-stream.js';

export interface FakeSwitchOptions {
  readonly dpid: bigint;
  /** The controller's port on `host`. */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Our hello's version: 4 (the default) sends a version bitmap; any other sends a bare header of that version. */
  readonly helloVersion?: number;
  /** Features reply: n_tables (default 1) and capabilities (default 0). */
  readonly nTables?: number;
  readonly capabilities?: number;
  /** The port-desc reply's ports. Default none. */
  readonly ports?: readonly Port[];
  /** The desc reply. */
  readonly desc?: MessageOf<'OFPDescStatsReply'>['body'];
  /** Sees each message first: replies to send (possibly none), or undefined for the default answer. */
  readonly answer?: (msg: OFPMessage) => readonly OFPMessage[] | undefined;
  /** After each chunk of input has been handled (a point to send more in one write). */
  readonly onChunk?: () => void;
  /** Bytes that could not be framed (the connection is then closed) or decoded (the message is skipped). */
  readonly onBadInput?: (what: string) => void;
  /** Keep every message received in `got` (for tests; off for load). */
  readonly record?: boolean;
}

const NO_DESC: MessageOf<'OFPDescStatsReply'>['body'] = { mfr_desc: 'tinflow', hw_desc: 'fake switch', sw_desc: '0.1', serial_num: '', dp_desc: 'fake switch' };

export class FakeSwitch {
  readonly sock: Socket;
  /** What it received, when `record` is on. */
  readonly got: OFPMessage[] = [];
  /** miss_send_len as the controller last set it. */
  missSendLen = 128;
  /** Why the connection ended (an error, or the peer closing), once it has. */
  closedBecause: string | undefined;
  private readonly framer = new Framer();

  constructor(readonly opts: FakeSwitchOptions) {
    this.sock = createConnection({ host: opts.host ?? '127.0.0.1', port: opts.port, noDelay: true });
    this.sock.on('data', (chunk: Buffer) => this.onData(chunk));
    this.sock.on('error', (e) => {
      this.closedBecause ??= e.message;
    });
    this.sock.on('close', () => {
      this.closedBecause ??= 'connection closed by the controller';
    });
    const v = opts.helloVersion ?? 4;
    // Written now, sent once connected.
    if (v === 4) this.send({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] });
    else this.sock.write(Buffer.from([v, 0, 0, 8, 0, 0, 0, 1]));
  }

  get dpid(): bigint {
    return this.opts.dpid;
  }

  send(msg: OFPMessage): void {
    if (!this.sock.destroyed) this.sock.write(encode(msg));
  }

  /** Resolves once the connection has closed. */
  closed(): Promise<void> {
    if (this.sock.destroyed || this.sock.readyState === 'closed') return Promise.resolve();
    return once(this.sock, 'close').then(() => undefined);
  }

  end(): void {
    this.sock.destroy();
  }

  /** What this switch answers to msg by default: a switch's housekeeping replies, or a refusal. */
  defaultAnswer(msg: OFPMessage): OFPMessage[] {
    const xid = msg.xid;
    switch (msg.type) {
      case 'OFPFeaturesRequest':
        return [{ type: 'OFPSwitchFeatures', xid, datapath_id: this.opts.dpid, n_buffers: 0, n_tables: this.opts.nTables ?? 1, auxiliary_id: 0, capabilities: this.opts.capabilities ?? 0 }];
      case 'OFPPortDescStatsRequest':
        return [{ type: 'OFPPortDescStatsReply', xid, flags: 0, body: [...(this.opts.ports ?? [])] }];
      case 'OFPDescStatsRequest':
        return [{ type: 'OFPDescStatsReply', xid, flags: 0, body: this.opts.desc ?? NO_DESC }];
      case 'OFPGetConfigRequest':
        return [{ type: 'OFPGetConfigReply', xid, flags: 0, miss_send_len: this.missSendLen }];
      case 'OFPSetConfig':
        this.missSendLen = msg.miss_send_len;
        return [];
      case 'OFPBarrierRequest':
        return [{ type: 'OFPBarrierReply', xid }];
      case 'OFPEchoRequest':
        return [{ type: 'OFPEchoReply', xid, data: msg.data }];
      case 'OFPRoleRequest':
        return [{ type: 'OFPRoleReply', xid, role: msg.role, generation_id: msg.generation_id }];
      default:
        if (msg.type.endsWith('Request')) {
          const code = msg.type.endsWith('StatsRequest') ? OFPBRC.BAD_MULTIPART : OFPBRC.BAD_TYPE;
          return [{ type: 'OFPErrorMsg', xid, err_type: OFPET.BAD_REQUEST, code, data: Buffer.from(encode(msg).subarray(0, 64)) }];
        }
        return [];
    }
  }

  private onData(chunk: Buffer): void {
    const framed = readMessages(this.framer, chunk, this.opts.onBadInput, (msg) => {
      if (this.opts.record) this.got.push(msg);
      for (const r of this.opts.answer?.(msg) ?? this.defaultAnswer(msg)) this.send(r);
    });
    if (!framed) {
      this.sock.destroy();
      return;
    }
    this.opts.onChunk?.();
  }
}
