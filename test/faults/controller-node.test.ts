/**
 * Fault: the external controller of overlay nodes killed (issue 15), in both fail modes. Two overlays
 * side by side in one NAT lab, each of two public `tinflow node`s whose switch dials an os-ken running
 * BoundedFlood (controller/osken/bounded_flood.py) in the node's own namespace (`Controller.Target`
 * tcp:127.0.0.1:6653): overlay "fsec" with `FailMode: "secure"`, overlay "fsta" with `"standalone"`.
 * The same for a bare `tinflow switch` is test/switch/channel.test.ts ("fail modes with a controller that
 * dies"); a node killed and restarted is test/overlay/overlay-natlab.test.ts.
 *
 * Expected, once the two nodes of an overlay ping each other (learnt flows installed) and both os-kens
 * are killed (SIGKILL):
 * - secure: each node says its controller is not connected; existing flows keep forwarding (the two
 *   TAP addresses still ping), and traffic no flow knows is dropped: an address added to the peer's TAP
 *   afterwards is not reached (its ARP broadcast has no controller to go to);
 * - standalone: each node says its controller is not connected, and its switch learns MACs by itself:
 *   the address added afterwards is reached across the link;
 * - both: os-ken started again, the node's switch reconnects by itself (status: connected) and the
 *   controller's rules carry new traffic again (another new address is reached). Reconnect times are
 *   printed (`faults figures: {...}`).
 * Skipped, saying so, without osken-manager (apt: python3-os-ken). Needs root, prosody, coturn, nftables
 * and a fresh dist/.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { stopProcess } from '../../base/shutdown.js';
import { nodeCtl } from '../../overlay/ctl.js';
import { inNs } from '../../scripts/netlab.js';
import { ROOT, TAP_NET, ping, statusOf } from '../../scripts/overlay-lab.js';
import { waitFor } from '../helpers/wait.js';
import { type FaultLab, faultSuite, secs } from './overlay-faults.js';

const OSKEN = '/usr/bin/osken-manager';
const APP = join(ROOT, 'controller', 'osken', 'bounded_flood.py');
const MISSING = existsSync(OSKEN) ? undefined : `${OSKEN} is missing (apt install python3-os-ken)`;
const OFP_PORT = 6653;
const STATUS_PORT = 9410;

const SPECS = [
  { name: 's1', id: '2a000000000000000000000000000000', ip: 21, place: 'public' },
  { name: 's2', id: '8b000000000000000000000000000000', ip: 22, place: 'public' },
  { name: 'a1', id: '3c000000000000000000000000000000', ip: 31, place: 'public' },
  { name: 'a2', id: '9d000000000000000000000000000000', ip: 32, place: 'public' },
] as const;
const MODES = { secure: { overlay: 'fsec', nodes: ['s1', 's2'] }, standalone: { overlay: 'fsta', nodes: ['a1', 'a2'] } } as const;
type Mode = keyof typeof MODES;

describe.skipIf(MISSING !== undefined)(`an overlay node's external controller killed${MISSING === undefined ? '' : ` — skipped: ${MISSING}`}`, () => {
  let lab: FaultLab;
  const figures = faultSuite('fc', SPECS, 'controller', (l) => {
    lab = l;
  });
  const oskens = new Map<string, { proc: ChildProcess; log: string[] }>();

  /** os-ken with BoundedFlood in the node's namespace; resolves once it listens. */
  async function startOsken(name: string): Promise<void> {
    const ns = lab.labs.get(name)?.ns as string;
    const proc = lab.nat.lab.spawnIn(ns, OSKEN, [
      '--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(OFP_PORT),
      '--user-flags', APP, '--bf-node-id', lab.idOf(name), '--bf-status-url', `http://127.0.0.1:${STATUS_PORT}/status`, APP,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    const log: string[] = [];
    createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (l) => {
      log.push(l);
      if (log.length > 2000) log.splice(0, 1000);
    });
    oskens.set(name, { proc, log });
    await waitFor(`osken-manager of ${name} listening`, () => inNs(ns, 'ss', '-Hltn', 'sport', `= :${OFP_PORT}`).includes(String(OFP_PORT)), 30_000, {
      check: () => {
        if (proc.exitCode !== null) throw new Error(`osken-manager of ${name} exited (${proc.exitCode}):\n${log.slice(-10).join('\n')}`);
      },
    });
  }

  const connected = async (name: string): Promise<boolean | undefined> => (await statusOf(lab.node(name)))?.controller.connected;

  /** n_packets of the node's table-miss flow (priority 0 in table 0: to the controller), from its dump-flows. */
  const tableMissPackets = async (name: string): Promise<number> => {
    const lines = (await nodeCtl(lab.node(name).ctl, 'dump-flows')) as string[];
    const miss = lines.find((l) => /^table=0 priority=0 /.test(l));
    const m = /n_packets=(\d+)/.exec(miss ?? '');
    if (m === null) throw new Error(`no table-miss flow in ${name}'s dump-flows:\n${lines.join('\n')}`);
    return Number(m[1]);
  };

  /** Adds a second address on the node's TAP (nobody has asked for it yet: no flow knows the way). */
  const alias = (name: string, last: number): string => {
    const a = `${TAP_NET}.${last}`;
    inNs(lab.node(name).lab.ns, 'ip', 'addr', 'add', `${a}/24`, 'dev', `tf-${name}`);
    return a;
  };

  it('both overlays form with their nodes on os-ken, and each pair pings', async () => {
    await Promise.all(SPECS.map((s) => startOsken(s.name)));
    for (const [mode, { overlay, nodes }] of Object.entries(MODES) as [Mode, (typeof MODES)[Mode]][]) {
      for (const n of nodes) {
        lab.start(n, { Overlay: overlay, Controller: { Target: `tcp:127.0.0.1:${OFP_PORT}`, FailMode: mode }, Status: { Listen: `127.0.0.1:${STATUS_PORT}` } });
      }
    }
    await waitFor('each node linked to its peer, its switch on os-ken', async () => {
      for (const [, { nodes }] of Object.entries(MODES)) {
        for (const n of nodes) {
          if ((await lab.upPeers(n)).length !== 1 || (await connected(n)) !== true) return false;
        }
      }
      return true;
    }, 60_000, { intervalMs: 250, detail: () => SPECS.map((s) => `${s.name}: ${lab.node(s.name).tail(3)}`).join('\n') });
    for (const { nodes } of Object.values(MODES)) await lab.allPairs(`${nodes.join(' and ')} ping`, 30_000, nodes);
  }, 120_000);

  it.each([['secure'], ['standalone']] as const)('%s: controller killed → existing flows forward; unknown traffic dropped (secure) or learnt (standalone); controller back → reconnects', async (mode) => {
    const [n1, n2] = MODES[mode].nodes;
    const killedAt = Date.now();
    for (const n of [n1, n2]) {
      const o = oskens.get(n);
      o?.proc.kill('SIGKILL');
      if (o !== undefined) await stopProcess(o.proc, 3000);
    }
    await waitFor('both nodes see their controller gone', async () => (await connected(n1)) === false && (await connected(n2)) === false, 20_000, { intervalMs: 200 });
    figures[`${mode}KillToDisconnected`] = secs(Date.now() - killedAt);
    // What the switch already knows keeps working in both modes.
    expect(ping(lab.node(n1), lab.addr(n2), 3, { waitS: 2 }).received).toBeGreaterThanOrEqual(2);
    expect(ping(lab.node(n2), lab.addr(n1), 3, { waitS: 2 }).received).toBeGreaterThanOrEqual(2);
    // A destination nobody asked for before: only a switch that learns by itself gets there.
    const fresh = alias(n2, mode === 'secure' ? 122 : 132);
    const missBefore = await tableMissPackets(n1);
    const got = ping(lab.node(n1), fresh, 3, { waitS: 2 }).received;
    figures[`${mode}NewAddressWithoutController`] = `${got}/3`;
    if (mode === 'secure') {
      expect(got).toBe(0);
      // The user sees where they went: the table-miss flow (to the controller) counted them, in dump-flows.
      expect(await tableMissPackets(n1)).toBeGreaterThan(missBefore);
    } else expect(got).toBeGreaterThanOrEqual(2);
    // Still a link, still linked, nothing restarted.
    expect(await lab.upPeers(n1)).toEqual([n2]);

    const backAt = Date.now();
    await Promise.all([startOsken(n1), startOsken(n2)]);
    await waitFor('both switches connected again', async () => (await connected(n1)) === true && (await connected(n2)) === true, 30_000, { intervalMs: 200 });
    figures[`${mode}ControllerBackToConnected`] = secs(Date.now() - backAt);
    const again = alias(n2, mode === 'secure' ? 123 : 133);
    await waitFor(`${n1} reaches ${again} through the controller's rules`, () => ping(lab.node(n1), again, 1, { waitS: 1 }).received === 1, 30_000, { intervalMs: 200 });
    if (mode === 'secure') await waitFor(`${n1} reaches ${fresh} now`, () => ping(lab.node(n1), fresh, 1, { waitS: 1 }).received === 1, 15_000, { intervalMs: 200 });
    figures[`${mode}ControllerBackToNewTraffic`] = secs(Date.now() - backAt);
  }, 120_000);
});
