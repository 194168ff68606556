#!/usr/bin/env bash
# A throwaway one-node SLURM cluster on this machine, for tests/test_slurm.py (Debian, as root).
#
#   tests/slurm/one_node_slurm.sh [start]   install slurm + munge if missing, configure, start, wait
#   tests/slurm/one_node_slurm.sh stop      cancel this cluster's jobs and stop its daemons
#
# Idempotent: running daemons are reused; a changed configuration restarts slurmctld and slurmd.
# Daemons are started by hand (no systemd): munged as user munge, slurmctld and slurmd as root
# (SlurmUser=root), with their pid files, state and logs under $STATE_DIR.
# No cgroups, no accounting database: the plugin must query job states with squeue
# (--slurm-status-command squeue), and MinJobAge (300 s, the default) keeps finished jobs visible
# to squeue for that long.
set -euo pipefail

STATE_DIR=/var/lib/lossbarcode-slurm
CONF_DIR=/etc/slurm
MARKER="# written by lossbarcode tests/slurm/one_node_slurm.sh"
MUNGE_PID=/run/munge/munged.pid
CTLD_PID=$STATE_DIR/slurmctld.pid
SLURMD_PID=$STATE_DIR/slurmd.pid
NODE=$(hostname -s)
changed=0  # set by write_config when slurm.conf or gres.conf changed

log() { echo "one_node_slurm: $*" >&2; }
die() { log "$*"; exit 1; }

# Whether the process is alive and is the named program (guards against reused pids).
alive() {
    local comm
    read -r comm 2>/dev/null <"/proc/$1/comm" && [[ $comm == "$2"* ]]
}

# Whether the daemon of this pid file runs.
running() { [[ -s $1 ]] && alive "$(<"$1")" "$2"; }

stop_daemon() {
    local pidfile=$1 name=$2 pid
    running "$pidfile" "$name" || return 0
    pid=$(<"$pidfile")
    log "stopping $name ($pid)"
    kill -TERM "$pid"
    # Wait for the process itself: the daemons delete their pid file before they are done.
    for _ in $(seq 50); do
        alive "$pid" "$name" || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

install_packages() {
    local missing=()
    for program in slurmctld slurmd sinfo sbatch squeue munged; do
        command -v "$program" >/dev/null || missing+=("$program")
    done
    ((${#missing[@]})) || return 0
    log "installing slurm and munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    # Without package lists (a fresh container) the install fails: update once and retry.
    local install=(apt-get install -y -q --no-install-recommends slurm-wlm slurmctld slurmd slurm-client munge)
    "${install[@]}" >/dev/null || { apt-get update -q >/dev/null && "${install[@]}" >/dev/null; }
}

# The node's line of `slurmd -C` (its real CPU topology) with RealMemory lowered to 90%: a node
# configured with more memory than slurmd measures is drained.
node_line() {
    local hw memory
    hw=$(slurmd -C | head -1)
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    sed -e "s/RealMemory=[0-9]*/RealMemory=$((memory * 9 / 10))/" \
        -e "s/^NodeName=[^ ]*/NodeName=$NODE NodeAddr=127.0.0.1/" <<<"$hw"
}

write_config() {
    # Never overwrite a real cluster's configuration.
    if [[ -e $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARKER" "$CONF_DIR/slurm.conf"; then
        die "$CONF_DIR/slurm.conf exists and was not written by this script; not touching it"
    fi
    mkdir -p "$CONF_DIR" "$STATE_DIR"/{ctld,spool,log}
    local new=$STATE_DIR/slurm.conf.new
    cat >"$new" <<EOF
$MARKER
ClusterName=lossbarcode
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
# No cgroups: processes are tracked through /proc, tasks are not bound or confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# Every CPU is a slot (on a 2-vCPU machine with hyperthreads, CR_Core would run one job at a time).
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# Two stand-in GPUs (see gres.conf) so that the workflow's gpu=1 jobs (sbatch --gpus=1) run.
GresTypes=gpu
# Short timeouts: a restarted node comes back at once, a dead one is noticed in seconds.
ReturnToService=2
SlurmctldTimeout=10
SlurmdTimeout=10
MessageTimeout=10
KillWait=5
InactiveLimit=0
MinJobAge=300
$(node_line) Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # gres/gpu drops GPUs without device files ("Removing file-less GPU" in slurmd's log, then the
    # node is drained: "gres/gpu count reported lower than configured"), and it rejects regular
    # files. Links to /dev/null pass as character devices; with task/none nothing is confined to
    # them, jobs merely get CUDA_VISIBLE_DEVICES=0 or 1.
    mkdir -p "$STATE_DIR/dev"
    ln -sfn /dev/null "$STATE_DIR/dev/nvidia0"
    ln -sfn /dev/null "$STATE_DIR/dev/nvidia1"
    printf '%s\nNodeName=%s Name=gpu File=%s\n' "$MARKER" "$NODE" "$STATE_DIR/dev/nvidia[0-1]" \
        >"$STATE_DIR/gres.conf.new"

    for file in slurm.conf gres.conf; do
        if ! cmp -s "$STATE_DIR/$file.new" "$CONF_DIR/$file"; then
            mv "$STATE_DIR/$file.new" "$CONF_DIR/$file"
            changed=1
        else
            rm "$STATE_DIR/$file.new"
        fi
    done
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating a munge key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    if running "$MUNGE_PID" munged; then return; fi
    log "starting munged"
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n </dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "munged does not answer"
}

start_slurm() {
    if ((changed)); then
        stop_daemon "$SLURMD_PID" slurmd
        stop_daemon "$CTLD_PID" slurmctld
    fi
    if ! running "$CTLD_PID" slurmctld; then
        log "starting slurmctld"
        slurmctld
    fi
    if ! running "$SLURMD_PID" slurmd; then
        log "starting slurmd"
        slurmd
    fi
}

wait_for_node() {
    local state
    for _ in $(seq 120); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case $state in
            idle | mixed | allocated) log "node $NODE is $state"; return ;;
            # A node left down or drained by an earlier run (e.g. slurmd killed) is ours to resume.
            down* | drain*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    sinfo -N -l >&2 || true
    tail -n 20 "$STATE_DIR"/log/*.log >&2 || true
    die "node $NODE did not come up (last state: ${state:-none})"
}

stop() {
    if [[ -e $CONF_DIR/slurm.conf ]] && grep -qF "$MARKER" "$CONF_DIR/slurm.conf" && running "$CTLD_PID" slurmctld; then
        # Every job on this private cluster is a test job.
        squeue -h -o %i | xargs -r scancel || true
    fi
    stop_daemon "$SLURMD_PID" slurmd
    stop_daemon "$CTLD_PID" slurmctld
    stop_daemon "$MUNGE_PID" munged
}

start() {
    [[ $(id -u) == 0 ]] || die "must run as root"
    install_packages
    write_config
    start_munge
    start_slurm
    wait_for_node
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 [start|stop]" ;;
esac
