"""Turn the clients' updates of one FedAvg round into the global model's update: plain, private or robust.

The simulator (simulation.py, FedAvgConfig(aggregator=...)) calls an aggregator once per round with a
RoundUpdates: each picked client's update Delta_k = w_k - w (all its trainable parameters flattened into one
vector, as robust.py and dp.py expect), its sample count n_k, and what a randomised rule needs. The aggregator
returns one flat update Delta and the global model becomes w + Delta. Both engines call it with the same rows.
- mean_aggregator: FedAvg's own rule, the n_k-weighted mean (aggregator=None computes the same directly on the
  models, without forming the updates, and stays bit for bit what it always was);
- dp_aggregator: DP-FedAvg (McMahan et al. 2018): clip every update, add Gaussian noise to the mean (dp.py);
- median_aggregator, trimmed_mean_aggregator (Yin et al. 2018), krum_aggregator, multi_krum_aggregator
  (Blanchard et al. 2017): Byzantine-robust rules (robust.py);
- secure_aggregator: the same weighted mean, computed by secure aggregation (secagg.py): the server learns only the
  sum of the clients' quantised, weighted updates;
- distributed_dp_aggregator: the clients clip and add noise shares before secure aggregation, so the server
  unmasks only a noisy sum (distributed_dp.py);
- with_attackers: chosen clients replace their honest update with a malicious one before the server sees it.
The robust rules look at every individual update, which is exactly what secure aggregation hides (see robust.py).
"""
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import torch

from ..secure.quantize import Quantizer
from ..secure.secagg import secure_aggregate
from ..simulation.client import _weighted_mean
from .distributed_dp import DistributedDP
from .dp import dp_aggregate, dp_noise_std
from .robust import coordinate_median, krum, multi_krum, trimmed_mean


@dataclass(frozen=True)
class RoundUpdates:
    """What the server receives in one round: one flat update per picked client, and what it needs to combine them."""
    updates: torch.Tensor                  # (m, d): row i is clients[i]'s w_k - w, trainable parameters flattened
    num_samples: torch.Tensor              # (m,) int64: n_k, each client's number of training samples
    clients: list[int]                     # the picked clients' ids, ascending (the rows' order)
    global_params: torch.Tensor            # (d,): w, the flattened global model every client started from
    expected_clients: float                # q * K under Poisson sampling; the fixed m = max(1, round(C * K)) otherwise
    num_clients: int                       # K, the number of clients in the federation
    sampling: str = "fixed"                # FedAvgConfig.sampling: "fixed" or "poisson"
    generator: torch.Generator | None = None  # for randomised rules (DP noise); None means torch's global generator

    def __len__(self) -> int:
        return len(self.clients)


Aggregator = Callable[[RoundUpdates], torch.Tensor]


def mean_aggregator() -> Aggregator:
    """FedAvg's rule: the n_k-weighted mean of the updates, sum_k n_k Delta_k / sum_k n_k (no client: no change)."""
    def mean(r: RoundUpdates) -> torch.Tensor:
        if not len(r):
            return torch.zeros_like(r.global_params)
        return _weighted_mean(r.updates, r.num_samples)
    return mean


def dp_aggregator(max_norm: float, noise_multiplier: float, generator: torch.Generator | None = None) -> Aggregator:
    """DP-FedAvg's server step: clip each update to L2 norm max_norm (S), sum, divide by W = q K, add N(0, (z S / W)^2).

    As in dp.py and McMahan et al. (2018): every client counts equally (n_k is ignored, so one client's
    influence is bounded by S), and W is the *expected* number of participants, so the run must use
    FedAvgConfig(sampling="poisson"), the sampling fh.dp_epsilon accounts for. A round nobody joined still
    releases noise. Noise comes from `generator`, else from the run's own (seeded by FedAvgConfig.seed).
    """
    dp_noise_std(noise_multiplier, max_norm, 1.0)  # validate both numbers now rather than in round 1
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None (the run's own), got {type(generator).__name__}")

    def dp(r: RoundUpdates) -> torch.Tensor:
        if r.sampling != "poisson":
            raise ValueError("dp_aggregator needs FedAvgConfig(sampling='poisson'): DP-FedAvg divides by the expected "
                             "number of clients q * K, and fh.dp_epsilon accounts for clients that each join a round "
                             f"independently with probability q; this run uses sampling={r.sampling!r}")
        g = r.generator if generator is None else generator
        if not len(r):
            std = dp_noise_std(noise_multiplier, max_norm, r.expected_clients)
            return torch.randn(r.global_params.shape, generator=g, dtype=r.global_params.dtype) * std
        return dp_aggregate(list(r.updates), max_norm, noise_multiplier, expected_clients=r.expected_clients,
                            generator=g)
    return dp


def median_aggregator() -> Aggregator:
    """Coordinate-wise median of the updates (Yin et al. 2018): robust while fewer than half the clients attack."""
    def median(r: RoundUpdates) -> torch.Tensor:
        _need_clients(r, 1, "median_aggregator()", "a median needs at least one value")
        return coordinate_median(r.updates)
    return median


def trimmed_mean_aggregator(trim) -> Aggregator:
    """Coordinate-wise mean after dropping the `trim` largest and smallest values (int, or a float fraction of m)."""
    if isinstance(trim, bool) or not isinstance(trim, (int, float)):
        raise TypeError("trim must be an int (values dropped at each end) or a float fraction, "
                        f"got {type(trim).__name__}")
    if isinstance(trim, int) and trim < 0 or isinstance(trim, float) and not 0 <= trim < 0.5:
        raise ValueError(f"Invalid trim: {trim!r}; use an int >= 0 or a fraction 0 <= trim < 0.5 (Yin et al.'s beta)")

    def trimmed(r: RoundUpdates) -> torch.Tensor:
        if isinstance(trim, int):
            _need_clients(r, 2 * trim + 1, f"trimmed_mean_aggregator({trim})",
                          f"dropping {trim} values at each end must leave at least one", ", or trim less")
        else:
            _need_clients(r, 1, f"trimmed_mean_aggregator({trim})", "a mean needs at least one value")
        return trimmed_mean(r.updates, trim)
    return trimmed


def krum_aggregator(n_attackers: int) -> Aggregator:
    """Krum (Blanchard et al. 2017): the one update closest to its m - f - 2 nearest neighbours; needs m >= 2f + 3."""
    _check_n_attackers(n_attackers)

    def krum_(r: RoundUpdates) -> torch.Tensor:
        _need_clients(r, 2 * n_attackers + 3, f"krum_aggregator(n_attackers={n_attackers})",
                      "Krum needs n >= 2f + 3 clients (Blanchard et al. 2017)", ", or tolerate fewer attackers")
        return krum(r.updates, n_attackers)
    return krum_


def multi_krum_aggregator(n_attackers: int, m: int | None = None) -> Aggregator:
    """Multi-Krum (Blanchard et al. 2017): the mean of the m updates with the best Krum scores (default m = n - f)."""
    _check_n_attackers(n_attackers)
    if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
        raise ValueError(f"Invalid m: {m!r}; use an int >= 1 (updates averaged) or None for n - f")

    def multi(r: RoundUpdates) -> torch.Tensor:
        _need_clients(r, 2 * n_attackers + 3, f"multi_krum_aggregator(n_attackers={n_attackers})",
                      "Krum needs n >= 2f + 3 clients (Blanchard et al. 2017)", ", or tolerate fewer attackers")
        return multi_krum(r.updates, n_attackers, m)
    return multi


def secure_aggregator(bits: int = 16, max_abs: float = 1.0, threshold: float = 2 / 3) -> Aggregator:
    """FedAvg's weighted mean through secure aggregation in a ring sized to the sum (Bonawitz et al. 2017).

    Client k masks p_k * Delta_k, with p_k = n_k / sum_j n_j (public: the server picks the clients and knows
    their sample counts), quantised to `bits` bits after clipping every entry to [-max_abs, max_abs]; the
    server unmasks only the sum, which is the weighted mean up to quantisation (unbiased, within m steps of
    2 max_abs / (2**bits - 1) per entry). threshold is the fraction of a round's m clients whose shares
    rebuild a secret: t = max(2, floor(threshold * m) + 1). Entries beyond the range are clipped, with a
    RuntimeWarning that counts them. Keys, masks and rounding noise are seeded from the run's generator.
    """
    quantizer = Quantizer(bits)
    quantizer.step(max_abs)  # validates the range now rather than in round 1
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"Invalid threshold: {threshold!r}; use the fraction of a round's clients needed to unmask, "
                         "0 < threshold < 1 (2/3 tolerates a third dropping out)")

    def secure(r: RoundUpdates) -> torch.Tensor:
        _need_clients(r, 2, f"secure_aggregator(bits={bits})", "secure aggregation hides each input in a sum of "
                      "at least two")
        m = len(r)
        shares = r.num_samples.to(torch.float64) / r.num_samples.sum()
        vectors = [r.updates[i].to(torch.float64) * shares[i] for i in range(m)]
        seed = int(torch.randint(0, 2**62, (1,), generator=r.generator))
        result = secure_aggregate(vectors, min(m, max(2, int(threshold * m) + 1)), max_abs=max_abs,
                                  encoder=quantizer, seed=seed)  # checks b and k before any key exchange
        return result.total.to(r.updates.dtype)
    return secure


class DistributedDPAggregator:
    """The simulator's distributed DP: each round's clients clip, add noise shares and mask; the server unmasks the
    noisy sum and divides by the number of clients. It counts the rounds it released, for epsilon(delta)."""

    def __init__(self, dp: DistributedDP, bits: int, threshold: float):
        self.dp, self.quantizer, self.threshold = dp, Quantizer(bits), threshold
        self.rounds = 0  # rounds released so far: a client may have taken part in every one of them

    def __call__(self, r: RoundUpdates) -> torch.Tensor:
        _need_clients(r, 2, "distributed_dp_aggregator", "secure aggregation hides each input in a sum of at least "
                      "two")
        m = len(r)
        seed = int(torch.randint(0, 2**62, (1,), generator=r.generator))
        result = secure_aggregate([u.to(torch.float64) for u in r.updates], min(m, max(2, int(self.threshold * m) + 1)),
                                  encoder=self.quantizer, dp=self.dp, seed=seed)
        self.rounds += 1
        return (result.total / len(result.survivors)).to(r.updates.dtype)

    def epsilon(self, delta: float) -> float:
        """Epsilon spent so far by any one client, at delta, if it took part in every released round (q = 1)."""
        return self.dp.epsilon(delta, self.rounds)


def distributed_dp_aggregator(max_norm: float, noise_multiplier: float, bits: int = 16,
                              threshold: float = 2 / 3) -> DistributedDPAggregator:
    """Distributed DP-FedAvg: every client clips its update to max_norm (S) and adds a share of N(0, (z S)^2 / t)
    before secure aggregation, so the server unmasks only a sum with noise z S or more; it divides by the m clients.

    t = max(2, floor(threshold * m) + 1) as in secure_aggregator; each client counts equally (n_k is ignored, so
    its influence is bounded by S). The server sees who takes part, so no amplification by sampling is claimed:
    .epsilon(delta) composes one Gaussian mechanism of multiplier z per released round (fh.DistributedDP).
    """
    dp = DistributedDP(max_norm, noise_multiplier)  # refuses negative, NaN and infinite values now
    Quantizer(bits)  # and bits out of range
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"Invalid threshold: {threshold!r}; use the fraction of a round's clients needed to unmask, "
                         "0 < threshold < 1 (2/3 tolerates a third dropping out)")
    return DistributedDPAggregator(dp, bits, threshold)


def with_attackers(aggregator: Aggregator | None, attackers: Iterable[int],
                   attack: Callable[[torch.Tensor], torch.Tensor]) -> Aggregator:
    """`aggregator` (None: mean_aggregator()), but each client in `attackers` sends attack(its honest update) instead.

    An attacker trains like everyone else, so it knows the honest direction, then replaces its update before
    the server sees it: e.g. attack=lambda u: fh.scale_attack(u, 100.0) or lambda u: fh.sign_flip_attack(u, 10.0).
    """
    aggregator = mean_aggregator() if aggregator is None else aggregator
    if not callable(aggregator):
        raise TypeError("aggregator must be an aggregator such as fh.median_aggregator(), "
                        f"got {type(aggregator).__name__}")
    if isinstance(attackers, (str, bytes)) or not isinstance(attackers, Iterable):
        raise TypeError(f"attackers must be a set of client ids, e.g. {{0, 1}}, got {type(attackers).__name__}")
    attackers = frozenset(attackers)
    for k in attackers:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"Invalid attacker id: {k!r}; client ids are ints >= 0 (positions in client_indices)")
    if not callable(attack):
        raise TypeError("attack must be a function of the honest update, e.g. lambda u: fh.scale_attack(u, 100.0), "
                        f"got {type(attack).__name__}")

    def attacked(r: RoundUpdates) -> torch.Tensor:
        unknown = sorted(k for k in attackers if k >= r.num_clients)
        if unknown:
            raise ValueError(f"attackers {unknown} are not clients: there are {r.num_clients} (ids 0 to "
                             f"{r.num_clients - 1})")
        updates = r.updates.clone()
        for i, k in enumerate(r.clients):
            if k in attackers:
                sent = attack(updates[i])
                if not isinstance(sent, torch.Tensor) or sent.shape != updates[i].shape:
                    got = tuple(sent.shape) if isinstance(sent, torch.Tensor) else type(sent).__name__
                    raise ValueError(f"attack returned {got} for client {k}; it must return an update of the "
                                     f"honest one's shape {tuple(updates[i].shape)}")
                updates[i] = sent
        return aggregator(replace(r, updates=updates))
    return attacked


def _need_clients(r: RoundUpdates, minimum: int, who: str, why: str, fix: str = "") -> None:
    if len(r) < minimum:
        more = "a larger FedAvgConfig(client_fraction=...)"
        if r.sampling == "poisson":
            more += " (under Poisson sampling a round can pick fewer than q * K; sampling='fixed' cannot)"
        raise ValueError(f"{who}: a round picked {len(r)} clients {r.clients}, but {why}, so at least {minimum}; "
                         f"pick more clients per round with {more}{fix}")


def _check_n_attackers(f) -> None:
    if isinstance(f, bool) or not isinstance(f, int) or f < 0:
        raise ValueError(f"Invalid n_attackers: {f!r}; use the number of malicious clients to tolerate, an int >= 0")
