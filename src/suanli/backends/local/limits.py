"""Resource limits of a sandboxed run: cgroup v2 where its controllers are available, else the cgroup v1
hierarchies (``memory``, ``pids``, ``cpu``), else rlimits.

- **cgroup v2**: a cgroup per run under ``<v2 mount>/<parent>/`` with ``memory.max``, ``pids.max`` and ``cpu.max``;
  the parent's ``cgroup.subtree_control`` gets ``+memory +pids +cpu``. The default parent is ``suanli-local``
  under the root of the hierarchy (a cgroup that holds processes cannot hand controllers to its children).
- **cgroup v1**: a cgroup per run in each hierarchy, under the server's own cgroup there (so a run stays inside
  whatever limits the server itself runs under) plus ``suanli-local/``: ``memory.limit_in_bytes``,
  ``pids.max``, ``cpu.cfs_quota_us``.
- **rlimits**: ``RLIMIT_NPROC`` only. It counts the processes of a uid, and every run has a uid of its own, so
  it is exactly the run's process limit. Memory is then not limited: ``RLIMIT_AS`` bounds address space, not
  memory, and breaks programs that reserve large mappings.

``RLIMIT_NPROC`` is set in every mode (a second fence behind ``pids.max``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CgroupLimits", "RunLimits", "detect"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "suanli-local"
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class RunLimits:
    """What the product promises a run: whole vCPUs, memory in GiB (None: not limited), processes."""

    vcpus: int
    memory_gib: float | None
    max_processes: int

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory_gib is None else int(self.memory_gib * 2**30)


@dataclass(frozen=True)
class CgroupLimits:
    """Where runs' cgroups go on this machine, and how limits are written there.

    ``mode`` is ``v2``, ``v1`` or ``rlimit``; ``parents`` maps each controller to the directory under which a
    run's cgroup is made; ``reason`` says why the mode is not a better one."""

    mode: str
    parents: dict[str, Path] = field(default_factory=dict)
    reason: str = ""

    @property
    def limits_memory(self) -> bool:
        return "memory" in self.parents

    def describe(self) -> str:
        if self.mode == "v2":
            return f"cgroup v2 under {self.parents['memory']}: memory.max, pids.max, cpu.max"
        if self.mode == "v1":
            names = ", ".join(sorted(self.parents))
            return f"cgroup v1 ({names}) under the server's own cgroups + /{PARENT}; RLIMIT_NPROC per run uid"
        return f"rlimits only (RLIMIT_NPROC per run uid): {self.reason}"

    def create(self, run: str, limits: RunLimits) -> tuple[list[str], str | None]:
        """Make the run's cgroups and write its limits. Returns (the cgroup directories the run's processes
        join, the file that counts OOM kills)."""
        if self.mode == "rlimit":
            return [], None
        for attempt in range(3):
            try:
                return self._create(run, limits)
            except FileNotFoundError:  # a run that ended just removed the (then empty) parent: make it again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _create(self, run: str, limits: RunLimits) -> tuple[list[str], str | None]:
        made: list[str] = []
        for parent in set(self.parents.values()):
            parent.mkdir(parents=True, exist_ok=True)  # (removed when its last run ended)
        try:
            if self.mode == "v2":
                path = self.parents["memory"] / run
                path.mkdir(exist_ok=True)
                made.append(str(path))
                if limits.memory_bytes is not None:
                    (path / "memory.max").write_text(str(limits.memory_bytes))
                    with contextlib.suppress(OSError):
                        (path / "memory.swap.max").write_text("0")
                (path / "pids.max").write_text(str(limits.max_processes))
                if "cpu" in self.parents:
                    (path / "cpu.max").write_text(f"{limits.vcpus * CPU_PERIOD_US} {CPU_PERIOD_US}")
                return made, str(path / "memory.events")
            for controller, parent in sorted(self.parents.items()):
                path = parent / run
                path.mkdir(exist_ok=True)
                made.append(str(path))
                if controller == "memory" and limits.memory_bytes is not None:
                    (path / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                    with contextlib.suppress(OSError):  # no swap accounting: nothing to cap
                        (path / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
                elif controller == "pids":
                    (path / "pids.max").write_text(str(limits.max_processes))
                elif controller == "cpu":
                    (path / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                    (path / "cpu.cfs_quota_us").write_text(str(limits.vcpus * CPU_PERIOD_US))
            oom = self.parents.get("memory")
            return made, str(oom / run / "memory.oom_control") if oom else None
        except OSError:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            raise


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per v1 controller (and ``""`` for v2), from /proc/self/cgroup."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def _v2_mount(root: Path) -> Path | None:
    for candidate in (root, root / "unified"):
        with contextlib.suppress(OSError):
            if (candidate / "cgroup.controllers").exists():
                return candidate
    return None


def detect(parent: str = "", root: Path = CGROUP_ROOT) -> CgroupLimits:
    """The best mode available to this process. ``parent`` overrides where runs' cgroups go (a path relative
    to each hierarchy's root)."""
    reasons = []
    v2 = _v2_mount(root)
    if v2 is not None:
        available = set((v2 / "cgroup.controllers").read_text().split())
        if {"memory", "pids"} <= available:
            base = v2 / (parent.strip("/") or PARENT)
            try:
                if not _writable(base):
                    raise OSError(f"{base} is not writable")
                wanted = [c for c in ("memory", "pids", "cpu") if c in available]
                parts = base.relative_to(v2).parts
                for level in [v2, *(v2.joinpath(*parts[:n]) for n in range(1, len(parts) + 1))]:
                    (level / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
            except OSError as exc:
                reasons.append(f"cgroup v2 at {v2} cannot be delegated to runs ({exc})")
            else:
                return CgroupLimits("v2", {c: base for c in wanted})
        else:
            reasons.append(f"cgroup v2 at {v2} has no memory and pids controllers "
                           f"({' '.join(sorted(available)) or 'none'})")
    own = _own_cgroups()
    parents: dict[str, Path] = {}
    for controller in ("memory", "pids", "cpu"):
        hierarchy = root / controller
        if not (hierarchy / "cgroup.procs").exists():
            continue
        relative = parent.strip("/") if parent else (own.get(controller, "/").strip("/") + "/" + PARENT).strip("/")
        if _writable(hierarchy / relative):
            parents[controller] = hierarchy / relative
    if {"memory", "pids"} <= set(parents):
        return CgroupLimits("v1", parents)
    reasons.append("no writable cgroup v1 memory and pids hierarchies")
    return CgroupLimits("rlimit", reason="; ".join(reasons))
