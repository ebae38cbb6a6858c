"""The Mininet lab shared by the scenarios (scenarios.py) and benchmarks: networks of tinflow and/or OVS
(userspace) switches (or, the benchmark's in-kernel reference, Linux bridges) driven by the tinflow
controller, os-ken or nothing, built and torn down in one
`with NetLab(...)` block; measurements (ping, iperf3) run inside the hosts; and a janitor that removes
what a crashed run of ours left behind, by PID and by name.

Rules it keeps (../shared/RECIPES.md): never Mininet's cleanup (`mn -c`) or `net.iperf()` (both killall);
OVS only with the userspace datapath; controller ports from CONTROLLER_PORTS only; processes stopped
by PID; interfaces and bridges deleted only by the names this run created.
"""

import fcntl
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections import deque

from mininet.log import error
from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController, Switch
from mininet.topo import Topo
from mininet.util import specialClass

from tinflow import Proc, TinflowController, TinflowSwitch, procStartTime, waitListening

# The TCP ports this project's Mininet runs may use for controllers and switch listeners.
CONTROLLER_PORTS = range(6851, 6870)

OSKEN_MANAGER = '/usr/bin/osken-manager'
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
OSKEN_LEARNING_APP = os.path.join(REPO, 'test', 'switch', 'osken', 'learning_switch.py')


class LabError(AssertionError):
    "A check of the lab failed (the network did not come up, a switch crashed, ...)."


def waitFor(pred, timeout, what, interval=0.2):
    "Polls pred() until it returns something truthy (returned) or timeout seconds pass (LabError)."
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError('%s: not within %.0f s' % (what, timeout))
        time.sleep(interval)


class Terminated(BaseException):
    "SIGTERM, turned into an exception so that `with NetLab` blocks tear their network down."


def raiseOnSigterm():
    "From now on SIGTERM raises Terminated in the main thread."
    def onTerm(signum, _frame):
        raise Terminated('signal %d' % signum)
    signal.signal(signal.SIGTERM, onTerm)


class Context(object):
    """What NetLab and the scenarios get: a log folder of their own (created here), controller ports,
       the janitor, and the iperf3 duration."""

    def __init__(self, logDir, ports, janitor, iperfSeconds=None):
        self.logDir = logDir
        self.ports = ports
        self.janitor = janitor
        self.iperfSeconds = iperfSeconds
        os.makedirs(logDir, exist_ok=True)

    def sub(self, name):
        "The same, with the log folder logDir/name (short: control sockets live there too)."
        return Context(os.path.join(self.logDir, name), self.ports, self.janitor, self.iperfSeconds)


class PortPool(object):
    "Hands out free TCP ports on 127.0.0.1 from CONTROLLER_PORTS."

    def __init__(self, ports=CONTROLLER_PORTS):
        self.ports = list(ports)
        self.taken = set()

    @staticmethod
    def isFree(port):
        import socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the controllers bind: TIME_WAIT is fine
        try:
            s.bind(('127.0.0.1', port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def take(self):
        for p in self.ports:
            if p not in self.taken and self.isFree(p):
                self.taken.add(p)
                return p
        raise LabError('no free port in %d-%d' % (self.ports[0], self.ports[-1]))

    def give(self, port):
        self.taken.discard(port)


class Janitor(object):
    """Remembers, in a state file, what the current run created (processes by PID and start time, veths,
       OVS bridges), so that after a crash (SIGKILL, power loss of the Python process) the next run removes
       exactly that. A lock file keeps two runs from sharing Mininet's names (s1, s1-eth1, ...)."""

    def __init__(self, path=None):
        base = path or os.path.join(tempfile.gettempdir(), 'tinflow-mininet')
        self.statePath = base + '.state.json'
        self.lockPath = base + '.lock'
        self.lockFile = None
        self.state = {'procs': [], 'links': [], 'bridges': []}

    def __enter__(self):
        self.lockFile = open(self.lockPath, 'w')
        try:
            fcntl.flock(self.lockFile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LabError('another tinflow Mininet run holds %s' % self.lockPath)
        self.sweep()
        return self

    def __exit__(self, *exc):
        self.sweep()
        fcntl.flock(self.lockFile, fcntl.LOCK_UN)
        self.lockFile.close()

    def save(self):
        tmp = self.statePath + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.state, f)
        os.replace(tmp, self.statePath)

    def proc(self, proc):
        "Tracks a tinflow.Proc."
        self.state['procs'].append([proc.pid, proc.startTime, proc.argv[:3]])
        self.save()

    def net(self, net):
        "Tracks a built network's node shells, root-namespace interfaces, OVS bridges and processes."
        for node in net.hosts + net.switches + net.controllers:
            if node.shell and node.pid not in [p[0] for p in self.state['procs']]:
                self.state['procs'].append([node.pid, procStartTime(node.pid), ['mininet', 'shell', node.name]])
        for sw in net.switches:
            self.state['links'] += [i.name for i in sw.intfList() if sw.ports.get(i) and i.name not in self.state['links']]
            if isinstance(sw, OVSSwitch) and sw.name not in self.state['bridges']:
                self.state['bridges'].append(sw.name)
            if isinstance(sw, KernelBridge) and sw.name not in self.state['links']:
                self.state['links'].append(sw.name)  # its bridge device: `ip link del` removes it
            if getattr(sw, 'proc', None):
                self.proc(sw.proc)
        for c in net.controllers:
            if getattr(c, 'proc', None):
                self.proc(c.proc)
        self.save()

    def leftovers(self):
        "What this run tracked and still exists (after a network was stopped, this should be nothing)."
        left = ['pid %d (%s)' % (pid, ' '.join(argv[1:])) for pid, start, argv in self.state['procs']
                if start is not None and procStartTime(pid) == start]
        left += ['interface %s' % n for n in self.state['links'] + self.state['bridges']
                 if os.path.exists('/sys/class/net/' + n)]
        if self.state['bridges']:
            out = subprocess.run(['ovs-vsctl', '-t', '5', 'list-br'], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, universal_newlines=True).stdout.split()
            left += ['OVS bridge %s' % b for b in self.state['bridges'] if b in out]
        return sorted(set(left))

    def sweep(self):
        "Removes what the state file lists and still exists (processes only if PID and start time match)."
        try:
            with open(self.statePath) as f:
                state = json.load(f)
        except (OSError, ValueError):
            state = None
        if state:
            for pid, start, _argv in state.get('procs', []):
                if start is not None and procStartTime(pid) == start:
                    os.kill(pid, signal.SIGKILL)
            for br in state.get('bridges', []):
                subprocess.call(['ovs-vsctl', '-t', '5', '--if-exists', 'del-br', br],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name in state.get('links', []) + state.get('bridges', []):
                if os.path.exists('/sys/class/net/' + name):
                    subprocess.call(['ip', 'link', 'del', name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.state = {'procs': [], 'links': [], 'bridges': []}
        if os.path.exists(self.statePath):
            os.unlink(self.statePath)


class OsKen(object):
    "osken-manager running one app on 127.0.0.1:port, stopped by PID."

    def __init__(self, port, app=OSKEN_LEARNING_APP, logDir=None):
        self.port = port
        self.proc = Proc([OSKEN_MANAGER, '--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', str(port), app],
                         os.path.join(logDir or tempfile.gettempdir(), 'osken-%d.log' % port))
        try:
            waitListening('127.0.0.1', port, 20.0, self.proc)
        except Exception:
            self.proc.stop()
            raise

    def stop(self):
        return self.proc.stop()


class ListeningRemoteController(RemoteController):
    """A RemoteController for a controller already known to listen (OsKen waited for it). Mininet's own
       check pipes `telnet` to the port and decodes what comes back as UTF-8: os-ken answers with an
       OpenFlow hello whose xid is random, and an xid byte that is not valid UTF-8 (say 0xfc) made the whole
       scenario fail with UnicodeDecodeError, now and then."""

    def checkListening(self):
        "Nothing to check: the caller made sure the controller listens."
        return


# TinflowSwitch parameters every network of this run gets unless a scenario says otherwise: run.py --shared
# sets {'shared': True}, so that all tinflow switches of a network are bridges of one process.
TINFLOW_DEFAULTS = {}


def tinflowSwitchClass(logDir, **params):
    "TinflowSwitch with these defaults (failMode, offload, ...; TINFLOW_DEFAULTS first) and logs in logDir."
    defaults = dict(TINFLOW_DEFAULTS)
    defaults.update(params)
    return specialClass(TinflowSwitch, defaults=dict(logDir=logDir, **defaults))


class KernelBridge(Switch):
    """The Linux kernel's bridge as a standalone learning switch: no controller, STP off, a device named as
       the switch (bs1) in the root namespace with the switch's ports as its ports. The in-kernel reference
       the benchmark holds the userspace switches against. Mininet's LinuxBridge (mininet.nodelib) does the
       same through brctl and ifconfig, and its class setup exits Mininet when bridge-utils is not installed;
       this one needs only iproute2. connected() is Switch's: always (nothing to connect to)."""

    def start(self, _controllers):
        "Creates the bridge, enslaves the ports, brings it up (LabError when the kernel refuses)."
        bridgeLink('add', 'name', self.name, 'type', 'bridge', 'stp_state', '0')
        # no IPv6 on the bridge's own device, or it sends MLD reports and router solicitations into the
        # network (quietIpv6 ran before the device existed)
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % self.name, 'w') as f:
            f.write('1')
        for intf in self.intfList():
            if self.ports.get(intf):  # not lo, Mininet's control interface of a root-namespace switch (port 0)
                bridgeLink('set', 'dev', intf.name, 'master', self.name)
        bridgeLink('set', 'dev', self.name, 'up')

    def stop(self, deleteIntfs=True):
        """Deletes the bridge device (its ports are released), then the ports as any switch does. A failure
           is reported, not raised, so that net.stop() goes on; the janitor removes what remains."""
        if os.path.exists('/sys/class/net/' + self.name):
            out = subprocess.run(['ip', 'link', 'del', 'dev', self.name], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, universal_newlines=True, check=False)
            if out.returncode != 0:
                error('*** %s: ip link del: %s\n' % (self.name, out.stdout.strip()))
        super(KernelBridge, self).stop(deleteIntfs)


def bridgeLink(*args):
    "`ip link ARGS` in the root namespace; LabError with ip's message when it fails."
    out = subprocess.run(['ip', 'link'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, check=False)
    if out.returncode != 0:
        raise LabError('ip link %s: %s' % (' '.join(args), out.stdout.strip()))


def ovsSwitchClass(**params):
    "OVSSwitch on the userspace datapath, OpenFlow 1.3, with these defaults."
    defaults = dict(datapath='user', protocols='OpenFlow13')
    defaults.update(params)
    return specialClass(OVSSwitch, defaults=defaults)


class KindLinearTopo(Topo):
    "A line of switches s1..sN, one host each (h1..hN), switch i of kind kinds[i-1] ('tinflow' or 'ovs')."

    def build(self, kinds=('tinflow', 'ovs'), classes=None):  # pylint: disable=arguments-differ
        prev = None
        for i, kind in enumerate(kinds, 1):
            s = self.addSwitch('s%d' % i, cls=classes[kind])
            self.addLink(self.addHost('h%d' % i), s)
            if prev:
                self.addLink(prev, s)
            prev = s


class TriangleTopo(Topo):
    """h1 - s1 - s2 - h2 with a detour s1 - s3 - s2. Port numbers are fixed: on s1 and s2, 1 is the host,
       2 the direct link, 3 the detour; on s3, 1 faces s1 and 2 faces s2."""

    def build(self):  # pylint: disable=arguments-differ
        s1, s2, s3 = self.addSwitch('s1'), self.addSwitch('s2'), self.addSwitch('s3')
        self.addLink(self.addHost('h1'), s1, port2=1)
        self.addLink(self.addHost('h2'), s2, port2=1)
        self.addLink(s1, s2, port1=2, port2=2)
        self.addLink(s1, s3, port1=3, port2=1)
        self.addLink(s3, s2, port1=2, port2=3)


def quietIpv6(net):
    """Turns IPv6 off in every host (`all` for its interfaces now, `default` for later ones) and on every
       switch port in the root namespace, and checks that it is off. Call it between net.build() and
       net.start(): an interface that is up with IPv6 sends MLD reports, duplicate address detection and
       router solicitations on its own for seconds, which the switches would forward, send to the
       controller and count (scenario 5 counts the frames s3 relays). What was sent before the switches
       start is lost: nothing reads the veths yet. IPv4 sends nothing by itself here (no DHCP)."""
    for h in net.hosts:
        h.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1')
        for intf in h.intfList():
            got = h.cmd('cat /proc/sys/net/ipv6/conf/%s/disable_ipv6' % intf.name).strip()
            if got != '1':
                raise LabError('%s: IPv6 still on for %s (disable_ipv6 %r)' % (h.name, intf.name, got))
    for sw in net.switches:
        for intf in sw.intfList():
            if not sw.ports.get(intf):
                continue  # lo, or the OVS bridge's own port, which Mininet leaves down
            path = '/proc/sys/net/ipv6/conf/%s/disable_ipv6' % intf.name
            with open(path, 'w') as f:
                f.write('1')
            with open(path) as f:
                if f.read().strip() != '1':
                    raise LabError('%s: IPv6 still on for %s' % (sw.name, intf.name))


class NetLab(object):
    """One Mininet network, up inside `with` and torn down on the way out (also on exceptions and on
       SIGTERM turned into an exception by the runner):

           with NetLab(ctx, LinearTopo(4), switch='tinflow', controller='tinflow') as lab:
               assert lab.net.pingAll() == 0

       switch: 'tinflow', 'ovs', 'linuxbridge' (KernelBridge: no controller, failMode does not apply), a
               Switch class, or None when the topology gives each switch its class
       controller: 'tinflow' (apps, idleTimeout, controllerEnv), 'osken' (osken-manager + RemoteController),
                   a Controller class (with its port set), or None
       listenPort: the first switch's listenPort (Mininet gives the next switches the following ports)
       failMode: of every switch; switchParams: further TinflowSwitch/OVSSwitch parameters
       txOff: `ethtool -K tx off` in every host (default: when an OVS switch is in the network: OVS reads
              veths through AF_PACKET and would see partial checksums)
       Hosts and switch ports have IPv6 off (quietIpv6), so what the switches count is the scenario's traffic.
       On exit it checks that every tinflow switch ended cleanly (exit status 0)."""

    def __init__(self, ctx, topo, switch='tinflow', controller='tinflow', apps=('learning',), idleTimeout=None,
                 controllerEnv=None, failMode='secure', switchParams=None, txOff=None, connectTimeout=30.0,
                 listenPort=None):
        self.ctx = ctx
        self.topo = topo
        self.switchKind = switch
        self.controllerKind = controller
        self.apps = apps
        self.idleTimeout = idleTimeout
        self.controllerEnv = controllerEnv
        self.failMode = failMode
        self.switchParams = dict(switchParams or {})
        self.txOff = txOff
        self.connectTimeout = connectTimeout
        self.listenPort = listenPort
        self.net = None
        self.osken = None
        self.port = None
        self.controller = None

    def switchClass(self, kind):
        if not isinstance(kind, str):
            return kind
        if kind == 'tinflow':
            return tinflowSwitchClass(self.ctx.logDir, failMode=self.failMode, **self.switchParams)
        if kind == 'ovs':
            return ovsSwitchClass(failMode=self.failMode, **self.switchParams)
        if kind == 'linuxbridge':
            return specialClass(KernelBridge, defaults=dict(self.switchParams))
        raise ValueError('switch kind %r (tinflow, ovs or linuxbridge)' % kind)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.closeQuietly()
            raise
        return self

    def __exit__(self, excType, exc, tb):
        if excType is None:
            self.close(checkSwitches=True)
        else:
            self.closeQuietly()  # the exception on its way out (a failed check, SIGTERM) is the one to report

    def closeQuietly(self):
        try:
            self.close()
        except Exception as e:  # pylint: disable=broad-except
            error('*** tearing the network down failed too: %s: %s\n' % (type(e).__name__, e))

    def start(self):
        switchCls = self.switchClass(self.switchKind) if self.switchKind else None
        self.net = Mininet(topo=self.topo, switch=switchCls or TinflowSwitch, controller=None, build=False,
                           autoSetMacs=True, listenPort=self.listenPort)
        if self.controllerKind in ('tinflow', 'osken'):
            self.port = self.ctx.ports.take()
        if not isinstance(self.controllerKind, (str, type(None))):
            self.controller = self.net.addController('c0', self.controllerKind)
        elif self.controllerKind == 'tinflow':
            self.controller = self.net.addController('c0', TinflowController, port=self.port, apps=self.apps,
                                                     idleTimeout=self.idleTimeout, env=self.controllerEnv,
                                                     logDir=self.ctx.logDir)
        elif self.controllerKind == 'osken':
            self.osken = OsKen(self.port, logDir=self.ctx.logDir)
            self.ctx.janitor.proc(self.osken.proc)
            self.controller = self.net.addController('c0', ListeningRemoteController, ip='127.0.0.1', port=self.port)
        elif self.controllerKind is not None:
            raise ValueError('controller kind %r (tinflow, osken or None)' % self.controllerKind)
        self.net.build()
        self.ctx.janitor.net(self.net)
        quietIpv6(self.net)
        self.net.start()
        self.ctx.janitor.net(self.net)  # now with the processes the start created
        txOff = self.txOff
        if txOff is None:
            txOff = any(isinstance(s, OVSSwitch) for s in self.net.switches)
        if txOff:
            for h in self.net.hosts:
                out = h.cmd('ethtool -K %s tx off' % h.defaultIntf())
                if 'rror' in out or 'annot' in out:
                    raise LabError('%s: ethtool -K tx off: %s' % (h.name, out.strip()))
        if self.controllerKind and not self.net.waitConnected(self.connectTimeout):
            raise LabError('switches not connected to the controller within %.0f s: %s' % (
                self.connectTimeout, ', '.join(s.name for s in self.net.switches if not s.connected())))

    def close(self, checkSwitches=False):
        "Stops the network, os-ken and returns the port; with checkSwitches, fails if a tinflow switch crashed."
        try:
            if self.net:
                for node in self.net.hosts + self.net.switches + self.net.controllers:
                    if node.shell and node.waiting:
                        # a cmd() was interrupted (SIGTERM): stop it, or net.stop() cannot use this shell
                        node.sendInt()
                        node.waiting = False
                self.net.stop()
                for c in self.net.controllers:
                    if c.shell:  # RemoteController.stop() does nothing, not even end the node's own shell
                        c.terminate()
        finally:
            if self.osken:
                self.osken.stop()
            if self.port is not None:
                self.ctx.ports.give(self.port)
        if checkSwitches and self.net:
            # duck-typed: a TinflowSwitch from an exec()ed tinflow.py (mn --custom) is another class
            bad = ['%s (status %s, log %s)' % (s.name, s.exitCode, s.logPath) for s in self.net.switches
                   if getattr(s, 'proc', None) is not None and s.exitCode != 0]
            if bad:
                raise LabError('tinflow switches did not end cleanly: ' + ', '.join(bad))

    def switches(self, kind=TinflowSwitch):
        return [s for s in self.net.switches if isinstance(s, kind)]


# ---- measurements, inside the hosts ---------------------------------------------------------------------

def farthestHosts(net):
    "The first pair of hosts with the most links between them (breadth-first over the network's links)."
    adj = {}
    for link in net.links:
        a, b = link.intf1.node, link.intf2.node
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    best = (-1, None, None)
    for src in net.hosts:
        dist = {src: 0}
        queue = deque([src])
        while queue:
            n = queue.popleft()
            for m in adj.get(n, []):
                if m not in dist:
                    dist[m] = dist[n] + 1
                    queue.append(m)
        for dst in net.hosts:
            if dst in dist and dist[dst] > best[0]:
                best = (dist[dst], src, dst)
    return best[1], best[2]


PING_RE = re.compile(r'(\d+) packets transmitted, (\d+) received')


def ping(src, dst, count=5, interval=0.2, wait=1):
    "src pings dst's IP: returns (sent, received, [rtt ms ...])."
    ip = dst if isinstance(dst, str) else dst.IP()
    out = src.cmd('ping -n -c %d -i %s -W %s %s' % (count, interval, wait, ip))
    m = PING_RE.search(out)
    if not m:
        raise LabError('%s: ping %s: %s' % (src.name, ip, out.strip()[-200:]))
    rtts = [float(x) for x in re.findall(r'time=([\d.]+) ms', out)]
    return int(m.group(1)), int(m.group(2)), rtts


def iperf3(src, dst, seconds=2, port=5201, udp=False, extra=''):
    """iperf3 from src to dst (a server started in dst for one test, stopped by PID): the parsed -J report.
       Never net.iperf(): that runs killall."""
    server = dst.popen(['iperf3', '-s', '-1', '-p', str(port)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        waitFor(lambda: ':%d ' % port in dst.cmd('ss -ltnH'), 10, '%s: iperf3 server listening' % dst.name, 0.1)
        limit = seconds + 10
        out = src.cmd('timeout %d iperf3 -c %s -p %d -t %s --connect-timeout 3000 -J %s %s' % (
            limit, dst.IP(), port, seconds, '-u' if udp else '', extra))
        try:
            report = json.loads(out[out.index('{'):])
        except ValueError:
            raise LabError('%s -> %s: iperf3 printed no report: %s' % (src.name, dst.name, out.strip()[-300:]))
        if report.get('error'):
            why = report['error']
            if 'interrupt' in why:  # timeout(1) ended it: the transfer stalled (TCP with bad checksums does)
                why = 'did not finish within %d s (%s)' % (limit, why)
            raise LabError('%s -> %s: iperf3 %s' % (src.name, dst.name, why))
        return report
    finally:
        if server.poll() is None:
            server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def iperf3TcpMbps(src, dst, seconds=2):
    "TCP throughput src -> dst in Mbit/s, as the receiver counted it."
    return iperf3(src, dst, seconds)['end']['sum_received']['bits_per_second'] / 1e6
