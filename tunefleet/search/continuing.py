"""Trials that continue an old sweep's checkpoints, handed out before anything the searcher proposes.

``tunefleet extend`` continues the old trials that would be promoted under the new budget. Each
is a trial of the new sweep whose config is the old one plus the reserved key naming the
checkpoint (:data:`~tunefleet.rundir.names.CONTINUES_KEY`), counted in ``num_samples`` like any
trial. They come first: from a Ray ``Searcher`` (hyperopt, ...) through :class:`ContinuingSearcher`,
which keeps them from the searcher (it already holds their results from the warm start), and
from Ray's variant generator (random, grid) as its first ``points_to_evaluate``
(:func:`tunefleet.search.build_search`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ray.tune.search import Searcher

__all__ = ["ContinuingSearcher"]


class ContinuingSearcher(Searcher):
    """Hands out ``continuations`` first, then the wrapped searcher's proposals.

    The wrapped searcher never hears of the continued trials: it did not propose them, and the
    old results it was warm-started with already stand for them.
    """

    def __init__(self, searcher: Searcher, continuations: Sequence[dict[str, Any]]) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self._pending = [dict(c) for c in continuations]
        self._continued: set[str] = set()

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        return bool(self.searcher.set_search_properties(metric, mode, config, **spec))

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._pending:
            self._continued.add(trial_id)
            return self._pending.pop(0)
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id not in self._continued:
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if trial_id in self._continued:
            self._continued.discard(trial_id)
            return
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["searcher"]
        return copy.deepcopy(state)

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
