# Shared set-up of the benchmark scripts (bench/run.sh, bench/soak.sh); sourced, not run.
#
#   bench_install TOOL:PACKAGE ...   installs the build dependencies, then each PACKAGE from Debian
#                                    whose TOOL is not on PATH (sbin included)
#   bench_build TARGET ...           configures $BUILD_DIR (Release, no tests) and builds TARGETs,
#                                    unless NO_BUILD=1 (use the binaries already there)
#   bench_python SCRIPT ARGS ...     raises the open-file limit and execs SCRIPT with python3
BUILD_DIR=${BUILD_DIR:-build-bench}
JOBS=${JOBS:-2}
export PATH="$PATH:/usr/sbin:/sbin"

bench_install() {
  local sudo="" want=() pair
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  scripts/install-deps.sh
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || want+=("${pair#*:}")
  done
  [ -x /usr/bin/python3 ] || want+=(python3)
  if [ ${#want[@]} -gt 0 ]; then
    echo "installing: ${want[*]}"
    $sudo apt-get update -qq
    # RUNLEVEL=1: invoke-rc.d then does not start packaged services (nginx, haproxy).
    $sudo env RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${want[@]}" >/dev/null
  fi
}

bench_build() {
  if [ "${NO_BUILD:-0}" != 1 ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTURNOUT_TESTS=OFF >/dev/null
    cmake --build "$BUILD_DIR" -j "$JOBS" --target "$@"
  fi
}

bench_python() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  local py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  exec "$py" "$@"
}
