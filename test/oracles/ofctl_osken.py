#!/usr/bin/python3
"""os-ken's ofctl_v1_3, driven by test/controller/ofctl.test.ts (run with Debian's /usr/bin/python3).

Reads one JSON object on stdin: {"dpid": N, "cases": [{"fn": NAME, "args": [...], "replies": [HEX...]}]}.
For a command (mod_flow_entry, mod_group_entry, ...) it calls ofctl_v1_3.NAME(dp, *args); for a query
(get_flow_stats, ...) ofctl_v1_3.NAME(dp, waiters, *args), with the replies (hex bytes made by tinflow's
codec) parsed by os-ken and handed over the way ofctl_rest's reply handler does: appended to the waiter's
list, the lock set once a part without OFPMPF_REPLY_MORE arrives. Writes one JSON object: per case the
hex of every message os-ken sent, ofctl's output for a query, or the Python error.
"""
import json
import struct
import sys

from os_ken.lib import ofctl_v1_3
from os_ken.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser


class FakeDatapath(object):
    """What ofctl_v1_3 uses of a Datapath: ids, xids, send_msg."""

    ofproto = ofproto_v1_3
    ofproto_parser = ofproto_v1_3_parser

    def __init__(self, dpid):
        self.id = dpid
        self.xid = 0
        self.sent = []
        self.replies = []
        self.waiters = {}

    def set_xid(self, msg):
        self.xid += 1
        msg.set_xid(self.xid)
        return self.xid

    def send_msg(self, msg):
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()
        self.sent.append(bytes(msg.buf).hex())
        waiting = self.waiters.get(self.id, {})
        if msg.xid not in waiting:
            return
        lock, msgs = waiting[msg.xid]
        for hexed in self.replies:
            buf = bytearray.fromhex(hexed)
            version, msg_type, msg_len, _ = struct.unpack_from('!BBHI', buf)
            reply = ofproto_parser.msg(self, version, msg_type, msg_len, msg.xid, buf)
            msgs.append(reply)
            if getattr(reply, 'flags', 0) & ofproto_v1_3.OFPMPF_REPLY_MORE:
                continue
            del waiting[msg.xid]
            lock.set()
            break


def run(dpid, case):
    dp = FakeDatapath(dpid)
    dp.replies = case.get('replies', [])
    fn = getattr(ofctl_v1_3, case['fn'])
    try:
        if case['fn'].startswith('get_'):
            out = fn(dp, dp.waiters, *case['args'])
            return {'sent': dp.sent, 'out': out}
        fn(dp, *case['args'])
        return {'sent': dp.sent}
    except Exception as e:  # reported to the test, which decides
        return {'sent': dp.sent, 'error': '%s: %s' % (type(e).__name__, e)}


def main():
    req = json.load(sys.stdin)
    results = [run(req['dpid'], c) for c in req['cases']]
    json.dump({'results': results}, sys.stdout)


if __name__ == '__main__':
    main()
