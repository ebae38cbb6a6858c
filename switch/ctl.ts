/**
 * The switch's control socket (`--ctl SOCKET`) and its client, `tinflow switchctl`: a unix socket
 * speaking one JSON request per line ({"cmd": "dump-flows"}) and one JSON reply per line
 * ({"ok": true, "lines": [...]} or {"ok": false, "error": "..."}). The socket file is made mode 0600:
 * it adds and removes ports and shows the flow table.
 *
 * status: the datapath id, fail mode, port count and how many controllers finished the hello exchange
 * (`controllers-connected N`), one `key value` per line; what Mininet's `connected()` polls. Then the
 * channel's bounds: queue limit and bytes queued, packet-ins / port-status / flow-removed dropped for
 * controllers that did not keep up, input pauses, and controllers dropped as stuck (channel.ts). Then the
 * flow cache below JavaScript (flow-cache.ts), when the bridge has one: decisions cached, frames it
 * forwarded (hits) and frames that ran the pipeline (misses), installs, refusals for want of room, flushes.
 *
 * process: the process's health, one `key value` per line: resident memory, heap, uptime, and the event
 * loop's delay (p50, p99, max in ms) since the previous `process` request (perf_hooks'
 * monitorEventLoopDelay at 10 ms resolution, less those 10 ms: an idle loop reads 0); what the soak run
 * (bench/soak.ts) samples. The monitor runs only from a `process` request until two minutes after the
 * last one (the first request reads 0): its 10 ms timer would wake an idle switch 100 times a second.
 *
 * add-port IFNAME [N], add-tap NAME [N], del-port N: ports while the switch runs (when the switch gave
 * serveCtl a way to open them), as `ovs-vsctl add-port` does: an interface deleted under the switch
 * leaves it (port-status DELETE), and one made again with the same name is added back this way.
 *
 * Bridges (bridges.ts): a process hosts one bridge or many. `list-br`, `add-br NAME FLAGS` (the bridge
 * flags of `tinflow switch`, parsed by config.ts), `del-br NAME` and `process` are the process's; every
 * other command acts on one bridge, named in the request ({"cmd": "status", "bridge": "s1"}; the client's
 * `--bridge NAME`) or, when the request names none, the only one (an error says which there are).
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

/** One bridge as the control socket sees it. */
export interface CtlBridge {
  readonly dp: Datapath;
  readonly channel?: ChannelStatus;
  /** Absent: the bridge does not open ports at run time. */
  readonly open?: PortOpener;
}

/** The bridges a control socket serves (bridges.ts's Bridges, or one datapath). */
export interface CtlBridges {
  /** The bridge a request names, or the only one when it names none; throws saying which are there. */
  bridge(name: string | undefined): CtlBridge;
  names(): string[];
  /** add-br NAME FLAGS...; absent: bridges are not added at run time. */
  addFromArgs?(args: readonly string[]): Promise<string[]>;
  remove?(name: string): Promise<void>;
}

/** The control socket of one datapath (what tests that embed a switch serve). */
export function serveCtl(path: string, dp: Datapath, channel?: ChannelStatus, open?: PortOpener): Server {
  const one: CtlBridge = { dp, ...(channel ? { channel } : {}), ...(open ? { open } : {}) };
  return serveBridgesCtl(path, {
    bridge: (name) => {
      if (name !== undefined && name !== dp.opts.name) throw new Error(`no bridge ${JSON.stringify(name)} (bridges: ${dp.opts.name})`);
      return one;
    },
    names: () => [dp.opts.name],
  });
}

/**
 * The control socket of a process's bridges. A request may name its bridge ({"cmd": "status", "bridge":
 * "s1"}); one that does not goes to the only bridge, so a single-bridge process needs no name. Requests
 * on one connection are answered in order.
 */
export function serveBridgesCtl(path: string, bridges: CtlBridges): Server {
  if (existsSync(path)) unlinkSync(path);
  const server = createServer((sock) => {
    let queue: Promise<void> = Promise.resolve();
    createInterface({ input: sock }).on('line', (line) => {
      queue = queue.then(async () => {
        let reply: object;
        try {
          const req = JSON.parse(line) as { cmd?: unknown; args?: unknown; bridge?: unknown };
          const args = Array.isArray(req.args) ? req.args.map(String) : [];
          const bridge = typeof req.bridge === 'string' && req.bridge !== '' ? req.bridge : undefined;
          reply = { ok: true, lines: await run(bridges, String(req.cmd), args, bridge) };
        } catch (e) {
          reply = { ok: false, error: (e as Error).message };
        }
        if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
      });
    });
    sock.on('error', () => {});
  });
  server.on('close', stopLoopDelay);
  server.listen(path, () => chmodSync(path, 0o600));
  return server;
}

/** The event loop's delay for `process`: on from a `process` request until LOOP_DELAY_KEEP_MS after the last. */
const LOOP_DELAY_RESOLUTION_MS = 10;
const LOOP_DELAY_KEEP_MS = 120_000;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
let loopDelayOff: NodeJS.Timeout | undefined;

function stopLoopDelay(): void {
  loopDelay.disable();
  if (loopDelayOff) clearTimeout(loopDelayOff);
  loopDelayOff = undefined;
}

function processLines(): string[] {
  loopDelay.enable(); // a no-op while on
  if (loopDelayOff) loopDelayOff.refresh();
  else loopDelayOff = setTimeout(stopLoopDelay, LOOP_DELAY_KEEP_MS).unref();
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

/** The commands that act on one bridge; the rest are the process's. */
const BRIDGE_COMMANDS = ['status', 'dump-flows', 'dump-ports', 'trace', 'add-port', 'add-tap', 'del-port'];
const ALL_COMMANDS = [...BRIDGE_COMMANDS.slice(0, 4), 'process', 'list-br', 'add-br', 'del-br', ...BRIDGE_COMMANDS.slice(4)];

async function run(bridges: CtlBridges, cmd: string, args: string[], bridge: string | undefined): Promise<string[]> {
  switch (cmd) {
    case 'process':
      return processLines();
    case 'list-br':
      return bridges.names();
    case 'add-br':
      if (!bridges.addFromArgs) throw new Error('add-br: this switch does not add bridges at run time');
      return bridges.addFromArgs(args);
    case 'del-br': {
      if (!bridges.remove) throw new Error('del-br: this switch does not remove bridges at run time');
      const [name] = args;
      if (!name) throw new Error('del-br: the bridge name is needed');
      await bridges.remove(name);
      return [`bridge ${name} removed`];
    }
    default:
      if (!BRIDGE_COMMANDS.includes(cmd)) throw new Error(`unknown command ${JSON.stringify(cmd)} (${ALL_COMMANDS.join(', ')})`);
      return runBridge(bridges.bridge(bridge), cmd, args);
  }
}

function runBridge({ dp, channel, open }: CtlBridge, cmd: string, args: string[]): string[] {
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
        ...cacheLines(dp.cacheStats()),
      ];
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
      throw new Error(`unknown command ${JSON.stringify(cmd)}`);
  }
}

/** The flow cache's figures for status. */
function cacheLines(s: ReturnType<Datapath['cacheStats']>): string[] {
  if (!s) return ['flow-cache off'];
  return [
    `flow-cache-ports ${s.ports}`,
    `flow-cache-thread ${s.threaded ? 'yes' : 'no'}`,
    `flow-cache-entries ${s.entries}`,
    `flow-cache-hits ${s.hits}`,
    `flow-cache-misses ${s.misses}`,
    `flow-cache-installs ${s.installs}`,
    `flow-cache-refused ${s.refused}`,
    `flow-cache-flushes ${s.flushes}`,
  ];
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

/** `tinflow switchctl --help`. */
export const SWITCHCTL_USAGE = `usage: tinflow switchctl --ctl SOCKET [--bridge NAME] COMMAND [ARGS]
  process                  the process's memory, uptime and event-loop delay
  list-br                  its bridges, one name a line
  add-br NAME [FLAGS]      a bridge, with tinflow switch's bridge flags: [--dpid HEX] [--controller T ...]
                           [--listen T] [--fail-mode secure|standalone] [--no-local] [--probe-interval S]
                           [--port N=IFNAME ...] [--tap NAME[=N] ...] [--tables N] [--offload [--gro]] ...
  del-br NAME              stops a bridge and closes its ports (its LOCAL TAP goes)
 of one bridge (--bridge NAME; not needed while the process has one bridge):
  status | dump-flows | dump-ports | trace IN_PORT FRAME | add-port IFNAME [N] | add-tap NAME [N] | del-port N
`;

/** The client: sends one request and prints the reply's lines. Returns the exit status. */
export async function switchctlMain(argv: readonly string[]): Promise<number> {
  // --ctl and --bridge come before the command; everything after it is the command's (add-br's flags).
  let path: string | undefined;
  let bridge: string | undefined;
  let j = 0;
  for (; j < argv.length; j += 2) {
    if (argv[j] === '--ctl') path = argv[j + 1];
    else if (argv[j] === '--bridge') bridge = argv[j + 1];
    else break;
  }
  const [cmd, ...args] = argv.slice(j);
  if (argv.includes('--help') && (cmd === undefined || cmd === '--help')) {
    process.stdout.write(SWITCHCTL_USAGE);
    return 0;
  }
  if (!path || !cmd || cmd.startsWith('-') || bridge === '') {
    process.stderr.write(SWITCHCTL_USAGE);
    return 2;
  }
  try {
    const lines = await switchctlRequest(path, cmd, args, bridge);
    if (lines.length) process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    process.stderr.write(`tinflow switchctl: ${(e as Error).message}\n`);
    return 2;
  }
}

/**
 * One request on a switch's control socket: the reply's lines, or an Error with the switch's answer
 * (or why the socket could not be reached). `bridge` addresses one bridge of a multi-bridge process.
 */
export function switchctlRequest(path: string, cmd: string, args: readonly string[] = [], bridge?: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    sock.on('error', (e) => reject(new Error(`cannot reach ${path}: ${e.message}`)));
    sock.on('connect', () => sock.write(JSON.stringify({ cmd, args, ...(bridge !== undefined ? { bridge } : {}) }) + '\n'));
    const lines = createInterface({ input: sock });
    lines.on('error', () => undefined); // the socket's own error handler above answers
    lines.once('line', (line) => {
      sock.end();
      const r = JSON.parse(line) as { ok: boolean; lines?: string[]; error?: string };
      if (r.ok) resolve(r.lines ?? []);
      else reject(new Error(r.error ?? 'refused'));
    });
  });
}
