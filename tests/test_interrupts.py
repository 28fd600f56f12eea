"""A learner stops a long cell (the kernel's stop button raises KeyboardInterrupt) and runs it again: it just works.

Every place below is interrupted at several points; afterwards the inputs are untouched, workers are
usable, nothing is half-consumed, and running the same call again gives what an uninterrupted run gives.
"""
import os
import signal

import pytest
import torch
from seed import fresh_model, toy_data
from torch import optim

import fedavg_helpers as fh
from fedavg_helpers.core import _interrupts
from fedavg_helpers.core import serialize as _serialize
from fedavg_helpers.simulation import fedavg as _fedavg


def interrupt_on_call(monkeypatch, owner, name, n):
    """Make owner.name raise KeyboardInterrupt on its n-th call (counting from 1)."""
    original, calls = getattr(owner, name), []

    def stopped(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return original(*args, **kwargs)
    monkeypatch.setattr(owner, name, stopped)


def same_state(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("stop_at", [1, 3])
def test_run_fedavg_leaves_the_model_untouched_and_runs_again(digits, monkeypatch, stop_at):
    torch.manual_seed(0)
    model = fh.mlp(64, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clients = fh.split_iid(digits.y_train, 20, seed=0)
    config = fh.FedAvgConfig(rounds=4, client_fraction=0.2, local_epochs=1, batch_size=10, lr=0.1, seed=0,
                             progress=False)
    expected = fh.run_fedavg(model, digits.train, digits.test, clients, config)
    with monkeypatch.context() as m:
        interrupt_on_call(m, _fedavg, "evaluate", stop_at)
        with pytest.raises(KeyboardInterrupt):
            fh.run_fedavg(model, digits.train, digits.test, clients, config)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    again = fh.run_fedavg(model, digits.train, digits.test, clients, config)
    assert same_state(again.model, expected.model) and again.test_accuracy == expected.test_accuracy


def trained_on_the_secure_worker(policy):
    fh.set_policy(policy)
    data, target = toy_data()
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    models = []
    for name, rows in (("bob", slice(0, 2)), ("alice", slice(2, 4))):
        worker = fh.VirtualWorker(name)
        x, y = fh.send(data[rows], worker, private=True), fh.send(target[rows], worker, private=True)
        ptr = fh.send(fresh_model(), worker)
        opt = fh.remote(optim.SGD, ptr.parameters(), lr=0.1)
        opt.zero_grad()
        ((ptr(x) - y) ** 2).sum().backward()
        opt.step()
        models.append(ptr)
    return secure_worker, models


@pytest.mark.parametrize("policy", [fh.PrivacyPolicy(), fh.PrivacyPolicy(strict=True)], ids=["default", "strict"])
@pytest.mark.parametrize("stop_at", [1, 2, 3])
def test_secure_average_interrupted_changes_nothing_and_runs_again(monkeypatch, policy, stop_at):
    secure_worker, models = trained_on_the_secure_worker(policy)
    into = fresh_model(seed=5)
    before = [(w.name, len(w), w.bytes_received, w.bytes_sent) for w in (secure_worker, *(m.location for m in models))]
    untouched = {k: v.clone() for k, v in into.state_dict().items()}
    with monkeypatch.context() as m:
        interrupt_on_call(m, _serialize, "dumps", stop_at)  # while the inputs travel, or the result is built
        with pytest.raises(KeyboardInterrupt):
            fh.secure_average(models, secure_worker, into=into)
    assert [(w.name, len(w), w.bytes_received, w.bytes_sent) for w in (secure_worker, *(m.location for m in models))] \
        == before
    assert all(torch.equal(untouched[k], v) for k, v in into.state_dict().items())
    fh.secure_average(models, secure_worker, into=into)  # the pointers still work, and nothing was consumed
    assert not all(torch.equal(untouched[k], v) for k, v in into.state_dict().items())


def interrupting(x):
    """A function a learner runs on a worker and stops half-way."""
    x.add_(1)
    raise KeyboardInterrupt


def test_an_interrupted_pointer_call_leaves_the_worker_usable():
    bob = fh.VirtualWorker("bob")
    x = fh.send(torch.zeros(2), bob, private=True)
    y = fh.send(torch.ones(2), bob)
    with pytest.raises(KeyboardInterrupt):
        fh.remote(interrupting, y)
    assert len(bob) == 2
    with pytest.raises(fh.PrivacyError):  # it ran next to bob's data: it counts as depending on it
        y.get()
    assert (x + 1).location is bob  # and the worker goes on


@pytest.mark.parametrize("stop_at", [1, 5, 20])
def test_secure_aggregate_interrupted_runs_again_to_the_same_sum(monkeypatch, stop_at):
    from fedavg_helpers.secure import secagg
    g = torch.Generator().manual_seed(0)
    vectors = [torch.rand(50, generator=g) - 0.5 for _ in range(5)]
    copies = [v.clone() for v in vectors]
    expected = fh.secure_aggregate(vectors, threshold=3, seed=0).total
    with monkeypatch.context() as m:
        interrupt_on_call(m, secagg, "add_expanded_", stop_at)
        with pytest.raises(KeyboardInterrupt):
            fh.secure_aggregate(vectors, threshold=3, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(vectors, copies))
    assert torch.equal(fh.secure_aggregate(vectors, threshold=3, seed=0).total, expected)


@pytest.mark.parametrize("stop_at", [2, 5])
def test_run_fedavg_on_workers_interrupted_leaves_the_model_and_workers_usable(digits, monkeypatch, stop_at):
    from fedavg_helpers import federated
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    torch.manual_seed(0)
    model = fh.mlp(64, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = digits.train
    train = (x[:90], y[:90])
    clients = fh.split_iid(train[1], 3, seed=0)
    config = fh.FedAvgConfig(rounds=2, client_fraction=1.0, local_epochs=1, batch_size=10, lr=0.1, seed=0,
                             engine="loop", progress=False)

    def run():
        workers = [fh.VirtualWorker(n) for n in ("bob", "alice", "carol")]  # as a re-run cell creates them
        secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
        return fh.run_fedavg_on_workers(model, workers, secure_worker, train, digits.test, clients, config)

    with monkeypatch.context() as m:
        interrupt_on_call(m, federated, "remote_client_update", stop_at)
        with pytest.raises(KeyboardInterrupt):
            run()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    finished = run()  # the whole cell again: new workers, the same contributions, the same aggregates
    reference = fh.run_fedavg(model, train, digits.test, clients, config)
    for a, b in zip(finished.model.state_dict().values(), reference.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_a_ctrl_c_inside_an_update_waits_for_the_update_to_finish():
    done = []
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a notebook's kernel
    try:
        with pytest.raises(KeyboardInterrupt):
            with _interrupts.deferred_interrupt():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("finished")
        assert done == ["finished"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_an_ignored_ctrl_c_stays_ignored():
    # a run under nohup or as a background job inherits SIGINT ignored: an update must not turn it back on
    inherited = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _interrupts.deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            done = "finished"
        assert done == "finished"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, inherited)
