"""The HTML report: self-contained, every section, PBT lineage from a constructed file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.analysis.helpers import EXTERNAL, copy_without
from tunefleet.analysis import load_results, report
from tunefleet.analysis.interface import Results
from tunefleet.analysis.report import SECTIONS, Section, build_report
from tunefleet.rundir import STDOUT_FILE

pytestmark = pytest.mark.slow


def _section(html: str, key: str) -> str:
    return html.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]


def test_the_report_is_self_contained_and_has_every_section(lr_experiment: Path) -> None:
    html = build_report(load_results(lr_experiment))

    assert not EXTERNAL.search(html)
    assert "<script" not in html
    for section in SECTIONS:
        assert f'<section id="{section.id}"><h2>{section.title}</h2>' in html
        assert f'<a href="#{section.id}">{section.title}</a>' in html
    for key in (
        "history",
        "learning-curves",
        "importance",
        "marginal-effects",
        "parallel-coordinates",
        "compute",
    ):
        assert '<img alt="' in _section(html, key), key
        assert 'src="data:image/png;base64,' in _section(html, key), key
    assert "random-forest permutation importance" in _section(html, "importance")
    assert "scored out of bag" in _section(html, "importance")
    assert "lr: log (tunefleet.yaml)" in _section(html, "importance")
    assert "loguniform" in _section(html, "experiment-file")  # the YAML as it was run
    assert "test_score" in _section(html, "summary")  # the best trial's test metric
    assert "No trial failed." in _section(html, "errors")


def test_a_section_added_to_the_registry_is_linked_and_drawn_after_the_others(
    lr_experiment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def best_trial(results: Results, summary: Mapping[str, Any]) -> str:
        return f"<p>{summary['best']['trial_id']} of {results.name}</p>"

    monkeypatch.setattr(report, "SECTIONS", (*SECTIONS, Section("best-trial", "Best trial", best_trial)))
    results = load_results(lr_experiment)

    html = build_report(results)

    assert (
        f'<a href="#{SECTIONS[-1].id}">{SECTIONS[-1].title}</a> <a href="#best-trial">Best trial</a>' in html
    )
    best = results.summary()["best"]["trial_id"]
    assert _section(html, "best-trial") == f"<h2>Best trial</h2>\n<p>{best} of lr-only</p>\n"
    assert html.index('<section id="best-trial">') > html.index(f'<section id="{SECTIONS[-1].id}">')


def test_the_rungs_section_draws_the_rungs_of_any_scheduler_whose_plugin_has_them(
    lr_experiment: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "bohb"
    shutil.copytree(lr_experiment, copy)
    settings = yaml.safe_load((copy / "tunefleet.yaml").read_text())
    settings["scheduler"] = {"type": "bohb", "reduction_factor": 2}
    (copy / "tunefleet.yaml").write_text(yaml.safe_dump(settings))

    rungs = _section(build_report(load_results(copy)), "rungs")

    assert "Bars: rungs of the bohb scheduler." in rungs
    assert '<img alt="rungs"' in rungs


def test_a_plain_ray_tune_sweep_reports_errors_with_tracebacks(fifo_experiment: Path, tmp_path: Path) -> None:
    copy = copy_without(fifo_experiment, tmp_path / "plain", "tunefleet.yaml")  # as if by Ray Tune alone

    html = build_report(load_results(copy))

    assert not EXTERNAL.search(html)
    assert "ValueError: loss diverged at lr=0.1" in _section(html, "errors")
    assert "<pre>" in _section(html, "errors")
    assert "1 diverged" in _section(html, "summary")  # the trial whose score went NaN
    assert "No tunefleet.yaml" in _section(html, "experiment-file")
    assert "Not a Population Based Training experiment" in _section(html, "pbt")


def test_a_failed_trials_last_output_is_shown_under_its_error(fifo_experiment: Path, tmp_path: Path) -> None:
    copy = tmp_path / "printed"
    shutil.copytree(fifo_experiment, copy)
    error_file = Path(load_results(copy).errors()["error_file"].iloc[0])
    (error_file.parent / STDOUT_FILE).write_text("step 1\nloading shard 3 of 8 <train>\n")

    errors = _section(build_report(load_results(copy)), "errors")

    assert "What the trial printed last:" in errors
    assert "==&gt; stdout &lt;==\nstep 1\nloading shard 3 of 8 &lt;train&gt;" in errors


def test_a_pbt_lineage_file_gives_the_lineage_and_the_best_trials_schedule(
    fifo_experiment: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "pbt"
    shutil.copytree(fifo_experiment, copy)
    results = load_results(copy)
    ranked = list(results.trials()["trial_id"])
    best, other = ranked[0], ranked[1]
    step = {
        "time": 1.0,
        "trial": best,
        "iteration": 2,
        "source_trial": other,
        "source_iteration": 2,
        "old_config": {"optim": {"lr": 0.1}},
        "new_config": {"optim": {"lr": 0.125}},
    }
    (copy / "pbt_lineage.jsonl").write_text(json.dumps(step) + "\n")

    pbt = _section(build_report(load_results(copy)), "pbt")

    assert pbt.count("<img") == 2  # lineage and schedule
    assert f'<td class="l">{other}</td>' in pbt and "optim/lr=0.125" in pbt
