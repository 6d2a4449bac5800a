#!/usr/bin/env bash
# Run examples/slurm/depthlab-array.sbatch as a real Slurm job array on a one-node cluster started
# here, and check (1) that the array's table is the table of one process, (2) that submit.sh's
# array and report step give that table too, and (3) that a task is warned by SIGTERM ahead of its
# time limit and stops with a checkpoint. For CI or by hand, as root, on Debian 12 (no systemd
# needed):
#
#   tools/slurm-ci.sh          (DEPTHLAB=path overrides target/release/depthlab, then target/debug;
#                               SLURM_CI_KEEP=1 keeps the work folder, which is kept on failure)
#
# It installs what is missing (slurmctld, slurmd, slurm-client, munge: Debian's Slurm 22.05),
# starts a private munged, slurmctld and slurmd in the background, each on its own files under
# SLURM_CI_DIR (default /tmp/depthlab-slurm-ci): its own slurm.conf (through SLURM_CONF), its own
# munge key and socket, so nothing in /etc is written and a Slurm or munge already on the host is
# left alone. It stops every daemon it started on the way out, however it exits, and a second run
# first stops whatever an earlier, killed run left. Exit status 0 only if every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start=$SECONDS
phase() { echo "slurm-ci: [$((SECONDS - start)) s] $*"; }
die() { echo "slurm-ci: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root: slurmd must be root to start jobs"

depthlab=${DEPTHLAB:-}
if [[ -z $depthlab ]]; then
    for b in target/release/depthlab target/debug/depthlab; do
        [[ -x $b ]] && { depthlab=$repo/$b; break; }
    done
fi
[[ -n $depthlab && -x $depthlab ]] || die "no depthlab binary: cargo build --release (or set DEPTHLAB)"
export DEPTHLAB=$depthlab

# --- packages --------------------------------------------------------------------------------
# The four packages, without recommends: slurm-wlm would pull in ~40 more (slurmdbd, MySQL
# client libraries, X11 bits for sview) that a one-node test does not use.
pkgs=(slurmctld slurmd slurm-client munge)
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
    ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    phase "installing ${pkgs[*]}"
    # Without a policy-rc.d (Docker images ship one, a bare machine does not) the packages'
    # postinst would start the system munge/slurm through their init scripts, and they would
    # stay running after this script. Deny that for the length of the install.
    rcd=/usr/sbin/policy-rc.d
    made_rcd=0
    if [[ ! -e $rcd ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$rcd" && chmod 755 "$rcd" && made_rcd=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh container has no package lists; update first or install finds nothing.
    installed=1
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
        installed=0
    if [[ $made_rcd == 1 ]]; then rm -f "$rcd"; fi
    [[ $installed == 1 ]] || die "apt-get could not install ${pkgs[*]}"
    phase "installed"
fi

# --- one node, private files -------------------------------------------------------------------
dir=${SLURM_CI_DIR:-/tmp/depthlab-slurm-ci}
ctld_port=${SLURM_CI_PORT:-6817}        # slurmd gets the next port
host=$(hostname -s)                     # slurmd finds its NodeName as `hostname -s`
cpus=$(nproc)

# A process is stopped only by the PID this script (or an earlier run of it) recorded in
# $dir/run/NAME.bg, and only if that PID still runs what was recorded (its command line matches):
# never by name, which could hit a system daemon or another user's job.
stop_recorded() {
    local name pid cmd
    for name in sbatch slurmd slurmctld munged; do
        [[ -f $dir/run/$name.bg ]] || continue
        pid=$(<"$dir/run/$name.bg")
        cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" || true)
        case $name:$cmd in
            sbatch:"timeout "*" sbatch --wait "* | slurmd:"slurmd -D"* | slurmctld:"slurmctld -D"* | \
                munged:"munged --foreground --socket=$dir/"*)
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
                [[ -d /proc/$pid ]] && kill -9 "$pid" 2>/dev/null
                ;;
        esac
        wait "$pid" 2>/dev/null || true   # reap our own children (no zombies left)
        rm -f "$dir/run/$name.bg"
    done
}

# Jobs first, so that no slurmstepd or depthlab outlives the cluster (slurmstepd is not a child
# of slurmd; killing slurmd alone would orphan it), then `scontrol shutdown`, which stops
# slurmctld and slurmd cleanly. Only while our slurmctld runs: every job on it is ours.
shutdown_cluster() {
    local pid
    pid=$(cat "$dir/run/slurmctld.bg" 2>/dev/null || true)
    [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == slurmctld && -f $dir/slurm.conf ]] || return 0
    SLURM_CONF=$dir/slurm.conf scancel --partition=ci 2>/dev/null || true
    for _ in $(seq 100); do
        [[ -z $(SLURM_CONF=$dir/slurm.conf squeue -h -o %A 2>/dev/null) ]] && break
        sleep 0.2
    done
    SLURM_CONF=$dir/slurm.conf scontrol shutdown >/dev/null 2>&1 || true
    return 0
}

work=""
ok=0
cleanup() {
    set +e
    shutdown_cluster
    stop_recorded
    if [[ $ok != 1 || -n ${SLURM_CI_KEEP:-} ]]; then
        [[ $ok == 1 ]] || for l in "$dir"/log/*; do
            [[ -f $l ]] && { echo "--- $l (tail)"; tail -n 30 "$l"; } >&2
        done
        [[ -n $work ]] && echo "slurm-ci: work folder kept: $work" >&2
    elif [[ -n $work ]]; then
        rm -rf "$work"
    fi
    phase "daemons stopped"
}
trap cleanup EXIT
trap 'exit 130' INT    # both through the EXIT trap
trap 'exit 143' TERM

# An earlier run killed before its trap ran (kill -9, a lost runner) may have left its cluster.
shutdown_cluster
stop_recorded
rm -rf "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge"
# munged refuses a socket whose folders are not world-searchable (o+x), so 755, not 700.
mkdir -p -m 755 "$dir" "$dir/munge"
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run"

# Our own key, made once and kept (so "if missing"); munged wants it owned by its user (root
# here) and unreadable by others. /etc/munge/munge.key is not touched.
key=$dir/munge.key
if [[ ! -s $key ]]; then
    dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
fi
chmod 400 "$key"

# munged runs as root: as its own user it would need a run folder and key it owns, which is
# what the packaged init script sets up; root is simpler and this cluster lives for one test.
# In the foreground it logs to stderr, hence munged.out and no --log-file.
munged --foreground --socket="$dir/munge/munge.socket" --key-file="$key" \
    --pid-file="$dir/run/munged.pid" --seed-file="$dir/run/munged.seed" >"$dir/log/munged.out" 2>&1 &
echo $! >"$dir/run/munged.bg"
for _ in $(seq 50); do [[ -S $dir/munge/munge.socket ]] && break; sleep 0.1; done
munge -S "$dir/munge/munge.socket" -n | unmunge -S "$dir/munge/munge.socket" >/dev/null ||
    die "munged does not answer (see $dir/log/munged.out)"

# The smallest slurm.conf that schedules by CPU on one node:
# - SlurmUser/SlurmdUser root: the state folders are root's; no slurm-owned /var/spool needed.
# - AuthInfo=socket: Slurm talks to our munged, not to /run/munge (which may not exist).
# - proctrack/linuxproc + task/none: no cgroups (a container has no writable cgroup tree, and
#   cgroup.conf would be one more file); processes are tracked through /proc.
# - select/cons_tres with CR_CPU: --cpus-per-task is honoured, so tasks of the array that do not
#   fit run one after another, as on a real cluster.
# - no accounting, no job completion log: those need slurmdbd or more files.
# - MailProg=/bin/true: the default /usr/bin/mail is not installed and slurmctld logs an error.
# - ReturnToService=2: a node that was down (e.g. slurmd started after slurmctld) comes back by
#   itself when slurmd registers.
# - 127.0.0.1 as the address of both: the daemons find each other even where the host name does
#   not resolve (some containers leave it out of /etc/hosts); the names must still be
#   `hostname -s`, which is how slurmctld and slurmd recognise their own lines.
# - NodeName CPUs: as many as we have; declaring more would make slurmd report a mismatch and the
#   node drain.
cat >"$dir/slurm.conf" <<EOF
ClusterName=depthlab-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# Every Slurm command and daemon below (and the jobs, which inherit it) reads this file.
export SLURM_CONF=$dir/slurm.conf

# -D: stay in the foreground, so $! is the daemon itself and the trap can stop it by PID.
slurmctld -D >"$dir/log/slurmctld.out" 2>&1 &
echo $! >"$dir/run/slurmctld.bg"
slurmd -D >"$dir/log/slurmd.out" 2>&1 &
echo $! >"$dir/run/slurmd.bg"

state=""
for _ in $(seq 120); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.5
done
[[ $state == idle ]] || die "node $host is not idle after 60 s (state: '${state:-no answer}')"
phase "cluster up: node $host idle, $cpus CPUs"

# --- the sweep, as an array and as one process -------------------------------------------------
work=$(mktemp -d /tmp/depthlab-slurm-ci-work.XXXXXX)
cat >"$work/base.toml" <<'EOF'
seed = 1
[data]
name = "mnist1d"
num_samples = 600
[model]
arch = "plain"
depth = 2
width = 16
[optim]
lr = 0.01
optimizer = { kind = "adam" }
[train]
epochs = 2
batch_size = 64
EOF
cat >"$work/S.toml" <<'EOF'
base = "base.toml"
seeds = 2
[axes]
"model.depth" = [1, 3]
"model.arch" = ["plain", "residual"]
EOF
cd "$work"
export CI=${CI:-1}   # depthlab: no progress bars in the job logs

# The script asks for 2 CPUs per task; a 1-CPU runner could never place that, so only there ask
# for what exists (the command line overrides #SBATCH lines).
extra=()
((cpus >= 2)) || extra=(--cpus-per-task="$cpus")
# --wait: sbatch returns when every task has ended, with the highest exit status among them.
# timeout: a job that never starts (node drained, bad request) must not hang CI.
# In the background with its PID recorded, like the daemons: were this script killed outright,
# the next run stops this sbatch too (it would otherwise poll for 20 minutes).
timeout 1200 sbatch --wait --array=0-2 "${extra[@]}" \
    "$repo/examples/slurm/depthlab-array.sbatch" sweep S.toml --out A &
echo $! >"$dir/run/sbatch.bg"
if ! wait $!; then
    for f in depthlab-*.out; do [[ -f $f ]] && { echo "--- $f"; cat "$f"; }; done >&2
    die "the array failed"
fi
rm -f "$dir/run/sbatch.bg"
phase "array done"
n=$(ls depthlab-*_*.out 2>/dev/null | wc -l)
[[ $n == 3 ]] || die "expected 3 task logs (depthlab-JOB_TASK.out), found $n"

"$DEPTHLAB" sweep S.toml --out B --jobs 1 --quiet
phase "one process done"

"$DEPTHLAB" sweep collect A >/dev/null
"$DEPTHLAB" sweep collect B >/dev/null
rows=$(($(wc -l <A/table.csv) - 1))
[[ $rows == 8 ]] || die "expected 8 runs in A/table.csv, found $rows"
if ! cmp -s A/table.csv B/table.csv; then
    diff A/table.csv B/table.csv >&2 || true
    die "the array's table differs from one process's"
fi
phase "the 3-task array's table.csv ($rows runs) is one process's"

# --- submit.sh: the array and its report step, chained by a dependency ---------------------------
# How users are told to submit: no --wait there, so wait for the queue to empty; the report step
# (afterany) runs `depthlab sweep collect C` itself.
"$repo/examples/slurm/submit.sh" 3 sweep S.toml --out C
for _ in $(seq 600); do
    [[ -z $(squeue -h -o %A) ]] && break
    sleep 0.5
done
[[ -z $(squeue -h -o %A) ]] && [[ -f C/table.csv ]] ||
    { cat depthlab-report-*.out >&2 || true; die "submit.sh: no C/table.csv from the report step"; }
cmp -s C/table.csv B/table.csv || die "submit.sh's table (its report step) differs from one process's"
phase "submit.sh: array and report step gave the same table"

# --- the warning before a time limit -------------------------------------------------------------
# The script asks for SIGTERM 120 s before the limit (--signal=B:TERM@120) so that runs write a
# checkpoint and a resubmission continues them. Under a 2-minute limit that is at once: at
# slurmctld's next time-limit check (seen 10 to 42 s after the start). A run far too long to
# finish must then stop by itself, with depthlab's "stopped by SIGTERM", and the task must end
# before its limit. Without the B: Slurm would signal only job steps (srun), not the batch shell
# that depthlab is, and the log would say "CANCELLED ... DUE TO TIME LIMIT" after 2 minutes.
sed -e 's/^epochs = 2$/epochs = 1000000/' -e 's/^\[train\]$/[train]\ncheckpoint_every = 1000000/' \
    base.toml >long.toml
printf 'base = "long.toml"\nseeds = 1\n' >L.toml
sig_start=$SECONDS
timeout 300 sbatch --wait --array=0-0 --time=2 --output=signal-%a.out "${extra[@]}" \
    "$repo/examples/slurm/depthlab-array.sbatch" sweep L.toml --out D &
echo $! >"$dir/run/sbatch.bg"
sig_rc=0
wait $! || sig_rc=$?
rm -f "$dir/run/sbatch.bg"
if [[ $sig_rc == 0 ]] || ! grep -q 'stopped by SIGTERM' signal-0.out || grep -q 'TIME LIMIT' signal-0.out ||
    ! ls D/runs/*/checkpoint >/dev/null 2>&1; then
    cat signal-0.out >&2
    die "the task was not stopped by the SIGTERM ahead of its time limit (sbatch exit $sig_rc)"
fi
phase "the signal ahead of the time limit stopped the task after $((SECONDS - sig_start)) s, with a checkpoint"
ok=1
phase "ok"
