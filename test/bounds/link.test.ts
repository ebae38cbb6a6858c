/**
 * Bounds of a real TinCan link against a hostile peer: two links in one process over loopback (as
 * test/link/pair.ts makes them), the initiator a rogue that sends through its real track and control
 * channel what tinflow never sends. The receiver must stay up, refuse and count the junk by reason, keep
 * its receive queue bounded (the excess counted in rxDropped), still deliver good frames byte for byte,
 * and not grow its memory with the flood. Every wait ends as soon as its condition holds.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PT_FRAME, PT_PACKED } from '../../link/rtp.js';
import { ECHO_BYTES, ECHO_REPLIES_PER_SECOND, RX_QUEUE_LIMIT } from '../../link/rx.js';
import { TinCanLink, type TinCanOptions, cleanupWebRtc } from '../../link/tincan.js';
import { collect, connectedPair, frameOf, until } from '../link/pair.js';
import { bareStatus, linkStatus, metricsOf } from './status-fixture.js';

/** A peer that sends what tinflow never sends, through its real track and control channel. */
class Rogue extends TinCanLink {
  raw(pt: number, payload: Buffer): boolean {
    try {
      return this.sendPacket(pt, payload);
    } catch {
      return false; // libdatachannel refused to send it (too large for a datagram): nothing left
    }
  }
  junk(m: Buffer | string): boolean {
    return this.sendControlMessage(m);
  }
}

const open: TinCanLink[] = [];
afterEach(() => {
  for (const l of open.splice(0)) l.close();
});
afterAll(() => cleanupWebRtc());

async function roguePair(): Promise<{ rogue: Rogue; b: TinCanLink }> {
  let rogue: Rogue | undefined;
  const p = await connectedPair({ makeA: (o: TinCanOptions) => (rogue = new Rogue(o)) });
  open.push(p.a, p.b);
  return { rogue: rogue as Rogue, b: p.b };
}

/** Blocks this thread for ms, so that what libdatachannel receives meanwhile arrives in one turn. */
function holdLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('a link peer sending junk, then a flood', () => {
  it('oversize and malformed packets are refused and counted by reason; the link stays up and good frames still arrive', async () => {
    const { rogue, b } = await roguePair();
    const got = collect(b);
    const max = b.maxFrame;
    const sent: Record<string, number> = {};
    const send = (why: string, pt: number, payload: Buffer): void => {
      if (rogue.raw(pt, payload)) sent[why] = (sent[why] ?? 0) + 1;
    };
    for (let i = 0; i < 50; i++) {
      send('frame-length', PT_FRAME, Buffer.alloc(i % 14)); // 0..13 bytes: not an Ethernet frame
      send('frame-length', PT_FRAME, frameOf(max + 1 + i, i)); // over the MTU
      send('payload-type', 98 + (i % 20), frameOf(100, i));
      send('packing', PT_PACKED, Buffer.from([0x00, 0x40, 1, 2, 3])); // a length past the end
      send('packing', PT_PACKED, Buffer.alloc(0));
      send('frame-length', PT_PACKED, Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(100)]));
    }
    // Jumbo and 64 KiB+ frames: libdatachannel takes some of them, but loopback ICE did not deliver any in
    // our runs (larger than libjuice reads); those that arrive must be refused like the others.
    let jumbo = 0;
    for (const n of [9000, 20_000, 60_000, 70_000]) if (rogue.raw(PT_FRAME, frameOf(n, n))) jumbo++;
    // and junk on the control channel: unknown types, wrong lengths, empty, text
    for (let i = 0; i < 50; i++) {
      rogue.junk(Buffer.from([0x7f, i]));
      rogue.junk(Buffer.from([1, 2, 3]));
      rogue.junk(`text ${i}`);
    }
    const want = Object.values(sent).reduce((s, n) => s + n, 0);
    await until(() => b.counters().rxErrors >= want, 10_000, `${want} refused packets`).catch((e: Error) => {
      throw new Error(`${e.message}: sent ${JSON.stringify(sent)}, refused ${JSON.stringify(b.stats().rxRefused)}, rtp received ${b.stats().rtpPacketsReceived}`);
    });
    // the good frames after the junk, every size a frame may have
    const good = [frameOf(14, 1), frameOf(60, 2), frameOf(b.mtu + 14, 3), frameOf(b.mtu + 18, 4, true)];
    rogue.send(good);
    await until(() => got.frames.length >= good.length, 10_000, 'the good frames');
    expect(got.frames).toEqual(good);
    const st = b.stats();
    // loopback carries every datagram of a usual size; each refusal is counted under its own reason
    expect(st.counters.rxErrors).toBeGreaterThanOrEqual(want);
    expect(st.counters.rxErrors).toBeLessThanOrEqual(want + jumbo);
    expect(st.rxRefused['payload-type']).toBe(sent['payload-type']);
    expect(st.rxRefused.packing).toBe(sent.packing);
    expect(st.rxRefused['frame-length']).toBe((sent['frame-length'] ?? 0) + st.counters.rxErrors - want);
    // every packet that arrived was refused, but those of the good frames (1 to 4: the sender packs small ones)
    expect(st.rtpPacketsReceived - st.counters.rxErrors - st.rtcpIgnored).toBeGreaterThanOrEqual(1);
    expect(st.rtpPacketsReceived - st.counters.rxErrors - st.rtcpIgnored).toBeLessThanOrEqual(4);
    expect(st.controlRefused['unknown-type']).toBe(50 + 50); // 0x7f and "text" (t = 0x74)
    expect(st.controlRefused['echo-length']).toBe(50);
    expect(b.closed).toBe(false);
    expect(b.linkState().carrier).toBe(true);
    // what a user sees: the node's /metrics
    const text = await metricsOf(bareStatus({ links: [linkStatus('p1', b)] }));
    expect(text).toContain(`tinflow_node_link_rx_refused_total{peer="p1",reason="payload-type"} ${sent['payload-type']}`);
    expect(text).toContain(`tinflow_node_link_rx_refused_total{peer="p1",reason="packing"} ${sent.packing}`);
    expect(text).toContain('tinflow_node_link_control_refused_total{peer="p1",reason="echo-length"} 50');
  }, 60_000);

  it('a flood beyond the receive queue is dropped and counted, not queued; memory stays bounded; the link carries on', async () => {
    const { rogue, b } = await roguePair();
    let delivered = 0;
    let biggestTurn = 0;
    let turn = 0;
    let turnScheduled = false;
    b.start((batch) => {
      delivered += batch.count;
      // frames delivered within one turn of the event loop: at most the queue's limit
      turn += batch.count;
      biggestTurn = Math.max(biggestTurn, turn);
      if (!turnScheduled) {
        turnScheduled = true;
        setImmediate(() => {
          turn = 0;
          turnScheduled = false;
        });
      }
    });
    const round = (): Promise<void> => {
      const before = b.counters();
      // Small frames, which the sender packs ~20 to a packet (PT 97): a turn of the receiver's event loop
      // takes up to 1,000 packets from libdatachannel (Node's thread-safe function hands over at most that
      // many per turn), so ~20,000 frames arrive in one turn, five times the receive queue.
      const frames = Array.from({ length: 30_000 }, (_, i) => frameOf(60, i));
      for (let i = 0; i < frames.length; i += 1000) rogue.send(frames.slice(i, i + 1000));
      holdLoop(300); // the receiver is busy meanwhile: the packets wait for it together
      return until(
        () => {
          const c = b.counters();
          return c.rxPackets + c.rxDropped - (before.rxPackets + before.rxDropped) >= 15_000;
        },
        20_000,
        'the flood to be delivered or dropped',
      ).then(() => new Promise((r) => setTimeout(r, 300)));
    };
    await round();
    const rss1 = process.memoryUsage().rss;
    for (let k = 0; k < 4; k++) await round();
    const rss5 = process.memoryUsage().rss;
    const c = b.counters();
    expect(c.rxDropped).toBeGreaterThan(0); // the queue was full at some point, and that was counted
    expect(biggestTurn).toBeLessThanOrEqual(RX_QUEUE_LIMIT + 1);
    expect(delivered).toBe(c.rxPackets);
    expect(c.rxErrors).toBe(0);
    // four more floods of 30,000 frames (~2 MB with their buffers): a leak of queued frames would show
    expect((rss5 - rss1) / 2 ** 20).toBeLessThan(64);
    expect(c.rxPackets + c.rxDropped).toBeLessThanOrEqual(5 * 30_000);
    expect(await metricsOf(bareStatus({ links: [linkStatus('p1', b)] }))).toContain(`tinflow_node_link_rx_dropped_total{peer="p1"} ${b.counters().rxDropped}`);
    // the link is still up and good frames still arrive, byte for byte
    const got: Buffer[] = [];
    b.stop();
    b.start((batch) => {
      for (let i = 0; i < batch.count; i++) got.push(Buffer.from(batch.frame(i)));
    });
    const good = [frameOf(500, 77), frameOf(b.mtu + 14, 78)];
    rogue.send(good);
    await until(() => got.length >= 2, 10_000, 'the good frames after the flood');
    expect(got).toEqual(good);
    expect(b.closed).toBe(false);
  }, 120_000);

  it('a flood of echo requests gets at most ECHO_REPLIES_PER_SECOND replies a second; the excess is counted', async () => {
    const { rogue, b } = await roguePair();
    const req = Buffer.alloc(ECHO_BYTES);
    req[0] = 1;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      req.writeUInt32BE(i, 1);
      req.writeDoubleBE(performance.now(), 5);
      rogue.junk(req);
    }
    holdLoop(100);
    await until(() => (b.stats().controlRefused['echo-rate'] ?? 0) > 0, 10_000, 'echo requests over the rate refused');
    // all of them arrive (the channel is reliable); those answered are within the rate for the seconds it took
    await new Promise((r) => setTimeout(r, 500));
    const refused = b.stats().controlRefused['echo-rate'] ?? 0;
    expect(refused).toBeGreaterThan(n - 20 * ECHO_REPLIES_PER_SECOND);
    expect(b.closed).toBe(false);
    expect(b.linkState().carrier).toBe(true);
  }, 60_000);
});
