/**
 * Flow expiry in the datapath, on an injected clock. vitest's fake timers move Date.now (the clock handed
 * to the datapath) and setTimeout (its expiry timer) together, so these tests see exactly when a flow
 * leaves and what its flow-removed says, with no wall-clock waiting. The sink stamps every flow-removed
 * with the clock at the moment it was sent.
 *
 * The bar: a timeout fires within 100 ms of its time (OVS removes an idle_timeout=1 flow after about
 * 1.0 s), and a switch without timed flows keeps no timer at all.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Match, type MessageOf, type OFPMessage, OFPFC, OFPFF, OFPRR } from '../../openflow/index.js';
import { type Logger, nullLogger } from '../../base/logger.js';
import type { AsyncKind, ControllerConnection } from '../../switch/channel.js';
import { type AsyncSink, Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { apply, m, out, flowMod as rigFlowMod } from './dp-rig.js';
import { eth, ipv4, udp } from './frames.js';

const LOG: Logger = nullLogger;
const CONN: ControllerConnection = { id: 'expiry-test', role: 0, send: () => undefined };
/** How late a timeout may fire. */
const SLACK_MS = 100;

type FlowRemoved = MessageOf<'OFPFlowRemoved'>;

class Sink implements AsyncSink {
  connected = 1;
  /** Flow-removed messages with the clock when each was sent. */
  readonly removed: { msg: FlowRemoved; at: number }[] = [];
  sendAsync(msg: OFPMessage, _kind: AsyncKind, _reason: number): number {
    if (msg.type === 'OFPFlowRemoved') this.removed.push({ msg, at: Date.now() });
    return 1;
  }
}

interface FlowOpts {
  readonly idle?: number;
  readonly hard?: number;
  readonly cookie?: bigint;
  readonly match?: Match;
  readonly command?: number;
}

/** in_port=1 → output 2 at priority 100, asking for flow-removed. */
function flowMod(o: FlowOpts): MessageOf<'OFPFlowMod'> {
  return rigFlowMod({ ...o, priority: 100, flags: OFPFF.SEND_FLOW_REM, match: o.match ?? [m('in_port', 1)], ins: [apply(out(2))] });
}

const FRAME = eth(0x0800, ipv4({}, udp(1000, 2000)));

/** Milliseconds a flow-removed says the flow lived. */
const durationMs = (r: FlowRemoved): number => r.duration_sec * 1000 + r.duration_nsec / 1e6;

let dp: Datapath | undefined;

function rig(): { dp: Datapath; sink: Sink; p1: MemoryPort; flows: () => number } {
  const d = new Datapath({ name: 'expiry-test', dpid: 1n, tables: 4, failMode: 'secure', log: LOG, now: () => Date.now() });
  dp = d;
  const sink = new Sink();
  d.attach(sink);
  const p1 = new MemoryPort({ name: 'p1' });
  d.addPort(p1, 1);
  d.addPort(new MemoryPort({ name: 'p2' }), 2);
  return { dp: d, sink, p1, flows: () => d.tables.reduce((n, t) => n + t.activeCount, 0) };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'], now: 1_700_000_000_000 });
});

afterEach(() => {
  dp?.stop();
  dp = undefined;
  vi.useRealTimers();
});

describe('flow expiry on the datapath timer', () => {
  it('idle_timeout=1: removed 1 s after install, not at a later whole-second sweep; duration right', () => {
    const r = rig();
    vi.advanceTimersByTime(500); // out of phase with anything started by attach()
    const installed = Date.now();
    r.dp.handle(flowMod({ idle: 1, cookie: 0x1dn }), CONN);
    vi.advanceTimersByTime(999);
    expect(r.flows()).toBe(1);
    expect(r.sink.removed).toEqual([]);
    vi.advanceTimersByTime(SLACK_MS);
    expect(r.flows()).toBe(0);
    expect(r.sink.removed.map((x) => [x.msg.reason, x.msg.cookie, x.msg.idle_timeout])).toEqual([[OFPRR.IDLE_TIMEOUT, 0x1dn, 1]]);
    const [gone] = r.sink.removed;
    expect(gone!.at - installed).toBeGreaterThanOrEqual(1000);
    expect(gone!.at - installed).toBeLessThan(1000 + SLACK_MS);
    expect(durationMs(gone!.msg)).toBe(gone!.at - installed); // counted to the moment of removal
  });

  it('idle timeout counts from the last packet: traffic at 700 ms moves removal to 1.7 s', () => {
    const r = rig();
    vi.advanceTimersByTime(450);
    const installed = Date.now();
    r.dp.handle(flowMod({ idle: 1 }), CONN);
    vi.advanceTimersByTime(700);
    r.p1.inject([FRAME]);
    const hit = Date.now();
    vi.advanceTimersByTime(999); // past the first deadline (install + 1 s): the timer re-arms for the new one
    expect(r.flows()).toBe(1);
    vi.advanceTimersByTime(SLACK_MS);
    expect(r.flows()).toBe(0);
    const [gone] = r.sink.removed;
    expect(gone!.msg.reason).toBe(OFPRR.IDLE_TIMEOUT);
    expect(gone!.msg.packet_count).toBe(1n);
    expect(gone!.at - hit).toBeGreaterThanOrEqual(1000);
    expect(gone!.at - hit).toBeLessThan(1000 + SLACK_MS);
    expect(durationMs(gone!.msg)).toBe(gone!.at - installed);
  });

  it('hard_timeout=2 fires on time whatever the traffic; duration 2 s', () => {
    const r = rig();
    vi.advanceTimersByTime(250);
    const installed = Date.now();
    r.dp.handle(flowMod({ idle: 1, hard: 2 }), CONN);
    for (let i = 0; i < 6; i++) {
      vi.advanceTimersByTime(300);
      r.p1.inject([FRAME]);
    }
    expect(r.flows()).toBe(1); // 1.8 s: kept alive by traffic, hard timeout not yet
    vi.advanceTimersByTime(200 + SLACK_MS - 1);
    expect(r.flows()).toBe(0);
    const [gone] = r.sink.removed;
    expect([gone!.msg.reason, gone!.msg.duration_sec, gone!.msg.packet_count]).toEqual([OFPRR.HARD_TIMEOUT, 2, 6n]);
    expect(gone!.at - installed).toBeGreaterThanOrEqual(2000);
    expect(gone!.at - installed).toBeLessThan(2000 + SLACK_MS);
  });

  it('keeps no timer while no flow has a timeout (idle CPU), and one while some do', () => {
    const r = rig();
    expect(vi.getTimerCount()).toBe(0);
    r.dp.handle(flowMod({ match: [{ field: 'in_port', value: 2 }] }), CONN); // permanent
    expect(vi.getTimerCount()).toBe(0);
    r.dp.handle(flowMod({ hard: 5 }), CONN);
    expect(vi.getTimerCount()).toBe(1);
    r.dp.handle(flowMod({ hard: 1, match: [{ field: 'in_port', value: 3 }] }), CONN); // earlier deadline: re-armed, still one
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000 + SLACK_MS);
    expect(r.sink.removed.map((x) => x.msg.hard_timeout)).toEqual([1]);
    expect(vi.getTimerCount()).toBe(1); // for the 5 s flow
    r.dp.handle(flowMod({ command: OFPFC.DELETE_STRICT }), CONN); // delete the 5 s flow
    vi.advanceTimersByTime(5000); // at most one wake-up for the deleted flow's deadline, then none
    expect(vi.getTimerCount()).toBe(0);
    expect(r.flows()).toBe(1);
  });

  it('many flows with deadlines 1 ms apart: each removed within 100 ms, in few wake-ups', () => {
    const r = rig();
    const installed = new Map<bigint, number>();
    for (let i = 0; i < 1000; i++) {
      const cookie = BigInt(i + 1);
      const macText = `02:00:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      r.dp.handle(flowMod({ idle: 1, cookie, match: [{ field: 'eth_src', value: macText }] }), CONN);
      installed.set(cookie, Date.now());
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(1000 + SLACK_MS);
    expect(r.sink.removed).toHaveLength(1000);
    for (const { msg, at } of r.sink.removed) {
      const late = at - installed.get(msg.cookie)! - 1000;
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(SLACK_MS);
    }
    const runs = new Set(r.sink.removed.map((x) => x.at)).size;
    expect(runs).toBeLessThanOrEqual(60); // expiry runs are at least 20 ms apart: ~50 for a 1 s spread
  });
});
