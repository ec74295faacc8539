"""Small helpers the chapters share: pick a device, fix seeds, show the package's own source."""

from __future__ import annotations

import inspect
import random

import numpy as np
import torch


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; anything else is taken as given (and checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return dev


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def source(obj, *, start: str | None = None, end: str | None = None) -> str:
    """The source text of a class/function of the package; optionally only the lines from the first
    line containing ``start`` up to (and including) the first later line containing ``end``."""
    text = inspect.getsource(obj)
    if start is None:
        return text
    lines = text.splitlines()
    i = next((k for k, line in enumerate(lines) if start in line), None)
    if i is None:
        raise ValueError(f"{start!r} not found in the source of {getattr(obj, '__qualname__', obj)}")
    j = len(lines) - 1 if end is None else next((k for k in range(i, len(lines)) if end in lines[k]), len(lines) - 1)
    return "\n".join(lines[i : j + 1])


def show_source(obj, **kwargs):
    """Display the package's real source in a notebook (never a pasted copy), highlighted as Python."""
    from IPython.display import Code

    return Code(source(obj, **kwargs), language="python")
