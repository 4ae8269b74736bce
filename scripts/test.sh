#!/usr/bin/env bash
# The whole test suite. Installs what is missing, then:
#   1. a normal build: every unit and integration test under ctest; the bench/ tools and
#      micro-benchmarks are built too (not run), so they cannot rot;
#   2. the libFuzzer targets (clang): the seed corpora replayed, then each target fuzzed for a
#      bounded time (FUZZ_SECONDS, default 15 s per target);
#   3. ThreadSanitizer: every test (nearly every one starts threads: turnout's workers, the
#      reclaimer, the log writer, the health checker, the harness's backends);
#   4. AddressSanitizer + UndefinedBehaviorSanitizer: every test, LeakSanitizer included (the
#      integration harness ends each turnout with SIGTERM and fails on a report or a non-zero
#      exit); its ctest summary ends the output.
#
#   scripts/test.sh            all of it
#   TURNOUT_TEST_FAST=1 ...    only the normal build
#   TURNOUT_TEST_FUZZ=0 ...    skip the fuzzing step
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
# ccache, where installed, makes a rebuild in another checkout or build directory cheap; a fresh
# machine without it builds everything once, as before.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

run_suite() {  # name, ctest filter ("" = all), build targets ("" = all), cmake flags...
  local dir=build-$1 filter=$2 targets=$3; shift 3
  echo "=== $dir ==="
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTURNOUT_BENCH=OFF "${launcher[@]}" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" ${targets:+--target $targets}
  (cd "$dir" && ctest --output-on-failure -j 2 --timeout 600 ${filter:+-R "$filter"})
}

run_suite release "" "" -DTURNOUT_BENCH=ON
if [ "${TURNOUT_TEST_FAST:-0}" != 1 ]; then
  if [ "${TURNOUT_TEST_FUZZ:-1}" != 0 ]; then
    echo "=== fuzz ==="
    scripts/fuzz.sh --regress
    FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh
  fi

  (
    # tests/tsan.supp: descriptor-reuse false positives from libuv's unseen close (see the file).
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$(pwd)/tests/tsan.supp"
    run_suite tsan "" "" -DTURNOUT_TSAN=ON
  )

  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite asan "" "" -DTURNOUT_SANITIZE=ON
fi
