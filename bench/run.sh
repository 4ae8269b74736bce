#!/usr/bin/env bash
# turnout vs nginx vs HAProxy in one run (issue #4). Documented in bench/README.md.
#
#   bench/run.sh                 full suite (~17 min): 3 rounds, 10 s per wrk run, remaps 20 s
#   bench/run.sh --quick         smoke run (~6 min): 3 s per wrk run, remaps 6 s
#   bench/run.sh --profile ...   also profile turnout in (a) and (b) -> bench/results/profile.md
#   bench/run.sh --scenarios ab  only some scenarios; bench/bench.py --help lists every option
#   NO_BUILD=1 bench/run.sh      skip the build and measure the binaries already built
#
# Installs what is missing from Debian (build deps, nginx-light, haproxy, wrk, gnuplot-nox,
# python3; linux-perf with --profile), builds turnout and the bench tools in $BUILD_DIR
# (default build-bench, Release), then runs bench/bench.py. Everything runs on 127.0.0.1 from a
# temp dir; nginx and HAProxy are started by hand, never as services.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
JOBS=${JOBS:-2}

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# Build dependencies (idempotent), then the benchmark's tools, by the command they provide, so
# an nginx already installed from another package counts.
scripts/install-deps.sh
want=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || want+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || want+=(haproxy)
command -v wrk >/dev/null || want+=(wrk)
command -v gnuplot >/dev/null || want+=(gnuplot-nox)
[ -x /usr/bin/python3 ] || want+=(python3)
command -v taskset >/dev/null || want+=(util-linux)
case " $* " in *" --profile "*) command -v perf >/dev/null || want+=(linux-perf) ;; esac
if [ ${#want[@]} -gt 0 ]; then
  echo "installing: ${want[*]}"
  $SUDO apt-get update -qq
  # RUNLEVEL=1: invoke-rc.d then does not start the packaged nginx/haproxy services.
  $SUDO env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

# NO_BUILD=1 measures the binaries already in $BUILD_DIR (e.g. while the tree is mid-edit).
if [ "${NO_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTURNOUT_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target turnout turnout-backend idle_clients remap_bench
fi

# 10,000 idle clients need the open-file limit raised in this shell (bench.py raises it to the
# hard limit too, and uses fewer connections if the hard limit is lower).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" bench/bench.py --build "$BUILD_DIR" "$@"
