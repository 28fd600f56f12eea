"""DP-FedAvg (McMahan et al. 2018): clipping bounds every update, the noise has its stated std, epsilon fits theory."""
import math

import dp_accounting  # noqa: F401  (loads in 1-3 s: imported here, at collection, not inside the first test)
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

import fedavg_helpers as fh


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=4),
       st.floats(-6, 6), st.floats(0.01, 100), st.integers(0, 2**31))
def test_clipping_bounds_every_update_and_keeps_its_direction(shapes, log_scale, max_norm, seed):
    g = torch.Generator().manual_seed(seed)
    update = [torch.randn(shape, generator=g, dtype=torch.float64) * 10**log_scale for shape in shapes]
    clipped = fh.clip_update(update, max_norm)
    norm, clipped_norm = fh.global_norm(update), fh.global_norm(clipped)
    assert clipped_norm <= max_norm * (1 + 1e-12)
    if norm <= max_norm:
        assert all(torch.equal(a, b) for a, b in zip(clipped, update))  # small updates pass unchanged
    else:
        assert math.isclose(clipped_norm, max_norm, rel_tol=1e-9)
        factor = max_norm / norm  # one factor for all tensors: the direction is kept
        assert all(torch.allclose(a, b * factor, rtol=1e-12, atol=0) for a, b in zip(clipped, update))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([torch.float32, torch.bfloat16, torch.float16]), st.integers(1, 200),
       st.floats(-3, 3), st.floats(0.01, 10), st.integers(0, 2**31))
def test_clipping_keeps_its_promise_after_rounding_to_the_dtype(dtype, size, log_scale, max_norm, seed):
    # Before: x * (S / norm) rounded to float32 or bfloat16 overshot S in about half of all cases.
    g = torch.Generator().manual_seed(seed)
    update = (torch.randn(size, generator=g, dtype=torch.float64) * 10**log_scale).to(dtype)
    clipped = fh.clip_update(update, max_norm)
    assert clipped.dtype == dtype and fh.global_norm(clipped) <= max_norm
    norm = fh.global_norm(update)
    if norm > max_norm:  # still the scaled update, to within a few roundings of the dtype
        eps = torch.finfo(dtype).eps
        exact = update.double() * (max_norm / norm)
        assert ((clipped.double() - exact).abs() <= 3 * eps * exact.abs() + torch.finfo(dtype).tiny).all()
        assert fh.global_norm(clipped) >= max_norm * (1 - 4 * eps)


def test_an_update_with_nan_or_inf_is_refused_by_name():
    for bad in (float("nan"), float("inf")):
        update = {"w": torch.ones(3), "b": torch.tensor([1.0, bad])}
        with pytest.raises(ValueError, match=r"update holds 1 NaN or infinite entries \(tensor 'b'\)"):
            fh.clip_update(update, 1.0)  # before: NaN came back unclipped, and inf turned into NaN
        updates = [[torch.ones(2)], [torch.ones(2)], [torch.tensor([bad, 0.0])]]
        with pytest.raises(ValueError, match=r"updates\[2\] holds 1 NaN or infinite entries"):
            fh.dp_aggregate(updates, 1.0, 1.0)  # before: a NaN average and no error


def test_dict_updates_are_added_key_by_key_never_by_position():
    a = {"w": torch.tensor([0.1, 0.2]), "b": torch.tensor([0.3])}
    b = {"b": torch.tensor([0.05]), "w": torch.tensor([0.01, 0.02])}  # same keys, other order
    total = fh.dp_aggregate([a, b], 10.0, 0.0, expected_clients=1)
    assert list(total) == ["w", "b"]
    assert torch.allclose(total["w"], torch.tensor([0.11, 0.22])) and torch.allclose(total["b"], torch.tensor([0.35]))
    with pytest.raises(ValueError, match=r"updates\[1\] has keys \['v'\] that updates\[0\] lacks and lacks \['w'\]"):
        fh.dp_aggregate([a, {"v": torch.zeros(2), "b": torch.zeros(1)}], 1.0, 0.0)
    with pytest.raises(TypeError, match=r"updates\[1\] is a list but updates\[0\] is a dict"):
        fh.dp_aggregate([a, [torch.zeros(2), torch.zeros(1)]], 1.0, 0.0)


def test_the_norm_of_huge_finite_updates_does_not_overflow():
    update = [torch.tensor([3e200, 4e200], dtype=torch.float64)]
    assert fh.global_norm(update) == pytest.approx(5e200, rel=1e-15)
    clipped = fh.clip_update(update, 1.0)[0]  # before: the norm was inf and the update became all zeros
    assert torch.allclose(clipped, torch.tensor([0.6, 0.8], dtype=torch.float64), rtol=1e-15, atol=0)


def test_global_norm_is_the_norm_of_the_concatenation():
    update = {"w": torch.tensor([[3.0, 0.0]]), "b": torch.tensor([4.0])}
    assert fh.global_norm(update) == 5.0
    clipped = fh.clip_update(update, 1.0)
    assert list(clipped) == ["w", "b"] and torch.allclose(clipped["b"], torch.tensor([0.8]))
    assert isinstance(fh.clip_update(torch.tensor([3.0, 4.0]), 1.0), torch.Tensor)
    assert torch.equal(fh.clip_update(torch.zeros(3), 1.0), torch.zeros(3))  # a zero update is left alone


def test_dp_noise_has_the_stated_standard_deviation():
    # 10 clients, all-zero updates: the output is pure noise with std z * S / W.
    z, S, W, d = 1.3, 0.7, 10, 50_000
    g = torch.Generator().manual_seed(0)
    updates = [[torch.zeros(d, dtype=torch.float64)] for _ in range(W)]
    noise = fh.dp_aggregate(updates, S, z, generator=g)[0]
    std = fh.dp_noise_std(z, S, W)
    assert std == z * S / W
    # The sample std's relative standard error is 1 / sqrt(2 d) = 0.32%; a 2% miss is 6.3 standard errors
    # (false-failure probability ~ 3e-10). Likewise the mean is within 6 standard errors of 0.
    assert abs(noise.std().item() / std - 1) < 0.02
    assert abs(noise.mean().item()) < 6 * std / math.sqrt(d)
    assert stats.normaltest(noise.numpy()).pvalue > 1e-4  # and it is Gaussian (false failure 1e-4)


def test_the_aggregate_is_the_clipped_sum_over_the_fixed_denominator_plus_noise():
    g = torch.Generator().manual_seed(1)
    updates = [{"w": torch.randn(50_000, generator=g, dtype=torch.float64) * s} for s in (0.001, 0.01, 1.0, 5.0)]
    S, z, W = 1.0, 2.0, 10  # 4 clients showed up, but 10 were expected: divide by 10, not 4
    clipped_mean = sum(fh.clip_update(u, S)["w"] for u in updates) / W
    exact = fh.dp_aggregate(updates, S, 0.0, expected_clients=W)["w"]
    assert torch.allclose(exact, clipped_mean, rtol=1e-12, atol=0)
    noisy = fh.dp_aggregate(updates, S, z, expected_clients=W, generator=g)["w"]
    residual = noisy - clipped_mean
    # 50,000 samples: relative standard error of the std 0.32%; 2% is over 6 standard errors.
    assert abs(residual.std().item() / (z * S / W) - 1) < 0.02


def analytic_gaussian_epsilon(sigma: float, delta: float) -> float:
    """Exact epsilon of one Gaussian mechanism with sensitivity 1 (Balle and Wang 2018, Theorem 8)."""
    def delta_of(eps):
        return (stats.norm.cdf(0.5 / sigma - eps * sigma)
                - math.exp(eps) * stats.norm.cdf(-0.5 / sigma - eps * sigma) - delta)
    return optimize.brentq(delta_of, 0.0, 500.0)


@pytest.mark.parametrize("z, rounds", [(2.0, 1), (3.0, 10), (5.0, 100)])
def test_epsilon_without_sampling_matches_the_exact_gaussian(z, rounds):
    # With sample rate 1, `rounds` Gaussian mechanisms of noise z compose to one with noise z / sqrt(rounds).
    exact = analytic_gaussian_epsilon(z / math.sqrt(rounds), 1e-5)
    pld = fh.dp_epsilon(z, 1.0, rounds, 1e-5, accountant="pld")
    rdp = fh.dp_epsilon(z, 1.0, rounds, 1e-5)
    assert math.isclose(pld, exact, rel_tol=0.01)  # PLD is tight
    assert exact <= rdp <= 1.3 * exact  # RDP is a valid but looser upper bound


def test_epsilon_grows_with_rounds_and_shrinks_with_noise_and_sampling():
    base = fh.dp_epsilon(1.1, 0.01, 1000, 1e-5)
    assert fh.dp_epsilon(1.1, 0.01, 2000, 1e-5) > base
    assert fh.dp_epsilon(2.0, 0.01, 1000, 1e-5) < base
    assert fh.dp_epsilon(1.1, 0.001, 1000, 1e-5) < base
    assert fh.dp_epsilon(1.1, 0.01, 0, 1e-5) == 0.0
    # Privacy amplification by sampling: 1000 rounds at q = 0.01 cost far less than 10 rounds at q = 1.
    assert base < fh.dp_epsilon(1.1, 1.0, 10, 1e-5)


def test_poisson_sampling_has_the_stated_rate():
    g = torch.Generator().manual_seed(2)
    joined = sum(len(fh.poisson_sample_clients(1000, 0.1, g)) for _ in range(100))
    # Binomial(100000, 0.1): std 95; 6 std (false failure ~ 1e-9) is 570.
    assert abs(joined - 10_000) < 570
    assert fh.poisson_sample_clients(5, 1.0, g) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("call, error, match", [
    (lambda: fh.clip_update([torch.ones(2)], 0.0), ValueError, "Invalid max_norm: 0.0"),
    (lambda: fh.clip_update([torch.ones(2)], float("nan")), ValueError, "Invalid max_norm: nan"),
    (lambda: fh.clip_update([torch.ones(2, dtype=torch.int64)], 1.0), TypeError, "floating-point"),
    (lambda: fh.clip_update("update", 1.0), TypeError, "a tensor, a list of tensors or a dict"),
    (lambda: fh.dp_aggregate([[torch.ones(2)]], 1.0, -0.5), ValueError, "Invalid noise_multiplier: -0.5"),
    (lambda: fh.dp_aggregate([[torch.ones(2)], [torch.ones(3)]], 1.0, 1.0), ValueError, "same model"),
    (lambda: fh.dp_aggregate([], 1.0, 1.0), ValueError, "no updates"),
    (lambda: fh.dp_aggregate([[torch.ones(2)]], 1.0, 1.0, expected_clients=0), ValueError, "Invalid expected_clients"),
    (lambda: fh.dp_epsilon(1.0, 1.5, 10, 1e-5), ValueError, "Invalid sample_rate: 1.5"),
    (lambda: fh.dp_epsilon(1.0, 0.1, 10, 0.0), ValueError, "Invalid delta: 0.0"),
    (lambda: fh.dp_epsilon(1.0, 0.1, -1, 1e-5), ValueError, "Invalid rounds: -1"),
    (lambda: fh.dp_epsilon(0.0, 0.1, 10, 1e-5), ValueError, "Invalid noise_multiplier: 0.0"),
    (lambda: fh.dp_epsilon(1.0, 0.1, 10, 1e-5, accountant="moments"), ValueError, "Invalid accountant"),
    (lambda: fh.poisson_sample_clients(0, 0.5), ValueError, "Invalid n_clients: 0"),
])
def test_bad_arguments_are_named_with_the_fix(call, error, match):
    with pytest.raises(error, match=match):
        call()
