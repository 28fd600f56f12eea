"""Who takes part in a round: the one place for it, so every rule that depends on it reads the same answer.

Two ways (McMahan et al. 2017, and McMahan et al. 2018 for DP-FedAvg):
- fixed: m = max(1, round(C * K)) clients, drawn without replacement;
- poisson: each client joins independently with probability q = C, as the DP accountant assumes.
"""
import torch


def pick_clients(num_clients: int, client_fraction: float, sampling: str, generator: torch.Generator) -> list[int]:
    """The ids of a round's clients, ascending, drawn from `generator`."""
    if sampling == "poisson":  # each client independently with probability C: may pick none, or all
        return poisson_sample_clients(num_clients, client_fraction, generator)
    m = max(1, round(client_fraction * num_clients))
    return torch.randperm(num_clients, generator=generator)[:m].sort().values.tolist()


def expected_clients(sampling: str, client_fraction: float, num_clients: int) -> float:
    """Clients a round is expected to pick: q * K under Poisson sampling, max(1, round(C * K)) otherwise."""
    if sampling == "poisson":
        return client_fraction * num_clients
    return float(max(1, round(client_fraction * num_clients)))


def poisson_sample_clients(n_clients: int, sample_rate: float, generator: torch.Generator | None = None) -> list[int]:
    """Ids of this round's clients, each joining independently with probability sample_rate (dp_epsilon assumes it)."""
    if isinstance(n_clients, bool) or not isinstance(n_clients, int) or n_clients < 1:
        raise ValueError(f"Invalid n_clients: {n_clients!r}; use an int >= 1")
    check_rate(sample_rate)
    joined = torch.rand(n_clients, generator=generator) < sample_rate
    return joined.nonzero().flatten().tolist()


def check_rate(rate):
    """A sampling rate is a probability in (0, 1]."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ValueError(f"Invalid sample_rate: {rate!r}; use 0 < sample_rate <= 1 (each client's chance to join)")
