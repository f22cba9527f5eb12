"""leadsync dev's process handling without starting Dagster: a port already taken stops it before anything
starts, and the session sweep finds and stops what a stopped child left behind (as dagster dev's code server
can be)."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from leadsync.cli import main
from leadsync.dev import session_members, sweep_session

REPO = Path(__file__).resolve().parents[1]


def test_a_sandbox_port_already_taken_stops_leadsync_dev_naming_the_port_and_the_key(tmp_path, capsys, monkeypatch):
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "pw")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        source = tmp_path / "mappings/sources/sftp_demo.yaml"
        data = yaml.safe_load(source.read_text())
        data["connection"]["port"] = port
        source.write_text(yaml.safe_dump(data, sort_keys=False))
        code = main(["--mappings", str(tmp_path / "mappings"), "dev", "--port", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"port {port} for sftp_demo's SFTP sandbox (sftp_demo.yaml connection.port) is taken" in err
    assert not (tmp_path / "dagster_home/dev_logs/dagster_dev.log").exists()  # dagster dev never started


def test_the_sweep_stops_what_a_stopped_child_left_in_its_session():
    # a child that starts a grandchild and exits at once: the grandchild is left behind in the child's session
    child = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!"], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    grandchild = int(child.stdout.readline())
    child.wait(timeout=10)
    assert session_members(child.pid) == [grandchild]
    assert sweep_session(child.pid) == [grandchild]
    deadline = time.monotonic() + 5
    while session_members(child.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_members(child.pid) == []
