/**
 * `tinflow switch` configuration: parsed from the command line into one frozen object, with defaults in
 * one place and errors that name the flag and what was wrong. A bridge's flags are parsed here once, for
 * both `tinflow switch --name NAME ...` and `switchctl add-br NAME ...` (bridges.ts).
 */
import { ConfigError, endpointFlag, enumFlag, intFlag, parseFlags } from '../base/cli.js';
import { LOG_LEVELS, type LogLevel } from '../base/logger.js';
import { TARGET_KINDS, type Target } from './channel.js';

export interface PortSpec {
  readonly kind: 'interface' | 'tap';
  readonly ifname: string;
  /** OpenFlow port number; undefined = assigned. */
  readonly number: number | undefined;
}

/** One bridge: what `tinflow switch --name NAME ...` and `switchctl add-br NAME ...` give (the same flags). */
export interface BridgeConfig {
  readonly name: string;
  readonly dpid: bigint;
  readonly controllers: readonly Target[];
  readonly ports: readonly PortSpec[];
  readonly failMode: 'secure' | 'standalone';
  readonly tables: number;
  readonly offload: boolean;
  /** With offload: merge TCP segments received on interfaces into GSO super-frames (portio/src/gro.c). Off by default. */
  readonly gro: boolean;
  /** Frames whose pipeline decision is cached are forwarded by the port I/O addon (switch/flow-cache.ts). On by default. */
  readonly flowCache: boolean;
  /** The flow cache reads the ports and forwards on a thread of its own. Off by default. */
  readonly forwardingThread: boolean;
  readonly localPort: boolean;
  /** Bring the LOCAL port's TAP up at start (off by default: it stays down, as OVS leaves its bridge interface). */
  readonly localUp: boolean;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | undefined;
  readonly probeInterval: number;
}

/** The process: its control socket, log level, and the bridge of the flags (none: bridges come by add-br). */
export interface SwitchConfig {
  readonly ctl: string | undefined;
  readonly logLevel: LogLevel;
  readonly bridge: BridgeConfig | undefined;
}

const DEFAULTS = {
  failMode: 'secure',
  tables: 64,
  logLevel: 'info',
  probeInterval: 5,
} as const;

export const SWITCH_USAGE = `usage: tinflow switch --name NAME [--dpid HEX] --controller tcp:IP:PORT [--controller ...]
                      [--listen ptcp:PORT[:IP]] [--port N=IFNAME ...] [--tap TAPNAME[=N] ...]
                      [--fail-mode secure|standalone] [--tables N] [--ctl SOCKET] [--log-level LEVEL]
                      [--offload [--gro]] [--no-local | --local-up] [--cert FILE --key FILE --ca FILE]
                      [--probe-interval S] [--no-flow-cache | --forwarding-thread]
       tinflow switch --ctl SOCKET [--log-level LEVEL]

  Without --name the process starts with no bridge and hosts any number of them, added and removed at run
  time on its control socket (as ovs-vswitchd): "tinflow switchctl --ctl SOCKET add-br NAME [FLAGS]" takes
  the bridge flags below (all but --ctl and --log-level), "del-br NAME" removes one, "list-br" lists them,
  and "--bridge NAME" addresses the other commands to one bridge.

  --name NAME          the bridge name; also the LOCAL port's TAP (unless --no-local)
  --dpid HEX           datapath id (default: derived from the name)
  --controller T       tcp:IP:PORT or ssl:IP:PORT (repeatable); --listen ptcp:PORT / pssl:PORT accepts them
  --port N=IFNAME      an existing interface (AF_PACKET) as OpenFlow port N; IFNAME alone assigns N
  --tap NAME[=N]       a TAP device (created if missing, removed on exit if created)
  --fail-mode M        secure (keep flows, drop misses) or standalone (learning switch without a controller)
  --tables N           number of flow tables (1..254, default 64)
  --ctl SOCKET         unix socket for "tinflow switchctl"
  --offload            exchange virtio-net headers with the kernel (GSO pass-through)
  --gro                with --offload, merge TCP segments that arrive one by one on interfaces into GSO
                       super-frames (receive coalescing). Only where every reader of the switch's
                       interfaces takes super-frames (hosts, tinflow switches; not OVS userspace)
  --no-flow-cache      run the OpenFlow pipeline in JavaScript for every frame. By default the first
                       frame of a flow runs it and the port I/O addon forwards the ones after it by the
                       same decision (while the tables, ports and config stay as they are), counting
                       them into the flow entries
  --forwarding-thread  the bridge's ports are read, and the frames the flow cache knows forwarded, on a
                       thread of its own (as an Open vSwitch PMD thread), so that the bridges of one
                       process forward on several cores; JavaScript runs the pipeline for the rest
  --no-local           no LOCAL port
  --local-up           bring the LOCAL port's TAP up at start. Without it the TAP stays down, and the
                       LOCAL port is reported PORT_DOWN / LINK_DOWN, as Open vSwitch reports its bridge
                       interface, until someone runs "ip link set NAME up" (or a controller's port-mod)
`;

function ifname(flag: string, v: string): string {
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(v)) throw new ConfigError(flag, `${JSON.stringify(v)} is not an interface name (1..15 characters)`);
  return v;
}

/** A dpid derived from the name, as OVS derives one from the bridge's MAC when none is given. */
function dpidFromName(name: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(name)) h = BigInt.asUintN(48, (h ^ BigInt(c)) * 0x100000001b3n);
  return h;
}

/** The flags of one bridge (tinflow switch and switchctl add-br). */
const BRIDGE_FLAGS = {
  name: { type: 'string' },
  dpid: { type: 'string' },
  controller: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  tap: { type: 'string', multiple: true },
  'fail-mode': { type: 'string' },
  tables: { type: 'string' },
  offload: { type: 'boolean' },
  gro: { type: 'boolean' },
  'no-flow-cache': { type: 'boolean' },
  'forwarding-thread': { type: 'boolean' },
  'no-local': { type: 'boolean' },
  'local-up': { type: 'boolean' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  'probe-interval': { type: 'string' },
} as const;

/** The flags of the process, not of a bridge. */
const PROCESS_FLAGS = {
  ctl: { type: 'string' },
  'log-level': { type: 'string' },
} as const;

type BridgeValues = ReturnType<typeof parseFlags<typeof BRIDGE_FLAGS>>;

/** `tinflow switch` flags: the process's, and one bridge's when --name is given. */
export function parseSwitchArgs(argv: readonly string[]): SwitchConfig {
  const values = parseFlags(argv, { ...BRIDGE_FLAGS, ...PROCESS_FLAGS });
  const logLevel = enumFlag('--log-level', values['log-level'] ?? DEFAULTS.logLevel, LOG_LEVELS);
  if (values.name === undefined) {
    if (values.ctl === undefined) throw new ConfigError('--name', 'required (the bridge name), unless --ctl SOCKET alone starts a process for bridges added with switchctl add-br');
    const given = Object.keys(values).filter((k) => k in BRIDGE_FLAGS);
    if (given.length > 0) throw new ConfigError('--name', `required with --${given[0]} (a bridge's flag); without --name, add bridges with switchctl add-br NAME --${given[0]} ...`);
    return Object.freeze({ ctl: values.ctl, logLevel, bridge: undefined });
  }
  return Object.freeze({ ctl: values.ctl, logLevel, bridge: bridgeFromValues(values) });
}

/** `switchctl add-br NAME FLAGS...`: the same flags as `tinflow switch --name NAME FLAGS...`, less the process's. */
export function parseBridgeArgs(name: string, argv: readonly string[]): BridgeConfig {
  const processFlag = argv.find((a) => Object.keys(PROCESS_FLAGS).some((k) => a === `--${k}` || a.startsWith(`--${k}=`)));
  if (processFlag !== undefined) throw new ConfigError(processFlag.split('=')[0] ?? processFlag, "is the process's (tinflow switch), not a bridge's");
  if (argv.some((a) => a === '--name' || a.startsWith('--name='))) throw new ConfigError('--name', 'the bridge name is add-br\'s first word, not a flag');
  return bridgeFromValues(parseFlags(['--name', name, ...argv], BRIDGE_FLAGS));
}

function bridgeFromValues(values: BridgeValues): BridgeConfig {
  const name = values.name;
  if (!name) throw new ConfigError('--name', 'required (the bridge name)');
  ifname('--name', name);
  let dpid = dpidFromName(name);
  if (values.dpid !== undefined) {
    const d = values.dpid.replace(/^0x/i, '').replace(/:/g, '');
    if (!/^[0-9a-fA-F]{1,16}$/.test(d)) throw new ConfigError('--dpid', `expected up to 16 hex digits, got ${JSON.stringify(values.dpid)}`);
    dpid = BigInt('0x' + d);
  }
  const controllers: Target[] = [];
  for (const [flag, list, kinds] of [
    ['--controller', values.controller ?? [], ['tcp', 'ssl']],
    ['--listen', values.listen ?? [], ['ptcp', 'pssl']],
  ] as const) {
    for (const s of list) {
      const t = endpointFlag(flag, s, TARGET_KINDS, { what: 'controller target', prefix: true });
      if (!(kinds as readonly string[]).includes(t.kind)) throw new ConfigError(flag, `expected ${kinds.join(' or ')}, got ${JSON.stringify(s)}`);
      controllers.push(t);
    }
  }
  const ports: PortSpec[] = [];
  const numbers = new Set<number>();
  const names = new Set<string>();
  const addPort = (flag: string, kind: PortSpec['kind'], ifn: string, n: number | undefined) => {
    if (names.has(ifn)) throw new ConfigError(flag, `${ifn} is given twice`);
    if (n !== undefined && numbers.has(n)) throw new ConfigError(flag, `port number ${n} is given twice`);
    names.add(ifn);
    if (n !== undefined) numbers.add(n);
    ports.push({ kind, ifname: ifn, number: n });
  };
  for (const p of values.port ?? []) {
    const m = /^(?:(\d+)=)?(.+)$/.exec(p);
    addPort('--port', 'interface', ifname('--port', m?.[2] ?? ''), m?.[1] !== undefined ? intFlag('--port', m[1], 1, 0xfeff) : undefined);
  }
  for (const p of values.tap ?? []) {
    const [tn, n] = p.split('=');
    addPort('--tap', 'tap', ifname('--tap', tn ?? ''), n !== undefined ? intFlag('--tap', n, 1, 0xfeff) : undefined);
  }
  const failMode = enumFlag('--fail-mode', values['fail-mode'] ?? DEFAULTS.failMode, ['secure', 'standalone']);
  if (values.gro === true && values.offload !== true) throw new ConfigError('--gro', 'needs --offload (super-frames travel with virtio-net headers)');
  if (values['forwarding-thread'] === true && values['no-flow-cache'] === true) {
    throw new ConfigError('--forwarding-thread', 'forwards what the flow cache knows: it cannot go with --no-flow-cache');
  }
  if (values['local-up'] === true && values['no-local'] === true) throw new ConfigError('--local-up', 'there is no LOCAL port with --no-local');
  const tlsGiven = [values.cert, values.key, values.ca].filter((x) => x !== undefined).length;
  if (tlsGiven !== 0 && tlsGiven !== 3) throw new ConfigError('--cert', '--cert, --key and --ca go together', '--cert, --key and --ca go together');
  if (tlsGiven === 0 && controllers.some((c) => c.kind === 'ssl' || c.kind === 'pssl')) {
    throw new ConfigError('--cert', 'ssl: and pssl: need --cert, --key and --ca', 'ssl: and pssl: need --cert, --key and --ca');
  }
  const cfg: BridgeConfig = {
    name,
    dpid,
    controllers,
    ports,
    failMode,
    tables: values.tables !== undefined ? intFlag('--tables', values.tables, 1, 254) : DEFAULTS.tables,
    offload: values.offload === true,
    gro: values.gro === true,
    flowCache: values['no-flow-cache'] !== true,
    forwardingThread: values['forwarding-thread'] === true,
    localPort: values['no-local'] !== true,
    localUp: values['local-up'] === true,
    tls: tlsGiven === 3 ? { cert: values.cert as string, key: values.key as string, ca: values.ca as string } : undefined,
    probeInterval: values['probe-interval'] !== undefined ? intFlag('--probe-interval', values['probe-interval'], 1, 3600) : DEFAULTS.probeInterval,
  };
  return Object.freeze(cfg);
}
