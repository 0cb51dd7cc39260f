"""A sweep killed (SIGKILL) at random moments, then stopped with Ctrl-C, resumes to the end with
every trial exactly once and its full history; finished trials are never run again.

One sweep goes through all of it: ``tunefleet run`` is SIGKILLed, ``tunefleet run --resume``
is SIGKILLed, ``tunefleet resume`` gets a Ctrl-C (SIGINT), and a last ``tunefleet resume``
completes it. Each driver starts its own local Ray, and a killed one takes that Ray with it.
The kill moments are random (seeded: ``TUNEFLEET_KILL_SEED``); ``kill_loop.py`` runs many more.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

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
    progress_of,
    read_snapshot,
    start,
    wait_until,
)
from tunefleet.analysis import load_results

pytestmark = pytest.mark.slow

NUM_SAMPLES, ITERATIONS = 4, 10
#: Seconds after a driver's first progress within which the interruption lands. The Ctrl-C comes
#: soon: it must find the sweep unfinished after two sessions' worth of progress.
KILL_WITHIN, CTRL_C_WITHIN = 1.5, 0.5


class Chain:
    """The sweep, and what each interruption left behind."""

    def __init__(self, directory: Path, seed: int) -> None:
        self.experiment = hyperopt_sweep(directory, NUM_SAMPLES, ITERATIONS)
        self.log = directory / "runs.log"
        self.path = directory / "results" / "reliability"
        self.rng = random.Random(seed)
        self.snapshots: list[Snapshot] = []
        self.ctrl_c: tuple[int, str] = (0, "")
        self.final: Finished | None = None

    def interrupt_at_random(self, sig: signal.Signals, within: float, *args: str) -> tuple[int, str]:
        proc = start(*args)
        wait_until(lambda: progress_of(proc, self.log) > 0, proc)  # this driver's trials ran
        time.sleep(self.rng.uniform(0.0, within))
        result = interrupt(proc, sig)
        self.snapshots.append(read_snapshot(self.path, self.log))
        return result


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    seed = int(os.environ.get("TUNEFLEET_KILL_SEED", "6"))
    chain = Chain(tmp_path_factory.mktemp("killed"), seed)
    chain.interrupt_at_random(signal.SIGKILL, KILL_WITHIN, "run", str(chain.experiment))
    chain.interrupt_at_random(signal.SIGKILL, KILL_WITHIN, "run", str(chain.experiment), "--resume")
    chain.ctrl_c = chain.interrupt_at_random(signal.SIGINT, CTRL_C_WITHIN, "resume", str(chain.path))
    last = start("resume", str(chain.path))
    chain.final = finish(last)
    return chain


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
