/** base/cli.ts: the flag kit's errors carry the flag and read as the CLIs print them. */
import { describe, expect, it } from 'vitest';
import { ConfigError, endpointFlag, enumFlag, intFlag, parseFlags } from '../../base/cli.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no ConfigError');
}

describe('parseFlags', () => {
  const options = { name: { type: 'string' }, port: { type: 'string', multiple: true }, offload: { type: 'boolean' } } as const;

  it('returns typed values', () => {
    const v = parseFlags(['--name', 'br0', '--port', '1=a', '--port', '2=b', '--offload'], options);
    expect(v).toEqual({ name: 'br0', port: ['1=a', '2=b'], offload: true });
  });

  it.each([
    [['--bogus'], '--bogus', "Unknown option '--bogus'"],
    [['--name'], '--name', "Option '--name <value>' argument missing"],
    [['stray'], '', "Unexpected argument 'stray'"],
    [['--name', '-x'], '--name', "Option '--name' argument is ambiguous."],
  ])('%j: one line, naming the flag', (argv, key, start) => {
    const e = configError(() => parseFlags(argv, options));
    expect(e.key).toBe(key);
    expect(e.message.startsWith(start)).toBe(true);
    expect(e.message).not.toContain('\n');
  });
});

describe('value readers', () => {
  it('intFlag: decimal digits within the range', () => {
    expect(intFlag('--tables', '254', 1, 254)).toBe(254);
    for (const bad of ['255', '0', '1.5', '-1', '0x10', '', ' 3']) {
      const e = configError(() => intFlag('--tables', bad, 1, 254));
      expect(e.key).toBe('--tables');
      expect(e.message).toBe(`--tables: expected a whole number 1..254, got ${JSON.stringify(bad)}`);
    }
  });

  it('enumFlag: one of the choices, listed in the error', () => {
    expect(enumFlag('--fail-mode', 'secure', ['secure', 'standalone'])).toBe('secure');
    expect(configError(() => enumFlag('--fail-mode', 'open', ['secure', 'standalone'])).message).toBe('--fail-mode: expected secure or standalone, got "open"');
    expect(configError(() => enumFlag('--log-level', 'x', ['a', 'b', 'c'])).message).toBe('--log-level: expected a, b or c, got "x"');
  });

  it('endpointFlag: the endpoint, or the endpoint error with the flag as key', () => {
    expect(endpointFlag('--listen', 'tcp:127.0.0.1:6653', ['tcp', 'ssl'])).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 6653 });
    const bare = configError(() => endpointFlag('--listen', 'udp:1.2.3.4:5', ['tcp', 'ssl']));
    expect(bare.key).toBe('--listen');
    expect(bare.message).toBe('bad --listen "udp:1.2.3.4:5": unknown kind "udp" (expected tcp:IP:PORT or ssl:IP:PORT)');
    const prefixed = configError(() => endpointFlag('--controller', 'tcp:h', ['tcp'], { what: 'controller target', prefix: true }));
    expect(prefixed.message).toBe('--controller: bad controller target "tcp:h": needs a host and a port (expected tcp:IP:PORT)');
  });

  it('ConfigError: key and detail make the message unless one is given', () => {
    expect(new ConfigError('--name', 'required').message).toBe('--name: required');
    expect(new ConfigError('', 'bad arguments').message).toBe('bad arguments');
    expect(new ConfigError('$.ports[2].name', 'unknown key').message).toBe('$.ports[2].name: unknown key');
    expect(new ConfigError('--cert', 'x', '--cert and --key go together').message).toBe('--cert and --key go together');
  });
});
