"""Solutions to the exercises of notebook 04 (averaging). Run: python solutions/nb04_averaging.py"""
import torch
from torch import nn, optim

import fedavg_helpers as fh

DATA = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]])
TARGET = torch.tensor([[0], [0], [1], [1.]])


def federated(split, iterations=10, worker_iters=5, weights=None, policy=None):
    """Notebook 04's loop for any split of the rows between bob and alice; returns the model and its final loss."""
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True, policy=policy)
    owners = [(bob, split[0]), (alice, split[1])]
    data = [(w, fh.send(DATA[r], w, private=True), fh.send(TARGET[r], w, private=True)) for w, r in owners]
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    for _ in range(iterations):
        models = []
        for worker, x, y in data:
            local = fh.send(model, worker)
            opt = fh.remote(optim.SGD, local.parameters(), lr=0.1)
            for _ in range(worker_iters):
                opt.zero_grad()
                ((local(x) - y) ** 2).sum().backward()
                opt.step()
            local.move(secure_worker)
            models.append(local)
        fh.secure_average(models, secure_worker, into=model, weights=weights)
    with torch.no_grad():
        return model, ((model(DATA) - TARGET) ** 2).sum().item()


def central(steps):
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        ((model(DATA) - TARGET) ** 2).sum().backward()
        opt.step()
    return model


def exercise_1():
    """One local step per round: the average of the two updated models is one step along the average gradient,

    w - 0.1 (g_bob + g_alice) / 2 = w - 0.05 g_all: central gradient descent with half the learning rate
    (the central loss sums all four rows). So federated with worker_iters=1 is central training at lr 0.05.
    """
    fed, fed_loss = federated((slice(0, 2), slice(2, 4)), iterations=50, worker_iters=1)
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.05)
    for _ in range(50):
        opt.zero_grad()
        ((model(DATA) - TARGET) ** 2).sum().backward()
        opt.step()
    return (fed.weight - model.weight).abs().max().item(), fed_loss


def exercise_2():
    """Uneven split (bob rows 0-2, alice row 3): weighting by row counts [3, 1] changes the model."""
    uneven = (slice(0, 3), slice(3, 4))
    plain, plain_loss = federated(uneven)
    weighted, weighted_loss = federated(uneven, weights=[3, 1])
    return (plain.weight - weighted.weight).abs().max().item(), plain_loss, weighted_loss


def exercise_3():
    """min_contributors=3 with two data owners: every average is refused, so the loop stops at the first round.

    It would need a third data owner (or min_contributors back at 2).
    """
    try:
        federated((slice(0, 2), slice(2, 4)), iterations=1, policy=fh.PrivacyPolicy(min_contributors=3))
    except fh.PrivacyError as err:
        return str(err)


if __name__ == "__main__":
    diff, loss = exercise_1()
    print(f"1. worker_iters=1 equals central SGD at lr 0.05: largest weight difference {diff:.2e}; loss {loss:.4f}")
    diff, plain, weighted = exercise_2()
    print(f"2. weighting changes the model by up to {diff:.4f}; loss unweighted {plain:.4f}, weighted {weighted:.4f}")
    print("3.", exercise_3())
    print("4. The secure worker knows bob's and alice's trained models (weights and biases) every round; "
          "we know only their average and the losses.")
