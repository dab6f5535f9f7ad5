#!/usr/bin/env bash
# Run every benchmark once, in turn, and print their figures (see bench/README.md).
# Each bench is bounded in requests and time and stops its own servers; `timeout` is a backstop.
# The Redis database is BENCH_REDIS_URL (default redis://127.0.0.1:6379/8): it is FLUSHED.
# --skip-sim leaves out sim_speed.py (a simulated day of 3,000 calls: several minutes).
set -uo pipefail
skip_sim=0
for arg in "$@"; do
    case $arg in
        --skip-sim) skip_sim=1 ;;
        *) echo "usage: $0 [--skip-sim]" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ)  commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "== nproc $(nproc)  cpu$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)  load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== redis ${BENCH_REDIS_URL:-redis://127.0.0.1:6379/8}"

failed=()
run() {
    local name=$1 limit=$2
    shift 2
    echo
    echo "== bench/$name.py $*"
    if ! timeout "$limit" "$PY" "bench/$name.py" "$@"; then
        failed+=("$name")
    fi
}

run webhooks 300
run flat_cost 600
run round_trips 120
run memory 600
run durability 300
run dead_advisor 300
if [ "$skip_sim" = 0 ]; then
    run sim_speed 1200
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "== did not finish: ${failed[*]}"
    exit 1
fi
echo "== all benchmarks ran"
