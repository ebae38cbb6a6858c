/** base/addr.ts: MAC, IPv4 and IPv6 text both ways (round trips, RFC 5952 output) and bad text. */
import { describe, expect, it } from 'vitest';
import { AddrError, type AddrKind, addrToText, parseAddr, parseIpv6, parseMacInto } from '../../base/addr.js';

describe('round trips', () => {
  it.each([
    ['mac', '00:11:22:aa:bb:cc', '00:11:22:aa:bb:cc'],
    ['mac', '0:1:2:A:B:C', '00:01:02:0a:0b:0c'],
    ['mac', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff'],
    ['ipv4', '10.0.0.1', '10.0.0.1'],
    ['ipv4', '0.0.0.0', '0.0.0.0'],
    ['ipv4', '255.255.255.255', '255.255.255.255'],
    ['ipv4', '010.001.000.009', '10.1.0.9'],
    ['ipv6', '::', '::'],
    ['ipv6', '::1', '::1'],
    ['ipv6', '1::', '1::'],
    ['ipv6', 'fe80:0:0:0:0:0:0:1', 'fe80::1'],
    ['ipv6', '2001:DB8::8:800:200C:417A', '2001:db8::8:800:200c:417a'],
    ['ipv6', '1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['ipv6', '1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['ipv6', '1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
    ['ipv6', '::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['ipv6', '::10.0.0.1', '::10.0.0.1'],
    ['ipv6', '64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ] as const)('%s %s → %s', (kind: AddrKind, text, canonical) => {
    const b = parseAddr(kind, text);
    expect(addrToText(kind, b)).toBe(canonical);
    expect(addrToText(kind, parseAddr(kind, canonical))).toBe(canonical);
  });

  it('reads and writes at an offset', () => {
    const buf = Buffer.alloc(10, 0xee);
    expect(parseMacInto('01:02:03:04:05:06', buf, 2)).toBe(true);
    expect(buf.toString('hex')).toBe('eeee010203040506eeee');
    expect(addrToText('mac', buf, 2)).toBe('01:02:03:04:05:06');
    expect(addrToText('ipv6', Buffer.concat([Buffer.alloc(3), parseIpv6('fe80::1')]), 3)).toBe('fe80::1');
  });
});

describe('bad text', () => {
  it.each([
    ['mac', '00:11:22:33:44'],
    ['mac', '00:11:22:33:44:55:66'],
    ['mac', '001:11:22:33:44:55'],
    ['mac', '00-11-22-33-44-55'],
    ['mac', 'gg:11:22:33:44:55'],
    ['mac', ''],
    ['ipv4', '10.0.0.256'],
    ['ipv4', '10.0.0'],
    ['ipv4', '10.0.0.1.2'],
    ['ipv4', '1.2.3.0004'],
    ['ipv4', '1..2.3'],
    ['ipv4', ' 1.2.3.4'],
    ['ipv6', '1::2::3'],
    ['ipv6', 'fe80:::1'],
    ['ipv6', '1:2:3:4:5:6:7:8:9'],
    ['ipv6', '1:2:3:4:5:6:7'],
    ['ipv6', '12345::'],
    ['ipv6', '::ffff:10.0.0.256'],
    ['ipv6', '1:2:3:4:5:6:7::8'],
    ['ipv6', '10.0.0.1'],
    ['ipv6', ''],
  ] as const)('%s %j', (kind: AddrKind, text) => {
    expect(() => parseAddr(kind, text)).toThrow(AddrError);
    expect(() => parseAddr(kind, text)).toThrow(`got ${JSON.stringify(text)}`);
  });
});
