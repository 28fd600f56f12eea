"""Cost of putting each worker in its own OS process: start-up, a tiny call, a big move, the seed loop.

Run: python benchmarks/bench_processes.py. One world of worker processes is started and reused; the
in-process contenders run in this same process, so the ratios compare like with like on a busy machine.
The last line is JSON.
"""
import json
import statistics
import time

import torch
from torch import nn, optim

import fedavg_helpers as fh

torch.set_num_threads(1)
NAMES, TRUSTED = ["bob", "alice", "secure_worker"], ["secure_worker"]


def seed_loop(bob, alice, secure_worker, steps=10):
    """The seed tutorial's loop (notebooks 01-04), one round, for either kind of worker."""
    torch.manual_seed(0)
    data = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]], requires_grad=True)
    target = torch.tensor([[0], [0], [1], [1.]], requires_grad=True)
    pairs = [(fh.send(data[0:2], bob, private=True), fh.send(target[0:2], bob, private=True), bob),
             (fh.send(data[2:], alice, private=True), fh.send(target[2:], alice, private=True), alice)]
    model = nn.Linear(2, 1)
    models = []
    for x, y, worker in pairs:
        local = fh.send(model, worker)
        opt = fh.remote(optim.SGD, local.parameters(), lr=0.1)
        for _ in range(steps):
            opt.zero_grad()
            loss = ((local(x) - y) ** 2).sum()
            loss.backward()
            opt.step()
            loss.get()
        models.append(local.move(secure_worker))
    fh.secure_average(models, secure_worker, into=model)
    return model


def timed(fn, repeats=1):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def latencies(fn, n=300):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times), times[int(0.99 * (n - 1))]


def main():
    big = torch.randn(10_000_000)  # 40 MB of float32
    mb = big.numel() * big.element_size() / 1e6
    local = [fh.VirtualWorker(n, trusted=n in TRUSTED) for n in NAMES]
    x_local = fh.send(torch.ones(4), local[0])
    inproc_tiny = latencies(lambda: x_local.sum())
    clone_s = timed(lambda: big.clone(), repeats=5)

    def move_in_process():
        p = fh.send(big, local[0])
        t = time.perf_counter()
        p.move(local[2])
        return time.perf_counter() - t
    inproc_move_s = min(move_in_process() for _ in range(3))
    inproc_seed_s = timed(lambda: seed_loop(*local), repeats=3)

    t = time.perf_counter()
    with fh.spawn_workers(NAMES, trusted=TRUSTED) as (bob, alice, secure_worker):
        start_s = time.perf_counter() - t
        x_bob = fh.send(torch.ones(4), bob)
        x_bob.sum()  # warm up the connection
        tiny = latencies(lambda: x_bob.sum())

        def move_across():
            p = fh.send(big, bob)
            t = time.perf_counter()
            p.move(secure_worker)
            return time.perf_counter() - t
        move_s = min(move_across() for _ in range(3))
        seed_loop(bob, alice, secure_worker)  # warm up: the first backward in a fresh process is slow
        procs_seed_s = timed(lambda: seed_loop(bob, alice, secure_worker), repeats=3)
        t = time.perf_counter()
    stop_s = time.perf_counter() - t

    print(f"world of {len(NAMES)} worker processes: start {start_s:.2f} s, stop {stop_s:.2f} s")
    print(f"tiny call (ptr.sum()): in-process p50 {inproc_tiny[0] * 1e6:.0f} us, across processes p50 "
          f"{tiny[0] * 1e6:.0f} us, p99 {tiny[1] * 1e6:.0f} us")
    print(f"{mb:.0f} MB tensor bob -> secure_worker: in-process clone {mb / clone_s:.0f} MB/s, in-process move "
          f"{mb / inproc_move_s:.0f} MB/s, across processes {mb / move_s:.0f} MB/s")
    print(f"seed loop (10 steps x 2 workers, move, average): in-process {inproc_seed_s * 1e3:.0f} ms, "
          f"processes {procs_seed_s * 1e3:.0f} ms ({procs_seed_s / inproc_seed_s:.1f}x)")
    print(json.dumps({"start_s": round(start_s, 3), "stop_s": round(stop_s, 3),
                      "tiny_call_inprocess_p50_us": round(inproc_tiny[0] * 1e6, 1),
                      "tiny_call_p50_us": round(tiny[0] * 1e6, 1), "tiny_call_p99_us": round(tiny[1] * 1e6, 1),
                      "move_mb": mb, "clone_mb_s": round(mb / clone_s),
                      "inprocess_move_mb_s": round(mb / inproc_move_s),
                      "move_mb_s": round(mb / move_s), "seed_inprocess_s": round(inproc_seed_s, 4),
                      "seed_processes_s": round(procs_seed_s, 4),
                      "seed_ratio": round(procs_seed_s / inproc_seed_s, 2)}))


if __name__ == "__main__":
    main()
