/**
 * The signaling stanzas, pure: what a node puts in its room presence, EdgeVPN's RemoteAction in an
 * `<evio/>` message, and the checks every incoming one passes before it counts. No sockets, timers or
 * state; link/signal.ts sends and receives them. Nothing here throws on what a peer sent: each check
 * returns a verdict with a reason, which the caller counts.
 *
 *   presence to  <overlay>@<muc domain>/<node id>   <x xmlns="http://jabber.org/protocol/muc"/>
 *                                                     <status>ident#<node id></status>
 *   message      <message type="chat" id=<action_tag> to=<room>/<peer node id>>
 *                  <evio xmlns="tinflow:signal" type="invk|cmpt">RemoteAction JSON</evio>
 *
 * May import: @xmpp/client (to build elements).
 */
import { type Element, xml } from '@xmpp/client';

export const NS_SIGNAL = 'tinflow:signal';
export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const NS_DATA = 'jabber:x:data';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** The largest RemoteAction JSON text accepted or sent, in UTF-8 bytes. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/**
 * The deepest nesting of objects and lists accepted in a RemoteAction. Ours nest 4 deep (params →
 * node_data, or candidates → a candidate); JSON.parse reads 64 KiB of `[[[[...` without trouble, but
 * JSON.stringify and every recursive walk after it (error messages, logs) overflow the stack near 10,000
 * levels, so such a payload is refused here, before any handler sees it.
 */
export const MAX_JSON_DEPTH = 32;

/** EdgeVPN's node ids: 128 bits as 32 lowercase hex digits. */
export const NODE_ID = /^[0-9a-f]{32}$/;
/** Overlay ids become the room's local part: letters, digits, _ and -. */
export const OVERLAY_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Actions as EdgeVPN names them (LNK_REQ_LINK_ENDPT, ...). */
export const ACTION = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Controller module names (EdgeVPN's recipient_cm / initiator_cm: LinkManager, Topology, ...). */
export const MODULE = /^[A-Za-z0-9_]{1,64}$/;
/** Correlation ids: ours are 32 hex digits; EdgeVPN's CBT tags are uuid4 hex. */
export const ACTION_TAG = /^[A-Za-z0-9_-]{1,64}$/;

export { isNodeId } from '../base/node-id.js';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

export type EvioType = 'invk' | 'cmpt';

/**
 * EdgeVPN's RemoteAction (evio/broker/remote_action.py), field for field. A `cmpt` is the `invk` sent
 * back with status and data filled in, except that its params are `{}` (EdgeVPN echoes them; nothing
 * reads them, and echoing would double the size).
 */
export interface RemoteAction {
  readonly overlay_id: string;
  readonly recipient_id: string;
  readonly recipient_cm: string;
  readonly action: string;
  readonly params: JsonObject;
  readonly initiator_id: string;
  readonly initiator_cm: string;
  readonly action_tag: string;
  /** cmpt only: true when the recipient's handler succeeded. */
  readonly status?: boolean;
  /** cmpt only: the handler's result, or (status false) what went wrong, as text. */
  readonly data?: JsonValue;
}

const RA_KEYS = ['overlay_id', 'recipient_id', 'recipient_cm', 'action', 'params', 'initiator_id', 'initiator_cm', 'action_tag', 'status', 'data'] as const;

/** Why a stanza was dropped; each has a counter (signal.ts). */
export type DropReason =
  | 'unknown-sender' // not from an occupant of our room that we know as a node
  | 'malformed' // not an <evio/> of a known type, bad JSON, wrong shape, too large
  | 'spoofed' // claims a node id other than its sender's
  | 'misdirected' // for another overlay or another node
  | 'unexpected' // a reply (or an error) that answers no request of ours
  | 'not-a-node' // a room occupant whose nick and status do not make it a node
  | 'rate-limited' // a node sending faster than its limit (link/signal.ts: SENDER_RATE)
  | 'too-many-peers'; // a new node while the room already holds maxPeers (link/signal.ts)

export type Verdict<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: DropReason; readonly detail: string };

const drop = <T>(reason: DropReason, detail: string): Verdict<T> => ({ ok: false, reason, detail });

function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether v nests objects and lists deeper than max (walked without recursion, so depth cannot hurt). */
export function deeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop() as [unknown, number];
    if (x === null || typeof x !== 'object') continue;
    if (d >= max) return true;
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (y !== null && typeof y === 'object') stack.push([y, d + 1]);
  }
  return false;
}

function field(o: Readonly<Record<string, unknown>>, key: string, re: RegExp): string | undefined {
  const v = o[key];
  return typeof v === 'string' && re.test(v) ? v : undefined;
}

/**
 * Checks the JSON text of an `<evio/>` of type `type`: size, syntax, exactly RemoteAction's keys with
 * their types, status and data only in a cmpt. Who sent it is the caller's check (checkSender).
 */
export function parseRemoteAction(text: string, type: EvioType): Verdict<RemoteAction> {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) return drop('malformed', `payload of ${bytes} bytes, over ${MAX_PAYLOAD_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return drop('malformed', `not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isJsonObject(v)) return drop('malformed', 'not a JSON object');
  if (deeperThan(v, MAX_JSON_DEPTH)) return drop('malformed', `nested deeper than ${MAX_JSON_DEPTH} levels`);
  for (const k of Object.keys(v)) {
    if (!(RA_KEYS as readonly string[]).includes(k)) return drop('malformed', `unknown key ${JSON.stringify(k.slice(0, 40))}`);
  }
  const overlay_id = field(v, 'overlay_id', OVERLAY_ID);
  const recipient_id = field(v, 'recipient_id', NODE_ID);
  const initiator_id = field(v, 'initiator_id', NODE_ID);
  const recipient_cm = field(v, 'recipient_cm', MODULE);
  const initiator_cm = field(v, 'initiator_cm', MODULE);
  const action = field(v, 'action', ACTION);
  const action_tag = field(v, 'action_tag', ACTION_TAG);
  const checks: [string, string | undefined][] = [
    ['overlay_id', overlay_id],
    ['recipient_id', recipient_id],
    ['recipient_cm', recipient_cm],
    ['action', action],
    ['initiator_id', initiator_id],
    ['initiator_cm', initiator_cm],
    ['action_tag', action_tag],
  ];
  for (const [k, val] of checks) if (val === undefined) return drop('malformed', `${k} missing or not valid`);
  const params = v.params;
  if (!isJsonObject(params)) return drop('malformed', 'params missing or not an object');
  let status: boolean | undefined;
  if (type === 'invk') {
    if ('status' in v || 'data' in v) return drop('malformed', 'an invk carries no status or data');
  } else {
    if (typeof v.status !== 'boolean') return drop('malformed', 'a cmpt needs status true or false');
    status = v.status;
    if (!status && v.data !== undefined && typeof v.data !== 'string') return drop('malformed', 'a failed cmpt carries its reason as text');
  }
  // The regexes above guarantee every string; the casts only tell TypeScript so.
  const ra: RemoteAction = {
    overlay_id: overlay_id as string,
    recipient_id: recipient_id as string,
    recipient_cm: recipient_cm as string,
    action: action as string,
    params,
    initiator_id: initiator_id as string,
    initiator_cm: initiator_cm as string,
    action_tag: action_tag as string,
    ...(status !== undefined ? { status } : {}),
    ...('data' in v && v.data !== undefined ? { data: v.data } : {}),
  };
  return { ok: true, value: ra };
}

/** The `<evio/>` of a chat message: exactly one, of a known type. */
export function evioOf(message: Element): Verdict<{ type: EvioType; text: string }> {
  const all = message.getChildren('evio', NS_SIGNAL);
  if (all.length !== 1) return drop('malformed', all.length === 0 ? 'no <evio xmlns="tinflow:signal"/>' : `${all.length} <evio/> elements`);
  const el = all[0] as Element;
  const type = el.attrs.type;
  if (type !== 'invk' && type !== 'cmpt') return drop('malformed', `evio type ${JSON.stringify(String(type).slice(0, 20))}`);
  if (el.getChildElements().length > 0) return drop('malformed', '<evio/> holds elements, not JSON text');
  return { ok: true, value: { type, text: el.text() } };
}

/**
 * Checks a parsed RemoteAction against who sent it and who we are. `senderId` is the node id the room
 * vouches for (the sender's nick, checked against the cache by the caller). An invk must come from
 * its initiator and be for us; a cmpt must come from its recipient (the peer we asked) and be for us.
 */
export function checkRemoteAction(ra: RemoteAction, type: EvioType, senderId: string, self: { readonly nodeId: string; readonly overlayId: string }): Verdict<RemoteAction> {
  if (ra.overlay_id !== self.overlayId) return drop('misdirected', `overlay ${ra.overlay_id}, not ${self.overlayId}`);
  const claimed = type === 'invk' ? ra.initiator_id : ra.recipient_id;
  const us = type === 'invk' ? ra.recipient_id : ra.initiator_id;
  if (claimed !== senderId) return drop('spoofed', `${type} claims node ${claimed}, sent by node ${senderId}`);
  if (us !== self.nodeId) return drop('misdirected', `${type} for node ${us}, not us`);
  return { ok: true, value: ra };
}

/** What a presence from the room says. */
export type RoomPresence =
  | { readonly kind: 'self'; readonly available: boolean; readonly created: boolean }
  | { readonly kind: 'peer'; readonly nodeId: string; readonly available: boolean; readonly realJid: string | undefined }
  | { readonly kind: 'error'; readonly nick: string; readonly condition: string; readonly text: string };

/**
 * Reads a presence whose sender is `roomJid/<nick>`. A peer is an occupant whose nick is a node id and
 * whose status, when available, is `ident#<nick>` (EdgeVPN's announcement); others are 'not-a-node'.
 */
export function parseRoomPresence(p: Element, roomJid: string, nodeId: string): Verdict<RoomPresence> {
  const from = p.attrs.from ?? '';
  const slash = from.indexOf('/');
  if (slash < 0 || from.slice(0, slash) !== roomJid) return drop('unknown-sender', `presence from ${from.slice(0, 100)}`);
  const nick = from.slice(slash + 1);
  const type = p.attrs.type;
  if (type === 'error') return { ok: true, value: { kind: 'error', nick, ...errorOf(p) } };
  if (type !== undefined && type !== 'unavailable') return drop('malformed', `presence type ${String(type).slice(0, 20)}`);
  const available = type === undefined;
  const x = p.getChild('x', NS_MUC_USER);
  const codes = new Set((x?.getChildren('status') ?? []).map((s) => s.attrs.code));
  if (nick === nodeId || codes.has('110')) {
    return { ok: true, value: { kind: 'self', available, created: codes.has('201') } };
  }
  if (!NODE_ID.test(nick)) return drop('not-a-node', `occupant ${JSON.stringify(nick.slice(0, 40))} is not a node id`);
  if (available && p.getChild('status')?.text() !== `ident#${nick}`) return drop('not-a-node', `occupant ${nick} does not announce ident#${nick}`);
  const realJid = x?.getChild('item')?.attrs.jid;
  return { ok: true, value: { kind: 'peer', nodeId: nick, available, realJid } };
}

/** The defined condition (item-not-found, conflict, ...) and the text of an error stanza's <error/>. */
export function errorOf(s: Element): { condition: string; text: string } {
  const err = s.getChild('error');
  const condition = err?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS && c.name !== 'text')?.name ?? 'undefined-condition';
  return { condition, text: (err?.getChild('text', NS_STANZAS)?.text() ?? '').slice(0, 200) };
}

/** An error stanza's condition, with its text when it has one, for messages. */
export function stanzaError(s: Element): string {
  const { condition, text } = errorOf(s);
  return text ? `${condition} (${text})` : condition;
}

/** Joins the room as `nick` (the node id), announcing it as EdgeVPN does, and asking for no history. */
export function joinPresence(roomJid: string, nodeId: string): Element {
  return xml('presence', { to: `${roomJid}/${nodeId}` }, xml('x', { xmlns: NS_MUC }, xml('history', { maxstanzas: '0' })), xml('status', {}, `ident#${nodeId}`));
}

/** Accepts the default configuration of a room we just created (XEP-0045 §10.1.2), which unlocks it. */
export function instantRoom(): Element {
  return xml('query', { xmlns: NS_MUC_OWNER }, xml('x', { xmlns: NS_DATA, type: 'submit' }));
}

/** A RemoteAction message; its id is the action tag, so an error bounce can be matched to its request. */
export function evioMessage(to: string, type: EvioType, json: string, id: string): Element {
  return xml('message', { to, type: 'chat', id }, xml('evio', { xmlns: NS_SIGNAL, type }, json));
}
