/**
 * Messages generated independently by os-ken (python3-os-ken, test/oracles/osken_gen.py): random flow-mods,
 * group-mods, meter-mods, packet-ins, packet-outs, flow-removed, port-status, errors and multipart
 * requests and replies. Each must decode to os-ken's JSON and encode back to os-ken's bytes.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { type Json, decode, encode, fromRyuJson, parseJson, toRyuJson } from '../../openflow/index.js';
import { firstDiff } from './vectors.js';

const PER_SEED = 1500;
const SEEDS = [1, 2, 3];

interface Case {
  readonly hex: string;
  readonly json: Json;
}

function generate(seed: number): Case[] {
  const out = execFileSync('/usr/bin/python3', ['test/oracles/osken_gen.py', '--seed', String(seed), '--count', String(PER_SEED)], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out
    .trim()
    .split('\n')
    .map((l) => parseJson(l) as unknown as Case);
}

describe.each(SEEDS)('os-ken generated messages, seed %i', (seed) => {
  const cases = generate(seed);
  const kinds = new Set(cases.map((c) => Object.keys(c.json as object)[0]));

  it('covers the message kinds', () => {
    expect(cases).toHaveLength(PER_SEED);
    for (const k of ['OFPFlowMod', 'OFPGroupMod', 'OFPMeterMod', 'OFPPacketIn', 'OFPFlowStatsReply', 'OFPPortStatsReply', 'OFPGroupStatsReply', 'OFPMeterStatsReply']) {
      expect(kinds, k).toContain(k);
    }
  });

  it('decode(os-ken bytes) → os-ken JSON', () => {
    for (const c of cases) {
      expect(toRyuJson(decode(Buffer.from(c.hex, 'hex'))), c.hex).toEqual(c.json);
    }
  });

  it('encode(os-ken JSON) → os-ken bytes', () => {
    for (const c of cases) {
      const want = Buffer.from(c.hex, 'hex');
      const got = encode(fromRyuJson(c.json));
      const at = firstDiff(got, want);
      expect(at, `${Object.keys(c.json as object)[0]}: first differing byte at ${at}`).toBe(-1);
    }
  });
});
