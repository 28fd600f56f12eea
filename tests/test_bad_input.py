"""Each kind of bad input raises a clear error that names the problem, before any state changes."""
import threading

import pytest
import torch
from torch import nn

import fedavg_helpers as fh


def snapshot(*workers):
    return [(len(w), w.bytes_received, w.bytes_sent, w.holdings()) for w in workers]


def test_sending_to_something_that_is_not_a_worker():
    for not_a_worker in ([1, 2], 3, None, nn.Linear(1, 1)):
        with pytest.raises(TypeError, match="send\\(\\) needs a fh.VirtualWorker"):
            fh.send(torch.ones(1), not_a_worker)


def test_sending_a_non_serializable_object_changes_nothing():
    bob = fh.VirtualWorker("bob")
    before = snapshot(bob)
    for bad in (lambda x: x, threading.Lock(), (i for i in range(3))):
        with pytest.raises(TypeError, match="cannot be serialized"):
            fh.send(bad, bob)
    assert snapshot(bob) == before


def test_a_lambda_cannot_run_remotely():
    p = fh.send(torch.ones(1), fh.VirtualWorker("bob"))
    with pytest.raises(TypeError, match="lambda"):
        fh.remote(lambda t: t + 1, p)


def test_remote_without_a_pointer_argument():
    with pytest.raises(ValueError, match="no pointer arguments"):
        fh.remote(torch.add, torch.ones(1), 1)


def test_unknown_worker_names():
    bob = fh.VirtualWorker("bob")  # the registry holds workers weakly: keep a reference
    with pytest.raises(fh.WorkerError, match="no worker is named 'carol' \\(known workers: bob\\)"):
        fh.send(torch.ones(1), "carol")
    with pytest.raises(fh.WorkerError, match="carol"):
        fh.get_worker("carol")
    p = fh.send(torch.ones(1), "bob")
    with pytest.raises(fh.WorkerError, match="carol"):
        p.move("carol")
    assert p.location is bob


def test_a_second_worker_with_a_taken_name_replaces_the_first_and_its_pointers_say_so():
    bob = fh.VirtualWorker("bob")
    p = fh.send(torch.ones(1), bob)
    new_bob = fh.VirtualWorker("bob")  # as when a notebook cell is run again
    assert fh.get_worker("bob") is new_bob and len(new_bob) == 0 and len(bob) == 0
    with pytest.raises(fh.PointerError, match="earlier worker named bob; bob was replaced"):
        p + 1
    with pytest.raises(fh.PointerError, match="replaced"):
        p.get()
    with pytest.raises(fh.WorkerError, match="was replaced"):
        fh.send(torch.ones(1), bob)  # the old worker object can no longer be used either
    assert "replaced" in repr(bob) and "earlier worker" in repr(p)


def test_invalid_worker_names_and_policies():
    for bad in ("", "two words", 3):
        with pytest.raises(fh.WorkerError, match="identifier"):
            fh.VirtualWorker(bad)
    with pytest.raises(TypeError, match="PrivacyPolicy"):
        fh.VirtualWorker("bob", policy="strict")


def test_moving_to_the_same_worker():
    bob = fh.VirtualWorker("bob")
    p = fh.send(torch.ones(1), bob)
    before = snapshot(bob)
    with pytest.raises(fh.WorkerError, match="already on bob"):
        p.move(bob)
    assert snapshot(bob) == before and torch.equal(p.get(), torch.ones(1))


def test_moving_to_something_that_is_not_a_worker():
    p = fh.send(torch.ones(1), fh.VirtualWorker("bob"))
    with pytest.raises(TypeError, match="move\\(\\) needs"):
        p.move(42)


def test_sending_a_pointer():
    p = fh.send(torch.ones(1), fh.VirtualWorker("bob"))
    with pytest.raises(TypeError, match="already on a worker"):
        fh.send(p, fh.VirtualWorker("alice"))


def test_a_pointer_used_after_get():
    p = fh.send(torch.ones(1), fh.VirtualWorker("bob"))
    p.get()
    with pytest.raises(fh.PointerError, match="no longer be used"):
        p * 2


def test_mixed_locations_name_both_workers():
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    a, b = fh.send(torch.ones(2), alice), fh.send(torch.ones(2), bob)
    before = snapshot(bob, alice)
    for mix in (lambda: a + b, lambda: fh.remote(torch.add, b, a), lambda: fh.remote(torch.stack, [a, b]),
                lambda: a.add(b)):
        with pytest.raises(fh.LocationError, match="alice.*bob|bob.*alice") as err:
            mix()
        assert isinstance(err.value, ValueError)
    assert snapshot(bob, alice) == before


def test_min_contributors_below_one():
    for bad in (0, -1):
        with pytest.raises(ValueError, match="min_contributors: " + str(bad)):
            fh.PrivacyPolicy(min_contributors=bad)
    with pytest.raises(TypeError):
        fh.PrivacyPolicy(min_contributors=1.5)
    with pytest.raises(TypeError):
        fh.set_policy("strict")
    for name in ("strict", "allow_scalar_metrics"):
        for not_a_bool in ("false", 0, None):  # before: "false" was truthy, so strict="false" made a strict policy
            with pytest.raises(TypeError, match=f"{name} must be True or False, got {not_a_bool!r}"):
                fh.PrivacyPolicy(**{name: not_a_bool})


@pytest.fixture
def two_models():
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    data = [fh.send(torch.ones(1), bob, private=True), fh.send(torch.ones(1), alice, private=True)]
    models = [fh.send(nn.Linear(2, 1), w) for w in (bob, alice)]
    for m, d in zip(models, data):
        _ = (d * 2).sum()  # some work next to the private data, so each model depends on it
        m.move(secure_worker)
    yield models, secure_worker
    del bob, alice, data


def test_averaging_models_of_different_shapes(two_models):
    models, secure_worker = two_models
    other = fh.send(nn.Linear(3, 1), secure_worker)
    sequential = fh.send(nn.Sequential(nn.Linear(2, 1)), secure_worker)
    before = snapshot(secure_worker)
    with pytest.raises(ValueError, match="weight has shape \\(1, 3\\) but expected \\(1, 2\\)"):
        fh.secure_average(models + [other], secure_worker)
    with pytest.raises(ValueError, match="shape"):
        fh.secure_average(models, secure_worker, into=nn.Linear(3, 1))
    with pytest.raises(ValueError, match="parameters"):
        fh.secure_average(models + [sequential], secure_worker)
    assert snapshot(secure_worker) == before


def test_averaging_an_empty_list_or_not_a_list(two_models):
    _, secure_worker = two_models
    with pytest.raises(ValueError, match="empty"):
        fh.secure_average([], secure_worker)
    with pytest.raises(TypeError, match="list of pointers"):
        fh.secure_average(nn.Linear(2, 1), secure_worker)
    with pytest.raises(TypeError, match="needs pointers"):
        fh.secure_average([nn.Linear(2, 1)], secure_worker)


def test_negative_or_all_zero_or_missing_weights(two_models):
    models, secure_worker = two_models
    into = nn.Linear(2, 1)
    before = into.weight.detach().clone()
    with pytest.raises(ValueError, match="Invalid weight: -1.0"):
        fh.secure_average(models, secure_worker, into=into, weights=[1, -1])
    with pytest.raises(ValueError, match="all weights are zero"):
        fh.secure_average(models, secure_worker, into=into, weights=[0, 0])
    with pytest.raises(ValueError, match="2 inputs"):
        fh.secure_average(models, secure_worker, into=into, weights=[1])
    with pytest.raises(ValueError, match="Invalid weight: nan"):
        fh.secure_average(models, secure_worker, into=into, weights=[1, float("nan")])
    with pytest.raises(TypeError, match="Invalid weight: '3' \\(str\\); weights must be numbers"):
        fh.secure_average(models, secure_worker, into=into, weights=["3", "1"])  # before: read as 3.0 and 1.0
    assert torch.equal(into.weight, before)


def test_averaging_on_an_untrusted_worker(two_models):
    models, _ = two_models
    with pytest.raises(fh.WorkerError, match="not trusted"):
        fh.secure_average(models, fh.get_worker("bob"))


def test_pointers_cannot_be_pickled_or_copied_locally():
    import copy
    import pickle
    p = fh.send(torch.ones(1), fh.VirtualWorker("bob"))
    for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="ptr.copy"):
            duplicate(p)
    with pytest.raises(TypeError, match="cannot be serialized"):
        fh.send([p], fh.get_worker("bob"))
    assert torch.equal(p.get(), torch.ones(1))


def test_a_worker_created_without_keeping_a_reference_is_still_there_by_name():
    fh.VirtualWorker("carol")  # a learner's first cell: the worker is not assigned to a variable
    import gc
    gc.collect()
    pointer = fh.send(torch.ones(1), "carol")
    assert pointer.location is fh.get_worker("carol")
