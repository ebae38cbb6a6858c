/**
 * The OpenFlow queues are bounded, on both sides of the channel:
 * (a) a controller that never reads while the switch makes many packet-ins: the switch's queue to it stays
 *     under its limit, the excess packet-ins are dropped and counted (switchctl status shows them), the
 *     switch keeps forwarding, another controller stays served, and the stuck one is dropped in the end;
 * (b) a switch flooding packet-ins at the controller: with a switch that does not read what they provoke,
 *     the controller stops reading from it (its queue stays under the limit), other switches are
 *     answered, and /metrics counts it; with a slow app, the app's lane drops what is beyond its limit;
 * (c) 10,000 flow-mods without a barrier, then a barrier: all applied when the reply comes; 10,000 bad
 *     flow-mods from a controller that does not read the errors: the switch stops reading from it, its
 *     queue stays bounded, and once the controller reads, every error arrives, in order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type Socket, createConnection } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../base/logger.js';
import { learning } from '../../controller/apps/learning.js';
import type { App } from '../../controller/app.js';
import { Controller, type ControllerOptions } from '../../controller/controller.js';
import { type DatapathConnection, MAX_PORTS } from '../../controller/datapath-connection.js';
import { startRest } from '../../controller/rest.js';
import {
  Framer,
  type MessageOf,
  type OFPMessage,
  OFPET,
  OFPFC,
  OFPFMFC,
  OFPG,
  OFPIT,
  OFPP,
  OFPPR,
  OFP_NO_BUFFER,
  decode,
  encode,
} from '../../openflow/index.js';
import { Channel } from '../../switch/channel.js';
import { serveCtl } from '../../switch/ctl.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { FakeSwitch } from '../tools/fake-switch.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const HELLO: OFPMessage = { type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] };

/** A raw peer: decoded messages into `got` (or only counted by type, with `keep` off), echo requests answered. */
class Peer {
  readonly got: OFPMessage[] = [];
  readonly counts = new Map<string, number>();
  private readonly framer = new Framer();
  closed = false;
  constructor(
    readonly sock: Socket,
    private readonly keep = true,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      for (const f of this.framer.push(d)) {
        const m = decode(f);
        this.counts.set(m.type, (this.counts.get(m.type) ?? 0) + 1);
        if (m.type === 'OFPEchoRequest') this.send({ type: 'OFPEchoReply', xid: m.xid, data: m.data });
        if (this.keep || m.type !== 'OFPPacketIn') this.got.push(m);
      }
    });
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => undefined);
  }
  static async connect(port: number, keep = true): Promise<Peer> {
    const s = createConnection({ host: '127.0.0.1', port });
    await once(s, 'connect');
    cleanups.push(() => {
      s.destroy();
    });
    return new Peer(s, keep);
  }
  send(m: OFPMessage): void {
    this.sock.write(encode(m));
  }
  count(type: string): number {
    return this.counts.get(type) ?? 0;
  }
  async roundTrip(xid: number): Promise<void> {
    this.send({ type: 'OFPEchoRequest', xid, data: Buffer.from('hi') });
    this.send({ type: 'OFPBarrierRequest', xid: xid + 1 });
    await waitFor(`echo and barrier ${xid}`, () => this.got.some((m) => m.type === 'OFPEchoReply' && m.xid === xid) && this.got.some((m) => m.type === 'OFPBarrierReply' && m.xid === xid + 1), 10_000);
  }
}

function flowMod(o: Partial<MessageOf<'OFPFlowMod'>>): MessageOf<'OFPFlowMod'> {
  return {
    type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD, idle_timeout: 0, hard_timeout: 0, priority: 1,
    buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: OFPG.ANY, flags: 0, match: [], instructions: [], ...o,
  };
}

const toController = flowMod({ priority: 0, instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: 0xffff }] }] });

async function inProcessSwitch(o: { queueLimit?: number; probeInterval?: number } = {}): Promise<{ dp: Datapath; channel: Channel; port: number; ports: MemoryPort[] }> {
  const dp = new Datapath({ name: 'bounds', dpid: 0xb0n, tables: 2, failMode: 'secure', log: nullLogger });
  const channel = new Channel({ targets: [{ kind: 'ptcp', host: '127.0.0.1', port: 0 }], handler: dp, log: nullLogger, ...o });
  dp.attach(channel);
  await channel.start();
  const ports = [1, 2, 3].map((n) => new MemoryPort({ name: `b${n}`, txQueueLimit: 100_000 }));
  ports.forEach((p, i) => dp.addPort(p, i + 1));
  cleanups.push(async () => {
    await channel.stop();
    dp.stop();
  });
  return { dp, channel, port: channel.listeningPorts()[0] as number, ports };
}

function frame(i: number, size = 1400): Buffer {
  const f = Buffer.alloc(size);
  Buffer.from([0x02, 0, 0, 0, (i >> 8) & 0xff, i & 0xff, 0x02, 0, 0, 1, (i >> 8) & 0xff, i & 0xff]).copy(f);
  f.writeUInt16BE(0x0800, 12);
  return f;
}

/** `switchctl status` over the control socket, as key → value. */
async function ctlStatus(path: string): Promise<Map<string, string>> {
  const s = createConnection(path);
  await once(s, 'connect');
  s.write(JSON.stringify({ cmd: 'status' }) + '\n');
  const [chunk] = (await once(s, 'data')) as [Buffer];
  s.destroy();
  const r = JSON.parse(chunk.toString()) as { lines: string[] };
  return new Map(r.lines.map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
}

/** argv: the switch's port, hex bytes to send. Prints its local port, then never reads. */
const STUCK_CONTROLLER = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(bytes.fromhex(sys.argv[2]))
print(s.getsockname()[1], flush=True)
time.sleep(120)
`;

describe('(a) the switch and a controller that never reads', () => {
  it('packet-ins beyond the queue limit are dropped and counted; forwarding and another controller go on; the stuck one is dropped', async () => {
    const limit = 256 * 1024;
    const sw = await inProcessSwitch({ queueLimit: limit, probeInterval: 2 });
    const good = await Peer.connect(sw.port, false);
    good.send(HELLO);
    good.send({ type: 'OFPFeaturesRequest', xid: 2 });
    good.send(toController);
    // port 2 forwards to port 3 by a flow, whatever happens to packet-ins
    good.send(flowMod({ priority: 10, match: [{ field: 'in_port', value: 2 }], instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionOutput', port: 3, max_len: 0 }] }] }));
    await good.roundTrip(10);

    // The stuck controller: hello and features request, then it never reads. A small receive buffer
    // (which Node cannot set) keeps the kernel from taking megabytes on its behalf before it looks stuck.
    const stuck = spawn('python3', ['-c', STUCK_CONTROLLER, String(sw.port), encode(HELLO).toString('hex') + encode({ type: 'OFPFeaturesRequest', xid: 2 }).toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => {
      stuck.kill();
    });
    const [portLine] = (await once(stuck.stdout, 'data')) as [Buffer];
    const stuckPort = portLine.toString().trim();
    await waitFor('both controllers connected', () => sw.channel.connected === 2);
    const stuckStats = () => sw.channel.stats().connections.find((c) => c.id.includes(`:${stuckPort}#`));

    const dir = mkdtempSync(join(tmpdir(), 'tinflow-bounds-'));
    const ctlPath = join(dir, 'ctl.sock');
    const ctlServer = serveCtl(ctlPath, sw.dp, sw.channel);
    cleanups.push(() => {
      ctlServer.close();
      rmSync(dir, { recursive: true, force: true });
    });

    let maxQueued = 0;
    let forwarded = 0;
    const [p1, p2, p3] = sw.ports as [MemoryPort, MemoryPort, MemoryPort];
    for (let round = 0; round < 200 && (stuckStats()?.packetInDropped ?? 0) < 1000; round++) {
      p1.inject(Array.from({ length: 200 }, (_, i) => frame(round * 200 + i)));
      p2.inject([frame(round)]);
      forwarded += p3.take().length;
      maxQueued = Math.max(maxQueued, stuckStats()?.queuedBytes ?? 0);
      await good.roundTrip(100 + 2 * round); // the other controller is served throughout
    }
    const dropped = sw.channel.counters.packetInDropped;
    expect(stuckStats()?.packetInDropped, 'packet-ins dropped for the stuck controller').toBeGreaterThanOrEqual(1000);
    expect(maxQueued, 'the queue to the stuck controller').toBeLessThanOrEqual(limit + 2 * 1500);
    expect(forwarded, 'the switch kept forwarding').toBeGreaterThan(0);
    expect(good.count('OFPPacketIn'), 'the reading controller got its packet-ins').toBeGreaterThan(1000);

    const status = await ctlStatus(ctlPath);
    expect(Number(status.get('packet-ins-dropped'))).toBe(dropped);
    expect(status.get('controller-queue-limit')).toBe(String(limit));

    // the stuck controller is dropped once its queue has not moved for twice the probe interval (4 s);
    // the load goes on meanwhile, or the kernel's growing socket buffers would take what is queued
    let n = 0;
    await waitFor('the stuck controller dropped', () => {
      p1.inject(Array.from({ length: 50 }, (_, i) => frame(n + i)));
      n += 50;
      return sw.channel.counters.stuckDropped === 1;
    }, 20_000);
    expect(sw.channel.connected).toBe(1);
    await good.roundTrip(1000);
    expect(Number((await ctlStatus(ctlPath)).get('controllers-dropped-stuck'))).toBe(1);
  }, 40_000);
});

describe('(b) the controller and a switch flooding packet-ins', () => {
  async function controller(apps: ControllerOptions['apps'], o: { queueLimit?: number; appQueueLimit?: number; echoIntervalMs?: number } = {}) {
    const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], ...(apps ? { apps } : {}), ...o });
    await ctl.start();
    cleanups.push(() => ctl.stop());
    return { ctl, port: Number(ctl.addresses()[0]?.split(':').pop()) };
  }

  const packetIn = (i: number, size = 1400): MessageOf<'OFPPacketIn'> => ({
    type: 'OFPPacketIn', xid: 0, buffer_id: OFP_NO_BUFFER, total_len: size, reason: 0, table_id: 0, cookie: 0n, match: [{ field: 'in_port', value: 1 }], data: frame(i, size),
  });

  it('a flooding switch that does not read: the controller stops reading from it, its queue stays bounded; others are answered; /metrics counts it', async () => {
    const limit = 128 * 1024;
    const { ctl, port } = await controller([learning()], { queueLimit: limit, echoIntervalMs: 1000 });
    const flood = new FakeSwitch({ dpid: 0xf1n, port });
    cleanups.push(() => flood.end());
    const other = new FakeSwitch({ dpid: 0xf2n, port, record: true });
    cleanups.push(() => other.end());
    await waitFor('both switches in main', () => ctl.datapath(0xf1n)?.state === 'main' && ctl.datapath(0xf2n)?.state === 'main');
    flood.sock.pause(); // reads nothing from here on
    const conn = ctl.datapath(0xf1n) as DatapathConnection;
    let maxQueued = 0;
    const batch = Buffer.concat(Array.from({ length: 200 }, (_, i) => encode(packetIn(i))));
    for (let round = 0; round < 60 && ctl.counters.readPauses === 0; round++) {
      flood.sock.write(batch);
      await new Promise((r) => setTimeout(r, 20));
      maxQueued = Math.max(maxQueued, conn.queuedBytes);
    }
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 20));
      maxQueued = Math.max(maxQueued, conn.queuedBytes);
    }
    expect(ctl.counters.readPauses, 'the controller paused reading from the flooding switch').toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(limit + 256 * 1024);

    // the other switch is answered: its packet-in gets a packet-out, its echo a reply
    other.send(packetIn(7, 100));
    other.send({ type: 'OFPEchoRequest', xid: 0x55, data: Buffer.alloc(0) });
    await waitFor('the other switch answered', () => other.got.some((m) => m.type === 'OFPPacketOut') && other.got.some((m) => m.type === 'OFPEchoReply' && m.xid === 0x55));

    // the stuck one is dropped once its queue has not moved for twice the echo interval; it floods on
    // meanwhile, or the kernel's growing socket buffers would take what is queued
    await waitFor('the flooding switch dropped as stuck', () => {
      if (!flood.sock.destroyed) flood.sock.write(batch);
      return ctl.counters.stuckDropped === 1;
    }, 20_000);
    expect(ctl.datapath(0xf1n)).toBeUndefined();

    const rest = await startRest(ctl, { port: 0 });
    cleanups.push(() => rest.close());
    const text = (await rest.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/^tinflow_controller_switch_read_pauses_total [1-9]/m);
    expect(text).toMatch(/^tinflow_controller_switches_dropped_stuck_total 1$/m);
    expect(text).toMatch(/^tinflow_controller_app_events_dropped_total 0$/m);
  }, 40_000);

  it('a slow app: its lane for the flooding switch holds at most appQueueLimit events, the rest are dropped and counted; another switch is answered', async () => {
    let handled = 0;
    const slow: App = {
      name: 'slow',
      on: {
        packetIn: async ({ dp, msg }) => {
          handled++;
          await new Promise((r) => setTimeout(r, 2));
          return dp.id === 0xf4n ? [{ type: 'OFPPacketOut', xid: 0, buffer_id: OFP_NO_BUFFER, in_port: 1, actions: [], data: msg.data }] : [];
        },
      },
    };
    const { ctl, port } = await controller([slow], { appQueueLimit: 100 });
    const flood = new FakeSwitch({ dpid: 0xf3n, port });
    cleanups.push(() => flood.end());
    const other = new FakeSwitch({ dpid: 0xf4n, port, record: true });
    cleanups.push(() => other.end());
    await waitFor('both switches in main', () => ctl.datapath(0xf3n)?.state === 'main' && ctl.datapath(0xf4n)?.state === 'main');
    const batch = Buffer.concat(Array.from({ length: 500 }, (_, i) => encode(packetIn(i, 200))));
    for (let round = 0; round < 10; round++) flood.sock.write(batch);
    await waitFor('events dropped', () => ctl.counters.appDrops > 0, 10_000);
    other.send(packetIn(1, 100));
    await waitFor('the other switch answered', () => other.got.some((m) => m.type === 'OFPPacketOut'), 10_000);
    await waitFor('every event handled or dropped', () => handled + ctl.counters.appDrops === 5001, 20_000);
    expect(handled).toBeLessThan(5000);
    const rest = await startRest(ctl, { port: 0 });
    cleanups.push(() => rest.close());
    expect((await rest.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(new RegExp(`^tinflow_controller_app_events_dropped_total ${ctl.counters.appDrops}$`, 'm'));
  }, 40_000);
});

describe('(b) the ports the controller keeps for a switch', () => {
  it('port-status for ever new port numbers: at most MAX_PORTS are kept, the rest counted', async () => {
    const ctl = new Controller({ listen: ['tcp:127.0.0.1:0'] });
    await ctl.start();
    cleanups.push(() => ctl.stop());
    const sw = new FakeSwitch({ dpid: 0xf5n, port: Number(ctl.addresses()[0]?.split(':').pop()) });
    cleanups.push(() => sw.end());
    await waitFor('the switch in main', () => ctl.datapath(0xf5n)?.state === 'main');
    const extra = 100;
    const desc = (no: number) => ({ port_no: no, hw_addr: '02:00:00:00:00:01', name: 'p', config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0 });
    for (let from = 1; from <= MAX_PORTS + extra; from += 5000) {
      const n = Math.min(5000, MAX_PORTS + extra + 1 - from);
      sw.sock.write(Buffer.concat(Array.from({ length: n }, (_, i) => encode({ type: 'OFPPortStatus', xid: 0, reason: OFPPR.ADD, desc: desc(from + i) }))));
    }
    await waitFor('every port-status handled', () => ctl.counters.portsIgnored === extra, 20_000);
    expect(ctl.datapath(0xf5n)?.ports.size).toBe(MAX_PORTS);
    // a port it keeps is still updated
    sw.send({ type: 'OFPPortStatus', xid: 0, reason: OFPPR.MODIFY, desc: { ...desc(7), name: 'renamed' } });
    await waitFor('the port updated', () => ctl.datapath(0xf5n)?.ports.get(7)?.name === 'renamed');
    expect(ctl.counters.portsIgnored).toBe(extra);
  }, 40_000);
});

describe('(c) many flow-mods without a barrier', () => {
  it('10,000 flow-mods, then a barrier: all of them applied when its reply arrives', async () => {
    const sw = await inProcessSwitch();
    const c = await Peer.connect(sw.port);
    c.send(HELLO);
    await c.roundTrip(2);
    let atBarrier = -1;
    c.sock.on('data', () => {
      if (atBarrier < 0 && c.got.some((m) => m.type === 'OFPBarrierReply' && m.xid === 0xbbbb)) atBarrier = [...(sw.dp.tables[0]?.entries() ?? [])].length;
    });
    const mods = Array.from({ length: 10_000 }, (_, i) =>
      encode(flowMod({ xid: 0x1000 + i, priority: 100, match: [{ field: 'eth_type', value: 0x0800 }, { field: 'ipv4_dst', value: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }] })),
    );
    c.sock.write(Buffer.concat(mods));
    c.send({ type: 'OFPBarrierRequest', xid: 0xbbbb });
    await waitFor('the barrier reply', () => atBarrier >= 0, 20_000);
    expect(atBarrier).toBe(10_000);
    expect(c.got.filter((m) => m.type === 'OFPErrorMsg')).toEqual([]);
    expect(sw.channel.counters.readPauses).toBe(0);
  }, 40_000);

  it('10,000 bad flow-mods from a controller that does not read the errors: the switch stops reading, its queue stays bounded, and every error arrives in order later', async () => {
    const limit = 64 * 1024;
    const sw = await inProcessSwitch({ queueLimit: limit, probeInterval: 60 });
    const c = await Peer.connect(sw.port, false);
    c.send(HELLO);
    await c.roundTrip(2);
    c.sock.pause();
    // each one names a table the switch does not have, and is about 1.6 KB, which its error carries back
    const actions = Array.from({ length: 100 }, () => ({ kind: 'OFPActionOutput' as const, port: 1, max_len: 0 }));
    const bad = (i: number) => encode(flowMod({ xid: 0x2000 + i, table_id: 200, instructions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions }] }));
    const writes = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => bad(i)));
    c.sock.write(writes);
    c.send({ type: 'OFPBarrierRequest', xid: 0xcccc });
    await waitFor('the switch paused reading', () => sw.channel.stats().connections.some((s) => s.readPaused), 20_000);
    let maxQueued = 0;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 25));
      for (const s of sw.channel.stats().connections) maxQueued = Math.max(maxQueued, s.queuedBytes);
    }
    expect(maxQueued).toBeGreaterThan(0);
    expect(maxQueued, 'the queue to the controller that does not read').toBeLessThanOrEqual(limit + 2 * 1700);
    expect(sw.channel.counters.readPauses).toBeGreaterThan(0);

    c.sock.resume();
    await waitFor('the barrier reply', () => c.got.some((m) => m.type === 'OFPBarrierReply' && m.xid === 0xcccc), 30_000);
    const errors = c.got.filter((m): m is MessageOf<'OFPErrorMsg'> => m.type === 'OFPErrorMsg');
    expect(errors.length).toBe(10_000);
    expect(errors.every((e, i) => e.xid === 0x2000 + i && e.err_type === OFPET.FLOW_MOD_FAILED && e.code === OFPFMFC.BAD_TABLE_ID)).toBe(true);
    expect(c.got[c.got.length - 1]?.type).toBe('OFPBarrierReply');
  }, 60_000);
});
