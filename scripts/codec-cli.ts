/** `tinflow codec decode|encode`: the codec on the command line, for scripts and debugging. */
import { parseArgs } from 'node:util';
import {
  type Json,
  OFPCodecError,
  decodeAll,
  encode,
  fromRyuJson,
  parseJson,
  stringifyJson,
  toRyuJson,
} from '../openflow/index.js';

const USAGE = `usage: tinflow codec decode [--hex HEX]
       tinflow codec encode

decode  reads concatenated OpenFlow 1.3 messages (binary on stdin, or --hex HEX; whitespace in HEX
        is ignored) and prints one Ryu-JSON object per line.
encode  reads Ryu-JSON messages on stdin (one object per line, or one JSON array) and prints one
        lowercase hex string per line. Missing len/length fields are computed.
Malformed input: exit status 2 and one line on stderr saying what was wrong and where.
`;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function fail(msg: string): number {
  process.stderr.write(`tinflow codec: ${msg.replace(/\n/g, ' ')}\n`);
  return 2;
}

export async function codecMain(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let values: { hex?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: { hex: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return fail(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub === 'decode') return decodeCmd(values.hex);
  if (sub === 'encode') {
    if (values.hex !== undefined) return fail('--hex is for decode only');
    return encodeCmd();
  }
  return fail(`expected "decode" or "encode", got ${sub === undefined ? 'nothing' : JSON.stringify(sub)}\n${USAGE}`);
}

async function decodeCmd(hexArg: string | undefined): Promise<number> {
  let bytes: Buffer;
  if (hexArg !== undefined) {
    const hex = hexArg.replace(/\s+/g, '');
    const bad = hex.search(/[^0-9a-fA-F]/);
    if (bad >= 0) return fail(`--hex: character ${JSON.stringify(hex[bad])} at position ${bad} is not a hex digit`);
    if (hex.length % 2) return fail(`--hex: odd number of hex digits (${hex.length})`);
    bytes = Buffer.from(hex, 'hex');
  } else {
    bytes = await readStdin();
  }
  if (bytes.length === 0) return fail('no input: expected OpenFlow 1.3 messages');
  try {
    const lines = decodeAll(bytes).map((m) => stringifyJson(toRyuJson(m)));
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    if (e instanceof OFPCodecError) return fail(e.message);
    throw e;
  }
}

async function encodeCmd(): Promise<number> {
  const text = (await readStdin()).toString('utf8').trim();
  if (!text) return fail('no input: expected Ryu-JSON messages');
  let items: { json: Json; where: string }[];
  try {
    if (text.startsWith('[')) {
      const arr = parseJson(text);
      if (!Array.isArray(arr)) return fail('expected a JSON array');
      items = (arr as Json[]).map((json, i) => ({ json, where: `element ${i}` }));
    } else {
      items = text
        .split('\n')
        .map((l, i) => ({ l: l.trim(), i }))
        .filter(({ l }) => l !== '')
        .map(({ l, i }) => {
          try {
            return { json: parseJson(l), where: `line ${i + 1}` };
          } catch (e) {
            throw new SyntaxError(`line ${i + 1}: ${(e as Error).message}`);
          }
        });
    }
  } catch (e) {
    return fail(`invalid JSON: ${(e as Error).message}`);
  }
  const out: string[] = [];
  for (const { json, where } of items) {
    try {
      out.push(encode(fromRyuJson(json)).toString('hex'));
    } catch (e) {
      if (e instanceof OFPCodecError) return fail(`${where}: ${e.message}`);
      throw e;
    }
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
