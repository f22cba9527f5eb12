"""mappings/console.yaml: checked by `leadsync check` like the other YAML files, numbers bounded."""

import pytest
import yaml

from leadsync.cli import main


@pytest.mark.parametrize(("change", "message"), [
    ({"page_rows": 10_000_000}, "page_rows: Input should be less than or equal to 5000"),
    ({"session_hours": 100_000}, "session_hours: Input should be less than or equal to 720"),
    ({"sso": {"header": "X-Forwarded-Email", "trusted_proxies": ["not-a-network"]}}, "trusted_proxies"),
    ({"users": [{"email": "a@b.example", "name": "A"}, {"email": "A@b.example", "name": "B"}]}, "listed twice"),
])
def test_check_refuses_a_bad_console_yaml(project, capsys, change, message):
    file = project / "mappings/console.yaml"
    file.write_text(yaml.safe_dump({**yaml.safe_load(file.read_text()), **change}))
    assert main(["--mappings", str(project / "mappings"), "check"]) == 1
    out = capsys.readouterr().out
    assert "console.yaml" in out and message in out


def test_the_shipped_console_yaml_passes_check(project, capsys):
    assert main(["--mappings", str(project / "mappings"), "check"]) == 0
