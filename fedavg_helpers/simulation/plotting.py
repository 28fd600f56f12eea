"""Plots for the data and simulation notebooks; matplotlib is imported only when a plot is drawn."""
from collections.abc import Mapping

from .splits import label_counts


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'fedavg-helpers[plot]'") from e
    return plt


def plot_label_distribution(labels, client_indices, num_classes: int | None = None, ax=None, title: str | None = None):
    """Stacked bars, one per client, of how many samples of each class it holds; returns the matplotlib Axes."""
    counts = label_counts(labels, client_indices, num_classes)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 3 + 0.12 * len(counts)), 3.5))
    cmap = plt.get_cmap("tab10" if counts.shape[1] <= 10 else "tab20")
    clients, bottom = list(range(len(counts))), [0] * len(counts)
    for c in range(counts.shape[1]):
        heights = counts[:, c].tolist()
        ax.bar(clients, heights, bottom=bottom, width=1.0, color=cmap(c % cmap.N), label=str(c), linewidth=0)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xlim(-0.5, len(counts) - 0.5)
    ax.set_xlabel("client")
    ax.set_ylabel("samples")
    ax.set_title(title or "label distribution per client")
    ax.legend(title="class", ncols=2, fontsize="small", bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax


def plot_accuracy(histories: Mapping, ax=None, target: float | None = None, title: str | None = None):
    """Test accuracy per round for several federated runs, e.g. {"FedAvg": h1, "FedSGD": h2}; returns the Axes.

    A round is not an epoch: draw central training's final accuracy as a line (ax.axhline), not as a run here.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise TypeError("histories must be a non-empty dict of name -> History, e.g. {'FedAvg': history}")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, history in histories.items():
        rounds = range(1, len(history.test_accuracy) + 1)
        ax.plot(rounds, history.test_accuracy, label=name)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("communication round")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "test accuracy per round")
    ax.legend()
    return ax
