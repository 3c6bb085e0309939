"""One-stop workload templates: ready workloads per ecosystem, each with its environment (container image and pip
packages), command, parameters (defaults, validation) and a smoke version that runs in seconds anywhere.

Pure: the catalog is data; :meth:`Template.resolve` checks parameters and :meth:`Template.command` renders the
command line. The scripts themselves ship in :mod:`suanli.templates` (``scripts/``), which reads them.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

__all__ = ["TEMPLATE_KINDS", "TEMPLATES", "Environment", "Param", "Template", "template_for_workload"]

#: kind -> the advisor workload kinds it serves
TEMPLATE_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "finetune": ("llm_finetune",),
    "serving": ("llm_inference",),
    "batch_inference": ("llm_inference",),
    "hpc": ("cpu",),
})
RUNTIME_FILE = "suanli_runtime.py"
RESULT_FILE = "output/result.json"


@dataclass(frozen=True)
class Param:
    """A template parameter: ``--name-with-dashes VALUE`` on the command line."""

    name: str
    type: str  # int, float, str, choice
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    smoke: Any = None  # the value the smoke version uses (None: the given or default value)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, value: Any) -> Any:
        """The value checked and converted; ``ValueError("name: message")`` when it is not acceptable."""
        if isinstance(value, bool):
            raise ValueError(f"{self.name}: must be a {self.type}, got {value!r}")
        if self.type == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                value = int(value)
            if not isinstance(value, int):
                raise ValueError(f"{self.name}: must be a whole number, got {value!r}")
        elif self.type == "float":
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: must be a number, got {value!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"{self.name}: must be finite, got {value!r}")
        else:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{self.name}: must be a non-empty string, got {value!r}")
            value = value.strip()
            if len(value) > 500 or any(c in value for c in "\n\r\0"):
                raise ValueError(f"{self.name}: must be one line of at most 500 characters")
            if self.choices and value not in self.choices:
                raise ValueError(f"{self.name}: must be one of {', '.join(self.choices)}; got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.name}: must be >= {self.minimum:g}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.name}: must be <= {self.maximum:g}, got {value}")
        return value

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "flag": self.flag, "type": self.type, "default": self.default, "help": self.help,
                "minimum": self.minimum, "maximum": self.maximum, "choices": list(self.choices) or None,
                "smoke_value": self.smoke}


@dataclass(frozen=True)
class Environment:
    """Where the template runs: a container image with the stack, or these pip packages on the host's."""

    image: str
    pip: tuple[str, ...]
    notes: str


@dataclass(frozen=True)
class Template:
    id: str
    title: str
    kind: str  # a key of TEMPLATE_KINDS
    ecosystem: str | None  # None: CPU
    description: str
    environment: Environment
    script: str  # file under suanli/templates/scripts/, run with python3
    params: tuple[Param, ...]
    smoke_args: tuple[str, ...] = ("--smoke",)
    smoke_minutes: int = 5
    mpi_ranks_param: str | None = None  # a parameter that, above 1, starts the script under mpirun -np N

    @property
    def workload_kinds(self) -> tuple[str, ...]:
        return TEMPLATE_KINDS[self.kind]

    @property
    def files(self) -> tuple[str, ...]:
        """The job's files: the script and the shared runtime helpers."""
        return (self.script, RUNTIME_FILE)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def resolve(self, values: Mapping[str, Any] | None = None, *, smoke: bool = False) -> dict[str, Any]:
        """Every parameter's value: the given ones checked, the rest defaults; the smoke version's overrides
        last. Unknown names are a ``ValueError`` listing the valid ones."""
        values = dict(values or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: template {self.id} has no parameter {unknown[0]!r}; valid: "
                             f"{', '.join(sorted(known))}")
        out = {p.name: p.parse(values[p.name]) if p.name in values else p.default for p in self.params}
        if smoke:
            out.update({p.name: p.smoke for p in self.params if p.smoke is not None})
        return out

    def command(self, values: Mapping[str, Any] | None = None, *, smoke: bool = False) -> str:
        """The command line that runs the template in its job directory."""
        resolved = self.resolve(values, smoke=smoke)
        words = ["python3", self.script]
        for p in self.params:
            if p.name != self.mpi_ranks_param:
                words += [p.flag, str(resolved[p.name])]
        if smoke:
            words += list(self.smoke_args)
        line = " ".join(shlex.quote(w) for w in words)
        ranks = resolved.get(self.mpi_ranks_param or "", 1)
        return f"mpirun -np {ranks} {line}" if ranks > 1 else line

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "kind": self.kind, "ecosystem": self.ecosystem,
                "workload_kinds": list(self.workload_kinds), "description": self.description,
                "environment": {"image": self.environment.image, "pip": list(self.environment.pip),
                                "notes": self.environment.notes},
                "script": self.script, "files": list(self.files), "result_file": RESULT_FILE,
                "parameters": [p.describe() for p in self.params],
                "command": self.command(), "smoke_command": self.command(smoke=True),
                "smoke_max_runtime_minutes": self.smoke_minutes}


# ---------------------------------------------------------------- parameters shared by templates

def _model(default: str = "Qwen/Qwen2.5-7B-Instruct") -> Param:
    return Param("model", "str", default, "Hugging Face model id, or a path in the job directory")


_TP = Param("tensor_parallel_size", "int", 1, "devices one model copy is split over", 1, 64, smoke=1)

_LORA_PARAMS = (
    _model(),
    Param("dataset", "str", "train.jsonl", "JSON-lines file ({instruction, input, output} or {text}) sent with "
          "the job, or a Hugging Face dataset name"),
    Param("method", "choice", "lora", "lora (16-bit base weights) or qlora (4-bit NF4 base, CUDA only)",
          choices=("lora", "qlora")),
    Param("lora_rank", "int", 16, "adapter rank r", 1, 1024),
    Param("lora_alpha", "int", 32, "adapter scaling alpha", 1, 4096),
    Param("epochs", "float", 1.0, "passes over the dataset", 0.01, 100),
    Param("max_steps", "int", -1, "stop after this many optimizer steps (-1: run the epochs)", -1, 10_000_000,
          smoke=40),
    Param("seq_len", "int", 2048, "tokens per training sequence", 16, 131_072),
    Param("micro_batch", "int", 1, "sequences per device per step", 1, 1024),
    Param("grad_accum", "int", 8, "micro-batches per optimizer step", 1, 4096),
    Param("lr", "float", 2e-4, "learning rate", 1e-8, 1.0),
    Param("precision", "choice", "bf16", "bf16 or fp16 (fp16 on chips without BF16)", choices=("bf16", "fp16")),
)

_LORA_PIP = ("transformers==4.46.3", "peft==0.13.2", "datasets==3.1.0", "accelerate==1.1.1")

_SERVE_PARAMS = (
    _model(),
    _TP,
    Param("max_model_len", "int", 4096, "context length served (prompt + output)", 16, 1_048_576),
    Param("dtype", "choice", "auto", "weights dtype", choices=("auto", "bfloat16", "float16")),
    Param("gpu_memory_utilization", "float", 0.9, "fraction of device memory vLLM may take", 0.05, 1.0),
    Param("max_num_seqs", "int", 256, "sequences decoded together", 1, 4096),
    Param("port", "int", 8000, "HTTP port of the OpenAI-compatible server", 1024, 65535),
)

_BATCH_PARAMS = (
    _model(),
    Param("input", "str", "prompts.jsonl", "JSON-lines file of {\"prompt\": ...} rows sent with the job"),
    Param("engine", "choice", "vllm", "vllm (offline LLM.generate) or transformers (any PyTorch device)",
          choices=("vllm", "transformers")),
    Param("max_new_tokens", "int", 256, "tokens generated per prompt", 1, 32_768),
    Param("batch_size", "int", 64, "prompts per generation batch", 1, 65_536),
    _TP,
)


_RECIPES = {"finetune": ("lora-finetune", "lora_finetune.py", _LORA_PARAMS),
            "serving": ("vllm-serve", "vllm_serve.py", _SERVE_PARAMS),
            "batch_inference": ("batch-inference", "batch_infer.py", _BATCH_PARAMS)}
_DTK_IMAGE = "image.sourcefind.cn:5000/dcu/admin/base/pytorch:2.1.0-ubuntu20.04-dtk24.04.1-py3.10"
_VLLM_ASCEND = ("vllm==0.7.3", "vllm-ascend==0.7.3")


def _with(params: tuple[Param, ...], name: str, **changes: Any) -> tuple[Param, ...]:
    """``params`` with one parameter changed (an ecosystem's own default or choices)."""
    return tuple(replace(p, **changes) if p.name == name else p for p in params)


_LORA_ONLY = _with(_LORA_PARAMS, "method", choices=("lora",),
                   help="lora (QLoRA needs bitsandbytes, which has no build for this ecosystem)")


def _accelerated(kind: str, ecosystem: str, title: str, environment: Environment, description: str,
                 params: tuple[Param, ...] | None = None) -> Template:
    prefix, script, default_params = _RECIPES[kind]
    return Template(id=f"{prefix}-{ecosystem}", title=title, kind=kind, ecosystem=ecosystem, description=description,
                    environment=environment, script=script, params=params or default_params)


TEMPLATES: Mapping[str, Template] = MappingProxyType({t.id: t for t in (
    _accelerated("finetune", "cuda", "LoRA fine-tuning, PyTorch + PEFT on NVIDIA CUDA",
                 Environment("nvcr.io/nvidia/pytorch:24.10-py3", ("torch==2.5.1", *_LORA_PIP, "bitsandbytes==0.44.1"),
                             "NGC PyTorch image (CUDA 12.6); QLoRA needs bitsandbytes"),
                 "Fine-tune a causal LM with LoRA or QLoRA adapters (Hugging Face Trainer, gradient checkpointing); "
                 "saves the adapter to output/adapter and metrics to output/result.json."),
    _accelerated("finetune", "cann", "LoRA fine-tuning, PyTorch + PEFT on Huawei Ascend (torch_npu, CANN)",
                 Environment("ascendai/cann:8.0.0-910b-ubuntu22.04-py3.10",
                             ("torch==2.4.0", "torch_npu==2.4.0.post2", *_LORA_PIP),
                             "CANN 8.0 toolkit image for Atlas 800T A2 (910B); torch_npu registers the 'npu' device. "
                             "LoRA only: bitsandbytes (QLoRA) has no Ascend build"),
                 "The CUDA recipe on Ascend NPUs: same script, device 'npu' through torch_npu; the scheduler sets "
                 "ASCEND_RT_VISIBLE_DEVICES.", params=_LORA_ONLY),
    _accelerated("finetune", "dtk", "LoRA fine-tuning, PyTorch + PEFT on Hygon DCU (DTK)",
                 Environment(_DTK_IMAGE, _LORA_PIP,
                             "SourceFind (光合) DTK 24.04 image with Hygon's ROCm/HIP build of PyTorch 2.1 "
                             "preinstalled: do not pip-install torch over it. LoRA only (no bitsandbytes build)"),
                 "The CUDA recipe on Hygon DCUs: DTK's PyTorch exposes the cards as 'cuda' devices through HIP; the "
                 "scheduler sets HIP_VISIBLE_DEVICES.", params=_LORA_ONLY),
    _accelerated("serving", "cuda", "vLLM serving (OpenAI-compatible API) on NVIDIA CUDA",
                 Environment("vllm/vllm-openai:v0.6.4", ("vllm==0.6.4",), "vLLM's official image"),
                 "Serve a model with `vllm serve` (continuous batching, PagedAttention) on the job's GPUs until its "
                 "maximum runtime; the smoke version serves a tiny model and queries it."),
    _accelerated("serving", "cann", "vLLM serving on Huawei Ascend (vllm-ascend)",
                 Environment("quay.io/ascend/vllm-ascend:v0.7.3", (*_VLLM_ASCEND, "torch==2.5.1", "torch_npu==2.5.1"),
                             "vllm-ascend's image (CANN 8.1, Atlas 800 A2); MindIE is Huawei's alternative server"),
                 "The same `vllm serve` on Ascend NPUs through the vllm-ascend platform plug-in."),
    _accelerated("batch_inference", "cuda", "Batch inference over a prompt file on NVIDIA CUDA",
                 Environment("vllm/vllm-openai:v0.6.4", ("vllm==0.6.4", "transformers==4.46.3"),
                             "vLLM's official image"),
                 "Generate completions for a JSON-lines file of prompts with vLLM's offline engine (or "
                 "transformers); writes output/completions.jsonl."),
    _accelerated("batch_inference", "cann", "Batch inference over a prompt file on Huawei Ascend",
                 Environment("quay.io/ascend/vllm-ascend:v0.7.3", (*_VLLM_ASCEND, "transformers==4.46.3"),
                             "vllm-ascend's image (CANN 8.1)"),
                 "The batch recipe on Ascend NPUs: vllm-ascend's offline engine, or transformers on torch_npu."),
    _accelerated("batch_inference", "dtk", "Batch inference over a prompt file on Hygon DCU",
                 Environment(_DTK_IMAGE, ("transformers==4.46.3", "accelerate==1.1.1"),
                             "DTK 24.04 PyTorch image; engine transformers (vLLM for DCU ships as a separate DTK "
                             "build)"),
                 "The batch recipe on Hygon DCUs with transformers on DTK's PyTorch.",
                 params=_with(_BATCH_PARAMS, "engine", default="transformers")),
    Template(id="cpu-hpc-stencil", title="CPU HPC: 2-D heat diffusion (MPI + threads)", kind="hpc", ecosystem=None,
             description="Jacobi iteration of a five-point stencil on a square grid, rows split over MPI ranks with "
                         "halo exchange, numpy vector updates on OMP_NUM_THREADS threads.",
             environment=Environment("python:3.11-slim", ("numpy==2.1.3", "mpi4py==4.0.1"),
                                     "plus an MPI runtime (apt install openmpi-bin libopenmpi-dev) for ranks > 1"),
             script="heat_stencil.py",
             params=(Param("grid", "int", 4096, "grid points per side", 4, 1_000_000),
                     Param("iterations", "int", 2000, "Jacobi iterations at most", 1, 100_000_000),
                     Param("tolerance", "float", 1e-6, "stop when the largest update is below this", 0, 1e6),
                     Param("ranks", "int", 1, "MPI ranks (mpirun -np); 1 runs without MPI", 1, 100_000, smoke=1)),
             mpi_ranks_param="ranks"),
)})


def template_for_workload(workload_kind: str, ecosystem: str | None) -> Template | None:
    """The default template for an advisor workload kind on an ecosystem (``None`` for CPU): fine-tuning ->
    LoRA, inference -> vLLM serving, cpu -> the HPC stencil. ``None`` when there is none."""
    preferred = {"llm_finetune": "finetune", "llm_inference": "serving", "cpu": "hpc"}.get(workload_kind)
    for t in TEMPLATES.values():
        if t.kind == preferred and t.ecosystem == ecosystem:
            return t
    return None
