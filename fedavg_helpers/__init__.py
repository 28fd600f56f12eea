"""fedavg_helpers: virtual workers, pointers and secure averaging for teaching federated learning.

The whole public API is here, as fh.<name>; the subpackages group it by concern:
  core/         workers, pointers, the privacy policy, averaging on a trusted worker
  simulation/   the many-client simulator (it never uses workers or pointers)
  secure/       secure aggregation without a trusted worker
  aggregation/  how a server combines updates: mean, differential privacy, robust rules
  attacks/      what an update gives away: images read back from updates and from a crafted model's sum
  federated.py  the simulator's rounds run through named workers and pointers
"""
from .core import (LocationError, PointerError, PrivacyError, WorkerError, WorkerLost, WorkerTimeout, spawn_workers,
                   ProcessConfig, RemoteWorker, RemotePointer, PrivacyPolicy, get_policy, set_policy,
                   VirtualWorker, get_worker, Pointer, send, remote, secure_average, average_losses, draw_workers,
                   draw_round, worker_colour)
from .simulation import (Digits, load_digits_split, split_iid, split_shards, split_dirichlet, label_counts, mlp,
                         poisson_sample_clients, local_batches, client_update, weighted_average, evaluate,
                         LocalBatches, FedAvgConfig, CentralConfig, History, RoundPlan, plan_round, fedavg_round,
                         run_fedavg, train_central, flatten_params, unflatten_params, plot_label_distribution,
                         plot_accuracy)
from .secure import (FixedPoint, Quantizer, random_ring, share_tensors, add_shares, reconstruct_tensors,
                     shared_average, secret_shared_average, SHAMIR_PRIME, shamir_split, shamir_combine, expand_seed,
                     derive_seed, pack_bits, unpack_bits, DropoutError, SecAggConfig, SecAggClient, SecAggServer,
                     SecAggResult, ClientReport, secure_aggregate, secagg_bytes_per_client)
from .aggregation import (RoundUpdates, mean_aggregator, dp_aggregator, median_aggregator, trimmed_mean_aggregator,
                          krum_aggregator, multi_krum_aggregator, secure_aggregator, distributed_dp_aggregator,
                          with_attackers, global_norm, clip_update, dp_noise_std, dp_aggregate, dp_epsilon,
                          DistributedDP, coordinate_median, trimmed_mean, krum_scores, krum, multi_krum, scale_attack,
                          sign_flip_attack)
from .attacks import Reconstruction, psnr, row_attack, lone_neurons, craft_model, read_back
from .federated import share_data, run_fedavg_on_workers
