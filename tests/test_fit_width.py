"""notebook.fit_width: figures scaled down to the page's width, aspect ratio kept."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from bertbook.notebook import fit_width  # noqa: E402


def test_wide_figure_is_scaled_to_the_width_keeping_its_aspect_ratio():
    fig = plt.figure(figsize=(14, 4))
    assert fit_width(fig) is fig
    assert tuple(fig.get_size_inches()) == pytest.approx((7.0, 2.0))
    plt.close(fig)


def test_narrow_figure_is_left_alone():
    fig = plt.figure(figsize=(5, 3))
    fit_width(fig, width=7)
    assert tuple(fig.get_size_inches()) == pytest.approx((5.0, 3.0))
    plt.close(fig)


@pytest.mark.parametrize("width", [0, -1, "7", True])
def test_bad_width_is_named(width):
    fig = plt.figure()
    with pytest.raises(ValueError, match="width"):
        fit_width(fig, width=width)
    plt.close(fig)


def test_not_a_figure_is_a_type_error():
    with pytest.raises(TypeError, match="Figure"):
        fit_width("figure.png")
