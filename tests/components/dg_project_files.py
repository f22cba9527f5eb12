"""A fresh dg project in a temporary folder, as `dg scaffold project <module>` writes it less what needs the
network (uv, a venv of its own): the active environment, which has leadsync installed, runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

BIN = Path(sys.executable).parent


def write_project(root: Path, module: str) -> Path:
    (root / module / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{module}"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["leadsync"]

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "{module}"
        """))
    (root / module / "__init__.py").write_text("")
    (root / module / "defs/__init__.py").write_text("")
    (root / module / "definitions.py").write_text(textwrap.dedent("""\
        from pathlib import Path

        import dagster as dg


        @dg.definitions
        def defs() -> dg.Definitions:
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        """))
    return root / module / "defs"


def forget_module(name: str) -> None:
    """Drop a project's modules from this process, so the next test's project of that name loads afresh."""
    for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[loaded]


def dg_command(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(BIN.parent),
           "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([str(BIN / "dg"), *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def scaffold_source(root: Path, port: int) -> Path:
    done = dg_command(root, "scaffold", "defs", "leadsync.components.LeadSource", "inbox_leads",
                      "--type", "sftp", "--host", "127.0.0.1", "--port", str(port))
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "lead_desk/defs/inbox_leads/defs.yaml"
