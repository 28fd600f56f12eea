"""Secure aggregation in a ring sized to the sum: quantised levels add up exactly, masks stay uniform in Z_(2**k),
masked vectors travel packed (under a float32 vector), and FedAvg on digits keeps its accuracy."""
import math
import random
from dataclasses import replace
from fractions import Fraction

import pytest
import torch
from scipy import stats

import fedavg_helpers as fh

Q = fh.Quantizer()  # the default: 16 bits
ALPHA = 1e-4  # chi-square p-value threshold: false-failure probability 1e-4 per check


def on_grid(n, d, seed=0, bits=16):
    """Inputs that are exact levels of a range whose step is a power of two, so rounding them is deterministic."""
    quantizer = fh.Quantizer(bits)
    max_abs = quantizer.levels / 2**(bits + 1)  # step = 2 max_abs / L = 2**-bits
    g = torch.Generator().manual_seed(seed)
    levels = [torch.randint(0, quantizer.levels + 1, (d,), generator=g) for _ in range(n)]
    return quantizer, max_abs, levels, [lv.double() * 2.0**-bits - max_abs for lv in levels]


# --- bit packing ---------------------------------------------------------------------------------------------

def test_packing_matches_a_big_integer_bit_string_for_every_width():
    rng = random.Random(0)
    for bits in list(range(1, 17)) + [23, 26, 31, 32, 33, 47, 53, 56]:
        for n in (0, 1, 7, 8, 9, 61):
            values = [rng.randrange(2**bits) for _ in range(n)]
            as_int = sum(v << (i * bits) for i, v in enumerate(values))  # element i at bits i*k .. i*k + k - 1
            packed = fh.pack_bits(torch.tensor(values, dtype=torch.int64), bits)
            assert packed == as_int.to_bytes(math.ceil(bits * n / 8), "little")
            assert fh.unpack_bits(packed, bits, n).tolist() == values


def test_packing_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError, match=r"values must lie in \[0, 2\*\*4\), got 0..16"):
        fh.pack_bits(torch.tensor([0, 16]), 4)
    with pytest.raises(ValueError, match="Invalid bits: 57"):
        fh.pack_bits(torch.tensor([0]), 57)
    with pytest.raises(TypeError, match="1-D int64"):
        fh.pack_bits(torch.tensor([0.5]), 4)
    with pytest.raises(ValueError, match="3 elements of 4 bits take 2 bytes, got 3"):
        fh.unpack_bits(b"abc", 4, 3)


# --- quantisation ----------------------------------------------------------------------------------------------

def test_quantised_sums_stay_within_the_stated_bound_and_are_unbiased():
    g = torch.Generator().manual_seed(1)
    quantizer, max_abs, n, d = fh.Quantizer(6), 0.5, 5, 4000  # coarse, so that the rounding is visible
    xs = [torch.randn(d, generator=g, dtype=torch.float64) * 0.2 for _ in range(n)]
    total = torch.zeros(d, dtype=torch.int64)
    for x in xs:
        levels, clipped = quantizer.encode(x, max_abs, g)
        assert clipped == int((x.abs() > max_abs).sum()) and 0 <= levels.min() and levels.max() <= quantizer.levels
        total += levels
    decoded = quantizer.decode_sum(total, n, max_abs)
    exact = [sum(Fraction(min(max(x[i].item(), -max_abs), max_abs)) for x in xs) for i in range(d)]
    errors = [float(Fraction(v) - e) for v, e in zip(decoded.tolist(), exact)]
    assert max(map(abs, errors)) <= quantizer.sum_error_bound(n, max_abs)
    assert max(map(abs, errors)) > 0.5 * quantizer.step(max_abs)  # the bound is not vacuous here
    # unbiased: each entry's error has mean 0 and variance <= n step**2 / 4; 6 standard errors fail w.p. 2e-9
    assert abs(sum(errors) / d) < 6 * math.sqrt(n / 4) * quantizer.step(max_abs) / math.sqrt(d)


def test_levels_of_exact_grid_values_are_exact():
    quantizer, max_abs, levels, xs = on_grid(1, 1000)
    got, clipped = quantizer.encode(xs[0], max_abs, torch.Generator().manual_seed(0))
    assert torch.equal(got, levels[0]) and clipped == 0


# --- secure aggregation in Z_(2**k) ----------------------------------------------------------------------------

@pytest.mark.parametrize("drops", [{}, {"drop_before_masking": {0, 4}}, {"drop_before_unmasking": {2}},
                                   {"drop_before_sharing": {1}, "drop_before_masking": {6}}],
                         ids=["none", "two before masking", "one before unmasking", "mixed"])
def test_the_unmasked_sum_of_levels_is_exact_with_dropouts(drops):
    quantizer, max_abs, levels, xs = on_grid(7, 3000)
    result = fh.secure_aggregate(xs, 4, max_abs=max_abs, encoder=quantizer, seed=3, **drops)
    gone = drops.get("drop_before_sharing", set()) | drops.get("drop_before_masking", set())
    assert result.survivors == [u for u in range(7) if u not in gone]
    assert result.server.config.ring_bits == 16 + 3
    assert torch.equal(result.ring_sum, sum(levels[u] for u in result.survivors))  # exact in Z_(2**19)
    exact = [sum(Fraction(xs[u][i].item()) for u in result.survivors) for i in range(3000)]
    assert [Fraction(v) for v in result.total.tolist()] == exact  # and so is the decoded sum, here


def test_random_inputs_decode_within_the_bound_of_their_sum():
    g = torch.Generator().manual_seed(4)
    xs = [torch.rand(2000, generator=g, dtype=torch.float64) * 1.6 - 0.8 for _ in range(6)]
    result = fh.secure_aggregate(xs, 4, encoder=Q, seed=5, drop_before_masking={3})
    plain = torch.stack([xs[u] for u in result.survivors]).sum(dim=0)
    assert (result.total - plain).abs().max().item() <= Q.sum_error_bound(5, 1.0)


def test_masked_inputs_are_uniform_over_the_small_ring():
    # Every client sends the same constant; the server's view of each entry must be uniform in Z_(2**k): the PRG's
    # words reduced to their low k bits, unbiased because 2**k divides 2**32.
    d = 1 << 13
    xs = [torch.full((d,), 0.25, dtype=torch.float64) for _ in range(8)]
    result = fh.secure_aggregate(xs, 5, encoder=Q, seed=6, drop_before_masking={3})
    k = result.server.config.ring_bits
    pooled = torch.cat(list(result.server.masked_inputs.values()))
    assert k == 19 and pooled.min() >= 0 and pooled.max() < 2**k
    for bins in (pooled >> (k - 8), pooled & 0xFF):  # top and bottom 8 bits of each k-bit element
        assert stats.chisquare(torch.bincount(bins, minlength=256).numpy()).pvalue > ALPHA
    for message in result.server.transcript:
        if message.kind == "masked input":  # what travelled: packed bytes, k bits per entry
            assert isinstance(message.payload, bytes)
            assert message.n_bytes == len(message.payload) == math.ceil(k * d / 8)


def test_uploads_no_more_than_the_plain_float32_vector_at_a_million_entries_and_100_clients():
    config = fh.SecAggConfig(100, 67, 10**6, encoder=Q)
    assert config.ring_bits == 16 + 7
    sent = fh.secagg_bytes_per_client(100, 10**6, ring_bits=config.ring_bits)["sent"]
    assert sent <= 4 * 10**6 and sent / (4 * 10**6) == pytest.approx(23 / 32, abs=0.01)
    # the formula is what a real run counts, message by message
    result = fh.secure_aggregate([torch.zeros(999, dtype=torch.float64)] * 9, 6, encoder=Q, drop_before_masking={2})
    expected = fh.secagg_bytes_per_client(9, 999, n_dropped=1, ring_bits=result.server.config.ring_bits)
    assert all((c.bytes_sent, c.bytes_received) == (expected["sent"], expected["received"])
               for c in result.clients if c.dropped_before is None)


def test_entries_beyond_the_range_are_clipped_and_counted_never_wrapped():
    xs = [torch.zeros(10, dtype=torch.float64) for _ in range(3)]
    xs[1][[2, 7]] = torch.tensor([5.0, -9.0], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match=r"2 entries were beyond the agreed range \[-1, 1\] .*\(client 1: 2\)"):
        result = fh.secure_aggregate(xs, 2, encoder=Q, seed=7)
    assert result.clipped == 2 and [c.clipped for c in result.clients] == [0, 2, 0]
    bound = Q.sum_error_bound(3, 1.0)
    assert abs(result.total[2].item() - 1.0) <= bound and abs(result.total[7].item() + 1.0) <= bound


@pytest.mark.parametrize("call, error, words", [
    (lambda: fh.Quantizer(0), ValueError, "Invalid bits: 0"),
    (lambda: fh.Quantizer(33), ValueError, "Invalid bits: 33"),
    (lambda: fh.Quantizer(16.0), TypeError, "bits must be an int"),
    (lambda: fh.Quantizer(True), TypeError, "bits must be an int"),
    (lambda: fh.SecAggConfig(2**22, 2, 10, encoder=fh.Quantizer(32)), ValueError,
     r"k = 32 \+ ceil\(log2 4194304\) = 54 bits, more than the 53 .* use bits <= 31 or fewer clients"),
    (lambda: fh.SecAggConfig(4, 3, 10, max_abs=0.0, encoder=Q), ValueError, "Invalid max_abs: 0.0"),
    (lambda: fh.SecAggConfig(4, 3, 10, max_abs=float("inf"), encoder=Q), ValueError, "Invalid max_abs: inf"),
    (lambda: fh.secure_aggregate([torch.zeros(3)] * 3, 2, max_abs=-1.0, encoder=Q), ValueError, "Invalid max_abs"),
    (lambda: fh.secagg_bytes_per_client(10, 100, ring_bits=0), ValueError, "Invalid ring_bits: 0"),
    (lambda: fh.secure_aggregator(bits=40), ValueError, "Invalid bits: 40"),
    (lambda: fh.secure_aggregator(max_abs=float("nan")), ValueError, "Invalid max_abs: nan"),
    (lambda: fh.secure_aggregator(threshold=1.0), ValueError, "Invalid threshold: 1.0"),
])
def test_bad_bits_rings_and_ranges_are_refused_before_any_key_exchange(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_the_server_refuses_a_masked_input_of_the_wrong_size():
    config = fh.SecAggConfig(3, 2, 16, encoder=Q)
    clients = [fh.SecAggClient(i, config) for i in range(3)]
    server = fh.SecAggServer(config)
    keys = server.collect_public_keys({c.cid: c.advertise_keys() for c in clients})
    inboxes = server.route_shares({c.cid: c.share_keys(keys) for c in clients})
    masked = {c.cid: c.masked_input(torch.zeros(16), inboxes[c.cid]) for c in clients}
    masked[1] = masked[1][:-1]
    with pytest.raises(ValueError, match=r"client 1's masked input must be 36 bytes \(16 entries of 18 bits"):
        server.collect_masked_inputs(masked)


# --- FedAvg on digits ------------------------------------------------------------------------------------------

def test_fedavg_through_quantised_secure_aggregation_keeps_its_accuracy_on_digits(digits):
    clients = fh.split_iid(digits.y_train, 100, seed=0)
    config = fh.FedAvgConfig(rounds=10, client_fraction=0.1, local_epochs=2, batch_size=10, lr=0.1, progress=False,
                             aggregator=fh.mean_aggregator())
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = fh.mlp(64, 10)
        plain = fh.run_fedavg(model, digits.train, digits.test, clients, replace(config, seed=seed))
        secure = fh.run_fedavg(model, digits.train, digits.test, clients,
                               replace(config, seed=seed, aggregator=fh.secure_aggregator()))
        assert plain.clients == secure.clients
        assert abs(secure.test_accuracy[-1] - plain.test_accuracy[-1]) <= 0.005  # the default b and range
        assert secure.test_accuracy[-1] > 0.85
