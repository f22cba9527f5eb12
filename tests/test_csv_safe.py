"""The one formula-neutralising rule in its three forms (Python, Arrow, SQL on both stores) agrees."""
import duckdb
import pyarrow as pa
import pytest
import sqlalchemy

from leadsync.csv_safe import neutralise, neutralise_array, neutralise_sql, neutralise_table

CASES = [
    ('=HYPERLINK("http://evil","Click")', '\'=HYPERLINK("http://evil","Click")'),
    ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-12.5", "-12.5"),
    ("+3", "+3"),
    ("1e5", "1e5"),
    ("Acme = good", "Acme = good"),
    ("", ""),
]


@pytest.mark.parametrize("raw,safe", CASES)
def test_python_form(raw, safe):
    assert neutralise(raw) == safe


def test_none_is_empty():
    assert neutralise(None) == ""


def test_arrow_form_matches_python():
    raws = [raw for raw, _ in CASES] + [None]
    out = neutralise_array(pa.array(raws))
    assert out.to_pylist() == [safe for _, safe in CASES] + [None]
    table = neutralise_table(pa.table({"a": raws, "n": list(range(len(raws)))}))
    assert table.column("a").to_pylist()[0].startswith("'=")
    assert table.column("n").to_pylist() == list(range(len(raws)))


def test_duckdb_form_matches_python():
    con = duckdb.connect()
    for raw, safe in CASES:
        got = con.execute(f"SELECT {neutralise_sql('v', 'duckdb')} FROM (SELECT ? AS v)", [raw]).fetchone()[0]
        assert got == safe, raw


def test_postgres_form_matches_python(postgres_url):
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as conn:
        for raw, safe in CASES:
            sql = f"SELECT {neutralise_sql('CAST(:v AS text)', 'postgresql')}"
            assert conn.execute(sqlalchemy.text(sql), {"v": raw}).scalar() == safe, raw
