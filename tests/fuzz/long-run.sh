#!/usr/bin/env bash
# A long libFuzzer run of one target (docs/fuzzing.md records them), then a merge of what it found
# into the checked-in corpus (only inputs that add coverage are kept, under libFuzzer's hash names).
# Needs the fuzz preset built: cmake --preset fuzz && cmake --build --preset fuzz
#
# Usage: tests/fuzz/long-run.sh TARGET [RUNS [SEED]]    e.g. tests/fuzz/long-run.sh address 10000000
# Environment: FUZZ_BINARY (another build of the target), FUZZ_MAX_SECONDS (a time limit).
# Runs niced, one process. The log is build/fuzz/long-runs/TARGET.log; libFuzzer's last lines there
# give the figures (inputs, seconds, cov, ft); a crash stops the run and leaves crash-* next to it.
set -euo pipefail
cd "$(dirname "$0")/../.."

target=${1:?usage: long-run.sh TARGET [RUNS [SEED]]}
runs=${2:-10000000}
seed=${3:-1}
binary=${FUZZ_BINARY:-build/fuzz/tests/fuzz/${target}_fuzz}  # FUZZ_BINARY: another build of it
corpus=tests/fuzz/corpus/${target}
out=build/fuzz/long-runs
work=${out}/${target}-work
mkdir -p "$work"
[[ -x $binary ]] || { echo "no $binary: build the fuzz preset first" >&2; exit 2; }

# malloc_context_size=0: ASan still finds every bad access, but does not record where each block
# was allocated, which dominates the cost of allocation-heavy targets (cli: CLI11's strings).
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}
options=(-runs="$runs" -seed="$seed" -print_final_stats=1 -artifact_prefix="$out/${target}-")
if [[ -f tests/fuzz/${target}.dict ]]; then options+=(-dict="tests/fuzz/${target}.dict"); fi
# FUZZ_MAX_SECONDS: stop there even if RUNS are not done (a deadline; the log says how many ran).
if [[ -n ${FUZZ_MAX_SECONDS:-} ]]; then options+=(-max_total_time="$FUZZ_MAX_SECONDS"); fi
if [[ $target == cli ]]; then options+=(-max_len=256); fi  # longer command lines add words, not paths
echo "$(date -u +%FT%TZ) $binary ${options[*]} $work $corpus" | tee "$out/$target.log"
start=$(date +%s)
nice -n 15 "$binary" "${options[@]}" "$work" "$corpus" >>"$out/$target.log" 2>&1
echo "wall seconds: $(( $(date +%s) - start ))" | tee -a "$out/$target.log"
grep -E '^#[0-9]+[[:space:]]+DONE|^Done|stat::' "$out/$target.log" | tail -8
nice -n 15 "$binary" -merge=1 "$corpus" "$work" >>"$out/$target.merge.log" 2>&1
