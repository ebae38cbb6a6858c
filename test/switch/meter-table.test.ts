/** The meter table: meter-mod errors, token-bucket rates with an injected clock, bands, counters, stats bodies. */
import { describe, expect, it } from 'vitest';
import { type MeterBand, OFPET, OFPM, OFPMC, OFPMF, OFPMMFC, decode, encode } from '../../openflow/index.js';
import { OFPError } from '../../switch/errors.js';
import { type MeterMod, MeterTable, type MeterTableOptions, type MeterVerdict, raiseDropPrecedence } from '../../switch/meter-table.js';

const drop = (rate: number, burst_size = 0): MeterBand => ({ kind: 'OFPMeterBandDrop', rate, burst_size });
const remark = (rate: number, prec_level: number, burst_size = 0): MeterBand => ({ kind: 'OFPMeterBandDscpRemark', rate, burst_size, prec_level });
const add = (meter_id: number, flags: number, bands: readonly MeterBand[]): MeterMod => ({ command: OFPMC.ADD, flags, meter_id, bands });
const modify = (meter_id: number, flags: number, bands: readonly MeterBand[]): MeterMod => ({ command: OFPMC.MODIFY, flags, meter_id, bands });
const del = (meter_id: number): MeterMod => ({ command: OFPMC.DELETE, flags: 0, meter_id, bands: [] });

const KBPS = OFPMF.KBPS;
const PKTPS = OFPMF.PKTPS;
const BURST = OFPMF.BURST;
const STATS = OFPMF.STATS;

function table(opts: Partial<MeterTableOptions> = {}): MeterTable {
  return new MeterTable({ maxMeters: 16, maxBands: 4, clock: () => 0, ...opts });
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

type Tally = { pass: number; drop: number; remark: number };

/** Sends `count` packets of `bytes` to a meter, one every `gapMs` from `start`, and tallies the verdicts. */
function run(t: MeterTable, id: number, count: number, bytes: number, gapMs: number, start = 0): Tally {
  const tally: Tally = { pass: 0, drop: 0, remark: 0 };
  for (let i = 0; i < count; i++) {
    const v: MeterVerdict = t.meter(id, bytes, start + i * gapMs);
    if (v.drop) tally.drop++;
    else if (v.dscpRaise !== undefined) tally.remark++;
    else tally.pass++;
  }
  return tally;
}

const MMF = OFPET.METER_MOD_FAILED;

describe('meter-mod refusals', () => {
  // [what, mods applied first, the refused mod, extra options, error code]
  it.each<[string, MeterMod[], MeterMod, Partial<MeterTableOptions>, number]>([
    ['unknown command', [], { ...add(1, KBPS, [drop(100)]), command: 3 }, {}, OFPMMFC.BAD_COMMAND],
    ['add meter 0', [], add(0, KBPS, [drop(100)]), {}, OFPMMFC.INVALID_METER],
    ['add OFPM_MAX + 1', [], add(OFPM.MAX + 1, KBPS, [drop(100)]), {}, OFPMMFC.INVALID_METER],
    ['add OFPM_ALL', [], add(OFPM.ALL, KBPS, [drop(100)]), {}, OFPMMFC.INVALID_METER],
    ['modify meter 0', [], modify(0, KBPS, [drop(100)]), {}, OFPMMFC.INVALID_METER],
    ['delete meter 0', [], del(0), {}, OFPMMFC.INVALID_METER],
    ['delete 0xfffffffc', [], del(0xfffffffc), {}, OFPMMFC.INVALID_METER],
    ['KBPS and PKTPS both', [], add(1, KBPS | PKTPS, [drop(100)]), {}, OFPMMFC.BAD_FLAGS],
    ['neither KBPS nor PKTPS', [], add(1, BURST | STATS, [drop(100, 10)]), {}, OFPMMFC.BAD_FLAGS],
    ['unknown flag bit', [], add(1, KBPS | 0x10, [drop(100)]), {}, OFPMMFC.BAD_FLAGS],
    ['rate 0', [], add(1, KBPS, [drop(100), remark(0, 1)]), {}, OFPMMFC.BAD_RATE],
    ['OFPMF_BURST with burst_size 0', [], add(1, PKTPS | BURST, [drop(100, 5), drop(200, 0)]), {}, OFPMMFC.BAD_BURST],
    ['experimenter band', [], add(1, KBPS, [{ kind: 'OFPMeterBandExperimenter', rate: 10, burst_size: 0, experimenter: 0x2320 }]), {}, OFPMMFC.BAD_BAND],
    ['more bands than max_bands', [], add(1, KBPS, [drop(1), drop(2), drop(3)]), { maxBands: 2 }, OFPMMFC.OUT_OF_BANDS],
    ['add an existing meter', [add(1, KBPS, [drop(100)])], add(1, PKTPS, [drop(5)]), {}, OFPMMFC.METER_EXISTS],
    ['add an existing virtual meter', [add(OFPM.CONTROLLER, PKTPS, [drop(100)])], add(OFPM.CONTROLLER, PKTPS, [drop(5)]), {}, OFPMMFC.METER_EXISTS],
    ['modify a missing meter', [], modify(1, KBPS, [drop(100)]), {}, OFPMMFC.UNKNOWN_METER],
    ['modify an unconfigured virtual meter', [], modify(OFPM.SLOWPATH, PKTPS, [drop(100)]), {}, OFPMMFC.UNKNOWN_METER],
    ['table full', [add(1, KBPS, []), add(2, KBPS, [])], add(3, KBPS, []), { maxMeters: 2 }, OFPMMFC.OUT_OF_METERS],
    ['modify with bad flags', [add(1, KBPS, [drop(100)])], modify(1, 0, [drop(100)]), {}, OFPMMFC.BAD_FLAGS],
  ])('%s', (_what, before, mod, opts, code) => {
    const t = table(opts);
    for (const m of before) t.apply(m);
    const config = t.config(OFPM.ALL);
    expect(refusal(() => t.apply(mod))).toEqual({ errType: MMF, code });
    expect(t.config(OFPM.ALL)).toEqual(config);
  });
});

describe('meter-mod success', () => {
  it('meters 1 and OFPM_MAX, and the virtual meters, which do not use up max_meter', () => {
    const t = table({ maxMeters: 2 });
    t.apply(add(1, KBPS, [drop(100)]));
    t.apply(add(OFPM.MAX, PKTPS, [drop(100)]));
    t.apply(add(OFPM.SLOWPATH, PKTPS, [drop(1000)]));
    t.apply(add(OFPM.CONTROLLER, PKTPS, [drop(100)]));
    expect(t.config(OFPM.ALL).map((c) => c.meter_id)).toEqual([1, OFPM.MAX, OFPM.SLOWPATH, OFPM.CONTROLLER]);
    expect(t.apply(del(OFPM.CONTROLLER))).toEqual([OFPM.CONTROLLER]);
  });

  it('a meter with no bands only counts; burst_size without OFPMF_BURST is ignored', () => {
    const t = table();
    t.apply(add(1, PKTPS, []));
    t.apply(add(2, PKTPS, [drop(100, 1)]));
    expect(run(t, 1, 1000, 64, 0)).toEqual({ pass: 1000, drop: 0, remark: 0 });
    // Default depth: 100 ms of 100 packets/s = 10 packets, not the ignored burst_size of 1.
    expect(run(t, 2, 11, 64, 0)).toEqual({ pass: 10, drop: 1, remark: 0 });
  });

  it('delete: a missing meter is no error; one meter; OFPM_ALL, the virtual meters included', () => {
    const t = table({ maxMeters: 3 });
    t.apply(add(1, KBPS, []));
    t.apply(add(2, KBPS, []));
    t.apply(add(3, KBPS, []));
    t.apply(add(OFPM.CONTROLLER, PKTPS, [drop(10)]));
    expect(t.apply(del(9))).toEqual([]);
    expect(t.apply(del(2))).toEqual([2]);
    t.apply(add(4, KBPS, []));
    expect([...t.apply(del(OFPM.ALL))].sort((a, b) => a - b)).toEqual([1, 3, 4, OFPM.CONTROLLER]);
    expect(t.size).toBe(0);
    for (const id of [5, 6, 7]) t.apply(add(id, KBPS, []));
    t.apply(add(OFPM.CONTROLLER, PKTPS, [drop(10)]));
  });
});

describe('metering', () => {
  it('packets/s with a burst: the burst passes at once, then the rate', () => {
    const t = table();
    t.apply(add(1, PKTPS | BURST, [drop(10, 5)]));
    expect(run(t, 1, 6, 1500, 0)).toEqual({ pass: 5, drop: 1, remark: 0 });
    expect(t.meter(1, 1500, 99)).toEqual({ drop: true });
    expect(t.meter(1, 1500, 100)).toEqual({ drop: false });
    expect(t.meter(1, 1500, 100)).toEqual({ drop: true });
    // 100 packets/s for 10 s against 10 packets/s: the rate's 100 and nothing more (the bucket starts empty).
    const r = run(t, 1, 1000, 1500, 10, 110);
    expect(r.pass).toBeGreaterThanOrEqual(99);
    expect(r.pass).toBeLessThanOrEqual(100);
    expect(r.pass + r.drop).toBe(1000);
  });

  it('packets/s below the rate passes everything', () => {
    const t = table();
    t.apply(add(1, PKTPS | BURST, [drop(100, 1)]));
    expect(run(t, 1, 500, 64, 10.5)).toEqual({ pass: 500, drop: 0, remark: 0 });
  });

  it('kb/s with a burst: costs packets by their bits', () => {
    const t = table();
    // 1000 kb/s = 125 000 bytes/s; a 100 kb burst holds twelve 1000-byte (8 kb) packets.
    t.apply(add(1, KBPS | BURST, [drop(1000, 100)]));
    expect(run(t, 1, 13, 1000, 0)).toEqual({ pass: 12, drop: 1, remark: 0 });
    // 8000 kb/s offered for one second: 125 packets' worth pass.
    const r = run(t, 1, 1000, 1000, 1, 1);
    expect(r.pass).toBeGreaterThanOrEqual(124);
    expect(r.pass).toBeLessThanOrEqual(126);
    // 10 kb: one 1000-byte packet (8 kb); then 2 kb remain, enough for 250 bytes but not for 1 byte more.
    const t2 = table();
    t2.apply(add(1, KBPS | BURST, [drop(1000, 10)]));
    expect(t2.meter(1, 1000, 0)).toEqual({ drop: false });
    expect(t2.meter(1, 1000, 0)).toEqual({ drop: true });
    expect(t2.meter(1, 250, 0)).toEqual({ drop: false });
    expect(t2.meter(1, 1, 0)).toEqual({ drop: true });
  });

  it.each<[string, number, MeterBand, number, number]>([
    // [what, flags, band, packets sent at once, passed]
    ['100 packets/s: 100 ms = 10 packets', PKTPS, drop(100), 11, 10],
    ['1 packet/s: at least one packet', PKTPS, drop(1), 2, 1],
    ['1000 kb/s: 100 ms = 100 kb = 12 × 8 kb', KBPS, drop(1000), 13, 12],
    ['80 kb/s: at least one 1518-byte frame (12.1 kb)', KBPS, drop(80), 2, 1],
  ])('default bucket depth without OFPMF_BURST: %s', (_what, flags, band, sent, passed) => {
    const t = table();
    t.apply(add(1, flags, [band]));
    expect(run(t, 1, sent, 1000, 0).pass).toBe(passed);
  });

  const twoBands = (order: 'remark first' | 'drop first'): MeterBand[] =>
    order === 'remark first' ? [remark(10, 2, 2), drop(20, 2)] : [drop(20, 2), remark(10, 2, 2)];

  it.each<['remark first' | 'drop first']>([['remark first'], ['drop first']])(
    'the band applied is the exceeded one with the highest rate (%s)',
    (order) => {
      const t = table();
      t.apply(add(1, PKTPS | BURST, twoBands(order)));
      t.apply(add(2, PKTPS | BURST, twoBands(order)));
      t.apply(add(3, PKTPS | BURST, twoBands(order)));
      // 5/s: under both rates.
      expect(run(t, 1, 100, 64, 200)).toEqual({ pass: 100, drop: 0, remark: 0 });
      // 15/s for 20 s: what exceeds 10/s (all but the 2-packet burst and 10/s × 19.93 s, so 99) is remarked;
      // nothing exceeds 20/s.
      const mid = run(t, 2, 300, 64, 1000 / 15);
      expect(mid.drop).toBe(0);
      expect(mid.remark).toBeGreaterThanOrEqual(97);
      expect(mid.remark).toBeLessThanOrEqual(101);
      // 40/s for 10 s: what exceeds 20/s (400 - 2 - 20/s × 9.975 s, so 199) is dropped, whatever the remark
      // band says; about a quarter conforms to both rates and passes; the rest is remarked.
      const high = run(t, 3, 400, 64, 25);
      expect(high.drop).toBeGreaterThanOrEqual(197);
      expect(high.drop).toBeLessThanOrEqual(201);
      expect(high.pass).toBeGreaterThanOrEqual(99);
      expect(high.pass).toBeLessThanOrEqual(103);
      expect(high.remark).toBeGreaterThanOrEqual(96);
      expect(high.pass + high.remark + high.drop).toBe(400);
    },
  );

  it('a DSCP-remark band reports its prec_level and never drops', () => {
    const t = table();
    t.apply(add(1, PKTPS | BURST, [remark(1, 2, 1)]));
    expect(t.meter(1, 64, 0)).toEqual({ drop: false });
    expect(t.meter(1, 64, 0)).toEqual({ drop: false, dscpRaise: 2 });
  });

  it('an unconfigured meter passes everything; a clock going back refills nothing', () => {
    const t = table();
    expect(t.meter(OFPM.CONTROLLER, 64, 0)).toEqual({ drop: false });
    t.apply(add(1, PKTPS | BURST, [drop(1, 1)]));
    expect(t.meter(1, 64, 5000)).toEqual({ drop: false });
    expect(t.meter(1, 64, 1000)).toEqual({ drop: true });
    expect(t.meter(1, 64, 5999)).toEqual({ drop: true });
    expect(t.meter(1, 64, 6000)).toEqual({ drop: false });
  });

  it('modify replaces the bands with full buckets and keeps the meter counters', () => {
    const t = table();
    t.apply(add(1, PKTPS | BURST, [drop(1, 1)]), 0);
    t.ref(1, 2);
    expect(run(t, 1, 3, 100, 0)).toEqual({ pass: 1, drop: 2, remark: 0 });
    t.apply(modify(1, KBPS | BURST, [drop(8, 8), remark(4, 1, 8)]), 500);
    expect(t.meter(1, 1000, 500)).toEqual({ drop: false });
    expect(t.meter(1, 1000, 500)).toEqual({ drop: true });
    expect(t.stats(1, 1500)).toEqual([{
      meter_id: 1, flow_count: 2, packet_in_count: 5n, byte_in_count: 2300n, duration_sec: 1, duration_nsec: 500_000_000,
      band_stats: [{ packet_band_count: 1n, byte_band_count: 1000n }, { packet_band_count: 0n, byte_band_count: 0n }],
    }]);
  });
});

describe('counters and stats bodies', () => {
  function busy(): MeterTable {
    const t = table();
    t.apply(add(1, PKTPS | BURST | STATS, [remark(10, 1, 2), drop(20, 4)]), 1000);
    t.apply(add(3, KBPS, [drop(5000)]), 2000);
    for (let i = 0; i < 10; i++) t.meter(1, 100 + i, 1000);
    t.meter(3, 1500, 2000);
    t.ref(1, 4);
    t.ref(1, -1);
    t.ref(3, 1);
    t.ref(3, -5);
    t.ref(9, 1);
    return t;
  }

  it('counts per meter and per band, flow references and duration', () => {
    // Ten packets at once: bucket depths 2 (remark) and 4 (drop). Packets 0-1 pass, 2-3 are remarked, 4-9 dropped.
    expect(busy().stats(OFPM.ALL, 4000.5)).toEqual([
      {
        meter_id: 1, flow_count: 3, packet_in_count: 10n, byte_in_count: 1045n, duration_sec: 3, duration_nsec: 500_000,
        band_stats: [{ packet_band_count: 2n, byte_band_count: 205n }, { packet_band_count: 6n, byte_band_count: 639n }],
      },
      {
        meter_id: 3, flow_count: 0, packet_in_count: 1n, byte_in_count: 1500n, duration_sec: 2, duration_nsec: 500_000,
        band_stats: [{ packet_band_count: 0n, byte_band_count: 0n }],
      },
    ]);
    expect(busy().stats(4, 0)).toEqual([]);
  });

  it('uses the injected clock when no time is given', () => {
    let now = 500;
    const t = table({ clock: () => now });
    t.apply(add(1, PKTPS | BURST, [drop(1, 1)]));
    expect(t.meter(1, 64)).toEqual({ drop: false });
    expect(t.meter(1, 64)).toEqual({ drop: true });
    now += 1000;
    expect(t.meter(1, 64)).toEqual({ drop: false });
    expect(t.stats(1)[0]).toMatchObject({ duration_sec: 1, duration_nsec: 0 });
  });

  it('meter stats encode as an OFPMP_METER reply, fields where the spec puts them', () => {
    const msg = { type: 'OFPMeterStatsReply', xid: 3, flags: 0, body: busy().stats(1, 4000.5) } as const;
    const bytes = encode(msg);
    expect(decode(bytes)).toEqual(msg);
    // ofp_multipart_reply (16) + ofp_meter_stats (40) + 2 × ofp_meter_band_stats (16)
    expect(bytes.length).toBe(16 + 40 + 32);
    expect(bytes.readUInt32BE(16)).toBe(1);
    expect(bytes.readUInt16BE(20)).toBe(72);
    expect(bytes.readUInt32BE(28)).toBe(3);
    expect(bytes.readBigUInt64BE(32)).toBe(10n);
    expect(bytes.readBigUInt64BE(40)).toBe(1045n);
    expect(bytes.readUInt32BE(48)).toBe(3);
    expect(bytes.readUInt32BE(52)).toBe(500_000);
    expect(bytes.readBigUInt64BE(56)).toBe(2n);
    expect(bytes.readBigUInt64BE(72)).toBe(6n);
  });

  it('meter config encodes as an OFPMP_METER_CONFIG reply and gives back the bands sent', () => {
    const t = busy();
    expect(t.config(1)).toEqual([{ flags: PKTPS | BURST | STATS, meter_id: 1, bands: [remark(10, 1, 2), drop(20, 4)] }]);
    expect(t.config(2)).toEqual([]);
    const msg = { type: 'OFPMeterConfigStatsReply', xid: 4, flags: 0, body: t.config(OFPM.ALL) } as const;
    expect(msg.body.map((c) => c.meter_id)).toEqual([1, 3]);
    expect(decode(encode(msg))).toEqual(msg);
  });

  it('features: limits, band types and capabilities', () => {
    const f = table({ maxMeters: 1000, maxBands: 8 }).features();
    expect(f).toEqual({ max_meter: 1000, band_types: 0b110, capabilities: KBPS | PKTPS | BURST | STATS, max_bands: 8, max_color: 0 });
    const msg = { type: 'OFPMeterFeaturesStatsReply', xid: 5, flags: 0, body: [f] } as const;
    const bytes = encode(msg);
    expect(bytes.length).toBe(16 + 16);
    expect(decode(bytes)).toEqual(msg);
  });

  it.each<[Partial<MeterTableOptions>]>([[{ maxBands: 256 }], [{ maxBands: -1 }], [{ maxMeters: 1.5 }], [{ maxMeters: OFPM.MAX + 1 }]])(
    'rejects options %j',
    (opts) => {
      expect(() => table(opts)).toThrow(RangeError);
    },
  );
});

describe('raiseDropPrecedence', () => {
  it.each<[string, number, number, number]>([
    ['AF11 + 1 = AF12', 10, 1, 12],
    ['AF11 + 2 = AF13', 10, 2, 14],
    ['AF12 + 5 stops at AF13', 12, 5, 14],
    ['AF41 + 1 = AF42', 34, 1, 36],
    ['AF23 stays AF23', 22, 1, 22],
    ['+0 leaves AF31', 26, 0, 26],
    ['EF is not AF', 46, 1, 46],
    ['CS0 (best effort) is not AF', 0, 1, 0],
    ['CS1 is not AF', 8, 2, 8],
    ['odd codepoints are not AF', 11, 1, 11],
  ])('%s', (_what, dscp, levels, out) => {
    expect(raiseDropPrecedence(dscp, levels)).toBe(out);
  });
});
