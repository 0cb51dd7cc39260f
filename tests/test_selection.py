"""The selection phase end to end: a real sweep with ``select:``, its driver killed during the
selection, ``tunefleet resume``, then what ``analyze`` and ``report`` say.

One sweep (3 search trials, then 2 finalists + the defaults x 2 seeds) serves every test here:
the driver is SIGKILLed while two selection trials have finished and two wait (the trainable
holds seed 2 at iteration 2 until a file appears), then the sweep is resumed.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.reliability.interrupting import interrupt, start, wait_until
from tests.support import tunefleet
from tunefleet import cli
from tunefleet.analysis import load_results
from tunefleet.analysis.report import build_report
from tunefleet.rundir import read_selection_plan, saved_trials, selection_directory

TOP_K, SEEDS = 2, 2


@dataclass
class Selected:
    directory: Path
    log: Path
    executed_before_kill: list[tuple[str, int, int]]
    finished_before_kill: set[str]
    held_at_kill: set[str]
    resume_stdout: str


def _executed(log: Path) -> list[tuple[str, int, int]]:
    """``(trial_id, iteration, seed)`` per iteration the trials executed, in order."""
    if not log.exists():
        return []
    return [(t, int(i), int(s)) for t, i, s in (line.split() for line in log.read_text().splitlines())]


@pytest.fixture(scope="module")
def selected(tmp_path_factory: pytest.TempPathFactory) -> Selected:
    root = tmp_path_factory.mktemp("selection")
    log, hold = root / "runs.log", root / "release"
    experiment = {
        "name": "selection",
        "trainable": "tests.support:noisy",
        "metric": "score",
        "mode": "max",
        "num_samples": 3,
        "max_iterations": 2,
        "search": {"algorithm": "random", "seed": 0, "max_concurrent": 2},
        "space": {"x": {"uniform": [0.0, 1.0]}, "log": str(log), "hold": str(hold), "hold_seed": 2},
        "storage": str(root / "results"),
        "select": {"top_k": TOP_K, "seeds": SEEDS, "include_defaults": True},
    }
    path = root / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    directory = root / "results" / "selection"
    sel_dir = selection_directory(directory)

    def two_finished_two_held() -> bool:
        states = saved_trials(sel_dir)
        held = {p.name.rsplit(".", 1)[1] for p in root.glob("release.*")}
        finished = [t for t, (status, _) in states.items() if status == "TERMINATED"]
        waiting = [t for t in held if states.get(t, ("", 0))[1] == 1]
        return len(finished) == 2 and len(waiting) == 2

    proc = start("run", str(path))
    wait_until(two_finished_two_held, proc, timeout=240)
    states = saved_trials(sel_dir)
    executed_before_kill = _executed(log)
    held_at_kill = {p.name.rsplit(".", 1)[1] for p in root.glob("release.*")}
    interrupt(proc, signal.SIGKILL)
    hold.write_text("")
    resumed = tunefleet("resume", str(directory), timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return Selected(
        directory=directory,
        log=log,
        executed_before_kill=executed_before_kill,
        finished_before_kill={t for t, (status, _) in states.items() if status == "TERMINATED"},
        held_at_kill=held_at_kill,
        resume_stdout=resumed.stdout,
    )


def _selection_configs(selected: Selected) -> dict[str, dict[str, Any]]:
    return load_results(selection_directory(selected.directory)).configs()


def test_every_finalist_is_retrained_once_with_each_fresh_seed_tagged_in_its_config(
    selected: Selected,
) -> None:
    configs = _selection_configs(selected)

    # The search ran with the default seed 0; the selection uses the seeds after it.
    assert Counter((c["finalist"], c["seed"]) for c in configs.values()) == {
        (tag, seed): 1 for tag in (1, 2, "defaults") for seed in (1, 2)
    }
    assert load_results(selection_directory(selected.directory)).summary()["status_counts"] == {
        "TERMINATED": 6  # the trainable refuses unknown keys: it never saw the tag
    }


def test_the_finalists_are_the_top_trials_as_analyze_ranks_them_and_the_defaults(selected: Selected) -> None:
    summary = load_results(selected.directory).summary(top=TOP_K)
    plan = read_selection_plan(selection_directory(selected.directory))

    assert plan is not None
    assert [f["trial_id"] for f in plan["finalists"]] == [t["trial_id"] for t in summary["top"]] + [None]
    best = summary["top"][0]["config"]
    assert plan["finalists"][0]["config"] == best
    assert plan["finalists"][2]["config"] == {**{k: v for k, v in best.items() if k != "x"}, "x": 0.5}


def test_distinct_seeds_give_distinct_runs(selected: Selected) -> None:
    selection = load_results(selected.directory).summary()["selection"]

    for finalist in selection["finalists"]:
        assert finalist["seeds"] == [1, 2]
        assert len(set(finalist["values"])) == SEEDS
        assert len(set(finalist["test_metrics"]["test_score"]["values"])) == SEEDS


def test_a_killed_selection_resumes_without_rerunning_finished_trials(selected: Selected) -> None:
    executed = _executed(selected.log)
    selection_trials = set(_selection_configs(selected))
    runs = Counter((trial, iteration) for trial, iteration, _ in executed)

    assert len(selected.finished_before_kill) == 2 and len(selected.held_at_kill) == 2
    assert len(selection_trials) == 6  # the searcher's state was restored: no config suggested twice
    # Finished trials were kept: none ran an iteration again.
    assert {t for (t, _), n in runs.items() if n > 1} & selected.finished_before_kill == set()
    for trial in selected.finished_before_kill:
        assert [(t, i) for t, i, _ in executed if t == trial] == [(trial, 1), (trial, 2)]
        assert (trial, 2) in {(t, i) for t, i, _ in selected.executed_before_kill}
    # Held ones continued: from their checkpoint, or, where Ray's last snapshot did not name it
    # yet, from the start (work after the last snapshot is redone, as after any SIGKILL).
    history = load_results(selection_directory(selected.directory)).history()
    for trial in selected.held_at_kill:
        assert [i for t, i, _ in selected.executed_before_kill if t == trial] == [1]
        assert [i for t, i, _ in executed if t == trial][-1] == 2
        assert list(history[history["trial_id"] == trial]["training_iteration"]) == [1, 2]
    # The resumed sweep's summary has the selection.
    assert "Verdict: Finalist " in selected.resume_stdout


def test_analyze_json_and_the_report_give_each_finalists_statistics_and_the_verdict(
    selected: Selected,
) -> None:
    result = CliRunner().invoke(cli.main, ["analyze", str(selected.directory), "--format", "json"])
    selection = json.loads(result.stdout)["selection"]
    html = build_report(load_results(selected.directory))

    assert result.exit_code == 0, result.output
    assert [f["finalist"] for f in selection["finalists"]] == [1, 2, "defaults"]
    for finalist in selection["finalists"]:
        assert finalist["n"] == SEEDS
        low, high = finalist["ci"]
        assert low < finalist["mean"] < high
        assert finalist["std"] > 0
    verdict = selection["verdict"]
    assert verdict["winner"] in (1, 2)
    assert [c["against"] for c in verdict["comparisons"]] == ["runner-up", "defaults"]
    assert all(0 <= c["p_value"] <= c["p_adjusted"] <= 1 for c in verdict["comparisons"])
    section = html.split('<section id="selection">', 1)[1].split("</section>", 1)[0]
    assert "Verdict:" in section and "Welch" in section and "test_score" in section
