"""Fixed-point encoding: round trips within the stated precision, ring arithmetic wraps, overflow refused beforehand."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fedavg_helpers as fh

FP = fh.FixedPoint()
LIMIT = FP.max_abs_for_sum(1)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=-LIMIT, max_value=LIMIT, allow_nan=False), min_size=1, max_size=20),
       st.integers(min_value=0, max_value=62))
def test_round_trip_error_is_within_the_stated_precision(values, frac_bits):
    fp = fh.FixedPoint(frac_bits)
    limit = fp.max_abs_for_sum(1)
    x = torch.tensor([max(-limit, min(limit, v)) for v in values], dtype=torch.float64)
    back = fp.decode(fp.encode(x))
    assert (back - x).abs().max().item() <= fp.precision


def test_the_precision_bound_is_tight_at_half_steps():
    # Values exactly half a step from two grid points err by exactly `precision` (round half to even).
    step = 2.0 ** -FP.frac_bits
    x = torch.tensor([0.5 * step, 2.5 * step, -1.5 * step, 1000 + 0.5 * step], dtype=torch.float64)
    error = (FP.decode(FP.encode(x)) - x).abs()
    assert torch.equal(error, torch.full_like(x, FP.precision))
    assert FP.precision == 2.0 ** -25


def test_float32_inputs_round_trip_within_precision():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10_000, generator=g) * 100
    assert (FP.decode(FP.encode(x)) - x.double()).abs().max().item() <= FP.precision


def test_a_decoded_sum_is_within_n_times_precision_of_the_plain_sum():
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(1000, generator=g, dtype=torch.float64) * 10 for _ in range(50)]
    ring_sum = torch.stack([FP.encode(x) for x in xs]).sum(dim=0)
    exact = torch.tensor([math.fsum(float(x[i]) for x in xs) for i in range(1000)], dtype=torch.float64)
    assert (FP.decode(ring_sum) - exact).abs().max().item() <= 50 * FP.precision


def test_int64_arithmetic_wraps_like_the_ring():
    top = torch.tensor([2**63 - 1])
    assert (top + 1).item() == -(2**63)
    assert (torch.tensor([-(2**63)]) - 1).item() == 2**63 - 1
    # A value hidden under a mask that wraps many times comes back exactly.
    g = torch.Generator().manual_seed(2)
    x = FP.encode(torch.randn(1000, generator=g, dtype=torch.float64))
    mask = fh.random_ring((1000,), generator=g)
    assert torch.equal((x + mask) - mask, x)


def test_sums_up_to_the_checked_bound_decode_exactly():
    n = 7
    bound = FP.max_abs_for_sum(n)
    FP.check_sum_fits(n, bound)  # must not raise
    for sign in (1.0, -1.0):
        x = torch.full((3,), sign * bound, dtype=torch.float64)
        total = torch.stack([FP.encode(x, max_abs=bound)] * n).sum(dim=0)
        assert torch.allclose(FP.decode(total), n * x, rtol=1e-15, atol=0)
        assert (total.sign() == int(sign)).all()  # no wrap to the other sign


def test_overflow_is_refused_before_it_can_corrupt_a_sum():
    n = 7
    bound = FP.max_abs_for_sum(n)
    with pytest.raises(OverflowError, match="clip inputs to"):
        FP.check_sum_fits(n, math.nextafter(bound, math.inf))  # the bound is tight: one ulp more overflows
    with pytest.raises(OverflowError, match="lower frac_bits to"):
        FP.check_sum_fits(1000, 1e9)
    # What the guard prevents: encodings that each fit, whose sum silently wraps to the wrong sign.
    big = torch.tensor([0.75 * LIMIT], dtype=torch.float64)
    wrapped = FP.decode(FP.encode(big) + FP.encode(big))
    assert wrapped.item() < 0
    with pytest.raises(OverflowError, match="exceeds the agreed bound"):
        FP.encode(big, max_abs=FP.max_abs_for_sum(2) / 2)
    with pytest.raises(OverflowError, match="exceeds the agreed bound"):
        FP.encode(torch.tensor([2.0 * LIMIT], dtype=torch.float64))


@pytest.mark.parametrize("bad, error, match", [
    (torch.tensor([float("nan")]), ValueError, "NaN or infinite"),
    (torch.tensor([float("inf")]), ValueError, "NaN or infinite"),
    (torch.tensor([1, 2]), TypeError, "floating-point tensor"),
    ([1.0, 2.0], TypeError, "torch.Tensor"),
])
def test_encode_rejects_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        FP.encode(bad)


def test_bad_configs_and_arguments_are_named():
    with pytest.raises(ValueError, match="Invalid frac_bits: 63"):
        fh.FixedPoint(63)
    with pytest.raises(ValueError, match="Invalid frac_bits: -1"):
        fh.FixedPoint(-1)
    with pytest.raises(TypeError, match="frac_bits must be an int"):
        fh.FixedPoint(16.0)
    with pytest.raises(ValueError, match="Invalid n_terms: 0"):
        FP.check_sum_fits(0, 1.0)
    with pytest.raises(ValueError, match="Invalid max_abs"):
        FP.check_sum_fits(2, -1.0)
    with pytest.raises(ValueError, match="Invalid max_abs"):
        FP.check_sum_fits(2, float("inf"))
    with pytest.raises(TypeError, match="int64 tensor"):
        FP.decode(torch.ones(2))


def test_the_decoded_sum_stays_within_the_stated_bound_even_near_the_range_limit():
    from fractions import Fraction
    n = 3
    bound = FP.max_abs_for_sum(n)
    g = torch.Generator().manual_seed(3)
    xs = [(torch.rand(2000, generator=g, dtype=torch.float64) * 2 - 1) * bound for _ in range(n)]
    decoded = FP.decode(torch.stack([FP.encode(x, max_abs=bound) for x in xs]).sum(dim=0))
    errors = [abs(Fraction(d) - sum(Fraction(x[i].item()) for x in xs)) for i, d in enumerate(decoded.tolist())]
    assert max(errors) <= Fraction(FP.sum_error_bound(n, bound))
    # the bound once documented, n * precision, does not hold here: float64 cannot hold a 63-bit integer
    assert max(errors) > 100 * n * FP.precision
    assert FP.sum_error_bound(n, 1.0) == pytest.approx(n * FP.precision, rel=1e-8)  # small values: the grid dominates


def test_an_excess_is_shown_with_every_digit_it_needs():
    with pytest.raises(OverflowError, match=r"value 1.0000001192092896 exceeds the agreed bound \|x\| <= 1.0;"):
        FP.encode(torch.tensor([1.0000001]), max_abs=1.0)  # before: "value 1 exceeds the agreed bound |x| <= 1"
