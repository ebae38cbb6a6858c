/**
 * The node configuration (overlay/config.ts): EdgeVPN's keys where they map, defaults filled in from one
 * place, a frozen result, the resolved config printed back in the file's shape (secrets masked) that
 * resolves to the same config again, and a table of invalid configs, each refused with the key path and
 * what was wrong.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../base/cli.js';
import { FRB_OVERHEAD } from '../../controller/apps/frb.js';
import { DEFAULTS as LINK_DEFAULTS } from '../../link/config.js';
import { resolveSignalConfig } from '../../link/signal-config.js';
import { DEFAULTS, NodeConfigError, loadNodeConfig, nodeConfigJson, resolveNodeConfig } from '../../overlay/config.js';

const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';
const C = '00112233445566778899aabbccddeeff';
/** The application TAP's default MTU: the links' less BoundedFlood's header. */
const TAP_MTU = LINK_DEFAULTS.mtu - FRB_OVERHEAD;

/** The smallest config a node starts with. */
const minimal = (): Record<string, unknown> => ({
  Overlay: 'lab',
  Signal: { HostAddress: 'xmpp.example.org', Username: 'node-a@example.org', Password: 'secret-a' },
});

/** A config using every key. */
const full = (): Record<string, unknown> => ({
  NodeId: A.toUpperCase(),
  Overlay: 'A0FB389',
  Signal: {
    HostAddress: '203.0.113.10',
    Port: '5223',
    Username: 'node-a',
    Domain: 'natlab.test',
    Password: 'pw-a',
    MucDomain: 'rooms.natlab.test',
    Sasl: 'plain',
    Tls: 'direct',
    CaFile: 'ca.pem',
    AuthenticationMethod: 'PASSWORD',
  },
  LinkManager: {
    Stun: ['stun.l.google.com:19302', 'stun:203.0.113.10', '[2001:db8::1]:3479'],
    Turn: [{ Address: '203.0.113.10:3478', User: 'natlab', Password: 'turn-pass' }],
    RelayOnly: true,
    PortRange: { Begin: 40000, End: 40100 },
    BindAddress: '192.168.10.2',
    Mtu: 1400,
    EchoIntervalMs: 500,
    TimeoutMs: 3000,
    SetupTimeoutMs: 20000,
  },
  AppBridge: { Name: 'app0', IP4: '10.10.10.1', PrefixLen: 24, MTU: 1350 },
  Topology: {
    Role: 'RoleSwitch',
    ManualTopology: false,
    StaticEdges: [B.toUpperCase(), C],
    MinSuccessors: 3,
    MaxLongDistEdges: 4,
    MaxIncomingLongDistEdges: 6,
    MaxOnDemandEdges: 1,
    DemandThreshold: '10M',
    MinConnectedMs: 60000,
  },
  BoundedFlood: { FlowIdleTimeout: 30, FlowHardTimeout: 600, TrafficAnalysisInterval: 5 },
  Controller: { Target: 'tcp:127.0.0.1:6653', FailMode: 'standalone' },
  Status: { Listen: '127.0.0.1:9100' },
  LogLevel: 'WARNING',
  StateDir: 'state',
});

/** A deep copy of `base` with `set` applied at a path of keys; `undefined` removes the key. */
function edit(base: Record<string, unknown>, keys: readonly (string | number)[], value: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  let o: Record<string | number, unknown> = copy;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null) o[k] = {};
    o = o[k] as Record<string | number, unknown>;
  }
  const last = keys[keys.length - 1] as string | number;
  if (value === undefined) delete o[last];
  else o[last] = value;
  return copy;
}

function errorOf(input: unknown): NodeConfigError {
  try {
    resolveNodeConfig(input, { baseDir: '/etc/tinflow' });
  } catch (e) {
    if (e instanceof NodeConfigError) return e;
    throw e;
  }
  throw new Error(`accepted: ${JSON.stringify(input)}`);
}

describe('node configuration', () => {
  it('fills in every default from one place and freezes the result', () => {
    const c = resolveNodeConfig(minimal(), { baseDir: '/etc/tinflow' });
    expect(c).toEqual({
      nodeId: undefined,
      overlay: 'lab',
      signal: resolveSignalConfig({ jid: 'node-a@example.org', password: 'secret-a', host: 'xmpp.example.org' }),
      link: {
        iceServers: [], iceTransportPolicy: 'all', portRange: undefined, bindAddress: undefined, mtu: LINK_DEFAULTS.mtu,
        echoIntervalMs: LINK_DEFAULTS.echoIntervalMs, timeoutMs: LINK_DEFAULTS.timeoutMs, setupTimeoutMs: LINK_DEFAULTS.setupTimeoutMs,
      },
      appBridge: { name: 'tf-lab', ip4: undefined, prefixLen: 24, mtu: TAP_MTU },
      topology: {
        minSuccessors: 2, maxLongDistance: undefined, maxIncomingLongDistance: undefined, maxOnDemand: 0, demandThreshold: 10 * 1024 * 1024,
        staticEdges: [], manual: false, role: 'switch', minConnectedMs: 180_000,
      },
      boundedFlood: { flowIdleTimeout: 60, flowHardTimeout: 0, trafficAnalysisInterval: 10 },
      controller: { kind: 'in-tree', failMode: 'secure' },
      status: { listen: undefined },
      logLevel: 'info',
      stateDir: DEFAULTS.stateDir,
    });
    expect(TAP_MTU).toBe(1351);
    const parts = [c, c.signal, c.link, c.link.iceServers, c.appBridge, c.topology, c.topology.staticEdges, c.boundedFlood, c.controller, c.status];
    for (const part of parts) expect(Object.isFrozen(part)).toBe(true);
    for (const part of [DEFAULTS, DEFAULTS.topology, DEFAULTS.boundedFlood]) expect(Object.isFrozen(part)).toBe(true);
  });

  it('takes every key: EdgeVPN forms (string port, host:port STUN, WARNING) and paths relative to the file', () => {
    const c = resolveNodeConfig(full(), { baseDir: '/etc/tinflow' });
    expect(c.nodeId).toBe(A);
    expect(c.signal).toMatchObject({
      host: '203.0.113.10', port: 5223, username: 'node-a', domain: 'natlab.test', jid: 'node-a@natlab.test', password: 'pw-a',
      mucDomain: 'rooms.natlab.test', tls: 'direct', caFile: '/etc/tinflow/ca.pem', sasl: 'plain',
    });
    expect(c.link.iceServers).toEqual([
      { kind: 'stun', host: 'stun.l.google.com', port: 19302 },
      { kind: 'stun', host: '203.0.113.10', port: 3478 },
      { kind: 'stun', host: '2001:db8::1', port: 3479 },
      { kind: 'turn', host: '203.0.113.10', port: 3478, username: 'natlab', credential: 'turn-pass' },
    ]);
    expect(c.link).toMatchObject({ iceTransportPolicy: 'relay', portRange: { begin: 40000, end: 40100 }, bindAddress: '192.168.10.2', mtu: 1400, echoIntervalMs: 500, timeoutMs: 3000, setupTimeoutMs: 20000 });
    expect(c.appBridge).toEqual({ name: 'app0', ip4: '10.10.10.1', prefixLen: 24, mtu: 1350 });
    expect(c.topology).toEqual({
      minSuccessors: 3, maxLongDistance: 4, maxIncomingLongDistance: 6, maxOnDemand: 1, demandThreshold: 10 * 1024 * 1024,
      staticEdges: [B, C], manual: false, role: 'switch', minConnectedMs: 60000,
    });
    expect(c.boundedFlood).toEqual({ flowIdleTimeout: 30, flowHardTimeout: 600, trafficAnalysisInterval: 5 });
    expect(c.controller).toEqual({ kind: 'external', target: 'tcp:127.0.0.1:6653', failMode: 'standalone' });
    expect(c.status).toEqual({ listen: '127.0.0.1:9100' });
    expect(c.logLevel).toBe('warn');
    expect(c.stateDir).toBe('/etc/tinflow/state');
  });

  it('prints the resolved config in the file\'s shape with secrets masked; unmasked, it resolves to the same config', () => {
    const c = resolveNodeConfig(full(), { baseDir: '/etc/tinflow' });
    const shown = nodeConfigJson(c);
    const text = JSON.stringify(shown);
    expect(text).not.toContain('pw-a');
    expect(text).not.toContain('turn-pass');
    expect(shown).toMatchObject({ Signal: { Password: '********', Username: 'node-a@natlab.test' }, LinkManager: { Turn: [{ Password: '********', User: 'natlab' }] } });
    expect(shown).toMatchObject({
      Topology: { Role: 'switch', StaticEdges: [B, C], MaxLongDistEdges: 4, MaxIncomingLongDistEdges: 6, DemandThreshold: '10M' },
      BoundedFlood: { FlowIdleTimeout: 30, FlowHardTimeout: 600, TrafficAnalysisInterval: 5 },
      Controller: { Target: 'tcp:127.0.0.1:6653', FailMode: 'standalone' },
      Status: { Listen: '127.0.0.1:9100' },
    });
    expect(resolveNodeConfig(nodeConfigJson(c, { mask: false }))).toEqual(c);
    const m = resolveNodeConfig(minimal());
    expect(nodeConfigJson(m)).toMatchObject({
      AppBridge: { MTU: TAP_MTU },
      Topology: { Role: 'switch', ManualTopology: false, StaticEdges: [], MinSuccessors: 2, MaxOnDemandEdges: 0, DemandThreshold: '10M', MinConnectedMs: 180000 },
      BoundedFlood: { FlowIdleTimeout: 60, FlowHardTimeout: 0, TrafficAnalysisInterval: 10 },
      Controller: { FailMode: 'secure' },
      Status: {},
    });
    // Left out, the long-distance counts are decided at run time: printing a number would fix them.
    expect(nodeConfigJson(m).Topology).not.toHaveProperty('MaxLongDistEdges');
    expect(nodeConfigJson(m).Topology).not.toHaveProperty('MaxIncomingLongDistEdges');
    expect(nodeConfigJson(m).Controller).not.toHaveProperty('Target');
    expect(resolveNodeConfig(nodeConfigJson(m, { mask: false }))).toEqual(m);
  });

  // Each variant differs from the minimal config where full() does not reach: every form must survive.
  const variants: [string, Record<string, unknown>][] = [
    ['a leaf with static edges only', edit(edit(minimal(), ['Topology'], { Role: 'leaf', ManualTopology: true, StaticEdges: [A, B] }), ['NodeId'], C)],
    ['a threshold that is no whole K', edit(minimal(), ['Topology', 'DemandThreshold'], 1000)],
    ['a threshold in K', edit(minimal(), ['Topology', 'DemandThreshold'], 1536 * 1024)],
    ['a threshold in G', edit(minimal(), ['Topology', 'DemandThreshold'], '2G')],
    ['no long-distance edges, any incoming', edit(edit(minimal(), ['Topology', 'MaxLongDistEdges'], 0), ['Topology', 'MaxIncomingLongDistEdges'], 3)],
    ['an external controller on IPv6', edit(minimal(), ['Controller'], { Target: 'tcp:::1:6653' })],
    ['an external controller by name', edit(minimal(), ['Controller'], { Target: 'tcp:ctl.example.org:6653', FailMode: 'secure' })],
    ['the in-tree controller named', edit(minimal(), ['Controller'], { FailMode: 'secure' })],
    ['the status on IPv6, any port', edit(minimal(), ['Status', 'Listen'], '[::1]:0')],
    ['the status beyond loopback with a token file', edit(minimal(), ['Status'], { Listen: '0.0.0.0:9100', TokenFile: '/etc/tinflow/status.token' })],
    ['a token file on loopback too', edit(minimal(), ['Status'], { Listen: '127.0.0.1:9100', TokenFile: '/etc/tinflow/status.token' })],
    ['the status beyond loopback with a token file', edit(minimal(), ['Status'], { Listen: '0.0.0.0:9100', TokenFile: '/etc/tinflow/status.token' })],
    ['a token file on loopback too', edit(minimal(), ['Status'], { Listen: '127.0.0.1:9100', TokenFile: '/etc/tinflow/status.token' })],
    ['flows that never time out', edit(minimal(), ['BoundedFlood'], { FlowIdleTimeout: 0, FlowHardTimeout: 0 })],
    ['the smallest link MTU a TAP fits in', edit(minimal(), ['LinkManager', 'Mtu'], 68 + FRB_OVERHEAD)],
  ];

  it.each(variants)('prints %s so that it resolves to the same config', (_what, input) => {
    const c = resolveNodeConfig(input);
    const again = resolveNodeConfig(nodeConfigJson(c, { mask: false }));
    expect(again).toEqual(c);
    expect(nodeConfigJson(again, { mask: false })).toEqual(nodeConfigJson(c, { mask: false }));
  });

  it('takes EdgeVPN\'s forms of Role and DemandThreshold, and whole numbers of bytes', () => {
    const topo = (t: Record<string, unknown>) => resolveNodeConfig(edit(minimal(), ['Topology'], t)).topology;
    for (const r of ['switch', 'Switch', 'RoleSwitch', 'SWITCH']) expect(topo({ Role: r }).role).toBe('switch');
    for (const r of ['leaf', 'Leaf', 'LEAF']) expect(topo({ Role: r }).role).toBe('leaf');
    const sizes: [unknown, number][] = [
      ['10M', 10485760], ['10m', 10485760], ['512K', 524288], ['1G', 1073741824], ['1024G', 1024 ** 4],
      ['1048576', 1048576], [1048576, 1048576], [1, 1], ['1', 1],
    ];
    for (const [given, bytes] of sizes) expect(topo({ DemandThreshold: given }).demandThreshold).toBe(bytes);
    // Kept while on-demand edges are off, so that turning them on again finds it.
    expect(topo({ MaxOnDemandEdges: 0, DemandThreshold: '1M' })).toMatchObject({ maxOnDemand: 0, demandThreshold: 1048576 });
  });

  it('takes the bounds of every Topology and BoundedFlood number', () => {
    const ok = (section: string, key: string, v: number) => resolveNodeConfig(edit(minimal(), [section, key], v));
    for (const v of [1, 16]) expect(ok('Topology', 'MinSuccessors', v).topology.minSuccessors).toBe(v);
    for (const v of [0, 64]) expect(ok('Topology', 'MaxLongDistEdges', v).topology.maxLongDistance).toBe(v);
    for (const v of [0, 64]) expect(ok('Topology', 'MaxIncomingLongDistEdges', v).topology.maxIncomingLongDistance).toBe(v);
    for (const v of [0, 16]) expect(ok('Topology', 'MaxOnDemandEdges', v).topology.maxOnDemand).toBe(v);
    for (const v of [0, 86_400_000]) expect(ok('Topology', 'MinConnectedMs', v).topology.minConnectedMs).toBe(v);
    for (const v of [0, 65535]) expect(ok('BoundedFlood', 'FlowIdleTimeout', v).boundedFlood.flowIdleTimeout).toBe(v);
    for (const v of [0, 65535]) expect(ok('BoundedFlood', 'FlowHardTimeout', v).boundedFlood.flowHardTimeout).toBe(v);
  });

  it('keeps the TAP\'s MTU within the links\' less BoundedFlood\'s header', () => {
    expect(resolveNodeConfig(edit(minimal(), ['AppBridge', 'MTU'], TAP_MTU)).appBridge.mtu).toBe(TAP_MTU);
    expect(resolveNodeConfig(edit(minimal(), ['LinkManager', 'Mtu'], 1200)).appBridge.mtu).toBe(1200 - FRB_OVERHEAD);
    expect(resolveNodeConfig(edit(minimal(), ['LinkManager', 'Mtu'], 117)).appBridge.mtu).toBe(68);
    expect(FRB_OVERHEAD).toBe(14 + 35);
  });

  it('writes a controller target in one form, and takes a leaf without incoming limits', () => {
    const target = (t: string) => resolveNodeConfig(edit(minimal(), ['Controller', 'Target'], t)).controller;
    expect(target('tcp:::1:6653')).toEqual({ kind: 'external', target: 'tcp:[::1]:6653', failMode: 'secure' });
    expect(target('tcp:[2001:db8::1]:6653')).toEqual({ kind: 'external', target: 'tcp:[2001:db8::1]:6653', failMode: 'secure' });
    expect(target('tcp:ctl.example.org:6633')).toMatchObject({ target: 'tcp:ctl.example.org:6633' });
    const leaf = resolveNodeConfig(edit(minimal(), ['Topology'], { Role: 'leaf', MaxLongDistEdges: 2 })).topology;
    expect(leaf).toMatchObject({ role: 'leaf', maxLongDistance: 2, maxIncomingLongDistance: undefined });
  });

  // [what is wrong, the config, the key path the message must start with, what it must say]
  const invalid: [string, Record<string, unknown> | unknown, string, RegExp][] = [
    ['not an object', [], '$', /expected an object/],
    ['an unknown top-level key', edit(minimal(), ['Peer'], []), '$.Peer', /unknown key in the node configuration; expected NodeId, Overlay/],
    ['EdgeVPN\'s per-overlay nesting', edit(minimal(), ['Broker'], { Overlays: ['lab'] }), '$.Broker', /not a tinflow key \(EdgeVPN's\)/],
    ['a short node id', edit(minimal(), ['NodeId'], 'abc'), '$.NodeId', /expected 32 hex digits/],
    ['no overlay', edit(minimal(), ['Overlay'], undefined), '$.Overlay', /missing/],
    ['an overlay name with a space', edit(minimal(), ['Overlay'], 'my lab'), '$.Overlay', /1 to 32 letters/],
    ['no Signal section', edit(minimal(), ['Signal'], undefined), '$.Signal', /missing: the XMPP server/],
    ['an unknown Signal key', edit(minimal(), ['Signal', 'Hostaddress'], 'x'), '$.Signal.Hostaddress', /unknown key in Signal; expected HostAddress, Port/],
    ['no Username', edit(minimal(), ['Signal', 'Username'], undefined), '$.Signal.Username', /missing/],
    ['a user name with a plus', edit(minimal(), ['Signal', 'Username'], 'node+a@example.org'), '$.Signal.Username', /user: letters, digits/],
    ['an unknown SASL choice', edit(minimal(), ['Signal', 'Sasl'], 'scram'), '$.Signal.Sasl', /expected "default", "plain"/],
    ['a HostAddress that is no host', edit(minimal(), ['Signal', 'HostAddress'], 'xmpp server'), '$.Signal.HostAddress', /not a host name or an IP address/],
    ['a port out of range', edit(minimal(), ['Signal', 'Port'], 70000), '$.Signal.Port', /expected an integer 1\.\.65535, got 70000/],
    ['a port as words', edit(minimal(), ['Signal', 'Port'], 'xmpp'), '$.Signal.Port', /expected an integer 1\.\.65535, got "xmpp"/],
    ['a fractional port', edit(minimal(), ['Signal', 'Port'], 52.5), '$.Signal.Port', /expected an integer/],
    ['no password', edit(minimal(), ['Signal', 'Password'], undefined), '$.Signal.Password', /missing/],
    ['an empty password', edit(minimal(), ['Signal', 'Password'], ''), '$.Signal.Password', /must not be empty/],
    ['a user without a domain', edit(minimal(), ['Signal', 'Username'], 'node-a'), '$.Signal.Domain', /missing: Username "node-a" has no @domain/],
    ['a full JID with a resource', edit(minimal(), ['Signal', 'Username'], 'a@example.org/res'), '$.Signal.Username', /no resource/],
    ['two different domains', edit(minimal(), ['Signal', 'Domain'], 'other.org'), '$.Signal.Domain', /differs from the domain in Username/],
    ['x509 authentication', edit(minimal(), ['Signal', 'AuthenticationMethod'], 'x509'), '$.Signal.AuthenticationMethod', /only "PASSWORD"/],
    ['Tls as a boolean', edit(minimal(), ['Signal', 'Tls'], true), '$.Signal.Tls', /expected "starttls", "direct", "none", got true/],
    ['a CA file without TLS', edit(edit(minimal(), ['Signal', 'Tls'], 'none'), ['Signal', 'CaFile'], 'ca.pem'), '$.Signal.CaFile', /needs tls "starttls" or "direct"/],
    ['RelayOnly as a string', edit(edit(minimal(), ['LinkManager', 'Turn'], [{ Address: 't:3478', User: 'u', Password: 'p' }]), ['LinkManager', 'RelayOnly'], 'yes'), '$.LinkManager.RelayOnly', /expected true or false/],
    ['an unknown LinkManager key', edit(minimal(), ['LinkManager', 'Stuns'], []), '$.LinkManager.Stuns', /unknown key in LinkManager/],
    ['EdgeVPN\'s IgnoredNetInterfaces', edit(minimal(), ['LinkManager', 'IgnoredNetInterfaces'], ['docker0']), '$.LinkManager.IgnoredNetInterfaces', /BindAddress/],
    ['Stun not a list', edit(minimal(), ['LinkManager', 'Stun'], 'stun.example.org:3478'), '$.LinkManager.Stun', /expected a list/],
    ['a STUN host with a bad character', edit(minimal(), ['LinkManager', 'Stun'], ['ok.example.org', 'bad_host!:3478']), '$.LinkManager.Stun[1]', /not a host name or address/],
    ['a STUN port of 0', edit(minimal(), ['LinkManager', 'Stun'], ['stun.example.org:0']), '$.LinkManager.Stun[0]', /port 0/],
    ['a TURN URL in Stun', edit(minimal(), ['LinkManager', 'Stun'], ['turn:t.example.org']), '$.LinkManager.Stun[0]', /TURN servers go in Turn/],
    ['TURN over TLS', edit(minimal(), ['LinkManager', 'Turn'], [{ Address: 'turns:t.example.org', User: 'u', Password: 'p' }]), '$.LinkManager.Turn[0].Address', /not supported/],
    ['TURN over TCP', edit(minimal(), ['LinkManager', 'Turn'], [{ Address: 'turn:t.example.org:3478?transport=tcp', User: 'u', Password: 'p' }]), '$.LinkManager.Turn[0].Address', /only UDP works/],
    ['a TURN server without a user', edit(minimal(), ['LinkManager', 'Turn'], [{ Address: 't.example.org:3478', Password: 'p' }]), '$.LinkManager.Turn[0].User', /missing/],
    ['a TURN server with EdgeVPN\'s lower-case key', edit(minimal(), ['LinkManager', 'Turn'], [{ Address: 't:3478', User: 'u', Password: 'p', password: 'p' }]), '$.LinkManager.Turn[0].password', /unknown key in a TURN server/],
    ['RelayOnly without a TURN server', edit(minimal(), ['LinkManager', 'RelayOnly'], true), '$.LinkManager.RelayOnly', /needs a TURN server/],
    ['a port range upside down', edit(minimal(), ['LinkManager', 'PortRange'], { Begin: 50000, End: 40000 }), '$.LinkManager.PortRange.End', /below Begin 50000/],
    ['a port range below 1024', edit(minimal(), ['LinkManager', 'PortRange'], { Begin: 80, End: 90 }), '$.LinkManager.PortRange.Begin', /from 1024 to 65535/],
    ['a port range without End', edit(minimal(), ['LinkManager', 'PortRange'], { Begin: 40000 }), '$.LinkManager.PortRange.End', /missing/],
    ['a bind address that is a name', edit(minimal(), ['LinkManager', 'BindAddress'], 'eth0'), '$.LinkManager.BindAddress', /not an IPv4 or IPv6 address/],
    ['a link MTU too large', edit(minimal(), ['LinkManager', 'Mtu'], 9000), '$.LinkManager.Mtu', /from 68 to 8900/],
    ['a timeout shorter than the echo interval', edit(minimal(), ['LinkManager', 'TimeoutMs'], 800), '$.LinkManager.TimeoutMs', /longer than EchoIntervalMs \(1000 ms\)/],
    ['an echo interval as a string', edit(minimal(), ['LinkManager', 'EchoIntervalMs'], '500'), '$.LinkManager.EchoIntervalMs', /whole number/],
    ['a TAP name longer than 15 bytes', edit(minimal(), ['AppBridge', 'Name'], 'application-tap0'), '$.AppBridge.Name', /not an interface name/],
    ['an IPv4 address with its prefix', edit(minimal(), ['AppBridge', 'IP4'], '10.10.10.1/24'), '$.AppBridge.IP4', /not an IPv4 address \(the prefix goes in PrefixLen\)/],
    ['a prefix length of 33', edit(edit(minimal(), ['AppBridge', 'IP4'], '10.10.10.1'), ['AppBridge', 'PrefixLen'], 33), '$.AppBridge.PrefixLen', /expected an integer 1\.\.32/],
    ['a TAP MTU as large as the link MTU', edit(minimal(), ['AppBridge', 'MTU'], 1400), '$.AppBridge.MTU', /1400 is above 1351: a broadcast crosses the links in BoundedFlood's header \(49 bytes more\), which must fit in LinkManager\.Mtu 1400/],
    ['a TAP MTU one byte too large', edit(minimal(), ['AppBridge', 'MTU'], 1352), '$.AppBridge.MTU', /1352 is above 1351/],
    ['a TAP MTU too large for a smaller link MTU', edit(edit(minimal(), ['LinkManager', 'Mtu'], 1200), ['AppBridge', 'MTU'], 1200), '$.AppBridge.MTU', /1200 is above 1151: .*LinkManager\.Mtu 1200/],
    ['a link MTU with no room for a TAP', edit(minimal(), ['LinkManager', 'Mtu'], 116), '$.LinkManager.Mtu', /116 leaves no room for an application TAP: .*need at least 117/],
    ['EdgeVPN\'s lower-case bridge key', edit(minimal(), ['AppBridge', 'Mtu'], 1350), '$.AppBridge.Mtu', /unknown key in AppBridge; expected Name, IP4, PrefixLen, MTU/],
    ['the former Peers key', edit(minimal(), ['Peers'], [B]), '$.Peers', /no longer a tinflow key: static links are "Topology\.StaticEdges" now/],
    ['EdgeVPN\'s BridgeController', edit(minimal(), ['BridgeController'], { BoundedFlood: {} }), '$.BridgeController', /"AppBridge", BoundedFlood's flow timeouts are "BoundedFlood", its controller is "Controller"/],
    ['a top-level section nested in another', edit(minimal(), ['LinkManager', 'Topology'], {}), '$.LinkManager.Topology', /not a key of LinkManager: tinflow has it as "Topology", at the top level/],
    ['a key named like an Object method', edit(minimal(), ['constructor'], 1), '$.constructor', /unknown key in the node configuration/],
    ['a key named __proto__', JSON.parse('{"Overlay":"lab","__proto__":{}}') as unknown, '$.__proto__', /unknown key in the node configuration/],
    ['Topology not an object', edit(minimal(), ['Topology'], [B]), '$.Topology', /expected an object/],
    ['an unknown Topology key', edit(minimal(), ['Topology', 'MaxSuccessors'], 2), '$.Topology.MaxSuccessors', /unknown key in Topology; expected Role, ManualTopology, StaticEdges, MinSuccessors/],
    ['EdgeVPN\'s per-overlay Topology', edit(minimal(), ['Topology', 'Overlays'], { lab: {} }), '$.Topology.Overlays', /for one overlay/],
    ['EdgeVPN\'s LocationId', edit(minimal(), ['Topology', 'LocationId'], 'rack-1'), '$.Topology.LocationId', /not a tinflow key \(EdgeVPN's\): tinflow has no Geneve dataplane/],
    ['EdgeVPN\'s EncryptionRequired', edit(minimal(), ['Topology', 'EncryptionRequired'], true), '$.Topology.EncryptionRequired', /encrypted \(DTLS\), always/],
    ['EdgeVPN\'s MaxConcurrentOps', edit(minimal(), ['Topology', 'MaxConcurrentOps'], 1), '$.Topology.MaxConcurrentOps', /one change at a time/],
    ['an unknown role', edit(minimal(), ['Topology', 'Role'], 'hub'), '$.Topology.Role', /expected "switch" or "leaf" \(EdgeVPN's "RoleSwitch" is "switch"\), got "hub"/],
    ['a role that is no string', edit(minimal(), ['Topology', 'Role'], 1), '$.Topology.Role', /expected "switch" or "leaf" .*got 1/],
    ['EdgeVPN\'s Pendant role', edit(minimal(), ['Topology', 'Role'], 'Pendant'), '$.Topology.Role', /"Pendant" never made an EdgeVPN node a leaf/],
    ['EdgeVPN\'s RolePendant role', edit(minimal(), ['Topology', 'Role'], 'RolePendant'), '$.Topology.Role', /write "switch", or "leaf"/],
    ['ManualTopology as a string', edit(minimal(), ['Topology', 'ManualTopology'], 'true'), '$.Topology.ManualTopology', /expected true or false, got "true"/],
    ['StaticEdges not a list', edit(minimal(), ['Topology', 'StaticEdges'], B), '$.Topology.StaticEdges', /expected a list/],
    ['a static edge that is not hex', edit(minimal(), ['Topology', 'StaticEdges'], [B, 'node-b']), '$.Topology.StaticEdges[1]', /expected 32 hex digits \(a node id\), got "node-b"/],
    ['a static edge listed twice', edit(minimal(), ['Topology', 'StaticEdges'], [B, B.toUpperCase()]), '$.Topology.StaticEdges[1]', /listed twice/],
    ['the node itself as a static edge', edit(edit(minimal(), ['NodeId'], A.toUpperCase()), ['Topology', 'StaticEdges'], [B, A]), '$.Topology.StaticEdges[1]', /is this node's own NodeId/],
    ['no successors', edit(minimal(), ['Topology', 'MinSuccessors'], 0), '$.Topology.MinSuccessors', /expected an integer 1\.\.16, got 0/],
    ['17 successors', edit(minimal(), ['Topology', 'MinSuccessors'], 17), '$.Topology.MinSuccessors', /1\.\.16, got 17/],
    ['a negative long-distance count', edit(minimal(), ['Topology', 'MaxLongDistEdges'], -1), '$.Topology.MaxLongDistEdges', /expected an integer 0\.\.64, got -1/],
    ['a fractional long-distance count', edit(minimal(), ['Topology', 'MaxLongDistEdges'], 2.5), '$.Topology.MaxLongDistEdges', /0\.\.64, got 2\.5/],
    ['EdgeVPN\'s computed default written as null', edit(minimal(), ['Topology', 'MaxLongDistEdges'], null), '$.Topology.MaxLongDistEdges', /0\.\.64, got null/],
    ['too many incoming long-distance edges', edit(minimal(), ['Topology', 'MaxIncomingLongDistEdges'], 65), '$.Topology.MaxIncomingLongDistEdges', /0\.\.64, got 65/],
    ['incoming long-distance edges for a leaf', edit(minimal(), ['Topology'], { Role: 'leaf', MaxIncomingLongDistEdges: 2 }), '$.Topology.MaxIncomingLongDistEdges', /leaf .* accepts no incoming links/],
    ['too many on-demand edges', edit(minimal(), ['Topology', 'MaxOnDemandEdges'], 17), '$.Topology.MaxOnDemandEdges', /expected an integer 0\.\.16, got 17/],
    ['a threshold in MB', edit(minimal(), ['Topology', 'DemandThreshold'], '10MB'), '$.Topology.DemandThreshold', /"<n>K", "<n>M", "<n>G" \(1024-based: EdgeVPN's "10M" is 10 MiB\), got "10MB"/],
    ['a threshold of 0', edit(minimal(), ['Topology', 'DemandThreshold'], 0), '$.Topology.DemandThreshold', /from 1 to 1024G/],
    ['a threshold of 0M', edit(minimal(), ['Topology', 'DemandThreshold'], '0M'), '$.Topology.DemandThreshold', /from 1 to 1024G/],
    ['a threshold above 1 TiB', edit(minimal(), ['Topology', 'DemandThreshold'], '1025G'), '$.Topology.DemandThreshold', /got "1025G"/],
    ['a fractional threshold', edit(minimal(), ['Topology', 'DemandThreshold'], '1.5M'), '$.Topology.DemandThreshold', /got "1\.5M"/],
    ['a negative threshold', edit(minimal(), ['Topology', 'DemandThreshold'], -1), '$.Topology.DemandThreshold', /got -1/],
    ['a threshold with a space', edit(minimal(), ['Topology', 'DemandThreshold'], '10 M'), '$.Topology.DemandThreshold', /got "10 M"/],
    ['a negative MinConnectedMs', edit(minimal(), ['Topology', 'MinConnectedMs'], -1), '$.Topology.MinConnectedMs', /expected an integer 0\.\.86400000, got -1/],
    ['MinConnectedMs over a day', edit(minimal(), ['Topology', 'MinConnectedMs'], 86_400_001), '$.Topology.MinConnectedMs', /0\.\.86400000/],
    ['BoundedFlood not an object', edit(minimal(), ['BoundedFlood'], 60), '$.BoundedFlood', /expected an object, got 60/],
    ['an unknown BoundedFlood key', edit(minimal(), ['BoundedFlood', 'IdleTimeout'], 60), '$.BoundedFlood.IdleTimeout', /unknown key in BoundedFlood; expected FlowIdleTimeout, FlowHardTimeout, TrafficAnalysisInterval/],
    ['EdgeVPN\'s MaxOnDemandEdges in BoundedFlood', edit(minimal(), ['BoundedFlood', 'MaxOnDemandEdges'], 1), '$.BoundedFlood.MaxOnDemandEdges', /not a key of BoundedFlood: tinflow has it as "Topology\.MaxOnDemandEdges"$/],
    ['EdgeVPN\'s DemandThreshold in BoundedFlood', edit(minimal(), ['BoundedFlood', 'DemandThreshold'], '10M'), '$.BoundedFlood.DemandThreshold', /"Topology\.DemandThreshold"/],
    ['EdgeVPN\'s LinkCheckInterval', edit(minimal(), ['BoundedFlood', 'LinkCheckInterval'], 65), '$.BoundedFlood.LinkCheckInterval', /LinkManager\.EchoIntervalMs/],
    ['an idle timeout beyond 16 bits', edit(minimal(), ['BoundedFlood', 'FlowIdleTimeout'], 65536), '$.BoundedFlood.FlowIdleTimeout', /expected an integer 0\.\.65535, got 65536/],
    ['an idle timeout as a string', edit(minimal(), ['BoundedFlood', 'FlowIdleTimeout'], '60'), '$.BoundedFlood.FlowIdleTimeout', /got "60"/],
    ['a negative hard timeout', edit(minimal(), ['BoundedFlood', 'FlowHardTimeout'], -1), '$.BoundedFlood.FlowHardTimeout', /0\.\.65535, got -1/],
    ['a traffic analysis interval of 0', edit(minimal(), ['BoundedFlood', 'TrafficAnalysisInterval'], 0), '$.BoundedFlood.TrafficAnalysisInterval', /expected an integer 1\.\.3600, got 0/],
    ['a traffic analysis interval in ms', edit(minimal(), ['BoundedFlood', 'TrafficAnalysisInterval'], 10000), '$.BoundedFlood.TrafficAnalysisInterval', /1\.\.3600, got 10000/],
    ['Controller not an object', edit(minimal(), ['Controller'], 'tcp:127.0.0.1:6653'), '$.Controller', /expected an object/],
    ['an unknown Controller key', edit(minimal(), ['Controller', 'Targets'], []), '$.Controller.Targets', /unknown key in Controller; expected Target, FailMode/],
    ['EdgeVPN\'s SDNControllerPort', edit(minimal(), ['Controller', 'SDNControllerPort'], 6633), '$.Controller.SDNControllerPort', /"Controller\.Target"/],
    ['standalone with the in-tree controller', edit(minimal(), ['Controller'], { FailMode: 'standalone' }), '$.Controller.FailMode', /"standalone" needs an external controller \("Target"\)/],
    ['an unknown fail mode', edit(minimal(), ['Controller', 'FailMode'], 'open'), '$.Controller.FailMode', /expected "secure" or "standalone", got "open"/],
    ['an unknown fail mode with a target', edit(minimal(), ['Controller'], { Target: 'tcp:127.0.0.1:6653', FailMode: 'Secure' }), '$.Controller.FailMode', /got "Secure"/],
    ['a target of an unknown kind', edit(minimal(), ['Controller', 'Target'], 'udp:127.0.0.1:6653'), '$.Controller.Target', /bad target "udp:127\.0\.0\.1:6653": unknown kind "udp" \(expected tcp:IP:PORT\)/],
    ['an ssl: target (no certificate settings yet)', edit(minimal(), ['Controller', 'Target'], 'ssl:127.0.0.1:6653'), '$.Controller.Target', /ssl: targets are not supported yet/],
    ['a passive target', edit(minimal(), ['Controller', 'Target'], 'ptcp:6653'), '$.Controller.Target', /unknown kind "ptcp"/],
    ['a target without a port', edit(minimal(), ['Controller', 'Target'], 'tcp:127.0.0.1'), '$.Controller.Target', /needs a host and a port/],
    ['a target port out of range', edit(minimal(), ['Controller', 'Target'], 'tcp:127.0.0.1:70000'), '$.Controller.Target', /port "70000" is not 0\.\.65535/],
    ['a target port of 0', edit(minimal(), ['Controller', 'Target'], 'tcp:127.0.0.1:0'), '$.Controller.Target', /port 0: a controller to dial needs its port/],
    ['a target host with a bad character', edit(minimal(), ['Controller', 'Target'], 'tcp:ctl_host!:6653'), '$.Controller.Target', /"ctl_host!" is not a host name or an IP address/],
    ['a target as a number', edit(minimal(), ['Controller', 'Target'], 6653), '$.Controller.Target', /expected a string, got 6653/],
    ['an empty target', edit(minimal(), ['Controller', 'Target'], ''), '$.Controller.Target', /must not be empty/],
    ['Status not an object', edit(minimal(), ['Status'], '127.0.0.1:9100'), '$.Status', /expected an object/],
    ['an unknown Status key', edit(minimal(), ['Status', 'Port'], 9100), '$.Status.Port', /unknown key in Status; expected Listen/],
    ['a listen address without a port', edit(minimal(), ['Status', 'Listen'], '127.0.0.1'), '$.Status.Listen', /expected IP:PORT/],
    ['a port alone', edit(minimal(), ['Status', 'Listen'], '9100'), '$.Status.Listen', /expected IP:PORT/],
    ['an IPv6 listen address without brackets', edit(minimal(), ['Status', 'Listen'], '::1:9100'), '$.Status.Listen', /in brackets: "\[::1\]:9100"/],
    ['a host name to listen on', edit(minimal(), ['Status', 'Listen'], 'localhost:9100'), '$.Status.Listen', /"localhost" is not an IPv4 address \(a name is not taken/],
    ['a bad IPv6 listen address', edit(minimal(), ['Status', 'Listen'], '[::g]:9100'), '$.Status.Listen', /"::g" is not an IPv6 address/],
    ['an IPv4 address in brackets', edit(minimal(), ['Status', 'Listen'], '[127.0.0.1]:9100'), '$.Status.Listen', /not an IPv6 address/],
    ['a listen port out of range', edit(minimal(), ['Status', 'Listen'], '127.0.0.1:65536'), '$.Status.Listen', /port 65536 is not 0\.\.65535/],
    ['a listen address as a number', edit(minimal(), ['Status', 'Listen'], 9100), '$.Status.Listen', /expected a string/],
    ['the status on every address without a token', edit(minimal(), ['Status', 'Listen'], '0.0.0.0:9100'), '$.Status.Listen', /0\.0\.0\.0 is not loopback: .* set Status\.TokenFile/],
    ['the status on a LAN address without a token', edit(minimal(), ['Status', 'Listen'], '192.0.2.7:9100'), '$.Status.Listen', /192\.0\.2\.7 is not loopback/],
    ['the status on IPv6 any without a token', edit(minimal(), ['Status', 'Listen'], '[::]:9100'), '$.Status.Listen', /\[::\] is not loopback/],
    ['an empty token file path', edit(minimal(), ['Status', 'TokenFile'], ''), '$.Status.TokenFile', /must not be empty/],
    ['the status on every address without a token', edit(minimal(), ['Status', 'Listen'], '0.0.0.0:9100'), '$.Status.Listen', /0\.0\.0\.0 is not loopback: .* set Status\.TokenFile/],
    ['the status on a LAN address without a token', edit(minimal(), ['Status', 'Listen'], '192.0.2.7:9100'), '$.Status.Listen', /192\.0\.2\.7 is not loopback/],
    ['the status on IPv6 any without a token', edit(minimal(), ['Status', 'Listen'], '[::]:9100'), '$.Status.Listen', /\[::\] is not loopback/],
    ['an empty token file path', edit(minimal(), ['Status', 'TokenFile'], ''), '$.Status.TokenFile', /must not be empty/],
    ['a log level Python does not have either', edit(minimal(), ['LogLevel'], 'verbose'), '$.LogLevel', /expected one of trace, debug, info/],
    ['an empty state folder', edit(minimal(), ['StateDir'], ''), '$.StateDir', /must not be empty/],
  ];

  it.each(invalid)('refuses %s, naming the key path', (_what, input, path, detail) => {
    const e = errorOf(input);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.errors).toHaveLength(1);
    expect(e.key).toBe(path);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
    expect(e.message).toMatch(detail);
  });

  it('has a table of at least 20 invalid configs', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(20);
  });

  it('reports the first mistake of every section at once', () => {
    let bad = edit(minimal(), ['Signal', 'Port'], 0);
    bad = edit(bad, ['LinkManager', 'Mtu'], 10);
    bad = edit(bad, ['AppBridge', 'IP4'], '10.0.0.300');
    bad = edit(bad, ['Topology', 'StaticEdges'], ['x']);
    bad = edit(bad, ['BoundedFlood', 'FlowIdleTimeout'], -1);
    bad = edit(bad, ['Controller', 'FailMode'], 'standalone');
    bad = edit(bad, ['Status', 'Listen'], 'anywhere');
    const e = errorOf(bad);
    expect(e.errors.map((x) => x.key)).toEqual([
      '$.Signal.Port', '$.LinkManager.Mtu', '$.AppBridge.IP4', '$.Topology.StaticEdges[0]', '$.BoundedFlood.FlowIdleTimeout', '$.Controller.FailMode', '$.Status.Listen',
    ]);
    expect(e.message.split('\n')).toHaveLength(7);
  });

  describe('files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinflow-overlay-config-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('takes relative paths from the file\'s folder', () => {
      const f = join(dir, 'node.json');
      writeFileSync(f, JSON.stringify(edit(minimal(), ['StateDir'], 'var')), { mode: 0o600 });
      expect(loadNodeConfig(f).stateDir).toBe(join(dir, 'var'));
    });

    it('names the file that is missing or not JSON', () => {
      expect(() => loadNodeConfig(join(dir, 'nope.json'))).toThrow(/cannot read .*nope\.json/);
      const f = join(dir, 'bad.json');
      writeFileSync(f, '{"Overlay": "lab",}', { mode: 0o600 });
      expect(() => loadNodeConfig(f)).toThrow(/bad\.json is not JSON/);
    });
  });
});
