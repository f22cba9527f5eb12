"""The demo: a sandbox SFTP server with seeded lead drops, the whole pipeline, a summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from connectors.sftp.sandbox import SftpSandbox
from connectors.sftp.seed import write_demo_leads
from connectors.smtp_sandbox import SmtpSandbox
from leadsync.config import load_partners
from leadsync.config.loader import ProjectPaths


def sandbox_dir(paths: ProjectPaths) -> Path:
    """Under the project's dagster_home/, where the demo YAML's known_hosts points (relative to the project),
    whichever Dagster instance runs (the scale profile's lives in dagster_home/scale/)."""
    return paths.root / "dagster_home" / "sftp_sandbox"


def start_sandbox(paths: ProjectPaths, port: int, password: str) -> SftpSandbox:
    """The demo source's SFTP server, with a host key that persists across runs and a known_hosts file
    where the demo YAML expects it."""
    base = sandbox_dir(paths)
    (base / "root").mkdir(parents=True, exist_ok=True)
    sandbox = SftpSandbox(base / "root", users={"demo": password}, host_key_path=base / "host_key", port=port)
    sandbox.start()
    sandbox.write_known_hosts(base / "known_hosts")
    return sandbox


def start_mail_sandbox(paths: ProjectPaths, port: int) -> SmtpSandbox:
    """The demo's mail server: partner notification emails land as .eml files under dagster_home."""
    return SmtpSandbox(sandbox_dir(paths).parent / "mail_sandbox", port=port).start()


def drop_demo_files(inbox: Path, partners_file: Path, n_leads: int, seed: int) -> list[Path]:
    """A realistic drop: a big clean CSV, a Latin-1 CSV with a few bad rows, an XLSX, and a file that
    lacks the Email column (it goes to error/)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    partners = [p.name for p in load_partners(partners_file).partners]
    inbox.mkdir(parents=True, exist_ok=True)
    made = []

    main = write_demo_leads(inbox / f".tradeshow_{stamp}.csv.part", n_leads, seed=seed, partner_names=partners)
    final = inbox / f"tradeshow_{stamp}.csv"
    main.rename(final)  # publish atomically, as a well-behaved producer does
    made.append(final)

    sample = pd.read_csv(final, dtype=str, keep_default_na=False).head(40).copy()
    sample.loc[0, "First Name"], sample.loc[0, "Last Name"] = "Zoë", "Müller"
    sample.loc[1, "Email"] = "not-an-email"
    sample.loc[2, "Created Date"] = "yesterday"
    sample.loc[3, "Lead Type"] = "Huge"
    sample.loc[4, "Partner"] = "Unknown Partner GmbH"
    latin = inbox / f"webinar_{stamp}.csv"
    latin.write_bytes(sample.to_csv(index=False, sep=";").encode("cp1252"))
    made.append(latin)

    xlsx = inbox / f"field_event_{stamp}.xlsx"
    sample.iloc[5:25].to_excel(xlsx, index=False, sheet_name="Leads")
    made.append(xlsx)

    broken = inbox / f"partner_list_{stamp}.csv"
    broken.write_text(sample.drop(columns=["Email"]).head(5).to_csv(index=False), encoding="utf-8")
    made.append(broken)
    return made


def format_summary(totals: dict, run: dict) -> str:
    lines = ["", "leadsync demo: run summary", "=" * 40]
    lines.append(f"leads pulled (rows received) : {run.get('pulled', 0):>8}")
    lines.append(f"leads stored                 : {run.get('stored', 0):>8}")
    lines.append(f"quarantined (with reasons)   : {run.get('quarantined', 0):>8}")
    lines.append(f"files moved to error/        : {run.get('files_in_error', 0):>8}")
    lines.append("routed per partner:")
    for partner, n in sorted(run.get("per_partner", {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"  {partner:<27}: {n:>8}")
    lines.append(f"unassigned                   : {run.get('unassigned', 0):>8}")
    lines.append(f"needs review                 : {run.get('needs_review', 0):>8}")
    lines.append(f"accepted at once (auto)      : {run.get('auto_accepted', 0):>8}")
    lines.append(f"partner emails sent          : {run.get('emails_sent', 0):>8}")
    if run.get("mail_folder"):
        lines.append(f"  emails kept in: {run['mail_folder']}")
    lines.append(f"written back (status rows)   : {run.get('written_back', 0):>8}")
    for f in run.get("status_files", []):
        lines.append(f"  status file: {f}")
    lines.append("-" * 40)
    lines.append(f"store totals: {totals['leads']} leads, {totals['quarantined']} quarantined, "
                 f"{totals['written_back']} written back, {totals['pending_writeback']} pending")
    return "\n".join(lines)


def run_figures(result) -> dict:
    """Pull this run's figures out of the materialization metadata."""
    figures: dict = {"per_partner": {}, "status_files": []}

    def value(md, key, default=0):
        return md[key].value if key in md else default

    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        key, md = mat.asset_key.path[-1], mat.metadata
        if key == "raw_rows":
            figures["pulled"] = figures.get("pulled", 0) + value(md, "dagster/row_count")
            figures["files_in_error"] = figures.get("files_in_error", 0) + value(md, "files_in_error")
        elif key == "leads":
            figures["stored"] = figures.get("stored", 0) + value(md, "dagster/row_count")
            figures["quarantined"] = figures.get("quarantined", 0) + value(md, "quarantined")
        elif key == "assignments":
            figures["unassigned"] = figures.get("unassigned", 0) + value(md, "unassigned")
            figures["needs_review"] = figures.get("needs_review", 0) + value(md, "needs_review")
            for partner, n in (value(md, "routed_per_partner_counts", {}) or {}).items():
                figures["per_partner"][partner] = figures["per_partner"].get(partner, 0) + n
        elif key == "deliveries":
            figures["auto_accepted"] = value(md, "auto_accepted")
            figures["emails_sent"] = value(md, "emails_sent")
        elif key == "writeback":
            figures["written_back"] = figures.get("written_back", 0) + value(md, "dagster/row_count")
            figures["status_files"] += list(value(md, "files_uploaded", []) or [])
    return figures
