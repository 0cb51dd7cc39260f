"""Runs refused before they start: one clear error naming the option and what was expected, exit
code 2, no traceback, nothing started and nothing left behind in storage."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import tunefleet
from tunefleet.config import load_experiment
from tunefleet.errors import TunefleetError
from tunefleet.run import run_experiment
from tunefleet.run.session import check_remote_storage

QUADRATIC = """\
    trainable: tests.support:quadratic
    metric: score
    mode: max
    max_iterations: 2
    space: {lr: 0.01}
    """


@pytest.fixture
def experiment(write_experiment: Callable[..., Path]) -> Path:
    return write_experiment(QUADRATIC)


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A local port that accepts connections and never answers: a black-holed endpoint."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield int(server.getsockname()[1])
    server.close()
    for connection in accepted:
        connection.close()


def test_an_address_that_is_not_host_port_exits_2_naming_what_is_expected(
    experiment: Path, tmp_path: Path
) -> None:
    proc = tunefleet("run", str(experiment), "--address", "notahost", "--storage", str(tmp_path / "results"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--address 'notahost': expected 'auto', HOST:PORT" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "address", ["notahost:abc", "host:", ":6379", "10.0.0.5:99999", "http://head:6379", "local"]
)
def test_malformed_addresses_are_refused_before_anything_starts(
    experiment: Path, tmp_path: Path, address: str
) -> None:
    with pytest.raises(TunefleetError, match=r"expected 'auto', HOST:PORT"):
        run_experiment(load_experiment(experiment), address=address, storage=str(tmp_path / "results"))
    assert not (tmp_path / "results").exists()


def test_a_malformed_address_is_refused_even_when_this_process_runs_ray(
    ray_local: None, experiment: Path, tmp_path: Path
) -> None:
    with pytest.raises(TunefleetError, match=r"expected 'auto', HOST:PORT"):
        run_experiment(load_experiment(experiment), address="notahost", storage=str(tmp_path / "results"))
    assert not (tmp_path / "results").exists()


def test_unreachable_cloud_storage_exits_2_before_ray_starts(experiment: Path) -> None:
    storage = f"s3://bucket/runs?endpoint_override=127.0.0.1:{closed_port()}&scheme=http"
    proc = tunefleet("run", str(experiment), "--storage", storage)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"storage {storage}: cannot use it" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr


def test_storage_that_never_answers_is_given_up_on(silent_server: int) -> None:
    storage = f"s3://bucket/runs?endpoint_override=127.0.0.1:{silent_server}&scheme=http"
    with pytest.raises(TunefleetError, match=r"no answer within 1 s"):
        check_remote_storage(storage, timeout_s=1)


def test_storage_of_an_unknown_kind_is_refused(experiment: Path) -> None:
    with pytest.raises(
        TunefleetError, match=r"storage foo://bucket/runs: cannot use it \(Unrecognized filesystem"
    ):
        run_experiment(load_experiment(experiment), storage="foo://bucket/runs")


def test_local_storage_under_a_file_is_refused(experiment: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        TunefleetError, match=r"--storage: cannot create .*/file/results: .*/file is not a directory"
    ):
        run_experiment(load_experiment(experiment), storage=str(tmp_path / "file" / "results"))


def test_a_run_refused_for_its_resources_leaves_nothing_in_storage(
    ray_local: None, experiment: Path, tmp_path: Path
) -> None:
    storage = tmp_path / "new" / "results"
    with pytest.raises(TunefleetError, match=r"resources: a trial needs 64 CPU but no node has that much"):
        run_experiment(load_experiment(experiment, ["resources.cpu=64"]), storage=str(storage))
    assert not (tmp_path / "new").exists()
