"""Reference models: what a user can name instead of giving FLOPs per sample and parameters.

Each entry is a published architecture with the unit its benchmarks count (images, sequences, tokens, ...),
its parameter count and its **training** FLOPs per sample (forward + backward = 3 x the forward FLOPs, with
1 multiply-add = 2 FLOPs). The forward counts are derived from the architectures below, not fitted to any
throughput; ``bench/data/DL_MEASUREMENTS.md`` shows the arithmetic for the benchmark models.

Sources of the architectures:
- ResNet-50/ResNet-18 (He et al. 2016): 4.09 / 1.82 G multiply-adds forward at 224x224 (torchvision);
  ResNet-18 on CIFAR-10 (32x32, 3x3 stem): 0.56 G multiply-adds.
- ResNet-152 (He et al. 2016): 11.5 G multiply-adds at 224x224, 60.2M parameters; Inception v3 (Szegedy et al.
  2016): 5.72 G at 299x299, 23.8M; VGG-16 (Simonyan & Zisserman 2015): 15.5 G at 224x224, 138M (124M of them
  in the fully connected layers); AlexNet, the one-tower variant of tf_cnn_benchmarks / torchvision (Krizhevsky
  2014): 0.71 G at 224x224, 61.1M (torchvision's counts).
- SSD300 with a ResNet-50 backbone (NVIDIA DeepLearningExamples "SSD300 v1.1"): layer3 at stride 1 on 38x38,
  no layer4, extra feature layers and 3x3 heads (4 or 6 boxes x 85 outputs): ~20.6 G multiply-adds forward.
- BERT base / large (Devlin et al. 2019) fine-tuned on SQuAD at sequence 384: 2·N_non-embedding + 4·L·s·h
  FLOPs per token forward (85M / 302M non-embedding parameters).
- GNMT v2 (NVIDIA DeepLearningExamples): 4-layer LSTM encoder (first bidirectional) and 4-layer decoder with
  attention, 1024 units, 32,320-token vocabulary: ~46M multiply-adds per source token and ~85M per target
  token; counted per token of source + target (the unit of its throughput).
- NCF / NeuMF (He et al. 2017) on MovieLens-20M, 64 factors, MLP 256-256-128-64: 0.107M multiply-adds per
  (user, item) sample; 31.8M parameters, nearly all embeddings.
- Transformer-XL base / large (Dai et al. 2019) on WikiText-103: 16 layers d=410 (41M non-embedding) /
  18 layers d=1024 (245M), relative attention (content, position and value terms) over target + memory
  keys, the key/value/query projection recomputed over the cached memory positions each segment, and the
  adaptive-softmax head (~10M / ~20M multiply-adds per token).
- Tacotron 2 (Shen et al. 2018): ~24M multiply-adds per mel frame (decoder LSTMs, attention, postnet and the
  encoder amortised per frame).
- WaveGlow (Prenger et al. 2019), 12 flows, 8 WN layers of 256 channels (NVIDIA's training default): ~10M
  multiply-adds per audio sample.
- GPT-2 small (Radford et al. 2019), 124M parameters at sequence 1024: 6·N + 6·L·s·h per token.

``layer_mix`` splits the forward multiply-adds by layer type (performance.LAYER_TYPES), from the same layer
counts: ``conv3x3`` is 3x3 stride-1 convolution (the bottleneck 3x3s of a ResNet, ~45-50%; all of VGG-16; AlexNet's
conv3-5, 51%), ``conv`` every other convolution (1x1, strided, 5x5/7x7/11x11, Inception's 1x7/7x1, WaveGlow's
dilated 1-D and Tacotron 2's postnet), ``attention`` the score and context products (BERT base 7.7% at sequence 384,
BERT large 5.9%, Transformer-XL 11-12% with its relative terms, GPT-2 7.1%), ``recurrent`` the LSTM cells (GNMT 70%,
Tacotron 2 76%), ``dense`` the rest (projections, MLPs, softmax heads). The ResNet, Inception and SSD shares are
rounded estimates from their block structure, not exact counts.

``embedding_params`` are looked-up tables (BERT's token/position embeddings, GNMT's source and target embeddings,
NCF's user and item factors, Transformer-XL's adaptive input, GPT-2's token embedding): they are updated and
all-reduced but do no matrix work, so the performance model leaves them out of the model's width.

Where a benchmark counts tokens, frames or audio samples but batches sentences, clips or segments,
``samples_per_item`` converts: GNMT ~50 tokens per WMT16 sentence pair (source + target, BPE), Transformer-XL
192 / 384 target tokens per segment, Tacotron 2 ~570 mel frames per LJSpeech clip (6.6 s average at 22,050 Hz,
hop 256), WaveGlow 8,000-sample segments (NVIDIA's training default).
"""

from __future__ import annotations

import re

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ReferenceModel:
    """A named model: its sample unit, parameters, and training FLOPs per sample."""

    key: str
    name: str
    unit: str  # what one "sample" is: image, sequence, token, sample, frame
    params: float  # parameter count (gradients all-reduced per step)
    flops_per_sample: float  # training FLOPs (forward + backward) per sample
    forward_macs: float  # forward multiply-adds per sample (what model cards call "FLOPs")
    default_batch: int  # per-device batch, in samples, typical of its published runs
    sample_shape: str  # image size, or sequence length, as text

    @property
    def image_side(self) -> int | None:
        """Pixels per side of an image model's input ("224x224" -> 224), else ``None``."""
        side, sep, _ = self.sample_shape.partition("x")
        return int(side) if sep and self.unit == "image" else None

    @property
    def sequence_tokens(self) -> int | None:
        """Tokens per sample of a sequence model ("384 tokens" -> 384), else ``None``."""
        return int(self.sample_shape.split()[0]) if self.unit == "sequence" else None
    samples_per_item: float = 1.0  # samples in one batch element (tokens per sentence pair, frames per clip, ...)
    embedding_params: float = 0.0  # parameters in looked-up embedding tables (not multiplied)
    architecture: str | None = None  # the performance model's architecture class (performance.ARCHITECTURES)
    #: Shares of the forward multiply-adds by layer type (performance.LAYER_TYPES), from the architecture.
    layer_mix: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if abs(self.flops_per_sample - 6.0 * self.forward_macs) > 1e-6 * self.flops_per_sample:
            raise ValueError(f"{self.key}: flops_per_sample must be 6 x forward_macs (3 passes x 2 FLOPs per MAC)")


def _model(key: str, name: str, unit: str, params: float, forward_macs: float, default_batch: int,
           sample_shape: str, samples_per_item: float = 1.0, embedding_params: float = 0.0, *,
           architecture: str, mix: dict[str, float] | None = None) -> ReferenceModel:
    layer_mix = tuple(sorted((mix or {"conv": 1.0}).items()))
    return ReferenceModel(key, name, unit, params, 6.0 * forward_macs, forward_macs, default_batch, sample_shape,
                          samples_per_item, embedding_params, architecture, layer_mix)


def _per_token_transformer(non_embedding: float, layers: int, seq: int, hidden: int, *, causal: bool) -> float:
    """Forward multiply-adds per token: N_non-embedding + attention (QK^T and AV over ``seq`` keys; half if causal)."""
    attention = 2.0 * layers * seq * hidden * (0.5 if causal else 1.0)
    return non_embedding + attention


REFERENCE_MODELS: Mapping[str, ReferenceModel] = MappingProxyType({m.key: m for m in (
    _model("resnet50", "ResNet-50 (ImageNet, 224x224)", "image", 25.6e6, 4.09e9, 256, "224x224", architecture="cnn",
           mix={"conv3x3": 0.45, "conv": 0.55}),
    _model("resnet18", "ResNet-18 (ImageNet, 224x224)", "image", 11.7e6, 1.82e9, 256, "224x224", architecture="cnn",
           mix={"conv3x3": 0.80, "conv": 0.20}),
    _model("resnet18_cifar", "ResNet-18 (CIFAR-10, 32x32)", "image", 11.2e6, 0.56e9, 128, "32x32", architecture="cnn",
           mix={"conv3x3": 0.95, "conv": 0.05}),
    _model("resnet152", "ResNet-152 (ImageNet, 224x224)", "image", 60.2e6, 11.5e9, 64, "224x224", architecture="cnn",
           mix={"conv3x3": 0.50, "conv": 0.50}),
    _model("inception_v3", "Inception v3 (ImageNet, 299x299)", "image", 23.8e6, 5.72e9, 64, "299x299",
           architecture="cnn",
           mix={"conv3x3": 0.40, "conv": 0.60}),
    _model("vgg16", "VGG-16 (ImageNet, 224x224)", "image", 138e6, 15.5e9, 64, "224x224", architecture="cnn",
           mix={"conv3x3": 0.992, "dense": 0.008}),
    _model("alexnet", "AlexNet (ImageNet, 224x224, one-tower)", "image", 61.1e6, 0.71e9, 512, "224x224",
           architecture="cnn",
           mix={"conv3x3": 0.51, "conv": 0.41, "dense": 0.08}),
    _model("ssd300", "SSD300 v1.1, ResNet-50 backbone (COCO, 300x300)", "image", 22.9e6, 20.6e9, 64, "300x300",
           architecture="cnn",
           mix={"conv3x3": 0.50, "conv": 0.50}),
    _model("bert_base", "BERT base, SQuAD fine-tuning (seq 384)", "sequence", 110e6,
           384 * _per_token_transformer(85.0e6, 12, 384, 768, causal=False), 32, "384 tokens",
           embedding_params=23.8e6, architecture="transformer",
           mix={"dense": 0.923, "attention": 0.077}),
    _model("bert_large", "BERT large, SQuAD fine-tuning (seq 384)", "sequence", 335e6,
           384 * _per_token_transformer(302e6, 24, 384, 1024, causal=False), 16, "384 tokens",
           embedding_params=31.8e6, architecture="transformer",
           mix={"dense": 0.941, "attention": 0.059}),
    _model("gnmt", "GNMT v2 (WMT16 en-de), per source+target token", "token", 160e6, (46e6 + 85e6) / 2, 12800,
           "~50 tokens per sentence pair", samples_per_item=50, embedding_params=66.2e6, architecture="rnn",
           mix={"recurrent": 0.70, "dense": 0.25, "attention": 0.05}),
    _model("ncf", "NCF / NeuMF (MovieLens-20M), per (user, item) sample", "sample", 31.8e6, 0.107e6, 1 << 20, "-",
           embedding_params=31.7e6, architecture="recommendation",
           mix={"dense": 1.0}),
    _model("transformerxl_base", "Transformer-XL base (WikiText-103), per token", "token", 151e6,
           41e6 + 3 * 410 * 410 * 16 + 3.0 * 384 * 410 * 16 + 10e6,
           6144, "192 + 192 memory", samples_per_item=192, embedding_params=110e6, architecture="transformer",
           mix={"dense": 0.887, "attention": 0.113}),
    _model("transformerxl_large", "Transformer-XL large (WikiText-103), per token", "token", 285e6,
           245e6 + 3 * 1024 * 1024 * 18 + 3.0 * 768 * 1024 * 18 + 20e6,
           6144, "384 + 384 memory", samples_per_item=384, embedding_params=40e6, architecture="transformer",
           mix={"dense": 0.883, "attention": 0.117}),
    _model("tacotron2", "Tacotron 2 (LJSpeech), per mel frame", "frame", 28.2e6, 24.4e6, 48 * 570,
           "~570 mel frames per clip", samples_per_item=570, architecture="speech",
           mix={"recurrent": 0.76, "conv": 0.22, "attention": 0.02}),
    _model("waveglow", "WaveGlow (LJSpeech, 256 channels), per audio sample", "sample", 87.9e6, 10.2e6, 8 * 8000,
           "8,000-sample segments", samples_per_item=8000, architecture="speech"),
    _model("gpt2", "GPT-2 small (seq 1024), per token", "token", 124e6,
           _per_token_transformer(85e6, 12, 1024, 768, causal=True) + 38.6e6, 8192, "1024 tokens",
           samples_per_item=1024, embedding_params=38.6e6, architecture="transformer",
           mix={"dense": 0.929, "attention": 0.071}),
)})


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


_INDEX = {_norm(k): m for k, m in REFERENCE_MODELS.items()}


def reference_model(key: str) -> ReferenceModel:
    """The model named ``key``, ignoring case, spaces and punctuation ("ResNet-50", "bert large"); ``KeyError``
    lists the known keys."""
    try:
        return _INDEX[_norm(key)]
    except KeyError:
        raise KeyError(f"unknown model {key!r}; known models: {', '.join(REFERENCE_MODELS)}") from None
