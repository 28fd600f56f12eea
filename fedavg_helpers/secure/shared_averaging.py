"""Averaging models without a trusted worker: the data owners' workers exchange additive secret shares.

Each data owner scales its model by its weight, encodes it in fixed point and splits it into one share
per worker (secret_sharing.share_tensors): every worker, its own included, gets one share of every model.
Each worker adds up the shares it holds and sends only that partial sum to the model owner, who adds the
partial sums and decodes the weighted average. A share, and a partial sum, are uniform noise on their
own: the model owner learns the average and nothing else, and no single worker learns anything.
The same privacy rules hold as for an average on a trusted worker (averaging.Inputs): enough data
owners, and under the strict policy one contribution per owner, aggregated once, with declared weights.
"""
import torch

from ..core import ledger, serialize
from ..core._interrupts import deferred_interrupt
from ..core.averaging import Inputs, _check_models, _check_weights, _entries, _load_into, _shell
from ..core.errors import PrivacyError
from ..core.pointer import _withheld
from ..core.policy import _names
from .fixed_point import FixedPoint
from .secret_sharing import add_shares, reconstruct_tensors, share_tensors


def secret_shared_average(models, into: torch.nn.Module | None = None, weights=None, *,
                          encoder: FixedPoint | None = None, generator: torch.Generator | None = None,
                          seen: list | None = None):
    """Average models (pointers on their owners' workers) by secret sharing; only the average comes back.

    weights (e.g. sample counts) give sum_k w_k m_k / sum_k w_k. If `seen` is a list, the partial sums
    the model owner received (one flat int64 vector per worker) are appended to it, to look at.
    The shares' randomness comes from each owner's operating system unless `generator` is given: a generator
    makes a lesson reproducible, but whoever holds it knows every random share, so with the last worker's
    shares (each model minus the random ones) it rebuilds every model.
    """
    entries = _entries(models, "secret_shared_average()")
    weights = _check_weights(weights, len(entries))
    _check_models(models, entries, into, "secret_shared_average()")
    workers = list(dict.fromkeys(p._location for p in models))
    if len(workers) < 2:
        raise ValueError(f"secret sharing needs at least two workers to hold shares, but every model is on "
                         f"{workers[0].name}; with one worker its shares would add up to the secret")
    inputs = Inputs(models, entries, workers, weights, "model", "secret_shared_average()")
    policy = inputs.policy
    signature = inputs.check_strict()
    owners = inputs.contributors()
    if owners and len(owners) < policy.min_contributors:
        raise PrivacyError(f"this average depends on {_names(owners)}'s private data only; an average may be "
                           f"released when it combines at least {policy.min_contributors} data owners")
    encoder = FixedPoint() if encoder is None else encoder
    bound = encoder.max_abs_for_sum(len(entries))
    floats = [k for k, v in entries[0].obj.state_dict().items() if v.is_floating_point()]
    total_weight = sum(weights)

    traffic = []  # (sender, receiver or None for the model owner, bytes), counted once the average exists
    held = {w: [] for w in workers}  # the shares each worker holds, one share-list per model
    try:
        for p, entry, weight in zip(models, entries, weights):
            state = entry.obj.state_dict()
            scaled = [state[k].detach().double() * (weight / total_weight) for k in floats]
            for worker, share in zip(workers, share_tensors(scaled, len(workers), encoder=encoder, max_abs=bound,
                                                            generator=generator)):
                if worker is not p._location:
                    traffic.append((p._location, worker, len(serialize.dumps(share))))
                held[worker].append(share)
    except (OverflowError, ValueError) as err:  # the encoder's message would quote one owner's scaled model
        if policy.strict and owners:
            raise _withheld(err, models[0]._location) from None
        raise

    partial_sums = []
    for worker in workers:
        partial = add_shares(held[worker])
        traffic.append((worker, None, len(serialize.dumps(partial))))
        partial_sums.append(partial)

    averaged = _shell(entries, policy.strict and all(e.template is not None for e in entries))
    state = averaged.state_dict()
    for k, value in zip(floats, reconstruct_tensors(partial_sums, encoder=encoder, dtype=torch.float64)):
        state[k].copy_(value.to(state[k].dtype))
    with deferred_interrupt():
        for sender, receiver, nbytes in traffic:
            sender.bytes_sent += nbytes
            if receiver is not None:
                receiver.bytes_received += nbytes
        if seen is not None:
            seen.extend(torch.cat([t.reshape(-1) for t in partial]) for partial in partial_sums)
        if signature is not None:
            ledger.record(signature)
    return averaged if into is None else _load_into(into, averaged.state_dict())
