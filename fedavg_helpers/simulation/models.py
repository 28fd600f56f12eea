"""Small models for the tutorials, built from a list of layer sizes."""
from torch import nn

from .._checks import check_int


def mlp(*sizes: int) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them, e.g. mlp(64, 64, 10): 64 inputs, 10 logits.

    McMahan et al. (2017) call their MNIST version, mlp(784, 200, 200, 10), the "2NN".
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least an input and an output size, got {sizes}; e.g. mlp(64, 64, 10)")
    sizes = [check_int(f"layer size {i}", s, minimum=1) for i, s in enumerate(sizes)]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no ReLU after the last layer: it outputs logits
