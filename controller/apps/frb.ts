/**
 * EdgeVPN's FloodRouteBound (FRB), pure: the header codec and the bound rule that lets a broadcast
 * cross an overlay of arbitrary links exactly once without a spanning tree (EdgeVPN.md §5).
 *
 * Wire format, as EdgeVPN's bounded_flood.py packs it (struct "!16s16sBBB"):
 *
 *   outer Ethernet: dst ff:ff:ff:ff:ff:ff, src = the carried frame's source, ethertype 0xC0C0   14 bytes
 *   root_nid   16 bytes  the node that flooded the frame (a node id's 32 hex digits as bytes)
 *   bound_nid  16 bytes  where the receiver's share of the ring ends (exclusive)
 *   hop_count   1 byte   1 at the origin's neighbours, +1 per relay (here: saturating at 255)
 *   frb_type    1 byte   0 BRDCST, 1 LEAF_TX, 2 FWD, 3 LNK_CHK, 4 LNK_ACK
 *   pl_count    1 byte   always 0 in EdgeVPN; carried as it is
 *   the whole original Ethernet frame
 *
 * So an FRB frame is 49 bytes longer than the frame it carries: a link must carry frames of the leaf
 * MTU + 49 payload bytes (leaf MTU 1500 → link MTU ≥ 1549), or the largest broadcasts are lost there.
 *
 * The bound rule. Node ids, ordered numerically (32 lowercase hex digits compare as text), form a ring.
 * A node sees only its neighbours: L = its neighbours and itself, sorted, as a circle.
 *   origin:  each neighbour p gets bound = p's successor in L (the one just before the origin gets the
 *            origin itself). So the ring minus the origin is cut into arcs [p, bound), one per neighbour.
 *   relay:   a node X that got bound B sends to each neighbour p strictly inside the clockwise arc (X, B),
 *            with bound = whichever of (p's successor in L, B) comes first going clockwise from p.
 * Every node is responsible for the open arc after it, and hands out disjoint pieces of it: a node is
 * reached at most once whatever the links. It is reached exactly once when every node is linked to its
 * ring successor (EdgeVPN's topology always builds those links: the first node after X in (X, B) is
 * then X's neighbour, so the pieces cover the arc). Without them, nodes between X and its first
 * neighbour in (X, B) are missed, never duplicated (test/controller/frb.test.ts proves both).
 *
 * Imports only base/node-id.ts: pure functions of their arguments. Errors are FrbError with a stable code.
 */

import { isNodeId } from '../../base/node-id.js';

export const FRB_ETHERTYPE = 0xc0c0;
/** root_nid + bound_nid + hop_count + frb_type + pl_count. */
export const FRB_HEADER_LEN = 35;
const ETH_HLEN = 14;
/** Bytes an FRB frame adds to the frame it carries: the outer Ethernet header and the FRB header. */
export const FRB_OVERHEAD = ETH_HLEN + FRB_HEADER_LEN;
export const FRB_TYPE = { BRDCST: 0, LEAF_TX: 1, FWD: 2, LNK_CHK: 3, LNK_ACK: 4 } as const;
export type FrbType = (typeof FRB_TYPE)[keyof typeof FRB_TYPE];
export const MAX_HOP_COUNT = 255;

const TYPE_NAMES = Object.entries(FRB_TYPE).map(([n, v]) => `${n}(${v})`).join(', ');
/** Types whose payload is a whole Ethernet frame (the link checks carry none). */
const CARRIES_FRAME: ReadonlySet<number> = new Set([FRB_TYPE.BRDCST, FRB_TYPE.LEAF_TX, FRB_TYPE.FWD]);

const OFF_ROOT = ETH_HLEN;
const OFF_BOUND = OFF_ROOT + 16;
const OFF_HOP = OFF_BOUND + 16;
const OFF_TYPE = OFF_HOP + 1;
const OFF_PL = OFF_TYPE + 1;

export type FrbErrorCode =
  /** Shorter than an Ethernet header, or than Ethernet + FRB header. */
  | 'truncated'
  /** Not ethertype 0xC0C0. */
  | 'ethertype'
  /** frb_type not one EdgeVPN defines. */
  | 'type'
  /** The carried frame is shorter than an Ethernet header. */
  | 'inner'
  /** A BRDCST whose outer header is not (broadcast, the carried frame's source). */
  | 'outer'
  /** A node id that is not 32 lowercase hex digits. */
  | 'node-id'
  /** A header field out of range (encoding), or a bad option (the app). */
  | 'field';

export class FrbError extends Error {
  override readonly name: string = 'FrbError';
  constructor(
    readonly code: FrbErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface FrbHeader {
  /** The node that flooded the frame (32 lowercase hex). */
  readonly root: string;
  /** The end (exclusive) of the receiver's arc of the ring. */
  readonly bound: string;
  readonly hopCount: number;
  readonly type: FrbType;
  readonly plCount: number;
}

export interface FrbFrame {
  readonly header: FrbHeader;
  /** The outer Ethernet addresses, as text. */
  readonly outerDst: string;
  readonly outerSrc: string;
  /** The carried frame: a view into the decoded buffer, not a copy. */
  readonly inner: Buffer;
}

// ---- node ids ---------------------------------------------------------------------------------------

export { isNodeId };

/** Throws FrbError 'node-id' naming `what` unless s is 32 lowercase hex digits. */
export function checkNodeId(s: unknown, what: string): string {
  if (isNodeId(s)) return s;
  throw new FrbError('node-id', `${what} ${JSON.stringify(s)} is not a node id (32 lowercase hex digits)`);
}

// ---- the codec --------------------------------------------------------------------------------------

const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

function macText(b: Buffer, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (b[off + i] as number).toString(16).padStart(2, '0');
  return s;
}

function macBytes(s: string, what: string): Buffer {
  const m = /^([0-9a-fA-F]{2})(?::([0-9a-fA-F]{2})){5}$/.exec(s);
  if (!m) throw new FrbError('field', `${what} ${JSON.stringify(s)} is not a MAC address`);
  return Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
}

function byteField(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new FrbError('field', `${what} ${v} does not fit in one byte`);
  return v;
}

/** The outer addresses of a type other than BRDCST (LEAF_TX names the pendants; see EdgeVPN.md §5). */
export interface FrbOuter {
  readonly dst: string;
  readonly src: string;
}

/** A node id's 16 bytes (checked: FrbError 'node-id' naming `what`). */
export function nodeIdBytes(id: string, what = 'node id'): Buffer {
  return Buffer.from(checkNodeId(id, what), 'hex');
}

/** The 35 header bytes (root, bound, hop_count, frb_type, pl_count), checked. */
export function encodeFrbHeader(header: FrbHeader): Buffer {
  if (!(Object.values(FRB_TYPE) as number[]).includes(header.type)) throw new FrbError('type', `frb_type ${header.type} is not one of ${TYPE_NAMES}`);
  const out = Buffer.allocUnsafe(FRB_HEADER_LEN);
  nodeIdBytes(header.root, 'root_nid').copy(out, OFF_ROOT - ETH_HLEN);
  nodeIdBytes(header.bound, 'bound_nid').copy(out, OFF_BOUND - ETH_HLEN);
  out[OFF_HOP - ETH_HLEN] = byteField(header.hopCount, 'hop_count');
  out[OFF_TYPE - ETH_HLEN] = header.type;
  out[OFF_PL - ETH_HLEN] = byteField(header.plCount, 'pl_count');
  return out;
}

/**
 * An FRB frame carrying `inner`, in one buffer of the exact size. Without `outer` (BRDCST, as EdgeVPN
 * sends it) the outer destination is broadcast and the source is the inner frame's.
 */
export function encodeFrb(header: FrbHeader, inner: Buffer, outer?: FrbOuter): Buffer {
  const h = encodeFrbHeader(header);
  if (CARRIES_FRAME.has(header.type) && inner.length < ETH_HLEN) {
    throw new FrbError('inner', `the carried frame is ${inner.length} bytes: shorter than an Ethernet header (14)`);
  }
  if (outer === undefined) {
    if (inner.length < ETH_HLEN) throw new FrbError('inner', 'without outer addresses the carried frame must give the source MAC');
    return wrapFrb(h, inner);
  }
  const out = Buffer.allocUnsafe(FRB_OVERHEAD + inner.length);
  macBytes(outer.dst, 'outer destination').copy(out, 0);
  macBytes(outer.src, 'outer source').copy(out, 6);
  out.writeUInt16BE(FRB_ETHERTYPE, 12);
  h.copy(out, ETH_HLEN);
  inner.copy(out, FRB_OVERHEAD);
  return out;
}

/**
 * The broadcast FRB frame for `inner` (at least an Ethernet header) with a header made by
 * encodeFrbHeader: outer destination broadcast, source the inner frame's. The fast path for an app that
 * makes the same header for many frames (a node's bounds change only with its links).
 */
export function wrapFrb(header: Buffer, inner: Buffer): Buffer {
  if (header.length !== FRB_HEADER_LEN) throw new FrbError('field', `an FRB header is ${FRB_HEADER_LEN} bytes, not ${header.length}`);
  if (inner.length < ETH_HLEN) throw new FrbError('inner', `the carried frame is ${inner.length} bytes: shorter than an Ethernet header (14)`);
  const out = Buffer.allocUnsafe(FRB_OVERHEAD + inner.length);
  BROADCAST.copy(out, 0);
  inner.copy(out, 6, 6, 12);
  out.writeUInt16BE(FRB_ETHERTYPE, 12);
  header.copy(out, ETH_HLEN);
  inner.copy(out, FRB_OVERHEAD);
  return out;
}

/**
 * A copy of an FRB frame (one decodeFrb accepted) with another bound (16 bytes, nodeIdBytes) and
 * hop_count: what a relay sends, without decoding and encoding again.
 */
export function reboundFrb(frame: Buffer, bound: Buffer, hopCount: number): Buffer {
  if (frame.length < FRB_OVERHEAD) throw new FrbError('truncated', `FRB frame of ${frame.length} bytes: shorter than the FRB headers (${FRB_OVERHEAD})`);
  if (bound.length !== 16) throw new FrbError('node-id', `a bound is 16 bytes, not ${bound.length}`);
  const out = Buffer.allocUnsafe(frame.length);
  frame.copy(out);
  bound.copy(out, OFF_BOUND);
  out[OFF_HOP] = byteField(hopCount, 'hop_count');
  return out;
}

/**
 * Decodes an FRB frame. Throws FrbError naming what is wrong (and at which byte) for anything EdgeVPN
 * would not have sent: too short, another ethertype, an unknown frb_type, a carried frame shorter than
 * an Ethernet header, or a BRDCST whose outer header is not (broadcast, the carried frame's source).
 */
export function decodeFrb(frame: Buffer): FrbFrame {
  if (frame.length < ETH_HLEN) throw new FrbError('truncated', `FRB frame of ${frame.length} bytes: shorter than an Ethernet header (14)`);
  const et = frame.readUInt16BE(12);
  if (et !== FRB_ETHERTYPE) throw new FrbError('ethertype', `ethertype 0x${et.toString(16).padStart(4, '0')} at byte 12 is not FRB's 0xc0c0`);
  if (frame.length < FRB_OVERHEAD) {
    throw new FrbError('truncated', `FRB header truncated: ${frame.length - ETH_HLEN} bytes after the Ethernet header, ${FRB_HEADER_LEN} needed`);
  }
  const type = frame[OFF_TYPE] as number;
  if (type > FRB_TYPE.LNK_ACK) throw new FrbError('type', `frb_type ${type} at byte ${OFF_TYPE} is not one of ${TYPE_NAMES}`);
  const inner = frame.subarray(FRB_OVERHEAD);
  if (CARRIES_FRAME.has(type) && inner.length < ETH_HLEN) {
    throw new FrbError('inner', `the carried frame at byte ${FRB_OVERHEAD} is ${inner.length} bytes: shorter than an Ethernet header (14)`);
  }
  const outerDst = macText(frame, 0);
  const outerSrc = macText(frame, 6);
  if (type === FRB_TYPE.BRDCST) {
    if (!frame.subarray(0, 6).equals(BROADCAST)) throw new FrbError('outer', `a BRDCST's outer destination ${outerDst} is not broadcast`);
    if (!frame.subarray(6, 12).equals(inner.subarray(6, 12))) {
      throw new FrbError('outer', `a BRDCST's outer source ${outerSrc} is not the carried frame's source ${macText(inner, 6)}`);
    }
  }
  return {
    header: {
      root: frame.toString('hex', OFF_ROOT, OFF_ROOT + 16),
      bound: frame.toString('hex', OFF_BOUND, OFF_BOUND + 16),
      hopCount: frame[OFF_HOP] as number,
      type: type as FrbType,
      plCount: frame[OFF_PL] as number,
    },
    outerDst,
    outerSrc,
    inner,
  };
}

// ---- bounds -----------------------------------------------------------------------------------------

export interface FloodTarget {
  /** The neighbour to send to. */
  readonly peer: string;
  /** The bound it gets. */
  readonly bound: string;
}

/**
 * Whether x lies strictly inside the clockwise arc from `from` to `to` on the ring of node ids. With
 * from === to the arc is the whole ring but that point.
 */
export function inArc(from: string, x: string, to: string): boolean {
  if (from < to) return from < x && x < to;
  if (from > to) return x > from || x < to;
  return x !== from;
}

/** The node's view of the ring: its neighbours and itself, checked, without repeats, in ring order. */
function ringOf(self: string, neighbours: readonly string[]): string[] {
  checkNodeId(self, 'self');
  const set = new Set<string>([self]);
  neighbours.forEach((n, i) => set.add(checkNodeId(n, `neighbour ${i}`)));
  return [...set].sort();
}

/** Where the origin sends a frame it floods: every neighbour, each with its successor in L as bound. */
export function originBounds(self: string, neighbours: readonly string[]): FloodTarget[] {
  const ring = ringOf(self, neighbours);
  const out: FloodTarget[] = [];
  ring.forEach((p, i) => {
    if (p !== self) out.push({ peer: p, bound: ring[(i + 1) % ring.length] as string });
  });
  return out;
}

/**
 * Where a node relays a frame it got with `bound` from `ingressPeer`: the neighbours strictly inside
 * (self, bound), never the ingress, each with the nearer of its successor in L and `bound`. A bound equal
 * to self never comes from a correct sender (bounds are never the receiver); it is taken as an empty arc
 * rather than the whole ring, so a bad frame cannot make a node flood everything.
 */
export function relayBounds(self: string, neighbours: readonly string[], bound: string, ingressPeer: string | undefined): FloodTarget[] {
  const ring = ringOf(self, neighbours);
  checkNodeId(bound, 'bound');
  if (bound === self) return [];
  const out: FloodTarget[] = [];
  ring.forEach((p, i) => {
    if (p === self || p === ingressPeer || !inArc(self, p, bound)) return;
    const succ = ring[(i + 1) % ring.length] as string;
    out.push({ peer: p, bound: inArc(p, succ, bound) ? succ : bound });
  });
  return out;
}
