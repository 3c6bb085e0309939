"""CPU/HPC jobs: core-hours and memory on a vCPU allocation."""

from __future__ import annotations

import math

from suanli.core.estimates.result import Estimate
from suanli.core.messages import msg
from suanli.core.workloads import CpuJob

#: A job's core-hours may have been counted on physical cores while cloud vCPUs are hyperthreads,
#: and few jobs scale perfectly: the high estimate assumes 70% parallel efficiency.
_CPU_PARALLEL_EFFICIENCY_LOW = 0.7


def estimate_cpu(job: CpuJob, vcpus: int, memory_gib: float) -> Estimate:
    """A CPU job on ``vcpus`` vCPUs with ``memory_gib`` RAM: ``hours = core_hours / vcpus``.

    The low estimate is that (perfect scaling), the high one assumes 70% parallel efficiency.
    """
    if not isinstance(job, CpuJob):
        raise ValueError(f"job: must be a CpuJob, got {type(job).__name__}")
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or not 1 <= vcpus <= 65_536:
        raise ValueError(f"vcpus: must be a whole number between 1 and 65536, got {vcpus!r}")
    if isinstance(memory_gib, bool) or not isinstance(memory_gib, (int, float)) or not (
            math.isfinite(memory_gib) and 0 < memory_gib <= 1e7):
        raise ValueError(f"memory_gib: must be > 0 and <= 1e7, got {memory_gib!r}")
    hours = job.core_hours / vcpus
    fits = job.memory_gib <= memory_gib
    notes = [msg("hours = core_hours / vCPUs (perfect scaling); the high estimate allows 70% parallel "
                 "efficiency (vCPUs are hyperthreads on most clouds)")]
    if not fits:
        notes.append(msg("does not fit: needs %(needed)s GiB RAM, the allocation has %(available)s",
                         needed=f"{job.memory_gib:g}", available=f"{memory_gib:g}"))
    return Estimate(
        workload_kind="cpu_job", chip_key=None, count=vcpus,
        bottleneck="compute" if fits else "memory_capacity", fits_in_memory=fits,
        memory_needed_gib=float(job.memory_gib), memory_available_gib=float(memory_gib),
        hours=hours, hours_low=hours, hours_high=hours / _CPU_PARALLEL_EFFICIENCY_LOW, notes=tuple(notes),
    )
