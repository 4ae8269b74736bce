#!/usr/bin/env bash
# turnout vs nginx vs HAProxy in one run (issue #4). Documented in bench/README.md.
#
#   bench/run.sh                 full suite (~25-30 min): 5 rounds of (a)-(d), 3 of (e)-(g), 10 s per wrk run
#   bench/run.sh --quick         smoke run (~8 min): 3 s per wrk run, remaps 6 s
#   bench/run.sh --profile ...   also profile turnout in (a) and (b) -> bench/results/profile.md
#   bench/run.sh --scenarios ab  only some scenarios; bench/bench.py --help lists every option
#   bench/run.sh --scenarios hijk   the TLS scenarios (bench/tls_bench.py) -> bench/results/tls.md
#   bench/run.sh --scenarios l      HTTP/2 over TLS with h2load (bench/h2_bench.py) -> bench/results/h2.md
#   bench/run.sh --scenarios m      fleet mode: 3 instances + etcd, 100k routes (bench/fleet_bench.py) -> bench/results/fleet.md
#   NO_BUILD=1 bench/run.sh      skip the build and measure the binaries already built
#
# Installs what is missing from Debian (build deps, nginx-light, haproxy, wrk, gnuplot-nox, nghttp2-client,
# python3, etcd-server; linux-perf with --profile), builds turnout and the bench tools in $BUILD_DIR
# (default build-bench, Release), then runs bench/bench.py. Everything runs on 127.0.0.1 from a
# temp dir; nginx and HAProxy are started by hand, never as services.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh

tools=(openssl:openssl nginx:nginx-light haproxy:haproxy wrk:wrk gnuplot:gnuplot-nox taskset:util-linux h2load:nghttp2-client etcd:etcd-server)
case " $* " in *" --profile "*) tools+=(perf:linux-perf) ;; esac
bench_install "${tools[@]}"
bench_build turnout turnout-backend idle_clients remap_bench tcp_relay tls_clients tls_memory
bench_python bench/bench.py --build "$BUILD_DIR" "$@"
