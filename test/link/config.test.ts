/**
 * Link configuration (link/config.ts): defaults in one place, a frozen result, ICE server URLs as
 * libdatachannel can use them, and a table of invalid configurations, each refused with the key path
 * and what was wrong.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../base/cli.js';
import { DEFAULTS, resolveLinkConfig } from '../../link/config.js';

describe('link configuration', () => {
  it('fills in the defaults and freezes the result', () => {
    const c = resolveLinkConfig({});
    expect(c).toEqual({
      iceServers: [],
      iceTransportPolicy: 'all',
      portRange: undefined,
      bindAddress: undefined,
      mtu: DEFAULTS.mtu,
      echoIntervalMs: 1000,
      timeoutMs: 5000,
      setupTimeoutMs: 40_000,
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.iceServers)).toBe(true);
    expect(resolveLinkConfig()).toEqual(c);
  });

  it('takes STUN and TURN servers, a relay policy, a port range, an address, an MTU and the timers', () => {
    const c = resolveLinkConfig({
      iceServers: [
        'stun:stun.example.org',
        { url: 'stun:[2001:db8::1]:3479' },
        { url: 'turn:198.51.100.7:3478?transport=udp', username: 'node7', credential: 'p@ss:word' },
      ],
      iceTransportPolicy: 'relay',
      portRangeBegin: 40000,
      portRangeEnd: 40100,
      bindAddress: '192.0.2.1',
      mtu: 1280,
      echoIntervalMs: 500,
      timeoutMs: 3000,
      setupTimeoutMs: 60000,
    });
    expect(c.iceServers).toEqual([
      { kind: 'stun', host: 'stun.example.org', port: 3478 },
      { kind: 'stun', host: '2001:db8::1', port: 3479 },
      { kind: 'turn', host: '198.51.100.7', port: 3478, username: 'node7', credential: 'p@ss:word' },
    ]);
    expect(c).toMatchObject({ iceTransportPolicy: 'relay', portRange: { begin: 40000, end: 40100 }, bindAddress: '192.0.2.1', mtu: 1280, echoIntervalMs: 500, timeoutMs: 3000, setupTimeoutMs: 60000 });
  });

  const turn = { url: 'turn:t.example.org', username: 'u', credential: 'c' };
  it.each([
    [[], '$', /expected an object/],
    [{ mtus: 1400 }, '$.mtus', /unknown key in a link configuration/],
    [{ iceServers: 'stun:x' }, '$.iceServers', /expected a list/],
    [{ iceServers: ['http://x'] }, '$.iceServers[0]', /is not stun:HOST/],
    [{ iceServers: ['stun:'] }, '$.iceServers[0]', /is not stun:HOST/],
    [{ iceServers: ['stun:bad_host!'] }, '$.iceServers[0]', /is not a host name/],
    [{ iceServers: ['stun:x:0'] }, '$.iceServers[0]', /port 0/],
    [{ iceServers: ['stun:x:70000'] }, '$.iceServers[0]', /port 70000/],
    [{ iceServers: ['turn:x'] }, '$.iceServers[0]', /needs a username and a credential/],
    [{ iceServers: [{ url: 'turn:x', username: 'u' }] }, '$.iceServers[0].credential', /needs a credential/],
    [{ iceServers: [{ url: 'turn:x', credential: 'c' }] }, '$.iceServers[0].username', /needs a username/],
    [{ iceServers: [{ url: 'stun:x', username: 'u', credential: 'c' }] }, '$.iceServers[0]', /STUN server takes no username/],
    [{ iceServers: [{ url: 'turn:x?transport=tcp', username: 'u', credential: 'c' }] }, '$.iceServers[0].url', /only UDP works/],
    [{ iceServers: [{ url: 'turns:x', username: 'u', credential: 'c' }] }, '$.iceServers[0].url', /over TLS\) is not supported/],
    [{ iceServers: [{ urls: 'stun:x' }] }, '$.iceServers[0].urls', /unknown key in an ICE server/],
    [{ iceServers: [{ url: 5 }] }, '$.iceServers[0].url', /expected a string/],
    [{ iceServers: [turn], iceTransportPolicy: 'none' }, '$.iceTransportPolicy', /expected "all" or "relay"/],
    [{ iceTransportPolicy: 'relay' }, '$.iceTransportPolicy', /needs a TURN server/],
    [{ iceServers: ['stun:x'], iceTransportPolicy: 'relay' }, '$.iceTransportPolicy', /needs a TURN server/],
    [{ portRangeBegin: 40000 }, '$.portRangeEnd', /missing/],
    [{ portRangeEnd: 40000 }, '$.portRangeBegin', /missing/],
    [{ portRangeBegin: 40100, portRangeEnd: 40000 }, '$.portRangeEnd', /below portRangeBegin 40100/],
    [{ portRangeBegin: 80, portRangeEnd: 90 }, '$.portRangeBegin', /from 1024 to 65535/],
    [{ bindAddress: 'localhost' }, '$.bindAddress', /not an IPv4 or IPv6 address/],
    [{ mtu: 67 }, '$.mtu', /from 68 to 8900/],
    [{ mtu: 9000 }, '$.mtu', /from 68 to 8900/],
    [{ mtu: 1400.5 }, '$.mtu', /whole number/],
    [{ mtu: '1400' }, '$.mtu', /whole number/],
    [{ echoIntervalMs: 0 }, '$.echoIntervalMs', /from 10/],
    [{ echoIntervalMs: 1000, timeoutMs: 1000 }, '$.timeoutMs', /must be longer than echoIntervalMs/],
    [{ setupTimeoutMs: 10 }, '$.setupTimeoutMs', /from 100/],
  ] as const)('%j is refused at %s', (input, key, why) => {
    let err: unknown;
    try {
      resolveLinkConfig(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as ConfigError).message).toMatch(why);
  });

  it('names the key path under where the configuration sits', () => {
    expect(() => resolveLinkConfig({ mtu: 1 }, '$.link')).toThrow(/^\$\.link\.mtu: /);
  });
});
