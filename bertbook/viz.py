"""Matplotlib figures for the chapters: embedding sums, masks and attention maps (plots of
measured values, ``plot_*``), and schematic diagrams of the model's structure (``draw_*``).

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

__all__ = ["plot_embedding_sum", "plot_attention_heads", "plot_attention_layers", "plot_head_scores", "plot_mask",
           "draw_model_map", "draw_embedding_sum", "draw_qkv_heads", "toy_attention", "draw_toy_attention",
           "draw_layer_layouts", "draw_task_heads", "best_span", "draw_span_head"]

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


# ----------------------------------------------------------------------------- schematic diagrams
#
# Boxes, arrows and text on one axes whose data units are inches (x from 0 to the figure's width,
# y from 0 at the bottom to its height), so sizes and font sizes can be reasoned about together:
# 8-point text is about 0.11 in tall and 0.06 in per character. Every box is a FancyBboxPatch and
# every arrow a FancyArrowPatch in ``ax.patches``; boxes and texts carry a ``gid`` naming the part
# they draw, which is what the tests (and a reader poking at a figure) look up.

# Fill colours of the parts of the model, reused by every diagram so a part looks the same in each.
PART_COLORS = {
    "tokens": "#e9ecef",
    "embeddings": "#d0e4ff",
    "attention": "#ffe3c2",
    "add_norm": "#eadcf5",
    "ffn": "#d3f0cf",
    "encoder": "#f8f9fa",
    "hidden": "#e9ecef",
    "pooler": "#fff1b8",
    "head": "#ffd8d8",
}
HIGHLIGHT_FACE, HIGHLIGHT_EDGE = "#ffa94d", "#c2410c"  # the part a chapter is about
FADED_FACE, FADED_EDGE, FADED_TEXT = "#f5f5f5", "#bfc5cc", "#7a828a"  # the rest, when one is
HEAD_COLORS = ("#a5d8ff", "#b2f2bb", "#ffd8a8", "#eebefa", "#ffec99", "#99e9f2", "#ffc9c9",
               "#d0bfff")  # one per attention head, cycled
DIAGRAM_FONT = 8.5  # points; the smallest text in a diagram is 7


def _canvas(width: float, height: float):
    """A figure of width x height inches with one frameless axes measured in inches."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, text="", face="#ffffff", gid=None, fontsize=DIAGRAM_FONT, edge="#495057",
         lw=1.0, text_color="#212529", ls="-", weight="normal"):
    """A rounded box with its lower-left corner at (x, y), and centred text."""
    from matplotlib.patches import FancyBboxPatch

    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.06", facecolor=face,
                           edgecolor=edge, linewidth=lw, linestyle=ls, gid=gid)
    ax.add_patch(patch)
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize,
                color=text_color, gid=gid, weight=weight)
    return patch


def _arrow(ax, start, end, gid=None, color="#343a40", lw=1.1, path=None, ls="-"):
    """An arrow from start to end (or along ``path``, a list of points), head at the end."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    kwargs = dict(arrowstyle="-|>", mutation_scale=9, color=color, linewidth=lw, linestyle=ls,
                  shrinkA=0, shrinkB=0, gid=gid, zorder=2.5)  # above boxes
    if path is not None:
        patch = FancyArrowPatch(path=Path(path), **kwargs)
    else:
        patch = FancyArrowPatch(start, end, **kwargs)
    ax.add_patch(patch)
    return patch


def _label(ax, x, y, text, fontsize=DIAGRAM_FONT, gid=None, **kwargs):
    kwargs = dict(ha="center", va="center", color="#212529") | kwargs
    return ax.text(x, y, text, fontsize=fontsize, gid=gid, **kwargs)


# ----------------------------------------------------------------------------- the model map

# The parts draw_model_map can highlight, and the boxes (gids) each one colours.
MODEL_MAP_PARTS = {
    "tokens": ("tokens",),
    "embeddings": ("embeddings", "embeddings.word", "embeddings.position", "embeddings.segment",
                   "embeddings.norm"),
    "encoder": ("encoder",),
    "attention": ("attention",),
    "add_norm": ("add_norm.1", "add_norm.2"),
    "ffn": ("ffn",),
    "hidden": ("hidden",),
    "pooler": ("pooler",),
    "nsp": ("head.nsp",),
    "classification": ("head.classification",),
    "multiple_choice": ("head.multiple_choice",),
    "mlm": ("head.mlm",),
    "token_classification": ("head.token_classification",),
    "span": ("head.span",),
}
MODEL_MAP_PARTS["heads"] = tuple(g for k, v in MODEL_MAP_PARTS.items() if k in (
    "nsp", "classification", "multiple_choice", "mlm", "token_classification", "span") for g in v)


def _check_highlight(highlight) -> set[str]:
    """None, one part name or a list of them -> the set of gids to colour."""
    if highlight is None:
        return set()
    names = [highlight] if isinstance(highlight, str) else highlight
    if not isinstance(names, (list, tuple, set)) or not names:
        raise TypeError("highlight must be None, a part name or a list of part names, "
                        f"got {highlight!r}")
    gids = set()
    for name in names:
        if name not in MODEL_MAP_PARTS:
            raise ValueError(f"unknown part {name!r} to highlight; "
                             f"choose from {sorted(MODEL_MAP_PARTS)}")
        gids.update(MODEL_MAP_PARTS[name])
    return gids


def draw_model_map(highlight=None,
                   tokens=("[CLS]", "my", "dog", "[SEP]", "it", "bark", "##s", "[SEP]")):
    """The map of BERT, bottom to top: tokens -> embeddings (word + position + segment, LayerNorm)
    -> L encoder layers (self-attention, add & norm, feed-forward, add & norm) -> hidden states ->
    the heads: NSP, sequence classification and multiple choice read the pooler (the [CLS] vector
    through dense + tanh); MLM, token classification and the QA span head read every token.

    ``highlight``: a part name of ``MODEL_MAP_PARTS`` ("embeddings", "attention", "ffn",
    "add_norm", "encoder", "hidden", "pooler", "heads", "mlm", "nsp", "span", ...) or a list of
    them; that part is drawn in orange and the rest faded, so a chapter can show where its piece
    sits. ``tokens``: the input row (at most 8 tokens).
    """
    lit = _check_highlight(highlight)
    if isinstance(tokens, str) or not isinstance(tokens, Sequence) or not 1 <= len(tokens) <= 8:
        raise ValueError(f"tokens must be a list of 1 to 8 token strings, got {tokens!r}")
    W, Ht = 7.0, 6.75
    fig, ax = _canvas(W, Ht)

    def box(x, y, w, h, text, part, gid, fontsize=DIAGRAM_FONT, **kw):
        face, edge, lw, color = PART_COLORS[part], "#495057", 1.0, "#212529"
        if lit:
            face, edge, color = FADED_FACE, FADED_EDGE, FADED_TEXT
            if gid in lit:
                face, edge, lw, color = HIGHLIGHT_FACE, HIGHLIGHT_EDGE, 2.2, "#000000"
        return _box(ax, x, y, w, h, text, face, gid=gid, edge=edge, lw=lw, text_color=color,
                    fontsize=fontsize, **kw)

    # tokens: one box each, centred
    n = len(tokens)
    tw, gap = 0.72, 0.1
    x0 = (W - n * tw - (n - 1) * gap) / 2
    for i, tok in enumerate(tokens):
        box(x0 + i * (tw + gap), 0.1, tw, 0.36, str(tok), "tokens", "tokens")
    _label(ax, W / 2, 0.6, "token ids (B, T)", fontsize=7.5, color="#495057")
    _arrow(ax, (W / 2, 0.7), (W / 2, 0.9))

    # embeddings: word + position + segment -> LayerNorm
    box(0.1, 0.9, W - 0.2, 1.2, "", "embeddings", "embeddings")
    _label(ax, 0.25, 1.9, "embeddings", ha="left", weight="bold")
    _label(ax, W - 0.25, 1.9, "(B, T, H)", ha="right", fontsize=7.5, color="#495057")
    parts = [("word\nW[token id]", "embeddings.word"), ("position\nP[t]", "embeddings.position"),
             ("segment\nS[A or B]", "embeddings.segment")]
    bw, y = 1.25, 1.05
    xs = [0.45 + i * (bw + 0.45) for i in range(4)]
    for (text, gid), x in zip(parts, xs):
        box(x, y, bw, 0.6, text, "embeddings", gid)
    for x in xs[:2]:
        _label(ax, x + bw + 0.225, y + 0.3, "+", fontsize=12, weight="bold")
    _arrow(ax, (xs[2] + bw + 0.05, y + 0.3), (xs[3] - 0.05, y + 0.3))
    box(xs[3], y, bw, 0.6, "LayerNorm\n+ dropout", "embeddings", "embeddings.norm")

    # the encoder: L identical layers; inside one, left to right
    _arrow(ax, (0.95, 2.1), (0.95, 2.85))
    box(0.1, 2.5, W - 0.2, 1.35, "", "encoder", "encoder")
    _label(ax, 0.25, 3.62, "encoder layer  × L", ha="left", weight="bold")
    _label(ax, 2.0, 3.62, "(B, T, H) in and out", ha="left", fontsize=7.5, color="#495057")
    inner = [("self-attention\n(nh heads)", "attention", "attention", 1.45),
             ("add & norm", "add_norm", "add_norm.1", 1.1),
             ("feed-forward\nH → I → H", "ffn", "ffn", 1.45),
             ("add & norm", "add_norm", "add_norm.2", 1.1)]
    x, y, h = 0.3, 2.7, 0.6
    for k, (text, part, gid, w) in enumerate(inner):
        patch = box(x, y, w, h, text, part, gid)
        if k:
            _arrow(ax, (x - 0.4, y + h / 2), (x, y + h / 2))
        x += w + 0.4
    last = patch.get_x() + patch.get_width() / 2
    _arrow(ax, (last, y + h), (last, 4.2))

    # hidden states, then the pooler on [CLS] and the six heads
    box(0.1, 4.2, W - 0.2, 0.42,
        "hidden states: one vector per token (last_hidden_state, B × T × H)", "hidden", "hidden")
    hw, hgap = 1.05, 0.1
    hx = [0.1 + i * (hw + hgap) for i in range(6)]
    box(hx[0], 5.0, hx[2] + hw - hx[0], 0.45, "pooler: h[CLS] → dense → tanh (B, H)", "pooler",
        "pooler")
    _arrow(ax, (0.6, 4.62), (0.6, 5.0))
    heads = [("NSP\nis next?", "head.nsp"), ("sequence\nclassification", "head.classification"),
             ("multiple\nchoice", "head.multiple_choice"), ("MLM\nmasked words", "head.mlm"),
             ("token\nclassification", "head.token_classification"),
             ("span (QA)\nstart, end", "head.span")]
    for i, ((text, gid), x) in enumerate(zip(heads, hx)):
        box(x, 5.85, hw, 0.6, text, "head", gid, fontsize=8)
        start_y = 5.45 if i < 3 else 4.62  # the first three read the pooler, the rest every token
        _arrow(ax, (x + hw / 2, start_y), (x + hw / 2, 5.85))
    _label(ax, (hx[0] + hx[2] + hw) / 2, 6.53, "read [CLS] (one vector per sequence)", fontsize=7.5,
           color="#495057")
    _label(ax, (hx[3] + hx[5] + hw) / 2, 6.53, "read every token (one vector per token)",
           fontsize=7.5, color="#495057")
    return fig


# ------------------------------------------------------------------------- the input embedding sum


def _int_list(values, name: str) -> list[int]:
    arr = _to_numpy(values, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (T,) for one sequence, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not (arr == np.round(arr)).all():
        raise ValueError(f"{name} must hold integers, got {arr.tolist()}")
    return [int(v) for v in arr]


def draw_embedding_sum(tokens, input_ids, token_type_ids):
    """BERT's input, one column per token: the word embedding (the row of the token's id), the
    position embedding (the row of its position) and the segment embedding (row 0 for sentence A,
    1 for B) are added, then LayerNorm turns the sum into the encoder's input, (T, H).

    ``tokens``, ``input_ids`` and ``token_type_ids`` describe one sequence of at most 12 tokens,
    e.g. a tokenizer's output for a sentence pair.
    """
    ids = _int_list(input_ids, "input_ids")
    types = _int_list(token_type_ids, "token_type_ids")
    T = len(ids)
    if not 1 <= T <= 12:
        raise ValueError(f"draw at most 12 tokens (the columns must stay readable), got {T}")
    tokens = _check_tokens(tokens, T)
    if len(types) != T:
        raise ValueError(f"token_type_ids has {len(types)} entries but input_ids has {T}")
    if any(t not in (0, 1) for t in types):
        raise ValueError(f"token_type_ids must be 0 (sentence A) or 1 (sentence B), got {types}")
    if any(i < 0 for i in ids):
        raise ValueError(f"input_ids must be non-negative row numbers, got {ids}")

    W, left, gap = 7.0, 1.35, 0.06
    cw = (W - left - 0.1 - (T - 1) * gap) / T  # column width, inches
    size = float(min(DIAGRAM_FONT, max(7.0, cw * 13)))
    rows = {"token": 3.55, "word": 2.85, "position": 2.15, "segment": 1.45, "sum": 0.75}
    rh = 0.38
    fig, ax = _canvas(W, 4.05)
    names = {"token": "input", "word": "word\nW[input id]", "position": "position\nP[t]",
             "segment": "segment\nA: S[0], B: S[1]", "sum": "sum\nper token"}
    for row, y in rows.items():
        _label(ax, 0.1, y + rh / 2, names[row], ha="left", fontsize=DIAGRAM_FONT, gid=f"row.{row}")
    segment_faces = ("#d3f0cf", "#eebefa")  # sentence A, sentence B
    for t in range(T):
        x = left + t * (cw + gap)
        _box(ax, x, rows["token"], cw, rh, tokens[t], PART_COLORS["tokens"], gid="token",
             fontsize=size)
        _box(ax, x, rows["word"], cw, rh, f"W[{ids[t]}]", PART_COLORS["embeddings"], gid="word",
             fontsize=size)
        _box(ax, x, rows["position"], cw, rh, f"P[{t}]", "#ffe3c2", gid="position", fontsize=size)
        _box(ax, x, rows["segment"], cw, rh, f"S[{types[t]}]", segment_faces[types[t]],
             gid="segment", fontsize=size)
        _box(ax, x, rows["sum"], cw, rh, f"$e_{{{t}}}$", "#ffffff", gid="sum", fontsize=size + 1)
        for y, sign in ((rows["word"], "+"), (rows["position"], "+"), (rows["segment"], "=")):
            _label(ax, x + cw / 2, y - (0.7 - rh) / 2, sign, fontsize=10, weight="bold")
        _arrow(ax, (x + cw / 2, rows["token"]), (x + cw / 2, rows["word"] + rh), gid="lookup",
               color="#868e96", lw=0.8)
    _box(ax, left, 0.08, W - left - 0.1, 0.4, "LayerNorm over the H features of each token,"
         " then dropout  →  the encoder's input (T, H)", PART_COLORS["embeddings"], gid="norm")
    _label(ax, 0.1, 0.28, "LayerNorm", ha="left", gid="row.norm")
    return fig


# ------------------------------------------------------------------------- Q, K, V and the heads


def draw_qkv_heads(n_heads: int = 4, hidden_size: int | None = None, seq_len: int | None = None):
    """Multi-head self-attention as shapes: X (T x H) is projected to Q, K and V (T x H each);
    each is cut along H into ``n_heads`` slices of hs = H / nh features (one colour per head);
    every head computes softmax(Q_h K_h^T / sqrt(hs)) V_h, (T x hs), on its own; the heads'
    outputs are put side by side again (T x H) and the output projection W_O mixes them.

    With ``hidden_size`` (and ``seq_len``) the shapes are written with numbers (e.g. MiniLM's
    H = 384, nh = 12, hs = 32), else with letters. At most three heads are drawn as boxes (the
    first two and the last), the others stand behind the dots.
    """
    for name, value in (("n_heads", n_heads), ("hidden_size", hidden_size), ("seq_len", seq_len)):
        if value is None and name != "n_heads":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if n_heads > len(HEAD_COLORS) * 4:
        raise ValueError(f"n_heads must be at most {len(HEAD_COLORS) * 4} to be drawn, "
                         f"got {n_heads}")
    if hidden_size is not None and hidden_size % n_heads:
        raise ValueError(f"hidden_size {hidden_size} is not a multiple of n_heads {n_heads}: BERT "
                         "cuts H into nh equal slices")
    Ts = "T" if seq_len is None else str(seq_len)
    Hs = "H" if hidden_size is None else str(hidden_size)
    hss = "hs" if hidden_size is None else str(hidden_size // n_heads)
    hs_value = f"H / {n_heads}" if hidden_size is None else hss  # "hs = hs" says nothing
    shown = list(range(n_heads)) if n_heads <= 3 else [0, 1, n_heads - 1]

    fig, ax = _canvas(7.0, 3.9)
    mh = 0.62  # the height of every T-row matrix

    def matrix(x, y, w, name, shape, bands: bool, gid):
        if bands:  # one coloured slice per head, in the order of the features
            bw = w / n_heads
            for h in range(n_heads):
                ax.add_patch(plt.Rectangle((x + h * bw, y), bw, mh, lw=0.5, edgecolor="#868e96",
                                       facecolor=HEAD_COLORS[h % len(HEAD_COLORS)],
                                       gid=f"{gid}.slice"))
            ax.add_patch(plt.Rectangle((x, y), w, mh, fill=False, edgecolor="#343a40", lw=1.1))
        else:
            _box(ax, x, y, w, mh, face="#e9ecef", gid=gid)
        _label(ax, x + w / 2, y + mh / 2, name, fontsize=11, weight="bold", gid=gid)
        _label(ax, x + w / 2, y - 0.13, shape, fontsize=7.5, gid=f"{gid}.shape")

    ys = (2.95, 1.75, 0.55)  # rows of Q, K, V (and of the head boxes)
    matrix(0.1, ys[1], 0.6, "X", f"{Ts} × {Hs}", False, "X")
    for (name, w_name), y in zip((("Q", "$W_Q$"), ("K", "$W_K$"), ("V", "$W_V$")), ys):
        matrix(1.45, y, 0.85, name, f"{Ts} × {Hs}", True, name)
        _arrow(ax, (0.7, ys[1] + mh / 2), (1.45, y + mh / 2), gid="projection")
        _label(ax, 1.05, (ys[1] + y) / 2 + mh / 2 + 0.1, w_name, fontsize=8.5)
    # the split: a bracket over Q, K, V, then one arrow per drawn head
    bx = 2.45
    ax.plot([bx, bx + 0.08, bx + 0.08, bx], [ys[0] + mh, ys[0] + mh, ys[2], ys[2]],
            color="#343a40", lw=1.0)
    _label(ax, bx + 0.2, ys[2] - 0.28, f"split H into nh = {n_heads}\nslices of hs = {hs_value}",
           fontsize=7.5, ha="left")
    hx, hw = 3.05, 2.0
    for h, y in zip(shown, ys):
        face = HEAD_COLORS[h % len(HEAD_COLORS)]
        _box(ax, hx, y - 0.05, hw, mh + 0.1, "", face, gid="head")
        _label(ax, hx + hw / 2, y + mh - 0.12, f"head {h}", fontsize=8, weight="bold", gid="head")
        _label(ax, hx + hw / 2, y + mh / 2 - 0.08,
               f"softmax($Q_{{{h}}} K_{{{h}}}^T / \\sqrt{{{hss}}}$) $V_{{{h}}}$", fontsize=8,
               gid="head")
        _label(ax, hx + hw / 2, y + 0.04, f"{Ts} × {hss}", fontsize=7.5, gid="head.shape")
        _arrow(ax, (bx + 0.08, (ys[0] + mh + ys[2]) / 2), (hx, y + mh / 2), gid="split")
        _arrow(ax, (hx + hw, y + mh / 2), (5.45, ys[1] + mh / 2), gid="merge")
    if n_heads > 3:
        _label(ax, hx + hw / 2, (ys[1] + ys[2] + mh) / 2 - 0.02, f"⋮  ({n_heads - 3} more)",
               fontsize=8)
    matrix(5.45, ys[1], 0.6, "", f"{Ts} × {Hs}", True, "concat")
    _label(ax, 5.75, ys[1] + mh + 0.13, "concat", fontsize=8)
    _arrow(ax, (6.05, ys[1] + mh / 2), (6.35, ys[1] + mh / 2), gid="output")
    _label(ax, 6.2, ys[1] + mh / 2 + 0.15, "$W_O$", fontsize=8.5)
    matrix(6.35, ys[1], 0.55, "out", f"{Ts} × {Hs}", False, "out")
    return fig


# ----------------------------------------------------------------------------- a toy attention


def toy_attention(q, k, v):
    """The three steps of scaled dot-product attention on small arrays, in NumPy (float64):
    scores = q k^T / sqrt(d), (T, T); probs = softmax of each row; out = probs v, (T, dv)."""
    q, k, v = (_to_numpy(a, n).astype(np.float64) for a, n in ((q, "q"), (k, "k"), (v, "v")))
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (T, d), got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} must hold finite numbers")
    if q.shape != k.shape:
        raise ValueError(f"q and k must have the same shape (T, d), got {q.shape} and {k.shape}")
    if v.shape[0] != q.shape[0]:
        raise ValueError(f"v must have one row per token like q ({q.shape[0]}), "
                         f"got shape {v.shape}")
    scores = q @ k.T / math.sqrt(q.shape[1])  # (T, T): row i = query i against every key
    e = np.exp(scores - scores.max(axis=1, keepdims=True))  # minus the row max: no overflow
    probs = e / e.sum(axis=1, keepdims=True)  # (T, T), rows sum to 1
    return scores, probs, probs @ v  # ..., (T, dv)


def _number(x: float, decimals: int, exact: bool = False) -> str:
    """``x`` with ``decimals`` decimals, or as an integer when ``exact`` and it is one."""
    if exact and float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{decimals}f}"


def _table(ax, x, y, values, row_labels, col_labels, title, decimals, gid, cw=0.5, rh=0.3,
           shade=None, exact=False):
    """A small table of numbers with its top-left corner at (x, y); returns its width.
    ``shade``: values in [0, 1] that colour the cells (orange, darker = larger)."""
    R, C = values.shape
    lw = 0.55  # width of the row-label column
    _label(ax, x + lw + C * cw / 2, y + 0.2, title, fontsize=8.5, weight="bold", gid=f"{gid}.title")
    for j, c in enumerate(col_labels):
        _label(ax, x + lw + (j + 0.5) * cw, y - 0.02, c, fontsize=7.5, color="#495057", va="bottom")
    for i in range(R):
        cy = y - 0.05 - (i + 1) * rh
        _label(ax, x + lw - 0.05, cy + rh / 2, row_labels[i], fontsize=8, ha="right")
        for j in range(C):
            fc = "#ffffff" if shade is None else plt.get_cmap("Oranges")(0.1 + 0.6 * shade[i, j])
            ax.add_patch(plt.Rectangle((x + lw + j * cw, cy), cw, rh, facecolor=fc,
                                       edgecolor="#868e96", lw=0.6))
            _label(ax, x + lw + (j + 0.5) * cw, cy + rh / 2,
                   _number(values[i, j], decimals, exact), fontsize=8.5, gid=gid)
    return lw + C * cw


def draw_toy_attention(q, k, v, tokens, decimals: int = 2):
    """A worked attention example small enough to check by hand: the queries, keys and values
    of 2 to 4 tokens (d and dv at most 4), the scores q k^T / sqrt(d), their softmax per row and
    the output, each as a table of numbers computed here (``toy_attention``) from the arguments.
    The last lines work the first token's row out in full.
    """
    scores, probs, out = toy_attention(q, k, v)
    q, k, v = (_to_numpy(a, n).astype(np.float64) for a, n in ((q, "q"), (k, "k"), (v, "v")))
    T, d = q.shape
    dv = v.shape[1]
    if not 2 <= T <= 4 or d > 4 or dv > 4:
        raise ValueError(f"a toy example has 2 to 4 tokens and at most 4 features, got T={T}, "
                         f"d={d}, dv={dv}")
    tokens = _check_tokens(tokens, T)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 4:
        raise ValueError(f"decimals must be an int in [0, 4], got {decimals!r}")

    height = 2 * (0.75 + 0.3 * T) + 0.55
    fig, ax = _canvas(7.0, height)
    top = height - 0.3
    feats = [str(j) for j in range(max(d, dv))]
    x = 0.05
    for name, arr, sym in (("queries Q", q, "q"), ("keys K", k, "k"), ("values V", v, "v")):
        x += _table(ax, x, top, arr, tokens, feats[:arr.shape[1]], name, decimals, sym,
                    exact=True) + 0.35
    bottom = top - 0.75 - 0.3 * T
    x = 0.05
    x += _table(ax, x, bottom, scores, tokens, tokens, f"scores $S = QK^T/\\sqrt{{{d}}}$",
                decimals, "scores", cw=0.6) + 0.3
    x += _table(ax, x, bottom, probs, tokens, tokens, "P = softmax of each row", decimals,
                "probs", cw=0.6, shade=probs) + 0.3
    _table(ax, x, bottom, out, tokens, feats[:dv], "output = P V", decimals, "out")
    # the first query worked out in full, one step a line
    dots = ", ".join(_number(x, decimals, exact=True) for x in q[0] @ k.T)
    terms = " + ".join(f"{_number(p, decimals)}·{_vec(v[j], decimals, exact=True)}"
                       for j, p in enumerate(probs[0]))
    lines = [f"{tokens[0]}:  S row = q·k / √{d} = ({dots}) / √{d} = "
             f"{_vec(scores[0], decimals)}",
             f"P row = exp(S row) / sum of exp(S row) = {_vec(probs[0], decimals)}",
             f"output row = {terms} = {_vec(out[0], decimals)}"]
    y0 = bottom - 0.05 - 0.3 * T - 0.25
    for i, line in enumerate(lines):
        _label(ax, 0.1 if i == 0 else 0.1 + 0.06 * (len(tokens[0]) + 3), y0 - i * 0.2, line,
               fontsize=8, ha="left", gid="worked")
    return fig


def _vec(row, decimals: int, exact: bool = False) -> str:
    return "(" + ", ".join(_number(x, decimals, exact) for x in row) + ")"


# ----------------------------------------------------------------------------- post-LN and pre-LN


def _layer_column(ax, cx, steps, column: str):
    """One encoder layer drawn bottom to top at x = cx. ``steps`` lists ("box", text, part),
    ("add",) for the residual sum, ("branch",) where the residual stream leaves the main path.
    Each residual arrow runs from the latest branch to the next sum, on the right."""
    bw, bh, step = 1.9, 0.38, 0.62
    y = 0.55
    _label(ax, cx, 0.25, "x (from the layer below)", fontsize=8, gid=column)
    prev_top, branch_y = 0.38, None
    for item in steps:
        kind = item[0]
        if kind == "branch":
            branch_y = prev_top + 0.06  # just above the previous box: clear of the next arrowhead
            ax.plot([cx], [branch_y], "o", color="#343a40", ms=3)
            y += 0.15  # a longer arrow, so the dot sits clear of its head
            continue
        if kind == "box":
            _, text, part = item
            _arrow(ax, (cx, prev_top), (cx, y), gid=f"{column}.flow")
            ls = "--" if "final" in text else "-"
            _box(ax, cx - bw / 2, y, bw, bh, text, PART_COLORS[part], gid=column, ls=ls)
            prev_top, y = y + bh, y + step
        else:  # the residual sum: a circle with a plus, fed from the branch on the right
            r = 0.13
            _arrow(ax, (cx, prev_top), (cx, y + 0.05), gid=f"{column}.flow")
            ax.add_patch(plt.Circle((cx, y + 0.05 + r), r, facecolor="#ffffff", edgecolor="#343a40",
                                    lw=1.1, zorder=3))
            _label(ax, cx, y + 0.05 + r, "+", fontsize=11, gid=f"{column}.add", zorder=4)
            side = cx + bw / 2 + 0.3
            _arrow(ax, None, None, gid=f"{column}.residual", color="#1c7ed6", path=[
                (cx, branch_y), (side, branch_y), (side, y + 0.05 + r), (cx + r, y + 0.05 + r)])
            prev_top, y = y + 0.05 + 2 * r, y + 0.05 + 2 * r + 0.3
    _arrow(ax, (cx, prev_top), (cx, y), gid=f"{column}.flow")
    _label(ax, cx, y + 0.12, "to the next layer", fontsize=8, gid=column)
    return y + 0.12


def draw_layer_layouts():
    """One encoder layer in BERT's post-LN order (LayerNorm after each residual sum:
    x = LN(x + Attn(x)), x = LN(x + FFN(x))) beside the pre-LN order of MegatronBERT
    (LayerNorm before each sub-block, the residual stream itself never normalised:
    x = x + Attn(LN(x)), x = x + FFN(LN(x)), and one final LayerNorm after the last layer).
    Blue arrows are the residual connections.
    """
    fig, ax = _canvas(7.0, 5.95)
    post = [("branch",), ("box", "self-attention", "attention"), ("add",),
            ("box", "LayerNorm", "add_norm"), ("branch",), ("box", "feed-forward", "ffn"),
            ("add",), ("box", "LayerNorm", "add_norm")]
    pre = [("branch",), ("box", "LayerNorm", "add_norm"), ("box", "self-attention", "attention"),
           ("add",), ("branch",), ("box", "LayerNorm", "add_norm"),
           ("box", "feed-forward", "ffn"), ("add",)]
    _layer_column(ax, 1.6, post, "post")
    top = _layer_column(ax, 5.1, pre, "pre")
    # pre-LN's stream is normalised once, after the stack: drawn dashed above the layer
    _box(ax, 5.1 - 0.95, top + 0.2, 1.9, 0.4, "final LayerNorm\n(once, after layer L)",
         PART_COLORS["add_norm"], gid="pre", ls="--", fontsize=8)
    _label(ax, 1.6, 5.75, "post-LN: BERT", fontsize=10, weight="bold")
    _label(ax, 5.1, 5.75, "pre-LN: MegatronBERT", fontsize=10, weight="bold")
    _label(ax, 1.6, 5.5, "x = LN(x + sublayer(x))", fontsize=8.5)
    _label(ax, 5.1, 5.5, "x = x + sublayer(LN(x))", fontsize=8.5)
    return fig


# ----------------------------------------------------------------------------- the task heads


def _encoder_panel(ax, x0, y0, w, tokens, title):
    """Tokens, the encoder and one hidden vector per token, in a panel of width w at (x0, y0);
    returns the x centre of each token's column and the top of the hidden row."""
    n = len(tokens)
    gap = 0.05
    cw = (w - (n - 1) * gap) / n
    xs = [x0 + i * (cw + gap) + cw / 2 for i in range(n)]
    _label(ax, x0 + w / 2, y0 + 2.2, title, fontsize=8.5, weight="bold")
    for x, tok in zip(xs, tokens):
        _box(ax, x - cw / 2, y0, cw, 0.28, tok, PART_COLORS["tokens"], gid="token", fontsize=7.5)
        _box(ax, x - cw / 2, y0 + 0.85, cw, 0.26, "h", PART_COLORS["hidden"], gid="hidden",
             fontsize=7.5)
    _box(ax, x0, y0 + 0.38, w, 0.37, "encoder (BertModel)", PART_COLORS["encoder"], gid="encoder",
         fontsize=8)
    return xs, cw, y0 + 1.11


def draw_task_heads():
    """Which hidden vectors each fine-tuning head reads, in four panels: a sentence task (topic,
    NSP) reads the [CLS] vector through the pooler; token tasks (NER, MLM) read every token (the
    special tokens get the ignored label -100); extractive QA gives every token a start and an
    end score; multiple choice runs the encoder once per (context, choice) pair, gives each pair
    one score, and a softmax over the choices picks one.
    """
    fig, ax = _canvas(7.0, 5.3)
    head, pool = PART_COLORS["head"], PART_COLORS["pooler"]

    # (a) sentence classification: [CLS] -> pooler -> linear -> C classes
    xs, cw, top = _encoder_panel(ax, 0.1, 2.9, 3.3, ["[CLS]", "the", "match", "ended", "[SEP]"],
                                 "sentence task: topic, NSP")
    _box(ax, 0.1, top + 0.3, 1.3, 0.34, "pooler", pool, gid="pooler", fontsize=8)
    _arrow(ax, (xs[0], top), (xs[0], top + 0.3), gid="read")
    _box(ax, 1.65, top + 0.3, 1.75, 0.34, "linear H → C", head, gid="head", fontsize=8)
    _arrow(ax, (1.4, top + 0.47), (1.65, top + 0.47))
    _label(ax, 2.525, top + 0.83, "C class scores: one label", fontsize=8, gid="label")
    _label(ax, 0.75, top + 0.83, "reads [CLS] only", fontsize=7.5, color="#495057")

    # (b) token classification: every token -> linear -> a label; [CLS], [SEP] ignored
    labels = ["-100", "B-PER", "O", "B-LOC", "-100"]
    xs, cw, top = _encoder_panel(ax, 3.6, 2.9, 3.3, ["[CLS]", "blair", "visited", "paris",
                                                     "[SEP]"], "token task: NER, MLM")
    _box(ax, 3.6, top + 0.22, 3.3, 0.28, "linear H → labels, the same for every token", head,
         gid="head", fontsize=7.5)
    for x, lab in zip(xs, labels):
        _arrow(ax, (x, top), (x, top + 0.22), gid="read")
        ignored = lab == "-100"
        _label(ax, x, top + 0.68, lab, fontsize=7.5 if ignored else 8,
               color="#adb5bd" if ignored else "#212529", gid="label")
    _label(ax, 5.25, top + 0.93, "one label per token (-100: no loss)", fontsize=7.5,
           color="#495057")

    # (c) question answering: every token -> linear H -> 2: start and end scores
    toks = ["[CLS]", "who", "won", "[SEP]", "tony", "blair", "[SEP]"]
    xs, cw, top = _encoder_panel(ax, 0.1, 0.1, 3.3, toks, "span task: question answering")
    _box(ax, 0.1, top + 0.22, 3.3, 0.28, "linear H → 2: a start and an end score", head,
         gid="head", fontsize=7.5)
    for x in xs:
        _arrow(ax, (x, top), (x, top + 0.22), gid="read")
    for i, tag in ((4, "start"), (5, "end")):
        _label(ax, xs[i], top + 0.68, tag, fontsize=8, weight="bold", color="#c2410c", gid="span")
    _label(ax, 1.75, top + 0.93, "answer: the best start to end", fontsize=7.5, color="#495057")

    # (d) multiple choice: one (context, choice) pair per row -> one score each -> softmax
    _label(ax, 5.25, 2.3, "multiple choice", fontsize=8.5, weight="bold")
    _label(ax, 5.25, 2.08, "same weights for every choice", fontsize=7.5, color="#495057")
    rows = [1.5 - k * 0.55 for k in range(3)]
    for k, y in enumerate(rows):
        _box(ax, 3.6, y, 1.3, 0.38, f"[CLS] context\n[SEP] choice {k} [SEP]",
             PART_COLORS["tokens"], gid="token", fontsize=7)
        _arrow(ax, (4.9, y + 0.19), (5.02, y + 0.19))
        _box(ax, 5.02, y, 0.85, 0.38, "encoder\n+ pooler", PART_COLORS["encoder"], gid="encoder",
             fontsize=7)
        _arrow(ax, (5.87, y + 0.19), (5.99, y + 0.19))
        _box(ax, 5.99, y, 0.5, 0.38, f"H → 1\n$s_{k}$", head, gid="head", fontsize=7)
        _arrow(ax, (6.49, y + 0.19), (6.61, y + 0.19), gid="score")
    _box(ax, 6.61, rows[-1], 0.29, rows[0] + 0.38 - rows[-1], "", pool, gid="head")
    _label(ax, 6.755, (rows[0] + 0.38 + rows[-1]) / 2, "softmax", rotation=90, fontsize=7.5,
           gid="head")
    _label(ax, 5.25, 0.2, "the softmax over the choices' scores picks one", fontsize=7.5,
           color="#495057")
    return fig


# ----------------------------------------------------------------------------- the QA span head


def best_span(start_logits, end_logits, max_answer_len: int = 30, allowed=None):
    """(start, end, score) of the span with the largest start_logits[i] + end_logits[j] over
    i <= j < i + max_answer_len, both ends where ``allowed`` (default: everywhere); ties go to
    the earliest start, then the earliest end. Returns None when no span is allowed."""
    s = _to_numpy(start_logits, "start_logits").astype(np.float64)
    e = _to_numpy(end_logits, "end_logits").astype(np.float64)
    if s.ndim != 1 or s.shape != e.shape:
        raise ValueError(f"start_logits and end_logits must be 1-D of the same length, got "
                         f"{s.shape} and {e.shape}")
    if (isinstance(max_answer_len, bool) or not isinstance(max_answer_len, int)
            or max_answer_len < 1):
        raise ValueError(f"max_answer_len must be a positive int, got {max_answer_len!r}")
    T = s.shape[0]
    ok = np.ones(T, bool) if allowed is None else _to_numpy(allowed, "allowed").astype(bool)
    if ok.shape != (T,):
        raise ValueError(f"allowed must have one entry per token ({T}), got shape {ok.shape}")
    i, j = np.indices((T, T))
    valid = (i <= j) & (j < i + max_answer_len) & ok[:, None] & ok[None, :]  # (T, T)
    if not valid.any():
        return None
    total = np.where(valid, s[:, None] + e[None, :], -np.inf)  # (T, T): start i, end j
    start, end = np.unravel_index(int(np.argmax(total)), total.shape)
    return int(start), int(end), float(total[start, end])


def draw_span_head(tokens, start_logits, end_logits, max_answer_len: int = 30, allowed=None):
    """The QA span head on one sequence of at most 16 tokens: the same linear layer (H -> 2) turns
    every token's hidden vector into a start score and an end score; the answer is the span
    i <= j (at most ``max_answer_len`` tokens, both ends where ``allowed``, e.g. the context)
    with the largest start[i] + end[j], framed in orange. Darker cells have larger scores.
    """
    s = _to_numpy(start_logits, "start_logits").astype(np.float64)
    e = _to_numpy(end_logits, "end_logits").astype(np.float64)
    span = best_span(s, e, max_answer_len, allowed)
    T = s.shape[0]
    if not 2 <= T <= 16:
        raise ValueError(f"draw 2 to 16 tokens (the columns must stay readable), got {T}")
    if not np.isfinite(s).all() or not np.isfinite(e).all():
        raise ValueError("start_logits and end_logits must be finite")
    tokens = _check_tokens(tokens, T)
    if span is None:
        raise ValueError("no span is allowed: check allowed and max_answer_len")
    i0, j0, score = span

    W, left, gap = 7.0, 1.05, 0.04
    cw = (W - left - 0.1 - (T - 1) * gap) / T
    vertical = cw < 0.5  # long tokens stand up in narrow columns
    th = 0.6 if vertical else 0.3
    y_tok, y_h = 0.1, 0.2 + th
    y_lin = y_h + 0.45
    y_s, y_e = y_lin + 0.58, y_lin + 0.98
    fig, ax = _canvas(W, y_e + 0.75)
    xs = [left + t * (cw + gap) for t in range(T)]
    size = float(min(DIAGRAM_FONT, max(7.0, cw * 16)))
    for name, y, h in (("token", y_tok, th), ("hidden", y_h, 0.28), ("start score", y_s, 0.32),
                       ("end score", y_e, 0.32)):
        _label(ax, 0.1, y + h / 2, name, ha="left", fontsize=8)
    blues, greens = plt.get_cmap("Blues"), plt.get_cmap("Greens")

    def shade(values, t):
        lo, hi = values.min(), values.max()
        return 0.1 + 0.6 * ((values[t] - lo) / (hi - lo) if hi > lo else 0.5)

    ok = np.ones(T, bool) if allowed is None else _to_numpy(allowed, "allowed").astype(bool)
    for t, x in enumerate(xs):
        # tokens that may not be an end of the answer (e.g. the question) are drawn faded
        _box(ax, x, y_tok, cw, th, "", PART_COLORS["tokens"] if ok[t] else FADED_FACE, gid="token",
             edge="#495057" if ok[t] else FADED_EDGE)
        _label(ax, x + cw / 2, y_tok + th / 2, tokens[t], fontsize=size, gid="token",
               rotation=90 if vertical else 0, color="#212529" if ok[t] else FADED_TEXT)
        _box(ax, x, y_h, cw, 0.28, "h", PART_COLORS["hidden"], gid="hidden", fontsize=7.5)
        _arrow(ax, (x + cw / 2, y_h + 0.28), (x + cw / 2, y_lin), gid="read", lw=0.8)
        for values, y, cmap, gid in ((s, y_s, blues, "start"), (e, y_e, greens, "end")):
            level = shade(values, t)
            ax.add_patch(plt.Rectangle((x, y), cw, 0.32, facecolor=cmap(level), edgecolor="#868e96",
                                       lw=0.6))
            _label(ax, x + cw / 2, y + 0.16, f"{values[t]:.1f}", fontsize=size - 0.5, gid=gid,
                   color="white" if level > 0.5 else "#212529")
    _box(ax, left, y_lin, W - left - 0.1, 0.32, "linear H → 2, the same for every token",
         PART_COLORS["head"], gid="linear", fontsize=8)
    _arrow(ax, (W / 2, y_lin + 0.32), (W / 2, y_s), gid="read", lw=0.8)
    # the best span: its start cell, its end cell and its tokens framed in orange
    for x, y, h, gid in ((xs[i0], y_s, 0.32, "best-start"), (xs[j0], y_e, 0.32, "best-end"),
                         (xs[i0], y_tok, th, "best-span")):
        w = cw if gid != "best-span" else xs[j0] + cw - xs[i0]
        ax.add_patch(plt.Rectangle((x - 0.02, y - 0.02), w + 0.04, h + 0.04, fill=False,
                                   edgecolor=HIGHLIGHT_EDGE, lw=2.2, gid=gid, zorder=4))
    answer = " ".join(tokens[i0:j0 + 1]).replace(" ##", "")
    _label(ax, left, y_e + 0.55, f"best span: tokens {i0} to {j0}, \"{answer}\", score "
           f"{s[i0]:.1f} + {e[j0]:.1f} = {score:.1f}", fontsize=8.5, ha="left", gid="answer")
    return fig
