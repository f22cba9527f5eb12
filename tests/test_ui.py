"""The UI as an operator sees it: `dagster dev` on loopback against this code location, a run launched over
GraphQL, then headless Chromium showing the asset graph (pull, route, writeback) and the run's success.
A screenshot of each page is kept under test-artifacts/."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from connectors.sftp.sandbox import SftpSandbox
from connectors.sftp.seed import write_demo_leads

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": "pw"}) as server:
        yield server


@pytest.fixture
def dagster_dev(project, sftp, tmp_path, mail_sandbox):
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sftp.port, known_hosts=str(sftp.write_known_hosts(project / "known_hosts")))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    write_demo_leads(sftp.root / "inbox" / "leads.csv", 300, seed=3, partner_names=["Blue Peak Security"])
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home/dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "LEADSYNC_MAPPINGS_DIR": str(project / "mappings"),
           "LEADSYNC_STORE_URL": f"duckdb:///{tmp_path / 'store.duckdb'}", "LEADSYNC_SFTP_DEMO_PASSWORD": "pw"}
    log = open(tmp_path / "dagster_dev.log", "w")  # noqa: SIM115 - held open for the server's lifetime, closed below
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
                             "-m", "leadsync.definitions"], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"dagster dev did not start: {(tmp_path / 'dagster_dev.log').read_text()[-2000:]}")
        yield url, port, tmp_path / "dagster_dev.log"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def test_an_operator_launches_a_run_and_sees_the_graph_and_its_success(dagster_dev):
    from dagster_graphql import DagsterGraphQLClient

    url, port, log = dagster_dev
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution("sftp_demo_sync")
    deadline = time.monotonic() + 240
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", log.read_text()[-3000:]

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("the browser part needs Debian's chromium and chromium-driver (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # the global lineage shows each source as a group; double-clicking it opens the group's assets
        browser.get(f"{url}/asset-groups")
        group = WebDriverWait(browser, 60).until(
            lambda b: b.find_elements(By.XPATH, "//*[text()='sftp_demo']") or False)
        ActionChains(browser).double_click(group[-1]).perform()
        try:
            WebDriverWait(browser, 60).until(lambda b: all(
                name in b.page_source for name in ("raw_rows", "assignments", "writeback")))
        finally:
            browser.save_screenshot(str(ARTIFACTS / "ui_asset_graph.png"))
        browser.get(f"{url}/runs/{run_id}")
        try:
            WebDriverWait(browser, 60).until(lambda b: "Success" in b.page_source)
        finally:
            browser.save_screenshot(str(ARTIFACTS / "ui_run_success.png"))
    finally:
        browser.quit()
    assert (ARTIFACTS / "ui_run_success.png").stat().st_size > 10_000
