"""The house's walls, read from the source with `ast` (no module is imported to check it):

- Dagster only in the Dagster layer: leadsync/defs/, leadsync/definitions.py, leadsync/components/ and
  leadsync/runs/. No other module of leadsync/ or connectors/ imports dagster or a dagster_* library.
- The configuration schema knows no implementation: leadsync/config/ imports only leadsync.config (the CRM
  kinds register themselves with it: leadsync/config/crm_kinds.py).
"""

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGSTER_LAYER = ("leadsync/defs/", "leadsync/definitions.py", "leadsync/components/", "leadsync/runs/")


@dataclass(frozen=True)
class Import:
    file: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} imports {self.module}"


def modules() -> list[Path]:
    return sorted(p for folder in ("leadsync", "connectors") for p in (REPO / folder).rglob("*.py"))


def imports_of(path: Path) -> list[Import]:
    """Every module `path` imports, at the top or inside a function, by `import`, `from … import` or
    importlib.import_module / __import__ with a literal name. Relative imports are resolved to their package."""
    rel = path.relative_to(REPO).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    package = rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__").split(".")
    if not rel.endswith("__init__.py"):
        package = package[:-1]
    if package[0] == "connectors":  # installed as leadsync.connectors (setup.py)
        package = ["leadsync", *package]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append(Import(rel, node.lineno, module))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            found.append(Import(rel, node.lineno, node.args[0].value))
    return found


def is_dagster(module: str) -> bool:
    top = module.split(".")[0]
    return top == "dagster" or top.startswith("dagster_")


def test_only_the_dagster_layer_imports_dagster():
    files = modules()
    assert len(files) > 100, "the walk found too few modules: is REPO right?"
    outside = [imp for path in files if not path.relative_to(REPO).as_posix().startswith(DAGSTER_LAYER)
               for imp in imports_of(path) if is_dagster(imp.module)]
    assert not outside, ("Dagster imported outside the Dagster layer (" + ", ".join(DAGSTER_LAYER) + "); move "
                         "the Dagster part there:\n" + "\n".join(map(str, outside)))


def test_the_walk_sees_every_form_of_import(tmp_path, monkeypatch):
    """The check above could pass by seeing nothing: here each form of import it must catch."""
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    (tmp_path / "leadsync" / "scale").mkdir(parents=True)
    probe = tmp_path / "leadsync" / "scale" / "probe.py"
    probe.write_text("import os\nimport dagster as dg\n\ndef f():\n    from dagster._core.events import X\n"
                     "    import dagster_celery.app\n    importlib.import_module('dagster_postgres')\n"
                     "from . import profile\nfrom ..config import loader\n")
    found = [(i.line, i.module) for i in imports_of(probe)]
    assert sorted(found) == [(1, "os"), (2, "dagster"), (5, "dagster._core.events"), (6, "dagster_celery.app"),
                             (7, "dagster_postgres"), (8, "leadsync.scale"), (9, "leadsync.config")]
    assert [m for _, m in found if is_dagster(m)] == ["dagster", "dagster._core.events", "dagster_celery.app",
                                                      "dagster_postgres"]


def test_config_imports_no_implementation():
    files = sorted((REPO / "leadsync" / "config").rglob("*.py"))
    own = [imp for path in files for imp in imports_of(path)
           if imp.module.split(".")[0] == "leadsync" and not imp.module.startswith("leadsync.config")]
    assert not own, ("leadsync/config/ (the schemas) imports an implementation; let the implementation "
                     "register itself instead (leadsync/config/crm_kinds.py):\n" + "\n".join(map(str, own)))


def test_importing_config_loads_no_implementation():
    """The same, as Python sees it: importing every config module brings in no other leadsync package (nor
    Dagster)."""
    names = [f"leadsync.config.{p.stem}" for p in sorted((REPO / "leadsync" / "config").glob("*.py"))
             if p.stem != "__init__"]
    code = ("import sys, importlib\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print('\\n'.join(sorted(m for m in sys.modules if (m.startswith('leadsync.') and not "
            "m.startswith('leadsync.config')) or m.split('.')[0] == 'dagster')))\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_a_partner_crm_kind_is_found_without_importing_it_first():
    """partners.yaml's `crm.type` is checked against the kinds registered by their implementations, found
    through the entry points: validating a partner with a Salesforce CRM in a fresh process works before
    anything imported leadsync.partner_crm, and an unknown type names the known ones."""
    code = """
import sys
from pydantic import ValidationError
from leadsync.config.partners import PartnerCrm
assert 'leadsync.partner_crm.kinds' not in sys.modules
crm = PartnerCrm(type='salesforce', connection={'login_url': 'https://login.salesforce.com',
                                                'consumer_key_env': 'K', 'consumer_secret_env': 'S'})
print(type(crm.connection).__name__)
try:
    PartnerCrm(type='hubspot', connection={})
except ValidationError as exc:
    print(exc.errors()[0]['msg'])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["SalesforceConnection",
                                "Value error, 'hubspot' is not a CRM connector; known: salesforce"]
