/**
 * The controller framework against a real tinflow switch (handshake, multipart reassembly, barrier after
 * a mod, refusals, port and flow-removed events, TLS, isolation of failing apps), and against scripted
 * switches for what a real switch will not do on demand (stay silent, offer OpenFlow 1.0, reuse a
 * datapath id, hang up mid-request).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatapathHandle, EventMap } from '../../controller/api.js';
import type { App } from '../../controller/app.js';
import { learning } from '../../controller/apps/learning.js';
import { Controller } from '../../controller/controller.js';
import { ControllerError } from '../../controller/errors.js';
import { OFPFF, OFPP, type OFPMessage } from '../../openflow/index.js';
import { type FakeSwitchOptions, FakeSwitch } from '../tools/fake-switch.js';
import { Lab, ip } from '../../scripts/netlab.js';
import { waitFor } from '../helpers/wait.js';
import { type Hosts, makeHosts, ping, startSwitch } from '../switch/switch-lab.js';

const PORT = 6814;

function flowMod(fields: Partial<Extract<OFPMessage, { type: 'OFPFlowMod' }>>): OFPMessage {
  return {
    type: 'OFPFlowMod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0, command: 0, idle_timeout: 0, hard_timeout: 0,
    priority: 10, buffer_id: 0xffffffff, out_port: OFPP.ANY, out_group: 0xffffffff, flags: 0, match: [], instructions: [],
    ...fields,
  };
}

const flowStatsAll: OFPMessage = {
  type: 'OFPFlowStatsRequest', xid: 0, flags: 0, table_id: 0xff, out_port: OFPP.ANY, out_group: 0xffffffff, cookie: 0n, cookie_mask: 0n, match: [],
};

describe('the controller with a real tinflow switch', () => {
  let hosts: Hosts;
  let ctl: Controller;
  let dp: DatapathHandle;
  const lab = new Lab('cf');
  const seen: { removed: EventMap['flowRemoved'][]; errors: EventMap['error'][]; modified: EventMap['portModify'][]; deleted: EventMap['portDelete'][]; thrower: number; counted: number } = {
    removed: [], errors: [], modified: [], deleted: [], thrower: 0, counted: 0,
  };
  const thrower: App = {
    name: 'thrower',
    on: {
      packetIn: () => {
        seen.thrower++;
        throw new Error('this app fails on purpose');
      },
    },
  };
  const counter: App = { name: 'counter', on: { packetIn: () => void seen.counted++ } };
  let extra: string;

  beforeAll(async () => {
    hosts = makeHosts('cr', 2);
    extra = lab.name('x1');
    lab.veth(extra, lab.name('x2'));
    ctl = new Controller({ listen: [`tcp:127.0.0.1:${PORT}`], apps: [thrower, learning(), counter] });
    ctl.on('flowRemoved', (e) => seen.removed.push(e));
    ctl.on('error', (e) => seen.errors.push(e));
    ctl.on('portModify', (e) => seen.modified.push(e));
    ctl.on('portDelete', (e) => seen.deleted.push(e));
    await ctl.start();
    startSwitch(hosts.lab, [
      '--name', hosts.lab.name('br'), '--dpid', '00000000000000c1', '--controller', `tcp:127.0.0.1:${PORT}`, '--offload', '--no-local', '--log-level', 'warn',
      '--port', `1=${hosts.ports[0] ?? ''}`, '--port', `2=${hosts.ports[1] ?? ''}`, '--port', `3=${extra}`,
    ]);
    dp = await waitFor('the switch', () => ctl.datapath(0xc1n), 15_000);
  }, 30_000);

  afterAll(async () => {
    await ctl?.stop();
    hosts?.lab.cleanup();
    lab.cleanup();
  });

  it('completes the handshake: features, ports, state main', () => {
    expect(dp.state).toBe('main');
    expect(dp.features?.datapath_id).toBe(0xc1n);
    expect([...dp.ports.keys()].sort()).toEqual([1, 2, 3]);
    expect(ctl.datapaths()).toEqual([dp]);
  });

  it('a failing app is logged and counted; the apps after it still run and traffic flows', async () => {
    expect(await ping(hosts, 0, 1, 3)).toBe(3);
    expect(seen.thrower).toBeGreaterThan(0);
    expect(seen.counted).toBe(seen.thrower);
    expect(ctl.counters.appErrors).toBe(seen.thrower);
  }, 30_000);

  it('a flow-mod request resolves once its barrier is answered; stats see the flow', async () => {
    expect(await dp.request(flowMod({ priority: 77, cookie: 0x77n, match: [{ field: 'in_port', value: 3 }] }))).toEqual([]);
    const parts = await dp.request({ ...flowStatsAll, cookie: 0x77n, cookie_mask: 0xffffffffffffffffn } as OFPMessage);
    expect(parts).toHaveLength(1);
    const body = parts[0]?.type === 'OFPFlowStatsReply' ? parts[0].body : [];
    expect(body.map((f) => f.priority)).toEqual([77]);
  });

  it('collects every part of a multipart reply', async () => {
    const N = 3000;
    for (let i = 0; i < N; i++) {
      dp.send(flowMod({ priority: 5, cookie: 0x5n, match: [{ field: 'eth_type', value: 0x800 }, { field: 'ipv4_dst', value: `10.9.${i >> 8}.${i & 255}` }] }));
    }
    await dp.request({ type: 'OFPBarrierRequest', xid: 0 });
    const parts = await dp.request({ ...flowStatsAll, cookie: 0x5n, cookie_mask: 0xffffffffffffffffn } as OFPMessage);
    expect(parts.length).toBeGreaterThan(1);
    const total = parts.reduce((n, p) => n + (p.type === 'OFPFlowStatsReply' ? p.body.length : 0), 0);
    expect(total).toBe(N);
    await dp.request(flowMod({ command: 3, table_id: 0xff, cookie: 0x5n, cookie_mask: 0xffffffffffffffffn }));
  }, 30_000);

  it('a refused request rejects with the switch error, which is also an event', async () => {
    const bad = flowMod({ instructions: [{ kind: 'OFPInstructionGotoTable', table_id: 0 }] });
    const err = await dp.request(bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ControllerError);
    expect((err as ControllerError).code).toBe('switch-error');
    expect((err as ControllerError).message).toMatch(/BAD_INSTRUCTION|BAD_TABLE_ID/);
    expect(seen.errors.length).toBeGreaterThan(0);
    // and the datapath carries on
    expect(await dp.request({ type: 'OFPBarrierRequest', xid: 0 })).toHaveLength(1);
  });

  it('flow-removed arrives as an event', async () => {
    await dp.request(flowMod({ priority: 9, cookie: 0x99n, hard_timeout: 1, flags: OFPFF.SEND_FLOW_REM, match: [{ field: 'in_port', value: 2 }] }));
    const ev = await waitFor('flow removed', () => seen.removed.find((e) => e.msg.cookie === 0x99n), 5000);
    expect(ev.msg.reason).toBe(1); // OFPRR_HARD_TIMEOUT
    expect(ev.dp).toBe(dp);
  }, 10_000);

  it('port-status becomes portModify (link down, with the port as it was) and portDelete', async () => {
    ip('link', 'set', extra, 'down');
    const mod = await waitFor('port 3 down', () => seen.modified.find((e) => e.port.port_no === 3 && (e.port.state & 1) === 1), 5000);
    expect(mod.before?.port_no).toBe(3);
    expect((mod.before?.state ?? 1) & 1).toBe(0);
    expect((dp.ports.get(3)?.state ?? 0) & 1).toBe(1);
    ip('link', 'del', extra);
    await waitFor('port 3 deleted', () => seen.deleted.find((e) => e.port.port_no === 3), 5000);
    expect(dp.ports.has(3)).toBe(false);
  }, 15_000);
});

describe('the controller over TLS', () => {
  it('accepts a tinflow switch on ssl: with certificates checked both ways', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinflow-ctl-tls-'));
    const sh = (...a: string[]): void => void execFileSync('openssl', a, { cwd: dir, stdio: 'ignore' });
    sh('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=tinflow-test-ca');
    for (const who of ['switch', 'ctl']) {
      sh('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who}`);
      sh('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-days', '1');
    }
    const lab = new Lab('ct');
    const ctl = new Controller({
      listen: [`ssl:127.0.0.1:${PORT + 1}`],
      tls: { cert: join(dir, 'ctl.pem'), key: join(dir, 'ctl.key'), ca: join(dir, 'ca.pem') },
    });
    await ctl.start();
    try {
      startSwitch(lab, [
        '--name', lab.name('br'), '--dpid', '00000000000000c2', '--controller', `ssl:127.0.0.1:${PORT + 1}`, '--no-local', '--log-level', 'warn',
        '--cert', join(dir, 'switch.pem'), '--key', join(dir, 'switch.key'), '--ca', join(dir, 'ca.pem'),
      ]);
      const dp = await waitFor('the TLS switch', () => ctl.datapath(0xc2n), 15_000);
      expect((await dp.request({ type: 'OFPDescStatsRequest', xid: 0, flags: 0 }))[0]?.type).toBe('OFPDescStatsReply');
    } finally {
      await ctl.stop();
      lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('the controller with scripted switches', () => {
  let ctl: Controller;
  const left: EventMap['switchLeave'][] = [];
  const sws: FakeSwitch[] = [];
  const port = PORT + 2;

  beforeAll(async () => {
    ctl = new Controller({ listen: [`tcp:127.0.0.1:${port}`], requestTimeoutMs: 400, echoIntervalMs: 300 });
    ctl.on('switchLeave', (e) => left.push(e));
    await ctl.start();
  });
  afterEach(() => {
    for (const s of sws.splice(0)) s.end();
  });
  afterAll(async () => {
    await ctl.stop();
  });
  const scripted = (opts: Omit<FakeSwitchOptions, 'port' | 'record'>): FakeSwitch => {
    const s = new FakeSwitch({ ...opts, port, record: true });
    sws.push(s);
    return s;
  };

  it('refuses a switch that speaks only OpenFlow 1.0: HELLO_FAILED, then closes', async () => {
    const s = scripted({ dpid: 0xd0n, helloVersion: 1 });
    await s.closed();
    const err = s.got.find((m) => m.type === 'OFPErrorMsg');
    expect(err?.type === 'OFPErrorMsg' && err.err_type).toBe(0); // OFPET_HELLO_FAILED
    expect(ctl.datapath(0xd0n)).toBeUndefined();
  });

  it('sends hello, features request, set-config and port-desc, in that order', async () => {
    const s = scripted({ dpid: 0xd1n });
    await waitFor('scripted switch', () => ctl.datapath(0xd1n), 3000);
    expect(s.got.slice(0, 4).map((m) => m.type)).toEqual(['OFPHello', 'OFPFeaturesRequest', 'OFPSetConfig', 'OFPPortDescStatsRequest']);
  });

  it('a request the switch ignores times out; one cut short by a disconnect rejects', async () => {
    const s = scripted({ dpid: 0xd2n, answer: (m) => (m.type === 'OFPDescStatsRequest' ? [] : undefined) });
    const dp = await waitFor('scripted switch', () => ctl.datapath(0xd2n), 3000);
    const t0 = Date.now();
    const e1 = await dp.request({ type: 'OFPDescStatsRequest', xid: 0, flags: 0 }).catch((e: unknown) => e);
    expect((e1 as ControllerError).code).toBe('timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    const p = dp.request({ type: 'OFPDescStatsRequest', xid: 0, flags: 0 }, { timeoutMs: 5000 });
    s.end();
    const e2 = await p.catch((e: unknown) => e);
    expect((e2 as ControllerError).code).toBe('disconnected');
    await waitFor('switchLeave', () => left.find((l) => l.dp === dp), 2000);
    await expect(dp.request({ type: 'OFPBarrierRequest', xid: 0 })).rejects.toThrow(/disconnected/);
  });

  it('a second connection with the same datapath id replaces the first', async () => {
    const a = scripted({ dpid: 0xd3n });
    const first = await waitFor('first', () => ctl.datapath(0xd3n), 3000);
    scripted({ dpid: 0xd3n });
    const second = await waitFor('second', () => (ctl.datapath(0xd3n) !== first ? ctl.datapath(0xd3n) : undefined), 3000);
    await a.closed();
    expect(first.state).toBe('dead');
    expect(second.state).toBe('main');
    expect(ctl.datapaths().filter((d) => d.id === 0xd3n)).toHaveLength(1);
  });

  it('drops a switch that stops answering echo requests', async () => {
    const s = scripted({ dpid: 0xd4n, answer: (m) => (m.type === 'OFPEchoRequest' ? [] : undefined) });
    const dp = await waitFor('scripted switch', () => ctl.datapath(0xd4n), 3000);
    await s.closed();
    const ev = await waitFor('switchLeave', () => left.find((l) => l.dp === dp), 3000);
    expect(ev.reason).toMatch(/echo/);
    expect(s.got.some((m) => m.type === 'OFPEchoRequest')).toBe(true);
  });

  it('a switch that sends garbage is dropped; the others carry on', async () => {
    const good = scripted({ dpid: 0xd5n });
    const gdp = await waitFor('good switch', () => ctl.datapath(0xd5n), 3000);
    const bad = scripted({ dpid: 0xd6n });
    await waitFor('bad switch', () => ctl.datapath(0xd6n), 3000);
    bad.sock.write(Buffer.from([4, 10, 0, 4, 0, 0, 0, 0])); // length 4 < 8: the stream cannot be framed
    await bad.closed();
    expect(ctl.datapath(0xd6n)).toBeUndefined();
    expect(await gdp.request({ type: 'OFPBarrierRequest', xid: 0 })).toHaveLength(1);
    good.end();
  });
});
