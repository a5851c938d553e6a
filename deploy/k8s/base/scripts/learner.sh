#!/bin/bash
# One pod of the indexed Job memr1-learner: one learner rank per pod.
#
#   learner.sh memr1 learner run --config=... [flags]...
#
# Every pod runs sshd (port 2222, the key of the Secret memr1-learner-ssh): `mpirun` reaches the
# pods through it. The pod of index 0 waits (bounded) until every pod's sshd answers, then runs
# `mpirun -np $MEMR1_LEARNER_RANKS` with one slot per pod, which starts the given command once in
# each pod; the ranks bootstrap MPI (and NCCL over it) from there. Each rank binds
# learner.listen on its pod's IP. The other pods serve until mpirun's daemon has come and gone,
# then exit 0; rank 0's pod exits with mpirun's code, which decides the Job.
#
# Environment: JOB_COMPLETION_INDEX (set by Kubernetes), MEMR1_LEARNER_RANKS, MEMR1_LEARNER_JOB
# and MEMR1_LEARNER_SERVICE (pod i is $MEMR1_LEARNER_JOB-i.$MEMR1_LEARNER_SERVICE),
# MEMR1_START_TIMEOUT_SECONDS (bound on waiting for the other pods; default 1800).
set -euo pipefail

index=${JOB_COMPLETION_INDEX:?learner.sh runs in a pod of an indexed Job}
ranks=${MEMR1_LEARNER_RANKS:?MEMR1_LEARNER_RANKS is not set}
job=${MEMR1_LEARNER_JOB:-memr1-learner}
service=${MEMR1_LEARNER_SERVICE:-memr1-learner}
timeout=${MEMR1_START_TIMEOUT_SECONDS:-1800}
ssh_dir=/etc/memr1/ssh
ssh_port=2222

log() { echo "[memr1-learner-$index $(date +%H:%M:%S)] $*"; }

if [ "$#" -eq 0 ]; then
  log "error: no command (expected: learner.sh memr1 learner run ...)"
  exit 2
fi

# sshd for mpirun's daemon. Host keys are made per pod; only the job's key may log in.
ssh-keygen -A > /dev/null
mkdir -p /run/sshd
/usr/sbin/sshd -p "$ssh_port" -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
  -o PermitRootLogin=prohibit-password -o AuthorizedKeysFile="$ssh_dir/authorized_keys" \
  -o StrictModes=no -o UseDNS=no

if [ "$index" != 0 ]; then
  log "waiting for rank 0's mpirun to start its daemon here"
  deadline=$((SECONDS + timeout))
  until pgrep -x orted > /dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "error: no mpirun daemon arrived within ${timeout}s"
      exit 1
    fi
    sleep 2
  done
  log "mpirun's daemon is here; serving until it exits"
  while pgrep -x orted > /dev/null; do sleep 5; done
  log "mpirun's daemon exited"
  exit 0
fi

# Rank 0's pod: every pod's sshd first (bounded), then mpirun with one slot per pod.
hosts=""
deadline=$((SECONDS + timeout))
for ((i = 0; i < ranks; i++)); do
  host="$job-$i.$service"
  until (exec 3<> "/dev/tcp/$host/$ssh_port") 2> /dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "error: $host:$ssh_port did not answer within ${timeout}s"
      exit 1
    fi
    sleep 2
  done
  hosts+="$host:1,"
done
log "all $ranks learner pods answer; starting the ranks"

# What the ranks need from this environment (NCCL and CUDA settings, paths).
forward=()
for name in $(compgen -e); do
  case $name in
    NCCL_* | CUDA_* | OMP_* | PATH | LD_LIBRARY_PATH) forward+=(-x "$name") ;;
  esac
done
# Each rank binds learner.listen on its own pod's IP (the address it registers).
exec mpirun --allow-run-as-root -np "$ranks" --host "${hosts%,}" \
  --mca plm_rsh_agent ssh \
  --mca plm_rsh_args "-p $ssh_port -i $ssh_dir/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" \
  "${forward[@]}" \
  bash -c 'exec "$@" --set "learner.listen=$(hostname -i | cut -d" " -f1):7200"' memr1-rank "$@"
