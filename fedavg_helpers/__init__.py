"""fedavg_helpers: virtual workers, pointers and secure averaging for teaching federated learning."""

# --- core (issue 3): workers, pointers, privacy policy, secure averaging ---
from .errors import LocationError, PointerError, PrivacyError, WorkerError
from .policy import PrivacyPolicy, get_policy, set_policy
from .worker import VirtualWorker, get_worker
from .pointer import Pointer, send, remote
from .averaging import secure_average, average_losses
from .diagram import draw_workers
# --- end core ---

# --- data and simulation (issue 4) ---
from .data import Digits, load_digits_split
from .splits import split_iid, split_shards, split_dirichlet, label_counts
from .models import mlp
from .client import local_batches, client_update, weighted_average, evaluate
from .batches import LocalBatches
from .simulation import (FedAvgConfig, CentralConfig, History, RoundPlan, plan_round, fedavg_round, run_fedavg,
                         train_central)
from .plotting import plot_label_distribution, plot_accuracy
from .federated import share_data, run_fedavg_on_workers
from .aggregators import (RoundUpdates, mean_aggregator, dp_aggregator, median_aggregator, trimmed_mean_aggregator,
                          krum_aggregator, multi_krum_aggregator, secure_aggregator, with_attackers)
# --- end data and simulation ---

# --- secure aggregation, differential privacy, robust aggregation (issue 5) ---
from .fixed_point import FixedPoint
from .flat import flatten_params, unflatten_params
from .secret_sharing import random_ring, share_tensors, add_shares, reconstruct_tensors, shared_average
from .shamir import PRIME as SHAMIR_PRIME, shamir_split, shamir_combine
from .prg import expand_seed, derive_seed
from .quantize import Quantizer
from .bitpack import pack_bits, unpack_bits
from .secagg import (DropoutError, SecAggConfig, SecAggClient, SecAggServer, SecAggResult, ClientReport,
                     secure_aggregate, secagg_bytes_per_client)
from .dp import global_norm, clip_update, dp_noise_std, dp_aggregate, poisson_sample_clients, dp_epsilon
from .robust import coordinate_median, trimmed_mean, krum_scores, krum, multi_krum, scale_attack, sign_flip_attack
from .shared_averaging import secret_shared_average
# --- end secure aggregation ---
