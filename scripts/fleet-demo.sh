#!/usr/bin/env bash
# Fleet mode demo: one etcd, two demo app servers and three turnout instances sharing one route
# table under the etcd prefix /turnout/ (README "Fleet mode"). Ctrl-C stops everything.
#   etcd     -> http://127.0.0.1:23379 (data in a temp dir, removed at the end)
#   example  -> 127.0.0.1:9001         example2 -> 127.0.0.1:9101
#   edge-1/2/3: proxy 127.0.0.1:8081/8082/8083, admin TCP 127.0.0.1:9911/9912/9913, admin socket
#   in the temp dir (printed at start)
# edge-1 starts first and seeds etcd from its file; edge-2 and edge-3 adopt etcd's table.
# TURNOUT_DEMO_NO_BUILD=1 skips the dependency check and the build. The ports move with
# FLEET_DEMO_ETCD_PORT (peer: FLEET_DEMO_ETCD_PEER_PORT), FLEET_DEMO_PROXY_BASE (instance i
# listens on base+i), FLEET_DEMO_ADMIN_BASE (admin TCP on base+i) and FLEET_DEMO_APP_PORTS
# ("9001 9101": example's and example2's).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
etcd_port=${FLEET_DEMO_ETCD_PORT:-23379}
etcd_peer_port=${FLEET_DEMO_ETCD_PEER_PORT:-23380}
etcd_url=http://127.0.0.1:$etcd_port
proxy_base=${FLEET_DEMO_PROXY_BASE:-8080}
admin_base=${FLEET_DEMO_ADMIN_BASE:-9910}
read -r example_port example2_port <<<"${FLEET_DEMO_APP_PORTS:-9001 9101}"

if [ "${TURNOUT_DEMO_NO_BUILD:-0}" != 1 ]; then
  scripts/install-deps.sh
  launcher=()  # ccache where installed (see scripts/test.sh)
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
  cmake --build build -j "$(nproc)" --target turnout turnout-backend
fi
for tool in etcd etcdctl curl; do
  command -v "$tool" >/dev/null || { echo "fleet-demo: $tool is required (apt-get install etcd-server etcd-client curl)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/turnout-fleet-demo-XXXXXX)
pids=()           # app servers and etcd, stopped last
turnout_pids=()   # the three instances, stopped first (SIGTERM drains them)
etcd_pid=
cleanup() {
  trap - EXIT INT TERM
  for p in "${turnout_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${turnout_pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  [ -n "$etcd_pid" ] && kill -CONT "$etcd_pid" 2>/dev/null || true  # in case it was left SIGSTOPped
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo; echo "fleet-demo: stopping"; exit 130' INT TERM

# etcd: a single member on loopback, its data in the temp dir.
etcd --name fleet-demo --data-dir "$dir/etcd" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "fleet-demo=http://127.0.0.1:$etcd_peer_port" \
  --log-level error --logger zap >"$dir/etcd.log" 2>&1 &
etcd_pid=$!
pids+=("$etcd_pid")
for _ in $(seq 100); do
  curl -fsS "$etcd_url/health" 2>/dev/null | grep -q '"health":"true"' && break
  kill -0 "$etcd_pid" 2>/dev/null || { echo "fleet-demo: etcd exited:" >&2; cat "$dir/etcd.log" >&2; exit 1; }
  sleep 0.1
done

for spec in "example:$example_port" "example2:$example2_port"; do
  build/bench/turnout-backend --name "${spec%%:*}" --listen "127.0.0.1:${spec##*:}" &
  pids+=($!)
done

# One config per instance: only the listeners, the admin endpoints and the instance name differ.
# The table in it is what edge-1 seeds etcd with; the others' copy is not used (etcd wins).
for i in 1 2 3; do
  cat >"$dir/edge-$i.yaml" <<EOF
listen: ["127.0.0.1:$((proxy_base + i))"]
workers: 2
admin:
  socket: $dir/edge-$i.sock
  http: 127.0.0.1:$((admin_base + i))
  token_file: $dir/edge-$i.token
access_log: off
table_source:
  etcd:
    endpoints: ["$etcd_url"]
    prefix: /turnout/
    instance: edge-$i
apps:
  example:  { servers: ["127.0.0.1:$example_port"] }
  example2: { servers: ["127.0.0.1:$example2_port"] }
routes:
  example.com: [example]
  www.example.com: [example]
default_app: null
EOF
done

start_instance() {  # start_instance N: runs edge-N and waits until it proxies
  local i=$1
  "$root/build/turnout" run -c "$dir/edge-$i.yaml" >"$dir/edge-$i.log" 2>&1 &
  local pid=$!
  turnout_pids+=("$pid")
  for _ in $(seq 100); do
    curl -fsS -o /dev/null -H 'Host: example.com' "localhost:$((proxy_base + i))/" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "fleet-demo: edge-$i did not come up; its log:" >&2
  cat "$dir/edge-$i.log" >&2
  exit 1
}
start_instance 1  # seeds the empty prefix
start_instance 2
start_instance 3

ctl="build/turnout ctl"
p1=$((proxy_base + 1)) p2=$((proxy_base + 2)) p3=$((proxy_base + 3))
cat <<EOF

turnout fleet is up: three instances share the table under /turnout/ in etcd ($etcd_url).
  edge-1  proxy localhost:$p1  admin $ctl -s $dir/edge-1.sock   (TCP 127.0.0.1:$((admin_base + 1)), token in $dir/edge-1.token)
  edge-2  proxy localhost:$p2  admin $ctl -s $dir/edge-2.sock   (TCP 127.0.0.1:$((admin_base + 2)))
  edge-3  proxy localhost:$p3  admin $ctl -s $dir/edge-3.sock   (TCP 127.0.0.1:$((admin_base + 3)))
  logs in $dir

Try, in another terminal:
  for p in $p1 $p2 $p3; do curl -s -H 'Host: example.com' localhost:\$p/; done
  $ctl -s $dir/edge-1.sock map example2 example.com       # one change, on edge-1...
  for p in $p1 $p2 $p3; do for i in 1 2 3 4; do curl -s -H 'Host: example.com' localhost:\$p/; done; done   # ...routed by all three
  $ctl -s $dir/edge-3.sock unmap example example.com      # any instance takes changes: now only example2
  $ctl -s $dir/edge-2.sock fleet                          # the instances and the version each applied
  $ctl -s $dir/edge-2.sock rollback
  etcdctl --endpoints=$etcd_url get --prefix /turnout/      # the shared table
  kill -STOP $etcd_pid    # etcd hung: instances keep proxying, changes answer 503 ("table_source": "disconnected")
  kill -CONT $etcd_pid    # they reconnect; changes work again

Ctrl-C stops everything.
EOF

# Runs until Ctrl-C, or until an instance dies.
while :; do
  for i in 0 1 2; do
    if ! kill -0 "${turnout_pids[$i]}" 2>/dev/null; then
      echo "fleet-demo: edge-$((i + 1)) exited; its log:" >&2
      tail -n 20 "$dir/edge-$((i + 1)).log" >&2
      exit 1
    fi
  done
  sleep 1
done
