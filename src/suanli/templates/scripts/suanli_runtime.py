"""Shared helpers of the suanli workload templates (shipped next to each template script in the job's directory).

Device detection, result files, and the tiny numeric kernels the ``--smoke`` versions run: numpy when it is
installed, plain Python otherwise, so a smoke run works on any machine with Python 3.9+ and nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import sys
import time

VISIBLE_DEVICE_VARS = ("CUDA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
                       "MLU_VISIBLE_DEVICES", "XPU_VISIBLE_DEVICES", "MUSA_VISIBLE_DEVICES")

try:  # optional: the smoke versions fall back to plain Python
    import numpy as np
except ImportError:  # pragma: no cover - depends on the machine
    np = None


BEIJING_OFFSET_SECONDS = 8 * 3600  # the platform shows every time in Beijing time (UTC+8), whatever the node's zone


def log(message: str) -> None:
    """``[20:05:03 UTC+8] message``: Beijing time, like the pages around the log."""
    now = time.gmtime(time.time() + BEIJING_OFFSET_SECONDS)
    print(f"[{time.strftime('%H:%M:%S', now)} UTC+8] {message}", flush=True)


def visible_devices() -> dict[str, list[str]]:
    """The accelerator-selection variables the scheduler set for this job, as device index lists."""
    out = {}
    for name in VISIBLE_DEVICE_VARS:
        value = os.environ.get(name)
        if value is not None:
            out[name] = [d for d in value.split(",") if d.strip()]
    return out


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def detect_device(import_torch: bool = True) -> dict[str, object]:
    """Which accelerator runtime this job would use: Ascend (torch_npu, device 'npu'), Hygon DCU (DTK's
    ROCm/HIP build of PyTorch, device 'cuda'), NVIDIA CUDA, or the CPU. Without ``import_torch`` only the
    environment and installed packages are inspected (what the smoke versions report)."""
    info: dict[str, object] = {"visible_devices": visible_devices(), "python": sys.version.split()[0],
                               "torch_installed": has_module("torch"), "torch_npu_installed": has_module("torch_npu"),
                               "numpy": np is not None, "device": "cpu", "device_count": 0}
    env = info["visible_devices"]
    if not import_torch or not info["torch_installed"]:
        for var, kind in (("ASCEND_RT_VISIBLE_DEVICES", "npu"), ("HIP_VISIBLE_DEVICES", "dcu"),
                          ("CUDA_VISIBLE_DEVICES", "cuda")):
            if env.get(var):
                info["expected_device"] = kind
                info["device_count"] = len(env[var])
                break
        return info
    import torch

    if info["torch_npu_installed"]:
        import torch_npu  # noqa: F401  (registers the 'npu' device)

        if torch.npu.is_available():
            info.update(device="npu", device_count=torch.npu.device_count())
            return info
    if torch.cuda.is_available():
        hip = getattr(torch.version, "hip", None)
        info.update(device="cuda", device_count=torch.cuda.device_count(),
                    runtime=f"hip {hip} (DCU/ROCm)" if hip else f"cuda {torch.version.cuda}")
    return info


def write_json(path: str, data: dict) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2, sort_keys=True)
    log(f"wrote {path}")
    print("RESULT " + json.dumps(data, ensure_ascii=False, sort_keys=True), flush=True)  # for the job's log


def read_jsonl(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise SystemExit(f"{path}:{n}: not JSON ({exc})") from None
    return rows


# ---------------------------------------------------------------- tiny kernels for the smoke versions

def random_matrix(rows: int, cols: int, rng: random.Random, scale: float = 1.0):
    data = [[rng.gauss(0.0, scale) for _ in range(cols)] for _ in range(rows)]
    return np.array(data) if np is not None else data


def matmul(a, b):
    if np is not None:
        return np.asarray(a) @ np.asarray(b)
    cols = list(zip(*b))
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in a]


def add(a, b, scale: float = 1.0):
    if np is not None:
        return np.asarray(a) + scale * np.asarray(b)
    return [[x + scale * y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def transpose(a):
    if np is not None:
        return np.asarray(a).T
    return [list(col) for col in zip(*a)]


def scaled(a, factor: float):
    if np is not None:
        return factor * np.asarray(a)
    return [[factor * x for x in row] for row in a]


def mean_square(a) -> float:
    if np is not None:
        return float(np.mean(np.square(a)))
    flat = [x for row in a for x in row]
    return sum(x * x for x in flat) / len(flat)


def size(a) -> int:
    return int(np.asarray(a).size) if np is not None else len(a) * len(a[0])


class TinyLM:
    """A character-level toy language model (fixed random weights, greedy decoding): the same loop a serving
    engine runs (embed, project, pick the next token, append), small enough for a smoke test."""

    VOCAB = "abcdefghijklmnopqrstuvwxyz .,!?"

    def __init__(self, hidden: int = 16, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.embed = random_matrix(len(self.VOCAB), hidden, rng)
        self.out = random_matrix(hidden, len(self.VOCAB), rng)

    def _ids(self, text: str) -> list[int]:
        return [self.VOCAB.index(c) for c in text.lower() if c in self.VOCAB] or [0]

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        ids = self._ids(prompt)
        out = []
        for _ in range(max_new_tokens):
            window = ids[-8:]
            rows = [list(self.embed[i]) for i in window]
            hidden = [[sum(col) / len(rows) for col in zip(*rows)]]
            logits = matmul(hidden, self.out)
            row = list(logits[0])
            nxt = max(range(len(row)), key=lambda i: (row[i] + 0.01 * math.sin(len(ids) + i)))
            ids.append(nxt)
            out.append(self.VOCAB[nxt])
        return "".join(out)
