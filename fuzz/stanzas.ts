/**
 * Fuzz target 'stanzas': what an XMPP peer can make a node parse. Mutated valid ones and random trees into
 * every parser a stanza reaches: the `<evio/>` of a message and its RemoteAction JSON (link/stanzas.ts),
 * room presence, error stanzas, the link handshake's requests and replies (link/handshake.ts) and the
 * overlay's TOP_NEGOTIATE_EDGE request and reply (overlay/negotiation.ts). Now and then the stanza goes
 * through XML text and @xmpp's own parser first, as it does on the wire.
 *
 * Promises checked per input: a verdict with its reason (a drop reason and a detail; a handshake refusal
 * whose message names the key path; a NegotiationError naming it), or a clean parse whose value parses
 * again to the same value (round trip); never another exception.
 *
 * May import: anything (fuzz/).
 */
import { isDeepStrictEqual } from 'node:util';
import { type Element, xml } from '@xmpp/client';
import {
  parseAck,
  parseCandidatesRequest,
  parseEndpointReply,
  parseEndpointRequest,
  parseRemoveRequest,
  LNK,
  type Parsed,
  type RequestParse,
} from '../link/handshake.js';
import {
  type DropReason,
  type EvioType,
  NS_MUC_USER,
  NS_SIGNAL,
  type Verdict,
  checkRemoteAction,
  errorOf,
  evioMessage,
  evioOf,
  parseRemoteAction,
  parseRoomPresence,
} from '../link/stanzas.js';
import { NegotiationError, edgeReplyParams, edgeRequest, parseEdgeReply, parseEdgeRequest } from '../overlay/negotiation.js';
import { type FuzzOptions, type FuzzReport, type FuzzTarget, FuzzRecorder } from './harness.js';
import { Gen, type Json, brief, mutateJson, randomJson, randomString } from './json-gen.js';

const SELF = 'a'.repeat(32);
const PEER = '0123456789abcdef0123456789abcdef';
const OVERLAY = 'home';
const ROOM = `${OVERLAY}@conference.example.org`;
const LINK_ID = 'f'.repeat(32);
const FPR = `sha-256 ${Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase().slice(-2)).join(':')}`;
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n';
const DROP_REASONS: readonly DropReason[] = ['unknown-sender', 'malformed', 'spoofed', 'misdirected', 'unexpected', 'not-a-node', 'rate-limited', 'too-many-peers'];

function remoteAction(g: Gen, type: EvioType): Json {
  const ra: { [k: string]: Json } = {
    overlay_id: OVERLAY,
    recipient_id: type === 'invk' ? SELF : PEER,
    recipient_cm: 'LinkManager',
    action: g.pick(Object.values(LNK)),
    params: { overlay_id: OVERLAY, link_id: LINK_ID },
    initiator_id: type === 'invk' ? PEER : SELF,
    initiator_cm: 'Topology',
    action_tag: g.hex(32),
  };
  if (type === 'cmpt') {
    ra.status = g.chance(2);
    ra.data = ra.status ? { status: 'accepted', added: 1 } : 'refused: no';
  }
  return ra;
}

const nodeData = (): Json => ({ uid: PEER, mac: '02:00:00:00:00:0b', fpr: FPR, sdp: SDP });
const candidates = (g: Gen): Json => Array.from({ length: 1 + g.int(3) }, (_, i) => ({ candidate: `a=candidate:${i} 1 UDP 2122317823 127.0.0.1 ${40000 + i} typ host`, mid: g.pick(['tf', '0']) }));

/** The params or reply a parser expects, valid; the caller mutates it. */
const HANDSHAKE: readonly { name: string; seed(g: Gen): Json; parse(v: unknown): Parsed<unknown> | RequestParse<unknown> }[] = [
  { name: 'endpoint-request', seed: () => ({ overlay_id: OVERLAY, link_id: LINK_ID, node_data: nodeData() }), parse: (v) => parseEndpointRequest(v, PEER, OVERLAY) },
  { name: 'endpoint-reply', seed: (g) => (g.chance(3) ? { status: 'refused', code: 'collision', message: 'x' } : { status: 'accepted', overlay_id: OVERLAY, link_id: LINK_ID, node_data: nodeData() }), parse: (v) => parseEndpointReply(v, PEER, OVERLAY, LINK_ID) },
  { name: 'candidates', seed: (g) => ({ overlay_id: OVERLAY, link_id: LINK_ID, candidates: candidates(g) }), parse: (v) => parseCandidatesRequest(v, OVERLAY) },
  { name: 'remove', seed: () => ({ overlay_id: OVERLAY, link_id: LINK_ID, reason: 'bye' }), parse: (v) => parseRemoveRequest(v, OVERLAY) },
  { name: 'ack', seed: (g) => (g.chance(2) ? { status: 'accepted', added: 2 } : { status: 'refused', code: 'stale', message: 'late' }), parse: (v) => parseAck(v, LNK.ADD_PEER_CAS) },
];

const EDGE_TYPES = ['successor', 'longDistance', 'static', 'onDemand'] as const;

function input(g: Gen, seed: Json): { value: Json; where: string } {
  const k = g.int(10);
  if (k === 0) return { value: randomJson(g), where: 'random tree' };
  if (k === 1) return { value: seed, where: 'valid' };
  return mutateJson(g, seed);
}

/** JSON text of a value; for one too deep for JSON.stringify, the same depth written out directly. */
function jsonText(v: Json): string {
  try {
    return JSON.stringify(v);
  } catch {
    const n = 30_000;
    return `{"overlay_id":"${OVERLAY}","params":${'['.repeat(n)}1${']'.repeat(n)}}`;
  }
}

function verdictOk<T>(v: Verdict<T>, what: string, i: number, rec: FuzzRecorder): v is { ok: true; value: T } {
  if (v.ok) return true;
  if (!DROP_REASONS.includes(v.reason) || typeof v.detail !== 'string' || v.detail === '') rec.finding(i, `${what}: a drop without a reason or detail: ${brief(v)}`);
  rec.count(`${what}:${v.reason}`);
  return false;
}

/** An XML element, through text and @xmpp's parser when asked (as on the wire); undefined if it does not parse. */
function viaWire(el: Element): Element | undefined {
  const p = new xml.Parser();
  let got: Element | undefined;
  let failed = false;
  p.on('element', (e) => (got = e));
  p.on('error', () => (failed = true));
  try {
    p.write(`<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">${el.toString()}`);
  } catch {
    return undefined; // the library's parser refused it: never reaches us
  }
  return failed ? undefined : got;
}

function message(g: Gen, type: EvioType, text: string): Element {
  const attrs: Record<string, string> = { type: g.chance(8) ? randomString(g).slice(0, 10) : 'chat', from: `${ROOM}/${PEER}`, to: `${SELF}@example.org/x`, id: g.hex(32) };
  const k = g.int(12);
  const evioType = k === 0 ? randomString(g).slice(0, 8) : type;
  const ns = k === 1 ? 'evio:signal' : NS_SIGNAL;
  const children: Element[] = [xml('evio', { xmlns: ns, type: evioType }, text)];
  if (k === 2) children.push(xml('evio', { xmlns: NS_SIGNAL, type }, text));
  if (k === 3) (children[0] as Element).children.push(xml('b', {}, 'x'));
  if (k === 4) children.length = 0;
  if (k === 5) children.unshift(xml('body', {}, randomString(g)));
  return xml('message', attrs, ...children);
}

function presence(g: Gen): Element {
  const nick = g.pick([PEER, SELF, g.hex(32), randomString(g).slice(0, 40)]);
  const from = g.chance(10) ? randomString(g).slice(0, 60) : `${g.chance(10) ? 'other@conference.example.org' : ROOM}/${nick}`;
  const type = g.pick([undefined, undefined, 'unavailable', 'error', randomString(g).slice(0, 8)]);
  const attrs: Record<string, string> = { from };
  if (type !== undefined) attrs.type = type;
  const codes = Array.from({ length: g.int(3) }, () => xml('status', { code: g.pick(['110', '201', '100', randomString(g).slice(0, 4)]) }));
  const item = g.chance(2) ? xml('item', { jid: g.chance(2) ? `x@example.org/${g.hex(4)}` : randomString(g).slice(0, 30), affiliation: 'none' }) : undefined;
  const x = g.chance(4) ? undefined : xml('x', { xmlns: g.chance(10) ? 'urn:x' : NS_MUC_USER }, ...codes, item);
  const status = g.int(4) === 0 ? undefined : xml('status', {}, g.chance(4) ? randomString(g) : `ident#${nick}`);
  const error = type === 'error' ? xml('error', { type: 'cancel' }, xml(g.pick(['conflict', 'item-not-found', 'x']), { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }), g.chance(2) ? xml('text', { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }, randomString(g)) : undefined) : undefined;
  return xml('presence', attrs, x, status, error);
}

async function run(opts: FuzzOptions): Promise<FuzzReport> {
  const rec = new FuzzRecorder('stanzas', opts);
  const g = new Gen(opts.seed);
  const self = { nodeId: SELF, overlayId: OVERLAY };
  for (let i = 0; i < opts.inputs; i++) {
    rec.tick(i);
    const lane = g.int(8);
    try {
      if (lane <= 1) {
        // a message: <evio/> and its RemoteAction, as signal.ts's onMessage reads it
        const type: EvioType = g.chance(2) ? 'invk' : 'cmpt';
        const { value, where } = input(g, remoteAction(g, type));
        let text = g.chance(20) ? randomString(g) : jsonText(value);
        if (g.chance(20)) text = text.slice(0, g.int(text.length + 1));
        let m: Element | undefined = message(g, type, text);
        if (g.chance(10)) m = viaWire(m);
        if (m === undefined) {
          rec.count('xml:unparsable');
          continue;
        }
        const ev = evioOf(m);
        if (!verdictOk(ev, 'evio', i, rec)) continue;
        const again = evioOf(evioMessage('x', ev.value.type, ev.value.text, 'id'));
        if (!again.ok || !isDeepStrictEqual(again.value, ev.value)) rec.finding(i, `<evio/> does not round-trip: ${brief(ev.value).slice(0, 100)}`);
        const ra = parseRemoteAction(ev.value.text, ev.value.type);
        if (!verdictOk(ra, 'remote-action', i, rec)) continue;
        const ra2 = parseRemoteAction(JSON.stringify(ra.value), ev.value.type);
        if (!ra2.ok || !isDeepStrictEqual(ra2.value, ra.value)) rec.finding(i, `RemoteAction does not round-trip (${where}): ${brief(ra.value)}`);
        const checked = checkRemoteAction(ra.value, ev.value.type, PEER, self);
        if (verdictOk(checked, 'checked', i, rec)) rec.count('remote-action:accepted');
      } else if (lane === 2) {
        let p: Element | undefined = presence(g);
        if (g.chance(10)) p = viaWire(p);
        if (p === undefined) {
          rec.count('xml:unparsable');
          continue;
        }
        const v = parseRoomPresence(p, ROOM, SELF);
        errorOf(p);
        if (!verdictOk(v, 'presence', i, rec)) continue;
        rec.count(`presence:${v.value.kind}`);
        if (v.value.kind === 'peer') {
          const id = v.value.nodeId;
          const rebuilt = xml(
            'presence',
            v.value.available ? { from: `${ROOM}/${id}` } : { from: `${ROOM}/${id}`, type: 'unavailable' },
            xml('x', { xmlns: NS_MUC_USER }, v.value.realJid === undefined ? undefined : xml('item', { jid: v.value.realJid })),
            xml('status', {}, `ident#${id}`),
          );
          const again = parseRoomPresence(rebuilt, ROOM, SELF);
          if (!again.ok || !isDeepStrictEqual(again.value, v.value)) rec.finding(i, `a peer's presence does not round-trip: ${brief(v.value)}`);
        }
      } else if (lane <= 5) {
        const h = g.pick(HANDSHAKE);
        const { value, where } = input(g, h.seed(g));
        const r = h.parse(value);
        if (!r.ok) {
          const wrongOverlay = 'wrongOverlay' in r;
          if (typeof r.message !== 'string' || (!wrongOverlay && !r.message.includes('$'))) rec.finding(i, `${h.name} (${where}): a refusal that names no key path: ${brief(r.message)}`);
          rec.count(`${h.name}:${wrongOverlay ? 'wrong-overlay' : 'refused'}`);
          continue;
        }
        rec.count(`${h.name}:ok`);
        const again = h.parse(JSON.parse(JSON.stringify(r.value)));
        if (!again.ok || !isDeepStrictEqual(again.value, r.value)) rec.finding(i, `${h.name} (${where}) does not round-trip: ${brief(r.value)}`);
      } else {
        // TOP_NEGOTIATE_EDGE: a request, or a reply to ours
        if (g.chance(2)) {
          const { value, where } = input(g, { ...edgeRequest(OVERLAY, g.hex(8), g.pick(EDGE_TYPES), PEER, SELF) });
          let req;
          try {
            req = parseEdgeRequest(value, PEER, SELF, OVERLAY);
          } catch (e) {
            if (!(e instanceof NegotiationError) || !e.message.startsWith('$')) rec.finding(i, `edge request (${where}): ${String(e).slice(0, 200)}`);
            rec.count('edge-request:refused');
            continue;
          }
          rec.count('edge-request:ok');
          const again = parseEdgeRequest({ ...edgeRequest(OVERLAY, req.edgeId, req.type, PEER, SELF) }, PEER, SELF, OVERLAY);
          if (!isDeepStrictEqual(again, req)) rec.finding(i, `edge request (${where}) does not round-trip: ${brief(req)}`);
        } else {
          const seed: Json = g.chance(2) ? { ...edgeReplyParams({ accept: true, type: g.pick(EDGE_TYPES) }) } : { is_accepted: false, code: 'E5', message: 'too many' };
          const { value, where } = input(g, seed);
          let rep;
          try {
            rep = parseEdgeReply(value);
          } catch (e) {
            if (!(e instanceof NegotiationError) || !e.message.startsWith('$')) rec.finding(i, `edge reply (${where}): ${String(e).slice(0, 200)}`);
            rec.count('edge-reply:refused');
            continue;
          }
          rec.count('edge-reply:ok');
          const params = rep.accept ? edgeReplyParams({ accept: true, type: rep.type }) : { is_accepted: false, code: rep.code, message: rep.message };
          const again = parseEdgeReply(JSON.parse(JSON.stringify(params)));
          if (!isDeepStrictEqual(again, rep)) rec.finding(i, `edge reply (${where}) does not round-trip: ${brief(rep)}`);
        }
      }
    } catch (e) {
      rec.finding(i, `lane ${lane}: threw ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : String(e)}`);
    }
  }
  return rec.report(opts.inputs);
}

export const stanzasTarget: FuzzTarget = {
  name: 'stanzas',
  about: 'mutated and random signaling stanzas, RemoteActions, handshake and TOP_NEGOTIATE_EDGE messages into their parsers: a reasoned refusal or a parse that round-trips, never another exception',
  run,
};
