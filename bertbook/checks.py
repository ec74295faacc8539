"""Check a batch's *values* on the host, before it goes to the model.

The models check shapes and dtypes only (free, and they compile away). Values - ids beyond the
vocabulary, segment ids beyond the token types, labels beyond the classes - can only be read by
looking at the data, and on a GPU that look is a device-to-host synchronisation that stalls every
step. So it happens here, once per batch while the batch is still on the CPU: the training loop
(``bertbook.train``) calls :func:`validate_inputs` on every batch before moving it to the device,
and a reader can call it on anything they build by hand.

Why bother: an out-of-range id on CUDA is a device-side assert that kills the process, and on
CPU an IndexError that does not say which input was wrong.

    validate_inputs(model, {"input_ids": ids, "labels": labels})   # raises ValueError, or None
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

IGNORE_INDEX = -100  # label value that the losses skip (see heads.py)

# What a task model's labels are, found from the class name's ending so that the BERT, MegatronBERT
# and RoBERTa families share one table: (number of classes, is -100 allowed).
_LABELS = {
    "ForPreTraining": ("vocab", True),
    "ForMaskedLM": ("vocab", True),
    "LMHeadModel": ("vocab", True),
    "ForCausalLM": ("vocab", True),
    "ForNextSentencePrediction": (2, False),
    "ForTokenClassification": ("labels", True),
    "ForMultipleChoice": ("choices", False),
}


def _check_range(name: str, values: torch.Tensor, upper: int, allow_ignore: bool = False,
                 upper_name: str = "") -> None:
    """Every value in [0, upper) (or -100 when ``allow_ignore``), else a ValueError."""
    if not isinstance(values, torch.Tensor) or values.numel() == 0:
        return  # types and shapes are the model's to check
    valid = (values >= 0) & (values < upper)
    if allow_ignore:
        valid |= values == IGNORE_INDEX
    if bool(valid.all()):
        return
    allowed = f"[0, {upper_name}{upper})" + (f" or {IGNORE_INDEX} (ignored)" if allow_ignore else "")
    if name.endswith("_ids"):
        lo, hi = int(values.min()), int(values.max())
        raise ValueError(f"{name} must be in {allowed}, got values in [{lo}, {hi}]")
    raise ValueError(f"{name} must be in {allowed}, got {values[~valid].unique()[:5].tolist()}")


def validate_inputs(model: torch.nn.Module, batch: Mapping[str, torch.Tensor]) -> None:
    """Raise ``ValueError`` naming the first input of ``batch`` whose values ``model`` cannot take.
    A model without a BERT config (a wrapper, a distiller) is left to check its own inputs."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "vocab_size"):
        return
    for name, upper in (("input_ids", config.vocab_size), ("token_type_ids", config.type_vocab_size),
                        ("position_ids", config.max_position_embeddings), ("attention_mask", 2)):
        if batch.get(name) is not None:
            _check_range(name, batch[name], upper, upper_name="vocab_size=" * (name == "input_ids"))
    kind = type(model).__name__
    labels = batch.get("labels")
    if batch.get("next_sentence_label") is not None:  # NSP never ignores a pair
        _check_range("next_sentence_label", batch["next_sentence_label"], 2)
    if labels is None:
        return
    if kind.endswith("ForSequenceClassification"):
        _check_sequence_labels(model, labels)
        return
    for ending, (classes, allow_ignore) in _LABELS.items():
        if kind.endswith(ending):
            upper = {"vocab": config.vocab_size, "labels": config.num_labels,
                     "choices": batch["input_ids"].shape[1] if "input_ids" in batch else None}.get(
                         classes, classes)
            if upper is not None:
                _check_range("labels", labels, upper, allow_ignore)
            return


def _check_sequence_labels(model, labels: torch.Tensor) -> None:
    problem = model.problem_type_for(labels)
    if problem == "single_label_classification":
        _check_range("labels", labels, model.config.num_labels)
    elif problem == "multi_label_classification" and bool(((labels < 0) | (labels > 1)).any()):
        raise ValueError("multi-label labels must be probabilities in [0, 1]")
