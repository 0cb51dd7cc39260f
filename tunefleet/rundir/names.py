"""Every file name of an experiment directory, Ray Tune's (2.60) and tunefleet's."""

from __future__ import annotations

__all__ = [
    "CHECKPOINT_ITERATION_FILE",
    "CONTINUES_KEY",
    "ERROR_FILE",
    "EXPERIMENT_FILE",
    "EXTENSION_FILE",
    "FINAL_STATUSES",
    "LINEAGE_FILE",
    "LINEAGE_KEYS",
    "PARAMS_JSON",
    "PROGRESS_CSV",
    "RESULT_JSON",
    "SELECTION_DIR",
    "SELECTION_FILE",
    "SELECTION_KEYS",
    "SET_ASIDE_SUFFIX",
    "STATE_GLOB",
    "STDERR_FILE",
    "STDOUT_FILE",
    "TUNER_PKL",
]

# -- Ray Tune's files -------------------------------------------------------------------------

#: Ray's ``TuneController.CKPT_FILE_TMPL``: one per driver session, the newest is current.
STATE_GLOB = "experiment_state-*.json"
#: Written once when a sweep starts: without it nothing can be restored.
TUNER_PKL = "tuner.pkl"
RESULT_JSON = "result.json"  # ray.tune.result.EXPR_RESULT_FILE
PROGRESS_CSV = "progress.csv"
PARAMS_JSON = "params.json"
ERROR_FILE = "error.txt"
#: Trial statuses a sweep never changes again (Ray's Trial.TERMINATED and Trial.ERROR); a trial in
#: any other status when the sweep stopped is unfinished, and a resume continues it.
FINAL_STATUSES = frozenset({"TERMINATED", "ERROR"})
#: Suffix given to snapshot files a resume must not read (a damaged or superseded snapshot).
SET_ASIDE_SUFFIX = ".set-aside"

# -- tunefleet's files ------------------------------------------------------------------------

#: The experiment as it was run (overrides applied, final name), with a header naming its source.
EXPERIMENT_FILE = "tunefleet.yaml"
#: What each trial printed, in its folder (``RunConfig(log_to_file=...)``, copied to storage).
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
#: Where ``pbt`` and ``pb2`` record every exploit/explore decision.
LINEAGE_FILE = "pbt_lineage.jsonl"
#: The keys of each JSON line of :data:`LINEAGE_FILE`, in order.
LINEAGE_KEYS = ("time", "trial", "iteration", "source_trial", "source_iteration", "old_config", "new_config")
#: The selection phase (``select:``, ``tunefleet select``): a Ray Tune experiment of its own in
#: this sub-directory of the sweep's, holding :data:`SELECTION_FILE` beside its own files.
SELECTION_DIR = "selection"
#: The selection's plan: the finalists (rank, trial, value, config), the seeds, how they were ranked.
SELECTION_FILE = "selection.json"
#: The keys of :data:`SELECTION_FILE`.
SELECTION_KEYS = ("metric", "mode", "scope", "top_k", "seeds", "include_defaults", "finalists")
#: Where ``tunefleet extend`` records the sweep a sweep continues (JSON: ``extended_from``,
#: ``warm_started``, ``outside_space``, ``continued``).
EXTENSION_FILE = "tunefleet_extension.json"
#: The config key of a trial that continues an old trial's checkpoint (``tunefleet extend``):
#: ``{trial_id, checkpoint, training_iteration, time_total_s}``. Dunder, so that trainables and
#: analysis treat it as Ray's bookkeeping, not as a hyperparameter.
CONTINUES_KEY = "__tunefleet_continues__"
#: In every checkpoint folder a trial saves: the iteration and time it was saved at (JSON), which
#: Ray 2.60 keeps only pickled in the experiment state.
CHECKPOINT_ITERATION_FILE = "tunefleet_iteration.json"
