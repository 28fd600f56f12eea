"""Additive and Shamir secret sharing: shares rebuild exactly, and too few shares look the same whatever the secret.

Statistical tests use fixed seeds, so they are deterministic; each threshold is set so that, for a
random seed, a correct implementation would fail with the probability stated beside it.
"""
import itertools
import random

import pytest
import sympy
import torch
from scipy import stats

import fedavg_helpers as fh
from fedavg_helpers.secure import shamir  # the module, for its primality test

FP = fh.FixedPoint()
ALPHA = 1e-4  # chi-square p-value threshold: a correct implementation fails with probability 1e-4 per check


def top_byte(v: torch.Tensor) -> torch.Tensor:
    """Bits 56..63 of each int64 as 0..255: bin 127 holds the largest ring values, 128 the most negative."""
    return (v >> 56) & 0xFF


def low_byte(v: torch.Tensor) -> torch.Tensor:
    return v & 0xFF


def chi_square_uniform_p(bins: torch.Tensor, n_bins: int = 256) -> float:
    counts = torch.bincount(bins.flatten(), minlength=n_bins).numpy()
    return stats.chisquare(counts).pvalue


def test_shares_reconstruct_the_encoding_exactly():
    g = torch.Generator().manual_seed(0)
    tensors = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    for n_shares in (2, 3, 5):
        shares = fh.share_tensors(tensors, n_shares, generator=g)
        assert len(shares) == n_shares and all(len(s) == 2 for s in shares)
        for total, t in zip(fh.add_shares(shares), tensors):
            assert torch.equal(total, FP.encode(t))
        for back, t in zip(fh.reconstruct_tensors(shares, dtype=torch.float64), tensors):
            assert (back - t.double()).abs().max().item() <= FP.precision


def test_shared_average_matches_the_plain_average():
    g = torch.Generator().manual_seed(1)
    clients = [[torch.randn(10, 3, generator=g), torch.randn(3, generator=g)] for _ in range(6)]
    average = fh.shared_average(clients, n_workers=3, generator=g, dtype=torch.float64)
    for i, got in enumerate(average):
        plain = torch.stack([c[i].double() for c in clients]).mean(dim=0)
        assert (got - plain).abs().max().item() <= FP.precision  # 6 errors of <= precision, divided by 6
    assert fh.shared_average(clients, 3, generator=g)[0].dtype == torch.float32


def test_summing_shares_on_each_worker_reveals_only_the_sum():
    # The notebook flow: bob and alice each share their model among three workers; each worker adds what it holds.
    g = torch.Generator().manual_seed(2)
    bobs, alices = [torch.randn(4, generator=g)], [torch.randn(4, generator=g)]
    bound = FP.max_abs_for_sum(2)  # the public bound both agree on, so that their sum fits the ring
    bob_shares = fh.share_tensors(bobs, 3, max_abs=bound, generator=g)
    alice_shares = fh.share_tensors(alices, 3, max_abs=bound, generator=g)
    on_workers = [fh.add_shares([bob_shares[w], alice_shares[w]]) for w in range(3)]
    total = fh.reconstruct_tensors(on_workers, dtype=torch.float64)[0]
    assert torch.equal(fh.add_shares(on_workers)[0], FP.encode(bobs[0]) + FP.encode(alices[0]))
    assert (total - (bobs[0] + alices[0]).double()).abs().max().item() <= 2 * FP.precision


def test_random_ring_is_uniform_including_the_top_of_the_range():
    g = torch.Generator().manual_seed(3)
    v = fh.random_ring((1 << 16,), generator=g)
    assert chi_square_uniform_p(top_byte(v)) > ALPHA
    assert chi_square_uniform_p(low_byte(v)) > ALPHA
    # Both ends of the signed range occur; a source of non-negative values only (say torch.randint(0, 2**62))
    # would leave bins 64..255 empty and fail the chi-square test above.
    assert (top_byte(v) == 127).sum() > 0 and (top_byte(v) == 128).sum() > 0
    os_random = fh.random_ring((1 << 16,))  # the default, cryptographic source
    assert chi_square_uniform_p(top_byte(os_random)) > 1e-9  # unseeded: a looser threshold, failure odds 1e-9


def test_a_share_alone_is_uniform_whatever_the_secret():
    # Share a constant secret many times and look at the share that was *computed* from it (the last),
    # for two very different secrets: each is uniform, and the two are indistinguishable.
    g = torch.Generator().manual_seed(4)
    n = 1 << 15
    last_shares = {}
    for secret in (0.0, 12345.678):
        x = torch.full((n,), secret, dtype=torch.float64)
        last_shares[secret] = fh.share_tensors([x], 3, generator=g)[2][0]
        assert chi_square_uniform_p(top_byte(last_shares[secret])) > ALPHA
        assert chi_square_uniform_p(low_byte(last_shares[secret])) > ALPHA
    table = torch.stack([torch.bincount(top_byte(s), minlength=256) for s in last_shares.values()]).numpy()
    assert stats.chi2_contingency(table).pvalue > ALPHA  # homogeneity: same distribution for both secrets


def test_a_seeded_generator_reproduces_the_shares():
    x = [torch.arange(5.0)]
    a = fh.share_tensors(x, 3, generator=torch.Generator().manual_seed(5))
    b = fh.share_tensors(x, 3, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a, b))


def test_additive_sharing_rejects_bad_input():
    x = [torch.ones(3)]
    with pytest.raises(ValueError, match="Invalid n_shares: 1"):
        fh.share_tensors(x, 1)
    with pytest.raises(TypeError, match="wrap it as \\[tensor\\]"):
        fh.share_tensors(torch.ones(3), 2)
    with pytest.raises(TypeError, match="not a torch.Tensor"):
        fh.share_tensors([1.0], 2)
    with pytest.raises(OverflowError, match="exceeds the agreed bound"):
        fh.share_tensors([torch.tensor([5.0])], 2, max_abs=1.0)
    shares = fh.share_tensors(x, 2)
    with pytest.raises(ValueError, match="shape"):
        fh.add_shares([shares[0], [torch.zeros(4, dtype=torch.int64)]])
    with pytest.raises(ValueError, match="has 2 tensors"):
        fh.add_shares([shares[0], shares[1] + shares[1]])
    with pytest.raises(TypeError, match="not int64"):
        fh.add_shares([shares[0], [torch.ones(3)]])
    with pytest.raises(ValueError, match="no share-lists"):
        fh.add_shares([])
    with pytest.raises(OverflowError, match="clip inputs to"):
        fh.shared_average([x, x], 2, max_abs=FP.max_abs_for_sum(1))
    with pytest.raises(OverflowError, match="exceeds the agreed bound"):
        fh.shared_average([x, [torch.tensor([3.0, 0, 0])]], 2, max_abs=2.0)


def test_adding_shares_of_values_whose_sum_could_wrap_is_refused():
    # Three values of 4e11 each fit the ring alone, but their sum 1.2e12 does not: it used to decode as 1.0e11.
    values = [[torch.tensor([4e11], dtype=torch.float64)] for _ in range(3)]
    wrapped = FP.decode(sum(FP.encode(v[0]) for v in values)).item()
    assert abs(wrapped - 1.2e12) > 1e12  # what silently came back
    shares = [fh.share_tensors(v, 2) for v in values]
    with pytest.raises(OverflowError, match=r"3 different values .* share each value with max_abs <= 1.83\d*e\+11 "
                                            r"\(encoder.max_abs_for_sum\(3\)\)"):
        fh.add_shares([s[0] for s in shares])
    with pytest.raises(OverflowError, match="exceeds the agreed bound"):  # the bound that fits refuses 4e11 up front
        fh.share_tensors(values[0], 2, max_abs=FP.max_abs_for_sum(3))
    bound = FP.max_abs_for_sum(3)
    fitting = [fh.share_tensors([torch.tensor([bound], dtype=torch.float64)], 2, max_abs=bound) for _ in range(3)]
    partials = [fh.add_shares([s[w] for s in fitting]) for w in range(2)]
    assert fh.reconstruct_tensors(partials, dtype=torch.float64)[0].item() == pytest.approx(3 * bound, rel=1e-15)


def test_shares_that_cannot_rebuild_their_value_are_refused():
    shares = fh.share_tensors([torch.tensor([0.5, -0.25])], 3)
    with pytest.raises(ValueError, match="got 2 of the 3 shares of a value"):
        fh.reconstruct_tensors(shares[:2])  # before: uniform noise came back as if it were the value
    with pytest.raises(ValueError, match="each share may be added once"):
        fh.add_shares([shares[0], shares[0]])
    with pytest.raises(ValueError, match="encoded with frac_bits=24 but are decoded with frac_bits=16"):
        fh.reconstruct_tensors(shares, encoder=fh.FixedPoint(16))
    coarse = fh.share_tensors([torch.tensor([0.5, -0.25])], 3, encoder=fh.FixedPoint(16), max_abs=1.0)
    fine = fh.share_tensors([torch.tensor([0.5, -0.25])], 3, max_abs=1.0)
    with pytest.raises(ValueError, match="mix values encoded with frac_bits \\[16, 24\\]"):
        fh.add_shares([coarse[0], fine[0]])
    by_hand = [[share[0].clone()] for share in shares]  # plain lists: nothing is known about their values
    with pytest.warns(RuntimeWarning, match="cannot check these share-lists for wrap-around"):
        total = fh.add_shares(by_hand)
    assert torch.equal(total[0], FP.encode(torch.tensor([0.5, -0.25])))


def test_empty_tensors_share_and_reconstruct():
    for shape in [(0,), (3, 0)]:
        assert fh.random_ring(shape).shape == shape and fh.random_ring(shape, torch.Generator()).shape == shape
    shares = fh.share_tensors([torch.zeros(0), torch.ones(2)], 3)  # before: a TypeError from random_ring
    empty, ones = fh.reconstruct_tensors(shares)
    assert empty.shape == (0,) and torch.equal(ones, torch.ones(2))


# --- Shamir t-of-n (Shamir 1979) ---

def test_the_shamir_field_is_a_prime_larger_than_any_32_byte_secret():
    assert sympy.isprime(fh.SHAMIR_PRIME) and fh.SHAMIR_PRIME > 2**256


def test_any_t_shares_rebuild_the_secret_and_more_do_no_harm():
    rng = random.Random(6)
    secret = rng.getrandbits(256)
    shares = fh.shamir_split(secret, 4, 7, rng=rng)
    for subset in itertools.chain(itertools.combinations(shares, 4), itertools.combinations(shares, 6)):
        assert fh.shamir_combine(list(subset), 4) == secret
    assert fh.shamir_combine(reversed(shares), 4) == secret


def test_fewer_than_t_shares_are_refused():
    shares = fh.shamir_split(42, 3, 5)
    with pytest.raises(ValueError, match="need at least threshold = 3 shares"):
        fh.shamir_combine(shares[:2], 3)


def test_fewer_than_t_shares_are_exactly_uniform_in_a_small_field():
    # Enumerate every polynomial over GF(13) with t = 3: for each secret, the pair of shares at x = 1, 2
    # takes each of the 13 * 13 values exactly once. The shares carry no information about the secret.
    p = 13

    class Counting:  # plays the random source: hands out a fixed list of coefficients
        def __init__(self, values):
            self.values = iter(values)

        def randrange(self, _):
            return next(self.values)

    for secret in range(p):
        seen = set()
        for a, b in itertools.product(range(p), repeat=2):
            shares = fh.shamir_split(secret, 3, 5, prime=p, rng=Counting([a, b]))
            seen.add((shares[0][1], shares[1][1]))
            assert fh.shamir_combine(shares[2:], 3, prime=p) == secret
        assert len(seen) == p * p


def test_fewer_than_t_shares_look_the_same_for_any_secret_statistically():
    # Real field: 2 shares of a 3-of-5 sharing, binned 8 x 8 by their top bits, for secret 0 and secret p - 1.
    rng = random.Random(7)
    draws, bins = 3000, 8
    tables = []
    for secret in (0, fh.SHAMIR_PRIME - 1):
        counts = [0] * (bins * bins)
        for _ in range(draws):
            shares = fh.shamir_split(secret, 3, 5, rng=rng)
            i, j = (shares[k][1] * bins // fh.SHAMIR_PRIME for k in (1, 3))
            counts[i * bins + j] += 1
        assert stats.chisquare(counts).pvalue > ALPHA  # uniform over the 64 cells
        tables.append(counts)
    assert stats.chi2_contingency(tables).pvalue > ALPHA  # and the same for both secrets


def test_shamir_rejects_bad_input():
    with pytest.raises(ValueError, match="Invalid threshold: 6"):
        fh.shamir_split(1, 6, 5)
    with pytest.raises(ValueError, match="Invalid secret"):
        fh.shamir_split(fh.SHAMIR_PRIME, 2, 3)
    with pytest.raises(TypeError, match="secret must be an int"):
        fh.shamir_split(b"secret", 2, 3)
    shares = fh.shamir_split(5, 2, 3)
    with pytest.raises(ValueError, match="repeated x"):
        fh.shamir_combine([shares[0], shares[0]], 2)
    with pytest.raises(TypeError, match="\\(x, y\\) tuple"):
        fh.shamir_combine([shares[0], [2, 3]], 2)
    with pytest.raises(ValueError, match="Invalid share x: 0"):
        fh.shamir_combine([(0, 1), shares[1]], 2)


def test_shares_beyond_the_threshold_are_checked_not_ignored():
    rng = random.Random(8)
    secret = rng.getrandbits(256)
    shares = fh.shamir_split(secret, 3, 6, rng=rng)
    corrupted = [(shares[0][0], (shares[0][1] + 1) % fh.SHAMIR_PRIME)] + shares[1:]
    relabelled = [(shares[1][0], shares[0][1]), (shares[0][0], shares[1][1])] + shares[2:]
    for bad in (corrupted, relabelled):
        # with exactly t shares nothing can be checked: a wrong secret comes back, as it must
        assert fh.shamir_combine(bad[:3], 3) != secret
        with pytest.raises(ValueError, match="does not lie on the polynomial through the first 3 shares"):
            fh.shamir_combine(bad, 3)  # before: the same wrong secret, although three more shares could tell
    four = fh.shamir_split(secret, 4, 6, rng=rng)
    with pytest.raises(ValueError, match="or 3 is not the threshold the secret was split with"):
        fh.shamir_combine(four, 3)  # before: a wrong secret from the first 3 of a 4-of-6 sharing
    assert fh.shamir_combine(four, 4) == fh.shamir_combine(four[2:], 4) == secret
    assert fh.shamir_combine(four, 2 + 2, prime=fh.SHAMIR_PRIME) == secret


def test_shamir_needs_a_prime_field_and_names_huge_numbers_briefly():
    import re
    for composite in (15, 2**64, (2**61 - 1) * (2**31 - 1), 561):  # 561 is a Carmichael number
        with pytest.raises(ValueError, match="is not prime"):  # before: "base is not invertible" later on
            fh.shamir_split(5, 2, 3, prime=composite)
        with pytest.raises(ValueError, match="is not prime"):
            fh.shamir_combine([(1, 2), (2, 3)], 2, prime=composite)
    assert [p for p in range(60) if shamir._is_probable_prime(p)] == list(sympy.primerange(60))
    assert shamir._is_probable_prime(2**127 - 1) and not shamir._is_probable_prime(2**127 + 1)
    for call in (lambda: fh.shamir_split(fh.SHAMIR_PRIME, 2, 3),
                 lambda: fh.shamir_combine([(1, fh.SHAMIR_PRIME), (2, 1)], 2)):
        with pytest.raises(ValueError) as err:
            call()
        assert "157 digits, 521 bits" in str(err.value) and not re.search(r"\d{30}", str(err.value))
