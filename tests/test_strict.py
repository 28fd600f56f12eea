"""The strict policy closes the default policy's holes: no weight leaves a data owner, not even one element at a time.
"""
import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seed import fresh_model, toy_data, train_remote
from torch import nn, optim

import fedavg_helpers as fh

STRICT = fh.PrivacyPolicy(strict=True)


def federation(policy=None):
    """bob and alice with the seed's private data, and a trusted secure_worker."""
    if policy is not None:
        fh.set_policy(policy)
    data, target = toy_data()
    fed = dict(bob=fh.VirtualWorker("bob"), alice=fh.VirtualWorker("alice"),
               secure_worker=fh.VirtualWorker("secure_worker", trusted=True))
    fed["bobs"] = (fh.send(data[0:2], fed["bob"], private=True), fh.send(target[0:2], fed["bob"], private=True))
    fed["alices"] = (fh.send(data[2:], fed["alice"], private=True), fh.send(target[2:], fed["alice"], private=True))
    return fed


def train_plain(model, rows, steps=5):
    """The same training in plain torch: what bob's model really is, to check what a leak revealed."""
    model = copy.deepcopy(model)
    data, target = toy_data()
    x, y = data[rows].detach(), target[rows].detach()
    opt = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).sum().backward()
        opt.step()
    return model


# ---- two attacks on the default policy: allowed by default, refused under strict ----

def read_weight_one_element_at_a_time(ptr):
    rows, cols = 1, 2
    return torch.tensor([[ptr.weight[i, j].get().item() for j in range(cols)] for i in range(rows)])


def test_default_policy_leaks_a_model_one_scalar_at_a_time():
    fed = federation()
    bobs_model, _ = train_remote(fresh_model(), fed["bob"], fed["bobs"])
    stolen = read_weight_one_element_at_a_time(bobs_model)
    assert torch.equal(stolen, train_plain(fresh_model(), slice(0, 2)).weight.detach())


def test_strict_policy_refuses_the_scalar_attack_and_names_the_rule():
    fed = federation(STRICT)
    bobs_model, loss = train_remote(fresh_model(), fed["bob"], fed["bobs"])
    for scalar in (bobs_model.weight[0, 0], bobs_model.weight[0, 0].item(), loss, loss.item()):
        with pytest.raises(fh.PrivacyError, match="strict policy: a data owner's worker releases no value"):
            scalar.get()


def both_models_on_the_secure_worker(fed):
    bobs_model, _ = train_remote(fresh_model(), fed["bob"], fed["bobs"])
    alices_model, _ = train_remote(fresh_model(), fed["alice"], fed["alices"])
    bobs_model.move(fed["secure_worker"])
    alices_model.move(fed["secure_worker"])
    return bobs_model, alices_model


def test_default_policy_lets_times_zero_pass_the_two_owner_rule():
    fed = federation()
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    stolen = (alices_model.weight.data * 0 + bobs_model.weight.data).get()
    assert torch.equal(stolen, train_plain(fresh_model(), slice(0, 2)).weight.detach())


def test_default_policy_lets_the_differencing_attack_pass():
    fed = federation()
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    total = alices_model.weight.data + bobs_model.weight.data
    stolen = (total - alices_model.weight.data).get()
    torch.testing.assert_close(stolen, train_plain(fresh_model(), slice(0, 2)).weight.detach())


def test_strict_policy_refuses_both_attacks_on_the_trusted_worker():
    fed = federation(STRICT)
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    with pytest.raises(fh.PrivacyError, match="runs only its aggregation functions"):
        alices_model.weight.data * 0 + bobs_model.weight.data
    with pytest.raises(fh.PrivacyError, match="runs only its aggregation functions"):
        bobs_model.copy()
    with pytest.raises(fh.PrivacyError, match="releases only the outputs of its aggregation functions"):
        bobs_model.get()
    averaged = fh.secure_average([alices_model, bobs_model], fed["secure_worker"])  # the average still comes back
    assert isinstance(averaged, nn.Linear)


def test_repeated_weighted_averages_reveal_a_model_by_default_but_strict_consumes_the_inputs():
    fed = federation()
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    one = fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[1, 1]).weight.detach()
    two = fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[1, 3]).weight.detach()
    # (b + a) / 2 = one and (b + 3a) / 4 = two  =>  b = 3 * one - 2 * two
    torch.testing.assert_close(3 * one - 2 * two, train_plain(fresh_model(), slice(0, 2)).weight.detach())

    from fedavg_helpers.core import worker
    worker._reset()
    fed = federation(STRICT)
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[1, 1])
    with pytest.raises(fh.PrivacyError, match="declared sample count"):
        fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[1, 3])


@pytest.mark.parametrize("policy", [fh.PrivacyPolicy(), STRICT], ids=["default", "strict"])
def test_a_zero_weight_does_not_count_as_a_contributor(policy):
    fed = federation(policy)
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    with pytest.raises(fh.PrivacyError, match="combines 1|declared sample count"):
        fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[1, 0])


def test_strict_can_be_set_per_worker():
    fed = federation()
    for name in ("bob", "secure_worker"):
        fed[name].policy = STRICT
    bobs_model, loss = train_remote(fresh_model(), fed["bob"], fed["bobs"])
    _, alices_loss = train_remote(fresh_model(), fed["alice"], fed["alices"])
    with pytest.raises(fh.PrivacyError, match="strict"):
        loss.get()
    assert alices_loss.get().dim() == 0  # alice's worker keeps the default policy


# ---- the federated loop runs under strict and reports its metrics as aggregates ----

def fedavg_loop(rounds=3, steps=5):
    fed = federation()
    model = fresh_model()
    losses = []
    for _ in range(rounds):
        bobs_model, bobs_loss = train_remote(model, fed["bob"], fed["bobs"], steps)
        alices_model, alices_loss = train_remote(model, fed["alice"], fed["alices"], steps)
        losses.append(fh.average_losses([bobs_loss, alices_loss], fed["secure_worker"]))
        bobs_model.move(fed["secure_worker"])
        alices_model.move(fed["secure_worker"])
        fh.secure_average([alices_model, bobs_model], fed["secure_worker"], into=model)
    return model, losses


def test_the_strict_loop_gives_the_same_model_and_metrics_as_the_default_loop():
    default_model, default_losses = fedavg_loop()
    from fedavg_helpers.core import worker
    worker._reset()
    fh.set_policy(STRICT)
    strict_model, strict_losses = fedavg_loop()
    assert torch.equal(default_model.weight, strict_model.weight)
    assert torch.equal(default_model.bias, strict_model.bias)
    assert default_losses == strict_losses and strict_losses[-1] < strict_losses[0]


# ---- property: no sequence of operations on one owner's objects gets a value out under strict ----

UNARY = {
    "index": lambda p: p[0], "slice": lambda p: p[0:1], "neg": lambda p: -p, "abs": lambda p: abs(p),
    "sum": lambda p: p.sum(), "mean": lambda p: p.mean(), "max": lambda p: p.max(), "item": lambda p: p.sum().item(),
    "tolist": lambda p: p.tolist(), "detach": lambda p: p.detach(), "clone": lambda p: p.clone(),
    "flatten": lambda p: p.reshape(-1), "transpose": lambda p: p.transpose(0, 1), "data": lambda p: p.data,
    "copy": lambda p: p.copy(),
    "times0": lambda p: p * 0, "plus1": lambda p: p + 1, "pow": lambda p: p ** 2, "rdiv": lambda p: 1 / (p + 10),
    "weight": lambda p: p.weight, "bias": lambda p: p.bias, "predict": lambda p: p(torch.zeros(1, 2)),
    "move_to_secure": lambda p: p.move("secure_worker"), "move_to_bob": lambda p: p.move("bob"),
}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}
FETCH = {
    "get": lambda p, fed: p.get(),
    "average_with_itself": lambda p, fed: fh.secure_average([p, p], fed["secure_worker"]),
    "average_losses": lambda p, fed: fh.average_losses([p, p.copy()], fed["secure_worker"]),
}
ops = st.one_of(st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), st.integers(0, 20)),
                st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), st.integers(0, 20), st.integers(0, 20)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(ops, min_size=1, max_size=12), fetch=st.sampled_from(sorted(FETCH)))
def test_strict_releases_nothing_that_depends_on_one_owner(sequence, fetch):
    from fedavg_helpers.core import worker
    worker._reset()
    fed = federation(STRICT)
    bobs_model, loss = train_remote(fresh_model(), fed["bob"], fed["bobs"], steps=1)
    pool = [fed["bobs"][0], fed["bobs"][1], bobs_model, loss]  # everything here depends on bob's data
    for op in sequence:
        try:
            if op[0] == "unary":
                result = UNARY[op[1]](pool[op[2] % len(pool)])
            else:
                result = BINARY[op[1]](pool[op[2] % len(pool)], pool[op[3] % len(pool)])
        except fh.PrivacyError:
            continue  # refused to run (strict trusted worker): fine
        except (TypeError, ValueError, RuntimeError, AttributeError, IndexError):
            continue  # an operation that does not apply to this object
        if isinstance(result, fh.Pointer):
            pool.append(result)
    for candidate in pool:
        try:
            FETCH[fetch](candidate, fed)
        except (fh.PrivacyError, fh.PointerError, TypeError):
            continue
        pytest.fail(f"{fetch} released a value that depends on bob's data: {candidate!r} after {sequence}")


@pytest.mark.parametrize("weights", [[1, 1e-12], [1, 0.3], [0.3, 1], [2, 3]])
def test_strict_refuses_weights_the_data_owners_did_not_declare(weights):
    fed = federation(STRICT)
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    with pytest.raises(fh.PrivacyError, match="declared sample count: bob: 2, alice: 2"):
        fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=weights)
    # equal weights, or the declared sample counts (2 rows each), are the owners' own
    assert isinstance(fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[2, 2]),
                      nn.Linear)


def test_strict_refuses_declared_weights_that_make_an_average_one_owners_model():
    fh.set_policy(STRICT)
    data, target = toy_data()
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    many = torch.cat([data[0:2]] * 50), torch.cat([target[0:2]] * 50)  # bob declares 100 samples, alice 2
    bobs = fh.send(many[0], bob, private=True), fh.send(many[1], bob, private=True)
    alices = fh.send(data[2:], alice, private=True), fh.send(target[2:], alice, private=True)
    bobs_model, _ = train_remote(fresh_model(), bob, bobs)
    alices_model, _ = train_remote(fresh_model(), alice, alices)
    with pytest.raises(fh.PrivacyError, match="over at least 2"):  # alice's share 2/102 < 1/4: not a contributor
        fh.secure_average([bobs_model, alices_model], secure_worker, weights=[100, 2])


def test_default_policy_still_lets_skewed_weights_through():
    fed = federation()
    bobs_model, alices_model = both_models_on_the_secure_worker(fed)
    almost_bob = fh.secure_average([bobs_model, alices_model], fed["secure_worker"], weights=[1, 1e-12])
    torch.testing.assert_close(almost_bob.weight, train_plain(fresh_model(), slice(0, 2)).weight)
