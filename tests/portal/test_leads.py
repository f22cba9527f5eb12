"""The partner's lead list: filters and search over what the partner may see, and bulk actions recorded
once and written back exactly as the emailed links' actions are."""

import re

from tests.portal.pages import without_csrf


def five_leads(served):
    return served.add_leads([
        {"first_name": f"Lead{i}", "last_name": "Person", "company": f"Company {i}", "country": "US",
         "campaign": "Spring Webinar" if i < 3 else "Trade Show", "lead_score": 90 + i, "internal_note": "VIP"}
        for i in range(5)])


def listed(page: str) -> list[str]:
    return re.findall(r'name="lead_id" value="([^"]+)"', page)


def test_filters_and_search_narrow_the_list(served, browser_session):
    leads = five_leads(served)
    north = browser_session().sign_in("leads@northwind.example")
    assert sorted(listed(north.http.get("/portal/leads").text)) == sorted(leads)
    assert sorted(listed(north.http.get("/portal/leads?campaign=Spring Webinar").text)) == sorted(leads[:3])
    assert listed(north.http.get("/portal/leads?q=company 4").text) == [leads[4]]
    assert listed(north.http.get("/portal/leads?status=accepted").text) == []
    assert listed(north.http.get("/portal/leads?q=VIP").text) == []  # internal_note is shared: false


def test_bulk_accept_and_reject_are_recorded_once_and_written_back_like_the_email_links(served, browser_session):
    leads = five_leads(served)
    north = browser_session().sign_in("leads@northwind.example")

    no_reason = north.post("/portal/leads/bulk", [("action", "reject"), *[("lead_id", i) for i in leads[3:]]])
    assert no_reason.status_code == 303
    assert "Choose a reason" in north.http.get("/portal/leads").text
    assert {served.assignment(i)["status"] for i in leads} == {"routed"}

    done = north.post("/portal/leads/bulk", [("action", "accept"), *[("lead_id", i) for i in leads[:3]]])
    assert done.status_code == 303
    assert "3 of 3 lead(s) done." in north.http.get(done.headers["location"]).text
    north.post("/portal/leads/bulk", [("action", "reject"), ("reason", "not_our_territory"),
                                      ("comment", "West Coast only"), *[("lead_id", i) for i in leads[3:]]])
    again = north.post("/portal/leads/bulk", [("action", "accept"), *[("lead_id", i) for i in leads[:3]]])
    assert "0 of 3 lead(s) done." in north.http.get(again.headers["location"]).text

    assert [served.assignment(i)["status"] for i in leads[:3]] == ["accepted"] * 3
    for lead in leads[:3]:
        assert served.events(lead)["kind"].tolist() == ["accepted"]
        assert served.events(lead)["actor"].tolist() == ["portal:leads@northwind.example"]
        assert served.outbox(lead)["data"].map(lambda d: d["distribution_status"]).tolist() == ["Routed", "Accepted"]
    for lead in leads[3:]:
        rejection = served.outbox(lead).query("kind == 'rejection'")["data"].iloc[0]
        assert (rejection["rejection_reason"], rejection["rejection_comment"]) == (
            "Not in our territory", "West Coast only")
        assert served.assignment(lead)["partner_id"] != "north"  # rerouted, never back to Northwind


def test_bulk_sales_status_and_rep_assignment(served, browser_session):
    leads = five_leads(served)[:2]
    north = browser_session().sign_in("ops@northwind.example")
    north.post("/portal/leads/bulk", [("action", "accept"), *[("lead_id", i) for i in leads]])
    north.post("/portal/leads/bulk", [("action", "status"), ("sales_status", "Contacted"),
                                      *[("lead_id", i) for i in leads]])
    north.post("/portal/leads/bulk", [("action", "rep"), ("rep", "nora@northwind.example"),
                                      *[("lead_id", i) for i in leads]])
    for lead in leads:
        data = served.outbox(lead)["data"].tolist()
        assert any(d.get("sales_status") == "Contacted" for d in data)
        assert any(d.get("rep_email") == "nora@northwind.example" for d in data)
    served.wait_for_mail(3)
    assert len([m for m in served.inbox.to("nora@northwind.example") if "assigned you" in m.text]) == 2
    assert listed(north.http.get("/portal/leads?rep=nora@northwind.example").text).__len__() == 2


def test_lead_detail_shows_shared_fields_campaign_and_the_partners_history_only(served, browser_session):
    (lead,) = served.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines",
                                 "country": "US", "campaign": "Spring Webinar", "lead_score": 97,
                                 "internal_note": "do not share", "industry": "Computing"}])
    north = browser_session().sign_in("leads@northwind.example")
    north.post("/portal/leads/bulk", [("action", "accept"), ("lead_id", lead)])
    page = without_csrf(north.http.get(f"/portal/leads/{lead}").text)
    assert "Computing" in page and "Spring Webinar" in page and "Accepted" in page
    assert "97" not in page and "do not share" not in page and "Lead Score" not in page


def test_lead_detail_shows_the_campaigns_shared_fields_by_label_in_the_partners_language(served, browser_session):
    """`pull.campaigns.fields`: the lead's campaign (held by name) shows its shared fields under their YAML
    labels (data, never translated); the heading around them follows the portal's language; an internal
    field (`shared: false`) shows neither its label nor its value."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from leadsync.pull.campaign_fields import campaign_field_values
    from leadsync.store import tables

    (lead,) = served.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines",
                                 "country": "US", "campaign": "Spring Webinar"}])
    now = datetime(2026, 11, 1, tzinfo=UTC)
    row = {"source": "sftp_demo", "campaign_id": "701A", "updated_at": now}
    with served.store.begin() as conn:
        conn.execute(sa.insert(tables.campaigns).values(**row, name="Spring Webinar"))
        conn.execute(sa.insert(campaign_field_values), [
            {**row, "field": "Type", "position": 0, "label": "Campaign type", "value": "Webinar", "shared": True},
            {**row, "field": "BudgetedCost", "position": 1, "label": "Budget", "value": "98765", "shared": False}])
    north = browser_session().sign_in("leads@northwind.example")
    page = without_csrf(north.http.get(f"/portal/leads/{lead}").text)
    shown = re.search(r'<table id="campaign-fields">(.*?)</table>', page, re.DOTALL)
    assert shown, page
    assert "About this campaign" in shown.group(1)
    assert re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', shown.group(1)) == [("Campaign type", "Webinar")]
    assert "Budget" not in page and "98765" not in page

    north.post("/portal/language", {"language": "de", "next": "/portal/leads"})
    german = north.http.get(f"/portal/leads/{lead}").text
    assert "Über diese Kampagne" in german and "<th scope=\"row\">Campaign type</th><td>Webinar</td>" in german
