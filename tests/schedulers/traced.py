"""A trainable that reports what PBT tests need to see: its optimizer state (Ray adds ``pid``)."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from tunefleet.trainables.tasks import LinearRegression


def optimizer_digest(optimizer: torch.optim.Optimizer) -> str:
    """A fingerprint of an optimizer's state: every moment tensor, bit for bit, and step counts."""
    digest = hashlib.sha256()
    for _, state in sorted(optimizer.state_dict()["state"].items()):
        for name, value in sorted(state.items()):
            digest.update(name.encode())
            digest.update(
                value.detach().cpu().numpy().tobytes() if torch.is_tensor(value) else repr(value).encode()
            )
    return digest.hexdigest()


class TracedRegression(LinearRegression):
    """LinearRegression reporting ``optimizer_digest`` after the step and ``restored_digest``:
    the digest right after the last restore ("" when it did not restore)."""

    @classmethod
    def reported_metrics(cls) -> frozenset[str]:
        return super().reported_metrics() | {"optimizer_digest", "restored_digest"}

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        self._restored_digest = ""
        return super().reset_config(new_config)

    def load_checkpoint(self, checkpoint: Any) -> None:
        super().load_checkpoint(checkpoint)
        self._restored_digest = optimizer_digest(self.optimizer)

    def step(self) -> dict[str, Any]:
        restored, self._restored_digest = getattr(self, "_restored_digest", ""), ""
        result = super().step()
        return {
            **result,
            "optimizer_digest": optimizer_digest(self.optimizer),
            "restored_digest": restored,
        }
