"""Every kind of bad input across the public API, one row each: the call, the exception it must raise, words its
message must contain, and proof that nothing changed (every worker's objects, holdings and byte counters, the
models' parameters, the input vectors). A new function joins by adding its rows; README.md counts them by area."""
import pickle
import re
from collections import Counter
from pathlib import Path

import pytest
import torch
from cryptography.exceptions import InvalidTag
from torch import nn

import fedavg_helpers as fh
from fedavg_helpers.core import worker as _worker

FP = fh.FixedPoint()
Q = fh.Quantizer()


class World:
    """A small federation to misuse: bob and alice with private data, models on a trusted worker, plain tensors."""

    def __init__(self, digits):
        self.bob, self.alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
        self.secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
        self.bobs_data = fh.send(torch.ones(2, 2), self.bob, private=True)
        self.alices_data = fh.send(torch.ones(2, 2), self.alice, private=True)
        torch.manual_seed(0)
        self.models = []  # on the secure worker, each depending on one owner's private data
        for worker, data in ((self.bob, self.bobs_data), (self.alice, self.alices_data)):
            ptr = fh.send(nn.Linear(2, 1), worker)
            _ = ptr(data)  # work next to the private data: the model now depends on it
            self.models.append(ptr.move(self.secure_worker))
        self.on_owners = [fh.send(nn.Linear(2, 1), w) for w in (self.bob, self.alice)]
        self.bobs_weight = self.on_owners[0].weight
        self.second_on_bob = fh.send(nn.Linear(2, 1), self.bob)
        self.other_shape = fh.send(nn.Linear(3, 1), self.secure_worker)
        for data in (self.bobs_data, self.alices_data):
            _ = data.sum()  # work next to the private data: everything on the owners' workers depends on it
        self.fetched = fh.send(torch.ones(1), self.bob)
        self.fetched.get()
        self.model = fh.mlp(64, 10)
        self.linear = nn.Linear(2, 1)
        g = torch.Generator().manual_seed(0)
        self.vectors = [torch.rand(10, generator=g, dtype=torch.float64) * 2 - 1 for _ in range(4)]
        self.updates = [torch.randn(50, generator=g) for _ in range(15)]
        self.digits = digits
        x, y = digits.train
        self.train = (x[:120], y[:120])
        self.clients = fh.split_iid(self.train[1], 4, seed=0)
        self.config = fh.FedAvgConfig(rounds=1, client_fraction=0.5, local_epochs=1, progress=False)

    def state(self):
        workers = [(w.name, len(w), w.bytes_received, w.bytes_sent, repr(w.holdings()))
                   for w in (self.bob, self.alice, self.secure_worker)]
        tensors = [*self.model.state_dict().values(), *self.linear.state_dict().values(), *self.vectors,
                   *self.updates]
        return workers, [t.tolist() for t in tensors]


def shamir_shares(threshold=3, n=5, seed=1):
    import random
    return fh.shamir_split(12345, threshold, n, rng=random.Random(seed))


def secagg_after_sharing(config):
    """Clients and a server that ran rounds 0 and 1, with each client's inbox."""
    clients = [fh.SecAggClient(i, config) for i in range(config.n_clients)]
    server = fh.SecAggServer(config)
    keys = server.collect_public_keys({c.cid: c.advertise_keys() for c in clients})
    return clients, server, server.route_shares({c.cid: c.share_keys(keys) for c in clients})


def forged_share():
    clients, server, inboxes = secagg_after_sharing(fh.SecAggConfig(3, 2, 4))
    inboxes[0][1] = bytes([inboxes[0][1][0] ^ 1]) + inboxes[0][1][1:]
    survivors = server.collect_masked_inputs({c.cid: c.masked_input(torch.zeros(4), inboxes[c.cid]) for c in clients})
    clients[0].unmask(survivors)


def unmask_without_self():
    clients, server, inboxes = secagg_after_sharing(fh.SecAggConfig(4, 3, 8))
    for c in clients:
        c.masked_input(torch.zeros(8), inboxes[c.cid])
    clients[0].unmask([1, 2, 3])


def short_masked_input():
    config = fh.SecAggConfig(3, 2, 16, encoder=Q)
    clients, server, inboxes = secagg_after_sharing(config)
    masked = {c.cid: c.masked_input(torch.zeros(16), inboxes[c.cid]) for c in clients}
    server.collect_masked_inputs({**masked, 1: masked[1][:-1]})


def duplicate_public_keys():
    config = fh.SecAggConfig(3, 2, 4)
    clients = [fh.SecAggClient(i, config) for i in range(3)]
    keys = {c.cid: c.advertise_keys() for c in clients}
    fh.SecAggServer(config).collect_public_keys({**keys, 2: keys[1]})


def with_nan(vectors, k, index=3):
    vectors = [v.clone() for v in vectors]
    vectors[k][index] = float("nan")
    return vectors


def with_value(vectors, k, value, index=3):
    vectors = [v.clone() for v in vectors]
    vectors[k][index] = value
    return vectors


def strict_run_with_one_owner_per_round(w):
    previous = fh.set_policy(fh.PrivacyPolicy(strict=True))
    try:
        workers = [w.bob, w.alice, fh.VirtualWorker("carol"), fh.VirtualWorker("dave")]
        fh.run_fedavg_on_workers(w.model, workers, w.secure_worker, w.train, w.digits.test, w.clients,
                                 fh.FedAvgConfig(rounds=2, client_fraction=0.25, progress=False))
    finally:
        fh.set_policy(previous)


def run_fedavg_on_workers(w, **change):
    arguments = dict(model=w.model, workers=[w.bob, w.alice], secure_worker=w.secure_worker, train=w.train,
                     test=w.digits.test, client_indices=w.clients[:2],
                     config=fh.FedAvgConfig(rounds=1, client_fraction=1.0, progress=False))
    fh.run_fedavg_on_workers(**(arguments | change))


def no_bias_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 8, bias=False), nn.ReLU(), nn.Linear(8, 10))


def run(w, **change):
    arguments = dict(model=w.model, train=w.train, test=w.digits.test, client_indices=w.clients, config=w.config)
    fh.run_fedavg(**(arguments | change))


TABLE = [
    # --- workers and pointers ---
    ("workers and pointers", "send to something that is not a worker", lambda w: fh.send(torch.ones(1), [1, 2]),
     TypeError, ["send() needs a fh.VirtualWorker"]),
    ("workers and pointers", "send an object that cannot be serialized", lambda w: fh.send(lambda x: x, w.bob),
     TypeError, ["cannot be serialized"]),
    ("workers and pointers", "send a pointer", lambda w: fh.send(w.on_owners[0], w.alice), TypeError,
     ["already on a worker", "move"]),
    ("workers and pointers", "send private data to a trusted worker",
     lambda w: fh.send(torch.ones(1), w.secure_worker, private=True), ValueError, ["trusted worker", "owns none"]),
    ("workers and pointers", "a worker name nobody has", lambda w: fh.send(torch.ones(1), "carol"), fh.WorkerError,
     ["no worker is named 'carol'", "known workers: alice, bob, secure_worker"]),
    ("workers and pointers", "a data owner's name for a trusted worker",
     lambda w: fh.VirtualWorker("bob", trusted=True), fh.WorkerError, ["'bob' is a data owner", "another name"]),
    ("workers and pointers", "a worker name that is not an identifier", lambda w: fh.VirtualWorker("two words"),
     fh.WorkerError, ["identifier"]),
    ("workers and pointers", "a worker policy that is not a PrivacyPolicy",
     lambda w: fh.VirtualWorker("carol", policy="strict"), TypeError, ["fh.PrivacyPolicy"]),
    ("workers and pointers", "move to the worker it is on", lambda w: w.on_owners[0].move(w.bob), fh.WorkerError,
     ["already on bob"]),
    ("workers and pointers", "move to something that is not a worker", lambda w: w.on_owners[0].move(42), TypeError,
     ["move() needs"]),
    ("workers and pointers", "use a pointer after .get()", lambda w: w.fetched * 2, fh.PointerError,
     ["no longer be used", "fetched with .get()"]),
    ("workers and pointers", "mix objects on two workers", lambda w: w.bobs_data + w.alices_data, fh.LocationError,
     ["bob", "alice", "runs on one worker"]),
    ("workers and pointers", "run a lambda remotely", lambda w: fh.remote(lambda t: t, w.bobs_data), TypeError,
     ["module level"]),
    ("workers and pointers", "remote() without a pointer", lambda w: fh.remote(torch.add, torch.ones(1), 1),
     ValueError, ["no pointer arguments"]),
    ("workers and pointers", "remote() of something not callable", lambda w: fh.remote(3, w.bobs_data), TypeError,
     ["remote() needs a function"]),
    ("workers and pointers", "pickle a pointer", lambda w: pickle.dumps(w.on_owners[0]), TypeError, ["ptr.copy()"]),
    ("workers and pointers", "read a remote value locally", lambda w: bool(w.bobs_weight), TypeError,
     ["points to an object on another worker"]),
    ("workers and pointers", "fetch a data owner's private data", lambda w: w.bobs_data.get(), fh.PrivacyError,
     ["depends on bob's private data"]),
    ("workers and pointers", "move private data to an untrusted worker", lambda w: w.bobs_data.move(w.alice),
     fh.PrivacyError, ["alice is not trusted"]),
    ("workers and pointers", "fetch one owner's model from the trusted worker", lambda w: w.models[0].get(),
     fh.PrivacyError, ["combine at least 2 data owners"]),
    # --- privacy policy ---
    ("privacy policy", "min_contributors below 1", lambda w: fh.PrivacyPolicy(min_contributors=0), ValueError,
     ["min_contributors: 0", "at least 1"]),
    ("privacy policy", "min_contributors not an int", lambda w: fh.PrivacyPolicy(min_contributors=1.5), TypeError,
     ["min_contributors must be an int"]),
    ("privacy policy", "strict given as a string", lambda w: fh.PrivacyPolicy(strict="false"), TypeError,
     ["strict must be True or False, got 'false'"]),
    ("privacy policy", "allow_scalar_metrics given as a number",
     lambda w: fh.PrivacyPolicy(allow_scalar_metrics=0), TypeError, ["allow_scalar_metrics must be True or False"]),
    ("privacy policy", "set_policy with something else", lambda w: fh.set_policy("strict"), TypeError,
     ["needs a fh.PrivacyPolicy"]),
    # --- averaging on a trusted worker ---
    ("averaging", "average on an untrusted worker", lambda w: fh.secure_average(w.models, w.bob), fh.WorkerError,
     ["bob is not trusted"]),
    ("averaging", "average an empty list", lambda w: fh.secure_average([], w.secure_worker), ValueError,
     ["empty list"]),
    ("averaging", "average something that is not a list", lambda w: fh.secure_average(w.linear, w.secure_worker),
     TypeError, ["list of pointers"]),
    ("averaging", "average local models, not pointers", lambda w: fh.secure_average([w.linear], w.secure_worker),
     TypeError, ["needs pointers"]),
    ("averaging", "average models of different shapes",
     lambda w: fh.secure_average(w.models + [w.other_shape], w.secure_worker),
     ValueError, ["has shape (1, 3) but expected (1, 2)"]),
    ("averaging", "load the average into another architecture",
     lambda w: fh.secure_average(w.models, w.secure_worker, into=nn.Linear(3, 1)), ValueError, ["shape"]),
    ("averaging", "load the average into something that is not a model",
     lambda w: fh.secure_average(w.models, w.secure_worker, into={}), TypeError, ["into= must be an nn.Module"]),
    ("averaging", "a negative weight", lambda w: fh.secure_average(w.models, w.secure_worker, weights=[1, -1]),
     ValueError, ["Invalid weight: -1.0"]),
    ("averaging", "all weights zero", lambda w: fh.secure_average(w.models, w.secure_worker, weights=[0, 0]),
     ValueError, ["all weights are zero"]),
    ("averaging", "one weight for two models", lambda w: fh.secure_average(w.models, w.secure_worker, weights=[1]),
     ValueError, ["got 1 weights for 2 inputs"]),
    ("averaging", "a NaN weight",
     lambda w: fh.secure_average(w.models, w.secure_worker, weights=[1, float("nan")]), ValueError,
     ["Invalid weight: nan"]),
    ("averaging", "weights given as strings",
     lambda w: fh.secure_average(w.models, w.secure_worker, weights=["3", "1"]), TypeError,
     ["Invalid weight: '3' (str)", "must be numbers"]),
    ("averaging", "weights as a 2-D tensor",
     lambda w: fh.secure_average(w.models, w.secure_worker, weights=torch.ones(1, 2)), ValueError,
     ["weights must be 1-D"]),
    ("averaging", "average_losses of models", lambda w: fh.average_losses(w.models, w.secure_worker), TypeError,
     ["averages scalars"]),
    ("averaging", "secret sharing with every model on one worker",
     lambda w: fh.secret_shared_average([w.on_owners[0], w.second_on_bob]), ValueError,
     ["at least two workers"]),
    ("averaging", "a secret-shared average that is one owner's model",
     lambda w: fh.secret_shared_average(w.on_owners, weights=[1, 0]),
     fh.PrivacyError, ["depends on bob's private data only"]),
    # --- fixed point and additive secret sharing ---
    ("fixed point and additive shares", "frac_bits beyond int64", lambda w: fh.FixedPoint(63), ValueError,
     ["Invalid frac_bits: 63"]),
    ("fixed point and additive shares", "frac_bits not an int", lambda w: fh.FixedPoint(16.0), TypeError,
     ["frac_bits must be an int"]),
    ("fixed point and additive shares", "a sum that cannot fit the ring",
     lambda w: FP.check_sum_fits(1000, 1e9), OverflowError, ["clip inputs to", "lower frac_bits to 23"]),
    ("fixed point and additive shares", "a sum of no terms", lambda w: FP.check_sum_fits(0, 1.0), ValueError,
     ["Invalid n_terms: 0"]),
    ("fixed point and additive shares", "an infinite bound", lambda w: FP.check_sum_fits(2, float("inf")),
     ValueError, ["Invalid max_abs: inf"]),
    ("fixed point and additive shares", "encode NaN", lambda w: FP.encode(torch.tensor([float("nan")])), ValueError,
     ["NaN or infinite"]),
    ("fixed point and additive shares", "encode integers", lambda w: FP.encode(torch.tensor([1, 2])), TypeError,
     ["floating-point tensor"]),
    ("fixed point and additive shares", "encode a value beyond the agreed bound",
     lambda w: FP.encode(torch.tensor([1.0000001]), max_abs=1.0), OverflowError,
     ["value 1.0000001192092896 exceeds the agreed bound |x| <= 1.0"]),
    ("fixed point and additive shares", "decode floats", lambda w: FP.decode(torch.ones(2)), TypeError,
     ["int64 tensor"]),
    ("fixed point and additive shares", "one share only", lambda w: fh.share_tensors([torch.ones(2)], 1), ValueError,
     ["Invalid n_shares: 1"]),
    ("fixed point and additive shares", "share a bare tensor", lambda w: fh.share_tensors(torch.ones(2), 2),
     TypeError, ["wrap it as [tensor]"]),
    ("fixed point and additive shares", "share with an encoder that is not FixedPoint",
     lambda w: fh.share_tensors([torch.ones(2)], 2, encoder=24), TypeError, ["encoder must be a fh.FixedPoint"]),
    ("fixed point and additive shares", "add shares whose values' sum could wrap",
     lambda w: fh.add_shares([fh.share_tensors([torch.tensor([4e11], dtype=torch.float64)], 2)[0] for _ in range(3)]),
     OverflowError, ["3 different values", "could wrap around", "encoder.max_abs_for_sum(3)"]),
    ("fixed point and additive shares", "add the same share twice",
     lambda w: (lambda s: fh.add_shares([s[0], s[0]]))(fh.share_tensors([torch.ones(2)], 2)), ValueError,
     ["each share may be added once"]),
    ("fixed point and additive shares", "add shares of different shapes",
     lambda w: fh.add_shares([fh.share_tensors([torch.ones(2)], 2)[0], [torch.zeros(3, dtype=torch.int64)]]),
     ValueError, ["has shape (3,)"]),
    ("fixed point and additive shares", "add float tensors as shares",
     lambda w: fh.add_shares([fh.share_tensors([torch.ones(2)], 2)[0], [torch.ones(2)]]), TypeError, ["not int64"]),
    ("fixed point and additive shares", "add no share-lists", lambda w: fh.add_shares([]), ValueError,
     ["no share-lists"]),
    ("fixed point and additive shares", "add shares of two encodings",
     lambda w: fh.add_shares([fh.share_tensors([torch.ones(1)], 2, max_abs=1.0)[0],
                              fh.share_tensors([torch.ones(1)], 2, max_abs=1.0, encoder=fh.FixedPoint(16))[0]]),
     ValueError, ["mix values encoded with frac_bits [16, 24]"]),
    ("fixed point and additive shares", "reconstruct from too few shares",
     lambda w: fh.reconstruct_tensors(fh.share_tensors([torch.ones(2)], 3)[:2]), ValueError,
     ["got 2 of the 3 shares"]),
    ("fixed point and additive shares", "reconstruct with another frac_bits",
     lambda w: fh.reconstruct_tensors(fh.share_tensors([torch.ones(2)], 2), encoder=fh.FixedPoint(16)), ValueError,
     ["encoder=fh.FixedPoint(frac_bits=24)"]),
    ("fixed point and additive shares", "a shared average whose bound overflows",
     lambda w: fh.shared_average([[torch.ones(2)], [torch.ones(2)]], 2, max_abs=FP.max_abs_for_sum(1)),
     OverflowError, ["clip inputs to"]),
    # --- Shamir secret sharing ---
    ("Shamir shares", "a threshold above the number of shares", lambda w: fh.shamir_split(1, 6, 5), ValueError,
     ["Invalid threshold: 6"]),
    ("Shamir shares", "a secret outside the field", lambda w: fh.shamir_split(fh.SHAMIR_PRIME, 2, 3), ValueError,
     ["Invalid secret", "157 digits, 521 bits"]),
    ("Shamir shares", "a secret that is not an int", lambda w: fh.shamir_split(b"key", 2, 3), TypeError,
     ["secret must be an int"]),
    ("Shamir shares", "a modulus that is not prime", lambda w: fh.shamir_split(5, 2, 3, prime=561), ValueError,
     ["561 is not prime"]),
    ("Shamir shares", "fewer shares than the threshold", lambda w: fh.shamir_combine(shamir_shares()[:2], 3),
     ValueError, ["need at least threshold = 3 shares"]),
    ("Shamir shares", "one share twice", lambda w: fh.shamir_combine([shamir_shares()[0]] * 3, 3), ValueError,
     ["repeated x"]),
    ("Shamir shares", "a share that is not an (x, y) tuple", lambda w: fh.shamir_combine([[1, 2], [2, 3]], 2),
     TypeError, ["(x, y) tuple"]),
    ("Shamir shares", "a share at x = 0", lambda w: fh.shamir_combine([(0, 1), (1, 2)], 2), ValueError,
     ["Invalid share x: 0"]),
    ("Shamir shares", "a corrupted share among more than the threshold",
     lambda w: fh.shamir_combine([(1, 7)] + shamir_shares()[1:], 3), ValueError, ["does not lie on the polynomial"]),
    ("Shamir shares", "a threshold smaller than the one split with",
     lambda w: fh.shamir_combine(shamir_shares(threshold=4), 3), ValueError,
     ["3 is not the threshold the secret was split with"]),
    # --- secure aggregation ---
    ("secure aggregation", "threshold 1", lambda w: fh.secure_aggregate(w.vectors, 1), ValueError,
     ["Invalid threshold: 1"]),
    ("secure aggregation", "a threshold above the number of clients", lambda w: fh.secure_aggregate(w.vectors, 5),
     ValueError, ["Invalid threshold: 5", "n_clients = 4"]),
    ("secure aggregation", "a single client", lambda w: fh.secure_aggregate(w.vectors[:1], 1), ValueError,
     ["at least 2 client vectors"]),
    ("secure aggregation", "vectors of different sizes",
     lambda w: fh.secure_aggregate(w.vectors[:3] + [torch.zeros(11)], 3), ValueError,
     ["agreed vector_size is 10"]),
    ("secure aggregation", "an integer vector",
     lambda w: fh.secure_aggregate(w.vectors[:3] + [torch.zeros(10, dtype=torch.int64)], 3), TypeError,
     ["1-D float tensor"]),
    ("secure aggregation", "a NaN in one client's vector", lambda w: fh.secure_aggregate(with_nan(w.vectors, 2), 3),
     ValueError, ["vectors[2] holds 1 NaN", "index 3"]),
    ("secure aggregation", "a value beyond the agreed bound",
     lambda w: fh.secure_aggregate(with_value(w.vectors, 1, 1.5), 3), OverflowError,
     ["vectors[1]: value 1.5 (index 3) exceeds the agreed bound"]),
    ("secure aggregation", "a client dropping twice",
     lambda w: fh.secure_aggregate(w.vectors, 3, drop_before_masking={1}, drop_before_unmasking={1}), ValueError,
     ["must not overlap"]),
    ("secure aggregation", "a dropout id that is no client",
     lambda w: fh.secure_aggregate(w.vectors, 3, drop_before_masking={4}), ValueError, ["not client ids"]),
    ("secure aggregation", "more dropouts than the threshold allows",
     lambda w: fh.secure_aggregate(w.vectors, 3, drop_before_masking={0, 1}), fh.DropoutError,
     ["round 2: only 2 of 4 clients", "fewer than threshold t = 3"]),
    ("secure aggregation", "a bound whose sum overflows the ring", lambda w: fh.SecAggConfig(4, 3, 10, max_abs=1e12),
     OverflowError, ["clip inputs to"]),
    ("secure aggregation", "an encoder of the wrong kind", lambda w: fh.SecAggConfig(4, 3, 10, encoder=24),
     TypeError, ["encoder must be a FixedPoint", "or a Quantizer"]),
    ("secure aggregation", "a client id outside 0..n-1", lambda w: fh.SecAggClient(3, fh.SecAggConfig(3, 2, 4)),
     ValueError, ["Invalid client id: 3"]),
    ("secure aggregation", "a public key advertised twice", lambda w: duplicate_public_keys(), ValueError,
     ["already in use"]),
    ("secure aggregation", "a client round out of order",
     lambda w: fh.SecAggClient(0, fh.SecAggConfig(3, 2, 4)).share_keys({}), RuntimeError,
     ["ready for round 0, not 1"]),
    ("secure aggregation", "a server round out of order",
     lambda w: fh.SecAggServer(fh.SecAggConfig(3, 2, 4)).collect_masked_inputs({}), RuntimeError,
     ["server is ready for round 0, not 2"]),
    ("secure aggregation", "asking a client counted as dropped to unmask", lambda w: unmask_without_self(),
     ValueError, ["client 0 is not in the survivor list"]),
    ("secure aggregation", "a share altered by the relaying server", lambda w: forged_share(), InvalidTag,
     ["the encrypted shares client 1 sent to client 0 fail authentication"]),
    ("secure aggregation", "a seed that is not an int", lambda w: fh.secure_aggregate(w.vectors, 3, seed="1"),
     TypeError, ["seed must be an int"]),
    ("secure aggregation", "Quantizer with 0 bits", lambda w: fh.Quantizer(0), ValueError, ["Invalid bits: 0"]),
    ("secure aggregation", "Quantizer with more than 32 bits", lambda w: fh.Quantizer(40), ValueError,
     ["Invalid bits: 40"]),
    ("secure aggregation", "a ring too wide to decode exactly",
     lambda w: fh.SecAggConfig(2**22, 2, 10, encoder=fh.Quantizer(32)), ValueError,
     ["= 54 bits, more than the 53"]),
    ("secure aggregation", "an empty quantisation range",
     lambda w: fh.secure_aggregate(w.vectors, 3, max_abs=0.0, encoder=Q), ValueError, ["Invalid max_abs: 0.0"]),
    ("secure aggregation", "a packed masked input of the wrong size", lambda w: short_masked_input(), ValueError,
     ["client 1's masked input must be 36 bytes"]),
    ("secure aggregation", "a ring size no mode uses", lambda w: fh.secagg_bytes_per_client(10, 100, ring_bits=60),
     ValueError, ["Invalid ring_bits: 60"]),
    ("secure aggregation", "pack values beyond k bits", lambda w: fh.pack_bits(torch.tensor([0, 16]), 4),
     ValueError, ["values must lie in [0, 2**4)"]),
    ("secure aggregation", "unpack bytes of the wrong length", lambda w: fh.unpack_bits(b"abc", 4, 3), ValueError,
     ["3 elements of 4 bits take 2 bytes, got 3"]),
    ("secure aggregation", "a PRG seed of the wrong length", lambda w: fh.expand_seed(b"short", 10), ValueError,
     ["seed must be 32 bytes, got 5 bytes"]),
    ("secure aggregation", "PRG output of a float dtype", lambda w: fh.expand_seed(bytes(32), 10, torch.float32),
     TypeError, ["Invalid dtype: torch.float32"]),
    ("secure aggregation", "derive a seed from nothing", lambda w: fh.derive_seed(b"", b"masks"), ValueError,
     ["shared_secret must be non-empty bytes"]),
    ("secure aggregation", "distributed DP with a range too small for the noise",
     lambda w: fh.secure_aggregate(w.vectors, 3, dp=fh.DistributedDP(1.0, 1.0), max_abs=1.0), ValueError,
     ["max_abs=1.0 is below the range the noisy values need", "leave max_abs=None"]),
    ("secure aggregation", "noise shares of a few quantisation steps",
     lambda w: fh.secure_aggregate(w.vectors, 3, dp=fh.DistributedDP(1.0, 0.01), encoder=fh.Quantizer(4)), ValueError,
     ["encoding steps", "the guarantee would not hold", "more bits than Quantizer(bits=4)"]),
    ("secure aggregation", "dp that is not a DistributedDP", lambda w: fh.secure_aggregate(w.vectors, 3, dp=0.5),
     TypeError, ["dp must be a fh.DistributedDP(max_norm, noise_multiplier) or None, got float"]),
    # --- differential privacy ---
    ("differential privacy", "a zero clipping norm", lambda w: fh.clip_update([torch.ones(2)], 0.0), ValueError,
     ["Invalid max_norm: 0.0"]),
    ("differential privacy", "clip an update holding NaN",
     lambda w: fh.clip_update({"w": torch.tensor([1.0, float("nan")])}, 1.0), ValueError,
     ["update holds 1 NaN or infinite entries (tensor 'w')"]),
    ("differential privacy", "clip an integer update",
     lambda w: fh.clip_update([torch.ones(2, dtype=torch.int64)], 1.0), TypeError, ["floating-point"]),
    ("differential privacy", "clip a string", lambda w: fh.clip_update("update", 1.0), TypeError,
     ["a tensor, a list of tensors or a dict"]),
    ("differential privacy", "a negative noise multiplier", lambda w: fh.dp_aggregate([[torch.ones(2)]], 1.0, -0.5),
     ValueError, ["Invalid noise_multiplier: -0.5"]),
    ("differential privacy", "updates of different shapes",
     lambda w: fh.dp_aggregate([[torch.ones(2)], [torch.ones(3)]], 1.0, 1.0), ValueError, ["same model"]),
    ("differential privacy", "no updates", lambda w: fh.dp_aggregate([], 1.0, 1.0), ValueError, ["no updates"]),
    ("differential privacy", "dict updates with different keys",
     lambda w: fh.dp_aggregate([{"a": torch.ones(2)}, {"b": torch.ones(2)}], 1.0, 1.0), ValueError,
     ["updates[1] has keys ['b'] that updates[0] lacks and lacks ['a']"]),
    ("differential privacy", "a dict update next to a list update",
     lambda w: fh.dp_aggregate([{"a": torch.ones(2)}, [torch.ones(2)]], 1.0, 1.0), TypeError,
     ["updates[1] is a list but updates[0] is a dict"]),
    ("differential privacy", "a client update holding inf",
     lambda w: fh.dp_aggregate([[torch.ones(2)], [torch.tensor([0.0, float("inf")])]], 1.0, 1.0), ValueError,
     ["updates[1] holds 1 NaN or infinite entries"]),
    ("differential privacy", "zero expected clients",
     lambda w: fh.dp_aggregate([[torch.ones(2)]], 1.0, 1.0, expected_clients=0), ValueError,
     ["Invalid expected_clients: 0"]),
    ("differential privacy", "a sampling rate above 1", lambda w: fh.dp_epsilon(1.0, 1.5, 10, 1e-5), ValueError,
     ["Invalid sample_rate: 1.5"]),
    ("differential privacy", "delta 0", lambda w: fh.dp_epsilon(1.0, 0.1, 10, 0.0), ValueError,
     ["Invalid delta: 0.0"]),
    ("differential privacy", "negative rounds", lambda w: fh.dp_epsilon(1.0, 0.1, -1, 1e-5), ValueError,
     ["Invalid rounds: -1"]),
    ("differential privacy", "an unknown accountant", lambda w: fh.dp_epsilon(1.0, 0.1, 10, 1e-5, accountant="x"),
     ValueError, ["Invalid accountant: 'x'"]),
    ("differential privacy", "distributed DP with a negative noise multiplier",
     lambda w: fh.DistributedDP(1.0, -0.5), ValueError, ["Invalid noise_multiplier: -0.5", "before any key exchange"]),
    ("differential privacy", "distributed DP with a NaN clipping norm",
     lambda w: fh.DistributedDP(float("nan"), 1.0), ValueError, ["Invalid max_norm: nan", "finite number > 0"]),
    ("differential privacy", "distributed DP with an infinite noise multiplier",
     lambda w: fh.DistributedDP(1.0, float("inf")), ValueError, ["Invalid noise_multiplier: inf"]),
    ("differential privacy", "distributed DP with a negative clipping norm",
     lambda w: fh.DistributedDP(-1.0, 1.0), ValueError, ["Invalid max_norm: -1.0"]),
    ("differential privacy", "distributed DP with a string noise multiplier",
     lambda w: fh.DistributedDP(1.0, "1"), TypeError, ["noise_multiplier must be a number"]),
    ("differential privacy", "a distributed DP aggregator with an infinite clipping norm",
     lambda w: fh.distributed_dp_aggregator(float("inf"), 1.0), ValueError, ["Invalid max_norm: inf"]),
    ("differential privacy", "a distributed DP aggregator with threshold 1",
     lambda w: fh.distributed_dp_aggregator(1.0, 1.0, threshold=1.0), ValueError, ["Invalid threshold: 1.0"]),
    ("differential privacy", "Poisson sampling of no clients", lambda w: fh.poisson_sample_clients(0, 0.5),
     ValueError, ["Invalid n_clients: 0"]),
    # --- robust aggregation ---
    ("robust aggregation", "Krum with too few clients for f", lambda w: fh.krum(w.updates[:8], 3), ValueError,
     ["n >= 2f + 3", "use f <= 2 or at least 9 clients"]),
    ("robust aggregation", "Multi-Krum averaging too many", lambda w: fh.multi_krum(w.updates, 3, m=13), ValueError,
     ["Invalid m: 13", "n - f = 12"]),
    ("robust aggregation", "a negative number of attackers", lambda w: fh.krum(w.updates, -1), ValueError,
     ["Invalid n_attackers: -1"]),
    ("robust aggregation", "trimming everything", lambda w: fh.trimmed_mean(w.updates, 8), ValueError,
     ["Invalid trim: 8", "use 0 <= trim <= 7"]),
    ("robust aggregation", "a trim fraction of one half", lambda w: fh.trimmed_mean(w.updates, 0.5), ValueError,
     ["Invalid trim fraction: 0.5"]),
    ("robust aggregation", "a median of no updates", lambda w: fh.coordinate_median([]), ValueError,
     ["got no updates"]),
    ("robust aggregation", "updates of different sizes",
     lambda w: fh.coordinate_median([w.updates[0], w.updates[1][:3]]), ValueError, ["updates[1] has 3 entries"]),
    ("robust aggregation", "updates as a 1-D tensor", lambda w: fh.coordinate_median(torch.zeros(3)), ValueError,
     ["must be 2-D"]),
    ("robust aggregation", "integer updates", lambda w: fh.coordinate_median([torch.ones(3, dtype=torch.int64)]),
     TypeError, ["floating-point"]),
    ("robust aggregation", "too many NaN updates for Krum to score",
     lambda w: fh.krum([u * float("nan") if k < 5 else u for k, u in enumerate(w.updates)], 3), ValueError,
     ["5 of the 15 updates hold NaN or inf (rows [0, 1, 2, 3, 4])"]),
    ("robust aggregation", "a majority of NaN updates for the median",
     lambda w: fh.coordinate_median([u * float("nan") if k < 8 else u for k, u in enumerate(w.updates)]),
     ValueError, ["8 of the 15 updates hold NaN or inf", "too many to outvote"]),
    ("robust aggregation", "a sign flip of negative magnitude", lambda w: fh.sign_flip_attack(w.updates[0], -1.0),
     ValueError, ["Invalid magnitude"]),
    ("robust aggregation", "Krum aggregator with negative f", lambda w: fh.krum_aggregator(-1), ValueError,
     ["Invalid n_attackers: -1"]),
    ("robust aggregation", "a trimmed-mean aggregator given a string", lambda w: fh.trimmed_mean_aggregator("3"),
     TypeError, ["trim must be an int"]),
    ("robust aggregation", "attackers that are not a set of ids",
     lambda w: fh.with_attackers(None, 3, lambda u: u), TypeError, ["attackers must be a set of client ids"]),
    # --- attacks on updates ---
    ("attacks", "a first layer without a bias",
     lambda w: fh.row_attack(torch.zeros(8 * 64 + 8 * 10 + 10), no_bias_model(), w.digits.x_test[:2], w.digits),
     ValueError, ["first layer '0' has no bias", "row_i(Delta W) / Delta b_i", "bias=True"]),
    ("attacks", "an update of another model", lambda w: fh.row_attack(torch.zeros(10), w.model, w.digits.x_test[:2],
                                                                       w.digits),
     ValueError, ["the update has 10 entries but the model has 650 parameters", "of this very model"]),
    ("attacks", "an update whose first layer has another shape",
     lambda w: fh.row_attack({"0.weight": torch.zeros(10, 32), "0.bias": torch.zeros(10)}, w.model,
                             w.digits.x_test[:2], w.digits), ValueError,
     ["the update's '0.weight' has shape (10, 32) but the model's has (10, 64)"]),
    ("attacks", "an update as a list", lambda w: fh.row_attack([torch.zeros(650)], w.model, w.digits.x_test[:2],
                                                                w.digits),
     TypeError, ["update must be a flat vector"]),
    ("attacks", "an update holding NaN",
     lambda w: fh.row_attack(torch.full((650,), float("nan")), w.model, w.digits.x_test[:2], w.digits), ValueError,
     ["NaN or infinite"]),
    ("attacks", "originals of another width",
     lambda w: fh.row_attack(torch.ones(650), w.model, torch.zeros(2, 32), w.digits), ValueError,
     ["originals have 32 pixels but the model's first layer takes 64"]),
    ("attacks", "scores on the ink scale without the digits split",
     lambda w: fh.row_attack(torch.ones(650), w.model, w.digits.x_test[:2], None), TypeError,
     ["digits must be the fh.Digits split"]),
    ("attacks", "a crafted model with more bins than rows",
     lambda w: fh.craft_model(fh.mlp(64, 8, 10), w.digits.x_test, bins=9), ValueError,
     ["Invalid bins: 9", "the first layer has 8 rows", "bins <= 8"]),
    ("attacks", "craft a model whose first layer has no bias",
     lambda w: fh.craft_model(no_bias_model(), w.digits.x_test), ValueError, ["has no bias"]),
    ("attacks", "craft a model without a second layer", lambda w: fh.craft_model(w.linear, w.digits.x_test),
     ValueError, ["needs a second nn.Linear"]),
    ("attacks", "craft from public images of another width",
     lambda w: fh.craft_model(fh.mlp(64, 8, 10), torch.zeros(5, 32)), ValueError, ["public images of 64 pixels"]),
    ("attacks", "read back an honest model's update",
     lambda w: fh.read_back(torch.ones(8 * 64 + 8 + 8 * 10 + 10), fh.mlp(64, 8, 10), w.digits.x_test[:2], w.digits),
     ValueError, ["needs the crafted model", "fh.row_attack"]),
    # --- data, splits and the simulator ---
    ("data and simulation", "zero rounds", lambda w: fh.FedAvgConfig(rounds=0), ValueError, ["rounds: 0"]),
    ("data and simulation", "an infinite learning rate", lambda w: fh.FedAvgConfig(lr=float("inf")), ValueError,
     ["Invalid learning rate: inf (must be a finite number in (0, inf))"]),
    ("data and simulation", "an unknown engine", lambda w: fh.FedAvgConfig(engine="gpu"), ValueError,
     ["Invalid engine: 'gpu'"]),
    ("data and simulation", "a client fraction above 1", lambda w: fh.FedAvgConfig(client_fraction=1.5), ValueError,
     ["client_fraction: 1.5"]),
    ("data and simulation", "an unknown sampling", lambda w: fh.FedAvgConfig(sampling="random"), ValueError,
     ["Invalid sampling: 'random'"]),
    ("data and simulation", "an aggregator given by name", lambda w: fh.FedAvgConfig(aggregator="median"),
     TypeError, ["aggregator must be None"]),
    ("data and simulation", "FedSGD with local epochs", lambda w: fh.FedAvgConfig.fedsgd(local_epochs=5), TypeError,
     ["FedSGD fixes"]),
    ("data and simulation", "a model that is not a module", lambda w: run(w, model=lambda x: x), TypeError,
     ["nn.Module"]),
    ("data and simulation", "train data that is not an (x, y) pair", lambda w: run(w, train=w.train[0]), TypeError,
     ["pair of tensors"]),
    ("data and simulation", "overlapping client indices",
     lambda w: run(w, client_indices=[w.clients[0], torch.cat([w.clients[1], w.clients[0][:1]])]), ValueError,
     ["clients 0 and 1 both hold sample"]),
    ("data and simulation", "a sample listed twice by one client",
     lambda w: run(w, client_indices=[torch.tensor([1, 1, 2])]), ValueError,
     ["client 0 lists sample 1 more than once"]),
    ("data and simulation", "an index outside the training set",
     lambda w: run(w, client_indices=[torch.tensor([0, 500])]), ValueError,
     ["index 500 is outside the training set of 120 samples"]),
    ("data and simulation", "a client without samples",
     lambda w: run(w, client_indices=[torch.arange(3), torch.tensor([], dtype=torch.long)]), ValueError,
     ["client 1 has no samples"]),
    ("data and simulation", "a model built for another feature width", lambda w: run(w, model=fh.mlp(32, 10)),
     ValueError, ["cannot take train's samples of shape (64,)"]),
    ("data and simulation", "labels beyond the model's outputs", lambda w: run(w, model=fh.mlp(64, 8)), ValueError,
     ["train has label 9, but the model gives 8 class scores"]),
    ("data and simulation", "more clients than samples", lambda w: fh.split_iid(torch.arange(5) % 2, 6), ValueError,
     ["cannot split 5 samples among 6 clients"]),
    ("data and simulation", "shards that cannot be dealt evenly",
     lambda w: fh.split_shards(w.train[1], 4, num_shards=10), ValueError, ["cannot be dealt evenly"]),
    ("data and simulation", "a Dirichlet concentration of 0", lambda w: fh.split_dirichlet(w.train[1], 4, alpha=0.0),
     ValueError, ["Invalid alpha: 0.0"]),
    ("data and simulation", "a test fraction of 1", lambda w: fh.load_digits_split(test_size=1.0), ValueError,
     ["Invalid test_size: 1.0"]),
    ("data and simulation", "images of another width back to the ink scale",
     lambda w: w.digits.to_pixels(torch.zeros(2, 32)), ValueError, ["images of 64 standardised pixels"]),
    ("data and simulation", "batches over no samples", lambda w: fh.local_batches(0, 10), ValueError,
     ["Invalid num_samples: 0"]),
    ("data and simulation", "averaging state dicts of different models",
     lambda w: fh.weighted_average([w.linear.state_dict(), nn.Linear(2, 2).state_dict()], [1, 1]), ValueError,
     ["has shape (2, 2)"]),
    ("data and simulation", "a secure aggregator with a threshold of 1",
     lambda w: fh.secure_aggregator(threshold=1.0), ValueError, ["Invalid threshold: 1.0"]),
    ("data and simulation", "flatten a bare tensor", lambda w: fh.flatten_params(torch.zeros(3)), TypeError,
     ["nn.Module, a state dict or a list"]),
    ("data and simulation", "unflatten into another model", lambda w: fh.unflatten_params(torch.zeros(4), w.linear),
     ValueError, ["flatten and unflatten the same model"]),
    # --- FedAvg through named workers ---
    ("federated workers", "an untrusted secure worker",
     lambda w: run_fedavg_on_workers(w, secure_worker=fh.VirtualWorker("helper")), fh.WorkerError,
     ["helper is not trusted"]),
    ("federated workers", "one worker for two clients", lambda w: run_fedavg_on_workers(w, workers=[w.bob, "bob"]),
     ValueError, ["bob is listed for client 0 and for client 1"]),
    ("federated workers", "a trusted worker as a client",
     lambda w: run_fedavg_on_workers(w, workers=[w.bob, w.secure_worker]), ValueError,
     ["secure_worker (client 1) is a trusted worker"]),
    ("federated workers", "a round whose average would be one owner's", strict_run_with_one_owner_per_round,
     fh.PrivacyError, ["counts 1 data owner(s)", "Nothing was sent"]),
    ("federated workers", "an aggregator the workers loop does not run",
     lambda w: run_fedavg_on_workers(w, config=fh.FedAvgConfig(aggregator=fh.median_aggregator())), ValueError,
     ["use fh.run_fedavg"]),
    ("federated workers", "a model that does not fit the data",
     lambda w: run_fedavg_on_workers(w, model=fh.mlp(64, 5)), ValueError, ["train has label 9"]),
    ("federated workers", "fewer workers than clients",
     lambda w: fh.share_data([w.bob], w.train, w.clients[:2]), ValueError, ["got 1 workers for 2 clients"]),
    ("federated workers", "workers given as one worker", lambda w: fh.share_data(w.bob, w.train, w.clients[:1]),
     TypeError, ["one worker (or worker name) per client"]),
]


@pytest.fixture(scope="module")
def shared_world(digits):
    """One world for every row: each row proves it changed nothing, so the next row finds the same world."""
    _worker._reset()
    world = World(digits)
    owners = dict(_worker._data_owners)
    yield world, owners
    _worker._reset()


@pytest.fixture
def world(shared_world):
    # every test starts with an empty federation (conftest); the world's workers and data owners join it again
    world, owners = shared_world
    _worker._workers.update({w.name: w for w in (world.bob, world.alice, world.secure_worker)})
    _worker._data_owners.update(owners)
    return world


@pytest.mark.parametrize("area, kind, call, error, words", TABLE, ids=[f"{a}: {k}" for a, k, *_ in TABLE])
def test_bad_input_is_refused_clearly_and_changes_nothing(world, area, kind, call, error, words):
    before = world.state()
    with pytest.raises(error) as raised:
        call(world)
    for word in words:
        assert word in str(raised.value), f"{kind}: {word!r} not in {str(raised.value)!r}"
    assert world.state() == before


def test_the_table_covers_over_a_hundred_kinds_and_the_readme_counts_them():
    kinds = [(area, kind) for area, kind, *_ in TABLE]
    assert len(set(kinds)) == len(kinds) >= 100
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for area, count in Counter(area for area, _ in kinds).items():
        assert re.search(rf"^\| {re.escape(area)} \| {count} \|", readme, re.M), f"README: {area} has {count} kinds"
    assert re.search(rf"^\| \*\*total\*\* \| \*\*{len(kinds)}\*\* \|", readme, re.M)
