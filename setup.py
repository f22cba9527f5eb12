"""Package layout (everything else is in pyproject.toml).

The wheel installs one top-level module, `leadsync`. The vendor connectors and their sandboxes keep their folder
`connectors/` at the top of the repository, but install as `leadsync.connectors`: a top-level `connectors` in
site-packages would collide with any other distribution of that name. setuptools' `package_dir` does the mapping
for wheels and for editable installs alike (the editable finder maps `leadsync.connectors` to this folder), so the
code imports `leadsync.connectors…` in both.
"""
from setuptools import find_packages, setup

CONNECTORS = "leadsync.connectors"

packages = find_packages(include=["leadsync", "leadsync.*"])
packages += [CONNECTORS] + [f"{CONNECTORS}.{name}" for name in find_packages("connectors")]

setup(packages=packages, package_dir={CONNECTORS: "connectors"})
