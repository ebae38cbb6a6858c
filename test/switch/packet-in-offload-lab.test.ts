/**
 * End to end: two hosts in namespaces with their veths' offloads left on (Linux's defaults: the kernel
 * hands the switch TSO super-frames and TCP frames whose checksum is left partial), behind a
 * `tinflow switch --offload` driven by the in-tree controller's hub app, so that every frame crosses the
 * controller as a packet-in and comes back as a packet-out. Packet-ins carry only plain frames (cut to
 * the MTU, checksums complete), as Open vSwitch's kernel datapath makes them before an upcall; before
 * that, ping passed but iperf3 could not even connect (its SYN went out with a partial checksum).
 * test/switch/packet-in-offload.test.ts pins the same rule in memory, frame by frame.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hub } from '../../controller/apps/hub.js';
import type { DatapathHandle } from '../../controller/api.js';
import { Controller } from '../../controller/controller.js';
import { inNs } from '../../scripts/netlab.js';
import { type SwitchUnderTest, attachSwitch } from '../controller/switches.js';
import { waitFor } from '../helpers/wait.js';
import { type Hosts, makeHosts, ping } from './switch-lab.js';

const CONTROLLER_PORT = 6851;
const IPERF_PORT = 5302;
const DPID = 0xc1n;

/** Whether an ethtool -k feature is on ("tx-checksumming: on", "tcp-segmentation-offload: on [fixed]"). */
function featureOn(ns: string, ifname: string, feature: string): boolean {
  const line = inNs(ns, 'ethtool', '-k', ifname).split('\n').find((l) => l.trim().startsWith(`${feature}:`));
  return line !== undefined && /:\s*on\b/.test(line);
}

interface IperfResult {
  readonly error: string | undefined;
  readonly receivedBytes: number;
}

/**
 * iperf3 TCP from host i to host j for `seconds`. The connect timeout keeps a switch that loses the
 * handshake from holding the test for TCP's two minutes of SYN retries.
 */
async function iperf(h: Hosts, i: number, j: number, seconds: number): Promise<IperfResult> {
  const server = h.lab.spawnIn(h.ns[j] as string, 'iperf3', ['-s', '-1', '-B', h.addr(j), '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  try {
    await waitFor(`iperf3 to listen in ${h.ns[j]}`, () => inNs(h.ns[j] as string, 'ss', '-Htln', `sport = :${IPERF_PORT}`).trim() !== '', 10_000);
    const c = h.lab.spawnIn(h.ns[i] as string, 'iperf3', ['-c', h.addr(j), '-p', String(IPERF_PORT), '-t', String(seconds), '--connect-timeout', '5000', '-J'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await once(c, 'close');
    const r = JSON.parse(out) as { error?: string; end?: { sum_received?: { bytes?: number } } };
    return { error: r.error, receivedBytes: r.end?.sum_received?.bytes ?? 0 };
  } finally {
    if (server.exitCode === null) server.kill();
  }
}

describe('the hub app drives a tinflow switch with offload; the hosts keep their offloads on', () => {
  const st: { hosts?: Hosts; ctl?: Controller; sw?: SwitchUnderTest; dp?: DatapathHandle; packetIns: number; biggest: number } = { packetIns: 0, biggest: 0 };

  beforeAll(async () => {
    const hosts = (st.hosts = makeHosts('pi', 2));
    const ctl = (st.ctl = new Controller({ listen: [`tcp:127.0.0.1:${CONTROLLER_PORT}`], apps: [hub()] }));
    ctl.on('packetIn', (ev) => {
      st.packetIns++;
      st.biggest = Math.max(st.biggest, ev.msg.data.length);
    });
    await ctl.start();
    st.sw = attachSwitch('tinflow', hosts.lab, hosts.ports, CONTROLLER_PORT, DPID); // with --offload
    st.dp = await waitFor(`datapath ${DPID} to connect`, () => ctl.datapath(DPID), 15_000);
  }, 40_000);

  afterAll(async () => {
    await st.sw?.stop();
    await st.ctl?.stop();
    st.hosts?.lab.cleanup();
  });

  it('the hosts send with checksum offload and TSO on (what makes partial and super-frames)', () => {
    const h = st.hosts as Hosts;
    for (let i = 0; i < 2; i++) {
      const ifname = h.lab.name(`e${i + 1}`);
      expect([featureOn(h.ns[i] as string, ifname, 'tx-checksumming'), featureOn(h.ns[i] as string, ifname, 'tcp-segmentation-offload')], ifname).toEqual([true, true]);
    }
  });

  it('ping passes both ways through the controller', async () => {
    const h = st.hosts as Hosts;
    expect(await ping(h, 0, 1, 3)).toBe(3);
    expect(await ping(h, 1, 0, 3)).toBe(3);
    expect(st.packetIns).toBeGreaterThanOrEqual(12);
  }, 30_000);

  it('iperf3 connects and moves TCP data; the super-frames that came in reached the controller cut to the MTU', async () => {
    const r = await iperf(st.hosts as Hosts, 0, 1, 2);
    expect(r.error).toBeUndefined();
    expect(r.receivedBytes).toBeGreaterThan(0);
    expect(st.biggest).toBeLessThanOrEqual(1514);
    // and super-frames did come in (so they were cut): port 1, the sender's, received more bytes than
    // its frames could hold at the MTU (TSO sends at least two segments per frame once data flows)
    const [reply] = await (st.dp as DatapathHandle).request({ type: 'OFPPortStatsRequest', xid: 0, flags: 0, port_no: 1 });
    const p1 = reply?.type === 'OFPPortStatsReply' ? reply.body[0] : undefined;
    expect(p1 && p1.rx_bytes > p1.rx_packets * 1514n, `port 1 received ${p1?.rx_packets} frames, ${p1?.rx_bytes} bytes`).toBe(true);
  }, 60_000);
});
