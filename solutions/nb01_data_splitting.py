"""Solutions to the exercises of notebook 01 (data splitting). Run: python solutions/nb01_data_splitting.py"""
import io

import torch

import fedavg_helpers as fh

DATA = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]], requires_grad=True)
TARGET = torch.tensor([[0], [0], [1], [1.]], requires_grad=True)


def exercise_1():
    """charlie receives data[1:3]: exactly as many bytes as torch.save writes for a two-row tensor of his own.

    Prediction from the notebook: bob received 3154 bytes for two tensors, 1577 each, and a two-row
    slice serializes like any two-row tensor once fh.send has cloned it, so 1577.
    """
    charlie = fh.VirtualWorker("charlie")
    fh.send(DATA[1:3], charlie, private=True)
    buffer = io.BytesIO()
    torch.save(DATA[1:3].detach().clone().requires_grad_(), buffer)
    return charlie.bytes_received, len(buffer.getvalue())


def exercise_2():
    """The mean of alice's targets is a 0-dim tensor, a scalar metric: the default policy lets it out.

    It depends on alice's private data, so under the strict policy the same request is refused.
    """
    alice = fh.VirtualWorker("alice")
    alices_target = fh.send(TARGET[2:], alice, private=True)
    mean = alices_target.mean().get().item()  # allowed: a scalar
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    try:
        alices_target.mean().get()
        refused_under_strict = False
    except fh.PrivacyError:
        refused_under_strict = True
    finally:
        fh.set_policy(fh.PrivacyPolicy())
    return mean, refused_under_strict


def exercise_3():
    """Creating bob again replaces the first bob, as re-running the cell does: the new worker starts empty, and
    a pointer into the old one says what happened. A name stands for one machine; were two workers named bob
    alive at once, fh.send(x, "bob") and .move("bob") would reach one of them and pointers the other.
    """
    bob = fh.VirtualWorker("bob")
    bobs_data = fh.send(DATA[0:2], bob, private=True)
    new_bob = fh.VirtualWorker("bob")
    try:
        bobs_data.sum()
    except fh.PointerError as err:
        return len(new_bob), str(err)


def exercise_4():
    """Moving bob's data to alice is refused: alice is not trusted, so she would see bob's private data."""
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    bobs_data = fh.send(DATA[0:2], bob, private=True)
    try:
        bobs_data.move(alice)
    except fh.PrivacyError as err:
        return bobs_data.location.name, str(err), (bob, alice)


if __name__ == "__main__":
    print("1. charlie received, and a plain two-row tensor serializes to:", exercise_1())
    print("2. mean of alice's targets, refused under strict:", exercise_2())
    print("3. the new bob holds", *exercise_3())
    print("4. still on", *exercise_4()[:2])
