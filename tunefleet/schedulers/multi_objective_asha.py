"""Multi-objective asynchronous successive halving (MOASHA) as a Ray Tune scheduler.

Ray's ``AsyncHyperBandScheduler`` (ASHA, Li et al. 2020) stops a trial at a rung unless its
metric is in the top ``1/reduction_factor`` of the values recorded there. With several
objectives there is no single value to rank by, so MOASHA (Schmucker et al. 2021, "Multi-objective
Asynchronous Successive Halving", arXiv:2106.12639) ranks the trials of a rung by non-dominated
sorting (:func:`tunefleet.objectives.non_dominated_sort`: the Pareto front first, then the front
of what remains, ...) and, inside a front, by NSGA-II's crowding distance (Deb et al. 2002, one of
the two tie-breaks of Schmucker et al.; the other is an epsilon-net): a trial far from its
neighbours on the front ranks first, so the survivors spread along the front instead of crowding
one corner of it.

Everything else is ASHA as Ray 2.60 implements it (``ray/tune/schedulers/async_hyperband.py``):
the same brackets and milestones, the same random bracket per trial, and the same decision at a
milestone: the trial's score is compared with the ``1 - 1/reduction_factor`` quantile
(``np.nanpercentile``) of the scores recorded there *before* it, then recorded. With one objective
the score is the metric itself, so the decisions are ASHA's exactly; with several, the score is
the negated position of the trial in the rung's order (recorded trials and the new one ranked
together; ties share a position). A result that lacks an objective, or holds NaN or a non-number
for it, is the worst there is: non-dominated sorting puts it in a last front of its own.

Resuming: Ray 2.60 never saves a scheduler's state (``TuneController.__getstate__`` drops
``_scheduler_alg``); a resumed sweep gets the scheduler as pickled into ``tuner.pkl`` when the
sweep started, before any result. So the rungs start empty again, as they do for Ray's ASHA:
decisions already taken stay taken (stopped trials stay stopped), and trials that continue are
judged against the results reported after the resume only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tunefleet.objectives import Objective, minimized, non_dominated_sort, objectives_of

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

__all__ = ["MultiObjectiveAsha", "crowding_distance", "objective_values", "rung_scores"]

logger = logging.getLogger(__name__)


def objective_values(result: Mapping[str, Any], objectives: Sequence[Objective]) -> np.ndarray:
    """The objectives' values in ``result``, in their own units; NaN where one is missing or is
    not a number (a bool is not a number here)."""
    values = []
    for objective in objectives:
        value = result.get(objective.metric)
        try:
            number = float(value) if not isinstance(value, bool | str) and value is not None else np.nan
        except (TypeError, ValueError):
            number = np.nan
        values.append(number)
    return np.array(values, dtype=float)


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row of ``points`` (one front, objectives minimized).

    Per objective, the rows are sorted; the two extremes get infinity and every other row the gap
    between its two neighbours, divided by the objective's range; the distances add up over the
    objectives (Deb et al. 2002, section III-B). Identical rows get the same distance (the
    original gives one of two duplicates an extreme's infinity), and rows holding NaN get 0.
    """
    points = np.asarray(points, dtype=float)
    distances = np.zeros(len(points))
    finite = ~np.isnan(points).any(axis=1)
    if not finite.any():
        return distances
    unique, inverse = np.unique(points[finite], axis=0, return_inverse=True)
    crowding = np.zeros(len(unique))
    if len(unique) <= 2:
        crowding[:] = np.inf
    else:
        for column in unique.T:
            order = np.argsort(column, kind="stable")
            crowding[order[[0, -1]]] = np.inf
            spread = column[order[-1]] - column[order[0]]
            if spread > 0:
                crowding[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / spread
    distances[finite] = crowding[inverse.reshape(-1)]
    return distances


def rung_scores(values: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """A score per row of ``values`` (the results at one rung), higher is better.

    One objective, no NaN: the metric itself, negated when minimized (Ray's ASHA's score, so that
    quantiles interpolate between values as ASHA's do). Otherwise: minus the row's position in
    the order "Pareto front, then larger crowding distance", ties sharing a position (the number
    of rows strictly before it); rows with a NaN come last.
    """
    values = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    if len(objectives) == 1 and not np.isnan(values).any():
        return -minimized(values, objectives)[:, 0]
    points = minimized(values, objectives)
    front_of = np.empty(len(values))
    crowding = np.empty(len(values))
    for index, front in enumerate(non_dominated_sort(values, objectives)):
        front_of[front] = index
        crowding[front] = crowding_distance(points[front])
    # Competition ranking of (front, -crowding): sorted, a row's position is that of the first
    # row with its key.
    keys = list(zip(front_of, crowding, strict=True))
    order = np.lexsort((-crowding, front_of))
    positions = np.empty(len(values))
    for place, row in enumerate(order):
        tied = place > 0 and keys[order[place - 1]] == keys[row]
        positions[row] = positions[order[place - 1]] if tied else place
    return -positions


class _Bracket:
    """One bracket's milestones and the objective values recorded at each (as Ray's ``_Bracket``
    of ``async_hyperband.py``, with vectors for values and :func:`rung_scores` for the cutoff)."""

    def __init__(
        self,
        min_t: int,
        max_t: int,
        reduction_factor: float,
        s: int,
        objectives: tuple[Objective, ...],
    ) -> None:
        self.rf = reduction_factor
        self.objectives = objectives
        count = int(np.log(max_t / min_t) / np.log(self.rf) - s + 1)
        # Descending, as Ray's: the first milestone a result has reached is the highest.
        self.rungs: list[tuple[float, dict[str, np.ndarray]]] = [
            (min_t * self.rf ** (k + s), {}) for k in reversed(range(count))
        ]

    def continues(self, values: np.ndarray, recorded: Mapping[str, np.ndarray]) -> bool:
        """Whether a trial with ``values`` at a rung where ``recorded`` are the earlier results
        is in the top ``1/reduction_factor``."""
        if not recorded:
            return True
        scores = rung_scores(np.vstack([*recorded.values(), values]), self.objectives)
        cutoff = np.nanpercentile(scores[:-1], (1 - 1 / self.rf) * 100)
        return not bool(scores[-1] < cutoff)

    def on_result(self, trial_id: str, cur_iter: float, values: np.ndarray) -> str:
        for milestone, recorded in self.rungs:
            if cur_iter < milestone or trial_id in recorded:
                continue
            action = TrialScheduler.CONTINUE if self.continues(values, recorded) else TrialScheduler.STOP
            recorded[trial_id] = values
            return action
        return TrialScheduler.CONTINUE

    def debug_str(self) -> str:
        return "Bracket: " + " | ".join(
            f"Iter {milestone:.3f}: {len(recorded)} recorded" for milestone, recorded in self.rungs
        )


class MultiObjectiveAsha(FIFOScheduler):
    """Asynchronous successive halving that promotes by non-dominated sorting (see the module).

    Args:
        objectives: What the sweep optimizes; empty: set by Tune from ``TuneConfig(metric, mode)``
            (which may then be lists).
        time_attr: The result's progress counter; results without it are ignored.
        max_t: Trials stop once ``time_attr`` reaches it.
        grace_period: The first milestone.
        reduction_factor: Each rung keeps the top ``1/reduction_factor``.
        brackets: Brackets of different first milestones (Ray's ``brackets``).

    Raises:
        ValueError: For options Ray's ASHA would reject (Ray asserts).
    """

    def __init__(
        self,
        objectives: Sequence[Objective] = (),
        *,
        time_attr: str = "training_iteration",
        max_t: int = 100,
        grace_period: int = 1,
        reduction_factor: float = 3.0,
        brackets: int = 1,
    ) -> None:
        if not (max_t > 0 and 0 < grace_period <= max_t and reduction_factor > 1 and brackets > 0):
            raise ValueError(
                "MultiObjectiveAsha needs max_t > 0, 0 < grace_period <= max_t, reduction_factor > 1 "
                f"and brackets > 0; got max_t={max_t}, grace_period={grace_period}, "
                f"reduction_factor={reduction_factor}, brackets={brackets}"
            )
        super().__init__()
        self._time_attr = time_attr
        self._max_t = max_t
        self._grace_period = grace_period
        self._reduction_factor = reduction_factor
        self._bracket_count = brackets
        self._trial_info: dict[str, _Bracket] = {}
        self._num_stopped = 0
        self._objectives: tuple[Objective, ...] = ()
        self._brackets: list[_Bracket] = []
        if objectives:
            self._set_objectives(tuple(objectives))

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return self._objectives

    @property
    def metric(self) -> str | None:
        """The first objective: Tune checks that every result holds the scheduler's ``metric``."""
        return self._objectives[0].metric if self._objectives else None

    def _set_objectives(self, objectives: tuple[Objective, ...]) -> None:
        self._objectives = objectives
        self._brackets = [
            _Bracket(self._grace_period, self._max_t, self._reduction_factor, s, objectives)
            for s in range(self._bracket_count)
        ]

    def set_search_properties(self, metric: Any, mode: Any, **spec: Any) -> bool:
        """Takes ``TuneConfig``'s metric and mode (one or lists) when built without objectives;
        built with them, accepts a metric Tune passes only if it is one of them."""
        if self._objectives:
            names = [metric] if isinstance(metric, str) else list(metric or [])
            return all(name in {o.metric for o in self._objectives} for name in names)
        if metric is None or mode is None:
            return True  # Tune passes None when TuneConfig has none; on_trial_add reports it
        self._set_objectives(objectives_of(metric, mode))
        return True

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if not self._objectives:
            raise ValueError(
                "MultiObjectiveAsha needs objectives: pass them, or metric and mode to tune.TuneConfig()"
            )
        # Ray's ASHA: a bracket at random, smaller ones (fewer rungs) less often.
        sizes = np.array([len(b.rungs) for b in self._brackets])
        probs = np.e ** (sizes - sizes.max())
        index = np.random.choice(len(self._brackets), p=probs / probs.sum())
        self._trial_info[trial.trial_id] = self._brackets[index]

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if self._time_attr not in result:
            return TrialScheduler.CONTINUE
        if result[self._time_attr] >= self._max_t:
            action = TrialScheduler.STOP
        else:
            bracket = self._trial_info.get(trial.trial_id)
            if bracket is None:  # never added (not Tune's way): nothing to judge it by
                return TrialScheduler.CONTINUE
            action = bracket.on_result(
                trial.trial_id, result[self._time_attr], objective_values(result, self._objectives)
            )
        if action == TrialScheduler.STOP:
            self._num_stopped += 1
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        bracket = self._trial_info.pop(trial.trial_id, None)
        if bracket is not None and result and self._time_attr in result:
            bracket.on_result(
                trial.trial_id, result[self._time_attr], objective_values(result, self._objectives)
            )

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._trial_info.pop(trial.trial_id, None)

    def debug_string(self) -> str:
        return "\n".join(
            [f"Using MultiObjectiveAsha: num_stopped={self._num_stopped}"]
            + [b.debug_str() for b in self._brackets]
        )
