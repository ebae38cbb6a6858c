/**
 * The controller's HTTP side beyond ofctl_rest (controller/rest.ts), with an in-process Controller, the
 * learning app and a real tinflow switch between two namespaces plus a spare port:
 *
 * - GET /metrics is Prometheus text: datapaths and connections gauges, ports per switch, messages by type
 *   in both directions (packet-ins after traffic), and the process metrics;
 * - WebSocket /events streams switchEnter, portModify (a veth set down and up), portDelete (a veth
 *   deleted) and switchLeave to a default subscriber, packet-ins (with parsed fields) only to one that
 *   asks for them, and refuses an unknown event name with an error and close code 1008;
 * - a client that stops reading loses events (counted) while the others and the switch carry on, and
 *   clients that close, cleanly or not, leave no listener behind;
 * - an unknown route is a 404 with a JSON body;
 * - closing the server closes reading clients with 1001 and does not wait for a stalled one.
 *
 * Ports: OpenFlow 6845; HTTP on a free port.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { learning } from '../../controller/apps/learning.js';
import { Controller } from '../../controller/controller.js';
import { type RestServer, startRest } from '../../controller/rest.js';
import { OFPCML, OFPP, OFP_NO_BUFFER, type OFPMessage } from '../../openflow/index.js';
import { ip } from '../../scripts/netlab.js';
import { type Hosts, makeHosts, ping, startSwitch, stop } from '../switch/switch-lab.js';
import { eth } from '../switch/frames.js';
import { EventClient, stalledClient, waitFor } from './event-clients.js';

const OF_PORT = 6845;
const DPID = 0xe1n;

/** Prometheus text → "name{labels}" → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/** A packet-out that makes the switch send the frame straight back as a packet-in (reason ACTION). */
function echoToController(frame: Buffer): OFPMessage {
  return {
    type: 'OFPPacketOut', xid: 0, buffer_id: OFP_NO_BUFFER, in_port: OFPP.CONTROLLER,
    actions: [{ kind: 'OFPActionOutput', port: OFPP.CONTROLLER, max_len: OFPCML.NO_BUFFER }], data: frame,
  };
}

/** An LLDP frame (the learning app leaves those alone) whose source MAC says which one it is. */
function marker(n: number): Buffer {
  const src = `02:ee:00:${((n >> 16) & 0xff).toString(16).padStart(2, '0')}:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
  return eth(0x88cc, Buffer.alloc(46, 0x5a), [], '01:80:c2:00:00:0e', src);
}

describe('REST /metrics and WebSocket /events with a real tinflow switch', () => {
  let hosts: Hosts;
  let ctl: Controller;
  let rest: RestServer;
  let base: string;
  let wsBase: string;
  let spare: string;
  let all: EventClient;
  let packets: EventClient;
  const extra: EventClient[] = [];
  const stalled: Socket[] = [];
  let restClosed = false;
  let switchProc: ReturnType<typeof startSwitch>;

  const metrics = async (): Promise<Map<string, number>> => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  };

  beforeAll(async () => {
    hosts = makeHosts('ev', 2);
    spare = hosts.lab.name('x1');
    hosts.lab.veth(spare, hosts.lab.name('x2'));
    ctl = new Controller({ listen: [`tcp:127.0.0.1:${OF_PORT}`], apps: [learning()] });
    await ctl.start();
    rest = await startRest(ctl, { host: '127.0.0.1', port: 0 });
    base = rest.url;
    wsBase = base.replace(/^http/, 'ws');
    // Subscribed before the switch comes, so they see it enter.
    all = await EventClient.open(`${wsBase}/events`);
    packets = await EventClient.open(`${wsBase}/events?events=packetIn`);
    switchProc = startSwitch(hosts.lab, [
      '--name', hosts.lab.name('br'), '--dpid', DPID.toString(16), '--controller', `tcp:127.0.0.1:${OF_PORT}`, '--offload', '--no-local',
      '--log-level', 'warn', '--port', `1=${hosts.ports[0] ?? ''}`, '--port', `2=${hosts.ports[1] ?? ''}`, '--port', `3=${spare}`,
    ]);
    await waitFor(() => ctl.datapath(DPID), 15_000, 'the switch');
  }, 40_000);

  afterAll(async () => {
    const bounded = (p: Promise<unknown> | undefined): Promise<unknown> => Promise.race([p, new Promise((r) => setTimeout(r, 5000))]);
    try {
      for (const s of stalled) s.destroy();
      for (const c of [all, packets, ...extra]) c?.ws.terminate();
      if (!restClosed) await bounded(rest?.close());
      await bounded(ctl?.stop());
    } finally {
      hosts?.lab.cleanup();
    }
  });

  it('/events: a default subscriber sees switchEnter', async () => {
    const ev = await all.wait((e) => e.event === 'switchEnter', 'switchEnter');
    expect(ev).toEqual({ event: 'switchEnter', dpid: Number(DPID), time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(packets.of('switchEnter')).toEqual([]);
  });

  it('/events?events=packetIn: packet-ins with parsed fields, only to the client that asked', async () => {
    expect(await ping(hosts, 0, 1, 3)).toBe(3);
    const arp = await packets.wait((e) => e.eth_type === 0x0806 && e.in_port === 1, 'an ARP packet-in from port 1');
    expect(arp).toMatchObject({ event: 'packetIn', dpid: Number(DPID), reason: 0, table_id: 0, eth_dst: 'ff:ff:ff:ff:ff:ff' });
    const icmp = await packets.wait((e) => e.eth_type === 0x0800, 'an IPv4 packet-in');
    expect(icmp).toMatchObject({ event: 'packetIn', ipv4_src: '10.55.0.1', ipv4_dst: '10.55.0.2', ip_proto: 1, in_port: 1 });
    expect(all.of('packetIn')).toEqual([]);
  }, 20_000);

  it('GET /metrics: Prometheus text with datapaths, ports and messages by type', async () => {
    const m = await metrics();
    expect(m.get('tinflow_controller_datapaths')).toBe(1);
    expect(m.get('tinflow_controller_connections')).toBe(1);
    expect(m.get(`tinflow_controller_ports{dpid="${DPID}"}`)).toBe(3);
    const rx = (type: string): number | undefined => m.get(`tinflow_controller_messages_received_total{type="${type}"}`);
    const tx = (type: string): number | undefined => m.get(`tinflow_controller_messages_sent_total{type="${type}"}`);
    expect(rx('OFPHello')).toBe(1);
    expect(rx('OFPSwitchFeatures')).toBe(1);
    expect(rx('OFPPortDescStatsReply')).toBe(1);
    expect(rx('OFPPacketIn')).toBeGreaterThanOrEqual(packets.of('packetIn').length);
    expect(packets.of('packetIn').length).toBeGreaterThan(0);
    expect(tx('OFPHello')).toBe(1);
    expect(tx('OFPFeaturesRequest')).toBe(1);
    expect(tx('OFPFlowMod')).toBeGreaterThanOrEqual(2); // the table-miss entry and learnt flows
    expect(tx('OFPPacketOut')).toBeGreaterThan(0);
    expect(m.get('tinflow_controller_app_errors_total')).toBe(0);
    expect(m.get('tinflow_controller_switch_errors_total')).toBe(0);
    expect(m.has('tinflow_controller_process_cpu_user_seconds_total')).toBe(true);
    expect(m.has('tinflow_controller_events_dropped_total')).toBe(true);
  });

  it('/events: portModify when a port goes down and up again, portDelete when it is deleted', async () => {
    ip('link', 'set', spare, 'down');
    const down = await all.wait((e) => e.event === 'portModify' && e.port_no === 3 && ((e.state as number) & 1) === 1, 'port 3 link down');
    expect(down).toMatchObject({ dpid: Number(DPID), name: spare, hw_addr: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/) });
    ip('link', 'set', spare, 'up');
    await all.wait((e) => e.event === 'portModify' && e.port_no === 3 && ((e.state as number) & 1) === 0 && all.got.indexOf(e) > all.got.indexOf(down), 'port 3 link up');
    ip('link', 'del', spare);
    const del = await all.wait((e) => e.event === 'portDelete', 'portDelete');
    expect(del).toMatchObject({ dpid: Number(DPID), port_no: 3, name: spare });
    expect((await metrics()).get(`tinflow_controller_ports{dpid="${DPID}"}`)).toBe(2);
  }, 20_000);

  it('/events?events=...: an unknown event name is an error, then close code 1008', async () => {
    const c = await EventClient.open(`${wsBase}/events?events=switchEnter,bogus`);
    extra.push(c);
    const err = await c.wait((e) => e.error !== undefined, 'the error message');
    expect(err.error).toMatch(/unknown event "bogus"; known: switchEnter, switchLeave, packetIn/);
    await waitFor(() => c.closeCode, 5000, 'the close');
    expect(c.closeCode).toBe(1008);
  });

  it('a client that stops reading loses events; the others and the switch carry on; closed clients leave nothing behind', async () => {
    const baseline = { packetIn: ctl.listenerCount('packetIn'), switchEnter: ctl.listenerCount('switchEnter') };
    const fast = await EventClient.open(`${wsBase}/events?events=packetIn`);
    extra.push(fast);
    const slow = await stalledClient(Number(new URL(base).port), '/events?events=packetIn,message');
    stalled.push(slow);
    // One that hangs up without a close frame, and one that closes properly, before the flood.
    const rude = await EventClient.open(`${wsBase}/events?events=packetIn,switchEnter`);
    const polite = await EventClient.open(`${wsBase}/events?events=packetIn,switchEnter`);
    await waitFor(() => ctl.listenerCount('packetIn') === baseline.packetIn + 4, 5000, 'four more packetIn listeners');
    rude.ws.terminate();
    await polite.close();
    await waitFor(() => ctl.listenerCount('packetIn') === baseline.packetIn + 2, 5000, 'the closed clients to unsubscribe');
    expect(ctl.listenerCount('switchEnter')).toBe(baseline.switchEnter);

    const dp = ctl.datapath(DPID);
    if (!dp) throw new Error('the switch is gone');
    const before = (await metrics()).get('tinflow_controller_events_dropped_total') ?? 0;
    const rx0 = ctl.counters.rx.get('OFPPacketIn') ?? 0;
    const N = 30_000;
    for (let i = 0; i < N; i++) {
      dp.send(echoToController(marker(i)));
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => (ctl.counters.rx.get('OFPPacketIn') ?? 0) - rx0 >= N, 60_000, `${N} packet-ins`);
    // The client that reads got every one of them, the last included.
    const last = `02:ee:00:${(((N - 1) >> 16) & 0xff).toString(16).padStart(2, '0')}:${(((N - 1) >> 8) & 0xff).toString(16).padStart(2, '0')}:${((N - 1) & 0xff).toString(16).padStart(2, '0')}`;
    await fast.wait((e) => e.eth_src === last, 'the last packet-in at the reading client', 20_000);
    expect(fast.of('packetIn').length).toBe(N);
    // The stalled one was cut off: counted, not buffered without bound.
    const dropped = ((await metrics()).get('tinflow_controller_events_dropped_total') ?? 0) - before;
    expect(dropped).toBeGreaterThan(0);
    // The switch is still served: a round trip, and traffic between the hosts.
    expect((await dp.request({ type: 'OFPEchoRequest', xid: 0, data: Buffer.from('still there') }, { timeoutMs: 3000 }))[0]?.type).toBe('OFPEchoReply');
    expect(await ping(hosts, 1, 0, 3)).toBe(3);
    slow.destroy();
    await fast.close();
    await waitFor(() => ctl.listenerCount('packetIn') === baseline.packetIn, 5000, 'every extra client to unsubscribe');
    expect(ctl.listenerCount('message')).toBe(0);
    expect(ctl.counters.appErrors).toBe(0);
  }, 120_000);

  it('an unknown route is a 404 with a JSON body', async () => {
    for (const [method, path] of [['GET', '/nope'], ['POST', '/metrics'], ['GET', '/events/extra?x=1']] as const) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ error: `no route ${method} ${path.split('?')[0] ?? ''}` });
    }
  });

  it('/events: switchLeave when the switch goes; /metrics then counts no datapath', async () => {
    await stop(switchProc);
    const ev = await all.wait((e) => e.event === 'switchLeave', 'switchLeave');
    expect(ev).toMatchObject({ dpid: Number(DPID), reason: expect.any(String) });
    const m = await metrics();
    expect(m.get('tinflow_controller_datapaths')).toBe(0);
    expect(m.get('tinflow_controller_connections')).toBe(0);
    expect([...m.keys()].filter((k) => k.startsWith('tinflow_controller_ports{'))).toEqual([]);
  }, 15_000);

  it('closing the REST server says 1001 to clients that read and does not wait long for one that stalled', async () => {
    stalled.push(await stalledClient(Number(new URL(base).port), '/events'));
    const t0 = Date.now();
    restClosed = true;
    await rest.close();
    // About 1 s (the grace given to clients); a stalled client that held it would take ws's 30 s. The
    // bound is far from both, so a busy machine does not trip it.
    expect(Date.now() - t0).toBeLessThan(10_000);
    await waitFor(() => all.closeCode, 3000, 'the reading client to be closed');
    expect(all.closeCode).toBe(1001);
  }, 20_000);
});
