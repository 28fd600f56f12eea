"""The many-client simulator: data, splits, models, one client's update, and FedAvg rounds with two engines.

It never creates workers or pointers: clients are rows of tensors, so a round of 1,000 clients is fast.
data.py (the digits), splits.py (IID, shards, Dirichlet), models.py, participation.py (who takes part in
a round), batches.py (shuffled local batches for all clients at once), client.py (ClientUpdate and the
weighted average), fedavg.py (configs, plans, rounds, runs), vectorised.py (all clients at once with
torch.func), flat.py (parameters as one vector), plotting.py.
"""
from .data import Digits, load_digits_split
from .splits import split_iid, split_shards, split_dirichlet, label_counts
from .models import mlp
from .participation import poisson_sample_clients
from .client import local_batches, client_update, weighted_average, evaluate
from .batches import LocalBatches
from .fedavg import (FedAvgConfig, CentralConfig, History, RoundPlan, plan_round, fedavg_round, run_fedavg,
                     train_central)
from .flat import flatten_params, unflatten_params
from .plotting import plot_label_distribution, plot_accuracy
