"""A function trainable whose hyperparameters have every shape validation must read: ints and
floats, bounded and unbounded, optional and ``Annotated``, and a boolean."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from ray import tune


class Hyperparams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(8, ge=1, le=512)
    shift: float = 0.0
    rate: float = Field(0.1, ge=0, lt=1)
    gamma: Annotated[float, Field(gt=0, le=1)] | None = None
    every: Annotated[int, Field(ge=1)] | None = None
    offset: int = 0
    flag: bool = False
    kind: str = "a"


def train(config: dict[str, Any]) -> None:
    hp = Hyperparams.model_validate({k: v for k, v in config.items() if v is not None})
    tune.report({"score": hp.width * hp.rate + hp.shift})


train.Hyperparams = Hyperparams  # type: ignore[attr-defined]
train.reported_metrics = frozenset({"score"})  # type: ignore[attr-defined]
