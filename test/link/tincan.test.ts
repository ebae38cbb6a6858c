/**
 * TinCan links for real: two libdatachannel PeerConnections on loopback in this process, joined by an
 * in-memory signaling exchange (test/link/pair.ts). Frames of every size up to the MTU arrive intact
 * and counted, oversize ones are tx drops, pinned fingerprints are enforced (by our check of the
 * description and by DTLS itself), a peer that closes or goes silent makes the link gone, bad RTP is
 * counted and dropped, and the set-up releases candidates in the race-free order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type NodeCert, generateNodeCert } from '../../link/cert.js';
import { resolveLinkConfig } from '../../link/config.js';
import { LinkError } from '../../link/errors.js';
import { PT_FRAME, PT_PACKED } from '../../link/rtp.js';
import { TinCanLink, type TinCanOptions, cleanupWebRtc } from '../../link/tincan.js';
import { checkPortName } from '../../switch/port.js';
import { LOOPBACK, UP_MS, collect, connectedPair, frameOf, gone, makePair, until } from './pair.js';

const open: TinCanLink[] = [];
function track<T extends { a: TinCanLink; b: TinCanLink }>(p: T): T {
  open.push(p.a, p.b);
  return p;
}
afterEach(() => {
  for (const l of open.splice(0)) l.close();
});

let dir: string;
let certA: NodeCert;
let certB: NodeCert;
let certC: NodeCert;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinflow-link-'));
  const make = (n: string): Promise<NodeCert> => generateNodeCert(join(dir, `${n}.crt`), join(dir, `${n}.key`), { commonName: `node-${n}` });
  [certA, certB, certC] = await Promise.all([make('a'), make('b'), make('c')]);
});
afterAll(() => {
  for (const l of open.splice(0)) l.close();
  cleanupWebRtc(); // node-datachannel's threads, or the worker aborts at exit
  rmSync(dir, { recursive: true, force: true });
});

/** Flips the last hex digit of every a=fingerprint line. */
const tamper = (sdp: string): string => sdp.replace(/(a=fingerprint:sha-256 [0-9A-F:]*)([0-9A-F])/g, (_m, p: string, c: string) => p + (c === '0' ? '1' : '0'));

describe('the port face', () => {
  it('is a FramePort without offload: name rule, a locally administered unicast MAC, MTU, carrier down until up', () => {
    const l = new TinCanLink({ name: 'tc-peer-0007', role: 'initiator', config: LOOPBACK });
    open.push(l);
    expect(l.offload).toBe(false);
    expect(checkPortName(l.name)).toBe('tc-peer-0007');
    expect(l.hwAddr).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const first = parseInt(l.hwAddr.slice(0, 2), 16);
    expect(first & 0x01).toBe(0); // unicast
    expect(first & 0x02).toBe(2); // locally administered
    expect(l.mtu).toBe(1400);
    expect(l.maxFrame).toBe(1418);
    expect(l.linkState()).toEqual({ up: true, carrier: false });
    expect(() => new TinCanLink({ name: 'a-name-longer-than-15', role: 'initiator', config: LOOPBACK })).toThrow(/longer than 15/);
    expect(() => new TinCanLink({ name: 'tc-mac', role: 'initiator', config: LOOPBACK, hwAddr: '02:00:00:00:00' })).toThrow(/expected a MAC address/);
    const m = new TinCanLink({ name: 'tc-mac', role: 'initiator', config: LOOPBACK, hwAddr: '02:AB:00:00:00:01' });
    open.push(m);
    expect(m.hwAddr).toBe('02:ab:00:00:00:01');
  });

  it('drops and counts frames sent before the link is up', () => {
    const l = new TinCanLink({ name: 'tc-early', role: 'initiator', config: LOOPBACK });
    open.push(l);
    l.send([frameOf(100, 1), frameOf(100, 2)]);
    expect(l.counters()).toMatchObject({ txPackets: 0, txDropped: 2 });
  });
});

describe('signaling', () => {
  it('releases the initiator\'s candidates only after the answer is applied (the set-up race), and comes up', async () => {
    const p = track(makePair());
    const firstA: string[] = [];
    p.a.signals.on('candidate', () => firstA.push(p.a.phase));
    await p.signal();
    await Promise.all([p.a.whenUp(), p.b.whenUp()]);
    const applied = p.log.indexOf('answer applied');
    const firstCandidateA = p.log.indexOf('candidate A');
    expect(applied).toBeGreaterThan(0);
    expect(firstCandidateA).toBeGreaterThan(applied);
    // and none of them left while the initiator was still waiting for its answer
    expect(firstA.every((ph) => ph !== 'offered' && ph !== 'offering')).toBe(true);
    expect(p.a.phase).toBe('up');
  }, 30_000);

  it('refuses steps out of order and calls for the wrong role', async () => {
    const a = new TinCanLink({ name: 'tc-ord-a', role: 'initiator', config: LOOPBACK });
    const b = new TinCanLink({ name: 'tc-ord-b', role: 'responder', config: LOOPBACK });
    open.push(a, b);
    expect(() => a.applyAnswer('v=0', `sha-256 ${'AB:'.repeat(31)}AB`)).toThrow(expect.objectContaining({ code: 'ESIGNALING' }));
    await expect(b.createOffer()).rejects.toMatchObject({ code: 'ESIGNALING', message: expect.stringMatching(/only the initiator/) });
    await expect(a.acceptOffer('v=0', 'sha-256 AB')).rejects.toMatchObject({ code: 'ESIGNALING' });
    await a.createOffer();
    await expect(a.createOffer()).rejects.toMatchObject({ code: 'ESIGNALING', message: expect.stringMatching(/phase offered/) });
    expect(() => a.addRemoteCandidate({ candidate: 'not a candidate', mid: 'tf' })).toThrow(LinkError);
  });

  it('offers no candidates inside the offer itself', async () => {
    const a = new TinCanLink({ name: 'tc-bare', role: 'initiator', config: LOOPBACK });
    open.push(a);
    const offer = await a.createOffer();
    await new Promise((r) => setTimeout(r, 200)); // gathering runs meanwhile
    expect(offer.sdp).not.toMatch(/a=candidate:/);
    expect(offer.sdp).toMatch(/^m=video /m);
    expect(offer.sdp).toMatch(/^m=application /m);
  });
});

describe('frames', () => {
  it('carry every size up to the MTU intact, one per call and packed, both ways, and are counted', async () => {
    const p = track(await connectedPair({ a: { cert: certA }, b: { cert: certB } }));
    const gotB = collect(p.b);
    const gotA = collect(p.a);
    const mtu = p.a.mtu;
    const sizes = [14, 15, 42, 60, 64, 65, 128, 255, 256, 511, 576, 1000, 1279, 1280, 1399, mtu + 13, mtu + 14];
    const single = sizes.map((n, i) => frameOf(n, i));
    const tagged = [frameOf(mtu + 18, 100, true), frameOf(mtu + 16, 101, true)]; // a VLAN tag may ride on top of the MTU
    const packed = [frameOf(60, 200), frameOf(64, 201), frameOf(90, 202), frameOf(700, 203), frameOf(700, 204), frameOf(1000, 205), frameOf(14, 206)];
    for (const f of single) p.a.send([f]); // one frame per call: one PT 96 packet each
    p.a.send(tagged);
    p.a.send(packed); // several in one call: packed where they fit together
    const expected = [...single, ...tagged, ...packed];
    await until(() => gotB.frames.length >= expected.length, 10_000, `${expected.length} frames at B`);
    expect(gotB.frames.map((f) => f.toString('hex'))).toEqual(expected.map((f) => f.toString('hex')));
    const bytes = expected.reduce((n, f) => n + f.length, 0);
    expect(p.a.counters()).toMatchObject({ txPackets: expected.length, txBytes: bytes, txDropped: 0, txErrors: 0 });
    expect(p.b.counters()).toMatchObject({ rxPackets: expected.length, rxBytes: bytes, rxErrors: 0, rxDropped: 0 });
    // packing saved packets: fewer RTP packets than frames
    const sa = p.a.stats();
    expect(sa.rtpPacketsSent).toBeLessThan(expected.length);
    expect(sa.rtpPacketsSent).toBeGreaterThanOrEqual(single.length + 2);
    expect(p.b.stats().rtpPacketsReceived).toBe(sa.rtpPacketsSent);

    // and back the other way
    const back = sizes.map((n, i) => frameOf(n, 300 + i));
    p.b.send(back);
    await until(() => gotA.frames.length >= back.length, 10_000, 'frames at A');
    expect(gotA.frames.map((f) => f.toString('hex'))).toEqual(back.map((f) => f.toString('hex')));
    expect(p.a.counters()).toMatchObject({ rxPackets: back.length, rxErrors: 0 });
  }, 60_000);

  it('drops (never cuts) frames over the MTU, counts runts as errors, and carries the rest', async () => {
    const p = track(await connectedPair());
    const got = collect(p.b);
    const mtu = p.a.mtu;
    p.a.send([frameOf(mtu + 15, 1), frameOf(100, 2), frameOf(mtu + 19, 3, true), frameOf(mtu + 17, 4), frameOf(9000, 5), Buffer.alloc(10), frameOf(101, 6)]);
    await until(() => got.frames.length >= 2, 10_000, 'the two frames that fit');
    await new Promise((r) => setTimeout(r, 300)); // nothing else is on its way
    expect(got.frames.map((f) => f.length)).toEqual([100, 101]);
    expect(p.a.counters()).toMatchObject({ txPackets: 2, txDropped: 4, txErrors: 1 });
    expect(p.b.counters()).toMatchObject({ rxPackets: 2, rxErrors: 0 });
  }, 30_000);

  it('delivers what arrives in one turn as one batch, and counts frames that arrive while stopped as dropped', async () => {
    const p = track(await connectedPair());
    const got = collect(p.b);
    p.a.send(Array.from({ length: 40 }, (_, i) => frameOf(1000, i))); // 40 packets
    // Hold the event loop while they arrive: libdatachannel's threads queue them, and the next turn
    // must hand them over together, not one batch per packet.
    const until200 = performance.now() + 200;
    while (performance.now() < until200);
    await until(() => got.frames.length >= 40, 10_000, '40 frames');
    expect(got.batches).toBeLessThan(10); // 1 when all 40 were queued by then
    p.b.stop();
    p.a.send([frameOf(100, 1)]);
    await until(() => p.b.counters().rxDropped === 1, 10_000, 'a drop while stopped');
    expect(p.b.counters().rxPackets).toBe(40);
  }, 30_000);

  it('counts bad RTP packets from the peer as rx errors and drops them, never throwing', async () => {
    /** A peer that sends what tinflow never sends, through its real track. */
    class Rogue extends TinCanLink {
      raw(pt: number, payload: Buffer): boolean {
        return this.sendPacket(pt, payload);
      }
    }
    let rogue: Rogue | undefined;
    const p = track(await connectedPair({ makeA: (o: TinCanOptions) => (rogue = new Rogue(o)) }));
    const got = collect(p.b);
    const r = rogue as Rogue;
    const lens = (...ls: number[]): Buffer => Buffer.concat(ls.map((l) => Buffer.concat([Buffer.from([l >> 8, l & 0xff]), frameOf(Math.max(l, 14), l).subarray(0, l)])));
    expect(r.raw(98, frameOf(100, 1))).toBe(true); // unknown payload type
    r.raw(PT_FRAME, Buffer.alloc(5)); // a runt: not an Ethernet frame
    r.raw(PT_FRAME, frameOf(p.b.maxFrame + 1, 2)); // longer than B's largest frame
    r.raw(PT_PACKED, Buffer.concat([lens(60, 60), Buffer.from([0x00])])); // a stray byte after the frames
    r.raw(PT_PACKED, Buffer.from([0x00, 0x40, 1, 2, 3])); // a length (64) past the end
    r.raw(PT_PACKED, Buffer.alloc(0)); // packed, but no frame
    r.raw(PT_PACKED, lens(60, 70)); // fine: two frames
    p.a.send([frameOf(120, 9)]); // and the link still carries data
    await until(() => got.frames.length >= 3, 10_000, 'the good frames');
    await until(() => p.b.counters().rxErrors === 6, 5_000, '6 rx errors');
    expect(got.frames.map((f) => f.length)).toEqual([60, 70, 120]);
    expect(p.b.stats().rxRefused).toEqual({ 'payload-type': 1, 'frame-length': 2, packing: 3 });
    expect(p.b.closed).toBe(false);
  }, 30_000);
});

describe('pinning', () => {
  it('uses the node certificate: the offer\'s fingerprint is the certificate\'s', async () => {
    const a = new TinCanLink({ name: 'tc-cert', role: 'initiator', config: LOOPBACK, cert: certA });
    open.push(a);
    const offer = await a.createOffer();
    expect(offer.fingerprint).toBe(certA.fingerprint);
    expect(offer.sdp).toContain(`a=fingerprint:${certA.fingerprint}`);
  });

  it.each([
    ['the offer', { mangleOffer: tamper }, 'b'],
    ['the answer', { mangleAnswer: tamper }, 'a'],
  ] as const)('refuses a fingerprint changed in transit in %s, and the link never comes up', async (_what, hooks, refuser) => {
    const p = track(makePair({ a: { cert: certA }, b: { cert: certB }, ...hooks }));
    const refusing = refuser === 'a' ? p.a : p.b;
    const goneP = gone(refusing, 5_000);
    let upSeen = false;
    for (const l of [p.a, p.b]) l.on('link', (s) => (upSeen ||= s.carrier));
    const err = await p.signal().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(LinkError);
    expect(err).toMatchObject({ code: 'EFINGERPRINT', message: expect.stringMatching(/not the expected sha-256 .*refused/) });
    expect(await goneP).toMatch(/refused/);
    expect(refusing.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(upSeen).toBe(false);
    expect(p.a.phase).not.toBe('up');
  }, 30_000);

  it('refuses a description whose fingerprint is not the one signaling vouched for', async () => {
    const p = track(makePair({ a: { cert: certA }, b: { cert: certB }, expectA: () => certC.fingerprint }));
    const err = await p.signal().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'EFINGERPRINT', message: expect.stringContaining(`not the expected ${certC.fingerprint}`) });
    expect(p.b.closed).toBe(true);
    expect(p.a.phase).toBe('offered');
  });

  it('lets DTLS fail when the certificate is not the one pinned (a consistent lie in signaling)', async () => {
    // A presents certificate A, but signaling says (in the SDP and as the expected value) that A is C:
    // our description check passes, and libdatachannel's certificate check must stop the handshake.
    const lie = (sdp: string): string => sdp.replace(`a=fingerprint:${certA.fingerprint}`, `a=fingerprint:${certC.fingerprint}`);
    const p = track(makePair({ a: { cert: certA }, b: { cert: certB }, mangleOffer: lie, expectA: () => certC.fingerprint }));
    let upSeen = false;
    for (const l of [p.a, p.b]) l.on('link', (s) => (upSeen ||= s.carrier));
    const goneA = gone(p.a, UP_MS);
    const goneB = gone(p.b, UP_MS);
    await p.signal();
    // B, which checks A's certificate against the lie, fails the handshake; A sees it fail or closed
    expect(await goneB).toMatch(/failed/);
    expect(await goneA.catch(() => 'not gone in time')).toMatch(/failed|closed/);
    expect(upSeen).toBe(false);
  }, 40_000);
});

describe('liveness', () => {
  it('measures the RTT by echoes and reports the selected candidate pair, on ports from the configured range', async () => {
    const begin = 42000 + Math.floor(Math.random() * 200) * 100;
    const config = resolveLinkConfig({ bindAddress: '127.0.0.1', echoIntervalMs: 200, timeoutMs: 4000, portRangeBegin: begin, portRangeEnd: begin + 99 });
    const p = track(await connectedPair({ config }));
    await until(() => p.a.stats().echoRepliesReceived >= 3 && p.b.stats().echoRepliesReceived >= 3, 10_000, 'three echo replies each way');
    for (const l of [p.a, p.b]) {
      const s = l.stats();
      expect(s.rttMs).toBeGreaterThanOrEqual(0);
      expect(s.srttMs).toBeGreaterThanOrEqual(0);
      expect(s.pair?.local).toMatchObject({ type: 'host', address: '127.0.0.1', transport: 'UDP' });
      expect(s.pair?.local.port).toBeGreaterThanOrEqual(begin);
      expect(s.pair?.local.port).toBeLessThanOrEqual(begin + 99);
      expect(['host', 'prflx']).toContain(s.pair?.remote.type);
      expect(s.controlBytesSent).toBeGreaterThan(0);
    }
  }, 30_000);

  it('a peer that closes makes the other side gone (and carrier down) well within the timeout', async () => {
    const p = track(await connectedPair());
    const t0 = Date.now();
    const reason = gone(p.b, LOOPBACK.timeoutMs + 5_000);
    p.a.close();
    expect(await reason).toMatch(/peer closed|closed/);
    expect(p.b.closed).toBe(true);
    expect(p.b.linkState().carrier).toBe(false);
    expect(Date.now() - t0).toBeLessThan(LOOPBACK.timeoutMs + 5_000);
  }, 30_000);

  it('a peer that stops answering echoes (its connection still up) is gone after timeoutMs', async () => {
    /** Swallows echo requests: alive on the wire, silent on the control channel. */
    class Mute extends TinCanLink {
      protected override control(m: string | Buffer | ArrayBuffer): void {
        const b = typeof m === 'string' ? Buffer.from(m) : Buffer.isBuffer(m) ? m : Buffer.from(m);
        if (b[0] === 1) return;
        super.control(m);
      }
    }
    const config = resolveLinkConfig({ bindAddress: '127.0.0.1', echoIntervalMs: 100, timeoutMs: 1500, setupTimeoutMs: 20_000 });
    const p = track(await connectedPair({ config, makeB: (o: TinCanOptions) => new Mute(o) }));
    const t0 = performance.now();
    const reason = await gone(p.a, 20_000);
    expect(reason).toMatch(/no echo reply for \d+ ms \(timeoutMs 1500\)/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1500 - 50); // never before the timeout (the clock's own slack aside)
    expect(p.a.stats().echoRepliesReceived).toBe(0);
  }, 30_000);

  it('a link that never comes up is gone after setupTimeoutMs', async () => {
    const config = resolveLinkConfig({ bindAddress: '127.0.0.1', setupTimeoutMs: 300 });
    const a = new TinCanLink({ name: 'tc-lonely', role: 'initiator', config });
    open.push(a);
    const up = a.whenUp();
    await a.createOffer();
    expect(await gone(a, 10_000)).toMatch(/not up within 300 ms/);
    await expect(up).rejects.toMatchObject({ code: 'ECLOSED' });
  }, 20_000);

  it('close() is quiet and final: no gone event, sends dropped silently, signaling refused', async () => {
    const p = track(await connectedPair());
    let goneA = 0;
    p.a.on('gone', () => goneA++);
    p.a.close();
    p.a.close();
    p.a.send([frameOf(100, 1)]);
    expect(p.a.counters().txPackets).toBe(0);
    expect(() => p.a.start(() => undefined)).toThrow(/closed/);
    expect(() => p.a.applyAnswer('', '')).toThrow(expect.objectContaining({ code: 'ECLOSED' }));
    await gone(p.b, LOOPBACK.timeoutMs + 5_000);
    expect(goneA).toBe(0);
  }, 30_000);
});
