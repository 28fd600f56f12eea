"""Simulate FedAvg and FedSGD with many clients on one machine, and train centrally as the reference.

The loop is Algorithm 1 of McMahan et al. (2017), "Communication-Efficient Learning of Deep Networks from
Decentralized Data" (AISTATS): each round picks m = max(1, round(C * K)) of the K clients, each picked
client runs E epochs of SGD with batch size B from the global model, and the global model becomes their
n_k-weighted average. FedSGD is the special case E = 1, B = all local data. All randomness of a run comes
from one torch.Generator seeded with config.seed and is used only by plan_round, once per round, so a run
can be replayed exactly and both engines ("loop" and "vectorised") see the same clients and batches.
With config.aggregator set (aggregators.py: differential privacy, robust rules), the engines hand the server
every client's update instead and the aggregator decides the global step; its randomness (DP noise) comes from
a second generator, also seeded by config.seed, so changing the aggregator never changes who trains on what.
"""
import copy
import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .._checks import check_client_indices, check_int, check_model_fits, check_real
from ..aggregation.rules import RoundUpdates
from .batches import LocalBatches
from .client import client_update, evaluate, local_batches, weighted_average
from .participation import expected_clients, pick_clients
from .vectorised import check_vectorisable, client_updates_vectorised, round_vectorised

ENGINES = ("vectorised", "vectorized", "loop")
SAMPLINGS = ("fixed", "poisson")


def _check_progress(progress) -> None:
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (automatic), got {progress!r}")


@dataclass(frozen=True)
class FedAvgConfig:
    """Every knob of a FedAvg run, named after McMahan et al. (2017): C, E, B and the learning rate."""
    rounds: int = 20                # communication rounds
    client_fraction: float = 0.1    # C: fraction of clients picked each round
    local_epochs: int = 5           # E: passes over its data a client makes per round
    batch_size: int | None = 10     # B: local mini-batch size; None or 0 means all local data (B = inf)
    lr: float = 0.1                 # SGD learning rate on the clients
    seed: int = 0                   # seeds client sampling and batch shuffling
    engine: str = "vectorised"      # "vectorised" (torch.func, all clients at once) or "loop" (one by one)
    progress: bool | None = None    # tqdm bar; None: only when interactive (never under TQDM_DISABLE=1 or CI)
    # the server's rule: None is the n_k-weighted average of the models; else a function of a RoundUpdates
    # returning the global step, e.g. fh.dp_aggregator(...), fh.median_aggregator() (see aggregators.py)
    aggregator: Callable[[RoundUpdates], torch.Tensor] | None = None
    sampling: str = "fixed"         # "fixed": max(1, round(C * K)) clients a round; "poisson": each joins w.p. C

    def __post_init__(self):
        check_int("rounds", self.rounds, minimum=1)
        check_real("client_fraction", self.client_fraction, 0.0, 1.0, hint="C is a fraction; 1.0 picks every client")
        check_int("local_epochs", self.local_epochs, minimum=1)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=0)
        check_real("learning rate", self.lr, 0.0)
        check_int("seed", self.seed, minimum=0)
        if self.engine not in ENGINES:
            raise ValueError(f"Invalid engine: {self.engine!r}; use 'vectorised' or 'loop'")
        _check_progress(self.progress)
        if self.aggregator is not None and not callable(self.aggregator):
            raise TypeError(f"aggregator must be None (the n_k-weighted average) or a function of a fh.RoundUpdates, "
                            f"e.g. fh.median_aggregator(), got {type(self.aggregator).__name__}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"Invalid sampling: {self.sampling!r}; use 'fixed' (round(C * K) clients a round) or "
                             "'poisson' (each client joins with probability C, as DP-FedAvg assumes)")

    @classmethod
    def fedsgd(cls, **settings) -> "FedAvgConfig":
        """FedSGD: one full-batch gradient step per client and round (E = 1, B = inf)."""
        fixed = {"local_epochs", "batch_size"} & settings.keys()
        if fixed:
            raise TypeError(f"FedSGD fixes {sorted(fixed)} (E = 1, B = all data); use FedAvgConfig(...) to set them")
        return cls(local_epochs=1, batch_size=None, **settings)

    @property
    def is_fedsgd(self) -> bool:
        """True if this is FedSGD: a single full-batch step per client."""
        return self.local_epochs == 1 and not self.batch_size


@dataclass(frozen=True)
class CentralConfig:
    """The knobs of plain mini-batch SGD on all the data in one place: the baseline FedAvg is measured against."""
    epochs: int = 20
    batch_size: int | None = 10     # None or 0 means full-batch gradient descent
    lr: float = 0.1
    seed: int = 0
    progress: bool | None = None

    def __post_init__(self):
        check_int("epochs", self.epochs, minimum=1)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=0)
        check_real("learning rate", self.lr, 0.0)
        check_int("seed", self.seed, minimum=0)
        _check_progress(self.progress)


@dataclass
class History:
    """What a run recorded: test loss and accuracy after every round (or epoch), who trained, the final model."""
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    clients: list[list[int]] = field(default_factory=list)  # ids of the clients picked each round
    train_loss: list[float] = field(default_factory=list)  # clients' mean local loss (run_fedavg_on_workers)
    dropped: list[list[str]] = field(default_factory=list)  # workers lost or too slow, per round (the same)
    model: nn.Module | None = None

    def rounds_to_accuracy(self, target: float) -> int | None:
        """The first round (counting from 1) reaching `target` test accuracy, McMahan et al.'s measure; else None."""
        return next((r for r, acc in enumerate(self.test_accuracy, start=1) if acc >= target), None)


@dataclass(frozen=True)
class RoundPlan:
    """Who trains in a round and on which batches; the one plan both engines follow."""
    clients: list[int]                       # ids of the picked clients, ascending
    indices: list[torch.Tensor]              # their training-sample ids
    batches: Sequence[list[torch.Tensor]]    # their local steps, as positions into their own indices
    num_clients: int | None = None           # K, the number of clients the round picked from


def _client_sizes(client_indices) -> torch.Tensor:
    """n_k for every client, as int64: computed once per run, so a round only picks from it."""
    return torch.tensor([idx.shape[0] for idx in client_indices], dtype=torch.long)


def _plan_round(client_indices, sizes: torch.Tensor, config: FedAvgConfig, generator: torch.Generator) -> RoundPlan:
    num_clients = len(client_indices)
    picked = pick_clients(num_clients, config.client_fraction, config.sampling, generator)
    # what [local_batches(n_k, B, E, generator) for each picked k] draws, drawn for all clients at once
    batches = LocalBatches(sizes[picked], config.batch_size, config.local_epochs, generator)
    return RoundPlan(clients=picked, indices=[client_indices[k] for k in picked], batches=batches,
                     num_clients=num_clients)


def plan_round(client_indices, config: FedAvgConfig, generator: torch.Generator) -> RoundPlan:
    """Pick max(1, round(C * K)) clients (or each with probability C) and shuffle their batches with `generator`."""
    if not isinstance(config, FedAvgConfig):
        raise TypeError(f"config must be a FedAvgConfig, got {type(config).__name__}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0), "
                        f"got {type(generator).__name__}")
    client_indices = check_client_indices(client_indices)
    return _plan_round(client_indices, _client_sizes(client_indices), config, generator)


def _train_clients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, plan: RoundPlan, lr: float) -> list[nn.Module]:
    """The readable reference: each picked client trains its own copy of the global model, one after another."""
    local_models = []
    for idx, batches in zip(plan.indices, plan.batches):
        local_model = copy.deepcopy(model)
        client_update(local_model, x[idx], y[idx], batches, lr)
        local_models.append(local_model)
    return local_models


def _round_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, plan: RoundPlan, lr: float) -> dict:
    """One round, client by client; return the n_k-weighted average state dict."""
    states = [local_model.state_dict() for local_model in _train_clients(model, x, y, plan, lr)]
    return weighted_average(states, [len(idx) for idx in plan.indices])


def _flat(model: nn.Module) -> torch.Tensor:
    """Every trainable parameter of `model` in one vector, in named_parameters() order: what an update is made of."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def _client_updates_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, plan: RoundPlan,
                         lr: float) -> torch.Tensor:
    """One round, client by client; return the updates w_k - w as rows of an (m, d) tensor, in plan order."""
    start = _flat(model)
    return torch.stack([_flat(local_model) - start for local_model in _train_clients(model, x, y, plan, lr)])


def _aggregation_generator(seed: int) -> torch.Generator:
    """The generator randomised aggregators draw from: seeded by `seed`, but its own stream, not plan_round's."""
    # Not manual_seed(seed) itself: the same seed would replay plan_round's stream of numbers.
    digest = hashlib.sha256(f"fedavg-aggregation-{seed}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def _aggregate(model: nn.Module, updates: torch.Tensor, plan: RoundPlan, config: FedAvgConfig,
               generator: torch.Generator | None) -> dict:
    """Hand the round's updates to config.aggregator; return the global state after its step, w + Delta."""
    start = _flat(model)
    if plan.num_clients is None and config.sampling == "poisson":
        raise ValueError("this RoundPlan does not say how many clients it picked from (num_clients), which Poisson "
                         "sampling needs for q * K; make plans with fh.plan_round")
    num_clients = len(plan.clients) if plan.num_clients is None else plan.num_clients
    received = RoundUpdates(updates=updates, num_samples=torch.tensor([len(idx) for idx in plan.indices],
                                                                      dtype=torch.int64),
                            clients=list(plan.clients), global_params=start,
                            expected_clients=expected_clients(config.sampling, config.client_fraction, num_clients),
                            num_clients=num_clients, sampling=config.sampling, generator=generator)
    step = config.aggregator(received)
    if not isinstance(step, torch.Tensor) or step.shape != start.shape or not step.is_floating_point():
        got = f"shape {tuple(step.shape)} ({step.dtype})" if isinstance(step, torch.Tensor) else type(step).__name__
        raise ValueError(f"the aggregator returned {got}; it must return one floating-point update of shape "
                         f"{tuple(start.shape)}, the step Delta the global model takes (w + Delta)")
    new = start + step.to(start.dtype)
    state = model.state_dict()
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    sizes = [p.numel() for p in model.parameters() if p.requires_grad]
    for name, piece in zip(names, new.split(sizes)):
        state[name] = piece.reshape(state[name].shape).clone()
    return state


def _check_split(data, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise TypeError(f"{name} must be a pair of tensors (x, y), e.g. digits.{name}")
    x, y = data
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{name}: x and y must hold the same, non-zero number of samples, got {len(x)} and {len(y)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: x must be a floating-point tensor, got {x.dtype}; pass x.float()")
    if y.dim() != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"{name}: y must be a 1-D tensor of integer class ids, got dtype {y.dtype} "
                        f"and shape {tuple(y.shape)}; pass y.long()")
    return x, y.long()


def _engine(model: nn.Module, config: FedAvgConfig):
    """A function running one planned round the way config names (engine, aggregator), after checking the model."""
    if not isinstance(config, FedAvgConfig):
        raise TypeError(f"config must be a FedAvgConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (the initial global model), got {type(model).__name__}")
    if config.engine != "loop":
        check_vectorisable(model)
    if config.aggregator is None:
        average = _round_loop if config.engine == "loop" else round_vectorised

        def averaged(model, x, y, plan, generator):
            return average(model, x, y, plan, config.lr) if plan.clients else model.state_dict()
        return averaged
    if any(b.is_floating_point() for b in model.buffers()):
        raise ValueError("an aggregator combines the clients' trainable parameters only, and this model has "
                         "floating-point buffers (such as BatchNorm running statistics) that would bypass it; "
                         "use a model without them (e.g. fh.mlp) or aggregator=None")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the model has no trainable parameters, so clients have no updates to aggregate")
    updates_of = _client_updates_loop if config.engine == "loop" else client_updates_vectorised

    def aggregated(model, x, y, plan, generator):
        if plan.clients:
            updates = updates_of(model, x, y, plan, config.lr)
        else:  # under Poisson sampling nobody may join; the aggregator still decides (DP adds its noise)
            updates = _flat(model).new_zeros(0, _flat(model).numel())
        return _aggregate(model, updates, plan, config, generator)
    return aggregated


def fedavg_round(model: nn.Module, train, plan: RoundPlan, config: FedAvgConfig,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Run one planned round with config.engine and load the new global weights into `model` (in place).

    `generator` feeds a randomised config.aggregator (DP noise); None means torch's global generator.
    """
    engine = _engine(model, config)
    if not isinstance(plan, RoundPlan):
        raise TypeError(f"plan must be a RoundPlan from plan_round, got {type(plan).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    x, y = _check_split(train, "train")
    model.load_state_dict(engine(model, x, y, plan, generator))
    return model


def _interactive() -> bool:
    """True in a terminal or notebook, False under TQDM_DISABLE=1 or CI=true (where a bar only clutters logs)."""
    for variable in ("TQDM_DISABLE", "CI"):
        if os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no"):
            return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def _progress(iterable, progress: bool | None, desc: str):
    """Wrap `iterable` in a tqdm bar when asked, or (progress=None) when someone is watching and tqdm exists."""
    if progress is False or (progress is None and not _interactive()):
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        if progress:
            raise ImportError("progress=True needs tqdm: pip install 'fedavg-helpers[data]'") from None
        return iterable
    return tqdm(iterable, desc=desc, disable=False, leave=False)


def run_fedavg(model: nn.Module, train, test, client_indices, config: FedAvgConfig | None = None) -> History:
    """Train a copy of `model` with FedAvg (or FedSGD) on the clients' data; evaluate on `test` every round.

    train and test are (x, y) pairs, client_indices holds each client's sample ids into train (see
    split_iid and friends). `model` itself is not changed; the trained one is History.model.
    """
    config = FedAvgConfig() if config is None else config
    engine = _engine(model, config)
    x, y = _check_split(train, "train")
    x_test, y_test = _check_split(test, "test")
    clients = check_client_indices(client_indices, len(x))
    check_model_fits(model, (x, y, "train"), (x_test, y_test, "test"))
    sizes = _client_sizes(clients)
    global_model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(config.seed)
    aggregation_generator = _aggregation_generator(config.seed)
    history = History(model=global_model)
    rounds = _progress(range(config.rounds), config.progress, "FedSGD" if config.is_fedsgd else "FedAvg")
    for _ in rounds:
        plan = _plan_round(clients, sizes, config, generator)
        global_model.load_state_dict(engine(global_model, x, y, plan, aggregation_generator))
        loss, accuracy = evaluate(global_model, x_test, y_test)
        history.test_loss.append(loss)
        history.test_accuracy.append(accuracy)
        history.clients.append(plan.clients)
        if hasattr(rounds, "set_postfix"):
            rounds.set_postfix(test_accuracy=f"{accuracy:.3f}")
    return history


def train_central(model: nn.Module, train, test, config: CentralConfig | None = None) -> History:
    """Train a copy of `model` with mini-batch SGD on all of `train`; evaluate on `test` after every epoch."""
    config = CentralConfig() if config is None else config
    if not isinstance(config, CentralConfig):
        raise TypeError(f"config must be a CentralConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    x, y = _check_split(train, "train")
    x_test, y_test = _check_split(test, "test")
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(config.seed)
    history = History(model=model)
    epochs = _progress(range(config.epochs), config.progress, "central")
    for _ in epochs:
        client_update(model, x, y, local_batches(len(x), config.batch_size, 1, generator), config.lr)
        loss, accuracy = evaluate(model, x_test, y_test)
        history.test_loss.append(loss)
        history.test_accuracy.append(accuracy)
        if hasattr(epochs, "set_postfix"):
            epochs.set_postfix(test_accuracy=f"{accuracy:.3f}")
    return history
