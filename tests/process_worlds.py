"""Worlds of worker processes for the tests: each scenario runs in a child of pytest, never in pytest itself.

Run: python tests/process_worlds.py SCENARIO; the last line printed is a JSON report. The test that starts it
kills its whole process group at a deadline, so a hang can never outlive the test.
"""
import json
import os
import signal
import sys
import threading
import time

import torch
from torch import nn, optim

import fedavg_helpers as fh


def stall(x, seconds):
    """Hold a worker busy (a stuck worker, for the timeout tests)."""
    time.sleep(seconds)
    return x


def seed_loop(bob, alice, secure_worker, steps=10):
    """The seed tutorial's loop, written once for both kinds of worker; returns every number it produced."""
    torch.manual_seed(0)
    data = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1.]], requires_grad=True)
    target = torch.tensor([[0], [0], [1], [1.]], requires_grad=True)
    bobs_data = fh.send(data[0:2], bob, private=True)
    bobs_target = fh.send(target[0:2], bob, private=True)
    alices_data = fh.send(data[2:], alice, private=True)
    alices_target = fh.send(target[2:], alice, private=True)
    model = nn.Linear(2, 1)
    losses = []
    for _ in range(2):  # two rounds of FedAvg
        bobs_model = fh.send(model, bob)
        alices_model = fh.send(model, alice)
        bobs_opt = fh.remote(optim.SGD, bobs_model.parameters(), lr=0.1)
        alices_opt = fh.remote(optim.SGD, alices_model.parameters(), lr=0.1)
        for _ in range(steps):
            bobs_opt.zero_grad()
            bobs_loss = ((bobs_model(bobs_data) - bobs_target) ** 2).sum()
            bobs_loss.backward()
            bobs_opt.step()
            alices_opt.zero_grad()
            alices_loss = ((alices_model(alices_data) - alices_target) ** 2).sum()
            alices_loss.backward()
            alices_opt.step()
            losses += [bobs_loss.get().item(), alices_loss.get().item()]
        alices_model.move(secure_worker)
        bobs_model.move(secure_worker)
        fh.secure_average([bobs_model, alices_model], secure_worker, into=model)
    refused = []
    for what, attempt in [("bob's data", lambda: bobs_data.get()), ("bob's model", lambda: bobs_model.get()),
                          ("move to alice", lambda: bobs_model.move(alice))]:
        try:
            attempt()
            refused.append(f"{what}: came back")
        except fh.PrivacyError as err:
            refused.append(f"{what}: {err}")
    return {"losses": losses, "state": {k: v.tolist() for k, v in model.state_dict().items()},
            "bits": [v.view(torch.int32).tolist() for v in model.state_dict().values()], "refused": refused,
            "bytes": [(w.bytes_received, w.bytes_sent) for w in (bob, alice, secure_worker)]}


def scenario_seed():
    inproc = seed_loop(fh.VirtualWorker("bob"), fh.VirtualWorker("alice"),
                       fh.VirtualWorker("secure_worker", trusted=True))
    t = time.perf_counter()
    with fh.spawn_workers(["bob", "alice", "secure_worker"], trusted=["secure_worker"]) as workers:
        started = time.perf_counter() - t
        pids = [w.pid for w in workers]
        listeners = listening([os.getpid(), *pids])
        procs = seed_loop(*workers)
        bad, kept = bad_input(*workers)
    try:
        kept.get()
        bad.append("after shutdown: came back")
    except fh.PointerError as err:
        bad.append(f"after shutdown: PointerError {'shut down' in str(err)}")
    with fh.spawn_workers(["bob", "secure_worker"], trusted=["secure_worker"]) as (bob, secure_worker):
        second_world = (fh.send(torch.ones(2), bob) * 2).sum().get().item()  # a new world in the same process
    return {"inproc": inproc, "procs": procs, "start_s": started, "pids": pids, "bad_input": bad,
            "second_world": second_world,
            "listeners": listeners,
            "bad_input_expected": ["lambda: TypeError", "notebook function: TypeError",
                                   "unknown worker: WorkerError", "mixed workers: LocationError", "still usable: 3.0",
                                   "after shutdown: PointerError True"],
            "alive_after": [p for p in pids if _alive(p)]}


def bad_input(bob, alice, secure_worker):
    """Each mistake gives a clear error, and the workers stay usable."""
    import process_worlds  # stall, as the worker processes can import it (here it is also __main__'s)

    x_bob, x_alice = fh.send(torch.ones(2), bob), fh.send(torch.ones(2), alice)
    found = []
    for what, attempt in [("lambda", lambda: fh.remote(lambda t: t, x_bob)),
                          ("notebook function", lambda: fh.remote(stall, x_bob, 0)),
                          ("unknown worker", lambda: x_bob.move("carol")),
                          ("mixed workers", lambda: x_bob + x_alice)]:
        try:
            attempt()
            found.append(f"{what}: no error")
        except Exception as err:
            found.append(f"{what}: {type(err).__name__}")
    kept = fh.remote(process_worlds.stall, x_alice, 0) * 3
    found.append(f"still usable: {kept.sum().get().item() / 2}")
    return found, fh.send(torch.ones(1), secure_worker)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: its parent has not collected it yet
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False



def scenario_faults():
    """A stuck worker times out, a killed one is lost, the rest stay usable, and shutdown does not hang."""
    import process_worlds

    found = {}
    config = fh.ProcessConfig(timeout=3, stop_timeout=3)
    with fh.spawn_workers(["bob", "alice", "secure_worker"], trusted=["secure_worker"], config=config) as workers:
        bob, alice, secure_worker = workers
        model = nn.Linear(2, 1)
        before = [v.clone() for v in model.state_dict().values()]
        x_bob, x_alice = fh.send(torch.ones(2), bob), fh.send(torch.ones(2), alice)
        t = time.perf_counter()
        try:
            fh.remote(process_worlds.stall, x_alice, 8)
        except fh.WorkerTimeout as err:
            found["timeout"] = [err.worker, round(time.perf_counter() - t, 1), str(err)]
        found["alice after timeout"] = (x_alice * 2).sum().get().item()
        killer = threading.Timer(1.0, os.kill, (bob.pid, signal.SIGKILL))
        killer.start()
        t = time.perf_counter()
        try:
            fh.remote(process_worlds.stall, x_bob, 20)
        except fh.WorkerLost as err:
            found["lost"] = [err.worker, round(time.perf_counter() - t - 1.0, 2), str(err)]
        for what, attempt in [("send to the dead worker", lambda: fh.send(torch.ones(1), bob)),
                              ("pointer into the dead worker", lambda: x_bob.get())]:
            try:
                attempt()
                found[what] = "no error"
            except fh.WorkerLost as err:
                found[what] = err.worker
        found["alice after loss"] = (x_alice + 1).sum().get().item()
        found["secure_worker after loss"] = (fh.send(torch.ones(3), secure_worker) * 2).sum().get().item()
        found["model intact"] = all(torch.equal(a, b) for a, b in zip(before, model.state_dict().values()))
        found["alive"] = [w.name for w in workers if w.alive]
        pids = [w.pid for w in workers]
        t = time.perf_counter()
    found["close_s"] = round(time.perf_counter() - t, 2)
    found["alive_after"] = [p for p in pids if _alive(p)]
    t = time.perf_counter()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a notebook's kernel, even if started ignoring it
    try:  # Ctrl-C (the notebook's stop button) in the middle of a long request
        with fh.spawn_workers(["bob"]) as (bob,):
            pids = [bob.pid]
            x = fh.send(torch.ones(1), bob)
            t = time.perf_counter()
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
            fh.remote(process_worlds.stall, x, 20)
        found["interrupted"] = "not interrupted"
    except KeyboardInterrupt:
        found["interrupted"] = [round(time.perf_counter() - t, 1), [p for p in pids if _alive(p)]]
    return found


def digits_problem(n_clients=3, per_client=40):
    digits = fh.load_digits_split()
    x, y = digits.train
    n = n_clients * per_client
    return digits, (x[:n], y[:n]), fh.split_iid(y[:n], n_clients, seed=0)


def scenario_survivors():
    """FedAvg on digits across processes; bob is killed in the middle of round 2 and the rounds go on without him."""
    import fedavg_helpers.federated as federated

    digits, train, idx = digits_problem()
    config = fh.FedAvgConfig(rounds=3, client_fraction=1.0, local_epochs=1, batch_size=10, lr=0.1, seed=0,
                             engine="loop", progress=False)
    names = ["bob", "alice", "carol"]
    torch.manual_seed(0)
    model = fh.mlp(64, 16, 10)
    inproc = fh.run_fedavg_on_workers(model, [fh.VirtualWorker(n) for n in names],
                                      fh.VirtualWorker("secure_worker", trusted=True), train, digits.test, idx,
                                      config)
    with fh.spawn_workers([*names, "secure_worker"], trusted=["secure_worker"]) as workers:
        bob = workers[0]
        calls, train_there = [], federated.remote_client_update

        def kill_bob_in_round_two(local, *args):
            calls.append(1)
            if len(calls) == 4:  # round 2 has begun: bob has the global model, and dies before training it
                os.kill(bob.pid, signal.SIGKILL)
                time.sleep(0.2)
            return train_there(local, *args)

        federated.remote_client_update = kill_bob_in_round_two
        try:
            history = fh.run_fedavg_on_workers(model, workers[:3], workers[3], train, digits.test, idx, config)
        finally:
            federated.remote_client_update = train_there
        t = time.perf_counter()
    return {"inproc_accuracy": inproc.test_accuracy, "accuracy": history.test_accuracy,
            "inproc_loss": inproc.test_loss, "loss": history.test_loss, "dropped": history.dropped,
            "close_s": round(time.perf_counter() - t, 2)}



def listening(pids):
    """Every TCP socket these processes listen on, as (pid, address, port), read from /proc."""
    inodes = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes[link[8:-1]] = pid
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:
                    found.append((inodes[inode], _address(local), int(local.split(":")[1], 16)))
    return found


def _address(local: str) -> str:
    import ipaddress
    import socket

    raw = bytes.fromhex(local.split(":")[0])
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.ip_address(words))


def _io(pid):
    """Bytes a process read and wrote through system calls (sockets included)."""
    with open(f"/proc/{pid}/io") as f:
        values = dict(line.split(": ") for line in f.read().splitlines())
    return int(values["rchar"]), int(values["wchar"])


def scenario_wire():
    """Only loopback listeners; a model moves bob -> secure_worker without a byte through the model owner."""
    # TCP only, tensors included, so the kernel's byte counters see every byte
    config = fh.ProcessConfig(transports=("uv",), channels=("basic",))
    world = fh.spawn_workers(["bob", "alice", "secure_worker"], trusted=["secure_worker"], config=config)
    with world as workers:
        bob, alice, secure_worker = workers
        pids = [os.getpid()] + [w.pid for w in workers]
        listeners = listening(pids)
        torch.manual_seed(0)
        model = nn.Linear(1000, 2000)  # 8 MB of weights
        bobs_model = fh.send(model, bob)
        before, io_before = world.traffic(), {p: _io(p) for p in pids}
        bobs_model.move(secure_worker)
        after, io_after = world.traffic(), {p: _io(p) for p in pids}
        delta = {name: {k: after[name][k] - before[name][k] for k in ("sent", "received")} for name in after}
        io = {name: [a - b for a, b in zip(io_after[p], io_before[p])]
              for name, p in zip(["model_owner", "bob", "alice", "secure_worker"], pids)}
    return {"listeners": listeners, "delta": delta, "io": io, "model_bytes": 8_000_000 + 8_000}



def scenario_strict():
    """Under the strict policy (enforced in each worker's process), FedAvg gives the in-process model bit for bit."""
    fh.set_policy(fh.PrivacyPolicy(strict=True))
    digits, train, idx = digits_problem()
    config = fh.FedAvgConfig(rounds=2, client_fraction=1.0, local_epochs=1, batch_size=10, lr=0.1, seed=0,
                             engine="loop", progress=False)
    torch.manual_seed(0)
    model = fh.mlp(64, 16, 10)
    inproc = fh.run_fedavg_on_workers(model, [fh.VirtualWorker(n) for n in ("bob", "alice", "carol")],
                                      fh.VirtualWorker("secure_worker", trusted=True), train, digits.test, idx, config)
    with fh.spawn_workers(["bob", "alice", "carol", "secure_worker"], trusted=["secure_worker"]) as workers:
        history = fh.run_fedavg_on_workers(model, workers[:3], workers[3], train, digits.test, idx, config)
        x = fh.send(torch.ones(2), workers[0], private=True)
        try:
            x.sum().get()
            refusal = "came back"
        except fh.PrivacyError as err:
            refusal = str(err)
    same = all(torch.equal(a, b) for a, b in zip(history.model.state_dict().values(),
                                                 inproc.model.state_dict().values()))
    return {"same_model": same, "refusal": refusal}


def scenario_rpc_reaches_the_store():
    """A documented limitation: torch RPC lets any peer run any importable function in any other peer, so even
    under the strict policy a direct rpc call from the model owner's process reads bob's private tensor. The policy
    governs what fh's own requests release, not what code a worker can be asked to run."""
    from torch.distributed import rpc

    fh.set_policy(fh.PrivacyPolicy(strict=True))
    before = {var: os.environ.get(var) for var in ("TP_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")}
    secret = torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0])
    with fh.spawn_workers(["bob", "secure_worker"], trusted=["secure_worker"]) as (bob, _):
        bobs_data = fh.send(secret, bob, private=True)
        try:
            bobs_data.get()
            refusal = "came back"
        except fh.PrivacyError as err:
            refusal = str(err)
        store = "[e.obj for e in __import__('fedavg_helpers.core.transport.host', fromlist=['_state'])" \
                "._state['me']._store.values()]"
        found = rpc.rpc_sync("bob", eval, args=(store,))
        during = {var: os.environ.get(var) for var in before}
    after = {var: os.environ.get(var) for var in before}
    return {"refusal": refusal, "read_through_rpc": any(torch.equal(obj, secret) for obj in found
                                                        if isinstance(obj, torch.Tensor)),
            "environ_before": before, "environ_during": during, "environ_after": after}


if __name__ == "__main__":
    torch.set_num_threads(1)
    report = globals()[f"scenario_{sys.argv[1]}"](*sys.argv[2:])
    print(json.dumps(report))
