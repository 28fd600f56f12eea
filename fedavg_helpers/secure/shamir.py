"""Shamir t-of-n secret sharing (Shamir 1979, "How to Share a Secret"): t shares rebuild a secret, fewer reveal nothing.

The secret s is the constant term of a random polynomial f of degree t - 1 over the prime field GF(p);
share i is the point (i, f(i)). Any t points fix f and so s = f(0) (Lagrange interpolation). Any t - 1
points are matched by exactly one polynomial for *every* candidate secret, so they are uniformly
distributed whatever s is: they say nothing about it. Secure aggregation uses this to share 32-byte
seeds and private keys, so the field is GF(2**521 - 1), a Mersenne prime larger than every 256-bit
secret. Arithmetic uses Python's exact big integers.

With more than t shares, the extra ones are not ignored: each must lie on the polynomial through the first t
(checked at once, through a random combination of them), so a corrupted or relabelled share, or a threshold
other than the one the secret was split with, raises instead of returning a wrong secret. With exactly t
shares nothing can be checked: any t points fit some polynomial.
"""

import functools
import secrets

PRIME = 2**521 - 1  # Mersenne prime M521 > 2**256, so any 32-byte secret is a field element
SHARE_BYTES = (PRIME.bit_length() + 7) // 8  # 66 bytes to send one share value


def shamir_split(secret: int, threshold: int, n_shares: int, *, prime: int = PRIME, rng=None) -> list[tuple[int, int]]:
    """Split secret into n_shares points (x, f(x)), x = 1..n, of which any threshold rebuild it."""
    _check_prime(prime)
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
    """Rebuild the secret f(0) from at least threshold distinct shares (x, y); shares beyond threshold are checked."""
    shares = list(shares)
    _check_prime(prime)
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
    # The first threshold points fix the degree-(threshold - 1) polynomial: f(0) is the secret, and every
    # further share must be f at its x.
    used, extra = shares[:threshold], shares[threshold:]
    xs, ys = tuple(x for x, _ in used), [y for _, y in used]
    secret = sum(w * y for w, y in zip(_lagrange_weights(xs, (0,), prime)[0], ys)) % prime
    if extra and not _extra_shares_fit(xs, ys, extra, prime):
        bad = next(x for (x, y), row in zip(extra, _lagrange_weights(xs, tuple(x for x, _ in extra), prime))
                   if y != sum(w * yi for w, yi in zip(row, ys)) % prime)
        raise ValueError(f"the share at x = {bad} does not lie on the polynomial through the first {threshold} "
                         f"shares (x = {', '.join(map(str, xs))}): a share was corrupted or relabelled, or "
                         f"{threshold} is not the threshold the secret was split with; no secret is returned")
    return secret


def _extra_shares_fit(xs, ys, extra, prime) -> bool:
    """Whether every extra share (x_j, y_j) is f(x_j), checked at once through one random combination of them.

    sum_j r_j (y_j - f(x_j)) = sum_j r_j y_j - sum_i c_i y_i with c_i = sum_j r_j w_ji, and the c_i are cached
    with the r_j: t + e products a secret instead of t * e. Shares off the polynomial pass only if their errors
    happen to cancel under the random r_j, with probability about 1 / prime (2**-521 by default).
    """
    r, c = _combined_row(xs, tuple(x for x, _ in extra), prime)
    return (sum(rj * y for rj, (_, y) in zip(r, extra)) - sum(ci * y for ci, y in zip(c, ys))) % prime == 0


@functools.lru_cache(maxsize=64)
def _combined_row(xs: tuple, extra_xs: tuple, prime: int) -> tuple:
    """Random weights r_j for the extra points, drawn once per set of x coordinates, and c_i = sum_j r_j w_ji."""
    rows = _lagrange_weights(xs, extra_xs, prime)
    r = tuple(secrets.randbelow(prime - 1) + 1 for _ in extra_xs)
    return r, tuple(sum(rj * row[i] for rj, row in zip(r, rows)) % prime for i in range(len(xs)))


@functools.lru_cache(maxsize=64)
def _lagrange_weights(xs: tuple, targets: tuple, prime: int) -> tuple:
    """Rows w with f(z) = sum_i w_i f(x_i), one per target z: cached, since a server reuses one responder set."""
    t = len(xs)
    # w_i(z) = prod_{j != i} (z - x_j) / prod_{j != i} (x_i - x_j); the denominators do not depend on z
    inverses = []
    for i, xi in enumerate(xs):
        denominator = 1
        for j, xj in enumerate(xs):
            if j != i:
                denominator = denominator * (xi - xj) % prime
        inverses.append(pow(denominator, -1, prime))
    rows = []
    for z in targets:
        factors = [(z - xj) % prime for xj in xs]
        before, after = [1] * (t + 1), [1] * (t + 1)  # products of the factors left and right of each i
        for i in range(t):
            before[i + 1] = before[i] * factors[i] % prime
            after[t - 1 - i] = after[t - i] * factors[t - 1 - i] % prime
        rows.append(tuple(before[i] * after[i + 1] % prime * inverses[i] % prime for i in range(t)))
    return tuple(rows)


def _check_int(name, value, low, high, fix):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}; use {fix}")
    if not low <= value <= high:
        raise ValueError(f"Invalid {name}: {_short(value)}; use {fix}")


def _short(value: int) -> str:
    """An int as text a reader can take in: huge field elements by their size, not their 157 digits."""
    text = str(value)
    if len(text) <= 20:
        return text
    return f"{text[:8]}...({len(text.lstrip('-'))} digits, {abs(value).bit_length()} bits)"


def _check_prime(prime) -> None:
    if isinstance(prime, bool) or not isinstance(prime, int):
        raise TypeError(f"prime must be an int, got {type(prime).__name__}; use the default fh.SHAMIR_PRIME")
    if not _is_probable_prime(prime):
        raise ValueError(f"Invalid prime: {_short(prime)} is not prime; Shamir sharing needs a prime field, where "
                         "every nonzero difference of x coordinates has an inverse; use the default fh.SHAMIR_PRIME "
                         "(2**521 - 1) or another prime, e.g. 2**127 - 1")


_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)


@functools.lru_cache(maxsize=16)
def _is_probable_prime(n: int) -> bool:
    """Miller-Rabin with the first 20 primes as bases: exact below 3.3e24, and beyond that a composite passes with
    probability below 4**-20 unless it was built to fool these bases."""
    if n < 2:
        return False
    for p in _BASES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in _BASES:
        y = pow(a, d, n)
        if y in (1, n - 1):
            continue
        for _ in range(r - 1):
            y = y * y % n
            if y == n - 1:
                break
        else:
            return False
    return True
