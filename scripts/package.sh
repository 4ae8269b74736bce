#!/usr/bin/env bash
# Builds build-pkg/turnout_<version>_<arch>.deb: /usr/bin/turnout, /etc/turnout/turnout.yaml
# (a conffile), /usr/lib/systemd/system/turnout.service and the README.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-pkg -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DTURNOUT_TESTS=OFF -DTURNOUT_BENCH=OFF >/dev/null
cmake --build build-pkg -j "$(nproc)"
(cd build-pkg && cpack -G DEB)
ls -1 build-pkg/*.deb
