"""A model crafted to leak, and the read-back of many owners' examples from the sum of their updates.

A model owner who chooses the model can make every first-layer row measure the same feature h(x) = a . x
and give row i the bias -c_i, with cut-offs c_0 < c_1 < ... at quantiles of h over public data. Neuron i
then fires for the examples with h(x) > c_i. If, in the next layer, every column is the same vector, every
active neuron passes back the same gradient dL/dy_i = G(x). One SGD step from this model moves

    Delta W_i = -lr sum_{x: h(x) > c_i} G(x) x,     Delta b_i = -lr sum_{x: h(x) > c_i} G(x),

in every owner's update and so in their sum, whatever secure aggregation hid. Neighbouring rows differ by
exactly the examples whose feature falls in the bin [c_i, c_{i+1}):

    (Delta W_i - Delta W_{i+1}) / (Delta b_i - Delta b_{i+1}) = x   if that bin holds one example.

With B equally likely bins and n examples, an example is alone in its bin with probability (1 - 1/B)^(n-1).
After several local steps the rows stop being identical and the read-back blurs.

L. Fowl, J. Geiping, W. Czaja, M. Goldblum, T. Goldstein, "Robbing the Fed: Directly Obtaining Private Data
in Federated Learning with Modified Models", ICLR 2022 (the imprint module); F. Boenisch, A. Dziedzic,
R. Schuster, A. S. Shamsabadi, I. Shumailov, N. Papernot, "When the Curious Abandon Honesty: Federated
Learning Is Not Private", IEEE EuroS&P 2023 (trap weights).
"""
import copy

import torch
from torch import nn

from .._checks import check_int
from .quality import Reconstruction, reconstruction
from .rows import _first_linear, _rounding_floor, first_layer_update

_FEATURE_NORM = 0.01  # |a|: small cut-offs, so a bias's rounding stays far below one example's gradient


def craft_model(model: nn.Module, public_x: torch.Tensor, bins: int | None = None, seed: int = 0) -> nn.Module:
    """A copy of `model` whose first layer sorts examples into `bins` bins of a random feature, equally filled on
    public_x, and whose next layer has identical columns; rows beyond `bins` never fire (Fowl et al. 2022)."""
    first, second = _two_linear_layers(model)
    rows = first.out_features
    bins = rows if bins is None else check_int("bins", bins, minimum=1)
    if bins > rows:
        raise ValueError(f"Invalid bins: {bins}; the first layer has {rows} rows and each bin needs its own row "
                         f"(a row's bias is the bin's lower edge), so use bins <= {rows}")
    if not isinstance(public_x, torch.Tensor) or public_x.dim() != 2 or public_x.shape[1] != first.in_features:
        got = f"shape {tuple(public_x.shape)}" if isinstance(public_x, torch.Tensor) else type(public_x).__name__
        raise ValueError(f"public_x must hold public images of {first.in_features} pixels, one per row, got {got}")
    if len(public_x) < 2:
        raise ValueError(f"craft_model fits the feature's distribution on the public images, so it needs at least "
                         f"2 of them, got {len(public_x)}")
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    feature = torch.randn(first.in_features, generator=generator, dtype=torch.float64)
    feature *= _FEATURE_NORM / feature.norm()
    h = public_x.detach().double() @ feature
    # cut-offs at the quantiles k / bins of a normal fitted robustly (median, interquartile range) to the feature
    # on public data: a projection of 64 pixels is roughly normal with heavier tails, and such a fit fills the
    # bins more evenly than a few hundred images' own quantiles
    quartiles = torch.quantile(h, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    spread = (quartiles[2] - quartiles[0]) / 1.349  # the interquartile range of a normal is 1.349 sigma
    if not spread > 0:
        raise ValueError("the public images all give the crafted feature the same value; give craft_model "
                         "varied public images (e.g. digits.x_test)")
    levels = torch.arange(1, bins, dtype=torch.float64) / bins
    edges = quartiles[1] + spread * 2**0.5 * torch.erfinv(2 * levels - 1)
    # bin 0 starts below every public image and 8 fitted sigmas below the median, so every example lands in a bin
    lowest = torch.minimum(h.min() - spread, quartiles[1] - 8 * spread)
    edges = torch.cat([lowest.reshape(1), edges])
    # the next layer's identical columns: logit 0 grows with sum_i relu(h - c_i), at most 1 on public images
    scale = 1.0 / float(torch.relu(h[:, None] - edges[None, :]).sum(1).max())

    crafted = copy.deepcopy(model)
    first, second = _two_linear_layers(crafted)
    with torch.no_grad():
        first.weight.zero_()
        first.bias.fill_(-1.0)  # unused rows: pre-activation -1, never active, never moved
        first.weight[:bins] = feature.to(first.weight.dtype)
        first.bias[:bins] = -edges.to(first.bias.dtype)
        second.weight.zero_()
        second.weight[0] = scale  # every column is (scale, 0, ..., 0): each active row passes back the same gradient
        if second.bias is not None:
            second.bias.zero_()
    return crafted


def read_back(update, crafted: nn.Module, originals: torch.Tensor, digits) -> Reconstruction:
    """Read one image per bin from an update of a crafted model (any sum or average of owners' updates):
    (Delta W_i - Delta W_i+1) / (Delta b_i - Delta b_i+1) over rows in order of their cut-offs."""
    weight, bias, first = first_layer_update(update, crafted, "read_back")
    rows = _bin_rows(first)
    floor = _rounding_floor(first, bias)[rows]
    weight, bias = weight[rows], bias[rows]
    # bin j holds the examples active in row j but not in row j + 1; the last row's bin is open above
    in_bin_w = weight - torch.cat([weight[1:], torch.zeros_like(weight[:1])])
    in_bin_b = bias - torch.cat([bias[1:], torch.zeros_like(bias[:1])])
    filled = (in_bin_b.abs() > floor + torch.cat([floor[1:], floor.new_zeros(1)])).nonzero().flatten()
    return reconstruction(in_bin_w[filled] / in_bin_b[filled, None], filled, originals, digits)


def _bin_rows(first: nn.Linear) -> torch.Tensor:
    """The rows of a crafted first layer in order of their cut-offs, checking they all measure one feature."""
    weight = first.weight.detach()
    used = (weight != 0).any(1).nonzero().flatten()
    if len(used) == 0 or not (weight[used] == weight[used[0]]).all():
        raise ValueError("read_back needs the crafted model the update was trained from (fh.craft_model): its "
                         "first-layer rows must all measure one feature, but these rows differ; for an honest "
                         "model use fh.row_attack")
    cutoffs = -first.bias.detach()[used]
    return used[cutoffs.argsort(stable=True)]


def _two_linear_layers(model: nn.Module) -> tuple[nn.Linear, nn.Linear]:
    first = _first_linear(model, "craft_model")
    if first.bias is None:
        raise ValueError("craft_model: the model's first layer has no bias; the crafted rows need biases to place "
                         "their cut-offs, and the read-back divides by their change (nn.Linear(..., bias=True))")
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(layers) < 2 or layers[1].in_features != first.out_features:
        raise ValueError("craft_model needs a second nn.Linear that takes the first layer's outputs (as in "
                         "fh.mlp(64, hidden, 10)): its identical columns make every row pass back one gradient")
    return first, layers[1]
