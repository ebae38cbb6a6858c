#!/usr/bin/python3
# osken_gen.py - random OpenFlow 1.3 test vectors produced by os-ken (the
# maintained Ryu fork), used as an independent oracle for tinflow's
# TypeScript codec.  Each stdout line is {"hex": <wire bytes>, "json": <Ryu
# to_jsondict() form>}.  Every message is round-tripped through os-ken before
# it is printed; messages os-ken cannot round-trip are regenerated and counted
# on stderr.
#
# Usage: /usr/bin/python3 test/oracles/osken_gen.py --seed N --count M
#
# Must run under Debian's /usr/bin/python3 (python3-os-ken).  os-ken only has
# encoders for controller->switch messages and only has decoders for (most)
# switch->controller messages plus OFPFlowMod.  For the switch->controller
# kinds (packet-in, flow-removed, port-status, multipart replies) the outer
# structs are packed here by hand from the OpenFlow 1.3 spec layouts while
# matches/instructions/actions/buckets/bands are still serialized by os-ken;
# os-ken's own parser then decodes those bytes and its to_jsondict() of the
# parsed message is what gets printed.

import argparse
import base64
import ipaddress
import json
import logging
import random
import struct
import sys

from os_ken.lib import addrconv
from os_ken.ofproto import ofproto_parser, ofproto_protocol
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as ofpp

DP = ofproto_protocol.ProtocolDesc(version=ofp.OFP_VERSION)

# ofproto_parser.msg() logs a traceback and returns None on a parse error;
# we detect the None ourselves, so keep stderr clean.
logging.getLogger('os_ken').setLevel(logging.CRITICAL)

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


# ---------------------------------------------------------------- randomness

class Gen(object):
    """All random choices go through one random.Random, so a seed fully
    determines the output."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def chance(self, p):
        return self.r.random() < p

    def bits(self, n):
        return self.r.getrandbits(n)

    def uint(self, nbits):
        """Unsigned int biased towards edge values."""
        top = (1 << nbits) - 1
        k = self.r.random()
        if k < 0.08:
            return 0
        if k < 0.14:
            return top
        if k < 0.20:
            return self.r.randint(1, 255) if nbits > 8 else self.r.randint(1, top)
        if nbits == 64 and k < 0.32:
            # around 2^53: where JavaScript numbers stop being exact
            return (1 << 53) + self.r.randint(-3, 3)
        if nbits == 64 and k < 0.40:
            return top - self.r.randint(0, 1000)
        return self.r.getrandbits(nbits)

    def pick(self, seq):
        return self.r.choice(seq)

    def randint(self, a, b):
        return self.r.randint(a, b)

    def sample(self, seq, k):
        return self.r.sample(seq, k)

    def randbytes(self, n):
        return bytes(self.r.getrandbits(8) for _ in range(n))

    # ---- addresses (os-ken accepts text; it prints its own canonical form)

    def mac(self):
        k = self.r.random()
        if k < 0.05:
            b = b'\xff' * 6
        elif k < 0.10:
            b = b'\x00' * 6
        elif k < 0.20:
            b = bytes([0x01, 0x80, 0xc2, 0, 0, self.r.randint(0, 15)])
        else:
            b = self.randbytes(6)
        return ':'.join('%02x' % x for x in b)

    def mac_mask(self):
        k = self.r.random()
        if k < 0.4:
            n = self.r.randint(1, 47)
            v = (((1 << n) - 1) << (48 - n))
        elif k < 0.6:
            v = 0x010000000000  # multicast bit
        else:
            v = self.bits(48)
        return ':'.join('%02x' % x for x in v.to_bytes(6, 'big'))

    def ipv4(self):
        k = self.r.random()
        if k < 0.05:
            v = 0
        elif k < 0.10:
            v = U32
        elif k < 0.40:
            v = (10 << 24) | self.bits(24)
        else:
            v = self.bits(32)
        return str(ipaddress.IPv4Address(v))

    def ipv4_mask(self):
        if self.chance(0.75):
            n = self.r.randint(0, 32)
            v = ((1 << n) - 1) << (32 - n)
        else:
            v = self.bits(32)
        return str(ipaddress.IPv4Address(v))

    def ipv6_int(self):
        """IPv6 address as int, with a spread of zero-run shapes so that the
        textual compression rules get exercised."""
        k = self.r.random()
        if k < 0.04:
            return 0
        if k < 0.08:
            return 1
        if k < 0.14:
            # IPv4-mapped ::ffff:a.b.c.d (os-ken prints dotted quad)
            return 0xffff00000000 | self.bits(32)
        if k < 0.18:
            # IPv4-compatible ::a.b.c.d (os-ken prints dotted quad when > 0xffff)
            return self.bits(32)
        if k < 0.26:
            # link-local fe80::/64 + random interface id
            return (0xfe80 << 112) | self.bits(64)
        if k < 0.34:
            # 2001:db8::<small>
            return (0x20010db8 << 96) | self.r.randint(0, 0xffff)
        words = [self.bits(16) for _ in range(8)]
        k2 = self.r.random()
        if k2 < 0.60:
            # one or two zero runs of random length/position
            for _ in range(self.r.randint(1, 2)):
                ln = self.r.randint(1, 6)
                st = self.r.randint(0, 8 - ln)
                for i in range(st, st + ln):
                    words[i] = 0
        elif k2 < 0.75:
            # scattered single zero words
            for i in range(8):
                if self.chance(0.3):
                    words[i] = 0
        elif k2 < 0.85:
            # small words (leading-zero suppression)
            words = [self.r.randint(0, 0xff) for _ in range(8)]
        v = 0
        for w in words:
            v = (v << 16) | w
        return v

    def ipv6(self):
        # os-ken's own text form (netaddr/inet_ntop), so that a set-field
        # value (which os-ken does not normalise) equals what its parser
        # prints; ipaddress would write ::ffff:102:304 for ::ffff:1.2.3.4
        return addrconv.ipv6.bin_to_text(self.ipv6_int().to_bytes(16, 'big'))

    def ipv6_mask(self):
        if self.chance(0.75):
            n = self.r.randint(0, 128)
            v = ((1 << n) - 1) << (128 - n)
        else:
            v = self.bits(128)
        return str(ipaddress.IPv6Address(v))

    def port_no(self, reserved=0.15):
        if self.chance(reserved):
            return self.pick([ofp.OFPP_IN_PORT, ofp.OFPP_TABLE, ofp.OFPP_NORMAL,
                              ofp.OFPP_FLOOD, ofp.OFPP_ALL,
                              ofp.OFPP_CONTROLLER, ofp.OFPP_LOCAL,
                              ofp.OFPP_MAX])
        if self.chance(0.8):
            return self.r.randint(1, 64)
        return self.r.randint(1, ofp.OFPP_MAX)

    def text(self, maxlen, alphabet=None):
        if alphabet is None:
            alphabet = ''.join(chr(c) for c in range(0x20, 0x7f))
        n = self.r.randint(0, maxlen)
        s = ''.join(self.r.choice(alphabet) for _ in range(n))
        return s.rstrip('\0')


# ------------------------------------------------------------------- matches

ETH_IPV4, ETH_ARP, ETH_IPV6 = 0x0800, 0x0806, 0x86dd
ETH_MPLS, ETH_MPLS_MC, ETH_PBB = 0x8847, 0x8848, 0x88e7


def rand_match_fields(g, small=False):
    """Random OXM fields (as OFPMatch kwargs) with valid prerequisites.
    Returns (kwargs, ctx) where ctx tells which protocol layers are present
    (used to pick sensible set-field actions)."""
    f = {}
    ctx = {'eth_type': None, 'ip_proto': None, 'icmpv6_type': None}
    p = 0.25 if small else 0.5

    if g.chance(0.6):
        f['in_port'] = g.port_no(reserved=0.05)
        if g.chance(0.1):
            f['in_phy_port'] = g.port_no(reserved=0.0)
    if g.chance(p * 0.5):
        f['metadata'] = (g.uint(64), g.uint(64)) if g.chance(0.5) else g.uint(64)
    if g.chance(p * 0.4):
        f['tunnel_id'] = (g.uint(64), g.uint(64)) if g.chance(0.3) else g.uint(64)
    for k in ('eth_dst', 'eth_src'):
        if g.chance(p):
            f[k] = (g.mac(), g.mac_mask()) if g.chance(0.3) else g.mac()
    if g.chance(p * 0.6):
        k = g.r.random()
        vid = g.randint(0, 4095)
        if k < 0.55:
            f['vlan_vid'] = ofp.OFPVID_PRESENT | vid
        elif k < 0.70:
            f['vlan_vid'] = (ofp.OFPVID_PRESENT, ofp.OFPVID_PRESENT)
        elif k < 0.85:
            f['vlan_vid'] = (ofp.OFPVID_PRESENT | vid, g.pick([0x1fff, 0x1f00, 0x1ff0, g.bits(13)]))
        else:
            f['vlan_vid'] = ofp.OFPVID_NONE
        if f['vlan_vid'] != ofp.OFPVID_NONE and g.chance(0.4):
            f['vlan_pcp'] = g.randint(0, 7)

    if small and g.chance(0.4):
        return f, ctx
    eth_type = g.pick([None, ETH_IPV4, ETH_IPV4, ETH_IPV4, ETH_IPV6, ETH_IPV6,
                       ETH_ARP, ETH_MPLS, ETH_MPLS_MC, ETH_PBB,
                       g.randint(0x600, 0xffff)])
    if eth_type is None:
        return f, ctx
    f['eth_type'] = eth_type
    ctx['eth_type'] = eth_type

    if eth_type in (ETH_IPV4, ETH_IPV6):
        if g.chance(p * 0.5):
            f['ip_dscp'] = g.randint(0, 63)
        if g.chance(p * 0.4):
            f['ip_ecn'] = g.randint(0, 3)
        if eth_type == ETH_IPV4:
            for k in ('ipv4_src', 'ipv4_dst'):
                if g.chance(p + 0.1):
                    f[k] = (g.ipv4(), g.ipv4_mask()) if g.chance(0.4) else g.ipv4()
        else:
            for k in ('ipv6_src', 'ipv6_dst'):
                if g.chance(p + 0.1):
                    f[k] = (g.ipv6(), g.ipv6_mask()) if g.chance(0.4) else g.ipv6()
            if g.chance(p * 0.4):
                fl = g.bits(20)
                f['ipv6_flabel'] = (fl, g.bits(20)) if g.chance(0.4) else fl
            if g.chance(p * 0.3):
                eh = g.bits(9)
                f['ipv6_exthdr'] = (eh, g.bits(9)) if g.chance(0.4) else eh
        icmp = 1 if eth_type == ETH_IPV4 else 58
        proto = g.pick([None, 6, 6, 17, 17, 132, icmp, icmp, g.randint(0, 255)])
        if proto is None:
            return f, ctx
        f['ip_proto'] = proto
        ctx['ip_proto'] = proto
        if proto == 6:
            names = ('tcp_src', 'tcp_dst')
        elif proto == 17:
            names = ('udp_src', 'udp_dst')
        elif proto == 132:
            names = ('sctp_src', 'sctp_dst')
        elif proto == 1:
            names = ()
            if g.chance(0.7):
                f['icmpv4_type'] = g.randint(0, 255)
            if g.chance(0.5):
                f['icmpv4_code'] = g.randint(0, 255)
        elif proto == 58:
            names = ()
            t = g.pick([g.randint(0, 255), 128, 129, 133, 134, 135, 135, 136, 136])
            if g.chance(0.8):
                f['icmpv6_type'] = t
                ctx['icmpv6_type'] = t
            if g.chance(0.5):
                f['icmpv6_code'] = g.randint(0, 255)
            if t in (135, 136) and 'icmpv6_type' in f:
                if g.chance(0.7):
                    f['ipv6_nd_target'] = g.ipv6()
                if t == 135 and g.chance(0.6):
                    f['ipv6_nd_sll'] = g.mac()
                if t == 136 and g.chance(0.6):
                    f['ipv6_nd_tll'] = g.mac()
        else:
            names = ()
        for k in names:
            if g.chance(0.7):
                f[k] = g.uint(16)
    elif eth_type == ETH_ARP:
        if g.chance(0.7):
            f['arp_op'] = g.pick([1, 2, 3, 4, g.uint(16)])
        for k in ('arp_spa', 'arp_tpa'):
            if g.chance(0.6):
                f[k] = (g.ipv4(), g.ipv4_mask()) if g.chance(0.3) else g.ipv4()
        for k in ('arp_sha', 'arp_tha'):
            if g.chance(0.5):
                f[k] = (g.mac(), g.mac_mask()) if g.chance(0.3) else g.mac()
    elif eth_type in (ETH_MPLS, ETH_MPLS_MC):
        if g.chance(0.8):
            f['mpls_label'] = g.bits(20)
        if g.chance(0.5):
            f['mpls_tc'] = g.randint(0, 7)
        if g.chance(0.5):
            f['mpls_bos'] = g.randint(0, 1)
    elif eth_type == ETH_PBB:
        if g.chance(0.8):
            isid = g.bits(24)
            f['pbb_isid'] = (isid, g.bits(24)) if g.chance(0.3) else isid
    return f, ctx


def rand_match(g, small=False):
    f, ctx = rand_match_fields(g, small)
    return ofpp.OFPMatch(**f), ctx


# ------------------------------------------------------------------- actions

def rand_set_field(g, ctx):
    """OFPActionSetField for a field whose prerequisites the match satisfies
    (os-ken does not check this, a switch would)."""
    cands = ['eth_src', 'eth_dst', 'vlan_vid', 'vlan_pcp', 'tunnel_id']
    et = ctx.get('eth_type')
    proto = ctx.get('ip_proto')
    if et in (ETH_IPV4, ETH_IPV6):
        cands += ['ip_dscp', 'ip_ecn']
        cands += ['ipv4_src', 'ipv4_dst'] if et == ETH_IPV4 else \
            ['ipv6_src', 'ipv6_dst', 'ipv6_flabel']
        cands += {6: ['tcp_src', 'tcp_dst'], 17: ['udp_src', 'udp_dst'],
                  132: ['sctp_src', 'sctp_dst'],
                  1: ['icmpv4_type', 'icmpv4_code'],
                  58: ['icmpv6_type', 'icmpv6_code']}.get(proto, [])
        if proto == 58 and ctx.get('icmpv6_type') in (135, 136):
            cands += ['ipv6_nd_target',
                      'ipv6_nd_sll' if ctx['icmpv6_type'] == 135 else 'ipv6_nd_tll']
    elif et == ETH_ARP:
        cands += ['arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha']
    elif et in (ETH_MPLS, ETH_MPLS_MC):
        cands += ['mpls_label', 'mpls_tc', 'mpls_bos']
    elif et == ETH_PBB:
        cands += ['pbb_isid']
    k = g.pick(cands)
    if k in ('eth_src', 'eth_dst', 'arp_sha', 'arp_tha', 'ipv6_nd_sll', 'ipv6_nd_tll'):
        v = g.mac()
    elif k in ('ipv4_src', 'ipv4_dst', 'arp_spa', 'arp_tpa'):
        v = g.ipv4()
    elif k in ('ipv6_src', 'ipv6_dst', 'ipv6_nd_target'):
        v = g.ipv6()
    elif k == 'vlan_vid':
        v = ofp.OFPVID_PRESENT | g.randint(0, 4095) if g.chance(0.85) else g.randint(0, 4095)
    elif k == 'vlan_pcp' or k == 'mpls_tc':
        v = g.randint(0, 7)
    elif k == 'tunnel_id':
        v = g.uint(64)
    elif k == 'ip_dscp':
        v = g.randint(0, 63)
    elif k == 'ip_ecn':
        v = g.randint(0, 3)
    elif k in ('ipv6_flabel', 'mpls_label'):
        v = g.bits(20)
    elif k == 'mpls_bos':
        v = g.randint(0, 1)
    elif k == 'pbb_isid':
        v = g.bits(24)
    elif k in ('icmpv4_type', 'icmpv4_code', 'icmpv6_type', 'icmpv6_code'):
        v = g.randint(0, 255)
    else:  # l4 ports, arp_op
        v = g.uint(16)
    return ofpp.OFPActionSetField(**{k: v})


def rand_action(g, ctx, kind=None):
    if kind is None:
        kind = g.pick(['output', 'output', 'output', 'group', 'set_queue',
                       'set_mpls_ttl', 'dec_mpls_ttl', 'set_nw_ttl',
                       'dec_nw_ttl', 'copy_ttl_in', 'copy_ttl_out',
                       'push_vlan', 'pop_vlan', 'push_mpls', 'pop_mpls',
                       'push_pbb', 'pop_pbb', 'set_field', 'set_field',
                       'set_field'])
    if kind == 'output':
        port = g.port_no(reserved=0.3)
        if port == ofp.OFPP_CONTROLLER:
            ml = g.pick([0, 128, ofp.OFPCML_MAX, ofp.OFPCML_NO_BUFFER, g.uint(16)])
        else:
            ml = g.pick([0, 0, ofp.OFPCML_MAX, g.uint(16)])
        return ofpp.OFPActionOutput(port, ml)
    if kind == 'group':
        return ofpp.OFPActionGroup(g.pick([g.randint(0, 1000), g.randint(0, ofp.OFPG_MAX)]))
    if kind == 'set_queue':
        return ofpp.OFPActionSetQueue(g.uint(32))
    if kind == 'set_mpls_ttl':
        return ofpp.OFPActionSetMplsTtl(g.uint(8))
    if kind == 'dec_mpls_ttl':
        return ofpp.OFPActionDecMplsTtl()
    if kind == 'set_nw_ttl':
        return ofpp.OFPActionSetNwTtl(g.uint(8))
    if kind == 'dec_nw_ttl':
        return ofpp.OFPActionDecNwTtl()
    if kind == 'copy_ttl_in':
        return ofpp.OFPActionCopyTtlIn()
    if kind == 'copy_ttl_out':
        return ofpp.OFPActionCopyTtlOut()
    if kind == 'push_vlan':
        return ofpp.OFPActionPushVlan(g.pick([0x8100, 0x88a8]))
    if kind == 'pop_vlan':
        return ofpp.OFPActionPopVlan()
    if kind == 'push_mpls':
        return ofpp.OFPActionPushMpls(g.pick([ETH_MPLS, ETH_MPLS_MC]))
    if kind == 'pop_mpls':
        return ofpp.OFPActionPopMpls(g.pick([ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_MPLS]))
    if kind == 'push_pbb':
        return ofpp.OFPActionPushPbb(ETH_PBB)
    if kind == 'pop_pbb':
        return ofpp.OFPActionPopPbb()
    if kind == 'set_field':
        return rand_set_field(g, ctx)
    raise ValueError(kind)


def rand_actions(g, ctx, lo=0, hi=5):
    n = g.randint(lo, hi)
    acts = [rand_action(g, ctx) for _ in range(n)]
    # usually finish with an output, like real flows do
    if acts and g.chance(0.6) and not isinstance(acts[-1], ofpp.OFPActionOutput):
        acts.append(rand_action(g, ctx, 'output'))
    return acts


def rand_action_set(g, ctx):
    """Actions for write-actions: an action *set*, so one per kind (set-field
    once per field)."""
    kinds = g.sample(['output', 'group', 'set_queue', 'set_mpls_ttl',
                      'dec_mpls_ttl', 'set_nw_ttl', 'dec_nw_ttl',
                      'copy_ttl_in', 'copy_ttl_out', 'push_vlan', 'pop_vlan',
                      'push_mpls', 'pop_mpls', 'push_pbb', 'pop_pbb'],
                     g.randint(0, 4))
    acts = [rand_action(g, ctx, k) for k in kinds]
    seen = set()
    for _ in range(g.randint(0, 2)):
        a = rand_set_field(g, ctx)
        if a.key not in seen:
            seen.add(a.key)
            acts.append(a)
    return acts


def rand_instructions(g, ctx, table_id=0, allow_empty=True):
    """Random subset of instruction types, at most one of each, in the
    pipeline order meter, apply, clear, write, write-metadata, goto."""
    insts = []
    if g.chance(0.15):
        insts.append(ofpp.OFPInstructionMeter(g.pick([1, g.randint(1, ofp.OFPM_MAX)])))
    if g.chance(0.75):
        insts.append(ofpp.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                                rand_actions(g, ctx)))
    if g.chance(0.15):
        insts.append(ofpp.OFPInstructionActions(ofp.OFPIT_CLEAR_ACTIONS, []))
    if g.chance(0.3):
        insts.append(ofpp.OFPInstructionActions(ofp.OFPIT_WRITE_ACTIONS,
                                                rand_action_set(g, ctx)))
    if g.chance(0.2):
        insts.append(ofpp.OFPInstructionWriteMetadata(g.uint(64), g.uint(64)))
    if table_id < ofp.OFPTT_MAX and g.chance(0.25):
        insts.append(ofpp.OFPInstructionGotoTable(g.randint(table_id + 1, ofp.OFPTT_MAX)))
    if not insts and not allow_empty:
        insts.append(ofpp.OFPInstructionActions(
            ofp.OFPIT_APPLY_ACTIONS, [rand_action(g, ctx, 'output')]))
    return insts


def rand_table_id(g):
    return g.pick([0, 0, 1, g.randint(0, ofp.OFPTT_MAX)])


def rand_buckets(g, gtype, allow_empty=False):
    ctx = {'eth_type': None}
    if gtype == ofp.OFPGT_INDIRECT:
        n = 1
    else:
        n = g.randint(0 if allow_empty else 1, 4)
    out = []
    for _ in range(n):
        acts = rand_actions(g, ctx, 0, 4)
        if gtype == ofp.OFPGT_SELECT:
            w = g.pick([1, g.randint(1, 100), g.uint(16)])
        else:
            w = 0
        if gtype == ofp.OFPGT_FF:
            wp = g.port_no(reserved=0.1)
            wg = g.pick([ofp.OFPG_ANY, g.randint(0, 1000)])
        else:
            wp, wg = ofp.OFPP_ANY, ofp.OFPG_ANY
        if g.chance(0.05):  # unusual but legal on the wire
            wp, wg = g.uint(32), g.uint(32)
        out.append(ofpp.OFPBucket(w, wp, wg, acts))
    return out


def rand_bands(g, lo=1, hi=3):
    bands = []
    for _ in range(g.randint(lo, hi)):
        rate, burst = g.uint(32), g.uint(32)
        if g.chance(0.5):
            bands.append(ofpp.OFPMeterBandDrop(rate, burst))
        else:
            bands.append(ofpp.OFPMeterBandDscpRemark(rate, burst, g.randint(0, 63)))
    return bands


def rand_meter_flags(g):
    f = g.pick([ofp.OFPMF_KBPS, ofp.OFPMF_PKTPS])
    if g.chance(0.5):
        f |= ofp.OFPMF_BURST
    if g.chance(0.5):
        f |= ofp.OFPMF_STATS
    return f


def rand_port(g):
    port_no = g.port_no(reserved=0.05)
    if port_no == ofp.OFPP_LOCAL or g.chance(0.05):
        name = g.pick(['br0', 's1', 'ovs-system'])
    else:
        name = g.pick(['eth%d', 's1-eth%d', 'veth%d', 'port%d', 'ens%dp0']) % g.randint(0, 999)
    if g.chance(0.05):
        name = 'x' * 15  # longest name that still has a NUL terminator
    return ofpp.OFPPort(port_no=port_no, hw_addr=g.mac(), name=name.encode('ascii'),
                        config=g.bits(7) & 0x65, state=g.bits(3),
                        curr=g.bits(16), advertised=g.bits(16),
                        supported=g.bits(16), peer=g.bits(16),
                        curr_speed=g.pick([10000000, 1000000, 100000, g.uint(32)]),
                        max_speed=g.pick([10000000, 40000000, g.uint(32)]))


def rand_frame(g, n=None):
    """An Ethernet-looking frame (dst, src, ethertype, random payload)."""
    if n is None:
        n = g.pick([60, 64, 98, 128, 128, 128, g.randint(14, 200)])
    hdr = bytes.fromhex(g.mac().replace(':', '')) + bytes.fromhex(g.mac().replace(':', ''))
    hdr += struct.pack('!H', g.pick([ETH_IPV4, ETH_IPV6, ETH_ARP, 0x8100, 0x88cc]))
    return (hdr + g.randbytes(max(0, n - len(hdr))))[:n]


# ---------------------------------------------------------- message builders

def mk_flow_mod(g):
    cmd = g.pick([ofp.OFPFC_ADD, ofp.OFPFC_ADD, ofp.OFPFC_MODIFY,
                  ofp.OFPFC_MODIFY_STRICT, ofp.OFPFC_DELETE,
                  ofp.OFPFC_DELETE_STRICT])
    match, ctx = rand_match(g)
    table_id = rand_table_id(g)
    deleting = cmd in (ofp.OFPFC_DELETE, ofp.OFPFC_DELETE_STRICT)
    if deleting:
        insts = [] if g.chance(0.8) else rand_instructions(g, ctx, table_id)
        out_port = g.pick([ofp.OFPP_ANY, g.port_no()])
        out_group = g.pick([ofp.OFPG_ANY, g.randint(0, 1000)])
        if g.chance(0.3):
            table_id = ofp.OFPTT_ALL
    else:
        insts = rand_instructions(g, ctx, table_id)
        out_port = g.pick([ofp.OFPP_ANY, ofp.OFPP_ANY, 0, g.uint(32)])
        out_group = g.pick([ofp.OFPG_ANY, ofp.OFPG_ANY, 0, g.uint(32)])
    return ofpp.OFPFlowMod(
        DP, cookie=g.uint(64),
        cookie_mask=g.uint(64) if cmd != ofp.OFPFC_ADD else g.pick([0, 0, g.uint(64)]),
        table_id=table_id, command=cmd,
        idle_timeout=g.pick([0, 0, 10, 60, g.uint(16)]),
        hard_timeout=g.pick([0, 0, 30, 300, g.uint(16)]),
        priority=g.pick([0, ofp.OFP_DEFAULT_PRIORITY, 1, g.uint(16)]),
        buffer_id=g.pick([ofp.OFP_NO_BUFFER, ofp.OFP_NO_BUFFER, g.uint(32)]),
        out_port=out_port, out_group=out_group,
        flags=g.bits(5) if g.chance(0.5) else 0,
        match=match, instructions=insts)


def mk_group_mod(g):
    cmd = g.pick([ofp.OFPGC_ADD, ofp.OFPGC_ADD, ofp.OFPGC_MODIFY, ofp.OFPGC_DELETE])
    gtype = g.pick([ofp.OFPGT_ALL, ofp.OFPGT_SELECT, ofp.OFPGT_INDIRECT, ofp.OFPGT_FF])
    if cmd == ofp.OFPGC_DELETE:
        buckets = []
        gid = g.pick([ofp.OFPG_ALL, g.randint(0, ofp.OFPG_MAX)])
    else:
        buckets = rand_buckets(g, gtype, allow_empty=g.chance(0.1))
        gid = g.pick([1, g.randint(0, 1000), g.randint(0, ofp.OFPG_MAX)])
    return ofpp.OFPGroupMod(DP, cmd, gtype, gid, buckets)


def mk_meter_mod(g):
    cmd = g.pick([ofp.OFPMC_ADD, ofp.OFPMC_ADD, ofp.OFPMC_MODIFY, ofp.OFPMC_DELETE])
    bands = [] if cmd == ofp.OFPMC_DELETE else rand_bands(g)
    mid = g.pick([1, g.randint(1, 1000), g.randint(1, ofp.OFPM_MAX),
                  ofp.OFPM_SLOWPATH, ofp.OFPM_CONTROLLER])
    if cmd == ofp.OFPMC_DELETE and g.chance(0.3):
        mid = ofp.OFPM_ALL
    return ofpp.OFPMeterMod(DP, cmd, rand_meter_flags(g), mid, bands)


def mk_packet_in(g):
    f = {'in_port': g.port_no(reserved=0.05)}
    if g.chance(0.3):
        more, _ = rand_match_fields(g, small=True)
        more.pop('in_port', None)
        more.pop('in_phy_port', None)
        if g.chance(0.3):
            more['in_phy_port'] = g.port_no(reserved=0.0)
        f.update(more)
    data = rand_frame(g)
    buffered = g.chance(0.25)
    if buffered:
        buffer_id = g.uint(32) if g.chance(0.9) else 0
        total_len = len(data) + g.pick([0, g.randint(1, 1400)])
    else:
        buffer_id = ofp.OFP_NO_BUFFER
        total_len = len(data)
    return ofpp.OFPPacketIn(DP, buffer_id=buffer_id, total_len=total_len,
                            reason=g.pick([ofp.OFPR_NO_MATCH, ofp.OFPR_ACTION,
                                           ofp.OFPR_INVALID_TTL]),
                            table_id=rand_table_id(g), cookie=g.uint(64),
                            match=ofpp.OFPMatch(**f), data=data)


def mk_packet_out(g):
    ctx = {'eth_type': None}
    acts = rand_actions(g, ctx, 0, 4)
    if g.chance(0.75):
        # os-ken bug: with no actions, serialize() writes the packet-out header over the first 16 bytes
        # of data (it packs at offset 8 into a buffer that holds only the header). Keep one action.
        if not acts:
            acts = [ofpp.OFPActionOutput(g.port_no())]
        return ofpp.OFPPacketOut(DP, buffer_id=ofp.OFP_NO_BUFFER,
                                 in_port=g.pick([ofp.OFPP_CONTROLLER, g.port_no()]),
                                 actions=acts, data=rand_frame(g))
    return ofpp.OFPPacketOut(DP, buffer_id=g.randint(0, U32 - 1),
                             in_port=g.port_no(), actions=acts, data=None)


def mk_flow_removed(g):
    match, _ = rand_match(g)
    return ofpp.OFPFlowRemoved(
        DP, cookie=g.uint(64), priority=g.uint(16),
        reason=g.pick([ofp.OFPRR_IDLE_TIMEOUT, ofp.OFPRR_HARD_TIMEOUT,
                       ofp.OFPRR_DELETE, ofp.OFPRR_GROUP_DELETE]),
        table_id=rand_table_id(g), duration_sec=g.uint(32),
        duration_nsec=g.randint(0, 999999999), idle_timeout=g.uint(16),
        hard_timeout=g.uint(16), packet_count=g.uint(64),
        byte_count=g.uint(64), match=match)


def mk_port_status(g):
    return ofpp.OFPPortStatus(DP, reason=g.pick([ofp.OFPPR_ADD, ofp.OFPPR_DELETE,
                                                 ofp.OFPPR_MODIFY]),
                              desc=rand_port(g))


def mk_error(g):
    if g.chance(0.15):
        return ofpp.OFPErrorMsg(DP, type_=ofp.OFPET_EXPERIMENTER,
                                exp_type=g.uint(16), experimenter=g.uint(32),
                                data=g.randbytes(g.randint(0, 24)))
    etype = g.randint(ofp.OFPET_HELLO_FAILED, ofp.OFPET_TABLE_FEATURES_FAILED)
    code = g.pick([0, 1, 2, g.randint(0, 15), g.uint(16)])
    if etype == ofp.OFPET_HELLO_FAILED and g.chance(0.5):
        data = b'unsupported version'
    elif g.chance(0.6):
        # the first 64 bytes of an offending request
        m = mk_flow_mod(g)
        m.xid = 0
        m.serialize()
        data = bytes(m.buf[:64])
    else:
        data = g.randbytes(g.randint(0, 64))
    return ofpp.OFPErrorMsg(DP, type_=etype, code=code, data=data)


def mk_flow_stats_request(g):
    match, _ = rand_match(g)
    return ofpp.OFPFlowStatsRequest(
        DP, flags=0, table_id=g.pick([ofp.OFPTT_ALL, rand_table_id(g)]),
        out_port=g.pick([ofp.OFPP_ANY, g.port_no()]),
        out_group=g.pick([ofp.OFPG_ANY, g.randint(0, 1000)]),
        cookie=g.uint(64), cookie_mask=g.uint(64), match=match)


def reply_flags(g):
    return ofp.OFPMPF_REPLY_MORE if g.chance(0.2) else 0


def mk_flow_stats_entry(g):
    match, ctx = rand_match(g)
    table_id = rand_table_id(g)
    return ofpp.OFPFlowStats(
        table_id=table_id, duration_sec=g.uint(32),
        duration_nsec=g.randint(0, 999999999), priority=g.uint(16),
        idle_timeout=g.pick([0, g.uint(16)]), hard_timeout=g.pick([0, g.uint(16)]),
        flags=g.bits(5) if g.chance(0.4) else 0, cookie=g.uint(64),
        packet_count=g.uint(64), byte_count=g.uint(64), match=match,
        instructions=rand_instructions(g, ctx, table_id))


def mk_flow_stats_reply(g):
    n = g.pick([0, 1, 2, 3, 5, g.randint(1, 8)])
    return ofpp.OFPFlowStatsReply(DP, body=[mk_flow_stats_entry(g) for _ in range(n)],
                                  flags=reply_flags(g))


def mk_port_stats_reply(g):
    body = []
    for _ in range(g.randint(0, 6)):
        c = [g.uint(64) for _ in range(12)]
        body.append(ofpp.OFPPortStats(g.port_no(reserved=0.05), *c,
                                      g.uint(32), g.randint(0, 999999999)))
    return ofpp.OFPPortStatsReply(DP, body=body, flags=reply_flags(g))


def mk_group_stats_reply(g):
    body = []
    for _ in range(g.randint(0, 4)):
        bc = [ofpp.OFPBucketCounter(g.uint(64), g.uint(64))
              for _ in range(g.randint(0, 4))]
        body.append(ofpp.OFPGroupStats(
            group_id=g.randint(0, ofp.OFPG_MAX), ref_count=g.uint(32),
            packet_count=g.uint(64), byte_count=g.uint(64),
            duration_sec=g.uint(32), duration_nsec=g.randint(0, 999999999),
            bucket_stats=bc))
    return ofpp.OFPGroupStatsReply(DP, body=body, flags=reply_flags(g))


def mk_meter_stats_reply(g):
    body = []
    for _ in range(g.randint(0, 4)):
        bs = [ofpp.OFPMeterBandStats(g.uint(64), g.uint(64))
              for _ in range(g.randint(0, 3))]
        body.append(ofpp.OFPMeterStats(
            meter_id=g.randint(1, ofp.OFPM_MAX), flow_count=g.uint(32),
            packet_in_count=g.uint(64), byte_in_count=g.uint(64),
            duration_sec=g.uint(32), duration_nsec=g.randint(0, 999999999),
            band_stats=bs))
    return ofpp.OFPMeterStatsReply(DP, body=body, flags=reply_flags(g))


def mk_table_stats_reply(g):
    n = g.pick([1, 2, 4, g.randint(0, 12)])
    ids = sorted(g.sample(range(0, 255), n))
    body = [ofpp.OFPTableStats(t, g.uint(32), g.uint(64), g.uint(64)) for t in ids]
    return ofpp.OFPTableStatsReply(DP, body=body, flags=reply_flags(g))


def mk_port_desc_reply(g):
    body = [rand_port(g) for _ in range(g.randint(0, 6))]
    return ofpp.OFPPortDescStatsReply(DP, body=body, flags=reply_flags(g))


def mk_group_desc_reply(g):
    body = []
    for _ in range(g.randint(0, 4)):
        gtype = g.pick([ofp.OFPGT_ALL, ofp.OFPGT_SELECT, ofp.OFPGT_INDIRECT, ofp.OFPGT_FF])
        body.append(ofpp.OFPGroupDescStats(
            type_=gtype, group_id=g.randint(0, ofp.OFPG_MAX),
            buckets=rand_buckets(g, gtype, allow_empty=True)))
    return ofpp.OFPGroupDescStatsReply(DP, body=body, flags=reply_flags(g))


def mk_meter_config_reply(g):
    body = []
    for _ in range(g.randint(0, 4)):
        body.append(ofpp.OFPMeterConfigStats(
            flags=rand_meter_flags(g), meter_id=g.randint(1, ofp.OFPM_MAX),
            bands=rand_bands(g, 0, 3)))
    return ofpp.OFPMeterConfigStatsReply(DP, body=body, flags=reply_flags(g))


def mk_aggregate_reply(g):
    return ofpp.OFPAggregateStatsReply(
        DP, body=ofpp.OFPAggregateStats(g.uint(64), g.uint(64), g.uint(32)),
        flags=0)


def mk_desc_reply(g):
    return ofpp.OFPDescStatsReply(DP, body=ofpp.OFPDescStats(
        mfr_desc=g.pick(['Nicira, Inc.', 'tinflow', g.text(255)]),
        hw_desc=g.pick(['Open vSwitch', g.text(255)]),
        sw_desc=g.pick(['3.1.0', g.text(255)]),
        serial_num=g.pick(['None', '', g.text(31)]),
        dp_desc=g.pick(['s1', 'None', g.text(255)])), flags=0)


def mk_queue_stats_reply(g):
    body = []
    for _ in range(g.randint(0, 5)):
        body.append(ofpp.OFPQueueStats(g.port_no(reserved=0.0), g.uint(32),
                                       g.uint(64), g.uint(64), g.uint(64),
                                       g.uint(32), g.randint(0, 999999999)))
    return ofpp.OFPQueueStatsReply(DP, body=body, flags=reply_flags(g))


# (name, builder, weight)
KINDS = [
    ('flow_mod', mk_flow_mod, 20),
    ('group_mod', mk_group_mod, 6),
    ('meter_mod', mk_meter_mod, 5),
    ('packet_in', mk_packet_in, 12),
    ('packet_out', mk_packet_out, 6),
    ('flow_removed', mk_flow_removed, 5),
    ('port_status', mk_port_status, 4),
    ('error', mk_error, 4),
    ('flow_stats_request', mk_flow_stats_request, 4),
    ('flow_stats_reply', mk_flow_stats_reply, 8),
    ('port_stats_reply', mk_port_stats_reply, 4),
    ('group_stats_reply', mk_group_stats_reply, 4),
    ('meter_stats_reply', mk_meter_stats_reply, 4),
    ('table_stats_reply', mk_table_stats_reply, 3),
    ('port_desc_reply', mk_port_desc_reply, 4),
    ('group_desc_reply', mk_group_desc_reply, 4),
    ('meter_config_reply', mk_meter_config_reply, 4),
    ('aggregate_reply', mk_aggregate_reply, 3),
    ('desc_reply', mk_desc_reply, 2),
    ('queue_stats_reply', mk_queue_stats_reply, 3),
]


# ------------------------------------------------------------------ encoders
# Hand-written packers (OpenFlow 1.3.5 spec layouts) for the message kinds
# os-ken can only decode.  Nested match/instruction/action/bucket/band
# structures are serialized by os-ken itself.

def _ser(objs, lenattr='len'):
    buf = bytearray()
    off = 0
    for o in objs:
        o.serialize(buf, off)
        off += getattr(o, lenattr)
        if len(buf) < off:
            buf += bytes(off - len(buf))
    return bytes(buf[:off])


def _match(m):
    buf = bytearray()
    n = m.serialize(buf, 0)  # returns the padded length
    return bytes(buf[:n])


def _port(p):
    hw = bytes.fromhex(p.hw_addr.replace(':', ''))
    name = p.name if isinstance(p.name, bytes) else p.name.encode('utf-8')
    return struct.pack('!I4x6s2x16sIIIIIIII', p.port_no, hw, name, p.config,
                       p.state, p.curr, p.advertised, p.supported, p.peer,
                       p.curr_speed, p.max_speed)


def _ascii(s, n):
    b = s if isinstance(s, bytes) else s.encode('ascii')
    return struct.pack('%ds' % n, b)


def _b_flow_stats(s):
    tail = _match(s.match) + _ser(s.instructions)
    s.length = 48 + len(tail)
    return struct.pack('!HBxIIHHHH4xQQQ', s.length, s.table_id,
                       s.duration_sec, s.duration_nsec, s.priority,
                       s.idle_timeout, s.hard_timeout, s.flags, s.cookie,
                       s.packet_count, s.byte_count) + tail


def _b_port_stats(s):
    return struct.pack('!I4x12QII', s.port_no, s.rx_packets, s.tx_packets,
                       s.rx_bytes, s.tx_bytes, s.rx_dropped, s.tx_dropped,
                       s.rx_errors, s.tx_errors, s.rx_frame_err,
                       s.rx_over_err, s.rx_crc_err, s.collisions,
                       s.duration_sec, s.duration_nsec)


def _b_group_stats(s):
    tail = b''.join(struct.pack('!QQ', b.packet_count, b.byte_count)
                    for b in s.bucket_stats)
    s.length = 40 + len(tail)
    return struct.pack('!H2xII4xQQII', s.length, s.group_id, s.ref_count,
                       s.packet_count, s.byte_count, s.duration_sec,
                       s.duration_nsec) + tail


def _b_meter_stats(s):
    tail = b''.join(struct.pack('!QQ', b.packet_band_count, b.byte_band_count)
                    for b in s.band_stats)
    s.len = 40 + len(tail)
    return struct.pack('!IH6xIQQII', s.meter_id, s.len, s.flow_count,
                       s.packet_in_count, s.byte_in_count, s.duration_sec,
                       s.duration_nsec) + tail


def _b_table_stats(s):
    return struct.pack('!B3xIQQ', s.table_id, s.active_count, s.lookup_count,
                       s.matched_count)


def _b_group_desc(s):
    tail = _ser(s.buckets)
    s.length = 8 + len(tail)
    return struct.pack('!HBxI', s.length, s.type, s.group_id) + tail


def _b_meter_config(s):
    tail = _ser(s.bands)
    s.length = 8 + len(tail)
    return struct.pack('!HHI', s.length, s.flags, s.meter_id) + tail


def _b_aggregate(s):
    return struct.pack('!QQI4x', s.packet_count, s.byte_count, s.flow_count)


def _b_desc(s):
    return (_ascii(s.mfr_desc, 256) + _ascii(s.hw_desc, 256) +
            _ascii(s.sw_desc, 256) + _ascii(s.serial_num, 32) +
            _ascii(s.dp_desc, 256))


def _b_queue_stats(s):
    return struct.pack('!IIQQQII', s.port_no, s.queue_id, s.tx_bytes,
                       s.tx_packets, s.tx_errors, s.duration_sec,
                       s.duration_nsec)


REPLY_BODY = {
    ofpp.OFPFlowStatsReply: (ofp.OFPMP_FLOW, _b_flow_stats, False),
    ofpp.OFPPortStatsReply: (ofp.OFPMP_PORT_STATS, _b_port_stats, False),
    ofpp.OFPGroupStatsReply: (ofp.OFPMP_GROUP, _b_group_stats, False),
    ofpp.OFPMeterStatsReply: (ofp.OFPMP_METER, _b_meter_stats, False),
    ofpp.OFPTableStatsReply: (ofp.OFPMP_TABLE, _b_table_stats, False),
    ofpp.OFPPortDescStatsReply: (ofp.OFPMP_PORT_DESC, _port, False),
    ofpp.OFPGroupDescStatsReply: (ofp.OFPMP_GROUP_DESC, _b_group_desc, False),
    ofpp.OFPMeterConfigStatsReply: (ofp.OFPMP_METER_CONFIG, _b_meter_config, False),
    ofpp.OFPAggregateStatsReply: (ofp.OFPMP_AGGREGATE, _b_aggregate, True),
    ofpp.OFPDescStatsReply: (ofp.OFPMP_DESC, _b_desc, True),
    ofpp.OFPQueueStatsReply: (ofp.OFPMP_QUEUE, _b_queue_stats, False),
}


def _body_packet_in(m):
    return (struct.pack('!IHBBQ', m.buffer_id, m.total_len, m.reason,
                        m.table_id, m.cookie) +
            _match(m.match) + b'\0\0' + bytes(m.data))


def _body_flow_removed(m):
    return struct.pack('!QHBBIIHHQQ', m.cookie, m.priority, m.reason,
                       m.table_id, m.duration_sec, m.duration_nsec,
                       m.idle_timeout, m.hard_timeout, m.packet_count,
                       m.byte_count) + _match(m.match)


def _body_port_status(m):
    return struct.pack('!B7x', m.reason) + _port(m.desc)


def encode(msg):
    """Wire bytes of msg (xid 0): os-ken's serialize() where os-ken has an
    encoder, otherwise the hand-written packers above."""
    cls = type(msg)
    if cls in REPLY_BODY:
        mp_type, packer, single = REPLY_BODY[cls]
        msg.type = mp_type  # like os-ken's serializers, fill derived fields
        entries = [msg.body] if single else msg.body
        body = struct.pack('!HH4x', mp_type, msg.flags) + b''.join(packer(e) for e in entries)
    elif cls is ofpp.OFPPacketIn:
        body = _body_packet_in(msg)
    elif cls is ofpp.OFPFlowRemoved:
        body = _body_flow_removed(msg)
    elif cls is ofpp.OFPPortStatus:
        body = _body_port_status(msg)
    else:
        msg.xid = 0
        msg.serialize()
        return bytes(msg.buf)
    return struct.pack('!BBHI', ofp.OFP_VERSION, cls.cls_msg_type, 8 + len(body), 0) + body


# -------------------------------------------------------------- round trip

# Note: os-ken's from_jsondict() drops some derived fields (OFPMeterStats.len
# is reset to 0, OFPMeterConfigStats.length to None, OFPGroupDescStats.length
# and the multipart reply 'type' are never stored).  encode() recomputes and
# stores them again, as os-ken's own serializers do for 'len' fields, so the
# JSON comparisons below need no exceptions.


def _jdefault(o):
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(bytes(o)).decode('ascii')
    raise TypeError('not JSON serializable: %r' % (o,))


def canon(j):
    return json.dumps(j, sort_keys=True, default=_jdefault)


def parse(wire):
    version, msg_type, msg_len, xid = ofproto_parser.header(wire)
    return ofproto_parser.msg(DP, version, msg_type, msg_len, xid, wire)


class RoundTripError(Exception):
    pass


def check(msg):
    """Encode msg, decode it with os-ken and verify every round trip.
    Returns (wire_bytes, jsondict_to_print) or raises RoundTripError."""
    cls = type(msg)
    name = cls.__name__
    msg.xid = 0
    wire = encode(msg)
    if len(wire) > 0xffff:
        raise RoundTripError('message longer than 64 KiB')
    built_json = msg.to_jsondict()
    parseable = cls.cls_msg_type in ofpp._MSG_PARSERS
    if parseable:
        parsed = parse(wire)
        if parsed is None or type(parsed) is not cls:
            raise RoundTripError('os-ken could not parse its own %s' % name)
        if parsed.xid != 0 or parsed.msg_len != len(wire):
            raise RoundTripError('header mismatch')
        out = parsed.to_jsondict()
        # what os-ken decodes must be what we built (after os-ken's own
        # normalisation, e.g. masking of values)
        if canon(out) != canon(built_json):
            raise RoundTripError('%s: parsed JSON differs from built JSON' % name)
    else:
        out = built_json
    text = canon(out)
    j2 = json.loads(text)
    obj2 = cls.from_jsondict(j2[name], datapath=DP)
    obj2.xid = 0
    wire2 = encode(obj2)
    if wire2 != wire:
        raise RoundTripError('%s: from_jsondict -> encode gives other bytes' % name)
    if canon(obj2.to_jsondict()) != text:
        raise RoundTripError('%s: from_jsondict -> to_jsondict differs' % name)
    if parseable:
        again = parse(wire2)
        if again is None or canon(again.to_jsondict()) != text:
            raise RoundTripError('%s: second parse differs' % name)
    return wire, out


# ----------------------------------------------------------------------- cli

def generate(seed, count, out, stats=None):
    g = Gen(seed)
    names = [k[0] for k in KINDS]
    builders = dict((k[0], k[1]) for k in KINDS)
    weights = [k[2] for k in KINDS]
    skipped = {}
    for i in range(count):
        # cover every kind first, then weighted random choice
        kind = names[i] if i < len(names) else g.r.choices(names, weights)[0]
        for attempt in range(100):
            msg = builders[kind](g)
            try:
                wire, j = check(msg)
                break
            except (RoundTripError, AssertionError, struct.error,
                    KeyError, TypeError, ValueError) as e:
                key = '%s: %s' % (kind, e.__class__.__name__ if not isinstance(e, RoundTripError) else e)
                skipped[key] = skipped.get(key, 0) + 1
        else:
            raise SystemExit('osken_gen: could not build a round-trippable %s' % kind)
        if stats is not None:
            stats[kind] = stats.get(kind, 0) + 1
        out.write(json.dumps({'hex': wire.hex(), 'json': j},
                             separators=(',', ':'), default=_jdefault))
        out.write('\n')
    return skipped


def main():
    ap = argparse.ArgumentParser(description="random OpenFlow 1.3 vectors built and checked by os-ken")
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=100)
    ap.add_argument('--stats', action='store_true',
                    help='print per-kind counts to stderr')
    a = ap.parse_args()
    stats = {} if a.stats else None
    skipped = generate(a.seed, a.count, sys.stdout, stats)
    total = sum(skipped.values())
    sys.stderr.write('osken_gen: seed=%d count=%d skipped=%d\n' % (a.seed, a.count, total))
    for k in sorted(skipped):
        sys.stderr.write('osken_gen:   skipped %s x%d\n' % (k, skipped[k]))
    if stats is not None:
        for k in sorted(stats):
            sys.stderr.write('osken_gen:   %s %d\n' % (k, stats[k]))


if __name__ == '__main__':
    main()
