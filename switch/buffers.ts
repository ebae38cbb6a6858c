/**
 * Packet buffers for packet-in (OF1.3 §A.4.1, §A.3.7): a packet sent to the controller may be kept
 * here under a buffer_id so that a later packet-out or flow-mod names it instead of carrying the bytes.
 * Bounded (the oldest is evicted) and expiring; an id is used once. A buffer_id also encodes a
 * generation, so a stale id never reaches a newer packet in the same slot.
 */
import { OFPBRC, OFPET, OFP_NO_BUFFER } from '../openflow/index.js';
import { OFPError } from './errors.js';

export interface Buffered {
  readonly data: Buffer;
  readonly inPort: number;
}

interface Slot {
  id: number;
  data: Buffer;
  inPort: number;
  at: number;
}

export class PacketBuffers {
  private readonly slots: (Slot | undefined)[];
  private next = 0;
  private gen = 0;

  constructor(
    readonly size = 256,
    readonly maxAgeMs = 5000,
  ) {
    this.slots = new Array<Slot | undefined>(size);
  }

  /** Stores a copy of data; returns its buffer_id. */
  store(data: Buffer, inPort: number, now: number): number {
    const i = this.next;
    this.next = (this.next + 1) % this.size;
    if (i === 0) this.gen = (this.gen + 1) & 0xffff;
    const id = ((this.gen << 16) | i) >>> 0;
    if (id === OFP_NO_BUFFER) return this.store(data, inPort, now);
    this.slots[i] = { id, data: Buffer.from(data), inPort, at: now };
    return id;
  }

  /** Takes the packet out (an id is good once). Unknown or expired ids raise the spec's errors. */
  take(id: number, now: number): Buffered {
    const i = id & 0xffff;
    const s = i < this.size ? this.slots[i] : undefined;
    if (!s || s.id !== id) throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BUFFER_UNKNOWN, `buffer ${id} is unknown`);
    this.slots[i] = undefined;
    if (now - s.at > this.maxAgeMs) throw new OFPError(OFPET.BAD_REQUEST, OFPBRC.BUFFER_EMPTY, `buffer ${id} has expired`);
    return { data: s.data, inPort: s.inPort };
  }
}
