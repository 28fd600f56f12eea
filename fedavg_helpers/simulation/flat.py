"""Flatten a model's parameters into one vector and back, so vector-only tools (secagg, robust) work on real models."""

import torch
from torch import nn


def flatten_params(params) -> torch.Tensor:
    """One 1-D tensor holding every parameter, in order: of a module, a state dict, or a list of tensors."""
    tensors = _tensors(params, "params")
    if not tensors:
        raise ValueError("flatten_params got no tensors; pass a model, a state dict or a non-empty list of tensors")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"flatten_params got mixed dtypes {sorted(map(str, dtypes))}; convert them to one dtype first")
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def unflatten_params(vector: torch.Tensor, like):
    """Cut a flat vector back into tensors shaped like `like`: a dict for a state dict, else a list."""
    if not isinstance(vector, torch.Tensor) or vector.dim() != 1:
        got = f"shape {tuple(vector.shape)}" if isinstance(vector, torch.Tensor) else type(vector).__name__
        raise TypeError(f"vector must be a 1-D tensor (what flatten_params returns), got {got}")
    tensors = _tensors(like, "like")
    expected = sum(t.numel() for t in tensors)
    if vector.numel() != expected:
        raise ValueError(f"vector has {vector.numel()} entries but `like` has {expected} parameters; "
                         "flatten and unflatten the same model")
    pieces, start = [], 0
    for t in tensors:
        pieces.append(vector[start:start + t.numel()].reshape(t.shape))
        start += t.numel()
    return dict(zip(like.keys(), pieces)) if isinstance(like, dict) else pieces


def _tensors(params, name):
    if isinstance(params, nn.Module):
        return list(params.parameters())
    if isinstance(params, dict):
        values = list(params.values())
    elif isinstance(params, (list, tuple)):
        values = list(params)
    else:
        raise TypeError(f"{name} must be an nn.Module, a state dict or a list of tensors, got {type(params).__name__}")
    for i, t in enumerate(values):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} holds a {type(t).__name__} at position {i}, not a tensor")
    return values
