/**
 * Address text, both ways, once: MAC (`01:23:45:67:89:ab`), IPv4 (dotted quad) and IPv6 (RFC 5952, as
 * inet_ntop and Ryu print it, IPv4-mapped and -compatible forms included).
 *
 * Readers take what the OpenFlow tools write: one or two hex digits per MAC group, one to three
 * decimal digits per IPv4 part, IPv6 with `::` and a trailing dotted quad. The `...Into` readers write
 * into a caller's buffer and return false on bad text (no allocation, no throw, for hot paths and for
 * callers with errors of their own); parseMac / parseIpv4 / parseIpv6 allocate and throw AddrError.
 *
 * May import: nothing at all, not even node: modules (the codec in openflow/ uses this file and must
 * stay free of I/O; see base/README.md).
 */

export type AddrKind = 'mac' | 'ipv4' | 'ipv6';

/** The number of bytes of each kind. */
export const ADDR_BYTES: Readonly<Record<AddrKind, number>> = { mac: 6, ipv4: 4, ipv6: 16 };

const EXPECTED: Readonly<Record<AddrKind, string>> = {
  mac: 'a MAC address like 01:23:45:67:89:ab',
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
};

export class AddrError extends Error {
  override readonly name = 'AddrError';
  constructor(
    readonly kind: AddrKind,
    readonly input: string,
  ) {
    super(`expected ${EXPECTED[kind]}, got ${JSON.stringify(input)}`);
  }
}

// ---- to text ----------------------------------------------------------------------------------------

export function macToText(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const x = b[off + i] as number;
    s += (i ? ':' : '') + (x < 16 ? '0' : '') + x.toString(16);
  }
  return s;
}

export function ipv4ToText(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::". */
export function ipv6ToText(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(((b[off + 2 * i] as number) << 8) | (b[off + 2 * i + 1] as number));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  // IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses end in a dotted quad.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
    return (bestLen === 5 ? '::ffff:' : '::') + ipv4ToText(b, off + 12);
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) s += '::';
      continue;
    }
    if (s !== '' && !s.endsWith(':')) s += ':';
    s += (w[i] as number).toString(16);
  }
  return s;
}

export function addrToText(kind: AddrKind, b: Uint8Array, off = 0): string {
  return kind === 'mac' ? macToText(b, off) : kind === 'ipv4' ? ipv4ToText(b, off) : ipv6ToText(b, off);
}

// ---- from text --------------------------------------------------------------------------------------

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Writes MAC text as 6 bytes at off; false (buf partly written) if s is not a MAC address. */
export function parseMacInto(s: string, buf: Uint8Array, off: number): boolean {
  let i = 0;
  for (let g = 0; g < 6; g++) {
    if (g > 0) {
      if (s.charCodeAt(i) !== 58) return false;
      i++;
    }
    const a = hexDigit(s.charCodeAt(i));
    if (a < 0) return false;
    const b = hexDigit(s.charCodeAt(i + 1));
    if (b < 0) {
      buf[off + g] = a;
      i += 1;
    } else {
      buf[off + g] = a * 16 + b;
      i += 2;
    }
  }
  return i === s.length;
}

/** Writes dotted-quad text as 4 bytes at off; false if s is not an IPv4 address. */
export function parseIpv4Into(s: string, buf: Uint8Array, off: number): boolean {
  let i = 0;
  for (let g = 0; g < 4; g++) {
    if (g > 0) {
      if (s.charCodeAt(i) !== 46) return false;
      i++;
    }
    let v = 0;
    let digits = 0;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) {
      v = v * 10 + (c - 48);
      if (++digits > 3) return false;
    }
    if (digits === 0 || v > 255) return false;
    buf[off + g] = v;
  }
  return i === s.length;
}

const GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Writes IPv6 text as 16 bytes at off; false if s is not an IPv6 address. */
export function parseIpv6Into(s: string, buf: Uint8Array, off: number): boolean {
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return false;
  let head = s;
  const tail: number[] = [];
  if (s.includes('.', lastColon)) {
    const v4 = new Uint8Array(4);
    if (!parseIpv4Into(s.slice(lastColon + 1), v4, 0)) return false;
    tail.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    head = s.slice(0, lastColon + 1);
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return false;
  const groupsOf = (text: string): number[] | undefined => {
    if (text === '') return [];
    const out: number[] = [];
    for (const g of text.split(':')) {
      if (!GROUP.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] as string);
  const right = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (left === undefined || right === undefined) return false;
  right.push(...tail);
  const n = left.length + right.length;
  if (halves.length === 2 ? n > 7 : n !== 8) return false;
  const words = [...left, ...new Array<number>(8 - n).fill(0), ...right];
  for (let i = 0; i < 8; i++) {
    buf[off + 2 * i] = (words[i] as number) >>> 8;
    buf[off + 2 * i + 1] = (words[i] as number) & 0xff;
  }
  return true;
}

/** Writes address text of `kind` at off; false if s is not one. */
export function parseAddrInto(kind: AddrKind, s: string, buf: Uint8Array, off: number): boolean {
  return kind === 'mac' ? parseMacInto(s, buf, off) : kind === 'ipv4' ? parseIpv4Into(s, buf, off) : parseIpv6Into(s, buf, off);
}

/** Address text of `kind` as a new Buffer; throws AddrError. */
export function parseAddr(kind: AddrKind, s: string): Buffer {
  const b = Buffer.alloc(ADDR_BYTES[kind]);
  if (!parseAddrInto(kind, s, b, 0)) throw new AddrError(kind, s);
  return b;
}

export const parseMac = (s: string): Buffer => parseAddr('mac', s);
export const parseIpv4 = (s: string): Buffer => parseAddr('ipv4', s);
export const parseIpv6 = (s: string): Buffer => parseAddr('ipv6', s);
