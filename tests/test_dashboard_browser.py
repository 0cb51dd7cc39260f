"""The live dashboard in a real headless Chromium, over a real sweep that runs while it is watched.

Needs Debian's ``chromium`` (/usr/bin/chromium) and ``playwright`` from PyPI, driving that
Chromium (``playwright install`` is never run: nothing is downloaded). Only with
``pytest -m integrations``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, tunefleet

pytestmark = pytest.mark.integrations

CHROMIUM = Path("/usr/bin/chromium")
# Offline, no first-run work, no GPU; --no-sandbox: tests run as root in a container.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

NUM_TRIALS = 6
# Two trials at a time, three waves of trials taking 5 s each or more: the page sees it running.
EXPERIMENT = f"""\
name: watched
trainable: tests.user_trainables:sleepy_function
metric: score
mode: max
num_samples: {NUM_TRIALS}
max_iterations: 5
search: {{algorithm: random, seed: 0, max_concurrent: 2}}
space: {{x: {{uniform: [0, 1]}}, sleep_s: 1.0}}
resources: {{cpu: 1}}
storage: {{storage}}
"""


def _start(
    *args: str, output: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The real command line in a process group of its own (stopped by its id, never `ray stop`);
    what it prints goes to pipes, or to the file ``output`` (a sweep prints more than a pipe holds)."""
    with output.open("w") if output else contextlib.nullcontext(subprocess.PIPE) as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "tunefleet.cli", *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": "", **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT if output else subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[str]) -> None:
    """End the process and everything it started (its process group), if still running."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.2)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright's own --user-data-dir: a fresh temporary profile per launch.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_the_page_follows_a_running_sweep_to_its_best_trial(browser: Any, tmp_path: Path) -> None:
    experiment = tmp_path / "watched.yaml"
    experiment.write_text(EXPERIMENT.replace("{storage}", str(tmp_path / "results")))
    directory = tmp_path / "results" / "watched"
    # Ray copies results into the directory when it saves the experiment state: by default every
    # max(10 s, 19 x the time a save takes), 40 s and more on a loaded machine, which would leave
    # a sweep this short one or two states to see. Every 2 s here: the directory changes often.
    sweep = _start("run", str(experiment), output=tmp_path / "run.log", env={"TUNE_GLOBAL_CHECKPOINT_S": "2"})
    dashboard = None
    try:
        # Started as soon as the directory exists: before Ray's first experiment state, it waits.
        _wait_for(
            lambda: (directory / "tunefleet.yaml").is_file() or sweep.poll() is not None, 120, "the run"
        )
        assert sweep.poll() is None, (tmp_path / "run.log").read_text()
        dashboard = _start("dashboard", str(directory), "--port", "0")
        assert dashboard.stdout is not None
        line = dashboard.stdout.readline()
        assert line.startswith(f"Dashboard of {directory}: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].split()[0]

        page = browser.new_page()
        page.goto(url)
        seen: list[tuple[str, str]] = []  # (trial count, state) while the sweep ran
        while sweep.poll() is None:
            seen.append((page.text_content("#trial-count") or "", page.text_content("#state") or ""))
            time.sleep(0.5)
        assert sweep.returncode == 0, (tmp_path / "run.log").read_text()

        # Ray copies its state into the directory a few times in a sweep this short: the page
        # shows each copy's count, from fewer trials than the sweep's to all of them.
        counts = [int(count) for count, _ in seen if count.isdigit()]
        assert counts == sorted(counts), seen
        assert any(
            state == "running" and int(count) < NUM_TRIALS for count, state in seen if count.isdigit()
        ), seen
        page.wait_for_selector("#state:text-is('finished')", timeout=30_000)
        analyzed = json.loads(tunefleet("analyze", str(directory), "--format", "json").stdout)
        best = analyzed["best"]
        assert page.text_content("#trial-count") == str(NUM_TRIALS)
        assert float(page.get_attribute("#best-value", "data-value") or "nan") == best["value"]
        assert f"trial {best['trial_id']}," in (page.text_content("#best-trial") or "")
        page.wait_for_selector(f"#summary h3:text-is('Best trial: {best['trial_id']}')", timeout=30_000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        dashboard.send_signal(signal.SIGINT)  # Ctrl-C
        assert dashboard.wait(timeout=30) == 0
        assert dashboard.stderr is not None
        assert dashboard.stderr.read() == "tunefleet: dashboard stopped.\n"
    finally:
        if dashboard is not None:
            _stop(dashboard)
        _stop(sweep)
