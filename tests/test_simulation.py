"""FedAvg simulation: checked against plain PyTorch loops and the averaging formula, engine against engine."""
import copy
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fedavg_helpers as fh


def small_model(seed=0):
    torch.manual_seed(seed)
    return fh.mlp(64, 16, 10)


def config(**changes):
    return fh.FedAvgConfig(**{"rounds": 3, "client_fraction": 1.0, "local_epochs": 2, "batch_size": 5,
                              "lr": 0.1, "progress": False, **changes})


def max_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def plain_sgd_step(model, x, y, lr):
    """One step of SGD written out by hand: w <- w - lr * grad of the mean cross-entropy."""
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad


# --- the building blocks -------------------------------------------------------------------------------

def test_weighted_average_is_the_sample_weighted_mean_formula():
    g = torch.Generator().manual_seed(0)
    states = [{"w": torch.randn(3, 2, generator=g), "b": torch.randn(2, generator=g),
               "steps": torch.tensor(k)} for k in range(3)]
    n = [10, 30, 60]
    avg = fh.weighted_average(states, n)
    for key in ("w", "b"):
        by_hand = sum(n_k * s[key].double() for n_k, s in zip(n, states)) / sum(n)
        assert torch.allclose(avg[key].double(), by_hand, atol=1e-6)
    assert avg["steps"] == 0  # non-floating entries come from the first state dict
    assert torch.equal(fh.weighted_average(states, [0, 1, 0])["w"], states[1]["w"])  # weight 0: ignored


@pytest.mark.parametrize("states, weights, error, words", [
    ([{"w": torch.ones(2)}, {"v": torch.ones(2)}], [1, 1], ValueError, "keys"),
    ([{"w": torch.ones(2)}, {"w": torch.ones(3)}], [1, 1], ValueError, "shape"),
    ([{"w": torch.ones(2)}], [1, 1], ValueError, "2 weights for 1 inputs"),
    ([{"w": torch.ones(2)}] * 2, [1, -1], ValueError, "Invalid weight: -1.0"),
    ([{"w": torch.ones(2)}] * 2, [1, float("nan")], ValueError, "Invalid weight: nan"),
    ([{"w": torch.ones(2)}] * 2, [0, 0], ValueError, "all weights are zero"),
    ([], [], TypeError, "non-empty list"),
    ({"w": torch.ones(2)}, [1], TypeError, "non-empty list"),
])
def test_weighted_average_refuses_bad_input(states, weights, error, words):
    with pytest.raises(error, match=words):
        fh.weighted_average(states, weights)


def test_local_batches_cover_every_sample_once_per_epoch():
    batches = fh.local_batches(23, 10, epochs=3, generator=torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [10, 10, 3] * 3  # ceil(23 / 10) steps per epoch, short last batch
    for e in range(3):
        assert torch.equal(torch.cat(batches[3 * e:3 * e + 3]).sort().values, torch.arange(23))
    assert [len(b) for b in fh.local_batches(23, None, epochs=2)] == [23, 23]  # B = inf
    assert [len(b) for b in fh.local_batches(23, 0)] == [23]
    assert [len(b) for b in fh.local_batches(4, 10)] == [4]
    again = fh.local_batches(23, 10, epochs=3, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


@pytest.mark.parametrize("args, error, words", [
    ((0, 10), ValueError, "num_samples: 0"),
    ((10, -1), ValueError, "batch_size: -1"),
    ((10, 2.5), TypeError, "batch_size must be an int"),
    ((10, 2, 0), ValueError, "epochs: 0"),
    ((10, 2, 1, 0), TypeError, "generator must be a torch.Generator"),
])
def test_local_batches_refuse_bad_input(args, error, words):
    with pytest.raises(error, match=words):
        fh.local_batches(*args)


def test_client_update_is_plain_sgd_over_the_given_batches(digits):
    x, y = digits.x_train[:40], digits.y_train[:40]
    batches = fh.local_batches(40, 8, epochs=2, generator=torch.Generator().manual_seed(1))
    model, reference = small_model(), small_model()
    fh.client_update(model, x, y, batches, lr=0.2)
    for idx in batches:
        plain_sgd_step(reference, x[idx], y[idx], 0.2)
    assert max_diff(model, reference) < 1e-6


# --- the federated loop against plain PyTorch ---------------------------------------------------------

@pytest.mark.parametrize("engine", ["vectorised", "loop"])
def test_fedavg_with_one_client_is_central_sgd_on_its_data(digits, engine):
    """One client, C = 1: every round is E epochs of plain SGD on its data, in the batch order it was dealt."""
    cfg = config(local_epochs=2, batch_size=7, lr=0.05, engine=engine)
    idx = torch.arange(0, 300, 3)
    history = fh.run_fedavg(small_model(), digits.train, digits.test, [idx], cfg)
    reference = small_model()
    x, y = digits.x_train[idx], digits.y_train[idx]
    generator = torch.Generator().manual_seed(cfg.seed)  # the documented protocol: one plan_round per round
    for _ in range(cfg.rounds):
        for batch in fh.plan_round([idx], cfg, generator).batches[0]:
            plain_sgd_step(reference, x[batch], y[batch], cfg.lr)
    assert max_diff(history.model, reference) < 1e-5


@pytest.mark.parametrize("engine", ["vectorised", "loop"])
@pytest.mark.parametrize("split", ["iid", "shards"])
def test_fedsgd_with_all_clients_is_full_batch_gradient_descent(digits, engine, split):
    """sum_k (n_k / n) (w - lr g_k) = w - lr * gradient of the mean loss over all n samples, however split."""
    labels = digits.y_train[:200]
    clients = fh.split_iid(labels, 8) if split == "iid" else fh.split_shards(labels, 8)
    cfg = fh.FedAvgConfig.fedsgd(rounds=4, client_fraction=1.0, lr=0.3, engine=engine, progress=False)
    history = fh.run_fedavg(small_model(), digits.train, digits.test, clients, cfg)
    reference = small_model()
    for _ in range(cfg.rounds):
        plain_sgd_step(reference, digits.x_train[:200], labels, cfg.lr)
    assert max_diff(history.model, reference) < 1e-5


@pytest.mark.parametrize("split", ["iid", "shards", "dirichlet"])
@pytest.mark.parametrize("batch_size", [5, None])
def test_vectorised_engine_gives_the_loops_model(digits, split, batch_size):
    labels = digits.y_train[:400]
    clients = {"iid": lambda: fh.split_iid(labels, 12),
               "shards": lambda: fh.split_shards(labels, 12),
               "dirichlet": lambda: fh.split_dirichlet(labels, 12, alpha=0.3)}[split]()
    assert len({len(c) for c in clients}) > 1 or split == "iid"  # unequal clients: masks and early finishers
    cfg = config(client_fraction=0.5, local_epochs=2, batch_size=batch_size)
    vec = fh.run_fedavg(small_model(), digits.train, digits.test, clients, cfg)
    loop = fh.run_fedavg(small_model(), digits.train, digits.test, clients, replace(cfg, engine="loop"))
    assert vec.clients == loop.clients
    assert max_diff(vec.model, loop.model) < 1e-5
    assert torch.allclose(torch.tensor(vec.test_loss), torch.tensor(loop.test_loss), atol=1e-5)


def test_a_finished_client_is_left_untouched_while_others_still_train(digits):
    """A 1-sample client takes 1 step, a 23-sample one 5; the round must still match the loop exactly."""
    clients = [torch.tensor([0]), torch.arange(1, 24)]
    cfg = config(rounds=1, local_epochs=1, batch_size=5)
    plan = fh.plan_round(clients, cfg, torch.Generator().manual_seed(0))
    assert [len(b) for b in plan.batches] == [1, 5]
    vec, loop = small_model(), small_model()
    fh.fedavg_round(vec, digits.train, plan, cfg)
    fh.fedavg_round(loop, digits.train, plan, replace(cfg, engine="loop"))
    assert max_diff(vec, loop) < 1e-6
    # and by the formula: the 1-sample client's single step, weighted 1/24, plus the other's, weighted 23/24
    one, many = small_model(), small_model()
    fh.client_update(one, digits.x_train[:1], digits.y_train[:1], plan.batches[0], cfg.lr)
    fh.client_update(many, digits.x_train[1:24], digits.y_train[1:24], plan.batches[1], cfg.lr)
    for p, a, b in zip(vec.parameters(), one.parameters(), many.parameters()):
        assert torch.allclose(p, (1 * a + 23 * b) / 24, atol=1e-6)


def test_same_seed_same_weights_bit_for_bit_and_the_callers_model_is_untouched(digits):
    clients = fh.split_dirichlet(digits.y_train[:300], 10, alpha=0.5)
    model = small_model()
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    runs = [fh.run_fedavg(model, digits.train, digits.test, clients, config(client_fraction=0.3, seed=s))
            for s in (7, 7, 8)]
    assert all(torch.equal(p, q) for p, q in zip(runs[0].model.parameters(), runs[1].model.parameters()))
    assert runs[0].test_accuracy == runs[1].test_accuracy and runs[0].clients == runs[1].clients
    assert runs[0].clients != runs[2].clients
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)  # all randomness came from the run's own generator


@pytest.mark.parametrize("fraction, picked", [(0.1, 2), (0.25, 5), (0.001, 1), (1.0, 20)])
def test_each_round_picks_max_1_round_C_K_distinct_clients(digits, fraction, picked):
    clients = fh.split_iid(digits.y_train[:200], 20)
    history = fh.run_fedavg(small_model(), digits.train, digits.test, clients,
                            config(rounds=4, client_fraction=fraction, local_epochs=1))
    assert all(len(c) == picked == len(set(c)) and c == sorted(c) for c in history.clients)
    assert len(history.test_loss) == len(history.test_accuracy) == 4


def test_train_central_is_plain_minibatch_sgd(digits):
    x, y = digits.x_train[:120], digits.y_train[:120]
    cfg = fh.CentralConfig(epochs=3, batch_size=16, lr=0.1, seed=2, progress=False)
    history = fh.train_central(small_model(), (x, y), digits.test, cfg)
    reference, generator = small_model(), torch.Generator().manual_seed(2)
    for _ in range(cfg.epochs):
        for idx in fh.local_batches(120, 16, 1, generator):
            plain_sgd_step(reference, x[idx], y[idx], cfg.lr)
    assert max_diff(history.model, reference) < 1e-5
    assert history.test_loss[-1] == pytest.approx(F.cross_entropy(reference(digits.x_test), digits.y_test).item(),
                                                  abs=1e-5)


def test_fedavg_learns_the_digits(digits):
    clients = fh.split_iid(digits.y_train, 10)
    torch.manual_seed(0)
    history = fh.run_fedavg(fh.mlp(64, 64, 10), digits.train, digits.test, clients,
                            config(rounds=5, local_epochs=2, batch_size=10, lr=0.1))
    assert history.test_accuracy[-1] > 0.9
    assert history.rounds_to_accuracy(0.9) is not None and history.rounds_to_accuracy(1.01) is None


# --- configuration and bad input ----------------------------------------------------------------------

def test_fedsgd_config_fixes_E_and_B():
    cfg = fh.FedAvgConfig.fedsgd(rounds=2, lr=0.5)
    assert cfg.local_epochs == 1 and cfg.batch_size is None and cfg.is_fedsgd
    assert not fh.FedAvgConfig().is_fedsgd
    with pytest.raises(TypeError, match="FedSGD fixes"):
        fh.FedAvgConfig.fedsgd(local_epochs=5)


@pytest.mark.parametrize("field, value, error, words", [
    ("rounds", 0, ValueError, "rounds: 0"),
    ("rounds", 2.0, TypeError, "rounds must be an int"),
    ("client_fraction", 0.0, ValueError, "client_fraction: 0.0"),
    ("client_fraction", 1.5, ValueError, "client_fraction: 1.5"),
    ("local_epochs", 0, ValueError, "local_epochs: 0"),
    ("batch_size", -10, ValueError, "batch_size: -10"),
    ("lr", -0.1, ValueError, "Invalid learning rate: -0.1"),
    ("lr", float("inf"), ValueError, r"Invalid learning rate: inf \(must be a finite number in \(0, inf\)\)"),
    ("seed", -3, ValueError, "seed: -3"),
    ("engine", "gpu", ValueError, "Invalid engine: 'gpu'"),
    ("progress", "yes", TypeError, "progress must be"),
])
def test_bad_config_is_refused(field, value, error, words):
    with pytest.raises(error, match=words):
        fh.FedAvgConfig(**{field: value})


@pytest.mark.parametrize("field, value, error, words", [
    ("epochs", 0, ValueError, "epochs: 0"),
    ("batch_size", 1.5, TypeError, "batch_size must be an int"),
    ("lr", 0, ValueError, "Invalid learning rate: 0.0"),
])
def test_bad_central_config_is_refused(field, value, error, words):
    with pytest.raises(error, match=words):
        fh.CentralConfig(**{field: value})


def test_bad_run_inputs_are_refused_before_anything_runs(digits):
    model, clients, cfg = small_model(), [torch.arange(10), torch.arange(10, 20)], config(rounds=1)
    train, test = digits.train, digits.test
    cases = [
        (lambda: fh.run_fedavg(lambda: model, train, test, clients, cfg), TypeError, "nn.Module"),
        (lambda: fh.run_fedavg(model, digits.x_train, test, clients, cfg), TypeError, "pair of tensors"),
        (lambda: fh.run_fedavg(model, (digits.x_train, digits.y_train[:5]), test, clients, cfg), ValueError,
         "same, non-zero number"),
        (lambda: fh.run_fedavg(model, (digits.x_train, digits.y_train.float()), test, clients, cfg), TypeError,
         "y.long()"),
        (lambda: fh.run_fedavg(model, (digits.x_train.long(), digits.y_train), test, clients, cfg), TypeError,
         "x.float()"),
        (lambda: fh.run_fedavg(model, train, test, [torch.tensor([0, 5000])], cfg), ValueError, "index 5000"),
        (lambda: fh.run_fedavg(model, train, test, [torch.tensor([-1])], cfg), ValueError, "index -1"),
        (lambda: fh.run_fedavg(model, train, test, [torch.arange(3), torch.tensor([], dtype=torch.long)], cfg),
         ValueError, "client 1 has no samples"),
        (lambda: fh.run_fedavg(model, train, test, [], cfg), ValueError, "client_indices is empty"),
        (lambda: fh.run_fedavg(model, train, test, torch.arange(10), cfg), TypeError, "one index tensor per client"),
        (lambda: fh.run_fedavg(model, train, test, [torch.tensor([0.5])], cfg), TypeError, "1-D integer"),
        (lambda: fh.run_fedavg(model, train, test, clients, {"rounds": 1}), TypeError, "FedAvgConfig"),
        (lambda: fh.train_central(model, train, test, cfg), TypeError, "CentralConfig"),
        (lambda: fh.plan_round(clients, cfg, 0), TypeError, "torch.Generator"),
        (lambda: fh.fedavg_round(model, train, {"clients": [0]}, cfg), TypeError, "RoundPlan"),
        (lambda: fh.client_update(model, digits.x_train, digits.y_train[:3], [], 0.1), ValueError, "same number"),
        (lambda: fh.client_update(model, digits.x_train, digits.y_train, [], -1.0), ValueError, "learning rate"),
        (lambda: fh.run_fedavg(model, train, test, [torch.arange(10), torch.arange(5, 15)], cfg), ValueError,
         "clients 0 and 1 both hold sample 5"),
        (lambda: fh.run_fedavg(model, train, test, [torch.tensor([1, 1, 2])], cfg), ValueError,
         "client 0 lists sample 1 more than once"),
        (lambda: fh.run_fedavg(fh.mlp(32, 10), train, test, clients, cfg), ValueError,  # was a batched-matmul error
         r"cannot take train's samples of shape \(64,\)"),
        (lambda: fh.run_fedavg(fh.mlp(64, 8), train, test, clients, cfg), ValueError,
         "train has label 9, but the model gives 8 class scores"),
        (lambda: fh.run_fedavg(model, train, (digits.x_test, digits.y_test.clamp(max=9) * 2), clients, cfg),
         ValueError, "test has label 18"),
        (lambda: fh.run_fedavg(model, (digits.x_train, torch.where(digits.y_train == 3, -100, digits.y_train)), test,
                               clients, config(rounds=1, engine="loop")), ValueError, "train has label -100"),
    ]
    before = copy.deepcopy(model.state_dict())
    for call, error, words in cases:
        with pytest.raises(error, match=words):
            call()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_dropout_models_need_the_loop_engine(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 10))
    clients = [torch.arange(10), torch.arange(10, 20)]
    with pytest.raises(ValueError, match="engine='loop'"):
        fh.run_fedavg(model, digits.train, digits.test, clients, config(rounds=1))
    history = fh.run_fedavg(model, digits.train, digits.test, clients, config(rounds=1, engine="loop"))
    assert len(history.test_accuracy) == 1


def test_progress_bar_follows_tqdm_disable_and_the_flag(monkeypatch):
    from fedavg_helpers.simulation import fedavg as simulation
    monkeypatch.setenv("TQDM_DISABLE", "1")
    items = range(3)
    assert simulation._progress(items, None, "x") is items  # automatic: off under TQDM_DISABLE=1
    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.setenv("CI", "true")
    assert simulation._progress(items, None, "x") is items  # and under CI
    assert simulation._progress(items, False, "x") is items
    bar = simulation._progress(items, True, "x")  # asked for explicitly: shown
    assert list(bar) == [0, 1, 2] and hasattr(bar, "set_postfix")


def test_frozen_parameters_stay_put_in_both_engines(digits):
    clients = fh.split_iid(digits.y_train[:100], 4)
    model = small_model()
    model[0].weight.requires_grad_(False)
    runs = [fh.run_fedavg(model, digits.train, digits.test, clients, config(rounds=2, engine=e))
            for e in ("vectorised", "loop")]
    for run in runs:
        assert torch.equal(run.model[0].weight, model[0].weight)
        assert not torch.equal(run.model[0].bias, model[0].bias)
    assert max_diff(*(run.model for run in runs)) < 1e-5
