"""The training performance model: samples/s of a deep-learning model on ``count`` devices of a chip.

One step of data-parallel training with a per-device batch of ``B`` samples, each costing ``F`` training FLOPs
(forward + backward), on a model of ``P`` parameters, takes on each device::

    t_step = (t_fixed + t_math + t_memory + t_update + t_comm_exposed) · (1 + σ · log2(count))

    t_math    = B·F / (peak_p · u_p)
    t_memory  = B·F · s_p / (I(P_dense) · BW · e_bw)
    t_update  = P · 24 bytes / (BW · e_bw)
    t_comm    = all-reduce of the 4·P gradient bytes (FP32 gradients, as PyTorch DDP keeps them under AMP)
    t_comm_exposed = max(0, t_comm - ω · (2/3)·(t_math + t_memory))

and ``samples/s = count · B / t_step``. The parts:

- **Matrix work** runs at a fraction ``u_p`` of the peak of the precision's path (times a fitted ``geforce_tensor``
  on GeForce tensor paths, whose datasheet figure with FP32 accumulate understates them): the plain FP32 peak (``fp32``),
  the TF32 tensor peak (``tf32``; FP32 where the chip has none), or the FP16/BF16 tensor peak (``amp``: automatic
  mixed precision; chips without tensor cores — K80, P100, Hygon DCU — use their packed-FP16 rate and the FP32
  path's fraction). One fraction per path, not per chip: the chip enters only through its datasheet.
- **Memory-bound work** (normalisation, activations, element-wise ops, losses) moves ``F/I`` bytes of FP32 data per
  sample, ``I = I0 · (P_dense / 1e8)^k`` FLOPs per byte (``I0`` and ``k`` fitted): wider models (more dense
  parameters, embedding tables excluded) do more matrix work per activation byte — BERT more than ResNet-50, a
  recommender's MLP almost none. ``s_p`` = 1 for FP32/TF32 and the fitted share ``s_amp`` under AMP
  (16-bit activations, some FP32 ops). This is why tensor cores do not give real models their 8-16x peak speed-up:
  the memory-bound share does not shrink (a roofline with the chip's bandwidth, summed rather than maxed because
  a step is a sequence of kernels, each limited by one or the other).
- **The optimizer** reads and writes about 24 bytes per parameter per step (FP32 weights, gradients, moments).
- **A fixed cost per step** ``t_fixed`` (kernel launches, the Python loop, the data-loader hand-off): what makes
  small batches slow and caps models with almost no FLOPs per sample.
- **Communication**: a ring all-reduce of the gradients inside each server, over the chip fabric
  (NVLink/HCCS/MLU-Link: half the chip's total ``interconnect_gbs`` per direction) or PCIe (12 GB/s per direction
  for PCIe 3 parts, 24 for PCIe 4, 48 for PCIe 5; halved for GeForce cards, which have no peer-to-peer), then
  between servers over the network (``network_gbps`` per server; default 200 Gb/s per device for fabric servers,
  as HGX/Atlas servers ship, and 50 Gb/s per server for PCIe servers), both at a fitted fraction ``e_link`` of the
  link. DDP overlaps the all-reduce with the backward pass: a fitted share ``ω`` of the backward time hides it.
- **Stragglers**: every step waits for the slowest device; the wait grows with the number of devices
  (``σ · log2(count)`` of the step, ``σ`` fitted).

The fitted constants live in ``performance_model.json`` beside this module, written by
``scripts/fit_performance_model.py`` from ``bench/data/dl_training_measurements.csv``; the script also writes the
range multipliers: the 7.5th and 92.5th percentiles of measured/estimated on held-out data, so that at least 80% of
measurements not used in the fit fall inside [low, high] (checked nested, per split).

- **Architecture class** (optional input, :data:`ARCHITECTURES`): a fitted factor divides the matrix and memory-bound
  time of the classes whose measured models share their efficiency (today: speech); the other classes, and a model
  whose class is not given, run at the global fractions.
- **Layer types** (:data:`LAYER_TYPES`): ``layer_mix`` gives a model's FLOP shares by layer type (the reference
  models carry theirs) and a fitted factor per type would divide its share of the matrix and memory-bound time
  (``layer_speed``). None is packaged: fitted, every variant made the held-out models worse (docs/benchmarks.md), so
  every type runs at the global fractions. Chips of a family with no measurement in the
calibration data get a wider range (``uncalibrated_widening``).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, fields
from importlib import resources

from suanli.core.chips import ChipSpec
from suanli.core.messages import Message, msg
from suanli.core.workloads import DL_ARCHITECTURES, DL_LAYER_TYPES

#: Training precisions of the performance model, and the words users write for them.
PRECISION_ALIASES = {"fp32": "fp32", "tf32": "tf32", "amp": "amp", "mixed": "amp", "fp16": "amp", "bf16": "amp",
                     "fp16_amp": "amp", "bf16_amp": "amp"}
#: Chips without FP16 tensor / cube units: their "amp" runs on the vector units.
NO_TENSOR_CORES = frozenset({"k80", "p100", "p100-sxm2", "hygon-dcu-z100"})
UPDATE_BYTES_PER_PARAM = 24.0
GRADIENT_BYTES_PER_PARAM = 4.0
DEFAULT_GPUS_PER_SERVER = 8
REFERENCE_PEAK_TFLOPS = 100.0  # u_p is the fraction achieved on a path with this peak
MAX_UTILISATION = 0.95
MIN_DENSE_PARAMS = 1e7  # narrower models are not slower per FLOP than a 10M-parameter one (LOMO-checked)
_RING_LATENCY_S = 10e-6  # per ring hop (NCCL small-message latency order)
BOTTLENECKS = ("compute", "memory_bandwidth", "interconnect", "overhead")
#: Architecture classes a user can name; those with measurements that agree have a fitted factor on the matrix and
#: memory-bound time (``architecture_factors``), the others run at the global fractions.
ARCHITECTURES = DL_ARCHITECTURES
#: Layer types a model's FLOPs divide into (``layer_mix``: the share of each); each has a fitted speed factor.
LAYER_TYPES = DL_LAYER_TYPES


@dataclass(frozen=True)
class PerformanceParams:
    """The fitted constants (module docstring); ``range_low``/``range_high`` multiply the central samples/s."""

    u_fp32: float
    u_tf32: float
    u_amp: float
    peak_exponent: float
    geforce_tensor: float
    intensity: float
    intensity_exponent: float
    amp_traffic: float
    bandwidth_efficiency: float
    step_overhead_s: float
    comm_overlap: float
    link_efficiency: float
    straggler: float
    range_low: float
    range_high: float
    uncalibrated_widening: float
    calibrated_chips: tuple[str, ...]
    #: (architecture, factor) pairs: the architecture's achieved speed on matrix and memory-bound work relative to
    #: the global fractions (1 for an architecture without measurements).
    architecture_factors: tuple[tuple[str, float], ...] = ()
    #: (layer type, factor) pairs: the speed of a layer type's FLOPs relative to the global fractions.
    layer_factors: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_json(cls, data: dict) -> PerformanceParams:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["calibrated_chips"] = tuple(values["calibrated_chips"])
        values["architecture_factors"] = tuple(sorted(data.get("architecture_factors", {}).items()))
        values["layer_factors"] = tuple(sorted(data.get("layer_factors", {}).items()))
        return cls(**values)

    def to_json(self) -> dict:
        out = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
        out["architecture_factors"] = dict(self.architecture_factors)
        out["layer_factors"] = dict(self.layer_factors)
        return out

    def architecture_factor(self, architecture: str | None) -> float:
        """The fitted factor of ``architecture`` (1 when it is not given or has no measurements)."""
        return dict(self.architecture_factors).get(architecture, 1.0) if architecture else 1.0

    def layer_speed(self, layer_mix: tuple[tuple[str, float], ...] | None) -> float:
        """The speed of a model with FLOP shares ``layer_mix`` relative to the global fractions: 1 / sum of
        share / factor (1 without a mix, or for layer types without a fitted factor)."""
        if not layer_mix:
            return 1.0
        factors = dict(self.layer_factors)
        total = sum(share for _, share in layer_mix)
        return total / sum(share / factors.get(kind, 1.0) for kind, share in layer_mix)


@functools.cache
def load_params() -> PerformanceParams:
    """The packaged fitted constants (``performance_model.json``), read once."""
    text = (resources.files("suanli.core.estimates") / "performance_model.json").read_text(encoding="utf-8")
    return PerformanceParams.from_json(json.loads(text)["params"])


@dataclass(frozen=True)
class Topology:
    """``count`` devices on ``servers`` servers of at most ``gpus_per_server``; ``network_gbps`` per server."""

    count: int
    servers: int
    gpus_per_server: int
    network_gbps: float


def has_fabric(chip: ChipSpec) -> bool:
    return chip.interconnect_gbs is not None


def default_network_gbps(chip: ChipSpec, gpus_per_server: int) -> float:
    """200 Gb/s per device for fabric (HGX/Atlas-class) servers, 50 Gb/s per server for PCIe servers."""
    return 200.0 * gpus_per_server if has_fabric(chip) else 50.0


def topology(chip: ChipSpec, count: int, servers: int | None = None, gpus_per_server: int | None = None,
             network_gbps: float | None = None) -> Topology:
    """The layout of ``count`` devices: given ``servers`` and/or ``gpus_per_server``, else 8 per server.

    Raises ``ValueError`` ("servers: ...") when the numbers do not add up.
    """
    if servers is None:
        per = gpus_per_server or DEFAULT_GPUS_PER_SERVER
        servers = math.ceil(count / per)
    if servers > count:
        raise ValueError(f"servers: {servers} servers cannot hold {count} devices (at least one each)")
    per_server = math.ceil(count / servers)
    if gpus_per_server is not None:
        if count > servers * gpus_per_server:
            raise ValueError(f"gpus_per_server: {servers} servers x {gpus_per_server} hold fewer than {count} devices")
        per_server = min(per_server, gpus_per_server)
    network = network_gbps if network_gbps is not None else default_network_gbps(chip, per_server)
    return Topology(count, servers, per_server, float(network))


def is_geforce(chip: ChipSpec) -> bool:
    """GeForce cards: their datasheet halves tensor throughput with FP32 accumulate, which PyTorch's mixed precision
    does not fully pay in practice (the fitted ``geforce_tensor`` factor)."""
    return "GeForce" in chip.name


def pcie_gbs(chip: ChipSpec) -> float:
    """Per-direction PCIe bandwidth (GB/s) a ring all-reduce gets, by generation; halved without peer-to-peer."""
    year = chip.release_year or 2020
    if "H100" in chip.name or year >= 2023 and chip.vendor == "NVIDIA" and chip.tdp_w >= 300:
        gbs = 48.0
    elif year >= 2020:
        gbs = 24.0
    else:
        gbs = 12.0
    if is_geforce(chip):
        gbs /= 2.0
    return gbs


def peak_for(chip: ChipSpec, precision: str) -> tuple[float, str, tuple[Message, ...]]:
    """(peak TFLOPS, efficiency path "fp32"/"tf32"/"amp", notes) for a training precision."""
    if precision == "fp32":
        return chip.fp32_tflops, "fp32", ()
    if precision == "tf32":
        if chip.tf32_tflops is None:
            return chip.fp32_tflops, "fp32", (msg("tf32: %(chip)s has no TF32 tensor cores; estimated at FP32",
                                                  chip=chip.name),)
        return chip.tf32_tflops, "tf32", ()
    if chip.key in NO_TENSOR_CORES:
        return chip.fp16_tflops, "fp32", (msg("amp: %(chip)s has no FP16 tensor units: mixed precision runs on its "
                                              "vector units (%(tflops)s TFLOPS)", chip=chip.name,
                                              tflops=f"{chip.fp16_tflops:g}"),)
    return chip.fp16_tflops, "amp", ()


@dataclass(frozen=True)
class StepTime:
    """Seconds per training step on one device, by part (module docstring); ``sync`` is the wait for the slowest
    device (``straggler · log2(count)`` of the rest)."""

    fixed: float
    math: float
    memory: float
    update: float
    comm: float
    comm_exposed: float
    sync: float = 0.0

    @property
    def total(self) -> float:
        return self.fixed + self.math + self.memory + self.update + self.comm_exposed + self.sync

    @property
    def bottleneck(self) -> str:
        shares = {"compute": self.math, "memory_bandwidth": self.memory + self.update,
                  "interconnect": self.comm_exposed + self.sync, "overhead": self.fixed}
        return max(shares, key=lambda k: shares[k])


def allreduce_seconds(chip: ChipSpec, topo: Topology, nbytes: float, link_efficiency: float) -> float:
    """Ring all-reduce of ``nbytes`` per device: within each server, then between servers."""
    seconds = 0.0
    g, s = topo.gpus_per_server, topo.servers
    if g > 1:
        link = (chip.interconnect_gbs / 2.0 if has_fabric(chip) else pcie_gbs(chip)) * 1e9 * link_efficiency
        seconds += 2.0 * (g - 1) / g * nbytes / link + 2 * (g - 1) * _RING_LATENCY_S
    if s > 1:
        network = topo.network_gbps / 8.0 * 1e9 * link_efficiency
        seconds += 2.0 * (s - 1) / s * nbytes / network + 2 * (s - 1) * 5 * _RING_LATENCY_S
    return seconds


def intensity(p: PerformanceParams, dense_params: float) -> float:
    """FLOPs per byte of memory-bound traffic: ``I0 · (P_dense / 1e8)^k``. Wider models (more dense parameters) do
    more matrix work per activation byte; embedding tables do not count (they are looked up, not multiplied)."""
    return p.intensity * (max(dense_params, MIN_DENSE_PARAMS) / 1e8) ** p.intensity_exponent


def step_time(chip: ChipSpec, precision: str, flops_per_sample: float, params: float, batch: float,
              topo: Topology, p: PerformanceParams, dense_params: float | None = None,
              architecture: str | None = None,
              layer_mix: tuple[tuple[str, float], ...] | None = None) -> StepTime:
    """Seconds per step on one device (module docstring); ``dense_params`` excludes embedding tables;
    ``architecture`` (one of :data:`ARCHITECTURES`) scales the matrix and memory-bound time by its fitted factor."""
    dense_params = params if dense_params is None else dense_params
    peak, path, _ = peak_for(chip, precision)
    u = {"fp32": p.u_fp32, "tf32": p.u_tf32, "amp": p.u_amp}[path] * (peak / REFERENCE_PEAK_TFLOPS) ** -p.peak_exponent
    if path != "fp32" and is_geforce(chip):
        u *= p.geforce_tensor
    u = min(MAX_UTILISATION, u)
    bandwidth = chip.memory_bandwidth_gbs * 1e9 * p.bandwidth_efficiency
    work = batch * flops_per_sample
    speed = p.architecture_factor(architecture) * p.layer_speed(layer_mix)
    math_s = work / (peak * 1e12 * u * speed)
    traffic = p.amp_traffic if precision == "amp" else 1.0
    memory_s = work * traffic / (intensity(p, dense_params) * bandwidth * speed)
    update_s = params * UPDATE_BYTES_PER_PARAM / bandwidth
    comm = allreduce_seconds(chip, topo, params * GRADIENT_BYTES_PER_PARAM, p.link_efficiency) \
        if topo.count > 1 else 0.0
    exposed = max(0.0, comm - p.comm_overlap * (2.0 / 3.0) * (math_s + memory_s))
    busy = p.step_overhead_s + math_s + memory_s + update_s + exposed
    sync = busy * p.straggler * math.log2(topo.count)
    return StepTime(p.step_overhead_s, math_s, memory_s, update_s, comm, exposed, sync)


@dataclass(frozen=True)
class Throughput:
    """Training throughput on a topology: samples/s (central, low, high), the step, utilisation and notes."""

    samples_per_s: float
    samples_per_s_low: float
    samples_per_s_high: float
    step: StepTime
    peak_tflops: float
    flops_utilisation: float
    calibrated: bool
    notes: tuple[Message, ...]


def calibrated(chip: ChipSpec, p: PerformanceParams) -> bool:
    """Whether measurements of the chip, or of its kind (NVIDIA with tensor cores), were in the calibration data."""
    return chip.key in p.calibrated_chips or (chip.ecosystem == "cuda" and chip.key not in NO_TENSOR_CORES)


def training_throughput(chip: ChipSpec, precision: str, flops_per_sample: float, params: float, batch: float,
                        topo: Topology, p: PerformanceParams | None = None,
                        dense_params: float | None = None, architecture: str | None = None,
                        layer_mix: tuple[tuple[str, float], ...] | None = None) -> Throughput:
    """Samples/s of data-parallel training (module docstring); ``precision`` is fp32, tf32 or amp."""
    p = p or load_params()
    peak, _, notes = peak_for(chip, precision)
    step = step_time(chip, precision, flops_per_sample, params, batch, topo, p, dense_params, architecture,
                     layer_mix)
    rate = topo.count * batch / step.total
    widen = 1.0 if calibrated(chip, p) else p.uncalibrated_widening
    utilisation = rate * flops_per_sample / (topo.count * peak * 1e12)
    return Throughput(rate, rate * p.range_low / widen, rate * p.range_high * widen, step, peak, utilisation,
                      calibrated(chip, p), notes)
