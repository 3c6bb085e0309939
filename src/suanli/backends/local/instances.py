"""Instances of the ``local`` backend: a sandboxed run (``runs.py``) whose command starts a real OpenSSH
``sshd`` and JupyterLab, as the run's uid, with host ports forwarded to them and to the buyer's exposed ports.

- ``sshd`` (Debian openssh-server) runs unprivileged with its own config in ``/run/suanli``: port 22 inside,
  host keys generated per instance (their ``SHA256:`` fingerprints are in the access details), the spec's keys
  in ``~/.ssh/authorized_keys`` of the login user ``user`` (HOME = the work directory), no passwords, no PAM.
- JupyterLab runs from a Python environment bound read-only into the sandbox (``jupyter_python``: by default
  the server's own, where ``jupyterlab`` is a dependency), notebook dir = the work directory; the token is read
  from a file (``JUPYTER_TOKEN_FILE``), never put on a command line another user could read in ``ps``.
- The local backend has no container engine: every image runs on this machine's own userland. The image the
  buyer chose is exported as ``SUANLI_IMAGE`` (and said in ``capabilities()``).

States: ``starting`` until sshd shows its banner and JupyterLab answers HTTP on their host ports; ``running``
with the access details; ``failed`` when sshd or JupyterLab exited (the instance's init ends with the first
of them), ``stopped`` after ``stop_instance``; ``lost`` when the run is gone or its supervisor died.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from suanli.backends.base import BackendError, visible_devices_var
from suanli.backends.instances import (
    JUPYTER_PORT,
    SSH_PORT,
    InstanceAccess,
    InstanceRunState,
    InstanceRunStatus,
    InstanceSpec,
    InvalidInstanceSpec,
    parse_public_key,
)
from suanli.backends.local.limits import RunLimits
from suanli.backends.local.runs import Launch, RunDir
from suanli.backends.local.sandbox import DEFAULT_PATH, HOME, LOGIN_USER, RUN_FILES
from suanli.core.messages import msg

if TYPE_CHECKING:
    from suanli.backends.local.backend import LocalBackend

__all__ = ["LocalInstances"]

_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
HOST_KEY_TYPES = ("ed25519", "ecdsa")
SSHD = "/usr/sbin/sshd"
PROBE_SECONDS = 1.0
EXIT_REASONS = {10: msg("sshd exited"), 11: msg("JupyterLab exited")}

INIT = """#!/bin/bash
# suanli instance: sshd and JupyterLab as this run's uid; the instance ends when either of them ends.
{sshd} -D -e -f {files}/sshd_config &
sshd=$!
JUPYTER_TOKEN_FILE={files}/jupyter_token {python} -m jupyterlab --no-browser --ServerApp.ip=0.0.0.0 \\
    --ServerApp.port={jupyter_port} --ServerApp.port_retries=0 --ServerApp.root_dir={home} \\
    --ServerApp.allow_remote_access=True &
jupyter=$!
wait -n "$sshd" "$jupyter"
code=$?
if ! kill -0 "$sshd" 2>/dev/null; then
    echo "suanli: sshd exited with code $code" >&2; kill "$jupyter"; exit 10
fi
echo "suanli: JupyterLab exited with code $code" >&2; kill "$sshd"; exit 11
"""


def _sshd_value(text: str) -> str:
    """A double-quoted sshd_config argument."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sshd_config(env: dict[str, str]) -> str:
    lines = [
        f"Port {SSH_PORT}", "ListenAddress 0.0.0.0",
        *(f"HostKey {RUN_FILES}/ssh_host_{kind}_key" for kind in HOST_KEY_TYPES),
        "PidFile /run/sshd.pid", "AuthorizedKeysFile .ssh/authorized_keys", f"AllowUsers {LOGIN_USER}",
        "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "PermitRootLogin no", "StrictModes yes", "X11Forwarding no", "PrintMotd no",
        "PrintLastLog no", "AcceptEnv LANG LC_*", "Subsystem sftp internal-sftp",
    ]
    if env:
        lines.append("SetEnv " + " ".join(_sshd_value(f"{k}={v}") for k, v in sorted(env.items())))
    return "\n".join(lines) + "\n"


def _host_keys(instance_id: str) -> dict[str, tuple[str, str]]:
    """Fresh host keys: kind → (private key, public key line)."""
    keys = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in HOST_KEY_TYPES:
            path = Path(tmp) / kind
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"suanli-{instance_id}", "-f", str(path)],
                           check=True, capture_output=True, timeout=30)
            keys[kind] = (path.read_text(), (path.with_suffix(".pub")).read_text().strip())
    return keys


def _ssh_banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS) as sock:
            sock.settimeout(PROBE_SECONDS)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _http_answers(host: str, port: int) -> bool:
    """Does an HTTP server answer ``GET /api/status`` (any status: 403 without the token is an answer)? The
    body is not read."""
    connection = http.client.HTTPConnection(host, port, timeout=PROBE_SECONDS)
    try:
        connection.request("GET", "/api/status")
        return connection.getresponse().status > 0
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class LocalInstances:
    """The instance half of :class:`~suanli.backends.local.LocalBackend` (``InstanceBackend``)."""

    def _instance_programs_missing(self: LocalBackend) -> str:
        missing = [name for name in ("sshd", "ssh-keygen") if shutil.which(name, path=DEFAULT_PATH) is None]
        if missing:
            return f"missing {', '.join(missing)}: apt-get install openssh-server"
        if not os.access(self.jupyter_python, os.X_OK):
            return f"jupyter_python {self.jupyter_python} is not an executable Python with jupyterlab"
        if self.jupyter_python == sys.executable and importlib.util.find_spec("jupyterlab") is None:
            return f"jupyterlab is not installed for {sys.executable}: pip install jupyterlab (a suanli dependency)"
        return ""

    @staticmethod
    def image_note() -> str:
        return ("no container engine: every image runs on this machine's own userland (its /usr); the image "
                "the buyer chose is exported as SUANLI_IMAGE")

    def _instance_run(self: LocalBackend, run_id: str) -> RunDir:
        if not _INSTANCE_ID.fullmatch(run_id):
            raise BackendError(f"{run_id!r} is not a local instance id", kind=self.kind)
        return RunDir(self.base_dir / "instances" / run_id)

    def _python_prefixes(self: LocalBackend) -> list[str]:
        """The directories JupyterLab's Python needs, bound read-only at their own paths (a virtualenv and the
        interpreter it was made from), except what ``/usr`` already brings."""
        python = Path(self.jupyter_python)
        prefixes = {python.parent.parent, python.resolve().parent.parent}
        return sorted(str(p) for p in prefixes if not (p == Path("/usr") or Path("/usr") in p.parents))

    def start_instance(self: LocalBackend, spec: InstanceSpec) -> str:
        run = self._instance_run(spec.instance_id)
        if run.state() is not None:
            return run.name
        if spec.accelerators and not spec.device_indices:
            raise InvalidInstanceSpec(f"the local backend needs the device indices allocated to the instance's "
                                      f"{spec.accelerators} accelerator(s)", kind=self.kind)
        missing = self._instance_programs_missing()
        if missing:
            raise BackendError(f"the local backend cannot start instances: {missing}", kind=self.kind)
        for name, value in spec.env.items():
            if any(c in value for c in "\n\r\0"):
                raise InvalidInstanceSpec(f"environment variable {name} contains a line break or NUL, which an "
                                          "SSH session cannot receive", kind=self.kind)
        ecosystem = spec.ecosystem or "cuda"
        visible = {visible_devices_var(ecosystem): ",".join(str(i) for i in spec.device_indices)}
        session_env = {**spec.env, "SUANLI_IMAGE": spec.image, "SUANLI_INSTANCE_ID": spec.instance_id, **visible}
        keys = _host_keys(spec.instance_id)
        files = {f"ssh_host_{kind}_key": (private, 0o600) for kind, (private, _) in keys.items()}
        files.update({f"ssh_host_{kind}_key.pub": (public + "\n", 0o644) for kind, (_, public) in keys.items()})
        files["jupyter_token"] = (spec.jupyter_token, 0o600)
        files["sshd_config"] = (sshd_config(session_env), 0o644)
        files["init.sh"] = (INIT.format(sshd=SSHD, files=RUN_FILES, python=shlex.quote(self.jupyter_python),
                                        jupyter_port=JUPYTER_PORT, home=HOME), 0o644)
        authorized = "".join(parse_public_key(line).line + "\n" for line in spec.authorized_keys)
        fingerprints = [parse_public_key(public).fingerprint for _, public in keys.values()]
        launch = Launch(
            command=["/bin/bash", f"{RUN_FILES}/init.sh"],
            env={**self.base_environment(), **session_env},
            limits=RunLimits(spec.vcpus, spec.memory_gib, spec.max_processes),
            files=files, tenant_files={"jupyter_token", *(f"ssh_host_{kind}_key" for kind in HOST_KEY_TYPES)},
            work_files={".ssh/authorized_keys": authorized},
            devices=self.devices(ecosystem, spec.device_indices), read_only=self._python_prefixes(),
            inside_ports=[SSH_PORT, JUPYTER_PORT, *spec.ports], low_ports=True,
            extra_state={"kind": "instance", "image": spec.image, "fingerprints": fingerprints,
                         "memory_gib": spec.memory_gib})
        self.launch(run, launch, spec.instance_id[:63])
        return run.name

    def instance_status(self: LocalBackend, run_id: str) -> InstanceRunStatus:
        run = self._instance_run(run_id)
        state = run.state()
        if state is None:
            return InstanceRunStatus(InstanceRunState.LOST, detail=msg("no instance run %(run)s on this cluster", run=run_id))
        self._reap()
        if run.supervisor_alive(state):
            access = self._access(run, state)
            if run.marked("answered"):  # probed once: from then on the supervisor being alive is enough
                return InstanceRunStatus(InstanceRunState.RUNNING, access)
            probe_host = "127.0.0.1" if self.listen_address in ("0.0.0.0", "::", "") else self.listen_address
            # JupyterLab first: it is the slow one, and a failed HTTP probe leaves no line in the buyer's log
            jupyter_up = _http_answers(probe_host, self._forwarded(run)[JUPYTER_PORT])
            ssh_up = jupyter_up and _ssh_banner(probe_host, access.ssh_port)
            if ssh_up and jupyter_up:
                run.mark("answered")
                return InstanceRunStatus(InstanceRunState.RUNNING, access)
            waiting = "JupyterLab" if not jupyter_up else "sshd"
            return InstanceRunStatus(InstanceRunState.STARTING, detail=msg("waiting for %(program)s to answer",
                                                                            program=waiting))
        run.settle()
        if run.marked("stopped"):
            return InstanceRunStatus(InstanceRunState.STOPPED, detail=msg("stopped"))
        result = run.read("result.json")
        if result is None:
            return InstanceRunStatus(InstanceRunState.LOST, detail=msg("the instance's supervisor ended without "
                                                                       "recording how (killed from outside, or the "
                                                                       "machine restarted)"))
        code = result.get("exit_code")
        detail = run.failure(state, result) or EXIT_REASONS.get(code) or msg("the instance ended with code %(code)s", code=str(code))
        return InstanceRunStatus(InstanceRunState.FAILED, detail=detail)

    def _forwarded(self: LocalBackend, run: RunDir) -> dict[int, int]:
        """Port inside → host port."""
        return {int(inside): int(port) for inside, port in run.plan().get("forwards", {}).items()}

    def _access(self: LocalBackend, run: RunDir, state: dict[str, object]) -> InstanceAccess:
        forwarded = self._forwarded(run)
        host = self.public_host
        exposed = {inside: (host, port) for inside, port in forwarded.items()
                   if inside not in (SSH_PORT, JUPYTER_PORT)}
        url_host = f"[{host}]" if ":" in host else host
        return InstanceAccess(ssh_host=host, ssh_port=forwarded[SSH_PORT], ssh_user=LOGIN_USER,
                              jupyter_url=f"http://{url_host}:{forwarded[JUPYTER_PORT]}/",
                              ssh_host_key_fingerprints=tuple(state.get("fingerprints") or ()),  # type: ignore[arg-type]
                              ports=exposed)

    def stop_instance(self: LocalBackend, run_id: str) -> None:
        run = self._instance_run(run_id)
        run.end("stopped", self.grace_seconds)
        self._reap()

    def instance_runs(self: LocalBackend) -> list[str]:
        root = self.base_dir / "instances"
        if not root.is_dir():
            return []
        runs = []
        for entry in sorted(root.iterdir()):
            run = RunDir(entry)
            if _INSTANCE_ID.fullmatch(entry.name) and not run.marked("stopped") and run.supervisor_alive():
                runs.append(entry.name)
        return runs
