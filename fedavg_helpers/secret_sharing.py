"""Additive n-of-n secret sharing of tensors in the ring Z_(2**64): averaging models without any trusted worker.

A value v (already fixed-point encoded) is split into n shares r_1, ..., r_(n-1), v - (r_1 + ... + r_(n-1))
with each r_i uniform over all 2**64 ring elements. Any n - 1 shares are independent uniform noise,
so a worker holding one share (or a coalition holding fewer than all) learns nothing about v. Shares
add up: if each worker adds the shares it holds of every client's model, the n worker totals are
shares of the sum of the models, and only that sum is ever reconstructed. This replaces the
"secure_worker" that sees every model in the original tutorial.

Randomness: by default shares come from the operating system's cryptographic generator (`os.urandom`).
A seeded `torch.Generator` makes a lesson reproducible, but torch's Mersenne Twister is predictable
from its output: never use one to protect real data.
"""

import os

import torch

from .fixed_point import FixedPoint


def random_ring(shape, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform int64 ring elements of the given shape (all 2**64 values equally likely)."""
    n = 1
    for size in tuple(shape):
        n *= size
    if generator is None:
        raw = torch.frombuffer(bytearray(os.urandom(8 * n)), dtype=torch.uint8) if n else torch.zeros(0, torch.uint8)
    else:
        # Uniform bytes, not torch.randint over int64: randint's upper bound is exclusive and cannot
        # be 2**63, so it would never produce the largest ring element.
        raw = torch.randint(0, 256, (8 * n,), dtype=torch.uint8, generator=generator)
    return raw.view(torch.int64).reshape(tuple(shape))


def share_tensors(tensors, n_shares: int, *, encoder: FixedPoint | None = None, max_abs: float | None = None,
                  generator: torch.Generator | None = None) -> list[list[torch.Tensor]]:
    """Split float tensors into n_shares share-lists (one per worker); any n_shares - 1 of them are uniform noise."""
    tensors = _as_tensor_list(tensors, "tensors")
    if isinstance(n_shares, bool) or not isinstance(n_shares, int) or n_shares < 2:
        raise ValueError(f"Invalid n_shares: {n_shares!r}; use an int >= 2 (a single share would be the secret itself)")
    encoder = FixedPoint() if encoder is None else encoder
    encoded = [encoder.encode(t, max_abs) for t in tensors]  # validates every tensor before any share is made
    share_lists = [[] for _ in range(n_shares)]
    for value in encoded:
        randoms = [random_ring(value.shape, generator) for _ in range(n_shares - 1)]
        last = value.clone()
        for r in randoms:
            last -= r  # int64 subtraction wraps: this is subtraction in the ring
        for share_list, share in zip(share_lists, randoms + [last]):
            share_list.append(share)
    return share_lists


def add_shares(share_lists) -> list[torch.Tensor]:
    """Element-wise ring sum of share-lists: what one worker computes from the shares it holds."""
    share_lists = [_as_tensor_list(s, f"share_lists[{i}]") for i, s in enumerate(share_lists)]
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
    total = [t.clone() for t in first]
    for share_list in share_lists[1:]:
        for acc, t in zip(total, share_list):
            acc += t  # wraps modulo 2**64
    return total


def reconstruct_tensors(share_lists, *, encoder: FixedPoint | None = None,
                        dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Add all n share-lists and decode: the only step that reveals a value (a sum, if shares were summed)."""
    encoder = FixedPoint() if encoder is None else encoder
    return [encoder.decode(t, dtype) for t in add_shares(share_lists)]


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
