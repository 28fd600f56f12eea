"""Averaging by secret sharing among the data owners' workers: the same average, and only noise on the way."""
import pytest
import torch
from scipy import stats
from torch import nn

import fedavg_helpers as fh


@pytest.fixture
def owners():
    names = ("bob", "alice", "carol")
    workers = [fh.VirtualWorker(n) for n in names]
    data = [fh.send(torch.randn(4, 3), w, private=True) for w in workers]
    models = []
    for i, (w, x) in enumerate(zip(workers, data)):
        torch.manual_seed(i)
        m = fh.send(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), w)
        m(x).sum().backward()  # work next to the private data: each model depends on its owner
        models.append(m)
    yield workers, models
    del data


def test_matches_the_trusted_workers_weighted_average(owners):
    workers, models = owners
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    for weights in (None, [10, 30, 60]):
        shared = fh.secret_shared_average(models, weights=weights)
        trusted = fh.secure_average(models, secure_worker, weights=weights)
        for a, b in zip(shared.state_dict().values(), trusted.state_dict().values()):
            # fixed point: each of 3 terms is off by at most 2**-25 (plus float32 rounding of the result)
            torch.testing.assert_close(a, b, rtol=0, atol=3 * 2 ** -25 + 1e-7)


def test_into_and_byte_accounting(owners):
    workers, models = owners
    into = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = [w.bytes_sent for w in workers]
    assert fh.secret_shared_average(models, into=into) is into
    n_params = sum(p.numel() for p in into.parameters())
    for w, b in zip(workers, before):
        # each worker sent two shares (to the two others) and one partial sum, 8 bytes per entry each
        assert w.bytes_sent - b >= 3 * 8 * n_params


def test_what_the_model_owner_sees_is_uniform_noise(owners):
    workers, models = owners
    seen, averages = [], []
    for _ in range(40):  # fresh shares every time: 40 runs x 3 workers x 26 entries = 3120 values
        averages.append(fh.secret_shared_average(models, seen=seen))
    assert len(seen) == 120 and all(v.dtype == torch.int64 and v.numel() == 26 for v in seen)
    assert not torch.equal(seen[0], seen[3])  # the same worker's partial sum differs from run to run ...
    assert all(torch.equal(a[0].weight, averages[0][0].weight) for a in averages)  # ... the average does not
    top_bits = torch.cat([(v >> 60) & 0xF for v in seen])  # the 4 top bits: 16 equally likely values
    counts = torch.bincount(top_bits, minlength=16).numpy()
    # a chi-square p-value below 1e-4 happens 1 time in 10^4 for truly uniform values
    assert stats.chisquare(counts).pvalue > 1e-4


def test_needs_two_workers_and_two_owners(owners):
    workers, models = owners
    same = [models[0], fh.send(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), workers[0])]
    with pytest.raises(ValueError, match="at least two workers"):
        fh.secret_shared_average(same)
    with pytest.raises(fh.PrivacyError, match="at least 2 data owners"):
        fh.secret_shared_average(models[:2], weights=[1, 0])


def test_strict_aggregates_each_contribution_once(owners):
    workers, models = owners
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    first = fh.secret_shared_average(models)
    again = fh.secret_shared_average(models)  # the same aggregate again: nothing new, allowed
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    with pytest.raises(fh.PrivacyError, match="already aggregated"):
        fh.secret_shared_average(models[:2])  # bob and alice without carol: a second equation
    with pytest.raises(fh.PrivacyError, match="declared sample count"):
        fh.secret_shared_average(models, weights=[1, 2, 3])  # weights are the owners' to declare


def test_bad_inputs_change_nothing(owners):
    workers, models = owners
    before = [(w.bytes_sent, w.bytes_received) for w in workers]
    with pytest.raises(ValueError, match="empty"):
        fh.secret_shared_average([])
    with pytest.raises(ValueError, match="Invalid weight"):
        fh.secret_shared_average(models, weights=[1, -1, 1])
    with pytest.raises(ValueError, match="shape"):
        fh.secret_shared_average(models, into=nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)))
    assert [(w.bytes_sent, w.bytes_received) for w in workers] == before
