"""Small helpers the chapters share: show the package's own source, record and read back runs.

``set_seed`` and ``pick_device`` live in ``bertbook.train`` (the package's one copy of each,
together with the atomic write that ``record_run`` uses) and are imported here for the chapters.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import platform
from pathlib import Path

import torch

from .train import atomic_write, pick_device, set_seed  # noqa: F401 - re-exported for chapters


def source(obj, *, start: str | None = None, end: str | None = None) -> str:
    """The source text of a class/function of the package; optionally only the lines from the
    first line containing ``start`` up to (and including) the first later line containing
    ``end``."""
    text = inspect.getsource(obj)
    lines = text.splitlines()
    i = 0 if start is None else next((k for k, line in enumerate(lines) if start in line), None)
    j = len(lines) - 1 if end is None else next(
        (k for k in range(i or 0, len(lines)) if end in lines[k]), None)
    if i is None or j is None:
        name = getattr(obj, "__qualname__", obj)
        raise ValueError(f"{start if i is None else end!r} not found in the source of {name}")
    return "\n".join(lines[i : j + 1])


def show_source(obj, **kwargs):
    """Display the package's real source in a notebook (never a pasted copy), as Python."""
    from IPython.display import Code

    return Code(source(obj, **kwargs), language="python")


# --------------------------------------------------------------------------------------------
# Recorded runs: a chapter's CI defaults are small; the full setting is run once (on a GPU when
# there is one) and its measured numbers are stored as JSON next to the chapters, so the page can
# show them, read back by an executed cell, next to the numbers of the small run it just made.

RESULTS_DIR = "notebooks/results"


def describe_hardware(device: torch.device | str = "cpu") -> dict:
    """Where a run happened, in words a reader can compare with their own machine."""
    device = torch.device(device)
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
            "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_model() -> str:
    """The CPU's model name as Linux reports it (``/proc/cpuinfo``); "" elsewhere."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name") and ":" in line), "")


def _results_path(chapter: str, label: str, results_dir: str | None) -> Path:
    if not chapter or not label or "/" in chapter or "/" in label:
        raise ValueError(f"chapter and label must be plain names, got {chapter!r}, {label!r}")
    base = Path(results_dir) if results_dir is not None else (
        Path(__file__).resolve().parents[1] / RESULTS_DIR)
    return base / f"{chapter}--{label}.json"


def record_run(chapter: str, label: str, *, params: dict, metrics: dict, seconds: float,
               device: torch.device | str = "cpu", command: str = "",
               results_dir: str | None = None) -> Path:
    """Store the measured ``metrics`` of one run of ``chapter`` (with ``params``) as JSON.

    ``label`` names the setting (``"full"``); ``command`` is the line that reproduces it. The
    file is written atomically, so a crash never leaves half a record.
    """
    record = {"chapter": chapter, "label": label, "command": command, "params": params,
              "metrics": metrics, "seconds": round(float(seconds), 1),
              "hardware": describe_hardware(device), "date": datetime.date.today().isoformat()}
    text = json.dumps(record, indent=2, default=float) + "\n"
    return atomic_write(_results_path(chapter, label, results_dir),
                        lambda tmp: tmp.write_text(text, encoding="utf-8"))


def recorded_run(chapter: str, label: str = "full", results_dir: str | None = None) -> dict | None:
    """The record stored by :func:`record_run`, or ``None`` when that setting was never run."""
    path = _results_path(chapter, label, results_dir)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def fit_width(fig, width: float = 7.0):
    """Scale a matplotlib figure down to at most ``width`` inches wide (the page's width),
    keeping its aspect ratio; a narrower figure is left alone. Fonts keep their point size, so
    they grow relative to the figure: use it on figures whose labels have room. Returns fig."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width must be a positive number of inches, got {width!r}")
    if not hasattr(fig, "get_size_inches"):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    w, h = fig.get_size_inches()
    if w > width:
        fig.set_size_inches(width, h * width / w)
    return fig
