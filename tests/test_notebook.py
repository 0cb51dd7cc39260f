"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient), from a
directory of its own, and shows what it promises: the best trial, a table, the figures inline."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.processes import command_line, kill_session, session_members
from tests.support import REPO

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"

# Cells the test adds around the notebook's own, run in its kernel. The kernel leads a session of
# its own (jupyter_client starts it so), which holds every process it starts, Ray's included.
FIRST_CELL = "import os\nprint(os.getsid(0))"
LAST_CELL = """
import json, os
print(json.dumps({
    "best_value": summary["best"]["value"],
    "num_trials": summary["num_trials"],
    "results_in": os.path.relpath(outcome.path),
}))
"""


def _outputs(cell: nbformat.NotebookNode, output_type: str | None = None) -> list[nbformat.NotebookNode]:
    return [o for o in cell.get("outputs", []) if output_type is None or o["output_type"] == output_type]


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o["text"] for o in _outputs(cell, "stream") if o["name"] == "stdout")


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.integrations
@pytest.mark.timeout(900)
def test_quickstart_notebook_runs_a_sweep_and_shows_its_results_inline(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(FIRST_CELL))
    notebook.cells.append(nbformat.v4.new_code_cell(LAST_CELL))
    client = NotebookClient(
        notebook,
        timeout=600,  # per cell; the sweep cell takes about a minute on 2 cores
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    try:
        client.execute()  # raises CellExecutionError on the first cell that fails; shuts the kernel down
    finally:
        session = _stdout(notebook.cells[0]).strip()
        if session:
            # The kernel is gone; whatever of its session is still alive was left behind.
            deadline = time.monotonic() + 30
            while session_members(int(session)) and time.monotonic() < deadline:
                time.sleep(0.2)
            left = [command_line(pid) for pid in session_members(int(session))]
            kill_session(int(session))
            assert not left, f"processes left behind by the notebook's kernel: {left}"

    cells = notebook.cells[1:]
    check = json.loads(_stdout(cells[-1]))
    assert math.isfinite(check["best_value"]) and 0.0 <= check["best_value"] <= 1.0
    assert check["num_trials"] == 6
    assert check["results_in"].startswith("tunefleet_results/quickstart")
    assert (tmp_path / check["results_in"] / "tunefleet.yaml").is_file()

    printed = "".join(_stdout(cell) for cell in cells)
    assert "6 trials of mnist1d_cnn, hyperopt search, asha scheduler, tuning val_accuracy (max)" in printed
    assert f"val_accuracy {check['best_value']:.3f}" in printed
    assert "Ray running: False" in printed

    results = [o for cell in cells for o in _outputs(cell, "execute_result")]
    tables = [o["data"]["text/html"] for o in results if "text/html" in o["data"]]
    assert len(tables) == 1 and "<table" in tables[0] and "test_accuracy" in tables[0]
    assert "config/lr" in tables[0]

    figures = [o for cell in cells for o in _outputs(cell, "display_data") if "image/png" in o["data"]]
    assert len(figures) == 4  # history, learning curves, rungs, marginal effects; each shown once
    assert not [o for cell in cells for o in _outputs(cell, "error")]
