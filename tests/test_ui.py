"""The UI as an operator opens it: `leadsync dev` (what `make ui` runs) on a copy of the shipped project with
free ports, which starts the bundled sandboxes, the partner web app and `dagster dev`. The default-on
schedules and sensors then tick against real servers: a run launched over GraphQL succeeds, headless Chromium
shows each source's asset graph, one schedule tick later there is no failed run, and SIGTERM to the
`leadsync dev` PID stops every process it started. Screenshots are kept under test-artifacts/."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.seed import write_demo_leads

from leadsync.dev import session_members

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# The SFTP source's own `schedule` key: a tick every minute instead of every 30. Only that source ticks so
# often: four sources' runs each minute would queue behind the store's one writer on two cores.
TICK = "* * * * *"


class Dev:
    """`leadsync dev` running in a subprocess; its output lines as they come."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSYNC_", "DAGSTER_"))}
        env["DAGSTER_HOME"] = str(root / "dagster_home")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "leadsync"), "--mappings", str(root / "mappings"), "dev",
             "--port", str(self.port)], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        logs = self.root / "dagster_home/dev_logs/dagster_dev.log"
        tail = logs.read_text()[-3000:] if logs.exists() else ""
        pytest.fail(f"leadsync dev never said {text!r}:\n{self.output}\n{tail}")

    def children(self) -> list[int]:
        """The sessions of the processes it started (each child starts a session of its own)."""
        return session_members_of_parent(self.proc.pid)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        return answer.json()["data"]

    def stop_schedules(self) -> list[str]:
        """Stop every running schedule (as an operator would in the UI); returns their names. Every source
        ticks each minute here: on two busy cores the runs queue up faster than they finish."""
        data = self.graphql('{ schedulesOrError(repositorySelector: {repositoryName: "__repository__", '
                            'repositoryLocationName: "leadsync"}) { ... on Schedules { results { name '
                            'scheduleState { id status } } } } }')
        stopped = []
        for schedule in data["schedulesOrError"]["results"]:
            if schedule["scheduleState"]["status"] == "RUNNING":
                answer = self.graphql("mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                                      {"id": schedule["scheduleState"]["id"]})
                assert answer["stopRunningSchedule"]["__typename"] == "ScheduleStateResult", answer
                stopped.append(schedule["name"])
        return stopped

    def runs(self) -> list[dict]:
        data = self.graphql("{ runsOrError(limit: 50) { ... on Runs { results { runId jobName status "
                            "tags { key value } } } } }")
        return data["runsOrError"]["results"]


def session_members_of_parent(ppid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == ppid:
            found.append(int(stat.parent.name))
    return found


def project_copy(root: Path) -> Path:
    """The repository's mappings, .env and dagster.yaml; every port a free one; the SFTP source ticking every
    minute (the others keep their shipped schedules, and run against their sandboxes when they tick)."""
    shutil.copytree(REPO / "mappings", root / "mappings")
    shutil.copy(REPO / ".env", root / ".env")
    (root / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster_home/dagster.yaml", root / "dagster_home/dagster.yaml")
    for source in sorted((root / "mappings/sources").glob("*.yaml")):  # all four sources, on sandboxes of their own
        data = yaml.safe_load(source.read_text())
        connection = data["connection"]
        if data["type"] == "sftp":
            connection["port"] = free_port()
        else:
            key = "base_url" if data["type"] == "marketo" else "login_url"
            connection[key] = f"http://127.0.0.1:{free_port()}"
        if data["type"] == "sftp":
            data["schedule"] = TICK
        source.write_text(yaml.safe_dump(data, sort_keys=False))
    partners = root / "mappings/partners.yaml"
    data = yaml.safe_load(partners.read_text())
    for partner in data["partners"]:  # a partner's own CRM org (the demo's Maple) on a free port too
        if partner.get("crm"):
            partner["crm"]["connection"]["login_url"] = f"http://127.0.0.1:{free_port()}"
    partners.write_text(yaml.safe_dump(data, sort_keys=False))
    lifecycle = root / "mappings/lifecycle.yaml"
    data = yaml.safe_load(lifecycle.read_text())
    data["smtp"]["port"] = free_port()
    web = free_port()
    data["web"].update(port=web, base_url=f"http://127.0.0.1:{web}")
    lifecycle.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    root = project_copy(tmp_path_factory.mktemp("ui") / "project")
    server = Dev(root)
    try:
        server.wait_for("Dagster UI on", timeout=300)
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(timeout=120)


def new_browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("the browser part needs Debian's chromium and chromium-driver (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)
    ARTIFACTS.mkdir(exist_ok=True)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def chrome():
    """One headless Chromium for the module's pages (a new one each test took seconds to start)."""
    browser = new_browser()
    yield browser
    browser.quit()


def test_leadsync_dev_starts_the_sandboxes_the_web_app_and_dagster(dev):
    started = dev.output
    for line in ("SFTP sandbox for sftp_demo on 127.0.0.1:", "Salesforce sandbox for salesforce_demo on 127.0.0.1:",
                 "Marketo sandbox for marketo_demo on 127.0.0.1:", "Eloqua sandbox for eloqua_demo on 127.0.0.1:",
                 "Salesforce org (partner CRM) for maple on 127.0.0.1:", "SMTP sandbox on 127.0.0.1:"):
        assert line in started
    assert "partner web app" in started
    web = yaml.safe_load((dev.root / "mappings/lifecycle.yaml").read_text())["web"]["port"]
    assert requests.get(f"http://127.0.0.1:{web}/healthz", timeout=10).ok


def test_an_operator_launches_a_run_and_sees_its_success(dev, chrome):
    from dagster_graphql import DagsterGraphQLClient
    from selenium.webdriver.support.ui import WebDriverWait

    # launched first, in the time before the first tick (each minute); a tick meanwhile queues behind it
    inbox = dev.root / "dagster_home/sftp_sandbox/root/inbox"
    write_demo_leads(inbox / "leads.csv", 300, seed=3, partner_names=["Blue Peak Security"])
    client = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)
    run_id = client.submit_job_execution("sftp_demo_sync")
    deadline = time.monotonic() + 240
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert status == "SUCCESS", (dev.root / "dagster_home/dev_logs/dagster_dev.log").read_text()[-3000:]
    chrome.get(f"{dev.url}/runs/{run_id}")
    try:
        WebDriverWait(chrome, 60).until(lambda b: "Success" in b.page_source)
    finally:
        chrome.save_screenshot(str(ARTIFACTS / "ui_run_success.png"))
    assert (ARTIFACTS / "ui_run_success.png").stat().st_size > 10_000


def test_one_schedule_tick_later_no_run_failed_and_the_graph_shows_every_source(dev, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # the graph first, while the first tick (each minute) comes and its run goes: the pages need no run
    sources = sorted(p.stem for p in (dev.root / "mappings/sources").glob("*.yaml"))
    for source in sources:
        # each source is an asset group: its page lists every asset of the walk (the list tab holds them all
        # in the page; the graph tab draws only what fits the view), then its graph for the screenshot
        group = f"{dev.url}/locations/__repository__@leadsync/asset-groups/{source}"
        chrome.get(f"{group}/list")
        try:
            WebDriverWait(chrome, 90).until(lambda b: all(
                name in b.page_source for name in ("raw_rows", "assignments", "reroutes", "writeback")))
        finally:
            chrome.save_screenshot(str(ARTIFACTS / f"ui_assets_{source}.png"))
        chrome.get(group)
        WebDriverWait(chrome, 60).until(lambda b: "assignments" in b.page_source)
        chrome.save_screenshot(str(ARTIFACTS / f"ui_asset_graph_{source}.png"))

    deadline = time.monotonic() + 240
    ticked: list[dict] = []
    while time.monotonic() < deadline:
        ticked = [r for r in dev.runs() if {"key": "dagster/schedule_name", "value": "sftp_demo_schedule"} in r["tags"]
                  and r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if ticked:
            break
        time.sleep(1)
    assert dev.stop_schedules(), "no schedule was running"  # one tick seen: no more runs piling up behind it
    assert ticked, f"no schedule tick finished a run within 4 minutes: {dev.runs()}"
    failed = [(r["jobName"], r["status"]) for r in dev.runs() if r["status"] in ("FAILURE", "CANCELED")]
    assert failed == [], (dev.root / "dagster_home/dev_logs/dagster_dev.log").read_text()[-4000:]
    assert ticked[0]["status"] == "SUCCESS"

    chrome.get(f"{dev.url}/runs")
    WebDriverWait(chrome, 60).until(lambda b: b.find_elements(By.XPATH, "//*[text()='sftp_demo_sync']") or False)
    assert "Failure" not in chrome.page_source
    chrome.save_screenshot(str(ARTIFACTS / "ui_runs_after_a_tick.png"))


def test_sigterm_to_leadsync_dev_stops_everything_it_started(dev):
    sessions = dev.children()
    assert len(sessions) == 2  # the web app and dagster dev, each in a session of its own
    members = {sid: session_members(sid) for sid in sessions}
    assert all(members.values()), members
    ports = [dev.port, *(yaml.safe_load((dev.root / f"mappings/{f}").read_text())[k]["port"]
                         for f, k in (("sources/sftp_demo.yaml", "connection"), ("lifecycle.yaml", "smtp"),
                                      ("lifecycle.yaml", "web")))]
    dev.proc.send_signal(signal.SIGTERM)
    assert dev.proc.wait(timeout=120) == 0, dev.output
    assert "dagster dev stopped in" in dev.output and "partner web app stopped in" in dev.output
    assert {sid: session_members(sid) for sid in sessions} == {sid: [] for sid in sessions}
    for port in ports:  # nothing listens any more: every server is down
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
