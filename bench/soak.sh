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
. bench/common.sh

bench_install wrk:wrk gnuplot:gnuplot-nox taskset:util-linux
bench_build turnout turnout-backend
export SOAK_VIA_SH=1
bench_python bench/soak.py --build "$BUILD_DIR" "$@"
