"""The physical floor of leadsync's main walk on this machine's PostgreSQL: the same walk as
`../shared/bench/floor_walk.py` (the 1M-lead demo CSV read, mapped and validated, stored, routed set-based to
the demo partners, written out as a status CSV) in plain SQL on the Postgres server leadsync's scale profile
uses, with the keys a store needs (a primary key per table), in a database of its own that is dropped
afterwards. No ledger, no audit, no outbox: the lower bound the Postgres store's stages are held against.

usage: .venv/bin/python bench/floor_walk_postgres.py [--leads N] [--url postgresql://postgres@127.0.0.1:5432/test]
prints each stage's seconds and the total.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from leadsync.connectors.sftp.seed import write_demo_leads

COLUMNS = ["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "State",
           "Postal Code", "Products of Interest", "Lead Type", "Campaign", "Created Date", "Partner"]

MAP = r"""
CREATE TABLE leads_all AS SELECT row_no,
  lower(trim("Email")) AS email, "First Name" AS first_name, "Last Name" AS last_name, "Company" AS company,
  "Job Title" AS title, "Phone" AS phone, "Country" AS country, "State" AS state, "Postal Code" AS postal_code,
  string_to_array("Products of Interest", ';') AS products, "Lead Type" AS lead_type, "Campaign" AS campaign,
  CASE WHEN "Created Date" ~ '^\d{4}-\d{2}-\d{2}' THEN "Created Date"::timestamptz END AS created_at,
  "Partner" AS partner_name,
  concat_ws(';',
    CASE WHEN coalesce("Email", '') !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN 'bad email' END,
    CASE WHEN "Last Name" IS NULL THEN 'last name required' END,
    CASE WHEN "Country" NOT IN ('US','CA','GB','DE','FR') THEN 'bad country' END,
    CASE WHEN "Lead Type" NOT IN ('SMB','Mid-Market','Enterprise') THEN 'bad lead type' END,
    CASE WHEN "Created Date" IS NOT NULL AND "Created Date" !~ '^\d{4}-\d{2}-\d{2}' THEN 'bad date' END
  ) AS reasons
FROM raw_rows;
CREATE TABLE leads (LIKE leads_all, PRIMARY KEY (row_no));
INSERT INTO leads SELECT * FROM leads_all WHERE reasons = '';
CREATE TABLE quarantine AS SELECT row_no, reasons FROM leads_all WHERE reasons <> '';
DROP TABLE leads_all;
"""

ROUTE = """
CREATE TABLE partners (pid text, name text, country text, states text[], products text[], lead_types text[]);
INSERT INTO partners VALUES
 ('northwind','Northwind Networks','US','{CA,WA,OR,NV,AZ}','{Firewall,SD-WAN}','{SMB,Mid-Market,Enterprise}'),
 ('cascade','Cascade Secure','US','{CA,WA,OR}','{Firewall,Endpoint}','{SMB,Mid-Market,Enterprise}'),
 ('bluepeak','Blue Peak Security','US','{NY,NJ,MA,PA,CT}','{Firewall,Endpoint,Email Security}','{SMB,Mid-Market}'),
 ('maple','Maple Systems','CA',NULL,NULL,'{SMB,Mid-Market,Enterprise}'),
 ('albion','Albion IT','GB',NULL,NULL,NULL),
 ('rhein','Rhein Digital','DE',NULL,NULL,NULL),
 ('summit','Summit Enterprise Partners',NULL,NULL,NULL,'{Enterprise}');
CREATE TABLE assignments (row_no bigint PRIMARY KEY, pid text, step text);
INSERT INTO assignments
WITH named AS (SELECT l.row_no, p.pid FROM leads l JOIN partners p ON p.name = l.partner_name),
cand AS (
  SELECT l.row_no, p.pid FROM leads l JOIN partners p
    ON (p.country IS NULL OR p.country = l.country)
   AND (p.states IS NULL OR l.state = ANY (p.states))
   AND (p.lead_types IS NULL OR l.lead_type = ANY (p.lead_types))
   AND (p.products IS NULL OR p.products && l.products)
  WHERE NOT EXISTS (SELECT 1 FROM named n WHERE n.row_no = l.row_no)),
sets AS (SELECT row_no, array_agg(pid ORDER BY pid) AS pids FROM cand GROUP BY row_no),
rr AS (SELECT row_no, pids[1 + ((row_number() OVER (PARTITION BY pids ORDER BY row_no) - 1)
                                  % cardinality(pids))::int] AS pid FROM sets)
SELECT row_no, pid, 'named' FROM named
UNION ALL SELECT row_no, pid, 'rule' FROM rr
UNION ALL SELECT row_no, NULL, 'unassigned' FROM leads l
  WHERE NOT EXISTS (SELECT 1 FROM named n WHERE n.row_no = l.row_no)
    AND NOT EXISTS (SELECT 1 FROM sets s WHERE s.row_no = l.row_no);
"""

STATUS = """COPY (SELECT l.email, coalesce(a.pid, '') AS partner,
  CASE WHEN a.pid IS NULL THEN 'Not Routed' ELSE 'Routed' END AS distribution_status, a.step
  FROM assignments a JOIN leads l USING (row_no)) TO STDOUT (FORMAT csv, HEADER)"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="floor-pg-"))
    csv = write_demo_leads(work / "leads.csv", args.leads, seed=1,
                           partner_names=["Blue Peak Security", "Maple Systems"])
    db = f"floor_walk_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {db}")
    try:
        with psycopg.connect(args.url.rsplit("/", 1)[0] + "/" + db) as con:
            stages = run(con, csv)
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {db}")
    for name, seconds in stages.items():
        print(f"{name:10s} {seconds:7.2f} s")
    print(f"floor (postgres) {sum(stages.values()):.2f} s")


def run(con: psycopg.Connection, csv: Path) -> dict[str, float]:
    header = csv.open(encoding="utf-8").readline().rstrip("\n").split(",")
    cols = ", ".join(f'"{c}" text' for c in header)
    t0 = time.perf_counter()
    # pull + store raw (as received, all text), one transaction per stage as a store would commit
    con.execute(f"CREATE TABLE raw_rows (row_no bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {cols})")
    with con.cursor().copy(f"COPY raw_rows ({', '.join(repr(c).replace(chr(39), chr(34)) for c in header)}) "
                           "FROM STDIN (FORMAT csv, HEADER)") as copy, csv.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    con.commit()
    t_pull = time.perf_counter()
    con.execute(MAP)
    con.commit()
    t_map = time.perf_counter()
    con.execute(ROUTE)
    con.commit()
    t_route = time.perf_counter()
    with (work_file := csv.with_name("status.csv")).open("wb") as out, con.cursor().copy(STATUS) as copy:
        for data in copy:
            out.write(data)
    t_wb = time.perf_counter()
    assert work_file.stat().st_size > 0
    counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("leads", "quarantine", "assignments")]
    print(f"leads {counts[0]:,}, quarantined {counts[1]:,}, decisions {counts[2]:,}")
    return {"pull": t_pull - t0, "map": t_map - t_pull, "route": t_route - t_map, "writeback": t_wb - t_route}


if __name__ == "__main__":
    main()
