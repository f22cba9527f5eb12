"""Every numeric lifecycle.yaml setting has a sane range (issue 24): `leadsync check` refuses one outside it,
naming the setting and the range, instead of a crash when the first partner email is sent."""

import pytest
import yaml

from leadsync.cli import main


def check_with(project, capsys, section: str, key: str, value) -> tuple[int, str]:
    path = project / "mappings/lifecycle.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault(section, {})[key] = value
    path.write_text(yaml.safe_dump(data))
    code = main(["--mappings", str(project / "mappings"), "check"])
    return code, capsys.readouterr().out


def test_a_link_lifetime_of_ninety_nine_billion_hours_is_refused_by_check(project, capsys):
    code, out = check_with(project, capsys, "web", "token_ttl_hours", 99999999999)
    assert code != 0
    assert "web.token_ttl_hours: must be more than 0 and at most 8,760 (got 99999999999" in out


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("portal", "sign_in_requests_per_hour", 0, "portal.sign_in_requests_per_hour: must be at least 1 and at most 10,000"),
    ("portal", "session_hours", 1e9, "portal.session_hours: must be more than 0 and at most 720"),
    ("closed_loop", "every_days", float("inf"), "closed_loop.every_days: must be more than 0 and at most 365"),
    ("rewards", "points_per_timely_update", 10**12, "rewards.points_per_timely_update: must be at least 0 and at most 1,000,000"),
    ("emails", "max_field_chars", 5, "emails.max_field_chars: must be at least 20 and at most 100,000"),
    ("aging", "escalate_after_days", 10**7, "aging.escalate_after_days: must be more than 0 and at most 3,650"),
])
def test_each_numeric_setting_names_its_allowed_range(project, capsys, section, key, value, message):
    code, out = check_with(project, capsys, section, key, value)
    assert code != 0 and message in out


def test_values_inside_the_ranges_pass(project, capsys):
    check_with(project, capsys, "web", "token_ttl_hours", 8760)
    _, out = check_with(project, capsys, "emails", "max_body_chars", 5_000_000)
    assert "must be" not in out
