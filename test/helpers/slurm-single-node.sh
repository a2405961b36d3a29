#!/usr/bin/env bash
# A throwaway single-node Slurm (Debian's slurm-wlm and munge) under DIR, for tests:
#   slurm-single-node.sh start DIR   prints the SLURM_CONF to export; waits until the node is idle
#   slurm-single-node.sh stop DIR    stops slurmd, slurmctld and munged started by `start`
# Runs as root (SlurmUser=root), no cgroups (proctrack/linuxproc), random ports so parallel copies coexist.
set -euo pipefail
cmd=${1:?start|stop}; dir=$(realpath -m "${2:?DIR}")
stop() {
  local pids=()
  for p in slurmd slurmctld munged; do
    [ -f "$dir/$p.pid" ] && pids+=("$(cat "$dir/$p.pid")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 40); do  # until they have exited (they write state on the way out)
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.25
  done
}
if [ "$cmd" = stop ]; then stop; exit 0; fi
for b in slurmctld slurmd munged sbatch srun; do command -v $b >/dev/null || { echo "missing $b (apt-get install -y slurm-wlm munge)" >&2; exit 3; }; done
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" --pid-file="$dir/munged.pid" \
  --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"
host=$(hostname -s)
port=$(( 20000 + RANDOM % 20000 ))
cpus=$(nproc)
cat > "$dir/slurm.conf" <<CONF
ClusterName=mosaictest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -i
slurmd -N "$host"
for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
  case "$state" in idle*|mix*|alloc*) echo "$SLURM_CONF"; exit 0 ;; esac
  sleep 0.5
done
echo "the single-node Slurm did not come up (state: ${state:-none}); see $dir/*.log" >&2
stop; exit 1
