"""Cost of one FedAvg round: the vectorised engine vs the per-client loop vs central training, 100 and 1000 clients.

Run: python benchmarks/bench_simulation.py. Setting (issue 4): the digits training set (1347 samples)
split IID, every client trains (C = 1), E = 5, B = 10, MLP 64-64-10, one thread. Each contender is timed
in this process, interleaved with the others, and the best of several repeats is compared, so the ratios
are robust to a busy machine. Both engines follow the same plan, and are checked to give the same model.
Central baseline ("same samples, same steps"): one model on the union of the round's samples, taking as
many sequential SGD steps as the vectorised engine (E * max_k ceil(n_k / B)), each on an equal share of
the samples: the same work without clients. For context, central SGD with B = 10 for E epochs on the
same samples is shown too. Targets: >= 30x faster than the loop, <= 3x central, 1000 clients < 1 s.
"""
import copy
import dataclasses
import json
import math
import time

import torch

import fedavg_helpers as fh

torch.set_num_threads(1)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_round(num_clients: int, repeats: int, loop_repeats: int) -> dict:
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

    vec_model, loop_model = copy.deepcopy(model), copy.deepcopy(model)
    fh.fedavg_round(vec_model, digits.train, plan, config)
    fh.fedavg_round(loop_model, digits.train, plan, loop_config)
    diff = max((a - b).abs().max().item() for a, b in zip(vec_model.parameters(), loop_model.parameters()))
    assert diff < 1e-5, f"engines disagree by {diff}"

    best = dict.fromkeys(["vectorised", "loop", "central", "central_b10"], math.inf)
    for r in range(repeats):  # interleaved, so all contenders see the same machine load
        m = copy.deepcopy(model)
        best["vectorised"] = min(best["vectorised"], timed(lambda: fh.fedavg_round(m, digits.train, plan, config)))
        m = copy.deepcopy(model)
        best["central"] = min(best["central"], timed(lambda: fh.client_update(m, x, y, central_batches, config.lr)))
        m = copy.deepcopy(model)
        best["central_b10"] = min(best["central_b10"], timed(lambda: fh.client_update(m, x, y, b10_batches, config.lr)))
        if r < loop_repeats:
            m = copy.deepcopy(model)
            best["loop"] = min(best["loop"], timed(lambda: fh.fedavg_round(m, digits.train, plan, loop_config)))
    return {"clients": num_clients, "steps": steps, "client_steps": sum(len(b) for b in plan.batches),
            "samples": len(x), "max_abs_diff": diff, **best}


def main():
    small = bench_round(100, repeats=15, loop_repeats=3)
    large = bench_round(1000, repeats=5, loop_repeats=1)
    speedup, cost = small["loop"] / small["vectorised"], small["vectorised"] / small["central"]
    speedup_large = large["loop"] / large["vectorised"]
    print("one FedAvg round, digits IID, C=1, E=5, B=10, MLP 64-64-10, 1 thread (best of repeats)")
    for r in (small, large):
        print(f"{r['clients']} clients: {r['samples']} samples, {r['client_steps']} client steps, "
              f"{r['steps']} vectorised steps, engines agree to {r['max_abs_diff']:.1e}")
        print(f"  per-client loop                        {r['loop'] * 1e3:9.2f} ms")
        print(f"  vectorised (torch.func)                {r['vectorised'] * 1e3:9.2f} ms   "
              f"{r['loop'] / r['vectorised']:6.1f}x faster than the loop")
        print(f"  central, same samples, same steps      {r['central'] * 1e3:9.2f} ms   "
              f"vectorised costs {r['vectorised'] / r['central']:.2f}x")
        print(f"  central, same samples, B=10, E epochs  {r['central_b10'] * 1e3:9.2f} ms   (context)")
    print(f"targets: >= 30x vs loop: {speedup:.1f}x {'met' if speedup >= 30 else 'NOT met'}; "
          f"<= 3x central: {cost:.2f}x {'met' if cost <= 3 else 'NOT met'}; "
          f"1000 clients < 1 s: {large['vectorised']:.3f} s {'met' if large['vectorised'] < 1 else 'NOT met'}")
    print(json.dumps({
        "loop_100_s": small["loop"], "vectorised_100_s": small["vectorised"], "central_100_s": small["central"],
        "central_b10_100_s": small["central_b10"], "speedup_vs_loop_100": round(speedup, 2),
        "cost_vs_central_100": round(cost, 3), "loop_1000_s": large["loop"],
        "vectorised_1000_s": large["vectorised"], "central_1000_s": large["central"],
        "speedup_vs_loop_1000": round(speedup_large, 2),
        "cost_vs_central_1000": round(large["vectorised"] / large["central"], 3),
        "target_speedup_met": speedup >= 30, "target_central_met": cost <= 3,
        "target_1000_under_1s_met": large["vectorised"] < 1}))


if __name__ == "__main__":
    main()
