#!/usr/bin/python3
"""npm run bench:mininet: tinflow switches against Open vSwitch userspace switches (datapath_type=netdev)
in Mininet, on single,3 and linear,3, in the same run, with the same controller (tinflow's learning app,
no idle timeout) and the same host settings (`ethtool -K tx off` in every host, which OVS userspace on
veths needs for TCP). Between the two farthest hosts (h1 -> h3), after pingAll as warm-up:

  ping RTT      100 pings 50 ms apart (after 5 unmeasured ones): average, median and p99
  TCP           iperf3 -c -J for S seconds: Mbit/s the receiver counted
  UDP pps       iperf3 -u -b 0 with 64-byte Ethernet frames (-l 18: 18 + 8 UDP + 20 IP + 14 Ethernet
                + 4 FCS), as bench:switch does: frames/s the receiver got, and the loss

Repetitions interleave the switches (tinflow, OVS, tinflow, OVS, ... the order flipped every other
round, as the machine is shared and noisy) and the figures are medians. The headline tinflow runs as
TinflowSwitch does by default (--offload), one process per switch; 'tinflow, one process' is the same
with every switch a bridge of one shared process (TinflowSwitch shared=True), and 'tinflow, one process,
forwarding threads' that process with every bridge's flow cache on a thread of its own
(--forwarding-thread, switch/README.md). Two extra lines, not part of the ratios, with the same hosts as
OVS: tinflow --gro (TCP segments that arrive one by one are merged into GSO super-frames on receive,
switch/portio/src/gro.c; for networks of tinflow switches only), and, with the hosts' offloads left on,
tinflow as it is meant to run when no OVS userspace switch shares the hosts. And a reference, not part of
the tinflow/OVS ratios: the Linux bridge (lab.KernelBridge: in-kernel learning bridge, STP off, no
controller; hosts tx off as for OVS), with its own ratio 'Linux bridge/OVS'. On a 2-core machine the
64-byte UDP figure is bounded by the hosts' CPU (the receiving iperf3 drops what it cannot read), so the
in-kernel bridge's figure is the ceiling a userspace switch can approach in the same run. Where the
br_netfilter module is loaded, bridged frames also pass the netfilter hooks (bridge-nf-call-*, recorded
in the JSON).

  idle CPU      on linear,3 only, after the figures above and with the network still up: after a settle time
                (--idle-settle, 20 s: V8's delayed GC and the learning flows are done by then), the CPU time
                (utime + stime of every thread, /proc/PID/stat) the switches use over a window (--idle-seconds,
                30 s; 0 leaves it out), as % of one core: the three processes of 'tinflow', the one of
                'tinflow, one process', ovs-vswitchd for OVS. ovs-vswitchd is the whole daemon: any bridge of
                another run it holds counts too, so the run records the bridges `ovs-vsctl list-br` shows.
                The issue wants 'tinflow, one process' / OVS <= 1.0.

    /usr/bin/python3 mininet/bench.py [--reps N] [--seconds S] [--idle-settle S] [--idle-seconds S] [--no-offload]
                                      [--topo T ...] [--variant V ...] [--keep-logs] [-v]

Prints a table and the tinflow/OVS ratios, writes results/mininet-bench.json and results/mininet-bench.png.
Names of its own (switches bs1.., hosts bh1..) and controller ports 6871-6879, so that it can run while
the scenarios (run.py: s1, h1.., ports 6851-6869) do; its own janitor state and lock (lab.Janitor).
Open vSwitch is started when not running and left running (other runs may be using it).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ inside the repository's mininet/ folder

from mininet.log import setLogLevel  # noqa: E402 (after the line above)
from mininet.topo import Topo  # noqa: E402

import lab  # noqa: E402
import pngchart  # noqa: E402
from tinflow import tinflowCommand  # noqa: E402

REPO = lab.REPO
RESULTS = os.path.join(REPO, 'results')
BENCH_PORTS = range(6871, 6880)
OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl'
TOOLS = ('iperf3', 'ethtool', 'ovs-vsctl', 'ss', 'ping')
NAME_PREFIXES = ('bs', 'bh')  # our switches and hosts, and so our interfaces: bs1-eth1, bh1-eth0

# TCP throughput of the OVS userspace switches measured on this machine before (RECIPES.md), Mbit/s.
OVS_EARLIER = {'single,3': '518-678', 'linear,3': '290-356'}
TCP_TARGET = 1.5  # the target: tinflow >= 1.5x OVS on TCP
PINGS = 100  # measured pings per run, 50 ms apart: enough for a p99 that is not just the maximum
IDLE_TOPOLOGY = 'linear,3'  # the idle CPU of three bridges: the 'a 3-bridge process'
IDLE_VARIANTS = ('tinflow', 'tinflow-shared', 'tinflow-threads', 'ovs')
IDLE_TARGET = 1.0  # the target: idle CPU of 'tinflow, one process' <= 1.0x ovs-vswitchd's
OVS_PIDFILE = '/var/run/openvswitch/ovs-vswitchd.pid'
CLK_TCK = os.sysconf('SC_CLK_TCK')


def dpid(n):
    return '%016x' % n


class BenchSingleTopo(Topo):
    "SingleSwitchTopo(k) with our names: switch bs1, hosts bh1..bhk (port i = host i)."

    def build(self, k=3):  # pylint: disable=arguments-differ
        s = self.addSwitch('bs1', dpid=dpid(1))
        for i in range(1, k + 1):
            self.addLink(self.addHost('bh%d' % i), s)


class BenchLinearTopo(Topo):
    "LinearTopo(k) with our names: switches bs1..bsk in a line, host bhi on switch bsi (as Mininet's)."

    def build(self, k=3):  # pylint: disable=arguments-differ
        last = None
        for i in range(1, k + 1):
            s = self.addSwitch('bs%d' % i, dpid=dpid(i))
            self.addLink(self.addHost('bh%d' % i), s)
            if last:
                self.addLink(s, last)
            last = s


TOPOLOGIES = {
    'single,3': lambda: BenchSingleTopo(k=3),
    'linear,3': lambda: BenchLinearTopo(k=3),
}

# What is compared: switches and host settings. 'tinflow' and 'ovs' make the headline ratios.
VARIANTS = {
    'tinflow': dict(label='tinflow', switch='tinflow', switchParams={'offload': True}, txOff=True),
    'ovs': dict(label='OVS userspace', switch='ovs', switchParams={}, txOff=True),
    'tinflow-shared': dict(label='tinflow, one process', switch='tinflow', switchParams={'offload': True, 'shared': True},
                           txOff=True),
    'tinflow-threads': dict(label='tinflow, one process, forwarding threads', switch='tinflow',
                            switchParams={'offload': True, 'shared': True, 'opts': '--forwarding-thread'}, txOff=True),
    'tinflow-gro': dict(label='tinflow --gro', switch='tinflow', switchParams={'offload': True, 'gro': True}, txOff=True),
    'tinflow-offload': dict(label='tinflow --offload (hosts tx on)', switch='tinflow',
                            switchParams={'offload': True}, txOff=False),
    # the in-kernel reference: no controller, not in the tinflow/OVS ratios (REFERENCE), no idle CPU
    'linuxbridge': dict(label='Linux bridge', switch='linuxbridge', switchParams={}, txOff=True, controller=None),
}
REFERENCE = 'linuxbridge'  # its own ratio to OVS: 'Linux bridge/OVS'
BRIDGE_NF = '/proc/sys/net/bridge'  # bridge-nf-call-*: whether bridged frames pass netfilter (br_netfilter)

# (key, label, better) of the figures each run yields; better: which way is better.
METRICS = (
    ('tcpMbps', 'TCP Mbit/s', 'higher'),
    ('udpKpps', 'UDP 64B kframes/s rx', 'higher'),
    ('udpLossPct', 'UDP loss %', 'lower'),
    ('rttAvgMs', 'ping RTT avg ms', 'lower'),
    ('rttP50Ms', 'ping RTT p50 ms', 'lower'),
    ('rttP99Ms', 'ping RTT p99 ms', 'lower'),
    ('idleCpuPct', 'idle CPU % of a core', 'lower'),  # IDLE_TOPOLOGY and IDLE_VARIANTS only
)


def p99(xs):
    "The 99th percentile (nearest rank) of xs."
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-99 * len(s) // 100) - 1))]


def ourInterfaces():
    "Interfaces in the root namespace named like ours (bs1-eth1, bh1-eth0, bs1): left from an earlier run."
    return sorted(n for n in os.listdir('/sys/class/net')
                  if any(n.startswith(p) and n[len(p):len(p) + 1].isdigit() for p in NAME_PREFIXES))


def waitNamesFree(timeout=60.0):
    "Waits until no interface carries one of our names (raises LabError after timeout)."
    lab.waitFor(lambda: not ourInterfaces(), timeout, 'interfaces named like ours are gone (%s)'
                % ', '.join(ourInterfaces()), 1.0)


def cpuTicks(pid):
    """(utime + stime, start time) of a process in clock ticks (/proc/PID/stat fields 14, 15 and 22); the
       first counts every thread, also ended ones. Raises LabError when the process is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError as e:
        raise lab.LabError('idle CPU: pid %d is gone (%s)' % (pid, e))
    return int(fields[11]) + int(fields[12]), int(fields[19])


def ovsBridges():
    "The bridges ovs-vsctl list-br shows now (those of other runs too)."
    return subprocess.run(['ovs-vsctl', '-t', '5', 'list-br'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True, check=False).stdout.split()


def idlePids(net, variant):
    """The processes whose CPU is the variant's idle cost: ovs-vswitchd (from its pid file), or the distinct
       processes of the tinflow switches (a shared process is every switch's proc)."""
    if variant == 'ovs':
        try:
            with open(OVS_PIDFILE) as f:
                pid = int(f.read().strip())
            with open('/proc/%d/comm' % pid) as f:
                comm = f.read().strip()
        except (OSError, ValueError) as e:
            raise lab.LabError('idle CPU: no ovs-vswitchd from %s (%s)' % (OVS_PIDFILE, e))
        if comm != 'ovs-vswitchd':  # a stale pid file whose PID was reused
            raise lab.LabError('idle CPU: pid %d of %s is %r, not ovs-vswitchd' % (pid, OVS_PIDFILE, comm))
        return [pid]
    pids = []
    for s in net.switches:
        proc = getattr(s, 'proc', None)
        if proc is None or not proc.alive():
            raise lab.LabError('idle CPU: %s has no running process' % s.name)
        if proc.pid not in pids:
            pids.append(proc.pid)
    want = 1 if VARIANTS[variant]['switchParams'].get('shared') else len(net.switches)
    if len(pids) != want:
        raise lab.LabError('idle CPU: %d switch processes for %d switches (%s), expected %d'
                           % (len(pids), len(net.switches), variant, want))
    return pids


def measureIdle(net, variant, settle, window):
    """CPU the variant's switch processes use while the network is up and quiet: settle seconds of nothing,
       then utime + stime over window seconds. Returns the record's idle fields."""
    pids = idlePids(net, variant)
    time.sleep(settle)
    bridgesBefore = ovsBridges() if variant == 'ovs' else None
    t0 = time.monotonic()
    before = {p: cpuTicks(p) for p in pids}
    time.sleep(window)
    after = {p: cpuTicks(p) for p in pids}
    elapsed = time.monotonic() - t0
    bridgesAfter = ovsBridges() if variant == 'ovs' else None
    for p in pids:
        if after[p][1] != before[p][1]:
            raise lab.LabError('idle CPU: pid %d ended during the window (another process has its PID now)' % p)
    cpu = {p: (after[p][0] - before[p][0]) / CLK_TCK for p in pids}
    out = {
        'idleCpuPct': 100.0 * sum(cpu.values()) / elapsed,
        'idle': {'pids': pids, 'cpuSeconds': {str(p): c for p, c in cpu.items()},
                 'windowSeconds': round(elapsed, 3), 'settleSeconds': settle},
    }
    if variant == 'ovs':
        # ovs-vswitchd serves every bridge it has: the figure is for this many, not necessarily three
        out['idle'].update(ovsBridgesAtStart=bridgesBefore, ovsBridgesAtEnd=bridgesAfter,
                           ovsBridgeCount=max(len(bridgesBefore), len(bridgesAfter)))
    return out


def measure(ctx, topoName, variant, seconds, udpLen, idleSettle=0, idleSeconds=0):
    """One network up, warm-up, the measurements, the idle CPU (IDLE_TOPOLOGY and IDLE_VARIANTS, when
       idleSeconds > 0), down. Returns the figures."""
    v = VARIANTS[variant]
    waitNamesFree()
    with lab.NetLab(ctx, TOPOLOGIES[topoName](), switch=v['switch'], controller=v.get('controller', 'tinflow'),
                    idleTimeout=0,
                    switchParams=v['switchParams'], txOff=v['txOff']) as nl:
        net = nl.net
        loss = net.pingAll()
        if loss != 0:
            raise lab.LabError('%s %s: pingAll lost %.0f %%' % (topoName, variant, loss))
        src, dst = net.get('bh1'), net.get('bh3')
        lab.ping(src, dst, count=5, interval=0.1)
        sent, received, rtts = lab.ping(src, dst, count=PINGS, interval=0.05)
        if received < sent or not rtts:
            raise lab.LabError('%s %s: ping lost %d of %d' % (topoName, variant, sent - received, sent))
        tcp = lab.iperf3(src, dst, seconds)['end']['sum_received']['bits_per_second'] / 1e6
        udp = lab.iperf3(src, dst, seconds, udp=True, extra='-b 0 -l %d' % udpLen)['end']['sum_received']
        got = udp['packets'] - udp['lost_packets']
        idle = {}
        if idleSeconds > 0 and topoName == IDLE_TOPOLOGY and variant in IDLE_VARIANTS:
            idle = measureIdle(net, variant, idleSettle, idleSeconds)
        return dict(idle, **{
            'tcpMbps': tcp,
            'udpKpps': got / udp['seconds'] / 1e3,
            'udpLossPct': 100.0 * udp['lost_packets'] / udp['packets'] if udp['packets'] else 100.0,
            'udpSentPackets': udp['packets'],
            'rttAvgMs': statistics.mean(rtts),
            'rttP50Ms': statistics.median(rtts),
            'rttP99Ms': p99(rtts),
            'rttMinMs': min(rtts),
            'rttMaxMs': max(rtts),
        })


def summarize(runs, variants, topos):
    "Median, min and max of every metric by topology and variant (of the runs that have it: idle CPU is in few)."
    out = {}
    for t in topos:
        for v in variants:
            rs = [r for r in runs if r['topology'] == t and r['variant'] == v and 'error' not in r]
            if not rs:
                continue
            out.setdefault(t, {})[v] = {key: {'median': statistics.median(xs), 'min': min(xs), 'max': max(xs),
                                              'n': len(xs)}
                                        for key, xs in ((key, [r[key] for r in rs if key in r])
                                                        for key, _label, _better in METRICS) if xs}
    return out


def ratios(summary):
    """tinflow / OVS of the medians, by topology and metric (with which way is better); for idle CPU also
       'tinflow, one process' / OVS, the issue's figure."""
    out = {}
    for t, byVariant in summary.items():
        if 'tinflow' in byVariant and 'ovs' in byVariant:
            out[t] = {}
            for key, _label, better in METRICS:
                if key not in byVariant['tinflow'] or key not in byVariant['ovs']:
                    continue
                a, b = byVariant['tinflow'][key]['median'], byVariant['ovs'][key]['median']
                out[t][key] = {'tinflowOverOvs': a / b if b else None, 'better': better}
            shared = byVariant.get('tinflow-shared', {}).get('idleCpuPct')
            if shared and 'idleCpuPct' in out[t]:
                b = byVariant['ovs']['idleCpuPct']['median']
                out[t]['idleCpuPct']['tinflowSharedOverOvs'] = shared['median'] / b if b else None
    return out


def referenceRatios(summary):
    "Linux bridge / OVS of the medians, by topology and metric: the in-kernel reference, apart from ratios()."
    out = {}
    for t, byVariant in summary.items():
        ref, ovs = byVariant.get(REFERENCE), byVariant.get('ovs')
        if ref and ovs:
            out[t] = {key: {'linuxBridgeOverOvs': (ref[key]['median'] / ovs[key]['median']
                                                   if ovs[key]['median'] else None), 'better': better}
                      for key, _label, better in METRICS if key in ref and key in ovs}
    return out


def bridgeNetfilter():
    "The bridge-nf-call-* settings ({} without br_netfilter): 1 means bridged frames pass those hooks."
    try:
        names = sorted(n for n in os.listdir(BRIDGE_NF) if n.startswith('bridge-nf-call-'))
    except OSError:
        return {}
    out = {}
    for n in names:
        with open(os.path.join(BRIDGE_NF, n)) as f:
            out[n] = f.read().strip()
    return out


def fmt(x):
    if x is None:
        return '-'
    return '%.0f' % x if abs(x) >= 100 else '%.1f' % x if abs(x) >= 10 else '%.2f' % x


def table(summary, rats, variants, refRats=None):
    "The side-by-side table as lines; the reference (Linux bridge) last, followed by its ratio to OVS."
    cols = [v for v in ('tinflow', 'ovs') if v in variants]
    extra = [v for v in variants if v not in cols and v != REFERENCE]
    ref = [REFERENCE, '/'] if REFERENCE in variants else []  # '/': the reference's ratio column
    head = (['topology', 'metric'] + [VARIANTS[v]['label'] for v in cols] + ['tinflow/OVS']
            + [VARIANTS[v]['label'] for v in extra]
            + ([VARIANTS[REFERENCE]['label'], '%s/OVS' % VARIANTS[REFERENCE]['label']] if ref else []))
    rows = [head]
    for t, byVariant in summary.items():
        for key, label, better in METRICS:
            if not any(key in figures for figures in byVariant.values()):
                continue  # idle CPU on the topologies it is not measured on
            row = [t, '%s (%s is better)' % (label, better)]
            for v in cols + [None] + extra + ref:
                if v is None or v == '/':
                    r = (rats if v is None else refRats or {}).get(t, {}).get(key, {}).get(
                        'tinflowOverOvs' if v is None else 'linuxBridgeOverOvs')
                    row.append('-' if r is None else '%.2f\u00d7' % r)
                    continue
                s = byVariant.get(v, {}).get(key)
                row.append('-' if s is None else '%s (%s-%s)' % (fmt(s['median']), fmt(s['min']), fmt(s['max'])))
            rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for i, r in enumerate(rows):
        lines.append('  '.join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0:
            lines.append('-' * len(lines[0]))
    return lines


def chart(path, summary, rats, variants, reps, seconds):
    "The PNG: TCP, UDP frames/s and median RTT panels, a group per topology, a bar per variant."
    colors = {'tinflow': (31, 119, 180), 'ovs': (255, 127, 14), 'tinflow-shared': (23, 190, 207), 'tinflow-threads': (44, 160, 44), 'tinflow-gro': (148, 103, 189),
              'tinflow-offload': (44, 160, 44), 'linuxbridge': (127, 127, 127)}
    series = [(VARIANTS[v]['label'], colors[v]) for v in variants]
    panels = []
    for key, title, better in (('tcpMbps', 'TCP MBIT/S', 'higher'), ('udpKpps', 'UDP 64B KFRAMES/S', 'higher'),
                               ('rttP50Ms', 'PING RTT P50 MS', 'lower')):
        groups = []
        for t, byVariant in summary.items():
            r = rats.get(t, {}).get(key, {}).get('tinflowOverOvs')
            groups.append({'label': t, 'values': [byVariant[v][key]['median'] if v in byVariant else None for v in variants],
                           'note': None if r is None else 'TINFLOW/OVS %.2f\u00d7' % r})
        panels.append({'title': title, 'subtitle': '%s is better' % better, 'groups': groups})
    pngchart.barChart(path, 'tinflow vs OVS userspace in Mininet', series, panels,
                      footer='medians of %d runs, %d s iperf3, h1 -> h3, tinflow learning controller (Linux '
                             'bridge: none, in-kernel), hosts tx off except the hosts tx on line' % (reps, seconds))


def idleReport(runs, summary, rats, args):
    """The idle CPU verdict for the JSON (the issue's target: 'tinflow, one process' <= 1.0x ovs-vswitchd),
       with the lines to print under 'lines'."""
    # /proc/PID/stat counts in clock ticks: a tick (10 ms) over the window is the finest step of a run's figure
    tickPct = 100.0 / CLK_TCK / args.idle_seconds if args.idle_seconds > 0 else None
    out = {'topology': IDLE_TOPOLOGY, 'settleSeconds': args.idle_settle, 'windowSeconds': args.idle_seconds,
           'unit': '% of one core (CPU seconds / window * 100), median over the runs', 'oneTickPct': tickPct,
           'target': {'tinflowSharedOverOvs': IDLE_TARGET}, 'lines': []}
    if args.idle_seconds <= 0:
        out['lines'].append('Idle CPU: not measured (--idle-seconds 0).')
        return out
    byVariant = summary.get(IDLE_TOPOLOGY, {})
    medians = {v: byVariant[v]['idleCpuPct']['median'] for v in IDLE_VARIANTS if 'idleCpuPct' in byVariant.get(v, {})}
    if not medians:
        out['lines'].append('Idle CPU: no figures (measured on %s only).' % IDLE_TOPOLOGY)
        return out
    counts = [r['idle']['ovsBridgeCount'] for r in runs
              if r['topology'] == IDLE_TOPOLOGY and r['variant'] == 'ovs' and 'idle' in r]
    others = sorted({b for r in runs if r['topology'] == IDLE_TOPOLOGY and r['variant'] == 'ovs' and 'idle' in r
                     for b in r['idle']['ovsBridgesAtStart'] + r['idle']['ovsBridgesAtEnd']
                     if not (b.startswith('bs') and b[2:].isdigit())})
    r = rats.get(IDLE_TOPOLOGY, {}).get('idleCpuPct', {}).get('tinflowSharedOverOvs')
    out.update(medianPct=medians, ovsBridgeCounts=counts, ovsOtherBridges=others,
               tinflowSharedOverOvs=r, met=None if r is None else r <= IDLE_TARGET)
    names = {'tinflow': 'tinflow (3 processes)', 'tinflow-shared': 'tinflow, one process', 'tinflow-threads': 'tinflow, one process, forwarding threads', 'ovs': 'ovs-vswitchd'}
    out['lines'].append('Idle CPU on %s (%.0f s settled, then %.0f s; %% of one core, median; one clock tick %.2f %%): %s.'
                        % (IDLE_TOPOLOGY, args.idle_settle, args.idle_seconds, tickPct,
                           ', '.join('%s %.2f %%' % (names[v], m) for v, m in medians.items())))
    if counts:
        out['lines'].append('  ovs-vswitchd held %s bridges while measured (`ovs-vsctl list-br`: %s); its figure is '
                            'the whole daemon, other runs\' bridges included.'
                            % ('/'.join(str(c) for c in counts),
                               'not ours: ' + ', '.join(others) if others else 'all ours'))
    out['lines'].append('Idle CPU target \'tinflow, one process\' / OVS <= %.1f\u00d7: %s.'
                        % (IDLE_TARGET, 'no figure' if r is None else '%.2f\u00d7 (%s)'
                           % (r, 'meets' if r <= IDLE_TARGET else 'misses')))
    return out


def preflight():
    "Problems that stop the bench, as sentences."
    problems = []
    if os.geteuid() != 0:
        problems.append('Mininet needs root')
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        problems.append('missing %s (apt-get install -y iperf3 ethtool openvswitch-switch iproute2 iputils-ping)'
                        % ', '.join(missing))
    try:
        tinflowCommand()
    except RuntimeError as e:
        problems.append(str(e))
    return problems


def ensureOvs():
    "Starts Open vSwitch when it does not answer; left running afterwards (others may use it by then)."
    if subprocess.call(['ovs-vsctl', '-t', '5', 'show'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
        return
    print('bench: starting Open vSwitch (%s start; left running)' % OVS_CTL, flush=True)
    subprocess.call([OVS_CTL, 'start', '--system-id=random'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if subprocess.call(['ovs-vsctl', '-t', '5', 'show'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        raise lab.LabError('Open vSwitch does not start (%s start)' % OVS_CTL)


def main():
    ap = argparse.ArgumentParser(description='tinflow vs OVS userspace switches in Mininet (TCP, UDP pps, RTT).')
    ap.add_argument('--reps', type=int, default=3, help='runs of each switch per topology (default 3)')
    ap.add_argument('--seconds', type=int, default=4, help='iperf3 duration, TCP and UDP each (default 4)')
    ap.add_argument('--udp-len', type=int, default=18, help='UDP payload bytes (default 18: 64-byte frames)')
    ap.add_argument('--idle-settle', type=float, default=20.0, metavar='S',
                    help='before the idle CPU window, seconds of nothing (default 20)')
    ap.add_argument('--idle-seconds', type=float, default=30.0, metavar='S',
                    help='idle CPU window on %s, seconds (default 30; 0: not measured)' % IDLE_TOPOLOGY)
    ap.add_argument('--topo', action='append', choices=sorted(TOPOLOGIES), help='only these topologies')
    ap.add_argument('--variant', action='append', choices=sorted(VARIANTS),
                    help='only these variants (OVS always runs: the ratios are against it)')
    ap.add_argument('--no-offload', action='store_true', help='leave out the line with the hosts\' offloads on')
    ap.add_argument('--out', default=os.path.join(RESULTS, 'mininet-bench'), help='JSON and PNG path without extension')
    ap.add_argument('--keep-logs', action='store_true', help='keep the log folder (kept anyway after a failure)')
    ap.add_argument('-v', action='store_true', help="Mininet's info output")
    args = ap.parse_args()
    if args.idle_settle < 0 or args.idle_seconds < 0:
        ap.error('--idle-settle and --idle-seconds must be >= 0')
    setLogLevel('info' if args.v else 'warning')
    topos = args.topo or list(TOPOLOGIES)
    variants = (['tinflow', 'ovs', 'tinflow-shared', 'tinflow-threads', 'tinflow-gro']
                + ([] if args.no_offload else ['tinflow-offload']) + [REFERENCE])
    if args.variant:
        variants = [v for v in variants if v in args.variant or v == 'ovs']

    problems = preflight()
    if problems:
        for p in problems:
            print('bench: %s' % p)
        return 1

    lab.raiseOnSigterm()

    logDir = tempfile.mkdtemp(prefix='tinflow-bench-')
    began = time.monotonic()
    load0 = os.getloadavg()
    runs = []
    failed = False
    print('bench: %s; %d runs of each, iperf3 %d s; logs in %s' % (', '.join(topos), args.reps, args.seconds, logDir),
          flush=True)
    try:
        ensureOvs()
        with lab.Janitor(os.path.join(tempfile.gettempdir(), 'tinflow-mininet-bench')) as janitor:
            ports = lab.PortPool(BENCH_PORTS)
            n = 0
            for rep in range(args.reps):
                # tinflow first in even rounds, OVS first in odd ones: a drift in the machine's load cancels out
                order = variants if rep % 2 == 0 else variants[1::-1] + variants[2:]
                for t in topos:
                    for v in order:
                        n += 1
                        ctx = lab.Context(os.path.join(logDir, '%02d-%s-%s' % (n, t.replace(',', ''), v)), ports, janitor)
                        t0 = time.monotonic()
                        record = {'rep': rep + 1, 'topology': t, 'variant': v}
                        try:
                            record.update(measure(ctx, t, v, args.seconds, args.udp_len, args.idle_settle,
                                                  args.idle_seconds))
                        except Exception as e:  # pylint: disable=broad-except
                            record['error'] = '%s: %s' % (type(e).__name__, e)
                            failed = True
                        finally:
                            left = janitor.leftovers()
                            janitor.sweep()
                        if left:
                            record.setdefault('error', 'left behind: %s' % ', '.join(left))
                            failed = True
                        record['seconds'] = round(time.monotonic() - t0, 1)
                        runs.append(record)
                        if 'error' in record:
                            print('  %d/%s %-8s %-15s FAILED: %s' % (rep + 1, args.reps, t, v, record['error']), flush=True)
                        else:
                            idle = ''
                            if 'idleCpuPct' in record:
                                idle = '  idle CPU %.2f %%' % record['idleCpuPct']
                                if v == 'ovs':
                                    idle += ' (ovs-vswitchd, %d bridges)' % record['idle']['ovsBridgeCount']
                            print('  %d/%d %-8s %-15s TCP %6.0f Mbit/s  UDP %6.1f kframes/s (loss %4.1f %%)  '
                                  'RTT avg %.3f ms p50 %.3f ms p99 %.3f ms%s  (%.0f s)'
                                  % (rep + 1, args.reps, t, v, record['tcpMbps'], record['udpKpps'], record['udpLossPct'],
                                     record['rttAvgMs'], record['rttP50Ms'], record['rttP99Ms'], idle, record['seconds']),
                                  flush=True)
    except (KeyboardInterrupt, lab.Terminated) as e:
        print('bench: interrupted (%s); logs %s' % (type(e).__name__, logDir))
        return 130
    except lab.LabError as e:  # OVS does not start; the janitor's lock: another bench runs
        print('bench: %s' % e)
        return 1

    elapsed = time.monotonic() - began
    summary = summarize(runs, variants, topos)
    rats = ratios(summary)
    refRats = referenceRatios(summary)
    print()
    for line in table(summary, rats, variants, refRats):
        print(line)
    print()
    print('tinflow/OVS: > 1 means tinflow is higher; for TCP and UDP higher is better, for loss and RTT lower is.')
    verdicts = []
    for t in topos:
        r = rats.get(t, {}).get('tcpMbps', {}).get('tinflowOverOvs')
        if r is not None:
            verdicts.append('%s %.2f\u00d7 (%s)' % (t, r, 'meets' if r >= TCP_TARGET else 'misses'))
    print('TCP target >= %.1f\u00d7 OVS: %s. OVS userspace measured earlier: %s Mbit/s.'
          % (TCP_TARGET, '; '.join(verdicts) or 'no figures',
             ', '.join('%s %s' % kv for kv in OVS_EARLIER.items())))
    bridgeNf = bridgeNetfilter()
    refLine = []
    for t in topos:
        r = refRats.get(t, {})
        if r:
            named = (('tcpMbps', 'TCP'), ('udpKpps', 'UDP 64B frames/s'), ('rttP50Ms', 'RTT p50'))
            refLine.append('%s: %s' % (t, ', '.join('%s %.2f\u00d7' % (name, r[key]['linuxBridgeOverOvs'])
                                                    for key, name in named
                                                    if r.get(key, {}).get('linuxBridgeOverOvs') is not None)))
    print('Linux bridge/OVS (the in-kernel reference, not in tinflow/OVS; no controller; netfilter on bridged '
          'frames: %s): %s.' % (', '.join('%s=%s' % kv for kv in bridgeNf.items()) or 'no br_netfilter',
                                '; '.join(refLine) or 'no figures'))
    idleCpu = idleReport(runs, summary, rats, args)
    for line in idleCpu.pop('lines'):
        print(line)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    report = {
        'bench': 'mininet',
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'machine': {'cpus': os.cpu_count(), 'kernel': platform.release(), 'loadavgBefore': load0,
                    'loadavgAfter': os.getloadavg(), 'bridgeNetfilter': bridgeNf},
        'config': {'reps': args.reps, 'iperfSeconds': args.seconds, 'udpPayloadBytes': args.udp_len,
                   'udpFrameBytes': args.udp_len + 8 + 20 + 14 + 4, 'pings': PINGS, 'pingIntervalS': 0.05,
                   'idleTopology': IDLE_TOPOLOGY, 'idleVariants': list(IDLE_VARIANTS),
                   'idleSettleSeconds': args.idle_settle, 'idleSeconds': args.idle_seconds,
                   'path': 'h1 -> h3 (named bh1 -> bh3)', 'controller': 'tinflow controller, learning app, idle timeout 0',
                   'variants': {v: {'label': VARIANTS[v]['label'], 'hostsTxOff': VARIANTS[v]['txOff'],
                                    'switch': VARIANTS[v]['switch'], 'switchParams': VARIANTS[v]['switchParams'],
                                    'controller': VARIANTS[v].get('controller', 'tinflow')}
                                for v in variants},
                   'reference': REFERENCE},
        'runs': runs,
        'summary': summary,
        'ratios': rats,
        'linuxBridgeOverOvs': refRats,
        'tcpTarget': {'tinflowOverOvs': TCP_TARGET, 'met': {t: rats[t]['tcpMbps']['tinflowOverOvs'] >= TCP_TARGET
                                                            for t in rats}},
        'idleCpu': idleCpu,
        'ovsEarlierMbps': OVS_EARLIER,
        'elapsedSeconds': round(elapsed, 1),
    }
    with open(args.out + '.json', 'w') as f:
        json.dump(report, f, indent=2)
        f.write('\n')
    if summary:
        chart(args.out + '.png', summary, rats, variants, args.reps, args.seconds)
    print('bench: %.0f s; wrote %s.json and %s.png' % (elapsed, os.path.relpath(args.out, REPO), os.path.relpath(args.out, REPO)))
    if failed:
        print('bench: some runs failed; logs %s' % logDir)
        return 1
    if not args.keep_logs:
        shutil.rmtree(logDir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
