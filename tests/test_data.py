"""The digits split: fixed and seeded, stratified, standardised with training statistics only."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fedavg_helpers as fh


def test_shapes_dtypes_and_sizes():
    d = fh.load_digits_split(test_size=0.25)
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)  # ceil(0.25 * 1797) = 450 test
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.num_features == 64 and d.num_classes == 10
    assert d.train[0] is d.x_train and d.test[1] is d.y_test


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = fh.load_digits_split(seed=0), fh.load_digits_split(seed=0), fh.load_digits_split(seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)


def test_split_is_stratified_and_uses_every_image_once():
    d = fh.load_digits_split(seed=3)
    _, y = load_digits(return_X_y=True)
    total = torch.bincount(torch.as_tensor(y))
    assert torch.equal(torch.bincount(d.y_train) + torch.bincount(d.y_test), total)
    share = torch.bincount(d.y_test).double() / torch.bincount(d.y_train).double()
    assert (share - 450 / 1347).abs().max() < 0.02  # same class proportions in both parts


def test_features_are_standardised_with_training_statistics_only():
    d = fh.load_digits_split(seed=0)
    x, y = load_digits(return_X_y=True)
    raw_train, raw_test, _, _ = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    mean, std = raw_train.mean(0), raw_train.std(0)  # numpy, as the reference
    std[std == 0] = 1.0
    assert np.allclose(d.x_train.numpy(), (raw_train - mean) / std, atol=1e-5)
    assert np.allclose(d.x_test.numpy(), (raw_test - mean) / std, atol=1e-5)  # the test set's own stats unused
    varying = d.x_train.std(0) > 0
    assert d.x_train.mean(0).abs().max() < 1e-5
    assert (d.x_train[:, varying].std(0, correction=0) - 1).abs().max() < 1e-4


@pytest.mark.parametrize("test_size, error, words", [
    (0.0, ValueError, "test_size: 0.0"),
    (1.0, ValueError, "test_size: 1.0"),
    (-0.2, ValueError, "test_size"),
    (math.nan, ValueError, "test_size: nan"),
    (0.001, ValueError, "at least 10"),
    ("0.25", TypeError, "test_size must be a real number"),
])
def test_bad_test_size_is_refused(test_size, error, words):
    with pytest.raises(error, match=words):
        fh.load_digits_split(test_size=test_size)


def test_bad_seed_is_refused():
    with pytest.raises(ValueError, match="seed: -1"):
        fh.load_digits_split(seed=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        fh.load_digits_split(seed=1.5)
