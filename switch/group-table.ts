/**
 * The group table (OpenFlow 1.3.5 §5.6 "Group Table", §6.5 "Group Table Modification Messages",
 * §7.3.4.2 ofp_group_mod, §7.3.5.9-11 group statistics, description and features).
 *
 * A group is a list of action buckets and a type that says which buckets a packet takes:
 *   ALL       every bucket (flooding, multicast);
 *   SELECT    one bucket, chosen by weight from the flow's hash, among live buckets only;
 *   INDIRECT  its one bucket;
 *   FF        the first live bucket (fast failover).
 * A bucket is live when its watch_port (unless OFPP_ANY) is live and its watch_group (unless OFPG_ANY)
 * is live; a group is live when at least one of its buckets is (§6.5). Where a bucket watches both,
 * both must be live (OVS takes either; requiring both never sends traffic into a dead watched element).
 *
 * Groups may chain: a bucket's group action or watch_group names another group. The table keeps the
 * chain graph acyclic (OFPGMFC_LOOP on add or modify) and refuses to delete a group that another group
 * names (OFPGMFC_CHAINED_GROUP), so no group ever points at a missing group; that is the
 * "chaining checks" capability this table advertises. Deleting with OFPG_ALL removes everything at once.
 *
 * This file only decides and counts. It imports the codec's types and the switch's error; it does not
 * execute actions (actions.ts and pipeline.ts do) and it never sees packets: the pipeline asks
 * select(group, flowHash) for the buckets to run and reports them back with hit(). Deleting a group
 * returns its id so the caller removes the flow entries that forward to it (§6.5: "the group and all
 * flows forwarded to it are deleted"). Times are milliseconds from any fixed origin (`now` arguments,
 * or the injected clock when a call leaves `now` out).
 */
import {
  type Action,
  type Bucket,
  type MessageOf,
  OFPAT,
  OFPBAC,
  OFPET,
  OFPG,
  OFPGC,
  OFPGMFC,
  OFPGT,
  OFPP,
} from '../openflow/index.js';
import { OFPError } from './errors.js';

/** The fields of an OFPGroupMod message that the table acts on. */
export type GroupMod = Pick<MessageOf<'OFPGroupMod'>, 'command' | 'group_type' | 'group_id' | 'buckets'>;
/** One body of an OFPMP_GROUP reply (ofp_group_stats). */
export type GroupStats = MessageOf<'OFPGroupStatsReply'>['body'][number];
/** One body of an OFPMP_GROUP_DESC reply (ofp_group_desc). */
export type GroupDesc = MessageOf<'OFPGroupDescStatsReply'>['body'][number];
/** The body of an OFPMP_GROUP_FEATURES reply (ofp_group_features). */
export type GroupFeatures = MessageOf<'OFPGroupFeaturesStatsReply'>['body'];

/** ofp_group_capabilities (§7.3.5.11); the codec's consts.ts has no table for it. */
export const OFPGFC = { SELECT_WEIGHT: 1, SELECT_LIVENESS: 2, CHAINING: 4, CHAINING_CHECKS: 8 } as const;

/** Every standard OpenFlow 1.3 action type, as the bitmap ofp_group_features.actions carries. */
const ALL_ACTIONS_BITMAP = Object.values(OFPAT)
  .filter((t) => t < 32)
  .reduce<number>((bits, t) => (bits | (1 << t)) >>> 0, 0);

const GROUP_TYPES: readonly number[] = [OFPGT.ALL, OFPGT.SELECT, OFPGT.INDIRECT, OFPGT.FF];

export interface GroupTableOptions {
  /** Most groups the table holds (OFPGMFC_OUT_OF_GROUPS beyond); reported per type in features(). */
  readonly maxGroups: number;
  /** Most buckets in one group (OFPGMFC_OUT_OF_BUCKETS beyond). Default 1024. */
  readonly maxBuckets?: number;
  /**
   * Whether an output action (and a watch_port) may name this port; false gives OFPBAC_BAD_OUT_PORT
   * (§6.4: "a port that will never be valid"). OFPP_ANY and OFPP_TABLE are refused before it is asked.
   */
  readonly isPortValid: (port: number) => boolean;
  /** Whether a port is live now (OFPPS_LIVE): fast-failover and select liveness ask it per packet. */
  readonly isPortLive: (port: number) => boolean;
  /**
   * Further checks on a bucket's actions (unsupported types, bad arguments), raising OFPError with
   * OFPET_BAD_ACTION as for flow-mods (§6.5: "validated using the same rules as those for flow mods").
   */
  readonly checkActions?: (actions: readonly Action[]) => void;
  /** Milliseconds from a fixed origin, used when a call leaves out `now`. Default performance.now(). */
  readonly clock?: () => number;
}

/** A bucket as select() hands it to the pipeline: its position in the group and what to run. */
export interface GroupBucket {
  /** Position in the group's bucket list; hit() and the bucket counters go by it. */
  readonly index: number;
  readonly weight: number;
  readonly watch_port: number;
  readonly watch_group: number;
  readonly actions: readonly Action[];
}

interface BucketEntry extends GroupBucket {
  /** This bucket alone, so that select() returns a single bucket without allocating. */
  readonly alone: readonly GroupBucket[];
  /** Per-bucket salt for the select hash. */
  readonly salt: number;
  packets: number;
  bytes: number;
}

interface GroupEntry {
  readonly id: number;
  readonly created: number;
  type: number;
  /** The buckets as the controller sent them, for group-desc. */
  desc: readonly Bucket[];
  buckets: readonly BucketEntry[];
  /** Groups this one names (group actions and watch_group). */
  children: ReadonlySet<number>;
  /** Groups that name this one. */
  readonly parents: Set<number>;
  /** Flow entries forwarding to this group (ref()). */
  refs: number;
  packets: number;
  bytes: number;
}

const NONE: readonly GroupBucket[] = Object.freeze([]);

function groupError(code: number, detail: string): OFPError {
  return new OFPError(OFPET.GROUP_MOD_FAILED, code, detail);
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** murmur3's 32-bit finaliser: spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Splits a duration in milliseconds into OpenFlow's (sec, nsec). */
function duration(ms: number): { duration_sec: number; duration_nsec: number } {
  const d = Math.max(0, ms);
  const sec = Math.floor(d / 1000);
  const nsec = Math.min(999_999_999, Math.floor((d - sec * 1000) * 1e6));
  return { duration_sec: sec >>> 0, duration_nsec: nsec };
}

export class GroupTable {
  private readonly groups = new Map<number, GroupEntry>();
  private readonly maxGroups: number;
  private readonly maxBuckets: number;
  private readonly isPortValid: (port: number) => boolean;
  private readonly isPortLive: (port: number) => boolean;
  private readonly checkActions: ((actions: readonly Action[]) => void) | undefined;
  private readonly clock: () => number;

  constructor(opts: GroupTableOptions) {
    if (!Number.isInteger(opts.maxGroups) || opts.maxGroups < 0 || opts.maxGroups > 0xffffffff) {
      throw new RangeError(`maxGroups must be an integer in 0..2^32-1, got ${opts.maxGroups}`);
    }
    const maxBuckets = opts.maxBuckets ?? 1024;
    if (!Number.isInteger(maxBuckets) || maxBuckets < 1) {
      throw new RangeError(`maxBuckets must be a positive integer, got ${maxBuckets}`);
    }
    this.maxGroups = opts.maxGroups;
    this.maxBuckets = maxBuckets;
    this.isPortValid = opts.isPortValid;
    this.isPortLive = opts.isPortLive;
    this.checkActions = opts.checkActions;
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Number of groups in the table. */
  get size(): number {
    return this.groups.size;
  }

  has(groupId: number): boolean {
    return this.groups.has(groupId);
  }

  /**
   * Applies a group-mod. Returns the ids of the groups it deleted (empty for add and modify), whose
   * flow entries the caller must now remove. Raises OFPError on any refusal, leaving the table as it was.
   */
  apply(mod: GroupMod, now: number = this.clock()): readonly number[] {
    switch (mod.command) {
      case OFPGC.ADD:
      case OFPGC.MODIFY:
        this.addOrModify(mod, now);
        return [];
      case OFPGC.DELETE:
        return this.delete(mod.group_id);
      default:
        throw groupError(OFPGMFC.BAD_COMMAND, `group-mod command ${mod.command} is not ADD, MODIFY or DELETE`);
    }
  }

  private addOrModify(mod: GroupMod, now: number): void {
    const id = mod.group_id;
    const verb = mod.command === OFPGC.ADD ? 'add' : 'modify';
    if (id > OFPG.MAX) throw groupError(OFPGMFC.INVALID_GROUP, `cannot ${verb} group ${hex(id)}: above OFPG_MAX, a reserved id`);
    const type = mod.group_type;
    if (!GROUP_TYPES.includes(type)) throw groupError(OFPGMFC.BAD_TYPE, `group ${id}: unknown group type ${type}`);
    const existing = this.groups.get(id);
    if (mod.command === OFPGC.ADD && existing) throw groupError(OFPGMFC.GROUP_EXISTS, `group ${id} already exists`);
    if (mod.command === OFPGC.MODIFY && !existing) throw groupError(OFPGMFC.UNKNOWN_GROUP, `group ${id} does not exist`);
    if (!existing && this.groups.size >= this.maxGroups) {
      throw groupError(OFPGMFC.OUT_OF_GROUPS, `group table is full (${this.maxGroups} groups)`);
    }
    const children = this.checkBuckets(id, type, mod.buckets);

    const buckets = mod.buckets.map((b, index): BucketEntry => {
      const alone: GroupBucket[] = [];
      const entry: BucketEntry = {
        index,
        weight: b.weight,
        watch_port: b.watch_port,
        watch_group: b.watch_group,
        actions: b.actions,
        alone,
        salt: fmix32(Math.imul(index + 1, 0x9e3779b9)),
        packets: 0,
        bytes: 0,
      };
      alone.push(entry);
      return entry;
    });

    if (existing) {
      for (const c of existing.children) this.groups.get(c)?.parents.delete(id);
      existing.type = type;
      existing.desc = mod.buckets;
      existing.buckets = buckets;
      existing.children = children;
    } else {
      this.groups.set(id, {
        id, created: now, type, desc: mod.buckets, buckets, children, parents: new Set(), refs: 0, packets: 0, bytes: 0,
      });
    }
    for (const c of children) this.groups.get(c)?.parents.add(id);
  }

  /**
   * Validates a group's buckets against the type and the table; returns the groups they name.
   * Codes: §6.5 and OVS's ofputil_check_group_mod where the spec leaves the code open.
   */
  private checkBuckets(id: number, type: number, buckets: readonly Bucket[]): Set<number> {
    if (type === OFPGT.INDIRECT && buckets.length !== 1) {
      throw groupError(OFPGMFC.INVALID_GROUP, `indirect group ${id} has ${buckets.length} buckets; it must have exactly one`);
    }
    if (buckets.length > this.maxBuckets) {
      throw groupError(OFPGMFC.OUT_OF_BUCKETS, `group ${id} has ${buckets.length} buckets, more than the ${this.maxBuckets} supported`);
    }
    const children = new Set<number>();
    buckets.forEach((b, i) => {
      const where = `group ${id} bucket ${i}`;
      // §6.5: "includes fields such as weight that are undefined for the specified group type".
      if (b.weight !== 0 && type !== OFPGT.SELECT) {
        throw groupError(OFPGMFC.INVALID_GROUP, `${where}: weight ${b.weight} is only defined for select groups`);
      }
      const watches = b.watch_port !== OFPP.ANY || b.watch_group !== OFPG.ANY;
      if (watches && (type === OFPGT.ALL || type === OFPGT.INDIRECT)) {
        throw groupError(OFPGMFC.WATCH_UNSUPPORTED, `${where}: ${type === OFPGT.ALL ? 'all' : 'indirect'} groups do not watch ports or groups`);
      }
      if (!watches && type === OFPGT.FF) {
        throw groupError(OFPGMFC.BAD_WATCH, `${where}: a fast-failover bucket needs a watch_port or a watch_group`);
      }
      if (b.watch_port !== OFPP.ANY) {
        const reserved = b.watch_port > OFPP.MAX && b.watch_port !== OFPP.LOCAL;
        if (reserved || !this.isPortValid(b.watch_port)) {
          throw groupError(OFPGMFC.BAD_WATCH, `${where}: cannot watch port ${hex(b.watch_port)}`);
        }
      }
      if (b.watch_group !== OFPG.ANY) {
        if (b.watch_group === id) throw groupError(OFPGMFC.LOOP, `${where}: group watches itself`);
        if (!this.groups.has(b.watch_group)) {
          throw groupError(OFPGMFC.BAD_WATCH, `${where}: watched group ${hex(b.watch_group)} does not exist`);
        }
        children.add(b.watch_group);
      }
      for (const a of b.actions) {
        if (a.kind === 'OFPActionOutput') {
          if (a.port === OFPP.ANY || a.port === OFPP.TABLE || !this.isPortValid(a.port)) {
            throw new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_OUT_PORT, `${where}: output to invalid port ${hex(a.port)}`);
          }
        } else if (a.kind === 'OFPActionGroup') {
          if (a.group_id === id) throw groupError(OFPGMFC.LOOP, `${where}: group forwards to itself`);
          if (!this.groups.has(a.group_id)) {
            throw new OFPError(OFPET.BAD_ACTION, OFPBAC.BAD_OUT_GROUP, `${where}: group action to missing group ${hex(a.group_id)}`);
          }
          children.add(a.group_id);
        }
      }
      this.checkActions?.(b.actions);
    });
    for (const c of children) {
      if (this.reaches(c, id)) throw groupError(OFPGMFC.LOOP, `group ${id} -> group ${c} would loop back to group ${id}`);
    }
    return children;
  }

  /** Whether `target` is reachable from `from` along group references. */
  private reaches(from: number, target: number): boolean {
    const seen = new Set<number>();
    const stack = [from];
    for (let g = stack.pop(); g !== undefined; g = stack.pop()) {
      if (g === target) return true;
      if (seen.has(g)) continue;
      seen.add(g);
      const e = this.groups.get(g);
      if (e) for (const c of e.children) stack.push(c);
    }
    return false;
  }

  private delete(id: number): readonly number[] {
    if (id === OFPG.ALL) {
      const ids = [...this.groups.keys()];
      this.groups.clear();
      return ids;
    }
    if (id > OFPG.MAX) throw groupError(OFPGMFC.INVALID_GROUP, `cannot delete group ${hex(id)}: a reserved id other than OFPG_ALL`);
    const g = this.groups.get(id);
    // §6.5: deleting a group that does not exist is not an error.
    if (!g) return [];
    if (g.parents.size > 0) {
      const by = [...g.parents].sort((a, b) => a - b).join(', ');
      throw groupError(OFPGMFC.CHAINED_GROUP, `group ${id} is named by group ${by}; delete or modify that first`);
    }
    for (const c of g.children) this.groups.get(c)?.parents.delete(id);
    this.groups.delete(id);
    return [id];
  }

  /** Adjusts the number of flow entries that forward to a group (ref_count). Unknown groups are ignored. */
  ref(groupId: number, delta: number): void {
    const g = this.groups.get(groupId);
    if (g) g.refs = Math.max(0, g.refs + delta);
  }

  /** Whether a group is live: at least one of its buckets is (§6.5). A missing group is not. */
  isLive(groupId: number): boolean {
    const g = this.groups.get(groupId);
    if (!g) return false;
    for (const b of g.buckets) if (this.bucketLive(b)) return true;
    return false;
  }

  private bucketLive(b: GroupBucket): boolean {
    return (b.watch_port === OFPP.ANY || this.isPortLive(b.watch_port)) && (b.watch_group === OFPG.ANY || this.isLive(b.watch_group));
  }

  /**
   * The buckets a packet of the flow with this hash takes through the group: all of them, the one,
   * the chosen one, or the first live one. Empty when the group is missing or nothing is live (drop).
   * The result is owned by the table; do not keep it across group-mods.
   *
   * SELECT uses weighted rendezvous hashing: every live bucket of non-zero weight w scores
   * ln(u)/w with u uniform in (0,1) from hash(flowHash, bucket); the highest score wins. A bucket wins
   * with probability w/Σw, one flow always takes the same bucket, and when a bucket goes down only the
   * flows that were on it move.
   */
  select(groupId: number, flowHash: number): readonly GroupBucket[] {
    const g = this.groups.get(groupId);
    if (!g) return NONE;
    switch (g.type) {
      case OFPGT.ALL:
        return g.buckets;
      case OFPGT.INDIRECT:
        return g.buckets[0]?.alone ?? NONE;
      case OFPGT.FF:
        for (const b of g.buckets) if (this.bucketLive(b)) return b.alone;
        return NONE;
      case OFPGT.SELECT: {
        let best: BucketEntry | undefined;
        let bestScore = -Infinity;
        for (const b of g.buckets) {
          if (b.weight === 0 || !this.bucketLive(b)) continue;
          const u = (fmix32((flowHash ^ b.salt) >>> 0) + 0.5) / 4294967296;
          const score = Math.log(u) / b.weight;
          if (score > bestScore) {
            bestScore = score;
            best = b;
          }
        }
        return best ? best.alone : NONE;
      }
      default:
        return NONE;
    }
  }

  /**
   * Counts one packet of `bytes` through a group: once in the group, and once in each bucket given
   * (a bucket index, or the list select() returned). An empty list counts the group only: a packet
   * that found no live bucket.
   */
  hit(groupId: number, buckets: number | readonly GroupBucket[], bytes: number): void {
    const g = this.groups.get(groupId);
    if (!g) return;
    g.packets++;
    g.bytes += bytes;
    if (typeof buckets === 'number') {
      const b = g.buckets[buckets];
      if (b) {
        b.packets++;
        b.bytes += bytes;
      }
      return;
    }
    for (const s of buckets) {
      const b = g.buckets[s.index];
      if (b) {
        b.packets++;
        b.bytes += bytes;
      }
    }
  }

  /** OFPMP_GROUP bodies for one group or OFPG_ALL, by ascending id. A missing group gives none. */
  stats(groupId: number, now: number = this.clock()): GroupStats[] {
    return this.pick(groupId).map((g) => ({
      group_id: g.id,
      ref_count: g.refs,
      packet_count: BigInt(g.packets),
      byte_count: BigInt(g.bytes),
      ...duration(now - g.created),
      bucket_stats: g.buckets.map((b) => ({ packet_count: BigInt(b.packets), byte_count: BigInt(b.bytes) })),
    }));
  }

  /** OFPMP_GROUP_DESC bodies: every group, by ascending id. */
  desc(): GroupDesc[] {
    return this.pick(OFPG.ALL).map((g) => ({ type: g.type, group_id: g.id, buckets: g.desc }));
  }

  /** The OFPMP_GROUP_FEATURES body. */
  features(): GroupFeatures {
    return {
      types: GROUP_TYPES.reduce((bits, t) => bits | (1 << t), 0),
      capabilities: OFPGFC.SELECT_WEIGHT | OFPGFC.SELECT_LIVENESS | OFPGFC.CHAINING | OFPGFC.CHAINING_CHECKS,
      max_groups: GROUP_TYPES.map(() => this.maxGroups),
      actions: GROUP_TYPES.map(() => ALL_ACTIONS_BITMAP),
    };
  }

  private pick(groupId: number): GroupEntry[] {
    if (groupId === OFPG.ALL) return [...this.groups.values()].sort((a, b) => a.id - b.id);
    const g = this.groups.get(groupId);
    return g ? [g] : [];
  }
}
