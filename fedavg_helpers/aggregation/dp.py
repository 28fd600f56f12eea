"""Differential privacy for FedAvg: clip each client's update, add Gaussian noise to the average, count epsilon.

This is DP-FedAvg as defined by McMahan et al. 2018 (ICLR, "Learning Differentially Private Recurrent
Language Models"), with every client weighted equally:

1. Each round, every client joins independently with probability q (`poisson_sample_clients`, in
   simulation/participation.py, where every rule for who takes part in a round lives).
2. Each participant's update Delta_k (all its parameters together) is clipped to L2 norm at most S:
   Delta_k * min(1, S / ||Delta_k||)  (`clip_update`).
3. The server averages with a *fixed* denominator W = q * N, the expected number of participants
   (the paper's estimator f_f), not the number that showed up, which would itself depend on the data:
   avg = (sum_k clipped Delta_k) / W. Adding or removing one client changes this sum by at most S, so the
   average moves by at most S / W, and the server adds Gaussian noise
       N(0, sigma**2 I)  with  sigma = z * S / W,  z = noise_multiplier      (`dp_noise_std`, `dp_aggregate`).
4. Privacy spent: each round is a sampled Gaussian mechanism (sampling rate q, noise multiplier z);
   `dp_epsilon` composes `rounds` of them with dp-accounting's RDP (or PLD) accountant and reports
   epsilon at a chosen delta, for the add-or-remove-one-client relation (user-level privacy).

Clipping is per client and noise is added to a sum, so both can combine with secure aggregation: each
client clips before masking, and the noise must then be added by the clients themselves (each a share
of it, so that no single party knows the total noise); if the server adds it after unmasking, the
server has seen the exact sum. This module adds the noise centrally, as McMahan et al. (2018) describe;
distributed_dp.py has the clients add it before masking.
"""

import logging
import math

import torch

from ..simulation.participation import check_rate


def global_norm(update) -> float:
    """L2 norm of a whole update: all its tensors taken together as one long vector (summed in float64)."""
    tensors = _tensors_of(update, "update")
    squares = sum(float(t.detach().double().pow(2).sum()) for t in tensors)
    if squares == math.inf:  # finite entries above 1e154 square to inf: scale by the largest first
        biggest = max((float(t.detach().double().abs().max()) for t in tensors if t.numel()), default=0.0)
        if math.isfinite(biggest):
            return biggest * math.sqrt(sum(float((t.detach().double() / biggest).pow(2).sum()) for t in tensors))
    return math.sqrt(squares)


def clip_update(update, max_norm: float):
    """Scale an update (tensor, list or dict of tensors) by min(1, max_norm / norm), so its L2 norm is <= max_norm.

    The promise holds after rounding: the result's global_norm is at most max_norm in every floating dtype
    (float32 or bfloat16 rounding could push it a few units in the last place above; the factor is then
    lowered until it does not). An update holding NaN or inf has no norm to clip and is refused.
    """
    _check_positive("max_norm", max_norm)
    _check_finite(update, "update")
    norm = global_norm(update)
    if norm <= max_norm:
        return _map(update, lambda t: t.detach() * 1.0)  # a copy, unchanged
    def scaled(factor):
        return _map(update, lambda t: t.detach() * factor)

    factor = max_norm / norm
    clipped = scaled(factor)
    # each entry rounds to its dtype: step the factor down by the coarsest dtype's unit roundoff until it fits
    step = max(torch.finfo(t.dtype).eps for t in _tensors_of(update, "update"))
    while global_norm(clipped) > max_norm:
        factor *= 1.0 - step
        clipped = scaled(factor)
    return clipped


def dp_noise_std(noise_multiplier: float, max_norm: float, expected_clients: float) -> float:
    """Std of the Gaussian noise on the averaged update: noise_multiplier * max_norm / expected_clients."""
    _check_nonnegative("noise_multiplier", noise_multiplier)
    _check_positive("max_norm", max_norm)
    _check_positive("expected_clients", expected_clients)
    return noise_multiplier * max_norm / expected_clients


def dp_aggregate(updates, max_norm: float, noise_multiplier: float, *, expected_clients: float | None = None,
                 generator: torch.Generator | None = None):
    """DP-FedAvg server step: clip every update to max_norm, sum, divide by expected_clients, add Gaussian noise."""
    updates = list(updates)
    if not updates:
        raise ValueError("dp_aggregate got no updates; pass one update (tensor, list or dict of tensors) per client")
    expected_clients = len(updates) if expected_clients is None else expected_clients
    std = dp_noise_std(noise_multiplier, max_norm, expected_clients)  # validates all three numbers
    aligned = [_aligned(update, updates[0], i) for i, update in enumerate(updates)]  # dicts paired by key
    for i, update in enumerate(updates):
        _check_finite(update, f"updates[{i}]")
    clipped = [clip_update(tensors, max_norm) for tensors in aligned]
    noisy = []
    for parts in zip(*clipped):
        mean = torch.stack(parts).sum(dim=0) / expected_clients
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype) * std
        noisy.append(mean + noise)
    return _rebuild(updates[0], noisy)


def dp_epsilon(noise_multiplier: float, sample_rate: float, rounds: int, delta: float, *,
               accountant: str = "rdp") -> float:
    """Epsilon spent after `rounds` rounds of the Poisson-sampled Gaussian mechanism, at delta (via dp-accounting)."""
    _check_positive("noise_multiplier", noise_multiplier)
    check_rate(sample_rate)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"Invalid rounds: {rounds!r}; use the number of training rounds, an int >= 0")
    if not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise ValueError(f"Invalid delta: {delta!r}; use 0 < delta < 1, typically below 1 / number of clients")
    if accountant not in ("rdp", "pld"):
        raise ValueError(f"Invalid accountant: {accountant!r}; use 'rdp' (Renyi DP, Mironov 2017) or 'pld' "
                         "(privacy loss distributions, tighter and slower)")
    if rounds == 0:
        return 0.0  # nothing released, nothing spent
    import dp_accounting  # imported here so the rest of the package works without it
    from dp_accounting import pld, rdp
    logging.getLogger("absl").setLevel(max(logging.getLogger("absl").level, logging.ERROR))  # notes on skipped orders

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier)), rounds)
    tracker = rdp.RdpAccountant() if accountant == "rdp" else pld.PLDAccountant()
    tracker.compose(event)
    return float(tracker.get_epsilon(delta))


def _tensors_of(update, name):
    if isinstance(update, torch.Tensor):
        return [update]
    if isinstance(update, dict):
        values = list(update.values())
    elif isinstance(update, (list, tuple)):
        values = list(update)
    else:
        raise TypeError(f"{name} must be a tensor, a list of tensors or a dict of tensors (a state-dict delta), "
                        f"got {type(update).__name__}")
    for i, t in enumerate(values):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} holds a {type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype} at "
                            f"position {i}; updates are floating-point tensors")
    return values


def _aligned(update, reference, i) -> list:
    """update's tensors in reference's order: dicts are paired by key, never by position."""
    name = f"updates[{i}]"
    reference_tensors = _tensors_of(reference, "updates[0]")
    tensors = _tensors_of(update, name)
    if _form(update) != _form(reference):
        raise TypeError(f"{name} is a {type(update).__name__} but updates[0] is a {type(reference).__name__}; give "
                        "every client's update in the same form (all tensors, all lists, or all dicts with the same "
                        "keys)")
    if isinstance(update, dict):
        if update.keys() != reference.keys():
            extra = sorted(map(str, update.keys() - reference.keys()))
            missing = sorted(map(str, reference.keys() - update.keys()))
            raise ValueError(f"{name} has keys {extra} that updates[0] lacks and lacks {missing}; every client must "
                             "update the same parameters (dict updates are added key by key)")
        tensors = [update[k] for k in reference]
    if [t.shape for t in tensors] != [t.shape for t in reference_tensors]:
        raise ValueError(f"{name} has shapes {[tuple(t.shape) for t in tensors]} but updates[0] has "
                         f"{[tuple(t.shape) for t in reference_tensors]}; every client must update the same model")
    return tensors


def _form(update) -> str:
    return "tensor" if isinstance(update, torch.Tensor) else "dict" if isinstance(update, dict) else "list"


def _check_finite(update, name) -> None:
    for position, t in enumerate(_tensors_of(update, name)):
        bad = int((~torch.isfinite(t.detach())).sum())
        if bad:
            where = f" (tensor {list(update)[position]!r})" if isinstance(update, dict) else (
                f" (tensor {position})" if not isinstance(update, torch.Tensor) else "")
            raise ValueError(f"{name} holds {bad} NaN or infinite entries{where}, so it has no norm to clip; DP-FedAvg "
                             "assumes honest clients, so this is a training bug (a learning rate too high?): fix it, "
                             "or leave this client out of the round")


def _rebuild(like, tensors):
    if isinstance(like, torch.Tensor):
        return tensors[0]
    if isinstance(like, dict):
        return dict(zip(like.keys(), tensors))
    return type(like)(tensors)


def _map(update, fn):
    return _rebuild(update, [fn(t) for t in _tensors_of(update, "update")])


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Invalid {name}: {value!r}; use a finite number > 0")


def _check_nonnegative(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid {name}: {value!r}; use a finite number >= 0 (0 means no noise and no privacy)")
