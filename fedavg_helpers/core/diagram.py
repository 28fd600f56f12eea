"""Pictures of the federation: who holds what (with the last moves as arrows), and one round of the protocol.

Every worker keeps one colour in every figure of the series (worker_colour), so bob is always orange.
"""
import zlib

# colour-blind-safe (Okabe and Ito 2008); the seed's workers first, then any other name by a stable hash
_NAMED = {"bob": "#E69F00", "alice": "#0072B2", "secure_worker": "#555555", "model owner": "#009E73",
          "carol": "#CC79A7", "charlie": "#CC79A7", "dave": "#D55E00", "eve": "#56B4E9"}
_OTHERS = ["#F0E442", "#882255", "#44AA99", "#999933", "#AA4499", "#117733"]
_MIXED = "#8c6bb1"  # an object that depends on several data owners


def worker_colour(name: str) -> str:
    """The colour of a worker (or data owner) in every figure of the series."""
    return _NAMED.get(name) or _OTHERS[zlib.crc32(name.encode()) % len(_OTHERS)]


def draw_workers(workers, title: str | None = None, ax=None, model_owner: bool = True):
    """Picture of workers and their objects, coloured by whose private data each depends on.

    Objects that arrived by .move() since the last picture are drawn with an arrow from where they came
    from, and a box for the model owner (us) shows that none of it is ours to see.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    workers = list(workers)
    rows = [w.holdings() for w in workers]
    height = max([len(h) for h in rows] + [1])
    box_h = height * 0.55 + 0.4
    columns = len(workers) + (1 if model_owner else 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2 * columns, 1.7 + 0.55 * height))
    x_of = {}
    for i, (worker, held) in enumerate(zip(workers, rows)):
        x = i * 3.2
        x_of[worker.name] = x
        ax.add_patch(FancyBboxPatch((x, 0), 2.8, box_h, boxstyle="round,pad=0.05", fc="#f7f7f7",
                                    ec=worker_colour(worker.name), lw=3 if worker.trusted else 1.6))
        label = worker.name + (" (trusted)" if worker.trusted else "")
        ax.text(x + 1.4, box_h + 0.2, label, ha="center", va="bottom", fontsize=11, weight="bold",
                color=worker_colour(worker.name))
        for j, item in enumerate(held):
            y = height * 0.55 + 0.05 - (j + 1) * 0.55
            owners = item["owners"]
            fill = "#dddddd" if not owners else worker_colour(owners[0]) if len(owners) == 1 else _MIXED
            ax.add_patch(FancyBboxPatch((x + 0.15, y + 0.08), 2.5, 0.38, boxstyle="round,pad=0.02",
                                        fc=fill, ec="none", alpha=0.9))
            kind = "private " if item["private"] else ""
            whose = "no private data" if not owners else "depends on " + " + ".join(owners)
            ax.text(x + 1.4, y + 0.27, f"{kind}{item['type']}: {whose}", ha="center", va="center",
                    fontsize=8.5, color="white" if owners else "black")
        if not held:
            ax.text(x + 1.4, box_h / 2, "(empty)", ha="center", va="center", color="#888888")
    if model_owner:
        x = len(workers) * 3.2
        ax.add_patch(FancyBboxPatch((x, 0), 2.8, box_h, boxstyle="round,pad=0.05", fc="white",
                                    ec=worker_colour("model owner"), lw=1.6, linestyle="--"))
        ax.text(x + 1.4, box_h + 0.2, "model owner (us)", ha="center", va="bottom", fontsize=11, weight="bold",
                color=worker_colour("model owner"))
        ax.text(x + 1.4, box_h / 2, "pointers only:\nno private data,\nno data owner's model", ha="center",
                va="center", fontsize=8.5, color="#333333")
    arrows = 0
    for worker in workers:
        for source, what in worker._arrivals:
            if source in x_of and arrows < 6:
                start, end = x_of[source] + 1.4, x_of[worker.name] + 1.4
                y = box_h + 0.7
                rad = 1.2 / (end - start)  # every arc about as high, whatever its length
                ax.add_patch(FancyArrowPatch((start, y), (end, y), connectionstyle=f"arc3,rad={-rad}",
                                             arrowstyle="-|>", mutation_scale=14, lw=1.5,
                                             color=worker_colour(source)))
                ax.text(start - 0.1, y + 0.05, f"{what} moved", ha="right", va="bottom", fontsize=8,
                        color=worker_colour(source))
                arrows += 1
        worker._arrivals.clear()
    ax.set_xlim(-0.2, 3.2 * columns - 0.2)
    ax.set_ylim(-0.3, box_h + 0.8 + (1.0 if arrows else 0))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=12)
    return ax


_STEPS = ["1 send the model", "2 train where the data is", "3 move to the secure worker",
          "4 only the average comes back"]


def draw_round(you_are_here: int | None = None, ax=None):
    """One round of the series' protocol: what travels between the model owner, bob, alice and the secure worker.

    you_are_here (1 to 4) highlights the step a notebook is about.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if you_are_here is not None and you_are_here not in (1, 2, 3, 4):
        raise ValueError(f"Invalid you_are_here: {you_are_here!r}; use a step number from 1 to 4, or None")
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 4.6))
    boxes = {"model owner": (3.6, 4.2, "model owner (us)\nthe model"),
             "bob": (0.2, 1.8, "bob\nprivate data"), "alice": (7.0, 1.8, "alice\nprivate data"),
             "secure_worker": (3.6, -0.6, "secure_worker (trusted)\nsees both models")}
    for name, (x, y, label) in boxes.items():
        ax.add_patch(FancyBboxPatch((x, y), 2.6, 1.1, boxstyle="round,pad=0.08", fc="#f7f7f7",
                                    ec=worker_colour(name), lw=2.2))
        ax.text(x + 1.3, y + 0.55, label, ha="center", va="center", fontsize=9.5, color="#222222")

    def arrow(start, end, step, text, text_at, rad=0.0):
        strong = you_are_here in (None, step)
        ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                     mutation_scale=16, lw=2.6 if you_are_here == step else 1.6,
                                     color="#222222" if strong else "#bbbbbb"))
        ax.text(*text_at, text, fontsize=9, ha="center", va="center", color="#222222" if strong else "#999999",
                weight="bold" if you_are_here == step else "normal")

    arrow((3.6, 4.75), (1.5, 3.0), 1, "1 a copy of\nthe model", (1.6, 4.3), rad=0.25)
    arrow((6.2, 4.75), (8.3, 3.0), 1, "1 a copy of\nthe model", (8.2, 4.3), rad=-0.25)
    arrow((0.1, 2.05), (0.1, 2.65), 2, "2 train\nlocally", (-0.75, 2.35), rad=-1.4)
    arrow((9.7, 2.05), (9.7, 2.65), 2, "2 train\nlocally", (10.55, 2.35), rad=1.4)
    arrow((1.5, 1.7), (3.5, -0.05), 3, "3 bob's\nmodel", (1.3, 0.3), rad=0.2)
    arrow((8.3, 1.7), (6.3, -0.05), 3, "3 alice's\nmodel", (8.5, 0.3), rad=-0.2)
    arrow((4.9, 0.6), (4.9, 4.1), 4, "4 only the\naverage", (5.75, 2.35))
    if you_are_here is not None:
        ax.text(4.9, 5.75, f"you are here: {_STEPS[you_are_here - 1]}", ha="center", fontsize=11, weight="bold")
    ax.set_xlim(-1.4, 11.2)
    ax.set_ylim(-0.9, 6.2)
    ax.axis("off")
    return ax
