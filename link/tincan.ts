/**
 * A TinCan link: one encrypted WebRTC tunnel to one peer node, offered to the switch as a port
 * (switch/port.ts's FramePort). The EdgeVPN tincan process's job (EDGEVPN.md §3), without a process,
 * a TAP or a WebRTC build: one libdatachannel PeerConnection (node-datachannel) per link.
 *
 * Carrier. Frames travel as RTP payloads on one media track (SRTP, keyed by DTLS-SRTP): one frame per
 * packet, or several small ones packed when one send() hands them over together (link/rtp.ts has the
 * format). No SCTP on the data path: a lost packet is a lost frame, as on a wire, and TCP above recovers.
 * Beside it, on the same PeerConnection (one DTLS association), a small reliable data channel carries
 * link control: echoes that measure the round-trip time and prove the peer alive, and a goodbye.
 *
 * Roles. The initiator offers (ICE controlling, DTLS actpass → server), the responder answers (ICE
 * controlled, DTLS active → client). The signaling surface is what the link manager relays over XMPP:
 *
 *   initiator                                  responder
 *   createOffer() → {sdp, fingerprint}   ──►   acceptOffer(sdp, initiatorFingerprint) → {sdp, fingerprint}
 *   applyAnswer(sdp, responderFingerprint) ◄──
 *   signals 'candidate' ──► addRemoteCandidate()   (both ways, trickled as they are gathered)
 *
 * The set-up race, built in. If the responder could reach the initiator before the initiator has the
 * answer, its DTLS ClientHello arrives at a side that does not yet know which certificate to expect, and
 * the handshake fails ("unknown CA", ~15 % of set-ups in the spike). So the offer goes out without
 * candidates, and the initiator's candidates are held back until applyAnswer() has succeeded: only then
 * does it emit them, so the responder cannot start ICE (and DTLS) before the initiator can check it.
 * Candidates that arrive before their link has a remote description wait in the link. The link manager
 * just forwards, in order, what the link hands it.
 *
 * Pinning. The fingerprint the link manager passes in (learned over the trusted signaling channel) is
 * what counts: the remote description's a=fingerprint must equal it, or the description is refused
 * before libdatachannel sees it and the link is gone (EFINGERPRINT); libdatachannel then checks the DTLS
 * certificate against that same fingerprint, and once up the link checks the presented certificate's
 * fingerprint (remoteFingerprint()) once more.
 *
 * Liveness. Every echoIntervalMs each side sends an echo request on the control channel; replies give
 * the RTT (last, and smoothed as TCP's SRTT: 7/8 old + 1/8 new). No reply for timeoutMs, the control
 * channel or track closing, a goodbye from the peer, or the PeerConnection failing or closing: the link
 * closes and emits 'gone' once. A link not up setupTimeoutMs after it was made is gone too, so a set-up
 * that stalls never leaves a PeerConnection behind.
 *
 * Port contract (port.ts). offload = false: the datapath hands it plain frames only. send() never
 * blocks (libdatachannel queues nothing for a track: a packet is encrypted and handed to the socket at
 * once), drops and counts what it cannot carry: frames over the MTU, frames while the carrier is down,
 * frames of a closed link. Received frames are delivered in batches: packets that arrive during one turn
 * of the event loop are delivered together on setImmediate, in batches of up to 64 frames. Bad packets
 * are counted (rxErrors) and dropped; nothing a peer sends can throw.
 *
 * libdatachannel calls back from its own threads through node-datachannel; an exception thrown inside
 * such a callback aborts the process, so every callback here is guarded (see `guard`).
 *
 * May import: node-datachannel, base/, switch/port.ts (types and its name/MTU rules), link/.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type DataChannel,
  type IceServer as NdIceServer,
  PeerConnection,
  type RtcConfig,
  type SelectedCandidateInfo,
  type Track,
  Video,
  cleanup,
} from 'node-datachannel';
import { macToText, parseMac } from '../base/addr.js';
import { type Logger, nullLogger } from '../base/logger.js';
import { type CountingCounters, type FrameBatch, type FramePort, type LinkState, type PortCounters, type PortEvents, checkPortName, fitsMtu, zeroCounters } from '../switch/port.js';
import { type NodeCert, normalizeFingerprint } from './cert.js';
import { type TinCanConfig, resolveLinkConfig } from './config.js';
import { LinkError } from './errors.js';
import { MIN_FRAME_BYTES, PT_FRAME, PT_PACKED, RTP_HEADER_BYTES, RtpHeaderWriter, planPackets, writePayload } from './rtp.js';
import { CTL, type ControlRefusal, ECHO_BYTES, ECHO_REPLIES_PER_SECOND, type PeerMessage, type RxRefusal, RxPath, parseControl } from './rx.js';
import { checkSdpFingerprint, sdpFingerprints, withoutCandidates } from './sdp.js';

export type LinkRole = 'initiator' | 'responder';

/** Where a link is in its life. */
export type LinkPhase =
  | 'new' // made; nothing exchanged
  | 'offering' // initiator: offer being made
  | 'offered' // initiator: offer handed out, waiting for the answer
  | 'answering' // responder: offer applied, answer being made
  | 'connecting' // both descriptions applied: ICE and DTLS at work
  | 'up' // carrier seen at least once (track and control channel open)
  | 'closed';

export interface IceCandidate {
  /** An SDP candidate attribute (`a=candidate:...` or `candidate:...`). */
  readonly candidate: string;
  /** The media section it belongs to. */
  readonly mid: string;
}

/** A local description for the peer, and the fingerprint of our certificate that it carries. */
export interface LocalDescription {
  readonly sdp: string;
  /** `sha-256 AB:CD:...` */
  readonly fingerprint: string;
}

/**
 * Signaling events (on `link.signals`; the link itself emits only the port's events, as FramePort
 * promises): a local ICE candidate for the peer's addRemoteCandidate(), released in the safe order.
 */
export interface SignalEvents {
  candidate: [candidate: IceCandidate];
}

export interface TinCanOptions {
  /** The port's name, 1 to 15 bytes. */
  readonly name: string;
  readonly role: LinkRole;
  /** Resolved with link/config.ts (default: all defaults). */
  readonly config?: TinCanConfig;
  /** The node's certificate; without one libdatachannel makes a throw-away certificate per link. */
  readonly cert?: NodeCert;
  /** The port's MAC (default: a random locally administered unicast address). */
  readonly hwAddr?: string;
  /** Who is at the other end, for logs. */
  readonly peer?: string;
  readonly log?: Logger;
  /** Clock for RTT and liveness, in ms (default performance.now). */
  readonly now?: () => number;
}

export interface CandidateInfo {
  /** host, srflx (behind a NAT, learned by STUN), prflx, or relay (through TURN). */
  readonly type: string;
  readonly address: string;
  readonly port: number;
  readonly transport: string;
}

export interface TinCanStats {
  readonly role: LinkRole;
  readonly phase: LinkPhase;
  readonly carrier: boolean;
  /** Ethernet frames and their bytes each way, and the port's drops and errors. */
  readonly counters: PortCounters;
  readonly rtpPacketsSent: number;
  readonly rtpPacketsReceived: number;
  /** Packets missing from the peer's sequence (lost or reordered on the way). */
  readonly rtpSequenceGaps: number;
  /** Refused packets by reason (their sum is counters.rxErrors). */
  readonly rxRefused: Readonly<Partial<Record<RxRefusal, number>>>;
  /** Control messages from the peer that were ignored, by reason (link/rx.ts). */
  readonly controlRefused: Readonly<Partial<Record<ControlRefusal, number>>>;
  /** RTCP packets received and ignored (we send none; a peer's library might). */
  readonly rtcpIgnored: number;
  /** The last echo's round-trip time and the smoothed one, in ms; undefined before the first reply. */
  readonly rttMs: number | undefined;
  readonly srttMs: number | undefined;
  readonly echoesSent: number;
  readonly echoRepliesReceived: number;
  /** Bytes of the control channel each way, as libdatachannel counts them (its SCTP transport's). */
  readonly controlBytesSent: number;
  readonly controlBytesReceived: number;
  /** The candidate pair ICE selected, once connected. */
  readonly pair: { readonly local: CandidateInfo; readonly remote: CandidateInfo } | undefined;
}

/** Remote candidates kept while the remote description is missing, at most. */
const PENDING_CANDIDATES_LIMIT = 256;
/** The media section and control channel both sides agree on without negotiation. */
const TRACK_MID = 'tf';
const CTL_LABEL = 'tinflow-ctl';
const CTL_ID = 0;


/** Ends node-datachannel's threads: call once when no link is left, before the process exits. */
export function cleanupWebRtc(): void {
  cleanup();
}

function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] as number) & 0xfc) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function candidateInfo(c: SelectedCandidateInfo): CandidateInfo {
  return { type: c.type, address: c.address, port: c.port, transport: c.transportType };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class TinCanLink extends EventEmitter<PortEvents> implements FramePort {
  readonly name: string;
  readonly hwAddr: string;
  readonly mtu: number;
  readonly offload = false;
  readonly role: LinkRole;
  readonly config: TinCanConfig;
  /** The largest frame carried: MTU + Ethernet header + one VLAN tag. */
  readonly maxFrame: number;
  /** Local candidates for the peer ('candidate'), once it is safe to send them. */
  readonly signals = new EventEmitter<SignalEvents>();

  private readonly pc: PeerConnection;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly cert: NodeCert | undefined;
  private readonly peer: string;
  private phaseNow: LinkPhase = 'new';
  private track: Track | undefined;
  private readonly ctl: DataChannel;
  private trackOpen = false;
  private ctlOpen = false;
  /** The PeerConnection reports 'disconnected' (ICE lost its path; it may come back). */
  private iceLost = false;
  private link: LinkState = { up: true, carrier: false };
  private handler: ((batch: FrameBatch) => void) | undefined;
  private isClosed = false;

  // signaling
  private localFingerprint: string | undefined;
  private expectedPeer: string | undefined;
  private remoteSet = false;
  private readonly pendingRemote: IceCandidate[] = [];
  private readonly heldLocal: IceCandidate[] = [];
  private localReleased = false;
  private onDescription: ((sdp: string) => void) | undefined;
  private failDescription: ((e: Error) => void) | undefined;
  private upWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  // data
  private readonly rtp: RtpHeaderWriter;
  private readonly txScratch: Buffer;
  private rxScheduled: NodeJS.Immediate | undefined;
  private readonly c: CountingCounters = zeroCounters();
  private readonly rx: RxPath;
  private rtpSent = 0;
  private readonly ctlRefused: Partial<Record<ControlRefusal, number>> = {};
  /** Echo requests answered in the current second (ECHO_REPLIES_PER_SECOND), and when it began. */
  private echoWindowAt = 0;
  private echoWindowCount = 0;

  // liveness
  private setupTimer: NodeJS.Timeout | undefined;
  private echoTimer: NodeJS.Timeout | undefined;
  private echoSeq = 0;
  private echoesSent = 0;
  private echoReplies = 0;
  private lastReplyAt = 0;
  private lastRtt: number | undefined;
  private srtt: number | undefined;
  private readonly echoBuf = Buffer.alloc(ECHO_BYTES);

  constructor(opts: TinCanOptions) {
    super();
    this.name = checkPortName(opts.name);
    this.role = opts.role;
    this.config = opts.config ?? resolveLinkConfig();
    this.mtu = this.config.mtu;
    this.maxFrame = this.mtu + 14 + 4;
    this.hwAddr = opts.hwAddr === undefined ? randomMac() : macToText(parseMac(opts.hwAddr)); // AddrError names a bad one
    this.cert = opts.cert;
    this.peer = opts.peer ?? '?';
    this.log = opts.log ?? nullLogger;
    this.now = opts.now ?? (() => performance.now());
    this.rtp = new RtpHeaderWriter(randomInt(1, 0xffffffff), randomInt(0, 0x10000));
    this.txScratch = Buffer.alloc(RTP_HEADER_BYTES + this.maxFrame);
    this.rx = new RxPath(this.maxFrame, this.c);
    if (this.cert !== undefined) this.localFingerprint = this.cert.fingerprint;

    this.pc = new PeerConnection(this.name, this.rtcConfig());
    this.pc.onLocalDescription((sdp) => this.guard('local description', () => this.onDescription?.(sdp)));
    this.pc.onLocalCandidate((candidate, mid) => this.guard('local candidate', () => this.localCandidate({ candidate, mid })));
    this.pc.onStateChange((s) => this.guard('state change', () => this.pcState(s)));
    if (this.role === 'initiator') {
      const v = new Video(TRACK_MID, 'SendRecv');
      // libdatachannel wants a codec per payload type; no codec ever sees these packets (no media handler).
      v.addVideoCodec(PT_FRAME, 'VP8');
      v.addVideoCodec(PT_PACKED, 'VP8');
      v.addSSRC(this.rtp.ssrc, 'tinflow');
      this.attachTrack(this.pc.addTrack(v));
    } else {
      this.pc.onTrack((t) => this.guard('track', () => this.attachTrack(t)));
    }
    // Negotiated (same id on both sides): no in-band open handshake, and the responder need not wait for it.
    this.ctl = this.pc.createDataChannel(CTL_LABEL, { negotiated: true, id: CTL_ID });
    this.ctl.onOpen(() => this.guard('control open', () => {
      this.ctlOpen = true;
      this.updateCarrier();
    }));
    this.ctl.onClosed(() => this.guard('control closed', () => this.fail(this.ctlOpen ? 'the peer closed the link (its control channel closed)' : 'the control channel closed before it opened: the set-up failed')));
    this.ctl.onMessage((m) => this.guard('control message', () => this.control(m)));
    this.ctl.onError((e) => this.guard('control error', () => this.log.warn({ link: this.name, err: e }, 'control channel error')));

    this.setupTimer = setTimeout(() => this.fail(`not up within ${this.config.setupTimeoutMs} ms of being made (setupTimeoutMs)`), this.config.setupTimeoutMs);
    this.setupTimer.unref();
    this.log.debug({ link: this.name, role: this.role, peer: this.peer }, 'link made');
  }

  private rtcConfig(): RtcConfig {
    const cfg = this.config;
    const iceServers = cfg.iceServers.map((s): NdIceServer =>
      s.kind === 'stun'
        ? { hostname: s.host, port: s.port }
        : { hostname: s.host, port: s.port, username: s.username ?? '', password: s.credential ?? '', relayType: 'TurnUdp' },
    );
    const rc: RtcConfig = { iceServers, iceTransportPolicy: cfg.iceTransportPolicy, disableAutoNegotiation: true };
    if (cfg.bindAddress !== undefined) rc.bindAddress = cfg.bindAddress;
    if (cfg.portRange !== undefined) {
      rc.portRangeBegin = cfg.portRange.begin;
      rc.portRangeEnd = cfg.portRange.end;
    }
    if (this.cert !== undefined) {
      rc.certificatePemFile = this.cert.certPath;
      rc.keyPemFile = this.cert.keyPath;
    }
    return rc;
  }

  /** Runs a libdatachannel callback's work; what it throws is logged and ends the link, never the process. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ link: this.name, err: message(e) }, `link ${what} handler failed`);
      this.fail(`internal error in its ${what} handler: ${message(e)}`);
    }
  }

  get phase(): LinkPhase {
    return this.phaseNow;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  // ---- signaling -------------------------------------------------------------------------------------

  private expect(role: LinkRole, phase: LinkPhase, step: string): void {
    if (this.isClosed) throw new LinkError('ECLOSED', `link ${this.name}: ${step} on a closed link`);
    if (this.role !== role) throw new LinkError('ESIGNALING', `link ${this.name} is the ${this.role}: only the ${role} calls ${step}`);
    if (this.phaseNow !== phase) throw new LinkError('ESIGNALING', `link ${this.name}: ${step} in phase ${this.phaseNow}, expected ${phase}`);
  }

  /** Sets the local description of `type` and waits for it. */
  private localDescription(type: 'offer' | 'answer'): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.onDescription = (sdp) => {
        this.onDescription = undefined;
        this.failDescription = undefined;
        resolve(sdp);
      };
      this.failDescription = reject;
      try {
        this.pc.setLocalDescription(type);
      } catch (e) {
        this.onDescription = undefined;
        this.failDescription = undefined;
        reject(new LinkError('ESDP', `link ${this.name}: libdatachannel could not make the ${type}: ${message(e)}`));
      }
    });
  }

  private ownFingerprint(sdp: string): string {
    if (this.localFingerprint === undefined) {
      const fp = sdpFingerprints(sdp)[0];
      if (fp === undefined) throw new LinkError('ESDP', `link ${this.name}: libdatachannel's own description has no a=fingerprint`);
      this.localFingerprint = fp;
    }
    return this.localFingerprint;
  }

  /** Initiator: the offer, without candidates (they follow as 'candidate' events after applyAnswer). */
  async createOffer(): Promise<LocalDescription> {
    this.expect('initiator', 'new', 'createOffer()');
    this.phaseNow = 'offering';
    const sdp = await this.localDescription('offer');
    this.phaseNow = 'offered';
    return { sdp: withoutCandidates(sdp), fingerprint: this.ownFingerprint(sdp) };
  }

  /**
   * Applies a remote description after checking its fingerprint; a refused one ends the link (it is
   * gone, and the error is thrown).
   */
  private applyRemote(sdp: string, type: 'offer' | 'answer', peerFingerprint: string): void {
    const who = `the ${this.role === 'initiator' ? 'responder' : 'initiator'} (${this.peer})`;
    try {
      this.expectedPeer = normalizeFingerprint(peerFingerprint, `the expected fingerprint of ${who}`);
      checkSdpFingerprint(sdp, this.expectedPeer, who);
      if (!/^m=video /m.test(sdp) || !/^m=application /m.test(sdp)) {
        throw new LinkError('ESDP', `the ${type} from ${who} lacks the media track or the control channel (m=video and m=application); is it a tinflow link?`);
      }
      try {
        this.pc.setRemoteDescription(sdp, type);
      } catch (e) {
        throw new LinkError('ESDP', `libdatachannel refused the ${type} from ${who}: ${message(e)}`);
      }
    } catch (e) {
      this.fail(message(e));
      throw e;
    }
    this.remoteSet = true;
    for (const c of this.pendingRemote.splice(0)) this.addRemoteCandidate(c);
  }

  /**
   * Responder: applies the initiator's offer (refused unless its fingerprint is peerFingerprint) and
   * returns the answer. Local candidates follow as 'candidate' events once the answer is handed out.
   */
  async acceptOffer(sdp: string, peerFingerprint: string): Promise<LocalDescription> {
    this.expect('responder', 'new', 'acceptOffer()');
    this.applyRemote(sdp, 'offer', peerFingerprint);
    this.phaseNow = 'answering';
    const answer = await this.localDescription('answer');
    this.phaseNow = 'connecting';
    this.releaseLocalCandidates();
    return { sdp: answer, fingerprint: this.ownFingerprint(answer) };
  }

  /**
   * Initiator: applies the responder's answer (refused unless its fingerprint is peerFingerprint); from
   * now on its own candidates are released as 'candidate' events.
   */
  applyAnswer(sdp: string, peerFingerprint: string): void {
    this.expect('initiator', 'offered', 'applyAnswer()');
    this.applyRemote(sdp, 'answer', peerFingerprint);
    this.phaseNow = 'connecting';
    this.releaseLocalCandidates();
  }

  /** A candidate from the peer; kept until the remote description is applied. Ignored once closed. */
  addRemoteCandidate(c: IceCandidate): void {
    if (this.isClosed) return;
    if (typeof c.candidate !== 'string' || !/^(a=)?candidate:/.test(c.candidate) || typeof c.mid !== 'string') {
      throw new LinkError('ESDP', `link ${this.name}: ${JSON.stringify(c)} is not a candidate ({candidate: "a=candidate:...", mid})`);
    }
    if (!this.remoteSet) {
      if (this.pendingRemote.length >= PENDING_CANDIDATES_LIMIT) {
        throw new LinkError('ESIGNALING', `link ${this.name}: ${PENDING_CANDIDATES_LIMIT} candidates already wait for a remote description`);
      }
      this.pendingRemote.push(c);
      return;
    }
    try {
      this.pc.addRemoteCandidate(c.candidate, c.mid);
    } catch (e) {
      throw new LinkError('ESDP', `link ${this.name}: libdatachannel refused candidate ${JSON.stringify(c.candidate)}: ${message(e)}`);
    }
  }

  private localCandidate(c: IceCandidate): void {
    if (this.isClosed) return;
    if (this.localReleased) this.signals.emit('candidate', c);
    else this.heldLocal.push(c);
  }

  /**
   * From the next turn on, local candidates go out as events: after the caller of acceptOffer() or
   * applyAnswer() has handed the description on, so that candidates never overtake it.
   */
  private releaseLocalCandidates(): void {
    setImmediate(() => {
      if (this.isClosed) return;
      this.localReleased = true;
      for (const c of this.heldLocal.splice(0)) this.signals.emit('candidate', c);
    });
  }

  /** Resolves when the carrier first comes up; rejects (ECLOSED, with the reason) if the link ends first. */
  whenUp(): Promise<void> {
    if (this.phaseNow === 'up') return Promise.resolve();
    if (this.isClosed) return Promise.reject(new LinkError('ECLOSED', `link ${this.name} is closed`));
    return new Promise((resolve, reject) => this.upWaiters.push({ resolve, reject }));
  }

  // ---- state -----------------------------------------------------------------------------------------

  private attachTrack(t: Track): void {
    if (this.track !== undefined) {
      this.log.warn({ link: this.name, mid: t.mid() }, 'a second track from the peer: ignored');
      return;
    }
    this.track = t;
    t.onMessage((m) => this.guard('packet', () => this.packet(m)));
    t.onOpen(() => this.guard('track open', () => {
      this.trackOpen = true;
      this.updateCarrier();
    }));
    t.onClosed(() => this.guard('track closed', () => this.fail(this.trackOpen ? 'the media track closed' : 'the media track closed before it opened: the set-up failed')));
    t.onError((e) => this.guard('track error', () => this.log.warn({ link: this.name, err: e }, 'media track error')));
    if (t.isOpen()) {
      this.trackOpen = true;
      this.updateCarrier();
    }
  }

  private pcState(s: string): void {
    if (this.isClosed) return;
    this.log.debug({ link: this.name, state: s }, 'peer connection state');
    switch (s) {
      case 'failed':
        this.fail(this.phaseNow === 'up' ? 'the connection failed (ICE lost the peer)' : 'the connection failed before it was up (ICE found no path, or DTLS failed: a certificate other than the pinned one ends here)');
        return;
      case 'closed':
        this.fail('the peer connection closed');
        return;
      case 'disconnected':
        this.iceLost = true;
        this.updateCarrier();
        return;
      case 'connected':
        this.iceLost = false;
        this.updateCarrier();
        return;
      default:
        return;
    }
  }

  private updateCarrier(): void {
    if (this.isClosed) return;
    const carrier = this.trackOpen && this.ctlOpen && !this.iceLost;
    if (carrier === this.link.carrier) return;
    if (carrier && this.phaseNow !== 'up') {
      if (!this.firstUp()) return;
    }
    this.link = { up: true, carrier };
    this.log.info({ link: this.name, carrier }, carrier ? 'link up' : 'link carrier lost');
    this.emit('link', { ...this.link });
  }

  /**
   * The first time the carrier comes up: checks the certificate the peer presented in DTLS once more
   * (remoteFingerprint() is the hash of that certificate, not the description's value) against the
   * pinned fingerprint, in case libdatachannel's own check was ever off; then starts the echoes.
   */
  private firstUp(): boolean {
    let seen: string;
    try {
      const fp = this.pc.remoteFingerprint();
      seen = normalizeFingerprint(`${fp.algorithm} ${fp.value}`);
    } catch (e) {
      seen = `unreadable (${message(e)})`;
    }
    if (seen !== this.expectedPeer) {
      this.fail(`the peer's certificate was checked against ${seen}, not the pinned ${this.expectedPeer ?? '(none)'}`);
      return false;
    }
    this.phaseNow = 'up';
    if (this.setupTimer !== undefined) clearTimeout(this.setupTimer);
    this.setupTimer = undefined;
    this.lastReplyAt = this.now();
    this.echoTimer = setInterval(() => this.echoTick(), this.config.echoIntervalMs);
    this.echoTimer.unref();
    this.sendEcho();
    for (const w of this.upWaiters.splice(0)) w.resolve();
    return true;
  }

  // ---- link control ----------------------------------------------------------------------------------

  private sendControl(b: Buffer): void {
    if (!this.ctlOpen) return;
    try {
      this.ctl.sendMessageBinary(b);
    } catch (e) {
      // the channel closing is reported by its own callback; a failed send alone is not a verdict
      this.log.debug({ link: this.name, err: message(e) }, 'control send failed');
    }
  }

  private sendEcho(): void {
    const b = this.echoBuf;
    b[0] = CTL.ECHO_REQUEST;
    b.writeUInt32BE(this.echoSeq, 1);
    b.writeDoubleBE(this.now(), 5);
    this.echoSeq = (this.echoSeq + 1) >>> 0;
    this.echoesSent++;
    this.sendControl(b);
  }

  private echoTick(): void {
    if (this.isClosed) return;
    if (this.now() - this.lastReplyAt > this.config.timeoutMs) {
      // A stalled event loop runs this timer before the replies that waited meanwhile: give them one
      // turn (setImmediate runs after pending I/O callbacks) before calling the peer dead.
      setImmediate(() => {
        const silent = this.now() - this.lastReplyAt;
        if (!this.isClosed && silent > this.config.timeoutMs) this.fail(`no echo reply for ${Math.round(silent)} ms (timeoutMs ${this.config.timeoutMs})`);
      });
    }
    this.sendEcho();
  }

  /**
   * A control message from the peer. Overridable for tests only: a subclass that swallows echo requests
   * plays a peer that went silent while its connection stays up.
   */
  protected control(m: string | Buffer | ArrayBuffer): void {
    if (this.isClosed) return;
    const msg = parseControl(m);
    switch (msg.kind) {
      case 'echo-request': {
        const now = this.now();
        if (now - this.echoWindowAt >= 1000) {
          this.echoWindowAt = now;
          this.echoWindowCount = 0;
        }
        if (++this.echoWindowCount > ECHO_REPLIES_PER_SECOND) return this.ctlRefuse('echo-rate');
        this.sendControl(msg.bytes);
        return;
      }
      case 'echo-reply': {
        const now = this.now();
        const rtt = now - msg.sentAt;
        if (!(rtt >= 0) || rtt > 3_600_000) return this.ctlRefuse('echo-time'); // not a time we sent
        this.lastReplyAt = now;
        this.echoReplies++;
        this.lastRtt = rtt;
        this.srtt = this.srtt === undefined ? rtt : this.srtt + (rtt - this.srtt) / 8;
        return;
      }
      case 'bye':
        this.fail(`the peer closed the link${msg.reason === '' ? '' : `: ${msg.reason}`}`);
        return;
      case 'refused':
        return this.ctlRefuse(msg.reason);
      default: {
        const never: never = msg;
        throw new Error(`unhandled control message ${String(never)}`);
      }
    }
  }

  private ctlRefuse(reason: ControlRefusal): void {
    this.ctlRefused[reason] = (this.ctlRefused[reason] ?? 0) + 1;
  }

  // ---- data: receive ---------------------------------------------------------------------------------

  /** A packet from the track: link/rx.ts checks it, counts it, and queues its frames for this turn's delivery. */
  private packet(m: PeerMessage): void {
    if (this.isClosed) return;
    if (this.rx.packet(m)) this.rxScheduled ??= setImmediate(() => this.deliver());
  }

  /** Hands the frames of this turn to the handler, in batches; views valid only during the call. */
  private deliver(): void {
    this.rxScheduled = undefined;
    this.rx.deliver(this.isClosed ? undefined : this.handler, (h) => this.handler === h);
  }

  start(handler: (batch: FrameBatch) => void): void {
    if (this.isClosed) throw new LinkError('ECLOSED', `link ${this.name} is closed`);
    if (this.handler !== undefined) throw new Error(`link ${this.name} is already started`);
    this.handler = handler;
  }

  stop(): void {
    this.handler = undefined;
  }

  // ---- data: send ------------------------------------------------------------------------------------

  send(frames: readonly Buffer[], hdrs?: Buffer): void {
    if (this.isClosed) return;
    if (hdrs !== undefined) throw new Error(`send() on link ${this.name} with virtio-net headers: it has no offload, so it takes plain frames only (the datapath makes them so)`);
    const track = this.track;
    if (!this.link.carrier || track === undefined) {
      this.c.txDropped += frames.length;
      return;
    }
    planPackets(
      frames,
      this.maxFrame,
      (i) => {
        const f = frames[i] as Buffer;
        if (f.length < MIN_FRAME_BYTES) {
          this.c.txErrors++; // not an Ethernet frame: the peer would refuse it
          return true;
        }
        if (!fitsMtu(f, this.mtu)) {
          this.c.txDropped++; // larger than the link carries: dropped, never cut
          return true;
        }
        return false;
      },
      (pt, first, end, payloadBytes) => {
        const buf = this.txScratch;
        this.rtp.write(buf, pt);
        writePayload(buf, RTP_HEADER_BYTES, pt, frames, first, end);
        let ok: boolean;
        try {
          ok = track.sendMessageBinary(buf.subarray(0, RTP_HEADER_BYTES + payloadBytes));
        } catch {
          ok = false;
        }
        if (ok) {
          this.rtpSent++;
          for (let i = first; i < end; i++) {
            this.c.txPackets++;
            this.c.txBytes += (frames[i] as Buffer).length;
          }
        } else {
          this.c.txErrors += end - first;
        }
      },
    );
  }

  /**
   * Sends one RTP packet of payload type pt with this payload, through the same header writer as data.
   * For tests that need a peer sending what tinflow never sends (unknown payload types, bad packing).
   */
  protected sendPacket(pt: number, payload: Buffer): boolean {
    const track = this.track;
    if (track === undefined || !this.link.carrier) return false;
    const buf = Buffer.alloc(RTP_HEADER_BYTES + payload.length);
    this.rtp.write(buf, pt);
    payload.copy(buf, RTP_HEADER_BYTES);
    return track.sendMessageBinary(buf);
  }

  /**
   * Sends one message on the control channel as it is (binary or text). For tests that need a peer
   * sending control messages tinflow never sends (junk types, wrong lengths, floods of echoes).
   */
  protected sendControlMessage(m: Buffer | string): boolean {
    if (!this.ctlOpen) return false;
    return typeof m === 'string' ? this.ctl.sendMessage(m) : this.ctl.sendMessageBinary(m);
  }

  // ---- port ------------------------------------------------------------------------------------------

  linkState(): LinkState {
    return { ...this.link };
  }

  counters(): PortCounters {
    return { ...this.c };
  }

  stats(): TinCanStats {
    let pair: TinCanStats['pair'];
    let sent = 0;
    let received = 0;
    if (!this.isClosed) {
      try {
        const p = this.pc.getSelectedCandidatePair();
        if (p !== null) pair = { local: candidateInfo(p.local), remote: candidateInfo(p.remote) };
        sent = this.pc.bytesSent();
        received = this.pc.bytesReceived();
      } catch {
        // a PeerConnection closing under us: no pair to report
      }
    }
    return {
      role: this.role,
      phase: this.phaseNow,
      carrier: this.link.carrier,
      counters: this.counters(),
      rtpPacketsSent: this.rtpSent,
      rtpPacketsReceived: this.rx.rtpReceived,
      rtpSequenceGaps: this.rx.rtpGaps,
      rxRefused: { ...this.rx.refused },
      controlRefused: { ...this.ctlRefused },
      rtcpIgnored: this.rx.rtcpIgnored,
      rttMs: this.lastRtt,
      srttMs: this.srtt,
      echoesSent: this.echoesSent,
      echoRepliesReceived: this.echoReplies,
      controlBytesSent: sent,
      controlBytesReceived: received,
      pair,
    };
  }

  /** Closes the link (the peer is told, best effort, and sees it gone). Emits nothing here. */
  close(): void {
    this.shut('closed by its owner');
  }

  private shut(reason: string): void {
    if (this.isClosed) return;
    if (this.ctlOpen) {
      const bye = Buffer.concat([Buffer.from([CTL.BYE]), Buffer.from(reason.slice(0, 120), 'utf8')]);
      this.sendControl(bye);
    }
    this.isClosed = true;
    this.phaseNow = 'closed';
    this.handler = undefined;
    if (this.setupTimer !== undefined) clearTimeout(this.setupTimer);
    if (this.echoTimer !== undefined) clearInterval(this.echoTimer);
    if (this.rxScheduled !== undefined) clearImmediate(this.rxScheduled);
    this.setupTimer = this.echoTimer = this.rxScheduled = undefined;
    this.rx.clear();
    this.link = { up: true, carrier: false };
    const err = new LinkError('ECLOSED', `link ${this.name} closed: ${reason}`);
    this.failDescription?.(err);
    this.onDescription = this.failDescription = undefined;
    for (const w of this.upWaiters.splice(0)) w.reject(err);
    try {
      this.pc.close();
    } catch (e) {
      this.log.debug({ link: this.name, err: message(e) }, 'closing the peer connection failed');
    }
  }

  /** The link ended on its own: closes it and emits 'gone' once. */
  private fail(reason: string): void {
    if (this.isClosed) return;
    this.log.info({ link: this.name, peer: this.peer, phase: this.phaseNow, reason }, 'link gone');
    this.shut(reason);
    this.emit('gone', reason);
  }
}
