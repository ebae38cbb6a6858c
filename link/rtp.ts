/**
 * The TinCan frame format: Ethernet frames as RTP payloads on one media track (SRTP over DTLS-SRTP keys,
 * no SCTP). libdatachannel, with no media handler on the track, sends a buffer given to
 * `sendMessageBinary` as one SRTP packet and hands the receiver each decrypted packet whole, RTP header
 * included; everything here is ours to write and to check.
 *
 *   RTP header, 12 bytes (RFC 3550): 0x80 (version 2, no padding, no extension, no CSRC),
 *   payload type (marker bit 0), sequence number (16 bits, +1 per packet of this SSRC: SRTP's replay
 *   window is 1024 packets, so it must count up), timestamp (32 bits, +1 per packet: no media clock
 *   here), SSRC (32 bits, random per link and side).
 *
 *   PT 96: one frame, the whole payload.
 *   PT 97: several frames, each as a 2-byte big-endian length and the frame; the lengths fill the
 *          payload exactly. Used only when one send() call hands over several frames that fit together
 *          (a TCP ACK train, ARP and a data frame...): a frame alone is never held back to wait for
 *          company, so packing adds no delay.
 *
 * A packet's payload is at most `maxPayload` bytes (the link's largest frame: MTU + 14 + 4 for a VLAN
 * tag), single or packed, so a packed packet is never larger on the wire than the largest single one.
 *
 * The receiver checks every packet (decodePacket) and refuses it whole when anything is off: a packet
 * that is not RTP version 2 as we write it, an unknown payload type, a frame shorter than an Ethernet
 * header or longer than the link's largest frame, lengths that do not fill a packed payload exactly.
 *
 * May import: nothing (Buffer is a global).
 */

export const RTP_HEADER_BYTES = 12;
/** Version 2, no padding, no header extension, no CSRCs: the only first byte we write or accept. */
export const RTP_FIRST_BYTE = 0x80;
export const PT_FRAME = 96;
export const PT_PACKED = 97;
/** The length in front of each frame of a packed payload. */
export const PACKED_LEN_BYTES = 2;
/** The shortest frame carried: an Ethernet header. */
export const MIN_FRAME_BYTES = 14;

/** Writes RTP headers for one sender (SSRC): sequence numbers and timestamps count up per packet. */
export class RtpHeaderWriter {
  private seq: number;
  private ts: number;

  constructor(
    readonly ssrc: number,
    /** The first sequence number (RFC 3550 suggests a random one). */
    firstSeq = 0,
  ) {
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffffffff) throw new RangeError(`SSRC ${ssrc} is not a 32-bit unsigned integer`);
    this.seq = firstSeq & 0xffff;
    this.ts = 0;
  }

  /** Writes the next header at buf[0..12) for payload type pt. */
  write(buf: Buffer, pt: number): void {
    buf[0] = RTP_FIRST_BYTE;
    buf[1] = pt & 0x7f;
    buf.writeUInt16BE(this.seq, 2);
    buf.writeUInt32BE(this.ts, 4);
    buf.writeUInt32BE(this.ssrc, 8);
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + 1) >>> 0;
  }
}

/**
 * Cuts a list of frames into packets: calls `emit(pt, first, end, payloadBytes)` for each run of frames
 * [first, end) that goes into one packet, in order. A run of one is PT 96; longer runs are PT 97.
 * Frames must already fit maxPayload alone (the caller drops the others and skips them via `skip`).
 */
export function planPackets(
  frames: readonly Buffer[],
  maxPayload: number,
  skip: (i: number) => boolean,
  emit: (pt: number, first: number, end: number, payloadBytes: number) => void,
): void {
  let first = -1;
  let count = 0;
  let packed = 0; // payload bytes if the run were packed (lengths included)
  let end = 0;
  const flush = (): void => {
    if (count === 0) return;
    if (count === 1) emit(PT_FRAME, first, end, (frames[first] as Buffer).length);
    else emit(PT_PACKED, first, end, packed);
    count = 0;
    packed = 0;
    first = -1;
  };
  for (let i = 0; i < frames.length; i++) {
    if (skip(i)) {
      // a run is contiguous in the list: a skipped frame ends it
      flush();
      continue;
    }
    const len = (frames[i] as Buffer).length;
    if (count > 0 && packed + PACKED_LEN_BYTES + len > maxPayload) flush();
    if (count === 0) first = i;
    count++;
    packed += PACKED_LEN_BYTES + len;
    end = i + 1;
  }
  flush();
}

/**
 * Writes the payload of frames [first, end) into buf at offset off (single: the frame; packed: each with
 * its length); returns the offset after it.
 */
export function writePayload(buf: Buffer, off: number, pt: number, frames: readonly Buffer[], first: number, end: number): number {
  if (pt === PT_FRAME) return off + (frames[first] as Buffer).copy(buf, off);
  let o = off;
  for (let i = first; i < end; i++) {
    const f = frames[i] as Buffer;
    buf.writeUInt16BE(f.length, o);
    o += PACKED_LEN_BYTES + f.copy(buf, o + PACKED_LEN_BYTES);
  }
  return o;
}

/** What decodePacket made of a packet. */
export type Verdict =
  | 'frames' // frames appended to out
  | 'rtcp' // an RTCP packet (RFC 5761 demultiplexing range): not ours, ignored
  | 'short' // shorter than an RTP header
  | 'version' // not 0x80 in the first byte: another RTP version, padding, extension or CSRCs
  | 'payload-type' // not PT 96 or 97
  | 'frame-length' // a frame shorter than an Ethernet header or longer than the link's largest frame
  | 'packing'; // packed lengths that do not fill the payload exactly

/**
 * Checks one received packet and appends its frames (views into pkt, no copies) to out. On any verdict
 * but 'frames' nothing is appended: a packet is taken whole or refused whole.
 */
export function decodePacket(pkt: Buffer, maxFrame: number, out: Buffer[]): Verdict {
  if (pkt.length < 2) return 'short';
  const b1 = pkt[1] as number;
  // RTCP shares the port (rtcp-mux): its packet types 192-223 sit where RTP has marker + PT 64-95.
  if (b1 >= 192 && b1 <= 223) return 'rtcp';
  if (pkt.length < RTP_HEADER_BYTES) return 'short';
  if (pkt[0] !== RTP_FIRST_BYTE) return 'version';
  const pt = b1 & 0x7f;
  if (pt === PT_FRAME) {
    const len = pkt.length - RTP_HEADER_BYTES;
    if (len < MIN_FRAME_BYTES || len > maxFrame) return 'frame-length';
    out.push(pkt.subarray(RTP_HEADER_BYTES));
    return 'frames';
  }
  if (pt !== PT_PACKED) return 'payload-type';
  const mark = out.length;
  let o = RTP_HEADER_BYTES;
  while (o < pkt.length) {
    if (o + PACKED_LEN_BYTES > pkt.length) {
      out.length = mark;
      return 'packing';
    }
    const len = pkt.readUInt16BE(o);
    o += PACKED_LEN_BYTES;
    if (len < MIN_FRAME_BYTES || len > maxFrame) {
      out.length = mark;
      return 'frame-length';
    }
    if (o + len > pkt.length) {
      out.length = mark;
      return 'packing';
    }
    out.push(pkt.subarray(o, o + len));
    o += len;
  }
  if (out.length === mark) return 'packing'; // a packed payload with no frame at all
  return 'frames';
}

/** The sequence number of an RTP packet (its header already checked). */
export function rtpSeq(pkt: Buffer): number {
  return pkt.readUInt16BE(2);
}
