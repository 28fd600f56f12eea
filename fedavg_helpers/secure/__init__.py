"""Secure aggregation without a trusted worker: fixed point, secret sharing, Shamir, pairwise masks.

fixed_point.py (reals in the ring of int64), quantize.py (b-bit levels for a ring sized to the sum),
secret_sharing.py (additive shares), shared_averaging.py (averaging models by sharing them among the
data owners' workers), shamir.py (t-of-n shares), prg.py (masks from seeds), bitpack.py (k-bit
elements on the wire), secagg.py (Bonawitz et al.'s protocol with dropouts).
"""
from .fixed_point import FixedPoint
from .quantize import Quantizer
from .secret_sharing import random_ring, share_tensors, add_shares, reconstruct_tensors, shared_average
from .shared_averaging import secret_shared_average
from .shamir import PRIME as SHAMIR_PRIME, shamir_split, shamir_combine
from .prg import expand_seed, derive_seed
from .bitpack import pack_bits, unpack_bits
from .secagg import (DropoutError, SecAggConfig, SecAggClient, SecAggServer, SecAggResult, ClientReport,
                     secure_aggregate, secagg_bytes_per_client)
