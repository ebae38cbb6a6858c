/**
 * `npm run fuzz`: the long mode of every fuzz target (the short modes run in CI from test/fuzz/). The
 * inputs (default 1,000,000 in all) are shared among the targets by weight; each prints progress, then
 * one table: inputs, inputs/s, findings, memory at start/peak/end. Exit status 1 when anything was found;
 * every finding names its seed and input index, so `--only TARGET --seed S` replays it.
 *
 *   node dist/fuzz/run.js [--inputs N] [--seed S] [--only a,b]
 *
 * Writes results/fuzz.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { ConfigError, intFlag, parseFlags } from '../base/cli.js';
import type { FuzzReport, FuzzTarget } from './harness.js';
import { TARGETS } from './targets.js';

function usage(e: unknown): never {
  console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}`);
  console.error(`usage: node dist/fuzz/run.js [--inputs N] [--seed S] [--only ${TARGETS.map((t) => t.target.name).join(',')}]`);
  process.exit(2);
}

interface Plan {
  readonly target: FuzzTarget;
  readonly inputs: number;
}

function plan(argv: readonly string[]): { readonly plans: readonly Plan[]; readonly seed: number } {
  const f = parseFlags(argv, { inputs: { type: 'string', default: '1000000' }, seed: { type: 'string', default: '1' }, only: { type: 'string' } });
  const total = intFlag('--inputs', f.inputs, 1, 1_000_000_000);
  const seed = intFlag('--seed', f.seed, 0, 2 ** 32 - 1);
  const names = f.only === undefined ? undefined : f.only.split(',');
  const unknown = names?.filter((n) => !TARGETS.some((t) => t.target.name === n));
  if (unknown !== undefined && unknown.length > 0) throw new ConfigError('--only', `no target ${unknown.map((n) => JSON.stringify(n)).join(', ')}`);
  const chosen = TARGETS.filter((t) => names === undefined || names.includes(t.target.name));
  const weights = chosen.reduce((s, t) => s + t.weight, 0);
  // Rounded up, so the shares add up to at least the total asked for.
  return { plans: chosen.map((t) => ({ target: t.target, inputs: Math.ceil((total * t.weight) / weights) })), seed };
}

const mib = (n: number): string => n.toFixed(0).padStart(5);

function table(reports: readonly FuzzReport[]): string {
  const rows = [`${'target'.padEnd(16)} ${'inputs'.padStart(10)} ${'inputs/s'.padStart(9)} ${'findings'.padStart(8)}   RSS MiB start/peak/end   heap MiB start/peak/end`];
  for (const r of reports) {
    const m = r.memory;
    rows.push(
      `${r.target.padEnd(16)} ${String(r.inputs).padStart(10)} ${String(Math.round(r.inputs / (r.ms / 1000))).padStart(9)} ${String(r.findings.length + r.moreFindings).padStart(8)}   ` +
        `${mib(m.start.rssMiB)}/${mib(m.peak.rssMiB)}/${mib(m.end.rssMiB)}      ${mib(m.start.heapMiB)}/${mib(m.peak.heapMiB)}/${mib(m.end.heapMiB)}`,
    );
  }
  const inputs = reports.reduce((s, r) => s + r.inputs, 0);
  const found = reports.reduce((s, r) => s + r.findings.length + r.moreFindings, 0);
  rows.push(`${'all'.padEnd(16)} ${String(inputs).padStart(10)} ${''.padStart(9)} ${String(found).padStart(8)}`);
  return rows.join('\n');
}

async function main(): Promise<void> {
  let p: ReturnType<typeof plan>;
  try {
    p = plan(process.argv.slice(2));
  } catch (e) {
    usage(e);
  }
  const reports: FuzzReport[] = [];
  for (const { target, inputs } of p.plans) {
    console.log(`== ${target.name}: ${target.about} (${inputs} inputs, seed ${p.seed})`);
    const r = await target.run({ inputs, seed: p.seed, log: (line) => console.log(`   ${line}`) });
    for (const f of r.findings) console.log(`!! ${target.name}: ${f}`);
    if (r.moreFindings > 0) console.log(`!! ${target.name}: ${r.moreFindings} more findings`);
    const counts = Object.entries(r.counts).map(([k, v]) => `${k}=${v}`).join(' ');
    if (counts) console.log(`   counts: ${counts}`);
    reports.push(r);
  }
  console.log('');
  console.log(table(reports));
  mkdirSync('results', { recursive: true });
  writeFileSync('results/fuzz.json', JSON.stringify({ date: new Date().toISOString(), seed: p.seed, reports }, null, 2) + '\n');
  process.exitCode = reports.some((r) => r.findings.length > 0) ? 1 : 0;
}

await main();
