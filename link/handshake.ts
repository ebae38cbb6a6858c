/**
 * The link handshake's decisions, pure: the message formats the link manager exchanges over signaling,
 * their validation, and one transition function per peer, (slot, event) → (slot, actions). No sockets,
 * timers or links here: link/manager.ts carries out the actions (makes TinCanLinks, sends requests,
 * arms timers) and feeds back what happens as events. The tests drive this same function with two
 * simulated nodes and random interleavings, so the rule that keeps one link per pair is checked apart
 * from WebRTC.
 *
 * EdgeVPN's nine steps (EDGEVPN.md §2), with trickle ICE:
 *   A: connect → link made (initiator), offer made without candidates
 *   A → B  LNK_REQ_LINK_ENDPT {overlay_id, link_id, node_data {uid, mac, fpr, sdp: offer}}
 *   B: checks (overlay, sender, existing link, collision) → link made (responder), offer applied
 *   B → A  reply {status: accepted, overlay_id, link_id, node_data {uid, mac, fpr, sdp: answer}}
 *   A: answer applied; from now on both sides trickle
 *   A ⇄ B  LNK_ADD_PEER_CAS {overlay_id, link_id, candidates [{candidate, mid}]}   (batched per tick)
 *   both: the link comes up (DTLS with the pinned fingerprints) → 'up'
 *   either → other  LNK_REMOVE_LINK {overlay_id, link_id, reason}   (rollback or disconnect, best effort)
 *
 * One slot per peer: at most one link (made or being made) with each peer. Collision (both ends ask at
 * once), as EdgeVPN's Topology rules it (§4): the request from the lower node id wins. A node that has
 * its own attempt pending and gets a request from a lower id drops its attempt and adopts the incoming
 * link; from a higher id, it refuses ("collision"), and the refused side keeps waiting for the winner's
 * request instead of failing. Node ids are 32 lowercase hex digits, so comparing the strings compares the
 * numbers.
 *
 * May import: link/tincan.ts (types), link/cert.ts, base/.
 */
import { isNodeId } from '../base/node-id.js';
import { AddrError, macToText, parseMac } from '../base/addr.js';
import { at, jsonChecks, showValue } from '../base/json.js';
import { normalizeFingerprint } from './cert.js';
import type { IceCandidate } from './tincan.js';

// ---- messages -------------------------------------------------------------------------------------------

/** Signaling actions, named as EdgeVPN's LinkManager names its remote actions. */
export const LNK = {
  REQ_LINK_ENDPT: 'LNK_REQ_LINK_ENDPT',
  ADD_PEER_CAS: 'LNK_ADD_PEER_CAS',
  REMOVE_LINK: 'LNK_REMOVE_LINK',
} as const;
export type LnkAction = (typeof LNK)[keyof typeof LNK];

/** EdgeVPN's NodeData: who the sender is and how to reach and check it. */
export interface NodeData {
  /** The sender's node id (32 lowercase hex). */
  readonly uid: string;
  /** The sender's node MAC, `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** The sender's certificate fingerprint, `sha-256 AB:CD:...` (what its DTLS handshake must show). */
  readonly fpr: string;
  /** The offer (in a request) or the answer (in the reply), without candidates. */
  readonly sdp: string;
}

export interface EndpointRequest {
  readonly overlay_id: string;
  readonly link_id: string;
  readonly node_data: NodeData;
}

export interface CandidatesRequest {
  readonly overlay_id: string;
  readonly link_id: string;
  readonly candidates: readonly IceCandidate[];
}

export interface RemoveRequest {
  readonly overlay_id: string;
  readonly link_id: string;
  readonly reason: string;
}

/** Why a request was refused; the code is stable, the message says what was wrong. */
export const REFUSAL_CODES = {
  /** The params are not the action's shape (the message names the key path). */
  'bad-params': 'bad-params',
  /** The request is for another overlay. */
  'wrong-overlay': 'wrong-overlay',
  /** The receiver's policy does not want a link with the sender (no edge agreed, a leaf node, ...). */
  unauthorized: 'unauthorized',
  /** Both ends asked at once and the receiver's own request wins (EdgeVPN E2). */
  collision: 'collision',
  /** The receiver already has an up link with the sender, under another link id (EdgeVPN E7). */
  'already-linked': 'already-linked',
  /** The link id is in use in a way that does not match (a different offer, or our own id). */
  conflict: 'conflict',
  /** The link id belongs to a link that has ended: a late duplicate. */
  stale: 'stale',
  /** No link with that id. */
  'unknown-link': 'unknown-link',
  /** The receiver's link refused the offer (its fingerprint, its SDP) or could not be made. */
  'bad-offer': 'bad-offer',
  /** The sender asks for new links faster than the receiver makes them for one peer (link/manager.ts NEW_LINK_RATE). */
  'rate-limited': 'rate-limited',
  /** The receiver is setting up as many links as it will at once (link/manager.ts maxSettingUp). */
  busy: 'busy',
  /** The receiver's link manager is not running. */
  closed: 'closed',
  /** The receiver failed to handle the request (a defect there; it logged it). */
  internal: 'internal',
} as const;
export type RefusalCode = keyof typeof REFUSAL_CODES;

export interface Refused {
  readonly status: 'refused';
  readonly code: RefusalCode;
  readonly message: string;
}

export type EndpointReply = { readonly status: 'accepted'; readonly overlay_id: string; readonly link_id: string; readonly node_data: NodeData } | Refused;
export type CandidatesReply = { readonly status: 'accepted'; readonly added: number } | Refused;
export type RemoveReply = { readonly status: 'accepted' } | Refused;

export function refused(code: RefusalCode, message: string): Refused {
  return { status: 'refused', code, message };
}

/** Limits on what a peer may send (a libdatachannel offer is ~1.5 KB; a candidate line ~100 bytes). */
export const LIMITS = {
  sdpBytes: 32 * 1024,
  candidatesPerRequest: 64,
  candidateBytes: 512,
  midBytes: 64,
  reasonBytes: 200,
  /** Remote candidates one link takes in all (a host has a few addresses, times STUN and TURN: tens). */
  candidatesPerLink: 256,
} as const;

const LINK_ID = /^[0-9a-f]{32}$/;

export { isNodeId };

export function isLinkId(s: unknown): s is string {
  return typeof s === 'string' && LINK_ID.test(s);
}

/** A parse result: the typed value, or what was wrong (with the key path). */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

class ParamsError extends Error {}

const check = jsonChecks<unknown>((path, detail) => new ParamsError(`${path}: ${detail}`), showValue);

function parse<T>(what: string, fn: () => T): Parsed<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof ParamsError) return { ok: false, message: `${what}: ${e.message}` };
    throw e;
  }
}

function textOf(v: unknown, path: string, maxBytes: number): string {
  const s = check.text(v, path);
  if (s === '') throw new ParamsError(`${path}: empty`);
  if (Buffer.byteLength(s, 'utf8') > maxBytes) throw new ParamsError(`${path}: longer than ${maxBytes} bytes`);
  return s;
}

function linkIdOf(v: unknown, path: string): string {
  if (!isLinkId(v)) throw new ParamsError(`${path}: expected a link id (32 lowercase hex digits), got ${showValue(v)}`);
  return v;
}

function overlayOf(o: { readonly [k: string]: unknown }, path: string, overlayId: string): string {
  const got = textOf(o.overlay_id, at(path, 'overlay_id'), 256);
  if (got !== overlayId) throw new WrongOverlay(`overlay ${JSON.stringify(got)} is not this node's overlay ${JSON.stringify(overlayId)}`);
  return got;
}

class WrongOverlay extends Error {}

/** Like parse(), but a request for another overlay is its own verdict. */
function parseRequest<T>(what: string, fn: () => T): Parsed<T> | { readonly ok: false; readonly wrongOverlay: true; readonly message: string } {
  try {
    return parse(what, fn);
  } catch (e) {
    if (e instanceof WrongOverlay) return { ok: false, wrongOverlay: true, message: `${what}: ${e.message}` };
    throw e;
  }
}

function nodeDataOf(v: unknown, path: string, sender: string): NodeData {
  const o = check.object(v, path);
  check.onlyKeys(o, ['uid', 'mac', 'fpr', 'sdp'], path, 'node_data');
  const uid = check.text(o.uid, at(path, 'uid'));
  if (!isNodeId(uid)) throw new ParamsError(`${at(path, 'uid')}: expected a node id (32 lowercase hex digits), got ${showValue(uid)}`);
  if (uid !== sender) throw new ParamsError(`${at(path, 'uid')}: ${uid} is not the sender ${sender}`);
  const macText = check.text(o.mac, at(path, 'mac'));
  let mac: string;
  try {
    mac = macToText(parseMac(macText));
  } catch (e) {
    if (e instanceof AddrError) throw new ParamsError(`${at(path, 'mac')}: ${e.message}`);
    throw e;
  }
  let fpr: string;
  try {
    fpr = normalizeFingerprint(check.text(o.fpr, at(path, 'fpr')), 'the fingerprint');
  } catch (e) {
    if (e instanceof ParamsError) throw e;
    throw new ParamsError(`${at(path, 'fpr')}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const sdp = textOf(o.sdp, at(path, 'sdp'), LIMITS.sdpBytes);
  if (!sdp.startsWith('v=0')) throw new ParamsError(`${at(path, 'sdp')}: not a session description (it must start with "v=0")`);
  return { uid, mac, fpr, sdp };
}

export type RequestParse<T> = Parsed<T> | { readonly ok: false; readonly wrongOverlay: true; readonly message: string };

/** LNK_REQ_LINK_ENDPT's params from `sender`, checked against this node's overlay. */
export function parseEndpointRequest(params: unknown, sender: string, overlayId: string): RequestParse<EndpointRequest> {
  return parseRequest(LNK.REQ_LINK_ENDPT, () => {
    const o = check.object(params, '$');
    check.onlyKeys(o, ['overlay_id', 'link_id', 'node_data'], '$', 'the request');
    const overlay_id = overlayOf(o, '$', overlayId);
    const link_id = linkIdOf(o.link_id, '$.link_id');
    return { overlay_id, link_id, node_data: nodeDataOf(o.node_data, '$.node_data', sender) };
  });
}

/** The reply to our LNK_REQ_LINK_ENDPT for link `linkId`, sent to `peer`. */
export function parseEndpointReply(reply: unknown, peer: string, overlayId: string, linkId: string): Parsed<EndpointReply> {
  return parse(`the reply to ${LNK.REQ_LINK_ENDPT}`, () => {
    const o = check.object(reply, '$');
    if (o.status === 'refused') return refusedOf(o);
    if (o.status !== 'accepted') throw new ParamsError(`$.status: expected "accepted" or "refused", got ${showValue(o.status)}`);
    check.onlyKeys(o, ['status', 'overlay_id', 'link_id', 'node_data'], '$', 'the reply');
    const overlay_id = check.text(o.overlay_id, '$.overlay_id');
    if (overlay_id !== overlayId) throw new ParamsError(`$.overlay_id: ${JSON.stringify(overlay_id)} is not ${JSON.stringify(overlayId)}`);
    const link_id = linkIdOf(o.link_id, '$.link_id');
    if (link_id !== linkId) throw new ParamsError(`$.link_id: ${link_id} is not the requested ${linkId}`);
    return { status: 'accepted', overlay_id, link_id, node_data: nodeDataOf(o.node_data, '$.node_data', peer) };
  });
}

function refusedOf(o: { readonly [k: string]: unknown }): Refused {
  check.onlyKeys(o, ['status', 'code', 'message'], '$', 'a refusal');
  const code = check.text(o.code, '$.code');
  if (!Object.hasOwn(REFUSAL_CODES, code)) throw new ParamsError(`$.code: ${showValue(code)} is not a refusal code (${Object.keys(REFUSAL_CODES).join(', ')})`);
  const message = check.text(o.message, '$.message').slice(0, 500);
  return refused(code as RefusalCode, message);
}

/** The reply to LNK_ADD_PEER_CAS or LNK_REMOVE_LINK: accepted, or refused with its code. */
export function parseAck(reply: unknown, action: LnkAction): Parsed<{ readonly status: 'accepted' } | Refused> {
  return parse(`the reply to ${action}`, () => {
    const o = check.object(reply, '$');
    if (o.status === 'refused') return refusedOf(o);
    if (o.status !== 'accepted') throw new ParamsError(`$.status: expected "accepted" or "refused", got ${showValue(o.status)}`);
    return { status: 'accepted' as const };
  });
}

/** LNK_ADD_PEER_CAS's params. */
export function parseCandidatesRequest(params: unknown, overlayId: string): RequestParse<CandidatesRequest> {
  return parseRequest(LNK.ADD_PEER_CAS, () => {
    const o = check.object(params, '$');
    check.onlyKeys(o, ['overlay_id', 'link_id', 'candidates'], '$', 'the request');
    const overlay_id = overlayOf(o, '$', overlayId);
    const link_id = linkIdOf(o.link_id, '$.link_id');
    const list = check.list(o.candidates, '$.candidates');
    if (list.length === 0) throw new ParamsError('$.candidates: empty');
    if (list.length > LIMITS.candidatesPerRequest) throw new ParamsError(`$.candidates: ${list.length} candidates, more than ${LIMITS.candidatesPerRequest} in one request`);
    const candidates = list.map((c, i): IceCandidate => {
      const path = at('$.candidates', i);
      const co = check.object(c, path);
      check.onlyKeys(co, ['candidate', 'mid'], path, 'a candidate');
      const candidate = textOf(co.candidate, at(path, 'candidate'), LIMITS.candidateBytes);
      if (!/^(a=)?candidate:\S/.test(candidate) || /[\r\n]/.test(candidate)) {
        throw new ParamsError(`${at(path, 'candidate')}: ${showValue(candidate)} is not one candidate line ("candidate:..." or "a=candidate:...")`);
      }
      const mid = textOf(co.mid, at(path, 'mid'), LIMITS.midBytes);
      return { candidate, mid };
    });
    return { overlay_id, link_id, candidates };
  });
}

/** LNK_REMOVE_LINK's params. */
export function parseRemoveRequest(params: unknown, overlayId: string): RequestParse<RemoveRequest> {
  return parseRequest(LNK.REMOVE_LINK, () => {
    const o = check.object(params, '$');
    check.onlyKeys(o, ['overlay_id', 'link_id', 'reason'], '$', 'the request');
    const overlay_id = overlayOf(o, '$', overlayId);
    const link_id = linkIdOf(o.link_id, '$.link_id');
    const reason = o.reason === undefined ? 'no reason given' : check.text(o.reason, '$.reason').slice(0, LIMITS.reasonBytes);
    return { overlay_id, link_id, reason };
  });
}

// ---- names ----------------------------------------------------------------------------------------------

/**
 * The port name of the link to `peer`: "tf" and the peer id's first 10 hex digits (12 bytes), or, if
 * that name is taken by a link to another peer, its first 13 (15 bytes, the most a port name holds).
 * Undefined when both are taken (two peers whose ids share 13 leading digits: practically never).
 */
export function portNameFor(peer: string, taken: (name: string) => boolean): string | undefined {
  for (const n of [10, 13]) {
    const name = `tf${peer.slice(0, n)}`;
    if (!taken(name)) return name;
  }
  return undefined;
}

// ---- the transition function ---------------------------------------------------------------------------

export type LinkRole = 'initiator' | 'responder';

/** negotiating: request sent (initiator) or answer being made (responder); connecting: ICE and DTLS at work. */
export type SlotPhase = 'negotiating' | 'connecting' | 'up';

/** The link a node has (or is making) with one peer. No slot: no link. */
export interface Slot {
  readonly linkId: string;
  readonly role: LinkRole;
  readonly phase: SlotPhase;
}

/** What can happen to a peer's slot. Requests arrive already parsed and checked (sender, overlay). */
export type HandshakeEvent =
  /** connect() with a fresh link id (only used if no slot exists). */
  | { readonly type: 'connect'; readonly linkId: string }
  /** LNK_REQ_LINK_ENDPT from the peer; `ended`: the id belongs to a link that ended here. */
  | { readonly type: 'request'; readonly linkId: string; readonly ended: boolean }
  /** Responder: our answer is made and handed out. */
  | { readonly type: 'answered'; readonly linkId: string }
  /** Initiator: the peer accepted and answered our request. */
  | { readonly type: 'answer'; readonly linkId: string }
  /** Initiator: the peer refused our request. */
  | { readonly type: 'refused'; readonly linkId: string; readonly code: RefusalCode; readonly message: string }
  /** A step failed on our side or in transit: a request timed out or got a bad reply, the setup timed out, the link was gone. */
  | { readonly type: 'failed'; readonly linkId: string; readonly reason: string }
  /** LNK_ADD_PEER_CAS from the peer. */
  | { readonly type: 'candidates'; readonly linkId: string; readonly ended: boolean }
  /** The link's carrier came up. */
  | { readonly type: 'up'; readonly linkId: string }
  /** LNK_REMOVE_LINK from the peer. */
  | { readonly type: 'remove'; readonly linkId: string; readonly reason: string; readonly ended: boolean }
  /** disconnect() (or the manager closing). */
  | { readonly type: 'disconnect'; readonly reason: string };

/**
 * How a link ended, which decides what follows:
 * - down: it was up (emit 'down': the port goes away);
 * - failed: its set-up failed (waiting connect() calls fail; the peer's next attempt backs off);
 * - superseded: a collision decided for the peer's link (connect() calls keep waiting for that one);
 * - aborted: disconnect() before it was up (waiting connect() calls fail; no backoff).
 */
export type LinkEnd = 'down' | 'failed' | 'superseded' | 'aborted';

export type HandshakeAction =
  /** Make the initiator's link, its offer, and send LNK_REQ_LINK_ENDPT. */
  | { readonly type: 'offer'; readonly linkId: string }
  /** Make the responder's link, apply the offer, reply with the answer. */
  | { readonly type: 'answer'; readonly linkId: string }
  /** Reply to a repeated request with the answer already made for it. */
  | { readonly type: 'answer-again'; readonly linkId: string }
  /** Apply the peer's answer to our link. */
  | { readonly type: 'apply-answer'; readonly linkId: string }
  /** Add the peer's candidates to our link and accept the request. */
  | { readonly type: 'add-candidates'; readonly linkId: string }
  /** Accept the peer's LNK_REMOVE_LINK. */
  | { readonly type: 'ack' }
  /** Refuse the peer's request. */
  | { readonly type: 'refuse'; readonly code: RefusalCode; readonly message: string }
  /** The link is up: hand out its port. */
  | { readonly type: 'up'; readonly linkId: string }
  /** Close the link and forget it; tellPeer: send LNK_REMOVE_LINK (best effort). */
  | { readonly type: 'close'; readonly linkId: string; readonly end: LinkEnd; readonly reason: string; readonly tellPeer: boolean };

export interface Transition {
  readonly slot: Slot | undefined;
  readonly actions: readonly HandshakeAction[];
}

/** The winner of a collision between requests from a and b: the request from the lower node id. */
export function collisionWinner(a: string, b: string): string {
  return a < b ? a : b;
}

function close(s: Slot, end: LinkEnd, reason: string, tellPeer: boolean): HandshakeAction {
  return { type: 'close', linkId: s.linkId, end, reason, tellPeer };
}

function same(slot: Slot | undefined, linkId: string): slot is Slot {
  return slot !== undefined && slot.linkId === linkId;
}

/**
 * One step for the slot `self` keeps for `peer`: the slot after `event`, and the actions to carry out
 * in order. Events about a link id that is not the slot's are stale: ignored, or refused when they are
 * requests.
 */
export function transition(self: string, peer: string, slot: Slot | undefined, event: HandshakeEvent): Transition {
  const keep = (...actions: HandshakeAction[]): Transition => ({ slot, actions });
  switch (event.type) {
    case 'connect':
      if (slot !== undefined) return keep(); // a link exists or is being made: connect() waits for it
      return { slot: { linkId: event.linkId, role: 'initiator', phase: 'negotiating' }, actions: [{ type: 'offer', linkId: event.linkId }] };

    case 'request': {
      const id = event.linkId;
      if (event.ended) return keep({ type: 'refuse', code: 'stale', message: `link ${id} has ended; a late or repeated request` });
      const fresh: Slot = { linkId: id, role: 'responder', phase: 'negotiating' };
      if (slot === undefined) return { slot: fresh, actions: [{ type: 'answer', linkId: id }] };
      if (slot.linkId === id) {
        if (slot.role === 'responder') return keep({ type: 'answer-again', linkId: id });
        return keep({ type: 'refuse', code: 'conflict', message: `link id ${id} is the receiver's own request to the sender` });
      }
      if (slot.phase === 'up') {
        return keep({ type: 'refuse', code: 'already-linked', message: `already linked with ${peer} (link ${slot.linkId})` });
      }
      if (slot.role === 'initiator') {
        // Both ends asked at once: the request from the lower node id wins.
        if (collisionWinner(self, peer) === peer) {
          return { slot: fresh, actions: [close(slot, 'superseded', `collision: ${peer}'s request ${id} wins over ours (lower node id)`, true), { type: 'answer', linkId: id }] };
        }
        return keep({ type: 'refuse', code: 'collision', message: `collision: ${self}'s own request ${slot.linkId} wins (lower node id); wait for it` });
      }
      // We are answering an older request from the same peer that is not up: the peer has given it up
      // (its set-up failed or timed out there) and asks again. The newer request replaces it.
      return { slot: fresh, actions: [close(slot, 'superseded', `replaced by ${peer}'s newer request ${id}`, false), { type: 'answer', linkId: id }] };
    }

    case 'answered':
      if (!same(slot, event.linkId) || slot.role !== 'responder' || slot.phase !== 'negotiating') return keep();
      return { slot: { ...slot, phase: 'connecting' }, actions: [] };

    case 'answer':
      if (!same(slot, event.linkId) || slot.role !== 'initiator' || slot.phase !== 'negotiating') return keep(); // stale or repeated
      return { slot: { ...slot, phase: 'connecting' }, actions: [{ type: 'apply-answer', linkId: slot.linkId }] };

    case 'refused':
      if (!same(slot, event.linkId) || slot.role !== 'initiator' || slot.phase !== 'negotiating') return keep();
      if (event.code === 'collision') return { slot: undefined, actions: [close(slot, 'superseded', `${peer} refused: ${event.message}`, false)] };
      return { slot: undefined, actions: [close(slot, 'failed', `${peer} refused (${event.code}): ${event.message}`, false)] };

    case 'failed': {
      if (!same(slot, event.linkId)) return keep();
      // A responder still making its answer need not tell: the reply to the request does (a refusal).
      const tell = !(slot.role === 'responder' && slot.phase === 'negotiating');
      return { slot: undefined, actions: [close(slot, slot.phase === 'up' ? 'down' : 'failed', event.reason, tell)] };
    }

    case 'candidates':
      if (same(slot, event.linkId)) return keep({ type: 'add-candidates', linkId: event.linkId });
      return keep(unknown(event.linkId, event.ended));

    case 'up':
      if (!same(slot, event.linkId) || slot.phase === 'up') return keep();
      return { slot: { ...slot, phase: 'up' }, actions: [{ type: 'up', linkId: slot.linkId }] };

    case 'remove':
      if (!same(slot, event.linkId)) return keep(unknown(event.linkId, event.ended));
      return { slot: undefined, actions: [close(slot, slot.phase === 'up' ? 'down' : 'failed', `${peer} removed it: ${event.reason}`, false), { type: 'ack' }] };

    case 'disconnect':
      if (slot === undefined) return keep();
      return { slot: undefined, actions: [close(slot, slot.phase === 'up' ? 'down' : 'aborted', event.reason, true)] };

    default:
      return assertNever(event);
  }
}

function unknown(linkId: string, ended: boolean): HandshakeAction {
  return ended ? { type: 'refuse', code: 'stale', message: `link ${linkId} has ended` } : { type: 'refuse', code: 'unknown-link', message: `no link ${linkId} with the sender` };
}

function assertNever(x: never): never {
  throw new Error(`unhandled handshake event ${JSON.stringify(x)}`);
}
