"""The experiment files shipped with tunefleet, installed as the package ``tunefleet.experiments``.

Run one by name from any directory (``tunefleet run quickstart``) or by path in a clone
(``tunefleet run experiments/quickstart.yaml``); ``tunefleet experiments`` lists them, with the
first sentence of each file's leading comment as its description. Besides this module, only the
``*.yaml`` files here are shipped (see tunefleet/config/shipped.py and pyproject.toml).
"""
