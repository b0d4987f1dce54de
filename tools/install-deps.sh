#!/usr/bin/env bash
# Installs the Debian packages that salvo needs to build and test, and only those that are missing.
# Quiet and quick when everything is there. Runs apt-get directly as root, through sudo otherwise;
# without either it prints the exact command to run and exits 1.
# Target: Debian 12 (bookworm). Other apt-based systems with the same package names work too.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config   # build
  liburing-dev                       # io_uring backend (without it salvo builds epoll only)
  libcli11-dev nlohmann-json3-dev    # the salvo command: flags, JSON output
  help2man                           # the salvo command's man page, salvo(1), made from its --help
  libgtest-dev libgmock-dev          # GoogleTest suite
  libbenchmark-dev                   # Google Benchmark micro-benchmarks
  python3                            # test scripts and tools/demo.sh
  python3-prometheus-client          # tests: the official parser reads salvo --metrics files
  iproute2                           # ip netns, for tests that use network namespaces
  sockperf                           # tests: salvo echo --sockperf against sockperf's own client
  iperf3                             # bench: the load generator's comparison
  python3-matplotlib                 # bench: the packet-rate suite's PNG chart
  valgrind                           # bench: instructions per datagram with callgrind
  libuv1-dev                         # bench: the libuv echo baseline of load_curve.py
  nftables                           # tests: ICMP unreachable from reject rules in a test namespace
  nsd                                # tests: examples/dns/dns_server's answers beside NSD's
  dnsperf                            # bench: dns_compare.py's client (knot and dnsdist add its other rows)
  ansible-core                       # tests: deploy/ansible's playbook run against namespaces as hosts
  python3-yaml                       # tests: deploy/'s Kubernetes Job and playbook checked without a cluster
)

say() { printf 'install-deps: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  say "this script needs a Debian-like system (dpkg-query and apt-get were not found)."
  say "install the equivalents of: ${packages[*]}"
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  # "ii" = installed; anything else (absent, removed with config files left, half-installed) is missing.
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"

if ((EUID == 0)); then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  # Without a terminal to ask for a password, fail at once rather than hang.
  if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
else
  say "missing packages: ${missing[*]}"
  say "run as root:"
  printf '  %s\n' "$install_cmd" >&2
  exit 1
fi

say "installing: ${missing[*]}"
log=$(mktemp "${TMPDIR:-/tmp}/salvo-install-deps.XXXXXX")
trap 'rm -f "$log"' EXIT
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 ||
   ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
       apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 </dev/null; then
  tail -n 30 "$log" >&2
  say "installing failed (last lines of apt-get's output above). To retry by hand, as root:"
  printf '  %s\n' "$install_cmd" >&2
  exit 1
fi

still=()
for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || still+=("$p")
done
if ((${#still[@]})); then
  say "apt-get finished but these are still not installed: ${still[*]}"
  exit 1
fi
say "done"
