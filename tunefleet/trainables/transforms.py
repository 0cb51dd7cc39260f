"""Image batch transforms on the device: random crop, horizontal flip, per-channel normalisation.

Plain torch tensors, no torchvision: a whole batch of uint8 images is augmented with a few
vectorised indexing operations where it lives (on the GPU when the trial has one), drawing its
randomness from the generator it is given, which the training loop checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ImageBatchTransform", "random_crop", "random_horizontal_flip"]


def random_crop(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Each image of ``(n, c, h, w)`` zero-padded by ``padding`` on every side, then cropped back
    to ``h x w`` at an offset drawn uniformly per image.

    Example:
        >>> x = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4)
        >>> random_crop(x, 0, torch.Generator()).equal(x)
        True
    """
    n, _, h, w = images.shape
    if padding == 0:
        return images
    padded = F.pad(images, (padding, padding, padding, padding))
    device = images.device
    offset_y = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    offset_x = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    rows = (offset_y[:, None] + torch.arange(h, device=device))[:, :, None]  # (n, h, 1)
    cols = (offset_x[:, None] + torch.arange(w, device=device))[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=device)[:, None, None]
    # Advanced indices around a slice put their broadcast shape first: (n, h, w, c).
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_horizontal_flip(images: Tensor, generator: torch.Generator) -> Tensor:
    """Each image of ``(n, c, h, w)`` mirrored left-right with probability 1/2."""
    flip = torch.rand(len(images), generator=generator, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


class ImageBatchTransform(nn.Module):
    """uint8 images ``(n, c, h, w)`` to normalised float32, augmented when given a generator.

    ``transform(x, generator)`` (a training batch) crops and flips at random, then normalises;
    ``transform(x)`` (an evaluation batch) only normalises. The constants are buffers, so the
    transform follows the data to its device (``DataSplits.to``).

    Args:
        mean: Per-channel mean of the images scaled to [0, 1].
        std: Per-channel standard deviation, likewise.
        crop_padding: Padding of the random crop (0: no crop).
        flip: Whether to flip horizontally at random.
    """

    mean: Tensor
    scale: Tensor

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, flip: bool = False
    ) -> None:
        super().__init__()
        self.crop_padding = crop_padding
        self.flip = flip
        channels = len(mean)
        # x / 255 - mean) / std == (x - 255 * mean) * (1 / (255 * std))
        self.register_buffer("mean", 255 * torch.tensor(mean).reshape(1, channels, 1, 1))
        self.register_buffer("scale", 1 / (255 * torch.tensor(std).reshape(1, channels, 1, 1)))

    def forward(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if generator is not None:
            images = random_crop(images, self.crop_padding, generator)
            if self.flip:
                images = random_horizontal_flip(images, generator)
        return (images.float() - self.mean) * self.scale
