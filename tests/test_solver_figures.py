"""The solver's figures: every part of a budget named in the legend, bars on a linear axis."""
import matplotlib

matplotlib.use("Agg")

import edgelearn as el  # noqa: E402
from edgelearn.solver.figures import allocation_figure, schemes_figure  # noqa: E402


def _legend_labels(fig):
    return {t.get_text() for leg in fig.legends for t in leg.get_texts()}


def test_allocation_legend_names_every_part_whatever_the_order():
    """MNIST's optimum uses no fine-tuning; listed first, its bar must not hide CIFAR's parts from the legend."""
    sols = {"MNIST": el.solve(el.scenarios.mnist(), progress=False),
            "CIFAR": el.solve(el.scenarios.cifar(), progress=False)}
    assert sols["MNIST"].plan.N == 0 and sols["CIFAR"].plan.N > 0
    one_order = _legend_labels(allocation_figure(sols))
    other_order = _legend_labels(allocation_figure(dict(reversed(list(sols.items())))))
    assert one_order == other_order
    only_cifar = _legend_labels(allocation_figure({"CIFAR": sols["CIFAR"]}))
    only_mnist = _legend_labels(allocation_figure({"MNIST": sols["MNIST"]}))
    assert one_order == only_cifar | only_mnist and only_mnist < only_cifar


def test_scheme_bars_are_on_a_linear_axis_from_zero():
    s = el.scenarios.cifar()
    fig = schemes_figure({"CIFAR": {k: el.solve(s, k, progress=False) for k in ("proposed", "pretrain_only")}})
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
