"""Solutions to the exercises of notebook 03 (moving to the secure worker).

Run: python solutions/nb03_moving_to_secure_worker.py
"""
import torch
from torch import nn, optim

import fedavg_helpers as fh

DATA = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]])
TARGET = torch.tensor([[0], [0], [1], [1.]])


def trained_on(worker, x, y, steps=10):
    """The notebook's local round: a copy of a fresh model trained on a worker's private rows."""
    model = fh.send(nn.Linear(2, 1), worker)
    opt = fh.remote(optim.SGD, model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).sum().backward()
        opt.step()
    return model


def exercise_1():
    """Back to alice: allowed, it is her own model. To bob: refused, bob is not trusted and would see alice's model."""
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    data = fh.send(DATA[2:], alice, private=True), fh.send(TARGET[2:], alice, private=True)
    alices_model = trained_on(alice, *data)
    alices_model.move(secure_worker)
    alices_model.move(alice)
    back_to_alice = alices_model.location.name
    try:
        alices_model.move(bob)
        to_bob = "allowed"
    except fh.PrivacyError:
        to_bob = "refused"
    return back_to_alice, to_bob


def exercise_2():
    """A third data owner: charlie's trained model joins the others on the secure worker."""
    names = {"bob": slice(0, 2), "alice": slice(2, 3), "charlie": slice(3, 4)}
    workers = {n: fh.VirtualWorker(n) for n in names}
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    data = {n: (fh.send(DATA[r], workers[n], private=True), fh.send(TARGET[r], workers[n], private=True))
            for n, r in names.items()}
    models = [trained_on(workers[n], *data[n]) for n in names]
    for m in models:
        m.move(secure_worker)
    _ = fh.draw_workers([*workers.values(), secure_worker], title="Three data owners, after the move")
    return secure_worker.holdings()


def exercise_3():
    """Bytes of one move: a fixed cost for the serialization format, plus 4 bytes per float32 parameter."""
    sizes = {}
    for shape in ((2, 1), (100, 10)):
        a, b = fh.VirtualWorker("a"), fh.VirtualWorker("b")
        model = fh.send(nn.Linear(*shape), a)
        model.move(b)
        sizes[shape] = (a.bytes_sent, sum(p.numel() for p in nn.Linear(*shape).parameters()))
    (small, n_small), (large, n_large) = sizes.values()
    per_parameter = (large - small) / (n_large - n_small)
    return sizes, per_parameter, small - 4 * n_small


if __name__ == "__main__":
    print("1. back to alice:", *exercise_1())
    print("2. the secure worker holds:", exercise_2())
    sizes, per_parameter, fixed = exercise_3()
    print(f"3. bytes sent per move: {sizes}; {per_parameter:.2f} bytes per parameter, about {fixed} fixed")
