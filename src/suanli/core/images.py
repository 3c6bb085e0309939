"""The platform's images: the software environments a buyer picks when renting an instance, one family per chip
ecosystem (CUDA + PyTorch on NVIDIA, CANN + torch_npu on Ascend, DTK + PyTorch on Hygon DCU, ...) and a plain CPU
one. Pure data, no I/O.

An image here is what the buyer chooses (a key, a name, what it contains); what a data center pulls for it is the
data center's own ``reference`` (its registry, often a private one on a provincial network), recorded when the
seller offers the image (``instances.images``). ``default_reference`` is the public image the key stands for.

Which images fit a product: the CPU images fit every product; an accelerator image fits products whose chip
speaks its ecosystem (``compatible``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IMAGES", "Image", "compatible", "delivers_instances", "image_by_key"]


@dataclass(frozen=True)
class Image:
    key: str
    name: str
    ecosystem: str | None  # None: runs on any product (CPU only)
    description_en: str
    description_zh: str
    default_reference: str
    packages: tuple[str, ...]


IMAGES: tuple[Image, ...] = (
    Image("cuda-pytorch", "PyTorch 2.5 · CUDA 12.4", "cuda",
          "Ubuntu 22.04, CUDA 12.4, cuDNN 9, Python 3.11, PyTorch 2.5, JupyterLab",
          "Ubuntu 22.04、CUDA 12.4、cuDNN 9、Python 3.11、PyTorch 2.5、JupyterLab",
          "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
          ("cuda==12.4", "torch==2.5.1", "jupyterlab")),
    Image("cuda-vllm", "vLLM 0.6 · CUDA 12.4", "cuda",
          "Ubuntu 22.04, CUDA 12.4, Python 3.11, PyTorch 2.5, vLLM 0.6 for serving LLMs, JupyterLab",
          "Ubuntu 22.04、CUDA 12.4、Python 3.11、PyTorch 2.5、vLLM 0.6（大模型推理服务）、JupyterLab",
          "vllm/vllm-openai:v0.6.4",
          ("cuda==12.4", "torch==2.5.1", "vllm==0.6.4", "jupyterlab")),
    Image("cann-torch-npu", "CANN 8.0 · torch_npu 2.1", "cann",
          "openEuler 22.03, CANN 8.0, Python 3.10, PyTorch 2.1 with torch_npu, MindSpore 2.4, JupyterLab",
          "openEuler 22.03、CANN 8.0、Python 3.10、PyTorch 2.1 + torch_npu、MindSpore 2.4、JupyterLab",
          "ascendhub.huawei.com/public-ascendhub/ascend-pytorch:24.0.0-A2-2.1.0",
          ("cann==8.0", "torch==2.1.0", "torch_npu==2.1.0", "mindspore==2.4", "jupyterlab")),
    Image("dtk-pytorch", "DTK 24.04 · PyTorch 2.1", "dtk",
          "Ubuntu 20.04, Hygon DTK 24.04 (ROCm-compatible), Python 3.10, PyTorch 2.1 for DCU, JupyterLab",
          "Ubuntu 20.04、海光 DTK 24.04（兼容 ROCm）、Python 3.10、PyTorch 2.1（DCU 版）、JupyterLab",
          "image.sourcefind.cn:5000/dcu/admin/base/pytorch:2.1.0-ubuntu20.04-dtk24.04-py310",
          ("dtk==24.04", "torch==2.1.0", "jupyterlab")),
    Image("neuware-torch-mlu", "Neuware 3 · torch_mlu 2.1", "neuware",
          "Ubuntu 22.04, Cambricon Neuware 3, Python 3.10, PyTorch 2.1 with torch_mlu, JupyterLab",
          "Ubuntu 22.04、寒武纪 Neuware 3、Python 3.10、PyTorch 2.1 + torch_mlu、JupyterLab",
          "cambricon/pytorch:v1.22.0-torch2.1.0-ubuntu22.04-py310",
          ("neuware==3", "torch==2.1.0", "torch_mlu", "jupyterlab")),
    Image("xpu-paddle", "XPU · PaddlePaddle 2.6", "xpu",
          "Ubuntu 20.04, Kunlunxin XPU runtime, Python 3.10, PaddlePaddle 2.6 (XPU), JupyterLab",
          "Ubuntu 20.04、昆仑芯 XPU 运行时、Python 3.10、飞桨 PaddlePaddle 2.6（XPU 版）、JupyterLab",
          "ccr-2vdh3abv-pub.cnc.bj.baidubce.com/paddlepaddle/paddle:2.6.1-xpu",
          ("paddlepaddle-xpu==2.6.1", "jupyterlab")),
    Image("cpu-python", "Python 3.11 · CPU", None,
          "Debian 12, Python 3.11, NumPy, SciPy, pandas, JupyterLab; no accelerator libraries",
          "Debian 12、Python 3.11、NumPy、SciPy、pandas、JupyterLab；不含加速卡库",
          "python:3.11-bookworm",
          ("python==3.11", "numpy", "scipy", "pandas", "jupyterlab")),
)

_BY_KEY = {image.key: image for image in IMAGES}


def image_by_key(key: str) -> Image | None:
    return _BY_KEY.get(key.strip().lower())


def compatible(image: Image, ecosystem: str | None) -> bool:
    """Whether ``image`` runs on a product whose chip speaks ``ecosystem`` (None: a CPU or storage product)."""
    return image.ecosystem is None or image.ecosystem == ecosystem


INSTANCE_PRODUCT_KINDS = frozenset({"accelerator", "cpu"})
INSTANCE_DELIVERIES = frozenset({"container", "vm", "bare_metal"})


def delivers_instances(kind: str, delivery: str) -> bool:
    """Whether a buyer's lease of a product of this kind and delivery form delivers machines to log into (one
    instance per unit): accelerator and CPU products delivered as containers, VMs or bare metal. Storage and
    ``batch`` products rent units only (batch capacity runs jobs)."""
    return str(kind) in INSTANCE_PRODUCT_KINDS and str(delivery) in INSTANCE_DELIVERIES
