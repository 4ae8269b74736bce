#!/usr/bin/env bash
# Quick start: install dependencies, build, start the demo app servers and run turnout on
# conf/turnout.yaml in the foreground (Ctrl-C stops everything).
#   example  -> 127.0.0.1:9001, 127.0.0.1:9002
#   example2 -> 127.0.0.1:9101
# Then, in another terminal:
#   curl -H 'Host: example.com' localhost:8080/
#   build/turnout ctl map example2 example.com
#   build/turnout upgrade          (the demo keeps running on the new process)
# TURNOUT_DEMO_NO_BUILD=1 skips the dependency check and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${TURNOUT_DEMO_NO_BUILD:-0}" != 1 ]; then
  scripts/install-deps.sh
  launcher=()  # ccache where installed (see scripts/test.sh)
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
  cmake --build build -j "$(nproc)" --target turnout turnout-backend
fi
app_pids=()
turnout_pid=
stop_apps() { for p in "${app_pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_apps EXIT
for spec in example:9001 example:9002 example2:9101; do
  build/bench/turnout-backend --name "${spec%%:*}" --listen "127.0.0.1:${spec##*:}" &
  app_pids+=($!)
done
build/turnout run -c conf/turnout.yaml &
turnout_pid=$!
for _ in $(seq 50); do
  curl -fsS -H 'Host: example.com' localhost:8080/ >/dev/null 2>&1 && break
  sleep 0.1
done
echo
echo "turnout is up:  curl -H 'Host: example.com' localhost:8080/"
curl -sS -H 'Host: example.com' localhost:8080/ || true
echo "admin:          build/turnout ctl routes   (unix socket ./turnout.sock: no token)"
if [ -s turnout.token ]; then
  echo "admin over TCP: curl -H \"Authorization: Bearer \$(cat turnout.token)\" http://127.0.0.1:9901/v1/routes"
  echo "                build/turnout ctl -c conf/turnout.yaml -s http://127.0.0.1:9901 routes"
  echo "status page:    http://127.0.0.1:9901/#token=$(cat turnout.token)"
fi
echo

# The pid serving now: after `turnout upgrade` the process we started hands over to a new one
# (its child, not ours) and exits, so follow whoever answers the admin socket.
serving_pid() { build/turnout ctl -s ./turnout.sock status --json 2>/dev/null | grep -o '"pid":[0-9]*' | cut -d: -f2; }
stop_turnout() {  # SIGTERM drains; the app servers stop once it has finished
  local pid
  pid=$(serving_pid || true)
  pid=${pid:-$turnout_pid}
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
}
trap 'stop_turnout; exit 130' INT TERM
wait "$turnout_pid" || true
# Stop the demo (and its app servers) only when no turnout serves any more, not when the first
# one merely drained after an upgrade.
while pid=$(serving_pid) && [ -n "$pid" ]; do
  echo "demo: turnout now runs as pid $pid (upgraded); app servers keep running"
  while kill -0 "$pid" 2>/dev/null; do sleep 1; done
done
