"""Pointers run everything where the data lives; send and move copy bytes, never share objects."""
import gc

import pytest
import torch
from torch import nn, optim

import fedavg_helpers as fh


@pytest.fixture
def bob():
    return fh.VirtualWorker("bob")


@pytest.fixture
def alice():
    return fh.VirtualWorker("alice")


def test_send_returns_a_pointer_and_get_brings_back_an_equal_object(bob):
    x = torch.arange(6.).reshape(2, 3)
    ptr = fh.send(x, bob)
    assert isinstance(ptr, fh.Pointer) and ptr.location is bob and len(bob) == 1
    back = ptr.get()
    assert torch.equal(back, x) and back is not x
    assert len(bob) == 0


def test_send_copies_so_nothing_is_shared(bob):
    model = nn.Linear(2, 1)
    before = model.weight.detach().clone()
    ptr = fh.send(model, bob)
    with torch.no_grad():
        model.weight.add_(1.0)  # changing the original ...
    assert torch.equal(ptr.weight.data.get(), before)  # ... does not change the worker's copy
    ptr2 = fh.send(model, bob)
    fh.remote(nn.init.zeros_, ptr2.weight)  # and changing the worker's copy leaves the original alone
    assert torch.equal(model.weight, before + 1)


def test_a_slice_travels_without_the_rest_of_its_storage(bob):
    big = torch.zeros(1000, 100)
    fh.send(big[0:2], bob)
    assert bob.bytes_received < 1000 * 100 * 4 / 10  # only the two rows (plus a small header)


def test_byte_counters_follow_send_move_and_get(bob, alice):
    ptr = fh.send(torch.zeros(1000), bob)
    assert bob.bytes_received >= 4000 and bob.bytes_sent == 0
    ptr.move(alice)
    assert bob.bytes_sent == alice.bytes_received >= 4000
    ptr.get()
    assert alice.bytes_sent >= 4000


def test_arithmetic_indexing_attributes_and_methods_run_remotely(bob):
    x = torch.tensor([[1., -2.], [3., 4.]])
    p = fh.send(x, bob)
    results = {
        "add": (p + 1, x + 1), "radd": (1 + p, 1 + x), "sub": (p - x, x - x), "rsub": (2 - p, 2 - x),
        "mul": (p * 3, x * 3), "truediv": (p / 2, x / 2), "rtruediv": (1 / p, 1 / x), "pow": (p ** 2, x ** 2),
        "matmul": (p @ p, x @ x), "neg": (-p, -x), "abs": (abs(p), abs(x)), "getitem": (p[1], x[1]),
        "slice": (p[:, 0], x[:, 0]), "method": (p.sum(dim=0), x.sum(dim=0)), "attr": (p.T, x.T),
        "lt": (p < 0, x < 0), "floordiv": (p // 2, x // 2), "mod": (p % 2, x % 2),
    }
    for name, (remote, local) in results.items():
        assert isinstance(remote, fh.Pointer), name
        assert remote.location is bob, name
        assert torch.equal(remote.get(), local), name


def test_setitem_and_calls_with_local_arguments_run_on_the_worker(bob):
    p = fh.send(torch.zeros(3), bob)
    p[1] = 5.0
    q = p.add(torch.ones(3))  # a local tensor travels to bob as a copy
    assert torch.equal(q.get(), torch.tensor([1., 6., 1.]))


def test_remote_runs_a_function_where_its_pointer_arguments_live(bob):
    model = fh.send(nn.Linear(2, 1), bob)
    opt = fh.remote(optim.SGD, model.parameters(), lr=0.5)
    assert opt.location is bob
    assert fh.remote(torch.stack, [fh.send(torch.ones(2), bob), fh.send(torch.zeros(2), bob)]).get().shape == (2, 2)


def test_move_is_in_place_and_leaves_nothing_behind(bob, alice):
    p = fh.send(torch.ones(3), bob)
    p.move(alice)
    assert p.location is alice and len(bob) == 0 and len(alice) == 1
    assert torch.equal(p.get(), torch.ones(3))


def test_move_accepts_a_worker_name(bob, alice):
    p = fh.send(torch.ones(3), bob)
    p.move("alice")
    assert p.location is alice


def test_copy_is_independent(bob):
    p = fh.send(torch.zeros(2), bob)
    c = p.copy()
    p[0] = 1.0
    assert c.location is bob and len(bob) == 2
    assert torch.equal(c.get(), torch.zeros(2)) and torch.equal(p.get(), torch.tensor([1., 0.]))


def test_a_pointer_is_unusable_after_get(bob):
    p = fh.send(torch.ones(2), bob)
    p.get()
    for use in (lambda: p.get(), lambda: p + 1, lambda: p.sum(), lambda: p.move(bob), lambda: p.location):
        with pytest.raises(fh.PointerError, match="fetched with .get"):
            use()


def test_parts_of_an_object_go_stale_when_the_object_moves(bob, alice):
    model = fh.send(nn.Linear(2, 1), bob)
    weight = model.weight
    model.move(alice)
    with pytest.raises(fh.PointerError, match="moved to alice"):
        weight + 1
    assert model.weight.location is alice  # the moved pointer itself works


def test_the_last_pointer_going_frees_the_remote_object(bob):
    p = fh.send(torch.ones(2), bob)
    q = p + 1
    assert len(bob) == 2
    del q
    gc.collect()
    assert len(bob) == 1
    del p
    gc.collect()
    assert len(bob) == 0 and bob._store == {} and bob._gone == {}


def test_a_part_outlives_the_pointer_to_its_whole(bob):
    weight = fh.send(nn.Linear(2, 1), bob).weight  # the module's pointer is gone at once
    gc.collect()
    assert weight.shape.get() == torch.Size([1, 2])


def test_values_that_are_not_here_cannot_be_used_as_local_values(bob):
    p = fh.send(torch.ones(2), bob)
    for use in (bool, len, iter, float, int):
        with pytest.raises(TypeError, match="on another worker"):
            use(p)


def test_repr_names_type_and_location_but_no_values(bob):
    p = fh.send(torch.tensor([123.456]), bob)
    assert repr(p) == "<Pointer to Tensor on bob>"
    p.get()
    assert "no longer usable" in repr(p)


def test_holdings_and_len_count_objects_not_their_parts(bob):
    model = fh.send(nn.Linear(2, 1), bob)
    _ = model.weight, model.bias
    data = fh.send(torch.ones(2), bob, private=True)
    assert len(bob) == 2
    assert bob.holdings() == [
        {"type": "Linear", "owners": [], "private": False, "aggregate": False},
        {"type": "Tensor", "owners": ["bob"], "private": True, "aggregate": False},
    ]
    del data


def test_workers_are_found_by_name():
    bob = fh.VirtualWorker("bob")
    assert fh.get_worker("bob") is bob
    p = fh.send(torch.ones(1), "bob")
    assert p.location is bob
