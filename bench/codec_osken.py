#!/usr/bin/python3
# bench_osken.py - os-ken's (Ryu fork) OpenFlow 1.3 codec throughput on a
# fixed, realistic message mix, as the Python side of a side-by-side
# benchmark with tinflow's TypeScript codec.
#
#   /usr/bin/python3 bench/codec_osken.py [--seconds S]
#       runs ~S seconds (default 3) and prints ONE JSON line:
#       {"impl":"os-ken","messages_per_s":..,"bytes_per_s":..,
#        "per_kind":{"flow_mod":..,"packet_in":..,"flow_stats_reply":..},
#        "seconds":..,...}
#   /usr/bin/python3 bench/codec_osken.py --write-mix PATH
#       writes the mix's wire bytes as JSON {"messages":[hex,..],"weights":[..],..}
#       and exits (add --seconds S to also run the benchmark afterwards).
#
# One round of the mix = 10 flow-mods + 10 packet-ins + 1 flow-stats reply
# (100 entries).  One "message" = one decode + one encode of that message;
# bytes_per_s counts each message's wire length once.
#
# Decode is ofproto_parser.header() + ofproto_parser.msg() for all three
# kinds (os-ken 2.5 does register a parser for OFPFlowMod, so no
# from_jsondict() stand-in is needed).  Encode is os-ken's serialize() for the
# flow-mod.  os-ken has NO encoder for switch->controller messages (their
# serialize() silently emits a bare 8-byte header), so packet-in and
# flow-stats-reply are encoded with osken_gen.encode(): the outer structs are
# packed with struct.pack, the match/instructions/actions inside by os-ken's
# own serialize() methods.  This is what a Python switch built on os-ken
# would have to do.

import argparse
import json
import os
import struct
import sys
import time

sys.dont_write_bytecode = True  # don't leave test/oracles/__pycache__ behind
# osken_gen is the codec tests' os-ken oracle (test/oracles/); the bench shares its DP and encode()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'oracles'))
import osken_gen  # noqa: E402  (shares DP, encode(); needs os-ken)

from os_ken.ofproto import ofproto_parser  # noqa: E402
from os_ken.ofproto import ofproto_v1_3 as ofp  # noqa: E402
from os_ken.ofproto import ofproto_v1_3_parser as ofpp  # noqa: E402

DP = osken_gen.DP
ROUND = (('flow_mod', 10), ('packet_in', 10), ('flow_stats_reply', 1))


def _frame(i):
    """A 128-byte Ethernet/IPv4/TCP frame, different for every i."""
    eth = (bytes.fromhex('0a0000000001') + bytes([0x0a, 0, 0, 0, 0x10, i & 0xff]) +
           struct.pack('!H', 0x0800))
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 114, i, 0x4000, 64, 6, 0,
                     bytes([10, 0, 1, i & 0xff]), bytes([10, 0, 2, 1]))
    tcp = struct.pack('!HHIIBBHHH', 40000 + i, 80, 1000 * i, 0, 0x50, 0x18,
                      65535, 0, 0)
    payload = bytes((i * 7 + k) & 0xff for k in range(128 - 14 - 20 - 20))
    frame = eth + ip + tcp + payload
    assert len(frame) == 128
    return frame


def build_mix():
    """The deterministic mix: list of (kind, os-ken message object)."""
    msgs = []
    for i in range(10):
        # 6 match fields: tcp_dst needs eth_type=IPv4 and ip_proto=TCP
        match = ofpp.OFPMatch(in_port=i + 1, eth_type=0x0800,
                              eth_dst='0a:00:00:00:00:%02x' % (i + 1),
                              ipv4_dst=('10.%d.0.0' % i, '255.255.0.0'),
                              ip_proto=6, tcp_dst=80 + i)
        # set_field vlan_vid needs a tag, so push_vlan comes first
        actions = [ofpp.OFPActionSetField(eth_src='0a:00:00:00:01:%02x' % i),
                   ofpp.OFPActionPushVlan(0x8100),
                   ofpp.OFPActionSetField(vlan_vid=ofp.OFPVID_PRESENT | (100 + i)),
                   ofpp.OFPActionOutput(i % 4 + 1, 0)]
        inst = [ofpp.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        msgs.append(('flow_mod', ofpp.OFPFlowMod(
            DP, cookie=0x1000 + i, cookie_mask=0, table_id=0,
            command=ofp.OFPFC_ADD, idle_timeout=60, hard_timeout=0,
            priority=1000 + i, buffer_id=ofp.OFP_NO_BUFFER,
            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
            flags=ofp.OFPFF_SEND_FLOW_REM, match=match, instructions=inst)))
    for i in range(10):
        data = _frame(i)
        msgs.append(('packet_in', ofpp.OFPPacketIn(
            DP, buffer_id=ofp.OFP_NO_BUFFER, total_len=len(data),
            reason=ofp.OFPR_NO_MATCH, table_id=0, cookie=0,
            match=ofpp.OFPMatch(in_port=i % 4 + 1), data=data)))
    body = []
    for i in range(100):
        match = ofpp.OFPMatch(in_port=i % 48 + 1, eth_type=0x0800,
                              ipv4_dst='10.0.%d.%d' % (i // 250, i % 250 + 1))
        inst = [ofpp.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                           [ofpp.OFPActionOutput(i % 48 + 1, 0)])]
        body.append(ofpp.OFPFlowStats(
            table_id=0, duration_sec=3600 + i, duration_nsec=1000 * i,
            priority=100 + i, idle_timeout=0, hard_timeout=0, flags=0,
            cookie=i, packet_count=1000 * i, byte_count=64000 * i,
            match=match, instructions=inst))
    msgs.append(('flow_stats_reply', ofpp.OFPFlowStatsReply(DP, body=body, flags=0)))
    return msgs


def decode(wire):
    version, msg_type, msg_len, xid = ofproto_parser.header(wire)
    return ofproto_parser.msg(DP, version, msg_type, msg_len, xid, wire)


def encode(msg):
    if type(msg) is ofpp.OFPFlowMod:
        msg.serialize()
        return msg.buf
    return osken_gen.encode(msg)


def mix_wires():
    """[(kind, wire bytes)] for one round; checked to decode+encode to the
    same bytes, so the loop below measures real, lossless work."""
    out = []
    for kind, msg in build_mix():
        msg.xid = 0
        wire = bytes(osken_gen.encode(msg))
        back = decode(wire)
        if back is None or bytes(encode(back)) != wire:
            raise SystemExit('bench_osken: os-ken cannot round-trip the %s' % kind)
        out.append((kind, wire))
    return out


def write_mix(path, wires):
    doc = {
        'generator': 'bench/codec_osken.py (os-ken)',
        'messages': [w.hex() for _, w in wires],
        'kinds': [k for k, _ in wires],
        # every message appears once per round: 10 flow_mod, 10 packet_in,
        # 1 flow_stats_reply (100 entries)
        'weights': [1] * len(wires),
        'round': dict(ROUND),
        'round_bytes': sum(len(w) for _, w in wires),
    }
    with open(path, 'w') as f:
        json.dump(doc, f, indent=1)
        f.write('\n')


def bench(wires, seconds):
    kinds = [k for k, _ in ROUND]
    groups = [(k, [w for kk, w in wires if kk == k]) for k in kinds]
    t_kind = dict((k, 0.0) for k in kinds)
    n_kind = dict((k, 0) for k in kinds)
    b_kind = dict((k, 0) for k in kinds)
    clock = time.perf_counter

    def one_round(account):
        for k, ws in groups:
            t0 = clock()
            for w in ws:
                encode(decode(w))
            dt = clock() - t0
            if account:
                t_kind[k] += dt
                n_kind[k] += len(ws)
                b_kind[k] += sum(len(w) for w in ws)

    one_round(False)  # warm-up (imports, caches)
    start = clock()
    while True:
        one_round(True)
        if clock() - start >= seconds:
            break
    wall = clock() - start
    busy = sum(t_kind.values())
    n = sum(n_kind.values())
    return {
        'impl': 'os-ken',
        'messages_per_s': round(n / busy, 1),
        'bytes_per_s': round(sum(b_kind.values()) / busy, 1),
        'per_kind': dict((k, round(n_kind[k] / t_kind[k], 1)) for k in kinds),
        'seconds': round(wall, 3),
        'messages': n,
        'round': dict(ROUND),
        'python': sys.version.split()[0],
        'notes': 'one message = decode (ofproto_parser.msg) + encode; '
                 'packet_in/flow_stats_reply encoded by struct.pack + os-ken '
                 'sub-serializers (os-ken has no encoder for them)',
    }


def main():
    ap = argparse.ArgumentParser(description='os-ken OpenFlow 1.3 codec benchmark')
    ap.add_argument('--seconds', type=float, default=None,
                    help='measurement time (default 3)')
    ap.add_argument('--write-mix', metavar='PATH',
                    help='write the mix as JSON hex and exit (unless --seconds is given)')
    a = ap.parse_args()
    wires = mix_wires()
    if a.write_mix:
        write_mix(a.write_mix, wires)
        sys.stderr.write('bench_osken: wrote %d messages (%d bytes per round) to %s\n'
                         % (len(wires), sum(len(w) for _, w in wires), a.write_mix))
        if a.seconds is None:
            return
    result = bench(wires, 3.0 if a.seconds is None else a.seconds)
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()


if __name__ == '__main__':
    main()
