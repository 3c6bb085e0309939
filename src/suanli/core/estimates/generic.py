"""Generic deep-learning training (FLOPs per sample), and GPU-hours on a reference chip converted to another."""

from __future__ import annotations

import math

from suanli.core.chips import ChipSpec, get_chip
from suanli.core.estimates.efficiency import GENERIC_WORKLOAD_FACTOR, chip_family, peak_tflops, scaling_efficiency
from suanli.core.estimates.result import Estimate, _ecosystem_notes
from suanli.core.messages import msg
from suanli.core.workloads import GenericTraining, ReferenceGpuHours

def _estimate_generic(w: GenericTraining, chip: ChipSpec, count: int) -> Estimate:
    family = chip_family(chip)
    peak, notes = peak_tflops(chip, w.precision)
    scale = scaling_efficiency(chip, count)
    total = w.total_flops

    def hours_for(which: str) -> float:
        util = family.mfu.pick(which) * GENERIC_WORKLOAD_FACTOR.pick(which) * scale
        return total / (count * peak * 1e12 * util) / 3600.0

    hours = hours_for("central")
    fits = needed = None
    parts: dict[str, float] = {}
    if w.model_memory_gib is not None:
        needed = float(w.model_memory_gib) + 1.0
        fits = needed <= chip.memory_gib
        parts = {"weights": 0.0, "gradients": 0.0, "optimizer": 0.0, "activations": float(w.model_memory_gib),
                 "kv_cache": 0.0, "overhead": 1.0}
    all_notes = list(notes)
    all_notes.append(msg("generic training: utilisation taken as %(share)s of the LLM figure (less matmul-bound)",
                         share=f"{GENERIC_WORKLOAD_FACTOR.central:.0%}"))
    if count > 1:
        all_notes.append(msg("assumes data parallelism: every device holds the whole model_memory_gib"))
    if w.model_memory_gib is None:
        all_notes.append(msg("memory fit not checked: give model_memory_gib"))
    all_notes += _ecosystem_notes(chip, family)
    if fits is False:
        bottleneck = "memory_capacity"
    elif count > 1 and scale < 0.88:
        bottleneck = "interconnect"
    else:
        bottleneck = "compute"
    return Estimate(
        workload_kind="generic_training", chip_key=chip.key, count=count, bottleneck=bottleneck,
        fits_in_memory=fits, memory_needed_gib=needed, memory_available_gib=float(chip.memory_gib),
        memory_breakdown_gib=parts, total_flops=total, executed_flops=total, hours=hours,
        hours_low=hours_for("high"), hours_high=hours_for("low"),
        mfu=total / (hours * 3600.0 * count * peak * 1e12), notes=tuple(all_notes),
    )


def _chip(value: ChipSpec | str, name: str) -> ChipSpec:
    if isinstance(value, ChipSpec):
        return value
    if isinstance(value, str):
        try:
            return get_chip(value)
        except KeyError as exc:
            raise ValueError(f"{name}: {exc.args[0]}") from None
    raise ValueError(f"{name}: must be a ChipSpec or a chip key, got {value!r}")


def _reference_ratio(from_chip: ChipSpec, to_chip: ChipSpec, precision: str) -> tuple[float, float, float]:
    """(low, central, high) factor turning device-hours on ``from_chip`` into device-hours on ``to_chip``."""
    peak_from, _ = peak_tflops(from_chip, precision)
    peak_to, _ = peak_tflops(to_chip, precision)
    f_from, f_to = chip_family(from_chip), chip_family(to_chip)
    central = (peak_from * f_from.mfu.central) / (peak_to * f_to.mfu.central)
    if f_from.key == f_to.key:
        return central, central, central
    low = central * (f_from.mfu.low / f_from.mfu.central) * (f_to.mfu.central / f_to.mfu.high)
    high = central * (f_from.mfu.high / f_from.mfu.central) * (f_to.mfu.central / f_to.mfu.low)
    return low, central, high


def convert_reference_hours(gpu_hours: float, from_chip: ChipSpec | str, to_chip: ChipSpec | str,
                            precision: str = "bf16") -> float:
    """Device-hours on ``to_chip`` equivalent to ``gpu_hours`` on ``from_chip`` (central estimate).

    ``gpu_hours x (peak_from(precision) x u_from) / (peak_to(precision) x u_to)``: the same work
    (FLOPs) at each chip's achievable rate, u the family's central utilisation. Identity when the
    two chips are the same; converting there and back returns the input (up to float rounding).
    """
    if isinstance(gpu_hours, bool) or not isinstance(gpu_hours, (int, float)) or not (
            math.isfinite(gpu_hours) and gpu_hours >= 0):
        raise ValueError(f"gpu_hours: must be a finite number >= 0, got {gpu_hours!r}")
    source, dest = _chip(from_chip, "from_chip"), _chip(to_chip, "to_chip")
    if precision not in ("bf16", "fp16", "fp32", "tf32", "fp8"):
        raise ValueError(f"precision: must be one of bf16, fp16, fp32, tf32, fp8; got {precision!r}")
    if source.key == dest.key:
        return float(gpu_hours)
    return float(gpu_hours) * _reference_ratio(source, dest, precision)[1]


def _estimate_reference(w: ReferenceGpuHours, chip: ChipSpec, count: int) -> Estimate:
    source = get_chip(w.reference_chip)
    if source.key == chip.key:
        low = central = high = 1.0
    else:
        low, central, high = _reference_ratio(source, chip, w.precision)
    scale = scaling_efficiency(chip, count)
    device_hours = w.gpu_hours * central
    _, precision_notes = peak_tflops(chip, w.precision)
    notes = list(precision_notes)
    notes.append(msg("%(hours)s device-hours on %(source)s = %(converted)s on %(chip)s (throughput x efficiency "
                     "ratio), spread over the devices with their scaling efficiency", hours=f"{w.gpu_hours:g}",
                     source=source.name, converted=f"{device_hours:.4g}", chip=chip.name))
    notes.append(msg("memory fit unknown for reference GPU-hours"))
    if chip.memory_gib < source.memory_gib:
        notes.append(msg("%(chip)s has less memory (%(memory)s GiB) than %(source)s (%(source_memory)s GiB): the "
                         "job may need more devices or sharding", chip=chip.name, memory=f"{chip.memory_gib}",
                         source=source.name, source_memory=f"{source.memory_gib}"))
    notes += _ecosystem_notes(chip, chip_family(chip))
    return Estimate(
        workload_kind="reference_gpu_hours", chip_key=chip.key, count=count,
        bottleneck="interconnect" if count > 1 and scale < 0.88 else "compute",
        fits_in_memory=None, memory_available_gib=float(chip.memory_gib),
        hours=device_hours / (count * scale), hours_low=w.gpu_hours * low / (count * scale),
        hours_high=w.gpu_hours * high / (count * scale), notes=tuple(notes),
    )
