/**
 * The meter table (OpenFlow 1.3.5 §5.7 "Meter Table", §6.6 "Meter Modification Messages",
 * §7.3.4.4 ofp_meter_mod, §7.3.5.12-14 meter statistics, configuration and features).
 *
 * A meter measures the rate of the packets sent to it (by flows' meter instruction) and applies at
 * most one of its bands to each: §5.7.1, "the meter band with the highest configured rate that is lower
 * than the current measured rate". Rates are kb/s (OFPMF_KBPS, 1 kb = 1000 bits, packets costed at their
 * frame length) or packets/s (OFPMF_PKTPS).
 *
 * Measurement is a token bucket per band, filled at the band's rate up to a depth: the band's
 * burst_size when the meter has OFPMF_BURST (kilobits, or packets), else rate × 100 ms but never less
 * than one 1518-byte frame or one packet, so that a slow meter still passes something. A band's bucket
 * holds what may still pass that band's rate; the packets beyond it are the ones the band acts on.
 *
 * A packet is offered to the bands from the highest rate down (the first listed first on a tie). It
 * takes the tokens of each band it fits, and the first band it does not fit applies: that band is the
 * one with the highest rate the packet exceeds (§5.7.1). The bands below it are neither consulted nor
 * charged, because the packet does not go on at their rate: a dropped packet is gone, and a remarked one
 * is out of profile, so neither must use up the allowance of the traffic that passes unmarked. This is
 * RFC 2698's two-rate three-colour marker (red charges no bucket, yellow only the peak bucket, green
 * both) for any number of bands. So with a DSCP-remark band at 100 pkt/s, a drop band at 150 pkt/s
 * and 250 pkt/s offered, 100 pkt/s are dropped, 50 remarked and 100 pass untouched, whatever the
 * arrival pattern. (OVS's datapath meters charge every band a packet fits, a dropped packet included,
 * so a lower band's bucket is drained by traffic a higher band drops and the split depends on the
 * arrival phase; with a single band the two agree.) A drop band drops; a DSCP-remark band tells the
 * pipeline to raise the packet's drop precedence by prec_level (raiseDropPrecedence() below says how).
 * A bucket only one packet deep measures strictly: arrivals that do not fall on the rate's period lose
 * the tokens that overflow it, so give a burst of two packets or more for the rate itself to pass.
 *
 * Virtual meters OFPM_SLOWPATH and OFPM_CONTROLLER may be configured like any meter (the datapath meters
 * packet-ins through OFPM_CONTROLLER); they do not take one of maxMeters' places and flows may not
 * name them (flow-mod validation's concern). An unconfigured meter does not limit.
 *
 * This file only decides and counts; it never touches packet bytes. Deleting a meter returns its id so
 * the caller removes the flow entries that use it (§6.6). Times are milliseconds from any fixed origin
 * (`now` arguments, or the injected clock when a call leaves `now` out).
 */
import { type MessageOf, type MeterBand, OFPET, OFPM, OFPMBT, OFPMC, OFPMF, OFPMMFC } from '../openflow/index.js';
import { OFPError } from './errors.js';

/** The fields of an OFPMeterMod message that the table acts on. */
export type MeterMod = Pick<MessageOf<'OFPMeterMod'>, 'command' | 'flags' | 'meter_id' | 'bands'>;
/** One body of an OFPMP_METER reply (ofp_meter_stats). */
export type MeterStats = MessageOf<'OFPMeterStatsReply'>['body'][number];
/** One body of an OFPMP_METER_CONFIG reply (ofp_meter_config). */
export type MeterConfig = MessageOf<'OFPMeterConfigStatsReply'>['body'][number];
/** The body of an OFPMP_METER_FEATURES reply (ofp_meter_features). */
export type MeterFeatures = MessageOf<'OFPMeterFeaturesStatsReply'>['body'][number];

/** What the pipeline does with a metered packet. */
export interface MeterVerdict {
  readonly drop: boolean;
  /** Drop-precedence levels to add to the packet's DSCP (a DSCP-remark band applied). */
  readonly dscpRaise?: number;
}

export interface MeterTableOptions {
  /** Most meters (OFPMMFC_OUT_OF_METERS beyond), virtual meters not counted; reported as max_meter. */
  readonly maxMeters: number;
  /** Most bands in one meter (OFPMMFC_OUT_OF_BANDS beyond), 0..255; reported as max_bands. */
  readonly maxBands: number;
  /** Milliseconds from a fixed origin, used when a call leaves out `now`. Default performance.now(). */
  readonly clock?: () => number;
}

/** Bucket depth without OFPMF_BURST, in milliseconds of the band's rate. */
export const DEFAULT_BURST_MS = 100;
/** The smallest default depth in kb/s meters: one full-size VLAN-tagged Ethernet frame, in bits. */
const MIN_DEPTH_BITS = 1518 * 8;

const PASS: MeterVerdict = Object.freeze({ drop: false });
const DROP: MeterVerdict = Object.freeze({ drop: true });
const KNOWN_FLAGS = OFPMF.KBPS | OFPMF.PKTPS | OFPMF.BURST | OFPMF.STATS;

interface BandState {
  readonly rate: number;
  /**
   * Bucket depth and fill, in bits (kb/s meters) or thousandths of a packet (packets/s meters): either
   * way the bucket fills by `rate` units a millisecond, and whole milliseconds keep the sums exact.
   */
  readonly depth: number;
  tokens: number;
  readonly verdict: MeterVerdict;
  packets: number;
  bytes: number;
}

interface MeterEntry {
  readonly id: number;
  readonly created: number;
  flags: number;
  kbps: boolean;
  /** The bands as the controller sent them, for meter-config. */
  config: readonly MeterBand[];
  /** The bands as listed (their stats go in this order). */
  bands: BandState[];
  /** The same bands by rate, highest first, the first listed first on a tie: the order packets meet them. */
  byRate: BandState[];
  /** When the buckets were last filled. */
  filled: number;
  flows: number;
  packets: number;
  bytes: number;
}

function meterError(code: number, detail: string): OFPError {
  return new OFPError(OFPET.METER_MOD_FAILED, code, detail);
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function isVirtual(id: number): boolean {
  return id === OFPM.SLOWPATH || id === OFPM.CONTROLLER;
}

/** Splits a duration in milliseconds into OpenFlow's (sec, nsec). */
function duration(ms: number): { duration_sec: number; duration_nsec: number } {
  const d = Math.max(0, ms);
  const sec = Math.floor(d / 1000);
  const nsec = Math.min(999_999_999, Math.floor((d - sec * 1000) * 1e6));
  return { duration_sec: sec >>> 0, duration_nsec: nsec };
}

/**
 * Raises a DSCP's drop precedence by `levels`, as a DSCP-remark band asks (§5.7.1). Drop precedence is
 * defined for the Assured Forwarding codepoints only (RFC 2597: AFxy = 8x + 2y, class x 1..4, drop
 * precedence y 1..3), so AFxy becomes AFx(min(3, y + levels)); every other codepoint is returned as is.
 */
export function raiseDropPrecedence(dscp: number, levels: number): number {
  const cls = dscp >>> 3;
  const dp = (dscp >>> 1) & 3;
  if ((dscp & 1) !== 0 || cls < 1 || cls > 4 || dp === 0) return dscp;
  return (cls << 3) | (Math.min(3, dp + Math.max(0, levels)) << 1);
}

export class MeterTable {
  private readonly meters = new Map<number, MeterEntry>();
  private readonly maxMeters: number;
  private readonly maxBands: number;
  private readonly clock: () => number;
  /** Meters other than the virtual ones. */
  private regular = 0;

  constructor(opts: MeterTableOptions) {
    if (!Number.isInteger(opts.maxMeters) || opts.maxMeters < 0 || opts.maxMeters > OFPM.MAX) {
      throw new RangeError(`maxMeters must be an integer in 0..${OFPM.MAX}, got ${opts.maxMeters}`);
    }
    if (!Number.isInteger(opts.maxBands) || opts.maxBands < 0 || opts.maxBands > 255) {
      throw new RangeError(`maxBands must be an integer in 0..255 (ofp_meter_features.max_bands is 8 bits), got ${opts.maxBands}`);
    }
    this.maxMeters = opts.maxMeters;
    this.maxBands = opts.maxBands;
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Number of meters configured, virtual ones included. */
  get size(): number {
    return this.meters.size;
  }

  has(meterId: number): boolean {
    return this.meters.has(meterId);
  }

  /**
   * Applies a meter-mod. Returns the ids of the meters it deleted (empty for add and modify), whose
   * flow entries the caller must now remove. Raises OFPError on any refusal, leaving the table as it was.
   */
  apply(mod: MeterMod, now: number = this.clock()): readonly number[] {
    switch (mod.command) {
      case OFPMC.ADD:
      case OFPMC.MODIFY:
        this.addOrModify(mod, now);
        return [];
      case OFPMC.DELETE:
        return this.delete(mod.meter_id);
      default:
        throw meterError(OFPMMFC.BAD_COMMAND, `meter-mod command ${mod.command} is not ADD, MODIFY or DELETE`);
    }
  }

  private addOrModify(mod: MeterMod, now: number): void {
    const id = mod.meter_id;
    const verb = mod.command === OFPMC.ADD ? 'add' : 'modify';
    if (id === 0 || (id > OFPM.MAX && !isVirtual(id))) {
      throw meterError(OFPMMFC.INVALID_METER, `cannot ${verb} meter ${hex(id)}: meters are 1..OFPM_MAX, OFPM_SLOWPATH and OFPM_CONTROLLER`);
    }
    const flags = mod.flags;
    if ((flags & ~KNOWN_FLAGS) !== 0) throw meterError(OFPMMFC.BAD_FLAGS, `meter ${id}: unknown flags ${hex(flags & ~KNOWN_FLAGS)}`);
    const kbps = (flags & OFPMF.KBPS) !== 0;
    if (kbps === ((flags & OFPMF.PKTPS) !== 0)) {
      throw meterError(OFPMMFC.BAD_FLAGS, `meter ${id}: exactly one of OFPMF_KBPS and OFPMF_PKTPS must be set (flags ${hex(flags)})`);
    }
    if (mod.bands.length > this.maxBands) {
      throw meterError(OFPMMFC.OUT_OF_BANDS, `meter ${id} has ${mod.bands.length} bands, more than the ${this.maxBands} supported`);
    }
    const burst = (flags & OFPMF.BURST) !== 0;
    const bands = mod.bands.map((b, i) => {
      const where = `meter ${id} band ${i}`;
      if (b.kind === 'OFPMeterBandExperimenter') throw meterError(OFPMMFC.BAD_BAND, `${where}: experimenter bands (${hex(b.experimenter)}) are not supported`);
      if (b.rate === 0) throw meterError(OFPMMFC.BAD_RATE, `${where}: rate is 0`);
      // §7.3.4.4: burst_size "is used only if the flags field includes OFPMF_BURST"; a zero burst passes nothing.
      if (burst && b.burst_size === 0) throw meterError(OFPMMFC.BAD_BURST, `${where}: OFPMF_BURST with burst_size 0`);
      return bandState(b, kbps, burst);
    });
    const existing = this.meters.get(id);
    if (mod.command === OFPMC.ADD && existing) throw meterError(OFPMMFC.METER_EXISTS, `meter ${id} already exists`);
    if (mod.command === OFPMC.MODIFY && !existing) throw meterError(OFPMMFC.UNKNOWN_METER, `meter ${id} does not exist`);
    if (!existing && !isVirtual(id) && this.regular >= this.maxMeters) {
      throw meterError(OFPMMFC.OUT_OF_METERS, `meter table is full (${this.maxMeters} meters)`);
    }
    if (existing) {
      // The meter keeps its flows, counters and age; its bands are new, with full buckets.
      existing.flags = flags;
      existing.kbps = kbps;
      existing.config = mod.bands;
      existing.bands = bands;
      existing.byRate = byRate(bands);
      existing.filled = now;
      return;
    }
    this.meters.set(id, {
      id, created: now, flags, kbps, config: mod.bands, bands, byRate: byRate(bands), filled: now, flows: 0, packets: 0, bytes: 0,
    });
    if (!isVirtual(id)) this.regular++;
  }

  private delete(id: number): readonly number[] {
    if (id === OFPM.ALL) {
      // Virtual meters too: a controller that clears all meters on connect can then add them again.
      const ids = [...this.meters.keys()];
      this.meters.clear();
      this.regular = 0;
      return ids;
    }
    if (id === 0 || (id > OFPM.MAX && !isVirtual(id))) {
      throw meterError(OFPMMFC.INVALID_METER, `cannot delete meter ${hex(id)}: not a meter id or OFPM_ALL`);
    }
    // §6.6: deleting a meter that does not exist is not an error.
    if (!this.meters.delete(id)) return [];
    if (!isVirtual(id)) this.regular--;
    return [id];
  }

  /** Adjusts the number of flow entries using a meter (flow_count). Unknown meters are ignored. */
  ref(meterId: number, delta: number): void {
    const m = this.meters.get(meterId);
    if (m) m.flows = Math.max(0, m.flows + delta);
  }

  /**
   * Meters one packet of `bytes` (frame length) at time `now` and says what to do with it. Allocates
   * nothing: verdicts are shared frozen objects. An unconfigured meter passes everything uncounted.
   */
  meter(meterId: number, bytes: number, now: number = this.clock()): MeterVerdict {
    const m = this.meters.get(meterId);
    if (!m) return PASS;
    m.packets++;
    m.bytes += bytes;
    const elapsed = now - m.filled;
    if (elapsed > 0) {
      m.filled = now;
      for (const b of m.bands) b.tokens = Math.min(b.depth, b.tokens + elapsed * b.rate);
    }
    const cost = m.kbps ? bytes * 8 : 1000;
    let hit: BandState | undefined;
    // From the highest rate down: the first band the packet does not fit applies, and only the bands
    // above it (which it fitted) are charged; see the file comment.
    for (const b of m.byRate) {
      if (b.tokens < cost) {
        hit = b;
        break;
      }
      b.tokens -= cost;
    }
    if (!hit) return PASS;
    hit.packets++;
    hit.bytes += bytes;
    return hit.verdict;
  }

  /** OFPMP_METER bodies for one meter or OFPM_ALL, by ascending id. A missing meter gives none. */
  stats(meterId: number, now: number = this.clock()): MeterStats[] {
    return this.pick(meterId).map((m) => ({
      meter_id: m.id,
      flow_count: m.flows,
      packet_in_count: BigInt(m.packets),
      byte_in_count: BigInt(m.bytes),
      ...duration(now - m.created),
      band_stats: m.bands.map((b) => ({ packet_band_count: BigInt(b.packets), byte_band_count: BigInt(b.bytes) })),
    }));
  }

  /** OFPMP_METER_CONFIG bodies for one meter or OFPM_ALL, by ascending id. A missing meter gives none. */
  config(meterId: number): MeterConfig[] {
    return this.pick(meterId).map((m) => ({ flags: m.flags, meter_id: m.id, bands: m.config }));
  }

  /** The OFPMP_METER_FEATURES body. */
  features(): MeterFeatures {
    return {
      max_meter: this.maxMeters,
      band_types: (1 << OFPMBT.DROP) | (1 << OFPMBT.DSCP_REMARK),
      capabilities: OFPMF.KBPS | OFPMF.PKTPS | OFPMF.BURST | OFPMF.STATS,
      max_bands: this.maxBands,
      max_color: 0,
    };
  }

  private pick(meterId: number): MeterEntry[] {
    if (meterId === OFPM.ALL) return [...this.meters.values()].sort((a, b) => a.id - b.id);
    const m = this.meters.get(meterId);
    return m ? [m] : [];
  }
}

/** The bands by descending rate; Array.prototype.sort is stable, so ties keep the listed order. */
function byRate(bands: readonly BandState[]): BandState[] {
  return [...bands].sort((a, b) => b.rate - a.rate);
}

/** A band's bucket, full. Units: bits (kb/s meters) or thousandths of a packet (packets/s meters). */
function bandState(b: Exclude<MeterBand, { kind: 'OFPMeterBandExperimenter' }>, kbps: boolean, burst: boolean): BandState {
  // burst_size is kilobits or packets: a thousand units either way.
  const depth = burst ? b.burst_size * 1000 : Math.max(b.rate * DEFAULT_BURST_MS, kbps ? MIN_DEPTH_BITS : 1000);
  const verdict = b.kind === 'OFPMeterBandDrop' ? DROP : Object.freeze({ drop: false, dscpRaise: b.prec_level });
  return { rate: b.rate, depth, tokens: depth, verdict, packets: 0, bytes: 0 };
}
