"""Numbers that notebook 05 states in its prose (not in its outputs), checked against the code they describe."""
import math

import pytest
import torch
from torch import nn

import fedavg_helpers as fh


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_papers_2nn_has_199210_parameters():
    # McMahan et al.'s MNIST 2NN: 784 inputs, two hidden layers of 200 ReLU units, 10 outputs
    assert num_params(fh.mlp(784, 200, 200, 10)) == 199_210


def test_the_papers_cnn_has_1663370_parameters():
    # two 5x5 convolutions (32 and 64 channels, each followed by 2x2 max pooling), 512 ReLU units, 10 outputs
    cnn = nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(7 * 7 * 64, 512), nn.ReLU(), nn.Linear(512, 10))
    assert cnn(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert num_params(cnn) == 1_663_370


def test_the_notebooks_mlp_has_4810_parameters():
    assert num_params(fh.mlp(64, 64, 10)) == 4_810


@pytest.fixture(scope="module")
def y_train():
    return fh.load_digits_split(seed=0).y_train


def test_label_shards_are_200_shards_of_6_or_7_images_two_per_client(y_train):
    assert len(y_train) == 1347
    sizes = [len(idx) for idx in fh.split_shards(y_train, 100, seed=0)]
    assert sum(sizes) == 1347 and min(sizes) >= 12 and max(sizes) <= 14  # two shards of 6 or 7 each
    assert (len(y_train) // 200, math.ceil(len(y_train) / 200)) == (6, 7)


def test_iid_clients_hold_13_or_14_images(y_train):
    assert {len(idx) for idx in fh.split_iid(y_train, 100, seed=0)} == {13, 14}


def test_a_papers_client_with_e5_b10_takes_300_local_steps():
    # u = E * n_k / B with n_k = 600 images per client (60,000 over 100 clients)
    assert 5 * (60_000 // 100) / 10 == 300
    assert len(fh.local_batches(600, 10, 5)) == 300


def test_the_papers_largest_u_is_1200_with_e20_b10():
    # Table 2's most local computation: E = 20 epochs of B = 10 over 600 images
    assert 20 * (60_000 // 100) / 10 == 1_200
    assert len(fh.local_batches(600, 10, 20)) == 1_200


def test_a_13_image_client_with_e10_b10_takes_20_steps_for_u_13():
    # u = E * n_k / B counts 13 steps; batches of 10 and 3 make 20 actual steps
    assert 10 * 13 / 10 == 13
    assert len(fh.local_batches(13, 10, 10)) == 20
