/** The group table: group-mod errors, bucket selection, liveness, chaining, counters and stats bodies. */
import { describe, expect, it } from 'vitest';
import {
  type Action,
  type Bucket,
  OFPAT,
  OFPBAC,
  OFPET,
  OFPG,
  OFPGC,
  OFPGMFC,
  OFPGT,
  OFPP,
  decode,
  encode,
} from '../../openflow/index.js';
import { OFPError } from '../../switch/errors.js';
import { type GroupMod, GroupTable, type GroupTableOptions, OFPGFC } from '../../switch/group-table.js';

const out = (port: number): Action => ({ kind: 'OFPActionOutput', port, max_len: 0 });
const toGroup = (group_id: number): Action => ({ kind: 'OFPActionGroup', group_id });
const bucket = (actions: readonly Action[], o: Partial<Pick<Bucket, 'weight' | 'watch_port' | 'watch_group'>> = {}): Bucket => ({
  weight: 0,
  watch_port: OFPP.ANY,
  watch_group: OFPG.ANY,
  actions,
  ...o,
});
const add = (group_id: number, group_type: number, buckets: readonly Bucket[]): GroupMod => ({ command: OFPGC.ADD, group_type, group_id, buckets });
const modify = (group_id: number, group_type: number, buckets: readonly Bucket[]): GroupMod => ({
  command: OFPGC.MODIFY, group_type, group_id, buckets,
});
const del = (group_id: number): GroupMod => ({ command: OFPGC.DELETE, group_type: 0, group_id, buckets: [] });
const indirect = (id: number, port: number): GroupMod => add(id, OFPGT.INDIRECT, [bucket([out(port)])]);
const ff = (id: number, ...ports: number[]): GroupMod => add(id, OFPGT.FF, ports.map((p) => bucket([out(p)], { watch_port: p })));

/** Ports 1..16 exist (and LOCAL, CONTROLLER, IN_PORT and the other reserved ports); `down` holds the ones not live. */
function setup(opts: Partial<GroupTableOptions> = {}): { t: GroupTable; down: Set<number> } {
  const down = new Set<number>();
  const t = new GroupTable({
    maxGroups: 64,
    isPortValid: (p) => (p >= 1 && p <= 16) || p > OFPP.MAX,
    isPortLive: (p) => p >= 1 && p <= 16 && !down.has(p),
    clock: () => 0,
    ...opts,
  });
  return { t, down };
}

function refusal(f: () => unknown): { errType: number; code: number } {
  try {
    f();
  } catch (e) {
    if (e instanceof OFPError) return { errType: e.errType, code: e.code };
    throw e;
  }
  throw new Error('expected an OFPError, nothing was raised');
}

const GMF = OFPET.GROUP_MOD_FAILED;
const BA = OFPET.BAD_ACTION;

describe('group-mod refusals', () => {
  // [what, mods applied first, the refused mod, extra options, error type, error code]
  it.each<[string, GroupMod[], GroupMod, Partial<GroupTableOptions>, number, number]>([
    ['unknown command', [], { ...indirect(1, 1), command: 3 }, {}, GMF, OFPGMFC.BAD_COMMAND],
    ['add OFPG_ALL', [], indirect(OFPG.ALL, 1), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['add OFPG_ANY', [], indirect(OFPG.ANY, 1), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['add OFPG_MAX + 1', [], indirect(OFPG.MAX + 1, 1), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['modify OFPG_ALL', [], modify(OFPG.ALL, OFPGT.INDIRECT, [bucket([out(1)])]), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['delete OFPG_ANY', [], del(OFPG.ANY), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['add an existing group', [indirect(1, 1)], indirect(1, 2), {}, GMF, OFPGMFC.GROUP_EXISTS],
    ['modify a missing group', [], modify(1, OFPGT.INDIRECT, [bucket([out(1)])]), {}, GMF, OFPGMFC.UNKNOWN_GROUP],
    ['unknown group type', [], add(1, 4, [bucket([out(1)])]), {}, GMF, OFPGMFC.BAD_TYPE],
    ['modify to an unknown type', [indirect(1, 1)], modify(1, 9, [bucket([out(1)])]), {}, GMF, OFPGMFC.BAD_TYPE],
    ['table full', [indirect(1, 1), indirect(2, 2)], indirect(3, 3), { maxGroups: 2 }, GMF, OFPGMFC.OUT_OF_GROUPS],
    ['indirect without a bucket', [], add(1, OFPGT.INDIRECT, []), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['indirect with two buckets', [], add(1, OFPGT.INDIRECT, [bucket([out(1)]), bucket([out(2)])]), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['too many buckets', [], add(1, OFPGT.ALL, [1, 2, 3, 4, 5].map((p) => bucket([out(p)]))), { maxBuckets: 4 }, GMF, OFPGMFC.OUT_OF_BUCKETS],
    ['weight in an all group', [], add(1, OFPGT.ALL, [bucket([out(1)], { weight: 1 })]), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['weight in an indirect group', [], add(1, OFPGT.INDIRECT, [bucket([out(1)], { weight: 1 })]), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['weight in a fast-failover group', [], add(1, OFPGT.FF, [bucket([out(1)], { weight: 2, watch_port: 1 })]), {}, GMF, OFPGMFC.INVALID_GROUP],
    ['watch_port in an all group', [], add(1, OFPGT.ALL, [bucket([out(1)], { watch_port: 1 })]), {}, GMF, OFPGMFC.WATCH_UNSUPPORTED],
    ['watch_group in an indirect group', [indirect(2, 2)], add(1, OFPGT.INDIRECT, [bucket([out(1)], { watch_group: 2 })]), {}, GMF, OFPGMFC.WATCH_UNSUPPORTED],
    ['fast-failover bucket watching nothing', [], add(1, OFPGT.FF, [bucket([out(1)])]), {}, GMF, OFPGMFC.BAD_WATCH],
    ['watching a port that does not exist', [], add(1, OFPGT.FF, [bucket([out(1)], { watch_port: 99 })]), {}, GMF, OFPGMFC.BAD_WATCH],
    ['watching OFPP_CONTROLLER', [], add(1, OFPGT.FF, [bucket([out(1)], { watch_port: OFPP.CONTROLLER })]), {}, GMF, OFPGMFC.BAD_WATCH],
    ['watching a missing group', [], add(1, OFPGT.FF, [bucket([out(1)], { watch_group: 7 })]), {}, GMF, OFPGMFC.BAD_WATCH],
    ['select bucket watching a missing group', [], add(1, OFPGT.SELECT, [bucket([out(1)], { weight: 1, watch_group: 7 })]), {}, GMF, OFPGMFC.BAD_WATCH],
    ['watching itself', [], add(1, OFPGT.FF, [bucket([out(1)], { watch_group: 1 })]), {}, GMF, OFPGMFC.LOOP],
    ['output to a port that does not exist', [], add(1, OFPGT.ALL, [bucket([out(99)])]), {}, BA, OFPBAC.BAD_OUT_PORT],
    ['output to OFPP_ANY', [], add(1, OFPGT.ALL, [bucket([out(OFPP.ANY)])]), {}, BA, OFPBAC.BAD_OUT_PORT],
    ['output to OFPP_TABLE', [], add(1, OFPGT.ALL, [bucket([out(OFPP.TABLE)])]), {}, BA, OFPBAC.BAD_OUT_PORT],
    ['group action to a missing group', [], add(1, OFPGT.ALL, [bucket([toGroup(5)])]), {}, BA, OFPBAC.BAD_OUT_GROUP],
    ['group action to itself', [], add(1, OFPGT.ALL, [bucket([toGroup(1)])]), {}, GMF, OFPGMFC.LOOP],
    ['modify into a two-group loop', [indirect(1, 1), add(2, OFPGT.INDIRECT, [bucket([toGroup(1)])])],
      modify(1, OFPGT.INDIRECT, [bucket([toGroup(2)])]), {}, GMF, OFPGMFC.LOOP],
    ['modify into a three-group loop', [indirect(3, 3), add(2, OFPGT.ALL, [bucket([toGroup(3)])]), add(1, OFPGT.ALL, [bucket([out(1)]), bucket([toGroup(2)])])],
      modify(3, OFPGT.ALL, [bucket([toGroup(1)])]), {}, GMF, OFPGMFC.LOOP],
    ['modify into a loop through watch_group', [ff(2, 2), add(1, OFPGT.ALL, [bucket([toGroup(2)])])],
      modify(2, OFPGT.FF, [bucket([out(2)], { watch_group: 1 })]), {}, GMF, OFPGMFC.LOOP],
    ['delete a group another group forwards to', [indirect(2, 2), add(1, OFPGT.ALL, [bucket([toGroup(2)])])], del(2), {}, GMF, OFPGMFC.CHAINED_GROUP],
    ['delete a group another group watches', [ff(2, 2), add(1, OFPGT.FF, [bucket([out(1)], { watch_group: 2 })])], del(2), {}, GMF, OFPGMFC.CHAINED_GROUP],
    ['action refused by checkActions', [], add(1, OFPGT.ALL, [bucket([{ kind: 'OFPActionPopPbb' }])]),
      { checkActions: (as) => { if (as.some((a) => a.kind === 'OFPActionPopPbb')) throw new OFPError(BA, OFPBAC.BAD_TYPE, 'no PBB'); } },
      BA, OFPBAC.BAD_TYPE],
  ])('%s', (_what, before, mod, opts, errType, code) => {
    const { t } = setup(opts);
    for (const m of before) t.apply(m);
    const desc = t.desc();
    expect(refusal(() => t.apply(mod))).toEqual({ errType, code });
    expect(t.desc()).toEqual(desc);
  });

  it('leaves the chain links untouched after a refused modify', () => {
    const { t } = setup();
    t.apply(indirect(2, 2));
    t.apply(add(1, OFPGT.ALL, [bucket([toGroup(2)])]));
    expect(refusal(() => t.apply(modify(1, OFPGT.ALL, [bucket([out(99)])])))).toEqual({ errType: BA, code: OFPBAC.BAD_OUT_PORT });
    expect(refusal(() => t.apply(del(2)))).toEqual({ errType: GMF, code: OFPGMFC.CHAINED_GROUP });
  });
});

describe('group-mod success', () => {
  it('adds OFPG_MAX, the last usable id, and outputs to reserved ports the caller accepts', () => {
    const { t } = setup();
    t.apply(add(OFPG.MAX, OFPGT.ALL, [bucket([out(OFPP.IN_PORT)]), bucket([out(OFPP.CONTROLLER)]), bucket([out(3)])]));
    expect(t.has(OFPG.MAX)).toBe(true);
  });

  it('deleting a missing group is no error and deletes nothing', () => {
    const { t } = setup();
    t.apply(indirect(1, 1));
    expect(t.apply(del(2))).toEqual([]);
    expect(t.size).toBe(1);
  });

  it('returns the deleted ids: one group, then OFPG_ALL', () => {
    const { t } = setup();
    t.apply(indirect(1, 1));
    t.apply(indirect(2, 2));
    t.apply(add(3, OFPGT.ALL, [bucket([toGroup(1)]), bucket([toGroup(2)])]));
    expect(t.apply(add(4, OFPGT.ALL, []))).toEqual([]);
    expect(t.apply(del(4))).toEqual([4]);
    expect([...t.apply(del(OFPG.ALL))].sort()).toEqual([1, 2, 3]);
    expect(t.size).toBe(0);
  });

  it('unchains on delete and modify: a group can be deleted once nothing names it', () => {
    const { t } = setup();
    t.apply(indirect(1, 1));
    t.apply(indirect(2, 2));
    t.apply(add(3, OFPGT.ALL, [bucket([toGroup(1)])]));
    t.apply(add(4, OFPGT.ALL, [bucket([toGroup(2)])]));
    t.apply(modify(3, OFPGT.ALL, [bucket([out(5)])]));
    expect(t.apply(del(1))).toEqual([1]);
    expect(t.apply(del(4))).toEqual([4]);
    expect(t.apply(del(2))).toEqual([2]);
  });

  it('allows a diamond (two paths to one group) and a modify that keeps the chain acyclic', () => {
    const { t } = setup();
    t.apply(indirect(4, 4));
    t.apply(add(2, OFPGT.ALL, [bucket([toGroup(4)])]));
    t.apply(add(3, OFPGT.ALL, [bucket([toGroup(4)])]));
    t.apply(add(1, OFPGT.ALL, [bucket([toGroup(2)]), bucket([toGroup(3)])]));
    t.apply(modify(3, OFPGT.ALL, [bucket([toGroup(2)]), bucket([toGroup(4)])]));
    expect(t.size).toBe(4);
  });

  it('modify may change the type', () => {
    const { t } = setup();
    t.apply(indirect(1, 1));
    t.apply(modify(1, OFPGT.SELECT, [bucket([out(1)], { weight: 1 }), bucket([out(2)], { weight: 1 })]));
    expect(t.desc()[0]?.type).toBe(OFPGT.SELECT);
  });
});

describe('bucket selection', () => {
  it('all: every bucket in order; indirect: its bucket; missing group: none', () => {
    const { t } = setup();
    t.apply(add(1, OFPGT.ALL, [bucket([out(1)]), bucket([out(2)]), bucket([out(3)])]));
    t.apply(indirect(2, 4));
    expect(t.select(1, 123).map((b) => b.index)).toEqual([0, 1, 2]);
    expect(t.select(1, 123).map((b) => b.actions)).toEqual([[out(1)], [out(2)], [out(3)]]);
    expect(t.select(2, 5).map((b) => b.actions)).toEqual([[out(4)]]);
    expect(t.select(3, 5)).toEqual([]);
  });

  const weighted = (ws: readonly number[]): GroupMod => add(1, OFPGT.SELECT, ws.map((w, i) => bucket([out(i + 1)], { weight: w })));

  it('select: one flow hash always takes the same bucket, in any table built the same way', () => {
    const a = setup().t;
    const b = setup().t;
    a.apply(weighted([1, 1, 1, 1]));
    b.apply(weighted([1, 1, 1, 1]));
    const chosen = new Set<number>();
    for (let h = 0; h < 2000; h++) {
      const hash = Math.imul(h, 0x2545f491) >>> 0;
      const first = a.select(1, hash);
      expect(first).toHaveLength(1);
      expect(a.select(1, hash)).toBe(first);
      expect(b.select(1, hash)[0]?.index).toBe(first[0]?.index);
      chosen.add(first[0]?.index ?? -1);
    }
    expect([...chosen].sort()).toEqual([0, 1, 2, 3]);
  });

  it.each<[string, number[]]>([
    ['equal weights', [1, 1, 1]],
    ['1:2:3:4', [1, 2, 3, 4]],
    ['100:1', [100, 1]],
    ['zero weight never chosen', [3, 0, 1]],
  ])('select: share of flows follows the weights (%s)', (_what, ws) => {
    const { t } = setup();
    t.apply(weighted(ws));
    const n = 200_000;
    const counts = ws.map(() => 0);
    // Consecutive hashes: the table must spread them even when the caller's hash is poor.
    for (let h = 0; h < n; h++) {
      const i = t.select(1, h)[0]?.index ?? -1;
      counts[i] = (counts[i] ?? 0) + 1;
    }
    const total = ws.reduce((x, y) => x + y, 0);
    ws.forEach((w, i) => expect(Math.abs((counts[i] ?? 0) / n - w / total)).toBeLessThan(0.006));
  });

  it('select: a bucket whose watched port goes down takes no flows, and only its flows move', () => {
    const { t, down } = setup();
    t.apply(add(1, OFPGT.SELECT, [1, 2, 3, 4].map((p) => bucket([out(p)], { weight: 1, watch_port: p }))));
    const before = Array.from({ length: 4000 }, (_, h) => t.select(1, h)[0]?.index);
    down.add(3);
    const after = Array.from({ length: 4000 }, (_, h) => t.select(1, h)[0]?.index);
    expect(after).not.toContain(2);
    let moved = 0;
    before.forEach((b, h) => {
      if (b === 2) moved++;
      else expect(after[h]).toBe(b);
    });
    expect(moved).toBeGreaterThan(800);
    down.delete(3);
    expect(Array.from({ length: 4000 }, (_, h) => t.select(1, h)[0]?.index)).toEqual(before);
    for (const p of [1, 2, 3, 4]) down.add(p);
    expect(t.select(1, 7)).toEqual([]);
    expect(t.isLive(1)).toBe(false);
  });

  it('fast failover: the first live bucket, moving as watched ports go down and come back', () => {
    const { t, down } = setup();
    t.apply(ff(1, 1, 2, 3));
    const pick = (): number | undefined => t.select(1, 42)[0]?.index;
    expect(pick()).toBe(0);
    down.add(1);
    expect(pick()).toBe(1);
    down.add(3);
    expect(pick()).toBe(1);
    down.add(2);
    expect(t.select(1, 42)).toEqual([]);
    expect(t.isLive(1)).toBe(false);
    down.delete(3);
    expect(pick()).toBe(2);
    down.delete(1);
    expect(pick()).toBe(0);
    expect(t.select(1, 42)[0]?.actions).toEqual([out(1)]);
  });

  it('fast failover on a watched group: live while the watched group has a live bucket', () => {
    const { t, down } = setup();
    t.apply(ff(5, 5, 6));
    t.apply(add(1, OFPGT.FF, [bucket([toGroup(5)], { watch_group: 5 }), bucket([out(9)], { watch_port: 9 })]));
    expect(t.select(1, 0)[0]?.index).toBe(0);
    down.add(5);
    expect(t.select(1, 0)[0]?.index).toBe(0);
    down.add(6);
    expect(t.isLive(5)).toBe(false);
    expect(t.select(1, 0)[0]?.index).toBe(1);
  });

  it('a bucket watching both a port and a group needs both live', () => {
    const { t, down } = setup();
    t.apply(ff(5, 5));
    t.apply(add(1, OFPGT.FF, [bucket([out(1)], { watch_port: 1, watch_group: 5 }), bucket([out(2)], { watch_port: 2 })]));
    expect(t.select(1, 0)[0]?.index).toBe(0);
    down.add(5);
    expect(t.select(1, 0)[0]?.index).toBe(1);
    down.delete(5);
    down.add(1);
    expect(t.select(1, 0)[0]?.index).toBe(1);
  });

  it('chaining: a bucket forwards to another group, which the pipeline selects in turn', () => {
    const { t } = setup();
    t.apply(add(2, OFPGT.SELECT, [bucket([out(3)], { weight: 1 }), bucket([out(4)], { weight: 1 })]));
    t.apply(add(1, OFPGT.ALL, [bucket([out(1)]), bucket([toGroup(2)])]));
    const outs: number[] = [];
    const run = (g: number, hash: number): void => {
      for (const b of t.select(g, hash)) {
        for (const a of b.actions) {
          if (a.kind === 'OFPActionOutput') outs.push(a.port);
          if (a.kind === 'OFPActionGroup') run(a.group_id, hash);
        }
      }
    };
    run(1, 99);
    expect(outs).toHaveLength(2);
    expect(outs[0]).toBe(1);
    expect([3, 4]).toContain(outs[1]);
  });
});

describe('counters and stats bodies', () => {
  it('counts packets per group and per bucket, flow references, and duration', () => {
    const { t } = setup();
    t.apply(add(1, OFPGT.ALL, [bucket([out(1)]), bucket([out(2)])]), 1000);
    t.apply(ff(2, 3, 4), 2000);
    t.hit(1, t.select(1, 0), 100);
    t.hit(1, t.select(1, 0), 60);
    t.hit(2, t.select(2, 0), 1500);
    t.hit(2, 1, 40);
    t.hit(2, [], 10);
    t.hit(9, 0, 10);
    t.ref(1, 3);
    t.ref(1, -1);
    t.ref(9, 1);
    expect(t.stats(OFPG.ALL, 3500.25)).toEqual([
      {
        group_id: 1, ref_count: 2, packet_count: 2n, byte_count: 160n, duration_sec: 2, duration_nsec: 500_250_000,
        bucket_stats: [{ packet_count: 2n, byte_count: 160n }, { packet_count: 2n, byte_count: 160n }],
      },
      {
        group_id: 2, ref_count: 0, packet_count: 3n, byte_count: 1550n, duration_sec: 1, duration_nsec: 500_250_000,
        bucket_stats: [{ packet_count: 1n, byte_count: 1500n }, { packet_count: 1n, byte_count: 40n }],
      },
    ]);
    expect(t.stats(2, 2000).map((s) => s.group_id)).toEqual([2]);
    expect(t.stats(7, 2000)).toEqual([]);
  });

  it('modify keeps the group counters, references and age; its new buckets start at zero', () => {
    const { t } = setup();
    t.apply(add(1, OFPGT.ALL, [bucket([out(1)])]), 0);
    t.hit(1, 0, 100);
    t.ref(1, 1);
    t.apply(modify(1, OFPGT.ALL, [bucket([out(1)]), bucket([out(2)])]), 5000);
    expect(t.stats(1, 6000)).toEqual([{
      group_id: 1, ref_count: 1, packet_count: 1n, byte_count: 100n, duration_sec: 6, duration_nsec: 0,
      bucket_stats: [{ packet_count: 0n, byte_count: 0n }, { packet_count: 0n, byte_count: 0n }],
    }]);
  });

  it('uses the injected clock when no time is given', () => {
    let now = 10_000;
    const { t } = setup({ clock: () => now });
    t.apply(indirect(1, 1));
    now += 2_750;
    expect(t.stats(1)[0]).toMatchObject({ duration_sec: 2, duration_nsec: 750_000_000 });
  });

  it('group stats encode as an OFPMP_GROUP reply, fields where the spec puts them', () => {
    const { t } = setup();
    t.apply(add(7, OFPGT.ALL, [bucket([out(1)]), bucket([out(2)])]), 0);
    t.hit(7, t.select(7, 0), 1000);
    t.ref(7, 5);
    const msg = { type: 'OFPGroupStatsReply', xid: 9, flags: 0, body: t.stats(OFPG.ALL, 1500) } as const;
    const bytes = encode(msg);
    expect(decode(bytes)).toEqual(msg);
    // ofp_multipart_reply (16) + ofp_group_stats (40) + 2 × ofp_bucket_counter (16)
    expect(bytes.length).toBe(16 + 40 + 32);
    expect(bytes.readUInt16BE(16)).toBe(72);
    expect(bytes.readUInt32BE(20)).toBe(7);
    expect(bytes.readUInt32BE(24)).toBe(5);
    expect(bytes.readBigUInt64BE(32)).toBe(1n);
    expect(bytes.readBigUInt64BE(40)).toBe(1000n);
    expect(bytes.readUInt32BE(48)).toBe(1);
    expect(bytes.readUInt32BE(52)).toBe(500_000_000);
    expect(bytes.readBigUInt64BE(72)).toBe(1n);
  });

  it('group descriptions encode as an OFPMP_GROUP_DESC reply and give back the buckets sent', () => {
    const { t } = setup();
    const sel = add(3, OFPGT.SELECT, [bucket([out(1)], { weight: 5, watch_port: 1 }), bucket([out(2)], { weight: 7 })]);
    t.apply(ff(9, 4, 5));
    t.apply(sel);
    t.apply(add(1, OFPGT.ALL, [bucket([toGroup(3)]), bucket([out(2)])]));
    const body = t.desc();
    expect(body.map((d) => [d.group_id, d.type])).toEqual([[1, OFPGT.ALL], [3, OFPGT.SELECT], [9, OFPGT.FF]]);
    expect(body[1]?.buckets).toEqual(sel.buckets);
    const msg = { type: 'OFPGroupDescStatsReply', xid: 1, flags: 0, body } as const;
    expect(decode(encode(msg))).toEqual(msg);
  });

  it('features: all four types, the capabilities implemented, limits and action bitmaps', () => {
    const { t } = setup({ maxGroups: 100 });
    const f = t.features();
    expect(f.types).toBe(0b1111);
    expect(f.capabilities).toBe(OFPGFC.SELECT_WEIGHT | OFPGFC.SELECT_LIVENESS | OFPGFC.CHAINING | OFPGFC.CHAINING_CHECKS);
    expect(f.max_groups).toEqual([100, 100, 100, 100]);
    for (const bits of f.actions) {
      for (const at of [OFPAT.OUTPUT, OFPAT.GROUP, OFPAT.SET_FIELD, OFPAT.PUSH_VLAN, OFPAT.POP_PBB]) expect((bits >>> at) & 1).toBe(1);
      for (const unused of [1, 2, 10, 13, 14, 28, 31]) expect((bits >>> unused) & 1).toBe(0);
    }
    const msg = { type: 'OFPGroupFeaturesStatsReply', xid: 2, flags: 0, body: f } as const;
    const bytes = encode(msg);
    expect(bytes.length).toBe(16 + 40);
    expect(decode(bytes)).toEqual(msg);
  });
});
