"""Distributed DP in secure aggregation: the unmasked sum carries the claimed noise with and without dropouts, bad
settings are refused before any key exchange, epsilon is the accountant's, and the noise stops the crafted model.

Statistical tests use fixed seeds (deterministic); each threshold is a two-sided chi-square p-value of 1e-4, the
chance that a correct implementation would fail for a random seed. With d = 20,000 noisy entries the variance is
measured to about 1%, so noise sized for the n clients instead of the t survivors (10/7 times less variance) or
not added by some clients fails by far.
"""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch import optim

import fedavg_helpers as fh
from fedavg_helpers.aggregation.distributed_dp import TAIL
from fedavg_helpers.secure import secagg

ALPHA = 1e-4
N, T, D = 10, 7, 20_000
S, Z = 1.0, 0.5
RECOMMENDED = fh.DistributedDP(max_norm=0.3, noise_multiplier=1.0)  # notebook 09's setting


def inputs(n=N, d=D, seed=0, norm=3.0):
    """n vectors of norm `norm` (above S, so clipping matters), fixed by the seed."""
    g = torch.Generator().manual_seed(seed)
    return [v / v.norm() * norm for v in (torch.randn(d, generator=g, dtype=torch.float64) for _ in range(n))]


def clipped_sum(xs, survivors):
    """sum over survivors of x * min(1, S / |x|): the clients' clipping, in plain PyTorch."""
    return sum(xs[u] * min(1.0, S / xs[u].norm().item()) for u in survivors)


def variance_p(noise, variance):
    """Two-sided chi-square p-value that `noise` (mean 0) has the given variance per entry."""
    statistic = float((noise.pow(2) / variance).sum())
    cdf = stats.chi2.cdf(statistic, len(noise))
    return 2 * min(cdf, 1 - cdf)


@pytest.mark.parametrize("encoder", [None, fh.Quantizer(16)], ids=["fixed point", "quantised"])
@pytest.mark.parametrize("drops", [{}, {"drop_before_masking": {0, 4, 9}}, {"drop_before_unmasking": {1, 2}}],
                         ids=["no dropout", "n - t drop", "two drop late"])
def test_the_unmasked_sum_carries_the_claimed_noise(encoder, drops):
    xs = inputs()
    dp = fh.DistributedDP(S, Z)
    result = fh.secure_aggregate(xs, T, encoder=encoder, dp=dp, seed=1, **drops)
    m = len(result.survivors)
    assert m == N - len(drops.get("drop_before_masking", ()))
    noise = result.total - clipped_sum(xs, result.survivors)
    share = Z * S / math.sqrt(T)
    assert math.isclose(result.noise_std, share * math.sqrt(m), rel_tol=1e-12)
    assert variance_p(noise, m * share**2) > ALPHA  # the survivors' shares, no more, no less
    assert m * share**2 >= (Z * S) ** 2 - 1e-12  # never below what the accountant assumes
    assert abs(float(noise.mean())) < 5 * result.noise_std / math.sqrt(D)


def test_with_the_fewest_survivors_the_noise_is_exactly_the_claimed_sigma():
    xs = inputs(seed=2)
    result = fh.secure_aggregate(xs, T, dp=fh.DistributedDP(S, Z), seed=3, drop_before_sharing={1, 2, 3})
    assert len(result.survivors) == T
    assert variance_p(result.total - clipped_sum(xs, result.survivors), (Z * S) ** 2) > ALPHA
    # and with every client there, the price: sqrt(n / t) times the noise the guarantee needs
    assert math.isclose(fh.DistributedDP(S, Z).effective_multiplier(N, T), Z * math.sqrt(N / T))


def test_each_run_draws_fresh_noise_and_a_seed_replays_it():
    xs = inputs(n=3, d=50)
    dp = fh.DistributedDP(S, Z)
    first, again, other = (fh.secure_aggregate(xs, 2, dp=dp, seed=s).total for s in (5, 5, 6))
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_epsilon_is_the_accountants_gaussian_mechanism():
    dp = fh.DistributedDP(S, Z)
    result = fh.secure_aggregate(inputs(n=3, d=10), 2, dp=dp, seed=0)
    assert result.epsilon(1e-5) == fh.dp_epsilon(Z, 1.0, 1, 1e-5)
    assert dp.epsilon(1e-5, rounds=30) == fh.dp_epsilon(Z, 1.0, 30, 1e-5)
    assert math.isinf(fh.DistributedDP(S, 0.0).epsilon(1e-5))  # clipping alone promises nothing
    assert math.isinf(fh.secure_aggregate(inputs(n=3, d=10, norm=0.5), 2, seed=0).epsilon(1e-5))


def test_the_noisy_values_fit_the_ring_and_the_rounding_slack_is_negligible():
    dp = fh.DistributedDP(S, Z)
    assert math.isclose(dp.value_range(T), S + TAIL * Z * S / math.sqrt(T), rel_tol=1e-12)
    assert dp.encoding_slack(100, 67, 10**6, fh.Quantizer(16).step(dp.value_range(67))) < 1e-20
    assert dp.encoding_slack(100, 67, 10**6, 2.0**-24) < 1e-20
    # a share of 2 grid steps is refused: the rounding could show the data through
    assert dp.encoding_slack(100, 67, 1000, dp.share_std(67) / 2) > 1e-20


@pytest.mark.parametrize("call, error, words", [
    (lambda xs: fh.secure_aggregate(xs, 2, dp=fh.DistributedDP(S, Z), max_abs=1.0), ValueError,
     ["max_abs=1.0 is below the range the noisy values need"]),
    (lambda xs: fh.secure_aggregate(xs, 2, dp=fh.DistributedDP(S, 0.01), encoder=fh.Quantizer(4)), ValueError,
     ["encoding steps", "the guarantee would not hold"]),
    (lambda xs: fh.secure_aggregate(xs, 2, dp="on"), TypeError, ["dp must be a fh.DistributedDP"]),
    (lambda xs: fh.secure_aggregate(xs, 2, dp=fh.DistributedDP(S, -1.0)), ValueError,
     ["Invalid noise_multiplier: -1.0", "before any key exchange"]),
    (lambda xs: fh.secure_aggregate(xs, 2, dp=fh.DistributedDP(float("nan"), Z)), ValueError,
     ["Invalid max_norm: nan"]),
    (lambda xs: fh.secure_aggregate(xs, 2, dp=fh.DistributedDP(S, float("inf"))), ValueError,
     ["Invalid noise_multiplier: inf"]),
], ids=["range too small", "grid too coarse", "not a DistributedDP", "negative z", "NaN S", "infinite z"])
def test_bad_settings_are_refused_before_any_key_exchange(monkeypatch, call, error, words):
    def no_keys(self):
        raise AssertionError("a key exchange started")
    monkeypatch.setattr(secagg.SecAggClient, "advertise_keys", no_keys)
    with pytest.raises(error) as raised:
        call(inputs(n=3, d=10))
    for word in words:
        assert word in str(raised.value)


def test_the_simulator_aggregator_adds_the_noise_to_the_mean_and_counts_rounds():
    updates = torch.stack(inputs(n=N, d=5000, seed=4)).float()
    r = fh.RoundUpdates(updates, torch.full((N,), 13), list(range(N)), torch.zeros(5000), float(N), 100,
                        generator=torch.Generator().manual_seed(0))
    aggregator = fh.distributed_dp_aggregator(S, Z, threshold=0.6)  # t = floor(0.6 * 10) + 1 = 7
    step = aggregator(r).double()
    mean = clipped_sum([u.double() for u in updates], range(N)) / N
    assert variance_p(step - mean, (Z * S) ** 2 * (N / T) / N**2) > ALPHA
    aggregator(r)
    assert aggregator.rounds == 2 and aggregator.epsilon(1e-5) == fh.dp_epsilon(Z, 1.0, 2, 1e-5)


@pytest.fixture(scope="module")
def crafted_updates(digits):
    """The crafted model, 100 single-image owners (a seeded set) and each owner's update after one SGD step."""
    torch.manual_seed(0)
    crafted = fh.craft_model(fh.mlp(64, 256, 10), digits.x_test, seed=0)
    idx = torch.randperm(len(digits.x_train), generator=torch.Generator().manual_seed(0))[:100]
    x, y = digits.x_train[idx], digits.y_train[idx]
    updates = []
    for i in range(100):
        local = copy.deepcopy(crafted)
        opt = optim.SGD(local.parameters(), lr=0.1)
        F.cross_entropy(local(x[i:i + 1]), y[i:i + 1]).backward()
        opt.step()
        updates.append((fh.flatten_params(local) - fh.flatten_params(crafted)).double())
    return crafted, x, updates


def test_the_recommended_noise_stops_the_crafted_model_for_100_owners(digits, crafted_updates):
    crafted, x, updates = crafted_updates
    t = 67  # secure_aggregator's threshold for 100 clients
    # what the server unmasks: the sum of every owner's privatised update (the masks cancel exactly, and the
    # ring sum decodes to it within the encoding's rounding: test_secagg.py, and the test below end to end)
    for dp, reads in ((fh.DistributedDP(RECOMMENDED.max_norm, 0.0), True), (RECOMMENDED, False)):
        total = sum(dp.privatise(u, t, torch.Generator().manual_seed(k))[0] for k, u in enumerate(updates))
        result = fh.read_back(total, crafted, x, digits)
        if reads:  # clipping alone hides nothing: the read-back divides the clipping factor away
            assert result.recovered(30.0) >= 50
        else:
            assert result.recovered(20.0) == 0 and result.best_psnr() < 20.0


def test_the_noise_stops_the_read_back_through_the_protocol(digits, crafted_updates):
    crafted, x, updates = crafted_updates
    n = 12
    clip_only = fh.secure_aggregate(updates[:n], 9, encoder=fh.Quantizer(16), seed=0,
                                    dp=fh.DistributedDP(RECOMMENDED.max_norm, 0.0))
    assert fh.read_back(clip_only.total, crafted, x[:n], digits).recovered(30.0) >= n - 3
    noisy = fh.secure_aggregate(updates[:n], 9, encoder=fh.Quantizer(16), seed=0, dp=RECOMMENDED)
    result = fh.read_back(noisy.total, crafted, x[:n], digits)
    assert result.recovered(20.0) == 0 and result.best_psnr() < 20.0
