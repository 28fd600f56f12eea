"""Planning a round in bulk draws exactly what torch.randperm and local_batches draw one call at a time."""
from dataclasses import replace

import pytest
import torch

import fedavg_helpers as fh
from fedavg_helpers.simulation import batches, vectorised
from fedavg_helpers.simulation import fedavg as simulation


def reference_plan(client_indices, config, generator) -> fh.RoundPlan:
    """The straightforward plan: pick the clients, then call local_batches for one client after another."""
    num_clients = len(client_indices)
    if config.sampling == "poisson":
        picked = fh.poisson_sample_clients(num_clients, config.client_fraction, generator)
    else:
        m = max(1, round(config.client_fraction * num_clients))
        picked = torch.randperm(num_clients, generator=generator)[:m].sort().values.tolist()
    lists = [fh.local_batches(len(client_indices[k]), config.batch_size, config.local_epochs, generator)
             for k in picked]
    return fh.RoundPlan(picked, [client_indices[k] for k in picked], lists, num_clients)


def bits(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bit patterns, so that equal means equal to the last bit (and -0.0 differs from 0.0)."""
    return t.view(torch.int32) if t.dtype == torch.float32 else t


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(len(x) == len(y) and all(torch.equal(p, q) for p, q in zip(x, y))
                                    for x, y in zip(a, b))


@pytest.mark.parametrize("shuffle", [batches._position_by_position, batches._one_call_each, batches._randperms])
@pytest.mark.parametrize("lengths", [
    [2, 1, 3] * 400,                  # many short permutations, the round of many clients
    [1, 2, 13, 40, 1, 7] * 30,        # mixed lengths, as a Dirichlet split deals them
    [300, 1, 57],                     # a few long ones
    [1, 1, 1],                        # nothing to shuffle
    [],
])
def test_randperms_are_torch_randperm_called_in_turn(shuffle, lengths):
    bulk, one_by_one = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    perms = shuffle(torch.tensor(lengths, dtype=torch.long), bulk)
    for row, n in zip(perms, lengths):
        assert torch.equal(row[:n], torch.randperm(n, generator=one_by_one))
    assert torch.equal(bulk.get_state(), one_by_one.get_state())  # and the generator ends where the calls leave it


def test_this_torch_gets_the_bulk_shuffle():
    assert batches._replays_randperm()  # else every round falls back to one torch.randperm call per client epoch


@pytest.mark.parametrize("settings", [
    dict(client_fraction=1.0, local_epochs=5, batch_size=10),
    dict(client_fraction=0.3, local_epochs=2, batch_size=1),
    dict(client_fraction=0.5, local_epochs=1, batch_size=None),        # FedSGD: B = all local data
    dict(client_fraction=0.5, local_epochs=3, batch_size=0),
    dict(client_fraction=0.4, local_epochs=2, batch_size=500),         # B larger than every client
    dict(client_fraction=0.2, local_epochs=2, batch_size=5, sampling="poisson"),
])
@pytest.mark.parametrize("num_clients", [7, 300])
def test_plan_round_draws_what_the_client_by_client_plan_draws(digits, settings, num_clients):
    clients = fh.split_dirichlet(digits.y_train, num_clients, alpha=0.5, seed=1)  # unequal clients
    config = fh.FedAvgConfig(**settings)
    bulk, reference = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(3):  # several rounds from one generator, as run_fedavg draws them
        plan, expected = fh.plan_round(clients, config, bulk), reference_plan(clients, config, reference)
        assert plan.clients == expected.clients and plan.num_clients == num_clients
        assert all(torch.equal(a, b) for a, b in zip(plan.indices, expected.indices))
        assert same_batches(plan.batches, expected.batches)
        assert plan.batches.steps.tolist() == [len(b) for b in expected.batches]
        # the vectorised engine lays the shuffles out exactly as it lays out the batch lists
        if plan.clients:
            listed = fh.RoundPlan(plan.clients, plan.indices, list(plan.batches), plan.num_clients)
            for a, b in zip(vectorised._pack(plan, torch.float32), vectorised._pack(listed, torch.float32)):
                assert torch.equal(bits(a), bits(b)) if isinstance(a, torch.Tensor) else a == b
    assert torch.equal(bulk.get_state(), reference.get_state())


@pytest.mark.parametrize("aggregated", [False, True])
def test_run_fedavg_is_bit_for_bit_the_run_planned_client_by_client(digits, aggregated):
    """Same clients, batches, DP noise and arithmetic: the models are equal, not merely close."""
    clients = fh.split_dirichlet(digits.y_train[:600], 30, alpha=0.5, seed=2)
    config = fh.FedAvgConfig(rounds=3, client_fraction=0.3, local_epochs=2, batch_size=5, lr=0.1, seed=4,
                             progress=False)
    if aggregated:  # the other path through the engine, and the aggregation generator's stream of noise
        config = replace(config, sampling="poisson", aggregator=fh.dp_aggregator(max_norm=1.0, noise_multiplier=0.5))
    torch.manual_seed(0)
    model = fh.mlp(64, 16, 10)
    history = fh.run_fedavg(model, digits.train, digits.test, clients, config)
    reference = fh.mlp(64, 16, 10)
    reference.load_state_dict(model.state_dict())
    generator = torch.Generator().manual_seed(config.seed)
    noise = simulation._aggregation_generator(config.seed)
    losses = []
    for _ in range(config.rounds):
        fh.fedavg_round(reference, digits.train, reference_plan(clients, config, generator), config, noise)
        losses.append(fh.evaluate(reference, digits.x_test, digits.y_test)[0])
    assert all(torch.equal(p, q) for p, q in zip(history.model.parameters(), reference.parameters()))
    assert history.test_loss == losses


def test_local_batches_reads_like_a_list(digits):
    plan = fh.plan_round(fh.split_iid(digits.y_train[:40], 4), fh.FedAvgConfig(local_epochs=2, batch_size=4,
                                                                                  client_fraction=1.0),
                         torch.Generator().manual_seed(0))
    assert len(plan.batches) == 4 and "4 clients, 2 epochs" in repr(plan.batches)
    assert same_batches(plan.batches[1:3], [plan.batches[1], plan.batches[2]])
    assert same_batches([plan.batches[-1]], [plan.batches[3]])
    with pytest.raises(IndexError):
        plan.batches[4]


@pytest.mark.parametrize("args, error, words", [
    (([3, 0], 2, 1), ValueError, "Invalid client size: 0"),
    (([[3]], 2, 1), TypeError, "1-D integer"),
    (([3.0], 2, 1), TypeError, "1-D integer"),
    (([3], -1, 1), ValueError, "batch_size: -1"),
    (([3], 2.5, 1), TypeError, "batch_size must be an int"),
    (([3], 2, 0), ValueError, "epochs: 0"),
])
def test_local_batches_refuse_bad_input(args, error, words):
    with pytest.raises(error, match=words):
        fh.LocalBatches(*args, torch.Generator())
    with pytest.raises(TypeError, match="torch.Generator"):
        fh.LocalBatches([3], 2, 1, 0)
