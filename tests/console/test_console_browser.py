"""A supplier user in a real browser (headless Debian Chromium through chromedriver, the fixture of
tests/lifecycle/test_browser.py): signs in from the link in the email the SMTP sandbox received, enters a
lead by hand and finds it routed, bulk-assigns three unassigned leads, and opens the Opportunity Summary for
a date range and sees its chart drawn. Screenshots are kept under the test's tmp dir (and
$LEADSYNC_ARTEFACTS when set). Skipped, saying what is missing, without chromium, chromium-driver or selenium."""

import importlib.util
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from console_data import ROUTED, SUPPLIER, UNASSIGNED

from leadsync.lifecycle import tables as lt

_spec = importlib.util.spec_from_file_location("lifecycle_browser", Path(__file__).parents[1] / "lifecycle/test_browser.py")
_browser_module = importlib.util.module_from_spec(_spec)
sys.modules["lifecycle_browser"] = _browser_module
_spec.loader.exec_module(_browser_module)
browser = _browser_module.browser  # the same headless Chromium fixture
submit = _browser_module.submit


def keep(browser, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / "artefacts" / name
    shot.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(shot))
    if os.environ.get("LEADSYNC_ARTEFACTS"):
        Path(os.environ["LEADSYNC_ARTEFACTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["LEADSYNC_ARTEFACTS"]) / name)
    return shot


def test_a_supplier_user_enters_a_lead_works_the_queue_and_reads_a_chart(browser, make_console, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    world = make_console()
    waiting = [world.add({**UNASSIGNED, "email": f"tex{i}@austin.example"}) for i in range(3)]
    with world.store.begin() as conn:  # two opportunities: one inside the range, one after it
        for oid, lead, amount, at in (("o-in", waiting[0], 4000.0, datetime(2026, 11, 10, tzinfo=UTC)),
                                      ("o-out", waiting[1], 9000.0, datetime(2026, 11, 20, tzinfo=UTC))):
            conn.execute(sa.insert(lt.opportunities).values(
                opportunity_id=oid, lead_id=lead, source="sftp_demo", partner_id="northwind", name=oid,
                stage="Proposal", amount=amount, currency="USD", close_date=None, created_at=at, updated_at=at,
                version=1))
    wait = WebDriverWait(browser, 20)

    browser.get(f"{world.base_url}/console/")
    wait.until(ec.presence_of_element_located((By.ID, "send-link")))
    browser.find_element(By.ID, "email").send_keys(SUPPLIER)
    submit(browser, browser.find_element(By.ID, "send-link"))
    wait.until(ec.presence_of_element_located((By.ID, "sent")))
    browser.get(world.base_url + world.sign_in_link(SUPPLIER))
    submit(browser, browser.find_element(By.ID, "sign-in"))
    wait.until(ec.title_contains("Unassigned and review queues"))

    # a lead entered by hand: mapped, routed, written back
    browser.find_element(By.LINK_TEXT, "Enter a lead").click()
    wait.until(ec.title_contains("Enter a lead"))
    for field, value in ROUTED.items():
        element = browser.find_element(By.ID, f"f_{field}")
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
        else:
            element.send_keys(value)
    submit(browser, browser.find_element(By.ID, "enter-lead"))
    wait.until(ec.presence_of_element_located((By.ID, "entered")))
    assert browser.find_element(By.ID, "entered-status").text == "routed"
    assert browser.find_element(By.ID, "entered-partner").text in ("northwind", "cascade")
    keep(browser, tmp_path, "console-lead-entered.png")

    # three unassigned leads assigned at once, with a note
    browser.find_element(By.LINK_TEXT, "Queues").click()
    wait.until(ec.title_contains("Unassigned and review queues"))
    boxes = browser.find_elements(By.CSS_SELECTOR, "#queue-unassigned input[name=lead]")
    assert sorted(b.get_attribute("value") for b in boxes) == sorted(waiting)
    for box in boxes:
        box.click()
    Select(browser.find_element(By.ID, "partner-unassigned")).select_by_value("bluepeak")
    browser.find_element(By.ID, "note-unassigned").send_keys("Texas goes to Blue Peak this quarter")
    submit(browser, browser.find_element(By.ID, "apply-unassigned"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "notice"), "3 lead(s) changed"))
    assert [world.assignment(lead)["partner_id"] for lead in waiting] == ["bluepeak"] * 3

    # the Opportunity Summary for the first half of November: the chart is drawn
    browser.find_element(By.LINK_TEXT, "Reports").click()
    browser.find_element(By.LINK_TEXT, "Opportunity Summary").click()
    wait.until(ec.presence_of_element_located((By.ID, "report-options")))
    for field, value in (("from", "2026-11-01"), ("to", "2026-11-14")):  # a date input's value is ISO whatever
        browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.ID, field), value)
    submit(browser, browser.find_element(By.ID, "show-report"))
    wait.until(ec.url_contains("to=2026-11-14"))
    chart = wait.until(ec.presence_of_element_located((By.ID, "chart")))
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", chart) > 0)
    assert browser.execute_script("return arguments[0].naturalHeight", chart) > 100
    table = browser.find_element(By.ID, "report-table").text
    assert "4000.0" in table and "9000" not in table  # only the opportunity created in the range
    shot = keep(browser, tmp_path, "console-opportunity-summary.png")
    assert shot.stat().st_size > 10_000
