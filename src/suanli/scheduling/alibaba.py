"""Convert the Alibaba GPU-sharing trace (clusterdata ``cluster-trace-gpu-v2023``) to the replay's CSVs.

The trace (Weng et al., ATC 2023; cite the paper) has, in ``openb_pod_list_*.csv``,
``name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time,
deletion_time, scheduled_time`` (times in seconds), and in ``openb_node_list_*.csv``
``sn, cpu_milli, memory_mib, gpu, model``. The copy under ``shared/data/traces/alibaba-gpu-2023``
holds 8,152 tasks (1,088 CPU-only, 6,989 on one GPU of which 3,078 share it, 75 on 2-8 GPUs) and
1,523 nodes (``openb_node_list_all_node.csv``: 1,213 GPU nodes with 6,212 GPUs plus 310 CPU-only
nodes; ``openb_node_list_gpu_node.csv`` lists the 1,213 GPU nodes alone, numbered differently).
``openb_pod_list_gpuspec33.csv`` is the same task list with a GPU-model constraint on 2,388 tasks.

Mapping (to :mod:`suanli.scheduling.traces`)
    * a job: ``submit_time_s`` = creation; ``duration_s`` = deletion - creation; ``accelerators`` = ``num_gpu``,
      except that **a share of one GPU (gpu_milli < 1000) becomes one whole GPU**: the platform rents whole
      accelerators (the summary counts these); ``vcpus`` = cpu_milli / 1000 and ``memory_gib`` = memory_mib /
      1024, rounded up; ``chip`` = ``gpu_spec`` lower-cased when it names one model (a task allowing several
      models may run on any: counted as ``relaxed_chip_jobs``); ``org`` = the task's ``qos`` class (the trace
      has no users);
    * a node: ``chip`` = the model lower-cased (CPU-only nodes: ``cpu``); vCPUs and GiB rounded down; one data
      center per 100 nodes in node order (``openb-dc-00`` ...), all in region ``杭州`` (the trace has no
      locations);
    * prices: CNY per GPU-hour by model, ``GPU_PRICE_CNY``; a node costs GPUs x that plus nothing for
      its CPUs (GPU rental prices include the host); CPU-only nodes cost ``CPU_PRICE_CNY`` per
      vCPU-hour. These are our assumptions, of the order of 2025 Chinese marketplace GPU rentals;
      G1/G2/G3 are models the paper does not disclose, priced as mid/high-end data-center GPUs.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from suanli.scheduling.traces import TraceError, TraceJob, TraceNode, write_jobs, write_nodes

__all__ = ["CPU_PRICE_CNY", "GPU_PRICE_CNY", "MODEL_TO_CHIP", "ConversionSummary", "convert",
           "read_alibaba_nodes", "read_alibaba_pods"]

# CNY per GPU-hour (our assumption; see the module docstring).
GPU_PRICE_CNY: dict[str, Decimal] = {
    "p100": Decimal("1.20"),
    "t4": Decimal("1.50"),
    "v100m16": Decimal("2.00"),
    "v100m32": Decimal("2.40"),
    "a10": Decimal("2.60"),
    "g1": Decimal("3.00"),
    "g2": Decimal("3.50"),
    "g3": Decimal("5.00"),
}
CPU_PRICE_CNY = Decimal("0.08")  # per vCPU-hour, CPU-only nodes
# The trace's model names and the chip-table key they correspond to (None: not in our chip table).
MODEL_TO_CHIP: dict[str, str | None] = {"p100": "p100", "t4": "t4", "v100m16": "v100", "v100m32": "v100",
                                        "a10": None, "g1": None, "g2": None, "g3": None}

POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "creation_time",
               "deletion_time")
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")


@dataclass(frozen=True)
class ConversionSummary:
    jobs: int
    cpu_only_jobs: int
    shared_gpu_jobs: int  # asked for a share of one GPU: rounded up to one whole GPU
    multi_gpu_jobs: int
    constrained_jobs: int  # with one GPU model named
    relaxed_chip_jobs: int  # allowed several GPU models: any model
    nodes: int
    gpu_nodes: int
    gpus: int
    gpu_demand: int  # sum of accelerators over jobs, after rounding shares up
    models: dict[str, int]  # GPU nodes per model


def _read(path: Path, columns: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise TraceError(f"{path}:1: missing columns {', '.join(missing)}")
    for row in reader:
        yield reader.line_num, row


def _int(path: Path, line: int, row: dict[str, str], column: str) -> int:
    text = (row.get(column) or "").strip()
    try:
        return int(text)
    except ValueError:
        raise TraceError(f"{path}:{line}: column {column!r}: {text!r} is not a whole number") from None


def read_alibaba_pods(path: Path) -> tuple[list[TraceJob], int, int]:
    """The jobs, how many GPU shares were rounded up to one GPU, how many chip alternatives were relaxed."""
    jobs = []
    shared = relaxed = 0
    for line, row in _read(path, POD_COLUMNS):
        num_gpu = _int(path, line, row, "num_gpu")
        gpu_milli = _int(path, line, row, "gpu_milli")
        creation = _int(path, line, row, "creation_time")
        deletion = _int(path, line, row, "deletion_time")
        if deletion < creation:
            raise TraceError(f"{path}:{line}: column 'deletion_time': before creation_time")
        if num_gpu == 1 and 0 < gpu_milli < 1000:
            shared += 1
        models = sorted({m.strip().lower() for m in (row.get("gpu_spec") or "").split("|") if m.strip()})
        if len(models) > 1:
            relaxed += 1
        jobs.append(TraceJob(id=row["name"].strip(), submit_time_s=creation, duration_s=deletion - creation,
                             accelerators=num_gpu, chip=models[0] if len(models) == 1 else None,
                             vcpus=math.ceil(_int(path, line, row, "cpu_milli") / 1000),
                             memory_gib=math.ceil(_int(path, line, row, "memory_mib") / 1024),
                             org=(row.get("qos") or "").strip() or "-"))
    return jobs, shared, relaxed


def read_alibaba_nodes(path: Path, per_datacenter: int = 100) -> list[TraceNode]:
    nodes = []
    for k, (line, row) in enumerate(_read(path, NODE_COLUMNS)):
        gpus = _int(path, line, row, "gpu")
        model = (row.get("model") or "").strip().lower()
        cpu_milli = _int(path, line, row, "cpu_milli")
        if gpus:
            if model not in GPU_PRICE_CNY:
                raise TraceError(f"{path}:{line}: column 'model': no price for GPU model {model!r}; "
                                 f"known: {', '.join(GPU_PRICE_CNY)}")
            price = GPU_PRICE_CNY[model] * gpus
        else:
            model = None
            price = CPU_PRICE_CNY * cpu_milli / 1000
        nodes.append(TraceNode(id=row["sn"].strip(), datacenter=f"openb-dc-{k // per_datacenter:02d}", region="杭州",
                               chip=model, accelerators=gpus, vcpus=cpu_milli // 1000,
                               memory_gib=_int(path, line, row, "memory_mib") // 1024, hourly_price_cny=price))
    return nodes


def convert(pods_csv: Path, nodes_csv: Path, jobs_out: Path, nodes_out: Path) -> ConversionSummary:
    """Read the Alibaba pod and node lists, write the replay's jobs and nodes CSVs, and summarise."""
    jobs, shared, relaxed = read_alibaba_pods(pods_csv)
    nodes = read_alibaba_nodes(nodes_csv)
    with jobs_out.open("w", encoding="utf-8", newline="") as f:
        write_jobs(jobs, f)
    with nodes_out.open("w", encoding="utf-8", newline="") as f:
        write_nodes(nodes, f)
    models: dict[str, int] = {}
    for n in nodes:
        if n.accelerators:
            models[n.chip] = models.get(n.chip, 0) + 1
    return ConversionSummary(
        jobs=len(jobs), cpu_only_jobs=sum(1 for j in jobs if j.accelerators == 0), shared_gpu_jobs=shared,
        multi_gpu_jobs=sum(1 for j in jobs if j.accelerators > 1), constrained_jobs=sum(1 for j in jobs if j.chip),
        relaxed_chip_jobs=relaxed, nodes=len(nodes), gpu_nodes=sum(1 for n in nodes if n.accelerators),
        gpus=sum(n.accelerators for n in nodes), gpu_demand=sum(j.accelerators for j in jobs),
        models=dict(sorted(models.items())),
    )
