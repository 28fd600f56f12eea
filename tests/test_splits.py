"""Client splits: every sample dealt exactly once, seeded, label skew as asked, impossible requests refused."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fedavg_helpers as fh


@pytest.fixture(scope="module")
def labels():
    return fh.load_digits_split().y_train


SPLITS = {
    "iid": lambda y, k, seed=0: fh.split_iid(y, k, seed=seed),
    "shards": lambda y, k, seed=0: fh.split_shards(y, k, seed=seed),
    "dirichlet": lambda y, k, seed=0: fh.split_dirichlet(y, k, alpha=0.5, seed=seed),
}


@pytest.mark.parametrize("name", SPLITS)
@pytest.mark.parametrize("num_clients", [1, 7, 100])
def test_every_sample_goes_to_exactly_one_client(labels, name, num_clients):
    clients = SPLITS[name](labels, num_clients)
    assert len(clients) == num_clients
    assert all(c.dtype == torch.int64 and c.dim() == 1 and len(c) > 0 for c in clients)
    assert all(torch.equal(c, c.sort().values) for c in clients)
    assert torch.equal(torch.cat(clients).sort().values, torch.arange(len(labels)))  # covers all, no overlap


@pytest.mark.parametrize("name", SPLITS)
def test_splits_are_seeded(labels, name):
    first, again, other = SPLITS[name](labels, 20, 3), SPLITS[name](labels, 20, 3), SPLITS[name](labels, 20, 4)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_iid_sizes_differ_by_at_most_one_and_follow_the_global_label_mix(labels):
    clients = fh.split_iid(labels, 10)
    sizes = [len(c) for c in clients]
    assert max(sizes) - min(sizes) <= 1
    share = fh.label_counts(labels, clients).double() / torch.tensor(sizes).unsqueeze(1)
    overall = torch.bincount(labels).double() / len(labels)
    assert (share - overall).abs().max() < 0.1  # about 135 samples per client: sampling noise is ~0.026


def test_shards_are_contiguous_runs_of_the_label_sorted_order(labels):
    clients = fh.split_shards(labels, 50, num_shards=150)
    rank = torch.empty(len(labels), dtype=torch.long)
    rank[torch.sort(labels, stable=True).indices] = torch.arange(len(labels))  # position in label-sorted order
    shard_size = len(labels) // 150
    for c in clients:
        r = rank[c].sort().values
        runs = 1 + int((r.diff() != 1).sum())
        assert runs <= 3  # three shards each; adjacent shards may merge into one run
        assert 3 * shard_size <= len(c) <= 3 * (shard_size + 1)


def test_two_pure_shards_per_client_give_at_most_two_labels():
    labels = torch.arange(10).repeat_interleave(20)  # 10 classes x 20 samples: 100 shards of 2, each pure
    clients = fh.split_shards(labels, 50)
    classes = (fh.label_counts(labels, clients) > 0).sum(1)
    assert classes.max() <= 2 and all(len(c) == 4 for c in clients)


def test_shards_are_far_more_skewed_than_iid(labels):
    def classes(clients):
        return (fh.label_counts(labels, clients) > 0).sum(1).double().mean()

    assert classes(fh.split_shards(labels, 100)) <= 3.0 < 6.0 <= classes(fh.split_iid(labels, 100))


def test_dirichlet_skew_grows_as_alpha_shrinks(labels):
    def distance_from_global(alpha):
        clients = fh.split_dirichlet(labels, 20, alpha=alpha, seed=1)
        counts = fh.label_counts(labels, clients).double()
        share = counts / counts.sum(1, keepdim=True)
        overall = torch.bincount(labels).double() / len(labels)
        return 0.5 * (share - overall).abs().sum(1).mean()  # mean total-variation distance
    skewed, mild, nearly_iid = distance_from_global(0.1), distance_from_global(1.0), distance_from_global(1000.0)
    assert skewed > 0.6 and skewed > mild > nearly_iid and nearly_iid < 0.1


def test_dirichlet_respects_min_size_and_leaves_the_global_rng_alone(labels):
    state = torch.get_rng_state()
    clients = fh.split_dirichlet(labels, 50, alpha=0.3, min_size=5)
    assert min(len(c) for c in clients) >= 5
    assert torch.equal(torch.get_rng_state(), state)


def test_label_counts_matches_a_hand_count(labels):
    clients = fh.split_dirichlet(labels, 6, alpha=0.5)
    counts = fh.label_counts(labels, clients)
    assert counts.shape == (6, 10)
    for k, c in enumerate(clients):
        for cls in range(10):
            assert counts[k, cls] == sum(1 for i in c.tolist() if labels[i] == cls)
    assert counts.sum(1).tolist() == [len(c) for c in clients]
    assert fh.label_counts(labels, clients, num_classes=12)[:, 10:].sum() == 0


@pytest.mark.parametrize("call, error, words", [
    (lambda y: fh.split_iid(y, 1348), ValueError, "1348 clients"),
    (lambda y: fh.split_iid(y, 0), ValueError, "num_clients: 0"),
    (lambda y: fh.split_iid(y, 2.0), TypeError, "num_clients must be an int"),
    (lambda y: fh.split_iid(y, 2, seed=-1), ValueError, "seed: -1"),
    (lambda y: fh.split_iid(y.float(), 2), TypeError, "labels.long()"),
    (lambda y: fh.split_iid(y.view(-1, 1), 2), ValueError, "1-D"),
    (lambda y: fh.split_iid(y - 1, 2), ValueError, "non-negative"),
    (lambda y: fh.split_shards(y, 2000), ValueError, "2000 clients"),
    (lambda y: fh.split_shards(y, 30, num_shards=200), ValueError, "200 shards cannot be dealt evenly to 30"),
    (lambda y: fh.split_shards(y, 1000, num_shards=2000), ValueError, "2000 non-empty shards"),
    (lambda y: fh.split_dirichlet(y, 10, alpha=0), ValueError, "alpha: 0.0"),
    (lambda y: fh.split_dirichlet(y, 10, alpha=-1.0), ValueError, "alpha: -1.0"),
    (lambda y: fh.split_dirichlet(y, 10, alpha=math.nan), ValueError, "alpha: nan"),
    (lambda y: fh.split_dirichlet(y, 10, alpha="0.1"), TypeError, "alpha must be a real number"),
    (lambda y: fh.split_dirichlet(y, 2000, alpha=1.0), ValueError, "2000 clients"),
    (lambda y: fh.split_dirichlet(y, 100, alpha=1.0, min_size=14), ValueError, "min_size <= 13"),
    (lambda y: fh.label_counts(y, [torch.tensor([0, 5000])]), ValueError, "client 0"),
    (lambda y: fh.label_counts(y, [torch.tensor([0])], num_classes=5), ValueError, "num_classes: 5"),
])
def test_impossible_requests_are_refused_with_a_clear_message(labels, call, error, words):
    with pytest.raises(error, match=words):
        call(labels)


def test_dirichlet_gives_up_when_min_size_cannot_be_met():
    labels = torch.zeros(6, dtype=torch.long)  # one class, six samples, six clients: almost never one each
    with pytest.raises(ValueError, match="use a larger alpha"):
        fh.split_dirichlet(labels, 6, alpha=0.01)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), num_classes=st.integers(1, 5), data=st.data())
def test_any_feasible_request_covers_every_sample_once(n, num_classes, data):
    labels = torch.tensor(data.draw(st.lists(st.integers(0, num_classes - 1), min_size=n, max_size=n)))
    num_clients = data.draw(st.integers(1, n))
    seed = data.draw(st.integers(0, 2**31))
    splits = [fh.split_iid(labels, num_clients, seed=seed),
              fh.split_dirichlet(labels, num_clients, alpha=1.0, seed=seed, min_size=0)]
    if 2 * num_clients <= n:
        splits.append(fh.split_shards(labels, num_clients, seed=seed))
    for clients in splits:
        assert len(clients) == num_clients
        assert torch.equal(torch.cat(clients).sort().values, torch.arange(n))
