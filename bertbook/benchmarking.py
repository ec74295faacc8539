"""Measuring speed honestly: paired timings, FLOPs of a BERT step, model FLOPs utilisation.

Two rules make a speed comparison worth reading:

1. Compare in one process, alternating: ``ours, theirs, ours, theirs, ...`` after a warm-up, and
   report the median of each and their ratio. Whatever else the machine is doing hits both alike;
   absolute times from different runs (or machines) are not comparable, ratios from one run are.
2. On a GPU, synchronise before reading the clock: kernels run asynchronously, so without
   ``torch.cuda.synchronize()`` you time the *launch*, not the work.

FLOPs follow the usual accounting (Kaplan et al. 2020; Narayanan et al. 2021): a matrix product
of (m, k) by (k, n) costs 2*m*k*n; the backward pass costs twice the forward. Per layer, for a
batch of B sequences of T tokens, hidden H, intermediate I:

    projections  Q, K, V and output     2 * B*T * 4*H*H
    attention    scores and mix         2 * B*T*T*H * 2
    feed-forward two matrices           2 * B*T * 2*H*I

Embedding look-ups, LayerNorm, softmax, GELU and additions are left out: they are memory-bound,
a small share of the FLOPs, and conventionally not counted. The MLM head adds its transform and
its vocabulary projection (2*H*H + 2*H*V per predicted token).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

# Dense (no sparsity) peak throughput in FLOP/s of common accelerators for bf16/fp16 tensor-core
# matrix products, from the vendors' data sheets. For a device not listed, or for the CPU, measure
# an achievable peak with :func:`matmul_peak_flops` instead.
GPU_PEAK_BF16 = {
    "H200": 989e12,
    "H100 SXM": 989e12,  # must come before "H100": names are matched in this order
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "T4": 65e12,  # fp16; the T4 has no bf16
    "V100": 125e12,  # fp16; no bf16
}


def sync(device: torch.device | str) -> None:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device | str = "cpu") -> float:
    """Seconds one call of ``fn`` takes, the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def compare(ours: Callable[[], object], theirs: Callable[[], object],
            device: torch.device | str = "cpu", repeats: int = 5, warmup: int = 2) -> dict:
    """Median seconds of ``ours`` and ``theirs``, timed alternately; ``speedup`` = theirs / ours.

    ``speedup > 1`` means ours is faster. Warm-up calls (not timed) let caches, allocators, kernel
    autotuners and lazy initialisation settle first.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, "
                         f"warmup={warmup}")
    for _ in range(warmup):
        ours(), theirs()
    ours_t, theirs_t = [], []
    for _ in range(repeats):  # alternate, so drifts in machine load hit both alike
        ours_t.append(timed(ours, device))
        theirs_t.append(timed(theirs, device))
    o, t = statistics.median(ours_t), statistics.median(theirs_t)
    return {"ours_s": o, "transformers_s": t, "speedup": t / o, "repeats": repeats}


def encoder_flops(config, batch: int, seq_len: int, *, training: bool = False) -> float:
    """FLOPs of the encoder stack on ``batch`` x ``seq_len`` tokens (forward, or forward+backward).

    ``seq_len`` is the length the model really runs: the padded length for a padded batch. For a
    padding-free batch, sum :func:`encoder_flops` over the sequences with ``batch=1`` each.
    """
    for name, value in (("batch", batch), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    H, I, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    tokens = batch * seq_len
    per_layer = 2 * tokens * 4 * H * H + 2 * 2 * batch * seq_len * seq_len * H + 2 * tokens * 2 * H * I
    forward = L * per_layer
    return 3.0 * forward if training else float(forward)


def mlm_head_flops(config, predicted_tokens: int, *, training: bool = False) -> float:
    """FLOPs of the MLM head (transform + vocabulary projection) at ``predicted_tokens`` positions:
    every position for the dense head, only the masked ones with ``sparse_prediction``."""
    H, V = config.hidden_size, config.vocab_size
    forward = 2 * predicted_tokens * (H * H + H * V)
    return 3.0 * forward if training else float(forward)


def gpu_peak_flops(device: torch.device | str) -> float | None:
    """The data-sheet bf16 dense peak of a known GPU, or None (unknown GPU, or not a GPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in GPU_PEAK_BF16.items() if key in name), None)


def matmul_peak_flops(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                      n: int = 1024, repeats: int = 5) -> float:
    """An *achievable* peak: FLOP/s of the best of ``repeats`` (n, n) x (n, n) products here.

    On a CPU there is no data-sheet number to divide by (it depends on cores, clock, vector
    units and what else runs), so utilisation is measured against what one large GEMM reaches.
    """
    device = torch.device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    best = min(timed(lambda: a @ b, device) for _ in range(repeats))
    return 2 * n**3 / best
