/**
 * The OpenFlow channel of a running `tinflow switch`, seen from controllers written here with the codec:
 * version negotiation, echo, the inactivity probe, barrier, roles and generation ids, async filtering,
 * redialling with backoff, and TLS both ways. Fail modes are tested with real hosts and os-ken.
 *
 * Some tests run the channel in this process instead (the same Channel and Datapath the CLI wires up,
 * over real TCP, with in-memory ports), where they need to inject frames or shorten the backoff.
 */
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, type Server, type Socket, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import {
  Framer, type MessageOf, type OFPMessage, OFPCR_ROLE, OFPET, OFPFC, OFPFF, OFPG, OFPIT, OFPP, OFPR, OFPRR, OFPRRFC, OFP_NO_BUFFER, decode, encode,
} from '../../openflow/index.js';
import { Lab } from '../../scripts/netlab.js';
import { type Logger, nullLogger } from '../../base/logger.js';
import { Channel, type Target } from '../../switch/channel.js';
import { waitFor } from '../helpers/wait.js';
import { Datapath } from '../../switch/datapath.js';
import { MemoryPort } from '../../switch/memory-port.js';
import { eth, ipv4, udp } from './frames.js';
import { type Hosts, makeHosts, ping, startOsken, startSwitch, stop, waitPort } from './switch-lab.js';

/** A minimal controller: sends and collects decoded messages. */
class Ctl {
  readonly got: OFPMessage[] = [];
  private readonly framer = new Framer();
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      for (const f of this.framer.push(d)) this.got.push(decode(f));
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('error', () => {});
  }
  send(m: OFPMessage): void {
    this.sock.write(encode(m));
  }
  hello(versions = [4]): void {
    this.send({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions }] });
  }
  async next<T extends OFPMessage['type']>(type: T, ms = 5000, pred: (m: Extract<OFPMessage, { type: T }>) => boolean = () => true): Promise<Extract<OFPMessage, { type: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => m.type === type && pred(m as Extract<OFPMessage, { type: T }>));
      if (i >= 0) return this.got.splice(i, 1)[0] as Extract<OFPMessage, { type: T }>;
      if (this.closed || Date.now() > deadline) throw new Error(`no ${type} (got ${this.got.map((m) => m.type).join(', ')}${this.closed ? '; connection closed' : ''})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  close(): void {
    this.sock.destroy();
  }
}

async function connect(port: number): Promise<Ctl> {
  const s = createConnection({ host: '127.0.0.1', port });
  await once(s, 'connect');
  return new Ctl(s);
}

const PORT = 6795;
const labs: Lab[] = [];
const procs: ChildProcess[] = [];
/** In-process channels, listeners and sockets to close after each test. */
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const p of procs.splice(0)) await stop(p);
  for (const l of labs.splice(0)) l.cleanup();
});

const QUIET: Logger = nullLogger;

/** A controller's hello and features request on a fresh connection: the session reaches the main state. */
async function handshake(c: Ctl): Promise<void> {
  c.hello();
  await c.next('OFPHello');
  c.send({ type: 'OFPFeaturesRequest', xid: 2 });
  await c.next('OFPSwitchFeatures');
}

/** Sends a barrier and waits for its reply: everything the switch sent before it has arrived. */
async function barrier(c: Ctl, xid: number): Promise<void> {
  c.send({ type: 'OFPBarrierRequest', xid });
  await c.next('OFPBarrierReply', 5000, (m) => m.xid === xid);
}

function flowMod(o: { cookie: bigint; idle?: number; actions: MessageOf<'OFPFlowMod'>['instructions'] }): MessageOf<'OFPFlowMod'> {
  return {
    type: 'OFPFlowMod', xid: 10, cookie: o.cookie, cookie_mask: 0n, table_id: 0, command: OFPFC.ADD, idle_timeout: o.idle ?? 0, hard_timeout: 0,
    priority: 100, buffer_id: OFP_NO_BUFFER, out_port: OFPP.ANY, out_group: OFPG.ANY, flags: OFPFF.SEND_FLOW_REM,
    match: [{ field: 'in_port', value: 1 }, { field: 'eth_type', value: 0x0800 }], instructions: o.actions,
  };
}

/** A Datapath behind a Channel listening on an ephemeral loopback port, with in-memory ports 1 and 2. */
async function inProcessSwitch(): Promise<{ port: number; p1: MemoryPort }> {
  const dp = new Datapath({ name: 'ch-inproc', dpid: 0x77n, tables: 4, failMode: 'secure', log: QUIET });
  const channel = new Channel({ targets: [{ kind: 'ptcp', host: '127.0.0.1', port: 0 }], handler: dp, log: QUIET });
  dp.attach(channel);
  cleanups.push(async () => {
    await channel.stop();
    dp.stop();
  });
  await channel.start();
  const p1 = new MemoryPort({ name: 'p1' });
  dp.addPort(p1, 1);
  dp.addPort(new MemoryPort({ name: 'p2' }), 2);
  const [port] = channel.listeningPorts();
  if (port === undefined) throw new Error('the in-process switch is not listening');
  return { port, p1 };
}

/** A scripted controller listener on an ephemeral loopback port; `onConn` gets each accepted socket and its index. */
async function scriptedController(onConn: (sock: Socket, index: number) => void): Promise<{ port: number; connectTimes: number[] }> {
  const connectTimes: number[] = [];
  const socks: Socket[] = [];
  const server = createServer((sock) => {
    connectTimes.push(performance.now());
    socks.push(sock);
    sock.on('error', () => undefined);
    onConn(sock, connectTimes.length - 1);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of socks) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, connectTimes };
}

/** An active channel to `target` with short backoff bounds; its redial delays are collected from its debug log. */
async function dialingChannel(target: Target, o: { min: number; max: number; random?: () => number; tls?: { cert: string; key: string; ca: string } }): Promise<{ delays: number[] }> {
  const delays: number[] = [];
  const log: Logger = {
    ...QUIET,
    debug: (obj: object) => {
      if ('delayMs' in obj && typeof obj.delayMs === 'number') delays.push(obj.delayMs);
    },
  };
  const dp = new Datapath({ name: 'ch-dial', dpid: 0x78n, tables: 4, failMode: 'secure', log: QUIET });
  const channel = new Channel({
    targets: [target], handler: dp, log, minBackoff: o.min, maxBackoff: o.max, ...(o.random ? { random: o.random } : {}), ...(o.tls ? { tls: o.tls } : {}),
  });
  dp.attach(channel);
  cleanups.push(async () => {
    await channel.stop();
    dp.stop();
  });
  await channel.start();
  return { delays };
}

const OF10_HELLO = Buffer.from('0100000800000001', 'hex');

function passiveSwitch(extra: string[] = []): Lab {
  const lab = new Lab('ch');
  labs.push(lab);
  procs.push(startSwitch(lab, ['--name', lab.name('br'), '--listen', `ptcp:${PORT}:127.0.0.1`, '--log-level', 'warn', ...extra]));
  return lab;
}

describe('channel', () => {
  it('negotiates 1.3 and answers echo and barrier', async () => {
    passiveSwitch();
    await waitPort(PORT);
    const c = await connect(PORT);
    c.hello([1, 4]);
    await c.next('OFPHello');
    c.send({ type: 'OFPEchoRequest', xid: 7, data: Buffer.from('ping') });
    const echo = await c.next('OFPEchoReply');
    expect([echo.xid, echo.data.toString()]).toEqual([7, 'ping']);
    c.send({ type: 'OFPBarrierRequest', xid: 9 });
    expect((await c.next('OFPBarrierReply')).xid).toBe(9);
    c.close();
  });

  it('refuses a controller without OpenFlow 1.3: HELLO_FAILED, then closes', async () => {
    passiveSwitch();
    await waitPort(PORT);
    const c = await connect(PORT);
    c.sock.write(Buffer.from('0100000800000001', 'hex')); // an OpenFlow 1.0 hello
    const err = await c.next('OFPErrorMsg');
    expect(err.err_type).toBe(OFPET.HELLO_FAILED);
    await once(c.sock, 'close');
  });

  it('probes a silent controller with an echo request, then drops it', async () => {
    passiveSwitch(['--probe-interval', '1']);
    await waitPort(PORT);
    const c = await connect(PORT);
    c.hello();
    await c.next('OFPEchoRequest', 4000);
    await once(c.sock, 'close');
  }, 15_000);

  it('roles: a new master demotes the old one; slaves may not modify; stale generation ids fail', async () => {
    passiveSwitch();
    await waitPort(PORT);
    const a = await connect(PORT);
    const b = await connect(PORT);
    a.hello();
    b.hello();
    await a.next('OFPHello');
    await b.next('OFPHello');
    a.send({ type: 'OFPRoleRequest', xid: 1, role: OFPCR_ROLE.MASTER, generation_id: 10n });
    expect((await a.next('OFPRoleReply')).role).toBe(OFPCR_ROLE.MASTER);
    b.send({ type: 'OFPRoleRequest', xid: 2, role: OFPCR_ROLE.MASTER, generation_id: 11n });
    expect((await b.next('OFPRoleReply')).role).toBe(OFPCR_ROLE.MASTER);
    a.send({ type: 'OFPRoleRequest', xid: 3, role: OFPCR_ROLE.NOCHANGE, generation_id: 0n });
    expect((await a.next('OFPRoleReply')).role).toBe(OFPCR_ROLE.SLAVE);
    a.send({
      type: 'OFPFlowMod', xid: 4, cookie: 0n, cookie_mask: 0n, table_id: 0, command: 0, idle_timeout: 0, hard_timeout: 0, priority: 1,
      buffer_id: 0xffffffff, out_port: 0, out_group: 0, flags: 0, match: [], instructions: [],
    });
    const e = await a.next('OFPErrorMsg');
    expect([e.err_type, e.code]).toEqual([OFPET.BAD_REQUEST, 10 /* IS_SLAVE */]);
    a.send({ type: 'OFPRoleRequest', xid: 5, role: OFPCR_ROLE.MASTER, generation_id: 5n });
    const stale = await a.next('OFPErrorMsg');
    expect([stale.err_type, stale.code]).toEqual([OFPET.ROLE_REQUEST_FAILED, OFPRRFC.STALE]);
    a.close();
    b.close();
  });

  it('async config: get returns the defaults, set changes what is sent', async () => {
    passiveSwitch();
    await waitPort(PORT);
    const c = await connect(PORT);
    c.hello();
    await c.next('OFPHello');
    c.send({ type: 'OFPGetAsyncRequest', xid: 1 });
    const r = await c.next('OFPGetAsyncReply');
    expect([r.packet_in_mask, r.port_status_mask, r.flow_removed_mask]).toEqual([[3, 0], [7, 7], [15, 0]]);
    c.send({ type: 'OFPSetAsync', xid: 2, packet_in_mask: [1, 0], port_status_mask: [0, 0], flow_removed_mask: [0, 0] });
    c.send({ type: 'OFPGetAsyncRequest', xid: 3 });
    const r2 = await c.next('OFPGetAsyncReply');
    expect(r2.packet_in_mask).toEqual([1, 0]);
    c.close();
  });

  it('dials an active controller again with backoff until it is there', async () => {
    const lab = new Lab('rd');
    labs.push(lab);
    procs.push(startSwitch(lab, ['--name', lab.name('br'), '--controller', `tcp:127.0.0.1:${PORT + 1}`, '--log-level', 'warn']));
    await new Promise((r) => setTimeout(r, 2500)); // a few refused attempts first
    const server: Server = createServer();
    const conn = once(server, 'connection');
    server.listen(PORT + 1, '127.0.0.1');
    const [sock] = (await Promise.race([conn, new Promise((_, rej) => setTimeout(() => rej(new Error('no redial within 10 s')), 10_000))])) as [Socket];
    const c = new Ctl(sock);
    c.hello();
    await c.next('OFPHello');
    c.send({ type: 'OFPFeaturesRequest', xid: 3 });
    expect((await c.next('OFPSwitchFeatures')).n_tables).toBe(64);
    c.close();
    server.close();
  }, 20_000);

  it('an idle_timeout=1 flow is removed about 1 s after install (flow-removed in < 1.5 s)', async () => {
    // Expiry used to run on a once-a-second sweep, so such a flow lived 1 to 2 s. The bound leaves 500 ms
    // for a late timer on a loaded machine; flow-expiry.test.ts checks the timing exactly.
    passiveSwitch();
    await waitPort(PORT);
    const c = await connect(PORT);
    await handshake(c);
    c.send(flowMod({ cookie: 0x1d1en, idle: 1, actions: [] }));
    await barrier(c, 40);
    const installed = performance.now();
    const rem = await c.next('OFPFlowRemoved', 5000);
    const took = performance.now() - installed;
    expect([rem.reason, rem.cookie, rem.idle_timeout]).toEqual([OFPRR.IDLE_TIMEOUT, 0x1d1en, 1]);
    expect(rem.duration_sec * 1000 + rem.duration_nsec / 1e6).toBeGreaterThanOrEqual(1000);
    expect(took, `flow-removed after ${Math.round(took)} ms`).toBeLessThan(1500);
    c.close();
  }, 15_000);

  it('TLS: pssl with client certificates both ways', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinflow-tls-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const sh = (...a: string[]) => execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
    sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=tinflow-test-ca');
    for (const who of ['switch', 'ctl']) {
      sh('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
      sh('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '1');
    }
    passiveSwitch(['--listen', `pssl:${PORT + 2}:127.0.0.1`, '--cert', join(dir, 'switch.pem'), '--key', join(dir, 'switch.key'), '--ca', join(dir, 'ca.pem')]);
    await waitPort(PORT + 2);
    const { readFileSync } = await import('node:fs');
    const s = tls.connect({
      host: '127.0.0.1', port: PORT + 2, cert: readFileSync(join(dir, 'ctl.pem')), key: readFileSync(join(dir, 'ctl.key')), ca: readFileSync(join(dir, 'ca.pem')),
      checkServerIdentity: () => undefined,
    });
    await once(s, 'secureConnect');
    const c = new Ctl(s);
    c.hello();
    await c.next('OFPHello');
    c.send({ type: 'OFPFeaturesRequest', xid: 4 });
    expect((await c.next('OFPSwitchFeatures')).xid).toBe(4);
    c.close();
    // without a client certificate the switch refuses the handshake
    const bad = tls.connect({ host: '127.0.0.1', port: PORT + 2, ca: readFileSync(join(dir, 'ca.pem')), checkServerIdentity: () => undefined });
    const res = await Promise.race([once(bad, 'error').then(() => 'refused'), once(bad, 'close').then(() => 'refused'), new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
    expect(res).toBe('refused');
  }, 30_000);
});

describe('invalid-TTL packet-ins follow the async config (OF1.3), not the OF1.2 set-config flag', () => {
  const TTL1 = eth(0x0800, ipv4({ ttl: 1 }, udp(1000, 2000)));
  const decTtlThenOut = flowMod({
    cookie: 0xc0ffeen,
    actions: [{ kind: 'OFPInstructionActions', type: OFPIT.APPLY_ACTIONS, actions: [{ kind: 'OFPActionDecNwTtl' }, { kind: 'OFPActionOutput', port: 2, max_len: 0 }] }],
  });
  const setAsync = (packetInMaster: number): OFPMessage => ({
    type: 'OFPSetAsync', xid: 5, packet_in_mask: [packetInMaster, 0], port_status_mask: [7, 7], flow_removed_mask: [15, 0],
  });
  const pins = (c: Ctl) => c.got.filter((m): m is MessageOf<'OFPPacketIn'> => m.type === 'OFPPacketIn');

  it('a controller that set the INVALID_TTL bit gets the packet-in (reason 2, the flow cookie); one with the default mask does not', async () => {
    const sw = await inProcessSwitch();
    const a = await connect(sw.port);
    const b = await connect(sw.port);
    await handshake(a);
    await handshake(b);
    a.send(setAsync((1 << OFPR.NO_MATCH) | (1 << OFPR.ACTION) | (1 << OFPR.INVALID_TTL)));
    a.send(decTtlThenOut);
    await barrier(a, 20);
    await barrier(b, 21);

    sw.p1.inject([TTL1]);
    await barrier(a, 22);
    await barrier(b, 23);
    expect(pins(a).map((p) => [p.reason, p.cookie, p.table_id, p.total_len, p.buffer_id === OFP_NO_BUFFER, p.data.equals(TTL1)])).toEqual([
      [OFPR.INVALID_TTL, 0xc0ffeen, 0, TTL1.length, true, true],
    ]);
    expect(pins(b)).toEqual([]);
    a.close();
    b.close();
  });

  it('the default async config sends none (set-config flag 4 or not), and clearing the bit again stops them', async () => {
    const sw = await inProcessSwitch();
    const a = await connect(sw.port);
    await handshake(a);
    a.send({ type: 'OFPGetAsyncRequest', xid: 3 });
    expect((await a.next('OFPGetAsyncReply')).packet_in_mask).toEqual([(1 << OFPR.NO_MATCH) | (1 << OFPR.ACTION), 0]);
    a.send({ type: 'OFPSetConfig', xid: 6, flags: 4, miss_send_len: 128 }); // OF1.2's OFPC_INVALID_TTL_TO_CONTROLLER: gone in 1.3
    // the ports are in this process: a barrier reply says the switch has handled what was sent before
    // it, so each frame is injected only after the flow-mod or set-async ahead of it took effect
    a.send(decTtlThenOut);
    await barrier(a, 30);
    sw.p1.inject([TTL1]);
    await barrier(a, 31);
    expect(pins(a)).toEqual([]);

    a.send(setAsync(1 << OFPR.INVALID_TTL));
    await barrier(a, 32);
    sw.p1.inject([TTL1]);
    await barrier(a, 33);
    expect(pins(a).map((p) => p.reason)).toEqual([OFPR.INVALID_TTL]);
    a.got.length = 0;

    a.send(setAsync((1 << OFPR.NO_MATCH) | (1 << OFPR.ACTION)));
    await barrier(a, 34);
    sw.p1.inject([TTL1]);
    await barrier(a, 35);
    expect(pins(a)).toEqual([]);
    a.close();
  });
});

describe('redial backoff (in-process channel, scripted controllers)', () => {
  it('an OpenFlow 1.0-only controller: gaps between redials grow, up to the cap', async () => {
    // Each attempt connects, gets a 1.0 hello, and the switch gives up: before the fix the backoff was
    // reset on every TCP connect, so these gaps stayed at the first step.
    const ctl = await scriptedController((sock) => {
      sock.on('data', () => undefined);
      sock.write(OF10_HELLO);
    });
    await dialingChannel({ kind: 'tcp', host: '127.0.0.1', port: ctl.port }, { min: 0.2, max: 1.6 });
    await waitFor('six connection attempts', () => ctl.connectTimes.length >= 6, 15_000);
    const t = ctl.connectTimes;
    const gaps = t.slice(1, 6).map((x, i) => x - (t[i] as number));
    // steps 200, 400, 800, 1600, 1600 ms, each shortened by up to a quarter (jitter): while the step
    // doubles, the next gap is at least 1.5 times the step before it, so order holds with room for latency
    for (let i = 0; i < 3; i++) expect(gaps[i + 1], `gaps ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(gaps[i] as number);
    expect(gaps[3], `gaps ${gaps.map(Math.round).join(', ')} ms`).toBeGreaterThanOrEqual(4 * (gaps[0] as number));
    expect(gaps[4], 'the cap holds: no further doubling').toBeLessThan(2 * 1600);
  }, 30_000);

  it('every failure kind backs off; only a session that reaches the main state resets it', async () => {
    const ctl = await scriptedController((sock, i) => {
      const c = new Ctl(sock);
      switch (i) {
        case 0: // closed before any hello
          sock.destroy();
          break;
        case 1: // closed after hello, before features: not a session yet
          c.hello();
          void c.next('OFPHello').then(() => sock.end(), () => undefined);
          break;
        case 3: // a full session (hello, features), then the controller goes away
          void handshake(c).then(() => sock.end(), () => undefined);
          break;
        default: // 2 and 4: a controller without OpenFlow 1.3
          sock.write(OF10_HELLO);
      }
    });
    const ch = await dialingChannel({ kind: 'tcp', host: '127.0.0.1', port: ctl.port }, { min: 0.1, max: 3.2, random: () => 0 });
    await waitFor('five redial delays', () => ch.delays.length >= 5, 15_000);
    expect(ch.delays.slice(0, 5)).toEqual([100, 200, 400, 100, 200]);
  }, 30_000);

  it('refused connections and failed TLS handshakes back off too, capped, with jitter that only shortens', async () => {
    // a port nothing listens on
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const refused = await dialingChannel({ kind: 'tcp', host: '127.0.0.1', port: closedPort }, { min: 0.05, max: 0.2, random: () => 0 });

    // a "controller" that answers the TLS client hello with plain text
    const dir = mkdtempSync(join(tmpdir(), 'tinflow-backoff-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=t'], { cwd: dir, stdio: 'ignore' });
    const garbage = await scriptedController((sock) => sock.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const files = { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem'), ca: join(dir, 'c.pem') };
    const badTls = await dialingChannel({ kind: 'ssl', host: '127.0.0.1', port: garbage.port }, { min: 0.05, max: 0.2, random: () => 0, tls: files });
    const jittered = await dialingChannel({ kind: 'tcp', host: '127.0.0.1', port: closedPort }, { min: 0.05, max: 0.2, random: () => 0.999 });

    try {
      await waitFor('four redial delays each', () => refused.delays.length >= 4 && badTls.delays.length >= 4 && jittered.delays.length >= 4, 15_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(refused.delays.slice(0, 4)).toEqual([50, 100, 200, 200]);
    expect(badTls.delays.slice(0, 4)).toEqual([50, 100, 200, 200]);
    expect(jittered.delays.slice(0, 4)).toEqual([38, 75, 150, 150]); // each step less a quarter at most
  }, 30_000);
});

describe('fail modes with a controller that dies', () => {
  let hosts: Hosts | undefined;
  afterAll(() => hosts?.lab.cleanup());

  it.each([['secure'], ['standalone']] as const)('%s', async (mode) => {
    hosts = makeHosts(mode === 'secure' ? 'fs' : 'fa', 3);
    const ctlPort = mode === 'secure' ? 6801 : 6802;
    const osken = startOsken(hosts.lab, 'test/switch/osken/learning_switch.py', ctlPort);
    await waitPort(ctlPort);
    const sw = startSwitch(hosts.lab, [
      '--name', hosts.lab.name('br'), '--controller', `tcp:127.0.0.1:${ctlPort}`, '--fail-mode', mode, '--no-local', '--log-level', 'warn',
      ...hosts.ports.flatMap((p, i) => ['--port', `${i + 1}=${p}`]),
    ]);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(await ping(hosts, 0, 1)).toBeGreaterThanOrEqual(2); // h1 ↔ h2 learned, flows installed
      await stop(osken);
      await new Promise((r) => setTimeout(r, 500));
      // flows that exist keep forwarding in both modes
      expect(await ping(hosts, 0, 1)).toBeGreaterThanOrEqual(2);
      // a pair the controller never saw: only standalone learns it without a controller
      const fresh = await ping(hosts, 0, 2, 2);
      if (mode === 'standalone') expect(fresh).toBeGreaterThanOrEqual(1);
      else expect(fresh).toBe(0);
      // the controller comes back and the switch reconnects
      const again = startOsken(hosts.lab, 'test/switch/osken/learning_switch.py', ctlPort);
      await waitPort(ctlPort);
      await new Promise((r) => setTimeout(r, 9000)); // backoff is at most 8 s
      expect(await ping(hosts, 0, 2)).toBeGreaterThanOrEqual(2);
      await stop(again);
    } finally {
      await stop(sw);
      hosts.lab.cleanup();
      hosts = undefined;
    }
  }, 60_000);
});
