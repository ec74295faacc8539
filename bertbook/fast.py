"""Optional speed-ups that leave the model's code and state dict as they are.

Other fast paths live elsewhere: ``attn_implementation="sdpa"`` in the config (the default:
fused attention kernels), ``bertbook.padding_free(model)`` (ragged batches run on their real
tokens only, see ``packing.py``), and ``sparse_prediction=True`` in the MLM heads' ``forward``
(the vocabulary projection only at masked positions).

This module adds the two that act *on* a model or around its call:

* :func:`compile_layers` - ``torch.compile`` applied to each encoder layer (regional compilation:
  every layer runs the same code, so it is compiled once and reused, and the rest of the model -
  embeddings, heads, the packing bookkeeping - stays plain eager Python);
* :func:`autocast` - bf16 / fp16 autocast for inference or training. It lives in
  ``bertbook.train``, the package's one AMP fallback, and is imported here.

Both fall back with one warning where the machine cannot do what was asked (no C++ compiler for
the CPU backend, no Triton for CUDA, fp16 on a CPU, bf16 on a GPU without it), never with a crash
or a silently different model.

    model = bertbook.BertModel.from_pretrained("bundled-minilm")
    model = compile_layers(model)                  # first calls compile (seconds to minutes)
    with autocast(device, "bf16"):
        out = model(**batch)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings

import torch
from torch import nn

from .train import autocast  # noqa: F401 - the one AMP fallback of the package, re-exported


def compile_problem(device: torch.device | str) -> str | None:
    """Why ``torch.compile``'s default backend (Inductor) cannot run on ``device`` here, or None."""
    device = torch.device(device)
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    try:
        import torch._dynamo as dynamo

        if not dynamo.is_dynamo_supported():
            return "torch.compile does not support this Python version"
    except ImportError as exc:  # pragma: no cover - broken install
        return f"torch._dynamo cannot be imported ({exc})"
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return "Inductor needs Triton on CUDA and it is not installed"
    compilers = (os.environ.get("CXX", "g++"), "c++")
    if device.type == "cpu" and not any(shutil.which(name) for name in compilers):
        return "Inductor's CPU backend needs a C++ compiler (g++/c++) and none is on PATH"
    return None


def compile_layers(model: nn.Module, *, mode: str | None = None, dynamic: bool | None = True,
                   backend: str = "inductor") -> nn.Module:
    """Compile every ``BertLayer`` of ``model`` in place with ``torch.compile``; returns ``model``.

    ``dynamic=True`` (the default) compiles once for all sequence lengths and batch sizes, so that
    dynamic padding or padding-free batches do not trigger a recompilation per shape. ``mode`` is
    passed on (``"max-autotune"`` tries more kernels on CUDA, compiling much longer); ``backend``
    too (``"aot_eager"`` traces the same graphs without generating kernels: quick, for tests). Where
    compilation cannot run (see :func:`compile_problem`) the model is returned unchanged after one
    warning. The state dict keeps its keys: ``Module.compile`` wraps ``forward`` without renaming.
    """
    from .modeling import BertLayer

    try:
        device = next(model.parameters()).device
    except StopIteration:
        raise ValueError("compile_layers got a model without parameters") from None
    problem = compile_problem(device) if backend == "inductor" else None
    if problem is not None:
        warnings.warn(f"compile_layers: {problem}; running eagerly", stacklevel=2)
        return model
    layers = [m for m in model.modules() if isinstance(m, BertLayer)]
    if not layers:
        raise ValueError(f"compile_layers found no BertLayer in {type(model).__name__}")
    for layer in layers:
        layer.compile(mode=mode, dynamic=dynamic, backend=backend)
    return model
