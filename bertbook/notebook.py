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


# --------------------------------------------------------------------------------------------
# Recorded runs: a chapter's CI defaults are small; the full setting is run once (on a GPU when
# there is one) and its measured numbers are stored as JSON next to the chapters, so the page can
# show them, read back by an executed cell, next to the numbers of the small run it just made.

RESULTS_DIR = "notebooks/results"


def describe_hardware(device: torch.device | str = "cpu") -> dict:
    """Where a run happened, in words a reader can compare with their own machine."""
    import os
    import platform

    device = torch.device(device)
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _results_path(chapter: str, label: str, results_dir: str | None) -> "Path":
    from pathlib import Path

    if not chapter or not label or "/" in chapter or "/" in label:
        raise ValueError(f"chapter and label must be plain names, got {chapter!r}, {label!r}")
    base = Path(results_dir) if results_dir is not None else Path(__file__).resolve().parents[1] / RESULTS_DIR
    return base / f"{chapter}--{label}.json"


def record_run(chapter: str, label: str, *, params: dict, metrics: dict, seconds: float,
               device: torch.device | str = "cpu", command: str = "", results_dir: str | None = None):
    """Store the measured ``metrics`` of one run of ``chapter`` (with ``params``) as JSON.

    ``label`` names the setting (``"full"``); ``command`` is the line that reproduces it. The file is
    written atomically (temporary file, then rename), so a crash never leaves half a record.
    """
    import datetime
    import json
    import os

    path = _results_path(chapter, label, results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"chapter": chapter, "label": label, "command": command, "params": params,
              "metrics": metrics, "seconds": round(float(seconds), 1), "hardware": describe_hardware(device),
              "date": datetime.date.today().isoformat()}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def recorded_run(chapter: str, label: str = "full", results_dir: str | None = None) -> dict | None:
    """The record stored by :func:`record_run`, or ``None`` when that setting was never run here."""
    import json

    path = _results_path(chapter, label, results_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
