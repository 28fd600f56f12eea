"""What the strict policy and secret sharing do not promise, written as the attacks that succeed.

The README's threat-model table names these as what each defence "does not stop"; each test keeps that
sentence true: if one of them starts to fail, the defence got stronger and the table should say so.
"""
import copy

import torch
from seed import fresh_model, toy_data, train_remote
from torch import optim

import fedavg_helpers as fh


def train_plain(model, x, y, steps=5, lr=0.1):
    """The same local training in plain PyTorch, on data the caller knows."""
    model = copy.deepcopy(model)
    opt = optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).sum().backward()
        opt.step()
    return model


def test_a_data_owner_made_up_by_the_model_owner_turns_the_average_back_into_bobs_model():
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    data, target = toy_data()
    bob, secure_worker = fh.VirtualWorker("bob"), fh.VirtualWorker("secure_worker", trusted=True)
    bobs_xy = fh.send(data[0:2], bob, private=True), fh.send(target[0:2], bob, private=True)
    mallory = fh.VirtualWorker("mallory")  # a "data owner" whose data the model owner chose
    x, y = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0]])
    mallorys_xy = fh.send(x, mallory, private=True), fh.send(y, mallory, private=True)
    model = fresh_model()
    bobs_model, _ = train_remote(model, bob, bobs_xy)
    mallorys_model, _ = train_remote(model, mallory, mallorys_xy)
    average = fh.secure_average([bobs_model, mallorys_model], secure_worker)  # two owners: allowed
    stolen = 2 * average.weight.detach() - train_plain(model, x, y).weight.detach()
    bobs_own = train_plain(model, data[0:2].detach(), target[0:2].detach())
    assert torch.allclose(stolen, bobs_own.weight.detach(), atol=1e-6)


def test_whoever_chose_the_sharing_randomness_knows_every_share_but_the_last_owners():
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    data, target = toy_data()
    owners = {name: fh.VirtualWorker(name) for name in ("bob", "alice", "carol")}
    rows = {"bob": slice(0, 2), "alice": slice(2, 4), "carol": slice(1, 3)}
    models = [train_remote(fresh_model(), w, (fh.send(data[rows[n]], w, private=True),
                                              fh.send(target[rows[n]], w, private=True)))[0]
              for n, w in owners.items()]
    seen = []
    fh.secret_shared_average(models, generator=torch.Generator().manual_seed(7), seen=seen)
    # replaying the generator on zeros of the same shapes gives the random shares bob and alice were sent
    replay = torch.Generator().manual_seed(7)
    bound = fh.FixedPoint().max_abs_for_sum(3)
    shapes = [torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]
    random_shares = [fh.share_tensors(shapes, 3, max_abs=bound, generator=replay) for _ in models]
    for k in (0, 1):  # so what carol holds, model minus the two known shares, is each model in the clear
        predicted = fh.add_shares([shares[k] for shares in random_shares])
        assert torch.equal(torch.cat([t.reshape(-1) for t in predicted]), seen[k])
