#!/bin/bash
# A real one-node Slurm cluster for the deploy tests, all of it in one directory:
#
#   slurm_cluster.sh start DIR   munged (its own key and socket), slurmctld and slurmd on
#                                127.0.0.1 with 2 CPUs; returns once the node is idle (bounded)
#   slurm_cluster.sh stop DIR    stops all three (bounded) and leaves DIR to the caller
#
# After start, DIR/env holds `export SLURM_CONF=DIR/slurm.conf` (every Slurm command reads it).
# Needs Debian's slurm-wlm and munge (scripts/install-deps.sh); a missing tool is an error
# saying what to install. Slurm's daemons run as root here (SlurmUser=root), as this machine's
# tests do; nothing is written outside DIR.
set -euo pipefail

command=${1:-}
dir=${2:-}
if [ -z "$command" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

log() { echo "[slurm-cluster] $*"; }

# A free TCP port on 127.0.0.1, picked by the OS.
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Bounded wait for a pid to exit after a signal.
stop_pid() {  # NAME PID
  local name=$1 pid=$2
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name ($pid) did not stop within 10s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

start() {
  for tool in munged mungekey slurmctld slurmd sinfo sbatch srun scontrol; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "slurm_cluster.sh: '$tool' is missing: install Debian's slurm-wlm and munge" \
           "(scripts/install-deps.sh, or apt-get install slurm-wlm munge)" >&2
      exit 1
    fi
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # munged refuses a socket directory that others cannot traverse, and a key others can read.
  chmod 755 "$dir"
  mkdir -p "$dir/munge-key" "$dir/munge-run" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge-key"
  chmod 755 "$dir/munge-run"
  mungekey --create --keyfile="$dir/munge-key/munge.key"
  # munged forks into the background; its output must not hold the caller's pipe open.
  if ! munged --socket="$dir/munge-run/munge.socket" --key-file="$dir/munge-key/munge.key" \
      --pid-file="$dir/munge-run/munged.pid" --seed-file="$dir/munge-key/munged.seed" \
      --log-file="$dir/log/munged.log" < /dev/null > "$dir/log/munged.out" 2>&1; then
    log "munged did not start:"
    cat "$dir/log/munged.out" >&2
    exit 1
  fi

  local host ctld_port slurmd_port
  host=$(hostname -s)
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  # Everything on 127.0.0.1: the node's address, and NoInAddrAny / NoCtldInAddrAny make the
  # daemons and srun bind it instead of every address. No cgroups (linuxproc, task/none).
  cat > "$dir/slurm.conf" <<EOF
ClusterName=memr1test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge-run/munge.socket
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=10
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$dir/slurm.conf" > "$dir/env"
  export SLURM_CONF="$dir/slurm.conf"
  # -D: in the foreground of a background process whose pid we keep (no daemon double fork).
  slurmctld -D -f "$SLURM_CONF" > "$dir/log/slurmctld.out" 2>&1 < /dev/null &
  echo $! > "$dir/slurmctld.bgpid"
  slurmd -D -f "$SLURM_CONF" > "$dir/log/slurmd.out" 2>&1 < /dev/null &
  echo $! > "$dir/slurmd.bgpid"

  for _ in $(seq 1 240); do
    if [ "$(sinfo -h -n "$host" -o %t 2>/dev/null)" = "idle" ]; then
      log "up: node $host idle, slurmctld on 127.0.0.1:$ctld_port, slurmd on 127.0.0.1:$slurmd_port"
      return 0
    fi
    sleep 0.5
  done
  log "the node did not become idle within 120s; the daemons' last lines:"
  tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/log/slurmctld.out" \
    "$dir/log/slurmd.out" "$dir/log/munged.log" 2>/dev/null || true
  exit 1
}

stop() {
  [ -d "$dir" ] || return 0
  if [ -f "$dir/slurm.conf" ]; then
    export SLURM_CONF="$dir/slurm.conf"
    # Jobs first (their steps and the batch scripts' processes), bounded.
    timeout 10 scancel --full --signal=KILL --user=root >/dev/null 2>&1 || true
    timeout 10 scancel --user=root >/dev/null 2>&1 || true
  fi
  for daemon in slurmd slurmctld; do
    if [ -f "$dir/$daemon.bgpid" ]; then stop_pid "$daemon" "$(cat "$dir/$daemon.bgpid")"; fi
  done
  if [ -f "$dir/munge-run/munged.pid" ]; then
    stop_pid munged "$(cat "$dir/munge-run/munged.pid")"
  fi
  log "stopped"
}

case $command in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
