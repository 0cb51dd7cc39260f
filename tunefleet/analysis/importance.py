"""Hyperparameter importance and marginal effects.

Method: a random forest (scikit-learn, 100 trees) is fitted to predict each trial's metric
value from its hyperparameters (log10 of log-scale ones, category codes for categorical
ones); a hyperparameter's importance is its *permutation importance*: how much the forest's
R² drops when that column is shuffled (mean over 10 shuffles). Unlike the forest's impurity
importance, it is not biased towards parameters with many distinct values. With few trials
it is a rough guide: the table says how many trials it was fitted on.

Example:
    >>> importance(load_results("runs/quickstart"))  # doctest: +SKIP
            name  scale  importance    std  share  num_trials
    0         lr    log       0.812  0.070   0.74          20
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tunefleet.analysis.hyperparams import encode, hyperparameters

if TYPE_CHECKING:
    from tunefleet.analysis.experiment import ExperimentResults

__all__ = ["IMPORTANCE_METHOD", "MIN_TRIALS", "importance", "marginal_effects"]

IMPORTANCE_METHOD = (
    "random-forest permutation importance (scikit-learn: 100 trees; drop in R² when one "
    "hyperparameter is shuffled, mean of 10 shuffles; log-scale hyperparameters as log10)"
)
#: Fewer ranked trials than this and importance() is empty: a forest on 3 points says nothing.
MIN_TRIALS = 5
_COLUMNS = ["name", "scale", "importance", "std", "share", "num_trials"]


def importance(results: ExperimentResults, seed: int = 0) -> pd.DataFrame:
    """How much each hyperparameter explains the metric, most important first.

    Args:
        results: A loaded experiment.
        seed: Seeds the forest and the shuffles, so the numbers are reproducible.

    Returns:
        Columns ``name``, ``scale``, ``importance`` (mean drop in R²), ``std`` (over the
        shuffles), ``share`` (importance / sum of the positive importances) and
        ``num_trials`` (ranked trials used). Empty when there are fewer than
        :data:`MIN_TRIALS` ranked trials or no hyperparameter varies.
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    features, target, params = _design(results)
    if len(target) < MIN_TRIALS or params.empty:
        return pd.DataFrame(columns=_COLUMNS)
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=1, random_state=seed, n_jobs=1)
    forest.fit(features, target)
    scores = permutation_importance(forest, features, target, n_repeats=10, random_state=seed, n_jobs=1)
    frame = pd.DataFrame(
        {
            "name": params["name"].to_numpy(),
            "scale": params["scale"].to_numpy(),
            "importance": scores.importances_mean,
            "std": scores.importances_std,
        }
    )
    positive = frame["importance"].clip(lower=0)
    frame["share"] = positive / positive.sum() if positive.sum() > 0 else 0.0
    frame["num_trials"] = len(target)
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def marginal_effects(results: ExperimentResults) -> pd.DataFrame:
    """The metric of every ranked trial against each hyperparameter, long format.

    Returns:
        Columns ``name``, ``scale``, ``value`` (the hyperparameter's value as configured),
        ``metric`` (the trial's ranking value), ``training_iteration`` and ``trial_id``.
    """
    trials = results.trials()
    trials = trials[np.isfinite(trials["value"])]
    frames = []
    for param in hyperparameters(results).itertuples(index=False):
        frames.append(
            pd.DataFrame(
                {
                    "name": param.name,
                    "scale": param.scale,
                    "value": trials[param.column].to_numpy(),
                    "metric": trials["value"].to_numpy(),
                    "training_iteration": trials["training_iteration"].to_numpy(),
                    "trial_id": trials["trial_id"].to_numpy(),
                }
            )
        )
    columns = ["name", "scale", "value", "metric", "training_iteration", "trial_id"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _design(results: ExperimentResults) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Encoded hyperparameters of the ranked trials, their metric values, and the params."""
    trials = results.trials()
    trials = trials[np.isfinite(trials["value"])]
    params = hyperparameters(results)
    features = pd.DataFrame(
        {p.name: encode(trials[p.column], p.scale) for p in params.itertuples(index=False)},
        index=trials.index,
    )
    # A hyperparameter of a conditional branch not taken: a value outside its range.
    features = features.apply(lambda col: col.fillna(col.min() - 1 if col.notna().any() else 0.0))
    return features, trials["value"].to_numpy(dtype=float), params
