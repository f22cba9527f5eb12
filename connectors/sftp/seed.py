"""Generated demo leads: realistic, deterministic for a seed, and fast (vectorised) at a million rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FIRST = ["Ann", "Bob", "Carla", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luis",
         "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Viktor", "Wen", "Yara"]
LAST = ["Smith", "Garcia", "Chen", "Müller", "Okafor", "Dubois", "Rossi", "Kowalski", "Tanaka", "Singh",
        "Brown", "Larsen", "Novak", "Silva", "Haddad", "Kim", "Murphy", "Schmidt", "Lopez", "Ivanova"]
COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vehement", "Soylent",
           "Cyberdyne", "Tyrell", "Wonka", "Oscorp", "Pied Piper", "Massive Dynamic", "Aperture"]
TITLES = ["IT Director", "CIO", "Network Engineer", "Security Analyst", "CTO", "IT Manager", "SysAdmin"]
PRODUCTS = ["Firewall", "Endpoint", "Cloud Backup", "SD-WAN", "Email Security"]
LEAD_TYPES = ["SMB", "Mid-Market", "Enterprise"]
CAMPAIGNS = ["RSA 2026 Booth", "Q4 Webinar Series", "Cloud Security Summit", "Partner Roadshow"]
COUNTRIES = ["US", "CA", "GB", "DE", "FR"]
COUNTRY_P = [0.55, 0.12, 0.13, 0.12, 0.08]
US_STATES = ["CA", "WA", "OR", "NV", "AZ", "NY", "NJ", "MA", "PA", "CT", "TX", "FL", "IL", "GA", "CO"]
CA_PROVINCES = ["ON", "QC", "BC", "AB", "MB"]
GB_AREAS = ["EC1A", "WC2N", "SW1A", "SW7", "M1", "B2", "LS1", "EH1"]
COLUMNS = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "State",
           "Postal Code", "Products of Interest", "Lead Type", "Campaign", "Created Date", "Partner"]


def demo_leads(n: int, seed: int = 7, partner_names: list[str] | None = None,
               partner_column_share: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def pick(options, p=None):
        return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=p)]

    first, last, company = pick(FIRST), pick(LAST), pick(COMPANY)
    ids = pd.Series(np.arange(n)).astype(str).to_numpy(dtype=object)
    domain = pd.Series(company).str.lower().str.replace(" ", "", regex=False) + ".example"
    email = (pd.Series(first).str.lower() + "." + pd.Series(last).str.lower().str.replace("ü", "u") + ids
             + "@" + domain).to_numpy(dtype=object)
    country = pick(COUNTRIES, COUNTRY_P)
    state = np.full(n, "", dtype=object)
    postal = np.full(n, "", dtype=object)
    us, ca, gb = country == "US", country == "CA", country == "GB"
    de_fr = (country == "DE") | (country == "FR")
    state[us] = np.asarray(US_STATES, dtype=object)[rng.integers(0, len(US_STATES), us.sum())]
    postal[us] = pd.Series(rng.integers(10000, 99999, us.sum())).astype(str).to_numpy(dtype=object)
    state[ca] = np.asarray(CA_PROVINCES, dtype=object)[rng.integers(0, len(CA_PROVINCES), ca.sum())]
    postal[ca] = "M5V " + pd.Series(rng.integers(1, 9, ca.sum())).astype(str).to_numpy(dtype=object) + "K4"
    postal[gb] = (np.asarray(GB_AREAS, dtype=object)[rng.integers(0, len(GB_AREAS), gb.sum())] + " "
                  + pd.Series(rng.integers(1, 9, gb.sum())).astype(str).to_numpy(dtype=object) + "AA")
    postal[de_fr] = pd.Series(rng.integers(10000, 99999, de_fr.sum())).astype(str).to_numpy(dtype=object)

    # Products: one or two distinct values per lead.
    a = rng.integers(0, len(PRODUCTS), n)
    b = (a + rng.integers(1, len(PRODUCTS), n)) % len(PRODUCTS)
    two = rng.random(n) < 0.35
    prod = np.asarray(PRODUCTS, dtype=object)
    products = np.where(two, prod[np.minimum(a, b)] + ";" + prod[np.maximum(a, b)], prod[a])

    created = (pd.Timestamp("2026-10-01T00:00:00Z")
               + pd.to_timedelta(rng.integers(0, 50 * 86400, n), unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ")
    partner = np.full(n, "", dtype=object)
    if partner_names:
        named = rng.random(n) < partner_column_share
        partner[named] = np.asarray(partner_names, dtype=object)[rng.integers(0, len(partner_names), named.sum())]
    phone = "+1-555-" + pd.Series(rng.integers(1000000, 9999999, n)).astype(str).to_numpy(dtype=object)

    return pd.DataFrame({
        "Email": email, "First Name": first, "Last Name": last, "Company": company + " Inc",
        "Job Title": pick(TITLES), "Phone": phone, "Country": country, "State": state, "Postal Code": postal,
        "Products of Interest": products, "Lead Type": pick(LEAD_TYPES, [0.6, 0.3, 0.1]),
        "Campaign": pick(CAMPAIGNS), "Created Date": np.asarray(created, dtype=object), "Partner": partner,
    }, columns=COLUMNS)


def write_demo_leads(path: Path, n: int, seed: int = 7, partner_names: list[str] | None = None,
                     partner_column_share: float = 0.1) -> Path:
    """Write n generated leads as a UTF-8 CSV with the demo mapping's columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    demo_leads(n, seed, partner_names, partner_column_share).to_csv(path, index=False)
    return path
