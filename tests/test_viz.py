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
