/**
 * `tinflow node` end to end in the NAT lab (scripts/natlab.ts): prosody (with its MUC component) and
 * coturn in the public namespace, every node a real `scripts/tinflow node --config FILE` process in its
 * own namespace behind its own home router. Nothing but the configs tells the nodes about each other.
 *
 * - default NATs: two nodes link through signaling alone over a server-reflexive path (the selected
 *   pair's local candidate is srflx on both sides, the remote one the peer router's public address),
 *   ping and iperf3 TCP between the application TAP addresses, and "peer seen → port up" is measured;
 * - wrong XMPP credentials: the node exits 1 and its message names the account;
 * - a rogue node that announces one fingerprint and answers with an SDP carrying another (the node's
 *   TINFLOW_TEST_FAKE_FINGERPRINT hook) is refused: no link, the refusal names the fingerprint;
 * - prosody restarted mid-run: signaling reconnects (both nodes online again) and the old link stays
 *   up (the same link id) — links do not depend on XMPP once made; pings work after;
 * - a peer killed with SIGKILL: the survivor removes its port within the link timeout and keeps running;
 * - symmetric NATs on both sides: the link comes up through the TURN relay;
 * - SIGTERM: the node leaves (its peer sees the link end and the node leave the room), exits 0, and its
 *   TAP is gone.
 * Needs root and the apt packages prosody, coturn, nftables, iperf3, and a fresh dist/ (`npx tsc -p
 * tsconfig.build.json`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkStatus } from '../../overlay/node.js';
import {
  type Coturn,
  type LabNode,
  type NatRouter,
  type Prosody,
  NatLab,
  natLabMissing,
  natRouter,
  nodeBehind,
  startCoturn,
  startProsody,
} from '../../scripts/natlab.js';
import { inNs, ipv6Disabled } from '../../scripts/netlab.js';
import { type RunningNode, account, distStale, iperf as iperfIn, labNodeConfig, ping, startLabNode, statusOf, tapRxPackets, upLink } from '../../scripts/overlay-lab.js';
import { waitFor } from '../helpers/wait.js';

/** Node ids, easy to tell apart in logs. */
const ID = {
  a: 'a0000000000000000000000000000000',
  b: 'b0000000000000000000000000000000',
  c: 'c0000000000000000000000000000000',
  d: 'd0000000000000000000000000000000',
  e: 'e0000000000000000000000000000000',
  r: 'f0000000000000000000000000000000',
} as const;
type Name = keyof typeof ID;

const ECHO_MS = 500;
const TIMEOUT_MS = 3000;

describe('tinflow node in the NAT lab', () => {
  let nat: NatLab;
  let prosody: Prosody;
  let coturn: Coturn;
  const routers: Record<string, NatRouter> = {};
  const labs: Partial<Record<Name, LabNode>> = {};
  const nodes: Partial<Record<Name, RunningNode>> = {};
  const accounts = (Object.keys(ID) as Name[]).map((n) => account(n));
  const figures: Record<string, unknown> = {};

  let setupError: unknown;
  const ready = (): void => {
    if (setupError !== undefined) throw new Error(`NAT lab setup failed: ${setupError instanceof Error ? setupError.message : String(setupError)}`);
  };
  beforeAll(async () => {
    try {
      const missing = natLabMissing();
      if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} (root; apt: prosody coturn nftables)`);
      const stale = distStale();
      if (stale !== undefined) throw new Error(`dist/ is older than ${stale}: run "npx tsc -p tsconfig.build.json" first`);
      nat = new NatLab('ov');
      routers.ra = natRouter(nat, { name: 'ra' });
      routers.rb = natRouter(nat, { name: 'rb' });
      routers.rc = natRouter(nat, { name: 'rc', symmetric: true });
      routers.rd = natRouter(nat, { name: 'rd', symmetric: true });
      labs.a = nodeBehind(routers.ra, 'na');
      labs.b = nodeBehind(routers.rb, 'nb');
      labs.c = nodeBehind(routers.rc, 'nc');
      labs.d = nodeBehind(routers.rd, 'nd');
      labs.e = nodeBehind(routers.ra, 'ne');
      labs.r = nodeBehind(routers.rb, 'nr');
      [prosody, coturn] = await Promise.all([startProsody(nat, { accounts }), startCoturn(nat, { user: 'tf', password: 'tf-pass' })]);
    } catch (e) {
      setupError = e;
    }
  }, 60_000);

  afterAll(async () => {
    if (Object.keys(figures).length > 0) process.stdout.write(`node NAT lab figures: ${JSON.stringify(figures)}\n`);
    await nat?.close(); // every node process (tracked by the lab, stopped by pid), namespaces, temp folders
  }, 30_000);

  /** A node's config: its account, the lab's STUN and TURN, fast link liveness, its TAP address. */
  function config(name: Name, opts: { peers?: readonly Name[]; password?: string; ip?: number; turn?: boolean }): Record<string, unknown> {
    return labNodeConfig(prosody, coturn, name, {
      nodeId: ID[name], ip: opts.ip ?? 1, echoMs: ECHO_MS, timeoutMs: TIMEOUT_MS, staticEdges: (opts.peers ?? []).map((p) => ID[p]),
      ...(opts.password !== undefined && { password: opts.password }),
      ...(opts.turn !== undefined && { turn: opts.turn }),
    });
  }

  /** Starts `scripts/tinflow node` in the node's namespace (tracked by the lab). */
  function startNode(name: Name, cfg: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): RunningNode {
    const lab = labs[name];
    if (lab === undefined) throw new Error(`no namespace for node ${name}`);
    const node = startLabNode(nat, lab, name, cfg, { env });
    nodes[name] = node;
    return node;
  }

  const tail = (n: RunningNode): string => n.tail();
  const alive = (n: RunningNode) => (): void => n.alive();

  /** Waits until n has its link with peer up and its port in the datapath. */
  async function linkUp(n: RunningNode, peer: Name, ms = 30_000): Promise<LinkStatus> {
    return waitFor(`node ${n.name}'s link with ${peer} up`, async () => {
      const s = await statusOf(n);
      return s === undefined ? undefined : upLink(s, ID[peer]);
    }, ms, { intervalMs: 100, check: alive(n), detail: () => tail(n) });
  }

  const iperf = (from: RunningNode, to: RunningNode, addr: string): Promise<number> => iperfIn(nat, from, to, addr);

  it('two nodes behind default NATs link through signaling alone: srflx path, ping, iperf3, setup time', async () => {
    ready();
    // STUN only: with a TURN server configured too, ICE on a loaded machine sometimes nominated the relay
    // pair before the srflx checks finished (seen once in a CI run under two busy loops). Without it the
    // link can only come up through the NATs' mappings, which is what this test shows.
    const a = startNode('a', config('a', { peers: ['b', 'r'], ip: 1, turn: false }));
    const b = startNode('b', config('b', { peers: ['a'], ip: 2, turn: false }));
    const [la, lb] = await Promise.all([linkUp(a, 'b'), linkUp(b, 'a')]);
    expect(la.linkId).toBe(lb.linkId);
    // Server-reflexive: each side's own candidate is the one its NAT mapped (learned from coturn's STUN),
    // and it talks to the other router's public address. No relay, no private address on the path.
    const sa = await a.status();
    const sb = await b.status();
    const pa = upLink(sa, ID.b);
    const pb = upLink(sb, ID.a);
    figures.srflx = { a: { local: pa?.local, remote: pa?.remote }, b: { local: pb?.local, remote: pb?.remote } };
    expect(pa?.local?.type).toBe('srflx');
    expect(pb?.local?.type).toBe('srflx');
    expect(pa?.local?.address).toBe(routers.ra?.publicAddr);
    expect(pb?.local?.address).toBe(routers.rb?.publicAddr);
    expect(pa?.remote?.address).toBe(routers.rb?.publicAddr);
    expect(pb?.remote?.address).toBe(routers.ra?.publicAddr);
    expect(['srflx', 'prflx']).toContain(pa?.remote?.type);
    expect(['srflx', 'prflx']).toContain(pb?.remote?.type);
    // The application TAP: its address, prefix and MTU from the config, up, IPv6 off.
    const tapInfo = inNs(a.lab.ns, 'ip', '-o', 'addr', 'show', 'dev', 'tf-a');
    expect(tapInfo).toMatch(/inet 10\.10\.10\.1\/24 /);
    expect(tapInfo).not.toMatch(/inet6/);
    expect(inNs(a.lab.ns, 'ip', '-o', 'link', 'show', 'dev', 'tf-a')).toMatch(/<[^>]*\bUP\b[^>]*> mtu 1350 /);
    expect(ipv6Disabled('tf-a', a.lab.ns)).toBe(true);
    // The link's port joined the datapath, known as the peer's (the TAP's is the other one).
    expect(sa.ports.map((p) => [p.no, p.peer])).toEqual([[1, undefined], [pa?.port, ID.b]]);
    // Peer seen → port up, as each node measured it.
    const setup = [la.seenToUpMs, lb.seenToUpMs].filter((x): x is number => x !== undefined);
    figures.seenToUpMs = setup;
    figures.managerSetupMs = [la.setupMs, lb.setupMs];
    expect(setup.length).toBeGreaterThan(0);
    for (const ms of setup) expect(ms).toBeLessThan(10_000);
    // The log says it too, with the candidate types.
    const logged = await waitFor('node a\'s "link up: port added" log line', () => a.logs.find((l) => l.msg === 'link up: port added'), 5000);
    expect(logged).toMatchObject({ peer: ID.b, local: 'srflx', port: pa?.port });

    // The TAP's own address (10.10.10.1) is a host candidate: the guard kept it (and the peer's) out of
    // ICE, or the link would carry its own traffic (overlay/recursion.ts).
    expect(sa.recursionGuard?.candidatesDropped).toBeGreaterThan(0);
    const p = ping(a, '10.10.10.2', 10);
    figures.ping = p;
    expect(p.received).toBe(10);
    // And the TAP carried only what the host sent: the pings and an ARP exchange or two. Tunnelled ICE
    // traffic shows here as hundreds of frames in a few seconds.
    const tapRx = await tapRxPackets(a);
    figures.tapRxAfterPing = tapRx;
    expect(tapRx).toBeLessThanOrEqual(10 + 4);
    const mbps = await iperf(a, b, '10.10.10.2');
    figures.iperfMbps = Math.round(mbps);
    expect(mbps).toBeGreaterThan(1);
  }, 60_000);

  it('wrong XMPP credentials: the node exits 1 with a message naming the account', async () => {
    ready();
    const e = startNode('e', config('e', { password: 'not-the-password', ip: 5 }));
    const code = await Promise.race([e.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    expect(code, tail(e)).toBe(1);
    const said = e.stderr.filter((l) => l.startsWith('tinflow node:')).join('\n');
    figures.authFailure = said;
    expect(said).toContain(`node-e@${prosody.domain}`);
    expect(said).toMatch(/refused the login|not-authorized|wrong account or password/);
    // It removed its TAP on the way out.
    expect(() => inNs(e.lab.ns, 'ip', 'link', 'show', 'tf-e')).toThrow();
  }, 40_000);

  it('a rogue node whose answer carries another fingerprint than the one it announced is refused', async () => {
    ready();
    const a = nodes.a;
    if (a === undefined) throw new Error('node a is not running');
    const r = startNode('r', config('r', { ip: 9 }), { TINFLOW_TEST_FAKE_FINGERPRINT: '1' });
    // a lists r: it dials r as soon as r is in the room; r answers with its real certificate in the SDP
    // but the fake fingerprint in its node data.
    const refusal = await waitFor(
      'node a refusing the rogue\'s link',
      () => a.logs.find((l) => l.msg === 'link set-up failed' && l.peer === ID.r && /fingerprint/i.test(String(l.reason))),
      30_000,
      { check: alive(a), detail: () => `a:\n${tail(a)}\nr:\n${tail(r)}` },
    );
    figures.rogueRefusal = String(refusal.reason).slice(0, 160);
    expect(r.logs.some((l) => /TEST HOOK/.test(String(l.msg)))).toBe(true);
    const sa = await a.status();
    expect(sa.links.filter((l) => l.peerId === ID.r && l.state === 'up')).toEqual([]);
    expect(sa.ports.map((p) => p.name)).not.toContain(`tf${ID.r.slice(0, 10)}`);
    expect(upLink(sa, ID.b)).toBeDefined(); // the good link is untouched
    const rs = await r.status();
    expect(rs.links.filter((l) => l.state === 'up')).toEqual([]);
    r.proc.kill('SIGTERM');
    expect(await r.exited).toBe(0);
  }, 45_000);

  it('prosody restarted mid-run: signaling reconnects, the old link stays up, pings work', async () => {
    ready();
    const a = nodes.a;
    const b = nodes.b;
    if (a === undefined || b === undefined) throw new Error('nodes a and b are not running');
    const before = upLink(await a.status(), ID.b);
    const started = Date.now();
    await prosody.restart();
    // Seen offline, then online again.
    await waitFor('node a to see signaling go offline', () => a.logs.some((l) => /session lost|reconnecting/.test(String(l.msg))), 15_000, { check: alive(a) });
    for (const n of [a, b]) await waitFor(`node ${n.name} online again`, async () => (await n.status()).signalOnline, 30_000, { intervalMs: 200, check: alive(n), detail: () => tail(n) });
    figures.prosodyRestartToOnlineMs = Date.now() - started;
    const after = upLink(await a.status(), ID.b);
    expect(after?.linkId).toBe(before?.linkId);
    expect(ping(a, '10.10.10.2').received).toBe(3);
    expect(ping(b, '10.10.10.1').received).toBe(3);
  }, 60_000);

  it('a peer killed with SIGKILL: the survivor removes its port within the link timeout and keeps running', async () => {
    ready();
    const a = nodes.a;
    const b = nodes.b;
    if (a === undefined || b === undefined) throw new Error('nodes a and b are not running');
    const port = upLink(await a.status(), ID.b)?.port;
    expect(port).toBeDefined();
    const killedAt = Date.now();
    b.proc.kill('SIGKILL');
    await b.exited;
    await waitFor('node a to remove the dead peer\'s port', async () => !(await a.status()).ports.some((p) => p.no === port), TIMEOUT_MS + 10_000, { intervalMs: 100, check: alive(a) });
    const gone = Date.now() - killedAt;
    figures.killToPortRemovedMs = gone;
    const s = await a.status();
    expect(s.ports.map((p) => p.no)).toEqual([1]);
    // The log line may trail the status answer on its pipe.
    await waitFor('"link down: port removed" in node a\'s log', () => a.logs.some((l) => l.msg === 'link down: port removed' && l.port === port), 5000);
    // Within the configured link timeout (3 s after the last echo reply), plus scheduling slack.
    expect(gone).toBeLessThan(TIMEOUT_MS + 7000);
    expect(a.proc.exitCode).toBeNull();
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
  }, 40_000);

  it('symmetric NATs on both sides: the link comes up through the TURN relay; SIGTERM leaves cleanly', async () => {
    ready();
    const c = startNode('c', config('c', { peers: ['d'], ip: 3 }));
    const d = startNode('d', config('d', { peers: ['c'], ip: 4 }));
    const [lc, ld] = await Promise.all([linkUp(c, 'd', 45_000), linkUp(d, 'c', 45_000)]);
    figures.symmetric = { c: { local: lc.local, remote: lc.remote }, d: { local: ld.local, remote: ld.remote }, seenToUpMs: [lc.seenToUpMs, ld.seenToUpMs] };
    const types = [lc.local?.type, lc.remote?.type, ld.local?.type, ld.remote?.type];
    expect(types).toContain('relay');
    expect(types).not.toContain('host');
    expect(ping(c, '10.10.10.4', 5).received).toBe(5);

    // SIGTERM: c closes its link (d sees it go at once, not after the timeout) and leaves the room.
    const stoppedAt = Date.now();
    c.proc.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(() => inNs(c.lab.ns, 'ip', 'link', 'show', 'tf-c')).toThrow();
    await waitFor('node d to see the link end and c leave', () => d.logs.some((l) => l.msg === 'link down' && l.peer === ID.c) && d.logs.some((l) => l.msg === 'peer left' && l.peer === ID.c), 10_000, { check: alive(d) });
    figures.sigtermToPeerSawLinkDownMs = Date.now() - stoppedAt;
    d.proc.kill('SIGTERM');
    expect(await d.exited).toBe(0);
  }, 70_000);
});
