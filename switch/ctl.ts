/**
 * The switch's control socket (`--ctl SOCKET`) and its client, `tinflow switchctl`: a unix socket
 * speaking one JSON request per line ({"cmd": "dump-flows"}) and one JSON reply per line
 * ({"ok": true, "lines": [...]} or {"ok": false, "error": "..."}). The socket file is made mode 0600:
 * it adds and removes ports and shows the flow table.
 *
 * status: the datapath id, fail mode, port count and how many controllers finished the hello exchange
 * (`controllers-connected N`), one `key value` per line; what Mininet's `connected()` polls. Then the
 * channel's bounds: queue limit and bytes queued, packet-ins / port-status / flow-removed dropped for
 * controllers that did not keep up, input pauses, and controllers dropped as stuck (channel.ts).
 *
 * process: the process's health, one `key value` per line: resident memory, heap, uptime, and the event
 * loop's delay (p50, p99, max in ms) since the previous `process` request (perf_hooks'
 * monitorEventLoopDelay at 10 ms resolution, less those 10 ms: an idle loop reads 0); what the soak run
 * (bench/soak.ts) samples.
 *
 * add-port IFNAME [N], add-tap NAME [N], del-port N: ports while the switch runs (when the switch gave
 * serveCtl a way to open them), as `ovs-vsctl add-port` does: an interface deleted under the switch
 * leaves it (port-status DELETE), and one made again with the same name is added back this way.
 *
 * trace IN_PORT FRAME: FRAME is hex bytes, or fields in OXM names separated by commas
 * (eth_src=..,eth_dst=..,vlan_vid=..,eth_type=0x800,ipv4_src=..,ipv4_dst=..,ip_proto=6,tcp_src=..,
 * tcp_dst=..; udp_*, icmpv4_type/code, arp_op/spa/tpa likewise); unnamed fields take plain defaults.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { ADDR_BYTES, parseAddrInto } from '../base/addr.js';
import type { ChannelStats } from './channel.js';
import type { Datapath } from './datapath.js';
import type { FramePort } from './port.js';
import { ETH_TYPE, IPPROTO } from './key-extract.js';

/** What `status` reports of the OpenFlow channel (the Channel implements it). */
export interface ChannelStatus {
  readonly connected: number;
  /** The channel's bounds: what they dropped or paused (channel.ts). */
  stats?(): ChannelStats;
}

/** Opens a port by kind and device name for add-port / add-tap (the switch's cli.ts passes portio's). */
export type PortOpener = (kind: 'interface' | 'tap', ifname: string) => FramePort;

export function serveCtl(path: string, dp: Datapath, channel?: ChannelStatus, open?: PortOpener): Server {
  if (existsSync(path)) unlinkSync(path);
  loopDelay.enable();
  const server = createServer((sock) => {
    createInterface({ input: sock }).on('line', (line) => {
      let reply: object;
      try {
        const req = JSON.parse(line) as { cmd?: unknown; args?: unknown };
        reply = { ok: true, lines: run(dp, channel, String(req.cmd), Array.isArray(req.args) ? req.args.map(String) : [], open) };
      } catch (e) {
        reply = { ok: false, error: (e as Error).message };
      }
      sock.write(JSON.stringify(reply) + '\n');
    });
    sock.on('error', () => {});
  });
  server.on('close', () => loopDelay.disable());
  server.listen(path, () => chmodSync(path, 0o600));
  return server;
}

/** The event loop's delay for `process`: on while a control socket is served, restarted after each reading. */
const LOOP_DELAY_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

function processLines(): string[] {
  const mem = process.memoryUsage();
  // The histogram holds the time between its 10 ms timer's ticks; the delay is what lies beyond 10 ms.
  const ms = (ns: number): string => (loopDelay.count > 0 && Number.isFinite(ns) ? Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS).toFixed(2) : '0.00');
  const lines = [
    `rss-bytes ${mem.rss}`,
    `heap-used-bytes ${mem.heapUsed}`,
    `uptime-s ${process.uptime().toFixed(0)}`,
    `event-loop-delay-p50-ms ${ms(loopDelay.percentile(50))}`,
    `event-loop-delay-p99-ms ${ms(loopDelay.percentile(99))}`,
    `event-loop-delay-max-ms ${ms(loopDelay.max)}`,
  ];
  loopDelay.reset();
  return lines;
}

/** An optional OpenFlow port number argument of add-port / add-tap / del-port. */
function portNumberArg(cmd: string, s: string | undefined, required: boolean): number | undefined {
  if (s === undefined && !required) return undefined;
  const n = Number(s);
  if (s === undefined || !Number.isInteger(n) || n < 1 || n > 0xffffff00) throw new Error(`${cmd}: N must be a port number 1..${0xffffff00}, got ${JSON.stringify(s ?? '')}`);
  return n;
}

function addPort(dp: Datapath, open: PortOpener | undefined, cmd: string, kind: 'interface' | 'tap', args: string[]): string[] {
  if (open === undefined) throw new Error(`${cmd}: this switch does not open ports at run time`);
  const [ifname, no] = args;
  if (!ifname) throw new Error(`${cmd}: the ${kind === 'tap' ? 'TAP' : 'interface'} name is needed`);
  const n = portNumberArg(cmd, no, false);
  if (n !== undefined && dp.portNumbers().includes(n)) throw new Error(`${cmd}: port ${n} is taken`);
  const port = open(kind, ifname);
  try {
    return [`port ${dp.addPort(port, n)} ${ifname}`];
  } catch (e) {
    port.close(); // the name or number was refused: do not leave the device open
    throw e;
  }
}

function run(dp: Datapath, channel: ChannelStatus | undefined, cmd: string, args: string[], open?: PortOpener): string[] {
  switch (cmd) {
    case 'add-port':
      return addPort(dp, open, cmd, 'interface', args);
    case 'add-tap':
      return addPort(dp, open, cmd, 'tap', args);
    case 'del-port': {
      const n = portNumberArg(cmd, args[0], true) as number;
      if (!dp.portNumbers().includes(n)) throw new Error(`del-port: no port ${n}`);
      dp.removePort(n);
      return [`port ${n} removed`];
    }
    case 'status':
      return [
        `dpid 0x${dp.opts.dpid.toString(16)}`,
        `fail-mode ${dp.opts.failMode}`,
        `ports ${dp.portNumbers().length}`,
        `controllers-connected ${channel?.connected ?? 0}`,
        ...boundLines(channel?.stats?.()),
      ];
    case 'process':
      return processLines();
    case 'dump-flows':
      return dp.dumpFlows();
    case 'dump-ports':
      return dp.dumpPorts();
    case 'trace': {
      const [inPort, desc] = args;
      const port = Number(inPort);
      if (!inPort || !Number.isInteger(port) || port < 0) throw new Error(`trace: IN_PORT must be a port number, got ${JSON.stringify(inPort ?? '')}`);
      if (!desc) throw new Error('trace: a frame description is needed (hex, or fields like eth_type=0x800,ipv4_dst=10.0.0.2)');
      const t = dp.trace(buildFrame(desc), port);
      return [...t.steps, ...(t.outputs.length ? t.outputs.map((o) => `result: ${o}`) : ['result: dropped'])];
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd)} (status, process, dump-flows, dump-ports, trace, add-port, add-tap, del-port)`);
  }
}

/** The channel's bound counters for status: what a controller that does not keep up lost. */
function boundLines(s: ChannelStats | undefined): string[] {
  if (!s) return [];
  return [
    `controller-queue-limit ${s.queueLimit}`,
    `controller-queued-bytes ${s.connections.reduce((n, c) => n + c.queuedBytes, 0)}`,
    `packet-ins-dropped ${s.packetInDropped}`,
    `port-status-dropped ${s.portStatusDropped}`,
    `flow-removed-dropped ${s.flowRemovedDropped}`,
    `controller-read-pauses ${s.readPauses}`,
    `controllers-dropped-stuck ${s.stuckDropped}`,
  ];
}

const addr = (kind: 'mac' | 'ipv4', s: string, what: string): Buffer => {
  const b = Buffer.alloc(ADDR_BYTES[kind]);
  if (!parseAddrInto(kind, s, b, 0)) throw new Error(`${what}: ${JSON.stringify(s)} is not ${kind === 'mac' ? 'a MAC' : 'an IPv4'} address`);
  return b;
};
const mac = (s: string, what: string): Buffer => addr('mac', s, what);
const ip4 = (s: string, what: string): Buffer => addr('ipv4', s, what);
const int = (s: string, what: string, max: number): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`${what}: ${JSON.stringify(s)} is not a number 0..${max}`);
  return n;
};

const KNOWN = new Set([
  'eth_src', 'eth_dst', 'eth_type', 'vlan_vid', 'vlan_pcp', 'ipv4_src', 'ipv4_dst', 'ip_proto', 'ip_dscp', 'tcp_src', 'tcp_dst',
  'udp_src', 'udp_dst', 'icmpv4_type', 'icmpv4_code', 'arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha',
]);

/** A frame from hex, or from a field list. */
export function buildFrame(desc: string): Buffer {
  if (/^[0-9a-fA-F]+$/.test(desc) && desc.length % 2 === 0 && desc.length >= 28) return Buffer.from(desc, 'hex');
  const f = new Map<string, string>();
  for (const part of desc.split(',')) {
    const [k, v] = part.split('=');
    if (!k || v === undefined) throw new Error(`frame: ${JSON.stringify(part)} is not field=value`);
    if (!KNOWN.has(k)) throw new Error(`frame: unknown field ${JSON.stringify(k)}`);
    f.set(k, v);
  }
  const g = (k: string, d: string) => f.get(k) ?? d;
  const ethType = int(g('eth_type', f.has('ipv4_dst') || f.has('ip_proto') ? '0x0800' : f.has('arp_op') ? '0x0806' : '0x0800'), 'eth_type', 0xffff);
  const parts: Buffer[] = [mac(g('eth_dst', '02:00:00:00:00:02'), 'eth_dst'), mac(g('eth_src', '02:00:00:00:00:01'), 'eth_src')];
  if (f.has('vlan_vid')) {
    const vid = int(g('vlan_vid', '0'), 'vlan_vid', 0x1fff) & 0xfff;
    const pcp = int(g('vlan_pcp', '0'), 'vlan_pcp', 7);
    const tag = Buffer.alloc(4);
    tag.writeUInt16BE(ETH_TYPE.VLAN, 0);
    tag.writeUInt16BE((pcp << 13) | vid, 2);
    parts.push(tag);
  }
  const type = Buffer.alloc(2);
  type.writeUInt16BE(ethType, 0);
  parts.push(type);
  if (ethType === ETH_TYPE.ARP) {
    const arp = Buffer.alloc(28);
    arp.writeUInt16BE(1, 0);
    arp.writeUInt16BE(ETH_TYPE.IPV4, 2);
    arp[4] = 6;
    arp[5] = 4;
    arp.writeUInt16BE(int(g('arp_op', '1'), 'arp_op', 0xffff), 6);
    mac(g('arp_sha', g('eth_src', '02:00:00:00:00:01')), 'arp_sha').copy(arp, 8);
    ip4(g('arp_spa', '10.0.0.1'), 'arp_spa').copy(arp, 14);
    mac(g('arp_tha', '00:00:00:00:00:00'), 'arp_tha').copy(arp, 18);
    ip4(g('arp_tpa', '10.0.0.2'), 'arp_tpa').copy(arp, 24);
    parts.push(arp);
  } else if (ethType === ETH_TYPE.IPV4) {
    const proto = int(g('ip_proto', '17'), 'ip_proto', 255);
    const l4 = Buffer.alloc(proto === IPPROTO.TCP ? 20 : 8);
    if (proto === IPPROTO.TCP || proto === IPPROTO.UDP) {
      const p = proto === IPPROTO.TCP ? 'tcp' : 'udp';
      l4.writeUInt16BE(int(g(`${p}_src`, '1024'), `${p}_src`, 0xffff), 0);
      l4.writeUInt16BE(int(g(`${p}_dst`, '80'), `${p}_dst`, 0xffff), 2);
      if (proto === IPPROTO.TCP) l4[12] = 0x50;
      else l4.writeUInt16BE(8, 4);
    } else if (proto === IPPROTO.ICMP) {
      l4[0] = int(g('icmpv4_type', '8'), 'icmpv4_type', 255);
      l4[1] = int(g('icmpv4_code', '0'), 'icmpv4_code', 255);
    }
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip[1] = int(g('ip_dscp', '0'), 'ip_dscp', 63) << 2;
    ip.writeUInt16BE(20 + l4.length, 2);
    ip[8] = 64;
    ip[9] = proto;
    ip4(g('ipv4_src', '10.0.0.1'), 'ipv4_src').copy(ip, 12);
    ip4(g('ipv4_dst', '10.0.0.2'), 'ipv4_dst').copy(ip, 16);
    parts.push(ip, l4);
  }
  const frame = Buffer.concat(parts);
  return frame.length >= 60 ? frame : Buffer.concat([frame, Buffer.alloc(60 - frame.length)]);
}

/** The client: sends one request and prints the reply's lines. Returns the exit status. */
export async function switchctlMain(argv: readonly string[]): Promise<number> {
  const i = argv.indexOf('--ctl');
  const path = i >= 0 ? argv[i + 1] : undefined;
  const rest = argv.filter((_, j) => j !== i && j !== i + 1);
  const [cmd, ...args] = rest;
  if (!path || !cmd) {
    process.stderr.write('usage: tinflow switchctl --ctl SOCKET status|process|dump-flows|dump-ports|trace IN_PORT FRAME|add-port IFNAME [N]|add-tap NAME [N]|del-port N\n');
    return 2;
  }
  return new Promise((resolve) => {
    const sock = createConnection(path);
    sock.on('error', (e) => {
      process.stderr.write(`tinflow switchctl: cannot reach ${path}: ${e.message}\n`);
      resolve(2);
    });
    sock.on('connect', () => sock.write(JSON.stringify({ cmd, args }) + '\n'));
    createInterface({ input: sock }).once('line', (line) => {
      const r = JSON.parse(line) as { ok: boolean; lines?: string[]; error?: string };
      if (r.ok) process.stdout.write((r.lines ?? []).join('\n') + '\n');
      else process.stderr.write(`tinflow switchctl: ${r.error}\n`);
      sock.end();
      resolve(r.ok ? 0 : 2);
    });
  });
}
