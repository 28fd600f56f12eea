"""Byzantine-robust aggregation: combine client updates so that a few malicious clients cannot steer the model.

The plain mean has no defence: one client sending 1000 x its update (or -1000 x) moves the average anywhere.
- `coordinate_median` (Yin et al. 2018, ICML, "Byzantine-Robust Distributed Learning"): per coordinate,
  the median of the n values. Stays within the honest values' range while fewer than half are attackers.
- `trimmed_mean` (Yin et al. 2018): per coordinate, drop the `trim` largest and `trim` smallest values
  and average the rest. Robust when trim >= the number of attackers f (the paper: beta >= f / n).
- `krum` / `multi_krum` (Blanchard et al. 2017, NeurIPS, "Machine Learning with Adversaries: Byzantine
  Tolerant Gradient Descent"): score each update by the summed squared distances to its n - f - 2 nearest
  neighbours; Krum returns the update with the lowest score, Multi-Krum the mean of the m lowest. The
  guarantee needs n >= 2f + 3, which is enforced.
`scale_attack` and `sign_flip_attack` make the malicious updates the tests and notebooks defend against.

Why these conflict with secure aggregation: every rule here looks at the *individual* updates (their
order per coordinate, or their distances to each other), while secure aggregation (`secagg`,
`secret_sharing`) is built so that the server sees only their *sum*. A median or a distance cannot be
recovered from a sum, so a server cannot do both with these tools: it either sees each update
(robustness, no input privacy) or only the total (privacy, no robustness). Computing a median inside
secure multi-party computation is possible but far more costly than a secure sum; what does combine
cheaply with a secure sum is a per-client bound, such as the norm clipping of DP-FedAvg (`dp`), which
limits how far any one client can move the average, provided the bound is enforced where the server
cannot see (for example checked inside the protocol with a zero-knowledge proof); a client that skips
its own clipping is not stopped by masking.

All functions take the n client updates as a list of 1-D tensors or an (n, d) tensor and return a 1-D tensor
(use `flatten_params` / `unflatten_params` for models).

Non-finite updates (NaN or inf anywhere, e.g. from a diverging or malicious client) are treated as the worst,
not refused, so that one such client cannot stop training: Krum gives them the score +inf and never selects
them (and distances to them count as +inf), and the median and trimmed mean sort NaN above +inf, so a minority
of them is outvoted like any other outlier. When they are too many for the rule to outvote, so that the result
would hold NaN or inf, the rule raises ValueError naming them instead of returning it.
"""

import math

import torch


def coordinate_median(updates) -> torch.Tensor:
    """Per-coordinate median of the client updates (the mean of the two middle values when n is even)."""
    stacked = _stack(updates)
    n = stacked.shape[0]
    ordered = stacked.sort(dim=0).values  # NaN sorts above +inf: a non-finite value is an extreme one
    # torch.median would return the lower middle value for even n; Yin et al. use the usual median.
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return _finite_result(median, stacked, "coordinate_median", "fewer than half of the updates")


def trimmed_mean(updates, trim) -> torch.Tensor:
    """Per-coordinate mean after dropping the `trim` largest and smallest values (int count, or float fraction of n)."""
    stacked = _stack(updates)
    n = stacked.shape[0]
    if isinstance(trim, bool) or not isinstance(trim, (int, float)):
        raise TypeError(f"trim must be an int (values dropped at each end) or a float fraction of n, "
                        f"got {type(trim).__name__}")
    if isinstance(trim, float):
        if not 0 <= trim < 0.5:
            raise ValueError(f"Invalid trim fraction: {trim}; use 0 <= trim < 0.5 (Yin et al.'s beta)")
        # Round up (trimming more never admits an attacker); the epsilon keeps 0.3 * 10 = 3.0000000000000004 at 3.
        count = math.ceil(trim * n - 1e-9)
    else:
        count = trim
    if count < 0 or 2 * count >= n:
        raise ValueError(f"Invalid trim: {trim!r} drops {count} values at each end of {n}, leaving none; "
                         f"use 0 <= trim <= {(n - 1) // 2} (at least one value must remain)")
    ordered = stacked.sort(dim=0).values  # NaN sorts above +inf: trimmed at the top end
    return _finite_result(ordered[count:n - count].mean(dim=0), stacked, "trimmed_mean",
                          f"at most trim = {count} at each end")


def krum_scores(updates, n_attackers: int) -> torch.Tensor:
    """Krum score of each update: the sum of squared distances to its n - f - 2 nearest other updates."""
    stacked = _stack(updates)
    n = stacked.shape[0]
    _check_krum(n, n_attackers)
    diffs = stacked.double()
    finite = torch.isfinite(diffs).all(dim=1)
    if not finite.all():  # zero them for cdist, then make every distance to them +inf (the worst neighbour)
        diffs = torch.where(finite.unsqueeze(1), diffs, 0.0)
    squared = torch.cdist(diffs, diffs, compute_mode="donot_use_mm_for_euclid_dist").pow(2)
    squared[~finite] = float("inf")
    squared[:, ~finite] = float("inf")
    squared.fill_diagonal_(float("inf"))  # an update is not its own neighbour
    nearest = squared.sort(dim=1).values[:, : n - n_attackers - 2]
    return nearest.sum(dim=1)  # +inf for a non-finite update, or one without n - f - 2 finite neighbours


def krum(updates, n_attackers: int) -> torch.Tensor:
    """Krum: the single update whose n - f - 2 nearest neighbours are closest (needs n >= 2f + 3)."""
    stacked = _stack(updates)
    scores = krum_scores(stacked, n_attackers)
    best = scores.argmin()
    _check_scored(scores, stacked, n_attackers, 1)
    return stacked[best].clone()


def multi_krum(updates, n_attackers: int, m: int | None = None) -> torch.Tensor:
    """Multi-Krum: the mean of the m updates with the lowest Krum scores (default m = n - f)."""
    stacked = _stack(updates)
    n = stacked.shape[0]
    scores = krum_scores(stacked, n_attackers)  # validates n >= 2f + 3 first
    m = n - n_attackers if m is None else m
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= n - n_attackers:
        raise ValueError(f"Invalid m: {m!r}; use 1 <= m <= n - f = {n - n_attackers} (any {n - n_attackers + 1} "
                         "updates include at least one attacker's)")
    _check_scored(scores, stacked, n_attackers, m)
    chosen = scores.argsort()[:m]
    return stacked[chosen].mean(dim=0)


def scale_attack(update: torch.Tensor, factor: float = 100.0) -> torch.Tensor:
    """A malicious update: the honest one times a large factor, to dominate the mean (negative also reverses it)."""
    _check_update(update)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)):
        raise TypeError(f"factor must be a number, got {type(factor).__name__}")
    return update.detach() * factor


def sign_flip_attack(update: torch.Tensor, magnitude: float = 1.0) -> torch.Tensor:
    """A malicious update: the honest one with every sign flipped, times magnitude (ascent instead of descent)."""
    _check_update(update)
    if isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)) or magnitude <= 0:
        raise ValueError(f"Invalid magnitude: {magnitude!r}; use a number > 0 (the flip supplies the minus sign)")
    return -magnitude * update.detach()


def _stack(updates) -> torch.Tensor:
    if isinstance(updates, torch.Tensor):
        if updates.dim() != 2:
            raise ValueError(f"updates as one tensor must be 2-D (n_clients, d), got shape {tuple(updates.shape)}; "
                             "flatten each update with fh.flatten_params(...)")
        stacked = updates
    else:
        updates = list(updates)
        for i, u in enumerate(updates):
            if not isinstance(u, torch.Tensor) or u.dim() != 1:
                got = f"shape {tuple(u.shape)}" if isinstance(u, torch.Tensor) else type(u).__name__
                raise ValueError(f"updates[{i}] must be a 1-D tensor, got {got}; "
                                 "flatten it with fh.flatten_params(...)")
            if u.shape != updates[0].shape:
                raise ValueError(f"updates[{i}] has {u.numel()} entries but updates[0] has {updates[0].numel()}; "
                                 "all clients must update the same model")
        if not updates:
            raise ValueError("got no updates; pass one 1-D update per client")
        stacked = torch.stack([u.detach() for u in updates])
    if not stacked.is_floating_point():
        raise TypeError(f"updates must be floating-point, got {stacked.dtype}")
    if stacked.shape[0] == 0:
        raise ValueError("got no updates; pass one 1-D update per client")
    return stacked


def _check_krum(n, f):
    if isinstance(f, bool) or not isinstance(f, int) or f < 0:
        raise ValueError(f"Invalid n_attackers: {f!r}; use the number of malicious clients to tolerate, an int >= 0")
    if n < 2 * f + 3:
        fix = f"use at least {2 * f + 3} clients"
        if n >= 3:
            fix = f"use f <= {(n - 3) // 2} or " + fix[4:]
        raise ValueError(f"Krum needs n >= 2f + 3 (Blanchard et al. 2017): n = {n} clients cannot tolerate f = {f} "
                         f"attackers; {fix}")


def _non_finite_rows(stacked) -> list[int]:
    return (~torch.isfinite(stacked).all(dim=1)).nonzero().flatten().tolist()


def _finite_result(result, stacked, rule, outvoted) -> torch.Tensor:
    """Return result, or raise if it holds NaN or inf: too many non-finite updates, or an overflow."""
    if torch.isfinite(result).all():
        return result
    bad = _non_finite_rows(stacked)
    if bad:
        raise ValueError(f"{rule}: {len(bad)} of the {len(stacked)} updates hold NaN or inf (rows {bad}), too many "
                         f"to outvote (it outvotes {outvoted}), so the result would not be finite; drop those "
                         "clients' updates, or find why their training diverged (a learning rate too high?)")
    biggest = stacked.abs().max().item()
    raise ValueError(f"{rule}: the result overflowed to inf although every update is finite; the updates are too "
                     f"large for {stacked.dtype} (largest |value| {biggest:.3g}): clip or rescale them")


def _check_scored(scores, stacked, f, needed) -> None:
    """Raise unless at least `needed` updates have a finite Krum score (a non-finite update never does)."""
    finite = int(torch.isfinite(scores).sum())
    if finite < needed:
        bad = _non_finite_rows(stacked)
        n = len(stacked)
        raise ValueError(f"Krum can select {finite} updates but needs {needed}: {len(bad)} of the {n} updates hold "
                         f"NaN or inf (rows {bad}), and an update is scored only with n - f - 2 = {n - f - 2} finite "
                         f"neighbours; with f = {f} at most f + 1 = {f + 1} non-finite updates leave every other one "
                         "scored. Drop those clients' updates, or raise n_attackers if that many clients may misbehave")


def _check_update(update):
    if not isinstance(update, torch.Tensor) or not update.is_floating_point():
        raise TypeError(f"update must be a floating-point tensor, got {type(update).__name__}")
