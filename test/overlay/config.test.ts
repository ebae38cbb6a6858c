/**
 * The node configuration (overlay/config.ts): EdgeVPN's keys where they map, defaults filled in from one
 * place, a frozen result, the resolved config printed back in the file's shape (secrets masked), and a
 * table of invalid configs, each refused with the key path and what was wrong.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../base/cli.js';
import { DEFAULTS as LINK_DEFAULTS } from '../../link/config.js';
import { resolveSignalConfig } from '../../link/signal-config.js';
import { DEFAULTS, NodeConfigError, loadNodeConfig, nodeConfigJson, resolveNodeConfig } from '../../overlay/config.js';

const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';

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
  Peers: [B],
  Controller: { FailMode: 'standalone' },
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
      appBridge: { name: 'tf-lab', ip4: undefined, prefixLen: 24, mtu: LINK_DEFAULTS.mtu },
      peers: [],
      controller: { failMode: 'standalone' },
      logLevel: 'info',
      stateDir: DEFAULTS.stateDir,
    });
    for (const part of [c, c.signal, c.link, c.link.iceServers, c.appBridge, c.peers, c.controller]) expect(Object.isFrozen(part)).toBe(true);
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
    expect(c.peers).toEqual([B]);
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
    expect(resolveNodeConfig(nodeConfigJson(c, { mask: false }))).toEqual(c);
    const m = resolveNodeConfig(minimal());
    expect(resolveNodeConfig(nodeConfigJson(m, { mask: false }))).toEqual(m);
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
    ['a TAP MTU above the link MTU', edit(minimal(), ['AppBridge', 'MTU'], 1500), '$.AppBridge.MTU', /larger than the links carry \(LinkManager.Mtu 1400\)/],
    ['EdgeVPN\'s lower-case bridge key', edit(minimal(), ['AppBridge', 'Mtu'], 1350), '$.AppBridge.Mtu', /unknown key in AppBridge; expected Name, IP4, PrefixLen, MTU/],
    ['Peers not a list', edit(minimal(), ['Peers'], B), '$.Peers', /expected a list/],
    ['a peer id that is not hex', edit(minimal(), ['Peers'], [B, 'node-b']), '$.Peers[1]', /expected 32 hex digits/],
    ['a peer listed twice', edit(minimal(), ['Peers'], [B, B.toUpperCase()]), '$.Peers[1]', /listed twice/],
    ['the node itself as a peer', edit(edit(minimal(), ['NodeId'], A), ['Peers'], [A]), '$.Peers[0]', /own NodeId/],
    ['a controller fail mode other than standalone', edit(minimal(), ['Controller'], { FailMode: 'secure' }), '$.Controller.FailMode', /only "standalone"/],
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
    bad = edit(bad, ['Peers'], ['x']);
    const e = errorOf(bad);
    expect(e.errors.map((x) => x.key)).toEqual(['$.Signal.Port', '$.LinkManager.Mtu', '$.AppBridge.IP4', '$.Peers[0]']);
    expect(e.message.split('\n')).toHaveLength(4);
  });

  describe('files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinflow-overlay-config-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('takes relative paths from the file\'s folder', () => {
      const f = join(dir, 'node.json');
      writeFileSync(f, JSON.stringify(edit(minimal(), ['StateDir'], 'var')));
      expect(loadNodeConfig(f).stateDir).toBe(join(dir, 'var'));
    });

    it('names the file that is missing or not JSON', () => {
      expect(() => loadNodeConfig(join(dir, 'nope.json'))).toThrow(/cannot read .*nope\.json/);
      const f = join(dir, 'bad.json');
      writeFileSync(f, '{"Overlay": "lab",}');
      expect(() => loadNodeConfig(f)).toThrow(/bad\.json is not JSON/);
    });
  });
});
