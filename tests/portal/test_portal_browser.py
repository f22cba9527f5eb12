"""A partner admin in a real browser (headless Debian Chromium through chromedriver, as
tests/lifecycle/test_browser.py): signs in from the link in the email the SMTP server received, filters the
lead list, bulk-accepts three leads, bulk-rejects two with a reason, changes who is told about new leads
and sees it on the next routed lead, switches auto-registration to its own rule group and sees the next lead
it creates registered by it, and sees the ranking. On DuckDB and on PostgreSQL. Skipped, saying what is missing, without
chromium, chromium-driver or selenium."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest
from wider_scope import wrapped

from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.registration import register_partner_leads
from leadsync.lifecycle.updates import apply_update

_spec = importlib.util.spec_from_file_location("lifecycle_browser", Path(__file__).parents[1] / "lifecycle/test_browser.py")
_browser_module = importlib.util.module_from_spec(_spec)
sys.modules["lifecycle_browser"] = _browser_module
_spec.loader.exec_module(_browser_module)
submit = _browser_module.submit


@pytest.fixture(scope="module")
def browser():
    """The same headless Chromium fixture, one browser for both stores (starting one takes seconds)."""
    with wrapped(_browser_module.browser.__wrapped__()) as driver:
        yield driver


def now():
    return pd.Timestamp.now(tz="UTC").to_pydatetime()


def test_a_partner_admin_works_leads_changes_a_setting_and_sees_the_ranking(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 15)
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})  # no cookie of the other store's run
    leads = served.add_leads([
        {"first_name": f"Lead{i}", "last_name": "Person", "company": f"Company {i}", "country": "US",
         "campaign": "Spring Webinar" if i < 5 else "Trade Show"} for i in range(6)])

    browser.get(f"{served.base_url}/portal/")
    wait.until(ec.title_is("Sign in to the partner portal"))
    browser.find_element(By.ID, "email").send_keys("leads@northwind.example")
    submit(browser, browser.find_element(By.ID, "send-link"))
    wait.until(ec.presence_of_element_located((By.ID, "sent")))
    served.wait_for_mail(1)
    (mail,) = served.inbox.to("leads@northwind.example")
    browser.get(next(word for word in mail.text.split() if "/portal/sign-in/link" in word))
    submit(browser, browser.find_element(By.ID, "sign-in"))
    wait.until(ec.title_is("Your leads"))

    Select(browser.find_element(By.ID, "f-campaign")).select_by_visible_text("Spring Webinar")
    submit(browser, browser.find_element(By.ID, "apply-filter"))
    wait.until(ec.url_contains("campaign=Spring"))
    boxes = browser.find_elements(By.NAME, "lead_id")
    assert sorted(b.get_attribute("value") for b in boxes) == sorted(leads[:5])

    for box in boxes[:3]:
        box.click()
    submit(browser, browser.find_element(By.ID, "bulk-accept"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "3 of 3 lead(s) done."))
    accepted = [served.assignment(i)["status"] for i in leads[:5]].count("accepted")
    assert accepted == 3

    Select(browser.find_element(By.ID, "f-status")).select_by_value("routed")
    submit(browser, browser.find_element(By.ID, "apply-filter"))
    wait.until(ec.url_contains("status=routed"))
    routed = browser.find_elements(By.NAME, "lead_id")
    assert len(routed) == 2  # the two Spring Webinar leads not accepted
    for box in routed:
        box.click()
    submit(browser, browser.find_element(By.ID, "bulk-reject"))  # no reason chosen: refused, nothing changes
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Choose a reason"))
    for box in browser.find_elements(By.NAME, "lead_id"):
        box.click()
    Select(browser.find_element(By.ID, "reason")).select_by_value("not_our_territory")
    browser.find_element(By.ID, "comment").send_keys("West Coast only")
    submit(browser, browser.find_element(By.ID, "bulk-reject"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "2 of 2 lead(s) done."))
    rejections = served.outbox().query("kind == 'rejection'")
    assert len(rejections) == 2 and set(rejections["data"].map(lambda d: d["rejection_reason"])) == {
        "Not in our territory"}

    # who is told about new leads: Ops instead of the Lead Desk, and the rep Nora no longer
    browser.find_element(By.LINK_TEXT, "Settings").click()
    wait.until(ec.title_is("Lead settings"))
    browser.find_element(By.CSS_SELECTOR, "input[name=notification_users][value='leads@northwind.example']").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=notification_users][value='ops@northwind.example']").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=notified_reps][value='nora@northwind.example']").click()
    submit(browser, browser.find_element(By.ID, "save-settings"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Saved: notification_users, notified_reps."))
    assert "by leads@northwind.example" in browser.find_element(By.ID, "origin-notification_users").text

    (new_lead,) = served.add_leads([{"first_name": "Next", "last_name": "Lead", "company": "Routed After",
                                     "country": "US"}])
    deliver(served.ctx, now())
    notices = [m for m in served.inbox.messages if "Routed After" in m.message["Subject"]]
    assert [m.rcpt_tos for m in notices] == [["ops@northwind.example"]]

    # auto-registration by the partner's own rule group: the next lead the partner creates is registered by it
    browser.find_element(By.LINK_TEXT, "Settings").click()
    wait.until(ec.title_is("Lead settings"))
    browser.find_element(By.ID, "mode-own_rules").click()
    browser.find_element(By.ID, "rg-0-name").send_keys("enterprise")
    browser.find_element(By.ID, "rg-0-0-field").send_keys("lead_type")
    browser.find_element(By.ID, "rg-0-0-value").send_keys("Enterprise")
    submit(browser, browser.find_element(By.ID, "save-settings"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "Saved: auto_registration, registration_rules."))
    created = register_partner_leads(served.ctx, "north", [{"reference": "B-1", "lead_type": "Enterprise"},
                                                           {"reference": "B-2", "lead_type": "SMB"}], now())
    assert [(d["decision"], d["matched_by"]) for d in created.decisions] == [
        ("registered", "partner:enterprise"), ("not_matched", None)]

    # points for keeping an accepted lead up to date, then the ranking page
    apply_update(served.ctx, "north", {"lead_id": leads[0], "rep_name": "Nora West",
                                       "rep_email": "nora@northwind.example"}, now(), "test")
    apply_update(served.ctx, "north", {"lead_id": leads[0], "sales_status": "Contacted"}, now(), "test")
    browser.find_element(By.LINK_TEXT, "Ranking").click()
    wait.until(ec.title_is("Ranking and rewards"))
    assert "Northwind Networks has 10 points: rank 1 of 1 partners." in browser.find_element(
        By.ID, "partner-points").text
    assert "Nora West" in browser.find_element(By.ID, "stack").text
    browser.find_element(By.LINK_TEXT, "Leads").click()
    wait.until(ec.title_is("Your leads"))
    browser.save_screenshot("/tmp/portal-leads.png")
    assert browser.find_elements(By.CSS_SELECTOR, f"input[name=lead_id][value='{new_lead}']")
