"""The analysis package has no import circles: data flows one way, from Ray's files to the report.

The graph is tunefleet's whole import graph (imports inside functions and under TYPE_CHECKING
count), so a circle through a module outside the package counts too.
"""

from __future__ import annotations

import grimp

PACKAGE = "tunefleet.analysis"
FACADE = f"{PACKAGE}.results"  # ExperimentResults and load_results


def test_no_analysis_module_imports_a_module_that_imports_it_back() -> None:
    graph = grimp.build_graph("tunefleet", cache_dir=None)
    circles = {}
    for module in sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")):
        back = graph.find_upstream_modules(module) & graph.find_downstream_modules(module)
        if back:
            circles[module] = sorted(back)

    assert circles == {}


def test_only_the_package_imports_the_results_facade() -> None:
    # Lower modules (importance, curves, report, ...) take the results through the Results
    # protocol of analysis/interface.py, so the facade can use them for its shortcuts.
    graph = grimp.build_graph("tunefleet", cache_dir=None)
    importers = graph.find_modules_that_directly_import(FACADE)

    assert {m for m in importers if m.startswith(PACKAGE + ".")} == set()
