/**
 * Edge negotiation on the wire: EdgeVPN's TOP_NEGOTIATE_EDGE (EDGEVPN.md §4), the request one node sends
 * another over signaling before either makes a link, and its reply. Pure: building and checking params.
 *
 * Request params: `{overlay_id, edge_id, edge_type, initiator_id, recipient_id}`. The edge type travels
 * under EdgeVPN's names (CETypeSuccessor, ...), so a capture reads the same. EdgeVPN's `location_id` and
 * `capability` (its Geneve dataplane) have no counterpart: tinflow links are always TinCan links.
 * Reply: `{is_accepted: true, edge_type}` or `{is_accepted: false, code, message}` with EdgeVPN's codes
 * (E1 duplicate, E2 collision lost, E5 too many, E6 not accepting, E7 linked under another edge).
 *
 * Everything a peer sends is checked here; a bad request becomes a refusal naming the key path, never an
 * exception past the handler.
 *
 * May import: base/.
 */
import { at, jsonChecks, showValue } from '../base/json.js';
import { isNodeId } from '../base/node-id.js';
import type { EdgeReply, EdgeType } from './topology.js';

export const TOP_NEGOTIATE_EDGE = 'TOP_NEGOTIATE_EDGE';

const WIRE_TYPES: Readonly<Record<EdgeType, string>> = {
  successor: 'CETypeSuccessor',
  longDistance: 'CETypeLongDistance',
  static: 'CETypeStatic',
  onDemand: 'CETypeOnDemand',
};

const FROM_WIRE = new Map(Object.entries(WIRE_TYPES).map(([k, v]) => [v, k as EdgeType]));

export class NegotiationError extends Error {
  override readonly name = 'NegotiationError';
}

const check = jsonChecks<unknown>((path, detail) => new NegotiationError(`${path}: ${detail}`), showValue);

const EDGE_ID = /^[0-9A-Za-z-]{1,64}$/;

export interface EdgeRequestParams {
  readonly overlay_id: string;
  readonly edge_id: string;
  readonly edge_type: string;
  readonly initiator_id: string;
  readonly recipient_id: string;
}

export function edgeRequest(overlayId: string, edgeId: string, type: EdgeType, from: string, to: string): EdgeRequestParams {
  return { overlay_id: overlayId, edge_id: edgeId, edge_type: WIRE_TYPES[type], initiator_id: from, recipient_id: to };
}

export interface ParsedEdgeRequest {
  readonly edgeId: string;
  readonly type: EdgeType;
}

function edgeType(v: unknown, path: string): EdgeType {
  const s = check.text(v, path);
  const t = FROM_WIRE.get(s);
  if (t === undefined) throw new NegotiationError(`${path}: expected one of ${[...FROM_WIRE.keys()].join(', ')}, got ${showValue(s)}`);
  return t;
}

/**
 * A request from `sender` to `self` in `overlayId`. The initiator must be the sender (signaling says who
 * sent it; a node cannot ask on another's behalf) and the recipient this node.
 */
export function parseEdgeRequest(params: unknown, sender: string, self: string, overlayId: string): ParsedEdgeRequest {
  const o = check.object(params, '$');
  check.onlyKeys(o, ['overlay_id', 'edge_id', 'edge_type', 'initiator_id', 'recipient_id'], '$', 'an edge request');
  const overlay = check.text(o.overlay_id, '$.overlay_id');
  if (overlay !== overlayId) throw new NegotiationError(`$.overlay_id: ${showValue(overlay)} is not this node's overlay ${JSON.stringify(overlayId)}`);
  const edgeId = check.text(o.edge_id, '$.edge_id');
  if (!EDGE_ID.test(edgeId)) throw new NegotiationError(`$.edge_id: expected 1 to 64 letters, digits or "-", got ${showValue(edgeId)}`);
  const type = edgeType(o.edge_type, '$.edge_type');
  const initiator = check.text(o.initiator_id, '$.initiator_id');
  if (!isNodeId(initiator)) throw new NegotiationError(`$.initiator_id: expected a node id (32 lowercase hex digits), got ${showValue(initiator)}`);
  if (initiator !== sender) throw new NegotiationError(`$.initiator_id: ${initiator} is not the sender ${sender}`);
  const recipient = check.text(o.recipient_id, '$.recipient_id');
  if (recipient !== self) throw new NegotiationError(`$.recipient_id: ${showValue(recipient)} is not this node ${self}`);
  return { edgeId, type };
}

export type EdgeReplyParams =
  | { readonly is_accepted: true; readonly edge_type: string }
  | { readonly is_accepted: false; readonly code: string; readonly message: string };

export function edgeReplyParams(r: EdgeReply): EdgeReplyParams {
  return r.accept ? { is_accepted: true, edge_type: WIRE_TYPES[r.type] } : { is_accepted: false, code: r.code, message: r.message };
}

/** A refusal for a request that could not be read (EdgeVPN has no code for it: "E8"). */
export function badRequestReply(e: Error): EdgeReplyParams {
  return { is_accepted: false, code: 'E8', message: `bad edge request: ${e.message}` };
}

export type ParsedEdgeReply = { readonly accept: true; readonly type: EdgeType } | { readonly accept: false; readonly code: string; readonly message: string };

const CODE = /^E[0-9]{1,2}$/;

/** The peer's reply to our request; a malformed one is a NegotiationError (the attempt failed). */
export function parseEdgeReply(reply: unknown): ParsedEdgeReply {
  const o = check.object(reply, '$');
  if (o.is_accepted === true) {
    check.onlyKeys(o, ['is_accepted', 'edge_type'], '$', 'an edge reply');
    return { accept: true, type: edgeType(o.edge_type, '$.edge_type') };
  }
  if (o.is_accepted !== false) throw new NegotiationError(`$.is_accepted: expected true or false, got ${showValue(o.is_accepted)}`);
  check.onlyKeys(o, ['is_accepted', 'code', 'message'], '$', 'an edge refusal');
  const code = check.text(o.code, at('$', 'code'));
  if (!CODE.test(code)) throw new NegotiationError(`$.code: expected E and a number, got ${showValue(code)}`);
  return { accept: false, code, message: check.text(o.message, '$.message').slice(0, 300) };
}
