"""The seed tutorial's toy problem and its loop, written once through fedavg_helpers and once in plain PyTorch."""
import torch
from torch import nn, optim

import fedavg_helpers as fh


def toy_data():
    data = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]], requires_grad=True)
    target = torch.tensor([[0], [0], [1], [1.]], requires_grad=True)
    return data, target


def seed_loop_fh(model, rounds=10, worker_iters=5, lr=0.1, use_secure_average=False):
    """Part 4's loop, line for line, through the fedavg_helpers API; returns the per-round losses."""
    data, target = toy_data()
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    bobs_data, bobs_target = fh.send(data[0:2], bob, private=True), fh.send(target[0:2], bob, private=True)
    alices_data, alices_target = fh.send(data[2:], alice, private=True), fh.send(target[2:], alice, private=True)
    losses = []
    for _ in range(rounds):
        bobs_model, alices_model = fh.send(model, bob), fh.send(model, alice)
        bobs_opt = fh.remote(optim.SGD, bobs_model.parameters(), lr=lr)
        alices_opt = fh.remote(optim.SGD, alices_model.parameters(), lr=lr)
        for _ in range(worker_iters):
            bobs_opt.zero_grad()
            bobs_loss = ((bobs_model(bobs_data) - bobs_target) ** 2).sum()
            bobs_loss.backward()
            bobs_opt.step()
            bobs_loss = bobs_loss.get().data
            alices_opt.zero_grad()
            alices_loss = ((alices_model(alices_data) - alices_target) ** 2).sum()
            alices_loss.backward()
            alices_opt.step()
            alices_loss = alices_loss.get().data
        alices_model.move(secure_worker)
        bobs_model.move(secure_worker)
        if use_secure_average:
            fh.secure_average([alices_model, bobs_model], secure_worker, into=model)
        else:
            with torch.no_grad():
                model.weight.set_(((alices_model.weight.data + bobs_model.weight.data) / 2).get())
                model.bias.set_(((alices_model.bias.data + bobs_model.bias.data) / 2).get())
        losses.append((float(bobs_loss), float(alices_loss)))
    return losses


def seed_loop_plain(model, rounds=10, worker_iters=5, lr=0.1):
    """The same arithmetic in plain PyTorch, with deep copies standing in for the workers."""
    import copy
    data, target = toy_data()
    parts = [(data[0:2].detach().clone().requires_grad_(), target[0:2].detach().clone().requires_grad_()),
             (data[2:].detach().clone().requires_grad_(), target[2:].detach().clone().requires_grad_())]
    losses = []
    for _ in range(rounds):
        models = [copy.deepcopy(model) for _ in parts]
        opts = [optim.SGD(m.parameters(), lr=lr) for m in models]
        for _ in range(worker_iters):
            step_losses = []
            for m, opt, (x, y) in zip(models, opts, parts):
                opt.zero_grad()
                loss = ((m(x) - y) ** 2).sum()
                loss.backward()
                opt.step()
                step_losses.append(loss.item())
        bobs_model, alices_model = models
        with torch.no_grad():
            model.weight.set_((alices_model.weight.data + bobs_model.weight.data) / 2)
            model.bias.set_((alices_model.bias.data + bobs_model.bias.data) / 2)
        losses.append(tuple(step_losses))
    return losses


def fresh_model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(2, 1)


def train_remote(model, worker, xy, steps=5, lr=0.1):
    """Notebook 02's local training through pointers: a copy of model trained on worker; (pointer, last loss)."""
    ptr = fh.send(model, worker)
    opt = fh.remote(optim.SGD, ptr.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((ptr(xy[0]) - xy[1]) ** 2).sum()
        loss.backward()
        opt.step()
    return ptr, loss
