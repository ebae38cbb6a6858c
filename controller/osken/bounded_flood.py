"""BoundedFlood as an os-ken app: the in-tree app (controller/apps/bounded-flood.ts, FRB codec and
bounds in controller/apps/frb.ts) for a tinflow overlay node whose config names an external
controller ("Controller": {"Target": "tcp:127.0.0.1:6653"}). Same flows (priorities, matches,
cookies, timeouts), same FRB frames, same packet-outs, byte for byte apart from the xids
(test/overlay/node-osken.test.ts replays one event stream through both apps and compares), so a
node driven by this app and nodes running the in-tree one make one overlay.

Where a port leads. The in-tree app asks the node (peerOf) on switch enter, port add and port up;
EdgeVPN's Ryu app asked its BridgeController (GetTunnelData). Here the node's HTTP status says it:
GET /status -> {"nodeId": ..., "ports": [{"no", "name", "peer"?}]} (overlay/status-http.ts). It is
fetched at once on switch enter and port add (the node lists a link's port with its peer before it
adds the port, so one fetch settles a new link), and polled every --bf-poll-interval seconds on
os-ken's hub. A port the status does not list yet (the node's HTTP server starts after its switch)
is not used until it does, as the in-tree app leaves a port unused when peerOf fails; when a poll
changes what a port leads to, the port is taken up again, as on a port add. A status that names
another node id is refused (logged): it is some other node's.

Settings: os-ken flags when this file is also given as --user-flags (os-ken parses flags before it
loads apps), else the environment, else a [DEFAULT] entry of an --config-file:
  --bf-node-id ID         TINFLOW_NODE_ID     this node's id, 32 hex digits (required)
  --bf-status-url URL     TINFLOW_STATUS_URL  the node's status, http://127.0.0.1:9410/status (a URL
                                              without a path gets /status) (required)
  --bf-idle-timeout S     60                  learnt flows (the node's BoundedFlood.FlowIdleTimeout)
  --bf-hard-timeout S     0                   learnt flows (BoundedFlood.FlowHardTimeout)
  --bf-priority N         1                   learnt flows
  --bf-max-macs N         65536               MACs remembered per switch
  --bf-poll-interval S    0.5                 seconds between status polls

Bad input never stops the app: a bad FRB frame from a peer is dropped and counted ('bad-header',
logged at debug with what was wrong), as is every other frame the in-tree app drops (same reasons);
a status that cannot be fetched or read is logged when its error changes and the last good one kept.
The counters are logged (info) when they changed, every 30 s.

Run with Debian's python (python3-os-ken; /usr/bin/python3, which osken-manager uses):
  osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port 6653 \\
      --user-flags controller/osken/bounded_flood.py --bf-node-id ID \\
      --bf-status-url http://127.0.0.1:9410/status controller/osken/bounded_flood.py
`/usr/bin/python3 bounded_flood.py --replay` reads events as JSON lines and prints the messages the
app sends for each (the differential test's side of it); see replay().

Imports: the standard library and os_ken only (it is not part of the TypeScript build).
"""

import http.client
import json
import os
import sys
import time
import urllib.parse
import urllib.request
from collections import namedtuple

from oslo_config.cfg import ArgsAlreadyParsedError

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import event, ofp_event
from os_ken.controller.handler import (DEAD_DISPATCHER, MAIN_DISPATCHER,
                                       set_ev_cls)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser

OFP = ofproto_v1_3
PARSER = ofproto_v1_3_parser

# ---- settings ------------------------------------------------------------------------------------

_OPTS = [
    cfg.StrOpt('bf-node-id', default=None, help='this node id, 32 lowercase hex (env TINFLOW_NODE_ID)'),
    cfg.StrOpt('bf-status-url', default=None,
               help="the node's GET /status URL (env TINFLOW_STATUS_URL)"),
    cfg.IntOpt('bf-idle-timeout', default=60, help='idle timeout of learnt flows, s'),
    cfg.IntOpt('bf-hard-timeout', default=0, help='hard timeout of learnt flows, s'),
    cfg.IntOpt('bf-priority', default=1, help='priority of learnt flows'),
    cfg.IntOpt('bf-max-macs', default=65536, help='MACs remembered per switch'),
    cfg.FloatOpt('bf-poll-interval', default=0.5, help='seconds between status polls'),
]
try:
    # Imported through --user-flags: before os-ken parses its command line, so these are flags.
    cfg.CONF.register_cli_opts(_OPTS)
except ArgsAlreadyParsedError:
    # Imported as the app (after the parse): already flags if --user-flags named this file (the same
    # options register again without complaint), else config-file settings.
    cfg.CONF.register_opts(_OPTS)

# ---- FRB (controller/apps/frb.ts) ----------------------------------------------------------------

FRB_ETHERTYPE = 0xC0C0
FRB_HEADER_LEN = 35
ETH_HLEN = 14
FRB_OVERHEAD = ETH_HLEN + FRB_HEADER_LEN
FRB_BRDCST, FRB_LEAF_TX, FRB_FWD, FRB_LNK_CHK, FRB_LNK_ACK = 0, 1, 2, 3, 4
_TYPE_NAMES = 'BRDCST(0), LEAF_TX(1), FWD(2), LNK_CHK(3), LNK_ACK(4)'
_CARRIES_FRAME = (FRB_BRDCST, FRB_LEAF_TX, FRB_FWD)
MAX_HOP_COUNT = 255
_OFF_ROOT = ETH_HLEN
_OFF_BOUND = _OFF_ROOT + 16
_OFF_HOP = _OFF_BOUND + 16
_OFF_TYPE = _OFF_HOP + 1
_OFF_PL = _OFF_TYPE + 1
_BROADCAST = b'\xff' * 6
_HEX = frozenset('0123456789abcdef')


class FrbError(Exception):
    """A frame or value FRB refuses; code is frb.ts's FrbErrorCode."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def is_node_id(s):
    return isinstance(s, str) and len(s) == 32 and set(s) <= _HEX


def check_node_id(s, what):
    if is_node_id(s):
        return s
    raise FrbError('node-id', '%s %s is not a node id (32 lowercase hex digits)' % (what, json.dumps(s)))


def mac_text(b):
    return ':'.join('%02x' % x for x in b)


FrbFrame = namedtuple('FrbFrame', 'root bound hop_count type pl_count outer_dst outer_src inner')


def encode_frb_header(root, bound, hop_count, frb_type, pl_count=0):
    """The 35 header bytes (frb.ts encodeFrbHeader)."""
    if frb_type not in (FRB_BRDCST, FRB_LEAF_TX, FRB_FWD, FRB_LNK_CHK, FRB_LNK_ACK):
        raise FrbError('type', 'frb_type %s is not one of %s' % (frb_type, _TYPE_NAMES))
    for v, what in ((hop_count, 'hop_count'), (pl_count, 'pl_count')):
        if not isinstance(v, int) or not 0 <= v <= 255:
            raise FrbError('field', '%s %s does not fit in one byte' % (what, v))
    return (bytes.fromhex(check_node_id(root, 'root_nid')) + bytes.fromhex(check_node_id(bound, 'bound_nid'))
            + bytes((hop_count, frb_type, pl_count)))


def wrap_frb(header, inner):
    """The broadcast FRB frame carrying inner: outer dst broadcast, src the inner source (frb.ts wrapFrb)."""
    if len(header) != FRB_HEADER_LEN:
        raise FrbError('field', 'an FRB header is %d bytes, not %d' % (FRB_HEADER_LEN, len(header)))
    if len(inner) < ETH_HLEN:
        raise FrbError('inner', 'the carried frame is %d bytes: shorter than an Ethernet header (14)' % len(inner))
    return b''.join((_BROADCAST, inner[6:12], b'\xc0\xc0', header, inner))


def rebound_frb(frame, bound, hop_count):
    """A copy of an accepted FRB frame with another bound (16 bytes) and hop_count (frb.ts reboundFrb)."""
    if len(frame) < FRB_OVERHEAD:
        raise FrbError('truncated', 'FRB frame of %d bytes: shorter than the FRB headers (%d)' % (len(frame), FRB_OVERHEAD))
    if len(bound) != 16:
        raise FrbError('node-id', 'a bound is 16 bytes, not %d' % len(bound))
    if not 0 <= hop_count <= 255:
        raise FrbError('field', 'hop_count %s does not fit in one byte' % hop_count)
    return b''.join((frame[:_OFF_BOUND], bound, bytes((hop_count,)), frame[_OFF_TYPE:]))


def decode_frb(frame):
    """Decodes an FRB frame, or raises FrbError naming what is wrong and where (frb.ts decodeFrb)."""
    if len(frame) < ETH_HLEN:
        raise FrbError('truncated', 'FRB frame of %d bytes: shorter than an Ethernet header (14)' % len(frame))
    et = int.from_bytes(frame[12:14], 'big')
    if et != FRB_ETHERTYPE:
        raise FrbError('ethertype', "ethertype 0x%04x at byte 12 is not FRB's 0xc0c0" % et)
    if len(frame) < FRB_OVERHEAD:
        raise FrbError('truncated', 'FRB header truncated: %d bytes after the Ethernet header, %d needed'
                       % (len(frame) - ETH_HLEN, FRB_HEADER_LEN))
    frb_type = frame[_OFF_TYPE]
    if frb_type > FRB_LNK_ACK:
        raise FrbError('type', 'frb_type %d at byte %d is not one of %s' % (frb_type, _OFF_TYPE, _TYPE_NAMES))
    inner = frame[FRB_OVERHEAD:]
    if frb_type in _CARRIES_FRAME and len(inner) < ETH_HLEN:
        raise FrbError('inner', 'the carried frame at byte %d is %d bytes: shorter than an Ethernet header (14)'
                       % (FRB_OVERHEAD, len(inner)))
    if frb_type == FRB_BRDCST:
        if frame[0:6] != _BROADCAST:
            raise FrbError('outer', "a BRDCST's outer destination %s is not broadcast" % mac_text(frame[0:6]))
        if frame[6:12] != inner[6:12]:
            raise FrbError('outer', "a BRDCST's outer source %s is not the carried frame's source %s"
                           % (mac_text(frame[6:12]), mac_text(inner[6:12])))
    return FrbFrame(frame[_OFF_ROOT:_OFF_BOUND].hex(), frame[_OFF_BOUND:_OFF_HOP].hex(), frame[_OFF_HOP],
                    frb_type, frame[_OFF_PL], mac_text(frame[0:6]), mac_text(frame[6:12]), inner)


def in_arc(frm, x, to):
    """Whether x is strictly inside the clockwise arc frm -> to of the ring of node ids."""
    if frm < to:
        return frm < x < to
    if frm > to:
        return x > frm or x < to
    return x != frm


def _ring(self_id, neighbours):
    check_node_id(self_id, 'self')
    for i, n in enumerate(neighbours):
        check_node_id(n, 'neighbour %d' % i)
    return sorted(set([self_id, *neighbours]))


def origin_bounds(self_id, neighbours):
    """[(peer, bound)] for a frame this node floods: each neighbour's successor in L (frb.ts originBounds)."""
    ring = _ring(self_id, neighbours)
    return [(p, ring[(i + 1) % len(ring)]) for i, p in enumerate(ring) if p != self_id]


def relay_bounds(self_id, neighbours, bound, ingress):
    """[(peer, bound)] for a frame got with bound from ingress (frb.ts relayBounds)."""
    ring = _ring(self_id, neighbours)
    check_node_id(bound, 'bound')
    if bound == self_id:
        return []
    out = []
    for i, p in enumerate(ring):
        if p == self_id or p == ingress or not in_arc(self_id, p, bound):
            continue
        succ = ring[(i + 1) % len(ring)]
        out.append((p, succ if in_arc(p, succ, bound) else bound))
    return out


# ---- OpenFlow 1.3 messages, with the in-tree builders' defaults (openflow/builders.ts) --------------

LEARNT_COOKIE = 0x42464C4541524E54  # "BFLEARNT"
BASE_COOKIE = 0x4246000000000000
ALL_BITS = 0xFFFFFFFFFFFFFFFF
FRB_PRIORITY = 100
RELAY_CACHE = 1024
RESERVED = ('01:80:c2:00:00:00', 'ff:ff:ff:ff:ff:f0')


def output(port):
    # The whole frame to the controller (OFPCML_NO_BUFFER); elsewhere max_len means nothing: 0.
    return PARSER.OFPActionOutput(port, OFP.OFPCML_NO_BUFFER if port == OFP.OFPP_CONTROLLER else 0)


def match(*fields):
    """Fields in the order given, as the in-tree app writes them (os-ken would sort them by OXM type)."""
    return PARSER.OFPMatch(_ordered_fields=list(fields))


def flow_mod(dp, match_=None, actions=None, instructions=None, command=OFP.OFPFC_ADD, table_id=0,
             priority=OFP.OFP_DEFAULT_PRIORITY, idle=0, hard=0, cookie=0, cookie_mask=0,
             buffer_id=OFP.OFP_NO_BUFFER, out_port=OFP.OFPP_ANY):
    if actions is not None:
        instructions = [PARSER.OFPInstructionActions(OFP.OFPIT_APPLY_ACTIONS, actions)]
    return PARSER.OFPFlowMod(dp, cookie=cookie, cookie_mask=cookie_mask, table_id=table_id, command=command,
                             idle_timeout=idle, hard_timeout=hard, priority=priority, buffer_id=buffer_id,
                             out_port=out_port, out_group=OFP.OFPG_ANY, flags=0,
                             match=match_ if match_ is not None else match(),
                             instructions=instructions or [])


def delete_flows(dp, match_=None, table_id=OFP.OFPTT_ALL, out_port=OFP.OFPP_ANY):
    """A non-strict delete of this app's learnt flows."""
    return flow_mod(dp, match_, command=OFP.OFPFC_DELETE, table_id=table_id, out_port=out_port,
                    cookie=LEARNT_COOKIE, cookie_mask=ALL_BITS)


def packet_out(dp, actions, packet_in=None, data=b''):
    """Answering a packet-in: its buffer, or its frame when unbuffered; else data from CONTROLLER."""
    if packet_in is not None:
        buffered = packet_in.buffer_id != OFP.OFP_NO_BUFFER
        return PARSER.OFPPacketOut(dp, buffer_id=packet_in.buffer_id, in_port=packet_in.in_port,
                                   actions=actions, data=None if buffered else packet_in.data)
    return PARSER.OFPPacketOut(dp, buffer_id=OFP.OFP_NO_BUFFER, in_port=OFP.OFPP_CONTROLLER,
                               actions=actions, data=data)


# ---- the app's logic, without os-ken's event machinery ---------------------------------------------

DROP_REASONS = ('own-root', 'bad-header', 'unsupported-type', 'frb-from-leaf', 'peer-plain-multicast',
                'reserved-multicast', 'runt', 'truncated', 'group-source', 'hairpin', 'unknown-port')

PortDesc = namedtuple('PortDesc', 'no name live')
PacketIn = namedtuple('PacketIn', 'in_port buffer_id total_len data')

# What the status says a port leads to: a leaf, a peer, or nothing yet (not listed, or another name).
LEAF = ('leaf',)
PENDING = ('pending',)


def port_desc(p):
    """An os-ken OFPPort as a PortDesc."""
    name = p.name.decode('utf-8', 'replace') if isinstance(p.name, bytes) else str(p.name)
    live = (p.config & OFP.OFPPC_PORT_DOWN) == 0 and (p.state & OFP.OFPPS_LINK_DOWN) == 0
    return PortDesc(p.port_no, name, live)


class StatusError(Exception):
    pass


def parse_status(body, self_id):
    """{port_no: (name, peer or None)} from a GET /status body, or StatusError saying what is wrong."""
    try:
        s = json.loads(body)
    except ValueError as e:
        raise StatusError('not JSON: %s' % e) from None
    if not isinstance(s, dict):
        raise StatusError('not a JSON object')
    if s.get('nodeId') != self_id:
        raise StatusError('it is node %s\'s status, not this node\'s (%s)' % (json.dumps(s.get('nodeId')), self_id))
    ports = s.get('ports')
    if not isinstance(ports, list):
        raise StatusError('$.ports is not a list')
    out = {}
    for i, p in enumerate(ports):
        if not isinstance(p, dict) or not isinstance(p.get('no'), int) or isinstance(p.get('no'), bool) \
                or not isinstance(p.get('name'), str):
            raise StatusError('$.ports[%d] is not {"no": integer, "name": string, "peer"?}' % i)
        peer = p.get('peer')
        if peer is not None and not isinstance(peer, str):
            raise StatusError('$.ports[%d].peer is not a string' % i)
        out[p['no']] = (p['name'], peer)
    return out


class _Port:
    __slots__ = ('no', 'name', 'peer', 'unusable', 'kind', 'live')

    def __init__(self, no, name, peer, unusable, kind, live):
        self.no, self.name, self.peer, self.unusable, self.kind, self.live = no, name, peer, unusable, kind, live


class _Mac:
    __slots__ = ('port', 'root')

    def __init__(self, port, root):
        self.port, self.root = port, root


def _mac_of(b):
    return int.from_bytes(b, 'big')


def _mac_str(m):
    return mac_text(m.to_bytes(6, 'big'))


class FloodSwitch:
    """One switch: its ports by kind, its MAC table, and what its packet-ins and port changes call for
    (bounded-flood.ts's FloodSwitch, method for method)."""

    def __init__(self, core, dp, ports):
        self.core = core
        self.dp = dp
        self.ports = {}
        self.macs = {}  # 48-bit MAC -> _Mac, in learn order (the eviction order)
        self.peer_ports = {}
        self.leaves = []
        self.neighbours = []
        self.origin_targets = []
        self.relay_targets = {}
        for p in ports:
            self.ports[p.no] = self.categorize(p)
        self.refresh()

    # ---- ports ----

    def categorize(self, p):
        self_id = self.core.self_id
        kind = self.core.kind_of(p.no, p.name)
        peer, unusable = None, False
        if kind == PENDING:
            self.core.log.info('bounded_flood: port %d (%s) is not in the node\'s status yet: not used until it is',
                               p.no, p.name)
            unusable = True
        elif kind != LEAF:
            got = kind[1]
            if not is_node_id(got) or got == self_id:
                self.core.log.error('bounded_flood: port %d (%s): the status names %s, %s; the port is not used',
                                    p.no, p.name,
                                    json.dumps(got), 'this node itself' if is_node_id(got)
                                    else 'no valid node id (32 lowercase hex digits)')
                unusable = True
            else:
                peer = got
        return _Port(p.no, p.name, peer, unusable, kind, p.live)

    def refresh(self):
        peers, leaves = {}, []
        for r in sorted(self.ports.values(), key=lambda r: r.no):
            if not r.live or r.unusable:
                continue
            if r.peer is None:
                leaves.append(r.no)
            elif r.peer not in peers:
                peers[r.peer] = r.no
        self.peer_ports = peers
        self.leaves = leaves
        self.neighbours = list(peers)
        self_id = self.core.self_id
        self.origin_targets = [(peers[p], encode_frb_header(self_id, b, 1, FRB_BRDCST, 0))
                               for p, b in origin_bounds(self_id, self.neighbours)]
        self.relay_targets = {}

    def relays_for(self, bound, ingress):
        key = (bound, ingress)
        t = self.relay_targets.get(key)
        if t is None:
            t = [(self.peer_ports[p], bytes.fromhex(b))
                 for p, b in relay_bounds(self.core.self_id, self.neighbours, bound, ingress)]
            # Correct senders use a handful of bounds; a peer sending random ones only refills it.
            if len(self.relay_targets) >= RELAY_CACHE:
                self.relay_targets = {}
            self.relay_targets[key] = t
        return t

    def out_of(self, m):
        if m.root is not None and m.root != self.core.self_id:
            direct = self.peer_ports.get(m.root)
            if direct is not None:
                return direct
        return m.port

    def port_up(self, p):
        """A port appeared, came up, or now leads elsewhere: new outputs for the MACs it changes."""
        before = {mac: self.out_of(m) for mac, m in self.macs.items()}
        self.ports[p.no] = self.categorize(p)
        self.refresh()
        out = []
        for mac, m in self.macs.items():
            now = self.out_of(m)
            if before.get(mac) != now:
                out += self.repoint(mac, now)
        return out

    def port_gone(self, no, keep):
        """A port was deleted (keep None) or went down (keep: its PortDesc): its flows and MACs go."""
        rec = self.ports.get(no)
        if keep is not None:
            if rec is None:
                rec = self.categorize(keep)
            rec.live = False
            self.ports[no] = rec
        else:
            self.ports.pop(no, None)
        self.refresh()
        self_id = self.core.self_id
        for mac, m in list(self.macs.items()):
            if m.port != no:
                continue
            direct = self.peer_ports.get(m.root) if m.root is not None and m.root != self_id else None
            if direct is not None:
                m.port = direct
            else:
                del self.macs[mac]
        dp = self.dp
        return [delete_flows(dp, table_id=0, out_port=no),
                delete_flows(dp, match(('in_port', no)), table_id=0)]

    def port_modify(self, p):
        rec = self.ports.get(p.no)
        if rec is not None and rec.live == p.live:
            return []
        return self.port_up(p) if p.live else self.port_gone(p.no, p)

    def status_changed(self):
        """The status now says something else of some known ports: each is taken up again."""
        out = []
        for rec in sorted(self.ports.values(), key=lambda r: r.no):
            kind = self.core.kind_of(rec.no, rec.name)
            if kind != rec.kind:
                self.core.log.info('bounded_flood: port %d (%s) now leads to %s', rec.no, rec.name,
                                   'a peer, ' + kind[1] if len(kind) > 1 else 'a leaf' if kind == LEAF else 'nothing known')
                out += self.port_up(PortDesc(rec.no, rec.name, rec.live))
        return out

    # ---- learning ----

    def learn(self, mac, port, root):
        old = self.macs.get(mac)
        if old is not None and old.port == port and old.root == root:
            return []
        before = self.out_of(old) if old is not None else None
        if old is not None:
            del self.macs[mac]
        elif len(self.macs) >= self.core.max_macs:
            del self.macs[next(iter(self.macs))]
            self.core.counters['evicted'] += 1
        m = _Mac(port, root)
        self.macs[mac] = m
        self.core.counters['learnt'] += 1
        now = self.out_of(m)
        return self.repoint(mac, now) if before is not None and before != now else []

    def repoint(self, mac, port):
        """Flows towards mac now output to port: those that came in on port go, the rest are modified."""
        eth_dst = _mac_str(mac)
        self.core.counters['flowsRepointed'] += 1
        dp = self.dp
        return [delete_flows(dp, match(('in_port', port), ('eth_dst', eth_dst)), table_id=0),
                flow_mod(dp, match(('eth_dst', eth_dst)), [output(port)], command=OFP.OFPFC_MODIFY,
                         cookie=LEARNT_COOKIE, cookie_mask=ALL_BITS)]

    # ---- packet-ins ----

    def drop(self, reason):
        self.core.counters['dropped'][reason] += 1
        return []

    def packet_in(self, msg, port_now):
        """msg: a PacketIn; port_now(no): the switch's port `no` now (a PortDesc), or None."""
        c = self.core.counters
        frame = msg.data
        in_port = msg.in_port
        if len(frame) < 14:
            return self.drop('runt')
        if len(frame) < msg.total_len:
            return self.drop('truncated')
        port = self.ports.get(in_port)
        if port is None:
            desc = port_now(in_port)
            if desc is not None:
                port = self.ports[in_port] = self.categorize(desc)
            self.refresh()
        if port is None or port.unusable:
            return self.drop('unknown-port')
        if frame[12:14] == b'\xc0\xc0':
            return self.drop('frb-from-leaf') if port.peer is None else self.frb(frame, in_port, port.peer)
        if frame[6] & 1:
            return self.drop('group-source')
        self_id = self.core.self_id
        from_leaf = port.peer is None
        src = _mac_of(frame[6:12])
        if frame[0] & 1:
            if frame[0:5] == b'\x01\x80\xc2\x00\x00' and frame[5] & 0xF0 == 0:
                return self.drop('reserved-multicast')
            if not from_leaf:
                return self.drop('peer-plain-multicast')
            return self.learn(src, in_port, self_id) + self.flood(msg, frame, in_port)
        old = self.macs.get(src)
        if from_leaf:
            root = self_id
        else:
            root = old.root if old is not None and old.root != self_id else None
        learnt = self.learn(src, in_port, root)
        dst = self.macs.get(_mac_of(frame[0:6]))
        dp = self.dp
        if dst is not None:
            out = self.out_of(dst)
            if out == in_port:
                c['dropped']['hairpin'] += 1
                return learnt
            c['flowsInstalled'] += 1
            core = self.core
            flow = flow_mod(dp, match(('in_port', in_port), ('eth_src', mac_text(frame[6:12])),
                                      ('eth_dst', mac_text(frame[0:6]))), [output(out)],
                            priority=core.priority, idle=core.idle, hard=core.hard, cookie=LEARNT_COOKIE,
                            buffer_id=msg.buffer_id)
            # A buffered packet goes out with the flow-mod; only an unbuffered one needs a packet-out.
            tail = [packet_out(dp, [output(out)], packet_in=msg)] if msg.buffer_id == OFP.OFP_NO_BUFFER else []
            return learnt + [flow] + tail
        if from_leaf:
            c['unknownUnicast'] += 1
            return learnt + self.flood(msg, frame, in_port)
        # Plain unicast from a peer for a MAC we do not know: our leaf ports get it, other peers never.
        return learnt + self.to_leaves(frame, self.leaves)

    def flood(self, msg, frame, in_port):
        """A frame from a leaf: plain to the other leaves, FRB to every neighbour with its bound."""
        c = self.core.counters
        dp = self.dp
        out = []
        leaves = [p for p in self.leaves if p != in_port]
        if leaves:
            out.append(packet_out(dp, [output(p) for p in leaves], packet_in=msg))
            c['delivered'] += len(leaves)
        for port, header in self.origin_targets:
            out.append(packet_out(dp, [output(port)], data=wrap_frb(header, frame)))
        c['originated'] += 1
        c['frbSent'] += len(self.origin_targets)
        return out

    def to_leaves(self, frame, leaves):
        if not leaves:
            return []
        self.core.counters['delivered'] += len(leaves)
        return [packet_out(self.dp, [output(p) for p in leaves], data=frame)]

    def frb(self, frame, in_port, peer):
        """An FRB frame from the peer `peer`."""
        c = self.core.counters
        try:
            f = decode_frb(frame)
        except FrbError as e:
            self.core.log.debug('bounded_flood: bad FRB frame dropped: port %d, peer %s, %s: %s', in_port, peer, e.code, e)
            return self.drop('bad-header')
        if f.type != FRB_BRDCST:
            return self.drop('unsupported-type')
        if f.root == self.core.self_id:
            return self.drop('own-root')
        c['received'] += 1
        inner = f.inner
        out = []
        if inner[6] & 1 == 0:
            out += self.learn(_mac_of(inner[6:12]), in_port, f.root)
        # Known unicast (a flood of a MAC the origin did not know): only the leaf that holds it, or none.
        leaves = self.leaves
        if inner[0] & 1 == 0:
            dst = self.macs.get(_mac_of(inner[0:6]))
            if dst is not None:
                leaves = [self.out_of(dst)] if self.out_of(dst) in leaves else []
        out += self.to_leaves(inner, leaves)
        hop_count = min(MAX_HOP_COUNT, f.hop_count + 1)
        targets = self.relays_for(f.bound, peer)
        for port, bound in targets:
            out.append(packet_out(self.dp, [output(port)], data=rebound_frb(frame, bound, hop_count)))
        c['relayed'] += len(targets)
        c['frbSent'] += len(targets)
        return out


def zero_counters():
    c = {k: 0 for k in ('packetIns', 'originated', 'unknownUnicast', 'received', 'relayed', 'frbSent',
                        'delivered', 'learnt', 'evicted', 'flowsInstalled', 'flowsRepointed')}
    c['dropped'] = {r: 0 for r in DROP_REASONS}
    return c


def _int_setting(v, lo, hi, key):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError('%s %r is not an integer from %d to %d' % (key, v, lo, hi))
    return v


class FloodCore:
    """BoundedFlood for one node: its settings, the node's ports as its status lists them, a
    FloodSwitch per datapath and the counters (summed over switches, as the in-tree app's)."""

    def __init__(self, self_id, log, idle=60, hard=0, priority=1, max_macs=65536):
        if not is_node_id(self_id):
            raise ValueError('node id %s is not 32 lowercase hex digits' % json.dumps(self_id))
        self.self_id = self_id
        self.log = log
        self.idle = _int_setting(idle, 0, 0xFFFF, 'idle timeout')
        self.hard = _int_setting(hard, 0, 0xFFFF, 'hard timeout')
        self.priority = _int_setting(priority, 1, 0xFFFF, 'priority')
        self.max_macs = _int_setting(max_macs, 1, 2 ** 31, 'max MACs')
        self.status = None  # {port_no: (name, peer or None)} once a status was read
        self.switches = {}
        self.counters = zero_counters()

    def kind_of(self, no, name):
        e = self.status.get(no) if self.status is not None else None
        if e is None or e[0] != name:
            return PENDING
        return LEAF if e[1] is None else ('peer', e[1])

    def set_status(self, ports):
        """A new status: [(dp, messages)] for the switches whose ports now lead elsewhere."""
        if ports == self.status:
            return []
        self.status = ports
        return [(sw.dp, msgs) for sw in list(self.switches.values()) for msgs in (sw.status_changed(),) if msgs]

    def switch_enter(self, dp, ports):
        self.switches[dp.id] = FloodSwitch(self, dp, ports)
        return [
            delete_flows(dp),
            flow_mod(dp, actions=[output(OFP.OFPP_CONTROLLER)], priority=0, cookie=BASE_COOKIE),
            flow_mod(dp, match(('eth_type', FRB_ETHERTYPE)), [output(OFP.OFPP_CONTROLLER)], priority=FRB_PRIORITY,
                     cookie=BASE_COOKIE),
            flow_mod(dp, match(('eth_dst', RESERVED)), instructions=[], priority=FRB_PRIORITY, cookie=BASE_COOKIE),
        ]

    def switch_leave(self, dpid):
        self.switches.pop(dpid, None)

    def port_add(self, dpid, p):
        sw = self.switches.get(dpid)
        return sw.port_up(p) if sw else []

    def port_delete(self, dpid, no):
        sw = self.switches.get(dpid)
        return sw.port_gone(no, None) if sw else []

    def port_modify(self, dpid, p):
        sw = self.switches.get(dpid)
        return sw.port_modify(p) if sw else []

    def packet_in(self, dpid, msg, port_now):
        self.counters['packetIns'] += 1
        sw = self.switches.get(dpid)
        return sw.packet_in(msg, port_now) if sw else []


# ---- the os-ken app ------------------------------------------------------------------------------

def _setting(name, env):
    v = getattr(cfg.CONF, name.replace('-', '_'), None)
    return v if v not in (None, '') else os.environ.get(env) or None


def status_url(url):
    if url is None:
        raise ValueError('no status URL: give --bf-status-url (with --user-flags naming this file) or TINFLOW_STATUS_URL')
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ('http', 'https') or not u.netloc:
        raise ValueError('status URL %s is not http://HOST:PORT/status' % json.dumps(url))
    return url if u.path not in ('', '/') else urllib.parse.urlunsplit((u.scheme, u.netloc, '/status', u.query, ''))


class EventNodePorts(event.EventBase):
    """A status poll found other ports: handled in the app's own event loop, in order with OpenFlow's."""

    def __init__(self, ports):
        super().__init__()
        self.ports = ports


class BoundedFlood(app_manager.OSKenApp):
    OFP_VERSIONS = [OFP.OFP_VERSION]
    _EVENTS = [EventNodePorts]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        node_id = _setting('bf-node-id', 'TINFLOW_NODE_ID')
        try:
            if node_id is None:
                raise ValueError('no node id: give --bf-node-id (with --user-flags naming this file) or TINFLOW_NODE_ID')
            self.url = status_url(_setting('bf-status-url', 'TINFLOW_STATUS_URL'))
            self.interval = float(cfg.CONF.bf_poll_interval)
            if not 0.05 <= self.interval <= 60:
                raise ValueError('poll interval %s is not 0.05..60 s' % self.interval)
            self.core = FloodCore(node_id.lower(), self.logger, idle=cfg.CONF.bf_idle_timeout, hard=cfg.CONF.bf_hard_timeout,
                                  priority=cfg.CONF.bf_priority, max_macs=cfg.CONF.bf_max_macs)
        except ValueError as e:
            raise SystemExit('bounded_flood: %s' % e) from None
        self.status_error = None
        self.logger.info('bounded_flood: node %s, status %s', node_id, self.url)

    def start(self):
        t = super().start()
        self.threads.append(hub.spawn(self._poll))
        return t

    # ---- the node's status ----

    def _fetch(self, timeout):
        """The status's ports, or None (the error logged once, until it changes)."""
        try:
            with urllib.request.urlopen(self.url, timeout=timeout) as r:
                ports = parse_status(r.read(), self.core.self_id)
        except (OSError, StatusError, ValueError, http.client.HTTPException) as e:
            err = str(e)
            if err != self.status_error:
                self.logger.warning('bounded_flood: status %s: %s (%s)', self.url, err,
                                    'retrying' if self.core.status is None else 'retrying; the last one read stays in use')
                self.status_error = err
            return None
        if self.status_error is not None:
            self.logger.info('bounded_flood: status %s answers', self.url)
            self.status_error = None
        return ports

    def _poll(self):
        last_counters, last_log = None, time.monotonic()
        while self.is_active:
            try:
                ports = self._fetch(timeout=max(self.interval, 1.0))
                if ports is not None and ports != self.core.status:
                    self.send_event(self.name, EventNodePorts(ports))
                if time.monotonic() - last_log >= 30:
                    last_log = time.monotonic()
                    snap = json.dumps(self.core.counters, sort_keys=True)
                    if snap != last_counters:
                        last_counters = snap
                        self.logger.info('bounded_flood counters: %s', snap)
            except Exception:  # noqa: BLE001 - the poller must outlive a bug, or ports stop being learnt
                self.logger.exception('bounded_flood: status poll failed')
            hub.sleep(self.interval)

    def _apply_status(self, ports):
        for dp, msgs in self.core.set_status(ports):
            self._send(dp, msgs)

    def _refetch(self):
        ports = self._fetch(timeout=1.0)
        if ports is not None:
            self._apply_status(ports)

    @set_ev_cls(EventNodePorts)
    def _node_ports(self, ev):
        self._guard('status', lambda: self._apply_status(ev.ports))

    # ---- OpenFlow ----

    @staticmethod
    def _send(dp, msgs):
        for m in msgs:
            dp.send_msg(m)

    def _guard(self, what, fn):
        # os-ken logs a handler's exception and carries on; this also says which event and counts it.
        try:
            fn()
        except Exception:  # noqa: BLE001 - a bug here must not stop the switch's other events
            self.core.counters.setdefault('internalErrors', 0)
            self.core.counters['internalErrors'] += 1
            self.logger.exception('bounded_flood: %s handler failed', what)

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev):
        dp = ev.datapath
        if dp.id is None:
            return
        if ev.state == MAIN_DISPATCHER:
            def enter():
                self._refetch()
                expect = int(self.core.self_id[:16], 16)
                if dp.id != expect:
                    self.logger.warning('bounded_flood: datapath %016x is not node %s\'s (%016x): is the status URL this switch\'s node?',
                                        dp.id, self.core.self_id, expect)
                self.logger.info('bounded_flood: switch %016x entered with %d ports', dp.id, len(dp.ports))
                self._send(dp, self.core.switch_enter(dp, [port_desc(p) for p in dp.ports.values()]))
            self._guard('switch enter', enter)
        elif ev.state == DEAD_DISPATCHER:
            self.logger.info('bounded_flood: switch %016x left', dp.id)
            self.core.switch_leave(dp.id)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        msg = ev.msg
        dp = msg.datapath
        p = port_desc(msg.desc)

        def handle():
            if msg.reason == OFP.OFPPR_ADD:
                # The node lists a link's port with its peer before adding it: ask now, not at the next poll.
                self._refetch()
                self._send(dp, self.core.port_add(dp.id, p))
            elif msg.reason == OFP.OFPPR_DELETE:
                self._send(dp, self.core.port_delete(dp.id, p.no))
            else:
                self._send(dp, self.core.port_modify(dp.id, p))
        self._guard('port status', handle)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath

        def handle():
            pin = PacketIn(msg.match['in_port'], msg.buffer_id, msg.total_len, bytes(msg.data or b''))
            self._send(dp, self.core.packet_in(dp.id, pin, lambda no: port_desc(dp.ports[no]) if no in dp.ports else None))
        self._guard('packet-in', handle)


# ---- replay: the differential test's side ------------------------------------------------------

class _ReplayDatapath:
    ofproto = OFP
    ofproto_parser = PARSER

    def __init__(self, dpid):
        self.id = dpid


class _ReplayLog:
    def _quiet(self, *args, **kwargs):
        pass
    debug = info = warning = error = exception = _quiet


def _replay_port(p):
    return PortDesc(p['no'], p['name'], (p.get('config', 0) & OFP.OFPPC_PORT_DOWN) == 0
                    and (p.get('state', 0) & OFP.OFPPS_LINK_DOWN) == 0)


def _wire(msg):
    msg.xid = 0
    msg.serialize()
    return bytes(msg.buf).hex()


def replay(inp, out):
    """One JSON event a line in, one JSON line out per event: {"msgs": [hex, ...]} (xid 0), {"counters":
    {...}}, or {"error": "..."}. The first line is {"ev": "config", "nodeId", "idleTimeout"?, ...}.
    Events: status {ports: [{no, name, peer?}]}; enter {dpid, ports: [{no, name, config, state}]}; leave,
    portAdd / portModify {dpid, port}, portDelete {dpid, port}, packetIn {dpid, inPort, bufferId,
    totalLen, data (hex)}, counters. dpid is a hex string."""
    core = None
    dps = {}
    ports = {}  # the switch's ports as its datapath handle would list them
    for line in inp:
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
            kind = ev['ev']
            res = []
            if kind == 'config':
                core = FloodCore(ev['nodeId'], _ReplayLog(), idle=ev.get('idleTimeout', 60), hard=ev.get('hardTimeout', 0),
                                 priority=ev.get('priority', 1), max_macs=ev.get('maxMacs', 65536))
            elif kind == 'counters':
                out.write(json.dumps({'counters': core.counters}) + '\n')
                continue
            elif kind == 'status':
                ports_now = {p['no']: (p['name'], p.get('peer')) for p in ev['ports']}
                res = [m for _dp, msgs in core.set_status(ports_now) for m in msgs]
            else:
                dpid = int(ev['dpid'], 16)
                dp = dps.setdefault(dpid, _ReplayDatapath(dpid))
                table = ports.setdefault(dpid, {})
                if kind == 'enter':
                    table.clear()
                    table.update({p['no']: _replay_port(p) for p in ev['ports']})
                    res = core.switch_enter(dp, list(table.values()))
                elif kind == 'leave':
                    core.switch_leave(dpid)
                elif kind in ('portAdd', 'portModify'):
                    p = _replay_port(ev['port'])
                    table[p.no] = p
                    res = core.port_add(dpid, p) if kind == 'portAdd' else core.port_modify(dpid, p)
                elif kind == 'portDelete':
                    table.pop(ev['port']['no'], None)
                    res = core.port_delete(dpid, ev['port']['no'])
                elif kind == 'packetIn':
                    pin = PacketIn(ev['inPort'], ev['bufferId'], ev['totalLen'], bytes.fromhex(ev['data']))
                    res = core.packet_in(dpid, pin, table.get)
                else:
                    raise ValueError('unknown event %s' % json.dumps(kind))
            out.write(json.dumps({'msgs': [_wire(m) for m in res]}) + '\n')
        except Exception as e:  # noqa: BLE001 - reported to the test, which names the line
            out.write(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}) + '\n')
        out.flush()


if __name__ == '__main__':
    if sys.argv[1:] == ['--replay']:
        replay(sys.stdin, sys.stdout)
    else:
        sys.stderr.write('usage: %s --replay  (as an app: osken-manager ... %s; see the top of this file)\n'
                         % (sys.argv[0], sys.argv[0]))
        sys.exit(2)
