"""The Marketo sandbox's modules import forward only (state → api → routes → sandbox): each imports cleanly as the
first module of a fresh interpreter, and no module of the package imports one that imports it back, type-checking
imports included (read with `ast`, not by running them)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "leadsync.connectors.marketo.sandbox"
FOLDER = Path(importlib.util.find_spec(PACKAGE).submodule_search_locations[0])


def _imports(path: Path) -> set[str]:
    """The package's modules that one file imports (any `import`/`from` anywhere in it, TYPE_CHECKING too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module == PACKAGE:  # from the package import a module, or a name its __init__ holds
                found |= {a.name if (FOLDER / f"{a.name}.py").exists() else "__init__" for a in node.names}
            elif module.startswith(PACKAGE + "."):
                found.add(module.removeprefix(PACKAGE + ".").split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix(PACKAGE + ".").split(".")[0] for a in node.names
                      if a.name.startswith(PACKAGE + ".")}
    return found - {path.stem}


def _graph() -> dict[str, set[str]]:
    return {path.stem: _imports(path) for path in sorted(FOLDER.glob("*.py"))}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import path that comes back to where it started (one per starting module)."""
    found = []
    for start in graph:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    found.append([*path, start])
                    stack.clear()
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


@pytest.mark.parametrize("module", ["state", "api", "routes", "sandbox"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    done = subprocess.run([sys.executable, "-c", f"import {PACKAGE}.{module}"], check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_data_walks_forward_state_api_routes_sandbox():
    graph = _graph()
    assert "sandbox" not in graph["api"] | graph["routes"] | graph["state"]
    assert "routes" not in graph["api"] | graph["state"] and "api" not in graph["state"]
    assert {"state"} <= graph["api"] and {"api", "state"} <= graph["routes"]
    assert {"api", "routes", "state"} <= graph["sandbox"]


def test_no_module_of_the_package_imports_one_that_imports_it_back():
    cycles = _cycles(_graph())
    assert cycles == [], "\n".join(" → ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_circle():
    """The check can fail: the circle this package had (api ↔ sandbox through TYPE_CHECKING) is found."""
    graph = {"api": {"envelope"}, "routes": {"api"}, "sandbox": {"api", "routes"}, "envelope": set()}
    assert _cycles(graph) == []
    graph["api"].add("sandbox")
    assert ["api", "sandbox", "api"] in _cycles(graph) or ["api", "sandbox", "routes", "api"] in _cycles(graph)
