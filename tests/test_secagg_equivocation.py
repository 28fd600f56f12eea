"""A server that lies about who dropped out: what answering the unmasking round once does and does not stop.

Bonawitz et al. (2017) let a client answer round 4 once, and add a consistency round (round 3, not built here)
so that clients check they were all told the same survivor list. Without it, a server can tell one group of t
clients "client 0 dropped" (they return shares of its mask key) and a disjoint group of t "client 0 survived"
(they return shares of its self-mask seed); with both, it strips every mask from client 0's input. Two disjoint
groups of t clients exist exactly when 2t <= n; with 2t > n one client would have to answer twice, and it refuses.
"""
import itertools

import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import fedavg_helpers as fh
from fedavg_helpers.secure.prg import add_expanded_
from fedavg_helpers.secure.secagg import _to_ring
from fedavg_helpers.secure.shamir import shamir_combine


def after_masking(n, t, d=4):
    """Rounds 0-2 run honestly; the server holds every masked input."""
    config = fh.SecAggConfig(n, t, d)
    g = torch.Generator().manual_seed(n * 100 + t)
    xs = [torch.rand(d, generator=g) - 0.5 for _ in range(n)]
    clients = [fh.SecAggClient(i, config) for i in range(n)]
    server = fh.SecAggServer(config)
    keys = server.collect_public_keys({c.cid: c.advertise_keys() for c in clients})
    inbox = server.route_shares({c.cid: c.share_keys(keys) for c in clients})
    server.collect_masked_inputs({c.cid: c.masked_input(xs[c.cid], inbox[c.cid]) for c in clients})
    return xs, clients, server, keys


def strip_masks(server, keys, n, s_key_shares, b_seed_shares, t):
    """What the lying server computes from both kinds of share of client 0: client 0's own input."""
    s_key = shamir_combine(s_key_shares, t).to_bytes(32, "big")
    b_seed = shamir_combine(b_seed_shares, t).to_bytes(32, "big")
    y = _to_ring(server.masked_inputs[0], torch.int64).clone()
    add_expanded_(y, b_seed, -1)
    private = X25519PrivateKey.from_private_bytes(s_key)
    for v in range(1, n):  # client 0 added +mask for every peer v > 0
        add_expanded_(y, fh.SecAggClient._mask_seed(private, keys[v][1]), -1)
    return fh.FixedPoint().decode(y).float()


@pytest.mark.parametrize("n, t", [(7, 3), (6, 3), (4, 2)])
def test_with_2t_at_most_n_a_lying_server_reads_one_input(n, t):
    xs, clients, server, keys = after_masking(n, t)
    told_dropped = list(range(1, t + 1))              # "client 0 dropped": shares of its mask key
    told_survived = [0, *range(t + 1, 2 * t)]         # "client 0 survived": shares of its self-mask seed
    assert not set(told_dropped) & set(told_survived)  # each client answers once
    s_shares = [(w + 1, clients[w].unmask(told_dropped)[0]) for w in told_dropped]
    b_shares = [(w + 1, clients[w].unmask(told_survived)[0]) for w in told_survived]
    assert torch.allclose(strip_masks(server, keys, n, s_shares, b_shares, t), xs[0], atol=1e-6)


@pytest.mark.parametrize("n, t", [(5, 3), (7, 4), (3, 2)])
def test_with_2t_above_n_the_second_story_needs_a_client_twice_and_it_refuses(n, t):
    _, clients, _, _ = after_masking(n, t)
    # every way to tell t clients "0 dropped" leaves fewer than t others to tell "0 survived"
    assert all(len(set(range(n)) - set(group)) < t for group in itertools.combinations(range(1, n), t))
    told_dropped = list(range(1, t + 1))
    for w in told_dropped:
        clients[w].unmask(told_dropped)
    told_survived = [0, *range(t + 1, n), *told_dropped[: 2 * t - n]]  # t clients: some must answer again
    with pytest.raises(RuntimeError, match="answers round 4 once"):
        for w in told_survived:
            clients[w].unmask(told_survived)
