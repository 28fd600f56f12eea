"""secure_average and average_losses compute the FedAvg formulas and release nothing else."""
import pytest
import torch
from torch import nn

import fedavg_helpers as fh


@pytest.fixture
def fed():
    workers = {n: fh.VirtualWorker(n) for n in ("bob", "alice", "carol")}
    workers["secure_worker"] = fh.VirtualWorker("secure_worker", trusted=True)
    torch.manual_seed(42)
    local = {n: torch.randn(4, 3) for n in ("bob", "alice", "carol")}
    data = {n: fh.send(x, workers[n], private=True) for n, x in local.items()}
    yield workers, data, local


def local_models(workers, data, local, seeds=(0, 1, 2)):
    """Pointers to models that ran forward on each owner's data, and plain twins that did the same here."""
    plain, ptrs = [], []
    for seed, name in zip(seeds, ("bob", "alice", "carol")):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
        ptr = fh.send(model, workers[name])
        ptr(data[name]).sum().backward()  # work on the private data: the copy now depends on it
        model(local[name]).sum().backward()  # the same here, so BatchNorm's running stats agree
        plain.append(model)
        ptrs.append(ptr)
    return plain, ptrs


def test_weighted_average_matches_the_formula(fed):
    workers, data, local = fed
    plain, ptrs = local_models(workers, data, local)
    weights = [10, 30, 60]
    avg = fh.secure_average(ptrs, workers["secure_worker"], weights=weights)
    floats = 0
    for name, value in avg.state_dict().items():
        states = [m.state_dict()[name] for m in plain]
        if value.is_floating_point():
            expected = sum(w * s for w, s in zip(weights, states)) / sum(weights)
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
            floats += 1
    assert floats == 6  # weight, bias, BatchNorm's weight, bias, running mean and variance
    assert avg.state_dict()["1.num_batches_tracked"] == 1  # integer buffers are taken, not averaged


def test_equal_weights_are_the_plain_mean_exactly(fed):
    workers, data, local = fed
    _, ptrs = local_models(workers, data, local)
    secure_worker = workers["secure_worker"]
    for p in ptrs:
        p.move(secure_worker)
    by_hand = ((ptrs[0][0].weight.data + ptrs[1][0].weight.data + ptrs[2][0].weight.data) / 3).get()
    avg = fh.secure_average(ptrs, secure_worker)
    assert torch.equal(avg[0].weight.data, by_hand)


def test_into_loads_the_average_in_place_and_inputs_stay_usable(fed):
    workers, data, local = fed
    _, ptrs = local_models(workers, data, local)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    weight_object = model[0].weight
    out = fh.secure_average(ptrs, workers["secure_worker"], into=model)
    assert out is model and model[0].weight is weight_object  # same parameters, new values
    assert torch.equal(model[0].weight, fh.secure_average(ptrs, workers["secure_worker"])[0].weight)
    assert [p.location.name for p in ptrs] == ["bob", "alice", "carol"]  # copies travelled, pointers stay
    assert workers["secure_worker"].bytes_received > 0 and len(workers["secure_worker"]) == 0


def test_average_losses_is_a_weighted_mean_of_scalars(fed):
    workers, data, _ = fed
    losses = [(data[n] ** 2).mean() for n in ("bob", "alice")]
    fh.set_policy(fh.PrivacyPolicy(allow_scalar_metrics=False))  # no single loss may come back ...
    with pytest.raises(fh.PrivacyError):
        losses[0].copy().get()
    fh.set_policy(fh.PrivacyPolicy())
    expected = [losses[0].copy().get().item(), losses[1].copy().get().item()]
    fh.set_policy(fh.PrivacyPolicy(allow_scalar_metrics=False))
    mean = fh.average_losses(losses, workers["secure_worker"], weights=[1, 3])  # ... but their average may
    assert mean == pytest.approx((expected[0] + 3 * expected[1]) / 4, rel=1e-6)


def test_average_losses_of_one_owner_is_refused(fed):
    workers, data, _ = fed
    losses = [(data["bob"] ** 2).mean(), (data["bob"] ** 3).mean()]
    fh.set_policy(fh.PrivacyPolicy(allow_scalar_metrics=False))
    with pytest.raises(fh.PrivacyError, match="combines 1"):
        fh.average_losses(losses, workers["secure_worker"])


def test_average_losses_needs_scalars(fed):
    workers, data, _ = fed
    with pytest.raises(TypeError, match="scalars"):
        fh.average_losses([data["bob"] * 1, data["alice"] * 1], workers["secure_worker"])


def test_a_refused_average_moves_no_bytes(fed):
    workers, data, _ = fed
    losses = [(data["bob"] ** 2).mean(), (data["bob"] ** 3).mean()]
    fh.set_policy(fh.PrivacyPolicy(allow_scalar_metrics=False))
    before = [(w.bytes_sent, w.bytes_received) for w in workers.values()]
    with pytest.raises(fh.PrivacyError):
        fh.average_losses(losses, workers["secure_worker"])
    assert [(w.bytes_sent, w.bytes_received) for w in workers.values()] == before
