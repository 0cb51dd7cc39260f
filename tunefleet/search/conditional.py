"""Old home of :class:`~tunefleet.search.ray_domains.ConditionalDomain`, kept as an alias.

Ray pickles the ``param_space`` into ``tuner.pkl``, by module path: sweeps started before the
class moved name this module, and resuming them (``Tuner.restore``) unpickles it.
"""

from tunefleet.search.ray_domains import ConditionalDomain

__all__ = ["ConditionalDomain"]
