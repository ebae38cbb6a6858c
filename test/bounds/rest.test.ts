/**
 * The REST API under a burst (controller/rest-ofctl.ts's bound on requests to switches): the controller
 * listening over TCP, fake switches (test/tools/fake-switch.ts) connected to it, and the REST API on a
 * real port, reached over real HTTP connections.
 *
 * - 1,000 requests at once, each on its own connection (stats GETs of every switch, flow adds and
 *   deletes, malformed bodies, an unknown dpid): every one answered, the valid ones 200, the bad ones
 *   400 / 404, none dropped and no 5xx; one switch holds its replies until the test lets go, so part of
 *   the burst is provably still pending when a probe GET from another client is answered; the bound's
 *   in-flight and waiting counts never pass their limits and are back to 0 afterwards.
 * - The bound itself, small enough to see exactly: a switch that does not answer gets `maxInFlightPerSwitch`
 *   requests, `maxWaiting` more wait, the rest are refused at once with 503 + Retry-After and counted in
 *   /metrics; a waiter that waits longer than `maxWaitMs` gets 503 too; requests that need no switch
 *   (malformed bodies, /stats/switches) never wait; when the switch answers, the waiters get their 200.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../controller/controller.js';
import { type RestServer, startRest } from '../../controller/rest.js';
import { nullLogger } from '../../base/logger.js';
import type { OFPMessage } from '../../openflow/index.js';
import { FakeSwitch } from '../tools/fake-switch.js';
import { waitFor } from '../helpers/wait.js';
import { rng } from '../helpers/rng.js';

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly retryAfter: string | undefined;
}

/** One request on a connection of its own (no agent, no pooling); status 0 when the connection failed. */
function call(base: string, method: string, path: string, body?: string): Promise<Answer & { error?: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = httpRequest(`${base}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, retryAfter: res.headers['retry-after'] }));
      res.on('error', (e) => resolve({ status: 0, text, retryAfter: undefined, error: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, text: '', retryAfter: undefined, error: e.message }));
    req.end(body);
  });
}

/**
 * A fake switch that answers flow and port stats (empty lists) and barriers; while `holding`, it keeps
 * those answers back until release().
 */
class StatsSwitch {
  readonly sw: FakeSwitch;
  holding = false;
  /** Requests it has received that need an answer (stats and barriers). */
  received = 0;
  private held: OFPMessage[] = [];

  constructor(dpid: bigint, port: number) {
    this.sw = new FakeSwitch({
      dpid,
      port,
      answer: (m) => {
        let reply: OFPMessage | undefined;
        if (m.type === 'OFPFlowStatsRequest') reply = { type: 'OFPFlowStatsReply', xid: m.xid, flags: 0, body: [] };
        else if (m.type === 'OFPPortStatsRequest') reply = { type: 'OFPPortStatsReply', xid: m.xid, flags: 0, body: [] };
        else if (m.type === 'OFPBarrierRequest' && this.counting) reply = { type: 'OFPBarrierReply', xid: m.xid };
        if (reply === undefined) return undefined;
        this.received++;
        if (!this.holding) return [reply];
        this.held.push(reply);
        return [];
      },
    });
  }

  /** Barriers of the handshake are answered as usual; after ready(), they count (and are held) too. */
  private counting = false;
  ready(): void {
    this.counting = true;
  }

  release(): void {
    this.holding = false;
    const h = this.held;
    this.held = [];
    for (const m of h) this.sw.send(m);
  }

  get dpid(): bigint {
    return this.sw.dpid;
  }
}

let ctl: Controller | undefined;
let restServer: RestServer | undefined;
const switches: StatsSwitch[] = [];

afterEach(async () => {
  for (const s of switches.splice(0)) s.sw.end();
  await restServer?.close();
  await ctl?.stop();
  restServer = undefined;
  ctl = undefined;
});

async function setUp(nSwitches: number, bound: { maxInFlightPerSwitch?: number; maxWaiting?: number; maxWaitMs?: number } = {}): Promise<string> {
  ctl = new Controller({ listen: ['tcp:127.0.0.1:0'], apps: [], logger: nullLogger, requestTimeoutMs: 60_000 });
  await ctl.start();
  const port = Number((ctl.addresses()[0] as string).split(':')[2]);
  restServer = await startRest(ctl, { port: 0, timeoutMs: 60_000, ...bound });
  const base = restServer.url;
  for (let i = 0; i < nSwitches; i++) switches.push(new StatsSwitch(0xb0_0000n + BigInt(i + 1), port));
  const c = ctl;
  await waitFor('the switches connected', () => c.datapaths().length === nSwitches, 20_000);
  for (const s of switches) s.ready();
  return base;
}

async function metric(base: string, name: string, label = ''): Promise<number> {
  const text = (await call(base, 'GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}${label ? `{${label}}` : ''} `));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('the REST API under a burst', () => {
  it('answers 1,000 concurrent requests, each as fits; stays responsive to another client meanwhile; bounded', async () => {
    const base = await setUp(4);
    const stuck = switches[0] as StatsSwitch;
    stuck.holding = true;
    const r = rng(15);
    type Kind = 'stats' | 'flow' | 'bad-json' | 'bad-field' | 'no-dpid';
    const plan: { kind: Kind; method: string; path: string; body?: string }[] = [];
    for (let i = 0; i < 1000; i++) {
      const sw = switches[Math.floor(r() * switches.length)] as StatsSwitch;
      const d = sw.dpid.toString();
      const flow = (cmd: string): string => JSON.stringify({ dpid: Number(d), priority: 10, match: { eth_type: 2048, ip_proto: 17, udp_dst: 1000 + i }, actions: cmd === 'add' ? [{ type: 'OUTPUT', port: 1 }] : [] });
      const x = r();
      if (x < 0.35) plan.push({ kind: 'stats', method: 'GET', path: `/stats/flow/${d}` });
      else if (x < 0.5) plan.push({ kind: 'stats', method: 'GET', path: `/stats/port/${d}` });
      else if (x < 0.7) plan.push({ kind: 'flow', method: 'POST', path: '/stats/flowentry/add', body: flow('add') });
      else if (x < 0.8) plan.push({ kind: 'flow', method: 'POST', path: '/stats/flowentry/delete', body: flow('delete') });
      else if (x < 0.87) plan.push({ kind: 'bad-json', method: 'POST', path: '/stats/flowentry/add', body: `{"dpid": ${d}, "match": {"in_port": ` });
      else if (x < 0.94) plan.push({ kind: 'bad-field', method: 'POST', path: '/stats/flowentry/add', body: JSON.stringify({ dpid: Number(d), match: { no_such_field: 1 } }) });
      else plan.push({ kind: 'no-dpid', method: 'GET', path: '/stats/flow/999999' });
    }
    const toStuck = plan.filter((p) => (p.kind === 'stats' || p.kind === 'flow') && (p.path.endsWith(`/${stuck.dpid}`) || (p.body ?? '').includes(`"dpid":${stuck.dpid}`))).length;
    expect(toStuck).toBeGreaterThan(32);

    // The bound's counts, watched through the burst.
    const c = ctl as Controller;
    let maxInFlight = 0;
    let maxWaiting = 0;
    const watch = setInterval(() => {
      void metric(base, 'tinflow_controller_rest_switch_requests', 'state="in_flight"').then((v) => (maxInFlight = Math.max(maxInFlight, v)));
      void metric(base, 'tinflow_controller_rest_switch_requests', 'state="waiting"').then((v) => (maxWaiting = Math.max(maxWaiting, v)));
    }, 50);
    const rss0 = process.memoryUsage().rss;
    let settled = 0;
    const burst = Promise.all(plan.map((p) => call(base, p.method, p.path, p.body).finally(() => settled++)));

    // The stuck switch holds its 32 requests (the bound's turn size); another client is answered meanwhile.
    await waitFor('the stuck switch holding its turn of requests', () => stuck.received >= 32, 30_000);
    const probe = await call(base, 'GET', '/stats/switches');
    expect(probe.status, probe.text).toBe(200);
    expect((JSON.parse(probe.text) as number[]).length).toBe(4);
    const pendingAtProbe = plan.length - settled;
    expect(pendingAtProbe, 'requests to the stuck switch were still pending when the probe was answered').toBeGreaterThan(0);
    expect(stuck.received, 'no more than the bound at once at one switch').toBe(32);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="in_flight"')).toBeGreaterThanOrEqual(32);
    stuck.release();

    const answers = await burst;
    clearInterval(watch);
    const failures: string[] = [];
    const expected: Record<Kind, number> = { stats: 200, flow: 200, 'bad-json': 400, 'bad-field': 400, 'no-dpid': 404 };
    answers.forEach((a, i) => {
      const p = plan[i] as (typeof plan)[number];
      if (a.status !== expected[p.kind]) failures.push(`${p.method} ${p.path} ${p.body ?? ''}: ${a.status} ${a.error ?? a.text.slice(0, 200)}`);
    });
    expect(failures.slice(0, 10), `${failures.length} of 1000 answered other than expected`).toEqual([]);
    const badJson = answers.find((_, i) => plan[i]?.kind === 'bad-json');
    expect(badJson?.text).toMatch(/not valid JSON/);

    // Bounded: never more than the limits, and nothing left over.
    expect(maxInFlight).toBeLessThanOrEqual(32 * 4);
    expect(maxWaiting).toBeLessThanOrEqual(1024);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="in_flight"')).toBe(0);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="waiting"')).toBe(0);
    expect(await metric(base, 'tinflow_controller_rest_rejected_total')).toBe(0);
    // A generous memory bound for this whole process (clients and server): a burst that kept its requests would show.
    expect((process.memoryUsage().rss - rss0) / 2 ** 20).toBeLessThan(256);
    // The controller still serves the switches afterwards.
    expect((await call(base, 'GET', `/stats/flow/${stuck.dpid}`)).status).toBe(200);
    expect(c.datapaths().length).toBe(4);
  }, 60_000);

  it('beyond the bound: 503 with Retry-After at once, counted; a wait that is too long is 503 too; no-switch routes never wait', async () => {
    const base = await setUp(1, { maxInFlightPerSwitch: 2, maxWaiting: 3, maxWaitMs: 60_000 });
    const sw = switches[0] as StatsSwitch;
    sw.holding = true;
    const d = sw.dpid.toString();
    const pending = Array.from({ length: 5 }, () => call(base, 'GET', `/stats/flow/${d}`));
    await waitFor('two requests at the switch', () => sw.received === 2, 10_000);
    await waitFor('three waiting', async () => (await metric(base, 'tinflow_controller_rest_switch_requests', 'state="waiting"')) === 3, 10_000);
    // Full: these are refused at once.
    const refused = await Promise.all(Array.from({ length: 4 }, () => call(base, 'GET', `/stats/port/${d}`)));
    for (const a of refused) {
      expect(a.status, a.text).toBe(503);
      expect(a.retryAfter).toBe('1');
      expect(JSON.parse(a.text)).toMatchObject({ error: expect.stringMatching(/too many requests for switches/) as unknown });
    }
    expect(await metric(base, 'tinflow_controller_rest_rejected_total')).toBe(4);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="in_flight"')).toBe(2);
    // What needs no switch is answered while the queue is full.
    expect((await call(base, 'GET', '/stats/switches')).status).toBe(200);
    expect((await call(base, 'POST', '/stats/flowentry/add', '{"dpid": ')).status).toBe(400);
    expect((await call(base, 'GET', '/stats/flow/4242')).status).toBe(404);
    expect(sw.received).toBe(2);
    // The switch answers: every waiter gets its turn and its 200.
    sw.release();
    for (const a of await Promise.all(pending)) expect(a.status, a.text).toBe(200);
    expect(sw.received).toBe(5);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="waiting"')).toBe(0);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="in_flight"')).toBe(0);
  }, 60_000);

  it('a request that waits longer than maxWaitMs for a turn is refused with 503', async () => {
    const base = await setUp(1, { maxInFlightPerSwitch: 1, maxWaiting: 10, maxWaitMs: 300 });
    const sw = switches[0] as StatsSwitch;
    sw.holding = true;
    const d = sw.dpid.toString();
    const first = call(base, 'GET', `/stats/flow/${d}`);
    await waitFor('one request at the switch', () => sw.received === 1, 10_000);
    const second = await call(base, 'GET', `/stats/flow/${d}`);
    expect(second.status, second.text).toBe(503);
    expect(second.text).toMatch(/no turn at switch .* within 300 ms/);
    expect(second.retryAfter).toBe('1');
    expect(await metric(base, 'tinflow_controller_rest_rejected_total')).toBe(1);
    sw.release();
    expect((await first).status).toBe(200);
    expect(await metric(base, 'tinflow_controller_rest_switch_requests', 'state="waiting"')).toBe(0);
  }, 30_000);
});
