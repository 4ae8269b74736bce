#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang and runs each for a bounded time.
#
#   scripts/fuzz.sh [TARGET...]        run request, response, config, admin, admin_http, state, tls, h2
#                                      (default: all)
#   scripts/fuzz.sh --regress [TARGET...]
#                                      only replay the seed corpora (seconds; a CI smoke test)
#
# Environment:
#   FUZZ_SECONDS=60         time per target
#   FUZZ_BUILD_DIR=build-fuzz
#   FUZZ_BUILD_JOBS=2       parallel compile jobs
#   FUZZ_TIMEOUT=10         seconds one input may take before it counts as a hang
#   FUZZ_ARGS=""            extra libFuzzer flags (e.g. "-jobs=2 -workers=2")
#   TURNOUT_FUZZ_KNOWN=""   comma-separated ids of reported findings whose checks are skipped
#
# Each target keeps a growing corpus in $FUZZ_BUILD_DIR/fuzz/corpus/<target> (the committed seeds
# in tests/fuzz/corpus/<target> are read, never written), crash inputs in
# $FUZZ_BUILD_DIR/fuzz/artifacts/<target>/ and its log in $FUZZ_BUILD_DIR/fuzz/<target>.log.
# Exits 1 if any target crashed, hung, leaked or broke an invariant; prints a summary either way.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

regress=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --regress) regress=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    request|response|config|admin|admin_http|state|tls|h2) targets+=("$arg") ;;
    *) echo "fuzz.sh: unknown target or option '$arg'" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -eq 0 ] && targets=(request response config admin admin_http state tls h2)

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
work="$build/fuzz"

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2
  exit 2
fi

echo "== building fuzz targets in $build"
launcher=()  # ccache where installed (see scripts/test.sh)
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DTURNOUT_FUZZ=ON -DTURNOUT_TESTS=OFF \
  -DTURNOUT_BENCH=OFF "${launcher[@]}" >/dev/null || exit 2
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$build" --target "${build_targets[@]}" -j "${FUZZ_BUILD_JOBS:-2}" || exit 2

dict_for() {
  case "$1" in
    request|response|admin_http|tls|h2) echo "$root/tests/fuzz/http.dict" ;;
    config) echo "$root/tests/fuzz/yaml.dict" ;;
    admin|state) echo "$root/tests/fuzz/json.dict" ;;
  esac
}
max_len_for() {
  case "$1" in
    config) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t"
  corpus="$work/corpus/$t"
  artifacts="$work/artifacts/$t/"
  log="$work/$t.log"
  mkdir -p "$corpus" "$artifacts"
  args=(-timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len="$(max_len_for "$t")"
        -dict="$(dict_for "$t")" -artifact_prefix="$artifacts" -print_final_stats=1)
  if [ "$regress" = 1 ]; then
    echo "== $t: replaying seeds"
    "$bin" "${args[@]}" -runs=0 "$seeds" >"$log" 2>&1
  else
    echo "== $t: fuzzing for ${seconds}s (log: $log)"
    # shellcheck disable=SC2086
    "$bin" "${args[@]}" -max_total_time="$seconds" ${FUZZ_ARGS:-} "$corpus" "$seeds" >"$log" 2>&1
  fi
  rc=$?
  # Figures from libFuzzer's last status line and its final stats.
  last=$(grep -E '^#[0-9]+[[:space:]]+(INITED|NEW|REDUCE|pulse|DONE|RELOAD)' "$log" | tail -n 1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$last")
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  status=ok
  if [ $rc -ne 0 ]; then
    status="FAILED (exit $rc)"
    failed=1
    echo "---- $t failed; crash report:"
    grep -E -A40 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|FUZZ INVARIANT BROKEN' \
      "$log" | head -n 60
    grep -E 'Test unit written to' "$log" | sed 's/^/    /'
    echo "---- reproduce: $bin <input>   (minimise: $bin -minimize_crash=1 -runs=10000 <input>)"
  fi
  summary+=("$(printf '%-11s %-18s execs=%-10s exec/s=%-7s cov=%-6s ft=%-7s corpus=%s' \
    "$t" "$status" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
done

echo
echo "== fuzz summary ($([ "$regress" = 1 ] && echo "seed replay" || echo "${seconds}s per target"))"
for line in "${summary[@]}"; do echo "  $line"; done
exit $failed
