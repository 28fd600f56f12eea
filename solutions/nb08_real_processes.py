"""Solutions to the exercises of notebook 08 (real processes). Run: python solutions/nb08_real_processes.py

All four exercises share one world of worker processes, started with a 1-second timeout (exercise 3) and with
TCP carrying every byte, tensors included (exercise 4). The last line printed is a JSON summary
(tests/test_solutions.py reads it).
"""
import importlib
import json
import os
import pathlib
import sys
import time

import torch
from torch import nn

import fedavg_helpers as fh

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # so the workers can import this module


def slow_identity(x, seconds):
    """Return x after `seconds` of sleep: a straggler, once it runs on a worker."""
    time.sleep(seconds)
    return x


def in_the_notebook(t, seconds):
    """What a function defined in a notebook cell looks like to pickle: it belongs to module __main__."""
    return t


in_the_notebook.__module__ = "__main__"


def importable(name):
    """This module's function `name` as the workers see it (imported by its module name, not as __main__)."""
    return getattr(importlib.import_module("nb08_real_processes"), name)


def exercise_1(bob, n=200):
    """A tiny request costs microseconds in one process and about a millisecond (hundreds of times more) across."""
    here = fh.send(torch.ones(4), fh.VirtualWorker("bob_here"))
    there = fh.send(torch.ones(4), bob)
    times = {}
    for name, pointer in [("in-process", here), ("other process", there)]:
        pointer.sum()  # warm up
        started = time.perf_counter()
        for _ in range(n):
            pointer.sum()
        times[name] = (time.perf_counter() - started) / n
    return times, times["other process"] / times["in-process"]


def exercise_2(bob):
    """A lambda and a function of the notebook (module __main__) are refused; the same function from a module runs."""
    x = fh.send(torch.ones(2), bob)
    found = {}
    for what, fn in [("lambda", lambda t, seconds: t), ("notebook function", in_the_notebook),
                     ("module function", importable("slow_identity"))]:
        try:
            found[what] = fh.remote(fn, x, 0).sum().get().item()
        except TypeError as err:
            found[what] = f"TypeError: {err}"
    return found


def exercise_3(alice):
    """A 3-second call with a 1-second timeout raises fh.WorkerTimeout after about 1 s; alice answers the next one."""
    x = fh.send(torch.ones(2), alice)
    started = time.perf_counter()
    try:
        fh.remote(importable("slow_identity"), x, 3)
        error = None
    except fh.WorkerTimeout as err:
        error = str(err)
    waited = time.perf_counter() - started
    return error, waited, (x * 2).sum().get().item()


def exercise_4(workers):
    """While bob's model moves, the kernel counts megabytes read and written by bob and the secure worker, and almost
    nothing by the model owner's process (the counters include every socket's traffic: TCP carries everything)."""
    bob, secure_worker = workers["bob"], workers["secure_worker"]
    bobs_model = fh.send(nn.Linear(1000, 1000), bob)  # 4 MB
    pids = {"model_owner": os.getpid(), "bob": bob.pid, "secure_worker": secure_worker.pid}
    before = {name: io_counters(pid) for name, pid in pids.items()}
    bobs_model.move(secure_worker)
    after = {name: io_counters(pid) for name, pid in pids.items()}
    return {name: {k: after[name][k] - before[name][k] for k in ("rchar", "wchar")} for name in pids}


def io_counters(pid):
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}


def main():
    torch.set_num_threads(1)
    config = fh.ProcessConfig(timeout=1, transports=("uv",), channels=("basic",))
    with fh.spawn_workers(["bob", "alice", "secure_worker"], trusted=["secure_worker"], config=config) as workers:
        bob, alice, secure_worker = workers
        times, ratio = exercise_1(bob)
        print(f"1. tiny request: {times['in-process'] * 1e6:.0f} us in-process, "
              f"{times['other process'] * 1e6:.0f} us to another process ({ratio:.0f}x)")
        found = exercise_2(bob)
        print("2.", json.dumps(found, indent=2))
        error, waited, after = exercise_3(alice)
        print(f"3. after {waited:.1f} s: {error}\n   alice's next answer: {after}")
        io = exercise_4({w.name: w for w in workers})
        print("4.", {name: {k: f"{v / 1e6:.2f} MB" for k, v in c.items()} for name, c in io.items()})
    print(json.dumps({"ratio": ratio, "exercise_2": found, "timeout_error": error, "waited": waited,
                      "alice_after": after, "io": io}))


if __name__ == "__main__":
    main()
