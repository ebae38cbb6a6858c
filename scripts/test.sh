#!/usr/bin/env bash
# The whole test run, as CI runs it (README: "bash scripts/test.sh"): installs what the tests need on a
# fresh Debian/Ubuntu machine, builds, lints, type-checks, runs every test suite, and ends with one line
# "N passed, N failed". Exit status is non-zero when anything failed. Run as root (apt, namespaces).
set -u
cd "$(dirname "$0")/.."

# os-ken: codec cross-checks and switch tests; OVS: ovs-ofctl and the reference switch; mininet: the Mininet
# scenarios (mininet/run.py, under Debian's /usr/bin/python3); prosody, coturn, nftables: the NAT lab
# (scripts/natlab.ts: XMPP server, STUN/TURN server, NAT routers); tcpdump: looking at lab traffic;
# chromium: the web view's browser test (driven by playwright-core); the rest: namespaces, traffic
APT_PACKAGES=(python3-os-ken openvswitch-switch mininet iproute2 iputils-ping ethtool iperf3 openssl prosody coturn nftables tcpdump chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null || { echo "apt-get install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

# Open vSwitch daemons (userspace datapath only here): started when not running, stopped at the end
# only if this script started them.
OVS_CTL=/usr/share/openvswitch/scripts/ovs-ctl
started_ovs=0
ovs_failed=0
if ! ovs-vsctl -t 5 show >/dev/null 2>&1; then
  echo "== starting Open vSwitch"
  if "$OVS_CTL" start --system-id=random >/dev/null 2>&1 && ovs-vsctl -t 5 show >/dev/null 2>&1; then
    started_ovs=1
  else
    echo "!! could not start Open vSwitch: its tests are skipped and counted as one failure"
    ovs_failed=1
  fi
fi
cleanup() {
  if [ "$started_ovs" = 1 ]; then "$OVS_CTL" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=$ovs_failed
step() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "!! $name failed"; fi
}

step build npm run --silent build
step lint npm run --silent lint
step typecheck npm run --silent typecheck

echo "== tests"
rm -f test-results/vitest.json
npx vitest run
if [ -f test-results/vitest.json ]; then
  read -r tp tf < <(node -e '
    const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"));
    // A file that failed with no failed test (it did not load, or a beforeAll/afterAll hook threw and
    // vitest marked its tests skipped) counts as one failure too.
    const broken = r.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length;
    console.log(r.numPassedTests, r.numFailedTests + broken);')
  passed=$((passed + tp))
  failed=$((failed + tf))
else
  echo "!! vitest wrote no results"
  failed=$((failed + 1))
fi

# Mininet scenarios: one test each, run twice: one tinflow process per switch, then every switch a bridge
# of one shared process (--shared); each run ends with "mininet: N passed, M failed".
for mn_mode in per-switch shared; do
  echo "== mininet ($mn_mode)"
  mn_log=$(mktemp)
  mn_args=()
  [ "$mn_mode" = shared ] && mn_args=(--shared)
  /usr/bin/python3 mininet/run.py "${mn_args[@]}" 2>&1 | tee "$mn_log"
  mn_status=${PIPESTATUS[0]}
  mn_counts=$(sed -nE 's/^mininet: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$mn_log" | tail -n 1)
  rm -f "$mn_log"
  if [ -n "$mn_counts" ]; then
    read -r mp mf <<<"$mn_counts"
    passed=$((passed + mp))
    failed=$((failed + mf))
    # a runner that crashed after its summary line still counts as a failure
    if [ "$mn_status" -ne 0 ] && [ "$mf" -eq 0 ]; then failed=$((failed + 1)); fi
  else
    echo "!! the Mininet runner ($mn_mode) printed no summary (exit status $mn_status)"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
