/**
 * Ryu's packet library as JSON: the `{"Packet": {"protocols": [...]}}` form that os-ken's
 * `packet.Packet(frame).to_jsondict()` gives, and that Ryu's JSON may use for OFPPacketOut.data in place
 * of base64. encodeRyuPacket builds the frame the way os-ken's Packet.serialize() does (innermost
 * protocol first, filling in lengths and checksums exactly where os-ken fills them in); decodeRyuPacket
 * gives what os-ken's parser gives, including its quirks (all-zero remainders are dropped, a truncated
 * header ends parsing and the rest is kept as a raw base64 element).
 *
 * Covered: ethernet, vlan, svlan, arp, ipv4, ipv6 (without extension headers), icmp (echo, dest_unreach,
 * TimeExceeded, raw), icmpv6 (echo, neighbor and router discovery, raw), tcp (options as a list or as
 * raw bytes), udp, and raw payload given as a base64 string element. Where os-ken would go on to parse a
 * protocol not covered here (LLC, LLDP, MPLS, IGMP, SCTP, DHCP, VXLAN, MLD, IPv6 extension headers, ...),
 * decoding keeps those bytes raw instead.
 *
 * Imports only ./json.js; pure functions, no state.
 */
import {
  asArray,
  asObject,
  b64,
  ipv4FromText,
  ipv4ToText,
  ipv6FromText,
  ipv6ToText,
  jsonError,
  macFromText,
  macToText,
  str,
  toB64,
  uint,
  unwrap,
} from './json.js';
import type { Json, JsonObject } from './json.js';

/** The shortest Ethernet payload; os-ken pads shorter ones with zeros. */
const ETH_MIN_PAYLOAD = 46;

// ---- checksums -------------------------------------------------------------------------------------

/** The Internet checksum (RFC 1071) of the concatenated parts, as os-ken's packet_utils.checksum. */
function checksum(parts: readonly Uint8Array[]): number {
  let sum = 0;
  let high = -1; // a byte left over from a part of odd length
  for (const part of parts) {
    for (const byte of part) {
      if (high < 0) high = byte;
      else {
        sum += (high << 8) | byte;
        high = -1;
      }
    }
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  if (high >= 0) sum += high << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

// ---- JSON → frame ----------------------------------------------------------------------------------

/**
 * The keys of one JSON object, read with os-ken's constructor defaults for absent keys (as Ryu's
 * from_jsondict does) and checked for keys nobody read (Ryu rejects those as unexpected arguments).
 */
class Fields {
  private readonly used = new Set<string>();

  constructor(
    private readonly o: JsonObject,
    readonly path: string,
  ) {}

  static of(j: Json | undefined, path: string): Fields {
    return new Fields(asObject(j, path), path);
  }

  at(k: string): string {
    return `${this.path}.${k}`;
  }

  get(k: string): Json | undefined {
    this.used.add(k);
    return this.o[k];
  }

  need(k: string): Json {
    const v = this.get(k);
    if (v === undefined) throw jsonError(this.at(k), 'missing');
    return v;
  }

  uint(k: string, bits: number, dflt?: number): number {
    const v = this.get(k);
    if (v === undefined) {
      if (dflt === undefined) throw jsonError(this.at(k), 'missing');
      return dflt;
    }
    return uint(v, bits, this.at(k));
  }

  private text(k: string, dflt: string): string {
    const v = this.get(k);
    return v === undefined ? dflt : str(v, this.at(k));
  }

  mac(k: string, dflt: string): Buffer {
    return macFromText(this.text(k, dflt), this.at(k));
  }

  ipv4(k: string, dflt: string): Buffer {
    return ipv4FromText(this.text(k, dflt), this.at(k));
  }

  ipv6(k: string, dflt: string): Buffer {
    return ipv6FromText(this.text(k, dflt), this.at(k));
  }

  /** Base64 bytes, or null (os-ken's None) when null or absent. */
  bytesOrNull(k: string): Buffer | null {
    const v = this.get(k);
    return v === undefined || v === null ? null : b64(v, this.at(k));
  }

  done(): void {
    for (const k of Object.keys(this.o)) {
      if (!this.used.has(k)) throw jsonError(this.at(k), 'unknown key');
    }
  }
}

/**
 * One protocol of the list, checked and with everything that does not depend on the protocols after it
 * already laid out. `fixed` covers the protocols whose bytes never depend on their payload.
 */
type Layer =
  | { readonly kind: 'fixed'; readonly bytes: Buffer }
  | { readonly kind: 'ethernet'; readonly hdr: Buffer }
  | {
      readonly kind: 'ipv4';
      readonly hdr: Buffer;
      readonly totalLength: number;
      readonly src: Buffer;
      readonly dst: Buffer;
      readonly proto: number;
      readonly path: string;
    }
  | {
      readonly kind: 'ipv6';
      readonly hdr: Buffer;
      readonly payloadLength: number;
      readonly src: Buffer;
      readonly dst: Buffer;
      readonly nxt: number;
      readonly path: string;
    }
  | { readonly kind: 'icmpv6'; readonly hdr: Buffer; readonly csum: number; readonly path: string }
  | { readonly kind: 'tcp'; readonly hdr: Buffer; readonly csum: number; readonly path: string }
  | {
      readonly kind: 'udp';
      readonly srcPort: number;
      readonly dstPort: number;
      readonly totalLength: number;
      readonly csum: number;
      readonly path: string;
    };

const PROTOCOL_NAMES = ['ethernet', 'vlan', 'svlan', 'arp', 'ipv4', 'ipv6', 'icmp', 'icmpv6', 'tcp', 'udp'];

/**
 * Builds the frame from `{"Packet": {"protocols": [...]}}`. Absent keys take os-ken's defaults. Lengths
 * and checksums given as 0 are computed (ipv4 total_length, ipv6 payload_length, udp total_length, tcp
 * offset, icmp/icmpv6/tcp/udp csum, ND option lengths), as os-ken does; the IPv4 header checksum is
 * always computed, because os-ken ignores the given one. Other values are written as given. Beyond what
 * os-ken's from_jsondict accepts, this also takes raw base64 elements, TCP option lists and raw ICMP data
 * for any type, so that whatever decodeRyuPacket gives can be encoded again.
 */
export function encodeRyuPacket(j: Json, path: string): Buffer {
  const top = Fields.of(j, path);
  const pkt = Fields.of(top.need('Packet'), top.at('Packet'));
  top.done();
  const list = asArray(pkt.need('protocols'), pkt.at('protocols'));
  pkt.done();
  const layers = list.map((e, i) => toLayer(e, `${pkt.at('protocols')}[${i}]`));

  let payload: Buffer = Buffer.alloc(0);
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i] as Layer;
    payload = serialize(layer, payload, layers[i - 1]);
  }
  return payload;
}

function toLayer(e: Json, path: string): Layer {
  if (typeof e === 'string') return { kind: 'fixed', bytes: b64(e, path) };
  const [name, body] = unwrap(e, path);
  const f = new Fields(body, `${path}.${name}`);
  let layer: Layer;
  switch (name) {
    case 'ethernet':
      layer = ethernetLayer(f);
      break;
    case 'vlan':
    case 'svlan':
      layer = vlanLayer(f, name === 'vlan' ? 0x0800 : 0x8100);
      break;
    case 'arp':
      layer = arpLayer(f);
      break;
    case 'ipv4':
      layer = ipv4Layer(f);
      break;
    case 'ipv6':
      layer = ipv6Layer(f);
      break;
    case 'icmp':
      layer = icmpLayer(f);
      break;
    case 'icmpv6':
      layer = icmpv6Layer(f);
      break;
    case 'tcp':
      layer = tcpLayer(f);
      break;
    case 'udp':
      layer = udpLayer(f);
      break;
    default:
      throw jsonError(path, `unsupported protocol ${JSON.stringify(name)} (supported: ${PROTOCOL_NAMES.join(', ')}, or a base64 string)`);
  }
  f.done();
  return layer;
}

/** Puts one protocol in front of `payload` (the bytes of the protocols after it); `prev` is the one before. */
function serialize(layer: Layer, payload: Buffer, prev: Layer | undefined): Buffer {
  switch (layer.kind) {
    case 'fixed':
      return Buffer.concat([layer.bytes, payload]);
    case 'ethernet': {
      const pad = Math.max(0, ETH_MIN_PAYLOAD - payload.length);
      return Buffer.concat([layer.hdr, payload, Buffer.alloc(pad)]);
    }
    case 'ipv4': {
      const hdr = Buffer.from(layer.hdr);
      const total = layer.totalLength || hdr.length + payload.length;
      if (total > 0xffff) throw jsonError(`${layer.path}.total_length`, `the computed length ${total} exceeds 65535`);
      hdr.writeUInt16BE(total, 2);
      hdr.writeUInt16BE(checksum([hdr]), 10);
      return Buffer.concat([hdr, payload]);
    }
    case 'ipv6': {
      const hdr = Buffer.from(layer.hdr);
      if (layer.payloadLength === 0) {
        if (payload.length > 0xffff) throw jsonError(`${layer.path}.payload_length`, `the computed length ${payload.length} exceeds 65535`);
        hdr.writeUInt16BE(payload.length, 4);
      }
      return Buffer.concat([hdr, payload]);
    }
    case 'icmpv6': {
      const hdr = Buffer.from(layer.hdr);
      if (layer.csum === 0) {
        // os-ken counts only the ICMPv6 message itself in the pseudo-header length.
        const pseudo = pseudoHeader(prev, hdr.length, `${layer.path}.csum`);
        hdr.writeUInt16BE(checksum([pseudo, hdr, payload]), 2);
      }
      return Buffer.concat([hdr, payload]);
    }
    case 'tcp': {
      const hdr = Buffer.from(layer.hdr);
      if (layer.csum === 0) {
        const pseudo = pseudoHeader(prev, hdr.length + payload.length, `${layer.path}.csum`);
        hdr.writeUInt16BE(checksum([pseudo, hdr, payload]), 16);
      }
      return Buffer.concat([hdr, payload]);
    }
    case 'udp': {
      const total = layer.totalLength || 8 + payload.length;
      if (total > 0xffff) throw jsonError(`${layer.path}.total_length`, `the computed length ${total} exceeds 65535`);
      const hdr = Buffer.alloc(8);
      hdr.writeUInt16BE(layer.srcPort, 0);
      hdr.writeUInt16BE(layer.dstPort, 2);
      hdr.writeUInt16BE(total, 4);
      hdr.writeUInt16BE(layer.csum, 6);
      if (layer.csum === 0) {
        // os-ken puts udp.total_length (given or computed) in the pseudo-header, not the actual size.
        const pseudo = pseudoHeader(prev, total, `${layer.path}.csum`);
        hdr.writeUInt16BE(checksum([pseudo, hdr, payload]), 6);
      }
      return Buffer.concat([hdr, payload]);
    }
  }
}

/** The IPv4 or IPv6 pseudo-header built from the protocol just before, as os-ken's checksum_ip. */
function pseudoHeader(prev: Layer | undefined, length: number, path: string): Buffer {
  if (prev?.kind === 'ipv4') {
    if (length > 0xffff) throw jsonError(path, `the length ${length} does not fit the IPv4 pseudo-header`);
    const h = Buffer.alloc(12);
    prev.src.copy(h, 0);
    prev.dst.copy(h, 4);
    h[9] = prev.proto;
    h.writeUInt16BE(length, 10);
    return h;
  }
  if (prev?.kind === 'ipv6') {
    const h = Buffer.alloc(40);
    prev.src.copy(h, 0);
    prev.dst.copy(h, 16);
    h.writeUInt32BE(length, 32);
    h[39] = prev.nxt;
    return h;
  }
  throw jsonError(path, 'is 0, which asks for a checksum over the IP pseudo-header, but the protocol before this one is not ipv4 or ipv6');
}

function ethernetLayer(f: Fields): Layer {
  const hdr = Buffer.alloc(14);
  f.mac('dst', 'ff:ff:ff:ff:ff:ff').copy(hdr, 0);
  f.mac('src', '00:00:00:00:00:00').copy(hdr, 6);
  hdr.writeUInt16BE(f.uint('ethertype', 16, 0x0800), 12);
  return { kind: 'ethernet', hdr };
}

function vlanLayer(f: Fields, defaultEthertype: number): Layer {
  const bytes = Buffer.alloc(4);
  const pcp = f.uint('pcp', 3, 0);
  const cfi = f.uint('cfi', 1, 0);
  const vid = f.uint('vid', 12, 0);
  bytes.writeUInt16BE((pcp << 13) | (cfi << 12) | vid, 0);
  bytes.writeUInt16BE(f.uint('ethertype', 16, defaultEthertype), 2);
  return { kind: 'fixed', bytes };
}

function arpLayer(f: Fields): Layer {
  const bytes = Buffer.alloc(28);
  bytes.writeUInt16BE(f.uint('hwtype', 16, 1), 0);
  bytes.writeUInt16BE(f.uint('proto', 16, 0x0800), 2);
  bytes[4] = f.uint('hlen', 8, 6);
  bytes[5] = f.uint('plen', 8, 4);
  bytes.writeUInt16BE(f.uint('opcode', 16, 1), 6);
  f.mac('src_mac', 'ff:ff:ff:ff:ff:ff').copy(bytes, 8);
  f.ipv4('src_ip', '0.0.0.0').copy(bytes, 14);
  f.mac('dst_mac', 'ff:ff:ff:ff:ff:ff').copy(bytes, 18);
  f.ipv4('dst_ip', '0.0.0.0').copy(bytes, 24);
  return { kind: 'fixed', bytes };
}

function ipv4Layer(f: Fields): Layer {
  const version = f.uint('version', 4, 4);
  const ihl = f.uint('header_length', 4, 5);
  if (ihl < 5) throw jsonError(f.at('header_length'), `must be at least 5 (20 bytes), got ${ihl}`);
  const hdr = Buffer.alloc(ihl * 4);
  hdr[0] = (version << 4) | ihl;
  hdr[1] = f.uint('tos', 8, 0);
  const totalLength = f.uint('total_length', 16, 0);
  hdr.writeUInt16BE(f.uint('identification', 16, 0), 4);
  const flags = f.uint('flags', 3, 0);
  hdr.writeUInt16BE((flags << 13) | f.uint('offset', 13, 0), 6);
  hdr[8] = f.uint('ttl', 8, 255);
  const proto = f.uint('proto', 8, 0);
  hdr[9] = proto;
  f.uint('csum', 16, 0); // checked for range only: os-ken always computes the header checksum
  const src = f.ipv4('src', '10.0.0.1');
  const dst = f.ipv4('dst', '10.0.0.2');
  src.copy(hdr, 12);
  dst.copy(hdr, 16);
  const option = f.bytesOrNull('option');
  if (option && option.length > 0) {
    if (option.length > hdr.length - 20) {
      throw jsonError(f.at('option'), `${option.length} bytes do not fit in header_length ${ihl}, which leaves ${hdr.length - 20}`);
    }
    option.copy(hdr, 20);
  }
  return { kind: 'ipv4', hdr, totalLength, src, dst, proto, path: f.path };
}

function ipv6Layer(f: Fields): Layer {
  const hdr = Buffer.alloc(40);
  const version = f.uint('version', 4, 6);
  const trafficClass = f.uint('traffic_class', 8, 0);
  const flowLabel = f.uint('flow_label', 20, 0);
  hdr.writeUInt32BE(((version << 28) | (trafficClass << 20) | flowLabel) >>> 0, 0);
  const payloadLength = f.uint('payload_length', 16, 0);
  hdr.writeUInt16BE(payloadLength, 4);
  const nxt = f.uint('nxt', 8, 6);
  hdr[6] = nxt;
  hdr[7] = f.uint('hop_limit', 8, 255);
  const src = f.ipv6('src', '10::10');
  const dst = f.ipv6('dst', '20::20');
  src.copy(hdr, 8);
  dst.copy(hdr, 24);
  const ext = f.get('ext_hdrs');
  if (ext !== undefined && ext !== null && asArray(ext, f.at('ext_hdrs')).length > 0) {
    throw jsonError(f.at('ext_hdrs'), 'IPv6 extension headers are not supported');
  }
  return { kind: 'ipv6', hdr, payloadLength, src, dst, nxt, path: f.path };
}

/** The type, code and checksum of icmp and icmpv6. */
function icmpHead(f: Fields, defaultType: number): { hdr: Buffer; csum: number } {
  const hdr = Buffer.alloc(4);
  hdr[0] = f.uint('type', 8, defaultType);
  hdr[1] = f.uint('code', 8, 0);
  const csum = f.uint('csum', 16, 0);
  hdr.writeUInt16BE(csum, 2);
  return { hdr, csum };
}

/**
 * An ICMP body: a base64 string (raw bytes), null or absent (nothing), or `{ClassName: {...}}` built by
 * `build`. Returns null for nothing and for empty bytes, which os-ken treats alike.
 */
function icmpBody(j: Json | undefined, path: string, build: (name: string, f: Fields) => Buffer | undefined): Buffer | null {
  if (j === undefined || j === null) return null;
  if (typeof j === 'string') {
    const raw = b64(j, path);
    return raw.length > 0 ? raw : null;
  }
  const [name, body] = unwrap(j, path);
  const f = new Fields(body, `${path}.${name}`);
  const out = build(name, f);
  if (out === undefined) throw jsonError(path, `unsupported ICMP payload ${JSON.stringify(name)}`);
  f.done();
  return out;
}

/** ICMP and ICMPv6 echo: identifier, sequence number, data. */
function echoBody(f: Fields): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(f.uint('id', 16, 0), 0);
  head.writeUInt16BE(f.uint('seq', 16, 0), 2);
  const data = f.bytesOrNull('data');
  return data ? Buffer.concat([head, data]) : head;
}

function icmpLayer(f: Fields): Layer {
  const { hdr, csum } = icmpHead(f, 8);
  const body = icmpBody(f.get('data'), f.at('data'), (name, p) => {
    if (name === 'echo') return echoBody(p);
    if (name === 'dest_unreach' || name === 'TimeExceeded') {
      const head = Buffer.alloc(4);
      head[1] = p.uint('data_len', 8, 0);
      if (name === 'dest_unreach') head.writeUInt16BE(p.uint('mtu', 16, 0), 2);
      const data = p.bytesOrNull('data');
      return data ? Buffer.concat([head, data]) : head;
    }
    return undefined;
  });
  // With no data os-ken sends an empty echo (identifier and sequence number 0).
  const bytes = Buffer.concat([hdr, body ?? Buffer.alloc(4)]);
  if (csum === 0) bytes.writeUInt16BE(checksum([bytes]), 2);
  return { kind: 'fixed', bytes };
}

function icmpv6Layer(f: Fields): Layer {
  const { hdr, csum } = icmpHead(f, 0);
  const body = icmpBody(f.get('data'), f.at('data'), (name, p) => {
    switch (name) {
      case 'echo':
        return echoBody(p);
      case 'nd_neighbor': {
        const head = Buffer.alloc(20);
        head.writeUInt32BE(p.uint('res', 3, 0) * 2 ** 29, 0);
        p.ipv6('dst', '::').copy(head, 4);
        return Buffer.concat([head, ndOption(p.get('option'), p.at('option'))]);
      }
      case 'nd_router_solicit': {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(p.uint('res', 32, 0), 0);
        return Buffer.concat([head, ndOption(p.get('option'), p.at('option'))]);
      }
      case 'nd_router_advert': {
        const head = Buffer.alloc(12);
        head[0] = p.uint('ch_l', 8, 0);
        head[1] = p.uint('res', 2, 0) << 6;
        head.writeUInt16BE(p.uint('rou_l', 16, 0), 2);
        head.writeUInt32BE(p.uint('rea_t', 32, 0), 4);
        head.writeUInt32BE(p.uint('ret_t', 32, 0), 8);
        const options = p.get('options');
        const list = options === undefined || options === null ? [] : asArray(options, p.at('options'));
        return Buffer.concat([head, ...list.map((o, i) => ndOption(o, `${p.at('options')}[${i}]`))]);
      }
      default:
        return undefined;
    }
  });
  return { kind: 'icmpv6', hdr: body ? Buffer.concat([hdr, body]) : hdr, csum, path: f.path };
}

/** A neighbor-discovery option: null/absent (none), base64 (raw) or `{nd_option_*: {...}}`. */
function ndOption(j: Json | undefined, path: string): Buffer {
  if (j === undefined || j === null) return Buffer.alloc(0);
  if (typeof j === 'string') return b64(j, path);
  const [name, body] = unwrap(j, path);
  const f = new Fields(body, `${path}.${name}`);
  let out: Buffer;
  switch (name) {
    case 'nd_option_sla':
    case 'nd_option_tla': {
      const head = Buffer.alloc(8);
      head[0] = name === 'nd_option_sla' ? 1 : 2;
      const length = f.uint('length', 8, 0);
      head[1] = length;
      f.mac('hw_src', '00:00:00:00:00:00').copy(head, 2);
      const data = f.bytesOrNull('data') ?? Buffer.alloc(0);
      out = Buffer.concat([head, data, Buffer.alloc((8 - (data.length % 8)) % 8)]);
      if (length === 0) {
        if (out.length / 8 > 0xff) throw jsonError(f.at('length'), `the computed length ${out.length / 8} exceeds 255`);
        out[1] = out.length / 8;
      }
      break;
    }
    case 'nd_option_pi': {
      out = Buffer.alloc(32);
      out[0] = 3;
      out[1] = f.uint('length', 8, 0) || 4;
      out[2] = f.uint('pl', 8, 0);
      out[3] = f.uint('res1', 3, 0) << 5;
      out.writeUInt32BE(f.uint('val_l', 32, 0), 4);
      out.writeUInt32BE(f.uint('pre_l', 32, 0), 8);
      out.writeUInt32BE(f.uint('res2', 32, 0), 12);
      f.ipv6('prefix', '::').copy(out, 16);
      break;
    }
    case 'nd_option_mtu': {
      out = Buffer.alloc(8);
      out[0] = 5;
      out[1] = 1;
      out.writeUInt32BE(f.uint('mtu', 32, 1500), 4);
      break;
    }
    default:
      throw jsonError(path, `unsupported neighbor-discovery option ${JSON.stringify(name)}`);
  }
  f.done();
  return out;
}

function tcpLayer(f: Fields): Layer {
  const fixed = Buffer.alloc(20);
  fixed.writeUInt16BE(f.uint('src_port', 16, 1), 0);
  fixed.writeUInt16BE(f.uint('dst_port', 16, 1), 2);
  fixed.writeUInt32BE(f.uint('seq', 32, 0), 4);
  fixed.writeUInt32BE(f.uint('ack', 32, 0), 8);
  let offset = f.uint('offset', 4, 0);
  fixed[13] = f.uint('bits', 8, 0);
  fixed.writeUInt16BE(f.uint('window_size', 16, 0), 14);
  const csum = f.uint('csum', 16, 0);
  fixed.writeUInt16BE(csum, 16);
  fixed.writeUInt16BE(f.uint('urgent', 16, 0), 18);
  const options = tcpOptions(f.get('option'), f.at('option'));
  const parts: Buffer[] = [fixed];
  let size = 20;
  if (options.length > 0) {
    // os-ken pads the options to 32 bits, then up to the given offset, if any.
    const padded = options.length + ((4 - (options.length % 4)) % 4);
    const room = Math.max(padded, offset * 4 - 20);
    parts.push(options, Buffer.alloc(room - options.length));
    size += room;
  }
  if (offset === 0) {
    offset = size / 4;
    if (offset > 15) throw jsonError(f.at('offset'), `the computed header length ${size} exceeds 60 bytes`);
  }
  fixed[12] = offset << 4;
  return { kind: 'tcp', hdr: Buffer.concat(parts), csum, path: f.path };
}

/** os-ken's TCPOption classes: [kind, length] of each. */
const TCP_OPTION_CLASSES: Readonly<Record<string, readonly [number, number]>> = {
  TCPOptionEndOfOptionList: [0, 1],
  TCPOptionNoOperation: [1, 1],
  TCPOptionMaximumSegmentSize: [2, 4],
  TCPOptionWindowScale: [3, 3],
  TCPOptionSACKPermitted: [4, 2],
  TCPOptionSACK: [5, 2],
  TCPOptionTimestamps: [8, 10],
  TCPOptionUserTimeout: [28, 4],
  TCPOptionAuthentication: [29, 4],
};

/** TCP options: null/absent (none), base64 (raw bytes) or a list of `{TCPOption*: {...}}`. */
function tcpOptions(j: Json | undefined, path: string): Buffer {
  if (j === undefined || j === null) return Buffer.alloc(0);
  if (typeof j === 'string') return b64(j, path);
  const list = asArray(j, path);
  return Buffer.concat(list.map((e, i) => tcpOption(e, `${path}[${i}]`)));
}

function tcpOption(e: Json, path: string): Buffer {
  const [name, body] = unwrap(e, path);
  const f = new Fields(body, `${path}.${name}`);
  let out: Buffer;
  if (name === 'TCPOptionUnknown') {
    const kind = f.uint('kind', 8);
    f.uint('length', 8); // os-ken recomputes it
    const value = f.need('value');
    out = withKindLength(kind, value === null ? Buffer.alloc(0) : b64(value, f.at('value')), f);
  } else {
    const cls = TCP_OPTION_CLASSES[name];
    if (!cls) throw jsonError(path, `unsupported TCP option ${JSON.stringify(name)}`);
    const kind = f.uint('kind', 8, cls[0]);
    const length = f.uint('length', 8, cls[1]);
    switch (name) {
      case 'TCPOptionEndOfOptionList':
      case 'TCPOptionNoOperation':
        out = Buffer.from([cls[0]]); // os-ken writes the class's kind, whatever the JSON says
        break;
      case 'TCPOptionMaximumSegmentSize':
        out = Buffer.from([kind, length, 0, 0]);
        out.writeUInt16BE(f.uint('max_seg_size', 16), 2);
        break;
      case 'TCPOptionWindowScale':
        out = Buffer.from([kind, length, f.uint('shift_cnt', 8)]);
        break;
      case 'TCPOptionSACKPermitted':
        out = Buffer.from([kind, length]);
        break;
      case 'TCPOptionSACK': {
        const blocks = asArray(f.need('blocks'), f.at('blocks')).map((b, i) => {
          const p = `${f.at('blocks')}[${i}]`;
          const pair = asArray(b, p);
          if (pair.length !== 2) throw jsonError(p, `expected [left edge, right edge], got ${pair.length} numbers`);
          const block = Buffer.alloc(8);
          block.writeUInt32BE(uint(pair[0], 32, `${p}[0]`), 0);
          block.writeUInt32BE(uint(pair[1], 32, `${p}[1]`), 4);
          return block;
        });
        out = withKindLength(kind, Buffer.concat(blocks), f);
        break;
      }
      case 'TCPOptionTimestamps':
        out = Buffer.alloc(10);
        out[0] = kind;
        out[1] = length;
        out.writeUInt32BE(f.uint('ts_val', 32), 2);
        out.writeUInt32BE(f.uint('ts_ecr', 32), 6);
        break;
      case 'TCPOptionUserTimeout':
        out = Buffer.from([kind, length, 0, 0]);
        out.writeUInt16BE((f.uint('granularity', 1) << 15) | f.uint('user_timeout', 15), 2);
        break;
      default: {
        // TCPOptionAuthentication: the length covers key ids and MAC and is recomputed.
        const ids = Buffer.from([f.uint('key_id', 8), f.uint('r_next_key_id', 8)]);
        out = withKindLength(kind, Buffer.concat([ids, b64(f.need('mac'), f.at('mac'))]), f);
      }
    }
  }
  f.done();
  return out;
}

/** kind, length (2 + body, as os-ken recomputes it), body. */
function withKindLength(kind: number, body: Buffer, f: Fields): Buffer {
  if (body.length + 2 > 0xff) throw jsonError(f.at('length'), `the computed length ${body.length + 2} exceeds 255`);
  return Buffer.concat([Buffer.from([kind, body.length + 2]), body]);
}

function udpLayer(f: Fields): Layer {
  return {
    kind: 'udp',
    srcPort: f.uint('src_port', 16, 1),
    dstPort: f.uint('dst_port', 16, 1),
    totalLength: f.uint('total_length', 16, 0),
    csum: f.uint('csum', 16, 0),
    path: f.path,
  };
}

// ---- frame → JSON ----------------------------------------------------------------------------------

/** Where os-ken's struct.unpack would raise struct.error: the buffer is too short. */
class Short extends Error {}

function need(buf: Buffer, n: number): void {
  if (buf.length < n) throw new Short();
}

interface Parsed {
  /** The protocol's JSON, or null where os-ken drops it (a header whose length field says 0). */
  readonly proto: JsonObject | null;
  readonly next: Parser | undefined;
  readonly rest: Buffer;
}

type Parser = (buf: Buffer) => Parsed;

/** Base64 of some bytes, or null for none (os-ken's None). */
function bytesOrNull(buf: Buffer, from: number): string | null {
  return buf.length > from ? toB64(buf.subarray(from)) : null;
}

/**
 * Gives what os-ken's `packet.Packet(frame).to_jsondict()` gives, for the protocols listed at the top of
 * this file. Like os-ken it never fails: a protocol that does not fit ends the list, and what is left,
 * unless all zeros, follows as a base64 string.
 */
export function decodeRyuPacket(frame: Buffer): Json {
  const protocols: Json[] = [];
  let parser: Parser | undefined = parseEthernet;
  let rest = frame;
  while (parser) {
    if (allZero(rest)) break;
    let parsed: Parsed;
    try {
      parsed = parser(rest);
    } catch (e) {
      if (e instanceof Short) break;
      throw e;
    }
    if (parsed.proto) protocols.push(parsed.proto);
    parser = parsed.next;
    rest = parsed.rest;
  }
  if (!allZero(rest)) protocols.push(toB64(rest));
  return { Packet: { protocols } };
}

function allZero(buf: Buffer): boolean {
  return buf.every((b) => b === 0);
}

/** os-ken keeps one registry for ethertypes and IP protocol numbers; these are the ones covered here. */
const NEXT: ReadonlyMap<number, Parser> = new Map<number, Parser>([
  [0x0800, parseIpv4],
  [0x0806, parseArp],
  [0x8100, (buf) => parseVlan(buf, 'vlan')],
  [0x88a8, (buf) => parseVlan(buf, 'svlan')],
  [0x86dd, parseIpv6],
  [1, parseIcmp],
  [6, parseTcp],
  [17, parseUdp],
  [58, parseIcmpv6],
]);

/** Ethernet and 802.1Q read values up to 1500 as a length (LLC follows, not covered here). */
function nextAfterEthertype(ethertype: number): Parser | undefined {
  return ethertype <= 1500 ? undefined : NEXT.get(ethertype);
}

/** IPv6 extension headers os-ken parses (hop-by-hop, routing, fragment, AH, destination options). */
const IPV6_EXT_HEADERS: ReadonlySet<number> = new Set([0, 43, 44, 51, 60]);

function parseEthernet(buf: Buffer): Parsed {
  need(buf, 14);
  const ethertype = buf.readUInt16BE(12);
  return {
    proto: { ethernet: { dst: macToText(buf, 0), ethertype, src: macToText(buf, 6) } },
    next: nextAfterEthertype(ethertype),
    rest: buf.subarray(14),
  };
}

function parseVlan(buf: Buffer, name: 'vlan' | 'svlan'): Parsed {
  need(buf, 4);
  const tci = buf.readUInt16BE(0);
  const ethertype = buf.readUInt16BE(2);
  return {
    proto: { [name]: { cfi: (tci >> 12) & 1, ethertype, pcp: tci >> 13, vid: tci & 0xfff } },
    // os-ken's svlan looks the type up without the length rule.
    next: name === 'vlan' ? nextAfterEthertype(ethertype) : NEXT.get(ethertype),
    rest: buf.subarray(4),
  };
}

function parseArp(buf: Buffer): Parsed {
  need(buf, 28);
  return {
    proto: {
      arp: {
        dst_ip: ipv4ToText(buf, 24),
        dst_mac: macToText(buf, 18),
        hlen: buf[4] as number,
        hwtype: buf.readUInt16BE(0),
        opcode: buf.readUInt16BE(6),
        plen: buf[5] as number,
        proto: buf.readUInt16BE(2),
        src_ip: ipv4ToText(buf, 14),
        src_mac: macToText(buf, 8),
      },
    },
    next: undefined,
    rest: buf.subarray(28),
  };
}

function parseIpv4(buf: Buffer): Parsed {
  need(buf, 20);
  const ihl = (buf[0] as number) & 0xf;
  const length = ihl * 4;
  const totalLength = buf.readUInt16BE(2);
  const flagsOffset = buf.readUInt16BE(6);
  const proto = buf[9] as number;
  return {
    proto:
      ihl === 0
        ? null
        : {
            ipv4: {
              csum: buf.readUInt16BE(10),
              dst: ipv4ToText(buf, 16),
              flags: flagsOffset >> 13,
              header_length: ihl,
              identification: buf.readUInt16BE(4),
              offset: flagsOffset & 0x1fff,
              option: length > 20 ? toB64(buf.subarray(20, length)) : null,
              proto,
              src: ipv4ToText(buf, 12),
              tos: buf[1] as number,
              total_length: totalLength,
              ttl: buf[8] as number,
              version: (buf[0] as number) >> 4,
            },
          },
    next: NEXT.get(proto),
    rest: buf.subarray(length, totalLength),
  };
}

function parseIpv6(buf: Buffer): Parsed {
  need(buf, 40);
  const word = buf.readUInt32BE(0);
  const payloadLength = buf.readUInt16BE(4);
  const nxt = buf[6] as number;
  return {
    proto: {
      ipv6: {
        dst: ipv6ToText(buf, 24),
        ext_hdrs: [],
        flow_label: word & 0xfffff,
        hop_limit: buf[7] as number,
        nxt,
        payload_length: payloadLength,
        src: ipv6ToText(buf, 8),
        traffic_class: (word >>> 20) & 0xff,
        version: word >>> 28,
      },
    },
    next: IPV6_EXT_HEADERS.has(nxt) ? undefined : NEXT.get(nxt),
    rest: buf.subarray(40, 40 + payloadLength),
  };
}

function parseEcho(buf: Buffer): JsonObject {
  need(buf, 8);
  return { echo: { data: bytesOrNull(buf, 8), id: buf.readUInt16BE(4), seq: buf.readUInt16BE(6) } };
}

function parseIcmp(buf: Buffer): Parsed {
  need(buf, 4);
  const type = buf[0] as number;
  let data: Json = '';
  if (buf.length > 4) {
    if (type === 0 || type === 8) data = parseEcho(buf);
    else if (type === 3) {
      need(buf, 8);
      data = { dest_unreach: { data: bytesOrNull(buf, 8), data_len: buf[5] as number, mtu: buf.readUInt16BE(6) } };
    } else if (type === 11) {
      need(buf, 8);
      data = { TimeExceeded: { data: bytesOrNull(buf, 8), data_len: buf[5] as number } };
    } else data = toB64(buf.subarray(4));
  }
  return {
    proto: { icmp: { code: buf[1] as number, csum: buf.readUInt16BE(2), data, type } },
    next: undefined,
    rest: buf.subarray(buf.length),
  };
}

function parseIcmpv6(buf: Buffer): Parsed {
  need(buf, 4);
  const type = buf[0] as number;
  let data: Json = '';
  if (buf.length > 4) {
    switch (type) {
      case 128:
      case 129:
        data = parseEcho(buf);
        break;
      case 135:
      case 136:
        need(buf, 24);
        data = {
          nd_neighbor: {
            dst: ipv6ToText(buf, 8),
            option: ndSingleOption(buf, 24, [1, 2]),
            res: buf.readUInt32BE(4) >>> 29,
          },
        };
        break;
      case 133:
        need(buf, 8);
        data = { nd_router_solicit: { option: ndSingleOption(buf, 8, [1]), res: buf.readUInt32BE(4) } };
        break;
      case 134:
        need(buf, 16);
        data = {
          nd_router_advert: {
            ch_l: buf[4] as number,
            options: ndOptionList(buf, 16),
            rea_t: buf.readUInt32BE(8),
            res: (buf[5] as number) >> 6,
            ret_t: buf.readUInt32BE(12),
            rou_l: buf.readUInt16BE(6),
          },
        };
        break;
      default:
        data = toB64(buf.subarray(4));
    }
  }
  return {
    proto: { icmpv6: { code: buf[1] as number, csum: buf.readUInt16BE(2), data, type } },
    next: undefined,
    rest: buf.subarray(buf.length),
  };
}

/** The type and length bytes of the ND option at `off`; a zero length is malformed. */
function ndOptionHead(buf: Buffer, off: number): number {
  need(buf, off + 2);
  if (buf[off + 1] === 0) throw new Short();
  return buf[off] as number;
}

/** The one option of a neighbor solicitation/advertisement or router solicitation. */
function ndSingleOption(buf: Buffer, off: number, known: readonly number[]): Json {
  if (buf.length <= off) return null;
  const type = ndOptionHead(buf, off);
  const parsed = known.includes(type) ? parseNdOption(buf, off, type) : undefined;
  return parsed ? parsed[0] : toB64(buf.subarray(off));
}

/** The options of a router advertisement (os-ken knows source link-layer address, prefix and MTU there). */
function ndOptionList(buf: Buffer, off: number): Json[] {
  const out: Json[] = [];
  while (buf.length > off) {
    const type = ndOptionHead(buf, off);
    const parsed = [1, 3, 5].includes(type) ? parseNdOption(buf, off, type) : undefined;
    if (parsed) {
      out.push(parsed[0]);
      off += parsed[1];
    } else {
      const raw = buf.subarray(off, off + (buf[off + 1] as number) * 8);
      out.push(toB64(raw));
      off += raw.length;
    }
  }
  return out;
}

/**
 * An ND option of a type covered here, with the bytes it takes, or undefined for other types. As in
 * os-ken, a link-layer address option takes all the bytes after it as its data.
 */
function parseNdOption(buf: Buffer, off: number, type: number): [Json, number] | undefined {
  switch (type) {
    case 1:
    case 2: {
      need(buf, off + 8);
      const name = type === 1 ? 'nd_option_sla' : 'nd_option_tla';
      const body = { data: bytesOrNull(buf, off + 8), hw_src: macToText(buf, off + 2), length: buf[off + 1] as number };
      return [{ [name]: body }, buf.length - off];
    }
    case 3:
      need(buf, off + 32);
      return [
        {
          nd_option_pi: {
            length: buf[off + 1] as number,
            pl: buf[off + 2] as number,
            pre_l: buf.readUInt32BE(off + 8),
            prefix: ipv6ToText(buf, off + 16),
            res1: (buf[off + 3] as number) >> 5,
            res2: buf.readUInt32BE(off + 12),
            val_l: buf.readUInt32BE(off + 4),
          },
        },
        32,
      ];
    case 5:
      // os-ken 2.5 fails on this option (it has no length to advance by); it is 8 bytes.
      need(buf, off + 8);
      return [{ nd_option_mtu: { mtu: buf.readUInt32BE(off + 4) } }, 8];
    default:
      return undefined;
  }
}

function parseTcp(buf: Buffer): Parsed {
  need(buf, 20);
  const offset = (buf[12] as number) >> 4;
  const length = offset * 4;
  return {
    proto:
      offset === 0
        ? null
        : {
            tcp: {
              ack: buf.readUInt32BE(8),
              bits: (buf[13] as number) & 0x3f,
              csum: buf.readUInt16BE(16),
              dst_port: buf.readUInt16BE(2),
              offset,
              option: length > 20 ? parseTcpOptions(buf.subarray(20, length)) : null,
              seq: buf.readUInt32BE(4),
              src_port: buf.readUInt16BE(0),
              urgent: buf.readUInt16BE(18),
              window_size: buf.readUInt16BE(14),
            },
          },
    // os-ken would parse BGP, OpenFlow and Zebra by port; not covered here.
    next: undefined,
    rest: buf.subarray(length),
  };
}

/** The options as os-ken's TCPOption list, or base64 of all of them when one does not fit. */
function parseTcpOptions(buf: Buffer): Json {
  const out: Json[] = [];
  let b = buf;
  try {
    while (b.length > 0) {
      const [option, size] = parseTcpOption(b);
      out.push(option);
      b = b.subarray(size);
    }
  } catch (e) {
    if (e instanceof Short) return toB64(buf);
    throw e;
  }
  return out;
}

/** One option at the start of `b`, and how many bytes os-ken advances past it. */
function parseTcpOption(b: Buffer): [Json, number] {
  const kind = b[0] as number;
  /** Variable-length options advance by their length byte; os-ken would loop forever on 0. */
  const lengthByte = (min: number): number => {
    need(b, min);
    const length = b[1] as number;
    if (length === 0) throw new Short();
    return length;
  };
  switch (kind) {
    case 0:
      return [{ TCPOptionEndOfOptionList: { kind, length: 1 } }, 1];
    case 1:
      return [{ TCPOptionNoOperation: { kind, length: 1 } }, 1];
    case 2:
      need(b, 4);
      return [{ TCPOptionMaximumSegmentSize: { kind, length: 4, max_seg_size: b.readUInt16BE(2) } }, 4];
    case 3:
      need(b, 3);
      return [{ TCPOptionWindowScale: { kind, length: 3, shift_cnt: b[2] as number } }, 3];
    case 4:
      return [{ TCPOptionSACKPermitted: { kind, length: 2 } }, 2];
    case 5: {
      const length = lengthByte(2);
      const blocks: Json[] = [];
      for (let bb = b.subarray(2, length); bb.length > 0; bb = bb.subarray(8)) {
        need(bb, 8);
        blocks.push([bb.readUInt32BE(0), bb.readUInt32BE(4)]);
      }
      return [{ TCPOptionSACK: { blocks, kind, length } }, length];
    }
    case 8:
      need(b, 10);
      return [{ TCPOptionTimestamps: { kind, length: 10, ts_ecr: b.readUInt32BE(6), ts_val: b.readUInt32BE(2) } }, 10];
    case 28: {
      need(b, 4);
      const v = b.readUInt16BE(2);
      return [{ TCPOptionUserTimeout: { granularity: v >> 15, kind, length: 4, user_timeout: v & 0x7fff } }, 4];
    }
    case 29: {
      const length = lengthByte(4);
      const body = { key_id: b[2] as number, kind, length, mac: toB64(b.subarray(4, length)), r_next_key_id: b[3] as number };
      return [{ TCPOptionAuthentication: body }, length];
    }
    default: {
      const length = lengthByte(2);
      return [{ TCPOptionUnknown: { kind, length, value: toB64(b.subarray(2, length)) } }, length];
    }
  }
}

function parseUdp(buf: Buffer): Parsed {
  need(buf, 8);
  const totalLength = buf.readUInt16BE(4);
  return {
    proto: {
      udp: { csum: buf.readUInt16BE(6), dst_port: buf.readUInt16BE(2), src_port: buf.readUInt16BE(0), total_length: totalLength },
    },
    // os-ken would parse DHCP, DHCPv6, VXLAN and Geneve by port; not covered here.
    next: undefined,
    rest: buf.subarray(8, totalLength),
  };
}
