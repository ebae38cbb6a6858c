/**
 * os-ken drives tinflow: an os-ken learning-switch app written here (test/switch/osken/) controls a
 * three-port tinflow switch on veths into three namespaces. All pings succeed and iperf3 TCP runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess } from 'node:child_process';
import { type Hosts, iperfTcp, makeHosts, ping, startOsken, startSwitch, stop, waitPort } from './switch-lab.js';

const CTRL_PORT = 6791;

describe('os-ken learning switch drives a three-port tinflow switch', () => {
  let hosts: Hosts;
  let osken: ChildProcess;
  let sw: ChildProcess;

  beforeAll(async () => {
    hosts = makeHosts('ol', 3);
    osken = startOsken(hosts.lab, 'test/switch/osken/learning_switch.py', CTRL_PORT);
    await waitPort(CTRL_PORT);
    sw = startSwitch(hosts.lab, [
      '--name', hosts.lab.name('br'), '--controller', `tcp:127.0.0.1:${CTRL_PORT}`, '--offload', '--no-local', '--log-level', 'warn',
      ...hosts.ports.flatMap((p, i) => ['--port', `${i + 1}=${p}`]),
    ]);
    await new Promise((r) => setTimeout(r, 1500));
  }, 30_000);

  afterAll(async () => {
    if (sw) await stop(sw);
    if (osken) await stop(osken);
    hosts?.lab.cleanup();
  });

  it('all pairs ping each other', async () => {
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        if (i === j) continue;
        expect(await ping(hosts, i, j), `h${i + 1} → h${j + 1}`).toBeGreaterThanOrEqual(2);
      }
    }
  }, 60_000);

  it('iperf3 TCP runs between h1 and h3', async () => {
    const mbps = await iperfTcp(hosts, 0, 2, 2);
    expect(mbps).toBeGreaterThan(50);
  }, 30_000);
});
