"""``bohb``: BOHB (Falkner et al., 2018): HyperBand whose new trials come from a model.

The scheduler is Ray's ``HyperBandForBOHB``; the configurations come from ``search.algorithm:
bohb`` (Ray's ``TuneBOHB``, a kernel-density model per budget). The two only work together; the
rule is stated once, by the searcher (``scheduler="bohb"`` in :mod:`tunefleet.search.bohb`), and
validation applies it both ways. Needs the ``bohb`` extra: ``pip install 'tunefleet[bohb]'``
(hpbandster and ConfigSpace).
"""

from __future__ import annotations

from typing import Any

from tunefleet.schedulers import SchedulerContext, SchedulerPlugin
from tunefleet.schedulers.hyperband import HyperBandOptions, rungs


class BohbOptions(HyperBandOptions):
    """Options of ``scheduler: {type: bohb, ...}`` (those of ``hyperband``)."""


def build(options: BohbOptions, context: SchedulerContext) -> Any:
    from ray.tune.schedulers import HyperBandForBOHB

    return HyperBandForBOHB(
        time_attr="training_iteration",
        max_t=context.max_iterations,
        reduction_factor=options.reduction_factor,
        stop_last_trials=options.stop_last_trials,
    )


PLUGIN = SchedulerPlugin(
    name="bohb",
    options=BohbOptions,
    build=build,
    requires=(("hpbandster", "bohb"), ("ConfigSpace", "bohb")),
    rungs=rungs,  # HyperBandForBOHB is HyperBand's brackets with a model choosing the configs
)
