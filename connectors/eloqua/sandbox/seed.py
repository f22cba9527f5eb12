"""Generated Eloqua data: contacts, campaigns, activities and campaign responses, deterministic for a seed.

Contacts reuse the SFTP sandbox's lead generator (names, companies, titles, phones, countries with matching
states and postal codes, products of interest), so the same people can turn up in both demos, and add what
Eloqua holds on top: cities, industries, company sizes with the lead type they imply, creation and
modification dates, subscription flags. Everything is drawn column-wise with numpy and Arrow kernels: 300,000
contacts take about a second.

Country and State or Province are free text in Eloqua; this instance keeps them as ISO codes (country "US",
province "ON"), as instances normalised to their CRM's country and state codes do, and as leadsync's routing
rules and partners.yaml speak them. An instance holding country names ("United States") is caught by the
demo mapping's country picklist (mappings/sources/eloqua_demo.yaml): quarantined with the value named, never
silently unrouted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.contacts import (
    TIMESTAMP,
    ContactStore,
    arrow_type,
    contact_id_ext,
    to_timestamp,
)
from leadsync.connectors.sftp.seed import CAMPAIGNS as LEAD_CAMPAIGNS
from leadsync.connectors.sftp.seed import demo_leads_table

# Lead Type (a custom field) follows the company size band: up to 249 employees SMB, up to 999 Mid-Market.
LEAD_TYPE_OF_SIZE = {"1-49": "SMB", "50-249": "SMB", "250-999": "Mid-Market", "1000-4999": "Enterprise",
                     "5000+": "Enterprise"}
CITIES_BY_REGION = {
    "CA": "Los Angeles", "WA": "Seattle", "OR": "Portland", "NV": "Las Vegas", "AZ": "Phoenix",
    "NY": "New York", "NJ": "Newark", "MA": "Boston", "PA": "Philadelphia", "CT": "Hartford", "TX": "Austin",
    "FL": "Miami", "IL": "Chicago", "GA": "Atlanta", "CO": "Denver",
    "ON": "Toronto", "QC": "Montréal", "BC": "Vancouver", "AB": "Calgary", "MB": "Winnipeg", "NS": "Halifax",
}
CITIES_BY_COUNTRY = {"GB": ["London", "Manchester", "Birmingham", "Leeds", "Edinburgh", "Glasgow", "Cardiff"],
                     "DE": ["Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main", "Stuttgart"],
                     "FR": ["Paris", "Lyon", "Marseille", "Toulouse", "Lille", "Nantes"]}
INDUSTRIES = ["Technology", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Education",
              "Government", "Telecommunications", "Energy", "Media"]
COMPANY_SIZES = ["1-49", "50-249", "250-999", "1000-4999", "5000+"]
COMPANY_SIZE_SHARE = [0.35, 0.3, 0.18, 0.12, 0.05]
LEAD_SOURCES = ["Website", "Webinar", "Trade Show", "Paid Search", "Partner Referral", "Content Syndication"]
CAMPAIGN_NAMES = LEAD_CAMPAIGNS + ["Spring Firewall Promo", "Endpoint Nurture Track", "SD-WAN ROI Calculator",
                                   "Customer Advocacy Program", "Email Security Trial", "EMEA Partner Summit",
                                   "Cloud Backup Webinar"]
# Custom campaign fields (REST 2.0 fieldValues) and what the generator puts in them.
CAMPAIGN_FIELDS = [{"id": "1", "name": "Partner Program"}, {"id": "2", "name": "Region"},
                   {"id": "3", "name": "LeadSync Routing Key"}]
ACTIVITY_TYPES = ["EmailSend", "EmailOpen", "EmailClickthrough", "WebVisit", "PageView", "FormSubmit",
                  "Subscribe", "Unsubscribe", "Bounceback"]
ACTIVITY_SHARE = [0.3, 0.25, 0.1, 0.1, 0.08, 0.07, 0.03, 0.03, 0.04]
EMAIL_TYPES = {"EmailSend", "EmailOpen", "EmailClickthrough", "Subscribe", "Unsubscribe", "Bounceback"}
CAMPAIGN_TYPES = EMAIL_TYPES | {"FormSubmit", "PageView"}


def seed_day(now: datetime) -> datetime:
    """Generated dates are anchored to midnight of the sandbox's day, so a seed repeats within a day."""
    return to_timestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)


def contacts_table(store: ContactStore, n: int, seed: int, now: datetime, first_id: int = 1) -> pa.Table:
    """n generated contacts with every column of `store`'s schema (fields nobody fills are null)."""
    rng = np.random.default_rng(seed + 1)
    leads = demo_leads_table(n, seed=seed)
    ids = pa.array(np.arange(first_id, first_id + n, dtype=np.int64))
    code = leads.column("Country").combine_chunks()
    region = leads.column("State").combine_chunks()

    def pick(options: list[str], p: list[float] | None = None) -> pa.Array:
        return pa.array(options, pa.string()).take(rng.choice(len(options), size=n, p=p))

    regions = list(CITIES_BY_REGION)
    region_city = pa.array(list(CITIES_BY_REGION.values())).take(pc.index_in(region, pa.array(regions)))
    other_city = pa.nulls(n, pa.string())
    for country, cities in CITIES_BY_COUNTRY.items():
        other_city = pc.if_else(pc.equal(code, country), pick(cities), other_city)
    city = pc.coalesce(region_city, other_city)

    day = np.datetime64(seed_day(now), "s")
    created = day - rng.integers(30 * 86400, 720 * 86400, n).astype("timedelta64[s]")
    age = (day - created).astype(np.int64)
    modified = created + (rng.random(n) * age).astype(np.int64).astype("timedelta64[s]")
    empty = pa.nulls(n, pa.string())

    def blank_to_null(values: pa.Array) -> pa.Array:
        return pc.if_else(pc.equal(values, ""), empty, values)

    columns: dict[str, pa.Array] = {
        "id": ids,
        "_subscribed": pa.array(rng.random(n) >= 0.08),
        "_bounced": pa.array(rng.random(n) < 0.02),
        "_email_format": pick(["HTML", "HTML", "HTML", "Plain Text"]),
        "C_EmailAddress": leads.column("Email").combine_chunks(),
        "C_FirstName": leads.column("First Name").combine_chunks(),
        "C_LastName": leads.column("Last Name").combine_chunks(),
        "C_Company": leads.column("Company").combine_chunks(),
        "C_Title": leads.column("Job Title").combine_chunks(),
        "C_BusPhone": leads.column("Phone").combine_chunks(),
        "C_Country": code,
        "C_State_Prov": blank_to_null(region),
        "C_Zip_Postal": leads.column("Postal Code").combine_chunks(),
        "C_City": city,
        "C_Industry1": pick(INDUSTRIES),
        "C_Company_Size1": pick(COMPANY_SIZES, COMPANY_SIZE_SHARE),
        "C_Lead_Source___Most_Recent1": pick(LEAD_SOURCES),
        "C_Product_Interest1": leads.column("Products of Interest").combine_chunks(),
        "C_DateCreated": pa.array(created.astype("datetime64[ms]"), TIMESTAMP),
        "C_DateModified": pa.array(modified.astype("datetime64[ms]"), TIMESTAMP),
        "ContactIDExt": contact_id_ext(ids),
    }
    columns["C_Lead_Type1"] = pa.array(list(LEAD_TYPE_OF_SIZE.values())).take(
        pc.index_in(columns["C_Company_Size1"], pa.array(list(LEAD_TYPE_OF_SIZE))))
    columns["C_EmailDisplayName"] = pc.binary_join_element_wise(columns["C_FirstName"], columns["C_LastName"], " ")
    for f in store.fields:
        columns.setdefault(f.internal_name, pa.nulls(n, arrow_type(f)))
    return pa.table({name: columns[name] for name in store.table.column_names},
                    schema=store.table.schema)


def campaigns(now: datetime, seed: int, count: int = 12) -> list[dict]:
    """REST 2.0 campaign assets: name, description, dates (Unix seconds as strings) and custom fields."""
    rng = np.random.default_rng(seed + 2)
    day = seed_day(now)
    out = []
    for i in range(count):
        name = CAMPAIGN_NAMES[i % len(CAMPAIGN_NAMES)] + ("" if i < len(CAMPAIGN_NAMES) else f" {i}")
        start = day - timedelta(days=int(rng.integers(20, 400)))
        end = start + timedelta(days=int(rng.integers(14, 120)))
        created = start - timedelta(days=int(rng.integers(3, 30)))
        updated = min(day, created + timedelta(days=int(rng.integers(0, 60))))
        status = "Completed" if end < day else "Active"
        out.append({
            "id": 1001 + i, "name": name, "description": f"{name}: generated demo campaign.",
            "createdAt": created, "updatedAt": updated, "startAt": start, "endAt": end,
            "currentStatus": status, "budgetedCost": float(rng.integers(1, 50)) * 1000.0,
            "crmId": f"701{seed % 1000:03d}{i:012d}",
            "fieldValues": {"1": ["Gold", "Silver", "Registered"][i % 3],
                            "2": ["NA", "EMEA", "APAC"][int(rng.integers(0, 3))],
                            "3": f"route-{i % 4}"},
        })
    return out


def activities_table(contacts: pa.Table, campaign_ids: list[int], seed: int, now: datetime,
                     per_contact: float = 2.0) -> pa.Table:
    """Activity history: a Poisson number of activities per contact, dated between creation and now."""
    rng = np.random.default_rng(seed + 3)
    n_contacts = contacts.num_rows
    counts = rng.poisson(per_contact, n_contacts)
    owner = np.repeat(np.arange(n_contacts), counts)
    n = len(owner)
    created = contacts.column("C_DateCreated").combine_chunks().to_numpy().astype("datetime64[s]")[owner]
    day = np.datetime64(seed_day(now), "s")
    span = np.maximum((day - created).astype(np.int64), 1)
    at = created + (rng.random(n) * span).astype(np.int64).astype("timedelta64[s]")
    type_i = rng.choice(len(ACTIVITY_TYPES), size=n, p=ACTIVITY_SHARE)
    types = np.asarray(ACTIVITY_TYPES)[type_i]
    order = np.lexsort((owner, at))  # activity ids follow time, like Eloqua's
    owner, at, types = owner[order], at[order], types[order]
    has_campaign = np.isin(types, list(CAMPAIGN_TYPES))
    campaign = np.asarray(campaign_ids, dtype=np.int64)[rng.integers(0, len(campaign_ids), n)]
    is_form = types == "FormSubmit"
    asset_id = np.where(is_form, 3000, np.where(types == "PageView", 4000, 2000)) + campaign % 1000
    is_visit = types == "WebVisit"
    ip = rng.integers(0x0B000000, 0xDF000000, n, dtype=np.int64)
    # Only what cannot be derived is stored; exports derive names, links, subject lines from these ids
    # (see export_sources.py), which keeps 600,000 activities under 40 MB.
    return pa.table({
        "id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "type": pc.dictionary_encode(pa.array(types, pa.string())),
        "created_at": pa.array(at.astype("datetime64[ms]"), TIMESTAMP),
        "contact_id": contacts.column("id").combine_chunks().take(pa.array(owner)),
        "visitor_id": pa.array(500000 + owner.astype(np.int64)),
        "campaign_id": pa.array(campaign, mask=~has_campaign),
        "asset_id": pa.array(asset_id, mask=is_visit),
        "ip": pa.array(ip),
        "number_of_pages": pa.array(rng.integers(1, 12, n), pa.int64(), mask=~is_visit),
        "duration": pa.array(rng.integers(5, 900, n), pa.int64(), mask=~is_visit),
    })


def campaign_responses_table(activities: pa.Table) -> pa.Table:
    """Campaign responses: a "Responded" member status for each click-through and form submit in a campaign."""
    responded = pc.and_(pc.is_in(activities.column("type"), pa.array(["EmailClickthrough", "FormSubmit"])),
                        pc.is_valid(activities.column("campaign_id")))
    rows = activities.filter(responded)
    n = rows.num_rows
    return pa.table({
        "id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "created_at": rows.column("created_at"),
        "member_status": pa.array(np.full(n, "Responded")),
        "campaign_id": rows.column("campaign_id"),
        "contact_id": rows.column("contact_id"),
        "integration_return_value": pa.nulls(n, pa.string()),
    })
