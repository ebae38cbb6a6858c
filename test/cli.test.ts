/** The `tinflow codec` command line, run as a user runs it (needs `npm run build` first). */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseJson } from '../openflow/index.js';
import { VECTOR_DIR } from './openflow/vectors.js';

const BIN = resolve(process.cwd(), 'scripts/tinflow');

function run(args: string[], input?: string | Buffer) {
  const r = spawnSync(BIN, args, { input: typeof input === 'string' ? Buffer.from(input) : input, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('tinflow codec', () => {
  it('is built', () => {
    expect(existsSync(resolve(process.cwd(), 'dist/scripts/cli.js')), 'run npm run build first').toBe(true);
  });

  const flowMod = readFileSync(resolve(VECTOR_DIR, '4-2-ofp_flow_mod.packet'));
  const flowModJson = parseJson(readFileSync(resolve(VECTOR_DIR, '4-2-ofp_flow_mod.packet.json'), 'utf8'));
  const hello = readFileSync(resolve(VECTOR_DIR, '4-10-ofp_hello.packet'));

  it('decode --hex prints one Ryu-JSON object per line, for concatenated messages', () => {
    const r = run(['codec', 'decode', '--hex', Buffer.concat([flowMod, hello]).toString('hex')]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(parseJson(lines[0] as string)).toEqual(flowModJson);
    expect(Object.keys(parseJson(lines[1] as string) as object)).toEqual(['OFPHello']);
  });

  it('decode reads binary stdin', () => {
    const r = run(['codec', 'decode'], flowMod);
    expect(r.status).toBe(0);
    expect(parseJson(r.stdout.trim())).toEqual(flowModJson);
  });

  it('encode reads JSON lines and a JSON array, computing missing lengths', () => {
    const line = JSON.stringify({ OFPHello: { elements: [{ OFPHelloElemVersionBitmap: { type: 1, versions: [1, 2, 3, 9, 10, 30] } }] } });
    const r1 = run(['codec', 'encode'], `${line}\n{"OFPBarrierRequest":{}}\n`);
    expect(r1.status).toBe(0);
    expect(r1.stdout.trim().split('\n')).toEqual([hello.toString('hex'), '0414000800000000']);
    const r2 = run(['codec', 'encode'], `[${line}, {"OFPBarrierRequest":{}}]`);
    expect(r2.stdout).toBe(r1.stdout);
  });

  it.each<[string, string[], string | Buffer, RegExp]>([
    ['odd hex', ['codec', 'decode', '--hex', 'abc'], '', /odd number of hex digits/],
    ['non-hex', ['codec', 'decode', '--hex', '04zz'], '', /"z" at position 2 is not a hex digit/],
    ['truncated', ['codec', 'decode', '--hex', flowMod.subarray(0, 30).toString('hex')], '', /truncated message.*BAD_REQUEST\/BAD_LEN/],
    ['second message bad', ['codec', 'decode', '--hex', hello.toString('hex') + '0463000800000000'], '', /unknown message type 99.*message 1, byte 16/],
    ['empty stdin', ['codec', 'decode'], '', /no input/],
    ['bad JSON', ['codec', 'encode'], '{"OFPHello": {', /invalid JSON: line 1/],
    ['bad field', ['codec', 'encode'], '{"OFPSetConfig":{"flags":0,"miss_send_len":-1}}', /line 1: \$\.OFPSetConfig\.miss_send_len/],
    ['unknown subcommand', ['codec', 'transcode'], '', /expected "decode" or "encode"/],
    ['unknown option', ['codec', 'decode', '--hexx', '00'], '', /Unknown option '--hexx'/],
    ['unknown command', ['frobnicate'], '', /unknown command "frobnicate"/],
  ])('%s: exit 2 and one clear line', (_name, args, input, text) => {
    const r = run(args, input);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toMatch(text);
  });
});
