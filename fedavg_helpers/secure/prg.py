"""Cryptographic pseudo-random generator: expand a 32-byte seed into many uniform ring elements.

Masks in secure aggregation must look uniformly random to anyone without the seed, so they come from
AES-256 in counter mode (the `cryptography` package; hardware AES makes 10**6 entries take a few
milliseconds), not from torch's Mersenne Twister, whose state can be recovered from its output.
The keystream bytes are uniform, read 8 at a time as int64 (every one of the 2**64 values equally
likely) or 4 at a time as int32. A ring Z_(2**k) with k <= 32 takes the low k bits of an int32 word:
2**k divides 2**32, so every residue is hit by exactly 2**(32 - k) words and the reduction has no bias.

Nothing here is shared between calls: every call owns its buffers, so aggregations may run in
several threads at once.
"""

import torch
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEED_BYTES = 32
_BLOCK = 16
# Counter mode starts at block 0. That is safe because a seed expands exactly one stream: every
# aggregation makes fresh keys and seeds, and no seed is reused for a second purpose.
_NONCE = bytes(_BLOCK)
# Keystream is made and added in chunks of this many bytes: a buffer that stays in cache, reused
# within one call, costs a third less than a fresh 8 MB buffer for 10**6 entries (no pages to fault in).
_CHUNK_BYTES = 1 << 18
_ZEROS = bytes(_CHUNK_BYTES)  # immutable: encrypting zeros yields the raw keystream
_RING_DTYPES = (torch.int64, torch.int32)


def expand_seed(seed: bytes, n: int, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """Expand a 32-byte seed into n uniform ring elements of `dtype` (the same seed gives the same vector)."""
    _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"Invalid n: {n!r}; use the number of ring elements wanted, an int >= 0")
    _check_dtype(dtype)
    return add_expanded_(torch.zeros(n, dtype=dtype), seed)


def add_expanded_(acc: torch.Tensor, seed: bytes, sign: int = 1) -> torch.Tensor:
    """Add (sign=1) or subtract (sign=-1) expand_seed(seed, len(acc), acc.dtype) into acc in place; return acc."""
    if (not isinstance(acc, torch.Tensor) or acc.dtype not in _RING_DTYPES or acc.dim() != 1
            or not acc.is_contiguous()):
        raise TypeError("acc must be a contiguous 1-D int64 or int32 tensor of ring elements")
    if sign not in (1, -1):
        raise ValueError(f"Invalid sign: {sign!r}; use 1 to add the mask or -1 to subtract it")
    _check_seed(seed)
    n, width = acc.numel(), acc.element_size()
    if not n:
        return acc
    per_chunk = min(_CHUNK_BYTES // width, n)
    out = bytearray(per_chunk * width + _BLOCK - 1)  # update_into wants room for one block more than it writes
    keystream = torch.frombuffer(out, dtype=acc.dtype, count=per_chunk)
    zeros = memoryview(_ZEROS)
    encryptor = Cipher(algorithms.AES(bytes(seed)), modes.CTR(_NONCE)).encryptor()
    if n == per_chunk:  # one chunk: no slicing
        encryptor.update_into(zeros[:n * width], out)
        return acc.add_(keystream, alpha=sign)  # integer addition wraps: this is addition in the ring
    for start in range(0, n, per_chunk):
        m = min(per_chunk, n - start)
        encryptor.update_into(zeros[:m * width], out)  # the stream continues where the last chunk ended
        acc[start:start + m].add_(keystream[:m], alpha=sign)
    return acc


def derive_seed(shared_secret: bytes, purpose: bytes) -> bytes:
    """Turn a key-agreement secret into a 32-byte seed for one purpose with HKDF-SHA256 (RFC 5869)."""
    if not isinstance(shared_secret, (bytes, bytearray)) or not shared_secret:
        raise ValueError("shared_secret must be non-empty bytes, e.g. the output of X25519PrivateKey.exchange(...)")
    if not isinstance(purpose, bytes):
        raise TypeError(f"purpose must be bytes naming what the seed is for, got {type(purpose).__name__}")
    # X25519 outputs are not uniform bit strings; HKDF extracts a uniform key from them, and `purpose`
    # keeps keys for different uses (masks, share encryption) independent.
    return HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=None, info=purpose).derive(bytes(shared_secret))


def _check_seed(seed):
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
        got = f"{len(seed)} bytes" if isinstance(seed, (bytes, bytearray)) else type(seed).__name__
        raise ValueError(f"seed must be {SEED_BYTES} bytes, got {got}; "
                         "derive one with derive_seed(...) or os.urandom(32)")


def _check_dtype(dtype):
    if dtype not in _RING_DTYPES:
        raise TypeError(f"Invalid dtype: {dtype}; ring elements are torch.int64 (Z_(2**64)) or torch.int32 "
                        "(Z_(2**32), and any Z_(2**k) with k <= 32 by taking the low k bits)")
