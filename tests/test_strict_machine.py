"""An attacker with the public API under the strict policy, driven by hypothesis: nothing it obtains is bob's.

The machine holds pointers to bob's and alice's data, models and losses, makes copies, aliases, parts
and retrained twins of them, moves them, and asks for every kind of release: .get(), fh.secure_average,
fh.average_losses and fh.secret_shared_average, with any weights. Each pointer carries what its value
truly is, as a linear combination of "atoms" (bob's model, one element of bob's data, ...). Every
release the policy allows is a row of known coefficients over those atoms; bob's data or model leaks
if one of his atoms lies in the span of the rows the attacker collected (two averages with different
weights are two equations), or if one release is almost all bob (99 copies of his model and one of
alice's). Linear-algebra bookkeeping, so the test needs no guessing about what an attacker would try.
"""
import os
from fractions import Fraction

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule
from seed import toy_data, train_remote
from torch import nn

import fedavg_helpers as fh
from fedavg_helpers.core import worker as _worker

OWNERS = ("bob", "alice")


class Handle:
    """A pointer with the truth about its value: {atom: coefficient}, or None once it is no linear function."""

    def __init__(self, pointer, coefficients, family, remake=None):
        self.pointer, self.coefficients, self.family = pointer, coefficients, family  # family: "model" or "scalar"
        self.remake = remake  # makes a fresh handle to the same value from scratch (a retrain, a new index)

    def scaled(self, pointer, c):
        return Handle(pointer, None if self.coefficients is None else
                      {a: k * c for a, k in self.coefficients.items()}, self.family)


REFUSALS = (fh.PrivacyError, fh.PointerError, fh.LocationError, fh.WorkerError, TypeError, ValueError)


def making(fn):
    """A rule that makes a handle; a refusal (or an operation that does not apply) makes none."""
    def rule_body(self, **kwargs):
        try:
            return fn(self, **kwargs)
        except REFUSALS:
            return multiple()
    rule_body.__name__ = fn.__name__
    return rule_body


def owner_of(atom: str) -> str:
    return atom.split(".")[0]


def leaked_atoms(rows, atoms):
    """Atoms whose unit vector lies in the span of `rows` (exact rational Gaussian elimination)."""
    index = {a: i for i, a in enumerate(atoms)}
    basis = []  # reduced rows: (pivot, row)
    for row in rows:
        vec = [Fraction(0)] * len(atoms)
        for atom, c in row.items():
            vec[index[atom]] += Fraction(c)
        for pivot, b in basis:
            if vec[pivot]:
                factor = vec[pivot] / b[pivot]
                vec = [x - factor * y for x, y in zip(vec, b)]
        nonzero = [i for i, x in enumerate(vec) if x]
        if nonzero:
            basis.append((nonzero[0], vec))
    leaked = []
    for atom in atoms:
        vec = [Fraction(0)] * len(atoms)
        vec[index[atom]] = Fraction(1)
        for pivot, b in basis:
            if vec[pivot]:
                factor = vec[pivot] / b[pivot]
                vec = [x - factor * y for x, y in zip(vec, b)]
        if not any(vec):
            leaked.append(atom)
    return leaked


class StrictAttacker(RuleBasedStateMachine):
    models = Bundle("models")
    scalars = Bundle("scalars")

    @initialize(target=models)
    def federation(self):
        _worker._reset()
        fh.set_policy(fh.PrivacyPolicy(strict=True))
        self.secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
        data, target = toy_data()
        self.workers, self.data = {}, {}
        for name, rows in zip(OWNERS, (slice(0, 2), slice(2, 4))):
            self.workers[name] = fh.VirtualWorker(name)
            self.data[name] = (fh.send(data[rows], self.workers[name], private=True),
                               fh.send(target[rows], self.workers[name], private=True))
        torch.manual_seed(0)
        self.global_model = nn.Linear(2, 1)
        self.model_rows, self.scalar_rows, self.aggregations = [], [], []
        self.scalar_atoms = set()
        return multiple(*[self._trained(name)[0] for name in OWNERS])

    def _trained(self, name):
        """The owner trains a copy of the global model; deterministic, so a retrain gives the same model."""
        pointer, loss = train_remote(self.global_model, self.workers[name], self.data[name], steps=2)
        return (Handle(pointer, {f"{name}.model": 1}, "model", lambda: self._trained(name)[0]),
                Handle(loss, {f"{name}.loss": 1}, "scalar", lambda: self._trained(name)[1]))

    # ---- making more handles: twins carry the same contribution as the handle they come from ----
    @rule(target=models, name=st.sampled_from(OWNERS))
    @making
    def retrain(self, name):
        return self._trained(name)[0]

    @rule(target=models, h=models, how=st.sampled_from(["copy", "alias", "retrain"]))
    @making
    def twin_model(self, h, how):
        if how == "copy":
            pointer = h.pointer.copy()
        elif how == "alias":
            pointer = h.pointer.train()  # nn.Module.train returns the module itself
        else:
            atoms = list(h.coefficients or {})
            if len(atoms) != 1:
                return multiple()
            return self._trained(owner_of(atoms[0]))[0]
        return Handle(pointer, h.coefficients, "model", h.remake)

    @rule(target=scalars, name=st.sampled_from(OWNERS), what=st.sampled_from(["loss", "data[0,0]", "data[0,1]"]))
    @making
    def scalar(self, name, what):
        atom = f"{name}.{what}"
        self.scalar_atoms.add(atom)
        if what == "loss":
            return self._trained(name)[1]
        return Handle(self.data[name][0][0, int(what[-2])], {atom: 1}, "scalar",
                      lambda: self.scalar(name=name, what=what))

    @rule(target=scalars, h=scalars)
    @making
    def twin_scalar(self, h):
        return Handle(h.pointer.copy(), h.coefficients, "scalar", h.remake)

    @rule(target=scalars, h=models, j=st.integers(0, 1))
    @making
    def weight_element(self, h, j):
        if h.coefficients is None or len(h.coefficients) != 1:
            return Handle(h.pointer.weight[0, j], None, "scalar")
        (atom, c), = h.coefficients.items()
        self.scalar_atoms.add(f"{atom}.w[{j}]")
        remake = h.remake and (lambda: self.weight_element(h=h.remake(), j=j))
        return Handle(h.pointer.weight[0, j], {f"{atom}.w[{j}]": c}, "scalar", remake)

    @rule(target=scalars, h=scalars, c=st.sampled_from([2, -1]))
    @making
    def scale(self, h, c):
        return h.scaled(h.pointer * c, c)

    @rule(h=st.one_of(models, scalars))
    def move(self, h):
        try:
            h.pointer.move(self.secure_worker)
        except REFUSALS:
            pass

    # ---- asking for releases ----
    def _release(self, handles, weights, family, call):
        try:
            call()
        except REFUSALS:
            return
        if any(h.coefficients is None for h in handles):
            return
        total = sum(Fraction(w) for w in weights)
        row = {}
        for h, w in zip(handles, weights):
            for atom, c in h.coefficients.items():
                row[atom] = row.get(atom, 0) + Fraction(w) / total * c
        (self.model_rows if family == "model" else self.scalar_rows).append(row)
        if len(handles) > 1:
            self.aggregations.append((family, handles))

    @rule(hs=st.lists(models, min_size=1, max_size=4), weights=st.lists(st.sampled_from([1, 2, 3, 99]), min_size=4,
                                                                         max_size=4))
    def secure_average(self, hs, weights):
        weights = weights[:len(hs)]
        self._release(hs, weights, "model",
                      lambda: fh.secure_average([h.pointer for h in hs], self.secure_worker, weights=weights))

    @rule(hs=st.lists(models, min_size=2, max_size=3), weights=st.lists(st.sampled_from([1, 2, 3]), min_size=3,
                                                                         max_size=3))
    def secret_shared_average(self, hs, weights):
        weights = weights[:len(hs)]
        self._release(hs, weights, "model",
                      lambda: fh.secret_shared_average([h.pointer for h in hs], weights=weights))

    @rule(hs=st.lists(scalars, min_size=2, max_size=3), weights=st.lists(st.sampled_from([1, 2, 3]), min_size=3,
                                                                          max_size=3))
    def average_losses(self, hs, weights):
        weights = weights[:len(hs)]
        self._release(hs, weights, "scalar",
                      lambda: fh.average_losses([h.pointer for h in hs], self.secure_worker, weights=weights))

    @rule(k=st.integers(0, 9), weights=st.lists(st.sampled_from([1, 2, 3]), min_size=4, max_size=4))
    def aggregate_again(self, k, weights):
        """The attacker's move: the same owners' contributions again (twins made from scratch), other weights."""
        if not self.aggregations:
            return
        family, handles = self.aggregations[k % len(self.aggregations)]
        try:
            twins = [h.remake() if h.remake else None for h in handles]
        except REFUSALS:
            return
        if any(t is None or not isinstance(t, Handle) for t in twins):
            return
        weights = weights[:len(twins)]
        pointers = [t.pointer for t in twins]
        if family == "model":
            self._release(twins, weights, family,
                          lambda: fh.secure_average(pointers, self.secure_worker, weights=weights))
        else:
            self._release(twins, weights, family,
                          lambda: fh.average_losses(pointers, self.secure_worker, weights=weights))

    @rule(h=st.one_of(models, scalars))
    def get(self, h):
        self._release([h], [1], h.family, lambda: h.pointer.get())

    # ---- what must hold after every step ----
    @invariant()
    def nothing_of_bobs_comes_out(self):
        if not hasattr(self, "model_rows"):
            return
        for rows, atoms in ((self.model_rows, [f"{n}.model" for n in OWNERS]),
                            (self.scalar_rows, sorted(self.scalar_atoms | {a for r in self.scalar_rows for a in r}))):
            leaked = leaked_atoms(rows, atoms)
            assert not leaked, f"released rows {rows} reveal {leaked}"
            for row in rows:
                for name in OWNERS:
                    share = sum(abs(c) for a, c in row.items() if owner_of(a) == name)
                    assert share < Fraction(9, 10) * sum(abs(c) for c in row.values()), \
                        f"a release is almost all {name}'s: {row}"

    def teardown(self):
        fh.set_policy(fh.PrivacyPolicy())
        _worker._reset()


# FEDAVG_ATTACKER_EXAMPLES=300 searches six times longer: at that depth, on a policy that counted pointers
# instead of contributions, the machine found both a model (twins, two weightings) and a raw element leak.
StrictAttacker.TestCase.settings = settings(max_examples=int(os.environ.get("FEDAVG_ATTACKER_EXAMPLES", "50")),
                                            stateful_step_count=20, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
test_strict_policy_against_an_attacker_with_the_public_api = StrictAttacker.TestCase
