#!/usr/bin/env bash
# Fuzz depthlab's file parsers (fuzz/, cargo-fuzz + libFuzzer), each for a bounded time, one
# process at a time. Not part of `cargo test` or CI: it needs a nightly toolchain and minutes.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 300 s, every target)
#
# New inputs go to fuzz/work/<target>/ (ignored by git), so the committed seeds in
# fuzz/corpus/<target>/ stay as they are; crashes go to fuzz/artifacts/<target>/. A parser that
# asks for more memory than its input can justify counts as a crash: one allocation over
# FUZZ_MALLOC_MB (default 128; the inputs are a few KiB, so even a gzip bomb of one decompresses
# to a few MiB) or a process over FUZZ_RSS_MB (default 2048). An input that takes longer than
# FUZZ_TIMEOUT seconds (default 10) is reported as a hang.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(fuzz_config fuzz_idx fuzz_safetensors fuzz_npy fuzz_brown fuzz_text)
secs=${1:-300}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]; targets: ${all[*]}" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "unknown target $t; targets: ${all[*]}" >&2; exit 2; }
done

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

rss=${FUZZ_RSS_MB:-2048}
malloc=${FUZZ_MALLOC_MB:-128}
timeout=${FUZZ_TIMEOUT:-10}
failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/work/$t"
    dict=()
    [[ -f fuzz/dict/$t.dict ]] && dict=("-dict=fuzz/dict/$t.dict")
    echo "== $t: ${secs}s (rss ${rss} MB, one allocation ${malloc} MB, timeout ${timeout}s)"
    # No -jobs/-fork: libFuzzer then fuzzes in this one process.
    if ! cargo +nightly fuzz run "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb="$rss" -malloc_limit_mb="$malloc" -timeout="$timeout" \
        -print_final_stats=1 "${dict[@]}" 2>&1 | tee "fuzz/work/$t.log"; then
        failed+=("$t")
    fi
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "fuzz/work/$t.log" || true
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/; logs in fuzz/work/<target>.log)" >&2
    exit 1
fi
echo "no crashes in: ${targets[*]}"
