"""The selection phase's statistics: per finalist, mean, spread and confidence interval over seeds,
and the verdict: is the best finalist distinguishable from the runner-up and from the defaults?

The selection (``select:``, ``tunefleet select``, see :mod:`tunefleet.run.selection`) trained
each finalist ``n`` times with fresh seeds. Per finalist this gives the mean, the sample standard
deviation (``ddof=1``) and a 95% confidence interval of the mean, ``mean +- t(0.975, n-1) *
sd / sqrt(n)``, for the tuned metric and for every test metric the trainable reports.

**The test: Welch's t-test** (``scipy.stats.ttest_ind(equal_var=False)``), two-sided, between the
winner (the finalist with the best mean of the tuned metric) and the runner-up (the second best
finalist), and between the winner and the defaults. Why this test:

- *Few runs.* With 5 seeds per finalist the t distribution is what accounts for estimating the
  spread from the same 5 runs. A bootstrap does not: resampling 5 values gives 126 distinct
  resamples, and its intervals are too narrow at this size (the percentile interval of a mean
  of 5 covers the true mean well below 95% of the time).
- *Unequal spreads.* Configurations differ in how much they vary with the seed (a high learning
  rate is noisier); Welch's test does not assume equal variances, Student's does.
- Seed noise of a trained network's accuracy is close to normal when the runs converge (the
  t-test's assumption); a diverging seed shows up as an outlier in the per-seed values.

**Multiple comparisons.** The verdict makes two planned comparisons (winner against runner-up,
winner against the defaults); their p-values are corrected together with Holm's method, and a
difference counts when the corrected p-value is below ``alpha`` (0.05). The raw p-values are
reported too. The same comparisons on the test metrics are reported for information: the winner
is picked by the tuned (validation) metric, never by test. One more caveat, which no correction
removes: the winner is the best of ``k`` means measured on the same runs that test it, which
favours finding it better than the runner-up; more seeds shrink this.

Everything here is pure: DataFrames and dicts in, dicts out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tunefleet.analysis.export import held_out_metrics
from tunefleet.analysis.interface import CONFIG_PREFIX

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "TEST_NAME",
    "holm",
    "mean_interval",
    "selection_runs",
    "summarize_selection",
    "welch_p_value",
]

#: Significance level of the verdict (after Holm's correction).
ALPHA = 0.05
#: Coverage of the confidence intervals of the means.
CONFIDENCE = 0.95
TEST_NAME = "Welch's t-test (two-sided, unequal variances), Holm-corrected"
#: Statuses of a selection run that counts: it trained to its end.
_FINISHED = "TERMINATED"
_FINALIST_COLUMN = f"{CONFIG_PREFIX}finalist"
_SEED_COLUMN = f"{CONFIG_PREFIX}seed"


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``n``, ``mean``, ``std`` (sample, ddof=1) and ``ci`` (the t interval of the mean) of ``values``.

    With fewer than two values ``std`` and ``ci`` are None (undefined), with one ``mean`` is the value.

    Example:
        >>> stats = mean_interval([0.94, 0.95, 0.96])
        >>> round(stats["mean"], 3), round(stats["std"], 3), [round(x, 3) for x in stats["ci"]]
        (0.95, 0.01, [0.925, 0.975])
    """
    from scipy import stats

    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(data)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci": None}
    mean = float(data.mean())
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci": None}
    std = float(data.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci": [mean - half, mean + half]}


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test of equal means; None when it is undefined.

    Undefined: fewer than two values on a side. Both sides without spread (every seed gave the
    same value, e.g. a trainable that ignores its seed): 1.0 for equal means, 0.0 for different.
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    if x.std(ddof=1) == 0 and y.std(ddof=1) == 0:
        return 1.0 if x.mean() == y.mean() else 0.0
    p = float(stats.ttest_ind(x, y, equal_var=False).pvalue)
    return p if math.isfinite(p) else None


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of p-values (None stays None and is not counted).

    Example:
        >>> holm([0.01, 0.04])
        [0.02, 0.04]
        >>> holm([0.03, None])
        [0.03, None]
    """
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[index] = running
    return adjusted


def selection_runs(trials: pd.DataFrame) -> pd.DataFrame:
    """The selection experiment's ``trials()`` table as runs: ``finalist``, ``seed``,
    ``trial_id``, ``status``, ``value`` and the test metrics, in finalist then seed order."""
    held_out = list(held_out_metrics(dict.fromkeys(trials.columns)))
    columns = ["finalist", "seed", "trial_id", "status", "value", *held_out]
    if trials.empty or _FINALIST_COLUMN not in trials:
        return pd.DataFrame(columns=columns)
    runs = trials.rename(columns={_FINALIST_COLUMN: "finalist", _SEED_COLUMN: "seed"})
    if "seed" not in runs:
        runs["seed"] = None
    return runs[columns].reset_index(drop=True)


def _finalist_entry(
    finalist: Mapping[str, Any], runs: pd.DataFrame, test_metrics: list[str]
) -> dict[str, Any]:
    mine = runs[runs["finalist"].map(lambda tag: tag == finalist["tag"])]
    done = mine[
        (mine["status"] == _FINISHED) & mine["value"].map(lambda v: v is not None and math.isfinite(v))
    ]
    done = done.sort_values("seed", key=lambda s: s.map(lambda v: (v is None, v)))
    return {
        "finalist": finalist["tag"],
        "trial_id": finalist["trial_id"],
        "search_value": finalist["value"],
        "config": finalist["config"],
        "seeds": [v.item() if isinstance(v, np.generic) else v for v in done["seed"]],
        "trial_ids": [str(v) for v in done["trial_id"]],
        "values": [float(v) for v in done["value"]],
        "num_unfinished": int(len(mine) - len(done)),
        **mean_interval(list(done["value"])),
        "test_metrics": {
            name: {
                "values": [None if _missing(v) else float(v) for v in done[name]],
                **mean_interval([float(v) for v in done[name] if not _missing(v)]),
            }
            for name in test_metrics
        },
    }


def _missing(value: Any) -> bool:
    try:
        return value is None or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def summarize_selection(
    plan: Mapping[str, Any], runs: pd.DataFrame, scope: str, alpha: float = ALPHA
) -> dict[str, Any]:
    """The ``selection`` object of the JSON summary.

    Args:
        plan: The selection's plan (``selection.json``: metric, mode, seeds, finalists...).
        runs: :func:`selection_runs` of the selection experiment.
        scope: Which result of a run counted (``last`` or ``all``, as the sweep was analyzed).
        alpha: Significance level of the verdict.

    Returns:
        ``metric``, ``mode``, ``scope``, ``seeds``, ``finalists`` (per finalist: ``finalist``
        (its rank in the search, or ``"defaults"``), ``trial_id`` and ``search_value`` (the
        search trial it came from and its value there), ``config``, the ``seeds``, ``trial_ids``
        and ``values`` of its finished runs, ``num_unfinished``, ``n``, ``mean``, ``std``, ``ci``
        ([low, high], 95%) and ``test_metrics`` (the same per test metric)) and ``verdict``
        (see :func:`_verdict`).
    """
    test_metrics = [c for c in runs.columns if c in held_out_metrics(dict.fromkeys(runs.columns))]
    finalists = [_finalist_entry(f, runs, test_metrics) for f in _plan_finalists(plan)]
    return {
        "metric": plan["metric"],
        "mode": plan["mode"],
        "scope": scope,
        "seeds": list(plan["seeds"]),
        "finalists": finalists,
        "verdict": _verdict(finalists, plan["metric"], plan["mode"], test_metrics, alpha),
    }


def _plan_finalists(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"tag": f["tag"], "trial_id": f.get("trial_id"), "value": f.get("value"), "config": f["config"]}
        for f in plan["finalists"]
    ]


def _label(entry: Mapping[str, Any]) -> str:
    return "the defaults" if entry["finalist"] == "defaults" else f"finalist {entry['finalist']}"


def _verdict(
    finalists: list[dict[str, Any]], metric: str, mode: str, test_metrics: list[str], alpha: float
) -> dict[str, Any]:
    """Winner, runner-up and defaults compared (see the module docstring).

    Returns:
        ``test``, ``alpha``, ``winner`` (the tag, or None without finished runs), ``comparisons``
        (per comparison: ``against`` (``runner-up`` or ``defaults``), ``finalist``,
        ``difference`` (winner's mean minus the other's), ``p_value``, ``p_adjusted``,
        ``distinguishable`` (p_adjusted < alpha), ``better`` (``winner``, ``other`` or None) and
        ``test_metrics`` (difference and raw p-value per test metric, for information)),
        ``beats_runner_up``, ``beats_defaults`` (True/False, None when there is no such
        comparison) and ``text``, the verdict in one sentence.
    """
    sign = 1.0 if mode == "max" else -1.0
    contenders = sorted(
        (f for f in finalists if f["finalist"] != "defaults" and f["mean"] is not None),
        key=lambda f: -sign * f["mean"],
    )
    defaults = next((f for f in finalists if f["finalist"] == "defaults" and f["mean"] is not None), None)
    verdict: dict[str, Any] = {
        "test": TEST_NAME,
        "alpha": alpha,
        "winner": None,
        "comparisons": [],
        "beats_runner_up": None,
        "beats_defaults": None,
        "text": "No finalist finished a run yet.",
    }
    if not contenders:
        return verdict
    winner = contenders[0]
    others = [("runner-up", contenders[1])] if len(contenders) > 1 else []
    if defaults is not None:
        others.append(("defaults", defaults))
    p_values = [welch_p_value(winner["values"], other["values"]) for _, other in others]
    comparisons = []
    for (against, other), p, adjusted in zip(others, p_values, holm(p_values), strict=True):
        difference = winner["mean"] - other["mean"]
        distinguishable = adjusted is not None and adjusted < alpha
        better = None if not distinguishable else ("winner" if sign * difference > 0 else "other")
        comparisons.append(
            {
                "against": against,
                "finalist": other["finalist"],
                "difference": difference,
                "p_value": p,
                "p_adjusted": adjusted,
                "distinguishable": distinguishable,
                "better": better,
                "test_metrics": {name: _test_metric_comparison(winner, other, name) for name in test_metrics},
            }
        )
    verdict.update(winner=winner["finalist"], comparisons=comparisons)
    for comparison in comparisons:
        key = "beats_runner_up" if comparison["against"] == "runner-up" else "beats_defaults"
        verdict[key] = comparison["better"] == "winner"
    verdict["text"] = _verdict_text(winner, comparisons, finalists, metric, alpha)
    return verdict


def _test_metric_comparison(winner: Mapping[str, Any], other: Mapping[str, Any], name: str) -> dict[str, Any]:
    mine, theirs = winner["test_metrics"][name], other["test_metrics"][name]
    present = mine["mean"] is not None and theirs["mean"] is not None
    return {
        "difference": mine["mean"] - theirs["mean"] if present else None,
        "p_value": welch_p_value(
            [v for v in mine["values"] if v is not None], [v for v in theirs["values"] if v is not None]
        ),
    }


def _stat_text(entry: Mapping[str, Any]) -> str:
    spread = f" +- {entry['std']:.4g}" if entry["std"] is not None else ""
    return f"{entry['mean']:.4g}{spread} over {entry['n']} seeds"


def _p_text(comparison: Mapping[str, Any]) -> str:
    if comparison["p_adjusted"] is None:
        return "no test: fewer than 2 runs"
    return f"p = {comparison['p_adjusted']:.3g}"


def _verdict_text(
    winner: Mapping[str, Any],
    comparisons: list[dict[str, Any]],
    finalists: list[dict[str, Any]],
    metric: str,
    alpha: float,
) -> str:
    by_tag = {f["finalist"]: f for f in finalists}
    parts = []
    for comparison in comparisons:
        other = by_tag[comparison["finalist"]]
        who = "the runner-up, " + _label(other) if comparison["against"] == "runner-up" else _label(other)
        if comparison["better"] == "winner":
            judged = "better than"
        elif comparison["better"] == "other":
            judged = "worse than"
        else:
            judged = "not distinguishable from"
        parts.append(f"{judged} {who} ({_stat_text(other)}, {_p_text(comparison)})")
    head = f"{_label(winner).capitalize()} has the best mean {metric} ({_stat_text(winner)})"
    if not parts:
        return head + "; no other finalist finished a run to compare with."
    return f"{head}; it is {' and '.join(parts)}. {TEST_NAME}, alpha {alpha:g}."
