"""The aggregation hook: the default stays FedAvg's weighted average bit for bit, aggregators see the true client
updates, both engines agree, DP clips and adds the stated noise, robust rules survive attackers the mean does not."""
import copy
import math
from dataclasses import replace

import pytest
import torch
from torch import nn

import fedavg_helpers as fh


def small_model(seed=0, hidden=16):
    torch.manual_seed(seed)
    return fh.mlp(64, hidden, 10)


def config(**changes):
    return fh.FedAvgConfig(**{"rounds": 3, "client_fraction": 0.5, "local_epochs": 1, "batch_size": 10,
                              "lr": 0.1, "progress": False, **changes})


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def by_hand_updates(model, digits, plan, lr):
    """Each picked client trains a copy of `model` with plain client_update; its update is w_k - w, flattened."""
    updates = []
    for idx, batches in zip(plan.indices, plan.batches):
        local = copy.deepcopy(model)
        fh.client_update(local, digits.x_train[idx], digits.y_train[idx], batches, lr)
        updates.append(flat(local) - flat(model))
    return torch.stack(updates)


class Spy:
    """An aggregator that records what the server received and then applies `inner`."""
    def __init__(self, inner=None):
        self.inner = fh.mean_aggregator() if inner is None else inner
        self.received = []

    def __call__(self, r):
        self.received.append(r)
        return self.inner(r)


# --- the default is unchanged, and the hook hands over the true updates -------------------------------------

def test_default_is_bit_for_bit_the_weighted_average_of_the_clients_models(digits):
    clients = fh.split_dirichlet(digits.y_train[:300], 10, alpha=0.5)
    cfg = config(engine="loop")
    history = fh.run_fedavg(small_model(), digits.train, digits.test, clients, cfg)
    model, generator = small_model(), torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.rounds):  # Algorithm 1 by hand: train copies, then fh.weighted_average with weights n_k
        plan = fh.plan_round(clients, cfg, generator)
        states = []
        for idx, batches in zip(plan.indices, plan.batches):
            local = copy.deepcopy(model)
            fh.client_update(local, digits.x_train[idx], digits.y_train[idx], batches, cfg.lr)
            states.append(local.state_dict())
        model.load_state_dict(fh.weighted_average(states, [len(idx) for idx in plan.indices]))
    assert all(torch.equal(a, b) for a, b in zip(history.model.parameters(), model.parameters()))


@pytest.mark.parametrize("engine", ["vectorised", "loop"])
def test_the_mean_aggregator_gives_the_default_model(digits, engine):
    clients = fh.split_dirichlet(digits.y_train[:300], 10, alpha=0.5)
    default = fh.run_fedavg(small_model(), digits.train, digits.test, clients, config(engine=engine))
    mean = fh.run_fedavg(small_model(), digits.train, digits.test, clients,
                         config(engine=engine, aggregator=fh.mean_aggregator()))
    assert (flat(default.model) - flat(mean.model)).abs().max() < 1e-6  # w + sum p_k (w_k - w) = sum p_k w_k
    assert default.clients == mean.clients


@pytest.mark.parametrize("engine", ["vectorised", "loop"])
def test_the_aggregator_receives_each_clients_w_k_minus_w_and_n_k(digits, engine):
    clients = fh.split_dirichlet(digits.y_train[:300], 10, alpha=0.3)  # unequal clients: the stack is reordered
    cfg = config(rounds=1, client_fraction=0.6, local_epochs=2, engine=engine, aggregator=Spy())
    model = small_model()
    fh.run_fedavg(model, digits.train, digits.test, clients, cfg)
    plan = fh.plan_round(clients, cfg, torch.Generator().manual_seed(cfg.seed))
    (r,) = cfg.aggregator.received
    assert r.clients == plan.clients and len(r) == 6
    assert r.num_samples.tolist() == [len(clients[k]) for k in plan.clients]
    assert torch.equal(r.global_params, flat(model)) and r.expected_clients == 6 and r.sampling == "fixed"
    assert r.num_clients == 10
    assert (r.updates - by_hand_updates(model, digits, plan, cfg.lr)).abs().max() < 1e-6


AGGREGATORS = {
    "mean": lambda: fh.mean_aggregator(),
    "median": lambda: fh.median_aggregator(),
    "trimmed mean": lambda: fh.trimmed_mean_aggregator(2),
    "trimmed mean 20%": lambda: fh.trimmed_mean_aggregator(0.2),
    "krum": lambda: fh.krum_aggregator(2),
    "multi-krum": lambda: fh.multi_krum_aggregator(2),
    "median, 2 scaling attackers": lambda: fh.with_attackers(fh.median_aggregator(), {0, 5},
                                                             lambda u: fh.scale_attack(u, 100.0)),
    "dp": lambda: fh.dp_aggregator(max_norm=0.5, noise_multiplier=1.0),
}


@pytest.mark.parametrize("name", AGGREGATORS)
def test_loop_and_vectorised_engines_agree_with_every_aggregator(digits, name):
    clients = fh.split_dirichlet(digits.y_train[:400], 12, alpha=0.5)
    sampling = "poisson" if name == "dp" else "fixed"
    cfg = config(client_fraction=0.75, sampling=sampling, aggregator=AGGREGATORS[name]())
    vec = fh.run_fedavg(small_model(), digits.train, digits.test, clients, cfg)
    loop = fh.run_fedavg(small_model(), digits.train, digits.test, clients,
                         replace(cfg, engine="loop", aggregator=AGGREGATORS[name]()))
    assert vec.clients == loop.clients
    assert (flat(vec.model) - flat(loop.model)).abs().max() < 1e-5  # DP: the same noise, from the run's seed
    assert vec.test_loss == pytest.approx(loop.test_loss, abs=1e-5)


def test_the_aggregator_never_changes_who_trains_and_dp_noise_replays_from_the_seed(digits):
    clients = fh.split_iid(digits.y_train[:300], 10)
    cfg = config(sampling="poisson")
    model = small_model()
    rng = torch.get_rng_state()
    runs = [fh.run_fedavg(model, digits.train, digits.test, clients, replace(cfg, aggregator=a))
            for a in (None, fh.median_aggregator(), fh.dp_aggregator(1.0, 1.0), fh.dp_aggregator(1.0, 1.0))]
    assert runs[0].clients == runs[1].clients == runs[2].clients
    assert torch.equal(flat(runs[2].model), flat(runs[3].model))  # same seed, same noise: a run replays exactly
    assert torch.equal(torch.get_rng_state(), rng)  # the noise came from the run's own generator
    other = fh.run_fedavg(model, digits.train, digits.test, clients,
                          replace(cfg, seed=1, aggregator=fh.dp_aggregator(1.0, 1.0)))
    assert not torch.equal(flat(other.model), flat(runs[2].model))


# --- differential privacy ---------------------------------------------------------------------------------

def test_dp_step_is_the_sum_of_clipped_updates_over_q_times_K(digits):
    """With noise 0, the global step is sum_k clip(Delta_k, S) / (q K): clipping bounds every client's pull."""
    clients = fh.split_iid(digits.y_train[:400], 20)
    S, q = 0.05, 0.4
    cfg = config(rounds=1, client_fraction=q, sampling="poisson", local_epochs=2,
                 aggregator=fh.dp_aggregator(max_norm=S, noise_multiplier=0.0))
    plan = fh.plan_round(clients, cfg, torch.Generator().manual_seed(3))
    model = small_model()
    before = flat(model)
    fh.fedavg_round(model, digits.train, plan, cfg)
    updates = by_hand_updates(small_model(), digits, plan, cfg.lr)
    norms = updates.norm(dim=1)
    assert (norms > S).all()  # every update needs clipping here
    clipped = updates * (S / norms).clamp(max=1.0).unsqueeze(1)
    assert torch.allclose(clipped.norm(dim=1), torch.full_like(norms, S), rtol=1e-5)
    step = flat(model) - before
    assert (step - clipped.sum(0) / (q * len(clients))).abs().max() < 1e-6
    assert step.norm() <= len(plan.clients) * S / (q * len(clients)) * (1 + 1e-5)


def test_dp_noise_has_the_stated_standard_deviation(digits):
    """Two runs differing only in z: their models differ by exactly the noise, of std z S / (q K)."""
    clients = fh.split_iid(digits.y_train, 50)
    S, z, q = 0.5, 1.3, 0.2
    cfg = config(rounds=1, client_fraction=q, sampling="poisson")
    model = small_model(hidden=64)  # d = 4810 noise values: the sample std's relative standard error is 1%
    quiet = fh.run_fedavg(model, digits.train, digits.test, clients, replace(cfg, aggregator=fh.dp_aggregator(S, 0.0)))
    noisy = fh.run_fedavg(model, digits.train, digits.test, clients, replace(cfg, aggregator=fh.dp_aggregator(S, z)))
    noise = flat(noisy.model) - flat(quiet.model)
    std = z * S / (q * len(clients))
    assert abs(noise.std().item() / std - 1) < 0.06  # 6 standard errors
    assert abs(noise.mean().item()) < 6 * std / math.sqrt(noise.numel())


def test_a_round_nobody_joins_leaves_the_model_alone_but_dp_still_adds_noise(digits):
    clients = fh.split_iid(digits.y_train[:100], 4)
    cfg = config(rounds=1, client_fraction=0.01, sampling="poisson")
    plan = fh.plan_round(clients, cfg, torch.Generator().manual_seed(0))
    assert plan.clients == [] and plan.num_clients == 4  # each joins with probability 0.01
    for engine in ("vectorised", "loop"):
        model = small_model()
        for aggregator in (None, fh.mean_aggregator()):
            fh.fedavg_round(model, digits.train, plan, replace(cfg, engine=engine, aggregator=aggregator))
            assert torch.equal(flat(model), flat(small_model()))
    model = small_model(hidden=64)
    dp = replace(cfg, aggregator=fh.dp_aggregator(1.0, 1.0))
    fh.fedavg_round(model, digits.train, plan, dp, generator=torch.Generator().manual_seed(1))
    noise = flat(model) - flat(small_model(hidden=64))
    assert abs(noise.std().item() / (1.0 * 1.0 / (0.01 * 4)) - 1) < 0.06


def test_poisson_sampling_picks_each_client_independently_with_probability_C(digits):
    clients = fh.split_iid(digits.y_train, 100)
    cfg = config(client_fraction=0.1, sampling="poisson")
    g, reference = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    sizes = []
    for _ in range(200):
        plan = fh.plan_round(clients, cfg, g)
        assert plan.clients == fh.poisson_sample_clients(100, 0.1, reference)  # the same draw dp.py documents
        for idx in plan.indices:  # keep the reference in step: plan_round then shuffles each client's batches
            fh.local_batches(len(idx), cfg.batch_size, cfg.local_epochs, reference)
        sizes.append(len(plan.clients))
    # 200 rounds of Binomial(100, 0.1): mean 10, standard error of the mean 3 / sqrt(200) = 0.21; 6 SE is 1.3
    assert abs(sum(sizes) / len(sizes) - 10) < 1.3 and len(set(sizes)) > 3


# --- robustness -------------------------------------------------------------------------------------------

def attacked_accuracy(digits, clients, aggregator, attackers, attack):
    cfg = config(rounds=5, client_fraction=1.0, local_epochs=2, batch_size=10, lr=0.2,
                 aggregator=fh.with_attackers(aggregator, attackers, attack))
    return fh.run_fedavg(small_model(hidden=32), digits.train, digits.test, clients, cfg).test_accuracy[-1]


ATTACKS = {"scaled x-20": lambda u: fh.scale_attack(u, -20.0),
           "sign flipped x10": lambda u: fh.sign_flip_attack(u, 10.0)}


@pytest.mark.parametrize("attack", ATTACKS)
def test_robust_aggregators_keep_accuracy_with_f_attackers_where_the_mean_breaks(digits, attack):
    clients = fh.split_iid(digits.y_train, 20)
    f, attackers = 3, {1, 8, 15}  # 20 clients: f < n / 2 (median), trim = f (trimmed mean), n >= 2f + 3 (Krum)
    honest = attacked_accuracy(digits, clients, fh.mean_aggregator(), set(), ATTACKS[attack])
    assert honest > 0.9
    assert attacked_accuracy(digits, clients, fh.mean_aggregator(), attackers, ATTACKS[attack]) < 0.3
    for rule in (fh.median_aggregator(), fh.trimmed_mean_aggregator(f), fh.multi_krum_aggregator(f)):
        assert attacked_accuracy(digits, clients, rule, attackers, ATTACKS[attack]) > honest - 0.05
    # Krum keeps a single client's update per round: robust, but it learns from 1 client in 20, so more slowly
    assert attacked_accuracy(digits, clients, fh.krum_aggregator(f), attackers, ATTACKS[attack]) > 0.75


def test_a_trimmed_mean_that_trims_fewer_values_than_there_are_attackers_breaks(digits):
    clients = fh.split_iid(digits.y_train, 20)
    attack = ATTACKS["scaled x-20"]
    assert attacked_accuracy(digits, clients, fh.trimmed_mean_aggregator(2), {1, 8, 15}, attack) < 0.5


def test_one_client_sending_nan_never_reaches_the_global_model_through_krum(digits):
    clients = fh.split_iid(digits.y_train[:400], 10)
    nan_attack = fh.with_attackers(fh.krum_aggregator(2), {3}, lambda u: u * float("nan"))
    cfg = config(rounds=4, client_fraction=1.0, lr=0.3, aggregator=nan_attack)
    history = fh.run_fedavg(small_model(), digits.train, digits.test, clients, cfg)
    assert all(torch.isfinite(p).all() for p in history.model.parameters())  # before: NaN after one round
    assert history.test_accuracy[-1] > 0.5  # Krum learns from one client a round: slower, but it learns


# --- bad input -----------------------------------------------------------------------------------------------

def test_krum_with_too_few_clients_in_a_round_says_how_to_fix_it(digits):
    clients = fh.split_iid(digits.y_train[:200], 20)
    cfg = config(rounds=1, client_fraction=0.25, aggregator=fh.krum_aggregator(3))  # 5 clients a round, Krum needs 9
    with pytest.raises(ValueError, match=r"krum_aggregator\(n_attackers=3\): a round picked 5 clients .*"
                                         r"n >= 2f \+ 3 .* at least 9; .*client_fraction.* fewer attackers"):
        fh.run_fedavg(small_model(), digits.train, digits.test, clients, cfg)
    with pytest.raises(ValueError, match=r"trimmed_mean_aggregator\(3\): a round picked 5 clients .* at least 7"):
        fh.run_fedavg(small_model(), digits.train, digits.test, clients,
                      replace(cfg, aggregator=fh.trimmed_mean_aggregator(3)))


@pytest.mark.parametrize("call, error, match", [
    (lambda: fh.FedAvgConfig(aggregator="median"), TypeError, "aggregator must be None .* or a function"),
    (lambda: fh.FedAvgConfig(sampling="bernoulli"), ValueError, "Invalid sampling: 'bernoulli'"),
    (lambda: fh.dp_aggregator(0.0, 1.0), ValueError, "Invalid max_norm: 0.0"),
    (lambda: fh.dp_aggregator(1.0, -1.0), ValueError, "Invalid noise_multiplier: -1.0"),
    (lambda: fh.dp_aggregator(1.0, 1.0, generator=0), TypeError, "generator must be a torch.Generator"),
    (lambda: fh.trimmed_mean_aggregator(-1), ValueError, "Invalid trim: -1"),
    (lambda: fh.trimmed_mean_aggregator(0.5), ValueError, "Invalid trim: 0.5"),
    (lambda: fh.trimmed_mean_aggregator("2"), TypeError, "trim must be an int"),
    (lambda: fh.krum_aggregator(-1), ValueError, "Invalid n_attackers: -1"),
    (lambda: fh.multi_krum_aggregator(1, m=0), ValueError, "Invalid m: 0"),
    (lambda: fh.with_attackers(None, 3, fh.scale_attack), TypeError, "attackers must be a set of client ids"),
    (lambda: fh.with_attackers(None, {-1}, fh.scale_attack), ValueError, "Invalid attacker id: -1"),
    (lambda: fh.with_attackers(None, {1}, "scale"), TypeError, "attack must be a function"),
    (lambda: fh.with_attackers("mean", {1}, fh.scale_attack), TypeError, "aggregator must be an aggregator"),
])
def test_bad_aggregator_arguments_are_refused_when_made(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("aggregator, changes, error, match", [
    (lambda: fh.dp_aggregator(1.0, 1.0), {}, ValueError, "dp_aggregator needs FedAvgConfig\\(sampling='poisson'\\)"),
    (lambda: (lambda r: r.updates), {}, ValueError, "returned shape \\(5, 1210\\).* must return one .* \\(1210,\\)"),
    (lambda: (lambda r: None), {}, ValueError, "returned NoneType"),
    (lambda: fh.with_attackers(None, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, lambda u: u[:3]), {}, ValueError,
     "attack returned \\(3,\\) for client"),
    (lambda: fh.with_attackers(None, {3, 10, 12}, fh.scale_attack), {}, ValueError,
     "attackers \\[10, 12\\] are not clients: there are 10 \\(ids 0 to 9\\)"),
    (lambda: fh.median_aggregator(), {"sampling": "poisson", "client_fraction": 0.001}, ValueError,
     "median_aggregator\\(\\): a round picked 0 clients .*Poisson"),
])
def test_bad_aggregators_fail_in_the_first_round_with_a_clear_message(digits, aggregator, changes, error, match):
    clients = fh.split_iid(digits.y_train[:200], 10)
    with pytest.raises(error, match=match):
        fh.run_fedavg(small_model(), digits.train, digits.test, clients,
                      config(rounds=1, aggregator=aggregator(), **changes))


def test_models_with_batchnorm_buffers_are_refused_with_an_aggregator(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    clients = fh.split_iid(digits.y_train[:100], 4)
    with pytest.raises(ValueError, match="floating-point buffers .*BatchNorm"):
        fh.run_fedavg(model, digits.train, digits.test, clients,
                      config(rounds=1, engine="loop", aggregator=fh.median_aggregator()))
