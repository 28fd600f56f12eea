"""The privacy policy: which objects may leave a worker, and where objects that hold private data may go."""
from dataclasses import dataclass

import torch

from .errors import PrivacyError


def _is_scalar(obj) -> bool:
    """A scalar metric: a Python number or a 0-dim tensor (not a 1-element parameter)."""
    if isinstance(obj, torch.Tensor):
        return obj.dim() == 0
    return isinstance(obj, (int, float)) and not isinstance(obj, bool)


def _names(owners) -> str:
    """'bob', 'alice and bob', 'alice, bob and carol'."""
    names = sorted(owners)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class PrivacyPolicy:
    """Rules for .get() and .move(); the default keeps the seed tutorial's lesson, strict closes its holes."""

    min_contributors: int = 2  # distinct data owners an object on a trusted worker must combine to leave it
    allow_scalar_metrics: bool = True  # default policy only: a loss (a 0-dim tensor or a number) may come back
    strict: bool = False  # strict: no value leaves a data owner; a trusted worker releases only aggregates

    def __post_init__(self):
        for name in ("strict", "allow_scalar_metrics"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}; a string such as "
                                f"'false' would read as true, so pass a bool, e.g. PrivacyPolicy({name}=True)")
        if not isinstance(self.min_contributors, int) or isinstance(self.min_contributors, bool):
            raise TypeError(f"min_contributors must be an int, got {type(self.min_contributors).__name__}")
        if self.min_contributors < 1:
            raise ValueError(
                f"Invalid min_contributors: {self.min_contributors}. It counts data owners and must be at least 1 "
                "(2, the default, means a result must combine two owners' data before it may leave a trusted worker)."
            )

    def check_get(self, worker, obj, owners, aggregate: bool) -> None:
        """Raise PrivacyError unless obj, which depends on `owners`' private data, may leave `worker`."""
        if not owners:
            return
        what = f"this {type(obj).__name__} on {worker.name} depends on {_names(owners)}'s private data"
        if self.strict:
            if worker.trusted:
                if aggregate and len(owners) >= self.min_contributors:
                    return
                rule = (f"strict policy: the trusted worker {worker.name} releases only the outputs of its "
                        "aggregation functions, over at least "
                        f"{self.min_contributors} data owners")
                fix = "use fh.secure_average(...) for models and fh.average_losses(...) for metrics"
            else:
                rule = ("strict policy: a data owner's worker releases no value that depends on private data, "
                        "scalars included")
                fix = ("train there and bring back only aggregates: fh.secure_average(...) for models, "
                       "fh.average_losses(...) for losses")
            raise PrivacyError(f"{what}; {rule}. Instead, {fix}.")
        if self.allow_scalar_metrics and _is_scalar(obj):
            return
        if worker.trusted and len(owners) >= self.min_contributors:
            return
        if worker.trusted:
            rule = (f"a trusted worker releases only results that combine at least {self.min_contributors} "
                    f"data owners, and this one combines {len(owners)}")
            fix = "combine it with the other owners' results first, e.g. with fh.secure_average(...)"
        else:
            rule = "fetching it would reveal their data (or a model trained on it) to you"
            fix = ("move it to a trusted worker with .move(secure_worker) and fetch only an average over "
                   "several data owners, e.g. with fh.secure_average(...)")
        raise PrivacyError(f"{what}; {rule}. Instead, {fix}.")

    def contributors(self, owner_sets, weights) -> frozenset:
        """The data owners an aggregate counts as combining: those whose inputs carry real weight.

        A zero weight never counts. Under strict, an input counts only if its share of the total weight is
        at least half an equal share, 1 / (2n): otherwise weights such as [1, 1e-12] would pass the rule
        while returning one owner's model.
        """
        total, n = sum(weights), len(weights)
        if not total < float("inf"):
            raise ValueError(f"the weights add up to {total}, which is not a finite number; scale them down "
                             "(only their ratios matter)")
        floor = total / (2 * n) if self.strict else 0.0
        counted = [owners for owners, w in zip(owner_sets, weights) if w > 0 and w >= floor]
        return frozenset().union(*counted)

    def check_run(self, worker) -> None:
        """Under strict, a trusted worker runs nothing but its aggregation functions (so no crafted inputs)."""
        if self.strict and worker.trusted:
            raise PrivacyError(
                f"strict policy: the trusted worker {worker.name} runs only its aggregation functions, not "
                "arbitrary operations (they could single out one data owner, e.g. sum - bobs_part). "
                "Use fh.secure_average(...) or fh.average_losses(...) instead."
            )

    def check_move(self, obj, owners, source, target, kind=None) -> None:
        """Raise PrivacyError if `target` would see private data that is not its own and it is not trusted.

        Under strict, what leaves a data owner's worker is only what an aggregation takes: a model the model
        owner sent, or a training metric. Anything else could carry a size or shape computed from the data.
        """
        strangers = {o for o in owners if o != target.name}
        if strangers and not target.trusted:
            raise PrivacyError(
                f"this {type(obj).__name__} on {source.name} depends on {_names(strangers)}'s private data, and "
                f"{target.name} is not trusted, so moving it there would show it to {target.name}. "
                "Move it to a trusted worker (VirtualWorker(..., trusted=True)) instead."
            )
        if self.strict and strangers and not source.trusted and kind not in ("model", "metric"):
            raise PrivacyError(
                f"strict policy: only models the model owner sent, and training metrics, leave a data owner's "
                f"worker (for aggregation); this {type(obj).__name__} on {source.name} is neither (it depends on "
                f"{_names(strangers)}'s private data, and even its size could tell something about it). "
                "Train a model you sent there, and aggregate it with fh.secure_average(...)."
            )


def strictest(policies) -> PrivacyPolicy:
    """One policy at least as strict as each of `policies`: the one that governs an operation they all share."""
    policies = list(policies)
    if all(p == policies[0] for p in policies[1:]):
        return policies[0]
    return PrivacyPolicy(min_contributors=max(p.min_contributors for p in policies),
                         allow_scalar_metrics=all(p.allow_scalar_metrics for p in policies),
                         strict=any(p.strict for p in policies))


_policy = PrivacyPolicy()


def get_policy() -> PrivacyPolicy:
    """The policy for every worker that was not given one of its own."""
    return _policy


def set_policy(policy: PrivacyPolicy) -> PrivacyPolicy:
    """Make `policy` the default for all workers without their own, and return the previous one."""
    global _policy
    if not isinstance(policy, PrivacyPolicy):
        raise TypeError(f"set_policy() needs a fh.PrivacyPolicy, got {type(policy).__name__}")
    previous, _policy = _policy, policy
    return previous
