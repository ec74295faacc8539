"""Matplotlib figures for the chapters: embedding sums, masks and attention maps.

Every function takes torch tensors or NumPy arrays (moved to the CPU here), draws one figure and
returns the ``matplotlib.figure.Figure``; the caller shows it (``plt.show()``) or saves it. In every
attention map the rows are queries and the columns keys, as in ``probs[b, h, query, key]``.

Needs only NumPy and matplotlib (torch is not imported: tensors are read with ``.detach().cpu()``).
This module is not imported by ``bertbook/__init__.py``, so the models never pay for matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

__all__ = ["plot_embedding_sum", "plot_attention_heads", "plot_attention_layers", "plot_head_scores", "plot_mask"]

# Colours of a mask image: allowed (attend) and blocked (masked).
MASK_COLORS = ("#e8eef7", "#35495e")


# ----------------------------------------------------------------------------- input checks


def _to_numpy(x, name: str) -> np.ndarray:
    """A tensor (any device, any float dtype) or array-like -> NumPy array; float16 is kept as is
    (its minimum, -65504, is one of the things a mask figure shows), bfloat16 becomes float32."""
    if hasattr(x, "detach"):  # a torch.Tensor; NumPy has no bfloat16, so widen that one
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(x).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def _check_tokens(tokens, n: int, name: str = "tokens") -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name} must be a list of token strings, got {type(tokens).__name__}")
    if len(tokens) != n:
        raise ValueError(f"{name} has {len(tokens)} entries but the data has {n} positions: pass one label per position")
    return [str(t) for t in tokens]


def _check_index(value, upper: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < upper:
        raise ValueError(f"{name} must be in [0, {upper}), got {value}")
    return int(value)


def _check_probs(arr: np.ndarray, name: str) -> None:
    """Attention maps are softmax outputs: finite, in [0, 1], with square (T, T) last axes."""
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name} must end in (T, T) (queries x keys), got shape {arr.shape}")
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1 + 1e-3:
        raise ValueError(f"{name} must hold probabilities in [0, 1] (softmax outputs), got values in [{arr.min()}, {arr.max()}]")


def _fontsize(n: int) -> float:
    """Tick-label size for n labels on one axis: readable for short sequences, still legible for ~60."""
    return float(np.clip(160 / max(n, 1), 4.5, 9))


def _token_ticks(ax, tokens: list[str], x: bool, y: bool) -> None:
    """Token labels on the x (keys) and/or y (queries) axis; no ticks at all on the other one
    (tick objects are what makes a grid of many panels slow to draw)."""
    n, size = len(tokens), _fontsize(len(tokens))
    if x:
        ax.set_xticks(range(n), tokens, rotation=90, fontsize=size)
    else:
        ax.set_xticks([])
    if y:
        ax.set_yticks(range(n), tokens, fontsize=size)
    else:
        ax.set_yticks([])
    ax.tick_params(length=0)


# ----------------------------------------------------------------------------- embeddings


def plot_embedding_sum(tokens, word, position, segment, summed, normed, dims: int = 48):
    """Five heatmaps side by side, one row per token: the word, position and segment (token type)
    vectors of each token, their sum, and the sum after LayerNorm.

    Each of ``word``, ``position``, ``segment``, ``summed``, ``normed`` is (T, H) for one sequence;
    only the first ``dims`` of the H features are drawn. The first four panels share one colour
    scale (the sum is made of the other three); LayerNorm's output, on a much larger scale, has its own.
    Colours saturate at the 99th percentile of |value| so that a few large features do not wash
    out the rest; the colour bars mark that with pointed ends.
    """
    panels = {"word": word, "position": position, "segment": segment, "summed": summed, "normed": normed}
    arrays = {k: _to_numpy(v, k).astype(np.float32) for k, v in panels.items()}
    shape = arrays["word"].shape
    for k, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(f"{k} must be 2-D (T, H) for one sequence, got shape {a.shape}")
        if a.shape != shape:
            raise ValueError(f"{k} has shape {a.shape} but word has shape {shape}: all five must be (T, H)")
    T, H = shape
    tokens = _check_tokens(tokens, T)
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or dims < 1:
        raise ValueError(f"dims must be a positive int (features drawn, at most H={H}), got {dims!r}")
    d = min(int(dims), H)
    cut = {k: a[:, :d] for k, a in arrays.items()}  # (T, d) each

    shared = np.percentile(np.abs(np.concatenate([cut[k] for k in ("word", "position", "segment", "summed")])), 99)
    own = np.percentile(np.abs(cut["normed"]), 99)
    titles = {
        "word": "word embedding",
        "position": "+ position embedding",
        "segment": "+ segment embedding",
        "summed": "= sum",
        "normed": "LayerNorm(sum)",
    }
    fig, axes = plt.subplots(1, 5, figsize=(2.6 * 5 + 1.5, 0.2 * T + 2.0), sharey=True, layout="constrained")
    for ax, key in zip(axes, panels):
        vmax = own if key == "normed" else shared
        im = ax.imshow(cut[key], cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
        ax.set_title(titles[key], fontsize=10)
        ax.set_xlabel(f"feature 0..{d - 1}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        if key == "summed":
            fig.colorbar(im, ax=list(axes[:4]), shrink=0.8, extend="both", pad=0.01)
        if key == "normed":
            fig.colorbar(im, ax=ax, shrink=0.8, extend="both", pad=0.02)
    axes[0].set_yticks(range(T))
    axes[0].set_yticklabels(tokens, fontsize=_fontsize(T))
    fig.suptitle(f"Embeddings of {T} tokens: first {d} of {H} features", fontsize=11)
    return fig


# ----------------------------------------------------------------------------- attention


def _attention_grid(maps: list[np.ndarray], titles: list[str], tokens: list[str], ncols: int, suptitle: str):
    """One square heatmap per map, on a shared 0..1 colour scale, tokens on the outer axes only."""
    n = len(maps)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    T = len(tokens)
    side = 2.2 + 0.06 * T  # inches per panel: room for the labels of longer sequences
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols + 0.6, side * nrows + 0.6), squeeze=False, layout="constrained")
    im = None
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)  # unused cells of the last row
            continue
        im = ax.imshow(maps[i], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(titles[i], fontsize=9)
        row, col = divmod(i, ncols)
        # x labels on the lowest panel of each column, y labels on the first column
        _token_ticks(ax, tokens, x=row == nrows - 1 or i + ncols >= n, y=col == 0)
    fig.colorbar(im, ax=axes, shrink=0.6, label="attention probability")
    fig.suptitle(suptitle, fontsize=11)
    return fig


def plot_attention_heads(probs, tokens, layer: int, heads=None, ncols: int = 4):
    """A grid of attention maps of one layer, one panel per head.

    ``probs`` is (nh, T, T) for one sequence, e.g. ``out.attentions[layer][b]``; ``layer`` is only
    used in the title; ``heads`` picks and orders the heads drawn (default: all).
    """
    arr = _to_numpy(probs, "probs").astype(np.float32)
    if arr.ndim != 3:
        raise ValueError(f"probs must be (nh, T, T) for one sequence (e.g. out.attentions[layer][b]), got shape {arr.shape}")
    _check_probs(arr, "probs")
    nh, T, _ = arr.shape
    tokens = _check_tokens(tokens, T)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or layer < 0:
        raise ValueError(f"layer must be a non-negative int (used in the title), got {layer!r}")
    heads = list(range(nh)) if heads is None else [_check_index(h, nh, "each entry of heads") for h in heads]
    if not heads:
        raise ValueError("heads is empty: pass None for all heads or a list of head indices")
    return _attention_grid(
        [arr[h] for h in heads], [f"head {h}" for h in heads], tokens, ncols,
        f"Layer {layer}: attention of each head (rows: queries, columns: keys)",
    )


def plot_attention_layers(attentions, tokens, head: int, ncols: int = 3):
    """One head followed through the layers: a panel per layer.

    ``attentions`` is (L, nh, T, T) for one sequence, or a sequence of L arrays (nh, T, T),
    e.g. ``[a[b] for a in out.attentions]``.
    """
    if isinstance(attentions, (list, tuple)):
        if not attentions:
            raise ValueError("attentions is empty: pass one (nh, T, T) map per layer")
        arr = np.stack([_to_numpy(a, f"attentions[{i}]").astype(np.float32) for i, a in enumerate(attentions)])
    else:
        arr = _to_numpy(attentions, "attentions").astype(np.float32)
    if arr.ndim != 4:
        raise ValueError(f"attentions must be (L, nh, T, T) for one sequence, got shape {arr.shape}")
    _check_probs(arr, "attentions")
    L, nh, T, _ = arr.shape
    tokens = _check_tokens(tokens, T)
    head = _check_index(head, nh, "head")
    return _attention_grid(
        [arr[i, head] for i in range(L)], [f"layer {i}" for i in range(L)], tokens, ncols,
        f"Head {head} in each layer (rows: queries, columns: keys)",
    )


def plot_head_scores(scores, title: str | None = None, ncols: int = 2):
    """One (L, nh) table per named score, e.g. the average attention each head of each layer gives
    to [CLS] or to the previous token: ``{"to [CLS]": (L, nh), "to the previous token": (L, nh)}``.

    Scores must lie in [0, 1] (shares of attention); each cell is written out with two decimals.
    """
    if not isinstance(scores, dict) or not scores:
        raise TypeError("scores must be a non-empty dict {name: (L, nh) array of values in [0, 1]}")
    arrays = {str(k): _to_numpy(v, f"scores[{k!r}]").astype(np.float32) for k, v in scores.items()}
    shape = next(iter(arrays.values())).shape
    for k, a in arrays.items():
        if a.ndim != 2 or a.shape != shape:
            raise ValueError(f"scores[{k!r}] must be (L, nh) like the first entry {shape}, got shape {a.shape}")
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1 + 1e-3:
            raise ValueError(f"scores[{k!r}] must hold values in [0, 1], got values in [{a.min()}, {a.max()}]")
    L, nh = shape
    n = len(arrays)
    ncols = max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * (0.4 * nh + 0.8) + 0.8, nrows * (0.4 * L + 1.0) + 0.5),
                             squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)  # unused cells of the last row
    im = None
    for k, (ax, (name, a)) in enumerate(zip(axes.flat, arrays.items())):
        im = ax.imshow(a, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        for i in range(L):
            for j in range(nh):
                ax.text(j, i, f"{a[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=6.5,
                        color="black" if a[i, j] > 0.6 else "white")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(nh))
        ax.set_yticks(range(L))
        ax.tick_params(labelsize=8, length=0)
        ax.set_xlabel("head")
        if k % ncols == 0:
            ax.set_ylabel("layer")
    fig.colorbar(im, ax=axes, shrink=0.6)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# ----------------------------------------------------------------------------- masks


def _mask_value_text(v: float, dtype: np.dtype, long: bool = False) -> str:
    """A cell's label: "0", "min" for the dtype's most negative finite value (with the number when
    ``long``: -3.403e+38 in float32, -65504 in float16), else the value in 3 digits."""
    if v == 0:
        return "0"
    if np.issubdtype(dtype, np.floating) and v == np.finfo(dtype).min:
        return f"min = {v:.5g}" if long else "min"
    return f"{v:.3g}"


def plot_mask(mask, tokens, row_labels=None, additive: bool | None = None, title: str | None = None):
    """A mask as an image: light cells are allowed (attended), dark cells masked.

    ``mask`` is a 1/0 padding mask (B, T) or (T,), a (T, T) mask (rows: queries), or an additive
    mask as ``extended_attention_mask`` makes it, (B, 1, 1, T) or (B, 1, T, T): axes of size 1
    before the last are dropped, and at most 2 axes may remain.
    ``additive``: True when 0 means "attend" and a negative number "masked"; False for 1/0 masks;
    None guesses (any negative value -> additive). An all-zero mask is ambiguous: say which.
    ``tokens``: either one label per column (length T), or one list of T tokens per row, written
    into the cells (handy for a padded batch, where each row is a different sequence).
    Cells are annotated with their value ("min" for the dtype's minimum) when tokens are labels.
    """
    arr = _to_numpy(mask, "mask")
    if arr.ndim == 0:
        raise ValueError("mask must have at least one axis (T,)")
    arr = arr.reshape([s for s in arr.shape[:-1] if s != 1] + [arr.shape[-1]])
    if arr.ndim == 1:
        arr = arr[None, :]  # (1, T)
    if arr.ndim != 2:
        raise ValueError(f"mask must be (T,), (B, T), (T, T) or (B, 1, 1, T) with B == 1 or squeezable; got shape {_to_numpy(mask, 'mask').shape}")
    R, T = arr.shape
    if additive is None:
        additive = bool((arr < 0).any())
    if additive:
        if (arr > 0).any():
            raise ValueError("an additive mask holds 0 (attend) and negative numbers (masked), but this one has positive values")
        blocked = arr < 0
    else:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("a 1/0 mask must hold only 0 and 1 (pass additive=True for an additive mask)")
        blocked = arr == 0

    per_row = isinstance(tokens, Sequence) and not isinstance(tokens, str) and len(tokens) > 0 and not isinstance(tokens[0], str)
    if per_row:
        if len(tokens) != R:
            raise ValueError(f"tokens has {len(tokens)} rows but the mask has {R}: pass one list of T tokens per row")
        cell_text = [_check_tokens(row, T, f"tokens[{i}]") for i, row in enumerate(tokens)]
        col_labels = [str(j) for j in range(T)]
    else:
        col_labels = _check_tokens(tokens, T)
        cell_text = [[_mask_value_text(float(v), arr.dtype) if additive else str(int(v)) for v in row] for row in arr]
    if row_labels is None:
        row_labels = [str(i) for i in range(R)]
    row_labels = _check_tokens(row_labels, R, "row_labels")

    fig, ax = plt.subplots(figsize=(1.2 + 0.42 * T, 1.3 + (0.9 if per_row else 0.32) * R), layout="constrained")
    ax.imshow(blocked.astype(np.int8), cmap=ListedColormap(MASK_COLORS), vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    size = _fontsize(T)
    for i in range(R):
        for j in range(T):
            colour = "white" if blocked[i, j] else "black"
            ax.text(j, i, cell_text[i][j], ha="center", va="center", color=colour,
                    fontsize=size if per_row else size * 0.85, rotation=90 if per_row else 0)
    # thin white lines between the cells
    ax.set_xticks(np.arange(T + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(R + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks(range(T))
    ax.set_xticklabels(col_labels, rotation=0 if max(map(len, col_labels)) <= 3 else 90, fontsize=size)
    ax.set_yticks(range(R))
    ax.set_yticklabels(row_labels, fontsize=size)
    ax.tick_params(length=0)
    ax.set_xlabel("position" if per_row else "key")
    if title is None:
        if additive:
            values = [_mask_value_text(float(v), arr.dtype, long=True) for v in np.unique(arr)[::-1]]
            title = f"additive mask ({arr.dtype}): " + ", ".join(values)
        else:
            title = "1 = attend, 0 = masked"
    ax.set_title(title, fontsize=10)
    return fig
