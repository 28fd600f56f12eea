"""Pack k-bit ring elements densely into bytes and back: what a masked vector in Z_(2**k) costs on the wire.

Element i occupies bits i*k .. i*k + k - 1 of the byte string, least significant bit first, so d elements
take ceil(k * d / 8) bytes instead of 8 * d for int64. Both directions are a few vectorised gathers and
shifts, so packing 10**6 elements takes milliseconds.
"""
import math

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
    # 8 elements of `bits` bits fill exactly `bits` bytes, and byte p of every such group is cut from the same
    # elements at the same offsets: build the bytes column by column, with fixed shifts
    groups = -(-n // 8)
    elements = torch.cat([values, values.new_zeros(8 * groups - n)]).view(groups, 8)
    out = torch.empty(groups, bits, dtype=torch.int64)
    for p in range(bits):
        e, offset = divmod(8 * p, bits)
        column = elements[:, e] >> offset
        shift = bits - offset
        while shift < 8 and e + 1 < 8:  # the byte continues into the next element
            e += 1
            column |= elements[:, e] << shift
            shift += bits
        out[:, p] = column
    return (out & 0xFF).to(torch.uint8).view(-1)[:packed_size(bits, n)].numpy().tobytes()


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
    raw = torch.zeros(groups * bits, dtype=torch.uint8)
    if data:
        raw[:len(data)] = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    raw = raw.view(groups, bits).to(torch.int64)
    out = torch.empty(groups, 8, dtype=torch.int64)
    for j in range(8):  # element j of every group starts at the same byte and bit
        first, offset = divmod(j * bits, 8)
        last = (j * bits + bits - 1) // 8
        word = raw[:, first] >> offset
        for b in range(first + 1, last + 1):
            word |= raw[:, b] << (8 * (b - first) - offset)
        out[:, j] = word
    return (out.view(-1)[:n] & (2**bits - 1)).contiguous()


def _check_bits(bits) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"Invalid bits: {bits!r}; use an int with 1 <= bits <= {MAX_BITS}")
