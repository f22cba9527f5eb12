"""The partner-response web app served on loopback, driven by real HTTP requests on the links taken from
the emails the SMTP server received: accept, reject with a reason, refused tokens, the status page,
the CSV upload and the JSON API."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pandas as pd
import pytest

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.links import issue_api_key, link, token_for
from leadsync.lifecycle.tokens import issue
from leadsync.store import tables

T0 = pd.Timestamp("2026-11-02 09:00", tz="UTC").to_pydatetime()


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def emailed(w, country: str = "US") -> tuple[str, object]:
    (lead,) = w.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines", "country": country}])
    deliver(w.ctx, pd.Timestamp.now(tz="UTC").to_pydatetime())
    return lead, w.inbox.messages[-1]


def test_clicking_accept_in_the_email_accepts_the_lead_once(served, http):
    lead, mail = emailed(served)
    url = mail.link("accept")

    page = http.get(url)
    assert page.status_code == 200 and "Accept this lead" in page.text and "Ada Lovelace" in page.text
    assert served.assignment(lead)["status"] == "routed"  # opening the link alone accepts nothing

    done = http.post(f"{served.base_url}/lead/accept", data={"t": token_of(url)})
    assert done.status_code == 200 and "You accepted this lead" in done.text
    assert served.assignment(lead)["status"] == "accepted"
    status_link = re.search(r'id="status-link" href="([^"]+)"', done.text).group(1).replace("&amp;", "&")
    assert "Not Contacted" in http.get(status_link).text

    again = http.post(f"{served.base_url}/lead/accept", data={"t": token_of(url)})
    assert again.status_code == 410 and "already been used" in again.text
    assert served.events(lead)["kind"].tolist() == ["accepted"]
    assert served.outbox(lead)["data"].map(lambda d: d["distribution_status"]).tolist() == ["Routed", "Accepted"]
    reject = http.get(mail.link("reject"))  # the other link of the same email
    assert reject.status_code == 409 and "already accepted" in reject.text


def test_one_click_accept_accepts_on_opening_the_link(make_served, http):
    w = make_served(web={"one_click_accept": True})
    lead, mail = emailed(w)
    page = http.get(mail.link("accept"))
    assert page.status_code == 200 and "You accepted this lead" in page.text
    assert w.assignment(lead)["status"] == "accepted"
    assert http.get(mail.link("accept")).status_code == 410


def test_reject_needs_a_reason_and_records_it_once_then_reroutes(served, http):
    lead, mail = emailed(served, country="FR")  # FR: north and blue both match
    first = served.assignment(lead)["partner_id"]
    url = mail.link("reject")
    form = http.get(url)
    assert form.status_code == 200 and "Not in our territory" in form.text

    missing = http.post(f"{served.base_url}/lead/reject", data={"t": token_of(url), "comment": "no"})
    assert missing.status_code == 400 and "Choose a reason" in missing.text
    other = http.post(f"{served.base_url}/lead/reject", data={"t": token_of(url), "reason": "other"})
    assert other.status_code == 400 and "needs a comment" in other.text
    assert served.assignment(lead)["status"] == "routed" and served.events(lead).empty

    done = http.post(f"{served.base_url}/lead/reject",
                     data={"t": token_of(url), "reason": "not_our_territory", "comment": "we cover Paris only"})
    assert done.status_code == 200 and "You rejected this lead" in done.text
    twice = http.post(f"{served.base_url}/lead/reject", data={"t": token_of(url), "reason": "duplicate"})
    assert twice.status_code == 410

    events = served.events(lead)
    assert events["kind"].tolist() == ["rejection"]
    rejection = served.outbox(lead).query("kind == 'rejection'")["data"].iloc[0]
    assert rejection["rejection_reason"] == "Not in our territory"
    assert rejection["rejection_comment"] == "we cover Paris only"
    now = served.assignment(lead)
    assert now["status"] == "routed" and now["partner_id"] not in (first, None)  # rerouted, never back
    history = served.frame(tables.assignment_history, tables.assignment_history.c.lead_id == lead)
    assert history.sort_values("version")["action"].tolist() == ["routed", "rejected", "rerouted"]


def test_tampered_expired_and_foreign_tokens_are_refused_with_a_clear_page(served, http):
    lead, mail = emailed(served)
    url = mail.link("accept")
    token = token_of(url)
    head, body, sig = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    tampered = http.post(f"{served.base_url}/lead/accept", data={"t": f"{head}.{flipped}.{sig}"})
    assert tampered.status_code == 403 and "This link is not valid" in tampered.text

    forged = issue(b"not-the-secret-at-all-0000", "accept", "north", lead, T0, timedelta(days=1))
    assert http.get(f"{served.base_url}/lead/accept", params={"t": forged}).status_code == 403

    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    old = token_for(served.ctx, "accept", "north", lead, now - timedelta(days=30), 1)
    expired = http.post(f"{served.base_url}/lead/accept", data={"t": old})
    assert expired.status_code == 410 and "expired" in expired.text

    wrong_action = http.post(f"{served.base_url}/lead/accept", data={"t": token_of(mail.link("reject"))})
    assert wrong_action.status_code == 403

    other_partner = token_for(served.ctx, "accept", "blue", lead, now, 1)
    foreign = http.post(f"{served.base_url}/lead/accept", data={"t": other_partner})
    assert foreign.status_code == 409 and "no longer assigned to Blue Peak Security" in foreign.text

    assert http.get(f"{served.base_url}/lead/accept").status_code == 403
    assert served.assignment(lead)["status"] == "routed" and served.events(lead).empty


def test_status_page_updates_status_rep_and_opportunity_and_notifies_the_rep(served, http):
    lead, mail = emailed(served)
    http.post(f"{served.base_url}/lead/accept", data={"t": token_of(mail.link("accept"))})
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    url = link(served.ctx, "status", "north", lead, now)
    t = token_of(url)
    post = f"{served.base_url}/lead/status"

    backwards = http.post(post, data={"t": t, "sales_status": "Contacted"})
    assert "Saved: sales status set to Contacted" in backwards.text
    refused = http.post(post, data={"t": t, "sales_status": "Not Contacted"})
    assert refused.status_code == 409 and "cannot go from Contacted to Not Contacted" in refused.text

    rep = http.post(post, data={"t": t, "rep_name": "Rita Rep", "rep_email": "Rita@Northwind.example"})
    assert rep.status_code == 200 and "rep set to Rita Rep" in rep.text
    served.wait_for_mail(2)
    (to_rep,) = served.inbox.to("rita@northwind.example")
    assert "assigned you this lead" in to_rep.text and "/lead/status?t=" in to_rep.text

    converted = http.post(post, data={"t": t, "sales_status": "Converted Opportunity", "opportunity_name": "X1 rollout",
                                      "opportunity_amount": "12500", "opportunity_close_date": "2026-12-31"})
    assert "opportunity created" in converted.text and "(closed)" in converted.text
    stage = http.post(post, data={"t": t, "opportunity_stage": "Proposal", "opportunity_name": "X1 rollout",
                                  "opportunity_amount": "12500", "opportunity_close_date": "2026-12-31"})
    assert "opportunity updated: stage" in stage.text
    bad = http.post(post, data={"t": t, "opportunity_stage": "Won big"})
    assert bad.status_code == 400 and "not an opportunity stage" in bad.text
    opp = served.frame(lt.opportunities).iloc[0]
    assert (opp["name"], opp["stage"], opp["amount"], opp["version"]) == ("X1 rollout", "Proposal", 12500.0, 2)
    assert served.assignment(lead)["status"] == "closed"


def test_csv_upload_reports_each_bad_row_by_line_and_column(served, http):
    leads = served.add_leads([{"country": "US"}, {"country": "US"}, {"country": "GB"}])
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    deliver(served.ctx, now)
    for lead in leads[:2]:
        token = token_of(link(served.ctx, "accept", "north", lead, now, 1))
        http.post(f"{served.base_url}/lead/accept", data={"t": token})
    csv = (f"Lead ID,Sales Status,Rep Name,Rep Email\n"
           f"{leads[0]},Contacted,,\n"
           f"{leads[1]},Won,,\n"
           f"{leads[2]},Contacted,,\n"
           f"{leads[1]},Nurture,Rob,not-an-email\n")
    url = link(served.ctx, "import", "north", None, now)
    page = http.get(url)
    assert page.status_code == 200 and "lead_id, sales_status" in page.text
    result = http.post(f"{served.base_url}/import", data={"t": token_of(url)},
                       files={"file": ("updates.csv", csv.encode(), "text/csv")})
    assert result.status_code == 200
    assert "4 row(s) read: 1 changed, 0 already up to date, 3 with errors" in result.text
    assert "line 3, column sales_status: &#39;Won&#39; is not a sales status; allowed: Not Contacted" in result.text
    assert f"line 4, column lead_id: lead &#39;{leads[2]}&#39; is not assigned to Northwind Networks" in result.text
    assert "line 5, column rep_email: &#39;not-an-email&#39; is not an email address" in result.text
    progress = served.frame(lt.lead_progress).set_index("lead_id")["sales_status"]
    assert progress.to_dict() == {leads[0]: "Contacted", leads[1]: "Not Contacted"}  # line 5 applied nothing

    header = http.post(f"{served.base_url}/import", data={"t": token_of(url)},
                       files={"file": ("u.csv", b"lead,status\nx,y\n", "text/csv")})
    assert header.status_code == 400 and "line 1, column lead: unknown column" in header.text


def test_json_api_takes_updates_with_a_partner_api_key(served, http):
    (lead,) = served.add_leads([{"country": "CA"}])  # auto-accept partner: updates through its CRM
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    deliver(served.ctx, now)
    api = f"{served.base_url}/api/v1/updates"
    assert http.post(api, json={"updates": []}).status_code == 401
    bad_key = http.post(api, json={"updates": []}, headers={"Authorization": "Bearer nope"})
    assert bad_key.status_code == 401 and "API key is not valid" in bad_key.json()["error"]
    key = issue_api_key(served.ctx, "maple", now)
    auth = {"Authorization": f"Bearer {key}"}
    answer = http.post(api, headers=auth, json={"updates": [
        {"lead_id": lead, "sales_status": "contacted", "marketing_event_type": "Webinar",
         "marketing_event_name": "X1 launch", "marketing_event_date": "2026-11-20"},
        {"lead_id": lead, "sales_status": "Not Contacted"}]})
    body = answer.json()
    assert answer.status_code == 200 and body["changed"] == 1
    assert body["errors"][0]["line"] == 2 and body["errors"][0]["column"] == "sales_status"
    as_csv = http.post(api, headers={**auth, "Content-Type": "text/csv"},
                       content=f"lead_id,sales_status\n{lead},Contacted\n".encode())
    assert as_csv.json()["unchanged"] == 1
    kinds = served.outbox(lead)["kind"].tolist()
    assert kinds.count("sales_status") == 1 and kinds.count("marketing_event") == 1


def test_partners_register_the_leads_they_create_through_the_api(make_served, http):
    w = make_served(auto_registration={"target_source": "sftp_demo", "ignored_companies": ["Supplier Inc"],
                                       "modes": {"north": "supplier_managed"},
                                       "supplier_rules": [{"name": "territory", "rules": [
                                           {"field": "country", "op": "in", "partner_attribute": "countries"}]}]})
    key = issue_api_key(w.ctx, "north", pd.Timestamp.now(tz="UTC").to_pydatetime())
    answer = http.post(f"{w.base_url}/api/v1/leads", headers={"Authorization": f"Bearer {key}"}, json={"leads": [
        {"reference": "N-1", "email": "cio@acme.example", "company": "Acme", "country": "US"},
        {"reference": "N-2", "email": "x@jp.example", "company": "Nippon", "country": "JP"},
        {"reference": "N-3", "email": "me@supplier.example", "company": "Supplier Inc", "country": "US"}]})
    assert answer.status_code == 200
    assert [d["decision"] for d in answer.json()["decisions"]] == ["registered", "not_matched", "ignored"]
    assert w.outbox()["lead_id"].tolist() == ["north:N-1"]
    missing = http.post(f"{w.base_url}/api/v1/leads", headers={"Authorization": f"Bearer {key}"},
                        json={"leads": [{"email": "a@b.example"}]})
    assert missing.status_code == 400 and "reference" in missing.json()["error"]
