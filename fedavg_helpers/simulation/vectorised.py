"""Train every client of a FedAvg round at once: torch.func over stacked client parameters, with masked batches.

It computes what the per-client loop in simulation.py computes (that loop is the readable reference):
client k takes one SGD step per planned batch from the global model, then the server takes the
n_k-weighted average (round_vectorised), or receives every client's update (client_updates_vectorised,
for FedAvgConfig.aggregator). Here step s of all clients is a single vmap(grad(loss)) call over parameters
stacked along a new leading client dimension. Clients may hold different amounts of data:
- clients are sorted by their number of steps, longest first, so the clients still training at step s
  are a prefix of the stack; finished clients are left out of the call and their parameters stay as they are;
- batches are padded to the longest one, and each real sample is weighted 1/len(batch), padding 0, so a
  client's weighted sum is exactly the mean loss over its real samples, as in the loop.
"""
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from .batches import LocalBatches
from .client import _weighted_mean


def check_vectorisable(model: nn.Module) -> None:
    """Raise if `model` has layers whose per-client state or randomness the vectorised engine does not track."""
    for module in model.modules():
        if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)):
            raise ValueError(f"the vectorised engine cannot train a model with {type(module).__name__} layers "
                             "(running statistics or random masks per client); use FedAvgConfig(engine='loop')")


def _pack(plan, dtype: torch.dtype):
    """Lay out the plan as (steps, clients, longest batch) tensors of sample ids and per-sample loss weights."""
    if isinstance(plan.batches, LocalBatches):
        return _pack_shuffles(plan, dtype)
    steps = torch.tensor([len(b) for b in plan.batches])
    order = torch.argsort(steps, descending=True, stable=True)
    steps = steps[order]
    order = order.tolist()
    rows = [b for k in order for b in plan.batches[k]]  # all batches as rows, client after client
    lengths = torch.tensor([b.shape[0] for b in rows])  # .shape, not len(): much faster on 1000s
    positions = torch.cat(rows)  # each row's positions into its client's samples, row after row
    # for every entry of `positions`: its row, its column within the row, and the row's client and step
    entry_row = torch.repeat_interleave(torch.arange(len(rows)), lengths)
    entry_col = torch.arange(len(positions)) - (lengths.cumsum(0) - lengths)[entry_row]
    row_client = torch.repeat_interleave(torch.arange(len(order)), steps)
    row_step = torch.arange(len(rows)) - (steps.cumsum(0) - steps)[row_client]
    sizes = torch.tensor([plan.indices[k].shape[0] for k in order])
    first = sizes.cumsum(0) - sizes  # where each client's sample ids start in `sample_ids`
    sample_ids = torch.cat([plan.indices[k] for k in order])
    where = (row_step[entry_row], row_client[entry_row], entry_col)
    shape = (int(steps[0]), len(order), int(lengths.max()))
    # padding keeps id 0 (a real sample, so its loss is finite) and weight 0 (so it adds nothing)
    ids, weights = torch.zeros(shape, dtype=torch.long), torch.zeros(shape, dtype=dtype)
    ids[where] = sample_ids[first[row_client[entry_row]] + positions]
    weights[where] = 1.0 / lengths[entry_row].to(dtype)
    active = (steps.unsqueeze(0) > torch.arange(shape[0]).unsqueeze(1)).sum(1).tolist()  # clients still training
    return order, sizes, active, ids, weights


def _pack_shuffles(plan, dtype: torch.dtype):
    """_pack for plans from plan_round: the same tensors, cut from the clients' shuffles with no loop over batches."""
    batches = plan.batches
    steps = batches.steps
    order = torch.argsort(steps, descending=True, stable=True)
    steps, sizes, size = steps[order], batches.sizes[order], batches.batch_sizes[order]
    shape = (int(steps[0]), len(order), int(size.max()))
    # entry [s, j, c]: column c of step s of the j-th client in the stack, which is batch s % per_epoch of epoch
    # s // per_epoch, positions start + c of that epoch's shuffle; real if the client takes step s and c < length
    s, c = torch.arange(shape[0]).view(-1, 1, 1), torch.arange(shape[2])
    steps, sizes, size = steps.view(1, -1, 1), sizes.view(1, -1, 1), size.view(1, -1, 1)
    per_epoch = steps // batches.epochs
    start = s % per_epoch * size
    length = torch.minimum(size, sizes - start)
    real = (s < steps) & (c < length)
    shuffles = batches.shuffles[order.view(1, -1, 1), (s // per_epoch).clamp(max=batches.epochs - 1),
                                (start + c).clamp(max=batches.shuffles.shape[2] - 1)]
    first = sizes.cumsum(1) - sizes  # where each client's sample ids start in `sample_ids`
    sample_ids = torch.cat([plan.indices[k] for k in order.tolist()])
    # padding keeps id 0 (a real sample, so its loss is finite) and weight 0 (so it adds nothing)
    ids = torch.where(real, sample_ids[first + shuffles * real], 0)
    weights = torch.where(real, 1.0 / length.to(dtype), 0.0)
    active = (steps.view(1, -1) > torch.arange(shape[0]).unsqueeze(1)).sum(1).tolist()  # clients still training
    return order.tolist(), sizes.view(-1), active, ids, weights


def _client_loss(model: nn.Module, params: dict, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """One client's weighted cross-entropy on one padded batch, with `params` in place of the model's own."""
    log_probs = F.log_softmax(functional_call(model, params, (x,)), dim=-1)
    # cross-entropy written out: under vmap this is cheaper than F.cross_entropy(reduction="none")
    return -(log_probs.gather(-1, y.unsqueeze(-1)).squeeze(-1) * w).sum()


def _sgd_stacked(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, weights: torch.Tensor, active: list[int],
                 lr: float) -> dict[str, torch.Tensor]:
    """The training itself: a copy of the trainable parameters per client, then one vmap(grad) SGD step per step."""
    # one copy of every trainable parameter per client; frozen ones stay shared, as torch.optim would skip them
    stacked = {name: p.detach().expand(xs.shape[1], *p.shape).clone()
               for name, p in model.named_parameters() if p.requires_grad}
    step_grads = vmap(grad(partial(_client_loss, model)))  # per-client gradients, one call for all clients
    for s, live in enumerate(active):
        params = {name: t[:live] for name, t in stacked.items()}  # views: updating them updates the stack
        grads = step_grads(params, xs[s, :live], ys[s, :live], weights[s, :live])
        for name, p in params.items():
            p.add_(grads[name], alpha=-lr)  # the SGD step, as torch.optim.SGD takes it
    return stacked


def _train_stacked(model: nn.Module, x: torch.Tensor, y: torch.Tensor, plan, lr: float):
    """Train all the plan's clients together; return their order in the stack, their sizes, the stacked parameters."""
    order, sizes, active, ids, weights = _pack(plan, x.dtype)
    # every step's batches, gathered once: (steps, clients, longest batch, ...); index_select is x[ids], only faster
    xs = x.index_select(0, ids.view(-1)).view(*ids.shape, *x.shape[1:])
    return order, sizes, _sgd_stacked(model, xs, y[ids], weights, active, lr)


def round_vectorised(model: nn.Module, x: torch.Tensor, y: torch.Tensor, plan, lr: float) -> dict[str, torch.Tensor]:
    """Run one planned round for all its clients together; return the n_k-weighted average state dict."""
    _, sizes, stacked = _train_stacked(model, x, y, plan, lr)
    state = model.state_dict()
    state.update({name: _weighted_mean(t, sizes) for name, t in stacked.items()})
    return state


def client_updates_vectorised(model: nn.Module, x: torch.Tensor, y: torch.Tensor, plan, lr: float) -> torch.Tensor:
    """Run one planned round for all its clients together; return their updates w_k - w as rows of an (m, d) tensor.

    Row i belongs to plan.clients[i]; a row is every trainable parameter flattened, in named_parameters() order.
    """
    order, _, stacked = _train_stacked(model, x, y, plan, lr)
    start = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])
    trained = torch.cat([t.reshape(len(order), -1) for t in stacked.values()], dim=1)  # rows in stack order
    return trained[torch.argsort(torch.tensor(order))] - start  # back to the plan's order
