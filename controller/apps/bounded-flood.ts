/**
 * BoundedFlood: EdgeVPN's overlay switching app (EdgeVPN.md §5) as an ordinary app of the in-tree
 * controller. It speaks only OpenFlow 1.3, so it drives the tinflow switch and Open vSwitch alike.
 *
 * Ports are leaf ports (hosts of this node: the application TAP) or peer ports (a link to another node):
 * `peerOf` names the peer behind a port, asked on switch enter for every port, on every port add and
 * when a port comes back up.
 * A port whose peerOf throws, or names no valid node id or this node itself, is left unused (logged).
 *
 * Flows (table 0), as EdgeVPN:
 *   priority 0      any                         → CONTROLLER, whole frame (OFPCML_NO_BUFFER)
 *   priority 100    eth_type=0xC0C0 (FRB)       → CONTROLLER, whole frame
 *   priority 100    eth_dst=01:80:c2:00:00:0X   → drop (802.1D link-local control: STP, LACP, LLDP;
 *                                                  no bridge forwards them)
 *   `priority` (1)  in_port, eth_src, eth_dst   → output, idle `idleTimeout` (60 s), cookie LEARNT_COOKIE
 * On switch enter the learnt flows of an earlier session are deleted (by cookie), so the switch holds
 * only what this app knows.
 *
 * Packet-ins:
 *   - group-addressed (broadcast or multicast) from a leaf port: FRB-encapsulated to every live peer with
 *     its bound (frb.ts originBounds), one packet-out per peer (each copy has its own bound), and the
 *     plain frame to the other live leaf ports (one packet-out).
 *   - FRB from a peer port: dropped if its root is this node; otherwise the carried frame goes to the
 *     live leaf ports (only to the one that holds its destination, or none if that destination lives
 *     elsewhere, when it is a known unicast MAC), and it is relayed within its bound (relayBounds) with
 *     hop_count + 1.
 *   - known unicast: a flow (in_port, eth_src, eth_dst) → output, and a packet-out for this frame.
 *
 * Learning: MAC → (port it arrived on, root node: this node for leaf ports, the FRB's root for a carried
 * frame, unchanged for plain unicast from a peer). The output for a MAC is its root's direct peer port
 * when the root is a neighbour, else the port it was learnt on. Learning from every FRB, not only from
 * ARP requests as EdgeVPN does, causes no path flips: bounds are a function of the links, so a root's
 * floods reach a node always through the same neighbour. When a MAC's output changes (it moved, or its
 * root became a neighbour), the learnt flows towards it are re-pointed: those that would now send it back
 * where it came from are deleted, the rest modified (OFPFC_MODIFY, filtered by cookie). When a port goes
 * (deleted, or its link or config down) its flows are deleted by out_port and by in_port, and the MACs
 * learnt there are forgotten unless their root is still a neighbour (then they move to its port). The
 * MAC table holds at most `maxMacs` per switch; beyond that the oldest learnt is forgotten (counted).
 *
 * Where EdgeVPN is weak, this does better:
 *   - Unknown unicast from a leaf is flooded via FRB like a broadcast (EdgeVPN drops it: "No forwarding
 *     route"), so a host whose entry aged or was never learnt stays reachable, as on any bridge.
 *     Plain unknown unicast from a peer (it thought we knew the destination) goes to our leaf ports only,
 *     never on to other peers, so it cannot loop.
 *   - Multicast is carried like broadcast, all of it: IPv6 needs 33:33/16 (neighbour discovery is
 *     multicast, so EdgeVPN's drop flow for 33:33/16 leaves IPv6 unusable on the overlay) and IPv4
 *     multicast (01:00:5e/24: mDNS, IGMP-joined groups) is what applications expect of a LAN. Only the
 *     802.1D reserved 01:80:c2:00:00:0X range is dropped. Plain group-addressed frames from a peer port are
 *     dropped, as EdgeVPN does: a BoundedFlood peer sends them as FRB, and flooding a plain one could loop.
 *   - hop_count saturates at 255 instead of wrapping (it is informational: loops are prevented by bounds).
 *   - A bad FRB frame from a peer (frb.ts decodeFrb refuses it) is dropped and counted, never thrown. FRB
 *     frames from a leaf port are dropped: a host must not claim to be a node.
 *   - LEAF_TX is not needed: EdgeVPN sends it so that a destination node learns which node hosts a
 *     source; here every FRB names its root, and outputs prefer the root's direct port. LEAF_TX, FWD and the
 *     link checks (Geneve only in EdgeVPN) are decoded and dropped as 'unsupported-type'.
 *
 * Frame sizes: an FRB frame is 49 bytes longer than the frame it carries (frb.ts), so a link must carry
 * the leaf MTU + 49 (1500 → 1549); a larger broadcast is lost on a link that cannot.
 *
 * Cost: each broadcast is a packet-in and up to 1 + (peers) packet-outs at its origin and at each node
 * reached. FRB headers for this node's floods are made once per change of links, and relays copy the
 * frame with a new bound rather than encode it again. Pure OpenFlow 1.3 cannot do FRB in the datapath: it
 * cannot push or pop an arbitrary header (only VLAN, MPLS, PBB tags) nor set fields that are not OXM
 * fields, and FRB's bound is per neighbour. A datapath-only flood would need another encoding (ring
 * indices in VLAN or MPLS tags, per-bound groups installed on topology change), which is not EdgeVPN's
 * wire format (see bench/bounded-flood.ts for what the packet-in costs).
 *
 * On-demand links (the `demand` option, off by default): every interval the learnt flows' counters are
 * read (one flow-stats request per switch), and the nodes that heavy flows go to are listed by demand()
 * for the topology (demand.ts says how "heavy" is judged).
 *
 * May import: ../app.ts (types), ./frb.ts, ./demand.ts, openflow/index.ts.
 */
import { OFPFC, OFPG, OFPP, OFPPC, OFPPS, OFP_NO_BUFFER, type MessageOf, type OFPMessage, type Port, deleteFlows, flowMod, output, packetOut } from '../../openflow/index.js';
import type { App, AppContext, Handlers } from '../app.js';
import {
  FRB_ETHERTYPE,
  FRB_TYPE,
  FrbError,
  type FrbFrame,
  MAX_HOP_COUNT,
  checkNodeId,
  decodeFrb,
  encodeFrbHeader,
  isNodeId,
  nodeIdBytes,
  originBounds,
  reboundFrb,
  relayBounds,
  wrapFrb,
} from './frb.js';
import { type DemandOptions, DemandTracker } from './demand.js';

/** Cookie of the flows this app learns: deletes and modifies touch only these. */
export const LEARNT_COOKIE = 0x4246_4c45_4152_4e54n; // "BFLEARNT"
/** Cookie of the fixed flows (table-miss, FRB to controller, reserved drop). */
export const BASE_COOKIE = 0x4246_0000_0000_0000n;
const ALL_BITS = 0xffff_ffff_ffff_ffffn;
/** The learnt flows' counters, for on-demand links. */
const LEARNT_FLOWS: OFPMessage = {
  type: 'OFPFlowStatsRequest', xid: 0, flags: 0, table_id: 0, out_port: OFPP.ANY, out_group: OFPG.ANY, cookie: LEARNT_COOKIE, cookie_mask: ALL_BITS, match: [],
};
const FRB_PRIORITY = 100;
/** Relay target lists kept per switch (see relaysFor). */
const RELAY_CACHE = 1024;
/** 802.1D reserved group addresses 01:80:c2:00:00:00-0f. */
const RESERVED = { value: '01:80:c2:00:00:00', mask: 'ff:ff:ff:ff:ff:f0' } as const;

export interface BoundedFloodOptions {
  readonly nodeId: string; // this node, 32 lowercase hex
  /** The peer node id behind a switch port, or undefined for a leaf (local) port. Asked on every port add
   *  and on switch enter (for each port in the port description); the embedding program registers a link's
   *  port name before it adds the port to the switch. */
  readonly peerOf: (port: { readonly port_no: number; readonly name: string }) => string | undefined;
  readonly idleTimeout?: number; // learnt unicast flows, s (EdgeVPN FlowIdleTimeout 60)
  readonly hardTimeout?: number; // 0
  /** Priority of learnt flows. Default 1 (EdgeVPN's). */
  readonly priority?: number;
  /** MACs remembered per switch; beyond, the oldest learnt is forgotten. Default 65536. */
  readonly maxMacs?: number;
  /**
   * On-demand links (EdgeVPN's TrafficAnalyzer, demand.ts): the learnt flows' counters are read every
   * interval, and the nodes hosting destinations of heavy flows are listed by demand(). Off without it.
   * Needs the controller's timers (the context the controller gives the app).
   */
  readonly demand?: DemandOptions;
}

export type DropReason =
  /** An FRB this node flooded came back. */
  | 'own-root'
  /** An FRB frame from a peer that decodeFrb refused. */
  | 'bad-header'
  /** An FRB of a type other than BRDCST. */
  | 'unsupported-type'
  /** An FRB frame from a leaf port. */
  | 'frb-from-leaf'
  /** A plain broadcast or multicast frame from a peer port. */
  | 'peer-plain-multicast'
  /** 802.1D reserved destination (the drop flow catches most). */
  | 'reserved-multicast'
  /** Shorter than an Ethernet header. */
  | 'runt'
  /** The packet-in holds less than the whole frame. */
  | 'truncated'
  /** A group (multicast) source address. */
  | 'group-source'
  /** The destination lives behind the port the frame came from. */
  | 'hairpin'
  /** From a port this app does not use (unknown, or peerOf failed for it). */
  | 'unknown-port';

const DROP_REASONS: readonly DropReason[] = [
  'own-root', 'bad-header', 'unsupported-type', 'frb-from-leaf', 'peer-plain-multicast', 'reserved-multicast', 'runt', 'truncated',
  'group-source', 'hairpin', 'unknown-port',
];

export interface BoundedFloodCounters {
  readonly packetIns: number;
  /** Frames from leaf ports flooded to the overlay (broadcast, multicast, unknown unicast). */
  readonly originated: number;
  /** Of those, unknown unicast (EdgeVPN drops these). */
  readonly unknownUnicast: number;
  /** FRB frames accepted from peers (not dropped). */
  readonly received: number;
  /** FRB copies relayed to peers. */
  readonly relayed: number;
  /** FRB copies sent to peers, originated and relayed. */
  readonly frbSent: number;
  /** Frames handed to leaf ports by packet-out (carried frames and local floods), one per port. */
  readonly delivered: number;
  /** MAC table entries added or changed. */
  readonly learnt: number;
  /** MAC table entries forgotten because the table was full. */
  readonly evicted: number;
  /** Learnt unicast flows installed. */
  readonly flowsInstalled: number;
  /** MACs whose flows were re-pointed to a new output. */
  readonly flowsRepointed: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

export interface MacTableEntry {
  /** The datapath, 16 hex digits. */
  readonly dpid: string;
  readonly mac: string;
  /** Where it was learnt. */
  readonly port: number;
  /** The node hosting it (this node for leaf MACs), if known. */
  readonly root: string | undefined;
  /** Where frames to it go: the root's direct port when the root is a neighbour, else `port`. */
  readonly out: number;
}

export interface BoundedFlood {
  /**
   * The app factory (give it to the Controller); it logs through the context when it gets one, and reads
   * flow counters for `demand` on the context's timers.
   */
  readonly app: (ctx?: Pick<AppContext, 'log'> & Partial<Pick<AppContext, 'timers' | 'now'>>) => App;
  counters(): BoundedFloodCounters;
  /** Nodes that heavy flows go to, wanting an on-demand link (empty without the `demand` option). */
  demand(): string[];
  /** The MAC table of every switch, for status. */
  macTable(): MacTableEntry[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };
type Dp = Parameters<NonNullable<Handlers['switchEnter']>>[0]['dp'];
type PacketIn = MessageOf<'OFPPacketIn'>;
type Log = AppContext['log'];

const QUIET: Log = { debug() {}, info() {}, warn() {}, error() {} };

function option(v: number | undefined, dflt: number, min: number, max: number, key: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw new FrbError('field', `boundedFlood: ${key} ${String(v)} is not an integer from ${min} to ${max}`);
  return v;
}

function macText(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

function isLive(p: Port): boolean {
  return (p.config & OFPPC.PORT_DOWN) === 0 && (p.state & OFPPS.LINK_DOWN) === 0;
}

interface Cfg {
  readonly self: string;
  readonly peerOf: BoundedFloodOptions['peerOf'];
  readonly idle: number;
  readonly hard: number;
  readonly priority: number;
  readonly maxMacs: number;
}

interface PortRec {
  readonly no: number;
  readonly name: string;
  /** Peer ports: the node behind it. */
  readonly peer: string | undefined;
  /** Not used at all: peerOf failed for it. */
  readonly unusable: boolean;
  live: boolean;
}

interface MacRec {
  port: number;
  root: string | undefined;
}

/** One switch: its ports by kind, its MAC table, and what its packet-ins and port changes call for. */
class FloodSwitch {
  readonly ports = new Map<number, PortRec>();
  /** 48-bit MAC → where it lives; Map order is learn order (the eviction order). */
  readonly macs = new Map<number, MacRec>();
  /** Live peer ports by peer node id. */
  private peerPorts = new Map<string, number>();
  /** Live leaf port numbers. */
  private leaves: number[] = [];
  /** Peers with a live port (the node's neighbours for the bounds). */
  private neighbours: string[] = [];
  /** Where a flooded frame goes and with which FRB header: fixed until the links change. */
  private originTargets: { readonly port: number; readonly header: Buffer }[] = [];
  /** Relay targets by (bound, ingress peer), until the links change; at most RELAY_CACHE entries. */
  private relayTargets = new Map<string, { readonly port: number; readonly bound: Buffer }[]>();

  constructor(
    readonly dp: Dp,
    private readonly cfg: Cfg,
    private readonly c: Mutable<BoundedFloodCounters>,
    private readonly log: Log,
  ) {
    for (const p of dp.ports.values()) this.ports.set(p.port_no, this.categorize(p));
    this.refresh();
  }

  // ---- ports ----

  private categorize(p: Port): PortRec {
    let peer: string | undefined;
    let unusable = false;
    try {
      const got = this.cfg.peerOf({ port_no: p.port_no, name: p.name });
      if (got !== undefined && (!isNodeId(got) || got === this.cfg.self)) {
        this.log.error({ port: p.port_no, name: p.name, peer: got }, `peerOf named ${isNodeId(got) ? 'this node itself' : 'no valid node id (32 lowercase hex digits)'}; the port is not used`);
        unusable = true;
      } else {
        peer = got;
      }
    } catch (e) {
      this.log.error({ port: p.port_no, name: p.name, err: e instanceof Error ? e.message : String(e) }, 'peerOf failed; the port is not used');
      unusable = true;
    }
    return { no: p.port_no, name: p.name, peer, unusable, live: isLive(p) };
  }

  private refresh(): void {
    const peers = new Map<string, number>();
    const leaves: number[] = [];
    for (const r of [...this.ports.values()].sort((a, b) => a.no - b.no)) {
      if (!r.live || r.unusable) continue;
      if (r.peer === undefined) leaves.push(r.no);
      else if (!peers.has(r.peer)) peers.set(r.peer, r.no);
    }
    this.peerPorts = peers;
    this.leaves = leaves;
    this.neighbours = [...peers.keys()];
    this.originTargets = originBounds(this.cfg.self, this.neighbours).map((t) => ({
      port: peers.get(t.peer) as number,
      header: encodeFrbHeader({ root: this.cfg.self, bound: t.bound, hopCount: 1, type: FRB_TYPE.BRDCST, plCount: 0 }),
    }));
    this.relayTargets = new Map();
  }

  private relaysFor(bound: string, ingress: string): { readonly port: number; readonly bound: Buffer }[] {
    const key = `${bound}/${ingress}`;
    let t = this.relayTargets.get(key);
    if (t === undefined) {
      t = relayBounds(this.cfg.self, this.neighbours, bound, ingress).map((r) => ({ port: this.peerPorts.get(r.peer) as number, bound: nodeIdBytes(r.bound) }));
      // Correct senders use a handful of bounds (node ids); a peer sending random ones only refills it.
      if (this.relayTargets.size >= RELAY_CACHE) this.relayTargets.clear();
      this.relayTargets.set(key, t);
    }
    return t;
  }

  /** The node hosting a MAC, when it is another node. */
  remoteRoot(mac: string): string | undefined {
    const m = this.macs.get(Number.parseInt(mac.replace(/:/g, ''), 16));
    return m?.root !== undefined && m.root !== this.cfg.self ? m.root : undefined;
  }

  entries(): MacTableEntry[] {
    const dpid = this.dp.id.toString(16).padStart(16, '0');
    return [...this.macs].map(([mac, m]) => ({ dpid, mac: macText(mac), port: m.port, root: m.root, out: this.outOf(m) }));
  }

  private outOf(m: MacRec): number {
    if (m.root !== undefined && m.root !== this.cfg.self) {
      const direct = this.peerPorts.get(m.root);
      if (direct !== undefined) return direct;
    }
    return m.port;
  }

  /** A port appeared, or its link or config came up: new outputs for the MACs whose root it leads to. */
  portUp(p: Port): OFPMessage[] {
    const before = new Map([...this.macs].map(([mac, m]) => [mac, this.outOf(m)]));
    this.ports.set(p.port_no, this.categorize(p));
    this.refresh();
    const out: OFPMessage[] = [];
    for (const [mac, m] of this.macs) {
      const now = this.outOf(m);
      if (before.get(mac) !== now) out.push(...this.repoint(mac, now));
    }
    return out;
  }

  /** A port went (deleted: `keep` false) or went down (kept, not live): its flows and MACs go. */
  portGone(no: number, keep: Port | undefined): OFPMessage[] {
    const rec = this.ports.get(no);
    if (keep) this.ports.set(no, rec ? { ...rec, live: false } : { ...this.categorize(keep), live: false });
    else this.ports.delete(no);
    this.refresh();
    for (const [mac, m] of this.macs) {
      if (m.port !== no) continue;
      const direct = m.root !== undefined && m.root !== this.cfg.self ? this.peerPorts.get(m.root) : undefined;
      if (direct !== undefined) m.port = direct;
      else this.macs.delete(mac);
    }
    // Every flow that outputs to the port or matches it goes; the MACs behind it are found again by
    // flooding. No re-pointing: all flows towards a MAC output the same port, so they went with it.
    return [
      deleteFlows({ table_id: 0, out_port: no, cookie: LEARNT_COOKIE, cookie_mask: ALL_BITS }),
      deleteFlows({ table_id: 0, match: { in_port: no }, cookie: LEARNT_COOKIE, cookie_mask: ALL_BITS }),
    ];
  }

  portModify(p: Port): OFPMessage[] | undefined {
    const rec = this.ports.get(p.port_no);
    const live = isLive(p);
    if (rec && rec.live === live) return undefined;
    return live ? this.portUp(p) : this.portGone(p.port_no, p);
  }

  // ---- learning ----

  private learn(mac: number, port: number, root: string | undefined): OFPMessage[] {
    const old = this.macs.get(mac);
    if (old && old.port === port && old.root === root) return [];
    const before = old ? this.outOf(old) : undefined;
    if (old) {
      this.macs.delete(mac);
    } else if (this.macs.size >= this.cfg.maxMacs) {
      const oldest = this.macs.keys().next();
      if (!oldest.done) this.macs.delete(oldest.value);
      this.c.evicted++;
    }
    const m: MacRec = { port, root };
    this.macs.set(mac, m);
    this.c.learnt++;
    const now = this.outOf(m);
    return before !== undefined && before !== now ? this.repoint(mac, now) : [];
  }

  /**
   * Flows towards `mac` now output to `port`: those that came in on `port` would send it back, so they
   * go (the next frame asks again); the others get the new output (OFPFC_MODIFY keeps their timeouts).
   */
  private repoint(mac: number, port: number): OFPMessage[] {
    const eth_dst = macText(mac);
    this.c.flowsRepointed++;
    return [
      deleteFlows({ table_id: 0, match: { in_port: port, eth_dst }, cookie: LEARNT_COOKIE, cookie_mask: ALL_BITS }),
      flowMod({ command: OFPFC.MODIFY, table_id: 0, match: { eth_dst }, cookie: LEARNT_COOKIE, cookie_mask: ALL_BITS, actions: [output(port)] }),
    ];
  }

  // ---- packet-ins ----

  private drop(reason: DropReason): undefined {
    this.c.dropped[reason]++;
    return undefined;
  }

  packetIn(msg: PacketIn, inPort: number): OFPMessage[] | undefined {
    const frame = msg.data;
    if (frame.length < 14) return this.drop('runt');
    if (frame.length < msg.total_len) return this.drop('truncated');
    let port = this.ports.get(inPort);
    if (!port) {
      const desc = this.dp.ports.get(inPort);
      if (desc) this.ports.set(inPort, (port = this.categorize(desc)));
      this.refresh();
    }
    if (!port || port.unusable) return this.drop('unknown-port');
    if (frame.readUInt16BE(12) === FRB_ETHERTYPE) return port.peer === undefined ? this.drop('frb-from-leaf') : this.frb(frame, inPort, port.peer);
    if ((frame[6] as number) & 1) return this.drop('group-source');
    const fromLeaf = port.peer === undefined;
    const src = frame.readUIntBE(6, 6);
    if ((frame[0] as number) & 1) {
      if (frame.readUIntBE(0, 5) === 0x0180c20000 && ((frame[5] as number) & 0xf0) === 0) return this.drop('reserved-multicast');
      if (!fromLeaf) return this.drop('peer-plain-multicast');
      return [...this.learn(src, inPort, this.cfg.self), ...this.flood(msg, frame, inPort)];
    }
    const old = this.macs.get(src);
    const root = fromLeaf ? this.cfg.self : old && old.root !== this.cfg.self ? old.root : undefined;
    const learnt = this.learn(src, inPort, root);
    const dst = this.macs.get(frame.readUIntBE(0, 6));
    if (dst) {
      const out = this.outOf(dst);
      if (out === inPort) {
        this.c.dropped.hairpin++;
        return learnt;
      }
      this.c.flowsInstalled++;
      const flow = flowMod({
        table_id: 0, priority: this.cfg.priority, idle_timeout: this.cfg.idle, hard_timeout: this.cfg.hard, cookie: LEARNT_COOKIE,
        buffer_id: msg.buffer_id, match: { in_port: inPort, eth_src: frame.subarray(6, 12), eth_dst: frame.subarray(0, 6) }, actions: [output(out)],
      });
      // A buffered packet goes out with the flow-mod; only an unbuffered one needs a packet-out.
      return [...learnt, flow, ...(msg.buffer_id === OFP_NO_BUFFER ? [packetOut({ packetIn: msg, actions: [output(out)] })] : [])];
    }
    if (fromLeaf) {
      this.c.unknownUnicast++;
      return [...learnt, ...this.flood(msg, frame, inPort)];
    }
    // Plain unicast from a peer for a MAC we do not know: the peer routed it here, so it is most likely
    // one of our hosts; our leaf ports get it, other peers never (no loop).
    return [...learnt, ...this.toLeaves(frame, this.leaves)];
  }

  /** A frame from a leaf: plain to the other leaves, FRB to every neighbour with its bound. */
  private flood(msg: PacketIn, frame: Buffer, inPort: number): OFPMessage[] {
    const out: OFPMessage[] = [];
    const leaves = this.leaves.filter((p) => p !== inPort);
    if (leaves.length > 0) {
      out.push(packetOut({ packetIn: msg, actions: leaves.map((p) => output(p)) }));
      this.c.delivered += leaves.length;
    }
    for (const t of this.originTargets) out.push(packetOut({ data: wrapFrb(t.header, frame), actions: [output(t.port)] }));
    this.c.originated++;
    this.c.frbSent += this.originTargets.length;
    return out;
  }

  private toLeaves(frame: Buffer, leaves: readonly number[]): OFPMessage[] {
    if (leaves.length === 0) return [];
    this.c.delivered += leaves.length;
    return [packetOut({ data: frame, actions: leaves.map((p) => output(p)) })];
  }

  /** An FRB frame from the peer `peer`. */
  private frb(frame: Buffer, inPort: number, peer: string): OFPMessage[] | undefined {
    let f: FrbFrame;
    try {
      f = decodeFrb(frame);
    } catch (e) {
      if (!(e instanceof FrbError)) throw e;
      this.log.debug({ port: inPort, peer, code: e.code, err: e.message }, 'bad FRB frame dropped');
      return this.drop('bad-header');
    }
    const h = f.header;
    if (h.type !== FRB_TYPE.BRDCST) return this.drop('unsupported-type');
    if (h.root === this.cfg.self) return this.drop('own-root');
    this.c.received++;
    const inner = f.inner;
    const out: OFPMessage[] = [];
    if (((inner[6] as number) & 1) === 0) out.push(...this.learn(inner.readUIntBE(6, 6), inPort, h.root));
    // Known unicast (a flood of a MAC the origin did not know): only the leaf that holds it, or none.
    let leaves = this.leaves;
    if (((inner[0] as number) & 1) === 0) {
      const dst = this.macs.get(inner.readUIntBE(0, 6));
      if (dst) leaves = leaves.includes(this.outOf(dst)) ? [this.outOf(dst)] : [];
    }
    out.push(...this.toLeaves(inner, leaves));
    const hopCount = Math.min(MAX_HOP_COUNT, h.hopCount + 1);
    const targets = this.relaysFor(h.bound, peer);
    for (const t of targets) out.push(packetOut({ data: reboundFrb(frame, t.bound, hopCount), actions: [output(t.port)] }));
    this.c.relayed += targets.length;
    this.c.frbSent += targets.length;
    return out;
  }
}

function zeroCounters(): Mutable<BoundedFloodCounters> {
  return {
    packetIns: 0, originated: 0, unknownUnicast: 0, received: 0, relayed: 0, frbSent: 0, delivered: 0, learnt: 0, evicted: 0,
    flowsInstalled: 0, flowsRepointed: 0, dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
  };
}

/**
 * BoundedFlood for one node. Throws FrbError naming the option when one is invalid. One instance per
 * node; its app may serve several switches (state is kept per datapath; counters are the sum).
 */
export function boundedFlood(opts: BoundedFloodOptions): BoundedFlood {
  const cfg: Cfg = {
    self: checkNodeId(opts.nodeId, 'boundedFlood: nodeId'),
    peerOf: opts.peerOf,
    idle: option(opts.idleTimeout, 60, 0, 0xffff, 'idleTimeout'),
    hard: option(opts.hardTimeout, 0, 0, 0xffff, 'hardTimeout'),
    priority: option(opts.priority, 1, 1, 0xffff, 'priority'),
    maxMacs: option(opts.maxMacs, 65536, 1, 2 ** 31, 'maxMacs'),
  };
  if (typeof cfg.peerOf !== 'function') throw new FrbError('field', 'boundedFlood: peerOf must be a function (port → peer node id or undefined)');
  const c = zeroCounters();
  const switches = new Map<bigint, FloodSwitch>();

  const demandOpts = opts.demand;
  const trackers = new Map<bigint, DemandTracker>();
  if (demandOpts !== undefined) new DemandTracker(demandOpts); // a bad option fails now, not at the first poll
  let clock: () => number = Date.now;

  /** Reads every switch's learnt flows once and updates its tracker. */
  const poll = async (log: Log): Promise<void> => {
    if (demandOpts === undefined) return;
    const now = clock();
    await Promise.all([...switches.values()].map(async (s) => {
      let t = trackers.get(s.dp.id);
      if (t === undefined) trackers.set(s.dp.id, (t = new DemandTracker(demandOpts)));
      try {
        const replies = await s.dp.request(LEARNT_FLOWS);
        const flows = replies.flatMap((r) => (r.type === 'OFPFlowStatsReply' ? r.body : []));
        t.update(flows, (mac) => s.remoteRoot(mac), now);
      } catch (e) {
        log.warn({ dpid: s.dp.id.toString(16), err: e instanceof Error ? e.message : String(e) }, 'reading flow counters for on-demand links failed');
      }
    }));
  };

  const app = (ctx?: Pick<AppContext, 'log'> & Partial<Pick<AppContext, 'timers' | 'now'>>): App => {
    const log = ctx?.log ?? QUIET;
    if (ctx?.now !== undefined) clock = () => ctx.now?.() ?? Date.now();
    const sw = (dp: Dp): FloodSwitch | undefined => switches.get(dp.id);
    return {
      name: 'bounded-flood',
      start: () => {
        if (demandOpts === undefined) return;
        if (ctx?.timers === undefined) throw new FrbError('field', 'boundedFlood: demand needs the controller\'s timers (run the app in a Controller)');
        ctx.timers.every(new DemandTracker(demandOpts).intervalMs, () => poll(log));
      },
      on: {
        switchEnter: ({ dp }) => {
          switches.set(dp.id, new FloodSwitch(dp, cfg, c, log));
          return [
            deleteFlows({ cookie: LEARNT_COOKIE, cookie_mask: ALL_BITS }),
            flowMod({ table_id: 0, priority: 0, cookie: BASE_COOKIE, actions: [output(OFPP.CONTROLLER)] }),
            flowMod({ table_id: 0, priority: FRB_PRIORITY, cookie: BASE_COOKIE, match: { eth_type: FRB_ETHERTYPE }, actions: [output(OFPP.CONTROLLER)] }),
            flowMod({ table_id: 0, priority: FRB_PRIORITY, cookie: BASE_COOKIE, match: { eth_dst: RESERVED }, instructions: [] }),
          ];
        },
        switchLeave: ({ dp }) => {
          switches.delete(dp.id);
          trackers.delete(dp.id);
        },
        portAdd: ({ dp, port }) => sw(dp)?.portUp(port),
        portDelete: ({ dp, port }) => sw(dp)?.portGone(port.port_no, undefined),
        portModify: ({ dp, port }) => sw(dp)?.portModify(port),
        packetIn: ({ dp, msg, inPort }) => {
          c.packetIns++;
          return sw(dp)?.packetIn(msg, inPort);
        },
      },
    };
  };

  return {
    app,
    counters: () => ({ ...c, dropped: { ...c.dropped } }),
    demand: () => [...new Set([...trackers.values()].flatMap((t) => t.demand(clock())))],
    macTable: () => [...switches.values()].flatMap((s) => s.entries()),
  };
}
