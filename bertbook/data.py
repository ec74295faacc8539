"""The data pipeline between the tokenizer and the model.

Everything a chapter needs to turn tokenized text into batches:

* ``InputFeatures`` and ``pad_collate`` / ``DataCollatorWithPadding``: dynamic padding
  (each batch padded to its own longest sequence, never to a global maximum);
* ``LengthBucketBatchSampler`` and ``padding_stats``: put sequences of similar length in the
  same batch, and measure how many padding tokens that saves;
* ``mask_tokens`` and ``DataCollatorForMLM``: the 80/10/10 masked-language-model recipe of
  google-research/bert (``create_pretraining_data.py``) and HF
  ``DataCollatorForLanguageModeling``, with optional whole-word masking;
* ``make_nsp_examples``: next-sentence-prediction pairs as in the original
  ``create_instances_from_document``;
* ``encode_multiple_choice``: ``[CLS] context [SEP] choice [SEP]`` for every choice, as (B, C, T);
* ``prepare_qa_train_features`` / ``prepare_qa_eval_features``: SQuAD-style windows with a
  document stride, as in HF ``run_qa.py``;
* ``align_labels_with_tokens`` / ``tokenize_and_align_labels``: word labels to sub-token labels.

The module needs only torch, numpy and the standard library. Tokenizers are used through the
Hugging Face call interface (``tokenizer(text, text_pair, truncation=..., ...)`` returning
``input_ids`` etc., ``enc.sequence_ids(i)``, ``tokenizer.cls_token_id`` ...), so both
``bertbook.tokenization.BertTokenizer`` and a ``transformers`` fast tokenizer work.
"""

from __future__ import annotations

import numbers
import random
from dataclasses import dataclass, fields
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

IGNORE_INDEX = -100  # the label PyTorch's CrossEntropyLoss skips (its default ignore_index)

__all__ = [
    "IGNORE_INDEX",
    "InputFeatures",
    "pad_collate",
    "DataCollatorWithPadding",
    "LengthBucketBatchSampler",
    "padding_stats",
    "mask_tokens",
    "wordpiece_word_ids",
    "DataCollatorForMLM",
    "truncate_seq_pair",
    "make_nsp_examples",
    "encode_multiple_choice",
    "prepare_qa_train_features",
    "prepare_qa_eval_features",
    "align_labels_with_tokens",
    "tokenize_and_align_labels",
]


# ----------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------


@dataclass
class InputFeatures:
    """One tokenized example, unpadded. Field names are the model's keyword arguments."""

    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int] | None = None
    label: int | float | list[float] | None = None  # one label per sequence (classification, regression)
    labels: list[int] | None = None  # one label per token (token classification, MLM)
    start_positions: int | None = None  # answer span (extractive QA)
    end_positions: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (``None`` fields are left out, so the collate never sees them)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


# ----------------------------------------------------------------------------------------------
# Dynamic padding
# ----------------------------------------------------------------------------------------------

# Keys with one value per token. They are padded (right side) and trimmed together with input_ids.
_PAD_VALUES = {
    "input_ids": None,  # the tokenizer's pad id, given to pad_collate
    "attention_mask": 0,  # 0 = "do not attend to this position"
    "token_type_ids": 0,
    "position_ids": 0,
    "special_tokens_mask": 1,  # as in HF tokenizer.pad: padding counts as special, so MLM never masks it
    "word_ids": -1,  # None (special token) and padding both become -1
    "labels": None,  # label_pad_id (-100), when labels is a per-token list of ints
}


def _to_python(value: Any) -> Any:
    if isinstance(value, torch.Tensor) or isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _is_number(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating))


def _real_length(mask: Sequence[int]) -> int:
    """Index after the last attended position (right padding), or 0 if nothing is attended."""
    for i in range(len(mask) - 1, -1, -1):
        if mask[i]:
            return i + 1
    return 0


def pad_collate(
    batch: Sequence[Mapping[str, Any] | InputFeatures],
    pad_token_id: int = 0,
    label_pad_id: int = IGNORE_INDEX,
    pad_to_multiple_of: int | None = None,
) -> dict[str, Any]:
    """Stack a list of unpadded features into a batch of tensors padded to the batch's longest.

    * Per-token keys (``input_ids``, ``attention_mask``, ``token_type_ids``, ``special_tokens_mask``,
      ``position_ids``, ``word_ids``, and ``labels`` when it is a list of ints) are padded on the
      right to T = the longest *real* length in this batch: sequences that arrive already padded
      (to 384, say) are first trimmed to where their ``attention_mask`` ends.
    * Multiple choice: when each item's ``input_ids`` is a list of C sequences, the result is
      (B, C, T), every choice padded to the same T.
    * Per-sequence labels (``label`` is renamed ``labels`` as in HF, ``next_sentence_label``,
      ``start_positions`` ...) are stacked: LongTensor for ints, FloatTensor as soon as one is a
      float (regression), and a list of floats (multi-label targets) stays float, shape (B, L).
    * Anything else that is not numbers (``offset_mapping`` with ``None``, strings) is passed
      through as a plain Python list, one entry per item.
    """
    if len(batch) == 0:
        raise ValueError("pad_collate got an empty batch")
    if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
        raise ValueError(f"pad_to_multiple_of must be a positive int or None, got {pad_to_multiple_of!r}")
    items = []
    for i, item in enumerate(batch):
        if isinstance(item, InputFeatures):
            item = item.to_dict()
        if not isinstance(item, Mapping):
            raise TypeError(f"pad_collate: item {i} is a {type(item).__name__}, expected a dict or InputFeatures")
        items.append({k: _to_python(v) for k, v in item.items()})
    keys = list(items[0])
    for i, item in enumerate(items):
        if set(item) != set(keys):
            raise ValueError(f"pad_collate: item {i} has keys {sorted(item)}, item 0 has {sorted(keys)}")
    if "input_ids" not in keys:
        raise ValueError("pad_collate: every item needs 'input_ids'")

    # HF convention: the model's keyword argument is `labels`, whatever the data set calls it.
    for old in ("label", "label_ids"):
        if old in keys:
            if "labels" in keys:
                raise ValueError(f"pad_collate: items have both '{old}' and 'labels'")
            for item in items:
                item["labels"] = item.pop(old)
            keys = [("labels" if k == old else k) for k in keys]

    first_ids = items[0]["input_ids"]
    multiple_choice = len(first_ids) > 0 and isinstance(first_ids[0], list)

    def as_sequences(item: dict, key: str) -> list[list]:
        """The item's value for `key` as a list of sequences (1 for plain, C for multiple choice)."""
        return item[key] if multiple_choice else [item[key]]

    token_label = "labels" in keys and _is_token_labels(items, multiple_choice)
    token_keys = [k for k in keys if k in _PAD_VALUES and (k != "labels" or token_label)]

    # Shape checks first, with the item's index, so a bad item is named rather than mis-padded.
    n_choices = len(first_ids) if multiple_choice else 1
    for i, item in enumerate(items):
        ids = as_sequences(item, "input_ids")
        if multiple_choice and (not isinstance(item["input_ids"][0], list) or len(ids) != n_choices):
            raise ValueError(
                f"pad_collate: multiple-choice item {i} has {len(ids)} choices, item 0 has {n_choices}; "
                "every item must have the same number of choices"
            )
        for key in token_keys:
            seqs = as_sequences(item, key)
            if len(seqs) != len(ids) or any(len(s) != len(t) for s, t in zip(seqs, ids)):
                raise ValueError(f"pad_collate: item {i}: '{key}' and 'input_ids' have different lengths")

    # T = longest real length in the batch. Pre-padded sequences are trimmed back to it.
    real = []
    for item in items:
        masks = as_sequences(item, "attention_mask") if "attention_mask" in keys else None
        for j, ids in enumerate(as_sequences(item, "input_ids")):
            real.append(_real_length(masks[j]) if masks is not None else len(ids))
    T = max(real) if real else 0
    if pad_to_multiple_of:
        T = -(-T // pad_to_multiple_of) * pad_to_multiple_of  # round up: tensor cores like multiples of 8

    out: dict[str, Any] = {}
    for key in keys:
        if key in token_keys:
            pad = _PAD_VALUES[key]
            if key == "input_ids":
                pad = pad_token_id
            elif key == "labels":
                pad = label_pad_id
            rows = []
            for i, item in enumerate(items):
                for seq in as_sequences(item, key):
                    seq = [pad if v is None else v for v in seq]  # word_ids: None -> -1
                    if key == "labels" and any(v != label_pad_id for v in seq[T:]):
                        raise ValueError(f"pad_collate: item {i} has labels beyond its attention_mask")
                    rows.append(seq[:T] + [pad] * (T - min(len(seq), T)))
            tensor = torch.tensor(rows, dtype=torch.long)  # (B*C, T)
            out[key] = tensor.view(len(items), n_choices, T) if multiple_choice else tensor
        else:
            out[key] = _stack_other(key, [item[key] for item in items])
    return out


def _is_token_labels(items: list[dict], multiple_choice: bool) -> bool:
    """`labels` is per token when it is a list of ints (per-sequence float lists are multi-label)."""
    values = [item["labels"] for item in items]
    if all(_is_number(v) for v in values):
        return False
    if multiple_choice:
        return False
    if all(isinstance(v, list) for v in values):
        flat = [x for v in values for x in v]
        if any(isinstance(x, (float, np.floating)) for x in flat):
            return False  # multi-label targets: floats, one per class
        return True
    raise ValueError("pad_collate: 'labels' mixes numbers and lists across the batch")


def _stack_other(key: str, values: list) -> Any:
    if all(_is_number(v) for v in values):
        is_float = any(isinstance(v, (float, np.floating)) for v in values)
        return torch.tensor(values, dtype=torch.float if is_float else torch.long)  # (B,)
    if all(isinstance(v, list) and all(_is_number(x) for x in v) for v in values):
        if len({len(v) for v in values}) != 1:
            raise ValueError(f"pad_collate: '{key}' lists have different lengths {sorted({len(v) for v in values})}")
        is_float = any(isinstance(x, (float, np.floating)) for v in values for x in v)
        return torch.tensor(values, dtype=torch.float if is_float else torch.long)  # (B, L)
    return list(values)  # offsets with None, strings, ...: left to the caller


class DataCollatorWithPadding:
    """``pad_collate`` with the pad id taken from a tokenizer; use as ``DataLoader(collate_fn=...)``."""

    def __init__(
        self,
        tokenizer: Any = None,
        *,
        pad_token_id: int | None = None,
        label_pad_id: int = IGNORE_INDEX,
        pad_to_multiple_of: int | None = None,
    ):
        if pad_token_id is None:
            pad_token_id = getattr(tokenizer, "pad_token_id", None) if tokenizer is not None else None
        if pad_token_id is None:
            raise ValueError("DataCollatorWithPadding needs a tokenizer with pad_token_id, or pad_token_id=")
        self.pad_token_id = int(pad_token_id)
        self.label_pad_id = label_pad_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, batch: Sequence[Mapping[str, Any] | InputFeatures]) -> dict[str, Any]:
        return pad_collate(batch, self.pad_token_id, self.label_pad_id, self.pad_to_multiple_of)


# ----------------------------------------------------------------------------------------------
# Length bucketing
# ----------------------------------------------------------------------------------------------


class LengthBucketBatchSampler(torch.utils.data.Sampler):
    """Batches of indices whose sequences have similar lengths, so dynamic padding pads little.

    Each epoch: shuffle all indices, cut them into buckets of ``bucket_size``, sort each bucket by
    length, cut the sorted bucket into batches, then shuffle the order of all batches. The
    shuffles keep training random (a batch never holds the same examples twice in a row, the
    long batches are not all at the end); the sort inside a bucket is what saves the padding.
    ``shuffle=False`` skips both shuffles (buckets in index order, batches in bucket order), for
    evaluation. Deterministic for a given ``seed`` and epoch; call ``set_epoch`` before each epoch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size: int | None = None,
        drop_last: bool = False,
    ):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        lengths = np.asarray(lengths)
        if lengths.ndim != 1 or lengths.size == 0:
            raise ValueError(f"lengths must be a non-empty 1-D sequence of ints, got shape {lengths.shape}")
        if not np.issubdtype(lengths.dtype, np.integer) or (lengths < 0).any():
            raise ValueError("lengths must be non-negative ints")
        if bucket_size is None:
            bucket_size = 100 * batch_size
        if not isinstance(bucket_size, int) or bucket_size < batch_size or bucket_size % batch_size:
            raise ValueError(
                f"bucket_size must be a multiple of batch_size={batch_size} (so no bucket leaves a short "
                f"batch behind), got {bucket_size!r}"
            )
        self.lengths = lengths
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size = bucket_size
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This epoch's batches (lists of dataset indices)."""
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])  # one stream per (seed, epoch)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches = []
        for b in range(0, n, self.bucket_size):
            bucket = order[b : b + self.bucket_size]
            # Stable sort, longest first: ties keep the shuffled order, so equal lengths still mix.
            bucket = bucket[np.argsort(-self.lengths[bucket], kind="stable")]
            for s in range(0, len(bucket), self.batch_size):
                batches.append(bucket[s : s + self.batch_size].tolist())
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            # Only the last bucket can end short (bucket_size is a multiple of batch_size).
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def padding_stats(
    lengths: Sequence[int], batches: Sequence[Sequence[int]], pad_to: int | None = None
) -> dict[str, float]:
    """Real versus padded token counts for a list of batches (lists of indices into ``lengths``).

    Each batch is padded to its own longest sequence (dynamic padding), or to ``pad_to`` for
    every batch (fixed padding, e.g. ``pad_to=384``). Returns ``real_tokens`` (sum of lengths),
    ``padded_tokens`` (slots the model computes on: batch size times padded length, summed),
    ``pad_tokens`` (their difference) and ``pad_fraction`` (pad_tokens / padded_tokens).
    """
    lengths = np.asarray(lengths)
    real = padded = 0
    for batch in batches:
        if len(batch) == 0:
            continue
        lens = lengths[np.asarray(batch)]
        width = int(lens.max())
        if pad_to is not None:
            if width > pad_to:
                raise ValueError(f"a sequence of length {width} does not fit pad_to={pad_to}")
            width = pad_to
        real += int(lens.sum())
        padded += width * len(lens)
    return {
        "real_tokens": real,
        "padded_tokens": padded,
        "pad_tokens": padded - real,
        "pad_fraction": (padded - real) / padded if padded else 0.0,
    }


# ----------------------------------------------------------------------------------------------
# Masked language modelling
# ----------------------------------------------------------------------------------------------


def _word_groups(word_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) word ids (-1 = none) -> (B, T) group ids 0, 1, 2 ... per row, -1 where no word.

    Trap: for a pair ``[CLS] A [SEP] B [SEP]`` the HF ``word_ids`` restart at 0 in B, so equal
    ids do not mean the same word. A word's pieces are always contiguous, so a new group starts
    wherever the id differs from the previous position's.
    """
    prev = torch.cat([torch.full_like(word_ids[:, :1], -1), word_ids[:, :-1]], dim=1)  # (B, T)
    valid = word_ids >= 0
    starts = valid & (word_ids != prev)
    groups = torch.cumsum(starts.long(), dim=1) - 1  # (B, T)
    return torch.where(valid, groups, torch.full_like(groups, -1))


def wordpiece_word_ids(
    tokens: Sequence[str], special_tokens: Sequence[str] = ("[CLS]", "[SEP]", "[PAD]", "[MASK]")
) -> list[int | None]:
    """Word ids from WordPiece strings, the original BERT whole-word rule: a ``##`` piece joins the
    word before it. (HF ``enc.word_ids()`` is finer: it also splits at punctuation.)"""
    out: list[int | None] = []
    word = -1
    for tok in tokens:
        if tok in special_tokens:
            out.append(None)
            continue
        if not (tok.startswith("##") and out and out[-1] is not None):
            word += 1
        out.append(word)
    return out


def _check_mlm_probability(p: Any) -> None:
    # Both ends are excluded: 0 selects nothing (every label -100, a NaN loss), 1 masks every token
    # (nothing left to predict from). A string or a bool is a caller's mistake, not a probability.
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"mlm_probability must be a number in (0, 1), got {p!r} ({type(p).__name__})")
    if not 0.0 < p < 1.0:  # also rejects NaN
        raise ValueError(f"mlm_probability must be in the open interval (0, 1), got {p!r}")


def mask_tokens(
    input_ids: torch.Tensor,
    special_tokens_mask: torch.Tensor,
    *,
    mask_token_id: int,
    vocab_size: int,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
    word_ids: torch.Tensor | Sequence[Sequence[int | None]] | None = None,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: returns ``(masked_inputs, labels)``, both shaped like ``input_ids``.

    ``mlm_probability`` of the candidate positions (not special, not padding) are selected; of
    those 80% become ``[MASK]``, 10% a random token, 10% stay unchanged. ``labels`` hold the
    original id at the selected positions and -100 everywhere else, so the loss is computed on
    the selected positions only. With ``word_ids`` (per token, ``None``/-1 for special tokens),
    whole words are selected: all pieces of a word or none.

    As HF ``DataCollatorForLanguageModeling``, each candidate is selected independently
    (Bernoulli), so 15% holds on average; google-research/bert instead picks exactly
    round(15% x candidates) per sequence, capped at ``max_predictions_per_seq``.
    Trap: a batch in which nothing gets selected has no label != -100, and the mean
    cross-entropy over zero tokens is NaN; it only happens with tiny batches of short sequences.
    The inputs are not modified.
    """
    _check_mlm_probability(mlm_probability)
    if not isinstance(input_ids, torch.Tensor):
        input_ids = torch.as_tensor(input_ids)
    if input_ids.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool):
        raise TypeError(f"input_ids must be an integer tensor, got {input_ids.dtype}")
    if special_tokens_mask is None:
        raise TypeError("special_tokens_mask is required: special tokens must never be masked")
    special = torch.as_tensor(special_tokens_mask).bool()
    if special.shape != input_ids.shape:
        raise ValueError(f"special_tokens_mask has shape {tuple(special.shape)}, input_ids {tuple(input_ids.shape)}")
    if input_ids.dim() not in (1, 2):
        raise ValueError(f"input_ids must be (T,) or (B, T), got shape {tuple(input_ids.shape)}")
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    if not 0 <= mask_token_id < vocab_size:
        raise ValueError(f"mask_token_id={mask_token_id} is outside the vocabulary [0, {vocab_size})")
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        raise ValueError(
            f"input_ids must lie in [0, {vocab_size}), found [{int(input_ids.min())}, {int(input_ids.max())}]"
        )
    squeeze = input_ids.dim() == 1
    ids = input_ids.unsqueeze(0) if squeeze else input_ids  # (B, T)
    special = special.view_as(ids)
    candidates = ~special  # (B, T) may be selected
    if attention_mask is not None:
        attention_mask = torch.as_tensor(attention_mask)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)}, input_ids {tuple(input_ids.shape)}"
            )
        candidates &= attention_mask.view_as(ids).bool()  # padding is never a prediction target

    device = ids.device
    # Draw on the generator's device (a CPU generator with CUDA ids is the usual case), then move.
    draw_device = generator.device if generator is not None else device
    if word_ids is None:
        # Each candidate on its own: P(selected) = mlm_probability.
        draws = torch.rand(ids.shape, generator=generator, device=draw_device).to(device)  # (B, T)
        selected = (draws < mlm_probability) & candidates
    else:
        if not isinstance(word_ids, torch.Tensor):
            word_ids = torch.tensor([[-1 if w is None else w for w in row] for row in word_ids], dtype=torch.long)
        if squeeze and word_ids.dim() == 1:
            word_ids = word_ids.unsqueeze(0)
        if word_ids.shape != ids.shape:
            raise ValueError(f"word_ids has shape {tuple(word_ids.shape)}, input_ids {tuple(input_ids.shape)}")
        groups = _word_groups(word_ids.to(device))  # (B, T)
        n_groups = int(groups.max()) + 1 if groups.numel() else 0
        # One draw per word, then every piece of the word takes its word's draw: the expected
        # fraction of selected tokens is still mlm_probability, whatever the word lengths.
        word_draw = torch.rand((ids.shape[0], max(n_groups, 1)), generator=generator, device=draw_device)
        word_draw = word_draw.to(device)  # (B, W): one draw per word
        chosen = word_draw.gather(1, groups.clamp(min=0)) < mlm_probability  # (B, T)
        selected = chosen & (groups >= 0) & candidates

    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))  # loss only where selected
    # 80/10/10, decided per token (as the original also does for whole words). Why not always
    # [MASK]: [MASK] never appears at fine-tuning time, so the model must also learn to predict
    # from tokens that look normal (10% random) or are the true token (10% unchanged).
    u = torch.rand(ids.shape, generator=generator, device=draw_device).to(device)  # (B, T)
    to_mask = selected & (u < 0.8)
    to_random = selected & (u >= 0.8) & (u < 0.9)
    # Random tokens are drawn from the whole vocabulary, as in both references.
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, device=draw_device, dtype=ids.dtype)
    random_ids = random_ids.to(device)  # (B, T)
    masked = ids.clone()
    masked[to_mask] = mask_token_id
    masked[to_random] = random_ids[to_random]
    if squeeze:
        return masked.squeeze(0), labels.squeeze(0)
    return masked, labels


def _special_ids(tokenizer: Any) -> dict[str, int]:
    """cls/sep/pad/mask/unk ids from a tokenizer (attributes first, then the vocabulary)."""
    out = {}
    for name, token in (("cls", "[CLS]"), ("sep", "[SEP]"), ("pad", "[PAD]"), ("mask", "[MASK]"), ("unk", "[UNK]")):
        value = getattr(tokenizer, f"{name}_token_id", None)
        if value is None and hasattr(tokenizer, "convert_tokens_to_ids"):
            value = tokenizer.convert_tokens_to_ids(token)
        if value is not None:
            out[name] = int(value)
    return out


def _vocab_size(tokenizer: Any) -> int:
    try:
        return len(tokenizer)  # includes added tokens
    except TypeError:
        return int(tokenizer.vocab_size)


class DataCollatorForMLM:
    """Pad a batch (``pad_collate``) and mask it (``mask_tokens``); returns ``labels`` for the MLM loss.

    Dynamic masking (RoBERTa): the mask is drawn anew every time a batch is built, so each epoch
    sees different masks; the original BERT masked once, offline, ``dupe_factor`` times. The
    collator owns a seeded generator, so the sequence of masks is reproducible for a seed.
    If the items carry ``special_tokens_mask`` it is used; otherwise the [CLS]/[SEP]/[PAD]/[MASK]/[UNK]
    ids are treated as special. With ``whole_word_mask=True`` each item must carry ``word_ids``.
    ``special_tokens_mask`` and ``word_ids`` are removed from the returned batch.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        *,
        mlm_probability: float = 0.15,
        seed: int | None = 0,
        whole_word_mask: bool = False,
        pad_token_id: int | None = None,
        mask_token_id: int | None = None,
        vocab_size: int | None = None,
        special_token_ids: Sequence[int] | None = None,
        pad_to_multiple_of: int | None = None,
    ):
        _check_mlm_probability(mlm_probability)
        ids = _special_ids(tokenizer) if tokenizer is not None else {}
        self.pad_token_id = pad_token_id if pad_token_id is not None else ids.get("pad")
        self.mask_token_id = mask_token_id if mask_token_id is not None else ids.get("mask")
        if vocab_size is None and tokenizer is not None:
            vocab_size = _vocab_size(tokenizer)
        self.vocab_size = vocab_size
        if None in (self.pad_token_id, self.mask_token_id, self.vocab_size):
            raise ValueError("DataCollatorForMLM needs a tokenizer, or pad_token_id, mask_token_id and vocab_size")
        self.special_token_ids = sorted(set(special_token_ids if special_token_ids is not None else ids.values()))
        self.mlm_probability = mlm_probability
        self.whole_word_mask = whole_word_mask
        self.pad_to_multiple_of = pad_to_multiple_of
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        else:
            self.generator.seed()

    def __call__(self, batch: Sequence[Mapping[str, Any] | InputFeatures]) -> dict[str, Any]:
        out = pad_collate(batch, self.pad_token_id, IGNORE_INDEX, self.pad_to_multiple_of)
        ids = out["input_ids"]  # (B, T)
        special = out.pop("special_tokens_mask", None)
        if special is None:
            special = torch.isin(ids, torch.tensor(self.special_token_ids, dtype=ids.dtype))
        word_ids = out.pop("word_ids", None)
        if self.whole_word_mask and word_ids is None:
            raise ValueError("whole_word_mask=True needs 'word_ids' in every item (enc.word_ids(i))")
        out["input_ids"], out["labels"] = mask_tokens(
            ids,
            special,
            mask_token_id=self.mask_token_id,
            vocab_size=self.vocab_size,
            mlm_probability=self.mlm_probability,
            generator=self.generator,
            word_ids=word_ids if self.whole_word_mask else None,
            attention_mask=out.get("attention_mask"),
        )
        return out


# ----------------------------------------------------------------------------------------------
# Next-sentence prediction pairs
# ----------------------------------------------------------------------------------------------


def _tokenize_texts(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids (no special tokens) for each text; one batched call when the tokenizer takes lists."""
    if not texts:
        return []
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    if len(ids) == len(texts) and all(isinstance(x, list) for x in ids):
        return [list(x) for x in ids]
    return [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_num_tokens: int, rng: random.Random) -> None:
    """Trim the pair in place to at most ``max_num_tokens`` tokens (google-research/bert).

    One token at a time from the longer side, so a short segment is not eaten away; from the
    front or the back at random, so the model does not learn that segments always end (or
    start) at a sentence boundary.
    """
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc[0]
        else:
            trunc.pop()


def make_nsp_examples(
    documents: Sequence[Sequence[str]],
    tokenizer: Any,
    max_seq_length: int = 128,
    short_seq_prob: float = 0.1,
    seed: int = 0,
    shuffle: bool = True,
    balanced: bool = True,
) -> list[dict[str, list[int] | int]]:
    """Next-sentence-prediction pairs, following ``create_instances_from_document`` of BERT.

    ``documents`` is a list of documents, each a list of sentences. Returns unpadded dicts with
    ``input_ids`` (``[CLS] A [SEP] B [SEP]``), ``token_type_ids`` (0 for [CLS] A [SEP], 1 for
    B [SEP]), ``attention_mask``, ``special_tokens_mask`` and ``next_sentence_label``
    (HF convention: 0 = B is the true continuation of A, 1 = B is random). Deterministic for a
    ``seed``; ``shuffle`` mixes the instances of all documents, as the original does.

    ``balanced=False`` is the original algorithm exactly (but for B always coming from another
    document): a chunk of one sentence always gets a random B, so more than half of the labels
    are 1 (about 56% on BBC News). ``balanced=True`` (default) makes every label a fair coin by
    dropping a lone last sentence of a document and giving a lone long sentence its successor.
    """
    if not isinstance(max_seq_length, int) or max_seq_length < 5:
        raise ValueError(f"max_seq_length must be an int >= 5 ([CLS] a [SEP] b [SEP]), got {max_seq_length!r}")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be in [0, 1], got {short_seq_prob!r}")
    if isinstance(documents, str) or any(isinstance(d, str) for d in documents):
        raise TypeError("documents must be a list of documents, each a list of sentence strings")
    ids = _special_ids(tokenizer)
    cls_id, sep_id = ids["cls"], ids["sep"]

    # Tokenize every distinct sentence once (BBC repeats boilerplate lines across articles).
    unique = sorted({s for doc in documents for s in doc if s.strip()})
    cache = dict(zip(unique, _tokenize_texts(tokenizer, unique)))
    # Empty sentences and documents are dropped (the original uses blank lines as separators).
    all_documents = [[cache[s] for s in doc if s.strip() and cache[s]] for doc in documents]
    all_documents = [doc for doc in all_documents if doc]
    if len(all_documents) < 2:
        raise ValueError(
            f"make_nsp_examples needs at least 2 non-empty documents (random B segments come from "
            f"another document), got {len(all_documents)}"
        )

    rng = random.Random(seed)
    instances = []
    for document_index in range(len(all_documents)):
        instances.extend(
            _instances_from_document(all_documents, document_index, max_seq_length, short_seq_prob, rng, balanced)
        )
    if not instances:
        raise ValueError("make_nsp_examples: the corpus is too small to build a single pair")
    if shuffle:
        rng.shuffle(instances)

    examples = []
    for tokens_a, tokens_b, is_random_next in instances:
        input_ids = [cls_id] + tokens_a + [sep_id] + tokens_b + [sep_id]
        examples.append(
            {
                "input_ids": input_ids,
                # Segment embeddings: 0 for "[CLS] A [SEP]", 1 for "B [SEP]".
                "token_type_ids": [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1),
                "attention_mask": [1] * len(input_ids),
                "special_tokens_mask": [1] + [0] * len(tokens_a) + [1] + [0] * len(tokens_b) + [1],
                "next_sentence_label": int(is_random_next),
            }
        )
    return examples


def _instances_from_document(
    all_documents: list[list[list[int]]],
    document_index: int,
    max_seq_length: int,
    short_seq_prob: float,
    rng: random.Random,
    balanced: bool,
) -> list[tuple[list[int], list[int], bool]]:
    document = all_documents[document_index]
    # Room for the tokens: [CLS], [SEP], [SEP] take 3 positions.
    max_num_tokens = max_seq_length - 3

    # We usually fill the sequence to max_num_tokens: padding is wasted compute. But sometimes
    # (short_seq_prob) a shorter target, so the model also sees the short inputs of fine-tuning.
    # As in the original, this target is drawn once per document. It is only a target: the
    # pair may end up longer (a whole sentence is added at a time; truncation fixes it) or
    # shorter (at the end of a document).
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    # We do not cut A and B at arbitrary tokens: we accumulate whole sentences into a chunk
    # until it reaches the target, then split the chunk at a sentence boundary into A and B.
    # This keeps NSP about sentences, which is what the task is meant to teach.
    instances = []
    current_chunk: list[list[int]] = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if balanced and len(current_chunk) == 1 and (i == len(document) - 1 or current_length >= target_seq_length):
            # The original forces a random B whenever the chunk is a single sentence, which
            # skews the labels (about 56% random on BBC News). Balanced mode keeps every label
            # a fair coin instead: a lone sentence at the end of the document is dropped (it
            # could only get a random B), and a lone sentence that fills the target by itself
            # takes the next sentence into its chunk so that a true continuation exists.
            if i == len(document) - 1:
                break
            i += 1
            current_chunk.append(document[i])
            current_length += len(document[i])
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                # A = the first a_end sentences of the chunk, a_end drawn uniformly: A is a
                # random-length prefix, so A and B have no fixed size ratio.
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = rng.randint(1, len(current_chunk) - 1)
                tokens_a = [t for sentence in current_chunk[:a_end] for t in sentence]

                tokens_b: list[int] = []
                # Random next: 50% of the time, and always when the chunk holds a single
                # sentence (there is no true continuation inside it to use; never in balanced mode).
                if len(current_chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    # B from ANOTHER document. The original tries 10 random picks and may, in a
                    # tiny corpus, end with its own document (a "random" B that follows A);
                    # drawing from the other n-1 documents avoids that label noise.
                    random_document_index = rng.randint(0, len(all_documents) - 2)
                    if random_document_index >= document_index:
                        random_document_index += 1
                    random_document = all_documents[random_document_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    # The sentences of the chunk after A were not used: put them back (step i
                    # back) so they start the next chunk instead of being wasted.
                    num_unused_segments = len(current_chunk) - a_end
                    i -= num_unused_segments
                else:
                    # Actual next: B = the rest of the chunk, the sentences that follow A.
                    is_random_next = False
                    tokens_b = [t for sentence in current_chunk[a_end:] for t in sentence]

                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                if tokens_a and tokens_b:  # both segments non-empty after truncation
                    instances.append((tokens_a, tokens_b, is_random_next))
            current_chunk = []
            current_length = 0
        i += 1
    return instances


# ----------------------------------------------------------------------------------------------
# Multiple choice
# ----------------------------------------------------------------------------------------------


def encode_multiple_choice(
    tokenizer: Any,
    contexts: Sequence[str],
    choices: Sequence[Sequence[str]],
    max_length: int,
    labels: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """``[CLS] context [SEP] choice [SEP]`` for each of the C choices of each of the B items.

    Returns ``input_ids``, ``token_type_ids``, ``attention_mask`` of shape (B, C, T), padded to
    the longest pair (T <= max_length), and ``labels`` (B,) when given. Only the context is
    truncated (from its end, as ``truncation="only_first"``): the choices are what the model
    compares, so they are kept whole. The pair is assembled here from the two token lists,
    so any tokenizer that returns ``input_ids`` works.
    """
    if isinstance(contexts, str) or isinstance(choices, str):
        raise TypeError("contexts must be a list of strings and choices a list of lists of strings")
    if len(contexts) != len(choices):
        raise ValueError(f"{len(contexts)} contexts but {len(choices)} lists of choices")
    if len(contexts) == 0:
        raise ValueError("encode_multiple_choice got no items")
    n_choices = [len(c) if not isinstance(c, str) else -1 for c in choices]
    if any(n < 1 for n in n_choices):
        bad = next(i for i, n in enumerate(n_choices) if n < 1)
        raise ValueError(f"item {bad}: choices must be a non-empty list of strings, got {choices[bad]!r}")
    if len(set(n_choices)) != 1:
        bad = next(i for i, n in enumerate(n_choices) if n != n_choices[0])
        raise ValueError(
            f"every item must have the same number of choices (the model scores a (B, C, T) tensor): "
            f"item 0 has {n_choices[0]}, item {bad} has {n_choices[bad]}"
        )
    C = n_choices[0]
    if labels is not None:
        if len(labels) != len(contexts):
            raise ValueError(f"{len(labels)} labels for {len(contexts)} items")
        for i, y in enumerate(labels):
            if not isinstance(y, (int, np.integer)) or not 0 <= y < C:
                raise ValueError(f"item {i}: label must be an int in [0, {C}), got {y!r}")
    if not isinstance(max_length, int) or max_length < 4:
        raise ValueError(f"max_length must be an int >= 4, got {max_length!r}")
    ids = _special_ids(tokenizer)
    cls_id, sep_id = ids["cls"], ids["sep"]

    context_ids = _tokenize_texts(tokenizer, list(contexts))
    choice_ids = _tokenize_texts(tokenizer, [c for row in choices for c in row])
    features = []
    for i, ctx in enumerate(context_ids):
        ids_c, types_c = [], []
        for j in range(C):
            choice = choice_ids[i * C + j]
            room = max_length - 3 - len(choice)  # what is left for the context
            if room < 1:
                raise ValueError(
                    f"item {i}, choice {j}: the choice alone has {len(choice)} tokens and does not fit "
                    f"max_length={max_length} with [CLS], [SEP], [SEP] and at least one context token"
                )
            a = ctx[:room]
            ids_c.append([cls_id] + a + [sep_id] + choice + [sep_id])
            types_c.append([0] * (len(a) + 2) + [1] * (len(choice) + 1))
        features.append(
            {"input_ids": ids_c, "token_type_ids": types_c, "attention_mask": [[1] * len(x) for x in ids_c]}
        )
        if labels is not None:
            features[-1]["labels"] = int(labels[i])
    return pad_collate(features, pad_token_id=ids.get("pad", 0))  # (B, C, T)


# ----------------------------------------------------------------------------------------------
# Extractive QA: windows with a document stride
# ----------------------------------------------------------------------------------------------


def _check_qa_inputs(tokenizer, questions, contexts, max_length, doc_stride):
    if isinstance(questions, str) or isinstance(contexts, str):
        raise TypeError("questions and contexts must be lists of strings")
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    if not isinstance(max_length, int) or max_length < 8:
        raise ValueError(f"max_length must be an int >= 8, got {max_length!r}")
    if not isinstance(doc_stride, int) or doc_stride < 0:
        raise ValueError(f"doc_stride must be a non-negative int, got {doc_stride!r}")
    if doc_stride >= max_length:
        raise ValueError(
            f"doc_stride={doc_stride} must be smaller than max_length={max_length}: it is the number of "
            "context tokens two consecutive windows share"
        )
    for i, ctx in enumerate(contexts):
        if not isinstance(ctx, str) or not ctx.strip():
            raise ValueError(f"example {i}: the context is empty")
    # Trap (HF run_qa): some questions start with many spaces; strip them, or they eat the room
    # left for the context. Offsets into the question are never used, so this is harmless.
    questions = [q.lstrip() for q in questions]
    # The room each window leaves for the context must be larger than the overlap, or the
    # windows could not move forward (the Rust fast tokenizer panics: PanicException, not ValueError).
    for i, q in enumerate(_tokenize_texts(tokenizer, questions)):
        room = max_length - len(q) - 3  # [CLS] question [SEP] context [SEP]
        if room <= doc_stride:
            raise ValueError(
                f"example {i}: the question has {len(q)} tokens, which leaves {room} context tokens per "
                f"window with max_length={max_length}; doc_stride={doc_stride} must be smaller than that"
            )
    return questions


def _qa_windows(tokenizer, questions, contexts, max_length, doc_stride):
    # One call does the windowing: truncate only the context ("only_second"), and return every
    # window ("overflowing tokens"), consecutive windows sharing doc_stride context tokens.
    return tokenizer(
        questions,
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )


def prepare_qa_train_features(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    answer_starts: Sequence[int | None],
    answer_texts: Sequence[str | None],
    max_length: int = 384,
    doc_stride: int = 128,
) -> list[dict[str, Any]]:
    """Training windows for extractive QA, as HF ``run_qa.py`` ``prepare_train_features``.

    A long context becomes several windows ``[CLS] question [SEP] context piece [SEP]``.
    ``start_positions``/``end_positions`` are the token indices of the first and last token of
    the answer when the window holds the whole answer, else 0, the [CLS] index ("no answer in
    this window"). An example with ``answer_start=None`` (SQuAD 2.0 style) has no answer.
    Each feature carries ``example_index`` (the example it came from); drop it before
    ``model(**batch)``. Features are unpadded: batch them with ``pad_collate``.
    """
    questions = _check_qa_inputs(tokenizer, questions, contexts, max_length, doc_stride)
    if not (len(answer_starts) == len(answer_texts) == len(contexts)):
        raise ValueError(
            f"{len(contexts)} contexts, {len(answer_starts)} answer_starts, {len(answer_texts)} answer_texts"
        )
    spans = []
    for i, (ctx, start, text) in enumerate(zip(contexts, answer_starts, answer_texts)):
        if start is None or text is None or text == "":
            spans.append(None)
            continue
        if not isinstance(start, (int, np.integer)) or not 0 <= start < len(ctx):
            raise ValueError(f"example {i}: answer_start={start!r} is outside the context (length {len(ctx)})")
        found = ctx[start : start + len(text)]
        if found != text:
            raise ValueError(
                f"example {i}: the answer {text!r} is not at character {start} of the context "
                f"(the context has {found!r} there)"
            )
        # Trap: an answer with surrounding spaces would map its start to the token *before* the
        # space. Strip them and move the character span accordingly.
        start += len(text) - len(text.lstrip())
        end = start + len(text.strip())  # exclusive
        spans.append((start, end))

    enc = _qa_windows(tokenizer, questions, contexts, max_length, doc_stride)
    cls_id = _special_ids(tokenizer)["cls"]
    features = []
    for w, input_ids in enumerate(enc["input_ids"]):
        example_index = enc["overflow_to_sample_mapping"][w]
        offsets = enc["offset_mapping"][w]
        sequence_ids = enc.sequence_ids(w)
        cls_index = input_ids.index(cls_id)  # 0 for BERT
        start_position = end_position = cls_index
        span = spans[example_index]
        if span is not None:
            start_char, end_char = span
            # First and last context tokens of this window.
            first = sequence_ids.index(1)
            last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
            # The label is the answer only when the window holds the *whole* answer; a window
            # with half an answer is labelled "no answer" ([CLS]).
            if offsets[first][0] <= start_char and offsets[last][1] >= end_char:
                start_position = first
                while start_position <= last and offsets[start_position][0] <= start_char:
                    start_position += 1
                start_position -= 1  # the last token starting at or before the answer's start
                end_position = last
                while end_position >= first and offsets[end_position][1] >= end_char:
                    end_position -= 1
                end_position += 1  # the first token ending at or after the answer's end
        features.append(
            {
                "input_ids": list(input_ids),
                "token_type_ids": list(enc["token_type_ids"][w]),
                "attention_mask": list(enc["attention_mask"][w]),
                "start_positions": start_position,
                "end_positions": end_position,
                "example_index": int(example_index),
            }
        )
    return features


def prepare_qa_eval_features(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    max_length: int = 384,
    doc_stride: int = 128,
) -> list[dict[str, Any]]:
    """Evaluation windows, as HF ``run_qa.py`` ``prepare_validation_features``.

    Each feature keeps ``offset_mapping`` (character span in the context of each token) for the
    context tokens only, ``None`` for the question and special tokens, so span decoding can
    never return a piece of the question; and ``example_index`` to gather all windows of an
    example. ``pad_collate`` passes both through as plain lists.
    """
    questions = _check_qa_inputs(tokenizer, questions, contexts, max_length, doc_stride)
    enc = _qa_windows(tokenizer, questions, contexts, max_length, doc_stride)
    features = []
    for w, input_ids in enumerate(enc["input_ids"]):
        sequence_ids = enc.sequence_ids(w)
        offsets = [
            tuple(o) if sequence_ids[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][w])
        ]
        features.append(
            {
                "input_ids": list(input_ids),
                "token_type_ids": list(enc["token_type_ids"][w]),
                "attention_mask": list(enc["attention_mask"][w]),
                "offset_mapping": offsets,
                "example_index": int(enc["overflow_to_sample_mapping"][w]),
            }
        )
    return features


# ----------------------------------------------------------------------------------------------
# Token classification: word labels -> token labels
# ----------------------------------------------------------------------------------------------


def align_labels_with_tokens(
    word_ids: Sequence[int | None], word_labels: Sequence[int], label_all_tokens: bool = False
) -> list[int]:
    """One label per token from one label per word.

    The first sub-token of each word gets the word's label; the other sub-tokens get -100
    (or the word's label again with ``label_all_tokens=True``); special tokens and padding
    (``word_id`` None) get -100. Predictions are then read from first sub-tokens only, one per
    word, which is what word-level metrics (seqeval) compare. Note: with ``label_all_tokens``
    a B-X label is copied as is onto the continuation pieces; map it to I-X first if your
    scheme needs that.
    """
    labels = []
    previous = None
    for w in word_ids:
        if w is None:
            labels.append(IGNORE_INDEX)
        elif not 0 <= w < len(word_labels):
            raise ValueError(f"word id {w} has no label: there are {len(word_labels)} word labels")
        elif w != previous:
            labels.append(int(word_labels[w]))  # first piece of a new word
        else:
            labels.append(int(word_labels[w]) if label_all_tokens else IGNORE_INDEX)
        previous = w
    return labels


def tokenize_and_align_labels(
    tokenizer: Any,
    words_batch: Sequence[Sequence[str]],
    labels_batch: Sequence[Sequence[int]],
    max_length: int = 128,
    label_all_tokens: bool = False,
) -> list[dict[str, list[int]]]:
    """Tokenize pre-split words (CoNLL style) and give each token its word's label.

    Each word is tokenized on its own and the pieces are concatenated; word ``k``'s pieces get
    word id ``k``. This is what HF's ``is_split_into_words=True`` does (words are never merged,
    a word can still split at punctuation), but it needs nothing from the tokenizer beyond
    ``tokenizer(list_of_strings, add_special_tokens=False)``. A word that yields no token at all
    (e.g. a lone control character) is dropped with its label, as in HF. Sequences longer than
    ``max_length`` are cut (a word's last pieces may be lost; its first piece keeps its label).
    Returns unpadded dicts with ``input_ids``, ``token_type_ids``, ``attention_mask``, ``labels``.
    """
    if len(words_batch) != len(labels_batch):
        raise ValueError(f"{len(words_batch)} word lists but {len(labels_batch)} label lists")
    if not isinstance(max_length, int) or max_length < 3:
        raise ValueError(f"max_length must be an int >= 3, got {max_length!r}")
    for i, (words, labels) in enumerate(zip(words_batch, labels_batch)):
        if isinstance(words, str):
            raise TypeError(f"sentence {i}: words must be a list of strings, got one string")
        if len(words) != len(labels):
            raise ValueError(f"sentence {i}: {len(words)} words but {len(labels)} labels")
    ids = _special_ids(tokenizer)
    cls_id, sep_id = ids["cls"], ids["sep"]
    flat = [w for words in words_batch for w in words]
    pieces = _tokenize_texts(tokenizer, flat)  # one batched call for all words of all sentences
    out = []
    k = 0
    for words, labels in zip(words_batch, labels_batch):
        input_ids: list[int] = []
        word_ids: list[int | None] = []
        for w in range(len(words)):
            input_ids.extend(pieces[k])
            word_ids.extend([w] * len(pieces[k]))
            k += 1
        input_ids, word_ids = input_ids[: max_length - 2], word_ids[: max_length - 2]
        input_ids = [cls_id] + input_ids + [sep_id]
        word_ids = [None] + word_ids + [None]
        out.append(
            {
                "input_ids": input_ids,
                "token_type_ids": [0] * len(input_ids),
                "attention_mask": [1] * len(input_ids),
                "labels": align_labels_with_tokens(word_ids, labels, label_all_tokens),
            }
        )
    return out
