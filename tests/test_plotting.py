"""Plots draw what the data says: bar heights are the label counts, lines are the recorded accuracies."""
import pytest
import torch

import fedavg_helpers as fh

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_label_distribution_bars_stack_the_label_counts():
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0])
    clients = [torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5, 6, 7])]
    ax = fh.plot_label_distribution(labels, clients)
    counts = fh.label_counts(labels, clients)
    bars = ax.patches  # class after class, client after client within a class
    assert len(bars) == 2 * 3
    for c in range(3):
        for k in range(2):
            bar = bars[c * 2 + k]
            assert bar.get_height() == counts[k, c] and bar.get_y() == counts[k, :c].sum()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    plt.close("all")


def test_accuracy_plot_draws_each_history():
    a, b = fh.History(test_accuracy=[0.5, 0.7, 0.9]), fh.History(test_accuracy=[0.2, 0.4])
    ax = fh.plot_accuracy({"FedAvg": a, "FedSGD": b}, target=0.8)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["FedAvg"].get_ydata()) == [0.5, 0.7, 0.9] and list(lines["FedSGD"].get_xdata()) == [1, 2]
    assert "target 0.8" in lines and ax.get_xlabel() == "communication round"  # rounds, never central epochs
    with pytest.raises(TypeError, match="dict of name -> History"):
        fh.plot_accuracy([a])
    plt.close("all")
