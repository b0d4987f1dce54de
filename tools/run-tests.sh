#!/usr/bin/env bash
# Builds salvo and runs the whole test suite: installs missing Debian packages, configures and
# builds with a CMake preset (default: release; also debug, asan or tsan), then runs ctest with that
# preset. Exits non-zero if anything fails.
#
# Usage: tools/run-tests.sh [PRESET]
# Environment: SALVO_IO_URING=ON|OFF|AUTO (default AUTO: the io_uring backend when liburing is found),
# CTEST_PARALLEL_LEVEL (ctest's own; default one test at a time).
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${1:-release}

./tools/install-deps.sh

configure=(-DSALVO_BUILD_TESTS=ON)
if [[ -f io_uring/CMakeLists.txt ]]; then
  configure+=("-DSALVO_IO_URING=${SALVO_IO_URING:-AUTO}")
else
  configure+=(-DSALVO_IO_URING=OFF)  # the io_uring backend is not in this tree yet
fi

cmake --preset "$preset" "${configure[@]}"
cmake --build --preset "$preset"
# A per-test ceiling for tests that set none, so that a hung test fails instead of stalling CI.
# The soak (label soak, minutes long) is run by hand: ctest --preset PRESET -L soak.
ctest --preset "$preset" --timeout 600 --label-exclude soak
