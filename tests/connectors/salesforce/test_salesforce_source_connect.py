"""SalesforceSource connecting: each login flow against the sandbox over TLS, refusals that say what to fix,
describe, and settings that keep secrets out of logs."""

from __future__ import annotations

import pytest

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.salesforce.sandbox.auth import generate_jwt_key_pair
from leadsync.connectors.salesforce.source import SalesforceSettings, SalesforceSource
from leadsync.connectors.salesforce.source.settings import sandbox_settings


@pytest.fixture
def settings_for():
    """settings_for(org, **overrides): settings reaching `org` (its URL and test CA), client credentials."""
    return sandbox_settings


def test_check_logs_in_with_client_credentials(org, settings_for):
    logins = org.sessions.logins

    with SalesforceSource(settings_for(org)) as source:
        source.check()

    assert org.sessions.logins == logins + 1


def test_check_logs_in_with_a_jwt_signed_by_the_configured_key_file(org, settings_for, tmp_path):
    key_file = tmp_path / "connected-app.key"
    key_file.write_text(org.jwt_private_key_pem)
    settings = settings_for(org, auth="jwt", consumer_secret=None, username=org.credentials.username,
                            private_key_path=str(key_file))

    with SalesforceSource(settings) as source:
        source.check()
        assert source.client.sf.query("SELECT COUNT() FROM User")["totalSize"] == 5


def test_check_logs_in_with_the_username_password_flow(org, settings_for):
    settings = settings_for(org, auth="password", username=org.credentials.username,
                            password=org.credentials.password)

    with SalesforceSource(settings) as source:
        source.check()


def test_a_wrong_secret_fails_check_naming_the_login_url_the_flow_and_the_fix(org, settings_for):
    source = SalesforceSource(settings_for(org, consumer_secret="not-the-secret"))

    with pytest.raises(ApiConfigError) as failure:
        source.check()

    message = str(failure.value)
    assert message.startswith(f"Salesforce login at {org.url} (client_credentials flow) failed: "
                              "invalid_client")
    assert "Fix: check the connected app's consumer key and secret" in message
    assert "not-the-secret" not in message


def test_a_jwt_from_a_key_the_app_does_not_hold_fails_with_the_jwt_fix(org, settings_for):
    stranger, _ = generate_jwt_key_pair()
    source = SalesforceSource(settings_for(org, auth="jwt", username=org.credentials.username,
                                           private_key=stranger))

    with pytest.raises(ApiConfigError, match=r"\(jwt flow\) failed: invalid_grant.*holds the certificate"):
        source.check()


def test_available_fields_are_describes_names_and_types(org, settings_for):
    with SalesforceSource(settings_for(org)) as source:
        fields = source.available_fields()

    assert fields["Email"] == "email" and fields["SystemModstamp"] == "datetime"
    assert fields["LeadSync_Distribution_Status__c"] == "picklist" and fields["IsConverted"] == "boolean"
    assert "MailingCity" not in fields


def test_a_contact_source_describes_contact(org, settings_for):
    with SalesforceSource(settings_for(org, object="Contact")) as source:
        assert "MailingCity" in source.available_fields()


def test_settings_keep_secrets_out_of_repr(org, settings_for):
    settings = settings_for(org, auth="password", username="u@x", password="pw-123", security_token="tok-456")

    shown = repr(settings)
    assert org.credentials.client_secret not in shown and org.credentials.client_id not in shown
    assert "pw-123" not in shown and "tok-456" not in shown and "u@x" in shown


def test_settings_say_what_a_flow_is_missing():
    with pytest.raises(ApiConfigError, match="auth jwt needs username, private_key_path"):
        SalesforceSettings(auth="jwt", consumer_key="k")
    with pytest.raises(ApiConfigError, match="rest_batch_size must be within 200..2000"):
        SalesforceSettings(consumer_key="k", consumer_secret="s", rest_batch_size=50)


def test_the_login_domain_comes_from_a_salesforce_login_url():
    my_domain = SalesforceSettings(login_url="https://acme.my.salesforce.com", consumer_key="k",
                                   consumer_secret="s")
    sandbox = SalesforceSettings(auth="jwt", login_url="https://test.salesforce.com", consumer_key="k",
                                 username="u", private_key="pem")
    jwt_my_domain = SalesforceSettings(auth="jwt", login_url="https://acme.my.salesforce.com",
                                       consumer_key="k", username="u", private_key="pem")

    assert my_domain.sf_domain == "acme.my" and my_domain.on_salesforce
    assert sandbox.jwt_domains == ("test", None)
    # audience login.salesforce.com, token from the My Domain
    assert jwt_my_domain.jwt_domains == ("login", "acme.my")


def test_a_token_endpoint_hiccup_is_retried(org, settings_for):
    org.faults.server_error_next(1, status=503, path_prefix="/services/oauth2/token")

    with SalesforceSource(settings_for(org)) as source:
        source.check()


def test_a_secret_rotated_mid_run_fails_the_next_login_with_the_fix(org, settings_for):
    with SalesforceSource(settings_for(org)) as source:
        source.check()
        org.credentials.client_secret = "rotated"
        org.faults.expire_tokens()

        with pytest.raises(ApiConfigError, match=r"\(client_credentials flow\) failed: invalid_client"):
            list(source.pull(["Email"], None))
