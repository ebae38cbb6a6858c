/**
 * Fuzz target 'config': mutated valid node config files (overlay/config.ts, which takes the LinkManager
 * and Signal sections through link/config.ts and link/signal-config.ts) and mutated link and signaling
 * configs on their own, and random JSON trees, into their resolvers. Files go through JSON text, as
 * loadNodeConfig reads them (the loader itself, which also checks the file, is not driven here).
 *
 * Promises checked per input: a failure is the module's ConfigError (a NodeConfigError for a node config,
 * every error in it) whose key is a JSON path (`$...`); a config that passes is frozen all the way down,
 * its values lie within their documented limits, and (node configs) printing it with nodeConfigJson and
 * resolving that again gives the same config; never another exception.
 *
 * May import: anything (fuzz/).
 */
import { isDeepStrictEqual } from 'node:util';
import { ConfigError } from '../base/cli.js';
import { FRB_OVERHEAD } from '../controller/apps/frb.js';
import { MTU_MAX, MTU_MIN, type TinCanConfig, resolveLinkConfig } from '../link/config.js';
import { type SignalConfig, resolveSignalConfig } from '../link/signal-config.js';
import { type NodeConfig, NodeConfigError, nodeConfigJson, resolveNodeConfig } from '../overlay/config.js';
import { type FuzzOptions, type FuzzReport, type FuzzTarget, FuzzRecorder } from './harness.js';
import { Gen, type Json, brief, mutateJson, randomJson } from './json-gen.js';

const BASE_DIR = '/tmp/tinflow-fuzz-config';

/** Valid node configs: the smallest, and ones using every key (EdgeVPN's names where they map). */
function nodeSeed(g: Gen): Json {
  if (g.chance(4)) return { Overlay: 'lab', Signal: { HostAddress: 'xmpp.example.org', Username: 'node-a@example.org', Password: 'secret-a' } };
  return {
    NodeId: g.hex(32),
    Overlay: g.pick(['home', 'A0FB389', 'lab_2']),
    Signal: {
      HostAddress: g.pick(['203.0.113.10', 'xmpp.example.org', '::1']),
      Port: g.pick([5222, '5223', 5269]),
      Username: 'node-a',
      Domain: 'natlab.test',
      Password: 'pw-a',
      MucDomain: 'rooms.natlab.test',
      Sasl: g.pick(['plain', 'default']),
      Tls: g.pick(['direct', 'starttls']),
      CaFile: 'ca.pem',
      AuthenticationMethod: 'PASSWORD',
    },
    LinkManager: {
      Stun: ['stun.l.google.com:19302', 'stun:203.0.113.10', '[2001:db8::1]:3479'],
      Turn: [{ Address: '203.0.113.10:3478', User: 'natlab', Password: 'turn-pass' }],
      RelayOnly: g.chance(2),
      PortRange: { Begin: 40000, End: 40100 },
      BindAddress: '192.168.10.2',
      Mtu: g.pick([1400, 1280, 8900, 200]),
      EchoIntervalMs: 500,
      TimeoutMs: 3000,
      SetupTimeoutMs: 20000,
    },
    AppBridge: { Name: 'app0', IP4: '10.10.10.1', PrefixLen: 24 },
    Topology: {
      Role: g.pick(['RoleSwitch', 'switch']),
      ManualTopology: false,
      StaticEdges: [g.hex(32), g.hex(32).toUpperCase()],
      MinSuccessors: 3,
      MaxLongDistEdges: 4,
      MaxIncomingLongDistEdges: 6,
      MaxOnDemandEdges: 1,
      DemandThreshold: g.pick(['10M', '1G', 4096]),
      MinConnectedMs: 60000,
    },
    BoundedFlood: { FlowIdleTimeout: 30, FlowHardTimeout: 600, TrafficAnalysisInterval: 5 },
    Controller: g.chance(2) ? { Target: 'tcp:127.0.0.1:6653', FailMode: 'standalone' } : {},
    Status: { Listen: g.pick(['127.0.0.1:9100', '[::1]:0']) },
    LogLevel: g.pick(['WARNING', 'debug', 'INFO']),
    StateDir: g.pick(['state', '/var/lib/tinflow']),
  };
}

function linkSeed(g: Gen): Json {
  return {
    iceServers: ['stun:127.0.0.1:3478', { url: 'turn:[::1]:3478?transport=udp', username: 'u', credential: 'c' }],
    iceTransportPolicy: g.pick(['all', 'relay']),
    portRangeBegin: 40000,
    portRangeEnd: 40010,
    bindAddress: '127.0.0.1',
    mtu: 1400,
    echoIntervalMs: 200,
    timeoutMs: 4000,
    setupTimeoutMs: 20000,
  };
}

function signalSeed(g: Gen): Json {
  return {
    jid: 'node-a@example.org',
    password: 'secret',
    host: '127.0.0.1',
    port: 5222,
    tls: g.pick(['starttls', 'direct', 'none']),
    sasl: 'plain',
    mucDomain: 'conference.example.org',
    cacheExpiryMs: 60000,
    requestTimeoutMs: 30000,
    connectTimeoutMs: 15000,
    minBackoffMs: 1000,
    maxBackoffMs: 8000,
  };
}

/** What is not frozen, if anything ('' when all is). */
function unfrozen(v: unknown, path = '$'): string {
  if (v === null || typeof v !== 'object') return '';
  if (!Object.isFrozen(v)) return path;
  for (const [k, x] of Object.entries(v)) {
    const p = unfrozen(x, `${path}.${k}`);
    if (p) return p;
  }
  return '';
}

const within = (n: number, lo: number, hi: number): boolean => Number.isInteger(n) && n >= lo && n <= hi;

/** Limits of a resolved link config (link/config.ts's header), as a list of what is off. */
function linkLimits(c: TinCanConfig): string[] {
  const bad: string[] = [];
  if (!within(c.mtu, MTU_MIN, MTU_MAX)) bad.push(`mtu ${c.mtu}`);
  if (!within(c.echoIntervalMs, 10, 60_000)) bad.push(`echoIntervalMs ${c.echoIntervalMs}`);
  if (!within(c.timeoutMs, 50, 600_000) || c.timeoutMs <= c.echoIntervalMs) bad.push(`timeoutMs ${c.timeoutMs}`);
  if (!within(c.setupTimeoutMs, 100, 600_000)) bad.push(`setupTimeoutMs ${c.setupTimeoutMs}`);
  if (c.portRange !== undefined && !(within(c.portRange.begin, 1024, 65535) && within(c.portRange.end, c.portRange.begin, 65535))) bad.push(`portRange ${brief(c.portRange)}`);
  for (const s of c.iceServers) {
    if (!within(s.port, 1, 65535) || s.host === '') bad.push(`ice server ${brief(s)}`);
    if (s.kind === 'turn' && !(s.username && s.credential)) bad.push(`TURN server without credentials ${brief(s)}`);
  }
  if (c.iceTransportPolicy === 'relay' && !c.iceServers.some((s) => s.kind === 'turn')) bad.push('relay without a TURN server');
  return bad;
}

function signalLimits(c: SignalConfig): string[] {
  const bad: string[] = [];
  if (!within(c.port, 1, 65535)) bad.push(`port ${c.port}`);
  if (c.password === '') bad.push('empty password');
  if (c.jid !== `${c.username}@${c.domain}` || /[/\s]/.test(c.jid)) bad.push(`jid ${c.jid}`);
  if (!within(c.cacheExpiryMs, 1000, 86_400_000)) bad.push(`cacheExpiryMs ${c.cacheExpiryMs}`);
  if (!within(c.requestTimeoutMs, 10, 600_000)) bad.push(`requestTimeoutMs ${c.requestTimeoutMs}`);
  if (!within(c.connectTimeoutMs, 100, 600_000)) bad.push(`connectTimeoutMs ${c.connectTimeoutMs}`);
  if (!within(c.minBackoffMs, 10, 600_000) || !within(c.maxBackoffMs, c.minBackoffMs, 3_600_000)) bad.push(`backoff ${c.minBackoffMs}..${c.maxBackoffMs}`);
  if (c.tls === 'none' && c.caFile !== undefined) bad.push('a CA file without TLS');
  return bad;
}

function nodeLimits(c: NodeConfig): string[] {
  const bad = [...linkLimits(c.link).map((s) => `LinkManager: ${s}`), ...signalLimits(c.signal).map((s) => `Signal: ${s}`)];
  const b = c.appBridge;
  if (!within(b.mtu, MTU_MIN, c.link.mtu - FRB_OVERHEAD)) bad.push(`AppBridge.MTU ${b.mtu} with link MTU ${c.link.mtu}`);
  if (Buffer.byteLength(b.name) < 1 || Buffer.byteLength(b.name) > 15) bad.push(`AppBridge.Name ${JSON.stringify(b.name)}`);
  if (!within(b.prefixLen, 1, 32)) bad.push(`AppBridge.PrefixLen ${b.prefixLen}`);
  const t = c.topology;
  if (!within(t.minSuccessors, 1, 16)) bad.push(`MinSuccessors ${t.minSuccessors}`);
  if (!within(t.maxOnDemand, 0, 16)) bad.push(`MaxOnDemandEdges ${t.maxOnDemand}`);
  if (t.maxLongDistance !== undefined && !within(t.maxLongDistance, 0, 64)) bad.push(`MaxLongDistEdges ${t.maxLongDistance}`);
  if (t.maxIncomingLongDistance !== undefined && !within(t.maxIncomingLongDistance, 0, 64)) bad.push(`MaxIncomingLongDistEdges ${t.maxIncomingLongDistance}`);
  if (!(t.demandThreshold >= 1)) bad.push(`DemandThreshold ${t.demandThreshold}`);
  if (t.staticEdges.some((e) => !/^[0-9a-f]{32}$/.test(e) || e === c.nodeId) || new Set(t.staticEdges).size !== t.staticEdges.length) bad.push(`StaticEdges ${brief(t.staticEdges)}`);
  if (c.nodeId !== undefined && !/^[0-9a-f]{32}$/.test(c.nodeId)) bad.push(`NodeId ${c.nodeId}`);
  const f = c.boundedFlood;
  if (!within(f.flowIdleTimeout, 0, 65535) || !within(f.flowHardTimeout, 0, 65535) || !within(f.trafficAnalysisInterval, 1, 3600)) bad.push(`BoundedFlood ${brief(f)}`);
  if (!c.stateDir.startsWith('/')) bad.push(`StateDir ${c.stateDir} not absolute`);
  return bad;
}

/** A ConfigError whose key is a JSON path; for a NodeConfigError, every error it lists. */
function pathErrors(e: ConfigError): string[] {
  const all = e instanceof NodeConfigError ? e.errors : [e];
  const bad = all.filter((x) => !(x instanceof ConfigError) || !x.key.startsWith('$')).map((x) => `${x.key}: ${x.message}`);
  if (e instanceof NodeConfigError && all.length === 0) bad.push('a NodeConfigError listing no error');
  return bad;
}

/** The input as a config file holds it: JSON text, read back (JSON.stringify cannot write some trees). */
function asFile(v: Json): unknown {
  try {
    return JSON.parse(JSON.stringify(v)) as unknown;
  } catch {
    return v;
  }
}

async function run(opts: FuzzOptions): Promise<FuzzReport> {
  const rec = new FuzzRecorder('config', opts);
  const g = new Gen(opts.seed);
  for (let i = 0; i < opts.inputs; i++) {
    rec.tick(i);
    const kind = g.int(10) < 6 ? 'node' : g.chance(2) ? 'link' : 'signal';
    const seed = kind === 'node' ? nodeSeed(g) : kind === 'link' ? linkSeed(g) : signalSeed(g);
    const { value, where } = g.chance(15) ? { value: randomJson(g), where: 'random tree' } : g.chance(12) ? { value: seed, where: 'valid' } : mutateJson(g, seed);
    const input = asFile(value);
    try {
      if (kind === 'node') {
        const c = resolveNodeConfig(input, { baseDir: BASE_DIR });
        const bad = nodeLimits(c);
        if (bad.length > 0) rec.finding(i, `node config (${where}) passed with ${bad.join('; ')}: ${brief(value)}`);
        const f = unfrozen(c);
        if (f) rec.finding(i, `node config (${where}): ${f} is not frozen`);
        const again = resolveNodeConfig(asFile(nodeConfigJson(c, { mask: false }) as Json), { baseDir: BASE_DIR });
        if (!isDeepStrictEqual(again, c)) rec.finding(i, `node config (${where}) does not resolve to itself from nodeConfigJson: ${brief(value)}`);
      } else if (kind === 'link') {
        const c = resolveLinkConfig(input, '$.link');
        const bad = linkLimits(c);
        if (bad.length > 0) rec.finding(i, `link config (${where}) passed with ${bad.join('; ')}`);
        if (unfrozen(c)) rec.finding(i, `link config (${where}): ${unfrozen(c)} is not frozen`);
      } else {
        const c = resolveSignalConfig(input, '$.signal');
        const bad = signalLimits(c);
        if (bad.length > 0) rec.finding(i, `signal config (${where}) passed with ${bad.join('; ')}`);
        if (unfrozen(c)) rec.finding(i, `signal config (${where}): ${unfrozen(c)} is not frozen`);
      }
      rec.count(`${kind}:valid`);
    } catch (e) {
      if (e instanceof ConfigError && (kind === 'node') === e instanceof NodeConfigError) {
        const bad = pathErrors(e);
        if (bad.length > 0) rec.finding(i, `${kind} config (${where}): an error without a JSON path: ${bad.join(' | ').slice(0, 300)}`);
        rec.count(`${kind}:refused`);
      } else {
        rec.finding(i, `${kind} config (${where}): threw ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : String(e)}; input ${brief(value)}`);
      }
    }
  }
  return rec.report(opts.inputs);
}

export const configTarget: FuzzTarget = {
  name: 'config',
  about: 'mutated node, link and signaling configs into their resolvers: a ConfigError naming the JSON path, or a frozen config within its limits that re-resolves to itself',
  run,
};
