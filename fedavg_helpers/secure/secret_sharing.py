"""Additive n-of-n secret sharing of tensors in the ring Z_(2**64): averaging models without any trusted worker.

A value v (already fixed-point encoded) is split into n shares r_1, ..., r_(n-1), v - (r_1 + ... + r_(n-1))
with each r_i uniform over all 2**64 ring elements. Any n - 1 shares are independent uniform noise,
so a worker holding one share (or a coalition holding fewer than all) learns nothing about v. Shares
add up: if each worker adds the shares it holds of every client's model, the n worker totals are
shares of the sum of the models, and only that sum is ever reconstructed. This replaces the
"secure_worker" that sees every model in the original tutorial.

Wrap-around: the ring holds sums up to 2**63 - 1 (in units of 2**-frac_bits), and a share cannot show whether
the sum it will help rebuild stays inside. So every share-list remembers, for each value it holds a share of,
the public bound that value was encoded with (`max_abs`; without it, the largest value that fits alone) and
which of the n shares it is. `add_shares` refuses (OverflowError) when the bounds of the distinct values being
added could sum beyond the ring, and `reconstruct_tensors` refuses when a share of some value is missing or the
decoder's frac_bits differ from the encoder's. Share-lists built by hand (plain lists of int64 tensors) carry
no bounds: adding them warns that nothing was checked.

Randomness: by default shares come from the operating system's cryptographic generator (`os.urandom`).
A seeded `torch.Generator` makes a lesson reproducible, but torch's Mersenne Twister is predictable
from its output: never use one to protect real data.
"""

import math
import os
import warnings

import torch

from .fixed_point import _RING_MAX, FixedPoint


def random_ring(shape, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform int64 ring elements of the given shape (all 2**64 values equally likely)."""
    n = 1
    for size in tuple(shape):
        n *= size
    if generator is None:
        raw = (torch.frombuffer(bytearray(os.urandom(8 * n)), dtype=torch.uint8) if n
               else torch.zeros(0, dtype=torch.uint8))
    else:
        # Uniform bytes, not torch.randint over int64: randint's upper bound is exclusive and cannot
        # be 2**63, so it would never produce the largest ring element.
        raw = torch.randint(0, 256, (8 * n,), dtype=torch.uint8, generator=generator)
    return raw.view(torch.int64).reshape(tuple(shape))


class _Shares(list):
    """One party's share-list (int64 tensors) and, per value shared, (bound in ring units, frac_bits, n, share ids)."""

    parts: dict | None = None  # None: built by hand, nothing known about the values


def share_tensors(tensors, n_shares: int, *, encoder: FixedPoint | None = None, max_abs: float | None = None,
                  generator: torch.Generator | None = None) -> list[list[torch.Tensor]]:
    """Split float tensors into n_shares share-lists (one per worker); any n_shares - 1 of them are uniform noise.

    max_abs is the public bound |x| <= max_abs every party agrees on. To add shares of m different values
    (add_shares), share each with max_abs <= encoder.max_abs_for_sum(m); without max_abs a value is only known
    to fit alone, so add_shares refuses to add its shares to another value's (the sum could wrap around).
    """
    tensors = _as_tensor_list(tensors, "tensors")
    if isinstance(n_shares, bool) or not isinstance(n_shares, int) or n_shares < 2:
        raise ValueError(f"Invalid n_shares: {n_shares!r}; use an int >= 2 (a single share would be the secret itself)")
    encoder = FixedPoint() if encoder is None else encoder
    if not isinstance(encoder, FixedPoint):
        raise TypeError(f"encoder must be a fh.FixedPoint, got {type(encoder).__name__}")
    encoded = [encoder.encode(t, max_abs) for t in tensors]  # validates every tensor before any share is made
    bound = encoder.max_abs_for_sum(1) if max_abs is None else max_abs
    value = object()  # names this sharing: its n share-lists are shares of the same values
    share_lists = [_Shares() for _ in range(n_shares)]
    for i, share_list in enumerate(share_lists):
        share_list.parts = {value: (math.ceil(bound * encoder.scale), encoder.frac_bits, n_shares, frozenset([i]))}
    for value in encoded:
        randoms = [random_ring(value.shape, generator) for _ in range(n_shares - 1)]
        last = value.clone()
        for r in randoms:
            last -= r  # int64 subtraction wraps: this is subtraction in the ring
        for share_list, share in zip(share_lists, randoms + [last]):
            share_list.append(share)
    return share_lists


def add_shares(share_lists) -> list[torch.Tensor]:
    """Element-wise ring sum of share-lists: what one worker computes from the shares it holds.

    Refuses (OverflowError) if the values these shares belong to could sum beyond the ring, judged by the
    bounds they were shared with, and refuses to add the same share of a value twice.
    """
    if isinstance(share_lists, torch.Tensor) or not hasattr(share_lists, "__iter__"):
        raise TypeError(f"share_lists must be a list of share-lists, got {type(share_lists).__name__}")
    originals = list(share_lists)
    share_lists = [_as_tensor_list(s, f"share_lists[{i}]") for i, s in enumerate(originals)]
    if not share_lists:
        raise ValueError("add_shares got no share-lists; pass a list of share-lists, e.g. [bobs_share, alices_share]")
    first = share_lists[0]
    for i, share_list in enumerate(share_lists):
        if len(share_list) != len(first):
            raise ValueError(f"share_lists[{i}] has {len(share_list)} tensors but share_lists[0] has {len(first)}; "
                             "add shares of the same model only")
        for j, (a, b) in enumerate(zip(share_list, first)):
            if a.dtype != torch.int64:
                raise TypeError(f"share_lists[{i}][{j}] has dtype {a.dtype}, not int64; shares are ring elements "
                                "made by share_tensors (did you pass float parameters?)")
            if a.shape != b.shape:
                raise ValueError(f"share_lists[{i}][{j}] has shape {tuple(a.shape)} but share_lists[0][{j}] has "
                                 f"{tuple(b.shape)}; add shares of the same model only")
    parts = _merged_parts(originals)
    total = _Shares(t.clone() for t in first)
    for share_list in share_lists[1:]:
        for acc, t in zip(total, share_list):
            acc += t  # wraps modulo 2**64
    total.parts = parts
    return total


def reconstruct_tensors(share_lists, *, encoder: FixedPoint | None = None,
                        dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Add all n share-lists and decode: the only step that reveals a value (a sum, if shares were summed)."""
    encoder = FixedPoint() if encoder is None else encoder
    total = add_shares(share_lists)
    for _units, frac_bits, n, ids in (total.parts or {}).values():
        if len(ids) != n:
            raise ValueError(f"reconstruct_tensors got {len(ids)} of the {n} shares of a value (shares "
                             f"{sorted(ids)}); all {n} are needed, fewer add up to uniform noise, not the value")
        if frac_bits != encoder.frac_bits:
            raise ValueError(f"these shares were encoded with frac_bits={frac_bits} but are decoded with "
                             f"frac_bits={encoder.frac_bits}; pass encoder=fh.FixedPoint(frac_bits={frac_bits})")
    return [encoder.decode(t, dtype) for t in total]


def shared_average(client_tensors, n_workers: int, *, encoder: FixedPoint | None = None, max_abs: float | None = None,
                   generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Average clients' tensors through n_workers additive shares: each worker sees only uniform noise."""
    client_tensors = list(client_tensors)
    if not client_tensors:
        raise ValueError("shared_average got no clients; pass one list of tensors per client")
    encoder = FixedPoint() if encoder is None else encoder
    n_clients = len(client_tensors)
    # One public bound for every client, checked against the whole sum before anything is shared.
    bound = encoder.max_abs_for_sum(n_clients) if max_abs is None else max_abs
    encoder.check_sum_fits(n_clients, bound)
    per_client = [share_tensors(t, n_workers, encoder=encoder, max_abs=bound, generator=generator)
                  for t in client_tensors]
    # Worker w adds up the w-th share-list of every client; it never holds two shares of one client.
    on_workers = [add_shares([shares[w] for shares in per_client]) for w in range(n_workers)]
    total = reconstruct_tensors(on_workers, encoder=encoder, dtype=torch.float64)
    return [(t / n_clients).to(dtype) for t in total]


def _merged_parts(share_lists) -> dict | None:
    """The values a sum of share-lists holds shares of; raise if they could overflow or a share is counted twice."""
    if any(getattr(s, "parts", None) is None for s in share_lists):
        warnings.warn("add_shares cannot check these share-lists for wrap-around: some were not made by "
                      "fh.share_tensors or fh.add_shares, so the bounds of their values are unknown; a sum beyond "
                      "the ring would decode to a wrong number without an error", RuntimeWarning, stacklevel=3)
        return None
    merged = {}
    for i, share_list in enumerate(share_lists):
        for value, (units, frac_bits, n, ids) in share_list.parts.items():
            if value in merged:
                if merged[value][3] & ids:
                    raise ValueError(f"share_lists[{i}] holds share {sorted(merged[value][3] & ids)[0]} of a value "
                                     "that an earlier share-list already holds; each share may be added once")
                ids = ids | merged[value][3]
            merged[value] = (units, frac_bits, n, ids)
    encodings = {frac_bits for _, frac_bits, _, _ in merged.values()}
    if len(encodings) > 1:
        raise ValueError(f"these share-lists mix values encoded with frac_bits {sorted(encodings)}; their sum would "
                         "decode to a wrong number: share every value with the same fh.FixedPoint")
    worst = sum(units for units, _, _, _ in merged.values())  # exact: Python ints
    if worst > _RING_MAX:
        frac_bits = encodings.pop()
        m = len(merged)
        fits = FixedPoint(frac_bits).max_abs_for_sum(m)
        raise OverflowError(f"these shares belong to {m} different values whose agreed bounds add up to "
                            f"{worst / 2**frac_bits:.6g}, beyond the {_RING_MAX / 2**frac_bits:.6g} the ring holds at "
                            f"frac_bits={frac_bits}, so their sum could wrap around to a wrong number; share each "
                            f"value with max_abs <= {fits:.6g} (encoder.max_abs_for_sum({m})), a bound all parties "
                            "agree on")
    return merged


def _as_tensor_list(tensors, name):
    if isinstance(tensors, torch.Tensor):
        raise TypeError(f"{name} must be a list of tensors, got a single tensor; wrap it as [tensor]")
    try:
        tensors = list(tensors)
    except TypeError:
        raise TypeError(f"{name} must be a list of tensors, got {type(tensors).__name__}") from None
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}[{i}] is a {type(t).__name__}, not a torch.Tensor; "
                            "pass e.g. list(model.parameters()) or list(state_dict.values())")
    return tensors
