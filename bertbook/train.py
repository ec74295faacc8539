"""The training loop of every chapter: AdamW with linear warm-up and decay, AMP, gradient
accumulation, evaluation, a progress bar, atomic checkpoints with bit-exact resume, and
DistributedDataParallel under torchrun. It is also the package's one home of ``set_seed``, the
device choice (``pick_device``), the AMP fallback (``resolve_amp``) and the atomic write
(``atomic_write``); it imports nothing from bertbook, so it can be copied alone.

One optimizer step (``Trainer.train``):

1. zero the gradients (at the *start* of the step, so ``p.grad`` keeps the last step's);
2. for each of ``grad_accum_steps`` micro-batches: forward under autocast, divide the loss by
   ``grad_accum_steps`` and backward. Gradients *add up*, so the step's gradient is the mean over
   its micro-batches: one big batch. Under DDP all but the last run inside ``no_sync()``, so
   gradients are averaged across processes once per step;
3. unscale the gradients (fp16 only) and clip their global norm to ``max_grad_norm``;
4. ``optimizer.step()`` (the GradScaler skips it when fp16 gradients overflowed), then the
   schedule: linear warm-up from 0 to ``lr``, linear decay to 0 at the last step;
5. every ``log_every`` steps: loss, lr, gradient norm and tokens/s into the History and the bar;
   every ``eval_every`` steps: ``evaluate()``, with the RNG forked so that it never changes the
   training run; every ``checkpoint_every`` steps: a checkpoint.

Exact resume needs the weights, AdamW moments, schedule, GradScaler, step, every RNG (Python,
NumPy, torch CPU and CUDA, a collate function's own ``generator``) and the position in the epoch,
with a data order that is a function of (seed, epoch) only, as ``make_loader``'s is.

    init_distributed()                   # a no-op unless launched by torchrun
    loader = make_loader(train_set, 32, seed=0, collate_fn=collate)
    config = TrainConfig(lr=3e-5, epochs=2, warmup_ratio=0.1, checkpoint_dir="ckpt")
    trainer = Trainer(model, config, loader, eval_loader=make_loader(dev_set, 64, shuffle=False))
    trainer.resume("latest")             # only to continue an interrupted run
    history = trainer.train()
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import math
import os
import random
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

try:
    from .checks import validate_inputs  # value checks, on the host: the models do none
except ImportError:  # this file copied alone into another project
    validate_inputs = None

logger = logging.getLogger("bertbook.train")
AMP_MODES = ("auto", "off", "bf16", "fp16")
LATEST = "latest"  # the file in checkpoint_dir naming the newest complete checkpoint


def _is_int(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_number(value, low: float, high: float = math.inf) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and low <= value <= high


@dataclass
class TrainConfig:
    """Hyper-parameters of a run. The batch size is the DataLoader's; everything else is here."""

    lr: float = 5e-5
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights, as in BERT
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8  # the original BERT used 1e-6
    warmup_steps: int = 0  # give warmup_steps or warmup_ratio (of all steps), not both
    warmup_ratio: float = 0.0
    max_steps: int | None = None  # give max_steps or epochs, not both
    epochs: int | None = None
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0  # None: no clipping (the norm is still logged)
    amp: str = "auto"  # see resolve_amp
    eval_every: int | None = None  # steps; None: only once, at the end of training
    log_every: int = 10
    checkpoint_dir: str | os.PathLike | None = None  # also written to when train() returns
    checkpoint_every: int | None = None
    keep_last: int | None = None  # delete older step-N folders beyond this many
    seed: int = 42
    device: str = "auto"  # see pick_device
    disable_progress: bool | None = None  # None: no bar when stderr is not a terminal
    ddp_find_unused_parameters: bool = False  # True when some parameters get no gradient

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field (the Trainer calls this again)."""
        def positive(value) -> bool:
            return _is_number(value, 0) and value > 0

        checks = [("lr", positive(self.lr), "a finite number > 0"),
                  ("eps", positive(self.eps), "a finite number > 0"),
                  ("weight_decay", _is_number(self.weight_decay, 0), "a finite number >= 0"),
                  ("max_grad_norm", self.max_grad_norm is None or positive(self.max_grad_norm),
                   "None or a finite number > 0"),
                  ("warmup_ratio", _is_number(self.warmup_ratio, 0, 1), "a number in [0, 1]"),
                  ("betas", isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                   and all(_is_number(b, 0, 1) and b < 1 for b in self.betas), "a pair in [0, 1)"),
                  ("amp", self.amp in AMP_MODES, f"one of {AMP_MODES}"),
                  ("device", isinstance(self.device, str), "a string: 'auto', 'cpu', 'cuda:1'")]
        for name, low in (("warmup_steps", 0), ("grad_accum_steps", 1), ("log_every", 1),
                          ("seed", 0)):
            checks.append((name, _is_int(getattr(self, name), low), f"an integer >= {low}"))
        for name in ("max_steps", "epochs", "eval_every", "checkpoint_every", "keep_last"):
            value = getattr(self, name)
            checks.append((name, value is None or _is_int(value, 1), "None or an integer >= 1"))
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name} must be {what}, got {getattr(self, name)!r}")
        self.betas = tuple(self.betas)
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError(f"TrainConfig: give exactly one of max_steps or epochs, got "
                             f"max_steps={self.max_steps}, epochs={self.epochs}")
        if self.warmup_steps and self.warmup_ratio:
            raise ValueError(f"TrainConfig: give warmup_steps ({self.warmup_steps}) or "
                             f"warmup_ratio ({self.warmup_ratio}), not both")
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("TrainConfig.checkpoint_every needs checkpoint_dir (where to write)")


@dataclass
class History:
    """What ``Trainer.train`` records, ready to plot: one entry per log step, one per evaluation."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # mean training loss since the last log step
    lr: list[float] = field(default_factory=list)  # the lr the logged step ran with
    grad_norm: list[float] = field(default_factory=list)  # mean gradient norm before clipping
    tokens_per_s: list[float] = field(default_factory=list)  # all processes together
    eval_step: list[int] = field(default_factory=list)
    eval_metrics: dict[str, list[float]] = field(default_factory=dict)  # one value per evaluation

    def add_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self.eval_step.append(step)
        n = len(self.eval_step)
        for name, value in metrics.items():  # a metric first seen now: NaN for the earlier ones
            self.eval_metrics.setdefault(name, [math.nan] * (n - 1)).append(float(value))
        for values in self.eval_metrics.values():  # a metric missing now: NaN here
            values.extend([math.nan] * (n - len(values)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        return cls(**{k: dict(v) if k == "eval_metrics" else list(v) for k, v in data.items()})


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: matrices and embeddings decay; biases and LayerNorm weights (BERT's
    exclusions by name, which are exactly the 1-D parameters) do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def linear_warmup_decay(step: int, num_warmup_steps: int, num_training_steps: int) -> float:
    """The lr multiplier at ``step``: 0 -> 1 over the warm-up, then 1 -> 0 at the last step."""
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps: int, num_training_steps: int):
    """As ``transformers.get_linear_schedule_with_warmup``: with warm-up, step 0 runs at lr 0."""
    fn = functools.partial(linear_warmup_decay, num_warmup_steps=num_warmup_steps,
                           num_training_steps=num_training_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


# ----------------------------------------------------------------------------- helpers


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; anything else as given, checked. Under
    torchrun a plain ``"cuda"`` means this process's own GPU (``LOCAL_RANK``)."""
    device = str(device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA device; "
                         "use 'auto' or 'cpu'")
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(device)


def resolve_amp(amp: str, device: torch.device | str) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether training needs a GradScaler) for ``amp`` on ``device``.

    "auto": bf16 on a GPU that has it, fp16 on an older GPU, off elsewhere. A type the device
    cannot run gives one warning and its other low-precision type: fp16 on a CPU becomes bf16,
    bf16 on a GPU without it fp16. Only fp16 needs the scaler: its small gradients underflow.
    """
    device = torch.device(device)
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES}, got {amp!r}")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None, False
    gpu_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if amp == "auto":
        amp = "bf16" if gpu_bf16 else "fp16"
    elif amp == "fp16" and device.type != "cuda":
        warnings.warn(f"amp='fp16' is a GPU type; using bf16 on the {device.type}", stacklevel=3)
        amp = "bf16"
    elif amp == "bf16" and device.type == "cuda" and not gpu_bf16:
        warnings.warn(f"amp='bf16' but {torch.cuda.get_device_name(device)} has no bf16; using "
                      "fp16 (training adds a GradScaler)", stacklevel=3)
        amp = "fp16"
    return (torch.bfloat16 if amp == "bf16" else torch.float16), amp == "fp16"


def autocast(device: torch.device | str, amp: str = "bf16"):
    """A context running ops in ``amp`` ("bf16", "fp16", "auto", "off") on ``device``, after
    ``resolve_amp``'s fallbacks. fp16 *training* also needs a GradScaler (the Trainer adds one)."""
    dtype, _ = resolve_amp(amp, device)
    return torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None)


def move_to_device(batch, device: torch.device | str):
    """Tensors (also inside dicts, lists, tuples) to ``device``; anything else unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def _fsync(path: Path) -> None:
    if os.name == "posix":  # elsewhere a folder cannot be opened: no durability promise there
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Create the file or folder ``path`` whole or not at all: ``write(tmp)`` creates it under a
    temporary name beside it, its files are flushed to disk, and one ``os.replace`` puts it in
    place, so readers see the old ``path`` or the new one, never half of one. If ``write``
    raises, the temporary is removed and ``path`` stays as it was. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
    old = path.with_name(f".old-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        for file in tmp.rglob("*") if tmp.is_dir() else [tmp]:
            if file.is_file():
                _fsync(file)
        if path.is_dir():  # trap: a folder cannot be renamed onto a non-empty one
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
    _fsync(path.parent)  # the rename lasts once the folder holding it is on disk
    return path


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """This process's place in the job; (0, 1, 0) when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)
    return DistInfo()


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group torchrun describes in its environment variables; without them a
    no-op, so one script runs both ways. Backend: nccl on GPUs, else gloo."""
    if (dist.is_available() and dist.is_initialized()) or "WORLD_SIZE" not in os.environ:
        return dist_info()
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        if not os.environ.get(name, "").isdigit():
            raise ValueError(f"init_distributed: environment variable {name}="
                             f"{os.environ.get(name)!r}; launch with torchrun, which sets RANK, "
                             "WORLD_SIZE and LOCAL_RANK")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))  # before init: one GPU per process
    dist.init_process_group(backend=backend)
    return dist_info()


def make_loader(dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                collate_fn: Callable | None = None, drop_last: bool = False,
                distributed: bool | None = None, **loader_kwargs) -> DataLoader:
    """A DataLoader whose order is a function of (seed, epoch) only, as exact resume needs: a
    ``DistributedSampler`` (one replica needs no process group). Under DDP (``distributed=None``:
    when torch.distributed is initialised) each process reads its own 1/world_size of every
    epoch, so ``batch_size`` is per process. ``loader_kwargs``: num_workers, pin_memory..."""
    if not _is_int(batch_size, 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    info = dist_info()
    if distributed and not (dist.is_available() and dist.is_initialized()):
        raise ValueError("make_loader(distributed=True) needs torch.distributed initialised: "
                         "call init_distributed() first")
    replicas, rank = (info.world_size, info.rank) if distributed is not False else (1, 0)
    per_process = len(dataset) // replicas if drop_last else -(-len(dataset) // replicas)
    if per_process == 0 or (drop_last and per_process < batch_size):
        raise ValueError(f"the dataset has {len(dataset)} examples ({per_process} per process), "
                         f"fewer than batch_size={batch_size} with drop_last={drop_last}: "
                         "that is zero batches")
    sampler = DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle,
                                 seed=seed, drop_last=drop_last)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                      drop_last=drop_last, **loader_kwargs)


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every RNG that training draws from, in a form ``torch.load(weights_only=True)`` accepts."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": [torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    random.setstate(state["python"])
    keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def resolve_checkpoint(path: str | os.PathLike, checkpoint_dir=None) -> Path:
    """``"latest"`` (in ``checkpoint_dir``), a checkpoint folder, or a folder with a ``latest``."""
    if str(path) == LATEST:
        if checkpoint_dir is None:
            raise ValueError("resume('latest') needs TrainConfig.checkpoint_dir, or pass a folder")
        path = checkpoint_dir
    path = Path(path)
    if (path / LATEST).is_file():
        path = path / (path / LATEST).read_text(encoding="utf-8").strip()
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (no trainer_state.json)")
    return path


def _model_config(model: torch.nn.Module) -> dict[str, Any] | None:
    to_dict = getattr(getattr(model, "config", None), "to_dict", None)
    return json.loads(json.dumps(to_dict(), default=str)) if callable(to_dict) else None


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Train ``model`` (any module whose output has a ``.loss``) on ``train_loader``.

    Batches are dicts (passed as keyword arguments, only the keys ``forward`` accepts, plus
    ``forward_kwargs`` such as ``{"sparse_prediction": True}``) or tuples (passed in order).
    ``eval_loader`` gives the mean loss (over examples) and ``metric_fn(model, batch, outputs)``
    metrics per batch: a number (averaged like the loss) or a ``(total, count)`` pair (summed,
    then divided). ``eval_fn(model) -> dict`` runs any other evaluation (on process 0).
    """

    def __init__(self, model: torch.nn.Module, config: TrainConfig, train_loader, *,
                 eval_loader=None, eval_fn: Callable | None = None,
                 metric_fn: Callable | None = None, forward_kwargs: Mapping | None = None):
        if not isinstance(model, torch.nn.Module) or not isinstance(config, TrainConfig):
            raise TypeError(f"Trainer needs a torch.nn.Module and a TrainConfig, got "
                            f"{type(model).__name__} and {type(config).__name__}")
        config.validate()
        self.config, self.train_loader, self.eval_loader = config, train_loader, eval_loader
        self.eval_fn, self.metric_fn = eval_fn, metric_fn
        self.forward_kwargs = dict(forward_kwargs or {})
        try:
            self.batches_per_epoch = len(train_loader)
        except TypeError:  # an iterable without a length: max_steps decides
            self.batches_per_epoch = None
        if self.batches_per_epoch == 0:
            raise ValueError(f"train_loader yields 0 batches: the dataset has "
                             f"{len(getattr(train_loader, 'dataset', []))} examples, batch_size="
                             f"{getattr(train_loader, 'batch_size', '?')}, drop_last="
                             f"{getattr(train_loader, 'drop_last', '?')}")
        self.total_steps = config.max_steps or config.epochs * (
            self.batches_per_epoch or 0) // config.grad_accum_steps
        if self.total_steps < 1:
            raise ValueError(f"epochs={config.epochs} x {self.batches_per_epoch} batches / "
                             f"grad_accum_steps={config.grad_accum_steps} gives 0 optimizer steps "
                             "(a loader without a length needs max_steps)")
        self.warmup_steps = config.warmup_steps or round(config.warmup_ratio * self.total_steps)
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} is more than the "
                             f"{self.total_steps} training steps")
        self.dist, self.device = dist_info(), pick_device(config.device)
        self.amp_dtype, use_scaler = resolve_amp(config.amp, self.device)
        set_seed(config.seed)
        self.model = self.train_model = model.to(self.device)  # train_model: DDP's wrapper
        if self.dist.world_size > 1:
            self.train_model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=config.ddp_find_unused_parameters)
        params = inspect.signature(model.forward).parameters.values()
        self._input_names = (None if any(p.kind == p.VAR_KEYWORD for p in params)
                             else {p.name for p in params})
        self.optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr,
                                           betas=config.betas, eps=config.eps,
                                           fused=self.device.type == "cuda" or None)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, self.warmup_steps,
                                                         self.total_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0  # batch_in_epoch: micro-batches
        self.history = History()
        self._batches = None  # the micro-batch stream, kept from one train() call to the next
        self._pending_rng = None  # a resume's RNG states, restored once the data position is set
        self._last_saved_step = -1

    def _forward(self, model, batch):
        with torch.autocast(self.device.type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype is not None):
            if isinstance(batch, Mapping):
                keep = self._input_names or batch
                return model(**{k: v for k, v in batch.items() if k in keep}, **self.forward_kwargs)
            return model(*(batch if isinstance(batch, (list, tuple)) else [batch]),
                         **self.forward_kwargs)

    def _to_device(self, batch):
        """Check the batch's values while it is still on the host (no device sync), then move it."""
        if validate_inputs is not None and isinstance(batch, Mapping) and hasattr(self.model,
                                                                                  "config"):
            validate_inputs(self.model, batch)
        return move_to_device(batch, self.device)

    def _collate_generator(self) -> torch.Generator | None:
        generator = getattr(getattr(self.train_loader, "collate_fn", None), "generator", None)
        return generator if isinstance(generator, torch.Generator) else None

    def _micro_batches(self):
        """Micro-batches from where the run stands, epoch after epoch, counting the position."""
        while True:
            for obj in (getattr(self.train_loader, name, None) for name in
                        ("sampler", "batch_sampler")):
                if hasattr(obj, "set_epoch"):
                    obj.set_epoch(self.epoch)  # the epoch's order = f(seed, epoch)
            iterator, start = iter(self.train_loader), self.batch_in_epoch
            if start:  # after a resume: load and drop the batches already seen...
                collate = self._collate_generator()
                collate_state = None if collate is None else collate.get_state()
                for _ in zip(range(start), iterator):
                    pass
                if collate is not None:  # ...undoing their draws from the collate's generator
                    collate.set_state(collate_state)
            if self._pending_rng is not None:
                # Trap: iter() draws a seed from torch's RNG and the dropped batches may draw from
                # the global RNGs; the saved states come after those draws: restore only now.
                set_rng_state(self._pending_rng, self.device)
                self._pending_rng = None
            for batch in iterator:
                self.batch_in_epoch += 1
                yield batch
            if self.batch_in_epoch == start == 0:
                raise ValueError("train_loader yielded no batches in a whole epoch")
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0

    def train(self, steps: int | None = None) -> History:
        """Train to the end of the run, or for at most ``steps`` more optimizer steps (the lr
        schedule always spans the whole run). Returns the History (also ``self.history``)."""
        if steps is not None and not _is_int(steps, 1):
            raise ValueError(f"steps must be None or a positive integer, got {steps!r}")
        cfg = self.config
        target = self.total_steps if steps is None else min(self.total_steps, self.step + steps)
        bar = self._progress_bar()
        if self._batches is None:
            self._batches = self._micro_batches()
        window = dict(loss=0.0, grad_norm=0.0, steps=0, tokens=0, start=time.perf_counter())
        self.train_model.train()
        try:
            while self.step < target:
                lr = self.optimizer.param_groups[0]["lr"]
                loss, tokens = self._forward_backward()
                window["grad_norm"] += self._optimizer_step()  # tensors: no sync until logged
                window["loss"] += loss
                window["steps"], window["tokens"] = window["steps"] + 1, window["tokens"] + tokens
                self.step += 1
                if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                    self._log(window, lr, bar)
                    window = dict(loss=0.0, grad_norm=0.0, steps=0, tokens=0,
                                  start=time.perf_counter())
                if bar is not None:
                    bar.update(1)
                paused = time.perf_counter()
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self.history.add_eval(self.step, self.evaluate())
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
                window["start"] += time.perf_counter() - paused  # not training time
        finally:
            if bar is not None:
                bar.close()
        evaluated = self.history.eval_step[-1:] == [self.step]
        has_eval = self.eval_loader is not None or self.eval_fn is not None
        if self.step == self.total_steps and has_eval and not evaluated:
            self.history.add_eval(self.step, self.evaluate())
        if cfg.checkpoint_dir is not None and self._last_saved_step != self.step:
            self.save_checkpoint()
        return self.history

    def _progress_bar(self):
        hide = self.config.disable_progress
        if not self.dist.is_main or (not sys.stderr.isatty() if hide is None else hide):
            return None
        try:  # imported here: importing this module stays free of tqdm's notebook notices
            from tqdm.auto import tqdm
        except ImportError:  # the bar is a nicety: train without it
            return None
        return tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step")

    def _forward_backward(self) -> tuple[torch.Tensor, int]:
        """One step's micro-batches forward and backward: (the step's mean loss, real tokens)."""
        accum, model = self.config.grad_accum_steps, self.train_model
        self.optimizer.zero_grad(set_to_none=True)
        step_loss, tokens = torch.zeros((), device=self.device), 0
        for i in range(accum):
            batch = next(self._batches)
            if isinstance(batch, Mapping) and "attention_mask" in batch:
                tokens += int(batch["attention_mask"].sum())  # still on the host: no sync
            batch = self._to_device(batch)
            in_sync = self.dist.world_size == 1 or i == accum - 1  # DDP averages on the last
            with contextlib.nullcontext() if in_sync else model.no_sync():
                loss = getattr(self._forward(model, batch), "loss", None)
                if loss is None:
                    keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
                    raise ValueError("the model returned no loss: does the batch carry labels? "
                                     f"batch keys: {keys}")
                loss = loss.float() / accum  # the mean over the step's micro-batches
                self.scaler.scale(loss).backward()
            step_loss += loss.detach()
        return step_loss, tokens

    def _optimizer_step(self) -> torch.Tensor:
        """Unscale, clip, step; returns the gradient norm before clipping (0-d, not synced)."""
        self.scaler.unscale_(self.optimizer)  # fp16: clip the true gradients, not the scaled ones
        max_norm = self.config.max_grad_norm or math.inf  # inf: measure only
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)  # = optimizer.step(), unless fp16 gradients hold inf/NaN
        self.scaler.update()
        if self.scaler.get_scale() >= scale:  # a skipped step does not advance the schedule (HF)
            self.scheduler.step()
        return grad_norm.detach().float()

    def _log(self, window, lr: float, bar) -> None:
        stats = torch.stack([torch.as_tensor(window[k], dtype=torch.float64, device=self.device)
                             for k in ("loss", "grad_norm", "tokens")])
        if self.dist.world_size > 1:
            dist.all_reduce(stats)  # sums over processes
        loss_sum, grad_norm_sum, tokens = stats.tolist()
        n = window["steps"] * self.dist.world_size
        loss = loss_sum / n
        if not math.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss} at step {self.step}: lower the lr, "
                                     "check the labels, or use bf16/fp32")
        h = self.history
        h.step.append(self.step)
        h.loss.append(loss)
        h.lr.append(lr)
        h.grad_norm.append(grad_norm_sum / n)
        h.tokens_per_s.append(tokens / max(time.perf_counter() - window["start"], 1e-9))
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{h.tokens_per_s[-1]:,.0f}")
        if self.dist.is_main:
            logger.info("step %d  loss %.4f  lr %.3e  %.0f tok/s", self.step, loss, lr,
                        h.tokens_per_s[-1])

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss and metric_fn's metrics over eval_loader, plus eval_fn's dict. The model is
        put back in the mode it was in; the torch RNG is forked, so training continues unchanged."""
        was_training, metrics = self.model.training, {}
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                if self.eval_loader is not None:
                    metrics.update(self._evaluate_loader())
                if self.eval_fn is not None and self.dist.is_main:
                    metrics.update({k: float(v) for k, v in self.eval_fn(self.model).items()})
        finally:
            self.model.train(was_training)
        return metrics

    def _evaluate_loader(self) -> dict[str, float]:
        sharded = isinstance(getattr(self.eval_loader, "sampler", None), DistributedSampler)
        if self.dist.world_size > 1 and not sharded and not self.dist.is_main:
            return {}  # an unsharded eval set is evaluated by process 0 alone
        sums: dict[str, list[float]] = {}  # name -> [total, count]
        for batch in self.eval_loader:
            batch = self._to_device(batch)
            outputs = self._forward(self.model, batch)
            values = batch.values() if isinstance(batch, Mapping) else batch
            n = next((len(v) for v in values if isinstance(v, torch.Tensor) and v.dim()), 1)
            loss = getattr(outputs, "loss", None)
            found = {} if loss is None else {"loss": (loss.float() * n, n)}
            for name, value in (self.metric_fn(self.model, batch, outputs) if self.metric_fn
                                else {}).items():
                found[name] = value if isinstance(value, (tuple, list)) else (value * n, n)
            for name, (total, count) in found.items():
                old = sums.get(name, [0.0, 0.0])
                sums[name] = [old[0] + float(total), old[1] + float(count)]
        names = sorted(sums)
        if sharded and self.dist.world_size > 1:  # each process evaluated its share: add up
            stats = torch.tensor([sums[k] for k in names], dtype=torch.float64, device=self.device)
            dist.all_reduce(stats)
            sums = dict(zip(names, stats.tolist()))
        return {k: sums[k][0] / sums[k][1] if sums[k][1] else math.nan for k in names}

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint_dir/step-N/`` atomically, then point ``latest`` at it (process 0)."""
        if self.config.checkpoint_dir is None:
            raise ValueError("save_checkpoint needs TrainConfig.checkpoint_dir")
        self._last_saved_step, root, path = self.step, Path(self.config.checkpoint_dir), None
        if self.dist.is_main:
            collate = self._collate_generator()
            state = {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                     "scheduler": self.scheduler.state_dict(), "rng": rng_state(self.device),
                     "collate_rng": None if collate is None else collate.get_state()}
            meta = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                    "batches_per_epoch": self.batches_per_epoch, "world_size": self.dist.world_size,
                    "train_config": asdict(self.config), "history": self.history.to_dict()}
            jsons = {"trainer_state.json": meta, "config.json": _model_config(self.model)}

            def write(folder: Path) -> None:
                folder.mkdir()
                torch.save(self.model.state_dict(), folder / "model.pt")
                torch.save(state, folder / "training_state.pt")
                for name, obj in jsons.items():
                    if obj is not None:
                        (folder / name).write_text(json.dumps(obj, indent=1, default=str))

            path = atomic_write(root / f"step-{self.step}", write)
            atomic_write(root / LATEST, lambda tmp: tmp.write_text(path.name + "\n"))
            if self.config.keep_last:
                older = sorted((int(p.name[5:]), p) for p in root.glob("step-*")
                               if p.name[5:].isdigit() and p != path)
                for _, p in older[: max(0, len(older) + 1 - self.config.keep_last)]:
                    shutil.rmtree(p, ignore_errors=True)
        if self.dist.world_size > 1:
            dist.barrier()  # nobody runs ahead while process 0 writes
        return path

    def resume(self, path: str | os.PathLike = LATEST) -> int:
        """Load a checkpoint (``"latest"`` in checkpoint_dir, or a folder); returns its step. The
        model's config must equal the checkpoint's, and the loader must have as many batches per
        epoch, else the saved position would point at other data: both raise ValueError."""
        ckpt = resolve_checkpoint(path, self.config.checkpoint_dir)
        meta = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        saved, ours = None, _model_config(self.model)
        if (ckpt / "config.json").is_file():
            saved = json.loads((ckpt / "config.json").read_text(encoding="utf-8"))
        if saved is not None and ours is not None and saved != ours:
            diff = [f"{k} (checkpoint {saved.get(k)!r}, model {ours.get(k)!r})"
                    for k in sorted(set(saved) | set(ours)) if saved.get(k) != ours.get(k)]
            raise ValueError(f"checkpoint {ckpt} was written for a different model config; "
                             f"differing fields: {', '.join(diff)}")
        if meta["batches_per_epoch"] != self.batches_per_epoch:
            raise ValueError(f"checkpoint {ckpt} was written with {meta['batches_per_epoch']} "
                             f"batches per epoch, this train_loader has {self.batches_per_epoch}: "
                             "the saved data position would not match")
        if isinstance(getattr(self.train_loader, "sampler", None), RandomSampler):
            warnings.warn("train_loader shuffles with a RandomSampler, whose order is not a "
                          "function of the epoch: the resumed epoch will not continue the saved "
                          "order; build the loader with make_loader()", stacklevel=2)
        load = functools.partial(torch.load, map_location="cpu", weights_only=True)
        self.model.load_state_dict(load(ckpt / "model.pt"))
        state = load(ckpt / "training_state.pt")
        self.optimizer.load_state_dict(state["optimizer"])  # moves the moments to the device
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if state["collate_rng"] is not None and self._collate_generator() is not None:
            self._collate_generator().set_state(state["collate_rng"])
        self._pending_rng = state["rng"]  # restored by _micro_batches
        self.step, self.epoch, self.batch_in_epoch = (meta[k] for k in
                                                      ("step", "epoch", "batch_in_epoch"))
        self.history = History.from_dict(meta["history"])
        self._batches, self._last_saved_step = None, self.step
        return self.step
