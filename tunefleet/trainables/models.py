"""Plain ``nn.Module`` models used by the built-in tasks; no Ray, no training logic."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from tunefleet.trainables.hyperparams import ActivationName

__all__ = ["MLP", "CNN1d", "CNN2d", "Linear", "ResNet18", "activation"]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation(name: ActivationName) -> nn.Module:
    """A fresh activation module by name (``leaky_relu`` uses torch's slope 0.01).

    Raises:
        ValueError: For an unknown name, listing the valid ones.
    """
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}") from None


# The models' constructors take an ``activation`` argument, which shadows the function.
_activation_module = activation


class MLP(nn.Module):
    """Fully connected network: flatten, then ``[linear, activation, dropout]`` per hidden layer.

    Args:
        in_features: Number of input features after flattening.
        hidden: Width of each hidden layer (empty for a linear model).
        out_features: Number of outputs (classes, or regression targets).
        activation: Name of the hidden activation.
        dropout: Dropout probability after each hidden activation.

    Example:
        >>> import torch
        >>> MLP(40, [100, 100], 10)(torch.zeros(8, 40)).shape
        torch.Size([8, 10])
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        activation: ActivationName = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), _activation_module(activation), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _conv_output_length(length: int, kernel_size: int, stride: int, padding: int) -> int:
    return (length + 2 * padding - kernel_size) // stride + 1


class CNN1d(nn.Module):
    """The MNIST-1D paper's convolutional baseline, with its knobs exposed.

    Defaults reproduce ``ConvBase`` of Greydanus (2020): three convolutions of 25 channels,
    stride 2, padding 1, kernel sizes 5, 3, 3, each followed by ReLU, then one linear layer
    on the flattened features (25 x 5 = 125 of them for length 40). Dropout, if any, is
    applied to the flattened features.

    Args:
        length: Input sequence length.
        num_classes: Number of outputs.
        channels: Channels of every convolution.
        activation: Name of the activation after each convolution.
        dropout: Dropout probability before the linear layer.
        kernel_sizes: Kernel size of each convolution (their number is the depth).
        stride: Convolution stride.
        padding: Convolution padding.
        in_channels: Input channels; inputs of shape ``(n, length)`` are treated as one channel.

    Example:
        >>> import torch
        >>> CNN1d(40, 10)(torch.zeros(8, 40)).shape
        torch.Size([8, 10])
    """

    def __init__(
        self,
        length: int,
        num_classes: int,
        channels: int = 25,
        activation: ActivationName = "relu",
        dropout: float = 0.0,
        kernel_sizes: Sequence[int] = (5, 3, 3),
        stride: int = 2,
        padding: int = 1,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width, out_length = in_channels, length
        for kernel_size in kernel_sizes:
            layers += [
                nn.Conv1d(width, channels, kernel_size, stride=stride, padding=padding),
                _activation_module(activation),
            ]
            width = channels
            out_length = _conv_output_length(out_length, kernel_size, stride, padding)
        if out_length < 1:
            raise ValueError(
                f"convolutions with kernels {list(kernel_sizes)} and stride {stride} leave "
                f"nothing of a length-{length} input"
            )
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * out_length, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.head(self.features(x))


class CNN2d(nn.Module):
    """A small CNN for tiny images such as 8x8 digits.

    Two 3x3 convolutions (``channels`` then ``2 * channels``, same padding) with the
    activation, a 2x2 max-pool, dropout, and a linear classifier.

    Args:
        image_size: Height and width of the (square) input.
        num_classes: Number of outputs.
        channels: Channels of the first convolution.
        activation: Name of the activation after each convolution.
        dropout: Dropout probability before the linear layer.
        in_channels: Input channels; inputs of shape ``(n, h, w)`` are treated as one channel.

    Example:
        >>> import torch
        >>> CNN2d(8, 10)(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        image_size: int,
        num_classes: int,
        channels: int = 16,
        activation: ActivationName = "relu",
        dropout: float = 0.0,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        if image_size < 2:
            raise ValueError(f"image_size must be at least 2, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            _activation_module(activation),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            _activation_module(activation),
            nn.MaxPool2d(2),
        )
        pooled = image_size // 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * channels * pooled * pooled, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.head(self.features(x))


class Linear(nn.Module):
    """An affine map of the flattened input: linear regression or multinomial logistic regression.

    Example:
        >>> import torch
        >>> Linear(10)(torch.zeros(5, 10)).shape
        torch.Size([5, 1])
    """

    def __init__(self, in_features: int, out_features: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the input (a 1x1 projection when the shape changes)."""

    def __init__(self, in_channels: int, channels: int, stride: int, activation: ActivationName) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.act1 = _activation_module(activation)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act2 = _activation_module(activation)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al., 2016) adapted to 32x32 images, as trained on CIFAR-10.

    The ImageNet stem (7x7 stride-2 convolution and max-pool) would shrink a 32x32 image to 8x8
    before the first block; the CIFAR variant uses a 3x3 stride-1 convolution and no pooling.
    Then four stages of two basic blocks, ``width``, 2x, 4x and 8x channels (64-512 by default),
    each stage after the first halving the resolution; global average pooling; dropout; a linear
    classifier. 11,173,962 parameters at width 64 with 10 classes.

    Args:
        num_classes: Number of outputs.
        width: Channels of the stem and the first stage.
        in_channels: Channels of the input images.
        activation: Name of the activation after each block's convolutions.
        dropout: Dropout probability before the classifier.

    Example:
        >>> import torch
        >>> ResNet18(10, width=8)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 64,
        in_channels: int = 3,
        activation: ActivationName = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            _activation_module(activation),
        )
        blocks: list[nn.Module] = []
        channels = width
        for stage, stride in enumerate((1, 2, 2, 2)):
            out_channels = width * 2**stage
            blocks += [
                _BasicBlock(channels, out_channels, stride, activation),
                _BasicBlock(out_channels, out_channels, 1, activation),
            ]
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(x)))
