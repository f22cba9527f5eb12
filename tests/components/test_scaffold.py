"""What `dg scaffold defs` writes for each component loads as written: leadsync's own loaders accept every
starter, each source kind names its secrets under requirements.env, and a folder name that cannot name a
source is refused saying which would."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster.components.component_scaffolding import scaffold_object

from leadsync.components.attributes import secret_variables
from leadsync.config.loader import load_partners, load_source
from leadsync.lifecycle.settings import load_settings


def scaffolded(root: Path, folder: str, component: str, params: str | None = None) -> dict:
    scaffold_object(root / folder, f"leadsync.components.{component}", params, "yaml", root)
    return yaml.safe_load((root / folder / "defs.yaml").read_text())


@pytest.mark.parametrize("kind", ["sftp", "salesforce", "marketo", "eloqua"])
def test_each_source_kind_scaffolds_a_source_leadsync_accepts(tmp_path: Path, kind: str):
    document = scaffolded(tmp_path, f"{kind}_leads", "LeadSource", f'{{"type": "{kind}"}}')
    as_file = tmp_path / f"{kind}_leads.yaml"
    as_file.write_text(yaml.safe_dump(document["attributes"]))
    config = load_source(as_file)
    assert (config.name, config.type) == (f"{kind}_leads", kind)
    assert document["requirements"]["env"] == secret_variables(document["attributes"])
    assert all(v.startswith(f"{kind.upper()}_LEADS_") for v in document["requirements"]["env"])


def test_partners_and_lifecycle_scaffold_files_leadsync_accepts(tmp_path: Path):
    for folder, component, load in (("partners", "Routing", load_partners),
                                    ("lifecycle", "PartnerLifecycle", load_settings)):
        as_file = tmp_path / f"{folder}.yaml"
        as_file.write_text(yaml.safe_dump(scaffolded(tmp_path, folder, component)["attributes"]))
        load(as_file)


def test_a_folder_name_that_cannot_name_a_source_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="'North-Leads' cannot name a source.*e.g. north_leads"):
        scaffolded(tmp_path, "North-Leads", "LeadSource")
