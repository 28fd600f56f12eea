"""Cost of FedAvg rounds with the vectorised engine, 100 and 1000 clients: whole rounds and the training call.

Run: python benchmarks/bench_simulation.py. Setting: the digits training set (1347 samples) split IID, every
client trains (C = 1), E = 5, B = 10, MLP 64-64-10, one thread. Contenders and baselines are timed in this
process, interleaved, and the best of several repeats is compared, so the ratios are robust to a busy machine.

1. Whole rounds: fh.run_fedavg over R rounds, divided by R, so everything it does is counted (planning the
   round, batching, training, averaging, evaluating on the test set, and the run's own set-up shared by its
   R rounds). Against:
   - the vectorised training alone: R calls of the engine's SGD steps on the same round's batches, laid out
     beforehand (copies of the model for every client, one vmap(grad) step after another; nothing else);
   - a lean per-client loop written plainly below (load_state_dict, SGD over shuffled mini-batches, weighted
     sum, evaluation; no fh helpers), drawing clients and batches the way run_fedavg does, and checked to
     reach the same model.
   Targets at 1000 clients: a round costs <= 1.3x the training alone and is >= 25x faster than the lean loop.
2. The training call: fh.fedavg_round on one plan with the vectorised engine against engine="loop" (100
   clients) and central training. Central baseline ("same samples, same steps"): one model on the union of
   the round's samples, taking as many sequential SGD steps as the vectorised engine (E * max_k ceil(n_k / B)),
   each on an equal share of the samples: the same work without clients. Central SGD with B = 10 for E epochs
   on the same samples is shown for context. Targets: >= 30x faster than the loop, <= 3x central (100
   clients), 1000 clients < 1 s. The engines are checked to give the same model.
"""
import copy
import dataclasses
import json
import math
import time

import torch
import torch.nn.functional as F

import fedavg_helpers as fh
from fedavg_helpers.simulation.vectorised import _pack, _sgd_stacked

torch.set_num_threads(1)
ROUNDS = 10  # R: rounds per timed run_fedavg call


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def max_diff(a, b) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def lean_round(model, train, test, clients, epochs, batch_size, lr, generator):
    """One FedAvg round in plain PyTorch, client after client; returns the test loss and accuracy."""
    x, y = train
    start = copy.deepcopy(model.state_dict())
    local = copy.deepcopy(model)
    optimizer = torch.optim.SGD(local.parameters(), lr=lr)
    total = sum(len(idx) for idx in clients)
    average = {name: torch.zeros_like(t) for name, t in start.items()}
    picked = torch.randperm(len(clients), generator=generator).sort().values.tolist()  # C = 1: everyone
    for k in picked:
        local.load_state_dict(start)
        xk, yk = x[clients[k]], y[clients[k]]
        for _ in range(epochs):
            for batch in torch.randperm(len(xk), generator=generator).split(batch_size):
                optimizer.zero_grad()
                F.cross_entropy(local(xk[batch]), yk[batch]).backward()
                optimizer.step()
        with torch.no_grad():
            for name, t in local.state_dict().items():
                average[name] += t * (len(xk) / total)
    model.load_state_dict(average)
    with torch.no_grad():
        logits = model(test[0])
        return F.cross_entropy(logits, test[1]).item(), (logits.argmax(1) == test[1]).float().mean().item()


def bench_rounds(num_clients: int, repeats: int, lean_repeats: int) -> dict:
    digits = fh.load_digits_split()
    torch.manual_seed(0)
    model = fh.mlp(64, 64, 10)
    clients = fh.split_iid(digits.y_train, num_clients, seed=0)
    config = fh.FedAvgConfig(rounds=ROUNDS, client_fraction=1.0, local_epochs=5, batch_size=10, lr=0.05,
                             progress=False)

    # the same work: the lean loop, seeded like run_fedavg, draws the same clients and batches and gets its model
    lean_model = copy.deepcopy(model)
    lean_round(lean_model, digits.train, digits.test, clients, 5, 10, config.lr, torch.Generator().manual_seed(0))
    one_round = fh.run_fedavg(model, digits.train, digits.test, clients, dataclasses.replace(config, rounds=1))
    diff = max_diff(one_round.model, lean_model)
    assert diff < 1e-5, f"the lean loop and run_fedavg disagree by {diff}"

    # training alone: the first round's batches, laid out and gathered before the clock starts
    plan = fh.plan_round(clients, config, torch.Generator().manual_seed(0))
    x, y = digits.train
    _, _, active, ids, weights = _pack(plan, x.dtype)
    xs, ys = x[ids], y[ids]

    def train_alone():
        for _ in range(ROUNDS):
            _sgd_stacked(model, xs, ys, weights, active, config.lr)

    best = dict.fromkeys(["round", "train_alone", "lean_loop"], math.inf)
    for r in range(repeats):  # interleaved, so all contenders see the same machine load
        best["round"] = min(best["round"], timed(lambda: fh.run_fedavg(model, digits.train, digits.test, clients,
                                                                       config)) / ROUNDS)
        best["train_alone"] = min(best["train_alone"], timed(train_alone) / ROUNDS)
        if r < lean_repeats:
            m, g = copy.deepcopy(model), torch.Generator().manual_seed(r)
            best["lean_loop"] = min(best["lean_loop"], timed(lambda m=m, g=g: lean_round(
                m, digits.train, digits.test, clients, 5, 10, config.lr, g)))
    return {"clients": num_clients, "client_steps": int(plan.batches.steps.sum()), "lean_diff": diff, **best}


def bench_training_call(num_clients: int, repeats: int, loop_repeats: int) -> dict:
    digits = fh.load_digits_split()
    torch.manual_seed(0)
    model = fh.mlp(64, 64, 10)
    clients = fh.split_iid(digits.y_train, num_clients, seed=0)
    config = fh.FedAvgConfig(rounds=1, client_fraction=1.0, local_epochs=5, batch_size=10, lr=0.05)
    loop_config = dataclasses.replace(config, engine="loop")
    plan = fh.plan_round(clients, config, torch.Generator().manual_seed(0))  # the same plan for every contender

    # central baseline on the same samples: as many steps as the vectorised engine takes, equal shares of data
    x, y = digits.x_train[torch.cat(plan.indices)], digits.y_train[torch.cat(plan.indices)]
    steps = max(len(b) for b in plan.batches)
    share = math.ceil(len(x) / (steps // config.local_epochs))
    generator = torch.Generator().manual_seed(1)
    central_batches = fh.local_batches(len(x), share, config.local_epochs, generator)
    b10_batches = fh.local_batches(len(x), config.batch_size, config.local_epochs, generator)
    assert len(central_batches) == steps

    diff = math.nan
    if loop_repeats:
        vec_model, loop_model = copy.deepcopy(model), copy.deepcopy(model)
        fh.fedavg_round(vec_model, digits.train, plan, config)
        fh.fedavg_round(loop_model, digits.train, plan, loop_config)
        diff = max_diff(vec_model, loop_model)
        assert diff < 1e-5, f"engines disagree by {diff}"

    best = dict.fromkeys(["vectorised", "loop", "central", "central_b10"], math.inf)
    for r in range(repeats):  # interleaved, so all contenders see the same machine load
        m = copy.deepcopy(model)
        best["vectorised"] = min(best["vectorised"], timed(lambda m=m: fh.fedavg_round(m, digits.train, plan, config)))
        m = copy.deepcopy(model)
        best["central"] = min(best["central"], timed(lambda m=m: fh.client_update(m, x, y, central_batches, config.lr)))
        m = copy.deepcopy(model)
        best["central_b10"] = min(best["central_b10"],
                                  timed(lambda m=m: fh.client_update(m, x, y, b10_batches, config.lr)))
        if r < loop_repeats:
            m = copy.deepcopy(model)
            best["loop"] = min(best["loop"], timed(lambda m=m: fh.fedavg_round(m, digits.train, plan, loop_config)))
    return {"clients": num_clients, "steps": steps, "client_steps": sum(len(b) for b in plan.batches),
            "samples": len(x), "max_abs_diff": diff, **best}


def main():
    rounds = {n: bench_rounds(n, repeats, lean) for n, repeats, lean in [(100, 7, 5), (1000, 5, 3)]}
    calls = {n: bench_training_call(n, repeats, loop) for n, repeats, loop in [(100, 15, 3), (1000, 5, 0)]}
    print("FedAvg rounds, digits IID, C=1, E=5, B=10, MLP 64-64-10, 1 thread (best of repeats)")
    print(f"1. whole rounds: run_fedavg over {ROUNDS} rounds, per round")
    for n, r in rounds.items():
        print(f"{n} clients ({r['client_steps']} client steps a round; lean loop reaches run_fedavg's model "
              f"to {r['lean_diff']:.1e})")
        print(f"  lean per-client loop (plain PyTorch)   {r['lean_loop'] * 1e3:9.2f} ms")
        print(f"  vectorised training alone              {r['train_alone'] * 1e3:9.2f} ms   "
              f"{r['lean_loop'] / r['train_alone']:6.1f}x faster than the lean loop")
        print(f"  run_fedavg, whole round                {r['round'] * 1e3:9.2f} ms   "
              f"{r['lean_loop'] / r['round']:6.1f}x faster than the lean loop, "
              f"{r['round'] / r['train_alone']:.2f}x the training alone")
    print("2. the training call: fedavg_round on one plan")
    for n, r in calls.items():
        agree = "" if math.isnan(r["max_abs_diff"]) else f", engines agree to {r['max_abs_diff']:.1e}"
        print(f"{n} clients: {r['samples']} samples, {r['client_steps']} client steps, "
              f"{r['steps']} vectorised steps{agree}")
        if r["loop"] < math.inf:
            print(f"  per-client loop (engine='loop')        {r['loop'] * 1e3:9.2f} ms")
        print(f"  vectorised (torch.func)                {r['vectorised'] * 1e3:9.2f} ms" +
              (f"   {r['loop'] / r['vectorised']:6.1f}x faster than the loop" if r["loop"] < math.inf else ""))
        print(f"  central, same samples, same steps      {r['central'] * 1e3:9.2f} ms   "
              f"vectorised costs {r['vectorised'] / r['central']:.2f}x")
        print(f"  central, same samples, B=10, E epochs  {r['central_b10'] * 1e3:9.2f} ms   (context)")
    large, small, small_call, large_call = rounds[1000], rounds[100], calls[100], calls[1000]
    overhead, speedup_round = large["round"] / large["train_alone"], large["lean_loop"] / large["round"]
    speedup, cost = small_call["loop"] / small_call["vectorised"], small_call["vectorised"] / small_call["central"]
    met = {"round_vs_train": overhead <= 1.3, "round_vs_lean": speedup_round >= 25, "speedup": speedup >= 30,
           "central": cost <= 3, "1000_under_1s": large_call["vectorised"] < 1}
    word = {True: "met", False: "NOT met"}
    print(f"targets at 1000 clients: round <= 1.3x training alone: {overhead:.2f}x {word[met['round_vs_train']]}; "
          f">= 25x vs lean loop: {speedup_round:.1f}x {word[met['round_vs_lean']]}")
    print(f"targets of the training call: >= 30x vs loop: {speedup:.1f}x {word[met['speedup']]}; "
          f"<= 3x central: {cost:.2f}x {word[met['central']]}; "
          f"1000 clients < 1 s: {large_call['vectorised']:.3f} s {word[met['1000_under_1s']]}")
    print(json.dumps({
        "round_100_s": small["round"], "train_alone_100_s": small["train_alone"], "lean_loop_100_s": small["lean_loop"],
        "round_vs_train_100": round(small["round"] / small["train_alone"], 3),
        "speedup_round_vs_lean_100": round(small["lean_loop"] / small["round"], 2),
        "round_1000_s": large["round"], "train_alone_1000_s": large["train_alone"],
        "lean_loop_1000_s": large["lean_loop"], "round_vs_train_1000": round(overhead, 3),
        "speedup_round_vs_lean_1000": round(speedup_round, 2),
        "speedup_train_vs_lean_1000": round(large["lean_loop"] / large["train_alone"], 2),
        "loop_100_s": small_call["loop"], "vectorised_100_s": small_call["vectorised"],
        "central_100_s": small_call["central"], "central_b10_100_s": small_call["central_b10"],
        "speedup_vs_loop_100": round(speedup, 2), "cost_vs_central_100": round(cost, 3),
        "vectorised_1000_s": large_call["vectorised"], "central_1000_s": large_call["central"],
        "cost_vs_central_1000": round(large_call["vectorised"] / large_call["central"], 3),
        **{f"target_{name}_met": value for name, value in met.items()}}))


if __name__ == "__main__":
    main()
