#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: installs missing packages, builds Release (CMake preset
# `release`, into build/release), then runs the loopback demo (tools/demo.sh): `salvo sink` on one
# CPU, `salvo blast` on another, once per backend, and a table of what arrived and what it cost.
#
# Usage: tools/quickstart.sh
# Environment: SALVO_IO_URING=ON|OFF|AUTO (default AUTO: the io_uring backend when liburing is found).
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh

configure=()
if [[ -f io_uring/CMakeLists.txt ]]; then
  configure+=("-DSALVO_IO_URING=${SALVO_IO_URING:-AUTO}")
else
  configure+=(-DSALVO_IO_URING=OFF)  # the io_uring backend is not in this tree yet
fi

cmake --preset release "${configure[@]}"
cmake --build --preset release
echo
exec ./tools/demo.sh
