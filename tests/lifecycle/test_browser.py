"""A partner in a real browser (headless Debian Chromium, driven by Selenium through Debian's chromedriver):
opens the reject link from the email the SMTP server received, is told a reason is needed, rejects with a
reason and sees the confirmation page.

Needs: apt packages `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver) and the pip
package `selenium`. Skipped, saying which is missing, otherwise."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from leadsync.lifecycle.delivery import deliver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"browser test needs Debian's chromium and chromium-driver (apt-get install chromium "
                    f"chromium-driver); missing: {', '.join(missing)}")
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser test needs the pip package selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server",
                "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def submit(browser, control, timeout: float = 15) -> None:
    """Click a control that posts its form and wait until the page it was on is gone. Until then a wait for
    the next page's element can find the old page's element of the same id and read it while Chromium
    replaces the document, which chromedriver answers with an error of its own ("Node with given id does not
    belong to the document") rather than a stale element: it failed a CI run once after a bulk reject. Those
    errors are what the old page going looks like, so they are the ones the wait for it passes over."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    control.click()
    WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(page))


def test_partner_rejects_a_lead_with_a_reason_in_a_real_browser(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    (lead,) = served.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines",
                                 "country": "US"}])
    deliver(served.ctx, pd.Timestamp.now(tz="UTC").to_pydatetime())
    (mail,) = served.inbox.messages
    assert shutil.which(str(CHROMIUM))

    browser.get(mail.link("reject"))
    assert browser.title == "Reject this lead"
    assert "Ada Lovelace, Engines" in browser.find_element(By.TAG_NAME, "h2").text

    submit(browser, browser.find_element(By.ID, "reject"))  # no reason chosen
    WebDriverWait(browser, 15).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "error"), "Choose a reason"))
    assert served.assignment(lead)["status"] == "routed"

    browser.find_element(By.CSS_SELECTOR, "input[name=reason][value=not_our_territory]").click()
    browser.find_element(By.ID, "comment").send_keys("We only cover the West Coast")
    submit(browser, browser.find_element(By.ID, "reject"))

    # the form posts and a new page loads: wait for it rather than read the old page's title
    WebDriverWait(browser, 15).until(expected_conditions.title_is("Lead rejected"))
    assert "You rejected this lead for Northwind Networks (reason: Not in our territory)" in \
        browser.find_element(By.ID, "message").text
    rejection = served.outbox(lead).query("kind == 'rejection'")["data"].iloc[0]
    assert (rejection["rejection_reason"], rejection["rejection_comment"]) == (
        "Not in our territory", "We only cover the West Coast")
