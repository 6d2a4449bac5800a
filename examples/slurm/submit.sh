#!/usr/bin/env bash
# Submit a depthlab suite (or sweep) as a Slurm job array of SHARDS tasks, and the step that
# writes the report (or the table) once every task has finished.
#
#   examples/slurm/submit.sh 16 reproduce --scale paper --out /shared/suite
#   examples/slurm/submit.sh 8 sweep my-sweep.toml --out /shared/sweep
set -euo pipefail
shards=${1:?usage: submit.sh SHARDS reproduce|sweep ARGS... --out DIR}
shift
here=$(cd "$(dirname "$0")" && pwd)
out=""
prev=""
for a in "$@"; do
  if [ "$prev" = "--out" ]; then out=$a; fi
  prev=$a
done
: "${out:?give --out DIR: every task must write to the same folder}"
depthlab=${DEPTHLAB:-depthlab}
# Compute nodes are often offline: fetch the data the runs need here, once, into the folder the
# tasks will read ($DEPTHLAB_DATA, on a file system every node sees), and let the tasks only look
# (sbatch passes this environment on).
"$depthlab" "$@" --fetch-only
export DEPTHLAB_NO_DOWNLOAD=1
array=$(sbatch --parsable --array=0-$((shards - 1)) "$here/depthlab-array.sbatch" "$@")
case "$1" in
  reproduce) final="$depthlab report $out" ;;
  sweep) final="$depthlab sweep collect $out" ;;
  *) echo "submit.sh: expected reproduce or sweep, got $1" >&2; exit 2 ;;
esac
# afterany: a report of what is there, listing what is missing, even if a task failed.
report=$(sbatch --parsable --dependency=afterany:"$array" --job-name=depthlab-report \
    --output=depthlab-report-%j.out --wrap "$final")
echo "submitted array $array ($shards tasks) and its report step $report; results in $out"
