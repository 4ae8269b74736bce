#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and checks what an operator gets: the binary, a
# production config (valid, no demo apps, admin API on the unix socket in /run/turnout only), the
# demo config as a documented example, and a systemd unit that runs as the `turnout` user,
# reloads with SIGHUP and stops with SIGTERM (drain).
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
grep -q '^User=turnout$' "$unit" || fail "unit: does not run as the turnout user"
grep -q '^RuntimeDirectory=turnout$' "$unit" || fail "unit: no RuntimeDirectory for the admin socket"
grep -q '^StateDirectory=turnout$' "$unit" || fail "unit: no StateDirectory for the state file"
# The production config: no demo apps, the admin API on the packaged unix socket only.
grep -q '^  socket: /run/turnout/turnout.sock' "$conf" || fail "config: admin socket is not /run/turnout/turnout.sock"
grep -Eq '^[^#]*\bhttp:' "$conf" && fail "config: opens a TCP admin listener"
grep -Eq '^[^#]*(example|127\.0\.0\.1:9[0-9]{3})' "$conf" && fail "config: still has the demo apps"
example=$(find "$dest" -path '*/doc/turnout/examples/turnout.yaml' -type f | head -1)
[ -n "$example" ] || fail "no demo config in the docs"
"$bin" check -c "$example" >/dev/null || fail "the example config does not validate"
postinst=$(dirname "$0")/../packaging/postinst
grep -q 'adduser --system' "$postinst" || fail "postinst does not create the turnout user"
echo "install_test: 1 passed, 0 failed"
