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
