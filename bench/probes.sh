#!/usr/bin/env bash
# Seconds of `depthlab probe RUN --what P --threads 1` for every probe that applies, on 50-layer
# width-64 highway, plain and residual nets (and one with auxiliary heads) trained briefly, and
# on an LSTM (temporal, gates). Prints a table: net, probe, the whole command's wall seconds and
# the probe's own (as `depthlab probe` reports it, without loading the data and the model),
# medians over ROUNDS runs, plus the CPU seconds of the command.
#
# Usage: bench/probes.sh [ROUNDS] [DATA] [EXE]
#   ROUNDS  runs per probe (default 3)
#   DATA    mnist1d (default: generated, nothing to download) or mnist (the IDX files in
#           --data-dir's search path: $DEPTHLAB_DATA, ./data or ../shared/data)
#   EXE     the depthlab executable (default: target/release/depthlab, built first), e.g. an
#           older build to compare against; the trained runs are reused from $PROBE_RUNS
#           (default: a fresh temporary folder) when it holds them
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
data=${2:-mnist1d}
exe=${3:-}
if [ -z "$exe" ]; then
  cargo build --release --quiet
  exe=./target/release/depthlab
fi
runs=${PROBE_RUNS:-$(mktemp -d)}
mkdir -p "$runs"
case "$data" in
  mnist1d) epochs=3 ;;
  mnist) epochs=1 ;;
  *) echo "DATA is mnist1d or mnist, not $data" >&2; exit 2 ;;
esac

train() { # NAME CONFIG [--set ...]
  local name=$1 cfg=$2
  shift 2
  [ -f "$runs/$name/model.safetensors" ] && return
  "$exe" train "$cfg" --out "$runs/$name" -q --threads 1 --set train.epochs=$epochs "$@"
}
ff=(--set model.depth=50 --set model.width=64)
for arch in highway plain residual; do
  train "$data-$arch" "examples/$data-$arch.toml" "${ff[@]}"
done
train "$data-highway-aux" "examples/$data-highway.toml" "${ff[@]}" \
  --set 'model.aux=[{ layer = 16, weight = 0.3 }, { layer = 33, weight = 0.3 }]'
train adding-lstm examples/adding-lstm.toml --set data.train=2000 --set train.epochs=1

echo "# $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $exe, $rounds rounds, median"
printf '%-20s %-10s %10s %10s %10s\n' net probe "wall s" "probe s" "cpu s"
for net in "$data-highway" "$data-plain" "$data-residual" "$data-highway-aux" adding-lstm; do
  for probe in gradflow meanfield lesion gates paths aux_share jacobian temporal diagnosis; do
    walls=() own=() cpus=()
    for _ in $(seq "$rounds"); do
      out=$(mktemp -d)
      # GNU time's wall and user + system seconds, then the probe's own line ("lesion: 0.412 s").
      if ! /usr/bin/time -f '%e %U %S' -o "$out/time" "$exe" probe "$runs/$net" --what "$probe" \
        --threads 1 --out "$out/p" >"$out/stdout" 2>"$out/stderr"; then
        # The probe does not apply to this net: say nothing.
        rm -rf "$out"
        continue 2
      fi
      read -r wall user sys <"$out/time"
      walls+=("$wall")
      cpus+=("$(echo "$user + $sys" | bc)")
      own+=("$(sed -n "s/^$probe: \([0-9.]*\) s$/\1/p" "$out/stdout")")
      rm -rf "$out"
    done
    median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
    printf '%-20s %-10s %10.2f %10.3f %10.2f\n' "$net" "$probe" "$(median "${walls[@]}")" \
      "$(median "${own[@]}")" "$(median "${cpus[@]}")"
  done
done
