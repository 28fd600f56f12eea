"""The series' models run no oneDNN primitive, so oneDNN's choice of instruction set cannot change a stored figure.

make test-cpus covers PyTorch's own kernel sets and MKL's code path. oneDNN picks its kernels by CPU too
(ONEDNN_MAX_CPU_ISA), but only convolutions and a few other layers reach it on a CPU; with ONEDNN_VERBOSE=1
it prints a line for every primitive it runs, so an empty log proves it took no part.
"""
import os
import subprocess
import sys

# the arithmetic of the notebooks: the seed's linear model through pointers, the digits MLP trained by both
# simulator engines, a secure average, DP clipping and noise, and the row attack's read-back
SERIES = """
import torch
from torch import nn, optim
import fedavg_helpers as fh

torch.manual_seed(0)
bob, alice = fh.VirtualWorker("bob"), fh.VirtualWorker("alice")
secure_worker = fh.VirtualWorker("secure_worker", trusted=True)
x, y = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]]), torch.tensor([[0.0], [0], [1], [1]])
models = []
for worker, rows in ((bob, slice(0, 2)), (alice, slice(2, 4))):
    data, target = fh.send(x[rows], worker, private=True), fh.send(y[rows], worker, private=True)
    model = fh.send(nn.Linear(2, 1), worker)
    opt = fh.remote(optim.SGD, model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        loss = ((model(data) - target) ** 2).sum()
        loss.backward()
        opt.step()
    models.append(model.move(secure_worker))
fh.secure_average(models, secure_worker)

digits = fh.load_digits_split()
clients = fh.split_iid(digits.y_train, 20, seed=0)
for engine in ("vectorised", "loop"):
    config = fh.FedAvgConfig(rounds=2, client_fraction=0.5, local_epochs=1, batch_size=10, lr=0.05,
                             engine=engine, progress=False)
    fh.run_fedavg(fh.mlp(64, 64, 10), digits.train, digits.test, clients, config)
updates = [torch.randn(100) for _ in range(5)]
fh.dp_aggregate(updates, max_norm=1.0, noise_multiplier=1.0, generator=torch.Generator().manual_seed(0))
model = fh.mlp(64, 64, 10)
trained = fh.mlp(64, 64, 10)
trained.load_state_dict(model.state_dict())
nn.functional.cross_entropy(trained(digits.x_train[:1]), digits.y_train[:1]).backward()
with torch.no_grad():
    for p in trained.parameters():
        p -= 0.1 * p.grad
update = fh.flatten_params(trained) - fh.flatten_params(model)
fh.row_attack(update, model, digits.x_train[:1], digits)
"""

# a convolution large enough that PyTorch runs it through oneDNN on a CPU: the check must see it
CONVOLUTION = "import torch\ntorch.nn.Conv2d(3, 16, 3)(torch.randn(8, 3, 32, 32))\n"


def onednn_primitives(code: str) -> list[str]:
    """The oneDNN primitives a fresh Python process runs for `code` (one log line each)."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if line.startswith("onednn_verbose") and ",exec," in line]


def test_the_check_sees_a_primitive_when_one_runs():
    assert onednn_primitives(CONVOLUTION), "ONEDNN_VERBOSE=1 printed no primitive for a convolution"


def test_the_series_runs_no_onednn_primitive():
    assert onednn_primitives(SERIES) == []
