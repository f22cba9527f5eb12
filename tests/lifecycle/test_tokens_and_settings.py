"""Signed links and lifecycle.yaml: what a tampered, expired or misdirected token gives, and what a user
reads for a settings mistake."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from leadsync.config import ConfigError, load_partners
from leadsync.lifecycle.context import check_references
from leadsync.lifecycle.settings import load_settings
from leadsync.lifecycle.tokens import TokenExpired, TokenForged, issue, verify

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SECRET = b"0123456789abcdef0123456789abcdef"


def test_a_token_carries_its_lead_partner_and_action_and_expires():
    token = issue(SECRET, "accept", "north", "lead-1", NOW, timedelta(hours=1), version=3)
    claims = verify(SECRET, token, "accept", NOW + timedelta(minutes=59))
    assert (claims.action, claims.partner_id, claims.lead_id, claims.version) == ("accept", "north", "lead-1", 3)
    assert claims.token_id == verify(SECRET, token, "accept", NOW).token_id
    with pytest.raises(TokenExpired, match="expired on 02 Nov 2026 10:00 UTC"):
        verify(SECRET, token, "accept", NOW + timedelta(hours=1))
    with pytest.raises(TokenForged, match="cannot be used to reject"):
        verify(SECRET, token, "reject", NOW)
    with pytest.raises(TokenForged):
        verify(b"another-secret-another-secret-00", token, "accept", NOW)
    for broken in ("", "v1.abc", token + "x", token.replace("v1.", "v2.", 1), "v1.!!!.???"):
        with pytest.raises(TokenForged):
            verify(SECRET, broken, "accept", NOW)


def test_two_tokens_for_the_same_lead_are_different_links():
    a = issue(SECRET, "accept", "north", "lead-1", NOW, timedelta(hours=1))
    b = issue(SECRET, "accept", "north", "lead-1", NOW, timedelta(hours=1))
    assert a != b and verify(SECRET, a, "accept", NOW).token_id != verify(SECRET, b, "accept", NOW).token_id


def test_the_repository_settings_load_and_their_references_exist():
    settings = load_settings(REPO / "mappings/lifecycle.yaml")
    check_references(settings, load_partners(REPO / "mappings/partners.yaml"), ["sftp_demo"])
    assert settings.smtp.effective_port == 8025 and settings.reject_reason("other").comment == "required"


def test_settings_mistakes_name_the_key_and_the_fix(tmp_path, monkeypatch):
    data = yaml.safe_load((REPO / "mappings/lifecycle.yaml").read_text())
    data["smtp"]["securty"] = "ssl"
    data["closed_loop"]["every_days"] = 0
    path = tmp_path / "lifecycle.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "smtp.securty: unknown key" in text and "did you mean 'security'" in text
    assert "closed_loop.every_days" in text
    del data["smtp"]["securty"], data["closed_loop"]["every_days"]
    data["smtp"].update(username="someone", password_env=None)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="smtp: give both 'username' and 'password_env'"):
        load_settings(path)

    settings = load_settings(REPO / "mappings/lifecycle.yaml")
    monkeypatch.delenv("LEADSYNC_LIFECYCLE_SECRET", raising=False)
    with pytest.raises(ConfigError, match="LEADSYNC_LIFECYCLE_SECRET is not set"):
        settings.web.secret()
    bad = settings.model_copy(update={"auto_registration": settings.auto_registration.model_copy(
        update={"target_source": "nowhere", "partner_rules": {"ghost": []}})})
    with pytest.raises(ConfigError) as refs:
        check_references(bad, load_partners(REPO / "mappings/partners.yaml"), ["sftp_demo"])
    assert "partner_rules.ghost: not a partner id" in str(refs.value)
    assert "target_source: 'nowhere' is not a source" in str(refs.value)
