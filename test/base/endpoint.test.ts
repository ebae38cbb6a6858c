/** base/endpoint.ts: every form both sides write, and what is wrong with bad ones. */
import { describe, expect, it } from 'vitest';
import { ENDPOINT_KINDS, EndpointError, formatEndpoint, parseEndpoint } from '../../base/endpoint.js';

describe('parseEndpoint: good forms', () => {
  it.each([
    ['tcp:127.0.0.1:6653', { kind: 'tcp', host: '127.0.0.1', port: 6653 }],
    ['ssl:ctl.example:6653', { kind: 'ssl', host: 'ctl.example', port: 6653 }],
    ['tcp:[::1]:6653', { kind: 'tcp', host: '::1', port: 6653 }],
    ['tcp:fe80::1:6653', { kind: 'tcp', host: 'fe80::1', port: 6653 }],
    ['tcp:127.0.0.1:0', { kind: 'tcp', host: '127.0.0.1', port: 0 }],
    ['ptcp:6653', { kind: 'ptcp', host: '0.0.0.0', port: 6653 }],
    ['pssl:6653:127.0.0.1', { kind: 'pssl', host: '127.0.0.1', port: 6653 }],
    ['ptcp:6653:::1', { kind: 'ptcp', host: '::1', port: 6653 }],
    ['ptcp:6653:[::1]', { kind: 'ptcp', host: '::1', port: 6653 }],
    ['unix:/run/br0.ctl', { kind: 'unix', path: '/run/br0.ctl' }],
    ['punix:/tmp/a:b', { kind: 'punix', path: '/tmp/a:b' }],
  ])('%s', (text, want) => {
    const ep = parseEndpoint(text, ENDPOINT_KINDS);
    expect(ep).toEqual(want);
    // The text form reads back as the same endpoint.
    expect(parseEndpoint(formatEndpoint(ep), ENDPOINT_KINDS)).toEqual(want);
  });
});

describe('parseEndpoint: bad input names the value, the reason and the accepted forms', () => {
  it.each([
    ['udp:1.2.3.4:5', ['tcp', 'ssl', 'ptcp', 'pssl'], 'bad controller target "udp:1.2.3.4:5": unknown kind "udp" (expected tcp:IP:PORT, ssl:IP:PORT, ptcp:PORT[:IP] or pssl:PORT[:IP])'],
    ['ptcp:6841', ['tcp', 'ssl'], 'bad controller target "ptcp:6841": unknown kind "ptcp" (expected tcp:IP:PORT or ssl:IP:PORT)'],
    ['localhost', ['tcp'], 'bad controller target "localhost": unknown kind "localhost" (expected tcp:IP:PORT)'],
    ['', ['tcp'], 'bad controller target "": unknown kind "" (expected tcp:IP:PORT)'],
    ['tcp:127.0.0.1', ['tcp'], 'bad controller target "tcp:127.0.0.1": needs a host and a port (expected tcp:IP:PORT)'],
    ['tcp::6653', ['tcp'], 'bad controller target "tcp::6653": empty host (expected tcp:IP:PORT)'],
    ['tcp:h:65536', ['tcp'], 'bad controller target "tcp:h:65536": port "65536" is not 0..65535 (expected tcp:IP:PORT)'],
    ['tcp:h:-1', ['tcp'], 'bad controller target "tcp:h:-1": port "-1" is not 0..65535 (expected tcp:IP:PORT)'],
    ['tcp:h:http', ['tcp'], 'bad controller target "tcp:h:http": port "http" is not 0..65535 (expected tcp:IP:PORT)'],
    ['tcp:h:0x10', ['tcp'], 'bad controller target "tcp:h:0x10": port "0x10" is not 0..65535 (expected tcp:IP:PORT)'],
    ['ptcp', ['ptcp'], 'bad controller target "ptcp": needs a port (expected ptcp:PORT[:IP])'],
    ['ptcp:', ['ptcp'], 'bad controller target "ptcp:": port "" is not 0..65535 (expected ptcp:PORT[:IP])'],
    ['ptcp:99999', ['ptcp'], 'bad controller target "ptcp:99999": port "99999" is not 0..65535 (expected ptcp:PORT[:IP])'],
    ['unix:', ['unix'], 'bad controller target "unix:": empty path (expected unix:PATH)'],
  ] as const)('%j', (text, kinds, message) => {
    let err: unknown;
    try {
      parseEndpoint(text, kinds, 'controller target');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EndpointError);
    expect((err as EndpointError).message).toBe(message);
    expect((err as EndpointError).input).toBe(text);
  });
});
