"""Solutions to the exercises of notebook 04 (averaging). Run: python solutions/nb04_averaging.py"""
import copy

import torch
from torch import nn, optim

import fedavg_helpers as fh

DATA = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]])
TARGET = torch.tensor([[0], [0], [1], [1.]])


def federated(split, iterations=10, worker_iters=5, weights=None, policy=None, stop_below=None):
    """Notebook 04's loop for any split of the rows between bob and alice; returns the model and its final loss.

    With stop_below, the loop stops after the first round whose loss on all four rows is below it, and returns
    the number of rounds it took instead of the final loss (None if it never got there).
    """
    bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True, policy=policy)
    owners = [(bob, split[0]), (alice, split[1])]
    data = [(w, fh.send(DATA[r], w, private=True), fh.send(TARGET[r], w, private=True)) for w, r in owners]
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    for round_number in range(1, iterations + 1):
        models = []
        for worker, x, y in data:
            local = fh.send(model, worker)
            opt = fh.remote(optim.SGD, local.parameters(), lr=0.1)
            for _ in range(worker_iters):
                opt.zero_grad()
                ((local(x) - y) ** 2).sum().backward()
                opt.step()
            local.move(secure_worker)
            models.append(local)
        fh.secure_average(models, secure_worker, into=model, weights=weights)
        if stop_below is not None and loss_on_all_rows(model) < stop_below:
            return model, round_number
    if stop_below is not None:
        return model, None
    return model, loss_on_all_rows(model)


def loss_on_all_rows(model):
    with torch.no_grad():
        return ((model(DATA) - TARGET) ** 2).sum().item()


def central(steps, lr=0.05):
    """Central gradient descent on the summed loss of all four rows, at the rate that matches the federated steps."""
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((model(DATA) - TARGET) ** 2).sum().backward()
        opt.step()
    return model


HALVES = (slice(0, 2), slice(2, 4))


def exercise_1(choices=(1, 2, 5, 10, 25), round_cost=100, target=0.05):
    """Local steps against rounds, for bob's and alice's rows.

    (a) With 50 local steps per data owner in all, the final loss grows with worker_iters: 1 step per round is
    central gradient descent at lr 0.05 (the notebook's check), and every extra local step lets the copies
    drift towards their own targets (all 0 for bob, all 1 for alice) before they are averaged.
    (b) Per round, more local steps get further: the rounds needed to bring the loss below 0.05 fall from 15
    (1 step) to 7 (25 steps). If a round costs as much as 100 local steps, the cost to reach 0.05 is smallest
    at 5 local steps per round, the seed's choice: 8 rounds and 40 steps, against 15 rounds (1 step) or
    7 rounds and 175 steps (25).
    """
    result = {}
    for k in choices:
        _, final = federated(HALVES, iterations=50 // k, worker_iters=k)
        _, rounds = federated(HALVES, iterations=40, worker_iters=k, stop_below=target)
        result[k] = {"final loss after 50 local steps": final, f"rounds to {target}": rounds,
                     "cost to get there": rounds * round_cost + rounds * k}
    central_at_half_rate = loss_on_all_rows(central(50, lr=0.05))
    return result, central_at_half_rate


def exercise_2():
    """Uneven split (bob rows 0-2, alice row 3): weighting by row counts [3, 1] changes the model."""
    uneven = (slice(0, 3), slice(3, 4))
    plain, plain_loss = federated(uneven)
    weighted, weighted_loss = federated(uneven, weights=[3, 1])
    return (plain.weight - weighted.weight).abs().max().item(), plain_loss, weighted_loss


def exercise_3():
    """min_contributors=3 with two data owners: every average is refused, so the loop stops at the first round.

    It would need a third data owner (or min_contributors back at 2).
    """
    try:
        federated((slice(0, 2), slice(2, 4)), iterations=1, policy=fh.PrivacyPolicy(min_contributors=3))
    except fh.PrivacyError as err:
        return str(err)


def _network(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))


def _trained(net, images, labels, steps=60, lr=1.0):
    opt = optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(images), labels).backward()
        opt.step()
    return net


def _loss_of_mixture(bobs_net, alices_net, theta, images, labels):
    mixed = copy.deepcopy(bobs_net)
    with torch.no_grad():
        for p, b, a in zip(mixed.parameters(), bobs_net.parameters(), alices_net.parameters()):
            p.copy_(theta * b + (1 - theta) * a)
        return nn.functional.cross_entropy(mixed(images), labels).item()


def exercise_5(plot=True):
    """Matching hidden units repairs the average of networks trained from different starts.

    A hidden unit of bob's network and one of alice's that respond to the same images compute much the same
    feature. Matching them one to one by the correlation of their activations (an assignment problem) and
    reordering alice's units accordingly changes nothing in what her network computes, but puts each feature
    where bob's network has it; the loss along theta then has no bump, and the average is about as good as the
    two models. The secure worker would need both models and data to compute the activations on: here we used
    the training images, which in federated learning nobody holds in one place (matching by the weights alone
    is possible too, less precisely).
    """
    from scipy.optimize import linear_sum_assignment

    digits = fh.load_digits_split()
    images, labels = digits.x_train, digits.y_train
    half = len(labels) // 2
    bobs_net = _trained(_network(1), images[:half], labels[:half])
    alices_net = _trained(_network(2), images[half:], labels[half:])
    with torch.no_grad():
        def standardised_activations(net):
            h = torch.relu(net[0](images))
            return (h - h.mean(0)) / (h.std(0) + 1e-8)
        correlation = standardised_activations(bobs_net).T @ standardised_activations(alices_net) / len(labels)
    _, order = linear_sum_assignment(correlation.numpy(), maximize=True)  # alice's unit for each of bob's
    order = torch.as_tensor(order)
    aligned = copy.deepcopy(alices_net)
    with torch.no_grad():
        aligned[0].weight.copy_(alices_net[0].weight[order])
        aligned[0].bias.copy_(alices_net[0].bias[order])
        aligned[2].weight.copy_(alices_net[2].weight[:, order])
    thetas = [i / 20 for i in range(-4, 25)]
    curves = {name: [_loss_of_mixture(bobs_net, net, t, images, labels) for t in thetas]
              for name, net in (("different starts", alices_net), ("different starts, units matched", aligned))}
    if plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        for (name, curve), style in zip(curves.items(), ("--", "-")):
            ax.plot(thetas, curve, style, label=name)
        ax.set_xlabel("mixing weight θ (0 = alice's model, 1 = bob's)")
        ax.set_ylabel("loss on all training images")
        ax.legend()
    middle, ends = thetas.index(0.5), (thetas.index(0.0), thetas.index(1.0))
    return {name: (curve[middle], [curve[i] for i in ends]) for name, curve in curves.items()}


if __name__ == "__main__":
    table, central_loss = exercise_1()
    for k, row in table.items():
        print(f"1. worker_iters={k:2d}: " + ", ".join(f"{key} {value:.4g}" for key, value in row.items()))
    print(f"   central at lr 0.05 after 50 steps: {central_loss:.4g} (= worker_iters=1)")
    diff, plain, weighted = exercise_2()
    print(f"2. weighting changes the model by up to {diff:.4f}; loss unweighted {plain:.4f}, weighted {weighted:.4f}")
    print("3.", exercise_3())
    print("4. The secure worker knows bob's and alice's trained models (weights and biases) every round; "
          "we know only their average and the losses.")
    for name, (middle, ends) in exercise_5(plot=False).items():
        print(f"5. {name}: average {middle:.2f}, the two models {ends[0]:.2f} and {ends[1]:.2f}")
