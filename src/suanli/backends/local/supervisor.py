"""The supervisor of one sandboxed run of the ``local`` backend.

A small root process, started detached (a session of its own, not a child that dies with suanli) as
``python -I -S supervisor.py RUN_DIR``, so a run survives a restart of the server. It uses the standard library
only, and the backend imports the same functions (``processes_of``, ``kill_run``, ``release``) for ``cancel`` and
``stop_instance``: one way to end a run, wherever it is called from.

It reads ``RUN_DIR/plan.json`` (written by the backend; everything is decided there) and:

1. starts bubblewrap as the run's own uid (``setpriv`` drops root first) in new user, mount, PID, IPC, UTS,
   network and cgroup namespaces, inside the run's cgroups and rlimits, blocked (``--block-fd``) until its
   network is up. The sources bubblewrap binds (the work directory, the Python that runs JupyterLab, device
   files, the run's read-only files) are first bind-mounted by root into a private staging tmpfs, so the
   run's uid never needs a path to them on the host: the base directory stays 0700;
2. attaches pasta (``passt``), also as the run's uid, to the sandbox's network namespace: outbound connectivity
   through the host's sockets, forwarding of the run's host ports, and no way to the host's loopback
   (``--no-map-gw``, ``-T none -U none``). pasta opens ``/dev/net/tun``; it gets a device node of its own
   (owned by the run's uid, in its own mount namespace), so the host's node can stay 0600;
3. waits for the sandbox to end (or for its hard deadline), and records the outcome in ``result.json``;
4. kills whatever is left of the run's uid, removes its cgroups and releases its uid and port claims.

Every process of a run runs as the run's uid and nothing else does: "every process of the run" is exactly
"every process of that uid", which ``kill_run`` ends (the sandbox's PID-namespace init first: the kernel then
kills the whole namespace at once, fork bombs included).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

STAGE = "/tmp/suanli-stage"  # in the private mount namespace of the sandbox's bubblewrap (not the host's /tmp)
NS_GET_USERNS = 0xB701
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_BIND, MS_REC, MS_PRIVATE = 2, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36
TUN_MAJOR, TUN_MINOR = 10, 200

_libc = ctypes.CDLL(None, use_errno=True)


# ------------------------------------------------------------------------------------------- processes


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[19])


def alive(pid: int | None, start_ticks: int | None) -> bool:
    """Is ``pid`` still the process that was recorded (same start time), and not a zombie?"""
    if not pid:
        return False
    stat = proc_stat(pid)
    if stat is None or stat[0] == "Z":
        return False
    return start_ticks is None or stat[1] == start_ticks


def processes_of(uid: int) -> list[int]:
    """Live (non-zombie) processes whose real uid is ``uid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry.name}/status").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1 0").split()[0]) == uid and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(entry.name))
    return found


def signal_run(uid: int, sig: int, exclude: Iterable[int] = ()) -> int:
    """Send ``sig`` to every process of the run's uid except ``exclude``; returns how many were signalled."""
    skip = set(exclude)
    sent = 0
    for pid in processes_of(uid):
        if pid not in skip:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                sent += 1
    return sent


def kill_run(uid: int, init_pid: int | None = None, timeout: float = 5.0) -> list[int]:
    """SIGKILL everything of the run: the sandbox's PID-namespace init first (the kernel then kills the whole
    namespace), then every process left with the run's uid, until none is left. Returns the survivors (empty
    unless processes are stuck in the kernel past ``timeout``)."""
    if init_pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(init_pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        left = processes_of(uid)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)  # (zombies do not count: their reaper collects them)


def _reap_children() -> None:
    """Collect exited children (the supervisor is a subreaper: orphans of the run come to it)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def release(plan: dict[str, Any], run_dir: Path) -> None:
    """Give back what the run held: its cgroups (removed once empty) and its uid and port claims (removed only if
    they still name this run). Idempotent; called by the supervisor when the run ends and by the backend when
    it finds a run whose supervisor is gone."""
    for path in reversed(plan.get("cgroups", [])):
        for _ in range(50):  # a cgroup can stay busy for a moment after its last task exited
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    break
                time.sleep(0.02)
        with contextlib.suppress(OSError):  # the runs' parent too, once empty: it must not keep the server's
            os.rmdir(os.path.dirname(path))  # own cgroup from being removed (it is made again when needed)
    for claim in plan.get("claims", []):
        with contextlib.suppress(FileNotFoundError):
            if Path(claim).read_text().split("\n", 1)[0] == str(run_dir):
                os.unlink(claim)
    with contextlib.suppress(FileNotFoundError):  # (the run's directory may be gone: its claims are given back)
        write_json(run_dir / "released.json", {"at": time.time()})


def write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(value, fh)
    tmp.replace(path)


def oom_kills(plan: dict[str, Any]) -> int:
    """How many processes the run's memory limit killed (cgroup v1 ``memory.oom_control``, v2 ``memory.events``)."""
    path = plan.get("oom_counter")
    if not path:
        return 0
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


# ------------------------------------------------------------------------------- namespaces and mounts


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), ctypes.c_ulong(flags),
                       data and data.encode()), f"mount {source} on {target}")


def _private_mount_namespace(sources: list[list[str]] = ()) -> list[tuple[int, str]]:
    """Enter a mount namespace of this process's own and cover its /tmp with a small tmpfs (the staging area).
    Returns O_PATH descriptors of ``sources`` (``[path, name]``), opened in between: as root, in the new
    namespace (a bind mount's source must be), before /tmp is covered."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    opened = [(os.open(source, os.O_PATH | os.O_CLOEXEC), name) for source, name in sources]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID, "mode=0755,size=1m")  # dev: staged device nodes must work
    return opened


def _stage(sources: list[tuple[int, str]]) -> None:
    """Bind each opened source at ``STAGE/name`` (in this process's private mount namespace)."""
    os.mkdir(STAGE, 0o755)
    for fd, name in sources:
        source, target = f"/proc/self/fd/{fd}", f"{STAGE}/{name}"
        if os.path.isdir(source):
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
        _mount(source, target, None, MS_BIND | MS_REC)


def _own_tun(uid: int) -> None:
    """pasta opens /dev/net/tun: give it a node of its own, owned by the run's uid (the host's may be 0600)."""
    node = "/tmp/tun"
    os.mknod(node, 0o600 | 0o020000, os.makedev(TUN_MAJOR, TUN_MINOR))
    os.chown(node, uid, uid)
    _mount(node, "/dev/net/tun", None, MS_BIND)


def _enter(cgroups: list[str], rlimits: dict[str, int]) -> None:
    for path in cgroups:
        with open(os.path.join(path, "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))
    import resource

    for name, value in rlimits.items():
        limit = getattr(resource, f"RLIMIT_{name}")
        resource.setrlimit(limit, (value, value))


def _unprivileged_ports(netns_fd: int) -> None:
    """Let the sandbox's uid bind ports below 1024 in its own network namespace (sshd listens on 22 there)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _check(_libc.setns(netns_fd, CLONE_NEWNET), "setns(net)")
            with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as fh:
                fh.write("0")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError("could not open the sandbox's ports below 1024 to its uid")


def _read_info(fd: int, timeout: float) -> dict[str, Any] | None:
    """bubblewrap's --info-fd JSON (the sandbox's init pid), or None when bubblewrap ended without it."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        with contextlib.suppress(ValueError):
            return json.loads(data)
    return None


SANDBOX_ATTEMPTS = 2
"""A sandbox that could not be set up (its init gone before its network was, pasta not configuring it) is killed
and a fresh one started, once, unless the run was cancelled or stopped meanwhile (its marker file)."""
PASTA_WAIT_S = 10
PASTA_ATTEMPTS = 2
"""pasta usually configures the sandbox's interface in milliseconds; twice in one CI run of about a thousand
sandboxes it had not after 15 s, with nothing in its log, and could not be made to do so again in 360 starts.
A pasta that has not configured the interface in ``PASTA_WAIT_S`` is killed and a fresh one attached, up to
``PASTA_ATTEMPTS`` in all; each attempt is noted in the run's ``supervisor.log``."""


def _log(run_dir: Path, line: str) -> None:
    with open(run_dir / "supervisor.log", "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")


def _attach_pasta(plan: dict[str, Any], run_dir: Path, uid: int, cgroups: list[str], init_pid: int, userns: int,
                  netns: int) -> subprocess.Popen[bytes]:
    """Start pasta on the sandbox's network namespace and wait until it configured the interface; a pasta that has
    not in ``PASTA_WAIT_S`` is killed and another attached (see ``PASTA_ATTEMPTS``)."""
    for attempt in range(1, PASTA_ATTEMPTS + 1):
        with open(run_dir / "supervisor.log", "ab") as pasta_log:
            pasta = subprocess.Popen(_fill(plan["pasta"], {"userns": userns, "netns": netns}),
                                     pass_fds=(userns, netns), stdin=subprocess.DEVNULL, stdout=pasta_log,
                                     stderr=pasta_log,
                                     env={"PATH": plan["env"].get("PATH", "/usr/bin:/bin")},
                                     cwd="/", preexec_fn=_in_child(lambda: (_enter(cgroups, {}),
                                                                            _private_mount_namespace(),
                                                                            _own_tun(uid))))
        try:
            _wait_for_network(init_pid, pasta, timeout=PASTA_WAIT_S)
            return pasta
        except OSError as exc:
            pasta.kill()  # its tap device goes with it: the next pasta starts on a clean namespace
            pasta.wait()
            _log(run_dir, f"pasta attempt {attempt} of {PASTA_ATTEMPTS}: {exc}")
            if attempt == PASTA_ATTEMPTS or isinstance(exc, SandboxGone) or pasta.returncode == 0:
                raise  # the sandbox is gone (a cancelled run), or pasta ended by itself with it
    raise AssertionError("unreachable: the last attempt returns or raises")


def _wait_for_network(init_pid: int, pasta: subprocess.Popen[bytes], timeout: float) -> None:
    """pasta configured the sandbox's interface when a default route shows in its network namespace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pasta.poll() is not None:
            raise OSError(f"pasta exited with code {pasta.returncode} (see supervisor.log)")
        if not os.path.exists(f"/proc/{init_pid}"):
            raise SandboxGone("the sandbox ended while its network was being set up")
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{init_pid}/net/route").read_text().splitlines()[1:]:
                if line.split()[1] == "00000000":
                    return
        time.sleep(0.02)
    raise OSError(f"pasta did not configure the sandbox's network within {timeout:.0f} s "
                  f"({_network_state(init_pid)})")


class SandboxGone(OSError):
    """The sandbox's init ended before its network was set up: no other pasta can help."""


def _network_state(init_pid: int) -> str:
    """What the sandbox's network namespace holds, for the log of a pasta that did not finish."""
    try:
        routes = Path(f"/proc/{init_pid}/net/route").read_text().splitlines()[1:]
        devices = [line.split(":")[0].strip() for line in
                   Path(f"/proc/{init_pid}/net/dev").read_text().splitlines()[2:]]
    except OSError as exc:
        return f"its namespace cannot be read: {exc.strerror}"
    shown = "; ".join(" ".join(line.split()[:4]) for line in routes[:4]) or "none"
    return f"interfaces {', '.join(devices) or 'none'}; IPv4 routes: {shown}"


def _in_child(setup: Callable[[], None]) -> Callable[[], None]:
    """A preexec function that says on stderr (the run's log) what failed before it fails the start."""
    def run() -> None:
        try:
            setup()
        except BaseException as exc:
            os.write(2, f"suanli: setting up the sandbox failed: {exc}\n".encode())
            raise
    return run


def _fill(argv: list[str], values: dict[str, int]) -> list[str]:
    """Put the descriptors in: each ``{name}`` of ``values`` (nothing else in the arguments is touched)."""
    filled = []
    for arg in argv:
        for name, value in values.items():
            arg = arg.replace("{" + name + "}", str(value))
        filled.append(arg)
    return filled


# ------------------------------------------------------------------------------------------------ main


def supervise(run_dir: Path, plan: dict[str, Any]) -> int:
    uid = int(plan["uid"])
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    result: dict[str, Any] = {"exit_code": None, "error": None, "time_limit": False}
    init_pid = None
    log = os.open(run_dir / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    stage, cgroups, rlimits = plan.get("stage", []), plan.get("cgroups", []), plan.get("rlimits", {})

    def sandbox_child() -> None:
        _enter(cgroups, rlimits)
        _stage(_private_mount_namespace(stage))

    for attempt in range(1, SANDBOX_ATTEMPTS + 1):
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        try:
            bwrap = subprocess.Popen(_fill(plan["bwrap"], {"info_fd": info_w, "block_fd": block_r}),
                                     pass_fds=(info_w, block_r), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=plan["env"], cwd="/", preexec_fn=_in_child(sandbox_child))
        except (OSError, subprocess.SubprocessError) as exc:
            result.update(exit_code=127, error=f"could not start the sandbox: {exc}")
            return _finish(plan, run_dir, uid, None, result)
        os.close(info_w)
        os.close(block_r)
        pasta, init_pid = None, None
        try:
            info = _read_info(info_r, timeout=30)
            if info is None:
                raise OSError("bubblewrap ended before the sandbox was set up (see the output log)")
            init_pid = int(info["child-pid"])
            if plan.get("pasta"):
                netns = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                userns = fcntl.ioctl(netns, NS_GET_USERNS)  # the namespace that owns the sandbox's network
                if plan.get("low_ports"):
                    _unprivileged_ports(netns)
                try:
                    pasta = _attach_pasta(plan, run_dir, uid, cgroups, init_pid, userns, netns)
                finally:
                    os.close(netns)
                    os.close(userns)
            write_json(run_dir / "sandbox.json", {"init_pid": init_pid, "bwrap_pid": bwrap.pid,
                                                  "pasta_pid": pasta.pid if pasta else None, "at": time.time()})
            os.write(block_w, b"go")
            break
        except (OSError, subprocess.SubprocessError) as exc:
            kill_run(uid, init_pid)
            ended = any((run_dir / marker).exists() for marker in ("cancelled", "stopped"))
            if attempt < SANDBOX_ATTEMPTS and not ended:
                _log(run_dir, f"sandbox attempt {attempt} of {SANDBOX_ATTEMPTS} could not be set up ({exc}): "
                              "starting a fresh one")
                os.close(block_w)
                os.close(info_r)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    bwrap.wait(timeout=10)
                continue
            result["error"] = f"could not set up the sandbox: {exc}"
            break
    os.close(block_w)
    deadline = plan.get("deadline_seconds")
    try:
        code = bwrap.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        result["time_limit"] = True
        signal_run(uid, signal.SIGTERM, exclude={bwrap.pid, init_pid or 0, pasta.pid if pasta else 0})
        try:
            code = bwrap.wait(timeout=float(plan.get("grace_seconds", 10)))
        except subprocess.TimeoutExpired:
            kill_run(uid, init_pid)
            code = bwrap.wait()
    result["exit_code"] = 128 - code if code < 0 else code
    return _finish(plan, run_dir, uid, init_pid, result)


def _finish(plan: dict[str, Any], run_dir: Path, uid: int, init_pid: int | None, result: dict[str, Any]) -> int:
    """The sandbox ended: kill what is left of the run (pasta, strays), record the result, give back what the
    run held. Killing comes first: nothing of the run may outlive a record that could not be written (its
    directory removed meanwhile, a full disk)."""
    result["oom_kills"] = oom_kills(plan)
    result["at"] = time.time()
    survivors = kill_run(uid, init_pid)
    _reap_children()
    try:
        write_json(run_dir / "result.json", result)
    finally:
        if not survivors:  # a uid with processes left is not free: the backend retries when it next looks
            release(plan, run_dir)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: supervisor.py RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    plan = json.loads((run_dir / "plan.json").read_text())
    try:
        return supervise(run_dir, plan)
    except Exception as exc:  # never leave a run behind: end it, then say why where that can still be said
        survivors = kill_run(int(plan["uid"]))
        with contextlib.suppress(OSError):
            write_json(run_dir / "result.json", {"exit_code": None, "time_limit": False, "oom_kills": 0,
                                                 "error": f"the run's supervisor failed: {exc!r}", "at": time.time()})
        if not survivors:
            with contextlib.suppress(OSError):
                release(plan, run_dir)
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv))
