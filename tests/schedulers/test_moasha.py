"""MOASHA's decisions, driven result by result through the scheduler's own ``on_trial_result``.

No Ray cluster: trials are Ray's own ``Trial`` objects (``stub=True``, as Ray's scheduler tests
make them); neither MOASHA nor Ray's ASHA reads the controller argument, so it is None.
"""

from __future__ import annotations

import math
import pickle
import random
from typing import Any

import numpy as np
import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from tunefleet.objectives import Objective, objectives_of
from tunefleet.schedulers import SchedulerContext, get_scheduler
from tunefleet.schedulers.multi_objective_asha import MultiObjectiveAsha, crowding_distance, rung_scores

ACCURACY_VS_PARAMS = objectives_of(["val_accuracy", "params"], ["max", "min"])
CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def make_trial(trial_id: str) -> Trial:
    return Trial("moasha_test", trial_id=trial_id, stub=True)


class Driver:
    """A scheduler and its trials, fed results as Tune's controller would."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.trials: dict[str, Trial] = {}

    def add(self, trial_id: str) -> None:
        self.trials[trial_id] = make_trial(trial_id)
        self.scheduler.on_trial_add(None, self.trials[trial_id])

    def report(self, trial_id: str, iteration: int, **metrics: Any) -> str:
        if trial_id not in self.trials:
            self.add(trial_id)
        result = {"training_iteration": iteration, **metrics}
        decision: str = self.scheduler.on_trial_result(None, self.trials[trial_id], result)
        return decision


def moasha(objectives: tuple[Objective, ...] = ACCURACY_VS_PARAMS, **options: Any) -> Driver:
    settings = {"max_t": 9, "grace_period": 1, "reduction_factor": 2.0, **options}
    return Driver(MultiObjectiveAsha(objectives, **settings))


def test_a_dominated_trial_stops_and_a_trade_off_trial_continues() -> None:
    driver = moasha()
    assert driver.report("a", 1, val_accuracy=0.9, params=1000) == CONTINUE  # first at the rung
    assert driver.report("b", 1, val_accuracy=0.6, params=100) == CONTINUE  # a trade-off with a

    # Worse than both on both objectives.
    assert driver.report("dominated", 1, val_accuracy=0.5, params=2000) == STOP
    # The least accurate so far, but the smallest: on the Pareto front.
    assert driver.report("small", 1, val_accuracy=0.55, params=50) == CONTINUE
    # The most accurate, and the largest: on the front too.
    assert driver.report("large", 1, val_accuracy=0.95, params=3000) == CONTINUE


def test_a_trade_off_trial_that_asha_on_one_metric_stops_continues_under_moasha() -> None:
    stream = [("a", 0.9, 1000), ("b", 0.6, 100), ("c", 0.5, 2000), ("small", 0.55, 50)]
    asha = Driver(
        ASHAScheduler(metric="val_accuracy", mode="max", max_t=9, grace_period=1, reduction_factor=2)
    )
    multi = moasha()

    asha_says = [asha.report(t, 1, val_accuracy=acc, params=p) for t, acc, p in stream]
    moasha_says = [multi.report(t, 1, val_accuracy=acc, params=p) for t, acc, p in stream]

    assert asha_says[-1] == STOP  # accuracy 0.55 is below the rung's median
    assert moasha_says[-1] == CONTINUE  # but it dominates c and no trial dominates it


def test_trials_are_judged_at_every_milestone_they_reach() -> None:
    driver = moasha(max_t=8)  # milestones 1, 2, 4 (8 is the end)
    for trial_id, accuracy, params in (("a", 0.9, 100), ("b", 0.8, 50)):  # a trade-off
        for iteration in (1, 2, 3):
            assert driver.report(trial_id, iteration, val_accuracy=accuracy, params=params) == CONTINUE

    assert driver.report("late", 1, val_accuracy=0.95, params=100) == CONTINUE
    assert driver.report("late", 2, val_accuracy=0.7, params=100) == STOP  # dominated at rung 2
    assert driver.report("a", 8, val_accuracy=0.99, params=100) == STOP  # the budget: max_t


@pytest.mark.parametrize(
    "broken",
    [
        {"val_accuracy": math.nan, "params": 10},  # smaller than any, but no accuracy
        {"val_accuracy": 0.99},  # the most accurate, but no parameter count
        {"val_accuracy": 0.99, "params": "n/a"},  # not a number
    ],
)
def test_a_result_missing_an_objective_or_nan_ranks_last(broken: dict[str, Any]) -> None:
    driver, without_it = moasha(), moasha()
    for each in (driver, without_it):
        each.report("a", 1, val_accuracy=0.3, params=9000)

    assert driver.report("broken", 1, **broken) == STOP
    # Dominated by a, but better than the broken trial: in the top half of three.
    assert driver.report("d", 1, val_accuracy=0.2, params=9500) == CONTINUE
    assert without_it.report("d", 1, val_accuracy=0.2, params=9500) == STOP


def test_with_one_objective_a_nan_result_stops_where_rays_asha_lets_it_continue() -> None:
    one = (Objective("val_loss", "min"),)
    asha = Driver(ASHAScheduler(metric="val_loss", mode="min", max_t=9, grace_period=1, reduction_factor=2))
    multi = moasha(one)
    for driver in (asha, multi):
        driver.report("a", 1, val_loss=0.5)
        driver.report("b", 1, val_loss=0.7)

    assert asha.report("diverged", 1, val_loss=math.nan) == CONTINUE  # NaN < cutoff is False
    assert multi.report("diverged", 1, val_loss=math.nan) == STOP


def _asynchronous_stream(seed: int, trials: int, max_t: int) -> list[tuple[str, int, float]]:
    """Results of ``trials`` trials interleaved at random, each reporting its iterations in order,
    values rounded to one decimal so that ties happen."""
    rng = random.Random(seed)
    progress = {f"t{i}": 0 for i in range(trials)}
    quality = {trial: rng.random() for trial in progress}
    stream = []
    while progress:
        trial = rng.choice(sorted(progress))
        progress[trial] += 1
        value = round(quality[trial] + 0.3 * rng.random() + 0.02 * progress[trial], 1)
        stream.append((trial, progress[trial], value))
        if progress[trial] == max_t:
            del progress[trial]
    return stream


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize(("reduction_factor", "brackets"), [(3.0, 1), (2.0, 1), (3.0, 3), (2.5, 2)])
def test_with_one_objective_moasha_decides_exactly_as_rays_asha(
    mode: str, reduction_factor: float, brackets: int
) -> None:
    settings = {"max_t": 27, "grace_period": 1, "reduction_factor": reduction_factor, "brackets": brackets}
    asha = Driver(ASHAScheduler(metric="score", mode=mode, **settings))
    multi = Driver(MultiObjectiveAsha((Objective("score", mode),), **settings))  # type: ignore[arg-type]
    stream = _asynchronous_stream(seed=7, trials=40, max_t=27)
    # Both draw each trial's bracket from numpy's global generator, as Ray's ASHA does.
    for driver in (asha, multi):
        np.random.seed(0)
        for i in range(40):
            driver.add(f"t{i}")

    decisions: dict[str, list[str]] = {"asha": [], "moasha": []}
    stopped: dict[str, int] = {}
    for trial, iteration, value in stream:
        if trial in stopped:
            continue
        said = asha.report(trial, iteration, score=value)
        decisions["asha"].append(said)
        decisions["moasha"].append(multi.report(trial, iteration, score=value))
        if said == STOP:
            stopped[trial] = iteration

    assert decisions["moasha"] == decisions["asha"]
    # The stream exercises both decisions: trials stopped at a rung, trials that got the budget.
    assert 0 < sum(at < 27 for at in stopped.values()) < 40


def test_crowding_distance_gives_extremes_infinity_and_the_rest_their_normalized_gaps() -> None:
    points = np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]])

    distances = crowding_distance(points)

    # Row 1: (3 - 0) / 4 on the first objective + (4 - 1) / 4 on the second.
    assert list(distances) == [math.inf, 1.5, 1.5, math.inf]
    assert list(crowding_distance(np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 3.0]]))) == [math.inf] * 3
    assert list(crowding_distance(np.array([[math.nan, 1.0], [0.0, 2.0]]))) == [0.0, math.inf]


def test_inside_a_front_the_isolated_trial_ranks_before_the_crowded_ones() -> None:
    # One front (accuracy up, params up): three trials crowd around 0.8, one stands alone at 0.6.
    values = [[0.5, 10], [0.6, 20], [0.79, 79], [0.8, 80], [0.81, 81], [0.9, 90]]

    scores = rung_scores(np.array(values, dtype=float), ACCURACY_VS_PARAMS)

    extremes, isolated, crowded = scores[[0, 5]], scores[1], scores[[2, 3, 4]]
    assert set(extremes) == {0.0}  # the ends of the front come first
    assert isolated > crowded.max()


def test_a_second_front_ranks_after_the_whole_first() -> None:
    values = [[0.9, 100], [0.5, 10], [0.89, 101], [0.49, 11]]  # rows 2 and 3 are dominated

    scores = rung_scores(np.array(values, dtype=float), ACCURACY_VS_PARAMS)

    assert min(scores[[0, 1]]) > max(scores[[2, 3]])


def test_the_scheduler_pickles_mid_sweep_and_decides_the_same_afterwards() -> None:
    driver = moasha()
    for i, (accuracy, params) in enumerate([(0.9, 1000), (0.6, 100), (0.7, 500)]):
        driver.report(f"t{i}", 1, val_accuracy=accuracy, params=params)
    copy = Driver(pickle.loads(pickle.dumps(driver.scheduler)))
    copy.trials = driver.trials

    for trial_id, accuracy, params in [("t3", 0.5, 2000), ("t4", 0.95, 50)]:
        driver.add(trial_id)
        copy.trials[trial_id] = driver.trials[trial_id]
        copy.scheduler.on_trial_add(None, driver.trials[trial_id])
        assert copy.report(trial_id, 1, val_accuracy=accuracy, params=params) == driver.report(
            trial_id, 1, val_accuracy=accuracy, params=params
        )


def test_a_result_of_a_trial_it_was_never_given_continues_without_error() -> None:
    # A sweep resumed with a scheduler built afresh (Ray 2.60 keeps no scheduler state).
    scheduler = MultiObjectiveAsha(ACCURACY_VS_PARAMS, max_t=9, reduction_factor=2.0)

    decision = scheduler.on_trial_result(None, make_trial("old"), {"training_iteration": 3, "params": 1})
    scheduler.on_trial_complete(None, make_trial("old"), {"training_iteration": 9, "params": 1})

    assert decision == CONTINUE


def test_objectives_come_from_tune_config_when_not_given() -> None:
    scheduler = MultiObjectiveAsha(max_t=9)

    assert scheduler.set_search_properties(["val_accuracy", "params"], ["max", "min"])
    assert scheduler.objectives == ACCURACY_VS_PARAMS
    assert scheduler.metric == "val_accuracy"


def test_a_tune_config_metric_outside_its_objectives_is_refused() -> None:
    scheduler = MultiObjectiveAsha(ACCURACY_VS_PARAMS, max_t=9)

    assert scheduler.set_search_properties("val_accuracy", "max")
    assert not scheduler.set_search_properties("val_loss", "min")


def test_without_objectives_a_trial_cannot_be_added() -> None:
    with pytest.raises(ValueError, match="needs objectives"):
        MultiObjectiveAsha(max_t=9).on_trial_add(None, make_trial("t"))


@pytest.mark.parametrize(
    "options",
    [{"max_t": 0}, {"grace_period": 10, "max_t": 9}, {"reduction_factor": 1.0}, {"brackets": 0}],
)
def test_options_ray_would_assert_on_are_a_value_error(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="MultiObjectiveAsha needs"):
        MultiObjectiveAsha(ACCURACY_VS_PARAMS, **options)


@pytest.mark.parametrize(
    "context",
    [
        SchedulerContext(metric="val_accuracy", mode="max", max_iterations=27, objectives=ACCURACY_VS_PARAMS),
        SchedulerContext(metric="val_loss", mode="min", max_iterations=27),
    ],
)
def test_the_plugin_builds_moasha_on_the_sweeps_objectives_and_rungs(context: SchedulerContext) -> None:
    plugin = get_scheduler("moasha")
    options = plugin.options.model_validate({"grace_period": 1, "reduction_factor": 3})

    scheduler = plugin.build(options, context)

    assert plugin.multi_objective
    assert scheduler.objectives == (context.objectives or (Objective(context.metric, context.mode),))
    milestones = {math.ceil(m) for bracket in scheduler._brackets for m, _ in bracket.rungs}
    assert plugin.rungs(options, 27) == sorted(milestones) == [1, 3, 9, 27]
