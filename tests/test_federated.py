"""FedAvg through named workers and pointers gives the simulator's model, under the strict policy too."""
import pytest
import torch

import fedavg_helpers as fh


def small_problem(digits, n_clients=4, per_client=30):
    x, y = digits.train
    idx = fh.split_iid(y[: n_clients * per_client], n_clients, seed=0)
    return (x[: n_clients * per_client], y[: n_clients * per_client]), idx


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_workers_loop_matches_the_simulators_loop_engine(digits, strict):
    torch.manual_seed(0)
    model = fh.mlp(64, 16, 10)
    train, idx = small_problem(digits)
    config = fh.FedAvgConfig(rounds=3, client_fraction=0.5, local_epochs=2, batch_size=10, lr=0.1, seed=3,
                             engine="loop", progress=False)
    reference = fh.run_fedavg(model, train, digits.test, idx, config)
    if strict:
        fh.set_policy(fh.PrivacyPolicy(strict=True))
    workers = [fh.VirtualWorker(f"client{k}") for k in range(4)]
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    history = fh.run_fedavg_on_workers(model, workers, secure_worker, train, digits.test, idx, config)
    assert history.clients == reference.clients
    for a, b in zip(history.model.state_dict().values(), reference.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert history.test_accuracy == pytest.approx(reference.test_accuracy, abs=1e-6)
    assert len(history.train_loss) == 3 and all(0 < loss < 5 for loss in history.train_loss)
    assert [len(w) for w in workers] == [0, 0, 0, 0] and len(secure_worker) == 0  # nothing left behind


def test_the_train_loss_is_the_weighted_mean_of_the_clients_losses(digits):
    torch.manual_seed(0)
    model = fh.mlp(64, 10)
    train, idx = small_problem(digits, n_clients=2, per_client=20)
    idx = [idx[0], idx[1][:5]]  # unequal clients: weights 20 and 5
    config = fh.FedAvgConfig(rounds=1, client_fraction=1.0, local_epochs=1, batch_size=None, lr=0.1, progress=False)
    workers = [fh.VirtualWorker("bob"), fh.VirtualWorker("alice")]
    history = fh.run_fedavg_on_workers(model, workers, fh.VirtualWorker("secure_worker", trusted=True), train,
                                       digits.test, idx, config)
    x, y = train
    losses = [torch.nn.functional.cross_entropy(model(x[i]), y[i]).item() for i in idx]  # one full-batch step each
    assert history.train_loss[0] == pytest.approx((20 * losses[0] + 5 * losses[1]) / 25, rel=1e-5)


def test_bad_inputs(digits):
    train, idx = small_problem(digits)
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    workers = [fh.VirtualWorker(f"client{k}") for k in range(4)]
    with pytest.raises(ValueError, match="3 workers for 4 clients"):
        fh.share_data(workers[:3], train, idx)
    with pytest.raises(TypeError, match="FedAvgConfig"):
        fh.run_fedavg_on_workers(fh.mlp(64, 10), workers, secure_worker, train, digits.test, idx, config={})
    for config in (fh.FedAvgConfig(aggregator=fh.median_aggregator()), fh.FedAvgConfig(sampling="poisson")):
        with pytest.raises(ValueError, match="use fh.run_fedavg"):
            fh.run_fedavg_on_workers(fh.mlp(64, 10), workers, secure_worker, train, digits.test, idx, config)
    assert all(len(w) == 0 for w in workers)


def nothing_moved(*workers):
    return all(len(w) == 0 and w.bytes_received == 0 and w.bytes_sent == 0 for w in workers)


def test_every_refusal_comes_before_any_private_byte_moves(digits):
    train, idx = small_problem(digits)
    workers = [fh.VirtualWorker(f"client{k}") for k in range(4)]
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    untrusted = fh.VirtualWorker("helper")
    config = fh.FedAvgConfig(rounds=2, client_fraction=0.5, local_epochs=1, progress=False)
    model = fh.mlp(64, 10)
    refusals = [  # before: the first two sent every client's data and trained a round before raising
        (dict(secure_worker=untrusted), fh.WorkerError, "helper is not trusted"),
        (dict(workers=workers[:3] + [workers[1]]), ValueError, "client1 is listed for client 1 and for client 3"),
        (dict(workers=workers[:3] + [secure_worker]), ValueError, "secure_worker \\(client 3\\) is a trusted worker"),
        (dict(config=fh.FedAvgConfig(rounds=2, client_fraction=0.25, progress=False)), fh.PrivacyError,
         "round 1 picks client\\d, .* counts 1 data owner.* at least 2.* Nothing was sent"),
        (dict(model=fh.mlp(32, 10)), ValueError, "cannot take train's samples of shape \\(64,\\)"),
        (dict(model=fh.mlp(64, 8)), ValueError, "train has label 9, but the model gives 8 class scores"),
        (dict(client_indices=[idx[0], idx[1], idx[2], torch.cat([idx[3], idx[0][:1]])]), ValueError,
         "clients 0 and 3 both hold sample"),
    ]
    for change, error, match in refusals:
        arguments = dict(model=model, workers=workers, secure_worker=secure_worker, train=train, test=digits.test,
                         client_indices=idx, config=config) | change
        with pytest.raises(error, match=match):
            fh.run_fedavg_on_workers(**arguments)
        assert nothing_moved(*workers, secure_worker, untrusted)


def test_under_strict_a_round_whose_average_would_be_one_owners_is_refused_up_front(digits):
    train, idx = small_problem(digits, n_clients=2, per_client=30)
    idx = [idx[0], idx[1][:2]]  # alice holds 2 samples against bob's 15: under strict she does not count
    workers = [fh.VirtualWorker("bob"), fh.VirtualWorker("alice")]
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    config = fh.FedAvgConfig(rounds=1, client_fraction=1.0, local_epochs=1, progress=False)
    fh.run_fedavg_on_workers(fh.mlp(64, 10), workers, secure_worker, train, digits.test, idx, config)  # default: fine
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    before = [(w.bytes_received, w.bytes_sent) for w in (*workers, secure_worker)]
    with pytest.raises(fh.PrivacyError, match="round 1 picks alice and bob, .* counts 1 data owner\\(s\\) \\(bob\\)"):
        fh.run_fedavg_on_workers(fh.mlp(64, 10), workers, secure_worker, train, digits.test, idx, config)
    assert [(w.bytes_received, w.bytes_sent) for w in (*workers, secure_worker)] == before


def test_share_data_refuses_one_worker_for_two_clients(digits):
    train, idx = small_problem(digits, n_clients=2)
    bob = fh.VirtualWorker("bob")
    with pytest.raises(ValueError, match="bob is listed for client 0 and for client 1"):
        fh.share_data([bob, "bob"], train, idx)
    with pytest.raises(TypeError, match="one worker \\(or worker name\\) per client"):
        fh.share_data(bob, train, idx[:1])
    assert nothing_moved(bob)
