"""``pbt_toy``: the toy problem of the PBT paper (Jaderberg et al., 2017, section 4 and figure 2).

Maximize ``Q(θ) = 1.2 - (θ0² + θ1²)``, starting from ``θ = (0.9, 0.9)``, while a member can only
ascend its surrogate ``Q̂(θ|h) = 1.2 - (h0·θ0² + h1·θ1²)`` by gradient steps. With ``h = (1, 0)``
a member shrinks θ0 only and ``Q`` plateaus at ``1.2 - 0.81 = 0.39``; the population of the
paper, ``h = (1, 0)`` and ``(0, 1)``, reaches the optimum ``Q = 1.2`` only if PBT copies θ from
one member to the other and perturbs ``h``.

No torch, no data: a step is exact arithmetic, and a checkpoint (``state.json``) holds θ as
floats, which JSON round-trips exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from ray import tune

__all__ = ["PbtToy", "PbtToyHyperparams"]

_STATE_FILE = "state.json"


class PbtToyHyperparams(BaseModel):
    """The surrogate's coefficients, the step size and the starting point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    h0: float = Field(1.0, ge=0, le=10, description="Weight of θ0² in the surrogate.")
    h1: float = Field(0.0, ge=0, le=10, description="Weight of θ1² in the surrogate.")
    lr: float = Field(0.05, gt=0, le=0.1, description="Gradient-ascent step size (stable while lr·h < 1).")
    steps_per_iteration: int = Field(1, ge=1, description="Gradient steps per Tune iteration.")
    theta0: float = Field(0.9, description="Initial θ0.")
    theta1: float = Field(0.9, description="Initial θ1.")


class PbtToy(tune.Trainable):
    """The PBT paper's toy: maximize Q(θ) by ascending a surrogate Q̂(θ|h)."""

    Hyperparams: ClassVar[type[PbtToyHyperparams]] = PbtToyHyperparams

    hp: PbtToyHyperparams
    theta: list[float]

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        return frozenset({"Q", "Q_hat", "theta0", "theta1"})

    def setup(self, config: dict[str, Any]) -> None:
        self._start(config)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._start(new_config)
        return True

    def step(self) -> dict[str, Any]:
        hp = self.hp
        h = (hp.h0, hp.h1)
        for _ in range(hp.steps_per_iteration):
            # ∂Q̂/∂θi = -2·hi·θi
            self.theta = [t + hp.lr * (-2.0 * hi * t) for t, hi in zip(self.theta, h, strict=True)]
        t0, t1 = self.theta
        return {
            "Q": 1.2 - (t0 * t0 + t1 * t1),
            "Q_hat": 1.2 - (hp.h0 * t0 * t0 + hp.h1 * t1 * t1),
            "theta0": t0,
            "theta1": t1,
        }

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        (Path(checkpoint_dir) / _STATE_FILE).write_text(json.dumps({"theta": self.theta}))

    def load_checkpoint(self, checkpoint: str | dict[str, Any] | None) -> None:
        if not isinstance(checkpoint, str | Path):
            raise TypeError(f"expected a checkpoint directory, got {type(checkpoint).__name__}")
        self.theta = json.loads((Path(checkpoint) / _STATE_FILE).read_text())["theta"]

    def _start(self, config: dict[str, Any]) -> None:
        # Ray adds __dunder__ bookkeeping keys to a trial's config.
        values = {k: v for k, v in config.items() if not (k.startswith("__") and k.endswith("__"))}
        self.hp = PbtToyHyperparams.model_validate(values)
        self.theta = [self.hp.theta0, self.hp.theta1]
