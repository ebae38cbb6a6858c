#!/usr/bin/python3
"""Runs the Mininet scenarios (scenarios.py) and prints one line per scenario, then

    mininet: N passed, M failed

(the line scripts/test.sh reads); exits non-zero when any failed. Needs root, Debian's /usr/bin/python3
(it has Mininet), a built tinflow (npm run build), node on PATH, Open vSwitch (started here when not
running, and stopped again at the end), osken-manager, iperf3, ethtool, telnet.

    /usr/bin/python3 mininet/run.py [-k SUBSTRING ...] [--shared] [--list] [--keep-logs] [-v]

--shared runs every tinflow switch of a network as a bridge of one `tinflow switch` process
(TinflowSwitch(shared=True)) instead of one process per switch; the lines say "[shared]".

Logs (switches, controllers, os-ken, tracebacks) go to a temporary folder, removed when everything passed
unless --keep-logs. SIGTERM and SIGINT stop the network being tested before exiting; what a crashed run
leaves behind is removed by the next one (lab.Janitor).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ inside the repository's mininet/ folder

from mininet.log import setLogLevel  # noqa: E402 (after the line above)

import lab  # noqa: E402
import scenarios  # noqa: E402
from tinflow import tinflowCommand  # noqa: E402

OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl'
TOOLS = ('iperf3', 'ethtool', 'telnet', 'ovs-vsctl', 'ss', lab.OSKEN_MANAGER)


def scenarioContext(ctx, index, name):
    "The run's context with a log folder for one scenario."
    return ctx.sub('%02d-%s' % (index, re.sub(r'[^a-z0-9]+', '-', name.lower())[2:26].strip('-')))


def preflight():
    "Problems that make every scenario fail, as sentences (empty when all is well)."
    problems = []
    if os.geteuid() != 0:
        problems.append('Mininet needs root')
    for tool in TOOLS:
        if not shutil.which(tool):
            problems.append('%s is not installed' % tool)
    try:
        tinflowCommand()
    except RuntimeError as e:
        problems.append(str(e))
    return problems


def ovsRunning():
    return subprocess.call(['ovs-vsctl', '-t', '5', 'show'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def main():
    ap = argparse.ArgumentParser(description='Runs the tinflow Mininet scenarios.')
    ap.add_argument('-k', action='append', default=[], metavar='SUBSTRING', help='only scenarios whose name contains it')
    ap.add_argument('--list', action='store_true', help='list the scenarios and exit')
    ap.add_argument('--keep-logs', action='store_true', help='keep the log folder even when everything passed')
    ap.add_argument('--iperf-seconds', type=int, default=2)
    ap.add_argument('--shared', action='store_true', help='tinflow switches of a network as bridges of one process')
    ap.add_argument('-v', action='store_true', help="Mininet's info output")
    args = ap.parse_args()
    if args.shared:
        lab.TINFLOW_DEFAULTS['shared'] = True
    mode = ' [shared]' if args.shared else ''

    chosen = [s for s in scenarios.allScenarios() if not args.k or any(k in s.name for k in args.k)]
    if args.list:
        for s in chosen:
            print(s.name)
        return 0
    setLogLevel('info' if args.v else 'warning')

    lab.raiseOnSigterm()

    problems = preflight()
    startedOvs = False
    noOvs = None
    if not problems and any(s.needsOvs for s in chosen) and not ovsRunning():
        print('mininet: starting Open vSwitch', flush=True)
        subprocess.call([OVS_CTL, 'start', '--system-id=random'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        startedOvs = ovsRunning()
        if not startedOvs:
            noOvs = 'Open vSwitch does not start (%s start)' % OVS_CTL
            print('mininet: %s: the scenarios with OVS fail' % noOvs)
    if problems:
        for p in problems:
            print('mininet: %s' % p)
        print('mininet: 0 passed, %d failed' % len(chosen))
        return 1

    logDir = tempfile.mkdtemp(prefix='tinflow-mininet-')
    passed = failed = 0
    began = time.monotonic()
    try:
        with lab.Janitor() as janitor:
            ctx = lab.Context(logDir, lab.PortPool(), janitor, args.iperf_seconds)
            for index, sc in enumerate(chosen, 1):
                t0 = time.monotonic()
                try:
                    if sc.needsOvs and noOvs:
                        raise lab.LabError(noOvs)
                    summary = sc.run(scenarioContext(ctx, index, sc.name))
                    left = janitor.leftovers()
                    if left:
                        raise lab.LabError('left behind: %s' % ', '.join(left))
                    ok, detail = True, summary
                except (Exception, KeyboardInterrupt, lab.Terminated) as e:  # pylint: disable=broad-except
                    ok, detail = False, '%s: %s' % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else '')
                    with open(os.path.join(logDir, 'failures.txt'), 'a') as f:
                        f.write('== %s\n%s\n' % (sc.name, traceback.format_exc()))
                    if not isinstance(e, Exception):
                        print('FAIL %5.1fs  %s: %s' % (time.monotonic() - t0, sc.name, detail), flush=True)
                        failed += 1
                        raise
                finally:
                    janitor.sweep()
                if ok:
                    passed += 1
                else:
                    failed += 1
                print('%s %5.1fs  %s%s: %s' % ('PASS' if ok else 'FAIL', time.monotonic() - t0, sc.name, mode, detail), flush=True)
    except (KeyboardInterrupt, lab.Terminated):
        print('mininet: interrupted')
    except lab.LabError as e:  # the janitor's lock: another run is in progress
        print('mininet: %s' % e)
        failed += 1
    finally:
        if startedOvs:
            subprocess.call([OVS_CTL, 'stop'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    skipped = len(chosen) - passed - failed
    failed += skipped
    print('mininet: %.0f s; logs %s' % (time.monotonic() - began, logDir if failed or args.keep_logs else '(removed)'))
    if not failed and not args.keep_logs:
        shutil.rmtree(logDir, ignore_errors=True)
    print('mininet: %d passed, %d failed' % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
