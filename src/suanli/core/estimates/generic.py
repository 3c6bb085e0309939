"""Generic deep-learning training (FLOPs per sample, or a reference model) through the training performance model
(:mod:`.performance`), and GPU-hours on a reference chip converted to another."""

from __future__ import annotations

import math
from dataclasses import dataclass

from suanli.core.chips import ChipSpec, get_chip
from suanli.core.estimates.efficiency import NO_BF16_CHIPS, chip_family, peak_tflops, scaling_efficiency
from suanli.core.estimates.performance import (PRECISION_ALIASES, Topology, has_fabric, load_params, pcie_gbs,
                                               topology, training_throughput)
from suanli.core.estimates.reference_models import REFERENCE_MODELS, ReferenceModel, reference_model
from suanli.core.estimates.result import Estimate, _ecosystem_notes
from suanli.core.messages import Message, msg
from suanli.core.workloads import GenericTraining, ReferenceGpuHours

#: What samples are, in a sentence (translatable): one, and several.
UNIT_WORD = {"image": msg("image"), "sequence": msg("sequence"), "token": msg("token"), "sample": msg("sample"),
             "frame": msg("frame")}
UNIT_WORDS = {"image": msg("images"), "sequence": msg("sequences"), "token": msg("tokens"),
              "sample": msg("samples"), "frame": msg("frames")}


@dataclass(frozen=True)
class _Described:
    """A generic-training workload resolved to the performance model's inputs."""

    flops_per_sample: float
    params: float
    dense_params: float
    batch: int
    unit: str
    notes: tuple[Message, ...]
    architecture: str | None = None
    layer_mix: tuple[tuple[str, float], ...] = ()


def _describe(w: GenericTraining) -> _Described:
    """FLOPs per sample, parameters and batch, from the workload or its reference model, with notes."""
    notes: list[Message] = []
    ref = reference_model(w.model) if w.model else None
    flops = w.flops_per_sample
    if flops is None:
        assert ref is not None
        flops = ref.flops_per_sample
        if w.image_size is not None and ref.image_side:
            flops *= (w.image_size / ref.image_side) ** 2
            notes.append(msg("%(model)s at %(size)s x %(size)s pixels: FLOPs scaled by the pixel count",
                             model=ref.name, size=w.image_size))
        if w.seq_len is not None and ref.sequence_tokens:
            flops *= w.seq_len / ref.sequence_tokens
            notes.append(msg("%(model)s at %(seq)s tokens: FLOPs scaled by the sequence length (attention's "
                             "quadratic part not rescaled)", model=ref.name, seq=w.seq_len))
        notes.append(msg("%(model)s: %(flops)s training FLOPs per %(unit)s (6 x %(macs)s forward multiply-adds), "
                         "%(params)s M parameters", model=ref.name, flops=f"{flops:.3g}",
                         unit=UNIT_WORD.get(ref.unit, ref.unit),
                         macs=f"{ref.forward_macs:.3g}", params=f"{ref.params / 1e6:.1f}"))
    params = w.params if w.params is not None else (ref.params if ref else None)
    if params is None:
        params = flops / 6.0  # each parameter used once per sample: the fewest parameters those FLOPs imply
        notes.append(msg("parameters not given: %(params)s M assumed (flops_per_sample / 6); give params_m so the "
                         "optimizer and gradient all-reduce are sized right", params=f"{params / 1e6:.1f}"))
    elif w.flops_per_sample is not None and flops < 2.0 * params:
        notes.append(msg("flops_per_sample (%(flops)s) is below 2 x the parameters (%(params)s): published model "
                         "'FLOPs' are usually forward multiply-adds; training FLOPs are about 6 x those (unless most "
                         "parameters are embeddings, as in recommenders)", flops=f"{flops:.3g}",
                         params=f"{params:.3g}"))
    if ref is not None and w.flops_per_sample is not None and abs(w.flops_per_sample / ref.forward_macs - 1) < 0.1:
        notes.append(msg("flops_per_sample equals %(model)s's forward multiply-adds: training FLOPs are 6 x that "
                         "(%(flops)s)", model=ref.name, flops=f"{ref.flops_per_sample:.3g}"))
    elif ref is None and w.flops_per_sample is not None and (look_alike := _forward_count_of(flops)) is not None:
        notes.append(msg("flops_per_sample (%(given)s) is the forward multiply-add count a model card gives for "
                         "%(model)s, not its training FLOPs: if that is your model, give 6 x that (%(flops)s) or "
                         "model=%(key)s", given=f"{flops:.3g}", model=look_alike.name,
                         flops=f"{look_alike.flops_per_sample:.3g}", key=look_alike.key))
    if w.batch_size is not None:
        batch = w.batch_size
    else:
        batch = ref.default_batch if ref else 32
        notes.append(msg("batch size not given: %(batch)s samples per device per step assumed (small batches are "
                         "slower per sample: a fixed cost every step)", batch=batch))
    if w.embedding_params_m is not None:
        embeddings = w.embedding_params_m * 1e6
    elif ref is not None and w.params is None:
        embeddings = ref.embedding_params
    else:
        embeddings = 0.0
    architecture = w.architecture or (ref.architecture if ref else None)
    return _Described(float(flops), float(params), max(float(params) - embeddings, 0.0), batch,
                      ref.unit if ref else "sample", tuple(notes), architecture, ref.layer_mix if ref else ())


def _forward_count_of(flops: float) -> ReferenceModel | None:
    """The reference model whose forward multiply-adds (what model cards call "GFLOPs") are within 5% of ``flops``,
    if any: a sign the number typed is not training FLOPs."""
    for model in REFERENCE_MODELS.values():
        if abs(flops / model.forward_macs - 1.0) <= 0.05:
            return model
    return None


def _estimate_generic(w: GenericTraining, chip: ChipSpec, count: int, servers: int | None = None) -> Estimate:
    family = chip_family(chip)
    described = _describe(w)
    precision = PRECISION_ALIASES[w.precision]
    topo = topology(chip, count, servers=servers if servers is not None else w.servers,
                    gpus_per_server=w.gpus_per_server, network_gbps=w.network_gbps)
    tp = training_throughput(chip, precision, described.flops_per_sample, described.params, described.batch, topo,
                             dense_params=described.dense_params, architecture=described.architecture,
                             layer_mix=described.layer_mix)
    step = tp.step
    rate, low, high, utilisation = tp.samples_per_s, tp.samples_per_s_low, tp.samples_per_s_high, tp.flops_utilisation
    capped = False
    if w.input_samples_per_s is not None:
        cap = w.input_samples_per_s * topo.servers
        capped = rate > cap
        if capped:
            utilisation *= cap / rate
        rate, low, high = min(rate, cap), min(low, cap), min(high, cap)
    fits = needed = None
    parts: dict[str, float] = {}
    if w.model_memory_gib is not None:
        needed = float(w.model_memory_gib) + 1.0
        fits = needed <= chip.memory_gib
        parts = {"weights": 0.0, "gradients": 0.0, "optimizer": 0.0, "activations": float(w.model_memory_gib),
                 "kv_cache": 0.0, "overhead": 1.0}
    notes = list(tp.notes) + list(described.notes) + _architecture_notes(described.architecture)
    if w.precision == "bf16" and chip.key in NO_BF16_CHIPS:
        notes.append(msg("bf16: %(chip)s has no BF16 tensor cores; mixed precision there means fp16 with loss "
                         "scaling, which is what this estimate assumes", chip=chip.name))
    if capped:
        notes.append(msg("capped by the data pipeline: %(cap)s %(unit)s per second per server x %(servers)s; the "
                         "devices alone would do %(rate)s", cap=f"{w.input_samples_per_s:,.0f}",
                         unit=UNIT_WORDS.get(described.unit, described.unit), servers=topo.servers,
                         rate=f"{tp.samples_per_s:,.0f}"))
    notes.append(msg("%(rate)s %(unit)s per second (%(low)s-%(high)s: the range holds about 80%% of held-out "
                     "measurements); %(step)s ms per step of %(batch)s per device, of which compute %(math)s, "
                     "memory %(memory)s, fixed overhead %(fixed)s, exposed communication %(comm)s ms",
                     rate=f"{rate:,.0f}", unit=UNIT_WORDS.get(described.unit, described.unit),
                     low=f"{low:,.0f}",
                     high=f"{high:,.0f}", step=f"{step.total * 1e3:.1f}", batch=described.batch,
                     math=f"{step.math * 1e3:.1f}", memory=f"{(step.memory + step.update) * 1e3:.1f}",
                     fixed=f"{step.fixed * 1e3:.1f}", comm=f"{step.comm_exposed * 1e3:.1f}"))
    if not tp.calibrated:
        notes.append(msg("no training measurement of %(chip)s or its kind in the calibration data: the range is "
                         "widened", chip=chip.name))
    if count > 1:
        notes.append(msg("data parallel on %(count)s devices in %(servers)s server(s) of %(per)s: gradients "
                         "(%(grad)s MB) all-reduced every step over %(link)s", count=count, servers=topo.servers,
                         per=topo.gpus_per_server, grad=f"{described.params * 4 / 1e6:,.0f}",
                         link=_link_words(chip, topo)))
    if w.model_memory_gib is None:
        notes.append(msg("memory fit not checked: give model_memory_gib"))
    notes += _ecosystem_notes(chip, family)
    if fits is False:
        bottleneck = "memory_capacity"
    elif capped:
        bottleneck = "input_pipeline"
    else:
        bottleneck = step.bottleneck
    total = w.total_flops if w.flops_per_sample is not None else (
        None if w.samples is None else described.flops_per_sample * w.samples * w.epochs)
    hours = hours_low = hours_high = None
    if w.samples is not None:
        work = float(w.samples) * w.epochs
        hours = work / rate / 3600.0
        hours_low = work / high / 3600.0
        hours_high = work / low / 3600.0
    return Estimate(
        workload_kind="generic_training", chip_key=chip.key, count=count, bottleneck=bottleneck,
        fits_in_memory=fits, memory_needed_gib=needed, memory_available_gib=float(chip.memory_gib),
        memory_breakdown_gib=parts, total_flops=total, executed_flops=total, hours=hours,
        hours_low=hours_low, hours_high=hours_high, mfu=utilisation,
        samples_per_s=rate, samples_per_s_low=low, samples_per_s_high=high, sample_unit=described.unit,
        step_time_ms={"total": step.total * 1e3, "compute": step.math * 1e3,
                      "memory_bandwidth": (step.memory + step.update) * 1e3, "overhead": step.fixed * 1e3,
                      "interconnect": step.comm_exposed * 1e3},
        batch_per_device=described.batch, servers=topo.servers, notes=tuple(notes),
    )


#: Architecture classes in words (translatable).
ARCHITECTURE_WORDS = {"cnn": msg("convolutional networks"), "transformer": msg("Transformers"),
                      "rnn": msg("recurrent networks"), "recommendation": msg("recommendation models"),
                      "gan": msg("GANs"), "speech": msg("speech models")}


def _architecture_notes(architecture: str | None) -> list[Message]:
    if architecture is None:
        return [msg("architecture not given: the fractions of peak fitted over all measured models are used (give "
                    "architecture: cnn, transformer, rnn, recommendation, gan or speech)")]
    factor = load_params().architecture_factor(architecture)
    if factor == 1.0:
        return [msg("%(architecture)s: no class factor (the measured models of this class differ too much from one "
                    "another for one to hold on a new model); the fractions fitted over all models are used",
                    architecture=ARCHITECTURE_WORDS[architecture])]
    return [msg("%(architecture)s: the measured models of this class reach %(factor)s x the speed their FLOPs "
                "imply (fitted class factor)", architecture=ARCHITECTURE_WORDS[architecture], factor=f"{factor:.2f}")]


def _link_words(chip: ChipSpec, topo: Topology) -> Message:
    inside = (msg("%(gbs)s GB/s chip fabric", gbs=f"{chip.interconnect_gbs:g}") if has_fabric(chip)
              else msg("PCIe (%(gbs)s GB/s per direction)", gbs=f"{pcie_gbs(chip):g}"))
    if topo.servers > 1:
        return msg("%(inside)s, then %(net)s Gb/s of network per server", inside=inside, net=f"{topo.network_gbps:g}")
    return inside


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
