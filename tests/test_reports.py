"""Reports over a small store built with the real routing and lifecycle functions, on DuckDB and Postgres:
exact figures for each report, group_by validation, CSV export, and the report assets materialised with
their table and chart.

The store (T0 = 2 Nov 2026 for source `web`, 15 Oct 2026 for source `events`):

  lead      source  country campaign      partner  what happened                                    opportunity
  web-1     web     US      Spring Promo  north    accepted, rep Nora, converted, webinar, 1 source   50,000 Proposal
                                                   activity                                          (marketing lead)
  web-2     web     US      -             north    accepted, rep Omar, converted                     10,000 Prospecting
                                                                                                     (distributed)
  web-3     web     US      -             north    accepted, rep Nora, contacted
  web-4     web     GB      -             blue     routed, not accepted yet
  web-5     web     JP      -             -        unassigned (no partner serves JP)
  web-6     web     US      -             -        segregated
  events-1  events  GB      Expo          blue     accepted, rep Dana, converted, call; blue        20,000 Proposal
                                                   registered bob@globex.example itself             (partner-generated)
  events-2  events  US      Expo          north    routed, not accepted yet
  crm-0001  (an opportunity with no lead behind it)                                                 7,000 Negotiation
                                                                                                     (CRM-only)
plus one row of `web` quarantined at intake.
"""

import base64
import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from databases import PG_ADMIN_URL, postgres_unreachable

from leadsync.assign import route_new_leads
from leadsync.config.schema import SOURCE_MODELS, PartnersConfig
from leadsync.defs.resources import LeadsyncResource
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.registration import register_partner_leads
from leadsync.lifecycle.settings import LifecycleSettings
from leadsync.lifecycle.updates import apply_update
from leadsync.reports import REPORTS, ReportError, ReportOptions, run_report
from leadsync.defs.report_assets import report_assets
from leadsync.reports.charts import PALETTE, BarChart, render_png
from leadsync.reports.export import export_report
from leadsync.store import LeadStore, tables

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
T_OCT = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
NAMES = {"north": "Northwind Networks", "blue": "Blue Peak Security"}

PARTNERS = {
    "partners": [
        {"id": "north", "name": NAMES["north"], "countries": ["US"],
         "users": [{"name": "Lead Desk", "email": "leads@northwind.example"}]},
        {"id": "blue", "name": NAMES["blue"], "countries": ["GB"],
         "users": [{"name": "Sales Desk", "email": "sales@bluepeak.example"}]},
    ],
    "routing": {"accept_within_days": 5, "rule_groups": [
        {"name": "country", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]}]},
}
REGISTRATION_RULES = {
    "target_source": None, "ignored_companies": [], "ignored_email_domains": [], "partner_rules": {},
    "modes": {"*": "supplier_managed"},
    "supplier_rules": [{"name": "territory", "rules": [
        {"field": "country", "op": "in", "partner_attribute": "countries"}]}],
}


def source(name: str):
    data = yaml.safe_load((REPO / "mappings/sources/sftp_demo.yaml").read_text())
    return SOURCE_MODELS["sftp"].model_validate({**data, "name": name})


def put_leads(store: LeadStore, source_name: str, records: list[dict], at: datetime) -> None:
    frame = pd.DataFrame(records)
    n = len(frame)
    frame["lead_id"] = [f"{source_name}-{i}" for i in range(1, n + 1)]
    frame["source"], frame["batch_id"], frame["row_number"] = source_name, f"{source_name}-b1", range(1, n + 1)
    frame["lead_key"] = frame["lead_id"]
    if "email" not in frame:
        frame["email"] = [f"{lead}@example.com" for lead in frame["lead_id"]]
    frame["email"] = frame["email"].fillna(frame["lead_id"] + "@example.com")
    frame["received_at"] = frame["updated_at"] = at
    with store.begin() as conn:
        store.insert_frame(conn, tables.leads, frame)


def update(ctx: Lifecycle, partner: str, lead: str, at: datetime, **fields) -> None:
    apply_update(ctx, partner, {"lead_id": lead, **fields}, at, "import")


def build_store(url: str) -> LeadStore:
    """The store of the module docstring, built through routing and the partner lifecycle."""
    settings = yaml.safe_load((REPO / "mappings/lifecycle.yaml").read_text())
    settings["web"]["secret_env"] = "LEADSYNC_TEST_LIFECYCLE_SECRET"
    settings["auto_registration"] = REGISTRATION_RULES
    partners = PartnersConfig.model_validate(PARTNERS)
    web, events = source("web"), source("events")
    store = LeadStore(url)
    ctx = Lifecycle(store, partners, LifecycleSettings.model_validate(settings), {"web": web, "events": events})

    put_leads(store, "web", [
        {"country": "US", "campaign": "Spring Promo", "source_record_id": "w-rec-1", "company": "Acme"},
        {"country": "US", "company": "Initech"}, {"country": "US"}, {"country": "GB"}, {"country": "JP"},
        {"country": "US", "segregated": True}], T0)
    put_leads(store, "events", [
        {"country": "GB", "campaign": "Expo", "email": "bob@globex.example", "company": "Globex"},
        {"country": "US", "campaign": " Expo "}], T_OCT)
    route_new_leads(events, partners, store, T_OCT)
    route_new_leads(web, partners, store, T0)
    with store.begin() as conn:
        conn.execute(sa.insert(tables.lead_activities).values(
            source="web", activity_id="act-1", record_id="w-rec-1", activity_type="Visit Web Page",
            occurred_at="2026-10-30"))
        conn.execute(sa.insert(tables.quarantine).values(
            batch_id="web-b1", row_number=99, source="web", file_name="leads.csv", payload="{}",
            reason="Email: missing", quarantined_at=T0))
        # An opportunity no lead of leadsync's stands behind (as a CRM opportunity would be).
        conn.execute(sa.insert(lt.opportunities).values(
            opportunity_id="crm-0001:opportunity", lead_id="crm-0001", source="crm", partner_id="north",
            name="Renewal", stage="Negotiation", amount=7000.0, currency="USD", close_date=date(2027, 1, 31),
            created_at=T0, updated_at=T0, version=1))

    register_partner_leads(ctx, "blue", [{"reference": "r-1", "email": "Bob@Globex.example", "country": "GB"},
                                         {"reference": "r-2", "email": "eve@nowhere.example", "country": "US"}],
                           T_OCT - timedelta(days=1))
    day = timedelta(days=1)
    for lead in ("web-1", "web-2", "web-3"):
        accept_lead(ctx, lead, "north", T0 + timedelta(hours=1))
    accept_lead(ctx, "events-1", "blue", T_OCT + timedelta(hours=1))
    update(ctx, "north", "web-1", T0 + day, rep_name="Nora West", rep_email="nora@northwind.example",
           sales_status="Converted Opportunity", opportunity_name="Acme firewall", opportunity_stage="Proposal",
           opportunity_amount="50000", opportunity_close_date="2026-12-15", marketing_event_type="Webinar",
           marketing_event_name="Firewall roadshow", marketing_event_date="2026-11-05")
    update(ctx, "north", "web-2", T0 + day, rep_name="Omar Diaz", rep_email="omar@northwind.example",
           sales_status="Converted", opportunity_stage="Prospecting", opportunity_amount="10000")
    update(ctx, "north", "web-3", T0 + day, rep_name="Nora West", rep_email="Nora@Northwind.example",
           sales_status="Contacted")
    update(ctx, "blue", "events-1", T_OCT + day, rep_name="Dana Reyes", rep_email="dana@bluepeak.example",
           sales_status="Converted Opportunity", opportunity_stage="Proposal", opportunity_amount="20000",
           marketing_event_type="Call", marketing_event_name="Scoping call", marketing_event_on="opportunity")
    return store


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def store(request, tmp_path_factory) -> Iterator[LeadStore]:
    """The store built once per engine for the whole module: reports only read it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEADSYNC_TEST_LIFECYCLE_SECRET", "test-secret-0123456789-abcdefghij")
        if request.param == "duckdb":
            built = build_store(f"duckdb:///{tmp_path_factory.mktemp('reports') / 'leadsync.duckdb'}")
            yield built
            built.dispose()
            return
        reason = postgres_unreachable()
        if reason:
            pytest.skip(reason)
        name = f"leadsync_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            built = build_store(sa.engine.make_url(PG_ADMIN_URL).set(database=name)
                                .render_as_string(hide_password=False))
            yield built
            built.dispose()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(row) for row in frame[columns].itertuples(index=False)]


def test_lead_summary_counts_each_source_by_distribution_status(store):
    frame = run_report(store, "lead_summary")
    assert frame["source"].tolist() == ["events", "web"]
    by_source = frame.set_index("source")
    assert by_source.loc["web"].to_dict() == {
        "leads": 6, "quarantined": 1, "not_routed": 0, "segregated": 1, "needs_review": 0, "unassigned": 1,
        "routed": 1, "accepted": 1, "rejected": 0, "withdrawn": 0, "closed": 2, "other": 0, "converted": 2,
        "opportunities": 2, "opportunity_value": 60000.0}
    assert by_source.loc["events"].to_dict() == {
        "leads": 2, "quarantined": 0, "not_routed": 0, "segregated": 0, "needs_review": 0, "unassigned": 0,
        "routed": 1, "accepted": 0, "rejected": 0, "withdrawn": 0, "closed": 1, "other": 0, "converted": 1,
        "opportunities": 1, "opportunity_value": 20000.0}


def test_lead_distribution_summary_groups_by_one_to_three_dimensions(store):
    measures = ["leads", "accepted", "converted", "marketing_events", "source_activities", "opportunities",
                "opportunity_value"]
    by_partner = run_report(store, "lead_distribution_summary", group_by="partner", partner_names=NAMES)
    assert list(by_partner.columns) == ["partner", "partner_name", *measures]
    assert records(by_partner, list(by_partner.columns)) == [
        ("(no partner)", "(no partner)", 2, 0, 0, 0, 0, 0, 0.0),
        ("blue", "Blue Peak Security", 2, 1, 1, 1, 0, 1, 20000.0),
        ("north", "Northwind Networks", 4, 3, 2, 1, 1, 2, 60000.0)]

    by_source_month = run_report(store, "lead_distribution_summary", group_by=["source", "month"])
    assert records(by_source_month, ["source", "month", *measures]) == [
        ("events", "2026-10", 2, 1, 1, 1, 0, 1, 20000.0),
        ("web", "2026-11", 6, 3, 2, 1, 1, 2, 60000.0)]

    by_campaign_status = run_report(store, "lead_distribution_summary", group_by="campaign,status")
    assert records(by_campaign_status, ["campaign", "status", "leads"]) == [
        ("(no campaign)", "accepted", 1), ("(no campaign)", "closed", 1), ("(no campaign)", "routed", 1),
        ("(no campaign)", "segregated", 1), ("(no campaign)", "unassigned", 1),
        ("Expo", "closed", 1), ("Expo", "routed", 1), ("Spring Promo", "closed", 1)]

    three = run_report(store, "lead_distribution_summary", group_by="source,partner,status")
    assert list(three.columns[:4]) == ["source", "partner", "partner_name", "status"]
    assert three["leads"].sum() == 8 and len(three) == 7


def test_opportunity_overview_by_partner_and_stage(store):
    frame = run_report(store, "opportunity_overview", partner_names=NAMES)
    assert records(frame, list(frame.columns)) == [
        ("blue", "Blue Peak Security", "Proposal", 1, 20000.0, 20000.0),
        ("north", "Northwind Networks", "Negotiation", 1, 7000.0, 7000.0),
        ("north", "Northwind Networks", "Proposal", 1, 50000.0, 50000.0),
        ("north", "Northwind Networks", "Prospecting", 1, 10000.0, 10000.0)]


def test_opportunity_details_list_the_pipeline_largest_first(store):
    frame = run_report(store, "opportunity_details")
    assert records(frame, ["lead_id", "partner_id", "stage", "amount", "origin", "sales_status", "rep_email",
                           "marketing_events"]) == [
        ("web-1", "north", "Proposal", 50000.0, "marketing_lead", "Converted Opportunity",
         "nora@northwind.example", 1),
        ("events-1", "blue", "Proposal", 20000.0, "partner_generated", "Converted Opportunity",
         "dana@bluepeak.example", 1),
        ("web-2", "north", "Prospecting", 10000.0, "distributed", "Converted Opportunity",
         "omar@northwind.example", 0),
        ("crm-0001", "north", "Negotiation", 7000.0, "crm_only", None, None, 0)]
    first = frame.iloc[0]
    assert (first["opportunity_name"], first["close_date"], first["currency"], first["company"]) == (
        "Acme firewall", "2026-12-15", "USD", "Acme")


def test_opportunity_summary_by_origin(store):
    frame = run_report(store, "opportunity_summary")
    assert records(frame, ["origin", "opportunities", "amount", "share_of_amount_pct"]) == [
        ("marketing_lead", 1, 50000.0, 57.5), ("partner_generated", 1, 20000.0, 23.0),
        ("distributed", 1, 10000.0, 11.5), ("crm_only", 1, 7000.0, 8.0)]


def test_rep_stack_ranking_across_partners(store):
    frame = run_report(store, "rep_stack_ranking", partner_names=NAMES)
    assert records(frame, ["rank", "rep_name", "rep_email", "partner_name", "leads", "open_leads", "converted",
                           "conversion_rate_pct", "opportunities", "pipeline_amount", "marketing_events",
                           "points"]) == [
        (1, "Nora West", "nora@northwind.example", "Northwind Networks", 2, 1, 1, 50.0, 1, 50000.0, 1, 45),
        (2, "Dana Reyes", "dana@bluepeak.example", "Blue Peak Security", 1, 0, 1, 100.0, 1, 20000.0, 1, 35),
        (3, "Omar Diaz", "omar@northwind.example", "Northwind Networks", 1, 0, 1, 100.0, 1, 10000.0, 0, 35)]


def test_reports_of_an_empty_store_are_empty_not_errors(duckdb_url):
    store = LeadStore(duckdb_url)
    for name in REPORTS:
        frame = run_report(store, name)
        assert len(frame) == (4 if name == "opportunity_summary" else 0), name


@pytest.mark.parametrize(("group_by", "message"), [
    ("partner,region", ("'region' is not a dimension; allowed: partner, source, campaign, status, month, stage, "
                       "origin")),
    ("", "group_by takes 1 to 3 of partner, source, campaign, status, month, stage, origin; got 0"),
    ("partner,source,campaign,month", "group_by takes 1 to 3 of .*; got 4"),
    (["status", "Status"], "names a dimension twice"),
])
def test_group_by_is_checked_against_the_allowed_dimensions(group_by, message):
    with pytest.raises(ReportError, match=message):
        ReportOptions(group_by=group_by)
    assert ReportOptions(group_by=" Month , partner").group_by == ("month", "partner")


def test_export_writes_csv_to_a_file_or_stdout(store, tmp_path, capsys):
    path = export_report(store, "opportunity-summary", tmp_path / "out" / "summary.csv")
    assert path == tmp_path / "out" / "summary.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "origin,label,opportunities,amount,share_of_amount_pct,description"
    assert lines[1].startswith("marketing_lead,Marketing lead,1,50000.0,57.5,")

    text = export_report(store, "lead_distribution_summary", None, group_by="source")
    assert capsys.readouterr().out == text
    assert pd.read_csv(io.StringIO(text))[["source", "leads"]].values.tolist() == [["events", 2], ["web", 6]]

    with pytest.raises(ReportError, match="unknown report 'pipeline'; reports: lead_summary, "
                                          "lead_distribution_summary, lead_distribution_list, opportunity_overview"):
        export_report(store, "pipeline")
    with pytest.raises(ReportError, match="rep_stack_ranking has no grouping; group_by applies to: "
                                          "lead_summary, lead_distribution_summary"):
        export_report(store, "rep_stack_ranking", group_by="partner")
    with pytest.raises(ReportError, match="'region' is not a dimension"):
        export_report(store, "lead_distribution_summary", tmp_path / "never.csv", group_by="region")
    assert not (tmp_path / "never.csv").exists()


def png_of(markdown: str) -> bytes:
    found = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert found, markdown[:200]
    png = base64.b64decode(found.group(1))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return png


def colours(png: bytes) -> set[str]:
    """The colours painted in a PNG, as #rrggbb."""
    import matplotlib.image

    import numpy as np

    pixels = (matplotlib.image.imread(io.BytesIO(png))[:, :, :3] * 255).round().astype(np.int64).reshape(-1, 3)
    # one integer 0xRRGGBB per pixel, deduplicated by numpy: a set of tuples over every pixel took 0.5 s a chart
    painted = np.unique((pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2])
    return {f"#{int(rgb):06X}" for rgb in painted}


# DuckDB only: the report assets read the store through `run_report`, whose figures the tests above check on both
# engines, and the whole `leadsync` job with its reports runs on Postgres in test_end_to_end.py.
@pytest.mark.parametrize("store", ["duckdb"], indirect=True)
def test_report_assets_materialise_with_a_table_and_a_chart(store, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "partners.yaml").write_text(yaml.safe_dump(PARTNERS))
    assets = report_assets()
    assert {a.key.to_user_string() for a in assets} == {f"reports/{name}" for name in REPORTS}
    assert {a.group_names_by_key[a.key] for a in assets} == {"reports"}

    result = dg.materialize(
        assets, resources={"leadsync": LeadsyncResource(mappings_dir=str(mappings), store_url=store.url)},
        run_config={"ops": {"reports__lead_distribution_summary": {"config": {"group_by": ["source"]}}}})
    assert result.success
    meta = {e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata
            for e in result.get_asset_materialization_events()}
    assert set(meta) == set(REPORTS)
    for name, entries in meta.items():
        assert {"dagster/row_count", "report", "chart"} <= set(entries), name
        assert PALETTE[0] in colours(png_of(entries["chart"].value)), name
    assert meta["lead_summary"]["dagster/row_count"].value == 2
    assert meta["lead_distribution_summary"]["group_by"].value == "source"
    assert meta["lead_distribution_summary"]["dagster/row_count"].value == 2
    assert "| Nora West" in meta["rep_stack_ranking"]["report"].value
    ranking = REPORTS["rep_stack_ranking"].chart(run_report(store, "rep_stack_ranking", partner_names=NAMES))
    assert ranking.labels[0] == "1. Nora West (Northwind Networks)"


def test_a_bad_group_by_in_run_config_fails_the_asset_without_retries(duckdb_url, tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "partners.yaml").write_text(yaml.safe_dump(PARTNERS))
    (distribution,) = [a for a in report_assets() if a.key.path[-1] == "lead_distribution_summary"]
    result = dg.materialize(
        [distribution], resources={"leadsync": LeadsyncResource(mappings_dir=str(mappings), store_url=duckdb_url)},
        run_config={"ops": {"reports__lead_distribution_summary": {"config": {"group_by": ["region"]}}}},
        raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "'region' is not a dimension; allowed: partner, source, campaign, status, month, stage, origin" in str(
        failure.event_specific_data.error)


def test_the_png_chart_stacks_series_and_grows_with_its_bars():
    import matplotlib.image

    two = render_png(BarChart("Leads <by> partner", ["A & B", "C"], {"accepted": [3, 1], "open": [2, 0]},
                              unit="leads"))
    painted = colours(two)
    assert PALETTE[0] in painted and PALETTE[1] in painted  # both series drawn
    one = render_png(BarChart("Leads", ["A & B", "C"], {"accepted": [3, 1]}))
    assert PALETTE[0] in colours(one) and PALETTE[1] not in colours(one)
    many = render_png(BarChart("Leads", [f"partner {i}" for i in range(12)], {"accepted": list(range(12))}))
    height = lambda png: matplotlib.image.imread(io.BytesIO(png)).shape[0]
    assert height(many) > height(two)


# ------------------------------------------------------------------ date ranges, filters, internal-only segments

def scored_source():
    """The SFTP mapping plus an internal-only custom field (`lead_score`, kept in the lead's attributes)."""
    data = yaml.safe_load((REPO / "mappings/sources/sftp_demo.yaml").read_text())
    data["fields"].append({"column": "Lead Score", "field": "lead_score", "shared": False})
    return SOURCE_MODELS["sftp"].model_validate({**data, "name": "web"})


# lead, received, country, lead_score (internal), campaign: November is cut in half at the 15th.
SCORED = [
    ("w-oct", datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "US", "A", None),
    ("w-03", datetime(2026, 11, 3, 9, 0, tzinfo=UTC), "US", "A", "Spring"),
    ("w-10", datetime(2026, 11, 10, 9, 0, tzinfo=UTC), "US", "B", None),
    ("w-14", datetime(2026, 11, 14, 23, 59, tzinfo=UTC), "GB", "A", None),
    ("w-15", datetime(2026, 11, 15, 0, 0, tzinfo=UTC), "US", "A", None),
    ("w-20", datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "GB", "B", None),
    ("w-28", datetime(2026, 11, 28, 9, 0, tzinfo=UTC), "JP", "A", None),
]


@pytest.fixture
def scored_store(store_url) -> Iterator[LeadStore]:
    store = LeadStore(store_url)
    rows = [{"lead_id": lead, "source": "web", "batch_id": "b1", "row_number": i, "lead_key": lead,
             "email": f"{lead}@example.com", "country": country, "campaign": campaign,
             "company": '=HYPERLINK("http://evil.example","x")' if lead == "w-03" else "Acme",
             "attributes": f'{{"lead_score": "{score}"}}', "received_at": at, "updated_at": at}
            for i, (lead, at, country, score, campaign) in enumerate(SCORED, start=1)]
    with store.begin() as conn:
        store.insert_frame(conn, tables.leads, pd.DataFrame(rows))
    route_new_leads(scored_source(), PartnersConfig.model_validate(PARTNERS), store, datetime(2026, 12, 1, tzinfo=UTC))
    opportunities = [("o-1", "w-03", "north", 1000.0, datetime(2026, 11, 5, tzinfo=UTC)),
                     ("o-2", "w-10", "north", 2000.0, datetime(2026, 11, 16, tzinfo=UTC)),
                     ("o-3", "crm-9", "blue", 500.0, datetime(2026, 11, 14, 12, tzinfo=UTC))]
    with store.begin() as conn:
        for oid, lead, partner, amount, at in opportunities:
            conn.execute(sa.insert(lt.opportunities).values(
                opportunity_id=oid, lead_id=lead, source="web", partner_id=partner, name=oid, stage="Proposal",
                amount=amount, currency="USD", close_date=None, created_at=at, updated_at=at, version=1))
    yield store
    store.dispose()


FIELDS = frozenset(f.field for f in scored_source().fields)


def test_a_date_range_cutting_november_in_half_counts_only_its_days(scored_store):
    first_half = run_report(scored_store, "lead_summary", date_from="2026-11-01", date_to="2026-11-14")
    assert records(first_half, ["source", "leads", "routed", "unassigned"]) == [("web", 3, 3, 0)]  # 3rd, 10th, 14th
    second_half = run_report(scored_store, "lead_summary", date_from="2026-11-15", date_to="2026-11-30")
    assert records(second_half, ["source", "leads", "routed", "unassigned"]) == [("web", 3, 2, 1)]  # 15, 20, 28 (JP)
    by_month = run_report(scored_store, "lead_distribution_summary", group_by="month", date_to="2026-11-14")
    assert records(by_month, ["month", "leads"]) == [("2026-10", 1), ("2026-11", 3)]


def test_a_segment_by_an_internal_only_field(scored_store):
    by_score = run_report(scored_store, "lead_distribution_summary", group_by="lead_score", fields=FIELDS,
                          date_from="2026-11-15")
    assert records(by_score, ["lead_score", "leads"]) == [("A", 2), ("B", 1)]
    only_a = run_report(scored_store, "lead_summary", filters=["lead_score=a"], fields=FIELDS)
    assert records(only_a, ["source", "leads", "unassigned"]) == [("web", 5, 1)]
    gb_a = run_report(scored_store, "lead_distribution_list", filters=["lead_score=A", "country=GB"], fields=FIELDS)
    assert gb_a["lead_id"].tolist() == ["w-14"] and gb_a["lead_score"].tolist() == ["A"]
    with pytest.raises(ReportError, match="filter on 'shoe_size': not a field; filter on partner, source"):
        run_report(scored_store, "lead_summary", filters=["shoe_size=9"], fields=FIELDS)


def test_opportunity_reports_by_creation_date_filter_and_segment(scored_store):
    first_half = run_report(scored_store, "opportunity_summary", date_from="2026-11-01", date_to="2026-11-14")
    assert records(first_half, ["origin", "opportunities", "amount", "share_of_amount_pct"]) == [
        ("marketing_lead", 1, 1000.0, 66.7), ("partner_generated", 0, 0.0, 0.0), ("distributed", 0, 0.0, 0.0),
        ("crm_only", 1, 500.0, 33.3)]
    by_score = run_report(scored_store, "opportunity_summary", group_by="lead_score", fields=FIELDS,
                          filters=["partner=north"])
    assert records(by_score, ["lead_score", "origin", "amount"]) == [("A", "marketing_lead", 1000.0),
                                                                     ("B", "distributed", 2000.0)]
    overview = run_report(scored_store, "opportunity_overview", group_by="month,partner")
    assert records(overview, ["month", "partner_id", "amount"]) == [("2026-11", "blue", 500.0),
                                                                    ("2026-11", "north", 3000.0)]
    details = run_report(scored_store, "opportunity_details", filters=["country=US"], date_to="2026-11-14")
    assert details["opportunity_id"].tolist() == ["o-1"]


def test_report_cli_writes_neutralised_csv_and_xlsx_with_range_filter_and_grouping(scored_store, tmp_path, capsys):
    from leadsync.cli import main

    mappings = tmp_path / "mappings"
    (mappings / "sources").mkdir(parents=True)
    (mappings / "partners.yaml").write_text(yaml.safe_dump(PARTNERS))
    (mappings / "sources/web.yaml").write_text(yaml.safe_dump(scored_source().model_dump(mode="json",
                                                                                        exclude_none=True)))
    out_csv, out_xlsx = tmp_path / "list.csv", tmp_path / "by_score.xlsx"
    assert main(["--mappings", str(mappings), "report", "lead_distribution_list", "--from", "2026-11-01",
                 "--to", "2026-11-14", "--filter", "country=US", "--out", str(out_csv),
                 "--store", scored_store.url]) == 0
    listed = pd.read_csv(out_csv, dtype=str)
    assert listed["lead_id"].tolist() == ["w-10", "w-03"]
    details = tmp_path / "details.csv"
    assert main(["--mappings", str(mappings), "report", "opportunity_details", "--out", str(details),
                 "--store", scored_store.url]) == 0
    company = pd.read_csv(details, dtype=str).set_index("opportunity_id").loc["o-1", "company"]
    assert company == "'=HYPERLINK(\"http://evil.example\",\"x\")"  # issue 24: no formula in the file
    assert main(["--mappings", str(mappings), "report", "lead_distribution_summary", "--group-by", "lead_score",
                 "--out", str(out_xlsx), "--store", scored_store.url]) == 0
    sheet = openpyxl.load_workbook(out_xlsx).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:2] == ["lead_score", "leads"] and [r[:2] for r in rows[1:]] == [["A", 5], ["B", 2]]
    assert main(["--mappings", str(mappings), "report", "lead_summary", "--from", "2026-11-31",
                 "--store", scored_store.url]) == 2
    assert "from: '2026-11-31' is not a date" in capsys.readouterr().err


def test_the_lead_list_carries_the_shared_fields_of_each_leads_campaign(scored_store, tmp_path):
    """`pull.campaigns.fields`: w-03's campaign "Spring" (matched by name) brings its shared fields as
    `campaign: <label>` columns, inert in the export; the internal one (Budget) never becomes a column."""
    from leadsync.pull.campaign_fields import campaign_field_values

    now = datetime(2026, 12, 1, tzinfo=UTC)
    with scored_store.begin() as conn:
        conn.execute(sa.insert(tables.campaigns).values(source="web", campaign_id="701A", name="Spring",
                                                        updated_at=now))
        conn.execute(sa.insert(campaign_field_values), [
            {"source": "web", "campaign_id": "701A", "field": "Region__c", "position": 0, "label": "Region",
             "value": "EMEA", "shared": True, "updated_at": now},
            {"source": "web", "campaign_id": "701A", "field": "BudgetedCost", "position": 1, "label": "Budget",
             "value": "5000", "shared": False, "updated_at": now},
            {"source": "web", "campaign_id": "701A", "field": "Offer__c", "position": 2, "label": "Offer",
             "value": "=HYPERLINK(\"http://evil.example\",\"free\")", "shared": True, "updated_at": now},
            # another source's campaign of the same name is not w-03's
            {"source": "events", "campaign_id": "Spring", "field": "Region__c", "position": 0, "label": "Region",
             "value": "APAC", "shared": True, "updated_at": now}])
    listed = run_report(scored_store, "lead_distribution_list").set_index("lead_id")
    assert [c for c in listed.columns if c.startswith("campaign: ")] == ["campaign: Region", "campaign: Offer"]
    assert listed.loc["w-03", "campaign: Region"] == "EMEA"
    assert listed["campaign: Region"].drop("w-03").isna().all()  # leads without a campaign: empty
    assert not any("Budget" in c or "5000" in str(v) for c in listed.columns for v in listed[c])

    out = export_report(scored_store, "lead_distribution_list", tmp_path / "list.csv")
    exported = pd.read_csv(out, dtype=str).set_index("lead_id")
    assert exported.loc["w-03", "campaign: Offer"] == "'=HYPERLINK(\"http://evil.example\",\"free\")"
    assert "Budget" not in exported.columns
