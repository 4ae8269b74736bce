#!/usr/bin/env bash
# The whole test suite: unit + integration tests, built twice — a normal build, then with
# AddressSanitizer + UndefinedBehaviorSanitizer — each run under ctest. Installs what is missing.
#   scripts/test.sh            both builds
#   TURNOUT_TEST_FAST=1 ...    only the normal build
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

run_suite() {  # name, ctest filter ("" = all), cmake flags...
  local dir=build-$1 filter=$2; shift 2
  echo "=== $dir ==="
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTURNOUT_BENCH=OFF "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j 2 --timeout 600 ${filter:+-R "$filter"})
}

run_suite release ""
if [ "${TURNOUT_TEST_FAST:-0}" != 1 ]; then
  # ThreadSanitizer, opt-in (TURNOUT_TEST_TSAN=1): the tests where threads meet (worker inboxes,
  # table publication, counters).
  if [ "${TURNOUT_TEST_TSAN:-0}" = 1 ]; then
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    run_suite tsan 'unit_net|unit_route|integration_(workers|remap_under_load|admin_map_unmap|upgrade)' -DTURNOUT_TSAN=ON
  fi
  # AddressSanitizer + UndefinedBehaviorSanitizer: everything (its ctest summary ends the output).
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite asan "" -DTURNOUT_SANITIZE=ON
fi
