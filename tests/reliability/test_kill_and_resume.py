"""A sweep interrupted every way a driver is stopped resumes to the end with every trial exactly
once and its full history; finished trials are never run again.

One sweep goes through all of it, each interruption at a random moment after the driver's own
trials made progress: ``tunefleet run --name chain`` is SIGKILLed alone (as ``kill -9 PID`` or the
OOM killer would: nothing of its embedded Ray may be left), ``tunefleet run --resume`` gets a
SIGTERM (Slurm, Kubernetes, ``timeout``), ``tunefleet resume`` a Ctrl-C (SIGINT), and a last
``tunefleet resume`` completes it. Each driver starts its own local Ray. The moments are seeded
(``TUNEFLEET_KILL_SEED``); ``kill_loop.py`` SIGKILLs many more sweeps, many more times.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cloudpickle
import pytest

from tests.reliability.helpers import iterations_by_trial
from tests.reliability.interrupting import (
    Finished,
    Snapshot,
    check_nothing_lost,
    finish,
    hyperopt_sweep,
    interrupt,
    kill_driver_alone,
    progress_of,
    read_snapshot,
    start,
    wait_until,
)
from tunefleet.analysis import load_results

pytestmark = pytest.mark.slow

NUM_SAMPLES, ITERATIONS = 4, 10
#: Seconds after a driver's first progress within which the interruption lands. The later ones
#: come sooner: the sweep must still be unfinished after three sessions' worth of progress.
KILL_WITHIN, STOP_WITHIN = 1.5, 0.5
NAME = "chain"

T = TypeVar("T")


class Chain:
    """The sweep, and what each interruption left behind."""

    def __init__(self, directory: Path, seed: int) -> None:
        self.experiment = hyperopt_sweep(directory, NUM_SAMPLES, ITERATIONS)
        self.log = directory / "runs.log"
        self.path = directory / "results" / NAME
        self.rng = random.Random(seed)
        self.snapshots: list[Snapshot] = []
        self.killed_alone: tuple[list[str], str] = ([], "")
        self.sigterm: tuple[int, str] = (0, "")
        self.ctrl_c: tuple[int, str] = (0, "")
        self.final: Finished | None = None

    def interrupt_at_random(self, stop: Callable[..., T], within: float, *args: str) -> T:
        proc = start(*args)
        wait_until(lambda: progress_of(proc, self.log) > 0, proc)  # this driver's trials ran
        time.sleep(self.rng.uniform(0.0, within))
        result = stop(proc)
        self.snapshots.append(read_snapshot(self.path, self.log))
        return result


def signal_of(sig: signal.Signals) -> Callable[..., tuple[int, str]]:
    return lambda proc: interrupt(proc, sig)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    seed = int(os.environ.get("TUNEFLEET_KILL_SEED", "6"))
    chain = Chain(tmp_path_factory.mktemp("killed"), seed)
    run = ("run", str(chain.experiment), "--name", NAME)
    chain.killed_alone = chain.interrupt_at_random(kill_driver_alone, KILL_WITHIN, *run)
    chain.sigterm = chain.interrupt_at_random(signal_of(signal.SIGTERM), STOP_WITHIN, *run, "--resume")
    chain.ctrl_c = chain.interrupt_at_random(signal_of(signal.SIGINT), STOP_WITHIN, "resume", str(chain.path))
    chain.final = finish(start("resume", str(chain.path)))
    return chain


def test_a_driver_killed_alone_leaves_no_process_of_its_ray_behind(chain: Chain) -> None:
    # Ray's agents would outlive it by a minute, trying to tell the dead GCS that the raylet died.
    left, _ = chain.killed_alone
    assert left == []


def test_sigterm_stops_the_sweep_like_ctrl_c_and_prints_the_resume_command(chain: Chain) -> None:
    code, stderr = chain.sigterm
    assert code == 3, stderr[-3000:]
    assert f"Resume with:\n  tunefleet resume {chain.path}\n" in stderr
    assert "Traceback" not in stderr
    assert "SIGTERM received" not in stderr  # Ray's native stack dump


def test_the_run_header_names_the_run_not_the_experiment_file(chain: Chain) -> None:
    _, killed_stderr = chain.killed_alone
    assert f"tunefleet: {NAME}: {NUM_SAMPLES} trials" in killed_stderr  # run --name chain
    assert f"tunefleet: {NAME}: {NUM_SAMPLES} trials" in chain.sigterm[1]  # run --name chain --resume


def test_ctrl_c_stops_gracefully_and_prints_the_resume_command(chain: Chain) -> None:
    code, stderr = chain.ctrl_c
    assert code == 3, stderr[-3000:]
    assert f"Resume with:\n  tunefleet resume {chain.path}\n" in stderr
    assert "Traceback" not in stderr


def test_the_resumed_sweep_completes(chain: Chain) -> None:
    assert chain.final is not None
    assert chain.final.code == 0, chain.final.stderr[-3000:]
    assert f"Results: {chain.path}" in chain.final.stdout


def test_every_trial_appears_once_with_its_full_history(chain: Chain) -> None:
    results = load_results(chain.path)
    trials = results.trials()
    assert len(trials) == NUM_SAMPLES and trials["trial_id"].is_unique
    assert set(trials["status"]) == {"TERMINATED"}
    check_nothing_lost(iterations_by_trial(results.history()), chain.snapshots, chain.log, ITERATIONS)


def test_hyperopt_resumes_with_everything_it_learned(chain: Chain) -> None:
    # The searcher's state saved by the last session holds every trial of every session, each
    # with its result: TPE proposed the later trials knowing the earlier ones.
    newest = sorted(chain.path.glob("searcher-state-*.pkl"))[-1]
    state = cloudpickle.loads(newest.read_bytes())
    hyperopt_trials = state["_hpopt_trials"].trials
    assert len(hyperopt_trials) == NUM_SAMPLES
    assert all(t["result"]["status"] == "ok" for t in hyperopt_trials)


def test_the_finished_sweep_leaves_no_process_behind(chain: Chain) -> None:
    # The last driver ran to its end: its Ray and Ray's workers (its session) ended with it.
    assert chain.final is not None
    assert chain.final.left_behind == []
