/**
 * ovs-ofctl drives tinflow (--listen ptcp:) and an OVS userspace (netdev) bridge with the same commands
 * in the same test; every output must be the same once durations, counters and per-device names,
 * addresses and ids are set aside. Needs the OVS daemons (scripts/test.sh starts them when absent).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, ip } from '../../scripts/netlab.js';
import { startSwitch, stop, waitPort } from './switch-lab.js';

const TF_PORT = 6793;

function ofctl(target: string, ...args: string[]): { out: string; err: string; status: number | null } {
  const r = spawnSync('ovs-ofctl', ['-O', 'OpenFlow13', args[0] as string, target, ...args.slice(1)], { encoding: 'utf8', timeout: 20_000 });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

/**
 * Lists whose order the spec leaves open (ports in port stats, groups) are compared sorted: OVS walks
 * its hash maps.
 */
function sortBlocks(s: string, cmd: string): string {
  if (cmd === 'dump-ports') {
    const [head, ...blocks] = s.split(/\n(?= {2}port )/);
    return [head, ...blocks.sort()].join('\n');
  }
  if (cmd === 'dump-groups' || cmd === 'dump-group-stats') {
    const [head, ...lines] = s.split('\n');
    return [head, ...lines.sort()].join('\n');
  }
  return s;
}

/** Durations, counters, names, addresses and ids set aside. */
function normalize(s: string, names: readonly string[]): string {
  let t = s;
  names.forEach((n, i) => (t = t.split(n).join(`NAME${i}`)));
  return t
    .replace(/xid=0x[0-9a-f]+/g, 'xid=X')
    .replace(/dpid:[0-9a-f]+/g, 'dpid:X')
    .replace(/duration=[\d.]+s/g, 'duration=X')
    .replace(/duration_sec=\d+|duration:\d+(\.\d+)?s/g, 'duration=X')
    .replace(/addr:[0-9a-f:]{17}/g, 'addr:X')
    .replace(/(n_packets|n_bytes|packet_count|byte_count|flow_count|packet_in_count|byte_in_count|lookup|matched|pkts|bytes|drop|errs|frame|over|crc|coll)=\d+/g, '$1=X')
    .replace(/n_buffers:\d+/g, 'n_buffers:X')
    .replace(/miss_send_len=\d+/g, 'miss_send_len=X')
    .replace(/packet_count:\d+|byte_count:\d+|flow_count:\d+|packet_in_count:\d+|byte_in_count:\d+/g, 'count:X')
    .replace(/ +$/gm, '')
    .trim();
}

function ovsRunning(): boolean {
  return spawnSync('ovs-vsctl', ['-t', '5', 'show']).status === 0;
}

describe.skipIf(!ovsRunning())('ovs-ofctl gives the same answers from tinflow and from OVS', () => {
  const lab = new Lab('oc');
  const br = lab.name('ov');
  const tfbr = lab.name('tf');
  let sw: ChildProcess;
  const tf = `tcp:127.0.0.1:${TF_PORT}`;
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-ofctl-'));

  beforeAll(async () => {
    for (const i of [1, 2]) {
      lab.veth(lab.name(`o${i}`), lab.name(`p${i}`));
      lab.veth(lab.name(`t${i}`), lab.name(`q${i}`));
    }
    execFileSync('ovs-vsctl', ['add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', '--', 'set-fail-mode', br, 'secure']);
    for (const i of [1, 2]) execFileSync('ovs-vsctl', ['add-port', br, lab.name(`o${i}`), '--', 'set', 'interface', lab.name(`o${i}`), `ofport_request=${i}`]);
    ip('link', 'set', br, 'up');
    // Both LOCAL ports up, so that show and dump-ports-desc compare them live: OVS's by hand (above),
    // tinflow's with --local-up (without it the switch, like OVS, leaves its LOCAL TAP down).
    sw = startSwitch(lab, ['--name', tfbr, '--tables', '254', '--listen', `ptcp:${TF_PORT}:127.0.0.1`, '--port', `1=${lab.name('t1')}`, '--port', `2=${lab.name('t2')}`, '--local-up', '--log-level', 'warn']);
    await waitPort(TF_PORT);
  }, 30_000);

  afterAll(async () => {
    if (sw) await stop(sw);
    spawnSync('ovs-vsctl', ['--if-exists', 'del-br', br]);
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the same ovs-ofctl command on both and compares what it printed. */
  function same(...args: string[]): string {
    const a = ofctl(br, ...args);
    const b = ofctl(tf, ...args);
    const rename = (m: string) => ({ NAME0: 'BR', NAME1: 'P1', NAME2: 'P2' })[m] ?? m;
    const na = sortBlocks(normalize(a.out + a.err, [br, lab.name('o1'), lab.name('o2')]).replace(/NAME[012]/g, rename), args[0] as string);
    const nb = sortBlocks(normalize(b.out + b.err, [tfbr, lab.name('t1'), lab.name('t2')]).replace(/NAME[012]/g, rename), args[0] as string);
    if (process.env['OFCTL_DEBUG'] && (na !== nb || a.status !== b.status)) {
      process.stderr.write(`\n=== ${args.join(' ')}\n--- ovs (${a.status})\n${na}\n--- tinflow (${b.status})\n${nb}\n`);
    }
    expect(b.status, `tinflow: ${args.join(' ')}: ${b.err}`).toBe(a.status);
    expect(nb, args.join(' ')).toBe(na);
    return nb;
  }

  it.each([
    ['show'],
    ['add-flow', 'table=0,priority=10,in_port=1,dl_type=0x0800,nw_dst=10.0.0.0/24,actions=output:2'],
    ['add-flow', 'table=0,priority=20,ip,nw_src=10.1.0.0/16,tcp,tp_dst=80,actions=set_field:02:00:00:00:00:09->eth_dst,output:2'],
    ['add-flow', 'table=0,priority=5,dl_vlan=7,actions=pop_vlan,goto_table:1'],
    ['add-flow', 'table=1,priority=1,actions=CONTROLLER:128'],
    ['dump-flows'],
    ['mod-flows', 'table=0,ip,actions=output:1'],
    ['dump-flows'],
    ['dump-aggregate'],
    ['del-flows', 'table=0,ip,nw_src=10.1.0.0/16'],
    ['dump-flows'],
    ['dump-tables'],
    ['dump-ports'],
    ['dump-ports', '1'],
    ['dump-ports-desc'],
    ['mod-port', '1', 'no-receive'],
    ['mod-port', '1', 'no-packet-in'],
    ['dump-ports-desc'],
    ['mod-port', '1', 'receive'],
    ['add-group', 'group_id=1,type=all,bucket=output:1,bucket=output:2'],
    ['add-group', 'group_id=2,type=select,bucket=weight:10,output:1,bucket=weight:20,output:2'],
    ['add-group', 'group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2'],
    ['add-group', 'group_id=4,type=indirect,bucket=output:2'],
    ['dump-groups'],
    ['mod-group', 'group_id=1,type=all,bucket=output:2'],
    ['add-flow', 'table=0,priority=30,arp,actions=group:1'],
    ['dump-groups'],
    ['dump-group-stats'],
    ['del-groups', 'group_id=4'],
    ['dump-groups'],
    ['add-meter', 'meter=1,kbps,burst,band=type=drop,rate=1000,burst_size=100'],
    ['add-flow', 'table=0,priority=40,udp,actions=meter:1,output:2'],
    ['dump-meters'],
    ['meter-stats'],
    ['dump-flows'],
  ])('%s %s', (...args) => {
    same(...args);
  });

  it('add-flows from a file', () => {
    const f = join(dir, 'flows.txt');
    writeFileSync(f, 'table=2,priority=1,in_port=2,actions=output:1\ntable=2,priority=2,in_port=1,dl_src=02:00:00:00:00:01,actions=drop\n');
    same('add-flows', f);
    same('dump-flows', 'table=2');
  });

  it('packet-out reaches the port on both switches', async () => {
    const frame = 'ffffffffffff020000000001080045000020000100004011f8ce0a0000010a00000204d2162e000c0000deadbeef';
    expect(same('packet-out', `in_port=controller packet=${frame} actions=output:2`)).toBe('');
    // both switches counted it on port 2
    for (const [target, port] of [[br, '2'], [tf, '2']] as const) {
      const out = ofctl(target, 'dump-ports', port).out;
      expect(out, target).toMatch(/tx pkts=[1-9]/);
    }
  });

  it('DSCP-remark meter bands: tinflow takes them (OVS userspace answers BAD_BAND)', () => {
    expect(ofctl(tf, 'add-meter', 'meter=2,pktps,band=type=dscp_remark,rate=500,prec_level=1').status).toBe(0);
    expect(ofctl(tf, 'dump-meters', 'meter=2').out).toMatch(/type=dscp_remark rate=500 prec_level=1/);
    expect(ofctl(br, 'add-meter', 'meter=2,pktps,band=type=dscp_remark,rate=500,prec_level=1').err).toMatch(/OFPMMFC_BAD_BAND/);
    ofctl(tf, 'del-meter', 'meter=2');
  });

  it('errors are the same too (goto an earlier table, unknown group)', () => {
    same('add-flow', 'table=3,priority=1,actions=goto_table:2');
    same('add-flow', 'table=0,priority=1,actions=group:99');
  });
});

