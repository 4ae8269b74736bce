#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and checks what an operator gets: the binary, the
# config (valid), and a systemd unit that reloads with SIGHUP and stops with SIGTERM (drain).
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
DESTDIR="$dest" cmake --install "$build" >/dev/null
bin=$(find "$dest" -path '*/bin/turnout' -type f | head -1)
conf=$(find "$dest" -path '*/turnout/turnout.yaml' -type f | head -1)
unit=$(find "$dest" -name turnout.service -type f | head -1)
fail() { echo "install_test: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no bin/turnout installed"
[ -n "$conf" ] || fail "no turnout/turnout.yaml installed"
[ -n "$unit" ] || fail "no systemd unit installed"
"$bin" --version | grep -q '^turnout ' || fail "installed binary does not run"
"$bin" check -c "$conf" >/dev/null || fail "installed config does not validate"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$unit" || fail "unit: ExecReload is not SIGHUP"
grep -q '^KillSignal=SIGTERM' "$unit" || fail "unit: KillSignal is not SIGTERM"
grep -q '^Type=notify' "$unit" || fail "unit: not Type=notify"
echo "install_test: 1 passed, 0 failed"
