"""Signals that stop a sweep: SIGTERM is handled like a first Ctrl-C (stopped, saved, resumable).

SIGTERM is how Slurm, Kubernetes and ``timeout`` stop a job. Ray Tune stops a sweep gracefully
(a final snapshot, running trials left resumable) on SIGINT and SIGUSR1, whose handler it
installs when the sweep starts (``ray.tune.tune._setup_signal_catching``, Ray 2.60); on SIGTERM
the driver died with Ray's native stack dump.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from tunefleet.errors import Terminated

__all__ = ["handle_sigterm_again", "sigterm_stops_sweep"]

logger = logging.getLogger(__name__)


#: The SIGTERM handler of the active :func:`sigterm_stops_sweep`, if any.
_sigterm_handler: Callable[[int, Any], None] | None = None


@contextlib.contextmanager
def sigterm_stops_sweep() -> Iterator[None]:
    """While the block (or the decorated function) runs, SIGTERM stops the sweep as a first Ctrl-C does.

    SIGTERM is how Slurm, Kubernetes and ``timeout`` stop a job. Ray Tune stops a sweep gracefully
    (a final snapshot, running trials left resumable) on SIGINT and SIGUSR1, whose handler it
    installs when the sweep starts (``ray.tune.tune._setup_signal_catching``, Ray 2.60); on
    SIGTERM the driver died with Ray's native stack dump. Here a first SIGTERM sends the driver
    SIGUSR1 once the sweep runs (as :class:`~tunefleet.run.callbacks.TimeBudget` does); before
    that, or a second time, it raises :class:`~tunefleet.errors.Terminated` at once.

    ``ray.init`` installs its own SIGTERM handler (``sys.exit(signum)``): call
    :func:`handle_sigterm_again` after it. Outside the main thread this does nothing.
    """
    global _sigterm_handler
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def on_sigterm(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping or not callable(signal.getsignal(signal.SIGUSR1)):
            raise Terminated
        stopping = True
        logger.warning("SIGTERM: stopping the sweep (it can be resumed); a second SIGTERM stops it at once")
        os.kill(os.getpid(), signal.SIGUSR1)

    previous_sigterm, previous_handler = signal.signal(signal.SIGTERM, on_sigterm), _sigterm_handler
    # A handler is there only while a sweep runs (Ray never removes its own after one).
    previous_sigusr1 = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    _sigterm_handler = on_sigterm
    try:
        yield
    except SystemExit as exc:
        if exc.code == signal.SIGTERM:  # ray.init's own handler was in place while it ran
            raise Terminated from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        signal.signal(signal.SIGUSR1, previous_sigusr1)
        _sigterm_handler = previous_handler


def handle_sigterm_again() -> None:
    """Install the SIGTERM handler of the active :func:`sigterm_stops_sweep` again (after ``ray.init``)."""
    if _sigterm_handler is not None:
        signal.signal(signal.SIGTERM, _sigterm_handler)
