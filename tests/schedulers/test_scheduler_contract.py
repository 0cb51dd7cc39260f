"""Every registered scheduler, through the same contract: a small real sweep, end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tunefleet.analysis import load_results
from tunefleet.analysis.curves import rung_counts
from tunefleet.rundir import LINEAGE_FILE
from tunefleet.schedulers import SCHEDULERS, get_scheduler

TOY_MUTATIONS = {"h0": {"uniform": [0.0, 1.0]}, "h1": {"uniform": [0.0, 1.0]}}

#: Scheduler name -> (its scheduler: section, the search algorithm it runs with).
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "fifo": ({"type": "fifo"}, "random"),
    "asha": ({"type": "asha", "grace_period": 1, "reduction_factor": 2}, "random"),
    "moasha": ({"type": "moasha", "grace_period": 1, "reduction_factor": 2}, "random"),
    "hyperband": ({"type": "hyperband", "reduction_factor": 2}, "random"),
    "median_stopping": ({"type": "median_stopping", "min_samples_required": 2}, "random"),
    "pbt": ({"type": "pbt", "perturbation_interval": 2, "seed": 0, "mutations": TOY_MUTATIONS}, "random"),
    "pb2": ({"type": "pb2", "perturbation_interval": 2, "seed": 0, "mutations": TOY_MUTATIONS}, "random"),
    "bohb": ({"type": "bohb", "reduction_factor": 2}, "bohb"),
}

#: The schedulers that stop trials at rungs (successive halving); analysis draws them.
WITH_RUNGS = {"asha", "moasha", "hyperband", "bohb"}


def test_every_registered_scheduler_has_a_contract_case() -> None:
    assert set(CASES) == set(SCHEDULERS)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_a_scheduler_has_rungs_only_if_it_stops_trials_at_rungs(name: str) -> None:
    plugin = get_scheduler(name)
    options = plugin.options.model_validate({k: v for k, v in CASES[name][0].items() if k != "type"})

    rungs = plugin.rungs(options, 4)

    assert (rungs is not None) == (name in WITH_RUNGS)
    if rungs is not None:
        assert rungs == sorted(set(rungs)) and all(1 <= rung <= 4 for rung in rungs)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_runs_a_small_sweep_end_to_end(
    name: str, run_file: Callable[..., Any], tmp_path: Path
) -> None:
    missing = get_scheduler(name).missing_dependencies()
    if missing:
        pytest.skip(f"optional dependency not installed: {', '.join(missing)}")
    scheduler, algorithm = CASES[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "trainable": "pbt_toy",
                "metric": "Q",
                "mode": "max",
                "num_samples": 4,
                "max_iterations": 4,
                "search": {"algorithm": algorithm, "seed": 0},
                "space": {"h0": {"uniform": [0.0, 1.0]}, "h1": {"uniform": [0.0, 1.0]}, "lr": 0.05},
                "scheduler": scheduler,
            }
        )
    )
    outcome = run_file(path)

    assert (outcome.num_trials, outcome.num_errors) == (4, 0)
    results = load_results(outcome.path)
    trials = results.trials()
    assert set(trials["status"]) == {"TERMINATED"}
    assert trials["training_iteration"].between(1, 4).all()
    assert trials["training_iteration"].max() == 4  # somebody got the whole budget
    assert trials["value"].notna().all()
    if name in ("pbt", "pb2"):
        assert (outcome.path / LINEAGE_FILE).read_text().strip()  # the sync step at 2 exploited
    rungs = list(rung_counts(results)["iteration"])
    if name in WITH_RUNGS:
        assert rungs == [1, 2, 4]  # the plugin's, read back from tunefleet.yaml
    assert set(trials["training_iteration"]) <= set(rungs)  # every trial stopped at a rung or the end
