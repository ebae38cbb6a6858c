#!/usr/bin/env bash
# What a newcomer does, checked from a clean clone (issue 14): clones this repository's HEAD into a temp
# folder, runs there `npm run demo -- --duration 60 --no-web` and the README's test command
# (`bash scripts/test.sh`, which CI runs through .ci/run), and prints one line per step, PASS or FAIL,
# with the tail of the step's log when it failed. Exit status 0 when every step passed. Run as root, as
# the demo and the tests need; the test suite takes about 10 minutes.
#
#   --worktree   copy the working tree instead of cloning HEAD: the files git sees (HEAD, uncommitted
#                changes, new files not ignored), for a check before committing
#   --no-tests   run the demo only
#   --keep       keep the temp folder (the copy and each step's log) and say where it is
#
# The tests read ../shared/ryu-of13 beside the clone: the temp folder gets a link to this repository's
# ../shared. The demo removes what it makes; the temp folder is removed at the end (unless --keep).
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
worktree=0
tests=1
keep=0
for a in "$@"; do
  case "$a" in
    --worktree) worktree=1 ;;
    --no-tests) tests=0 ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-fresh: unknown argument \"$a\" (--worktree, --no-tests, --keep)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "check-fresh: must run as root (the demo and the tests make namespaces and install packages)" >&2
  exit 2
fi

top=$(mktemp -d /tmp/tinflow-fresh-XXXXXX)
# mktemp makes it 0700; a clone anywhere else is readable by other users, and one test runs the addon as
# an unprivileged user (to show the permission error it gets), which must be able to load it.
chmod 755 "$top"
dir=$top/tinflow
cleanup() {
  if [ "$keep" = 1 ]; then echo "kept $top"; else rm -rf "$top"; fi
}
trap cleanup EXIT
[ -d "$repo/../shared" ] && ln -s "$(cd "$repo/../shared" && pwd)" "$top/shared"

failed=0
# step NAME LOG CHECK COMMAND...: runs COMMAND in the copy with its output in LOG; CHECK (a grep -E
# pattern, or '') must match the log as well as the command succeeding.
step() {
  local name=$1 log=$top/$2 check=$3
  shift 3
  local t0=$SECONDS rc
  (cd "$dir" && "$@") >"$log" 2>&1
  rc=$?
  local took=$((SECONDS - t0))
  if [ "$rc" = 0 ] && { [ -z "$check" ] || grep -Eq "$check" "$log"; }; then
    echo "PASS $name (${took} s)${check:+: $(grep -Em1 "$check" "$log")}"
  else
    failed=$((failed + 1))
    if [ "$rc" = 0 ]; then echo "FAIL $name: exit 0 but its log lacks /$check/ (${took} s)"; else echo "FAIL $name: exit $rc (${took} s)"; fi
    # The failing tests by name (vitest's and the Mininet runner's), then the end of the log.
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^ *(FAIL|×) ' | head -n 20 | sed 's/^/    /'
    tail -n 15 "$log" | sed 's/^/    /'
  fi
}

t0=$SECONDS
if [ "$worktree" = 1 ]; then
  mkdir "$dir"
  # Files deleted but not yet committed are still listed: tar skips them (--ignore-failed-read).
  if (cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$dir" -xf -; then
    echo "PASS copy of the working tree $repo ($((SECONDS - t0)) s)"
  else
    echo "FAIL copy of the working tree $repo"
    exit 1
  fi
else
  head=$(git -C "$repo" rev-parse HEAD) || { echo "FAIL clone: $repo is not a git repository"; exit 1; }
  if git clone -q --no-checkout "$repo" "$dir" && git -C "$dir" checkout -q "$head"; then
    echo "PASS clone of $repo at ${head:0:12} ($((SECONDS - t0)) s)"
  else
    echo "FAIL clone of $repo at ${head:0:12}"
    exit 1
  fi
fi

step "npm run demo -- --duration 60 --no-web" demo.log '^final all-pairs check: .* 0 % loss' npm run demo -- --duration 60 --no-web
if [ "$tests" = 1 ]; then
  step "bash scripts/test.sh (the README's test command)" tests.log '^[0-9]+ passed, 0 failed$' bash scripts/test.sh
fi
[ "$failed" = 0 ]
