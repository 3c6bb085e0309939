"""What a run of the ``local`` backend sees: the bubblewrap command line of its sandbox, the pasta command line
of its network, its generated ``/etc`` files and its device files. Pure functions of the run's description
(no I/O except looking at which host paths exist); the supervisor executes what they build.

Inside the sandbox:

- ``/usr`` read-only and the usr-merged links (``/bin``, ``/lib``, ...); ``/etc`` by an allow-list of what
  programs need (the dynamic linker's cache, TLS certificates, time zone, name resolution, shells' profiles),
  plus a generated ``passwd``/``group`` (root, the login user ``user`` = the run's uid, nobody), ``hostname``
  and ``hosts``. Not the host's ``/etc/shadow``, ``/etc/ssh`` keys, ``/etc/pip.conf``, ``/etc/munge``, ...
- ``/home/user``: the run's work directory (its HOME and cwd), owned by its uid, the only writable place besides
  fresh tmpfs ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm``; the rest of the tree is read-only.
- a fresh ``/proc`` of its own PID namespace, a minimal ``/dev`` (null, zero, random, tty, pts, shm) plus the
  device files allocated to the run, ``/run/suanli`` (the run's read-only files: its script, sshd's config),
  and for instances the Python prefixes that run JupyterLab, read-only at their own paths.
- no ``/sys``, nothing of ``SUANLI_HOME``, the base directory, other runs or the server's checkout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from suanli.backends.base import BackendError, visible_devices_var
from suanli.backends.local.supervisor import STAGE

__all__ = ["DEVICE_PATHS", "ETC_ALLOWLIST", "HOME", "RUN_FILES", "bwrap_argv", "device_files", "etc_files",
           "pasta_argv", "setpriv"]

HOME = "/home/user"
LOGIN_USER = "user"
RUN_FILES = "/run/suanli"  # the run's read-only files inside the sandbox
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ETC_ALLOWLIST = (
    "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "debian_version", "fonts",
    "gai.conf", "host.conf", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "locale.alias", "localtime",
    "magic", "magic.mime", "mime.types", "networks", "nsswitch.conf", "os-release", "profile", "profile.d",
    "protocols", "python3", "python3.11", "resolv.conf", "services", "shells", "ssh/ssh_config",
    "ssh/ssh_config.d", "ssl", "terminfo", "timezone",
)
"""What the sandbox sees of the host's ``/etc`` (read-only); everything else there stays hidden."""

USR_MERGE = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

# Device files per ecosystem: ``{index}`` is the allocated device's index, ``{render}`` its DRM render node
# (128 + index). Paths without a field are the ecosystem's control devices, bound when the run has a device.
DEVICE_PATHS: Mapping[str, tuple[str, ...]] = {
    "cuda": ("/dev/nvidia{index}", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
             "/dev/nvidia-modeset"),
    "cann": ("/dev/davinci{index}", "/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"),
    "dtk": ("/dev/dri/card{index}", "/dev/dri/renderD{render}", "/dev/kfd"),
    "neuware": ("/dev/cambricon_dev{index}", "/dev/cambricon_ctl"),
    "xpu": ("/dev/xpu{index}", "/dev/xpuctrl"),
    "musa": ("/dev/dri/card{index}", "/dev/dri/renderD{render}", "/dev/mtgpu.{index}"),
}
_FIELD = re.compile(r"\{(\w*)\}")


def check_device_paths(option: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """The ``device_paths`` option merged over :data:`DEVICE_PATHS`, each pattern checked."""
    merged = dict(DEVICE_PATHS)
    for ecosystem, patterns in (option or {}).items():
        visible_devices_var(ecosystem)  # an unknown ecosystem is an error listing the known ones
        if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
            raise BackendError(f"device_paths[{ecosystem!r}] must be a list of paths such as '/dev/nvidia{{index}}'",
                               kind="local")
        for pattern in patterns:
            unknown = set(_FIELD.findall(pattern)) - {"index", "render"}
            if not pattern.startswith("/") or ".." in pattern.split("/") or unknown:
                raise BackendError(f"device path {pattern!r} must be absolute, without '..', using only "
                                   "{index} and {render}", kind="local")
        merged[ecosystem] = tuple(patterns)
    return merged


def device_files(patterns: Sequence[str], indices: Sequence[int]) -> list[str]:
    """The device files of the allocated ``indices`` (per-device patterns) and the control devices (patterns
    without a field), in order, each once."""
    if not indices:
        return []
    files: list[str] = []
    for pattern in patterns:
        if _FIELD.search(pattern):
            files += [pattern.format(index=i, render=128 + i) for i in indices]
        else:
            files.append(pattern)
    return list(dict.fromkeys(files))


def etc_files(uid: int, hostname: str) -> dict[str, str]:
    """The generated ``/etc`` files: the run's uid is ``user`` (HOME = the work directory)."""
    return {
        "passwd": (f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                   f"{LOGIN_USER}:x:{uid}:{uid}:suanli run:{HOME}:/bin/bash\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        "group": f"root:x:0:\n{LOGIN_USER}:x:{uid}:\nnogroup:x:65534:\n",
        "hostname": hostname + "\n",
        "hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    }


def setpriv(uid: int) -> list[str]:
    """Drop from root to ``uid`` (and its own gid, no supplementary groups, no capabilities, and no way to gain
    privileges back through setuid or file-capability programs)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--no-new-privs",
            "--"]


def _usr_merge(root: Path) -> list[str]:
    args: list[str] = []
    for name in USR_MERGE:
        path = root / name
        if path.is_symlink():
            args += ["--symlink", str(path.readlink()), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    return args


def bwrap_argv(uid: int, hostname: str, command: Sequence[str], *, devices: Sequence[tuple[str, str]] = (),
               read_only: Sequence[tuple[str, str]] = (), network: bool = True, sshd: bool = False,
               root: Path = Path("/")) -> list[str]:
    """The sandbox's command line (run as root: it starts with ``setpriv``). The supervisor stages, under
    ``STAGE``: ``work`` (the work directory), ``files`` (the run's read-only files, with the generated ``etc/``),
    each ``(stage name, path inside)`` of ``devices`` and ``read_only``. ``{info_fd}`` and ``{block_fd}`` are
    filled in by the supervisor."""
    argv = [*setpriv(uid), "bwrap", "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
            "--unshare-cgroup-try", "--disable-userns", "--new-session", "--hostname", hostname]
    if network:
        argv.append("--unshare-net")
    argv += ["--ro-bind", str(root / "usr"), "/usr", *_usr_merge(root)]
    for name in ETC_ALLOWLIST:
        argv += ["--ro-bind-try", str(root / "etc" / name), f"/etc/{name}"]
    for name in ("passwd", "group", "hostname", "hosts"):
        argv += ["--ro-bind", f"{STAGE}/files/etc/{name}", f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
             "--tmpfs", "/run", "--ro-bind", f"{STAGE}/files", RUN_FILES, "--bind", f"{STAGE}/work", HOME]
    if sshd:
        argv += ["--dir", "/run/sshd"]
    for name, inside in read_only:
        argv += ["--ro-bind", f"{STAGE}/{name}", inside]
    for name, inside in devices:
        argv += ["--dev-bind", f"{STAGE}/{name}", inside]
    argv += ["--chdir", HOME, "--remount-ro", "/", "--info-fd", "{info_fd}", "--block-fd", "{block_fd}", "--",
             *command]
    return argv


def pasta_argv(uid: int, forwards: Sequence[tuple[str, int, int]] = ()) -> list[str]:
    """pasta attached to the sandbox's network namespace (``{userns}``/``{netns}``: descriptors the supervisor
    fills in), as the run's uid: outbound TCP/UDP through the host's sockets; nothing from the sandbox to the
    host's own ports (``-T none -U none``, ``--no-map-gw``: the gateway address is not the host's loopback);
    ``forwards`` are ``(listen address, host port, port inside)``."""
    tcp = [arg for address, host_port, inside in forwards for arg in ("-t", f"{address}/{host_port}:{inside}")]
    return [*setpriv(uid), "pasta", "--config-net", "--foreground", "--no-map-gw",
            *(tcp or ["-t", "none"]), "-u", "none", "-T", "none", "-U", "none",
            "--userns", "/proc/self/fd/{userns}", "--netns", "/proc/self/fd/{netns}"]
