"""Secure aggregation (Bonawitz et al. 2017): exact sums under dropouts, clear refusals, a server that sees only noise.

Statistical tests use fixed seeds (deterministic); thresholds are chosen so that a correct implementation
would fail with the stated probability for a random seed.
"""
import pytest
import torch
from scipy import stats
from torch import nn

import fedavg_helpers as fh
from fedavg_helpers.secure import secagg

FP = fh.FixedPoint()
ALPHA = 1e-4  # chi-square p-value threshold: false-failure probability 1e-4 per check
N, T, D = 10, 7, 1000


def inputs(n=N, d=D, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(d, generator=g, dtype=torch.float64) * 2 - 1 for _ in range(n)]


def shared_keys(config):
    """Clients and a server that have run rounds 0 and 1; returns them and each client's inbox of shares."""
    clients = [fh.SecAggClient(i, config) for i in range(config.n_clients)]
    server = fh.SecAggServer(config)
    keys = server.collect_public_keys({c.cid: c.advertise_keys() for c in clients})
    return clients, server, server.route_shares({c.cid: c.share_keys(keys) for c in clients})


def top_byte(v):
    return (v >> 56) & 0xFF


def uniform_p(bins, n_bins=256):
    return stats.chisquare(torch.bincount(bins.flatten(), minlength=n_bins).numpy()).pvalue


@pytest.mark.parametrize("drops", [
    {},  # no dropouts
    {"drop_before_masking": {4}},  # one client drops after sharing its keys
    {"drop_before_masking": {0, 5, 9}},  # n - t = 3 drop: the most the threshold allows
    {"drop_before_unmasking": {1, 2, 3}},  # n - t send their input, then vanish before unmasking
    {"drop_before_sharing": {0}, "drop_before_masking": {5}, "drop_before_unmasking": {9}},
], ids=["none", "one", "n-t", "n-t-late", "mixed"])
def test_masked_sum_equals_plain_sum_exactly(drops):
    xs = inputs()
    result = fh.secure_aggregate(xs, T, **drops)
    gone = drops.get("drop_before_sharing", set()) | drops.get("drop_before_masking", set())
    assert result.survivors == [u for u in range(N) if u not in gone]
    plain_ring_sum = torch.stack([FP.encode(xs[u]) for u in result.survivors]).sum(dim=0)
    assert torch.equal(result.ring_sum, plain_ring_sum)  # exact, in the ring
    plain = torch.stack([xs[u] for u in result.survivors]).sum(dim=0)
    assert (result.total - plain).abs().max().item() <= len(result.survivors) * FP.precision


@pytest.mark.parametrize("drops, round_", [
    ({"drop_before_sharing": {0, 1, 2, 3}}, 1),
    ({"drop_before_masking": {0, 1, 2, 3}}, 2),
    ({"drop_before_sharing": {0, 1}, "drop_before_masking": {2, 3}}, 2),
    ({"drop_before_unmasking": {0, 1, 2, 3}}, 4),
])
def test_too_many_dropouts_are_refused(drops, round_):
    with pytest.raises(fh.DropoutError, match=f"round {round_}: only 6 of 10 clients .* fewer than threshold t = 7"):
        fh.secure_aggregate(inputs(), T, **drops)


def test_the_server_sees_only_uniform_noise():
    # Every client sends the same constant vector; what reaches the server must still be uniform over the ring.
    d = 1 << 13
    xs = [torch.full((d,), 0.5, dtype=torch.float64) for _ in range(8)]
    result = fh.secure_aggregate(xs, 5, drop_before_masking={3}, seed=1)
    seen = [m for m in result.server.transcript if m.kind == "masked input"]
    assert len(seen) == 7
    pooled = torch.cat([m.payload for m in seen])
    assert uniform_p(top_byte(pooled)) > ALPHA and uniform_p(pooled & 0xFF) > ALPHA
    # Decoded, a masked input has nothing to do with the client's input.
    g = torch.Generator().manual_seed(2)
    xs = [torch.randn(4096, generator=g, dtype=torch.float64) * 0.1 for _ in range(5)]
    result = fh.secure_aggregate(xs, 3, seed=3)
    for u, y in result.server.masked_inputs.items():
        r = torch.corrcoef(torch.stack([FP.decode(y), xs[u]]))[0, 1].item()
        assert abs(r) < 0.07  # |r| of independent samples of 4096: > 0.07 has probability ~ 1e-5


def test_the_server_never_holds_an_individual_input_or_a_readable_share():
    xs = inputs()
    result = fh.secure_aggregate(xs, T, drop_before_masking={2})
    kinds = {m.kind for m in result.server.transcript}
    assert kinds == {"public keys", "encrypted shares", "masked input", "shares for unmasking"}
    for m in result.server.transcript:
        if m.kind == "encrypted shares":
            assert isinstance(m.payload, bytes) and len(m.payload) == secagg.CIPHERTEXT_BYTES
        if m.kind == "masked input":
            assert not torch.equal(m.payload, FP.encode(xs[m.sender]))
        if m.kind == "shares for unmasking":  # b shares for survivors, s-key shares for the dropped client only
            assert set(m.payload) == set(range(N))


def test_prg_output_is_uniform_over_the_ring_including_its_top_values():
    v = fh.expand_seed(bytes(range(32)), 1 << 18)
    assert v.dtype == torch.int64 and v.shape == (1 << 18,)
    assert uniform_p(top_byte(v)) > ALPHA  # bins 127 and 128 are the top and bottom of the signed range
    assert uniform_p(v & 0xFF) > ALPHA
    assert uniform_p((v >> 60) & 0xF, 16) > ALPHA  # coarse bins over the whole range, top values included
    assert torch.equal(v, fh.expand_seed(bytes(range(32)), 1 << 18))  # same seed, same stream
    other = fh.expand_seed(bytes(range(1, 33)), 1 << 18)
    assert (v == other).float().mean().item() < 1e-3


def test_mask_accumulation_equals_adding_the_expanded_seed():
    from fedavg_helpers.secure.prg import add_expanded_
    seed = fh.derive_seed(b"shared secret from X25519", b"test")
    acc = torch.arange(1000, dtype=torch.int64)
    expected = torch.arange(1000, dtype=torch.int64) - fh.expand_seed(seed, 1000)
    assert torch.equal(add_expanded_(acc, seed, -1), expected)
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        fh.expand_seed(b"short", 10)
    with pytest.raises(ValueError, match="Invalid sign"):
        add_expanded_(acc, seed, 2)


def test_bytes_sent_match_the_formula_and_the_vector_dominates():
    xs = inputs(d=5000)
    result = fh.secure_aggregate(xs, T, drop_before_masking={1, 8})
    expected = fh.secagg_bytes_per_client(N, 5000, n_dropped=2)
    for u in result.survivors:
        client = result.clients[u]
        assert (client.bytes_sent, client.bytes_received) == (expected["sent"], expected["received"])
    # Upload relative to a plain float32 vector: 2x for the 64-bit ring, plus key and share overhead.
    overhead = 2 * 32 + (N - 1) * (4 + secagg.CIPHERTEXT_BYTES) + N * (4 + 66)
    assert expected["sent"] == 8 * 5000 + overhead
    assert 2.0 < expected["sent"] / (4 * 5000) < 2.15


def test_a_seed_makes_a_run_reproducible():
    xs = inputs(n=4, d=50)
    a, b = fh.secure_aggregate(xs, 3, seed=9), fh.secure_aggregate(xs, 3, seed=9)
    assert all(torch.equal(a.server.masked_inputs[u], b.server.masked_inputs[u]) for u in range(4))


def test_models_aggregate_through_flat_vectors():
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)) for _ in range(4)]
    vectors = [fh.flatten_params(m) for m in models]
    assert vectors[0].shape == (4 * 3 + 3 + 3 * 2 + 2,)
    result = fh.secure_aggregate(vectors, 3)
    average = fh.unflatten_params(result.total.float() / 4, models[0].state_dict())
    for name, tensor in average.items():
        plain = torch.stack([m.state_dict()[name] for m in models]).mean(dim=0)
        assert torch.allclose(tensor, plain, atol=1e-6)
    target = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    target.load_state_dict(average)
    with pytest.raises(ValueError, match="flatten and unflatten the same model"):
        fh.unflatten_params(torch.zeros(3), models[0])
    with pytest.raises(TypeError, match="nn.Module, a state dict or a list"):
        fh.flatten_params(torch.zeros(3))


def test_an_input_above_the_bound_is_refused_and_the_client_can_retry():
    clients, server, inboxes = shared_keys(fh.SecAggConfig(3, 2, 4, max_abs=1.0))
    too_big = torch.tensor([0.5, 2.0, 0.0, 0.0])
    with pytest.raises(OverflowError, match="exceeds the agreed bound"):
        clients[0].masked_input(too_big, inboxes[0])
    xs = [too_big.clamp(-1, 1), torch.ones(4), -torch.ones(4)]
    survivors = server.collect_masked_inputs({c.cid: c.masked_input(xs[c.cid], inboxes[c.cid]) for c in clients})
    total = FP.decode(server.unmask({u: clients[u].unmask(survivors) for u in survivors}))
    assert torch.allclose(total, torch.tensor([0.5, 1.0, 0.0, 0.0], dtype=torch.float64), atol=3 * FP.precision)


def test_clients_refuse_unmasking_requests_that_could_expose_them():
    clients, server, inboxes = shared_keys(fh.SecAggConfig(4, 3, 8))
    for c in clients:
        c.masked_input(torch.zeros(8), inboxes[c.cid])
    with pytest.raises(ValueError, match="client 0 is not in the survivor list"):
        clients[0].unmask([1, 2, 3])
    with pytest.raises(ValueError, match="never shared keys"):
        clients[0].unmask([0, 1, 7])
    with pytest.raises(fh.DropoutError, match="refuses to unmask so few"):
        clients[0].unmask([0, 1])
    clients[0].unmask([0, 1, 2, 3])
    # A second request with another survivor list could reveal both shares of one client: refused.
    with pytest.raises(RuntimeError, match="answers round 4 once"):
        clients[0].unmask([0, 1, 2])


def test_a_tampered_share_is_detected_before_the_client_answers():
    from cryptography.exceptions import InvalidTag
    clients, server, inboxes = shared_keys(fh.SecAggConfig(3, 2, 4))
    inboxes[0][1] = bytes([inboxes[0][1][0] ^ 1]) + inboxes[0][1][1:]  # the relaying server flips one bit
    survivors = server.collect_masked_inputs({c.cid: c.masked_input(torch.zeros(4), inboxes[c.cid]) for c in clients})
    with pytest.raises(InvalidTag, match="the encrypted shares client 1 sent to client 0 fail authentication"):
        clients[0].unmask(survivors)  # before: an InvalidTag with an empty message
    assert clients[0].bytes_sent == fh.secagg_bytes_per_client(3, 4)["sent"] - 3 * (4 + 66)  # it sent nothing more


def test_rounds_out_of_order_are_refused():
    config = fh.SecAggConfig(3, 2, 4)
    client, server = fh.SecAggClient(0, config), fh.SecAggServer(config)
    with pytest.raises(RuntimeError, match="ready for round 0, not 1"):
        client.share_keys({})
    with pytest.raises(RuntimeError, match="server is ready for round 0, not 2"):
        server.collect_masked_inputs({})


def test_bad_configs_and_inputs_are_refused_with_the_fix():
    xs = inputs(n=4, d=10)
    with pytest.raises(ValueError, match="Invalid threshold: 1"):
        fh.secure_aggregate(xs, 1)
    with pytest.raises(ValueError, match="Invalid threshold: 5"):
        fh.secure_aggregate(xs, 5)
    with pytest.raises(ValueError, match="at least 2 client vectors"):
        fh.secure_aggregate(xs[:1], 1)
    with pytest.raises(ValueError, match="agreed vector_size is 10"):
        fh.secure_aggregate(xs[:3] + [torch.zeros(11)], 3)
    with pytest.raises(TypeError, match="1-D float tensor"):
        fh.secure_aggregate(xs[:3] + [torch.zeros(10, dtype=torch.int64)], 3)
    with pytest.raises(TypeError, match="1-D float tensor"):
        fh.secure_aggregate([x.reshape(2, 5) for x in xs], 3)
    with pytest.raises(ValueError, match="must not overlap"):
        fh.secure_aggregate(xs, 3, drop_before_masking={1}, drop_before_unmasking={1})
    with pytest.raises(ValueError, match="not client ids"):
        fh.secure_aggregate(xs, 3, drop_before_masking={4})
    with pytest.raises(OverflowError, match="clip inputs to"):
        fh.SecAggConfig(4, 3, 10, max_abs=1e12)
    with pytest.raises(TypeError, match="encoder must be a FixedPoint"):
        fh.SecAggConfig(4, 3, 10, encoder=24)
    config = fh.SecAggConfig(3, 2, 4)
    with pytest.raises(ValueError, match="Invalid client id: 3"):
        fh.SecAggClient(3, config)
    clients = [fh.SecAggClient(i, config) for i in range(3)]
    keys = {c.cid: c.advertise_keys() for c in clients}
    keys[2] = keys[1]
    with pytest.raises(ValueError, match="already in use"):
        fh.SecAggServer(config).collect_public_keys(keys)


def test_aggregations_in_several_threads_at_once_give_exact_sums():
    import threading
    results, errors = {}, []

    def aggregate(k):
        try:
            xs = inputs(n=5, d=3000, seed=100 + k)
            result = fh.secure_aggregate(xs, 3, seed=k, drop_before_masking={k % 5})
            plain = torch.stack([FP.encode(xs[u]) for u in result.survivors]).sum(dim=0)
            results[k] = torch.equal(result.ring_sum, plain)
        except Exception as e:  # a failure in a thread must fail the test, not vanish
            errors.append(e)

    threads = [threading.Thread(target=aggregate, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == {k: True for k in range(8)}


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_the_expanded_stream_is_the_aes_ctr_keystream_across_chunk_boundaries(dtype):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from fedavg_helpers.secure import prg
    seed = bytes(range(32))
    width = torch.tensor([], dtype=dtype).element_size()
    n = 3 * (prg._CHUNK_BYTES // width) + 5
    stream = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor().update(bytes(width * n))
    expected = torch.frombuffer(bytearray(stream), dtype=dtype)
    assert torch.equal(fh.expand_seed(seed, n, dtype), expected)
    acc = torch.arange(n, dtype=dtype)
    assert torch.equal(prg.add_expanded_(acc, seed, -1), torch.arange(n, dtype=dtype) - expected)


def test_the_result_keeps_every_client_secret_inside():
    import random

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    seed, n = 11, 5
    result = fh.secure_aggregate(inputs(n=n, d=20), 3, seed=seed, drop_before_masking={1})
    # the clients' secrets, re-derived from the seed as secure_aggregate draws them: two private keys, one seed
    master = random.Random(seed)
    secrets = []
    for _ in range(n):
        rng = random.Random(master.getrandbits(128))
        secrets += [rng.randbytes(32), rng.randbytes(32), rng.randbytes(32)]
    seen, stack, reachable = set(), [result], []
    while stack:  # everything reachable from the result, through attributes and containers
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (torch.Tensor, str, int, float, type(None))):
            continue
        seen.add(id(obj))
        reachable.append(obj)
        if isinstance(obj, dict):
            stack += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack += list(obj)
        elif hasattr(obj, "__dict__"):
            stack += list(vars(obj).values())
    assert not any(isinstance(o, (X25519PrivateKey, fh.SecAggClient)) for o in reachable)  # before: all of them
    blobs = [o for o in reachable if isinstance(o, (bytes, bytearray))]
    assert blobs and not any(secret in blob for secret in secrets for blob in blobs)
    # what a teacher needs is there: traffic, time, and who dropped when
    assert result.dropped == {1: "masking"} and [c.cid for c in result.clients] == list(range(n))
    expected = fh.secagg_bytes_per_client(n, 20, n_dropped=1)
    assert all(c.bytes_sent == expected["sent"] for c in result.clients if c.dropped_before is None)
    assert all(c.seconds > 0 for c in result.clients) and result.server_seconds > 0


def test_nan_inf_or_too_large_inputs_are_refused_up_front_naming_the_client():
    xs = inputs(n=4, d=10)
    xs[2] = xs[2].clone()
    xs[2][7] = float("nan")
    with pytest.raises(ValueError, match=r"vectors\[2\] holds 1 NaN or infinite entries \(the first at index 7\)"):
        fh.secure_aggregate(xs, 3)  # before: detected in round 2, naming no client
    xs[2][7] = 1.5
    with pytest.raises(OverflowError, match=r"vectors\[2\]: value 1.5 \(index 7\) exceeds the agreed bound"):
        fh.secure_aggregate(xs, 3)
    clients, server, inboxes = shared_keys(fh.SecAggConfig(3, 2, 4))
    with pytest.raises(ValueError, match="client 1's input holds 1 NaN"):
        clients[1].masked_input(torch.tensor([0.0, float("inf"), 0.0, 0.0]), inboxes[1])
    assert clients[1].bytes_sent == fh.secagg_bytes_per_client(3, 4)["sent"] - 8 * 4 - 3 * (4 + 66)  # sent nothing
