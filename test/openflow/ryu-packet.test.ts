// Ryu packet-library JSON ⇄ frame bytes, checked against Ryu's vector and against os-ken itself, which
// decodes (and where it can, encodes) the same frames at test time.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { OFPCodecError } from '../../openflow/errors.js';
import { asArray, asObject, isObject, parseJson, stringifyJson } from '../../openflow/json.js';
import type { Json } from '../../openflow/json.js';
import { decodeRyuPacket, encodeRyuPacket } from '../../openflow/ryu-packet.js';
import { sameBytes } from '../helpers/bytes.js';

const VECTORS = new URL('../../../shared/ryu-of13/', import.meta.url);
const PYTHON = '/usr/bin/python3'; // Debian's python, the one with os_ken

/** Asks os-ken to decode frames (to_jsondict) and to encode JSON (from_jsondict + serialize). */
const OSKEN = `
import json, sys
from os_ken.lib.packet import packet
req = json.load(sys.stdin)
def decode(h):
    try:
        return packet.Packet(bytes.fromhex(h)).to_jsondict()
    except Exception as e:
        return {'error': repr(e)}
def encode(j):
    p = packet.Packet.from_jsondict(j['Packet'])
    p.serialize()
    return bytes(p.data).hex()
print(json.dumps({'decoded': [decode(h) for h in req['decode']], 'encoded': [encode(j) for j in req['encode']]}))
`;

function osken(decode: readonly string[], encode: readonly Json[]): { decoded: readonly Json[]; encoded: readonly Json[] } {
  const out = execFileSync(PYTHON, ['-c', OSKEN], {
    input: stringifyJson({ decode: [...decode], encode: [...encode] }),
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'], // os-ken logs a warning for unparsable TCP options
    maxBuffer: 64 << 20,
  });
  const o = asObject(parseJson(out), 'os-ken');
  return { decoded: asArray(o['decoded'], 'decoded'), encoded: asArray(o['encoded'], 'encoded') };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A copy of `j` in which `edit[name]` has changed the body of every protocol element called `name`. */
function editProtocols(j: Json, edit: Record<string, (body: Record<string, Json>) => void>): Json {
  const copy = parseJson(stringifyJson(j));
  const protocols = asArray(asObject(asObject(copy, 'j')['Packet'], 'Packet')['protocols'], 'protocols');
  for (const p of protocols) {
    if (!isObject(p)) continue;
    for (const [name, body] of Object.entries(p)) {
      const fn = edit[name];
      if (fn && isObject(body)) fn(body as Record<string, Json>);
    }
  }
  return copy;
}

describe("Ryu's packet_out vector with data as a packet-library object", () => {
  const name = 'libofproto-OFP13-ofp_packet_out_packet_library.packet';
  const wire = readFileSync(new URL(name, VECTORS));
  const json = asObject(parseJson(readFileSync(new URL(`${name}.json`, VECTORS), 'utf8')), name);
  const dataJson = asObject(json['OFPPacketOut'], 'OFPPacketOut')['data'] as Json;
  // ofp_packet_out: header(8) buffer_id(4) in_port(4) actions_len(2) pad(6) actions data
  const frame = wire.subarray(24 + wire.readUInt16BE(16));

  it('cuts a 98-byte frame from the message', () => {
    expect(frame.length).toBe(98);
  });

  it('encodes the JSON to the wire bytes', () => {
    sameBytes(encodeRyuPacket(dataJson, 'data'), frame);
  });

  it('decodes the wire bytes to the JSON', () => {
    expect(decodeRyuPacket(frame)).toEqual(dataJson);
  });

  it('computes the lengths and checksums given as 0', () => {
    const zeroed = editProtocols(dataJson, {
      ipv4: (b) => Object.assign(b, { total_length: 0, csum: 0 }),
      icmp: (b) => Object.assign(b, { csum: 0 }),
    });
    sameBytes(encodeRyuPacket(zeroed, 'data'), frame);
  });

  it('computes them when the keys are left out (os-ken defaults)', () => {
    const removed = editProtocols(dataJson, {
      ipv4: (b) => {
        delete b['total_length'];
        delete b['csum'];
      },
      icmp: (b) => {
        delete b['csum'];
      },
    });
    sameBytes(encodeRyuPacket(removed, 'data'), frame);
  });

  it('writes a non-zero icmp checksum as given, and recomputes the IPv4 header checksum as os-ken does', () => {
    const edited = editProtocols(dataJson, {
      ipv4: (b) => Object.assign(b, { csum: 1 }),
      icmp: (b) => Object.assign(b, { csum: 0x1234 }),
    });
    const out = encodeRyuPacket(edited, 'data');
    expect(out.readUInt16BE(14 + 10)).toBe(frame.readUInt16BE(14 + 10));
    expect(out.readUInt16BE(34 + 2)).toBe(0x1234);
  });
});

/** Frames made with os-ken's serialize() (correct lengths and checksums, Ethernet padding). */
const FRAMES: readonly { name: string; hex: string; roundTrip: boolean }[] = [
  {
    name: 'ARP request (padded to 60 bytes)',
    hex: 'ffffffffffff000000000001080600010800060400010000000000010a0000010000000000000a000002000000000000000000000000000000000000',
    roundTrip: true,
  },
  {
    name: 'ICMP echo request',
    hex:
      '0000000000020000000000010800450000541c46400040010a610a0000010a0000020800eeb712340001000102030405060708090a0b0c0d0e0f' +
      '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
    roundTrip: true,
  },
  {
    name: 'UDP with a 5-byte payload (padded)',
    hex: '00000000000200000000000108004500002100070000401166c30a0000010a0000029c40270f000de4af68656c6c6f00000000000000000000000000',
    roundTrip: true,
  },
  {
    name: 'TCP with NOP, NOP, timestamps and a payload',
    hex:
      '000000000002000000000001080045000046beef4000400667c00a0000010a000002d4310050000003e8000007d0801801f6c39400000101080a' +
      '0001e2400009fbf1474554202f20485454502f312e300d0a0d0a',
    roundTrip: true,
  },
  {
    name: 'TCP SYN with MSS, SACK permitted, timestamps, NOP, window scale',
    hex:
      '00000000000200000000000108004500003c00014000400626b90a0000010a0000029c400016deadbeef00000000a002faf0ff170000020405b4' +
      '0402080a000000010000000001030307',
    roundTrip: true,
  },
  {
    name: 'TCP with SACK, user timeout, an unknown option, authentication, EOL',
    hex:
      '00000000000200000000000108004500004800014000400626ad0a0000010a000002000100020000000300000004c01000053e580000050a0000' +
      '0064000000c81c04812c630478791d080102aabbccdd000064617461',
    roundTrip: true,
  },
  {
    name: 'TCP whose options do not parse (kept raw)',
    hex:
      '00000000000200000000000108004500003400014000400626c10a0000010a00000200010002000000030000000460100005cb610000010102' +
      '047061796c6f616421',
    roundTrip: true,
  },
  {
    name: 'TCP with an all-zero payload (dropped by os-ken)',
    hex: '00000000000200000000000108004500003200014000400626c30a0000010a000002000100020000000300000004501000059bb9000000000000000000000000',
    roundTrip: false,
  },
  {
    name: 'IPv6 + ICMPv6 echo request',
    hex:
      '33330000000100000000000186dd6001234500103a40fe80000000000000020000fffe00000120010db80000000000010000000000028000c0d7' +
      '000700036162636465666768',
    roundTrip: true,
  },
  {
    name: 'VLAN-tagged IPv4 + UDP',
    hex:
      '0000000000020000000000018100a06408004500003c000000004011f75dc0a80101c0a801020035003500281d72303132333435363738396162' +
      '6364656630313233343536373839616263646566',
    roundTrip: true,
  },
  {
    name: 'QinQ: svlan + vlan + ARP reply',
    hex: 'ffffffffffff00000000000188a830c88100000a080600010800060400020000000000010a0000010000000000020a00000200000000000000000000',
    roundTrip: true,
  },
  {
    name: 'IPv4 with a router-alert option + UDP',
    hex:
      '00000000000200000000000108004600003e0000000001113a940a000001e00000169404000003e807d00026fac37878787878787878787878' +
      '78787878787878787878787878787878787878',
    roundTrip: true,
  },
  {
    name: 'ICMP port unreachable quoting the UDP datagram',
    hex:
      '00000000000100000000000208004500003d00000000400166be0a0000020a0000010303111e000000004500002100070000401166c30a000001' +
      '0a0000029c40270f000de4af68656c6c6f',
    roundTrip: true,
  },
  {
    name: 'ICMP time exceeded',
    hex:
      '00000000000100000000000208004500003d00000000400165c20a0000fe0a0000010b000921000000004500002100070000401166c30a000001' +
      '0a0000029c40270f000de4af68656c6c6f',
    roundTrip: true,
  },
  {
    name: 'ICMP timestamp request (raw data)',
    hex: '00000000000200000000000108004500002800014000400126d20a0000010a0000020d00ced2000100020102030405060708090a0b0c000000000000',
    roundTrip: true,
  },
  {
    name: 'ICMPv6 neighbor solicitation with a source link-layer address',
    hex:
      '3333ff00000200000000000186dd6000000000203afffe800000000000000000000000000001ff0200000000000000000001ff00000287007c97' +
      '00000000fe8000000000000000000000000000020101000000000001',
    roundTrip: true,
  },
  {
    name: 'ICMPv6 router advertisement with prefix information and a source link-layer address',
    hex:
      '33330000000100000000000186dd6000000000383afffe800000000000000000000000000001ff0200000000000000000000000000018600383e' +
      '408007080000000000000000030440c000015180000038400000000020010db80000000000000000000000000101000000000001',
    roundTrip: true,
  },
  {
    name: 'TCP with ECE and CWR set (os-ken keeps only the low six flag bits)',
    hex:
      '00000000000200000000000108004500003c00014000400626b90a0000010a0000029c400016deadbeef00000000a0c2faf0ff1700000204' +
      '05b40402080a000000010000000001030307',
    roundTrip: false,
  },
  {
    name: 'ICMPv6 neighbor solicitation whose option length is 0 (kept raw)',
    hex:
      '3333ff00000200000000000186dd6000000000203afffe800000000000000000000000000001ff0200000000000000000001ff0000028700' +
      '7c9700000000fe8000000000000000000000000000020100000000000001',
    roundTrip: true,
  },
  {
    name: 'IPv4 header length 0 (os-ken skips the header and reads on from it)',
    hex:
      '00000000000200000000000108004000001c00000000401100000a0000010a00000200010002000800000000000000000000000000000000' +
      '00000000',
    roundTrip: false,
  },
  {
    name: 'TCP data offset 0 (os-ken skips the header, the rest stays raw)',
    hex:
      '00000000000200000000000108004500002800010000400600000a0000010a0000020001000200000003000000040010000500000000',
    roundTrip: false,
  },
  {
    name: 'ICMPv6 router advertisement, link-layer address first (os-ken takes the rest as its data)',
    hex:
      '33330000000100000000000186dd6000000000383afffe800000000000000000000000000001ff0200000000000000000000000000018600' +
      '38be4000070800000000000000000101000000000001030440c000015180000038400000000020010db8000000000000000000000000',
    roundTrip: true,
  },
  {
    name: 'an ethertype os-ken does not know (raw payload)',
    hex:
      '00000000000200000000000188b5010203040102030401020304010203040102030401020304010203040102030401020304010203040102' +
      '030401020304',
    roundTrip: true,
  },
];

describe('frames decoded by os-ken', () => {
  const frames = FRAMES.map((f) => Buffer.from(f.hex, 'hex'));
  // Every prefix of every frame too: truncated headers, cut options and payloads.
  const prefixes = frames.flatMap((f) => Array.from({ length: f.length }, (_, n) => f.subarray(0, n)));
  let decoded: readonly Json[] = [];
  let prefixDecoded: readonly Json[] = [];

  beforeAll(() => {
    const all = osken([...frames, ...prefixes].map(hex), []).decoded;
    decoded = all.slice(0, frames.length);
    prefixDecoded = all.slice(frames.length);
  });

  it.each(FRAMES.map((f, i) => [f.name, i] as const))('%s: decodes as os-ken does', (_name, i) => {
    const expected = decoded[i] as Json;
    expect(isObject(expected) && 'error' in expected).toBe(false);
    expect(decodeRyuPacket(frames[i] as Buffer)).toEqual(expected);
  });

  it.each(FRAMES.filter((f) => f.roundTrip).map((f) => [f.name, FRAMES.indexOf(f)] as const))(
    "%s: encoding os-ken's JSON gives the frame back",
    (_name, i) => {
      sameBytes(encodeRyuPacket(decoded[i] as Json, 'data'), frames[i] as Buffer);
    },
  );

  it('loses what os-ken loses: an all-zero payload, TCP flag bits above 0x3f', () => {
    const lossy = ['TCP with an all-zero payload (dropped by os-ken)', 'TCP with ECE and CWR set (os-ken keeps only the low six flag bits)'];
    for (const name of lossy) {
      const i = FRAMES.findIndex((f) => f.name === name);
      expect(i, name).toBeGreaterThanOrEqual(0);
      const again = encodeRyuPacket(decoded[i] as Json, 'data');
      expect(hex(again)).not.toBe(hex(frames[i] as Buffer));
    }
  });

  it('decodes every prefix of every frame as os-ken does', () => {
    expect(prefixDecoded.length).toBe(prefixes.length);
    const failures: string[] = [];
    prefixes.forEach((p, i) => {
      const expected = prefixDecoded[i] as Json;
      const actual = decodeRyuPacket(p);
      if (stringifyJson(sorted(actual)) !== stringifyJson(sorted(expected))) {
        failures.push(`${hex(p)}\n  os-ken: ${stringifyJson(expected)}\n  ours:   ${stringifyJson(actual)}`);
      }
    });
    expect(failures.slice(0, 3)).toEqual([]);
  });
});

/** Key-sorted copy, so that two JSON texts compare by content. */
function sorted(j: Json): Json {
  if (Array.isArray(j)) return (j as readonly Json[]).map(sorted);
  if (isObject(j)) {
    const out: Record<string, Json> = {};
    for (const k of Object.keys(j).sort()) out[k] = sorted(j[k] as Json);
    return out;
  }
  return j;
}

/** JSON that os-ken's from_jsondict can take (no raw elements, no TCP option lists), with keys left out. */
const TO_ENCODE: readonly { name: string; json: Json }[] = [
  {
    name: 'defaults everywhere: ethernet, ipv4, udp without payload (padded)',
    json: { Packet: { protocols: [{ ethernet: {} }, { ipv4: { proto: 17 } }, { udp: { src_port: 5, dst_port: 6 } }] } },
  },
  {
    name: 'ICMP with no data (os-ken adds an empty echo)',
    json: { Packet: { protocols: [{ ethernet: {} }, { ipv4: { proto: 1 } }, { icmp: {} }] } },
  },
  {
    name: 'ICMP destination unreachable with data, checksums computed',
    json: {
      Packet: {
        protocols: [
          { ethernet: { dst: '00:00:00:00:00:01', src: '00:00:00:00:00:02' } },
          { ipv4: { proto: 1, ttl: 3, csum: 999 } },
          { icmp: { type: 3, code: 4, data: { dest_unreach: { data_len: 2, mtu: 1400, data: 'RQAAFA==' } } } },
        ],
      },
    },
  },
  {
    name: 'TCP without options, offset and checksum computed',
    json: {
      Packet: {
        protocols: [
          { ethernet: {} },
          { ipv4: { proto: 6, src: '192.0.2.1', dst: '198.51.100.7' } },
          { tcp: { src_port: 443, dst_port: 50000, bits: 18, window_size: 1024 } },
        ],
      },
    },
  },
  {
    name: 'TCP with a given offset larger than its raw options',
    json: {
      Packet: {
        protocols: [{ ethernet: {} }, { ipv4: { proto: 6 } }, { tcp: { offset: 8, option: 'AgQFtA==', seq: 7 } }],
      },
    },
  },
  {
    name: 'UDP whose given total_length goes into the pseudo-header',
    json: { Packet: { protocols: [{ ethernet: {} }, { ipv4: { proto: 17 } }, { udp: { total_length: 100 } }] } },
  },
  {
    name: 'IPv4 options in a longer header, with a wrong checksum that os-ken recomputes',
    json: {
      Packet: {
        protocols: [
          { ethernet: {} },
          { ipv4: { header_length: 7, option: 'lAQAAAE=', proto: 17, csum: 4660, total_length: 0 } },
          { udp: {} },
        ],
      },
    },
  },
  {
    name: 'IPv6 + ICMPv6 echo, payload_length and checksum computed',
    json: {
      Packet: {
        protocols: [
          { ethernet: { ethertype: 34525 } },
          { ipv6: { nxt: 58, src: 'fe80::1', dst: '::ffff:10.0.0.1', flow_label: 1048575, traffic_class: 255 } },
          { icmpv6: { type: 129, data: { echo: { id: 1, seq: 2, data: 'aGk=' } } } },
        ],
      },
    },
  },
  {
    name: 'IPv6 + UDP',
    json: {
      Packet: { protocols: [{ ethernet: { ethertype: 34525 } }, { ipv6: { nxt: 17 } }, { udp: { src_port: 546, dst_port: 5470 } }] },
    },
  },
  {
    name: 'neighbor advertisement with a target link-layer address, option length computed',
    json: {
      Packet: {
        protocols: [
          { ethernet: { ethertype: 34525 } },
          { ipv6: { nxt: 58 } },
          {
            icmpv6: {
              type: 136,
              data: { nd_neighbor: { res: 6, dst: '2001:db8::5', option: { nd_option_tla: { hw_src: '0a:0b:0c:0d:0e:0f' } } } },
            },
          },
        ],
      },
    },
  },
  {
    name: 'router solicitation and router advertisement options',
    json: {
      Packet: {
        protocols: [
          { ethernet: { ethertype: 34525 } },
          { ipv6: { nxt: 58 } },
          {
            icmpv6: {
              type: 134,
              data: {
                nd_router_advert: {
                  ch_l: 64,
                  res: 1,
                  rou_l: 600,
                  options: [
                    { nd_option_pi: { pl: 48, res1: 4, prefix: '2001:db8:1::' } },
                    { nd_option_sla: { hw_src: '00:00:00:00:00:09', data: 'AQID' } },
                  ],
                },
              },
            },
          },
        ],
      },
    },
  },
  {
    name: 'router solicitation',
    json: {
      Packet: {
        protocols: [
          { ethernet: { ethertype: 34525 } },
          { ipv6: { nxt: 58 } },
          { icmpv6: { type: 133, data: { nd_router_solicit: { option: null } } } },
        ],
      },
    },
  },
  {
    name: 'vlan and svlan with defaults, then ARP',
    json: {
      Packet: {
        protocols: [
          { ethernet: { ethertype: 34984 } },
          { svlan: { vid: 4095, pcp: 7, cfi: 1 } },
          { vlan: { ethertype: 2054, vid: 1 } },
          { arp: { opcode: 2 } },
        ],
      },
    },
  },
];

describe('JSON encoded by os-ken', () => {
  let encoded: readonly Json[] = [];
  beforeAll(() => {
    encoded = osken([], TO_ENCODE.map((t) => t.json)).encoded;
  });

  it.each(TO_ENCODE.map((t, i) => [t.name, i] as const))('%s', (_name, i) => {
    const expected = Buffer.from(encoded[i] as string, 'hex');
    sameBytes(encodeRyuPacket((TO_ENCODE[i] as { json: Json }).json, 'data'), expected);
  });
});

describe('bad input names the key path', () => {
  const P = (...protocols: Json[]): Json => ({ Packet: { protocols } });
  const eth = { ethernet: {} };
  const cases: readonly [string, Json, string][] = [
    ['not an object', 5, 'data: expected an object, got number 5'],
    ['no Packet', { Paket: {} }, 'data.Packet: missing'],
    ['extra key beside Packet', { Packet: { protocols: [] }, x: 1 }, 'data.x: unknown key'],
    ['protocols not a list', { Packet: { protocols: {} } }, 'data.Packet.protocols: expected an array'],
    ['element neither object nor string', P(eth, 7), 'data.Packet.protocols[1]: expected an object, got number 7'],
    [
      'element with two keys',
      P({ ethernet: {}, ipv4: {} }),
      'data.Packet.protocols[0]: expected {ClassName: {...}} with one key',
    ],
    ['unsupported protocol', P(eth, { lldp: {} }), 'data.Packet.protocols[1]: unsupported protocol "lldp"'],
    ['raw element not base64', P(eth, 'not base64!'), 'data.Packet.protocols[1]: expected base64 data'],
    ['bad MAC', P({ ethernet: { dst: '00:11:22:33:44' } }), 'data.Packet.protocols[0].ethernet.dst: expected a MAC address'],
    [
      'ttl out of range',
      P(eth, { ipv4: { ttl: 300 } }),
      'data.Packet.protocols[1].ipv4.ttl: expected an unsigned 8-bit integer, got 300',
    ],
    [
      'ttl a string',
      P(eth, { ipv4: { ttl: '64' } }),
      'data.Packet.protocols[1].ipv4.ttl: expected an unsigned 8-bit integer, got the string "64"',
    ],
    ['unknown key', P(eth, { ipv4: { colour: 'red' } }), 'data.Packet.protocols[1].ipv4.colour: unknown key'],
    ['bad IPv4 address', P(eth, { ipv4: { src: '10.0.0.256' } }), 'data.Packet.protocols[1].ipv4.src: expected an IPv4 address'],
    [
      'header_length below 5',
      P(eth, { ipv4: { header_length: 4 } }),
      'data.Packet.protocols[1].ipv4.header_length: must be at least 5',
    ],
    [
      'ipv4 option too long',
      P(eth, { ipv4: { option: 'AQIDBAU=' } }),
      'data.Packet.protocols[1].ipv4.option: 5 bytes do not fit in header_length 5',
    ],
    ['flags too wide', P(eth, { ipv4: { flags: 8 } }), 'data.Packet.protocols[1].ipv4.flags: expected an unsigned 3-bit integer'],
    ['bad IPv6 address', P(eth, { ipv6: { dst: 'fe80:::1' } }), 'data.Packet.protocols[1].ipv6.dst: expected an IPv6 address'],
    [
      'IPv6 extension headers',
      P(eth, { ipv6: { ext_hdrs: [{ hop_opts: {} }] } }),
      'data.Packet.protocols[1].ipv6.ext_hdrs: IPv6 extension headers are not supported',
    ],
    ['vid too wide', P(eth, { vlan: { vid: 4096 } }), 'data.Packet.protocols[1].vlan.vid: expected an unsigned 12-bit integer'],
    [
      'echo data not base64',
      P(eth, { ipv4: {} }, { icmp: { data: { echo: { data: '***' } } } }),
      'data.Packet.protocols[2].icmp.data.echo.data: expected base64 data',
    ],
    [
      'unknown icmp payload',
      P(eth, { ipv4: {} }, { icmp: { data: { redirect: {} } } }),
      'data.Packet.protocols[2].icmp.data: unsupported ICMP payload "redirect"',
    ],
    [
      'unknown echo key',
      P(eth, { ipv4: {} }, { icmp: { data: { echo: { ident: 1 } } } }),
      'data.Packet.protocols[2].icmp.data.echo.ident: unknown key',
    ],
    [
      'MLD is not covered',
      P(eth, { ipv6: {} }, { icmpv6: { type: 130, data: { mld: {} } } }),
      'data.Packet.protocols[2].icmpv6.data: unsupported ICMP payload "mld"',
    ],
    [
      'unknown ND option',
      P(eth, { ipv6: {} }, { icmpv6: { data: { nd_neighbor: { option: { nd_option_x: {} } } } } }),
      'data.Packet.protocols[2].icmpv6.data.nd_neighbor.option: unsupported neighbor-discovery option',
    ],
    [
      'nd res too wide',
      P(eth, { ipv6: {} }, { icmpv6: { data: { nd_neighbor: { res: 8 } } } }),
      'data.Packet.protocols[2].icmpv6.data.nd_neighbor.res: expected an unsigned 3-bit integer',
    ],
    [
      'tcp checksum without IP',
      P(eth, { tcp: {} }),
      'data.Packet.protocols[1].tcp.csum: is 0, which asks for a checksum over the IP pseudo-header',
    ],
    ['udp checksum after a raw element', P(eth, 'AAAA', { udp: {} }), 'data.Packet.protocols[2].udp.csum: is 0'],
    ['icmpv6 checksum without IP', P(eth, { icmpv6: {} }), 'data.Packet.protocols[1].icmpv6.csum: is 0'],
    [
      'tcp offset too wide',
      P(eth, { ipv4: {} }, { tcp: { offset: 16 } }),
      'data.Packet.protocols[2].tcp.offset: expected an unsigned 4-bit integer, got 16',
    ],
    [
      'tcp options longer than 40 bytes',
      P(eth, { ipv4: {} }, { tcp: { option: Buffer.alloc(41, 1).toString('base64') } }),
      'data.Packet.protocols[2].tcp.offset: the computed header length 64 exceeds 60 bytes',
    ],
    [
      'tcp option list element',
      P(eth, { ipv4: {} }, { tcp: { option: [{ TCPOptionMaximumSegmentSize: { max_seg_size: 70000 } }] } }),
      'data.Packet.protocols[2].tcp.option[0].TCPOptionMaximumSegmentSize.max_seg_size: expected an unsigned 16-bit integer',
    ],
    [
      'tcp option missing value',
      P(eth, { ipv4: {} }, { tcp: { option: [{ TCPOptionWindowScale: {} }] } }),
      'data.Packet.protocols[2].tcp.option[0].TCPOptionWindowScale.shift_cnt: missing',
    ],
    [
      'unknown tcp option class',
      P(eth, { ipv4: {} }, { tcp: { option: [{ TCPOptionFastOpen: {} }] } }),
      'data.Packet.protocols[2].tcp.option[0]: unsupported TCP option "TCPOptionFastOpen"',
    ],
    [
      'SACK block not a pair',
      P(eth, { ipv4: {} }, { tcp: { option: [{ TCPOptionSACK: { blocks: [[1, 2, 3]] } }] } }),
      'data.Packet.protocols[2].tcp.option[0].TCPOptionSACK.blocks[0]: expected [left edge, right edge]',
    ],
    [
      'udp total_length overflow',
      P(eth, { ipv4: {} }, { udp: {} }, Buffer.alloc(65530).toString('base64')),
      'data.Packet.protocols[2].udp.total_length: the computed length 65538 exceeds 65535',
    ],
  ];

  it.each(cases)('%s', (_name, json, message) => {
    let error: unknown;
    try {
      encodeRyuPacket(json, 'data');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OFPCodecError);
    const detail = (error as OFPCodecError).detail;
    expect(detail.slice(0, message.length), detail).toBe(message);
  });
});

describe('decoding edge cases', () => {
  it('keeps nothing for an empty or all-zero frame', () => {
    expect(decodeRyuPacket(Buffer.alloc(0))).toEqual({ Packet: { protocols: [] } });
    expect(decodeRyuPacket(Buffer.alloc(60))).toEqual({ Packet: { protocols: [] } });
  });

  it('keeps a frame shorter than an Ethernet header as one raw element', () => {
    expect(decodeRyuPacket(Buffer.from([1, 2, 3]))).toEqual({ Packet: { protocols: ['AQID'] } });
  });

});
