"""Distributed differential privacy: each client clips its update and adds its share of the Gaussian noise before
masking, so the sum that secure aggregation unmasks already carries the full noise and nobody sees it noise-free.

Client u sends the secure-aggregation protocol (secagg.py) the vector

    clip(x_u, S) + N(0, s**2 I),     s = z S / sqrt(t),

where S is the clipping norm, z the noise multiplier and t the protocol's threshold: the server never unmasks a
sum of fewer than t inputs (it stops with DropoutError), so however many of the n clients drop out, the sum
carries variance m s**2 >= t s**2 = (z S)**2, the noise of the Gaussian mechanism that the accountant assumes.
Nobody has to be trusted with the noise: no client knows more than its own share, and the server sees only the
noisy sum. The price: when m > t clients survive, the noise is sqrt(m / t) times what the guarantee needs
(noise multiplier z sqrt(m / t)); at n = 100, t = 67 and no dropout, 1.22 times.

What the guarantee covers, exactly:
- Neighbouring federations differ in one client's update, replaced by zero while the client still takes part:
  the sum moves by at most S, the noise is the same, so one round is the Gaussian mechanism with noise
  multiplier z (`epsilon`, through fh.dp_epsilon and dp-accounting, q = 1). The server sees who takes part, so
  participation itself is not hidden, and no amplification by sampling is claimed against it.
- The protocol's parties follow it: clients clip and add their share honestly, and no client reveals its share;
  each of c clients that collude with the server and subtract their shares lowers the variance by s**2.
  Malicious clients that skip clipping are not stopped (that needs proofs of the bound).
- Encoding. The noisy values are clamped to +-(S + 12 s) (for every entry of every client, beyond 12 standard
  deviations of the noise: probability below 4e-33 each) and then rounded to the encoder's grid (FixedPoint
  steps of 2**-f, or a Quantizer's levels) before masking. The clamp bounds every entry, so the ring sum
  cannot wrap (SecAggConfig checks it). Rounding acts on each client's noisy value, not on the noisy sum, so
  it is not post-processing of the Gaussian mechanism by itself; but because the noise comes first and spans
  many grid steps, the rounding errors are nearly independent of the data: by Poisson summation, the released
  sum is within total variation `encoding_slack` of a post-processing of the exact Gaussian sum, and the
  guarantee holds at delta + (1 + e**eps) * slack. secure_aggregate refuses settings where this bound exceeds
  1e-20 (for 100 clients and 20,000 entries: a share below about 18 grid steps).
- The noise is torch's float64 Gaussian, an approximation of the ideal continuous one; floating-point
  samplers have broken DP implementations before (Mironov 2012). This is why Kairouz, Liu and Steinke 2021
  ("The Distributed Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML) and
  Agarwal, Kairouz and Liu 2021 ("The Skellam Mechanism for Differentially Private Federated Learning",
  NeurIPS) round the clipped update to integers first and add integer noise (discrete Gaussian, or Skellam,
  whose sums stay Skellam), then account for the exact integer sum. This module implements the simpler
  continuous Gaussian shares before encoding, with the rounding argued as above, not their discrete mechanisms.
"""
import math
from dataclasses import dataclass

import torch

from ..secure.fixed_point import FixedPoint
from ..secure.quantize import Quantizer
from .dp import clip_update, dp_epsilon

TAIL = 12.0  # the clamp sits this many noise standard deviations beyond the clipping norm
MAX_SLACK = 1e-20  # largest total-variation gap from the exact Gaussian sum that secure_aggregate accepts


@dataclass(frozen=True)
class DistributedDP:
    """Distributed DP for secure aggregation: clip to max_norm, add a share of N(0, (z S)^2 / t) before masking."""

    max_norm: float  # S: every client's update is clipped to this L2 norm
    noise_multiplier: float  # z: the unmasked sum carries at least N(0, (z S)^2) per entry; 0 clips only

    def __post_init__(self):
        for name in ("max_norm", "noise_multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
            low = "> 0" if name == "max_norm" else ">= 0 (0 clips without noise: no privacy)"
            if not math.isfinite(value) or value < 0 or (name == "max_norm" and value == 0):
                raise ValueError(f"Invalid {name}: {value!r}; use a finite number {low}. Refused before any key "
                                 "exchange, so nothing was sent")

    def share_std(self, threshold: int) -> float:
        """s = z S / sqrt(t): one client's noise std, so that any t surviving shares add up to (z S)^2."""
        return self.noise_multiplier * self.max_norm / math.sqrt(_check_threshold(threshold))

    def noise_std(self, survivors: int, threshold: int) -> float:
        """Std of the noise in the unmasked sum of `survivors` clients: s sqrt(m), at least z S for m >= t."""
        return self.share_std(threshold) * math.sqrt(_check_threshold(survivors))

    def effective_multiplier(self, survivors: int, threshold: int) -> float:
        """The noise multiplier the sum really carries, z sqrt(m / t): above z when more than t clients survive."""
        return self.noise_std(survivors, threshold) / self.max_norm

    def value_range(self, threshold: int) -> float:
        """The bound every noisy entry is clamped to before encoding: S + 12 s."""
        return self.max_norm + TAIL * self.share_std(threshold)

    def epsilon(self, delta: float, rounds: int = 1) -> float:
        """Epsilon after `rounds` releases in which one client takes part (Gaussian mechanism, q = 1), at delta."""
        if self.noise_multiplier == 0:
            return math.inf
        return dp_epsilon(self.noise_multiplier, 1.0, rounds, delta)

    def encoding_slack(self, n_clients: int, threshold: int, vector_size: int, step: float) -> float:
        """Total-variation bound between the released sum and a post-processing of the exact Gaussian sum.

        Two parts: some entry reaching the clamp (n d erfc(12 / sqrt 2)), and the data showing through the
        rounding. For the latter, given the noisy sum T of m values, the values' positions within a grid step
        are spread over a torus; by Poisson summation their density differs from uniform by at most
        sum over nonzero k of exp(-2 pi^2 (s / h)^2 |P k|^2) <= (1 + 2 e^-b / (1 - e^-b))^(m-1) - 1 per entry,
        with b = 2 pi^2 (s / h)^2 / m, P the projection orthogonal to (1, ..., 1) and h the step.
        """
        s = self.share_std(threshold)
        n, d = n_clients, vector_size
        clamp = n * d * math.erfc(TAIL / math.sqrt(2))
        if s == 0:
            return math.inf
        b = 2 * math.pi**2 * (s / step) ** 2 / n
        if b > 700:  # e^-b underflows: the rounding term is below 1e-300
            return clamp
        u = 2 * math.exp(-b) / -math.expm1(-b)
        return clamp + d * math.expm1((n - 1) * math.log1p(u))

    def check(self, n_clients: int, threshold: int, vector_size: int, max_abs: float, encoder) -> None:
        """Raise before any key exchange unless the range holds every clamped value and the rounding slack is tiny."""
        needed = self.value_range(threshold)
        if max_abs < needed:
            raise ValueError(f"max_abs={max_abs!r} is below the range the noisy values need, S + {TAIL:g} s = "
                             f"{needed:.6g}; leave max_abs=None with dp= and secure_aggregate uses that range")
        if self.noise_multiplier == 0:
            return  # clipping only: no guarantee is claimed, so no slack to bound
        step = 2.0**-encoder.frac_bits if isinstance(encoder, FixedPoint) else encoder.step(max_abs)
        slack = self.encoding_slack(n_clients, threshold, vector_size, step)
        if slack > MAX_SLACK:
            finer = (f"more bits than Quantizer(bits={encoder.bits}), or the FixedPoint default"
                     if isinstance(encoder, Quantizer) else f"more frac_bits than {encoder.frac_bits}")
            raise ValueError(f"a noise share of std {self.share_std(threshold):.3g} is only "
                             f"{self.share_std(threshold) / step:.3g} encoding steps of {step:.3g}: rounding it "
                             f"could show the data through (total-variation slack {slack:.3g} > {MAX_SLACK:g}), so "
                             f"the guarantee would not hold; use a finer encoder ({finer}), or more noise")

    def privatise(self, x: torch.Tensor, threshold: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
        """One client's step before encoding: clip x to S, add its noise share, clamp; return (values, n clamped)."""
        clipped = clip_update(x.detach().to(torch.float64), self.max_norm)
        noisy = clipped + torch.randn(x.shape, generator=generator, dtype=torch.float64) * self.share_std(threshold)
        bound = self.value_range(threshold)
        clamped = int((noisy.abs() > bound).sum())
        return noisy.clamp(-bound, bound), clamped


def _check_threshold(t) -> int:
    if isinstance(t, bool) or not isinstance(t, int) or t < 1:
        raise ValueError(f"Invalid threshold: {t!r}; use the number of inputs the protocol needs, an int >= 1")
    return t
