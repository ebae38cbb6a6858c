/**
 * npm run bench:codec — tinflow's codec against os-ken's on the same bytes, in the same run.
 *
 * The mix (bench/codec_osken.py writes it): per round 10 flow-mods (6 match fields, 4 actions),
 * 10 packet-ins with a 128-byte frame, and one flow-stats reply of 100 entries. One message counts as
 * one decode plus one encode (a decode of the bytes, then an encode of the decoded message). The mix
 * rate times whole rounds; the per-kind rates come from separate runs of each kind. tinflow runs
 * before and after os-ken and its mean is used, so that drift
 * on a shared machine hits both sides alike. Prints a table and the ratio; writes
 * results/bench-codec.json. Usage: node dist/bench/codec.js [--seconds S]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decode, encode } from '../openflow/index.js';

interface Rate {
  readonly impl: string;
  readonly messages_per_s: number;
  readonly bytes_per_s: number;
  readonly per_kind: Record<string, number>;
}

interface Mix {
  readonly messages: string[];
  readonly kinds: string[];
}

/** Messages per second of decode+encode over `msgs` for about `seconds`. */
function rate(msgs: readonly Buffer[], seconds: number): { perS: number; bytesPerS: number } {
  let n = 0;
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let now = t0;
  while (now < deadline) {
    for (const m of msgs) {
      if (encode(decode(m)).length !== m.length) throw new Error('re-encoded message differs in length');
      n++;
      bytes += m.length;
    }
    now = process.hrtime.bigint();
  }
  const secs = Number(now - t0) / 1e9;
  return { perS: n / secs, bytesPerS: bytes / secs };
}

function runOurs(msgs: Buffer[], kinds: string[], seconds: number): Rate {
  // warm-up so the JIT has compiled the hot paths
  for (let i = 0; i < 200; i++) for (const m of msgs) encode(decode(m));
  const mixRate = rate(msgs, seconds);
  const per_kind: Record<string, number> = {};
  const kindNames = [...new Set(kinds)];
  for (const k of kindNames) per_kind[k] = rate(msgs.filter((_, i) => kinds[i] === k), seconds / kindNames.length).perS;
  return { impl: 'tinflow', messages_per_s: mixRate.perS, bytes_per_s: mixRate.bytesPerS, per_kind };
}

function mean(a: Rate, b: Rate): Rate {
  const per_kind: Record<string, number> = {};
  for (const k of Object.keys(a.per_kind)) per_kind[k] = ((a.per_kind[k] ?? 0) + (b.per_kind[k] ?? 0)) / 2;
  return { impl: 'tinflow', messages_per_s: (a.messages_per_s + b.messages_per_s) / 2, bytes_per_s: (a.bytes_per_s + b.bytes_per_s) / 2, per_kind };
}

function fmt(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(1);
}

function main(): void {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
  const seconds = Number(values.seconds);
  if (!(seconds > 0 && seconds <= 60)) throw new Error(`--seconds must be in (0, 60], got ${values.seconds}`);
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-bench-'));
  try {
    const mixPath = join(dir, 'mix.json');
    execFileSync('/usr/bin/python3', ['bench/codec_osken.py', '--write-mix', mixPath], { stdio: 'inherit' });
    const mix = JSON.parse(readFileSync(mixPath, 'utf8')) as Mix;
    const msgs = mix.messages.map((h) => Buffer.from(h, 'hex'));
    // the codec must reproduce every message of the mix exactly before it is timed
    msgs.forEach((m, i) => {
      if (!encode(decode(m)).equals(m)) throw new Error(`mix message ${i} (${mix.kinds[i]}) does not round-trip`);
    });
    const before = runOurs(msgs, mix.kinds, seconds);
    const osken = JSON.parse(
      execFileSync('/usr/bin/python3', ['bench/codec_osken.py', '--seconds', String(seconds)], { encoding: 'utf8' }).trim().split('\n').pop() as string,
    ) as Rate;
    const after = runOurs(msgs, mix.kinds, seconds);
    const ours = mean(before, after);
    const ratio = ours.messages_per_s / osken.messages_per_s;
    const rows = [['', 'tinflow', 'os-ken', 'ratio'], ['messages/s (mix)', fmt(ours.messages_per_s), fmt(osken.messages_per_s), `${ratio.toFixed(1)}x`]];
    rows.push(['MB/s (mix)', (ours.bytes_per_s / 1e6).toFixed(1), (osken.bytes_per_s / 1e6).toFixed(1), `${(ours.bytes_per_s / osken.bytes_per_s).toFixed(1)}x`]);
    for (const k of Object.keys(osken.per_kind)) {
      const a = ours.per_kind[k] ?? 0;
      const b = osken.per_kind[k] ?? 0;
      rows.push([`${k} /s`, fmt(a), fmt(b), `${(a / b).toFixed(1)}x`]);
    }
    for (const r of rows) process.stdout.write(r.map((c, i) => (i === 0 ? c.padEnd(22) : c.padStart(12))).join('') + '\n');
    process.stdout.write(`tinflow before/after os-ken: ${fmt(before.messages_per_s)} / ${fmt(after.messages_per_s)} messages/s\n`);
    process.stdout.write(`ratio tinflow/os-ken: ${ratio.toFixed(1)}x (target >= 20x)\n`);
    mkdirSync('results', { recursive: true });
    writeFileSync('results/bench-codec.json', JSON.stringify({ date: new Date().toISOString(), seconds, tinflow: ours, before, after, osken, ratio }, null, 2) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
