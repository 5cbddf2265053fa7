"""The package's shape: no import cycles, a pure domain, and nothing but the CLI imports the CLI."""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

PURE_MODULES = [
    "janitor.domain.policy",
    "janitor.domain.planner",
    "janitor.domain.headroom_model",
    "janitor.domain.aggregates",
    "janitor.domain.procfs",
]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("janitor")  # TYPE_CHECKING imports included


def test_no_import_cycle_among_janitor_modules(graph: grimp.ImportGraph) -> None:
    cycles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert cycles == []


def test_only_the_cli_imports_the_cli(graph: grimp.ImportGraph) -> None:
    importers = {
        module
        for cli_module in graph.find_descendants("janitor.cli") | {"janitor.cli"}
        for module in graph.find_modules_that_directly_import(cli_module)
    }
    outside = {m for m in importers if not m.startswith("janitor.cli") and m != "janitor.__main__"}
    assert outside == set()


@pytest.mark.parametrize("module", PURE_MODULES)
def test_importing_the_domain_loads_no_redis(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('redis', 'hiredis', 'click', 'rich')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
