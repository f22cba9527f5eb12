"""Generated demo data for the Marketo sandbox: leads (varied countries and states as ISO codes, postal codes,
industries, company sizes with the lead type they imply, products of interest), programs with members, and
the activities that history implies (New Lead, Change Data Value, Visit Webpage, Change Status in
Progression). Deterministic for (n, seed, until); 300,000 leads in a few seconds: columns are drawn with
numpy and assembled with Arrow, never row by row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.marketo.sandbox.activities import (
    ARROW_SCHEMA,
    CHANGE_DATA_VALUE,
    CHANGE_PROGRAM_STATUS,
    NEW_LEAD,
    VISIT_WEBPAGE,
    ActivityLog,
)
from leadsync.connectors.marketo.sandbox.clock import as_utc, naive_utc
from leadsync.connectors.marketo.sandbox.leads import LeadStore
from leadsync.connectors.marketo.sandbox.programs import CHANNEL_STATUSES, Programs
from leadsync.connectors.sftp.seed import JOB_TITLES, demo_leads_table

INDUSTRIES = ["Software", "Manufacturing", "Healthcare", "Financial Services", "Retail", "Education",
              "Government", "Telecommunications", "Energy", "Transportation"]
LEAD_SOURCES = ["Website", "Webinar", "Trade Show", "Partner Referral", "Paid Search", "Content Download",
                "Email Campaign", "List Import"]
SIZE_BANDS = {"SMB": (10, 199), "Mid-Market": (200, 999), "Enterprise": (1000, 50000)}
CITIES = {
    "US|CA": "San Jose", "US|WA": "Seattle", "US|OR": "Portland", "US|NV": "Las Vegas", "US|AZ": "Phoenix",
    "US|NY": "New York", "US|NJ": "Newark", "US|MA": "Boston", "US|PA": "Philadelphia", "US|CT": "Hartford",
    "US|TX": "Austin", "US|FL": "Miami", "US|IL": "Chicago", "US|GA": "Atlanta", "US|CO": "Denver",
    "CA|ON": "Toronto", "CA|QC": "Montreal", "CA|BC": "Vancouver", "CA|AB": "Calgary", "CA|MB": "Winnipeg",
    "CA|NS": "Halifax", "GB|EC1A": "London", "GB|WC2N": "London", "GB|SW1A": "London", "GB|SW7": "London",
    "GB|M1": "Manchester", "GB|B2": "Birmingham", "GB|LS1": "Leeds", "GB|EH1": "Edinburgh", "GB|G2": "Glasgow",
    "GB|CF10": "Cardiff"}
EU_CITIES = {"DE": ["Berlin", "Munich", "Hamburg", "Frankfurt"], "FR": ["Paris", "Lyon", "Marseille", "Lille"]}
PROGRAMS = [  # (name, type, channel, status)
    ("2026 Cloud Security Webinar Series", "Event with Webinar", "Webinar", ""),
    ("RSA Conference 2026 Booth", "Event", "Tradeshow", ""),
    ("Q3 Firewall Refresh Email", "Email", "Email Blast", "unlocked"),
    ("Partner Roadshow EMEA", "Event", "Tradeshow", ""),
    ("SD-WAN Buyers Guide Syndication", "Default", "Content Syndication", ""),
    ("Endpoint Nurture", "Engagement", "Nurture", "on"),
    ("Paid Search - Zero Trust", "Default", "Online Advertising", ""),
    ("Backup Modernisation Webinar", "Event with Webinar", "Webinar", ""),
    ("Channel Partner Co-Marketing Q4", "Default", "Online Advertising", ""),
    ("Email Security Launch", "Email", "Email Blast", "unlocked"),
    ("Cloud Summit Follow-up Nurture", "Engagement", "Nurture", "off"),
    ("Website Demo Requests", "Default", "Content Syndication", ""),
]
DAY = 86400


@dataclass
class SeedSummary:
    leads: int
    programs: int
    members: int
    activities: int


def _iso_text(seconds: np.ndarray) -> pa.Array:
    stamps = pa.array(seconds.astype("datetime64[s]"))
    return pc.binary_join_element_wise(pc.replace_substring(pc.cast(stamps, pa.string()), " ", "T",
                                                            max_replacements=1), "Z", "")


def lead_table(n: int, seed: int, until: datetime, first_id: int, schema: pa.Schema) -> pa.Table:
    """n generated leads as an Arrow table of the lead schema (fields it does not fill are null)."""
    base = demo_leads_table(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    country = base["Country"].to_numpy(zero_copy_only=False).astype(object)
    state = base["State"].to_numpy(zero_copy_only=False).astype(object)
    postal = base["Postal Code"].to_numpy(zero_copy_only=False).astype(object)
    area = pd.Series(postal).str.split(" ").str[0].to_numpy()
    key = np.where(country == "GB", country + "|" + area.astype(object), country + "|" + state)
    city = pd.Series(key).map(CITIES).to_numpy()
    for code, names in EU_CITIES.items():
        mask = country == code
        city[mask] = np.asarray(names, dtype=object)[rng.integers(0, len(names), mask.sum())]

    lead_type = base["Lead Type"].to_numpy(zero_copy_only=False)
    low = np.array([SIZE_BANDS[t][0] for t in SIZE_BANDS])
    high = np.array([SIZE_BANDS[t][1] for t in SIZE_BANDS])
    band = pd.Series(lead_type).map({t: i for i, t in enumerate(SIZE_BANDS)}).to_numpy()
    employees = (low[band] * np.exp(rng.random(n) * np.log(high[band] / low[band]))).astype(np.int64)
    revenue = np.round(employees * rng.uniform(80_000, 250_000, n), -3)

    until_s = int(as_utc(until).timestamp())
    created = until_s - rng.integers(60, 180 * DAY, n)
    changed = rng.random(n) < 0.3
    # A later change within 30 days, and before `until`: the history is all in the past.
    span = np.clip(until_s - created, 0, 30 * DAY)
    updated = np.where(changed, created + (rng.random(n) * span).astype(np.int64), created)

    ids = pa.array(np.arange(first_id, first_id + n, dtype=np.int64))
    # The generator numbers emails 1..n; number them by lead id so a second seeding stays unique.
    email = base["Email"].combine_chunks()
    email = pc.binary_join_element_wise(pc.replace_substring_regex(email, r"\d+@.*$", ""), pc.cast(ids, pa.string()),
                                        "@", pc.replace_substring_regex(email, r"^.*@", ""), "")
    columns = {
        "id": ids,
        "email": email, "firstName": base["First Name"], "lastName": base["Last Name"],
        "company": base["Company"], "title": base["Job Title"], "phone": base["Phone"],
        "city": pa.array(city, pa.string()), "state": pc.if_else(pc.equal(base["State"], ""), None, base["State"]),
        "postalCode": base["Postal Code"], "country": base["Country"],
        "industry": pa.array(INDUSTRIES, pa.string()).take(rng.integers(0, len(INDUSTRIES), n)),
        "leadSource": pa.array(LEAD_SOURCES, pa.string()).take(rng.integers(0, len(LEAD_SOURCES), n)),
        "numberOfEmployees": pa.array(employees), "annualRevenue": pa.array(revenue),
        # the supplier's custom fields: the segment the size band came from, and `;`-joined product interests
        "leadType": base["Lead Type"], "productInterest": base["Products of Interest"],
        "createdAt": pa.array(created.astype("datetime64[s]")).cast(pa.timestamp("us")),
        "updatedAt": pa.array(updated.astype("datetime64[s]")).cast(pa.timestamp("us")),
    }
    arrays = [columns[name].cast(schema.field(name).type) if name in columns else pa.nulls(n, schema.field(name).type)
              for name in schema.names]
    return pa.Table.from_arrays(arrays, schema=schema)


def seed_demo_data(leads: LeadStore, programs: Programs, activities: ActivityLog, n: int, seed: int = 7,
                   until: datetime | None = None, program_share: float = 0.2) -> SeedSummary:
    """Append n generated leads (ids after the existing ones), the programs (first time only), memberships
    and activities. Leads are created within the 180 days before `until` (default: sandbox now)."""
    until = until or leads.clock.now()
    rng = np.random.default_rng(seed + 2)
    first_id = leads.reserve_ids(n)
    table = lead_table(n, seed, until, first_id, leads.schema.arrow_schema())
    leads.db.insert("leads", table)

    program_ids = [r["id"] for r in leads.db.rows("SELECT id FROM programs ORDER BY id")]
    if not program_ids:
        for i, (name, kind, channel, status) in enumerate(PROGRAMS):
            start = naive_utc(until) - timedelta(days=200 - 15 * i)
            program_ids.append(programs.create(
                name, f"{name} ({channel})", kind, channel, status, folder=channel,
                tags={"Region": ["AMER", "EMEA", "APAC"][i % 3]},
                costs=[{"startDate": start.date().isoformat(), "cost": 1000 * (i + 2), "note": "Budget"}],
                created_at=start))
    info = {r["id"]: r for r in leads.db.rows("SELECT id, name, channel FROM programs")}

    ids = table["id"].to_numpy()
    created = table["createdAt"].cast(pa.int64()).to_numpy() // 1_000_000
    updated = table["updatedAt"].cast(pa.int64()).to_numpy() // 1_000_000
    member = rng.random(n) < program_share
    member_program = np.asarray(program_ids)[rng.integers(0, len(program_ids), n)][member]
    member_when = created[member] + rng.integers(60, 14 * DAY, member.sum())
    statuses = [CHANNEL_STATUSES[info[p]["channel"]] for p in member_program]
    member_status = np.array([s[1 + int(r * (len(s) - 1))] for s, r in zip(statuses, rng.random(len(statuses)),
                                                                          strict=True)], dtype=object)
    success = np.array([st == s[-1] for st, s in zip(member_status, statuses, strict=True)], dtype=bool)
    first_member = int(leads.db.scalar("SELECT coalesce(max(id), 0) FROM program_members")) + 1
    member_ids = np.arange(first_member, first_member + member.sum())
    when_us = pa.array(member_when.astype("datetime64[s]")).cast(pa.timestamp("us"))
    leads.db.insert("program_members", pa.table({
        "id": member_ids, "programId": member_program, "leadId": ids[member], "progressionStatus": member_status,
        "acquiredBy": np.ones(member.sum(), dtype=bool), "reachedSuccess": success, "membershipDate": when_us,
        "updatedAt": when_us, "custom": pa.nulls(int(member.sum()), pa.string())}))

    parts = [_new_lead(ids, created, table["leadSource"]),
             _title_changes(rng, ids, created, updated, table["title"], leads.schema.require("title")),
             _webpage_visits(rng, ids, created),
             _program_changes(ids[member], member_when, member_program, member_status, success, member_ids, info)]
    history = pa.concat_tables(parts).sort_by([("activityDate", "ascending"), ("leadId", "ascending")])
    first_activity = activities.reserve_ids(history.num_rows)
    history = history.set_column(0, "id", pa.array(np.arange(first_activity, first_activity + history.num_rows)))
    leads.db.insert("activities", history)
    return SeedSummary(n, len(program_ids), int(member.sum()), history.num_rows)


def _activities(lead_ids: np.ndarray, seconds: np.ndarray, type_id: int, attributes: pa.Array,
                primary_id: np.ndarray | None = None, primary: pa.Array | None = None,
                field_name: str | None = None) -> pa.Table:
    n = len(lead_ids)
    return pa.table({
        "id": pa.nulls(n, pa.int64()), "leadId": pa.array(lead_ids, pa.int64()),
        "activityDate": pa.array(seconds.astype("datetime64[s]")).cast(pa.timestamp("us")),
        "activityTypeId": pa.array(np.full(n, type_id, dtype=np.int32)), "campaignId": pa.nulls(n, pa.int64()),
        "primaryAttributeValueId": pa.nulls(n, pa.int64()) if primary_id is None else pa.array(primary_id, pa.int64()),
        "primaryAttributeValue": pa.nulls(n, pa.string()) if primary is None else primary,
        "attributes": attributes, "fieldName": pa.array([field_name] * n, pa.string())}, schema=ARROW_SCHEMA)


def _json(*pairs: tuple[str, pa.Array | str, bool]) -> pa.Array:
    """JSON objects built column-wise from (name, value, quoted) triples; the values are our own generated
    text (no quotes or backslashes to escape)."""
    parts: list[pa.Array | str] = []
    for i, (name, value, quoted) in enumerate(pairs):
        parts.append(("{" if i == 0 else ",") + json.dumps(name) + ":" + ('"' if quoted else ""))
        parts.append(value)
        if quoted:
            parts.append('"')
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _new_lead(ids: np.ndarray, created: np.ndarray, source: pa.ChunkedArray) -> pa.Table:
    day = pc.utf8_slice_codeunits(_iso_text(created), 0, 10)
    return _activities(ids, created, NEW_LEAD, _json(("Created Date", day, True), ("Source Type", "Web form fillout", True),
                                                     ("Lead Source", source.combine_chunks(), True)))


def _title_changes(rng: np.random.Generator, ids: np.ndarray, created: np.ndarray, updated: np.ndarray,
                   title: pa.ChunkedArray, field) -> pa.Table:
    changed = updated > created
    new = title.combine_chunks().filter(pa.array(changed))
    old = pa.array(JOB_TITLES, pa.string()).take(rng.integers(0, len(JOB_TITLES), int(changed.sum())))
    attributes = _json(("New Value", new, True), ("Old Value", old, True),
                       ("Reason", "Changed by Smart Campaign", True), ("Source", "Marketo Flow Action", True))
    return _activities(ids[changed], updated[changed], CHANGE_DATA_VALUE, attributes,
                       np.full(int(changed.sum()), field.id), pa.array([field.display_name] * int(changed.sum())),
                       field.name)


def _webpage_visits(rng: np.random.Generator, ids: np.ndarray, created: np.ndarray) -> pa.Table:
    visited = rng.random(len(ids)) < 0.3
    pages = ["/", "/products/firewall", "/products/sd-wan", "/pricing", "/partners", "/demo", "/blog/zero-trust"]
    page_index = rng.integers(0, len(pages), int(visited.sum()))
    url = pa.array(pages, pa.string()).take(page_index)
    ip = pc.binary_join_element_wise("10.", pc.cast(pa.array(rng.integers(0, 255, int(visited.sum()))), pa.string()),
                                     ".0.", pc.cast(pa.array(rng.integers(1, 255, int(visited.sum()))), pa.string()),
                                     "")
    attributes = _json(("Client IP Address", ip, True), ("Webpage URL", url, True))
    return _activities(ids[visited], created[visited] - rng.integers(60, 3600, int(visited.sum())), VISIT_WEBPAGE,
                       attributes, page_index + 1, pc.binary_join_element_wise("www.example.com", url, ""))


def _program_changes(ids: np.ndarray, when: np.ndarray, program: np.ndarray, status: np.ndarray,
                     success: np.ndarray, member_ids: np.ndarray, info: dict) -> pa.Table:
    names = pa.array([info[p]["name"] for p in program], pa.string())
    attributes = _json(("Old Status", "Not in Program", True), ("New Status", pa.array(status, pa.string()), True),
                       ("Acquired By", "true", False),
                       ("Success", pc.if_else(pa.array(success), "true", "false"), False),
                       ("Program Member ID", pc.cast(pa.array(member_ids), pa.string()), False))
    return _activities(ids, when, CHANGE_PROGRAM_STATUS, attributes, program, names)
