"""The supplier console over HTTP on loopback: sign-in by emailed link and by the SSO proxy header (trusted
and untrusted), CSRF, every route refusing a request without a supplier session (a partner's portal session
included), the queues with their reasons and bulk assignment, manual entry through the form, search over an
internal-only field, the partner list and the reports with their downloads."""

from __future__ import annotations

import io
import re

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from console_data import ROUTED, SUPPLIER, UNASSIGNED, csrf_of

from leadsync.console.app import ROUTES
from leadsync.store import tables
from leadsync.writeback.events import fields_of

# How each supplier route is tried without a supplier session: (method, path, form).
CASES = {
    "/sign-out": ("POST", "/console/sign-out", {}),
    "/queues": ("GET", "/console/queues", None),
    "/bulk": ("POST", "/console/bulk", {"action": "withdraw", "lead": "{lead}", "note": "x"}),
    "/leads/new": ("POST", "/console/leads/new", {"source": "sftp_demo", "f_last_name": "Intruder"}),
    "/search": ("GET", "/console/search?q=acme", None),
    "/partners": ("GET", "/console/partners", None),
    "/reports": ("GET", "/console/reports", None),
    "/reports/{name}": ("GET", "/console/reports/lead_distribution_list", None),
    "/reports/{name}/chart.png": ("GET", "/console/reports/lead_summary/chart.png", None),
    "/reports/{name}/export.{fmt}": ("GET", "/console/reports/lead_distribution_list/export.csv", None),
}


def test_every_supplier_route_has_a_case():
    assert sorted(r.path for r in ROUTES if r.access != "public") == sorted(CASES)


def _try(client, route_path: str, lead: str):
    method, path, form = CASES[route_path]
    if method == "GET":
        return client.http.get(path)
    data = {k: v.replace("{lead}", lead) for k, v in form.items()}
    return client.post(path, data, csrf=client.csrf("/console/sign-in"))


def _portal_sign_in(world, client, address: str) -> None:
    """Sign a partner user in to the partner portal (the same app) with the client's cookie jar."""
    page = client.http.get("/portal/sign-in")
    assert client.http.post("/portal/sign-in", data={"email": address, "csrf": csrf_of(page.text)}).status_code == 200
    mail = world.mails_to(address)[-1].get_body(("plain",)).get_content()
    link = re.search(r"http://\S+(/portal/sign-in/link\?t=\S+)", mail).group(1)
    page = client.http.get(link)
    token = re.search(r'name="t" value="([^"]+)"', page.text).group(1)
    done = client.http.post("/portal/sign-in/link", data={"t": token, "csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/portal/leads"


def test_without_a_supplier_session_every_route_sends_to_sign_in(make_console, clients):
    world = make_console()
    lead = world.add(ROUTED)
    before = world.assignment(lead)
    nobody = clients(world)
    partner = clients(world)
    _portal_sign_in(world, partner, "leads@northwind.example")
    assert partner.http.get("/portal/leads").status_code == 200  # a live partner session
    # the portal's cookie offered to the console as its own is not a console session either
    forged = clients(world)
    forged.http.cookies.set("leadsync_console", partner.http.cookies.get("leadsync_portal"), path="/console")
    for route in CASES:
        for who in (nobody, partner, forged):
            answer = _try(who, route, lead)
            assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in", (route, answer.text)
    assert world.assignment(lead) == before
    with world.store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.leads)
                            .where(tables.leads.c.last_name == "Intruder")).scalar_one() == 0


def test_sign_in_by_emailed_link_once_and_sign_out(make_console, clients):
    world = make_console()
    pat = clients(world).sign_in()
    page = pat.http.get("/console/queues")
    assert page.status_code == 200 and "Pat Ops" in page.text
    link = world.sign_in_link(SUPPLIER)  # the link just used: refused the second time
    again = clients(world)
    reused = again.http.get(link)
    token = re.search(r'name="t" value="([^"]+)"', reused.text).group(1)
    refused = again.http.post("/console/sign-in/link", data={"t": token, "csrf": csrf_of(reused.text)})
    assert refused.status_code == 410 and "used already" in refused.text
    # an address not in console.yaml gets the same page and no email
    stranger = clients(world)
    sent = stranger.http.post("/console/sign-in", data={"email": "leads@northwind.example", "csrf": stranger.csrf()})
    assert sent.status_code == 200 and 'id="sent"' in sent.text
    assert not [m for m in world.mails_to("leads@northwind.example") if "/console/" in m.get_body(("plain",)).get_content()]
    out = pat.post("/console/sign-out", {})
    assert out.status_code == 200 and "signed out" in out.text
    assert pat.http.get("/console/queues").headers["location"] == "/console/sign-in"


def test_sso_header_is_trusted_only_from_the_configured_proxies(make_console, clients):
    trusted = make_console(sso_proxies=["127.0.0.1/32"])
    via_proxy = clients(trusted, {"X-Forwarded-Email": SUPPLIER})
    page = via_proxy.http.get("/console/queues")
    assert page.status_code == 200 and "Pat Ops" in page.text
    unknown = clients(trusted, {"X-Forwarded-Email": "leads@northwind.example"})
    assert unknown.http.get("/console/queues").status_code == 303
    untrusted = make_console(sso_proxies=["10.0.0.0/8"])  # the request comes from 127.0.0.1: not the proxy
    spoofed = clients(untrusted, {"X-Forwarded-Email": SUPPLIER})
    answer = spoofed.http.get("/console/queues")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(make_console, clients):
    world = make_console()
    leads = [world.add(UNASSIGNED) for _ in range(2)]
    pat = clients(world).sign_in()
    form = [("action", "assign"), ("partner", "northwind"), ("note", "by hand"), ("lead", leads[0])]
    assert pat.post("/console/bulk", form, csrf=None).status_code == 403
    assert pat.post("/console/bulk", form, csrf="not-the-token").status_code == 403
    assert world.assignment(leads[0])["status"] == "unassigned"


def test_queues_say_why_and_bulk_assign_is_recorded_once_and_written_back(make_console, clients):
    world = make_console()
    leads = [world.add({**UNASSIGNED, "last_name": f"Tex{i}"}) for i in range(3)]
    pat = clients(world).sign_in()
    page = pat.http.get("/console/queues")
    assert "Unassigned (3)" in page.text
    assert page.text.count("no partner: unassigned queue") == 3  # the reason, as `leadsync explain` words it
    form = [("action", "assign"), ("partner", "northwind"), ("note", "Texas pilot"), ("next", "/console/queues"),
            *(("lead", lead) for lead in leads)]
    done = pat.post("/console/bulk", form)
    assert done.status_code == 303
    assert "3 lead(s) changed" in pat.http.get("/console/queues").text
    for lead in leads:
        a = world.assignment(lead)
        assert (a["status"], a["partner_id"], a["decided_by"]) == ("routed", "northwind", f"manual:console:{SUPPLIER}")
        assert "Texas pilot" in a["reason"]
    again = pat.post("/console/bulk", form)  # the same form twice: nothing more recorded
    assert again.status_code == 303 and "already with" in pat.http.get("/console/queues").text
    h = tables.assignment_history
    with world.store.begin() as conn:
        versions = conn.execute(sa.select(h.c.lead_id, sa.func.count()).where(h.c.lead_id.in_(leads))
                                .group_by(h.c.lead_id)).all()
        outbox = world.store.read_frame(conn, sa.select(tables.writeback_outbox)
                                        .where(tables.writeback_outbox.c.lead_id.in_(leads)))
    assert {n for _, n in versions} == {2}  # routed to the queue, then assigned: once
    statuses = [fields_of(r).get("distribution_status") for r in outbox.to_dict("records")]
    assert statuses.count("Routed") == 3  # written back like the CLI's assign


def test_a_lead_entered_in_the_form_is_routed_and_in_the_status_file(make_console, clients):
    world = make_console()
    pat = clients(world).sign_in()
    form = {"source": "sftp_demo", **{f"f_{k}": v for k, v in ROUTED.items()}, "f_lead_score": "97"}
    page = pat.post("/console/leads/new", form)
    assert page.status_code == 200, page.text
    lead_id = re.search(r'Lead <a href="[^"]+">([^<]+)</a> entered', page.text).group(1)
    assert "manual entry by Pat Ops &lt;ops@supplier.example&gt;" in page.text
    assert world.assignment(lead_id)["status"] == "routed"
    status = pd.concat([pd.read_csv(f, dtype=str) for f in (world.sftp.root / "outbox").glob("*.csv")])
    assert lead_id in status["lead_id"].tolist()
    found = pat.http.get("/console/search", params={"q": "97", "field": "lead_score"})  # internal-only field
    assert lead_id in found.text
    assert lead_id not in pat.http.get("/console/search", params={"q": "98", "field": "lead_score"}).text
    bad = pat.post("/console/leads/new", {"source": "sftp_demo", "f_email": "not-an-email", "f_last_name": "X"})
    assert bad.status_code == 422 and "quarantined" in bad.text


def test_partner_list_shows_open_leads_capacity_and_acceptance(make_console, clients):
    world = make_console()
    routed = [world.add({**ROUTED, "email": f"p{i}@acme.example"}) for i in range(2)]
    pat = clients(world).sign_in()
    page = pat.http.get("/console/partners").text
    partners = {world.assignment(lead)["partner_id"] for lead in routed}
    for pid in partners:
        row = re.search(rf'<tr id="partner-{pid}">(.*?)</tr>', page, re.DOTALL).group(1)
        expected = sum(world.assignment(lead)["partner_id"] == pid for lead in routed)
        assert f'<td class="open">{expected}</td>' in row
    cascade = re.search(r'<tr id="partner-cascade">(.*?)</tr>', page, re.DOTALL).group(1)
    assert '<td class="capacity">5000</td>' in cascade and '<td class="rate">—</td>' in cascade


def test_reports_with_a_date_range_chart_and_neutralised_downloads(make_console, clients):
    world = make_console()
    world.add({**ROUTED, "company": '=HYPERLINK("http://evil.example","x")'})
    pat = clients(world).sign_in()
    page = pat.http.get("/console/reports/lead_distribution_list")
    assert page.status_code == 200 and 'id="chart"' in page.text
    chart = pat.http.get("/console/reports/lead_distribution_list/chart.png")
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    empty = pat.http.get("/console/reports/opportunity_summary", params={"from": "2001-01-01", "to": "2001-01-31"})
    assert empty.status_code == 200 and 'id="no-chart"' in empty.text
    bad = pat.http.get("/console/reports/lead_summary", params={"from": "2026-13-01"})
    assert bad.status_code == 400 and "not a date" in bad.text
    csv = pat.http.get("/console/reports/opportunity_details/export.csv", params={"filter": "company=x"})
    assert csv.status_code == 200
    listed = pat.http.get("/console/reports/lead_distribution_list/export.csv", params={"filter": "lead_score="})
    assert listed.status_code == 200
    xlsx = pat.http.get("/console/reports/lead_distribution_list/export.xlsx", params={"group_by": ""})
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["lead_id", "source", "campaign"]
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row]
    assert not any(c.data_type == "f" for c in cells)
    # the company is not a column of the list; the details report filtered by it holds no opportunity
    assert pd.read_csv(io.StringIO(csv.text)).empty


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exported_cells_that_look_like_formulas_are_inert(make_console, clients, fmt):
    world = make_console()
    world.add({**ROUTED, "campaign": '=HYPERLINK("http://evil.example","x")'})
    pat = clients(world).sign_in()
    answer = pat.http.get(f"/console/reports/lead_distribution_list/export.{fmt}")
    assert answer.status_code == 200
    if fmt == "csv":
        frame = pd.read_csv(io.StringIO(answer.text), dtype=str)
        campaign = frame["campaign"].iloc[0]
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
        col = [c.value for c in sheet[1]].index("campaign")
        cell = sheet.cell(row=2, column=col + 1)
        assert cell.data_type == "s"
        campaign = cell.value
    assert campaign == "'=HYPERLINK(\"http://evil.example\",\"x\")"


def test_reroute_and_withdraw_from_a_search_with_a_note(make_console, clients):
    world = make_console()
    lead = world.add(ROUTED)
    held_by = world.assignment(lead)["partner_id"]
    pat = clients(world).sign_in()
    found = pat.http.get("/console/search", params={"q": "acme.example", "field": "email"})
    assert f'name="lead" value="{lead}"' in found.text
    other = "bluepeak" if held_by != "bluepeak" else "northwind"
    assert pat.post("/console/bulk", [("action", "reroute"), ("partner", other), ("note", "territory swap"),
                                      ("lead", lead)]).status_code == 303
    a = world.assignment(lead)
    assert (a["partner_id"], a["action"]) == (other, "reassigned") and "territory swap" in a["reason"]
    refused = pat.post("/console/bulk", [("action", "reroute"), ("note", ""), ("lead", lead)])
    assert refused.status_code == 400 and "a note is required" in refused.text
    assert pat.post("/console/bulk", [("action", "withdraw"), ("note", "duplicate of another lead"),
                                      ("lead", lead)]).status_code == 303
    assert world.assignment(lead)["status"] == "withdrawn"
