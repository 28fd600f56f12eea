"""Argument checks shared across the package, so every bad value gets the same clear message."""
import math
import numbers

import torch


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Return `value` if it is an int (not a bool) of at least `minimum`, else raise naming the bad value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"Invalid {name}: {value} (must be >= {minimum})")
    return int(value)


def check_real(name: str, value, low: float, high: float = math.inf, low_open: bool = True,
               high_open: bool = False, hint: str = "") -> float:
    """Return `value` as a float if it is a finite real number in the given interval, else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        # an infinite end is never included: only finite values pass
        interval = (f"{'(' if low_open or low == -math.inf else '['}{low:g}, "
                    f"{high:g}{')' if high_open or high == math.inf else ']'}")
        finite = "a finite number " if not math.isfinite(value) else ""
        raise ValueError(f"Invalid {name}: {value!r} (must be {finite}in {interval}){'; ' + hint if hint else ''}")
    return value


def check_labels(labels) -> torch.Tensor:
    """Return `labels` as a 1-D int64 tensor of non-negative class ids, else raise saying how to fix it."""
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must hold integer class ids, got dtype {labels.dtype}; pass labels.long()")
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D (one class id per sample), got shape {tuple(labels.shape)}")
    if len(labels) and labels.min() < 0:
        raise ValueError(f"labels must be non-negative class ids, got {int(labels.min())}")
    return labels.long()


def check_client_indices(client_indices, num_samples: int | None = None) -> list[torch.Tensor]:
    """Return the per-client index lists as 1-D int64 tensors, each non-empty and within num_samples (if given)."""
    if isinstance(client_indices, torch.Tensor) or not isinstance(client_indices, (list, tuple)):
        raise TypeError("client_indices must be a list with one index tensor per client "
                        f"(as returned by split_iid), got {type(client_indices).__name__}")
    if len(client_indices) == 0:
        raise ValueError("client_indices is empty; give at least one client (e.g. split_iid(labels, 10))")
    checked = []
    for k, idx in enumerate(client_indices):
        idx = torch.as_tensor(idx)
        if idx.dim() != 1 or idx.is_floating_point() or idx.dtype == torch.bool:
            raise TypeError(f"client {k}: indices must be a 1-D integer tensor, got dtype {idx.dtype} "
                            f"and shape {tuple(idx.shape)}")
        if idx.shape[0] == 0:
            raise ValueError(f"client {k} has no samples; drop it, or split with min_size >= 1")
        checked.append(idx.long())
    flat = torch.cat(checked)  # the range checked on all clients at once; a client is named only on failure
    if flat.min() < 0 or (num_samples is not None and flat.max() >= num_samples):
        for k, idx in enumerate(checked):
            if idx.min() < 0:
                raise ValueError(f"client {k}: index {int(idx.min())} is negative; indices are training-sample ids")
            if num_samples is not None and idx.max() >= num_samples:
                raise ValueError(f"client {k}: index {int(idx.max())} is outside the training set of {num_samples} "
                                 "samples")
    _check_disjoint(checked, flat)
    return checked


def _check_disjoint(client_indices: list[torch.Tensor], flat: torch.Tensor) -> None:
    """Every sample belongs to at most one client, once (flat: their indices joined): no sample counts twice."""
    ordered = flat.sort().values
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated):
        sample = int(repeated[0])
        holders = [k for k, idx in enumerate(client_indices) if (idx == sample).any()]
        if len(holders) == 1:
            raise ValueError(f"client {holders[0]} lists sample {sample} more than once; each of a client's samples "
                             "appears once in its indices (use fh.split_iid, split_shards or split_dirichlet)")
        raise ValueError(f"clients {holders[0]} and {holders[1]} both hold sample {sample}; in federated learning "
                         "each sample belongs to one client, so client indices must not overlap (use fh.split_iid, "
                         "split_shards or split_dirichlet, which deal every sample to exactly one client)")


def check_model_fits(model, *datasets) -> None:
    """Run the model on one sample of each (x, y, name) and check it takes x and gives a score for every label.

    Without this, a wrong feature width fails deep inside the vectorised engine as a batched-matmul error,
    and labels beyond the model's outputs fail there too or, for label -100, are silently ignored by
    cross-entropy.
    """
    for x, y, name in datasets:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                scores = model(x[:1])
        except RuntimeError as e:
            raise ValueError(f"the model cannot take {name}'s samples of shape {tuple(x.shape[1:])} ({e}); build "
                             f"it for that input, e.g. fh.mlp({x.shape[1] if x.dim() == 2 else '...'}, ..., "
                             "num_classes)") from None
        finally:
            model.train(was_training)
        if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != 1:
            got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise ValueError(f"the model must return one row of class scores per sample, got {got} for one of "
                             f"{name}'s samples")
        classes = scores.shape[1]
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise ValueError(f"{name} has label {bad}, but the model gives {classes} class scores, so labels must be "
                             f"0..{classes - 1}; give the model max(label) + 1 = {max(high + 1, classes)} outputs, or "
                             "relabel the classes 0, 1, 2, ...")


def check_weights(weights, n: int) -> list[float]:
    """Validate aggregation weights (None means equal): n finite, non-negative numbers, not all zero."""
    if weights is None:
        return [1.0] * n
    if isinstance(weights, torch.Tensor) and weights.dim() != 1:
        raise ValueError(f"weights must be 1-D (one per input), got shape {tuple(weights.shape)}")
    if isinstance(weights, (str, bytes)):
        raise TypeError(f"weights must be a list of numbers (e.g. sample counts), got {type(weights).__name__} "
                        f"{weights!r}")
    weights = list(weights.tolist() if isinstance(weights, torch.Tensor) else weights)
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            raise TypeError(f"Invalid weight: {w!r} ({type(w).__name__}); weights must be numbers such as sample "
                            "counts, e.g. [len(idx) for idx in client_indices]")
    weights = [float(w) for w in weights]
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} weights for {n} inputs; "
                         "give one weight per input (e.g. its sample count)")
    bad = [w for w in weights if not math.isfinite(w) or w < 0]
    if bad:
        raise ValueError(f"Invalid weight: {bad[0]}. Weights must be finite and non-negative (e.g. sample counts).")
    if sum(weights) == 0:
        raise ValueError("all weights are zero, so the average is undefined; give at least one input a positive weight")
    return weights
