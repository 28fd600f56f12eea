"""Pack k-bit ring elements densely into bytes and back: what a masked vector in Z_(2**k) costs on the wire.

Element i occupies bits i*k .. i*k + k - 1 of the byte string, least significant bit first, so d elements
take ceil(k * d / 8) bytes instead of 8 * d for int64. Both directions work on whole columns of 64-bit words
(numpy, for unsigned shifts and overlapping windows), so 10**6 elements take milliseconds.
"""
import math

import numpy as np
import torch

MAX_BITS = 56  # an element plus its offset inside the first byte must fit the 63 value bits of an int64


def packed_size(bits: int, n: int) -> int:
    """Bytes that n elements of `bits` bits take on the wire: ceil(bits * n / 8)."""
    _check_bits(bits)
    return math.ceil(bits * n / 8)


def pack_bits(values: torch.Tensor, bits: int) -> bytes:
    """Pack a 1-D int64 tensor of values in [0, 2**bits) into ceil(bits * len / 8) bytes."""
    _check_bits(bits)
    if not isinstance(values, torch.Tensor) or values.dtype != torch.int64 or values.dim() != 1:
        raise TypeError("values must be a 1-D int64 tensor of ring elements in [0, 2**bits)")
    n = values.numel()
    if n and (values.min() < 0 or values.max() >= 2**bits):
        raise ValueError(f"values must lie in [0, 2**{bits}), got {int(values.min())}..{int(values.max())}; "
                         f"reduce them modulo 2**{bits} first")
    # 8 elements of `bits` bits fill exactly `bits` bytes, and element j of every such group lands at the same
    # bit offset of it: write all groups at once, element by element, into little-endian 64-bit lanes
    if not n:
        return b""
    groups = -(-n // 8)
    elements = np.zeros(8 * groups, dtype=np.uint64)
    elements[:n] = values.numpy()
    elements = elements.reshape(groups, 8)
    lanes = np.zeros((groups, -(-bits // 8)), dtype="<u8")  # bits bytes per group, rounded up to whole lanes
    for j in range(8):
        lane, shift = divmod(j * bits, 64)
        lanes[:, lane] |= elements[:, j] << np.uint64(shift)
        if shift + bits > 64:  # the element runs on into the next lane
            lanes[:, lane + 1] |= elements[:, j] >> np.uint64(64 - shift)
    return lanes.view(np.uint8).reshape(groups, -1)[:, :bits].tobytes()[:packed_size(bits, n)]


def unpack_bits(data: bytes, bits: int, n: int) -> torch.Tensor:
    """The n elements of `bits` bits that pack_bits packed into `data`, as a 1-D int64 tensor."""
    _check_bits(bits)
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes (what pack_bits returns), got {type(data).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"Invalid n: {n!r}; use the number of packed elements, an int >= 0")
    if len(data) != packed_size(bits, n):
        raise ValueError(f"{n} elements of {bits} bits take {packed_size(bits, n)} bytes, got {len(data)}")
    groups = -(-n // 8)
    stream = np.zeros(groups * bits + 8, dtype=np.uint8)
    stream[:len(data)] = np.frombuffer(data, dtype=np.uint8)
    # words[i]: the little-endian 64-bit word starting at byte i (overlapping windows, no copy); an element and
    # its offset inside its first byte span at most 7 + 56 bits, so one word holds it
    words = np.lib.stride_tricks.as_strided(stream, shape=(len(stream) - 7, 8), strides=(1, 1)).view("<u8")[:, 0]
    out = np.empty((groups, 8), dtype=np.int64)
    mask = np.uint64(2**bits - 1)
    for j in range(8):  # element j of every group starts at the same byte and bit of its group
        first, offset = divmod(j * bits, 8)
        out[:, j] = (words[first:first + groups * bits:bits] >> np.uint64(offset)) & mask
    return torch.from_numpy(out.reshape(-1)[:n].copy())


def _check_bits(bits) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"Invalid bits: {bits!r}; use an int with 1 <= bits <= {MAX_BITS}")
