#!/usr/bin/env bash
# The whole test suite: unit + integration tests, built twice — a normal build, then with
# AddressSanitizer + UndefinedBehaviorSanitizer — each run under ctest. Installs what is missing.
#   scripts/test.sh            both builds
#   TURNOUT_TEST_FAST=1 ...    only the normal build
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

run_suite() {  # name, cmake flags...
  local dir=build-$1; shift
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j 2 --timeout 600)
}

if [ "${TURNOUT_TEST_FAST:-0}" != 1 ]; then
  run_suite release -DTURNOUT_BENCH=OFF
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite asan -DTURNOUT_SANITIZE=ON -DTURNOUT_BENCH=OFF
else
  run_suite release -DTURNOUT_BENCH=OFF
fi
