#!/usr/bin/env bash
# turnout soak benchmark (issue #5, item 9; not CI). Documented in bench/README.md (## Soak).
#
#   bench/soak.sh                    10 min of mixed load (wrk, client aborts, backend kills, remaps)
#   bench/soak.sh --quick            120 s (warm-up 24 s), to check the setup
#   bench/soak.sh --duration 300     any length; bench/soak.py --help lists every option
#   NO_BUILD=1 bench/soak.sh         use the binaries already in $BUILD_DIR (skip the build)
#
# Installs what is missing from Debian (build deps, wrk, gnuplot-nox, python3), builds turnout and
# turnout-backend in $BUILD_DIR (default build-bench, Release), then runs bench/soak.py. Everything
# runs on 127.0.0.1 from a temp dir. Results: bench/results/soak.{md,json,png}. Exit status 0 = PASS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
JOBS=${JOBS:-2}

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

scripts/install-deps.sh
want=()
command -v wrk >/dev/null || want+=(wrk)
command -v gnuplot >/dev/null || want+=(gnuplot-nox)
[ -x /usr/bin/python3 ] || want+=(python3)
command -v taskset >/dev/null || want+=(util-linux)
if [ ${#want[@]} -gt 0 ]; then
  echo "installing: ${want[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# NO_BUILD=1 soaks the binaries already in $BUILD_DIR (e.g. while the tree is mid-edit).
if [ "${NO_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTURNOUT_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target turnout turnout-backend
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SOAK_VIA_SH=1 exec "$PY" bench/soak.py --build "$BUILD_DIR" "$@"
