"""Every benchmark script stays runnable: its ``--smoke`` version runs and writes sane figures.

Timings are never asserted (the machine may be busy); what is checked is that each script
completes, records the machine and produces the figures BENCHMARKS.md quotes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def run_smoke(script: str, tmp_path: Path) -> dict[str, Any]:
    output = tmp_path / f"{script}.json"
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--smoke", "--output", str(output)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads(output.read_text())
    assert document["smoke"] is True
    assert document["machine"]["cpu_count"] >= 1
    assert len(document["load_average_start"]) == 3 and len(document["load_average_end"]) == 3
    assert document["tables"] and all(table["rows"] for table in document["tables"])
    return document


def test_overhead_smoke_compares_tunefleet_with_ray_tune(tmp_path: Path) -> None:
    figures = run_smoke("overhead", tmp_path)["figures"]
    assert set(figures["runs"]) == {"tunefleet-class", "ray-tuned-class"}
    assert figures["ratios"]["tunefleet-class / ray-tuned-class"] > 0


def test_trainable_efficiency_smoke_pairs_each_round(tmp_path: Path) -> None:
    figures = run_smoke("trainable_efficiency", tmp_path)["figures"]
    assert set(figures) == {"wall", "cpu", "train"}
    for measured in figures.values():
        assert len(measured["raw"]["tunefleet"]) == len(measured["raw"]["bare"]) == 2
        assert measured["ratio"]["median"] > 0


def test_searcher_fidelity_smoke_never_beats_the_known_optimum(tmp_path: Path) -> None:
    from benchmarks.objectives import OBJECTIVES

    figures = run_smoke("searcher_fidelity", tmp_path)["figures"]
    for name, objective in OBJECTIVES.items():
        for method in ("tunefleet hyperopt", "hyperopt fmin TPE", "random (fmin rand)"):
            best = figures[name][method]["best_after"]
            assert best["5"]["median"] >= best["10"]["median"] >= objective.minimum - 1e-5


def test_scale_smoke_completes_and_analyzes_every_trial(tmp_path: Path) -> None:
    figures = run_smoke("scale", tmp_path)["figures"]
    assert figures["returncode"] == 0 and not figures["timed_out"]
    assert figures["trials_completed"] == figures["trial_directories"] == 30
    assert figures["peak_driver_rss_mib"] > 0 and figures["experiment_dir_files"] > 30


def test_objectives_take_their_known_minimum_at_the_known_minimizer() -> None:
    from benchmarks.objectives import OBJECTIVES

    branin, hartmann6 = OBJECTIVES["branin"], OBJECTIVES["hartmann6"]
    assert branin({"x1": 3.141593, "x2": 2.275}) == pytest.approx(branin.minimum, abs=1e-5)
    minimizer = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
    assert hartmann6(dict(zip(hartmann6.names, minimizer, strict=True))) == pytest.approx(
        hartmann6.minimum, abs=1e-4
    )
