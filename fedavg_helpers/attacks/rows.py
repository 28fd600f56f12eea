"""The first-layer row attack: an example read back exactly from a model update (Phong et al. 2017).

For a first layer y = W x + b, every training example adds (dL/dy_i) x to the gradient of row i of W and
dL/dy_i to that of b_i. If neuron i was active (dL/dy_i != 0) for exactly one example x over all local
steps, SGD moves row i and b_i by

    Delta W_i = -lr * sum_steps g_t * x,    Delta b_i = -lr * sum_steps g_t,

so Delta W_i / Delta b_i = x, whatever the learning rate, the number of steps, or how the later layers
changed. An average or a sum of many owners' updates scales both by the same weight: the ratio still gives x
for a row that exactly one example, across all owners, made active. Rows that mix several examples give a
blend; rows never active did not move (Delta b_i = 0) and are skipped.

L. T. Phong, Y. Aono, T. Hayashi, L. Wang, S. Moriai, "Privacy-Preserving Deep Learning: Revisited and Enhanced",
ATIS 2017, extended as "Privacy-Preserving Deep Learning via Additively Homomorphic Encryption", IEEE TIFS 2018.
"""
import torch
from torch import nn

from .quality import Reconstruction, reconstruction


def row_attack(update, model: nn.Module, originals: torch.Tensor, digits) -> Reconstruction:
    """Read every moved first-layer row back as an image, row_i(Delta W) / Delta b_i; measure them against originals.

    update: w_after - w_before of `model` (one owner's, or any average or sum), flat as fh.flatten_params gives
    it or a dict keyed like model.named_parameters(). Candidates come most-moved row first: the row with the
    largest |Delta b_i| is the least disturbed by float rounding. originals are only used to measure.
    """
    weight, bias, first = first_layer_update(update, model, "row_attack")
    moved = bias.abs() > _rounding_floor(first, bias)
    rows = moved.nonzero().flatten()
    rows = rows[bias[rows].abs().argsort(descending=True, stable=True)]
    return reconstruction(weight[rows] / bias[rows, None], rows, originals, digits)


def lone_neurons(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """For each image, how many first-layer neurons of `model` fire (pre-activation > 0) for it and no other in x.

    With the ReLU that follows the first layer in fh.mlp, after one local step from `model` these are exactly the
    rows that give the image back (if its gradient through the neuron is not zero); after several steps the
    neurons' activity can change.
    """
    first = _first_linear(model, "lone_neurons")
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != first.in_features:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must hold images of {first.in_features} pixels, one per row, got {got}")
    with torch.no_grad():
        active = first(x.to(first.weight.dtype)) > 0
    alone = active.sum(0) == 1
    return (active & alone).sum(1)


def first_layer_update(update, model: nn.Module, who: str) -> tuple[torch.Tensor, torch.Tensor, nn.Linear]:
    """(Delta W, Delta b) of the model's first layer in float64, from a flat or dict update of the whole model."""
    first = _first_linear(model, who)
    names = {id(p): n for n, p in model.named_parameters()}
    if first.bias is None:
        raise ValueError(f"{who}: the model's first layer {_name_of(model, first)!r} has no bias. The attack reads "
                         "an example as row_i(Delta W) / Delta b_i: Delta b_i sums the gradients dL/dy_i that scale "
                         "the example in row i, and without a bias nothing records them. It needs a first layer "
                         "nn.Linear(..., bias=True), as fh.mlp builds")
    params = dict(model.named_parameters())
    if isinstance(update, dict):
        if set(update) != set(params):
            raise ValueError(f"{who}: the update has parameters {sorted(update)} but the model has {sorted(params)}; "
                             "the attack needs the update of this very model, to find its first layer's rows")
        for name, p in params.items():
            u = update[name]
            if not isinstance(u, torch.Tensor) or u.shape != p.shape:
                got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
                raise ValueError(f"{who}: the update's {name!r} has shape {got} but the model's has "
                                 f"{tuple(p.shape)}; the attack needs the update of this very model, row for row")
        weight, bias = update[names[id(first.weight)]], update[names[id(first.bias)]]
    elif isinstance(update, torch.Tensor) and update.dim() == 1:
        total = sum(p.numel() for p in params.values())
        if update.numel() != total:
            raise ValueError(f"{who}: the update has {update.numel()} entries but the model has {total} parameters; "
                             "the attack needs the update of this very model to find its first layer's rows: give "
                             "fh.flatten_params(trained) - fh.flatten_params(model)")
        offset, pieces = 0, {}
        for name, p in params.items():
            pieces[name] = update[offset:offset + p.numel()].reshape(p.shape)
            offset += p.numel()
        weight, bias = pieces[names[id(first.weight)]], pieces[names[id(first.bias)]]
    else:
        got = f"a tensor of shape {tuple(update.shape)}" if isinstance(update, torch.Tensor) else type(update).__name__
        raise TypeError(f"{who}: update must be a flat vector (fh.flatten_params(trained) - fh.flatten_params(model)) "
                        f"or a dict of tensors keyed like model.named_parameters(), got {got}")
    if not weight.is_floating_point() or not bias.is_floating_point():
        raise TypeError(f"{who}: the update must hold floating-point numbers, got {weight.dtype}")
    if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
        raise ValueError(f"{who}: the update's first layer holds NaN or infinite entries; there is no example to "
                         "read back from a diverged update")
    return weight.detach().double(), bias.detach().double(), first


def _rounding_floor(first: nn.Linear, moved: torch.Tensor) -> torch.Tensor:
    """Per row: below this a bias change is float rounding of the trained or averaged bias, not a gradient."""
    eps = torch.finfo(first.bias.dtype).eps
    return 8 * eps * (first.bias.detach().double().abs() + moved.abs())


def _first_linear(model: nn.Module, who: str) -> nn.Linear:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be the nn.Module the update belongs to, got {type(model).__name__}")
    for module in model.modules():
        if any(True for _ in module.parameters(recurse=False)):
            if not isinstance(module, nn.Linear):
                raise TypeError(f"{who}: the model's first layer is a {type(module).__name__}; the attack needs a "
                                "fully connected first layer y = W x + b (nn.Linear), as fh.mlp builds")
            return module
    raise ValueError(f"{who}: the model has no parameters, so no update to read")


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)
