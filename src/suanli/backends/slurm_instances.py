"""Instances on Slurm: a batch job per instance that runs, on its node and as the cluster's job user (never root),
a real OpenSSH server and JupyterLab, and reports where they listen.

How one instance runs (see ``docs/backends.md``, "Instances on Slurm"):

* suanli prepares ``<shared_dir>/instances/<instance_id>/`` (mode 0700, owned by the job user): ``home/`` (the
  instance's home directory), ``.suanli/sshd/authorized_keys`` (the buyer's keys), ``.suanli/jupyter_token``
  (0600) and ``.suanli/setenv`` (the session environment, as sshd's ``SetEnv`` arguments);
* it submits the batch script below through slurmrestd, named ``suanli-instance:<instance_id>`` (the name is how a
  second ``start_instance`` finds the first and how ``instance_runs`` finds them all) with the same CPU, memory,
  GRES and partition mapping as jobs;
* on the node the script picks free ports (``/proc/net/tcp*``; from ``instance_port_range``), generates an ed25519
  host key, writes ``sshd_config`` and starts ``sshd -D`` and JupyterLab (``jupyter_command``; the token reaches
  it through its environment, never its command line) in a bubblewrap sandbox (``instance_sandbox``): its own
  PID namespace (so stopping the job ends every process the buyer started, even daemonized ones), its own
  ``/tmp`` and ``/dev/shm``, the instance's ``home/`` over the job user's home, the shared directory and munge's
  socket hidden;
* once both answer it writes ``.suanli/access.json`` (the ports), which ``instance_status`` reads back; the node's
  address comes from Slurm and the host key fingerprint from the public key file, not from the job.

Why a script failed is its exit code (``_FAILURES``): ``instance_status`` turns it into fixed text, and never
shows the job's output. Exposed ports are bound directly on the node: the buyer's service must listen on the
port reported for it (``$SUANLI_PORT_<port>`` in the instance); nothing forwards the port it asked for.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import stat
from pathlib import Path
from typing import Any

from suanli.backends.base import (
    VISIBLE_DEVICES_ENV,
    BackendError,
    JobState,
    JobStatus,
    resolve_ecosystem,
    visible_devices_exports,
)
from suanli.backends.instances import (
    InstanceAccess,
    InstanceRunState,
    InstanceRunStatus,
    InstanceSpec,
    InvalidInstanceSpec,
    parse_public_key,
)
from suanli.core.messages import msg

__all__ = ["INSTANCE_JOB_PREFIX", "SANDBOXES", "SlurmInstances", "parse_port_range"]

INSTANCE_JOB_PREFIX = "suanli-instance:"
"""Slurm job name prefix of instances (``:`` cannot occur in a job's run name, so jobs never match)."""
INSTANCES_DIR = "instances"
SANDBOXES = ("bwrap", "none")
HOST_KEY = "host_ed25519_key"
MAX_ACCESS_FILE = 64 * 1024
STOPPED_MARK = "stopped by suanli"
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@-]*")
_PORT_ENV = "SUANLI_PORT_"
_RESERVED_ENV = ("SUANLI_INSTANCE_ID", "CUDA_VISIBLE_DEVICES", *VISIBLE_DEVICES_ENV.values())

# The script's exit codes for the failures it recognises, and what a person reads for them.
_FAILURES = {
    91: msg("the node cannot start the instance sandbox: bubblewrap (bwrap) is missing or unprivileged user "
            "namespaces are disabled there (install bubblewrap, or set the cluster option instance_sandbox=none)"),
    92: msg("OpenSSH server (sshd, ssh-keygen) is not installed on the node"),
    93: msg("the JupyterLab command (cluster option jupyter_command) was not found on the node"),
    94: msg("no free port was found on the node in the cluster's instance_port_range"),
    95: msg("sshd did not start on the node"),
    96: msg("JupyterLab did not start on the node in time"),
    97: msg("sshd or JupyterLab exited on the node; the instance ended"),
    98: "the job user's home directory does not exist on the node (the sandbox mounts the instance's home over it)",
    99: "the instance directory is not visible on the node: shared_dir must be the same shared directory on "
        "suanli's machine and on every node",
}
_SLURM_ENDINGS = {
    "TIMEOUT": msg("the cluster's time limit ended the instance"),
    "OUT_OF_MEMORY": msg("the instance ran out of memory on the node"),
    "DEADLINE": msg("the job's deadline ended the instance"),
    "NODE_FAIL": msg("the instance's node failed"),
    "BOOT_FAIL": msg("the instance's node failed to boot"),
    "PREEMPTED": msg("the cluster preempted the instance"),
}


def parse_port_range(text: str) -> tuple[int, int]:
    """``"20000-32767"`` → ``(20000, 32767)``: the ports an instance may take on a node."""
    match = re.fullmatch(r"\s*(\d{4,5})\s*-\s*(\d{4,5})\s*", str(text))
    if match:
        low, high = int(match[1]), int(match[2])
        if 1024 <= low and low + 16 <= high <= 65535:
            return low, high
    raise BackendError(f"instance_port_range {text!r} must be 'LOW-HIGH' with 1024 <= LOW, LOW + 16 <= HIGH "
                       "<= 65535 (default 20000-32767, below Linux's ephemeral ports)", kind="slurm")


def _setenv_argument(name: str, value: str) -> str:
    """One ``NAME=VALUE`` argument of sshd_config's ``SetEnv``, double-quoted (sshd unescapes ``\\``, ``"``)."""
    if any(c in value for c in "\n\r\0"):
        raise InvalidInstanceSpec(f"environment variable {name}: values with line breaks cannot be passed to SSH "
                                  "sessions on Slurm; use a file in the instance instead")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{name}={escaped}"'


class _Unreadable(Exception):
    """A file of the run directory is not a plain file suanli wrote or expects (a symlink, a FIFO, too big)."""


def _read_run_file(root: Path, parts: tuple[str, ...], limit: int) -> bytes | None:
    """``root/parts...`` read without following a symlink below ``root`` (the run directory belongs to the job
    user, whose tenant may have planted one); ``None`` when it does not exist (yet)."""
    fds: list[int] = []
    try:
        fds.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY))
        for part in parts[:-1]:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        fds.append(os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fds[-1]))
        info = os.fstat(fds[-1])
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            raise _Unreadable
        return os.read(fds[-1], limit + 1)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise BackendError(f"suanli cannot read the instance directory {root.joinpath(*parts[:1])}: run suanli as "
                           "root or as the cluster's job user", kind="slurm") from None
    except OSError:  # ELOOP (a symlink), ENOTDIR, ENXIO ...
        raise _Unreadable from None
    finally:
        for fd in fds:
            os.close(fd)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _Unreadable
    return value


def _parse_access(data: bytes) -> tuple[int, int, dict[int, int]]:
    """(ssh port, jupyter port, {exposed port: node port}) from access.json, strictly."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise _Unreadable from None
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("ports"), dict):
        raise _Unreadable
    if len(doc["ports"]) > 16:
        raise _Unreadable
    exposed = {}
    for key, value in doc["ports"].items():
        if not isinstance(key, str) or not key.isdigit():
            raise _Unreadable
        exposed[_port(int(key))] = _port(value)
    return _port(doc.get("ssh_port")), _port(doc.get("jupyter_port")), exposed


class SlurmInstances:
    """The :class:`~suanli.backends.instances.InstanceBackend` half of :class:`~suanli.backends.SlurmBackend`
    (a mixin: it uses the backend's slurmrestd client and settings)."""

    kind: str
    user: str
    path: str
    shared_dir: Path | None
    jupyter_command: tuple[str, ...]
    instance_sandbox: str
    instance_ports: tuple[int, int]
    instance_start_timeout: int

    def _instances_unsupported(self) -> str | None:
        """Why this backend cannot start instances, or ``None``."""
        if self.shared_dir is None:
            return ("instances need shared_dir: suanli writes an instance's keys and token there and reads back "
                    "where its services listen (slurmrestd v0.0.38 has no other way to reach a node)")
        if not _SAFE_PATH.fullmatch(str(self.shared_dir)):
            return (f"shared_dir {str(self.shared_dir)!r} must be an absolute path of letters, digits and "
                    "'._/+@-' for instances (it is written into sshd_config and the sandbox's mounts)")
        if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != self.user:
            return (f"suanli runs as {pwd.getpwuid(os.geteuid()).pw_name!r}: it must run as root or as the job "
                    f"user {self.user!r} to hand an instance's directory (mode 0700) to that user and read it")
        return None

    # ---------------------------------------------------------------------------------------------- protocol

    def start_instance(self, spec: InstanceSpec) -> str:
        self.capabilities().require("instances")  # type: ignore[attr-defined]
        setenv = self._session_environment(spec)
        existing = self._instance_jobs(spec.instance_id)
        if existing:
            return str(max(existing))  # started before (suanli restarted mid-start, or asked twice)
        run_dir = self._instance_dir(spec.instance_id)
        self._prepare_instance_dir(spec, run_dir, setenv)
        control = run_dir / ".suanli"
        job: dict[str, Any] = {
            "name": INSTANCE_JOB_PREFIX + spec.instance_id,
            "comment": f"suanli instance {spec.instance_id}",
            "environment": {"PATH": self.path, "LANG": "C.UTF-8", **spec.env,
                            "SUANLI_INSTANCE_ID": spec.instance_id},
            "current_working_directory": str(run_dir),
            "standard_output": str(control / "output.log"),
            "standard_error": str(control / "output.log"),
            "no_requeue": True,  # see SlurmBackend.submit
            **self._resource_fields(spec),  # type: ignore[attr-defined]
        }
        body = self._request("POST", "/job/submit",  # type: ignore[attr-defined]
                             json={"script": self._instance_script(spec, run_dir), "job": job})
        job_id = body.get("job_id")
        if job_id is None:
            raise BackendError(f"slurmrestd accepted instance {spec.instance_id} but returned no job_id",
                               kind=self.kind)
        return str(job_id)

    def instance_status(self, run_id: str) -> InstanceRunStatus:
        job = self._job(run_id)  # type: ignore[attr-defined]
        if job is None:
            return InstanceRunStatus(InstanceRunState.LOST, detail=msg("Slurm does not know job %(job)s (any more): "
                                                                         "the controller lost its state or purged "
                                                                         "the job", job=run_id))
        instance_id = self._instance_id_of(run_id, job)
        status: JobStatus = self._job_status(job)  # type: ignore[attr-defined]
        slurm_state = status.detail.split(":", 1)[0]
        if status.state is JobState.PENDING:
            return InstanceRunStatus(InstanceRunState.STARTING, detail=msg("waiting for a node (Slurm: PENDING)"))
        if status.state is JobState.RUNNING:
            return self._running_status(instance_id, job)
        if status.state is JobState.CANCELLED:
            if STOPPED_MARK in str(job.get("comment") or ""):
                return InstanceRunStatus(InstanceRunState.STOPPED, detail=msg("stopped"))
            return InstanceRunStatus(InstanceRunState.FAILED, detail=msg("the instance was cancelled on the cluster "
                                                                         "(not by suanli)"))
        if status.state is JobState.LOST:
            return InstanceRunStatus(InstanceRunState.LOST, detail=_SLURM_ENDINGS.get(slurm_state) or msg("lost"))
        if status.exit_code in _FAILURES:
            return InstanceRunStatus(InstanceRunState.FAILED, detail=_FAILURES[status.exit_code])
        ending = _SLURM_ENDINGS.get(slurm_state)
        if ending is None:
            ending = (msg("the instance's job ended (exit code %(code)s)", code=str(status.exit_code))
                      if status.exit_code is not None else msg("the instance's job ended"))
        return InstanceRunStatus(InstanceRunState.FAILED, detail=ending)

    def stop_instance(self, run_id: str) -> None:
        job = self._job(run_id)  # type: ignore[attr-defined]
        if job is None:
            return
        instance_id = self._instance_id_of(run_id, job)
        if self._job_status(job).terminal:  # type: ignore[attr-defined]
            return
        # Slurm keeps the record of who stopped it (in the sandbox the buyer cannot reach Slurm: munge is hidden)
        self._unless_ended("POST", f"/job/{run_id}",  # type: ignore[attr-defined]
                           json={"comment": f"suanli instance {instance_id}: {STOPPED_MARK}"})
        self.cancel(run_id)  # type: ignore[attr-defined]  # SIGTERM, then SIGKILL after the cluster's KillWait

    def instance_runs(self) -> list[str]:
        return [str(job_id) for job_id in sorted(self._instance_jobs(None, live_only=True))]

    # --------------------------------------------------------------------------------------------- internals

    def _instance_dir(self, instance_id: str) -> Path:
        assert self.shared_dir is not None
        return self.shared_dir / INSTANCES_DIR / instance_id

    def _instance_jobs(self, instance_id: str | None, *, live_only: bool = False) -> list[int]:
        """Ids of this user's instance jobs Slurm knows (for one instance, or all), optionally only the pending
        and running ones."""
        jobs = self._request("GET", "/jobs").get("jobs") or []  # type: ignore[attr-defined]
        wanted = INSTANCE_JOB_PREFIX + (instance_id or "")
        found = []
        for job in jobs:
            name = str(job.get("name") or "")
            if job.get("user_name") != self.user or not (name == wanted if instance_id else name.startswith(wanted)):
                continue
            if live_only and self._job_status(job).terminal:  # type: ignore[attr-defined]
                continue
            found.append(int(job["job_id"]))
        return found

    def _instance_id_of(self, run_id: str, job: dict[str, Any]) -> str:
        name = str(job.get("name") or "")
        if not name.startswith(INSTANCE_JOB_PREFIX) or job.get("user_name") != self.user:
            raise BackendError(f"Slurm job {run_id} is not a suanli instance of user {self.user!r}", kind=self.kind)
        return name.removeprefix(INSTANCE_JOB_PREFIX)

    def _running_status(self, instance_id: str, job: dict[str, Any]) -> InstanceRunStatus:
        assert self.shared_dir is not None
        root = self.shared_dir / INSTANCES_DIR
        try:
            access = _read_run_file(root, (instance_id, ".suanli", "access.json"), MAX_ACCESS_FILE)
            if access is None:
                return InstanceRunStatus(InstanceRunState.STARTING, detail=msg("starting sshd and JupyterLab on the node"))
            ssh_port, jupyter_port, exposed = _parse_access(access)
            host_key = _read_run_file(root, (instance_id, ".suanli", "sshd", HOST_KEY + ".pub"), 16 * 1024)
            if host_key is None:
                raise _Unreadable
            fingerprint = parse_public_key(host_key.decode("ascii", errors="replace")).fingerprint
        except (_Unreadable, InvalidInstanceSpec):
            return InstanceRunStatus(InstanceRunState.FAILED, detail=msg("the instance's access file or host key on "
                                                                       "the shared directory is not what suanli "
                                                                       "wrote (changed from inside?)"))
        host = self._node_address(str(job.get("batch_host") or job.get("nodes") or ""))
        access_info = InstanceAccess(
            ssh_host=host, ssh_port=ssh_port, ssh_user=self.user, jupyter_url=f"http://{host}:{jupyter_port}/",
            ssh_host_key_fingerprints=(fingerprint,), ports={port: (host, node_port) for port, node_port
                                                              in exposed.items()})
        return InstanceRunStatus(InstanceRunState.RUNNING, access_info, detail=msg("running"))

    def _node_address(self, node: str) -> str:
        """The address Slurm itself reaches ``node`` at (``NodeAddr``; its name when none is set)."""
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", node):
            raise BackendError(f"Slurm reports no usable node name for the instance ({node[:80]!r})", kind=self.kind)
        nodes = self._request("GET", f"/node/{node}").get("nodes") or []  # type: ignore[attr-defined]
        address = str((nodes[0].get("address") if nodes else None) or node)
        return address if re.fullmatch(r"[A-Za-z0-9._:-]{1,253}", address) else node

    def _session_environment(self, spec: InstanceSpec) -> str:
        """sshd's ``SetEnv`` arguments for the spec (sshd starts sessions from a clean environment)."""
        reserved = [name for name in spec.env if name in _RESERVED_ENV or name.startswith(_PORT_ENV)]
        if reserved:
            raise InvalidInstanceSpec(f"environment variable(s) {', '.join(sorted(reserved))} are set by the "
                                      "platform in an instance; choose other names")
        env = {"PATH": self.path, "LANG": "C.UTF-8", **spec.env, "SUANLI_INSTANCE_ID": spec.instance_id}
        return " ".join(_setenv_argument(name, value) for name, value in env.items())

    def _prepare_instance_dir(self, spec: InstanceSpec, run_dir: Path, setenv: str) -> None:
        """The run directory with fresh control files (``.suanli/``, built as root and handed to the job user at
        the end, so nobody can interfere while it is written). An existing ``home/`` is kept: the buyer's files
        outlive a restart of the same instance id."""
        parent = run_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        parent.chmod(0o711)  # the job user may enter it, not list the other instances
        control = run_dir / ".suanli"
        if run_dir.is_symlink():
            run_dir.unlink()
        fresh = [control, control / "sshd", control / "run"]
        if not run_dir.exists():
            fresh[:0] = [run_dir, run_dir / "home"]
        elif control.is_symlink():
            control.unlink()
        elif control.exists():
            shutil.rmtree(control)
        for directory in fresh:
            directory.mkdir(mode=0o700)
        files = {
            control / "sshd" / "authorized_keys": "".join(parse_public_key(k).line + "\n"
                                                          for k in spec.authorized_keys),
            control / "jupyter_token": spec.jupyter_token,
            control / "setenv": setenv,
        }
        for path, content in files.items():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(self.user)
            except KeyError:
                raise BackendError(f"the job user {self.user!r} does not exist on suanli's machine: it cannot hand "
                                   "the instance's directory to that user (create the user with the cluster's uid, "
                                   "as for NFS)", kind=self.kind) from None
            for path in [*files, *reversed(fresh)]:
                os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)

    def _instance_script(self, spec: InstanceSpec, run_dir: Path) -> str:
        assert self.shared_dir is not None
        ecosystem = resolve_ecosystem(spec.chip, spec.ecosystem)
        visible_var = VISIBLE_DEVICES_ENV[ecosystem]
        settings = {
            "run_dir": str(run_dir),
            "shared_dir": str(self.shared_dir),
            "sandbox": self.instance_sandbox,
            "port_low": str(self.instance_ports[0]),
            "port_high": str(self.instance_ports[1]),
            "start_timeout": str(self.instance_start_timeout),
        }
        lines = ["#!/bin/bash", f"# suanli instance {spec.instance_id}", "set -u", "umask 077"]
        lines += [f"{name}={shlex.quote(value)}" for name, value in settings.items()]
        lines.append(f"exposed=({' '.join(str(p) for p in spec.ports)})")
        lines.append(f"jupyter=({' '.join(shlex.quote(a) for a in self.jupyter_command)})")
        lines += visible_devices_exports(visible_var, spec.accelerators, "CUDA_VISIBLE_DEVICES")
        device_vars = sorted({"CUDA_VISIBLE_DEVICES", visible_var}) if spec.accelerators else [visible_var]
        lines.append(f"device_vars=({' '.join(device_vars)})")
        return "\n".join(lines) + "\n" + _SCRIPT_BODY


# The part of the batch script that does not depend on the instance (the settings above it do). Runs on the node as
# the job user; every failure it recognises exits with a code of _FAILURES.
_SCRIPT_BODY = r"""
control=$run_dir/.suanli
[ -d "$control/sshd" ] && cd "$run_dir" || exit 99
user=$(id -un)

sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
[ -x "$sshd_bin" ] && command -v ssh-keygen >/dev/null || exit 92
command -v -- "${jupyter[0]}" >/dev/null || exit 93
if [ "$sandbox" = bwrap ]; then
  home=$(getent passwd "$user" | cut -d: -f6)
  [ -n "$home" ] && [ -d "$home" ] || exit 98
  command -v bwrap >/dev/null && bwrap --unshare-user --unshare-pid --dev-bind / / true 2>/dev/null || exit 91
else
  home=$run_dir/home
fi

# Free ports: every port a socket on this node holds now is taken; pick at random among the others.
declare -A taken=()
for table in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
  [ -r "$table" ] || continue
  { read -r _; while read -r _ local_address _; do taken[$((16#${local_address##*:}))]=1; done; } < "$table"
done
pick_port() {  # sets $picked
  local attempt
  for attempt in $(seq 1 1000); do
    picked=$(( port_low + (RANDOM * 32768 + RANDOM) % (port_high - port_low + 1) ))
    [ -z "${taken[$picked]-}" ] && { taken[$picked]=1; return 0; }
  done
  return 1
}
pick_port || exit 94; ssh_port=$picked
pick_port || exit 94; jupyter_port=$picked
node_ports=()
for port in "${exposed[@]}"; do
  pick_port || exit 94
  node_ports+=("$picked")
  export "SUANLI_PORT_$port=$picked"
done

rm -f "$control/sshd/host_ed25519_key" "$control/sshd/host_ed25519_key.pub"
ssh-keygen -q -t ed25519 -N '' -C "suanli-instance" -f "$control/sshd/host_ed25519_key" </dev/null || exit 92
{
  echo "Port $ssh_port"
  echo "HostKey \"$control/sshd/host_ed25519_key\""
  echo "AuthorizedKeysFile \"$control/sshd/authorized_keys\""
  echo "PidFile \"$control/run/sshd.pid\""
  echo "AllowUsers $user"
  # StrictModes would refuse the keys: in the sandbox's user namespace root's directories belong to "nobody"
  cat <<'CONFIG'
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
PermitRootLogin no
PermitUserEnvironment no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PrintMotd no
Subsystem sftp internal-sftp
CONFIG
  # one SetEnv line (sshd takes the first only): the spec's environment, then the devices and the ports
  printf 'SetEnv %s' "$(<"$control/setenv")"
  [ "$sandbox" = none ] && printf ' "HOME=%s"' "$home"
  for name in "${device_vars[@]}"; do printf ' "%s=%s"' "$name" "${!name-}"; done
  for i in "${!exposed[@]}"; do printf ' SUANLI_PORT_%s=%s' "${exposed[$i]}" "${node_ports[$i]}"; done
  echo
} > "$control/sshd/sshd_config"

# The supervisor runs inside the sandbox: sshd and JupyterLab; when either ends, the instance ends. The token
# travels in the environment (readable by the job user only), never on a command line.
supervisor='
sshd_bin=$1 config=$2 sshd_log=$3 jupyter_log=$4; shift 4
token=$JUPYTER_TOKEN; unset JUPYTER_TOKEN
"$sshd_bin" -D -f "$config" -E "$sshd_log" </dev/null &
(export JUPYTER_TOKEN=$token; cd "$HOME" && exec "$@" </dev/null >"$jupyter_log" 2>&1) &
wait -n
exit 97'
if [ "$sandbox" = bwrap ]; then
  box=(bwrap --die-with-parent --unshare-user --unshare-pid --unshare-ipc --dev-bind / / --proc /proc
       --tmpfs /tmp --tmpfs /dev/shm)
  [ -d /var/tmp ] && box+=(--tmpfs /var/tmp)
  # munge's socket would let the buyer act as the job user towards Slurm (submit unbilled jobs, cancel others')
  [ -d /run/munge ] && box+=(--tmpfs /run/munge)
  box+=(--tmpfs "$shared_dir" --bind "$run_dir/home" "$home" --ro-bind "$control/sshd" "$control/sshd"
        --bind "$control/run" "$control/run" --setenv HOME "$home" --chdir "$home" --)
else
  box=(env "HOME=$home")
fi
JUPYTER_TOKEN=$(<"$control/jupyter_token") || exit 99
rm -f "$control/jupyter_token"
export JUPYTER_TOKEN
"${box[@]}" /bin/bash -c "$supervisor" suanli-instance "$sshd_bin" "$control/sshd/sshd_config" \
  "$control/run/sshd.log" "$control/run/jupyter.log" "${jupyter[@]}" --no-browser --ServerApp.ip=0.0.0.0 \
  "--ServerApp.port=$jupyter_port" --ServerApp.port_retries=0 "--ServerApp.root_dir=$home" &
box_pid=$!
unset JUPYTER_TOKEN

answers() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
deadline=$((SECONDS + start_timeout))
until answers "$ssh_port" && answers "$jupyter_port"; do
  if ! kill -0 "$box_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    answers "$ssh_port" || exit 95
    exit 96
  fi
  sleep 0.5
done

{
  printf '{"version": 1, "ssh_port": %d, "jupyter_port": %d, "sandbox": "%s", "ports": {' \
    "$ssh_port" "$jupyter_port" "$sandbox"
  separator=
  for i in "${!exposed[@]}"; do printf '%s"%d": %d' "$separator" "${exposed[$i]}" "${node_ports[$i]}"; separator=', '; done
  echo '}}'
} > "$control/access.json.tmp" && mv -f "$control/access.json.tmp" "$control/access.json"
wait "$box_pid"
exit 97
"""
