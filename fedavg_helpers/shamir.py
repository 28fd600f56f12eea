"""Shamir t-of-n secret sharing (Shamir 1979, "How to Share a Secret"): t shares rebuild a secret, fewer reveal nothing.

The secret s is the constant term of a random polynomial f of degree t - 1 over the prime field GF(p);
share i is the point (i, f(i)). Any t points fix f and so s = f(0) (Lagrange interpolation). Any t - 1
points are matched by exactly one polynomial for *every* candidate secret, so they are uniformly
distributed whatever s is: they say nothing about it. Secure aggregation uses this to share 32-byte
seeds and private keys, so the field is GF(2**521 - 1), a Mersenne prime larger than every 256-bit
secret. Arithmetic uses Python's exact big integers.
"""

import functools
import secrets

PRIME = 2**521 - 1  # Mersenne prime M521 > 2**256, so any 32-byte secret is a field element
SHARE_BYTES = (PRIME.bit_length() + 7) // 8  # 66 bytes to send one share value


def shamir_split(secret: int, threshold: int, n_shares: int, *, prime: int = PRIME, rng=None) -> list[tuple[int, int]]:
    """Split secret into n_shares points (x, f(x)), x = 1..n, of which any threshold rebuild it."""
    _check_int("secret", secret, 0, prime - 1, "a field element 0 <= secret < prime")
    _check_int("n_shares", n_shares, 1, prime - 1, "an int with 1 <= n_shares < prime")
    _check_int("threshold", threshold, 1, n_shares, f"an int with 1 <= threshold <= n_shares = {n_shares}")
    rng = secrets.SystemRandom() if rng is None else rng
    coefficients = [secret] + [rng.randrange(prime) for _ in range(threshold - 1)]
    shares = []
    for x in range(1, n_shares + 1):
        y = 0
        for c in reversed(coefficients):  # Horner's rule: f(x) = c0 + x (c1 + x (c2 + ...))
            y = (y * x + c) % prime
        shares.append((x, y))
    return shares


def shamir_combine(shares, threshold: int, *, prime: int = PRIME) -> int:
    """Rebuild the secret f(0) from at least threshold distinct shares (x, y) by Lagrange interpolation."""
    shares = list(shares)
    _check_int("threshold", threshold, 1, prime - 1, "an int >= 1, the threshold the secret was split with")
    if len(shares) < threshold:
        raise ValueError(f"need at least threshold = {threshold} shares to rebuild the secret, got {len(shares)}; "
                         "fewer shares fit every secret equally well, so collect more")
    for share in shares:
        if not (isinstance(share, tuple) and len(share) == 2):
            raise TypeError(f"each share must be an (x, y) tuple of ints, got {share!r}")
        _check_int("share x", share[0], 1, prime - 1, "an int with 1 <= x < prime")
        _check_int("share y", share[1], 0, prime - 1, "an int with 0 <= y < prime")
    xs = [x for x, _ in shares]
    if len(set(xs)) != len(xs):
        raise ValueError(f"shares have repeated x coordinates {sorted(xs)}; pass each share once")
    # Exactly threshold points determine the degree-(threshold - 1) polynomial; more add nothing.
    used = shares[:threshold]
    weights = _lagrange_weights(tuple(x for x, _ in used), prime)
    return sum(w * y for w, (_, y) in zip(weights, used)) % prime


@functools.lru_cache(maxsize=64)
def _lagrange_weights(xs: tuple, prime: int) -> tuple:
    """Weights w_i with f(0) = sum w_i f(x_i): cached, since a server reuses one responder set many times."""
    weights = []
    for i, xi in enumerate(xs):
        numerator, denominator = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                numerator = numerator * xj % prime
                denominator = denominator * (xj - xi) % prime
        weights.append(numerator * pow(denominator, -1, prime) % prime)
    return tuple(weights)


def _check_int(name, value, low, high, fix):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}; use {fix}")
    if not low <= value <= high:
        raise ValueError(f"Invalid {name}: {value}; use {fix}")
