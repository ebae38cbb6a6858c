"""tinflow as Mininet nodes: `TinflowSwitch` (a `mininet.node.Switch`) and `TinflowController`.

    mn --custom mininet/tinflow.py --switch tinflow --controller tinflow,port=6851 --topo linear,3

or from Python:

    from tinflow import TinflowSwitch, TinflowController
    net = Mininet(topo=LinearTopo(3), switch=TinflowSwitch, controller=None)
    net.addController('c0', TinflowController, port=6851)

TinflowSwitch runs `scripts/tinflow switch` on the switch's veths (AF_PACKET), with the OpenFlow port
numbers Mininet assigned (`self.ports[intf]`), Mininet's dpid, and the controllers Mininet passes to
`start()`. With shared=True (`--switch tinflow,shared=True`) the switches of a network are bridges of one
`tinflow switch` process instead (switchctl add-br / del-br), as OVS's bridges share ovs-vswitchd.
`connected()` asks the switch's control socket (`tinflow switchctl status`, of its bridge) how many
controllers finished the OpenFlow hello. `stop()` ends exactly the process it started (SIGTERM, then
SIGKILL), also after Mininet has deleted the veths, which it does first; shared, it removes its bridge and
the last one ends the process.

TinflowController runs `scripts/tinflow controller` (apps: `learning`, `hub` or a module path) and stops
it by PID.

This file is self-contained (standard library + Mininet): `mn --custom` executes it without `__file__`
and without this folder on sys.path. Runs under Debian's /usr/bin/python3 (which has Mininet).
Environment: TINFLOW_ROOT (the repository; default: this file's parent folder), TINFLOW_NODE (node).
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from mininet.log import debug, error, info
from mininet.node import Controller, Node, Switch


def _this_file():
    # `mn --custom` exec()s this file: no __file__, but code objects keep the file name they were compiled from.
    return os.path.abspath(_this_file.__code__.co_filename)


def repoRoot():
    "The tinflow repository whose scripts/tinflow runs (TINFLOW_ROOT, or this file's parent folder)."
    return os.path.abspath(os.environ.get('TINFLOW_ROOT') or os.path.join(os.path.dirname(_this_file()), '..'))


def tinflowCommand():
    "argv prefix that runs the tinflow CLI: [node, .../scripts/tinflow]. Raises if either is missing."
    node = os.environ.get('TINFLOW_NODE') or shutil.which('node')
    if not node:
        raise RuntimeError('tinflow: node is not on PATH (set TINFLOW_NODE)')
    script = os.path.join(repoRoot(), 'scripts', 'tinflow')
    if not os.path.isfile(script):
        raise RuntimeError('tinflow: %s is missing (set TINFLOW_ROOT to the repository)' % script)
    if not os.path.isfile(os.path.join(repoRoot(), 'dist', 'scripts', 'cli.js')):
        raise RuntimeError('tinflow: %s is not built; run "npm ci && npm run build" there' % repoRoot())
    return [node, script]


_logDir = None


def defaultLogDir():
    "One temporary folder per Python process for logs and control sockets (created on first use)."
    global _logDir  # pylint: disable=global-statement
    if _logDir is None:
        _logDir = tempfile.mkdtemp(prefix='tinflow-mn-')
    return _logDir


def procStartTime(pid):
    "The process's start time in clock ticks (/proc/PID/stat field 22), or None: tells a PID from its reuse."
    try:
        with open('/proc/%d/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class Proc(object):
    """A child process started by us, in a session of its own, logging to a file; stopped by PID only
       (SIGTERM, a grace period, then SIGKILL)."""

    def __init__(self, argv, logPath, env=None, prefix=None):
        self.argv = list(argv)
        self.logPath = logPath
        with open(logPath, 'ab') as log:
            self.popen = subprocess.Popen((prefix or []) + self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=env, close_fds=True, start_new_session=True)
        self.pid = self.popen.pid
        self.startTime = procStartTime(self.pid)
        self.terminating = False

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        "Sends sig to our process, if it is still ours and running."
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def terminate(self):
        "Sends SIGTERM once (a second one would end tinflow without its clean shutdown)."
        if not self.terminating:
            self.terminating = True
            self.signal(signal.SIGTERM)

    def stop(self, timeout=5.0):
        "SIGTERM, wait up to timeout, then SIGKILL. Returns the exit status (negative: killed by that signal)."
        self.terminate()
        return self.wait(timeout)

    def wait(self, timeout=5.0):
        "Waits for the exit; SIGKILL after timeout. Returns the exit status."
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            error('*** %s (pid %d) ignored SIGTERM for %.0f s: SIGKILL\n' % (self.argv[1:3], self.pid, timeout))
            self.signal(signal.SIGKILL)
            return self.popen.wait()

    def logTail(self, lines=20):
        try:
            with open(self.logPath, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''


def ctlRequest(path, cmd, args=(), timeout=2.0, bridge=None):
    """One request on a switch control socket (switch/ctl.ts), to one bridge of the process when bridge is
       given: returns the reply's lines; raises on error."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    req = {'cmd': cmd, 'args': list(args)}
    if bridge is not None:
        req['bridge'] = bridge
    try:
        s.connect(path)
        s.sendall((json.dumps(req) + '\n').encode())
        buf = b''
        while not buf.endswith(b'\n'):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    reply = json.loads(buf.decode())
    if not reply.get('ok'):
        raise RuntimeError('switchctl %s: %s' % (cmd, reply.get('error')))
    return reply['lines']


class SharedProcess(object):
    """One `tinflow switch --ctl SOCKET` process hosting the bridges of every shared TinflowSwitch that uses
       the same log folder (one network): started when the first bridge is added, stopped (by PID) when the
       last one is removed."""

    running = {}  # control socket path -> SharedProcess

    def __init__(self, logDir, logLevel):
        self.ctlPath = os.path.join(logDir, 'tinflow-shared.ctl')
        self.logPath = os.path.join(logDir, 'tinflow-shared.log')
        self.bridges = set()
        self.exitCode = None
        self.proc = Proc(tinflowCommand() + ['switch', '--ctl', self.ctlPath, '--log-level', logLevel], self.logPath)
        debug('tinflow shared switch: pid %d, %s\n' % (self.proc.pid, self.ctlPath))
        deadline = time.monotonic() + 20.0
        while True:
            if not self.proc.alive():
                raise RuntimeError('the shared tinflow switch exited with status %s:\n%s' % (self.proc.returncode, self.proc.logTail()))
            try:
                ctlRequest(self.ctlPath, 'list-br')
                break
            except (OSError, ValueError, RuntimeError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('the shared tinflow switch does not answer on %s after 20 s' % self.ctlPath)
                time.sleep(0.1)

    @classmethod
    def get(cls, logDir, logLevel):
        "The running process for logDir, started if there is none (or it died)."
        path = os.path.join(logDir, 'tinflow-shared.ctl')
        sp = cls.running.get(path)
        if sp is None or not sp.proc.alive():
            sp = cls.running[path] = SharedProcess(logDir, logLevel)
        return sp

    def addBridge(self, name, args):
        ctlRequest(self.ctlPath, 'add-br', [name] + list(args), timeout=20.0)
        self.bridges.add(name)

    def delBridge(self, name, timeout=5.0):
        """Removes a bridge (and stops the process after the last one). Returns 0 when the bridge ended
           cleanly (and, for the last one, the process exited 0), else the process's status or -1."""
        self.bridges.discard(name)
        status = 0
        try:
            ctlRequest(self.ctlPath, 'del-br', [name], timeout=20.0)
        except (OSError, ValueError, RuntimeError) as e:
            error('*** shared tinflow switch: del-br %s: %s\n' % (name, e))
            status = self.proc.returncode if self.proc.returncode is not None else -1
        if not self.bridges:
            status = self.stop(timeout) or status
        return status

    def stop(self, timeout=5.0):
        "Ends the process (SIGTERM, SIGKILL after timeout); returns its exit status."
        if SharedProcess.running.get(self.ctlPath) is self:
            del SharedProcess.running[self.ctlPath]
        self.exitCode = self.proc.stop(timeout)
        if self.exitCode != 0:
            error('*** the shared tinflow switch exited with status %s; log %s:\n%s' % (self.exitCode, self.logPath, self.proc.logTail()))
        if os.path.exists(self.ctlPath):
            os.unlink(self.ctlPath)
        return self.exitCode


class TinflowSwitch(Switch):
    """tinflow's OpenFlow 1.3 switch as a Mininet switch (a process in the root namespace).

       failMode: 'secure' (keep flows, drop misses without a controller) or 'standalone' (a learning
                 switch while no controller is connected), as OVSSwitch's failMode
       offload: exchange virtio-net headers with the kernel (GSO/checksum offload pass-through); with it
                hosts need no `ethtool -K tx off` as long as only tinflow switches carry their frames
       gro: with offload, merge TCP segments that arrive one by one into GSO super-frames (receive
            coalescing); only for networks where every switch is tinflow: an OVS userspace switch
            cannot read the super-frames
       local: give the switch a LOCAL port (a TAP named after the switch); off by default, as nothing in
              a Mininet network uses it. It stays down, as OVSSwitch's bridge interface does, until it is
              brought up (`ip link set NAME up`, or opts='--local-up')
       listenPort: also accept controllers (dpctl, ovs-ofctl) on ptcp:listenPort:127.0.0.1
       logLevel: the switch's log level; logDir: where NAME.log and NAME.ctl go (a temporary folder)
       shared: be a bridge of one `tinflow switch` process shared by every shared switch with the same
               logDir (as OVS's bridges share ovs-vswitchd): start() adds the bridge (switchctl add-br),
               stop() removes it (del-br), the last one stops the process. Default: a process per switch
       opts: further `tinflow switch` flags (bridge flags only when shared), as a string"""

    dpidLen = 16

    def __init__(self, name, failMode='secure', offload=True, gro=False, local=False, logLevel='info', logDir=None,
                 probeInterval=None, shared=False, **params):
        Switch.__init__(self, name, **params)
        if shared in ('True', 'true', '1'):  # from `--switch tinflow,shared=True`, which may pass a string
            shared = True
        if shared and self.inNamespace:
            raise ValueError('%s: a shared tinflow switch runs in the root namespace (inNamespace=False)' % name)
        if failMode not in ('secure', 'standalone'):
            raise ValueError('%s: failMode must be secure or standalone, not %r' % (name, failMode))
        self.failMode = failMode
        self.offload = offload
        self.gro = gro
        self.local = local
        self.logLevel = logLevel
        self.logDir = logDir
        self.probeInterval = probeInterval
        self.shared = bool(shared) and shared not in ('False', 'false', '0')
        self.sharedProc = None
        self.proc = None
        self.activeControllers = 0
        self.exitCode = None
        self.ctlPath = None
        self.logPath = None

    @classmethod
    def setup(cls):
        "Checks that node and a built tinflow are there."
        tinflowCommand()

    def dataPorts(self):
        "(OpenFlow port number, interface name) of the data interfaces (not the loopback control interface)."
        return sorted((self.ports[intf], intf.name) for intf in self.intfList()
                      if self.ports.get(intf) and not intf.IP())

    def commandLine(self, controllers):
        "The argv of `tinflow switch` for these controllers."
        logDir = self.logDir or defaultLogDir()
        self.ctlPath = os.path.join(logDir, self.name + '.ctl')
        self.logPath = os.path.join(logDir, self.name + '.log')
        return (tinflowCommand() + ['switch', '--name', self.name, '--ctl', self.ctlPath, '--log-level', self.logLevel]
                + self.bridgeArgs(controllers))

    def bridgeArgs(self, controllers):
        "The bridge's own flags (`tinflow switch --name NAME ...` and `switchctl add-br NAME ...` take the same)."
        argv = ['--dpid', self.dpid, '--fail-mode', self.failMode]
        if not self.local:
            argv.append('--no-local')
        if self.offload:
            argv.append('--offload')
            if self.gro:
                argv.append('--gro')
        if self.probeInterval:
            argv += ['--probe-interval', str(self.probeInterval)]
        for c in controllers:
            argv += ['--controller', '%s:%s:%d' % (c.protocol, c.IP(), c.port)]
        if self.listenPort:
            argv += ['--listen', 'ptcp:%d:127.0.0.1' % self.listenPort]
        for number, ifname in self.dataPorts():
            argv += ['--port', '%d=%s' % (number, ifname)]
        return argv + shlex.split(self.opts or '')

    def start(self, controllers):
        "Starts the switch process on our veths, connecting to Mininet's controllers."
        if self.proc and self.proc.alive():
            raise RuntimeError('%s is already running (pid %d)' % (self.name, self.proc.pid))
        self.activeControllers = len(controllers)
        self.exitCode = None
        if self.shared:
            self.startShared(controllers)
            return
        argv = self.commandLine(controllers)
        prefix = ['mnexec', '-a', str(self.pid)] if self.inNamespace else None
        self.proc = Proc(argv, self.logPath, prefix=prefix)
        debug('%s: pid %d: %s\n' % (self.name, self.proc.pid, ' '.join(argv)))

    def startShared(self, controllers):
        "Adds this switch as a bridge of the network's shared process (started on first use)."
        sp = SharedProcess.get(self.logDir or defaultLogDir(), self.logLevel)
        self.ctlPath, self.logPath = sp.ctlPath, sp.logPath
        args = self.bridgeArgs(controllers)
        sp.addBridge(self.name, args)
        self.sharedProc, self.proc = sp, sp.proc
        debug('%s: bridge of pid %d: add-br %s %s\n' % (self.name, sp.proc.pid, self.name, ' '.join(args)))

    def ctl(self, cmd, *args):
        "A `tinflow switchctl` request (status, dump-flows, dump-ports, trace IN_PORT FRAME): the reply's lines."
        if not self.ctlPath:
            raise RuntimeError('%s has not been started' % self.name)
        return ctlRequest(self.ctlPath, cmd, args, bridge=self.name if self.shared else None)

    def status(self):
        "The switch's `status` as a dict ({'dpid': '0x1', 'controllers-connected': '1', ...}), or None if unreachable."
        try:
            return dict(line.split(' ', 1) for line in self.ctl('status'))
        except (OSError, ValueError, RuntimeError):
            return None

    def connected(self):
        """True once at least one controller finished the OpenFlow hello with the switch. Without any
           controller to connect to, True in standalone mode (it forwards on its own), as OVSSwitch does."""
        if not self.proc or not self.proc.alive():
            return False
        st = self.status()
        if st is None:
            return False
        if int(st.get('controllers-connected', '0')) > 0:
            return True
        return self.activeControllers == 0 and not self.listenPort and self.failMode == 'standalone'

    def dpctl(self, *args):
        "ovs-ofctl (OpenFlow 1.3) against the switch's listenPort: dpctl('dump-flows')."
        if not self.listenPort:
            return "can't run dpctl without a listenPort"
        return self.cmd('ovs-ofctl', '-O', 'OpenFlow13', args[0], 'tcp:127.0.0.1:%d' % self.listenPort, *args[1:])

    def attach(self, intf):
        "Mininet's hook for a link added to a running switch: tinflow's ports are fixed when it starts."
        raise NotImplementedError('%s: cannot add %s to a running tinflow switch; stop() and start() it' % (self.name, intf))

    def detach(self, intf):
        raise NotImplementedError('%s: cannot remove %s from a running tinflow switch; stop() and start() it' % (self.name, intf))

    def stopProcess(self, timeout=5.0):
        """Ends our switch process (SIGTERM, then SIGKILL after timeout); returns its exit status. Shared: removes
           our bridge (del-br), and the process after the last bridge."""
        if self.sharedProc:
            self.exitCode = self.sharedProc.delBridge(self.name, timeout)
            self.sharedProc = None
            return self.exitCode
        if self.shared:
            return self.exitCode
        if self.proc:
            self.exitCode = self.proc.stop(timeout)
            if self.exitCode != 0:
                error('*** %s exited with status %s; log %s:\n%s' % (self.name, self.exitCode, self.logPath,
                                                                     self.proc.logTail()))
        if self.ctlPath and os.path.exists(self.ctlPath):
            os.unlink(self.ctlPath)
        return self.exitCode

    def stop(self, deleteIntfs=True):
        """Stops the switch process, then (as Switch.stop) deletes our interfaces. Mininet usually deleted
           the veths already; the switch notices and keeps running until told to stop."""
        self.stopProcess()
        Switch.stop(self, deleteIntfs)

    @classmethod
    def batchShutdown(cls, switches, run=None):  # pylint: disable=unused-argument
        "Signals every switch first and then waits for each, instead of one after the other."
        for s in switches:
            if s.proc and not s.shared:  # a shared process is stopped by its last del-br
                s.proc.terminate()
        for s in switches:
            s.stop()
        return switches


class TinflowController(Controller):
    """tinflow's controller (`scripts/tinflow controller`) listening on tcp:ip:port.

       apps: app names (learning, hub) or module paths, in order
       idleTimeout: the learning app's idle timeout in seconds (0: none)
       env: extra environment for the process (app modules may read their configuration from it)
       logLevel, logDir: as for TinflowSwitch (the log is logDir/NAME.log)"""

    def __init__(self, name, apps=('learning',), idleTimeout=None, logLevel='info', logDir=None, env=None,
                 ip='127.0.0.1', port=6653, **kwargs):
        self.apps = [apps] if isinstance(apps, str) else list(apps)
        self.idleTimeout = idleTimeout
        self.logLevel = logLevel
        self.logDir = logDir
        self.env = dict(env or {})
        self.proc = None
        self.logPath = None
        Controller.__init__(self, name, command='tinflow', cargs='', ip=ip, port=port, **kwargs)

    @classmethod
    def isAvailable(cls):
        try:
            return bool(tinflowCommand())
        except RuntimeError:
            return False

    def commandLine(self):
        argv = tinflowCommand() + ['controller', '--listen', '%s:%s:%d' % (self.protocol, self.ip, self.port),
                                   '--log-level', self.logLevel]
        for app in self.apps:
            argv += ['--app', app if app in ('learning', 'hub') else os.path.abspath(app)]
        if self.idleTimeout is not None:
            argv += ['--idle-timeout', str(self.idleTimeout)]
        return argv

    def start(self, timeout=15.0):
        "Starts the controller and returns once it accepts connections (raises if it dies or never does)."
        if self.proc and self.proc.alive():
            raise RuntimeError('%s is already running (pid %d)' % (self.name, self.proc.pid))
        self.logPath = os.path.join(self.logDir or defaultLogDir(), self.name + '.log')
        env = dict(os.environ)
        env.update(self.env)
        self.proc = Proc(self.commandLine(), self.logPath, env=env)
        info('%s: pid %d\n' % (self.name, self.proc.pid))
        waitListening(self.ip, self.port, timeout, self.proc)

    def kill(self, sig=signal.SIGKILL):
        "Crashes the controller (default SIGKILL) and waits for it to be gone."
        if self.proc:
            self.proc.signal(sig)
            self.proc.wait()

    def stopProcess(self, timeout=5.0):
        return self.proc.stop(timeout) if self.proc else None

    def stop(self, *args, **kwargs):  # pylint: disable=arguments-differ
        "Stops the controller process by PID, then the node's shell."
        self.stopProcess()
        Node.stop(self, *args, **kwargs)


def waitListening(ip, port, timeout, proc=None):
    "Waits until something accepts TCP connections on ip:port; raises if proc dies first or on timeout."
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive():
            raise RuntimeError('%s exited with status %s before listening on %s:%d:\n%s'
                               % (' '.join(proc.argv[1:3]), proc.returncode, ip, port, proc.logTail()))
        try:
            socket.create_connection((ip, port), timeout=1.0).close()
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError('nothing listens on %s:%d after %.0f s' % (ip, port, timeout))
        time.sleep(0.1)


# `mn --custom mininet/tinflow.py --switch tinflow --controller tinflow`
switches = {'tinflow': TinflowSwitch}
controllers = {'tinflow': TinflowController}
