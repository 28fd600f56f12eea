"""The strict policy's ledger: each data owner's contribution goes into one aggregate only.

A contribution is what one data owner computed: a model it trained or a metric of that training. Its
identity is its lineage (the inputs it descends from: the owner's data, the global model it was sent)
and, separately, its value. A copy, an alias, or a second training run from the same global model is
the same contribution, however many pointers lead to it. Two different aggregates over one
contribution would be two equations in which it appears (with other weights, or next to other
partners), and together they can single it out. So once a contribution is aggregated, it may only be
aggregated again in exactly the same way (the same contributions with the same weights): that gives
the model owner the same result again and nothing new. Re-running a notebook does exactly that.
"""
from dataclasses import dataclass
from fractions import Fraction

from .errors import PrivacyError


@dataclass(frozen=True)
class Contribution:
    """One data owner's model (or metric), named by the inputs it descends from and by its value."""

    owner: str
    family: str  # "model" or "metric": a model and the loss of the same training are two contributions
    lineage: str
    value: str


_used: "dict[tuple, frozenset]" = {}  # (owner, family, "lineage" | "value", id) -> the aggregation it went into


def _keys(c: Contribution):
    return (c.owner, c.family, "lineage", c.lineage), (c.owner, c.family, "value", c.value)


def signature(contributions, weights) -> frozenset:
    """An aggregation, as the set of its contributions with their shares of the total weight."""
    total = sum(Fraction(w) for w in weights)
    return frozenset((c, Fraction(w) / total) for c, w in zip(contributions, weights))


def check(contributions, weights) -> frozenset:
    """Raise PrivacyError if a contribution already went into a different aggregate; return this one's signature."""
    this = signature(contributions, weights)
    for c in contributions:
        for key in _keys(c):
            earlier = _used.get(key)
            if earlier is not None and earlier != this:
                what = "model" if c.family == "model" else "training metric"
                raise PrivacyError(
                    f"strict policy: {c.owner}'s {what} from these inputs was already aggregated, with other "
                    "weights or other partners. A second, different aggregate of the same contribution would "
                    f"let the two be compared to single out {c.owner}'s part (a copy, an alias or a retrain from "
                    "the same global model is the same contribution). Aggregate each round's contributions once; "
                    "for a new aggregate, train again from the new global model."
                )
    return this


def record(this: frozenset) -> None:
    """Remember that these contributions went into this aggregation."""
    for c, _ in this:
        for key in _keys(c):
            _used.setdefault(key, this)


def _reset() -> None:
    _used.clear()
