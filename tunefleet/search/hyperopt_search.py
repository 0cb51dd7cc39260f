"""Old home of :class:`~tunefleet.search.hyperopt.searcher.FlatHyperOptSearch`, kept as an alias.

Ray pickles the search algorithm into ``tuner.pkl``, by module path: sweeps started before the
class moved name this module, and resuming them (``Tuner.restore``) unpickles it.
"""

from tunefleet.search.hyperopt.searcher import FlatHyperOptSearch

__all__ = ["FlatHyperOptSearch"]
