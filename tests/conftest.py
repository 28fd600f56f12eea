"""Shared fixtures: one torch thread, the digits once per session, and for every test a fresh federation."""
import pytest
import torch

import fedavg_helpers as fh
from fedavg_helpers.core import worker as _worker


@pytest.fixture(autouse=True)
def fresh_federation():
    """No workers, no data owners, nothing aggregated, and the default policy, before and after each test."""
    _worker._reset()
    previous = fh.set_policy(fh.PrivacyPolicy())
    yield
    fh.set_policy(previous)
    _worker._reset()


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP waits can cost 10x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits():
    """The standard train/test split of scikit-learn's digits (seed 0), loaded once."""
    return fh.load_digits_split(seed=0)
