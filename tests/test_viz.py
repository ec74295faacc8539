"""bertbook.viz: each figure function draws the data it is given, labels it, and rejects bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot is imported (by bertbook.viz)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from bertbook import viz  # noqa: E402
from bertbook.modeling import extended_attention_mask  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _visible_image_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


def _probs(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).softmax(-1)  # rows sum to 1


# ----------------------------------------------------------------------------- embeddings


def test_embedding_sum_draws_each_table_cut_to_dims():
    rng = np.random.default_rng(0)
    T, H = 5, 10
    word, pos, seg = (rng.normal(size=(T, H)).astype(np.float32) for _ in range(3))
    summed = word + pos + seg
    normed = torch.nn.functional.layer_norm(torch.from_numpy(summed), (H,))
    tokens = ["[CLS]", "a", "b", "[SEP]", "c"]
    fig = viz.plot_embedding_sum(tokens, torch.from_numpy(word), pos, seg, summed, normed, dims=8)
    assert isinstance(fig, matplotlib.figure.Figure)
    axes = _visible_image_axes(fig)
    assert [ax.get_title() for ax in axes] == [
        "word embedding", "+ position embedding", "+ segment embedding", "= sum", "LayerNorm(sum)"]
    for ax, expected in zip(axes, (word, pos, seg, summed, normed.numpy())):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), expected[:, :8], rtol=1e-6)
    assert [t.get_text() for t in axes[0].get_yticklabels()] == tokens
    assert "first 8 of 10 features" in fig._suptitle.get_text()
    # the first four panels share one colour scale, LayerNorm's output has its own
    clims = [ax.images[0].get_clim() for ax in axes]
    assert len(set(clims[:4])) == 1 and clims[4] != clims[0]


def test_embedding_sum_dims_larger_than_hidden_draws_all():
    x = np.ones((3, 4), dtype=np.float32)
    fig = viz.plot_embedding_sum(list("abc"), x, x, x, 3 * x, x, dims=48)
    assert np.asarray(_visible_image_axes(fig)[0].images[0].get_array()).shape == (3, 4)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(tokens=list("ab")), "tokens has 2 entries"),
        (dict(summed=np.zeros((3, 5))), "summed has shape"),
        (dict(word=np.zeros((1, 3, 4))), "word must be 2-D"),
        (dict(dims=0), "dims must be a positive int"),
    ],
)
def test_embedding_sum_bad_input(change, match):
    x = np.zeros((3, 4))
    args = dict(tokens=list("abc"), word=x, position=x, segment=x, summed=x, normed=x, dims=4) | change
    with pytest.raises(ValueError, match=match):
        viz.plot_embedding_sum(**args)


def test_embedding_sum_rejects_non_numbers():
    with pytest.raises(TypeError, match="must hold numbers"):
        viz.plot_embedding_sum(list("ab"), [["x", "y"]] * 2, *([np.zeros((2, 2))] * 4))


# ----------------------------------------------------------------------------- attention


def test_attention_heads_grid_picks_the_requested_heads():
    probs = _probs(3, 4, 4)  # (nh, T, T)
    tokens = ["[CLS]", "x", "[SEP]", "[PAD]"]
    fig = viz.plot_attention_heads(probs, tokens, layer=2)
    axes = _visible_image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["head 0", "head 1", "head 2"]
    assert "Layer 2" in fig._suptitle.get_text()
    np.testing.assert_allclose(np.asarray(axes[1].images[0].get_array()), probs[1].numpy())
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in axes)  # one scale for every head
    assert [t.get_text() for t in axes[0].get_yticklabels()] == tokens  # queries on the first column
    assert [t.get_text() for t in axes[0].get_xticklabels()] == tokens  # keys on the (only) row

    fig = viz.plot_attention_heads(probs, tokens, layer=0, heads=[2, 0], ncols=1)
    axes = _visible_image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["head 2", "head 0"]
    np.testing.assert_allclose(np.asarray(axes[0].images[0].get_array()), probs[2].numpy())
    # key labels only under the bottom panel of the column
    assert [t.get_text() for t in axes[0].get_xticklabels()] == []
    assert [t.get_text() for t in axes[1].get_xticklabels()] == tokens


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(probs=_probs(1, 3, 4, 4)), ValueError, r"\(nh, T, T\)"),
        (dict(probs=torch.randn(3, 4, 4)), ValueError, "probabilities"),
        (dict(probs=_probs(3, 4, 5)), ValueError, r"\(T, T\)"),
        (dict(tokens=["a"]), ValueError, "tokens has 1 entries"),
        (dict(heads=[3]), ValueError, r"\[0, 3\)"),
        (dict(heads=[]), ValueError, "heads is empty"),
        (dict(layer=-1), ValueError, "layer must be"),
        (dict(heads=[1.0]), TypeError, "must be an int"),
    ],
)
def test_attention_heads_bad_input(kwargs, error, match):
    args = dict(probs=_probs(3, 4, 4), tokens=list("abcd"), layer=0) | kwargs
    with pytest.raises(error, match=match):
        viz.plot_attention_heads(**args)


def test_attention_layers_accepts_list_or_stack_and_hides_spare_cells():
    attentions = [_probs(2, 5, 5, seed=i) for i in range(4)]  # L = 4 layers of (nh, T, T)
    tokens = list("abcde")
    fig = viz.plot_attention_layers(attentions, tokens, head=1, ncols=3)
    axes = _visible_image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["layer 0", "layer 1", "layer 2", "layer 3"]
    assert sum(1 for ax in fig.axes if not ax.get_visible()) == 2  # a 2 x 3 grid for 4 panels
    for layer, ax in enumerate(axes):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), attentions[layer][1].numpy())
    assert "Head 1" in fig._suptitle.get_text()
    # layer 2 is the last panel of its column: it carries the key labels
    assert [t.get_text() for t in axes[2].get_xticklabels()] == tokens

    stacked = viz.plot_attention_layers(torch.stack(attentions).to(torch.bfloat16), tokens, head=1)
    assert len(_visible_image_axes(stacked)) == 4


def test_attention_layers_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        viz.plot_attention_layers([_probs(2, 3, 3)], list("abc"), head=2)
    with pytest.raises(ValueError, match=r"\(L, nh, T, T\)"):
        viz.plot_attention_layers(_probs(2, 3, 3), list("abc"), head=0)
    with pytest.raises(ValueError, match="empty"):
        viz.plot_attention_layers([], list("abc"), head=0)


# ----------------------------------------------------------------------------- masks


def _cell_texts(ax):
    return [t.get_text() for t in ax.texts]


def test_mask_binary_batch_with_tokens_in_cells():
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    tokens = [["[CLS]", "a", "b", "[SEP]"], ["[CLS]", "c", "[PAD]", "[PAD]"]]
    fig = viz.plot_mask(mask, tokens, row_labels=["ex 0", "ex 1"])
    (ax,) = fig.axes
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), (mask == 0).numpy())
    assert _cell_texts(ax) == tokens[0] + tokens[1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ex 0", "ex 1"]
    assert ax.get_title() == "1 = attend, 0 = masked"


@pytest.mark.parametrize("dtype, shown", [(torch.float32, "-3.4028e+38"), (torch.float16, "-65504")])
def test_mask_additive_from_extended_attention_mask(dtype, shown):
    mask = extended_attention_mask(torch.tensor([[1, 1, 0]]), dtype)  # (1, 1, 1, 3)
    fig = viz.plot_mask(mask, ["[CLS]", "x", "[PAD]"])
    (ax,) = fig.axes
    assert _cell_texts(ax) == ["0", "0", "min"]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), [[0, 0, 1]])
    assert shown in ax.get_title()


def test_mask_square_causal():
    T = 4
    mask = extended_attention_mask(torch.ones(1, T), torch.float32, causal=True)  # (1, 1, T, T)
    fig = viz.plot_mask(mask, list("abcd"), row_labels=list("abcd"))
    blocked = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(blocked, np.triu(np.ones((T, T)), k=1))  # future keys are masked


def test_mask_additive_flag_resolves_the_all_zero_case():
    zeros = np.zeros((1, 3))
    as_binary = viz.plot_mask(zeros, list("abc")).axes[0]
    as_additive = viz.plot_mask(zeros, list("abc"), additive=True).axes[0]
    assert np.asarray(as_binary.images[0].get_array()).all()  # 1/0 mask: 0 = masked
    assert not np.asarray(as_additive.images[0].get_array()).any()  # additive: 0 = attend


@pytest.mark.parametrize(
    "mask, kwargs, match",
    [
        (np.array([[1, 2, 0]]), {}, "only 0 and 1"),
        (np.array([[0.0, 1.0, -5.0]]), {}, "positive values"),
        (np.zeros((2, 2, 3)), {}, "mask must be"),
        (np.zeros((2, 3)), dict(tokens=[list("abc")]), "tokens has 1 rows"),
        (np.zeros((2, 3)), dict(row_labels=["x"]), "row_labels has 1 entries"),
        (np.zeros((1, 3)), dict(tokens=list("ab")), "tokens has 2 entries"),
    ],
)
def test_mask_bad_input(mask, kwargs, match):
    args = dict(tokens=list("abc")) | kwargs
    with pytest.raises(ValueError, match=match):
        viz.plot_mask(mask, **args)


# ----------------------------------------------------------------------------- per-head scores


def test_head_scores_one_panel_per_score_with_values_written():
    cls = np.array([[0.5, 0.25, 1.0], [0.0, 0.125, 0.75]])  # (L=2, nh=3)
    prev = 1 - cls
    fig = viz.plot_head_scores({"to [CLS]": cls, "to previous": torch.from_numpy(prev)}, title="shares")
    axes = _visible_image_axes(fig)
    assert [ax.get_title() for ax in axes] == ["to [CLS]", "to previous"]
    np.testing.assert_allclose(np.asarray(axes[1].images[0].get_array()), prev)
    assert _cell_texts(axes[0]) == [".50", ".25", "1.00", ".00", ".12", ".75"]
    assert fig._suptitle.get_text() == "shares"


def test_head_scores_bad_input():
    with pytest.raises(TypeError, match="non-empty dict"):
        viz.plot_head_scores({})
    with pytest.raises(ValueError, match="must be \\(L, nh\\)"):
        viz.plot_head_scores({"a": np.zeros((2, 3)), "b": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        viz.plot_head_scores({"a": np.full((2, 3), 2.0)})


# ----------------------------------------------------------------------------- schematic diagrams


def _texts(fig, gid=None):
    """The strings of a diagram's texts (those with ``gid``, when given), in drawing order."""
    return [t.get_text() for t in fig.axes[0].texts if gid is None or t.get_gid() == gid]


def _arrows(fig, gid=None):
    return [p for p in fig.axes[0].patches
            if isinstance(p, matplotlib.patches.FancyArrowPatch)
            and (gid is None or p.get_gid() == gid)]


def _boxes(fig, gid):
    return [p for p in fig.axes[0].patches
            if isinstance(p, matplotlib.patches.FancyBboxPatch) and p.get_gid() == gid]


def _fits_the_page(fig):
    width, height = fig.get_size_inches()
    return width <= 7.0 and height <= 8.0


def _inside_canvas(fig):
    """Every text lies wholly inside the figure: nothing is clipped at an edge."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for t in fig.axes[0].texts:
        bb = t.get_window_extent(renderer)
        if bb.x0 < box.x0 - 1 or bb.x1 > box.x1 + 1 or bb.y0 < box.y0 - 1 or bb.y1 > box.y1 + 1:
            return t.get_text()
    return None


def test_model_map_draws_every_part_and_the_flow():
    fig = viz.draw_model_map()
    assert _fits_the_page(fig) and _inside_canvas(fig) is None
    texts = " ".join(_texts(fig))
    for words in ("[CLS]", "embeddings", "word", "position", "segment", "LayerNorm",
                  "encoder layer  × L", "self-attention", "add & norm", "feed-forward",
                  "hidden states", "pooler", "NSP", "MLM", "sequence\nclassification",
                  "token\nclassification", "multiple\nchoice", "span (QA)"):
        assert words in texts, words
    assert _texts(fig, "tokens") == ["[CLS]", "my", "dog", "[SEP]", "it", "bark", "##s", "[SEP]"]
    # tokens->emb, emb sum->LN, emb->layer, 3 inside the layer, layer->hidden, hidden->pooler,
    # and one arrow into each of the six heads
    assert len(_arrows(fig)) == 1 + 1 + 1 + 3 + 1 + 1 + 6
    assert len(_boxes(fig, "add_norm.1")) == len(_boxes(fig, "add_norm.2")) == 1


@pytest.mark.parametrize("part", sorted(viz.MODEL_MAP_PARTS))
def test_model_map_highlights_exactly_the_named_part(part):
    fig = viz.draw_model_map(highlight=part)
    lit = matplotlib.colors.to_rgba(viz.HIGHLIGHT_FACE)
    coloured = {p.get_gid() for p in fig.axes[0].patches
                if isinstance(p, matplotlib.patches.FancyBboxPatch) and p.get_facecolor() == lit}
    assert coloured == set(viz.MODEL_MAP_PARTS[part])


def test_model_map_highlights_a_list_and_keeps_its_own_colours_without_one():
    fig = viz.draw_model_map(highlight=["mlm", "nsp"])
    lit = matplotlib.colors.to_rgba(viz.HIGHLIGHT_FACE)
    assert {p.get_gid() for p in fig.axes[0].patches if p.get_facecolor() == lit} == {
        "head.mlm", "head.nsp"}
    plain = viz.draw_model_map()
    assert not [p for p in plain.axes[0].patches if p.get_facecolor() == lit]
    assert _boxes(plain, "attention")[0].get_facecolor() == matplotlib.colors.to_rgba(
        viz.PART_COLORS["attention"])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(highlight="decoder"), ValueError, "unknown part 'decoder'"),
        (dict(highlight=["mlm", "gpt"]), ValueError, "unknown part 'gpt'"),
        (dict(highlight=[]), TypeError, "highlight must be"),
        (dict(highlight=3), TypeError, "highlight must be"),
        (dict(tokens=list("abcdefghi")), ValueError, "1 to 8 token strings"),
        (dict(tokens="my dog"), ValueError, "1 to 8 token strings"),
    ],
)
def test_model_map_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        viz.draw_model_map(**kwargs)


PAIR = ["[CLS]", "my", "dog", "[SEP]", "it", "bark", "##s", "[SEP]"]
PAIR_IDS = [101, 2026, 3899, 102, 2009, 11286, 2015, 102]
PAIR_TYPES = [0, 0, 0, 0, 1, 1, 1, 1]


def test_embedding_sum_diagram_shows_each_lookup():
    fig = viz.draw_embedding_sum(PAIR, torch.tensor(PAIR_IDS), np.array(PAIR_TYPES))
    assert _fits_the_page(fig) and _inside_canvas(fig) is None
    assert _texts(fig, "token") == PAIR
    assert _texts(fig, "word") == [f"W[{i}]" for i in PAIR_IDS]
    assert _texts(fig, "position") == [f"P[{t}]" for t in range(8)]
    assert _texts(fig, "segment") == [f"S[{s}]" for s in PAIR_TYPES]
    # sentence A and sentence B segments are told apart by colour
    faces = [p.get_facecolor() for p in _boxes(fig, "segment")]
    assert len(set(faces[:4])) == len(set(faces[4:])) == 1 and faces[0] != faces[4]
    assert len(_arrows(fig, "lookup")) == 8
    assert "LayerNorm" in _texts(fig, "norm")[0]


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(tokens=PAIR[:-1]), ValueError, "tokens has 7 entries"),
        (dict(token_type_ids=[0, 0, 2, 0, 1, 1, 1, 1]), ValueError, "0 \\(sentence A\\) or 1"),
        (dict(token_type_ids=[0, 1]), ValueError, "token_type_ids has 2 entries"),
        (dict(input_ids=list(range(13)), tokens=["t"] * 13, token_type_ids=[0] * 13), ValueError,
         "at most 12 tokens"),
        (dict(input_ids=[[101, 102]]), ValueError, "must be 1-D"),
        (dict(input_ids=[1.5] * 8), ValueError, "must hold integers"),
        (dict(input_ids=[-1] * 8), ValueError, "non-negative"),
        (dict(input_ids=["a"] * 8), TypeError, "must hold numbers"),
    ],
)
def test_embedding_sum_diagram_bad_arguments(change, error, match):
    args = dict(tokens=PAIR, input_ids=PAIR_IDS, token_type_ids=PAIR_TYPES) | change
    with pytest.raises(error, match=match):
        viz.draw_embedding_sum(**args)


def test_qkv_heads_splits_into_coloured_slices_and_merges_back():
    fig = viz.draw_qkv_heads(n_heads=12, hidden_size=384)
    assert _fits_the_page(fig) and _inside_canvas(fig) is None
    for name in ("Q", "K", "V", "concat"):  # one slice per head in each split matrix
        slices = [p for p in fig.axes[0].patches if p.get_gid() == f"{name}.slice"]
        assert len(slices) == 12
    # three head boxes drawn (0, 1 and the last), the others behind the dots
    heads = [t for t in _texts(fig, "head") if t.startswith("head")]
    assert heads == ["head 0", "head 1", "head 11"]
    assert "⋮  (9 more)" in _texts(fig)
    assert "slices of hs = 32" in " ".join(_texts(fig))
    assert _texts(fig, "head.shape") == ["T × 32"] * 3
    assert set(_texts(fig, "X.shape") + _texts(fig, "out.shape")) == {"T × 384"}
    assert len(_arrows(fig, "projection")) == 3
    assert len(_arrows(fig, "split")) == len(_arrows(fig, "merge")) == 3
    assert len(_arrows(fig, "output")) == 1


def test_qkv_heads_with_letters_and_few_heads():
    fig = viz.draw_qkv_heads(n_heads=2)
    assert [t for t in _texts(fig, "head") if t.startswith("head")] == ["head 0", "head 1"]
    assert _texts(fig, "head.shape") == ["T × hs"] * 2
    assert _texts(fig, "X.shape") == ["T × H"]
    assert not [t for t in _texts(fig) if "more" in t]
    assert "slices of hs = H / 2" in " ".join(_texts(fig))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_heads=0), "n_heads must be a positive int"),
        (dict(n_heads=2.0), "n_heads must be a positive int"),
        (dict(n_heads=5, hidden_size=384), "not a multiple of n_heads 5"),
        (dict(n_heads=4, seq_len=-3), "seq_len must be a positive int"),
        (dict(n_heads=64), "n_heads must be at most"),
    ],
)
def test_qkv_heads_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.draw_qkv_heads(**kwargs)


TOY_Q = [[1, 0], [0, 1], [1, 1]]
TOY_K = [[1, 0], [0, 1], [1, 1]]
TOY_V = [[1, 0], [0, 2], [3, 1]]


def test_toy_attention_agrees_with_torch():
    scores, probs, out = viz.toy_attention(TOY_Q, TOY_K, TOY_V)
    q, k, v = (torch.tensor(a, dtype=torch.float64) for a in (TOY_Q, TOY_K, TOY_V))
    expected = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(scores, (q @ k.T / 2 ** 0.5).numpy())


def test_toy_attention_figure_prints_the_numbers_it_computes():
    fig = viz.draw_toy_attention(TOY_Q, TOY_K, TOY_V, ["the", "cat", "sat"])
    assert _fits_the_page(fig) and _inside_canvas(fig) is None
    scores, probs, out = viz.toy_attention(TOY_Q, TOY_K, TOY_V)
    assert _texts(fig, "q") == ["1", "0", "0", "1", "1", "1"]  # inputs as the integers given
    assert _texts(fig, "scores") == [f"{x:.2f}" for x in scores.ravel()]
    assert _texts(fig, "probs") == [f"{x:.2f}" for x in probs.ravel()]
    assert _texts(fig, "out") == [f"{x:.2f}" for x in out.ravel()]
    worked = _texts(fig, "worked")
    assert worked[0].startswith("the:") and "(1, 0, 1) / √2" in worked[0]
    assert worked[2].endswith(f"= ({out[0, 0]:.2f}, {out[0, 1]:.2f})")


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(tokens=["a", "b"]), ValueError, "tokens has 2 entries"),
        (dict(k=[[1, 0], [0, 1]]), ValueError, "same shape"),
        (dict(v=[[1, 0]]), ValueError, "one row per token"),
        (dict(q=[1, 0, 1]), ValueError, "must be 2-D"),
        (dict(q=[[1, float("nan")], [0, 1], [1, 1]]), ValueError, "finite"),
        (dict(q=[[1] * 5] * 3, k=[[1] * 5] * 3), ValueError, "at most 4 features"),
        (dict(decimals=7), ValueError, "decimals must be"),
        (dict(v=[["x", "y"]] * 3), TypeError, "must hold numbers"),
    ],
)
def test_toy_attention_bad_arguments(change, error, match):
    args = dict(q=TOY_Q, k=TOY_K, v=TOY_V, tokens=["the", "cat", "sat"]) | change
    with pytest.raises(error, match=match):
        viz.draw_toy_attention(**args)


def test_layer_layouts_put_layernorm_after_the_sum_in_bert_and_before_the_block_in_megatron():
    fig = viz.draw_layer_layouts()
    assert _fits_the_page(fig) and _inside_canvas(fig) is None

    def order(column):  # the box texts of one column, bottom to top
        texts = [t for t in fig.axes[0].texts if t.get_gid() == column
                 and t.get_text() in ("self-attention", "feed-forward", "LayerNorm")]
        return [t.get_text() for t in sorted(texts, key=lambda t: t.get_position()[1])]

    assert order("post") == ["self-attention", "LayerNorm", "feed-forward", "LayerNorm"]
    assert order("pre") == ["LayerNorm", "self-attention", "LayerNorm", "feed-forward"]
    assert any("final LayerNorm" in t for t in _texts(fig, "pre"))
    assert not any("final LayerNorm" in t for t in _texts(fig, "post"))
    for column in ("post", "pre"):  # two residual connections and two sums per layer
        assert len(_arrows(fig, f"{column}.residual")) == 2
        assert _texts(fig, f"{column}.add") == ["+", "+"]


def test_task_heads_show_what_each_head_reads():
    fig = viz.draw_task_heads()
    assert _fits_the_page(fig) and _inside_canvas(fig) is None
    texts = " ".join(_texts(fig))
    for words in ("pooler", "linear H → C", "linear H → 2", "multiple choice", "softmax",
                  "reads [CLS] only"):
        assert words in texts, words
    assert _texts(fig, "span") == ["start", "end"]
    assert _texts(fig, "label")[1:] == ["-100", "B-PER", "O", "B-LOC", "-100"]
    # the sentence head reads one vector; NER and QA read all 5 and 7; three choices, one score each
    assert len(_arrows(fig, "read")) == 1 + 5 + 7
    assert len(_arrows(fig, "score")) == 3


def _brute_force_span(s, e, max_len, allowed):
    best = None
    for i in range(len(s)):
        for j in range(i, min(len(s), i + max_len)):
            if allowed[i] and allowed[j] and (best is None or s[i] + e[j] > best[2]):
                best = (i, j, s[i] + e[j])
    return best


@pytest.mark.parametrize("seed", range(5))
def test_best_span_matches_a_brute_force_search(seed):
    rng = np.random.default_rng(seed)
    s, e = rng.normal(size=12), rng.normal(size=12)
    allowed = rng.random(12) > 0.3
    for max_len in (1, 3, 30):
        got = viz.best_span(s, e, max_len, allowed)
        want = _brute_force_span(s, e, max_len, allowed)
        assert got[:2] == want[:2] and got[2] == pytest.approx(want[2])


def test_best_span_refuses_inverted_spans():
    # the best start (position 3) lies after the best end (position 0): the answer must not
    s, e = np.array([0.0, 0.0, 0.0, 5.0]), np.array([5.0, 0.0, 0.0, 1.0])
    assert viz.best_span(s, e) == (3, 3, 6.0)
    assert viz.best_span(s, e, allowed=[True, False, False, False]) == (0, 0, 5.0)
    assert viz.best_span(s, e, allowed=[False] * 4) is None


def test_span_head_frames_the_best_span():
    tokens = ["[CLS]", "who", "won", "?", "[SEP]", "tony", "blair", "won", "[SEP]"]
    start = torch.tensor([0.5, 0.1, 0.2, 0.0, 0.3, 3.0, 0.4, -1.0, 0.2])
    end = torch.tensor([2.0, 0.0, 0.1, 0.3, -0.2, 0.5, 2.5, 0.3, 0.1])
    allowed = [False] * 5 + [True] * 3 + [False]
    fig = viz.draw_span_head(tokens, start, end, allowed=allowed)
    assert _fits_the_page(fig) and _inside_canvas(fig) is None
    assert _texts(fig, "token") == tokens
    assert _texts(fig, "start") == [f"{x:.1f}" for x in start.tolist()]
    assert _texts(fig, "end") == [f"{x:.1f}" for x in end.tolist()]
    frames = {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid() and "best" in p.get_gid()}
    columns = {t.get_position()[0]: i for i, t in enumerate(
        t for t in fig.axes[0].texts if t.get_gid() == "token")}
    x_of = sorted(columns)
    assert frames["best-start"].get_x() < x_of[5] < frames["best-start"].get_x() + frames[
        "best-start"].get_width()
    assert frames["best-end"].get_x() < x_of[6] < frames["best-end"].get_x() + frames[
        "best-end"].get_width()
    assert '"tony blair"' in _texts(fig, "answer")[0]
    # without the context rule, [CLS] as the end and "tony" as the start cannot pair (inverted);
    # the best allowed span is then start 5 to end 6 as well
    assert viz.best_span(start, end)[:2] == (5, 6)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(tokens=["a", "b"]), ValueError, "tokens has 2 entries"),
        (dict(end_logits=[0.0, 1.0]), ValueError, "same length"),
        (dict(start_logits=[0.0, float("inf"), 1.0], end_logits=[0.0, 1.0, 1.0]), ValueError,
         "finite"),
        (dict(max_answer_len=0), ValueError, "max_answer_len must be"),
        (dict(allowed=[True, False]), ValueError, "one entry per token"),
        (dict(allowed=[False, False, False]), ValueError, "no span is allowed"),
        (dict(tokens=["t"] * 17, start_logits=[0.0] * 17, end_logits=[0.0] * 17), ValueError,
         "2 to 16 tokens"),
    ],
)
def test_span_head_bad_arguments(change, error, match):
    args = dict(tokens=["a", "b", "c"], start_logits=[0.0, 1.0, 0.5],
                end_logits=[0.2, 0.1, 0.9]) | change
    with pytest.raises(error, match=match):
        viz.draw_span_head(**args)
