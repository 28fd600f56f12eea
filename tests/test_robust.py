"""Robust aggregation: each rule matches a plain reference, survives f attackers where theory says so, keeps limits."""
import numpy as np
import pytest
import torch
from scipy import stats

import fedavg_helpers as fh


def test_median_and_trimmed_mean_match_numpy_and_scipy():
    g = torch.Generator().manual_seed(0)
    for n in (5, 6, 11):
        updates = [torch.randn(40, generator=g, dtype=torch.float64) for _ in range(n)]
        array = torch.stack(updates).numpy()
        assert np.allclose(fh.coordinate_median(updates).numpy(), np.median(array, axis=0), rtol=0, atol=1e-15)
        for trim in range(0, (n - 1) // 2 + 1):
            expected = stats.trim_mean(array, trim / n, axis=0)
            assert np.allclose(fh.trimmed_mean(updates, trim).numpy(), expected, rtol=0, atol=1e-14)
    tensor = torch.stack(updates)
    assert torch.equal(fh.trimmed_mean(tensor, 0.2), fh.trimmed_mean(tensor, 3))  # 0.2 * 11 = 2.2, rounded up


def test_krum_scores_match_a_direct_computation():
    g = torch.Generator().manual_seed(1)
    updates = [torch.randn(7, generator=g, dtype=torch.float64) for _ in range(9)]
    f = 2
    for i, score in enumerate(fh.krum_scores(updates, f).tolist()):
        distances = sorted(float(((updates[i] - updates[j]) ** 2).sum()) for j in range(9) if j != i)
        assert score == pytest.approx(sum(distances[: 9 - f - 2]), rel=1e-12)
    best = min(range(9), key=lambda i: fh.krum_scores(updates, f)[i])
    assert torch.equal(fh.krum(updates, f), updates[best])
    chosen = fh.krum_scores(updates, f).argsort()[:4]
    assert torch.allclose(fh.multi_krum(updates, f, m=4), torch.stack(updates)[chosen].mean(dim=0))


def honest_and_attacked(n, f, attack, d=50, seed=2):
    """n - f honest updates around a true gradient, then f copies of the attack applied to it."""
    g = torch.Generator().manual_seed(seed)
    true = torch.randn(d, generator=g)
    honest = [true + 0.3 * torch.randn(d, generator=g) for _ in range(n - f)]
    return true, honest + [attack(true) for _ in range(f)]


ROBUST = {
    "median": lambda u, f: fh.coordinate_median(u),
    "trimmed mean (trim = f)": lambda u, f: fh.trimmed_mean(u, f),
    "krum": lambda u, f: fh.krum(u, f),
    "multi-krum": lambda u, f: fh.multi_krum(u, f),
}
ATTACKS = {"scaled x100": lambda t: fh.scale_attack(t, 100.0),
           "sign flipped x10": lambda t: fh.sign_flip_attack(t, 10.0)}


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("rule", ROBUST)
def test_robust_rules_stay_close_to_the_true_update_while_the_mean_is_dragged_away(rule, attack):
    n, f = 15, 3  # f < n / 2 for the median, trim = f, and n >= 2f + 3 for Krum
    true, updates = honest_and_attacked(n, f, ATTACKS[attack])
    mean_error = (torch.stack(updates).mean(dim=0) - true).norm() / true.norm()
    robust_error = (ROBUST[rule](updates, f) - true).norm() / true.norm()
    assert mean_error > 1.5  # the plain mean is ruined
    assert robust_error < 0.35  # honest noise alone puts a single update 0.3 away; the rules do at least as well


def train_logistic(rule, f, rounds=30, n=15, seed=3):
    """FedSGD for logistic regression on separable data; the last f clients send 10x sign-flipped gradients."""
    g = torch.Generator().manual_seed(seed)
    w_true = torch.randn(10, generator=g)
    xs = [torch.randn(60, 10, generator=g) for _ in range(n)]
    ys = [(x @ w_true > 0).float() for x in xs]
    x_test = torch.randn(2000, 10, generator=g)
    y_test = (x_test @ w_true > 0).float()
    w = torch.zeros(10)
    for _ in range(rounds):
        grads = [x.T @ (torch.sigmoid(x @ w) - y) / len(y) for x, y in zip(xs, ys)]
        grads = grads[: n - f] + [fh.sign_flip_attack(gr, 10.0) for gr in grads[n - f:]]
        w = w - 1.0 * rule(grads, f)
    return ((x_test @ w > 0).float() == y_test).float().mean().item()


def test_robust_rules_keep_accuracy_where_the_mean_collapses():
    f = 3
    assert train_logistic(lambda u, f: torch.stack(u).mean(dim=0), 0) > 0.9  # no attack: the task is learnable
    assert train_logistic(lambda u, f: torch.stack(u).mean(dim=0), f) < 0.2  # the attack reverses training
    for name, rule in ROBUST.items():
        assert train_logistic(rule, f) > 0.9, name


def test_beyond_their_limits_the_rules_break_as_theory_says():
    # Median: once attackers are half or more, they choose the median.
    n = 10
    _, updates = honest_and_attacked(n, 5, lambda t: torch.full_like(t, 1e6))
    assert (fh.coordinate_median(updates) > 1e5).all()
    # Trimmed mean with trim < f: the surviving attacker values dominate.
    true, updates = honest_and_attacked(15, 3, lambda t: fh.scale_attack(t, 100.0))
    assert (fh.trimmed_mean(updates, 2) - true).norm() / true.norm() > 1.0


@pytest.mark.parametrize("call, error, match", [
    (lambda u: fh.krum(u[:8], 3), ValueError, "n >= 2f \\+ 3.*n = 8 .* f = 3.*use f <= 2 or at least 9 clients"),
    (lambda u: fh.multi_krum(u, 3, m=13), ValueError, "Invalid m: 13; use 1 <= m <= n - f = 12"),
    (lambda u: fh.krum(u, -1), ValueError, "Invalid n_attackers: -1"),
    (lambda u: fh.trimmed_mean(u, 8), ValueError, "Invalid trim: 8 .* use 0 <= trim <= 7"),
    (lambda u: fh.trimmed_mean(u, 0.5), ValueError, "Invalid trim fraction: 0.5"),
    (lambda u: fh.trimmed_mean(u, "3"), TypeError, "trim must be an int"),
    (lambda u: fh.coordinate_median([]), ValueError, "got no updates"),
    (lambda u: fh.coordinate_median([u[0], u[1][:3]]), ValueError, "updates\\[1\\] has 3 entries"),
    (lambda u: fh.coordinate_median([u[0].reshape(5, 10)]), ValueError, "must be a 1-D tensor"),
    (lambda u: fh.coordinate_median(torch.zeros(3)), ValueError, "must be 2-D"),
    (lambda u: fh.coordinate_median([torch.ones(3, dtype=torch.int64)]), TypeError, "floating-point"),
    (lambda u: fh.sign_flip_attack(u[0], -1.0), ValueError, "Invalid magnitude"),
])
def test_limits_and_bad_input_are_refused_clearly(call, error, match):
    _, updates = honest_and_attacked(15, 0, None)
    with pytest.raises(error, match=match):
        call(updates)


# --- non-finite updates: treated as the worst, never returned -------------------------------------------------

def krum_scores_by_hand(updates, f):
    """Krum scores with every distance to a non-finite update taken as +inf (such an update scores +inf)."""
    n = len(updates)
    finite = [bool(torch.isfinite(u).all()) for u in updates]
    scores = []
    for i in range(n):
        if not finite[i]:
            scores.append(float("inf"))
            continue
        d = sorted(float(((updates[i] - updates[j]) ** 2).sum()) if finite[j] else float("inf")
                   for j in range(n) if j != i)
        scores.append(sum(d[: n - f - 2]))
    return scores


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_krum_never_selects_a_non_finite_update(bad):
    _, updates = honest_and_attacked(9, 0, None)
    updates = [u.double() for u in updates]
    updates[4] = torch.full_like(updates[4], bad)  # before the fix, a NaN update had score NaN and won argmin
    updates[7] = updates[7].clone()
    updates[7][3] = bad
    f = 2
    expected = krum_scores_by_hand(updates, f)
    assert fh.krum_scores(updates, f).tolist() == pytest.approx(expected, rel=1e-12)
    best = min(range(9), key=expected.__getitem__)
    assert best not in (4, 7) and torch.equal(fh.krum(updates, f), updates[best])
    chosen = sorted(range(9), key=expected.__getitem__)[:6]
    assert torch.allclose(fh.multi_krum(updates, f, m=6), torch.stack(updates)[chosen].mean(dim=0))
    with pytest.raises(ValueError, match=r"Krum can select 7 updates but needs 8: 2 of the 9 updates hold NaN or "
                                         r"inf \(rows \[4, 7\]\)"):
        fh.multi_krum(updates, 1, m=8)


def test_too_many_non_finite_updates_for_krum_are_refused_by_name():
    _, updates = honest_and_attacked(7, 0, None)
    for k in (0, 2, 5):
        updates[k] = updates[k] * float("nan")
    # f = 1: each update is scored on its n - f - 2 = 4 nearest, and only 3 others are finite
    with pytest.raises(ValueError, match=r"3 of the 7 updates hold NaN or inf \(rows \[0, 2, 5\]\)"):
        fh.krum(updates, 1)


def test_median_and_trimmed_mean_treat_non_finite_values_as_the_most_extreme():
    _, updates = honest_and_attacked(11, 0, None)
    updates = [u.double() for u in updates]
    updates[2] = torch.full_like(updates[2], float("nan"))
    updates[5] = torch.full_like(updates[5], -float("inf"))
    # NaN ranks above +inf; numpy's median of the same values with NaN read as +inf is the reference
    array = torch.stack(updates).nan_to_num(nan=float("inf")).numpy()
    assert np.array_equal(fh.coordinate_median(updates).numpy(), np.median(array, axis=0))
    finite = np.sort(array, axis=0)[1:-1]
    assert np.allclose(fh.trimmed_mean(updates, 1).numpy(), finite.mean(axis=0), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"trimmed_mean: 2 of the 11 updates hold NaN or inf \(rows \[2, 5\]\)"):
        fh.trimmed_mean(updates, 0)
    for k in (0, 1, 3, 4, 6):  # six NaN above the middle and one -inf below it: the median is NaN
        updates[k] = updates[k] * float("nan")
    with pytest.raises(ValueError, match=r"coordinate_median: 7 of the 11 .*outvotes fewer than half"):
        fh.coordinate_median(updates)


def test_a_trimmed_mean_that_overflows_says_so():
    updates = [torch.full((3,), 3e38) for _ in range(3)]  # finite float32 values whose sum is not
    with pytest.raises(ValueError, match="overflowed to inf although every update is finite"):
        fh.trimmed_mean(updates, 0)
