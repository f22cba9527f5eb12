"""leadsync dev's process handling without starting Dagster: a port already taken stops it before anything
starts, the session sweep finds and stops what a stopped child left behind (as dagster dev's code server
can be), and a long-running make target stops with make."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from leadsync.connectors.loopback_ports import free_port
from signal_defaults import reset_stop_signals

from leadsync.cli import main
from leadsync.dev import session_members, sweep_session

REPO = Path(__file__).resolve().parents[1]


def test_a_sandbox_port_already_taken_stops_leadsync_dev_naming_the_port_and_the_key(tmp_path, capsys, monkeypatch):
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copy(REPO / ".env", tmp_path / ".env")  # the sandboxes' secrets, as in the repository
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




def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_make_stopped_by_a_signal_to_its_pid_stops_the_command_it_runs(tmp_path, stop):
    """make passes SIGTERM on to its recipe; a SIGKILL ends make alone: without LEADSYNC_STOP_WITH_PARENT
    (exported by the Makefile) `leadsync sandbox` would serve on as an orphan."""
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copy(REPO / ".env", tmp_path / ".env")
    sftp_port, smtp_port = free_port(), free_port()
    source = tmp_path / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(source.read_text())
    data["connection"]["port"] = sftp_port
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    lifecycle = tmp_path / "mappings/lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("port: 8025", f"port: {smtp_port}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "LEADSYNC_STOP"))}
    env["LEADSYNC_MAPPINGS_DIR"] = str(tmp_path / "mappings")
    venv = Path(sys.executable).parent.parent
    # the repository's own Makefile and target; its venv as set up already (STAMP= skips the install step)
    make = subprocess.Popen(["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-C", str(tmp_path),
                             "sandbox", f"VENV={venv}", "STAMP="], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=reset_stop_signals)
    try:
        deadline = time.monotonic() + 60
        while not (_listening(sftp_port) and _listening(smtp_port)):
            assert make.poll() is None, make.stderr.read()
            assert time.monotonic() < deadline, "leadsync sandbox did not start under make"
            time.sleep(0.2)
        os.kill(make.pid, stop)  # make's PID alone, not its group
        make.wait(timeout=10)
        deadline = time.monotonic() + 15
        while (_listening(sftp_port) or _listening(smtp_port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _listening(sftp_port) and not _listening(smtp_port), "the sandboxes outlived make"
    finally:
        try:
            os.killpg(make.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_ui_port_taken_by_another_program_fails_at_once_naming_it(tmp_path):
    """dagster dev keeps its daemon running when its webserver cannot listen, so nothing would ever answer:
    `leadsync dev` reads the webserver's own words in its log and stops waiting."""
    from leadsync.dev import Child, DevError, wait_until_loaded

    port = free_port()
    log = tmp_path / "dagster_dev.log"
    log.write_text(f"ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', {port}): "
                   "address already in use\n")
    daemon = subprocess.Popen(["sleep", "60"])
    try:
        started = time.monotonic()
        with pytest.raises(DevError, match=f"cannot listen on 127.0.0.1:{port}: another program has that port"):
            wait_until_loaded(f"http://127.0.0.1:{port}", [Child("dagster dev", daemon, log)], timeout_s=60)
        assert time.monotonic() - started < 10
    finally:
        daemon.kill()
        daemon.wait()


def test_free_ports_lie_below_the_range_outgoing_connections_take_theirs_from():
    from leadsync.connectors.loopback_ports import ephemeral_range, free_ports

    low, _high = ephemeral_range()
    ports = free_ports(20)
    assert len(set(ports)) == 20
    assert all(p < low for p in ports)
    for port in ports:  # each one can be listened on
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()
