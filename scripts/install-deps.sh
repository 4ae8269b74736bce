#!/usr/bin/env bash
# Installs what turnout needs to build and test on Debian 12 (idempotent; needs root or sudo).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      clang libclang-rt-14-dev  # libFuzzer and its sanitizer runtimes (scripts/fuzz.sh); only Recommended by clang
      libuv1-dev libyaml-cpp-dev libfmt-dev doctest-dev nlohmann-json3-dev node-llhttp
      libssl-dev openssl  # TLS (OpenSSL 3.0); the openssl CLI makes test certificates
      curl
      etcd-server etcd-client  # tests/unit/fleet runs the etcd client against a real etcd
      libnghttp2-dev  # HTTP/2 towards clients
      nghttp2-client python3-h2  # HTTP/2 tests: nghttp, h2load, and tests/integration/h2/h2_abuse.py
      chromium)  # tests/integration/status_page_test.cc loads the admin status page in headless Chromium
if [ "${TURNOUT_BENCH_DEPS:-0}" = 1 ]; then pkgs+=(nginx-light haproxy wrk gnuplot-nox); fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
