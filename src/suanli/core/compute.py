"""Normalized compute: what one product unit delivers and what it costs per unit of compute.

A unit's compute is tagged with its precision: dense FP16/BF16 matrix PFLOPS and FP32 TFLOPS. Price per
FP16-PFLOPS-hour is what makes an A800 node and an Ascend 910B node comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from suanli.core.money import round_fen


@dataclass(frozen=True)
class UnitCompute:
    """Compute of one product unit."""

    accelerators: int
    fp16_tflops: float  # dense FP16/BF16, whole unit
    fp32_tflops: float  # FP32, whole unit
    accel_memory_gib: int  # per accelerator

    @property
    def fp16_pflops(self) -> float:
        return self.fp16_tflops / 1000.0


def unit_compute(accelerators: int, chip_fp16_tflops: float | None, chip_fp32_tflops: float | None,
                 chip_memory_gib: int | None) -> UnitCompute:
    if accelerators <= 0 or chip_fp16_tflops is None:
        return UnitCompute(0, 0.0, 0.0, 0)
    return UnitCompute(
        accelerators=accelerators,
        fp16_tflops=round(accelerators * chip_fp16_tflops, 3),
        fp32_tflops=round(accelerators * (chip_fp32_tflops or 0.0), 3),
        accel_memory_gib=chip_memory_gib or 0,
    )


def price_per_accelerator_hour_fen(price_unit_hour_fen: int, accelerators: int) -> int | None:
    """On-demand price per accelerator-hour, in fen; None when the unit has no accelerators."""
    if accelerators <= 0:
        return None
    return round_fen(Decimal(price_unit_hour_fen) / accelerators)


def price_per_pflops_hour_fen(price_unit_hour_fen: int, unit_fp16_tflops: float) -> int | None:
    """On-demand price per dense FP16-PFLOPS-hour, in fen; None when the unit has no FP16 compute."""
    if unit_fp16_tflops <= 0:
        return None
    pflops = Decimal(repr(unit_fp16_tflops)) / 1000
    return round_fen(Decimal(price_unit_hour_fen) / pflops)
