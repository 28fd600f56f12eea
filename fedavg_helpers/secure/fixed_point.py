"""Fixed-point encoding of float tensors into the ring of integers mod 2**64, so masked and shared sums are exact.

A real number x is stored as the integer round(x * 2**frac_bits) in an int64 tensor. PyTorch's int64
addition wraps around modulo 2**64 (two's complement), so int64 tensors *are* the ring Z_(2**64): any sum
of ring elements, random masks and shares included, is exact. Decoding reads the result as a signed
integer in [-2**63, 2**63) and divides by 2**frac_bits. That is right only while the true (plain) sum
stays inside this range, so `FixedPoint.check_sum_fits` refuses before a sum could leave it, and
`FixedPoint.encode` refuses any value above the bound the sum was checked for.

Precision: encoding rounds to the nearest multiple of 2**-frac_bits, so one round trip (encode, then
decode to float64) is off by at most `precision` = 2**-(frac_bits + 1), half a step, for every value
`encode` accepts. The ring sum of n encodings is exact, but decoding it to float64 rounds once more: an
integer above 2**53 has no exact float64, so near the range limit (sums up to 2**63 units) the decoded sum
can be off by far more than n * precision (up to 2**-53 of its size, about 6e-5 at 5e11). The real bound,
`sum_error_bound(n, max_abs)`, is n * precision + 2**-53 * n * (max_abs + 2**-frac_bits).
"""

import math
from dataclasses import dataclass

import torch

_RING_MAX = 2**63 - 1  # the largest signed value an int64 ring element decodes to


@dataclass(frozen=True)
class FixedPoint:
    """Encoder config: floats become int64 ring elements with `frac_bits` fractional bits."""

    # 24 fractional bits match float32's 24-bit mantissa for values near 1, and leave 2**39 (about
    # 5.5e11) of integer headroom for sums: plenty for model updates summed over thousands of clients.
    frac_bits: int = 24

    def __post_init__(self):
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, int):
            raise TypeError(f"frac_bits must be an int, got {type(self.frac_bits).__name__}; "
                            "use e.g. FixedPoint(frac_bits=24)")
        if not 0 <= self.frac_bits <= 62:
            raise ValueError(f"Invalid frac_bits: {self.frac_bits}; use 0 <= frac_bits <= 62 (int64 has 63 value bits)")

    @property
    def scale(self) -> int:
        """The integer 2**frac_bits that one unit of the float becomes."""
        return 2**self.frac_bits

    @property
    def precision(self) -> float:
        """Largest round-trip error of one value: half a step, 2**-(frac_bits + 1)."""
        return 2.0 ** -(self.frac_bits + 1)

    def sum_error_bound(self, n_terms: int, max_abs: float) -> float:
        """Largest error of decode(sum of n_terms encodings of |x| <= max_abs) against the exact sum of the x."""
        self.check_sum_fits(n_terms, max_abs)
        # n roundings to the grid, then one rounding of the integer sum (|sum| <= n (max_abs + 2**-f)) to float64
        grid = n_terms * self.precision
        return grid + 2.0**-53 * n_terms * (max_abs + 2.0**-self.frac_bits) if max_abs else grid

    def max_abs_for_sum(self, n_terms: int) -> float:
        """Largest |x| such that a sum of n_terms encoded values of at most |x| cannot overflow."""
        _check_n_terms(n_terms)
        # Each term encodes to at most ceil(|x| * scale); the sum must stay <= 2**63 - 1.
        per_term = _RING_MAX // n_terms
        limit = per_term / self.scale
        if math.ceil(limit * self.scale) > per_term:  # the float division rounded up: step back one ulp
            limit = math.nextafter(limit, 0.0)
        return limit

    def check_sum_fits(self, n_terms: int, max_abs: float) -> None:
        """Raise OverflowError unless a sum of n_terms values with |x| <= max_abs decodes exactly."""
        _check_n_terms(n_terms)
        if isinstance(max_abs, bool) or not isinstance(max_abs, (int, float)) or not 0 <= max_abs < math.inf:
            raise ValueError(f"Invalid max_abs: {max_abs!r}; use a finite number >= 0 bounding every |x|")
        worst = n_terms * math.ceil(max_abs * self.scale)  # exact: Python ints do not overflow
        if worst > _RING_MAX:
            fewer = self.frac_bits
            while fewer > 0 and n_terms * math.ceil(max_abs * 2**fewer) > _RING_MAX:
                fewer -= 1
            fits = n_terms * math.ceil(max_abs * 2**fewer) <= _RING_MAX
            hint = f"or lower frac_bits to {fewer}" if fits else "or sum fewer terms"
            raise OverflowError(
                f"a sum of {n_terms} terms with |x| <= {max_abs:g} needs {worst.bit_length()} value bits at "
                f"frac_bits={self.frac_bits}, more than the 63 an int64 ring element holds; clip inputs to "
                f"|x| <= {self.max_abs_for_sum(n_terms):.6g} {hint}"
            )

    def encode(self, x: torch.Tensor, max_abs: float | None = None) -> torch.Tensor:
        """Encode a float tensor into int64 ring elements; refuse values beyond max_abs before they can wrap."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"encode expects a torch.Tensor, got {type(x).__name__}; wrap it with torch.as_tensor(...)")
        if not x.is_floating_point():
            raise TypeError(f"encode expects a floating-point tensor, got dtype {x.dtype}; call .double() first "
                            "(an int64 tensor may already be a ring element: then do not encode it again)")
        limit = self.max_abs_for_sum(1) if max_abs is None else max_abs
        if max_abs is not None:
            self.check_sum_fits(1, max_abs)
        x64 = x.detach().to(torch.float64)
        if x64.numel():
            if not torch.isfinite(x64).all():
                raise ValueError("encode got NaN or infinite values; a fixed-point ring holds finite numbers only")
            biggest = x64.abs().max().item()
            if biggest > limit:
                fix = ("raise max_abs" if max_abs is not None
                       else "use fewer fractional bits, e.g. FixedPoint(frac_bits=16), for a wider range")
                # full repr, not rounded: 1.0000001 against a bound of 1.0 must not read "1 exceeds 1"
                raise OverflowError(f"value {biggest!r} exceeds the agreed bound |x| <= {limit!r}; "
                                    f"clip the input (e.g. x.clamp(-max_abs, max_abs)) or {fix}")
        # x * 2**f is exact in float64 (a power-of-two scale); round() is then the only error.
        return torch.round(x64 * self.scale).to(torch.int64)

    def decode(self, v: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Decode int64 ring elements (e.g. a sum of encodings) back to floats, reading them as signed."""
        if not isinstance(v, torch.Tensor) or v.dtype != torch.int64:
            got = v.dtype if isinstance(v, torch.Tensor) else type(v).__name__
            raise TypeError(f"decode expects an int64 tensor of ring elements, got {got}; "
                            "encode floats with FixedPoint.encode")
        return (v.to(torch.float64) / self.scale).to(dtype)


def _check_n_terms(n_terms):
    if isinstance(n_terms, bool) or not isinstance(n_terms, int) or n_terms < 1:
        raise ValueError(f"Invalid n_terms: {n_terms!r}; use the number of values summed, an int >= 1")
