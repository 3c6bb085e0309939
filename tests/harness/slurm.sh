#!/usr/bin/env bash
# A real single-node Slurm 22.05 (Debian's slurm-wlm) with 8 fake A800 GPUs and slurmrestd over TCP with JWT auth.
#   tests/harness/slurm.sh start DIR PORT   -> prints "SLURMRESTD_URL=... SLURM_USER=... SLURM_JWT=... SLURM_CONF=..."
#                                              (slurmrestd on PORT, slurmctld on PORT+1, slurmd on PORT+2)
#   tests/harness/slurm.sh start DIR PORT N -> the same with N nodes (N > 1: N slurmd on this host, named gang1..N,
#                                              on PORT+2 .. PORT+1+N, 4 fake A800 each; for multi-node gang jobs)
#   tests/harness/slurm.sh stop DIR         -> cancels this cluster's jobs, stops its daemons, ends what is left
#   tests/harness/slurm.sh kill DIR         -> SIGKILLs its daemons only, like a crash (running jobs' slurmstepd
#                                              live on, as on a real node); `start DIR PORT` again recovers state
# Everything (config, state, logs, pid files) lives in DIR; only the munge key goes to /etc/munge (munged needs it
# there). Only processes recorded in DIR's pid files, or carrying DIR's slurm.conf, are ever signalled.
set -euo pipefail
cmd=${1:?start|stop|kill}; dir=${2:?DIR}; port=${3:-16820}
host=$(hostname -s)
conf="$dir/slurm.conf"
daemons="slurmrestd slurmd slurmctld"
# a multi-node cluster's slurmd are one per node (their names in DIR/nodes, their pid files slurmd-<node>.pid)
if [ -s "$dir/nodes" ]; then daemons="slurmrestd $(sed 's/^/slurmd-/' "$dir/nodes" | tr '\n' ' ')slurmctld"; fi

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -f "$dir/$1.pid" ] && cat "$dir/$1.pid" || true; }

kill_daemons() {  # kill_daemons SIGNAL GRACE_SECONDS
  local sig=$1 grace=$2 name pid
  for name in $daemons; do
    pid=$(pid_of "$name")
    if alive "$pid"; then
      if [ "$name" = slurmrestd ]; then kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
      else kill "-$sig" "$pid" 2>/dev/null || true; fi
    fi
  done
  for _ in $(seq 1 $((grace * 10))); do
    local any=0
    for name in $daemons; do alive "$(pid_of "$name")" && any=1; done
    [ $any = 0 ] && break
    sleep 0.1
  done
  for name in $daemons; do
    pid=$(pid_of "$name")
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$dir/$name.pid"
  done
}

leftovers() {  # slurmstepd and job processes of this cluster (they carry its SLURM_CONF and a SLURM_JOB_ID)
  local p pid env
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    env=$(tr '\0' '\n' < "$p/environ") || continue
    grep -qx "SLURM_CONF=$conf" <<<"$env" || continue
    if grep -q '^SLURM_JOB_ID=' <<<"$env" || [ "$(cat "$p/comm")" = slurmstepd ]; then echo "$pid"; fi
  done 2>/dev/null
  return 0
}

stop() {
  if [ -f "$conf" ] && alive "$(pid_of slurmctld)"; then
    SLURM_CONF="$conf" scancel --full --quiet --partition=gpu 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  kill_daemons TERM 10
  local left
  left=$(leftovers)
  if [ -n "$left" ]; then kill -9 $left 2>/dev/null || true; fi
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
if [ "$cmd" = kill ]; then kill_daemons KILL 0; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start DIR PORT | stop DIR | kill DIR" >&2; exit 2; }
for name in $daemons; do
  if alive "$(pid_of "$name")"; then echo "$name of $dir is already running (pid $(pid_of "$name")): stop it first" >&2; exit 6; fi
done

for bin in slurmctld slurmd slurmrestd munged scontrol; do
  command -v "$bin" >/dev/null || { echo "missing $bin: apt-get install slurm-wlm slurmrestd munge slurm-wlm-jwt-plugin" >&2; exit 3; }
done
mkdir -p "$dir"/{state,spool,log}
chmod 755 "$dir"

# munge: one key per machine, one daemon per machine
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

# JWT key for slurmrestd clients
[ -s "$dir/jwt.key" ] || { dd if=/dev/urandom of="$dir/jwt.key" bs=32 count=1 status=none; chmod 600 "$dir/jwt.key"; }
# gres device files must be character devices: make them like /dev/null (1,3)
for i in 0 1 2 3 4 5 6 7; do [ -c "$dir/fakegpu$i" ] || { rm -f "$dir/fakegpu$i"; mknod "$dir/fakegpu$i" c 1 3; }; done
ctl_port=$((port + 1)); d_port=$((port + 2))
node_count=${4:-1}
if [ "$node_count" -gt 1 ]; then
  : > "$dir/nodes"
  node_lines=""; gres_lines=""
  for k in $(seq 1 "$node_count"); do
    echo "gang$k" >> "$dir/nodes"; mkdir -p "$dir/spool-gang$k"
    for i in 0 1 2 3; do [ -c "$dir/fakegpu-gang$k-$i" ] || mknod "$dir/fakegpu-gang$k-$i" c 1 3; done
    node_lines+="NodeName=gang$k NodeHostname=$host Port=$((d_port + k - 1)) CPUs=1 RealMemory=1000 Gres=gpu:a800:4 State=UNKNOWN"$'\n'
    gres_lines+="NodeName=gang$k Name=gpu Type=a800 File=$dir/fakegpu-gang$k-[0-3]"$'\n'
  done
  daemons="slurmrestd $(sed 's/^/slurmd-/' "$dir/nodes" | tr '\n' ' ')slurmctld"
  partition_nodes=$(paste -sd, "$dir/nodes")
  slurmd_files="SlurmdSpoolDir=$dir/spool-%n"$'\n'"SlurmdPidFile=$dir/slurmd-%n.pid"$'\n'"SlurmdLogFile=$dir/log/slurmd-%n.log"
else
  rm -f "$dir/nodes"
  node_lines="NodeName=$host CPUs=$(nproc) RealMemory=4000 Gres=gpu:a800:8 State=UNKNOWN"
  gres_lines="NodeName=$host Name=gpu Type=a800 File=$dir/fakegpu[0-7]"
  partition_nodes=$host
  slurmd_files="SlurmdSpoolDir=$dir/spool"$'\n'"SlurmdPidFile=$dir/slurmd.pid"$'\n'"SlurmdLogFile=$dir/log/slurmd.log"
fi

cat > "$conf" <<CONF
ClusterName=suanli
SlurmctldHost=$host
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$dir/jwt.key
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
MpiDefault=none
StateSaveLocation=$dir/state
$slurmd_files
SlurmctldPidFile=$dir/slurmctld.pid
SlurmctldLogFile=$dir/log/slurmctld.log
JobCompType=jobcomp/none
$node_lines
PartitionName=gpu Nodes=$partition_nodes Default=YES MaxTime=INFINITE State=UP
CONF
cat > "$dir/gres.conf" <<CONF
AutoDetect=off
$gres_lines
CONF
chmod 644 "$conf" "$dir/gres.conf"

export SLURM_CONF="$conf"
slurmctld -f "$conf"
if [ -s "$dir/nodes" ]; then
  while read -r node; do slurmd -f "$conf" -N "$node"; done < "$dir/nodes"
else
  slurmd -f "$conf"
fi
nodes_idle() { [ "$(sinfo -h -N -o %T 2>/dev/null | grep -cE '^(idle|mixed)')" -ge "$node_count" ]; }
for _ in $(seq 1 30); do
  nodes_idle && break; sleep 1
done
nodes_idle || { echo "slurm nodes not idle:" >&2; sinfo >&2; tail -20 "$dir/log/slurmctld.log" >&2; exit 4; }

id -u slurmrest >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin slurmrest
# slurmrestd refuses tokens for root: jobs are submitted (and run) as this unprivileged user.
job_user=${SLURM_JOB_USER:-suanlijob}
id -u "$job_user" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$job_user"
# setpriv execs (runuser would stay as a parent), and setsid gives it a process group of its own: $! is
# slurmrestd itself, and `stop` can signal its whole group.
setsid setpriv --reuid=slurmrest --regid="$(id -g slurmrest)" --init-groups \
  env SLURM_CONF="$conf" SLURM_JWT=daemon slurmrestd -a rest_auth/jwt -s openapi/v0.0.38 "127.0.0.1:$port" \
  >"$dir/log/slurmrestd.log" 2>&1 </dev/null &
echo $! > "$dir/slurmrestd.pid"
token=$(scontrol token username=$job_user lifespan=86400 | sed -n 's/^SLURM_JWT=//p')
for _ in $(seq 1 30); do
  curl -sf -H "X-SLURM-USER-NAME: $job_user" -H "X-SLURM-USER-TOKEN: $token" "http://127.0.0.1:$port/slurm/v0.0.38/ping" >/dev/null && break
  sleep 1
done
curl -sf -H "X-SLURM-USER-NAME: $job_user" -H "X-SLURM-USER-TOKEN: $token" "http://127.0.0.1:$port/slurm/v0.0.38/ping" >/dev/null \
  || { echo "slurmrestd not answering:" >&2; tail -20 "$dir/log/slurmrestd.log" >&2; exit 5; }
echo "SLURMRESTD_URL=http://127.0.0.1:$port SLURM_USER=$job_user SLURM_JWT=$token SLURM_CONF=$conf"
