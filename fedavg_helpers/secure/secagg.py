"""Secure aggregation with pairwise masks that survives dropouts (Bonawitz et al. 2017, CCS, "Practical Secure
Aggregation for Privacy-Preserving Machine Learning"), simulated for n clients in one process.

The server learns the sum of the clients' vectors and nothing else. Client u sends

    y_u = x_u + PRG(b_u) + sum over other clients v of D_uv * PRG(s_uv)        (in the ring Z_(2**64))

where x_u is its fixed-point encoded vector, s_uv is a seed that u and v agree on by X25519 key agreement
(v computes the same s_vu = s_uv), D_uv = +1 if u < v else -1, and b_u is a private "self-mask" seed.
The pairwise masks cancel in the sum; the server removes the self-masks with the b_u it rebuilds.

Rounds (the paper's names; client ids are 0..n-1, and id + 1 is a client's Shamir x-coordinate):
  0 AdvertiseKeys: each client makes two key pairs, c (to encrypt shares) and s (to agree mask seeds),
    and sends both public keys. U_1 = clients heard from.
  1 ShareKeys: each client draws b_u, splits s_u^SK and b_u t-of-n with Shamir (1979) and sends every
    peer its two shares, encrypted (AES-GCM) under a key agreed from the c keys, so the server, which
    relays them, cannot read them. U_2 = clients heard from.
  2 MaskedInputCollection: each client sends y_u, masked with every peer in U_2. U_3 = clients heard from.
  3 ConsistencyCheck: only needed against an actively malicious server; skipped (see below).
  4 Unmasking: the server sends U_3. Every responder returns, for each v in U_2, its share of s_v^SK if v
    dropped (v in U_2 but not U_3) and its share of b_v if v survived, never both. From t responses the
    server rebuilds the dropped clients' keys (recomputing the masks they shared with survivors, which
    do not cancel) and the survivors' b_u, and subtracts all of it: what remains is the sum over U_3.
If fewer than `threshold` clients answer at any round the protocol stops with DropoutError: t shares
are needed to rebuild a secret, and the paper never lets the server sum fewer than t inputs.

Two rings. With a `FixedPoint` encoder (the default, for teaching) inputs are signed fixed-point numbers in
Z_(2**64), so every masked entry costs 8 bytes: twice a float32. With a `Quantizer(bits=b)` (as in the paper)
each client clips its entries to the agreed [-max_abs, max_abs] and rounds them stochastically to b-bit
levels (unbiased); the sum of n levels fits Z_(2**k) exactly with k = b + ceil(log2 n), so masks and sums
live in that ring and a masked vector travels packed, k bits per entry (bitpack.py): at b = 16 and 100
clients, 23 bits, under three quarters of a float32. The PRG's words are reduced to k bits by keeping the
low k bits, which is unbiased because 2**k divides the word size (prg.py). The decoded sum is exact for the
levels and within n steps of the clipped inputs' sum (quantize.py); entries that were clipped are counted.

Distributed differential privacy (dp=fh.DistributedDP(S, z), aggregation/distributed_dp.py): before encoding and
masking, each client clips its vector to L2 norm S and adds its own share of Gaussian noise, sized so that any
t survivors carry the full noise; the server only ever unmasks a noisy sum.

Threat model (the paper's honest-but-curious setting): the server follows the protocol but reads
everything it receives (`SecAggServer.transcript`); fewer than t clients may collude with it. Not
simulated: authenticated channels, the signatures and consistency round that the paper adds against
a server that lies about who dropped (it then recommends t > 2n/3), and network transport.
"""

import random
import secrets
import time
import warnings
from dataclasses import dataclass, field

import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .bitpack import pack_bits, packed_size, unpack_bits
from .fixed_point import FixedPoint
from .prg import add_expanded_, derive_seed
from .quantize import MAX_RING_BITS, Quantizer
from .shamir import SHARE_BYTES, shamir_combine, shamir_split

KEY_BYTES = 32  # raw X25519 public key, private key and self-mask seed
ID_BYTES = 4  # a client id on the wire
_TAG_BYTES = 16  # AES-GCM authentication tag
CIPHERTEXT_BYTES = 2 * SHARE_BYTES + _TAG_BYTES  # one encrypted (s share, b share) pair
_MASK_PURPOSE = b"fedavg-helpers secagg pairwise mask"
_ENCRYPT_PURPOSE = b"fedavg-helpers secagg share encryption"


class DropoutError(RuntimeError):
    """Too few clients answered a round for the server to unmask the sum: the round must be aborted."""


@dataclass(frozen=True)
class SecAggConfig:
    """Public parameters every party agrees on before round 0.

    A server that lies about who dropped out (telling t clients "u dropped" and t others "u survived") learns
    u's input when 2t <= n: the paper's consistency round, which stops it, is not built. Choose 2t > n against
    such a server; then it would need some client to answer the unmasking round twice, which clients refuse.
    """

    n_clients: int
    threshold: int  # t: shares needed to rebuild a secret; up to n_clients - t clients may drop out
    vector_size: int
    max_abs: float = 1.0  # public bound on every entry: FixedPoint clients refuse larger values, Quantizer ones clip
    encoder: FixedPoint | Quantizer = field(default_factory=FixedPoint)
    dp: object | None = None  # a fh.DistributedDP: clients clip and add noise shares before masking

    def __post_init__(self):
        for name in ("n_clients", "vector_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (2 if name == "n_clients" else 1):
                raise ValueError(f"Invalid {name}: {value!r}; use an int >= {2 if name == 'n_clients' else 1}")
        t, n = self.threshold, self.n_clients
        if isinstance(t, bool) or not isinstance(t, int) or not 2 <= t <= n:
            raise ValueError(f"Invalid threshold: {t!r}; use an int with 2 <= threshold <= n_clients = {n} "
                             "(threshold 1 would let any single client rebuild a peer's keys from its own share)")
        if not isinstance(self.encoder, (FixedPoint, Quantizer)):
            raise TypeError(f"encoder must be a FixedPoint (64-bit ring) or a Quantizer (ring sized to the sum), "
                            f"got {type(self.encoder).__name__}")
        if self.dp is not None and not (callable(getattr(self.dp, "privatise", None))
                                        and callable(getattr(self.dp, "check", None))):
            raise TypeError(f"dp must be a fh.DistributedDP(max_norm, noise_multiplier) or None, got "
                            f"{type(self.dp).__name__}")
        if isinstance(self.encoder, FixedPoint):
            # The unmasked sum is only right if the plain sum fits the ring: refuse up front.
            self.encoder.check_sum_fits(n, self.max_abs)
        else:
            self.encoder.step(self.max_abs)  # validates the range
            k = self.ring_bits
            if k > MAX_RING_BITS:
                b = self.encoder.bits
                raise ValueError(f"a Quantizer(bits={b}) sum of {n} clients needs a ring of k = {b} + ceil(log2 {n}) "
                                 f"= {k} bits, more than the {MAX_RING_BITS} a float64 decodes exactly; use bits <= "
                                 f"{MAX_RING_BITS - (k - b)} or fewer clients")
        if self.dp is not None:  # the noisy values fit the range, and rounding them keeps the guarantee
            self.dp.check(n, t, self.vector_size, self.max_abs, self.encoder)

    @property
    def ring_bits(self) -> int:
        """k: masks and sums live in Z_(2**k); 64 for FixedPoint, bits + ceil(log2 n_clients) for a Quantizer."""
        return 64 if isinstance(self.encoder, FixedPoint) else self.encoder.ring_bits(self.n_clients)

    @property
    def masked_bytes(self) -> int:
        """Bytes of one masked input on the wire: k bits per entry, packed."""
        return packed_size(self.ring_bits, self.vector_size) if self.ring_bits < 64 else 8 * self.vector_size

    @property
    def _dtype(self) -> torch.dtype:
        # ring arithmetic wraps modulo 2**32 or 2**64, and 2**k divides both: reduce to k bits at the end
        return torch.int32 if self.ring_bits <= 32 else torch.int64


@dataclass
class Message:
    """One message the server received: the round, who sent it, what it is, its size on the wire and its content."""

    round: int
    sender: int
    kind: str
    n_bytes: int
    payload: object
    recipient: int | None = None  # set for encrypted shares, which the server only relays


class SecAggClient:
    """One client's side: it holds its own keys, seeds and the shares peers sent it, never a peer's secret."""

    def __init__(self, cid: int, config: SecAggConfig, *, rng=None):
        if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid < config.n_clients:
            raise ValueError(f"Invalid client id: {cid!r}; use an int with 0 <= id < n_clients = {config.n_clients}")
        self.cid, self.config = cid, config
        # rng supplies keys, seeds and Shamir coefficients: the OS's cryptographic generator unless a
        # seeded random.Random is passed to make a lesson reproducible (never for real data).
        self._rng = secrets.SystemRandom() if rng is None else rng
        self.bytes_sent = 0
        self.bytes_received = 0
        self.clipped = 0  # entries of its input beyond the agreed range, clipped (Quantizer) before masking
        self._round = 0

    def advertise_keys(self) -> tuple[bytes, bytes]:
        """Round 0: make the c (encryption) and s (masking) key pairs; return the two public keys."""
        self._expect(0)
        self._c_key = X25519PrivateKey.from_private_bytes(self._rng.randbytes(KEY_BYTES))
        self._s_key = X25519PrivateKey.from_private_bytes(self._rng.randbytes(KEY_BYTES))
        public = (self._c_key.public_key().public_bytes_raw(), self._s_key.public_key().public_bytes_raw())
        self.bytes_sent += 2 * KEY_BYTES
        self._round = 1
        return public

    def share_keys(self, public_keys: dict) -> dict[int, bytes]:
        """Round 1: Shamir-share s_u^SK and a fresh self-mask seed b_u; return one ciphertext per peer."""
        self._expect(1)
        _check_public_keys(public_keys, self.config)
        if self.cid not in public_keys:
            raise ValueError(f"client {self.cid} is missing from the key list it was sent; "
                             "the server must include every U_1 client")
        self._public_keys = dict(public_keys)
        self.bytes_received += len(public_keys) * (ID_BYTES + 2 * KEY_BYTES)
        self._b_seed = self._rng.randbytes(KEY_BYTES)
        t, n = self.config.threshold, self.config.n_clients
        s_shares = shamir_split(int.from_bytes(self._s_key.private_bytes_raw(), "big"), t, n, rng=self._rng)
        b_shares = shamir_split(int.from_bytes(self._b_seed, "big"), t, n, rng=self._rng)
        self._own_shares = (s_shares[self.cid][1], b_shares[self.cid][1])
        ciphertexts = {}
        for v in sorted(public_keys):
            if v != self.cid:
                plaintext = _to_bytes(s_shares[v][1]) + _to_bytes(b_shares[v][1])
                ciphertexts[v] = self._cipher(v).encrypt(_nonce(self.cid), plaintext, _header(self.cid, v))
        self.bytes_sent += len(ciphertexts) * (ID_BYTES + CIPHERTEXT_BYTES)
        self._round = 2
        return ciphertexts

    def masked_input(self, x: torch.Tensor, ciphertexts: dict) -> torch.Tensor:
        """Round 2: keep the ciphertexts peers sent (their senders form U_2); return y_u, the masked encoding of x."""
        self._expect(2)
        _check_vector(x, self.config, f"client {self.cid}'s input")
        if not isinstance(ciphertexts, dict) or not set(ciphertexts) <= set(self._public_keys) - {self.cid}:
            raise ValueError(f"ciphertexts for client {self.cid} must be a dict keyed by peers of round 0; got keys "
                             f"{sorted(ciphertexts) if isinstance(ciphertexts, dict) else type(ciphertexts).__name__}")
        if len(ciphertexts) + 1 < self.config.threshold:
            raise DropoutError(f"only {len(ciphertexts) + 1} clients shared keys, fewer than threshold t = "
                               f"{self.config.threshold}; client {self.cid} will not send a masked input")
        config = self.config
        clamped = 0
        if config.dp is not None:  # clip and add this client's noise share before anything is encoded or masked
            noise = torch.Generator().manual_seed(self._rng.getrandbits(63))
            x, clamped = config.dp.privatise(x, config.threshold, noise)
        if isinstance(config.encoder, FixedPoint):
            y, clipped = config.encoder.encode(x, config.max_abs), 0  # refuses |x| > max_abs before any state changes
        else:  # the rounding noise is the client's own: from its generator, never the server's
            rounding = torch.Generator().manual_seed(self._rng.getrandbits(63))
            levels, clipped = config.encoder.encode(x, config.max_abs, rounding)
            y = _to_ring(levels, config._dtype)
        self._round = 3
        self._inbox = dict(ciphertexts)
        self.clipped = clipped + clamped
        self.bytes_received += len(ciphertexts) * (ID_BYTES + CIPHERTEXT_BYTES)
        add_expanded_(y, self._b_seed)
        for v in sorted(ciphertexts):
            # D_uv = +1 for u < v and -1 for u > v, so each pair's two masks cancel in the sum
            add_expanded_(y, self._mask_seed(self._s_key, self._public_keys[v][1]), 1 if self.cid < v else -1)
        self.bytes_sent += config.masked_bytes
        return y if config.ring_bits == 64 else pack_bits(_reduce(y, config.ring_bits), config.ring_bits)

    def unmask(self, survivors) -> dict[int, int]:
        """Round 4: for each U_2 client, return its s-key share if it dropped, its b share if it survived; once only."""
        if self._round != 3:
            raise RuntimeError(f"client {self.cid} cannot unmask now: it answers round 4 once, after sending its "
                               "masked input (a second request could make it reveal both shares of one client)")
        survivors = set(survivors)
        group = set(self._inbox) | {self.cid}
        if not survivors <= group:
            raise ValueError(f"survivors {sorted(survivors - group)} never shared keys with client {self.cid}; "
                             f"the survivor list must be a subset of U_2 = {sorted(group)}")
        if self.cid not in survivors:
            raise ValueError(f"client {self.cid} is not in the survivor list: a client counted as dropped must not "
                             "help unmask, or the server could rebuild its keys and still hold its masked input")
        if len(survivors) < self.config.threshold:
            raise DropoutError(f"only {len(survivors)} clients survived, fewer than threshold "
                               f"t = {self.config.threshold}; client {self.cid} refuses to unmask so few inputs")
        response = {}
        for v in sorted(group):  # decrypting can fail (a tampered ciphertext): do it before any state changes
            s_share, b_share = self._own_shares if v == self.cid else self._open(v)
            response[v] = b_share if v in survivors else s_share
        self._round = 4
        self.bytes_received += ID_BYTES * len(survivors)
        self.bytes_sent += len(response) * (ID_BYTES + SHARE_BYTES)
        return response

    def _open(self, v):
        try:
            plaintext = self._cipher(v).decrypt(_nonce(v), self._inbox[v], _header(v, self.cid))
        except InvalidTag:
            raise InvalidTag(f"the encrypted shares client {v} sent to client {self.cid} fail authentication "
                             "(AES-GCM tag): they were altered on the way, e.g. by the server that relayed them, or "
                             f"were not made for client {self.cid}; it answers nothing, so abort this round") from None
        return int.from_bytes(plaintext[:SHARE_BYTES], "big"), int.from_bytes(plaintext[SHARE_BYTES:], "big")

    def _cipher(self, v):
        their_c = X25519PublicKey.from_public_bytes(self._public_keys[v][0])
        return AESGCM(derive_seed(self._c_key.exchange(their_c), _ENCRYPT_PURPOSE))

    @staticmethod
    def _mask_seed(private_key, their_public: bytes) -> bytes:
        return derive_seed(private_key.exchange(X25519PublicKey.from_public_bytes(their_public)), _MASK_PURPOSE)

    def _expect(self, expected):
        if self._round != expected:
            raise RuntimeError(f"client {self.cid} is ready for round {self._round}, not {expected}; call "
                               "advertise_keys, share_keys, masked_input, unmask once each, in that order")


class SecAggServer:
    """The aggregator: relays messages, learns the survivors' sum, and records everything it receives."""

    def __init__(self, config: SecAggConfig):
        if not isinstance(config, SecAggConfig):
            raise TypeError(f"config must be a SecAggConfig, got {type(config).__name__}")
        self.config = config
        self.transcript: list[Message] = []  # every message received, in order: what an honest-but-curious server sees
        self.masked_inputs: dict[int, torch.Tensor] = {}
        self._round = 0

    def collect_public_keys(self, public_keys: dict) -> dict:
        """Round 0: record the public keys (U_1) and return the list broadcast to every client."""
        self._expect(0)
        _check_public_keys(public_keys, self.config)
        self._require(len(public_keys), "sent public keys", 0)
        for u in sorted(public_keys):
            self.transcript.append(Message(0, u, "public keys", 2 * KEY_BYTES, public_keys[u]))
        self.public_keys = dict(public_keys)
        self._round = 1
        return dict(self.public_keys)

    def route_shares(self, ciphertexts: dict) -> dict[int, dict[int, bytes]]:
        """Round 1: record the encrypted shares (senders form U_2) and return each U_2 client's inbox."""
        self._expect(1)
        for u, outbox in ciphertexts.items():
            if u not in self.public_keys or not isinstance(outbox, dict):
                raise ValueError(f"client {u!r} sent shares but is not in U_1 = {sorted(self.public_keys)}, or its "
                                 "shares are not a dict {peer id: ciphertext}")
        self._require(len(ciphertexts), "shared their keys", 1)
        self.group = sorted(ciphertexts)  # U_2
        inboxes = {v: {} for v in self.group}
        for u in self.group:
            for v, ciphertext in ciphertexts[u].items():
                self.transcript.append(Message(1, u, "encrypted shares", ID_BYTES + len(ciphertext), ciphertext, v))
                if v in inboxes:  # shares for clients that dropped before round 1 go nowhere
                    inboxes[v][u] = ciphertext
        self._round = 2
        return inboxes

    def collect_masked_inputs(self, masked: dict) -> list[int]:
        """Round 2: record each y_u, keep their ring sum, and return the survivors U_3 to send to every client."""
        self._expect(2)
        config, size = self.config, self.config.vector_size
        for u, y in masked.items():
            if u not in self.group:
                raise ValueError(f"client {u!r} sent a masked input but is not in U_2 = {self.group}")
            if config.ring_bits == 64:
                if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (size,):
                    raise ValueError(f"client {u}'s masked input must be an int64 vector of {size} ring elements "
                                     "(what SecAggClient.masked_input returns)")
            elif not isinstance(y, bytes) or len(y) != config.masked_bytes:
                got = f"{len(y)} bytes" if isinstance(y, bytes) else type(y).__name__
                raise ValueError(f"client {u}'s masked input must be {config.masked_bytes} bytes ({size} entries of "
                                 f"{config.ring_bits} bits, packed: what SecAggClient.masked_input returns), got {got}")
        self._require(len(masked), "sent masked inputs", 2)
        self.survivors = sorted(masked)  # U_3
        # int64 holds the plain sum of n values below 2**k <= 2**53, and wraps modulo 2**64 for k = 64
        self.masked_sum = torch.zeros(size, dtype=torch.int64)
        for u in self.survivors:
            self.transcript.append(Message(2, u, "masked input", config.masked_bytes, masked[u]))
            values = masked[u] if config.ring_bits == 64 else unpack_bits(masked[u], config.ring_bits, size)
            self.masked_inputs[u] = values
            self.masked_sum += values
        self._round = 4
        return list(self.survivors)

    def unmask(self, responses: dict) -> torch.Tensor:
        """Round 4: rebuild dropped clients' s keys and survivors' b seeds from t responses; return U_3's ring sum."""
        self._expect(4)
        for w, response in responses.items():
            if w not in self.survivors:
                raise ValueError(f"client {w!r} answered the unmasking round but is not a survivor {self.survivors}")
            if not isinstance(response, dict) or set(response) != set(self.group):
                raise ValueError(f"client {w}'s unmasking response must hold one share per U_2 client {self.group}")
        self._require(len(responses), "answered the unmasking round", 4)
        responders = sorted(responses)
        for w in responders:
            n_bytes = len(responses[w]) * (ID_BYTES + SHARE_BYTES)
            self.transcript.append(Message(4, w, "shares for unmasking", n_bytes, responses[w]))
        total = _to_ring(self.masked_sum, self.config._dtype)  # a copy, in the ring the masks were added in
        for u in self.survivors:  # remove the survivors' self-masks
            add_expanded_(total, self._rebuild(u, responses, responders), -1)
        for v in sorted(set(self.group) - set(self.survivors)):  # masks shared with dropped clients did not cancel
            s_key = X25519PrivateKey.from_private_bytes(self._rebuild(v, responses, responders))
            if s_key.public_key().public_bytes_raw() != self.public_keys[v][1]:
                raise ValueError(f"the rebuilt key of dropped client {v} does not match its public key: "
                                 "some shares were wrong")
            for u in self.survivors:  # survivor u added D_uv * mask, with D_uv = +1 if u < v: take it away
                add_expanded_(total, SecAggClient._mask_seed(s_key, self.public_keys[u][1]), -1 if u < v else 1)
        self.ring_sum = total if self.config.ring_bits == 64 else _reduce(total, self.config.ring_bits)
        self._round = 5
        return self.ring_sum

    def _rebuild(self, v, responses, responders) -> bytes:
        secret = shamir_combine([(w + 1, responses[w][v]) for w in responders], self.config.threshold)
        if secret >= 2 ** (8 * KEY_BYTES):
            raise ValueError(f"the secret rebuilt for client {v} is not a {KEY_BYTES}-byte value: "
                             "some shares were wrong")
        return secret.to_bytes(KEY_BYTES, "big")

    def _expect(self, expected):
        if self._round != expected:
            raise RuntimeError(f"the server is ready for round {self._round}, not {expected}; call "
                               "collect_public_keys, route_shares, collect_masked_inputs, unmask once each, in order")

    def _require(self, count, what, round_):
        if count < self.config.threshold:
            raise DropoutError(f"round {round_}: only {count} of {self.config.n_clients} clients {what}, fewer than "
                               f"threshold t = {self.config.threshold}; the sum cannot be unmasked (t shares rebuild a "
                               "secret), so abort this round and retry with more clients or a lower threshold")


@dataclass(frozen=True)
class ClientReport:
    """What a teacher may show of one client after a run: its traffic, time, clipping and when it dropped out."""

    cid: int
    dropped_before: str | None  # "sharing", "masking", "unmasking", or None for a client that stayed
    bytes_sent: int
    bytes_received: int
    seconds: float  # time spent in its own rounds
    clipped: int  # entries beyond the agreed range that it clipped (Quantizer only)


@dataclass
class SecAggResult:
    """What a simulated run returns: the decoded sum over survivors, the ring sum, the server's view, and reports.

    The clients themselves stay inside secure_aggregate: their private keys, seeds and shares never leave it.
    `server` is everything the server received (its transcript); `clients` are public reports (ClientReport).
    """

    total: torch.Tensor
    ring_sum: torch.Tensor
    survivors: list
    server: SecAggServer
    clients: list
    server_seconds: float = 0.0
    dp: object | None = None  # the fh.DistributedDP the clients applied, if any
    threshold: int | None = None

    @property
    def noise_std(self) -> float:
        """Std of the Gaussian noise per entry of `total` (0 without dp): the survivors' shares together."""
        return 0.0 if self.dp is None else self.dp.noise_std(len(self.survivors), self.threshold)

    def epsilon(self, delta: float) -> float:
        """Epsilon of this one release for any one client at delta, for the claimed noise multiplier z (the sum
        carries z sqrt(m / t) >= z); inf without noise. See fh.DistributedDP for what it covers."""
        return float("inf") if self.dp is None else self.dp.epsilon(delta)

    @property
    def dropped(self) -> dict[int, str]:
        """{client id: the round it dropped out before} for every client that dropped."""
        return {c.cid: c.dropped_before for c in self.clients if c.dropped_before is not None}

    @property
    def clipped(self) -> int:
        """Entries clipped to the agreed range, over all clients."""
        return sum(c.clipped for c in self.clients)


def secure_aggregate(vectors, threshold: int, *, max_abs: float | None = None,
                     encoder: FixedPoint | Quantizer | None = None, drop_before_sharing=(), drop_before_masking=(),
                     drop_before_unmasking=(), seed: int | None = None, dp=None) -> SecAggResult:
    """Run every round for n simulated clients; the server learns only the sum of the surviving clients' vectors.

    encoder=None or a FixedPoint masks signed fixed-point numbers in Z_(2**64) and refuses |x| > max_abs;
    a Quantizer(bits) clips to [-max_abs, max_abs], quantises, and masks in a ring sized to the sum.
    max_abs=None means 1.0, or with dp the range the noisy values need.
    dp=fh.DistributedDP(S, z): each client clips its vector to norm S and adds its share of the noise before
    masking, so the sum of any t or more survivors carries N(0, (z S)^2) at least; result.epsilon(delta).
    """
    vectors = list(vectors)
    if len(vectors) < 2:
        raise ValueError(f"secure_aggregate needs at least 2 client vectors, got {len(vectors)}")
    for i, x in enumerate(vectors):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 1:
            got = f"a {x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"vectors[{i}] must be a 1-D float tensor, got {got}; "
                            "flatten a model with fh.flatten_params(...)")
    encoder = FixedPoint() if encoder is None else encoder
    if max_abs is None:
        max_abs = dp.value_range(threshold) if callable(getattr(dp, "value_range", None)) else 1.0
    config = SecAggConfig(len(vectors), threshold, vectors[0].numel(), max_abs, encoder, dp)
    for i, x in enumerate(vectors):
        _check_vector(x, config, f"vectors[{i}]")
    drops = [set(drop_before_sharing), set(drop_before_masking), set(drop_before_unmasking)]
    for group in drops:
        if not group <= set(range(len(vectors))):
            raise ValueError(f"dropout ids {sorted(group - set(range(len(vectors))), key=str)} are not client ids "
                             f"0..{len(vectors) - 1}")
    if sum(map(len, drops)) != len(set().union(*drops)):
        raise ValueError("a client can drop out only once: the three drop_before_* sets must not overlap")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    # A seed makes every key, mask and rounding reproducible for a lesson; without one they come from the OS.
    master = random.Random(seed) if seed is not None else None
    clients = [SecAggClient(i, config, rng=None if master is None else random.Random(master.getrandbits(128)))
               for i in range(len(vectors))]
    server = SecAggServer(config)
    seconds = [0.0] * (len(vectors) + 1)  # per client, and the server last

    def timed(who, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        seconds[who] += time.perf_counter() - start
        return out

    keys = timed(-1, server.collect_public_keys, {c.cid: timed(c.cid, c.advertise_keys) for c in clients})
    inboxes = timed(-1, server.route_shares,
                    {c.cid: timed(c.cid, c.share_keys, keys) for c in clients if c.cid not in drops[0]})
    masked = {u: timed(u, clients[u].masked_input, vectors[u], inboxes[u]) for u in inboxes if u not in drops[1]}
    survivors = timed(-1, server.collect_masked_inputs, masked)
    ring_sum = timed(-1, server.unmask,
                     {u: timed(u, clients[u].unmask, survivors) for u in survivors if u not in drops[2]})
    stage = {u: name for name, group in zip(("sharing", "masking", "unmasking"), drops) for u in group}
    reports = [ClientReport(c.cid, stage.get(c.cid), c.bytes_sent, c.bytes_received, seconds[c.cid], c.clipped)
               for c in clients]
    if any(r.clipped for r in reports):
        counts = ", ".join(f"client {r.cid}: {r.clipped}" for r in reports if r.clipped)
        warnings.warn(f"{sum(r.clipped for r in reports)} entries were beyond the agreed range [-{max_abs:g}, "
                      f"{max_abs:g}] and were clipped to it ({counts}); the sum counts them at the range's edge. "
                      "Raise max_abs, or scale the inputs down", RuntimeWarning, stacklevel=2)
    if isinstance(config.encoder, FixedPoint):
        total = config.encoder.decode(ring_sum)
    else:
        total = config.encoder.decode_sum(ring_sum, len(survivors), config.max_abs)
    return SecAggResult(total, ring_sum, survivors, server, reports, seconds[-1], dp, threshold)


def secagg_bytes_per_client(n_clients: int, vector_size: int, n_dropped: int = 0, ring_bits: int = 64) -> dict:
    """Bytes one surviving client sends and receives in a run where n_dropped clients drop after sharing keys.

    ring_bits is k: 64 for FixedPoint, config.ring_bits (bits + ceil(log2 n)) for a Quantizer, packed on the wire.
    """
    if isinstance(ring_bits, bool) or not isinstance(ring_bits, int) or not (1 <= ring_bits <= MAX_RING_BITS
                                                                                or ring_bits == 64):
        raise ValueError(f"Invalid ring_bits: {ring_bits!r}; use 64 (FixedPoint) or the Quantizer's ring size "
                         f"1..{MAX_RING_BITS} (SecAggConfig.ring_bits)")
    masked = 8 * vector_size if ring_bits == 64 else packed_size(ring_bits, vector_size)
    sent = (2 * KEY_BYTES  # round 0: two public keys
            + (n_clients - 1) * (ID_BYTES + CIPHERTEXT_BYTES)  # round 1: encrypted shares for every peer
            + masked  # round 2: the masked vector, k bits per ring element
            + n_clients * (ID_BYTES + SHARE_BYTES))  # round 4: one share per U_2 client
    received = (n_clients * (ID_BYTES + 2 * KEY_BYTES)  # round 0: everyone's public keys
                + (n_clients - 1) * (ID_BYTES + CIPHERTEXT_BYTES)  # round 1: shares peers encrypted for it
                + ID_BYTES * (n_clients - n_dropped))  # round 4: the survivor list
    return {"sent": sent, "received": received}


def _check_public_keys(public_keys, config):
    if not isinstance(public_keys, dict):
        raise TypeError(f"public keys must be a dict {{client id: (c_pk, s_pk)}}, got {type(public_keys).__name__}")
    seen = set()
    for u, pair in public_keys.items():
        if isinstance(u, bool) or not isinstance(u, int) or not 0 <= u < config.n_clients:
            raise ValueError(f"Invalid client id in the key list: {u!r}; ids are 0..{config.n_clients - 1}")
        if not (isinstance(pair, tuple) and len(pair) == 2
                and all(isinstance(k, bytes) and len(k) == KEY_BYTES for k in pair)):
            raise ValueError(f"client {u}'s public keys must be a pair of {KEY_BYTES}-byte X25519 keys "
                             "(what advertise_keys returns)")
        if seen & set(pair) or pair[0] == pair[1]:
            raise ValueError(f"client {u} advertised a public key already in use; every key must be fresh "
                             "(the paper aborts here)")
        seen |= set(pair)


def _check_vector(x, config, name):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 1:
        got = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{name} must be a 1-D float tensor, got {got}; flatten a model with fh.flatten_params(...)")
    if x.numel() != config.vector_size:
        raise ValueError(f"{name} has {x.numel()} entries but the agreed vector_size is {config.vector_size}; "
                         "every client must send a vector of the same size")
    bad = ~torch.isfinite(x.detach())
    if bad.any():
        raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite entries (the first at index "
                         f"{int(bad.nonzero()[0])}); secure aggregation sums finite numbers only: fix that client's "
                         "update, or leave the client out")
    if isinstance(config.encoder, FixedPoint) and config.dp is None:  # with dp the client clips before encoding
        biggest = x.detach().abs().max() if x.numel() else None
        if biggest is not None and biggest.item() > config.max_abs:
            where = int(x.detach().abs().argmax())
            raise OverflowError(f"{name}: value {x[where].item()!r} (index {where}) exceeds the agreed bound |x| <= "
                                f"{config.max_abs!r}; clip the input (x.clamp(-max_abs, max_abs)) or agree on a larger "
                                "max_abs")


def _to_ring(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """int64 values as elements of `dtype`'s wrapping ring: for int32, the residue mod 2**32 in [-2**31, 2**31)."""
    if dtype == torch.int64:
        return values.clone()
    return (((values + 2**31) & 0xFFFFFFFF) - 2**31).to(torch.int32)


def _reduce(v: torch.Tensor, bits: int) -> torch.Tensor:
    """Ring elements (int32 or int64, wrapped) as int64 residues in [0, 2**bits)."""
    return v.to(torch.int64) & (2**bits - 1)


def _to_bytes(value: int) -> bytes:
    return value.to_bytes(SHARE_BYTES, "big")


def _nonce(sender: int) -> bytes:
    # Both directions of a pair share one AES key; the sender's id keeps their 12-byte nonces distinct,
    # and each sender encrypts exactly one message per peer and round.
    return sender.to_bytes(12, "big")


def _header(sender: int, recipient: int) -> bytes:
    return sender.to_bytes(ID_BYTES, "big") + recipient.to_bytes(ID_BYTES, "big")
