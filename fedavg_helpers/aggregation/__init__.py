"""How a server combines a round's updates: plain mean, differential privacy, robust rules, and attackers.

rules.py (the simulator's aggregators, FedAvgConfig(aggregator=...)), dp.py (clipping, noise and the
accountant), distributed_dp.py (noise shares the clients add before secure aggregation), robust.py (median,
trimmed mean, Krum, and the attacks they resist).
"""
from .rules import (RoundUpdates, mean_aggregator, dp_aggregator, median_aggregator, trimmed_mean_aggregator,
                    krum_aggregator, multi_krum_aggregator, secure_aggregator, distributed_dp_aggregator,
                    with_attackers)
from .dp import global_norm, clip_update, dp_noise_std, dp_aggregate, dp_epsilon
from .distributed_dp import DistributedDP
from .robust import coordinate_median, trimmed_mean, krum_scores, krum, multi_krum, scale_attack, sign_flip_attack
