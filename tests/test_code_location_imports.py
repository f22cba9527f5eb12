"""Every process that loads the code location (each Celery worker's step, `dagster job execute`, the UI's code
server, `leadsync demo`) pays for what it imports, whether the run needs it or not. The libraries only some
steps use are imported by those steps: matplotlib when a report draws a chart (half a second), pandera's
polars backend when the schema check runs (a third of a second), openpyxl when an XLSX file is read or a
report exported (a quarter second). Loading the code location went from 4.2-5.4 s to 2.8 s a process."""

import subprocess
import sys

DEFERRED = ("matplotlib", "pandera", "polars", "openpyxl")

LOAD = f"""
import sys
import leadsync.definitions as location
location.defs()
print(" ".join(m for m in {DEFERRED!r} if m in sys.modules))
"""


def test_loading_the_code_location_imports_no_library_only_some_steps_use(project, monkeypatch):
    monkeypatch.setenv("LEADSYNC_MAPPINGS_DIR", str(project / "mappings"))
    done = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [], f"imported while loading the code location: {done.stdout.strip()}"


def test_the_steps_that_use_them_still_import_them():
    """The deferred imports resolve (a misspelt one would only fail in the step that draws or checks)."""
    import pandas as pd
    from leadsync.connectors.sftp import lead_xlsx  # noqa: F401

    from leadsync.intake.schema import SchemaCheck  # noqa: F401
    from leadsync.reports.charts import BarChart, render_png
    from leadsync.reports.export import to_xlsx

    assert render_png(BarChart("t", ["a"], {"n": [1]})).startswith(b"\x89PNG")
    assert to_xlsx(pd.DataFrame({"a": ["=1"]}), "t")[:2] == b"PK"
