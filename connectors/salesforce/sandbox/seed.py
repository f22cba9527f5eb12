"""Generated demo data for the sandbox org: leads (with campaign memberships and activity history) and a
few accounts, contacts and opportunities. Deterministic for a seed on a fresh sandbox (same ids, same
values); built column-wise with numpy, so 300,000 leads take a couple of seconds.

The data gives routing something to chew on: eight countries (ISO codes) with consistent states and postal
codes, industries, employee counts from one-person shops to large enterprises with the lead type (SMB,
Mid-Market, Enterprise) that follows from them, product interests (a `;`-joined multi-select); about 3% of
leads repeat an earlier person's e-mail (the same person from a second campaign), and some leads are
members of two campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from leadsync.connectors.salesforce.sandbox.standard_objects import INDUSTRIES, LEAD_TYPES, PRODUCTS
from leadsync.connectors.salesforce.sandbox.store import RecordStore
from leadsync.connectors.sftp.seed import CA_FSA_LETTERS, FIRST_NAMES, GB_AREAS, JOB_TITLES, LAST_NAMES, US_ZIP3

SEED_WINDOW_S = 90 * 86400  # seeded records were created over the 90 days before the seeding day

COUNTRIES = ["US", "CA", "GB", "DE", "FR", "NL", "AU", "JP"]
COUNTRY_SHARE = [0.48, 0.11, 0.12, 0.10, 0.07, 0.04, 0.05, 0.03]
US_CITIES = {"CA": "San Jose", "WA": "Seattle", "OR": "Portland", "NV": "Las Vegas", "AZ": "Phoenix",
             "NY": "New York", "NJ": "Newark", "MA": "Boston", "PA": "Philadelphia", "CT": "Hartford",
             "TX": "Austin", "FL": "Miami", "IL": "Chicago", "GA": "Atlanta", "CO": "Denver"}
CA_CITIES = {"ON": "Toronto", "QC": "Montréal", "BC": "Vancouver", "AB": "Calgary", "MB": "Winnipeg",
             "NS": "Halifax"}
AU_STATES = {"NSW": ("Sydney", 2000), "VIC": ("Melbourne", 3000), "QLD": ("Brisbane", 4000),
             "WA": ("Perth", 6000)}
OTHER_CITIES = {"GB": ["London", "Manchester", "Birmingham", "Leeds", "Edinburgh", "Glasgow", "Cardiff"],
                "DE": ["Berlin", "München", "Hamburg", "Köln", "Frankfurt am Main"],
                "FR": ["Paris", "Lyon", "Marseille", "Toulouse", "Lille"],
                "NL": ["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"],
                "JP": ["Tokyo", "Osaka", "Yokohama"]}
PHONE_PREFIX = {"US": "+1", "CA": "+1", "GB": "+44 20", "DE": "+49 30", "FR": "+33 1", "NL": "+31 20",
                "AU": "+61 2", "JP": "+81 3"}
COMPANY_HEADS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Soylent", "Cyberdyne",
                 "Tyrell", "Vandelay", "Aperture", "Northwind", "Contoso", "Fabrikam", "Blue Ridge", "Summit",
                 "Harbor", "Granite", "Silverline", "Redwood", "Orbit", "Keystone", "Lakeside"]
COMPANY_TAILS = [("Systems", "Inc"), ("Logistics", "LLC"), ("Health", "Ltd"), ("Analytics", "GmbH"),
                 ("Manufacturing", "Corp"), ("Networks", "SA"), ("Foods", "BV"), ("Energy", "Inc"),
                 ("Financial", "LLC"), ("Retail", "Ltd")]
LEAD_SOURCES = ["Web", "Trade Show", "Webinar", "Partner Referral", "Purchased List", "Phone Inquiry",
                "Advertisement"]
LEAD_SOURCE_SHARE = [0.35, 0.15, 0.18, 0.1, 0.1, 0.07, 0.05]
STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted", "Closed - Converted"]
STATUS_SHARE = [0.70, 0.20, 0.07, 0.03]
RATINGS = [None, "Hot", "Warm", "Cold"]
CAMPAIGNS = [("RSA 2026 Booth", "Trade Show", "Completed"), ("Q4 Webinar Series", "Webinar", "In Progress"),
             ("Cloud Security Summit", "Seminar / Conference", "Completed"),
             ("Partner Roadshow", "Partners", "In Progress"), ("Website Demo Request", "Advertisement",
                                                               "In Progress"),
             ("EMEA Email Nurture", "Email", "Planned")]
REPS = [("Dana", "Whitfield"), ("Marco", "Bellini"), ("Aiko", "Mori"), ("Sam", "Okoye")]
# Lead_Type__c from the company's size: under 200 employees SMB, under 1,000 Mid-Market, else Enterprise
# (the bands the Marketo sandbox draws sizes from).
LEAD_TYPE_FLOORS = (200, 1000)


@dataclass
class SeedSummary:
    leads: int = 0
    campaigns: int = 0
    campaign_members: int = 0
    tasks: int = 0
    events: int = 0
    accounts: int = 0
    contacts: int = 0
    opportunities: int = 0


class _Timeline:
    """Seconds after the start of the seeded period, as Salesforce date-times and dates."""

    def __init__(self, until: datetime):
        day = np.datetime64(until.astimezone(UTC).replace(tzinfo=None), "D")
        self.epoch = (day - np.timedelta64(SEED_WINDOW_S // 86400, "D")).astype("datetime64[s]")

    def wire(self, seconds: np.ndarray) -> list[str]:
        stamps = np.datetime_as_string(self.epoch + seconds.astype("timedelta64[s]"), unit="s")
        return np.char.add(stamps, ".000+0000").tolist()

    def dates(self, seconds: np.ndarray) -> list[str]:
        moments = self.epoch + seconds.astype("timedelta64[s]")
        return np.datetime_as_string(moments.astype("datetime64[D]")).tolist()


def _pick(rng: np.random.Generator, options: list, n: int,
          p: list[float] | None = None) -> tuple[list, np.ndarray]:
    """n draws from `options`; equal values share one object (cheap columns)."""
    index = rng.choice(len(options), size=n, p=p)
    pool = np.empty(len(options), dtype=object)
    pool[:] = options
    return pool[index].tolist(), index


def seed_users(store: RecordStore, integration_user_id: str, username: str, now: str) -> list[str]:
    """The integration user and four sales reps (owners of seeded records); returns the reps' ids."""
    table = store.tables["User"]
    with store.lock:
        if table.size:
            return [i for i in table.column("Id") if i != integration_user_id]
        people = [(integration_user_id, "Integration", "User", username, "LeadSync Integration")]
        for first, last in REPS:
            rep_id = store.ids.new("005")
            people.append((rep_id, first, last, f"{first.lower()}.{last.lower()}@leadsync-sandbox.example",
                           "Account Executive"))
        for user_id, first, last, user_name, title in people:
            store.insert_row(table, {"Id": user_id, "Username": user_name, "FirstName": first, "LastName": last,
                                     "Email": user_name, "Alias": (first[:1] + last[:4]).lower(), "Title": title,
                                     "IsActive": True, "CreatedDate": now, "CreatedById": integration_user_id,
                                     "LastModifiedDate": now, "LastModifiedById": integration_user_id,
                                     "SystemModstamp": now})
        return [p[0] for p in people[1:]]


def seed_org(store: RecordStore, leads: int, until: datetime, seed: int = 7,
             integration_user_id: str | None = None, member_share: float = 0.6) -> SeedSummary:
    """Add `leads` generated leads with their campaign memberships, tasks and events, plus six campaigns
    and a few accounts, contacts and opportunities (only on the first seeding). Records were created over
    the 90 days before `until`'s day (so the same seed on the same day gives the same data)."""
    rng = np.random.default_rng(seed)
    timeline = _Timeline(until)
    users = store.tables["User"]
    owners = list(users.column("Id")) if users.size else []
    user_id = integration_user_id or (owners[0] if owners else None)
    summary = SeedSummary()
    with store.lock:
        campaigns = _seed_campaigns(store, rng, timeline, user_id, owners, summary)
        lead_ids, created_s, campaign_index = _seed_leads(store, rng, timeline, leads, user_id, owners,
                                                          len(campaigns), summary)
        _seed_members(store, rng, timeline, lead_ids, created_s, campaign_index, campaigns, member_share,
                      user_id, summary)
        _seed_activities(store, rng, timeline, lead_ids, created_s, owners, user_id, summary)
        if store.tables["Account"].size == 0:
            _seed_accounts(store, rng, timeline, user_id, owners, campaigns, summary)
        store.changes += 1
    return summary


def _audit(created: list[str], modified: list[str], user_id: str | None) -> dict[str, list]:
    n = len(created)
    return {"CreatedDate": created, "LastModifiedDate": modified, "SystemModstamp": modified,
            "CreatedById": [user_id] * n, "LastModifiedById": [user_id] * n, "IsDeleted": [False] * n}


def _seed_campaigns(store: RecordStore, rng: np.random.Generator, timeline: _Timeline, user_id: str | None,
                    owners: list[str], summary: SeedSummary) -> list[str]:
    table = store.tables["Campaign"]
    if table.size:
        return [table.get(r, "Id") for r in range(table.size) if not table.is_deleted(r)]
    n = len(CAMPAIGNS)
    ids = store.ids.allocate("701", n)
    start_days = np.array([10, 25, 40, 55, 0, 80])
    created = timeline.wire(np.zeros(n, dtype=np.int64))
    table.append_columns({
        "Id": ids, "Name": [c[0] for c in CAMPAIGNS], "Type": [c[1] for c in CAMPAIGNS],
        "Status": [c[2] for c in CAMPAIGNS], "IsActive": [c[2] != "Completed" for c in CAMPAIGNS],
        "StartDate": timeline.dates(start_days * 86400), "EndDate": timeline.dates((start_days + 30) * 86400),
        "BudgetedCost": (rng.integers(5, 80, n) * 1000.0).tolist(),
        "Description": [f"{c[0]} ({c[1]})" for c in CAMPAIGNS],
        "OwnerId": [owners[(i % (len(owners) - 1)) + 1] if len(owners) > 1 else user_id for i in range(n)],
        **_audit(created, created, user_id)}, n)
    summary.campaigns = n
    return ids


def _seed_leads(store: RecordStore, rng: np.random.Generator, timeline: _Timeline, n: int, user_id: str | None,
                owners: list[str], campaign_count: int,
                summary: SeedSummary) -> tuple[list[str], np.ndarray, np.ndarray]:
    if n <= 0:
        return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    companies = [f"{head} {tail} {suffix}" for head in COMPANY_HEADS for tail, suffix in COMPANY_TAILS]
    domains = [f"{head.lower().replace(' ', '')}-{tail.lower()}.example" for head in COMPANY_HEADS
               for tail, _ in COMPANY_TAILS]
    first_i = rng.integers(0, len(FIRST_NAMES), n)
    last_i = rng.integers(0, len(LAST_NAMES), n)
    company_i = rng.integers(0, len(companies), n)
    first_ascii = [e for _, e in FIRST_NAMES]
    last_ascii = [e for _, e in LAST_NAMES]
    person = np.arange(n)
    # ~3% of leads are an earlier person again (same name, e-mail and company), from another campaign.
    repeat = (rng.random(n) < 0.03) & (person > 10)
    person[repeat] = (rng.random(int(repeat.sum())) * person[repeat]).astype(np.int64)
    for column in (first_i, last_i, company_i):
        column[repeat] = column[person[repeat]]
    pool_first = np.array([f for f, _ in FIRST_NAMES], dtype=object)
    pool_last = np.array([name for name, _ in LAST_NAMES], dtype=object)
    pool_company = np.array(companies, dtype=object)
    first, last = pool_first[first_i].tolist(), pool_last[last_i].tolist()
    company = pool_company[company_i].tolist()
    email = [f"{first_ascii[f]}.{last_ascii[la]}{p + 1}@{domains[c]}"
             for f, la, c, p in zip(first_i.tolist(), last_i.tolist(), company_i.tolist(), person.tolist(),
                                    strict=True)]
    country, country_i = _pick(rng, COUNTRIES, n, COUNTRY_SHARE)
    state, city, postal = _geography(rng, np.asarray(COUNTRIES)[country_i])
    local = rng.integers(0, 10_000_000, n)
    phone = [f"{PHONE_PREFIX[c]} {d // 10000:03d} {d % 10000:04d}" for c, d in zip(country, local.tolist(),
                                                                                     strict=True)]
    employees = np.clip(np.exp(rng.normal(4.2, 1.9, n)), 1, 250_000).astype(np.int64)
    revenue = (employees * rng.integers(80, 320, n) * 1000).astype(float)
    products = _products(rng, n)
    status, _ = _pick(rng, STATUSES, n, STATUS_SHARE)
    created_s = np.sort(rng.integers(0, SEED_WINDOW_S, n))
    touched = rng.random(n) < 0.3
    modified_s = created_s + touched * rng.integers(60, 5 * 86400, n)
    created, modified = timeline.wire(created_s), timeline.wire(modified_s)
    for i in np.flatnonzero(~touched).tolist():
        modified[i] = created[i]  # one string object for both
    ids = store.ids.allocate("00Q", n)
    owner_pool = owners[1:] or [user_id]
    columns = {
        "Id": ids, "FirstName": first, "LastName": last, "Company": company, "Email": email, "Phone": phone,
        "Title": _pick(rng, JOB_TITLES, n)[0], "Country": country, "State": state, "City": city,
        "PostalCode": postal, "Industry": _pick(rng, list(INDUSTRIES), n)[0],
        "LeadSource": _pick(rng, LEAD_SOURCES, n, LEAD_SOURCE_SHARE)[0], "Status": status,
        "Rating": _pick(rng, RATINGS, n, [0.4, 0.15, 0.25, 0.2])[0], "NumberOfEmployees": employees.tolist(),
        "AnnualRevenue": revenue.tolist(), "Product_Interest__c": products,
        "Lead_Type__c": _lead_types(employees),
        "OwnerId": _pick(rng, owner_pool, n)[0],
        "HasOptedOutOfEmail": (rng.random(n) < 0.03).tolist(), "DoNotCall": [False] * n,
        "IsConverted": [s == "Closed - Converted" for s in status],
        **_audit(created, modified, user_id)}
    store.tables["Lead"].append_columns(columns, n)
    summary.leads = n
    campaign_index = rng.integers(0, max(1, campaign_count), n)
    # A repeated person came from a different campaign than the first time.
    campaign_index[repeat] = (campaign_index[person[repeat]] + 1 + rng.integers(0, max(1, campaign_count - 1),
                                                                                  int(repeat.sum()))) % max(
        1, campaign_count)
    return ids, created_s, campaign_index


def _geography(rng: np.random.Generator, code: np.ndarray) -> tuple[list, list, list]:
    n = len(code)
    states: list = [None] * n
    cities: list = [None] * n
    postals: list = [None] * n
    us_states = list(US_ZIP3)
    provinces = list(CA_FSA_LETTERS)
    au = list(AU_STATES)
    pick_a, pick_b = rng.integers(0, 1 << 30, n), rng.integers(0, 1 << 30, n)
    digits = rng.integers(0, 100000, n)
    letters = "ABCEGHJKLMNPRSTVWXYZ"
    for i, (country, a, b, d) in enumerate(zip(code.tolist(), pick_a.tolist(), pick_b.tolist(), digits.tolist(),
                                               strict=True)):
        if country == "US":
            state = us_states[a % len(us_states)]
            low, high = US_ZIP3[state]
            states[i], cities[i] = state, US_CITIES[state]
            postals[i] = f"{low + b % (high - low + 1):03d}{d % 100:02d}"
        elif country == "CA":
            province = provinces[a % len(provinces)]
            fsa = CA_FSA_LETTERS[province]
            states[i], cities[i] = province, CA_CITIES[province]
            postals[i] = (f"{fsa[b % len(fsa)]}{d % 10}{letters[(d // 10) % 20]} {(d // 200) % 10}"
                          f"{letters[(b // 7) % 20]}{(b // 140) % 10}")
        elif country == "AU":
            state = au[a % len(au)]
            city, base = AU_STATES[state]
            states[i], cities[i], postals[i] = state, city, str(base + d % 100)
        else:
            pool = OTHER_CITIES[country]
            cities[i] = pool[a % len(pool)]
            if country == "GB":
                unit = f"{d % 9 + 1}{letters[d % 20]}{letters[(d // 20) % 20]}"
                postals[i] = f"{GB_AREAS[b % len(GB_AREAS)]} {unit}"
            elif country == "NL":
                postals[i] = f"{1000 + d % 9000} {letters[b % 20]}{letters[(b // 20) % 20]}"
            elif country == "JP":
                postals[i] = f"{100 + d % 900:03d}-{b % 10000:04d}"
            else:
                postals[i] = f"{1000 + d % 98000:05d}"
    return states, cities, postals


def _lead_types(employees: np.ndarray) -> list[str]:
    """SMB, Mid-Market or Enterprise by employee count; draws nothing, so the other columns stay as seeded."""
    pool = np.empty(len(LEAD_TYPES), dtype=object)
    pool[:] = LEAD_TYPES
    return pool[np.searchsorted(LEAD_TYPE_FLOORS, employees, side="right")].tolist()


def _products(rng: np.random.Generator, n: int) -> list[str]:
    how_many = rng.choice([1, 2, 3], size=n, p=[0.55, 0.3, 0.15])
    rank = rng.random((n, len(PRODUCTS))).argsort(axis=1).argsort(axis=1)
    chosen = rank < how_many[:, None]
    # Encode each subset as a bit mask: at most 31 distinct strings, shared between rows.
    masks = (chosen * (1 << np.arange(len(PRODUCTS)))).sum(axis=1)
    names = {m: ";".join(p for j, p in enumerate(PRODUCTS) if m & (1 << j))
             for m in np.unique(masks).tolist()}
    return [names[m] for m in masks.tolist()]


def _seed_members(store: RecordStore, rng: np.random.Generator, timeline: _Timeline, lead_ids: list[str],
                  created_s: np.ndarray, campaign_index: np.ndarray, campaigns: list[str], share: float,
                  user_id: str | None, summary: SeedSummary) -> None:
    n = len(lead_ids)
    if not n or not campaigns:
        return
    member = rng.random(n) < share
    second = member & (rng.random(n) < 0.08)
    rows = np.concatenate([np.flatnonzero(member), np.flatnonzero(second)])
    campaign_of = np.concatenate([campaign_index[member],
                                  (campaign_index[second] + 1 + rng.integers(0, max(1, len(campaigns) - 1),
                                                                             int(second.sum()))) % len(campaigns)])
    count = len(rows)
    joined_s = created_s[rows] + rng.integers(0, 3600, count)
    stamps = timeline.wire(joined_s)
    pool = np.empty(len(campaigns), dtype=object)
    pool[:] = campaigns
    lead_pool = np.empty(n, dtype=object)
    lead_pool[:] = lead_ids
    store.tables["CampaignMember"].append_columns({
        "Id": store.ids.allocate("00v", count), "CampaignId": pool[campaign_of].tolist(),
        "LeadId": lead_pool[rows].tolist(), "Status": _pick(rng, ["Sent", "Responded"], count, [0.6, 0.4])[0],
        **_audit(stamps, stamps, user_id)}, count)
    summary.campaign_members = count


def _seed_activities(store: RecordStore, rng: np.random.Generator, timeline: _Timeline, lead_ids: list[str],
                     created_s: np.ndarray, owners: list[str], user_id: str | None, summary: SeedSummary) -> None:
    n = len(lead_ids)
    if not n:
        return
    lead_pool = np.empty(n, dtype=object)
    lead_pool[:] = lead_ids
    owner_pool = owners[1:] or [user_id]
    rows = np.flatnonzero(rng.random(n) < 0.05)
    count = len(rows)
    when = created_s[rows] + rng.integers(3600, 14 * 86400, count)
    stamps = timeline.wire(when)
    done = rng.random(count) < 0.7
    store.tables["Task"].append_columns({
        "Id": store.ids.allocate("00T", count), "WhoId": lead_pool[rows].tolist(),
        "Subject": _pick(rng, ["Call", "Email: follow-up", "Send pricing", "Intro call"], count)[0],
        "ActivityDate": timeline.dates(when),
        "Status": ["Completed" if d else "Not Started" for d in done.tolist()],
        "Priority": ["Normal"] * count, "Type": _pick(rng, ["Call", "Email"], count)[0],
        "TaskSubtype": ["Task"] * count, "OwnerId": _pick(rng, owner_pool, count)[0],
        **_audit(stamps, stamps, user_id)}, count)
    summary.tasks = count
    rows = np.flatnonzero(rng.random(n) < 0.015)
    count = len(rows)
    start = created_s[rows] + rng.integers(86400, 21 * 86400, count)
    minutes = rng.choice([30, 60], size=count)
    stamps = timeline.wire(start - 86400)
    store.tables["Event"].append_columns({
        "Id": store.ids.allocate("00U", count), "WhoId": lead_pool[rows].tolist(),
        "Subject": _pick(rng, ["Product demo", "Discovery meeting", "Technical workshop"], count)[0],
        "StartDateTime": timeline.wire(start), "EndDateTime": timeline.wire(start + minutes * 60),
        "ActivityDateTime": timeline.wire(start), "ActivityDate": timeline.dates(start),
        "DurationInMinutes": minutes.tolist(),
        "Type": ["Meeting"] * count, "ShowAs": ["Busy"] * count, "IsAllDayEvent": [False] * count,
        "OwnerId": _pick(rng, owner_pool, count)[0], **_audit(stamps, stamps, user_id)}, count)
    summary.events = count


def _seed_accounts(store: RecordStore, rng: np.random.Generator, timeline: _Timeline, user_id: str | None,
                   owners: list[str], campaigns: list[str], summary: SeedSummary) -> None:
    n_accounts, n_contacts, n_opps = 40, 150, 25
    stamp = timeline.wire(np.zeros(1, dtype=np.int64))[0]
    owner_pool = owners[1:] or [user_id]
    names = [f"{head} {tail} {suffix}" for head in COMPANY_HEADS
             for tail, suffix in COMPANY_TAILS][::6][:n_accounts]
    account_ids = store.ids.allocate("001", n_accounts)
    country, _ = _pick(rng, COUNTRIES, n_accounts, COUNTRY_SHARE)
    store.tables["Account"].append_columns({
        "Id": account_ids, "Name": names, "Type": _pick(rng, ["Prospect", "Customer - Direct",
                                                              "Customer - Channel"], n_accounts)[0],
        "Industry": _pick(rng, list(INDUSTRIES), n_accounts)[0], "BillingCountry": country,
        "NumberOfEmployees": np.clip(np.exp(rng.normal(6, 1.5, n_accounts)), 10,
                                     200_000).astype(int).tolist(),
        "OwnerId": _pick(rng, owner_pool, n_accounts)[0], **_audit([stamp] * n_accounts, [stamp] * n_accounts,
                                                                   user_id)}, n_accounts)
    account_of = rng.integers(0, n_accounts, n_contacts)
    first, _ = _pick(rng, [f for f, _ in FIRST_NAMES], n_contacts)
    last, _ = _pick(rng, [name for name, _ in LAST_NAMES], n_contacts)
    contact_ids = store.ids.allocate("003", n_contacts)
    store.tables["Contact"].append_columns({
        "Id": contact_ids, "AccountId": [account_ids[i] for i in account_of.tolist()], "FirstName": first,
        "LastName": last, "Email": [f"contact{i + 1}@{names[a].split()[0].lower()}.example"
                                    for i, a in enumerate(account_of.tolist())],
        "Title": _pick(rng, JOB_TITLES, n_contacts)[0],
        "MailingCountry": [country[a] for a in account_of.tolist()],
        "OwnerId": _pick(rng, owner_pool, n_contacts)[0],
        **_audit([stamp] * n_contacts, [stamp] * n_contacts, user_id)}, n_contacts)
    stages, _ = _pick(rng, ["Prospecting", "Qualification", "Proposal/Price Quote", "Closed Won", "Closed Lost"],
                      n_opps)
    opp_account = rng.integers(0, n_accounts, n_opps)
    store.tables["Opportunity"].append_columns({
        "Id": store.ids.allocate("006", n_opps),
        "Name": [f"{names[a]} - Expansion" for a in opp_account.tolist()],
        "AccountId": [account_ids[a] for a in opp_account.tolist()], "StageName": stages,
        "Amount": (rng.integers(5, 500, n_opps) * 1000).astype(float).tolist(),
        "CloseDate": timeline.dates(rng.integers(30, 150, n_opps) * 86400),
        "CampaignId": [campaigns[i % len(campaigns)] if i % 3 == 0 else None for i in range(n_opps)],
        "OwnerId": _pick(rng, owner_pool, n_opps)[0], **_audit([stamp] * n_opps, [stamp] * n_opps, user_id)},
        n_opps)
    summary.accounts, summary.contacts, summary.opportunities = n_accounts, n_contacts, n_opps
