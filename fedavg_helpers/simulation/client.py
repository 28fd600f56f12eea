"""The building blocks of one FedAvg round: a client's local SGD, and the server's sample-weighted average.

Both follow McMahan et al. (2017), "Communication-Efficient Learning of Deep Networks from Decentralized
Data" (AISTATS), Algorithm 1: ClientUpdate runs E epochs of SGD with batch size B on the client's n_k
samples; the server sets w <- sum_k (n_k / n) w_k. They take plain tensors and modules, so the same
functions drive the many-client simulator and a loop over named workers.
"""
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int, check_real, check_weights


def local_batches(num_samples: int, batch_size: int | None, epochs: int = 1,
                  generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Index tensors for `epochs` shuffled passes over num_samples samples in batches of batch_size (None or 0: all).

    Each epoch is a fresh permutation cut into ceil(n / B) batches, the last one shorter if B does not
    divide n, as in ClientUpdate. Pass a seeded generator to make the batch order reproducible.
    """
    num_samples = check_int("num_samples", num_samples, minimum=1)
    if batch_size is not None:
        check_int("batch_size", batch_size, minimum=0)
    epochs = check_int("epochs", epochs, minimum=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    size = min(batch_size, num_samples) if batch_size else num_samples  # None or 0 means one full batch (B = inf)
    batches = []
    for _ in range(epochs):
        batches += torch.randperm(num_samples, generator=generator).split(size)
    return batches


def client_update(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batches: Sequence[torch.Tensor],
                  lr: float) -> float:
    """Train `model` in place with plain SGD, one step per batch of indices into (x, y); return the mean step loss.

    Each step minimises the mean cross-entropy of its batch. To keep the global model, pass a copy.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same number of samples, got {len(x)} and {len(y)}")
    lr = check_real("learning rate", lr, 0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    total = 0.0
    for idx in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / max(len(batches), 1)


def _weighted_mean(stacked: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_k weights[k] * stacked[k] / sum_k weights[k], over the leading dimension of `stacked`."""
    weights = weights.to(torch.float64)
    return torch.tensordot((weights / weights.sum()).to(stacked.dtype), stacked, dims=1)


def weighted_average(state_dicts: Sequence[Mapping[str, torch.Tensor]], weights) -> dict[str, torch.Tensor]:
    """Average state dicts with weights n_k: entry-wise sum_k n_k w_k / sum_k n_k, FedAvg's server update.

    Non-floating entries (such as a BatchNorm's step counter) are taken from the first state dict.
    """
    if isinstance(state_dicts, Mapping) or not isinstance(state_dicts, Sequence) or not state_dicts:
        raise TypeError("state_dicts must be a non-empty list of state dicts, e.g. [m.state_dict() for m in models]")
    weights = torch.tensor(check_weights(weights, len(state_dicts)), dtype=torch.float64)
    first = state_dicts[0]
    for k, sd in enumerate(state_dicts[1:], start=1):
        if sd.keys() != first.keys():
            raise ValueError(f"state dict {k} has keys {sorted(sd.keys() ^ first.keys())} that state dict 0 "
                             "does not share (or lacks them); average copies of the same model")
        for name, t in sd.items():
            if t.shape != first[name].shape:
                raise ValueError(f"state dict {k}: {name!r} has shape {tuple(t.shape)}, "
                                 f"state dict 0 has {tuple(first[name].shape)}; average copies of the same model")
    return {name: _weighted_mean(torch.stack([sd[name] for sd in state_dicts]), weights)
            if t.is_floating_point() else t.clone() for name, t in first.items()}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (fraction correct) of `model` on (x, y), in eval mode."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same, non-zero number of samples, got {len(x)} and {len(y)}")
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        model.train(was_training)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).double().mean().item()
