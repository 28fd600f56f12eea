"""FedAvg over named virtual workers: the seed's way of working (send, train there, move, secure average) on real data.

The many-client simulator (simulation.py) is fast because it skips workers and pointers. This loop
keeps them, for a handful of named data owners, so the lesson of notebooks 01-04 scales to real
data: every client trains on its own worker, models meet only on the trusted worker, and the model
owner sees only averages. It follows the same RoundPlan as the simulator, so both pick the same clients
and batches and give the same model, up to the rounding of the average (secure_average sums, then divides).
"""
import copy

import torch
from torch import nn

from ._checks import check_client_indices, check_model_fits
from .core.averaging import _trusted, average_losses, secure_average
from .core.errors import PrivacyError, WorkerLost, WorkerTimeout
from .core.pointer import Pointer, policy_for, remote, send, training_function
from .core.policy import _names
from .core.transport import RemoteWorker
from .core.worker import VirtualWorker, get_worker
from .simulation.client import client_update, evaluate
from .simulation.fedavg import FedAvgConfig, History, _check_split, plan_round

training_function(client_update)  # its result on a data owner's worker is the round's training loss


def share_data(workers, train, client_indices) -> list[tuple[Pointer, Pointer]]:
    """Send each worker its client's samples as private data; return the (x, y) pointers, one pair per worker."""
    workers = _data_owners(workers)
    x, y = _check_split(train, "train")
    clients = check_client_indices(client_indices, len(x))
    if len(workers) != len(clients):
        raise ValueError(f"got {len(workers)} workers for {len(clients)} clients; give one worker per client")
    return [(send(x[idx], w, private=True), send(y[idx], w, private=True)) for w, idx in zip(workers, clients)]


def _data_owners(workers) -> list[VirtualWorker]:
    """The clients' workers, checked before any data moves: distinct, and each a data owner's (untrusted) worker."""
    if isinstance(workers, (str, VirtualWorker)) or not isinstance(workers, (list, tuple)):
        raise TypeError(f"workers must be a list with one worker (or worker name) per client, got "
                        f"{type(workers).__name__}")
    workers = [w if isinstance(w, RemoteWorker) else get_worker(w) for w in workers]
    first = {}
    for k, w in enumerate(workers):
        if w.name in first:
            raise ValueError(f"{w.name} is listed for client {first[w.name]} and for client {k}; each client is one "
                             f"data owner with its own worker, so give {len(workers)} different workers")
        first[w.name] = k
        if w.trusted:
            raise ValueError(f"{w.name} (client {k}) is a trusted worker: it aggregates others' data and owns none, "
                             "so it cannot hold a client's private data; give each client a data owner's worker, "
                             "fh.VirtualWorker(name)")
    return workers


def run_fedavg_on_workers(model: nn.Module, workers, secure_worker, train, test, client_indices,
                          config: FedAvgConfig | None = None, on_round=None) -> History:
    """FedAvg through pointers: each round the picked workers train a copy of the model on their private data,
    the copies move to `secure_worker`, and only their n_k-weighted average and average loss come back.

    Works under the strict privacy policy (each round must then pick at least min_contributors workers).
    History.train_loss holds the clients' average local loss per round, computed on the secure worker.
    With workers in their own processes (fh.spawn_workers), a round finishes with the workers that answer:
    History.dropped lists, per round, those that died or timed out. on_round(history), if given, is called
    after every round (to record something per round, such as the bytes each process moved).
    """
    config = FedAvgConfig() if config is None else config
    if not isinstance(config, FedAvgConfig):
        raise TypeError(f"config must be a FedAvgConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (the initial global model), got {type(model).__name__}")
    if config.aggregator is not None or config.sampling != "fixed":
        raise ValueError("run_fedavg_on_workers averages on the secure worker with fh.secure_average and picks a "
                         "fixed number of clients each round; for aggregators and Poisson sampling use fh.run_fedavg "
                         "(set FedAvgConfig(aggregator=None, sampling='fixed') here)")
    # Everything is checked before any byte moves: a failure in round 1 would leave private data sent for nothing.
    secure_worker = _trusted(secure_worker)
    workers = _data_owners(workers)
    x, y = _check_split(train, "train")
    x_test, y_test = _check_split(test, "test")
    clients = check_client_indices(client_indices, len(x))
    if len(workers) != len(clients):
        raise ValueError(f"got {len(workers)} workers for {len(clients)} clients; give one worker per client")
    check_model_fits(model, (x, y, "train"), (x_test, y_test, "test"))
    generator = torch.Generator().manual_seed(config.seed)
    plans = [plan_round(clients, config, generator) for _ in range(config.rounds)]  # the rounds' only randomness
    _check_releasable(plans, workers, clients, secure_worker)
    lost = set()
    if isinstance(secure_worker, RemoteWorker):
        shards = _share_with_survivors(workers, train, clients, lost)
    else:
        shards = share_data(workers, train, clients)
    global_model = copy.deepcopy(model)
    history = History(model=global_model)
    for plan in plans:
        if isinstance(secure_worker, RemoteWorker):
            models, losses, counts, dropped = _train_in_processes(global_model, workers, shards, clients, plan,
                                                                  config, secure_worker, lost, policy_for(
                                                                      [secure_worker, *workers], set()))
        else:
            models, losses, counts, dropped = [], [], [], []
            for k, batches in zip(plan.clients, plan.batches):
                local = send(global_model, workers[k])
                losses.append(remote_client_update(local, *shards[k], batches, config.lr))
                models.append(local)
                counts.append(len(clients[k]))
            for local in models:
                local.move(secure_worker)
        secure_average(models, secure_worker, into=global_model, weights=counts)
        history.train_loss.append(average_losses(losses, secure_worker, weights=counts))
        history.dropped.append(dropped)
        if on_round is not None:
            on_round(history)
        loss, accuracy = evaluate(global_model, x_test, y_test)
        history.test_loss.append(loss)
        history.test_accuracy.append(accuracy)
        history.clients.append(plan.clients)
    return history


def _share_with_survivors(workers, train, clients, lost):
    """share_data for workers in their own processes: a worker already lost gets nothing and joins `lost`."""
    x, y = train
    shards = []
    for w, idx in zip(workers, clients):
        try:
            shards.append((send(x[idx], w, private=True), send(y[idx], w, private=True)))
        except WorkerLost:
            lost.add(w.name)
            shards.append(None)
    return shards


def _train_in_processes(global_model, workers, shards, clients, plan, config, secure_worker, lost, policy):
    """One round's local training with workers in their own processes, finishing with the survivors.

    A worker whose process died (fh.WorkerLost) is dropped for good, one that does not answer in time
    (fh.WorkerTimeout) for this round; the average is over the others, weighted by their sample counts
    (so the weights are renormalised over the survivors). Each model and its loss go worker to worker
    to the secure worker as soon as they are trained.
    """
    models, losses, counts, dropped = [], [], [], []
    for k, batches in zip(plan.clients, plan.batches):
        worker = workers[k]
        if worker.name in lost:
            dropped.append(worker.name)
            continue
        try:
            local = send(global_model, worker)
            loss = remote_client_update(local, *shards[k], batches, config.lr)
            local.move(secure_worker)
            loss.move(secure_worker)
        except (WorkerLost, WorkerTimeout) as err:
            if err.worker != worker.name:  # the secure worker itself: the round cannot finish
                raise
            if isinstance(err, WorkerLost):
                lost.add(worker.name)
            dropped.append(worker.name)
            continue
        models.append(local)
        losses.append(loss)
        counts.append(len(clients[k]))
    if len(models) < policy.min_contributors:
        raise PrivacyError(f"only {len(models)} worker(s) finished this round ({_names(dropped)} dropped out), but "
                           f"{secure_worker.name} releases only averages over at least {policy.min_contributors} "
                           "data owners; the global model is unchanged")
    return models, losses, counts, dropped


def _check_releasable(plans, workers, clients, secure_worker) -> None:
    """Raise now if some round's average would combine too few data owners for the secure worker to release it."""
    policy = policy_for([secure_worker, *workers], {w.name for w in workers})
    if policy.strict:  # the weights are the clients' sample counts: each must be what its owner declares
        for w, idx in zip(workers, clients):
            if w.declared_samples is not None and w.declared_samples > len(idx):  # the largest batch declares
                raise PrivacyError(f"{w.name} already declared {w.declared_samples} samples, but its client here "
                                   f"has {len(idx)}; under the strict policy the weights of an average are the "
                                   "owners' declared sample counts, so give this client a fresh worker. "
                                   "Nothing was sent.")
    for r, plan in enumerate(plans, start=1):
        owners = policy.contributors([{workers[k].name} for k in plan.clients], [len(clients[k]) for k in plan.clients])
        if len(owners) < policy.min_contributors:
            picked = _names(workers[k].name for k in plan.clients)
            raise PrivacyError(f"round {r} picks {picked}, and its average counts {len(owners)} data owner(s) "
                               f"({_names(owners) if owners else 'none'}) with a real share of the weight, but "
                               f"{secure_worker.name} releases only averages over at least "
                               f"{policy.min_contributors} data owners; "
                               "pick more clients per round (a larger FedAvgConfig(client_fraction=...)) or give the "
                               "clients more even amounts of data. Nothing was sent.")


def remote_client_update(model: Pointer, x: Pointer, y: Pointer, batches, lr: float) -> Pointer:
    """client_update run on the worker that holds model, x and y; returns a pointer to its mean local loss."""
    return remote(client_update, model, x, y, batches, lr)
