"""Package layout (everything else is in pyproject.toml).

The wheel installs one top-level module, `leadsync`. The vendor connectors and their sandboxes keep their folder
`connectors/` at the top of the repository, but install as `leadsync.connectors`: a top-level `connectors` in
site-packages would collide with any other distribution of that name. setuptools' `package_dir` does the mapping
for wheels and for editable installs alike (the editable finder maps `leadsync.connectors` to this folder), so the
code imports `leadsync.connectors…` in both.

The starter project (mappings/, .env, dagster_home/'s instance files: what `leadsync init` writes and `leadsync
demo` runs on) stays where it is in the repository; building the wheel copies it into leadsync/starter/. The list
is leadsync/starter_project.py's STARTER_FILES, read from that file (an editable install reads the repository).
"""
import runpy
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
CONNECTORS = "leadsync.connectors"

packages = find_packages(include=["leadsync", "leadsync.*"])
packages += [CONNECTORS] + [f"{CONNECTORS}.{name}" for name in find_packages("connectors")]


class BuildWithStarter(build_py):
    """build_py, then the starter project's files copied into the built package (not in editable mode: there
    leadsync reads them from the repository)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        starter = runpy.run_path(str(HERE / "leadsync" / "starter_project.py"))
        target = Path(self.build_lib) / "leadsync" / starter["PACKAGED"]
        shutil.rmtree(target, ignore_errors=True)
        for relative in starter["starter_files"](HERE):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / relative, target / relative)


setup(packages=packages, package_dir={CONNECTORS: "connectors"}, cmdclass={"build_py": BuildWithStarter})
