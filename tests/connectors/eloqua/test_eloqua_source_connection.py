"""EloquaSource connecting: /id discovery, Basic and OAuth credentials, the field list, throttling, TLS."""

import pytest

from leadsync.connectors.api_client import ApiConfigError, ApiTransientError, HttpSettings, RetryPolicy
from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.connectors.eloqua.source import EloquaSettings, EloquaSource
from leadsync.connectors.eloqua.source.sandbox_settings import sandbox_settings


@pytest.fixture
def source(eloqua):
    src = EloquaSource(sandbox_settings(eloqua))
    yield src
    src.close()


def test_check_discovers_the_pod_through_id_and_uses_the_announced_urls(eloqua):
    eloqua.pod_url = eloqua.url.replace("127.0.0.1", "localhost")  # /id now announces another host name
    source = EloquaSource(sandbox_settings(eloqua))
    endpoints = source.check()
    assert endpoints.base == eloqua.pod_url and endpoints.site == eloqua.site
    assert endpoints.bulk == f"{eloqua.pod_url}/API/Bulk/2.0"
    assert endpoints.rest("2.0") == f"{eloqua.pod_url}/API/REST/2.0"
    batches = list(source.pull(["C_EmailAddress"], None))  # every API call goes to the announced pod
    assert sum(len(b.records) for b in batches) == 300


def test_bad_credentials_fail_with_the_login_url_and_the_fix(eloqua):
    source = EloquaSource(sandbox_settings(eloqua, password="wrong"))
    with pytest.raises(ApiConfigError) as failure:
        source.check()
    message = str(failure.value)
    assert f"{eloqua.url}/id" in message and "Not authenticated" in message
    assert "Site\\User:password" in message and repr(eloqua.site) in message
    with pytest.raises(ApiConfigError):
        list(source.pull(["C_EmailAddress"], None))
    assert "wrong" not in repr(source.settings)  # the password stays out of logs


def test_settings_refuse_what_eloqua_would(eloqua):
    with pytest.raises(ApiConfigError, match="export_page_size must be between 1 and 50,000"):
        sandbox_settings(eloqua, export_page_size=50_001)
    with pytest.raises(ApiConfigError, match="username and password"):
        EloquaSettings(site="Acme", username="someone")
    with pytest.raises(ApiConfigError, match="status_object"):
        sandbox_settings(eloqua, status_mode="custom_object")


def test_available_fields_lists_internal_names_with_their_bulk_types(source):
    fields = source.available_fields()
    assert fields["C_EmailAddress"] == "emailAddress" and fields["C_DateModified"] == "date"
    assert fields["C_Annual_Revenue1"] == "number" and fields["C_LeadSync_Partner1"] == "string"
    assert fields["ContactID"] == "number"  # the contact id, which every pull carries
    assert fields["{{Contact.Field(C_FirstName)}}"] == "string"  # statements are accepted as names too


def test_throttled_calls_are_backed_off_and_retried(eloqua, source):
    eloqua.throttle_next(3)
    assert "C_EmailAddress" in source.available_fields()
    assert eloqua.state.faults.throttled == 3
    eloqua.throttle_next(10)
    impatient = EloquaSource(sandbox_settings(eloqua, http=HttpSettings(
        timeout_s=5, retry=RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02))))
    with pytest.raises(ApiTransientError, match="429"):
        impatient.available_fields()


def test_server_errors_and_dropped_connections_are_retried(eloqua, source):
    eloqua.faults.fail_next(2, status=503, path_prefix="/API/Bulk")
    eloqua.faults.drop_next(1)
    rows = [r for b in source.pull(["C_EmailAddress"], None) for r in b.records.itertuples()]
    assert len(rows) == 300


def test_oauth_password_grant_renews_an_expired_bearer_once(eloqua):
    issued = []
    source = EloquaSource(sandbox_settings(eloqua, client_id=eloqua.client_id, client_secret=eloqua.client_secret,
                                           on_refresh_token=issued.append))
    source.check()
    assert len(issued) == 1
    eloqua.expire_tokens()  # the 8-hour access token ends early
    assert "C_EmailAddress" in source.available_fields()
    assert len(issued) == 2 and issued[0] != issued[1]  # renewed with the refresh token, which rotated
    # A source that only holds the newest refresh token (no password) works too.
    token_only = EloquaSource(sandbox_settings(eloqua, username=None, password=None, client_id=eloqua.client_id,
                                               client_secret=eloqua.client_secret, refresh_token=issued[-1]))
    assert token_only.check().site == eloqua.site


def test_oauth_with_a_dead_refresh_token_is_a_configuration_error(eloqua):
    source = EloquaSource(sandbox_settings(eloqua, username=None, password=None, client_id=eloqua.client_id,
                                           client_secret=eloqua.client_secret, refresh_token="revoked"))
    with pytest.raises(ApiConfigError) as failure:
        source.check()
    assert f"{eloqua.url}/auth/oauth2/token" in str(failure.value) and "authorize the app again" in str(failure.value)


def test_tls_sandbox_with_its_ca_bundle():
    with EloquaSandbox(tls=True, seed_contacts=5, sync_delay_s=0.005) as secure:
        source = EloquaSource(sandbox_settings(secure))
        assert source.check().base.startswith("https://")
        assert sum(len(b.records) for b in source.pull(["C_EmailAddress"], None)) == 5
        source.close()  # an idle TLS keep-alive would hold up the server's shutdown
