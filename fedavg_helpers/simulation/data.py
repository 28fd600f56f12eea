"""The tutorial's real data: scikit-learn's handwritten digits as a fixed, seeded, standardised train/test split."""
import math
from dataclasses import dataclass

import torch

from .._checks import check_int, check_real


@dataclass(frozen=True)
class Digits:
    """A train/test split of the 8x8 digits: features float32 (N, 64), labels int64 (N,) in 0..9."""
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    pixel_mean: torch.Tensor | None = None  # (64,) the training pixels' mean and std that standardised them,
    pixel_std: torch.Tensor | None = None   # so a standardised image can be drawn and compared on the 0-16 scale

    @property
    def train(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_train, y_train), the form run_fedavg and train_central take."""
        return self.x_train, self.y_train

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_test, y_test), the held-out samples every round is evaluated on."""
        return self.x_test, self.y_test

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised images (N, 64) back on the original 0-16 ink scale: x * std + mean."""
        if self.pixel_mean is None or self.pixel_std is None:
            raise ValueError("this Digits split does not carry its pixel mean and std; load it with "
                             "fh.load_digits_split() to convert images back to the 0-16 scale")
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.shape[-1] != len(self.pixel_mean):
            got = f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"to_pixels takes float images of {len(self.pixel_mean)} standardised pixels each, "
                             f"got {got}")
        return x * self.pixel_std.to(x.dtype) + self.pixel_mean.to(x.dtype)

    @property
    def num_features(self) -> int:
        """Pixels per image (64), the input size of a model."""
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int:
        """Number of digit classes (10), the output size of a model."""
        return int(torch.cat([self.y_train, self.y_test]).max()) + 1


def load_digits_split(test_size: float = 0.25, seed: int = 0) -> Digits:
    """Load the 1797 bundled digit images (no download), split them stratified by class, standardise the pixels."""
    test_size = check_real("test_size", test_size, 0.0, 1.0, high_open=True, hint="it is the test fraction, e.g. 0.25")
    seed = check_int("seed", seed, minimum=0)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise ImportError("load_digits_split needs scikit-learn: pip install 'fedavg-helpers[data]'") from e
    x, y = load_digits(return_X_y=True)
    num_classes = len(set(y.tolist()))
    n_test = math.ceil(test_size * len(y))  # as scikit-learn counts it
    if n_test < num_classes or len(y) - n_test < num_classes:
        raise ValueError(f"Invalid test_size: {test_size} gives {n_test} test and {len(y) - n_test} training samples; "
                         f"a stratified split needs at least {num_classes} (one per class) in each")
    # Stratified, so train and test have the same class proportions whatever the seed.
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    x_train = torch.as_tensor(x_train, dtype=torch.float32)
    x_test = torch.as_tensor(x_test, dtype=torch.float32)
    # Standardise with training statistics only, so nothing about the test set leaks into training.
    mean, std = x_train.mean(0), x_train.std(0, correction=0)
    std[std == 0] = 1.0  # border pixels that are blank in every training image stay 0 instead of 0/0
    return Digits(x_train=(x_train - mean) / std, y_train=torch.as_tensor(y_train, dtype=torch.int64),
                  x_test=(x_test - mean) / std, y_test=torch.as_tensor(y_test, dtype=torch.int64),
                  pixel_mean=mean, pixel_std=std)
