"""How supervisors stop a driver: SIGTERM (Slurm, Kubernetes, ``timeout``) does what a first
Ctrl-C does, whenever it comes. A real sweep stopped by SIGTERM, and a driver SIGKILLed alone,
are part of the interrupted sweep of ``test_kill_and_resume.py``.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from tunefleet.errors import Terminated
from tunefleet.run.signals import handle_sigterm_again, sigterm_stops_sweep


def sigterm_to_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_before_the_sweep_runs_stops_at_once() -> None:
    with sigterm_stops_sweep(), pytest.raises(Terminated):
        sigterm_to_self()


def test_a_first_sigterm_asks_the_running_sweep_to_stop_and_a_second_stops_at_once() -> None:
    asked: list[int] = []
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)
    with sigterm_stops_sweep():
        # What Ray Tune installs while a sweep runs: SIGUSR1 ends it like a first Ctrl-C.
        signal.signal(signal.SIGUSR1, lambda signum, frame: asked.append(signum))
        sigterm_to_self()
        assert asked == [signal.SIGUSR1]
        with pytest.raises(Terminated):
            sigterm_to_self()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)) == before


def ray_init_handler(signum: int, frame: object) -> None:
    """The SIGTERM handler ``ray.init`` installs."""
    sys.exit(signum)


def test_sigterm_while_ray_starts_stops_at_once() -> None:
    with pytest.raises(Terminated), sigterm_stops_sweep():
        signal.signal(signal.SIGTERM, ray_init_handler)
        sigterm_to_self()


def test_the_handler_ray_init_installs_is_replaced_again() -> None:
    asked: list[int] = []
    with sigterm_stops_sweep():
        signal.signal(signal.SIGTERM, ray_init_handler)
        handle_sigterm_again()
        signal.signal(signal.SIGUSR1, lambda signum, frame: asked.append(signum))
        sigterm_to_self()
    assert asked == [signal.SIGUSR1]
