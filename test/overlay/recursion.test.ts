/**
 * The recursion guard (overlay/recursion.ts): ICE candidates on the overlay's own network never cross
 * signaling, either way — candidate lists lose them, session descriptions lose their a=candidate lines,
 * a list left empty is not sent (and not handed to the link manager) but answered as accepted, and
 * everything else passes untouched. The NAT lab test shows the effect end to end (5 of 5 pings; without
 * the guard the link carried its own ICE traffic and lost 95 % of them).
 */
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import { LNK } from '../../link/handshake.js';
import type { SignalingLike } from '../../link/manager.js';
import { candidateAddress, guardSignaling, inOverlay, ipv4Net, stripSdp } from '../../overlay/recursion.js';

const NET = ipv4Net('10.10.10.1', 24);
const TAP = 'a=candidate:1 1 UDP 2122317823 10.10.10.1 50000 typ host';
const LAN = 'a=candidate:2 1 UDP 2122317567 192.168.10.2 50000 typ host';
const SRFLX = 'candidate:3 1 UDP 1686109951 203.0.113.1 41000 typ srflx raddr 10.10.10.1 rport 50000';
const PEER_TAP = 'candidate:4 1 UDP 2122317823 10.10.10.2 51000 typ host';

/** A signaling stand-in that records what is sent and lets the test play incoming requests. */
function recorder(reply: unknown = { status: 'accepted' }): { signal: SignalingLike; sent: { action: string; params: unknown }[]; incoming(action: string, params: unknown): Promise<unknown> } {
  const sent: { action: string; params: unknown }[] = [];
  const handlers = new Map<string, (params: unknown, from: string) => unknown>();
  return {
    sent,
    signal: {
      request: (_peer, action, params) => {
        sent.push({ action, params });
        return Promise.resolve(reply);
      },
      onRequest: (action, handler) => handlers.set(action, handler),
    },
    incoming: async (action, params) => {
      const h = handlers.get(action);
      if (h === undefined) throw new Error(`no handler for ${action}`);
      return h(params, 'b0000000000000000000000000000000');
    },
  };
}

describe('recursion guard', () => {
  it('reads candidate addresses and tells which are on the overlay', () => {
    expect(NET.text).toBe('10.10.10.0/24');
    expect(candidateAddress(TAP)).toBe('10.10.10.1');
    expect(candidateAddress(SRFLX)).toBe('203.0.113.1');
    expect(candidateAddress('a=ice-ufrag:abcd')).toBeUndefined();
    expect([TAP, LAN, SRFLX, PEER_TAP].map((c) => inOverlay(c, NET))).toEqual([true, false, false, true]);
    // a srflx candidate whose base is the TAP is still reachable on its public address: kept
    expect(inOverlay(SRFLX, ipv4Net('10.10.10.77', 24))).toBe(false);
    expect(inOverlay(TAP, ipv4Net('10.10.0.1', 16))).toBe(true);
    expect(inOverlay(TAP, ipv4Net('10.10.11.1', 24))).toBe(false);
  });

  it('takes overlay candidate lines out of a session description, and nothing else', () => {
    const sdp = ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', TAP, LAN, `a=${SRFLX}`, 'a=end-of-candidates', ''].join('\r\n');
    const dropped = { n: 0 };
    expect(stripSdp(sdp, NET, dropped)).toBe(['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', LAN, `a=${SRFLX}`, 'a=end-of-candidates', ''].join('\r\n'));
    expect(dropped.n).toBe(1);
    const clean = ['v=0', LAN, ''].join('\n');
    expect(stripSdp(clean, NET, dropped)).toBe(clean);
  });

  it('keeps overlay candidates out of what goes to peers; an empty list is not sent', async () => {
    const r = recorder();
    const g = guardSignaling(r.signal, NET, nullLogger);
    const cand = (c: string): { candidate: string; mid: string } => ({ candidate: c, mid: 'tf' });
    await g.request('b0000000000000000000000000000000', LNK.ADD_PEER_CAS, { overlay_id: 'lab', link_id: 'x', candidates: [cand(TAP), cand(LAN), cand(SRFLX)] }, { timeoutMs: 1000 });
    expect(r.sent).toEqual([{ action: LNK.ADD_PEER_CAS, params: { overlay_id: 'lab', link_id: 'x', candidates: [cand(LAN), cand(SRFLX)] } }]);
    expect(await g.request('b0000000000000000000000000000000', LNK.ADD_PEER_CAS, { overlay_id: 'lab', link_id: 'x', candidates: [cand(TAP)] }, { timeoutMs: 1000 })).toEqual({ status: 'accepted' });
    expect(r.sent).toHaveLength(1);
    await g.request('b0000000000000000000000000000000', LNK.REQ_LINK_ENDPT, { node_data: { sdp: `v=0\r\n${TAP}\r\n`, fpr: 'x' } }, { timeoutMs: 1000 });
    expect(r.sent[1]?.params).toEqual({ node_data: { sdp: 'v=0\r\n', fpr: 'x' } });
    expect(g.stats()).toEqual({ network: '10.10.10.0/24', candidatesDropped: 3 });
  });

  it('keeps overlay candidates out of what comes from peers, in requests and replies', async () => {
    const r = recorder({ status: 'accepted', node_data: { sdp: `v=0\r\n${TAP}\r\n${LAN}\r\n` } });
    const g = guardSignaling(r.signal, NET, nullLogger);
    const seen: unknown[] = [];
    g.onRequest(LNK.ADD_PEER_CAS, (params) => {
      seen.push(params);
      return { status: 'accepted' };
    });
    const cand = (c: string): { candidate: string; mid: string } => ({ candidate: c, mid: 'tf' });
    expect(await r.incoming(LNK.ADD_PEER_CAS, { link_id: 'x', candidates: [cand(PEER_TAP), cand(SRFLX)] })).toEqual({ status: 'accepted' });
    expect(seen).toEqual([{ link_id: 'x', candidates: [cand(SRFLX)] }]);
    // only overlay candidates: answered, the link manager never sees an empty list
    expect(await r.incoming(LNK.ADD_PEER_CAS, { link_id: 'x', candidates: [cand(PEER_TAP)] })).toEqual({ status: 'accepted' });
    expect(seen).toHaveLength(1);
    const reply = await g.request('b0000000000000000000000000000000', LNK.REQ_LINK_ENDPT, {}, { timeoutMs: 1000 });
    expect(reply).toEqual({ status: 'accepted', node_data: { sdp: `v=0\r\n${LAN}\r\n` } });
  });

  it('passes everything else through untouched', async () => {
    const r = recorder({ status: 'refused', code: 'busy', message: 'later' });
    const g = guardSignaling(r.signal, NET, nullLogger);
    const params = { overlay_id: 'lab', link_id: 'x', reason: 'bye', list: [1, 'two', { three: 3 }] };
    expect(await g.request('b0000000000000000000000000000000', LNK.REMOVE_LINK, params, { timeoutMs: 1000 })).toEqual({ status: 'refused', code: 'busy', message: 'later' });
    expect(r.sent[0]?.params).toEqual(params);
    expect(g.stats().candidatesDropped).toBe(0);
  });
});
