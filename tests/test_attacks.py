"""Attacks on updates: images read back exactly from one owner's update, from averages, and from the secure sum of
a crafted model; each claim checked against plain PyTorch training and the formulas in the modules' docstrings."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim

import fedavg_helpers as fh


def sgd_update(model, x, y, steps, lr=0.1):
    """w_after - w_before after `steps` full-batch SGD steps in plain PyTorch: what the owner would send."""
    local = copy.deepcopy(model)
    opt = optim.SGD(local.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(local(x), y).backward()
        opt.step()
    return fh.flatten_params(local) - fh.flatten_params(model)


def images(digits, n, seed):
    """A seeded, fixed set of n training images and labels (not hand-picked)."""
    idx = torch.randperm(len(digits.x_train), generator=torch.Generator().manual_seed(seed))[:n]
    return digits.x_train[idx], digits.y_train[idx]


@pytest.mark.parametrize("steps", [1, 5, 30])
def test_one_image_comes_back_exactly_after_any_number_of_local_steps(digits, steps):
    torch.manual_seed(steps)
    model = fh.mlp(64, 32, 10)
    x, y = images(digits, 1, seed=steps)
    result = fh.row_attack(sgd_update(model, x, y, steps), model, x, digits)
    # the most-moved row is the attacker's pick without the original: it is the image, to float rounding
    assert (result.candidates[0] - x[0].double()).abs().max() <= 1e-4
    assert result.recovered(30.0) == 1 and result.psnr[0] > 80
    # every row the image activated moved; the others did not: as many candidates as neurons it fired
    assert len(result.candidates) == int((model[0](x) > 0).sum())


def test_the_attack_reads_an_average_or_a_sum_alike(digits):
    torch.manual_seed(0)
    model = fh.mlp(64, 64, 10)
    updates = [sgd_update(model, *images(digits, 1, seed=s), steps=1) for s in range(2)]
    originals = torch.cat([images(digits, 1, seed=s)[0] for s in range(2)])
    mean = fh.row_attack(torch.stack(updates).mean(0), model, originals, digits)
    total = fh.row_attack(torch.stack(updates).sum(0), model, originals, digits)
    assert mean.recovered(30.0) == total.recovered(30.0) == 2  # two owners: averaging hides neither
    assert torch.allclose(mean.psnr.clamp(max=60), total.psnr.clamp(max=60), atol=1e-3)


def test_after_one_step_every_image_with_a_lone_neuron_comes_back(digits):
    torch.manual_seed(1)
    model = fh.mlp(64, 128, 10)
    seen = 0
    for seed in range(3):
        x, y = images(digits, 5, seed=seed)
        result = fh.row_attack(sgd_update(model, x, y, steps=1), model, x, digits)
        lone = fh.lone_neurons(model, x)
        active = model[0](x) > 0  # the definition, computed here directly
        assert lone.tolist() == [int((active[n] & (active.sum(0) == 1)).sum()) for n in range(len(x))]
        assert bool((result.psnr[lone > 0] >= 30.0).all())
        seen += int((lone > 0).sum())
    assert seen >= 5  # the claim was tested on several images


def test_psnr_is_the_formula_on_the_ink_scale(digits):
    x = digits.x_test[:3].double()
    pixels = digits.to_pixels(x)
    assert torch.allclose(pixels, pixels.round(), atol=1e-4) and pixels.min() >= -1e-4 and pixels.max() <= 16 + 1e-4
    shifted = pixels + 0.5  # every pixel half a level off: MSE 0.25, PSNR 10 log10(256 / 0.25) = 30.1 dB
    table = fh.psnr(shifted, pixels)
    assert math.isclose(table[1, 1].item(), 10 * math.log10(256 / 0.25), rel_tol=1e-12)
    assert math.isinf(fh.psnr(pixels, pixels)[0, 0].item())


def test_one_candidate_counts_for_one_original(digits):
    x = digits.x_test[:2]
    near = torch.stack([x[0], x[0] + 1e-3])  # two originals almost the same...
    result = fh.row_attack({"weight": torch.stack([x[0], torch.zeros(64)]), "bias": torch.tensor([1.0, 0.0])},
                           nn.Linear(64, 2), near, digits)
    assert len(result.candidates) == 1 and (result.psnr > 30).all()  # ...both close to the single candidate
    assert result.recovered(30.0) == 1


def crafted_setting(digits, n=100, seed=0):
    torch.manual_seed(0)
    crafted = fh.craft_model(fh.mlp(64, 256, 10), digits.x_test, seed=seed)
    return crafted, *images(digits, n, seed=seed)


def test_the_crafted_model_measures_one_feature_in_bins(digits):
    torch.manual_seed(0)
    model = fh.mlp(64, 16, 10)
    before = copy.deepcopy(model.state_dict())
    crafted = fh.craft_model(model, digits.x_test, bins=10)
    weight, bias = crafted[0].weight.detach(), crafted[0].bias.detach()
    assert (weight[:10] == weight[0]).all() and (weight[10:] == 0).all() and (bias[10:] == -1).all()
    assert (bias[:10].diff() < 0).all()  # cut-offs -b rise from row to row
    assert (crafted[2].weight == crafted[2].weight[:, :1]).all()  # identical columns after it
    h = digits.x_test @ weight[0]
    per_bin = torch.bucketize(h, -bias[:10], right=True).bincount(minlength=11)[1:]
    assert per_bin.min() >= 0.5 * len(h) / 10  # public images spread over all ten bins
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the model passed in is left alone


def test_an_image_alone_in_its_bin_comes_back_from_the_sum(digits):
    crafted, x, y = crafted_setting(digits, n=30, seed=1)
    total = sum(sgd_update(crafted, x[i:i + 1], y[i:i + 1], steps=1) for i in range(len(x)))
    result = fh.read_back(total, crafted, x, digits)
    cutoffs = (-crafted[0].bias.detach()).sort().values
    bins = torch.bucketize(x @ crafted[0].weight.detach()[0], cutoffs, right=True)
    alone = bins.bincount(minlength=257)[bins] == 1
    assert int(alone.sum()) >= 20
    assert bool((result.psnr[alone] >= 30.0).all())
    assert result.recovered(30.0) >= int(alone.sum())


def test_a_crafted_model_reads_half_of_100_owners_from_the_secure_average_under_the_strict_policy(digits):
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    crafted, x, y = crafted_setting(digits)
    secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
    models = []
    for i in range(len(x)):
        owner = fh.VirtualWorker(f"owner{i}")
        owners_x, owners_y = fh.send(x[i:i + 1], owner, private=True), fh.send(y[i:i + 1], owner, private=True)
        local = fh.send(crafted, owner)  # the model owner's crafted model, trained on the owner's worker
        opt = fh.remote(optim.SGD, local.parameters(), lr=0.1)
        opt.zero_grad()
        loss = fh.remote(F.cross_entropy, local(owners_x), owners_y)
        loss.backward()
        opt.step()
        models.append(local)
    for local in models:
        local.move(secure_worker)
    with pytest.raises(fh.PrivacyError):
        models[0].get()  # the strict policy holds: no single owner's model leaves
    average = fh.secure_average(models, secure_worker)  # the only thing the model owner receives
    result = fh.read_back(fh.flatten_params(average) - fh.flatten_params(crafted), crafted, x, digits)
    assert result.recovered(30.0) >= 50
