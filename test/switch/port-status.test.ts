/**
 * Port status and port description on real devices (veths with their far end in a namespace, the
 * switch's LOCAL TAP), as Open vSwitch reports a netdev:
 * - one OFPPR_MODIFY per change of the reported port (config, state): an interface that comes back up
 *   is reported live once, not after repeats of "link down" (rtnetlink repeats a state, and passes
 *   through "up, no carrier yet");
 * - an interface taken down (`ip link set down`) is config PORT_DOWN, state LINK_DOWN;
 * - a controller's port-mod PORT_DOWN takes the device down, and clearing it brings it up;
 * - the LOCAL TAP stays down until someone brings it up (or `--local-up`).
 * Each sequence ends with a change of its own, and the whole list of port-status messages is compared
 * then: a repeat of an earlier step would sit in the list before it, so no quiet period is waited out.
 */
import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Framer, type MessageOf, type OFPMessage, OFPCR_ROLE, OFPET, OFPP, OFPPC, OFPPMFC, OFPPR, OFPPS, decode, encode } from '../../openflow/index.js';
import { Lab, inNs, ip } from '../../scripts/netlab.js';
import type { ControllerConnection } from '../../switch/channel.js';
import { Datapath } from '../../switch/datapath.js';
import { type NativeFramePort, openInterface } from '../../switch/portio/index.js';
import { waitFor } from '../helpers/wait.js';
import { startSwitch, stop, waitPort } from './switch-lab.js';

const OF_PORT = 6831;
const DOWN = { config: OFPPC.PORT_DOWN, state: OFPPS.LINK_DOWN };
const LIVE = { config: 0, state: OFPPS.LIVE };
const NO_CARRIER = { config: 0, state: OFPPS.LINK_DOWN };

type PortStatus = MessageOf<'OFPPortStatus'>;
const brief = (m: PortStatus) => ({ reason: m.reason, port: m.desc.port_no, config: m.desc.config, state: m.desc.state });

function quiet(ifname: string, ns?: string): void {
  const cmd = ['sysctl', '-qw', `net/ipv6/conf/${ifname}/disable_ipv6=1`];
  if (ns === undefined) execFileSync(cmd[0] as string, cmd.slice(1));
  else inNs(ns, ...cmd);
}

/**
 * The switch end `sw` (root namespace) of a veth whose far end `peer` is in namespace `ns`. IPv6 is off
 * on both (and in ns) so that the kernel sends nothing by itself; the lab does that before they come up,
 * and it is done here again so that this test does not depend on it.
 */
function link(lab: Lab): { sw: string; peer: string; ns: string } {
  const ns = lab.ns('n');
  inNs(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  const sw = lab.name('s');
  const peer = lab.name('p');
  lab.veth(sw, peer);
  quiet(sw);
  quiet(peer);
  lab.move(peer, ns);
  quiet(peer, ns);
  return { sw, peer, ns };
}

const CONN: ControllerConnection = { id: 'test', role: OFPCR_ROLE.EQUAL, send: () => undefined };

/** A datapath in this process with one real interface port, recording the port-status it sends. */
function datapathOn(ifname: string): { dp: Datapath; port: NativeFramePort; got: PortStatus[]; desc: () => { config: number; state: number } } {
  const log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const dp = new Datapath({ name: 'ps', dpid: 1n, tables: 1, failMode: 'secure', log });
  const got: PortStatus[] = [];
  dp.attach({
    connected: 1,
    sendAsync: (m) => {
      if (m.type === 'OFPPortStatus') got.push(m);
      return 1;
    },
  });
  const port = openInterface(ifname);
  dp.addPort(port, 1);
  const desc = () => {
    const body = dp.handle({ type: 'OFPPortDescStatsRequest', xid: 1, flags: 0 }, CONN).flatMap((m) => (m.type === 'OFPPortDescStatsReply' ? m.body : []));
    const d = body.find((p) => p.port_no === 1);
    if (!d) throw new Error('port 1 is missing from port-desc');
    return { config: d.config, state: d.state };
  };
  return { dp, port, got, desc };
}

describe('port status of an interface port', () => {
  const labs: Lab[] = [];
  const dps: Datapath[] = [];
  afterEach(() => {
    for (const d of dps.splice(0)) d.stop();
    for (const l of labs.splice(0)) l.cleanup();
  });
  function setup(tag: string) {
    const lab = new Lab(tag);
    labs.push(lab);
    const l = link(lab);
    const d = datapathOn(l.sw);
    dps.push(d.dp);
    return { lab, ...l, ...d };
  }

  it('ip link set down / up: PORT_DOWN + LINK_DOWN once, then live once; carrier changes once each', async () => {
    const { sw, peer, ns, got, desc } = setup('pd');
    const mods = () => got.filter((m) => m.reason === OFPPR.MODIFY).map((m) => ({ config: m.desc.config, state: m.desc.state }));
    expect(got.map(brief)).toEqual([{ reason: OFPPR.ADD, port: 1, ...LIVE }]);
    const steps: [string, () => void, { config: number; state: number }][] = [
      ['down', () => ip('link', 'set', sw, 'down'), DOWN],
      ['up', () => ip('link', 'set', sw, 'up'), LIVE],
      ['peer down', () => inNs(ns, 'ip', 'link', 'set', peer, 'down'), NO_CARRIER],
      ['down again', () => ip('link', 'set', sw, 'down'), DOWN],
      // up while the peer is down: no carrier comes, so "up, no carrier" is reported, once
      ['up without a peer', () => ip('link', 'set', sw, 'up'), NO_CARRIER],
      ['peer up', () => inNs(ns, 'ip', 'link', 'set', peer, 'up'), LIVE],
    ];
    const want: { config: number; state: number }[] = [];
    for (const [name, act, after] of steps) {
      act();
      want.push(after);
      // until the step's own state is reported; whatever came before it must be only what each step asked
      await waitFor(`port-status after "${name}"`, () => JSON.stringify(mods().at(-1)) === JSON.stringify(after), 8000);
      expect(mods(), `port-status messages after "${name}"`).toEqual(want);
      expect(desc(), `port-desc after "${name}"`).toEqual(after);
    }
  }, 30_000);

  it('port-mod PORT_DOWN takes the interface down (as OVS does), clearing it brings it up; one port-status each', async () => {
    const { sw, dp, port, got, desc } = setup('pm');
    const portMod = (config: number, mask: number) =>
      dp.handle({ type: 'OFPPortMod', xid: 2, port_no: 1, hw_addr: port.hwAddr, config, mask, advertise: 0 }, CONN);
    const isUp = () => /<[^>]*\bUP\b/.test(ip('link', 'show', sw));
    got.length = 0;
    portMod(OFPPC.PORT_DOWN | OFPPC.NO_PACKET_IN, OFPPC.PORT_DOWN | OFPPC.NO_PACKET_IN);
    expect(isUp()).toBe(false);
    expect(desc()).toEqual({ config: OFPPC.PORT_DOWN | OFPPC.NO_PACKET_IN, state: OFPPS.LINK_DOWN });
    portMod(OFPPC.PORT_DOWN, OFPPC.PORT_DOWN); // already so: nothing changes, nothing is sent
    portMod(0, OFPPC.PORT_DOWN);
    expect(isUp()).toBe(true);
    await waitFor('the port live again', () => got.length >= 2, 8000);
    expect(desc()).toEqual({ config: OFPPC.NO_PACKET_IN, state: OFPPS.LIVE });
    portMod(0, OFPPC.NO_PACKET_IN); // the last step: a repeat of an earlier one would come before it
    expect(got.map(brief)).toEqual([
      { reason: OFPPR.MODIFY, port: 1, config: OFPPC.PORT_DOWN | OFPPC.NO_PACKET_IN, state: OFPPS.LINK_DOWN },
      { reason: OFPPR.MODIFY, port: 1, config: OFPPC.NO_PACKET_IN, state: OFPPS.LIVE },
      { reason: OFPPR.MODIFY, port: 1, ...LIVE },
    ]);
  }, 30_000);

  it('a port-mod PORT_DOWN the device cannot follow is refused: PORT_MOD_FAILED / EPERM, naming the port', () => {
    const { lab, sw, dp, port } = setup('pg');
    // The interface leaves for another namespace. The port hears of it only on its next rtnetlink read,
    // after this synchronous test: the port-mod finds the name no longer means its device.
    ip('link', 'set', sw, 'netns', lab.ns('x'));
    let err: unknown;
    try {
      dp.handle({ type: 'OFPPortMod', xid: 4, port_no: 1, hw_addr: port.hwAddr, config: OFPPC.PORT_DOWN, mask: OFPPC.PORT_DOWN, advertise: 0 }, CONN);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ errType: OFPET.PORT_MOD_FAILED, code: OFPPMFC.EPERM });
    expect((err as Error).message).toMatch(new RegExp(`port 1 \\(${sw}\\) could not be taken down: ${sw} is no longer in this network namespace`));
  });
});

/** A minimal OpenFlow 1.3 controller on a socket: hello, then collects what the switch sends. */
class Ctl {
  readonly got: OFPMessage[] = [];
  private readonly framer = new Framer();
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      for (const f of this.framer.push(d)) this.got.push(decode(f));
    });
    sock.on('error', () => {});
    this.send({ type: 'OFPHello', xid: 1, elements: [{ kind: 'OFPHelloElemVersionBitmap', versions: [4] }] });
  }
  send(m: OFPMessage): void {
    this.sock.write(encode(m));
  }
  localStatus(): { config: number; state: number }[] {
    return this.got.flatMap((m) => (m.type === 'OFPPortStatus' && m.desc.port_no === OFPP.LOCAL ? [{ config: m.desc.config, state: m.desc.state }] : []));
  }
  async localDesc(xid: number): Promise<{ config: number; state: number }> {
    this.send({ type: 'OFPPortDescStatsRequest', xid, flags: 0 });
    let reply: OFPMessage | undefined;
    await waitFor('the port-desc reply', () => (reply = this.got.find((m) => m.type === 'OFPPortDescStatsReply' && m.xid === xid)) !== undefined, 8000);
    const d = reply?.type === 'OFPPortDescStatsReply' ? reply.body.find((p) => p.port_no === OFPP.LOCAL) : undefined;
    if (!d) throw new Error('LOCAL is missing from port-desc');
    return { config: d.config, state: d.state };
  }
}

describe('the LOCAL port of `tinflow switch`', () => {
  const lab = new Lab('pl');
  const procs: ChildProcess[] = [];
  const socks: Socket[] = [];
  let started = 0;
  afterEach(async () => {
    for (const s of socks.splice(0)) s.destroy();
    for (const p of procs.splice(0)) await stop(p);
  });
  afterAll(() => lab.cleanup());

  async function start(br: string, extra: string[], ctlPath?: string): Promise<Ctl> {
    const n = started++;
    const veth = lab.name(`v${n}`);
    lab.veth(veth, lab.name(`w${n}`));
    procs.push(startSwitch(lab, ['--name', br, '--listen', `ptcp:${OF_PORT}:127.0.0.1`, '--port', `1=${veth}`, '--log-level', 'warn', ...(ctlPath ? ['--ctl', ctlPath] : []), ...extra]));
    await waitPort(OF_PORT);
    const sock = createConnection({ host: '127.0.0.1', port: OF_PORT });
    socks.push(sock);
    await once(sock, 'connect');
    return new Ctl(sock);
  }

  it('stays down until brought up: PORT_DOWN / LINK_DOWN, then one port-status when it is up', async () => {
    const br = lab.name('br');
    const ctlPath = join(mkdtempSync(join(tmpdir(), 'tinflow-ps-')), 'br.ctl');
    onTestFinished(() => rmSync(dirname(ctlPath), { recursive: true, force: true }));
    const c = await start(br, [], ctlPath);
    expect(ip('link', 'show', br)).not.toMatch(/<[^>]*\bUP\b/);
    expect(await c.localDesc(10)).toEqual(DOWN);
    const dump = spawnSync(resolve(process.cwd(), 'scripts/tinflow'), ['switchctl', '--ctl', ctlPath, 'dump-ports'], { encoding: 'utf8' });
    expect(dump.stdout).toMatch(new RegExp(`port LOCAL ${br} \\S+ down no-carrier`));
    quiet(br); // the switch made this TAP: keep it silent once it is up
    ip('link', 'set', br, 'up');
    await waitFor('LOCAL reported live', () => c.localStatus().length >= 1, 8000);
    expect(await c.localDesc(11)).toEqual(LIVE);
    ip('link', 'set', br, 'down'); // the last step: a repeat of "up" would sit before it
    await waitFor('LOCAL reported down', () => c.localStatus().length >= 2, 8000);
    expect(c.localStatus()).toEqual([LIVE, DOWN]);
  }, 30_000);

  it('--local-up brings it up at start; --help documents it', async () => {
    const help = spawnSync(resolve(process.cwd(), 'scripts/tinflow'), ['switch', '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/--local-up +bring the LOCAL port's TAP up at start/);
    const bad = spawnSync(resolve(process.cwd(), 'scripts/tinflow'), ['switch', '--name', 'br0', '--no-local', '--local-up'], { encoding: 'utf8' });
    expect([bad.status, bad.stderr.trim()]).toEqual([2, 'tinflow switch: --local-up: there is no LOCAL port with --no-local']);
    const br = lab.name('bu');
    const c = await start(br, ['--local-up']);
    expect(ip('link', 'show', br)).toMatch(/<[^>]*\bUP\b/);
    expect(await c.localDesc(12)).toEqual(LIVE);
  }, 30_000);
});

function ovsRunning(): boolean {
  return spawnSync('ovs-vsctl', ['-t', '5', 'show']).status === 0;
}

/** The config and state lines of LOCAL in `ovs-ofctl dump-ports-desc`, whitespace folded. */
function localLines(target: string): string[] {
  const r = spawnSync('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-ports-desc', target], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`ovs-ofctl dump-ports-desc ${target}: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => /^ LOCAL\(/.test(l));
  if (at < 0) throw new Error(`no LOCAL port in:\n${r.stdout}`);
  return lines.slice(at + 1, at + 3).map((l) => l.trim().replace(/\s+/g, ' '));
}

describe.skipIf(!ovsRunning())('the LOCAL port next to Open vSwitch (netdev bridge)', () => {
  const lab = new Lab('po');
  const ovsBr = lab.name('ov');
  const tfBr = lab.name('tf');
  let sw: ChildProcess | undefined;
  afterAll(async () => {
    if (sw) await stop(sw);
    spawnSync('ovs-vsctl', ['--if-exists', 'del-br', ovsBr]);
    lab.cleanup();
  });

  it('dump-ports-desc shows LOCAL alike: PORT_DOWN / LINK_DOWN until `ip link set up`, then live', async () => {
    lab.veth(lab.name('o1'), lab.name('p1'));
    lab.veth(lab.name('t1'), lab.name('q1'));
    execFileSync('ovs-vsctl', ['add-br', ovsBr, '--', 'set', 'bridge', ovsBr, 'datapath_type=netdev', '--', 'set-fail-mode', ovsBr, 'secure']);
    execFileSync('ovs-vsctl', ['add-port', ovsBr, lab.name('o1'), '--', 'set', 'interface', lab.name('o1'), 'ofport_request=1']);
    sw = startSwitch(lab, ['--name', tfBr, '--listen', `ptcp:${OF_PORT + 1}:127.0.0.1`, '--port', `1=${lab.name('t1')}`, '--log-level', 'warn']);
    await waitPort(OF_PORT + 1);
    const tf = `tcp:127.0.0.1:${OF_PORT + 1}`;
    expect(localLines(ovsBr)).toEqual(['config: PORT_DOWN', 'state: LINK_DOWN']);
    expect(localLines(tf)).toEqual(localLines(ovsBr));
    for (const br of [ovsBr, tfBr]) {
      quiet(br);
      ip('link', 'set', br, 'up');
    }
    const live = ['config: 0', 'state: LIVE'];
    await waitFor('both LOCAL ports live', () => JSON.stringify([localLines(ovsBr), localLines(tf)]) === JSON.stringify([live, live]), 8000);
  }, 30_000);
});
