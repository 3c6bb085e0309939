"""Transformer dimensions assumed for a parameter count.

Model shape
    Activations, KV cache and adapter sizes need L, h, f and the KV-head count, which a parameter
    count alone does not give. :func:`model_shape` interpolates (log-linearly in N) between
    published shapes: TinyLlama-1.1B (Zhang et al. 2024), LLaMA/Llama 2 7B and 13B (Touvron et al.
    2023a/b), Code Llama 34B, Llama 2 70B and Llama 3.1 405B, and extrapolates outside with L and h
    scaled by (N/N_anchor)^(1/3). Head size 128. Below 30B parameters we assume full multi-head
    attention (as Llama 2 7B/13B: the conservative, larger KV cache); from 30B on, grouped-query
    attention with 8 KV heads (Ainslie et al. 2023; Llama 2 34B/70B, Llama 3, Qwen2.5-32B/72B).
    ``LLMInference.kv_heads`` overrides the assumption. V defaults to 32,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

@dataclass(frozen=True)
class ModelShape:
    """Transformer dimensions assumed for a parameter count (see :func:`model_shape`)."""

    params: float
    layers: int
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    @property
    def kv_dim(self) -> int:
        """Width of the K (or V) projection: ``kv_heads x head_dim``."""
        return self.kv_heads * self.head_dim

    @property
    def embedding_params(self) -> float:
        """Input embedding + untied output head, ``2·V·h``, capped at half the model."""
        return min(2.0 * self.vocab * self.hidden, 0.5 * self.params)

    @property
    def layer_params(self) -> float:
        """Parameters of one transformer layer, ``(N - E) / L``."""
        return (self.params - self.embedding_params) / self.layers

    @property
    def kv_bytes_per_token_16bit(self) -> float:
        """KV-cache bytes per token in 16-bit: ``2 · L · kv_heads · head_dim · 2``."""
        return 2.0 * self.layers * self.kv_dim * 2


# (params_b, layers, hidden, ffn): TinyLlama-1.1B, LLaMA/Llama-2 7B and 13B, Code Llama 34B,
# Llama-2 70B, Llama-3.1 405B.
_SHAPE_ANCHORS: tuple[tuple[float, int, int, int], ...] = (
    (1.1, 22, 2048, 5632),
    (6.74, 32, 4096, 11008),
    (13.0, 40, 5120, 13824),
    (33.7, 48, 8192, 22016),
    (69.0, 80, 8192, 28672),
    (405.0, 126, 16384, 53248),
)
_HEAD_DIM = 128
_GQA_FROM_B = 30.0
_GQA_KV_HEADS = 8
_DEFAULT_VOCAB = 32_000


def model_shape(params_b: float, kv_heads: int | None = None, vocab_size: int | None = None) -> ModelShape:
    """Assumed shape of a ``params_b``-billion dense decoder (module docstring, "Model shape").

    Between anchors, log(L), log(h), log(f) are interpolated linearly in log(N); outside them L and h
    scale as (N/N_anchor)^(1/3). h is rounded to a multiple of 128 (heads = h / 128), f to 64.
    """
    if not params_b > 0:
        raise ValueError(f"params_b: must be > 0, got {params_b!r}")
    logn = math.log(params_b)
    anchors = _SHAPE_ANCHORS
    if params_b <= anchors[0][0] or params_b >= anchors[-1][0]:
        base = anchors[0] if params_b <= anchors[0][0] else anchors[-1]
        scale = (params_b / base[0]) ** (1 / 3)
        layers_f, hidden_f, ffn_f = base[1] * scale, base[2] * scale, base[3] * scale
    else:
        for lo, hi in zip(anchors, anchors[1:], strict=False):
            if lo[0] <= params_b <= hi[0]:
                t = (logn - math.log(lo[0])) / (math.log(hi[0]) - math.log(lo[0]))
                layers_f, hidden_f, ffn_f = (math.exp((1 - t) * math.log(lo[i]) + t * math.log(hi[i]))
                                             for i in (1, 2, 3))
                break
    layers = max(1, round(layers_f))
    hidden = max(_HEAD_DIM, _HEAD_DIM * round(hidden_f / _HEAD_DIM))
    ffn = max(64, 64 * round(ffn_f / 64))
    heads = hidden // _HEAD_DIM
    head_dim = _HEAD_DIM
    if kv_heads is None:
        kv = min(_GQA_KV_HEADS, heads) if params_b >= _GQA_FROM_B else heads
    else:
        kv = kv_heads
    return ModelShape(params=params_b * 1e9, layers=layers, hidden=hidden, ffn=ffn, heads=heads,
                      kv_heads=kv, head_dim=head_dim, vocab=vocab_size or _DEFAULT_VOCAB)


def _lora_params(shape: ModelShape, rank: int) -> float:
    """LoRA adapter parameters on all 7 linear maps: ``r·L·(9h + 2·d_kv + 3f)``."""
    return float(rank) * shape.layers * (9 * shape.hidden + 2 * shape.kv_dim + 3 * shape.ffn)
