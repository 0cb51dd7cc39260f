"""The README's data-parallel example, through the real command line: a user's Dataset-based
trainable with two one-CPU workers per trial and bf16, under ASHA, is SIGKILLed once a trial has
checkpointed, then resumed to the end.

The example's module and experiment are taken from the README as written; the data is CSV files
in the format it reads, generated here. Every trial restarts from its last checkpoint in new
processes: the resumed driver's own Ray, trial processes and workers.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.helpers import iterations_by_trial
from tests.reliability.interrupting import finish, interrupt, start, wait_until
from tests.support import REPO
from tunefleet.analysis import load_results
from tunefleet.rundir.resuming import saved_trials

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text()


def readme_block(language: str, containing: str) -> str:
    return next(b for b in re.findall(rf"```{language}\n(.*?)```", README, flags=re.S) if containing in b)


def write_table(directory: Path, seed: int = 0) -> Path:
    """``train.csv``, ``val.csv``, ``test.csv``: 6 features, then a label of 3 classes."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 6))
    for split, n in (("train", 600), ("val", 150), ("test", 150)):
        labels = rng.integers(0, 3, size=n)
        rows = np.column_stack([centres[labels] + rng.normal(scale=1.5, size=(n, 6)), labels])
        header = ",".join([*(f"x{i}" for i in range(6)), "label"])
        np.savetxt(directory / f"{split}.csv", rows, delimiter=",", header=header, comments="", fmt="%.6g")
    return directory


def checkpointed(experiment_dir: Path) -> bool:
    return any(experiment_dir.glob("*/checkpoint_*/state.pt"))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    project = tmp_path_factory.mktemp("project")
    (project / "my_tabular.py").write_text(readme_block("python", "class TabularMLP"))
    (project / "exp.yaml").write_text(readme_block("yaml", "my_tabular:TabularMLP"))
    data = write_table(project / "table")
    storage = project / "results"
    overrides = [
        f"space.data_dir={data}",
        "num_samples=3",
        "max_iterations=3",
        "space.steps_per_iteration=5",
        "space.batch_size=64",
        "checkpoint.frequency=1",
    ]
    args = ["run", str(project / "exp.yaml"), "--storage", str(storage)]
    proc = start(*args, *(a for o in overrides for a in ("--set", o)))
    path = storage / "exp"
    wait_until(lambda: checkpointed(path), proc)
    interrupt(proc, signal.SIGKILL)
    killed = saved_trials(path)  # what the resume starts from
    assert any(status != "TERMINATED" for status, _ in killed.values()), killed
    final = finish(start("resume", str(path)))
    assert final.code == 0, final.stderr[-3000:]
    assert final.left_behind == []  # workers and their DataLoaders ended with the sweep
    return path, final.stdout


def test_a_killed_data_parallel_sweep_resumes_to_the_end(resumed: tuple[Path, str]) -> None:
    path, stdout = resumed
    assert f"Results: {path}" in stdout
    results = load_results(path)
    trials = results.trials()
    assert len(trials) == 3 and set(trials["status"]) == {"TERMINATED"}
    history = results.history()
    assert set(history["world_size"]) == {2}
    for trial, iterations in iterations_by_trial(history).items():
        assert iterations == list(range(1, len(iterations) + 1)), (trial, iterations)
