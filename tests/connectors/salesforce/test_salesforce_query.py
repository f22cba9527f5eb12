"""SOQL over REST: simple-salesforce's query, query_all and query_all_iter, paging, the filters and
orderings a lead pull emits, and Salesforce's error bodies."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from leadsync.connectors.salesforce.sandbox.soql_engine import compile_query, select_rows


def _ids(result) -> list[str]:
    return [r["Id"] for r in result["records"]]


def test_query_all_pages_through_more_than_2000_rows(seeded, seeded_sf):
    first = seeded_sf.query("SELECT Id, Email FROM Lead")

    assert first["totalSize"] == 2500 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    everything = seeded_sf.query_all("SELECT Id, Email FROM Lead")
    assert everything["totalSize"] == 2500
    assert len(set(_ids(everything))) == 2500


def test_query_all_iter_yields_every_record_once(seeded_sf):
    ids = [r["Id"] for r in seeded_sf.query_all_iter("SELECT Id FROM Lead ORDER BY Id")]

    assert len(ids) == 2500 and ids == sorted(ids)


def test_batch_size_header_sets_the_page_size(seeded_sf):
    page = seeded_sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=500"})

    assert len(page["records"]) == 500
    assert page["nextRecordsUrl"].endswith("-500")
    second = seeded_sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 500 and set(_ids(second)).isdisjoint(_ids(page))


def test_records_carry_attributes_with_type_and_url(seeded_sf):
    record = seeded_sf.query("SELECT Id, Email FROM Lead LIMIT 1")["records"][0]

    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{record['Id']}"}
    assert list(record) == ["attributes", "Id", "Email"]
    assert len(record["Id"]) == 18 and record["Id"].startswith("00Q")


def test_where_order_by_and_limit(seeded_sf):
    result = seeded_sf.query("SELECT Id, Country, NumberOfEmployees FROM Lead WHERE Country IN ('US', 'CA') "
                             "AND NumberOfEmployees >= 100 ORDER BY NumberOfEmployees DESC, Id LIMIT 25")

    rows = result["records"]
    assert len(rows) == 25 and result["totalSize"] == 25
    assert all(r["Country"] in ("US", "CA") and r["NumberOfEmployees"] >= 100 for r in rows)
    sizes = [r["NumberOfEmployees"] for r in rows]
    assert sizes == sorted(sizes, reverse=True)


def test_text_comparisons_ignore_case_like_salesforce(seeded_sf):
    upper = seeded_sf.query("SELECT COUNT() FROM Lead WHERE Country = 'US'")["totalSize"]
    lower = seeded_sf.query("SELECT COUNT() FROM Lead WHERE Country = 'us'")["totalSize"]

    assert upper == lower > 0


def test_like_not_and_parentheses(seeded_sf):
    result = seeded_sf.query_all("SELECT Id, Email, Country FROM Lead WHERE Email LIKE '%@acme-%' "
                                 "AND (NOT Country = 'US') AND (Country = 'GB' OR Country = 'DE')")

    assert result["totalSize"] > 0
    assert all("@acme-" in r["Email"] and r["Country"] in ("GB", "DE") for r in result["records"])


def test_not_equal_also_matches_null_like_soql(org, sf, make_leads):
    rated = make_leads(2, Rating="Hot")
    unrated = make_leads(3)

    result = sf.query("SELECT Id FROM Lead WHERE Rating != 'Hot'")
    nulls = sf.query("SELECT Id FROM Lead WHERE Rating = null")

    assert set(_ids(result)) == set(unrated)
    assert set(_ids(nulls)) == set(unrated)
    assert set(_ids(sf.query("SELECT Id FROM Lead WHERE Rating != null"))) == set(rated)


def test_systemmodstamp_bound_is_inclusive_and_shared_timestamps_all_come_back(org, sf, make_leads):
    org.clock.freeze("2026-11-23T10:15:30Z")
    earlier = make_leads(2)
    org.clock.advance(60)
    same_second = make_leads(5)  # five writes in one second share a SystemModstamp
    org.clock.advance(60)
    later = make_leads(1)

    result = sf.query_all("SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= 2026-11-23T10:16:30Z "
                          "ORDER BY SystemModstamp, Id")

    assert _ids(result) == sorted(same_second) + later
    assert {r["SystemModstamp"] for r in result["records"][:5]} == {"2026-11-23T10:16:30.000+0000"}
    strictly_after = sf.query_all("SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-23T10:16:30.000+0000")
    assert _ids(strictly_after) == later
    assert set(earlier).isdisjoint(_ids(result))


def test_datetime_literals_with_offsets_compare_in_utc(org, sf, make_leads):
    org.clock.freeze("2026-11-23T10:00:00Z")
    lead = make_leads(1)

    assert _ids(sf.query("SELECT Id FROM Lead WHERE CreatedDate = 2026-11-23T11:00:00+01:00")) == lead
    assert _ids(sf.query("SELECT Id FROM Lead WHERE CreatedDate < 2026-11-23T10:00:00+0000")) == []


def test_order_by_puts_nulls_first_ascending_and_last_descending(org, sf, make_leads):
    with_title = make_leads(2, Title="CIO")
    without = make_leads(1)

    ascending = _ids(sf.query("SELECT Id FROM Lead ORDER BY Title, Id"))
    descending = _ids(sf.query("SELECT Id FROM Lead ORDER BY Title DESC, Id"))
    nulls_last = _ids(sf.query("SELECT Id FROM Lead ORDER BY Title ASC NULLS LAST, Id"))

    assert ascending[0] == without[0] and descending[-1] == without[0] and nulls_last[-1] == without[0]
    assert set(ascending[1:]) == set(with_title)


def test_offset_skips_rows(seeded_sf):
    ordered = _ids(seeded_sf.query("SELECT Id FROM Lead ORDER BY Id LIMIT 10"))

    assert _ids(seeded_sf.query("SELECT Id FROM Lead ORDER BY Id LIMIT 5 OFFSET 5")) == ordered[5:]


def test_count_query(seeded_sf):
    result = seeded_sf.query("SELECT COUNT() FROM Lead WHERE Country = 'GB'")

    assert result["records"] == [] and result["done"] is True and result["totalSize"] > 0


def test_parent_fields_through_lookups(seeded_sf):
    member = seeded_sf.query("SELECT Id, Campaign.Name, Lead.Email, LeadId FROM CampaignMember LIMIT 1")["records"][0]

    assert member["Campaign"]["attributes"]["type"] == "Campaign" and member["Campaign"]["Name"]
    assert member["Lead"]["Email"] and member["Lead"]["attributes"]["url"].endswith(member["LeadId"])


def test_activity_history_by_who_id(seeded_sf):
    task = seeded_sf.query("SELECT Id, WhoId, Who.Name, Subject, Status FROM Task LIMIT 1")["records"][0]
    lead = seeded_sf.query(f"SELECT Id, Name FROM Lead WHERE Id = '{task['WhoId']}'")["records"][0]

    assert task["Who"]["Name"] == lead["Name"]


def test_fifteen_character_ids_match_their_eighteen_character_form(org, sf, make_leads):
    lead = make_leads(1)[0]

    assert _ids(sf.query(f"SELECT Id FROM Lead WHERE Id = '{lead[:15]}'")) == [lead]


def test_unknown_field_is_invalid_field_with_salesforces_message(seeded, seeded_sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        seeded_sf.query("SELECT Id, Partner_Tier FROM Lead")

    [error] = failure.value.content
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Partner_Tier' on entity 'Lead'" in error["message"]
    assert "ERROR at Row:1:Column:12" in error["message"]


def test_syntax_error_is_malformed_query(seeded_sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        seeded_sf.query("SELECT Id FRM Lead")

    assert failure.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert failure.value.content[0]["message"].endswith("unexpected token: FRM")


def test_mixing_and_with_or_needs_parentheses(seeded_sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        seeded_sf.query("SELECT Id FROM Lead WHERE Country = 'US' AND State = 'CA' OR Country = 'GB'")

    assert failure.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_a_quoted_datetime_is_refused_as_salesforce_does(seeded_sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        seeded_sf.query("SELECT Id FROM Lead WHERE SystemModstamp >= '2026-11-23T10:00:00Z'")

    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in failure.value.content[0]["message"]


def test_unknown_object_is_invalid_type(seeded_sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        seeded_sf.query("SELECT Id FROM Leed")

    assert failure.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_query_all_includes_deleted_records_and_query_does_not(org, sf, make_leads):
    keep, gone = make_leads(2)
    sf.Lead.delete(gone)

    assert _ids(sf.query("SELECT Id FROM Lead")) == [keep]
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true", include_deleted=True)
    assert _ids(deleted) == [gone]


def test_query_and_query_with_trailing_slash_are_the_same_resource(seeded, seeded_sf):
    url = f"{seeded.url}/services/data/v61.0/query"
    headers = {"Authorization": f"Bearer {seeded.issue_token()}"}
    session = seeded.session()

    plain = session.get(url, params={"q": "SELECT Id FROM Lead LIMIT 3"}, headers=headers)
    slashed = session.get(url + "/", params={"q": "SELECT Id FROM Lead LIMIT 3"}, headers=headers)

    assert plain.status_code == slashed.status_code == 200
    assert plain.json()["records"] == slashed.json()["records"]
    assert plain.json()["records"][0]["attributes"]["url"].startswith("/services/data/v61.0/")


def test_an_unknown_query_locator_is_refused(seeded):
    response = seeded.session().get(f"{seeded.url}/services/data/v59.0/query/01gXXXXXXXXXXXXAAA-2000",
                                    headers={"Authorization": f"Bearer {seeded.issue_token()}"})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_engine_filters_300_rows_without_http(seeded):
    plan = compile_query("SELECT Id FROM Lead WHERE Country = 'JP' OR Country = 'AU' ORDER BY Id LIMIT 300",
                         seeded.store)

    rows = select_rows(plan, seeded.store)

    table = seeded.store.tables["Lead"]
    assert 0 < len(rows) <= 300
    assert all(table.get(r, "Country") in ("JP", "AU") for r in rows)


def test_requests_with_a_bad_version_are_not_found(seeded):
    response = requests.get(f"{seeded.url}/services/data/59/query", params={"q": "SELECT Id FROM Lead"},
                            headers={"Authorization": f"Bearer {seeded.issue_token()}"},
                            verify=str(seeded.ca_pem_path))

    assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"
