/**
 * TOP_NEGOTIATE_EDGE on the wire (overlay/negotiation.ts): requests and replies round-trip under
 * EdgeVPN's names, and every malformed request or reply is refused with the key path that was wrong.
 */
import { describe, expect, it } from 'vitest';
import {
  NegotiationError,
  badRequestReply,
  edgeReplyParams,
  edgeRequest,
  parseEdgeReply,
  parseEdgeRequest,
} from '../../overlay/negotiation.js';

const A = 'a0000000000000000000000000000000';
const B = 'b0000000000000000000000000000000';
const C = 'c0000000000000000000000000000000';

describe('edge requests', () => {
  it('round-trip, the type under EdgeVPN\'s name', () => {
    const p = edgeRequest('ovl', 'e-1', 'longDistance', A, B);
    expect(p).toEqual({ overlay_id: 'ovl', edge_id: 'e-1', edge_type: 'CETypeLongDistance', initiator_id: A, recipient_id: B });
    expect(parseEdgeRequest(JSON.parse(JSON.stringify(p)), A, B, 'ovl')).toEqual({ edgeId: 'e-1', type: 'longDistance' });
  });

  const good = edgeRequest('ovl', 'e-1', 'successor', A, B);
  const bad: [string, unknown, string, string][] = [
    ['not an object', 'hello', '$', 'expected an object'],
    ['an unknown key', { ...good, location_id: 'x' }, '$.location_id', 'unknown key'],
    ['another overlay', { ...good, overlay_id: 'other' }, '$.overlay_id', 'is not this node\'s overlay'],
    ['no edge id', { ...good, edge_id: undefined }, '$.edge_id', 'missing'],
    ['an edge id with spaces', { ...good, edge_id: 'a b' }, '$.edge_id', 'expected 1 to 64'],
    ['an unknown type', { ...good, edge_type: 'CETypeFriend' }, '$.edge_type', 'expected one of CETypeSuccessor'],
    ['a type that is not a string', { ...good, edge_type: 3 }, '$.edge_type', 'expected a string'],
    ['an initiator that is not a node id', { ...good, initiator_id: 'A' }, '$.initiator_id', 'expected a node id'],
    ['an initiator that is not the sender', { ...good, initiator_id: C }, '$.initiator_id', `is not the sender ${A}`],
    ['a recipient that is not us', { ...good, recipient_id: C }, '$.recipient_id', `is not this node ${B}`],
  ];
  it.each(bad)('refuses %s, naming the key path', (_what, params, path, fragment) => {
    const clean = JSON.parse(JSON.stringify(params)) as unknown;
    expect(() => parseEdgeRequest(clean, A, B, 'ovl')).toThrow(NegotiationError);
    expect(() => parseEdgeRequest(clean, A, B, 'ovl')).toThrow(`${path}: `);
    expect(() => parseEdgeRequest(clean, A, B, 'ovl')).toThrow(fragment);
    expect(badRequestReply(new NegotiationError('x'))).toEqual({ is_accepted: false, code: 'E8', message: 'bad edge request: x' });
  });
});

describe('edge replies', () => {
  it('round-trip accepts and refusals', () => {
    expect(parseEdgeReply(edgeReplyParams({ accept: true, type: 'static' }))).toEqual({ accept: true, type: 'static' });
    expect(parseEdgeReply(edgeReplyParams({ accept: false, code: 'E5', message: 'Too many existing edges.' }))).toEqual({ accept: false, code: 'E5', message: 'Too many existing edges.' });
  });

  const bad: [string, unknown, string][] = [
    ['not an object', null, '$: expected an object'],
    ['no verdict', {}, '$.is_accepted: expected true or false'],
    ['an accept with an unknown key', { is_accepted: true, edge_type: 'CETypeStatic', extra: 1 }, '$.extra: unknown key'],
    ['an accept without a type', { is_accepted: true }, '$.edge_type: missing'],
    ['a refusal with a bad code', { is_accepted: false, code: 'nope', message: 'x' }, '$.code: expected E and a number'],
    ['a refusal without a message', { is_accepted: false, code: 'E5' }, '$.message: missing'],
  ];
  it.each(bad)('refuses %s', (_what, reply, fragment) => {
    expect(() => parseEdgeReply(reply)).toThrow(fragment);
  });

  it('keeps a long refusal message short', () => {
    const r = parseEdgeReply({ is_accepted: false, code: 'E6', message: 'x'.repeat(5000) });
    expect(r.accept ? '' : r.message).toHaveLength(300);
  });
});
