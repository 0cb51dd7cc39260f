"""tunefleet's test suite (helpers in tests/support.py and each folder's helpers.py)."""

import os

# Ray 2.60 enables token auth for new local clusters; every Ray process of the suite uses the
# same mode, and it must be set before Ray is imported (Ray caches its config at import): this
# package is imported before any test module, conftest or helper.
os.environ.setdefault("RAY_AUTH_MODE", "token")
