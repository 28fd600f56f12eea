"""Stochastic b-bit quantisation of floats in an agreed range: small integers whose sum is exact in a small ring.

Every client clips each entry to the range [-max_abs, max_abs] all clients agreed on, and maps it onto the
L + 1 = 2**b levels 0, 1, ..., L of that range: t = (x + max_abs) / step with step = 2 max_abs / L. It then
rounds t down or up at random, up with probability t - floor(t) (stochastic rounding), so the expected level
is t itself: the quantised value is unbiased, E[q] = t. Each level is an integer below 2**b, so the sum of n
of them is below n * 2**b <= 2**(b + ceil(log2 n)): it fits, exactly, in the ring Z_(2**k) with
k = b + ceil(log2 n) (`ring_bits`), and no margin beyond that is needed. Secure aggregation masks the levels
in that ring (secagg.py), which is why its masked vectors can be smaller than the plain float32 vector.

Error: rounding moves each entry by less than one step, so the decoded sum of n clients differs from the sum
of their clipped inputs by less than n * step, plus float64 rounding of the decode (`sum_error_bound`);
its expected value is that sum (unbiased). Entries outside the range are clipped, and counted.
"""
import math
from dataclasses import dataclass

import torch

MAX_RING_BITS = 53  # a ring sum of up to 53 bits converts to float64 exactly


@dataclass(frozen=True)
class Quantizer:
    """b-bit stochastic quantisation of the range [-max_abs, max_abs] that every client agrees on."""

    # 16 bits, as Bonawitz et al. (2017) use: a step of 2 * max_abs / 65535, far below the noise of SGD
    bits: int = 16

    def __post_init__(self):
        if isinstance(self.bits, bool) or not isinstance(self.bits, int):
            raise TypeError(f"bits must be an int, got {self.bits!r} ({type(self.bits).__name__}); "
                            "use e.g. Quantizer(bits=16)")
        if not 1 <= self.bits <= 32:
            raise ValueError(f"Invalid bits: {self.bits}; use 1 <= bits <= 32 (16 keeps digits accuracy; fewer bits "
                             "mean coarser steps, more bits a wider ring on the wire)")

    @property
    def levels(self) -> int:
        """L = 2**bits - 1: the largest level; the range is cut into L equal steps."""
        return 2**self.bits - 1

    def step(self, max_abs: float) -> float:
        """The distance between two levels: 2 max_abs / (2**bits - 1)."""
        return 2 * _check_range(max_abs) / self.levels

    def ring_bits(self, n_terms: int) -> int:
        """k = bits + ceil(log2 n): the smallest power-of-two ring Z_(2**k) that holds a sum of n levels exactly."""
        _check_terms(n_terms)
        return self.bits + math.ceil(math.log2(n_terms)) if n_terms > 1 else self.bits

    def encode(self, x: torch.Tensor, max_abs: float, generator: torch.Generator | None = None):
        """Clip x to [-max_abs, max_abs] and round it stochastically to levels; return (levels, entries clipped)."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"encode expects a floating-point tensor, got {got}")
        step = self.step(max_abs)
        x64 = x.detach().to(torch.float64)
        if not torch.isfinite(x64).all():
            raise ValueError(f"encode got {int((~torch.isfinite(x64)).sum())} NaN or infinite values; only finite "
                             "numbers can be quantised")
        clipped = int((x64.abs() > max_abs).sum())
        t = ((x64.clamp(-max_abs, max_abs) + max_abs) / step).clamp(0, self.levels)  # in [0, L] despite rounding
        low = t.floor()
        up = torch.rand(t.shape, generator=generator, dtype=torch.float64) < (t - low)  # P(up) = t - floor(t)
        return (low + up).to(torch.int64), clipped

    def decode_sum(self, total: torch.Tensor, n_terms: int, max_abs: float) -> torch.Tensor:
        """The float64 sum of n_terms clients' values from the exact sum of their levels: total * step - n max_abs."""
        if not isinstance(total, torch.Tensor) or total.dtype != torch.int64:
            raise TypeError("total must be an int64 tensor: the exact sum of the clients' levels")
        _check_terms(n_terms)
        return total.to(torch.float64) * self.step(max_abs) - n_terms * float(max_abs)

    def sum_error_bound(self, n_terms: int, max_abs: float) -> float:
        """Largest |decoded sum - sum of the clipped inputs|: n steps of rounding, plus float64 rounding."""
        _check_terms(n_terms)
        # each level is within one step of t; the decode's three float64 operations add under 6 units of 2**-53
        # of n * max_abs (|total * step| <= 2 n max_abs), which 2**-50 * n * max_abs covers
        return n_terms * self.step(max_abs) + 2.0**-50 * n_terms * max_abs


def _check_range(max_abs) -> float:
    if isinstance(max_abs, bool) or not isinstance(max_abs, (int, float)) or not 0 < max_abs < math.inf:
        raise ValueError(f"Invalid max_abs: {max_abs!r}; use a finite number > 0, the agreed range [-max_abs, "
                         "max_abs] every entry is clipped to")
    return float(max_abs)


def _check_terms(n_terms) -> None:
    if isinstance(n_terms, bool) or not isinstance(n_terms, int) or n_terms < 1:
        raise ValueError(f"Invalid n_terms: {n_terms!r}; use the number of values summed, an int >= 1")
