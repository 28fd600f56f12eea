"""Draw who holds what: each worker as a box listing its objects, coloured by whose private data they hold."""

_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]


def draw_workers(workers, title: str | None = None, ax=None):
    """Picture of workers and their objects; an object's colour says whose private data it depends on."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    workers = list(workers)
    rows = [w.holdings() for w in workers]
    owners = sorted({o for held in rows for item in held for o in item["owners"]})
    colour = {o: _COLOURS[i % len(_COLOURS)] for i, o in enumerate(owners)}
    height = max([len(h) for h in rows] + [1])
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2 * len(workers), 1.2 + 0.55 * height))
    for i, (worker, held) in enumerate(zip(workers, rows)):
        x = i * 3.2
        edge = "#2d2d2d" if worker.trusted else "#7a7a7a"
        ax.add_patch(FancyBboxPatch((x, 0), 2.8, height * 0.55 + 0.4, boxstyle="round,pad=0.05",
                                    fc="#f7f7f7", ec=edge, lw=2.5 if worker.trusted else 1.2))
        label = worker.name + (" (trusted)" if worker.trusted else "")
        ax.text(x + 1.4, height * 0.55 + 0.6, label, ha="center", va="bottom", fontsize=11, weight="bold")
        for j, item in enumerate(held):
            y = height * 0.55 + 0.05 - (j + 1) * 0.55
            fill = colour[item["owners"][0]] if len(item["owners"]) == 1 else (
                "#bbbbbb" if not item["owners"] else "#9467bd")
            ax.add_patch(FancyBboxPatch((x + 0.15, y + 0.08), 2.5, 0.38, boxstyle="round,pad=0.02",
                                        fc=fill, ec="none", alpha=0.85))
            kind = "private " if item["private"] else ""
            whose = ("no private data" if not item["owners"]
                     else "depends on " + " + ".join(item["owners"]))
            ax.text(x + 1.4, y + 0.27, f"{kind}{item['type']}: {whose}", ha="center", va="center",
                    fontsize=8.5, color="white" if item["owners"] else "black")
        if not held:
            ax.text(x + 1.4, height * 0.55 / 2 + 0.1, "(empty)", ha="center", va="center", color="#888888")
    ax.set_xlim(-0.2, 3.2 * len(workers) - 0.2)
    ax.set_ylim(-0.3, height * 0.55 + 1.1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=12)
    return ax
