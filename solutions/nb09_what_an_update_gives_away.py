"""Solutions to the exercises of notebook 09 (what one model update gives away).
Run: python solutions/nb09_what_an_update_gives_away.py

The set-up is the notebook's: the digits split with seed 0, one CPU thread, seeded sets of training images
(`images`), updates of full-batch gradient descent at learning rate 0.1 (`local_update`), the honest model
fh.mlp(64, 128, 10) from torch.manual_seed(0), the crafted model made from fh.mlp(64, 256, 10) after
torch.manual_seed(0) with the test digits as public data, and distributed DP with S = 0.3, z = 1, delta = 1e-5.
"""
import copy
import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import optim

import fedavg_helpers as fh

torch.set_num_threads(1)
DIGITS = fh.load_digits_split()
S, Z, DELTA = 0.3, 1.0, 1e-5


def images(n, seed):
    """A fixed set of n training images and their labels, drawn at random by the seed (as in the notebook)."""
    idx = torch.randperm(len(DIGITS.x_train), generator=torch.Generator().manual_seed(seed))[:n]
    return DIGITS.x_train[idx], DIGITS.y_train[idx]


def local_update(model, x, y, steps=1, lr=0.1):
    """What a data owner sends after `steps` steps of gradient descent on (x, y): w_after - w_before, flat."""
    local = copy.deepcopy(model)
    opt = optim.SGD(local.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(local(x), y).backward()
        opt.step()
    return fh.flatten_params(local) - fh.flatten_params(model)


def honest_model(hidden=128):
    torch.manual_seed(0)
    return fh.mlp(64, hidden, 10)


def exercise_1():
    """Yes: the largest error is about 1e-7 (float rounding), far below 1e-4. Every step on the same single
    image moves row i by -lr g_t x and the bias by -lr g_t, so the sums over the 30 steps keep the ratio x,
    whatever the learning rate. Only the scalars g_t change from step to step, and they cancel. (Neurons may
    switch on or off along the way; a neuron that was active in some steps still has the ratio x.)"""
    model = honest_model()
    x, y = images(1, seed=0)
    result = fh.row_attack(local_update(model, x, y, steps=30, lr=0.5), model, x, DIGITS)
    return (result.candidates[0] - x[0].double()).abs().max().item()


def exercise_2():
    """A wider layer gives each image more chances to own a neuron alone: with 512 neurons more images of the
    batch of 10 have a lone neuron, and more come back, than with 32. Width is the attacker's friend; the
    chance that a given neuron fires for one image of the batch alone does not depend on the width, but the
    number of neurons that get that chance does."""
    x, y = images(10, seed=2)
    table = {}
    for hidden in (32, 128, 512):
        model = honest_model(hidden)
        result = fh.row_attack(local_update(model, x, y), model, x, DIGITS)
        table[hidden] = {"back at >= 30 dB": result.recovered(30.0),
                         "with a lone neuron": int((fh.lone_neurons(model, x) > 0).sum())}
    return table


def exercise_3():
    """Read back 16, 48 and 67 of 100 for B = 64, 128 and 256 bins, against n (1 - 1/B)^(n-1) = 21, 46 and 68:
    close, though the bins are only about equally likely for the private images (their cut-offs were fitted on
    public ones). Fewer bins, more images share one and come back blended."""
    x, y = images(100, seed=0)
    table = {}
    for bins in (64, 128, 256):
        torch.manual_seed(0)
        crafted = fh.craft_model(fh.mlp(64, 256, 10), DIGITS.x_test, bins=bins, seed=0)
        total = sum(local_update(crafted, x[i:i + 1], y[i:i + 1]) for i in range(100))
        table[bins] = {"read back": fh.read_back(total, crafted, x, DIGITS).recovered(30.0),
                       "expected": 100 * (1 - 1 / bins) ** 99}
    return table


def exercise_4():
    """Shares sized for n = 100 have std z S / 10. With 33 dropouts the 67 survivors' shares add up to variance
    67 (z S)^2 / 100: the sum carries noise multiplier sqrt(0.67) = 0.82, not 1, and one round costs epsilon
    5.96 instead of the claimed 4.73. Sized for t = 67, the same 67 survivors carry exactly z S."""
    dp = fh.DistributedDP(S, Z)
    sized_for_n = dp.effective_multiplier(67, 100)  # shares of std z S / sqrt(100), 67 of them in the sum
    sized_for_t = dp.effective_multiplier(67, 67)
    really = fh.dp_epsilon(sized_for_n, 1.0, 1, DELTA)
    return sized_for_n, sized_for_t, really, dp.epsilon(DELTA)


def exercise_5(rounds=20):
    """With 10 owners a round (t = 7) the sum carries noise z S sqrt(10/7) as before, but it is divided by 10
    owners instead of 100: the noise on the average is ten times larger against the same clipped updates.
    Accuracy falls from 0.900 without DP to 0.656 after 20 rounds, while with 100 owners a round it cost about a
    point. The same epsilon, bought with the same z, costs much more accuracy in a small round."""
    clients = fh.split_iid(DIGITS.y_train, 100, seed=0)
    config = fh.FedAvgConfig(rounds=rounds, client_fraction=0.1, local_epochs=1, batch_size=10, lr=0.1, seed=0)
    dp = fh.DistributedDP(S, Z)

    def noisy_mean(r):
        t = max(2, math.floor(2 * len(r) / 3) + 1)  # fh.secure_aggregator's threshold: 7 of 10
        total = sum(dp.privatise(u, t, r.generator)[0] for u in r.updates.double())
        return (total / len(r)).to(r.updates.dtype)

    torch.manual_seed(0)
    honest = fh.mlp(64, 256, 10)
    plain = fh.run_fedavg(honest, DIGITS.train, DIGITS.test, clients, config).test_accuracy[-1]
    noisy = fh.run_fedavg(honest, DIGITS.train, DIGITS.test, clients,
                          replace(config, aggregator=noisy_mean)).test_accuracy[-1]
    return plain, noisy


if __name__ == "__main__":
    print(f"1. largest error after 30 steps at lr 0.5: {exercise_1():.1e}")
    for hidden, row in exercise_2().items():
        print(f"2. {hidden} hidden neurons:", row)
    for bins, row in exercise_3().items():
        print(f"3. {bins} bins: read back {row['read back']}, expected {row['expected']:.0f}")
    sized_for_n, sized_for_t, really, claimed = exercise_4()
    print(f"4. 67 survivors carry z = {sized_for_n:.2f} with shares sized for n (epsilon {really:.2f} a round), "
          f"z = {sized_for_t:.2f} with shares sized for t (epsilon {claimed:.2f})")
    plain, noisy = exercise_5()
    print(f"5. 10 owners a round: test accuracy {plain:.3f} without DP, {noisy:.3f} with distributed DP")
