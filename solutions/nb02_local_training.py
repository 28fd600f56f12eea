"""Solutions to the exercises of notebook 02 (local training). Run: python solutions/nb02_local_training.py"""
import copy

import torch
from torch import nn, optim

import fedavg_helpers as fh

DATA = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]])
TARGET = torch.tensor([[0], [0], [1], [1.]])


def train_remotely(worker_name, rows, steps, lr, reduction="sum"):
    """Train a copy of the notebook's model (seed 0) on some rows through pointers; return the losses."""
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    worker = fh.VirtualWorker(worker_name)
    x, y = fh.send(DATA[rows], worker, private=True), fh.send(TARGET[rows], worker, private=True)
    ptr = fh.send(model, worker)
    opt = fh.remote(optim.SGD, ptr.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        errors = (ptr(x) - y) ** 2
        loss = errors.sum() if reduction == "sum" else errors.mean()
        loss.backward()
        opt.step()
        losses.append(loss.get().item())
    return model, losses, ptr


def exercise_1():
    """After 50 steps bob's loss is almost 0, so his copy predicts almost 0 on his own rows (both targets are 0).

    We cannot fetch bob's model to look at its predictions: that is the lesson. The loss tells us, and a
    plain-PyTorch replica trained on the same rows (possible only because this is a simulation) shows them:
    about 0 on every row, since every target it ever saw was 0.
    """
    model, losses, _ = train_remotely("bob", slice(0, 2), 50, 0.1)
    replica = copy.deepcopy(model)
    opt = optim.SGD(replica.parameters(), lr=0.1)
    for _ in range(50):
        opt.zero_grad()
        ((replica(DATA[0:2]) - TARGET[0:2]) ** 2).sum().backward()
        opt.step()
    return losses[-1], replica(DATA).detach().squeeze(1).tolist()


def exercise_2():
    """With lr 0.5 alice's loss does not fall: the steps are too large and it grows (diverges)."""
    return train_remotely("alice", slice(2, 4), 10, 0.5)[1]


def exercise_3():
    """The mean over 2 rows is the sum / 2, so its gradient is half as large: doubling lr gives the same steps."""
    _, with_sum, sum_ptr = train_remotely("bob", slice(0, 2), 10, 0.1, "sum")
    _, with_mean, mean_ptr = train_remotely("bob2", slice(0, 2), 10, 0.2, "mean")
    return with_sum, [2 * loss for loss in with_mean]  # the sum loss is twice the mean loss


def exercise_4():
    """bobs_model.weight[0, 0] is a 0-dim tensor, a "scalar metric", so the default policy lets it out.

    Element by element, that is bob's whole model: notebook 06 shows the attack and the strict policy.
    """
    _, _, bobs_model = train_remotely("bob", slice(0, 2), 10, 0.1)
    return bobs_model.weight[0, 0].get().item()


if __name__ == "__main__":
    print("1. final loss and predictions of bob's copy:", exercise_1())
    print("2. alice with lr 0.5:", [round(v, 3) for v in exercise_2()])
    a, b = exercise_3()
    print("3. sum loss with lr 0.1 :", [round(v, 4) for v in a])
    print("   2 x mean loss, lr 0.2:", [round(v, 4) for v in b])
    print("4. one element of bob's weight:", exercise_4())
