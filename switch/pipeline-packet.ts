/**
 * A packet in the pipeline: its bytes, where it came in, the pipeline's metadata and tunnel id, its
 * virtio-net offload header, and its flow key and header offsets, re-extracted lazily after a change.
 *
 * Bytes. `data` starts as a view into a port's receive slab: the switch forwards synchronously, so the
 * packet may be modified in place. Once the packet has been handed on while processing continues (queued
 * for output, cloned for a group bucket), it is marked shared, and the first modification after that
 * copies it (`writable()`), so what was handed on keeps its bytes. Headers are inserted by building the
 * bytes anew once (the only way a view can grow) and removed in place by moving the bytes before the gap
 * forward and taking a shorter view.
 *
 * Offloads. A frame from a port with offloads may carry a 10-byte virtio-net header (little-endian
 * fields: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset). Inserting or removing bytes in
 * front of the transport header moves csum_start and hdr_len along, so that the device, or the software
 * segmentation of a port without offloads, still finds the headers. With VIRTIO_NET_HDR_F_NEEDS_CSUM the
 * transport checksum field holds only the pseudo-header sum; actions.ts keeps it so.
 *
 * Allocation. A Packet owns one key array and one HeaderOffsets for its life; reset() reuses them for
 * the next frame, so a datapath can keep a pool of packets. 64-bit metadata and tunnel id are kept as
 * two 32-bit words each (bigint only at the edges: `metadata` and `tunnelId` accessors).
 *
 * May import: switch/key.ts, switch/key-extract.ts, switch/offload.ts (the virtio-net header's layout).
 */
import { type FlowKey, joinU64, newKey, splitU64 } from './key.js';
import { HeaderOffsets, type KeyMetaWords, extractKey } from './key-extract.js';

import { VNET } from './offload.js';

/** virtio_net_hdr flags and field offsets: offload.ts owns the layout. */
export { VNET };

export class Packet implements KeyMetaWords {
  data: Buffer;
  inPort: number;
  inPhyPort: number;
  metadataHi = 0;
  metadataLo = 0;
  tunnelHi = 0;
  tunnelLo = 0;
  /** The virtio-net header, when the frame came with one. */
  vnet: Buffer | undefined;
  private isShared = false;
  private readonly keyWords: FlowKey = newKey();
  private readonly offs = new HeaderOffsets();
  /** A field's bytes changed: the key must be extracted again. */
  private keyStale = true;
  /** Headers moved (push/pop, a changed type): offsets and key must be extracted again. */
  private layoutStale = true;

  constructor(data: Buffer, inPort: number, inPhyPort: number = inPort, vnet?: Buffer) {
    this.data = data;
    this.inPort = inPort;
    this.inPhyPort = inPhyPort;
    this.vnet = vnet;
  }

  /** Makes this object the next frame's packet, keeping its arrays. */
  reset(data: Buffer, inPort: number, inPhyPort: number = inPort, vnet?: Buffer): this {
    this.data = data;
    this.inPort = inPort;
    this.inPhyPort = inPhyPort;
    this.vnet = vnet;
    this.metadataHi = 0;
    this.metadataLo = 0;
    this.tunnelHi = 0;
    this.tunnelLo = 0;
    this.isShared = false;
    this.keyStale = true;
    this.layoutStale = true;
    return this;
  }

  get length(): number {
    return this.data.length;
  }

  get metadata(): bigint {
    return joinU64(this.metadataHi, this.metadataLo);
  }

  set metadata(v: bigint) {
    const [hi, lo] = splitU64(v);
    this.setMetadataWords(hi, lo);
  }

  get tunnelId(): bigint {
    return joinU64(this.tunnelHi, this.tunnelLo);
  }

  set tunnelId(v: bigint) {
    const [hi, lo] = splitU64(v);
    this.setTunnelWords(hi, lo);
  }

  setMetadataWords(hi: number, lo: number): void {
    this.metadataHi = hi >>> 0;
    this.metadataLo = lo >>> 0;
    this.keyStale = true;
  }

  /** The write-metadata instruction: metadata = (metadata & ~mask) | (value & mask), word by word. */
  writeMetadata(valueHi: number, valueLo: number, maskHi: number, maskLo: number): void {
    this.setMetadataWords((this.metadataHi & ~maskHi) | (valueHi & maskHi), (this.metadataLo & ~maskLo) | (valueLo & maskLo));
  }

  setTunnelWords(hi: number, lo: number): void {
    this.tunnelHi = hi >>> 0;
    this.tunnelLo = lo >>> 0;
    this.keyStale = true;
  }

  /** The flow key of the packet as it is now (extracted again only after a change). */
  key(): FlowKey {
    if (this.keyStale || this.layoutStale) this.refresh();
    return this.keyWords;
  }

  /** Where the headers are, as they are now. */
  offsets(): HeaderOffsets {
    if (this.layoutStale) this.refresh();
    return this.offs;
  }

  private refresh(): void {
    extractKey(this.data, this, this.keyWords, this.offs);
    this.keyStale = false;
    this.layoutStale = false;
  }

  /** The bytes (and offload header) have been handed on: the next modification copies them first. */
  share(): void {
    this.isShared = true;
  }

  get shared(): boolean {
    return this.isShared;
  }

  /** The bytes, made private to this packet first if they are shared. Call before modifying them. */
  writable(): Buffer {
    if (this.isShared) this.own();
    return this.data;
  }

  private own(): void {
    this.data = Buffer.from(this.data);
    if (this.vnet !== undefined) this.vnet = Buffer.from(this.vnet);
    this.isShared = false;
  }

  /** Header field bytes were modified in place (offsets unchanged). */
  fieldsChanged(): void {
    this.keyStale = true;
  }

  /** Header structure changed (a type field rewritten): offsets and key are extracted again. */
  layoutChanged(): void {
    this.layoutStale = true;
  }

  /**
   * Opens a gap of n bytes at offset `at` and returns the new bytes (the gap's content is undefined; the
   * caller fills it). The packet owns the result.
   */
  insertBytes(at: number, n: number): Buffer {
    const old = this.data;
    const b = Buffer.allocUnsafe(old.length + n);
    old.copy(b, 0, 0, at);
    old.copy(b, at + n, at);
    this.data = b;
    if (this.vnet !== undefined && this.isShared) this.vnet = Buffer.from(this.vnet);
    this.isShared = false;
    this.adjustVnet(at, n);
    this.layoutStale = true;
    return b;
  }

  /** Removes bytes [at, at + n) by moving what is before them forward; returns the new bytes. */
  removeBytes(at: number, n: number): Buffer {
    if (at > 0) {
      const b = this.writable();
      b.copyWithin(n, 0, at);
    } else if (this.vnet !== undefined && this.isShared) {
      this.vnet = Buffer.from(this.vnet); // the bytes are not written, but the header will be
    }
    this.data = this.data.subarray(n);
    this.adjustVnet(at, -n);
    this.layoutStale = true;
    return this.data;
  }

  /** Moves csum_start and hdr_len of the offload header by delta for bytes inserted/removed at `at`. */
  private adjustVnet(at: number, delta: number): void {
    const h = this.vnet;
    if (h === undefined || h.length < VNET.SIZE) return;
    const edge = delta < 0 ? at - delta : at;
    if (((h[VNET.FLAGS] as number) & VNET.F_NEEDS_CSUM) !== 0) {
      const cs = h.readUInt16LE(VNET.CSUM_START);
      if (cs >= edge) h.writeUInt16LE(cs + delta, VNET.CSUM_START);
    }
    const hl = h.readUInt16LE(VNET.HDR_LEN);
    if (hl !== 0 && hl >= edge) h.writeUInt16LE(hl + delta, VNET.HDR_LEN);
  }

  /** Whether the transport checksum at l4Off is left to the device (holds the pseudo-header sum). */
  partialCsumAt(l4Off: number): boolean {
    const h = this.vnet;
    return (
      h !== undefined &&
      h.length >= VNET.SIZE &&
      ((h[VNET.FLAGS] as number) & VNET.F_NEEDS_CSUM) !== 0 &&
      h.readUInt16LE(VNET.CSUM_START) === l4Off
    );
  }

  /**
   * A copy for a group bucket or a second output path: both share the bytes until one writes (copy on
   * write); key and offsets are copied when fresh, so the copy does not parse again.
   */
  clone(): Packet {
    const c = new Packet(this.data, this.inPort, this.inPhyPort, this.vnet);
    c.metadataHi = this.metadataHi;
    c.metadataLo = this.metadataLo;
    c.tunnelHi = this.tunnelHi;
    c.tunnelLo = this.tunnelLo;
    this.isShared = true;
    c.isShared = true;
    if (!this.layoutStale) {
      c.offs.copyFrom(this.offs);
      c.layoutStale = false;
      if (!this.keyStale) {
        c.keyWords.set(this.keyWords);
        c.keyStale = false;
      }
    }
    return c;
  }
}
