#!/usr/bin/env bash
# The loopback demo: for each backend this build and kernel can run, start `salvo sink` pinned to
# one CPU, flood it with `salvo blast` pinned to another, and print what arrived, how fast, and what
# the receiver paid in CPU per datagram. Checks that every datagram sent is accounted for:
# received + kernel_drops == sent.
#
# Usage: tools/demo.sh            (after a build; tools/quickstart.sh builds and runs it)
# Environment: SALVO_BIN (default build/release/tools/salvo), DEMO_COUNT (datagrams per run,
# default 2000000), DEMO_SIZE (payload bytes, default 64).
# Exit: 0 all runs accounted for, 1 a run failed or did not add up, 2 nothing to run.
# Traffic goes to 127.0.0.1 only; every process runs under a 60 s timeout.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
salvo=${SALVO_BIN:-$repo/build/release/tools/salvo}
count=${DEMO_COUNT:-2000000}
size=${DEMO_SIZE:-64}

die() { printf 'demo: %s\n' "$*" >&2; exit 2; }
[[ -x $salvo ]] || die "$salvo not found: build first (./tools/quickstart.sh builds and runs this demo)"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read salvo's --json output (./tools/install-deps.sh)"

# The demo picks each backend itself; an inherited override would make every run the same backend.
unset SALVO_BACKEND

work=$(mktemp -d "${TMPDIR:-/tmp}/salvo-demo.XXXXXX")
sink_pid=
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  if [[ -n $sink_pid ]] && kill -0 "$sink_pid" 2>/dev/null; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

# The first two CPUs this process may run on (normally 0 and 1): the sink gets one, blast the other.
# On a one-CPU machine nothing is pinned: they share it, and the numbers show that.
mapfile -t cpus < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
sink_pin=() sink_cpus=() blast_pin=() blast_cpus=()
if ((${#cpus[@]} >= 2)) && command -v taskset >/dev/null 2>&1; then
  sink_pin=(taskset -c "${cpus[0]}") sink_cpus=(--cpus "${cpus[0]}")
  blast_pin=(taskset -c "${cpus[1]}") blast_cpus=(--cpus "${cpus[1]}")
  pinning="sink on CPU ${cpus[0]}, blast on CPU ${cpus[1]}"
else
  pinning="not pinned (one CPU)"
fi

backends=(epoll)
skipped=()
if timeout 10 "$salvo" sink --backend io_uring --bind 127.0.0.1:0 --duration 0.1 >/dev/null 2>"$work/probe.err"; then
  backends+=(io_uring)
else
  skipped+=("io_uring: skipped: $(tail -n 1 "$work/probe.err" | sed 's/^salvo: //')")
fi

show_logs() {
  for f in "$@"; do
    [[ -s $f ]] && { printf -- '--- %s\n' "$(basename "$f")" >&2; cat "$f" >&2; }
  done
  return 0
}

# One run. Writes "backend sent received kernel_drops rate ns_per_datagram check reason blast_backend"
# (tab-separated) to $work/BACKEND/row. Runs in this shell, not a subshell, so that cleanup can see sink_pid.
run_one() {
  local backend=$1 dir="$work/$1" port='' rc
  mkdir -p "$dir"
  # --foreground: stay in this process group, so that Ctrl-C reaches salvo (which then ends cleanly).
  timeout --foreground 60 "${sink_pin[@]}" "$salvo" sink --bind 127.0.0.1:0 --backend "$backend" "${sink_cpus[@]}" \
    --idle-exit 1 --json >"$dir/sink.json" 2>"$dir/sink.err" &
  sink_pid=$!
  # The sink binds port 0 (a free port, chosen by the kernel) and says which once it is serving.
  for _ in $(seq 200); do
    port=$(sed -n 's/^salvo sink: listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$dir/sink.err")
    [[ -n $port ]] && break
    kill -0 "$sink_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    printf 'demo: %s: the sink did not start\n' "$backend" >&2
    show_logs "$dir/sink.err"
    return 1
  fi

  rc=0
  timeout --foreground 60 "${blast_pin[@]}" "$salvo" blast --to "127.0.0.1:$port" --bind 127.0.0.1:0 --size "$size" \
    --count "$count" "${blast_cpus[@]}" --json >"$dir/blast.json" 2>"$dir/blast.err" || rc=$?
  if ((rc != 0)); then
    printf 'demo: %s: salvo blast exited with %d\n' "$backend" "$rc" >&2
    show_logs "$dir/blast.err"
    return 1
  fi
  rc=0
  wait "$sink_pid" || rc=$?
  sink_pid=
  if ((rc != 0)); then
    printf 'demo: %s: salvo sink exited with %d\n' "$backend" "$rc" >&2
    show_logs "$dir/sink.err"
    return 1
  fi

  python3 - "$dir/sink.json" "$dir/blast.json" >"$dir/row" <<'EOF'
import json, sys
sink = json.load(open(sys.argv[1]))
blast = json.load(open(sys.argv[2]))
sent, received, drops = blast["sent"], sink["received"], sink["kernel_drops"]
flood_s = blast["elapsed_s"]
rate = received / flood_s if flood_s > 0 else 0.0
cpu_ns = (sink["cpu_user_s"] + sink["cpu_system_s"]) / received * 1e9 if received else 0.0
check = "OK" if received + drops == sent else "MISMATCH"
print(sink["backend"], sent, received, drops, f"{rate:.0f}", f"{cpu_ns:.0f}", check,
      sink["backend_reason"], blast["backend"], sep="\t")
EOF
}

rows=()
failed=0
for b in "${backends[@]}"; do
  if run_one "$b"; then
    row=$(<"$work/$b/row")
    rows+=("$row")
    [[ $row == *$'\t'MISMATCH$'\t'* ]] && failed=1
  else
    failed=1
  fi
done

printf 'salvo loopback demo: %s datagrams of %s bytes to 127.0.0.1, %s; kernel %s\n\n' \
  "$count" "$size" "$pinning" "$(uname -r)"
fmt='%-9s %10s %10s %12s %16s %16s  %s\n'
# shellcheck disable=SC2059
printf "$fmt" backend sent received "kernel drops" "received/s" "rx CPU ns/dgram" "received+drops==sent"
for row in "${rows[@]}"; do
  IFS=$'\t' read -r b sent received drops rate ns check _ <<<"$row"
  # shellcheck disable=SC2059
  printf "$fmt" "$b" "$sent" "$received" "$drops" "$rate" "$ns" "$check"
done
echo
blasts=()
for row in "${rows[@]}"; do
  IFS=$'\t' read -r _ _ _ _ _ _ _ reason blast_backend <<<"$row"
  printf '  sink  %s\n' "$reason"
  blasts+=("$blast_backend")
done
((${#blasts[@]})) && printf '  blast %s (--backend auto, in every run)\n' "$(printf '%s\n' "${blasts[@]}" | sort -u | paste -sd/)"
for s in "${skipped[@]}"; do printf '  %s\n' "$s"; done
echo "  received/s = datagrams received / blast's elapsed time; rx CPU = the sink's user+system CPU time / received"
exit "$failed"
