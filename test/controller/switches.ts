/**
 * The two switches a controller test can drive with the same test body: a `tinflow switch` process and
 * an Open vSwitch bridge on the userspace datapath (netdev), both with the lab's veths as ports 1..N and
 * dialling the controller at 127.0.0.1:PORT. Everything is removed by name and PID in `stop()`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import type { Lab } from '../../scripts/netlab.js';
import { inNs, ip, quietIpv6 } from '../../scripts/netlab.js';
import { type Hosts, startSwitch, stop as stopProcess } from '../switch/switch-lab.js';

export type SwitchKind = 'tinflow' | 'ovs';

export interface SwitchUnderTest {
  readonly kind: SwitchKind;
  readonly bridge: string;
  stop(): Promise<void>;
}

export function ovsRunning(): boolean {
  return spawnSync('ovs-vsctl', ['-t', '5', 'show']).status === 0;
}

/** The MAC address of host i's interface. */
export function hostMac(h: Hosts, i: number): string {
  return inNs(h.ns[i] as string, 'cat', `/sys/class/net/${h.lab.name(`e${i + 1}`)}/address`).trim();
}

export function attachSwitch(kind: SwitchKind, lab: Lab, ports: readonly string[], controllerPort: number, dpid: bigint): SwitchUnderTest {
  const bridge = lab.name(kind === 'ovs' ? 'ovs' : 'tfl');
  const hex = dpid.toString(16).padStart(16, '0');
  if (kind === 'tinflow') {
    const p = startSwitch(lab, [
      '--name', bridge, '--dpid', hex, '--controller', `tcp:127.0.0.1:${controllerPort}`, '--offload', '--no-local', '--log-level', 'warn',
      ...ports.flatMap((port, i) => ['--port', `${i + 1}=${port}`]),
    ]);
    return { kind, bridge, stop: () => stopProcess(p) };
  }
  execFileSync('ovs-vsctl', [
    'add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev', 'protocols=OpenFlow13',
    `other_config:datapath-id=${hex}`, '--', 'set-fail-mode', bridge, 'secure',
  ]);
  for (const [i, port] of ports.entries()) {
    execFileSync('ovs-vsctl', ['add-port', bridge, port, '--', 'set', 'interface', port, `ofport_request=${i + 1}`]);
  }
  // The LOCAL port stays quiet (no IPv6 autoconfiguration chatter reaching the controller): off before up.
  quietIpv6(bridge);
  ip('link', 'set', bridge, 'up');
  execFileSync('ovs-vsctl', ['set-controller', bridge, `tcp:127.0.0.1:${controllerPort}`]);
  return {
    kind,
    bridge,
    stop: () => {
      spawnSync('ovs-vsctl', ['--if-exists', 'del-br', bridge]);
      return Promise.resolve();
    },
  };
}
