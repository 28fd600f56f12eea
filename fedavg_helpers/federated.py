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

from .averaging import average_losses, secure_average
from .client import client_update, evaluate
from .pointer import Pointer, remote, send
from .simulation import FedAvgConfig, History, _check_split, plan_round
from .worker import get_worker
from ._checks import check_client_indices


def share_data(workers, train, client_indices) -> list[tuple[Pointer, Pointer]]:
    """Send each worker its client's samples as private data; return the (x, y) pointers, one pair per worker."""
    workers = [get_worker(w) for w in workers]
    x, y = _check_split(train, "train")
    clients = check_client_indices(client_indices, len(x))
    if len(workers) != len(clients):
        raise ValueError(f"got {len(workers)} workers for {len(clients)} clients; give one worker per client")
    return [(send(x[idx], w, private=True), send(y[idx], w, private=True)) for w, idx in zip(workers, clients)]


def run_fedavg_on_workers(model: nn.Module, workers, secure_worker, train, test, client_indices,
                          config: FedAvgConfig | None = None) -> History:
    """FedAvg through pointers: each round the picked workers train a copy of the model on their private data,
    the copies move to `secure_worker`, and only their n_k-weighted average and average loss come back.

    Works under the strict privacy policy (each round must then pick at least min_contributors workers).
    History.train_loss holds the clients' average local loss per round, computed on the secure worker.
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
    secure_worker = get_worker(secure_worker)
    x_test, y_test = _check_split(test, "test")
    clients = check_client_indices(client_indices, len(_check_split(train, "train")[0]))
    shards = share_data(workers, train, clients)
    workers = [get_worker(w) for w in workers]
    global_model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(config.seed)
    history = History(model=global_model)
    for _ in range(config.rounds):
        plan = plan_round(clients, config, generator)
        models, losses, counts = [], [], []
        for k, batches in zip(plan.clients, plan.batches):
            local = send(global_model, workers[k])
            losses.append(remote_client_update(local, *shards[k], batches, config.lr))
            models.append(local)
            counts.append(len(clients[k]))
        for local in models:
            local.move(secure_worker)
        secure_average(models, secure_worker, into=global_model, weights=counts)
        history.train_loss.append(average_losses(losses, secure_worker, weights=counts))
        loss, accuracy = evaluate(global_model, x_test, y_test)
        history.test_loss.append(loss)
        history.test_accuracy.append(accuracy)
        history.clients.append(plan.clients)
    return history


def remote_client_update(model: Pointer, x: Pointer, y: Pointer, batches, lr: float) -> Pointer:
    """client_update run on the worker that holds model, x and y; returns a pointer to its mean local loss."""
    return remote(client_update, model, x, y, batches, lr)
