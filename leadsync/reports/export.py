"""Reports as CSV: `leadsync report NAME [--group-by a,b] [--out F.csv]` calls `export_report`."""

from __future__ import annotations

import sys
from pathlib import Path

from leadsync.config import load_partners, project_paths
from leadsync.reports.registry import REPORTS, get_report, report_options
from leadsync.store import LeadStore

__all__ = ["REPORTS", "export_report", "partner_names"]


def partner_names(mappings_dir: str | Path | None = None) -> dict[str, str]:
    """Partner id → name from partners.yaml (ConfigError naming the problem when it does not load)."""
    partners = load_partners(project_paths(mappings_dir).partners_file)
    return {p.id: p.name for p in partners.partners}


def export_report(store: LeadStore, name: str, out_path: str | Path | None = None, **options: object) -> Path | str:
    """Write report `name` as CSV (header row, comma-separated, UTF-8) to `out_path` and return that Path;
    with no path (or '-') write it to stdout and return the text. Options as for the report: group_by
    ('a,b' or a list; lead_distribution_summary only), partner_names (id → name). A bad name or option
    raises ReportError (a ValueError) listing what is allowed, before anything is written."""
    report = get_report(name)
    opts = report_options(report, options)
    text = report.function(store, opts).to_csv(index=False, lineterminator="\n")
    if out_path is None or str(out_path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return text
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
