#!/usr/bin/env bash
# `npm run demo` on a fresh clone (package.json: "demo": "bash scripts/demo.sh"): what has to happen before
# the compiled `tinflow demo` can run, then the demo itself with the arguments given
# (`npm run demo -- --nodes 6 --no-web`). Each step runs only when needed and says so:
#   - a compiler for the TAP addon (node-gyp needs make, g++ and python3): apt-get install when missing;
#   - npm ci, when node_modules is missing or older than package-lock.json;
#   - the build (npm run build: the addon and tsc), when dist/ or the addon is missing or a source is newer.
# `tinflow demo` then installs the apt packages the overlay lab uses (prosody, coturn, ...) itself.
# Root is checked first: the demo needs it, and finding out after a build would waste the build.
set -u
cd "$(dirname "$0")/.."

fail() {
  echo "demo: $1" >&2
  exit 1
}

if [ "$(id -u)" != 0 ]; then
  echo "demo: must run as root (it makes network namespaces, NAT routers and TAP devices): try \"sudo npm run demo\"" >&2
  exit 2
fi
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (Node 20 or later)"

missing=()
for tool in make g++ python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} (needed to build the TAP addon) and no apt-get to install them"
  echo "== installing ${missing[*]} (apt-get install -y: the TAP addon is compiled with them)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]} failed"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci (node_modules is missing or older than package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed (its output is above)"
fi

SOURCES=(base openflow switch controller link overlay scripts bench test/tools)
stale=
if [ ! -f dist/scripts/cli.js ] || [ ! -f switch/portio/build/Release/portio.node ]; then
  stale="dist/ or the TAP addon is missing"
elif [ -n "$(find "${SOURCES[@]}" -name '*.ts' ! -name '*.test.ts' -newer dist/scripts/cli.js -print -quit)" ] ||
  [ -n "$(find switch/portio/src switch/portio/binding.gyp -newer switch/portio/build/Release/portio.node -print -quit)" ]; then
  stale="a source is newer than dist/"
fi
if [ -n "$stale" ]; then
  echo "== npm run build ($stale)"
  npm run --silent build || fail "the build failed (its output is above)"
fi

exec node scripts/tinflow demo "$@"
