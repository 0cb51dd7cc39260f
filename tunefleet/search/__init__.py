"""Search spaces (one YAML syntax) and search algorithms (grid, random, Hyperopt TPE)."""

from __future__ import annotations

from tunefleet.search.searchers import SEARCHERS, build_search
from tunefleet.search.spaces import DISTRIBUTIONS, Space, parse_space

__all__ = ["DISTRIBUTIONS", "SEARCHERS", "Space", "build_search", "parse_space"]
