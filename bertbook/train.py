"""One small training loop for every chapter: AdamW with warm-up, AMP, gradient accumulation,
evaluation, atomic checkpoints with exact resume, and DistributedDataParallel when launched by torchrun.

What one optimizer step does, in order (``Trainer.train``):

1. zero the gradients (at the *start* of the step, so after training ``p.grad`` still holds the
   last step's gradients for a reader to look at);
2. for each of the ``grad_accum_steps`` micro-batches:
   a. count its tokens (``attention_mask.sum()``) for the throughput, move it to the device;
   b. forward under autocast (bf16, or fp16 with a GradScaler, when AMP is on) -> ``outputs.loss``;
   c. divide the loss by ``grad_accum_steps``: gradients *add up* over micro-batches, so this
      makes them the mean over the step's micro-batches (= one big batch when the loss is a mean
      over examples and the micro-batches are equally sized);
   d. backward. Under DDP every micro-batch but the last runs inside ``no_sync()``: gradients are
      averaged across processes once per step, not once per micro-batch;
3. unscale the gradients (fp16 only) and clip their global L2 norm to ``max_grad_norm``;
4. ``optimizer.step()`` (which the GradScaler skips when fp16 gradients overflowed), then
   ``scheduler.step()``: linear warm-up from 0 to ``lr``, then linear decay to 0 at the last step;
5. ``step += 1``; every ``log_every`` steps the loss (averaged over steps and processes), the lr,
   the gradient norm and tokens/s go into the ``History`` and the progress bar;
6. every ``eval_every`` steps: ``evaluate()`` in eval mode under ``no_grad``, with the RNG forked so
   that evaluating never changes the training run; then back to train mode;
7. every ``checkpoint_every`` steps: ``save_checkpoint()`` (process 0 only), written atomically.

Exact resume needs the whole state: weights, AdamW moments, scheduler, GradScaler, step, the
RNGs (Python, NumPy, torch CPU and CUDA, and a collate function's own ``generator``), and where in
the epoch we were. The data order must be a pure function of (seed, epoch): ``make_loader`` builds
such a loader, so a resumed run skips the batches already seen and continues bit for bit.

Use (one process, or several under ``torchrun --nproc_per_node=N script.py``)::

    init_distributed()                       # no-op unless launched by torchrun
    loader = make_loader(train_set, batch_size=32, seed=0, collate_fn=DataCollatorWithPadding(tok))
    trainer = Trainer(model, TrainConfig(lr=3e-5, epochs=2, warmup_ratio=0.1, checkpoint_dir="ckpt"),
                      loader, eval_loader=make_loader(dev_set, 64, shuffle=False, collate_fn=...))
    history = trainer.train()                # or trainer.resume("latest") first, after a crash

Only torch, NumPy and the standard library are needed (tqdm for the progress bar, when installed).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
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
    from tqdm.auto import tqdm
except ImportError:  # the bar is a nicety: train without it
    tqdm = None

logger = logging.getLogger("bertbook.train")

AMP_MODES = ("auto", "off", "bf16", "fp16")
LATEST = "latest"  # the pointer file in checkpoint_dir naming the newest complete checkpoint


# ----------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Hyper-parameters of a run. The batch size is the DataLoader's; everything else is here."""

    lr: float = 5e-5
    weight_decay: float = 0.01  # not applied to biases and LayerNorm weights, as in BERT
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8  # the original BERT used 1e-6
    warmup_steps: int = 0  # give warmup_steps or warmup_ratio (a fraction of all steps), not both
    warmup_ratio: float = 0.0
    max_steps: int | None = None  # give max_steps or epochs, not both
    epochs: int | None = None
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0  # None: no clipping (the norm is still logged)
    amp: str = "auto"  # "auto": bf16 on CUDA if supported, else fp16; off on CPU
    eval_every: int | None = None  # steps; None: only once, at the end of training
    log_every: int = 10
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int | None = None  # steps; a checkpoint is also written when train() returns
    keep_last: int | None = None  # delete older step-N folders beyond this many; None keeps all
    seed: int = 42
    device: str = "auto"  # "auto": CUDA when present (cuda:LOCAL_RANK under torchrun), else CPU
    disable_progress: bool | None = None  # None: no bar when stderr is not a terminal
    ddp_find_unused_parameters: bool = False  # True when some parameters get no gradient (e.g. NSP head unused)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def number(name, value, low, low_ok=False, high=None, high_ok=False):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"TrainConfig.{name} must be a finite number, got {value!r}")
            too_low = value < low or (value == low and not low_ok)
            too_high = high is not None and (value > high or (value == high and not high_ok))
            if too_low or too_high:
                lo, hi = "[" if low_ok else "(", ("]" if high_ok else ")") if high is not None else ")"
                upper = high if high is not None else "inf"
                raise ValueError(f"TrainConfig.{name} must be in {lo}{low}, {upper}{hi}, got {value!r}")

        def integer(name, value, low, optional=False):
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                kind = "None or an integer" if optional else "an integer"
                raise ValueError(f"TrainConfig.{name} must be {kind} >= {low}, got {value!r}")

        number("lr", self.lr, 0.0)
        number("weight_decay", self.weight_decay, 0.0, low_ok=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"TrainConfig.betas must be a pair (beta1, beta2), got {self.betas!r}")
        self.betas = tuple(self.betas)
        for i, beta in enumerate(self.betas):
            number(f"betas[{i}]", beta, 0.0, low_ok=True, high=1.0)
        number("eps", self.eps, 0.0)
        integer("warmup_steps", self.warmup_steps, 0)
        number("warmup_ratio", self.warmup_ratio, 0.0, low_ok=True, high=1.0, high_ok=True)
        if self.warmup_steps and self.warmup_ratio:
            raise ValueError(f"TrainConfig: give warmup_steps ({self.warmup_steps}) or warmup_ratio "
                             f"({self.warmup_ratio}), not both")
        integer("max_steps", self.max_steps, 1, optional=True)
        integer("epochs", self.epochs, 1, optional=True)
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError(f"TrainConfig: give exactly one of max_steps or epochs, got max_steps={self.max_steps}, "
                             f"epochs={self.epochs}")
        integer("grad_accum_steps", self.grad_accum_steps, 1)
        if self.max_grad_norm is not None:
            number("max_grad_norm", self.max_grad_norm, 0.0)
        if self.amp not in AMP_MODES:
            raise ValueError(f"TrainConfig.amp must be one of {AMP_MODES}, got {self.amp!r}")
        integer("eval_every", self.eval_every, 1, optional=True)
        integer("log_every", self.log_every, 1)
        integer("checkpoint_every", self.checkpoint_every, 1, optional=True)
        integer("keep_last", self.keep_last, 1, optional=True)
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("TrainConfig.checkpoint_every needs checkpoint_dir (where to write the checkpoints)")
        integer("seed", self.seed, 0)
        if not isinstance(self.device, str):
            raise ValueError(f"TrainConfig.device must be a string ('auto', 'cpu', 'cuda', 'cuda:1'), got {self.device!r}")


@dataclass
class History:
    """What ``Trainer.train`` records, ready to plot: one entry per log step, one per evaluation."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # mean training loss since the previous log step
    lr: list[float] = field(default_factory=list)  # the lr used by the logged step
    grad_norm: list[float] = field(default_factory=list)  # mean pre-clipping gradient norm
    tokens_per_s: list[float] = field(default_factory=list)  # all processes together
    eval_step: list[int] = field(default_factory=list)
    eval_metrics: dict[str, list[float]] = field(default_factory=dict)  # name -> one value per evaluation

    def add_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self.eval_step.append(step)
        for name, value in metrics.items():
            # A metric first seen now gets NaN for the earlier evaluations, so every list lines up with eval_step.
            self.eval_metrics.setdefault(name, [math.nan] * (len(self.eval_step) - 1)).append(float(value))
        for values in self.eval_metrics.values():
            if len(values) < len(self.eval_step):
                values.append(math.nan)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "History":
        return cls(**{k: (dict(v) if k == "eval_metrics" else list(v)) for k, v in data.items()})


# ----------------------------------------------------------------------------- optimizer and schedule


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: weight matrices and embeddings decay; biases and LayerNorm weights do not.

    BERT excludes parameters by name ("bias", "LayerNorm"); those are exactly the 1-D ones, and the
    1-D rule also covers the pre-LN layout's ``ln.weight`` and the MLM output ``cls.predictions.bias``.
    ``named_parameters`` lists a tied parameter (decoder = word embeddings) once.
    """
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def linear_warmup_decay(step: int, num_warmup_steps: int, num_training_steps: int) -> float:
    """The lr multiplier at ``step``: 0 -> 1 over the warm-up, then 1 -> 0 at ``num_training_steps``."""
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps: int, num_training_steps: int):
    """Same schedule as ``transformers.get_linear_schedule_with_warmup``. With warm-up, the first
    step runs at lr 0 (multiplier 0/warmup), exactly as there."""
    fn = functools.partial(linear_warmup_decay, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


# ----------------------------------------------------------------------------- distributed helpers


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
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in RANK / WORLD_SIZE / LOCAL_RANK (and
    MASTER_ADDR / MASTER_PORT). Without those variables this is a no-op, so one script runs both
    ways. Backend: nccl on CUDA, gloo on CPU."""
    if dist.is_available() and dist.is_initialized():
        return dist_info()
    if "WORLD_SIZE" not in os.environ:
        return DistInfo()
    env = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value is None or not value.isdigit():
            raise ValueError(f"init_distributed: environment variable {name}={value!r}; launch with torchrun, "
                             "which sets RANK, WORLD_SIZE and LOCAL_RANK")
        env[name] = int(value)
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE is set but this torch build has no torch.distributed")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(env["LOCAL_RANK"])  # before init: one GPU per process
    dist.init_process_group(backend=backend)
    return DistInfo(env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"])


def make_loader(dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0, collate_fn: Callable | None = None,
                drop_last: bool = False, distributed: bool | None = None, num_workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader whose order is a pure function of (seed, epoch): what exact resume needs.

    One sampler serves both cases: ``DistributedSampler`` shuffles with ``seed + epoch`` and, with
    ``num_replicas=1``, needs no process group. Under DDP (``distributed=None`` means "if
    torch.distributed is initialised") each process reads its own 1/world_size of every epoch;
    ``batch_size`` is per process. The Trainer calls ``set_epoch`` at each epoch.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    try:
        n = len(dataset)
    except TypeError as err:
        raise TypeError(f"make_loader needs a dataset with a length, got {type(dataset).__name__}") from err
    info = dist_info()
    if distributed is None:
        distributed = info.world_size > 1
    if distributed and not (dist.is_available() and dist.is_initialized()):
        raise ValueError("make_loader(distributed=True) needs torch.distributed initialised: call init_distributed() first")
    replicas, rank = (info.world_size, info.rank) if distributed else (1, 0)
    if n < replicas:
        raise ValueError(f"the dataset has {n} examples, fewer than the {replicas} processes that must share it")
    per_process = n // replicas if drop_last else -(-n // replicas)
    if per_process == 0 or (drop_last and per_process < batch_size):
        raise ValueError(
            f"the dataset has {n} examples ({per_process} per process over {replicas}), fewer than batch_size="
            f"{batch_size} with drop_last=True: that is zero batches; lower batch_size or set drop_last=False"
        )
    sampler = DistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn, drop_last=drop_last,
                      num_workers=num_workers, pin_memory=pin_memory)


class _SkipBatches(torch.utils.data.Sampler):
    """A batch sampler that drops the first ``skip`` batches of another: indices only, no data is loaded."""

    def __init__(self, batch_sampler, skip: int):
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.batch_sampler) - self.skip)


def _skip_first_batches(loader: DataLoader, skip: int) -> DataLoader:
    kwargs = dict(batch_sampler=_SkipBatches(loader.batch_sampler, skip), collate_fn=loader.collate_fn,
                  num_workers=loader.num_workers, pin_memory=loader.pin_memory, timeout=loader.timeout,
                  worker_init_fn=loader.worker_init_fn, generator=loader.generator)
    if loader.num_workers > 0:
        kwargs.update(prefetch_factor=loader.prefetch_factor, multiprocessing_context=loader.multiprocessing_context)
    return DataLoader(loader.dataset, **kwargs)


# ----------------------------------------------------------------------------- small helpers


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def resolve_device(device: str = "auto", local_rank: int = 0) -> torch.device:
    if device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank)  # under torchrun: this process's own GPU
    return dev


def resolve_amp(amp: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, use a GradScaler). fp16 needs the scaler: its gradients underflow."""
    if amp == "off":
        return None, False
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if amp == "auto":
            return (torch.bfloat16, False) if bf16_ok else (torch.float16, True)
        if amp == "bf16" and not bf16_ok:
            warnings.warn(f"amp='bf16' but {torch.cuda.get_device_name(device)} has no bf16; training in fp16 "
                          "with a GradScaler instead", stacklevel=3)
            return torch.float16, True
        return (torch.bfloat16, False) if amp == "bf16" else (torch.float16, True)
    if amp == "fp16":
        warnings.warn(f"amp='fp16' needs a CUDA device; training on {device.type} in fp32 instead", stacklevel=3)
        return None, False
    if amp == "bf16":
        return torch.bfloat16, False  # CPU autocast supports bf16
    return None, False  # "auto" off the GPU


def move_to_device(batch, device: torch.device):
    """Tensors (also inside dicts, lists, tuples) to ``device``; anything else unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def count_tokens(batch) -> int:
    """Real (non-padding) tokens in a batch: attention_mask.sum(), else input_ids.numel(), else 0."""
    if isinstance(batch, Mapping):
        for key, count in (("attention_mask", lambda t: t.sum()), ("input_ids", lambda t: t.numel())):
            if isinstance(batch.get(key), torch.Tensor):
                return int(count(batch[key]))
    return 0


def batch_size_of(batch) -> int:
    """Number of examples: the first dimension of the first tensor found."""
    values = batch.values() if isinstance(batch, Mapping) else batch if isinstance(batch, (list, tuple)) else [batch]
    for v in values:
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            return v.shape[0]
    return 1


def loss_of(outputs) -> torch.Tensor | None:
    if isinstance(outputs, torch.Tensor):
        return outputs
    loss = getattr(outputs, "loss", None)
    if loss is None and isinstance(outputs, Mapping):
        loss = outputs.get("loss")
    return loss


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every RNG that training touches, in a form ``torch.load(weights_only=True)`` accepts. Only
    the training GPU's CUDA state: asking for all of them would open a context on every GPU."""
    version, keys, gauss = random.getstate()
    _, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    return {
        "python": [version, list(keys), gauss],
        "numpy": {"keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "cached_gaussian": float(np_cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device is not None and device.type == "cuda" else None,
    }


def restore_rng_state(state: Mapping[str, Any], device: torch.device | None = None) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    npy = state["numpy"]
    np.random.set_state(("MT19937", npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
    elif state["cuda"] is not None or (device is not None and device.type == "cuda"):
        warnings.warn("checkpoint and this run differ in using CUDA: its CUDA RNG state is not restored, "
                      "so dropout draws will not repeat the original run's", stacklevel=2)


def model_config_dict(model: torch.nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    return json.loads(json.dumps(config.to_dict() if hasattr(config, "to_dict") else asdict(config), default=str))


# ----------------------------------------------------------------------------- atomic checkpoint files


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once the directory holding it is flushed (POSIX; Windows cannot open dirs).
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, never half of one
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_checkpoint_dir(root: Path, name: str, tensors: Mapping[str, Any], jsons: Mapping[str, Any]) -> Path:
    """Write ``root/name/`` so that it either exists complete or not at all, then point ``latest`` at it.

    Everything goes into a temporary folder next to the target (same file system, so the rename
    below is atomic), each file fsynced; only then is the folder renamed to ``name``. A crash or
    an exception before the rename leaves the old checkpoints and ``latest`` untouched (and the
    exception path removes the temporary folder).
    """
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{name}-"))
    final, old = root / name, None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private (0700)
        for fname, obj in tensors.items():
            with open(tmp / fname, "wb") as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
        for fname, obj in jsons.items():
            with open(tmp / fname, "w", encoding="utf-8") as f:
                json.dump(obj, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():  # re-saving a step: a folder cannot be renamed onto a non-empty one
            old = root / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not final.exists():
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    _atomic_write_text(root / LATEST, name + "\n")
    return final


def resolve_checkpoint(path: str | os.PathLike, checkpoint_dir: str | os.PathLike | None = None) -> Path:
    """``"latest"`` (in ``checkpoint_dir``), a checkpoint folder, or a folder holding a ``latest`` file."""
    if str(path) == LATEST:
        if checkpoint_dir is None:
            raise ValueError("resume('latest') needs TrainConfig.checkpoint_dir, or pass the checkpoint folder")
        path = Path(checkpoint_dir)
    path = Path(path)
    if (path / LATEST).is_file():
        path = path / (path / LATEST).read_text(encoding="utf-8").strip()
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (expected trainer_state.json, model.pt, training_state.pt)")
    return path


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Train ``model`` (any module returning an output with ``.loss``) on ``train_loader``.

    Batches are dicts of tensors (passed as keyword arguments, keeping only the keys ``forward``
    accepts, plus ``forward_kwargs`` such as ``{"sparse_prediction": True}``) or tuples (passed
    positionally). Evaluation: ``eval_loader`` gives the mean loss (weighted by examples) and
    ``metric_fn(model, batch, outputs)`` per-batch metrics: each value a number (averaged over
    examples like the loss) or a ``(total, count)`` pair (summed, then divided, e.g. correct tokens
    / labelled tokens). ``eval_fn(model) -> dict`` runs any other evaluation (on process 0).
    """

    def __init__(self, model: torch.nn.Module, config: TrainConfig, train_loader, *, eval_loader=None,
                 eval_fn: Callable | None = None, metric_fn: Callable | None = None,
                 forward_kwargs: Mapping[str, Any] | None = None, eval_forward_kwargs: Mapping[str, Any] | None = None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        config.validate()
        self.config, self.train_loader, self.eval_loader = config, train_loader, eval_loader
        self.eval_fn, self.metric_fn = eval_fn, metric_fn
        self.forward_kwargs = dict(forward_kwargs or {})
        self.eval_forward_kwargs = dict(self.forward_kwargs if eval_forward_kwargs is None else eval_forward_kwargs)
        self.batches_per_epoch = self._check_loader(train_loader)
        self.dist = dist_info()
        self.device = resolve_device(config.device, self.dist.local_rank)
        self.amp_dtype, use_scaler = resolve_amp(config.amp, self.device)
        set_seed(config.seed)

        self.model = model.to(self.device)  # the plain module: evaluation, state dicts
        self.train_model = model  # what the training forward calls: DDP's wrapper under torchrun
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = DistributedDataParallel(model, device_ids=ids,
                                                       find_unused_parameters=config.ddp_find_unused_parameters)
        params = inspect.signature(model.forward).parameters.values()
        self._input_names = None if any(p.kind == p.VAR_KEYWORD for p in params) else {p.name for p in params}

        if config.max_steps is not None:
            self.total_steps = config.max_steps
        else:
            if self.batches_per_epoch is None:
                raise ValueError("TrainConfig.epochs needs a train_loader with a length; give max_steps instead")
            self.total_steps = config.epochs * self.batches_per_epoch // config.grad_accum_steps
            if self.total_steps < 1:
                raise ValueError(f"epochs={config.epochs} x {self.batches_per_epoch} batches / grad_accum_steps="
                                 f"{config.grad_accum_steps} gives 0 optimizer steps")
        self.warmup_steps = config.warmup_steps or int(round(config.warmup_ratio * self.total_steps))
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} is more than the {self.total_steps} training steps")

        self.optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr, betas=config.betas,
                                           eps=config.eps, fused=self.device.type == "cuda" or None)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, self.warmup_steps, self.total_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0  # batch_in_epoch: micro-batches done this epoch
        self.history = History()
        self._pending_rng: dict | None = None
        self._last_saved_step = -1

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_loader(loader) -> int | None:
        try:
            n_batches = len(loader)
        except TypeError:
            return None  # an iterable without a length: max_steps decides
        if n_batches == 0:
            dataset = getattr(loader, "dataset", None)
            size = len(dataset) if dataset is not None and hasattr(dataset, "__len__") else "?"
            raise ValueError(
                f"train_loader yields 0 batches: the dataset has {size} examples, batch_size="
                f"{getattr(loader, 'batch_size', '?')}, drop_last={getattr(loader, 'drop_last', '?')}; "
                "use more data, a smaller batch_size or drop_last=False"
            )
        return n_batches

    # ------------------------------------------------------------------ one forward
    def _forward(self, model, batch, kwargs):
        if isinstance(batch, Mapping):
            inputs = batch if self._input_names is None else {k: v for k, v in batch.items() if k in self._input_names}
            return model(**inputs, **kwargs)
        if isinstance(batch, (list, tuple)):
            return model(*batch, **kwargs)
        return model(batch, **kwargs)

    def _loss(self, outputs, batch) -> torch.Tensor:
        loss = loss_of(outputs)
        if loss is None:
            keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise ValueError(f"the model returned no loss: does the batch carry labels? batch keys: {keys}")
        return loss

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    # ------------------------------------------------------------------ data position
    def _epoch_iterator(self):
        loader = self.train_loader
        for obj in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(self.epoch)  # the epoch's order = f(seed, epoch)
        skip = self.batch_in_epoch
        if skip and isinstance(loader, DataLoader) and loader.batch_sampler is not None \
                and not isinstance(loader.dataset, torch.utils.data.IterableDataset):
            iterator = iter(_skip_first_batches(loader, skip))
        else:
            iterator = iter(loader)
            for _ in range(skip):  # no batch sampler to cut: load and drop the seen batches
                next(iterator, None)
        if self._pending_rng is not None:
            # Trap: creating a DataLoader iterator draws a seed from torch's global RNG. The saved
            # state was taken *after* that draw in the original run, so restore only now.
            restore_rng_state(self._pending_rng, self.device)
            self._pending_rng = None
        return iterator

    # ------------------------------------------------------------------ the loop
    def train(self, steps: int | None = None) -> History:
        """Train until ``config.max_steps`` (or ``epochs``) -- or for at most ``steps`` more optimizer
        steps; the lr schedule always spans the whole run. Returns the History (also ``self.history``)."""
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be None or a positive integer, got {steps!r}")
        cfg, accum = self.config, self.config.grad_accum_steps
        target = self.total_steps if steps is None else min(self.total_steps, self.step + steps)
        model, is_ddp = self.train_model, isinstance(self.train_model, DistributedDataParallel)
        show = self.dist.is_main and tqdm is not None and not (
            cfg.disable_progress if cfg.disable_progress is not None else not sys.stderr.isatty())
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True) if show else None
        zero = torch.zeros((), device=self.device)
        window = {"loss": zero, "gnorm": zero, "steps": 0, "tokens": 0}  # sums since the last log step
        t0, micro = time.perf_counter(), 0
        model.train()
        try:
            while self.step < target:
                started_at = self.batch_in_epoch
                seen_any = False
                for batch in self._epoch_iterator():
                    seen_any = True
                    if micro == 0:
                        self.optimizer.zero_grad(set_to_none=True)
                        step_loss = torch.zeros((), device=self.device)
                    self.batch_in_epoch += 1
                    window["tokens"] += count_tokens(batch)
                    batch = move_to_device(batch, self.device)
                    last = micro == accum - 1
                    sync = model.no_sync() if is_ddp and not last else contextlib.nullcontext()
                    with sync:
                        with self._autocast():
                            loss = self._loss(self._forward(model, batch, self.forward_kwargs), batch)
                        loss = loss.float() / accum  # mean over the step's micro-batches
                        self.scaler.scale(loss).backward()
                    step_loss += loss.detach()
                    micro += 1
                    if not last:
                        continue
                    micro = 0
                    lr = self.optimizer.param_groups[0]["lr"]
                    window["gnorm"] = window["gnorm"] + self._optimizer_step()  # out of place: "zero" is shared
                    window["loss"] = window["loss"] + step_loss
                    window["steps"] += 1
                    self.step += 1
                    if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                        self._log(window, lr, time.perf_counter() - t0, bar)
                        window = {"loss": zero, "gnorm": zero, "steps": 0, "tokens": 0}
                        t0 = time.perf_counter()
                    if bar is not None:
                        bar.update(1)
                    paused = time.perf_counter()
                    if cfg.eval_every and self.step % cfg.eval_every == 0:
                        self.history.add_eval(self.step, self.evaluate())
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                    t0 += time.perf_counter() - paused  # evaluation and saving are not training time
                    if self.step >= target:
                        break
                else:  # the epoch ran out
                    if not seen_any and started_at == 0:
                        raise ValueError("train_loader yielded no batches in a whole epoch")
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        finally:
            if bar is not None:
                bar.close()
        if self.step == self.total_steps and (self.eval_loader is not None or self.eval_fn is not None) \
                and (not self.history.eval_step or self.history.eval_step[-1] != self.step):
            self.history.add_eval(self.step, self.evaluate())
        if cfg.checkpoint_dir is not None and self._last_saved_step != self.step:
            self.save_checkpoint()
        return self.history

    def _optimizer_step(self) -> torch.Tensor:
        """Unscale, clip, step; returns the gradient norm before clipping (a 0-d tensor, no sync)."""
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm)  # inf: measure only
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else None
        self.scaler.step(self.optimizer)  # = optimizer.step(), unless fp16 gradients hold inf/NaN
        self.scaler.update()
        if scale is None or self.scaler.get_scale() >= scale:
            self.scheduler.step()  # a skipped optimizer step does not advance the schedule (as HF)
        return grad_norm.detach().float()

    def _log(self, window, lr: float, elapsed: float, bar) -> None:
        stats = torch.stack([window["loss"].double(), window["gnorm"].double(),
                             torch.tensor(float(window["tokens"]), dtype=torch.float64, device=self.device)])
        if self.dist.world_size > 1:
            dist.all_reduce(stats)  # sum over processes
        loss_sum, gnorm_sum, tokens = stats.tolist()
        n = window["steps"] * self.dist.world_size
        loss = loss_sum / n
        if not math.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss} at step {self.step}: lower the lr, check the labels, "
                                     "or use bf16/fp32")
        h = self.history
        h.step.append(self.step)
        h.loss.append(loss)
        h.lr.append(lr)
        h.grad_norm.append(gnorm_sum / n)
        h.tokens_per_s.append(tokens / max(elapsed, 1e-9))
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{h.tokens_per_s[-1]:,.0f}")
        if self.dist.is_main:
            logger.info("step %d  loss %.4f  lr %.3e  %.0f tok/s", self.step, loss, lr, h.tokens_per_s[-1])

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss (and metric_fn's metrics) over eval_loader, plus eval_fn's dict. The model is
        put back in the mode it was in; the torch RNG is forked, so training continues unchanged."""
        model, was_training = self.model, self.model.training
        metrics: dict[str, float] = {}
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        model.eval()
        try:
            with torch.random.fork_rng(devices=devices):
                if self.eval_loader is not None:
                    metrics.update(self._evaluate_loader(model))
                if self.eval_fn is not None and self.dist.is_main:
                    metrics.update({k: float(v) for k, v in self.eval_fn(model).items()})
        finally:
            model.train(was_training)
        return metrics

    def _evaluate_loader(self, model) -> dict[str, float]:
        sharded = self.dist.world_size > 1 and isinstance(getattr(self.eval_loader, "sampler", None), DistributedSampler)
        if self.dist.world_size > 1 and not sharded and not self.dist.is_main:
            return {}  # an unsharded eval set is evaluated by process 0 alone
        sums: dict[str, list[float]] = {}  # name -> [total, count]

        def add(name, total, count):
            entry = sums.setdefault(name, [0.0, 0.0])
            entry[0] += float(total)
            entry[1] += float(count)

        for batch in self.eval_loader:
            batch = move_to_device(batch, self.device)
            n = batch_size_of(batch)
            with self._autocast():
                outputs = self._forward(model, batch, self.eval_forward_kwargs)
            loss = loss_of(outputs)
            if loss is not None:
                add("loss", loss.float() * n, n)
            if self.metric_fn is not None:
                for name, value in self.metric_fn(model, batch, outputs).items():
                    if isinstance(value, (tuple, list)):
                        add(name, value[0], value[1])
                    else:
                        add(name, float(value) * n, n)
        names = sorted(sums)
        if sharded:  # every process evaluated its share: add the totals up
            stats = torch.tensor([sums[k] for k in names], dtype=torch.float64, device=self.device)
            dist.all_reduce(stats)
            sums = dict(zip(names, stats.tolist()))
        return {k: sums[k][0] / sums[k][1] if sums[k][1] else math.nan for k in names}

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoint_dir/step-N/`` atomically and point ``latest`` at it (process 0 only)."""
        if self.config.checkpoint_dir is None:
            raise ValueError("save_checkpoint needs TrainConfig.checkpoint_dir")
        self._last_saved_step = self.step
        path = None
        if self.dist.is_main:
            collate_gen = getattr(getattr(self.train_loader, "collate_fn", None), "generator", None)
            training_state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": capture_rng_state(self.device),
                "collate_rng": collate_gen.get_state() if isinstance(collate_gen, torch.Generator) else None,
            }
            cfg = asdict(self.config)
            cfg["checkpoint_dir"] = str(cfg["checkpoint_dir"])
            meta = {
                "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "batches_per_epoch": self.batches_per_epoch, "world_size": self.dist.world_size,
                "train_config": cfg, "history": self.history.to_dict(),
            }
            jsons = {"trainer_state.json": meta}
            model_cfg = model_config_dict(self.model)
            if model_cfg is not None:
                jsons["config.json"] = model_cfg
            root = Path(self.config.checkpoint_dir)
            path = write_checkpoint_dir(root, f"step-{self.step}",
                                        {"model.pt": self.model.state_dict(), "training_state.pt": training_state}, jsons)
            if self.config.keep_last:
                self._prune(root, path.name)
        if self.dist.world_size > 1:
            dist.barrier()  # nobody runs ahead while process 0 writes
        return path

    def _prune(self, root: Path, keep: str) -> None:
        steps = sorted((int(p.name[5:]), p) for p in root.glob("step-*") if p.is_dir() and p.name[5:].isdigit())
        for _, p in steps[: max(0, len(steps) - self.config.keep_last)]:
            if p.name != keep:
                shutil.rmtree(p, ignore_errors=True)

    def resume(self, path: str | os.PathLike = LATEST) -> int:
        """Load a checkpoint (``"latest"`` in checkpoint_dir, or a folder) into this trainer; returns its step.

        The model's config must equal the checkpoint's, and the loader must have as many batches per
        epoch, else the saved position would point at other data: both raise ValueError.
        """
        ckpt = resolve_checkpoint(path, self.config.checkpoint_dir)
        meta = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        saved_cfg = json.loads((ckpt / "config.json").read_text(encoding="utf-8")) if (ckpt / "config.json").is_file() else None
        ours = model_config_dict(self.model)
        if saved_cfg is not None and ours is not None and saved_cfg != ours:
            diff = [f"{k} (checkpoint {saved_cfg.get(k)!r}, model {ours.get(k)!r})"
                    for k in sorted(set(saved_cfg) | set(ours)) if saved_cfg.get(k) != ours.get(k)]
            raise ValueError(f"checkpoint {ckpt} was written for a different model config; differing fields: {', '.join(diff)}")
        if meta["batches_per_epoch"] != self.batches_per_epoch:
            raise ValueError(f"checkpoint {ckpt} was written with {meta['batches_per_epoch']} batches per epoch, this "
                             f"train_loader has {self.batches_per_epoch}: the saved data position would not match "
                             "(same dataset, batch_size, drop_last and number of processes needed)")
        changed = [k for k, v in meta["train_config"].items() if k not in ("checkpoint_dir", "max_steps", "epochs",
                   "eval_every", "log_every", "checkpoint_every", "keep_last", "disable_progress", "device")
                   and v != json.loads(json.dumps(getattr(self.config, k, None)))]
        if changed:
            warnings.warn(f"resuming {ckpt} with changed TrainConfig fields: {', '.join(changed)}", stacklevel=2)
        sampler = getattr(self.train_loader, "sampler", None)
        if meta["batch_in_epoch"] and isinstance(sampler, RandomSampler):
            warnings.warn("train_loader shuffles with a RandomSampler, whose order is not a function of the epoch: the "
                          "resumed epoch will not continue the saved order; build the loader with make_loader()", stacklevel=2)

        self.model.load_state_dict(torch.load(ckpt / "model.pt", map_location=self.device, weights_only=True))
        state = torch.load(ckpt / "training_state.pt", map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        collate_gen = getattr(getattr(self.train_loader, "collate_fn", None), "generator", None)
        if state["collate_rng"] is not None and isinstance(collate_gen, torch.Generator):
            collate_gen.set_state(state["collate_rng"])
        self._pending_rng = state["rng"]  # applied once the next epoch iterator exists (see _epoch_iterator)
        self.step, self.epoch, self.batch_in_epoch = meta["step"], meta["epoch"], meta["batch_in_epoch"]
        self.history = History.from_dict(meta["history"])
        self._last_saved_step = self.step
        return self.step
