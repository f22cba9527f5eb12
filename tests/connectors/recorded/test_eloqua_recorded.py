"""Eloqua's documented answers (eloqua.json) replayed to EloquaSource over a loopback socket: OAuth from the
source YAML with its one renewal on a 401, throttling and outages retried, a sync that ends `warning` kept with
its log lines, one that ends `error` failing with them, a refused definition a configuration error."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from replay_server import answer

from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiTransientError
from leadsync.connectors.eloqua.source import EloquaSettings, EloquaSource
from leadsync.config import load_source
from leadsync.config.loader import project_paths
from leadsync.sources import lead_source

REPO = Path(__file__).resolve().parents[3]
ID = r"^/id$"
TOKEN = r"^/auth/oauth2/token$"
FIELDS = r"^/API/Bulk/2\.0/contacts/fields$"
EXPORTS = r"^/API/Bulk/2\.0/contacts/exports$"
SYNCS = r"^/API/Bulk/2\.0/syncs$"
SYNC = r"^/API/Bulk/2\.0/syncs/1$"
LOGS = r"^/API/Bulk/2\.0/syncs/1/logs$"
DATA = r"^/API/Bulk/2\.0/syncs/1/data$"


def elq(name: str, **overrides) -> dict:
    return answer("eloqua", name, **overrides)


@pytest.fixture
def instance(replay):
    replay.on("GET", ID, elq("id"))
    replay.on("GET", FIELDS, elq("contact_fields"))
    return replay


@pytest.fixture
def source_for(instance, fast_http, closing):
    return lambda **overrides: closing(EloquaSource(EloquaSettings(**{
        "site": "LeadSyncDemo", "username": "Demo.User", "password": "pw", "login_url": instance.url,
        "http": fast_http, "sync_poll_interval_s": 0.01, **overrides})))


def export(instance, *sync_states: dict) -> None:
    instance.on("POST", EXPORTS, elq("export_defined"))
    instance.on("POST", SYNCS, elq("sync_pending"))
    instance.on("GET", SYNC, *sync_states)
    instance.on("GET", DATA, elq("data"))


def test_a_sync_that_ends_warning_keeps_its_data_and_carries_its_log_lines(instance, source_for):
    export(instance, elq("sync_active"), elq("sync_warning"))
    instance.on("GET", LOGS, elq("logs_warning"))

    [batch] = source_for().pull(["C_EmailAddress"], None)

    assert batch.records["ContactID"].tolist() == ["1", "2"]
    assert batch.records["C_EmailAddress"].tolist() == ["ada@example.com", None]
    assert batch.watermark == datetime(2026, 11, 30, 11, tzinfo=UTC)
    assert batch.warnings == (("Eloqua Bulk /syncs/1 of /contacts/exports/1: ELQ-00002 Invalid email addresses. "
                              "(1 records)"),)
    assert instance.count("GET", LOGS) == 1 and instance.count("POST", SYNCS) == 1


def test_staged_data_that_expires_between_pages_is_exported_again_from_the_same_since(instance, source_for):
    done = elq("sync_warning")
    export(instance, elq("sync_active"), {**done, "json": {**done["json"], "status": "success"}})
    first = elq("data")["json"]
    page_1 = {**first, "count": 1, "hasMore": True, "items": first["items"][:1]}
    instance.on("GET", DATA, {"status": 200, "json": page_1}, elq("data_expired"), elq("data"))

    batches = list(source_for(export_page_size=1).pull(["C_EmailAddress"], datetime(2026, 11, 1, tzinfo=UTC)))

    assert [b.records["ContactID"].tolist() for b in batches] == [["1"], ["1", "2"]]  # the second export, whole
    assert batches[0].watermark is None and batches[-1].watermark == datetime(2026, 11, 30, 11, tzinfo=UTC)
    assert instance.count("POST", EXPORTS) == 2 and instance.count("POST", SYNCS) == 2
    again = instance.requests("POST", EXPORTS)[1].body.decode()
    assert "2026-11-01" in again  # from the same since, not from what the first page read


def test_a_sync_that_ends_error_fails_with_its_logs_and_is_not_read(instance, source_for):
    export(instance, elq("sync_error"))
    instance.on("GET", LOGS, elq("logs_error"))

    with pytest.raises(ApiError, match="ended in error: ELQ-00032 Malformed records"):
        list(source_for().pull(["C_EmailAddress"], None))
    assert instance.count("GET", DATA) == 0 and instance.count("POST", SYNCS) == 1


def test_a_refused_export_definition_is_a_configuration_error_sent_once(instance, source_for):
    instance.on("POST", EXPORTS, elq("export_refused"))

    with pytest.raises(ApiConfigError, match="definition refused: filter: Must be a valid filter expression"):
        list(source_for().pull(["C_EmailAddress"], None))
    assert instance.count("POST", EXPORTS) == 1 and instance.count("POST", SYNCS) == 0


def test_forbidden_is_a_configuration_error_naming_the_permissions_sent_once(instance, source_for):
    instance.on("POST", EXPORTS, elq("forbidden"))

    with pytest.raises(ApiConfigError, match="403") as refused:
        list(source_for().pull(["C_EmailAddress"], None))
    assert "permission" in str(refused.value)
    assert instance.count("POST", EXPORTS) == 1 and instance.count("POST", SYNCS) == 0


@pytest.mark.parametrize("name", ["too_many_requests", "service_unavailable"])
def test_throttling_and_outages_are_retried(instance, source_for, name):
    instance.on("GET", FIELDS, elq(name), elq("contact_fields"))

    source_for().check()

    assert instance.count("GET", FIELDS) == 2


def test_an_outage_that_lasts_is_transient(instance, source_for):
    instance.on("GET", FIELDS, elq("service_unavailable"))

    with pytest.raises(ApiTransientError, match="503"):
        source_for().check()
    assert instance.count("GET", FIELDS) == 3


def test_basic_credentials_refused_are_a_configuration_error_naming_the_fix(instance, source_for):
    instance.on("GET", ID, elq("unauthorized"))

    with pytest.raises(ApiConfigError, match="Site.User:password"):
        source_for().check()
    assert instance.count("GET", ID) == 1  # Basic auth: nothing to renew, no retry


@pytest.fixture
def oauth_yaml(instance, tmp_path, monkeypatch):
    """The shipped Eloqua source YAML switched to OAuth 2.0, its secrets in the environment."""
    mappings = tmp_path / "mappings"
    (mappings / "sources").mkdir(parents=True)
    data = yaml.safe_load((REPO / "mappings/sources/eloqua_demo.yaml").read_text())
    connection = data["connection"]
    for key in ("username", "password_env"):
        connection.pop(key)
    connection.update(login_url=instance.url, auth="oauth", client_id_env="ELQ_CLIENT_ID",
                      client_secret_env="ELQ_CLIENT_SECRET", refresh_token_env="ELQ_REFRESH_TOKEN",
                      token_file="state/eloqua.refresh_token", timeout_s=2)
    file = mappings / "sources/eloqua_demo.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("ELQ_CLIENT_ID", "a1b2c3")
    monkeypatch.setenv("ELQ_CLIENT_SECRET", "s3cr3t")
    monkeypatch.setenv("ELQ_REFRESH_TOKEN", "first-refresh-token")
    return file


def test_oauth_from_the_yaml_renews_an_expired_token_once_and_repeats_the_call(instance, oauth_yaml):
    instance.on("POST", TOKEN, elq("token"), elq("token_renewed"))
    instance.on("GET", ID, elq("unauthorized"), elq("id"))
    paths = project_paths(oauth_yaml.parents[1])

    with lead_source(load_source(oauth_yaml), oauth_yaml, paths) as source:
        source.client.discover()

    grants = [seen.body for seen in instance.requests("POST", TOKEN)]
    assert [b'"refresh_token": "first-refresh-token"' in grants[0], b'"tGzv3JOkF0XG5Qx2TlKWIA"' in grants[1]] == \
        [True, True]  # each refresh uses the token the last one rotated to
    assert [seen.headers["Authorization"] for seen in instance.requests("GET", ID)] == \
        ["Bearer 2YotnFZFEjr1zCsicMWpAA", "Bearer 8xLOxBtZp8nfJaSrZkHSfA"]
    token_file = paths.root / "state/eloqua.refresh_token"
    assert token_file.read_text().strip() == "Ry7wS3KZnX9qrzb0tWZPuA" and token_file.stat().st_mode & 0o777 == 0o600


def test_oauth_refused_after_its_one_renewal_is_a_configuration_error(instance, oauth_yaml):
    instance.on("POST", TOKEN, elq("token"), elq("token_renewed"))
    instance.on("GET", ID, elq("unauthorized"))
    paths = project_paths(oauth_yaml.parents[1])

    with pytest.raises(ApiConfigError, match="OAuth token for client 'a1b2c3' was refused"), \
            lead_source(load_source(oauth_yaml), oauth_yaml, paths) as source:
        source.client.discover()
    assert instance.count("POST", TOKEN) == 2 and instance.count("GET", ID) == 2


def test_oauth_in_the_yaml_needs_a_way_to_get_a_token(oauth_yaml):
    from leadsync.config import ConfigError

    data = yaml.safe_load(oauth_yaml.read_text())
    for key in ("refresh_token_env", "token_file"):
        data["connection"].pop(key)
    oauth_yaml.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="auth 'oauth' needs refresh_token_env"):
        load_source(oauth_yaml)


def write(instance, *staged: dict):
    instance.on("POST", r"^/API/Bulk/2\.0/contacts/imports$", elq("import_defined"))
    instance.on("POST", r"^/API/Bulk/2\.0/contacts/imports/1/data$", *staged)
    instance.on("POST", SYNCS, elq("import_sync_pending"))
    instance.on("GET", r"^/API/Bulk/2\.0/syncs/2$", elq("import_sync_success"))
    return pd.DataFrame({"key": ["k1", "k2"], "record_id": ["1", "2"],
                         "C_EmailAddress": ["ada@example.com", "bob@example.com"]})


def test_staging_rows_refused_with_a_status_is_sent_again_and_the_write_lands_once(instance, source_for):
    updates = write(instance, elq("service_unavailable"), elq("rows_staged"))

    results = source_for().write_records(updates)

    assert results["ok"].tolist() == [True, True]
    assert instance.count("POST", r"/contacts/imports/1/data$") == 2 and instance.count("POST", SYNCS) == 1


def test_staging_rows_that_time_out_is_not_sent_again(instance, source_for, fast_http):
    updates = write(instance, elq("rows_staged", delay_s=0.4))

    with pytest.raises(ApiTransientError, match="ReadTimeout"):
        source_for(http=replace(fast_http, timeout_s=0.15)).write_records(updates)

    # the rows may have been staged: a second copy would be imported twice; the next run writes them anew
    assert instance.count("POST", r"/contacts/imports/1/data$") == 1 and instance.count("POST", SYNCS) == 0
