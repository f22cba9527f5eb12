"""Generated demo leads: realistic, deterministic for a seed, and fast at a million rows.

Everything is drawn column-wise with numpy and assembled with Arrow compute kernels; a per-row Python loop
would take a minute for the million-row benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

COLUMNS = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "State",
           "Postal Code", "Products of Interest", "Lead Type", "Campaign", "Created Date", "Partner"]

# (display name, email-safe form): real drops carry accents; email local parts rarely do.
FIRST_NAMES = [("Ann", "ann"), ("Bob", "bob"), ("Carla", "carla"), ("Dev", "dev"), ("Elif", "elif"),
               ("Farid", "farid"), ("Grace", "grace"), ("Hiro", "hiro"), ("Inès", "ines"), ("Jonas", "jonas"),
               ("Kemi", "kemi"), ("Luis", "luis"), ("Maya", "maya"), ("Nils", "nils"), ("Olga", "olga"),
               ("Priya", "priya"), ("Quinn", "quinn"), ("Rosa", "rosa"), ("Sven", "sven"), ("Tara", "tara"),
               ("Uma", "uma"), ("Viktor", "viktor"), ("Wen", "wen"), ("Zoë", "zoe"), ("José", "jose")]
LAST_NAMES = [("Smith", "smith"), ("Garcia", "garcia"), ("Chen", "chen"), ("Müller", "mueller"),
              ("Okafor", "okafor"), ("Dubois", "dubois"), ("Rossi", "rossi"), ("Kowalski", "kowalski"),
              ("Tanaka", "tanaka"), ("Singh", "singh"), ("Brown", "brown"), ("Larsen", "larsen"),
              ("Novák", "novak"), ("Silva", "silva"), ("Haddad", "haddad"), ("Kim", "kim"),
              ("O'Brien", "obrien"), ("Schmidt", "schmidt"), ("López", "lopez"), ("Ivanova", "ivanova")]
COMPANIES = [("Acme Corp", "acme.example"), ("Globex Inc", "globex.example"),
             ("Initech LLC", "initech.example"), ("Umbrella Ltd", "umbrella.example"),
             ("Stark Industries", "stark.example"), ("Wayne Enterprises", "wayne.example"),
             ("Hooli", "hooli.example"), ("Soylent GmbH", "soylent.example"),
             ("Cyberdyne Systems", "cyberdyne.example"), ("Tyrell Corp", "tyrell.example"),
             ("Pied Piper", "piedpiper.example"), ("Massive Dynamic", "massive.example"),
             ("Aperture Science", "aperture.example"), ("Vandelay Industries", "vandelay.example")]
JOB_TITLES = ["IT Director", "CIO", "CISO", "Network Engineer", "Security Analyst", "CTO", "IT Manager",
              "Systems Administrator", "Head of Infrastructure", "Procurement Manager"]
PRODUCTS = ["Firewall", "Endpoint", "Cloud Backup", "SD-WAN", "Email Security"]
LEAD_TYPES = ["SMB", "Mid-Market", "Enterprise"]
LEAD_TYPE_SHARE = [0.6, 0.3, 0.1]
CAMPAIGNS = ["RSA 2026 Booth", "Q4 Webinar Series", "Cloud Security Summit", "Partner Roadshow",
             "Website Demo Request"]
COUNTRIES = ["US", "CA", "GB", "DE", "FR"]
COUNTRY_SHARE = [0.55, 0.12, 0.13, 0.12, 0.08]
PHONE_PREFIX = {"US": "+1 ", "CA": "+1 ", "GB": "+44 20 ", "DE": "+49 30 ", "FR": "+33 1 "}  # before 8 digits

# US states with the range of the first three ZIP digits they use, so state and ZIP agree.
US_ZIP3 = {"CA": (900, 961), "WA": (980, 994), "OR": (970, 979), "NV": (889, 898), "AZ": (850, 865),
           "NY": (100, 149), "NJ": (70, 89), "MA": (10, 27), "PA": (150, 196), "CT": (60, 69),
           "TX": (750, 799), "FL": (320, 349), "IL": (600, 629), "GA": (300, 319), "CO": (800, 816)}
# Canadian provinces with the first letters of their postal codes (FSA).
CA_FSA_LETTERS = {"ON": "KLMNP", "QC": "GHJ", "BC": "V", "AB": "T", "MB": "R", "NS": "B"}
CA_POSTAL_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"  # letters Canada Post uses inside codes
GB_AREAS = ["EC1A", "WC2N", "SW1A", "SW7", "M1", "B2", "LS1", "EH1", "G2", "CF10"]
GB_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def demo_leads_table(n: int, seed: int = 7, partner_names: list[str] | None = None,
                     partner_column_share: float = 0.1, offset: int = 0) -> pa.Table:
    """n generated leads with the COLUMNS above; the same seed always gives the same table. `offset`: the rows
    of a longer file before these (write_demo_leads' later pieces): their own random stream, emails numbered on."""
    rng = np.random.default_rng(seed if offset == 0 else [seed, offset])

    def pick(options: list[str], p: list[float] | None = None) -> tuple[pa.Array, np.ndarray]:
        index = rng.choice(len(options), size=n, p=p)
        return pa.array(options, pa.string()).take(index), index

    def join(*parts: pa.Array | str) -> pa.Array:
        return pc.binary_join_element_wise(*parts, "")

    def digits(low: int, high: int, width: int) -> pa.Array:
        return pc.utf8_lpad(_strings(rng.integers(low, high + 1, n)), width, "0")

    def letters(alphabet: str) -> pa.Array:
        return pa.array(list(alphabet), pa.string()).take(rng.integers(0, len(alphabet), n))

    first, first_i = pick([f for f, _ in FIRST_NAMES])
    last, last_i = pick([lname for lname, _ in LAST_NAMES])
    company, company_i = pick([c for c, _ in COMPANIES])
    email = join(pa.array([e for _, e in FIRST_NAMES]).take(first_i), ".",
                 pa.array([e for _, e in LAST_NAMES]).take(last_i), _strings(np.arange(offset + 1, offset + n + 1)),
                 "@", pa.array([d for _, d in COMPANIES]).take(company_i))

    country, country_i = pick(COUNTRIES, COUNTRY_SHARE)
    code = np.asarray(COUNTRIES)[country_i]
    empty = pa.array(np.full(n, ""), pa.string())

    us_states = list(US_ZIP3)
    us_state_i = rng.integers(0, len(us_states), n)
    zip3 = np.array([US_ZIP3[s][0] for s in us_states])[us_state_i] + (
        rng.random(n) * (np.array([US_ZIP3[s][1] - US_ZIP3[s][0] + 1 for s in us_states])[us_state_i])
    ).astype(np.int64)
    us_zip = pc.utf8_lpad(_strings(zip3 * 100 + rng.integers(1, 100, n)), 5, "0")

    provinces = list(CA_FSA_LETTERS)
    province_i = rng.integers(0, len(provinces), n)
    # A postal code's first letter belongs to the province: draw among that province's letters.
    fsa_letters = "".join(CA_FSA_LETTERS.values())
    fsa_start = np.cumsum([0] + [len(v) for v in CA_FSA_LETTERS.values()])[:-1]
    fsa_count = np.array([len(v) for v in CA_FSA_LETTERS.values()])
    fsa_first = pa.array(list(fsa_letters)).take(
        fsa_start[province_i] + (rng.random(n) * fsa_count[province_i]).astype(np.int64))
    ca_postal = join(fsa_first, digits(0, 9, 1), letters(CA_POSTAL_LETTERS), " ",
                     digits(0, 9, 1), letters(CA_POSTAL_LETTERS), digits(0, 9, 1))
    gb_postal = join(pa.array(GB_AREAS).take(rng.integers(0, len(GB_AREAS), n)), " ", digits(1, 9, 1),
                     letters(GB_UNIT_LETTERS), letters(GB_UNIT_LETTERS))
    eu_postal = digits(1001, 99998, 5)

    is_us, is_ca, is_gb = [pa.array(code == c) for c in ("US", "CA", "GB")]
    state = pc.if_else(is_us, pa.array(us_states).take(us_state_i),
                       pc.if_else(is_ca, pa.array(provinces).take(province_i), empty))
    postal = pc.if_else(is_us, us_zip, pc.if_else(is_ca, ca_postal, pc.if_else(is_gb, gb_postal, eu_postal)))
    north_american = join("+1 ", digits(201, 989, 3), "-", digits(200, 999, 3), "-", digits(0, 9999, 4))
    european = join(pa.array([PHONE_PREFIX[c] for c in COUNTRIES]).take(country_i), digits(0, 9999, 4), " ",
                    digits(0, 9999, 4))
    phone = pc.if_else(pa.array(np.isin(code, ["US", "CA"])), north_american, european)

    # One to three distinct products per lead, listed in a fixed order, joined with ";".
    how_many = rng.choice([1, 2, 3], size=n, p=[0.55, 0.3, 0.15])
    rank = rng.random((n, len(PRODUCTS))).argsort(axis=1).argsort(axis=1)
    chosen = rank < how_many[:, None]
    null = pa.scalar(None, pa.string())
    product_parts = [pc.if_else(pa.array(chosen[:, j]), pa.scalar(p), null) for j, p in enumerate(PRODUCTS)]
    products = pc.binary_join_element_wise(*product_parts, ";", null_handling="skip")

    lead_type, _ = pick(LEAD_TYPES, LEAD_TYPE_SHARE)
    campaign, _ = pick(CAMPAIGNS)
    title, _ = pick(JOB_TITLES)
    start = np.datetime64("2026-09-01T00:00:00", "s")
    # cast + replace renders ISO 8601 ten times faster than pc.strftime.
    seconds = pa.array(start + rng.integers(0, 90 * 86400, n).astype("timedelta64[s]"))
    created = join(pc.replace_substring(pc.cast(seconds, pa.string()), " ", "T", max_replacements=1), "Z")

    partner = empty
    if partner_names:
        named = rng.random(n) < partner_column_share
        partner = pc.if_else(pa.array(named), pa.array(partner_names, pa.string()).take(
            rng.integers(0, len(partner_names), n)), empty)

    return pa.table([email, first, last, company, title, phone, country, state, postal, products, lead_type,
                     campaign, created, partner], names=COLUMNS)


def demo_leads(n: int, seed: int = 7, partner_names: list[str] | None = None,
               partner_column_share: float = 0.1) -> pd.DataFrame:
    return demo_leads_table(n, seed, partner_names, partner_column_share).to_pandas()


# A file is generated and written this many rows at a time, so making one of five million leads takes the memory
# of one million (~0.7 GB; the whole table at once took 2.8 GB at five million). A file of up to this many rows
# is one piece, the same as it always was for its seed.
GENERATE_ROWS = 1_000_000


def write_demo_leads(path: Path, n: int, seed: int = 7, partner_names: list[str] | None = None,
                     partner_column_share: float = 0.1) -> Path:
    """Write n generated leads as a UTF-8 CSV with a header row. The file appears under its name only when
    complete (written next to it, then renamed), as a well-behaved producer does."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unquoted like most exporters, unless a partner name needs quotes ("Acme, Inc.").
    needs_quotes = any(ch in name for name in partner_names or [] for ch in ',"\r\n')
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed" if needs_quotes else "none")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write((",".join(COLUMNS) + "\n").encode())  # Arrow would quote every header name
            for offset in range(0, n, GENERATE_ROWS):
                piece = demo_leads_table(min(GENERATE_ROWS, n - offset), seed, partner_names, partner_column_share,
                                         offset)
                pacsv.write_csv(piece, fh, write_options=options)
                del piece
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
