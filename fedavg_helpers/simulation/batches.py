"""Every picked client's shuffled local batches for one round, drawn at once: bit for bit what local_batches gives.

local_batches(n, B, E, generator) cuts E calls of torch.randperm(n, generator=generator) into batches. A
round of 1000 clients would make 5000 such calls, whose Python overhead costs as much as the training itself.
torch.randperm(n) is the Fisher-Yates shuffle reading one 32-bit Mersenne Twister output per position (it
swaps position i with i + w % (n - i), for i = 0 .. n - 2), so here all the round's outputs are read from the
generator in one go, and every permutation takes its swap at position i in the same pass. The generator ends
where the calls would leave it, so a run is replayed exactly as before. Should a torch version shuffle
differently, a one-time check notices and the calls are made one by one; tests compare with torch.randperm.
"""
import functools
from collections.abc import Sequence

import torch

from .._checks import check_int

# One pass over a position of every permutation costs about as much as this many torch.randperm calls, so
# fewer permutations than this many times their length are shuffled by calling torch.randperm itself.
_CALLS_PER_PASS = 4


def _next_words(generator: torch.Generator, count: int) -> torch.Tensor:
    """The next `count` 32-bit outputs of `generator` as int64, advancing it past exactly those `count` outputs."""
    ahead = torch.Generator()
    ahead.set_state(generator.get_state())
    # random_ over the whole int64 range packs two consecutive outputs into one number: (first << 32) | second
    pairs = torch.empty((count + 1) // 2, dtype=torch.int64).random_(-2 ** 63, None, generator=ahead)
    words = torch.stack([(pairs >> 32) & 0xFFFFFFFF, pairs & 0xFFFFFFFF], dim=1).reshape(-1)[:count]
    torch.empty(count, dtype=torch.float32).uniform_(generator=generator)  # reads one output per number
    return words


def _one_call_each(lengths: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The rows of _randperms, made by calling torch.randperm once per row."""
    rows, width = len(lengths), int(lengths.max()) if len(lengths) else 0
    perms = torch.arange(width).expand(rows, width).clone()
    if rows:
        real = torch.arange(width) < lengths.unsqueeze(1)
        perms.masked_scatter_(real, torch.cat([torch.randperm(n, generator=generator) for n in lengths.tolist()]))
    return perms


def _position_by_position(lengths: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The rows of _randperms, made by replaying torch.randperm's swaps: position 0 of every row at once, then 1, ..."""
    rows, width = len(lengths), int(lengths.max()) if len(lengths) else 0
    perms = torch.arange(width).expand(rows, width).clone()
    draws = (lengths - 1).clamp(min=0)  # randperm(n) reads n - 1 outputs, one for each of positions 0 .. n - 2
    words = _next_words(generator, int(draws.sum()))
    row = torch.repeat_interleave(torch.arange(rows), draws)  # for every output: the permutation it shuffles,
    col = torch.arange(len(words)) - (draws.cumsum(0) - draws)[row]  # the position it fills,
    partner = col + words % (lengths[row] - col)  # and the position swapped into it, partner >= col
    by_position = torch.argsort(col, stable=True)
    here, there = (row * width + col)[by_position], (row * width + partner)[by_position]
    flat = perms.view(-1)
    counts = torch.bincount(col, minlength=max(width - 1, 0)).tolist()
    for i, j in zip(here.split(counts), there.split(counts)):
        a, b = flat.index_select(0, i), flat.index_select(0, j)
        flat.index_copy_(0, i, b)
        flat.index_copy_(0, j, a)  # last, so a swap with itself (i == j) leaves the value in place
    return perms


@functools.cache
def _replays_randperm() -> bool:
    """True if this torch's randperm is the shuffle _position_by_position replays; checked once, on a small case."""
    lengths = torch.tensor([5, 1, 2, 9] * 3)
    replayed, called = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    return (torch.equal(_position_by_position(lengths, replayed), _one_call_each(lengths, called))
            and torch.equal(replayed.get_state(), called.get_state()))


def _randperms(lengths: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Row r is torch.randperm(lengths[r], generator=generator), the calls made in turn; short rows end n, n+1, ..."""
    width = int(lengths.max()) if len(lengths) else 0
    if len(lengths) < _CALLS_PER_PASS * width or not _replays_randperm():
        return _one_call_each(lengths, generator)  # a few long permutations: one call each beats a pass per position
    return _position_by_position(lengths, generator)


class LocalBatches(Sequence):
    """The local batches of a round's picked clients, as RoundPlan.batches: item i is client i's list of index tensors.

    Stored as one tensor of shuffles and cut into lists only when an item is read, so planning a round of many
    clients costs a few tensor operations; item i equals local_batches(n_i, B, E, generator) drawn in turn.
    """

    def __init__(self, sizes, batch_size: int | None, epochs: int, generator: torch.Generator):
        sizes = torch.as_tensor(sizes)
        if sizes.dim() != 1 or sizes.is_floating_point() or sizes.dtype == torch.bool:
            raise TypeError(f"sizes must be a 1-D integer tensor or list (n_i for every client), got dtype "
                            f"{sizes.dtype} and shape {tuple(sizes.shape)}")
        if len(sizes) and sizes.min() < 1:
            raise ValueError(f"Invalid client size: {int(sizes.min())}; every client needs at least one sample")
        if batch_size is not None:
            check_int("batch_size", batch_size, minimum=0)
        check_int("epochs", epochs, minimum=1)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, e.g. torch.Generator().manual_seed(0), "
                            f"got {type(generator).__name__}")
        self.sizes = sizes.long()  # (m,): n_i, each client's number of samples
        self.epochs = int(epochs)  # E
        # B = None or 0 means one batch of all local data, as in local_batches
        self.batch_sizes = self.sizes.clamp(max=batch_size) if batch_size else self.sizes.clone()  # (m,): min(B, n_i)
        # (m, E, max n_i): client i's epoch e visits its samples in the order shuffles[i, e, :n_i]
        shuffles = _randperms(self.sizes.repeat_interleave(self.epochs), generator)
        self.shuffles = shuffles.view(len(self.sizes), self.epochs, shuffles.shape[1])

    @property
    def steps(self) -> torch.Tensor:
        """(m,) int64: each client's number of local steps, E * ceil(n_i / B)."""
        return self.epochs * ((self.sizes + self.batch_sizes - 1) // self.batch_sizes)

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(len(self))[i]]
        n, size = int(self.sizes[i]), int(self.batch_sizes[i])
        return [batch for shuffle in self.shuffles[i] for batch in shuffle[:n].split(size)]

    def __repr__(self) -> str:
        return f"LocalBatches({len(self)} clients, {self.epochs} epochs)"
