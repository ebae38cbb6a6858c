/**
 * scripts/natlab.ts, the NAT lab the overlay tests stand on, checked against the real peers: a public
 * namespace running prosody and coturn, one default (endpoint-independent mapping) router and one
 * symmetric (`masquerade fully-random`) router, a node behind each and a node on the public bridge.
 *
 * - prosody answers the stream header with PLAIN and no STARTTLS, accepts a PLAIN login over a raw TCP
 *   exchange (no XMPP library is installed), refuses a wrong password, carries a message between two
 *   resources behind different NATs, and comes back after restart(); with `tls: true` it requires
 *   STARTTLS and its certificate verifies against the CA file it returns;
 * - a prosody that cannot open its port fails at once, naming why, and leaves no process;
 * - coturn answers a STUN binding request from behind each router with the router's public address;
 * - the default router keeps one public port for every destination, the symmetric one does not;
 * - both routers drop unsolicited inbound (a public host the node never talked to, or one that routes
 *   straight at the private address), proven by the routers' drop counters and the node hearing nothing;
 * - close() leaves no namespace, link, process or temp folder with the lab's prefix.
 * Needs root and the apt packages prosody, coturn, nftables (scripts/test.sh installs them).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Coturn,
  type LabNode,
  type NatRouter,
  type Prosody,
  type UdpAgent,
  NatLab,
  natLabMissing,
  natRouter,
  nodeBehind,
  publicNode,
  startCoturn,
  startProsody,
  stunMappedAddress,
  udpAgent,
} from '../scripts/natlab.js';
import { inNs, ip } from '../scripts/netlab.js';
import { waitFor } from './helpers/wait.js';

/**
 * A raw XMPP client (`node -e` in a namespace; JSON options in argv[2]): stream header, features,
 * optional STARTTLS verified against caFile, SASL PLAIN, resource bind, initial presence, then an
 * optional message out and an optional wait for one in. Prints one JSON line per step.
 * String.raw keeps the regex backslashes as they are; the code uses no template substitutions.
 */
const XMPP_JS = String.raw`
'use strict';
const net = require('node:net');
const tls = require('node:tls');
const fs = require('node:fs');
const c = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let sock;
let buf = '';
let closing = false;
const waits = [];
function feed(d) {
  buf += d;
  for (const w of [...waits]) {
    const m = w.re.exec(buf);
    if (m) { buf = buf.slice(m.index + m[0].length); waits.splice(waits.indexOf(w), 1); w.res(m); }
  }
}
const expectXml = (re) => new Promise((res) => { waits.push({ re, res }); feed(''); });
function attach(s) {
  sock = s;
  s.setEncoding('utf8');
  s.on('data', feed);
  // once this side has ended the stream, a reset from the server closing too is no failure
  s.on('error', (e) => { out({ step: closing ? 'close-error' : 'error', message: e.message }); process.exit(closing ? 0 : 1); });
}
function open() {
  sock.write("<?xml version='1.0'?><stream:stream to='" + c.domain + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
  return expectXml(/<stream:features[^>]*>([\s\S]*?)<\/stream:features>/).then((m) => m[1]);
}
const mechanisms = (f) => [...f.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
(async () => {
  attach(net.connect(c.port, c.host));
  let f = await open();
  out({ step: 'features', starttls: /<starttls/.test(f), required: /<required/.test(f), mechanisms: mechanisms(f) });
  if (c.starttls) {
    sock.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    await expectXml(/<proceed[^>]*\/>/);
    const raw = sock;
    raw.removeAllListeners('data');
    buf = '';
    const t = tls.connect({ socket: raw, servername: c.domain, ca: fs.readFileSync(c.caFile) });
    await new Promise((res, rej) => { t.once('secureConnect', res); t.once('error', rej); });
    attach(t);
    out({ step: 'tls', authorized: t.authorized, cn: t.getPeerCertificate().subject.CN });
    f = await open();
    out({ step: 'features', starttls: /<starttls/.test(f), required: false, mechanisms: mechanisms(f) });
  }
  sock.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + Buffer.from('\0' + c.user + '\0' + c.password).toString('base64') + '</auth>');
  const a = await expectXml(/<success[^>]*\/>|<success[^>]*>[\s\S]*?<\/success>|<failure[\s\S]*?<\/failure>/);
  const ok = a[0].startsWith('<success');
  out({ step: 'auth', ok });
  if (ok) {
    await open();
    sock.write("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + c.resource + '</resource></bind></iq>');
    const jid = (await expectXml(/<jid>([^<]+)<\/jid>/))[1];
    sock.write('<presence/>');
    out({ step: 'bound', jid });
    if (c.to) sock.write("<message to='" + c.to + "' type='chat' id='m1'><body>" + c.body + '</body></message>');
    if (c.receive) {
      const m = await expectXml(/<message[^>]*?from=['"]([^'"]+)['"][^>]*>[\s\S]*?<body>([^<]*)<\/body>[\s\S]*?<\/message>/);
      out({ step: 'message', from: m[1], body: m[2] });
    }
  }
  closing = true;
  sock.once('close', () => process.exit(0));
  sock.end('</stream:stream>');
  setTimeout(() => process.exit(0), 2000).unref();
})().catch((e) => { out({ step: 'error', message: String(e && e.message) }); process.exit(1); });
`;

interface XmppOptions {
  readonly host: string;
  readonly port: number;
  readonly domain: string;
  readonly user: string;
  readonly password: string;
  readonly resource?: string;
  readonly starttls?: boolean;
  readonly caFile?: string;
  readonly to?: string;
  readonly body?: string;
  readonly receive?: boolean;
}

type Step = { readonly step: string } & Readonly<Record<string, unknown>>;

/** Runs XMPP_JS in ns; `step(name)` waits for that step's line (failing at once on an error line or exit). */
function xmppClient(nat: NatLab, ns: string, opts: XmppOptions): { step: (name: string, ms?: number) => Promise<Step>; lines: Step[] } {
  const proc = nat.lab.spawnIn(ns, process.execPath, ['-e', XMPP_JS, `natlab:${nat.prefix}`, JSON.stringify({ resource: 'lab', ...opts })], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Step[] = [];
  // 'close', not 'exit': a child's exit can be seen before the last of its stdout is read, and a
  // client that printed its steps and quit at once would look as if it never got there.
  let closed = false;
  proc.once('close', () => (closed = true));
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (l) => lines.push(JSON.parse(l) as Step));
  // The step is looked up before any error: a client that got there and failed later still got there.
  const step = (name: string, ms = 8000): Promise<Step> =>
    waitFor(`XMPP step "${name}" of ${opts.user} in ${ns}`, () => {
      const found = lines.find((l) => l.step === name);
      if (found) return found;
      const err = lines.find((l) => l.step === 'error');
      if (err) throw new Error(`XMPP client ${opts.user} in ${ns} failed before "${name}": ${String(err.message)}`);
      if (closed) throw new Error(`XMPP client ${opts.user} in ${ns} exited without "${name}": ${JSON.stringify(lines)} ${stderr}`);
      return undefined;
    }, ms);
  return { step, lines };
}

/** pids of the processes running in ns. */
function pidsIn(ns: string): number[] {
  return ip('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number);
}

/** pids whose command line mentions text (the lab prefix is in every config path and probe argument). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text)) found.push(Number(e));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

describe('natlab: NAT routers, prosody and coturn in namespaces', () => {
  let nat: NatLab;
  let eim: NatRouter;
  let sym: NatRouter;
  let a: LabNode;
  let b: LabNode;
  let pub: LabNode;
  let prosody: Prosody;
  let coturn: Coturn;
  const accounts = [
    { user: 'alice', password: 'alice-pw' },
    { user: 'bob', password: 'bob-pw' },
  ];

  // A throwing beforeAll marks every test skipped, not failed, and scripts/test.sh counts skipped tests
  // as nothing: the error is kept instead and every test fails with it.
  let setupError: unknown;
  const ready = (): void => {
    if (setupError !== undefined) throw new Error(`NAT lab setup failed: ${setupError instanceof Error ? setupError.message : String(setupError)}`);
  };
  beforeAll(async () => {
    try {
      const missing = natLabMissing();
      if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables)`);
      nat = new NatLab('na');
      eim = natRouter(nat, { name: 'r1' });
      sym = natRouter(nat, { name: 'r2', symmetric: true });
      a = nodeBehind(eim, 'a');
      b = nodeBehind(sym, 'b');
      pub = publicNode(nat, 'p');
      [prosody, coturn] = await Promise.all([startProsody(nat, { accounts }), startCoturn(nat, { user: 'tf', password: 'tf-pass' })]);
    } catch (e) {
      setupError = e;
    }
  }, 30_000);
  afterAll(() => nat?.close());

  it('the topology is what the API says', () => {
    ready();
    expect([eim.publicAddr, sym.publicAddr, pub.addr]).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3']);
    expect([a.addr, a.publicAddr, b.addr, b.publicAddr]).toEqual(['192.168.10.2', '203.0.113.1', '192.168.20.2', '203.0.113.2']);
    expect(inNs(a.ns, 'ip', '-4', 'route', 'show', 'default')).toMatch(/via 192\.168\.10\.1/);
    expect(coturn.turnUrl).toBe('turn:tf:tf-pass@203.0.113.10:3478');
    expect(coturn.stunUrl).toBe('stun:203.0.113.10:3478');
    expect({ host: prosody.host, port: prosody.port, domain: prosody.domain, caFile: prosody.caFile }).toEqual({ host: '203.0.113.10', port: 5222, domain: 'natlab.test', caFile: undefined });
    expect(() => natRouter(nat, { name: 'r1' })).toThrow(/already used/);
    expect(() => natRouter(nat, { name: 'r9', publicAddr: '203.0.113.10' })).toThrow(/203\.0\.113\.10 is already used/);
  });

  it('prosody: features offer PLAIN without STARTTLS; PLAIN login works from behind a NAT; a wrong password fails', async () => {
    ready();
    const ok = xmppClient(nat, a.ns, { host: prosody.host, port: prosody.port, domain: prosody.domain, user: 'alice', password: 'alice-pw' });
    const features = await ok.step('features');
    expect(features.starttls).toBe(false);
    expect(features.mechanisms).toContain('PLAIN');
    expect((await ok.step('auth')).ok).toBe(true);
    expect((await ok.step('bound')).jid).toBe('alice@natlab.test/lab');
    const bad = xmppClient(nat, a.ns, { host: prosody.host, port: prosody.port, domain: prosody.domain, user: 'alice', password: 'wrong' });
    expect((await bad.step('auth')).ok).toBe(false);
  });

  it('prosody: a message goes between resources behind two different NATs', async () => {
    ready();
    const bob = xmppClient(nat, b.ns, { host: prosody.host, port: prosody.port, domain: prosody.domain, user: 'bob', password: 'bob-pw', resource: 'b1', receive: true });
    const bobJid = String((await bob.step('bound')).jid);
    xmppClient(nat, a.ns, { host: prosody.host, port: prosody.port, domain: prosody.domain, user: 'alice', password: 'alice-pw', resource: 'a1', to: bobJid, body: 'hello-bob' });
    const m = await bob.step('message');
    expect({ from: m.from, body: m.body }).toEqual({ from: 'alice@natlab.test/a1', body: 'hello-bob' });
  });

  it('prosody restart(): a new process on the same config, and the accounts still log in', async () => {
    ready();
    const before = prosody.pid;
    await prosody.restart();
    expect(prosody.pid).toBeDefined();
    expect(prosody.pid).not.toBe(before);
    const c = xmppClient(nat, b.ns, { host: prosody.host, port: prosody.port, domain: prosody.domain, user: 'bob', password: 'bob-pw' });
    expect((await c.step('auth')).ok).toBe(true);
  });

  it('prosody tls: STARTTLS required, the certificate verifies against caFile for the domain, PLAIN inside', async () => {
    ready();
    const secure = await startProsody(nat, { accounts: [{ user: 'carol', password: 'carol-pw' }], domain: 'secure.test', port: 5223, tls: true });
    try {
      expect(secure.caFile).toBeDefined();
      const c = xmppClient(nat, a.ns, { host: secure.host, port: secure.port, domain: 'secure.test', user: 'carol', password: 'carol-pw', starttls: true, caFile: secure.caFile as string });
      const plain = await c.step('features');
      expect({ starttls: plain.starttls, required: plain.required }).toEqual({ starttls: true, required: true });
      expect(await c.step('tls')).toMatchObject({ authorized: true, cn: 'secure.test' });
      expect((await c.step('auth')).ok).toBe(true);
      expect(c.lines.filter((l) => l.step === 'features')[1]?.mechanisms).toContain('PLAIN');
    } finally {
      await secure.stop();
    }
  });

  it('a prosody that cannot open its port fails at once, naming why, and leaves no process', async () => {
    ready();
    const before = pidsIn(nat.pub.ns).sort();
    // 5222 is held by the first server: prosody would log it and keep running without a listener
    await expect(startProsody(nat, { accounts: [], port: 5222, startTimeoutMs: 20_000 })).rejects.toThrow(/could not open 203\.0\.113\.10:5222/);
    expect(pidsIn(nat.pub.ns).sort()).toEqual(before);
  });

  it('coturn: a STUN binding request from behind each router reports the router public address', async () => {
    ready();
    const [fromA, fromB, fromPub] = await Promise.all([a, b, pub].map((n) => stunMappedAddress(nat, n.ns, coturn.host, coturn.port)));
    expect(fromA?.address).toBe(eim.publicAddr);
    expect(fromB?.address).toBe(sym.publicAddr);
    expect(fromPub?.address).toBe(pub.addr);
  });

  it('mapping: the default router keeps one public port for all destinations, the symmetric one does not', async () => {
    ready();
    const reflector = await udpAgent(nat, nat.pub.ns, { host: nat.pub.addr, ports: [7001, 7002, 7003], reflect: true });
    const agents: UdpAgent[] = [];
    try {
      const seen = async (node: LabNode): Promise<{ addrs: Set<string>; ports: Set<number>; local: number }> => {
        const ag = await udpAgent(nat, node.ns);
        agents.push(ag);
        for (const p of reflector.ports) ag.send(nat.pub.addr, p, `from ${node.name}`);
        const got = await Promise.all(reflector.ports.map((p) => reflector.next(`${node.name} on port ${p}`, (d) => d.port === p && d.data.toString() === `from ${node.name}`)));
        // the reflector's answers come back through the NAT: the mappings work both ways
        await Promise.all(reflector.ports.map((p) => ag.next(`${node.name}: answer from ${p}`, (d) => d.fromPort === p)));
        return { addrs: new Set(got.map((d) => d.from)), ports: new Set(got.map((d) => d.fromPort)), local: ag.ports[0] as number };
      };
      const viaEim = await seen(a);
      const viaSym = await seen(b);
      expect([...viaEim.addrs]).toEqual([eim.publicAddr]);
      expect([...viaEim.ports]).toEqual([viaEim.local]); // one mapping, and masquerade kept the port
      expect([...viaSym.addrs]).toEqual([sym.publicAddr]);
      // fully-random draws each port from ~64k: three equal ones have odds below 1 in 10^9
      expect(viaSym.ports.size).toBeGreaterThan(1);
    } finally {
      await Promise.all([reflector, ...agents].map((g) => g.stop()));
    }
  });

  it.each([
    ['default', () => [eim, a] as const],
    ['symmetric', () => [sym, b] as const],
  ])('the %s router drops unsolicited inbound from the public side', async (_kind, pick) => {
    ready();
    const [router, node] = pick();
    const outside = await udpAgent(nat, pub.ns, { ports: [7101, 7102] });
    const inside = await udpAgent(nat, node.ns);
    try {
      // Solicited: the node talks to outside:7101, and the answer comes in (the control)
      inside.send(pub.addr, 7101, 'hello');
      const hello = await outside.next('hello from the node', (d) => d.data.toString() === 'hello');
      expect(hello.from).toBe(router.publicAddr);
      outside.send(router.publicAddr, hello.fromPort, 'answer', 7101);
      await inside.next('the answer', (d) => d.data.toString() === 'answer');

      // Unsolicited 1: the same outside host, from a port the node never talked to, to the mapped port
      const before = router.dropped();
      outside.send(router.publicAddr, hello.fromPort, 'intruder-port', 7102);
      await waitFor(`${router.name} input drop counter`, () => router.dropped().input > before.input, 5000);

      // Unsolicited 2: a public host that routes straight at the node's private address
      inNs(pub.ns, 'ip', 'route', 'replace', router.privateNet, 'via', router.publicAddr);
      try {
        outside.send(node.addr, inside.ports[0] as number, 'intruder-direct', 7102);
        await waitFor(`${router.name} forward drop counter`, () => router.dropped().forward > before.forward, 5000);
      } finally {
        inNs(pub.ns, 'ip', 'route', 'del', router.privateNet);
      }
      // The counters prove both reached the router and were dropped; the node must not have heard them.
      // A short settle lets anything that slipped through arrive before the look.
      await new Promise((r) => setTimeout(r, 200));
      expect(inside.received.map((d) => d.data.toString())).toEqual(['answer']);
    } finally {
      await Promise.all([outside.stop(), inside.stop()]);
    }
  });

  it('close() leaves no namespace, link, process or temp folder with the prefix', async () => {
    ready();
    const prefix = nat.prefix;
    const pids = [prosody.pid, coturn.pid];
    expect(pids.every((p) => p !== undefined)).toBe(true);
    expect(processesMentioning(prefix).length).toBeGreaterThanOrEqual(2); // prosody and coturn, by config path
    await nat.close();
    expect(ip('netns', 'list').split('\n').filter((l) => l.startsWith(prefix))).toEqual([]);
    expect(ip('-o', 'link', 'show').split('\n').filter((l) => l.includes(prefix))).toEqual([]);
    expect(processesMentioning(prefix)).toEqual([]);
    for (const p of pids) expect(existsSync(`/proc/${p}`), `pid ${p}`).toBe(false);
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith(`tinflow-${prefix}-`))).toEqual([]);
    expect([prosody.pid, coturn.pid]).toEqual([undefined, undefined]);
  });
});
