"""SalesforceSource.pull against the sandbox over TLS: incremental runs on SystemModstamp, records sharing a
stamp across a page boundary, the Bulk API 2.0 path, resuming, and what the org's refusals become."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from leadsync.connectors.api_client import (
    ApiConfigError,
    ApiQuotaExhausted,
    ApiTransientError,
    HttpSettings,
    RetryPolicy,
)
from leadsync.connectors.salesforce.source import (
    SEGREGATED_COLUMN,
    SalesforceSource,
    SegregationFilter,
)
from leadsync.connectors.salesforce.source.pull import plan_pull

FIELDS = ["Email", "Company", "LeadSource"]




def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def leads(org, n: int, stamp: str | None = None, tag: str = "lead", **fields) -> list[str]:
    """n leads; with `stamp`, their SystemModstamp forced to it (the sandbox writes whole seconds)."""
    ids = org.insert("Lead", [{"LastName": f"{tag}{i}", "Company": "Acme", "Email": f"{tag}{i}@acme.example",
                               **fields} for i in range(n)])
    if stamp:
        org.set_fields("Lead", ids, SystemModstamp=stamp)
    return ids


class Store:
    """What leadsync keeps: records deduplicated by (Id, SystemModstamp), the watermark and resume state."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], int] = {}
        self.watermark: datetime | None = None
        self.resume: dict | None = None
        self.keys: list[str] = []

    def run(self, source: SalesforceSource, stop_after: int | None = None) -> pd.DataFrame:
        frames = []
        for count, batch in enumerate(source.pull(FIELDS, self.watermark, self.resume), start=1):
            frames.append(batch.records)
            self.keys.append(batch.key)
            for pair in zip(batch.records["Id"], batch.records["SystemModstamp"], strict=True):
                self.versions[pair] = self.versions.get(pair, 0) + 1
            if batch.watermark is not None:
                self.watermark = batch.watermark
            self.resume = batch.resume
            if stop_after == count:
                break
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["Id"])


# ---------------------------------------------------------------------------------------------- REST


def test_incremental_runs_bring_new_and_updated_leads_and_repeat_only_the_look_back(org, source_for):
    source = source_for(org, look_back_s=60)
    old = leads(org, 3, "2026-11-23T09:00:00Z", "old")
    boundary = leads(org, 2, "2026-11-23T10:00:00Z", "edge")
    store = Store()

    first = store.run(source)
    assert sorted(first["Id"]) == sorted(old + boundary)
    assert store.watermark == at("2026-11-23T10:00:00")
    assert list(first.columns) == ["Id", "SystemModstamp", *FIELDS]

    org.clock.freeze("2026-11-23T10:10:00Z")
    org.update("Lead", old[0], {"Title": "CIO"})
    new = leads(org, 2, tag="new")
    second = store.run(source)

    assert sorted(second["Id"]) == sorted([old[0], *boundary, *new])  # old[1:] are behind the look-back
    repeated = [pair for pair, seen in store.versions.items() if seen > 1]
    assert sorted(i for i, _ in repeated) == sorted(boundary)  # only the watermark's own second again
    assert store.watermark == at("2026-11-23T10:10:00")
    assert org.get("Lead", old[0])["SystemModstamp"] in set(second["SystemModstamp"])


def test_leads_sharing_one_stamp_across_page_boundaries_are_neither_lost_nor_skipped(org, source_for):
    source = source_for(org, rest_batch_size=200)
    before = leads(org, 150, "2026-11-23T09:59:00Z", "before")
    shared = leads(org, 300, "2026-11-23T10:00:00Z", "shared")
    after = leads(org, 100, "2026-11-23T10:01:00Z", "after")

    batches = list(source.pull(FIELDS, None))

    assert [len(b.records) for b in batches] == [200, 200, 150]
    assert [b.watermark for b in batches] == [at("2026-11-23T09:59:00"), None, at("2026-11-23T10:01:00")]
    ids = pd.concat([b.records for b in batches])["Id"].tolist()
    assert len(ids) == len(set(ids)) == 550 and set(ids) == set(before + shared + after)
    assert all(b.kind == "rest" and b.key.startswith(f"rest:all:{n}:")
               for n, b in enumerate(batches, start=1))
    assert [b.key for b in source.pull(FIELDS, None)] == [b.key for b in batches]  # same records, same keys


def test_a_run_that_stops_after_a_shared_stamp_page_loses_nothing_when_pulled_again(org, source_for):
    source = source_for(org, rest_batch_size=200, look_back_s=0)
    everyone = leads(org, 150, "2026-11-23T09:59:00Z", "a") + leads(org, 300, "2026-11-23T10:00:00Z", "b")
    store = Store()

    store.run(source, stop_after=2)  # pages 1 and 2 stored, then the process died; resume state dropped
    store.resume = None
    store.run(source)

    assert store.watermark == at("2026-11-23T10:00:00")
    assert {i for i, _ in store.versions} == set(everyone)
    assert max(store.versions.values()) == 2  # read at most twice: the shared second is read again


def test_an_interrupted_pull_resumes_from_its_cursor(org, source_for):
    source = source_for(org, rest_batch_size=200)
    everyone = leads(org, 450, "2026-11-23T10:00:00Z")
    store = Store()

    store.run(source, stop_after=1)
    assert store.resume["path"] == "rest" and store.resume["page"] == 2
    store.run(source_for(org, rest_batch_size=200))

    assert sorted(i for i, _ in store.versions) == sorted(everyone) and set(store.versions.values()) == {1}
    assert [k.split(":")[2] for k in store.keys] == ["1", "2", "3"] and store.resume is None


def test_a_resume_whose_cursor_expired_pulls_again_from_the_watermark(org, source_for):
    everyone = leads(org, 3)
    stale = {"v": 1, "path": "rest", "shape": None, "since": "all", "page": 2, "seen_max": None,
             "next": "/services/data/v62.0/query/01gAAAAAAAAAAAAAAA-200"}
    source = source_for(org)
    stale["shape"] = plan_shape(source)

    [batch] = source.pull(FIELDS, None, stale)

    assert sorted(batch.records["Id"]) == sorted(everyone) and batch.key.startswith("rest:all:1:")


def test_a_mapping_naming_a_missing_field_fails_with_the_object_and_field(org, source_for):
    source = source_for(org)

    with pytest.raises(ApiConfigError) as failure:
        list(source.pull(["Email", "Partner_Tier"], None))

    assert str(failure.value) == "Lead has no field 'Partner_Tier'"


def test_field_names_match_case_insensitively_and_keep_the_mappings_spelling(org, source_for):
    [lead] = leads(org, 1, Title="CIO")

    [batch] = source_for(org).pull(["email", "TITLE", "Owner.Name"], None)

    assert list(batch.records.columns) == ["Id", "SystemModstamp", "email", "TITLE", "Owner.Name"]
    row = batch.records.iloc[0]
    assert row.tolist() == [lead, row["SystemModstamp"], "lead0@acme.example", "CIO", "Integration User"]


def test_token_expiry_mid_pull_logs_in_again_and_rereads_the_page(org, source_for):
    source = source_for(org, rest_batch_size=200)
    everyone = leads(org, 450)
    logins = org.sessions.logins

    pages = source.pull(FIELDS, None)
    ids = list(next(pages).records["Id"])
    org.faults.expire_tokens()
    ids += [i for batch in pages for i in batch.records["Id"]]

    assert sorted(ids) == sorted(everyone)
    assert org.sessions.logins == logins + 2  # the first login, and one after the expiry


def test_a_spent_daily_allocation_stops_the_pull_with_the_usage(org, source_for):
    source = source_for(org, rest_batch_size=200)
    leads(org, 450)
    pages = source.pull(FIELDS, None)
    first = next(pages)

    org.faults.exhaust_api_limit()
    with pytest.raises(ApiQuotaExhausted) as failure:
        next(pages)

    assert "api-usage=100000/100000" in str(failure.value) and "REQUEST_LIMIT_EXCEEDED" in str(failure.value)
    assert first.resume is not None  # leadsync keeps what it stored, and the pull continues there later


def test_total_requests_limit_exceeded_stops_at_once_though_the_last_header_showed_room(org, source_for):
    """The sandbox's forced refusal says "TotalRequests Limit exceeded.": the org's 24-hour allocation, whatever
    the last Sforce-Limit-Info said (other integrations spend it too). The concurrency refusals, which are
    retried, are replayed in tests/connectors/recorded/test_salesforce_recorded.py."""
    retries = []
    source = source_for(org, on_retry=lambda error, attempt: retries.append((error.vendor_code, attempt)))
    leads(org, 3)
    source.check()

    org.faults.limit_exceeded_next(2)
    with pytest.raises(ApiQuotaExhausted, match="TotalRequests Limit exceeded"):
        list(source.pull(FIELDS, None))

    assert retries == []


def test_server_errors_are_retried_with_back_off(org, source_for):
    retries = []
    policy = RetryPolicy(attempts=4, initial_s=0.15, max_s=0.15)
    source = source_for(org, on_retry=lambda error, attempt: retries.append((error.status, attempt)),
                        http=HttpSettings(ca_bundle=org.ca_pem_path, retry=policy))
    leads(org, 3)
    source.check()

    org.faults.server_error_next(2, status=503)
    started = time.perf_counter()
    [batch] = source.pull(FIELDS, None)

    assert len(batch.records) == 3 and retries == [(503, 1), (503, 2)]
    assert time.perf_counter() - started >= 0.3


def test_server_errors_that_outlast_the_retries_are_transient(org, source_for):
    source = source_for(org)
    source.check()

    org.faults.server_error_next(10, status=500)
    with pytest.raises(ApiTransientError, match="HTTP 500 UNKNOWN_EXCEPTION"):
        list(source.pull(FIELDS, None))


# ---------------------------------------------------------------------------------------------- Bulk API 2.0


def test_above_the_threshold_the_pull_reads_a_bulk_job_page_by_page(seeded, source_for):
    source = source_for(seeded, bulk_threshold=1000, bulk_page_size=1000)
    newest = max(seeded.get("Lead", i)["SystemModstamp"] for i in _all_lead_ids(seeded))

    batches = list(source.pull(FIELDS, None))

    assert [(b.kind, len(b.records)) for b in batches] == [("bulk", 1000), ("bulk", 1000), ("bulk", 500)]
    job = batches[0].key.split(":")[1]
    assert job.startswith("750") and batches[0].key == f"bulk:{job}:first"
    assert all(b.key.startswith(f"bulk:{job}:") for b in batches) and len({b.key for b in batches}) == 3
    assert [b.watermark for b in batches[:2]] == [None, None]  # a bulk job's order is unknown
    assert batches[-1].watermark == datetime.fromisoformat(newest.replace(".000+0000", "+00:00"))
    ids = pd.concat([b.records for b in batches])["Id"]
    assert ids.is_unique and len(ids) == 2500
    assert list(batches[0].records.columns) == ["Id", "SystemModstamp", *FIELDS]
    assert job not in {j.info(full=False)["id"] for j in seeded.org.bulk.list("query")}  # deleted once read


def test_rest_and_bulk_pages_carry_the_same_text(seeded, source_for):
    fields = ["Email", "NumberOfEmployees", "AnnualRevenue", "IsConverted", "HasOptedOutOfEmail",
              "CreatedDate", "Product_Interest__c", "Owner.Name", "Description"]
    by_rest = pd.concat([b.records for b in source_for(seeded).pull(fields, None)])
    by_bulk = pd.concat([b.records for b in source_for(seeded, bulk_threshold=0).pull(fields, None)])

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values("Id").reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(by_rest), ordered(by_bulk))
    assert set(by_rest["IsConverted"]) <= {"true", "false"} and by_rest["Owner.Name"].notna().all()


def test_an_interrupted_bulk_pull_resumes_from_its_job_and_locator(seeded, source_for):
    store = Store()
    store.run(source_for(seeded, bulk_threshold=1000, bulk_page_size=1000), stop_after=1)
    job = store.resume["job_id"]

    store.run(source_for(seeded, bulk_threshold=1000, bulk_page_size=1000))

    assert [k.split(":")[1] for k in store.keys] == [job] * 3
    assert len(store.versions) == 2500 and set(store.versions.values()) == {1}


def test_a_resume_naming_a_deleted_bulk_job_starts_a_new_one(seeded, source_for):
    source = source_for(seeded, bulk_threshold=1000, bulk_page_size=5000)
    gone = {"v": 1, "path": "bulk", "shape": plan_shape(source), "job_id": "7508d00009ZZZZZAAA",
            "locator": "MTAwMA", "seen_max": None}

    [batch] = source.pull(FIELDS, None, gone)

    assert len(batch.records) == 2500 and not batch.key.startswith("bulk:7508d00009ZZZZZAAA")


def test_token_expiry_between_bulk_pages_is_recovered(seeded, source_for):
    source = source_for(seeded, bulk_threshold=1000, bulk_page_size=1000)
    pages = source.pull(FIELDS, None)
    ids = list(next(pages).records["Id"])

    seeded.faults.expire_tokens()
    ids += [i for batch in pages for i in batch.records["Id"]]

    assert len(set(ids)) == len(ids) == 2500 and source.client.logins == 2


def test_a_failed_bulk_job_is_run_again(seeded, source_for):
    retries = []
    source = source_for(seeded, bulk_threshold=1000, bulk_page_size=5000,
                        on_retry=lambda error, attempt: retries.append(error))
    seeded.faults.fail_next_bulk_jobs(1)

    [batch] = source.pull(FIELDS, None)

    assert len(batch.records) == 2500 and "InternalServerError" in str(retries[0])


def test_segregated_records_are_flagged_as_the_org_would_filter_them(seeded, source_for, seeded_sf):
    segregation = SegregationFilter.from_config({"any": [
        {"field": "LeadSource", "in": ["Partner Referral", "employee referral"]},
        {"field": "Country", "equals": "GB"},
        {"field": "NumberOfEmployees", "gte": 5000}]})
    rest = source_for(seeded, segregation=segregation)
    bulk = source_for(seeded, segregation=segregation, bulk_threshold=1000)

    by_rest = pd.concat([b.records for b in rest.pull(["Email"], None)])
    by_bulk = pd.concat([b.records for b in bulk.pull(["Email"], None)])

    where = segregation.soql(rest.client.describe("Lead"))
    expected = {r["Id"] for r in seeded_sf.query_all(f"SELECT Id FROM Lead WHERE {where}")["records"]}
    assert 0 < len(expected) < 2500
    for frame in (by_rest, by_bulk):
        assert list(frame.columns) == ["Id", "SystemModstamp", "Email", SEGREGATED_COLUMN]
        assert set(frame.loc[frame[SEGREGATED_COLUMN] == "true", "Id"]) == expected
        assert set(frame[SEGREGATED_COLUMN]) == {"true", "false"}


def test_segregation_values_are_literals_never_soql(org, source_for):
    quoted = leads(org, 1, Company="O'Brien \\ Sons' Ltd")
    leads(org, 2, Company="Acme")
    segregation = SegregationFilter.from_config({"all": [{"field": "Company",
                                                          "equals": "o'brien \\ sons' ltd"}]})
    source = source_for(org, segregation=segregation)

    [batch] = source.pull(["Company"], None)

    assert batch.records.loc[batch.records[SEGREGATED_COLUMN] == "true", "Id"].tolist() == quoted
    where = segregation.soql(source.client.describe("Lead"))
    assert where == "(Company = 'o\\'brien \\\\ sons\\' ltd')"
    found = source.client.sf.query(f"SELECT Id FROM Lead WHERE {where}")["records"]
    assert [r["Id"] for r in found] == quoted


def test_a_segregation_filter_on_an_unknown_field_fails_before_any_record(org, source_for):
    source = source_for(org, segregation=SegregationFilter.from_config({"all": [{"field": "Tier__c",
                                                                                "equals": "Gold"}]}))
    with pytest.raises(ApiConfigError, match="Lead has no field 'Tier__c'"):
        list(source.pull(["Email"], None))


def test_a_contact_source_pulls_contacts(seeded, source_for):
    batches = list(source_for(seeded, object="Contact").pull(["Email", "MailingCountry"], None))

    assert sum(len(b.records) for b in batches) == 150
    assert all(i.startswith("003") for b in batches for i in b.records["Id"])


def plan_shape(source: SalesforceSource) -> str:
    return plan_pull(source.settings, source.client.describe("Lead"), FIELDS, None).shape


def _all_lead_ids(org) -> list[str]:
    table = org.store.tables["Lead"]
    return [table.get(r, "Id") for r in range(table.size)]
