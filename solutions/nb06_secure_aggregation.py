"""Solutions to the exercises of notebook 06 (secure aggregation). Run: python solutions/nb06_secure_aggregation.py"""
import copy
import itertools

import torch
from torch import nn, optim

import fedavg_helpers as fh

torch.set_num_threads(1)
DATA = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]], requires_grad=True)
TARGET = torch.tensor([[0], [0], [1], [1.]], requires_grad=True)


def federation():
    """The notebook's set-up: bob, alice, the trusted secure_worker, their private rows and a fresh model (seed 0)."""
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    bobs = fh.send(DATA[0:2], bob, private=True), fh.send(TARGET[0:2], bob, private=True)
    alices = fh.send(DATA[2:], alice, private=True), fh.send(TARGET[2:], alice, private=True)
    torch.manual_seed(0)
    return bob, alice, secure_worker, bobs, alices, nn.Linear(2, 1)


def train_on(model, worker, x, y, steps=5):
    """One round of local training on a worker, as in the notebook."""
    local = fh.send(model, worker)
    opt = fh.remote(optim.SGD, local.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        loss = ((local(x) - y) ** 2).sum()
        loss.backward()
        opt.step()
    return local, loss


def bobs_replica(model, steps=5):
    """bob's model trained in plain PyTorch: only to check what an attack recovered."""
    replica = copy.deepcopy(model)
    opt = optim.SGD(replica.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        ((replica(DATA[0:2].detach()) - TARGET[0:2].detach()) ** 2).sum().backward()
        opt.step()
    return replica


def exercise_1():
    """Yes, both. Attack 1: bobs_model.bias[0] is a 0-dim tensor, a "scalar metric", so .get() lets it out
    and it equals bob's bias exactly. Attack 3: (sum - alice's bias) on the secure worker combines both owners,
    so it is released, and equals bob's bias up to float rounding.

    The whole bias, bobs_model.bias, is refused: it has shape (1,), a parameter, not a scalar. The index [0]
    alone turns it into a "metric".
    """
    bob, alice, secure_worker, bobs, alices, model = federation()
    bobs_model, _ = train_on(model, bob, *bobs)
    alices_model, _ = train_on(model, alice, *alices)
    true_bias = bobs_replica(model).bias.item()
    try:
        bobs_model.bias.get()
        whole_bias_refused = False
    except fh.PrivacyError:
        whole_bias_refused = True
    by_attack_1 = bobs_model.bias[0].get().item()
    alices_model.move(secure_worker)
    bobs_model.move(secure_worker)
    by_attack_3 = ((alices_model.bias.data + bobs_model.bias.data) - alices_model.bias.data).get().item()
    return true_bias, by_attack_1, by_attack_3, whole_bias_refused


def exercise_2():
    """OverflowError before any share is made: 1e12 exceeds the largest value the default encoder (24 fractional
    bits) can hold, (2**63 - 1) / 2**24, about 5.5e11.

    That is right: 1e12 * 2**24 is about 1.7e19, beyond int64's 9.2e18, so the encoding would wrap around
    modulo 2**64 and the shares would add up to -99,511,627,776 instead of 1e12: a wrong number, silently.
    An error says what to change: clip the inputs, or use fewer fractional bits (FixedPoint(frac_bits=23), the
    most that fits, holds 1e12 exactly, with a coarser precision of 2**-24). Its hint "or raise max_abs" does not
    apply here: no bound above 5.5e11 fits 24 fractional bits.
    """
    try:
        fh.share_tensors([torch.tensor([1e12])], 3)
        message = None
    except OverflowError as err:
        message = str(err)
    encoded = round(1e12 * 2 ** 24)
    wrapped = (encoded + 2 ** 63) % 2 ** 64 - 2 ** 63  # what int64 would hold
    coarser = fh.FixedPoint(frac_bits=23)
    shares = fh.share_tensors([torch.tensor([1e12], dtype=torch.float64)], 3, encoder=coarser)
    with_23_bits = fh.reconstruct_tensors(shares, encoder=coarser, dtype=torch.float64)[0].item()
    return message, wrapped / 2 ** 24, with_23_bits


def exercise_3():
    """A client that drops before sharing keys never joins U_2, the clients that shared their key shares. Clients
    mask only with peers in U_2, so nobody adds a mask shared with client 1: all pairwise masks cancel among the
    survivors, and the server has to remove only their self-masks. It is as if client 1 had never taken part.

    A client that drops after sharing (before masking) is in U_2: the survivors did add masks shared with it.
    Then the server must rebuild client 1's mask key from t shares and recompute and subtract its mask with
    each of the 4 survivors; every unmasking answer carries 5 shares instead of 4. Both runs give the
    survivors' sum, up to fixed-point precision.
    """
    generator = torch.Generator().manual_seed(0)
    vectors = [0.1 * torch.randn(650, generator=generator) for _ in range(5)]
    cases = {}
    for when in ("drop_before_sharing", "drop_before_masking"):
        result = fh.secure_aggregate(vectors, threshold=3, max_abs=2.0, seed=0, **{when: {1}})
        server = result.server
        plain = torch.stack([vectors[u] for u in result.survivors]).sum(0).double()
        cases[when] = {"U_2": server.group, "survivors": result.survivors,
                       "keys rebuilt": sorted(set(server.group) - set(server.survivors)),
                       "shares per unmasking answer": len(next(m for m in server.transcript if m.round == 4).payload),
                       "error": (result.total - plain).abs().max().item()}
    return cases


def exercise_4():
    """With n = 5 and t = 3 the protocol survives any dropout set of at most n - t = 2 clients, whichever clients and
    at whichever step (before sharing keys, before masking, before unmasking), and aborts with DropoutError for
    3 or more: then fewer than t clients answer some round, and t shares are needed to rebuild a secret.

    Checked for all 32 subsets of the 5 clients at each of the three steps (96 runs on 10 numbers), and for
    dropouts spread over two steps: {0} before sharing and {4} before unmasking survives, adding {2} before
    masking does not.
    """
    generator = torch.Generator().manual_seed(0)
    vectors = [torch.randn(10, generator=generator) for _ in range(5)]

    def survives(**drops):
        try:
            fh.secure_aggregate(vectors, threshold=3, max_abs=10.0, seed=0, **drops)
            return True
        except fh.DropoutError:
            return False

    table = {(when, dropped): survives(**{when: set(dropped)})
             for when in ("drop_before_sharing", "drop_before_masking", "drop_before_unmasking")
             for k in range(6) for dropped in itertools.combinations(range(5), k)}
    spread = (survives(drop_before_sharing={0}, drop_before_unmasking={4}),
              survives(drop_before_sharing={0}, drop_before_masking={2}, drop_before_unmasking={4}))
    return table, spread


def exercise_5():
    """The model owner writes the "training" that runs on bob's machine, so it can make bob's model carry his data,
    and the average carries it out. Under the strict policy, below: the model owner picks a model with as many
    weights as bob has numbers, nn.Linear(4, 1), and a "loss" that pulls the weights towards bob's rows,
    sum((w - x) ** 2); one SGD step with lr 0.5 sets w = x. Alice gets the same code with lr 0, so her copy stays
    the initial model w0, which the model owner knows. The average (x_bob + w0) / 2 passes every rule, and
    2 * average - w0 is bob's data, exactly. (With identical code for everyone, the average still leaks the
    average data, and a fake data owner whose data the model owner knows turns that into bob's.)

    A second way would need no crafted code: secure_average's weights are the model owner's choice, and
    weights=[1, 1e-12] would return bob's honestly trained model (alice's share vanishes in float32 rounding).
    The strict policy therefore counts an owner as a contributor only if its share of the weight is at least
    half an equal share, 1 / (2n): that request is refused, while real sample counts such as [1, 0.5] pass.
    (The default policy, which only ignores zero weights, lets it through: test_strict.py shows both.)

    A real deployment does not let the model owner choose either. The code the clients run is fixed, published
    and reviewed, shipped with the client software (or attested inside secure hardware), not sent each round;
    the aggregation weights and a minimum cohort are fixed by the protocol; devices are authenticated (against
    fake owners); and each client clips its update and noise is added before the server sees anything
    (differential privacy, notebook 07), which bounds what any single client's update can reveal.
    """
    previous = fh.set_policy(fh.PrivacyPolicy(strict=True))
    try:
        bob, alice, secure_worker, (bobs_data, _), (alices_data, _), _ = federation()
        initial = nn.Linear(4, 1)
        copies = []
        for worker, x, lr in ((bob, bobs_data, 0.5), (alice, alices_data, 0.0)):
            local = fh.send(initial, worker)
            opt = fh.remote(optim.SGD, local.parameters(), lr=lr)
            opt.zero_grad()
            ((local.weight - x.reshape(1, 4)) ** 2).sum().backward()  # the "loss" the model owner wrote
            opt.step()
            local.move(secure_worker)
            copies.append(local)
        average = fh.secure_average(copies, secure_worker)
        recovered = (2 * average.weight.data - initial.weight.data).reshape(2, 2)

        bob, alice, secure_worker, bobs, alices, model = federation()
        bobs_model, _ = train_on(model, bob, *bobs)
        alices_model, _ = train_on(model, alice, *alices)
        bobs_model.move(secure_worker)
        alices_model.move(secure_worker)
        try:
            fh.secure_average([bobs_model, alices_model], secure_worker, weights=[1.0, 1e-12])
            skewed_weights_refused = False
        except fh.PrivacyError:
            skewed_weights_refused = True
    finally:
        fh.set_policy(previous)
    return recovered, DATA[0:2].detach(), skewed_weights_refused


if __name__ == "__main__":
    true_bias, one, three, refused = exercise_1()
    print(f"1. bob's bias {true_bias:.6f}; attack 1 gives {one:.6f}, attack 3 gives {three:.6f} "
          f"(the whole bias refused: {refused})")
    message, wrapped, with_23_bits = exercise_2()
    print("2. OverflowError:", message)
    print(f"   wrapped around it would decode to {wrapped:,.0f}; with 23 fractional bits: {with_23_bits:,.0f}")
    for when, case in exercise_3().items():
        print(f"3. {when}={{1}}:", case)
    table, spread = exercise_4()
    survived = sorted({len(dropped) for (_, dropped), ok in table.items() if ok})
    print(f"4. survived every dropout set of size {survived}, no set of 3 or more "
          f"({sum(table.values())} of {len(table)} runs); spread over two steps: {spread}")
    recovered, true_data, refused = exercise_5()
    print("5. bob's rows recovered through the average under the strict policy:", recovered.tolist(),
          "true:", true_data.tolist())
    print(f"   weights=[1, 1e-12] refused under the strict policy: {refused}")
