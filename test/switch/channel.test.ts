/**
 * The OpenFlow channel of a running `tinflow switch`, seen from controllers written here with the codec:
 * version negotiation, echo, the inactivity probe, barrier, roles and generation ids, async filtering,
 * redialling with backoff, and TLS both ways. Fail modes are tested with real hosts and os-ken.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { Framer, type OFPMessage, OFPCR_ROLE, OFPET, OFPRRFC, decode, encode } from '../../openflow/index.js';
import { Lab } from '../../scripts/netlab.js';
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

afterEach(async () => {
  for (const p of procs.splice(0)) await stop(p);
  for (const l of labs.splice(0)) l.cleanup();
});

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

  it('TLS: pssl with client certificates both ways', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinflow-tls-'));
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
