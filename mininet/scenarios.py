"""The Mininet scenarios: each a class whose run(ctx) asserts what it is about and returns a one-line
summary of what it measured. run.py runs them; lab.py builds and tears down the networks.

  0. mn --custom loading of tinflow.py (as the mn CLI does it, without running the CLI), listenPort + ovs-ofctl
  1. tinflow switches + tinflow controller (learning): single,3 / linear,4 / tree,2
  2. tinflow switches + os-ken (test/switch/osken/learning_switch.py): the same topologies
  3. OVS userspace switches + tinflow controller: the same topologies
  4. tinflow and OVS switches in one network (linear: tinflow, ovs, tinflow, ovs)
  5. link down/up on a triangle driven by fast-failover groups (mininet/apps/failover.mjs)
  6. the controller killed and restarted, fail-mode secure and standalone

In 1-4: pingAll() loses nothing, and iperf3 TCP between the two farthest hosts (2 s) stays above a floor
(a tenth of what a working switch carries: floors catch broken forwarding, not a busy machine). With --gro
the first switch must also merge, on average, at least two segments into each frame it sends on.
"""

import json
import os
import re
import time

from mininet.node import OVSSwitch
from mininet.topo import LinearTopo, SingleSwitchTopo
from mininet.topolib import TreeTopo
from mininet.util import customClass

from lab import (TINFLOW_DEFAULTS, KindLinearTopo, LabError, NetLab, TriangleTopo, farthestHosts, iperf3TcpMbps,
                 ovsSwitchClass, ping, tinflowSwitchClass, waitFor)
from tinflow import TinflowSwitch

HERE = os.path.dirname(os.path.abspath(__file__))
FAILOVER_APP = os.path.join(HERE, 'apps', 'failover.mjs')

TOPOLOGIES = {
    'single,3': lambda: SingleSwitchTopo(3),
    'linear,4': lambda: LinearTopo(4),
    'tree,2': lambda: TreeTopo(depth=2, fanout=2),
}

# iperf3 TCP floors in Mbit/s, by (switches, controller), per topology. A floor catches a switch that
# carries TCP badly (partial checksums stall it, every frame through the controller), not a slow run: CI
# machines are shared and busy, and a fresh run once measured --gro at 2078 against a floor of 1800. So
# each floor is about a tenth of the lowest figure seen on this 2-core machine (run.py prints every figure),
# idle and with two busy loops competing for the CPUs:
#   tinflow (+ --offload; tinflow or os-ken controller): single,3 4336, linear,4 2869, tree,2 2907
#   OVS userspace (hosts with tx off):                   single,3  578, linear,4  337, tree,2  350
#   mixed tinflow/OVS linear,4 (hosts with tx off):      230
# For scale, everything through the controller (the hub app, hosts with tx off): tinflow 246 on single,3
# and 63 on linear,4; OVS 167 and 33. tinflow without --offload, hosts with tx off: 1807 and 574, idle.
# The comparison with OVS is npm run bench:mininet's.
FLOORS = {
    ('tinflow', 'tinflow'): {'single,3': 400, 'linear,4': 250, 'tree,2': 250},
    ('tinflow', 'osken'): {'single,3': 400, 'linear,4': 250, 'tree,2': 250},
    ('ovs', 'tinflow'): {'single,3': 50, 'linear,4': 30, 'tree,2': 30},
    ('mixed', 'tinflow'): {'linear,4': 20},
}

# Scenario 1 with --gro and hosts with tx off on linear,4: lowest 3255 Mbit/s idle (3489-3920 earlier), 1549 with
# other tests running beside it, 2078 in a fresh CI run. The floor is a tenth, like the others; that merging
# works is checked on the first switch's counters instead (GroScenario): 28 segments a frame measured with
# --gro, 1.00 without.
GRO_FLOOR = 300
GRO_MIN_MERGED = 2.0

OFPPS_LINK_DOWN = 1


def checkReachability(lab, floor, ctx):
    "pingAll loses nothing; iperf3 TCP between the farthest hosts beats floor. Returns the summary."
    loss = lab.net.pingAll()
    if loss != 0:
        raise LabError('pingAll lost %.0f %%' % loss)
    src, dst = farthestHosts(lab.net)
    mbps = iperf3TcpMbps(src, dst, ctx.iperfSeconds)
    if mbps < floor:
        raise LabError('iperf3 %s->%s %.0f Mbit/s, below the floor of %d' % (src.name, dst.name, mbps, floor))
    return 'pingAll 0%% loss; iperf3 %s->%s %.0f Mbit/s (floor %d)' % (src.name, dst.name, mbps, floor)


class Scenario(object):
    name = ''
    needsOvs = False  # fails at once, without building a network, when Open vSwitch is not running

    def run(self, ctx):
        raise NotImplementedError


class TopologyScenario(Scenario):
    "Scenarios 1-3: one topology, one kind of switch, one kind of controller."

    def __init__(self, number, topo, switch, controller):
        self.name = '%d %s switches + %s controller, %s' % (number, switch, controller, topo)
        self.topo, self.switch, self.controller = topo, switch, controller
        self.needsOvs = switch == 'ovs'

    def run(self, ctx):
        with NetLab(ctx, TOPOLOGIES[self.topo](), switch=self.switch, controller=self.controller) as lab:
            return checkReachability(lab, FLOORS[(self.switch, self.controller)][self.topo], ctx)


class MixedScenario(Scenario):
    "Scenario 4: tinflow and OVS switches alternate on a line, one tinflow controller for all."

    name = '4 mixed tinflow/ovs switches + tinflow controller, linear,4'
    kinds = ('tinflow', 'ovs', 'tinflow', 'ovs')
    needsOvs = True

    def run(self, ctx):
        classes = {'tinflow': tinflowSwitchClass(ctx.logDir), 'ovs': ovsSwitchClass()}
        with NetLab(ctx, KindLinearTopo(kinds=self.kinds, classes=classes), switch=None) as lab:
            if len(lab.switches(TinflowSwitch)) != 2 or len(lab.switches(OVSSwitch)) != 2:
                kinds = [type(s).__mro__[1].__name__ for s in lab.net.switches]
                raise LabError('expected 2 tinflow and 2 OVS switches: %s' % kinds)
            return checkReachability(lab, FLOORS[('mixed', 'tinflow')]['linear,4'], ctx)


def portCounters(switch):
    "Frames a tinflow switch received and sent, by port (switchctl dump-ports): {'1': (rx, tx), ...}."
    out = {}
    for line in switch.ctl('dump-ports'):
        rx = int(line.split(' rx ', 1)[1].split(' pkts', 1)[0])
        tx = int(line.split(' tx ', 1)[1].split(' pkts', 1)[0])
        out[line.split(' ', 2)[1]] = (rx, tx)
    return out


def edgePort(host):
    "The switch a host hangs from and that switch's port number for it (as switchctl prints it)."
    intf = host.defaultIntf()
    peer = intf.link.intf2 if intf.link.intf1 is intf else intf.link.intf1
    return peer.node, str(peer.node.ports[peer])


class GroScenario(Scenario):
    """Receive coalescing end to end: tinflow switches with --gro, hosts with their checksum offload off
       (segments arrive one by one and leave merged). Whether merging works is read from the first switch's
       port counters, not from the throughput (which a busy machine lowers as much as no merging does):
       during the run, the frames it sends on towards the receiver must be fewer than half the segments it
       took in from the sender."""

    name = '1 tinflow switches --gro + tinflow controller, linear,4, hosts tx off'
    floor = GRO_FLOOR
    MIN_MERGED = GRO_MIN_MERGED

    def run(self, ctx):
        with NetLab(ctx, LinearTopo(4), switch='tinflow', controller='tinflow', switchParams={'gro': True}, txOff=True) as lab:
            src, _dst = farthestHosts(lab.net)  # the one checkReachability's iperf3 sends from
            first, inPort = edgePort(src)
            before = portCounters(first)
            summary = checkReachability(lab, self.floor, ctx)
            after = portCounters(first)
            segmentsIn = after[inPort][0] - before[inPort][0]
            framesOut = sum(after[p][1] - before[p][1] for p in after if p != inPort)
            merged = segmentsIn / max(framesOut, 1)
            if merged < self.MIN_MERGED:
                raise LabError('%s took in %d frames from %s and sent %d on: %.2f segments a frame, merging expected %.1f or more'
                               % (first.name, segmentsIn, src.name, framesOut, merged, self.MIN_MERGED))
            return '%s; %s merged %.1f segments a frame (%d in, %d out)' % (summary, first.name, merged, segmentsIn, framesOut)


class CustomFileScenario(Scenario):
    """What `mn --custom mininet/tinflow.py --switch tinflow,... --controller tinflow,...` does, without
       the mn CLI (whose error path runs Mininet's global cleanup): the file exec()ed as mn does it, its
       `switches` and `controllers` dicts, classes customised from strings by mininet.util.customClass;
       and the switches' listenPort answering ovs-ofctl (dpctl)."""

    name = '0 mn --custom mininet/tinflow.py --switch tinflow --controller tinflow, single,3'

    def run(self, ctx):
        customs = {}
        path = os.path.join(HERE, 'tinflow.py')
        with open(path) as f:
            exec(compile(f.read(), path, 'exec'), customs, customs)  # pylint: disable=exec-used
        if '__file__' in customs:
            raise LabError('mn --custom defines no __file__; this check would not see a dependency on it')
        port, listen = ctx.ports.take(), ctx.ports.take()
        try:
            shared = ',shared=True' if TINFLOW_DEFAULTS.get('shared') else ''
            switch = customClass(customs['switches'], 'tinflow,failMode=secure,logDir=%s%s' % (ctx.logDir, shared))
            controller = customClass(customs['controllers'], 'tinflow,port=%d,logDir=%s' % (port, ctx.logDir))
            with NetLab(ctx, SingleSwitchTopo(3), switch=switch, controller=controller, listenPort=listen) as lab:
                loss = lab.net.pingAll()
                if loss != 0:
                    raise LabError('pingAll lost %.0f %%' % loss)
                flows = lab.net.get('s1').dpctl('dump-flows')
                if 'priority=0 actions=CONTROLLER:65535' not in flows:
                    raise LabError('ovs-ofctl dump-flows on the listenPort shows no table-miss flow: %s' % flows.strip())
                return 'pingAll 0%% loss; ovs-ofctl dump-flows on tcp:127.0.0.1:%d shows %d flows' % (
                    listen, len([line for line in flows.splitlines() if 'priority=' in line]))
        finally:
            ctx.ports.give(port)
            ctx.ports.give(listen)


def rxPackets(switch):
    "Frames a tinflow switch received on all its ports (switchctl dump-ports)."
    total = 0
    for line in switch.ctl('dump-ports'):
        total += int(line.split(' rx ', 1)[1].split(' pkts', 1)[0])
    return total


class Events(object):
    "The failover app's event log (JSON lines)."

    def __init__(self, path):
        self.path = path

    def all(self):
        try:
            with open(self.path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def find(self, event, dpid, **fields):
        return [e for e in self.all() if e['event'] == event and e['dpid'] == str(dpid)
                and all(e.get(k) == v for k, v in fields.items())]

    def linkState(self, dpid, port, down):
        "A portModify for that port with LINK_DOWN set (down) or clear, after the last opposite one."
        mods = self.find('portModify', dpid, port_no=port)
        return bool(mods) and bool(mods[-1]['state'] & OFPPS_LINK_DOWN) == down


class FailoverScenario(Scenario):
    """Scenario 5: h1 - s1 = s2 - h2 with a detour through s3. s1 and s2 send host traffic to a
       fast-failover group (direct link first, detour second); s3 just relays. Taking the s1-s2 link down
       must move traffic to the detour at once, bringing it back up must move it back, and the controller
       must hear of both as port-status messages."""

    name = '5 fast-failover: link s1-s2 down/up on a triangle (tinflow switches, static flows)'
    BURST = 400  # pings at 10 ms across the switch-over
    MAX_LOST = 100  # pings lost across the switch-over (1 s): the group reacts to the kernel's link event

    def config(self, ctx):
        edge = {'groups': [{'id': 1, 'buckets': [2, 3]}],
                'flows': [{'in_port': 1, 'group': 1}, {'in_port': 2, 'output': 1}, {'in_port': 3, 'output': 1}]}
        relay = {'flows': [{'in_port': 1, 'output': 2}, {'in_port': 2, 'output': 1}]}
        events = os.path.join(ctx.logDir, 'failover-events.jsonl')
        if os.path.exists(events):
            os.unlink(events)
        path = os.path.join(ctx.logDir, 'failover.json')
        with open(path, 'w') as f:
            json.dump({'events': events, 'switches': {'1': edge, '2': edge, '3': relay}}, f)
        return path, Events(events)

    def run(self, ctx):
        cfgPath, events = self.config(ctx)
        with NetLab(ctx, TriangleTopo(), controller='tinflow', apps=[FAILOVER_APP],
                    controllerEnv={'TINFLOW_FAILOVER_CONFIG': cfgPath}) as lab:
            net = lab.net
            h1, h2, s3 = net.get('h1'), net.get('h2'), net.get('s3')
            waitFor(lambda: all(events.find('configured', d) for d in (1, 2, 3)), 15, 'flows and groups installed')
            errors = [e for e in events.all() if e['event'] == 'error']
            if errors:
                raise LabError('the failover app failed: %s' % errors)

            def pings(phase, viaDetour):
                before = rxPackets(s3)
                sent, received, _ = ping(h1, h2, count=10, interval=0.1)
                relayed = rxPackets(s3) - before
                if received != sent:
                    raise LabError('%s: %d of %d pings answered' % (phase, received, sent))
                if viaDetour and relayed < 2 * received:
                    raise LabError('%s: s3 relayed %d frames for %d pings: not on the detour' % (phase, relayed, received))
                if not viaDetour and relayed >= received:
                    raise LabError('%s: s3 relayed %d frames for %d pings: still on the detour' % (phase, relayed, received))
                return relayed

            pings('link up', viaDetour=False)

            # A burst of pings across the switch-over: what the failover costs.
            burst = h1.popen(['ping', '-n', '-q', '-c', str(self.BURST), '-i', '0.01', '-W', '1', h2.IP()])
            time.sleep(1.0)
            net.configLinkStatus('s1', 's2', 'down')
            waitFor(lambda: events.linkState(1, 2, True) and events.linkState(2, 2, True), 10,
                    'port-status LINK_DOWN for s1 port 2 and s2 port 2 at the controller')
            out = burst.communicate(timeout=30)[0].decode()
            m = re.search(r'(\d+) packets transmitted, (\d+) received', out)
            if not m:
                raise LabError('the ping burst printed no summary: %s' % out.strip()[-200:])
            sent, received = int(m.group(1)), int(m.group(2))
            lost = sent - received
            if lost > self.MAX_LOST:
                raise LabError('%d of %d pings (10 ms apart) lost across the failover' % (lost, sent))
            detour = pings('link down', viaDetour=True)

            net.configLinkStatus('s1', 's2', 'up')
            waitFor(lambda: events.linkState(1, 2, False) and events.linkState(2, 2, False), 10,
                    'port-status link up for s1 port 2 and s2 port 2 at the controller')
            back = pings('link up again', viaDetour=False)
            return ('failover lost %d of %d pings at 10 ms; s3 relayed %d frames for 10 pings when down, %d when up; '
                    'port-status down/up seen' % (lost, sent, detour, back))


class ControllerLossScenario(Scenario):
    """Scenario 6: the controller is killed (SIGKILL) while h1 and h2 talk, then started again.
       secure: flows already installed keep forwarding (h1-h2), new pairs (h1-h3) get nowhere;
       standalone: new pairs reach each other (the switches learn MACs on their own);
       both: the switches reconnect to the restarted controller and every pair works again."""

    def __init__(self, failMode):
        self.failMode = failMode
        self.name = '6 controller killed and restarted, fail-mode %s (tinflow switches, linear,3)' % failMode

    def run(self, ctx):
        # idle timeout 0: flows stay for as long as the scenario needs them (timeouts are not its subject)
        with NetLab(ctx, LinearTopo(3), controller='tinflow', failMode=self.failMode, idleTimeout=0) as lab:
            net, ctl = lab.net, lab.controller
            h1, h2, h3 = net.get('h1', 'h2', 'h3')
            sent, received, _ = ping(h1, h2, count=3)
            if received != sent:
                raise LabError('before the kill: h1->h2 %d of %d' % (received, sent))
            ctl.kill()
            waitFor(lambda: not any(s.connected() for s in net.switches), 10, 'switches notice the controller is gone')
            sent, received, _ = ping(h1, h2, count=5)
            if received != sent:
                raise LabError('controller gone, %s: h1->h2 (flows installed) %d of %d' % (self.failMode, received, sent))
            sent, received, _ = ping(h1, h3, count=3)
            if self.failMode == 'secure' and received != 0:
                raise LabError('controller gone, secure: h1->h3 (no flows) got %d of %d answers' % (received, sent))
            if self.failMode == 'standalone' and received != sent:
                raise LabError('controller gone, standalone: h1->h3 %d of %d' % (received, sent))
            newPair = '%d/%d' % (received, sent)
            # h1's ARP request for h3 went nowhere (secure): forget the half-resolved entry, or h1's next
            # ping fails locally (Destination Host Unreachable) when that resolution gives up.
            h1.cmd('ip neigh flush dev %s to %s' % (h1.defaultIntf(), h3.IP()))
            t0 = time.monotonic()
            ctl.start()
            ctx.janitor.proc(ctl.proc)
            waitFor(lambda: all(s.connected() for s in net.switches), 30, 'switches reconnect to the restarted controller')
            reconnect = time.monotonic() - t0
            loss = net.pingAll()
            if loss != 0:
                raise LabError('after reconnecting: pingAll lost %.0f %%' % loss)
            return ('controller gone: h1->h2 5/5, new pair h1->h3 %s; all reconnected %.1f s after the restart; pingAll 0%% loss'
                    % (newPair, reconnect))


def allScenarios():
    out = [CustomFileScenario()]
    for number, switch, controller in ((1, 'tinflow', 'tinflow'), (2, 'tinflow', 'osken'), (3, 'ovs', 'tinflow')):
        for topo in TOPOLOGIES:
            out.append(TopologyScenario(number, topo, switch, controller))
    out += [GroScenario(), MixedScenario(), FailoverScenario(), ControllerLossScenario('secure'), ControllerLossScenario('standalone')]
    return out
