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
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"Invalid {name}: {value!r} (must be in {interval}){'; ' + hint if hint else ''}")
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
        if len(idx) == 0:
            raise ValueError(f"client {k} has no samples; drop it, or split with min_size >= 1")
        if idx.min() < 0:
            raise ValueError(f"client {k}: index {int(idx.min())} is negative; indices are training-sample ids")
        if num_samples is not None and idx.max() >= num_samples:
            raise ValueError(f"client {k}: index {int(idx.max())} is outside the training set of {num_samples} samples")
        checked.append(idx.long())
    return checked


def check_weights(weights, n: int) -> list[float]:
    """Validate aggregation weights (None means equal): n finite, non-negative numbers, not all zero."""
    if weights is None:
        return [1.0] * n
    if isinstance(weights, torch.Tensor) and weights.dim() != 1:
        raise ValueError(f"weights must be 1-D (one per input), got shape {tuple(weights.shape)}")
    weights = [float(w) for w in (weights.tolist() if isinstance(weights, torch.Tensor) else weights)]
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} weights for {n} inputs; give one weight per input (e.g. its sample count)")
    bad = [w for w in weights if not math.isfinite(w) or w < 0]
    if bad:
        raise ValueError(f"Invalid weight: {bad[0]}. Weights must be finite and non-negative (e.g. sample counts).")
    if sum(weights) == 0:
        raise ValueError("all weights are zero, so the average is undefined; give at least one input a positive weight")
    return weights
