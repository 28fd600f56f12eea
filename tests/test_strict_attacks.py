"""Each way a clever model owner could get one data owner's data or model past the strict policy, as an attack.

Every attack uses the public API only, against honest data owners, and must fail with fh.PrivacyError
whose message says what to do instead, before anything changes on any worker.
"""
import copy
import operator

import pytest
import torch
from seed import fresh_model, toy_data, train_remote
from torch import nn, optim

import fedavg_helpers as fh

STRICT = fh.PrivacyPolicy(strict=True)
ROWS = {"bob": slice(0, 2), "alice": slice(2, 4), "carol": slice(1, 3)}


def federation(policy=STRICT, owners=("bob", "alice", "carol")):
    if policy is not None:
        fh.set_policy(policy)
    data, target = toy_data()
    fed = {"secure_worker": fh.VirtualWorker("secure_worker", trusted=True)}
    for name in owners:
        worker = fh.VirtualWorker(name)
        fed[name] = worker
        fed[name + "_xy"] = (fh.send(data[ROWS[name]], worker, private=True),
                             fh.send(target[ROWS[name]], worker, private=True))
    fed["model"] = fresh_model()
    return fed


def train(fed, name, steps=3):
    """The owner trains a copy of the global model on its data, as in notebook 02; returns (model, loss)."""
    return train_remote(fed["model"], fed[name], fed[name + "_xy"], steps)


def state(fed):
    """What an attack must leave as it was: every worker's object count and byte counters."""
    return {k: (len(w), w.bytes_received, w.bytes_sent) for k, w in fed.items() if isinstance(w, fh.VirtualWorker)}


def refused(call, fed, match):
    before = state(fed)
    with pytest.raises(fh.PrivacyError, match=match) as err:
        call()
    assert state(fed) == before, "the refusal changed a worker"
    return str(err.value)


# ---- 1. the unit of consumption is the owner's contribution, not a pointer ----

@pytest.mark.parametrize("twin", ["copy", "alias", "retrain"])
def test_a_twin_of_bobs_model_cannot_enter_a_second_different_aggregate(twin):
    fed = federation()
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    carols, _ = train(fed, "carol")
    twins = {"copy": lambda: bobs.copy(), "alias": lambda: bobs.train(), "retrain": lambda: train(fed, "bob")[0]}
    bobs_twin = twins[twin]()
    fh.secure_average([bobs, alices], fed["secure_worker"])  # (b + a) / 2
    message = refused(lambda: fh.secure_average([bobs_twin, carols], fed["secure_worker"]), fed,
                      "already aggregated")  # (b + c) / 2 next to (a + c) / 2 would give b
    assert "train again from the new global model" in message


def test_the_same_aggregate_again_is_allowed_and_identical():
    fed = federation()
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    first = fh.secure_average([bobs, alices], fed["secure_worker"])
    again = fh.secure_average([train(fed, "bob")[0], train(fed, "alice")[0]], fed["secure_worker"])
    assert torch.equal(first.weight, again.weight) and torch.equal(first.bias, again.bias)


def test_many_copies_of_bobs_model_in_one_average_are_refused():
    fed = federation()
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    copies = [bobs] + [bobs.copy() for _ in range(98)] + [alices]
    refused(lambda: fh.secure_average(copies, fed["secure_worker"]), fed, "at most one contribution per data owner")


def test_the_next_round_is_a_new_contribution():
    fed = federation()
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    fh.secure_average([bobs, alices], fed["secure_worker"], into=fed["model"])
    bobs, _ = train(fed, "bob")  # from the new global model
    carols, _ = train(fed, "carol")
    assert isinstance(fh.secure_average([bobs, carols], fed["secure_worker"]), nn.Linear)


# ---- 2. weights are the data owners', not the model owner's ----

def test_weights_chosen_by_the_model_owner_are_refused():
    fed = federation()
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    message = refused(lambda: fh.secure_average([bobs, alices], fed["secure_worker"], weights=[1, 3]), fed,
                      "weights of an average come from the data owners")
    assert "bob: 2, alice: 2" in message
    assert fed["bob"].declared_samples == 2


# ---- 3. only models and training metrics are aggregated, never raw data or parts of a model ----

@pytest.mark.parametrize("part", ["raw element", "raw element after backward", "model weight", "model weight * 1"])
def test_average_losses_refuses_raw_data_and_parts_of_a_model(part):
    fed = federation()
    pointers = []
    for name in ("bob", "alice"):
        model, _ = train(fed, name)
        x = fed[name + "_xy"][0]
        if part == "raw element":
            pointers.append(x[0, 1])
        elif part == "raw element after backward":
            element = x[0, 1]
            element.backward()  # the seed's data requires grad: backward alone does not make a loss
            pointers.append(element)
        elif part == "model weight":
            pointers.append(model.weight[0, 0])
        else:
            pointers.append(model.weight[0, 0] * 1)
    refused(lambda: fh.average_losses(pointers, fed["secure_worker"]), fed, "takes only a training metric")


def test_secure_average_refuses_a_module_made_on_the_worker():
    fed = federation()
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    made_there = fh.remote(copy.deepcopy, bobs)  # not the model the model owner sent: its kind is unknown
    refused(lambda: fh.secure_average([made_there, alices], fed["secure_worker"]), fed, "takes only a model you sent")


def test_real_training_metrics_are_averaged():
    fed = federation()
    trained = {name: train(fed, name) for name in ("bob", "alice")}
    assert fh.average_losses([trained[n][1] for n in ("bob", "alice")], fed["secure_worker"]) > 0
    fh.secure_average([trained[n][0] for n in ("bob", "alice")], fed["secure_worker"], into=fed["model"])
    evaluated = []
    for name in ("bob", "alice"):  # the new global model's loss on each owner's data: a metric of a new round
        model, (x, y) = fh.send(fed["model"], fed[name]), fed[name + "_xy"]
        evaluated.append(fh.remote(torch.nn.functional.mse_loss, model(x), y))
    assert fh.average_losses(evaluated, fed["secure_worker"]) >= 0


def test_two_different_metrics_of_one_contribution_are_two_equations():
    fed = federation()
    first = {name: train(fed, name)[1] for name in ("bob", "alice")}
    fh.average_losses(list(first.values()), fed["secure_worker"])
    bobs, _ = train(fed, "bob")  # the same contribution again, measured differently: only bob's first row
    x, y = fed["bob_xy"]
    one_row = fh.remote(torch.nn.functional.mse_loss, bobs(x[0:1]), y[0:1])
    refused(lambda: fh.average_losses([one_row, first["alice"]], fed["secure_worker"]), fed, "already aggregated")


# ---- 4. nothing public depends on the size or shape of a private-dependent object ----

def test_a_data_dependent_size_cannot_leave_a_data_owner():
    fed = federation()
    x = fed["bob_xy"][0]
    sized_by_data = fh.remote(torch.arange, (x.sum() * 1000).item())  # its length is bob's data, scaled
    refused(lambda: sized_by_data.move(fed["secure_worker"]), fed, "only models the model owner sent")


def test_a_model_reshaped_on_the_data_owner_cannot_leave_it():
    fed = federation()
    bobs, _ = train(fed, "bob")
    longer = fh.remote(nn.Parameter, fh.remote(torch.Tensor.repeat, bobs.bias.data, 3))
    fh.remote(setattr, bobs, "bias", longer)  # three biases now: a shape the model owner never sent
    refused(lambda: bobs.move(fed["secure_worker"]), fed, "no longer has the parameters it was sent with")


def test_the_bytes_a_trained_model_costs_do_not_depend_on_the_data():
    sizes = []
    for rows in (slice(0, 2), slice(2, 4)):
        from fedavg_helpers.core import worker
        worker._reset()
        fh.set_policy(STRICT)
        data, target = toy_data()
        bob, secure_worker = fh.VirtualWorker("bob"), fh.VirtualWorker("secure_worker", trusted=True)
        x, y = fh.send(data[rows], bob, private=True), fh.send(target[rows], bob, private=True)
        model = fh.send(fresh_model(), bob)
        fh.remote(setattr, model, "note", fh.remote(torch.Tensor.tolist, x))  # an attribute full of bob's data
        ((model(x) - y) ** 2).sum().backward()
        before = secure_worker.bytes_received
        model.move(secure_worker)
        sizes.append(secure_worker.bytes_received - before)
    assert sizes[0] == sizes[1]


# ---- 5. provenance follows autograd and optimizers, not only arguments ----

def test_gradients_written_by_backward_carry_the_data_they_came_from():
    fed = federation(policy=fh.PrivacyPolicy(), owners=("bob",))
    w = fh.send(torch.ones(2, requires_grad=True), fed["secure_worker"])
    x = fed["bob_xy"][0]
    x.move(fed["secure_worker"])
    (w * x).sum().backward()
    with pytest.raises(fh.PrivacyError, match="bob's private data"):
        w.grad.get()
    opt = fh.remote(optim.SGD, [w], lr=1.0)
    opt.step()
    with pytest.raises(fh.PrivacyError, match="bob's private data"):
        w.get()


# ---- 6. a replaced worker keeps its name's ownership ----

def test_a_data_owner_created_again_is_still_a_data_owner():
    federation(policy=fh.PrivacyPolicy(), owners=("bob",))
    new_bob = fh.VirtualWorker("bob")
    ones = fh.send(torch.ones(2), new_bob)
    with pytest.raises(fh.PrivacyError, match="bob's private data"):
        (ones * 3).get()  # computed on bob's machine: bob is a data owner, whichever object answers to the name
    with pytest.raises(fh.WorkerError, match="cannot come back as a trusted worker"):
        fh.VirtualWorker("bob", trusted=True)
    assert fh.get_worker("bob") is new_bob


def test_bobs_model_brought_home_to_a_new_bob_is_still_bobs():
    fed = federation(policy=fh.PrivacyPolicy(), owners=("bob",))
    bobs, _ = train(fed, "bob")
    bobs.move(fed["secure_worker"])
    new_bob = fh.VirtualWorker("bob")
    bobs.move(new_bob)
    with pytest.raises(fh.PrivacyError, match="bob's private data"):
        bobs.get()
    with pytest.raises(fh.PrivacyError, match="bob's private data"):
        (bobs.weight * 1).get()


# ---- 7. the strictest policy of everyone involved governs ----

def test_bobs_strict_policy_follows_his_model_to_a_default_trusted_worker():
    fed = federation(policy=fh.PrivacyPolicy())
    fed["bob"].policy = STRICT
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    bobs.move(fed["secure_worker"])
    alices.move(fed["secure_worker"])
    refused(lambda: alices.weight.data * 0 + bobs.weight.data, fed, "runs only its aggregation functions")
    refused(lambda: fh.secure_average([bobs, alices], fed["secure_worker"], weights=[1, 3]), fed,
            "come from the data owners")


def test_bobs_strict_policy_governs_secret_sharing_too():
    fed = federation(policy=fh.PrivacyPolicy())
    fed["bob"].policy = STRICT
    models = [train(fed, name)[0] for name in ("bob", "alice", "carol")]
    refused(lambda: fh.secret_shared_average(models, weights=[1, 2, 3]), fed, "come from the data owners")
    fh.secret_shared_average(models)
    refused(lambda: fh.secret_shared_average(models[:2]), fed, "already aggregated")


def test_a_worker_cannot_loosen_its_data_owners_policy():
    fed = federation(policy=fh.PrivacyPolicy(), owners=("bob",))
    fed["bob"].policy = STRICT
    fed["bob"].policy = fh.PrivacyPolicy()
    _, loss = train(fed, "bob")
    with pytest.raises(fh.PrivacyError, match="strict policy"):
        loss.get()


# ---- 8. error messages do not carry private values ----

def test_a_remote_error_on_bob_does_not_quote_his_data():
    fed = federation(owners=("bob",))
    x = fed["bob_xy"][0]
    as_text = fh.remote(str, x[1, 1].item())  # "1.0": a failing int() would quote it
    with pytest.raises(ValueError) as err:
        fh.remote(int, as_text)
    assert "withheld" in str(err.value) and "1.0" not in str(err.value)
    with pytest.raises(KeyError) as err:
        fh.remote(operator.getitem, {}, x[1, 1].item())
    assert "withheld" in str(err.value) and "1.0" not in str(err.value)


def test_the_default_policy_passes_remote_errors_on():
    fed = federation(policy=fh.PrivacyPolicy(), owners=("bob",))
    with pytest.raises(ValueError, match="1.0"):
        fh.remote(int, fh.remote(str, fed["bob_xy"][0][1, 1].item()))


def test_a_fixed_point_overflow_does_not_quote_bobs_scaled_model():
    fed = federation()
    with torch.no_grad():
        fed["model"].weight.mul_(100)  # weights near 30 to 40: too big for a ring with 62 fractional bits
    models = [train(fed, name)[0] for name in ("bob", "alice")]
    with pytest.raises(OverflowError) as err:
        fh.secret_shared_average(models, encoder=fh.FixedPoint(frac_bits=62))
    assert "withheld" in str(err.value) and not any(ch.isdigit() for ch in str(err.value).split("failed")[1])


class Counted(nn.Linear):
    """A model with an integer buffer, like BatchNorm's step counter."""

    def __init__(self):
        super().__init__(2, 1)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))


def test_integer_buffers_of_the_average_come_from_the_model_owner_not_from_one_owner():
    fed = federation()
    torch.manual_seed(0)
    fed["model"] = Counted()
    models = []
    for name in ("bob", "alice"):
        ptr, _ = train(fed, name)
        x = fed[name + "_xy"][0]
        fh.remote(torch.Tensor.fill_, ptr.count, (x.sum() * 100).long())  # the owner's data in the buffer
        models.append(ptr)
    averaged = fh.secure_average(models, fed["secure_worker"])
    assert int(averaged.count) == 0  # the value the model owner sent


# ---- 9. weights whose sum is not finite ----

@pytest.mark.parametrize("policy", [fh.PrivacyPolicy(), STRICT], ids=["default", "strict"])
def test_weights_whose_sum_overflows_are_refused(policy):
    fed = federation(policy=policy)
    bobs, _ = train(fed, "bob")
    alices, _ = train(fed, "alice")
    bobs.move(fed["secure_worker"])
    alices.move(fed["secure_worker"])
    before = state(fed)
    with pytest.raises((ValueError, fh.PrivacyError), match="not a finite number|come from the data owners"):
        fh.secure_average([bobs, alices], fed["secure_worker"], weights=[1e308, 1e308])
    assert state(fed) == before
