/** The meter table: meter-mod errors, token-bucket rates with an injected clock, bands, counters, stats bodies. */
import { describe, expect, it } from 'vitest';
import { type MeterBand, OFPET, OFPM, OFPMC, OFPMF, OFPMMFC, decode, encode } from '../../openflow/index.js';
import { OFPError } from '../../switch/errors.js';
import { type MeterMod, MeterTable, type MeterTableOptions, type MeterVerdict, raiseDropPrecedence } from '../../switch/meter-table.js';
import { rng } from '../helpers/rng.js';

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
      // band says; of the 20/s left, 10/s (and the burst) passes and the other 10/s is remarked.
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

interface Offer {
  /** Packets per second offered. */
  readonly pps: number;
  readonly seconds: number;
  readonly bytes: number;
  /** Seeded jitter: each packet lands at a random point of its 1/pps slot instead of its start. */
  readonly jitter?: number;
}

/** Offers packets at exact times on the injected clock (ms) and tallies per second what became of them. */
function offer(t: MeterTable, id: number, o: Offer): Tally {
  const r = o.jitter === undefined ? undefined : rng(o.jitter); // seeded: every run offers the same times
  const gap = 1000 / o.pps;
  const n = Math.round(o.pps * o.seconds);
  const tally: Tally = { pass: 0, drop: 0, remark: 0 };
  for (let i = 0; i < n; i++) {
    const v = t.meter(id, o.bytes, (i + (r ? r() * 0.999 : 0)) * gap);
    if (v.drop) tally.drop++;
    else if (v.dscpRaise !== undefined) tally.remark++;
    else tally.pass++;
  }
  return { pass: tally.pass / o.seconds, drop: tally.drop / o.seconds, remark: tally.remark / o.seconds };
}

describe('rates over time: the packets above a band\'s rate are the ones it acts on (spec 5.7.1)', () => {
  // Ryu's meter patterns offer twice the band's rate: 200 packets/s against 100, 2000 against 1000, 20 Mbit/s
  // against 10. Whatever the burst, about the rate passes untouched and the rest is remarked, exactly as a
  // drop band with the same rate and burst would drop it: the remark band charges its bucket only for the
  // packets it lets through, like the drop band.
  interface Single {
    readonly what: string;
    readonly flags: number;
    readonly rate: number;
    /** burst_size with OFPMF_BURST; undefined for the default depth. */
    readonly burst: number | undefined;
    readonly offer: Offer;
    /** Packets per second the rate lets through. */
    readonly passes: number;
  }
  const singles: Single[] = [];
  for (const burst of [undefined, 2, 10, 100]) {
    singles.push({ what: `100 pkt/s, burst ${burst ?? 'default'}, 200 pkt/s offered`, flags: PKTPS, rate: 100, burst, offer: { pps: 200, seconds: 30, bytes: 1500 }, passes: 100 });
    singles.push({ what: `1000 pkt/s, burst ${burst ?? 'default'}, 2000 pkt/s offered, jittered`, flags: PKTPS, rate: 1000, burst, offer: { pps: 2000, seconds: 10, bytes: 1500, jitter: 1 }, passes: 1000 });
  }
  for (const burst of [undefined, 24, 100, 1000]) {
    // 1500-byte frames are 12 kb: 10 Mbit/s is 833.3 frames/s.
    singles.push({ what: `10 Mbit/s, burst ${burst ?? 'default'} kb, 21 Mbit/s offered`, flags: KBPS, rate: 10_000, burst, offer: { pps: 1750, seconds: 10, bytes: 1500 }, passes: 10_000_000 / 12_000 });
    singles.push({ what: `1 Mbit/s, burst ${burst ?? 'default'} kb, 2 Mbit/s offered, jittered`, flags: KBPS, rate: 1000, burst, offer: { pps: 2_000_000 / 8000, seconds: 30, bytes: 1000, jitter: 2 }, passes: 125 });
  }

  it.each(singles)('$what: the rate passes, the rest is remarked, as a drop band drops it', (c) => {
    const flags = c.flags | (c.burst === undefined ? 0 : BURST);
    const t = table();
    t.apply(add(1, flags, [remark(c.rate, 1, c.burst ?? 0)]));
    t.apply(add(2, flags, [drop(c.rate, c.burst ?? 0)]));
    const remarked = offer(t, 1, c.offer);
    const dropped = offer(t, 2, c.offer);
    // The full bucket at the start passes once more than the rate: burst_size over the run, or 100 ms.
    const depth = c.burst === undefined ? c.passes / 10 : c.flags === PKTPS ? c.burst : (c.burst * 1000) / (c.offer.bytes * 8);
    const slack = 1 + depth / c.offer.seconds;
    expect(remarked.drop).toBe(0);
    expect(remarked.pass).toBeGreaterThanOrEqual(c.passes - 1);
    expect(remarked.pass).toBeLessThanOrEqual(c.passes + slack);
    expect(remarked.remark).toBeGreaterThanOrEqual(c.offer.pps - c.passes - slack);
    expect(remarked.remark).toBeLessThanOrEqual(c.offer.pps - c.passes + 1);
    expect(dropped).toEqual({ pass: remarked.pass, drop: remarked.remark, remark: 0 });
  });

  // A DSCP-remark band under a higher drop band: what exceeds the drop rate is dropped, what is left above
  // the remark rate is remarked, and the remark rate passes untouched. Dropped packets must not use up the
  // remark band's allowance: charging every band a packet fits (the drop band's victims included) let only
  // half the remark rate through unmarked at 250 pkt/s, less with bursts, and the split moved with the
  // arrival phase.
  interface Pair {
    readonly what: string;
    readonly flags: number;
    /** The bands as listed (either order). */
    readonly bands: readonly MeterBand[];
    readonly offer: Offer;
    /** Expected per second: passed untouched, remarked, dropped. */
    readonly want: Tally;
    /** Allowed difference per second (the initial full buckets, rounding). */
    readonly slack: number;
  }
  const pairs: Pair[] = [
    { what: 'remark 100 + drop 150 pkt/s, 250 offered', flags: PKTPS, bands: [remark(100, 1), drop(150)], offer: { pps: 250, seconds: 30, bytes: 1500 }, want: { pass: 100, remark: 50, drop: 100 }, slack: 1 },
    { what: 'drop 150 + remark 100 pkt/s (listed the other way), 250 offered', flags: PKTPS, bands: [drop(150), remark(100, 1)], offer: { pps: 250, seconds: 30, bytes: 1500 }, want: { pass: 100, remark: 50, drop: 100 }, slack: 1 },
    { what: 'remark 100 + drop 150 pkt/s, 250 offered, jittered', flags: PKTPS, bands: [remark(100, 1), drop(150)], offer: { pps: 250, seconds: 30, bytes: 1500, jitter: 3 }, want: { pass: 100, remark: 50, drop: 100 }, slack: 1 },
    { what: 'remark 100 + drop 150 pkt/s, bursts 10 and 20, 300 offered', flags: PKTPS | BURST, bands: [remark(100, 1, 10), drop(150, 20)], offer: { pps: 300, seconds: 30, bytes: 1500 }, want: { pass: 100, remark: 50, drop: 150 }, slack: 1.5 },
    { what: 'remark 1000 + drop 1500 pkt/s, bursts 50, 2500 offered, jittered', flags: PKTPS | BURST, bands: [remark(1000, 1, 50), drop(1500, 50)], offer: { pps: 2500, seconds: 10, bytes: 1500, jitter: 4 }, want: { pass: 1000, remark: 500, drop: 1000 }, slack: 10 },
    // 1500-byte frames (12 kb): 1 Mbit/s = 83.3 frames/s, 1.5 Mbit/s = 125, 2.5 Mbit/s offered = 208.3
    { what: 'remark 1 Mbit/s + drop 1.5 Mbit/s, 2.5 Mbit/s offered, jittered', flags: KBPS, bands: [remark(1000, 1), drop(1500)], offer: { pps: 2_500_000 / 12_000, seconds: 30, bytes: 1500, jitter: 5 }, want: { pass: 1_000_000 / 12_000, remark: 500_000 / 12_000, drop: 1_000_000 / 12_000 }, slack: 1 },
    { what: 'remark 10 Mbit/s + drop 15 Mbit/s, bursts 100 kb, 25 Mbit/s offered', flags: KBPS | BURST, bands: [remark(10_000, 1, 100), drop(15_000, 100)], offer: { pps: 25_000_000 / 12_000, seconds: 10, bytes: 1500 }, want: { pass: 10_000_000 / 12_000, remark: 5_000_000 / 12_000, drop: 10_000_000 / 12_000 }, slack: 2 },
    // two drop bands: the lower one limits, as if it were alone
    { what: 'drop 100 + drop 150 pkt/s, 250 offered', flags: PKTPS, bands: [drop(100), drop(150)], offer: { pps: 250, seconds: 30, bytes: 1500 }, want: { pass: 100, remark: 0, drop: 150 }, slack: 1 },
  ];

  it.each(pairs)('$what', (c) => {
    const t = table();
    t.apply(add(1, c.flags, c.bands));
    const got = offer(t, 1, c.offer);
    expect(got.pass + got.remark + got.drop).toBeCloseTo(Math.round(c.offer.pps * c.offer.seconds) / c.offer.seconds, 6);
    for (const k of ['pass', 'remark', 'drop'] as const) {
      expect(Math.abs(got[k] - c.want[k]), `${k}: ${got[k]}/s, expected ${c.want[k]}/s (got ${JSON.stringify(got)})`).toBeLessThanOrEqual(c.slack);
    }
  });

  it('band counters follow the verdicts: the drop band counts what it dropped, the remark band what it remarked', () => {
    const t = table();
    t.apply(add(1, PKTPS | BURST, [remark(100, 1, 10), drop(150, 10)]));
    const got = offer(t, 1, { pps: 250, seconds: 10, bytes: 100 });
    const [s] = t.stats(1, 10_000);
    expect(s?.band_stats).toEqual([
      { packet_band_count: BigInt(got.remark * 10), byte_band_count: BigInt(got.remark * 10 * 100) },
      { packet_band_count: BigInt(got.drop * 10), byte_band_count: BigInt(got.drop * 10 * 100) },
    ]);
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
