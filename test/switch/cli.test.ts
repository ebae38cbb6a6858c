/**
 * `tinflow switch` and `tinflow switchctl` as a user runs them: bad flags exit 2 with one clear line;
 * a running switch answers status, dump-flows, dump-ports and trace on its control socket; SIGTERM stops it
 * and removes the TAPs it created.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Lab, ip } from '../../scripts/netlab.js';
import { waitFor } from '../helpers/wait.js';
import { startSwitch, waitPort } from './switch-lab.js';

const BIN = resolve(process.cwd(), 'scripts/tinflow');
const run = (...args: string[]) => spawnSync(BIN, args, { encoding: 'utf8', timeout: 20_000 });

describe('tinflow switch: bad flags', () => {
  it.each([
    [['--controller', 'tcp:127.0.0.1:6653'], /--name: required/],
    [[], /--name: required \(the bridge name\), unless --ctl SOCKET alone starts a process for bridges added with switchctl add-br/],
    [['--ctl', '/tmp/tf-nosuch.ctl', '--port', '1=eth0'], /--name: required with --port \(a bridge's flag\); without --name, add bridges with switchctl add-br NAME --port/],
    [['--name', 'br0', '--controller', 'udp:1.2.3.4:5'], /--controller: bad controller target "udp:1.2.3.4:5"/],
    [['--name', 'br0', '--listen', 'ptcp:99999'], /port "99999" is not 0..65535/],
    [['--name', 'br0', '--port', '1=eth0', '--port', '1=eth1'], /port number 1 is given twice/],
    [['--name', 'br0', '--fail-mode', 'open'], /--fail-mode: expected secure or standalone/],
    [['--name', 'br0', '--tables', '300'], /--tables: expected a whole number 1..254/],
    [['--name', 'br0', '--dpid', 'xyz'], /--dpid: expected up to 16 hex digits/],
    [['--name', 'br0', '--listen', 'pssl:6653'], /need --cert, --key and --ca/],
    [['--name', 'br0', '--bogus'], /Unknown option '--bogus'/],
    [['--name', 'br0', '--gro'], /--gro: needs --offload/],
    [['--name', 'br0', '--forwarding-thread', '--no-flow-cache'], /--forwarding-thread: forwards what the flow cache knows: it cannot go with --no-flow-cache/],
    [['--name', 'br0', '--no-local', '--port', '1=tfnosuchif0'], /cannot open interface tfnosuchif0: No such device/],
  ])('%j', (args, text) => {
    const r = run('switch', ...args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toMatch(text);
  });
});

describe('tinflow switchctl on a running switch', () => {
  const lab = new Lab('sc');
  const ctl = join(mkdtempSync(join(tmpdir(), 'tinflow-ctl-')), 'br.ctl');
  let sw: ChildProcess;
  afterAll(() => {
    lab.cleanup();
    rmSync(dirname(ctl), { recursive: true, force: true });
  });

  it('status, dump-flows, dump-ports, trace; SIGTERM removes the LOCAL TAP', async () => {
    lab.veth(lab.name('a'), lab.name('b'));
    const br = lab.name('br');
    sw = startSwitch(lab, ['--name', br, '--dpid', 'beef', '--listen', 'ptcp:6799:127.0.0.1', '--port', `1=${lab.name('a')}`, '--ctl', ctl, '--log-level', 'warn']);
    await waitPort(6799);
    const add = spawnSync('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', 'tcp:127.0.0.1:6799', 'priority=10,in_port=1,ip,nw_dst=10.0.0.0/24,actions=output:LOCAL'], { encoding: 'utf8' });
    expect(add.status, add.stderr).toBe(0);
    const flows = run('switchctl', '--ctl', ctl, 'dump-flows');
    const status = () => run('switchctl', '--ctl', ctl, 'status').stdout;
    // (flushes depend on how many port events the start made)
    expect(status().replace(/flow-cache-flushes \d+\n$/, '')).toBe(
      `dpid 0x${(0xbeefn).toString(16)}\nfail-mode secure\nports 2\ncontrollers-connected 0\ncontroller-queue-limit 1048576\ncontroller-queued-bytes 0\n` +
        'packet-ins-dropped 0\nport-status-dropped 0\nflow-removed-dropped 0\ncontroller-read-pauses 0\ncontrollers-dropped-stuck 0\n' +
        // both ports (the veth and the LOCAL TAP) are served by the flow cache; no frame came yet
        'flow-cache-ports 2\nflow-cache-thread no\nflow-cache-entries 0\nflow-cache-hits 0\nflow-cache-misses 0\nflow-cache-installs 0\nflow-cache-refused 0\n',
    );
    expect(statSync(ctl).mode & 0o777, 'the control socket is the owner\'s only').toBe(0o600);
    // A controller counts once it finished hello (here: a bare OF1.3 hello), and stops counting when it leaves.
    const peer = createConnection({ host: '127.0.0.1', port: 6799 });
    peer.on('data', () => {});
    peer.write(Buffer.from('0400000800000001', 'hex'));
    await waitFor('controllers-connected 1', () => status().includes('controllers-connected 1'));
    peer.destroy();
    await waitFor('controllers-connected 0', () => status().includes('controllers-connected 0'));
    expect(flows.status).toBe(0);
    expect(flows.stdout).toMatch(/table=0 priority=10 .*in_port=1,eth_type=2048,ipv4_dst=10\.0\.0\.0\/255\.255\.255\.0 actions=apply\(Output:4294967294\)/);
    const ports = run('switchctl', '--ctl', ctl, 'dump-ports');
    expect(ports.stdout).toMatch(new RegExp(`port 1 ${lab.name('a')} `));
    expect(ports.stdout).toMatch(new RegExp(`port LOCAL ${br} `));
    const hit = run('switchctl', '--ctl', ctl, 'trace', '1', 'eth_type=0x800,ipv4_dst=10.0.0.7,ip_proto=6,tcp_dst=22');
    expect(hit.stdout).toMatch(/table 0: priority 10/);
    expect(hit.stdout).toMatch(/result: output to 4294967294/);
    const miss = run('switchctl', '--ctl', ctl, 'trace', '1', 'eth_type=0x800,ipv4_dst=192.168.1.1');
    expect(miss.stdout).toMatch(/table 0: no match/);
    expect(miss.stdout).toMatch(/result: dropped/);
    const bad = run('switchctl', '--ctl', ctl, 'trace', '1', 'ipv4_dst=300.1.1.1');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/ipv4_dst: "300.1.1.1" is not an IPv4 address/);
    expect(ip('link', 'show').includes(br)).toBe(true);
    sw.kill('SIGTERM');
    const [code] = (await once(sw, 'exit')) as [number];
    expect(code).toBe(0);
    expect(ip('link', 'show').includes(br)).toBe(false);
  }, 30_000);
});
