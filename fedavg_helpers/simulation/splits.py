"""Deal a training set out to simulated clients: IID, label shards, or Dirichlet label skew; and count what each got.

Every split is seeded and deterministic, gives each sample to exactly one client, and returns one sorted
int64 index tensor per client (indices into the labels it was given).
"""
import torch

from .._checks import check_int, check_labels, check_real

_MAX_DIRICHLET_DRAWS = 1000  # redraws allowed before split_dirichlet gives up on min_size


def _check_num_clients(num_clients, num_samples: int) -> int:
    num_clients = check_int("num_clients", num_clients, minimum=1)
    if num_clients > num_samples:
        raise ValueError(f"cannot split {num_samples} samples among {num_clients} clients: every client needs "
                         f"at least one sample; use at most {num_samples} clients")
    return num_clients


def _generator(seed) -> torch.Generator:
    return torch.Generator().manual_seed(check_int("seed", seed, minimum=0))


def split_iid(labels, num_clients: int, seed: int = 0) -> list[torch.Tensor]:
    """Shuffle, then cut into num_clients parts whose sizes differ by at most one: the IID baseline."""
    labels = check_labels(labels)
    num_clients = _check_num_clients(num_clients, len(labels))
    perm = torch.randperm(len(labels), generator=_generator(seed))
    return [part.sort().values for part in perm.tensor_split(num_clients)]


def split_shards(labels, num_clients: int, num_shards: int | None = None, seed: int = 0) -> list[torch.Tensor]:
    """Sort by label, cut into shards, give each client num_shards/num_clients random shards (McMahan et al., 2017).

    McMahan et al. (2017, Sec. 3), "Communication-Efficient Learning of Deep Networks from Decentralized Data",
    use 200 shards for 100 clients, so most clients see only two digits. The default is two shards per client.
    Shards hold len(labels) // num_shards samples, the first len(labels) % num_shards one more, so all are used.
    """
    labels = check_labels(labels)
    num_clients = _check_num_clients(num_clients, len(labels))
    num_shards = 2 * num_clients if num_shards is None else check_int("num_shards", num_shards, minimum=1)
    if num_shards % num_clients:
        raise ValueError(f"{num_shards} shards cannot be dealt evenly to {num_clients} clients; use a multiple "
                         f"of num_clients, e.g. num_shards={2 * num_clients} (two shards each)")
    if num_shards > len(labels):
        raise ValueError(f"cannot cut {len(labels)} samples into {num_shards} non-empty shards; "
                         f"use at most {len(labels)} shards (fewer clients or fewer shards per client)")
    g = _generator(seed)
    by_label = torch.sort(labels, stable=True).indices  # stable: ties keep their order, so no hidden randomness
    shards = by_label.tensor_split(num_shards)
    dealt = torch.randperm(num_shards, generator=g).view(num_clients, -1)  # row k: the shards of client k
    return [torch.cat([shards[s] for s in row]).sort().values for row in dealt.tolist()]


def split_dirichlet(labels, num_clients: int, alpha: float, seed: int = 0, min_size: int = 1) -> list[torch.Tensor]:
    """Give each class to clients in proportions drawn from Dirichlet(alpha): small alpha, few classes per client.

    The class-wise Dirichlet partition of Yurochkin et al. (2019) and Wang et al. (2020): for every class,
    p ~ Dir(alpha, ..., alpha) over the clients, and the class's shuffled samples are cut at the cumulative
    proportions. Large alpha approaches an IID split; alpha = 0.1 leaves most clients a few classes. The
    draw is repeated (seeded) until every client holds at least min_size samples.
    """
    labels = check_labels(labels)
    num_clients = _check_num_clients(num_clients, len(labels))
    alpha = check_real("alpha", alpha, 0.0, hint="alpha is the Dirichlet concentration; smaller is more skewed, "
                                                 "e.g. 0.1 (strong skew) to 100 (nearly IID)")
    min_size = check_int("min_size", min_size, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    if num_clients * min_size > len(labels):
        raise ValueError(f"Invalid min_size: {min_size}; {num_clients} clients x {min_size} samples exceeds the "
                         f"{len(labels)} samples, use min_size <= {len(labels) // num_clients}")
    by_class = [(labels == c).nonzero().squeeze(1) for c in labels.unique().tolist()]
    concentration = torch.full((num_clients,), alpha, dtype=torch.float64)
    owner = torch.empty(len(labels), dtype=torch.long)  # owner[i]: the client that receives sample i
    # torch.distributions has no generator argument, so draw from the global generator inside a fork that
    # is seeded here and restored afterwards: deterministic, and the caller's random state is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(_MAX_DIRICHLET_DRAWS):
            for idx in by_class:
                idx = idx[torch.randperm(len(idx))]
                p = torch.distributions.Dirichlet(concentration).sample()
                cuts = (p.cumsum(0)[:-1] * len(idx)).round().long()
                # position i of the shuffled class goes to client k = (number of cuts <= i)
                owner[idx] = torch.bucketize(torch.arange(len(idx)), cuts, right=True)
            sizes = torch.bincount(owner, minlength=num_clients)
            if sizes.min() >= min_size:
                return list(torch.argsort(owner, stable=True).split(sizes.tolist()))  # stable: sorted within
    raise ValueError(f"no Dirichlet(alpha={alpha}) draw in {_MAX_DIRICHLET_DRAWS} gave all {num_clients} clients "
                     f"at least {min_size} samples; use a larger alpha, fewer clients, or a smaller min_size")


def label_counts(labels, client_indices, num_classes: int | None = None) -> torch.Tensor:
    """A (num_clients, num_classes) int64 table: entry [k, c] is how many samples of class c client k holds."""
    labels = check_labels(labels)
    num_classes = int(labels.max()) + 1 if num_classes is None else check_int("num_classes", num_classes, minimum=1)
    if len(labels) and labels.max() >= num_classes:
        raise ValueError(f"Invalid num_classes: {num_classes}, but labels go up to {int(labels.max())}")
    rows = []
    for k, idx in enumerate(client_indices):
        idx = torch.as_tensor(idx, dtype=torch.long)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(labels)):
            raise ValueError(f"client {k}: indices must be in [0, {len(labels)}), got {idx.min()}..{idx.max()}")
        rows.append(torch.bincount(labels[idx], minlength=num_classes))
    return torch.stack(rows) if rows else torch.zeros(0, num_classes, dtype=torch.long)
