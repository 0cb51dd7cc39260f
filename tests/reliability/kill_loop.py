"""Many random SIGKILLs of one sweep, then a final resume; checks that nothing was lost.

The CI test (``test_kill_and_resume.py``) interrupts a sweep three times; this one-off loop runs
``--chains`` sweeps, each SIGKILLed ``--kills`` times at random moments (a random delay after the
driver's first progress), alternating ``tunefleet run --resume`` and ``tunefleet resume``::

    RAY_TMPDIR=/tmp/ray python -m tests.reliability.kill_loop --chains 5 --kills 4 --seed 1
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import time
from pathlib import Path

from tests.reliability.helpers import executed, iterations_by_trial
from tests.reliability.interrupting import (
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

NUM_SAMPLES, ITERATIONS = 6, 8


def one_chain(directory: Path, kills: int, rng: random.Random) -> str:
    experiment = hyperopt_sweep(directory, NUM_SAMPLES, ITERATIONS, seed=rng.randrange(1000))
    log, path = directory / "runs.log", directory / "results" / "reliability"
    commands = [["run", str(experiment)], ["run", str(experiment), "--resume"], ["resume", str(path)]]
    snapshots, delays = [], []
    for kill in range(kills):
        proc = start(*commands[min(kill, 1 + kill % 2)])
        try:
            wait_until(lambda proc=proc: progress_of(proc, log) > 0, proc)
        except AssertionError as error:
            if proc.returncode:
                raise
            print(f"  the sweep finished before kill point {kill + 1}: {error}", flush=True)
            break
        delays.append(rng.uniform(0.0, 2.0))
        time.sleep(delays[-1])
        interrupt(proc, signal.SIGKILL)
        snapshots.append(read_snapshot(path, log))
    final = finish(start("resume", str(path)))
    assert final.code == 0, final.stderr[-3000:]
    assert not final.left_behind, final.left_behind
    results = load_results(path)
    history = iterations_by_trial(results.history())
    assert len(history) == NUM_SAMPLES, history
    check_nothing_lost(history, snapshots, log, ITERATIONS)
    repeated = len(executed(log)) - NUM_SAMPLES * ITERATIONS
    return (
        f"{len(snapshots)} kills at {', '.join(f'{d:.2f}s' for d in delays)} after progress; "
        f"{NUM_SAMPLES} trials x {ITERATIONS} iterations complete, each once; "
        f"{repeated} iterations redone after kills"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chains", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for chain in range(args.chains):
        with tempfile.TemporaryDirectory() as directory:
            print(f"chain {chain + 1}: {one_chain(Path(directory), args.kills, rng)}", flush=True)


if __name__ == "__main__":
    main()
