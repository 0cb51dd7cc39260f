"""Hyperparameter importance and marginal effects.

Method: a random forest (scikit-learn, 100 trees) is fitted to predict each trial's metric
value from its hyperparameters (log10 of log-scale ones, category codes for categorical
ones); a hyperparameter's importance is its *permutation importance*: how much the forest's
R² drops when that column is shuffled (mean over 10 shuffles). Unlike the forest's impurity
importance, it is not biased towards parameters with many distinct values.

The R² is scored *out of bag*: each trial is predicted only by the trees whose bootstrap
sample left it out (Breiman's original scoring). Scored on the trials the forest was fitted
to, a hyperparameter that takes a different value in every trial gets credit for the noise
the forest memorised through it; out of bag, the noise is not predictable and such a
hyperparameter scores about zero. With few trials it is a rough guide: the table says how
many trials it was fitted on.

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
    from tunefleet.analysis.interface import Results

__all__ = ["IMPORTANCE_METHOD", "MIN_TRIALS", "importance", "marginal_effects", "oob_permutation_importance"]

IMPORTANCE_METHOD = (
    "random-forest permutation importance, scored out of bag (scikit-learn: 100 trees; drop in "
    "the out-of-bag R² when one hyperparameter is shuffled, mean of 10 shuffles: each trial is "
    "predicted only by the trees not fitted to it; log-scale hyperparameters as log10)"
)
#: Fewer ranked trials than this and importance() is empty: a forest on 3 points says nothing.
MIN_TRIALS = 5
_COLUMNS = ["name", "scale", "importance", "std", "share", "num_trials"]


def importance(results: Results, seed: int = 0) -> pd.DataFrame:
    """How much each hyperparameter explains the metric, most important first.

    Args:
        results: A loaded experiment.
        seed: Seeds the forest and the shuffles, so the numbers are reproducible.

    Returns:
        Columns ``name``, ``scale``, ``importance`` (mean drop in the out-of-bag R²), ``std``
        (over the shuffles), ``share`` (importance / sum of the positive importances) and
        ``num_trials`` (ranked trials used). Empty when there are fewer than
        :data:`MIN_TRIALS` ranked trials or no hyperparameter varies.
    """
    features, target, params = _design(results)
    if len(target) < MIN_TRIALS or params.empty:
        return pd.DataFrame(columns=_COLUMNS)
    drops = oob_permutation_importance(features.to_numpy(dtype=float), target, seed=seed)
    frame = pd.DataFrame(
        {
            "name": params["name"].to_numpy(),
            "scale": params["scale"].to_numpy(),
            "importance": drops.mean(axis=1),
            "std": drops.std(axis=1),
        }
    )
    positive = frame["importance"].clip(lower=0)
    frame["share"] = positive / positive.sum() if positive.sum() > 0 else 0.0
    frame["num_trials"] = len(target)
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def oob_permutation_importance(
    features: np.ndarray, target: np.ndarray, seed: int = 0, repeats: int = 10
) -> np.ndarray:
    """Drops in a random forest's out-of-bag R² when each feature is shuffled (Breiman's
    scoring: every tree predicts only the samples its bootstrap left out, and a feature is
    shuffled among those samples only).

    Shuffling among all samples instead would hand each tree values of samples it was fitted
    to, whose leaves hold their own targets: a feature that only fits noise would still seem
    to matter.

    Args:
        features: One row per sample, one column per feature.
        target: One value per sample.
        seed: Seeds the forest and the shuffles.
        repeats: Shuffles per feature.

    Returns:
        Shape ``(features, repeats)``: the drop of every shuffle.
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import r2_score

    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=1, random_state=seed, n_jobs=1)
    forest.fit(features, target)
    left_out = []
    for in_bag in forest.estimators_samples_:
        mask = np.ones(len(target), dtype=bool)
        mask[in_bag] = False
        left_out.append(np.flatnonzero(mask))
    votes = np.zeros(len(target))
    for rows in left_out:
        votes[rows] += 1
    scored = votes > 0  # left out by at least one tree: all but ~0.37**100 of the samples

    rng = np.random.default_rng(seed)

    def oob_r2(column: int | None) -> np.ndarray:
        """The out-of-bag R², with ``column`` shuffled ``repeats`` times (one R² per shuffle)."""
        copies = 1 if column is None else repeats
        total = np.zeros((copies, len(target)))
        for tree, rows in zip(forest.estimators_, left_out, strict=True):
            if not len(rows):  # a bootstrap sample of a few trials can hold every one of them
                continue
            x = np.tile(features[rows], (copies, 1))  # every shuffle in one predict call
            if column is not None:
                x[:, column] = np.concatenate(
                    [rng.permutation(features[rows, column]) for _ in range(copies)]
                )
            total[:, rows] += tree.predict(x).reshape(copies, len(rows))
        predictions = total[:, scored] / votes[scored]
        return np.array([r2_score(target[scored], p) for p in predictions])

    baseline = oob_r2(None)[0]
    drops = np.stack([baseline - oob_r2(column) for column in range(features.shape[1])])
    return drops


def marginal_effects(results: Results) -> pd.DataFrame:
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


def _design(results: Results) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
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
