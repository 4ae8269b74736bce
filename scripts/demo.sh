#!/usr/bin/env bash
# Quick start: install dependencies, build, start the demo app servers and run turnout on
# conf/turnout.yaml in the foreground (Ctrl-C stops everything).
#   example  -> 127.0.0.1:9001, 127.0.0.1:9002
#   example2 -> 127.0.0.1:9101
# Then, in another terminal:
#   curl -H 'Host: example.com' localhost:8080/
#   build/turnout ctl map example2 example.com
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target turnout turnout-backend
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for spec in example:9001 example:9002 example2:9101; do
  build/bench/turnout-backend --name "${spec%%:*}" --listen "127.0.0.1:${spec##*:}" &
  pids+=($!)
done
build/turnout run -c conf/turnout.yaml &
pids+=($!)
turnout_pid=$!
for _ in $(seq 50); do
  curl -fsS -H 'Host: example.com' localhost:8080/ >/dev/null 2>&1 && break
  sleep 0.1
done
echo
echo "turnout is up:  curl -H 'Host: example.com' localhost:8080/"
curl -sS -H 'Host: example.com' localhost:8080/ || true
echo "admin:          build/turnout ctl routes   (socket ./turnout.sock)"
echo
trap 'kill -TERM $turnout_pid 2>/dev/null; wait $turnout_pid; cleanup' INT TERM
wait "$turnout_pid"
