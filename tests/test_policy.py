"""The privacy policy follows provenance through every operation, not variable names."""
import pytest
import torch
from seed import toy_data
from torch import nn, optim

import fedavg_helpers as fh


@pytest.fixture
def fed():
    """The seed's set-up: bob and alice hold private data, secure_worker is trusted."""
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    data, target = toy_data()
    return dict(bob=bob, alice=alice, secure_worker=secure_worker,
                bobs_data=fh.send(data[0:2], bob, private=True), bobs_target=fh.send(target[0:2], bob, private=True),
                alices_data=fh.send(data[2:], alice, private=True),
                alices_target=fh.send(target[2:], alice, private=True))


def train(model, data, target, steps=2):
    opt = fh.remote(optim.SGD, model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(data) - target) ** 2).sum()
        loss.backward()
        opt.step()
    return loss


def trained_pair(fed):
    bobs_model, alices_model = fh.send(nn.Linear(2, 1), fed["bob"]), fh.send(nn.Linear(2, 1), fed["alice"])
    train(bobs_model, fed["bobs_data"], fed["bobs_target"])
    train(alices_model, fed["alices_data"], fed["alices_target"])
    return bobs_model, alices_model


def test_private_data_cannot_be_fetched(fed):
    with pytest.raises(fh.PrivacyError, match="bob's private data") as err:
        fed["bobs_data"].get()
    assert isinstance(err.value, PermissionError)
    assert len(fed["bob"]) == 2  # refused: nothing left the worker


def test_renaming_or_computing_does_not_launder_private_data(fed):
    p = fed["bobs_data"]
    for derived in (p * 0 + 1, p.copy(), p.detach(), p[0:1], p.clone().reshape(4)):
        with pytest.raises(fh.PrivacyError):
            derived.get()


def test_a_model_can_come_back_before_training_but_not_after(fed):
    untouched = fh.send(nn.Linear(2, 1), fed["bob"])
    assert isinstance(untouched.get(), nn.Linear)
    bobs_model = fh.send(nn.Linear(2, 1), fed["bob"])
    train(bobs_model, fed["bobs_data"], fed["bobs_target"])
    with pytest.raises(fh.PrivacyError, match="Linear on bob depends on bob's private data"):
        bobs_model.get()
    with pytest.raises(fh.PrivacyError):
        bobs_model.weight.data.get()


def test_any_work_on_a_data_owners_worker_taints_everything_there(fed):
    # conservative on purpose: an operation may reach any object through aliases (an optimizer's
    # parameters, a module shared by two containers), so the worker does not trust it to have not
    model = fh.send(nn.Linear(2, 1), fed["bob"])
    later = fh.send(nn.Linear(2, 1), fed["bob"])
    _ = (fed["bobs_data"] * 2).sum()  # work on bob's data that never names the models
    with pytest.raises(fh.PrivacyError):
        model.get()
    assert isinstance(fh.send(nn.Linear(2, 1), fed["bob"]).get(), nn.Linear)  # arrived after: clean
    del later


def test_the_loss_may_come_back_as_a_scalar_metric(fed):
    bobs_model = fh.send(nn.Linear(2, 1), fed["bob"])
    loss = train(bobs_model, fed["bobs_data"], fed["bobs_target"])
    assert loss.get().dim() == 0


def test_scalar_metrics_can_be_switched_off(fed):
    fh.set_policy(fh.PrivacyPolicy(allow_scalar_metrics=False))
    loss = train(fh.send(nn.Linear(2, 1), fed["bob"]), fed["bobs_data"], fed["bobs_target"])
    with pytest.raises(fh.PrivacyError):
        loss.get()


def test_on_the_secure_worker_one_owners_model_stays_hidden_and_the_average_comes_back(fed):
    bobs_model, alices_model = trained_pair(fed)
    alices_model.move(fed["secure_worker"])
    bobs_model.move(fed["secure_worker"])
    with pytest.raises(fh.PrivacyError, match="combines 1"):
        bobs_model.weight.data.get()
    with pytest.raises(fh.PrivacyError):
        bobs_model.get()
    avg = ((alices_model.weight.data + bobs_model.weight.data) / 2).get()
    assert avg.shape == (1, 2)
    with pytest.raises(fh.PrivacyError):  # computing the average did not make bob's model fetchable
        bobs_model.weight.data.get()


def test_an_average_of_one_owner_twice_is_refused(fed):
    m1, m2 = fh.send(nn.Linear(2, 1), fed["bob"]), fh.send(nn.Linear(2, 1), fed["bob"])
    train(m1, fed["bobs_data"], fed["bobs_target"])
    train(m2, fed["bobs_data"], fed["bobs_target"])
    m1.move(fed["secure_worker"])
    m2.move(fed["secure_worker"])
    with pytest.raises(fh.PrivacyError, match="at least 2"):
        ((m1.weight + m2.weight) / 2).get()


def test_min_contributors_is_configurable(fed):
    secure_worker = fed["secure_worker"]
    secure_worker.policy = fh.PrivacyPolicy(min_contributors=3)
    bobs_model, alices_model = trained_pair(fed)
    alices_model.move(secure_worker)
    bobs_model.move(secure_worker)
    with pytest.raises(fh.PrivacyError, match="at least 3"):
        ((alices_model.weight.data + bobs_model.weight.data) / 2).get()
    with pytest.raises(fh.PrivacyError):
        fh.secure_average([alices_model, bobs_model], secure_worker)


def test_untrusted_workers_release_nothing_private_even_with_two_owners(fed):
    carol = fh.VirtualWorker("carol", trusted=False)
    bobs_model, alices_model = trained_pair(fed)
    with pytest.raises(fh.PrivacyError, match="carol is not trusted"):
        bobs_model.move(carol)
    assert bobs_model.location is fed["bob"]  # refused before anything moved


def test_private_data_may_not_move_to_another_data_owner(fed):
    with pytest.raises(fh.PrivacyError, match="show it to alice"):
        fed["bobs_data"].move(fed["alice"])
    assert len(fed["alice"]) == 2


def test_a_clean_object_moves_anywhere_and_comes_back(fed):
    p = fh.send(torch.ones(2), fed["bob"])
    p.move(fed["alice"])
    assert torch.equal(p.get(), torch.ones(2))


def test_private_data_cannot_be_declared_on_a_trusted_worker(fed):
    with pytest.raises(ValueError, match="trusted worker"):
        fh.send(torch.ones(1), fed["secure_worker"], private=True)
