"""Weight initialisation schemes (``init`` hyperparameter) applied to a built model.

Plain torch, no Ray.
"""

from __future__ import annotations

from torch import nn

from tunefleet.trainables.hyperparams import ActivationName, InitScheme

__all__ = ["init_weights"]


def init_weights(module: nn.Module, scheme: InitScheme, activation: ActivationName = "relu") -> None:
    """Re-initialises the weights of every linear and convolutional layer in ``module``.

    Args:
        module: Model to initialise in place (uses the global torch RNG).
        scheme: ``default`` keeps torch's layer defaults; ``xavier`` is Glorot-uniform;
            ``he`` is Kaiming-normal (fan-in) for ``activation``. Biases become zero for both.
        activation: The model's activation, which sets the He gain (ReLU's for the
            non-rectifiers, as is customary).
    """
    if scheme == "default":
        return
    for layer in module.modules():
        if not isinstance(layer, nn.Linear | nn.modules.conv._ConvNd):
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        elif activation == "leaky_relu":
            nn.init.kaiming_normal_(layer.weight, a=0.01, nonlinearity="leaky_relu")
        else:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
