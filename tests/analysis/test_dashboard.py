"""The live dashboard's server over a hand-written experiment directory (no Ray, no browser).

tests/test_dashboard_browser.py runs it in a real Chromium over a real sweep.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.analysis.helpers import EXTERNAL, HandWrittenSweep
from tunefleet import cli
from tunefleet.analysis import dashboard, load_results, report
from tunefleet.analysis.dashboard import LIVE_SECTIONS, DashboardServer, LiveExperiment, start_dashboard
from tunefleet.analysis.interface import Results
from tunefleet.analysis.report import Section
from tunefleet.rundir import directory_stamp


@pytest.fixture
def sweep(tmp_path: Path) -> HandWrittenSweep:
    """Two trials, one finished and one running."""
    sweep = HandWrittenSweep(tmp_path / "live")
    sweep.add_trial("a_00000", [0.2, 0.5, 0.7], status="TERMINATED")
    sweep.add_trial("a_00001", [0.1, 0.3])
    return sweep


@pytest.fixture
def server(sweep: HandWrittenSweep) -> Iterator[DashboardServer]:
    """The dashboard of ``sweep`` on a free port; every poll reads the directory, every ask redraws."""
    live = LiveExperiment(sweep.path, lambda: load_results(sweep.path), render_interval=0, stamp_ttl=0)
    live.check()
    server = start_dashboard(live, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _request(
    server: DashboardServer, path: str, method: str = "GET", host: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """The raw answer to ``method path`` (http.client sends the path as given, ``..`` included)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.putrequest(method, path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _json(server: DashboardServer, path: str) -> Any:
    status, headers, body = _request(server, path)
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(body)


def test_the_summary_endpoint_answers_what_analyze_would_print_as_json(
    server: DashboardServer, sweep: HandWrittenSweep
) -> None:
    answer = _json(server, "/api/summary")

    assert answer["summary"] == load_results(sweep.path).summary(top=10)
    assert answer["summary"]["num_trials"] == 2
    assert answer["summary"]["best"]["trial_id"] == "a_00000"
    assert answer["error"] is None
    assert answer["version"] == directory_stamp(sweep.path).key
    assert answer["changed_ago_s"] >= 0


def test_the_sections_are_the_reports_live_ones_and_are_sent_again_only_when_they_changed(
    server: DashboardServer,
) -> None:
    answer = _json(server, "/api/sections")

    assert [s["id"] for s in answer["sections"]] == list(LIVE_SECTIONS)
    by_id = {s["id"]: s["html"] for s in answer["sections"]}
    assert "<h3>Best trial: a_00000</h3>" in by_id["summary"]
    assert 'src="data:image/png;base64,' in by_id["learning-curves"]
    assert 'src="data:image/png;base64,' in by_id["history"]
    assert "No trial failed." in by_id["errors"]
    assert not any(EXTERNAL.search(s["html"]) for s in answer["sections"])
    again = _json(server, f"/api/sections?have={answer['version']}")
    assert again == {"version": answer["version"], "sections": None, "due_in_s": None}


def test_the_page_loads_only_its_own_script_and_forbids_the_browser_anything_else(
    server: DashboardServer,
) -> None:
    status, headers, body = _request(server, "/")
    page = body.decode()

    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<b id="trial-count">' in page and '<b id="best-value">' in page
    assert '<script src="/dashboard.js" defer></script>' in page
    assert not EXTERNAL.search(page)
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, headers, script = _request(server, "/dashboard.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "http" not in script.decode().replace('"/api/', "")


@pytest.mark.parametrize(
    "path",
    [
        "/tunefleet.yaml",
        "/../tunefleet.yaml",
        "/api/../tunefleet.yaml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/train_fn_a_00000/result.json",
        "/api/summary/../../../etc/passwd",
        "//etc/passwd",
        "/index.html",
    ],
)
def test_a_path_outside_its_routes_is_not_found(server: DashboardServer, path: str) -> None:
    status, _, body = _request(server, path)

    assert (status, body) == (404, b"not found\n")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_it_answers_get_only(server: DashboardServer, sweep: HandWrittenSweep, method: str) -> None:
    before = directory_stamp(sweep.path)

    status, _, _ = _request(server, "/api/summary", method=method)

    assert status == 501
    assert directory_stamp(sweep.path) == before


def test_on_loopback_it_answers_only_requests_addressed_to_a_loopback_name(server: DashboardServer) -> None:
    port = server.server_address[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
        assert _request(server, "/api/summary", host=host)[0] == 200, host
    for host in (f"attacker.example:{port}", "192.168.1.7", ""):  # DNS rebinding, or no name
        assert _request(server, "/api/summary", host=host)[0] == 403, host


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's sections without figures (drawing them takes seconds; one test draws them)."""
    monkeypatch.setattr(dashboard, "LIVE_SECTIONS", ("summary", "errors"))


@pytest.mark.usefixtures("no_figures")
def test_a_growing_directory_shows_the_new_trials_and_results_on_the_next_poll(
    server: DashboardServer, sweep: HandWrittenSweep, caplog: pytest.LogCaptureFixture
) -> None:
    first = _json(server, "/api/summary")
    drawn = _json(server, "/api/sections")

    sweep.add_trial("a_00002", [0.4, 0.9])  # a new trial overtakes the best
    sweep.add_trial("a_00003", [], status="PENDING")  # and one that has not reported yet
    with (sweep.path / "train_fn_a_00001" / "result.json").open("a") as file:
        file.write('{"score": 0.35, "training_it')  # a result Ray is writing at this moment
    with caplog.at_level(logging.WARNING):
        answer = _json(server, "/api/summary")

    assert answer["version"] != first["version"]
    assert answer["summary"]["num_trials"] == 4
    assert answer["summary"]["status_counts"] == {"TERMINATED": 1, "RUNNING": 2, "PENDING": 1}
    assert answer["summary"]["best"]["trial_id"] == "a_00002"
    assert answer["error"] is None
    assert caplog.records == []  # a line being written is no broken file
    redrawn = _json(server, f"/api/sections?have={drawn['version']}")
    assert redrawn["version"] == answer["version"]
    assert "<h3>Best trial: a_00002</h3>" in redrawn["sections"][0]["html"]


def test_an_unreadable_state_keeps_the_last_view_and_says_why(
    server: DashboardServer, sweep: HandWrittenSweep
) -> None:
    _json(server, "/api/summary")
    state = next(sweep.path.glob("experiment_state-*.json"))
    state.write_text(state.read_text()[:100])  # caught while Ray rewrites it

    answer = _json(server, "/api/summary")

    assert answer["summary"]["num_trials"] == 2
    assert "cannot read the experiment state" in answer["error"]
    sweep.save_state(a_00001="TERMINATED")
    answer = _json(server, "/api/summary")
    assert answer["error"] is None
    assert answer["summary"]["status_counts"] == {"TERMINATED": 2}


@pytest.mark.usefixtures("no_figures")
def test_figures_are_redrawn_at_most_once_per_render_interval(sweep: HandWrittenSweep) -> None:
    live = LiveExperiment(sweep.path, lambda: load_results(sweep.path), render_interval=3600, stamp_ttl=0)
    drawn = live.sections()
    sweep.report("a_00001", 0.99)

    later = live.sections(have=drawn["version"])

    assert later["version"] == drawn["version"] and later["sections"] is None
    assert 3590 < later["due_in_s"] <= 3600
    assert live.summary()["summary"]["best"]["trial_id"] == "a_00001"  # the numbers follow at once


def test_the_numbers_follow_the_directory_while_the_figures_are_drawn(
    sweep: HandWrittenSweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawing, release = threading.Event(), threading.Event()

    def slow_figure(results: Results, summary: Mapping[str, Any]) -> str:
        drawing.set()
        release.wait(timeout=60)
        return "<p>drawn</p>"

    monkeypatch.setattr(report, "SECTIONS", (Section("slow", "Slow", slow_figure),))
    monkeypatch.setattr(dashboard, "LIVE_SECTIONS", ("slow",))
    live = LiveExperiment(sweep.path, lambda: load_results(sweep.path), render_interval=0, stamp_ttl=0)
    drawer = threading.Thread(target=live.sections)
    drawer.start()
    try:
        assert drawing.wait(timeout=60)
        sweep.report("a_00001", 0.99)
        answers: list[dict[str, Any]] = []
        asking = threading.Thread(target=lambda: answers.append(live.summary()))
        asking.start()
        asking.join(timeout=30)  # the drawing waits for `release`: a summary waiting for it never comes

        assert [answer["summary"]["best"]["trial_id"] for answer in answers] == ["a_00001"]
    finally:
        release.set()
        drawer.join()


def test_the_directory_stamp_changes_when_a_file_analysis_reads_changes(sweep: HandWrittenSweep) -> None:
    before = directory_stamp(sweep.path)
    (sweep.path / "train_fn_a_00000" / "checkpoint_000000").mkdir()  # not read by analysis

    assert directory_stamp(sweep.path) == before
    sweep.report("a_00001", 0.4)
    assert directory_stamp(sweep.path).key != before.key
    assert directory_stamp(sweep.path / "missing").changed_at is None


# -- the command line -------------------------------------------------------------------------


def test_a_directory_that_is_not_an_experiment_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["dashboard", str(tmp_path)])

    assert result.exit_code == 2
    assert result.output == (
        f"error: {tmp_path} is not a Ray Tune experiment directory: no experiment_state-*.json\n"
    )


def test_a_port_in_use_is_one_line_and_exit_2(sweep: HandWrittenSweep) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = CliRunner().invoke(cli.main, ["dashboard", str(sweep.path), "--port", str(port)])

    assert result.exit_code == 2
    assert result.output == (
        f"error: cannot serve the dashboard on 127.0.0.1:{port}: Address already in use; pick another "
        "with --port (0: any free port)\n"
    )
