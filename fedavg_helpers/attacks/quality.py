"""How good a reconstruction is: PSNR on the digits' 0-16 ink scale, and how many originals came back.

An attack returns candidate images; the true images are used only to measure them. Every candidate is
drawn on the ink scale (standardised pixels * std + mean, see fh.Digits.to_pixels) and clamped to [0, 16],
the range every attacker knows, and compared with every original by the peak signal-to-noise ratio

    PSNR = 10 log10(16**2 / MSE)   (dB, MSE over the 64 pixels; inf for an exact copy).

30 dB is an RMS error of half an ink level (0.5 of 16): the digit, pixel for pixel. 20 dB is 1.6 levels:
still the same digit to the eye. A count of images "recovered" pairs originals and candidates one to one,
so that one candidate never counts for two originals.
"""
import math
from dataclasses import dataclass

import torch

from ..simulation.data import Digits

PEAK = 16.0  # the digits' brightest ink level: scikit-learn's 8x8 digits take values 0..16


def psnr(candidates: torch.Tensor, originals: torch.Tensor, peak: float = PEAK) -> torch.Tensor:
    """PSNR in dB of every candidate against every original, (k, m), for images on the 0..peak scale."""
    for name, images in (("candidates", candidates), ("originals", originals)):
        if not isinstance(images, torch.Tensor) or images.dim() != 2 or not images.is_floating_point():
            got = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"{name} must be a float tensor of images, one per row, got {got}")
    if candidates.shape[1] != originals.shape[1]:
        raise ValueError(f"candidates have {candidates.shape[1]} pixels but originals have {originals.shape[1]}; "
                         "compare images of one size")
    # distances computed directly, not through |a|^2 - 2ab + |b|^2, so an exact copy gives MSE 0 (inf dB)
    distance = torch.cdist(candidates.double(), originals.double(), compute_mode="donot_use_mm_for_euclid_dist")
    return 10 * torch.log10(peak**2 / (distance.pow(2) / candidates.shape[1]))


@dataclass(frozen=True)
class Reconstruction:
    """What an attack gives back: its candidate images and, measured against the true images, how good they are."""

    candidates: torch.Tensor  # (k, 64) standardised pixels, in the attack's own order (most trustworthy first)
    sources: torch.Tensor  # (k,) the first-layer row (or bin) each candidate was read from
    originals: torch.Tensor  # (m, 64) standardised: the true images, used only to measure
    candidate_pixels: torch.Tensor  # (k, 64) candidates on the 0-16 scale, clamped to it
    original_pixels: torch.Tensor  # (m, 64) originals on the 0-16 scale
    psnr: torch.Tensor  # (m,) dB: the best PSNR any candidate reaches against each original (-inf: no candidate)
    match: torch.Tensor  # (m,) the index of that candidate (-1: no candidate)

    def recovered(self, db: float = 30.0) -> int:
        """How many originals come back at PSNR >= db, each from its own candidate (a maximum one-to-one matching)."""
        if isinstance(db, bool) or not isinstance(db, (int, float)) or math.isnan(db):
            raise ValueError(f"Invalid db: {db!r}; use a PSNR threshold in dB such as 30.0")
        good = (psnr(self.candidate_pixels, self.original_pixels) >= db).T.tolist()  # originals x candidates
        return _maximum_matching(good)

    def best_psnr(self) -> float:
        """The highest PSNR any original reaches (dB)."""
        return float(self.psnr.max()) if len(self.psnr) else -math.inf


def reconstruction(candidates: torch.Tensor, sources: torch.Tensor, originals: torch.Tensor,
                   digits) -> Reconstruction:
    """Measure candidate images (standardised) against the true images on the digits' 0-16 scale."""
    if not isinstance(digits, Digits):
        raise TypeError(f"digits must be the fh.Digits split the images were standardised with "
                        f"(fh.load_digits_split()), got {type(digits).__name__}")
    if not isinstance(originals, torch.Tensor) or originals.dim() != 2 or not originals.is_floating_point():
        got = f"shape {tuple(originals.shape)}" if isinstance(originals, torch.Tensor) else type(originals).__name__
        raise ValueError(f"originals must be the true images as a float tensor, one per row, got {got}; they are "
                         "used only to measure the candidates")
    if originals.shape[1] != candidates.shape[1]:
        raise ValueError(f"originals have {originals.shape[1]} pixels but the model's first layer takes "
                         f"{candidates.shape[1]}; give the images the model was trained on")
    candidates = candidates.double()
    candidate_pixels = digits.to_pixels(candidates).clamp(0.0, PEAK)
    original_pixels = digits.to_pixels(originals.double())
    if len(candidates):
        best, match = psnr(candidate_pixels, original_pixels).max(0)
    else:
        best = torch.full((len(originals),), -math.inf, dtype=torch.float64)
        match = torch.full((len(originals),), -1, dtype=torch.int64)
    return Reconstruction(candidates, sources, originals.detach().clone(), candidate_pixels, original_pixels,
                          best, match)


def _maximum_matching(good: list[list[bool]]) -> int:
    """Size of a maximum matching in a bipartite graph given as rows x columns of booleans (augmenting paths)."""
    edges = [[col for col, ok in enumerate(row) if ok] for row in good]
    owner, matched = {}, {}  # column -> its row, row -> its column
    for start in range(len(edges)):
        # depth-first search from an unmatched row for a free column, alternating free and matched edges
        parent, stack, free = {}, [start], None
        while stack and free is None:
            row = stack.pop()
            for col in edges[row]:
                if col not in parent:
                    parent[col] = row
                    if col not in owner:
                        free = col
                        break
                    stack.append(owner[col])
        while free is not None:  # flip the path: every column on it goes to the row that reached it
            row = parent[free]
            previous = matched.get(row)
            owner[free], matched[row] = row, free
            free = previous
    return len(matched)
