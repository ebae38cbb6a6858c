/**
 * Ryu's 81 OF1.3 golden vectors (bytes from ovs-ofctl and libofproto, JSON from Ryu):
 * decode → JSON deep-equals Ryu's; JSON → bytes identical (xid aside); JSON without lengths → identical.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Json, OFPCodecError, OFPET, OFPBRC, decode, encode, fromRyuJson, parseJson, toRyuJson } from '../../openflow/index.js';
import { encodeRyuPacket } from '../../openflow/ryu-packet.js';
import { VECTOR_DIR, firstDiff, loadVectors, stripLengths } from './vectors.js';

const vectors = loadVectors();

/** Ryu may give packet-out data as a packet-library object; the same bytes in base64 are equivalent. */
function normalizePacketData(j: Json): Json {
  const o = j as Record<string, Record<string, Json>>;
  const po = o['OFPPacketOut'];
  const data = po?.['data'];
  if (po && data !== null && typeof data === 'object' && !Array.isArray(data)) {
    return { OFPPacketOut: { ...po, data: encodeRyuPacket(data, 'data').toString('base64') } };
  }
  return j;
}

function withXid(bytes: Buffer, xid: number): Buffer {
  const b = Buffer.from(bytes);
  b.writeUInt32BE(xid, 4);
  return b;
}

function expectSameBytes(got: Buffer, want: Buffer): void {
  const at = firstDiff(got, want);
  expect(at, `first differing byte at offset ${at}: got ${got.subarray(at, at + 8).toString('hex')} want ${want.subarray(at, at + 8).toString('hex')}`).toBe(-1);
}

describe('Ryu OF1.3 golden vectors', () => {
  it('has all 81 vectors', () => {
    expect(vectors.length).toBe(81);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s: decode → Ryu JSON', (_name, v) => {
    expect(toRyuJson(decode(v.bytes))).toEqual(normalizePacketData(v.json));
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s: Ryu JSON → identical bytes', (_name, v) => {
    const msg = fromRyuJson(v.json);
    expectSameBytes(withXid(encode(msg), v.bytes.readUInt32BE(4)), v.bytes);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s: JSON without lengths → identical bytes', (_name, v) => {
    const msg = fromRyuJson(stripLengths(v.json));
    expectSameBytes(withXid(encode(msg), v.bytes.readUInt32BE(4)), v.bytes);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('%s: re-encoding the decoded message is stable', (_name, v) => {
    expectSameBytes(encode(decode(v.bytes)), v.bytes);
  });
});

describe('truncated flow-mod (libofproto-OFP13-flow_mod, first 64 bytes)', () => {
  const full = readFileSync(resolve(VECTOR_DIR, 'libofproto-OFP13-flow_mod.packet'));
  const expected = parseJson(readFileSync(resolve(VECTOR_DIR, 'libofproto-OFP13-flow_mod.packet.truncated64.json'), 'utf8'));

  it('Ryu reports it as OFPTruncatedMessage', () => {
    expect(Object.keys(expected as object)).toEqual(['OFPTruncatedMessage']);
  });

  it('is rejected as truncated with its header length as is', () => {
    const cut = full.subarray(0, 64);
    const err = catchErr(() => decode(cut));
    expect(err.errType).toBe(OFPET.BAD_REQUEST);
    expect(err.code).toBe(OFPBRC.BAD_LEN);
    expect(err.message).toMatch(/truncated/);
  });

  it('is rejected as truncated with the header length patched to 64 (the match runs past the end)', () => {
    const cut = Buffer.from(full.subarray(0, 64));
    cut.writeUInt16BE(64, 2);
    const err = catchErr(() => decode(cut));
    expect(err.errType).toBe(OFPET.BAD_MATCH);
    expect(err.code).toBe(1 /* OFPBMC_BAD_LEN */);
    expect(err.offset).toBeGreaterThanOrEqual(48);
  });
});

function catchErr(fn: () => unknown): OFPCodecError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OFPCodecError) return e;
    throw e;
  }
  throw new Error('expected an OFPCodecError');
}
