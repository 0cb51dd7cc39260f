"""The plot functions draw into Figures of their own: the caller's matplotlib stays as it was."""

from __future__ import annotations

import io

import matplotlib
import pandas as pd

from tunefleet.analysis.plots import plot_marginal_effects, plot_rungs


def test_plots_leave_the_backend_and_pyplot_alone_and_still_save() -> None:
    # A notebook's backend is its inline one: a plot function that switched it to Agg would stop
    # every later figure of the notebook from showing, and one left in pyplot would show twice.
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        rungs = pd.DataFrame({"iteration": [3, 9], "trials_reached": [6, 2], "fraction": [1.0, 1 / 3]})
        effects = pd.DataFrame(
            {
                "trial_id": ["a", "b"],
                "name": ["lr", "lr"],
                "scale": ["log", "log"],
                "value": [1e-3, 1e-2],
                "metric": [0.5, 0.7],
                "training_iteration": [3, 9],
            }
        )
        figures = [plot_rungs(rungs), plot_marginal_effects(effects, "val_accuracy", "max", "b")]
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == []
        for figure in figures:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            assert buffer.getvalue().startswith(b"\x89PNG")
    finally:
        matplotlib.use(before)
