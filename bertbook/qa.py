"""Extractive question answering after the model: from start/end logits to answer text, the
SQuAD metrics, baselines, one call that answers a question, and a command line.

    best_spans               the valid (start, end) spans of ONE window, best first
    max_context_mask         run_squad's "maximal context" rule over windows given as token spans
    window_token_spans       recover each window's token span from its ``offset_mapping``
    compute_max_context      both of the above for a whole list of features
    postprocess_predictions  all windows of all examples -> {id: answer text}, plus an n-best
                             list; whole words (snap_to_words) and, for SQuAD 2.0, the null answer
    null_score_diff, apply_null_threshold, best_null_threshold
                             the "no answer" decision and its threshold chosen on validation data
    normalize_answer, exact_match_score, f1_score, squad_evaluate
                             the official SQuAD ``evaluate-v1.1.py`` line for line, and
                             ``evaluate-v2.0.py`` (HasAns / NoAns) when some questions have none
    read_squad               a SQuAD v1.1 or v2.0 JSON file -> rows
    extract_entities, frequent_entity_baseline, typed_entity_baseline, baseline_predictions
                             answers with no model, to measure the model against
    answer                   question + context -> the top answers (the QA pipeline, in one call)
    train_qa, load_qa_model, evaluate_rows, main
                             ``python -m bertbook.qa train | answer | evaluate``

The rules follow google-research/bert ``run_squad.py`` (``write_predictions``,
``_check_is_max_context``) and Hugging Face ``postprocess_qa_predictions`` (examples/pytorch/
question-answering/utils_qa.py). Where the two differ, the comment says which one is followed.

Input format (what ``bertbook.data.prepare_qa_eval_features`` produces, as plain lists):

* a *feature* is one window ``[CLS] question [SEP] context piece [SEP]`` of T tokens with
  ``offset_mapping``: a list of T entries, ``(start_char, end_char)`` (end exclusive) into the
  example's ORIGINAL context for context tokens and ``None`` for everything else (question,
  [CLS], [SEP], padding); and ``example_index``: the position of its example in ``examples``.
* the model gives ``start_logits`` and ``end_logits``, (T,) per feature.

Decoding, metrics and baselines need only numpy and the standard library (torch tensors are
accepted and converted), so those parts can be copied alone into another project; ``answer`` and
the command line import torch and the rest of bertbook when they are called.
"""

from __future__ import annotations

import json
import math
import re
import string
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .tokenization import _is_chinese_char, _is_punctuation

Offset = tuple[int, int] | None  # (start_char, end_char) into the context, or None: not context


@dataclass(frozen=True)
class SpanCandidate:
    """One candidate answer span inside one window."""

    start_token: int  # index in the window, inclusive
    end_token: int  # index in the window, inclusive
    score: float  # start_logit + end_logit: the log of an unnormalized span probability
    start_char: int  # into the original context
    end_char: int  # exclusive: the answer is context[start_char:end_char]
    start_logit: float
    end_logit: float


# ----------------------------------------------------------------------------------------------
# Input checks and conversions
# ----------------------------------------------------------------------------------------------


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _as_logits(x: Any, name: str) -> np.ndarray:
    """(T,) float64 numpy array from a list, numpy array or torch tensor."""
    if hasattr(x, "detach"):  # a torch tensor; .float() first because numpy has no bfloat16
        x = x.detach().float().cpu().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one window's logits, shape (T,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _as_offsets(offset_mapping: Sequence[Any], name: str = "offset_mapping") -> list[Offset]:
    """Offsets as tuples (lists come back from JSON or `datasets`), None kept."""
    if not isinstance(offset_mapping, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a list of (start_char, end_char) pairs or None, got {type(offset_mapping).__name__}")
    out: list[Offset] = []
    for k, o in enumerate(offset_mapping):
        if o is None:
            out.append(None)
            continue
        if type(o) is tuple and len(o) == 2 and type(o[0]) is int and type(o[1]) is int and 0 <= o[0] <= o[1]:
            out.append(o)  # already clean (the common case): no conversion
            continue
        # Concrete types, not typing.Sequence: an ABC isinstance check per token is slow at SQuAD size.
        if not isinstance(o, (tuple, list, np.ndarray)) or len(o) != 2:
            raise ValueError(f"{name}[{k}] must be a (start_char, end_char) pair or None, got {o!r}")
        s, e = int(o[0]), int(o[1])
        if not 0 <= s <= e:
            raise ValueError(f"{name}[{k}] = {o!r} is not a span 0 <= start_char <= end_char")
        out.append((s, e))
    return out


# ----------------------------------------------------------------------------------------------
# The maximal-context rule (run_squad.py `_check_is_max_context`)
# ----------------------------------------------------------------------------------------------


def max_context_mask(window_starts: Sequence[int], window_lengths: Sequence[int]) -> list[list[bool]]:
    """For windows over one tokenized context, mark where each token has its *maximal context*.

    Window ``w`` covers context tokens ``window_starts[w] .. window_starts[w] + window_lengths[w] - 1``
    (positions in the example's whole context token sequence, question and specials not counted).
    Returns one list per window, ``window_lengths[w]`` booleans long: ``mask[w][i]`` is True when
    context token ``window_starts[w] + i`` is scored in window ``w``.

    Why: with a document stride, a token near the edge of one window also sits nearer the middle
    of the next one. The model sees only its own window, so it predicts best where it has words on
    both sides. run_squad keeps, for each token, the single window where
    ``min(tokens to its left, tokens to its right) + 0.01 * window length`` is largest (the small
    length term breaks ties toward the longer window; a remaining tie goes to the first window).
    Example: 10 tokens, windows [0, 6) and [4, 10). Token 4 has min(4, 1) = 1 context in window 0
    but min(0, 5) = 0 in window 1, so it belongs to window 0; token 5 has min(5, 0) = 0 in window
    0 and min(1, 4) = 1 in window 1, so it belongs to window 1.
    """
    if len(window_starts) != len(window_lengths):
        raise ValueError(f"{len(window_starts)} window_starts but {len(window_lengths)} window_lengths")
    for w, (s, n) in enumerate(zip(window_starts, window_lengths)):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"window_starts[{w}] must be an int >= 0, got {s!r}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"window_lengths[{w}] must be an int >= 0, got {n!r}")
    masks = []
    for w, (start_w, length_w) in enumerate(zip(window_starts, window_lengths)):
        mask = []
        for i in range(length_w):
            position = start_w + i
            best_score, best_window = None, None
            for v, (start, length) in enumerate(zip(window_starts, window_lengths)):
                end = start + length - 1
                if position < start or position > end:
                    continue  # window v does not hold this token
                num_left_context = position - start
                num_right_context = end - position
                score = min(num_left_context, num_right_context) + 0.01 * length
                # Strictly greater: on a tie the earlier window keeps the token, as in run_squad.
                if best_score is None or score > best_score:
                    best_score, best_window = score, v
            mask.append(best_window == w)
        masks.append(mask)
    return masks


def window_token_spans(offset_mappings: Sequence[Sequence[Offset]]) -> list[tuple[int, int]]:
    """``(start, length)`` of each window's context tokens in the example's whole context.

    ``offset_mappings`` are the windows of ONE example, in the order the tokenizer made them
    (first window first). The tokenizer cuts one token sequence of the context into overlapping
    slices, so the windows' token spans are not in the features; they are recovered here from
    the offsets: the first window starts at token 0, and each next window starts where its first
    context tokens match the tail of the previous window (the overlap, ``doc_stride`` tokens for
    ``prepare_qa_eval_features``); with no overlap it starts right after the previous one. The
    whole run of offsets is matched, not just the first, because two tokens can share one offset
    (a character that normalizes to two tokens), and a single match could then be one off.

    Raises ValueError when a window is not the continuation of the previous one (windows out of
    order, or from another example).
    """
    return _window_token_spans([_as_offsets(om, f"offset_mappings[{w}]") for w, om in enumerate(offset_mappings)])


def _window_token_spans(offset_mappings: list[list[Offset]]) -> list[tuple[int, int]]:
    windows = [[o for o in om if o is not None] for om in offset_mappings]
    spans: list[tuple[int, int]] = []
    prev: list[tuple[int, int]] | None = None
    prev_start = 0
    for w, cur in enumerate(windows):
        if prev is None:
            start = 0
        elif not prev:  # the previous window held no context token: nothing to align against
            raise ValueError(f"window {w - 1} has no context tokens; cannot place window {w} after it")
        else:
            m = len(prev)
            # Largest overlap first (smallest shift j >= 1): prev[j:] must equal cur's first m-j offsets.
            shift = None
            for j in range(1, m + 1):
                tail = prev[j:]
                if len(tail) <= len(cur) and cur[: len(tail)] == tail and (j < m or not cur or cur[0][0] >= prev[-1][1]):
                    shift = j
                    break
            if shift is None:
                raise ValueError(
                    f"window {w} does not continue window {w - 1}: its context tokens start at characters "
                    f"{cur[0] if cur else None}, while window {w - 1} covers characters "
                    f"{prev[0][0]}..{prev[-1][1]}; pass the windows of one example in the tokenizer's order"
                )
            start = prev_start + shift
        spans.append((start, len(cur)))
        prev, prev_start = cur, start
    return spans


def compute_max_context(features: Sequence[Mapping[str, Any]]) -> list[list[bool]]:
    """``token_is_max_context`` for every feature: one list of T booleans per feature.

    Features are grouped by ``example_index``; within an example they are taken in the order they
    appear in ``features`` (the tokenizer's order, as ``prepare_qa_eval_features`` returns them).
    Question, special and padding tokens (offset None) are False. With one window per example every
    context token is True, so the rule only matters for contexts longer than one window.
    """
    for f, feature in enumerate(features):
        _check_feature_keys(feature, f, ("example_index", "offset_mapping"))
    return _compute_max_context(
        [int(feature["example_index"]) for feature in features],
        [_as_offsets(feature["offset_mapping"], f"features[{f}]['offset_mapping']") for f, feature in enumerate(features)],
    )


def _compute_max_context(example_indices: list[int], all_offsets: list[list[Offset]]) -> list[list[bool]]:
    by_example: dict[int, list[int]] = defaultdict(list)
    for f, example_index in enumerate(example_indices):
        by_example[example_index].append(f)
    out: list[list[bool] | None] = [None] * len(all_offsets)
    for example_index, feature_ids in by_example.items():
        offsets = [all_offsets[f] for f in feature_ids]
        try:
            spans = _window_token_spans(offsets)
        except ValueError as err:
            raise ValueError(f"example_index {example_index}: {err}") from None
        masks = max_context_mask([s for s, _ in spans], [n for _, n in spans])
        for f, om, mask in zip(feature_ids, offsets, masks):
            # Scatter the per-context-token mask back to the window's token positions.
            it = iter(mask)
            out[f] = [next(it) if o is not None else False for o in om]
    return out  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# One window: n-best spans
# ----------------------------------------------------------------------------------------------


def _top_indices(logits: np.ndarray, n: int) -> list[int]:
    # The n largest logits, best first. A stable sort on -logits puts equal logits in index
    # order, so ties always go to the earlier token and the result never depends on the platform.
    return [int(i) for i in np.argsort(-logits, kind="stable")[:n]]


def best_spans(
    start_logits: Any,
    end_logits: Any,
    offset_mapping: Sequence[Offset],
    n_best: int = 20,
    max_answer_length: int = 30,
    token_is_max_context: Sequence[bool] | None = None,
) -> list[SpanCandidate]:
    """All valid answer spans of ONE window, best first.

    ``start_logits``, ``end_logits``: (T,); ``offset_mapping``: T entries, ``(start_char, end_char)``
    for context tokens and ``None`` elsewhere; ``token_is_max_context``: T booleans (see
    ``compute_max_context``), or None to score every context token.

    As run_squad: only the ``n_best`` best start tokens and the ``n_best`` best end tokens are
    paired (n_best**2 pairs at most, instead of T**2), and a pair is rejected when it is not a
    possible answer. The survivors are sorted by ``start_logit + end_logit``, ties going to the
    earlier start, then the shorter span. All survivors are returned (up to n_best**2); an empty
    list means no valid span among the top indices.
    """
    _check_positive_int("n_best", n_best)
    _check_positive_int("max_answer_length", max_answer_length)
    start = _as_logits(start_logits, "start_logits")  # (T,)
    end = _as_logits(end_logits, "end_logits")  # (T,)
    offsets = _as_offsets(offset_mapping)
    if not (len(start) == len(end) == len(offsets)):
        raise ValueError(
            f"start_logits ({len(start)}), end_logits ({len(end)}) and offset_mapping ({len(offsets)}) "
            "must have the same length T: one entry per token of the window"
        )
    if token_is_max_context is not None and len(token_is_max_context) != len(offsets):
        raise ValueError(
            f"token_is_max_context has {len(token_is_max_context)} entries, the window has {len(offsets)} tokens"
        )

    candidates = []
    # Rule 0 (both references): pair only the top n_best starts with the top n_best ends. This is
    # done before any filtering, so if all n_best best starts are invalid (say, on the question)
    # nothing survives and the answer is "": run_squad and HF behave the same way.
    top_ends = _top_indices(end, n_best)
    for s in _top_indices(start, n_best):
        for e in top_ends:
            # Rule 1: the span must lie in the context. Offsets are None for the question (an
            # answer is never a piece of the question), [CLS] (SQuAD 2.0's "no answer" slot,
            # which v1.1 decoding must not return), [SEP] and padding.
            if offsets[s] is None or offsets[e] is None:
                continue
            # Rule 2: inverted spans (end before start) are not spans. The start and end logits
            # are independent, so the best end can well lie before the best start.
            if e < s:
                continue
            # Rule 3: too long. Counted in tokens, both ends included, as run_squad
            # (end - start + 1 > max_answer_length); SQuAD answers are short, and long spans
            # are the typical error of independent start/end scores.
            if e - s + 1 > max_answer_length:
                continue
            # Rule 4 (run_squad): a start token that also appears in another window, where it has
            # more words around it, is scored only there. Only the start is checked, as in run_squad.
            if token_is_max_context is not None and not token_is_max_context[s]:
                continue
            # Rule 5: a token with an empty character span, (k, k), covers no text: that is how raw
            # tokenizer offsets mark special tokens ((0, 0) for [CLS]). Left in, [CLS] (0, 0) up to
            # the first word would decode to that word. (Raw offsets still map question tokens
            # into the question; set them to None, as prepare_qa_eval_features does.)
            if offsets[s][1] <= offsets[s][0] or offsets[e][1] <= offsets[e][0]:
                continue
            start_char, end_char = offsets[s][0], offsets[e][1]
            candidates.append(
                SpanCandidate(
                    start_token=s,
                    end_token=e,
                    score=float(start[s] + end[e]),  # logits are log-probabilities up to a constant
                    start_char=start_char,
                    end_char=end_char,
                    start_logit=float(start[s]),
                    end_logit=float(end[e]),
                )
            )
    # Best score first; equal scores: earlier start, then shorter (deterministic, whatever the
    # order the pairs were visited in).
    candidates.sort(key=lambda c: (-c.score, c.start_token, c.end_token))
    return candidates


# ----------------------------------------------------------------------------------------------
# All windows of all examples -> answer text
# ----------------------------------------------------------------------------------------------


def _check_feature_keys(feature: Any, f: int, keys: Sequence[str]) -> None:
    if not isinstance(feature, Mapping):
        raise TypeError(f"features[{f}] must be a dict, got {type(feature).__name__}")
    for key in keys:
        if key not in feature:
            raise ValueError(f"features[{f}] has no '{key}' (keys: {sorted(feature)})")


def _example_id_and_context(example: Any, i: int) -> tuple[Any, str]:
    if isinstance(example, Mapping):
        if "id" not in example or "context" not in example:
            raise ValueError(f"examples[{i}] needs keys 'id' and 'context', has {sorted(example)}")
        ex_id, context = example["id"], example["context"]
    elif isinstance(example, Sequence) and not isinstance(example, (str, bytes)) and len(example) == 2:
        ex_id, context = example
    else:
        raise TypeError(f"examples[{i}] must be a dict with 'id' and 'context' or an (id, context) pair, got {example!r}")
    if not isinstance(context, str):
        raise TypeError(f"examples[{i}] ({ex_id!r}): context must be a str, got {type(context).__name__}")
    if not context.strip():
        raise ValueError(f"examples[{i}] ({ex_id!r}): the context is empty; there is nothing to extract an answer from")
    return ex_id, context


def _logit_rows(all_logits: Any, name: str, n_features: int) -> list[Any]:
    if hasattr(all_logits, "detach"):
        all_logits = all_logits.detach().float().cpu().numpy()
    if isinstance(all_logits, np.ndarray) and all_logits.ndim != 2:
        raise ValueError(f"{name} must have shape (num_features, T), got {all_logits.shape}")
    if len(all_logits) != n_features:
        raise ValueError(f"{name} has {len(all_logits)} rows but there are {n_features} features")
    return list(all_logits)


def _softmax(scores: Sequence[float]) -> list[float]:
    x = np.asarray(scores, dtype=np.float64)
    x = np.exp(x - x.max())  # minus the max: exp never overflows, the result is unchanged
    return (x / x.sum()).tolist()


def postprocess_predictions(
    examples: Sequence[Any],
    features: Sequence[Mapping[str, Any]],
    all_start_logits: Any,
    all_end_logits: Any,
    n_best: int = 20,
    max_answer_length: int = 30,
    use_max_context: bool = True,
    snap_to_words: bool = True,
    version_2_with_negative: bool = False,
    null_score_diff_threshold: float = 0.0,
) -> tuple[dict[Any, str], dict[Any, list[dict[str, Any]]]]:
    """Answer text for every example, from the logits of all its windows.

    ``examples``: one ``{"id": ..., "context": ...}`` dict (or ``(id, context)`` pair) per question,
    in the order the features were made from them. ``features``: dicts with ``example_index``
    and ``offset_mapping`` (``prepare_qa_eval_features``); an optional ``token_is_max_context``
    in a feature is used as given, else it is computed with ``compute_max_context`` (when
    ``use_max_context``; False skips the rule, as HF ``postprocess_qa_predictions`` does).
    ``all_start_logits``, ``all_end_logits``: one (T_f,) row per feature, a list or a
    (num_features, T) array / tensor. A row may be LONGER than its feature's offset_mapping: that is
    the right padding a batch adds (``pad_collate``), and it is cut off before the top-n_best
    search so padding positions cannot take top slots (the answer is then the same however the
    features were batched). A shorter row is an error.

    ``snap_to_words`` (default True): each span is widened to whole words and loses stray
    punctuation at its edges (``snap_to_words``, run_squad's ``get_final_text``), so a span
    that covers the word piece "##ne" of "Marchionne" answers "Marchionne", never "ne".

    ``version_2_with_negative`` (SQuAD 2.0): the [CLS] "span" (``cls_index`` of a feature,
    default 0) is the *null answer*, scored ``start_logit[CLS] + end_logit[CLS]``, the minimum
    over the example's windows (HF ``postprocess_qa_predictions``). It joins the n-best as text
    "" and the answer is "" when ``null score - best non-null score > null_score_diff_threshold``
    (choose the threshold on validation data: ``best_null_threshold``; ``apply_null_threshold``
    decides again for another threshold without decoding again).

    Returns ``(predictions, nbest)``: ``predictions[id]`` is the answer text, taken from the
    ORIGINAL context as ``context[start_char:end_char]`` (decoding tokens would lose case, accents
    and spacing for an uncased WordPiece vocabulary). ``nbest[id]`` lists up to ``n_best`` distinct
    answers, best first, each a dict with text, score, probability (softmax over the listed
    scores), start_logit, end_logit, start_char, end_char, feature_index (and the null entry,
    when asked for, even if it is not among the ``n_best`` best). An example with no valid span
    in any window gets the answer "" and a RuntimeWarning names how many did.
    """
    _check_positive_int("n_best", n_best)
    _check_positive_int("max_answer_length", max_answer_length)
    if (
        not isinstance(null_score_diff_threshold, (int, float, np.floating))
        or isinstance(null_score_diff_threshold, bool)
        or math.isnan(null_score_diff_threshold)
    ):
        raise ValueError(
            f"null_score_diff_threshold must be a number, got {null_score_diff_threshold!r}"
        )
    if isinstance(examples, (str, bytes)) or isinstance(features, (str, bytes)):
        raise TypeError("examples and features must be lists")
    parsed = [_example_id_and_context(ex, i) for i, ex in enumerate(examples)]
    ids = [ex_id for ex_id, _ in parsed]
    if len(set(ids)) != len(ids):
        dup = next(x for x, c in Counter(ids).items() if c > 1)
        raise ValueError(f"example ids must be unique; {dup!r} appears more than once")
    starts = _logit_rows(all_start_logits, "all_start_logits", len(features))
    ends = _logit_rows(all_end_logits, "all_end_logits", len(features))
    features_per_example = _features_per_example(features, len(examples))
    all_offsets = [
        _as_offsets(feature["offset_mapping"], f"features[{f}]['offset_mapping']")
        for f, feature in enumerate(features)
    ]
    max_context = _max_context_or_none(features, all_offsets, use_max_context)

    predictions: dict[Any, str] = {}
    all_nbest: dict[Any, list[dict[str, Any]]] = {}
    n_empty = 0
    for i, (ex_id, context) in enumerate(parsed):
        pooled, null = [], None  # (candidate, feature index) over every window of this example
        for f in features_per_example.get(i, []):
            start_row, end_row = _window_logits(starts[f], ends[f], all_offsets[f], context, f)
            for cand in best_spans(
                start_row,
                end_row,
                all_offsets[f],
                n_best=n_best,
                max_answer_length=max_answer_length,
                token_is_max_context=max_context[f],
            ):
                pooled.append((cand, f))
            if version_2_with_negative:
                null = _min_null(null, start_row, end_row, features[f], f)
        nbest = _nbest_entries(pooled, context, n_best, snap_to_words)
        if null is not None:
            nbest.append(null)  # always listed, as HF; sorted into place with the others
            nbest.sort(key=lambda e: -e["score"])
        # Probabilities over the n-best only (run_squad's _compute_softmax): they say how the
        # model splits its belief among these candidates, not a calibrated P(answer is right).
        for entry, p in zip(nbest, _softmax([e["score"] for e in nbest]) if nbest else []):
            entry["probability"] = p
        if not any(e["text"] for e in nbest):
            n_empty += 1  # no valid span in any window: answer "" (run_squad writes "empty")
        predictions[ex_id] = _decide(nbest, null_score_diff_threshold)
        all_nbest[ex_id] = nbest
    if n_empty:
        warnings.warn(
            f"{n_empty} of {len(parsed)} examples had no valid span among the top {n_best} "
            "start/end "
            "tokens of any window (or no window at all); their answer is ''",
            RuntimeWarning,
            stacklevel=2,
        )
    return predictions, all_nbest


def _features_per_example(
    features: Sequence[Mapping[str, Any]], n_examples: int
) -> dict[int, list[int]]:
    by_example: dict[int, list[int]] = defaultdict(list)
    for f, feature in enumerate(features):
        _check_feature_keys(feature, f, ("example_index", "offset_mapping"))
        example_index = feature["example_index"]
        if (
            isinstance(example_index, bool)
            or not isinstance(example_index, (int, np.integer))
            or not (0 <= example_index < n_examples)
        ):
            raise ValueError(
                f"features[{f}] has example_index={example_index!r}, but there are {n_examples} "
                f"examples (allowed 0..{n_examples - 1})"
            )
        by_example[int(example_index)].append(f)
    return by_example


def _max_context_or_none(features, all_offsets, use_max_context: bool) -> list[Any]:
    """Each feature's ``token_is_max_context``: given, computed, or None (rule off)."""
    if not use_max_context:
        return [None] * len(features)
    given: list[Any] = [feature.get("token_is_max_context") for feature in features]
    if all(m is not None for m in given):
        return given
    computed = _compute_max_context(
        [int(feature["example_index"]) for feature in features], all_offsets
    )
    return [g if g is not None else c for g, c in zip(given, computed)]


def _window_logits(start_row, end_row, offsets: list[Offset], context: str, f: int):
    """One window's (T,) start and end logits, the batch padding beyond its T tokens cut off."""
    T = len(offsets)
    for name, row in (("all_start_logits", start_row), ("all_end_logits", end_row)):
        if len(row) < T:
            raise ValueError(
                f"{name}[{f}] has {len(row)} logits but the feature's offset_mapping has {T} tokens"
            )
    for o in offsets:
        if o is not None and o[1] > len(context):
            raise ValueError(
                f"features[{f}] has offset {o} beyond its context ({len(context)} characters): "
                "is example_index right?"
            )
    return _as_logits(start_row[:T], f"all_start_logits[{f}]"), _as_logits(
        end_row[:T], f"all_end_logits[{f}]"
    )


def _min_null(
    best: dict | None, start: np.ndarray, end: np.ndarray, feature: Mapping, f: int
) -> dict:
    """The null ("no answer") entry with the lower score of ``best`` and this window's."""
    cls = feature.get("cls_index", 0)  # [CLS] is token 0 for BERT
    score = float(start[cls] + end[cls])
    # The MINIMUM over windows (HF): a window that does not hold the answer rightly votes for
    # [CLS], so "no answer" must win in every window before it wins for the example.
    if best is not None and best["score"] <= score:
        return best
    return {
        "text": "",
        "score": score,
        "start_logit": float(start[cls]),
        "end_logit": float(end[cls]),
        "start_char": 0,
        "end_char": 0,
        "feature_index": f,
    }


def _nbest_entries(pooled, context: str, n_best: int, snap: bool) -> list[dict[str, Any]]:
    # The best span over ALL windows of the example: scores from different windows are
    # compared directly (as both references do). Ties: earlier, then shorter, then first window.
    pooled.sort(key=lambda cf: (-cf[0].score, cf[0].start_char, cf[0].end_char, cf[1]))
    nbest: list[dict[str, Any]] = []
    seen = set()
    for cand, f in pooled:
        start_char, end_char = cand.start_char, cand.end_char
        if snap:
            start_char, end_char = snap_to_words(context, start_char, end_char)
        # The text comes from the original context through character offsets, never from tokens.
        text = context[start_char:end_char]
        # run_squad keeps one entry per distinct text (the best-scoring one): with overlapping
        # windows, the same words twice in a passage, or two spans inside one word that snap to
        # the same word, one answer would otherwise be listed several times.
        if text in seen:
            continue
        seen.add(text)
        nbest.append(
            {
                "text": text,
                "score": cand.score,
                "start_logit": cand.start_logit,
                "end_logit": cand.end_logit,
                "start_char": start_char,
                "end_char": end_char,
                "feature_index": f,
            }
        )
        if len(nbest) == n_best:
            break
    return nbest


def null_score_diff(nbest: Sequence[Mapping[str, Any]]) -> float:
    """``null score - best non-null score`` of one example's n-best list (with its null entry).

    +inf when no span was valid (only "no answer" is left); -inf when the list has no null
    entry (decoded without ``version_2_with_negative``)."""
    null = next((e["score"] for e in nbest if e["text"] == ""), None)
    span = next((e["score"] for e in nbest if e["text"] != ""), None)
    if null is None:
        return -math.inf
    if span is None:
        return math.inf
    return float(null - span)


def _decide(nbest: Sequence[Mapping[str, Any]], threshold: float) -> str:
    """The answer: "" when the null beats the best span by more than ``threshold``."""
    best_span = next((e["text"] for e in nbest if e["text"] != ""), "")
    return "" if null_score_diff(nbest) > threshold else best_span


def apply_null_threshold(
    all_nbest: Mapping[Any, Sequence[Mapping[str, Any]]], threshold: float
) -> dict[Any, str]:
    """{id: answer} from ``postprocess_predictions(..., version_2_with_negative=True)``'s n-best
    lists, for another ``threshold`` (predict "" when null - best span > threshold)."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float, np.floating))
        or math.isnan(threshold)
    ):
        raise ValueError(f"threshold must be a number, got {threshold!r}")
    return {qid: _decide(nbest, threshold) for qid, nbest in all_nbest.items()}


# ----------------------------------------------------------------------------------------------
# Whole words (run_squad.py's get_final_text)
# ----------------------------------------------------------------------------------------------


def _is_word_char(ch: str) -> bool:
    """A character the BasicTokenizer keeps inside a word (what WordPiece then cuts into pieces)."""
    # The tokenizer's own rules, so a snapped answer ends where BasicTokenizer ends a word.
    return not ch.isspace() and not _is_punctuation(ch) and not _is_chinese_char(ord(ch))


_TRIM_ALWAYS = ",;:!?"  # never the edge of an answer in SQuAD-style data
_PAIRS = {"(": ")", "[": "]", "{": "}", "“": "”", "‘": "’"}


def _trim_edges(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop punctuation hanging at the edges of ``text[start:end]``, never all of it."""

    def stray(ch: str, span: str, at_end: bool) -> bool:
        if ch in _TRIM_ALWAYS:
            return True
        if ch == ".":
            # A final "." stays when its word has another one inside: "U.S.", "p.m.", "No. 10."
            # loses it only as sentence end. A leading "." is always stray.
            last_word = span.split()[-1] if span.split() else ""
            return not at_end or "." not in last_word[:-1]
        if ch in "\"'":
            return span.count(ch) % 2 == 1  # an unpaired straight quote
        opening = ch in _PAIRS
        closing = ch in _PAIRS.values()
        if opening or closing:
            partner = _PAIRS[ch] if opening else next(k for k, v in _PAIRS.items() if v == ch)
            return partner not in span  # a bracket whose partner is outside the answer
        return False

    s, e = start, end
    changed = True
    while changed and e - s > 1:  # until neither edge moves: "Fiat, ." -> "Fiat, " -> "Fiat"
        changed = False
        if text[e - 1].isspace() or stray(text[e - 1], text[s:e], at_end=True):
            e, changed = e - 1, True
        elif text[s].isspace() or stray(text[s], text[s:e], at_end=False):
            s, changed = s + 1, True
    return s, e


def snap_to_words(context: str, start_char: int, end_char: int) -> tuple[int, int]:
    """Widen ``context[start_char:end_char]`` to whole words, then drop stray edge punctuation.

    What run_squad.py does with ``tok_to_orig_index`` and ``get_final_text``: WordPiece splits
    rare words ("FAO" -> "fa", "##o"; "Marchionne" -> "marchion", "##ne"), the start and end
    scores are per piece, and the best span can begin or end inside a word. Here a span edge
    that falls between two word characters (not space, not punctuation, as BERT's
    BasicTokenizer defines words) moves outward to the word's edge: "O" of "FAO" -> "FAO",
    "Marchion" -> "Marchionne". Punctuation is its own token, so it is never widened into;
    a comma, colon or unpaired quote/bracket left at an edge is trimmed (as the SQuAD
    normalisation would ignore it anyway), and a final full stop unless it ends an
    abbreviation such as "U.S.". Returns the new ``(start_char, end_char)``, end exclusive.
    """
    if not isinstance(context, str):
        raise TypeError(f"context must be a str, got {type(context).__name__}")
    for name, value in (("start_char", start_char), ("end_char", end_char)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if not 0 <= start_char < end_char <= len(context):
        raise ValueError(
            f"({start_char}, {end_char}) is not a non-empty span of a context of "
            f"{len(context)} characters"
        )
    s, e = int(start_char), int(end_char)
    while s > 0 and _is_word_char(context[s - 1]) and _is_word_char(context[s]):
        s -= 1
    while e < len(context) and _is_word_char(context[e]) and _is_word_char(context[e - 1]):
        e += 1
    return _trim_edges(context, s, e)


# ----------------------------------------------------------------------------------------------
# SQuAD v1.1 metrics (the official evaluate-v1.1.py)
# ----------------------------------------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official v1.1 order)."""
    if not isinstance(s, str):
        raise TypeError(f"answers must be str, got {type(s).__name__}")

    def remove_articles(text: str) -> str:
        # Word boundaries: "the" and "a" go, "theatre" and "Paris" stay. Runs after punctuation
        # removal, so "the," loses its comma first and is then removed too.
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        # ASCII punctuation only (string.punctuation), as the official script: an en dash or a
        # curly quote stays part of its word.
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text: str) -> str:
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """True when the two answers are equal after ``normalize_answer``."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 (0..1) of the normalized answers, counting repeated words (a Counter)."""
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(
        ground_truth_tokens
    )  # min count of each shared word
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0  # also covers an empty prediction (v1.1: "" scores 0 even against an empty gold)
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def metric_max_over_ground_truths(
    metric_fn, prediction: str, ground_truths: Sequence[str]
) -> float:
    """Best score against any of the gold answers (SQuAD dev has up to 6 per question)."""
    return max(metric_fn(prediction, gt) for gt in ground_truths)


def _gold_answers(references: Any) -> dict[Any, list[str]]:
    """{id: [gold texts]} from a dict {id: [texts] or text} or HF SQuAD rows
    ``{"id": ..., "answers": {"text": [...], "answer_start": [...]}}``. An empty list: the
    question has no answer (SQuAD 2.0)."""
    if isinstance(references, Mapping):
        items = list(references.items())
    elif isinstance(references, Sequence) and not isinstance(references, (str, bytes)):
        items = []
        for k, row in enumerate(references):
            if not isinstance(row, Mapping) or "id" not in row or "answers" not in row:
                raise ValueError(
                    f"references[{k}] must be a dict with 'id' and 'answers', got {row!r}"
                )
            answers = row["answers"]
            items.append((row["id"], answers["text"] if isinstance(answers, Mapping) else answers))
    else:
        raise TypeError(
            "references must be a dict {id: [answers]} or a list of SQuAD rows, "
            f"got {type(references).__name__}"
        )
    gold: dict[Any, list[str]] = {}
    for qid, texts in items:
        if qid in gold:
            raise ValueError(f"question id {qid!r} appears twice in references")
        texts = [texts] if isinstance(texts, str) else list(texts)
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(
                    f"question {qid!r}: gold answers must be str, got {type(t).__name__}"
                )
        gold[qid] = texts
    if not gold:
        raise ValueError("references is empty: there is nothing to average over")
    return gold


def _v2_scores(prediction: str, ground_truths: list[str]) -> tuple[float, float]:
    """(exact, f1) of one question as the official evaluate-v2.0.py ``get_raw_scores``."""
    # Gold answers that normalise to nothing count as "no answer"; with none left, the only
    # right prediction is "" (and then F1 is 1: both token lists are empty).
    golds = [a for a in ground_truths if normalize_answer(a)] or [""]
    exact = max(float(normalize_answer(a) == normalize_answer(prediction)) for a in golds)
    f1 = max(_v2_f1(prediction, a) for a in golds)
    return exact, f1


def _v2_f1(prediction: str, ground_truth: str) -> float:
    if not normalize_answer(prediction) or not normalize_answer(ground_truth):
        return float(normalize_answer(prediction) == normalize_answer(ground_truth))
    return f1_score(prediction, ground_truth)


def _checked_prediction(predictions: Mapping[Any, str], qid: Any) -> str | None:
    if qid not in predictions:
        return None
    prediction = predictions[qid]
    if not isinstance(prediction, str):
        raise TypeError(f"prediction for {qid!r} must be a str, got {type(prediction).__name__}")
    return prediction


def squad_evaluate(predictions: Mapping[Any, str], references: Any) -> dict[str, float]:
    """SQuAD metrics on a 0-100 scale, averaged over the questions in references.

    ``predictions``: {id: answer text} ("" = "no answer"). ``references``: {id: [gold texts]}
    (or one text), or HF ``datasets`` SQuAD rows with ``id`` and ``answers["text"]``. Each
    question scores its best match over its gold answers. As the official scripts: a question
    without a prediction scores 0 (and a warning names how many), predictions for ids not in
    references are ignored.

    All questions answerable (SQuAD v1.1): ``{"exact_match", "f1"}`` as ``evaluate-v1.1.py``.
    Some with no gold answer (an empty list, SQuAD 2.0): scored as ``evaluate-v2.0.py`` (an
    unanswerable question scores 1 for the prediction "" and 0 for any text), and the result
    adds ``total``, ``HasAns_exact``, ``HasAns_f1``, ``HasAns_total``, ``NoAns_exact`` (the
    share of unanswerable questions answered "": the no-answer accuracy), ``NoAns_f1`` (the
    same number) and ``NoAns_total``.
    """
    if not isinstance(predictions, Mapping):
        raise TypeError(
            f"predictions must be a dict {{id: answer text}}, got {type(predictions).__name__}"
        )
    gold = _gold_answers(references)
    version_2 = any(not texts for texts in gold.values())
    exact: dict[Any, float] = {}
    f1: dict[Any, float] = {}
    missing = 0
    for qid, ground_truths in gold.items():
        prediction = _checked_prediction(predictions, qid)
        if prediction is None:
            missing += 1  # official: "Unanswered question ... will receive score 0."
            exact[qid] = f1[qid] = 0.0
        elif version_2:
            exact[qid], f1[qid] = _v2_scores(prediction, ground_truths)
        else:
            exact[qid] = float(
                metric_max_over_ground_truths(exact_match_score, prediction, ground_truths)
            )
            f1[qid] = metric_max_over_ground_truths(f1_score, prediction, ground_truths)
    if missing:
        warnings.warn(
            f"{missing} of {len(gold)} questions have no prediction and score 0",
            RuntimeWarning,
            stacklevel=2,
        )
    result = {"exact_match": _mean_percent(exact.values()), "f1": _mean_percent(f1.values())}
    if not version_2:
        return result
    result["total"] = len(gold)
    for name, keep in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, texts in gold.items() if bool(texts) == keep]
        if qids:
            result[f"{name}_exact"] = _mean_percent(exact[q] for q in qids)
            result[f"{name}_f1"] = _mean_percent(f1[q] for q in qids)
        result[f"{name}_total"] = len(qids)
    return result


def _mean_percent(values) -> float:
    values = list(values)
    return 100.0 * sum(values) / len(values)


def best_null_threshold(
    all_nbest: Mapping[Any, Sequence[Mapping[str, Any]]], references: Any, metric: str = "f1"
) -> tuple[float, float]:
    """The null-score threshold that maximises ``metric`` ("f1" or "exact") on ``references``.

    ``all_nbest``: the n-best lists of ``postprocess_predictions(...,
    version_2_with_negative=True)`` (each holds its null entry). As ``find_best_thresh`` of the
    official evaluate-v2.0.py: start from "every answer is ''" (unanswerable questions right,
    answerable ones 0), then answer the questions one by one in increasing ``null score - best
    span score``; answering gains the span's score on an answerable question and loses 1 on an
    unanswerable one. The best running total gives the threshold (predict "" when the
    difference is ABOVE it). Unlike the official script: the threshold is the middle of the gap
    between the last question answered and the next one (the official script returns the last
    one's difference, the edge of the gap; both give the same score here, the middle transfers
    better to new questions), questions with equal differences are answered together (a
    threshold cannot separate them), and when answering nothing is best the threshold lies just
    below the smallest difference (the official script returns 0.0 there).

    Returns ``(threshold, best score in %)``; ``apply_null_threshold(all_nbest, threshold)``
    gives the predictions that reach that score.
    """
    if metric not in ("f1", "exact"):
        raise ValueError(f"metric must be 'f1' or 'exact', got {metric!r}")
    gold = _gold_answers(references)
    missing = [qid for qid in gold if qid not in all_nbest]
    if missing:
        raise ValueError(
            f"{len(missing)} questions of references have no n-best list, e.g. {missing[0]!r}"
        )
    diffs = {qid: null_score_diff(all_nbest[qid]) for qid in gold}
    if any(d == -math.inf for d in diffs.values()):
        raise ValueError(
            "an n-best list has no null entry: decode with version_2_with_negative=True"
        )
    span_text = {qid: next((e["text"] for e in all_nbest[qid] if e["text"]), "") for qid in gold}
    index = 1 if metric == "f1" else 0
    score = sum(1.0 for texts in gold.values() if not texts)  # everything answered ""
    best_score, best_threshold = score, np.nextafter(min(diffs.values()), -math.inf)
    order = sorted(gold, key=lambda q: diffs[q])
    for k, qid in enumerate(order):
        if gold[qid]:
            score += _v2_scores(span_text[qid], gold[qid])[index]
        elif span_text[qid]:
            score -= 1.0  # an unanswerable question now gets a text
        next_diff = diffs[order[k + 1]] if k + 1 < len(order) else math.inf
        if next_diff == diffs[qid] or score <= best_score:
            continue  # a tie follows (one threshold cannot split it), or no better
        best_score = score
        # The middle of the gap to the next question: the same score on these questions, and
        # a margin on both sides for new ones. (The official script takes diffs[qid], the very
        # edge: on well separated validation questions that answers "" to almost every new one.)
        finite = math.isfinite(next_diff) and math.isfinite(diffs[qid])
        best_threshold = (diffs[qid] + next_diff) / 2 if finite else diffs[qid]
    return float(best_threshold), 100.0 * best_score / len(gold)


# ----------------------------------------------------------------------------------------------
# Reading SQuAD files (v1.1 and v2.0)
# ----------------------------------------------------------------------------------------------


class SquadFormatError(ValueError):
    """A SQuAD JSON file that does not have the SQuAD layout; the message says where."""


def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str, path: Path) -> Any:
    """``obj[key]``, checked to be a dict holding ``key`` of type ``kind``."""
    if not isinstance(obj, dict):
        raise SquadFormatError(f"{path}: {where} must be a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise SquadFormatError(f"{path}: {where} has no key '{key}' (keys: {sorted(obj)})")
    value = obj[key]
    # bool is an int in Python: a boolean answer_start must not pass for a character offset.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SquadFormatError(
            f"{path}: {where}['{key}'] must be {names}, got {type(value).__name__} {value!r:.60}"
        )
    return value


def _squad_answers(qa: dict, context: str, where: str, path: Path) -> tuple[list[str], list[int]]:
    texts, starts = [], []
    for k, ans in enumerate(_need(qa, "answers", list, where, path)):
        at = f"{where}['answers'][{k}]"
        text = _need(ans, "text", str, at, path)
        start = _need(ans, "answer_start", int, at, path)
        # Trap: an answer_start that is off by a few characters still "works" in training (the
        # label lands on the wrong tokens); say so here, where the file can still be fixed.
        if context[start : start + len(text)] != text:
            found = context[start : start + len(text)]
            raise SquadFormatError(
                f"{path}: {at}: the text {text!r} is not at character {start} of the context "
                f"(the context has {found!r} there)"
            )
        if not text.strip():
            raise SquadFormatError(f"{path}: {at}: the answer text is empty")
        texts.append(text)
        starts.append(start)
    return texts, starts


def read_squad(path: str | Path) -> list[dict[str, Any]]:
    """Read a SQuAD v1.1 or v2.0 JSON file into one row per question.

    The file is ``{"version": ..., "data": [{"title": ..., "paragraphs": [{"context": ...,
    "qas": [{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``.
    Each row has the columns of ``bertbook.corpora.load_bbc_qa``: id, article_id, title,
    context, question, answers = {"text": [...], "answer_start": [...]} (both empty when the
    question has no answer), is_impossible, answer_type. ``is_impossible`` is False where the
    file has no such key (v1.1); an unanswerable v2.0 question keeps its ``plausible_answers``
    out of ``answers``, as HF ``datasets`` does. ``article_id`` and ``answer_type`` are read
    from an article's ``"article_id"`` and a question's ``"answer_type"`` when present (our own
    files carry them), else the title and "".

    Raises FileNotFoundError for a missing file and ``SquadFormatError`` (a ValueError) naming
    the place for anything malformed: not JSON, a missing key, a wrong type, an answer whose
    text is not at its ``answer_start``, an answerable question without answers, an
    impossible one with answers, a repeated id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SQuAD file at {str(path)!r}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SquadFormatError(f"{path}: not a JSON file ({err})") from None
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for a, article in enumerate(_need(raw, "data", list, "the file", path)):
        where_a = f"data[{a}]"
        title = _need(article, "title", str, where_a, path)
        article_id = article.get("article_id", title)
        for p, paragraph in enumerate(_need(article, "paragraphs", list, where_a, path)):
            where_p = f"{where_a}['paragraphs'][{p}]"
            context = _need(paragraph, "context", str, where_p, path)
            for q, qa in enumerate(_need(paragraph, "qas", list, where_p, path)):
                where = f"{where_p}['qas'][{q}]"
                qid = _need(qa, "id", (str, int), where, path)
                question = _need(qa, "question", str, where, path)
                impossible = qa.get("is_impossible", False)
                if not isinstance(impossible, bool):
                    raise SquadFormatError(
                        f"{path}: {where}['is_impossible'] must be true or false"
                    )
                texts, starts = _squad_answers(qa, context, where, path)
                if impossible and texts:
                    raise SquadFormatError(f"{path}: {where} is_impossible but has answers")
                if not impossible and not texts:
                    raise SquadFormatError(
                        f'{path}: {where} has no answers; mark it "is_impossible": true if the '
                        "context does not answer it"
                    )
                if str(qid) in seen:
                    raise SquadFormatError(f"{path}: {where}: the id {qid!r} is used twice")
                seen.add(str(qid))
                rows.append(
                    {
                        "id": str(qid),
                        "article_id": str(article_id),
                        "title": title,
                        "context": context,
                        "question": question,
                        "answers": {"text": texts, "answer_start": starts},
                        "is_impossible": impossible,
                        "answer_type": str(qa.get("answer_type", "")),
                    }
                )
    if not rows:
        raise SquadFormatError(f"{path}: the file holds no questions")
    return rows


# ----------------------------------------------------------------------------------------------
# Baselines with no training (issue 13): light entity rules, no spaCy at run time
# ----------------------------------------------------------------------------------------------

_MONTHS = (
    "January February March April May June July August September October November December "
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
).split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTH = rf"(?:{'|'.join(_MONTHS)})\.?"
_DAY = rf"(?:{'|'.join(_DAYS)})"
_NUM = r"\d+(?:[,.]\d+)*"
_NUMBER_WORDS = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen"
    r"|twenty|thirty|forty|fifty|hundred|a hundred|dozens?|hundreds|thousands|millions)"
)
_SCALE = r"(?:\s?(?:m|bn|k|tn|million|billion|trillion)\b)?"
_RELATIVE_DATE = r"\b(?:last|next|this)\s(?:week|month|year|weekend|summer|winter)\b"
# Most specific first: a span taken by MONEY is not also a CARDINAL.
_NUMERIC_PATTERNS = [
    ("MONEY", rf"[$£€]\s?{_NUM}{_SCALE}|{_NUM}{_SCALE}\s?(?:dollars|pounds|euros|yen|pence)\b"),
    ("PERCENT", rf"{_NUM}\s?(?:%|per\s?cent\b|percent\b)"),
    (
        "DATE",
        rf"(?:\d{{1,2}}\s)?{_MONTH}(?:\s\d{{1,2}})?(?:,?\s(?:19|20)\d\d)?\b|{_DAY}\b"
        rf"|\b(?:19|20)\d\d(?:s\b)?|{_RELATIVE_DATE}|\byesterday\b|\btomorrow\b",
    ),
    ("CARDINAL", rf"\b{_NUM}\b(?:{_SCALE})|\b{_NUMBER_WORDS}\b"),
]
_CAP_WORD = r"[A-Z][\w'’&.-]*"
_NAME_RUN = re.compile(rf"{_CAP_WORD}(?:\s(?:of\s(?:the\s)?|de\s|van\s|von\s|&\s)?{_CAP_WORD})*")
_TITLES = set(
    """Mr Mrs Ms Miss Dr Sir Lord Lady Prof President Prime Minister Chancellor Chief
    Executive Chairman Secretary Judge Mayor Coach Captain""".split()
)
_NOT_NAMES = (
    set(
        """The A An He She It They We I You His Her Its Their Our This That These Those
    There But And Or If In On At For With As By From To Of After Before When While Although
    However Also Last Next Now Then So Some Many Most All Both One Two New What Who Where Which
    Why How Analysts Shares""".split()
    )
    | set(_MONTHS)
    | set(_DAYS)
)
_ORG_WORDS = set(
    """Ltd Inc Corp Group Bank Party Council Commission Association Union Agency
    Airways Airlines Motors Plc plc Club United FC Office Department Ministry Court Parliament
    Committee Federation Board Fund Institute University League Organisation Organization
    Service Company Corporation Records Studios Pictures Holdings Telecom Exchange""".split()
)
_PLACE_CUE = re.compile(r"\b(?:in|at|from|to|near|across|throughout|into)\s$")
_KNOWN_PLACES = set(
    """UK US USA Britain England Scotland Wales Ireland Europe London America China
    Japan France Germany Italy Spain India Russia Australia Canada Brazil Africa Asia Paris
    Washington Brussels Iraq Iran Israel Mexico Argentina Holland Netherlands Sweden Manchester
    Liverpool Edinburgh Glasgow Cardiff Belfast Dublin""".split()
)


def _name_type(words: list[str], before: str, persons: set[str]) -> str:
    if words[-1] in _ORG_WORDS or (
        len(words) == 1 and words[0].isupper() and 2 <= len(words[0]) <= 5
    ):
        return "ORG"  # "Fiat Auto Group", an acronym such as "FAO" or "BBC"
    if len(words) == 1 and (words[0] in _KNOWN_PLACES or _PLACE_CUE.search(before)):
        return "GPE"
    if words[0] in _KNOWN_PLACES:
        return "GPE"
    if len(words) in (2, 3) or words[-1] in persons:
        return "PERSON"  # "Sergio Marchionne"; later "Marchionne" alone
    return "GPE" if _PLACE_CUE.search(before) else "MISC"


def extract_entities(text: str) -> list[tuple[int, int, str]]:
    """``(start_char, end_char, label)`` of the entities of ``text``, in reading order.

    A LIGHT RULE, not a trained tagger (spaCy is not needed at run time): numbers, money,
    percentages and dates by regular expressions; names are runs of capitalised words ("Bank
    of England" included) without a leading function word or title ("The FAO" -> "FAO",
    "Mr Smith" -> "Smith"), typed ORG by an organisation word or an acronym, GPE when a known
    place or after "in/at/from/to", PERSON for two or three words (and their last word later
    on), else MISC. It errs often (a sentence's capitalised first word, a one-word person);
    it is here to give the baselines an honest, simple entity notion."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    taken = [False] * len(text)
    found: list[tuple[int, int, str]] = []
    for label, pattern in _NUMERIC_PATTERNS:
        for m in re.finditer(pattern, text, flags=re.IGNORECASE if label == "CARDINAL" else 0):
            if m.end() > m.start() and not any(taken[m.start() : m.end()]):
                found.append((m.start(), m.end(), label))
                taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    persons: set[str] = set()
    for m in _NAME_RUN.finditer(text):
        spans = [
            (w.start() + m.start(), w.end() + m.start()) for w in re.finditer(r"\S+", m.group())
        ]
        # Drop leading function words and titles: "The FAO", "Mr Marchionne", "But Fiat".
        while spans and text[spans[0][0] : spans[0][1]] in _NOT_NAMES | _TITLES:
            spans.pop(0)
        while spans and text[spans[-1][0] : spans[-1][1]].lower() in {
            "of",
            "the",
            "de",
            "van",
            "&",
        }:
            spans.pop()
        if not spans or any(taken[spans[0][0] : spans[-1][1]]):
            continue
        start, end = spans[0][0], spans[-1][1]
        while end > start and text[end - 1] in ".'’-":
            end -= 1  # "Fiat." at a sentence end, "Smiths'"
        words = text[start:end].split()
        label = _name_type(words, text[max(0, start - 12) : start], persons)
        if label == "PERSON":
            persons.add(words[-1])
        found.append((start, end, label))
    return sorted(found)


_STOPWORDS = set(
    """a an the of in on at to for by with from and or is was are were be been did
    do does has have had will would could should can it its that this what who whom whose which
    when where why how many much as into than their his her they he she""".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS}


def expected_answer_type(question: str) -> set[str]:
    """Entity labels a question asks for, from its wh-phrase: who -> PERSON (ORG as well),
    where -> GPE, when / what year -> DATE, how many -> CARDINAL, how much -> MONEY or
    PERCENT, which company -> ORG, ...; an empty set: any entity."""
    q = question.lower()
    rules = [
        (r"\bhow many\b", {"CARDINAL"}),
        (
            r"\bwhat (?:percentage|proportion|share)\b|\bby how much\b",
            {"PERCENT", "MONEY", "CARDINAL"},
        ),
        (r"\bhow much\b", {"MONEY", "PERCENT", "CARDINAL"}),
        (r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b|\bwhich (?:year|day|month)\b", {"DATE"}),
        (
            r"\b(?:what|which) (?:country|city|town|nation|region|state|capital)\b|\bwhere\b",
            {"GPE"},
        ),
        (
            r"\b(?:what|which) (?:company|firm|group|organisation|organization|party|club"
            r"|team|bank|body|agency|band|carmaker|airline|network|broadcaster)\b",
            {"ORG"},
        ),
        (r"\bwho(?:m|se)?\b", {"PERSON", "ORG"}),
    ]
    for pattern, labels in rules:
        if re.search(pattern, q):
            return labels
    return set()


def _in_question(entity: str, question_words: set[str]) -> bool:
    words = set(re.findall(r"\w+", entity.lower()))
    return bool(words) and words <= question_words


def frequent_entity_baseline(question: str, context: str) -> str:
    """Baseline (a): the context's most frequent entity (``extract_entities``) whose words are
    not all in the question; ties go to the one mentioned first; "" when there is none."""
    question_words = set(re.findall(r"\w+", question.lower()))
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for start, end, _ in extract_entities(context):
        text = context[start:end]
        if not _in_question(text, question_words):
            counts[text] += 1
            first.setdefault(text, start)
    if not counts:
        return ""
    return min(counts, key=lambda t: (-counts[t], first[t]))


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: a cut after . ! ? followed by space and a capital or quote."""
    cuts = [m.end() for m in re.finditer(r"[.!?][\"'’”]?\s+(?=[A-Z\"'‘“])", text)]
    bounds = [0, *cuts, len(text)]
    return [(s, e) for s, e in zip(bounds, bounds[1:]) if text[s:e].strip()]


def typed_entity_baseline(question: str, context: str) -> str:
    """Baseline (b): an entity of the type the question asks for (``expected_answer_type``),
    taken from the sentence that shares the most content words with the question (ties: the
    earlier sentence), the one nearest to a shared word; entities in the question are
    skipped. When no sentence holds one of that type, any entity type is used; "" if none."""
    question_words = set(re.findall(r"\w+", question.lower()))
    wanted = expected_answer_type(question)
    keywords = _content_words(question)
    entities = [
        e
        for e in extract_entities(context)
        if not _in_question(context[e[0] : e[1]], question_words)
    ]
    for labels in ([wanted] if wanted else []) + [set()]:
        best, best_key = "", None
        for s, e in _sentences(context):
            found = [
                x for x in entities if s <= x[0] and x[1] <= e and (not labels or x[2] in labels)
            ]
            if not found:
                continue
            shared = [
                (m.start() + s, m.group().lower())
                for m in re.finditer(r"\w+", context[s:e])
                if m.group().lower() in keywords
            ]
            hits = [h for h, _ in shared]
            overlap = len({w for _, w in shared})  # distinct question words in the sentence
            near = min(found, key=lambda x: min((abs(x[0] - h) for h in hits), default=0))
            key = (-overlap, s)
            if best_key is None or key < best_key:
                best, best_key = context[near[0] : near[1]], key
        if best:
            return best
    return ""


def baseline_predictions(rows: Sequence[Mapping[str, Any]], baseline) -> dict[Any, str]:
    """{id: answer} of a baseline (``frequent_entity_baseline`` or ``typed_entity_baseline``)
    for rows with ``id``, ``question`` and ``context``; score them with ``squad_evaluate``."""
    return {r["id"]: baseline(r["question"], r["context"]) for r in rows}


# ----------------------------------------------------------------------------------------------
# One call: question + context -> answers (needs torch and bertbook.data; imported when called)
# ----------------------------------------------------------------------------------------------

QA_CONFIG = "qa_config.json"  # beside config.json: the decoding settings and the null threshold
MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def window_logits(model: Any, features: Sequence[Mapping[str, Any]], batch_size: int = 32):
    """Start and end logits of every window: two lists of (T_f,) numpy arrays, one per feature.

    Runs on the model's own device, in eval mode under ``torch.inference_mode`` (the model's
    train/eval mode is restored afterwards). Windows are batched by length, so a batch carries
    little padding; the padding is cut off again before decoding.
    """
    import torch

    from .data import pad_collate

    _check_positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    starts: list[Any] = [None] * len(features)
    ends: list[Any] = [None] * len(features)
    try:
        with torch.inference_mode():
            for b in range(0, len(order), batch_size):
                idx = order[b : b + batch_size]
                batch = pad_collate([{k: features[i][k] for k in MODEL_INPUTS} for i in idx])
                out = model(**{k: v.to(device) for k, v in batch.items()})  # (b, T) each
                start = out.start_logits.float().cpu().numpy()
                end = out.end_logits.float().cpu().numpy()
                for row, i in enumerate(idx):
                    T = len(features[i]["input_ids"])
                    starts[i], ends[i] = start[row, :T], end[row, :T]
    finally:
        model.train(was_training)
    return starts, ends


def predict_nbest(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    max_length: int = 384,
    doc_stride: int = 128,
    max_answer_length: int = 30,
    n_best: int = 20,
    batch_size: int = 32,
) -> dict[Any, list[dict[str, Any]]]:
    """{id: n-best list with its null entry} for rows with ``id``, ``question``, ``context``.

    Decide with ``apply_null_threshold(nbest, threshold)`` (``math.inf``: never "no answer")."""
    from .data import prepare_qa_eval_features

    features = prepare_qa_eval_features(
        tokenizer,
        [r["question"] for r in rows],
        [r["context"] for r in rows],
        max_length=max_length,
        doc_stride=doc_stride,
    )
    starts, ends = window_logits(model, features, batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no valid span: the null entry answers
        _, nbest = postprocess_predictions(
            [(r["id"], r["context"]) for r in rows],
            features,
            starts,
            ends,
            n_best=n_best,
            max_answer_length=max_answer_length,
            version_2_with_negative=True,
        )
    return nbest


def answer(
    model: Any,
    tokenizer: Any,
    question: str,
    context: str,
    top_k: int = 3,
    max_length: int = 384,
    doc_stride: int = 128,
    max_answer_length: int = 30,
    null_threshold: float | None = None,
) -> list[dict[str, Any]]:
    """The ``top_k`` best answers to ``question`` in ``context``, best first.

    What transformers' question-answering pipeline does, in the steps the chapter shows:
    windows of ``max_length`` tokens overlapping by ``doc_stride`` (``prepare_qa_eval_features``),
    start/end logits for each window (on the model's device), the n-best spans over all windows,
    whole words (``snap_to_words``), and a probability for each: the softmax of the span scores
    over the n-best list, the null answer included. Each answer is a dict ``text``, ``start``,
    ``end`` (characters into ``context``, end exclusive: ``context[start:end] == text``),
    ``score`` (start logit + end logit) and ``probability``.

    ``null_threshold=None`` (a SQuAD v1.1 model) never answers "". With a number (the model's
    threshold from validation, see ``best_null_threshold``) the first answer is ``""`` (start =
    end = 0) with its probability when ``null score - best span score > null_threshold``.
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty str, got {question!r}")
    if not isinstance(context, str) or not context.strip():
        raise ValueError("the context is empty: there is nothing to extract an answer from")
    _check_positive_int("top_k", top_k)
    if null_threshold is not None and (
        isinstance(null_threshold, bool)
        or not isinstance(null_threshold, (int, float, np.floating))
        or math.isnan(null_threshold)
    ):
        raise ValueError(f"null_threshold must be None or a number, got {null_threshold!r}")
    nbest = predict_nbest(
        model,
        tokenizer,
        [{"id": 0, "question": question, "context": context}],
        max_length=max_length,
        doc_stride=doc_stride,
        max_answer_length=max_answer_length,
        n_best=max(20, top_k),
    )[0]
    spans = [e for e in nbest if e["text"]]
    null = next(e for e in nbest if not e["text"])
    says_null = null_threshold is not None and null_score_diff(nbest) > null_threshold
    chosen = ([null] + spans[: top_k - 1]) if says_null else spans[:top_k]
    return [
        {
            "text": e["text"],
            "start": e["start_char"],
            "end": e["end_char"],
            "score": e["score"],
            "probability": e["probability"],
        }
        for e in chosen
    ]


# ----------------------------------------------------------------------------------------------
# Train, save and load a QA model (python -m bertbook.qa train / answer / evaluate)
# ----------------------------------------------------------------------------------------------


def _train_features(
    tokenizer: Any, rows: Sequence[Mapping[str, Any]], max_length: int, doc_stride: int
):
    from .data import prepare_qa_train_features

    firsts = [
        (r["answers"]["answer_start"][0], r["answers"]["text"][0])
        if r["answers"]["text"]
        else (None, None)
        for r in rows
    ]  # no answer: every window is labelled [CLS]
    features = prepare_qa_train_features(
        tokenizer,
        [r["question"] for r in rows],
        [r["context"] for r in rows],
        [s for s, _ in firsts],
        [t for _, t in firsts],
        max_length=max_length,
        doc_stride=doc_stride,
    )
    for f in features:
        del f["example_index"]  # bookkeeping, not a model input
    return features


def _bbc_or_files(train_file, validation_file, seed: int, unanswerable_fraction: float):
    """(train rows, validation rows): the SQuAD files when given, else the BBC questions."""
    if train_file is not None:
        return read_squad(train_file), (
            read_squad(validation_file) if validation_file is not None else []
        )
    from .corpora import load_bbc_qa

    qa = load_bbc_qa(seed=seed, unanswerable_fraction=unanswerable_fraction)
    return qa["train"].to_list(), qa["validation"].to_list()


def _subset(rows: list, n: int | None, seed: int) -> list:
    if n is None or n >= len(rows):
        return rows
    _check_positive_int("the number of questions", n)
    import random

    keep = sorted(random.Random(seed).sample(range(len(rows)), n))  # a fixed random subset
    return [rows[i] for i in keep]


def _check_out_dir(out: Path) -> None:
    """Refuse to replace a file, or a folder that is not a saved model (it would be deleted)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise ValueError(
            f"--out {str(out)!r} is a non-empty folder that holds no saved model; "
            "refusing to replace it"
        )


def save_atomically(out: str | Path, write) -> Path:
    """Call ``write(folder)`` on a fresh sibling folder, then swap it in as ``out`` by renames,
    so ``out`` is always either the old complete model or the new one, never half written."""
    import os
    import shutil
    import tempfile

    out = Path(out)
    _check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        write(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def evaluate_rows(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Mapping[str, Any]],
    null_threshold: float | None,
    *,
    max_length: int = 384,
    doc_stride: int = 128,
    batch_size: int = 32,
) -> dict[str, Any]:
    """SQuAD metrics of the model on ``rows`` with the given null threshold (None: never "").

    For rows with unanswerable questions it also reports, as the official v2.0 script,
    ``best_f1`` / ``best_f1_thresh`` and ``best_exact`` / ``best_exact_thresh``: the scores a
    threshold chosen on these same rows would reach (an upper bound, not a fair test score)."""
    nbest = predict_nbest(
        model, tokenizer, rows, max_length=max_length, doc_stride=doc_stride, batch_size=batch_size
    )
    threshold = math.inf if null_threshold is None else null_threshold
    metrics: dict[str, Any] = squad_evaluate(apply_null_threshold(nbest, threshold), rows)
    if any(not r["answers"]["text"] for r in rows):
        for name in ("f1", "exact"):
            best_threshold, best = best_null_threshold(nbest, rows, metric=name)
            metrics[f"best_{name}"], metrics[f"best_{name}_thresh"] = best, best_threshold
    return metrics


def train_qa(
    out: str | Path,
    *,
    model_source: str | Path | None = None,
    epochs: int = 1,
    max_length: int = 256,
    doc_stride: int = 64,
    batch_size: int = 16,
    lr: float = 2e-4,
    warmup_ratio: float = 0.1,
    max_train: int | None = None,
    max_validation: int | None = None,
    unanswerable_fraction: float = 0.2,
    seed: int = 0,
    device: str = "auto",
    train_file: str | Path | None = None,
    validation_file: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``BertForQuestionAnswering`` and save it (weights, tokenizer, ``qa_config.json``).

    The defaults are the book's full setting (chapter 13), about 25 minutes on 2 CPU cores:
    one epoch over the BBC training questions at a learning rate of 2e-4 (for this small
    MiniLM, 5e-5 learned clearly less in the same time).

    Data: the BBC questions (``bertbook.corpora.load_bbc_qa``) or SQuAD files. The null
    threshold is chosen on the validation rows to maximise F1 (``best_null_threshold``) when they
    hold unanswerable questions, else it is None (never answer ""). Returns the qa_config dict:
    the settings, the threshold, the validation metrics and the minutes taken.
    """
    import time

    import torch

    from . import BertForQuestionAnswering, BertTokenizer, minilm_path
    from .data import pad_collate
    from .loading import resolve_model_source
    from .train import Trainer, TrainConfig, make_loader, set_seed

    out = Path(out)
    _check_out_dir(out)  # before an hour of training, not after
    t0 = time.perf_counter()
    folder = resolve_model_source(model_source if model_source is not None else minilm_path())
    train_rows, val_rows = _bbc_or_files(train_file, validation_file, seed, unanswerable_fraction)
    train_rows, val_rows = (
        _subset(train_rows, max_train, seed),
        _subset(val_rows, max_validation, seed),
    )
    tokenizer = BertTokenizer.from_pretrained(folder)
    set_seed(seed)  # qa_outputs is new: its weights are drawn at random
    model = BertForQuestionAnswering.from_pretrained(folder)
    features = _train_features(tokenizer, train_rows, max_length, doc_stride)
    loader = make_loader(features, batch_size, seed=seed, collate_fn=pad_collate)
    config = TrainConfig(
        lr=lr,
        epochs=epochs,
        warmup_ratio=warmup_ratio,
        seed=seed,
        device=device,
        log_every=max(1, epochs * len(loader) // 50),
        disable_progress=not progress,
    )
    Trainer(model, config, loader).train()
    train_minutes = (time.perf_counter() - t0) / 60
    qa_config: dict[str, Any] = {
        "max_length": max_length,
        "doc_stride": doc_stride,
        "max_answer_length": 30,
        "null_threshold": None,
        "model_source": str(folder),
        "seed": seed,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "train_questions": len(train_rows),
        "train_windows": len(features),
        "train_unanswerable": sum(not r["answers"]["text"] for r in train_rows),
        "validation_questions": len(val_rows),
        "train_minutes": round(train_minutes, 2),
    }
    if val_rows:
        nbest = predict_nbest(
            model, tokenizer, val_rows, max_length=max_length, doc_stride=doc_stride
        )
        if any(not r["answers"]["text"] for r in val_rows):
            qa_config["null_threshold"], _ = best_null_threshold(nbest, val_rows, metric="f1")
            qa_config["validation_without_null"] = squad_evaluate(
                apply_null_threshold(nbest, math.inf), val_rows
            )
        threshold = qa_config["null_threshold"]
        qa_config["validation"] = squad_evaluate(
            apply_null_threshold(nbest, math.inf if threshold is None else threshold), val_rows
        )
    qa_config["minutes"] = round((time.perf_counter() - t0) / 60, 2)

    def write(tmp: Path) -> None:
        model.to(torch.device("cpu")).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / QA_CONFIG).write_text(json.dumps(qa_config, indent=2) + "\n", encoding="utf-8")

    save_atomically(out, write)
    return qa_config


def load_qa_model(folder: str | Path, device: str = "auto"):
    """(model, tokenizer, qa_config) from a folder written by ``train_qa`` (or any HF BERT QA
    folder: then the qa_config is the defaults, with no null threshold)."""
    import torch

    from . import BertForQuestionAnswering, BertTokenizer

    folder = Path(folder)
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no model folder at {str(folder)!r} (it needs config.json, the weights and "
            "vocab.txt, as 'python -m bertbook.qa train --out DIR' writes them)"
        )
    qa_config = {
        "max_length": 384,
        "doc_stride": 128,
        "max_answer_length": 30,
        "null_threshold": None,
    }
    if (folder / QA_CONFIG).is_file():
        qa_config.update(json.loads((folder / QA_CONFIG).read_text(encoding="utf-8")))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = BertForQuestionAnswering.from_pretrained(folder).to(device).eval()
    return model, BertTokenizer.from_pretrained(folder), qa_config


def _parser():
    import argparse
    import inspect

    # The command's defaults are train_qa's: `python -m bertbook.qa train --out DIR` trains
    # exactly as train_qa(DIR) does.
    default = {k: p.default for k, p in inspect.signature(train_qa).parameters.items()}

    parser = argparse.ArgumentParser(
        prog="python -m bertbook.qa", description="Extractive question answering."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fine-tune on the BBC questions (or SQuAD files) and save")
    t.add_argument(
        "--out", required=True, help="folder to write the model to (replaced atomically)"
    )
    t.add_argument(
        "--model", default=None, help="model folder to start from (default: bundled MiniLM)"
    )
    t.add_argument("--epochs", type=int, default=default["epochs"])
    t.add_argument("--max-length", type=int, default=default["max_length"])
    t.add_argument("--doc-stride", type=int, default=default["doc_stride"])
    t.add_argument("--batch-size", type=int, default=default["batch_size"])
    t.add_argument("--lr", type=float, default=default["lr"])
    t.add_argument(
        "--max-train",
        type=int,
        default=default["max_train"],
        help=f"use N training questions (default {default['max_train'] or 'all'})",
    )
    t.add_argument(
        "--max-validation",
        type=int,
        default=default["max_validation"],
        help=f"choose the threshold on N (default {default['max_validation'] or 'all'})",
    )
    t.add_argument(
        "--unanswerable-fraction", type=float, default=default["unanswerable_fraction"]
    )
    t.add_argument("--seed", type=int, default=default["seed"])
    t.add_argument("--device", default="auto")
    t.add_argument(
        "--train-file", default=None, help="a SQuAD JSON file instead of the BBC questions"
    )
    t.add_argument(
        "--validation-file", default=None, help="with --train-file: the threshold's SQuAD file"
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = sub.add_parser("answer", help="answer one question about a text file")
    a.add_argument("--model", required=True)
    a.add_argument("--question", required=True)
    a.add_argument("--context-file", required=True, help="a UTF-8 text file ('-': standard input)")
    a.add_argument("--top-k", type=int, default=3)
    a.add_argument("--no-null", action="store_true", help="always answer a span, never ''")
    e = sub.add_parser("evaluate", help="SQuAD v1.1/v2.0 metrics of a saved model on a SQuAD file")
    e.add_argument("--model", required=True)
    e.add_argument("file", help="a SQuAD v1.1 or v2.0 JSON file")
    e.add_argument("--max-questions", type=int, default=None)
    e.add_argument("--no-null", action="store_true", help="always answer a span, never ''")
    e.add_argument("--batch-size", type=int, default=32)
    return parser


def _read_context(path: str) -> str:
    import sys

    if path == "-":
        return sys.stdin.read()
    if not Path(path).is_file():
        raise FileNotFoundError(f"no context file at {path!r}")
    return Path(path).read_text(encoding="utf-8")


def _cmd_train(args) -> None:
    qa_config = train_qa(
        args.out,
        model_source=args.model,
        epochs=args.epochs,
        max_length=args.max_length,
        doc_stride=args.doc_stride,
        batch_size=args.batch_size,
        lr=args.lr,
        max_train=args.max_train,
        max_validation=args.max_validation,
        unanswerable_fraction=args.unanswerable_fraction,
        seed=args.seed,
        device=args.device,
        train_file=args.train_file,
        validation_file=args.validation_file,
        progress=not args.no_progress,
    )
    print(json.dumps({"saved": str(args.out), **qa_config}, indent=2))


def _cmd_answer(args) -> None:
    context = _read_context(args.context_file)
    if not context.strip():
        raise ValueError(f"the context file {args.context_file!r} is empty")
    model, tokenizer, qa_config = load_qa_model(args.model)
    answers = answer(
        model,
        tokenizer,
        args.question,
        context,
        top_k=args.top_k,
        max_length=qa_config["max_length"],
        doc_stride=qa_config["doc_stride"],
        max_answer_length=qa_config["max_answer_length"],
        null_threshold=None if args.no_null else qa_config["null_threshold"],
    )
    print(f"Q: {args.question}")
    for k, entry in enumerate(answers, 1):
        text = repr(entry["text"]) if entry["text"] else "(no answer in the text)"
        where = f"  (characters {entry['start']}..{entry['end']})" if entry["text"] else ""
        print(f"{k}. {entry['probability']:6.1%}  {text}{where}")


def _cmd_evaluate(args) -> None:
    import time

    rows = _subset(
        read_squad(args.file), args.max_questions, 0
    )  # the file first: its errors are cheap
    model, tokenizer, qa_config = load_qa_model(args.model)
    threshold = None if args.no_null else qa_config["null_threshold"]
    t0 = time.perf_counter()
    metrics = evaluate_rows(
        model,
        tokenizer,
        rows,
        threshold,
        max_length=qa_config["max_length"],
        doc_stride=qa_config["doc_stride"],
        batch_size=args.batch_size,
    )
    print(
        json.dumps(
            {
                "file": str(args.file),
                "questions": len(rows),
                "null_threshold": threshold,
                **metrics,
                "seconds": round(time.perf_counter() - t0, 1),
            },
            indent=2,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bertbook.qa train|answer|evaluate ...``; exit 2 and one line on bad input."""
    import sys

    args = _parser().parse_args(argv)
    command = {"train": _cmd_train, "answer": _cmd_answer, "evaluate": _cmd_evaluate}[args.command]
    try:
        command(args)
    except (FileNotFoundError, NotADirectoryError, ValueError) as err:  # SquadFormatError too
        print(f"python -m bertbook.qa {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
